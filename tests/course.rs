//! The course kit (src/course/, docs/teaching.md): solution markers are
//! balanced in every source file, every assignment's points name real tests,
//! `sim grade --list` lists them, and `sim handout` stubs exactly one
//! assignment. One handout (shm-close) is built with `cargo check` — one,
//! not all seven, to keep CI fast; the others are checked for their stubs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every text file of the tree outside target/ and .git.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn solution_markers_are_balanced_in_every_file() {
    let mut all = Vec::new();
    files(&root(), &mut all);
    let mut regions = 0;
    for path in all {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if path.ends_with("src/course/markers.rs") || path.ends_with("docs/teaching.md") {
            continue; // they show the markers as examples
        }
        match sim::course::regions(&text) {
            Ok(found) => {
                for r in &found {
                    assert!(
                        root()
                            .join("assignments")
                            .join(&r.name)
                            .join("points.toml")
                            .is_file(),
                        "{}:{}: region of unknown assignment {}",
                        path.display(),
                        r.begin,
                        r.name
                    );
                }
                regions += found.len();
            }
            Err(why) => panic!("{}: {why}", path.display()),
        }
    }
    assert!(regions >= 7, "only {regions} solution regions");
}

#[test]
fn every_assignment_has_a_handout_points_for_real_tests_and_a_region() {
    let list = sim::course::list(&root()).expect("assignments");
    assert!(list.len() >= 6, "{list:?}");
    let mut all = Vec::new();
    files(&root().join("src"), &mut all);
    files(&root().join("programs"), &mut all);
    for a in &list {
        let dir = root().join("assignments").join(&a.name);
        assert!(dir.join("README.md").is_file(), "{}: no README.md", a.name);
        let tests =
            std::fs::read_to_string(root().join("tests").join(format!("{}.rs", a.test_file)))
                .unwrap_or_else(|_| panic!("{}: no tests/{}.rs", a.name, a.test_file));
        for (name, points) in &a.points {
            assert!(*points > 0, "{}: {name} has no points", a.name);
            assert!(
                tests.contains(&format!("fn {name}(")),
                "{}: no test fn {name}",
                a.name
            );
        }
        let marker = format!("// BEGIN SOLUTION {}", a.name);
        assert!(
            all.iter()
                .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&marker))),
            "{}: no solution region",
            a.name
        );
    }
}

#[test]
fn grade_list_prints_one_assignment_a_line_name_first() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["grade", "--list", "--tree"])
        .arg(root())
        .output()
        .expect("sim runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for expected in [
        "add-syscall",
        "guest-kernel",
        "rshm-publish",
        "shm-close",
        "sync",
        "uk-rules",
        "vmshm-l2",
    ] {
        assert!(names.contains(&expected), "{text}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["grade", "no-such", "--tree"])
        .arg(root())
        .output()
        .expect("sim runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no assignment \"no-such\""));
}

fn handout(name: &str) -> PathBuf {
    // Tests run side by side in one process: each handout its own directory.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("handout-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["handout", name, "-o"])
        .arg(&out)
        .args(["--tree"])
        .arg(root())
        .status()
        .expect("sim runs");
    assert!(status.success(), "handout {name}");
    out
}

#[test]
fn a_handout_stubs_its_own_regions_and_keeps_the_others() {
    for a in sim::course::list(&root()).expect("assignments") {
        let out = handout(&a.name);
        let mut all = Vec::new();
        files(&out, &mut all);
        assert!(!all.iter().any(|p| p
            .strip_prefix(&out)
            .is_ok_and(|rel| rel.starts_with("target") || rel.starts_with(".git"))));
        let mut own = 0;
        let mut others = 0;
        for p in &all {
            let Ok(text) = std::fs::read_to_string(p) else {
                continue;
            };
            own += text.matches(&format!("// ASSIGNMENT {}:", a.name)).count();
            assert!(
                !text.contains(&format!("// BEGIN SOLUTION {}\n", a.name)),
                "{}",
                p.display()
            );
            others += text.matches("// BEGIN SOLUTION ").count();
        }
        assert!(own >= 1, "{}: nothing stubbed", a.name);
        assert!(
            others >= 1,
            "{}: the other assignments' regions are gone",
            a.name
        );
        assert!(out.join(format!("tests/{}.rs", a.test_file)).is_file());
        std::fs::remove_dir_all(&out).expect("cleans up");
    }
}

#[test]
fn the_shm_close_handout_builds() {
    let out = handout("shm-close");
    // A target directory of its own under this one's, so the handout's
    // build does not invalidate this tree's.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("handout-check-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let result = Command::new(cargo)
        .current_dir(&out)
        .args(["check", "--offline", "--lib", "--bins", "--test", "shm"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::remove_dir_all(&out).expect("cleans up");
}

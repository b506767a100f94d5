//! Error messages of the C* compiler, snapshot-tested: every broken
//! program in tests/cstar/errors/ must fail to compile with exactly the
//! messages in tests/cstar/snapshots/ (review changes with
//! `INSTA_UPDATE=always cargo test` and `git diff`).

use std::path::Path;

use sim::toolchain::cstar::{compile, compile_files};

#[test]
fn broken_programs_report_file_line_column_and_what_was_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cstar/errors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cstar/errors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the broken programs in {}",
        dir.display()
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("cstar/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for path in files {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("?")
                .to_string();
            let text = std::fs::read_to_string(&path).expect("readable");
            let errors = match compile(&[(format!("{name}.c"), text)]) {
                Ok(_) => panic!("{name}.c compiled, but it is meant to be broken"),
                Err(e) => e.to_string(),
            };
            for line in errors.lines() {
                assert!(line.starts_with(&format!("{name}.c:")), "{line}");
                assert!(line.contains(": error: "), "{line}");
            }
            insta::assert_snapshot!(name, errors);
        }
    });
}

#[test]
fn an_unreadable_file_is_a_diagnostic() {
    let missing = Path::new("/nonexistent/dir/prog.c").to_path_buf();
    let errors = compile_files(&[missing]).expect_err("cannot compile a missing file");
    let text = errors.to_string();
    assert!(
        text.starts_with("/nonexistent/dir/prog.c:1:1: error: cannot read"),
        "{text}"
    );
}

#[test]
fn no_sources_means_no_main() {
    let errors = compile(&[]).expect_err("nothing to compile");
    assert!(
        errors.to_string().contains("missing procedure 'main'"),
        "{errors}"
    );
}

//! Real Linux programs: the C programs in tests/linux/, built with the
//! stock `riscv64-linux-gnu-gcc -static -O2` (glibc, rv64gc, no -march and
//! no -nostdlib), must behave under `sim PROG ARGS` (the command line, as
//! a user runs it) as under `qemu-riscv64 PROG ARGS`: the same stdout,
//! stderr, exit code and the same files left in their working directory
//! (a scratch directory, sim's `--root`). Each runs twice under sim: the
//! same output and the same instruction count (the virtual clock makes
//! time deterministic).
//!
//! Lines that only one side prints about itself are left out of stderr:
//! `sim: ...` (sim's kill messages) and `qemu: ...` (qemu's). Without gcc
//! or qemu the tests print `SKIP: <tool> not found` and pass, unless
//! `CI=true`: then they fail.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GCC: &str = "riscv64-linux-gnu-gcc";
const QEMU: &str = "qemu-riscv64";
const SIM: &str = env!("CARGO_BIN_EXE_sim");

/// What every program reads on stdin.
const STDIN: &[u8] = b"first line\nsecond line\n\nlast line without newline";
/// The arguments every program gets (words starting with '-' included:
/// they are the guest's, not sim's).
const ARGS: &[&str] = &["one", "-c", "two words", "--", "-m", "1"];
/// The environment both sides run in (sim passes its own to the guest).
const ENV: &[(&str, &str)] = &[("SIM_TEST_VAR", "forty-two"), ("LANG", "C")];

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sim-linux-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn sub(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run left: stdout, stderr (without the runner's own lines), exit
/// code, and every file in its working directory with its contents.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
    files: BTreeMap<String, Vec<u8>>,
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(format!("{name}/"), Vec::new());
                stack.push(path);
            } else {
                out.insert(name, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// Runs `command` in `dir` with the test environment and stdin; the
/// shell's view of the exit code (128 + signal when killed).
fn run(mut command: Command, dir: &Path) -> Run {
    command
        .current_dir(dir)
        .env_clear()
        .envs(ENV.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the program");
    // A program that never reads may end first: the pipe breaks.
    let _ = child.stdin.take().unwrap().write_all(STDIN);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + out.status.signal().unwrap_or(0)
    });
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("qemu: ") && !l.starts_with("sim: "))
        .map(|l| format!("{l}\n"))
        .collect();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        code,
        files: files_in(dir),
    }
}

/// The instruction count `--stats` reports.
fn instructions(stderr: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find(|l| l.starts_with("sim: stats: ") && l.contains(" instructions in "))?;
    line["sim: stats: ".len()..].split(' ').next()?.parse().ok()
}

/// Builds tests/linux/<name>.c with the stock compiler.
fn build(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/linux/{name}.c"));
    let exe = dir.join(name);
    let out = Command::new(GCC)
        .args(["-static", "-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(["-lm", "-lpthread"])
        .output()
        .expect("run the cross compiler");
    assert!(
        out.status.success(),
        "{GCC} {name}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Compares `name` under sim and qemu, and sim with itself; returns sim's
/// run for checks of its own.
fn compare(name: &str) -> Option<Run> {
    let gcc = common::tool(GCC).is_some();
    let qemu = common::tool(QEMU).is_some();
    if !gcc || !qemu {
        return None;
    }
    let scratch = Scratch::new(name);
    let exe = build(name, &scratch.sub("build"));
    let mut qemu = Command::new(QEMU);
    qemu.arg(&exe).args(ARGS);
    let want = run(qemu, &scratch.sub("qemu"));
    let mut counts = Vec::new();
    let mut runs = Vec::new();
    for round in 0..2 {
        let dir = scratch.sub(&format!("sim{round}"));
        let mut sim = Command::new(SIM);
        sim.arg("--stats")
            .arg("--root")
            .arg(&dir)
            .arg(&exe)
            .args(ARGS);
        // --stats goes to stderr after the guest's own lines; read the
        // count from the raw output, then compare without sim's lines.
        sim.current_dir(&dir)
            .env_clear()
            .envs(ENV.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = sim.spawn().expect("start sim");
        // A program that never reads may end first: the pipe breaks.
        let _ = child.stdin.take().unwrap().write_all(STDIN);
        let out = child.wait_with_output().unwrap();
        counts.push(instructions(&out.stderr));
        let stderr: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.starts_with("sim: "))
            .map(|l| format!("{l}\n"))
            .collect();
        runs.push(Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            code: out.status.code().unwrap_or(-1),
            files: files_in(&dir),
        });
    }
    let got = runs.remove(0);
    assert_eq!(got.stdout, want.stdout, "{name}: stdout differs from qemu");
    assert_eq!(got.stderr, want.stderr, "{name}: stderr differs from qemu");
    assert_eq!(got.code, want.code, "{name}: exit code differs from qemu");
    assert_eq!(
        got.files, want.files,
        "{name}: files written differ from qemu"
    );
    assert_eq!(runs[0], got, "{name}: a second run under sim differs");
    assert!(
        counts[0].is_some(),
        "{name}: no instruction count in --stats"
    );
    assert_eq!(
        counts[0], counts[1],
        "{name}: instruction counts differ between runs"
    );
    Some(got)
}

macro_rules! linux_programs {
    ($( $name:ident => |$run:ident| $check:expr; )*) => {
        $(
            #[test]
            fn $name() {
                if let Some($run) = compare(stringify!($name)) {
                    $check;
                }
            }
        )*
    };
}

linux_programs! {
    hello => |r| assert_eq!(r.stdout, "hello, world\n");
    printf_fp => |r| assert!(r.stdout.starts_with("3.141593 1.772453851 2.314069e+01\n"), "{}", r.stdout);
    malloc => |r| assert!(r.stdout.starts_with("sum="), "{}", r.stdout);
    qsort => |r| assert!(r.stdout.contains("apple\nbanana\n"), "{}", r.stdout);
    strings => |r| assert!(r.stdout.contains("[THE][QUICK][BROWN][FOX]"), "{}", r.stdout);
    files => |r| assert!(r.files.contains_key("moved.txt"), "{:?}", r.files.keys());
    args => |r| {
        assert!(r.stdout.contains("argv[2]=-c\n"), "{}", r.stdout);
        assert!(r.stdout.contains("SIM_TEST_VAR=forty-two\n"), "{}", r.stdout);
        assert_eq!(r.code, 7);
    };
    exitcode => |r| assert_eq!(r.code, 42);
    abort => |r| assert_eq!(r.code, 134);
    time => |r| assert!(r.stdout.contains("slept >= 20ms: 1\n"), "{}", r.stdout);
    errno => |r| assert!(r.stderr.contains("close: Bad file descriptor\n"), "{}", r.stderr);
    setjmp => |r| assert!(r.stdout.contains("done 4\n"), "{}", r.stdout);
    stdin => |r| assert!(r.stdout.contains("lines=4"), "{}", r.stdout);
    bigstack => |r| assert_eq!(r.code, 0);
    dirs => |r| assert!(r.stdout.starts_with("a\nb\nc\n"), "{}", r.stdout);
    uname => |r| assert!(r.stdout.starts_with("Linux riscv64\n"), "{}", r.stdout);
    mmap => |r| assert!(r.stdout.contains("1GiB 3\n"), "{}", r.stdout);
    signals => |r| assert!(r.stdout.contains("unblocked got 10\n"), "{}", r.stdout);
    segv => |r| {
        assert!(r.stdout.contains("caught SIGSEGV at 0x40\n"), "{}", r.stdout);
        assert_eq!(r.code, 139);
    };
    fork => |r| assert!(r.stdout.contains("signaled 1 sig 6\nthrough pipe\n"), "{}", r.stdout);
    threads => |r| assert_eq!(r.stdout, "counter=100000 total=20\n");
    poll => |r| assert!(r.stdout.contains("woken by child: 1 in=0x1 got hi\n"), "{}", r.stdout);
    attrs => |r| {
        assert!(r.stdout.contains("atime 1000000 mtime 2000000.000000007\n"), "{}", r.stdout);
        assert!(r.stdout.contains("name worker-thread-l\n"), "{}", r.stdout);
        assert!(r.stdout.contains("child setsid ok 1 pgid==pid 1\n"), "{}", r.stdout);
    };
    pthreads_more => |r| {
        assert!(r.stdout.contains("thread 5 returned 1052\n"), "{}", r.stdout);
        assert!(r.stdout.contains("produced 20100 consumed 20100\ndetached done\n"), "{}", r.stdout);
    };
}

/// sim itself, on a C* program of programs/ (no external tool needed).
fn sim_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(SIM)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run sim")
}

#[test]
fn every_word_after_prog_is_the_guests() {
    // selfie's form (issue 14): -c, -o and -m go to the guest, not to sim.
    let out = sim_cli(
        &[
            "programs/echo.c",
            "-c",
            "selfie.c",
            "-o",
            "out.m",
            "-m",
            "1",
            "--",
            "x",
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-c selfie.c -o out.m -m 1 -- x\n"
    );
    assert_eq!(out.status.code(), Some(8));
}

#[test]
fn sims_options_come_before_prog() {
    let out = sim_cli(&["--stats", "-m", "16", "programs/echo.c", "a"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sim: stats:"));
}

#[test]
fn dash_a_gives_a_u_program_words_that_start_with_a_dash() {
    let out = sim_cli(
        &[
            "-u",
            "programs/echo.c",
            "one",
            "-a",
            "-c",
            "-a",
            "x",
            "-u",
            "programs/echo.c",
            "two",
        ],
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one -c x\ntwo\n");
}

#[test]
fn a_program_and_dash_u_do_not_mix() {
    let out = sim_cli(&["-u", "programs/echo.c", "--", "programs/echo.c"], &[]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn trace_syscalls_decodes_arguments_as_strace_does() {
    let scratch = Scratch::new("trace");
    let out = sim_cli(
        &[
            "--trace-syscalls",
            "--root",
            &scratch.0.display().to_string(),
            "programs/echo.c",
            "hi",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sim: [1] write(1, \"hi\", 2) = 2\n"), "{err}");
    assert!(err.contains("sim: [1] exit(1) = exited\n"), "{err}");
}

/// execve (tests/linux/exec.c): only sim runs it, since qemu-riscv64 needs
/// the host's binfmt_misc to execve a RISC-V program; the expected output
/// is what Linux gives (execve(2)).
#[test]
fn execve_starts_a_new_program_in_the_same_process() {
    if common::tool(GCC).is_none() {
        return;
    }
    let scratch = Scratch::new("exec");
    let dir = scratch.sub("root");
    build("exec", &dir);
    let out = Command::new(SIM)
        .arg("--root")
        .arg(&dir)
        .arg("./exec")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "parent: start\n\
         child: argc 4 argv[2] second env passed\n\
         child: fd 3 closed, fd 4 open\n\
         child: SIGUSR1 default\n\
         child: SIGUSR2 ignored\n\
         child: same pid 1\n\
         child: read fd 4 [hello]\n\
         missing: No such file or directory\n\
         script: Exec format error\n\
         not executable: Permission denied\n\
         parent: child exited 7\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

//! Grading tests of assignments/add-syscall: the call `processes()` (530,
//! docs/spec/abi.md) from the number in `a7` to a C* built-in, end to end.

use std::path::PathBuf;
use std::process::Command;

fn source(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("assignment_add_syscall");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join(format!("{name}_{}.c", std::process::id()));
    std::fs::write(&path, text).expect("writes");
    path
}

/// Prints processes() alone, after a fork (the child waits on a shared
/// flag... here: it just exits later), and after the wait.
const COUNT: &str = r#"
uint64_t main() {
  uint64_t* status;
  status = malloc(8);
  print_unsigned(processes()); println();
  if (fork() == 0) {
    print_unsigned(processes()); println();
    return 0;
  }
  wait(status);
  print_unsigned(processes()); println();
  return 0;
}
"#;

fn sim(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("sim runs");
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn processes_counts_the_live_processes() {
    let path = source("count", COUNT);
    let (stdout, stderr, code) = sim(&["-u", path.to_str().expect("utf-8")]);
    assert_eq!((stdout.as_str(), code), ("1\n2\n1\n", 0), "{stderr}");
}

#[test]
fn processes_is_counted_per_vm() {
    let path = source(
        "vm",
        "uint64_t main() { print_unsigned(processes()); println(); return 0; }",
    );
    let p = path.to_str().expect("utf-8");
    let (stdout, stderr, _) = sim(&["-u", p, "-u", p, "--vm", "-u", p]);
    // VM 0 has two processes, VM 1 one; the first line of each VM's output.
    assert!(
        stdout.contains("2\n") && stdout.contains("1\n"),
        "{stdout} {stderr}"
    );
}

#[test]
fn the_trace_names_the_call_and_its_result() {
    let path = source("trace", "uint64_t main() { return processes(); }");
    let (_, stderr, code) = sim(&["-u", path.to_str().expect("utf-8"), "--trace-syscalls"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("processes() = 1"), "{stderr}");
}

//! Helpers shared by the C* tests: compile, run under qemu-riscv64.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use sim::toolchain::cstar::{compile, Compiled};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh path for a temporary file.
pub fn temp_path(suffix: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sim-cstar-{}-{n}{suffix}", std::process::id()))
}

/// Runs an ELF under qemu-riscv64 with `args`; `None` when qemu is missing.
/// Returns stdout and the exit code.
pub fn run_qemu(elf: &[u8], args: &[&str]) -> Option<(String, i32)> {
    let path = temp_path(".elf");
    std::fs::write(&path, elf).expect("write temp ELF");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let result = Command::new("qemu-riscv64").arg(&path).args(args).output();
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(out) => Some((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status.code().unwrap_or(-1),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot run qemu-riscv64: {e}"),
    }
}

/// Reports a skipped qemu run; fails under CI, where qemu must be present.
pub fn skip() {
    eprintln!("SKIP: qemu-riscv64 not found");
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "qemu-riscv64 is required when CI=true"
    );
}

/// Compiles one source, failing the test with the diagnostics on error.
pub fn build(source: &str) -> Compiled {
    match compile(&[("test.c".to_string(), source.to_string())]) {
        Ok(c) => c,
        Err(e) => panic!("compile failed:\n{e}\nsource:\n{source}"),
    }
}

/// Compiles and runs; `None` (after `skip`) when qemu is missing.
pub fn run_with(source: &str, args: &[&str]) -> Option<(String, i32)> {
    let compiled = build(source);
    let result = run_qemu(&compiled.elf, args);
    if result.is_none() {
        skip();
    }
    result
}

/// Asserts a program's stdout and exit code (when qemu is present).
pub fn expect(source: &str, stdout: &str, code: i32) {
    if let Some((out, status)) = run_with(source, &[]) {
        assert_eq!((out.as_str(), status), (stdout, code), "source:\n{source}");
    }
}

/// Asserts the exit code of `uint64_t main() { return <expr>; }` with the given prefix.
pub fn expect_exit(source: &str, code: i32) {
    expect(source, "", code);
}

/// The messages of a failing compile, one per line.
pub fn errors(source: &str) -> String {
    match compile(&[("broken.c".to_string(), source.to_string())]) {
        Ok(_) => panic!("expected a compile error for:\n{source}"),
        Err(e) => e.to_string(),
    }
}

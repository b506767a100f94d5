//! Helpers shared by the C* tests: compile, run on `sim` and under
//! qemu-riscv64, and check that both agree (differential testing).
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

/// Runs an ELF on `sim` (the library, output captured) with `args`.
/// Returns stdout and the exit code.
pub fn run_sim(elf: &[u8], args: &[&str]) -> (String, i32) {
    let mut simulator = sim::Simulator::builder()
        .capture_output(true)
        .max_instructions(5_000_000_000)
        // Compared with qemu-riscv64, which sees the host's whole file
        // system: so does sim here.
        .root("/")
        .build();
    let mut argv = vec!["prog.elf".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    simulator.load_elf(elf, &argv).expect("sim loads the ELF");
    let outcome = simulator.run();
    (
        String::from_utf8_lossy(simulator.stdout()).into_owned(),
        outcome.exit_code,
    )
}

/// Runs an ELF on `sim` and under qemu-riscv64 and asserts that stdout and
/// exit code agree. Returns them; when qemu is missing, says so (failing
/// under CI) and returns `sim`'s.
pub fn run_both(elf: &[u8], args: &[&str]) -> Option<(String, i32)> {
    let on_sim = run_sim(elf, args);
    match run_qemu(elf, args) {
        Some(on_qemu) => {
            assert_eq!(
                on_sim, on_qemu,
                "sim and qemu-riscv64 disagree (left: sim, right: qemu)"
            );
            Some(on_qemu)
        }
        None => {
            skip();
            Some(on_sim)
        }
    }
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
    run_both(&compiled.elf, args)
}

/// Asserts a program's stdout and exit code, on `sim` and on qemu-riscv64.
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

//! Differential tests: the C programs in tests/c/, built with the RISC-V
//! cross compiler at test time, must give the same stdout and exit code on
//! `sim` as on `qemu-riscv64` (user mode, the reference), with the same
//! arguments and stdin.
//!
//! Without `riscv64-linux-gnu-gcc` or `qemu-riscv64` the tests print
//! `SKIP: <tool> not found` and pass, unless `CI=true`: then they fail.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sim::Simulator;

const GCC: &str = "riscv64-linux-gnu-gcc";
const QEMU: &str = "qemu-riscv64";

/// A guard against a guest that never ends.
const MAX_INSTRUCTIONS: u64 = 2_000_000_000;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("sim-differential-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tools_present() -> bool {
    // Check both, so that a missing tool is reported even if the other is
    // missing too.
    let gcc = common::tool(GCC).is_some();
    let qemu = common::tool(QEMU).is_some();
    gcc && qemu
}

/// The integer target of most test programs.
const RV64IMAC: &[&str] = &["-march=rv64imac", "-mabi=lp64"];
/// gcc's default target, with the F and D extensions (and no errno from
/// `__builtin_sqrt`, so that it is one `fsqrt.d`).
const RV64GC: &[&str] = &["-march=rv64gc", "-mabi=lp64d", "-fno-math-errno"];

/// Compiles tests/c/<name>.c with start.S at optimization `opt` into `dir`.
fn build(name: &str, opt: &str, dir: &Path) -> PathBuf {
    build_for(name, opt, RV64IMAC, dir)
}

/// `build` for the target `arch` (`RV64IMAC`, `RV64GC`).
fn build_for(name: &str, opt: &str, arch: &[&str], dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let exe = dir.join(format!("{name}{opt}"));
    let out = Command::new(GCC)
        .arg(opt)
        .args(arch)
        .args([
            "-static",
            "-nostdlib",
            "-ffreestanding",
            "-fno-builtin",
            "-Wall",
            "-Werror",
            "-o",
        ])
        .arg(&exe)
        .arg(src.join("start.S"))
        .arg(src.join(format!("{name}.c")))
        .output()
        .expect("run the cross compiler");
    assert!(
        out.status.success(),
        "{GCC} {opt} {name}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Stdout and exit code under qemu-riscv64.
fn run_qemu(exe: &Path, args: &[&str], stdin: &[u8]) -> (String, i32) {
    let mut child = Command::new(QEMU)
        .arg(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qemu");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("qemu: {} ended by a signal", exe.display()));
    (String::from_utf8_lossy(&out.stdout).into_owned(), code)
}

/// Stdout and exit code under sim (the library, output captured).
fn run_sim(exe: &Path, args: &[&str], stdin: &[u8]) -> (String, i32, String) {
    run_sim_with_quantum(exe, args, stdin, sim::simulator::DEFAULT_QUANTUM)
}

fn run_sim_with_quantum(
    exe: &Path,
    args: &[&str],
    stdin: &[u8],
    quantum: u64,
) -> (String, i32, String) {
    let elf = std::fs::read(exe).unwrap();
    let mut s = Simulator::builder()
        .quantum(quantum)
        .capture_output(true)
        .stdin_bytes(stdin.to_vec())
        .max_instructions(MAX_INSTRUCTIONS)
        // qemu-riscv64 sees the host's whole file system: so does sim here.
        .root("/")
        .build();
    let mut argv = vec![exe.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    s.load_elf(&elf, &argv)
        .unwrap_or_else(|e| panic!("sim refused {}: {e}", exe.display()));
    let outcome = s.run();
    assert!(!outcome.limit_reached, "{}: did not end", exe.display());
    (
        String::from_utf8_lossy(s.stdout()).into_owned(),
        outcome.exit_code,
        String::from_utf8_lossy(s.stderr()).into_owned(),
    )
}

/// Builds `name` at each optimization level and compares sim with qemu.
/// Returns the (common) stdout of the last build, for extra checks.
fn differential(name: &str, opts: &[&str], args: &[&str], stdin: &[u8]) -> Option<String> {
    differential_for(name, RV64IMAC, opts, args, stdin)
}

/// `differential` for the target `arch`.
fn differential_for(
    name: &str,
    arch: &[&str],
    opts: &[&str],
    args: &[&str],
    stdin: &[u8],
) -> Option<String> {
    if !tools_present() {
        return None;
    }
    let scratch = Scratch::new(name);
    let mut last = None;
    for opt in opts {
        let exe = build_for(name, opt, arch, &scratch.0);
        let (want_out, want_code) = run_qemu(&exe, args, stdin);
        let (out, code, err) = run_sim(&exe, args, stdin);
        assert_eq!(
            out, want_out,
            "{name} {opt}: stdout differs from qemu (sim stderr: {err})"
        );
        assert_eq!(
            code, want_code,
            "{name} {opt}: exit code differs from qemu (sim stderr: {err})"
        );
        last = Some(out);
    }
    last
}

const ALL: &[&str] = &["-O0", "-O2", "-Os"];
const O2: &[&str] = &["-O2"];

#[test]
fn hello_with_args() {
    if let Some(out) = differential("hello", ALL, &["one", "two words", ""], b"") {
        assert!(out.contains("hello, world\nargc=4\narg: one\narg: two words\n"));
    }
}

#[test]
fn arithmetic_edges() {
    if let Some(out) = differential("arith", ALL, &[], b"") {
        assert!(out.contains("div0=-1\nrem0=7\n"), "{out}");
        assert!(
            out.contains("divovf=-9223372036854775808\nremovf=0\n"),
            "{out}"
        );
    }
}

#[test]
fn sieve() {
    if let Some(out) = differential("sieve", &["-O2", "-O0"], &[], b"") {
        assert!(out.contains("primes=3245\n"), "{out}");
    }
}

#[test]
fn quicksort() {
    if let Some(out) = differential("qsort", ALL, &[], b"") {
        assert!(out.starts_with("sorted=1\n"), "{out}");
    }
}

#[test]
fn matrix_multiply() {
    differential("matmul", &["-O2", "-O0"], &[], b"");
}

#[test]
fn string_functions() {
    if let Some(out) = differential("strings", ALL, &[], b"") {
        assert!(out.starts_with("Hello, strings!\nlen=15\n"), "{out}");
    }
}

#[test]
fn recursion() {
    if let Some(out) = differential("recursion", &["-O2", "-O0"], &[], b"") {
        assert!(out.contains("fib(24)=46368\n"), "{out}");
        assert!(out.contains("ack(3,4)=125\n"), "{out}");
    }
}

#[test]
fn fork_and_wait() {
    if let Some(out) = differential("fork", &["-O2", "-O0"], &[], b"") {
        assert!(out.contains("exit status=3\n"), "{out}");
        assert!(out.contains("parent sees=10\n"), "{out}");
    }
}

#[test]
fn read_a_file_byte_by_byte() {
    if !tools_present() {
        return;
    }
    let scratch = Scratch::new("input");
    let path = scratch.0.join("input.txt");
    let mut content = b"first line\nsecond line\n".to_vec();
    content.extend((0..=255u8).cycle().take(5000));
    content.extend(b"\nno newline at the end");
    std::fs::write(&path, &content).unwrap();
    let arg = path.display().to_string();
    if let Some(out) = differential("cat", O2, &[&arg], b"") {
        assert!(out.len() > content.len());
    }
    // A missing file: the program reports the error code itself.
    differential("cat", O2, &["/nonexistent/input.txt"], b"");
}

#[test]
fn brk_growth() {
    if let Some(out) = differential("brk", &["-O2", "-O0"], &[], b"") {
        assert!(out.starts_with("grew=1\n"), "{out}");
        assert!(out.contains("shrunk=1\n"), "{out}");
    }
}

#[test]
fn exit_code_from_a_computation() {
    differential("exitcode", ALL, &[], b"");
}

#[test]
fn stdin_to_stdout() {
    let input: Vec<u8> = b"Some input, read in small chunks.\n"
        .iter()
        .copied()
        .cycle()
        .take(1000)
        .collect();
    if let Some(out) = differential("upcase", O2, &[], &input) {
        assert!(out.starts_with("SOME INPUT"), "{out}");
        assert!(out.ends_with("total=1000\n"), "{out}");
    }
    differential("upcase", O2, &[], b"");
}

#[test]
fn floating_point_n_body() {
    // Double-precision n-body, a single-precision sum under every rounding
    // mode, and the accrued flags: bit for bit as on qemu.
    if let Some(out) = differential_for("nbody", RV64GC, ALL, &["2000"], b"") {
        assert!(
            out.starts_with("energy before=0xbfc5a441459acc23 -0.169075164\n"),
            "{out}"
        );
        assert!(out.contains("harmonic(1000) rm=1: 0x40ef8724\n"), "{out}");
        assert!(out.ends_with("fflags=1\n"), "{out}");
    }
}

#[test]
fn tiny_quanta_change_nothing_a_program_can_see() {
    if !tools_present() {
        return;
    }
    let scratch = Scratch::new("quanta");
    for name in ["fork", "qsort"] {
        let exe = build(name, "-O2", &scratch.0);
        let (want_out, want_code) = run_qemu(&exe, &[], b"");
        for quantum in [1, 7, 100] {
            let (out, code, err) = run_sim_with_quantum(&exe, &[], b"", quantum);
            assert_eq!(out, want_out, "{name}, quantum {quantum}: {err}");
            assert_eq!(code, want_code, "{name}, quantum {quantum}: {err}");
        }
    }
}

//! selfie's ABI profile (docs/selfie.md): detection of selfie's binaries,
//! `--abi`, selfie's `switch` with mipster's context semantics — run
//! through programs/selfie/hypster.c, a small hypster on selfie's context
//! layout, one level deep and nested —, the exception codes a hypster gets
//! back, the timer of a switch, and the -u/-k rules for it (U/K-3, U/K-5).
//!
//! selfie's own sources are not in the repository; the last test runs
//! selfie's `selfie.m -y` from a local checkout when asked to (ignored
//! otherwise, which cargo reports).

use std::path::{Path, PathBuf};
use std::process::Command;

use sim::abi::selfie::{is_selfie_elf, Profile};
use sim::kernel::{ExitStatus, LoadError, Mode};
use sim::Simulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(rel: &str) -> Vec<u8> {
    sim::toolchain::build_program(&[root().join(rel)]).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

/// Compiles C* source text, written to a file of its own.
fn build_source(name: &str, source: &str) -> Vec<u8> {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.c"));
    std::fs::write(&path, source).unwrap();
    sim::toolchain::build_program(&[path]).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// A fresh directory for one test (the guests' root).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("selfie")
        .join(format!("{test}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `elf` as selfie's compiler lays its binaries out: the same two
/// segments, no section headers (selfie.c `encode_elf_header`).
fn selfie_layout(elf: &[u8]) -> Vec<u8> {
    let parsed = goblin::elf::Elf::parse(elf).unwrap();
    let end = parsed
        .program_headers
        .iter()
        .map(|p| p.p_offset + p.p_filesz)
        .max()
        .unwrap() as usize;
    let mut out = elf[..end].to_vec();
    out[40..48].fill(0); // e_shoff
    out[58..64].fill(0); // e_shentsize, e_shnum, e_shstrndx
    out
}

struct Run {
    stdout: String,
    stderr: String,
    exit_code: i32,
    instructions: u64,
}

/// Runs `hypster` (under `abi`) with `args`, the guests' root holding
/// `files`.
fn run_in(
    dir: &Path,
    builder: sim::SimulatorBuilder,
    elf: &[u8],
    args: &[&str],
    files: &[(&str, &[u8])],
) -> Run {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let mut s = builder.capture_output(true).root(dir).build();
    let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    s.load_elf(elf, &argv).unwrap();
    let outcome = s.run();
    Run {
        stdout: String::from_utf8_lossy(s.stdout()).into(),
        stderr: String::from_utf8_lossy(s.stderr()).into(),
        exit_code: outcome.exit_code,
        instructions: outcome.instructions,
    }
}

fn selfie_abi() -> sim::SimulatorBuilder {
    Simulator::builder().abi(Some(Profile::Selfie))
}

#[test]
fn selfies_binary_layout_is_detected_and_other_elfs_are_not() {
    let hello = build("programs/hello.c");
    assert!(!is_selfie_elf(&hello), "sim's ELFs have section headers");
    assert_eq!(Profile::of_elf(&hello), Profile::Linux);
    let selfie_hello = selfie_layout(&hello);
    assert!(is_selfie_elf(&selfie_hello));
    assert_eq!(Profile::of_elf(&selfie_hello), Profile::Selfie);
    // Not quite selfie's: a third segment, another entry, garbage.
    let mut moved = selfie_hello.clone();
    moved[24] = 4; // e_entry 0x10004
    assert!(!is_selfie_elf(&moved));
    assert!(!is_selfie_elf(&selfie_hello[..100]));
    assert!(!is_selfie_elf(b"\x7fELF"));
    assert_eq!(Profile::from_flag("selfie"), Some(Profile::Selfie));
    assert_eq!(Profile::from_flag("linux"), Some(Profile::Linux));
    assert_eq!(Profile::from_flag("auto"), None);
}

#[test]
fn a_hypster_runs_hello_through_selfies_switch() {
    let dir = scratch("hello");
    let run = run_in(
        &dir,
        selfie_abi(),
        &build("programs/selfie/hypster.c"),
        &["hypster", "hello.elf"],
        &[("hello.elf", &build("programs/hello.c"))],
    );
    assert_eq!(
        run.stdout,
        "Hello, world!\n\
         hypster: hello.elf exited with 0 after 5 syscalls, 1 page faults, 0 timer interrupts\n",
        "{}",
        run.stderr
    );
    assert_eq!(run.exit_code, 0);
}

#[test]
fn a_selfie_binary_gets_selfies_abi_without_the_flag() {
    let dir = scratch("auto");
    let hypster = selfie_layout(&build("programs/selfie/hypster.c"));
    let run = run_in(
        &dir,
        Simulator::builder(),
        &hypster,
        &["hypster", "echo.elf", "a", "b"],
        &[("echo.elf", &build("programs/echo.c"))],
    );
    assert!(
        run.stdout
            .starts_with("a b\nhypster: echo.elf exited with 2"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.exit_code, 2);
}

#[test]
fn nested_hypsters_each_get_their_own_programs_exceptions() {
    let dir = scratch("nested");
    let (hypster, echo) = (build("programs/selfie/hypster.c"), build("programs/echo.c"));
    let files: [(&str, &[u8]); 2] = [("hypster.elf", &hypster), ("echo.elf", &echo)];
    let args = ["hypster", "hypster.elf", "hypster.elf", "echo.elf", "x"];
    let run = run_in(&dir, selfie_abi(), &hypster, &args, &files);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}{}", run.stdout, run.stderr);
    assert_eq!(lines[0], "x");
    // The innermost hypster saw echo's 5 calls and its page fault; each
    // outer one saw only its own child's, and timer interrupts.
    assert_eq!(
        lines[1],
        "hypster: echo.elf exited with 1 after 5 syscalls, 1 page faults, 0 timer interrupts"
    );
    assert!(lines[2].starts_with("hypster: hypster.elf exited with 1 after "));
    assert!(lines[3].starts_with("hypster: hypster.elf exited with 1 after "));
    assert!(!lines[3].ends_with(" 0 timer interrupts"), "{}", lines[3]);
    assert_eq!(run.exit_code, 1);
    // Deterministic: the same output and instruction count again.
    let again = run_in(&dir, selfie_abi(), &hypster, &args, &files);
    assert_eq!(
        (again.stdout, again.instructions),
        (run.stdout, run.instructions)
    );
}

#[test]
fn the_hosts_time_slice_is_invisible_to_a_hypster() {
    // Only the switch's own timeout reaches the hypster: with a host
    // quantum of 97 instructions or the default, it counts the same
    // timer interrupts and the run takes the same instructions.
    let dir = scratch("quantum");
    let (hypster, echo) = (build("programs/selfie/hypster.c"), build("programs/echo.c"));
    let files: [(&str, &[u8]); 2] = [("hypster.elf", &hypster), ("echo.elf", &echo)];
    let args = ["hypster", "hypster.elf", "echo.elf"];
    let default = run_in(&dir, selfie_abi(), &hypster, &args, &files);
    let short = run_in(&dir, selfie_abi().quantum(97), &hypster, &args, &files);
    let outer = default.stdout.lines().last().unwrap_or_default();
    assert!(
        outer.starts_with("hypster: hypster.elf exited with 0"),
        "{}{}",
        default.stdout,
        default.stderr
    );
    assert!(!outer.ends_with(" 0 timer interrupts"), "{outer}");
    assert_eq!(short.stdout, default.stdout);
    assert_eq!(short.instructions, default.instructions);
}

/// A child program for the hypster whose main is `body`.
fn child(name: &str, body: &str) -> Vec<u8> {
    build_source(name, &format!("uint64_t main() {{\n{body}\n}}\n"))
}

#[test]
fn a_hypster_gets_selfies_exception_codes() {
    // selfie.c: 2 segmentation fault (between heap and stack), 6 invalid
    // address (beyond 4 GiB), 5 division by zero (selfie's machine traps
    // it: --trap-division-by-zero).
    let hypster = build("programs/selfie/hypster.c");
    let cases = [
        (
            "segfault",
            "*((uint64_t*) 1073741824) = 1; return 0;",
            false,
            "uncaught exception 2 (fault 40000000)",
        ),
        (
            "invalid",
            "*((uint64_t*) 8589934592) = 1; return 0;",
            false,
            "uncaught exception 6 (fault 200000000)",
        ),
        (
            "division",
            "uint64_t zero; zero = 0; return 7 / zero;",
            true,
            "uncaught exception 5",
        ),
    ];
    for (name, body, trap, expected) in cases {
        let dir = scratch(name);
        let builder = selfie_abi().trap_division_by_zero(trap);
        let run = run_in(
            &dir,
            builder,
            &hypster,
            &["hypster", "prog"],
            &[("prog", &child(name, body))],
        );
        assert!(
            run.stdout.contains(expected),
            "{name}: {}{}",
            run.stdout,
            run.stderr
        );
        assert_eq!(run.exit_code, 27, "{name}");
    }
}

#[test]
fn a_switch_from_a_user_process_breaks_rule_uk3() {
    // A selfie binary that the guest kernel rr runs as its user process:
    // its switch is a privilege violation, which kills it (rr reports it).
    let dir = scratch("uk3");
    std::fs::write(dir.join("hello.elf"), build("programs/hello.c")).unwrap();
    let hypster = selfie_layout(&build("programs/selfie/hypster.c"));
    let mut s = Simulator::builder().capture_output(true).root(&dir).build();
    let rr = s
        .load_elf_in(
            0,
            &build("programs/kernels/rr.c"),
            &["rr".into()],
            Mode::Kernel,
            None,
        )
        .unwrap();
    let child = s
        .load_elf_in(
            0,
            &hypster,
            &["hypster".into(), "hello.elf".into()],
            Mode::User,
            Some(rr),
        )
        .unwrap();
    s.run();
    let stderr = String::from_utf8_lossy(s.stderr());
    assert!(
        stderr.contains("rule U/K-3 broken: hypercall switch (401) from user mode"),
        "{stderr}"
    );
    assert_eq!(
        s.process(child).and_then(|p| p.exit_status()),
        Some(ExitStatus::Killed(4))
    );
    assert!(!String::from_utf8_lossy(s.stdout()).contains("Hello"));
}

#[test]
fn nothing_is_loaded_under_a_selfie_process_rule_uk5() {
    let mut s = selfie_abi().capture_output(true).build();
    let hypster = s
        .load_elf_in(
            0,
            &build("programs/selfie/hypster.c"),
            &["hypster".into()],
            Mode::User,
            None,
        )
        .unwrap();
    // A selfie program the host starts may switch: it runs in kernel mode.
    assert_eq!(s.process(hypster).map(|p| p.mode), Some(Mode::Kernel));
    assert_eq!(s.process(hypster).map(|p| p.profile), Some(Profile::Selfie));
    let refused = s.load_elf_in(
        0,
        &build("programs/hello.c"),
        &["hello".into()],
        Mode::User,
        Some(hypster),
    );
    let Err(e @ LoadError::NotStartedBySelfie(_)) = refused else {
        panic!("loaded under a selfie process: {refused:?}");
    };
    assert!(e.to_string().starts_with("rule U/K-5: "), "{e}");
}

#[test]
fn selfies_abi_ends_a_program_that_makes_an_unknown_call() {
    let dir = scratch("unknown");
    let prog = child(
        "unknown",
        "print(\"before\"); println(); getpid(); print(\"after\"); return 0;",
    );
    let run = run_in(&dir, selfie_abi(), &prog, &["unknown"], &[]);
    assert_eq!(run.stdout, "before\n");
    assert!(
        run.stderr
            .contains("unknown system call 172 under selfie's ABI"),
        "{}",
        run.stderr
    );
    assert_eq!(run.exit_code, 24, "mipster's EXITCODE_UNKNOWNSYSCALL");
    // Under Linux's ABI the same program runs to its end.
    let linux = run_in(&dir, Simulator::builder(), &prog, &["unknown"], &[]);
    assert_eq!(
        (linux.stdout.as_str(), linux.exit_code),
        ("before\nafter", 0)
    );
}

#[test]
fn a_switch_to_a_context_outside_the_callers_memory_ends_the_caller() {
    let dir = scratch("badcontext");
    let prog = build_source(
        "badcontext",
        "uint64_t* hypster_switch(uint64_t* to_context, uint64_t timeout);\n\
         uint64_t main() { hypster_switch((uint64_t*) 8, 0); print(\"not reached\"); return 0; }\n",
    );
    let run = run_in(&dir, selfie_abi(), &prog, &["badcontext"], &[]);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("killed: switch to the machine context at 0x8: the context is not in the caller's memory"),
        "{}",
        run.stderr
    );
    assert_eq!(run.exit_code, 128 + 11);
}

#[test]
fn a_programs_own_hypster_switch_wins_over_the_built_in() {
    // selfie.c defines hypster_switch (its boot-level-0 version); the C*
    // compiler then calls that definition, as for any built-in.
    let dir = scratch("own");
    let prog = build_source(
        "own",
        "uint64_t* hypster_switch(uint64_t* to_context, uint64_t timeout) { return to_context + timeout; }\n\
         uint64_t main() { return (uint64_t) hypster_switch((uint64_t*) 16, 1) - 16; }\n",
    );
    let run = run_in(&dir, selfie_abi(), &prog, &["own"], &[]);
    assert_eq!(run.exit_code, 8, "{}", run.stderr);
}

#[test]
fn the_command_line_chooses_the_abi() {
    let dir = scratch("cli");
    std::fs::write(dir.join("hello.elf"), build("programs/hello.c")).unwrap();
    let hypster = dir.join("hypster.m");
    std::fs::write(&hypster, selfie_layout(&build("programs/selfie/hypster.c"))).unwrap();
    let sim = |abi: &str| {
        Command::new(env!("CARGO_BIN_EXE_sim"))
            .current_dir(&dir)
            .args(["--abi", abi, "-u", "hypster.m", "hello.elf"])
            .output()
            .unwrap()
    };
    for abi in ["auto", "selfie"] {
        let out = sim(abi);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with("Hello, world!\nhypster: hello.elf exited with 0"),
            "{abi}: {stdout}"
        );
        assert_eq!(out.status.code(), Some(0), "{abi}");
    }
    // Under Linux's ABI, 401 is hv_switch, which a user process may not use.
    let out = sim("linux");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rule U/K-3 broken: hypercall hv_switch (401)"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(128 + 4));
}

/// selfie's own hypster, from a local checkout of selfie (its sources are
/// not in the repository): `SIM_SELFIE_DIR=/path/to/selfie cargo test
/// --release --test selfie -- --ignored`, with `selfie.m` built there
/// (`make selfie && ./selfie -c selfie.c -o selfie.m`).
#[test]
#[ignore = "needs a selfie checkout with selfie.m: set SIM_SELFIE_DIR and run with --ignored"]
fn selfies_own_hypster_runs_hello_world() {
    let dir = PathBuf::from(std::env::var("SIM_SELFIE_DIR").expect("SIM_SELFIE_DIR is not set"));
    let scenario = scratch("selfie_checkout").join("hypster.txt");
    std::fs::write(&scenario, "user selfie.m -c examples/hello-world.c -y 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(&dir)
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("Hello World!"), "{stdout}{stderr}");
    assert!(stdout.contains(
        "hypster terminating 64-bit RISC-U binary examples/hello-world.c with exit code 0"
    ));
    assert_eq!(out.status.code(), Some(0));
}

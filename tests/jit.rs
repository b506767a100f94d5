//! The JIT tier (src/emu/jit/) against the interpreter: every program in
//! the repository runs under both tiers with the same output, exit code
//! and instruction count, also when the time slice and the instruction
//! limit cut blocks in the middle. (The rest of the suite runs under
//! either tier: `SIM_JIT=0 cargo test` for the interpreter alone.)

mod common;

use std::process::Command;

use sim::{RunOutcome, Simulator};

use common::{c_files, header, root};

/// What one run shows from outside.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    exit_code: i32,
    instructions: u64,
    limit_reached: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `elf` with `args` on one tier; returns what it showed and how many
/// blocks the JIT compiled.
fn run(elf: &[u8], args: &[String], jit: bool, quantum: u64, limit: u64) -> (Seen, u64) {
    let mut s = Simulator::builder()
        .capture_output(true)
        .stdin_bytes(b"some input\nfor the programs that read\n".to_vec())
        .quantum(quantum)
        .max_instructions(limit)
        .jit(jit)
        .build();
    s.load_elf(elf, args).expect("load");
    let RunOutcome {
        exit_code,
        instructions,
        limit_reached,
    } = s.run();
    let seen = Seen {
        exit_code,
        instructions,
        limit_reached,
        stdout: s.stdout().to_vec(),
        stderr: s.stderr().to_vec(),
    };
    (seen, s.machine().compiled_blocks())
}

/// Every program of programs/ (C*), tests/c/ and benches/programs/ (gcc,
/// when installed), as (name, ELF, arguments).
fn every_program() -> Vec<(String, Vec<u8>, Vec<String>)> {
    let mut out = Vec::new();
    let mut sources = Vec::new();
    c_files(&root().join("programs"), &mut sources);
    sources.sort();
    for path in sources {
        let Ok(elf) = sim::toolchain::build_program(std::slice::from_ref(&path)) else {
            continue; // a program that is meant not to compile
        };
        let mut args = vec![path.display().to_string()];
        if let Some(extra) = header(&path, "expect-args") {
            args.extend(extra.split_whitespace().map(String::from));
        }
        out.push((path.display().to_string(), elf, args));
    }
    if let Some(gcc) = common::tool("riscv64-linux-gnu-gcc") {
        let dir = std::env::temp_dir().join(format!("sim-jit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut c = Vec::new();
        c_files(&root().join("tests/c"), &mut c);
        c_files(&root().join("benches/programs"), &mut c);
        c.sort();
        for path in c {
            let elf_path = dir.join("prog.elf");
            let status = Command::new(&gcc)
                .args([
                    "-O2",
                    "-march=rv64gc",
                    "-mabi=lp64d",
                    "-static",
                    "-nostdlib",
                ])
                .args(["-ffreestanding", "-fno-builtin", "-fno-math-errno"])
                .arg(format!("-I{}", root().join("tests/c").display()))
                .arg(root().join("tests/c/start.S"))
                .arg(&path)
                .arg("-o")
                .arg(&elf_path)
                .status()
                .expect("run gcc");
            assert!(status.success(), "gcc {}", path.display());
            let elf = std::fs::read(&elf_path).expect("read ELF");
            out.push((path.display().to_string(), elf, vec!["prog".to_string()]));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

/// Instructions each run may take: the benchmarks are cut short (the
/// limit stops both tiers at the same instruction).
const LIMIT: u64 = 2_000_000;

#[test]
fn every_program_gives_the_same_output_and_counts_under_both_tiers() {
    let programs = every_program();
    assert!(
        programs.len() >= 20,
        "found only {} programs",
        programs.len()
    );
    let mut compiled = 0;
    for (name, elf, args) in &programs {
        // The default quantum, and an odd one that cuts blocks anywhere;
        // `LIMIT` keeps the long benchmarks short.
        for quantum in [100_000, 997] {
            let (interpreted, none) = run(elf, args, false, quantum, LIMIT);
            let (jitted, blocks) = run(elf, args, true, quantum, LIMIT);
            assert_eq!(none, 0, "{name}: the interpreter compiled blocks");
            assert_eq!(interpreted, jitted, "{name}, quantum {quantum}");
            compiled += blocks;
        }
    }
    if sim::emu::jit_available() {
        assert!(compiled > 100, "the JIT compiled only {compiled} blocks");
    }
}

#[test]
fn the_instruction_limit_stops_both_tiers_at_the_same_instruction() {
    let path = root().join("programs/bench/sort.c");
    let elf = sim::toolchain::build_program(std::slice::from_ref(&path)).expect("compile");
    let args = vec!["sort".to_string()];
    for limit in [1, 2, 3, 7, 64, 65, 1_000, 12_345, 99_999, 1_000_003] {
        let (interpreted, _) = run(&elf, &args, false, 100_000, limit);
        let (jitted, _) = run(&elf, &args, true, 100_000, limit);
        assert!(interpreted.limit_reached, "limit {limit}");
        assert_eq!(interpreted.instructions, limit, "limit {limit}");
        assert_eq!(interpreted, jitted, "limit {limit}");
    }
}

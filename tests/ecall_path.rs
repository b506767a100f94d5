//! The run loop's short cut for the common syscall (simulator/run.rs
//! `run_on_after_syscalls`) must not change a run: `Simulator::run` takes
//! it, a library user stepping through exceptions
//! (`run_until_exception` + `handle`) never does. Both ways must give the
//! same output, exit code, instruction count, `--stats` and
//! `--trace-syscalls` lines, also when time slices end between two calls,
//! several processes take turns, or the instruction limit stops the run.

use sim::trace::Trace;
use sim::Simulator;

/// Reads stdin one byte per call and echoes each byte, with a `brk` and a
/// `getpid` per byte; after the end of the input, forks: the parent waits
/// for the child, both write a line, and the child's exit code is the
/// parent's.
const ECHO_FORK: &str = "
_start:
read_loop:
    li a0, 0
    la a1, byte
    li a2, 1
    li a7, 63               # read
    ecall
    beqz a0, forked
    li a0, 1
    la a1, byte
    li a2, 1
    li a7, 64               # write
    ecall
    li a0, 0
    li a7, 214              # brk
    ecall
    li a7, 172              # getpid
    ecall
    j read_loop
forked:
    li a0, 17               # SIGCHLD: fork
    li a1, 0
    li a7, 220              # clone
    ecall
    beqz a0, child
    li a0, -1
    la a1, status
    li a2, 0
    li a3, 0
    li a7, 260              # wait4
    ecall
    li a0, 1
    la a1, parent_text
    li a2, 7
    li a7, 64
    ecall
    la t0, status
    ld a0, 0(t0)
    srli a0, a0, 8
    li a7, 93               # exit
    ecall
child:
    li s0, 20
child_loop:
    li a7, 172              # getpid
    ecall
    addi s0, s0, -1
    bnez s0, child_loop
    li a0, 1
    la a1, child_text
    li a2, 6
    li a7, 64
    ecall
    li a0, 3
    li a7, 93
    ecall
.data
byte: .zero 8
status: .zero 8
parent_text: .string \"parent\\n\"
child_text: .string \"child\\n\"
";

/// What a run left: exit code, instructions, stdout, stderr (trace lines
/// included) and the `--stats` report without its line of time.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit_code: i32,
    instructions: u64,
    stdout: String,
    stderr: String,
    stats: String,
}

fn run(
    elf: &[u8],
    quantum: Option<u64>,
    limit: Option<u64>,
    trace: Trace,
    step_by_step: bool,
) -> Outcome {
    let mut builder = Simulator::builder()
        .capture_output(true)
        .stdin_bytes(b"hello, ecall\n".to_vec())
        .trace(trace);
    if let Some(q) = quantum {
        builder = builder.quantum(q);
    }
    if let Some(l) = limit {
        builder = builder.max_instructions(l);
    }
    let mut sim = builder.build();
    sim.load_elf(elf, &["echo_fork".to_string()])
        .expect("loads");
    if step_by_step {
        while let Some(event) = sim.run_until_exception() {
            sim.handle(event);
        }
    }
    // After stepping, `run` finds nothing left and only ends the run.
    let outcome = sim.run();
    let report = sim.stats_report();
    Outcome {
        exit_code: outcome.exit_code,
        instructions: outcome.instructions,
        stdout: String::from_utf8_lossy(sim.stdout()).into_owned(),
        stderr: String::from_utf8_lossy(sim.stderr()).into_owned(),
        stats: report.lines().skip(1).collect::<Vec<_>>().join("\n"),
    }
}

fn elf() -> Vec<u8> {
    sim::toolchain::asm::assemble(ECHO_FORK, "echo_fork.s").expect("assembles")
}

#[test]
fn run_loop_and_stepping_agree() {
    let elf = elf();
    let traced = Trace {
        syscalls: true,
        ..Trace::default()
    };
    for quantum in [None, Some(1), Some(5), Some(13), Some(100)] {
        for trace in [Trace::default(), traced] {
            let fast = run(&elf, quantum, None, trace, false);
            let stepped = run(&elf, quantum, None, trace, true);
            assert_eq!(fast, stepped, "quantum {quantum:?}, trace {trace:?}");
            assert_eq!(fast.exit_code, 3, "{fast:?}");
            assert!(fast.stdout.starts_with("hello, ecall\n"), "{}", fast.stdout);
            assert!(fast.stdout.contains("child\n") && fast.stdout.ends_with("parent\n"));
            assert!(fast.stats.contains("syscalls: brk 13,"), "{}", fast.stats);
            if trace.syscalls {
                assert!(fast.stderr.contains("[1] brk(0x0) = "), "{}", fast.stderr);
            }
        }
    }
}

/// The instruction limit stops the run at the same instruction, inside the
/// loop of calls or after it, whichever way the run is driven.
#[test]
fn instruction_limit_stops_both_ways_alike() {
    let elf = elf();
    let full = run(&elf, None, None, Trace::default(), false).instructions;
    for limit in [1, 10, 57, 200, full / 2, full - 1] {
        let fast = run(&elf, Some(7), Some(limit), Trace::default(), false);
        let stepped = run(&elf, Some(7), Some(limit), Trace::default(), true);
        assert_eq!(fast, stepped, "limit {limit}");
        assert_eq!(fast.instructions, limit);
        assert!(
            fast.stderr.contains("--max-instructions"),
            "limit {limit}: {}",
            fast.stderr
        );
    }
}

//! Debugging from the library and the CLI: symbols and lines of C* and gcc
//! output, the symbolized crash report, run control (breakpoints,
//! watchpoints, steps, replay), trace windows and the scripted `--debug`
//! session. gcc's part needs riscv64-linux-gnu-gcc (SKIP when missing, a
//! failure under CI=true: tests/common).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use sim::debug::symbols::Symbols;
use sim::simulator::{Stop, StopReason, Watchpoint};
use sim::Simulator;

const CRASH_C: &str = "programs/debug/crash.c";

fn crash_elf() -> Vec<u8> {
    sim::toolchain::build_program(&[PathBuf::from(CRASH_C)]).expect("crash.c compiles")
}

fn loaded() -> Simulator {
    let mut sim = Simulator::builder().capture_output(true).build();
    sim.load_elf(&crash_elf(), &["crash".into()])
        .expect("loads");
    sim
}

#[test]
fn symbols_of_a_cstar_program_name_functions_lines_and_globals() {
    let symbols = Symbols::parse(&crash_elf()).expect("parses");
    let sum = symbols.function("sum").expect("sum").clone();
    assert_eq!(
        symbols
            .function_at(sum.address + 4)
            .map(|f| f.name.as_str()),
        Some("sum")
    );
    assert_eq!(
        symbols.function_offset(sum.address + 8).as_deref(),
        Some("sum+0x8")
    );
    // The breakpoint of a function goes after its prologue, on its first line.
    let at = symbols
        .breakpoint_address("sum")
        .expect("a breakpoint address");
    assert!(at > sum.address && sum.contains(at));
    assert_eq!(
        symbols.line_at(at).map(|l| l.short()),
        Some("crash.c:16".into())
    );
    let line = symbols
        .line_address("crash.c", 18)
        .expect("line 18 has code");
    assert!(
        symbols.describe(line).starts_with("sum+"),
        "{}",
        symbols.describe(line)
    );
    assert!(symbols.global("counter").is_some());
    assert_eq!(symbols.resolve_location("crash.c:18"), Some(line));
    assert_eq!(symbols.resolve_location("*0x10000"), Some(0x10000));
}

#[test]
fn symbols_of_a_gcc_program_and_a_run_to_its_breakpoint() {
    let Some(gcc) = common::tool("riscv64-linux-gnu-gcc") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sim-debug-gcc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy("tests/debug/count.c", dir.join("count.c")).expect("copy");
    let out = Command::new(gcc)
        .args([
            "-g",
            "-O0",
            "-static",
            "-nostdlib",
            "-o",
            "count",
            "count.c",
        ])
        .current_dir(&dir)
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = std::fs::read(dir.join("count")).expect("the binary");
    let _ = std::fs::remove_dir_all(&dir);
    let symbols = Symbols::parse(&elf).expect("parses");
    let at = symbols.breakpoint_address("bump").expect("bump");
    assert_eq!(
        symbols.line_at(at).map(|l| l.short()),
        Some("count.c:6".into())
    );
    let counter = symbols.global("counter").expect("counter").address;

    let mut sim = Simulator::builder().capture_output(true).build();
    let pid = sim.load_elf(&elf, &["count".into()]).expect("loads");
    sim.add_breakpoint(at);
    assert!(matches!(sim.run_until(Stop::Continue), StopReason::Breakpoint { pc, .. } if pc == at));
    // A backtrace through gcc's .debug_frame: bump, main, _start.
    let hart = &sim.process(pid).expect("process").hart;
    let read = |a: u64| {
        sim.read_memory(pid, a, 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let frames = symbols.backtrace(hart.pc, hart.regs[2], hart.regs[8], hart.regs[1], &read, 8);
    let names: Vec<String> = frames
        .iter()
        .filter_map(|f| symbols.function_at(f.pc).map(|s| s.name.clone()))
        .collect();
    assert_eq!(names, ["bump", "main", "_start"], "{frames:x?}");
    sim.remove_breakpoint(at);
    match sim.run_until(Stop::Watch(Watchpoint::write(counter))) {
        StopReason::Watch { old, new, .. } => {
            assert_eq!(old, 0u64.to_le_bytes());
            assert_eq!(new, 1u64.to_le_bytes());
        }
        other => panic!("expected the write of counter, got {other:?}"),
    }
    assert_eq!(
        sim.run_until(Stop::Continue),
        StopReason::Exited { exit_code: 6 }
    );
}

#[test]
fn the_crash_report_names_the_function_line_backtrace_and_last_instructions() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-u", CRASH_C])
        .output()
        .expect("sim runs");
    assert_eq!(out.status.code(), Some(139));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "killed: load at address 0x3039",
        "signal SIGSEGV (11)",
        "at sum+0x28 (crash.c:18)",
        "#0 0x10164 in sum+0x28 (crash.c:18)",
        "#1 0x100b8 in main+0x90 (crash.c:29)",
        "last instructions of process 1:",
        "=> 0x10164 sum+0x28 (crash.c:18)  ld t1,0(t1)",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing in:\n{stderr}"
        );
    }
}

#[test]
fn a_run_stops_at_the_write_to_counter_and_replays_back() {
    let mut sim = loaded();
    let symbols = Symbols::parse(&crash_elf()).expect("parses");
    let counter = symbols.global("counter").expect("counter").address;
    let reason = sim.run_until(Stop::Watch(Watchpoint::write(counter)));
    let StopReason::Watch { pc, old, new, .. } = reason else {
        panic!("expected the write of counter, got {reason:?}");
    };
    assert_eq!(
        (old, new),
        (0u64.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec())
    );
    assert_eq!(
        symbols.line_at(pc).map(|l| l.short()),
        Some("crash.c:19".into())
    );
    let position = sim.position();
    // Replay: the same state at the same position, in a new simulator.
    let mut again = sim.replay_to(position).expect("replays");
    assert_eq!(again.position(), position);
    assert_eq!(
        again.process(sim_pid()).map(|p| p.hart.clone()),
        sim.process(sim_pid()).map(|p| p.hart.clone())
    );
    // The last write before the next one is this one.
    let next = again.run_until(Stop::Watch(Watchpoint::write(counter)));
    assert!(matches!(next, StopReason::Watch { ref new, .. } if new == &2u64.to_le_bytes()));
    let (at, _) = again
        .last_stop_before(again.position(), Stop::Watch(Watchpoint::write(counter)))
        .expect("replays")
        .expect("a write");
    assert_eq!(at, again.position() - 1);
    // A step is one instruction; a breakpoint stops before its instruction.
    let before = sim.position();
    assert!(matches!(sim.run_until(Stop::Step), StopReason::Step { .. }));
    assert_eq!(sim.position(), before + 1);
    let line20 = symbols.line_address("crash.c", 20).expect("line 20");
    sim.add_breakpoint(line20);
    assert!(
        matches!(sim.run_until(Stop::Continue), StopReason::Breakpoint { pc, .. } if pc == line20)
    );
    sim.remove_breakpoint(line20);
    // To the end: the crash, reported as the exit code a shell sees.
    assert_eq!(
        sim.run_until(Stop::Continue),
        StopReason::Exited { exit_code: 139 }
    );
}

fn sim_pid() -> sim::kernel::Pid {
    sim::kernel::Pid(1)
}

#[test]
fn trace_windows_show_block_entries_and_keep_the_last_lines() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(["-u", CRASH_C])
            .args(args)
            .output()
            .expect("sim runs");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let window = run(&["--trace-from", "100", "--trace-to", "110"]);
    let lines: Vec<&str> = window.lines().filter(|l| l.starts_with("[1] 0x")).collect();
    assert_eq!(lines.len(), 10, "{window}");
    assert!(
        window.contains("[1] -- "),
        "a block entry names its function:\n{window}"
    );
    let last = run(&["--trace-last", "5"]);
    let kept: Vec<&str> = last
        .lines()
        .skip_while(|l| !l.contains("the last"))
        .filter(|l| l.starts_with("[1] "))
        .collect();
    assert_eq!(kept.len(), 5, "{last}");
    assert!(kept[4].contains("ld t1,0(t1)"), "{last}");
    let function = run(&["--trace-function", "node"]);
    assert!(function.contains("[1] -- node"), "{function}");
    assert!(!function.contains("-- sum"), "{function}");
}

#[test]
fn the_interactive_debugger_steps_backwards_from_a_script() {
    let script = "break sum\ncontinue\nnext\nnext\nprint counter\nwatch counter\ncontinue\nprint counter\ncontinue\nlast-write counter\nreverse-stepi\nreverse-step\ninfo line\nbacktrace\nprint $sp\nx/2 first\ninfo registers\ninfo pagetable\ninfo contexts\nquit\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["--debug", "-u", CRASH_C])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    let out = child.wait_with_output().expect("sim ends");
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "Breakpoint at",
        "Breakpoint: process 1 at sum+0x14 (crash.c:16)",
        "(crash.c:17)",
        "counter = 0 (0x0)",
        "Old value = 0\nNew value = 1",
        "counter = 1 (0x1)",
        "the last write of",
        "#1 0x",
        "in main+",
        "$sp = 0x",
        "page table of process 1",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
    // After reverse-stepi the pc is the store of counter again; the
    // reverse-step goes back to the line before (crash.c:18).
    let after_rs: Vec<&str> = text.lines().filter(|l| l.contains("(crash.c:")).collect();
    assert!(after_rs.iter().any(|l| l.contains("crash.c:18")), "{text}");
}

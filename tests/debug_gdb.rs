//! `sim -g PORT` against a real gdb-multiarch in batch mode: break at a
//! function, `info line`, `stepi`, `reverse-stepi` back to the same pc, a
//! hardware watchpoint with `Old value`/`New value`, continue to the exit
//! code; on a C* program and on a gcc `-g` one. A missing tool is a SKIP,
//! a failure under CI=true (tests/common). Bounded: gdb is killed after a
//! deadline, and sim's port is one the OS picked.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// Starts `sim -g 0 -u elf` and reads the port it listens on.
fn start_sim(elf: &Path) -> (Child, u16) {
    let mut sim = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-g", "0", "-u"])
        .arg(elf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim starts");
    let mut stderr = BufReader::new(sim.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("sim says where it waits");
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    // Keep draining sim's stderr so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).is_ok_and(|n| n > 0) {}
    });
    (sim, port)
}

/// Runs gdb-multiarch in batch mode on `elf` with `commands` (after
/// `target remote`), killing it at the deadline; its output.
fn gdb(gdb: &str, elf: &Path, port: u16, commands: &[&str]) -> String {
    let mut args = vec![
        "-nx".to_string(),
        "-batch".into(),
        "-ex".into(),
        "set pagination off".into(),
        "-ex".into(),
        "set confirm off".into(),
        "-ex".into(),
        format!("target remote 127.0.0.1:{port}"),
    ];
    for c in commands {
        args.push("-ex".into());
        args.push((*c).into());
    }
    let mut child = Command::new(gdb)
        .args(&args)
        .arg(elf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gdb starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("gdb status").is_some() {
            break;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("gdb did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("gdb output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn finish(mut sim: Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = sim.try_wait().expect("sim status") {
            return status.code();
        }
        if started.elapsed() > DEADLINE {
            let _ = sim.kill();
            panic!("sim did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pcs gdb printed for `print $pc` (`$N = ... 0x10154 <sum+24>`).
fn printed_pcs(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('$') && l.contains("0x"))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("0x"))
                .map(str::to_string)
        })
        .collect()
}

fn session(elf: &Path, function: &str, global: &str, exit_code: &str, expected_exit: i32) {
    let Some(tool) = common::tool("gdb-multiarch") else {
        return;
    };
    let (sim, port) = start_sim(elf);
    let text = gdb(
        &tool,
        elf,
        port,
        &[
            &format!("break {function}"),
            "continue",
            "info line *$pc",
            "print $pc",
            "stepi",
            "print $pc",
            "reverse-stepi",
            "print $pc",
            &format!("watch {global}"),
            "continue",
            "delete",
            "continue",
        ],
    );
    let code = finish(sim);
    assert!(
        text.contains(&format!("Breakpoint 1, {function}")),
        "{text}"
    );
    assert!(text.contains("starts at address"), "{text}");
    let pcs = printed_pcs(&text);
    assert_eq!(pcs.len(), 3, "{text}");
    assert_ne!(pcs[0], pcs[1], "stepi moves:\n{text}");
    assert_eq!(
        pcs[0], pcs[2],
        "reverse-stepi goes back to the same pc:\n{text}"
    );
    assert!(text.contains("Hardware watchpoint 2"), "{text}");
    assert!(
        text.contains("Old value = ") && text.contains("New value = "),
        "{text}"
    );
    assert!(
        text.contains(&format!("exited with code {exit_code}")),
        "{text}"
    );
    assert_eq!(code, Some(expected_exit));
}

#[test]
fn gdb_debugs_a_cstar_program() {
    let dir = std::env::temp_dir().join(format!("sim-debug-gdb-cstar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let elf = dir.join("crash.elf");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-c", "programs/debug/crash.c", "-o"])
        .arg(&elf)
        .output()
        .expect("sim -c");
    assert!(out.status.success());
    // crash.c dies of SIGSEGV: 139 = octal 0213 as gdb prints it.
    session(&elf, "sum", "counter", "0213", 139);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gdb_debugs_a_gcc_program() {
    let Some(gcc) = common::tool("riscv64-linux-gnu-gcc") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sim-debug-gdb-gcc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let elf = dir.join("count");
    let out = Command::new(gcc)
        .args(["-g", "-O0", "-static", "-nostdlib", "-o"])
        .arg(&elf)
        .arg("tests/debug/count.c")
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    session(&elf, "bump", "counter", "06", 6);
    let _ = std::fs::remove_dir_all(&dir);
}

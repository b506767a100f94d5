//! The text of a crash report: what a student needs to go from "killed" to
//! the line that did it. The simulator gathers the facts (simulator/crash.rs:
//! the faulting process as it stood at the fault, rebuilt by replay); this
//! file only words them:
//!
//! ```text
//! sim: process 1 (crash) killed: load at address 0x3039 (pc 0x101a8): address not mapped
//! sim:   signal SIGSEGV (11)
//! sim:   at f+0x14 (crash.c:7)
//! sim:   backtrace:
//! sim:     #0 0x101a8 in f+0x14 (crash.c:7)
//! sim:     #1 0x10230 in main+0x38 (crash.c:14)
//! sim:   last instructions of process 1:
//! sim:        0x101a0 f+0xc (crash.c:6)  ld t0,-8(s0)
//! sim:     => 0x101a8 f+0x14 (crash.c:7)  ld t1,0(t0)
//! ```

use super::symbols::Symbols;

/// What is known about a crash.
pub struct Crash<'a> {
    pub pid: u64,
    pub signal: u8,
    pub pc: u64,
    /// The frames' pcs, innermost first (empty: unknown).
    pub backtrace: Vec<u64>,
    /// Why there is no backtrace, when there is none.
    pub no_backtrace: Option<String>,
    /// The last instructions the process ran, oldest first, the faulting
    /// one last: (pc, disassembly).
    pub last: Vec<(u64, String)>,
    pub symbols: Option<&'a Symbols>,
}

/// `SIGSEGV`, as Linux names signal `n`.
pub fn signal_name(signal: u8) -> &'static str {
    match signal {
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// `address` as `f+0x14 (crash.c:7)`, or in hex without symbols.
pub fn place(symbols: Option<&Symbols>, address: u64) -> String {
    match symbols {
        Some(s) => s.describe(address),
        None => format!("{address:#x}"),
    }
}

/// The report's lines after the kernel's "killed" line, each without the
/// `sim: ` prefix.
pub fn report_lines(crash: &Crash<'_>) -> Vec<String> {
    let mut lines = vec![format!(
        "  signal {} ({})",
        signal_name(crash.signal),
        crash.signal
    )];
    lines.push(format!("  at {}", place(crash.symbols, crash.pc)));
    if crash.symbols.is_none() {
        lines.push("  (no symbols: the image was not loaded by the host)".into());
    }
    if crash.backtrace.is_empty() {
        if let Some(why) = &crash.no_backtrace {
            lines.push(format!("  backtrace: not available ({why})"));
        }
    } else {
        lines.push("  backtrace:".into());
        for (i, pc) in crash.backtrace.iter().enumerate() {
            lines.push(format!("    #{i} {pc:#x} in {}", place(crash.symbols, *pc)));
        }
    }
    if !crash.last.is_empty() {
        lines.push(format!("  last instructions of process {}:", crash.pid));
        let n = crash.last.len();
        for (i, (pc, text)) in crash.last.iter().enumerate() {
            let mark = if i + 1 == n { "=>" } else { "  " };
            lines.push(format!(
                "    {mark} {pc:#x} {}  {text}",
                place(crash.symbols, *pc)
            ));
        }
    }
    lines
}

//! `--trace`: runs a context one instruction at a time and prints each
//! instruction, disassembled, with the registers it changed (a
//! floating-point one with its value, and `fcsr` when its flags or
//! rounding mode changed):
//!
//! ```text
//! [1] 0x100b0: addi a0,zero,1  a0=0x1
//! [1] 0x100b4: fcvt.d.w fa0,a0  fa0=0x3ff0000000000000 (1)
//! [1] 0x100b8: fdiv.d fa1,fa0,fa2  fa1=0x3fd5555555555555 (0.3333333333333333)  fcsr=0x1
//! [1] 0x100c4: ecall  → syscall
//! ```

use std::collections::VecDeque;

use super::Simulator;
use crate::debug::symbols::Symbols;
use crate::emu::{self, Access, Exception, Machine, PhysAddr};
use crate::kernel::{Console, Process};
use crate::trace::Trace;

/// Single-steps `process`, printing each instruction in `trace`'s window,
/// until an exception (the timer counts as one when the machine's count
/// reaches `stop_at`). Outside the window the process runs at full speed.
/// At each block entry (the first instruction, and wherever control did not
/// fall through) a line names the function and source line, when the image
/// has symbols. With `--trace-last` the lines go to `ring` instead.
pub(super) fn until_exception(
    machine: &mut Machine,
    process: &mut Process,
    stop_at: u64,
    console: &mut Console,
    trace: &Trace,
    symbols: Option<&Symbols>,
    ring: &mut VecDeque<String>,
) -> Exception {
    let pid_ok = trace.pid.is_none_or(|p| p == process.pid.0);
    let range = match trace.function {
        Some(name) => Some(
            symbols
                .and_then(|s| s.function(name))
                .map_or((0, 0), |f| (f.address, f.address + f.size)),
        ),
        None => trace.range,
    };
    let mut emit = |line: String| match trace.last {
        Some(n) => {
            if ring.len() >= n.max(1) {
                ring.pop_front();
            }
            ring.push_back(line);
        }
        None => console.write_stderr(format!("{line}\n").as_bytes()),
    };
    let mut expected = None;
    loop {
        let now = machine.instret();
        if now >= stop_at {
            return Exception::Timer;
        }
        let before_window = trace.from.is_some_and(|f| now < f);
        let after_window = trace.to.is_some_and(|t| now >= t);
        if !pid_ok || before_window || after_window {
            // Full speed up to where the window starts (or the slice ends).
            let until = match trace.from {
                Some(from) if pid_ok && before_window => stop_at.min(from),
                _ => stop_at,
            };
            let e = machine.run(
                &mut process.hart,
                &mut process.page_table,
                process.context,
                until,
            );
            if e != Exception::Timer {
                return e;
            }
            expected = None;
            continue;
        }
        let pc = process.hart.pc;
        let shown = range.is_none_or(|(start, end)| pc >= start && pc < end);
        if shown && expected != Some(pc) {
            if let Some(place) = symbols.and_then(|s| s.function_at(pc).map(|_| s.describe(pc))) {
                emit(format!("[{}] -- {place}", process.pid));
            }
        }
        let text = if shown {
            fetch_for_trace(machine, process, pc)
        } else {
            String::new()
        };
        let before = process.hart.clone();
        let result = machine.step(&mut process.hart, &mut process.page_table, process.context);
        expected = Some(process.hart.pc);
        if before.pc.wrapping_add(4) != process.hart.pc
            && before.pc.wrapping_add(2) != process.hart.pc
        {
            // A jump or taken branch: the next instruction enters a block.
            expected = None;
        }
        match result {
            Ok(()) => {
                if shown {
                    let changed = changes(&before, &process.hart);
                    emit(format!("[{}] {pc:#x}: {text}{changed}", process.pid));
                }
            }
            Err(e) => {
                if shown {
                    emit(format!("[{}] {pc:#x}: {text}  → {e}", process.pid));
                }
                return e;
            }
        }
    }
}

impl Simulator {
    /// `--trace-last`: prints the lines kept and empties the ring.
    pub(super) fn print_trace_ring(&mut self) {
        if self.trace_ring.is_empty() {
            return;
        }
        let mut text = format!("sim: the last {} trace lines:\n", self.trace_ring.len());
        for line in self.trace_ring.drain(..) {
            text += &line;
            text.push('\n');
        }
        self.vms[0].console_mut().write_stderr(text.as_bytes());
    }
}

/// What one instruction changed: `  a0=0x1`, `  fa0=0x... (1.5)`,
/// `  fcsr=0x1`.
fn changes(before: &emu::Hart, after: &emu::Hart) -> String {
    let mut out = String::new();
    if let Some(r) = (1..32).find(|&r| after.regs[r] != before.regs[r]) {
        out += &format!("  {}={:#x}", emu::Reg(r as u8), after.regs[r]);
    }
    if let Some(r) = (0..32).find(|&r| after.f[r] != before.f[r]) {
        out += &format!(
            "  {}={}",
            emu::FReg(r as u8),
            emu::machine::fp_text(after.f[r])
        );
    }
    if after.fcsr != before.fcsr {
        out += &format!("  fcsr={:#x}", after.fcsr);
    }
    out
}

/// The disassembled instruction at `pc`, read without side effects.
fn fetch_for_trace(machine: &Machine, process: &Process, pc: u64) -> String {
    let byte = |a: u64| -> Option<u8> {
        let phys = PhysAddr(process.page_table.translate(a, Access::Execute)?);
        Some(machine.memory().frame_bytes(phys.frame())[phys.offset()])
    };
    let Some(bytes) = (0..4)
        .map(|i| byte(pc + i))
        .collect::<Option<Vec<u8>>>()
        .or_else(|| {
            (0..2)
                .map(|i| byte(pc + i))
                .collect::<Option<Vec<u8>>>()
                .map(|mut v| {
                    v.extend([0, 0]);
                    v
                })
        })
    else {
        return "(not mapped)".into();
    };
    let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match emu::decode(word) {
        Some((inst, _)) => emu::disasm::disassemble(&inst, pc),
        None => format!("(illegal {word:#010x})"),
    }
}

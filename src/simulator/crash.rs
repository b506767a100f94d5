//! The crash report of a process killed by a fault (the words are
//! src/debug/crash.rs's), and the symbols of the images the host loaded.
//!
//! When the kernel has killed a process for a fault, its memory is gone.
//! Rather than keep a record of every run on the hot path, the report
//! re-runs the simulation (control.rs: `replay_to`, deterministic) to a
//! little before the fault, steps the process to the faulting instruction
//! recording the last ones it ran, and reads the stack there for the
//! backtrace. A run without a crash pays nothing; a crash costs one more
//! run up to it (skipped beyond `REPLAY_LIMIT` positions, and for a run
//! that cannot be replayed: then pc and symbols only).

use std::cell::OnceCell;
use std::rc::Rc;

use super::control::{instruction_at, peek, Stop, StopReason};
use super::{Event, Simulator};
use crate::debug::crash::{report_lines, Crash};
use crate::debug::symbols::Symbols;
use crate::emu::{self, Exception, Reg};
use crate::kernel::{ExitStatus, Pid};

/// Beyond this position a crash is reported without replay.
pub const REPLAY_LIMIT: u64 = 500_000_000;
/// Instructions of the dying process shown.
const LAST_INSTRUCTIONS: usize = 8;
/// Frames shown.
const FRAMES: usize = 16;

/// An image the host loaded (`load_elf_in`) and its symbols, parsed on
/// first use.
pub(super) struct LoadedImage {
    vm: usize,
    pid: Pid,
    elf: Rc<[u8]>,
    symbols: OnceCell<Option<Symbols>>,
}

impl LoadedImage {
    pub fn new(vm: usize, pid: Pid, elf: Rc<[u8]>) -> LoadedImage {
        LoadedImage {
            vm,
            pid,
            elf,
            symbols: OnceCell::new(),
        }
    }

    fn symbols(&self) -> Option<&Symbols> {
        self.symbols
            .get_or_init(|| Symbols::parse(&self.elf).ok())
            .as_ref()
    }
}

/// Whether `e` is a fault (the kernel may kill for it), not a syscall or
/// the end of a time slice.
pub(super) fn is_fault(e: Exception) -> bool {
    !matches!(e, Exception::Syscall | Exception::Timer)
}

/// The symbols of the image `process` of VM `vm` runs: its own, or those
/// of the parent it was forked from.
pub(super) fn symbols_for<'a>(
    images: &'a [LoadedImage],
    vm: usize,
    process: &crate::kernel::Process,
) -> Option<&'a Symbols> {
    let find = |pid: Pid| images.iter().find(|i| i.vm == vm && i.pid == pid);
    find(process.pid)
        .or_else(|| process.parent.and_then(find))
        .and_then(LoadedImage::symbols)
}

impl Simulator {
    /// The symbols of the program process `pid` of VM `vm` runs (parsed
    /// on first use); `None` when it was not loaded by the host or its
    /// image has no symbol table.
    pub fn symbols(&self, vm: usize, pid: Pid) -> Option<&Symbols> {
        let process = self.vms.get(vm)?.process(pid)?;
        symbols_for(&self.images, vm, process)
    }

    /// After the kernel handled the fault `event`: if it killed the
    /// process, the symbolized report.
    pub(super) fn report_if_killed(&mut self, event: Event) {
        if !self.crash_reports {
            return;
        }
        let Some(process) = self.vms[event.vm].process(event.pid) else {
            return;
        };
        let Some(ExitStatus::Killed(signal)) = process.exit_status() else {
            return;
        };
        let pc = process.hart.pc;
        let mut crash = Crash {
            pid: event.pid.0,
            signal,
            pc,
            backtrace: Vec::new(),
            no_backtrace: None,
            last: Vec::new(),
            symbols: self.symbols(event.vm, event.pid),
        };
        match self.replay_crash(event, pc) {
            Ok((backtrace, last)) => {
                crash.backtrace = backtrace;
                crash.last = last;
            }
            Err(why) => crash.no_backtrace = Some(why),
        }
        let lines = report_lines(&crash);
        let kernel = &mut self.vms[event.vm];
        for line in lines {
            kernel.report(&line);
        }
        self.print_trace_ring();
    }

    /// Re-runs to the fault of `event` (at `pc`): the backtrace there and
    /// the last instructions of the process.
    #[allow(clippy::type_complexity)]
    fn replay_crash(
        &self,
        event: Event,
        pc: u64,
    ) -> Result<(Vec<u64>, Vec<(u64, String)>), String> {
        let position = self.position();
        if position > REPLAY_LIMIT {
            return Err(format!(
                "the fault came after {position} instructions; replays stop at {REPLAY_LIMIT}"
            ));
        }
        let mut replica = self.replay_to(position.saturating_sub(4 * LAST_INSTRUCTIONS as u64))?;
        replica.set_focus(Some((event.vm, event.pid)));
        let mut last = std::collections::VecDeque::new();
        let text_at = |sim: &Simulator| -> Option<(u64, String)> {
            let p = sim.vms[event.vm].process(event.pid)?;
            let at = p.hart.pc;
            let text = instruction_at(&sim.machine, p, at)
                .map_or_else(|| "(not mapped)".into(), |i| emu::disassemble(&i, at));
            Some((at, text))
        };
        while replica.position() < position {
            let Some(entry) = text_at(&replica) else {
                break;
            };
            match replica.run_until(Stop::Step) {
                StopReason::Step { pid, vm } if (vm, pid) == (event.vm, event.pid) => {
                    last.push_back(entry);
                    if last.len() >= LAST_INSTRUCTIONS {
                        last.pop_front();
                    }
                }
                StopReason::Step { .. } => {}
                _ => break,
            }
        }
        let process = replica.vms[event.vm]
            .process(event.pid)
            .filter(|p| p.hart.pc == pc && replica.position() == position)
            .ok_or("the replay diverged (the run read input from the host)")?;
        if let Some(entry) = text_at(&replica) {
            last.push_back(entry);
        }
        let read = |a: u64| {
            peek(&replica.machine, process, a, 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let hart = &process.hart;
        let backtrace = match self.symbols(event.vm, event.pid) {
            Some(symbols) => symbols
                .backtrace(
                    pc,
                    hart.reg(Reg::SP.index()),
                    hart.reg(Reg::S0.index()),
                    hart.reg(Reg::RA.index()),
                    &read,
                    FRAMES,
                )
                .into_iter()
                .map(|f| f.pc)
                .collect(),
            None => vec![pc],
        };
        Ok((backtrace, last.into_iter().collect()))
    }
}

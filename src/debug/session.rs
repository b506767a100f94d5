//! `Session`: one debugged run, shared by `sim --debug` (cli.rs) and the
//! gdb stub (gdb.rs). It owns the `Simulator`, forwards the guests' output
//! once (a replay reproduces output already shown: it is not shown again),
//! and adds what needs more than one run: reverse steps, reverse continue
//! and "the last write of this address", by replay (simulator/control.rs),
//! and the source-level steps (`step`, `next`, `finish`) from the symbols.

use crate::debug::symbols::{Line, Symbols};
use crate::emu::Reg;
use crate::kernel::Pid;
use crate::simulator::{Stop, StopReason, WatchKind, Watchpoint};
use crate::Simulator;

/// Most instructions a source-level step runs before it gives up (an
/// endless loop on one line).
const LINE_STEP_LIMIT: u64 = 10_000_000;

/// A debugged run.
pub struct Session {
    sim: Simulator,
    /// Bytes of each VM's stdout and stderr already forwarded.
    shown: Vec<(usize, usize)>,
    /// The process steps and `print` refer to: (VM, pid).
    focus: (usize, Pid),
    /// The exit code once the run ended.
    exited: Option<i32>,
}

impl Session {
    /// A session on a loaded simulator (built with `capture_output`), at
    /// position 0, focused on VM 0's first process.
    pub fn new(mut sim: Simulator) -> Session {
        let focus = (0, sim.kernel().first().unwrap_or(Pid(1)));
        sim.set_focus(Some(focus));
        Session {
            sim,
            shown: Vec::new(),
            focus,
            exited: None,
        }
    }

    pub fn sim(&self) -> &Simulator {
        &self.sim
    }

    pub fn sim_mut(&mut self) -> &mut Simulator {
        &mut self.sim
    }

    /// The focused process.
    pub fn focus(&self) -> (usize, Pid) {
        self.focus
    }

    /// Focuses on process `pid` of VM `vm`.
    pub fn set_focus(&mut self, vm: usize, pid: Pid) {
        self.focus = (vm, pid);
        self.sim.set_focus(Some(self.focus));
    }

    /// The exit code, once the run ended.
    pub fn exited(&self) -> Option<i32> {
        self.exited
    }

    /// The guests' output not forwarded yet: (stdout, stderr) bytes.
    pub fn take_output(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for vm in 0..self.sim.vm_count() {
            if self.shown.len() <= vm {
                self.shown.push((0, 0));
            }
            let (o, e) = self.shown[vm];
            let stdout = self.sim.vm_stdout(vm);
            let stderr = self.sim.vm_stderr(vm);
            out.extend_from_slice(stdout.get(o..).unwrap_or_default());
            err.extend_from_slice(stderr.get(e..).unwrap_or_default());
            self.shown[vm] = (o.max(stdout.len()), e.max(stderr.len()));
        }
        (out, err)
    }

    /// The symbols of the focused process's program.
    pub fn symbols(&self) -> Option<&Symbols> {
        self.sim.symbols(self.focus.0, self.focus.1)
    }

    /// The focused process's pc.
    pub fn pc(&self) -> Option<u64> {
        Some(self.sim.vm(self.focus.0)?.process(self.focus.1)?.hart.pc)
    }

    fn reg(&self, r: Reg) -> u64 {
        self.sim
            .vm(self.focus.0)
            .and_then(|k| k.process(self.focus.1))
            .map_or(0, |p| p.hart.reg(r.index()))
    }

    /// The source line of the focused process's pc.
    pub fn line(&self) -> Option<Line> {
        self.symbols()?.line_at(self.pc()?)
    }

    /// Runs forward to `stop` (breakpoints and watchpoints stop it too);
    /// the focus follows the process that stopped.
    pub fn resume(&mut self, stop: Stop) -> StopReason {
        if let Some(code) = self.exited {
            return StopReason::Exited { exit_code: code };
        }
        let reason = self.sim.run_until(stop);
        self.note(&reason);
        reason
    }

    fn note(&mut self, reason: &StopReason) {
        match *reason {
            StopReason::Breakpoint { vm, pid, .. }
            | StopReason::Watch { vm, pid, .. }
            | StopReason::Step { vm, pid } => self.set_focus(vm, pid),
            StopReason::Exited { exit_code } => self.exited = Some(exit_code),
            StopReason::Position => {}
        }
    }

    /// Goes back to `position` by replay.
    ///
    /// # Errors
    /// When the run cannot be replayed.
    pub fn go_to(&mut self, position: u64) -> Result<(), String> {
        let mut sim = self.sim.replay_to(position)?;
        sim.set_focus(Some(self.focus));
        self.sim = sim;
        self.exited = None;
        Ok(())
    }

    /// One instruction back (`reverse-stepi`): the state before the
    /// instruction that ran last.
    ///
    /// # Errors
    /// At the start of the run ("no more reverse-execution history"), or
    /// when it cannot be replayed.
    pub fn reverse_stepi(&mut self) -> Result<(), String> {
        let now = self.sim.position();
        if now == 0 {
            return Err("no more reverse-execution history".into());
        }
        // The focused process's last instruction: the last position before
        // now at which it stepped.
        let target = self
            .history(now, 1)?
            .last()
            .map_or(now - 1, |(position, _)| *position);
        self.go_to(target)
    }

    /// Back to where the last breakpoint or watchpoint before now hit
    /// (`reverse-continue`); `None` (and the start of the run) when none did.
    ///
    /// # Errors
    /// When the run cannot be replayed.
    pub fn reverse_continue(&mut self) -> Result<Option<StopReason>, String> {
        let now = self.sim.position();
        match self.sim.last_stop_before(now, Stop::Continue)? {
            Some((at, reason)) => {
                self.go_to(at)?;
                Ok(Some(reason))
            }
            None => {
                self.go_to(0)?;
                Ok(None)
            }
        }
    }

    /// Back to just before the last write to the `len` bytes at `address`
    /// (by any process): the writing instruction is the next to run.
    /// `None` when nothing wrote there (the session stays where it is).
    ///
    /// # Errors
    /// When the run cannot be replayed.
    pub fn last_write(&mut self, address: u64, len: u64) -> Result<Option<StopReason>, String> {
        let watch = Watchpoint {
            address,
            len,
            kind: WatchKind::Write,
        };
        let now = self.sim.position();
        match self.sim.last_stop_before(now, Stop::Watch(watch))? {
            Some((at, reason)) => {
                self.go_to(at)?;
                Ok(Some(reason))
            }
            None => Ok(None),
        }
    }

    /// The positions (and pcs) at which the focused process ran its last
    /// `count` instructions before `now`, by replay from the start.
    fn history(&self, now: u64, count: usize) -> Result<Vec<(u64, u64)>, String> {
        let mut sim = self.sim.replay_to(0)?;
        sim.set_focus(Some(self.focus));
        for b in sim.breakpoints() {
            sim.remove_breakpoint(b);
        }
        for w in sim.watchpoints() {
            sim.remove_watchpoint(w);
        }
        let mut seen = std::collections::VecDeque::new();
        while sim.position() < now {
            let position = sim.position();
            let pc = sim
                .vm(self.focus.0)
                .and_then(|k| k.process(self.focus.1))
                .map(|p| p.hart.pc);
            match sim.run_until(Stop::Step) {
                StopReason::Step { vm, pid } if (vm, pid) == self.focus => {
                    if sim.position() <= now {
                        seen.push_back((position, pc.unwrap_or(0)));
                        if seen.len() > count {
                            seen.pop_front();
                        }
                    }
                }
                StopReason::Step { .. } | StopReason::Position => {}
                _ => break,
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// `step`: runs until the focused process reaches another source line.
    pub fn step_line(&mut self) -> StopReason {
        self.line_step(false)
    }

    /// `next`: as `step`, but calls run to their return.
    pub fn next_line(&mut self) -> StopReason {
        self.line_step(true)
    }

    fn line_step(&mut self, over_calls: bool) -> StopReason {
        let start_line = self.line();
        let start_sp = self.reg(Reg::SP);
        let start_function = self.function_start();
        let mut reason = StopReason::Position;
        for _ in 0..LINE_STEP_LIMIT {
            reason = self.resume(Stop::Step);
            if !matches!(reason, StopReason::Step { .. }) {
                return reason;
            }
            if over_calls && self.reg(Reg::SP) < start_sp && self.function_start() != start_function
            {
                // A call: run to where it returns.
                reason = self.finish();
                if reason != StopReason::Position {
                    return reason;
                }
            }
            let line = self.line();
            if line.is_some() && line != start_line {
                return reason;
            }
        }
        reason
    }

    fn function_start(&self) -> Option<u64> {
        let pc = self.pc()?;
        Some(self.symbols()?.function_at(pc)?.address)
    }

    /// `finish`: runs until the current function returns to its caller.
    pub fn finish(&mut self) -> StopReason {
        let Some(caller) = self.backtrace(2).get(1).copied() else {
            return self.resume(Stop::Continue);
        };
        let sp = self.reg(Reg::SP);
        loop {
            let reason = self.resume(Stop::Address(caller));
            match reason {
                // A recursive call's return to the same place: not ours.
                StopReason::Breakpoint { pc, .. } if pc == caller && self.reg(Reg::SP) <= sp => {
                    continue;
                }
                StopReason::Breakpoint { pc, .. } if pc == caller => return StopReason::Position,
                other => return other,
            }
        }
    }

    /// `reverse-step`: back to the start of the source line the focused
    /// process ran before the current one.
    ///
    /// # Errors
    /// As `reverse_stepi`.
    pub fn reverse_step_line(&mut self) -> Result<(), String> {
        let now = self.sim.position();
        let Some(symbols) = self.symbols() else {
            return self.reverse_stepi();
        };
        let current = self.line();
        let history = self.history(now, LINE_STEP_LIMIT as usize)?;
        let lines: Vec<(u64, Option<Line>)> = history
            .iter()
            .map(|&(position, pc)| (position, symbols.line_at(pc)))
            .collect();
        // Skip back over the rest of the current line, then over the
        // previous line to its first instruction.
        let mut i = lines.len();
        while i > 0 && lines[i - 1].1 == current {
            i -= 1;
        }
        if i == 0 {
            return self.go_to(lines.first().map_or(0, |l| l.0));
        }
        let previous = lines[i - 1].1.clone();
        while i > 1 && lines[i - 2].1 == previous {
            i -= 1;
        }
        self.go_to(lines[i - 1].0)
    }

    /// The pcs of the focused process's frames, innermost first.
    pub fn backtrace(&self, limit: usize) -> Vec<u64> {
        let Some(pc) = self.pc() else {
            return Vec::new();
        };
        let Some(symbols) = self.symbols() else {
            return vec![pc];
        };
        let (vm, pid) = self.focus;
        let read = |a: u64| {
            let bytes = self.sim.read_memory_in(vm, pid, a, 8)?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        };
        symbols
            .backtrace(
                pc,
                self.reg(Reg::SP),
                self.reg(Reg::S0),
                self.reg(Reg::RA),
                &read,
                limit,
            )
            .into_iter()
            .map(|f| f.pc)
            .collect()
    }
}

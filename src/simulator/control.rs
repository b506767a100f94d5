//! Run control for debuggers (the library side of `src/debug/`):
//! breakpoints, watchpoints, single steps and "run to position N" as
//! events, and replay — a fresh simulator re-run to any earlier position.
//!
//! ```text
//! run_until(stop)            ← a test, `sim --debug`, the gdb stub
//!  └ loop: run_until_exception / handle, until a pause
//!      next_event: with a `Control` set, the context runs through
//!      `run_controlled` instead of `Machine::run`:
//!        nothing to watch for in this context → Machine::run up to the
//!                                 next pause position (full speed)
//!        else one instruction at a time (Machine::step), checking
//!          pause position → breakpoint at pc → the instruction's memory
//!          access against the watchpoints → step
//! ```
//!
//! **Costs nothing when off**: without a `Control` the run loop takes the
//! one branch it always took; the emulator has no hook at all. Watchpoints
//! are checked here, by decoding the instruction about to run and
//! computing its effective address (the way a hardware debug trigger
//! compares the address on the bus), so a context with a watchpoint set
//! runs one instruction at a time (measured in docs/PERFORMANCE.md).
//!
//! **Positions**: `Simulator::position()` is the machine's instruction
//! count plus the syscalls handled, so an `ecall` (which the machine does
//! not count: the kernel completes it) is a step of its own. The same
//! program, input and options reach the same state at the same position
//! (determinism), which makes replay exact: `replay_to(p)` builds a new
//! simulator from the recorded recipe (options, VMs, loaded images) and
//! runs it to `p` at full speed. Reverse steps are built on that
//! (src/debug/). The one checkpoint is the start: re-running at full speed
//! (about 10⁸ instructions a second) is cheaper than copying the state of
//! a small guest every few thousand instructions, and needs no code that
//! knows every table of the kernel. Guest input from the host's stdin is
//! not recorded: a replica reads empty input instead.

use std::collections::BTreeSet;

use super::{Simulator, SimulatorBuilder};
use crate::emu::{self, Access, Exception, Instruction, Machine, PhysAddr};
use crate::kernel::{Mode, Pid, Process};

/// What a watchpoint reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// A store to the range (gdb's `watch`).
    Write,
    /// A load from the range (`rwatch`).
    Read,
    /// Either (`awatch`).
    Access,
}

impl WatchKind {
    fn matches(self, write: bool) -> bool {
        match self {
            WatchKind::Write => write,
            WatchKind::Read => !write,
            WatchKind::Access => true,
        }
    }
}

/// A watched range of guest virtual memory (of any process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watchpoint {
    pub address: u64,
    pub len: u64,
    pub kind: WatchKind,
}

impl Watchpoint {
    /// A write watchpoint on the 8 bytes at `address` (a C* variable).
    pub fn write(address: u64) -> Watchpoint {
        Watchpoint {
            address,
            len: 8,
            kind: WatchKind::Write,
        }
    }

    fn overlaps(&self, address: u64, len: u64) -> bool {
        address < self.address.saturating_add(self.len)
            && self.address < address.saturating_add(len)
    }
}

/// What `run_until` runs to (besides the breakpoints and watchpoints set,
/// which always stop it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Until a breakpoint or watchpoint hits, or nothing is left to run.
    Continue,
    /// One instruction of the focused process (any process when none is
    /// focused; an `ecall` counts as one with the syscall it makes).
    Step,
    /// Until `position()` reaches this value.
    Position(u64),
    /// Until the pc reaches this address (a one-time breakpoint).
    Address(u64),
    /// Until this watchpoint hits (a one-time watchpoint).
    Watch(Watchpoint),
}

/// Why `run_until` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Process `pid` of VM `vm` is about to run the instruction at `pc`,
    /// where a breakpoint is.
    Breakpoint { vm: usize, pid: Pid, pc: u64 },
    /// The instruction at `pc` of `pid` accessed `address` (`len` bytes)
    /// in a watched range; it has run: the process stands after it.
    /// `old`/`new`: the watched range's bytes before and after.
    Watch {
        vm: usize,
        pid: Pid,
        pc: u64,
        address: u64,
        write: bool,
        watch: Watchpoint,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    /// One instruction of `pid` ran.
    Step { vm: usize, pid: Pid },
    /// `position()` reached the position asked for.
    Position,
    /// Nothing is left to run (or the instruction limit): the run's
    /// outcome so far.
    Exited { exit_code: i32 },
}

/// The debugger's settings, present only while one is attached.
#[derive(Default, Debug)]
pub(super) struct Control {
    pub breakpoints: BTreeSet<u64>,
    pub watchpoints: Vec<Watchpoint>,
    /// Pause when `position()` reaches it (one-shot).
    pub pause_at: Option<u64>,
    /// Stop after one instruction of the focused process.
    pub step: bool,
    /// The process steps apply to (`None`: any).
    pub focus: Option<(usize, Pid)>,
    /// At this position the breakpoint at the pc is passed over: the run
    /// resumes from it.
    pub resume_at: Option<u64>,
    /// A syscall made by the step in progress: the step ends when it was
    /// handled.
    pub step_syscall: bool,
}

/// A recorded way to rebuild the simulator from the start (see the
/// module doc), kept while loading.
#[derive(Default)]
pub(super) struct Recipe {
    pub builder: Option<SimulatorBuilder>,
    pub steps: Vec<RecipeStep>,
    /// Something that cannot be redone was attached (an rshm node).
    pub broken: bool,
}

pub(super) enum RecipeStep {
    AddVm,
    Load {
        vm: usize,
        elf: std::rc::Rc<[u8]>,
        args: Vec<String>,
        mode: Mode,
        supervisor: Option<Pid>,
    },
}

/// The memory access the instruction `inst` makes with the registers of
/// `hart`: (address, length, whether it writes). Atomics read and write.
pub fn memory_access(inst: &Instruction, hart: &emu::Hart) -> Option<(u64, u64, bool)> {
    let base = |r: emu::Reg| hart.reg(r.index());
    Some(match *inst {
        Instruction::Load {
            op, rs1, offset, ..
        } => (base(rs1).wrapping_add_signed(offset), op.width(), false),
        Instruction::Store {
            op, rs1, offset, ..
        } => (base(rs1).wrapping_add_signed(offset), op.width(), true),
        Instruction::FpLoad {
            width, rs1, offset, ..
        } => (base(rs1).wrapping_add_signed(offset), width.bytes(), false),
        Instruction::FpStore {
            width, rs1, offset, ..
        } => (base(rs1).wrapping_add_signed(offset), width.bytes(), true),
        Instruction::Amo { op, width, rs1, .. } => (
            base(rs1),
            match width {
                emu::instruction::AmoWidth::Word => 4,
                emu::instruction::AmoWidth::Double => 8,
            },
            op != emu::instruction::AmoOp::Lr,
        ),
        _ => return None,
    })
}

/// The instruction at `pc` of `process`, read without side effects.
pub fn instruction_at(machine: &Machine, process: &Process, pc: u64) -> Option<Instruction> {
    let byte = |a: u64| -> Option<u8> {
        let phys = PhysAddr(process.page_table.translate(a, Access::Execute)?);
        Some(machine.memory().frame_bytes(phys.frame())[phys.offset()])
    };
    let low = u16::from_le_bytes([byte(pc)?, byte(pc + 1)?]);
    let word = if low & 3 == 3 {
        u32::from(low) | u32::from(u16::from_le_bytes([byte(pc + 2)?, byte(pc + 3)?])) << 16
    } else {
        u32::from(low)
    };
    emu::decode(word).map(|(inst, _)| inst)
}

/// Reads `len` bytes of `process`'s memory without side effects.
pub fn peek(machine: &Machine, process: &Process, address: u64, len: u64) -> Option<Vec<u8>> {
    (0..len)
        .map(|i| {
            let a = emu::VirtAddr(address.checked_add(i)?);
            let pte = process.page_table.get(a.page())?;
            Some(machine.memory().frame_bytes(pte.frame)[a.offset()])
        })
        .collect()
}

/// Runs `process` (VM `vm`) under `control` until an exception (`Ok`), the
/// timer at `stop_at`, or a reason to pause (`Err`). `syscalls` is the
/// number of syscalls handled so far (for positions).
pub(super) fn run_controlled(
    machine: &mut Machine,
    process: &mut Process,
    vm: usize,
    control: &mut Control,
    syscalls: u64,
    stop_at: u64,
) -> Result<Exception, StopReason> {
    let pid = process.pid;
    let focused = control.focus.is_none_or(|f| f == (vm, pid));
    let stepping = control.step && focused;
    let checks = stepping || !control.breakpoints.is_empty() || !control.watchpoints.is_empty();
    loop {
        let position = machine.instret() + syscalls;
        if control.pause_at.is_some_and(|p| position >= p) {
            control.pause_at = None;
            return Err(StopReason::Position);
        }
        if machine.instret() >= stop_at {
            return Ok(Exception::Timer);
        }
        if !checks {
            // Full speed up to the pause position.
            let until = control
                .pause_at
                .map_or(stop_at, |p| stop_at.min(p.saturating_sub(syscalls)));
            let e = machine.run(
                &mut process.hart,
                &mut process.page_table,
                process.context,
                until,
            );
            if e == Exception::Timer {
                continue;
            }
            return Ok(e);
        }
        let pc = process.hart.pc;
        let resuming = control.resume_at == Some(position);
        control.resume_at = None;
        if !resuming && control.breakpoints.contains(&pc) {
            control.resume_at = Some(position);
            return Err(StopReason::Breakpoint { vm, pid, pc });
        }
        let watched = if control.watchpoints.is_empty() {
            None
        } else {
            instruction_at(machine, process, pc)
                .and_then(|inst| memory_access(&inst, &process.hart))
                .and_then(|(address, len, write)| {
                    let watch = *control
                        .watchpoints
                        .iter()
                        .find(|w| w.kind.matches(write) && w.overlaps(address, len))?;
                    let old = peek(machine, process, watch.address, watch.len)?;
                    Some((address, write, watch, old))
                })
        };
        if let Err(e) = machine.step(&mut process.hart, &mut process.page_table, process.context) {
            if stepping && e == Exception::Syscall {
                control.step_syscall = true;
            }
            return Ok(e);
        }
        if let Some((address, write, watch, old)) = watched {
            let new = peek(machine, process, watch.address, watch.len).unwrap_or_default();
            // gdb reports a write watchpoint only when the value changed.
            if !(watch.kind == WatchKind::Write && new == old) {
                return Err(StopReason::Watch {
                    vm,
                    pid,
                    pc,
                    address,
                    write,
                    watch,
                    old,
                    new,
                });
            }
        }
        if stepping {
            return Err(StopReason::Step { vm, pid });
        }
    }
}

impl Simulator {
    /// The position of the run: instructions retired plus syscalls
    /// handled (see the module doc). Replaying to a position gives the
    /// same state.
    pub fn position(&self) -> u64 {
        self.machine.instret() + self.syscalls_handled
    }

    fn control(&mut self) -> &mut Control {
        self.control.get_or_insert_with(Default::default)
    }

    /// Sets a breakpoint: a run stops before any process runs the
    /// instruction at `address`.
    pub fn add_breakpoint(&mut self, address: u64) {
        self.control().breakpoints.insert(address);
    }

    /// Removes a breakpoint; whether there was one.
    pub fn remove_breakpoint(&mut self, address: u64) -> bool {
        self.control().breakpoints.remove(&address)
    }

    /// The breakpoints set.
    pub fn breakpoints(&self) -> Vec<u64> {
        self.control
            .as_ref()
            .map_or_else(Vec::new, |c| c.breakpoints.iter().copied().collect())
    }

    /// Sets a watchpoint.
    pub fn add_watchpoint(&mut self, watch: Watchpoint) {
        let control = self.control();
        if !control.watchpoints.contains(&watch) {
            control.watchpoints.push(watch);
        }
    }

    /// Removes a watchpoint; whether there was one.
    pub fn remove_watchpoint(&mut self, watch: Watchpoint) -> bool {
        let control = self.control();
        let before = control.watchpoints.len();
        control.watchpoints.retain(|w| *w != watch);
        control.watchpoints.len() != before
    }

    /// The watchpoints set.
    pub fn watchpoints(&self) -> Vec<Watchpoint> {
        self.control
            .as_ref()
            .map_or_else(Vec::new, |c| c.watchpoints.clone())
    }

    /// Reads `len` bytes of process `pid` of VM `vm` without side effects;
    /// `None` if any byte is unmapped.
    pub fn read_memory_in(&self, vm: usize, pid: Pid, address: u64, len: u64) -> Option<Vec<u8>> {
        peek(&self.machine, self.vms.get(vm)?.process(pid)?, address, len)
    }

    /// The process `Stop::Step` steps (`None`: whichever runs).
    pub fn set_focus(&mut self, focus: Option<(usize, Pid)>) {
        self.control().focus = focus;
    }

    /// Runs until `stop`, a breakpoint or a watchpoint, or the end;
    /// exceptions are handled as `run` does. The next call resumes from
    /// where this one stopped (past the breakpoint it stopped at).
    pub fn run_until(&mut self, stop: Stop) -> StopReason {
        let pause = match stop {
            Stop::Position(p) => Some(p),
            _ => None,
        };
        self.run_until_with(stop, pause)
    }

    /// `run_until(stop)`, pausing at position `pause` at the latest.
    fn run_until_with(&mut self, stop: Stop, pause: Option<u64>) -> StopReason {
        let position = self.position();
        let control = self.control();
        control.resume_at = Some(position);
        control.step = stop == Stop::Step;
        control.step_syscall = false;
        control.pause_at = pause;
        let (temp_break, temp_watch) = match stop {
            Stop::Address(a) => (control.breakpoints.insert(a).then_some(a), None),
            Stop::Watch(w) if !control.watchpoints.contains(&w) => {
                control.watchpoints.push(w);
                (None, Some(w))
            }
            _ => (None, None),
        };
        let reason = self.run_to_pause();
        let control = self.control();
        control.step = false;
        control.pause_at = None;
        if let Some(a) = temp_break {
            control.breakpoints.remove(&a);
        }
        if let Some(w) = temp_watch {
            control.watchpoints.retain(|x| *x != w);
        }
        reason
    }

    fn run_to_pause(&mut self) -> StopReason {
        loop {
            match self.run_until_exception() {
                Some(event) => {
                    self.handle(event);
                    let control = self.control();
                    if std::mem::take(&mut control.step_syscall) {
                        return StopReason::Step {
                            vm: event.vm,
                            pid: event.pid,
                        };
                    }
                }
                None => {
                    if let Some(reason) = self.pause.take() {
                        return reason;
                    }
                    let outcome = self.finish_run();
                    return StopReason::Exited {
                        exit_code: outcome.exit_code,
                    };
                }
            }
        }
    }

    /// A new simulator built and loaded as this one was, at position 0,
    /// its output captured. `None` when this one cannot be rebuilt (an
    /// rshm node, or a simulator not made by a builder).
    pub fn replica(&self) -> Option<Simulator> {
        if self.recipe.broken {
            return None;
        }
        let builder = self.recipe.builder.as_ref()?.replica();
        let mut sim = builder.capture_output(true).try_build().ok()?;
        // A fault met while replaying is reported by the original run, not
        // by the replica (which would replay again, and again, ...).
        sim.crash_reports = false;
        for step in &self.recipe.steps {
            match step {
                RecipeStep::AddVm => {
                    sim.try_add_vm().ok()?;
                }
                RecipeStep::Load {
                    vm,
                    elf,
                    args,
                    mode,
                    supervisor,
                } => {
                    sim.load_elf_in(*vm, elf, args, *mode, *supervisor).ok()?;
                }
            }
        }
        Some(sim)
    }

    /// A replica (`replica`) run to `position`: this run as it was then.
    /// Breakpoints, watchpoints and the focus are carried over.
    ///
    /// # Errors
    /// When this simulator cannot be rebuilt, or the replica ended before
    /// `position` (it diverged: input from the host that was not
    /// recorded).
    pub fn replay_to(&self, position: u64) -> Result<Simulator, String> {
        let mut sim = self
            .replica()
            .ok_or("this run cannot be replayed (rshm nodes are not recorded)")?;
        if position > 0 {
            match sim.run_until(Stop::Position(position)) {
                StopReason::Position => {}
                _ => {
                    return Err(format!(
                        "the replay ended before position {position} (the run read input from the host, which is not recorded)"
                    ))
                }
            }
        }
        if let Some(control) = &self.control {
            let copy = sim.control();
            copy.breakpoints = control.breakpoints.clone();
            copy.watchpoints = control.watchpoints.clone();
            copy.focus = control.focus;
        }
        Ok(sim)
    }

    /// Every position at or after `from` and before `to` at which a run
    /// under `stop`'s conditions stopped, found by replaying (for
    /// reverse-continue and "the last write of this address"): the last
    /// one with its reason.
    ///
    /// # Errors
    /// As `replay_to`.
    pub fn last_stop_before(
        &self,
        to: u64,
        stop: Stop,
    ) -> Result<Option<(u64, StopReason)>, String> {
        let mut sim = self.replay_to(0)?;
        if let Stop::Watch(_) = stop {
            // Only that watchpoint counts: nothing else may stop the search.
            let control = sim.control();
            control.breakpoints.clear();
            control.watchpoints.clear();
        }
        let mut last = None;
        loop {
            let start = sim.position();
            match sim.run_until_with(stop, Some(to)) {
                StopReason::Position | StopReason::Exited { .. } => return Ok(last),
                reason => {
                    let at = match reason {
                        // A watchpoint stops after the access: the state
                        // to go back to is before it.
                        StopReason::Watch { .. } => sim.position().saturating_sub(1),
                        _ => sim.position(),
                    };
                    if sim.position() > to || (sim.position() == start && last.is_some()) {
                        return Ok(last);
                    }
                    last = Some((at, reason));
                }
            }
        }
    }
}

impl SimulatorBuilder {
    /// The same settings (guest input from the host becomes empty input:
    /// it was not recorded).
    pub(super) fn replica(&self) -> SimulatorBuilder {
        SimulatorBuilder {
            memory_mb: self.memory_mb,
            quantum: self.quantum,
            max_instructions: self.max_instructions,
            trace: crate::trace::Trace::default(),
            input: match &self.input {
                crate::kernel::Input::Bytes(b) => crate::kernel::Input::Bytes(b.clone()),
                crate::kernel::Input::Host => crate::kernel::Input::Bytes(Vec::new()),
            },
            capture_output: true,
            host_shm_mb: self.host_shm_mb,
            lowering: self.lowering,
            root: self.root.clone(),
            read_only: self.read_only,
            limits: self.limits,
            max_vms: self.max_vms,
            abi: self.abi,
            linux: self.linux.clone(),
        }
    }
}

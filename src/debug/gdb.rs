//! `sim -g PORT`: the gdb remote stub, as `qemu-riscv64 -g PORT` offers
//! one, built on the `gdbstub` crate with `gdbstub_arch`'s riscv64 target.
//!
//! ```text
//! serve(simulator, port): accept one gdb on 127.0.0.1:PORT
//!  └ GdbStub::run_blocking: gdb's packets → the Target methods below;
//!     a resume (c, s, bs, bc) → wait_for_stop_reason:
//!        continue         Session::resume(Continue) in slices of
//!                         SLICE positions, checking for gdb's Ctrl-C
//!        step             Session::resume(Step)
//!        reverse step     Session::reverse_stepi   (replay)
//!        reverse continue Session::reverse_continue (replay)
//!     → a stop reply: SwBreak, Watch, DoneStep, Exited (W packet)
//! ```
//!
//! Processes are gdb's threads (thread id = VM × 65536 + pid), so a fork
//! or several `-u` programs can be inspected. Watchpoints are gdb's
//! *hardware* watchpoints (Z2/Z3/Z4 packets), which qemu-user lacks: the
//! simulator checks every access of a context while one is set
//! (simulator/control.rs).

use std::net::TcpListener;
use std::num::NonZeroUsize;

use gdbstub::common::{Signal, Tid};
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::reverse_exec::{
    ReplayLogPosition, ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
    WatchKind as GdbWatch,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::riscv::reg::RiscvCoreRegs;
use gdbstub_arch::riscv::Riscv64;

use super::session::Session;
use crate::kernel::Pid;
use crate::simulator::{Stop, StopReason, WatchKind, Watchpoint};
use crate::Simulator;

/// Positions run between two checks for gdb's interrupt (Ctrl-C).
const SLICE: u64 = 1_000_000;

/// What gdb asked the next resume to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Continue,
    Step,
    ReverseStep,
    ReverseContinue,
}

/// The debugged run as gdb's target.
pub struct GdbTarget {
    session: Session,
    action: Action,
}

fn tid_of(vm: usize, pid: Pid) -> Tid {
    NonZeroUsize::new(vm * 65536 + pid.0 as usize).unwrap_or(NonZeroUsize::MIN)
}

fn of_tid(tid: Tid) -> (usize, Pid) {
    (tid.get() / 65536, Pid((tid.get() % 65536) as u64))
}

impl GdbTarget {
    /// A target on a loaded simulator (built with `capture_output`).
    pub fn new(sim: Simulator) -> GdbTarget {
        GdbTarget {
            session: Session::new(sim),
            action: Action::Continue,
        }
    }

    /// Prints the guests' output produced since the last call.
    fn forward_output(&mut self) {
        use std::io::Write;
        let (out, err) = self.session.take_output();
        let _ = std::io::stdout().write_all(&out);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(&err);
    }

    fn stop_reply(&self, reason: &StopReason) -> Option<MultiThreadStopReason<u64>> {
        Some(match *reason {
            StopReason::Breakpoint { vm, pid, .. } => {
                MultiThreadStopReason::SwBreak(tid_of(vm, pid))
            }
            StopReason::Watch { vm, pid, watch, .. } => MultiThreadStopReason::Watch {
                tid: tid_of(vm, pid),
                kind: match watch.kind {
                    WatchKind::Write => GdbWatch::Write,
                    WatchKind::Read => GdbWatch::Read,
                    WatchKind::Access => GdbWatch::ReadWrite,
                },
                addr: watch.address,
            },
            StopReason::Step { .. } => MultiThreadStopReason::DoneStep,
            StopReason::Exited { exit_code } => MultiThreadStopReason::Exited(exit_code as u8),
            StopReason::Position => return None,
        })
    }

    /// Runs the resume gdb asked for; `None` when a slice ended without a
    /// stop (the caller checks for an interrupt and goes on).
    fn run_action(&mut self) -> Result<Option<MultiThreadStopReason<u64>>, String> {
        let focus = self.session.focus();
        let reply = match self.action {
            Action::Continue => {
                let until = self.session.sim().position() + SLICE;
                let reason = self.session.resume(Stop::Position(until));
                self.stop_reply(&reason)
            }
            Action::Step => {
                let reason = self.session.resume(Stop::Step);
                self.stop_reply(&reason)
            }
            Action::ReverseStep => Some(match self.session.reverse_stepi() {
                Ok(()) => MultiThreadStopReason::DoneStep,
                Err(_) => MultiThreadStopReason::ReplayLog {
                    tid: Some(tid_of(focus.0, focus.1)),
                    pos: ReplayLogPosition::Begin,
                },
            }),
            Action::ReverseContinue => match self.session.reverse_continue()? {
                Some(reason) => self.stop_reply(&reason),
                None => Some(MultiThreadStopReason::ReplayLog {
                    tid: Some(tid_of(focus.0, focus.1)),
                    pos: ReplayLogPosition::Begin,
                }),
            },
        };
        self.forward_output();
        Ok(reply)
    }
}

impl Target for GdbTarget {
    type Arch = Riscv64;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for GdbTarget {
    fn read_registers(
        &mut self,
        regs: &mut RiscvCoreRegs<u64>,
        tid: Tid,
    ) -> TargetResult<(), Self> {
        let (vm, pid) = of_tid(tid);
        let process = self
            .session
            .sim()
            .vm(vm)
            .and_then(|k| k.process(pid))
            .ok_or(TargetError::NonFatal)?;
        for (i, x) in regs.x.iter_mut().enumerate() {
            *x = process.hart.reg(i);
        }
        regs.pc = process.hart.pc;
        Ok(())
    }

    fn write_registers(&mut self, regs: &RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        let (vm, pid) = of_tid(tid);
        let sim = self.session.sim_mut();
        for (i, x) in regs.x.iter().enumerate().skip(1) {
            sim.set_register(vm, pid, i, *x);
        }
        let process = sim
            .vm_mut(vm)
            .and_then(|k| k.process_mut(pid))
            .ok_or(TargetError::NonFatal)?;
        process.hart.pc = regs.pc;
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let (vm, pid) = of_tid(tid);
        let sim = self.session.sim();
        let mut n = 0;
        for (i, byte) in data.iter_mut().enumerate() {
            match sim.read_memory_in(vm, pid, start.wrapping_add(i as u64), 1) {
                Some(b) => *byte = b[0],
                None => break,
            }
            n += 1;
        }
        if n == 0 && !data.is_empty() {
            return Err(TargetError::Errno(14)); // EFAULT
        }
        Ok(n)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let (vm, pid) = of_tid(tid);
        self.session
            .sim_mut()
            .copy_to_guest(vm, pid, start, data)
            .map_err(|_| TargetError::Errno(14))
    }

    fn list_active_threads(&mut self, register: &mut dyn FnMut(Tid)) -> Result<(), Self::Error> {
        let sim = self.session.sim();
        for vm in 0..sim.vm_count() {
            if let Some(kernel) = sim.vm(vm) {
                for p in kernel.processes().iter().filter(|p| !p.is_zombie()) {
                    register(tid_of(vm, p.pid));
                }
            }
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for GdbTarget {
    fn resume(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.action = Action::Continue;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        if signal.is_some() {
            return Err("sim cannot deliver a signal to a guest yet".into());
        }
        if self.action != Action::Step {
            self.action = Action::Continue;
        }
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, Tid, Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, Tid, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSchedulerLocking for GdbTarget {
    /// gdb steps one thread with the others held: a step here runs only
    /// the focused process's instruction anyway (another process runs only
    /// when the time slice ends, as without gdb).
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl MultiThreadSingleStep for GdbTarget {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        let (vm, pid) = of_tid(tid);
        self.session.set_focus(vm, pid);
        self.action = Action::Step;
        Ok(())
    }
}

impl ReverseStep<Tid> for GdbTarget {
    fn reverse_step(&mut self, tid: Tid) -> Result<(), Self::Error> {
        let (vm, pid) = of_tid(tid);
        self.session.set_focus(vm, pid);
        self.action = Action::ReverseStep;
        Ok(())
    }
}

impl ReverseCont<Tid> for GdbTarget {
    fn reverse_cont(&mut self) -> Result<(), Self::Error> {
        self.action = Action::ReverseContinue;
        Ok(())
    }
}

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.session.sim_mut().add_breakpoint(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.session.sim_mut().remove_breakpoint(addr))
    }
}

fn watchpoint(addr: u64, len: u64, kind: GdbWatch) -> Watchpoint {
    Watchpoint {
        address: addr,
        len: len.max(1),
        kind: match kind {
            GdbWatch::Write => WatchKind::Write,
            GdbWatch::Read => WatchKind::Read,
            GdbWatch::ReadWrite => WatchKind::Access,
        },
    }
}

impl HwWatchpoint for GdbTarget {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: GdbWatch,
    ) -> TargetResult<bool, Self> {
        self.session
            .sim_mut()
            .add_watchpoint(watchpoint(addr, len, kind));
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: GdbWatch,
    ) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .sim_mut()
            .remove_watchpoint(watchpoint(addr, len, kind)))
    }
}

/// gdbstub's event loop: runs the target while gdb waits for a stop.
enum EventLoop {}

impl run_blocking::BlockingEventLoop for EventLoop {
    type Target = GdbTarget;
    type Connection = Box<dyn ConnectionExt<Error = std::io::Error>>;
    type StopReason = MultiThreadStopReason<u64>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut GdbTarget,
        conn: &mut Self::Connection,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<String, std::io::Error>,
    > {
        loop {
            let reply = target
                .run_action()
                .map_err(run_blocking::WaitForStopReasonError::Target)?;
            if let Some(reply) = reply {
                return Ok(run_blocking::Event::TargetStopped(reply));
            }
            if conn.peek().map(|b| b.is_some()).unwrap_or(true) {
                let byte = conn
                    .read()
                    .map_err(run_blocking::WaitForStopReasonError::Connection)?;
                return Ok(run_blocking::Event::IncomingData(byte));
            }
        }
    }

    fn on_interrupt(target: &mut GdbTarget) -> Result<Option<Self::StopReason>, String> {
        let (vm, pid) = target.session.focus();
        Ok(Some(MultiThreadStopReason::SignalWithThread {
            tid: tid_of(vm, pid),
            signal: Signal::SIGINT,
        }))
    }
}

/// Waits for gdb on 127.0.0.1:`port` (0: any free port, printed) and
/// serves it; returns the run's exit code.
///
/// # Errors
/// When the port cannot be opened or the connection fails.
pub fn serve(sim: Simulator, port: u16) -> Result<i32, String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("-g {port}: cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    eprintln!("sim: waiting for gdb on 127.0.0.1:{port} (target remote :{port})");
    let (stream, _) = listener
        .accept()
        .map_err(|e| format!("-g {port}: accept: {e}"))?;
    let _ = stream.set_nodelay(true);
    let connection: Box<dyn ConnectionExt<Error = std::io::Error>> = Box::new(stream);
    let mut target = GdbTarget::new(sim);
    let reason = GdbStub::new(connection)
        .run_blocking::<EventLoop>(&mut target)
        .map_err(|e| format!("gdb connection: {e}"))?;
    let code = match reason {
        DisconnectReason::TargetExited(code) => i32::from(code),
        DisconnectReason::TargetTerminated(signal) => 128 + i32::from(signal.0),
        DisconnectReason::Kill => 137,
        DisconnectReason::Disconnect => {
            // gdb detached: the run goes on to its end, as under qemu.
            for b in target.session.sim().breakpoints() {
                target.session.sim_mut().remove_breakpoint(b);
            }
            for w in target.session.sim().watchpoints() {
                target.session.sim_mut().remove_watchpoint(w);
            }
            let reason = target.session.resume(Stop::Continue);
            target.forward_output();
            match reason {
                StopReason::Exited { exit_code } => exit_code,
                _ => 0,
            }
        }
    };
    Ok(code)
}

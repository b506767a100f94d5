//! The run loop: `run_until_exception` runs the current context until it
//! raises an exception, `handle` delivers it (hypervisor/contexts.rs) and
//! then hands the host daemon's notices to the kernels; `run` repeats the
//! two until nothing is left to run.
//!
//! ```text
//! run
//!   loop: next_event       poll rshm and host input, pick the root
//!                          (schedule), run its deepest context
//!         a syscall of a plain process (may_run_on)?
//!           run_on_after_syscalls: handle it, and while the caller stays
//!           current and ready with nothing to poll, run it again at once
//!           (the ecall path, docs/PERFORMANCE.md)
//!         deliver_event    everything else (hypervisor/contexts.rs)
//! ```
//!
//! Scheduling has two levels: the VMs take turns (one time slice each,
//! `schedule` here), and within a VM its kernel picks among its roots
//! (kernel/scheduler.rs).

use std::time::Instant;

use super::{trace, Event, RunOutcome, Simulator};
use crate::emu::{self, Exception};
use crate::hypervisor::{self, Handler};
use crate::kernel::{Kernel, Mode, Next, Pid, ProcessState};

impl Simulator {
    /// Runs until the next exception of any process and returns it, before
    /// the kernel handles it; `None` when no process is left to run (or the
    /// instruction limit was reached).
    pub fn run_until_exception(&mut self) -> Option<Event> {
        let started = Instant::now();
        let event = self.next_event();
        self.elapsed += started.elapsed();
        event
    }

    fn next_event(&mut self) -> Option<Event> {
        if self.limit_reached {
            return None;
        }
        // docs/spec/rshm.md: the server's replies and updates are taken in
        // between two machine runs, so an update lands between two guest
        // instructions (nothing to do without an rshm node).
        // Host input that arrived wakes its readers (kernel/hostio.rs).
        for kernel in &mut self.vms {
            kernel.poll_rshm(&mut self.machine);
            kernel.poll_host_io(self.machine.instret());
        }
        let root = match self.vms[self.current_vm].current() {
            Some(root) => root,
            None => self.schedule()?,
        };
        let vm = self.current_vm;
        let slice_end = *self
            .slice_end
            .get_or_insert(self.machine.instret().saturating_add(self.quantum));
        let stop_at = self
            .max_instructions
            .map_or(slice_end, |m| m.min(slice_end));
        let kernel = &mut self.vms[vm];
        let pid = hypervisor::deepest(kernel, root);
        // A thread runs with its process's address space (kernel/threads.rs).
        kernel.activate(pid);
        let (process, console) = kernel.process_and_console(pid)?;
        // A context's own timer (selfie's switch timeout) may end its run
        // before the slice does.
        let stop_at = process.timer_deadline.map_or(stop_at, |t| t.min(stop_at));
        let before = self.machine.instret();
        let exception = if let Some(control) = &mut self.control {
            // A debugger is attached (control.rs).
            let result = super::control::run_controlled(
                &mut self.machine,
                process,
                vm,
                control,
                self.syscalls_handled,
                stop_at,
            );
            process.stats.instructions += self.machine.instret() - before;
            match result {
                Ok(exception) => exception,
                Err(reason) => {
                    self.pause = Some(reason);
                    return None;
                }
            }
        } else {
            let exception = if self.traces_instructions {
                let symbols = super::crash::symbols_for(&self.images, vm, process);
                trace::until_exception(
                    &mut self.machine,
                    process,
                    stop_at,
                    console,
                    &self.trace,
                    symbols,
                    &mut self.trace_ring,
                )
            } else {
                self.machine.run(
                    &mut process.hart,
                    &mut process.page_table,
                    process.context,
                    stop_at,
                )
            };
            process.stats.instructions += self.machine.instret() - before;
            exception
        };
        self.note_limit(exception);
        Some(Event { vm, pid, exception })
    }

    /// The instruction limit ends the run when a machine run stopped at it
    /// (with a timer exception).
    #[inline]
    fn note_limit(&mut self, exception: Exception) {
        if exception == Exception::Timer
            && self
                .max_instructions
                .is_some_and(|m| self.machine.instret() >= m)
        {
            self.limit_reached = true;
        }
    }

    /// Picks the next root to run: the VMs take turns (one time slice
    /// each), and each VM's kernel picks among its roots (round robin).
    /// When no VM has a ready root, blocked processes that nothing can wake
    /// are killed; `None` when nothing is left at all.
    fn schedule(&mut self) -> Option<Pid> {
        let n = self.vms.len();
        loop {
            for step in 0..n {
                let vm = (self.next_vm + step) % n;
                if let Some(root) = self.vms[vm].schedule() {
                    self.current_vm = vm;
                    self.next_vm = (vm + 1) % n;
                    self.slice_end = None;
                    return Some(root);
                }
            }
            let mut killed = false;
            for kernel in &mut self.vms {
                killed |= kernel.break_deadlock(&mut self.machine);
            }
            self.after_vmshm();
            if !killed {
                for kernel in &mut self.vms {
                    kernel.console_mut().flush();
                }
                return None;
            }
        }
    }

    /// Delivers `event` (as returned by `run_until_exception`, or made up
    /// by a test) to its handler: the host kernel, the host as a hypercall,
    /// or the guest kernel above the context (rule U/K-2).
    pub fn handle(&mut self, event: Event) {
        let started = Instant::now();
        self.deliver_event(event);
        self.elapsed += started.elapsed();
    }

    /// `handle` without the clock: `run` reads the clock once for its
    /// whole loop instead of twice per exception (a clock read costs about
    /// as much as the rest of a small syscall's trip).
    fn deliver_event(&mut self, event: Event) {
        self.exceptions.add(event.exception);
        let vm = event.vm;
        if vm >= self.vms.len() {
            return;
        }
        if self.trace.exceptions {
            let line = self.describe(event);
            self.vms[vm].report(&line);
        }
        if self.limit_reached {
            let limit = self.max_instructions.unwrap_or(0);
            let kernel = &mut self.vms[vm];
            kernel.report(&format!(
                "stopped after {limit} instructions (--max-instructions)"
            ));
            kernel.console_mut().flush();
            return;
        }
        if event.exception == Exception::Syscall {
            self.syscalls_handled += 1;
        }
        let kernel = &mut self.vms[vm];
        let root = kernel.current().unwrap_or(event.pid);
        // A fault may kill a live process: then the crash report follows.
        let fault = super::crash::is_fault(event.exception);
        let was_live = fault && kernel.process(event.pid).is_some_and(|p| !p.is_zombie());
        let next = hypervisor::deliver(kernel, &mut self.machine, root, event.pid, event.exception);
        if was_live {
            self.report_if_killed(event);
        }
        self.after_delivery(event, next);
    }

    /// What follows every delivered exception: the slice ends if the
    /// kernel said so, the host daemon's notices go out, the peak of
    /// frames is kept up to date.
    #[inline]
    fn after_delivery(&mut self, event: Event, next: Next) {
        if next == Next::Reschedule {
            self.vms[event.vm].end_slice();
        }
        self.after_vmshm();
        if cfg!(debug_assertions) && event.exception == Exception::Syscall {
            // The frame-ownership rule over every VM (each kernel checked
            // its own invariants after the call).
            if let Err(broken) = self.check_invariants() {
                panic!(
                    "after a call of process {} of VM {}: {broken}",
                    event.pid, event.vm
                );
            }
        }
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
    }

    /// Runs until every process has ended (or the instruction limit).
    pub fn run(&mut self) -> RunOutcome {
        // `run_until_exception` and `handle` without their clock reads:
        // the run is timed once, as a whole (`--stats`).
        let started = Instant::now();
        loop {
            match self.next_event() {
                Some(event) if self.may_run_on(event) => {
                    // A syscall of a plain process: handled here, and its
                    // caller runs on directly while its calls keep it so.
                    if let Some(event) = self.run_on_after_syscalls(event) {
                        self.deliver_event(event);
                    }
                }
                Some(event) => self.deliver_event(event),
                // A debugger's stop (breakpoint, ...): `run` goes on.
                None if self.pause.take().is_some() => {}
                None => break,
            }
        }
        self.elapsed += started.elapsed();
        self.finish_run()
    }

    /// Whether `event` is a syscall `run_on_after_syscalls` may handle:
    /// one of a process the host kernel supervises, not a hypercall (those
    /// take the hypervisor's route, rules U/K-2 and U/K-3), while nothing
    /// watches the run more closely than `--stats` and `--trace-syscalls`
    /// do (a debugger, an instruction or exception trace) and the
    /// instruction limit has not been reached.
    #[inline]
    fn may_run_on(&self, event: Event) -> bool {
        event.exception == Exception::Syscall
            && self.control.is_none()
            && !self.traces_instructions
            && !self.trace.exceptions
            && !self.limit_reached
            && self
                .vms
                .get(event.vm)
                .is_some_and(|kernel| kernel.process(event.pid).is_some_and(host_handles_call))
    }

    /// The run loop's short cut for the common syscall (the ecall path,
    /// docs/PERFORMANCE.md): handles the syscall `event` (which
    /// `may_run_on`), and as long as the call leaves its caller the
    /// current root, ready, and nothing waits to be polled, runs the
    /// caller again right here, with the same slice end, and handles its
    /// next syscall the same way. What `next_event` and `deliver_event`
    /// would do in between is either done here as they do it (the counts,
    /// the vmshm notices, the slice, the instruction limit) or has nothing
    /// to do (no scheduling, no polling, no routing), so the run is the
    /// same, instruction for instruction. Returns the first exception it
    /// does not handle, for `deliver_event`; `None` when a call ended the
    /// slice or something needs the full loop (the run loop goes on then).
    fn run_on_after_syscalls(&mut self, event: Event) -> Option<Event> {
        let Event { vm, pid, .. } = event;
        // The slice it runs in goes on (`slice_end` is only reset when
        // `schedule` picks a root), as does the instruction limit.
        let Some(slice_end) = self.slice_end else {
            // `next_event` set it: not reached, but the event is not lost.
            return Some(event);
        };
        let slice_stop = self
            .max_instructions
            .map_or(slice_end, |m| m.min(slice_end));
        loop {
            // deliver_event, for a syscall the host kernel handles.
            self.exceptions.add(Exception::Syscall);
            self.syscalls_handled += 1;
            let next = self.vms[vm].handle_syscall(&mut self.machine, pid);
            self.after_delivery(event, next);
            // next_event, for the same process while nothing else is due.
            if next == Next::Reschedule || self.vms.iter().any(Kernel::needs_polling) {
                return None;
            }
            let kernel = &mut self.vms[vm];
            if kernel.current() != Some(pid) {
                return None;
            }
            kernel.activate(pid);
            let process = kernel.process_mut(pid)?;
            if process.state != ProcessState::Ready || process.switched_to.is_some() {
                return None;
            }
            let stop_at = process
                .timer_deadline
                .map_or(slice_stop, |t| t.min(slice_stop));
            let before = self.machine.instret();
            let exception = self.machine.run(
                &mut process.hart,
                &mut process.page_table,
                process.context,
                stop_at,
            );
            process.stats.instructions += self.machine.instret() - before;
            // Another syscall of a plain process (`may_run_on`: the flags
            // it looks at do not change during `run`) goes round again.
            if exception == Exception::Syscall && host_handles_call(process) {
                continue;
            }
            self.note_limit(exception);
            return Some(Event { vm, pid, exception });
        }
    }

    /// The end of a run: the dumps asked for, output flushed, the outcome.
    pub(super) fn finish_run(&mut self) -> RunOutcome {
        self.print_trace_ring();
        if self.trace.dump_contexts {
            let text = format!("sim: contexts at exit:\n{}", self.dump_contexts());
            self.vms[0].console_mut().write_stderr(text.as_bytes());
        }
        if self.trace.dump_shm {
            let text = format!("sim: shm at exit:\n{}", self.dump_shm());
            self.vms[0].console_mut().write_stderr(text.as_bytes());
        }
        if self.trace.dump_vmshm {
            let text = format!("sim: vmshm at exit:\n{}", self.dump_vmshm());
            self.vms[0].console_mut().write_stderr(text.as_bytes());
        }
        for kernel in &mut self.vms {
            kernel.console_mut().flush();
        }
        RunOutcome {
            exit_code: self.vms[0].first_exit_code().unwrap_or(1),
            instructions: self.machine.instret(),
            limit_reached: self.limit_reached,
        }
    }

    /// Hands the host daemon's notices to the kernels (waking processes),
    /// then prints the host region for every kernel whose vm_* call changed
    /// it (`--dump-vmshm`). Runs after every handled exception.
    #[inline]
    pub(super) fn after_vmshm(&mut self) {
        // Unless a vm_* call just ran, nothing is to be done: a look at a
        // flag per VM and at the daemon's queue.
        let changed = self
            .vms
            .iter()
            .any(|kernel| kernel.shared().vmshm_changed());
        if changed || self.host_daemon.borrow().has_notices() {
            self.hand_out_vmshm_notices();
        }
    }

    /// `after_vmshm` when there is something to do (out of line, so that
    /// the look above stays cheap).
    #[inline(never)]
    fn hand_out_vmshm_notices(&mut self) {
        while self.host_daemon.borrow().has_notices() {
            let notices = self.host_daemon.borrow_mut().take_notices();
            for notice in notices {
                let vm = usize::try_from(notice.vm.0).ok();
                if let Some(kernel) = vm.and_then(|vm| self.vms.get_mut(vm)) {
                    kernel.vmshm_notice(notice);
                }
            }
        }
        for vm in 0..self.vms.len() {
            let changed = self.vms[vm].shared_mut().take_vmshm_changed();
            if changed && self.trace.dump_vmshm {
                self.print_vmshm_after_call(vm);
            }
        }
    }

    /// `--dump-vmshm`: the host region after a vm_* call of `vm`.
    #[cold]
    fn print_vmshm_after_call(&mut self, vm: usize) {
        let text = format!("sim: vmshm after a call of vm {vm}:\n{}", self.dump_vmshm());
        self.vms[vm].console_mut().write_stderr(text.as_bytes());
    }

    /// The `--trace-exceptions` line of `event`: the context, its parent
    /// and who handles the exception.
    fn describe(&self, event: Event) -> String {
        let vm = event.vm;
        let kernel = &self.vms[vm];
        let process = kernel.process(event.pid);
        let pc = process.map_or(0, |p| p.hart.pc);
        let vm_prefix = if self.vms.len() > 1 {
            format!("vm {vm} ")
        } else {
            String::new()
        };
        let (mode, parent) = match process {
            Some(p) => (
                if p.mode == Mode::Kernel {
                    "kernel-mode "
                } else {
                    ""
                },
                p.supervisor
                    .map_or_else(|| "host".to_string(), |s| format!("kernel {s}")),
            ),
            None => ("", "host".to_string()),
        };
        let handler = match hypervisor::handler_of(kernel, event.pid, event.exception) {
            Handler::HostKernel => "handled by the host kernel".to_string(),
            Handler::Hypercall(_) => "hypercall, handled by the host".to_string(),
            Handler::GuestKernel(k) => format!("delivered to guest kernel {k}"),
        };
        let what = match (event.exception, process) {
            (Exception::Syscall, Some(p)) => {
                format!(
                    "syscall {}",
                    crate::abi::call_name(p.hart.reg(emu::Reg::A7.index()))
                )
            }
            (e, _) => e.to_string(),
        };
        format!(
            "exception: {vm_prefix}{mode}process {} (parent: {parent}) at pc {pc:#x}: {what} → {handler}",
            event.pid
        )
    }
}

/// Whether the host kernel handles the call `process` makes (its `a7`)
/// itself: the process is supervised by no guest kernel, and the call is
/// not a hypercall (those take the hypervisor's route, rules U/K-2 and
/// U/K-3).
fn host_handles_call(process: &crate::kernel::Process) -> bool {
    process.supervisor.is_none()
        && !process
            .profile
            .is_hypercall(process.hart.reg(emu::Reg::A7.index()))
}

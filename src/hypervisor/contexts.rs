//! The context tree of one VM and exception routing (rule U/K-2).
//!
//! Every process of a `Kernel` is a context. Its parent in the tree is its
//! `supervisor` (a guest kernel of the same VM) or, when that is `None`,
//! the host kernel. A guest kernel that called `hv_switch(child)` sits in
//! that `ecall` with `switched_to = Some(child)`; the machine runs the
//! deepest context of the chain (`deepest`). When that context raises an
//! exception, `deliver` hands it to its parent: the host kernel handles its
//! own children's exceptions, a guest kernel gets its child's exception as
//! `pending` and its `hv_switch` returns.

use std::fmt::Write;

use crate::emu::{Exception, Machine, Reg};
use crate::kernel::syscall::finish;
use crate::kernel::{Kernel, Mode, Next, Pid, Process, ProcessState};

/// Who handles an exception, for `--trace-exceptions`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Handler {
    /// The host kernel, as for any process of its own.
    HostKernel,
    /// The host, as the hypercall `number` of a kernel-mode context.
    Hypercall(u64),
    /// The guest kernel `Pid`, which reads it with `hv_status`.
    GuestKernel(Pid),
}

/// The context the machine runs for `root`: follow `switched_to` down the
/// tree while it leads to a live child.
#[inline]
pub fn deepest(kernel: &Kernel, root: Pid) -> Pid {
    // Most roots run themselves (no guest kernel switched to a child):
    // one look, before every machine run.
    match kernel.process(root).and_then(|p| p.switched_to) {
        None => root,
        Some(_) => deepest_switched(kernel, root),
    }
}

/// `deepest` for a guest kernel that switched to a child.
fn deepest_switched(kernel: &Kernel, root: Pid) -> Pid {
    let mut at = root;
    // The chain goes strictly down the tree, so it ends; the bound guards
    // against a kernel bug turning it into a cycle.
    for _ in 0..kernel.processes().len() {
        let Some(next) = kernel.process(at).and_then(|p| p.switched_to) else {
            break;
        };
        match kernel.process(next) {
            Some(child) if child.supervisor == Some(at) && !child.is_zombie() => at = next,
            _ => break,
        }
    }
    at
}

/// The exception as the routing sees it: an `ecall` of a hypercall from a
/// user-mode context is a privilege violation (rule U/K-3).
fn effective(process: &Process, exception: Exception) -> Exception {
    // BEGIN SOLUTION uk-rules
    if exception == Exception::Syscall {
        let call = process.hart.reg(Reg::A7.index());
        if process.profile.is_hypercall(call) && process.mode == Mode::User {
            return Exception::PrivilegeViolation {
                pc: process.hart.pc,
                call,
            };
        }
    }
    exception
    // STUB
    // // Rule U/K-3: which ecalls of which contexts are privilege violations?
    // let _ = (process, abi::is_hypercall, Mode::User, Reg::A7);
    // exception
    // END SOLUTION uk-rules
}

/// Who will handle `exception`, raised by `pid`.
pub fn handler_of(kernel: &Kernel, pid: Pid, exception: Exception) -> Handler {
    kernel.process(pid).map_or(Handler::HostKernel, |process| {
        handler_for(process, exception)
    })
}

/// Who will handle `exception`, raised by `process`.
fn handler_for(process: &Process, exception: Exception) -> Handler {
    if exception == Exception::Syscall && process.mode == Mode::Kernel {
        let call = process.hart.reg(Reg::A7.index());
        if process.profile.is_hypercall(call) {
            return Handler::Hypercall(call);
        }
    }
    match process.supervisor {
        None => Handler::HostKernel,
        Some(s) => Handler::GuestKernel(s),
    }
}

/// Delivers `exception`, raised by `pid` while the root `root` ran, to its
/// handler (rule U/K-2) and says what the run loop does next.
pub fn deliver(
    kernel: &mut Kernel,
    machine: &mut Machine,
    root: Pid,
    pid: Pid,
    exception: Exception,
) -> Next {
    let Some(process) = kernel.process(pid) else {
        return Next::Reschedule;
    };
    let exception = effective(process, exception);
    let supervisor = match handler_for(process, exception) {
        // The host's syscall layer runs hypercalls (kernel/syscall/).
        Handler::Hypercall(_) => return kernel.syscall(machine, pid),
        Handler::HostKernel => return kernel.handle(machine, pid, exception),
        Handler::GuestKernel(supervisor) => supervisor,
    };
    deliver_to_guest_kernel(kernel, machine, root, pid, supervisor, exception)
}

/// `deliver` for a context with a supervisor: its exception goes to its
/// guest kernel. A function of its own, so that the host kernel's own
/// processes (every syscall of a plain `sim prog`) do not pay for setting
/// up what this needs.
#[inline(never)]
fn deliver_to_guest_kernel(
    kernel: &mut Kernel,
    machine: &mut Machine,
    root: Pid,
    pid: Pid,
    supervisor: Pid,
    exception: Exception,
) -> Next {
    let Some(process) = kernel.process(pid) else {
        return Next::Reschedule;
    };
    if process.selfie.is_some() {
        // A context of selfie's switch (kernel/syscall/selfie.rs): the end
        // of the host's time slice is not its own timer, which alone
        // reaches its hypster.
        let own_timer = process
            .timer_deadline
            .is_some_and(|deadline| machine.instret() >= deadline);
        if exception == Exception::Timer && !own_timer {
            kernel.preempt(root);
            return Next::Reschedule;
        }
        kernel.selfie_return(machine, pid, supervisor, exception);
        return Next::Continue;
    }
    return_to_supervisor(kernel, machine, pid, supervisor, exception);
    if exception == Exception::Timer {
        // The host's time slice is over: the supervisor sees the timer
        // when its root runs again (host round robin).
        kernel.preempt(root);
        return Next::Reschedule;
    }
    Next::Continue
}

/// Makes `exception` the pending exception of `child` and returns from its
/// supervisor's `hv_switch` with the child's id.
fn return_to_supervisor(
    kernel: &mut Kernel,
    machine: &mut Machine,
    child: Pid,
    supervisor: Pid,
    exception: Exception,
) {
    let Some(s) = kernel.process_mut(supervisor).filter(|s| !s.is_zombie()) else {
        // Kernel::exit ends a guest kernel's children with it, so a child
        // always has a live supervisor.
        debug_assert!(false, "deliver: child {child} has no live supervisor");
        kernel.kill(machine, child, 9, "its guest kernel has ended");
        return;
    };
    debug_assert_eq!(
        s.switched_to,
        Some(child),
        "deliver: {supervisor} runs {child}"
    );
    s.switched_to = None;
    // The supervisor's hv_switch returns the child's id.
    finish(&mut s.hart, child.0);
    if let Some(c) = kernel.process_mut(child) {
        c.stats.exceptions.add(exception);
        c.pending = Some(exception);
    }
}

/// The context tree of one VM as text (`--dump-contexts`):
///
/// ```text
/// vm 0: host kernel
///   1 rr.c (kernel mode, ready, switched to 2)
///     2 hello.c (user mode, ready, pending: page fault)
/// ```
pub fn dump_contexts(kernel: &Kernel) -> String {
    let mut out = format!("vm {}: host kernel\n", kernel.id());
    let roots = kernel.processes().pids_where(|p| p.supervisor.is_none());
    for root in roots {
        dump_subtree(kernel, root, 1, &mut out);
    }
    out
}

fn dump_subtree(kernel: &Kernel, pid: Pid, depth: usize, out: &mut String) {
    let Some(p) = kernel.process(pid) else {
        return;
    };
    let mode = match p.mode {
        Mode::User => "user mode",
        Mode::Kernel => "kernel mode",
    };
    let state = match p.state {
        ProcessState::Ready if kernel.current() == Some(pid) => "running".to_string(),
        ProcessState::Ready => "ready".to_string(),
        ProcessState::Blocked(reason) => format!("blocked ({reason:?})"),
        ProcessState::Zombie(status) => format!("ended, exit code {}", status.exit_code()),
    };
    let _ = write!(
        out,
        "{}{} {} ({mode}, {state}",
        "  ".repeat(depth),
        p.pid,
        p.name
    );
    if let Some(to) = p.switched_to {
        let _ = write!(out, ", switched to {to}");
    }
    if let Some(e) = p.pending {
        let _ = write!(out, ", pending: {e}");
    }
    out.push_str(")\n");
    // Bounded by the number of processes: the tree has no cycles.
    if depth > kernel.processes().len() {
        return;
    }
    let children = kernel.processes().pids_where(|c| c.supervisor == Some(pid));
    for child in children {
        dump_subtree(kernel, child, depth + 1, out);
    }
}

//! The one syscall layer: every call a guest makes with `ecall` — the
//! Linux calls, the hypercalls of guest kernels, the calls of the three
//! shared-memory systems — goes through `dispatch`: one `match` from the
//! number in `a7` to one `sys_<name>` function, one result type, one
//! `finish` that writes `a0` and moves the pc past the `ecall`, one trace
//! line format.
//!
//! ```text
//! Kernel::handle(Syscall), or the hypervisor for a hypercall of a
//! kernel-mode context (rule U/K-2)
//!  └ Kernel::syscall(pid)
//!     dispatch: count it (--stats); a hypercall from user mode breaks
//!               rule U/K-3 and kills the caller
//!               match a7 → sys_<name>(args) → SysResult = Result<Ret, Errno>
//!               (under selfie's ABI profile: selfie.rs, its own match)
//!               trace: "[pid] name(args) = result", strace's format
//!                      (decode.rs)                    (--trace-syscalls)
//!               debug builds: every invariant (kernel/invariants.rs)
//!     complete(pid, result) → Next:
//!       Ok(Value(v))    finish: a0 = v, pc += 4           → Continue
//!       Err(e)          finish: a0 = -e, pc += 4          → Continue
//!       Ok(Yield)       finish: a0 = 0, back of the queue → Reschedule
//!       Ok(Block(r))    sleeps on r with the pc at its ecall: runs the
//!                       call again when woken (a child's wait4, a
//!                       vm_listen, host input)            → Reschedule
//!       Ok(Pending(r))  sleeps on r until the answer arrives;
//!                       `finish_pending` finishes it then → Reschedule
//!       Ok(Switched(c)) hv_switch: the caller waits in its ecall while
//!                       child c runs (hypervisor/contexts.rs finishes it)
//!       Ok(Exited)      the caller is gone                → Reschedule
//! ```
//!
//! Guest pointers are touched only in the `sys_` functions, through
//! uaccess.rs; the shared-memory systems below get plain values.
//!
//! | file | calls |
//! |---|---|
//! | process.rs | exit, exit_group, getpid, sched_yield, clone (fork), wait4, processes |
//! | thread.rs | clone (threads), futex |
//! | file.rs | read, write, openat, close (paths inside the root: kernel/fs.rs) |
//! | fd.rs | lseek, pread64, pwrite64, readv, writev, dup, dup3, fcntl, ioctl, pipe2, fstat |
//! | path.rs | newfstatat, getcwd, chdir, mkdirat, unlinkat, renameat2, faccessat(2), getdents64, readlinkat |
//! | exec.rs | execve |
//! | poll.rs | ppoll, pselect6 |
//! | attrs.rs | truncate, ftruncate, fchmod, fchmodat, utimensat, symlinkat, linkat, fsync, fdatasync, sync, fchdir |
//! | memory.rs | brk, mmap, munmap, mprotect, mremap, madvise |
//! | signal.rs | rt_sigaction, rt_sigprocmask, rt_sigreturn, kill, tkill, tgkill, sigaltstack |
//! | system.rs | uid/gid, getppid, gettid, set_tid_address, set_robust_list, prlimit64, getrandom, uname, sysinfo, clocks, nanosleep, times, umask, getrusage, sched_get/setaffinity, prctl, process groups and sessions |
//! | decode.rs | --trace-syscalls' argument decoder (kinds from abi/mod.rs) |
//! | shm.rs | shm_open, shm_size, shm_map, shm_close (docs/spec/shm.md) |
//! | vmshm.rs | vm_open, vm_close, vm_listen, vm_connect, vm_disconnect, vm_id (docs/spec/vmshm.md) |
//! | rshm.rs | rshmget, rshmat, rshmdt, rshmctl, rshm_changed, node_id, and the rshm server's answers (docs/spec/rshm.md) |
//! | hypercalls.rs | hv_create … hv_children, kernel-mode contexts only (rules U/K-3, U/K-4) |
//! | selfie.rs | selfie's ABI profile: exit, read, write, openat, brk, selfie's switch (abi/selfie.rs) |

mod attrs;
pub mod decode;
mod exec;
mod fd;
mod file;
mod hypercalls;
mod memory;
mod path;
mod poll;
mod process;
mod rshm;
mod selfie;
mod shm;
mod signal;
mod system;
mod thread;
mod vmshm;

pub use file::{PendingOpen, MAX_RW_COUNT};
pub use rshm::{DRAIN_LIMIT, FLUSH_EVERY, IPC_RMID, NETWORK_WAIT};
pub use selfie::SelfieContext;

use super::process::{Mode, Pid, ProcessState, WaitReason};
use super::{clock, Kernel, Next};
use crate::abi::selfie::Profile;
use crate::abi::{self, *};
use crate::emu::{Exception, Hart, Machine, Reg};

/// What a call did, when it did not fail.
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ret {
    /// Return this value in `a0`; the caller goes on after its `ecall`.
    Value(u64),
    /// The caller sleeps; woken, it runs the same `ecall` again (its pc
    /// stays), so the call is asked again from the start.
    Block(WaitReason),
    /// The caller sleeps until the call's answer arrives (an rshm request
    /// to the node's server): `Kernel::finish_pending` then writes `a0`
    /// and moves the pc.
    Pending(WaitReason),
    /// `sched_yield`: `a0` = 0, and another process runs.
    Yield,
    /// `hv_switch`: the caller waits in its `ecall` while its child runs;
    /// the child's next exception finishes the call (hypervisor/contexts.rs).
    Switched(Pid),
    /// The caller no longer runs (it exited or was killed).
    Exited,
    /// The call set every register itself (rt_sigreturn): `a0` and the pc
    /// stay as they are.
    Resumed,
}

/// The result of every `sys_<name>` function.
pub type SysResult = Result<Ret, Errno>;

/// Finishes a call: its result in `a0`, the pc past the `ecall` (4 bytes:
/// `ecall` has no compressed form). The one place the pc moves past an
/// `ecall`.
pub fn finish(hart: &mut Hart, a0: u64) {
    hart.set_reg(Reg::A0.index(), a0);
    hart.pc = hart.pc.wrapping_add(4);
}

/// The value a result leaves in `a0`, if it leaves one now.
fn a0_of(result: SysResult) -> Option<u64> {
    match result {
        Ok(Ret::Value(v)) => Some(v),
        Err(e) => Some(e.to_return()),
        Ok(Ret::Yield) => Some(0),
        Ok(Ret::Block(_) | Ret::Pending(_) | Ret::Switched(_) | Ret::Exited | Ret::Resumed) => None,
    }
}

impl Kernel {
    /// Handles the `ecall` of `pid`: a syscall, or a hypercall of a
    /// kernel-mode context.
    pub(crate) fn syscall(&mut self, machine: &mut Machine, pid: Pid) -> Next {
        let result = self.dispatch(machine, pid);
        let Some(process) = self.processes.get_mut(pid) else {
            return Next::Reschedule;
        };
        if process.is_zombie() {
            return Next::Reschedule;
        }
        if let Some(a0) = a0_of(result) {
            finish(&mut process.hart, a0);
        }
        match result {
            Ok(Ret::Value(_) | Ret::Resumed) | Err(_) => {
                // Back to user mode: a pending signal's handler runs now
                // (kernel/signal.rs), or its default action ends the caller.
                if process.signals.pending != 0 {
                    self.deliver_pending(machine, pid);
                    if self.processes.get(pid).is_none_or(|p| p.is_zombie()) {
                        return Next::Reschedule;
                    }
                }
                Next::Continue
            }
            Ok(Ret::Switched(_)) => Next::Continue,
            Ok(Ret::Yield) => {
                self.preempt(pid);
                Next::Reschedule
            }
            Ok(Ret::Block(reason) | Ret::Pending(reason)) => {
                process.state = ProcessState::Blocked(reason);
                let host_wait = matches!(reason, WaitReason::HostIo(_) | WaitReason::Poll { .. });
                if host_wait && !self.io_waiters.contains(&pid) {
                    self.io_waiters.push(pid);
                }
                self.descheduled(pid);
                Next::Reschedule
            }
            Ok(Ret::Exited) => Next::Reschedule,
        }
    }

    /// Runs the pending `ecall` of `pid`, a child of a guest kernel, as if
    /// it were the host's own process (`hv_forward`). Returns what
    /// `hv_forward` returns: 0, or `EAGAIN` when the call would block —
    /// then the child's pc stays at its `ecall`, so that it retries the
    /// call when its kernel switches to it again (a guest kernel's child
    /// never blocks in the host: rule U/K-5).
    pub(crate) fn forward_syscall(&mut self, machine: &mut Machine, pid: Pid) -> SysResult {
        let result = self.dispatch(machine, pid);
        if let Some(process) = self.processes.get_mut(pid) {
            if let Some(a0) = a0_of(result) {
                finish(&mut process.hart, a0);
            }
        }
        match result {
            Ok(Ret::Block(_) | Ret::Pending(_)) => Err(EAGAIN),
            _ => Ok(Ret::Value(0)),
        }
    }

    /// Counts, runs and traces the call in `a7` of `pid`.
    #[inline(always)]
    fn dispatch(&mut self, machine: &mut Machine, pid: Pid) -> SysResult {
        let Some(process) = self.processes.get_mut(pid) else {
            return Ok(Ret::Exited);
        };
        let number = process.hart.reg(Reg::A7.index());
        let a: [u64; 6] = std::array::from_fn(|i| process.hart.reg(Reg::A0.index() + i));
        process.stats.syscalls.add(number);
        let profile = process.profile;
        let result = if profile.is_hypercall(number) && process.mode == Mode::User {
            // Rule U/K-3. The hypervisor turns such an ecall into a
            // privilege violation before it gets here; this catches the
            // one that comes through hv_forward.
            let pc = process.hart.pc;
            let _ = self.handle(
                machine,
                pid,
                Exception::PrivilegeViolation { pc, call: number },
            );
            Ok(Ret::Exited)
        } else if profile == Profile::Selfie {
            self.sys_selfie(machine, pid, number, &a)
        } else {
            match number {
                SYS_EXIT => self.sys_exit_thread(machine, pid, a[0]),
                SYS_EXIT_GROUP => self.sys_exit(machine, pid, a[0]),
                SYS_FUTEX => self.sys_futex(machine, pid, a),
                SYS_GETCWD => self.sys_getcwd(machine, pid, a[0], a[1]),
                SYS_DUP => self.sys_dup(pid, a[0]),
                SYS_DUP3 => self.sys_dup3(pid, a[0], a[1], a[2]),
                SYS_FCNTL => self.sys_fcntl(pid, a[0], a[1], a[2]),
                SYS_IOCTL => self.sys_ioctl(machine, pid, a[0], a[1], a[2]),
                SYS_MKDIRAT => self.sys_mkdirat(machine, pid, a[0], a[1], a[2]),
                SYS_UNLINKAT => self.sys_unlinkat(machine, pid, a[0], a[1], a[2]),
                SYS_FACCESSAT | SYS_FACCESSAT2 => {
                    self.sys_faccessat(machine, pid, a[0], a[1], a[2])
                }
                SYS_CHDIR => self.sys_chdir(machine, pid, a[0]),
                SYS_FCHDIR => self.sys_fchdir(pid, a[0]),
                SYS_TRUNCATE => self.sys_truncate(machine, pid, a[0], a[1]),
                SYS_FTRUNCATE => self.sys_ftruncate(pid, a[0], a[1]),
                SYS_FCHMOD => self.sys_fchmod(pid, a[0], a[1]),
                SYS_FCHMODAT => self.sys_fchmodat(machine, pid, a[0], a[1], a[2]),
                SYS_UTIMENSAT => self.sys_utimensat(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_SYMLINKAT => self.sys_symlinkat(machine, pid, a[0], a[1], a[2]),
                SYS_LINKAT => self.sys_linkat(machine, pid, [a[0], a[1], a[2], a[3], a[4]]),
                SYS_FSYNC | SYS_FDATASYNC => self.sys_fsync(pid, a[0]),
                SYS_SYNC => Ok(Ret::Value(0)),
                SYS_GETRUSAGE => self.sys_getrusage(machine, pid, a[0], a[1]),
                SYS_SCHED_GETAFFINITY => self.sys_sched_getaffinity(machine, pid, a[0], a[1], a[2]),
                SYS_SCHED_SETAFFINITY => self.sys_sched_setaffinity(machine, pid, a[0], a[1], a[2]),
                SYS_PRCTL => self.sys_prctl(machine, pid, a[0], a[1]),
                SYS_SETPGID => self.sys_setpgid(pid, a[0], a[1]),
                SYS_GETPGID => self.sys_getpgid(pid, a[0]),
                SYS_GETSID => self.sys_getsid(pid, a[0]),
                SYS_SETSID => self.sys_setsid(pid),
                SYS_PIPE2 => self.sys_pipe2(machine, pid, a[0], a[1]),
                SYS_GETDENTS64 => self.sys_getdents64(machine, pid, a[0], a[1], a[2]),
                SYS_LSEEK => self.sys_lseek(pid, a[0], a[1], a[2]),
                SYS_READV => self.sys_readv_writev(machine, pid, false, [a[0], a[1], a[2]]),
                SYS_WRITEV => self.sys_readv_writev(machine, pid, true, [a[0], a[1], a[2]]),
                SYS_PREAD64 => self.sys_pread64(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_PWRITE64 => self.sys_pwrite64(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_READLINKAT => self.sys_readlinkat(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_NEWFSTATAT => self.sys_newfstatat(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_FSTAT => self.sys_fstat(machine, pid, a[0], a[1]),
                SYS_RENAMEAT2 => self.sys_renameat2(machine, pid, [a[0], a[1], a[2], a[3], a[4]]),
                SYS_SET_TID_ADDRESS => self.sys_set_tid_address(pid, a[0]),
                SYS_SET_ROBUST_LIST => self.sys_set_robust_list(a[1]),
                SYS_NANOSLEEP => self.sys_nanosleep(machine, pid, clock::CLOCK_MONOTONIC, 0, a[0]),
                SYS_CLOCK_NANOSLEEP => self.sys_nanosleep(machine, pid, a[0], a[1], a[2]),
                SYS_CLOCK_GETTIME => self.sys_clock_gettime(machine, pid, a[0], a[1]),
                SYS_CLOCK_GETRES => self.sys_clock_getres(machine, pid, a[0], a[1]),
                SYS_GETTIMEOFDAY => self.sys_gettimeofday(machine, pid, a[0], a[1]),
                SYS_TIMES => self.sys_times(machine, pid, a[0]),
                SYS_KILL => self.sys_kill(machine, pid, a[0], a[1]),
                SYS_TKILL => self.sys_tgkill(machine, pid, a[0], a[1]),
                SYS_TGKILL => self.sys_tgkill(machine, pid, a[1], a[2]),
                SYS_SIGALTSTACK => self.sys_sigaltstack(machine, pid, a[1]),
                SYS_RT_SIGACTION => self.sys_rt_sigaction(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_RT_SIGPROCMASK => {
                    self.sys_rt_sigprocmask(machine, pid, [a[0], a[1], a[2], a[3]])
                }
                SYS_RT_SIGRETURN => self.sys_rt_sigreturn(machine, pid),
                SYS_UNAME => self.sys_uname(machine, pid, a[0]),
                SYS_GETRLIMIT => self.sys_prlimit64(machine, pid, a[0], a[1]),
                SYS_PRLIMIT64 => self.sys_prlimit64(machine, pid, a[1], a[3]),
                SYS_UMASK => self.sys_umask(pid, a[0]),
                SYS_GETPPID => self.sys_getppid(pid),
                SYS_GETUID | SYS_GETEUID | SYS_GETGID | SYS_GETEGID => self.sys_identity(number),
                SYS_GETTID => self.sys_gettid(pid),
                SYS_SYSINFO => self.sys_sysinfo(machine, pid, a[0]),
                SYS_GETRANDOM => self.sys_getrandom(machine, pid, a[0], a[1]),
                SYS_MMAP => self.sys_mmap(machine, pid, a),
                SYS_MUNMAP => self.sys_munmap(machine, pid, a[0], a[1]),
                SYS_MPROTECT => self.sys_mprotect(pid, a[0], a[1], a[2]),
                SYS_MREMAP => self.sys_mremap(machine, pid, [a[0], a[1], a[2], a[3], a[4]]),
                SYS_MADVISE => Ok(Ret::Value(0)),
                SYS_READ => self.sys_read(machine, pid, a[0], a[1], a[2]),
                SYS_WRITE => self.sys_write(machine, pid, a[0], a[1], a[2]),
                SYS_OPENAT => self.sys_openat(machine, pid, [a[0], a[1], a[2], a[3]]),
                SYS_CLOSE => self.sys_close(pid, a[0]),
                SYS_BRK => self.sys_brk(machine, pid, a[0]),
                SYS_GETPID => self.sys_getpid(pid),
                // BEGIN SOLUTION add-syscall
                SYS_PROCESSES => self.sys_processes(),
                // STUB
                // END SOLUTION add-syscall
                SYS_SCHED_YIELD => self.sys_sched_yield(),
                SYS_CLONE => self.sys_clone(machine, pid, a),
                SYS_WAIT4 => self.sys_wait4(machine, pid, a[0], a[1], a[2]),
                SYS_EXECVE => self.sys_execve(machine, pid, [a[0], a[1], a[2]]),
                SYS_PPOLL => self.sys_ppoll(machine, pid, [a[0], a[1], a[2]]),
                SYS_PSELECT6 => self.sys_pselect6(machine, pid, [a[0], a[1], a[2], a[3], a[4]]),
                SYS_SHM_OPEN => self.sys_shm_open(machine, pid, a[0]),
                SYS_SHM_SIZE => self.sys_shm_size(machine, pid, a[0], a[1]),
                SYS_SHM_MAP => self.sys_shm_map(pid, a[0], a[1]),
                SYS_SHM_CLOSE => self.sys_shm_close(machine, pid, a[0]),
                SYS_VM_OPEN => self.sys_vm_open(machine, pid, a[0], a[1], a[2], a[3], a[4]),
                SYS_VM_CLOSE => self.sys_vm_close(machine, pid, a[0], a[1], a[2]),
                SYS_VM_LISTEN => self.sys_vm_listen(machine, pid, a[0], a[1], a[2]),
                SYS_VM_CONNECT => self.sys_vm_connect(machine, pid, a[0], a[1], a[2], a[3]),
                SYS_VM_DISCONNECT => self.sys_vm_disconnect(machine, pid, a[0]),
                SYS_VM_ID => self.sys_vm_id(),
                SYS_RSHMGET => self.sys_rshmget(pid, a[0], a[1]),
                SYS_RSHMAT => self.sys_rshmat(pid, a[0], a[1]),
                SYS_RSHMDT => self.sys_rshmdt(machine, pid, a[0], a[1]),
                SYS_RSHMCTL => self.sys_rshmctl(pid, a[0], a[1]),
                SYS_RSHM_CHANGED => self.sys_rshm_changed(machine, pid, a[0]),
                SYS_NODE_ID => self.sys_node_id(),
                HV_CREATE => self.sys_hv_create(pid),
                HV_SWITCH => self.sys_hv_switch(pid, a[0]),
                HV_STATUS => self.sys_hv_status(pid, a[0]),
                HV_FORWARD => self.sys_hv_forward(machine, pid, a[0]),
                HV_MAP => self.sys_hv_map(machine, pid, a[0], a[1], a[2], a[3]),
                HV_DELETE => self.sys_hv_delete(machine, pid, a[0]),
                HV_GET_REG => self.sys_hv_get_reg(pid, a[0], a[1]),
                HV_SET_REG => self.sys_hv_set_reg(pid, a[0], a[1], a[2]),
                HV_CHILDREN => self.sys_hv_children(machine, pid, a[0], a[1]),
                HV_READ => self.sys_hv_read(machine, pid, a[0], a[1], a[2], a[3]),
                HV_WRITE => self.sys_hv_write(machine, pid, a[0], a[1], a[2], a[3]),
                HV_MAPPINGS => self.sys_hv_mappings(machine, pid, a[0], a[1], a[2]),
                HV_PROTECT => self.sys_hv_protect(machine, pid, a[0], a[1], a[2]),
                HV_PAGING => self.sys_hv_paging(pid, a[0]),
                _ => Err(ENOSYS),
            }
        };
        if profile == Profile::Linux && (SYS_SHM_OPEN..=SYS_SHM_CLOSE).contains(&number) {
            self.after_shm_call(pid, number, &a, result);
        }
        if cfg!(debug_assertions) {
            // Every kind of sharing, after every call (invariants.rs).
            self.debug_check(machine, &abi::call_name(number));
        }
        if profile == Profile::Linux && (SYS_VM_OPEN..=SYS_VM_ID).contains(&number) {
            // The messages the call exchanged with the host daemon
            // (--trace-daemon), before the call's own trace line.
            self.report_vmshm();
        }
        if self.trace.syscalls {
            let shown = describe(number, result);
            self.trace_call(machine, pid, number, &a, &shown, result.is_ok());
        }
        result
    }

    /// Finishes a call that returned `Pending(reason)` with its answer:
    /// `a0`, the pc past the `ecall`, and the caller ready again. Nothing
    /// happens if the caller no longer waits for it (it ended).
    pub(crate) fn finish_pending(
        &mut self,
        pid: Pid,
        reason: WaitReason,
        number: u64,
        args: &[u64],
        result: Result<u64, Errno>,
    ) {
        let Some(process) = self.processes.get_mut(pid) else {
            return;
        };
        if process.state != ProcessState::Blocked(reason) {
            return;
        }
        let value = result.unwrap_or_else(Errno::to_return);
        finish(&mut process.hart, value);
        self.make_ready(pid);
        if self.trace.syscalls {
            let how = if number == SYS_FUTEX {
                "woken"
            } else {
                "server replied"
            };
            let shown = format!("{} ({how})", describe(number, result.map(Ret::Value)));
            self.trace_call_without_memory(pid, number, args, &shown);
        }
    }

    /// The trace line of every call, as strace prints it:
    /// `[pid] name(args) = result`, each argument decoded by its kind in
    /// the call table (abi/mod.rs, decode.rs); an unknown call shows all
    /// six registers in hex. With several VMs the line starts with the VM:
    /// `[vm 1] [2] ...`.
    fn trace_call(
        &mut self,
        machine: &Machine,
        pid: Pid,
        number: u64,
        args: &[u64],
        shown: &str,
        ok: bool,
    ) {
        let process = self.processes.get(pid).filter(|p| !p.is_zombie());
        let profile = process.map_or(Profile::Linux, |p| p.profile);
        if profile == Profile::Selfie {
            // selfie's calls keep their own names and hex arguments.
            let argc = match number {
                abi::selfie::SELFIE_SWITCH => 2,
                _ => abi::call_info(number).map_or(args.len(), |i| usize::from(i.args)),
            };
            let list: Vec<String> = args[..argc.min(args.len())]
                .iter()
                .map(|a| format!("{a:#x}"))
                .collect();
            let name = profile.call_name(number);
            self.report_trace_line(pid, &name, &list, shown);
            return;
        }
        let list: Vec<String> = match abi::call_info(number) {
            Some(info) => info
                .kinds
                .iter()
                .zip(args)
                .map(|(&kind, &value)| decode::show_arg(kind, value, args, ok, machine, process))
                .collect(),
            None => args.iter().map(|a| format!("{a:#x}")).collect(),
        };
        self.report_trace_line(pid, &abi::call_name(number), &list, shown);
    }

    /// A trace line for a call whose caller's memory is not at hand (an
    /// answer that arrived later): arguments in hex.
    fn trace_call_without_memory(&mut self, pid: Pid, number: u64, args: &[u64], shown: &str) {
        if args.is_empty() {
            // A call finished by another (a futex woken): as strace -f.
            let name = abi::call_name(number);
            self.report(&format!("[{pid}] <... {name} resumed> = {shown}"));
            return;
        }
        let argc = abi::call_info(number).map_or(args.len(), |i| usize::from(i.args));
        let list: Vec<String> = args[..argc.min(args.len())]
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect();
        self.report_trace_line(pid, &abi::call_name(number), &list, shown);
    }

    fn report_trace_line(&mut self, pid: Pid, name: &str, args: &[String], shown: &str) {
        let vm = if self.shares_machine {
            format!("[vm {}] ", self.id)
        } else {
            String::new()
        };
        self.report(&format!(
            "{vm}[{pid}] {name}({}) = {shown}",
            args.join(", ")
        ));
    }
}

/// A call's result as the trace shows it (decode.rs: decimal, addresses
/// in hex, errors as `-1 ENOENT (No such file or directory)`).
fn describe(number: u64, result: SysResult) -> String {
    let returns = abi::call_info(number).map_or(abi::Returns::Int, |i| i.returns);
    match result {
        Ok(Ret::Value(v)) => decode::show_value(returns, v),
        Err(e) => decode::show_error(e),
        Ok(Ret::Block(reason) | Ret::Pending(reason)) => format!("blocked ({reason:?})"),
        Ok(Ret::Yield) => "0 (yield)".into(),
        Ok(Ret::Switched(child)) => format!("(runs {child})"),
        Ok(Ret::Exited) => "exited".into(),
        Ok(Ret::Resumed) => "(registers restored)".into(),
    }
}

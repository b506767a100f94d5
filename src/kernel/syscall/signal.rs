//! Signal calls: rt_sigaction, rt_sigprocmask, rt_sigreturn, kill, tkill,
//! tgkill, sigaltstack (kernel/signal.rs has the model: dispositions,
//! mask, pending set, default actions, the frame).

use super::{Ret, SysResult};
use crate::abi::{EFAULT, EINVAL, EPERM, ESRCH};
use crate::emu::Machine;
use crate::kernel::process::Pid;
use crate::kernel::signal::{SigAction, SigInfo, NSIG, SIGKILL, SIGSTOP, SI_TKILL, SI_USER};
use crate::kernel::uaccess::{copy_in, copy_out};
use crate::kernel::Kernel;

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

/// Bytes of the kernel's `struct sigaction` on riscv64.
const SIGACTION_SIZE: u64 = 24;

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Kernel {
    /// rt_sigaction(sig, act*, oldact*, sigsetsize) → 0.
    pub(super) fn sys_rt_sigaction(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [sig, act, old, setsize] = a;
        if !(1..=NSIG).contains(&sig) || setsize != 8 {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let new = if act != 0 {
            if sig == SIGKILL || sig == SIGSTOP {
                return Err(EINVAL);
            }
            let bytes = copy_in(machine, process, act, SIGACTION_SIZE)?;
            Some(SigAction {
                handler: word(&bytes, 0),
                flags: word(&bytes, 8),
                mask: word(&bytes, 16),
            })
        } else {
            None
        };
        let current = process.signals.action(sig);
        if old != 0 {
            let mut bytes = [0u8; SIGACTION_SIZE as usize];
            bytes[..8].copy_from_slice(&current.handler.to_le_bytes());
            bytes[8..16].copy_from_slice(&current.flags.to_le_bytes());
            bytes[16..].copy_from_slice(&current.mask.to_le_bytes());
            copy_out(machine, process, old, &bytes)?;
        }
        if let Some(new) = new {
            process.signals.actions[(sig - 1) as usize] = new;
            // A signal now ignored is dropped from the pending set
            // (POSIX: setting SIG_IGN discards a pending signal).
            if new.handler == crate::kernel::signal::SIG_IGN {
                process.signals.pending &= !(1 << (sig - 1));
            }
        }
        Ok(Ret::Value(0))
    }

    /// rt_sigprocmask(how, set*, oldset*, sigsetsize) → 0. A signal that
    /// becomes unblocked and is pending is delivered when the call returns.
    pub(super) fn sys_rt_sigprocmask(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [how, set, old, setsize] = a;
        if setsize != 8 {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let current = process.signals.blocked;
        let new = if set != 0 {
            let bytes = copy_in(machine, process, set, 8)?;
            let mask = word(&bytes, 0);
            Some(match how {
                SIG_BLOCK => current | mask,
                SIG_UNBLOCK => current & !mask,
                SIG_SETMASK => mask,
                _ => return Err(EINVAL),
            })
        } else {
            None
        };
        if old != 0 {
            copy_out(machine, process, old, &current.to_le_bytes())?;
        }
        if let Some(mask) = new {
            process.signals.set_blocked(mask);
        }
        Ok(Ret::Value(0))
    }

    /// rt_sigreturn() — called by the trampoline at the end of a handler:
    /// the registers and mask saved in the frame come back.
    pub(super) fn sys_rt_sigreturn(&mut self, machine: &mut Machine, pid: Pid) -> SysResult {
        match self.sigreturn(machine, pid) {
            Ok(()) => Ok(Ret::Resumed),
            Err(_) => {
                self.die_of_signal(
                    machine,
                    pid,
                    crate::kernel::signal::SIGSEGV,
                    "SIGSEGV: rt_sigreturn found no signal frame at the stack pointer",
                );
                Ok(Ret::Exited)
            }
        }
    }

    /// kill(pid, sig) → 0: to one process (pid > 0) or to the caller's
    /// own (0 or -1 are taken as the caller: sim has no process groups).
    /// Signal 0 checks that the target exists.
    pub(super) fn sys_kill(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        sig: u64,
    ) -> SysResult {
        let target = match target as i64 {
            t if t > 0 => Pid(t as u64),
            0 | -1 => pid,
            _ => return Err(EPERM),
        };
        let info = SigInfo {
            code: SI_USER,
            pid: pid.0,
            uid: crate::kernel::loader::GUEST_UID,
            addr: 0,
        };
        self.signal_call(machine, pid, target, sig, info)
    }

    /// tkill(tid, sig) / tgkill(tgid, tid, sig) → 0 (a thread is a
    /// process in sim: tid names it).
    pub(super) fn sys_tgkill(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        tid: u64,
        sig: u64,
    ) -> SysResult {
        if tid as i64 <= 0 {
            return Err(EINVAL);
        }
        let info = SigInfo {
            code: SI_TKILL,
            pid: pid.0,
            uid: crate::kernel::loader::GUEST_UID,
            addr: 0,
        };
        self.signal_call(machine, pid, Pid(tid), sig, info)
    }

    fn signal_call(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: Pid,
        sig: u64,
        info: SigInfo,
    ) -> SysResult {
        if sig > NSIG {
            return Err(EINVAL);
        }
        if self.processes.get(target).is_none_or(|p| p.is_zombie()) {
            return Err(ESRCH);
        }
        if sig == 0 {
            return Ok(Ret::Value(0));
        }
        if self.send_signal(machine, target, sig, info) && target == pid {
            return Ok(Ret::Exited);
        }
        Ok(Ret::Value(0))
    }

    /// sigaltstack(ss*, old*) → 0: accepted; handlers always run on the
    /// current stack (kernel/signal.rs). `old` says "disabled".
    pub(super) fn sys_sigaltstack(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        old: u64,
    ) -> SysResult {
        if old != 0 {
            let process = self.processes.get_mut(pid).ok_or(EFAULT)?;
            // stack_t: ss_sp, ss_flags (SS_DISABLE = 2), ss_size.
            let mut bytes = [0u8; 24];
            bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
            copy_out(machine, process, old, &bytes)?;
        }
        Ok(Ret::Value(0))
    }
}

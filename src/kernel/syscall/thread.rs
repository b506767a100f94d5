//! Thread calls: clone with `CLONE_THREAD` (pthread_create) and futex
//! (kernel/threads.rs has the model).
//!
//! ```text
//! clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|
//!       CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID,
//!       stack, parent_tid*, tls, child_tid*)
//!   a new context in the caller's thread group: the caller's registers,
//!   sp = stack, tp = tls, a0 = 0 in the new thread; the tid to
//!   *parent_tid; *child_tid is cleared (and a futex waiter woken) when
//!   the thread ends — pthread_join waits for that
//! futex(addr, op, val, timeout, addr2, val3)
//!   FUTEX_WAIT(_BITSET)  *addr == val: sleep until a wake; else EAGAIN
//!   FUTEX_WAKE(_BITSET)  wake up to val waiters → how many woke
//!   FUTEX_REQUEUE, FUTEX_CMP_REQUEUE: wake val, move up to val2 to addr2
//!   (the _PRIVATE variants alike; bitsets are taken as MATCH_ANY;
//!   a timeout is not armed: a waiter nobody wakes is a deadlock)
//! ```

use super::{finish, Ret, SysResult};
use crate::abi::{EAGAIN, EFAULT, EINVAL, ENOSYS, ESRCH};
use crate::emu::{Machine, Reg};
use crate::kernel::process::{Pid, ProcessState, WaitReason};
use crate::kernel::uaccess::{copy_in, copy_out};
use crate::kernel::Kernel;

pub const CLONE_VM: u64 = 0x100;
#[allow(dead_code)] // named in traces
pub const CLONE_FS: u64 = 0x200;
#[allow(dead_code)] // named in traces
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_THREAD: u64 = 0x1_0000;
#[allow(dead_code)] // named in traces
pub const CLONE_SYSVSEM: u64 = 0x4_0000;
pub const CLONE_SETTLS: u64 = 0x8_0000;
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
/// The command bits of `op` (without FUTEX_PRIVATE_FLAG 128 and
/// FUTEX_CLOCK_REALTIME 256).
const FUTEX_CMD_MASK: u64 = 0x7f;

impl Kernel {
    /// clone for a thread (module doc).
    pub(super) fn clone_thread(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 5],
    ) -> SysResult {
        let [flags, stack, parent_tid, tls, child_tid] = a;
        // A thread shares everything a thread shares (clone(2): THREAD
        // needs SIGHAND, which needs VM).
        let needed = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
        if flags & needed != needed || stack == 0 {
            return Err(EINVAL);
        }
        if self.processes.len() >= self.limits.processes {
            let limit = self.limits.processes as u64;
            self.report_limit(pid, "clone", "--max-processes", limit);
            return Err(EAGAIN);
        }
        let parent = self.processes.get(pid).ok_or(ESRCH)?;
        if parent.supervisor.is_some() {
            // The hypervisor's contexts stay one-thread processes.
            return Err(EINVAL);
        }
        let tid = self.new_pid();
        let parent = self.processes.get(pid).ok_or(ESRCH)?;
        let mut thread = self.new_process(tid, parent.name.clone(), parent.mode, None);
        thread.tgid = parent.tgid;
        thread.context = parent.context;
        thread.hart = parent.hart.clone();
        thread.signals.blocked = parent.signals.blocked;
        thread.signals.actions = parent.signals.actions;
        // Not shared yet: the state lives in the holder (threads.rs).
        thread.files = crate::kernel::files::FdTable::empty();
        finish(&mut thread.hart, 0);
        thread.hart.set_reg(Reg::SP.index(), stack);
        if flags & CLONE_SETTLS != 0 {
            thread.hart.set_reg(Reg::TP.index(), tls);
        }
        if flags & CLONE_CHILD_CLEARTID != 0 {
            thread.clear_child_tid = child_tid;
        }
        self.processes.insert(thread);
        self.add_thread(pid, tid);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let tid_bytes = (tid.0 as u32).to_le_bytes();
        if flags & CLONE_PARENT_SETTID != 0 {
            copy_out(machine, process, parent_tid, &tid_bytes)?;
        }
        if flags & CLONE_CHILD_SETTID != 0 {
            copy_out(machine, process, child_tid, &tid_bytes)?;
        }
        self.enqueue(tid);
        Ok(Ret::Value(tid.0))
    }

    /// futex(addr, op, val, timeout, addr2, val3) (module doc).
    pub(super) fn sys_futex(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 6]) -> SysResult {
        let [addr, op, val, count2, addr2, val3] = a;
        if !addr.is_multiple_of(4) {
            return Err(EINVAL);
        }
        let tgid = self.tgid_of(pid);
        let word = |kernel: &mut Kernel, machine: &mut Machine| -> Result<u32, crate::abi::Errno> {
            let process = kernel.processes.get_mut(pid).ok_or(ESRCH)?;
            let bytes = copy_in(machine, process, addr, 4)?;
            Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| EFAULT)?))
        };
        match op & FUTEX_CMD_MASK {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                if word(self, machine)? != val as u32 {
                    return Err(EAGAIN);
                }
                Ok(Ret::Pending(WaitReason::Futex(tgid, addr)))
            }
            FUTEX_WAKE | FUTEX_WAKE_BITSET => Ok(Ret::Value(self.futex_wake(
                tgid,
                addr,
                val.min(i32::MAX as u64),
            ))),
            cmd @ (FUTEX_REQUEUE | FUTEX_CMP_REQUEUE) => {
                if cmd == FUTEX_CMP_REQUEUE && word(self, machine)? != val3 as u32 {
                    return Err(EAGAIN);
                }
                let woken = self.futex_wake(tgid, addr, val.min(i32::MAX as u64));
                let from = WaitReason::Futex(tgid, addr);
                let moved = self
                    .processes
                    .pids_where(|p| p.state == ProcessState::Blocked(from));
                for waiter in moved.into_iter().take(count2.min(i32::MAX as u64) as usize) {
                    if let Some(p) = self.processes.get_mut(waiter) {
                        p.state = ProcessState::Blocked(WaitReason::Futex(tgid, addr2));
                    }
                }
                Ok(Ret::Value(woken))
            }
            _ => Err(ENOSYS),
        }
    }
}

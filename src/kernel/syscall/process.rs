//! Process calls: exit, exit_group, getpid, sched_yield, clone (as fork)
//! and wait4, with Linux's numbers and meanings.

use super::{finish, Ret, SysResult};
use crate::abi::layout::STACK_BOTTOM;
use crate::abi::{EAGAIN, ECHILD, EINVAL, ENOMEM, ESRCH};
use crate::emu::{Machine, PageTable};
use crate::kernel::paging::alloc_frame_for;
use crate::kernel::process::{ExitStatus, Pid, Process, WaitReason};
use crate::kernel::uaccess::copy_out;
use crate::kernel::Kernel;

/// `clone`'s flags for a plain fork: the signal sent to the parent when
/// the child ends.
const SIGCHLD: u64 = 17;

use super::thread::{CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_PARENT_SETTID, CLONE_THREAD};

/// `wait4`'s option: return 0 at once when no child has ended.
const WNOHANG: u64 = 1;

impl Kernel {
    /// exit(code) / exit_group(code): the process ends with `code & 0xff`.
    /// (The status word wait4 reports is 32 bits: ExitStatus::wait_status.)
    pub(super) fn sys_exit(&mut self, machine: &mut Machine, pid: Pid, code: u64) -> SysResult {
        self.exit(machine, pid, ExitStatus::Exited(code as u8));
        Ok(Ret::Exited)
    }

    /// exit(code) of one thread while others of its process live: only
    /// it ends (kernel/threads.rs); else as exit_group.
    pub(super) fn sys_exit_thread(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        code: u64,
    ) -> SysResult {
        if self.tgid_of(pid) != pid && !self.other_threads(pid).is_empty() {
            self.exit_thread(machine, pid);
            return Ok(Ret::Exited);
        }
        self.sys_exit(machine, pid, code)
    }

    /// getpid() → the caller's pid (its thread group's id).
    pub(super) fn sys_getpid(&mut self, pid: Pid) -> SysResult {
        Ok(Ret::Value(self.tgid_of(pid).0))
    }

    /// processes() → how many processes of this kernel have not ended, the
    /// caller included (sim's own call; assignments/add-syscall builds it).
    pub(super) fn sys_processes(&mut self) -> SysResult {
        // BEGIN SOLUTION add-syscall
        let live = self.processes.iter().filter(|p| !p.is_zombie()).count();
        Ok(Ret::Value(live as u64))
        // STUB
        // Err(crate::abi::ENOSYS)
        // END SOLUTION add-syscall
    }

    /// sched_yield() → 0; another process runs first.
    pub(super) fn sys_sched_yield(&mut self) -> SysResult {
        Ok(Ret::Yield)
    }

    /// clone(flags, stack, parent_tid*, tls, child_tid*) as fork: the
    /// flags of C*'s fork (`SIGCHLD`) and of glibc's (`SIGCHLD |
    /// CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID`: the child's tid goes to
    /// `*child_tid` in the child, which is cleared when it ends), with
    /// `CLONE_PARENT_SETTID` too; no new stack. The child gets a copy of
    /// every private page and shares what the shared-memory systems say is
    /// shared (kernel/shared.rs); it returns 0, the parent the child's pid.
    /// Other flags (threads: `CLONE_VM`, ...) are `EINVAL`.
    pub(super) fn sys_clone(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 6]) -> SysResult {
        let [flags, stack, parent_tid, tls, child_tid, _] = a;
        if flags & CLONE_THREAD != 0 {
            return self.clone_thread(machine, pid, [flags, stack, parent_tid, tls, child_tid]);
        }
        let fork_flags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID;
        if flags & !fork_flags != SIGCHLD || stack != 0 {
            return Err(EINVAL);
        }
        let parent = self.processes.get(pid).ok_or(ESRCH)?;
        // Linux's fork fails with EAGAIN at RLIMIT_NPROC (fork(2)); so
        // does the fork of a guest kernel's child beyond its contexts.
        if self.processes.len() >= self.limits.processes {
            let limit = self.limits.processes as u64;
            self.report_limit(pid, "fork", "--max-processes", limit);
            return Err(EAGAIN);
        }
        if parent
            .supervisor
            .is_some_and(|s| self.contexts_of(s) >= self.limits.contexts_per_kernel)
        {
            let limit = self.limits.contexts_per_kernel as u64;
            self.report_limit(pid, "fork", "--max-contexts", limit);
            return Err(EAGAIN);
        }
        let parent = self.processes.get(pid).ok_or(ESRCH)?;
        // Copy the address space eagerly; undo everything on ENOMEM.
        let shared = self.shared.shared_pages(pid);
        let memory = machine.memory_mut();
        let mut page_table = PageTable::new();
        // The stack's pages top first, as the loader and the page-fault
        // path map them: the child's stack keeps neighbouring frames
        // (`paging::alloc_frame_for`).
        let mut pages: Vec<_> = parent.page_table.entries().collect();
        let stack = pages.partition_point(|(page, _)| page.address() < STACK_BOTTOM);
        pages[stack..].reverse();
        for (page, pte) in pages {
            // Rule A.6: pages mapped onto an shm object are shared, not
            // copied; the object holds their frames.
            if shared.objects.contains(&page) {
                page_table.map(page, pte.frame, pte.flags);
                continue;
            }
            // Inter-VM blocks stay shared too, with one frame reference
            // per mapping (the rollback below drops it again).
            if shared.blocks.contains(&page) {
                memory.share(pte.frame);
                page_table.map(page, pte.frame, pte.flags);
                continue;
            }
            let Some(frame) = alloc_frame_for(memory, page) else {
                for (page, pte) in page_table.entries() {
                    if !shared.objects.contains(&page) {
                        memory.free(pte.frame);
                    }
                }
                return Err(ENOMEM);
            };
            memory.copy_frame(pte.frame, frame);
            page_table.map(page, frame, pte.flags);
        }
        let child_pid = self.new_pid();
        let parent = self.processes.get(pid).ok_or(ESRCH)?;
        // A fork of a guest kernel's child is a child of the same guest
        // kernel (it shows up in hv_children).
        let mut child = self.new_process(
            child_pid,
            parent.name.clone(),
            parent.mode,
            parent.supervisor,
        );
        child.hart = parent.hart.clone();
        // The child returns from the same ecall, with 0.
        finish(&mut child.hart, 0);
        child.page_table = page_table;
        // The process forked, not the thread: any thread may wait for it.
        child.parent = Some(self.tgid_of(pid));
        child.forked = true;
        child.regions = parent.regions.clone();
        child.heap_start = parent.heap_start;
        child.brk = parent.brk;
        // The same open-file descriptions, offsets shared (fork(2)).
        child.files = parent.files.clone();
        child.cwd = parent.cwd.clone();
        child.stats.peak_pages = parent.page_table.len() as u64;
        child.signals = parent.signals.clone();
        child.signals.pending = 0;
        child.umask = parent.umask;
        child.exe = parent.exe.clone();
        let leader = self.processes.get(self.tgid_of(pid)).unwrap_or(parent);
        (child.pgid, child.sid) = (leader.pgid, leader.sid);
        if flags & CLONE_CHILD_CLEARTID != 0 {
            child.clear_child_tid = child_tid;
        }
        if flags & CLONE_CHILD_SETTID != 0 {
            // In the child's own copy of the page.
            let _ = write_u32(machine, &mut child, child_tid, child_pid.0 as u32);
        }
        self.processes.insert(child);
        if flags & CLONE_PARENT_SETTID != 0 {
            if let Some(parent) = self.processes.get_mut(pid) {
                let _ = write_u32(machine, parent, parent_tid, child_pid.0 as u32);
            }
        }
        self.enqueue(child_pid);
        if self.shared.fork(pid, child_pid) {
            self.debug_check_shm(machine, "fork");
        }
        Ok(Ret::Value(child_pid.0))
    }

    /// wait4(pid or -1, status*, options) → the pid of an ended child,
    /// whose status (Linux's encoding) goes to `*status`; blocks until one
    /// ends, unless `WNOHANG`.
    pub(super) fn sys_wait4(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        status: u64,
        options: u64,
    ) -> SysResult {
        let group = self.tgid_of(pid);
        let want = if target as i64 == -1 {
            None
        } else {
            Some(Pid(target))
        };
        let children = self
            .processes
            .pids_where(|p| p.parent == Some(group) && want.is_none_or(|w| w == p.pid));
        if children.is_empty() {
            return Err(ECHILD);
        }
        let ended = children
            .iter()
            .copied()
            .find(|&c| self.processes.get(c).is_some_and(Process::is_zombie));
        let Some(child) = ended else {
            return if options & WNOHANG != 0 {
                Ok(Ret::Value(0))
            } else {
                Ok(Ret::Block(WaitReason::Child(want)))
            };
        };
        let exit_status = self
            .processes
            .get(child)
            .and_then(Process::exit_status)
            .map_or(0, ExitStatus::wait_status);
        if status != 0 {
            let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
            // `int *wstatus`: 32 bits.
            write_u32(machine, process, status, exit_status as u32)?;
        }
        // Reaped: the child no longer counts as this process's child, and
        // leaves the table unless someone else may still ask about it.
        if let Some(c) = self.processes.get_mut(child) {
            c.parent = None;
        }
        self.release(child);
        Ok(Ret::Value(child.0))
    }
}

/// Writes a 32-bit tid (the `pid_t` of clone's tid pointers).
fn write_u32(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    value: u32,
) -> Result<(), crate::abi::Errno> {
    copy_out(machine, process, vaddr, &value.to_le_bytes())
}

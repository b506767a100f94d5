//! How a process ends: `exit` (its own call, a kill, the end of its guest
//! kernel) frees what it holds and tells those who wait; `kill` says why
//! first. The beginning of a process is `Kernel::spawn` (mod.rs), fork is
//! syscall/process.rs, `hv_create` syscall/hypercalls.rs.
//!
//! ```text
//! exit(pid, status)
//!   SharedMemory::exit      leave every shm object and vmshm block first,
//!                           so that every frame the page table maps is private
//!   free those frames, drop the page table and the files; pid is a zombie
//!   orphan its children; end the contexts of a guest kernel with it
//!   wake a parent blocked in wait4 for it
//!   the last process of the VM: the VM's references to the host region go
//! ```

use super::files::FdTable;
use super::process::{ExitStatus, Pid, ProcessState, WaitReason};
use super::Kernel;
use crate::emu::{Machine, PageTable};

impl Kernel {
    /// Kills `pid` with `signal`, printing why.
    pub fn kill(&mut self, machine: &mut Machine, pid: Pid, signal: u8, why: &str) {
        let name = self
            .processes
            .get(pid)
            .map_or_else(String::new, |p| p.name.clone());
        self.report(&format!("process {pid} ({name}) killed: {why}"));
        self.exit(machine, pid, ExitStatus::Killed(signal));
    }

    /// Ends `pid`: frees its memory and files, wakes a waiting parent,
    /// orphans its children, ends a guest kernel's contexts with it.
    pub fn exit(&mut self, machine: &mut Machine, pid: Pid, status: ExitStatus) {
        // A process ends with all its threads; its first thread (the pid
        // its parent knows) carries the status (kernel/threads.rs).
        let pid = self.end_other_threads(machine, pid);
        let Some(process) = self.processes.get_mut(pid) else {
            return;
        };
        if process.is_zombie() {
            return;
        }
        let was_shm_client = self
            .shared
            .exit(machine.memory_mut(), pid, &mut process.page_table);
        self.report_vmshm();
        let Some(process) = self.processes.get_mut(pid) else {
            return;
        };
        if process.clear_child_tid != 0 {
            // set_tid_address/CLONE_CHILD_CLEARTID: the word becomes 0 (a
            // joiner waiting on it would be woken here).
            let at = process.clear_child_tid;
            let _ = super::uaccess::copy_out(machine, process, at, &0u32.to_le_bytes());
        }
        for (_, pte) in process.page_table.entries() {
            machine.memory_mut().free(pte.frame);
        }
        process.page_table = PageTable::new();
        process.files = FdTable::empty();
        process.pending_open = None;
        process.state = ProcessState::Zombie(status);
        let parent = process.parent;
        self.descheduled(pid);
        // Its children are orphans now: nobody can wait for them (Linux
        // hands them to init, which reaps them).
        let orphans = self.processes.pids_where(|c| c.parent == Some(pid));
        for child in orphans {
            if let Some(c) = self.processes.get_mut(child) {
                c.parent = None;
            }
            self.release(child);
        }
        // A guest kernel's contexts end with it (and only they: other VMs
        // and the host's other processes go on).
        let supervised = self
            .processes
            .pids_where(|c| c.supervisor == Some(pid) && !c.is_zombie());
        for child in supervised {
            self.exit(machine, child, ExitStatus::Killed(9));
        }
        if let Some(s) = self.processes.get(pid).and_then(|p| p.supervisor) {
            if let Some(s) = self.processes.get_mut(s) {
                if s.switched_to == Some(pid) {
                    s.switched_to = None;
                }
            }
        }
        if let Some(parent) = parent {
            if let Some(p) = self.processes.get(parent) {
                if let ProcessState::Blocked(WaitReason::Child(want)) = p.state {
                    if want.is_none() || want == Some(pid) {
                        // Let the parent retry its wait4 from the ecall.
                        self.make_ready(parent);
                    }
                }
            }
        }
        if !self.has_live_processes() {
            self.shared.vm_ended(machine.memory_mut());
            self.report_vmshm();
        }
        self.release(pid);
        if was_shm_client {
            self.debug_check(machine, "exit");
        }
    }

    /// Removes the ended process `pid` from the table once nobody can ask
    /// about it any more, so that the table holds what is alive plus what
    /// someone may still collect (and the host's memory stays bounded):
    ///
    /// - a parent may still `wait4` for it: it stays until reaped;
    /// - a context a guest kernel made itself (`hv_create`, a `-u` under
    ///   `-k`): the guest kernel may still ask (`hv_status` says
    ///   `HV_STATUS_EXITED`, `hv_get_reg` the exit code), so it stays until
    ///   `hv_delete` or the guest kernel's own removal (`remove_context`);
    /// - the host started it (`-u`, `-k`, `load_elf`): it stays, for sim's
    ///   exit code, `--stats` and the tests that look at it after the run.
    ///
    /// Anything else — reaped, or an orphan that ended, forks of a guest
    /// kernel's children included — goes now.
    pub(crate) fn release(&mut self, pid: Pid) {
        let removable = self.processes.get(pid).is_some_and(|p| {
            p.is_zombie() && p.parent.is_none() && !p.started_by_host && !p.kept_for_its_kernel()
        });
        if removable {
            // With it go the contexts it made as a guest kernel: they
            // ended with it (`exit`), and nobody is left to ask about them.
            self.remove_context(pid);
        }
    }

    /// Ends every context `kernel` supervises and removes them all: for a
    /// thread that made contexts and leaves the table without `exit`.
    pub(crate) fn end_contexts_of(&mut self, machine: &mut Machine, kernel: Pid) {
        let live = self
            .processes
            .pids_where(|c| c.supervisor == Some(kernel) && !c.is_zombie());
        for child in live {
            self.exit(machine, child, ExitStatus::Killed(9));
        }
        for child in self.processes.pids_where(|c| c.supervisor == Some(kernel)) {
            self.remove_context(child);
        }
    }

    /// Removes the ended context `pid` (hv_delete) and, with it, every
    /// ended context it supervised, and releases its children that ended.
    pub(crate) fn remove_context(&mut self, pid: Pid) {
        let mut doomed = vec![pid];
        while let Some(pid) = doomed.pop() {
            if !self.processes.get(pid).is_some_and(|p| p.is_zombie()) {
                continue;
            }
            self.processes.remove(pid);
            doomed.extend(
                self.processes
                    .pids_where(|c| c.supervisor == Some(pid) && c.is_zombie()),
            );
            // Its forks were its children: orphans already (exit).
        }
    }

    /// How many contexts the guest kernel `kernel` supervises (ended ones
    /// it has not deleted included): the `--max-contexts` count.
    pub(crate) fn contexts_of(&self, kernel: Pid) -> usize {
        self.processes
            .iter()
            .filter(|p| p.supervisor == Some(kernel))
            .count()
    }
}

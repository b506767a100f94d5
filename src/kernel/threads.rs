//! Threads: several schedulable contexts that share one address space,
//! descriptor table, working directory and signal handlers (clone with
//! `CLONE_VM | CLONE_THREAD | ...`, as glibc's pthread_create makes them).
//!
//! Each thread is a `Process` of its own (hart, state, tid = its pid, the
//! blocked mask and pending signals); `tgid` names its thread group, whose
//! id is the pid of the first thread (getpid returns it, gettid the
//! thread's own). What the threads share lives in exactly one of them at
//! a time, the group's *holder*: the one that runs now or ran last.
//!
//! ```text
//! Kernel::activate(pid)   before the machine runs pid (simulator/run.rs):
//!                         the group's shared state moves from the holder
//!                         into pid (a handful of moves, no copies), so
//!                         the run loop and every call see it in the usual
//!                         fields of the running process
//! shared state            page_table, regions, heap_start, brk, files,
//!                         cwd, umask, exe, signal dispositions, limits
//! exit of one thread      (SYS_EXIT) *clear_child_tid = 0, futex wake on
//!                         it (pthread_join), the state moves to another
//!                         thread, the thread leaves the table
//! exit_group, a fatal     every thread ends; the leader (tgid) ends with
//! signal, a kill          the status, as its parent expects (lifecycle.rs)
//! ```
//!
//! The TLB context id belongs to the group (threads share translations);
//! the page table keeps its generation when it moves, so no flush is due.
//! Threads are not children anyone waits for. The shared-memory systems
//! and the hypervisor's contexts know processes only: their calls from a
//! thread other than the first are not supported.
//!
//! futex (syscall/thread.rs): a waiter sleeps on `WaitReason::Futex(tgid,
//! addr)`; FUTEX_WAKE wakes waiters in pid order (deterministic).

use std::collections::BTreeMap;

use super::process::{Pid, Process, ProcessState, WaitReason};
use super::Kernel;
use crate::emu::Machine;

/// The threads of one group, with who holds the shared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadGroup {
    /// The live threads, the leader first.
    pub threads: Vec<Pid>,
    /// The thread whose fields hold the shared state (module doc).
    pub holder: Pid,
}

/// Every group with more than one thread, by tgid.
pub type ThreadGroups = BTreeMap<Pid, ThreadGroup>;

/// The state threads share, while it moves from one thread to another.
struct SharedState {
    page_table: crate::emu::PageTable,
    regions: Vec<super::process::Region>,
    heap_start: u64,
    brk: u64,
    files: super::files::FdTable,
    cwd: std::path::PathBuf,
    umask: u64,
    exe: String,
    max_mapped_pages: u64,
    actions: [super::signal::SigAction; super::signal::NSIG as usize],
}

/// Takes the shared state out of `from` (leaving it empty).
fn take_shared(from: &mut Process) -> SharedState {
    SharedState {
        page_table: std::mem::take(&mut from.page_table),
        regions: std::mem::take(&mut from.regions),
        heap_start: from.heap_start,
        brk: from.brk,
        files: std::mem::replace(&mut from.files, super::files::FdTable::empty()),
        cwd: std::mem::take(&mut from.cwd),
        umask: from.umask,
        exe: std::mem::take(&mut from.exe),
        max_mapped_pages: from.max_mapped_pages,
        actions: from.signals.actions,
    }
}

/// Puts the shared state into `to`.
fn give_shared(to: &mut Process, state: SharedState) {
    to.page_table = state.page_table;
    to.regions = state.regions;
    to.heap_start = state.heap_start;
    to.brk = state.brk;
    to.files = state.files;
    to.cwd = state.cwd;
    to.umask = state.umask;
    to.exe = state.exe;
    to.max_mapped_pages = state.max_mapped_pages;
    to.signals.actions = state.actions;
}

impl Kernel {
    /// The thread group of `pid` (its own pid for a one-thread process).
    pub fn tgid_of(&self, pid: Pid) -> Pid {
        self.processes.get(pid).map_or(pid, |p| p.tgid)
    }

    /// Makes `pid` hold its group's shared state (module doc); nothing
    /// for a one-thread process. The run loop calls it before running
    /// `pid`; a library user inspecting a thread may call it too.
    #[inline]
    pub fn activate(&mut self, pid: Pid) {
        // No process has a second thread (the common case, checked before
        // every run and every exception): nothing to look up.
        if !self.thread_groups.is_empty() {
            self.activate_thread(pid);
        }
    }

    /// `activate` when some process has threads.
    fn activate_thread(&mut self, pid: Pid) {
        let tgid = self.tgid_of(pid);
        let Some(group) = self.thread_groups.get_mut(&tgid) else {
            return;
        };
        let holder = group.holder;
        if holder == pid {
            return;
        }
        group.holder = pid;
        self.move_shared(holder, pid);
    }

    /// Moves the shared state from thread `from` to thread `to`.
    fn move_shared(&mut self, from: Pid, to: Pid) {
        let Some(state) = self.processes.get_mut(from).map(take_shared) else {
            return;
        };
        if let Some(to) = self.processes.get_mut(to) {
            give_shared(to, state);
        }
    }

    /// Records the new thread `child` of `parent`'s group.
    pub(crate) fn add_thread(&mut self, parent: Pid, child: Pid) {
        let tgid = self.tgid_of(parent);
        let group = self.thread_groups.entry(tgid).or_insert(ThreadGroup {
            threads: vec![tgid],
            holder: parent,
        });
        group.threads.push(child);
    }

    /// The other live threads of `pid`'s group.
    pub(crate) fn other_threads(&self, pid: Pid) -> Vec<Pid> {
        let tgid = self.tgid_of(pid);
        self.thread_groups
            .get(&tgid)
            .map(|g| g.threads.iter().copied().filter(|&t| t != pid).collect())
            .unwrap_or_default()
    }

    /// `pid` ends alone (exit of a thread while others live): its
    /// `clear_child_tid` word is zeroed and a joiner woken, the shared
    /// state moves to another thread, and `pid` leaves the table.
    pub(crate) fn exit_thread(&mut self, machine: &mut Machine, pid: Pid) {
        self.activate(pid);
        let tgid = self.tgid_of(pid);
        if let Some(process) = self.processes.get_mut(pid) {
            let at = process.clear_child_tid;
            if at != 0 {
                let _ = super::uaccess::copy_out(machine, process, at, &0u32.to_le_bytes());
                self.futex_wake(tgid, at, 1);
            }
        }
        let Some(group) = self.thread_groups.get_mut(&tgid) else {
            return;
        };
        group.threads.retain(|&t| t != pid);
        let heir = group.threads[0];
        group.holder = heir;
        if group.threads.len() == 1 {
            self.thread_groups.remove(&tgid);
        }
        self.move_shared(pid, heir);
        self.end_contexts_of(machine, pid);
        self.processes.remove(pid);
        self.descheduled(pid);
    }

    /// Ends every thread of `pid`'s group but the leader, which then holds
    /// the shared state; returns the leader (exit_group, a fatal signal).
    pub(crate) fn end_other_threads(&mut self, machine: &mut Machine, pid: Pid) -> Pid {
        let tgid = self.tgid_of(pid);
        let Some(group) = self.thread_groups.get(&tgid).cloned() else {
            return pid;
        };
        self.activate(tgid);
        for &t in &group.threads {
            if t != tgid {
                self.end_contexts_of(machine, t);
                self.processes.remove(t);
                self.descheduled(t);
            }
        }
        self.thread_groups.remove(&tgid);
        tgid
    }

    /// Wakes up to `count` threads of group `tgid` waiting on the futex at
    /// `addr`, in pid order; returns how many woke (each returns 0).
    pub(crate) fn futex_wake(&mut self, tgid: Pid, addr: u64, count: u64) -> u64 {
        let reason = WaitReason::Futex(tgid, addr);
        let waiters = self
            .processes
            .pids_where(|p| p.state == ProcessState::Blocked(reason));
        let mut woken = 0;
        for pid in waiters.into_iter().take(count as usize) {
            self.finish_pending(pid, reason, crate::abi::SYS_FUTEX, &[], Ok(0));
            woken += 1;
        }
        woken
    }
}

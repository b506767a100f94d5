//! `ProcessTable`: the processes of one kernel, in the order they were
//! created (which is pid order: pids only grow), so that dumps, `--stats`
//! and `hv_children` list them the same way on every run.

use std::cell::Cell;

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use super::process::{Pid, Process};
use crate::shm::ProcessView;

/// The processes of one kernel, ended ones included until they are
/// reaped.
///
/// Hashed with FxHash rather than the default SipHash: the table is looked
/// up several times per syscall (a guest kernel's hypercalls touch the
/// caller and its child), pids are not attacker-chosen keys that need
/// flooding protection, and SipHash made half of a hypercall's host time.
///
/// One exception looks its process up some seven times (the run loop, the
/// hypervisor's routing, the kernel, the syscall layer, the call itself),
/// so the table remembers where the last process it found sits and looks
/// there first: a comparison instead of a hash lookup. The hint is only a
/// guess, checked every time, so a removal that moves processes never
/// makes a lookup wrong.
#[derive(Default)]
pub struct ProcessTable {
    by_pid: IndexMap<Pid, Process, FxBuildHasher>,
    /// Where the process found last sits in `by_pid`, probably.
    hint: Cell<usize>,
}

impl ProcessTable {
    #[inline]
    pub fn get(&self, pid: Pid) -> Option<&Process> {
        let index = self.index_of(pid)?;
        self.by_pid.get_index(index).map(|(_, process)| process)
    }

    #[inline]
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        let index = self.index_of(pid)?;
        self.by_pid.get_index_mut(index).map(|(_, process)| process)
    }

    /// Where `pid` sits in `by_pid`: at the hint, or where the hash says.
    #[inline]
    fn index_of(&self, pid: Pid) -> Option<usize> {
        let hint = self.hint.get();
        if self
            .by_pid
            .get_index(hint)
            .is_some_and(|(&at, _)| at == pid)
        {
            return Some(hint);
        }
        let index = self.by_pid.get_index_of(&pid)?;
        self.hint.set(index);
        Some(index)
    }

    /// Adds a new process (its pid is larger than every pid so far).
    pub fn insert(&mut self, process: Process) {
        debug_assert!(
            self.by_pid
                .last()
                .is_none_or(|(&last, _)| last < process.pid),
            "ProcessTable::insert: pid {} is not the newest",
            process.pid
        );
        self.by_pid.insert(process.pid, process);
    }

    /// Takes an ended process out of the table (lifecycle.rs `release`),
    /// keeping the others in creation order.
    pub fn remove(&mut self, pid: Pid) -> Option<Process> {
        self.by_pid.shift_remove(&pid)
    }

    /// Every process, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.by_pid.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        self.by_pid.values_mut()
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    /// The pids of the processes `keep` selects, in creation order.
    pub fn pids_where(&self, keep: impl Fn(&Process) -> bool) -> Vec<Pid> {
        self.iter().filter(|p| keep(p)).map(|p| p.pid).collect()
    }

    /// What the shm invariants need to know of every process.
    pub fn views(&self) -> Vec<ProcessView<'_>> {
        self.iter()
            .map(|p| ProcessView {
                pid: p.pid,
                live: !p.is_zombie(),
                page_table: &p.page_table,
            })
            .collect()
    }
}

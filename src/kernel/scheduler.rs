//! The scheduler: a round-robin ready queue of the kernel's roots.
//!
//! Only processes the host kernel supervises enter the queue: a guest
//! kernel's children run when their kernel switches to them (rule U/K-5).
//! The running process is `current` and not in the queue; the simulator's
//! run loop asks `schedule` for the next one when `current` is `None`
//! (the time slice ended, the process blocked or ended).

use super::process::{Pid, ProcessState};
use super::Kernel;

impl Kernel {
    /// Picks the next ready process (round robin) and makes it current.
    ///
    /// **Extension point (coursework):** the scheduling policy. A course
    /// can ask for priorities, lottery or multi-level feedback scheduling
    /// here: the ready queue, each process's statistics and the quantum
    /// (`Simulator`'s `--quantum`) are all in reach; tests compare the
    /// interleaving with `--quantum 1`.
    pub fn schedule(&mut self) -> Option<Pid> {
        while let Some(pid) = self.ready.pop_front() {
            if self
                .processes
                .get(pid)
                .is_some_and(|p| p.state == ProcessState::Ready)
            {
                self.current = Some(pid);
                return Some(pid);
            }
        }
        self.current = None;
        None
    }

    /// The process the machine runs now (a root), if any.
    pub fn current(&self) -> Option<Pid> {
        self.current
    }

    /// The slice of the running root ended: the run loop schedules anew.
    pub(crate) fn end_slice(&mut self) {
        self.current = None;
    }

    /// The running root stops running (it blocked, ended, or its slice is
    /// over): the run loop schedules another.
    pub(crate) fn descheduled(&mut self, pid: Pid) {
        if self.current == Some(pid) {
            self.current = None;
        }
    }

    /// Makes a blocked process ready again (once: a process that is not
    /// blocked is already in the ready queue, or ended).
    pub(crate) fn make_ready(&mut self, pid: Pid) {
        if let Some(p) = self.processes.get_mut(pid) {
            if !matches!(p.state, ProcessState::Blocked(_)) {
                return;
            }
            p.state = ProcessState::Ready;
            self.enqueue(pid);
        }
    }

    /// Puts `pid` at the back of the ready queue, unless a guest kernel
    /// supervises it: such a context runs only when its kernel switches to
    /// it (rule U/K-5).
    pub(crate) fn enqueue(&mut self, pid: Pid) {
        if self
            .processes
            .get(pid)
            .is_some_and(|p| p.supervisor.is_none())
        {
            self.ready.push_back(pid);
        }
    }

    /// Ends the time slice of the running root `pid`: it goes to the back
    /// of the ready queue and the run loop schedules another.
    pub fn preempt(&mut self, pid: Pid) {
        self.enqueue(pid);
        self.descheduled(pid);
    }
}

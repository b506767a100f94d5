//! The built-in kernel: processes, the scheduler, syscalls and paging.
//!
//! Control enters through `Kernel::handle` with the exception a process
//! raised (the simulator's run loop calls it, rule U/K-2 for children of
//! the host) and leaves with a `Next`: keep running the same process, or
//! pick another with `Kernel::schedule`.
//!
//! ```text
//! handle(pid, exception)
//!   Syscall     → syscall.rs: sys_<name>, result in a0, pc += 4
//!   PageFault   → paging.rs: back stack/heap/bss on demand, or kill
//!   Timer       → end of quantum: back of the ready queue
//!   other       → kill the process with a message naming pc, address, reason
//! ```
//!
//! Main types: `Kernel`, `Process` (process.rs), `LoadedImage` (loader.rs).
//! Guest pointers are only touched through uaccess.rs.

pub mod files;
pub mod layout;
pub mod loader;
pub mod paging;
pub mod process;
pub(crate) mod syscall;
pub mod uaccess;

use std::collections::{BTreeMap, VecDeque};

use crate::emu::{Exception, Hart, Machine, Reg};
use crate::rshm::RshmClient;
use crate::shm::ShmTable;
use crate::vmshm::ClientDaemon;
pub use files::{Console, Input, Output};
pub use loader::LoadError;
pub use process::{ExitStatus, Mode, Pid, Process, ProcessState, ProcessStats, WaitReason};

/// What the run loop does after the kernel handled an exception.
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Next {
    /// Keep running the same process (its quantum goes on).
    Continue,
    /// Pick the next process to run.
    Reschedule,
}

/// One kernel (one VM): its processes and scheduler.
pub struct Kernel {
    pub processes: BTreeMap<Pid, Process>,
    /// Ready processes in round-robin order (the running one is not in it).
    ready: VecDeque<Pid>,
    next_pid: u64,
    /// The process the machine runs now, if any.
    pub current: Option<Pid>,
    pub console: Console,
    /// Print every syscall with its arguments and result (`--trace-syscalls`).
    pub trace_syscalls: bool,
    /// The first process started: its exit code is `sim`'s.
    pub first: Option<Pid>,
    /// Distinguishes this kernel's contexts from other kernels' in the TLB
    /// (the VM id).
    pub id: u64,
    /// Other VMs' kernels use frames of the same machine (set by the
    /// simulator): this kernel sees only its own.
    pub shares_machine: bool,
    /// This kernel's named shared memory (spec/shm.md): one table per
    /// kernel, so that each VM has its own names.
    pub shm: ShmTable,
    /// Print the shm list after every shm call that succeeded
    /// (`--dump-shm`).
    pub dump_shm: bool,
    /// The client daemon of inter-VM shared memory (spec/vmshm.md): this
    /// VM's side of the host daemon.
    pub vmshm: ClientDaemon,
    /// Set when a vm_* call succeeded or an exit closed something, so that
    /// `--dump-vmshm` can print the region (the run loop clears it).
    pub vmshm_changed: bool,
    /// Print the host region after every vm_* call that changed it and at
    /// exit (`--dump-vmshm`).
    pub vmshm_dump: bool,
    /// The queues to this node's rshm server (spec/rshm.md), when the
    /// kernel runs as a `sim node`; without one the rshm calls are ENOSYS.
    pub rshm: Option<RshmClient>,
}

impl Kernel {
    pub fn new(console: Console) -> Kernel {
        Kernel {
            processes: BTreeMap::new(),
            ready: VecDeque::new(),
            next_pid: 1,
            current: None,
            console,
            trace_syscalls: false,
            first: None,
            id: 0,
            shares_machine: false,
            shm: ShmTable::new(),
            dump_shm: false,
            vmshm: ClientDaemon::new(0),
            vmshm_changed: false,
            vmshm_dump: false,
            rshm: None,
        }
    }

    /// Prints a message of the simulator's own: to stderr, prefixed `sim:`.
    pub fn report(&mut self, message: &str) {
        self.console
            .write_stderr(format!("sim: {message}\n").as_bytes());
    }

    pub(crate) fn new_pid(&mut self) -> Pid {
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        pid
    }

    /// The TLB context id of `pid`: `(vm id << 32) | pid`, unique among all
    /// contexts of the machine.
    pub(crate) fn context_of(&self, pid: Pid) -> u64 {
        (self.id << 32) | pid.0
    }

    /// Loads an ELF executable as a new ready process, a child of the host.
    ///
    /// # Errors
    /// Why the file was refused, or that memory ran out.
    pub fn spawn(
        &mut self,
        machine: &mut Machine,
        elf: &[u8],
        args: &[String],
    ) -> Result<Pid, LoadError> {
        self.spawn_context(machine, elf, args, Mode::User, None)
    }

    /// Loads an ELF executable as a new context in `mode`, a child of
    /// `supervisor` (a guest kernel of this kernel) or of the host (`None`).
    ///
    /// # Errors
    /// Why the file was refused, or that memory ran out; also `NoSupervisor`
    /// when `supervisor` is not a live kernel-mode process.
    pub fn spawn_context(
        &mut self,
        machine: &mut Machine,
        elf: &[u8],
        args: &[String],
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Result<Pid, LoadError> {
        if let Some(s) = supervisor {
            if !self
                .processes
                .get(&s)
                .is_some_and(|p| p.mode == Mode::Kernel && !p.is_zombie())
            {
                return Err(LoadError::NoSupervisor(s.0));
            }
        }
        let image = loader::load(machine, elf, args)?;
        let pid = self.new_pid();
        let mut hart = Hart::default();
        hart.pc = image.entry;
        hart.set_reg(Reg::SP.index(), image.stack_pointer);
        let name = args.first().cloned().unwrap_or_else(|| "?".into());
        let page_count = image.page_table.len() as u64;
        let process = Process {
            pid,
            name,
            context: self.context_of(pid),
            hart,
            page_table: image.page_table,
            state: ProcessState::Ready,
            parent: None,
            regions: image.regions,
            heap_start: image.heap_start,
            brk: image.heap_start,
            files: files::FdTable::default(),
            stats: ProcessStats {
                peak_pages: page_count,
                ..Default::default()
            },
            mode,
            supervisor,
            pending: None,
            switched_to: None,
        };
        self.processes.insert(pid, process);
        self.enqueue(pid);
        self.first.get_or_insert(pid);
        Ok(pid)
    }

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
                .get(&pid)
                .is_some_and(|p| p.state == ProcessState::Ready)
            {
                self.current = Some(pid);
                return Some(pid);
            }
        }
        self.current = None;
        None
    }

    /// Whether some process has not ended.
    pub fn has_live_processes(&self) -> bool {
        self.processes.values().any(|p| !p.is_zombie())
    }

    pub(crate) fn make_ready(&mut self, pid: Pid) {
        if let Some(p) = self.processes.get_mut(&pid) {
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
            .get(&pid)
            .is_some_and(|p| p.supervisor.is_none())
        {
            self.ready.push_back(pid);
        }
    }

    /// Ends the time slice of the running root `pid`: it goes to the back
    /// of the ready queue and the run loop schedules another.
    pub fn preempt(&mut self, pid: Pid) {
        self.enqueue(pid);
        if self.current == Some(pid) {
            self.current = None;
        }
    }

    /// Handles the exception `pid` raised.
    pub fn handle(&mut self, machine: &mut Machine, pid: Pid, exception: Exception) -> Next {
        let Some(process) = self.processes.get_mut(&pid) else {
            return Next::Reschedule;
        };
        *process
            .stats
            .exceptions
            .entry(exception.kind())
            .or_default() += 1;
        match exception {
            Exception::Timer => {
                self.preempt(pid);
                Next::Reschedule
            }
            Exception::Syscall => self.syscall(machine, pid),
            Exception::PageFault { vaddr, access } => {
                process.stats.page_faults += 1;
                match paging::back_on_demand(machine, process, vaddr) {
                    Ok(()) => Next::Continue,
                    Err(reason) => {
                        let pc = process.hart.pc;
                        let reason = if reason == paging::FaultReason::NotPermitted
                            && access == crate::emu::Access::Write
                            && self.vmshm.is_read_only(pid, vaddr)
                        {
                            "inter-VM shared memory opened read-only (spec/vmshm.md: a store \
                             through a read-only mapping kills the storing process)"
                                .to_string()
                        } else {
                            reason.to_string()
                        };
                        self.kill(
                            machine,
                            pid,
                            11,
                            &format!("{access} at address {vaddr:#x} (pc {pc:#x}): {reason}"),
                        );
                        Next::Reschedule
                    }
                }
            }
            Exception::IllegalInstruction { pc, bits } => {
                self.kill(
                    machine,
                    pid,
                    4,
                    &format!("illegal instruction {bits:#010x} at pc {pc:#x}"),
                );
                Next::Reschedule
            }
            Exception::Misaligned { vaddr, access } => {
                let pc = process.hart.pc;
                self.kill(
                    machine,
                    pid,
                    7,
                    &format!("misaligned atomic {access} at address {vaddr:#x} (pc {pc:#x})"),
                );
                Next::Reschedule
            }
            Exception::Breakpoint { pc } => {
                self.kill(
                    machine,
                    pid,
                    5,
                    &format!("breakpoint (ebreak) at pc {pc:#x}"),
                );
                Next::Reschedule
            }
            Exception::PrivilegeViolation { pc, call } => {
                self.kill(
                    machine,
                    pid,
                    4,
                    &format!(
                        "rule U/K-3 broken: hypercall {} ({call}) from user mode at pc {pc:#x}; only kernel-mode contexts may use hypercalls",
                        crate::abi::call_name(call)
                    ),
                );
                Next::Reschedule
            }
        }
    }

    /// Kills `pid` with `signal`, printing why.
    pub fn kill(&mut self, machine: &mut Machine, pid: Pid, signal: u8, why: &str) {
        let name = self
            .processes
            .get(&pid)
            .map_or_else(String::new, |p| p.name.clone());
        self.report(&format!("process {pid} ({name}) killed: {why}"));
        self.exit(machine, pid, ExitStatus::Killed(signal));
    }

    /// Ends `pid`: frees its memory and files, wakes a waiting parent,
    /// orphans its children.
    pub fn exit(&mut self, machine: &mut Machine, pid: Pid, status: ExitStatus) {
        let Some(process) = self.processes.get_mut(&pid) else {
            return;
        };
        if process.is_zombie() {
            return;
        }
        // Rule A.5: leave every shm object first; afterwards every frame
        // the page table maps is private to this process, so the loop
        // below frees exactly what it owns.
        let was_client = self.shm.is_client_anywhere(pid);
        if was_client {
            self.shm
                .exit(machine.memory_mut(), pid, &mut process.page_table);
        }
        // spec/vmshm.md: a process that exits closes all it opened. The
        // host region's frames are the host daemon's: unmap them before
        // the loop below frees what the page table maps.
        if self.vmshm.is_user(pid) {
            self.vmshm.exit(machine, pid, &mut process.page_table);
            self.vmshm_changed = true;
            self.report_vmshm();
        }
        let Some(process) = self.processes.get_mut(&pid) else {
            return;
        };
        for (_, pte) in process.page_table.entries() {
            machine.memory_mut().free(pte.frame);
        }
        process.page_table = crate::emu::PageTable::new();
        process.files = files::FdTable::default();
        process.state = ProcessState::Zombie(status);
        let parent = process.parent;
        if self.current == Some(pid) {
            self.current = None;
        }
        for child in self.processes.values_mut() {
            if child.parent == Some(pid) {
                child.parent = None;
            }
        }
        // A guest kernel's contexts end with it (and only they: other VMs
        // and the host's other processes go on).
        let supervised: Vec<Pid> = self
            .processes
            .values()
            .filter(|c| c.supervisor == Some(pid) && !c.is_zombie())
            .map(|c| c.pid)
            .collect();
        for child in supervised {
            self.exit(machine, child, ExitStatus::Killed(9));
        }
        if let Some(s) = self.processes.get(&pid).and_then(|p| p.supervisor) {
            if let Some(s) = self.processes.get_mut(&s) {
                if s.switched_to == Some(pid) {
                    s.switched_to = None;
                }
            }
        }
        if let Some(parent) = parent {
            if let Some(p) = self.processes.get(&parent) {
                if let ProcessState::Blocked(WaitReason::Child(want)) = p.state {
                    if want.is_none() || want == Some(pid) {
                        // Let the parent retry its wait4 from the ecall.
                        self.make_ready(parent);
                    }
                }
            }
        }
        if was_client {
            self.debug_check_shm(machine, "exit");
            // Its rshm attachments no longer count (spec/rshm.md ref_count).
            self.rshm_refs_changed();
        }
        if !self.has_live_processes() {
            // spec/vmshm.md: a VM that ends drops all its references.
            self.vmshm.vm_ended(machine);
            self.report_vmshm();
        }
    }

    /// Prints the client daemon's messages (`--trace-daemon`).
    pub(crate) fn report_vmshm(&mut self) {
        for line in self.vmshm.take_log() {
            self.report(&line);
        }
    }

    /// The host daemon says `pid` may go on (a peer connected or closed,
    /// or went away): a process blocked in vm_listen or vm_disconnect
    /// becomes ready and repeats its call. Anything else ignores it (the
    /// process ended, or it is a guest kernel's child, which retries when
    /// its kernel switches to it).
    pub fn vmshm_notice(&mut self, notice: crate::vmshm::Notice) {
        if self.vmshm.trace {
            self.report(&format!("daemon: host → {}: {notice}", notice.vm));
        }
        let blocked = self
            .processes
            .get(&notice.pid)
            .is_some_and(|p| matches!(p.state, ProcessState::Blocked(WaitReason::VmShm(_))));
        if blocked {
            self.make_ready(notice.pid);
        }
    }

    /// The shm invariants of spec/shm.md (see shm/invariants.rs).
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check_shm_invariants(&self, machine: &Machine) -> Result<(), String> {
        crate::shm::check_invariants(
            &self.shm,
            &self.processes,
            machine.memory(),
            // The host region of spec/vmshm.md is reserved from the same
            // frames: those no process maps belong to neither side.
            self.shares_machine || self.vmshm.region_reserved(),
        )
    }

    /// In debug builds, panics when an shm invariant is broken after
    /// `call`: that is a kernel bug, whatever the guest did.
    pub(crate) fn debug_check_shm(&self, machine: &Machine, call: &str) {
        if cfg!(debug_assertions) {
            if let Err(broken) = self.check_shm_invariants(machine) {
                panic!("{call}: shm invariant broken: {broken}");
            }
        }
    }

    /// Kills every blocked process when nothing can run any more (each waits
    /// for something that cannot happen). Returns whether any was killed,
    /// or whether the network may have woken one: a process that waits for
    /// the rshm server is not deadlocked, so then the kernel waits a while
    /// for the server instead (rshm/syscalls.rs `wait_rshm`).
    pub fn break_deadlock(&mut self, machine: &mut Machine) -> bool {
        if self.waits_on_network() {
            self.wait_rshm(machine);
            return true;
        }
        let blocked: Vec<Pid> = self
            .processes
            .values()
            .filter(|p| matches!(p.state, ProcessState::Blocked(_)))
            .map(|p| p.pid)
            .collect();
        for &pid in &blocked {
            self.kill(
                machine,
                pid,
                9,
                "deadlock: blocked with no process left to wake it",
            );
        }
        !blocked.is_empty()
    }

    /// The exit code of the first process, once it has ended.
    pub fn first_exit_code(&self) -> Option<i32> {
        let pid = self.first?;
        self.processes
            .get(&pid)?
            .exit_status()
            .map(ExitStatus::exit_code)
    }
}

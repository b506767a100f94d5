//! The built-in kernel: processes, the scheduler, the syscall layer,
//! paging, and the shared-memory systems it hosts.
//!
//! Control enters through `Kernel::handle` with the exception a process
//! raised (the hypervisor delivers it here for the host kernel's own
//! processes, rule U/K-2, and hypercalls of kernel-mode contexts go
//! straight to `Kernel::syscall`) and leaves with a `Next`: keep running
//! the same process, or pick another with `Kernel::schedule`.
//!
//! ```text
//! handle(pid, exception)
//!   Syscall     → syscall/: one dispatcher, sys_<name>, finish (a0, pc += 4)
//!   PageFault   → paging.rs: back stack/heap/bss/mmap on demand, or a
//!                 SIGSEGV handler (signal.rs), or kill
//!   Timer       → end of quantum: back of the ready queue
//!   other       → kill the process with a message naming pc, address, reason
//! ```
//!
//! | file | what |
//! |---|---|
//! | process.rs | `Process`: one thread: registers, page table, state, files, place in the context tree |
//! | threads.rs | thread groups: threads share what the running one holds (address space, files, handlers) |
//! | signal.rs | Linux signals: dispositions, mask, pending, default actions, the handler frame |
//! | clock.rs | the guests' clock: virtual (1 ns per instruction) or the host's |
//! | processes.rs | `ProcessTable`: the kernel's processes in creation order |
//! | scheduler.rs | round-robin ready queue of the roots (U/K-5) |
//! | lifecycle.rs | `exit` and `kill`: what ending a process frees and wakes |
//! | syscall/ | the one syscall layer: dispatch, results, trace, one file per family |
//! | shared.rs | `SharedMemory`: shm, vmshm and rshm as one part of the kernel |
//! | paging.rs | demand paging and where shared mappings go |
//! | uaccess.rs | the one choke point between guest pointers and host bytes |
//! | loader.rs | ELF loading and the Linux initial stack |
//! | files.rs | descriptor tables, open-file descriptions and the console |
//! | fs.rs | the root directory every guest path is resolved in (`--root`, cap-std) |
//! | invariants.rs | every kind of sharing and the process table, checked after every call in debug builds |
//! | hostio.rs | reader threads for host input that may block (stdin, FIFOs) |
//! | limits.rs | how many processes, contexts and files the guests may make the host hold |
//!
//! The address space a process sees is drawn once in abi/layout.rs.

pub mod clock;
pub mod files;
pub mod fs;
pub mod hostio;
pub mod invariants;
pub mod lifecycle;
pub mod limits;
pub mod loader;
pub mod paging;
pub mod process;
pub mod processes;
pub mod scheduler;
pub mod shared;
pub mod signal;
pub mod syscall;
pub mod threads;
pub mod uaccess;

use std::collections::VecDeque;
use std::rc::Rc;

use crate::emu::{Access, Exception, Machine, Reg};
use crate::trace::Trace;
pub use files::{Console, Input, Output};
pub use fs::FileSystem;
pub use limits::Limits;
pub use loader::LoadError;
pub use process::{
    CallCounts, ExceptionCounts, ExitStatus, Mode, Pid, Process, ProcessState, ProcessStats,
    WaitReason,
};
pub use processes::ProcessTable;
pub use shared::SharedMemory;

/// How long the run loop sleeps between two looks at host input when
/// every process that could run waits for it.
pub const HOST_IO_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// What the run loop does after the kernel handled an exception.
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Next {
    /// Keep running the same process (its quantum goes on).
    Continue,
    /// Pick the next process to run.
    Reschedule,
}

/// One kernel (one VM): its processes, scheduler and shared memory.
pub struct Kernel {
    /// The VM id: also distinguishes this kernel's contexts from other
    /// kernels' in the TLB (`context_of`).
    id: u64,
    processes: ProcessTable,
    /// Ready processes in round-robin order (the running one is not in it).
    ready: VecDeque<Pid>,
    /// The root the machine runs now, if any.
    current: Option<Pid>,
    next_pid: u64,
    /// The first process started: its exit code is `sim`'s.
    first: Option<Pid>,
    console: Console,
    trace: Trace,
    /// Other VMs' kernels use frames of the same machine (set by the
    /// simulator): this kernel sees only its own.
    shares_machine: bool,
    /// Named, inter-VM and distributed shared memory.
    shared: SharedMemory,
    /// The root every guest path is resolved in (`None`: no file opens).
    fs: Option<Rc<FileSystem>>,
    limits: Limits,
    /// Processes that slept on host input (`WaitReason::HostIo`), for
    /// `poll_host_io`.
    io_waiters: Vec<Pid>,
    /// The limits a call ran into already (each is reported once).
    limits_reported: std::collections::BTreeSet<&'static str>,
    /// The ABI of the programs it loads (`--abi`); `None`: each ELF's own
    /// (abi/selfie.rs).
    abi: Option<crate::abi::selfie::Profile>,
    /// What a Linux program finds around it: environment, clock, seed.
    linux: LinuxSetup,
    clock: clock::Clock,
    /// The state of `getrandom`'s generator (from `LinuxSetup::seed`).
    random: u64,
    /// Processes with more than one thread (threads.rs).
    thread_groups: threads::ThreadGroups,
    /// The buffer the bytes of `write` and of reads of streams pass
    /// through on their way between guest memory and the host, kept from
    /// call to call so that the common small call allocates nothing.
    io_buffer: Vec<u8>,
}

/// What a guest finds that a Linux program expects from its system: the
/// environment of new programs, the clock and the seed of `getrandom` and
/// `AT_RANDOM`. The library's default is an empty environment and the
/// virtual clock; the CLI passes the host's environment, as qemu does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinuxSetup {
    /// `NAME=value` words, the envp of every program the host starts.
    pub env: Vec<String>,
    pub clock: clock::ClockMode,
    /// Seeds `getrandom` and the 16 bytes of `AT_RANDOM`.
    pub seed: u64,
}

impl Kernel {
    /// The kernel of VM `id`, with its console, printing what `trace` asks.
    pub fn new(id: u64, console: Console, trace: Trace) -> Kernel {
        Kernel {
            id,
            processes: ProcessTable::default(),
            ready: VecDeque::new(),
            current: None,
            next_pid: 1,
            first: None,
            console,
            trace,
            shares_machine: false,
            shared: SharedMemory::new(id),
            fs: None,
            limits: Limits::default(),
            io_waiters: Vec::new(),
            limits_reported: Default::default(),
            abi: None,
            linux: LinuxSetup::default(),
            clock: clock::Clock::new(clock::ClockMode::Virtual),
            random: 0,
            thread_groups: Default::default(),
            io_buffer: Vec::new(),
        }
    }

    /// Sets the environment, clock and seed the guests get (`LinuxSetup`).
    pub fn set_linux(&mut self, setup: LinuxSetup) {
        self.clock = clock::Clock::new(setup.clock);
        self.random = setup.seed;
        self.linux = setup;
    }

    /// Sets the ABI of the programs it loads from now on (`--abi`):
    /// `None` for each ELF's own (abi/selfie.rs).
    pub fn set_abi(&mut self, abi: Option<crate::abi::selfie::Profile>) {
        self.abi = abi;
    }

    /// Gives the guests a file system (the simulator does, with
    /// `--root`); without one every `openat` fails with `EACCES`.
    pub fn set_file_system(&mut self, fs: Rc<FileSystem>) {
        self.fs = Some(fs);
    }

    /// Sets the limits (limits.rs) for what happens from now on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The VM id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A process (also after it ended, until it is reaped).
    #[inline]
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(pid)
    }

    /// A process, for changing it (a test setting registers, a debugger).
    #[inline]
    pub fn process_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.processes.get_mut(pid)
    }

    /// A process and the console, both for changing (the instruction
    /// trace runs the one and prints to the other).
    pub(crate) fn process_and_console(&mut self, pid: Pid) -> Option<(&mut Process, &mut Console)> {
        Some((self.processes.get_mut(pid)?, &mut self.console))
    }

    /// Every process, in creation order.
    pub fn processes(&self) -> &ProcessTable {
        &self.processes
    }

    /// The shared-memory systems of this kernel.
    pub fn shared(&self) -> &SharedMemory {
        &self.shared
    }

    /// The shared-memory systems, for changing them (linking a host
    /// daemon or an rshm server).
    pub fn shared_mut(&mut self) -> &mut SharedMemory {
        &mut self.shared
    }

    /// This kernel's named shared memory.
    pub fn shm(&self) -> &crate::shm::ShmTable {
        &self.shared.shm
    }

    pub fn console(&self) -> &Console {
        &self.console
    }

    pub fn console_mut(&mut self) -> &mut Console {
        &mut self.console
    }

    /// What this kernel prints about itself.
    pub fn trace(&self) -> Trace {
        self.trace
    }

    /// Tells the kernel whether other VMs' kernels share the machine's
    /// frames (the shm invariants then account only for its own).
    pub(crate) fn set_shares_machine(&mut self, shared: bool) {
        self.shares_machine = shared;
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
    /// when `supervisor` is not a live kernel-mode process, and
    /// `NotStartedBySelfie` when it runs selfie's ABI (rule U/K-5).
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
                .get(s)
                .is_some_and(|p| p.mode == Mode::Kernel && !p.is_zombie())
            {
                return Err(LoadError::NoSupervisor(s.0));
            }
        }
        if self.processes.len() >= self.limits.processes {
            return Err(LoadError::TooManyProcesses(self.limits.processes));
        }
        // selfie's ABI or Linux's (syscall/selfie.rs): it decides the mode
        // of a selfie program and refuses programs under one (U/K-5).
        let profile = self
            .abi
            .unwrap_or_else(|| crate::abi::selfie::Profile::of_elf(elf));
        let mode = self.selfie_placement(profile, mode, supervisor)?;
        let image = loader::load_with(
            machine,
            elf,
            args,
            &self.linux.env,
            loader::random_bytes(self.linux.seed ^ self.next_pid),
        )?;
        let pid = self.new_pid();
        let name = args.first().cloned().unwrap_or_else(|| "?".into());
        let mut process = self.new_process(pid, name, mode, supervisor);
        process.started_by_host = true;
        process.profile = profile;
        process.hart.pc = image.entry;
        process.hart.set_reg(Reg::SP.index(), image.stack_pointer);
        process.page_table = image.page_table;
        process.regions = image.regions;
        process.heap_start = image.heap_start;
        process.brk = image.heap_start;
        process.exe = args.first().cloned().unwrap_or_default();
        process.note_peak_pages();
        self.processes.insert(process);
        self.enqueue(pid);
        self.first.get_or_insert(pid);
        Ok(pid)
    }

    /// A new process of this kernel: standard descriptors within the
    /// open-file limit, the working directory a new process starts in.
    pub(crate) fn new_process(
        &self,
        pid: Pid,
        name: String,
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Process {
        let mut process = Process::new(pid, name, self.context_of(pid), mode, supervisor);
        process.files = files::FdTable::with_limit(self.limits.open_files);
        process.max_mapped_pages = self.limits.mapped_pages;
        if let Some(fs) = &self.fs {
            process.cwd = fs.start_cwd().to_path_buf();
        }
        process
    }

    /// Whether some process has not ended.
    pub fn has_live_processes(&self) -> bool {
        self.processes.iter().any(|p| !p.is_zombie())
    }

    /// Handles the exception `pid` raised.
    pub fn handle(&mut self, machine: &mut Machine, pid: Pid, exception: Exception) -> Next {
        // The thread whose exception this is holds its group's address
        // space and descriptors while the kernel handles it (threads.rs).
        // The scheduler activates a thread before it runs; an exception
        // raised through the library (`Simulator::syscall`) may come from a
        // thread that is not the holder, and a page it faulted in would
        // land in an empty table and be lost at the next move.
        if exception == Exception::Syscall {
            return self.handle_syscall(machine, pid);
        }
        self.activate(pid);
        let Some(process) = self.processes.get_mut(pid) else {
            return Next::Reschedule;
        };
        process.stats.exceptions.add(exception);
        match exception {
            Exception::Timer => {
                self.preempt(pid);
                Next::Reschedule
            }
            _ => self.handle_fault(machine, pid, exception),
        }
    }

    /// `handle` for a syscall; the run loop's short cut for the common
    /// syscall (simulator/run.rs) calls it directly.
    #[inline]
    pub(crate) fn handle_syscall(&mut self, machine: &mut Machine, pid: Pid) -> Next {
        // As in `handle`: the caller holds its group's address space.
        self.activate(pid);
        let Some(process) = self.processes.get_mut(pid) else {
            return Next::Reschedule;
        };
        process.stats.exceptions.add(Exception::Syscall);
        self.syscall(machine, pid)
    }

    /// `handle` for a fault: a page backed on demand, a signal handler, or
    /// the end of the process. A function of its own, so that a syscall's
    /// trip through `handle` does not pay for setting up all this.
    #[inline(never)]
    fn handle_fault(&mut self, machine: &mut Machine, pid: Pid, exception: Exception) -> Next {
        let Some(process) = self.processes.get_mut(pid) else {
            return Next::Reschedule;
        };
        let pc = process.hart.pc;
        let profile = process.profile;
        let (signal, why) = match exception {
            Exception::Timer | Exception::Syscall => {
                // Not faults: `handle` never passes them here.
                debug_assert!(false, "Kernel::handle_fault: {exception} is not a fault");
                return Next::Continue;
            }
            Exception::PageFault { vaddr, access } => {
                process.stats.page_faults += 1;
                match paging::back_on_demand(machine, process, vaddr) {
                    Ok(()) => return Next::Continue,
                    Err(reason) => {
                        let reason = self.shared.fault_reason(pid, vaddr, access, reason);
                        (
                            11,
                            format!("{access} at address {vaddr:#x} (pc {pc:#x}): {reason}"),
                        )
                    }
                }
            }
            Exception::IllegalInstruction { pc, bits } => {
                (4, format!("illegal instruction {bits:#010x} at pc {pc:#x}"))
            }
            // Linux reports both as SIGBUS (BUS_ADRALN).
            Exception::Misaligned {
                vaddr,
                access: Access::Execute,
            } => (
                7,
                format!(
                    "misaligned instruction fetch at pc {vaddr:#x}: instructions start at even addresses (RISC-V: instruction-address-misaligned)"
                ),
            ),
            Exception::Misaligned { vaddr, access } => (
                7,
                format!("misaligned atomic {access} at address {vaddr:#x} (pc {pc:#x})"),
            ),
            // SIGFPE, as Linux reports an arithmetic fault.
            Exception::DivisionByZero { pc } => (
                8,
                format!(
                    "division by zero at pc {pc:#x} (selfie's machine traps it: --trap-division-by-zero; RISC-V would give a result)"
                ),
            ),
            Exception::Breakpoint { pc } => (5, format!("breakpoint (ebreak) at pc {pc:#x}")),
            Exception::PrivilegeViolation { pc, call } => (
                4,
                format!(
                    "rule U/K-3 broken: hypercall {} ({call}) from user mode at pc {pc:#x}; only kernel-mode contexts may use hypercalls (docs/spec/hypervisor.md)",
                    profile.call_name(call)
                ),
            ),
        };
        // A handler the program installed for the fault's signal runs
        // instead (kernel/signal.rs); the frame records the faulting pc.
        if self.fault_signal(
            machine,
            pid,
            u64::from(signal),
            signal::fault_info(exception),
        ) {
            return Next::Continue;
        }
        self.kill(machine, pid, signal, &why);
        Next::Reschedule
    }

    /// Prints the client daemon's messages (`--trace-daemon`).
    pub(crate) fn report_vmshm(&mut self) {
        for line in self.shared.vmshm.take_log() {
            self.report(&line);
        }
    }

    /// The host daemon says `pid` may go on (a peer connected or closed,
    /// or went away): a process blocked in vm_listen or vm_disconnect
    /// becomes ready and repeats its call. Anything else ignores it (the
    /// process ended, or it is a guest kernel's child, which retries when
    /// its kernel switches to it).
    pub fn vmshm_notice(&mut self, notice: crate::vmshm::Notice) {
        if self.shared.vmshm.traced() {
            self.report(&format!("daemon: host → {}: {notice}", notice.vm));
        }
        let blocked = self
            .processes
            .get(notice.pid)
            .is_some_and(|p| matches!(p.state, ProcessState::Blocked(WaitReason::VmShm(_))));
        if blocked {
            self.make_ready(notice.pid);
        }
    }

    /// The shm invariants of docs/spec/shm.md (see shm/invariants.rs).
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check_shm_invariants(&self, machine: &Machine) -> Result<(), String> {
        crate::shm::check_invariants(
            &self.shared.shm,
            &self.processes.views(),
            machine.memory(),
            // The host region of docs/spec/vmshm.md is reserved from the same
            // frames: those no process maps belong to neither side.
            self.shares_machine || self.shared.vmshm.region_reserved(),
        )
    }

    /// In debug builds, panics when an invariant is broken after `call`
    /// (the shm ones and all others: invariants.rs).
    pub(crate) fn debug_check_shm(&self, machine: &Machine, call: &str) {
        self.debug_check(machine, call);
    }

    /// Kills every blocked process when nothing can run any more (each waits
    /// for something that cannot happen). Returns whether any was killed,
    /// or whether the network or the host may have woken one: a process
    /// that waits for the rshm server (syscall/rshm.rs `wait_rshm`) or for
    /// host input (`WaitReason::HostIo`: a user may still type, a FIFO's
    /// writer still come) is not deadlocked, so then the kernel waits a
    /// while and looks again instead.
    pub fn break_deadlock(&mut self, machine: &mut Machine) -> bool {
        if self.waits_on_network() {
            self.wait_rshm(machine);
            return true;
        }
        if self.waits_on_host_io() {
            // Input may still come (a user typing, a FIFO's writer): wait
            // a little and look again, as for the network above. What the
            // guests wrote so far is shown first: the user may be waiting
            // for it before typing.
            self.console.flush();
            std::thread::sleep(HOST_IO_POLL);
            self.poll_host_io(machine.instret());
            return true;
        }
        let blocked = self
            .processes
            .pids_where(|p| matches!(p.state, ProcessState::Blocked(_)));
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

    /// Whether some process sleeps on host input.
    pub(crate) fn waits_on_host_io(&mut self) -> bool {
        let processes = &self.processes;
        self.io_waiters.retain(|&pid| {
            processes.get(pid).is_some_and(|p| {
                matches!(
                    p.state,
                    ProcessState::Blocked(WaitReason::HostIo(_) | WaitReason::Poll { .. })
                )
            })
        });
        // A poll of pipes and files alone waits for other processes, not
        // for the host: it does not keep a deadlock from being broken.
        self.io_waiters.iter().any(|&pid| {
            processes.get(pid).is_some_and(|p| {
                matches!(
                    p.state,
                    ProcessState::Blocked(
                        WaitReason::HostIo(_) | WaitReason::Poll { host: true, .. }
                    )
                )
            })
        })
    }

    /// Wakes every process whose host input has arrived (or whose FIFO
    /// opened); it runs its call again. The run loop calls this before
    /// every machine run; it costs nothing while no process waits.
    /// Returns whether one woke.
    #[inline]
    pub fn poll_host_io(&mut self, instret: u64) -> bool {
        // The common case, before every machine run, costs one look:
        // nobody has slept on host input since the list was last pruned.
        !self.io_waiters.is_empty() && self.poll_io_waiters(instret)
    }

    /// Whether the run loop has something to poll for this kernel before
    /// the next machine run: an rshm node (`poll_rshm`) or a process
    /// sleeping on host input (`poll_host_io`).
    #[inline]
    pub(crate) fn needs_polling(&self) -> bool {
        self.shared.rshm.is_some() || !self.io_waiters.is_empty()
    }

    /// `poll_host_io` when some process may wait for host input.
    fn poll_io_waiters(&mut self, instret: u64) -> bool {
        // io_waiters is pruned by waits_on_host_io; polls of pipes alone
        // are in it too (see there).
        self.waits_on_host_io();
        if self.io_waiters.is_empty() {
            return false;
        }
        let mut woken = Vec::new();
        for &pid in &self.io_waiters {
            let Some(process) = self.processes.get_mut(pid) else {
                continue;
            };
            let ready = match process.state {
                // Another look, when something may have changed: a
                // process ran an instruction since, or host input may
                // have come.
                ProcessState::Blocked(WaitReason::Poll { host, at }) => host || instret > at,
                ProcessState::Blocked(WaitReason::HostIo(None)) => process
                    .pending_open
                    .as_mut()
                    .is_none_or(|open| open.ready()),
                ProcessState::Blocked(WaitReason::HostIo(Some(fd))) => {
                    match process.files.get(fd).cloned() {
                        None => true,
                        Some(file) => match &mut file.borrow_mut().kind {
                            files::FileKind::Stdin => self.console.input_ready(),
                            files::FileKind::Stream {
                                reader: Some(reader),
                                ..
                            } => reader.ready(),
                            files::FileKind::PipeRead(end) => end.readable_now(),
                            _ => true,
                        },
                    }
                }
                _ => false,
            };
            if ready {
                woken.push(pid);
            }
        }
        for &pid in &woken {
            self.make_ready(pid);
        }
        !woken.is_empty()
    }

    /// The first process started, if any.
    pub fn first(&self) -> Option<Pid> {
        self.first
    }

    /// The exit code of the first process, once it has ended.
    pub fn first_exit_code(&self) -> Option<i32> {
        let pid = self.first?;
        self.processes
            .get(pid)?
            .exit_status()
            .map(ExitStatus::exit_code)
    }
}

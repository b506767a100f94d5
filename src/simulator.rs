//! The `Simulator`: one machine and its VMs (one `Kernel` each), built
//! from options, with the one run loop (rule U/K-1: run the current context
//! until it raises an exception, deliver the exception, schedule, repeat).
//!
//! ```text
//! run()                       ← the CLI: until every process ended
//!  └ loop
//!     ├ run_until_exception() ← tests: stop here and look at the machine
//!     │    if no root runs: the next VM in turn schedules one of its roots;
//!     │    machine.run(deepest context of the root, quantum)
//!     └ handle(event)         ← hypervisor::deliver: the host kernel, a
//!                               hypercall, or the guest kernel above the
//!                               context (U/K-2); Next decides who runs
//! ```
//!
//! VM 0 exists from the start; `add_vm` adds more. The host round-robins
//! between VMs, one time slice each in turn, and within a VM between its
//! roots. Each VM has its own console: with `capture_output` its output is
//! read with `vm_stdout`/`vm_stderr` (`stdout`/`stderr` are VM 0's).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::emu::{self, Access, Exception, Machine, VirtPage};
use crate::hypervisor::{self, Handler, Scenario};
use crate::kernel::{Console, Input, Kernel, LoadError, Mode, Next, Output, Pid, Process};
use crate::toolchain::BuildError;

/// Default instruction quantum of the round-robin scheduler.
pub const DEFAULT_QUANTUM: u64 = 100_000;
/// Default physical memory in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;

/// An exception raised by a process (a context of the VM that ran last,
/// `Simulator::current_vm`), before it was delivered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Event {
    pub pid: Pid,
    pub exception: Exception,
}

/// How a run ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RunOutcome {
    /// The exit code of the first process (128 + signal if it was killed);
    /// 1 if it had not ended when the instruction limit stopped the run.
    pub exit_code: i32,
    pub instructions: u64,
    /// Whether `--max-instructions` stopped the run.
    pub limit_reached: bool,
}

/// Builds a `Simulator`.
pub struct SimulatorBuilder {
    memory_mb: u64,
    quantum: u64,
    max_instructions: Option<u64>,
    trace: bool,
    trace_syscalls: bool,
    trace_exceptions: bool,
    dump_contexts: bool,
    input: Input,
    capture_output: bool,
    dump_shm: bool,
    vmshm: crate::vmshm::VmShmOptions,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            memory_mb: DEFAULT_MEMORY_MB,
            quantum: DEFAULT_QUANTUM,
            max_instructions: None,
            trace: false,
            trace_syscalls: false,
            trace_exceptions: false,
            dump_contexts: false,
            input: Input::Host,
            capture_output: false,
            dump_shm: false,
            vmshm: crate::vmshm::VmShmOptions::default(),
        }
    }
}

impl SimulatorBuilder {
    /// Physical memory in MiB (`-m`).
    pub fn memory_mb(mut self, mb: u64) -> Self {
        self.memory_mb = mb;
        self
    }
    /// Instructions per time slice (`--quantum`); at least 1.
    pub fn quantum(mut self, instructions: u64) -> Self {
        self.quantum = instructions.max(1);
        self
    }
    /// Stop the whole run after this many instructions.
    pub fn max_instructions(mut self, limit: u64) -> Self {
        self.max_instructions = Some(limit);
        self
    }
    /// Print every instruction (`--trace`).
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }
    /// Print every syscall (`--trace-syscalls`).
    pub fn trace_syscalls(mut self, on: bool) -> Self {
        self.trace_syscalls = on;
        self
    }
    /// Print every exception (`--trace-exceptions`).
    pub fn trace_exceptions(mut self, on: bool) -> Self {
        self.trace_exceptions = on;
        self
    }
    /// Print the context tree of every VM at the end of `run`
    /// (`--dump-contexts`).
    pub fn dump_contexts(mut self, on: bool) -> Self {
        self.dump_contexts = on;
        self
    }
    /// Print the shm list after every successful shm call and at exit
    /// (`--dump-shm`).
    pub fn dump_shm(mut self, on: bool) -> Self {
        self.dump_shm = on;
        self
    }
    /// Size of the host shared region of spec/vmshm.md in MiB
    /// (`--host-shm`, default 4).
    pub fn host_shm_mb(mut self, mb: u64) -> Self {
        self.vmshm.host_shm_mb = mb;
        self
    }
    /// Print every message between the client daemons and the host daemon
    /// (`--trace-daemon`).
    pub fn trace_daemon(mut self, on: bool) -> Self {
        self.vmshm.trace_daemon = on;
        self
    }
    /// Print the host region after every vm_* call that changed it and at
    /// exit (`--dump-vmshm`).
    pub fn dump_vmshm(mut self, on: bool) -> Self {
        self.vmshm.dump_vmshm = on;
        self
    }
    /// Guest stdin reads these bytes instead of the host's stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Input::Bytes(bytes.into());
        self
    }
    /// Collect guest stdout/stderr and the simulator's messages in memory
    /// (`Simulator::stdout`, `Simulator::stderr`) instead of printing them.
    pub fn capture_output(mut self, on: bool) -> Self {
        self.capture_output = on;
        self
    }

    /// Builds the simulator.
    ///
    /// # Panics
    /// When the host cannot provide the physical memory asked for; use
    /// `try_build` when the size comes from outside (a command line).
    pub fn build(self) -> Simulator {
        match self.try_build() {
            Ok(simulator) => simulator,
            Err(e) => panic!("SimulatorBuilder::build: {e}"),
        }
    }

    /// Builds the simulator.
    ///
    /// # Errors
    /// When the host cannot provide the physical memory asked for (`-m`).
    pub fn try_build(self) -> Result<Simulator, String> {
        let machine = Machine::try_new(self.memory_mb)?;
        let host_input = matches!(self.input, Input::Host);
        let mut simulator = Simulator {
            machine,
            vms: Vec::new(),
            current_vm: 0,
            next_vm: 0,
            capture_output: self.capture_output,
            host_input,
            trace_syscalls: self.trace_syscalls,
            dump_shm: self.dump_shm,
            host: crate::vmshm::HostLink::new(self.vmshm.host_shm_mb),
            vmshm: self.vmshm,
            dump_contexts_at_exit: self.dump_contexts,
            quantum: self.quantum,
            max_instructions: self.max_instructions,
            trace: self.trace,
            trace_exceptions: self.trace_exceptions,
            slice_end: None,
            limit_reached: false,
            peak_frames: 0,
            exceptions: BTreeMap::new(),
            started: None,
            elapsed: Duration::ZERO,
        };
        simulator.add_vm_with_input(self.input);
        Ok(simulator)
    }
}

/// A machine, its VMs, and the run loop.
pub struct Simulator {
    pub machine: Machine,
    /// The VMs: VM `i` is the kernel with id `i`.
    pub vms: Vec<Kernel>,
    /// The VM whose root runs now (or ran last).
    current_vm: usize,
    /// The VM whose turn is next when a time slice ends.
    next_vm: usize,
    capture_output: bool,
    host_input: bool,
    trace_syscalls: bool,
    dump_shm: bool,
    dump_contexts_at_exit: bool,
    /// The run's host daemon of spec/vmshm.md (each VM's kernel holds a
    /// handle too) and how it was set up.
    pub(crate) host: crate::vmshm::HostLink,
    pub(crate) vmshm: crate::vmshm::VmShmOptions,
    quantum: u64,
    max_instructions: Option<u64>,
    trace: bool,
    trace_exceptions: bool,
    /// Instruction count at which the current root's slice ends.
    slice_end: Option<u64>,
    limit_reached: bool,
    peak_frames: u32,
    exceptions: BTreeMap<&'static str, u64>,
    started: Option<Instant>,
    elapsed: Duration,
}

impl Simulator {
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// Loads an ELF image as a new process with `args` (`args[0]` is the
    /// program name).
    ///
    /// # Errors
    /// Why the file was refused.
    pub fn load_elf(&mut self, elf: &[u8], args: &[String]) -> Result<Pid, LoadError> {
        self.load_elf_in(0, elf, args, Mode::User, None)
    }

    /// Adds an empty VM (a new kernel with its own processes and pids) and
    /// returns its id.
    pub fn add_vm(&mut self) -> usize {
        let input = if self.host_input {
            Input::Host
        } else {
            Input::Bytes(Vec::new())
        };
        self.add_vm_with_input(input)
    }

    fn add_vm_with_input(&mut self, input: Input) -> usize {
        let output = || {
            if self.capture_output {
                Output::Captured(Vec::new())
            } else {
                Output::Host
            }
        };
        let mut kernel = Kernel::new(Console::new(input, output(), output()));
        kernel.trace_syscalls = self.trace_syscalls;
        kernel.dump_shm = self.dump_shm;
        kernel.id = self.vms.len() as u64;
        crate::vmshm::run::link_kernel(&mut kernel, &self.host, self.vmshm);
        self.vms.push(kernel);
        let shared = self.vms.len() > 1;
        for kernel in &mut self.vms {
            kernel.shares_machine = shared;
        }
        self.vms.len() - 1
    }

    /// Loads an ELF image into VM `vm` as a context in `mode` (a guest
    /// kernel is `Mode::Kernel`), a child of the guest kernel `supervisor`
    /// of that VM, or of the host kernel (`None`).
    ///
    /// # Errors
    /// Why the file was refused; `NoVm` or `NoSupervisor` for a VM or
    /// supervisor that does not exist.
    pub fn load_elf_in(
        &mut self,
        vm: usize,
        elf: &[u8],
        args: &[String],
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Result<Pid, LoadError> {
        let kernel = self.vms.get_mut(vm).ok_or(LoadError::NoVm(vm))?;
        let pid = kernel.spawn_context(&mut self.machine, elf, args, mode, supervisor)?;
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
        Ok(pid)
    }

    /// `load_program` into VM `vm`, as `load_elf_in`.
    ///
    /// # Errors
    /// As `load_program`.
    pub fn load_program_in(
        &mut self,
        vm: usize,
        path: &Path,
        args: &[String],
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Result<Pid, BuildError> {
        let elf = crate::toolchain::build_program(&[path.to_path_buf()])?;
        self.load_elf_in(vm, &elf, args, mode, supervisor)
            .map_err(|e| BuildError::Other(format!("{}: {e}", path.display())))
    }

    /// Loads every context of a scenario (VM `i` of the scenario goes into
    /// VM `i`, which is added if needed): each kernel goes under the
    /// innermost kernel loaded before it in its VM, each user program
    /// under the innermost kernel (see hypervisor/vm.rs).
    ///
    /// # Errors
    /// As `load_program`.
    pub fn load_scenario(&mut self, scenario: &Scenario) -> Result<(), BuildError> {
        for (vm, spec) in scenario.vms.iter().enumerate() {
            while self.vms.len() <= vm {
                self.add_vm();
            }
            let mut innermost = None;
            for context in &spec.contexts {
                let path = std::path::PathBuf::from(&context.args[0]);
                let mode = if context.kernel {
                    Mode::Kernel
                } else {
                    Mode::User
                };
                let pid = self.load_program_in(vm, &path, &context.args, mode, innermost)?;
                if context.kernel {
                    innermost = Some(pid);
                }
            }
        }
        Ok(())
    }

    /// VM 0's kernel (the only one unless VMs were added).
    pub fn kernel(&self) -> &Kernel {
        &self.vms[0]
    }

    /// VM 0's kernel, for changing it.
    pub fn kernel_mut(&mut self) -> &mut Kernel {
        &mut self.vms[0]
    }

    /// VM `vm`'s kernel.
    pub fn vm(&self, vm: usize) -> Option<&Kernel> {
        self.vms.get(vm)
    }

    /// The VM whose context raised the last event (and runs now).
    pub fn current_vm(&self) -> usize {
        self.current_vm
    }

    /// The context the machine runs next in the current VM, if a root is
    /// scheduled: the deepest context down its root's `hv_switch` chain.
    pub fn running_context(&self) -> Option<Pid> {
        let kernel = &self.vms[self.current_vm];
        kernel.current.map(|root| hypervisor::deepest(kernel, root))
    }

    /// The context tree of every VM (`--dump-contexts`).
    pub fn dump_contexts(&self) -> String {
        self.vms.iter().map(hypervisor::dump_contexts).collect()
    }

    /// Loads a program file: an ELF executable, assembly (`.s`) or C* (`.c`).
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it (unreadable, a
    /// compile or assembly error, a refused ELF).
    pub fn load_program(&mut self, path: &Path, args: &[String]) -> Result<Pid, BuildError> {
        let elf = crate::toolchain::build_program(&[path.to_path_buf()])?;
        self.load_elf(&elf, args)
            .map_err(|e| BuildError::Other(format!("{}: {e}", path.display())))
    }

    /// Runs until the next exception of any process and returns it, before
    /// the kernel handles it; `None` when no process is left to run (or the
    /// instruction limit was reached).
    pub fn run_until_exception(&mut self) -> Option<Event> {
        let started = Instant::now();
        self.started.get_or_insert(started);
        let event = self.next_event();
        self.elapsed += started.elapsed();
        event
    }

    fn next_event(&mut self) -> Option<Event> {
        if self.limit_reached {
            return None;
        }
        // spec/rshm.md: the server's replies and updates are taken in
        // between two machine runs, so an update lands between two guest
        // instructions (nothing to do without an rshm node).
        for kernel in &mut self.vms {
            kernel.poll_rshm(&mut self.machine);
        }
        let root = match self.vms[self.current_vm].current {
            Some(root) => root,
            None => self.schedule()?,
        };
        let vm = self.current_vm;
        let slice_end = *self
            .slice_end
            .get_or_insert(self.machine.instret() + self.quantum);
        let stop_at = self
            .max_instructions
            .map_or(slice_end, |m| m.min(slice_end));
        let kernel = &mut self.vms[vm];
        let pid = hypervisor::deepest(kernel, root);
        let process = kernel.processes.get_mut(&pid)?;
        let before = self.machine.instret();
        let exception = if self.trace {
            trace_until_exception(&mut self.machine, process, stop_at, &mut kernel.console)
        } else {
            self.machine.run(
                &mut process.hart,
                &mut process.page_table,
                process.context,
                stop_at,
            )
        };
        process.stats.instructions += self.machine.instret() - before;
        if exception == Exception::Timer
            && self
                .max_instructions
                .is_some_and(|m| self.machine.instret() >= m)
        {
            self.limit_reached = true;
        }
        Some(Event { pid, exception })
    }

    /// Picks the next root to run: the VMs take turns (one time slice
    /// each), and each VM's kernel picks among its roots (round robin).
    /// When no VM has a ready root, blocked processes that nothing can wake
    /// are killed; `None` when nothing is left at all.
    fn schedule(&mut self) -> Option<Pid> {
        let n = self.vms.len();
        loop {
            for step in 0..n {
                let vm = (self.next_vm + step) % n;
                if let Some(root) = self.vms[vm].schedule() {
                    self.current_vm = vm;
                    self.next_vm = (vm + 1) % n;
                    self.slice_end = None;
                    return Some(root);
                }
            }
            let mut killed = false;
            for kernel in &mut self.vms {
                killed |= kernel.break_deadlock(&mut self.machine);
            }
            self.after_vmshm();
            if !killed {
                for kernel in &mut self.vms {
                    kernel.console.flush();
                }
                return None;
            }
        }
    }

    /// Delivers `event` (as returned by `run_until_exception`) to its
    /// handler: the host kernel, the host as a hypercall, or the guest
    /// kernel above the context (rule U/K-2).
    pub fn handle(&mut self, event: Event) {
        let started = Instant::now();
        *self.exceptions.entry(event.exception.kind()).or_default() += 1;
        let vm = self.current_vm;
        if self.trace_exceptions {
            let line = self.describe(vm, event);
            self.vms[vm].report(&line);
        }
        if self.limit_reached {
            let limit = self.max_instructions.unwrap_or(0);
            let kernel = &mut self.vms[vm];
            kernel.report(&format!(
                "stopped after {limit} instructions (--max-instructions)"
            ));
            kernel.console.flush();
            return;
        }
        let kernel = &mut self.vms[vm];
        let root = kernel.current.unwrap_or(event.pid);
        let next = hypervisor::deliver(kernel, &mut self.machine, root, event.pid, event.exception);
        if next == Next::Reschedule {
            kernel.current = None;
        }
        self.after_vmshm();
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
        self.elapsed += started.elapsed();
    }

    /// The `--trace-exceptions` line of `event`: the context, its parent
    /// and who handles the exception.
    fn describe(&self, vm: usize, event: Event) -> String {
        let kernel = &self.vms[vm];
        let process = kernel.processes.get(&event.pid);
        let pc = process.map_or(0, |p| p.hart.pc);
        let vm_prefix = if self.vms.len() > 1 {
            format!("vm {vm} ")
        } else {
            String::new()
        };
        let (mode, parent) = match process {
            Some(p) => (
                if p.mode == Mode::Kernel {
                    "kernel-mode "
                } else {
                    ""
                },
                p.supervisor
                    .map_or_else(|| "host".to_string(), |s| format!("kernel {s}")),
            ),
            None => ("", "host".to_string()),
        };
        let handler = match hypervisor::handler_of(kernel, event.pid, event.exception) {
            Handler::HostKernel => "handled by the host kernel".to_string(),
            Handler::Hypercall(_) => "hypercall, handled by the host".to_string(),
            Handler::GuestKernel(k) => format!("delivered to guest kernel {k}"),
        };
        let what = match (event.exception, process) {
            (Exception::Syscall, Some(p)) => {
                format!(
                    "syscall {}",
                    crate::abi::call_name(p.hart.reg(emu::Reg::A7.index()))
                )
            }
            (e, _) => e.to_string(),
        };
        format!(
            "exception: {vm_prefix}{mode}process {} (parent: {parent}) at pc {pc:#x}: {what} → {handler}",
            event.pid
        )
    }

    /// Runs until every process has ended (or the instruction limit).
    pub fn run(&mut self) -> RunOutcome {
        while let Some(event) = self.run_until_exception() {
            self.handle(event);
        }
        if self.dump_contexts_at_exit {
            let text = format!("sim: contexts at exit:\n{}", self.dump_contexts());
            self.vms[0].console.write_stderr(text.as_bytes());
        }
        if self.dump_shm {
            let text = format!("sim: shm at exit:\n{}", self.dump_shm());
            self.vms[0].console.write_stderr(text.as_bytes());
        }
        self.dump_vmshm_at_exit();
        for kernel in &mut self.vms {
            kernel.console.flush();
        }
        RunOutcome {
            exit_code: self.vms[0].first_exit_code().unwrap_or(1),
            instructions: self.machine.instret(),
            limit_reached: self.limit_reached,
        }
    }

    /// A process of VM 0 (also after it ended).
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.process_in(0, pid)
    }

    /// A process of VM `vm`.
    pub fn process_in(&self, vm: usize, pid: Pid) -> Option<&Process> {
        self.vms.get(vm)?.processes.get(&pid)
    }

    /// Register `x<reg>` of a process.
    pub fn register(&self, pid: Pid, reg: usize) -> Option<u64> {
        self.process(pid).map(|p| p.hart.reg(reg))
    }

    /// Reads `len` bytes of a process's memory without side effects (no
    /// demand paging, no accessed bits); `None` if any byte is unmapped.
    pub fn read_memory(&self, pid: Pid, vaddr: u64, len: u64) -> Option<Vec<u8>> {
        let process = self.process(pid)?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let addr = vaddr.checked_add(i)?;
            let pte = process.page_table.get(VirtPage::containing(addr))?;
            let bytes = self.machine.memory().frame_bytes(pte.frame);
            out.push(bytes[(addr & (emu::PAGE_SIZE - 1)) as usize]);
        }
        Some(out)
    }

    /// The shm lists drawn as spec/shm.md draws them (what `--dump-shm`
    /// prints); usable at any exception. Each VM has its own list; with
    /// more than one VM, each is headed `vm N:`.
    pub fn dump_shm(&self) -> String {
        if self.vms.len() == 1 {
            return crate::shm::dump(&self.vms[0].shm);
        }
        self.vms
            .iter()
            .map(|k| format!("vm {}:\n{}", k.id, crate::shm::dump(&k.shm)))
            .collect()
    }

    /// Makes this simulator an rshm node (spec/rshm.md): its kernel talks to
    /// the server `client` is the end of (`rshm::node::start`).
    pub fn attach_rshm(&mut self, client: crate::rshm::RshmClient) {
        self.vms[0].rshm = Some(client);
    }

    /// After `run`: lets the node finish the calls in progress, stops its
    /// server, and returns the state table when `dump` (`--dump-rshm`).
    pub fn shutdown_rshm(&mut self, dump: bool) -> Option<String> {
        self.vms[0].shutdown_rshm(&mut self.machine, dump)
    }

    /// Checks the shm invariants of spec/shm.md now, in every VM.
    ///
    /// # Errors
    /// The first broken invariant, in words.
    pub fn check_shm_invariants(&self) -> Result<(), String> {
        for kernel in &self.vms {
            kernel.check_shm_invariants(&self.machine)?;
        }
        Ok(())
    }

    /// What guests of VM 0 wrote to stdout (with `capture_output`).
    pub fn stdout(&self) -> &[u8] {
        self.vm_stdout(0)
    }

    /// What guests of VM 0 and the simulator wrote to stderr (with
    /// `capture_output`).
    pub fn stderr(&self) -> &[u8] {
        self.vm_stderr(0)
    }

    /// What guests of VM `vm` wrote to stdout (with `capture_output`).
    pub fn vm_stdout(&self, vm: usize) -> &[u8] {
        self.vms
            .get(vm)
            .map_or(&[], |k| k.console.captured_stdout())
    }

    /// What guests of VM `vm` and the simulator wrote to its stderr.
    pub fn vm_stderr(&self, vm: usize) -> &[u8] {
        self.vms
            .get(vm)
            .map_or(&[], |k| k.console.captured_stderr())
    }

    /// The `--stats` summary.
    pub fn stats_report(&self) -> String {
        use std::fmt::Write;
        let instructions = self.machine.instret();
        let seconds = self.elapsed.as_secs_f64();
        let mut s = String::new();
        let mips = if seconds > 0.0 {
            instructions as f64 / seconds / 1e6
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "sim: stats: {instructions} instructions in {seconds:.3} s ({mips:.0} MIPS)"
        );
        let frames = self.machine.memory().frame_count();
        let _ = writeln!(
            s,
            "sim: stats: frames: {} peak of {frames} ({} KiB), {} decoded blocks",
            self.peak_frames,
            u64::from(self.peak_frames) * 4,
            self.machine.cached_blocks()
        );
        let list = |m: &BTreeMap<_, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "sim: stats: exceptions: {}", list(&self.exceptions));
        let processes = self
            .vms
            .iter()
            .flat_map(|k| k.processes.values().map(move |p| (k.id, p)));
        for (vm, p) in processes {
            let vm = if self.vms.len() > 1 {
                format!("vm {vm} ")
            } else {
                String::new()
            };
            let status = match p.exit_status() {
                Some(crate::kernel::ExitStatus::Exited(c)) => format!("exited {c}"),
                Some(crate::kernel::ExitStatus::Killed(sig)) => format!("killed (signal {sig})"),
                None => "running".into(),
            };
            let _ = writeln!(
                s,
                "sim: stats: {vm}process {} ({}): {status}, {} instructions, {} page faults, {} pages peak",
                p.pid, p.name, p.stats.instructions, p.stats.page_faults, p.stats.peak_pages
            );
            let syscalls: BTreeMap<&str, u64> = p
                .stats
                .syscalls
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect();
            let _ = writeln!(s, "sim: stats:   syscalls: {}", list(&syscalls));
        }
        s
    }
}

/// Single-steps a process, printing each instruction, until an exception
/// (the timer counts as one when the budget runs out).
fn trace_until_exception(
    machine: &mut Machine,
    process: &mut Process,
    stop_at: u64,
    console: &mut Console,
) -> Exception {
    loop {
        if machine.instret() >= stop_at {
            return Exception::Timer;
        }
        let pc = process.hart.pc;
        let text = fetch_for_trace(machine, process, pc);
        let before = process.hart.regs;
        let result = machine.step(&mut process.hart, &mut process.page_table, process.context);
        let changed = (1..32)
            .find(|&r| process.hart.regs[r] != before[r])
            .map(|r| format!("  {}={:#x}", emu::Reg(r as u8), process.hart.regs[r]))
            .unwrap_or_default();
        match result {
            Ok(()) => console
                .write_stderr(format!("[{}] {pc:#x}: {text}{changed}\n", process.pid).as_bytes()),
            Err(e) => {
                console
                    .write_stderr(format!("[{}] {pc:#x}: {text}  → {e}\n", process.pid).as_bytes());
                return e;
            }
        }
    }
}

/// The disassembled instruction at `pc`, for the trace.
fn fetch_for_trace(machine: &Machine, process: &Process, pc: u64) -> String {
    let byte = |a: u64| -> Option<u8> {
        let phys = process.page_table.translate(a, Access::Execute)?;
        let frame = emu::Frame((phys >> 12) as u32);
        Some(machine.memory().frame_bytes(frame)[(phys & (emu::PAGE_SIZE - 1)) as usize])
    };
    let Some(bytes) = (0..4)
        .map(|i| byte(pc + i))
        .collect::<Option<Vec<u8>>>()
        .or_else(|| {
            (0..2)
                .map(|i| byte(pc + i))
                .collect::<Option<Vec<u8>>>()
                .map(|mut v| {
                    v.extend([0, 0]);
                    v
                })
        })
    else {
        return "(not mapped)".into();
    };
    let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match emu::decode(word) {
        Some((inst, _)) => emu::disasm::disassemble(&inst, pc),
        None => format!("(illegal {word:#010x})"),
    }
}

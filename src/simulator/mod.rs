//! The `Simulator`: one machine and its VMs (one `Kernel` each), the host
//! daemon they share, built from options, with the one run loop (rule
//! U/K-1: run the current context until it raises an exception, deliver
//! the exception, schedule, repeat).
//!
//! ```text
//! run()                       ← the CLI: until every process ended
//!  └ loop
//!     ├ run_until_exception() ← tests: stop here and look at the machine
//!     │    if no root runs: the next VM in turn schedules one of its roots;
//!     │    machine.run(deepest context of the root, quantum)
//!     └ handle(event)         ← hypervisor::deliver: the host kernel, a
//!                               hypercall, or the guest kernel above the
//!                               context (U/K-2); Next decides who runs;
//!                               then the host daemon's notices wake the
//!                               processes they name
//! ```
//!
//! | file | what |
//! |---|---|
//! | mod.rs | `Simulator`, `SimulatorBuilder`, `Event`, `RunOutcome`; VMs and loading programs |
//! | run.rs | the run loop: `run`, `run_until_exception`, `handle`, scheduling between VMs |
//! | inspect.rs | what a test or a tool reads and changes between two exceptions; dumps and `--stats` |
//! | trace.rs | `--trace`: single-stepping with each instruction printed; trace windows |
//! | control.rs | run control for debuggers: breakpoints, watchpoints, steps, positions; replay |
//! | crash.rs | the symbolized crash report of a process killed by a fault; symbols of loaded images |
//!
//! VM 0 exists from the start; `add_vm` adds more. The host round-robins
//! between VMs, one time slice each in turn, and within a VM between its
//! roots. Each VM has its own console: with `capture_output` its output is
//! read with `vm_stdout`/`vm_stderr` (`stdout`/`stderr` are VM 0's).

mod control;
mod crash;
mod inspect;
mod run;
mod trace;

pub use control::{memory_access, Stop, StopReason, WatchKind, Watchpoint};

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::abi::selfie::Profile;
use crate::emu::{Exception, Machine};
use crate::hypervisor::{HostDaemon, Scenario, DEFAULT_HOST_SHM_MB};
use crate::kernel::{Console, FileSystem, Input, Kernel, Limits, LoadError, Mode, Output, Pid};
use crate::toolchain::BuildError;
use crate::trace::Trace;
use crate::vmshm::HostLink;

/// Default instruction quantum of the round-robin scheduler.
pub const DEFAULT_QUANTUM: u64 = 100_000;
/// Default physical memory in MiB.
/// 1 GiB: what glibc programs touch stays far below (docs/user-guide.md),
/// and frames cost the host nothing until a guest touches them.
pub const DEFAULT_MEMORY_MB: u64 = 1024;
/// Default limit of VMs of one simulator (`--max-vms`).
pub const DEFAULT_MAX_VMS: usize = 64;

/// An exception raised by process `pid` of VM `vm`, before it was
/// delivered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Event {
    pub vm: usize,
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
    trace: Trace,
    input: Input,
    capture_output: bool,
    host_shm_mb: u64,
    lowering: crate::emu::Lowering,
    /// The guests' root directory; `None`: the working directory.
    root: Option<PathBuf>,
    read_only: bool,
    limits: Limits,
    max_vms: usize,
    /// The guests' ABI (`--abi`); `None`: each ELF's own (abi/selfie.rs).
    abi: Option<Profile>,
    linux: crate::kernel::LinuxSetup,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            memory_mb: DEFAULT_MEMORY_MB,
            quantum: DEFAULT_QUANTUM,
            max_instructions: None,
            trace: Trace::default(),
            input: Input::Host,
            capture_output: false,
            host_shm_mb: DEFAULT_HOST_SHM_MB,
            lowering: crate::emu::Lowering::default(),
            root: None,
            read_only: false,
            limits: Limits::default(),
            max_vms: DEFAULT_MAX_VMS,
            abi: None,
            linux: crate::kernel::LinuxSetup::default(),
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
    /// What to print while running (`--trace`, `--trace-syscalls`,
    /// `--dump-shm`, ...).
    pub fn trace(mut self, trace: Trace) -> Self {
        self.trace = trace;
        self
    }
    /// Size of the host shared region of docs/spec/vmshm.md in MiB
    /// (`--host-shm`, default 4).
    pub fn host_shm_mb(mut self, mb: u64) -> Self {
        self.host_shm_mb = mb;
        self
    }
    /// The directory guest paths are resolved in (`--root`; default: the
    /// working directory). Absolute guest paths start there, and no path
    /// leads out of it (kernel/fs.rs); `/` gives the host's whole file
    /// system, as qemu-riscv64 does.
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root = Some(dir.into());
        self
    }
    /// Refuse every open that could change a file, with `EROFS`
    /// (`--read-only`).
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }
    /// Most processes one kernel holds at once (`--max-processes`); a
    /// fork beyond fails with `EAGAIN`.
    pub fn max_processes(mut self, n: usize) -> Self {
        self.limits.processes = n;
        self
    }
    /// Most contexts one guest kernel holds at once (`--max-contexts`);
    /// `hv_create` beyond fails with `EAGAIN`.
    pub fn max_contexts(mut self, n: usize) -> Self {
        self.limits.contexts_per_kernel = n;
        self
    }
    /// Most descriptors one process has open (`--max-open-files`);
    /// `openat` beyond fails with `EMFILE`.
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.limits.open_files = n;
        self
    }
    /// Most pages one process has mapped (default 262,144, 1 GiB):
    /// `shm_map`, `vm_open`, `hv_map`, ... beyond fail with `ENOMEM`.
    pub fn max_mapped_pages(mut self, n: u64) -> Self {
        self.limits.mapped_pages = n;
        self
    }
    /// Most VMs (`--max-vms`); `try_add_vm` beyond fails.
    pub fn max_vms(mut self, n: usize) -> Self {
        self.max_vms = n.max(1);
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

    /// selfie's machine semantics where they differ from RISC-V's
    /// (`--trap-division-by-zero`): a division or remainder by zero traps
    /// (`Exception::DivisionByZero`; the kernel kills the process with
    /// SIGFPE) instead of giving RISC-V's result (all ones, or the
    /// dividend). Off by default.
    ///
    /// **Extension point (coursework):** a place for other differences
    /// between selfie's mipster and RISC-V, each a `Lowering` choice made
    /// when code is decoded, so that it costs nothing when off.
    pub fn trap_division_by_zero(mut self, on: bool) -> Self {
        self.lowering.trap_division_by_zero = on;
        self
    }

    /// The ABI every guest program runs under (`--abi linux|selfie`);
    /// `None` (`--abi auto`, the default): selfie's for an ELF selfie's
    /// compiler wrote (`abi::selfie::is_selfie_elf`), Linux's otherwise.
    pub fn abi(mut self, profile: Option<Profile>) -> Self {
        self.abi = profile;
        self
    }

    /// The environment, clock and seed every program gets (default: an
    /// empty environment, the virtual clock, seed 0).
    pub fn linux(mut self, setup: crate::kernel::LinuxSetup) -> Self {
        self.linux = setup;
        self
    }

    /// Whether blocks are compiled to host code (the JIT tier, src/emu/jit/;
    /// x86-64 hosts only, ignored elsewhere). On by default, unless the
    /// environment variable `SIM_JIT` is `0` (how the test suite runs
    /// everything under the interpreter alone); `--no-jit` turns it off.
    /// Output and instruction counts are the same either way.
    pub fn jit(mut self, on: bool) -> Self {
        self.lowering.jit = on;
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
    /// When the host cannot provide the physical memory asked for (`-m`),
    /// or the root directory cannot be opened (`--root`).
    pub fn try_build(self) -> Result<Simulator, String> {
        let recipe_builder = self.replica();
        let mut machine = Machine::try_new(self.memory_mb)?;
        machine.set_lowering(self.lowering);
        let root = self.root.unwrap_or_else(|| PathBuf::from("."));
        let fs = Rc::new(FileSystem::open(&root, self.read_only)?);
        let host_input = matches!(self.input, Input::Host);
        let mut simulator = Simulator {
            machine,
            vms: Vec::new(),
            current_vm: 0,
            next_vm: 0,
            capture_output: self.capture_output,
            host_input,
            trace: self.trace,
            traces_instructions: self.trace.is_tracing(),
            host_daemon: Rc::new(RefCell::new(HostDaemon::new(self.host_shm_mb))),
            quantum: self.quantum,
            max_instructions: self.max_instructions,
            slice_end: None,
            limit_reached: false,
            peak_frames: 0,
            exceptions: Default::default(),
            elapsed: Duration::ZERO,
            fs,
            limits: self.limits,
            max_vms: self.max_vms,
            abi: self.abi,
            linux: self.linux,
            syscalls_handled: 0,
            control: None,
            pause: None,
            recipe: control::Recipe {
                builder: Some(recipe_builder),
                ..Default::default()
            },
            images: Vec::new(),
            trace_ring: std::collections::VecDeque::new(),
            crash_reports: true,
        };
        simulator.add_vm_with_input(self.input);
        Ok(simulator)
    }
}

/// A machine, its VMs, the host daemon, and the run loop.
pub struct Simulator {
    machine: Machine,
    /// The VMs: VM `i` is the kernel with id `i`.
    vms: Vec<Kernel>,
    /// The VM whose root runs now (or ran last).
    current_vm: usize,
    /// The VM whose turn is next when a time slice ends.
    next_vm: usize,
    capture_output: bool,
    host_input: bool,
    trace: Trace,
    /// `trace.is_tracing()`, asked before every machine run: seven flags
    /// looked at once, when the simulator is built.
    traces_instructions: bool,
    /// The host daemon of docs/spec/vmshm.md; each VM's client daemon holds a
    /// `HostLink` to it.
    host_daemon: Rc<RefCell<HostDaemon>>,
    quantum: u64,
    max_instructions: Option<u64>,
    /// Instruction count at which the current root's slice ends.
    slice_end: Option<u64>,
    limit_reached: bool,
    peak_frames: u32,
    exceptions: crate::kernel::ExceptionCounts,
    elapsed: Duration,
    /// The guests' root directory, shared by every VM.
    fs: Rc<FileSystem>,
    /// The limits every VM's kernel gets.
    limits: Limits,
    max_vms: usize,
    abi: Option<Profile>,
    linux: crate::kernel::LinuxSetup,
    /// Syscalls handled so far: with the instruction count, the run's
    /// position (control.rs).
    syscalls_handled: u64,
    /// Breakpoints, watchpoints, steps: only while a debugger is attached
    /// (control.rs); `None` costs the run loop nothing.
    control: Option<Box<control::Control>>,
    /// Why the last `run_until_exception` returned `None` without the run
    /// having ended (a debugger's stop).
    pause: Option<StopReason>,
    /// How to rebuild this simulator from the start (control.rs).
    recipe: control::Recipe,
    /// The images loaded by the host, by VM and pid, for symbols
    /// (crash.rs).
    images: Vec<crash::LoadedImage>,
    /// `--trace-last N`: the last N lines of the trace (trace.rs).
    trace_ring: std::collections::VecDeque<String>,
    /// Whether a process killed by a fault gets the symbolized report
    /// (crash.rs). Off in a replica: its replay must not replay again.
    crash_reports: bool,
}

impl Simulator {
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// Loads an ELF image as a new process of VM 0 with `args` (`args[0]`
    /// is the program name).
    ///
    /// # Errors
    /// Why the file was refused.
    pub fn load_elf(&mut self, elf: &[u8], args: &[String]) -> Result<Pid, LoadError> {
        self.load_elf_in(0, elf, args, Mode::User, None)
    }

    /// Adds an empty VM (a new kernel with its own processes and pids) and
    /// returns its id.
    ///
    /// # Panics
    /// Beyond `max_vms` VMs; `try_add_vm` says so as an error instead.
    pub fn add_vm(&mut self) -> usize {
        match self.try_add_vm() {
            Ok(vm) => vm,
            Err(e) => panic!("Simulator::add_vm: {e}"),
        }
    }

    /// Adds an empty VM, as `add_vm`.
    ///
    /// # Errors
    /// When there are `max_vms` VMs already (`--max-vms`).
    pub fn try_add_vm(&mut self) -> Result<usize, String> {
        if self.vms.len() >= self.max_vms {
            return Err(format!(
                "cannot add VM {}: at most {} VMs (--max-vms)",
                self.vms.len(),
                self.max_vms
            ));
        }
        let input = if self.host_input {
            Input::Host
        } else {
            Input::Bytes(Vec::new())
        };
        Ok(self.add_vm_with_input(input))
    }

    fn add_vm_with_input(&mut self, input: Input) -> usize {
        let output = || {
            if self.capture_output {
                Output::Captured(Vec::new())
            } else {
                Output::Host
            }
        };
        if !self.vms.is_empty() {
            self.recipe.steps.push(control::RecipeStep::AddVm);
        }
        let id = self.vms.len() as u64;
        let mut kernel = Kernel::new(id, Console::new(input, output(), output()), self.trace);
        kernel.set_file_system(self.fs.clone());
        kernel.set_limits(self.limits);
        kernel.set_abi(self.abi);
        kernel.set_linux(self.linux.clone());
        let link = HostLink::new(self.host_daemon.clone());
        kernel.shared_mut().vmshm.link(id, link, self.trace.daemon);
        self.vms.push(kernel);
        let shared = self.vms.len() > 1;
        for kernel in &mut self.vms {
            kernel.set_shares_machine(shared);
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
        let elf: std::rc::Rc<[u8]> = std::rc::Rc::from(elf);
        self.images
            .push(crash::LoadedImage::new(vm, pid, elf.clone()));
        self.recipe.steps.push(control::RecipeStep::Load {
            vm,
            elf,
            args: args.to_vec(),
            mode,
            supervisor,
        });
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
        Ok(pid)
    }

    /// Loads a program file (an ELF executable, assembly `.s` or C* `.c`)
    /// as a new process of VM 0.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it (unreadable, a
    /// compile or assembly error, a refused ELF).
    pub fn load_program(&mut self, path: &Path, args: &[String]) -> Result<Pid, BuildError> {
        self.load_program_in(0, path, args, Mode::User, None)
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
                self.try_add_vm().map_err(BuildError::Other)?;
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

    /// Makes this simulator an rshm node (docs/spec/rshm.md): VM 0's kernel
    /// talks to the server `client` is the end of (`rshm::node::start`).
    pub fn attach_rshm(&mut self, client: crate::rshm::RshmClient) {
        self.recipe.broken = true;
        self.vms[0].shared_mut().rshm = Some(client);
    }

    /// After `run`: lets the node finish the calls in progress, stops its
    /// server, and returns the state table when `dump` (`--dump-rshm`).
    pub fn shutdown_rshm(&mut self, dump: bool) -> Option<String> {
        self.vms[0].shutdown_rshm(&mut self.machine, dump)
    }
}

//! The `Simulator`: a machine and its kernel, built from options, with the
//! one run loop (rule U/K-1: run the current context until it raises an
//! exception, deliver the exception, schedule, repeat).
//!
//! ```text
//! run()                       ← the CLI: until every process ended
//!  └ loop
//!     ├ run_until_exception() ← tests: stop here and look at the machine
//!     │    schedule if nothing runs; machine.run(process, quantum)
//!     └ handle(event)         ← the kernel handles it; Next decides who runs
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::emu::{self, Access, Exception, Machine, VirtPage};
use crate::kernel::{Console, Input, Kernel, LoadError, Next, Output, Pid, Process};
use crate::toolchain::BuildError;

/// Default instruction quantum of the round-robin scheduler.
pub const DEFAULT_QUANTUM: u64 = 100_000;
/// Default physical memory in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;

/// An exception raised by a process, before the kernel handled it.
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

    pub fn build(self) -> Simulator {
        let output = || {
            if self.capture_output {
                Output::Captured(Vec::new())
            } else {
                Output::Host
            }
        };
        let mut kernel = Kernel::new(Console::new(self.input, output(), output()));
        kernel.trace_syscalls = self.trace_syscalls;
        kernel.dump_shm = self.dump_shm;
        let host = crate::vmshm::HostLink::new(self.vmshm.host_shm_mb);
        crate::vmshm::run::link_kernel(&mut kernel, &host, self.vmshm);
        Simulator {
            machine: Machine::new(self.memory_mb),
            kernel,
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
        }
    }
}

/// A machine, its kernel, and the run loop.
pub struct Simulator {
    pub machine: Machine,
    pub kernel: Kernel,
    quantum: u64,
    max_instructions: Option<u64>,
    trace: bool,
    trace_exceptions: bool,
    /// Instruction count at which the current process's slice ends.
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
        let pid = self.kernel.spawn(&mut self.machine, elf, args)?;
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
        Ok(pid)
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
        let pid = match self.kernel.current {
            Some(pid) => pid,
            None => loop {
                if let Some(pid) = self.kernel.schedule() {
                    self.slice_end = None;
                    break pid;
                }
                let killed = self.kernel.break_deadlock(&mut self.machine);
                self.after_vmshm();
                if !killed {
                    self.kernel.console.flush();
                    return None;
                }
            },
        };
        let slice_end = *self
            .slice_end
            .get_or_insert(self.machine.instret() + self.quantum);
        let stop_at = self
            .max_instructions
            .map_or(slice_end, |m| m.min(slice_end));
        let process = self.kernel.processes.get_mut(&pid)?;
        let before = self.machine.instret();
        let exception = if self.trace {
            trace_until_exception(
                &mut self.machine,
                process,
                stop_at,
                &mut self.kernel.console,
            )
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

    /// Lets the kernel handle `event` (as returned by `run_until_exception`).
    pub fn handle(&mut self, event: Event) {
        let started = Instant::now();
        *self.exceptions.entry(event.exception.kind()).or_default() += 1;
        if self.trace_exceptions {
            let pc = self
                .kernel
                .processes
                .get(&event.pid)
                .map_or(0, |p| p.hart.pc);
            self.kernel.report(&format!(
                "exception: process {} (parent: host) at pc {pc:#x}: {} → handled by the host kernel",
                event.pid, event.exception
            ));
        }
        if self.limit_reached {
            let limit = self.max_instructions.unwrap_or(0);
            self.kernel.report(&format!(
                "stopped after {limit} instructions (--max-instructions)"
            ));
            self.kernel.console.flush();
            return;
        }
        let next = self
            .kernel
            .handle(&mut self.machine, event.pid, event.exception);
        if next == Next::Reschedule {
            self.kernel.current = None;
        }
        self.after_vmshm();
        self.peak_frames = self.peak_frames.max(self.machine.memory().used_frames());
        self.elapsed += started.elapsed();
    }

    /// Runs until every process has ended (or the instruction limit).
    pub fn run(&mut self) -> RunOutcome {
        while let Some(event) = self.run_until_exception() {
            self.handle(event);
        }
        if self.kernel.dump_shm {
            let text = format!("sim: shm at exit:\n{}", self.dump_shm());
            self.kernel.console.write_stderr(text.as_bytes());
        }
        self.dump_vmshm_at_exit();
        self.kernel.console.flush();
        RunOutcome {
            exit_code: self.kernel.first_exit_code().unwrap_or(1),
            instructions: self.machine.instret(),
            limit_reached: self.limit_reached,
        }
    }

    /// A process (also after it ended).
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.kernel.processes.get(&pid)
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

    /// The kernel's shm list drawn as spec/shm.md draws it (what
    /// `--dump-shm` prints); usable at any exception.
    pub fn dump_shm(&self) -> String {
        crate::shm::dump(&self.kernel.shm)
    }

    /// Checks the shm invariants of spec/shm.md now.
    ///
    /// # Errors
    /// The first broken invariant, in words.
    pub fn check_shm_invariants(&self) -> Result<(), String> {
        self.kernel.check_shm_invariants(&self.machine)
    }

    /// What guests wrote to stdout (with `capture_output`).
    pub fn stdout(&self) -> &[u8] {
        self.kernel.console.captured_stdout()
    }

    /// What guests and the simulator wrote to stderr (with `capture_output`).
    pub fn stderr(&self) -> &[u8] {
        self.kernel.console.captured_stderr()
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
        for p in self.kernel.processes.values() {
            let status = match p.exit_status() {
                Some(crate::kernel::ExitStatus::Exited(c)) => format!("exited {c}"),
                Some(crate::kernel::ExitStatus::Killed(sig)) => format!("killed (signal {sig})"),
                None => "running".into(),
            };
            let _ = writeln!(
                s,
                "sim: stats: process {} ({}): {status}, {} instructions, {} page faults, {} pages peak",
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

//! `Trace`: what a run prints about itself besides the guests' own output,
//! one settings value for the whole simulator (the CLI's `--trace*` and
//! `--dump-*` options). Every line goes to stderr prefixed `sim:` (or
//! into the captured stderr of a VM, `Simulator::vm_stderr`).
//!
//! Who reads which setting: the simulator's run loop (`instructions` and
//! the trace window `from`/`to`/`last`/`pid`/`range`/`function`,
//! `exceptions`, `dump_contexts`, and `dump_vmshm` for the host region
//! after a change), each kernel's syscall layer (`syscalls`, `dump_shm`)
//! and its client daemon (`daemon`).
//!
//! A trace window narrows `--trace`: instructions outside it run at full
//! speed (simulator/trace.rs), so `--trace-from 1000000` costs nothing
//! before instruction 1,000,000.

/// What to print while running.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Trace {
    /// `--trace`: every instruction executed, disassembled, with the
    /// register it changed.
    pub instructions: bool,
    /// `--trace-syscalls`: every call (syscalls, hypercalls, the
    /// shared-memory calls) with its arguments and result.
    pub syscalls: bool,
    /// `--trace-exceptions`: every exception, the context that raised it
    /// and who handles it.
    pub exceptions: bool,
    /// `--trace-daemon`: every message between the VMs' client daemons and
    /// the host daemon of inter-VM shared memory.
    pub daemon: bool,
    /// `--dump-shm`: the shm list after every shm call that succeeded and
    /// at exit.
    pub dump_shm: bool,
    /// `--dump-vmshm`: the host region after every vm_* call that changed
    /// it and at exit.
    pub dump_vmshm: bool,
    /// `--dump-contexts`: the context tree of every VM at exit.
    pub dump_contexts: bool,
    /// `--trace-from N`: trace from the machine's N-th instruction on
    /// (counted over all processes, as `--stats` counts them).
    pub from: Option<u64>,
    /// `--trace-to N`: trace up to (not including) instruction N.
    pub to: Option<u64>,
    /// `--trace-last N`: keep only the last N lines, printed when a
    /// process is killed and when the run ends.
    pub last: Option<usize>,
    /// `--trace-pid P`: only process P (of any VM).
    pub pid: Option<u64>,
    /// `--trace-range A-B`: only instructions at addresses in `[A, B)`.
    pub range: Option<(u64, u64)>,
    /// `--trace-function NAME`: only instructions of that function (by
    /// the ELF symbol table). A `&'static str` keeps `Trace` a `Copy`
    /// value; the CLI parses it once for the whole run.
    pub function: Option<&'static str>,
}

impl Trace {
    /// Whether instructions are traced at all (`--trace` or any window).
    pub fn is_tracing(&self) -> bool {
        self.instructions
            || self.from.is_some()
            || self.to.is_some()
            || self.last.is_some()
            || self.pid.is_some()
            || self.range.is_some()
            || self.function.is_some()
    }
}

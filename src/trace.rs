//! `Trace`: what a run prints about itself besides the guests' own output,
//! one settings value for the whole simulator (the CLI's `--trace*` and
//! `--dump-*` options). Every line goes to stderr prefixed `sim:` (or
//! into the captured stderr of a VM, `Simulator::vm_stderr`).
//!
//! Who reads which setting: the simulator's run loop (`instructions`,
//! `exceptions`, `dump_contexts`, and `dump_vmshm` for the host region
//! after a change), each kernel's syscall layer (`syscalls`, `dump_shm`)
//! and its client daemon (`daemon`).

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
}

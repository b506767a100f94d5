//! Exceptions are values: the machine stops the running context and returns
//! one of these to the host. The faulting instruction has had no effect and
//! the context's pc points at it, so it can be restarted once the cause is
//! handled (a page mapped, a syscall's result written and pc advanced).

use std::fmt;

use super::mmu::Access;

/// Why the machine stopped running a context.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Exception {
    /// `ecall`: the call number is in `a7`, arguments in `a0`..`a5`.
    Syscall,
    /// A load, store or fetch of an unmapped page or without permission.
    PageFault { vaddr: u64, access: Access },
    /// An encoding the machine does not implement.
    IllegalInstruction { pc: u64, bits: u32 },
    /// A misaligned atomic (ordinary loads and stores may be misaligned,
    /// as under Linux), or with `Access::Execute` a fetch at an odd pc
    /// (RISC-V's instruction-address-misaligned; `vaddr` is the pc).
    Misaligned { vaddr: u64, access: Access },
    /// A division or remainder by zero, under selfie's machine semantics
    /// only (`Lowering::trap_division_by_zero`, `--trap-division-by-zero`):
    /// RISC-V itself defines a result and never traps.
    DivisionByZero { pc: u64 },
    /// `ebreak`.
    Breakpoint { pc: u64 },
    /// The instruction budget (quantum or run limit) is used up.
    Timer,
    /// A user-mode context used a hypercall (rule U/K-3); raised by the
    /// hypervisor, not by the machine.
    PrivilegeViolation { pc: u64, call: u64 },
}

impl Exception {
    /// How many kinds of exception there are (`kind_index` is below it).
    pub const KINDS: usize = 8;

    /// The short name of each kind, by `kind_index`.
    pub const KIND_NAMES: [&'static str; Exception::KINDS] = [
        "syscall",
        "page fault",
        "illegal instruction",
        "misaligned access",
        "division by zero",
        "breakpoint",
        "timer",
        "privilege violation",
    ];

    /// The number of its kind, `0..KINDS`: where counters per kind keep it
    /// (an array index costs the run loop less than a map keyed by name).
    pub fn kind_index(&self) -> usize {
        match self {
            Exception::Syscall => 0,
            Exception::PageFault { .. } => 1,
            Exception::IllegalInstruction { .. } => 2,
            Exception::Misaligned { .. } => 3,
            Exception::DivisionByZero { .. } => 4,
            Exception::Breakpoint { .. } => 5,
            Exception::Timer => 6,
            Exception::PrivilegeViolation { .. } => 7,
        }
    }

    /// A short name, for statistics and traces.
    pub fn kind(&self) -> &'static str {
        Exception::KIND_NAMES[self.kind_index()]
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exception::Syscall => write!(f, "syscall"),
            Exception::PageFault { vaddr, access } => {
                write!(f, "page fault: {access} at address {vaddr:#x}")
            }
            Exception::IllegalInstruction { pc, bits } => {
                write!(f, "illegal instruction {bits:#010x} at pc {pc:#x}")
            }
            Exception::Misaligned {
                vaddr,
                access: Access::Execute,
            } => write!(f, "misaligned instruction fetch at pc {vaddr:#x}"),
            Exception::Misaligned { vaddr, access } => {
                write!(f, "misaligned {access} at address {vaddr:#x}")
            }
            Exception::DivisionByZero { pc } => write!(f, "division by zero at pc {pc:#x}"),
            Exception::Breakpoint { pc } => write!(f, "breakpoint at pc {pc:#x}"),
            Exception::Timer => write!(f, "timer"),
            Exception::PrivilegeViolation { pc, call } => {
                write!(
                    f,
                    "privilege violation: hypercall {call} from user mode at pc {pc:#x}"
                )
            }
        }
    }
}

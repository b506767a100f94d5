//! The names every layer uses for the things it shares: a process (`Pid`)
//! and a VM (`VmId`). They live below the kernel so that the shared-memory
//! systems, the hypervisor and the kernel speak of the same process without
//! importing each other.

use std::fmt;

/// A process id. Pids start at 1 in each VM and are never reused within a
/// run; the same number in two VMs names two processes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(pub u64);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A VM's id: VM `n` is the `n`th kernel of a `Simulator` (VM 0 exists
/// from the start); also what `vm_id()` returns to its guests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VmId(pub u64);

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vm {}", self.0)
    }
}

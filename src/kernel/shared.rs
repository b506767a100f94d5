//! `SharedMemory`: the three shared-memory systems as one part of the
//! kernel, so that the rest of the kernel asks "what is shared" in one
//! place instead of once per system.
//!
//! ```text
//! SharedMemory
//!   shm    ShmTable       named shared memory of this kernel (docs/spec/shm.md)
//!   vmshm  ClientDaemon   this VM's side of inter-VM shared memory (docs/spec/vmshm.md)
//!   rshm   RshmClient?    the queues to this node's rshm server (docs/spec/rshm.md);
//!                         a segment's local copy is an object of `shm`
//! ```
//!
//! The kernel calls in at three moments of a process's life:
//! - **fork** (syscall/process.rs): `shared_pages` says which pages the
//!   child shares instead of copying; `fork` then makes the child a client
//!   of what its parent has open;
//! - **exit** (lifecycle.rs): `exit` leaves every object and block before
//!   the kernel frees the page table's frames, which are then all private;
//! - **a fatal page fault** (mod.rs): `fault_reason` names a rule of a
//!   shared-memory system when one explains the fault.
//!
//! Each system sees plain values (pids, page tables, frames); the calls
//! themselves are in syscall/shm.rs, syscall/vmshm.rs and syscall/rshm.rs.

use std::collections::{BTreeMap, BTreeSet};

use super::paging::FaultReason;
use crate::emu::{Access, PageTable, PhysMemory, VirtPage};
use crate::ids::Pid;
use crate::rshm::client::id_of_name;
use crate::rshm::{Request, RshmClient};
use crate::shm::ShmTable;
use crate::vmshm::ClientDaemon;

/// The shared-memory systems of one kernel.
pub struct SharedMemory {
    pub shm: ShmTable,
    pub vmshm: ClientDaemon,
    /// `None` unless the kernel runs as a `sim node` (then the rshm calls
    /// are `ENOSYS`).
    pub rshm: Option<RshmClient>,
    /// A vm_* call or an exit changed the host region since the simulator
    /// last looked (`--dump-vmshm`).
    vmshm_changed: bool,
}

/// The pages of a process that a fork shares instead of copying.
pub struct SharedPages {
    /// Mapped onto named-shm objects (rule A.6): the object holds the
    /// frames, mappings take no reference of their own.
    pub objects: BTreeSet<VirtPage>,
    /// Inter-VM blocks: one frame reference per mapping.
    pub blocks: BTreeSet<VirtPage>,
}

impl SharedMemory {
    /// The systems of VM `vm`'s kernel, not linked to a host daemon or an
    /// rshm server yet.
    pub fn new(vm: u64) -> SharedMemory {
        SharedMemory {
            shm: ShmTable::new(),
            vmshm: ClientDaemon::new(vm),
            rshm: None,
            vmshm_changed: false,
        }
    }

    /// What shared memory `pid`'s page `page` maps, in words, if any
    /// (hv_map refuses to give such a page away).
    pub fn sharing_at(&self, pid: Pid, page: VirtPage) -> Option<&'static str> {
        if self.shm.shared_pages(pid).contains(&page) {
            return Some("a named shared-memory object");
        }
        if self.vmshm.maps(pid, page) {
            return Some("an inter-VM shared-memory block");
        }
        None
    }

    /// Which pages of `pid` a fork shares.
    pub fn shared_pages(&self, pid: Pid) -> SharedPages {
        SharedPages {
            objects: self.shm.shared_pages(pid),
            blocks: self.vmshm.shared_pages(pid),
        }
    }

    /// After a fork of `parent` mapped the shared pages into `child`: the
    /// child becomes a client of every object and a process of every block
    /// its parent has open (rule A.6; docs/spec/vmshm.md: mappings stay shared).
    /// Returns whether the child joined a named-shm object (the kernel
    /// then checks the shm invariants).
    pub fn fork(&mut self, parent: Pid, child: Pid) -> bool {
        self.vmshm.fork(parent, child);
        if !self.shm.is_client_anywhere(parent) {
            return false;
        }
        self.shm.fork(parent, child);
        // The child is attached to the parent's rshm segments too.
        self.rshm_refs_changed();
        true
    }

    /// Process exit: leaves every named-shm object (rule A.5) and closes
    /// every inter-VM block of `pid`, so that afterwards every frame
    /// `page_table` maps is private to it. Call it before freeing those
    /// frames. Returns whether `pid` was a client of a named-shm object.
    pub fn exit(&mut self, memory: &mut PhysMemory, pid: Pid, page_table: &mut PageTable) -> bool {
        let was_client = self.shm.is_client_anywhere(pid);
        if was_client {
            self.shm.exit(memory, pid, page_table);
            // Its rshm attachments no longer count (docs/spec/rshm.md ref_count).
            self.rshm_refs_changed();
        }
        // docs/spec/vmshm.md: a process that exits closes all it opened. The
        // host region's frames are the host daemon's: they are unmapped
        // here, before the kernel frees what the page table maps.
        if self.vmshm.is_user(pid) {
            self.vmshm.exit(memory, pid, page_table);
            self.vmshm_changed = true;
        }
        was_client
    }

    /// The last process of the VM ended: it drops all its references
    /// (docs/spec/vmshm.md).
    pub fn vm_ended(&mut self, memory: &mut PhysMemory) {
        self.vmshm.vm_ended(memory);
    }

    /// Why a fault of `pid` at `vaddr` that paging could not back happened,
    /// in the words of the rule that explains it.
    pub fn fault_reason(
        &self,
        pid: Pid,
        vaddr: u64,
        access: Access,
        reason: FaultReason,
    ) -> String {
        if reason == FaultReason::NotPermitted
            && access == Access::Write
            && self.vmshm.is_read_only(pid, vaddr)
        {
            return "inter-VM shared memory opened read-only (docs/spec/vmshm.md: a store \
                    through a read-only mapping kills the storing process)"
                .to_string();
        }
        reason.to_string()
    }

    /// Notes that a vm_* call changed the host region.
    pub fn note_vmshm_changed(&mut self) {
        self.vmshm_changed = true;
    }

    /// Whether the host region changed since the last call of
    /// `take_vmshm_changed`.
    pub fn vmshm_changed(&self) -> bool {
        self.vmshm_changed
    }

    /// Whether the host region changed since the last call (and forgets it).
    pub fn take_vmshm_changed(&mut self) -> bool {
        std::mem::take(&mut self.vmshm_changed)
    }

    /// Tells the rshm server how many processes are attached to each
    /// segment here, where that changed (spec: "ref_count + 1 here and in
    /// the others' tables"). Called after attach, detach, fork and exit.
    pub fn rshm_refs_changed(&mut self) {
        let Some(client) = self.rshm.as_mut() else {
            return;
        };
        let now: BTreeMap<u64, u32> = self
            .shm
            .objects()
            .iter()
            .filter_map(|(_, o)| Some((id_of_name(&o.name)?, o.clients.len() as u32)))
            .collect();
        for (&id, &count) in &now {
            if client.told_refs.get(&id) != Some(&count) {
                client.node.send(Request::Refs { id, count });
            }
        }
        for &id in client.told_refs.keys() {
            if !now.contains_key(&id) {
                client.node.send(Request::Refs { id, count: 0 });
            }
        }
        client.told_refs = now;
    }
}

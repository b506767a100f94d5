//! The kernel's invariants over every kind of sharing, checked after every
//! syscall and hypercall in debug builds (the dispatcher, syscall/mod.rs)
//! and by the tests (`Simulator::check_invariants`).
//!
//! Per kernel (`Kernel::check_invariants`):
//!
//! 1. named shared memory: the invariants of docs/spec/shm.md
//!    (shm/invariants.rs): lists well formed, clients live, every entry
//!    that maps an object's frame recorded in that process's client;
//! 2. inter-VM shared memory: every entry that maps a frame of the host
//!    region is a mapping the client daemon records for that process, at
//!    the frame its block's offset says, and every recorded mapping is
//!    mapped so;
//! 3. the process table: parents, supervisors and `switched_to` name
//!    processes that exist, supervisors are guest kernels, and every
//!    ended process is one someone may still ask about (lifecycle.rs
//!    `release`).
//!
//! Over the whole machine (`check_frame_references`): the frame-ownership
//! rule of emu/memory.rs holds exactly: every frame's reference count is
//! the number of its owners.

use std::collections::{HashMap, HashSet};

use super::process::{Mode, ProcessState};
use super::Kernel;
use crate::emu::{Frame, Machine, PhysMemory};

impl Kernel {
    /// Checks this kernel's invariants (module doc).
    ///
    /// # Errors
    /// The first broken one, in words.
    pub fn check_invariants(&self, machine: &Machine) -> Result<(), String> {
        self.check_shm_invariants(machine)?;
        self.check_vmshm_mappings()?;
        self.check_process_table()
    }

    /// Invariant 2: the host region's frames are mapped only where the
    /// client daemon says.
    fn check_vmshm_mappings(&self) -> Result<(), String> {
        let vmshm = &self.shared.vmshm;
        let region = vmshm.region_frames();
        if region.is_empty() {
            return Ok(());
        }
        let index: HashMap<Frame, usize> =
            region.iter().enumerate().map(|(i, &f)| (f, i)).collect();
        for process in self.processes.iter() {
            let pid = process.pid;
            let mut recorded = HashMap::new();
            for mapping in vmshm.mappings_of(pid) {
                let first = (mapping.offset / crate::emu::PAGE_SIZE) as usize;
                for (i, page) in mapping.pages().enumerate() {
                    let Some(&want) = region.get(first + i) else {
                        return Err(format!(
                            "vmshm: process {pid} maps a block at offset {:#x} beyond the region",
                            mapping.offset
                        ));
                    };
                    match process.page_table.get(page) {
                        Some(pte) if pte.frame == want => {}
                        other => {
                            return Err(format!(
                                "vmshm: process {pid} page {page} should map region frame {want}, maps {:?}",
                                other.map(|p| p.frame)
                            ))
                        }
                    }
                    recorded.insert(page, want);
                }
            }
            for (page, pte) in process.page_table.entries() {
                if let Some(&i) = index.get(&pte.frame) {
                    if recorded.get(&page) != Some(&pte.frame) {
                        return Err(format!(
                            "vmshm: process {pid} page {page} maps region frame {} (region page {i}) \
                             but the client daemon records no such mapping",
                            pte.frame
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Invariant 3: the process table's links.
    fn check_process_table(&self) -> Result<(), String> {
        for p in self.processes.iter() {
            let pid = p.pid;
            if let Some(parent) = p.parent {
                if self.processes.get(parent).is_none() {
                    return Err(format!(
                        "process {pid}: parent {parent} is not in the table"
                    ));
                }
            }
            if let Some(s) = p.supervisor {
                match self.processes.get(s) {
                    Some(k) if k.mode == Mode::Kernel => {}
                    Some(_) => {
                        return Err(format!(
                            "process {pid}: supervisor {s} is not a guest kernel"
                        ))
                    }
                    None => {
                        return Err(format!("process {pid}: supervisor {s} is not in the table"))
                    }
                }
            }
            if let Some(child) = p.switched_to {
                if self
                    .processes
                    .get(child)
                    .is_none_or(|c| c.supervisor != Some(pid))
                {
                    return Err(format!(
                        "process {pid}: switched to {child}, not a child of it"
                    ));
                }
            }
            let kept = p.parent.is_some() || p.kept_for_its_kernel() || p.started_by_host;
            if let ProcessState::Zombie(_) = p.state {
                if !kept {
                    return Err(format!(
                        "process {pid}: ended, and nobody can collect it, but it is still in the table"
                    ));
                }
                if !p.page_table.is_empty() {
                    return Err(format!("process {pid}: ended, but still maps pages"));
                }
            }
        }
        Ok(())
    }

    /// In debug builds, panics when an invariant is broken after `call`:
    /// that is a kernel bug, whatever the guest did.
    pub(crate) fn debug_check(&self, machine: &Machine, call: &str) {
        if cfg!(debug_assertions) {
            if let Err(broken) = self.check_invariants(machine) {
                panic!("{call}: kernel invariant broken: {broken}");
            }
        }
    }
}

/// The frame-ownership rule of emu/memory.rs over the whole machine: the
/// reference count of every frame equals the number of its owners —
///
/// - each page-table entry, of any process of any VM, that maps it, except
///   entries mapping a frame of a named-shm object (the object's one
///   reference stands for all of them: its client list records each);
/// - the named-shm object whose frame it is;
/// - the host region, for each of its frames (`region`).
///
/// # Errors
/// The first frame whose count is off, with the count and the owners.
pub fn check_frame_references(
    kernels: &[Kernel],
    region: &[Frame],
    memory: &PhysMemory,
) -> Result<(), String> {
    let mut owners: HashMap<Frame, u32> = HashMap::new();
    for &frame in region {
        *owners.entry(frame).or_default() += 1;
    }
    for kernel in kernels {
        let mut object_frames = HashSet::new();
        for (_, object) in kernel.shm().objects().iter() {
            for &frame in &object.frames {
                object_frames.insert(frame);
                *owners.entry(frame).or_default() += 1;
            }
        }
        for process in kernel.processes().iter() {
            for (_, pte) in process.page_table.entries() {
                if !object_frames.contains(&pte.frame) {
                    *owners.entry(pte.frame).or_default() += 1;
                }
            }
        }
    }
    // Each owned frame has exactly its owners' references ...
    let mut owned: Vec<(&Frame, &u32)> = owners.iter().collect();
    owned.sort();
    for (&frame, &want) in owned {
        let have = memory.references(frame);
        if have != want {
            return Err(format!(
                "frame {frame}: {have} references, but {want} owners (page-table entries, \
                 shm objects, the host region)"
            ));
        }
    }
    // ... and no other frame is allocated (a frame without an owner would
    // never return to the pool).
    let used = memory.used_frames() as usize;
    if used != owners.len() {
        return Err(format!(
            "{used} frames are allocated, but only {} have an owner",
            owners.len()
        ));
    }
    Ok(())
}

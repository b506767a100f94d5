//! The invariants of docs/spec/shm.md, checked after every shm call in debug
//! builds (kernel/syscall/shm.rs) and by the property tests:
//!
//! 1. the object list and every client list are well formed in both
//!    directions (`List::check`);
//! 2. every client is a live process;
//! 3. free frames + frames of objects + private frames = all frames (at
//!    most all frames when other VMs share the machine: their frames are
//!    not this kernel's to see); a private frame mapped by more than one
//!    page table (a guest kernel's page it gave its child with `hv_map`)
//!    has one reference per mapping;
//! 4. every page-table entry that points at an object's frame is recorded
//!    in that process's client — and, the other way round, every recorded
//!    page maps the frame its position says (page `i` → frame `i % n`).

use std::collections::{HashMap, HashSet};

use super::object::ShmId;
use super::table::ShmTable;
use crate::emu::{Frame, PageTable, PhysMemory, PAGE_SIZE};
use crate::ids::Pid;

/// What the checks need to know of one process of the kernel.
#[derive(Clone, Copy)]
pub struct ProcessView<'a> {
    pub pid: Pid,
    /// Not ended (a zombie may not be a client).
    pub live: bool,
    pub page_table: &'a PageTable,
}

/// Checks every invariant, given every process of the kernel.
///
/// # Errors
/// The first broken one, in words, naming the object, process, page or
/// frame.
pub fn check(
    table: &ShmTable,
    processes: &[ProcessView<'_>],
    memory: &PhysMemory,
    other_vms: bool,
) -> Result<(), String> {
    let by_pid: HashMap<Pid, &ProcessView<'_>> = processes.iter().map(|p| (p.pid, p)).collect();
    let objects = table.objects();
    objects.check().map_err(|e| format!("object list: {e}"))?;
    // Which object frame is which: frame → (object, index).
    let mut owner: HashMap<Frame, (ShmId, usize)> = HashMap::new();
    let mut names = HashSet::new();
    for (handle, object) in objects.iter() {
        let id = object.id;
        if id != ShmId::of(handle) {
            return Err(format!(
                "object in slot {}: id {id} is not its handle's",
                handle.slot
            ));
        }
        object
            .clients
            .check()
            .map_err(|e| format!("object {id}: client list: {e}"))?;
        if object.clients.is_empty() {
            return Err(format!("object {id}: linked without clients (rule A.7)"));
        }
        if !names.insert(object.name.clone()) {
            return Err(format!(
                "object {id}: name {:?} is taken twice",
                object.display_name()
            ));
        }
        let n = object.frames.len();
        if object.size.map_or(0, |s| s / PAGE_SIZE) as usize != n {
            return Err(format!(
                "object {id}: size {:?} but {n} frames",
                object.size
            ));
        }
        for (i, &frame) in object.frames.iter().enumerate() {
            if !memory.is_allocated(frame) {
                return Err(format!("object {id}: frame {frame} is free"));
            }
            if owner.insert(frame, (id, i)).is_some() {
                return Err(format!("frame {frame} belongs to two objects"));
            }
        }
        let mut pids = HashSet::new();
        for (_, client) in object.clients.iter() {
            let pid = client.pid;
            if !pids.insert(pid) {
                return Err(format!("object {id}: process {pid} is a client twice"));
            }
            let Some(process) = by_pid.get(&pid).filter(|p| p.live) else {
                return Err(format!("object {id}: client {pid} is not a live process"));
            };
            if client.pages.len() % n.max(1) != 0 || (n == 0 && !client.pages.is_empty()) {
                return Err(format!("object {id}: client {pid} has a partial mapping"));
            }
            for (i, &page) in client.pages.iter().enumerate() {
                let want = object.frames[i % n];
                match process.page_table.get(page) {
                    Some(pte) if pte.frame == want => {}
                    other => {
                        return Err(format!(
                        "object {id}: client {pid} page {page} should map frame {want}, maps {:?}",
                        other.map(|p| p.frame)
                    ))
                    }
                }
            }
        }
    }
    let mut private: HashMap<Frame, u32> = HashMap::new();
    for process in processes {
        let pid = process.pid;
        for (page, pte) in process.page_table.entries() {
            if let Some(&(id, _)) = owner.get(&pte.frame) {
                let recorded = table
                    .get(id)
                    .and_then(|o| o.client(pid))
                    .is_some_and(|(_, c)| c.pages.contains(&page));
                if !recorded {
                    return Err(format!(
                        "process {pid} page {page} maps frame {} of object {id} but its client does not record it",
                        pte.frame
                    ));
                }
            } else {
                if !memory.is_allocated(pte.frame) {
                    return Err(format!(
                        "process {pid} page {page} maps free frame {}",
                        pte.frame
                    ));
                }
                let mappings = private.entry(pte.frame).or_default();
                *mappings += 1;
                if *mappings > memory.references(pte.frame) {
                    return Err(format!(
                        "private frame {} is mapped more often than it is referenced (process {pid} page {page})",
                        pte.frame
                    ));
                }
            }
        }
    }
    let free = memory.free_frames() as usize;
    let total = memory.frame_count() as usize;
    let accounted = free + owner.len() + private.len();
    if accounted > total || (accounted != total && !other_vms) {
        return Err(format!(
            "frames: {free} free + {} of objects + {} private != {total}",
            owner.len(),
            private.len()
        ));
    }
    Ok(())
}

//! Paging policy: which faults the kernel backs with a fresh zeroed frame
//! (stack, heap below brk, bss) and which kill the process, and where in
//! an address space the kernel puts a run of shared pages (the shm window
//! of abi/layout.rs). The three shared-memory systems get their addresses
//! from here; mapping and unmapping a run is the page table's own
//! (`PageTable::map_run`, `unmap_run`).

use std::fmt;

use super::process::Process;
use crate::abi::layout::*;
use crate::abi::{Errno, EINVAL, ENOMEM};
use crate::emu::{Frame, Machine, PhysMemory, PteFlags, VirtPage, PAGE_SIZE};

/// Why an address could not be backed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultReason {
    /// The address belongs to no region of the process.
    NotMapped,
    /// Mapped, but the access is not allowed (e.g. a store to code).
    NotPermitted,
    /// Physical memory is exhausted.
    OutOfMemory,
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultReason::NotMapped => "address not mapped",
            FaultReason::NotPermitted => "access not permitted by the page's permissions",
            FaultReason::OutOfMemory => "out of physical memory",
        })
    }
}

/// The permissions with which `vaddr` would be backed on demand, if it lies
/// in one of the process's demand-paged regions.
pub fn demand_region(process: &Process, vaddr: u64) -> Option<PteFlags> {
    if (STACK_BOTTOM..STACK_TOP).contains(&vaddr)
        || (process.heap_start..process.brk).contains(&vaddr)
    {
        return Some(PteFlags::USER_RW);
    }
    process
        .regions
        .iter()
        .find(|r| (r.start..r.end).contains(&vaddr))
        .map(|r| r.permissions)
}

/// Backs the page containing `vaddr` with a zeroed frame if it is in a
/// demand-paged region and not mapped yet.
///
/// **Extension point (coursework):** the page-fault policy: copy-on-write
/// for fork, a page cache for files, or eviction when frames run out all
/// start here.
///
/// # Errors
/// `NotMapped` outside every region, `NotPermitted` when the page is
/// already mapped (the fault was a permission fault), `OutOfMemory`.
pub fn back_on_demand(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
) -> Result<(), FaultReason> {
    let page = VirtPage::containing(vaddr);
    if process.page_table.get(page).is_some() {
        return Err(FaultReason::NotPermitted);
    }
    let permissions = demand_region(process, vaddr).ok_or(FaultReason::NotMapped)?;
    let frame = alloc_frame_for(machine.memory_mut(), page).ok_or(FaultReason::OutOfMemory)?;
    process.page_table.map(page, frame, permissions);
    process.note_peak_pages();
    Ok(())
}

/// A zeroed frame for `page`, of whichever process: a stack page's from
/// `alloc_growing_down`, any other's from `alloc`; `None` when memory is
/// exhausted. The stack grows down a page at a time, and its fresh frames
/// from the top of the pool down keep its pages in neighbouring frames,
/// in address order. The loader, the page-fault path and fork all map
/// through here, so a stack keeps that layout however its pages came.
pub fn alloc_frame_for(memory: &mut PhysMemory, page: VirtPage) -> Option<Frame> {
    if (STACK_BOTTOM..STACK_TOP).contains(&page.address()) {
        memory.alloc_growing_down()
    } else {
        memory.alloc()
    }
}

/// Whether `[addr, addr + pages * PAGE_SIZE)` lies in user space and
/// touches no mapped page and no page the kernel reserves for demand
/// paging: the stack, the heap's room up to `SHM_BASE` (so that a growing
/// brk never backs, and a shrinking one never frees, a shared page), .bss
/// regions, and the guard page above the stack (docs/spec/shm.md, rule A.3).
pub fn range_is_free(process: &Process, addr: u64, pages: u64) -> bool {
    let Some(end) = pages
        .checked_mul(PAGE_SIZE)
        .and_then(|len| addr.checked_add(len))
    else {
        return false;
    };
    if addr < USER_START || end > USER_END {
        return false;
    }
    let overlaps = |start: u64, stop: u64| addr < stop && start < end;
    if overlaps(STACK_BOTTOM, USER_END)
        || overlaps(process.heap_start, SHM_BASE)
        || process.regions.iter().any(|r| overlaps(r.start, r.end))
    {
        return false;
    }
    !process
        .page_table
        .any_mapped(VirtPage::containing(addr), VirtPage::containing(end))
}

/// The lowest free range of `pages` pages in the kernel's window
/// `SHM_BASE..STACK_BOTTOM` (see abi/layout.rs), for a shared-memory
/// mapping the guest let the kernel place.
///
/// **Extension point (coursework):** the placement policy (first fit
/// today; best fit or a per-process hint are exercises).
pub fn find_free_range(process: &Process, pages: u64) -> Option<u64> {
    if !has_room(process, pages) {
        return None;
    }
    let window_end = VirtPage::containing(STACK_BOTTOM).0;
    let mut candidate = VirtPage::containing(SHM_BASE).0;
    for (page, _) in process.page_table.entries() {
        if page.0 < candidate {
            continue;
        }
        if page.0 >= window_end || page.0 - candidate >= pages {
            break;
        }
        candidate = page.0 + 1;
    }
    let start = VirtPage(candidate).address();
    (candidate + pages <= window_end && range_is_free(process, start, pages)).then_some(start)
}

/// Where a mapping of `pages` pages goes: at `addr` if the guest asked for
/// one (it must be page-aligned and free, else `EINVAL`), else at the
/// lowest free range of the window (`ENOMEM` when there is none).
///
/// # Errors
/// `EINVAL`, `ENOMEM`.
pub fn place(process: &Process, addr: u64, pages: u64) -> Result<u64, Errno> {
    if addr == 0 {
        return find_free_range(process, pages).ok_or(ENOMEM);
    }
    if !addr.is_multiple_of(PAGE_SIZE) || !range_is_free(process, addr, pages) {
        return Err(EINVAL);
    }
    if !has_room(process, pages) {
        return Err(ENOMEM);
    }
    Ok(addr)
}

/// Whether `process` may map `pages` more pages (limits.rs,
/// `Limits::mapped_pages`): shared mappings take no frame of their own, so
/// `-m` alone would not bound the host memory their entries take.
pub fn has_room(process: &Process, pages: u64) -> bool {
    (process.page_table.len() as u64).saturating_add(pages) <= process.max_mapped_pages
}

//! Demand paging: which faults the kernel backs with a fresh zeroed frame
//! (stack, heap below brk, bss) and which kill the process.

use std::fmt;

use super::layout::*;
use super::process::Process;
use crate::emu::{Machine, PteFlags, VirtPage};

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
    let frame = machine
        .memory_mut()
        .alloc()
        .ok_or(FaultReason::OutOfMemory)?;
    process.page_table.map(page, frame, permissions);
    process.stats.peak_pages = process
        .stats
        .peak_pages
        .max(process.page_table.len() as u64);
    Ok(())
}

//! Memory calls: brk, the program break that bounds the heap, and the
//! private mappings of mmap, munmap, mprotect, mremap (madvise is
//! accepted and ignored: it is only advice).
//!
//! ```text
//! mmap     a Region (process.rs) in SHM_BASE..STACK_BOTTOM, first fit;
//!          anonymous: demand-paged; a file: its bytes copied in now
//! munmap   the private pages go (frames freed), the regions are cut
//! mprotect regions cut at the range's ends get the new permissions,
//!          mapped pages are remapped (the TLB sees the new generation)
//! ```

use super::{Ret, SysResult};
use crate::abi::layout::{page_round_up, SHM_BASE, STACK_BOTTOM, USER_END};
use crate::abi::{EACCES, EBADF, EEXIST, EFAULT, EINVAL, EIO, ENODEV, ENOMEM, ESRCH};
use crate::emu::{Machine, Pte, PteFlags, VirtPage, PAGE_SIZE};
use crate::kernel::files::FileKind;
use crate::kernel::process::{Pid, Process, Region};
use crate::kernel::Kernel;

impl Kernel {
    /// brk(0) returns the break; brk(addr) moves it within the heap's limits
    /// and returns the new break (the old one when refused, as Linux does).
    /// Pages above a lowered break are freed; pages below a raised one are
    /// backed on first touch (paging.rs).
    pub(super) fn sys_brk(&mut self, machine: &mut Machine, pid: Pid, addr: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        if addr < process.heap_start || addr > SHM_BASE {
            return Ok(Ret::Value(process.brk));
        }
        let old_top = page_round_up(process.brk);
        let new_top = page_round_up(addr);
        if new_top < old_top {
            let first = VirtPage::containing(new_top);
            for pte in process
                .page_table
                .unmap_run(first, (old_top - new_top) / PAGE_SIZE)
            {
                machine.memory_mut().free(pte.frame);
            }
        }
        process.brk = addr;
        Ok(Ret::Value(addr))
    }
}

/// `mmap`'s `prot` bits and flags (Linux generic values).
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const PROT_EXEC: u64 = 4;
pub const MAP_SHARED: u64 = 0x01;
#[allow(dead_code)]
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// `mremap`: the mapping may move.
const MREMAP_MAYMOVE: u64 = 1;

/// The page permissions of `prot` (write implies read on RISC-V: a
/// write-only page is reserved in Sv39, privileged spec 4.3.1).
pub fn permissions_of(prot: u64) -> PteFlags {
    let mut bits = PteFlags::USER;
    if prot & PROT_READ != 0 {
        bits |= PteFlags::READ;
    }
    if prot & PROT_WRITE != 0 {
        bits |= PteFlags::READ | PteFlags::WRITE;
    }
    if prot & PROT_EXEC != 0 {
        bits |= PteFlags::EXECUTE;
    }
    PteFlags(bits)
}

impl Kernel {
    /// mmap(addr, len, prot, flags, fd, offset) → the address of a new
    /// private mapping in the window above `SHM_BASE` (abi/layout.rs),
    /// shared with nothing. Anonymous mappings are demand-paged (an mmap of
    /// 1 GiB costs nothing until touched); a file's bytes are read into
    /// the mapping now (`MAP_PRIVATE`: later writes to either side are not
    /// seen by the other). `MAP_SHARED` of a file is refused (`ENODEV`):
    /// sim has no page cache to share.
    pub(super) fn sys_mmap(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 6]) -> SysResult {
        let [addr, len, prot, flags, fd, offset] = a;
        if len == 0 || !offset.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        let pages = page_round_up(len) / PAGE_SIZE;
        if pages == 0 || pages > (STACK_BOTTOM - SHM_BASE) / PAGE_SIZE {
            return Err(ENOMEM);
        }
        let anonymous = flags & MAP_ANONYMOUS != 0;
        if flags & MAP_SHARED != 0 && !anonymous {
            return Err(ENODEV);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        // The file's bytes first, so that a bad descriptor changes nothing.
        let contents = if anonymous {
            None
        } else {
            let file = process.files.get(fd).cloned().ok_or(EBADF)?;
            let mut file = file.borrow_mut();
            let FileKind::Regular(regular) = &mut file.kind else {
                return Err(EACCES);
            };
            let bytes = regular
                .read_at(offset, (pages * PAGE_SIZE) as usize)
                .map_err(|_| EIO)?;
            Some(bytes)
        };
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(EINVAL);
            }
            let end = addr.checked_add(pages * PAGE_SIZE).ok_or(EINVAL)?;
            if addr < SHM_BASE || end > STACK_BOTTOM {
                return Err(ENOMEM);
            }
            if flags & MAP_FIXED != 0 {
                unmap_private(machine, process, addr, end);
            }
            if !mmap_range_is_free(process, addr, pages) {
                return Err(EEXIST);
            }
            addr
        } else {
            find_mmap_range(process, pages).ok_or(ENOMEM)?
        };
        let end = start + pages * PAGE_SIZE;
        let permissions = permissions_of(prot);
        match contents {
            None => add_region(process, start, end, permissions),
            Some(bytes) => {
                let needed = pages;
                if u64::from(machine.memory().free_frames()) < needed {
                    return Err(ENOMEM);
                }
                for i in 0..pages {
                    let Some(frame) = machine.memory_mut().alloc() else {
                        return Err(ENOMEM);
                    };
                    let from = (i * PAGE_SIZE) as usize;
                    let to = (from + PAGE_SIZE as usize).min(bytes.len());
                    if from < to {
                        machine.memory_mut().frame_bytes_mut(frame)[..to - from]
                            .copy_from_slice(&bytes[from..to]);
                    }
                    process.page_table.map(
                        VirtPage::containing(start + i * PAGE_SIZE),
                        frame,
                        permissions,
                    );
                }
                // Still a region of the process, so that munmap and
                // mprotect find it (its pages are all mapped already).
                add_region(process, start, end, permissions);
                process.note_peak_pages();
            }
        }
        Ok(Ret::Value(start))
    }

    /// munmap(addr, len) → 0: the private pages of the range go (shared
    /// mappings are left to their own calls: shm_close, rshmdt, ...).
    pub(super) fn sys_munmap(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        addr: u64,
        len: u64,
    ) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(EINVAL);
        }
        let end = addr.checked_add(page_round_up(len)).ok_or(EINVAL)?;
        if end > USER_END {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        unmap_private(machine, process, addr, end);
        Ok(Ret::Value(0))
    }

    /// mprotect(addr, len, prot) → 0: new permissions for the private
    /// pages of the range, mapped or still to be backed on demand. Every
    /// changed entry bumps the page table's generation, so the TLB keeps
    /// no stale permission (a downgrade included).
    pub(super) fn sys_mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: u64) -> SysResult {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        let end = addr.checked_add(page_round_up(len)).ok_or(EINVAL)?;
        if end > USER_END {
            return Err(EINVAL);
        }
        let shared = self.shared.shared_pages(pid);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let permissions = permissions_of(prot);
        split_regions(process, addr, end);
        for region in &mut process.regions {
            if addr <= region.start && region.end <= end {
                region.permissions = permissions;
            }
        }
        for (vpage, pte) in mapped_in(process, addr, end) {
            if !shared.objects.contains(&vpage) && !shared.blocks.contains(&vpage) {
                process.page_table.map(vpage, pte.frame, permissions);
            }
        }
        Ok(Ret::Value(0))
    }

    /// mremap(old, old_len, new_len, flags, new_addr) → the address: a
    /// shrink frees the tail; a growth extends in place when the pages
    /// after are free, else (`MREMAP_MAYMOVE`) moves the mapping, pages
    /// and all.
    pub(super) fn sys_mremap(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 5]) -> SysResult {
        let [old, old_len, new_len, flags, _] = a;
        if !old.is_multiple_of(PAGE_SIZE) || new_len == 0 {
            return Err(EINVAL);
        }
        let old_end = old.checked_add(page_round_up(old_len)).ok_or(EINVAL)?;
        let new_end = old.checked_add(page_round_up(new_len)).ok_or(EINVAL)?;
        if old_end > USER_END || new_end > USER_END {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let Some(permissions) = process
            .regions
            .iter()
            .find(|r| r.start <= old && old < r.end)
            .map(|r| r.permissions)
        else {
            return Err(EFAULT);
        };
        if new_end <= old_end {
            unmap_private(machine, process, new_end, old_end);
            return Ok(Ret::Value(old));
        }
        let grow = (new_end - old_end) / PAGE_SIZE;
        if new_end <= STACK_BOTTOM && mmap_range_is_free(process, old_end, grow) {
            add_region(process, old_end, new_end, permissions);
            return Ok(Ret::Value(old));
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(ENOMEM);
        }
        let pages = (new_end - old) / PAGE_SIZE;
        let start = find_mmap_range(process, pages).ok_or(ENOMEM)?;
        add_region(process, start, start + pages * PAGE_SIZE, permissions);
        for (vpage, _) in mapped_in(process, old, old_end) {
            if let Some(pte) = process.page_table.unmap(vpage) {
                let page = vpage.address();
                process.page_table.map(
                    VirtPage::containing(start + (page - old)),
                    pte.frame,
                    pte.flags,
                );
            }
        }
        remove_regions(process, old, old_end);
        Ok(Ret::Value(start))
    }
}

/// Adds the demand-paged region `start..end`.
fn add_region(process: &mut Process, start: u64, end: u64, permissions: PteFlags) {
    process.regions.push(Region {
        start,
        end,
        permissions,
    });
}

/// Cuts the regions that straddle `start` or `end`, so that each region
/// lies wholly inside or outside `start..end`.
fn split_regions(process: &mut Process, start: u64, end: u64) {
    let mut pieces = Vec::with_capacity(process.regions.len() + 2);
    for r in process.regions.drain(..) {
        let mut cuts = vec![r.start];
        for at in [start, end] {
            if r.start < at && at < r.end {
                cuts.push(at);
            }
        }
        cuts.push(r.end);
        for pair in cuts.windows(2) {
            pieces.push(Region {
                start: pair[0],
                end: pair[1],
                permissions: r.permissions,
            });
        }
    }
    process.regions = pieces;
}

/// Removes every region part inside `start..end`.
fn remove_regions(process: &mut Process, start: u64, end: u64) {
    split_regions(process, start, end);
    process
        .regions
        .retain(|r| !(start <= r.start && r.end <= end));
}

/// Unmaps and frees the private pages of `start..end` (those inside one
/// of the process's regions) and drops the regions there.
fn unmap_private(machine: &mut Machine, process: &mut Process, start: u64, end: u64) {
    for (vpage, _) in mapped_in(process, start, end) {
        let page = vpage.address();
        let in_region = process
            .regions
            .iter()
            .any(|r| r.start <= page && page < r.end);
        if in_region {
            if let Some(pte) = process.page_table.unmap(vpage) {
                machine.memory_mut().free(pte.frame);
            }
        }
    }
    remove_regions(process, start, end);
}

/// The mapped pages of `start..end`: found through the page table's
/// entries, so the cost follows what is mapped, not the range's length (a
/// guest may pass a range of 2^38 bytes).
fn mapped_in(process: &Process, start: u64, end: u64) -> Vec<(VirtPage, Pte)> {
    process
        .page_table
        .entries()
        .filter(|(vpage, _)| (start..end).contains(&vpage.address()))
        .collect()
}

/// Whether `pages` pages at `addr` touch no region and no mapped page.
fn mmap_range_is_free(process: &Process, addr: u64, pages: u64) -> bool {
    let end = addr + pages * PAGE_SIZE;
    !process
        .regions
        .iter()
        .any(|r| r.start < end && addr < r.end)
        && !process
            .page_table
            .any_mapped(VirtPage::containing(addr), VirtPage::containing(end))
}

/// The lowest free range of `pages` pages in the window `SHM_BASE ..
/// STACK_BOTTOM - 2 pages` (the signal trampoline sits below the stack):
/// first fit over the regions and mapped pages there.
///
/// **Extension point (coursework):** placement (top-down as Linux does,
/// best fit, randomization).
fn find_mmap_range(process: &Process, pages: u64) -> Option<u64> {
    let limit = crate::kernel::signal::TRAMPOLINE;
    let mut taken: Vec<(u64, u64)> = process
        .regions
        .iter()
        .filter(|r| r.end > SHM_BASE && r.start < limit)
        .map(|r| (r.start, r.end))
        .collect();
    for (page, _) in process.page_table.entries() {
        let at = page.address();
        if (SHM_BASE..limit).contains(&at) {
            taken.push((at, at + PAGE_SIZE));
        }
    }
    taken.sort_unstable();
    let size = pages.checked_mul(PAGE_SIZE)?;
    let mut candidate = SHM_BASE;
    for (start, end) in taken {
        if start >= candidate.checked_add(size)? {
            break;
        }
        candidate = candidate.max(end);
    }
    (candidate.checked_add(size)? <= limit).then_some(candidate)
}

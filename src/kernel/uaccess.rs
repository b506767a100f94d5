//! The one choke point between guest pointers and host bytes.
//!
//! A guest pointer is an allegation until it is checked: `copy_in`,
//! `copy_out` and `read_c_string` walk the process's page table page by
//! page, back demand-paged pages on first touch (a `read` into a fresh bss
//! buffer is legal), check the user permission for the access, and return
//! `EFAULT` instead of touching anything they must not.

use super::paging;
use super::process::Process;
use crate::abi::{Errno, EFAULT, ENAMETOOLONG};
use crate::emu::{Access, Machine, Pte, PteFlags, VirtAddr, VirtPage, PAGE_SIZE};

/// The page-table entry (its frame, its flags) and the offset behind
/// `vaddr` for `access`, backing it on demand. `Err(EFAULT)` when the
/// address is not the process's to use.
///
/// Inlined, as it is on the path of every `read`; the first touch of a
/// page is a call of its own (`back_page`), so that the common case, a
/// mapped page, does not pay for saving the registers the rare one needs.
#[inline]
fn resolve(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    access: Access,
) -> Result<(Pte, usize), Errno> {
    let pte = match process.page_table.get(VirtPage::containing(vaddr)) {
        Some(pte) => pte,
        None => back_page(machine, process, vaddr)?,
    };
    if !pte.flags.allows(access) {
        return Err(EFAULT);
    }
    Ok((pte, VirtAddr(vaddr).offset()))
}

/// Backs the page of `vaddr` on demand (`resolve`'s rare case).
#[inline(never)]
fn back_page(machine: &mut Machine, process: &mut Process, vaddr: u64) -> Result<Pte, Errno> {
    paging::back_on_demand(machine, process, vaddr).map_err(|_| EFAULT)?;
    let page = VirtPage::containing(vaddr);
    process.page_table.get(page).ok_or(EFAULT)
}

/// Copies `len` guest bytes at `vaddr` into a host buffer.
///
/// # Errors
/// `EFAULT` when any byte is not readable.
pub fn copy_in(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    len: u64,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    copy_in_to(machine, process, vaddr, len, &mut out)?;
    Ok(out)
}

/// Copies `len` guest bytes at `vaddr` into `out`, replacing what it held:
/// `copy_in` for a caller that reuses one buffer from call to call (the
/// kernel's `io_buffer`), so that a small `write` allocates nothing.
///
/// # Errors
/// `EFAULT` when any byte is not readable (`out` then holds part of them).
pub fn copy_in_to(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    len: u64,
    out: &mut Vec<u8>,
) -> Result<(), Errno> {
    vaddr.checked_add(len).ok_or(EFAULT)?;
    out.clear();
    out.reserve(len.min(1 << 20) as usize);
    let mut addr = vaddr;
    while out.len() as u64 != len {
        let (Pte { frame, .. }, off) = resolve(machine, process, addr, Access::Read)?;
        let n = (PAGE_SIZE as usize - off).min((len - out.len() as u64) as usize);
        out.extend_from_slice(&machine.memory().frame_bytes(frame)[off..off + n]);
        addr += n as u64;
    }
    Ok(())
}

/// Copies host bytes to guest memory at `vaddr`. Checks every page first,
/// so a fault leaves guest memory unchanged.
///
/// # Errors
/// `EFAULT` when any byte is not writable.
#[inline]
pub fn copy_out(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    data: &[u8],
) -> Result<(), Errno> {
    let end = vaddr.checked_add(data.len() as u64).ok_or(EFAULT)?;
    if data.is_empty() {
        return Ok(());
    }
    // A copy within one page, as a small read or a word is (this is the
    // path of every `read`): one translation, which checks the page right
    // before the copy, and nothing allocated on the way. Inlined into the
    // calls; a copy that spans pages is a call of its own.
    if VirtPage::containing(vaddr) == VirtPage::containing(end - 1) {
        return copy_out_within_page(machine, process, vaddr, data);
    }
    copy_out_pages(machine, process, vaddr, data)
}

/// `copy_out` of bytes that span pages: checks (and backs) all of them
/// before it writes a byte; the loop then finds each one mapped.
#[inline(never)]
fn copy_out_pages(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    data: &[u8],
) -> Result<(), Errno> {
    check_writable(machine, process, vaddr, data.len() as u64)?;
    let mut addr = vaddr;
    let mut rest = data;
    while !rest.is_empty() {
        let n = (PAGE_SIZE - VirtAddr(addr).offset() as u64).min(rest.len() as u64) as usize;
        copy_out_within_page(machine, process, addr, &rest[..n])?;
        rest = &rest[n..];
        addr += n as u64;
    }
    Ok(())
}

/// `copy_out` of bytes that all lie in the page of `vaddr`.
#[inline(always)]
fn copy_out_within_page(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    data: &[u8],
) -> Result<(), Errno> {
    let (pte, off) = resolve(machine, process, vaddr, Access::Write)?;
    let bytes = &mut machine.memory_mut().frame_bytes_mut(pte.frame)[off..off + data.len()];
    // One byte, as a `getchar` reads, is a store; `copy_from_slice` would
    // call `memcpy`, which costs more than the store for so few bytes.
    if let ([to], [from]) = (&mut *bytes, data) {
        *to = *from;
    } else {
        bytes.copy_from_slice(data);
    }
    // The kernel wrote this page on the process's behalf: it is dirty
    // (and accessed). A page marked so already, as a read buffer is from
    // the second read on, needs no second walk of the table.
    if !(pte.flags.has(PteFlags::DIRTY) && pte.flags.has(PteFlags::ACCESSED)) {
        process.page_table.mark_dirty(VirtPage::containing(vaddr));
    }
    Ok(())
}

/// Checks that `len` bytes at `vaddr` may be written (backing them on
/// demand), without writing: a call that consumes input it cannot give
/// back asks this first.
///
/// # Errors
/// `EFAULT` when any byte is not writable.
pub fn check_writable(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    len: u64,
) -> Result<(), Errno> {
    let end = vaddr.checked_add(len).ok_or(EFAULT)?;
    let mut addr = vaddr;
    while addr < end {
        resolve(machine, process, addr, Access::Write)?;
        addr = (addr | (PAGE_SIZE - 1)).saturating_add(1);
    }
    Ok(())
}

/// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
///
/// # Errors
/// `EFAULT` for an unreadable byte, `ENAMETOOLONG` when no NUL comes within
/// `max` bytes.
pub fn read_c_string(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    max: usize,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut addr = vaddr;
    loop {
        let (Pte { frame, .. }, off) = resolve(machine, process, addr, Access::Read)?;
        let bytes = &machine.memory().frame_bytes(frame)[off..];
        for &b in bytes {
            if b == 0 {
                return Ok(out);
            }
            if out.len() == max {
                return Err(ENAMETOOLONG);
            }
            out.push(b);
        }
        addr = addr.checked_add(bytes.len() as u64).ok_or(EFAULT)?;
    }
}

/// The bytes at `vaddr` if all `len` are mapped and readable, without
/// backing a page or marking one used: for traces, which must not change
/// what they look at.
pub fn peek(machine: &Machine, process: &Process, vaddr: u64, len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut addr = vaddr;
    while out.len() < len {
        let pte = process.page_table.get(VirtPage::containing(addr))?;
        if !pte.flags.allows(Access::Read) {
            return None;
        }
        let off = VirtAddr(addr).offset();
        let n = (PAGE_SIZE as usize - off).min(len - out.len());
        out.extend_from_slice(&machine.memory().frame_bytes(pte.frame)[off..off + n]);
        addr = addr.checked_add(n as u64)?;
    }
    Some(out)
}

/// A NUL-terminated string of at most `max` bytes at `vaddr`, as `peek`
/// reads (`None` if a byte before the NUL is not readable).
pub fn peek_string(
    machine: &Machine,
    process: &Process,
    vaddr: u64,
    max: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut addr = vaddr;
    while out.len() < max {
        let chunk = (PAGE_SIZE - (addr & (PAGE_SIZE - 1))) as usize;
        let bytes = peek(machine, process, addr, chunk.min(max - out.len()))?;
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            out.extend_from_slice(&bytes[..end]);
            return Some(out);
        }
        out.extend_from_slice(&bytes);
        addr = addr.checked_add(bytes.len() as u64)?;
    }
    Some(out)
}

/// Reads one 64-bit word.
///
/// # Errors
/// `EFAULT`.
pub fn read_u64(machine: &mut Machine, process: &mut Process, vaddr: u64) -> Result<u64, Errno> {
    let bytes = copy_in(machine, process, vaddr, 8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes);
    Ok(u64::from_le_bytes(word))
}

/// Writes one 64-bit word.
///
/// # Errors
/// `EFAULT`.
pub fn write_u64(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    value: u64,
) -> Result<(), Errno> {
    copy_out(machine, process, vaddr, &value.to_le_bytes())
}

//! The bus: how the hart reaches memory when the executor's fast path
//! cannot, and the one place that fills the TLB.
//!
//! The fast path (exec.rs) does an aligned load or store within one page
//! whose translation the TLB holds with one compare and a host pointer. All
//! the rest comes here, through `Bus`, which borrows what it needs from the
//! machine for the length of one run: physical memory, the TLB and the
//! running context's page table.
//!
//! - `translate`: page-table walk and permission check, a
//!   `PageFault` if it fails, else the PTE's accessed/dirty bits and a TLB
//!   fill. Also used by the block decoder for fetches (block.rs).
//! - `load` / `store`: accesses that missed the TLB, are misaligned or
//!   cross a page. A store translates every page it touches before it writes
//!   anything, so a fault leaves memory as it was; a store to a frame that
//!   holds decoded code sets `code_written`, and the executor then leaves
//!   its block (the block's own code may have changed).
//! - `amo`: the A extension's atomics, always here.
//!
//! `Bus` is safe code: it holds plain `&mut` borrows, so nothing else can
//! touch what it borrows while it lives (see machine.rs for how the run
//! loop hands them out).

use super::addr::{PhysAddr, VirtAddr};
use super::exception::Exception;
use super::instruction::{AmoOp, AmoWidth};
use super::memory::{Frame, PhysMemory, PAGE_SIZE};
use super::mmu::{Access, PageTable, Tlb, VirtPage};

/// What the executor's slow paths and the block decoder use to reach
/// memory during one run.
pub(crate) struct Bus<'a> {
    pub memory: &'a mut PhysMemory,
    pub tlb: &'a mut Tlb,
    pub page_table: &'a mut PageTable,
    /// Reservation of `lr` (a physical address), cleared by any `sc`.
    reservation: &'a mut Option<u64>,
    /// Set by a store that hit a frame holding decoded code.
    pub code_written: bool,
}

impl<'a> Bus<'a> {
    pub fn new(
        memory: &'a mut PhysMemory,
        tlb: &'a mut Tlb,
        page_table: &'a mut PageTable,
        reservation: &'a mut Option<u64>,
    ) -> Bus<'a> {
        Bus {
            memory,
            tlb,
            page_table,
            reservation,
            code_written: false,
        }
    }

    /// Translates `vaddr` for `access` through the page table, filling the
    /// TLB and setting the PTE's accessed/dirty bits. Returns the physical
    /// address.
    ///
    /// Inlined into its few callers, all slow paths: for the common miss
    /// (one page-table lookup) the call and its saved registers cost about
    /// as much as the work.
    #[inline(always)]
    pub fn translate(&mut self, vaddr: u64, access: Access) -> Result<u64, Exception> {
        let page = VirtPage::containing(vaddr);
        let pte = self
            .page_table
            .get(page)
            .filter(|pte| pte.flags.allows(access))
            .ok_or(Exception::PageFault { vaddr, access })?;
        self.page_table.mark_used(page, access);
        // A frame holding decoded code never gets a write tag: stores to it
        // must take the slow path, which notes that the code changed.
        let tag = if access == Access::Write && self.memory.holds_code(pte.frame) {
            None
        } else {
            Some(access)
        };
        let host_frame = self.memory.host_frame(pte.frame);
        self.tlb.fill(page.address(), host_frame, tag);
        Ok(PhysAddr::new(pte.frame, VirtAddr(vaddr).offset()).0)
    }

    /// Records that the block cache decoded code from `frame`. From now on
    /// stores to it must take the slow path, which invalidates its blocks:
    /// the first time, every cached write permission goes.
    pub fn mark_code(&mut self, frame: Frame) {
        if !self.memory.holds_code(frame) {
            self.memory.mark_code(frame);
            self.tlb.forbid_writes();
        }
    }

    /// A load the fast path could not do: translates (page by page, for a
    /// misaligned access that crosses a page) and reads `size` bytes.
    #[cold]
    #[inline(never)]
    pub fn load(&mut self, addr: u64, size: u64) -> Result<u64, Exception> {
        let phys = self.translate(addr, Access::Read)?;
        let offset = PhysAddr(phys).offset();
        if offset + size as usize <= PAGE_SIZE as usize {
            // Within one page (a TLB miss, or merely misaligned).
            let bytes = &self.memory.frame_bytes(PhysAddr(phys).frame())[offset..];
            let mut value = [0u8; 8];
            value[..size as usize].copy_from_slice(&bytes[..size as usize]);
            return Ok(u64::from_le_bytes(value));
        }
        // Crosses into the next page: byte by byte, translating that page too.
        let mut value = 0u64;
        let mut phys = phys;
        for k in 0..size {
            let a = addr.wrapping_add(k);
            if k > 0 && VirtAddr(a).offset() == 0 {
                phys = self.translate(a, Access::Read)?;
            } else if k > 0 {
                phys += 1;
            }
            let byte = self.memory.frame_bytes(PhysAddr(phys).frame())[PhysAddr(phys).offset()];
            value |= u64::from(byte) << (8 * k);
        }
        Ok(value)
    }

    /// A store the fast path could not do. Translates every page the store
    /// touches before writing anything, so a fault leaves memory as it was.
    /// Writing a frame with decoded code sets `code_written`.
    #[cold]
    #[inline(never)]
    pub fn store(&mut self, addr: u64, size: u64, value: u64) -> Result<(), Exception> {
        let first = self.translate(addr, Access::Write)?;
        let last_addr = addr.wrapping_add(size - 1);
        let second = if (last_addr ^ addr) & !(PAGE_SIZE - 1) != 0 {
            Some(self.translate(last_addr & !(PAGE_SIZE - 1), Access::Write)?)
        } else {
            None
        };
        let bytes = value.to_le_bytes();
        let first_len = match second {
            Some(_) => PAGE_SIZE as usize - PhysAddr(first).offset(),
            None => size as usize,
        };
        self.write_physical(first, &bytes[..first_len]);
        if let Some(second) = second {
            self.write_physical(second, &bytes[first_len..size as usize]);
        }
        Ok(())
    }

    /// Writes bytes at a physical address within one frame; notes a write
    /// to decoded code.
    fn write_physical(&mut self, phys: u64, bytes: &[u8]) {
        let frame = PhysAddr(phys).frame();
        if self.memory.holds_code(frame) {
            self.code_written = true;
        }
        let offset = PhysAddr(phys).offset();
        self.memory.frame_bytes_mut(frame)[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// An atomic (A extension) on the naturally aligned address `addr`
    /// (else `Misaligned`), with source operand `src`. Returns the value
    /// for `rd`; on an exception nothing changed, except that an `sc`
    /// always clears the reservation.
    #[cold]
    #[inline(never)]
    pub fn amo(
        &mut self,
        amo: AmoOp,
        width: AmoWidth,
        addr: u64,
        src: u64,
    ) -> Result<u64, Exception> {
        let size = match width {
            AmoWidth::Word => 4,
            AmoWidth::Double => 8,
        };
        let access = if amo == AmoOp::Lr {
            Access::Read
        } else {
            Access::Write
        };
        if !addr.is_multiple_of(size) {
            return Err(Exception::Misaligned {
                vaddr: addr,
                access,
            });
        }
        // A word is sign-extended into the register, and operated on as one.
        let extend = |v: u64| {
            if size == 4 {
                v as u32 as i32 as i64 as u64
            } else {
                v
            }
        };
        match amo {
            AmoOp::Lr => {
                let v = self.load(addr, size)?;
                *self.reservation = Some(self.translate(addr, Access::Read)?);
                Ok(extend(v))
            }
            AmoOp::Sc => {
                let phys = self.translate(addr, Access::Write)?;
                if self.reservation.take() == Some(phys) {
                    self.store(addr, size, src)?;
                    Ok(0)
                } else {
                    Ok(1)
                }
            }
            _ => {
                // Check write permission first, so a fault has no effect.
                self.translate(addr, Access::Write)?;
                let old = extend(self.load(addr, size)?);
                let src = extend(src);
                let new = match amo {
                    AmoOp::Swap => src,
                    AmoOp::Add => old.wrapping_add(src),
                    AmoOp::Xor => old ^ src,
                    AmoOp::And => old & src,
                    AmoOp::Or => old | src,
                    AmoOp::Min => (old as i64).min(src as i64) as u64,
                    AmoOp::Max => (old as i64).max(src as i64) as u64,
                    AmoOp::Minu => old.min(src),
                    AmoOp::Maxu => old.max(src),
                    AmoOp::Lr | AmoOp::Sc => old,
                };
                self.store(addr, size, new)?;
                Ok(old)
            }
        }
    }
}

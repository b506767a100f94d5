//! Addresses as types: a virtual address (`VirtAddr`, what a guest
//! computes) and a physical address (`PhysAddr`, a frame and an offset in
//! it), so that splitting an address into its page and its offset is
//! written once, here, instead of as shifts and masks wherever an address
//! is taken apart. Page and frame numbers are `VirtPage` (mmu.rs) and
//! `Frame` (memory.rs).
//!
//! ```text
//!  63                    12 11          0
//! +-----------------------+-------------+
//! | page (VirtPage/Frame) |   offset    |
//! +-----------------------+-------------+
//! ```

use std::fmt;

use super::memory::{Frame, PAGE_SHIFT, PAGE_SIZE};
use super::mmu::VirtPage;

/// A virtual address of some context.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VirtAddr(pub u64);

impl VirtAddr {
    /// The page that contains this address.
    pub fn page(self) -> VirtPage {
        VirtPage(self.0 >> PAGE_SHIFT)
    }

    /// The offset of this address in its page.
    pub fn offset(self) -> usize {
        (self.0 & (PAGE_SIZE - 1)) as usize
    }
}

impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A physical address of the machine's memory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The address `offset` bytes into `frame`.
    pub fn new(frame: Frame, offset: usize) -> PhysAddr {
        PhysAddr(frame.address() | offset as u64)
    }

    /// The frame that holds this address.
    pub fn frame(self) -> Frame {
        Frame((self.0 >> PAGE_SHIFT) as u32)
    }

    /// The offset of this address in its frame.
    pub fn offset(self) -> usize {
        (self.0 & (PAGE_SIZE - 1)) as usize
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_its_page_and_offset() {
        let v = VirtAddr(0x3000_1234);
        assert_eq!((v.page(), v.offset()), (VirtPage(0x30001), 0x234));
        let p = PhysAddr::new(Frame(7), 0xfff);
        assert_eq!((p.frame(), p.offset(), p.0), (Frame(7), 0xfff, 0x7fff));
    }
}

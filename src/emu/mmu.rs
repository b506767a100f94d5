//! Virtual memory: the per-context page table and the software TLB in front
//! of it.
//!
//! A page-table entry (PTE) maps one 4 KiB virtual page to one physical
//! frame, with these bits (the same meaning as in RISC-V Sv39, privileged
//! spec 4.3.1, kept in a host-side table so that students can print it):
//!
//! ```text
//!  frame number (32 bits) | D A U X W R V
//!                           6 5 4 3 2 1 0
//! ```
//!
//! `A` (accessed) is set when a translation is first loaded into the TLB,
//! `D` (dirty) when a translation is first loaded for a write; as in
//! hardware, the TLB caches the bits, so software that clears them must flush.
//!
//! The TLB is direct-mapped and indexed by virtual page number. Each entry
//! has one tag per access kind and a host addend: a hit is one compare, and
//! the host address is `vaddr + addend`. The tag compare also rejects
//! misaligned accesses (see `Tlb::tag_for`), which then take the slow path.

use std::collections::BTreeMap;
use std::fmt;

use super::memory::{Frame, PAGE_SHIFT, PAGE_SIZE};

/// Kind of memory access, for faults and permission checks.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "load",
            Access::Write => "store",
            Access::Execute => "fetch",
        })
    }
}

/// A virtual page number (`vaddr >> 12`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VirtPage(pub u64);

impl VirtPage {
    /// The page that contains `vaddr`.
    pub fn containing(vaddr: u64) -> VirtPage {
        VirtPage(vaddr >> PAGE_SHIFT)
    }

    /// The page's first address.
    pub fn address(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
}

impl fmt::Display for VirtPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Permission and status bits of a PTE.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct PteFlags(pub u8);

impl PteFlags {
    pub const VALID: u8 = 1 << 0;
    pub const READ: u8 = 1 << 1;
    pub const WRITE: u8 = 1 << 2;
    pub const EXECUTE: u8 = 1 << 3;
    pub const USER: u8 = 1 << 4;
    pub const ACCESSED: u8 = 1 << 5;
    pub const DIRTY: u8 = 1 << 6;

    pub const USER_RW: PteFlags = PteFlags(Self::VALID | Self::READ | Self::WRITE | Self::USER);
    pub const USER_RX: PteFlags = PteFlags(Self::VALID | Self::READ | Self::EXECUTE | Self::USER);
    pub const USER_R: PteFlags = PteFlags(Self::VALID | Self::READ | Self::USER);

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Whether these bits allow `access` from user mode.
    pub fn allows(self, access: Access) -> bool {
        let need = match access {
            Access::Read => Self::READ,
            Access::Write => Self::WRITE,
            Access::Execute => Self::EXECUTE,
        };
        self.has(Self::VALID) && self.has(Self::USER) && self.has(need)
    }

    /// Only the permission bits (R, W, X, U), without V/A/D.
    pub fn permissions(self) -> PteFlags {
        PteFlags(self.0 & (Self::READ | Self::WRITE | Self::EXECUTE | Self::USER))
    }
}

impl fmt::Display for PteFlags {
    /// `rwxu--` style: each letter present or `-`, then `a`/`d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |b: u8, c: char| if self.has(b) { c } else { '-' };
        write!(
            f,
            "{}{}{}{}{}{}",
            bit(Self::READ, 'r'),
            bit(Self::WRITE, 'w'),
            bit(Self::EXECUTE, 'x'),
            bit(Self::USER, 'u'),
            bit(Self::ACCESSED, 'a'),
            bit(Self::DIRTY, 'd')
        )
    }
}

/// One page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pte {
    pub frame: Frame,
    pub flags: PteFlags,
}

/// A context's page table: virtual page → PTE.
///
/// Every change that could leave a stale translation in the TLB (unmap,
/// remap, permission or A/D change) bumps `generation`; the machine flushes
/// its TLB when it sees a generation it has not cached. Adding a mapping
/// for an unmapped page needs no flush: the TLB never caches absence.
#[derive(Clone, Debug, Default)]
pub struct PageTable {
    entries: BTreeMap<VirtPage, Pte>,
    generation: u64,
}

impl PageTable {
    pub fn new() -> PageTable {
        PageTable::default()
    }

    /// The entry for `page`, if mapped.
    pub fn get(&self, page: VirtPage) -> Option<Pte> {
        self.entries.get(&page).copied()
    }

    /// Translates `vaddr` for `access`; `None` when not mapped or not allowed.
    pub fn translate(&self, vaddr: u64, access: Access) -> Option<u64> {
        let pte = self.get(VirtPage::containing(vaddr))?;
        pte.flags
            .allows(access)
            .then(|| pte.frame.address() | (vaddr & (PAGE_SIZE - 1)))
    }

    /// Maps `page` to `frame`, replacing any previous mapping (and bumping
    /// the generation if there was one). Returns the previous entry.
    pub fn map(&mut self, page: VirtPage, frame: Frame, permissions: PteFlags) -> Option<Pte> {
        let flags = PteFlags(permissions.permissions().0 | PteFlags::VALID);
        let old = self.entries.insert(page, Pte { frame, flags });
        if old.is_some() {
            self.generation += 1;
        }
        old
    }

    /// Removes the mapping of `page`; returns it.
    pub fn unmap(&mut self, page: VirtPage) -> Option<Pte> {
        let old = self.entries.remove(&page);
        if old.is_some() {
            self.generation += 1;
        }
        old
    }

    /// Sets the accessed/dirty bits of `page` as the hardware does on a TLB
    /// fill (no generation bump: the TLB that did it holds the same bits).
    pub(crate) fn mark_used(&mut self, page: VirtPage, access: Access) {
        if let Some(pte) = self.entries.get_mut(&page) {
            pte.flags.0 |= PteFlags::ACCESSED;
            if access == Access::Write {
                pte.flags.0 |= PteFlags::DIRTY;
            }
        }
    }

    /// Marks `page` accessed and dirty, for writes the kernel makes on a
    /// process's behalf. No flush is needed: a TLB write entry already
    /// implies the dirty bit.
    pub fn mark_dirty(&mut self, page: VirtPage) {
        self.mark_used(page, Access::Write);
    }

    /// Clears the dirty bit of every page in `range` and returns the pages
    /// that had it (used to find the pages written since a point in time).
    pub fn take_dirty(&mut self, pages: impl IntoIterator<Item = VirtPage>) -> Vec<VirtPage> {
        let mut dirty = Vec::new();
        for page in pages {
            if let Some(pte) = self.entries.get_mut(&page) {
                if pte.flags.has(PteFlags::DIRTY) {
                    pte.flags.0 &= !PteFlags::DIRTY;
                    dirty.push(page);
                }
            }
        }
        if !dirty.is_empty() {
            self.generation += 1;
        }
        dirty
    }

    /// All entries in page order.
    pub fn entries(&self) -> impl Iterator<Item = (VirtPage, Pte)> + '_ {
        self.entries.iter().map(|(&p, &e)| (p, e))
    }

    /// Number of mapped pages.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Changes whenever a cached translation may have become stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether any page in `[start, end)` is mapped.
    pub fn any_mapped(&self, start: VirtPage, end: VirtPage) -> bool {
        self.entries.range(start..end).next().is_some()
    }
}

/// Number of TLB entries (a power of two).
pub const TLB_ENTRIES: usize = 256;

/// Tag of an entry that matches nothing: a masked address never has all
/// of its low 12 bits set (see `Tlb::tag_for`).
pub(crate) const TLB_INVALID: u64 = u64::MAX;

/// One direct-mapped TLB entry.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct TlbEntry {
    pub read_tag: u64,
    pub write_tag: u64,
    pub exec_tag: u64,
    /// `host address = vaddr + addend` (wrapping).
    pub addend: usize,
}

impl TlbEntry {
    const EMPTY: TlbEntry = TlbEntry {
        read_tag: TLB_INVALID,
        write_tag: TLB_INVALID,
        exec_tag: TLB_INVALID,
        addend: 0,
    };
}

/// The software TLB.
pub(crate) struct Tlb {
    pub entries: Box<[TlbEntry; TLB_ENTRIES]>,
}

impl Tlb {
    pub fn new() -> Tlb {
        Tlb {
            entries: Box::new([TlbEntry::EMPTY; TLB_ENTRIES]),
        }
    }

    /// Index of the entry for `vaddr`.
    #[inline(always)]
    pub fn index(vaddr: u64) -> usize {
        (vaddr >> PAGE_SHIFT) as usize & (TLB_ENTRIES - 1)
    }

    /// The value an entry's tag must equal for an access of `size` bytes at
    /// `vaddr` to hit: the page address, with the low bits that must be zero
    /// for an aligned access kept. A misaligned access therefore never
    /// matches a (page-aligned) tag and goes to the slow path, which also
    /// handles accesses that cross a page.
    #[inline(always)]
    pub fn tag_for(vaddr: u64, size: u64) -> u64 {
        vaddr & (!(PAGE_SIZE - 1) | (size - 1))
    }

    pub fn flush(&mut self) {
        self.entries.fill(TlbEntry::EMPTY);
    }
}

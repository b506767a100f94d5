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
//!
//! ## Ownership of the TLB's entries
//!
//! The executor's fast path (exec.rs, fuse.rs) reads the entries through a
//! copy of the TLB's pointer kept in `Exec`; the slow path (bus.rs) fills
//! them through `&mut Tlb`, sometimes from inside a handler. That is sound
//! because the entries are `Entries` (entries.rs): owned through one raw
//! pointer that every access goes through, with no reference to an entry
//! held while a copy is read.

use std::collections::BTreeMap;
use std::fmt;

use super::addr::{PhysAddr, VirtAddr};
use super::entries::Entries;
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
/// Stored as a three-level radix tree like RISC-V Sv39 (privileged spec
/// 4.4): the 27-bit virtual page number splits into three 9-bit indices,
/// each level a table of 512 slots, so a lookup (the TLB's miss path) is
/// three array steps, and tables exist only for the regions in use. Pages
/// beyond 39-bit addresses (never used by the kernel's layout) live in a
/// small side map so that every `VirtPage` is representable.
///
/// Every change that could leave a stale translation in the TLB (unmap,
/// remap, permission or A/D change) bumps `generation`; the machine flushes
/// its TLB when it sees a generation it has not cached. Adding a mapping
/// for an unmapped page needs no flush: the TLB never caches absence.
#[derive(Clone, Debug, Default)]
pub struct PageTable {
    root: Vec<Option<Box<Middle>>>,
    far: BTreeMap<VirtPage, Pte>,
    len: usize,
    generation: u64,
}

const LEVEL_BITS: u32 = 9;
const FANOUT: usize = 1 << LEVEL_BITS;
/// Pages below this go into the radix tree.
const RADIX_PAGES: u64 = 1 << (3 * LEVEL_BITS);

#[derive(Clone, Debug)]
struct Middle {
    leaves: Vec<Option<Box<Leaf>>>,
}

#[derive(Clone, Debug)]
struct Leaf {
    /// `flags` without `VALID` marks an empty slot.
    ptes: Vec<Pte>,
    used: usize,
}

const EMPTY_PTE: Pte = Pte {
    frame: Frame(0),
    flags: PteFlags(0),
};

fn split(page: VirtPage) -> (usize, usize, usize) {
    let p = page.0 as usize;
    (
        p >> (2 * LEVEL_BITS),
        (p >> LEVEL_BITS) & (FANOUT - 1),
        p & (FANOUT - 1),
    )
}

impl PageTable {
    pub fn new() -> PageTable {
        PageTable::default()
    }

    fn slot(&self, page: VirtPage) -> Option<&Pte> {
        if page.0 >= RADIX_PAGES {
            return self.far.get(&page);
        }
        let (a, b, c) = split(page);
        let pte = &self.root.get(a)?.as_ref()?.leaves[b].as_ref()?.ptes[c];
        pte.flags.has(PteFlags::VALID).then_some(pte)
    }

    fn slot_mut(&mut self, page: VirtPage) -> Option<&mut Pte> {
        if page.0 >= RADIX_PAGES {
            return self.far.get_mut(&page);
        }
        let (a, b, c) = split(page);
        let pte = &mut self.root.get_mut(a)?.as_mut()?.leaves[b].as_mut()?.ptes[c];
        pte.flags.has(PteFlags::VALID).then_some(pte)
    }

    /// The entry for `page`, if mapped.
    pub fn get(&self, page: VirtPage) -> Option<Pte> {
        self.slot(page).copied()
    }

    /// Translates `vaddr` for `access`; `None` when not mapped or not allowed.
    pub fn translate(&self, vaddr: u64, access: Access) -> Option<u64> {
        let pte = self.get(VirtPage::containing(vaddr))?;
        pte.flags
            .allows(access)
            .then(|| PhysAddr::new(pte.frame, VirtAddr(vaddr).offset()).0)
    }

    /// Maps `page` to `frame`, replacing any previous mapping (and bumping
    /// the generation if there was one). Returns the previous entry.
    pub fn map(&mut self, page: VirtPage, frame: Frame, permissions: PteFlags) -> Option<Pte> {
        let flags = PteFlags(permissions.permissions().0 | PteFlags::VALID);
        let new = Pte { frame, flags };
        let old = if page.0 >= RADIX_PAGES {
            self.far.insert(page, new)
        } else {
            let (a, b, c) = split(page);
            if self.root.len() <= a {
                self.root.resize(a + 1, None);
            }
            let middle = self.root[a].get_or_insert_with(|| {
                Box::new(Middle {
                    leaves: vec![None; FANOUT],
                })
            });
            let leaf = middle.leaves[b].get_or_insert_with(|| {
                Box::new(Leaf {
                    ptes: vec![EMPTY_PTE; FANOUT],
                    used: 0,
                })
            });
            let slot = &mut leaf.ptes[c];
            let old = slot.flags.has(PteFlags::VALID).then_some(*slot);
            *slot = new;
            if old.is_none() {
                leaf.used += 1;
            }
            old
        };
        if old.is_some() {
            self.generation += 1;
        } else {
            self.len += 1;
        }
        old
    }

    /// Removes the mapping of `page`; returns it.
    pub fn unmap(&mut self, page: VirtPage) -> Option<Pte> {
        let old = if page.0 >= RADIX_PAGES {
            self.far.remove(&page)
        } else {
            let (a, b, c) = split(page);
            let middle = self.root.get_mut(a)?.as_mut()?;
            let leaf = middle.leaves[b].as_mut()?;
            let slot = &mut leaf.ptes[c];
            if !slot.flags.has(PteFlags::VALID) {
                return None;
            }
            let old = *slot;
            *slot = EMPTY_PTE;
            leaf.used -= 1;
            if leaf.used == 0 {
                middle.leaves[b] = None;
            }
            Some(old)
        };
        if old.is_some() {
            self.generation += 1;
            self.len -= 1;
        }
        old
    }

    /// Sets the accessed/dirty bits of `page` as the hardware does on a TLB
    /// fill (no generation bump: the TLB that did it holds the same bits).
    pub(crate) fn mark_used(&mut self, page: VirtPage, access: Access) {
        if let Some(pte) = self.slot_mut(page) {
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

    /// Clears the dirty bit of each of `pages` and returns those that had it
    /// (used to find the pages written since a point in time).
    pub fn take_dirty(&mut self, pages: impl IntoIterator<Item = VirtPage>) -> Vec<VirtPage> {
        let mut dirty = Vec::new();
        for page in pages {
            if let Some(pte) = self.slot_mut(page) {
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
        let radix = self.root.iter().enumerate().flat_map(|(a, middle)| {
            middle.iter().flat_map(move |m| {
                m.leaves.iter().enumerate().flat_map(move |(b, leaf)| {
                    leaf.iter().flat_map(move |l| {
                        l.ptes
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| p.flags.has(PteFlags::VALID))
                            .map(move |(c, p)| {
                                let page = ((a << (2 * LEVEL_BITS)) | (b << LEVEL_BITS) | c) as u64;
                                (VirtPage(page), *p)
                            })
                    })
                })
            })
        });
        radix.chain(self.far.iter().map(|(&p, &e)| (p, e)))
    }

    /// Number of mapped pages.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Changes whenever a cached translation may have become stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Maps a run of pages from `first` on, one per frame of `frames`, all
    /// with `permissions`: how the kernel and the shared-memory systems
    /// map a block of frames. The pages must be unmapped (the caller picked
    /// a free range); a mapped one is a kernel bug.
    ///
    /// # Panics
    /// When one of the pages was mapped.
    pub fn map_run(&mut self, first: VirtPage, frames: &[Frame], permissions: PteFlags) {
        for (i, &frame) in frames.iter().enumerate() {
            let page = VirtPage(first.0 + i as u64);
            if let Some(old) = self.map(page, frame, permissions) {
                panic!(
                    "PageTable::map_run: page {page} was mapped to frame {}",
                    old.frame
                );
            }
        }
    }

    /// Unmaps the run of `count` pages from `first` on; returns the entries
    /// that were mapped (the caller drops its frame references).
    pub fn unmap_run(&mut self, first: VirtPage, count: u64) -> Vec<Pte> {
        (first.0..first.0.saturating_add(count))
            .filter_map(|page| self.unmap(VirtPage(page)))
            .collect()
    }

    /// Whether any page in `[start, end)` is mapped.
    pub fn any_mapped(&self, start: VirtPage, end: VirtPage) -> bool {
        if start >= end {
            return false;
        }
        let mut page = start;
        while page < end && page.0 < RADIX_PAGES {
            let (a, b, _) = split(page);
            let leaf = self
                .root
                .get(a)
                .and_then(|m| m.as_ref())
                .and_then(|m| m.leaves[b].as_ref());
            let leaf_end = VirtPage((page.0 | (FANOUT as u64 - 1)) + 1);
            if leaf.is_some() {
                while page < end && page < leaf_end {
                    if self.slot(page).is_some() {
                        return true;
                    }
                    page.0 += 1;
                }
            } else {
                page = leaf_end;
            }
        }
        self.far
            .range(start.max(VirtPage(RADIX_PAGES))..end.max(VirtPage(RADIX_PAGES)))
            .next()
            .is_some()
    }
}

/// Number of TLB entries (a power of two).
pub const TLB_ENTRIES: usize = 4096;

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
    /// `host address = addend + vaddr` (wrapping): the host address of the
    /// frame minus the page's address. Derived from `PhysMemory`'s owning
    /// pointer by offsets only, so a host address made from it keeps that
    /// pointer's provenance (no integer-to-pointer cast).
    pub addend: *mut u8,
}

impl TlbEntry {
    const EMPTY: TlbEntry = TlbEntry {
        read_tag: TLB_INVALID,
        write_tag: TLB_INVALID,
        exec_tag: TLB_INVALID,
        addend: std::ptr::null_mut(),
    };
}

/// The software TLB.
pub(crate) struct Tlb {
    /// Owned through one raw pointer, which the executor copies (entries.rs).
    entries: Entries<TlbEntry, TLB_ENTRIES>,
}

impl Tlb {
    pub fn new() -> Tlb {
        Tlb {
            entries: Entries::new(TlbEntry::EMPTY),
        }
    }

    /// The owning pointer, for the executor's fast path (`read_host`,
    /// `write_host`). The machine swaps whole `Tlb`s between contexts, so
    /// the run loop takes a fresh copy after every switch of caches.
    pub fn as_ptr(&self) -> *const TlbEntry {
        self.entries.as_ptr()
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

    /// The executor's read lookup: the host address of an aligned `size`-byte
    /// load at `vaddr`, if the TLB has a read translation for its page.
    ///
    /// # Safety
    /// `entries` is `as_ptr()` of a live `Tlb` (see `Entries::read`).
    #[inline(always)]
    pub unsafe fn read_host(entries: *const TlbEntry, vaddr: u64, size: u64) -> Option<*const u8> {
        // The addend is read before the tag is compared, with a volatile
        // read, which the compiler may not move into the hit path: there it
        // would compute the entry's address into a register first, one
        // more host instruction per guest load (2.4% of gcc matmul's host
        // instructions). Reading it on a miss too costs nothing: it is on
        // the tag's cache line. (Not for stores, `write_host`: a store
        // holds one more value, the data, and the early addend would take
        // a register that must be saved and restored.)
        // SAFETY: the caller's guarantee; `index` is below `TLB_ENTRIES`, so
        // the pointer is to a live entry, read field by field without a
        // reference (`Entries::read`'s contract).
        let (tag, addend) = unsafe {
            let entry = Entries::<TlbEntry, TLB_ENTRIES>::at(entries, Tlb::index(vaddr));
            (
                std::ptr::addr_of!((*entry).read_tag).read(),
                std::ptr::addr_of!((*entry).addend).read_volatile(),
            )
        };
        (tag == Tlb::tag_for(vaddr, size)).then(|| addend.wrapping_add(vaddr as usize).cast_const())
    }

    /// The executor's write lookup: as `read_host`, for a store.
    ///
    /// # Safety
    /// As for `read_host`.
    #[inline(always)]
    pub unsafe fn write_host(entries: *const TlbEntry, vaddr: u64, size: u64) -> Option<*mut u8> {
        // SAFETY: as in `read_host`.
        let entry = unsafe { Entries::<TlbEntry, TLB_ENTRIES>::read(entries, Tlb::index(vaddr)) };
        (entry.write_tag == Tlb::tag_for(vaddr, size))
            .then(|| entry.addend.wrapping_add(vaddr as usize))
    }

    /// Caches that the page at `page_addr` is the frame at host address
    /// `host_frame`, and that `access` to it is allowed (`None`: no tag, only
    /// the entry's page and frame). The tags of one entry always name one
    /// page: they are kept only if this is that page, mapped to the same
    /// frame.
    pub fn fill(&mut self, page_addr: u64, host_frame: *mut u8, access: Option<Access>) {
        let addend = host_frame.wrapping_sub(page_addr as usize);
        let entry = self.entries.get_mut(Tlb::index(page_addr));
        let same_page = [entry.read_tag, entry.write_tag, entry.exec_tag].contains(&page_addr);
        if !same_page || entry.addend != addend {
            *entry = TlbEntry {
                addend,
                ..TlbEntry::EMPTY
            };
        }
        match access {
            Some(Access::Read) => entry.read_tag = page_addr,
            Some(Access::Execute) => entry.exec_tag = page_addr,
            Some(Access::Write) => entry.write_tag = page_addr,
            None => {}
        }
    }

    pub fn flush(&mut self) {
        self.entries.reset(TlbEntry::EMPTY);
    }

    /// Drops every cached write permission, so that stores take the slow
    /// path (used when a frame starts holding decoded code).
    pub fn forbid_writes(&mut self) {
        for entry in self.entries.all_mut() {
            entry.write_tag = TLB_INVALID;
        }
    }
}

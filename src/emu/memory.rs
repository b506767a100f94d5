//! Physical memory: a pool of 4 KiB frames, bounded by `-m MB`, handed out
//! on demand by the frame allocator.
//!
//! ## Frame ownership
//!
//! A frame may have several owners (two page tables after `hv_map`, the
//! processes that map an inter-VM block): each allocated frame has a
//! reference count, `share` adds a reference and `free` drops one. The one
//! rule every layer keeps:
//!
//! > **Every owner of a frame holds one reference, and a frame returns to
//! > the pool only when its count drops to zero.** The owners are: each
//! > page-table entry that maps the frame (a private page, a guest
//! > kernel's page it gave its child with `hv_map`, a page of an inter-VM
//! > block); the named-shm object whose frame it is, whose one reference
//! > stands for every entry that maps it (the object's client list records
//! > each of them, and the object lives while it has a client); the host
//! > region of inter-VM shared memory, for each of its frames.
//!
//! So a frame is reused only when nothing anywhere points at it. Shared
//! frames are handed on only by their owner: an shm object frees its
//! frames with its last client, the host daemon reuses a block's frames
//! only when the region alone holds them, and `hv_map` gives a child only
//! private pages (a page of an object or a block is the object's or the
//! block's to give). `Simulator::check_invariants` checks the rule over
//! the whole machine, and the kernel checks its part after every call in
//! debug builds (kernel/invariants.rs).
//!
//! The pool is one host allocation made with `calloc` semantics (`vec![0;
//! n]`), so frames the guest never touches cost no host memory. Frames are
//! zeroed when they are allocated, never handed out twice, and remembered as
//! "holding decoded code" once the block cache decoded instructions from
//! them: a write to such a frame (by the guest or by the kernel) and freeing
//! it queue the frame for invalidation, which the machine applies before it
//! next runs (see `Machine::run`).
//!
//! ## Ownership of the bytes
//!
//! The emulator's fast path reads and writes guest memory through host
//! pointers it keeps in the TLB (`host = vaddr + addend`, mmu.rs) while the
//! kernel and the slow paths use `frame_bytes`/`frame_bytes_mut` slices.
//! For both to be sound, the pool is owned through one raw pointer
//! (`bytes`, made by `alloc_zeroed` and freed in `Drop`) rather than a
//! `Box<[u8]>`: every slice and every TLB pointer is derived from that raw
//! pointer, so making a fresh `&mut [u8]` for a frame never invalidates the
//! host pointers the TLB holds (as re-borrowing a `Box` would). The rule
//! that keeps the two kinds of access apart: a slice borrows the
//! `PhysMemory`, and guest code only runs while the machine holds the
//! `PhysMemory` mutably, so no slice is alive while a TLB pointer is used,
//! and no TLB pointer is used while a slice is alive.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes in a page and in a frame.
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;

/// A physical frame number: frame `n` holds physical bytes `n*4096 ..`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Frame(pub u32);

impl Frame {
    /// Physical address of the frame's first byte.
    pub fn address(self) -> u64 {
        u64::from(self.0) << PAGE_SHIFT
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The next `PhysMemory::id`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The physical frames of the machine and their allocator.
pub struct PhysMemory {
    /// The pool, `frame_count * PAGE_SIZE` zeroed bytes, owned through this
    /// pointer (see "Ownership of the bytes" above).
    bytes: NonNull<u8>,
    frame_count: u32,
    /// Frames never handed out yet are `next_fresh..fresh_end`: `alloc`
    /// takes them from the bottom up, `alloc_growing_down` from the top down
    /// (see there). Freed frames are reused before either (LIFO, so runs
    /// are deterministic).
    next_fresh: u32,
    fresh_end: u32,
    free: Vec<Frame>,
    /// References to each frame; 0 = free.
    refs: Vec<u32>,
    holds_code: Vec<bool>,
    /// Times `mark_code` was called.
    code_marks: u64,
    /// Unique to this pool (see `id`).
    id: u64,
    /// Frames with decoded code that were written or freed since the block
    /// cache last looked.
    stale_code: Vec<Frame>,
}

impl PhysMemory {
    /// A pool of `megabytes` MiB (at least one frame).
    ///
    /// # Panics
    /// When the host cannot reserve that much address space; use
    /// `try_new` for sizes that come from outside.
    pub fn new(megabytes: u64) -> PhysMemory {
        match PhysMemory::try_new(megabytes) {
            Ok(memory) => memory,
            Err(e) => panic!("PhysMemory::new: {e}"),
        }
    }

    /// A pool of `megabytes` MiB (at least one frame).
    ///
    /// # Errors
    /// When the host cannot reserve that much address space (the pool is
    /// one zeroed allocation; untouched frames cost no host memory, but
    /// the host may still refuse a size far beyond its memory).
    pub fn try_new(megabytes: u64) -> Result<PhysMemory, String> {
        let frames = (megabytes.saturating_mul(1 << 20) / PAGE_SIZE).clamp(1, u64::from(u32::MAX));
        let frame_count = frames as u32;
        let len = usize::try_from(frames * PAGE_SIZE).map_err(|_| {
            format!("{megabytes} MiB of physical memory do not fit this host's address space")
        })?;
        let bytes = alloc_zeroed_bytes(len).ok_or_else(|| {
            format!("the host cannot provide {megabytes} MiB of physical memory for the machine")
        })?;
        Ok(PhysMemory {
            bytes,
            frame_count,
            next_fresh: 0,
            fresh_end: frame_count,
            free: Vec::new(),
            refs: vec![0; frames as usize],
            holds_code: vec![false; frames as usize],
            code_marks: 0,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            stale_code: Vec::new(),
        })
    }

    /// Total number of frames.
    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u32 {
        self.fresh_end - self.next_fresh + self.free.len() as u32
    }

    /// Frames currently allocated.
    pub fn used_frames(&self) -> u32 {
        self.frame_count - self.free_frames()
    }

    /// Whether `frame` is allocated.
    pub fn is_allocated(&self, frame: Frame) -> bool {
        self.references(frame) > 0
    }

    /// How many page tables (or other owners) hold `frame`; 0 when free.
    pub fn references(&self, frame: Frame) -> u32 {
        self.refs.get(frame.0 as usize).copied().unwrap_or(0)
    }

    /// Adds a reference to an allocated frame (a second mapping of it).
    ///
    /// # Panics
    /// When the frame is not allocated: the caller's bug.
    pub fn share(&mut self, frame: Frame) {
        assert!(
            self.is_allocated(frame),
            "PhysMemory::share: frame {frame} is not allocated"
        );
        self.refs[frame.0 as usize] += 1;
    }

    /// Allocates a zeroed frame, or `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<Frame> {
        let frame = if let Some(frame) = self.free.pop() {
            self.frame_bytes_mut(frame).fill(0);
            frame
        } else if self.next_fresh < self.fresh_end {
            // Never used: still zero from the initial allocation.
            self.next_fresh += 1;
            Frame(self.next_fresh - 1)
        } else {
            return None;
        };
        self.refs[frame.0 as usize] = 1;
        Some(frame)
    }

    /// Allocates a zeroed frame for a region that grows downward, one page
    /// at a time (the stack), or `None` when memory is exhausted.
    ///
    /// A freed frame is reused first, as `alloc` does, so that the host
    /// memory the machine touches does not grow with the number of
    /// processes that came and went. Fresh frames are taken from the top
    /// of the pool down, so the pages of a stack, mapped from its top page
    /// down as it grows, lie in neighbouring frames in the same order as
    /// their virtual addresses (as long as no freed frame comes between,
    /// as in a program's first process). That matters for speed only: an
    /// array that straddles two stack pages is then one run of host
    /// memory, and the emulator's guess that a load lands where the
    /// previous one did (`host = vaddr + addend`, the same addend on both
    /// pages) keeps holding across the page boundary. Taken from the
    /// bottom, as `alloc` does, the lower page would get a higher frame
    /// than the page above it.
    pub fn alloc_growing_down(&mut self) -> Option<Frame> {
        if !self.free.is_empty() || self.next_fresh == self.fresh_end {
            return self.alloc();
        }
        // Never used: still zero from the initial allocation.
        self.fresh_end -= 1;
        let frame = Frame(self.fresh_end);
        self.refs[frame.0 as usize] = 1;
        Some(frame)
    }

    /// Drops one reference to a frame; the last one returns it to the pool.
    ///
    /// # Panics
    /// On a double free: that is a kernel bug, not something a guest can do.
    pub fn free(&mut self, frame: Frame) {
        assert!(
            self.is_allocated(frame),
            "PhysMemory::free: frame {frame} is not allocated"
        );
        self.refs[frame.0 as usize] -= 1;
        if self.refs[frame.0 as usize] > 0 {
            return;
        }
        self.note_write(frame);
        self.free.push(frame);
    }

    /// Host address of `frame`'s first byte.
    ///
    /// # Panics
    /// When `frame` is not a frame of this memory: the caller's bug.
    fn frame_ptr(&self, frame: Frame) -> *mut u8 {
        assert!(
            frame.0 < self.frame_count,
            "PhysMemory: frame {frame} is beyond the last frame ({})",
            self.frame_count - 1
        );
        // SAFETY: `frame.0 < frame_count`, so the offset is within the
        // `frame_count * PAGE_SIZE` bytes the pointer owns.
        unsafe { self.bytes.as_ptr().add(frame.address() as usize) }
    }

    /// The bytes of a frame.
    pub fn frame_bytes(&self, frame: Frame) -> &[u8] {
        let start = self.frame_ptr(frame);
        // SAFETY: `start` begins a whole frame inside the pool; the slice
        // borrows `self`, so no guest code writes the frame while it lives
        // (guest code runs only under `&mut PhysMemory`, see the module doc).
        unsafe { std::slice::from_raw_parts(start, PAGE_SIZE as usize) }
    }

    /// The bytes of a frame, for writing. Marks the frame's decoded code (if
    /// any) stale.
    pub fn frame_bytes_mut(&mut self, frame: Frame) -> &mut [u8] {
        self.note_write(frame);
        let start = self.frame_ptr(frame);
        // SAFETY: as in `frame_bytes`; the slice borrows `self` mutably, so
        // it is the only access to the frame while it lives.
        unsafe { std::slice::from_raw_parts_mut(start, PAGE_SIZE as usize) }
    }

    /// Copies one frame's contents into another.
    pub fn copy_frame(&mut self, from: Frame, to: Frame) {
        self.note_write(to);
        let (from, to) = (self.frame_ptr(from), self.frame_ptr(to));
        // SAFETY: both are whole frames inside the pool (`frame_ptr`
        // checked); `copy` allows `from == to`; `&mut self` excludes any
        // other access while it runs.
        unsafe { std::ptr::copy(from, to, PAGE_SIZE as usize) }
    }

    fn note_write(&mut self, frame: Frame) {
        if let Some(code) = self.holds_code.get_mut(frame.0 as usize) {
            if *code {
                *code = false;
                self.stale_code.push(frame);
            }
        }
    }

    /// Host address of `frame`'s first byte, for the TLB. It is derived from
    /// the owning pointer by an offset, so it and every address the TLB
    /// makes from it share that pointer's provenance (module doc).
    ///
    /// # Panics
    /// When `frame` is not a frame of this memory (a page table that maps
    /// one would be the kernel's bug).
    pub(crate) fn host_frame(&mut self, frame: Frame) -> *mut u8 {
        self.frame_ptr(frame)
    }

    /// Records that the block cache decoded code from `frame`.
    pub(crate) fn mark_code(&mut self, frame: Frame) {
        self.holds_code[frame.0 as usize] = true;
        self.code_marks += 1;
    }

    /// How many times a frame started holding code: a TLB set aside while
    /// this changed may hold write permission for such a frame.
    pub(crate) fn code_marks(&self) -> u64 {
        self.code_marks
    }

    /// Identifies this pool among all `PhysMemory` values ever made: the TLB
    /// holds host pointers into one pool, and must be flushed if the machine
    /// is given another (`*machine.memory_mut() = ...`).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn holds_code(&self, frame: Frame) -> bool {
        self.holds_code[frame.0 as usize]
    }

    /// Takes the list of frames whose decoded code must be dropped.
    pub(crate) fn take_stale_code(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.stale_code)
    }

    pub(crate) fn has_stale_code(&self) -> bool {
        !self.stale_code.is_empty()
    }
}

impl Drop for PhysMemory {
    fn drop(&mut self) {
        let len = self.frame_count as usize * PAGE_SIZE as usize;
        // SAFETY: `bytes` came from `alloc_zeroed_bytes(len)` with this very
        // layout (the frame count never changes) and is freed only here.
        unsafe { std::alloc::dealloc(self.bytes.as_ptr(), bytes_layout(len)) }
    }
}

// `PhysMemory` owns its pool exclusively, as the `Box<[u8]>` it replaces
// did: only it frees the pool, and the only copies of the pointer (the
// TLB's host pointers) live in the `Machine` that owns this memory, which
// is not `Send` (its ops hold raw pointers).
// SAFETY: so moving it to another thread is as sound as for `Box<[u8]>`,
// and the type stays `Send + Sync` as it was.
unsafe impl Send for PhysMemory {}
// SAFETY: see `Send` above: through `&PhysMemory` the bytes are only read.
unsafe impl Sync for PhysMemory {}

fn bytes_layout(len: usize) -> std::alloc::Layout {
    // `len` fitted a `usize` and stays below `isize::MAX` (checked by
    // `alloc_zeroed_bytes` when it made the allocation).
    std::alloc::Layout::array::<u8>(len).expect("PhysMemory: layout of a size that was allocated")
}

/// `len` (> 0) zeroed bytes, or `None` when the allocator refuses (where
/// `vec![0; len]` would abort the process). Zeroed allocations come from
/// `calloc`/fresh pages, so untouched parts cost no host memory.
fn alloc_zeroed_bytes(len: usize) -> Option<NonNull<u8>> {
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    assert!(layout.size() > 0, "PhysMemory: a pool of zero bytes");
    // SAFETY: the layout has a non-zero size, as `alloc_zeroed` requires.
    NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_frame_is_freed_once_by_its_last_owner() {
        let mut memory = PhysMemory::new(1);
        let frame = memory.alloc().unwrap();
        memory.share(frame);
        assert_eq!(memory.references(frame), 2);
        memory.free(frame);
        assert!(memory.is_allocated(frame), "one owner is left");
        assert_eq!(memory.used_frames(), 1);
        memory.free(frame);
        assert!(!memory.is_allocated(frame));
        assert_eq!(memory.used_frames(), 0);
    }

    #[test]
    fn frames_for_a_downward_region_come_down_from_the_top_and_meet_the_rest() {
        // 1 MiB = 256 frames.
        let mut memory = PhysMemory::new(1);
        let top = memory.alloc_growing_down().unwrap();
        let below = memory.alloc_growing_down().unwrap();
        assert_eq!((top, below), (Frame(255), Frame(254)));
        assert_eq!(memory.alloc(), Some(Frame(0)));
        assert_eq!(memory.free_frames(), 253);
        // A freed frame goes before a fresh one (the host's memory does
        // not grow with processes that came and went).
        memory.free(Frame(0));
        assert_eq!(memory.alloc_growing_down(), Some(Frame(0)));
        assert_eq!(memory.free_frames(), 253);
        // The two fresh ends meet; after that both kinds take freed frames.
        let mut taken = Vec::new();
        while let Some(frame) = memory.alloc_growing_down() {
            taken.push(frame);
        }
        assert_eq!(taken.len(), 253);
        assert_eq!(taken.last(), Some(&Frame(1)));
        assert_eq!(memory.free_frames(), 0);
        assert_eq!(memory.alloc(), None);
        memory.frame_bytes_mut(below).fill(7);
        memory.free(below);
        assert_eq!(memory.alloc_growing_down(), Some(below));
        assert!(
            memory.frame_bytes(below).iter().all(|&b| b == 0),
            "a reused frame is zeroed"
        );
    }
}

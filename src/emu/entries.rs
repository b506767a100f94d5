//! `Entries<T, N>`: the `N` entries of a direct-mapped cache that the
//! executor reads while the slow paths write it: the TLB (mmu.rs) and the
//! jump cache (block.rs).
//!
//! ## The ownership rule
//!
//! The executor's fast path reads entries through a copy of the cache's
//! pointer kept in `Exec` (op.rs), while the slow paths, which run inside a
//! handler or between blocks, fill and flush the same entries. Were the
//! entries a `Box` and the copy taken from a shared borrow of it, each write
//! through a fresh `&mut` would invalidate the copy, and the next fast-path
//! read would be undefined behaviour (Stacked and Tree Borrows alike). So:
//!
//! - the entries are owned through one raw pointer, made by `Box::into_raw`
//!   in `new` and freed in `Drop`;
//! - every access goes through that pointer or a copy of it (`as_ptr`): the
//!   fast path reads an entry by value (`read`), the owner reads by value
//!   (`get`) or writes through a reference that lives only as long as the
//!   `&mut self` borrow that made it (`get_mut`, `all_mut`);
//! - no reference to an entry is held while a copy of the pointer is used:
//!   handlers hold none at all, and the owner's borrows end before control
//!   returns to a handler.
//!
//! All copies share one provenance, the owning pointer's, so a write through
//! one never invalidates another.
//!
//! ## Flushing in time proportional to use
//!
//! The caches are large (4096 TLB entries, 32K jump-cache entries) and the
//! hypervisor switches contexts often, so a flush must not touch every
//! entry. `get_mut` notes the index it hands out (until an eighth of the
//! entries are noted; beyond that a flush simply clears all), and `reset`
//! clears only the noted entries. A generation number compared on every
//! lookup would make a flush O(1) too, but it costs a compare on every
//! guest load and store; the note costs only on a fill, which is already
//! the slow path.

/// `N` entries owned through one raw pointer (module doc).
pub(crate) struct Entries<T: Copy, const N: usize> {
    /// From `Box::into_raw` of a boxed slice of `N` entries, freed in `Drop`.
    ptr: *mut T,
    /// Indices handed out by `get_mut` since the last `reset`, up to
    /// `TOUCHED_MAX` (then `touched_all`).
    touched: Vec<u32>,
    /// More were changed than `touched` holds: `reset` clears all.
    touched_all: bool,
}

impl<T: Copy, const N: usize> Entries<T, N> {
    /// Most indices `touched` notes before a reset clears every entry.
    const TOUCHED_MAX: usize = N / 8;

    /// `N` entries, each `empty`.
    pub fn new(empty: T) -> Self {
        // A boxed slice rather than `Box<[T; N]>`: it is built on the heap,
        // not on the stack first (the jump cache is 768 KiB).
        let entries: Box<[T]> = vec![empty; N].into_boxed_slice();
        Entries {
            ptr: Box::into_raw(entries).cast::<T>(),
            touched: Vec::with_capacity(Self::TOUCHED_MAX),
            touched_all: false,
        }
    }

    /// The owning pointer, for the executor's fast path (`read`). Valid
    /// until these entries are dropped.
    pub fn as_ptr(&self) -> *const T {
        self.ptr
    }

    /// The fast path's read: entry `i`, by value, through a copy of the
    /// owning pointer.
    ///
    /// # Safety
    /// `ptr` is `as_ptr()` of live `Entries<T, N>`, `i < N`, and no reference
    /// to an entry is alive (the owner's borrows end before handlers run).
    #[inline(always)]
    pub unsafe fn read(ptr: *const T, i: usize) -> T {
        // SAFETY: `i < N` keeps the read inside the allocation; it makes no
        // reference, so it conflicts with nothing (caller's guarantee).
        unsafe { Self::at(ptr, i).read() }
    }

    /// A pointer to entry `i`, for reading single fields of it.
    ///
    /// # Safety
    /// As for `read`; reads through the pointer are as `read`'s.
    #[inline(always)]
    pub unsafe fn at(ptr: *const T, i: usize) -> *const T {
        // SAFETY: `i < N` keeps the pointer inside the allocation.
        unsafe { ptr.add(i) }
    }

    /// Entry `i`, by value.
    ///
    /// # Panics
    /// If `i >= N` (callers index with a mask, so the check folds away).
    #[inline(always)]
    pub fn get(&self, i: usize) -> T {
        assert!(i < N, "Entries::get: index {i} of {N}");
        // SAFETY: `i < N`; no reference to an entry is alive while `&self`
        // is (they are only made from `&mut self`).
        unsafe { Self::read(self.ptr, i) }
    }

    /// Entry `i`, to change it. The reference lives only as long as this
    /// `&mut` borrow, during which no copy of the pointer is read.
    ///
    /// # Panics
    /// If `i >= N`.
    pub fn get_mut(&mut self, i: usize) -> &mut T {
        assert!(i < N, "Entries::get_mut: index {i} of {N}");
        if !self.touched_all {
            if self.touched.len() < Self::TOUCHED_MAX {
                self.touched.push(i as u32);
            } else {
                self.touched_all = true;
            }
        }
        // SAFETY: `i < N`; `&mut self` excludes the owner's other accesses,
        // and no handler reads a copy while a slow path holds this borrow
        // (module doc), so this reference is the only access while it lives.
        unsafe { &mut *self.ptr.add(i) }
    }

    /// Sets every entry changed since the last reset back to `empty`: the
    /// flush of a cache, in time proportional to the entries used (module
    /// doc). Entries are only ever changed through `get_mut` or to `empty`.
    pub fn reset(&mut self, empty: T) {
        if self.touched_all {
            self.all_mut().fill(empty);
        } else {
            for &i in &self.touched {
                // SAFETY: `i < N` (checked by `get_mut`); exclusive as there.
                unsafe { self.ptr.add(i as usize).write(empty) };
            }
        }
        self.touched.clear();
        self.touched_all = false;
    }

    /// All entries, to change them in place (never to other values than
    /// `empty` or narrower permissions: `reset` only knows what `get_mut`
    /// handed out); as `get_mut`.
    pub fn all_mut(&mut self) -> &mut [T] {
        // SAFETY: the pointer owns `N` entries; exclusive as in `get_mut`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, N) }
    }
}

impl<T: Copy, const N: usize> Drop for Entries<T, N> {
    fn drop(&mut self) {
        let entries = std::ptr::slice_from_raw_parts_mut(self.ptr, N);
        // SAFETY: `ptr` came from `Box::into_raw` of a boxed slice of `N`
        // entries in `new` and is freed only here; the copies are dead (an
        // `Exec` borrows the machine that owns these entries).
        drop(unsafe { Box::from_raw(entries) });
    }
}

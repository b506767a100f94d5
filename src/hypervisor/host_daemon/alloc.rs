//! The host region's block allocator: first fit over page-aligned blocks
//! (docs/spec/vmshm.md: "find a free block for `*size` bytes (rounded up to
//! pages; first fit)").
//!
//! The free space is a list of page ranges, sorted and coalesced:
//!
//! ```text
//! region:  | used 0..2 | free 2..5 | used 5..6 | free 6..1024 |
//! free:    [(2, 3), (6, 1018)]      (first page, page count)
//! ```
//!
//! `alloc` takes the front of the first range that is large enough;
//! `free` puts a block back and merges it with its neighbours. The host
//! daemon calls `free` only when no VM maps the block any more, so a block
//! that is mapped is never in the list (the rule "a block is never reused
//! while any VM still maps it"); scrubbing is the daemon's job.

/// A free range: first page and number of pages.
pub type Range = (u64, u64);

/// First-fit allocator over `pages` pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAllocator {
    pages: u64,
    free: Vec<Range>,
}

impl BlockAllocator {
    /// An allocator whose whole range `0..pages` is free.
    pub fn new(pages: u64) -> BlockAllocator {
        let free = if pages > 0 { vec![(0, pages)] } else { vec![] };
        BlockAllocator { pages, free }
    }

    /// Pages managed in all.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Pages free in all.
    pub fn free_pages(&self) -> u64 {
        self.free.iter().map(|r| r.1).sum()
    }

    /// The free ranges, in address order.
    pub fn free_ranges(&self) -> &[Range] {
        &self.free
    }

    /// Takes `pages` pages (at least one) from the first free range that
    /// holds them; returns the first page, or `None` when no range does.
    pub fn alloc(&mut self, pages: u64) -> Option<u64> {
        if pages == 0 {
            return None;
        }
        let i = self.free.iter().position(|r| r.1 >= pages)?;
        let (first, len) = self.free[i];
        if len == pages {
            self.free.remove(i);
        } else {
            self.free[i] = (first + pages, len - pages);
        }
        Some(first)
    }

    /// Returns `first..first + pages` to the free list.
    ///
    /// # Panics
    /// When the range is outside the region or overlaps free space (a
    /// double free): a bug of the host daemon, never of a guest.
    pub fn free(&mut self, first: u64, pages: u64) {
        let end = first.checked_add(pages);
        assert!(
            pages > 0 && end.is_some_and(|e| e <= self.pages),
            "BlockAllocator::free: {first}+{pages} is outside the region of {} pages",
            self.pages
        );
        let end = first + pages;
        let i = self.free.partition_point(|r| r.0 < first);
        if let Some(&(prev, len)) = i.checked_sub(1).and_then(|j| self.free.get(j)) {
            assert!(
                prev + len <= first,
                "BlockAllocator::free: double free at page {first}"
            );
        }
        if let Some(&(next, _)) = self.free.get(i) {
            assert!(
                end <= next,
                "BlockAllocator::free: double free at page {next}"
            );
        }
        self.free.insert(i, (first, pages));
        // Merge with the next range, then with the previous one.
        if i + 1 < self.free.len() && self.free[i].0 + self.free[i].1 == self.free[i + 1].0 {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == self.free[i].0 {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_fit_takes_the_lowest_range_that_is_large_enough() {
        let mut a = BlockAllocator::new(10);
        assert_eq!(a.alloc(2), Some(0));
        assert_eq!(a.alloc(3), Some(2));
        assert_eq!(a.alloc(1), Some(5));
        a.free(0, 2);
        a.free(5, 1);
        // (0, 2) is too small for 3 pages; (5, 5) holds them.
        assert_eq!(a.alloc(3), Some(5));
        assert_eq!(a.alloc(2), Some(0));
        assert_eq!(a.alloc(3), None);
        assert_eq!(a.free_ranges(), &[(8, 2)]);
    }

    #[test]
    fn freeing_coalesces_neighbours() {
        let mut a = BlockAllocator::new(6);
        for expect in 0..3 {
            assert_eq!(a.alloc(2), Some(expect * 2));
        }
        a.free(0, 2);
        a.free(4, 2);
        a.free(2, 2);
        assert_eq!(a.free_ranges(), &[(0, 6)]);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn a_double_free_is_a_daemon_bug() {
        let mut a = BlockAllocator::new(4);
        let b = a.alloc(2).unwrap();
        a.free(b, 2);
        a.free(b, 2);
    }

    proptest! {
        /// Random open/close sequences: live blocks never overlap, never
        /// overlap free space (no reuse while held), and once everything
        /// is closed the whole region is one free range again.
        #[test]
        fn random_alloc_free_sequences_keep_the_region_consistent(
            ops in proptest::collection::vec((any::<bool>(), 1u64..9, any::<prop::sample::Index>()), 1..200)
        ) {
            let total = 64;
            let mut a = BlockAllocator::new(total);
            let mut live: Vec<(u64, u64)> = Vec::new();
            for (open, pages, pick) in ops {
                if open || live.is_empty() {
                    match a.alloc(pages) {
                        Some(first) => {
                            prop_assert!(first + pages <= total);
                            for &(f, p) in &live {
                                prop_assert!(first + pages <= f || f + p <= first, "overlap");
                            }
                            live.push((first, pages));
                        }
                        // First fit fails only when no free range is large enough.
                        None => prop_assert!(a.free_ranges().iter().all(|r| r.1 < pages)),
                    }
                } else {
                    let (f, p) = live.swap_remove(pick.index(live.len()));
                    a.free(f, p);
                }
                let held: u64 = live.iter().map(|b| b.1).sum();
                prop_assert_eq!(held + a.free_pages(), total);
                for &(rf, rp) in a.free_ranges() {
                    for &(f, p) in &live {
                        prop_assert!(rf + rp <= f || f + p <= rf, "a held block is free");
                    }
                }
                prop_assert!(a.free_ranges().windows(2).all(|w| w[0].0 + w[0].1 < w[1].0));
            }
            for (f, p) in live.drain(..) {
                a.free(f, p);
            }
            prop_assert_eq!(a.free_ranges(), &[(0, total)][..]);
        }
    }
}

//! A doubly linked list kept in an arena: the nodes live in a `Vec` of
//! slots and point at each other by slot index, not by pointer.
//!
//! ```text
//!  slots:   [0]            [1]            [2]            [3]
//!          +------+       +------+       +------+       +------+
//!          | gen 1|       | gen 0|       | gen 2|       | gen 0|
//!          | next ──────────────────────►| next ─► -     | free |
//!  head ──►| prev -|      | free |◄──┐   | prev ─► 0     +------+
//!          +------+       +------+   │   +------+          ▲
//!                                    └── free list ────────┘
//!  tail = 2
//! ```
//!
//! Why an arena: every link is a small number that a student can print and
//! follow by hand, there is no reference counting to reason about, and
//! removing a node is four index updates. Why generations: a slot is reused
//! after its node is removed, so a `Handle` carries the generation the slot
//! had when the node was inserted; `remove` bumps it, and a stale handle
//! then finds nothing (the shm ids of rule A.4's "stale id").
//!
//! The node type keeps its own `next`/`prev` fields (so that the structs
//! look exactly like the spec's picture) and lends them to the list
//! through the `Linked` trait. `List::check` verifies the links in both
//! directions; the shm invariants call it after every call.

use std::fmt;

/// The index of a slot in an arena.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Slot(pub u32);

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A slot together with the generation it had when its node was inserted:
/// it names that node only, never a later node in the same slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Handle {
    pub slot: Slot,
    pub generation: u32,
}

/// A node that carries its own list links.
pub trait Linked {
    fn next(&self) -> Option<Slot>;
    fn prev(&self) -> Option<Slot>;
    fn set_next(&mut self, next: Option<Slot>);
    fn set_prev(&mut self, prev: Option<Slot>);
}

/// One arena slot: a node, or free.
#[derive(Clone, Debug)]
struct Entry<T> {
    generation: u32,
    node: Option<T>,
}

/// A doubly linked list of `T` in an arena of at most `limit` slots.
#[derive(Clone, Debug)]
pub struct List<T> {
    slots: Vec<Entry<T>>,
    /// Free slots; the most recently freed is reused first, so that runs
    /// are deterministic and a test can provoke slot reuse on purpose.
    free: Vec<Slot>,
    head: Option<Slot>,
    tail: Option<Slot>,
    len: usize,
    limit: usize,
}

impl<T: Linked> List<T> {
    /// An empty list that holds at most `limit` nodes.
    pub fn new(limit: usize) -> List<T> {
        List {
            slots: Vec::new(),
            free: Vec::new(),
            head: None,
            tail: None,
            len: 0,
            limit,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn head(&self) -> Option<Slot> {
        self.head
    }

    pub fn tail(&self) -> Option<Slot> {
        self.tail
    }

    /// Appends the node `make` builds (it is told the node's handle, so
    /// that a node can record its own id). `None` when the list is full.
    pub fn push_back(&mut self, make: impl FnOnce(Handle) -> T) -> Option<Handle> {
        if self.len >= self.limit {
            return None;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Entry {
                    generation: 0,
                    node: None,
                });
                Slot((self.slots.len() - 1) as u32)
            }
        };
        let entry = &mut self.slots[slot.0 as usize];
        let handle = Handle {
            slot,
            generation: entry.generation,
        };
        let mut node = make(handle);
        node.set_prev(self.tail);
        node.set_next(None);
        entry.node = Some(node);
        match self.tail {
            Some(tail) => self.node_mut(tail).set_next(Some(slot)),
            None => self.head = Some(slot),
        }
        self.tail = Some(slot);
        self.len += 1;
        Some(handle)
    }

    /// Unlinks and returns the node `handle` names; `None` if it is stale.
    pub fn remove(&mut self, handle: Handle) -> Option<T> {
        self.get(handle)?;
        let entry = &mut self.slots[handle.slot.0 as usize];
        let node = entry.node.take()?;
        // The slot's next node gets a new generation: `handle` is now stale.
        entry.generation = entry.generation.wrapping_add(1);
        match node.prev() {
            Some(prev) => self.node_mut(prev).set_next(node.next()),
            None => self.head = node.next(),
        }
        match node.next() {
            Some(next) => self.node_mut(next).set_prev(node.prev()),
            None => self.tail = node.prev(),
        }
        self.free.push(handle.slot);
        self.len -= 1;
        Some(node)
    }

    /// The node `handle` names, unless it was removed since.
    pub fn get(&self, handle: Handle) -> Option<&T> {
        let entry = self.slots.get(handle.slot.0 as usize)?;
        if entry.generation != handle.generation {
            return None;
        }
        entry.node.as_ref()
    }

    pub fn get_mut(&mut self, handle: Handle) -> Option<&mut T> {
        let entry = self.slots.get_mut(handle.slot.0 as usize)?;
        if entry.generation != handle.generation {
            return None;
        }
        entry.node.as_mut()
    }

    /// The live handle of the node in `slot`, if the slot holds one.
    pub fn handle_at(&self, slot: Slot) -> Option<Handle> {
        let entry = self.slots.get(slot.0 as usize)?;
        entry.node.as_ref().map(|_| Handle {
            slot,
            generation: entry.generation,
        })
    }

    /// The node in `slot`; the list's own links always name live slots.
    fn node_mut(&mut self, slot: Slot) -> &mut T {
        match self
            .slots
            .get_mut(slot.0 as usize)
            .and_then(|e| e.node.as_mut())
        {
            Some(node) => node,
            None => panic!("List::node_mut: link to free slot {slot}"),
        }
    }

    /// The nodes from head to tail, with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let slot = at?;
            let handle = self.handle_at(slot)?;
            let node = self.get(handle)?;
            at = node.next();
            Some((handle, node))
        })
    }

    /// The handles from head to tail (a snapshot, so the list may change
    /// while the caller walks it).
    pub fn handles(&self) -> Vec<Handle> {
        self.iter().map(|(h, _)| h).collect()
    }

    /// The first node (from the head) for which `pred` holds.
    pub fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<(Handle, &T)> {
        self.iter().find(|(_, node)| pred(node))
    }

    /// Checks that the list is well formed: walking `next` from the head and
    /// `prev` from the tail visits the same `len` live nodes in opposite
    /// orders, every link points at a live slot and back, and every slot is
    /// either in the list or on the free list, once.
    ///
    /// # Errors
    /// What is broken, naming the slots.
    pub fn check(&self) -> Result<(), String> {
        let live = |slot: Slot| {
            self.slots
                .get(slot.0 as usize)
                .and_then(|e| e.node.as_ref())
                .ok_or(format!("link to free or missing slot {slot}"))
        };
        let mut forward = Vec::new();
        let mut prev = None;
        let mut at = self.head;
        while let Some(slot) = at {
            if forward.len() > self.slots.len() {
                return Err(format!("cycle through slot {slot} going forward"));
            }
            let node = live(slot)?;
            if node.prev() != prev {
                return Err(format!(
                    "slot {slot}: prev is {:?}, but it follows {prev:?}",
                    node.prev()
                ));
            }
            forward.push(slot);
            prev = Some(slot);
            at = node.next();
        }
        if self.tail != prev {
            return Err(format!(
                "tail is {:?}, the last node is {prev:?}",
                self.tail
            ));
        }
        let mut backward = Vec::new();
        let mut at = self.tail;
        while let Some(slot) = at {
            if backward.len() > self.slots.len() {
                return Err(format!("cycle through slot {slot} going backward"));
            }
            backward.push(slot);
            at = live(slot)?.prev();
        }
        backward.reverse();
        if forward != backward {
            return Err(format!(
                "forward walk {forward:?} differs from backward walk {backward:?}"
            ));
        }
        if forward.len() != self.len {
            return Err(format!(
                "len is {}, but the list has {} nodes",
                self.len,
                forward.len()
            ));
        }
        let used = self.slots.iter().filter(|e| e.node.is_some()).count();
        if used != self.len {
            return Err(format!(
                "{used} slots hold nodes, but {} are linked",
                self.len
            ));
        }
        let mut free = self.free.clone();
        free.sort();
        free.dedup();
        if free.len() != self.free.len() || free.len() + self.len != self.slots.len() {
            return Err(format!(
                "free list {:?} does not hold exactly the {} unused slots",
                self.free,
                self.slots.len() - self.len
            ));
        }
        if let Some(slot) = free
            .iter()
            .find(|s| self.slots[s.0 as usize].node.is_some())
        {
            return Err(format!("slot {slot} is on the free list but holds a node"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct N {
        next: Option<Slot>,
        prev: Option<Slot>,
        value: u32,
    }

    impl Linked for N {
        fn next(&self) -> Option<Slot> {
            self.next
        }
        fn prev(&self) -> Option<Slot> {
            self.prev
        }
        fn set_next(&mut self, next: Option<Slot>) {
            self.next = next;
        }
        fn set_prev(&mut self, prev: Option<Slot>) {
            self.prev = prev;
        }
    }

    fn list_of(values: &[u32]) -> (List<N>, Vec<Handle>) {
        let mut list = List::new(8);
        let handles = values
            .iter()
            .map(|&value| {
                list.push_back(|_| N {
                    next: None,
                    prev: None,
                    value,
                })
                .unwrap()
            })
            .collect();
        (list, handles)
    }

    fn values(list: &List<N>) -> Vec<u32> {
        list.iter().map(|(_, n)| n.value).collect()
    }

    #[test]
    fn remove_head_middle_tail_keeps_both_directions() {
        for victim in 0..3 {
            let (mut list, handles) = list_of(&[1, 2, 3]);
            assert!(list.remove(handles[victim]).is_some());
            list.check().unwrap();
            let mut want = vec![1, 2, 3];
            want.remove(victim);
            assert_eq!(values(&list), want);
        }
    }

    #[test]
    fn stale_handle_after_slot_reuse_finds_nothing() {
        let (mut list, handles) = list_of(&[1, 2]);
        list.remove(handles[0]).unwrap();
        let new = list
            .push_back(|_| N {
                next: None,
                prev: None,
                value: 9,
            })
            .unwrap();
        assert_eq!(new.slot, handles[0].slot, "the freed slot is reused");
        assert!(list.get(handles[0]).is_none());
        assert!(list.remove(handles[0]).is_none());
        assert_eq!(list.get(new).map(|n| n.value), Some(9));
        assert_eq!(values(&list), vec![2, 9]);
        list.check().unwrap();
    }

    #[test]
    fn full_list_refuses() {
        let (mut list, _) = list_of(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let more = list.push_back(|_| N {
            next: None,
            prev: None,
            value: 0,
        });
        assert!(more.is_none());
        list.check().unwrap();
    }

    #[test]
    fn check_finds_a_broken_prev_link() {
        let (mut list, handles) = list_of(&[1, 2, 3]);
        list.get_mut(handles[2]).unwrap().prev = Some(handles[0].slot);
        assert!(list.check().is_err());
    }
}

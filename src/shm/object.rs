//! The two node types of docs/spec/shm.md, field for field:
//!
//! ```text
//! shared-memory object (ShmObject)     client (Client)
//! +---------+                          +-------+
//! | next    | next object              | next  | next client
//! | prev    | previous object          | prev  | previous client
//! | id      | returned by open         | pid   | the process
//! | name    |                          | pages | the virtual pages this process
//! | size    | set once by shm_size     |       | mapped onto the object's frames
//! | frames  | physical frames          +-------+
//! | clients | list of clients          |
//! +---------+
//! ```
//!
//! `next`/`prev` are slot numbers in the arena of `list.rs`. A client's
//! `pages` hold one run of `frames.len()` pages per `shm_map`, in call
//! order: page `i` of the list maps frame `i % frames.len()`. The first run
//! is the "first mapping" that the last client keeps on close (rule A.4).

use std::fmt;

use super::list::{Handle, Linked, List, Slot};
use crate::emu::{Frame, VirtPage};
use crate::ids::Pid;

/// Most objects one kernel's table holds (`ENOSPC` beyond, rule A.1).
pub const MAX_OBJECTS: usize = 64;

/// Longest name, in bytes without the NUL (`ENAMETOOLONG` beyond). A C
/// kernel would keep the name in a fixed `char name[64]`.
pub const NAME_MAX: usize = 63;

/// How far the kernel looks for the name's NUL: a "name" without one in
/// this many bytes is not a string at all (`EINVAL`, rule A.1).
pub const NAME_SCAN: usize = 255;

/// The id `shm_open` returns: the object's slot and its generation, folded
/// into one number the guest can print. Ids start at 1 (slot 0,
/// generation 0); the id of a later object in the same slot differs by a
/// multiple of `MAX_OBJECTS`, so a stale id never names it (rule A.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ShmId(pub u64);

impl ShmId {
    pub fn of(handle: Handle) -> ShmId {
        ShmId(u64::from(handle.generation) * MAX_OBJECTS as u64 + u64::from(handle.slot.0) + 1)
    }

    /// The handle this id was made from; `None` for numbers no id has
    /// (0, or a generation beyond `u32`).
    pub fn handle(self) -> Option<Handle> {
        let n = self.0.checked_sub(1)?;
        let slot = n % MAX_OBJECTS as u64;
        let generation = u32::try_from(n / MAX_OBJECTS as u64).ok()?;
        Some(Handle {
            slot: Slot(slot as u32),
            generation,
        })
    }
}

impl fmt::Display for ShmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A named shared-memory object.
#[derive(Clone, Debug)]
pub struct ShmObject {
    pub next: Option<Slot>,
    pub prev: Option<Slot>,
    pub id: ShmId,
    /// The name as the guest gave it (any bytes but NUL).
    pub name: Vec<u8>,
    /// Bytes, a multiple of the page size; `None` until `shm_size`.
    pub size: Option<u64>,
    /// One frame per page, allocated by `shm_size`.
    pub frames: Vec<Frame>,
    pub clients: List<Client>,
}

/// A process that opened an object.
#[derive(Clone, Debug)]
pub struct Client {
    pub next: Option<Slot>,
    pub prev: Option<Slot>,
    pub pid: Pid,
    /// Every page this process mapped onto the object, one run per map.
    pub pages: Vec<VirtPage>,
}

impl ShmObject {
    /// The client entry of `pid`, if it is a client.
    pub fn client(&self, pid: Pid) -> Option<(Handle, &Client)> {
        self.clients.find(|c| c.pid == pid)
    }

    /// The name, printable.
    pub fn display_name(&self) -> String {
        self.name.escape_ascii().to_string()
    }
}

impl Linked for ShmObject {
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

impl Linked for Client {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_differ_across_generations() {
        for (slot, generation) in [(0, 0), (5, 0), (63, 7), (1, u32::MAX)] {
            let h = Handle {
                slot: Slot(slot),
                generation,
            };
            assert_eq!(ShmId::of(h).handle(), Some(h));
        }
        assert_eq!(ShmId(0).handle(), None);
        assert_eq!(ShmId(u64::MAX).handle(), None);
    }
}

//! `ShmTable`: one kernel's list of named shared-memory objects and the
//! four calls of docs/spec/shm.md (rules A.1–A.4), plus what exit (A.5) and
//! fork (A.6) do to it.
//!
//! Every call first checks everything that can fail, then commits: on an
//! error nothing has changed (the spec's "nothing changes on error"). The
//! kernel's syscall layer (kernel/syscall/shm.rs) has already turned guest
//! pointers into bytes and picked where a mapping goes in the address
//! space (kernel/paging.rs); this file sees only numbers, names, the
//! calling process's pid and page table, and the machine's frames.

use std::collections::BTreeSet;

use super::list::List;
use super::object::{Client, ShmId, ShmObject, MAX_OBJECTS, NAME_MAX};
use crate::abi::layout::{SHM_BASE, STACK_BOTTOM};
use crate::abi::{Errno, EACCES, EINVAL, ENAMETOOLONG, ENOMEM, ENOSPC, EPERM};
use crate::emu::{PageTable, PhysMemory, PteFlags, VirtPage, PAGE_SIZE};
use crate::ids::Pid;

/// The largest object: the window the kernel picks addresses from
/// (`SHM_BASE..STACK_BOTTOM`), so that every object fits somewhere.
pub const SIZE_MAX: u64 = STACK_BOTTOM - SHM_BASE;

/// What happens to a leaving client's pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Leave {
    /// `shm_close`: re-map every page to a private copy (rule A.4).
    CopyPrivate,
    /// Exit: unmap the pages. The copies `CopyPrivate` would make are freed
    /// right after by exit, and could fail for lack of frames, so exit
    /// skips them; what remains is the same as close-then-free (rule A.5).
    Unmap,
}

/// The named shared-memory objects of one kernel.
#[derive(Clone, Debug)]
pub struct ShmTable {
    objects: List<ShmObject>,
}

impl Default for ShmTable {
    fn default() -> Self {
        ShmTable::new()
    }
}

impl ShmTable {
    pub fn new() -> ShmTable {
        ShmTable {
            objects: List::new(MAX_OBJECTS),
        }
    }

    /// The list of objects, in list order (for dumps, invariants, tests).
    pub fn objects(&self) -> &List<ShmObject> {
        &self.objects
    }

    /// The live object `id` names, if any.
    pub fn get(&self, id: ShmId) -> Option<&ShmObject> {
        self.objects.get(id.handle()?)
    }

    /// The object called `name`, if one exists.
    pub fn find(&self, name: &[u8]) -> Option<&ShmObject> {
        self.objects.find(|o| o.name == name).map(|(_, o)| o)
    }

    /// Whether `pid` is a client of any object.
    pub fn is_client_anywhere(&self, pid: Pid) -> bool {
        self.objects.iter().any(|(_, o)| o.client(pid).is_some())
    }

    /// Every page `pid` mapped onto some object (fork shares these).
    pub fn shared_pages(&self, pid: Pid) -> BTreeSet<VirtPage> {
        self.objects
            .iter()
            .filter_map(|(_, o)| o.client(pid))
            .flat_map(|(_, c)| c.pages.iter().copied())
            .collect()
    }

    /// Rule A.1: `shm_open(name) → id`.
    ///
    /// # Errors
    /// `EINVAL` for an empty name, `ENAMETOOLONG` beyond `NAME_MAX` bytes,
    /// `ENOSPC` when the table is full.
    pub fn open(&mut self, pid: Pid, name: &[u8]) -> Result<ShmId, Errno> {
        if name.is_empty() {
            return Err(EINVAL);
        }
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if let Some((handle, object)) = self.objects.find(|o| o.name == name) {
            let id = object.id;
            if object.client(pid).is_none() {
                let Some(object) = self.objects.get_mut(handle) else {
                    panic!("ShmTable::open: object {id} vanished");
                };
                push_client(&mut object.clients, pid, Vec::new());
            }
            return Ok(id);
        }
        // A new object goes at the end of the list, with no size and no
        // frames; its opener is its first client.
        let handle = self
            .objects
            .push_back(|handle| {
                let mut clients = List::new(usize::MAX);
                push_client(&mut clients, pid, Vec::new());
                ShmObject {
                    next: None,
                    prev: None,
                    id: ShmId::of(handle),
                    name: name.to_vec(),
                    size: None,
                    frames: Vec::new(),
                    clients,
                }
            })
            .ok_or(ENOSPC)?;
        Ok(ShmId::of(handle))
    }

    /// Rule A.2: `shm_size(id, size) → rounded size`.
    ///
    /// # Errors
    /// `EINVAL` for size 0, larger than `SIZE_MAX`, or an unknown or stale
    /// id; `EACCES` when `pid` is not a client; `EPERM` when the size is
    /// already set to another value; `ENOMEM` when frames run short.
    pub fn size(
        &mut self,
        memory: &mut PhysMemory,
        pid: Pid,
        id: u64,
        size: u64,
    ) -> Result<u64, Errno> {
        let handle = ShmId(id).handle().ok_or(EINVAL)?;
        let object = self.objects.get_mut(handle).ok_or(EINVAL)?;
        if object.client(pid).is_none() {
            return Err(EACCES);
        }
        if size == 0 || size > SIZE_MAX {
            return Err(EINVAL);
        }
        // No overflow: size <= SIZE_MAX, far below u64::MAX.
        let rounded = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        match object.size {
            Some(set) if set == rounded => return Ok(set),
            Some(_) => return Err(EPERM),
            None => {}
        }
        let pages = rounded / PAGE_SIZE;
        if u64::from(memory.free_frames()) < pages {
            return Err(ENOMEM);
        }
        // Fresh frames come zeroed from the allocator (a2_frames_zero_filled).
        object.frames = (0..pages)
            .map(|_| match memory.alloc() {
                Some(frame) => frame,
                None => panic!("ShmTable::size: {pages} frames were free a moment ago"),
            })
            .collect();
        object.size = Some(rounded);
        Ok(rounded)
    }

    /// Rule A.3, the checks of `shm_map(addr or 0, id)`: how many pages a
    /// mapping of object `id` by `pid` takes. The kernel then picks the
    /// address (the caller's `addr`, or a free range) and calls `map`.
    ///
    /// # Errors
    /// `EINVAL` for an unknown id or a size not yet set; `EACCES` when
    /// `pid` is not a client.
    pub fn pages_to_map(&self, pid: Pid, id: u64) -> Result<u64, Errno> {
        let handle = ShmId(id).handle().ok_or(EINVAL)?;
        let object = self.objects.get(handle).ok_or(EINVAL)?;
        object.client(pid).ok_or(EACCES)?;
        if object.size.is_none() {
            return Err(EINVAL);
        }
        Ok(object.frames.len() as u64)
    }

    /// Rule A.3: maps object `id` into `page_table` at `start`, a free run
    /// of `pages_to_map` pages the kernel picked, and records the pages in
    /// `pid`'s client. Returns `start`.
    ///
    /// # Errors
    /// As `pages_to_map`.
    pub fn map(
        &mut self,
        page_table: &mut PageTable,
        pid: Pid,
        id: u64,
        start: u64,
    ) -> Result<u64, Errno> {
        self.pages_to_map(pid, id)?;
        let handle = ShmId(id).handle().ok_or(EINVAL)?;
        let object = self.objects.get_mut(handle).ok_or(EINVAL)?;
        let (client, _) = object.client(pid).ok_or(EACCES)?;
        let first = VirtPage::containing(start);
        page_table.map_run(first, &object.frames, PteFlags::USER_RW);
        let Some(client) = object.clients.get_mut(client) else {
            panic!("ShmTable::map: client {pid} vanished");
        };
        let pages = object.frames.len() as u64;
        client
            .pages
            .extend((first.0..first.0 + pages).map(VirtPage));
        Ok(start)
    }

    /// Rule A.4: `shm_close(id) → 0`.
    ///
    /// # Errors
    /// `EINVAL` for an unknown or stale id or when the caller is not a
    /// client; `ENOMEM` when there are not enough frames for the private
    /// copies (then nothing changed and the call can be retried).
    pub fn close(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        id: u64,
    ) -> Result<u64, Errno> {
        let handle = ShmId(id).handle().ok_or(EINVAL)?;
        self.leave(memory, pid, page_table, handle, Leave::CopyPrivate)?;
        Ok(0)
    }

    /// Unmaps the run of pages `pid` mapped onto object `id` at `addr` (one
    /// `map` call's pages) without copying: later accesses fault. A client
    /// with no page left leaves; an object with no client left is freed
    /// (A.7). Used by rshmdt (docs/spec/rshm.md), whose local copies are
    /// objects of this table. Returns whether the object was freed.
    ///
    /// # Errors
    /// `EINVAL` for an unknown id, a caller that is not a client, or an
    /// `addr` where no run of this object starts.
    pub fn unmap_run(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        id: u64,
        addr: u64,
    ) -> Result<bool, Errno> {
        let handle = ShmId(id).handle().ok_or(EINVAL)?;
        let object = self.objects.get_mut(handle).ok_or(EINVAL)?;
        let n = object.frames.len();
        let (client_handle, client) = object.client(pid).ok_or(EINVAL)?;
        let first = VirtPage::containing(addr);
        // Runs start at multiples of n in the client's pages (object.rs).
        let run = (0..client.pages.len())
            .step_by(n.max(1))
            .find(|&i| client.pages[i] == first && addr.is_multiple_of(PAGE_SIZE))
            .ok_or(EINVAL)?;
        let Some(client) = object.clients.get_mut(client_handle) else {
            panic!("ShmTable::unmap_run: client {pid} vanished");
        };
        page_table.unmap_run(client.pages[run], n as u64);
        client.pages.drain(run..run + n);
        if !client.pages.is_empty() {
            return Ok(false);
        }
        object.clients.remove(client_handle);
        if !object.clients.is_empty() {
            return Ok(false);
        }
        let Some(object) = self.objects.remove(handle) else {
            panic!("ShmTable::unmap_run: object vanished on unlink");
        };
        for frame in object.frames {
            memory.free(frame);
        }
        Ok(true)
    }

    /// Rule A.5: at exit, leaves every object `pid` is a client of, in list
    /// order. Call it before freeing the process's page table: afterwards
    /// no entry of it points at an object's frame.
    pub fn exit(&mut self, memory: &mut PhysMemory, pid: Pid, page_table: &mut PageTable) {
        for handle in self.objects.handles() {
            let is_client = self
                .objects
                .get(handle)
                .is_some_and(|o| o.client(pid).is_some());
            if is_client {
                if let Err(errno) = self.leave(memory, pid, page_table, handle, Leave::Unmap) {
                    panic!("ShmTable::exit: leaving without copies failed with errno {errno}");
                }
            }
        }
    }

    /// Rule A.6: the child of a fork becomes a client of every object its
    /// parent is a client of, with the same pages (the kernel's fork shares
    /// the frames behind them instead of copying).
    pub fn fork(&mut self, parent: Pid, child: Pid) {
        for handle in self.objects.handles() {
            let Some(object) = self.objects.get_mut(handle) else {
                continue;
            };
            if let Some((_, client)) = object.client(parent) {
                let pages = client.pages.clone();
                push_client(&mut object.clients, child, pages);
            }
        }
    }

    /// Removes `pid` from the object `handle` names (rules A.4, A.5, A.7).
    ///
    /// **Extension point (coursework):** this is where a course asks
    /// students to change what a leaving process keeps — for example copy
    /// on write instead of eager copies, or unmapping on close.
    fn leave(
        &mut self,
        memory: &mut PhysMemory,
        pid: Pid,
        page_table: &mut PageTable,
        handle: super::list::Handle,
        how: Leave,
    ) -> Result<(), Errno> {
        let object = self.objects.get(handle).ok_or(EINVAL)?;
        let (client_handle, client) = object.client(pid).ok_or(EINVAL)?;
        let last = object.clients.len() == 1;
        let n = object.frames.len();
        // A.4: the last client keeps the original frames for its first
        // mapping (pages[..n]); every other page gets a private copy.
        // BEGIN SOLUTION shm-close
        let keep = if last && how == Leave::CopyPrivate {
            n.min(client.pages.len())
        } else {
            0
        };
        // STUB
        // let _ = last;
        // let keep = 0; // A.4: how many pages does the last client keep?
        // END SOLUTION shm-close
        let copies = match how {
            Leave::CopyPrivate => client.pages.len() - keep,
            Leave::Unmap => 0,
        };
        // Check, then commit: ENOMEM must leave everything unchanged.
        if (memory.free_frames() as usize) < copies {
            return Err(ENOMEM);
        }
        for (i, &page) in client.pages.iter().enumerate().skip(keep) {
            let original = object.frames[i % n];
            let pte = match page_table.get(page) {
                Some(pte) if pte.frame == original => pte,
                other => panic!(
                    "ShmTable::leave: page {page} of process {pid} should map frame {original}, found {other:?}"
                ),
            };
            match how {
                Leave::CopyPrivate => {
                    // BEGIN SOLUTION shm-close
                    let Some(copy) = memory.alloc() else {
                        panic!("ShmTable::leave: {copies} frames were free a moment ago");
                    };
                    memory.copy_frame(original, copy);
                    // Same address, same permissions; `map` bumps the page
                    // table's generation, so the TLB drops the old frame.
                    page_table.map(page, copy, pte.flags);
                    // STUB
                    // // A.4: the page should keep its contents in a private frame.
                    // let _ = (original, pte);
                    // page_table.unmap(page);
                    // END SOLUTION shm-close
                }
                Leave::Unmap => {
                    page_table.unmap(page);
                }
            }
        }
        let Some(object) = self.objects.get_mut(handle) else {
            panic!("ShmTable::leave: object vanished");
        };
        object.clients.remove(client_handle);
        if object.clients.is_empty() {
            // A.7: an object lives while it has a client. Its frames go to
            // the last client (keep == n) or back to the allocator.
            let Some(object) = self.objects.remove(handle) else {
                panic!("ShmTable::leave: object vanished on unlink");
            };
            if keep == 0 {
                for frame in object.frames {
                    memory.free(frame);
                }
            }
        }
        Ok(())
    }
}

fn push_client(clients: &mut List<Client>, pid: Pid, pages: Vec<VirtPage>) {
    let added = clients.push_back(|_| Client {
        next: None,
        prev: None,
        pid,
        pages,
    });
    if added.is_none() {
        panic!("push_client: the client list has no limit");
    }
}

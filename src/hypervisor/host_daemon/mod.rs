//! The host daemon: one per hypervisor run. It owns the host shared region
//! and answers the client daemons' requests (docs/spec/vmshm.md).
//!
//! How control flows: a client daemon calls `HostDaemon::handle` with an
//! `Envelope` and gets a `HostReply` back at once. A reply `Wait` means the
//! calling process blocks; when its state changes (a peer connects,
//! closes or goes away) the host queues a `Notice`, which the run loop
//! takes with `take_notices` and hands to the VM's kernel, which wakes the
//! process; the process repeats its `ecall` and so asks again.
//!
//! ```text
//! region:  frames reserved from the machine on first use (--host-shm MB)
//! alloc:   first fit over pages of the region (alloc.rs)
//! open:    level 1   shmid → OpenBlock { block, sharing, vms }
//! conns:   level 2   shmid → Connection { size, listener, connector, block }
//! ```
//!
//! Level-2 sides go through these states (`SideState`):
//!
//! ```text
//! listener:  Listening ─connect─► Paired ─listen again─► Mapped
//! both:      Mapped ─disconnect─► Closing ─peer closes─► Finished(0)
//!            Paired/Closing ─peer exits or its VM ends─► Finished(ECONNRESET)
//!            Finished ─asks again─► Gone     Mapped ─exit─► Gone
//! ```
//!
//! A block goes back to the allocator only when no VM maps it: at level 1
//! when its last VM closed it, at level 2 when no side is `Paired` or
//! `Mapped` (a side unmaps before it sends `Disconnect`). Blocks are zeroed
//! when they are handed out again (scrubbed reuse).
//!
//! Level 1 and level 2 have separate shmid tables: a `vm_open` id and a
//! `vm_listen` id never meet.

use std::collections::{BTreeMap, BTreeSet};

pub mod alloc;
pub mod dump;

pub use alloc::BlockAllocator;
pub use dump::dump;

use crate::abi::{
    Errno, EADDRINUSE, EBUSY, ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EINVAL, EISCONN, ENOENT,
    ENOMEM, ENOSPC,
};
use crate::emu::{Frame, PhysMemory, PAGE_SIZE};
use crate::ids::{Pid, VmId};
use crate::vmshm::messages::*;
use crate::vmshm::HostService;

/// Default size of the host shared region in MiB (`--host-shm`).
pub const DEFAULT_HOST_SHM_MB: u64 = 4;

/// A block held by the host: first page in the region and page count.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Block {
    pub first: u64,
    pub pages: u64,
}

impl Block {
    pub fn info(self) -> BlockInfo {
        BlockInfo {
            offset: self.first * PAGE_SIZE,
            size: self.pages * PAGE_SIZE,
        }
    }
}

/// A level-1 block and the VMs that have it open (its reference count is
/// `vms.len()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBlock {
    pub block: Block,
    pub sharing: Sharing,
    pub vms: BTreeSet<VmId>,
}

/// Where one side of a level-2 connection is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SideState {
    /// The listener waits for a connect.
    Listening,
    /// A connect came; the listener has not picked the block up yet.
    Paired,
    /// The side maps the block.
    Mapped,
    /// The side closed and waits for the peer to close.
    Closing,
    /// The wait is over: the side's next request gets this result
    /// (`None`: success, `Some(errno)`).
    Finished(Option<Errno>),
    /// The side is done with the connection.
    Gone,
}

/// One side of a level-2 connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Side {
    pub vm: VmId,
    pub pid: Pid,
    pub state: SideState,
}

impl Side {
    fn is(&self, vm: VmId, pid: Pid) -> bool {
        self.vm == vm && self.pid == pid
    }

    fn maps(&self) -> bool {
        matches!(self.state, SideState::Paired | SideState::Mapped)
    }
}

/// A level-2 shmid: its listener and, once connected, its connector and
/// block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Requested size in pages (the listener's `*size`, 0 meaning one page).
    pub pages: u64,
    pub listener: Side,
    pub connector: Option<Side>,
    pub block: Option<Block>,
}

/// The host daemon's state.
#[derive(Clone, Debug)]
pub struct HostDaemon {
    /// Size of the region in pages.
    pages: u64,
    /// The region's frames, reserved from the machine on first use (empty
    /// before): page `i` of the region is `frames[i]`.
    frames: Vec<Frame>,
    alloc: BlockAllocator,
    open: BTreeMap<u64, OpenBlock>,
    conns: BTreeMap<u64, Connection>,
    /// VMs that exist (`attach`) and whether they ended.
    vms: BTreeMap<VmId, bool>,
    notices: Vec<Notice>,
    /// Blocks handed out so far (each zeroed first), for the dump.
    pub handed_out: u64,
}

type Reply = Result<HostReply, Errno>;

impl HostDaemon {
    /// A daemon for a region of `megabytes` MiB (not reserved yet).
    pub fn new(megabytes: u64) -> HostDaemon {
        HostDaemon::with_pages(megabytes.saturating_mul(1 << 20) / PAGE_SIZE)
    }

    /// A daemon for a region of `pages` pages (not reserved yet).
    pub fn with_pages(pages: u64) -> HostDaemon {
        HostDaemon {
            pages,
            frames: Vec::new(),
            alloc: BlockAllocator::new(pages),
            open: BTreeMap::new(),
            conns: BTreeMap::new(),
            vms: BTreeMap::new(),
            notices: Vec::new(),
            handed_out: 0,
        }
    }

    /// Registers VM `vm` (it may be connected to from now on).
    pub fn attach(&mut self, vm: VmId) {
        self.vms.insert(vm, false);
    }

    /// Size of the region in pages.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The region's frames (empty until first use).
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The frames of `block`, for the client daemon to map.
    pub fn block_frames(&self, block: BlockInfo) -> Vec<Frame> {
        let first = (block.offset / PAGE_SIZE) as usize;
        let pages = (block.size / PAGE_SIZE) as usize;
        self.frames
            .get(first..first + pages)
            .map_or_else(Vec::new, <[Frame]>::to_vec)
    }

    pub fn allocator(&self) -> &BlockAllocator {
        &self.alloc
    }

    pub fn open_blocks(&self) -> &BTreeMap<u64, OpenBlock> {
        &self.open
    }

    pub fn connections(&self) -> &BTreeMap<u64, Connection> {
        &self.conns
    }

    /// The VMs the daemon knows, with whether each has ended.
    pub fn vms(&self) -> &BTreeMap<VmId, bool> {
        &self.vms
    }

    /// Whether notices are queued for the run loop (a look that costs
    /// nothing, made after every exception).
    pub fn has_notices(&self) -> bool {
        !self.notices.is_empty()
    }

    /// Takes the notices queued for the run loop (processes to wake).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Answers one request. `memory` is the machine's: the region is
    /// reserved from it on first use, and blocks are zeroed in it.
    pub fn handle(&mut self, memory: &mut PhysMemory, envelope: Envelope) -> HostReply {
        let vm = envelope.from;
        let reply = match envelope.request {
            HostRequest::Open {
                shmid,
                size,
                sharing,
            } => self.open(memory, vm, shmid, size, sharing),
            HostRequest::Close { shmid } => self.close(vm, shmid),
            HostRequest::Listen { pid, shmid, size } => self.listen(vm, pid, shmid, size),
            HostRequest::Connect {
                pid,
                target,
                shmid,
                size,
            } => self.connect(memory, vm, pid, VmId(target), shmid, size),
            HostRequest::Disconnect { pid, shmid } => self.disconnect(vm, pid, shmid),
            HostRequest::Reset { pid, shmid } => {
                self.leave(|s| s.is(vm, pid), Some(shmid));
                Ok(HostReply::Done)
            }
            HostRequest::ProcessExited { pid } => {
                self.leave(|s| s.is(vm, pid), None);
                Ok(HostReply::Done)
            }
            HostRequest::VmEnded => {
                self.vm_ended(vm);
                Ok(HostReply::Done)
            }
        };
        reply.unwrap_or_else(HostReply::Error)
    }

    /// Pages for `size` bytes, or `None` when the region could never hold
    /// them.
    fn pages_for(&self, size: u64) -> Option<u64> {
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        (pages <= self.pages).then_some(pages)
    }

    /// Takes a block of `pages` pages, reserving the region first if this
    /// is its first use, and zeroes it.
    fn take_block(&mut self, memory: &mut PhysMemory, pages: u64) -> Result<Block, Errno> {
        if self.frames.is_empty() {
            // Reserve lazily: runs that never share between VMs keep all
            // their memory (and their frame numbers).
            if u64::from(memory.free_frames()) < self.pages {
                return Err(ENOMEM);
            }
            for _ in 0..self.pages {
                match memory.alloc() {
                    Some(frame) => self.frames.push(frame),
                    None => panic!("HostDaemon::take_block: frames were free a moment ago"),
                }
            }
        }
        let first = self.alloc.alloc(pages).ok_or(ENOSPC)?;
        let range = first as usize..(first + pages) as usize;
        // Frame ownership (emu/memory.rs): a block's frames are handed out
        // again only when the region alone holds them. A frame something
        // else still maps (which no call allows: a kernel bug) is left to
        // that mapping, and the region takes a fresh frame in its place.
        for i in range.clone() {
            if memory.references(self.frames[i]) == 1 {
                continue;
            }
            let Some(fresh) = memory.alloc() else {
                self.alloc.free(first, pages);
                return Err(ENOMEM);
            };
            memory.free(self.frames[i]);
            self.frames[i] = fresh;
        }
        // Scrub: a block never shows a previous user's data.
        for &frame in &self.frames[range] {
            memory.frame_bytes_mut(frame).fill(0);
        }
        self.handed_out += 1;
        Ok(Block { first, pages })
    }

    fn release(&mut self, block: Block) {
        self.alloc.free(block.first, block.pages);
    }

    /// Level 1: docs/spec/vmshm.md "Host daemon: if shmid is already open ...".
    fn open(
        &mut self,
        memory: &mut PhysMemory,
        vm: VmId,
        shmid: u64,
        size: u64,
        sharing: Sharing,
    ) -> Reply {
        if let Some(b) = self.open.get_mut(&shmid) {
            if b.sharing != sharing || size > b.block.pages * PAGE_SIZE {
                return Err(EINVAL);
            }
            if sharing == Sharing::Exclusive && !b.vms.contains(&vm) && b.vms.len() >= 2 {
                return Err(EBUSY);
            }
            b.vms.insert(vm);
            return Ok(HostReply::Opened(b.block.info()));
        }
        if size == 0 {
            return Err(ENOENT);
        }
        let pages = self.pages_for(size).ok_or(ENOSPC)?;
        let block = self.take_block(memory, pages)?;
        self.open.insert(
            shmid,
            OpenBlock {
                block,
                sharing,
                vms: BTreeSet::from([vm]),
            },
        );
        Ok(HostReply::Opened(block.info()))
    }

    /// Level 1: VM `vm` has no process left that has `shmid` open.
    fn close(&mut self, vm: VmId, shmid: u64) -> Reply {
        let b = self.open.get_mut(&shmid).ok_or(EINVAL)?;
        if !b.vms.remove(&vm) {
            return Err(EINVAL);
        }
        if b.vms.is_empty() {
            if let Some(b) = self.open.remove(&shmid) {
                self.release(b.block);
            }
        }
        Ok(HostReply::Done)
    }

    fn listen(&mut self, vm: VmId, pid: Pid, shmid: u64, size: u64) -> Reply {
        let Some(conn) = self.conns.get_mut(&shmid) else {
            let pages = self.pages_for(size).ok_or(ENOSPC)?;
            self.conns.insert(
                shmid,
                Connection {
                    pages,
                    listener: Side {
                        vm,
                        pid,
                        state: SideState::Listening,
                    },
                    connector: None,
                    block: None,
                },
            );
            return Ok(HostReply::Wait);
        };
        if !conn.listener.is(vm, pid) {
            return Err(EADDRINUSE);
        }
        let reply = match (conn.listener.state, conn.block, conn.connector) {
            (SideState::Listening, _, _) => HostReply::Wait,
            (SideState::Paired, Some(block), Some(peer)) => {
                conn.listener.state = SideState::Mapped;
                HostReply::Paired {
                    block: block.info(),
                    peer: peer.vm,
                }
            }
            (SideState::Finished(result), _, _) => {
                conn.listener.state = SideState::Gone;
                self.tidy(shmid);
                return result.map_or(Ok(HostReply::Done), Err);
            }
            _ => return Err(EADDRINUSE),
        };
        Ok(reply)
    }

    fn connect(
        &mut self,
        memory: &mut PhysMemory,
        vm: VmId,
        pid: Pid,
        target: VmId,
        shmid: u64,
        size: u64,
    ) -> Reply {
        // BEGIN SOLUTION vmshm-l2
        if self.vms.get(&target) != Some(&false) {
            return Err(EHOSTUNREACH);
        }
        let (pages, state, has_peer) = match self.conns.get(&shmid) {
            Some(c) if c.listener.vm == target => {
                (c.pages, c.listener.state, c.connector.is_some())
            }
            _ => return Err(ECONNREFUSED),
        };
        if state != SideState::Listening || has_peer {
            return Err(EISCONN);
        }
        if size > pages * PAGE_SIZE {
            return Err(EINVAL);
        }
        let block = self.take_block(memory, pages)?;
        let Some(conn) = self.conns.get_mut(&shmid) else {
            panic!("HostDaemon::connect: connection {shmid} vanished");
        };
        conn.block = Some(block);
        conn.listener.state = SideState::Paired;
        conn.connector = Some(Side {
            vm,
            pid,
            state: SideState::Mapped,
        });
        self.notices.push(Notice {
            vm: conn.listener.vm,
            pid: conn.listener.pid,
            shmid,
        });
        Ok(HostReply::Connected(block.info()))
        // STUB
        // // docs/spec/vmshm.md, level 2: pair with the listener, give both the block.
        // let _ = (memory, vm, pid, target, shmid, size, Side { vm, pid, state: SideState::Mapped });
        // let _ = (EHOSTUNREACH, EISCONN, EINVAL, Notice { vm, pid, shmid });
        // Err(ECONNREFUSED)
        // END SOLUTION vmshm-l2
    }

    fn disconnect(&mut self, vm: VmId, pid: Pid, shmid: u64) -> Reply {
        let conn = self.conns.get_mut(&shmid).ok_or(EINVAL)?;
        let (me, peer) = if conn.listener.is(vm, pid) {
            (&mut conn.listener, conn.connector.as_mut())
        } else {
            match conn.connector.as_mut() {
                Some(c) if c.is(vm, pid) => (c, Some(&mut conn.listener)),
                _ => return Err(EINVAL),
            }
        };
        let reply = match me.state {
            SideState::Mapped => match peer {
                Some(peer) if peer.state == SideState::Closing => {
                    // The second close: both are done.
                    peer.state = SideState::Finished(None);
                    self.notices.push(Notice {
                        vm: peer.vm,
                        pid: peer.pid,
                        shmid,
                    });
                    me.state = SideState::Gone;
                    HostReply::Done
                }
                Some(peer) if peer.maps() => {
                    me.state = SideState::Closing;
                    HostReply::Wait
                }
                // The peer already went: return at once.
                _ => {
                    me.state = SideState::Gone;
                    HostReply::Done
                }
            },
            SideState::Closing => HostReply::Wait,
            SideState::Finished(result) => {
                me.state = SideState::Gone;
                if let Some(e) = result {
                    self.tidy(shmid);
                    return Err(e);
                }
                HostReply::Done
            }
            SideState::Listening | SideState::Paired | SideState::Gone => return Err(EINVAL),
        };
        self.tidy(shmid);
        Ok(reply)
    }

    /// Every side that `is_leaving` (of `shmid`, or of all shmids) is gone
    /// at once; a peer waiting in listen or close gets `ECONNRESET`.
    fn leave(&mut self, is_leaving: impl Fn(&Side) -> bool, shmid: Option<u64>) {
        let ids: Vec<u64> = self
            .conns
            .keys()
            .copied()
            .filter(|id| shmid.is_none_or(|s| s == *id))
            .collect();
        for id in ids {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let mut left = false;
            if is_leaving(&conn.listener) && conn.listener.state != SideState::Gone {
                conn.listener.state = SideState::Gone;
                left = true;
                if let Some(peer) = conn.connector.as_mut() {
                    reset(peer, id, &mut self.notices);
                }
            }
            if let Some(c) = conn.connector.as_mut() {
                if is_leaving(c) && c.state != SideState::Gone {
                    c.state = SideState::Gone;
                    left = true;
                    reset(&mut conn.listener, id, &mut self.notices);
                }
            }
            if left {
                self.tidy(id);
            }
        }
    }

    /// VM `vm` ended: its level-1 references go, its level-2 sides are
    /// gone (peers waiting are reset), and it can no longer be connected
    /// to.
    fn vm_ended(&mut self, vm: VmId) {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            let _ = self.close(vm, id);
        }
        self.leave(|s| s.vm == vm, None);
        self.vms.insert(vm, true);
    }

    /// Frees the block of `shmid` once no side maps it, and forgets the
    /// connection once no side has anything left to collect.
    fn tidy(&mut self, shmid: u64) {
        let Some(conn) = self.conns.get_mut(&shmid) else {
            return;
        };
        let mapped = conn.listener.maps() || conn.connector.is_some_and(|c| c.maps());
        if !mapped {
            if let Some(block) = conn.block.take() {
                self.alloc.free(block.first, block.pages);
            }
        }
        let gone = |s: &Side| s.state == SideState::Gone;
        if gone(&conn.listener) && conn.connector.as_ref().is_none_or(gone) {
            self.conns.remove(&shmid);
        }
    }
}

/// The client daemons reach the host through this port (vmshm/link.rs).
impl HostService for HostDaemon {
    fn handle(&mut self, memory: &mut PhysMemory, envelope: Envelope) -> HostReply {
        HostDaemon::handle(self, memory, envelope)
    }

    fn block_frames(&self, block: BlockInfo) -> Vec<Frame> {
        HostDaemon::block_frames(self, block)
    }

    fn attach(&mut self, vm: VmId) {
        HostDaemon::attach(self, vm);
    }

    fn region_reserved(&self) -> bool {
        !self.frames().is_empty()
    }

    fn region_frames(&self) -> Vec<Frame> {
        self.frames().to_vec()
    }
}

/// The peer of a side that went away: a wait it is in ends with
/// `ECONNRESET` (docs/spec/vmshm.md's last error row); a side that still maps
/// the block keeps it and its later close returns at once.
fn reset(peer: &mut Side, shmid: u64, notices: &mut Vec<Notice>) {
    match peer.state {
        SideState::Paired | SideState::Closing | SideState::Listening => {
            peer.state = SideState::Finished(Some(ECONNRESET));
            notices.push(Notice {
                vm: peer.vm,
                pid: peer.pid,
                shmid,
            });
        }
        SideState::Mapped | SideState::Finished(_) | SideState::Gone => {}
    }
}

#[cfg(test)]
mod tests {
    //! The daemon on its own: requests in, replies and notices out, no
    //! kernel. Each test names the spec row it checks.
    use super::*;
    use crate::abi::*;
    use proptest::prelude::*;

    const A: VmId = VmId(0);
    const B: VmId = VmId(1);
    const C: VmId = VmId(2);

    fn setup() -> (HostDaemon, PhysMemory) {
        let mut host = HostDaemon::new(1); // 256 pages
        for vm in [A, B, C] {
            host.attach(vm);
        }
        (host, PhysMemory::new(4))
    }

    fn ask(host: &mut HostDaemon, mem: &mut PhysMemory, from: VmId, r: HostRequest) -> HostReply {
        host.handle(mem, Envelope { from, request: r })
    }

    fn open(shmid: u64, size: u64, sharing: Sharing) -> HostRequest {
        HostRequest::Open {
            shmid,
            size,
            sharing,
        }
    }

    #[test]
    fn open_creates_then_counts_vms_in() {
        let (mut h, mut m) = setup();
        let r = ask(&mut h, &mut m, A, open(5, 5000, Sharing::Multishared));
        let block = BlockInfo {
            offset: 0,
            size: 8192,
        };
        assert_eq!(r, HostReply::Opened(block));
        assert_eq!(
            ask(&mut h, &mut m, B, open(5, 0, Sharing::Multishared)),
            HostReply::Opened(block)
        );
        assert_eq!(h.open_blocks()[&5].vms.len(), 2);
        // Opening again from the same VM does not count it twice.
        ask(&mut h, &mut m, B, open(5, 4096, Sharing::Multishared));
        assert_eq!(h.open_blocks()[&5].vms.len(), 2);
        assert_eq!(h.frames().len(), 256, "the region is reserved on first use");
    }

    #[test]
    fn open_errors_change_nothing() {
        let (mut h, mut m) = setup();
        assert_eq!(
            ask(&mut h, &mut m, A, open(5, 0, Sharing::Exclusive)),
            HostReply::Error(ENOENT)
        );
        assert!(h.frames().is_empty());
        ask(&mut h, &mut m, A, open(5, 4096, Sharing::Exclusive));
        let before = h.open_blocks().clone();
        assert_eq!(
            ask(&mut h, &mut m, B, open(5, 0, Sharing::Multishared)),
            HostReply::Error(EINVAL)
        );
        assert_eq!(
            ask(&mut h, &mut m, B, open(5, 4097, Sharing::Exclusive)),
            HostReply::Error(EINVAL)
        );
        ask(&mut h, &mut m, B, open(5, 0, Sharing::Exclusive));
        assert_eq!(
            ask(&mut h, &mut m, C, open(5, 0, Sharing::Exclusive)),
            HostReply::Error(EBUSY)
        );
        assert_eq!(h.open_blocks()[&5].vms, BTreeSet::from([A, B]));
        assert_ne!(h.open_blocks(), &before);
        assert_eq!(
            ask(&mut h, &mut m, A, open(6, 257 * 4096, Sharing::Exclusive)),
            HostReply::Error(ENOSPC)
        );
        assert_eq!(
            ask(&mut h, &mut m, A, open(6, 255 * 4096, Sharing::Exclusive)),
            HostReply::Opened(BlockInfo {
                offset: 4096,
                size: 255 * 4096
            })
        );
        assert_eq!(
            ask(&mut h, &mut m, A, open(7, 1, Sharing::Exclusive)),
            HostReply::Error(ENOSPC)
        );
    }

    #[test]
    fn a_block_is_freed_after_its_last_vm_and_scrubbed_before_reuse() {
        let (mut h, mut m) = setup();
        ask(&mut h, &mut m, A, open(1, 4096, Sharing::Multishared));
        ask(&mut h, &mut m, B, open(1, 0, Sharing::Multishared));
        let frame = h.frames()[0];
        m.frame_bytes_mut(frame)[0] = 0xAA;
        assert_eq!(
            ask(&mut h, &mut m, A, HostRequest::Close { shmid: 1 }),
            HostReply::Done
        );
        // B still maps it: another shmid may not get it.
        assert_eq!(
            ask(&mut h, &mut m, C, open(2, 4096, Sharing::Exclusive)),
            HostReply::Opened(BlockInfo {
                offset: 4096,
                size: 4096
            })
        );
        ask(&mut h, &mut m, B, HostRequest::Close { shmid: 1 });
        assert_eq!(
            ask(&mut h, &mut m, C, open(3, 4096, Sharing::Exclusive)),
            HostReply::Opened(BlockInfo {
                offset: 0,
                size: 4096
            })
        );
        assert_eq!(m.frame_bytes(frame)[0], 0, "scrubbed");
        assert_eq!(
            ask(&mut h, &mut m, A, HostRequest::Close { shmid: 3 }),
            HostReply::Error(EINVAL)
        );
    }

    fn listen(pid: u64, shmid: u64) -> HostRequest {
        HostRequest::Listen {
            pid: Pid(pid),
            shmid,
            size: 0,
        }
    }
    fn connect(pid: u64, target: VmId, shmid: u64) -> HostRequest {
        HostRequest::Connect {
            pid: Pid(pid),
            target: target.0,
            shmid,
            size: 0,
        }
    }
    fn disconnect(pid: u64, shmid: u64) -> HostRequest {
        HostRequest::Disconnect {
            pid: Pid(pid),
            shmid,
        }
    }

    #[test]
    fn a_frame_still_mapped_elsewhere_is_never_handed_out_again() {
        // Frame ownership (emu/memory.rs): the block's frame is still
        // referenced by a mapping the host does not know of (as hv_map made
        // before issue 11: a guest kernel's child kept a block's page). The
        // next block must not get that frame: the region takes a fresh one
        // and leaves the old frame to its last mapping.
        let (mut h, mut m) = setup();
        ask(&mut h, &mut m, A, open(1, 4096, Sharing::Multishared));
        let stale = h.frames()[0];
        m.share(stale);
        m.frame_bytes_mut(stale)[0] = 0x5A;
        ask(&mut h, &mut m, A, HostRequest::Close { shmid: 1 });
        assert_eq!(
            ask(&mut h, &mut m, B, open(2, 4096, Sharing::Exclusive)),
            HostReply::Opened(BlockInfo {
                offset: 0,
                size: 4096
            })
        );
        let fresh = h.frames()[0];
        assert_ne!(fresh, stale, "the still-mapped frame was reused");
        assert_eq!(m.references(stale), 1, "left to its mapping alone");
        assert_eq!(
            m.frame_bytes(stale)[0],
            0x5A,
            "not scrubbed under its owner"
        );
        assert_eq!(m.references(fresh), 1);
    }

    #[test]
    fn listen_connect_disconnect_in_order() {
        let (mut h, mut m) = setup();
        assert_eq!(ask(&mut h, &mut m, A, listen(1, 9)), HostReply::Wait);
        assert_eq!(
            ask(&mut h, &mut m, A, listen(1, 9)),
            HostReply::Wait,
            "asking again still waits"
        );
        assert_eq!(
            ask(&mut h, &mut m, B, listen(1, 9)),
            HostReply::Error(EADDRINUSE)
        );
        let block = BlockInfo {
            offset: 0,
            size: 4096,
        };
        assert_eq!(
            ask(&mut h, &mut m, B, connect(3, A, 9)),
            HostReply::Connected(block)
        );
        assert_eq!(
            h.take_notices(),
            vec![Notice {
                vm: A,
                pid: Pid(1),
                shmid: 9
            }]
        );
        assert_eq!(
            ask(&mut h, &mut m, C, connect(1, A, 9)),
            HostReply::Error(EISCONN)
        );
        assert_eq!(
            ask(&mut h, &mut m, A, listen(1, 9)),
            HostReply::Paired { block, peer: B }
        );
        assert_eq!(ask(&mut h, &mut m, A, disconnect(1, 9)), HostReply::Wait);
        assert_eq!(h.allocator().free_pages(), 255, "B still maps the block");
        assert_eq!(ask(&mut h, &mut m, B, disconnect(3, 9)), HostReply::Done);
        assert_eq!(h.allocator().free_pages(), 256);
        assert_eq!(
            h.take_notices(),
            vec![Notice {
                vm: A,
                pid: Pid(1),
                shmid: 9
            }]
        );
        assert_eq!(ask(&mut h, &mut m, A, disconnect(1, 9)), HostReply::Done);
        assert!(h.connections().is_empty());
    }

    #[test]
    fn connect_errors() {
        let (mut h, mut m) = setup();
        assert_eq!(
            ask(&mut h, &mut m, B, connect(1, VmId(7), 9)),
            HostReply::Error(EHOSTUNREACH)
        );
        assert_eq!(
            ask(&mut h, &mut m, B, connect(1, A, 9)),
            HostReply::Error(ECONNREFUSED)
        );
        ask(&mut h, &mut m, A, listen(1, 9));
        assert_eq!(
            ask(&mut h, &mut m, B, connect(1, C, 9)),
            HostReply::Error(ECONNREFUSED)
        );
        let big = HostRequest::Connect {
            pid: Pid(1),
            target: 0,
            shmid: 9,
            size: 4097,
        };
        assert_eq!(ask(&mut h, &mut m, B, big), HostReply::Error(EINVAL));
        ask(&mut h, &mut m, C, HostRequest::VmEnded);
        assert_eq!(
            ask(&mut h, &mut m, B, connect(1, C, 9)),
            HostReply::Error(EHOSTUNREACH)
        );
    }

    #[test]
    fn a_peer_that_exits_resets_the_waiter_and_the_block_is_freed() {
        let (mut h, mut m) = setup();
        ask(&mut h, &mut m, A, listen(1, 9));
        ask(&mut h, &mut m, B, connect(2, A, 9));
        h.take_notices();
        // The connector exits before the listener picked the block up.
        ask(
            &mut h,
            &mut m,
            B,
            HostRequest::ProcessExited { pid: Pid(2) },
        );
        assert_eq!(h.take_notices().len(), 1);
        assert_eq!(h.allocator().free_pages(), 256);
        assert_eq!(
            ask(&mut h, &mut m, A, listen(1, 9)),
            HostReply::Error(ECONNRESET)
        );
        assert!(h.connections().is_empty());
    }

    #[test]
    fn a_vm_that_ends_resets_a_peer_waiting_in_disconnect() {
        let (mut h, mut m) = setup();
        ask(&mut h, &mut m, A, listen(1, 9));
        ask(&mut h, &mut m, B, connect(2, A, 9));
        ask(&mut h, &mut m, A, listen(1, 9));
        assert_eq!(ask(&mut h, &mut m, A, disconnect(1, 9)), HostReply::Wait);
        h.take_notices();
        ask(&mut h, &mut m, B, HostRequest::VmEnded);
        assert_eq!(
            h.take_notices(),
            vec![Notice {
                vm: A,
                pid: Pid(1),
                shmid: 9
            }]
        );
        assert_eq!(
            ask(&mut h, &mut m, A, disconnect(1, 9)),
            HostReply::Error(ECONNRESET)
        );
        assert!(h.connections().is_empty());
        assert_eq!(h.allocator().free_pages(), 256);
    }

    #[test]
    fn disconnect_after_the_peer_left_returns_at_once() {
        let (mut h, mut m) = setup();
        ask(&mut h, &mut m, A, listen(1, 9));
        ask(&mut h, &mut m, B, connect(2, A, 9));
        ask(&mut h, &mut m, A, listen(1, 9));
        ask(
            &mut h,
            &mut m,
            B,
            HostRequest::ProcessExited { pid: Pid(2) },
        );
        assert_eq!(ask(&mut h, &mut m, A, disconnect(1, 9)), HostReply::Done);
        assert_eq!(
            ask(&mut h, &mut m, A, disconnect(1, 9)),
            HostReply::Error(EINVAL)
        );
    }

    proptest! {
        /// Random opens and closes from three VMs: live blocks never
        /// overlap, a block some VM holds is never handed out again, and
        /// when every VM closed everything the region is free again.
        #[test]
        fn random_opens_and_closes_from_three_vms(
            ops in proptest::collection::vec((0u64..3, 0u64..6, any::<bool>(), 0u64..5), 1..150)
        ) {
            let mut h = HostDaemon::with_pages(32);
            let mut m = PhysMemory::new(1);
            for vm in [A, B, C] { h.attach(vm); }
            for (vm, shmid, is_open, pages) in ops {
                let vm = VmId(vm);
                if is_open {
                    let _ = ask(&mut h, &mut m, vm, open(shmid, pages * 4096, Sharing::Multishared));
                } else {
                    let _ = ask(&mut h, &mut m, vm, HostRequest::Close { shmid });
                }
                let blocks: Vec<Block> = h.open_blocks().values().map(|b| b.block).collect();
                for (i, a) in blocks.iter().enumerate() {
                    prop_assert!(!h.open_blocks().values().nth(i).unwrap().vms.is_empty());
                    for b in &blocks[i + 1..] {
                        prop_assert!(a.first + a.pages <= b.first || b.first + b.pages <= a.first);
                    }
                    for &(f, n) in h.allocator().free_ranges() {
                        prop_assert!(f + n <= a.first || a.first + a.pages <= f, "held block is free");
                    }
                }
                let held: u64 = blocks.iter().map(|b| b.pages).sum();
                prop_assert_eq!(held + h.allocator().free_pages(), 32);
            }
            for vm in [A, B, C] {
                ask(&mut h, &mut m, vm, HostRequest::VmEnded);
            }
            prop_assert!(h.open_blocks().is_empty());
            prop_assert_eq!(h.allocator().free_ranges(), &[(0, 32)][..]);
        }
    }
}

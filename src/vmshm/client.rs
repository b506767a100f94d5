//! The client daemon: one per VM's kernel. It turns a process's vm_*
//! call into a request to the host daemon, maps the block the host hands
//! back into the process, and counts which processes of its VM have which
//! shmid open (docs/spec/vmshm.md).
//!
//! It sees plain values only: the kernel's syscall layer
//! (kernel/syscall/vmshm.rs) reads and writes the guest's `*base`/`*size`
//! and picks where a block goes in the address space; this file talks to
//! the host and changes page tables. A call that can still fail after the
//! host said yes comes in two steps, so that nothing is left half done:
//!
//! ```text
//! kernel/syscall/vmshm.rs            this file                      host
//! sys_vm_open ─ OpenRequest::new ──► (flags, perms checked: EINVAL)
//!   read *size, probe *base (EFAULT)
//!   ─────────────────────────────── ► open ──── Open ─────────────► Opened | Error
//!   find_free_range(pages)
//!     none ──────────────────────── ► give_back ─ Close (if first here)
//!     base ──────────────────────── ► map_open: map R or RW, count it
//!   write *base, *size
//! sys_vm_listen/connect ─────────── ► listen/connect ─ Listen/Connect ─► Wait | Paired | Connected
//!   Wait: the process blocks and repeats its ecall when the host's Notice
//!   wakes it (the kernel's vmshm_notice); the repeated call asks again
//!   base ─────────────────────────── ► map_connection  (none: give_up ─ Reset)
//! kernel exit  ──────────────────── ► exit: unmap everything the process had,
//!   Close what no process of this VM has open any more, ProcessExited
//! last process of the VM ended ──── ► vm_ended ─ VmEnded
//! ```
//!
//! The client keeps only what its VM knows: per shmid the processes and
//! their mappings. The host keeps the blocks and the VMs.

use std::collections::{BTreeMap, BTreeSet};

use super::link::HostLink;
use super::messages::*;
use crate::abi::{Errno, EINVAL, ENOSYS};
use crate::emu::{Frame, PageTable, PhysMemory, PteFlags, VirtPage, PAGE_SIZE};

/// What a blocked vm_* call waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VmWait {
    /// `vm_listen(shmid)`: a connect.
    Listen(u64),
    /// `vm_disconnect(shmid)`: the peer's close.
    Disconnect(u64),
}

/// One mapping of a block into a process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mapping {
    pub base: u64,
    pub pages: u64,
    pub writable: bool,
    /// Offset of the block in the host region.
    pub offset: u64,
}

impl Mapping {
    /// Whether `vaddr` lies in the mapping.
    pub fn contains(&self, vaddr: u64) -> bool {
        vaddr >= self.base && vaddr - self.base < self.pages * PAGE_SIZE
    }

    /// The virtual pages of the mapping, in order.
    pub fn pages(&self) -> impl Iterator<Item = VirtPage> {
        let first = VirtPage::containing(self.base).0;
        (first..first + self.pages).map(VirtPage)
    }
}

/// A checked `vm_open` request (docs/spec/vmshm.md, level 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OpenRequest {
    pub shmid: u64,
    pub sharing: Sharing,
    /// "write alone means read/write".
    pub writable: bool,
}

impl OpenRequest {
    /// Checks `vm_open`'s arguments.
    ///
    /// # Errors
    /// `EINVAL` for flags that are not exactly one of `EXCLUSIVE` and
    /// `MULTISHARED`, a negative shmid, or permissions other than `READ`,
    /// `WRITE` or both.
    pub fn new(shmid: u64, flags: u64, perms: u64) -> Result<OpenRequest, Errno> {
        let sharing = Sharing::from_flags(flags).ok_or(EINVAL)?;
        check_shmid(shmid)?;
        if perms == 0 || perms & !(READ | WRITE) != 0 {
            return Err(EINVAL);
        }
        Ok(OpenRequest {
            shmid,
            sharing,
            writable: perms & WRITE != 0,
        })
    }
}

/// `EINVAL` for a negative shmid (the spec's ids are non-negative).
///
/// # Errors
/// `EINVAL`.
pub fn check_shmid(shmid: u64) -> Result<(), Errno> {
    if (shmid as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// A block the host handed out for one call, not mapped yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub shmid: u64,
    pub block: BlockInfo,
    pub frames: Vec<Frame>,
    /// Level 1: no process of this VM had the shmid open before this call
    /// (so giving it back closes it at the host).
    first_here: bool,
}

impl Granted {
    /// Pages the block spans.
    pub fn pages(&self) -> u64 {
        self.block.size / PAGE_SIZE
    }
}

/// What `vm_listen` got from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listened {
    /// No peer yet: the process blocks and asks again when woken.
    Wait,
    /// A peer of VM `peer` connected; the block is to be mapped.
    Paired { granted: Granted, peer: VmId },
}

/// What `vm_disconnect` did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disconnected {
    /// Both sides have closed.
    Done,
    /// The peer has not closed yet: the process blocks and asks again.
    Wait,
}

/// The client daemon of one VM.
#[derive(Clone, Debug)]
pub struct ClientDaemon {
    vm: VmId,
    link: Option<HostLink>,
    /// Collect the messages for `--trace-daemon`.
    trace: bool,
    log: Vec<String>,
    /// Level 1: shmid → process → its mappings (the per-process counts).
    opens: BTreeMap<u64, BTreeMap<Pid, Vec<Mapping>>>,
    /// Level 2: (process, shmid) → its mapping of the connected block.
    conns: BTreeMap<(Pid, u64), Mapping>,
    /// Level 2: sides that closed and wait for the peer.
    closing: BTreeSet<(Pid, u64)>,
    /// Processes that used level 2 (the host must hear of their exit).
    involved: BTreeSet<Pid>,
    ended: bool,
}

impl ClientDaemon {
    /// The client of VM `vm`, not linked to a host yet (its calls return
    /// `ENOSYS` until `link`).
    pub fn new(vm: u64) -> ClientDaemon {
        ClientDaemon {
            vm: VmId(vm),
            link: None,
            trace: false,
            log: Vec::new(),
            opens: BTreeMap::new(),
            conns: BTreeMap::new(),
            closing: BTreeSet::new(),
            involved: BTreeSet::new(),
            ended: false,
        }
    }

    /// Connects this client (of VM `vm`) to the host daemon; `trace`
    /// collects every message for `--trace-daemon` (`take_log`).
    pub fn link(&mut self, vm: u64, link: HostLink, trace: bool) {
        self.vm = VmId(vm);
        self.trace = trace;
        link.attach(self.vm);
        self.link = Some(link);
    }

    /// The host region's frames (empty until reserved, or without a host).
    pub fn region_frames(&self) -> Vec<Frame> {
        self.link
            .as_ref()
            .map_or_else(Vec::new, HostLink::region_frames)
    }

    /// Whether the host region has been reserved from the machine.
    pub fn region_reserved(&self) -> bool {
        self.link.as_ref().is_some_and(HostLink::region_reserved)
    }

    pub fn vm(&self) -> VmId {
        self.vm
    }

    /// Whether messages are collected for `--trace-daemon`.
    pub fn traced(&self) -> bool {
        self.trace
    }

    /// Takes the trace lines collected since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// Level 1: shmid → process → mappings.
    pub fn opens(&self) -> &BTreeMap<u64, BTreeMap<Pid, Vec<Mapping>>> {
        &self.opens
    }

    /// Level 2: (process, shmid) → mapping.
    pub fn connections(&self) -> &BTreeMap<(Pid, u64), Mapping> {
        &self.conns
    }

    /// Whether `pid` has anything to do with vmshm.
    pub fn is_user(&self, pid: Pid) -> bool {
        self.involved.contains(&pid) || self.opens.values().any(|m| m.contains_key(&pid))
    }

    fn send(&mut self, memory: &mut PhysMemory, request: HostRequest) -> Result<HostReply, Errno> {
        let link = self.link.as_ref().ok_or(ENOSYS)?;
        let (reply, lines) = link.call(memory, self.vm, request);
        if self.trace {
            self.log.extend(lines);
        }
        Ok(reply)
    }

    /// The frames of a block the host handed out, ready to map.
    fn grant(&self, shmid: u64, block: BlockInfo, first_here: bool) -> Granted {
        let frames = self
            .link
            .as_ref()
            .map_or_else(Vec::new, |link| link.frames(block));
        if frames.len() as u64 != block.size / PAGE_SIZE {
            panic!("ClientDaemon::grant: the host gave {block} without its frames");
        }
        Granted {
            shmid,
            block,
            frames,
            first_here,
        }
    }

    /// `vm_open`, first step: asks the host for the block of
    /// `request.shmid` (`size` 0: an existing block of any size).
    ///
    /// # Errors
    /// What the host answers (docs/spec/vmshm.md's table: `ENOENT`, `ENOSPC`,
    /// `EBUSY`, `EINVAL`, ...), `ENOSYS` without a host.
    pub fn open(
        &mut self,
        memory: &mut PhysMemory,
        request: OpenRequest,
        size: u64,
    ) -> Result<Granted, Errno> {
        let shmid = request.shmid;
        let first_here = self.opens.get(&shmid).is_none_or(BTreeMap::is_empty);
        let reply = self.send(
            memory,
            HostRequest::Open {
                shmid,
                size,
                sharing: request.sharing,
            },
        )?;
        match reply {
            HostReply::Opened(block) => Ok(self.grant(shmid, block, first_here)),
            HostReply::Error(e) => Err(e),
            other => unexpected("open", other),
        }
    }

    /// `vm_open`, second step: maps the block at `base` (a free range the
    /// kernel picked) into `page_table`, read-only or read/write, and
    /// counts `pid` as a process of the shmid.
    pub fn map_open(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        granted: &Granted,
        base: u64,
        writable: bool,
    ) -> Mapping {
        let mapping = map(memory, page_table, granted, base, writable);
        self.opens
            .entry(granted.shmid)
            .or_default()
            .entry(pid)
            .or_default()
            .push(mapping);
        mapping
    }

    /// `vm_open` could not map what `open` granted (no free range): if no
    /// process of this VM had the shmid open, it is closed at the host
    /// again, so that nothing changed.
    pub fn give_back(&mut self, memory: &mut PhysMemory, granted: &Granted) {
        if granted.first_here {
            // Only ENOSYS (no link) can fail, and then nothing was opened.
            let _ = self.send(
                memory,
                HostRequest::Close {
                    shmid: granted.shmid,
                },
            );
        }
    }

    /// `vm_close(shmid, base, size)` (level 1): unmaps that mapping; the
    /// last process of this VM tells the host.
    ///
    /// # Errors
    /// `EINVAL` when `pid` has no mapping of `shmid` at `base` of `size`
    /// bytes (rounded to pages).
    pub fn close(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        shmid: u64,
        base: u64,
        size: u64,
    ) -> Result<(), Errno> {
        let list = self
            .opens
            .get_mut(&shmid)
            .and_then(|m| m.get_mut(&pid))
            .ok_or(EINVAL)?;
        let at = list
            .iter()
            .position(|m| m.base == base && size.div_ceil(PAGE_SIZE) == m.pages)
            .ok_or(EINVAL)?;
        let mapping = list.remove(at);
        unmap(memory, page_table, &mapping);
        self.forget(memory, shmid, pid, false)
    }

    /// Drops `pid` from `shmid`'s processes if it has no mapping left
    /// (`all`: drop it anyway), and closes at the host when no process of
    /// this VM is left.
    fn forget(
        &mut self,
        memory: &mut PhysMemory,
        shmid: u64,
        pid: Pid,
        all: bool,
    ) -> Result<(), Errno> {
        let Some(processes) = self.opens.get_mut(&shmid) else {
            return Ok(());
        };
        if all || processes.get(&pid).is_some_and(Vec::is_empty) {
            processes.remove(&pid);
        }
        if processes.is_empty() {
            self.opens.remove(&shmid);
            match self.send(memory, HostRequest::Close { shmid })? {
                HostReply::Done => {}
                other => unexpected("close", other),
            }
        }
        Ok(())
    }

    /// `vm_listen(shmid)` (level 2), first step: asks the host whether a
    /// peer has connected (`size` bytes for a new listening side).
    ///
    /// # Errors
    /// What the host answers (`EADDRINUSE`, `ECONNRESET`, `ENOSPC`,
    /// `EINVAL`), `ENOSYS` without a host.
    pub fn listen(
        &mut self,
        memory: &mut PhysMemory,
        pid: Pid,
        shmid: u64,
        size: u64,
    ) -> Result<Listened, Errno> {
        self.involved.insert(pid);
        match self.send(memory, HostRequest::Listen { pid, shmid, size })? {
            HostReply::Wait => Ok(Listened::Wait),
            HostReply::Paired { block, peer } => Ok(Listened::Paired {
                granted: self.grant(shmid, block, false),
                peer,
            }),
            HostReply::Error(e) => Err(e),
            other => unexpected("listen", other),
        }
    }

    /// `vm_connect(vm_id, shmid)` (level 2), first step: pairs with the
    /// listener of VM `target` at once or fails.
    ///
    /// # Errors
    /// What the host answers (`EHOSTUNREACH`, `ECONNREFUSED`, `EISCONN`,
    /// `ENOSPC`, `EINVAL`), `ENOSYS` without a host.
    pub fn connect(
        &mut self,
        memory: &mut PhysMemory,
        pid: Pid,
        target: u64,
        shmid: u64,
        size: u64,
    ) -> Result<Granted, Errno> {
        self.involved.insert(pid);
        let request = HostRequest::Connect {
            pid,
            target,
            shmid,
            size,
        };
        match self.send(memory, request)? {
            HostReply::Connected(block) => Ok(self.grant(shmid, block, false)),
            HostReply::Error(e) => Err(e),
            other => unexpected("connect", other),
        }
    }

    /// Level 2, second step: maps the connected block read/write at `base`
    /// (a free range the kernel picked).
    pub fn map_connection(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        granted: &Granted,
        base: u64,
    ) -> Mapping {
        let mapping = map(memory, page_table, granted, base, true);
        self.conns.insert((pid, granted.shmid), mapping);
        mapping
    }

    /// Level 2: the kernel found no free range for a connected block: the
    /// side is given up at the host (`Reset`), whose peer sees the reset.
    pub fn give_up(&mut self, memory: &mut PhysMemory, pid: Pid, shmid: u64) {
        // Only ENOSYS (no link) can fail, and then nothing was connected.
        let _ = self.send(memory, HostRequest::Reset { pid, shmid });
    }

    /// `vm_disconnect(shmid)` (level 2): unmaps at once, then waits for the
    /// peer's close unless it already closed.
    ///
    /// # Errors
    /// `EINVAL` when `pid` has no side of `shmid`; `ECONNRESET` when the
    /// peer went away while we waited.
    pub fn disconnect(
        &mut self,
        memory: &mut PhysMemory,
        page_table: &mut PageTable,
        pid: Pid,
        shmid: u64,
    ) -> Result<Disconnected, Errno> {
        let key = (pid, shmid);
        if let Some(mapping) = self.conns.remove(&key) {
            // A closing side no longer maps the block (spec: "both sides
            // then unmap"); unmapping first lets the host free it as soon
            // as the second side closes.
            unmap(memory, page_table, &mapping);
            self.closing.insert(key);
        } else if !self.closing.contains(&key) {
            return Err(EINVAL);
        }
        match self.send(memory, HostRequest::Disconnect { pid, shmid })? {
            HostReply::Wait => Ok(Disconnected::Wait),
            HostReply::Done => {
                self.closing.remove(&key);
                Ok(Disconnected::Done)
            }
            HostReply::Error(e) => {
                self.closing.remove(&key);
                Err(e)
            }
            other => unexpected("disconnect", other),
        }
    }

    /// Process exit: unmaps every block `pid` has (call it before the
    /// kernel frees the page table's frames: the frames are the host's),
    /// closes at the host what no process of this VM has open any more,
    /// and tells the host the process is gone (its peers are reset).
    pub fn exit(&mut self, memory: &mut PhysMemory, pid: Pid, page_table: &mut PageTable) {
        let shmids: Vec<u64> = self
            .opens
            .iter()
            .filter(|(_, m)| m.contains_key(&pid))
            .map(|(id, _)| *id)
            .collect();
        for shmid in shmids {
            for mapping in self
                .opens
                .get(&shmid)
                .and_then(|m| m.get(&pid))
                .cloned()
                .unwrap_or_default()
            {
                unmap(memory, page_table, &mapping);
            }
            // Only ENOSYS (no link) can fail here, and then there is
            // nothing at a host to close.
            let _ = self.forget(memory, shmid, pid, true);
        }
        let sides: Vec<(Pid, u64)> = self.conns.keys().filter(|k| k.0 == pid).copied().collect();
        for key in sides {
            if let Some(mapping) = self.conns.remove(&key) {
                unmap(memory, page_table, &mapping);
            }
        }
        self.closing.retain(|k| k.0 != pid);
        if self.involved.remove(&pid) {
            let _ = self.send(memory, HostRequest::ProcessExited { pid });
        }
    }

    /// The last process of the VM ended: the host drops the VM.
    pub fn vm_ended(&mut self, memory: &mut PhysMemory) {
        if !self.ended && self.link.is_some() {
            self.ended = true;
            let _ = self.send(memory, HostRequest::VmEnded);
        }
    }

    /// Fork: the child shares the parent's level-1 mappings (docs/spec/abi.md:
    /// "shared-memory mappings stay shared") and counts as a process of
    /// those shmids. Level-2 sides belong to one process: the child gets a
    /// private copy of those pages, like of any other page.
    pub fn fork(&mut self, parent: Pid, child: Pid) {
        for processes in self.opens.values_mut() {
            if let Some(mappings) = processes.get(&parent).cloned() {
                processes.insert(child, mappings);
            }
        }
    }

    /// The level-1 pages of `pid` (fork shares these).
    pub fn shared_pages(&self, pid: Pid) -> BTreeSet<VirtPage> {
        self.opens
            .values()
            .filter_map(|m| m.get(&pid))
            .flatten()
            .flat_map(Mapping::pages)
            .collect()
    }

    /// Whether `page` of `pid` maps a block, at level 1 or 2.
    pub fn maps(&self, pid: Pid, page: VirtPage) -> bool {
        let vaddr = page.address();
        self.mappings_of(pid).any(|m| m.contains(vaddr))
    }

    /// Every mapping of a block `pid` has, at level 1 and 2.
    pub fn mappings_of(&self, pid: Pid) -> impl Iterator<Item = &Mapping> {
        self.opens
            .values()
            .filter_map(move |m| m.get(&pid))
            .flatten()
            .chain(
                self.conns
                    .iter()
                    .filter(move |((p, _), _)| *p == pid)
                    .map(|(_, m)| m),
            )
    }

    /// Whether `vaddr` lies in a read-only vmshm mapping of `pid` (for the
    /// page-fault kill message).
    pub fn is_read_only(&self, pid: Pid, vaddr: u64) -> bool {
        self.opens
            .values()
            .filter_map(|m| m.get(&pid))
            .flatten()
            .any(|m| m.contains(vaddr) && !m.writable)
    }
}

/// Maps `granted`'s frames at `base`, one frame reference per mapping
/// (emu/memory.rs), so that the kernel's accounting sees who holds each
/// frame; the host keeps its own reference, so the frames never return to
/// the pool through a process.
fn map(
    memory: &mut PhysMemory,
    page_table: &mut PageTable,
    granted: &Granted,
    base: u64,
    writable: bool,
) -> Mapping {
    debug_assert!(granted.frames.iter().all(|&f| memory.is_allocated(f)));
    let flags = if writable {
        PteFlags::USER_RW
    } else {
        PteFlags::USER_R
    };
    for &frame in &granted.frames {
        memory.share(frame);
    }
    page_table.map_run(VirtPage::containing(base), &granted.frames, flags);
    Mapping {
        base,
        pages: granted.pages(),
        writable,
        offset: granted.block.offset,
    }
}

/// Unmaps a mapping and drops its references to the host's frames.
fn unmap(memory: &mut PhysMemory, page_table: &mut PageTable, mapping: &Mapping) {
    let first = VirtPage::containing(mapping.base);
    for pte in page_table.unmap_run(first, mapping.pages) {
        memory.free(pte.frame);
    }
}

/// A reply the protocol does not allow for this request: a daemon bug.
fn unexpected(call: &str, reply: HostReply) -> ! {
    panic!("ClientDaemon::{call}: the host replied {reply}")
}

//! The client daemon: one per VM's kernel. It turns a process's vm_*
//! syscall into a request to the host daemon, maps the block the host
//! hands back into the process, and counts which processes of its VM have
//! which shmid open (spec/vmshm.md).
//!
//! How control flows:
//!
//! ```text
//! kernel/syscall.rs  sys_vm_open(..) ─► ClientDaemon::open(machine, process, ..)
//!   check flags/perms/shmid (EINVAL), read *size and probe *base/*size
//!   through kernel/uaccess.rs (EFAULT)   ── nothing has changed yet
//!   HostLink::call(Open) ─► host.rs ─► Opened(offset, size) | Error(errno)
//!   pick a free range (the shm window), map the block's frames R or RW,
//!   write *base, *size                   ── Ok(Done::Value(0))
//! listen/disconnect may get `Wait`       ── Ok(Done::Block(VmWait::..)):
//!   the process blocks and repeats its ecall when the host's Notice wakes
//!   it (Kernel::vmshm_notice); the repeated call asks the host again.
//! kernel exit  ─► ClientDaemon::exit: unmap everything the process had,
//!   Close what no process of this VM has open any more, ProcessExited
//! last process of the VM ended ─► VmEnded
//! ```
//!
//! The client keeps only what its VM knows: per shmid the processes and
//! their mappings. The host keeps the blocks and the VMs.

use std::collections::{BTreeMap, BTreeSet};

use super::link::HostLink;
use super::messages::*;
use crate::abi::{EINVAL, ENOMEM, ENOSYS};
use crate::emu::{Machine, PageTable, PteFlags, VirtPage, PAGE_SIZE};
use crate::kernel::uaccess::{read_u64, write_u64};
use crate::kernel::{Pid, Process};

/// A positive errno of spec/abi.md.
pub type Errno = u64;

/// What a blocked vm_* call waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VmWait {
    /// `vm_listen(shmid)`: a connect.
    Listen(u64),
    /// `vm_disconnect(shmid)`: the peer's close.
    Disconnect(u64),
}

/// A call that did not fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Done {
    /// Return this in `a0`.
    Value(u64),
    /// Block; the process repeats its `ecall` when woken.
    Block(VmWait),
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
    fn contains(&self, vaddr: u64) -> bool {
        vaddr >= self.base && vaddr - self.base < self.pages * PAGE_SIZE
    }

    fn pages(&self) -> impl Iterator<Item = VirtPage> {
        let first = VirtPage::containing(self.base).0;
        (first..first + self.pages).map(VirtPage)
    }
}

/// The client daemon of one VM.
#[derive(Clone, Debug)]
pub struct ClientDaemon {
    vm: VmId,
    link: Option<HostLink>,
    /// Collect the messages for `--trace-daemon`.
    pub trace: bool,
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

    /// Connects this client (of VM `vm`) to the host daemon.
    pub fn link(&mut self, vm: u64, link: HostLink) {
        self.vm = VmId(vm);
        link.attach(self.vm);
        self.link = Some(link);
    }

    /// Whether the host region has been reserved from the machine.
    pub fn region_reserved(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.with(|h| !h.frames().is_empty()))
    }

    /// The host link, if any.
    pub fn host(&self) -> Option<&HostLink> {
        self.link.as_ref()
    }

    pub fn vm(&self) -> VmId {
        self.vm
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

    fn send(&mut self, machine: &mut Machine, request: HostRequest) -> Result<HostReply, Errno> {
        let link = self.link.as_ref().ok_or(ENOSYS)?;
        let (reply, lines) = link.call(machine.memory_mut(), self.vm, request);
        if self.trace {
            self.log.extend(lines);
        }
        Ok(reply)
    }

    /// `vm_open(shmid, &base, &size, flags, perms)` (level 1).
    ///
    /// # Errors
    /// spec/vmshm.md's table: `EINVAL`, `EFAULT`, and what the host
    /// answers (`ENOENT`, `ENOSPC`, `EBUSY`, ...); `ENOMEM` when the process
    /// has no free range for the block.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
        flags: u64,
        perms: u64,
    ) -> Result<Done, Errno> {
        let sharing = Sharing::from_flags(flags).ok_or(EINVAL)?;
        if (shmid as i64) < 0 || perms == 0 || perms & !(READ | WRITE) != 0 {
            return Err(EINVAL);
        }
        // "write alone means read/write".
        let writable = perms & WRITE != 0;
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let had = self.opens.get(&shmid).is_some_and(|m| !m.is_empty());
        let block = match self.send(
            machine,
            HostRequest::Open {
                shmid,
                size,
                sharing,
            },
        )? {
            HostReply::Opened(block) => block,
            HostReply::Error(e) => return Err(e),
            other => unexpected("open", other),
        };
        let Some(mapping) = self.map(machine, process, block, writable) else {
            if !had {
                self.send(machine, HostRequest::Close { shmid })?;
            }
            return Err(ENOMEM);
        };
        finish(
            machine,
            process,
            base_ptr,
            size_ptr,
            mapping.base,
            block.size,
        );
        self.opens
            .entry(shmid)
            .or_default()
            .entry(process.pid)
            .or_default()
            .push(mapping);
        Ok(Done::Value(0))
    }

    /// `vm_close(shmid, base, size)` (level 1): unmaps that mapping; the
    /// last process of this VM tells the host.
    ///
    /// # Errors
    /// `EINVAL` when the caller has no mapping of `shmid` at `base` of
    /// `size` bytes (rounded to pages).
    pub fn close(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        shmid: u64,
        base: u64,
        size: u64,
    ) -> Result<Done, Errno> {
        let pid = process.pid;
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
        unmap(machine, &mut process.page_table, &mapping);
        self.forget(machine, shmid, pid, false)?;
        Ok(Done::Value(0))
    }

    /// Drops `pid` from `shmid`'s processes if it has no mapping left
    /// (`all`: drop it anyway), and closes at the host when no process of
    /// this VM is left.
    fn forget(
        &mut self,
        machine: &mut Machine,
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
            match self.send(machine, HostRequest::Close { shmid })? {
                HostReply::Done => {}
                other => unexpected("close", other),
            }
        }
        Ok(())
    }

    /// `vm_listen(shmid, &base, &size)` (level 2): blocks until a peer
    /// connects; then maps the block and returns the peer's VM id.
    ///
    /// # Errors
    /// `EINVAL`, `EFAULT`, what the host answers (`EADDRINUSE`,
    /// `ECONNRESET`, `ENOSPC`), `ENOMEM`.
    pub fn listen(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
    ) -> Result<Done, Errno> {
        if (shmid as i64) < 0 {
            return Err(EINVAL);
        }
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let pid = process.pid;
        self.involved.insert(pid);
        let (block, peer) = match self.send(machine, HostRequest::Listen { pid, shmid, size })? {
            HostReply::Wait => return Ok(Done::Block(VmWait::Listen(shmid))),
            HostReply::Paired { block, peer } => (block, peer),
            HostReply::Error(e) => return Err(e),
            other => unexpected("listen", other),
        };
        self.connected(machine, process, shmid, block, base_ptr, size_ptr)?;
        Ok(Done::Value(peer.0))
    }

    /// `vm_connect(vm_id, shmid, &base, &size)` (level 2): pairs with the
    /// listener at once or fails.
    ///
    /// # Errors
    /// `EINVAL`, `EFAULT`, what the host answers (`EHOSTUNREACH`,
    /// `ECONNREFUSED`, `EISCONN`, `ENOSPC`), `ENOMEM`.
    pub fn connect(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        target: u64,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
    ) -> Result<Done, Errno> {
        if (shmid as i64) < 0 {
            return Err(EINVAL);
        }
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let pid = process.pid;
        self.involved.insert(pid);
        let request = HostRequest::Connect {
            pid,
            target,
            shmid,
            size,
        };
        let block = match self.send(machine, request)? {
            HostReply::Connected(block) => block,
            HostReply::Error(e) => return Err(e),
            other => unexpected("connect", other),
        };
        self.connected(machine, process, shmid, block, base_ptr, size_ptr)?;
        Ok(Done::Value(0))
    }

    /// Maps a connected block read/write and writes `*base`, `*size`; if no
    /// range is free, gives the side up at the host (`Reset`).
    fn connected(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        shmid: u64,
        block: BlockInfo,
        base_ptr: u64,
        size_ptr: u64,
    ) -> Result<(), Errno> {
        let pid = process.pid;
        let Some(mapping) = self.map(machine, process, block, true) else {
            self.send(machine, HostRequest::Reset { pid, shmid })?;
            return Err(ENOMEM);
        };
        finish(
            machine,
            process,
            base_ptr,
            size_ptr,
            mapping.base,
            block.size,
        );
        self.conns.insert((pid, shmid), mapping);
        Ok(())
    }

    /// `vm_disconnect(shmid)` (level 2): unmaps at once, then waits for the
    /// peer's close unless it already closed.
    ///
    /// # Errors
    /// `EINVAL` when the caller has no side of `shmid`; `ECONNRESET` when
    /// the peer went away while we waited.
    pub fn disconnect(
        &mut self,
        machine: &mut Machine,
        process: &mut Process,
        shmid: u64,
    ) -> Result<Done, Errno> {
        let key = (process.pid, shmid);
        if let Some(mapping) = self.conns.remove(&key) {
            // A closing side no longer maps the block (spec: "both sides
            // then unmap"); unmapping first lets the host free it as soon
            // as the second side closes.
            unmap(machine, &mut process.page_table, &mapping);
            self.closing.insert(key);
        } else if !self.closing.contains(&key) {
            return Err(EINVAL);
        }
        let request = HostRequest::Disconnect {
            pid: process.pid,
            shmid,
        };
        match self.send(machine, request)? {
            HostReply::Wait => Ok(Done::Block(VmWait::Disconnect(shmid))),
            HostReply::Done => {
                self.closing.remove(&key);
                Ok(Done::Value(0))
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
    pub fn exit(&mut self, machine: &mut Machine, pid: Pid, page_table: &mut PageTable) {
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
                unmap(machine, page_table, &mapping);
            }
            // Only ENOSYS (no link) can fail here, and then there is
            // nothing at a host to close.
            let _ = self.forget(machine, shmid, pid, true);
        }
        let sides: Vec<(Pid, u64)> = self.conns.keys().filter(|k| k.0 == pid).copied().collect();
        for key in sides {
            if let Some(mapping) = self.conns.remove(&key) {
                unmap(machine, page_table, &mapping);
            }
        }
        self.closing.retain(|k| k.0 != pid);
        if self.involved.remove(&pid) {
            let _ = self.send(machine, HostRequest::ProcessExited { pid });
        }
    }

    /// The last process of the VM ended: the host drops the VM.
    pub fn vm_ended(&mut self, machine: &mut Machine) {
        if !self.ended && self.link.is_some() {
            self.ended = true;
            let _ = self.send(machine, HostRequest::VmEnded);
        }
    }

    /// Fork: the child shares the parent's level-1 mappings (spec/abi.md:
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

    /// Whether `vaddr` lies in a read-only vmshm mapping of `pid` (for the
    /// page-fault kill message).
    pub fn is_read_only(&self, pid: Pid, vaddr: u64) -> bool {
        self.opens
            .values()
            .filter_map(|m| m.get(&pid))
            .flatten()
            .any(|m| m.contains(vaddr) && !m.writable)
    }

    /// Maps `block` into `process` at a free range of the shm window
    /// (kernel/layout.rs), or `None` when there is no such range.
    fn map(
        &self,
        machine: &mut Machine,
        process: &mut Process,
        block: BlockInfo,
        writable: bool,
    ) -> Option<Mapping> {
        let link = self.link.as_ref()?;
        let pages = block.size / PAGE_SIZE;
        let base = crate::shm::table::find_free_range(process, pages)?;
        let frames = link.frames(block);
        if frames.len() as u64 != pages {
            panic!("ClientDaemon::map: the host gave {block} without frames");
        }
        debug_assert!(frames.iter().all(|&f| machine.memory().is_allocated(f)));
        let flags = if writable {
            PteFlags::USER_RW
        } else {
            PteFlags::USER_R
        };
        let first = VirtPage::containing(base).0;
        for (i, frame) in frames.into_iter().enumerate() {
            // One reference per mapping (emu/memory.rs), so that the
            // kernel's accounting sees who holds the frame.
            machine.memory_mut().share(frame);
            if let Some(old) = process
                .page_table
                .map(VirtPage(first + i as u64), frame, flags)
            {
                panic!("ClientDaemon::map: a free range mapped frame {}", old.frame);
            }
        }
        process.stats.peak_pages = process
            .stats
            .peak_pages
            .max(process.page_table.len() as u64);
        Some(Mapping {
            base,
            pages,
            writable,
            offset: block.offset,
        })
    }
}

/// Reads `*size` and checks that `*base` and `*size` can be written,
/// without changing them (each is written back with the value it has), so
/// that a bad pointer is `EFAULT` before anything else happened.
fn probe(
    machine: &mut Machine,
    process: &mut Process,
    base_ptr: u64,
    size_ptr: u64,
) -> Result<u64, Errno> {
    let size = read_u64(machine, process, size_ptr)?;
    let base = read_u64(machine, process, base_ptr)?;
    write_u64(machine, process, base_ptr, base)?;
    write_u64(machine, process, size_ptr, size)?;
    Ok(size)
}

/// Writes `*base` and `*size` after a successful call. Both were probed
/// and nothing unmapped them since.
fn finish(
    machine: &mut Machine,
    process: &mut Process,
    base_ptr: u64,
    size_ptr: u64,
    base: u64,
    size: u64,
) {
    let wrote = write_u64(machine, process, base_ptr, base)
        .and_then(|()| write_u64(machine, process, size_ptr, size));
    // `probe` made sure both words are writable; nothing unmapped them.
    debug_assert_eq!(wrote, Ok(()), "finish: probed pointers became bad");
}

/// Unmaps a mapping and drops its references to the host's frames (the
/// host daemon keeps its own, so the frames never return to the pool).
fn unmap(machine: &mut Machine, page_table: &mut PageTable, mapping: &Mapping) {
    for page in mapping.pages() {
        if let Some(pte) = page_table.unmap(page) {
            machine.memory_mut().free(pte.frame);
        }
    }
}

/// A reply the protocol does not allow for this request: a daemon bug.
fn unexpected(call: &str, reply: HostReply) -> ! {
    panic!("ClientDaemon::{call}: the host replied {reply}")
}

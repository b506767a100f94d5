//! Inter-VM shared memory calls (docs/spec/vmshm.md, 510–515): the guest's
//! `*base`/`*size` words are read, probed and written here, the address of
//! a block picked here (kernel/paging.rs); the client daemon (src/vmshm/)
//! talks to the host daemon and maps what it hands out.
//!
//! A call that must wait (a listen without a peer, a disconnect before the
//! peer's) blocks only the calling process, which repeats its `ecall`
//! when the host daemon's notice wakes it (`Kernel::vmshm_notice`).

use super::{Ret, SysResult};
use crate::abi::{Errno, ENOMEM, ESRCH};
use crate::emu::Machine;
use crate::kernel::paging;
use crate::kernel::process::{Pid, Process, WaitReason};
use crate::kernel::uaccess::{read_u64, write_u64};
use crate::kernel::Kernel;
use crate::vmshm::{check_shmid, Disconnected, Granted, Listened, OpenRequest, VmWait};

impl Kernel {
    /// vm_open(shmid, base*, size*, flags, perms) → 0 (level 1): opens the
    /// block (creating it with `*size` bytes) and maps it; `*base` and
    /// `*size` tell where and how large.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sys_vm_open(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
        flags: u64,
        perms: u64,
    ) -> SysResult {
        let request = OpenRequest::new(shmid, flags, perms)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let memory = machine.memory_mut();
        let vmshm = &mut self.shared.vmshm;
        let granted = vmshm.open(memory, request, size)?;
        let Some(base) = paging::find_free_range(process, granted.pages()) else {
            vmshm.give_back(memory, &granted);
            return Err(ENOMEM);
        };
        let page_table = &mut process.page_table;
        vmshm.map_open(memory, page_table, pid, &granted, base, request.writable);
        self.mapped(machine, pid, base_ptr, size_ptr, base, granted.block.size)?;
        Ok(Ret::Value(0))
    }

    /// vm_close(shmid, base, size) → 0 (level 1): unmaps that mapping.
    pub(super) fn sys_vm_close(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        shmid: u64,
        base: u64,
        size: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let page_table = &mut process.page_table;
        self.shared
            .vmshm
            .close(machine.memory_mut(), page_table, pid, shmid, base, size)?;
        self.shared.note_vmshm_changed();
        Ok(Ret::Value(0))
    }

    /// vm_listen(shmid, base*, size*) → the peer's VM id (level 2): waits
    /// for a connect, then maps the block.
    pub(super) fn sys_vm_listen(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
    ) -> SysResult {
        check_shmid(shmid)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let memory = machine.memory_mut();
        match self.shared.vmshm.listen(memory, pid, shmid, size)? {
            Listened::Wait => Ok(Ret::Block(WaitReason::VmShm(VmWait::Listen(shmid)))),
            Listened::Paired { granted, peer } => {
                self.map_connection(machine, pid, &granted, base_ptr, size_ptr)?;
                Ok(Ret::Value(peer.0))
            }
        }
    }

    /// vm_connect(vm_id, shmid, base*, size*) → 0 (level 2): pairs with
    /// the listener of VM `vm_id` at once or fails.
    pub(super) fn sys_vm_connect(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        shmid: u64,
        base_ptr: u64,
        size_ptr: u64,
    ) -> SysResult {
        check_shmid(shmid)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let size = probe(machine, process, base_ptr, size_ptr)?;
        let memory = machine.memory_mut();
        let granted = self
            .shared
            .vmshm
            .connect(memory, pid, target, shmid, size)?;
        self.map_connection(machine, pid, &granted, base_ptr, size_ptr)?;
        Ok(Ret::Value(0))
    }

    /// vm_disconnect(shmid) → 0 (level 2): unmaps at once, then waits for
    /// the peer's close.
    pub(super) fn sys_vm_disconnect(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        shmid: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let page_table = &mut process.page_table;
        let memory = machine.memory_mut();
        match self
            .shared
            .vmshm
            .disconnect(memory, page_table, pid, shmid)?
        {
            Disconnected::Done => {
                self.shared.note_vmshm_changed();
                Ok(Ret::Value(0))
            }
            Disconnected::Wait => Ok(Ret::Block(WaitReason::VmShm(VmWait::Disconnect(shmid)))),
        }
    }

    /// vm_id() → this VM's id.
    pub(super) fn sys_vm_id(&mut self) -> SysResult {
        Ok(Ret::Value(self.id))
    }

    /// Level 2: maps a connected block read/write at a free range and
    /// writes `*base`, `*size`; with no free range the side is given up
    /// at the host (ENOMEM).
    fn map_connection(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        granted: &Granted,
        base_ptr: u64,
        size_ptr: u64,
    ) -> Result<(), Errno> {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let memory = machine.memory_mut();
        let vmshm = &mut self.shared.vmshm;
        let Some(base) = paging::find_free_range(process, granted.pages()) else {
            vmshm.give_up(memory, pid, granted.shmid);
            return Err(ENOMEM);
        };
        vmshm.map_connection(memory, &mut process.page_table, pid, granted, base);
        self.mapped(machine, pid, base_ptr, size_ptr, base, granted.block.size)
    }

    /// A block is mapped: `*base` and `*size` say where and how large.
    fn mapped(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        base_ptr: u64,
        size_ptr: u64,
        base: u64,
        size: u64,
    ) -> Result<(), Errno> {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.note_peak_pages();
        let wrote = write_u64(machine, process, base_ptr, base)
            .and_then(|()| write_u64(machine, process, size_ptr, size));
        // `probe` made sure both words are writable; nothing unmapped them.
        debug_assert_eq!(wrote, Ok(()), "mapped: probed pointers became bad");
        self.shared.note_vmshm_changed();
        Ok(())
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

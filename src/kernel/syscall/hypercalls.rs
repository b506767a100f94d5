//! Hypercalls (docs/spec/hypervisor.md, 400–413): the calls a guest kernel (a
//! kernel-mode context, `-k`) makes to create, run and inspect its
//! children. The hypervisor (src/hypervisor/) decides who handles an
//! exception; these are the host's handlers, one `sys_hv_<name>` each, in
//! the same dispatch and trace as every other call.
//!
//! Only kernel-mode contexts get here (rule U/K-3: the dispatcher kills a
//! user context that tries). Every id a guest kernel passes is an
//! allegation: `child_of` checks that it names one of the caller's own
//! children (rule U/K-4) before anything touches it, and a bad id,
//! register number or pointer is an error in `a0`.
//!
//! The guest-kernel API proper — `hv_read`/`hv_write` (a child's memory),
//! `hv_mappings`/`hv_protect` (its page table) and `hv_paging` (who backs
//! its page faults) — lets a guest kernel do a kernel's work itself instead
//! of forwarding it to the host. None of them backs a child's page on
//! demand: a guest kernel sees and changes exactly what is mapped.
//!
//! `hv_switch` is the one call that does not return at once
//! (`Ret::Switched`): the caller stays at its `ecall` with `switched_to`
//! set; its `a0` and pc are set when the child's next exception is
//! delivered to it (hypervisor/contexts.rs).

use super::{Ret, SysResult};
use crate::abi::layout::{USER_END, USER_START};
use crate::abi::*;
use crate::emu::{Access, Exception, Machine, PteFlags, Reg, VirtPage, PAGE_SIZE};
use crate::kernel::paging;
use crate::kernel::process::{ExitStatus, Mode, Pid, Process};
use crate::kernel::uaccess;
use crate::kernel::Kernel;

/// Most children one `hv_children` call reports.
const MAX_CHILDREN: u64 = 4096;

impl Kernel {
    /// The caller's child `id`, live or ended (rule U/K-4: a kernel may act
    /// only on its own children).
    fn child_of(&self, caller: Pid, id: u64) -> Result<Pid, Errno> {
        // BEGIN SOLUTION uk-rules
        match self.processes.get(Pid(id)) {
            Some(child) if child.supervisor == Some(caller) => Ok(child.pid),
            _ => Err(ECHILD),
        }
        // STUB
        // // Rule U/K-4: which contexts may `caller` act on?
        // let _ = caller;
        // self.processes.get(Pid(id)).map(|c| c.pid).ok_or(ECHILD)
        // END SOLUTION uk-rules
    }

    /// The caller's child `id`, which must not have ended.
    fn live_child_of(&self, caller: Pid, id: u64) -> Result<Pid, Errno> {
        let pid = self.child_of(caller, id)?;
        if self.processes.get(pid).is_some_and(Process::is_zombie) {
            return Err(ESRCH);
        }
        Ok(pid)
    }

    /// hv_create() → id: a new user-mode child with an empty address space,
    /// all registers 0. Its kernel fills it with `hv_map` and `hv_set_reg`.
    /// `EAGAIN` when the caller has `--max-contexts` children already, or
    /// the kernel `--max-processes` processes (limits.rs).
    pub(super) fn sys_hv_create(&mut self, caller: Pid) -> SysResult {
        if self.processes.len() >= self.limits.processes {
            let limit = self.limits.processes as u64;
            self.report_limit(caller, "hv_create", "--max-processes", limit);
            return Err(EAGAIN);
        }
        if self.contexts_of(caller) >= self.limits.contexts_per_kernel {
            let limit = self.limits.contexts_per_kernel as u64;
            self.report_limit(caller, "hv_create", "--max-contexts", limit);
            return Err(EAGAIN);
        }
        let name = self
            .processes
            .get(caller)
            .map_or_else(String::new, |p| format!("{}:child", p.name));
        let pid = self.new_pid();
        let child = self.new_process(pid, name, Mode::User, Some(caller));
        self.processes.insert(child);
        Ok(Ret::Value(pid.0))
    }

    /// hv_switch(id): runs the child until its next exception; `hv_switch`
    /// then returns the child's id (hypervisor/contexts.rs). Any id that is
    /// not a live child of the caller is refused and nothing runs (rule
    /// U/K-4).
    pub(super) fn sys_hv_switch(&mut self, caller: Pid, id: u64) -> SysResult {
        let child = match self.live_child_of(caller, id) {
            Ok(child) => child,
            Err(e) => {
                let name = self
                    .processes
                    .get(caller)
                    .map_or_else(String::new, |p| p.name.clone());
                self.report(&format!(
                    "rule U/K-4 (docs/spec/hypervisor.md): kernel {caller} ({name}) may not switch to {id}: {}",
                    if e == ECHILD {
                        "not its child"
                    } else {
                        "the child has ended"
                    }
                ));
                return Err(e);
            }
        };
        if let Some(c) = self.processes.get_mut(child) {
            c.pending = None;
        }
        if let Some(k) = self.processes.get_mut(caller) {
            k.switched_to = Some(child);
        }
        Ok(Ret::Switched(child))
    }

    /// hv_status(id) → the `HV_STATUS_*` code of the child's pending
    /// exception (`HV_STATUS_EXITED` once it ended).
    pub(super) fn sys_hv_status(&mut self, caller: Pid, id: u64) -> SysResult {
        let child = self.child_of(caller, id)?;
        let child = self.processes.get(child).ok_or(ECHILD)?;
        if child.is_zombie() {
            return Ok(Ret::Value(HV_STATUS_EXITED));
        }
        Ok(Ret::Value(match child.pending {
            None => HV_STATUS_NONE,
            Some(Exception::Syscall) => HV_STATUS_SYSCALL,
            Some(Exception::PageFault { .. }) => HV_STATUS_PAGE_FAULT,
            Some(Exception::IllegalInstruction { .. }) => HV_STATUS_ILLEGAL,
            Some(Exception::Timer) => HV_STATUS_TIMER,
            Some(Exception::Breakpoint { .. }) => HV_STATUS_BREAKPOINT,
            Some(Exception::Misaligned { .. }) => HV_STATUS_MISALIGNED,
            Some(Exception::PrivilegeViolation { .. }) => HV_STATUS_PRIVILEGE,
            Some(Exception::DivisionByZero { .. }) => HV_STATUS_DIVISION_BY_ZERO,
        }))
    }

    /// hv_forward(id) → 0: the host handles the child's pending exception
    /// as if the child were its own process — a syscall runs the host's
    /// `sys_<name>` on the child (a call that would block returns `EAGAIN`
    /// and leaves the child at its `ecall`, to retry when switched to
    /// again), a page fault on its stack, heap or bss is backed on demand,
    /// anything else kills the child with the host's message.
    pub(super) fn sys_hv_forward(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
    ) -> SysResult {
        let child = self.live_child_of(caller, id)?;
        let exception = self
            .processes
            .get_mut(child)
            .and_then(|c| c.pending.take())
            .ok_or(EINVAL)?;
        let guest_paging = self.processes.get(caller).is_some_and(|k| k.guest_paging);
        match exception {
            Exception::Syscall => self.forward_syscall(machine, child),
            Exception::Timer => Ok(Ret::Value(0)),
            Exception::PageFault { vaddr, access } if guest_paging => {
                // Guest paging: the host backs nothing for this kernel's
                // children; a fault it forwards is an access to an
                // unmapped page, as a Linux SIGSEGV.
                let why = format!(
                    "page fault: {access} at address {vaddr:#x} not mapped by its guest kernel \
                     {caller} (guest paging, docs/spec/hypervisor.md hv_paging: the host backs no page)"
                );
                self.kill(machine, child, 11, &why);
                Ok(Ret::Value(0))
            }
            other => {
                // Not the child's root: Kernel::handle does not schedule it.
                let _ = self.handle(machine, child, other);
                Ok(Ret::Value(0))
            }
        }
    }

    /// hv_map(id, page_vaddr, own_vaddr, perms) → 0: maps the child's page
    /// at `page_vaddr` to the frame behind the caller's page at
    /// `own_vaddr` (backed on demand if the caller has not touched it yet),
    /// with `perms` (`HV_PROT_*`). Both addresses must be page-aligned, the
    /// child's page unmapped (`EEXIST`), and a writable mapping needs a
    /// writable own page (`EACCES`): a kernel cannot give away more than it
    /// has.
    ///
    /// Only private pages can be given: a page of a named-shm object (or
    /// an rshm segment's local copy) or of an inter-VM block is refused
    /// with `EPERM`. Such a frame belongs to its object or block, which
    /// records every process that maps it and hands it on when the last
    /// one leaves; a mapping outside those records would keep a frame that
    /// is reused for another object, block or VM (docs/RELIABILITY.md,
    /// "Frame ownership").
    pub(super) fn sys_hv_map(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
        page_vaddr: u64,
        own_vaddr: u64,
        perms: u64,
    ) -> SysResult {
        let child = self.live_child_of(caller, id)?;
        if !page_vaddr.is_multiple_of(PAGE_SIZE)
            || !own_vaddr.is_multiple_of(PAGE_SIZE)
            || perms == 0
            || perms & !(HV_PROT_READ | HV_PROT_WRITE | HV_PROT_EXEC) != 0
        {
            return Err(EINVAL);
        }
        // The child's page must be a user page (abi/layout.rs).
        if !(USER_START..USER_END).contains(&page_vaddr) {
            return Err(EINVAL);
        }
        let page = VirtPage::containing(page_vaddr);
        let c = self.processes.get(child).ok_or(ESRCH)?;
        if c.page_table.get(page).is_some() {
            return Err(EEXIST);
        }
        if !paging::has_room(c, 1) {
            return Err(ENOMEM);
        }
        let own_page = VirtPage::containing(own_vaddr);
        if let Some(what) = self.shared.sharing_at(caller, own_page) {
            let name = self
                .processes
                .get(caller)
                .map_or_else(String::new, |p| p.name.clone());
            self.report(&format!(
                "kernel {caller} ({name}): hv_map of its page {own_vaddr:#x} into {child} refused: \
                 the page maps {what}, which only its own processes may map"
            ));
            return Err(EPERM);
        }
        let own = self.processes.get_mut(caller).ok_or(ESRCH)?;
        if own.page_table.get(own_page).is_none() {
            paging::back_on_demand(machine, own, own_vaddr).map_err(|_| EFAULT)?;
        }
        let pte = own.page_table.get(own_page).ok_or(EFAULT)?;
        if !pte.flags.allows(Access::Read)
            || (perms & HV_PROT_WRITE != 0 && !pte.flags.allows(Access::Write))
        {
            return Err(EACCES);
        }
        machine.memory_mut().share(pte.frame);
        let c = self.processes.get_mut(child).ok_or(ESRCH)?;
        c.page_table.map(page, pte.frame, PteFlags(flags_of(perms)));
        c.note_peak_pages();
        Ok(Ret::Value(0))
    }

    /// hv_delete(id) → 0: ends the child (and, if it is a guest kernel, its
    /// own children); its frames are freed, shared ones when their last
    /// mapping goes, and it leaves the process table with its own
    /// contexts: its id names nothing any more (`ECHILD`).
    pub(super) fn sys_hv_delete(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
    ) -> SysResult {
        let child = self.child_of(caller, id)?;
        self.exit(machine, child, ExitStatus::Killed(9));
        self.remove_context(child);
        Ok(Ret::Value(0))
    }

    /// hv_get_reg(id, reg) → x0..x31 (0–31), the pc (32), the argument of
    /// the pending exception (33) or its access (34); see `abi::HV_REG_*`.
    pub(super) fn sys_hv_get_reg(&mut self, caller: Pid, id: u64, reg: u64) -> SysResult {
        let child = self.child_of(caller, id)?;
        let child = self.processes.get(child).ok_or(ECHILD)?;
        let value = match reg {
            0..=31 => child.hart.reg(reg as usize),
            HV_REG_PC => child.hart.pc,
            HV_REG_ARG => match (child.exit_status(), child.pending) {
                (Some(status), _) => status.exit_code() as u64,
                (None, Some(e)) => exception_argument(child, e),
                (None, None) => 0,
            },
            HV_REG_ACCESS => match child.pending {
                Some(
                    Exception::PageFault { access, .. } | Exception::Misaligned { access, .. },
                ) => match access {
                    Access::Read => 0,
                    Access::Write => 1,
                    Access::Execute => 2,
                },
                _ => 0,
            },
            _ => return Err(EINVAL),
        };
        Ok(Ret::Value(value))
    }

    /// hv_set_reg(id, reg, value) → 0: sets x1..x31 (a write to x0 is
    /// ignored) or the pc (32).
    pub(super) fn sys_hv_set_reg(
        &mut self,
        caller: Pid,
        id: u64,
        reg: u64,
        value: u64,
    ) -> SysResult {
        let child = self.live_child_of(caller, id)?;
        let c = self.processes.get_mut(child).ok_or(ESRCH)?;
        match reg {
            0..=31 => c.hart.set_reg(reg as usize, value),
            HV_REG_PC => c.hart.pc = value,
            _ => return Err(EINVAL),
        }
        Ok(Ret::Value(0))
    }

    /// hv_children(buf*, max) → count: writes the ids of the caller's live
    /// children (in increasing order, at most `max`) to `buf`, through the
    /// one guest-pointer choke point (uaccess::copy_out).
    pub(super) fn sys_hv_children(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        buf: u64,
        max: u64,
    ) -> SysResult {
        let ids: Vec<u8> = self
            .processes
            .iter()
            .filter(|c| c.supervisor == Some(caller) && !c.is_zombie())
            .take(max.min(MAX_CHILDREN) as usize)
            .flat_map(|c| c.pid.0.to_le_bytes())
            .collect();
        let process = self.processes.get_mut(caller).ok_or(ESRCH)?;
        uaccess::copy_out(machine, process, buf, &ids)?;
        Ok(Ret::Value(ids.len() as u64 / 8))
    }
}

impl Kernel {
    /// The child `hv_read`/`hv_write` copy from or to: a live child of the
    /// caller, and at most `HV_COPY_MAX` bytes (`EINVAL` beyond).
    fn copy_partner(&self, caller: Pid, id: u64, len: u64) -> Result<Pid, Errno> {
        let child = self.live_child_of(caller, id)?;
        if len > HV_COPY_MAX {
            return Err(EINVAL);
        }
        Ok(child)
    }

    /// hv_read(id, child_addr, buf, len) → len: copies the child's bytes at
    /// `child_addr` into the caller's `buf`. Only pages the child has
    /// mapped readable count (nothing is backed on demand: the guest kernel
    /// decides what its child has); `EFAULT` otherwise, before anything is
    /// written to `buf`.
    pub(super) fn sys_hv_read(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
        child_addr: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let child = self.copy_partner(caller, id, len)?;
        let c = self.processes.get(child).ok_or(ESRCH)?;
        let pieces = mapped_pieces(c, child_addr, len, Access::Read)?;
        let mut bytes = Vec::with_capacity(len as usize);
        for (frame, off, n) in pieces {
            bytes.extend_from_slice(&machine.memory().frame_bytes(frame)[off..off + n]);
        }
        let own = self.processes.get_mut(caller).ok_or(ESRCH)?;
        uaccess::copy_out(machine, own, buf, &bytes)?;
        Ok(Ret::Value(len))
    }

    /// hv_write(id, child_addr, buf, len) → len: copies the caller's `len`
    /// bytes at `buf` into the child's memory at `child_addr`; every page
    /// must be mapped writable in the child (`EFAULT`, nothing written).
    pub(super) fn sys_hv_write(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
        child_addr: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let child = self.copy_partner(caller, id, len)?;
        let own = self.processes.get_mut(caller).ok_or(ESRCH)?;
        let bytes = uaccess::copy_in(machine, own, buf, len)?;
        let c = self.processes.get_mut(child).ok_or(ESRCH)?;
        let pieces = mapped_pieces(c, child_addr, len, Access::Write)?;
        let mut at = 0;
        for (frame, off, n) in pieces {
            machine.memory_mut().frame_bytes_mut(frame)[off..off + n]
                .copy_from_slice(&bytes[at..at + n]);
            c.page_table
                .mark_dirty(VirtPage::containing(child_addr + at as u64));
            at += n;
        }
        Ok(Ret::Value(len))
    }

    /// hv_mappings(id, buf, max) → count: the child's mapped pages in
    /// address order, at most `max`, as (address, `HV_PROT_*` bits) pairs
    /// of words in the caller's `buf`.
    pub(super) fn sys_hv_mappings(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
        buf: u64,
        max: u64,
    ) -> SysResult {
        let child = self.live_child_of(caller, id)?;
        let c = self.processes.get(child).ok_or(ESRCH)?;
        let mut entries: Vec<(VirtPage, PteFlags)> = c
            .page_table
            .entries()
            .map(|(page, pte)| (page, pte.flags))
            .collect();
        entries.sort_by_key(|&(page, _)| page);
        let bytes: Vec<u8> = entries
            .iter()
            .take(max.min(HV_COPY_MAX / 16) as usize)
            .flat_map(|&(page, flags)| {
                let words = [page.address(), prot_of(flags)];
                words.into_iter().flat_map(u64::to_le_bytes)
            })
            .collect();
        let own = self.processes.get_mut(caller).ok_or(ESRCH)?;
        uaccess::copy_out(machine, own, buf, &bytes)?;
        Ok(Ret::Value(bytes.len() as u64 / 16))
    }

    /// hv_protect(id, page, perms) → 0: new permissions (`HV_PROT_*`) for a
    /// mapped page of the child; 0 unmaps it (its frame is freed when this
    /// was its last mapping). Shared-memory pages belong to their system
    /// (`EPERM`, docs/RELIABILITY.md "Frame ownership"); write permission
    /// is not added to a frame another context maps too (`EACCES`): the
    /// child would gain a right its giver does not have to give.
    pub(super) fn sys_hv_protect(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        id: u64,
        page_vaddr: u64,
        perms: u64,
    ) -> SysResult {
        let child = self.live_child_of(caller, id)?;
        if !page_vaddr.is_multiple_of(PAGE_SIZE)
            || !(USER_START..USER_END).contains(&page_vaddr)
            || perms & !(HV_PROT_READ | HV_PROT_WRITE | HV_PROT_EXEC) != 0
        {
            return Err(EINVAL);
        }
        let page = VirtPage::containing(page_vaddr);
        let pte = self
            .processes
            .get(child)
            .and_then(|c| c.page_table.get(page))
            .ok_or(ENOENT)?;
        if self.shared.sharing_at(child, page).is_some() {
            return Err(EPERM);
        }
        let c = self.processes.get_mut(child).ok_or(ESRCH)?;
        if perms == 0 {
            c.page_table.unmap(page);
            machine.memory_mut().free(pte.frame);
            return Ok(Ret::Value(0));
        }
        if perms & HV_PROT_WRITE != 0
            && !pte.flags.allows(Access::Write)
            && machine.memory().references(pte.frame) > 1
        {
            return Err(EACCES);
        }
        c.page_table.map(page, pte.frame, PteFlags(flags_of(perms)));
        Ok(Ret::Value(0))
    }

    /// hv_paging(mode) → the previous mode: `HV_PAGING_GUEST` makes the
    /// caller responsible for every page fault of its children (the host
    /// backs none); `HV_PAGING_HOST` gives that back.
    pub(super) fn sys_hv_paging(&mut self, caller: Pid, mode: u64) -> SysResult {
        let guest = match mode {
            HV_PAGING_HOST => false,
            HV_PAGING_GUEST => true,
            _ => return Err(EINVAL),
        };
        let kernel = self.processes.get_mut(caller).ok_or(ESRCH)?;
        let previous = if kernel.guest_paging {
            HV_PAGING_GUEST
        } else {
            HV_PAGING_HOST
        };
        kernel.guest_paging = guest;
        Ok(Ret::Value(previous))
    }
}

/// The frames and in-frame ranges behind `len` bytes of `process` at
/// `vaddr`, every page mapped and allowing `access`; `EFAULT` if any is not.
/// Unlike uaccess, nothing is backed on demand.
fn mapped_pieces(
    process: &Process,
    vaddr: u64,
    len: u64,
    access: Access,
) -> Result<Vec<(crate::emu::Frame, usize, usize)>, Errno> {
    vaddr.checked_add(len).ok_or(EFAULT)?;
    let mut pieces = Vec::new();
    let mut addr = vaddr;
    let end = vaddr + len;
    while addr < end {
        let pte = process
            .page_table
            .get(VirtPage::containing(addr))
            .filter(|pte| pte.flags.allows(access))
            .ok_or(EFAULT)?;
        let off = (addr % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - off).min((end - addr) as usize);
        pieces.push((pte.frame, off, n));
        addr += n as u64;
    }
    Ok(pieces)
}

/// Page-table flags for `HV_PROT_*` bits (RISC-V has no write-only pages,
/// privileged spec 4.3.1: write implies read).
fn flags_of(perms: u64) -> u8 {
    let mut flags = PteFlags::VALID | PteFlags::USER | PteFlags::READ;
    if perms & HV_PROT_WRITE != 0 {
        flags |= PteFlags::WRITE;
    }
    if perms & HV_PROT_EXEC != 0 {
        flags |= PteFlags::EXECUTE;
    }
    flags
}

/// `HV_PROT_*` bits of page-table flags.
fn prot_of(flags: PteFlags) -> u64 {
    let mut prot = 0;
    if flags.has(PteFlags::READ) {
        prot |= HV_PROT_READ;
    }
    if flags.has(PteFlags::WRITE) {
        prot |= HV_PROT_WRITE;
    }
    if flags.has(PteFlags::EXECUTE) {
        prot |= HV_PROT_EXEC;
    }
    prot
}

/// The argument of a pending exception, as `hv_get_reg(id, HV_REG_ARG)`
/// reads it.
fn exception_argument(child: &Process, e: Exception) -> u64 {
    match e {
        Exception::Syscall => child.hart.reg(Reg::A7.index()),
        Exception::PageFault { vaddr, .. } | Exception::Misaligned { vaddr, .. } => vaddr,
        Exception::IllegalInstruction { bits, .. } => u64::from(bits),
        Exception::Breakpoint { pc } | Exception::DivisionByZero { pc } => pc,
        Exception::PrivilegeViolation { call, .. } => call,
        Exception::Timer => 0,
    }
}

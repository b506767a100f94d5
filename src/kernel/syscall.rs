//! Syscalls: one dispatch `match` over the numbers of `abi.rs`, one
//! `sys_<name>` function per call, one trace format.
//!
//! A call returns a `SyscallResult`: a value for `a0` (errors as `-errno`),
//! or a decision that the process blocks (it will re-run the same `ecall`
//! when woken), or that it exited. The dispatcher writes `a0`, advances the
//! pc past the `ecall`, and prints the trace line.

use std::fs::OpenOptions;

use super::files::{HostFile, OpenFile};
use super::process::{ExitStatus, Pid, ProcessState, WaitReason};
use super::uaccess::{copy_in, copy_out, read_c_string, write_u64};
use super::{Kernel, Next};
use crate::abi::{self, *};
use crate::emu::{Machine, Reg, VirtPage, PAGE_SIZE};
use crate::shm;

/// The outcome of a syscall.
pub(crate) enum SyscallResult {
    /// Return this value in `a0` (an error is `error_return(errno)`).
    Value(u64),
    /// Block the process; it re-executes the `ecall` when woken.
    Block(WaitReason),
    /// Give up the processor (`sched_yield`); returns 0.
    Yield,
    /// The process ended.
    Exited,
}

use SyscallResult::*;

pub(crate) fn err(errno: u64) -> SyscallResult {
    Value(error_return(errno))
}

/// Largest chunk one read or write call moves (larger requests are
/// shortened, as POSIX allows).
const IO_CHUNK: u64 = 1 << 20;

/// Longest path accepted by openat.
const PATH_MAX: usize = 4096;

impl Kernel {
    /// Handles the `ecall` of `pid`.
    pub(super) fn syscall(&mut self, machine: &mut Machine, pid: Pid) -> Next {
        let result = self.dispatch(machine, pid);
        let Some(process) = self.processes.get_mut(&pid) else {
            return Next::Reschedule;
        };
        match result {
            Value(v) => {
                process.hart.set_reg(Reg::A0.index(), v);
                process.hart.pc = process.hart.pc.wrapping_add(4);
                Next::Continue
            }
            Yield => {
                process.hart.set_reg(Reg::A0.index(), 0);
                process.hart.pc = process.hart.pc.wrapping_add(4);
                self.preempt(pid);
                Next::Reschedule
            }
            Block(reason) => {
                process.state = ProcessState::Blocked(reason);
                if self.current == Some(pid) {
                    self.current = None;
                }
                Next::Reschedule
            }
            Exited => Next::Reschedule,
        }
    }

    /// Runs the pending `ecall` of `pid`, a child of a guest kernel, as if
    /// it were the host's own process (`hv_forward`). Returns what
    /// `hv_forward` returns: 0, or `-EAGAIN` when the call would block —
    /// then the child's pc stays at its `ecall`, so that it retries the
    /// call when its kernel switches to it again (a guest kernel's child
    /// never blocks in the host: rule U/K-5).
    pub(crate) fn forward_syscall(&mut self, machine: &mut Machine, pid: Pid) -> u64 {
        let result = self.dispatch(machine, pid);
        let Some(process) = self.processes.get_mut(&pid) else {
            return 0;
        };
        match result {
            Value(v) => {
                process.hart.set_reg(Reg::A0.index(), v);
                process.hart.pc = process.hart.pc.wrapping_add(4);
                0
            }
            Yield => {
                process.hart.set_reg(Reg::A0.index(), 0);
                process.hart.pc = process.hart.pc.wrapping_add(4);
                0
            }
            Block(_) => error_return(EAGAIN),
            Exited => 0,
        }
    }

    /// Counts, runs and traces the call in `a7` of `pid`.
    fn dispatch(&mut self, machine: &mut Machine, pid: Pid) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return Exited;
        };
        let number = process.hart.reg(Reg::A7.index());
        let args: [u64; 6] = std::array::from_fn(|i| process.hart.reg(Reg::A0.index() + i));
        *process
            .stats
            .syscalls
            .entry(abi::call_name(number))
            .or_default() += 1;
        let result = match number {
            SYS_EXIT | SYS_EXIT_GROUP => self.sys_exit(machine, pid, args[0]),
            SYS_READ => self.sys_read(machine, pid, args[0], args[1], args[2]),
            SYS_WRITE => self.sys_write(machine, pid, args[0], args[1], args[2]),
            SYS_OPENAT => self.sys_openat(machine, pid, args[0], args[1], args[2]),
            SYS_CLOSE => self.sys_close(pid, args[0]),
            SYS_BRK => self.sys_brk(machine, pid, args[0]),
            SYS_GETPID => Value(pid.0),
            SYS_SCHED_YIELD => Yield,
            SYS_CLONE => self.sys_clone(machine, pid, args[0], args[1]),
            SYS_WAIT4 => self.sys_wait4(machine, pid, args[0], args[1], args[2]),
            SYS_SHM_OPEN => self.sys_shm_open(machine, pid, args[0]),
            SYS_SHM_SIZE => self.sys_shm_size(machine, pid, args[0], args[1]),
            SYS_SHM_MAP => self.sys_shm_map(pid, args[0], args[1]),
            SYS_SHM_CLOSE => self.sys_shm_close(machine, pid, args[0]),
            SYS_RSHMGET => self.sys_rshmget(pid, args[0], args[1]),
            SYS_RSHMAT => self.sys_rshmat(pid, args[0], args[1]),
            SYS_RSHMDT => self.sys_rshmdt(machine, pid, args[0], args[1]),
            SYS_RSHMCTL => self.sys_rshmctl(pid, args[0], args[1]),
            SYS_RSHM_CHANGED => self.sys_rshm_changed(machine, pid, args[0]),
            SYS_NODE_ID => self.sys_node_id(),
            SYS_VM_OPEN..=SYS_VM_ID => self.sys_vm(machine, pid, number, &args),
            n if abi::is_hypercall(n) => {
                // Hypercalls of kernel-mode contexts never get here (the
                // hypervisor takes them first); from a user context they
                // break rule U/K-3.
                let pc = self.processes.get(&pid).map_or(0, |p| p.hart.pc);
                let _ = self.handle(
                    machine,
                    pid,
                    crate::emu::Exception::PrivilegeViolation { pc, call: n },
                );
                Exited
            }
            _ => err(ENOSYS),
        };
        if (SYS_SHM_OPEN..=SYS_SHM_CLOSE).contains(&number) {
            self.after_shm_call(machine, pid, number, &args, &result);
        }
        if self.trace_syscalls {
            let shown = match &result {
                Value(v) => match abi::error_name(v.wrapping_neg()) {
                    Some(name) if *v >= (-4095i64) as u64 => format!("-{name}"),
                    _ => format!("{v:#x}"),
                },
                Block(reason) => format!("blocked ({reason:?})"),
                Yield => "0 (yield)".into(),
                Exited => "exited".into(),
            };
            let info = abi::call_info(number);
            let argc = info.map_or(6, |i| usize::from(i.args));
            let list: Vec<String> = args[..argc].iter().map(|a| format!("{a:#x}")).collect();
            self.report(&format!(
                "[{pid}] {}({}) = {shown}",
                abi::call_name(number),
                list.join(", ")
            ));
        }
        result
    }

    fn sys_exit(&mut self, machine: &mut Machine, pid: Pid, code: u64) -> SyscallResult {
        self.exit(machine, pid, ExitStatus::Exited(code as u8));
        Exited
    }

    fn sys_read(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
    ) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        let Some(file) = process.files.get(fd).cloned() else {
            return err(EBADF);
        };
        let mut data = vec![0u8; len.min(IO_CHUNK) as usize];
        let n = match file {
            OpenFile::Stdin => self.console.read(&mut data),
            OpenFile::Host(host) => host.borrow_mut().read(&mut data),
            OpenFile::Stdout | OpenFile::Stderr => return err(EBADF),
        };
        let n = match n {
            Ok(n) => n,
            Err(e) => return err(errno_of(&e)),
        };
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        match copy_out(machine, process, buf, &data[..n]) {
            Ok(()) => Value(n as u64),
            Err(e) => err(e),
        }
    }

    fn sys_write(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
    ) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        let Some(file) = process.files.get(fd).cloned() else {
            return err(EBADF);
        };
        let data = match copy_in(machine, process, buf, len.min(IO_CHUNK)) {
            Ok(d) => d,
            Err(e) => return err(e),
        };
        match file {
            OpenFile::Stdout => self.console.write_stdout(&data),
            OpenFile::Stderr => self.console.write_stderr(&data),
            OpenFile::Host(host) => {
                return match host.borrow_mut().write(&data) {
                    Ok(n) => Value(n as u64),
                    Err(e) => err(errno_of(&e)),
                }
            }
            OpenFile::Stdin => return err(EBADF),
        }
        Value(data.len() as u64)
    }

    fn sys_openat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        path: u64,
        flags: u64,
    ) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        let path = match read_c_string(machine, process, path, PATH_MAX) {
            Ok(p) => String::from_utf8_lossy(&p).into_owned(),
            Err(e) => return err(e),
        };
        if dirfd != AT_FDCWD && !path.starts_with('/') {
            return err(EBADF);
        }
        if path.is_empty() {
            return err(ENOENT);
        }
        let access = flags & 3;
        let (readable, writable) = match access {
            O_RDONLY => (true, false),
            O_WRONLY => (false, true),
            O_RDWR => (true, true),
            _ => return err(EINVAL),
        };
        let mut options = OpenOptions::new();
        options
            .read(readable)
            .write(writable)
            .create(flags & O_CREAT != 0 && writable)
            .truncate(flags & O_TRUNC != 0 && writable)
            .append(flags & O_APPEND != 0);
        let file = match options.open(&path) {
            Ok(f) => f,
            Err(e) => return err(errno_of(&e)),
        };
        let open = OpenFile::Host(std::rc::Rc::new(std::cell::RefCell::new(HostFile::new(
            file, readable, writable,
        ))));
        match process.files.insert(open) {
            Some(fd) => Value(fd),
            None => err(EMFILE),
        }
    }

    fn sys_close(&mut self, pid: Pid, fd: u64) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        match process.files.remove(fd) {
            Some(_) => Value(0),
            None => err(EBADF),
        }
    }

    /// brk(0) returns the break; brk(addr) moves it within the heap's limits
    /// and returns the new break (the old one when refused, as Linux does).
    /// Pages above a lowered break are freed.
    fn sys_brk(&mut self, machine: &mut Machine, pid: Pid, addr: u64) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        if addr < process.heap_start || addr > super::layout::SHM_BASE {
            return Value(process.brk);
        }
        let old_top = super::layout::page_round_up(process.brk);
        let new_top = super::layout::page_round_up(addr);
        let mut page = new_top;
        while page < old_top {
            if let Some(pte) = process.page_table.unmap(VirtPage::containing(page)) {
                machine.memory_mut().free(pte.frame);
            }
            page += PAGE_SIZE;
        }
        process.brk = addr;
        Value(addr)
    }

    /// clone as fork: only `flags == SIGCHLD` (17), with no new stack.
    fn sys_clone(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        flags: u64,
        stack: u64,
    ) -> SyscallResult {
        const SIGCHLD: u64 = 17;
        if flags != SIGCHLD || stack != 0 {
            return err(EINVAL);
        }
        let Some(parent) = self.processes.get(&pid) else {
            return err(ESRCH);
        };
        // Copy the address space eagerly; undo everything on ENOMEM. Rule
        // A.6: pages mapped onto an shm object are shared, not copied.
        let shared = self.shm.shared_pages(pid);
        // Inter-VM blocks stay shared too, with one frame reference per
        // mapping (the rollback below drops it again).
        let vm_shared = self.vmshm.shared_pages(pid);
        let mut page_table = crate::emu::PageTable::new();
        for (page, pte) in parent.page_table.entries() {
            if shared.contains(&page) {
                page_table.map(page, pte.frame, pte.flags);
                continue;
            }
            if vm_shared.contains(&page) {
                machine.memory_mut().share(pte.frame);
                page_table.map(page, pte.frame, pte.flags);
                continue;
            }
            let Some(frame) = machine.memory_mut().alloc() else {
                for (page, pte) in page_table.entries() {
                    if !shared.contains(&page) {
                        machine.memory_mut().free(pte.frame);
                    }
                }
                return err(ENOMEM);
            };
            machine.memory_mut().copy_frame(pte.frame, frame);
            page_table.map(page, frame, pte.flags);
        }
        let child_pid = self.new_pid();
        let parent = &self.processes[&pid];
        let mut hart = parent.hart.clone();
        hart.set_reg(Reg::A0.index(), 0);
        hart.pc = hart.pc.wrapping_add(4);
        let child = super::Process {
            pid: child_pid,
            name: parent.name.clone(),
            context: self.context_of(child_pid),
            hart,
            page_table,
            state: ProcessState::Ready,
            parent: Some(pid),
            regions: parent.regions.clone(),
            heap_start: parent.heap_start,
            brk: parent.brk,
            files: parent.files.clone(),
            stats: super::ProcessStats {
                peak_pages: parent.page_table.len() as u64,
                ..Default::default()
            },
            // A fork of a guest kernel's child is a child of the same guest
            // kernel (it shows up in hv_children).
            mode: parent.mode,
            supervisor: parent.supervisor,
            pending: None,
            switched_to: None,
        };
        self.processes.insert(child_pid, child);
        self.enqueue(child_pid);
        self.vmshm.fork(pid, child_pid);
        if !shared.is_empty() || self.shm.is_client_anywhere(pid) {
            self.shm.fork(pid, child_pid);
            self.debug_check_shm(machine, "fork");
            // The child is attached to the parent's rshm segments too.
            self.rshm_refs_changed();
        }
        Value(child_pid.0)
    }

    /// shm_open(name) → id (rule A.1). The name is read through uaccess;
    /// no NUL within `NAME_SCAN` bytes means it is not a string (EINVAL).
    fn sys_shm_open(&mut self, machine: &mut Machine, pid: Pid, name: u64) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        let name = match read_c_string(machine, process, name, shm::NAME_SCAN - 1) {
            Ok(name) => name,
            Err(ENAMETOOLONG) => return err(EINVAL),
            Err(e) => return err(e),
        };
        match self.shm.open(pid, &name) {
            Ok(id) => Value(id.0),
            Err(e) => err(e),
        }
    }

    /// shm_size(id, size) → rounded size (rule A.2).
    fn sys_shm_size(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        size: u64,
    ) -> SyscallResult {
        match self.shm.size(machine.memory_mut(), pid, id, size) {
            Ok(rounded) => Value(rounded),
            Err(e) => err(e),
        }
    }

    /// shm_map(addr or 0, id) → address (rule A.3).
    fn sys_shm_map(&mut self, pid: Pid, addr: u64, id: u64) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        match self.shm.map(process, addr, id) {
            Ok(vaddr) => Value(vaddr),
            Err(e) => err(e),
        }
    }

    /// shm_close(id) → 0 (rule A.4).
    fn sys_shm_close(&mut self, machine: &mut Machine, pid: Pid, id: u64) -> SyscallResult {
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        match self.shm.close(machine.memory_mut(), process, id) {
            Ok(v) => Value(v),
            Err(e) => err(e),
        }
    }

    /// The inter-VM calls 510–515 (spec/vmshm.md): the client daemon does
    /// the work (vmshm/client.rs); a call that must wait blocks only this
    /// process, which repeats the `ecall` when the host daemon's notice
    /// wakes it.
    fn sys_vm(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        number: u64,
        args: &[u64; 6],
    ) -> SyscallResult {
        if number == SYS_VM_ID {
            return Value(self.id);
        }
        let Some(process) = self.processes.get_mut(&pid) else {
            return err(ESRCH);
        };
        let client = &mut self.vmshm;
        let result = match number {
            SYS_VM_OPEN => client.open(
                machine, process, args[0], args[1], args[2], args[3], args[4],
            ),
            SYS_VM_CLOSE => client.close(machine, process, args[0], args[1], args[2]),
            SYS_VM_LISTEN => client.listen(machine, process, args[0], args[1], args[2]),
            SYS_VM_CONNECT => client.connect(machine, process, args[0], args[1], args[2], args[3]),
            SYS_VM_DISCONNECT => client.disconnect(machine, process, args[0]),
            _ => Err(ENOSYS),
        };
        self.report_vmshm();
        match result {
            Ok(crate::vmshm::Done::Value(v)) => {
                self.vmshm_changed = true;
                Value(v)
            }
            Ok(crate::vmshm::Done::Block(wait)) => Block(WaitReason::VmShm(wait)),
            Err(e) => err(e),
        }
    }

    /// After every shm call: the invariants (debug builds) and, with
    /// `--dump-shm`, the list as the call left it.
    fn after_shm_call(
        &mut self,
        machine: &Machine,
        pid: Pid,
        number: u64,
        args: &[u64; 6],
        result: &SyscallResult,
    ) {
        let name = abi::call_name(number);
        self.debug_check_shm(machine, &name);
        let Value(v) = result else {
            return;
        };
        if self.dump_shm && *v < (-4095i64) as u64 {
            let argc = if number == SYS_SHM_OPEN || number == SYS_SHM_CLOSE {
                1
            } else {
                2
            };
            let list: Vec<String> = args[..argc].iter().map(|a| format!("{a:#x}")).collect();
            let text = format!(
                "sim: shm after [{pid}] {name}({}) = {v:#x}:\n{}",
                list.join(", "),
                crate::shm::dump(&self.shm)
            );
            self.console.write_stderr(text.as_bytes());
        }
    }

    /// wait4(pid or -1, status*, options): collects an ended child.
    fn sys_wait4(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        status: u64,
        options: u64,
    ) -> SyscallResult {
        const WNOHANG: u64 = 1;
        let want = if target as i64 == -1 {
            None
        } else {
            Some(Pid(target))
        };
        let children: Vec<Pid> = self
            .processes
            .values()
            .filter(|p| p.parent == Some(pid) && want.is_none_or(|w| w == p.pid))
            .map(|p| p.pid)
            .collect();
        if children.is_empty() {
            return err(ECHILD);
        }
        let ended = children
            .iter()
            .copied()
            .find(|c| self.processes[c].is_zombie());
        let Some(child) = ended else {
            return if options & WNOHANG != 0 {
                Value(0)
            } else {
                Block(WaitReason::Child(want))
            };
        };
        let exit_status = self.processes[&child]
            .exit_status()
            .map_or(0, ExitStatus::wait_status);
        if status != 0 {
            let Some(process) = self.processes.get_mut(&pid) else {
                return err(ESRCH);
            };
            if let Err(e) = write_u64(machine, process, status, exit_status) {
                return err(e);
            }
        }
        // Reaped: the child no longer counts as this process's child.
        if let Some(c) = self.processes.get_mut(&child) {
            c.parent = None;
        }
        Value(child.0)
    }
}

/// The errno for a host I/O error.
fn errno_of(e: &std::io::Error) -> u64 {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => ENOENT,
        PermissionDenied => EACCES,
        AlreadyExists => EEXIST,
        InvalidInput => EINVAL,
        _ => e.raw_os_error().map_or(EIO, |n| n as u64),
    }
}

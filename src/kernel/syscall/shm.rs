//! Named shared memory calls (docs/spec/shm.md, rules A.1–A.4): the guest's
//! name is read here, the address of a mapping picked here
//! (kernel/paging.rs), and the rest is the kernel's `ShmTable`
//! (src/shm/), which sees plain values only.

use super::{Ret, SysResult};
use crate::abi::{self, EINVAL, ENAMETOOLONG, ESRCH, SYS_SHM_CLOSE, SYS_SHM_OPEN};
use crate::emu::Machine;
use crate::kernel::paging;
use crate::kernel::process::Pid;
use crate::kernel::uaccess::read_c_string;
use crate::kernel::Kernel;
use crate::shm;

impl Kernel {
    /// shm_open(name*) → id (rule A.1). No NUL within `NAME_SCAN` bytes
    /// means the name is not a string at all (EINVAL).
    pub(super) fn sys_shm_open(&mut self, machine: &mut Machine, pid: Pid, name: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let name = match read_c_string(machine, process, name, shm::NAME_SCAN - 1) {
            Err(ENAMETOOLONG) => return Err(EINVAL),
            name => name?,
        };
        let id = self.shared.shm.open(pid, &name)?;
        Ok(Ret::Value(id.0))
    }

    /// shm_size(id, size) → the size rounded up to pages (rule A.2).
    pub(super) fn sys_shm_size(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        size: u64,
    ) -> SysResult {
        let rounded = self.shared.shm.size(machine.memory_mut(), pid, id, size)?;
        Ok(Ret::Value(rounded))
    }

    /// shm_map(addr or 0, id) → the address of the mapping (rule A.3).
    pub(super) fn sys_shm_map(&mut self, pid: Pid, addr: u64, id: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let pages = self.shared.shm.pages_to_map(pid, id)?;
        let start = paging::place(process, addr, pages)?;
        self.shared
            .shm
            .map(&mut process.page_table, pid, id, start)?;
        process.note_peak_pages();
        Ok(Ret::Value(start))
    }

    /// shm_close(id) → 0 (rule A.4: the caller keeps private copies).
    pub(super) fn sys_shm_close(&mut self, machine: &mut Machine, pid: Pid, id: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let v = self
            .shared
            .shm
            .close(machine.memory_mut(), &mut process.page_table, pid, id)?;
        Ok(Ret::Value(v))
    }

    /// After every shm call, with `--dump-shm`: the list as a successful
    /// call left it (the invariants are checked after every call:
    /// syscall/mod.rs).
    pub(super) fn after_shm_call(
        &mut self,
        pid: Pid,
        number: u64,
        args: &[u64; 6],
        result: SysResult,
    ) {
        let name = abi::call_name(number);
        let Ok(Ret::Value(v)) = result else {
            return;
        };
        if self.trace.dump_shm {
            let argc = if number == SYS_SHM_OPEN || number == SYS_SHM_CLOSE {
                1
            } else {
                2
            };
            let list: Vec<String> = args[..argc].iter().map(|a| format!("{a:#x}")).collect();
            let text = format!(
                "sim: shm after [{pid}] {name}({}) = {v:#x}:\n{}",
                list.join(", "),
                shm::dump(&self.shared.shm)
            );
            self.console.write_stderr(text.as_bytes());
        }
    }
}

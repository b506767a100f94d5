//! Memory calls: brk, the program break that bounds the heap.

use super::{Ret, SysResult};
use crate::abi::layout::{page_round_up, SHM_BASE};
use crate::abi::ESRCH;
use crate::emu::{Machine, VirtPage, PAGE_SIZE};
use crate::kernel::process::Pid;
use crate::kernel::Kernel;

impl Kernel {
    /// brk(0) returns the break; brk(addr) moves it within the heap's limits
    /// and returns the new break (the old one when refused, as Linux does).
    /// Pages above a lowered break are freed; pages below a raised one are
    /// backed on first touch (paging.rs).
    pub(super) fn sys_brk(&mut self, machine: &mut Machine, pid: Pid, addr: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        if addr < process.heap_start || addr > SHM_BASE {
            return Ok(Ret::Value(process.brk));
        }
        let old_top = page_round_up(process.brk);
        let new_top = page_round_up(addr);
        if new_top < old_top {
            let first = VirtPage::containing(new_top);
            for pte in process
                .page_table
                .unmap_run(first, (old_top - new_top) / PAGE_SIZE)
            {
                machine.memory_mut().free(pte.frame);
            }
        }
        process.brk = addr;
        Ok(Ret::Value(addr))
    }
}

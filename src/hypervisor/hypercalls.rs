//! Hypercalls (spec/abi.md, 400–408): one `hv_<name>` function each, one
//! dispatch `match`, the same trace format as syscalls.
//!
//! Only kernel-mode contexts get here (rule U/K-3: `contexts::deliver`
//! turns a user context's hypercall into a privilege violation). Every id a
//! guest kernel passes is an allegation: `child_of` checks that it names
//! one of the caller's own children (rule U/K-4) before anything touches
//! it, and a bad id, register number or pointer is an error in `a0`.
//!
//! `hv_switch` is the one call that does not return at once: it leaves the
//! caller's pc at its `ecall` and sets `switched_to`; the caller's `a0` and
//! pc are set when the child's next exception is delivered to it.

use crate::abi::{self, *};
use crate::emu::{Access, Exception, Hart, Machine, PageTable, PteFlags, Reg, VirtPage, PAGE_SIZE};
use crate::kernel::{
    files, paging, uaccess, ExitStatus, Kernel, Mode, Next, Pid, Process, ProcessState,
    ProcessStats,
};

/// Most children one `hv_children` call reports.
const MAX_CHILDREN: u64 = 4096;

/// A hypercall's result: a value for `a0`, or an errno.
type HvResult = Result<u64, u64>;

/// Runs hypercall `number` of the kernel-mode context `caller`.
pub fn dispatch(kernel: &mut Kernel, machine: &mut Machine, caller: Pid, number: u64) -> Next {
    let Some(process) = kernel.processes.get_mut(&caller) else {
        return Next::Reschedule;
    };
    let args: [u64; 4] = std::array::from_fn(|i| process.hart.reg(Reg::A0.index() + i));
    *process
        .stats
        .syscalls
        .entry(abi::call_name(number))
        .or_default() += 1;
    let result = match number {
        HV_CREATE => hv_create(kernel, caller),
        HV_SWITCH => hv_switch(kernel, caller, args[0]),
        HV_STATUS => hv_status(kernel, caller, args[0]),
        HV_FORWARD => hv_forward(kernel, machine, caller, args[0]),
        HV_MAP => hv_map(kernel, machine, caller, args[0], args[1], args[2], args[3]),
        HV_DELETE => hv_delete(kernel, machine, caller, args[0]),
        HV_GET_REG => hv_get_reg(kernel, caller, args[0], args[1]),
        HV_SET_REG => hv_set_reg(kernel, caller, args[0], args[1], args[2]),
        HV_CHILDREN => hv_children(kernel, machine, caller, args[0], args[1]),
        _ => Err(ENOSYS),
    };
    let switched = number == HV_SWITCH && result.is_ok();
    if kernel.trace_syscalls {
        let shown = match result {
            Ok(_) if switched => format!("(runs {})", args[0]),
            Ok(v) => format!("{v:#x}"),
            Err(e) => format!("-{}", abi::error_name(e).unwrap_or("?")),
        };
        let argc = abi::call_info(number).map_or(4, |i| usize::from(i.args));
        let list: Vec<String> = args[..argc].iter().map(|a| format!("{a:#x}")).collect();
        kernel.report(&format!(
            "[{caller}] {}({}) = {shown}",
            abi::call_name(number),
            list.join(", ")
        ));
    }
    let Some(process) = kernel.processes.get_mut(&caller) else {
        return Next::Reschedule;
    };
    if process.is_zombie() {
        return Next::Reschedule;
    }
    if !switched {
        let value = result.unwrap_or_else(error_return);
        process.hart.set_reg(Reg::A0.index(), value);
        process.hart.pc = process.hart.pc.wrapping_add(4);
    }
    Next::Continue
}

/// The caller's child `id`, live or ended (rule U/K-4: a kernel may act
/// only on its own children).
fn child_of(kernel: &Kernel, caller: Pid, id: u64) -> Result<Pid, u64> {
    match kernel.processes.get(&Pid(id)) {
        Some(child) if child.supervisor == Some(caller) => Ok(child.pid),
        _ => Err(ECHILD),
    }
}

/// The caller's child `id`, which must not have ended.
fn live_child_of(kernel: &Kernel, caller: Pid, id: u64) -> Result<Pid, u64> {
    let pid = child_of(kernel, caller, id)?;
    if kernel.processes.get(&pid).is_some_and(|c| c.is_zombie()) {
        return Err(ESRCH);
    }
    Ok(pid)
}

/// hv_create() → id: a new user-mode child with an empty address space,
/// all registers 0. Its kernel fills it with `hv_map` and `hv_set_reg`.
fn hv_create(kernel: &mut Kernel, caller: Pid) -> HvResult {
    let name = kernel
        .processes
        .get(&caller)
        .map_or_else(String::new, |p| format!("{}:child", p.name));
    let pid = kernel.new_pid();
    let process = Process {
        pid,
        name,
        context: kernel.context_of(pid),
        hart: Hart::default(),
        page_table: PageTable::new(),
        state: ProcessState::Ready,
        parent: None,
        regions: Vec::new(),
        heap_start: 0,
        brk: 0,
        files: files::FdTable::default(),
        stats: ProcessStats::default(),
        mode: Mode::User,
        supervisor: Some(caller),
        pending: None,
        switched_to: None,
    };
    kernel.processes.insert(pid, process);
    Ok(pid.0)
}

/// hv_switch(id): runs the child until its next exception; `hv_switch`
/// then returns the child's id (`contexts::deliver`). Any id that is not a
/// live child of the caller is refused and nothing runs (rule U/K-4).
fn hv_switch(kernel: &mut Kernel, caller: Pid, id: u64) -> HvResult {
    let child = match live_child_of(kernel, caller, id) {
        Ok(child) => child,
        Err(e) => {
            let name = kernel
                .processes
                .get(&caller)
                .map_or_else(String::new, |p| p.name.clone());
            kernel.report(&format!(
                "rule U/K-4: kernel {caller} ({name}) may not switch to {id}: {}",
                if e == ECHILD {
                    "not its child"
                } else {
                    "the child has ended"
                }
            ));
            return Err(e);
        }
    };
    if let Some(c) = kernel.processes.get_mut(&child) {
        c.pending = None;
    }
    if let Some(k) = kernel.processes.get_mut(&caller) {
        k.switched_to = Some(child);
    }
    Ok(id)
}

/// hv_status(id) → the `HV_STATUS_*` code of the child's pending exception
/// (`HV_STATUS_EXITED` once it ended).
fn hv_status(kernel: &mut Kernel, caller: Pid, id: u64) -> HvResult {
    let child = &kernel.processes[&child_of(kernel, caller, id)?];
    if child.is_zombie() {
        return Ok(HV_STATUS_EXITED);
    }
    Ok(match child.pending {
        None => HV_STATUS_NONE,
        Some(Exception::Syscall) => HV_STATUS_SYSCALL,
        Some(Exception::PageFault { .. }) => HV_STATUS_PAGE_FAULT,
        Some(Exception::IllegalInstruction { .. }) => HV_STATUS_ILLEGAL,
        Some(Exception::Timer) => HV_STATUS_TIMER,
        Some(Exception::Breakpoint { .. }) => HV_STATUS_BREAKPOINT,
        Some(Exception::Misaligned { .. }) => HV_STATUS_MISALIGNED,
        Some(Exception::PrivilegeViolation { .. }) => HV_STATUS_PRIVILEGE,
    })
}

/// hv_forward(id) → 0: the host handles the child's pending exception as
/// if the child were its own process — a syscall runs the host's
/// `sys_<name>` on the child (a call that would block returns `-EAGAIN`
/// and leaves the child at its `ecall`, to retry when switched to again),
/// a page fault on its stack, heap or bss is backed on demand, anything
/// else kills the child with the host's message.
fn hv_forward(kernel: &mut Kernel, machine: &mut Machine, caller: Pid, id: u64) -> HvResult {
    let child = live_child_of(kernel, caller, id)?;
    let Some(exception) = kernel
        .processes
        .get_mut(&child)
        .and_then(|c| c.pending.take())
    else {
        return Err(EINVAL);
    };
    match exception {
        Exception::Syscall => {
            let value = kernel.forward_syscall(machine, child);
            if value == error_return(EAGAIN) {
                Err(EAGAIN)
            } else {
                Ok(value)
            }
        }
        Exception::Timer => Ok(0),
        other => {
            // Not the child's root: Kernel::handle does not schedule it.
            let _ = kernel.handle(machine, child, other);
            Ok(0)
        }
    }
}

/// hv_map(id, page_vaddr, own_vaddr, perms) → 0: maps the child's page at
/// `page_vaddr` to the frame behind the caller's page at `own_vaddr`
/// (backed on demand if the caller has not touched it yet), with `perms`
/// (`HV_PROT_*`). Both addresses must be page-aligned, the child's page
/// unmapped (`EEXIST`), and a writable mapping needs a writable own page
/// (`EACCES`): a kernel cannot give away more than it has.
fn hv_map(
    kernel: &mut Kernel,
    machine: &mut Machine,
    caller: Pid,
    id: u64,
    page_vaddr: u64,
    own_vaddr: u64,
    perms: u64,
) -> HvResult {
    let child = live_child_of(kernel, caller, id)?;
    if !page_vaddr.is_multiple_of(PAGE_SIZE)
        || !own_vaddr.is_multiple_of(PAGE_SIZE)
        || perms == 0
        || perms & !(HV_PROT_READ | HV_PROT_WRITE | HV_PROT_EXEC) != 0
    {
        return Err(EINVAL);
    }
    let page = VirtPage::containing(page_vaddr);
    if kernel.processes[&child].page_table.get(page).is_some() {
        return Err(EEXIST);
    }
    let own = kernel.processes.get_mut(&caller).ok_or(ESRCH)?;
    let own_page = VirtPage::containing(own_vaddr);
    if own.page_table.get(own_page).is_none() {
        paging::back_on_demand(machine, own, own_vaddr).map_err(|_| EFAULT)?;
    }
    let pte = own.page_table.get(own_page).ok_or(EFAULT)?;
    if !pte.flags.allows(Access::Read)
        || (perms & HV_PROT_WRITE != 0 && !pte.flags.allows(Access::Write))
    {
        return Err(EACCES);
    }
    // RISC-V has no write-only pages (privileged spec 4.3.1): W implies R.
    let mut flags = PteFlags::VALID | PteFlags::USER | PteFlags::READ;
    if perms & HV_PROT_WRITE != 0 {
        flags |= PteFlags::WRITE;
    }
    if perms & HV_PROT_EXEC != 0 {
        flags |= PteFlags::EXECUTE;
    }
    machine.memory_mut().share(pte.frame);
    let c = kernel.processes.get_mut(&child).ok_or(ESRCH)?;
    c.page_table.map(page, pte.frame, PteFlags(flags));
    c.stats.peak_pages = c.stats.peak_pages.max(c.page_table.len() as u64);
    Ok(0)
}

/// hv_delete(id) → 0: ends the child (and, if it is a guest kernel, its
/// own children); its frames are freed, shared ones when their last
/// mapping goes.
fn hv_delete(kernel: &mut Kernel, machine: &mut Machine, caller: Pid, id: u64) -> HvResult {
    let child = child_of(kernel, caller, id)?;
    kernel.exit(machine, child, ExitStatus::Killed(9));
    Ok(0)
}

/// hv_get_reg(id, reg) → x0..x31 (0–31), the pc (32), the argument of the
/// pending exception (33) or its access (34); see `abi::HV_REG_*`.
fn hv_get_reg(kernel: &mut Kernel, caller: Pid, id: u64, reg: u64) -> HvResult {
    let child = &kernel.processes[&child_of(kernel, caller, id)?];
    match reg {
        0..=31 => Ok(child.hart.reg(reg as usize)),
        HV_REG_PC => Ok(child.hart.pc),
        HV_REG_ARG => Ok(match (child.exit_status(), child.pending) {
            (Some(status), _) => status.exit_code() as u64,
            (None, Some(e)) => exception_argument(child, e),
            (None, None) => 0,
        }),
        HV_REG_ACCESS => Ok(match child.pending {
            Some(Exception::PageFault { access, .. } | Exception::Misaligned { access, .. }) => {
                match access {
                    Access::Read => 0,
                    Access::Write => 1,
                    Access::Execute => 2,
                }
            }
            _ => 0,
        }),
        _ => Err(EINVAL),
    }
}

fn exception_argument(child: &Process, e: Exception) -> u64 {
    match e {
        Exception::Syscall => child.hart.reg(Reg::A7.index()),
        Exception::PageFault { vaddr, .. } | Exception::Misaligned { vaddr, .. } => vaddr,
        Exception::IllegalInstruction { bits, .. } => u64::from(bits),
        Exception::Breakpoint { pc } => pc,
        Exception::PrivilegeViolation { call, .. } => call,
        Exception::Timer => 0,
    }
}

/// hv_set_reg(id, reg, value) → 0: sets x1..x31 (a write to x0 is
/// ignored) or the pc (32).
fn hv_set_reg(kernel: &mut Kernel, caller: Pid, id: u64, reg: u64, value: u64) -> HvResult {
    let child = live_child_of(kernel, caller, id)?;
    let c = kernel.processes.get_mut(&child).ok_or(ESRCH)?;
    match reg {
        0..=31 => c.hart.set_reg(reg as usize, value),
        HV_REG_PC => c.hart.pc = value,
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// hv_children(buf*, max) → count: writes the ids of the caller's live
/// children (in increasing order, at most `max`) to `buf`, through the one
/// guest-pointer choke point (uaccess::copy_out).
fn hv_children(
    kernel: &mut Kernel,
    machine: &mut Machine,
    caller: Pid,
    buf: u64,
    max: u64,
) -> HvResult {
    let ids: Vec<u8> = kernel
        .processes
        .values()
        .filter(|c| c.supervisor == Some(caller) && !c.is_zombie())
        .take(max.min(MAX_CHILDREN) as usize)
        .flat_map(|c| c.pid.0.to_le_bytes())
        .collect();
    let process = kernel.processes.get_mut(&caller).ok_or(ESRCH)?;
    uaccess::copy_out(machine, process, buf, &ids)?;
    Ok(ids.len() as u64 / 8)
}

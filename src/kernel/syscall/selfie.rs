//! selfie's ABI profile (abi/selfie.rs, docs/selfie.md): the calls of a
//! process whose ELF selfie wrote (or that `--abi selfie` names), as
//! selfie's emulator *mipster* handles them, so that selfie's hypervisor
//! *hypster* (`selfie -y`) runs on `sim` with `sim` in mipster's place.
//!
//! exit, read, write, openat and brk are the Linux calls of file.rs,
//! memory.rs and process.rs (selfie uses Linux's numbers). Any other call
//! ends the program with selfie's exit code 24, as mipster does. The one
//! call of its own is `switch(context, timeout)` (401), which a hypster
//! makes with a pointer to a machine context in *its own* memory:
//!
//! ```text
//! switch(vctxt, timeout) from context P
//!   cached: P's child made for vctxt before, or a new one (kernel mode, so
//!           that it may be a hypster itself; the name is vctxt's name)
//!   restore: pc and x0..x31 from vctxt; every page of vctxt's two-level
//!           page table in [lowest_lo, highest_lo) and [lowest_hi,
//!           highest_hi) maps to the frame behind P's page at the address
//!           the entry holds (P's memory, given away as with hv_map); then
//!           lowest_lo := highest_lo and highest_hi := lowest_hi (cached)
//!   run the child (a6 := who switched), its timer after `timeout`
//!   instructions (0: none); P waits in its ecall
//! the child's next exception (hypervisor/contexts.rs → selfie_return)
//!   save: pc, x0..x31, selfie's exception code and fault into vctxt
//!   P goes on after its ecall with a6 = vctxt (selfie's stub returns it)
//!   and without a timer (mipster's TIMEROFF)
//! ```
//!
//! The machine's timer at the end of the host's time slice does not reach
//! the hypster: the child goes on where it stopped when its root runs
//! again, as on mipster, where nothing else runs. A child's own `switch`
//! (a hypster in a hypster) is handled here too: its exceptions go to it,
//! not to the outer hypster, as selfie does.
//!
//! The rules of docs/hypervisor.md hold: `switch` is a hypervisor call
//! (U/K-3: from kernel mode only), its target is always the caller's own
//! child (U/K-4: contexts are found by the caller and the address), and a
//! program `sim` would load under a selfie hypster is refused (U/K-5:
//! selfie starts its contexts itself; simulator/mod.rs).

use super::{Ret, SysResult};
use crate::abi::selfie::{context, exception, EXITCODE_UNKNOWNSYSCALL, LEAF_ENTRIES, PAGES};
use crate::abi::selfie::{Profile, SELFIE_SWITCH, VIRTUAL_MEMORY_END};
use crate::abi::*;
use crate::emu::{Access, Exception, Machine, PteFlags, Reg, VirtPage, PAGE_SIZE};
use crate::kernel::process::{ExitStatus, Mode, Pid, Process};
use crate::kernel::{paging, uaccess, Kernel};

/// How many words of a machine context `switch` reads (fields 0..=20).
const CONTEXT_WORDS: u64 = context::NAME + 1;
/// Longest context name taken from a hypster's memory.
const MAX_NAME: usize = 128;

/// What `sim` keeps of a context that selfie's `switch` made: where its
/// machine context lies in its hypster's memory and what selfie's machine
/// needs to tell a page fault from a segmentation fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfieContext {
    /// The machine context's address in the hypster's memory.
    pub vctxt: u64,
    /// The registers' address in the hypster's memory (read at each switch).
    regs: u64,
    code: (u64, u64),
    data: (u64, u64),
    heap_start: u64,
    /// The program break as the hypster last set it.
    program_break: u64,
}

impl SelfieContext {
    /// selfie's exception code and fault for a fault at `vaddr` (selfie.c
    /// `do_load`, `do_store`, `fetch`): outside its 4 GiB an invalid
    /// address; in a segment (code for a fetch; data, heap or stack
    /// otherwise) a page fault on the page; elsewhere a segmentation fault.
    fn classify_fault(&self, vaddr: u64, access: Access, sp: u64) -> (u64, u64) {
        let within = |(start, size): (u64, u64)| vaddr >= start && vaddr - start < size;
        let in_segment = match access {
            Access::Execute => within(self.code),
            Access::Read | Access::Write => {
                within(self.data)
                    || (self.heap_start..self.program_break).contains(&vaddr)
                    || (sp..VIRTUAL_MEMORY_END).contains(&vaddr)
            }
        };
        if vaddr >= VIRTUAL_MEMORY_END {
            (exception::INVALID_ADDRESS, vaddr)
        } else if in_segment {
            (exception::PAGE_FAULT, vaddr / PAGE_SIZE)
        } else {
            (exception::SEGMENTATION_FAULT, vaddr)
        }
    }
}

/// selfie's exception code and fault for an exception of `child`.
fn selfie_exception(child: &Process, ctx: &SelfieContext, e: Exception) -> (u64, u64) {
    match e {
        Exception::Syscall => (exception::SYSCALL, child.hart.reg(Reg::A7.index())),
        Exception::Timer => (exception::TIMER, 0),
        Exception::PageFault { vaddr, access } => {
            ctx.classify_fault(vaddr, access, child.hart.reg(Reg::SP.index()))
        }
        Exception::DivisionByZero { pc } => (exception::DIVISION_BY_ZERO, pc),
        Exception::Misaligned { vaddr, .. } => (exception::INVALID_ADDRESS, vaddr),
        Exception::IllegalInstruction { pc, .. }
        | Exception::Breakpoint { pc }
        | Exception::PrivilegeViolation { pc, .. } => (exception::UNKNOWN_INSTRUCTION, pc),
    }
}

/// `count` words of guest memory at `vaddr`, through uaccess.
fn read_words(
    machine: &mut Machine,
    process: &mut Process,
    vaddr: u64,
    count: u64,
) -> Result<Vec<u64>, Errno> {
    let len = count.checked_mul(8).ok_or(EFAULT)?;
    let bytes = uaccess::copy_in(machine, process, vaddr, len)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
        .collect())
}

impl Kernel {
    /// The calls of a process under selfie's profile: the one selfie arm of
    /// `dispatch`.
    pub(super) fn sys_selfie(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        number: u64,
        a: &[u64; 6],
    ) -> SysResult {
        match number {
            SELFIE_SWITCH => self.sys_selfie_switch(machine, pid, a[0], a[1]),
            SYS_EXIT => self.sys_exit(machine, pid, a[0]),
            SYS_READ => self.sys_read(machine, pid, a[0], a[1], a[2]),
            SYS_WRITE => self.sys_write(machine, pid, a[0], a[1], a[2]),
            SYS_OPENAT => self.sys_openat(machine, pid, [a[0], a[1], a[2], a[3]]),
            SYS_BRK => self.sys_brk(machine, pid, a[0]),
            _ => {
                // mipster: "unknown system call", exit code 24.
                let name = self.name_of(pid);
                self.report(&format!(
                    "process {pid} ({name}): unknown system call {number} under selfie's ABI \
                     (exit, read, write, openat, brk and switch; --abi linux for the others)"
                ));
                self.exit(machine, pid, ExitStatus::Exited(EXITCODE_UNKNOWNSYSCALL));
                Ok(Ret::Exited)
            }
        }
    }

    /// How a program under `profile` is loaded as a context in `mode` under
    /// `supervisor`: a selfie program the host starts runs in kernel mode
    /// (on mipster every program may be a hypster of its own contexts);
    /// nothing is loaded under a selfie process (rule U/K-5: selfie starts
    /// its contexts itself and would never switch to it).
    ///
    /// # Errors
    /// `NotStartedBySelfie` for a supervisor under selfie's profile.
    pub fn selfie_placement(
        &self,
        profile: Profile,
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Result<Mode, crate::kernel::LoadError> {
        if let Some(s) = supervisor {
            if self
                .processes
                .get(s)
                .is_some_and(|p| p.profile == Profile::Selfie)
            {
                return Err(crate::kernel::LoadError::NotStartedBySelfie(s.0));
            }
        }
        Ok(match (profile, supervisor) {
            (Profile::Selfie, None) => Mode::Kernel,
            _ => mode,
        })
    }

    fn name_of(&self, pid: Pid) -> String {
        self.processes
            .get(pid)
            .map_or_else(String::new, |p| p.name.clone())
    }

    /// switch(vctxt, timeout): runs the caller's context at `vctxt` (made
    /// on first use) until its next exception, or for `timeout`
    /// instructions. A context the caller's memory does not describe ends
    /// the caller with a message: selfie's switch has no error result.
    fn sys_selfie_switch(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        vctxt: u64,
        timeout: u64,
    ) -> SysResult {
        let child = match self.selfie_child(caller, vctxt) {
            Some(child) => child,
            None => match self.new_selfie_child(machine, caller, vctxt) {
                Ok(child) => child,
                Err(why) => return self.selfie_switch_failed(machine, caller, vctxt, &why),
            },
        };
        if let Err(why) = self.selfie_restore(machine, caller, child) {
            return self.selfie_switch_failed(machine, caller, vctxt, &why);
        }
        // selfie.c do_switch: a6 of the context switched to names the
        // context switched from (its own machine context, if it has one).
        let from = self
            .processes
            .get(caller)
            .map_or(caller.0, |p| p.selfie.map_or(caller.0, |s| s.vctxt));
        let deadline = (timeout != 0).then(|| machine.instret().saturating_add(timeout));
        if let Some(c) = self.processes.get_mut(child) {
            c.hart.set_reg(Reg::A6.index(), from);
            c.pending = None;
            c.timer_deadline = deadline;
        }
        if let Some(p) = self.processes.get_mut(caller) {
            p.switched_to = Some(child);
            p.timer_deadline = None;
        }
        Ok(Ret::Switched(child))
    }

    /// Ends a hypster whose switch could not be done.
    fn selfie_switch_failed(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        vctxt: u64,
        why: &str,
    ) -> SysResult {
        self.kill(
            machine,
            caller,
            11,
            &format!("switch to the machine context at {vctxt:#x}: {why}"),
        );
        Ok(Ret::Exited)
    }

    /// The live child the caller's switch made for `vctxt`.
    fn selfie_child(&self, caller: Pid, vctxt: u64) -> Option<Pid> {
        self.processes
            .iter()
            .find(|c| {
                c.supervisor == Some(caller)
                    && !c.is_zombie()
                    && c.selfie.is_some_and(|s| s.vctxt == vctxt)
            })
            .map(|c| c.pid)
    }

    /// A new child of `caller` for the machine context at `vctxt`, within
    /// the limits `hv_create` has (its segments and name from `vctxt`, as
    /// selfie.c `init_context`).
    fn new_selfie_child(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        vctxt: u64,
    ) -> Result<Pid, String> {
        let parent = self.processes.get_mut(caller).ok_or("no caller")?;
        let words = read_words(machine, parent, vctxt, CONTEXT_WORDS)
            .map_err(|_| "the context is not in the caller's memory".to_string())?;
        let field = |f: u64| words[f as usize];
        let name = uaccess::read_c_string(machine, parent, field(context::NAME), MAX_NAME)
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .unwrap_or_else(|_| format!("{}:{vctxt:#x}", parent.name));
        let ctx = SelfieContext {
            vctxt,
            regs: field(context::REGS),
            code: (field(context::CODE_START), field(context::CODE_SIZE)),
            data: (field(context::DATA_START), field(context::DATA_SIZE)),
            heap_start: field(context::HEAP_START),
            program_break: field(context::PROGRAM_BREAK),
        };
        let Ok(Ret::Value(id)) = self.sys_hv_create(caller) else {
            return Err("no more contexts (--max-processes, --max-contexts)".into());
        };
        let child = Pid(id);
        let c = self.processes.get_mut(child).ok_or("no child")?;
        c.name = name;
        c.mode = Mode::Kernel;
        c.profile = Profile::Selfie;
        c.selfie = Some(ctx);
        Ok(child)
    }

    /// selfie.c `restore_context`: the child's pc, registers and newly
    /// mapped pages from its machine context in the caller's memory.
    fn selfie_restore(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        child: Pid,
    ) -> Result<(), String> {
        let unreadable = |_| "the context is not in the caller's memory".to_string();
        let mut ctx = self
            .processes
            .get(child)
            .and_then(|c| c.selfie)
            .ok_or("not a selfie context")?;
        let parent = self.processes.get_mut(caller).ok_or("no caller")?;
        let words = read_words(machine, parent, ctx.vctxt, CONTEXT_WORDS).map_err(unreadable)?;
        let field = |f: u64| words[f as usize];
        ctx.regs = field(context::REGS);
        ctx.program_break = field(context::PROGRAM_BREAK);
        let regs = read_words(machine, parent, ctx.regs, 32)
            .map_err(|_| "its registers are not in the caller's memory".to_string())?;
        let table = field(context::PAGE_TABLE);
        let lo = (
            field(context::LOWEST_LO_PAGE),
            field(context::HIGHEST_LO_PAGE),
        );
        let hi = (
            field(context::LOWEST_HI_PAGE),
            field(context::HIGHEST_HI_PAGE),
        );
        let mut pages = selfie_page_table(machine, parent, table, lo);
        pages.extend(selfie_page_table(machine, parent, table, hi));
        // The pages are cached now (selfie.c restore_context).
        uaccess::write_u64(
            machine,
            parent,
            ctx.vctxt + 8 * context::LOWEST_LO_PAGE,
            lo.1,
        )
        .and_then(|()| {
            uaccess::write_u64(
                machine,
                parent,
                ctx.vctxt + 8 * context::HIGHEST_HI_PAGE,
                hi.0,
            )
        })
        .map_err(unreadable)?;
        self.map_from_hypster(machine, caller, child, &pages)?;
        let c = self.processes.get_mut(child).ok_or("no child")?;
        c.hart.pc = field(context::PC);
        for (r, value) in regs.iter().enumerate().skip(1) {
            c.hart.set_reg(r, *value);
        }
        c.selfie = Some(ctx);
        Ok(())
    }

    /// Maps each `(child page, address in the caller's memory)` of `pages`
    /// to the frame behind the caller's page there, as `hv_map` does
    /// (reference-counted, so the frame lives while either maps it). Pages
    /// the caller has not mapped itself are left out, as selfie does.
    fn map_from_hypster(
        &mut self,
        machine: &mut Machine,
        caller: Pid,
        child: Pid,
        pages: &[(u64, u64)],
    ) -> Result<(), String> {
        for &(page, own) in pages {
            if !own.is_multiple_of(PAGE_SIZE) {
                return Err(format!(
                    "its page table maps page {page:#x} to {own:#x}, which is not page-aligned"
                ));
            }
            let parent = self.processes.get_mut(caller).ok_or("no caller")?;
            let own_page = VirtPage::containing(own);
            if parent.page_table.get(own_page).is_none() {
                // A page of the hypster's heap it has not touched yet.
                let _ = paging::back_on_demand(machine, parent, own);
            }
            let Some(pte) = parent.page_table.get(own_page) else {
                continue;
            };
            if self.shared.sharing_at(caller, own_page).is_some() {
                return Err(format!("page {own:#x} of the caller is shared memory"));
            }
            let c = self.processes.get_mut(child).ok_or("no child")?;
            let at = VirtPage::containing(page * PAGE_SIZE);
            match c.page_table.get(at) {
                Some(old) if old.frame == pte.frame => continue,
                Some(_) => {
                    if let Some(old) = c.page_table.unmap(at) {
                        machine.memory_mut().free(old.frame);
                    }
                }
                None if !paging::has_room(c, 1) => {
                    return Err(format!(
                        "more than {} pages mapped (--max-mapped-pages)",
                        c.max_mapped_pages
                    ));
                }
                None => {}
            }
            // selfie's pages are readable, writable and executable; its
            // machine checks segments, not page permissions.
            let flags = PteFlags::VALID
                | PteFlags::USER
                | PteFlags::READ
                | PteFlags::WRITE
                | PteFlags::EXECUTE;
            machine.memory_mut().share(pte.frame);
            c.page_table.map(at, pte.frame, PteFlags(flags));
            c.note_peak_pages();
        }
        Ok(())
    }

    /// selfie.c `save_context` for the exception `e` of `child`, a context
    /// selfie's switch made: its pc, registers, exception and fault go
    /// into its machine context in `supervisor`'s memory, and the
    /// supervisor's switch returns (a6 = the machine context's address).
    /// Called by hypervisor/contexts.rs instead of `hv_switch`'s return.
    pub fn selfie_return(
        &mut self,
        machine: &mut Machine,
        child: Pid,
        supervisor: Pid,
        e: Exception,
    ) {
        let Some(c) = self.processes.get_mut(child) else {
            return;
        };
        let Some(ctx) = c.selfie else {
            return;
        };
        let (code, fault) = selfie_exception(c, &ctx, e);
        c.stats.exceptions.add(e);
        c.pending = Some(e);
        c.timer_deadline = None;
        let pc = c.hart.pc;
        let regs: Vec<u8> = (0..32).flat_map(|r| c.hart.reg(r).to_le_bytes()).collect();
        let Some(s) = self.processes.get_mut(supervisor) else {
            return;
        };
        let at = |f: u64| ctx.vctxt + 8 * f;
        let saved = uaccess::write_u64(machine, s, at(context::PC), pc)
            .and_then(|()| uaccess::copy_out(machine, s, ctx.regs, &regs))
            .and_then(|()| uaccess::write_u64(machine, s, at(context::EXCEPTION), code))
            .and_then(|()| uaccess::write_u64(machine, s, at(context::FAULT), fault));
        s.switched_to = None;
        s.timer_deadline = None;
        s.hart.set_reg(Reg::A6.index(), ctx.vctxt);
        super::finish(&mut s.hart, ctx.vctxt);
        if saved.is_err() {
            self.kill(
                machine,
                supervisor,
                11,
                &format!(
                    "the machine context at {:#x} of its child {child} is no longer in its memory",
                    ctx.vctxt
                ),
            );
        }
    }
}

/// The entries of selfie's two-level page table at `table` (in `parent`'s
/// memory) for the pages in `[range.0, range.1)`: `(page, frame address)`
/// for each one mapped. Parts of the table the parent has not mapped map
/// nothing (selfie.c `cache_page_table` skips them too).
fn selfie_page_table(
    machine: &mut Machine,
    parent: &mut Process,
    table: u64,
    range: (u64, u64),
) -> Vec<(u64, u64)> {
    let (lo, hi) = (range.0.min(PAGES), range.1.min(PAGES));
    let mut out = Vec::new();
    let mut page = lo;
    while page < hi {
        let root_entry = page / LEAF_ENTRIES;
        let leaf_end = ((root_entry + 1) * LEAF_ENTRIES).min(hi);
        let leaf = table
            .checked_add(8 * root_entry)
            .and_then(|pde| uaccess::read_u64(machine, parent, pde).ok())
            .unwrap_or(0);
        if leaf != 0 {
            let first = page % LEAF_ENTRIES;
            let count = leaf_end - page;
            if let Ok(entries) = read_words(machine, parent, leaf.wrapping_add(8 * first), count) {
                out.extend(
                    entries
                        .iter()
                        .zip(page..)
                        .filter(|(&frame, _)| frame != 0)
                        .map(|(&frame, page)| (page, frame)),
                );
            }
        }
        page = leaf_end;
    }
    out
}

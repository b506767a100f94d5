//! Linux signals: dispositions, the blocked mask, pending signals, default
//! actions and user handlers with the RISC-V Linux signal frame
//! (signal(7), arch/riscv/kernel/signal.c's layout).
//!
//! ```text
//! raise: kill/tgkill/tkill (syscall/signal.rs), a fault (Kernel::handle)
//!   └ Kernel::send(pid, sig, info)
//!       ignored (SIG_IGN, or default "ignore")  → dropped
//!       blocked                                  → pending until unblocked
//!       default action terminate/core            → exit_by_signal
//!       user handler                             → pending; delivered by
//!         deliver_pending when the process next returns to user mode
//!         (after its syscall, or at once for a fault):
//!           frame on the user stack: siginfo (128 bytes) + ucontext with
//!           the registers, FP state and the mask to restore
//!           a0 = sig, a1 = &siginfo, a2 = &ucontext, ra = trampoline,
//!           pc = handler, mask |= sa_mask (| sig unless SA_NODEFER)
//! rt_sigreturn (the trampoline's ecall): registers and mask from the frame
//! ```
//!
//! The trampoline is one page sim maps read+execute at `TRAMPOLINE` the
//! first time a handler runs (Linux uses the vDSO's `__vdso_rt_sigreturn`,
//! qemu a page of its own: the guest cannot tell the difference).
//!
//! Not modelled: stopping and continuing (SIGSTOP, SIGTSTP, SIGCONT act as
//! "ignore"), core files (the status never has the core bit: as Linux with
//! `ulimit -c 0`), sigaltstack (accepted, not used), real-time signal
//! queues (a pending signal is one bit).

use super::process::{Pid, Process};
use super::uaccess::{copy_in, copy_out};
use super::Kernel;
use crate::abi::layout::STACK_BOTTOM;
use crate::abi::{Errno, EFAULT, ENOMEM};
use crate::emu::{Exception, Machine, PteFlags, Reg, VirtPage, PAGE_SIZE};

pub const SIGHUP: u64 = 1;
pub const SIGINT: u64 = 2;
pub const SIGQUIT: u64 = 3;
pub const SIGILL: u64 = 4;
pub const SIGTRAP: u64 = 5;
pub const SIGABRT: u64 = 6;
pub const SIGBUS: u64 = 7;
pub const SIGFPE: u64 = 8;
pub const SIGKILL: u64 = 9;
pub const SIGUSR1: u64 = 10;
pub const SIGSEGV: u64 = 11;
pub const SIGUSR2: u64 = 12;
pub const SIGPIPE: u64 = 13;
pub const SIGALRM: u64 = 14;
pub const SIGTERM: u64 = 15;
pub const SIGCHLD: u64 = 17;
pub const SIGCONT: u64 = 18;
pub const SIGSTOP: u64 = 19;
pub const SIGTSTP: u64 = 20;
pub const SIGURG: u64 = 23;
pub const SIGWINCH: u64 = 28;
/// Signals are 1..=64.
pub const NSIG: u64 = 64;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_SIGINFO: u64 = 4;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// `si_code` values: sent by kill (SI_USER), by tkill/tgkill (SI_TKILL),
/// and the fault codes.
pub const SI_USER: i32 = 0;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
pub const ILL_ILLOPC: i32 = 1;
pub const TRAP_BRKPT: i32 = 1;
pub const FPE_INTDIV: i32 = 1;

/// Where the `rt_sigreturn` trampoline page goes: just below the stack's
/// lowest page, where nothing else is placed (abi/layout.rs).
pub const TRAMPOLINE: u64 = STACK_BOTTOM - 2 * PAGE_SIZE;

/// The trampoline's code: `li a7, 139; ecall` (rt_sigreturn).
const TRAMPOLINE_CODE: [u32; 2] = [0x08b0_0893, 0x0000_0073];

/// One signal's disposition (Linux's `struct sigaction` for riscv64:
/// handler, flags, mask — 24 bytes, no restorer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub mask: u64,
}

/// The signal state of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signals {
    /// Indexed by signal number - 1.
    pub actions: [SigAction; NSIG as usize],
    /// Blocked signals: bit `sig - 1`.
    pub blocked: u64,
    /// Pending signals: bit `sig - 1`, with the siginfo of each.
    pub pending: u64,
    pub info: [SigInfo; NSIG as usize],
}

impl Default for Signals {
    fn default() -> Signals {
        Signals {
            actions: [SigAction::default(); NSIG as usize],
            blocked: 0,
            pending: 0,
            info: [SigInfo::default(); NSIG as usize],
        }
    }
}

/// What a handler with `SA_SIGINFO` learns about a signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub code: i32,
    /// The sender (kill), or 0.
    pub pid: u64,
    pub uid: u64,
    /// The faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub addr: u64,
}

/// What a signal does when its disposition is `SIG_DFL` (signal(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate and dump core (sim writes no core file).
    Core,
    Ignore,
}

/// The default action of `sig`.
pub fn default_action(sig: u64) -> DefaultAction {
    match sig {
        SIGCHLD | SIGCONT | SIGURG | SIGWINCH => DefaultAction::Ignore,
        // Stopping is not modelled (module doc): these do nothing.
        SIGSTOP | SIGTSTP | 21 | 22 => DefaultAction::Ignore,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | 24 | 25 | 31 => {
            DefaultAction::Core
        }
        _ => DefaultAction::Terminate,
    }
}

/// The name of `sig` as strsignal(3) describes it, for messages.
pub fn describe(sig: u64) -> &'static str {
    match sig {
        SIGHUP => "SIGHUP (Hangup)",
        SIGINT => "SIGINT (Interrupt)",
        SIGQUIT => "SIGQUIT (Quit)",
        SIGILL => "SIGILL (Illegal instruction)",
        SIGTRAP => "SIGTRAP (Trace/breakpoint trap)",
        SIGABRT => "SIGABRT (Aborted)",
        SIGBUS => "SIGBUS (Bus error)",
        SIGFPE => "SIGFPE (Floating point exception)",
        SIGKILL => "SIGKILL (Killed)",
        SIGUSR1 => "SIGUSR1 (User defined signal 1)",
        SIGSEGV => "SIGSEGV (Segmentation fault)",
        SIGUSR2 => "SIGUSR2 (User defined signal 2)",
        SIGPIPE => "SIGPIPE (Broken pipe)",
        SIGALRM => "SIGALRM (Alarm clock)",
        SIGTERM => "SIGTERM (Terminated)",
        _ => "a signal",
    }
}

fn bit(sig: u64) -> u64 {
    1 << (sig - 1)
}

/// Signals that can be neither caught, blocked nor ignored.
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

impl Signals {
    /// The disposition of `sig` (1..=64).
    pub fn action(&self, sig: u64) -> SigAction {
        self.actions[(sig - 1) as usize]
    }

    /// Sets the blocked mask (SIGKILL and SIGSTOP stay unblocked).
    pub fn set_blocked(&mut self, mask: u64) {
        self.blocked = mask & !UNBLOCKABLE;
    }

    /// Whether `sig` would be dropped if sent now.
    fn ignores(&self, sig: u64) -> bool {
        let action = self.action(sig);
        action.handler == SIG_IGN
            || (action.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
    }

    /// The lowest pending signal that is not blocked.
    fn next_deliverable(&self) -> Option<u64> {
        let ready = self.pending & !self.blocked;
        (ready != 0).then(|| u64::from(ready.trailing_zeros()) + 1)
    }

    /// After `execve` or for a new program: handlers reset to default
    /// (ignored stay ignored), mask kept. (sim has no execve yet.)
    pub fn reset_handlers(&mut self) {
        for action in &mut self.actions {
            if action.handler != SIG_IGN {
                *action = SigAction::default();
            }
        }
    }
}

/// Byte offsets of the signal frame (arch/riscv/include/uapi/asm/ucontext.h
/// and sigcontext.h): `struct rt_sigframe { siginfo_t info; ucontext uc; }`.
mod frame {
    pub const SIGINFO_SIZE: u64 = 128;
    /// In the ucontext: uc_flags 0, uc_link 8, uc_stack 16 (24 bytes),
    /// uc_sigmask 40, reserved up to 168, uc_mcontext (16-aligned) 176.
    pub const UC_SIGMASK: u64 = 40;
    pub const UC_MCONTEXT: u64 = 176;
    /// sc_regs: pc, then x1..x31 (256 bytes); sc_fpregs: f0..f31, fcsr,
    /// within the 528-byte union of the Q-extension state.
    pub const SC_FPREGS: u64 = UC_MCONTEXT + 256;
    pub const UCONTEXT_SIZE: u64 = SC_FPREGS + 528;
    pub const FRAME_SIZE: u64 = SIGINFO_SIZE + UCONTEXT_SIZE;
}

impl Kernel {
    /// Sends `sig` to `pid`: dropped when ignored, made pending otherwise;
    /// the default action "terminate" of an unblocked signal happens at
    /// once (as it would when the target next ran). Returns whether the
    /// process ended.
    pub(crate) fn send_signal(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        sig: u64,
        info: SigInfo,
    ) -> bool {
        let Some(process) = self.processes.get_mut(pid) else {
            return false;
        };
        if process.is_zombie() || !(1..=NSIG).contains(&sig) {
            return false;
        }
        let signals = &mut process.signals;
        if sig != SIGKILL && signals.ignores(sig) {
            return false;
        }
        let blocked = signals.blocked & bit(sig) != 0;
        if sig == SIGKILL || (!blocked && signals.action(sig).handler == SIG_DFL) {
            self.die_of_signal(machine, pid, sig, &format!("{} sent", describe(sig)));
            return true;
        }
        signals.pending |= bit(sig);
        signals.info[(sig - 1) as usize] = info;
        if !blocked {
            // A sleeping target wakes to take it (its call runs again
            // after the handler; sim does not interrupt calls with EINTR).
            if matches!(process.state, super::ProcessState::Blocked(_)) {
                self.make_ready(pid);
            }
        }
        false
    }

    /// Ends `pid` by `sig`: the status wait4 reports is the signal (and a
    /// shell's exit code 128 + sig). The one place that prints why a
    /// process died of a signal.
    pub(crate) fn die_of_signal(&mut self, machine: &mut Machine, pid: Pid, sig: u64, why: &str) {
        self.kill(machine, pid, sig as u8, why);
    }

    /// A fault of `pid` raised `sig`: its handler runs (the faulting
    /// instruction is the pc saved in the frame), or — blocked, ignored or
    /// default — the process dies, as Linux forces a synchronous signal.
    /// Returns whether a handler was set up.
    pub(crate) fn fault_signal(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        sig: u64,
        info: SigInfo,
    ) -> bool {
        let Some(process) = self.processes.get_mut(pid) else {
            return false;
        };
        let action = process.signals.action(sig);
        if action.handler <= SIG_IGN || process.signals.blocked & bit(sig) != 0 {
            return false;
        }
        self.run_handler(machine, pid, sig, info).is_ok()
    }

    /// Delivers the lowest pending, unblocked signal of `pid`, if any: its
    /// handler is set up to run next. Called when `pid` returns from a
    /// call to user mode.
    pub(crate) fn deliver_pending(&mut self, machine: &mut Machine, pid: Pid) {
        let Some(process) = self.processes.get_mut(pid) else {
            return;
        };
        if process.is_zombie() {
            return;
        }
        let Some(sig) = process.signals.next_deliverable() else {
            return;
        };
        process.signals.pending &= !bit(sig);
        let info = process.signals.info[(sig - 1) as usize];
        let action = process.signals.action(sig);
        if action.handler == SIG_IGN {
            return;
        }
        if action.handler == SIG_DFL {
            if default_action(sig) != DefaultAction::Ignore {
                self.die_of_signal(machine, pid, sig, &format!("{} sent", describe(sig)));
            }
            return;
        }
        if self.run_handler(machine, pid, sig, info).is_err() {
            // Linux: a frame that cannot be written kills with SIGSEGV.
            self.die_of_signal(
                machine,
                pid,
                SIGSEGV,
                &format!(
                    "SIGSEGV: no room on the stack for the frame of {}",
                    describe(sig)
                ),
            );
        }
    }

    /// Writes the signal frame below the stack pointer and points the
    /// registers at the handler.
    fn run_handler(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        sig: u64,
        info: SigInfo,
    ) -> Result<(), Errno> {
        let process = self.processes.get_mut(pid).ok_or(EFAULT)?;
        map_trampoline(machine, process)?;
        let action = process.signals.action(sig);
        let hart = &process.hart;
        let sp = hart.reg(Reg::SP.index());
        // Below the red zone-free RISC-V stack, 16-byte aligned.
        let frame_at = (sp.wrapping_sub(frame::FRAME_SIZE)) & !15;
        let mut bytes = vec![0u8; frame::FRAME_SIZE as usize];
        let put = |bytes: &mut Vec<u8>, at: u64, value: &[u8]| {
            bytes[at as usize..at as usize + value.len()].copy_from_slice(value);
        };
        // siginfo: si_signo, si_errno, si_code, then the union.
        put(&mut bytes, 0, &(sig as i32).to_le_bytes());
        put(&mut bytes, 8, &info.code.to_le_bytes());
        if info.addr != 0 {
            put(&mut bytes, 16, &info.addr.to_le_bytes());
        } else {
            put(&mut bytes, 16, &(info.pid as u32).to_le_bytes());
            put(&mut bytes, 20, &(info.uid as u32).to_le_bytes());
        }
        let uc = frame::SIGINFO_SIZE;
        put(
            &mut bytes,
            uc + frame::UC_SIGMASK,
            &process.signals.blocked.to_le_bytes(),
        );
        let regs = uc + frame::UC_MCONTEXT;
        put(&mut bytes, regs, &hart.pc.to_le_bytes());
        for r in 1..32 {
            put(&mut bytes, regs + 8 * r as u64, &hart.reg(r).to_le_bytes());
        }
        let fp = uc + frame::SC_FPREGS;
        for r in 0..32 {
            put(&mut bytes, fp + 8 * r as u64, &hart.fp_reg(r).to_le_bytes());
        }
        put(&mut bytes, fp + 256, &hart.fcsr.to_le_bytes());
        copy_out(machine, process, frame_at, &bytes)?;
        let hart = &mut process.hart;
        hart.set_reg(Reg::A0.index(), sig);
        hart.set_reg(Reg::A1.index(), frame_at);
        hart.set_reg(Reg::A2.index(), frame_at + uc);
        hart.set_reg(Reg::RA.index(), TRAMPOLINE);
        hart.set_reg(Reg::SP.index(), frame_at);
        hart.pc = action.handler;
        let signals = &mut process.signals;
        let mut mask = signals.blocked | action.mask;
        if action.flags & SA_NODEFER == 0 {
            mask |= bit(sig);
        }
        signals.set_blocked(mask);
        if action.flags & SA_RESETHAND != 0 {
            signals.actions[(sig - 1) as usize] = SigAction::default();
        }
        Ok(())
    }

    /// rt_sigreturn: the registers, FP state and mask saved in the frame
    /// at the stack pointer come back.
    pub(crate) fn sigreturn(&mut self, machine: &mut Machine, pid: Pid) -> Result<(), Errno> {
        let process = self.processes.get_mut(pid).ok_or(EFAULT)?;
        let frame_at = process.hart.reg(Reg::SP.index());
        let bytes = copy_in(machine, process, frame_at, frame::FRAME_SIZE)?;
        let word = |at: u64| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at as usize..at as usize + 8]);
            u64::from_le_bytes(w)
        };
        let uc = frame::SIGINFO_SIZE;
        let regs = uc + frame::UC_MCONTEXT;
        let fp = uc + frame::SC_FPREGS;
        let hart = &mut process.hart;
        hart.pc = word(regs);
        for r in 1..32 {
            hart.set_reg(r, word(regs + 8 * r as u64));
        }
        for r in 0..32 {
            hart.set_fp_reg(r, word(fp + 8 * r as u64));
        }
        hart.fcsr = (word(fp + 256) & 0xff) as u32;
        process.signals.set_blocked(word(uc + frame::UC_SIGMASK));
        Ok(())
    }
}

/// Maps the trampoline page (module doc) if it is not mapped yet.
fn map_trampoline(machine: &mut Machine, process: &mut Process) -> Result<(), Errno> {
    let page = VirtPage::containing(TRAMPOLINE);
    if process.page_table.get(page).is_some() {
        return Ok(());
    }
    let frame = machine.memory_mut().alloc().ok_or(ENOMEM)?;
    let bytes = machine.memory_mut().frame_bytes_mut(frame);
    for (i, word) in TRAMPOLINE_CODE.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes());
    }
    process.page_table.map(
        page,
        frame,
        PteFlags(PteFlags::USER | PteFlags::READ | PteFlags::EXECUTE),
    );
    Ok(())
}

/// What a handler learns about the fault `exception` (si_code, si_addr).
pub fn fault_info(exception: Exception) -> SigInfo {
    let (code, addr) = match exception {
        Exception::PageFault { vaddr, .. } => (SEGV_MAPERR, vaddr),
        Exception::Misaligned { vaddr, .. } => (BUS_ADRALN, vaddr),
        Exception::IllegalInstruction { pc, .. } => (ILL_ILLOPC, pc),
        Exception::DivisionByZero { pc } => (FPE_INTDIV, pc),
        Exception::Breakpoint { pc } => (TRAP_BRKPT, pc),
        _ => (SI_USER, 0),
    };
    SigInfo {
        code,
        pid: 0,
        uid: 0,
        addr,
    }
}

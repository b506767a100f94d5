//! The machine: runs one context until it raises an exception (rule U/K-1).
//!
//! Control flow of `Machine::run`:
//!
//! ```text
//! run(hart, page table, context, stop_at)
//!   └─ loop
//!        ├─ sync_caches: swap in or flush TLB + jump cache if another
//!        │  context or page-table generation; drop blocks of frames written
//!        │  since last time (self-modifying code, frames reloaded by the
//!        │  kernel)
//!        └─ run_blocks, the run loop proper:
//!             loop
//!               ├─ instret == stop_at      → Exception::Timer
//!               ├─ find the block for pc   (jump cache → block cache → decode)
//!               │    a fetch fault         → Exception::PageFault{Execute}
//!               │    an odd pc             → Exception::Misaligned{Execute}
//!               ├─ instret += block length (counted per block, not per op)
//!               └─ run its ops (exec.rs)   → next pc / exception /
//!                  and the blocks they       a store wrote code: back to sync
//!                  chain to, for at most
//!                  TRIP_INSTRUCTIONS
//! ```
//!
//! The handlers carry the budget of instructions left in the trip from one
//! to the next in a register and charge each block they chain to whole;
//! when they come back, the count is where the budget ended
//! (`stop_at - budget`), less the instructions of the block that stopped
//! from the stopping op on (`Exec::retired_before`).
//!
//! A faulting instruction has no effect: `hart.pc` points at it and
//! `instret` does not count it.
//!
//! ## Who holds what during a run
//!
//! `run_blocks` splits the machine into parts, so that no part is reached
//! twice: the bus (bus.rs) borrows the memory, the TLB, the page table and
//! the reservation mutably for the slow paths; `Exec` (op.rs), which every
//! handler gets, owns the bus and copies of the TLB's and jump cache's
//! owning pointers for the fast paths; the block cache stays with the loop.
//! There is no pointer to the whole `Machine`, so no handler can make a
//! second `&mut` to anything. The copied pointers stay valid because those
//! caches' entries are only ever accessed through their owning raw pointers
//! (entries.rs), and the caches are swapped (`switch_caches`) only in
//! `sync_caches`, before the next `Exec` is made with fresh copies.

use super::block::{BlockCache, JumpCache, Lowering};
use super::bus::Bus;
use super::exception::Exception;
use super::exec_fp::Fpu;
use super::memory::PhysMemory;
use super::mmu::{PageTable, Tlb};
use super::op::{Exec, Stop, STOPPED};

/// Most instructions one trip from the run loop through the handlers runs
/// before it comes back (`Exec::stop_at`). Handlers call each other in
/// tail position; an optimised build turns those calls into jumps, an
/// unoptimised one does not, and then every op run and every block
/// chained adds a stack frame (of some hundred bytes there) until the
/// trip ends. Each block has at least one instruction, so this bounds the
/// depth at about twice as many frames as it has instructions: 256 keeps
/// an unoptimised build well inside a test thread's 2 MiB stack. Coming
/// back to the run loop costs a few dozen host instructions, nothing
/// against 4096 guest instructions in an optimised build.
const TRIP_INSTRUCTIONS: u64 = if cfg!(debug_assertions) { 256 } else { 4096 };

/// The registers and pc of one context: everything a context switch saves
/// and a fork copies.
///
/// `regs[0]` is `x0` and stays zero; `regs[32]` is the write sink that
/// instructions with destination `x0` write to (see op.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hart {
    pub regs: [u64; 33],
    pub pc: u64,
    /// The floating-point registers `f0`..`f31` (F and D), 64 bits each; a
    /// single-precision value is NaN-boxed (upper 32 bits all ones).
    pub f: [u64; 32],
    /// `fcsr`: the rounding mode `frm` in bits 7:5, the accrued exception
    /// flags `fflags` (NV DZ OF UF NX) in bits 4:0.
    pub fcsr: u32,
}

impl Default for Hart {
    fn default() -> Hart {
        Hart {
            regs: [0; 33],
            pc: 0,
            f: [0; 32],
            fcsr: 0,
        }
    }
}

impl Hart {
    /// Register `x<i>` (`i` < 32).
    pub fn reg(&self, i: usize) -> u64 {
        if i == 0 {
            0
        } else {
            self.regs[i & 31]
        }
    }

    /// Sets `x<i>`; writes to `x0` are ignored.
    pub fn set_reg(&mut self, i: usize, value: u64) {
        if i != 0 {
            self.regs[i & 31] = value;
        }
    }

    /// Floating-point register `f<i>` (`i` < 32), its 64 bits as they are.
    pub fn fp_reg(&self, i: usize) -> u64 {
        self.f[i & 31]
    }

    /// Sets `f<i>` to raw bits (NaN-box a single yourself:
    /// `0xffff_ffff_0000_0000 | bits`).
    pub fn set_fp_reg(&mut self, i: usize, bits: u64) {
        self.f[i & 31] = bits;
    }

    /// Every register as text, for dumps: pc, the non-zero integer
    /// registers, the non-zero floating-point registers with their value
    /// (as a single when NaN-boxed, else as a double), and `fcsr` when not
    /// zero.
    pub fn dump(&self) -> String {
        use super::instruction::{FReg, Reg};
        use std::fmt::Write;
        let mut out = format!("pc={:#x}", self.pc);
        for i in 1..32 {
            if self.regs[i] != 0 {
                let _ = write!(out, " {}={:#x}", Reg(i as u8), self.regs[i]);
            }
        }
        for i in 0..32 {
            if self.f[i] != 0 {
                let _ = write!(out, " {}={}", FReg(i as u8), fp_text(self.f[i]));
            }
        }
        if self.fcsr != 0 {
            let _ = write!(out, " fcsr={:#x}", self.fcsr);
        }
        out
    }
}

/// A floating-point register's bits and what they hold: `0x3ff0000000000000
/// (1)`, or for a NaN-boxed single `0xffffffff3fc00000 (1.5f)`.
pub fn fp_text(bits: u64) -> String {
    if bits >> 32 == 0xffff_ffff {
        format!("{bits:#x} ({}f)", f32::from_bits(bits as u32))
    } else {
        format!("{bits:#x} ({})", f64::from_bits(bits))
    }
}

/// Identifies whose translations the TLB holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct TlbOwner {
    context: u64,
    generation: u64,
}

/// Caches set aside for one other context (see `Machine::switch_caches`).
struct CacheStash {
    /// Whose translations they are; `None`: nobody's, the caches are spare.
    owner: Option<TlbOwner>,
    /// `BlockCache::removals` when they were set aside: a block removed
    /// since may be pointed to by the stashed jump cache, which is then
    /// dropped.
    removals: u64,
    /// `PhysMemory::code_marks` when they were set aside: a frame that
    /// started holding code since may have a write tag in the stashed TLB,
    /// whose write tags are then dropped.
    code_marks: u64,
    tlb: Tlb,
    jump_cache: JumpCache,
}

/// The hardware: physical memory, TLB, block cache and the instruction
/// counter.
pub struct Machine {
    pub(crate) memory: PhysMemory,
    tlb: Tlb,
    blocks: BlockCache,
    tlb_owner: Option<TlbOwner>,
    /// `PhysMemory::id` of the memory the TLB's host pointers point into.
    tlb_memory: u64,
    /// The TLB and jump cache of the context that ran before the current
    /// one, kept so that a switch back (a guest kernel and its child take
    /// turns on every exception) swaps them in instead of flushing.
    stash: Option<CacheStash>,
    /// Instructions retired by all contexts since the machine started.
    pub(crate) instret: u64,
    /// Reservation of `lr` (physical address), cleared by any `sc` and on a
    /// switch of context.
    reservation: Option<u64>,
}

/// How `run_blocks` ended.
enum Leave {
    /// An exception at `pc` (its instruction did not retire).
    Exception(Exception, u64),
    /// A store wrote decoded code; the run goes on at `pc`, after the store,
    /// once the stale blocks are dropped.
    CodeWritten(u64),
}

impl Machine {
    /// A machine with `megabytes` MiB of physical memory.
    pub fn new(megabytes: u64) -> Machine {
        Machine::with_memory(PhysMemory::new(megabytes))
    }

    /// A machine with `megabytes` MiB of physical memory.
    ///
    /// # Errors
    /// When the host cannot provide that much memory.
    pub fn try_new(megabytes: u64) -> Result<Machine, String> {
        PhysMemory::try_new(megabytes).map(Machine::with_memory)
    }

    fn with_memory(memory: PhysMemory) -> Machine {
        Machine {
            tlb_memory: memory.id(),
            memory,
            tlb: Tlb::new(),
            blocks: BlockCache::new(),
            tlb_owner: None,
            stash: None,
            instret: 0,
            reservation: None,
        }
    }

    /// Physical memory.
    pub fn memory(&self) -> &PhysMemory {
        &self.memory
    }

    /// Physical memory, for the kernel (frame allocation, copies).
    pub fn memory_mut(&mut self) -> &mut PhysMemory {
        &mut self.memory
    }

    /// Instructions retired so far by all contexts.
    pub fn instret(&self) -> u64 {
        self.instret
    }

    /// Changes how instructions are lowered (selfie's semantics where they
    /// differ from RISC-V's); blocks decoded the old way are dropped.
    pub fn set_lowering(&mut self, lowering: Lowering) {
        self.blocks.set_lowering(lowering);
    }

    /// Blocks compiled to host code by the JIT tier so far.
    pub fn compiled_blocks(&self) -> u64 {
        self.blocks.compiled()
    }

    /// Direct jumps between compiled blocks that are linked now (jit/mod.rs:
    /// a jump to a block on the same page goes straight to its code once
    /// both are compiled); 0 without the JIT. For tests: a conditional
    /// jump the JIT failed to link still runs right, through the jump
    /// cache, only slower.
    pub fn linked_jumps(&self) -> usize {
        self.blocks.linked_jumps()
    }

    /// Loads' wrong guesses of their TLB addends in the JIT's code
    /// (jit/x86_64.rs, `Predictions`); 0 without the JIT. For tests: a
    /// wrong guess is caught and costs time only.
    pub fn wrong_guesses(&self) -> u64 {
        self.blocks.wrong_guesses()
    }

    /// Number of blocks in the decoded-code cache.
    pub fn cached_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Forgets all cached translations, e.g. after the kernel changed a page
    /// table in a way the generation does not show.
    pub fn flush_tlb(&mut self) {
        self.tlb.flush();
        self.blocks.jump_cache.flush();
        self.tlb_owner = None;
        if let Some(stash) = &mut self.stash {
            stash.owner = None;
        }
    }

    /// Makes the TLB and jump cache `owner`'s: swaps in the stashed ones if
    /// they are `owner`'s and still valid, else starts empty; the outgoing
    /// context's caches go to the stash. Page-table generations are part of
    /// the owner, so a page table changed since is never served stale
    /// translations; frames stay allocated while any page table maps them.
    fn switch_caches(&mut self, owner: TlbOwner) {
        let removals = self.blocks.removals;
        let code_marks = self.memory.code_marks();
        let mut stash = self.stash.take().unwrap_or_else(|| CacheStash {
            owner: None,
            removals,
            code_marks,
            tlb: Tlb::new(),
            jump_cache: JumpCache::new(),
        });
        let hit = stash.owner == Some(owner) && stash.removals == removals;
        std::mem::swap(&mut self.tlb, &mut stash.tlb);
        std::mem::swap(&mut self.blocks.jump_cache, &mut stash.jump_cache);
        if !hit {
            self.tlb.flush();
            self.blocks.jump_cache.flush();
        } else if stash.code_marks != code_marks {
            // Frames became code while these were set aside (`Bus::mark_code`
            // only reached the TLB in use then).
            self.tlb.forbid_writes();
        }
        stash.owner = self.tlb_owner;
        stash.removals = removals;
        stash.code_marks = code_marks;
        self.stash = Some(stash);
        self.tlb_owner = Some(owner);
    }

    fn sync_caches(&mut self, page_table: &PageTable, context: u64) {
        if self.memory.id() != self.tlb_memory {
            // Another `PhysMemory` was put in (through `memory_mut`): every
            // host pointer the TLBs hold points into the old one.
            self.flush_tlb();
            self.tlb_memory = self.memory.id();
        }
        let owner = TlbOwner {
            context,
            generation: page_table.generation(),
        };
        if self.tlb_owner != Some(owner) {
            self.switch_caches(owner);
            self.reservation = None;
        }
        if self.memory.has_stale_code() {
            for frame in self.memory.take_stale_code() {
                self.blocks.invalidate_frame(frame);
            }
            self.blocks.jump_cache.flush();
        }
    }

    /// Runs the context (`hart` with `page_table`, identified by `context`,
    /// a number unique to it) until an exception, or until the machine's
    /// instruction counter reaches `stop_at` (then `Exception::Timer`).
    pub fn run(
        &mut self,
        hart: &mut Hart,
        page_table: &mut PageTable,
        context: u64,
        stop_at: u64,
    ) -> Exception {
        let mut pc = hart.pc;
        loop {
            self.sync_caches(page_table, context);
            let fpu = Fpu {
                f: &mut hart.f,
                fcsr: &mut hart.fcsr,
            };
            match self.run_blocks(&mut hart.regs, fpu, page_table, pc, stop_at) {
                Leave::Exception(exception, at) => {
                    hart.pc = at;
                    return exception;
                }
                // The store retired; its block may be stale: drop the stale
                // blocks (`sync_caches`) and go on after the store.
                Leave::CodeWritten(next) => pc = next,
            }
        }
    }

    /// The run loop proper: runs blocks from `pc` until an exception or a
    /// store to decoded code. Counts the instructions retired in
    /// `self.instret`. How it splits the machine between the handlers and
    /// itself: "Who holds what during a run" in the module doc.
    fn run_blocks(
        &mut self,
        regs: &mut [u64; 33],
        fpu: Fpu<'_>,
        page_table: &mut PageTable,
        pc: u64,
        stop_at: u64,
    ) -> Leave {
        let regs = regs.as_mut_ptr();
        let blocks = &mut self.blocks;
        let mut exec = Exec {
            tlb: self.tlb.as_ptr(),
            jump_cache: blocks.jump_cache.as_ptr(),
            block_pc: 0,
            budget: 0,
            stop_at,
            stop: None,
            bus: Bus::new(
                &mut self.memory,
                &mut self.tlb,
                page_table,
                &mut self.reservation,
            ),
            fpu,
        };
        let mut pc = pc;
        // Instructions retired, counting a block whole from when it is
        // entered (an early stop un-counts below).
        let mut instret = self.instret;
        let leave = loop {
            let remaining = stop_at.saturating_sub(instret);
            if remaining == 0 {
                break Leave::Exception(Exception::Timer, pc);
            }
            // Fast path: the jump cache knows the block for this pc.
            let entry = blocks.jump_cache.get(pc);
            let (ops, count) = if entry.pc == pc && entry.count <= remaining {
                (entry.ops, entry.count)
            } else {
                match blocks.fetch(&mut exec.bus, pc, remaining) {
                    Ok(found) => found,
                    Err(e) => break Leave::Exception(e, pc),
                }
            };
            exec.block_pc = pc;
            instret += count;
            exec.stop_at = stop_at.min(instret.saturating_add(TRIP_INSTRUCTIONS));
            let budget = exec.stop_at - instret;
            // `ops` points into a live block's ops (or a block cut short by
            // the budget, kept until the next `fetch`),
            // which end in a terminator and are neither changed nor freed
            // while handlers run: blocks are added and removed only by
            // `fetch` and `sync_caches`, between runs of handlers; caches are
            // switched only outside this call.
            // SAFETY: so the `Handler` contract (op.rs) holds: `ops` as just
            // said, `regs` is the hart's 33 registers, borrowed for this
            // call, and `exec`'s pointers are those of the caches in use.
            let next = unsafe { ((*ops).handler)(ops, regs, &mut exec, budget) };
            // Every block chained to was counted whole; handlers leave the
            // budget left in `Exec` whenever they return.
            instret = exec.stop_at - exec.budget;
            if next != STOPPED {
                pc = next;
                continue;
            }
            // The block that stopped is the last one chained to.
            let Some((stop, op)) = exec.stop.take() else {
                panic!("Machine::run: a handler stopped without saying why")
            };
            // SAFETY: `op` is an op of the block that stopped, which is still
            // alive: nothing was fetched or removed since it ran.
            let op = unsafe { &*op };
            match stop {
                Stop::Fault(e) => {
                    // The faulting instruction and those after it did not retire.
                    instret = exec.retired_before(op, exec.budget);
                    break Leave::Exception(e, exec.block_pc.wrapping_add(u64::from(op.offset)));
                }
                Stop::CodeWritten => {
                    instret = exec.retired_before(op, exec.budget) + 1;
                    let after = u64::from(op.offset) + u64::from(op.len);
                    break Leave::CodeWritten(exec.block_pc.wrapping_add(after));
                }
            }
        };
        self.instret = instret;
        leave
    }

    /// Runs exactly one instruction (for tracing and single-stepping).
    ///
    /// # Errors
    /// The exception the instruction raised.
    pub fn step(
        &mut self,
        hart: &mut Hart,
        page_table: &mut PageTable,
        context: u64,
    ) -> Result<(), Exception> {
        let stop_at = self.instret + 1;
        match self.run(hart, page_table, context, stop_at) {
            Exception::Timer if self.instret == stop_at => Ok(()),
            e => Err(e),
        }
    }
}

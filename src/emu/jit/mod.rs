//! The JIT tier: blocks compiled to host machine code (x86-64 only; on
//! other hosts `Jit::compile` compiles nothing and the interpreter runs).
//!
//! ## How control flows
//!
//! A compiled block is just another handler (op.rs, `Handler`): when
//! `BlockCache::fetch` (block.rs) decodes a block, it asks `Jit::compile`
//! for code and, if it gets some, puts that code in place of the block's
//! first op's handler. The run loop and block chaining (exec.rs, `chain`)
//! call it exactly as they call an interpreted block, with the same three
//! arguments: the block's first op, the register file, the `Exec`.
//!
//! The code runs the block's ops natively, one after the other, reading and
//! writing the guest registers in the register file (no register
//! allocation: nothing to write back on an exit). It leaves in one way
//! only: by jumping to the interpreter's handler of some op `i` of the
//! same block, with that op as the first argument, as the interpreter's
//! own handlers do. So
//!
//! - a branch, `jal`, `jalr` or the end of a straight-line block computes
//!   the next pc and chains to its block (compiled or not) through the jump
//!   cache, in machine code, as the interpreter's `chain` does (exec.rs):
//!   if the jump cache has the block and the instruction budget allows all
//!   of it, the code counts it (`Exec::instret`), makes it the running
//!   block (`block_pc`, `ops`, `start_instret`) and jumps to its first
//!   handler; otherwise it returns the pc to the run loop, which looks the
//!   block up, decodes it or raises the timer. A hot loop thus runs
//!   without leaving machine code until its time slice ends;
//! - other terminators (`ecall`, `ebreak`, illegal instructions) exit to
//!   their interpreter handler;
//! - an op it does not compile (division, floating point, atomics, CSRs,
//!   `ecall`, ...) is run by its interpreter handler, and the rest of the
//!   block with it;
//! - a load or store whose TLB lookup misses (an unmapped page, a
//!   misaligned access, a store to a frame that holds code, a page that a
//!   watchpoint keeps out of the TLB) exits *before* the access to that
//!   op's handler, which takes the slow path: the fault is raised by the
//!   interpreter, precisely, at the op's own pc, with the ops before it
//!   committed and it and those after it not.
//!
//! ## What stays exactly as in the interpreter
//!
//! - Instruction counts: a block is counted whole by whoever enters it
//!   (run loop or `chain`), as before; compiled code never touches the
//!   counters, and an exit through an op's handler is an exit from that
//!   op's index. The timer and `--max-instructions` stop at the same
//!   instruction, and a block cut short by the budget is decoded into the
//!   scratch buffer and never compiled.
//! - Self-modifying code: compiled code belongs to its block, which is
//!   dropped through the per-frame block lists when its frame is written;
//!   nothing else points to it (the jump cache is flushed with every
//!   removal). Stores reach code frames only through the slow path, as
//!   the TLB never holds write tags for them.
//! - Per-context page tables: blocks are keyed by physical address and
//!   virtual pc, as before.
//! - Debugging: single steps (`Machine::step`, tracing) run a one-op block
//!   from the scratch buffer, never compiled code; watchpoints keep their
//!   pages out of the TLB, so compiled loads and stores exit to the slow
//!   path where the watch check lives.
//!
//! Code memory is a list of executable chunks filled one after the other
//! (`CodeArena`); code of dropped blocks is not reused. Past
//! `MAX_CODE_BYTES` nothing more is compiled (the interpreter runs the
//! rest), which bounds the memory a guest that rewrites its code forever
//! can make the host spend.

#[cfg(target_arch = "x86_64")]
mod x86_64;

use super::op::{Handler, Op};

/// Most bytes of machine code one machine makes.
pub const MAX_CODE_BYTES: usize = 64 << 20;

/// The compiler and the memory its code lives in.
pub(crate) struct Jit {
    #[cfg(target_arch = "x86_64")]
    arena: x86_64::CodeArena,
    /// Blocks compiled so far.
    pub compiled: u64,
}

impl Jit {
    pub fn new() -> Jit {
        Jit {
            #[cfg(target_arch = "x86_64")]
            arena: x86_64::CodeArena::new(),
            compiled: 0,
        }
    }

    /// Whether this host has a JIT tier.
    pub const fn available() -> bool {
        cfg!(target_arch = "x86_64")
    }

    /// Machine code for the block `ops` (its whole op sequence, ending in a
    /// terminator) at virtual `pc`, to be called as the handler of
    /// `ops[0]`; `None` when not worth it or not possible (no compilable
    /// first op, code memory used up, another host).
    #[allow(unused_variables)]
    pub fn compile(&mut self, ops: &[Op], pc: u64) -> Option<Handler> {
        #[cfg(target_arch = "x86_64")]
        {
            let handler = x86_64::compile(&mut self.arena, ops, pc)?;
            self.compiled += 1;
            Some(handler)
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }
}

//! The JIT tier: blocks compiled to host machine code (x86-64 only; on
//! other hosts `Jit::compile` compiles nothing and the interpreter runs).
//!
//! ## How control flows
//!
//! A compiled block is just another handler (op.rs, `Handler`): when
//! `BlockCache::fetch` (block.rs) decodes a block, it asks `Jit::compile`
//! for code and, if it gets some, puts that code in place of the block's
//! first op's handler. The run loop and block chaining (exec.rs, `enter`)
//! call it exactly as they call an interpreted block, with the same three
//! arguments: the block's first op, the register file, the `Exec`.
//!
//! The code runs the block's ops natively, one after the other, on the
//! guest registers in the register file, with copies of those it uses in
//! host registers within the block: a write goes to its host register
//! only, and the file is brought up to date where the code may leave
//! (before the terminator, and in the exit stub of each load or store
//! that misses the TLB), while reads after the first come from a host
//! register, not through memory (x86_64.rs, `RegCache`). It leaves in one of
//! two ways: by jumping to the interpreter's handler of some op `i` of the
//! same block, with that op as the first argument, as the interpreter's
//! own handlers do, or by returning the next pc to the run loop. So
//!
//! - a branch, `jal` or the end of a straight-line block goes to a target
//!   known when the block is compiled. If the target lies on the page of
//!   the block's first pc, the code jumps there directly: a `jmp` (or the
//!   branch's own conditional jump) to the target block's *linked entry*
//!   once that block is compiled (the link is made by whichever of the
//!   two is compiled second, `Jit::compile`), and until then to a
//!   fallback that goes through the jump cache. The linked
//!   entry charges the block to the instruction budget, which compiled
//!   code keeps in a host register (as the interpreter passes it from
//!   handler to handler, op.rs): one `sub` and one `jb`, and if the block
//!   does not fit whole, the budget goes back to `Exec` and the pc to the
//!   run loop, which decodes what fits. A hot loop
//!   thus runs from block to block without leaving machine code until its
//!   time slice ends;
//! - a `jalr`, and a target on another page, chain through the jump cache
//!   in machine code, as the interpreter does (exec.rs, `cached`): if the
//!   jump cache has the block and the budget allows all of it, the code
//!   counts it, makes it the running block (`Exec`'s `block_pc`) and
//!   jumps to its first handler with the budget left; otherwise it returns
//!   the pc to the run loop, which looks the block up, decodes it or raises
//!   the timer;
//! - a side exit (a forward conditional branch in the middle of the
//!   block, block.rs) compares and, when taken, jumps to a stub out of
//!   line that writes back the registers dirty there, gives back the
//!   block's instructions after it, and goes to its target as a branch
//!   does (a direct jump on the page, else the jump cache). Not taken, the
//!   block goes on with its registers still in host registers: the longer
//!   block is what the side exit buys;
//! - other terminators (`ecall`, `ebreak`, illegal instructions) exit to
//!   their interpreter handler;
//! - an op it does not compile (single precision, atomics, CSRs, Zbb,
//!   ...) is run by its interpreter handler, and the rest of the block
//!   with it; so is a double-precision op outside the case its template
//!   computes (nearest-even rounding, NX accrued, ordinary operands:
//!   x86_64.rs, "double-precision floating point");
//! - a load or store whose TLB lookup misses (an unmapped page, a
//!   misaligned access, a store to a frame that holds code, a page that a
//!   watchpoint keeps out of the TLB) exits *before* the access to that
//!   op's handler, which takes the slow path: the fault is raised by the
//!   interpreter, precisely, at the op's own pc, with the ops before it
//!   committed and it and those after it not. (A load or store off the
//!   same base register as the access just before it compares its tag
//!   with that access's TLB entry only, and takes the full lookup, with
//!   the same exit, when they differ: x86_64.rs, `same_page_check`.)
//!
//! Every exit to an interpreter handler passes the budget on, as a handler
//! does, and makes its block the running one in `Exec` (the block's pc is
//! a constant in its code): a block entered through a link finds `Exec`
//! as the block before left it.
//!
//! ## What stays exactly as in the interpreter
//!
//! - Instruction counts: a block is counted whole by whoever enters it
//!   (run loop, `enter`, a linked entry), as before; an exit through an
//!   op's handler is an exit from that op's index, and a side exit taken
//!   gives the instructions after it back to the budget before it goes
//!   to its target (as the interpreter's side exits do). The timer and
//!   `--max-instructions` stop at the same instruction, and a block cut
//!   short by the budget is decoded into the scratch buffer and never
//!   compiled.
//! - Self-modifying code: compiled code belongs to its block, which is
//!   dropped through the per-frame block lists when its frame is written;
//!   dropping it unlinks every direct jump to it (`Jit::forget`) and
//!   flushes the jump cache, so nothing reaches its code again. Stores
//!   reach code frames only through the slow path, as the TLB never holds
//!   write tags for them.
//! - Per-context page tables: blocks are keyed by physical address and
//!   virtual pc, as before, and so are links: a direct jump only goes to
//!   the same page, i.e. the same frame as the block it leaves, whose
//!   translation the run loop or the jump cache checked on the way in
//!   (page-table changes flush the jump cache). A frame decoded at another
//!   virtual address replaces the block, which unlinks it.
//! - Debugging: a single step (`Machine::step`, tracing) has a budget of
//!   one instruction: it runs a one-op block from the scratch buffer, or a
//!   cached block of one instruction, whose links all refuse the budget
//!   left, zero; watchpoints keep their pages out of the
//!   TLB, so compiled loads and stores exit to the slow path where the
//!   watch check lives.
//!
//! Code memory is one reservation filled from the start (`CodeArena`);
//! code of dropped blocks is not reused. Past
//! `MAX_CODE_BYTES` nothing more is compiled (the interpreter runs the
//! rest), which bounds the memory a guest that rewrites its code forever
//! can make the host spend.
//!
//! ## Reading the code it makes
//!
//! `SIM_JIT_DUMP=DIR sim -u prog` writes each compiled block's machine
//! code to `DIR/<pc in hex>.bin`; `objdump -D -b binary -m i386:x86-64
//! DIR/10240.bin` shows it, laid out as x86_64.rs's module doc says.
//! `SIM_JIT_PERF_MAP=1` writes where each block's code lies to
//! `/tmp/perf-<pid>.map`, the file `perf report` reads to name code made at
//! run time: `SIM_JIT_PERF_MAP=1 perf record sim -u prog; perf report`
//! then shows the time of each compiled block as `guest_<pc in hex>`.

#[cfg(target_arch = "x86_64")]
mod x86_64;

use rustc_hash::FxHashMap as HashMap;

use super::memory::PAGE_SIZE;
use super::op::{Handler, Op};

/// Most bytes of machine code one machine makes.
pub const MAX_CODE_BYTES: usize = 64 << 20;

/// Bytes of code of dropped blocks past which code memory is emptied
/// (`Jit::wants_reset`).
const RESET_DEAD_BYTES: usize = 2 << 20;

/// The compiler, the memory its code lives in, and the links between
/// compiled blocks.
pub(crate) struct Jit {
    #[cfg(target_arch = "x86_64")]
    arena: x86_64::CodeArena,
    /// Live compiled blocks by the physical address of their first
    /// instruction.
    entries: HashMap<u64, Entry>,
    /// The direct jumps of the live compiled blocks, by the physical
    /// address of their target (on the frame of the block that holds
    /// them).
    #[cfg(target_arch = "x86_64")]
    sites: HashMap<u64, Vec<x86_64::Site>>,
    /// Bytes of code of the live compiled blocks.
    live_bytes: usize,
    /// Blocks compiled so far.
    pub compiled: u64,
}

impl Jit {
    pub fn new() -> Jit {
        Jit {
            #[cfg(target_arch = "x86_64")]
            arena: x86_64::CodeArena::new(),
            entries: HashMap::default(),
            #[cfg(target_arch = "x86_64")]
            sites: HashMap::default(),
            live_bytes: 0,
            compiled: 0,
        }
    }

    /// Whether this host has a JIT tier.
    pub const fn available() -> bool {
        cfg!(target_arch = "x86_64")
    }

    /// Machine code for the block `ops` (its whole op sequence, ending in a
    /// terminator; the slice the block cache keeps, whose address the
    /// code's exits use) at virtual `pc` and physical `phys`, to be called
    /// as the handler of `ops[0]`; `None` when not worth it or not
    /// possible (no compilable first op, code memory used up, another
    /// host). Links the block's direct jumps to the compiled blocks they
    /// go to, and those of earlier blocks that go to it.
    #[allow(unused_variables)]
    pub fn compile(&mut self, ops: &[Op], pc: u64, phys: u64) -> Option<Handler> {
        #[cfg(target_arch = "x86_64")]
        {
            let compiled = x86_64::compile(&mut self.arena, ops, pc)?;
            self.compiled += 1;
            let frame = phys & !(PAGE_SIZE - 1);
            let mut jumps = Vec::with_capacity(compiled.sites.len());
            self.entries.insert(
                phys,
                Entry {
                    pc,
                    linked: compiled.linked_entry,
                    jumps: Vec::new(),
                    len: compiled.len,
                },
            );
            self.live_bytes += compiled.len;
            for site in compiled.sites {
                let target = frame | (site.target_pc & (PAGE_SIZE - 1));
                if let Some(entry) = self.entries.get(&target) {
                    if entry.pc == site.target_pc {
                        self.arena.patch_jump(site.jump, entry.linked);
                    }
                }
                jumps.push((target, site.jump));
                self.sites.entry(target).or_default().push(site);
            }
            if let Some(entry) = self.entries.get_mut(&phys) {
                entry.jumps = jumps;
            }
            // Blocks compiled before that jump here.
            for site in self.sites.get(&phys).into_iter().flatten() {
                if site.target_pc == pc {
                    self.arena.patch_jump(site.jump, compiled.linked_entry);
                }
            }
            Some(compiled.handler)
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    /// Wrong guesses of loads' TLB addends in the code made since the
    /// last reset (x86_64.rs, `Predictions`).
    pub fn wrong_guesses(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            self.arena.wrong_guesses()
        }
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    /// Direct jumps of live blocks whose target is compiled, i.e. linked
    /// (`compile` links every such jump, `forget` unlinks them).
    pub fn linked(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            self.sites
                .iter()
                .map(|(target, sites)| match self.entries.get(target) {
                    Some(entry) => sites.iter().filter(|s| s.target_pc == entry.pc).count(),
                    None => 0,
                })
                .sum()
        }
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    /// Whether the code of dropped blocks takes more room than that of the
    /// live ones (and a few MiB): then the block cache drops every block
    /// and calls `reset`, so that a guest that keeps making new code (a
    /// process forked, run and reaped forever) does not make the host
    /// keep its old code.
    pub fn wants_reset(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let dead = self.arena.used() - self.live_bytes;
            dead > RESET_DEAD_BYTES && dead > self.live_bytes
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Empties code memory; every block with code is dropped (and so
    /// forgotten) already.
    pub fn reset(&mut self) {
        #[cfg(target_arch = "x86_64")]
        self.arena.reset();
        self.entries.clear();
        #[cfg(target_arch = "x86_64")]
        self.sites.clear();
        self.live_bytes = 0;
    }

    /// The block at `phys` decoded at virtual `pc` is dropped: direct
    /// jumps to it go back to their jump-cache fallback (before any code
    /// runs again: the block cache calls this between runs of handlers).
    pub fn forget(&mut self, phys: u64, pc: u64) {
        let Some(entry) = self.entries.remove(&phys) else {
            return;
        };
        if entry.pc != pc {
            self.entries.insert(phys, entry);
            return;
        }
        self.live_bytes -= entry.len;
        #[cfg(target_arch = "x86_64")]
        {
            for site in self.sites.get(&phys).into_iter().flatten() {
                if site.target_pc == pc {
                    self.arena.patch_jump(site.jump, site.fallback);
                }
            }
            // Its own jumps are never run again: forgotten too, so that
            // the lists stay as long as the live blocks' jumps (a guest
            // that forks and exits forever compiles new blocks forever).
            for (target, jump) in entry.jumps {
                if let Some(list) = self.sites.get_mut(&target) {
                    list.retain(|site| site.jump != jump);
                    if list.is_empty() {
                        self.sites.remove(&target);
                    }
                }
            }
        }
    }
}

/// A live compiled block, for its links.
struct Entry {
    /// Its virtual pc.
    pc: u64,
    /// Its linked entry.
    linked: usize,
    /// Its direct jumps: (physical address of the target, address of the
    /// jump).
    jumps: Vec<(u64, usize)>,
    /// Bytes of its code.
    len: usize,
}

//! The machine: runs one context until it raises an exception (rule U/K-1).
//!
//! Control flow of `Machine::run`:
//!
//! ```text
//! run(hart, page table, context, stop_at)
//!   ├─ flush TLB + jump cache if another context or page-table generation
//!   ├─ drop blocks of frames written since last time (self-modifying code,
//!   │  frames reloaded by the kernel)
//!   └─ loop
//!        ├─ instret == stop_at           → Exception::Timer
//!        ├─ find the block for pc        (jump cache → block cache → decode)
//!        │    a fetch fault              → Exception::PageFault{Execute}
//!        ├─ instret += block length      (counted per block, not per op)
//!        └─ execute its ops (exec.rs)    → Ok: next block / Err: exception
//! ```
//!
//! A faulting instruction has no effect: `hart.pc` points at it and
//! `instret` does not count it.

use super::block::{self, Block, BlockCache, Op, MAX_BLOCK_OPS};
use super::decode;
use super::exception::Exception;
use super::exec::{Exec, Stop, STOPPED};
use super::memory::{Frame, PhysMemory, PAGE_SIZE};
use super::mmu::{Access, PageTable, Tlb, VirtPage, TLB_INVALID};

/// Blocks one run-loop iteration may chain through (see exec.rs: bounds
/// the native stack should tail calls not be optimised).
const MAX_CHAIN: u32 = 64;

/// The register file and pc of one context.
///
/// `regs[0]` is `x0` and stays zero; `regs[32]` is the write sink that
/// instructions with destination `x0` write to (see block.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hart {
    pub regs: [u64; 33],
    pub pc: u64,
}

impl Default for Hart {
    fn default() -> Hart {
        Hart {
            regs: [0; 33],
            pc: 0,
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
}

/// Identifies whose translations the TLB holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct TlbOwner {
    context: u64,
    generation: u64,
}

/// Caches set aside for one other context (see `Machine::switch_caches`).
struct CacheStash {
    /// Whose translations they are; `None`: nobody's, the boxes are spare.
    owner: Option<TlbOwner>,
    /// `BlockCache::removals` when they were set aside: a block removed
    /// since may be pointed to by the stashed jump cache, which is then
    /// dropped.
    removals: u64,
    tlb: Box<[super::mmu::TlbEntry; super::mmu::TLB_ENTRIES]>,
    jump_cache: Box<[block::JumpEntry]>,
}

/// The hardware: physical memory, TLB, block cache and the instruction
/// counter.
pub struct Machine {
    pub(crate) memory: PhysMemory,
    pub(crate) tlb: Tlb,
    pub(crate) blocks: BlockCache,
    tlb_owner: Option<TlbOwner>,
    /// The TLB and jump cache of the context that ran before the current
    /// one, kept so that a switch back (a guest kernel and its child take
    /// turns on every exception) swaps them in instead of flushing.
    stash: Option<CacheStash>,
    /// Instructions retired by all contexts since the machine started.
    pub(crate) instret: u64,
    /// Reused buffer for blocks cut short by the instruction budget.
    scratch: Vec<Op>,
    /// Set by a store that hit a frame holding decoded code.
    pub(crate) code_written: bool,
    /// Reservation of `lr` (physical address), cleared by any `sc`.
    pub(crate) reservation: Option<u64>,
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
            memory,
            tlb: Tlb::new(),
            blocks: BlockCache::new(),
            tlb_owner: None,
            stash: None,
            instret: 0,
            scratch: Vec::with_capacity(MAX_BLOCK_OPS + 1),
            code_written: false,
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

    /// Number of blocks in the decoded-code cache.
    pub fn cached_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Forgets all cached translations, e.g. after the kernel changed a page
    /// table in a way the generation does not show.
    pub fn flush_tlb(&mut self) {
        self.tlb.flush();
        self.blocks.flush_jump_cache();
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
        let mut stash = self.stash.take().unwrap_or_else(|| CacheStash {
            owner: None,
            removals,
            tlb: self.tlb.entries.clone(),
            jump_cache: self.blocks.jump_cache.clone(),
        });
        let hit = stash.owner == Some(owner) && stash.removals == removals;
        std::mem::swap(&mut self.tlb.entries, &mut stash.tlb);
        std::mem::swap(&mut self.blocks.jump_cache, &mut stash.jump_cache);
        if !hit {
            self.tlb.flush();
            self.blocks.flush_jump_cache();
        }
        stash.owner = self.tlb_owner;
        stash.removals = removals;
        self.stash = Some(stash);
        self.tlb_owner = Some(owner);
    }

    fn sync_caches(&mut self, page_table: &PageTable, context: u64) {
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
            self.blocks.flush_jump_cache();
        }
        self.code_written = false;
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
        self.sync_caches(page_table, context);
        let regs = hart.regs.as_mut_ptr();
        let mut exec = Exec {
            tlb: self.tlb.entries.as_ptr(),
            machine: self,
            page_table,
            block_pc: 0,
            ops: std::ptr::null(),
            start_instret: 0,
            instret: self.instret,
            stop_at,
            jump_cache: self.blocks.jump_cache.as_ptr(),
            chain_budget: 0,
            stop: None,
        };
        // From here on `self` and `page_table` are used only through the
        // raw pointers in `exec`, which the handlers' slow paths share; the
        // instruction count lives in `exec.instret` until the run ends.
        let machine = exec.machine;
        let mut pc = hart.pc;
        let exception = loop {
            // SAFETY: `machine` and `exec.page_table` come from the `&mut`
            // arguments, which live for the whole call; nothing else uses
            // them while the loop runs.
            let m = unsafe { &mut *machine };
            let remaining = stop_at.saturating_sub(exec.instret);
            if remaining == 0 {
                hart.pc = pc;
                break Exception::Timer;
            }
            // Fast path: the jump cache knows the block for this pc.
            let entry = m.blocks.jump_cache[BlockCache::jump_index(pc)];
            let (ops, count) = if entry.pc == pc && entry.count <= remaining {
                (entry.ops, entry.count)
            } else {
                match m.fetch_slow(pc, unsafe { &mut *exec.page_table }, remaining) {
                    Ok(found) => found,
                    Err(e) => {
                        hart.pc = pc;
                        break e;
                    }
                }
            };
            exec.block_pc = pc;
            exec.ops = ops;
            exec.start_instret = exec.instret;
            // Count the whole block now; an early stop un-counts below.
            exec.instret += count;
            exec.chain_budget = MAX_CHAIN;
            // SAFETY: `ops` points into a live block's boxed ops (or the
            // scratch buffer), which are neither freed nor reallocated while
            // blocks run: blocks are only removed in `sync_caches` and
            // `fetch_slow`, never by a handler. Register fields are <= 32 and
            // every block ends in a terminator (block.rs).
            let next = unsafe { ((*ops).handler)(ops, regs, &mut exec) };
            if next != STOPPED {
                pc = next;
                continue;
            }
            // The block that stopped is the last one chained to.
            match exec.stop.take() {
                Some((Stop::Fault(e), op)) => {
                    // The faulting instruction and those after it did not retire.
                    exec.instret = exec.start_instret + exec.index_of(op);
                    hart.pc = exec
                        .block_pc
                        .wrapping_add(u64::from(unsafe { (*op).offset }));
                    break e;
                }
                Some((Stop::CodeWritten, op)) => {
                    // The store retired; its block may be stale: drop the
                    // stale blocks and go on after the store.
                    exec.instret = exec.start_instret + exec.index_of(op) + 1;
                    let o = unsafe { &*op };
                    pc = exec
                        .block_pc
                        .wrapping_add(u64::from(o.offset) + u64::from(o.len));
                    let m = unsafe { &mut *machine };
                    m.sync_caches(unsafe { &*exec.page_table }, context);
                    exec.tlb = m.tlb.entries.as_ptr();
                    exec.jump_cache = m.blocks.jump_cache.as_ptr();
                }
                None => panic!("Machine::run: a handler stopped without saying why"),
            }
        };
        // SAFETY: as above; the handlers are done.
        unsafe { (*machine).instret = exec.instret };
        exception
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

    /// Finds or decodes the block at `pc` when the jump cache missed. When
    /// fewer than a whole block's instructions remain in the budget, decodes
    /// just those into the scratch buffer, so that the timer fires at an
    /// exact count. Returns the ops and the number of instructions.
    #[cold]
    #[inline(never)]
    fn fetch_slow(
        &mut self,
        pc: u64,
        page_table: &mut PageTable,
        remaining: u64,
    ) -> Result<(*const Op, u64), Exception> {
        let phys = self.translate(pc, Access::Execute, page_table)?;
        let cap = remaining.min(MAX_BLOCK_OPS as u64) as usize;
        if let Some(index) = self.blocks.find(phys, pc) {
            let len = self.blocks.blocks[index as usize]
                .as_ref()
                .map_or(0, |b| b.instructions);
            if len <= remaining {
                return Ok(self.blocks.remember_jump(pc, index));
            }
        }
        let mut ops = std::mem::take(&mut self.scratch);
        ops.clear();
        let decoded = self.decode_block(pc, phys, page_table, cap, &mut ops);
        let frames = match decoded {
            Ok(frames) => frames,
            Err(e) => {
                self.scratch = ops;
                return Err(e);
            }
        };
        // A block that stopped because the budget did (not at control flow,
        // a page end or the length cap) must not be cached: it would
        // replace the whole block at this address, and every later run
        // would leave it early.
        let ends_without_control_flow = ops[ops.len() - 1].kind == block::OpKind::Fallthrough;
        if cap < MAX_BLOCK_OPS
            && ends_without_control_flow
            && block::instruction_count(&ops) == cap as u64
        {
            // Cut short by the budget: run once from the scratch buffer.
            let count = block::instruction_count(&ops);
            self.scratch = ops;
            return Ok((self.scratch.as_ptr(), count));
        }
        let instructions = block::instruction_count(&ops);
        let block = Block {
            pc,
            phys,
            ops: ops.as_slice().into(),
            frames,
            instructions,
        };
        self.scratch = ops;
        let index = self.blocks.insert(block);
        Ok(self.blocks.remember_jump(pc, index))
    }

    /// Decodes up to `cap` instructions starting at `pc` (physical `phys`)
    /// into `ops`, ending with a terminator. Returns the frames read.
    fn decode_block(
        &mut self,
        pc: u64,
        phys: u64,
        page_table: &mut PageTable,
        cap: usize,
        ops: &mut Vec<Op>,
    ) -> Result<[Frame; 2], Exception> {
        let frame = Frame((phys >> 12) as u32);
        let mut frames = [frame, frame];
        let page_end = (pc | (PAGE_SIZE - 1)).wrapping_add(1);
        let mut at = pc;
        while ops.len() < cap {
            let offset_in_page = (at & (PAGE_SIZE - 1)) as usize;
            let bytes = self.memory.frame_bytes(frame);
            let low = u16::from_le_bytes([bytes[offset_in_page], bytes[offset_in_page + 1]]);
            let len = decode::length(low);
            let word = if len == 2 {
                u32::from(low)
            } else if offset_in_page + 4 <= PAGE_SIZE as usize {
                u32::from_le_bytes([
                    bytes[offset_in_page],
                    bytes[offset_in_page + 1],
                    bytes[offset_in_page + 2],
                    bytes[offset_in_page + 3],
                ])
            } else if ops.is_empty() {
                // A 4-byte instruction straddling two pages: a block of its own.
                let next_phys = self.translate(page_end, Access::Execute, page_table)?;
                let next = Frame((next_phys >> 12) as u32);
                frames[1] = next;
                let high = self.memory.frame_bytes(next);
                u32::from(low) | (u32::from(u16::from_le_bytes([high[0], high[1]])) << 16)
            } else {
                break;
            };
            let inst = decode::decode(word).map(|(i, _)| i);
            let op = block::lower(inst, word, at, (at - pc) as u16, len as u8);
            ops.push(op);
            at = at.wrapping_add(len);
            // After an instruction that straddles the page end, `at` is past
            // `page_end`: the block ends there too (the bytes that follow
            // are on the next page, not in `frame`).
            let reached_page_end = at.wrapping_sub(pc) >= page_end.wrapping_sub(pc);
            if block::is_terminator(op.kind) || reached_page_end {
                break;
            }
        }
        if !block::is_terminator(ops[ops.len() - 1].kind) {
            ops.push(block::fallthrough((at - pc) as u16));
        }
        super::fuse::fuse(ops);
        for f in frames {
            if !self.memory.holds_code(f) {
                self.memory.mark_code(f);
                // Stores to this frame must now take the slow path, which
                // invalidates its blocks: drop any cached write permission.
                for e in self.tlb.entries.iter_mut() {
                    e.write_tag = TLB_INVALID;
                }
                if let Some(stash) = &mut self.stash {
                    for e in stash.tlb.iter_mut() {
                        e.write_tag = TLB_INVALID;
                    }
                }
            }
        }
        Ok(frames)
    }

    /// Translates `vaddr` for `access` through `page_table`, filling the TLB
    /// and setting the PTE's accessed/dirty bits. Returns the physical address.
    pub(crate) fn translate(
        &mut self,
        vaddr: u64,
        access: Access,
        page_table: &mut PageTable,
    ) -> Result<u64, Exception> {
        let page = VirtPage::containing(vaddr);
        let pte = page_table
            .get(page)
            .filter(|pte| pte.flags.allows(access))
            .ok_or(Exception::PageFault { vaddr, access })?;
        page_table.mark_used(page, access);
        let entry = &mut self.tlb.entries[Tlb::index(vaddr)];
        let page_addr = page.address();
        let host = self.memory.host_base() as usize + pte.frame.address() as usize;
        let addend = host.wrapping_sub(page_addr as usize);
        // The tags of one entry always name one page: keep them only if this
        // is that page, mapped to the same frame.
        let same_page = [entry.read_tag, entry.write_tag, entry.exec_tag].contains(&page_addr);
        if !same_page || entry.addend != addend {
            *entry = super::mmu::TlbEntry {
                read_tag: TLB_INVALID,
                write_tag: TLB_INVALID,
                exec_tag: TLB_INVALID,
                addend,
            };
        }
        match access {
            Access::Read => entry.read_tag = page_addr,
            Access::Execute => entry.exec_tag = page_addr,
            Access::Write => {
                if !self.memory.holds_code(pte.frame) {
                    entry.write_tag = page_addr;
                }
            }
        }
        Ok(pte.frame.address() | (vaddr & (PAGE_SIZE - 1)))
    }
}

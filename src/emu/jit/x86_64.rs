//! The x86-64 code generator (dynasm templates) and the executable memory
//! the code lives in.
//!
//! Register use inside compiled code (System V calling convention, which
//! every `Handler` has): `rsi` = the guest register file (33 `u64`s: `x[i]`
//! at `rsi + 8*i`), left untouched so that any exit can jump to an
//! interpreter handler with it; `rdx` = `&mut Exec` arrives too, and is
//! pushed, so that the code finds it at `[rsp]` and exits pop it back;
//! `r11` holds the TLB's entries and `r10` the instruction budget left
//! (the handler's fourth argument, which arrives and leaves in `rcx`:
//! op.rs, `Handler`), both set by the block entered from the interpreter
//! and kept across linked blocks; `r9`, `rdx`, `rbx`, `rbp`, `r12`–`r15`
//! and `rdi` hold copies of guest registers within a block (`RegCache`;
//! `r9` only in blocks without floating-point ops, whose templates use
//! it); `rax`, `rcx`, `r8` and `xmm0`–`xmm2` are scratch. The interpreter
//! entry pushes the callee-saved ones among them and `rdx`, and every exit
//! pops them, so the code needs no frame of its own, and its exits are
//! plain jumps (as the interpreter's tail calls are) with the stack as the
//! caller left it.
//!
//! The layout of one block's code:
//!
//! ```text
//! entry:         mov r11, tlb ; mov r10, rcx (the budget) ; push ; jmp start
//!                                ← the handler: run loop, interpreter's chain
//! linked entry:  sub r10, count ; jb over     ← direct jumps, jump cache
//! start:         loads of the registers the block reads first (if few)
//! body:          the ops, one template each
//!                the terminator: jmp (or a branch's jcc) <linked entry
//!                                of the target> (patched; at first: to
//!                                its fallback)
//! over:          budget spent: the budget back to Exec, pop, return the pc
//! side exits:    the registers dirty at the side exit back to the file ;
//!                add r10, instructions after it ; jmp <linked entry of
//!                the target> (patched) or to the jump cache
//! short skips:   add r10, instructions skipped ; jmp <the op skipped to>
//!                (a branch over a few ops of its own block, `emit_skip`)
//! fallbacks:     mov rax, target ; jmp chain
//! chain:         the jump-cache lookup (for jalr and unlinked targets)
//! fix-ups:       loads' wrong addend guesses (`emit_fix`); the full TLB
//!                lookups of accesses whose page was not the last
//!                access's (`same_page_check`)
//! exits:         Exec's block pc set, pop, rcx = r10, jmp to an interpreter handler
//! ```

// dynasm expands a dynamic register `Rq(n)` to `n.into()`, which clippy
// finds useless for the `u8`s used here.
#![allow(clippy::useless_conversion)]

use std::mem::{offset_of, size_of};

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use super::MAX_CODE_BYTES;
use crate::emu::exec_fp::Fpu;
use crate::emu::memory::PAGE_SIZE;
use crate::emu::mmu::{TlbEntry, TLB_ENTRIES};
use crate::emu::op::{Exec, FpFields, Handler, JumpEntry, Op, OpKind, JUMP_CACHE_ENTRIES, SINK};

// The layouts the templates below rely on.
const OP_BYTES: i32 = size_of::<Op>() as i32;
const _: () = assert!(offset_of!(Op, handler) == 0);
const _: () = assert!(size_of::<TlbEntry>() == 32);
const TLB_ENTRY_SHIFT: i8 = 5;
const READ_TAG: i32 = offset_of!(TlbEntry, read_tag) as i32;
const WRITE_TAG: i32 = offset_of!(TlbEntry, write_tag) as i32;
const ADDEND: i32 = offset_of!(TlbEntry, addend) as i32;
const EXEC_TLB: i32 = offset_of!(Exec<'static>, tlb) as i32;
const PAGE_SHIFT: i8 = PAGE_SIZE.trailing_zeros() as i8;
/// The TLB index scaled to the entry's byte offset in one `and`:
/// `(vaddr >> (PAGE_SHIFT - 5)) & (mask << 5)`.
const TLB_OFFSET_MASK: i32 = (TLB_ENTRIES as i32 - 1) << TLB_ENTRY_SHIFT;
/// The bit of a TLB entry's byte offset that is its page number's lowest
/// (whether the page is odd).
const PARITY_IN_ENTRY: i32 = 1 << TLB_ENTRY_SHIFT;
const EXEC_JUMP_CACHE: i32 = offset_of!(Exec<'static>, jump_cache) as i32;
const EXEC_BLOCK_PC: i32 = offset_of!(Exec<'static>, block_pc) as i32;
const EXEC_BUDGET: i32 = offset_of!(Exec<'static>, budget) as i32;
const _: () = assert!(size_of::<JumpEntry>() == 24);
const JUMP_PC: i32 = offset_of!(JumpEntry, pc) as i32;
const JUMP_OPS: i32 = offset_of!(JumpEntry, ops) as i32;
const JUMP_COUNT: i32 = offset_of!(JumpEntry, count) as i32;
const JUMP_INDEX_MASK: i32 = JUMP_CACHE_ENTRIES as i32 - 1;
/// Where a block's linked entry lies after its interpreter entry (its
/// handler), which is padded to this size.
const LINKED_ENTRY: usize = 48;
/// The opcode of `jmp rel32`, the form of every patchable jump.
const JMP_REL32: u8 = 0xe9;
/// The opcode of `jmp rel8` (a load that gives up guessing, `emit_fix`).
const JMP_REL8: u8 = 0xeb;

/// Executable memory: one reservation of `MAX_CODE_BYTES`, filled from the
/// start, so that every block reaches every other with a `jmp rel32`.
/// Code is never moved or freed while the arena lives (module doc of
/// jit/mod.rs). The mapping is readable, writable and executable: links
/// between blocks are made and unmade by rewriting one jump in place
/// (`patch_jump`), which happens only between runs of handlers (block.rs,
/// `fetch` and `remove`); the only other write to code is a load's, once,
/// to its own first instruction when it gives up guessing its addend
/// (`emit_fix`). Guest stores never reach it (they go through the TLB to
/// guest memory only).
pub(super) struct CodeArena {
    /// The reservation's start; null when the host refused it (then nothing
    /// is compiled).
    base: *mut u8,
    /// Bytes used.
    used: usize,
    /// The loads' predicted addends, which live as long as the code that
    /// uses them.
    predictions: Predictions,
}

impl CodeArena {
    pub fn new() -> CodeArena {
        // SAFETY: a fresh anonymous private mapping at an address the
        // kernel chooses touches no existing memory; pages are committed
        // only when written (MAP_NORESERVE), so the reservation costs
        // address space only.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAX_CODE_BYTES,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        let base = if base == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            base.cast::<u8>()
        };
        CodeArena {
            base,
            used: 0,
            predictions: Predictions::default(),
        }
    }

    /// Copies `code` into executable memory and returns where it starts;
    /// `None` when the arena is full or the host refused it. Existing code
    /// stays where it is.
    fn add(&mut self, code: &[u8]) -> Option<usize> {
        if self.base.is_null() || code.len() > MAX_CODE_BYTES - self.used {
            return None;
        }
        // SAFETY: `used + code.len() <= MAX_CODE_BYTES`, so the destination
        // lies inside the mapping, past all code handed out so far (nothing
        // runs or points there yet); `code` is a separate host buffer.
        let at = unsafe {
            let at = self.base.add(self.used);
            std::ptr::copy_nonoverlapping(code.as_ptr(), at, code.len());
            at
        };
        self.used += code.len();
        Some(at as usize)
    }

    /// Bytes of code handed out.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Wrong guesses of loads' addends so far, one-way and two-way
    /// (`Predictions`), over the code in the arena.
    pub fn wrong_guesses(&self) -> u64 {
        let Some(slots) = &self.predictions.slots else {
            return 0;
        };
        slots[..self.predictions.used]
            .iter()
            .map(|p| p.misses + p.two_way_misses)
            .sum()
    }

    /// Empties the arena, giving its pages back to the host. The caller
    /// makes sure no code in it can run again: every block with code here
    /// is dropped (block.rs, `BlockCache::fetch`).
    pub fn reset(&mut self) {
        if !self.base.is_null() && self.used > 0 {
            // SAFETY: `base..base + used` lies in the mapping made in `new`;
            // nothing points into it any more (the caller's promise), so
            // its bytes may become zero pages.
            unsafe {
                libc::madvise(self.base.cast(), self.used, libc::MADV_DONTNEED);
            }
        }
        self.used = 0;
        self.predictions.used = 0;
    }

    /// Makes the jump at `jump` (an address `compile` reported in a
    /// `Site`: a `jmp rel32` or a `jcc rel32`) go to `target` (code in
    /// this arena). Called only between runs of handlers: no code runs
    /// while it is rewritten.
    pub fn patch_jump(&mut self, jump: usize, target: usize) {
        let base = self.base as usize;
        let inside = |a: usize, len: usize| a >= base && a + len <= base + self.used;
        if !inside(jump, 2) || !inside(target, 1) {
            return;
        }
        // SAFETY: `jump..jump + 2` is inside the code handed out by `add`
        // (checked above).
        let opcode = unsafe { [*(jump as *const u8), *((jump + 1) as *const u8)] };
        let Some(len) = rel32_jump_len(opcode).filter(|&len| inside(jump, len)) else {
            return;
        };
        // Both lie in one reservation of less than 2 GiB: the distance
        // fits a rel32, which counts from the end of the jump.
        let rel = (target as i64 - (jump + len) as i64) as i32;
        // SAFETY: the jump's last 4 bytes are its rel32, inside the code
        // handed out by `add` (checked above); the mapping is
        // writable, and they are written unaligned, as x86 encodes them.
        unsafe {
            std::ptr::write_unaligned((jump + len - 4) as *mut i32, rel);
        }
    }
}

/// The length of a jump whose first two bytes are `opcode` if it is one a
/// `Site` may be: `jmp rel32` (`e9`, 5 bytes) or `jcc rel32` (`0f 8x`, 6
/// bytes), both ending in their rel32.
fn rel32_jump_len(opcode: [u8; 2]) -> Option<usize> {
    match opcode {
        [JMP_REL32, _] => Some(5),
        [0x0f, cc] if cc & 0xf0 == 0x80 => Some(6),
        _ => None,
    }
}

impl Drop for CodeArena {
    fn drop(&mut self) {
        if !self.base.is_null() {
            // SAFETY: `base` is the mapping made in `new`, of that length;
            // no block's handler points into it any more: the block cache
            // drops its blocks before the JIT (block.rs, `set_lowering`;
            // field order of `BlockCache`).
            unsafe {
                libc::munmap(self.base.cast(), MAX_CODE_BYTES);
            }
        }
    }
}

/// One load's guess at the TLB addend of the page it reads
/// (`Predictions`): the one it read last, or, once that failed too often,
/// one for pages at even and one for pages at odd page numbers.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Prediction {
    /// The last addend (one-way), or the even pages' (two-way).
    addend: u64,
    /// The odd pages' addend (two-way).
    odd: u64,
    /// Times the one-way guess was wrong; at `PREDICTION_MISSES` the load
    /// guesses two-way (`emit_fix`).
    misses: u64,
    /// Times the two-way guess was wrong; at `PREDICTION_MISSES` the load
    /// stops guessing.
    two_way_misses: u64,
}

/// Loads with a predicted addend (`emit_load`), and slots for them. The
/// TLB lookup of a load lies on the guest's chain of dependences: the
/// host address needs the addend, which needs the entry, which needs the
/// guest address, so a load that depends on the value before it (a table
/// lookup, a pointer chase) waits for two host loads in a row. A load
/// that reads the page it read last can use the addend it saw then
/// instead, which does not depend on the guest address: the data load
/// then issues as soon as the address is known, while the TLB lookup
/// checks the guess beside it (a predicted branch). A wrong guess costs
/// a branch misprediction. A load whose guesses keep failing guesses
/// two-way: an addend for even and one for odd page numbers, picked by
/// the address's page bit with a `cmov`, which serves a table that
/// straddles a page boundary (a 1 KiB table on the stack, say) at the
/// cost of two cycles more on the chain; if that keeps failing too (a
/// probe into a large hash table) it stops guessing. Only loads whose
/// address the block computes guess at all (`worth_guessing`). The check
/// compares the guess with the addend of the TLB entry that the tag
/// compare accepted, so a guess never reaches memory the TLB would not.
#[derive(Default)]
struct Predictions {
    /// Allocated on first use; never moved (code holds slot addresses).
    slots: Option<Box<[Prediction]>>,
    used: usize,
}

/// Loads that may guess: slots allocated at most (32 bytes each); the
/// loads compiled after they run out look their addend up.
const PREDICTION_SLOTS: usize = 1 << 16;
/// Wrong guesses after which a load guesses two-way, and then after which
/// it stops guessing.
const PREDICTION_MISSES: i32 = 4096;

impl Predictions {
    /// The address of a fresh slot, or `None` when all are taken.
    fn take(&mut self) -> Option<i64> {
        let slots = self.slots.get_or_insert_with(|| {
            vec![Prediction::default(); PREDICTION_SLOTS].into_boxed_slice()
        });
        let slot = slots.get_mut(self.used)?;
        *slot = Prediction::default();
        self.used += 1;
        Some(std::ptr::from_mut(slot) as i64)
    }
}

/// A direct jump to another block that the code of a block contains: to
/// be patched to the target's linked entry when (and while) the target is
/// compiled, and back to `fallback` when it is dropped.
#[derive(Clone, Copy, Debug)]
pub(super) struct Site {
    /// Address of the `jmp rel32` or `jcc rel32`.
    pub jump: usize,
    /// Where it jumps while unlinked: sets the target pc and chains
    /// through the jump cache.
    pub fallback: usize,
    /// The virtual pc it goes to (on the page of the block's first pc).
    pub target_pc: u64,
}

/// A compiled block.
pub(super) struct Compiled {
    /// The entry from the interpreter (run loop, `enter`): the block's
    /// handler.
    pub handler: Handler,
    /// The entry for direct jumps from other blocks: counts the block
    /// against the budget in `r10`.
    pub linked_entry: usize,
    /// Its direct jumps, unlinked.
    pub sites: Vec<Site>,
    /// Bytes of code.
    pub len: usize,
}

/// Whether `op` (not a terminator) has a template here.
///
/// **Extension point (coursework):** give another op a template (a Zbb op
/// such as `andn` or `max`, say): accept it here, emit it in `emit_op`
/// (its sources from `RegCache::read`, its result in `rax` to
/// `RegCache::write_rax`) and list its registers in `registers`;
/// tests/jit.rs then checks it against the interpreter.
fn compiles(op: &Op) -> bool {
    use OpKind as K;
    let imm32 = i32::try_from(op.imm).is_ok();
    match op.kind {
        K::Li | K::LiSkip | K::Mv | K::Nop => true,
        K::Addi | K::Slti | K::Sltiu | K::Xori | K::Ori | K::Andi | K::Addiw => imm32,
        K::Slli | K::Srli | K::Srai | K::Slliw | K::Srliw | K::Sraiw => true,
        K::Add | K::Sub | K::Sll | K::Slt | K::Sltu | K::Xor | K::Srl | K::Sra | K::Or | K::And => {
            true
        }
        K::Mul | K::Addw | K::Subw | K::Sllw | K::Srlw | K::Sraw | K::Mulw => true,
        K::Sh1add | K::Sh2add | K::Sh3add => true,
        K::Div | K::Divu | K::Rem | K::Remu | K::Divw | K::Divuw | K::Remw | K::Remuw => true,
        K::Mulh | K::Mulhu => true,
        K::Lb | K::Lh | K::Lw | K::Ld | K::Lbu | K::Lhu | K::Lwu => imm32,
        K::Sb | K::Sh | K::Sw | K::Sd => imm32,
        kind if kind.is_side_exit() => true,
        _ => fp_compiles(op),
    }
}

/// The guest registers `op` (compiled) reads and the one it writes
/// (`SINK` left out: never read).
fn registers(op: &Op) -> ([Option<u8>; 2], Option<u8>) {
    use OpKind as K;
    let (r1, r2, d) = (
        Some(op.rs1),
        Some(op.rs2),
        Some(op.rd).filter(|&d| d != SINK),
    );
    if fp_compiles(op) {
        return fp_registers(op);
    }
    match op.kind {
        K::Nop | K::Fallthrough => ([None, None], None),
        K::Li | K::LiSkip => ([None, None], d),
        K::Jal => ([None, None], d),
        K::Jalr => ([r1, None], None),
        K::Sb | K::Sh | K::Sw | K::Sd => ([r1, r2], None),
        // A branch compares with x0 without a host register for it
        // (`emit_terminator`).
        kind if kind.condition().is_some() => ([r1, r2].map(|r| r.filter(|&r| r != 0)), None),
        K::Mv
        | K::Addi
        | K::Slti
        | K::Sltiu
        | K::Xori
        | K::Ori
        | K::Andi
        | K::Slli
        | K::Srli
        | K::Srai
        | K::Addiw
        | K::Slliw
        | K::Srliw
        | K::Sraiw
        | K::Lb
        | K::Lh
        | K::Lw
        | K::Ld
        | K::Lbu
        | K::Lhu
        | K::Lwu => ([r1, None], d),
        _ => ([r1, r2], d),
    }
}

/// When the ops `compiled` use at most as many guest registers as the
/// block's cache has host registers (`slots`, `first_slot`: so none is
/// ever replaced), the ones they read before writing, in order; else
/// `None`.
fn live_in_if_few(compiled: &[Op], slots: usize) -> Option<Vec<u8>> {
    let mut used: Vec<u8> = Vec::new();
    let mut live_in = Vec::new();
    for op in compiled {
        let (reads, write) = registers(op);
        for g in reads.into_iter().flatten() {
            if !used.contains(&g) {
                used.push(g);
                live_in.push(g);
            }
        }
        if let Some(g) = write {
            if !used.contains(&g) {
                used.push(g);
            }
        }
    }
    (used.len() <= slots).then_some(live_in)
}

/// Whether the terminator `op` has a template (`emit_terminator` emits
/// it).
fn terminator_compiles(op: &Op) -> bool {
    use OpKind as K;
    match op.kind {
        K::Jalr => i32::try_from(op.imm).is_ok(),
        K::Fallthrough | K::Jal => true,
        kind => kind.is_branch(),
    }
}

/// The exit of a load or store that missed the TLB: its label, the op's
/// index, and the registers dirty there as (guest, host register).
type Miss = (DynamicLabel, usize, Vec<(u8, u8)>);

/// What the fix-ups of a load that guesses its addend (`guess_addend`,
/// `emit_fix`) refer to.
struct Guess {
    /// The first instruction of the one-way guess and of the two-way one.
    one_way: DynamicLabel,
    two_way: DynamicLabel,
    /// The two bytes (`jmp rel8`) that replace them: to the two-way
    /// guess, to the plain lookup.
    to_two_way: i16,
    to_plain: i16,
    /// The fix-ups of a wrong guess of each kind.
    fix_one_way: DynamicLabel,
    fix_two_way: DynamicLabel,
    /// The load, with the addend in r8.
    load: DynamicLabel,
}

/// Where `emit_op` puts what it emits besides the op's code.
struct Out<'a> {
    misses: &'a mut Vec<Miss>,
    guesses: &'a mut Vec<Guess>,
    predictions: &'a mut Predictions,
    /// Whether the op, a load, guesses its addend (`worth_guessing`).
    guess: bool,
    /// Whether the op, a load or store, checks only that its page is the
    /// last access's (`entry_kept`, `same_page_check`).
    same_page: bool,
    slow_checks: &'a mut Vec<SlowCheck>,
}

/// The out-of-line full lookup of a load or store whose page was not the
/// last access's (`same_page_check`): where it starts, where it goes back
/// to (the access, with the addend in r8), the op's miss exit, and the
/// access's base register, offset, size and tag.
struct SlowCheck {
    slow: DynamicLabel,
    back: DynamicLabel,
    miss: DynamicLabel,
    base: u8,
    imm: i32,
    size: i32,
    tag: i32,
}

/// Whether a load off guest register `base` in the block `compiled`
/// should guess its addend (`Predictions`): when the block computes
/// `base` (a table index, a pointer loaded, a hash), so that the address
/// is known late and the TLB lookup would add its latency to the
/// guest's chain. Not when the block only steps it by a constant (a
/// pointer walking an array: known early, and a large stride changes
/// pages too often to guess), nor when it leaves it alone (the stack
/// pointer, a global's base: known at entry).
fn worth_guessing(compiled: &[Op], base: u8) -> bool {
    compiled.iter().any(|op| {
        let stepped = op.kind == OpKind::Addi && op.rs1 == op.rd;
        registers(op).1 == Some(base) && !stepped
    })
}

/// What the templates of one block need besides the op at hand.
struct Block<'a> {
    a: VecAssembler<X64Relocation>,
    /// The block's ops: the slice the block cache keeps (its address goes
    /// into the exits).
    ops: &'a [Op],
    /// Virtual address of the first instruction.
    pc: u64,
    /// Guest instructions in the block (what the budget is charged).
    count: i32,
    /// The jump-cache lookup (`rax` = target pc).
    chain: DynamicLabel,
    /// Exits of loads and stores that missed the TLB: (label, op index,
    /// the registers dirty there, which the exit writes back).
    misses: Vec<Miss>,
    /// The fix-ups of loads that guessed wrong (`Guess`).
    guesses: Vec<Guess>,
    /// The full lookups of loads and stores that check for the last
    /// access's page first (`SlowCheck`).
    slow_checks: Vec<SlowCheck>,
    /// Side exits: (their stub's label, op index, the registers dirty at
    /// the jump), for `emit_side_exit_stubs`.
    side_exits: Vec<Miss>,
    /// Short skips taken (`emit_skip`): (the stub's label, the label of
    /// the op they skip to, the instructions they skip), for
    /// `emit_skip_stubs`; and the skipped-to ops not reached yet, as (op
    /// index, label).
    skips: Vec<(DynamicLabel, DynamicLabel, i32)>,
    joins: Vec<(usize, DynamicLabel)>,
    /// Direct jumps: (offset of the `jmp` or `jcc`, its fallback label, target pc).
    sites: Vec<(usize, DynamicLabel, u64)>,
    /// Guest registers in host registers.
    cache: RegCache,
    /// Where the block's budget is found spent: back to the run loop.
    over: DynamicLabel,
    /// The start of the code arena.
    code_base: usize,
    /// Just after the linked entry's charge of the budget.
    start: DynamicLabel,
    /// Where a jump back to the block's start may enter, the loads of its
    /// registers done (when they keep their host registers throughout).
    loop_body: Option<DynamicLabel>,
    /// Whether the block is a loop of one block that keeps its registers
    /// dirty round the loop (`loops_to_itself`; its registers all loaded
    /// at the start, those it writes counted dirty from its first op).
    loop_round: bool,
    /// In such a loop: the registers written back only when the loop is
    /// left, as (guest, host register); set by its branch for the jump
    /// back (`go_to`).
    dirty_round: Vec<(u8, u8)>,
}

/// Compiles the block `ops` (module doc of jit/mod.rs); `ops` is the
/// slice the block cache keeps for the block at virtual `pc`, and the
/// code's exits name its ops by address. `None` if its first op has no
/// template (the code would exit to `ops[0]`'s handler, which it
/// replaces) or memory for code is used up.
pub(super) fn compile(arena: &mut CodeArena, ops: &[Op], pc: u64) -> Option<Compiled> {
    let first = ops.first()?;
    let has_template = if first.kind.is_terminator() {
        terminator_compiles(first)
    } else {
        compiles(first)
    };
    if !has_template {
        return None;
    }
    let fallthrough = ops.last().is_some_and(|op| op.kind == OpKind::Fallthrough);
    let count = (ops.len() - usize::from(fallthrough)) as i32;
    // The ops compiled: up to the first op without a template, or the
    // terminator.
    let end = ops
        .iter()
        .position(|op| op.kind.is_terminator() || !compiles(op))
        .unwrap_or(ops.len() - 1);
    let terminator = ops[end].kind.is_terminator() && terminator_compiles(&ops[end]);
    let compiled = &ops[..end + usize::from(terminator)];
    let first = first_slot(compiled);
    let slots = CACHE_REGS.len() - first;
    let mut a = VecAssembler::<X64Relocation>::new(0);
    let chain = a.new_dynamic_label();
    let a_over = a.new_dynamic_label();
    let a_start = a.new_dynamic_label();
    let mut b = Block {
        a,
        ops,
        pc,
        count,
        chain,
        misses: Vec::new(),
        guesses: Vec::new(),
        slow_checks: Vec::new(),
        side_exits: Vec::new(),
        skips: Vec::new(),
        joins: Vec::new(),
        sites: Vec::new(),
        cache: RegCache::new(compiled, first),
        over: a_over,
        code_base: arena.base as usize,
        start: a_start,
        loop_body: None,
        loop_round: false,
        dirty_round: Vec::new(),
    };
    let (over, start) = (b.over, b.start);
    // The entry from the interpreter, at offset 0: it counted the block
    // already.
    dynasm!(b.a
        ; .arch x64
        ; mov r11, QWORD [rdx + EXEC_TLB]
        ; mov r10, rcx
    );
    push_saved_regs(&mut b.a);
    dynasm!(b.a ; .arch x64 ; jmp =>start);
    // Padded to `LINKED_ENTRY`, so that the jump cache's chaining finds the
    // linked entry of a compiled block from its handler (`emit_chain`).
    if b.a.offset().0 > LINKED_ENTRY {
        return None;
    }
    while b.a.offset().0 < LINKED_ENTRY {
        dynasm!(b.a ; .arch x64 ; int3);
    }
    // The linked entry: charge the block to the budget, or leave if it
    // does not fit whole (the run loop then decodes just what fits,
    // block.rs).
    dynasm!(b.a ; .arch x64 ; sub r10, count ; jb =>over ; =>start);
    // The base register of the last load or store, while rcx and r8 still
    // hold its TLB entry and addend and the base its value (or was only
    // stepped by a small constant): `same_page_check`.
    let mut last_access: Option<u8> = None;
    let live_in = live_in_if_few(compiled, slots);
    let loops = loops_to_itself(compiled, terminator, pc);
    // Each register the block uses keeps one host register throughout, if
    // they fit: load those it reads before writing now, and a jump back to
    // the block's own start can skip these loads (`go_to`).
    for &g in live_in.iter().flatten() {
        b.cache.next_op(0);
        b.cache.read(&mut b.a, g);
    }
    if loops {
        // A loop of one block writes the registers it keeps round back
        // only when it is left (`emit_terminator`), not every time round:
        // it loads those it only writes too, so that each host register
        // holds the guest register's value from the start, and counts
        // those it writes as dirty from its first op on. An exit in the
        // middle of the first round then writes back values equal to the
        // file's. It keeps all its registers round when they fit; else
        // the few it uses most, pinned to their host registers
        // (`RegCache::pin`), while the others take turns in the rest and
        // are written back at the jump back, where the loop goes on as if
        // they were not cached.
        let written = written_registers(compiled);
        let kept = match live_in {
            Some(_) => written.clone(),
            None => most_used_registers(compiled, slots - UNPINNED_REGS),
        };
        for g in kept {
            b.cache.next_op(0);
            b.cache.read(&mut b.a, g);
            if written.contains(&g) {
                b.cache.written(g);
            }
            if live_in.is_none() {
                b.cache.pin(g);
            }
        }
        b.loop_round = true;
        // A loop whose registers all fit also carries rcx and r8 round:
        // its first access checks the page of its last (a pointer
        // stepping through bytes, a frame). Entered from outside, they are
        // made a pair that belongs together (TLB entry 0 and its addend),
        // which the first access most likely finds to be another page.
        if live_in.is_some() {
            last_access = carried_access(compiled);
            if last_access.is_some() {
                dynasm!(b.a ; .arch x64 ; xor ecx, ecx ; mov r8, QWORD [r11 + ADDEND]);
            }
        }
    }
    if live_in.is_some() || loops {
        let body = b.a.new_dynamic_label();
        dynasm!(b.a ; .arch x64 ; =>body);
        b.loop_body = Some(body);
    }
    // At a skip's join, rcx and r8 hold the last access's entry only if
    // both ways there leave them so.
    let mut access_at_skip: Vec<(usize, Option<u8>)> = Vec::new();
    for (i, op) in ops[..end].iter().enumerate() {
        join_skips(&mut b, i);
        for &(_, before) in access_at_skip.iter().filter(|&&(j, _)| j == i) {
            last_access = last_access.filter(|_| last_access == before);
        }
        if op.kind.is_side_exit() {
            if let Some(join) = skip_join(ops, end, pc, i) {
                emit_skip(&mut b, i, join);
                access_at_skip.push((join, last_access));
                continue;
            }
            emit_side_exit(&mut b, i);
            last_access = entry_kept(op, last_access);
            continue;
        }
        let access = op.kind.is_load() || op.kind.is_store();
        let same_page = access && last_access == Some(op.rs1);
        let mut out = Out {
            misses: &mut b.misses,
            guesses: &mut b.guesses,
            predictions: &mut arena.predictions,
            guess: !same_page && op.kind.is_load() && worth_guessing(compiled, op.rs1),
            same_page,
            slow_checks: &mut b.slow_checks,
        };
        emit_op(&mut b.a, &mut b.cache, op, i, &mut out);
        last_access = entry_kept(op, last_access);
    }
    join_skips(&mut b, end);
    if !(terminator && emit_terminator(&mut b, end)) {
        b.cache.flush(&mut b.a);
        exit_to(&mut b, end);
    }
    dynasm!(b.a
        ; .arch x64
        ; =>over
        ; add r10, count
    );
    store_budget(&mut b.a);
    pop_saved_regs(&mut b.a);
    dynasm!(b.a ; .arch x64 ; mov rax, QWORD pc as i64 ; ret);
    emit_side_exit_stubs(&mut b);
    emit_skip_stubs(&mut b);
    let sites = std::mem::take(&mut b.sites);
    let mut fallbacks = Vec::with_capacity(sites.len());
    for &(_, label, target) in &sites {
        fallbacks.push(b.a.offset().0);
        dynasm!(b.a ; .arch x64 ; =>label ; mov rax, QWORD target as i64 ; jmp =>chain);
    }
    emit_chain(&mut b);
    for guess in std::mem::take(&mut b.guesses) {
        emit_fix(&mut b.a, guess);
    }
    for s in std::mem::take(&mut b.slow_checks) {
        dynasm!(b.a ; .arch x64 ; =>s.slow);
        translate_to(&mut b.a, s.base, s.imm, s.size, s.tag, s.miss);
        dynasm!(b.a ; .arch x64 ; mov r8, QWORD [r11 + rcx + ADDEND] ; jmp =>s.back);
    }
    for (label, i, dirty) in std::mem::take(&mut b.misses) {
        dynasm!(b.a ; .arch x64 ; =>label);
        store_guests(&mut b.a, &dirty);
        exit_to(&mut b, i);
    }
    let code = b.a.finalize().ok()?;
    // For reading what the templates made: `SIM_JIT_DUMP=DIR` writes
    // each block's code to DIR/<pc in hex>.bin, for `objdump -D -b binary
    // -m i386:x86-64` (jit/mod.rs, module doc). A debugging aid: a file
    // that cannot be written is skipped.
    if let Some(d) = std::env::var_os("SIM_JIT_DUMP") {
        let _ = std::fs::write(
            std::path::Path::new(&d).join(format!("{pc:x}.bin")),
            &code[..],
        );
    }
    let at = arena.add(&code)?;
    // For profiling: `SIM_JIT_PERF_MAP=1` appends each block's place to
    // /tmp/perf-<pid>.map, where `perf report` looks for the names of code
    // made at run time (a line: start, length, name, in hex). Skipped, as
    // the dump is, when the file cannot be written.
    if std::env::var_os("SIM_JIT_PERF_MAP").is_some() {
        use std::io::Write;
        let path = format!("/tmp/perf-{}.map", std::process::id());
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{at:x} {:x} guest_{pc:x}", code.len());
        }
    }
    let sites = sites
        .iter()
        .zip(fallbacks)
        // Label jumps are rel32 (dynasm's default); a site in any other
        // form is left out and stays unlinked.
        .filter(|&(&(jump, _, _), _)| {
            code.get(jump..jump + 2)
                .and_then(|b| rel32_jump_len([b[0], b[1]]))
                .is_some()
        })
        .map(|(&(jump, _, target_pc), fallback)| Site {
            jump: at + jump,
            fallback: at + fallback,
            target_pc,
        })
        .collect();
    // The code follows the `Handler` ABI (extern "C", i.e. System V on
    // x86-64: arguments in rdi, rsi, rdx) and contract: it reads and writes
    // only the register file, `Exec`'s run state, guest memory through TLB
    // hits, and leaves by returning a pc or by jumping to an interpreter
    // handler of this block with its arguments.
    // SAFETY: `at` is the start of that entry, just copied into
    // executable memory that lives as long as the arena (never freed or
    // moved while the machine lives), so it is a valid `Handler` for that
    // long.
    let handler = unsafe { std::mem::transmute::<usize, Handler>(at) };
    Some(Compiled {
        handler,
        linked_entry: at + LINKED_ENTRY,
        sites,
        len: code.len(),
    })
}

/// Writes the budget left back to `Exec` (the running block counted
/// whole), where the interpreter and the run loop read it.
fn store_budget(a: &mut VecAssembler<X64Relocation>) {
    load_exec(a);
    dynasm!(a ; .arch x64 ; mov QWORD [rdx + EXEC_BUDGET], r10);
}

/// Leaves compiled code for the interpreter: to the handler of op `i`,
/// with op `i` as its first argument, and `Exec` saying what the
/// interpreter's handlers expect of the running block (its pc, ops and
/// the count before it; linked entries leave them to the exits). The
/// handler is the one the op had when compiled (for op 0, the
/// interpreter's own, never this code).
fn exit_to(b: &mut Block, i: usize) {
    let op = b.ops[i].handler as usize as i64;
    let ops = b.ops.as_ptr() as i64;
    let pc = b.pc as i64;
    pop_saved_regs(&mut b.a);
    dynasm!(b.a
        ; .arch x64
        ; mov rax, QWORD pc
        ; mov QWORD [rdx + EXEC_BLOCK_PC], rax
        ; mov rcx, r10
        ; mov rdi, QWORD ops
        ; add rdi, OP_BYTES * i as i32
        ; mov rax, QWORD op
        ; jmp rax
    );
}

/// Goes to the block at static `target`: through a patchable direct jump
/// when it lies on the page of the block's first pc (so on the same
/// frame: the translation that let the block run covers it, and the
/// link is keyed by physical address, jit/mod.rs), else through the jump
/// cache.
fn go_to(b: &mut Block, target: u64) {
    let page = !(PAGE_SIZE - 1);
    if target == b.pc {
        // A loop of one block: charge it again and go round, past the
        // loads of its registers if they stay in host registers (they hold
        // the current values: every write went to them, and none was
        // replaced).
        // Registers the loop keeps dirty round (`dirty_round`) are written
        // back on the way out when the budget is spent.
        let dirty = std::mem::take(&mut b.dirty_round);
        let over = if dirty.is_empty() {
            b.over
        } else {
            b.a.new_dynamic_label()
        };
        dynasm!(b.a ; .arch x64 ; sub r10, b.count ; jb =>over);
        // (`live_in_if_few` counted the registers so that none is ever
        // replaced, or the loop pinned the ones it keeps round; should a
        // template use a register the count missed, the loads are not
        // skipped. Nothing is kept dirty round then: `keeps_round`.)
        match b.loop_body.filter(|_| b.cache.keeps_round()) {
            Some(body) => dynasm!(b.a ; .arch x64 ; jmp =>body),
            None => {
                let start = b.start;
                dynasm!(b.a ; .arch x64 ; jmp =>start);
            }
        }
        if !dirty.is_empty() {
            dynasm!(b.a ; .arch x64 ; =>over);
            store_guests(&mut b.a, &dirty);
            let spent = b.over;
            dynasm!(b.a ; .arch x64 ; jmp =>spent);
        }
    } else if target & page == b.pc & page {
        let fallback = b.a.new_dynamic_label();
        b.sites.push((b.a.offset().0, fallback, target));
        dynasm!(b.a ; .arch x64 ; jmp =>fallback);
    } else {
        let chain = b.chain;
        dynasm!(b.a ; .arch x64 ; mov rax, QWORD target as i64 ; jmp =>chain);
    }
}

/// Emits the block's terminator, op `end`, if it has a template: it
/// computes the next pc and goes there (`go_to`, or `chain` for `jalr`).
/// Returns false for the others.
fn emit_terminator(b: &mut Block, end: usize) -> bool {
    use OpKind as K;
    let op = b.ops[end];
    let rd = 8 * i32::from(op.rd);
    let after = b.pc.wrapping_add(u64::from(op.offset) + u64::from(op.len));
    let target = op.imm as u64;
    match op.kind {
        K::Fallthrough => {
            let next = b.pc.wrapping_add(u64::from(op.offset));
            b.cache.flush(&mut b.a);
            go_to(b, next);
        }
        K::Jal => {
            b.cache.next_op(end);
            if op.rd != SINK {
                dynasm!(b.a ; .arch x64 ; mov rax, QWORD after as i64);
                b.cache.write_rax(&mut b.a, op.rd);
            }
            // A `j` back to the start of a loop of one block goes round
            // as its branch would (below).
            if b.loop_round && b.cache.keeps_round() {
                b.cache.flush_unpinned(&mut b.a);
                b.dirty_round = b.cache.dirty();
            } else {
                b.cache.flush(&mut b.a);
            }
            go_to(b, target);
        }
        K::Jalr => {
            let Ok(imm) = i32::try_from(op.imm) else {
                return false;
            };
            let chain = b.chain;
            // The target from rs1 before rd is written: they may be one.
            b.cache.next_op(end);
            let base = b.cache.read(&mut b.a, op.rs1);
            // Before rd is written to the file: a dirty copy of it is old.
            b.cache.flush(&mut b.a);
            dynasm!(b.a
                ; .arch x64
                ; lea rcx, [Rq(base) + imm]
                ; and rcx, -2
                ; mov rax, QWORD after as i64
                ; mov QWORD [rsi + rd], rax
                ; mov rax, rcx
                ; jmp =>chain
            );
        }
        K::Beq | K::Bne | K::Blt | K::Bge | K::Bltu | K::Bgeu => {
            b.cache.next_op(end);
            let operands = read_comparands(b, &op);
            // A loop of one block that keeps its registers goes round with
            // them dirty, and writes them back only where it leaves: on
            // the fall-through below, and when the budget is spent
            // (`go_to`).
            // (The loop's registers never give up their host registers; if
            // one did, the loop writes back every round.)
            let dirty = if b.loop_round && b.cache.keeps_round() {
                // (Registers that take turns are written back now.)
                b.cache.flush_unpinned(&mut b.a);
                b.cache.dirty()
            } else {
                b.cache.flush(&mut b.a);
                Vec::new()
            };
            // A target elsewhere on the page: the conditional jump itself
            // is the patchable site (one jump taken, not two).
            let page = !(PAGE_SIZE - 1);
            let site = target != b.pc && target & page == b.pc & page;
            // Where it jumps when taken: the site's fallback, or the code
            // below that goes to the target.
            let to = b.a.new_dynamic_label();
            compare(&mut b.a, operands);
            if site {
                b.sites.push((b.a.offset().0, to, target));
            }
            jump_if(&mut b.a, op.kind, to);
            store_guests(&mut b.a, &dirty);
            go_to(b, after);
            if !site {
                dynasm!(b.a ; .arch x64 ; =>to);
                b.dirty_round = dirty;
                go_to(b, target);
            }
        }
        _ => return false,
    }
    true
}

/// The host registers of a conditional branch's two operands, read into
/// the cache (op `i`'s `next_op` done). x0 needs no host register: as the
/// second operand it is `None` (`test` sets the flags `cmp` with 0 would,
/// so `beqz`, `bltz` and the like are one instruction), and as the first
/// it is `rax`, which `compare` zeroes.
fn read_comparands(b: &mut Block, op: &Op) -> (u8, Option<u8>) {
    let r1 = match op.rs1 {
        0 => RAX,
        g => b.cache.read(&mut b.a, g),
    };
    let r2 = (op.rs2 != 0).then(|| b.cache.read(&mut b.a, op.rs2));
    (r1, r2)
}

/// Compares a branch's operands (`read_comparands`), for `jump_if`.
/// Writes no register but `rax` when the first operand is x0.
fn compare(a: &mut VecAssembler<X64Relocation>, (r1, r2): (u8, Option<u8>)) {
    if r1 == RAX {
        dynasm!(a ; .arch x64 ; xor eax, eax);
    }
    match r2 {
        None => dynasm!(a ; .arch x64 ; test Rq(r1), Rq(r1)),
        Some(r2) => dynasm!(a ; .arch x64 ; cmp Rq(r1), Rq(r2)),
    }
}

/// Jumps to `to` if the branch (or side exit) of `kind` is taken, by the
/// flags `compare` set: one `jcc rel32`, which may be a patchable site.
fn jump_if(a: &mut VecAssembler<X64Relocation>, kind: OpKind, to: DynamicLabel) {
    use OpKind as K;
    match kind.condition() {
        Some(K::Beq) => dynasm!(a ; .arch x64 ; je =>to),
        Some(K::Bne) => dynasm!(a ; .arch x64 ; jne =>to),
        Some(K::Blt) => dynasm!(a ; .arch x64 ; jl =>to),
        Some(K::Bge) => dynasm!(a ; .arch x64 ; jge =>to),
        Some(K::Bltu) => dynasm!(a ; .arch x64 ; jb =>to),
        _ => dynasm!(a ; .arch x64 ; jae =>to),
    }
}

/// Emits a side exit, op `i` (op.rs, `OpKind::SideBeq`): the comparison
/// and a conditional jump to its stub, which `emit_side_exit_stubs` emits
/// out of line. Not taken, the block goes on with every register where it
/// was.
fn emit_side_exit(b: &mut Block, i: usize) {
    let op = b.ops[i];
    b.cache.next_op(i);
    let operands = read_comparands(b, &op);
    let stub = b.a.new_dynamic_label();
    compare(&mut b.a, operands);
    jump_if(&mut b.a, op.kind, stub);
    // The registers dirty at the jump, which the stub writes back.
    let dirty = b.cache.dirty();
    b.side_exits.push((stub, i, dirty));
}

/// Ops a short skip jumps over at most (`skip_join`).
const SKIP_OPS: usize = 4;

/// Whether the side exit `ops[i]`, in a block at `pc` whose compiled ops
/// end at `end`, is a short skip: a jump over a few ops of its own block
/// (`if (c) x = -x;` compiled as a branch over the negation) that the
/// code can take without leaving the block (`emit_skip`). Returns the
/// index of the op it jumps to, if its target is the start of op `j`
/// (after `i`, at most `end`) and the ops between are at most `SKIP_OPS`
/// that only compute registers (no memory access, exit or floating
/// point; not a folded constant, whose `Nop`s do not compute) and use,
/// with the comparands, at most as many guest registers as a template
/// may hold at once besides the pinned ones.
fn skip_join(ops: &[Op], end: usize, pc: u64, i: usize) -> Option<usize> {
    use OpKind as K;
    let target = ops[i].imm as u64;
    let j = (i + 1..=end).find(|&j| pc.wrapping_add(u64::from(ops[j].offset)) == target)?;
    let skipped = &ops[i + 1..j];
    let simple = |op: &Op| {
        compiles(op)
            && !(op.kind.is_load()
                || op.kind.is_store()
                || op.kind.is_side_exit()
                || op.kind.is_terminator()
                || fp_compiles(op)
                || matches!(op.kind, K::Nop | K::LiSkip))
    };
    if skipped.len() > SKIP_OPS || !skipped.iter().all(simple) || ops[j].kind == K::Nop {
        return None;
    }
    (skip_registers(ops, i, j).len() <= UNPINNED_REGS).then_some(j)
}

/// The guest registers the short skip `ops[i]` to op `j` compares and the
/// ops it skips read or write, each once.
fn skip_registers(ops: &[Op], i: usize, j: usize) -> Vec<u8> {
    let mut used = Vec::new();
    for op in &ops[i..j] {
        let (reads, write) = registers(op);
        for g in reads.into_iter().chain([write]).flatten() {
            if !used.contains(&g) {
                used.push(g);
            }
        }
    }
    used
}

/// Emits a short skip, op `i`, to op `join` (`skip_join`): the comparison
/// and a conditional jump to its stub (`emit_skip_stubs`), which gives
/// the skipped instructions back to the budget and comes back at `join`.
/// Both ways must meet there with the register cache alike, which the
/// code cannot tell apart: so every register the skip and the skipped
/// ops use is loaded first (none can then be replaced by another within
/// them), and a register the skipped ops write is counted dirty after
/// them either way (when they were skipped it holds the file's value,
/// which writing back leaves as it was).
fn emit_skip(b: &mut Block, i: usize, join: usize) {
    let op = b.ops[i];
    b.cache.next_op(i);
    // (x0 too: the templates read it as any register.)
    for g in skip_registers(b.ops, i, join) {
        b.cache.read(&mut b.a, g);
    }
    let operands = read_comparands(b, &op);
    let (stub, at_join) = (b.a.new_dynamic_label(), b.a.new_dynamic_label());
    compare(&mut b.a, operands);
    jump_if(&mut b.a, op.kind, stub);
    let skipped = i32::from(b.ops[i + 1].left) - i32::from(b.ops[join].left);
    b.skips.push((stub, at_join, skipped));
    b.joins.push((join, at_join));
}

/// Places the labels of the short skips to op `i`, which is next.
fn join_skips(b: &mut Block, i: usize) {
    let a = &mut b.a;
    b.joins.retain(|&(j, label)| {
        if j == i {
            dynasm!(a ; .arch x64 ; =>label);
        }
        j != i
    });
}

/// The stubs of the block's short skips: the skipped instructions back
/// to the budget (the block was charged whole), and on at the op skipped
/// to.
fn emit_skip_stubs(b: &mut Block) {
    for (stub, join, skipped) in std::mem::take(&mut b.skips) {
        dynasm!(b.a ; .arch x64 ; =>stub ; add r10, skipped ; jmp =>join);
    }
}

/// The stubs of the block's side exits: each writes back the registers
/// dirty at its jump, gives the instructions after it back to the budget
/// (the block was charged whole) and goes to its target: through a
/// patchable direct jump on the same page, as a terminator does (`go_to`;
/// a side exit's target is ahead of it, so never the block's own start).
fn emit_side_exit_stubs(b: &mut Block) {
    for (stub, i, dirty) in std::mem::take(&mut b.side_exits) {
        // (A side exit is never its block's last op: `decode_block` ends
        // every block in a terminator or a `Fallthrough`.)
        let not_run = i32::from(b.ops[i + 1].left);
        dynasm!(b.a ; .arch x64 ; =>stub);
        store_guests(&mut b.a, &dirty);
        dynasm!(b.a ; .arch x64 ; add r10, not_run);
        go_to(b, b.ops[i].imm as u64);
    }
}

/// Emits block chaining through the jump cache to the pc in `rax`
/// (exec.rs, `chain`, in machine code): if the jump cache has the block
/// for it, jumps to its linked entry if it is compiled; else, if the
/// budget allows the whole block, counts it, makes it the running block in
/// `Exec` and jumps to its first handler. Otherwise writes the count back
/// and returns the pc to the run loop.
fn emit_chain(b: &mut Block) {
    let (slow, interpreted) = (b.a.new_dynamic_label(), b.a.new_dynamic_label());
    let code_base = b.code_base;
    let chain = b.chain;
    dynasm!(b.a
        ; .arch x64
        ; =>chain
        ; mov rdx, QWORD [rsp]
        // The entry: jump_cache + 24 * ((pc >> 1) & mask) (op.rs, `JumpEntry::index`).
        ; mov rcx, rax
        ; shr rcx, 1
        ; and ecx, JUMP_INDEX_MASK
        ; lea rcx, [rcx + rcx * 2]
        ; mov r8, QWORD [rdx + EXEC_JUMP_CACHE]
        ; lea r8, [r8 + rcx * 8]
        ; cmp rax, QWORD [r8 + JUMP_PC]
        ; jne =>slow
        // A compiled block (its handler lies in the arena: it is its
        // interpreter entry): straight to its linked entry, which charges
        // the budget; `Exec` is brought up to date by its exits.
        ; mov rdi, QWORD [r8 + JUMP_OPS]
        ; mov rcx, QWORD [rdi]
        ; mov r9, QWORD code_base.wrapping_neg() as i64
        ; add r9, rcx
        ; cmp r9, MAX_CODE_BYTES as i32
        ; jae =>interpreted
        ; add rcx, LINKED_ENTRY as i32
        ; jmp rcx
        ; =>interpreted
        // count <= budget left, or the run loop decides.
        ; mov r9, QWORD [r8 + JUMP_COUNT]
        ; cmp r10, r9
        ; jb =>slow
        ; sub r10, r9
        ; mov QWORD [rdx + EXEC_BLOCK_PC], rax
    );
    pop_saved_regs(&mut b.a);
    dynasm!(b.a
        ; .arch x64
        ; mov rcx, r10
        ; mov rdi, QWORD [r8 + JUMP_OPS]
        ; jmp QWORD [rdi]
        ; =>slow
    );
    store_budget(&mut b.a);
    pop_saved_regs(&mut b.a);
    dynasm!(b.a ; .arch x64 ; ret);
}

/// The host registers that hold copies of guest registers within a block
/// (`r9`, `rdx`, `rbx`, `rbp`, `r12`–`r15`, `rdi`): callee-saved ones and
/// `rdx`, which the interpreter entry saves on the stack and every exit
/// restores (`SAVED_REGS`); `rdi`, the handler's first argument, which
/// every exit sets; and `r9`, which no handler expects kept.
///
/// A free register is taken first to last, so `r9` and `rdx`, which only
/// some templates must take care of (`mulh`, division, floating point),
/// hold guest registers in nearly every block, and every test runs them.
const CACHE_REGS: [u8; 9] = [R9, RDX, 3, 5, 12, 13, 14, 15, 7];
/// `r9`: a cache register in blocks without floating-point ops, whose
/// templates use it (`first_slot`).
const R9: u8 = 9;

/// The first of `CACHE_REGS` the block whose compiled ops are `compiled`
/// may use (it uses all from there on): `r9`'s, or the next when it has
/// a floating-point op, whose templates keep `Exec`'s floating-point
/// registers' address in `r9`.
fn first_slot(compiled: &[Op]) -> usize {
    usize::from(compiled.iter().any(fp_compiles))
}
/// `rax`: scratch, and the sink's register (`RegCache::target`).
const RAX: u8 = 0;
/// `rcx`: scratch.
const RCX: u8 = 1;
/// `rdx`: `Exec` where compiled code is entered and left, a cache
/// register in between (`SAVED_REGS`).
const RDX: u8 = 2;

/// Guest registers in host registers, within one block: a write-back
/// cache. A write of a guest register goes to its host register only and
/// marks it dirty; the register file is brought up to date (`flush`) only
/// where code may leave the block: before its terminator, before an exit
/// to the interpreter, and in the exit stub of each load or store that
/// misses the TLB, which writes back what was dirty at that op (so the
/// interpreter, which restarts that op, sees exactly the registers of the
/// instructions before it). A register written twice between two such
/// points is stored once, and a reload never waits on a store. A dirty
/// register that must give up its host register is written back first.
/// The cache starts empty and clean at each block entry (a linked entry
/// cannot know what the block before left where). A loop of one block
/// is the exception: it loads the registers it keeps round at its start
/// (all it uses if they fit, else its most used, pinned: `pin`), counts
/// those it writes as dirty from its first op on, and goes round without
/// writing them back: its branch writes them back only on the way out
/// (the fall-through, and the budget spent).
struct RegCache {
    /// The guest register each of `CACHE_REGS` holds.
    holds: [Option<u8>; CACHE_REGS.len()],
    /// Whether each holds a value the register file does not have yet.
    dirty: [bool; CACHE_REGS.len()],
    /// When each was last used: registers the current op uses (`used ==
    /// clock`) are not replaced while it is emitted.
    used: [u32; CACHE_REGS.len()],
    /// Ops emitted so far.
    clock: u32,
    /// The registers each op of the block reads and writes (`registers`),
    /// for choosing which to replace (`slot`).
    uses: Vec<([Option<u8>; 2], Option<u8>)>,
    /// The index of the op being emitted.
    at: usize,
    /// Whether a guest register was ever replaced by another.
    replaced: bool,
    /// Slots whose guest register is never replaced (`pin`).
    pinned: [bool; CACHE_REGS.len()],
    /// The first slot the block may use (`first_slot`).
    first: usize,
}

impl RegCache {
    /// An empty cache for the block whose compiled ops are `compiled`,
    /// using the host registers of `CACHE_REGS` from `first` on.
    fn new(compiled: &[Op], first: usize) -> RegCache {
        RegCache {
            holds: [None; CACHE_REGS.len()],
            dirty: [false; CACHE_REGS.len()],
            used: [0; CACHE_REGS.len()],
            clock: 1,
            uses: compiled.iter().map(registers).collect(),
            at: 0,
            replaced: false,
            pinned: [false; CACHE_REGS.len()],
            first,
        }
    }

    /// Starts op `at` of the block (the next op emitted).
    fn next_op(&mut self, at: usize) {
        self.clock += 1;
        self.at = at;
    }

    /// Where guest register `g` is next read, from the current op on:
    /// the op's index, or `usize::MAX` when the block does not read it
    /// again before writing it (its value is dead here) or at all.
    fn next_read(&self, g: u8) -> usize {
        for (j, (reads, write)) in self.uses.iter().enumerate().skip(self.at) {
            if reads.contains(&Some(g)) {
                return j;
            }
            if *write == Some(g) {
                break;
            }
        }
        usize::MAX
    }

    /// The slot for guest register `g`: its own if cached, else a free
    /// one, else the one whose guest register the block reads again
    /// latest (Belady's choice: the block's ops are all known when it is
    /// compiled), a clean one before a dirty one (which costs a store),
    /// and never one the current op uses (there are more slots than any
    /// op uses). A dirty register replaced is written back first.
    /// Returns (slot, whether it already holds `g`).
    fn slot(&mut self, a: &mut VecAssembler<X64Relocation>, g: u8) -> (usize, bool) {
        if let Some(s) = self.holds.iter().position(|&h| h == Some(g)) {
            self.used[s] = self.clock;
            return (s, true);
        }
        let s = (self.first..CACHE_REGS.len())
            .filter(|&s| self.used[s] != self.clock && !self.pinned[s])
            .min_by_key(|&s| match self.holds[s] {
                None => (0, 0, false),
                Some(held) => (1, usize::MAX - self.next_read(held), self.dirty[s]),
            })
            .unwrap_or(self.first);
        self.replaced |= self.holds[s].is_some();
        if let (Some(old), true) = (self.holds[s], self.dirty[s]) {
            store_guest(a, old, CACHE_REGS[s]);
            self.dirty[s] = false;
        }
        self.holds[s] = Some(g);
        self.used[s] = self.clock;
        (s, false)
    }

    /// The host register holding guest register `g`, loaded now if not
    /// cached.
    fn read(&mut self, a: &mut VecAssembler<X64Relocation>, g: u8) -> u8 {
        let (s, hit) = self.slot(a, g);
        let r = CACHE_REGS[s];
        if !hit {
            dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [rsi + 8 * i32::from(g)]);
        }
        r
    }

    /// Guest register `g` = `rax`: into the cache, dirty.
    fn write_rax(&mut self, a: &mut VecAssembler<X64Relocation>, g: u8) {
        // The sink's register is rax itself (`target`).
        let r = self.write(a, g);
        if r != RAX {
            dynasm!(a ; .arch x64 ; mov Rq(r), rax);
        }
    }

    /// The host register the op's result goes to: guest register `g`'s
    /// own (so that the template computes straight into it, where a
    /// two-operand x86 instruction wants it), or `rax` for the sink, which
    /// is never read. Not yet marked dirty: the template calls `written`
    /// once it has written it. (Until then the register file's copy is
    /// the current value, which is what an exit before the write must
    /// see; the host register may hold anything.)
    fn target(&mut self, a: &mut VecAssembler<X64Relocation>, g: u8) -> u8 {
        if g == SINK {
            return RAX;
        }
        CACHE_REGS[self.slot(a, g).0]
    }

    /// Guest register `g` now has its new value in its host register
    /// (`target`).
    fn written(&mut self, g: u8) {
        if let Some(s) = self.holds.iter().position(|&h| h == Some(g)) {
            self.dirty[s] = true;
        }
    }

    /// `target` and `written` at once, for an op that cannot leave the
    /// block between them (no memory access).
    fn write(&mut self, a: &mut VecAssembler<X64Relocation>, g: u8) -> u8 {
        let r = self.target(a, g);
        self.written(g);
        r
    }

    /// The dirty registers, as (guest register, host register).
    fn dirty(&self) -> Vec<(u8, u8)> {
        (0..CACHE_REGS.len())
            .filter(|&s| self.dirty[s])
            .filter_map(|s| Some((self.holds[s]?, CACHE_REGS[s])))
            .collect()
    }

    /// Keeps guest register `g`, cached now, in its host register for the
    /// rest of the block: never replaced. (All but `UNPINNED_REGS` at
    /// most, so that the other slots hold the three registers any op
    /// uses.)
    fn pin(&mut self, g: u8) {
        if let Some(s) = self.holds.iter().position(|&h| h == Some(g)) {
            self.pinned[s] = true;
        }
    }

    /// Whether a loop of one block can go round without writing back and
    /// reloading its registers: none was ever replaced, or those it keeps
    /// round are pinned (and the others are written back at the jump
    /// back, `flush_unpinned`).
    fn keeps_round(&self) -> bool {
        !self.replaced || self.pinned.contains(&true)
    }

    /// Writes the dirty registers that are not pinned back, and forgets
    /// them: at a loop's jump back, where its code takes every slot but
    /// the pinned ones as empty.
    fn flush_unpinned(&mut self, a: &mut VecAssembler<X64Relocation>) {
        if !self.pinned.contains(&true) {
            return;
        }
        for (s, &r) in CACHE_REGS.iter().enumerate() {
            if self.pinned[s] {
                continue;
            }
            if let (Some(g), true) = (self.holds[s], self.dirty[s]) {
                store_guest(a, g, r);
            }
            self.dirty[s] = false;
            self.holds[s] = None;
        }
    }

    /// Writes every dirty register back to the register file: the block
    /// may leave after this.
    fn flush(&mut self, a: &mut VecAssembler<X64Relocation>) {
        store_guests(a, &self.dirty());
        self.dirty = [false; CACHE_REGS.len()];
    }
}

/// Emits `x[g] = r` for each (guest register, host register) in `regs`.
fn store_guests(a: &mut VecAssembler<X64Relocation>, regs: &[(u8, u8)]) {
    for &(g, r) in regs {
        store_guest(a, g, r);
    }
}

/// Emits `x[g] = r` (guest register `g` from host register `r`).
fn store_guest(a: &mut VecAssembler<X64Relocation>, g: u8, r: u8) {
    dynasm!(a ; .arch x64 ; mov QWORD [rsi + 8 * i32::from(g)], Rq(r));
}

/// The callee-saved ones among `CACHE_REGS`, and `rdx` (`Exec`) last:
/// the interpreter entry pushes them, every exit pops them, so that
/// whenever compiled code runs they lie on top of the stack (linked
/// entries push nothing), with `Exec` at `[rsp]`, where the code that
/// needs it finds it (`load_exec`): `rdx` is a cache register too.
const SAVED_REGS: [u8; 7] = [3, 5, 12, 13, 14, 15, RDX];

fn push_saved_regs(a: &mut VecAssembler<X64Relocation>) {
    for r in SAVED_REGS {
        dynasm!(a ; .arch x64 ; push Rq(r));
    }
}

/// Pops what `push_saved_regs` pushed: `rdx` is `Exec` again after it.
fn pop_saved_regs(a: &mut VecAssembler<X64Relocation>) {
    for &r in SAVED_REGS.iter().rev() {
        dynasm!(a ; .arch x64 ; pop Rq(r));
    }
}

/// `r9` = the pointer at `field` bytes into `Exec` (the floating-point
/// registers' or `fcsr`'s address: `Exec` from the stack, `SAVED_REGS`).
fn exec_field_to_r9(a: &mut VecAssembler<X64Relocation>, field: i32) {
    dynasm!(a ; .arch x64 ; mov r9, QWORD [rsp] ; mov r9, QWORD [r9 + field]);
}

/// `rdx` = `Exec` (from the stack, `SAVED_REGS`), where compiled code
/// leaves for the run loop or the jump cache: every guest register it
/// held is written back by then.
fn load_exec(a: &mut VecAssembler<X64Relocation>) {
    dynasm!(a ; .arch x64 ; mov rdx, QWORD [rsp]);
}

/// Emits op `i`, an op `compiles` accepts.
///
/// The templates compute straight into the host register of the op's
/// destination (`RegCache::target`), as x86's two-operand instructions
/// want: `add rd, rs2` when rd is rs1, `mov rd, rs1; add rd, rs2` when
/// not, and `lea` where it gives the sum in one instruction without
/// touching a source. When rd is rs2 but not rs1 a non-commutative op
/// would overwrite its second source before reading it: those go through
/// `rax`.
fn emit_op(
    a: &mut VecAssembler<X64Relocation>,
    c: &mut RegCache,
    op: &Op,
    i: usize,
    out: &mut Out,
) {
    use OpKind as K;
    if fp_compiles(op) {
        return emit_fp_op(a, c, op, i, out);
    }
    c.next_op(i);
    let imm = op.imm as i32;
    let shamt = (op.imm & 63) as i8;
    let shamt_w = (op.imm & 31) as i8;
    macro_rules! x {
        ($($t:tt)*) => { dynasm!(a ; .arch x64 ; $($t)*) };
    }
    // The sources, in host registers.
    macro_rules! s1 {
        () => {
            c.read(a, op.rs1)
        };
    }
    macro_rules! s2 {
        () => {
            c.read(a, op.rs2)
        };
    }
    // rd's host register, to be written by the op (no exit in between).
    macro_rules! rd {
        () => {
            c.write(a, op.rd)
        };
    }
    // rd = rs1 <op> imm: a copy of rs1 unless rd is rs1, then the op.
    macro_rules! with_imm {
        ($ins:ident, $v:expr) => {{
            let a1 = s1!();
            let d = rd!();
            if d != a1 {
                x!(mov Rq(d), Rq(a1));
            }
            x!($ins Rq(d), $v);
        }};
    }
    // The sources and rd's host register of rd = rs1 <op> rs2, the
    // sources swapped for a commutative op when rd is rs2 (so that rd is
    // the first operand where it can be), and whether rd is still the
    // second source only: then the op computes in rax.
    macro_rules! operands {
        ($commutative:expr) => {{
            let (mut a1, mut a2) = (s1!(), s2!());
            let d = rd!();
            if d == a2 && d != a1 && $commutative {
                std::mem::swap(&mut a1, &mut a2);
            }
            (d, a1, a2, d == a2 && d != a1)
        }};
    }
    // rd = rs1 <op> rs2 (64-bit).
    macro_rules! with_reg {
        ($ins:ident, $commutative:expr) => {{
            let (d, a1, a2, in_rax) = operands!($commutative);
            if in_rax {
                x!(mov rax, Rq(a1) ; $ins rax, Rq(a2) ; mov Rq(d), rax);
            } else if d == a1 {
                x!($ins Rq(d), Rq(a2));
            } else {
                x!(mov Rq(d), Rq(a1) ; $ins Rq(d), Rq(a2));
            }
        }};
    }
    // The same on the low 32 bits, the result sign-extended.
    macro_rules! with_reg_w {
        ($ins:ident, $commutative:expr) => {{
            let (d, a1, a2, in_rax) = operands!($commutative);
            if in_rax {
                x!(mov eax, Rd(a1) ; $ins eax, Rd(a2) ; movsxd Rq(d), eax);
            } else if d == a1 {
                x!($ins Rd(d), Rd(a2) ; movsxd Rq(d), Rd(d));
            } else {
                x!(mov Rd(d), Rd(a1) ; $ins Rd(d), Rd(a2) ; movsxd Rq(d), Rd(d));
            }
        }};
    }
    // A shift by rs2: x86 takes the count in cl, and masks it to 6 bits
    // (5 for the 32-bit forms), as RISC-V does (unprivileged spec 2.4.2,
    // 4.2.2). The count goes to rcx first, so rd may be rs2.
    macro_rules! shift_by_reg {
        ($ins:ident) => {{
            let (a1, a2) = (s1!(), s2!());
            let d = rd!();
            x!(mov rcx, Rq(a2));
            if d != a1 {
                x!(mov Rq(d), Rq(a1));
            }
            x!($ins Rq(d), cl);
        }};
        ($ins:ident, w) => {{
            let (a1, a2) = (s1!(), s2!());
            let d = rd!();
            x!(mov ecx, Rd(a2));
            if d != a1 {
                x!(mov Rd(d), Rd(a1));
            }
            x!($ins Rd(d), cl ; movsxd Rq(d), Rd(d));
        }};
    }
    // A shift by an immediate on the low 32 bits, sign-extended.
    macro_rules! shift_w {
        ($ins:ident) => {{
            let a1 = s1!();
            let d = rd!();
            if d != a1 {
                x!(mov Rd(d), Rd(a1));
            }
            x!($ins Rd(d), shamt_w ; movsxd Rq(d), Rd(d));
        }};
    }
    // rd = 1 if the compare of rs1 with `$b` sets `$set`'s condition, else
    // 0: rax is cleared before the compare (`xor` changes the flags).
    macro_rules! set_if {
        ($set:ident, $($b:tt)+) => {{
            let a1 = s1!();
            x!(xor eax, eax ; cmp Rq(a1), $($b)+ ; $set al);
            let d = rd!();
            x!(mov Rq(d), rax);
        }};
    }
    match op.kind {
        K::Nop => {}
        K::Li | K::LiSkip => {
            let d = rd!();
            if let Ok(v) = i32::try_from(op.imm) {
                x!(mov Rq(d), v);
            } else {
                x!(mov Rq(d), QWORD op.imm);
            }
        }
        K::Mv => {
            let a1 = s1!();
            let d = rd!();
            if d != a1 {
                x!(mov Rq(d), Rq(a1));
            }
        }
        K::Addi => {
            let a1 = s1!();
            let d = rd!();
            x!(lea Rq(d), [Rq(a1) + imm]);
        }
        K::Xori => with_imm!(xor, imm),
        K::Ori => with_imm!(or, imm),
        K::Andi => with_imm!(and, imm),
        K::Slti => set_if!(setl, imm),
        K::Sltiu => set_if!(setb, imm),
        K::Slli => with_imm!(shl, shamt),
        K::Srli => with_imm!(shr, shamt),
        K::Srai => with_imm!(sar, shamt),
        // `sext.w` (gcc's `addiw rd, rs, 0` after 32-bit arithmetic).
        K::Addiw if imm == 0 => {
            let a1 = s1!();
            let d = rd!();
            x!(movsxd Rq(d), Rd(a1));
        }
        K::Addiw => {
            let a1 = s1!();
            let d = rd!();
            x!(lea Rd(d), [Rq(a1) + imm] ; movsxd Rq(d), Rd(d));
        }
        K::Slliw => shift_w!(shl),
        K::Srliw => shift_w!(shr),
        K::Sraiw => shift_w!(sar),
        K::Add => {
            let (a1, a2) = (s1!(), s2!());
            let d = rd!();
            x!(lea Rq(d), [Rq(a1) + Rq(a2)]);
        }
        K::Sub => with_reg!(sub, false),
        K::Xor => with_reg!(xor, true),
        K::Or => with_reg!(or, true),
        K::And => with_reg!(and, true),
        K::Mul => with_reg!(imul, true),
        K::Sll => shift_by_reg!(shl),
        K::Srl => shift_by_reg!(shr),
        K::Sra => shift_by_reg!(sar),
        K::Slt => {
            let a2 = s2!();
            set_if!(setl, Rq(a2))
        }
        K::Sltu => {
            let a2 = s2!();
            set_if!(setb, Rq(a2))
        }
        K::Addw => {
            let (a1, a2) = (s1!(), s2!());
            let d = rd!();
            x!(lea Rd(d), [Rq(a1) + Rq(a2)] ; movsxd Rq(d), Rd(d));
        }
        K::Subw => with_reg_w!(sub, false),
        K::Mulw => with_reg_w!(imul, true),
        K::Sllw => shift_by_reg!(shl, w),
        K::Srlw => shift_by_reg!(shr, w),
        K::Sraw => shift_by_reg!(sar, w),
        K::Sh1add | K::Sh2add | K::Sh3add => {
            let (a1, a2) = (s1!(), s2!());
            let d = rd!();
            match op.kind {
                K::Sh1add => x!(lea Rq(d), [Rq(a2) + Rq(a1) * 2]),
                K::Sh2add => x!(lea Rq(d), [Rq(a2) + Rq(a1) * 4]),
                _ => x!(lea Rq(d), [Rq(a2) + Rq(a1) * 8]),
            }
        }
        // The high halves of products: x86's one-operand multiply leaves
        // them in rdx, which may hold a guest register: kept on the stack
        // meanwhile.
        K::Mulh | K::Mulhu => {
            let (a1, a2) = (s1!(), s2!());
            x!(push rdx ; mov rax, Rq(a1));
            if op.kind == K::Mulh {
                x!(imul Rq(a2));
            } else {
                x!(mul Rq(a2));
            }
            x!(mov rax, rdx ; pop rdx);
            c.write_rax(a, op.rd);
        }
        K::Div | K::Divu | K::Rem | K::Remu | K::Divw | K::Divuw | K::Remw | K::Remuw => {
            let (a1, a2) = (s1!(), s2!());
            x!(mov rax, Rq(a1) ; mov rcx, Rq(a2));
            emit_division(a, op);
            c.write_rax(a, op.rd);
        }
        K::Lb | K::Lh | K::Lw | K::Ld | K::Lbu | K::Lhu | K::Lwu => {
            let size = match op.kind {
                K::Lb | K::Lbu => 1,
                K::Lh | K::Lhu => 2,
                K::Lw | K::Lwu => 4,
                _ => 8,
            };
            let base = s1!();
            // rd's host register now (a register it replaces is written
            // back first, on the path every exit below shares), marked
            // written only after the load: the miss exit writes back what
            // is dirty before it.
            let d = c.target(a, op.rd);
            if out.same_page {
                same_page_check(a, out, i, c.dirty(), base, imm, size, READ_TAG);
            } else {
                let miss = translate(a, base, imm, size, READ_TAG);
                out.misses.push((miss, i, c.dirty()));
                if let Some(slot) = out.guess.then(|| out.predictions.take()).flatten() {
                    out.guesses.push(guess_addend(a, slot));
                } else {
                    x!(mov r8, QWORD [r11 + rcx + ADDEND]);
                }
            }
            // The host address: base + imm + the addend (in r8).
            match op.kind {
                K::Lb => x!(movsx Rq(d), BYTE [Rq(base) + r8 + imm]),
                K::Lbu => x!(movzx Rd(d), BYTE [Rq(base) + r8 + imm]),
                K::Lh => x!(movsx Rq(d), WORD [Rq(base) + r8 + imm]),
                K::Lhu => x!(movzx Rd(d), WORD [Rq(base) + r8 + imm]),
                K::Lw => x!(movsxd Rq(d), DWORD [Rq(base) + r8 + imm]),
                K::Lwu => x!(mov Rd(d), DWORD [Rq(base) + r8 + imm]),
                _ => x!(mov Rq(d), QWORD [Rq(base) + r8 + imm]),
            }
            c.written(op.rd);
        }
        K::Sb | K::Sh | K::Sw | K::Sd => {
            let size = match op.kind {
                K::Sb => 1,
                K::Sh => 2,
                K::Sw => 4,
                _ => 8,
            };
            let (base, value) = (s1!(), s2!());
            if out.same_page {
                same_page_check(a, out, i, c.dirty(), base, imm, size, WRITE_TAG);
            } else {
                let miss = translate(a, base, imm, size, WRITE_TAG);
                out.misses.push((miss, i, c.dirty()));
                x!(mov r8, QWORD [r11 + rcx + ADDEND]);
            }
            match op.kind {
                K::Sb => x!(mov BYTE [Rq(base) + r8 + imm], Rb(value)),
                K::Sh => x!(mov WORD [Rq(base) + r8 + imm], Rw(value)),
                K::Sw => x!(mov DWORD [Rq(base) + r8 + imm], Rd(value)),
                _ => x!(mov QWORD [Rq(base) + r8 + imm], Rq(value)),
            }
        }
        // `compiles` accepts no other kind.
        _ => unreachable!("jit: no template for {:?}", op.kind),
    }
}

/// Emits a division or remainder of `rax` by `rcx` into `rax`, with
/// RISC-V's results where x86's `div`/`idiv` would trap (unprivileged spec
/// 13.2): by zero, the quotient is all ones and the remainder the
/// dividend; for the signed overflow `MIN / -1` the quotient is `MIN`
/// (`neg` of `MIN` gives it) and the remainder 0. The W forms work on the
/// low 32 bits and sign-extend. `rdx` (a cache register) is kept on the
/// stack while `div` uses it.
fn emit_division(a: &mut VecAssembler<X64Relocation>, op: &Op) {
    use OpKind as K;
    let wide = matches!(op.kind, K::Div | K::Divu | K::Rem | K::Remu);
    let signed = matches!(op.kind, K::Div | K::Rem | K::Divw | K::Remw);
    let remainder = matches!(op.kind, K::Rem | K::Remu | K::Remw | K::Remuw);
    let (by_zero, minus_one, done) = (
        a.new_dynamic_label(),
        a.new_dynamic_label(),
        a.new_dynamic_label(),
    );
    macro_rules! x {
        ($($t:tt)*) => { dynasm!(a ; .arch x64 ; $($t)*) };
    }
    if wide {
        x!(test rcx, rcx ; jz =>by_zero);
        if signed {
            x!(cmp rcx, -1 ; je =>minus_one ; push rdx ; cqo ; idiv rcx);
        } else {
            x!(push rdx ; xor edx, edx ; div rcx);
        }
    } else {
        x!(test ecx, ecx ; jz =>by_zero);
        if signed {
            x!(cmp ecx, -1 ; je =>minus_one ; push rdx ; cdq ; idiv ecx);
        } else {
            x!(push rdx ; xor edx, edx ; div ecx);
        }
    }
    // After `div`: the quotient in rax, the remainder in rdx.
    if remainder {
        x!(mov rax, rdx);
    }
    x!(pop rdx ; jmp =>done);
    if signed {
        x!(=>minus_one);
        if remainder {
            x!(xor eax, eax);
        } else if wide {
            x!(neg rax);
        } else {
            x!(neg eax);
        }
        x!(jmp =>done);
    }
    x!(=>by_zero);
    if !remainder {
        x!(mov rax, -1);
    }
    x!(=>done);
    if !wide {
        x!(movsxd rax, eax);
    }
}

/// Emits the TLB lookup of an aligned `size`-byte access at `base + imm`
/// (`base` a host register; mmu.rs, `Tlb::read_host`/`write_host`, in
/// machine code): leaves the entry's byte offset in `rcx` (the addend is
/// at `[r11 + rcx + ADDEND]`), or jumps to the returned label (to be bound
/// to the op's exit) when the entry's `tag` does not match. The offset
/// comes from one shift and one `and` (`TLB_OFFSET_MASK`); the access
/// itself then addresses `[base + addend + imm]`, so no register holds
/// the guest address.
fn translate(
    a: &mut VecAssembler<X64Relocation>,
    base: u8,
    imm: i32,
    size: i32,
    tag: i32,
) -> DynamicLabel {
    let miss = a.new_dynamic_label();
    translate_to(a, base, imm, size, tag, miss);
    miss
}

/// `translate`, to a miss label made before.
fn translate_to(
    a: &mut VecAssembler<X64Relocation>,
    base: u8,
    imm: i32,
    size: i32,
    tag: i32,
    miss: DynamicLabel,
) {
    // The tag an aligned access must match: the page address with the low
    // bits that must be zero for alignment kept (mmu.rs, `Tlb::tag_for`).
    let mask = !(PAGE_SIZE as i32 - 1) | (size - 1);
    if host_has_bmi2() {
        // The address once, and the entry's offset from it in two
        // instructions: rotated right, the page number's low bits land
        // where the mask picks them, already scaled to the entry's size.
        dynasm!(a
            ; .arch x64
            ; lea r8, [Rq(base) + imm]
            ; rorx ecx, r8d, PAGE_SHIFT - TLB_ENTRY_SHIFT
            ; and ecx, TLB_OFFSET_MASK
        );
    } else {
        dynasm!(a
            ; .arch x64
            ; lea ecx, [Rq(base) + imm]
            ; shr ecx, PAGE_SHIFT - TLB_ENTRY_SHIFT
            ; and ecx, TLB_OFFSET_MASK
            ; lea r8, [Rq(base) + imm]
        );
    }
    dynasm!(a
        ; .arch x64
        ; and r8, mask
        ; cmp r8, QWORD [r11 + rcx + tag]
        ; jne =>miss
    );
}

/// Whether the host has BMI2 (`rorx`), once.
fn host_has_bmi2() -> bool {
    static BMI2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BMI2.get_or_init(|| std::is_x86_feature_detected!("bmi2"))
}

/// The TLB check of a load or store whose base register is the last
/// access's, unchanged or stepped by a small constant, with no op between
/// them that writes rcx or r8 (`entry_kept`; in a loop of one block, the
/// last access of the round before: `carried_access`): `rcx` still
/// indexes the TLB entry of the last access's page and `r8` holds that
/// entry's addend, and this access most likely lies on the same page (a
/// struct's fields, a stack frame, a pointer stepping through bytes). Its
/// tag is compared with that entry's: if they match, `r8` is this
/// access's addend too. Four instructions instead of `translate`'s six
/// (seven without BMI2) and the addend's load, and the access's address
/// no longer waits for a load from the TLB. If not (another page, a
/// misaligned address, a page not writable or holding code for a store),
/// the out-of-line full lookup (`SlowCheck`, emitted after the block)
/// runs, which leaves rcx and r8 for this access's own entry, and comes
/// back to the access (or leaves through the op's miss exit). So what this saves needs only that
/// the TLB does not change within compiled code, which it does not: it is
/// filled and flushed outside it.
#[allow(clippy::too_many_arguments)]
fn same_page_check(
    a: &mut VecAssembler<X64Relocation>,
    out: &mut Out,
    i: usize,
    dirty: Vec<(u8, u8)>,
    base: u8,
    imm: i32,
    size: i32,
    tag: i32,
) {
    let [slow, back, miss] = [(); 3].map(|_| a.new_dynamic_label());
    let mask = !(PAGE_SIZE as i32 - 1) | (size - 1);
    dynasm!(a
        ; .arch x64
        ; lea rax, [Rq(base) + imm]
        ; and rax, mask
        ; cmp rax, QWORD [r11 + rcx + tag]
        ; jne =>slow
        ; =>back
    );
    out.misses.push((miss, i, dirty));
    out.slow_checks.push(SlowCheck {
        slow,
        back,
        miss,
        base,
        imm,
        size,
        tag,
    });
}

/// Host registers a loop of one block with more registers than the cache
/// has leaves for the registers it does not pin (`RegCache::pin`; it
/// pins as many as the rest of its cache has): these take turns in them,
/// more than the three one op uses (as the whole cache does without pins:
/// `RegCache::slot`).
const UNPINNED_REGS: usize = 4;

/// The `n` guest registers the ops `compiled` read and write most, most
/// used first (the first used first among equals); never x0.
fn most_used_registers(compiled: &[Op], n: usize) -> Vec<u8> {
    let mut uses: Vec<(u8, usize)> = Vec::new();
    for op in compiled {
        let (reads, write) = registers(op);
        for g in reads
            .into_iter()
            .chain([write])
            .flatten()
            .filter(|&g| g != 0)
        {
            match uses.iter_mut().find(|(h, _)| *h == g) {
                Some((_, count)) => *count += 1,
                None => uses.push((g, 1)),
            }
        }
    }
    // Registers the loop carries round first: pinned, each saves a load
    // and a store every round; a temporary saves at most its store.
    let carried = carried_registers(compiled);
    // A stable sort: equals keep the order of first use.
    uses.sort_by_key(|&(g, count)| std::cmp::Reverse((carried.contains(&g), count)));
    uses.into_iter().take(n).map(|(g, _)| g).collect()
}

/// The guest registers a loop of one block whose ops are `compiled`
/// carries from round to round: those it reads before it writes them,
/// and writes (a pointer it steps, a counter).
fn carried_registers(compiled: &[Op]) -> Vec<u8> {
    let mut written: Vec<u8> = Vec::new();
    let mut read_first = Vec::new();
    for op in compiled {
        let (reads, write) = registers(op);
        for g in reads.into_iter().flatten() {
            if !written.contains(&g) && !read_first.contains(&g) {
                read_first.push(g);
            }
        }
        written.extend(write);
    }
    read_first.retain(|g| written.contains(g));
    read_first
}

/// Whether the block at `pc` whose compiled ops are `compiled` ends in a
/// branch or a `j` back to its own start (a loop of one block).
fn loops_to_itself(compiled: &[Op], terminator: bool, pc: u64) -> bool {
    compiled.last().is_some_and(|op| {
        let back = op.kind.is_branch() || (op.kind == OpKind::Jal && op.rd == SINK);
        terminator && back && op.imm as u64 == pc
    })
}

/// The guest registers the ops `compiled` write, each once.
fn written_registers(compiled: &[Op]) -> Vec<u8> {
    let mut written = Vec::new();
    for g in compiled.iter().filter_map(|op| registers(op).1) {
        if !written.contains(&g) {
            written.push(g);
        }
    }
    written
}

/// For a block that loops to its own start (`loops_to_itself`), whose
/// ops are `compiled` (its branch last), the base register of its last
/// load or store, if rcx and r8 still hold that access's TLB entry and
/// addend where it jumps back (`entry_kept` over its ops).
fn carried_access(compiled: &[Op]) -> Option<u8> {
    compiled[..compiled.len().saturating_sub(1)]
        .iter()
        .fold(None, |last, op| entry_kept(op, last))
}

/// After op `op`, the base register of the last load or store whose TLB
/// entry and addend rcx and r8 hold (`same_page_check`), given that of the
/// op before (`last`): the op's own base if it is a load or store (unless
/// a load writes its own base: its page then says nothing of the next
/// address); none after an op whose template writes rcx or r8 (a shift by
/// a register, a division, every floating-point template) or that
/// changes the base other than by stepping it by at most 256 (`addi`).
/// Which page the next access lies on is only a guess; what must hold is
/// that rcx and r8 belong together.
fn entry_kept(op: &Op, last: Option<u8>) -> Option<u8> {
    use OpKind as K;
    let written = registers(op).1;
    if op.kind.is_load() || op.kind.is_store() {
        return (written != Some(op.rs1)).then_some(op.rs1);
    }
    let clobbers = fp_compiles(op)
        || matches!(
            op.kind,
            K::Sll
                | K::Srl
                | K::Sra
                | K::Sllw
                | K::Srlw
                | K::Sraw
                | K::Div
                | K::Divu
                | K::Rem
                | K::Remu
                | K::Divw
                | K::Divuw
                | K::Remw
                | K::Remuw
        );
    if clobbers {
        return None;
    }
    // A pointer stepped by a small constant most likely stays on its page.
    let stepped = op.kind == K::Addi && op.rd == op.rs1 && op.imm.unsigned_abs() <= 256;
    last.filter(|&b| written != Some(b) || stepped)
}

/// After `translate` of a load off `base + imm`: r8 = the addend this
/// load guesses (`Predictions`), checked against the TLB entry's (`rcx`
/// still indexes it). A right guess goes straight to the load; a wrong
/// one goes to the load's fix-up (`emit_fix`), which comes back to the
/// load with the real addend. The guess is one-way at first; a load that
/// gives up guessing one-way rewrites the first instruction of that
/// guess into a jump to its two-way guess, and one that gives up that
/// too rewrites the two-way guess's into a jump to `plain`, its lookup
/// without a guess (from then on it costs a jump or two more than a load
/// that never guessed). `rax` holds the slot's address; the page's
/// parity is bit 5 of `rcx`, the TLB entry's offset (the page number's
/// lowest bit, scaled by the entry's size).
fn guess_addend(a: &mut VecAssembler<X64Relocation>, slot: i64) -> Guess {
    let [one_way, two_way, plain, load, fix_one_way, fix_two_way] =
        [(); 6].map(|_| a.new_dynamic_label());
    let even = offset_of!(Prediction, addend) as i32;
    let odd = offset_of!(Prediction, odd) as i32;
    // `jmp rel8` from the start of a guess (at offset `from`) to here.
    let jump_here = |a: &VecAssembler<X64Relocation>, from: usize| {
        let rel8 = a.offset().0 - (from + 2);
        debug_assert!(rel8 <= 127, "guess_addend: a jump that needs a rel8");
        u16::from_le_bytes([JMP_REL8, rel8 as u8]) as i16
    };
    let at_one_way = a.offset().0;
    dynasm!(a
        ; .arch x64
        ; =>one_way
        ; mov rax, QWORD slot
        ; mov r8, QWORD [rax + even]
        ; cmp r8, QWORD [r11 + rcx + ADDEND]
        ; je =>load
        ; jmp =>fix_one_way
    );
    // Each rewritten first instruction (`jmp rel8`) replaces the first two
    // bytes of a `mov rax`; the rest is jumped over, never run.
    let to_two_way = jump_here(a, at_one_way);
    let at_two_way = a.offset().0;
    dynasm!(a
        ; .arch x64
        ; =>two_way
        ; mov rax, QWORD slot
        ; mov r8, QWORD [rax + even]
        ; test ecx, PARITY_IN_ENTRY
        ; cmovnz r8, QWORD [rax + odd]
        ; cmp r8, QWORD [r11 + rcx + ADDEND]
        ; je =>load
        ; jmp =>fix_two_way
    );
    let to_plain = jump_here(a, at_two_way);
    dynasm!(a
        ; .arch x64
        ; =>plain
        ; mov r8, QWORD [r11 + rcx + ADDEND]
        ; =>load
    );
    Guess {
        one_way,
        two_way,
        to_two_way,
        to_plain,
        fix_one_way,
        fix_two_way,
        load,
    }
}

/// The fix-ups of a wrong guess (`guess_addend`; `rax` holds the slot):
/// the real addend into r8, which becomes the guess (of its page's
/// parity, two-way), and back to the load. At the `PREDICTION_MISSES`th
/// wrong guess of a kind the load gives up that kind: it writes a jump
/// to the next over the guess's first instruction. That write is to code
/// of this very block, which the processor notices and refetches (x86
/// keeps a thread's own code writes coherent); it happens at most twice
/// per load.
fn emit_fix(a: &mut VecAssembler<X64Relocation>, g: Guess) {
    let even = offset_of!(Prediction, addend) as i32;
    let odd = offset_of!(Prediction, odd) as i32;
    let misses = offset_of!(Prediction, misses) as i32;
    let two_way_misses = offset_of!(Prediction, two_way_misses) as i32;
    let (load, odd_page, count) = (g.load, a.new_dynamic_label(), a.new_dynamic_label());
    dynasm!(a
        ; .arch x64
        ; =>g.fix_one_way
        ; mov r8, QWORD [r11 + rcx + ADDEND]
        ; mov QWORD [rax + even], r8
        ; add QWORD [rax + misses], 1
        ; cmp QWORD [rax + misses], PREDICTION_MISSES
        ; jb =>load
        ; mov WORD [=>g.one_way], WORD g.to_two_way
        ; jmp =>load
        ; =>g.fix_two_way
        ; mov r8, QWORD [r11 + rcx + ADDEND]
        ; test ecx, PARITY_IN_ENTRY
        ; jnz =>odd_page
        ; mov QWORD [rax + even], r8
        ; jmp =>count
        ; =>odd_page
        ; mov QWORD [rax + odd], r8
        ; =>count
        ; add QWORD [rax + two_way_misses], 1
        ; cmp QWORD [rax + two_way_misses], PREDICTION_MISSES
        ; jb =>load
        ; mov WORD [=>g.two_way], WORD g.to_plain
        ; jmp =>load
    );
}

// ---- double-precision floating point ---------------------------------------------
//
// The D ops most compiled code runs are compiled for the case it nearly
// always is in (softfloat.rs, "the fast path"): rounding to nearest-even,
// NX accrued already in `fflags`, and ordinary operands. Then the host's
// SSE result is the exact RISC-V result and raises no flag that is not
// raised already, so the code needs neither to compute flags nor to
// write `fcsr`. Each template checks that case first (`fp_guard` and the
// exponent checks) and otherwise leaves through the same kind of exit
// as a load that misses the TLB: the dirty registers written back, to
// the op's interpreter handler, which computes it in software, raises
// what it raises, and runs the rest of the block. Nothing is written
// before the checks pass. The floating-point registers are not cached:
// each op reads and writes `f[i]` in memory through `Exec::fpu`. The
// x86 SSE unit's own mode is Rust's default (round to nearest, no
// flush-to-zero), which the checks rely on.

const EXEC_FPU_F: i32 = (offset_of!(Exec<'static>, fpu) + offset_of!(Fpu<'static>, f)) as i32;
const EXEC_FPU_FCSR: i32 = (offset_of!(Exec<'static>, fpu) + offset_of!(Fpu<'static>, fcsr)) as i32;
/// The `rm` field that means "`frm`" (spec 11.2).
const RM_DYNAMIC: u8 = 7;
/// A double's exponent field: bits 52..63.
const EXP_SHIFT: i8 = 52;
const EXP_MAX: i32 = 0x7ff;

/// Whether the processor has FMA3 (`vfmadd231sd`), which the fused
/// multiply-adds need.
fn host_has_fma() -> bool {
    std::is_x86_feature_detected!("fma")
}

/// Whether the D op `op` has a template: the rounded ones only with the
/// rounding mode nearest-even or dynamic (`frm`, checked when it runs).
fn fp_compiles(op: &Op) -> bool {
    use OpKind as K;
    let fields = FpFields::unpack(op.imm);
    let nearest = fields.rm == 0 || fields.rm == RM_DYNAMIC;
    match op.kind {
        K::Fld | K::Fsd => i32::try_from(op.imm).is_ok(),
        K::FaddD | K::FsubD | K::FmulD | K::FdivD | K::FsqrtD => nearest,
        K::FusedD => nearest && host_has_fma(),
        K::FsgnjD | K::FmvXD | K::FmvDX => fields.sub <= 2,
        K::FcmpD => fields.sub <= 2,
        // From an int32 or uint32: exact, in any valid mode; from an
        // int64: rounded.
        K::FcvtFromIntD => match fields.sub {
            0 | 1 => fields.rm <= 4 || fields.rm == RM_DYNAMIC,
            2 => nearest,
            _ => false,
        },
        // To an int32 or int64, truncating (C's casts: `rtz`).
        K::FcvtToIntD => fields.rm == 1 && (fields.sub == 0 || fields.sub == 2),
        _ => false,
    }
}

/// The integer registers the D op `op` reads and writes (the others it
/// names are floating-point registers).
fn fp_registers(op: &Op) -> ([Option<u8>; 2], Option<u8>) {
    use OpKind as K;
    let d = Some(op.rd).filter(|&d| d != SINK);
    match op.kind {
        K::Fld | K::Fsd | K::FmvDX | K::FcvtFromIntD => ([Some(op.rs1), None], None),
        K::FcmpD | K::FmvXD | K::FcvtToIntD => ([None, None], d),
        _ => ([None, None], None),
    }
}

/// Jumps to `miss` unless the rounding is nearest-even and NX is accrued:
/// for a static `rm` of 0 only NX is looked at, for `dyn` also `frm`
/// (bits 7:5 of `fcsr`, which must be 0). With `nx` false only the mode
/// is (an exact conversion); a reserved `frm` then fails too, and the
/// interpreter raises the illegal instruction.
fn fp_guard(a: &mut VecAssembler<X64Relocation>, rm: u8, nx: bool, miss: DynamicLabel) {
    let mask = if rm == RM_DYNAMIC { 0xe0 } else { 0 } | i32::from(nx);
    if mask == 0 {
        return;
    }
    exec_field_to_r9(a, EXEC_FPU_FCSR);
    dynasm!(a
        ; .arch x64
        ; mov eax, DWORD [r9]
        ; and eax, mask
        ; cmp eax, i32::from(nx)
        ; jne =>miss
    );
}

/// Jumps to `miss` unless the exponent field of the double in `v` lies in
/// `lo..=hi` (the sign bit, above the field, makes a negative value fail
/// when `hi` < 0x800).
fn exponent_in(
    a: &mut VecAssembler<X64Relocation>,
    v: u8,
    (lo, hi): (i32, i32),
    sign_counts: bool,
    miss: DynamicLabel,
) {
    dynasm!(a ; .arch x64 ; mov r8, Rq(v) ; shr r8, EXP_SHIFT);
    if !sign_counts {
        dynasm!(a ; .arch x64 ; and r8d, EXP_MAX);
    }
    dynasm!(a
        ; .arch x64
        ; sub r8d, lo
        ; cmp r8d, hi - lo
        ; ja =>miss
    );
}

/// Normal numbers: exponent field 1..=0x7fe.
const NORMAL: (i32, i32) = (1, EXP_MAX - 1);
/// A result that is normal and at least twice the smallest normal (not
/// tiny, not an overflow: softfloat.rs, `fast_mul`).
const SAFE_RESULT: (i32, i32) = (2, EXP_MAX - 1);
/// An addend for `fast_add`: below 2^(EMAX-1), zero and subnormals
/// included.
const ADDEND_OK: (i32, i32) = (0, EXP_MAX - 3);

/// Loads `f[rs1]` into `xmm0` and `f[rs2]` into `xmm1` (byte offsets into
/// the file, whose address it leaves in `r9`), jumping to `miss` unless
/// both exponent fields lie in `range`.
fn two_operands(
    a: &mut VecAssembler<X64Relocation>,
    (rs1, rs2): (i32, i32),
    range: (i32, i32),
    miss: DynamicLabel,
) {
    exec_field_to_r9(a, EXEC_FPU_F);
    dynasm!(a
        ; .arch x64
        ; mov rax, QWORD [r9 + rs1]
        ; mov rcx, QWORD [r9 + rs2]
    );
    exponent_in(a, RAX, range, false, miss);
    exponent_in(a, RCX, range, false, miss);
    dynasm!(a ; .arch x64 ; movq xmm0, rax ; movq xmm1, rcx);
}

/// Emits the D op `op` (op `i` of the block), one `fp_compiles` accepts.
fn emit_fp_op(
    a: &mut VecAssembler<X64Relocation>,
    c: &mut RegCache,
    op: &Op,
    i: usize,
    out: &mut Out,
) {
    use OpKind as K;
    c.next_op(i);
    let fields = FpFields::unpack(op.imm);
    let f = |r: u8| 8 * i32::from(r & 31);
    let (rd, rs1, rs2, rs3) = (f(op.rd), f(op.rs1), f(op.rs2), f(fields.rs3));
    let imm = op.imm as i32;
    macro_rules! x {
        ($($t:tt)*) => { dynasm!(a ; .arch x64 ; $($t)*) };
    }
    // The exit when the fast case does not hold, made after the op's
    // integer sources are in host registers (reading one may write back
    // another, which must not be written back again from a register that
    // now holds something else): what is dirty then is written back
    // there.
    macro_rules! miss {
        () => {{
            let miss = a.new_dynamic_label();
            out.misses.push((miss, i, c.dirty()));
            miss
        }};
    }
    match op.kind {
        K::Fld => {
            let base = c.read(a, op.rs1);
            let miss = translate(a, base, imm, 8, READ_TAG);
            out.misses.push((miss, i, c.dirty()));
            x!(
                mov r8, QWORD [r11 + rcx + ADDEND]
                ; mov rax, QWORD [Rq(base) + r8 + imm]
            );
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(mov QWORD [r9 + rd], rax);
        }
        K::Fsd => {
            let base = c.read(a, op.rs1);
            let miss = translate(a, base, imm, 8, WRITE_TAG);
            out.misses.push((miss, i, c.dirty()));
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(
                mov r8, QWORD [r11 + rcx + ADDEND]
                ; mov rax, QWORD [r9 + rs2]
                ; mov QWORD [Rq(base) + r8 + imm], rax
            );
        }
        K::FaddD | K::FsubD | K::FmulD | K::FdivD => {
            let miss = miss!();
            fp_guard(a, fields.rm, true, miss);
            let operands = if matches!(op.kind, K::FaddD | K::FsubD) {
                ADDEND_OK
            } else {
                NORMAL
            };
            two_operands(a, (rs1, rs2), operands, miss);
            match op.kind {
                K::FaddD => x!(addsd xmm0, xmm1),
                K::FsubD => x!(subsd xmm0, xmm1),
                K::FmulD => x!(mulsd xmm0, xmm1),
                _ => x!(divsd xmm0, xmm1),
            }
            if matches!(op.kind, K::FmulD | K::FdivD) {
                x!(movq rax, xmm0);
                exponent_in(a, RAX, SAFE_RESULT, false, miss);
            }
            x!(movq QWORD [r9 + rd], xmm0);
        }
        K::FsqrtD => {
            let miss = miss!();
            fp_guard(a, fields.rm, true, miss);
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(mov rax, QWORD [r9 + rs1]);
            // A positive normal number.
            exponent_in(a, RAX, NORMAL, true, miss);
            x!(movq xmm0, rax ; sqrtsd xmm0, xmm0 ; movq QWORD [r9 + rd], xmm0);
        }
        K::FusedD => {
            let miss = miss!();
            fp_guard(a, fields.rm, true, miss);
            two_operands(a, (rs1, rs2), NORMAL, miss);
            x!(mov rax, QWORD [r9 + rs3]);
            exponent_in(a, RAX, NORMAL, false, miss);
            // fmadd, fmsub, fnmsub, fnmadd: the product negated through
            // rs1's sign for the last two, the addend for the second and
            // fourth (as softfloat.rs's `fast_fused` does).
            let (negate_product, negate_addend) = (fields.sub & 2 != 0, fields.sub & 1 != 0);
            if negate_addend {
                x!(btc rax, 63);
            }
            x!(movq xmm2, rax);
            if negate_product {
                x!(movq rax, xmm0 ; btc rax, 63 ; movq xmm0, rax);
            }
            x!(vfmadd231sd xmm2, xmm0, xmm1 ; movq rax, xmm2);
            exponent_in(a, RAX, SAFE_RESULT, false, miss);
            x!(movq QWORD [r9 + rd], xmm2);
        }
        K::FsgnjD => {
            // The magnitude of rs1, the sign of rs2, its opposite, or the
            // two signs' XOR.
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(
                mov rax, QWORD [r9 + rs1]
                ; mov rcx, QWORD [r9 + rs2]
            );
            match fields.sub {
                0 => x!(btr rax, 63 ; shr rcx, 63 ; shl rcx, 63 ; or rax, rcx),
                1 => x!(btr rax, 63 ; not rcx ; shr rcx, 63 ; shl rcx, 63 ; or rax, rcx),
                _ => x!(shr rcx, 63 ; shl rcx, 63 ; xor rax, rcx),
            }
            x!(mov QWORD [r9 + rd], rax);
        }
        K::FmvXD => {
            exec_field_to_r9(a, EXEC_FPU_F);
            let d = c.write(a, op.rd);
            x!(mov Rq(d), QWORD [r9 + rs1]);
        }
        K::FmvDX => {
            let s = c.read(a, op.rs1);
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(mov QWORD [r9 + rd], Rq(s));
        }
        K::FcmpD => {
            // Ordered operands only: an unordered compare (a NaN) sets
            // PF, and may raise NV, which the interpreter does.
            let miss = miss!();
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(
                movq xmm0, QWORD [r9 + rs1]
                ; movq xmm1, QWORD [r9 + rs2]
                ; xor eax, eax
            );
            match fields.sub {
                0 => x!(ucomisd xmm0, xmm1 ; jp =>miss ; sete al),
                1 => x!(ucomisd xmm1, xmm0 ; jp =>miss ; seta al),
                _ => x!(ucomisd xmm1, xmm0 ; jp =>miss ; setae al),
            }
            let d = c.write(a, op.rd);
            x!(mov Rq(d), rax);
        }
        K::FcvtFromIntD => {
            let s = c.read(a, op.rs1);
            let miss = miss!();
            // From int64 it rounds (NX and the mode matter); from 32
            // bits it is exact (only a reserved `frm` matters).
            fp_guard(a, fields.rm, fields.sub == 2, miss);
            match fields.sub {
                0 => x!(cvtsi2sd xmm0, Rd(s)),
                1 => x!(mov eax, Rd(s) ; cvtsi2sd xmm0, rax),
                _ => x!(cvtsi2sd xmm0, Rq(s)),
            }
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(movq QWORD [r9 + rd], xmm0);
        }
        K::FcvtToIntD => {
            // Truncating; NX accrued (a fraction dropped raises only NX).
            // x86's answer to a NaN or a value out of range is the
            // "integer indefinite" (the most negative integer), where
            // RISC-V saturates and raises NV: that answer goes to the
            // interpreter (also for the one value that truly converts to
            // it, which the interpreter gets right too).
            let miss = miss!();
            fp_guard(a, fields.rm, true, miss);
            exec_field_to_r9(a, EXEC_FPU_F);
            x!(movq xmm0, QWORD [r9 + rs1]);
            if fields.sub == 0 {
                x!(
                    cvttsd2si eax, xmm0
                    ; cmp eax, i32::MIN
                    ; je =>miss
                    ; movsxd rax, eax
                );
            } else {
                x!(
                    cvttsd2si rax, xmm0
                    ; mov rcx, rax
                    ; neg rcx
                    ; jo =>miss
                );
            }
            let d = c.write(a, op.rd);
            x!(mov Rq(d), rax);
        }
        // `fp_compiles` accepts no other kind.
        _ => unreachable!("jit: no template for {:?}", op.kind),
    }
}

//! The executor: one handler per op kind (`exec_addi`, `exec_ld`, ...),
//! which runs the ops of one block. This is the emulator's hot path.
//!
//! Control enters from the run loop (machine.rs), which calls the handler of
//! a block's first op; it leaves when a terminator returns the next pc, or
//! when an op stops the block (`STOPPED`, with `Exec::stop` saying why).
//!
//! How it is made fast (docs/PERFORMANCE.md has what each step gave):
//! - **Decode once**: each op is a small value with everything pre-computed
//!   (absolute branch targets, sign-extended immediates) and a pointer to
//!   its handler, chosen when the block was decoded (block.rs).
//! - **Threaded dispatch**: every handler ends by calling the next op's
//!   handler in tail position (`next`), so each handler has its own indirect
//!   jump and the host's branch predictor learns the guest's op sequences
//!   far better than through one shared `match`. In an optimised build
//!   these calls are compiled to jumps (sibling calls: the handlers keep no
//!   stack frame on their fast path, slow paths live in `#[cold]` functions).
//!   Correctness does not depend on it: the chain ends at the block's
//!   terminator, which *returns* the next pc, so even without the
//!   optimisation the depth is bounded by `MAX_BLOCK_OPS` frames.
//! - **Shared shapes, inlined**: the handlers of one shape (ALU op, load,
//!   store, branch) are one-line calls of an `#[inline(always)]` helper
//!   (`alu`, `load`, `store`, `branch`) with the op's own arithmetic as a
//!   closure or type, so each handler compiles to its own straight-line
//!   code ending in its own indirect jump, and `grep 'fn exec_addi'` finds
//!   it.
//! - **Counting per block**: whoever enters a block charges its whole
//!   instruction count to the budget, which every handler passes on in a
//!   register (its fourth argument); a fault in the middle of a block
//!   un-counts what did not run.
//! - **Successor links**: a branch, `jal` or block end goes to its target
//!   block through a pointer kept after the terminator (`chain_linked`),
//!   filled on first use; a `jalr` goes where it went last through its
//!   own link (op.rs, `ReturnLink`); only a `jalr` elsewhere and targets
//!   on another page go through the jump cache (`cached`).
//! - `x0` never needs a check: ops with destination `x0` write the sink
//!   register 32 (op.rs).
//! - Loads and stores go through the TLB with one compare (mmu.rs); misses,
//!   misaligned or page-crossing accesses, faults and stores to frames that
//!   hold code go to `#[cold]` functions, which use the bus (bus.rs).
//!
//! Every handler is an `unsafe fn` of type `Handler`; its `# Safety`
//! contract is written once, on `Handler` (op.rs), and the helpers here
//! rely on exactly that: `op` is an op of a live block ending in a
//! terminator (so `op.add(1)` of a non-terminator is the next op), register
//! indices are at most 32 (`x` has 33 slots), and `Exec`'s cache pointers
//! are the live TLB's and jump cache's.

use super::entries::Entries;
use super::exception::Exception;
use super::exec_fp::*;
use super::memory::PAGE_SIZE;
use super::mmu::Tlb;
use super::op::{
    amo_unpack, Exec, Handler, JumpEntry, Link, Op, OpKind, ReturnLink, Stop, DIVISIONS,
    JUMP_CACHE_ENTRIES, STOPPED,
};
use std::ptr::addr_of_mut;

/// Register `i` (at most 32).
///
/// # Safety
/// `x` is the 33-slot register file of the `Handler` contract, `i` <= 32.
#[inline(always)]
pub(crate) unsafe fn reg(x: *mut u64, i: u8) -> u64 {
    *x.add(i as usize)
}

/// Sets register `i` (at most 32; 32 is the sink).
///
/// # Safety
/// As for `reg`.
#[inline(always)]
pub(crate) unsafe fn set(x: *mut u64, i: u8, v: u64) {
    *x.add(i as usize) = v;
}

/// Continues with the next op of the block (a tail call).
///
/// # Safety
/// The `Handler` contract, and `op` is not a terminator, so the next op
/// exists (every block ends in one).
#[inline(always)]
pub(crate) unsafe fn next(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let n = op.add(1);
    ((*n).handler)(n, x, e, budget)
}

/// The address a load or store op accesses: `rs1 + imm`.
///
/// # Safety
/// As for `reg`: `o` is an op of a live block, `x` the register file.
#[inline(always)]
pub(crate) unsafe fn address(x: *mut u64, o: &Op) -> u64 {
    reg(x, o.rs1).wrapping_add(o.imm as u64)
}

/// Ends the block with an exception at `op`.
#[cold]
#[inline(never)]
pub(crate) fn fault(op: *const Op, e: &mut Exec, budget: u64, exception: Exception) -> u64 {
    e.stop = Some((Stop::Fault(exception), op));
    e.budget = budget;
    STOPPED
}

/// The shape of every ALU op: `rd = f(rs1, rs2, op)`, then the next op.
/// An op that uses no `rs2` (or no `rs1`) has it at 0, and the unused read
/// is optimised away.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
unsafe fn alu(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    f: impl FnOnce(u64, u64, &Op) -> u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, f(reg(x, o.rs1), reg(x, o.rs2), o));
    next(op, x, e, budget)
}

/// ALU handlers, each `name => f` with its doc: the `Handler` that runs
/// `alu` with `f`. (Each is a `Handler` of the same shape; the macro
/// writes the signature and the safety contract once.)
macro_rules! alu_handlers {
    ($($(#[$doc:meta])* $name:ident => $f:expr;)*) => {$(
        $(#[$doc])*
        /// # Safety
        /// The `Handler` contract (op.rs).
        pub(crate) unsafe extern "C" fn $name(
            op: *const Op,
            x: *mut u64,
            e: &mut Exec,
            budget: u64,
        ) -> u64 {
            alu(op, x, e, budget, $f)
        }
    )*};
}

// ---- ALU ops: `rd = f(rs1, rs2 or imm)` -------------------------------------

alu_handlers! {
    /// `li`: `rd = imm` (`lui`, `auipc` and `addi rd, x0, imm`, pre-computed).
    exec_li => |_, _, o| o.imm as u64;
}

/// `li rd, imm` at the head of a folded constant (block.rs,
/// `fold_constants`): writes the constant the whole run computes, then
/// goes on after the `rs2` `Nop`s that stand for the rest of the run.
/// # Safety
/// The `Handler` contract (op.rs); `op` is followed by `rs2` `Nop`s and
/// then by another op (the block's terminator at the latest).
pub(crate) unsafe extern "C" fn exec_li_skip(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    set(x, o.rd, o.imm as u64);
    next(op.add(usize::from(o.rs2)), x, e, budget)
}

alu_handlers! {
    /// `mv`: `rd = rs1` (`addi rd, rs, 0` and `add` with `x0`).
    exec_mv => |a, _, _| a;

    /// `addi`: `rd = rs1 + imm`.
    exec_addi => |a, _, o| a.wrapping_add(o.imm as u64);

    /// `slti`: `rd = rs1 <s imm`.
    exec_slti => |a, _, o| u64::from((a as i64) < o.imm);

    /// `sltiu`: `rd = rs1 <u imm` (imm sign-extended first).
    exec_sltiu => |a, _, o| u64::from(a < o.imm as u64);

    /// `xori`: `rd = rs1 ^ imm`.
    exec_xori => |a, _, o| a ^ o.imm as u64;

    /// `ori`: `rd = rs1 | imm`.
    exec_ori => |a, _, o| a | o.imm as u64;

    /// `andi`: `rd = rs1 & imm`.
    exec_andi => |a, _, o| a & o.imm as u64;

    /// `slli`: `rd = rs1 << shamt`.
    exec_slli => |a, _, o| a << (o.imm & 63);

    /// `srli`: `rd = rs1 >> shamt` (logical).
    exec_srli => |a, _, o| a >> (o.imm & 63);

    /// `srai`: `rd = rs1 >> shamt` (arithmetic).
    exec_srai => |a, _, o| {
        ((a as i64) >> (o.imm & 63)) as u64
    };

    /// `addiw`: `rd = sext32(rs1 + imm)`.
    exec_addiw => |a, _, o| {
        sext32(a.wrapping_add(o.imm as u64) as u32)
    };

    /// `slliw`: `rd = sext32(rs1 << shamt)`.
    exec_slliw => |a, _, o| {
        sext32((a as u32) << (o.imm & 31))
    };

    /// `srliw`: `rd = sext32(rs1[31:0] >> shamt)` (logical).
    exec_srliw => |a, _, o| {
        sext32((a as u32) >> (o.imm & 31))
    };

    /// `sraiw`: `rd = sext32(rs1[31:0] >> shamt)` (arithmetic).
    exec_sraiw => |a, _, o| {
        ((a as i32) >> (o.imm & 31)) as i64 as u64
    };

    /// `add`: `rd = rs1 + rs2`.
    exec_add => |a, b, _| a.wrapping_add(b);

    /// `sub`: `rd = rs1 - rs2`.
    exec_sub => |a, b, _| a.wrapping_sub(b);

    /// `sll`: `rd = rs1 << rs2[5:0]`.
    exec_sll => |a, b, _| a << (b & 63);

    /// `slt`: `rd = rs1 <s rs2`.
    exec_slt => |a, b, _| {
        u64::from((a as i64) < (b as i64))
    };

    /// `sltu`: `rd = rs1 <u rs2`.
    exec_sltu => |a, b, _| u64::from(a < b);

    /// `xor`: `rd = rs1 ^ rs2`.
    exec_xor => |a, b, _| a ^ b;

    /// `srl`: `rd = rs1 >> rs2[5:0]` (logical).
    exec_srl => |a, b, _| a >> (b & 63);

    /// `sra`: `rd = rs1 >> rs2[5:0]` (arithmetic).
    exec_sra => |a, b, _| ((a as i64) >> (b & 63)) as u64;

    /// `or`: `rd = rs1 | rs2`.
    exec_or => |a, b, _| a | b;

    /// `and`: `rd = rs1 & rs2`.
    exec_and => |a, b, _| a & b;

    /// `mul`: `rd = (rs1 * rs2)[63:0]`.
    exec_mul => |a, b, _| a.wrapping_mul(b);

    /// `mulh`: `rd = (rs1 *s rs2)[127:64]`.
    exec_mulh => |a, b, _| {
        ((i128::from(a as i64) * i128::from(b as i64)) >> 64) as u64
    };

    /// `mulhsu`: `rd = (rs1 *s rs2 unsigned)[127:64]`.
    exec_mulhsu => |a, b, _| {
        (i128::from(a as i64).wrapping_mul(i128::from(b)) >> 64) as u64
    };

    /// `mulhu`: `rd = (rs1 *u rs2)[127:64]`.
    exec_mulhu => |a, b, _| {
        ((u128::from(a) * u128::from(b)) >> 64) as u64
    };

    /// `div`: `rd = rs1 /s rs2` (see `div`).
    exec_div => |a, b, _| div(a as i64, b as i64) as u64;

    /// `divu`: `rd = rs1 /u rs2`; by zero: all ones.
    exec_divu => |a, b, _| {
        a.checked_div(b).unwrap_or(u64::MAX)
    };

    /// `rem`: `rd = rs1 %s rs2` (see `rem`).
    exec_rem => |a, b, _| rem(a as i64, b as i64) as u64;

    /// `remu`: `rd = rs1 %u rs2`; by zero: `rs1`.
    exec_remu => |a, b, _| if b == 0 { a } else { a % b };

    /// `addw`: `rd = sext32(rs1 + rs2)`.
    exec_addw => |a, b, _| sext32(a.wrapping_add(b) as u32);

    /// `subw`: `rd = sext32(rs1 - rs2)`.
    exec_subw => |a, b, _| sext32(a.wrapping_sub(b) as u32);

    /// `sllw`: `rd = sext32(rs1 << rs2[4:0])`.
    exec_sllw => |a, b, _| sext32((a as u32) << (b & 31));

    /// `srlw`: `rd = sext32(rs1[31:0] >> rs2[4:0])` (logical).
    exec_srlw => |a, b, _| sext32((a as u32) >> (b & 31));

    /// `sraw`: `rd = sext32(rs1[31:0] >> rs2[4:0])` (arithmetic).
    exec_sraw => |a, b, _| {
        ((a as i32) >> (b & 31)) as i64 as u64
    };

    /// `mulw`: `rd = sext32(rs1 * rs2)`.
    exec_mulw => |a, b, _| {
        sext32((a as u32).wrapping_mul(b as u32))
    };

    /// `divw`: `rd = sext32(rs1[31:0] /s rs2[31:0])`.
    exec_divw => |a, b, _| {
        i64::from(div32(a as i32, b as i32)) as u64
    };

    /// `divuw`: `rd = sext32(rs1[31:0] /u rs2[31:0])`.
    exec_divuw => |a, b, _| {
        sext32((a as u32).checked_div(b as u32).unwrap_or(u32::MAX))
    };

    /// `remw`: `rd = sext32(rs1[31:0] %s rs2[31:0])`.
    exec_remw => |a, b, _| {
        i64::from(rem32(a as i32, b as i32)) as u64
    };

    /// `remuw`: `rd = sext32(rs1[31:0] %u rs2[31:0])`.
    exec_remuw => |a, b, _| {
        let (a, b) = (a as u32, b as u32);
        sext32(if b == 0 { a } else { a % b })
    };
}

// ---- Zba, Zbb, Zbs: address generation and bit manipulation ----------------

alu_handlers! {
    /// `sh1add`: `rd = (rs1 << 1) + rs2`.
    exec_sh1add => |a, b, _| (a << 1).wrapping_add(b);

    /// `sh2add`: `rd = (rs1 << 2) + rs2`.
    exec_sh2add => |a, b, _| (a << 2).wrapping_add(b);

    /// `sh3add`: `rd = (rs1 << 3) + rs2`.
    exec_sh3add => |a, b, _| (a << 3).wrapping_add(b);

    /// `add.uw`: `rd = zext32(rs1) + rs2`.
    exec_add_uw => |a, b, _| {
        u64::from(a as u32).wrapping_add(b)
    };

    /// `sh1add.uw`: `rd = (zext32(rs1) << 1) + rs2`.
    exec_sh1add_uw => |a, b, _| {
        (u64::from(a as u32) << 1).wrapping_add(b)
    };

    /// `sh2add.uw`: `rd = (zext32(rs1) << 2) + rs2`.
    exec_sh2add_uw => |a, b, _| {
        (u64::from(a as u32) << 2).wrapping_add(b)
    };

    /// `sh3add.uw`: `rd = (zext32(rs1) << 3) + rs2`.
    exec_sh3add_uw => |a, b, _| {
        (u64::from(a as u32) << 3).wrapping_add(b)
    };

    /// `andn`: `rd = rs1 & !rs2`.
    exec_andn => |a, b, _| a & !b;

    /// `orn`: `rd = rs1 | !rs2`.
    exec_orn => |a, b, _| a | !b;

    /// `xnor`: `rd = !(rs1 ^ rs2)`.
    exec_xnor => |a, b, _| !(a ^ b);

    /// `max`: the signed maximum.
    exec_max => |a, b, _| (a as i64).max(b as i64) as u64;

    /// `maxu`: the unsigned maximum.
    exec_maxu => |a, b, _| a.max(b);

    /// `min`: the signed minimum.
    exec_min => |a, b, _| (a as i64).min(b as i64) as u64;

    /// `minu`: the unsigned minimum.
    exec_minu => |a, b, _| a.min(b);

    /// `rol`: rotate left by `rs2[5:0]`.
    exec_rol => |a, b, _| a.rotate_left((b & 63) as u32);

    /// `ror`: rotate right by `rs2[5:0]`.
    exec_ror => |a, b, _| a.rotate_right((b & 63) as u32);

    /// `rolw`: rotate the low word left by `rs2[4:0]`, sign-extended.
    exec_rolw => |a, b, _| {
        sext32((a as u32).rotate_left((b & 31) as u32))
    };

    /// `rorw`: rotate the low word right by `rs2[4:0]`, sign-extended.
    exec_rorw => |a, b, _| {
        sext32((a as u32).rotate_right((b & 31) as u32))
    };

    /// `bclr`: clears bit `rs2[5:0]`.
    exec_bclr => |a, b, _| a & !(1 << (b & 63));

    /// `bext`: bit `rs2[5:0]` of `rs1`.
    exec_bext => |a, b, _| (a >> (b & 63)) & 1;

    /// `binv`: inverts bit `rs2[5:0]`.
    exec_binv => |a, b, _| a ^ (1 << (b & 63));

    /// `bset`: sets bit `rs2[5:0]`.
    exec_bset => |a, b, _| a | (1 << (b & 63));

    /// `slli.uw`: `rd = zext32(rs1) << shamt`.
    exec_slli_uw => |a, _, o| {
        u64::from(a as u32) << (o.imm & 63)
    };

    /// `rori`: rotate right by `shamt`.
    exec_rori => |a, _, o| {
        a.rotate_right((o.imm & 63) as u32)
    };

    /// `roriw`: rotate the low word right by `shamt`, sign-extended.
    exec_roriw => |a, _, o| {
        sext32((a as u32).rotate_right((o.imm & 31) as u32))
    };

    /// `bclri`: clears bit `shamt`.
    exec_bclri => |a, _, o| a & !(1 << (o.imm & 63));

    /// `bexti`: bit `shamt` of `rs1`.
    exec_bexti => |a, _, o| (a >> (o.imm & 63)) & 1;

    /// `binvi`: inverts bit `shamt`.
    exec_binvi => |a, _, o| a ^ (1 << (o.imm & 63));

    /// `bseti`: sets bit `shamt`.
    exec_bseti => |a, _, o| a | (1 << (o.imm & 63));

    /// `clz`: leading zero bits (64 for zero).
    exec_clz => |a, _, _| u64::from(a.leading_zeros());

    /// `ctz`: trailing zero bits (64 for zero).
    exec_ctz => |a, _, _| u64::from(a.trailing_zeros());

    /// `cpop`: one bits.
    exec_cpop => |a, _, _| u64::from(a.count_ones());

    /// `clzw`: leading zero bits of the low word (32 for zero).
    exec_clzw => |a, _, _| {
        u64::from((a as u32).leading_zeros())
    };

    /// `ctzw`: trailing zero bits of the low word (32 for zero).
    exec_ctzw => |a, _, _| {
        u64::from((a as u32).trailing_zeros())
    };

    /// `cpopw`: one bits of the low word.
    exec_cpopw => |a, _, _| {
        u64::from((a as u32).count_ones())
    };

    /// `sext.b`: the low byte, sign-extended.
    exec_sext_b => |a, _, _| a as i8 as i64 as u64;

    /// `sext.h`: the low halfword, sign-extended.
    exec_sext_h => |a, _, _| a as i16 as i64 as u64;

    /// `zext.h`: the low halfword, zero-extended.
    exec_zext_h => |a, _, _| a & 0xffff;

    /// `orc.b`: each byte becomes 0xff if it is not zero, else stays 0.
    exec_orc_b => |a, _, _| {
        let bytes = a.to_le_bytes().map(|b| if b == 0 { 0 } else { 0xff });
        u64::from_le_bytes(bytes)
    };

    /// `rev8`: the bytes in reverse order.
    exec_rev8 => |a, _, _| a.swap_bytes();
}

/// A division or remainder under selfie's semantics
/// (`--trap-division-by-zero`): a zero divisor (its low word for the `w`
/// forms) raises `DivisionByZero`, any other runs the plain handler of
/// the op it stands for (`DIVISIONS[imm]`). Lowered only when the option
/// is on, so RISC-V's divisions never pay for the check.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_div_trap(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    let kind = DIVISIONS[(o.imm as usize) % DIVISIONS.len()];
    let divisor = reg(x, o.rs2);
    let word = matches!(
        kind,
        OpKind::Divw | OpKind::Divuw | OpKind::Remw | OpKind::Remuw
    );
    let zero = if word {
        divisor as u32 == 0
    } else {
        divisor == 0
    };
    if zero {
        let pc = e.block_pc.wrapping_add(u64::from(o.offset));
        return fault(op, e, budget, Exception::DivisionByZero { pc });
    }
    (handler_for(kind))(op, x, e, budget)
}

/// `nop`: `fence`, and ALU ops that write `x0` (no side effects).
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_nop(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    next(op, x, e, budget)
}

/// Reads a counter CSR. `cycle`, `time` and `instret` all are the
/// instruction count before this instruction (privileged spec 3.1.11:
/// one instruction per cycle, time ticks per instruction), so every run is
/// deterministic.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_csr_read(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let count = e.retired_before(&*op, budget);
    set(x, (*op).rd, count);
    next(op, x, e, budget)
}

// ---- loads and stores --------------------------------------------------------

/// A value loads and stores move: how a store narrows a register to it, and
/// how a load widens it to 64 bits (sign- or zero-extending by type, RISC-V
/// unprivileged spec 4.3).
pub(crate) trait Word: Copy {
    fn narrow(v: u64) -> Self;
    fn widen(self) -> u64;
}

// `narrow` truncates; `widen` goes through `i128`, which holds every
// width, so a signed type is sign-extended and an unsigned one zero-extended.
macro_rules! impl_word {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn narrow(v: u64) -> $t {
                v as $t
            }
            fn widen(self) -> u64 {
                i128::from(self) as u64
            }
        }
    )*};
}

impl_word!(i8, i16, i32, u8, u16, u32, u64);

/// What a load of a `T` puts in `rd`, from the slow path's raw bytes.
fn widen<T: Word>(v: u64) -> u64 {
    T::narrow(v).widen()
}

/// The shape of every load: `rd = widen(mem[rs1 + imm])`. The fast path is
/// a TLB hit for an aligned access; everything else is `load_miss`.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
#[inline(always)]
pub(crate) unsafe fn load<T: Word>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    load_at::<T>(op, x, e, budget, address(x, &*op))
}

/// A load from `addr`, which is the op's `rs1 + imm` (a fused handler
/// computes it from a value it holds, fuse.rs).
///
/// # Safety
/// As for `load`.
#[inline(always)]
pub(crate) unsafe fn load_at<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    addr: u64,
) -> u64 {
    if load_hit::<T>(op, x, e, addr).is_none() {
        // A tail call too, so that the fast path needs no stack frame.
        return load_miss::<T>(op, x, e, budget, addr);
    }
    next(op, x, e, budget)
}

/// The fast path of a load of a `T` from `addr`: on a TLB hit for an
/// aligned access, writes `rd` and returns the value; `None` (nothing
/// written) otherwise, for `load_miss`. Fused handlers share it (fuse.rs).
///
/// # Safety
/// As for `load`.
#[inline(always)]
pub(crate) unsafe fn load_hit<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &Exec,
    addr: u64,
) -> Option<u64> {
    let host = Tlb::read_host(e.tlb, addr, std::mem::size_of::<T>() as u64)?;
    // SAFETY (of the read): a hit means the entry was filled from a mapped
    // frame of guest memory, and an aligned access stays within its page.
    let value = host.cast::<T>().read_unaligned().widen();
    set(x, (*op).rd, value);
    Some(value)
}

/// A load that missed the TLB fast path: the slow load, then on with the
/// block.
///
/// `extern "C"`, with the handler's first three arguments first, like a
/// handler: so the fast path reaches it with a jump (a sibling call needs
/// the same calling convention) and keeps no stack frame of its own.
///
/// # Safety
/// The `Handler` contract; `op` is a load of a `T` from `addr`.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn load_miss<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    addr: u64,
) -> u64 {
    match e.bus.load(addr, std::mem::size_of::<T>() as u64) {
        Ok(v) => {
            set(x, (*op).rd, widen::<T>(v));
            next(op, x, e, budget)
        }
        Err(exception) => fault(op, e, budget, exception),
    }
}

/// `lb`: `rd` = the byte, sign-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lb(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<i8>(op, x, e, budget)
}

/// `lh`: `rd` = the halfword, sign-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lh(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<i16>(op, x, e, budget)
}

/// `lw`: `rd` = the word, sign-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lw(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<i32>(op, x, e, budget)
}

/// `ld`: `rd` = the doubleword, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_ld(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<u64>(op, x, e, budget)
}

/// `lbu`: `rd` = the byte, zero-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lbu(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<u8>(op, x, e, budget)
}

/// `lhu`: `rd` = the halfword, zero-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lhu(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<u16>(op, x, e, budget)
}

/// `lwu`: `rd` = the word, zero-extended, at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_lwu(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    load::<u32>(op, x, e, budget)
}

/// The shape of every store: `mem[rs1 + imm] = narrow(rs2)`. The fast path
/// is a TLB hit with write permission (never given for a frame that holds
/// decoded code) for an aligned access; everything else is `store_miss`.
///
/// # Safety
/// As for `load`.
#[inline(always)]
pub(crate) unsafe fn store<T: Word>(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let o = &*op;
    store_at::<T>(op, x, e, budget, address(x, o), reg(x, o.rs2))
}

/// A store of `value` at `addr`, which are the op's `rs2` and `rs1 + imm`
/// (a fused handler may hold them already, fuse.rs).
///
/// # Safety
/// As for `load`.
#[inline(always)]
pub(crate) unsafe fn store_at<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    addr: u64,
    value: u64,
) -> u64 {
    if !store_hit::<T>(e, addr, value) {
        return store_miss::<T>(op, x, e, budget, addr, value);
    }
    next(op, x, e, budget)
}

/// The fast path of a store of `value` as a `T` at `addr`: on a TLB hit
/// with write permission (never given for a frame that holds decoded code)
/// for an aligned access, writes it and returns `true`; `false` (nothing
/// written) otherwise, for `store_miss`. Fused handlers share it (fuse.rs).
///
/// # Safety
/// `e`'s TLB pointer is the live TLB's (the `Handler` contract).
#[inline(always)]
pub(crate) unsafe fn store_hit<T: Word>(e: &Exec, addr: u64, value: u64) -> bool {
    let Some(host) = Tlb::write_host(e.tlb, addr, std::mem::size_of::<T>() as u64) else {
        return false;
    };
    // SAFETY (of the write): as for a load's read; write tags are only
    // given for pages the page table lets the guest write.
    host.cast::<T>().write_unaligned(T::narrow(value));
    true
}

/// `sb`: stores the low byte of `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_sb(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    store::<u8>(op, x, e, budget)
}

/// `sh`: stores the low halfword of `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_sh(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    store::<u16>(op, x, e, budget)
}

/// `sw`: stores the low word of `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_sw(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    store::<u32>(op, x, e, budget)
}

/// `sd`: stores the doubleword of `rs2` at `rs1 + imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_sd(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    store::<u64>(op, x, e, budget)
}

/// A store of a `T` that missed the fast path. `extern "C"` for the same
/// reason as `load_miss`: its six arguments fit in registers, so it is
/// reached by a jump.
///
/// # Safety
/// The `Handler` contract; `op` is a store.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn store_miss<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    addr: u64,
    value: u64,
) -> u64 {
    if let Err(exception) = e.bus.store(addr, std::mem::size_of::<T>() as u64, value) {
        return fault(op, e, budget, exception);
    }
    after_store(op, x, e, budget)
}

/// After a store (or atomic) that retired: leaves the block if it wrote
/// decoded code (the block's own code may have changed), else goes on.
///
/// # Safety
/// The `Handler` contract; `op` is not a terminator.
unsafe fn after_store(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    if e.bus.code_written {
        e.stop = Some((Stop::CodeWritten, op));
        e.budget = budget;
        return STOPPED;
    }
    next(op, x, e, budget)
}

/// `amo*`, `lr`, `sc` (A extension): always through the bus; they are
/// rare. `rd` is written only if the atomic did not fault.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_amo(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    let (amo, width) = amo_unpack(o.imm);
    match e.bus.amo(amo, width, reg(x, o.rs1), reg(x, o.rs2)) {
        Ok(value) => set(x, o.rd, value),
        Err(exception) => return fault(op, e, budget, exception),
    }
    after_store(op, x, e, budget)
}

// ---- terminators: they return the next pc ------------------------------------

/// The link slot after terminator `op` (op.rs): a `Link`, or after a
/// `jalr` a `ReturnLink`.
///
/// # Safety
/// The `Handler` contract, and `op` is a terminator (a `jalr` if `L` is
/// `ReturnLink`).
#[inline(always)]
unsafe fn link_of<L>(op: *const Op) -> *mut L {
    // The slot is written through this pointer (`chain_linked`,
    // `jalr_through_cache`): the contract gives `op` a pointer that may
    // write it.
    op.add(1).cast_mut().cast::<L>()
}

/// The shape of every conditional branch: to the absolute target in `imm`
/// if `taken(rs1, rs2)`, else to the next instruction, each through its
/// own successor link.
///
/// # Safety
/// The `Handler` contract.
#[inline(always)]
pub(crate) unsafe fn branch(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    taken: impl FnOnce(u64, u64) -> bool,
) -> u64 {
    let o = &*op;
    branch_if(op, x, e, budget, taken(reg(x, o.rs1), reg(x, o.rs2)))
}

/// A conditional branch whose condition is known (`taken`): on to its
/// target or its fall-through, each through its own successor link.
///
/// # Safety
/// The `Handler` contract; `op` is a branch.
#[inline(always)]
pub(crate) unsafe fn branch_if(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    taken: bool,
) -> u64 {
    let link = link_of::<Link>(op);
    if taken {
        chain_linked((*op).imm as u64, addr_of_mut!((*link).target), x, e, budget)
    } else {
        chain_linked((*link).next_pc, addr_of_mut!((*link).next), x, e, budget)
    }
}

/// The six comparisons of conditional branches and side exits (and of
/// the fused pairs that end in a branch, fuse.rs), each a type, so that
/// every handler that compares is a function of its own.
pub(crate) mod cond {
    /// A branch condition on `rs1` and `rs2`.
    pub(crate) trait Cond {
        fn taken(a: u64, b: u64) -> bool;
    }

    macro_rules! conditions {
        ($($(#[$doc:meta])* $name:ident: |$a:ident, $b:ident| $body:expr;)*) => {$(
            $(#[$doc])*
            pub(crate) struct $name;
            impl Cond for $name {
                #[inline(always)]
                fn taken($a: u64, $b: u64) -> bool {
                    $body
                }
            }
        )*};
    }

    conditions! {
        /// `beq`: rs1 == rs2.
        Eq: |a, b| a == b;
        /// `bne`: rs1 != rs2.
        Ne: |a, b| a != b;
        /// `blt`: rs1 <s rs2.
        Lt: |a, b| (a as i64) < (b as i64);
        /// `bge`: rs1 >=s rs2.
        Ge: |a, b| (a as i64) >= (b as i64);
        /// `bltu`: rs1 <u rs2.
        Ltu: |a, b| a < b;
        /// `bgeu`: rs1 >=u rs2.
        Geu: |a, b| a >= b;
    }
}

/// A conditional branch that ends its block: to `imm` (an absolute
/// target) if `C` holds for rs1 and rs2, else to the next instruction.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_branch<C: cond::Cond>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    branch(op, x, e, budget, C::taken)
}

// ---- side exits: conditional branches in the middle of a block ----------------

/// A side exit (op.rs, `OpKind::SideBeq`): on with the next op of the
/// block if not `taken(rs1, rs2)`; if taken, to the absolute target in
/// `imm` (`side_exit_taken`).
///
/// # Safety
/// The `Handler` contract; `op` is a side exit, so not its block's last
/// op.
#[inline(always)]
unsafe fn side_exit(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    taken: impl FnOnce(u64, u64) -> bool,
) -> u64 {
    let o = &*op;
    if taken(reg(x, o.rs1), reg(x, o.rs2)) {
        side_exit_taken(op, x, e, budget)
    } else {
        next(op, x, e, budget)
    }
}

/// A side exit taken: the block was counted whole when it was entered, so
/// the instructions after the side exit (the next op's `left`) go back to
/// the budget; then on to the target through the jump cache, as a `jalr`
/// goes (a side exit has no link slot: op.rs, `Link`).
///
/// # Safety
/// As for `side_exit`.
#[inline(never)]
unsafe extern "C" fn side_exit_taken(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let not_run = u64::from((*op.add(1)).left);
    chain_remembering((*op).imm as u64, x, e, budget + not_run, |_| {})
}

/// A side exit: to `imm` (an absolute target) if `C` holds for rs1 and
/// rs2, else on with the block's next op.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_side_exit<C: cond::Cond>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    side_exit(op, x, e, budget, C::taken)
}

/// `jal`: `rd = pc + len`, then to the absolute target in `imm`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_jal(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    let link = link_of::<Link>(op);
    set(x, o.rd, (*link).next_pc);
    chain_linked(o.imm as u64, addr_of_mut!((*link).target), x, e, budget)
}

/// `jalr`: `rd = pc + len`, then to `(rs1 + imm) & !1`, through the jump
/// cache (its target is not known in advance).
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_jalr(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let o = &*op;
    // Read rs1 before writing rd: they may be the same register.
    let target = reg(x, o.rs1).wrapping_add(o.imm as u64) & !1;
    let link = link_of::<ReturnLink>(op);
    set(x, o.rd, (*link).next_pc);
    let last = (*link).last;
    if (*link).last_pc == target && !last.is_null() {
        return enter(target, last, u64::from((*last).left), x, e, budget);
    }
    jalr_through_cache(link, x, e, budget, target)
}

/// A `jalr` to somewhere else than last time: chains through the jump
/// cache, and remembers the block in the `jalr`'s link slot if it is on
/// the running block's page (op.rs, `ReturnLink`).
///
/// Its arguments are in the order of a handler's, as `chain_and_link`'s.
///
/// # Safety
/// The `Handler` contract; `link` is the link slot of the running `jalr`.
#[inline(never)]
unsafe extern "C" fn jalr_through_cache(
    link: *mut ReturnLink,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    target: u64,
) -> u64 {
    chain_remembering(target, x, e, budget, |ops| {
        (*link).last = ops;
        (*link).last_pc = target;
    })
}

/// `ecall`: a `Syscall` exception, for the kernel.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_ecall(
    op: *const Op,
    _x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    fault(op, e, budget, Exception::Syscall)
}

/// `ebreak`: a `Breakpoint` exception.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_ebreak(
    op: *const Op,
    _x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let pc = e.block_pc.wrapping_add(u64::from((*op).offset));
    fault(op, e, budget, Exception::Breakpoint { pc })
}

/// An encoding that is no instruction here: `IllegalInstruction`.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_illegal(
    op: *const Op,
    _x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let pc = e.block_pc.wrapping_add(u64::from((*op).offset));
    fault(
        op,
        e,
        budget,
        Exception::IllegalInstruction {
            pc,
            bits: (*op).imm as u32,
        },
    )
}

/// End of a block that did not end in control flow: on at the next pc.
/// # Safety
/// The `Handler` contract (op.rs).
pub(crate) unsafe extern "C" fn exec_fallthrough(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let link = link_of::<Link>(op);
    chain_linked((*link).next_pc, addr_of_mut!((*link).next), x, e, budget)
}

/// Block chaining through a successor link (op.rs, `Link`): goes on with
/// the block `*link` at `target` directly (a tail call) if the link is
/// made and the budget allows the whole block; otherwise through the jump
/// cache (`chain_and_link`), which makes the link when it can.
///
/// This is the hot path of every taken branch, `jal` and block end: one
/// load of the link, one of the target's count (on the cache line of its
/// first handler, which is loaded next anyway), the budget check and the
/// tail call. The jump cache's hash, tag compare and entry loads are paid
/// only until the link is made, and always for targets on another page.
///
/// # Safety
/// The `Handler` contract; `link` is a field of the running block's link
/// slot.
#[inline(always)]
unsafe fn chain_linked(
    target: u64,
    link: *mut *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let ops = *link;
    if ops.is_null() {
        return chain_and_link(link, x, e, budget, target);
    }
    enter(target, ops, u64::from((*ops).left), x, e, budget)
}

/// A successor link that is not made yet: chains through the jump cache,
/// and makes the link if the target's block is on the running block's
/// page (op.rs, `Link`, says why only there).
///
/// Its arguments are in the order of a handler's, `x` and `e` in the same
/// registers, so that the tail call to it moves nothing.
///
/// # Safety
/// As for `chain_linked`.
#[inline(never)]
unsafe extern "C" fn chain_and_link(
    link: *mut *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    target: u64,
) -> u64 {
    chain_remembering(target, x, e, budget, |ops| *link = ops)
}

/// Chaining through the jump cache: on with the block at `target` if the
/// jump cache has it (and the budget allows all of it), else back to the
/// run loop; a block on the running block's page is handed to `remember`
/// first, to link to (op.rs, `Link`, says why only there).
///
/// # Safety
/// The `Handler` contract.
#[inline(always)]
unsafe fn chain_remembering(
    target: u64,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
    remember: impl FnOnce(*const Op),
) -> u64 {
    let Some(entry) = cached(e, target) else {
        return back_to_run_loop(e, budget, target);
    };
    if (target ^ e.block_pc) < PAGE_SIZE {
        remember(entry.ops);
    }
    enter(target, entry.ops, entry.count, x, e, budget)
}

/// The jump cache's entry for `target`, if it holds that pc's block: the
/// chaining of a target no link holds. (Without one, the block goes back
/// to the run loop, which looks the target up or decodes.) A jump-cache
/// entry points to a live block's ops: the cache is flushed whenever a
/// block is removed (block.rs).
///
/// # Safety
/// `e.jump_cache` is the live jump cache's (the `Handler` contract).
#[inline(always)]
unsafe fn cached(e: &Exec, target: u64) -> Option<JumpEntry> {
    let entry =
        Entries::<JumpEntry, JUMP_CACHE_ENTRIES>::read(e.jump_cache, JumpEntry::index(target));
    (entry.pc == target).then_some(entry)
}

/// Makes the block `ops` at `pc` (of `count` instructions) the running
/// one and runs it, if the budget of this trip allows all of it; else
/// returns `pc` to the run loop.
///
/// # Safety
/// The `Handler` contract; `ops` is a live block's first op.
#[inline(always)]
unsafe fn enter(
    pc: u64,
    ops: *const Op,
    count: u64,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    if count > budget {
        return back_to_run_loop(e, budget, pc);
    }
    e.block_pc = pc;
    ((*ops).handler)(ops, x, e, budget - count)
}

/// Returns `pc` to the run loop, which goes on there (looking the block
/// up, decoding it, or raising the timer), with the budget left.
#[inline(always)]
fn back_to_run_loop(e: &mut Exec, budget: u64, pc: u64) -> u64 {
    e.budget = budget;
    pc
}

/// The handler of each op kind.
pub(crate) fn handler_for(kind: OpKind) -> Handler {
    use OpKind as K;
    match kind {
        K::Li => exec_li,
        K::LiSkip => exec_li_skip,
        K::Mv => exec_mv,
        K::Addi => exec_addi,
        K::Slti => exec_slti,
        K::Sltiu => exec_sltiu,
        K::Xori => exec_xori,
        K::Ori => exec_ori,
        K::Andi => exec_andi,
        K::Slli => exec_slli,
        K::Srli => exec_srli,
        K::Srai => exec_srai,
        K::Addiw => exec_addiw,
        K::Slliw => exec_slliw,
        K::Srliw => exec_srliw,
        K::Sraiw => exec_sraiw,
        K::Add => exec_add,
        K::Sub => exec_sub,
        K::Sll => exec_sll,
        K::Slt => exec_slt,
        K::Sltu => exec_sltu,
        K::Xor => exec_xor,
        K::Srl => exec_srl,
        K::Sra => exec_sra,
        K::Or => exec_or,
        K::And => exec_and,
        K::Mul => exec_mul,
        K::Mulh => exec_mulh,
        K::Mulhsu => exec_mulhsu,
        K::Mulhu => exec_mulhu,
        K::Div => exec_div,
        K::Divu => exec_divu,
        K::Rem => exec_rem,
        K::Remu => exec_remu,
        K::Addw => exec_addw,
        K::Subw => exec_subw,
        K::Sllw => exec_sllw,
        K::Srlw => exec_srlw,
        K::Sraw => exec_sraw,
        K::Mulw => exec_mulw,
        K::Divw => exec_divw,
        K::Divuw => exec_divuw,
        K::Remw => exec_remw,
        K::Remuw => exec_remuw,
        K::Lb => exec_lb,
        K::Lh => exec_lh,
        K::Lw => exec_lw,
        K::Ld => exec_ld,
        K::Lbu => exec_lbu,
        K::Lhu => exec_lhu,
        K::Lwu => exec_lwu,
        K::Sb => exec_sb,
        K::Sh => exec_sh,
        K::Sw => exec_sw,
        K::Sd => exec_sd,
        K::CsrRead => exec_csr_read,
        K::Amo => exec_amo,
        K::Nop => exec_nop,
        K::Sh1add => exec_sh1add,
        K::Sh2add => exec_sh2add,
        K::Sh3add => exec_sh3add,
        K::AddUw => exec_add_uw,
        K::Sh1addUw => exec_sh1add_uw,
        K::Sh2addUw => exec_sh2add_uw,
        K::Sh3addUw => exec_sh3add_uw,
        K::Andn => exec_andn,
        K::Orn => exec_orn,
        K::Xnor => exec_xnor,
        K::Max => exec_max,
        K::Maxu => exec_maxu,
        K::Min => exec_min,
        K::Minu => exec_minu,
        K::Rol => exec_rol,
        K::Ror => exec_ror,
        K::Rolw => exec_rolw,
        K::Rorw => exec_rorw,
        K::Bclr => exec_bclr,
        K::Bext => exec_bext,
        K::Binv => exec_binv,
        K::Bset => exec_bset,
        K::SlliUw => exec_slli_uw,
        K::Rori => exec_rori,
        K::Roriw => exec_roriw,
        K::Bclri => exec_bclri,
        K::Bexti => exec_bexti,
        K::Binvi => exec_binvi,
        K::Bseti => exec_bseti,
        K::Clz => exec_clz,
        K::Ctz => exec_ctz,
        K::Cpop => exec_cpop,
        K::Clzw => exec_clzw,
        K::Ctzw => exec_ctzw,
        K::Cpopw => exec_cpopw,
        K::SextB => exec_sext_b,
        K::SextH => exec_sext_h,
        K::ZextH => exec_zext_h,
        K::OrcB => exec_orc_b,
        K::Rev8 => exec_rev8,
        K::DivTrap => exec_div_trap,
        K::Flw => exec_flw,
        K::Fld => exec_fld,
        K::Fsw => exec_fsw,
        K::Fsd => exec_fsd,
        K::FaddS => exec_fadd_s,
        K::FaddD => exec_fadd_d,
        K::FsubS => exec_fsub_s,
        K::FsubD => exec_fsub_d,
        K::FmulS => exec_fmul_s,
        K::FmulD => exec_fmul_d,
        K::FdivS => exec_fdiv_s,
        K::FdivD => exec_fdiv_d,
        K::FsqrtS => exec_fsqrt_s,
        K::FsqrtD => exec_fsqrt_d,
        K::FsgnjS => exec_fsgnj_s,
        K::FsgnjD => exec_fsgnj_d,
        K::FminmaxS => exec_fminmax_s,
        K::FminmaxD => exec_fminmax_d,
        K::FcvtSD => exec_fcvt_s_d,
        K::FcvtDS => exec_fcvt_d_s,
        K::FcmpS => exec_fcmp_s,
        K::FcmpD => exec_fcmp_d,
        K::FclassS => exec_fclass_s,
        K::FclassD => exec_fclass_d,
        K::FmvXW => exec_fmv_x_w,
        K::FmvXD => exec_fmv_x_d,
        K::FmvWX => exec_fmv_w_x,
        K::FmvDX => exec_fmv_d_x,
        K::FcvtToIntS => exec_fcvt_to_int_s,
        K::FcvtToIntD => exec_fcvt_to_int_d,
        K::FcvtFromIntS => exec_fcvt_from_int_s,
        K::FcvtFromIntD => exec_fcvt_from_int_d,
        K::FusedS => exec_fused_s,
        K::FusedD => exec_fused_d,
        K::CsrFp => exec_csr_fp,
        K::Beq => exec_branch::<cond::Eq>,
        K::Bne => exec_branch::<cond::Ne>,
        K::Blt => exec_branch::<cond::Lt>,
        K::Bge => exec_branch::<cond::Ge>,
        K::Bltu => exec_branch::<cond::Ltu>,
        K::Bgeu => exec_branch::<cond::Geu>,
        K::SideBeq => exec_side_exit::<cond::Eq>,
        K::SideBne => exec_side_exit::<cond::Ne>,
        K::SideBlt => exec_side_exit::<cond::Lt>,
        K::SideBge => exec_side_exit::<cond::Ge>,
        K::SideBltu => exec_side_exit::<cond::Ltu>,
        K::SideBgeu => exec_side_exit::<cond::Geu>,
        K::Jal => exec_jal,
        K::Jalr => exec_jalr,
        K::Ecall => exec_ecall,
        K::Ebreak => exec_ebreak,
        K::Illegal => exec_illegal,
        K::Fallthrough => exec_fallthrough,
    }
}

#[inline(always)]
pub(crate) fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// Signed division as RISC-V defines it (unprivileged spec 13.2): division
/// by zero gives -1, overflow (MIN / -1) gives MIN.
fn div(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn div32(a: i32, b: i32) -> i32 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem32(a: i32, b: i32) -> i32 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

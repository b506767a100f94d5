//! Superinstructions: handlers that run two adjacent ops in one dispatch,
//! for the pairs compilers emit most (PERFORMANCE-NOTES.md, technique 5).
//!
//! `fuse` runs once per decoded block and only swaps the *handler* of the
//! first op of a pair; both ops stay in the block as they were, and pairs
//! never overlap. A fused handler runs the first op, commits it, and then
//! runs the second op's body inline instead of dispatching to it: what it
//! saves is the dispatch (loading the next handler, the indirect jump and
//! its misprediction), and for a pair of loads from one base register, one
//! of the two TLB lookups. Each half keeps its own slow path: a TLB miss
//! or a fault in the second op is taken with the first op committed, from
//! the second op, exactly as without fusion, so faults stay precise and
//! every op keeps its own pc and instruction count.
//!
//! | pair | typical source |
//! |---|---|
//! | ALU op; branch (`addi; bne`, `add; bge`, `andi; beqz`) | loop counters and tests |
//! | load; branch (`lbu; bnez`, `ld; bltu`) | string and list walks, loop tests |
//! | ALU op; load or store (`add; ld`, `addi; sd`, `li; sd`) | an address and its use, storing a constant |
//! | ALU op; ALU op (`lui; addi`, `slli; add`, `addi; addi`) | constants, scaled indices, pointer bumps |
//! | `ld; ld` | loading two operands (C\*: two locals off `s0`, one TLB lookup) |
//! | `sd v,o(b); ld v,o(b)` | storing then reloading a local: the load is a no-op |
//!
//! The op kinds are type parameters (`Alu`, `Cond`, `Word`), so every
//! combination is a function of its own, with its own indirect jump at its
//! end (exec.rs, "threaded dispatch"), and `fuse` picks it by matching the
//! two kinds.

use super::exec::{self, address, branch, load, next, reg, set, store, Word};
use super::memory::PAGE_SIZE;
use super::mmu::Tlb;
use super::op::{Exec, Handler, Op, OpKind};

/// Replaces the handler of the first op of each fusable pair in `ops`.
pub(crate) fn fuse(ops: &mut [Op]) {
    let mut i = 0;
    while i + 1 < ops.len() {
        if let Some(handler) = fused(&ops[i], &ops[i + 1]) {
            ops[i].handler = handler;
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// The fused handler for `a` followed by `b`, if there is one.
fn fused(a: &Op, b: &Op) -> Option<Handler> {
    use OpKind as K;
    match a.kind {
        K::Li => alu_then::<Li>(b),
        K::Mv => alu_then::<Mv>(b),
        K::Addi => alu_then::<Addi>(b),
        K::Addiw => alu_then::<Addiw>(b),
        K::Add => alu_then::<Add>(b),
        K::Sub => alu_then::<Sub>(b),
        K::Slli => alu_then::<Slli>(b),
        K::And => alu_then::<And>(b),
        K::Andi => alu_then::<Andi>(b),
        K::Mul => alu_then::<Mul>(b),
        // One TLB lookup for both when they share a base that the first
        // does not overwrite, at offsets 8-aligned apart (so the second is
        // aligned when the first is).
        K::Ld
            if b.kind == K::Ld
                && b.rs1 == a.rs1
                && a.rd != a.rs1
                && b.imm.wrapping_sub(a.imm) % 8 == 0 =>
        {
            Some(exec_ld_ld_same_base)
        }
        K::Ld if b.kind == K::Ld => Some(exec_ld_ld),
        K::Sd
            if b.kind == K::Ld
                && b.rs1 == a.rs1
                && b.imm == a.imm
                && b.rd == a.rs2
                && a.rs1 != a.rs2 =>
        {
            Some(exec_sd_reload)
        }
        K::Lb => load_then::<i8>(b),
        K::Lh => load_then::<i16>(b),
        K::Lw => load_then::<i32>(b),
        K::Ld => load_then::<u64>(b),
        K::Lbu => load_then::<u8>(b),
        K::Lhu => load_then::<u16>(b),
        K::Lwu => load_then::<u32>(b),
        _ => None,
    }
}

/// The fused handler for ALU op `A` followed by `b`.
fn alu_then<A: Alu>(b: &Op) -> Option<Handler> {
    use OpKind as K;
    let handler: Handler = match b.kind {
        K::Beq => exec_alu_branch::<A, Eq>,
        K::Bne => exec_alu_branch::<A, Ne>,
        K::Blt => exec_alu_branch::<A, Lt>,
        K::Bge => exec_alu_branch::<A, Ge>,
        K::Bltu => exec_alu_branch::<A, Ltu>,
        K::Bgeu => exec_alu_branch::<A, Geu>,
        K::Lb => exec_alu_load::<A, i8>,
        K::Lh => exec_alu_load::<A, i16>,
        K::Lw => exec_alu_load::<A, i32>,
        K::Ld => exec_alu_load::<A, u64>,
        K::Lbu => exec_alu_load::<A, u8>,
        K::Lhu => exec_alu_load::<A, u16>,
        K::Lwu => exec_alu_load::<A, u32>,
        K::Sb => exec_alu_store::<A, u8>,
        K::Sh => exec_alu_store::<A, u16>,
        K::Sw => exec_alu_store::<A, u32>,
        K::Sd => exec_alu_store::<A, u64>,
        K::Li => exec_alu_alu::<A, Li>,
        K::Mv => exec_alu_alu::<A, Mv>,
        K::Addi => exec_alu_alu::<A, Addi>,
        K::Addiw => exec_alu_alu::<A, Addiw>,
        K::Add => exec_alu_alu::<A, Add>,
        K::Sub => exec_alu_alu::<A, Sub>,
        K::Slli => exec_alu_alu::<A, Slli>,
        K::And => exec_alu_alu::<A, And>,
        K::Andi => exec_alu_alu::<A, Andi>,
        K::Mul => exec_alu_alu::<A, Mul>,
        _ => return None,
    };
    Some(handler)
}

/// The fused handler for a load of a `T` followed by the branch `b`.
fn load_then<T: Word>(b: &Op) -> Option<Handler> {
    use OpKind as K;
    let handler: Handler = match b.kind {
        K::Beq => exec_load_branch::<T, Eq>,
        K::Bne => exec_load_branch::<T, Ne>,
        K::Blt => exec_load_branch::<T, Lt>,
        K::Bge => exec_load_branch::<T, Ge>,
        K::Bltu => exec_load_branch::<T, Ltu>,
        K::Bgeu => exec_load_branch::<T, Geu>,
        _ => return None,
    };
    Some(handler)
}

// ---- the op kinds as types ---------------------------------------------------

/// An ALU op that fuses: its result from `rs1`, `rs2` and `imm` (an op
/// without `rs2` has it at 0, and the unused read is optimised away).
trait Alu {
    fn apply(a: u64, b: u64, imm: i64) -> u64;
}

macro_rules! alu_ops {
    ($($name:ident: |$a:ident, $b:ident, $imm:ident| $body:expr;)*) => {$(
        struct $name;
        impl Alu for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn apply($a: u64, $b: u64, $imm: i64) -> u64 {
                $body
            }
        }
    )*};
}

alu_ops! {
    Li: |a, b, imm| imm as u64;
    Mv: |a, b, imm| a;
    Addi: |a, b, imm| a.wrapping_add(imm as u64);
    Addiw: |a, b, imm| i64::from(a.wrapping_add(imm as u64) as i32) as u64;
    Add: |a, b, imm| a.wrapping_add(b);
    Sub: |a, b, imm| a.wrapping_sub(b);
    Slli: |a, b, imm| a << (imm & 63);
    And: |a, b, imm| a & b;
    Andi: |a, b, imm| a & imm as u64;
    Mul: |a, b, imm| a.wrapping_mul(b);
}

/// A branch condition on `rs1` and `rs2`.
trait Cond {
    fn taken(a: u64, b: u64) -> bool;
}

macro_rules! conditions {
    ($($name:ident: |$a:ident, $b:ident| $body:expr;)*) => {$(
        struct $name;
        impl Cond for $name {
            #[inline(always)]
            fn taken($a: u64, $b: u64) -> bool {
                $body
            }
        }
    )*};
}

conditions! {
    Eq: |a, b| a == b;
    Ne: |a, b| a != b;
    Lt: |a, b| (a as i64) < (b as i64);
    Ge: |a, b| (a as i64) >= (b as i64);
    Ltu: |a, b| a < b;
    Geu: |a, b| a >= b;
}

/// Runs ALU op `op` (of kind `A`): writes its result.
///
/// # Safety
/// The `Handler` contract (op.rs) for `op`.
#[inline(always)]
unsafe fn run_alu<A: Alu>(op: *const Op, x: *mut u64) {
    let o = &*op;
    set(x, o.rd, A::apply(reg(x, o.rs1), reg(x, o.rs2), o.imm));
}

// Every fused handler below is a `Handler` whose `op` is the first of a
// pair fused by `fuse`: `op.add(1)` is the second op of the pair, and the
// pair's conditions (in `fused`) hold. The second op's body is exec.rs's
// own (`branch`, `load`, `store`), inlined, with its own slow path.

/// An ALU op, then a conditional branch (which may read the ALU op's
/// result).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_branch<A: Alu, C: Cond>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
) -> u64 {
    run_alu::<A>(op, x);
    branch(op.add(1), x, e, C::taken)
}

/// An ALU op, then a load (whose base may be the ALU op's result).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_load<A: Alu, T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
) -> u64 {
    run_alu::<A>(op, x);
    load::<T>(op.add(1), x, e)
}

/// An ALU op, then a store (of, or at, the ALU op's result).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_store<A: Alu, T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
) -> u64 {
    run_alu::<A>(op, x);
    store::<T>(op.add(1), x, e)
}

/// Two ALU ops.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_alu<A: Alu, B: Alu>(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    run_alu::<A>(op, x);
    run_alu::<B>(op.add(1), x);
    next(op.add(1), x, e)
}

/// A load of a `T`, then a conditional branch: on a TLB miss, the load's
/// own slow path (which then dispatches to the branch as usual).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_load_branch<T: Word, C: Cond>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
) -> u64 {
    let a = &*op;
    let addr = address(x, a);
    let Some(host) = Tlb::read_host(e.tlb, addr, std::mem::size_of::<T>() as u64) else {
        return exec::load_miss::<T>(op, x, e, addr);
    };
    // SAFETY (of the read): as in exec.rs's `load`.
    set(x, a.rd, host.cast::<T>().read_unaligned().widen());
    branch(op.add(1), x, e, C::taken)
}

/// `ld a, o1(b1); ld c, o2(b2)`: the first load, then the second.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let a = &*op;
    let addr = address(x, a);
    let Some(host) = Tlb::read_host(e.tlb, addr, 8) else {
        return exec::load_miss::<u64>(op, x, e, addr);
    };
    // SAFETY (of the read): as in exec.rs's `load`.
    set(x, a.rd, host.cast::<u64>().read_unaligned());
    load::<u64>(op.add(1), x, e)
}

/// `ld a, o1(b); ld c, o2(b)` with `a != b` and `o2 - o1` a multiple of 8
/// (C\*'s two locals off `s0`): when both addresses are on one page, the
/// first lookup serves both.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld_same_base(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    let first = address(x, a);
    let Some(host) = Tlb::read_host(e.tlb, first, 8) else {
        return exec::load_miss::<u64>(op, x, e, first);
    };
    // `b`'s base is `a`'s, which `a` does not write: its address is known.
    let second = address(x, b);
    // SAFETY (of the reads): as in exec.rs's `load`; the second address is
    // on the first's page, which the hit covers (tags are per page, for
    // reads of any aligned width), and aligned, as the first is and the
    // offsets are 8-aligned apart.
    set(x, a.rd, host.cast::<u64>().read_unaligned());
    if (first ^ second) < PAGE_SIZE {
        let host = host.wrapping_add(second.wrapping_sub(first) as usize);
        set(x, b.rd, host.cast::<u64>().read_unaligned());
        next(op.add(1), x, e)
    } else {
        load::<u64>(op.add(1), x, e)
    }
}

/// `sd v, o(b); ld v, o(b)` with `b != v`: the store hits the TLB.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_sd_reload(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let a = &*op;
    let Some(host) = Tlb::write_host(e.tlb, address(x, a), 8) else {
        return exec::exec_sd(op, x, e);
    };
    // The reload reads back the value just stored into the register that
    // already holds it: nothing more to do.
    host.cast::<u64>().write_unaligned(reg(x, a.rs2));
    next(op.add(1), x, e)
}

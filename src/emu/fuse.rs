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
//! | load; ALU op (`ld; addi`, `ld; mul`) | an operand and its use (C\*: a local, then arithmetic) |
//! | store; load, store or ALU op (`sd; ld`, `sd; sd`) | spilling and reloading locals, filling a frame |
//! | ALU op; load or store (`add; ld`, `addi; sd`, `li; sd`) | an address and its use, storing a constant |
//! | ALU op; ALU op (`lui; addi`, `slli; add`, `addi; addi`) | constants, scaled indices, pointer bumps |
//! | `ld; ld` | loading two operands (C\*: two locals off `s0`, one TLB lookup) |
//! | `sd v,o(b); ld v,o(b)` | storing then reloading a local: the load is a no-op |
//!
//! The op kinds are type parameters (`Alu`, `Cond`, `Word`), so every
//! combination is a function of its own, with its own indirect jump at its
//! end (exec.rs, "threaded dispatch"), and `fuse` picks it by matching the
//! two kinds.

use super::exec::{self, address, branch_if, load, load_at, next, reg, set, store, store_at, Word};
use super::memory::PAGE_SIZE;
use super::mmu::Tlb;
use super::op::{Exec, Handler, Op, OpKind};

/// Replaces the handler of the first op of each fusable pair in `ops`.
///
/// Pairs must not overlap, and where they would, the choice matters: in
/// `ld; ld; slli; add` fusing `ld; slli` leaves both loads and the `add`
/// alone, while `ld; ld` and `slli; add` leave nothing. So the pairs are
/// chosen by dynamic programming over the block, for the most dispatches
/// saved (`saving`), from its end: `best[i]` is the most saved from op `i`
/// on.
pub(crate) fn fuse(ops: &mut [Op]) {
    let n = ops.len();
    let mut best = vec![0u32; n + 2];
    let mut pair: Vec<Option<Handler>> = vec![None; n];
    for i in (0..n.saturating_sub(1)).rev() {
        best[i] = best[i + 1];
        if let Some((handler, saving)) = fused(&ops[i], &ops[i + 1]) {
            if saving + best[i + 2] > best[i] {
                best[i] = saving + best[i + 2];
                pair[i] = Some(handler);
            }
        }
    }
    let mut i = 0;
    while i < n {
        match pair[i] {
            // Set only where fusing at `i` saves more than not.
            Some(handler) => {
                ops[i].handler = handler;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// What a fused pair saves, roughly in host instructions (counted in the
/// handlers' machine code) plus two for the indirect jump it spares: a
/// pair of loads off one base spares a TLB lookup, a store and the reload
/// of what it stored a whole load; a pair whose second op reads what the
/// first wrote spares a round trip through the register file (a store and
/// a dependent load the host must forward, a few cycles each).
fn fused(a: &Op, b: &Op) -> Option<(Handler, u32)> {
    use OpKind as K;
    let fwd = forwarded(a, b);
    let forwards = u32::from(fwd != 0) * 2;
    match a.kind {
        // One TLB lookup for both when they share a base that the first
        // does not overwrite, at offsets 8-aligned apart (so the second is
        // aligned when the first is).
        K::Ld
            if b.kind == K::Ld
                && b.rs1 == a.rs1
                && a.rd != a.rs1
                && b.imm.wrapping_sub(a.imm) % 8 == 0 =>
        {
            Some((exec_ld_ld_same_base, 14))
        }
        K::Ld if b.kind == K::Ld => Some((exec_ld_ld, 4)),
        K::Sd
            if b.kind == K::Ld
                && b.rs1 == a.rs1
                && b.imm == a.imm
                && b.rd == a.rs2
                && a.rs1 != a.rs2 =>
        {
            Some((exec_sd_reload, 19))
        }
        K::Lb => load_then::<i8>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Lh => load_then::<i16>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Lw => load_then::<i32>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Ld => load_then::<u64>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Lbu => load_then::<u8>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Lhu => load_then::<u16>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Lwu => load_then::<u32>(b, fwd).map(|h| (h, 7 + forwards)),
        K::Sb => store_then::<u8>(b).map(|h| (h, 5)),
        K::Sh => store_then::<u16>(b).map(|h| (h, 5)),
        K::Sw => store_then::<u32>(b).map(|h| (h, 5)),
        K::Sd => store_then::<u64>(b).map(|h| (h, 5)),
        _ => {
            let handler = match a.kind {
                K::Li => alu_then::<Li>(b, fwd),
                K::Mv => alu_then::<Mv>(b, fwd),
                K::Addi => alu_then::<Addi>(b, fwd),
                K::Addiw => alu_then::<Addiw>(b, fwd),
                K::Add => alu_then::<Add>(b, fwd),
                K::Sub => alu_then::<Sub>(b, fwd),
                K::Slli => alu_then::<Slli>(b, fwd),
                K::And => alu_then::<And>(b, fwd),
                K::Andi => alu_then::<Andi>(b, fwd),
                K::Mul => alu_then::<Mul>(b, fwd),
                _ => None,
            }?;
            let saving = if is_alu(b.kind) {
                3
            } else if b.kind.is_branch() {
                4
            } else {
                8
            };
            Some((handler, saving + forwards))
        }
    }
}

/// Which of `b`'s source registers are `a`'s destination, as the `F` of a
/// fused handler: bit 0 for `rs1`, bit 1 for `rs2`. The fused handler
/// then uses the value it just computed for them, instead of reading back
/// from the register file what it has just written there. (`a`'s
/// destination is never `x0`: that is the sink, which no op reads.)
fn forwarded(a: &Op, b: &Op) -> u8 {
    u8::from(b.rs1 == a.rd) | (u8::from(b.rs2 == a.rd) << 1)
}

/// Whether ops of this kind fuse as the second of two ALU ops.
fn is_alu(kind: OpKind) -> bool {
    use OpKind as K;
    matches!(
        kind,
        K::Li | K::Mv | K::Addi | K::Addiw | K::Add | K::Sub | K::Slli | K::And | K::Andi | K::Mul
    )
}

/// `$f::<$t..., F>` for the forwarding bits `F` in `$fwd` (`forwarded`),
/// as a `Handler`.
macro_rules! by_forwarding {
    ($fwd:expr, $f:ident :: <$($t:ty),*>) => {
        match $fwd {
            0 => $f::<$($t,)* 0> as Handler,
            1 => $f::<$($t,)* 1>,
            2 => $f::<$($t,)* 2>,
            _ => $f::<$($t,)* 3>,
        }
    };
}

/// The fused handler for ALU op `A` followed by `b`, whose sources the
/// ALU op's result is as `fwd` says.
fn alu_then<A: Alu>(b: &Op, fwd: u8) -> Option<Handler> {
    use OpKind as K;
    let handler: Handler = match b.kind {
        K::Beq => by_forwarding!(fwd, exec_alu_branch::<A, Eq>),
        K::Bne => by_forwarding!(fwd, exec_alu_branch::<A, Ne>),
        K::Blt => by_forwarding!(fwd, exec_alu_branch::<A, Lt>),
        K::Bge => by_forwarding!(fwd, exec_alu_branch::<A, Ge>),
        K::Bltu => by_forwarding!(fwd, exec_alu_branch::<A, Ltu>),
        K::Bgeu => by_forwarding!(fwd, exec_alu_branch::<A, Geu>),
        K::Lb => by_forwarding!(fwd, exec_alu_load::<A, i8>),
        K::Lh => by_forwarding!(fwd, exec_alu_load::<A, i16>),
        K::Lw => by_forwarding!(fwd, exec_alu_load::<A, i32>),
        K::Ld => by_forwarding!(fwd, exec_alu_load::<A, u64>),
        K::Lbu => by_forwarding!(fwd, exec_alu_load::<A, u8>),
        K::Lhu => by_forwarding!(fwd, exec_alu_load::<A, u16>),
        K::Lwu => by_forwarding!(fwd, exec_alu_load::<A, u32>),
        K::Sb => by_forwarding!(fwd, exec_alu_store::<A, u8>),
        K::Sh => by_forwarding!(fwd, exec_alu_store::<A, u16>),
        K::Sw => by_forwarding!(fwd, exec_alu_store::<A, u32>),
        K::Sd => by_forwarding!(fwd, exec_alu_store::<A, u64>),
        K::Li => exec_alu_alu::<A, Li, 0>,
        K::Mv => by_forwarding!(fwd, exec_alu_alu::<A, Mv>),
        K::Addi => by_forwarding!(fwd, exec_alu_alu::<A, Addi>),
        K::Addiw => by_forwarding!(fwd, exec_alu_alu::<A, Addiw>),
        K::Add => by_forwarding!(fwd, exec_alu_alu::<A, Add>),
        K::Sub => by_forwarding!(fwd, exec_alu_alu::<A, Sub>),
        K::Slli => by_forwarding!(fwd, exec_alu_alu::<A, Slli>),
        K::And => by_forwarding!(fwd, exec_alu_alu::<A, And>),
        K::Andi => by_forwarding!(fwd, exec_alu_alu::<A, Andi>),
        K::Mul => by_forwarding!(fwd, exec_alu_alu::<A, Mul>),
        _ => return None,
    };
    Some(handler)
}

/// The fused handler for a load of a `T` followed by `b` (a branch or
/// an ALU op), whose sources the loaded value is as `fwd` says.
fn load_then<T: Word>(b: &Op, fwd: u8) -> Option<Handler> {
    use OpKind as K;
    let handler: Handler = match b.kind {
        K::Beq => by_forwarding!(fwd, exec_load_branch::<T, Eq>),
        K::Bne => by_forwarding!(fwd, exec_load_branch::<T, Ne>),
        K::Blt => by_forwarding!(fwd, exec_load_branch::<T, Lt>),
        K::Bge => by_forwarding!(fwd, exec_load_branch::<T, Ge>),
        K::Bltu => by_forwarding!(fwd, exec_load_branch::<T, Ltu>),
        K::Bgeu => by_forwarding!(fwd, exec_load_branch::<T, Geu>),
        K::Mv => by_forwarding!(fwd, exec_load_alu::<T, Mv>),
        K::Addi => by_forwarding!(fwd, exec_load_alu::<T, Addi>),
        K::Addiw => by_forwarding!(fwd, exec_load_alu::<T, Addiw>),
        K::Add => by_forwarding!(fwd, exec_load_alu::<T, Add>),
        K::Sub => by_forwarding!(fwd, exec_load_alu::<T, Sub>),
        K::Slli => by_forwarding!(fwd, exec_load_alu::<T, Slli>),
        K::And => by_forwarding!(fwd, exec_load_alu::<T, And>),
        K::Andi => by_forwarding!(fwd, exec_load_alu::<T, Andi>),
        K::Mul => by_forwarding!(fwd, exec_load_alu::<T, Mul>),
        _ => return None,
    };
    Some(handler)
}

/// The fused handler for a store of a `T` followed by `b` (a load, a
/// store or an ALU op).
fn store_then<T: Word>(b: &Op) -> Option<Handler> {
    use OpKind as K;
    let handler: Handler = match b.kind {
        K::Lb => exec_store_load::<T, i8>,
        K::Lh => exec_store_load::<T, i16>,
        K::Lw => exec_store_load::<T, i32>,
        K::Ld => exec_store_load::<T, u64>,
        K::Lbu => exec_store_load::<T, u8>,
        K::Lhu => exec_store_load::<T, u16>,
        K::Lwu => exec_store_load::<T, u32>,
        K::Sb => exec_store_store::<T, u8>,
        K::Sh => exec_store_store::<T, u16>,
        K::Sw => exec_store_store::<T, u32>,
        K::Sd => exec_store_store::<T, u64>,
        K::Li => exec_store_alu::<T, Li>,
        K::Mv => exec_store_alu::<T, Mv>,
        K::Addi => exec_store_alu::<T, Addi>,
        K::Add => exec_store_alu::<T, Add>,
        K::Slli => exec_store_alu::<T, Slli>,
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

/// Runs ALU op `op` (of kind `A`): writes its result and returns it.
///
/// # Safety
/// The `Handler` contract (op.rs) for `op`.
#[inline(always)]
unsafe fn run_alu<A: Alu>(op: *const Op, x: *mut u64) -> u64 {
    let o = &*op;
    let v = A::apply(reg(x, o.rs1), reg(x, o.rs2), o.imm);
    set(x, o.rd, v);
    v
}

/// The sources of `op`, where the forwarding bits `F` (`forwarded`) say
/// which are `v`, the value the fused pair's first op just wrote.
///
/// # Safety
/// As for `reg` (exec.rs).
#[inline(always)]
unsafe fn sources<const F: u8>(op: *const Op, x: *mut u64, v: u64) -> (u64, u64) {
    let o = &*op;
    let a = if F & 1 != 0 { v } else { reg(x, o.rs1) };
    let b = if F & 2 != 0 { v } else { reg(x, o.rs2) };
    (a, b)
}

/// Runs ALU op `op` (of kind `A`) on its sources (`sources`).
///
/// # Safety
/// As for `run_alu`.
#[inline(always)]
unsafe fn run_alu_after<A: Alu, const F: u8>(op: *const Op, x: *mut u64, v: u64) {
    let (a, b) = sources::<F>(op, x, v);
    set(x, (*op).rd, A::apply(a, b, (*op).imm));
}

// Every fused handler below is a `Handler` whose `op` is the first of a
// pair fused by `fuse`: `op.add(1)` is the second op of the pair, and the
// pair's conditions (in `fused`) hold; `F` is `forwarded` of the pair.
// The second op's body is exec.rs's own (`branch_if`, `load_at`,
// `store_at`), inlined, with its own slow path.

/// An ALU op, then a conditional branch.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_branch<A: Alu, C: Cond, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let v = run_alu::<A>(op, x);
    let (a, b) = sources::<F>(op.add(1), x, v);
    branch_if(op.add(1), x, e, budget, C::taken(a, b))
}

/// An ALU op, then a load (whose base may be the ALU op's result).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_load<A: Alu, T: Word, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let v = run_alu::<A>(op, x);
    let (base, _) = sources::<F>(op.add(1), x, v);
    load_at::<T>(
        op.add(1),
        x,
        e,
        budget,
        base.wrapping_add((*op.add(1)).imm as u64),
    )
}

/// An ALU op, then a store (of, or at, the ALU op's result).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_store<A: Alu, T: Word, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let v = run_alu::<A>(op, x);
    let (base, value) = sources::<F>(op.add(1), x, v);
    let addr = base.wrapping_add((*op.add(1)).imm as u64);
    store_at::<T>(op.add(1), x, e, budget, addr, value)
}

/// Two ALU ops.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_alu_alu<A: Alu, B: Alu, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let v = run_alu::<A>(op, x);
    run_alu_after::<B, F>(op.add(1), x, v);
    next(op.add(1), x, e, budget)
}

/// A load of a `T` if it hits the TLB: writes and returns the value, or
/// `None` if it missed (and nothing was written).
///
/// # Safety
/// The `Handler` contract (op.rs) for `op`, a load of a `T` from `addr`.
#[inline(always)]
unsafe fn load_hit<T: Word>(op: *const Op, x: *mut u64, e: &mut Exec, addr: u64) -> Option<u64> {
    let host = Tlb::read_host(e.tlb, addr, std::mem::size_of::<T>() as u64)?;
    // SAFETY (of the read): as in exec.rs's `load`.
    let v = host.cast::<T>().read_unaligned().widen();
    set(x, (*op).rd, v);
    Some(v)
}

/// A load of a `T`, then a conditional branch: on a TLB miss, the load's
/// own slow path (which then dispatches to the branch as usual).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_load_branch<T: Word, C: Cond, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let addr = address(x, &*op);
    let Some(v) = load_hit::<T>(op, x, e, addr) else {
        return exec::load_miss::<T>(op, x, e, budget, addr);
    };
    let (a, b) = sources::<F>(op.add(1), x, v);
    branch_if(op.add(1), x, e, budget, C::taken(a, b))
}

/// A load of a `T`, then an ALU op (which may use the loaded value).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_load_alu<T: Word, A: Alu, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let addr = address(x, &*op);
    let Some(v) = load_hit::<T>(op, x, e, addr) else {
        return exec::load_miss::<T>(op, x, e, budget, addr);
    };
    run_alu_after::<A, F>(op.add(1), x, v);
    next(op.add(1), x, e, budget)
}

/// Runs store `op` of a `T` if it hits the TLB; `false` if it missed (and
/// nothing was written).
///
/// # Safety
/// The `Handler` contract (op.rs) for `op`, a store.
#[inline(always)]
unsafe fn store_hit<T: Word>(op: *const Op, x: *mut u64, e: &mut Exec) -> bool {
    let a = &*op;
    let Some(host) = Tlb::write_host(e.tlb, address(x, a), std::mem::size_of::<T>() as u64) else {
        return false;
    };
    // SAFETY (of the write): as in exec.rs's `store`.
    host.cast::<T>().write_unaligned(T::narrow(reg(x, a.rs2)));
    true
}

/// A store of a `T`, then a load of a `U`; a store that misses takes the
/// plain store's slow path (which then dispatches to the load).
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_store_load<T: Word, U: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    if !store_hit::<T>(op, x, e) {
        return store::<T>(op, x, e, budget);
    }
    load::<U>(op.add(1), x, e, budget)
}

/// A store of a `T`, then a store of a `U`.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_store_store<T: Word, U: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    if !store_hit::<T>(op, x, e) {
        return store::<T>(op, x, e, budget);
    }
    store::<U>(op.add(1), x, e, budget)
}

/// A store of a `T`, then an ALU op.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_store_alu<T: Word, A: Alu>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    if !store_hit::<T>(op, x, e) {
        return store::<T>(op, x, e, budget);
    }
    run_alu::<A>(op.add(1), x);
    next(op.add(1), x, e, budget)
}

/// `ld a, o1(b1); ld c, o2(b2)`: the first load, then the second.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let a = &*op;
    let addr = address(x, a);
    let Some(host) = Tlb::read_host(e.tlb, addr, 8) else {
        return exec::load_miss::<u64>(op, x, e, budget, addr);
    };
    // SAFETY (of the read): as in exec.rs's `load`.
    set(x, a.rd, host.cast::<u64>().read_unaligned());
    load::<u64>(op.add(1), x, e, budget)
}

/// `ld a, o1(b); ld c, o2(b)` with `a != b` and `o2 - o1` a multiple of 8
/// (C\*'s two locals off `s0`): when both addresses are on one page, the
/// first lookup serves both.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld_same_base(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let a = &*op;
    let first = address(x, a);
    let Some(host) = Tlb::read_host(e.tlb, first, 8) else {
        return exec::load_miss::<u64>(op, x, e, budget, first);
    };
    // SAFETY (of the reads): as in exec.rs's `load`; the second address is
    // on the first's page, which the hit covers (tags are per page, for
    // reads of any aligned width), and aligned, as the first is and the
    // offsets are 8-aligned apart.
    set(x, a.rd, host.cast::<u64>().read_unaligned());
    // `b`'s base is `a`'s, which `a` does not write: `b`'s address is
    // `delta` bytes from `a`'s, on the same page if its offset in the page
    // stays within it (an unsigned compare catches both ends).
    let b = &*op.add(1);
    let delta = b.imm.wrapping_sub(a.imm) as u64;
    if (first & (PAGE_SIZE - 1)).wrapping_add(delta) < PAGE_SIZE {
        let host = host.wrapping_add(delta as usize);
        set(x, b.rd, host.cast::<u64>().read_unaligned());
        next(op.add(1), x, e, budget)
    } else {
        load::<u64>(op.add(1), x, e, budget)
    }
}

/// `sd v, o(b); ld v, o(b)` with `b != v`: the store hits the TLB.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_sd_reload(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let a = &*op;
    let Some(host) = Tlb::write_host(e.tlb, address(x, a), 8) else {
        return exec::exec_sd(op, x, e, budget);
    };
    // The reload reads back the value just stored into the register that
    // already holds it: nothing more to do.
    host.cast::<u64>().write_unaligned(reg(x, a.rs2));
    next(op.add(1), x, e, budget)
}

//! Superinstructions: handlers that run two adjacent ops in one dispatch,
//! for the pairs compilers emit most, and three to five for an array
//! element's load and a function's frame entry and exit as C\* compiles
//! them (`indexed_load`, `frame_handler`) (docs/PERFORMANCE.md, the
//! interpreter's rounds).
//!
//! `fuse` runs once per decoded block and only swaps the *handler* of the
//! first op of a pair (or sequence); all ops stay in the block as they
//! were, and pairs never overlap. A fused handler runs the first op,
//! commits it, and then runs the second op's body inline instead of
//! dispatching to it (and so on, for a sequence): what it
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
//! | `addi sp,sp,-16; sd ra,8(sp); sd s0,0(sp); mv s0,sp` (`; addi sp,sp,-n`) | a C\* function's entry: the stack pointer stays in a host register |
//! | `mv sp,s0; ld ra,8(sp); ld s0,0(sp); addi sp,sp,16` | a C\* function's exit |
//! | `slli i,i,3; add a,a,i; ld d,0(a)` | an array element, `a[i]` (C\*'s `*(a + i)`): the address in a host register |
//!
//! The op kinds are type parameters (`Alu`, `Cond`, `Word`), so every
//! combination is a function of its own, with its own indirect jump at its
//! end (exec.rs, "threaded dispatch"), and `fuse` picks it by matching the
//! two kinds.

use super::exec::cond::{self, Cond};
use super::exec::{
    self, address, branch_if, load, load_at, load_hit, next, reg, set, store, store_at, store_hit,
    Word,
};
use super::memory::PAGE_SIZE;
use super::mmu::Tlb;
use super::op::{Exec, Handler, Op, OpKind};

// The kinds of each family that fuse, each listed once: `by_x!(kind, |T|
// expr)` is `expr` with `T` the type of `kind`, or `None` for a kind of
// another family.

/// `by_kind!(kind, |T| expr, Kind => Type, ...)`: `expr` with `T` the
/// type listed for `kind`, or `None` for a kind not listed.
macro_rules! by_kind {
    ($kind:expr, |$t:ident| $e:expr, $($k:ident => $ty:ty),* $(,)?) => {
        match $kind {
            $(OpKind::$k => {
                type $t = $ty;
                $e
            })*
            _ => None,
        }
    };
}

/// The ALU ops that fuse, as `Alu` types.
macro_rules! by_alu {
    ($kind:expr, |$t:ident| $e:expr) => {
        by_kind!($kind, |$t| $e,
            Li => Li, Mv => Mv, Addi => Addi, Addiw => Addiw, Add => Add,
            Sub => Sub, Slli => Slli, And => And, Andi => Andi, Mul => Mul,
        )
    };
}

/// The conditional branches, as `Cond` types.
macro_rules! by_branch {
    ($kind:expr, |$t:ident| $e:expr) => {
        by_kind!($kind, |$t| $e,
            Beq => cond::Eq, Bne => cond::Ne, Blt => cond::Lt, Bge => cond::Ge,
            Bltu => cond::Ltu, Bgeu => cond::Geu,
        )
    };
}

/// The integer loads, as the `Word` they load.
macro_rules! by_load {
    ($kind:expr, |$t:ident| $e:expr) => {
        by_kind!($kind, |$t| $e,
            Lb => i8, Lh => i16, Lw => i32, Ld => u64, Lbu => u8, Lhu => u16, Lwu => u32,
        )
    };
}

/// The integer stores, as the `Word` they store.
macro_rules! by_store {
    ($kind:expr, |$t:ident| $e:expr) => {
        by_kind!($kind, |$t| $e, Sb => u8, Sh => u16, Sw => u32, Sd => u64)
    };
}

/// `$f::<$t..., F>` for the forwarding bits `F` in `$fwd` (`forwarded`),
/// as a `Handler`.
macro_rules! by_forwarding {
    ($fwd:expr, $f:ident :: <$($t:ty),*>) => {
        Some(match $fwd {
            0 => $f::<$($t,)* 0> as Handler,
            1 => $f::<$($t,)* 1>,
            2 => $f::<$($t,)* 2>,
            _ => $f::<$($t,)* 3>,
        })
    };
}

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
    // A handler chosen at `i` runs ops `i..i + len`, within the block.
    let mut best = vec![0u32; n + 1];
    // The handler chosen at `i`, and how many ops it runs.
    let mut chosen: Vec<Option<(Handler, usize)>> = vec![None; n];
    for i in (0..n.saturating_sub(1)).rev() {
        best[i] = best[i + 1];
        let pair = fused(&ops[i], &ops[i + 1]).map(|(handler, saving)| (handler, 2, saving));
        let frame = frame_handler(&ops[i..]);
        let indexed = indexed_load(&ops[i..]);
        for (handler, len, saving) in pair.into_iter().chain(frame).chain(indexed) {
            if saving + best[i + len] > best[i] {
                best[i] = saving + best[i + len];
                chosen[i] = Some((handler, len));
            }
        }
    }
    let mut i = 0;
    while i < n {
        match chosen[i] {
            // Set only where fusing at `i` saves more than not.
            Some((handler, len)) => {
                ops[i].handler = handler;
                i += len;
            }
            _ => i += 1,
        }
    }
}

/// What a frame sequence saves, by `fused`'s measure, per op after its
/// first: a dispatch (about 4) and a round trip of the stack pointer
/// through the register file (2), and a little more, so that it outweighs
/// any pairs within it.
const FRAME_SAVING_PER_OP: u32 = 4 + 2 + 1;

/// The handler, its length in ops and what it saves (`fused`'s measure)
/// if `ops` start with a function's frame entry or exit as sim's C\*
/// compiler makes them for every function (selfie's own compiler saves
/// `ra` and `s0` with an `addi` each, a shape not matched here):
///
/// - entry: `addi sp,sp,-16; sd ra,8(sp); sd s0,0(sp); mv s0,sp`, and
///   `addi sp,sp,-n` after it if the function has locals;
/// - exit: `mv sp,s0; ld ra,8(sp); ld s0,0(sp); addi sp,sp,16`,
///
/// with any registers and offsets in those shapes. A call passes its
/// arguments on the stack there, so every call runs a chain of stack
/// pointer updates, each of which the next op reads back from the register
/// file (a store and a dependent load the host forwards, several cycles
/// each); these handlers keep the stack pointer in a host register through
/// the sequence. (docs/PERFORMANCE.md: C\* sort calls `swap` from its
/// partition loop.)
fn frame_handler(ops: &[Op]) -> Option<(Handler, usize, u32)> {
    use OpKind as K;
    let [a, b, c, d, rest @ ..] = ops else {
        return None;
    };
    // Both shapes bump `sp` (`addi sp,sp,k`), so it is a real register:
    // a source is never the sink, and no op writes `x0` (op.rs).
    let sp = a.rd;
    let bump = |o: &Op| o.kind == K::Addi && o.rd == sp && o.rs1 == sp;
    let (handler, len): (Handler, usize) = if bump(a)
        && [b, c].iter().all(|s| s.kind == K::Sd && s.rs1 == sp)
        && d.kind == K::Mv
        && d.rs1 == sp
    {
        match rest.first() {
            Some(locals) if bump(locals) => (exec_frame_entry::<true>, 5),
            _ => (exec_frame_entry::<false>, 4),
        }
    } else if a.kind == K::Mv
        // The loads must not write the base they share with the final
        // `addi`.
        && [b, c].iter().all(|l| l.kind == K::Ld && l.rs1 == sp && l.rd != sp)
        && bump(d)
    {
        (exec_frame_exit, 4)
    } else {
        return None;
    };
    Some((handler, len, FRAME_SAVING_PER_OP * (len as u32 - 1)))
}

/// What an indexed load saves, by `fused`'s measure: two dispatches
/// (about 4 each) and two round trips through the register file (2 each):
/// more than its `slli; add` pair and a pair of the load with what follows
/// it, which it must outweigh to be chosen.
const INDEXED_LOAD_SAVING: u32 = 2 * 4 + 2 * 2;

/// The handler, its length in ops (three) and what it saves if `ops`
/// start with a load from an array element, `a[i]`, as C\* compiles it
/// (after loading `a` and `i`): `slli i,i,k; add a,a,i; ld d,o(a)` (with
/// `add`'s sources either way round, and any load). The element's address
/// goes from op to op in a host register, not through the register file:
/// a loop over an array waits on that chain (C\* sort's partition test).
fn indexed_load(ops: &[Op]) -> Option<(Handler, usize, u32)> {
    let [shift, add, load, ..] = ops else {
        return None;
    };
    let fwd = forwarded(shift, add);
    let shape = shift.kind == OpKind::Slli
        && add.kind == OpKind::Add
        && fwd != 0
        // The load's base is the sum: the `add`'s result goes on.
        && load.rs1 == add.rd;
    if !shape {
        return None;
    }
    let handler = by_load!(load.kind, |T| by_forwarding!(fwd, exec_indexed_load::<T>))?;
    Some((handler, 3, INDEXED_LOAD_SAVING))
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
        // Two loads off different bases save only the dispatch by the
        // count above (4), but that undercounts: weighted so, the choice
        // fell on `ld; addi`, `addi; mul`, `add; bne` in gcc's matmul loop
        // instead of `ld; ld`, `addi; addi`, `mul; add`, and the latter
        // runs 3.7% fewer host instructions there (cachegrind) and no more
        // on any other benchmark. Calibrated, not counted.
        K::Ld if b.kind == K::Ld => Some((exec_ld_ld, 9)),
        K::Sd
            if b.kind == K::Ld
                && b.rs1 == a.rs1
                && b.imm == a.imm
                && b.rd == a.rs2
                && a.rs1 != a.rs2 =>
        {
            Some((exec_sd_reload, 19))
        }
        k if k.is_load() => by_load!(k, |T| load_then::<T>(b, fwd)).map(|h| (h, 7 + forwards)),
        k if k.is_store() => by_store!(k, |T| store_then::<T>(b)).map(|h| (h, 5)),
        k => {
            let handler = by_alu!(k, |A| alu_then::<A>(b, fwd))?;
            let saving = if is_fused_alu(b.kind) {
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

/// Whether `kind` is one of the ALU ops that fuse (`by_alu!`).
fn is_fused_alu(kind: OpKind) -> bool {
    // Any expression in `B` does: what counts is whether `by_alu!` lists
    // the kind.
    by_alu!(kind, |B| Some(std::mem::size_of::<B>())).is_some()
}

/// Which of `b`'s source registers are `a`'s destination, as the `F` of a
/// fused handler: bit 0 for `rs1`, bit 1 for `rs2`. The fused handler
/// then uses the value it just computed for them, instead of reading back
/// from the register file what it has just written there. (`a`'s
/// destination is never `x0`: that is the sink, which no op reads.)
fn forwarded(a: &Op, b: &Op) -> u8 {
    u8::from(b.rs1 == a.rd) | (u8::from(b.rs2 == a.rd) << 1)
}

/// The fused handler for ALU op `A` followed by `b`, whose sources the
/// ALU op's result is as `fwd` says.
fn alu_then<A: Alu>(b: &Op, fwd: u8) -> Option<Handler> {
    by_branch!(b.kind, |C| by_forwarding!(fwd, exec_alu_branch::<A, C>))
        .or_else(|| by_load!(b.kind, |T| by_forwarding!(fwd, exec_alu_load::<A, T>)))
        .or_else(|| by_store!(b.kind, |T| by_forwarding!(fwd, exec_alu_store::<A, T>)))
        .or_else(|| by_alu!(b.kind, |B| by_forwarding!(fwd, exec_alu_alu::<A, B>)))
}

/// The fused handler for a load of a `T` followed by `b` (a branch or
/// an ALU op), whose sources the loaded value is as `fwd` says.
fn load_then<T: Word>(b: &Op, fwd: u8) -> Option<Handler> {
    by_branch!(b.kind, |C| by_forwarding!(fwd, exec_load_branch::<T, C>))
        .or_else(|| by_alu!(b.kind, |A| by_forwarding!(fwd, exec_load_alu::<T, A>)))
}

/// The fused handler for a store of a `T` followed by `b` (a load, a
/// store or an ALU op).
fn store_then<T: Word>(b: &Op) -> Option<Handler> {
    by_load!(b.kind, |U| Some(exec_store_load::<T, U> as Handler))
        .or_else(|| by_store!(b.kind, |U| Some(exec_store_store::<T, U> as Handler)))
        .or_else(|| by_alu!(b.kind, |A| Some(exec_store_alu::<T, A> as Handler)))
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

/// Runs ALU op `op` (of kind `A`) on its sources (`sources`): writes its
/// result and returns it.
///
/// # Safety
/// As for `run_alu`.
#[inline(always)]
unsafe fn run_alu_after<A: Alu, const F: u8>(op: *const Op, x: *mut u64, v: u64) -> u64 {
    let (a, b) = sources::<F>(op, x, v);
    let result = A::apply(a, b, (*op).imm);
    set(x, (*op).rd, result);
    result
}

/// `rs1` alone, forwarded (`sources`): for the ops of a frame sequence,
/// whose only source is the stack pointer the handler holds.
const RS1: u8 = 1;

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

/// Runs store `op` of a `T`: `Err` with what the rest of the block
/// returned if it missed the TLB and took the plain store's slow path
/// (which then goes on with the next op by dispatch, as unfused).
///
/// # Safety
/// The `Handler` contract (op.rs) for `op`, a store.
#[inline(always)]
unsafe fn store_first<T: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> Result<(), u64> {
    let a = &*op;
    let (addr, value) = (address(x, a), reg(x, a.rs2));
    if store_hit::<T>(e, addr, value) {
        Ok(())
    } else {
        Err(exec::store_miss::<T>(op, x, e, budget, addr, value))
    }
}

/// A store of a `T`, then a load of a `U`.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_store_load<T: Word, U: Word>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    if let Err(rest) = store_first::<T>(op, x, e, budget) {
        return rest;
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
    if let Err(rest) = store_first::<T>(op, x, e, budget) {
        return rest;
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
    if let Err(rest) = store_first::<T>(op, x, e, budget) {
        return rest;
    }
    run_alu::<A>(op.add(1), x);
    next(op.add(1), x, e, budget)
}

/// `ld a, o1(b1); ld c, o2(b2)`: the first load, then the second.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let addr = address(x, &*op);
    if load_hit::<u64>(op, x, e, addr).is_none() {
        return exec::load_miss::<u64>(op, x, e, budget, addr);
    }
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

/// `sd v, o(b); ld v, o(b)` with `b != v`: when the store hits the TLB,
/// the reload reads back the value just stored into the register that
/// already holds it, so it has nothing to do.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_sd_reload(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    if let Err(rest) = store_first::<u64>(op, x, e, budget) {
        return rest;
    }
    next(op.add(1), x, e, budget)
}

/// A frame's entry, `addi sp,sp,k; sd r1,o1(sp); sd r2,o2(sp); mv fp,sp`,
/// and with `LOCALS` the `addi sp,sp,n` after it (`frame_handler`): the
/// stack pointer stays in a host register through all of them. A store
/// that misses the TLB takes its own slow path with the ops before it
/// committed, which then goes on with the next op by dispatch, as unfused.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse` as an entry
/// (with locals if `LOCALS`).
unsafe extern "C" fn exec_frame_entry<const LOCALS: bool>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let sp = run_alu::<Addi>(op, x);
    for store in [op.add(1), op.add(2)] {
        let addr = sp.wrapping_add((*store).imm as u64);
        // Read after the `addi` wrote: the stored register may be `sp`.
        let value = reg(x, (*store).rs2);
        if !store_hit::<u64>(e, addr, value) {
            return exec::store_miss::<u64>(store, x, e, budget, addr, value);
        }
    }
    run_alu_after::<Mv, RS1>(op.add(3), x, sp);
    if !LOCALS {
        return next(op.add(3), x, e, budget);
    }
    run_alu_after::<Addi, RS1>(op.add(4), x, sp);
    next(op.add(4), x, e, budget)
}

/// A frame's exit, `mv sp,fp; ld r1,o1(sp); ld r2,o2(sp); addi sp,sp,k`
/// (`frame_handler`), the loads not writing `sp`: as `exec_frame_entry`.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse` as an exit.
unsafe extern "C" fn exec_frame_exit(op: *const Op, x: *mut u64, e: &mut Exec, budget: u64) -> u64 {
    let sp = run_alu::<Mv>(op, x);
    for load in [op.add(1), op.add(2)] {
        let addr = sp.wrapping_add((*load).imm as u64);
        if load_hit::<u64>(load, x, e, addr).is_none() {
            return exec::load_miss::<u64>(load, x, e, budget, addr);
        }
    }
    run_alu_after::<Addi, RS1>(op.add(3), x, sp);
    next(op.add(3), x, e, budget)
}

/// `slli i,i,k; add a,a,i; ld d,o(a)` (`indexed_load`): the shifted index
/// and the element's address go on in host registers, each also written
/// to its register as the ops would. A load that misses the TLB takes its
/// own slow path, the two ALU ops committed.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse` as an
/// indexed load; `F` is `forwarded` of the `slli` and the `add`.
unsafe extern "C" fn exec_indexed_load<T: Word, const F: u8>(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    budget: u64,
) -> u64 {
    let index = run_alu::<Slli>(op, x);
    let base = run_alu_after::<Add, F>(op.add(1), x, index);
    let load = op.add(2);
    load_at::<T>(load, x, e, budget, base.wrapping_add((*load).imm as u64))
}

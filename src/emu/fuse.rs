//! Superinstructions: handlers that run two adjacent ops in one dispatch,
//! for the idioms compilers emit most (PERFORMANCE-NOTES.md, technique 5).
//!
//! `fuse` runs once per decoded block and only swaps the *handler* of the
//! first op of a pair; both ops stay in the block as they were. A fused
//! handler first checks that everything it needs is on a fast path (both
//! TLB lookups hit); only then does it commit both instructions and
//! continue after the second. Otherwise it jumps to the first op's plain
//! handler, which runs the pair one op at a time — so faults, TLB misses
//! and stores to code are handled exactly as without fusion, and every op
//! keeps its own pc and index for precise exceptions.
//!
//! | pair | typical source | condition |
//! |---|---|---|
//! | `ld a,..; ld b,..` | loading two operands | second base is not `a` |
//! | `slli t,t,k; add d,x,t` | `p + i` scaled by 8 | — |
//! | `li t,imm; sd t,..` | storing a constant | base is not `t` |
//! | `sd v,o(b); ld v,o(b)` | storing then reloading a local | same base, offset and register: the load is a no-op |
//! | `ld t,..; b<cond> ..` | loop tests | — |

use super::exec::{self, address, next, reg, set};
use super::mmu::Tlb;
use super::op::{Exec, Handler, Op, OpKind};

/// Replaces the handler of the first op of each fusable pair in `ops`.
pub(crate) fn fuse(ops: &mut [Op]) {
    let mut i = 0;
    while i + 1 < ops.len() {
        let (a, b) = (ops[i], ops[i + 1]);
        let fused: Option<Handler> = match (a.kind, b.kind) {
            (OpKind::Ld, OpKind::Ld) if b.rs1 != a.rd => Some(exec_ld_ld),
            (OpKind::Slli, OpKind::Add) => Some(exec_slli_add),
            (OpKind::Li, OpKind::Sd) if b.rs1 != a.rd => Some(exec_li_sd),
            (OpKind::Sd, OpKind::Ld)
                if b.rs1 == a.rs1 && b.imm == a.imm && b.rd == a.rs2 && a.rs1 != a.rs2 =>
            {
                Some(exec_sd_reload)
            }
            (OpKind::Ld, k) if k.is_branch() => Some(exec_ld_branch),
            _ => None,
        };
        if let Some(handler) = fused {
            ops[i].handler = handler;
            i += 2;
        } else {
            i += 1;
        }
    }
}

// Every fused handler below is a `Handler` whose `op` is the first of a
// pair fused by `fuse`: `op.add(1)` is the second op of the pair, and the
// pair's conditions (the table above) hold. Each reads the TLB like the
// plain `ld`/`sd` (mmu.rs: `read_host`, `write_host`) and falls back to the
// first op's plain handler on a miss.

/// `ld a, o1(b1); ld c, o2(b2)` with `b2 != a`: both loads hit the TLB.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_ld(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    let first = Tlb::read_host(e.tlb, address(x, a), 8);
    // `b`'s base is not `a`'s destination, so it can be read before `a`
    // has written it.
    let second = Tlb::read_host(e.tlb, address(x, b), 8);
    let (Some(first), Some(second)) = (first, second) else {
        return exec::exec_ld(op, x, e);
    };
    set(x, a.rd, first.cast::<u64>().read_unaligned());
    set(x, b.rd, second.cast::<u64>().read_unaligned());
    next(op.add(1), x, e)
}

/// `slli t, s, k; add d, y, z`: a scaled index and the add that uses it.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_slli_add(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    set(x, a.rd, reg(x, a.rs1) << (a.imm & 63));
    set(x, b.rd, reg(x, b.rs1).wrapping_add(reg(x, b.rs2)));
    next(op.add(1), x, e)
}

/// `li t, imm; sd v, o(b)` with `b != t`: the store hits the TLB.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_li_sd(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    let Some(host) = Tlb::write_host(e.tlb, address(x, b), 8) else {
        return exec::exec_li(op, x, e);
    };
    set(x, a.rd, a.imm as u64);
    // After `li`: `v` may be `t`.
    host.cast::<u64>().write_unaligned(reg(x, b.rs2));
    next(op.add(1), x, e)
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

/// `ld t, o(b); b<cond> ...`: the load hits the TLB; the branch's own
/// handler follows without a dispatch through the run loop.
/// # Safety
/// The `Handler` contract (op.rs), for an op fused by `fuse`.
unsafe extern "C" fn exec_ld_branch(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let a = &*op;
    let Some(host) = Tlb::read_host(e.tlb, address(x, a), 8) else {
        return exec::exec_ld(op, x, e);
    };
    set(x, a.rd, host.cast::<u64>().read_unaligned());
    next(op, x, e)
}

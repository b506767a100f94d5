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

use super::block::{Op, OpKind};
use super::exec::{self, Exec, Handler};
use super::mmu::Tlb;

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
            (OpKind::Ld, k) if exec::is_branch(k) => Some(exec_ld_branch),
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

#[inline(always)]
unsafe fn reg(x: *mut u64, i: u8) -> u64 {
    *x.add(i as usize)
}

#[inline(always)]
unsafe fn set(x: *mut u64, i: u8, v: u64) {
    *x.add(i as usize) = v;
}

/// The host address of an 8-byte load at `addr`, if the TLB has it.
#[inline(always)]
unsafe fn read_host(e: &Exec, addr: u64) -> Option<*const u64> {
    let entry = &*e.tlb.add(Tlb::index(addr));
    (entry.read_tag == Tlb::tag_for(addr, 8))
        .then(|| (addr as usize).wrapping_add(entry.addend) as *const u64)
}

/// The host address of an 8-byte store at `addr`, if the TLB has it.
#[inline(always)]
unsafe fn write_host(e: &Exec, addr: u64) -> Option<*mut u64> {
    let entry = &*e.tlb.add(Tlb::index(addr));
    (entry.write_tag == Tlb::tag_for(addr, 8))
        .then(|| (addr as usize).wrapping_add(entry.addend) as *mut u64)
}

unsafe fn exec_ld_ld(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    let first = read_host(e, reg(x, a.rs1).wrapping_add(a.imm as u64));
    let second = read_host(e, reg(x, b.rs1).wrapping_add(b.imm as u64));
    let (Some(first), Some(second)) = (first, second) else {
        return exec::exec_ld(op, x, e);
    };
    set(x, a.rd, first.read_unaligned());
    set(x, b.rd, second.read_unaligned());
    exec::next(op.add(1), x, e)
}

unsafe fn exec_slli_add(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    set(x, a.rd, reg(x, a.rs1) << (a.imm & 63));
    set(x, b.rd, reg(x, b.rs1).wrapping_add(reg(x, b.rs2)));
    exec::next(op.add(1), x, e)
}

unsafe fn exec_li_sd(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let (a, b) = (&*op, &*op.add(1));
    let Some(host) = write_host(e, reg(x, b.rs1).wrapping_add(b.imm as u64)) else {
        return exec::exec_li(op, x, e);
    };
    set(x, a.rd, a.imm as u64);
    host.write_unaligned(reg(x, b.rs2));
    exec::next(op.add(1), x, e)
}

unsafe fn exec_sd_reload(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let a = &*op;
    let Some(host) = write_host(e, reg(x, a.rs1).wrapping_add(a.imm as u64)) else {
        return exec::exec_sd(op, x, e);
    };
    // The reload reads back the value just stored into the register that
    // already holds it: nothing more to do.
    host.write_unaligned(reg(x, a.rs2));
    exec::next(op.add(1), x, e)
}

unsafe fn exec_ld_branch(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let a = &*op;
    let Some(host) = read_host(e, reg(x, a.rs1).wrapping_add(a.imm as u64)) else {
        return exec::exec_ld(op, x, e);
    };
    set(x, a.rd, host.read_unaligned());
    let b = op.add(1);
    ((*b).handler)(b, x, e)
}

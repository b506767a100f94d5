//! The executor: runs the ops of one block. This is the emulator's hot path.
//!
//! How it is made fast (see shared/PERFORMANCE-NOTES.md):
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
//! - **Counting per block**: the caller adds the block's instruction count
//!   up front; a fault in the middle of a block un-counts what did not run.
//! - `x0` never needs a check: ops with destination `x0` write the sink
//!   register 32 (block.rs).
//! - Loads and stores go through the TLB with one compare (mmu.rs); misses,
//!   misaligned or page-crossing accesses, faults and stores to frames that
//!   hold code go to `#[cold]` functions.
//!
//! A handler's result is the next pc, or `STOPPED` when the block ended
//! early (a fault, or a store that hit decoded code): then `Exec::stop`
//! says why and where.

use super::block::{amo_pack, BlockCache, JumpEntry, Op, OpKind, AMO_OPS};
use super::exception::Exception;
use super::instruction::{AmoOp, AmoWidth};
use super::machine::Machine;
use super::memory::PAGE_SIZE;
use super::mmu::{Access, PageTable, Tlb, TlbEntry};

/// The signature of every op handler: the op, the register file (33
/// slots), the execution state. Returns the next pc or `STOPPED`.
pub(crate) type Handler = unsafe fn(*const Op, *mut u64, &mut Exec) -> u64;

/// Returned by a handler when the block stopped early (never a valid pc:
/// pcs are even).
pub(crate) const STOPPED: u64 = u64::MAX;

/// Why a block stopped early.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    /// The op raised an exception; it did not retire.
    Fault(Exception),
    /// A store hit decoded code; the op retired, the block must be left
    /// because its own code may have changed.
    CodeWritten,
}

/// State shared by the handlers of one run: what the fast paths need in
/// reach, and raw pointers for the slow paths.
pub(crate) struct Exec {
    pub tlb: *const TlbEntry,
    pub machine: *mut Machine,
    pub page_table: *mut PageTable,
    /// Virtual address of the running block's first instruction.
    pub block_pc: u64,
    /// The running block's first op, to compute an op's index.
    pub ops: *const Op,
    /// Instructions retired before the running block.
    pub start_instret: u64,
    /// Instructions retired, counting the running block whole.
    pub instret: u64,
    /// The run ends when `instret` reaches this.
    pub stop_at: u64,
    /// The jump cache, for chaining from one block to the next.
    pub jump_cache: *const JumpEntry,
    /// How many more blocks a terminator may chain to before returning to
    /// the run loop (bounds the native stack if tail calls are not optimised).
    pub chain_budget: u32,
    /// Set with `STOPPED`: why, and at which op.
    pub stop: Option<(Stop, *const Op)>,
}

impl Exec {
    /// Index of `op` in the running block.
    #[inline(always)]
    pub fn index_of(&self, op: *const Op) -> u64 {
        // SAFETY: both point into the same block's ops.
        (unsafe { op.offset_from(self.ops) }) as u64
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

/// Continues with the next op of the block (a tail call).
#[inline(always)]
pub(crate) unsafe fn next(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let n = op.add(1);
    ((*n).handler)(n, x, e)
}

#[inline(always)]
fn next_pc(block_pc: u64, op: &Op) -> u64 {
    block_pc.wrapping_add(u64::from(op.offset) + u64::from(op.len))
}

/// Ends the block with an exception at `op`.
#[cold]
#[inline(never)]
fn fault(op: *const Op, e: &mut Exec, exception: Exception) -> u64 {
    e.stop = Some((Stop::Fault(exception), op));
    STOPPED
}

// ---- ALU ops: `rd = f(rs1, rs2 or imm)` -------------------------------------

macro_rules! alu {
    ($(#[$doc:meta])* $name:ident, |$a:ident, $b:ident, $o:ident| $body:expr) => {
        $(#[$doc])*
        pub(crate) unsafe fn $name(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
            let $o = &*op;
            let $a = reg(x, $o.rs1);
            let $b = reg(x, $o.rs2);
            set(x, $o.rd, $body);
            next(op, x, e)
        }
    };
}

alu!(exec_li, |_a, _b, o| o.imm as u64);
alu!(exec_mv, |a, _b, _o| a);
alu!(exec_addi, |a, _b, o| a.wrapping_add(o.imm as u64));
alu!(exec_slti, |a, _b, o| u64::from((a as i64) < o.imm));
alu!(exec_sltiu, |a, _b, o| u64::from(a < o.imm as u64));
alu!(exec_xori, |a, _b, o| a ^ o.imm as u64);
alu!(exec_ori, |a, _b, o| a | o.imm as u64);
alu!(exec_andi, |a, _b, o| a & o.imm as u64);
alu!(exec_slli, |a, _b, o| a << (o.imm & 63));
alu!(exec_srli, |a, _b, o| a >> (o.imm & 63));
alu!(exec_srai, |a, _b, o| ((a as i64) >> (o.imm & 63)) as u64);
alu!(exec_addiw, |a, _b, o| sext32(
    a.wrapping_add(o.imm as u64) as u32
));
alu!(exec_slliw, |a, _b, o| sext32((a as u32) << (o.imm & 31)));
alu!(exec_srliw, |a, _b, o| sext32((a as u32) >> (o.imm & 31)));
alu!(exec_sraiw, |a, _b, o| ((a as i32) >> (o.imm & 31)) as i64
    as u64);
alu!(exec_add, |a, b, _o| a.wrapping_add(b));
alu!(exec_sub, |a, b, _o| a.wrapping_sub(b));
alu!(exec_sll, |a, b, _o| a << (b & 63));
alu!(exec_slt, |a, b, _o| u64::from((a as i64) < (b as i64)));
alu!(exec_sltu, |a, b, _o| u64::from(a < b));
alu!(exec_xor, |a, b, _o| a ^ b);
alu!(exec_srl, |a, b, _o| a >> (b & 63));
alu!(exec_sra, |a, b, _o| ((a as i64) >> (b & 63)) as u64);
alu!(exec_or, |a, b, _o| a | b);
alu!(exec_and, |a, b, _o| a & b);
alu!(exec_mul, |a, b, _o| a.wrapping_mul(b));
alu!(
    exec_mulh,
    |a, b, _o| ((i128::from(a as i64) * i128::from(b as i64)) >> 64) as u64
);
alu!(
    exec_mulhsu,
    |a, b, _o| (i128::from(a as i64).wrapping_mul(i128::from(b)) >> 64) as u64
);
alu!(
    exec_mulhu,
    |a, b, _o| ((u128::from(a) * u128::from(b)) >> 64) as u64
);
alu!(exec_div, |a, b, _o| div(a as i64, b as i64) as u64);
alu!(exec_divu, |a, b, _o| a.checked_div(b).unwrap_or(u64::MAX));
alu!(exec_rem, |a, b, _o| rem(a as i64, b as i64) as u64);
alu!(exec_remu, |a, b, _o| if b == 0 { a } else { a % b });
alu!(exec_addw, |a, b, _o| sext32(a.wrapping_add(b) as u32));
alu!(exec_subw, |a, b, _o| sext32(a.wrapping_sub(b) as u32));
alu!(exec_sllw, |a, b, _o| sext32((a as u32) << (b & 31)));
alu!(exec_srlw, |a, b, _o| sext32((a as u32) >> (b & 31)));
alu!(exec_sraw, |a, b, _o| ((a as i32) >> (b & 31)) as i64 as u64);
alu!(exec_mulw, |a, b, _o| sext32(
    (a as u32).wrapping_mul(b as u32)
));
alu!(exec_divw, |a, b, _o| i64::from(div32(a as i32, b as i32))
    as u64);
alu!(exec_divuw, |a, b, _o| sext32(
    (a as u32).checked_div(b as u32).unwrap_or(u32::MAX)
));
alu!(exec_remw, |a, b, _o| i64::from(rem32(a as i32, b as i32))
    as u64);
alu!(exec_remuw, |a, b, _o| {
    let (a, b) = (a as u32, b as u32);
    sext32(if b == 0 { a } else { a % b })
});

/// `fence` and writes to `x0` without side effects.
pub(crate) unsafe fn exec_nop(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    next(op, x, e)
}

/// Reads a counter CSR. `cycle`, `time` and `instret` all are the
/// instruction count before this instruction (privileged spec 3.1.11:
/// one instruction per cycle, time ticks per instruction), so every run is
/// deterministic.
pub(crate) unsafe fn exec_csr_read(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let count = e.start_instret + e.index_of(op);
    set(x, (*op).rd, count);
    next(op, x, e)
}

// ---- loads and stores --------------------------------------------------------

macro_rules! load {
    ($name:ident, $ty:ty, $extend:expr) => {
        pub(crate) unsafe fn $name(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
            let o = &*op;
            let addr = reg(x, o.rs1).wrapping_add(o.imm as u64);
            let size = std::mem::size_of::<$ty>() as u64;
            let entry = &*e.tlb.add(Tlb::index(addr));
            if entry.read_tag != Tlb::tag_for(addr, size) {
                // A tail call too, so that the fast path needs no stack frame.
                return load_miss(op, x, e, addr, size, |v| {
                    let extend: fn($ty) -> u64 = $extend;
                    extend(v as $ty)
                });
            }
            let value =
                std::ptr::read_unaligned((addr as usize).wrapping_add(entry.addend) as *const $ty);
            let extend: fn($ty) -> u64 = $extend;
            set(x, o.rd, extend(value));
            next(op, x, e)
        }
    };
}

/// A load that missed the TLB fast path: the slow load, then on with the
/// block.
#[cold]
#[inline(never)]
unsafe fn load_miss(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    addr: u64,
    size: u64,
    extend: fn(u64) -> u64,
) -> u64 {
    match load_slow(e, addr, size) {
        Ok(v) => {
            set(x, (*op).rd, extend(v));
            next(op, x, e)
        }
        Err(exception) => fault(op, e, exception),
    }
}

load!(exec_lb, i8, |v| v as i64 as u64);
load!(exec_lh, i16, |v| v as i64 as u64);
load!(exec_lw, i32, |v| v as i64 as u64);
load!(exec_ld, u64, |v| v);
load!(exec_lbu, u8, u64::from);
load!(exec_lhu, u16, u64::from);
load!(exec_lwu, u32, u64::from);

macro_rules! store {
    ($name:ident, $ty:ty) => {
        pub(crate) unsafe fn $name(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
            let o = &*op;
            let addr = reg(x, o.rs1).wrapping_add(o.imm as u64);
            let size = std::mem::size_of::<$ty>() as u64;
            let value = reg(x, o.rs2);
            let entry = &*e.tlb.add(Tlb::index(addr));
            if entry.write_tag == Tlb::tag_for(addr, size) {
                std::ptr::write_unaligned(
                    (addr as usize).wrapping_add(entry.addend) as *mut $ty,
                    value as $ty,
                );
                next(op, x, e)
            } else {
                store_slow_op(op, x, e, addr, size, value)
            }
        }
    };
}

store!(exec_sb, u8);
store!(exec_sh, u16);
store!(exec_sw, u32);
store!(exec_sd, u64);

#[cold]
#[inline(never)]
fn load_slow(e: &mut Exec, addr: u64, size: u64) -> Result<u64, Exception> {
    // SAFETY: the pointers in `Exec` are valid for the whole run (machine.rs).
    unsafe { (*e.machine).load_slow(addr, size, &mut *e.page_table) }
}

/// A store that missed the fast path; leaves the block after it if it
/// wrote decoded code (the block's own code may have changed).
#[cold]
#[inline(never)]
unsafe fn store_slow_op(
    op: *const Op,
    x: *mut u64,
    e: &mut Exec,
    addr: u64,
    size: u64,
    value: u64,
) -> u64 {
    let machine = &mut *e.machine;
    if let Err(exception) = machine.store_slow(addr, size, value, &mut *e.page_table) {
        return fault(op, e, exception);
    }
    if machine.code_written {
        e.stop = Some((Stop::CodeWritten, op));
        return STOPPED;
    }
    next(op, x, e)
}

/// Atomics (A extension): always through the slow path; they are rare.
pub(crate) unsafe fn exec_amo(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let machine = &mut *e.machine;
    if let Err(exception) = machine.amo(x, &*op, &mut *e.page_table) {
        return fault(op, e, exception);
    }
    if machine.code_written {
        e.stop = Some((Stop::CodeWritten, op));
        return STOPPED;
    }
    next(op, x, e)
}

// ---- terminators: they return the next pc ------------------------------------

macro_rules! branch {
    ($name:ident, |$a:ident, $b:ident| $cond:expr) => {
        pub(crate) unsafe fn $name(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
            let o = &*op;
            let $a = reg(x, o.rs1);
            let $b = reg(x, o.rs2);
            let target = if $cond {
                o.imm as u64
            } else {
                next_pc(e.block_pc, o)
            };
            chain(target, x, e)
        }
    };
}

branch!(exec_beq, |a, b| a == b);
branch!(exec_bne, |a, b| a != b);
branch!(exec_blt, |a, b| (a as i64) < (b as i64));
branch!(exec_bge, |a, b| (a as i64) >= (b as i64));
branch!(exec_bltu, |a, b| a < b);
branch!(exec_bgeu, |a, b| a >= b);

pub(crate) unsafe fn exec_jal(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let o = &*op;
    set(x, o.rd, next_pc(e.block_pc, o));
    chain(o.imm as u64, x, e)
}

pub(crate) unsafe fn exec_jalr(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    let o = &*op;
    // Read rs1 before writing rd: they may be the same register.
    let target = reg(x, o.rs1).wrapping_add(o.imm as u64) & !1;
    set(x, o.rd, next_pc(e.block_pc, o));
    chain(target, x, e)
}

pub(crate) unsafe fn exec_ecall(op: *const Op, _x: *mut u64, e: &mut Exec) -> u64 {
    fault(op, e, Exception::Syscall)
}

pub(crate) unsafe fn exec_ebreak(op: *const Op, _x: *mut u64, e: &mut Exec) -> u64 {
    let pc = e.block_pc.wrapping_add(u64::from((*op).offset));
    fault(op, e, Exception::Breakpoint { pc })
}

pub(crate) unsafe fn exec_illegal(op: *const Op, _x: *mut u64, e: &mut Exec) -> u64 {
    let pc = e.block_pc.wrapping_add(u64::from((*op).offset));
    fault(
        op,
        e,
        Exception::IllegalInstruction {
            pc,
            bits: (*op).imm as u32,
        },
    )
}

/// End of a block that did not end in control flow.
pub(crate) unsafe fn exec_fallthrough(op: *const Op, x: *mut u64, e: &mut Exec) -> u64 {
    chain(e.block_pc.wrapping_add(u64::from((*op).offset)), x, e)
}

/// Block chaining: goes on with the block at `target` directly (a tail
/// call) if the jump cache has it and the budget allows all of it;
/// otherwise returns `target` to the run loop, which looks it up or decodes.
#[inline(always)]
unsafe fn chain(target: u64, x: *mut u64, e: &mut Exec) -> u64 {
    if e.chain_budget == 0 {
        return target;
    }
    // A loop whose body is this very block: no lookup needed.
    let (ops, count) = if target == e.block_pc {
        (e.ops, e.instret - e.start_instret)
    } else {
        let entry = *e.jump_cache.add(BlockCache::jump_index(target));
        if entry.pc != target {
            return target;
        }
        (entry.ops, entry.count)
    };
    if count > e.stop_at - e.instret {
        return target;
    }
    e.chain_budget -= 1;
    e.block_pc = target;
    e.ops = ops;
    e.start_instret = e.instret;
    e.instret += count;
    ((*ops).handler)(ops, x, e)
}

/// Whether `kind` is a conditional branch.
pub(crate) fn is_branch(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::Beq | OpKind::Bne | OpKind::Blt | OpKind::Bge | OpKind::Bltu | OpKind::Bgeu
    )
}

/// The handler of each op kind.
pub(crate) fn handler_for(kind: OpKind) -> Handler {
    use OpKind as K;
    match kind {
        K::Li => exec_li,
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
        K::Beq => exec_beq,
        K::Bne => exec_bne,
        K::Blt => exec_blt,
        K::Bge => exec_bge,
        K::Bltu => exec_bltu,
        K::Bgeu => exec_bgeu,
        K::Jal => exec_jal,
        K::Jalr => exec_jalr,
        K::Ecall => exec_ecall,
        K::Ebreak => exec_ebreak,
        K::Illegal => exec_illegal,
        K::Fallthrough => exec_fallthrough,
    }
}

impl Machine {
    /// A load that missed the TLB's fast path: translates (possibly byte by
    /// byte, for a misaligned access that crosses a page) and reads.
    #[cold]
    #[inline(never)]
    pub(crate) fn load_slow(
        &mut self,
        addr: u64,
        size: u64,
        page_table: &mut PageTable,
    ) -> Result<u64, Exception> {
        let phys = self.translate(addr, Access::Read, page_table)?;
        let offset = (phys & (PAGE_SIZE - 1)) as usize;
        if offset + size as usize <= PAGE_SIZE as usize {
            // Within one page (a TLB miss, or merely misaligned).
            let bytes = &self
                .memory
                .frame_bytes(super::memory::Frame((phys >> 12) as u32))[offset..];
            let mut value = [0u8; 8];
            value[..size as usize].copy_from_slice(&bytes[..size as usize]);
            return Ok(u64::from_le_bytes(value));
        }
        // Crosses into the next page: byte by byte, translating that page too.
        let mut value = 0u64;
        let mut phys = phys;
        for k in 0..size {
            let a = addr.wrapping_add(k);
            if k > 0 && a & (PAGE_SIZE - 1) == 0 {
                phys = self.translate(a, Access::Read, page_table)?;
            } else if k > 0 {
                phys += 1;
            }
            let frame = super::memory::Frame((phys >> 12) as u32);
            let byte = self.memory.frame_bytes(frame)[(phys & (PAGE_SIZE - 1)) as usize];
            value |= u64::from(byte) << (8 * k);
        }
        Ok(value)
    }

    /// A store that missed the TLB's fast path. Translates every page the
    /// store touches before writing anything, so a fault leaves memory as
    /// it was. Writing a frame with decoded code sets `code_written`.
    #[cold]
    #[inline(never)]
    pub(crate) fn store_slow(
        &mut self,
        addr: u64,
        size: u64,
        value: u64,
        page_table: &mut PageTable,
    ) -> Result<(), Exception> {
        let first = self.translate(addr, Access::Write, page_table)?;
        let last_addr = addr.wrapping_add(size - 1);
        let second = if (last_addr ^ addr) & !(PAGE_SIZE - 1) != 0 {
            Some(self.translate(last_addr & !(PAGE_SIZE - 1), Access::Write, page_table)?)
        } else {
            None
        };
        let bytes = value.to_le_bytes();
        let first_len = match second {
            Some(_) => (PAGE_SIZE - (first & (PAGE_SIZE - 1))) as usize,
            None => size as usize,
        };
        self.write_physical(first, &bytes[..first_len]);
        if let Some(second) = second {
            self.write_physical(second, &bytes[first_len..size as usize]);
        }
        Ok(())
    }

    /// Writes bytes at a physical address within one frame; notes a write
    /// to decoded code.
    fn write_physical(&mut self, phys: u64, bytes: &[u8]) {
        let frame = super::memory::Frame((phys >> 12) as u32);
        if self.memory.holds_code(frame) {
            self.code_written = true;
        }
        let offset = (phys & (PAGE_SIZE - 1)) as usize;
        self.memory.frame_bytes_mut(frame)[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Atomics (A extension): always through the slow path; they are rare.
    /// The address must be naturally aligned (else `Misaligned`).
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn amo(
        &mut self,
        x: *mut u64,
        op: &Op,
        page_table: &mut PageTable,
    ) -> Result<(), Exception> {
        let (amo, width) = AMO_OPS
            .iter()
            .flat_map(|&a| [(a, AmoWidth::Word), (a, AmoWidth::Double)])
            .find(|&(a, w)| amo_pack(a, w) == op.imm)
            .unwrap_or((AmoOp::Lr, AmoWidth::Double));
        let size = match width {
            AmoWidth::Word => 4,
            AmoWidth::Double => 8,
        };
        let addr = *x.add(op.rs1 as usize);
        let src = *x.add(op.rs2 as usize);
        let access = if amo == AmoOp::Lr {
            Access::Read
        } else {
            Access::Write
        };
        if addr % size != 0 {
            return Err(Exception::Misaligned {
                vaddr: addr,
                access,
            });
        }
        let extend = |v: u64| {
            if size == 4 {
                v as u32 as i32 as i64 as u64
            } else {
                v
            }
        };
        match amo {
            AmoOp::Lr => {
                let v = self.load_slow(addr, size, page_table)?;
                self.reservation = Some(self.translate(addr, Access::Read, page_table)?);
                *x.add(op.rd as usize) = extend(v);
            }
            AmoOp::Sc => {
                let phys = self.translate(addr, Access::Write, page_table)?;
                if self.reservation.take() == Some(phys) {
                    self.store_slow(addr, size, src, page_table)?;
                    *x.add(op.rd as usize) = 0;
                } else {
                    *x.add(op.rd as usize) = 1;
                }
            }
            _ => {
                // Check write permission first, so a fault has no effect.
                self.translate(addr, Access::Write, page_table)?;
                let old = extend(self.load_slow(addr, size, page_table)?);
                let src = extend(src);
                let new = match amo {
                    AmoOp::Swap => src,
                    AmoOp::Add => old.wrapping_add(src),
                    AmoOp::Xor => old ^ src,
                    AmoOp::And => old & src,
                    AmoOp::Or => old | src,
                    AmoOp::Min => (old as i64).min(src as i64) as u64,
                    AmoOp::Max => (old as i64).max(src as i64) as u64,
                    AmoOp::Minu => old.min(src),
                    AmoOp::Maxu => old.max(src),
                    AmoOp::Lr | AmoOp::Sc => old,
                };
                self.store_slow(addr, size, new, page_table)?;
                *x.add(op.rd as usize) = old;
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn sext32(v: u32) -> u64 {
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

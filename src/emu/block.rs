//! Basic blocks: decoding the guest's code into ops (op.rs), and the
//! caches that find a block again.
//!
//! `lower` turns one typed `Instruction` into an `Op` that the executor's
//! handlers can run without looking at encodings again: immediates are
//! sign-extended, branch and jump targets are absolute, `addi rd,x0,imm`/
//! `lui` become `Li`, `addi rd,rs,0` becomes `Mv`, and a destination `x0`
//! becomes the write sink `SINK`.
//!
//! A block is the straight-line run of ops starting at one pc: it ends after
//! the first control-flow instruction (branch, jump, ecall, ebreak, illegal
//! encoding), at the end of its page, or at `MAX_BLOCK_OPS`. Under the JIT
//! a forward conditional branch does not end it: it becomes a *side exit*
//! (op.rs, `OpKind::SideBeq`), which leaves the block only when taken,
//! giving back the instructions after it (`decode_block` says why only
//! forward ones, and only under the JIT). Blocks are
//! cached by the physical address of their first byte (the same virtual
//! address is different code in different processes) and remember the
//! frames they were decoded from, so that a write to such a frame drops them.
//!
//! The run loop asks `BlockCache::fetch` for the block at a pc when the jump
//! cache (virtual pc → block) does not have it: `fetch` refuses an odd pc
//! (instruction-address-misaligned), translates the pc through the bus,
//! finds the block by physical address or decodes it (`decode_block`:
//! decode, lower, fuse pairs, mark the frames as code), and remembers it in
//! the jump cache. A 4-byte instruction that straddles a page end is a
//! block of its own, and a fetch fault on its second page is reported at
//! that page.
//!
//! `Lowering` holds the machine's choices that change how code is lowered
//! (selfie's division-by-zero trap); changing them drops every block.
//!
//! ## Pointers into blocks
//!
//! The executor runs ops through raw pointers (from the jump cache, a
//! successor link, or returned by `fetch`). They stay valid because a
//! block's ops are never written after the block is made (but for `fetch`
//! putting compiled code in place of the first handler, right after the
//! block is inserted and before anything can run it, and for the link slot
//! after the terminator), and they live in one allocation owned through a
//! raw pointer (`BlockOps`), which moving the `Block` in the arena does not
//! touch. Blocks are added and removed only by `fetch` and
//! `invalidate_frame`, which the machine calls between runs of handlers,
//! never while one runs. A removal flushes the jump cache, clears the links
//! of every block on the removed block's first page (the only blocks that
//! may link to it: op.rs, `Link`), and unlinks the JIT's direct jumps to
//! the block's code (jit/mod.rs), so nothing holds a pointer to freed ops.
//!
//! ## Successor links and folded constants
//!
//! `decode_block` leaves a link slot after each block's terminator, with
//! the pc after it precomputed; the executor fills in the successor blocks
//! the first time it finds them in the jump cache (exec.rs,
//! `chain_linked`). Before pairs are fused (fuse.rs), `fold_constants`
//! turns each run of ops that builds a constant in one register into one
//! op that writes the final value and skips the rest. Each op records how
//! many instructions are left in its block from it on (`Op::left`), which
//! is how a block is counted and how a fault in its middle un-counts the
//! rest.
//!
//! ## Ownership of the jump cache
//!
//! The jump cache is read by the run loop (`JumpCache::get`) and by the
//! executor's block chaining (exec.rs, `cached`), through a copy of the
//! cache's pointer kept in `Exec`; it is written by `fetch`
//! (`remember_jump`) and flushed by the machine, both between runs of
//! handlers. Its entries are `Entries` (entries.rs), owned through one raw
//! pointer, so those writes never invalidate the executor's copy.

use rustc_hash::FxHashMap as HashMap;

use super::addr::{PhysAddr, VirtAddr};
use super::bus::Bus;
use super::decode;
use super::entries::Entries;
use super::exception::Exception;
use super::exec::handler_for;
use super::fuse::fuse;
use super::instruction::*;
use super::jit::Jit;
use super::memory::{Frame, PAGE_SIZE};
use super::mmu::Access;
use super::op::{
    amo_pack, csr_pack, FpFields, Handler, JumpEntry, Link, Op, OpKind, Slot, DIVISIONS,
    JUMP_CACHE_ENTRIES, SINK,
};

/// Longest block; keeps the timer's overshoot small and the cache compact.
pub const MAX_BLOCK_OPS: usize = 64;

fn dest(rd: Reg) -> u8 {
    if rd.0 == 0 {
        SINK
    } else {
        rd.0
    }
}

/// Choices of the machine that change how instructions are lowered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lowering {
    /// selfie's machine semantics: a division or remainder by zero traps
    /// (`Exception::DivisionByZero`) instead of giving RISC-V's result.
    /// Off by default; when off, divisions cost nothing extra.
    pub trap_division_by_zero: bool,
    /// Compile blocks to host code (jit/, x86-64 hosts only); `--no-jit`
    /// turns it off. On by default where the host has the JIT, unless the
    /// environment variable `SIM_JIT` is `0`: how the test suite runs every
    /// machine under the interpreter alone.
    pub jit: bool,
}

impl Default for Lowering {
    fn default() -> Lowering {
        let off = std::env::var_os("SIM_JIT").is_some_and(|v| v == "0");
        Lowering {
            trap_division_by_zero: false,
            jit: Jit::available() && !off,
        }
    }
}

/// Lowers an instruction at `pc` (offset `offset` in its block) to an op.
/// `bits` is the raw encoding, kept for illegal instructions.
pub(crate) fn lower(
    inst: Option<Instruction>,
    bits: u32,
    pc: u64,
    offset: u16,
    len: u8,
    lowering: Lowering,
) -> Op {
    use OpKind as K;
    let op = |kind, rd: u8, rs1: Reg, rs2: Reg, imm: i64| Op {
        handler: handler_for(kind),
        imm,
        kind,
        rd,
        rs1: rs1.0,
        rs2: rs2.0,
        offset,
        len,
        left: 0,
    };
    let z = Reg::ZERO;
    let Some(inst) = inst else {
        return op(K::Illegal, SINK, z, z, i64::from(bits));
    };
    match inst {
        Instruction::Lui { rd, imm } => op(K::Li, dest(rd), z, z, imm),
        Instruction::Auipc { rd, imm } => {
            op(K::Li, dest(rd), z, z, pc.wrapping_add(imm as u64) as i64)
        }
        Instruction::Jal { rd, offset: o } => {
            op(K::Jal, dest(rd), z, z, pc.wrapping_add(o as u64) as i64)
        }
        Instruction::Jalr { rd, rs1, offset: o } => op(K::Jalr, dest(rd), rs1, z, o),
        Instruction::Branch {
            op: b,
            rs1,
            rs2,
            offset: o,
        } => {
            let kind = match b {
                BranchOp::Beq => K::Beq,
                BranchOp::Bne => K::Bne,
                BranchOp::Blt => K::Blt,
                BranchOp::Bge => K::Bge,
                BranchOp::Bltu => K::Bltu,
                BranchOp::Bgeu => K::Bgeu,
            };
            op(kind, SINK, rs1, rs2, pc.wrapping_add(o as u64) as i64)
        }
        Instruction::Load {
            op: l,
            rd,
            rs1,
            offset: o,
        } => {
            let kind = match l {
                LoadOp::Lb => K::Lb,
                LoadOp::Lh => K::Lh,
                LoadOp::Lw => K::Lw,
                LoadOp::Ld => K::Ld,
                LoadOp::Lbu => K::Lbu,
                LoadOp::Lhu => K::Lhu,
                LoadOp::Lwu => K::Lwu,
            };
            op(kind, dest(rd), rs1, z, o)
        }
        Instruction::Store {
            op: s,
            rs1,
            rs2,
            offset: o,
        } => {
            let kind = match s {
                StoreOp::Sb => K::Sb,
                StoreOp::Sh => K::Sh,
                StoreOp::Sw => K::Sw,
                StoreOp::Sd => K::Sd,
            };
            op(kind, SINK, rs1, rs2, o)
        }
        Instruction::OpImm {
            op: i,
            rd,
            rs1,
            imm,
        } => {
            if rd.0 == 0 {
                return op(K::Nop, SINK, z, z, 0);
            }
            let kind = match i {
                ImmOp::Addi if rs1.0 == 0 => K::Li,
                ImmOp::Addi if imm == 0 => K::Mv,
                ImmOp::Addi => K::Addi,
                ImmOp::Slti => K::Slti,
                ImmOp::Sltiu => K::Sltiu,
                ImmOp::Xori => K::Xori,
                ImmOp::Ori => K::Ori,
                ImmOp::Andi => K::Andi,
                ImmOp::Slli => K::Slli,
                ImmOp::Srli => K::Srli,
                ImmOp::Srai => K::Srai,
                ImmOp::Addiw => K::Addiw,
                ImmOp::Slliw => K::Slliw,
                ImmOp::Srliw => K::Srliw,
                ImmOp::Sraiw => K::Sraiw,
                ImmOp::SlliUw => K::SlliUw,
                ImmOp::Rori => K::Rori,
                ImmOp::Roriw => K::Roriw,
                ImmOp::Bclri => K::Bclri,
                ImmOp::Bexti => K::Bexti,
                ImmOp::Binvi => K::Binvi,
                ImmOp::Bseti => K::Bseti,
            };
            op(kind, rd.0, rs1, z, imm)
        }
        Instruction::Op {
            op: r,
            rd,
            rs1,
            rs2,
        } => {
            if rd.0 == 0 {
                return op(K::Nop, SINK, z, z, 0);
            }
            let kind = match r {
                RegOp::Add if rs1.0 == 0 => return op(K::Mv, rd.0, rs2, z, 0),
                RegOp::Add if rs2.0 == 0 => return op(K::Mv, rd.0, rs1, z, 0),
                RegOp::Add => K::Add,
                RegOp::Sub => K::Sub,
                RegOp::Sll => K::Sll,
                RegOp::Slt => K::Slt,
                RegOp::Sltu => K::Sltu,
                RegOp::Xor => K::Xor,
                RegOp::Srl => K::Srl,
                RegOp::Sra => K::Sra,
                RegOp::Or => K::Or,
                RegOp::And => K::And,
                RegOp::Mul => K::Mul,
                RegOp::Mulh => K::Mulh,
                RegOp::Mulhsu => K::Mulhsu,
                RegOp::Mulhu => K::Mulhu,
                RegOp::Div => K::Div,
                RegOp::Divu => K::Divu,
                RegOp::Rem => K::Rem,
                RegOp::Remu => K::Remu,
                RegOp::Addw => K::Addw,
                RegOp::Subw => K::Subw,
                RegOp::Sllw => K::Sllw,
                RegOp::Srlw => K::Srlw,
                RegOp::Sraw => K::Sraw,
                RegOp::Mulw => K::Mulw,
                RegOp::Divw => K::Divw,
                RegOp::Divuw => K::Divuw,
                RegOp::Remw => K::Remw,
                RegOp::Remuw => K::Remuw,
                RegOp::Sh1add => K::Sh1add,
                RegOp::Sh2add => K::Sh2add,
                RegOp::Sh3add => K::Sh3add,
                RegOp::AddUw => K::AddUw,
                RegOp::Sh1addUw => K::Sh1addUw,
                RegOp::Sh2addUw => K::Sh2addUw,
                RegOp::Sh3addUw => K::Sh3addUw,
                RegOp::Andn => K::Andn,
                RegOp::Orn => K::Orn,
                RegOp::Xnor => K::Xnor,
                RegOp::Max => K::Max,
                RegOp::Maxu => K::Maxu,
                RegOp::Min => K::Min,
                RegOp::Minu => K::Minu,
                RegOp::Rol => K::Rol,
                RegOp::Ror => K::Ror,
                RegOp::Rolw => K::Rolw,
                RegOp::Rorw => K::Rorw,
                RegOp::Bclr => K::Bclr,
                RegOp::Bext => K::Bext,
                RegOp::Binv => K::Binv,
                RegOp::Bset => K::Bset,
            };
            // With selfie's semantics a division by zero traps: only then
            // does a division get the op that checks its divisor.
            if let Some(index) = DIVISIONS.iter().position(|&d| d == kind) {
                if lowering.trap_division_by_zero {
                    return op(K::DivTrap, rd.0, rs1, rs2, index as i64);
                }
            }
            op(kind, rd.0, rs1, rs2, 0)
        }
        Instruction::Unary { op: u, rd, rs1 } => {
            if rd.0 == 0 {
                return op(K::Nop, SINK, z, z, 0);
            }
            let kind = match u {
                UnaryOp::Clz => K::Clz,
                UnaryOp::Ctz => K::Ctz,
                UnaryOp::Cpop => K::Cpop,
                UnaryOp::Clzw => K::Clzw,
                UnaryOp::Ctzw => K::Ctzw,
                UnaryOp::Cpopw => K::Cpopw,
                UnaryOp::SextB => K::SextB,
                UnaryOp::SextH => K::SextH,
                UnaryOp::ZextH => K::ZextH,
                UnaryOp::OrcB => K::OrcB,
                UnaryOp::Rev8 => K::Rev8,
            };
            op(kind, rd.0, rs1, z, 0)
        }
        Instruction::Fence => op(K::Nop, SINK, z, z, 0),
        Instruction::Ecall => op(K::Ecall, SINK, z, z, 0),
        Instruction::Ebreak => op(K::Ebreak, SINK, z, z, 0),
        Instruction::Csr {
            op: c,
            rd,
            rs1,
            csr,
        } => {
            // Only reads of the counters exist here (Zicntr): csrrs/csrrc with
            // x0 (or uimm 0) as the source do not write the CSR. Everything
            // else, including writes to the read-only counters, is illegal.
            let read_only = matches!(
                c,
                CsrOp::Csrrs | CsrOp::Csrrc | CsrOp::Csrrsi | CsrOp::Csrrci
            ) && rs1.0 == 0;
            if matches!(csr, CSR_FFLAGS | CSR_FRM | CSR_FCSR) {
                // The floating-point CSRs are read and written (F, 11.2).
                let immediate = matches!(c, CsrOp::Csrrwi | CsrOp::Csrrsi | CsrOp::Csrrci);
                let (source, uimm) = if immediate { (z, rs1.0) } else { (rs1, 0) };
                op(K::CsrFp, dest(rd), source, z, csr_pack(c, csr, uimm))
            } else if read_only && matches!(csr, CSR_CYCLE | CSR_TIME | CSR_INSTRET) {
                op(K::CsrRead, dest(rd), z, z, i64::from(csr))
            } else {
                op(K::Illegal, SINK, z, z, i64::from(bits))
            }
        }
        Instruction::Amo {
            op: a,
            width,
            rd,
            rs1,
            rs2,
            ..
        } => op(K::Amo, dest(rd), rs1, rs2, amo_pack(a, width)),
        _ => lower_fp(inst, bits, offset, len),
    }
}

/// Lowers a floating-point instruction (F and D). Floating-point register
/// numbers go into the op as they are (`f0` is a register like any other);
/// an integer destination `x0` becomes the sink as everywhere.
fn lower_fp(inst: Instruction, bits: u32, offset: u16, len: u8) -> Op {
    use Instruction as I;
    use OpKind as K;
    let op = |kind, rd: u8, rs1: u8, rs2: u8, imm: i64| Op {
        handler: handler_for(kind),
        imm,
        kind,
        rd,
        rs1,
        rs2,
        offset,
        len,
        left: 0,
    };
    let fields = |rm: Option<Rm>, rs3: u8, sub: u8| {
        FpFields {
            rm: rm.map_or(0, |rm| rm.bits() as u8),
            rs3,
            sub,
            bits,
        }
        .pack()
    };
    let by_width = |width: FpWidth, single: OpKind, double: OpKind| match width {
        FpWidth::Single => single,
        FpWidth::Double => double,
    };
    match inst {
        I::FpLoad {
            width,
            rd,
            rs1,
            offset: o,
        } => op(by_width(width, K::Flw, K::Fld), rd.0, rs1.0, 0, o),
        I::FpStore {
            width,
            rs1,
            rs2,
            offset: o,
        } => op(by_width(width, K::Fsw, K::Fsd), SINK, rs1.0, rs2.0, o),
        I::FpArith {
            op: a,
            width,
            rd,
            rs1,
            rs2,
            rm,
        } => {
            let kind = match a {
                FpArithOp::Add => by_width(width, K::FaddS, K::FaddD),
                FpArithOp::Sub => by_width(width, K::FsubS, K::FsubD),
                FpArithOp::Mul => by_width(width, K::FmulS, K::FmulD),
                FpArithOp::Div => by_width(width, K::FdivS, K::FdivD),
            };
            op(kind, rd.0, rs1.0, rs2.0, fields(Some(rm), 0, 0))
        }
        I::FpSqrt { width, rd, rs1, rm } => op(
            by_width(width, K::FsqrtS, K::FsqrtD),
            rd.0,
            rs1.0,
            0,
            fields(Some(rm), 0, 0),
        ),
        I::FpSign {
            op: s,
            width,
            rd,
            rs1,
            rs2,
        } => op(
            by_width(width, K::FsgnjS, K::FsgnjD),
            rd.0,
            rs1.0,
            rs2.0,
            fields(None, 0, s as u8),
        ),
        I::FpMinMax {
            max,
            width,
            rd,
            rs1,
            rs2,
        } => op(
            by_width(width, K::FminmaxS, K::FminmaxD),
            rd.0,
            rs1.0,
            rs2.0,
            fields(None, 0, u8::from(max)),
        ),
        I::FpConvert { width, rd, rs1, rm } => op(
            by_width(width, K::FcvtSD, K::FcvtDS),
            rd.0,
            rs1.0,
            0,
            fields(Some(rm), 0, 0),
        ),
        I::FpCompare {
            op: c,
            width,
            rd,
            rs1,
            rs2,
        } => op(
            by_width(width, K::FcmpS, K::FcmpD),
            dest(rd),
            rs1.0,
            rs2.0,
            fields(None, 0, c as u8),
        ),
        I::FpClass { width, rd, rs1 } => op(
            by_width(width, K::FclassS, K::FclassD),
            dest(rd),
            rs1.0,
            0,
            0,
        ),
        I::FpMoveToInt { width, rd, rs1 } => {
            op(by_width(width, K::FmvXW, K::FmvXD), dest(rd), rs1.0, 0, 0)
        }
        I::FpMoveFromInt { width, rd, rs1 } => {
            op(by_width(width, K::FmvWX, K::FmvDX), rd.0, rs1.0, 0, 0)
        }
        I::FpToInt {
            int,
            width,
            rd,
            rs1,
            rm,
        } => op(
            by_width(width, K::FcvtToIntS, K::FcvtToIntD),
            dest(rd),
            rs1.0,
            0,
            fields(Some(rm), 0, int as u8),
        ),
        I::IntToFp {
            int,
            width,
            rd,
            rs1,
            rm,
        } => op(
            by_width(width, K::FcvtFromIntS, K::FcvtFromIntD),
            rd.0,
            rs1.0,
            0,
            fields(Some(rm), 0, int as u8),
        ),
        I::FpFused {
            op: f,
            width,
            rd,
            rs1,
            rs2,
            rs3,
            rm,
        } => op(
            by_width(width, K::FusedS, K::FusedD),
            rd.0,
            rs1.0,
            rs2.0,
            fields(Some(rm), rs3.0, f as u8),
        ),
        // Every other instruction is lowered by `lower`.
        _ => op(K::Illegal, SINK, 0, 0, i64::from(bits)),
    }
}

/// A decoded block.
struct Block {
    /// Virtual address of the first instruction.
    pc: u64,
    /// Physical address of the first instruction.
    phys: u64,
    /// The ops; the last one is a terminator, followed by its link slot.
    /// Never written after the block is made but for that slot (see
    /// "Pointers into blocks" in the module doc).
    ops: BlockOps,
    /// Frames the block's bytes came from (two if an instruction straddles).
    frames: [Frame; 2],
    /// Guest instructions in the block (ops less a final `Fallthrough`).
    instructions: u64,
}

/// The op that ends a block without control flow at byte `offset`.
fn fallthrough(offset: u16) -> Op {
    Op {
        handler: handler_for(OpKind::Fallthrough),
        imm: 0,
        kind: OpKind::Fallthrough,
        rd: SINK,
        rs1: 0,
        rs2: 0,
        offset,
        len: 0,
        left: 0,
    }
}

/// A block's ops followed by the link slot of its terminator (op.rs,
/// `Link`), owned through one raw pointer as the caches' entries are
/// (entries.rs, for the same reason): the executor runs the ops through
/// copies of that pointer, and writes the link slot through them while
/// it runs, while the `Block` that owns them moves in the arena.
struct BlockOps {
    /// From `Box::into_raw` of `len + 1` slots: `len` ops, then the link.
    ptr: *mut Slot,
    /// Ops, the link slot not counted.
    len: usize,
}

impl BlockOps {
    /// `ops` (ending in a terminator) and an empty link slot whose
    /// fall-through pc is `next_pc`.
    fn new(ops: &[Op], next_pc: u64) -> BlockOps {
        let slots: Box<[Slot]> = ops
            .iter()
            .map(|&op| Slot { op })
            .chain(std::iter::once(Slot {
                link: Link::unlinked(next_pc),
            }))
            .collect();
        BlockOps {
            ptr: Box::into_raw(slots).cast::<Slot>(),
            len: ops.len(),
        }
    }

    /// The first op, for the executor (a copy of the owning pointer, so it
    /// may write the link slot; `Slot` is `repr(C)`, its op at offset 0).
    fn as_ptr(&self) -> *const Op {
        self.ptr.cast::<Op>().cast_const()
    }

    /// The ops, to compile them (between runs of handlers).
    fn ops(&self) -> &[Op] {
        // SAFETY: the first `len` slots were made from ops and only their
        // first op's handler is ever changed (`set_first_handler`), to
        // another handler; no handler runs while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<Op>().cast_const(), self.len) }
    }

    /// Puts compiled code in place of the first op's handler.
    fn set_first_handler(&mut self, handler: Handler) {
        // SAFETY: slot 0 is an op (every block has one); `&mut self` and
        // "between runs of handlers" mean nothing reads it meanwhile.
        unsafe { (*self.ptr).op.handler = handler }
    }

    /// Forgets the successors the executor linked.
    fn unlink(&mut self) {
        // SAFETY: slot `len` is the link slot; as in `set_first_handler`.
        unsafe {
            let link = &mut (*self.ptr.add(self.len)).link;
            link.target = std::ptr::null();
            link.next = std::ptr::null();
        }
    }
}

impl Drop for BlockOps {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len + 1` are those `new` got from
        // `Box::into_raw`, freed only here; the block cache flushes every
        // copy of the pointer (jump cache, links) when it drops a block.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr,
                self.len + 1,
            )))
        }
    }
}

/// The pc after a block's terminator: `Link::next_pc` of the block at `pc`.
fn next_pc(pc: u64, ops: &[Op]) -> u64 {
    let last = ops[ops.len() - 1];
    pc.wrapping_add(u64::from(last.offset) + u64::from(last.len))
}

/// The first `cap` ops of the block `ops` (which has more instructions
/// than that), as the block a budget of `cap` instructions runs (what
/// `decode_block` would make with that cap): each with its own
/// interpreter handler (a fused handler may run ops past the cut, and
/// the first op's may be compiled code), counted anew, and a
/// `Fallthrough` after them. `None` where a folded constant's run crosses
/// the cut (its `LiSkip` writes the run's final value at once).
fn cut_prefix(ops: &[Op], cap: usize) -> Option<Vec<Op>> {
    let next = ops.get(cap)?;
    let mut cut = Vec::with_capacity(cap + 1);
    for (i, op) in ops[..cap].iter().enumerate() {
        if op.kind == OpKind::LiSkip && i + usize::from(op.rs2) >= cap {
            return None;
        }
        cut.push(Op {
            handler: handler_for(op.kind),
            // At most `MAX_BLOCK_OPS`: fits.
            left: (cap - i) as u8,
            ..*op
        });
    }
    cut.push(fallthrough(next.offset));
    Some(cut)
}

/// Guest instructions in a decoded op sequence.
fn instruction_count(ops: &[Op]) -> u64 {
    let fallthrough = ops.last().is_some_and(|op| op.kind == OpKind::Fallthrough);
    ops.len() as u64 - u64::from(fallthrough)
}

/// The jump cache: direct-mapped from virtual pc to block.
pub(crate) struct JumpCache {
    /// Owned through one raw pointer, which the executor copies (entries.rs).
    entries: Entries<JumpEntry, JUMP_CACHE_ENTRIES>,
}

impl JumpCache {
    pub fn new() -> JumpCache {
        JumpCache {
            entries: Entries::new(JumpEntry::EMPTY),
        }
    }

    /// The owning pointer, for the executor's block chaining. The machine
    /// swaps whole jump caches between contexts, so the run loop takes a
    /// fresh copy after every switch of caches.
    pub fn as_ptr(&self) -> *const JumpEntry {
        self.entries.as_ptr()
    }

    /// The entry for virtual `pc` (which may be another pc's).
    #[inline(always)]
    pub fn get(&self, pc: u64) -> JumpEntry {
        self.entries.get(JumpEntry::index(pc))
    }

    fn set(&mut self, entry: JumpEntry) {
        *self.entries.get_mut(JumpEntry::index(entry.pc)) = entry;
    }

    pub fn flush(&mut self) {
        self.entries.reset(JumpEntry::EMPTY);
    }
}

/// The block cache: blocks in an arena, found by physical address, and a
/// direct-mapped jump cache from virtual pc to block that is flushed with
/// the TLB.
pub(crate) struct BlockCache {
    blocks: Vec<Option<Block>>,
    free_slots: Vec<u32>,
    by_phys: HashMap<u64, u32>,
    by_frame: HashMap<Frame, Vec<u32>>,
    /// Holds raw pointers into live blocks' ops, so it is flushed whenever
    /// any block is removed.
    pub jump_cache: JumpCache,
    /// Blocks removed so far: a jump cache set aside before the last
    /// removal may point into freed ops (see `Machine::switch_caches`).
    pub removals: u64,
    /// Reused buffer for decoding.
    scratch: Vec<Op>,
    /// The last block cut short by the instruction budget, run once from
    /// here (never cached).
    cut: Option<BlockOps>,
    /// How instructions are lowered (the machine's options).
    lowering: Lowering,
    /// The JIT tier, when `lowering.jit` (jit/).
    jit: Option<Jit>,
}

impl BlockCache {
    pub fn new() -> BlockCache {
        BlockCache {
            blocks: Vec::new(),
            free_slots: Vec::new(),
            by_phys: HashMap::default(),
            by_frame: HashMap::default(),
            jump_cache: JumpCache::new(),
            removals: 0,
            scratch: Vec::with_capacity(MAX_BLOCK_OPS + 1),
            cut: None,
            lowering: Lowering::default(),
            jit: Lowering::default().jit.then(Jit::new),
        }
    }

    /// Changes how instructions are lowered: drops every block decoded the
    /// old way.
    pub fn set_lowering(&mut self, lowering: Lowering) {
        if lowering != self.lowering {
            self.lowering = lowering;
            self.remove_all();
            // The old code goes with the old JIT, now that no block points
            // to it.
            self.jit = (lowering.jit && Jit::available()).then(Jit::new);
        }
    }

    /// Finds or decodes the block at `pc` when the jump cache missed. When
    /// fewer than a whole block's instructions remain in the budget, decodes
    /// just those into the scratch buffer, so that the timer fires at an
    /// exact count. Returns the ops and the number of instructions; the ops
    /// stay valid until the next call that changes the cache (`fetch`,
    /// `invalidate_frame`).
    #[cold]
    #[inline(never)]
    pub fn fetch(
        &mut self,
        bus: &mut Bus,
        pc: u64,
        remaining: u64,
    ) -> Result<(*const Op, u64), Exception> {
        // Instructions are 2-byte aligned (C extension: IALIGN = 16): an
        // odd pc is an instruction-address-misaligned fault, never a fetch.
        // Only here, off the hot path: no block, and so no jump-cache
        // entry, ever has an odd pc.
        if pc & 1 != 0 {
            return Err(Exception::Misaligned {
                vaddr: pc,
                access: Access::Execute,
            });
        }
        let phys = bus.translate(pc, Access::Execute)?;
        let cap = remaining.min(MAX_BLOCK_OPS as u64) as usize;
        if let Some(index) = self.find(phys, pc) {
            let len = self.blocks[index as usize]
                .as_ref()
                .map_or(0, |b| b.instructions);
            if len <= remaining {
                return Ok(self.remember_jump(pc, index));
            }
            // Cut short by the budget (once a time slice, at its end): the
            // block's first `cap` ops, if they come apart there, rather
            // than decoding them again.
            let block = self.blocks[index as usize].as_ref();
            if let Some(cut) = block.and_then(|b| cut_prefix(b.ops.ops(), cap)) {
                let count = instruction_count(&cut);
                let cut = self.cut.insert(BlockOps::new(&cut, next_pc(pc, &cut)));
                return Ok((cut.as_ptr(), count));
            }
        }
        let mut ops = std::mem::take(&mut self.scratch);
        ops.clear();
        let decoded = decode_block(bus, pc, phys, cap, self.lowering, &mut ops);
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
        let ends_without_control_flow = ops[ops.len() - 1].kind == OpKind::Fallthrough;
        if cap < MAX_BLOCK_OPS && ends_without_control_flow && instruction_count(&ops) == cap as u64
        {
            // Cut short by the budget: run once, never cached.
            let count = instruction_count(&ops);
            let cut = self.cut.insert(BlockOps::new(&ops, next_pc(pc, &ops)));
            self.scratch = ops;
            return Ok((cut.as_ptr(), count));
        }
        if self.jit.as_ref().is_some_and(Jit::wants_reset) {
            // Mostly dead code: start code memory afresh (every block is
            // decoded and compiled again when next run).
            self.remove_all();
            if let Some(jit) = &mut self.jit {
                jit.reset();
            }
        }
        let instructions = instruction_count(&ops);
        let block = Block {
            pc,
            phys,
            ops: BlockOps::new(&ops, next_pc(pc, &ops)),
            frames,
            instructions,
        };
        self.scratch = ops;
        let index = self.insert(block);
        if let (Some(jit), Some(block)) = (&mut self.jit, &mut self.blocks[index as usize]) {
            // Compiled code takes the place of the first op's handler: the
            // run loop and chaining enter it as they enter any block. It is
            // compiled for the ops where they stay (its exits point into
            // them), once a block replaced at this address is forgotten,
            // and set before anything runs the block.
            if let Some(code) = jit.compile(block.ops.ops(), pc, phys) {
                block.ops.set_first_handler(code);
            }
        }
        Ok(self.remember_jump(pc, index))
    }

    /// Remembers block `index` as the one for virtual `pc`.
    fn remember_jump(&mut self, pc: u64, index: u32) -> (*const Op, u64) {
        let Some(block) = &self.blocks[index as usize] else {
            return (std::ptr::null(), 0);
        };
        let entry = JumpEntry {
            pc,
            ops: block.ops.as_ptr(),
            count: block.instructions,
        };
        self.jump_cache.set(entry);
        (entry.ops, entry.count)
    }

    /// The cached block for physical address `phys` decoded at virtual `pc`.
    fn find(&self, phys: u64, pc: u64) -> Option<u32> {
        let index = *self.by_phys.get(&phys)?;
        match &self.blocks[index as usize] {
            Some(block) if block.pc == pc => Some(index),
            _ => None,
        }
    }

    /// Adds a block (replacing one at the same physical address).
    fn insert(&mut self, block: Block) -> u32 {
        if let Some(old) = self.by_phys.get(&block.phys).copied() {
            self.remove(old);
        }
        let frames = block.frames;
        let phys = block.phys;
        let index = match self.free_slots.pop() {
            Some(slot) => {
                self.blocks[slot as usize] = Some(block);
                slot
            }
            None => {
                self.blocks.push(Some(block));
                (self.blocks.len() - 1) as u32
            }
        };
        self.by_phys.insert(phys, index);
        self.by_frame.entry(frames[0]).or_default().push(index);
        if frames[1] != frames[0] {
            self.by_frame.entry(frames[1]).or_default().push(index);
        }
        index
    }

    fn remove(&mut self, index: u32) {
        if let Some(block) = self.blocks[index as usize].take() {
            self.removals += 1;
            // The jump cache may point into this block's ops, compiled
            // blocks may jump to its code.
            self.jump_cache.flush();
            if let Some(jit) = &mut self.jit {
                jit.forget(block.phys, block.pc);
            }
            if self.by_phys.get(&block.phys) == Some(&index) {
                self.by_phys.remove(&block.phys);
            }
            self.free_slots.push(index);
            // The blocks that may link to it are those of its first page
            // (op.rs, `Link`): they forget all their links. (When a whole
            // frame goes, `invalidate_frame` has taken its list already.)
            for &other in self.by_frame.get(&block.frames[0]).into_iter().flatten() {
                if let Some(other) = &mut self.blocks[other as usize] {
                    other.ops.unlink();
                }
            }
        }
    }

    /// Drops every block.
    fn remove_all(&mut self) {
        let live: Vec<u32> = self.by_phys.values().copied().collect();
        self.by_frame.clear();
        for index in live {
            self.remove(index);
        }
        self.jump_cache.flush();
    }

    /// Drops every block decoded from `frame`.
    pub fn invalidate_frame(&mut self, frame: Frame) {
        if let Some(list) = self.by_frame.remove(&frame) {
            for index in list {
                self.remove(index);
            }
        }
    }

    /// Direct jumps between compiled blocks linked now (`Jit::linked`).
    pub fn linked_jumps(&self) -> usize {
        self.jit.as_ref().map_or(0, Jit::linked)
    }

    /// Wrong guesses of loads' TLB addends (`Jit::wrong_guesses`).
    pub fn wrong_guesses(&self) -> u64 {
        self.jit.as_ref().map_or(0, Jit::wrong_guesses)
    }

    /// Blocks compiled by the JIT tier so far.
    pub fn compiled(&self) -> u64 {
        self.jit.as_ref().map_or(0, |jit| jit.compiled)
    }

    /// Number of live blocks.
    pub fn len(&self) -> usize {
        self.by_phys.len()
    }
}

/// Folds each run of ops that builds a constant in one register (`li t,
/// c; addiw t, t, k; slli t, t, s; addi t, t, k; ...`: how compilers, C\*'s
/// among them, materialise a 64-bit constant) into one `LiSkip` of the
/// final value followed by `Nop`s, which it skips.
///
/// The guest cannot tell: the ops of a run only write `t`, none reads
/// anything but `t`, and none can fault, so no exception inside a run
/// shows the values in between, and a run never spans two blocks, whose
/// boundaries are the only other points where the machine stops (the
/// timer, the budget, a single step, which decodes one instruction alone).
/// Each op still counts as one instruction and keeps its pc.
fn fold_constants(ops: &mut [Op]) {
    let mut i = 0;
    while i < ops.len() {
        let head = ops[i];
        if head.kind != OpKind::Li || head.rd == SINK {
            i += 1;
            continue;
        }
        let mut value = head.imm as u64;
        let mut end = i + 1;
        // At most `u8::MAX` ops skipped (blocks are far shorter anyway).
        while end < ops.len() && end - i <= usize::from(u8::MAX) {
            match constant_step(&ops[end], head.rd, value) {
                Some(next) => value = next,
                None => break,
            }
            end += 1;
        }
        if end - i >= 2 {
            ops[i] = Op {
                handler: handler_for(OpKind::LiSkip),
                kind: OpKind::LiSkip,
                imm: value as i64,
                rs2: (end - i - 1) as u8,
                ..head
            };
            for op in &mut ops[i + 1..end] {
                *op = Op {
                    handler: handler_for(OpKind::Nop),
                    kind: OpKind::Nop,
                    imm: 0,
                    rd: SINK,
                    rs1: 0,
                    rs2: 0,
                    ..*op
                };
            }
        }
        i = end;
    }
}

/// The value of register `t` after `op`, if `op` only reads and writes
/// `t` (holding `value`) with an immediate: one step of a constant being
/// built (the same arithmetic as exec.rs's handlers).
fn constant_step(op: &Op, t: u8, value: u64) -> Option<u64> {
    use OpKind as K;
    if op.rd != t || op.rs1 != t {
        return None;
    }
    let imm = op.imm;
    Some(match op.kind {
        K::Addi => value.wrapping_add(imm as u64),
        K::Addiw => i64::from(value.wrapping_add(imm as u64) as i32) as u64,
        K::Slli => value << (imm & 63),
        K::Srli => value >> (imm & 63),
        K::Srai => ((value as i64) >> (imm & 63)) as u64,
        K::Xori => value ^ imm as u64,
        K::Ori => value | imm as u64,
        K::Andi => value & imm as u64,
        _ => return None,
    })
}

/// Instructions `jumps_back_soon` looks at, at most, before the `j`.
const JUMP_BACK_WITHIN: usize = 8;

/// The instruction at byte `offset` of a frame's `bytes` (its first four
/// bytes, or two for a compressed one) and its length, if those bytes lie
/// within the frame (a 4-byte one may straddle into the next).
fn word_at(bytes: &[u8], offset: usize) -> Option<(u32, u64)> {
    let &[b0, b1] = bytes.get(offset..offset + 2)? else {
        return None;
    };
    let low = u16::from_le_bytes([b0, b1]);
    let len = decode::length(low);
    if len == 2 {
        return Some((u32::from(low), len));
    }
    let &[_, _, b2, b3] = bytes.get(offset..offset + 4)? else {
        return None;
    };
    Some((u32::from_le_bytes([b0, b1, b2, b3]), len))
}

/// Whether the instructions from `at` on (in `bytes`, the frame of the
/// block at `start`, whose page ends at `page_end`) reach a `jal` back to
/// `start` within `JUMP_BACK_WITHIN`, with nothing between that could
/// leave the block (a branch, a jump, a system instruction).
fn jumps_back_soon(bytes: &[u8], at: u64, start: u64, page_end: u64, lowering: Lowering) -> bool {
    let mut at = at;
    for _ in 0..=JUMP_BACK_WITHIN {
        if at >= page_end {
            return false;
        }
        let Some((word, len)) = word_at(bytes, VirtAddr(at).offset()) else {
            return false;
        };
        let inst = decode::decode(word).map(|(i, _)| i);
        let op = lower(inst, word, at, 0, len as u8, lowering);
        if op.kind == OpKind::Jal {
            return op.imm as u64 == start && op.rd == SINK;
        }
        if op.kind.is_terminator() || op.kind.side_exit().is_some() {
            return false;
        }
        at = at.wrapping_add(len);
    }
    false
}

/// Decodes up to `cap` instructions starting at `pc` (physical `phys`)
/// into `ops`, ending with a terminator, and fuses pairs (fuse.rs). Marks
/// the frames read as holding code and returns them.
fn decode_block(
    bus: &mut Bus,
    pc: u64,
    phys: u64,
    cap: usize,
    lowering: Lowering,
    ops: &mut Vec<Op>,
) -> Result<[Frame; 2], Exception> {
    let frame = PhysAddr(phys).frame();
    let mut frames = [frame, frame];
    let page_end = (pc | (PAGE_SIZE - 1)).wrapping_add(1);
    let mut at = pc;
    while ops.len() < cap {
        let offset_in_page = VirtAddr(at).offset();
        let bytes = bus.memory.frame_bytes(frame);
        let (word, len) = match word_at(bytes, offset_in_page) {
            Some(found) => found,
            None if ops.is_empty() => {
                // A 4-byte instruction straddling two pages (pcs are even,
                // so its low half is in this one): a block of its own.
                let low = u16::from_le_bytes([bytes[offset_in_page], bytes[offset_in_page + 1]]);
                let next_phys = bus.translate(page_end, Access::Execute)?;
                let next = PhysAddr(next_phys).frame();
                frames[1] = next;
                let high = bus.memory.frame_bytes(next);
                let word =
                    u32::from(low) | (u32::from(u16::from_le_bytes([high[0], high[1]])) << 16);
                (word, decode::length(low))
            }
            None => break,
        };
        let inst = decode::decode(word).map(|(i, _)| i);
        let mut op = lower(inst, word, at, (at - pc) as u16, len as u8, lowering);
        let op_pc = at;
        at = at.wrapping_add(len);
        // After an instruction that straddles the page end, `at` is past
        // `page_end`: the block ends there too (the bytes that follow
        // are on the next page, not in `frame`).
        let reached_page_end = at.wrapping_sub(pc) >= page_end.wrapping_sub(pc);
        // Under the JIT, a forward branch does not end the block: it most
        // likely falls through (the static guess hardware makes: backward
        // branches close loops, forward ones skip what is rarely run), so
        // the block goes on past it, as a side exit (op.rs,
        // `OpKind::SideBeq`), and compiled code keeps its registers in
        // host registers across it. Backward branches end the block, so a
        // loop is a block that jumps back to its own start. (The
        // interpreter alone keeps the short blocks: it takes a side exit
        // through the jump cache, as it has no link slot for one, which
        // costs it more than the longer block saves.) Whatever the cap:
        // a block cut by the budget right after a side exit ends in a
        // `Fallthrough`, as every cut block does, and is not cached
        // (`BlockCache::fetch`).
        // One kind of backward branch goes on too: one that a `j` back to
        // the block's start follows closely (a loop whose body ends in a
        // branch to code elsewhere that comes back, gcc's rotated loops
        // with an `if` at the bottom): the block then is a loop of one
        // block through that `j`, which compiled code goes round without
        // writing its registers back.
        if let Some(side) = op.kind.side_exit() {
            let target = op.imm as u64;
            let forward = target > op_pc;
            let closes_loop = !forward
                && target != pc
                && jumps_back_soon(bus.memory.frame_bytes(frame), at, pc, page_end, lowering);
            if (forward || closes_loop) && !reached_page_end && lowering.jit {
                op.kind = side;
                op.handler = handler_for(side);
            }
        }
        ops.push(op);
        if op.kind.is_terminator() || reached_page_end {
            break;
        }
    }
    if !ops[ops.len() - 1].kind.is_terminator() {
        ops.push(fallthrough((at - pc) as u16));
    }
    fold_constants(ops);
    fuse(ops);
    let count = instruction_count(ops);
    for (i, op) in ops.iter_mut().enumerate() {
        if op.kind != OpKind::Fallthrough {
            // At most `MAX_BLOCK_OPS`: fits.
            op.left = (count - i as u64) as u8;
        }
    }
    for f in frames {
        bus.mark_code(f);
    }
    Ok(frames)
}

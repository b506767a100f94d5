//! Pre-decoded basic blocks: the executor's form of the guest's code.
//!
//! `lower` turns one typed `Instruction` into a compact 24-byte `Op` that
//! the executor's handlers can run without looking at encodings again:
//! immediates are sign-extended, branch and jump targets are absolute,
//! `addi rd,x0,imm`/`lui` become `Li`, `addi rd,rs,0` becomes `Mv`, and a
//! destination register `x0` is replaced by the write sink `x32`, so the hot
//! path never checks for `x0` (`Hart::regs` has 33 slots; slot 0 is never
//! written and stays zero).
//!
//! A block is the straight-line run of ops starting at one pc: it ends after
//! the first control-flow instruction (branch, jump, ecall, ebreak, illegal
//! encoding), at the end of its page, or at `MAX_BLOCK_OPS`. Blocks are
//! cached by the physical address of their first byte (the same virtual
//! address is different code in different processes) and remember the
//! frames they were decoded from, so that a write to such a frame drops them.

use std::collections::HashMap;

use super::exec::{handler_for, Handler};
use super::instruction::*;
use super::memory::Frame;

/// Index of the write sink register: destination `x0` is redirected here.
pub const SINK: u8 = 32;

/// Longest block; keeps the timer's overshoot small and the cache compact.
pub const MAX_BLOCK_OPS: usize = 64;

/// What an op does. Terminators (they set the pc and end the block) are
/// the ones from `Beq` on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum OpKind {
    Li,
    Mv,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Addiw,
    Slliw,
    Srliw,
    Sraiw,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    Addw,
    Subw,
    Sllw,
    Srlw,
    Sraw,
    Mulw,
    Divw,
    Divuw,
    Remw,
    Remuw,
    Lb,
    Lh,
    Lw,
    Ld,
    Lbu,
    Lhu,
    Lwu,
    Sb,
    Sh,
    Sw,
    Sd,
    /// Reads a counter CSR; `imm` is the CSR number.
    CsrRead,
    /// An atomic; `imm` packs `AmoOp` and width (see `lower`).
    Amo,
    Nop,
    // Terminators.
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Jal,
    Jalr,
    Ecall,
    Ebreak,
    /// `imm` holds the instruction bits.
    Illegal,
    /// End of a block that did not end in control flow: continue at the next pc.
    Fallthrough,
}

/// One pre-decoded instruction.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Op {
    /// The executor's function for this op (exec.rs), chosen from `kind`.
    pub handler: Handler,
    pub imm: i64,
    pub kind: OpKind,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    /// Byte offset of this instruction from the block's first pc.
    pub offset: u16,
    /// Length of the instruction in bytes (2 or 4; 0 for `Fallthrough`).
    pub len: u8,
}

const _: () = assert!(std::mem::size_of::<Op>() == 24);

fn dest(rd: Reg) -> u8 {
    if rd.0 == 0 {
        SINK
    } else {
        rd.0
    }
}

/// Encodes an atomic's operation and width in an op's `imm`.
pub(crate) fn amo_pack(op: AmoOp, width: AmoWidth) -> i64 {
    let w = match width {
        AmoWidth::Word => 0,
        AmoWidth::Double => 1,
    };
    ((op as i64) << 1) | w
}

pub(crate) const AMO_OPS: [AmoOp; 11] = [
    AmoOp::Lr,
    AmoOp::Sc,
    AmoOp::Swap,
    AmoOp::Add,
    AmoOp::Xor,
    AmoOp::And,
    AmoOp::Or,
    AmoOp::Min,
    AmoOp::Max,
    AmoOp::Minu,
    AmoOp::Maxu,
];

/// Lowers an instruction at `pc` (offset `offset` in its block) to an op.
/// `bits` is the raw encoding, kept for illegal instructions.
pub(crate) fn lower(inst: Option<Instruction>, bits: u32, pc: u64, offset: u16, len: u8) -> Op {
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
            };
            op(kind, rd.0, rs1, rs2, 0)
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
            if read_only && matches!(csr, CSR_CYCLE | CSR_TIME | CSR_INSTRET) {
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
    }
}

/// Whether an op ends its block.
pub(crate) fn is_terminator(kind: OpKind) -> bool {
    kind as u8 >= OpKind::Beq as u8
}

/// A decoded block.
pub(crate) struct Block {
    /// Virtual address of the first instruction.
    pub pc: u64,
    /// Physical address of the first instruction.
    pub phys: u64,
    /// The ops; the last one is a terminator.
    pub ops: Box<[Op]>,
    /// Frames the block's bytes came from (two if an instruction straddles).
    pub frames: [Frame; 2],
    /// Guest instructions in the block (ops less a final `Fallthrough`).
    pub instructions: u64,
}

/// The op that ends a block without control flow at byte `offset`.
pub(crate) fn fallthrough(offset: u16) -> Op {
    Op {
        handler: handler_for(OpKind::Fallthrough),
        imm: 0,
        kind: OpKind::Fallthrough,
        rd: SINK,
        rs1: 0,
        rs2: 0,
        offset,
        len: 0,
    }
}

/// Guest instructions in a decoded op sequence.
pub(crate) fn instruction_count(ops: &[Op]) -> u64 {
    let fallthrough = ops.last().is_some_and(|op| op.kind == OpKind::Fallthrough);
    ops.len() as u64 - u64::from(fallthrough)
}

/// Number of entries of the virtual-pc jump cache (a power of two).
pub(crate) const JUMP_CACHE_ENTRIES: usize = 4096;

/// The block cache: blocks in an arena, found by physical address, and a
/// direct-mapped jump cache from virtual pc to block that is flushed with
/// the TLB.
pub(crate) struct BlockCache {
    pub blocks: Vec<Option<Block>>,
    free_slots: Vec<u32>,
    by_phys: HashMap<u64, u32>,
    by_frame: HashMap<Frame, Vec<u32>>,
    /// Direct-mapped by virtual pc; holds raw pointers into live blocks'
    /// ops, so it is flushed whenever any block is removed.
    pub jump_cache: Box<[JumpEntry]>,
    /// Blocks removed so far: a jump cache set aside before the last
    /// removal may point into freed ops (see `Machine::switch_caches`).
    pub removals: u64,
}

/// A jump-cache entry: the block for virtual `pc`.
#[derive(Clone, Copy)]
pub(crate) struct JumpEntry {
    // (fields read by the executor's block chaining)
    /// `u64::MAX` marks an empty entry (pcs are even).
    pub pc: u64,
    pub ops: *const Op,
    pub count: u64,
}

impl JumpEntry {
    const EMPTY: JumpEntry = JumpEntry {
        pc: u64::MAX,
        ops: std::ptr::null(),
        count: 0,
    };
}

impl BlockCache {
    pub fn new() -> BlockCache {
        BlockCache {
            blocks: Vec::new(),
            free_slots: Vec::new(),
            by_phys: HashMap::new(),
            by_frame: HashMap::new(),
            jump_cache: vec![JumpEntry::EMPTY; JUMP_CACHE_ENTRIES].into_boxed_slice(),
            removals: 0,
        }
    }

    #[inline(always)]
    pub fn jump_index(pc: u64) -> usize {
        (pc >> 1) as usize & (JUMP_CACHE_ENTRIES - 1)
    }

    pub fn flush_jump_cache(&mut self) {
        self.jump_cache.fill(JumpEntry::EMPTY);
    }

    /// Remembers block `index` as the one for virtual `pc`.
    pub fn remember_jump(&mut self, pc: u64, index: u32) -> (*const Op, u64) {
        let Some(block) = &self.blocks[index as usize] else {
            return (std::ptr::null(), 0);
        };
        let entry = JumpEntry {
            pc,
            ops: block.ops.as_ptr(),
            count: block.instructions,
        };
        self.jump_cache[Self::jump_index(pc)] = entry;
        (entry.ops, entry.count)
    }

    /// The cached block for physical address `phys` decoded at virtual `pc`.
    pub fn find(&self, phys: u64, pc: u64) -> Option<u32> {
        let index = *self.by_phys.get(&phys)?;
        match &self.blocks[index as usize] {
            Some(block) if block.pc == pc => Some(index),
            _ => None,
        }
    }

    /// Adds a block (replacing one at the same physical address).
    pub fn insert(&mut self, block: Block) -> u32 {
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
            // The jump cache may point into this block's ops.
            self.flush_jump_cache();
            if self.by_phys.get(&block.phys) == Some(&index) {
                self.by_phys.remove(&block.phys);
            }
            self.free_slots.push(index);
        }
    }

    /// Drops every block decoded from `frame`.
    pub fn invalidate_frame(&mut self, frame: Frame) {
        if let Some(list) = self.by_frame.remove(&frame) {
            for index in list {
                self.remove(index);
            }
        }
    }

    /// Number of live blocks.
    pub fn len(&self) -> usize {
        self.by_phys.len()
    }
}

//! The encoder: `Instruction` → 32-bit machine word, the inverse of
//! `decode` for every 32-bit instruction. The assembler and the C* compiler
//! emit code through it; a property test checks `decode(encode(i)) == i`.
//!
//! Bit layouts: RISC-V unprivileged spec, chapter 2.3 ("Immediate Encoding
//! Variants") and the opcode map of chapter 34.

use super::instruction::*;

/// Why an instruction cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("immediate {value} out of range for {what} (allowed {min}..={max})")]
    ImmediateOutOfRange {
        what: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("offset {0} of a branch or jump is odd")]
    OddOffset(i64),
    #[error("upper immediate {0:#x} is not a sign-extended multiple of 4096")]
    BadUpperImmediate(i64),
    #[error("csr immediate {0} out of range 0..=31")]
    BadCsrImmediate(u8),
}

pub(crate) const OPCODE_LOAD: u32 = 0x03;
pub(crate) const OPCODE_MISC_MEM: u32 = 0x0f;
pub(crate) const OPCODE_OP_IMM: u32 = 0x13;
pub(crate) const OPCODE_AUIPC: u32 = 0x17;
pub(crate) const OPCODE_OP_IMM_32: u32 = 0x1b;
pub(crate) const OPCODE_STORE: u32 = 0x23;
pub(crate) const OPCODE_AMO: u32 = 0x2f;
pub(crate) const OPCODE_OP: u32 = 0x33;
pub(crate) const OPCODE_LUI: u32 = 0x37;
pub(crate) const OPCODE_OP_32: u32 = 0x3b;
pub(crate) const OPCODE_BRANCH: u32 = 0x63;
pub(crate) const OPCODE_JALR: u32 = 0x67;
pub(crate) const OPCODE_JAL: u32 = 0x6f;
pub(crate) const OPCODE_SYSTEM: u32 = 0x73;

fn check(what: &'static str, value: i64, bits: u32) -> Result<u32, EncodeError> {
    let min = -(1i64 << (bits - 1));
    let max = (1i64 << (bits - 1)) - 1;
    if value < min || value > max {
        return Err(EncodeError::ImmediateOutOfRange {
            what,
            value,
            min,
            max,
        });
    }
    Ok(value as u32 & ((1u32 << bits) - 1))
}

fn r(rd: Reg, rs1: Reg, rs2: Reg) -> u32 {
    (u32::from(rd.0) << 7) | (u32::from(rs1.0) << 15) | (u32::from(rs2.0) << 20)
}

fn i_type(opcode: u32, funct3: u32, rd: Reg, rs1: Reg, imm: i64) -> Result<u32, EncodeError> {
    let imm = check("I-type immediate", imm, 12)?;
    Ok(opcode | (funct3 << 12) | r(rd, rs1, Reg(0)) | (imm << 20))
}

fn s_type(opcode: u32, funct3: u32, rs1: Reg, rs2: Reg, imm: i64) -> Result<u32, EncodeError> {
    let imm = check("S-type immediate", imm, 12)?;
    Ok(opcode | (funct3 << 12) | r(Reg(0), rs1, rs2) | ((imm & 0x1f) << 7) | ((imm >> 5) << 25))
}

fn b_type(funct3: u32, rs1: Reg, rs2: Reg, offset: i64) -> Result<u32, EncodeError> {
    if offset & 1 != 0 {
        return Err(EncodeError::OddOffset(offset));
    }
    let imm = check("branch offset", offset, 13)?;
    Ok(OPCODE_BRANCH
        | (funct3 << 12)
        | r(Reg(0), rs1, rs2)
        | (((imm >> 11) & 1) << 7)
        | (((imm >> 1) & 0xf) << 8)
        | (((imm >> 5) & 0x3f) << 25)
        | (((imm >> 12) & 1) << 31))
}

fn u_type(opcode: u32, rd: Reg, imm: i64) -> Result<u32, EncodeError> {
    if imm & 0xfff != 0 || imm < i64::from(i32::MIN) || imm > i64::from(i32::MAX) {
        return Err(EncodeError::BadUpperImmediate(imm));
    }
    Ok(opcode | (u32::from(rd.0) << 7) | (imm as u32 & 0xffff_f000))
}

fn j_type(rd: Reg, offset: i64) -> Result<u32, EncodeError> {
    if offset & 1 != 0 {
        return Err(EncodeError::OddOffset(offset));
    }
    let imm = check("jump offset", offset, 21)?;
    Ok(OPCODE_JAL
        | (u32::from(rd.0) << 7)
        | (((imm >> 12) & 0xff) << 12)
        | (((imm >> 11) & 1) << 20)
        | (((imm >> 1) & 0x3ff) << 21)
        | (((imm >> 20) & 1) << 31))
}

fn shift(
    opcode: u32,
    funct3: u32,
    arith: bool,
    rd: Reg,
    rs1: Reg,
    shamt: i64,
    bits: i64,
) -> Result<u32, EncodeError> {
    if !(0..bits).contains(&shamt) {
        return Err(EncodeError::ImmediateOutOfRange {
            what: "shift amount",
            value: shamt,
            min: 0,
            max: bits - 1,
        });
    }
    let top = if arith { 0x400 } else { 0 };
    i_type(opcode, funct3, rd, rs1, 0).map(|word| word | (((shamt as u32) | top) << 20))
}

/// (funct7, funct3, opcode) of each register-register operation.
pub(crate) fn reg_op_fields(op: RegOp) -> (u32, u32, u32) {
    use RegOp::*;
    match op {
        Add => (0x00, 0, OPCODE_OP),
        Sub => (0x20, 0, OPCODE_OP),
        Sll => (0x00, 1, OPCODE_OP),
        Slt => (0x00, 2, OPCODE_OP),
        Sltu => (0x00, 3, OPCODE_OP),
        Xor => (0x00, 4, OPCODE_OP),
        Srl => (0x00, 5, OPCODE_OP),
        Sra => (0x20, 5, OPCODE_OP),
        Or => (0x00, 6, OPCODE_OP),
        And => (0x00, 7, OPCODE_OP),
        Mul => (0x01, 0, OPCODE_OP),
        Mulh => (0x01, 1, OPCODE_OP),
        Mulhsu => (0x01, 2, OPCODE_OP),
        Mulhu => (0x01, 3, OPCODE_OP),
        Div => (0x01, 4, OPCODE_OP),
        Divu => (0x01, 5, OPCODE_OP),
        Rem => (0x01, 6, OPCODE_OP),
        Remu => (0x01, 7, OPCODE_OP),
        Addw => (0x00, 0, OPCODE_OP_32),
        Subw => (0x20, 0, OPCODE_OP_32),
        Sllw => (0x00, 1, OPCODE_OP_32),
        Srlw => (0x00, 5, OPCODE_OP_32),
        Sraw => (0x20, 5, OPCODE_OP_32),
        Mulw => (0x01, 0, OPCODE_OP_32),
        Divw => (0x01, 4, OPCODE_OP_32),
        Divuw => (0x01, 5, OPCODE_OP_32),
        Remw => (0x01, 6, OPCODE_OP_32),
        Remuw => (0x01, 7, OPCODE_OP_32),
    }
}

pub(crate) fn amo_funct5(op: AmoOp) -> u32 {
    match op {
        AmoOp::Add => 0x00,
        AmoOp::Swap => 0x01,
        AmoOp::Lr => 0x02,
        AmoOp::Sc => 0x03,
        AmoOp::Xor => 0x04,
        AmoOp::Or => 0x08,
        AmoOp::And => 0x0c,
        AmoOp::Min => 0x10,
        AmoOp::Max => 0x14,
        AmoOp::Minu => 0x18,
        AmoOp::Maxu => 0x1c,
    }
}

/// Encodes one instruction as a 32-bit word (never compressed).
///
/// # Errors
/// An immediate that does not fit its field, an odd branch offset, or an
/// upper immediate that is not a multiple of 4096.
pub fn encode(inst: &Instruction) -> Result<u32, EncodeError> {
    use Instruction::*;
    match *inst {
        Lui { rd, imm } => u_type(OPCODE_LUI, rd, imm),
        Auipc { rd, imm } => u_type(OPCODE_AUIPC, rd, imm),
        Jal { rd, offset } => j_type(rd, offset),
        Jalr { rd, rs1, offset } => i_type(OPCODE_JALR, 0, rd, rs1, offset),
        Branch {
            op,
            rs1,
            rs2,
            offset,
        } => {
            let funct3 = match op {
                BranchOp::Beq => 0,
                BranchOp::Bne => 1,
                BranchOp::Blt => 4,
                BranchOp::Bge => 5,
                BranchOp::Bltu => 6,
                BranchOp::Bgeu => 7,
            };
            b_type(funct3, rs1, rs2, offset)
        }
        Load {
            op,
            rd,
            rs1,
            offset,
        } => {
            let funct3 = match op {
                LoadOp::Lb => 0,
                LoadOp::Lh => 1,
                LoadOp::Lw => 2,
                LoadOp::Ld => 3,
                LoadOp::Lbu => 4,
                LoadOp::Lhu => 5,
                LoadOp::Lwu => 6,
            };
            i_type(OPCODE_LOAD, funct3, rd, rs1, offset)
        }
        Store {
            op,
            rs1,
            rs2,
            offset,
        } => {
            let funct3 = match op {
                StoreOp::Sb => 0,
                StoreOp::Sh => 1,
                StoreOp::Sw => 2,
                StoreOp::Sd => 3,
            };
            s_type(OPCODE_STORE, funct3, rs1, rs2, offset)
        }
        OpImm { op, rd, rs1, imm } => match op {
            ImmOp::Addi => i_type(OPCODE_OP_IMM, 0, rd, rs1, imm),
            ImmOp::Slti => i_type(OPCODE_OP_IMM, 2, rd, rs1, imm),
            ImmOp::Sltiu => i_type(OPCODE_OP_IMM, 3, rd, rs1, imm),
            ImmOp::Xori => i_type(OPCODE_OP_IMM, 4, rd, rs1, imm),
            ImmOp::Ori => i_type(OPCODE_OP_IMM, 6, rd, rs1, imm),
            ImmOp::Andi => i_type(OPCODE_OP_IMM, 7, rd, rs1, imm),
            ImmOp::Slli => shift(OPCODE_OP_IMM, 1, false, rd, rs1, imm, 64),
            ImmOp::Srli => shift(OPCODE_OP_IMM, 5, false, rd, rs1, imm, 64),
            ImmOp::Srai => shift(OPCODE_OP_IMM, 5, true, rd, rs1, imm, 64),
            ImmOp::Addiw => i_type(OPCODE_OP_IMM_32, 0, rd, rs1, imm),
            ImmOp::Slliw => shift(OPCODE_OP_IMM_32, 1, false, rd, rs1, imm, 32),
            ImmOp::Srliw => shift(OPCODE_OP_IMM_32, 5, false, rd, rs1, imm, 32),
            ImmOp::Sraiw => shift(OPCODE_OP_IMM_32, 5, true, rd, rs1, imm, 32),
        },
        Op { op, rd, rs1, rs2 } => {
            let (funct7, funct3, opcode) = reg_op_fields(op);
            Ok(opcode | (funct3 << 12) | (funct7 << 25) | r(rd, rs1, rs2))
        }
        // fence iorw, iorw: the canonical form assemblers emit.
        Fence => Ok(0x0ff0_000f),
        Ecall => Ok(0x0000_0073),
        Ebreak => Ok(0x0010_0073),
        Csr { op, rd, rs1, csr } => {
            let funct3 = match op {
                CsrOp::Csrrw => 1,
                CsrOp::Csrrs => 2,
                CsrOp::Csrrc => 3,
                CsrOp::Csrrwi => 5,
                CsrOp::Csrrsi => 6,
                CsrOp::Csrrci => 7,
            };
            if rs1.0 > 31 {
                return Err(EncodeError::BadCsrImmediate(rs1.0));
            }
            Ok(
                OPCODE_SYSTEM
                    | (funct3 << 12)
                    | r(rd, rs1, Reg(0))
                    | (u32::from(csr & 0xfff) << 20),
            )
        }
        Amo {
            op,
            width,
            aq,
            rl,
            rd,
            rs1,
            rs2,
        } => {
            let funct3 = match width {
                AmoWidth::Word => 2,
                AmoWidth::Double => 3,
            };
            let rs2 = if op == AmoOp::Lr { Reg(0) } else { rs2 };
            Ok(OPCODE_AMO
                | (funct3 << 12)
                | r(rd, rs1, rs2)
                | (u32::from(rl) << 25)
                | (u32::from(aq) << 26)
                | (amo_funct5(op) << 27))
        }
    }
}

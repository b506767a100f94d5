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
pub(crate) const OPCODE_LOAD_FP: u32 = 0x07;
pub(crate) const OPCODE_STORE_FP: u32 = 0x27;
pub(crate) const OPCODE_MADD: u32 = 0x43;
pub(crate) const OPCODE_MSUB: u32 = 0x47;
pub(crate) const OPCODE_NMSUB: u32 = 0x4b;
pub(crate) const OPCODE_NMADD: u32 = 0x4f;
pub(crate) const OPCODE_OP_FP: u32 = 0x53;
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
    top: u32,
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
    i_type(opcode, funct3, rd, rs1, 0).map(|word| word | (((shamt as u32) | (top << 6)) << 20))
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
        Sh1add => (0x10, 2, OPCODE_OP),
        Sh2add => (0x10, 4, OPCODE_OP),
        Sh3add => (0x10, 6, OPCODE_OP),
        AddUw => (0x04, 0, OPCODE_OP_32),
        Sh1addUw => (0x10, 2, OPCODE_OP_32),
        Sh2addUw => (0x10, 4, OPCODE_OP_32),
        Sh3addUw => (0x10, 6, OPCODE_OP_32),
        Andn => (0x20, 7, OPCODE_OP),
        Orn => (0x20, 6, OPCODE_OP),
        Xnor => (0x20, 4, OPCODE_OP),
        Max => (0x05, 6, OPCODE_OP),
        Maxu => (0x05, 7, OPCODE_OP),
        Min => (0x05, 4, OPCODE_OP),
        Minu => (0x05, 5, OPCODE_OP),
        Rol => (0x30, 1, OPCODE_OP),
        Ror => (0x30, 5, OPCODE_OP),
        Rolw => (0x30, 1, OPCODE_OP_32),
        Rorw => (0x30, 5, OPCODE_OP_32),
        Bclr => (0x24, 1, OPCODE_OP),
        Bext => (0x24, 5, OPCODE_OP),
        Binv => (0x34, 1, OPCODE_OP),
        Bset => (0x14, 1, OPCODE_OP),
    }
}

/// (opcode, funct3, top six bits) of each shift by an immediate; the
/// shift amount fills the bits below (six bits, five for the `w` forms,
/// whose seventh bit is then zero).
pub(crate) fn shift_fields(op: ImmOp) -> Option<(u32, u32, u32)> {
    use ImmOp::*;
    Some(match op {
        Slli => (OPCODE_OP_IMM, 1, 0x00),
        Srli => (OPCODE_OP_IMM, 5, 0x00),
        Srai => (OPCODE_OP_IMM, 5, 0x10),
        Slliw => (OPCODE_OP_IMM_32, 1, 0x00),
        Srliw => (OPCODE_OP_IMM_32, 5, 0x00),
        Sraiw => (OPCODE_OP_IMM_32, 5, 0x10),
        SlliUw => (OPCODE_OP_IMM_32, 1, 0x02),
        Rori => (OPCODE_OP_IMM, 5, 0x18),
        Roriw => (OPCODE_OP_IMM_32, 5, 0x18),
        Bclri => (OPCODE_OP_IMM, 1, 0x12),
        Bexti => (OPCODE_OP_IMM, 5, 0x12),
        Binvi => (OPCODE_OP_IMM, 1, 0x1a),
        Bseti => (OPCODE_OP_IMM, 1, 0x0a),
        Addi | Slti | Sltiu | Xori | Ori | Andi | Addiw => return None,
    })
}

/// Width in bits of a shift's amount (64 or 32).
pub(crate) fn shift_bits(op: ImmOp) -> i64 {
    match op {
        ImmOp::Slliw | ImmOp::Srliw | ImmOp::Sraiw | ImmOp::Roriw => 32,
        _ => 64,
    }
}

/// (opcode, funct3, the 12 bits above rs1) of each one-source operation.
pub(crate) fn unary_fields(op: UnaryOp) -> (u32, u32, u32) {
    use UnaryOp::*;
    match op {
        Clz => (OPCODE_OP_IMM, 1, 0x600),
        Ctz => (OPCODE_OP_IMM, 1, 0x601),
        Cpop => (OPCODE_OP_IMM, 1, 0x602),
        SextB => (OPCODE_OP_IMM, 1, 0x604),
        SextH => (OPCODE_OP_IMM, 1, 0x605),
        Clzw => (OPCODE_OP_IMM_32, 1, 0x600),
        Ctzw => (OPCODE_OP_IMM_32, 1, 0x601),
        Cpopw => (OPCODE_OP_IMM_32, 1, 0x602),
        OrcB => (OPCODE_OP_IMM, 5, 0x287),
        Rev8 => (OPCODE_OP_IMM, 5, 0x6b8),
        ZextH => (OPCODE_OP_32, 4, 0x080),
    }
}

/// The `fmt` field of a floating-point instruction.
pub(crate) fn fmt_bits(width: FpWidth) -> u32 {
    match width {
        FpWidth::Single => 0,
        FpWidth::Double => 1,
    }
}

/// funct5 of the OP-FP rounded two-source operations.
pub(crate) fn fp_arith_funct5(op: FpArithOp) -> u32 {
    match op {
        FpArithOp::Add => 0x00,
        FpArithOp::Sub => 0x01,
        FpArithOp::Mul => 0x02,
        FpArithOp::Div => 0x03,
    }
}

/// OP-FP funct5 values of the other operations.
pub(crate) const FUNCT5_SGNJ: u32 = 0x04;
pub(crate) const FUNCT5_MINMAX: u32 = 0x05;
pub(crate) const FUNCT5_CONVERT: u32 = 0x08;
pub(crate) const FUNCT5_SQRT: u32 = 0x0b;
pub(crate) const FUNCT5_COMPARE: u32 = 0x14;
pub(crate) const FUNCT5_TO_INT: u32 = 0x18;
pub(crate) const FUNCT5_FROM_INT: u32 = 0x1a;
pub(crate) const FUNCT5_MOVE_TO_INT: u32 = 0x1c;
pub(crate) const FUNCT5_MOVE_FROM_INT: u32 = 0x1e;

/// funct3 of a sign injection and a comparison.
pub(crate) fn fp_sign_funct3(op: FpSignOp) -> u32 {
    match op {
        FpSignOp::Sgnj => 0,
        FpSignOp::Sgnjn => 1,
        FpSignOp::Sgnjx => 2,
    }
}

pub(crate) fn fp_compare_funct3(op: FpCompareOp) -> u32 {
    match op {
        FpCompareOp::Le => 0,
        FpCompareOp::Lt => 1,
        FpCompareOp::Eq => 2,
    }
}

pub(crate) fn fused_opcode(op: FusedOp) -> u32 {
    match op {
        FusedOp::Madd => OPCODE_MADD,
        FusedOp::Msub => OPCODE_MSUB,
        FusedOp::Nmsub => OPCODE_NMSUB,
        FusedOp::Nmadd => OPCODE_NMADD,
    }
}

/// The `rs2` field of an integer conversion.
pub(crate) fn int_width_bits(int: IntWidth) -> u32 {
    match int {
        IntWidth::W => 0,
        IntWidth::Wu => 1,
        IntWidth::L => 2,
        IntWidth::Lu => 3,
    }
}

/// An OP-FP word from its fields (register numbers of either file).
fn op_fp(funct5: u32, width: FpWidth, funct3: u32, rd: u8, rs1: u8, rs2: u8) -> u32 {
    OPCODE_OP_FP
        | (u32::from(rd & 31) << 7)
        | (funct3 << 12)
        | (u32::from(rs1 & 31) << 15)
        | (u32::from(rs2 & 31) << 20)
        | (fmt_bits(width) << 25)
        | (funct5 << 27)
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
        OpImm { op, rd, rs1, imm } => match shift_fields(op) {
            Some((opcode, funct3, top)) => shift(opcode, funct3, top, rd, rs1, imm, shift_bits(op)),
            None => {
                let (opcode, funct3) = match op {
                    ImmOp::Slti => (OPCODE_OP_IMM, 2),
                    ImmOp::Sltiu => (OPCODE_OP_IMM, 3),
                    ImmOp::Xori => (OPCODE_OP_IMM, 4),
                    ImmOp::Ori => (OPCODE_OP_IMM, 6),
                    ImmOp::Andi => (OPCODE_OP_IMM, 7),
                    ImmOp::Addiw => (OPCODE_OP_IMM_32, 0),
                    _ => (OPCODE_OP_IMM, 0),
                };
                i_type(opcode, funct3, rd, rs1, imm)
            }
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
        Unary { op, rd, rs1 } => {
            let (opcode, funct3, bits) = unary_fields(op);
            Ok(opcode | (funct3 << 12) | r(rd, rs1, Reg(0)) | (bits << 20))
        }
        FpLoad {
            width,
            rd,
            rs1,
            offset,
        } => i_type(OPCODE_LOAD_FP, fp_mem_funct3(width), Reg(rd.0), rs1, offset),
        FpStore {
            width,
            rs1,
            rs2,
            offset,
        } => s_type(
            OPCODE_STORE_FP,
            fp_mem_funct3(width),
            rs1,
            Reg(rs2.0),
            offset,
        ),
        FpArith {
            op,
            width,
            rd,
            rs1,
            rs2,
            rm,
        } => Ok(op_fp(
            fp_arith_funct5(op),
            width,
            rm.bits(),
            rd.0,
            rs1.0,
            rs2.0,
        )),
        FpSqrt { width, rd, rs1, rm } => Ok(op_fp(FUNCT5_SQRT, width, rm.bits(), rd.0, rs1.0, 0)),
        FpSign {
            op,
            width,
            rd,
            rs1,
            rs2,
        } => Ok(op_fp(
            FUNCT5_SGNJ,
            width,
            fp_sign_funct3(op),
            rd.0,
            rs1.0,
            rs2.0,
        )),
        FpMinMax {
            max,
            width,
            rd,
            rs1,
            rs2,
        } => Ok(op_fp(
            FUNCT5_MINMAX,
            width,
            u32::from(max),
            rd.0,
            rs1.0,
            rs2.0,
        )),
        // rs2 names the source format.
        FpConvert { width, rd, rs1, rm } => {
            let from = fmt_bits(width.other()) as u8;
            Ok(op_fp(FUNCT5_CONVERT, width, rm.bits(), rd.0, rs1.0, from))
        }
        FpCompare {
            op,
            width,
            rd,
            rs1,
            rs2,
        } => Ok(op_fp(
            FUNCT5_COMPARE,
            width,
            fp_compare_funct3(op),
            rd.0,
            rs1.0,
            rs2.0,
        )),
        FpClass { width, rd, rs1 } => Ok(op_fp(FUNCT5_MOVE_TO_INT, width, 1, rd.0, rs1.0, 0)),
        FpMoveToInt { width, rd, rs1 } => Ok(op_fp(FUNCT5_MOVE_TO_INT, width, 0, rd.0, rs1.0, 0)),
        FpMoveFromInt { width, rd, rs1 } => {
            Ok(op_fp(FUNCT5_MOVE_FROM_INT, width, 0, rd.0, rs1.0, 0))
        }
        FpToInt {
            int,
            width,
            rd,
            rs1,
            rm,
        } => Ok(op_fp(
            FUNCT5_TO_INT,
            width,
            rm.bits(),
            rd.0,
            rs1.0,
            int_width_bits(int) as u8,
        )),
        IntToFp {
            int,
            width,
            rd,
            rs1,
            rm,
        } => Ok(op_fp(
            FUNCT5_FROM_INT,
            width,
            rm.bits(),
            rd.0,
            rs1.0,
            int_width_bits(int) as u8,
        )),
        FpFused {
            op,
            width,
            rd,
            rs1,
            rs2,
            rs3,
            rm,
        } => Ok(fused_opcode(op)
            | (u32::from(rd.0 & 31) << 7)
            | (rm.bits() << 12)
            | (u32::from(rs1.0 & 31) << 15)
            | (u32::from(rs2.0 & 31) << 20)
            | (fmt_bits(width) << 25)
            | (u32::from(rs3.0 & 31) << 27)),
    }
}

/// funct3 of `flw`/`fsw` (2) and `fld`/`fsd` (3): the access width.
pub(crate) fn fp_mem_funct3(width: FpWidth) -> u32 {
    match width {
        FpWidth::Single => 2,
        FpWidth::Double => 3,
    }
}

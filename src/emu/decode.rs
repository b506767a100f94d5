//! The decoder: machine words → `Instruction` (RV64GC, Zba, Zbb, Zbs). It is the single source of
//! truth for what bits mean; the executor's pre-decoder, the disassembler and
//! the trace all start here.
//!
//! Control flow: `length(low_half)` tells whether an instruction is 2 or 4
//! bytes; `decode32` handles the base encodings, `decode16` expands RVC
//! (compressed) instructions to the same `Instruction` values. Both return
//! `None` for an illegal or unsupported encoding: the caller turns that into
//! `Exception::IllegalInstruction`.

use super::encode::*;
use super::instruction::*;

/// Length in bytes of the instruction whose low 16 bits are `low_half`
/// (RISC-V unprivileged spec, 1.5: the two lowest bits are `11` for 32-bit
/// instructions). Longer encodings do not exist in RV64GC; they are
/// reported as 4 and then fail to decode.
pub fn length(low_half: u16) -> u64 {
    if low_half & 3 == 3 {
        4
    } else {
        2
    }
}

/// Decodes one instruction from the bytes at the pc: `word` holds 32 bits
/// (or only the low 16 valid for a compressed one). Returns the instruction
/// and its length.
pub fn decode(word: u32) -> Option<(Instruction, u64)> {
    if length(word as u16) == 2 {
        decode16(word as u16).map(|i| (i, 2))
    } else {
        decode32(word).map(|i| (i, 4))
    }
}

fn rd(w: u32) -> Reg {
    Reg(((w >> 7) & 31) as u8)
}
fn rs1(w: u32) -> Reg {
    Reg(((w >> 15) & 31) as u8)
}
fn rs2(w: u32) -> Reg {
    Reg(((w >> 20) & 31) as u8)
}
fn funct3(w: u32) -> u32 {
    (w >> 12) & 7
}
fn imm_i(w: u32) -> i64 {
    i64::from((w as i32) >> 20)
}
fn imm_s(w: u32) -> i64 {
    i64::from((((w as i32) >> 25) << 5) | (((w >> 7) & 0x1f) as i32))
}
fn imm_b(w: u32) -> i64 {
    let v = (((w as i32) >> 31) << 12)
        | ((((w >> 7) & 1) << 11) as i32)
        | ((((w >> 25) & 0x3f) << 5) as i32)
        | ((((w >> 8) & 0xf) << 1) as i32);
    i64::from(v)
}
fn imm_u(w: u32) -> i64 {
    i64::from((w & 0xffff_f000) as i32)
}
fn imm_j(w: u32) -> i64 {
    let v = (((w as i32) >> 31) << 20)
        | ((w & 0x000f_f000) as i32)
        | ((((w >> 20) & 1) << 11) as i32)
        | ((((w >> 21) & 0x3ff) << 1) as i32);
    i64::from(v)
}

/// Decodes a 32-bit instruction.
pub fn decode32(w: u32) -> Option<Instruction> {
    use Instruction::*;
    let opcode = w & 0x7f;
    let f3 = funct3(w);
    let f7 = w >> 25;
    Some(match opcode {
        OPCODE_LUI => Lui {
            rd: rd(w),
            imm: imm_u(w),
        },
        OPCODE_AUIPC => Auipc {
            rd: rd(w),
            imm: imm_u(w),
        },
        OPCODE_JAL => Jal {
            rd: rd(w),
            offset: imm_j(w),
        },
        OPCODE_JALR if f3 == 0 => Jalr {
            rd: rd(w),
            rs1: rs1(w),
            offset: imm_i(w),
        },
        OPCODE_BRANCH => {
            let op = match f3 {
                0 => BranchOp::Beq,
                1 => BranchOp::Bne,
                4 => BranchOp::Blt,
                5 => BranchOp::Bge,
                6 => BranchOp::Bltu,
                7 => BranchOp::Bgeu,
                _ => return None,
            };
            Branch {
                op,
                rs1: rs1(w),
                rs2: rs2(w),
                offset: imm_b(w),
            }
        }
        OPCODE_LOAD => {
            let op = match f3 {
                0 => LoadOp::Lb,
                1 => LoadOp::Lh,
                2 => LoadOp::Lw,
                3 => LoadOp::Ld,
                4 => LoadOp::Lbu,
                5 => LoadOp::Lhu,
                6 => LoadOp::Lwu,
                _ => return None,
            };
            Load {
                op,
                rd: rd(w),
                rs1: rs1(w),
                offset: imm_i(w),
            }
        }
        OPCODE_STORE => {
            let op = match f3 {
                0 => StoreOp::Sb,
                1 => StoreOp::Sh,
                2 => StoreOp::Sw,
                3 => StoreOp::Sd,
                _ => return None,
            };
            Store {
                op,
                rs1: rs1(w),
                rs2: rs2(w),
                offset: imm_s(w),
            }
        }
        OPCODE_OP_IMM | OPCODE_OP_IMM_32 => return decode_op_imm(w, opcode),
        OPCODE_OP_32 if f7 == 0x04 && f3 == 4 && rs2(w) == Reg(0) => Unary {
            op: UnaryOp::ZextH,
            rd: rd(w),
            rs1: rs1(w),
        },
        OPCODE_OP | OPCODE_OP_32 => {
            let op = REG_OPS
                .iter()
                .copied()
                .find(|&op| reg_op_fields(op) == (f7, f3, opcode))?;
            Op {
                op,
                rd: rd(w),
                rs1: rs1(w),
                rs2: rs2(w),
            }
        }
        OPCODE_MISC_MEM if f3 == 0 || f3 == 1 => Fence,
        OPCODE_SYSTEM => match f3 {
            0 if w == 0x0000_0073 => Ecall,
            0 if w == 0x0010_0073 => Ebreak,
            0 => return None,
            4 => return None,
            _ => {
                let op = match f3 {
                    1 => CsrOp::Csrrw,
                    2 => CsrOp::Csrrs,
                    3 => CsrOp::Csrrc,
                    5 => CsrOp::Csrrwi,
                    6 => CsrOp::Csrrsi,
                    _ => CsrOp::Csrrci,
                };
                Csr {
                    op,
                    rd: rd(w),
                    rs1: rs1(w),
                    csr: (w >> 20) as u16,
                }
            }
        },
        OPCODE_AMO => {
            let width = match f3 {
                2 => AmoWidth::Word,
                3 => AmoWidth::Double,
                _ => return None,
            };
            let funct5 = w >> 27;
            let op = AMO_OPS
                .iter()
                .copied()
                .find(|&op| amo_funct5(op) == funct5)?;
            if op == AmoOp::Lr && rs2(w) != Reg(0) {
                return None;
            }
            Amo {
                op,
                width,
                aq: (w >> 26) & 1 == 1,
                rl: (w >> 25) & 1 == 1,
                rd: rd(w),
                rs1: rs1(w),
                rs2: rs2(w),
            }
        }
        OPCODE_LOAD_FP | OPCODE_STORE_FP => return decode_fp_memory(w, opcode),
        OPCODE_OP_FP => return decode_op_fp(w),
        OPCODE_MADD | OPCODE_MSUB | OPCODE_NMSUB | OPCODE_NMADD => {
            let op = match opcode {
                OPCODE_MADD => FusedOp::Madd,
                OPCODE_MSUB => FusedOp::Msub,
                OPCODE_NMSUB => FusedOp::Nmsub,
                _ => FusedOp::Nmadd,
            };
            FpFused {
                op,
                width: fp_width(w)?,
                rd: frd(w),
                rs1: frs1(w),
                rs2: frs2(w),
                rs3: FReg((w >> 27) as u8),
                rm: Rm::from_bits(f3)?,
            }
        }
        _ => return None,
    })
}

/// OP-IMM and OP-IMM-32: the immediate ALU operations, the shifts (base,
/// Zba, Zbb, Zbs) and Zbb's one-source operations.
fn decode_op_imm(w: u32, opcode: u32) -> Option<Instruction> {
    use Instruction::*;
    let f3 = funct3(w);
    // One-source operations: the 12 bits above rs1 select them.
    if let Some(op) = UNARY_OPS
        .iter()
        .copied()
        .find(|&op| unary_fields(op) == (opcode, f3, w >> 20))
    {
        return Some(Unary {
            op,
            rd: rd(w),
            rs1: rs1(w),
        });
    }
    let (rd, rs1) = (rd(w), rs1(w));
    let shift = SHIFT_OPS.iter().copied().find(|&op| {
        let Some((o, f, top)) = shift_fields(op) else {
            return false;
        };
        // A shift amount of five bits for the `w` forms: bit 25 is then
        // part of the top bits, and must be zero.
        let top_bits = if shift_bits(op) == 32 {
            w >> 25
        } else {
            w >> 26
        };
        let top = if shift_bits(op) == 32 { top << 1 } else { top };
        (o, f, top) == (opcode, f3, top_bits)
    });
    if let Some(op) = shift {
        let mask = if shift_bits(op) == 32 { 0x1f } else { 0x3f };
        return Some(OpImm {
            op,
            rd,
            rs1,
            imm: i64::from((w >> 20) & mask),
        });
    }
    let op = match (opcode, f3) {
        (OPCODE_OP_IMM, 0) => ImmOp::Addi,
        (OPCODE_OP_IMM, 2) => ImmOp::Slti,
        (OPCODE_OP_IMM, 3) => ImmOp::Sltiu,
        (OPCODE_OP_IMM, 4) => ImmOp::Xori,
        (OPCODE_OP_IMM, 6) => ImmOp::Ori,
        (OPCODE_OP_IMM, 7) => ImmOp::Andi,
        (OPCODE_OP_IMM_32, 0) => ImmOp::Addiw,
        _ => return None,
    };
    Some(OpImm {
        op,
        rd,
        rs1,
        imm: imm_i(w),
    })
}

fn frd(w: u32) -> FReg {
    FReg(((w >> 7) & 31) as u8)
}
fn frs1(w: u32) -> FReg {
    FReg(((w >> 15) & 31) as u8)
}
fn frs2(w: u32) -> FReg {
    FReg(((w >> 20) & 31) as u8)
}

/// The `fmt` field: S or D (H and Q do not exist here).
fn fp_width(w: u32) -> Option<FpWidth> {
    match (w >> 25) & 3 {
        0 => Some(FpWidth::Single),
        1 => Some(FpWidth::Double),
        _ => None,
    }
}

/// `flw`, `fld`, `fsw`, `fsd`.
fn decode_fp_memory(w: u32, opcode: u32) -> Option<Instruction> {
    let width = match funct3(w) {
        2 => FpWidth::Single,
        3 => FpWidth::Double,
        _ => return None,
    };
    Some(if opcode == OPCODE_LOAD_FP {
        Instruction::FpLoad {
            width,
            rd: frd(w),
            rs1: rs1(w),
            offset: imm_i(w),
        }
    } else {
        Instruction::FpStore {
            width,
            rs1: rs1(w),
            rs2: frs2(w),
            offset: imm_s(w),
        }
    })
}

/// OP-FP: funct5 (bits 31:27) selects the operation, `fmt` the format,
/// funct3 the rounding mode or a sub-operation, and for some `rs2` too.
fn decode_op_fp(w: u32) -> Option<Instruction> {
    use Instruction::*;
    let width = fp_width(w)?;
    let f3 = funct3(w);
    let rm = Rm::from_bits(f3);
    let rs2_bits = (w >> 20) & 31;
    let (frd, frs1, frs2) = (frd(w), frs1(w), frs2(w));
    let int = IntWidth::ALL.get(rs2_bits as usize).copied();
    Some(match w >> 27 {
        f @ 0x00..=0x03 => FpArith {
            op: [
                FpArithOp::Add,
                FpArithOp::Sub,
                FpArithOp::Mul,
                FpArithOp::Div,
            ][f as usize],
            width,
            rd: frd,
            rs1: frs1,
            rs2: frs2,
            rm: rm?,
        },
        FUNCT5_SQRT if rs2_bits == 0 => FpSqrt {
            width,
            rd: frd,
            rs1: frs1,
            rm: rm?,
        },
        FUNCT5_SGNJ => FpSign {
            op: match f3 {
                0 => FpSignOp::Sgnj,
                1 => FpSignOp::Sgnjn,
                2 => FpSignOp::Sgnjx,
                _ => return None,
            },
            width,
            rd: frd,
            rs1: frs1,
            rs2: frs2,
        },
        FUNCT5_MINMAX if f3 <= 1 => FpMinMax {
            max: f3 == 1,
            width,
            rd: frd,
            rs1: frs1,
            rs2: frs2,
        },
        FUNCT5_CONVERT if rs2_bits == fmt_bits(width.other()) => FpConvert {
            width,
            rd: frd,
            rs1: frs1,
            rm: rm?,
        },
        FUNCT5_COMPARE => FpCompare {
            op: match f3 {
                0 => FpCompareOp::Le,
                1 => FpCompareOp::Lt,
                2 => FpCompareOp::Eq,
                _ => return None,
            },
            width,
            rd: rd(w),
            rs1: frs1,
            rs2: frs2,
        },
        FUNCT5_TO_INT => FpToInt {
            int: int?,
            width,
            rd: rd(w),
            rs1: frs1,
            rm: rm?,
        },
        FUNCT5_FROM_INT => IntToFp {
            int: int?,
            width,
            rd: frd,
            rs1: rs1(w),
            rm: rm?,
        },
        FUNCT5_MOVE_TO_INT if rs2_bits == 0 && f3 == 0 => FpMoveToInt {
            width,
            rd: rd(w),
            rs1: frs1,
        },
        FUNCT5_MOVE_TO_INT if rs2_bits == 0 && f3 == 1 => FpClass {
            width,
            rd: rd(w),
            rs1: frs1,
        },
        FUNCT5_MOVE_FROM_INT if rs2_bits == 0 && f3 == 0 => FpMoveFromInt {
            width,
            rd: frd,
            rs1: rs1(w),
        },
        _ => return None,
    })
}

const REG_OPS: [RegOp; 50] = {
    use RegOp::*;
    [
        Add, Sub, Sll, Slt, Sltu, Xor, Srl, Sra, Or, And, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem,
        Remu, Addw, Subw, Sllw, Srlw, Sraw, Mulw, Divw, Divuw, Remw, Remuw, Sh1add, Sh2add, Sh3add,
        AddUw, Sh1addUw, Sh2addUw, Sh3addUw, Andn, Orn, Xnor, Max, Maxu, Min, Minu, Rol, Ror, Rolw,
        Rorw, Bclr, Bext, Binv, Bset,
    ]
};

const SHIFT_OPS: [ImmOp; 13] = {
    use ImmOp::*;
    [
        Slli, Srli, Srai, Slliw, Srliw, Sraiw, SlliUw, Rori, Roriw, Bclri, Bexti, Binvi, Bseti,
    ]
};

const UNARY_OPS: [UnaryOp; 11] = {
    use UnaryOp::*;
    [
        Clz, Ctz, Cpop, Clzw, Ctzw, Cpopw, SextB, SextH, ZextH, OrcB, Rev8,
    ]
};

const AMO_OPS: [AmoOp; 11] = {
    use AmoOp::*;
    [Lr, Sc, Swap, Add, Xor, And, Or, Min, Max, Minu, Maxu]
};

/// Expands a compressed (RVC) instruction; RISC-V unprivileged spec,
/// chapter 16 ("C" Standard Extension), RV64 column.
pub fn decode16(h: u16) -> Option<Instruction> {
    super::decode_rvc::expand(h)
}

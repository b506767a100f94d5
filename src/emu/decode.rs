//! The decoder: machine words → `Instruction`. It is the single source of
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
/// instructions). Longer encodings do not exist in RV64IMAC; they are
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
        OPCODE_OP_IMM => {
            let shamt = i64::from((w >> 20) & 0x3f);
            let op = match (f3, w >> 26) {
                (0, _) => ImmOp::Addi,
                (2, _) => ImmOp::Slti,
                (3, _) => ImmOp::Sltiu,
                (4, _) => ImmOp::Xori,
                (6, _) => ImmOp::Ori,
                (7, _) => ImmOp::Andi,
                (1, 0x00) => {
                    return Some(OpImm {
                        op: ImmOp::Slli,
                        rd: rd(w),
                        rs1: rs1(w),
                        imm: shamt,
                    })
                }
                (5, 0x00) => {
                    return Some(OpImm {
                        op: ImmOp::Srli,
                        rd: rd(w),
                        rs1: rs1(w),
                        imm: shamt,
                    })
                }
                (5, 0x10) => {
                    return Some(OpImm {
                        op: ImmOp::Srai,
                        rd: rd(w),
                        rs1: rs1(w),
                        imm: shamt,
                    })
                }
                _ => return None,
            };
            OpImm {
                op,
                rd: rd(w),
                rs1: rs1(w),
                imm: imm_i(w),
            }
        }
        OPCODE_OP_IMM_32 => {
            let shamt = i64::from((w >> 20) & 0x1f);
            match (f3, f7) {
                (0, _) => OpImm {
                    op: ImmOp::Addiw,
                    rd: rd(w),
                    rs1: rs1(w),
                    imm: imm_i(w),
                },
                (1, 0x00) => OpImm {
                    op: ImmOp::Slliw,
                    rd: rd(w),
                    rs1: rs1(w),
                    imm: shamt,
                },
                (5, 0x00) => OpImm {
                    op: ImmOp::Srliw,
                    rd: rd(w),
                    rs1: rs1(w),
                    imm: shamt,
                },
                (5, 0x20) => OpImm {
                    op: ImmOp::Sraiw,
                    rd: rd(w),
                    rs1: rs1(w),
                    imm: shamt,
                },
                _ => return None,
            }
        }
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
        _ => return None,
    })
}

const REG_OPS: [RegOp; 28] = {
    use RegOp::*;
    [
        Add, Sub, Sll, Slt, Sltu, Xor, Srl, Sra, Or, And, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem,
        Remu, Addw, Subw, Sllw, Srlw, Sraw, Mulw, Divw, Divuw, Remw, Remuw,
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

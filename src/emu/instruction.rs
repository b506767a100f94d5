//! The typed instruction: the one representation of an RV64IMAC instruction
//! that the decoder produces and the encoder, executor, disassembler, trace
//! and assembler consume.
//!
//! Immediates are stored already sign-extended and shifted into place (a
//! `Lui` holds `imm << 12`, a branch holds its byte offset), so that no
//! consumer has to know the bit layout of the encoding. Compressed (RVC)
//! instructions decode to the same variants as their 32-bit expansions; the
//! decoder reports the length separately.

use std::fmt;

/// An integer register `x0`..`x31`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Reg(pub u8);

impl Reg {
    pub const ZERO: Reg = Reg(0);
    pub const RA: Reg = Reg(1);
    pub const SP: Reg = Reg(2);
    pub const GP: Reg = Reg(3);
    pub const TP: Reg = Reg(4);
    pub const T0: Reg = Reg(5);
    pub const T1: Reg = Reg(6);
    pub const T2: Reg = Reg(7);
    pub const S0: Reg = Reg(8);
    pub const S1: Reg = Reg(9);
    pub const A0: Reg = Reg(10);
    pub const A1: Reg = Reg(11);
    pub const A2: Reg = Reg(12);
    pub const A3: Reg = Reg(13);
    pub const A4: Reg = Reg(14);
    pub const A5: Reg = Reg(15);
    pub const A6: Reg = Reg(16);
    pub const A7: Reg = Reg(17);

    /// ABI names, indexed by register number (RISC-V psABI, table 1).
    pub const ABI_NAMES: [&'static str; 32] = [
        "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
        "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
        "t5", "t6",
    ];

    /// The register's index, 0..32.
    pub fn index(self) -> usize {
        usize::from(self.0 & 31)
    }

    /// The ABI name (`a0`, `sp`, ...).
    pub fn name(self) -> &'static str {
        Self::ABI_NAMES[self.index()]
    }

    /// Parses `x7`, `a0`, `fp` (an alias of `s0`).
    pub fn parse(name: &str) -> Option<Reg> {
        if name == "fp" {
            return Some(Reg::S0);
        }
        if let Some(n) = name.strip_prefix('x') {
            if let Ok(i) = n.parse::<u8>() {
                if i < 32 && (n == "0" || !n.starts_with('0')) {
                    return Some(Reg(i));
                }
            }
        }
        Self::ABI_NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| Reg(i as u8))
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BranchOp {
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LoadOp {
    Lb,
    Lh,
    Lw,
    Ld,
    Lbu,
    Lhu,
    Lwu,
}

impl LoadOp {
    /// Access width in bytes.
    pub fn width(self) -> u64 {
        match self {
            LoadOp::Lb | LoadOp::Lbu => 1,
            LoadOp::Lh | LoadOp::Lhu => 2,
            LoadOp::Lw | LoadOp::Lwu => 4,
            LoadOp::Ld => 8,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StoreOp {
    Sb,
    Sh,
    Sw,
    Sd,
}

impl StoreOp {
    /// Access width in bytes.
    pub fn width(self) -> u64 {
        match self {
            StoreOp::Sb => 1,
            StoreOp::Sh => 2,
            StoreOp::Sw => 4,
            StoreOp::Sd => 8,
        }
    }
}

/// Register-immediate ALU operations (OP-IMM and OP-IMM-32).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ImmOp {
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
}

/// Register-register ALU operations (OP and OP-32, including the M extension).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RegOp {
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
}

/// Zicsr operations; the `I` forms take a 5-bit immediate in place of `rs1`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CsrOp {
    Csrrw,
    Csrrs,
    Csrrc,
    Csrrwi,
    Csrrsi,
    Csrrci,
}

/// A extension operations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AmoOp {
    Lr,
    Sc,
    Swap,
    Add,
    Xor,
    And,
    Or,
    Min,
    Max,
    Minu,
    Maxu,
}

/// Width of an atomic: `.w` (32 bits, sign-extended) or `.d`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AmoWidth {
    Word,
    Double,
}

/// Counter CSRs readable from user mode (Zicntr); all derive from the
/// instruction count so that runs are deterministic.
pub const CSR_CYCLE: u16 = 0xC00;
pub const CSR_TIME: u16 = 0xC01;
pub const CSR_INSTRET: u16 = 0xC02;

/// One decoded RV64IMAC instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Instruction {
    /// `rd = imm` where `imm` is the sign-extended `imm[31:12] << 12`.
    Lui {
        rd: Reg,
        imm: i64,
    },
    /// `rd = pc + imm`, `imm` as for `Lui`.
    Auipc {
        rd: Reg,
        imm: i64,
    },
    Jal {
        rd: Reg,
        offset: i64,
    },
    Jalr {
        rd: Reg,
        rs1: Reg,
        offset: i64,
    },
    Branch {
        op: BranchOp,
        rs1: Reg,
        rs2: Reg,
        offset: i64,
    },
    Load {
        op: LoadOp,
        rd: Reg,
        rs1: Reg,
        offset: i64,
    },
    Store {
        op: StoreOp,
        rs1: Reg,
        rs2: Reg,
        offset: i64,
    },
    /// For shifts, `imm` is the shift amount (0..64, or 0..32 for `w` forms).
    OpImm {
        op: ImmOp,
        rd: Reg,
        rs1: Reg,
        imm: i64,
    },
    Op {
        op: RegOp,
        rd: Reg,
        rs1: Reg,
        rs2: Reg,
    },
    /// `fence` and `fence.i`: no-ops on this single-hart machine.
    Fence,
    Ecall,
    Ebreak,
    /// For the `I` forms, `rs1` holds the 5-bit immediate.
    Csr {
        op: CsrOp,
        rd: Reg,
        rs1: Reg,
        csr: u16,
    },
    Amo {
        op: AmoOp,
        width: AmoWidth,
        aq: bool,
        rl: bool,
        rd: Reg,
        rs1: Reg,
        rs2: Reg,
    },
}

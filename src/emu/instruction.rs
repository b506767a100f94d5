//! The typed instruction: the one representation of an RV64GC instruction
//! (RV64IMAFDC with Zicsr, plus Zba, Zbb and Zbs) that the decoder produces
//! and the encoder, executor, disassembler, trace and assembler consume.
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

/// A floating-point register `f0`..`f31` (F and D extensions).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct FReg(pub u8);

impl FReg {
    /// ABI names, indexed by register number (RISC-V psABI, table 2).
    pub const ABI_NAMES: [&'static str; 32] = [
        "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2",
        "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
        "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
    ];

    /// The register's index, 0..32.
    pub fn index(self) -> usize {
        usize::from(self.0 & 31)
    }

    /// The ABI name (`fa0`, `fs1`, ...).
    pub fn name(self) -> &'static str {
        Self::ABI_NAMES[self.index()]
    }

    /// Parses `f7` or an ABI name (`fa0`).
    pub fn parse(name: &str) -> Option<FReg> {
        if let Some(n) = name.strip_prefix('f') {
            if let Ok(i) = n.parse::<u8>() {
                if i < 32 && (n == "0" || !n.starts_with('0')) {
                    return Some(FReg(i));
                }
            }
        }
        Self::ABI_NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| FReg(i as u8))
    }
}

impl fmt::Display for FReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The format of a floating-point instruction: the `.s` or `.d` suffix,
/// the `fmt` field (0 or 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FpWidth {
    /// Single precision (binary32), F extension.
    Single,
    /// Double precision (binary64), D extension.
    Double,
}

impl FpWidth {
    /// The mnemonic suffix: `s` or `d`.
    pub fn suffix(self) -> &'static str {
        match self {
            FpWidth::Single => "s",
            FpWidth::Double => "d",
        }
    }

    /// Bytes a load or store moves.
    pub fn bytes(self) -> u64 {
        match self {
            FpWidth::Single => 4,
            FpWidth::Double => 8,
        }
    }

    /// The other format (what `fcvt.s.d` converts from).
    pub fn other(self) -> FpWidth {
        match self {
            FpWidth::Single => FpWidth::Double,
            FpWidth::Double => FpWidth::Single,
        }
    }
}

/// The `rm` field of an instruction that rounds (spec 11.2, table
/// "Rounding mode encoding"). 5 and 6 are reserved: such a word does not
/// decode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Rm {
    /// Round to nearest, ties to even.
    Rne,
    /// Round towards zero.
    Rtz,
    /// Round down.
    Rdn,
    /// Round up.
    Rup,
    /// Round to nearest, ties to max magnitude.
    Rmm,
    /// Dynamic: the mode in `frm`, read when the instruction runs.
    Dyn,
}

impl Rm {
    /// Every mode with its field value and assembler name.
    pub const ALL: [(Rm, u32, &'static str); 6] = [
        (Rm::Rne, 0, "rne"),
        (Rm::Rtz, 1, "rtz"),
        (Rm::Rdn, 2, "rdn"),
        (Rm::Rup, 3, "rup"),
        (Rm::Rmm, 4, "rmm"),
        (Rm::Dyn, 7, "dyn"),
    ];

    /// The field value.
    pub fn bits(self) -> u32 {
        Self::ALL.iter().find(|e| e.0 == self).map_or(7, |e| e.1)
    }

    /// The mode of a field value; `None` for the reserved 5 and 6.
    pub fn from_bits(bits: u32) -> Option<Rm> {
        Self::ALL.iter().find(|e| e.1 == bits).map(|e| e.0)
    }

    /// The assembler name (`rtz`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|e| e.0 == self)
            .map_or("dyn", |e| e.2)
    }
}

/// Arithmetic with two sources and a rounding mode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FpArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// Sign injection: the magnitude of `rs1` with the sign of `rs2` (`Sgnj`),
/// its opposite (`Sgnjn`) or the two signs XORed (`Sgnjx`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FpSignOp {
    Sgnj,
    Sgnjn,
    Sgnjx,
}

/// Comparisons that write 1 or 0 to an integer register.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FpCompareOp {
    Eq,
    Lt,
    Le,
}

/// The fused multiply-adds: `rs1*rs2 + rs3`, `rs1*rs2 - rs3`,
/// `-(rs1*rs2) + rs3`, `-(rs1*rs2) - rs3`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FusedOp {
    Madd,
    Msub,
    Nmsub,
    Nmadd,
}

/// The integer side of an `fcvt`: `w` (i32), `wu` (u32), `l` (i64), `lu`
/// (u64); the `rs2` field of the encoding, in that order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IntWidth {
    W,
    Wu,
    L,
    Lu,
}

impl IntWidth {
    pub const ALL: [IntWidth; 4] = [IntWidth::W, IntWidth::Wu, IntWidth::L, IntWidth::Lu];

    /// The mnemonic part: `w`, `wu`, `l`, `lu`.
    pub fn name(self) -> &'static str {
        match self {
            IntWidth::W => "w",
            IntWidth::Wu => "wu",
            IntWidth::L => "l",
            IntWidth::Lu => "lu",
        }
    }
}

/// Bit-manipulation operations with one source (Zbb).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum UnaryOp {
    Clz,
    Ctz,
    Cpop,
    Clzw,
    Ctzw,
    Cpopw,
    SextB,
    SextH,
    ZextH,
    OrcB,
    Rev8,
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

/// Register-immediate ALU operations (OP-IMM and OP-IMM-32), with the
/// shifts by an immediate of Zba (`slli.uw`), Zbb (`rori`, `roriw`) and
/// Zbs (`bclri` ...).
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
    SlliUw,
    Rori,
    Roriw,
    Bclri,
    Bexti,
    Binvi,
    Bseti,
}

/// Register-register ALU operations (OP and OP-32, including the M
/// extension and the register forms of Zba, Zbb and Zbs).
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
    // Zba
    Sh1add,
    Sh2add,
    Sh3add,
    AddUw,
    Sh1addUw,
    Sh2addUw,
    Sh3addUw,
    // Zbb
    Andn,
    Orn,
    Xnor,
    Max,
    Maxu,
    Min,
    Minu,
    Rol,
    Ror,
    Rolw,
    Rorw,
    // Zbs
    Bclr,
    Bext,
    Binv,
    Bset,
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

/// The floating-point CSRs (F extension, 11.2): the accrued exception
/// flags, the dynamic rounding mode, and both together (`frm << 5 |
/// fflags`).
pub const CSR_FFLAGS: u16 = 0x001;
pub const CSR_FRM: u16 = 0x002;
pub const CSR_FCSR: u16 = 0x003;

/// One decoded RV64GC instruction.
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
    /// Zbb's one-source operations (`clz rd, rs1` ...).
    Unary {
        op: UnaryOp,
        rd: Reg,
        rs1: Reg,
    },
    /// `flw`/`fld`: `rd` = the value at `rs1 + offset` (a single NaN-boxed).
    FpLoad {
        width: FpWidth,
        rd: FReg,
        rs1: Reg,
        offset: i64,
    },
    /// `fsw`/`fsd`: stores `rs2` (a single's low 32 bits) at `rs1 + offset`.
    FpStore {
        width: FpWidth,
        rs1: Reg,
        rs2: FReg,
        offset: i64,
    },
    /// `fadd.d rd, rs1, rs2` and the other rounded two-source operations.
    FpArith {
        op: FpArithOp,
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rs2: FReg,
        rm: Rm,
    },
    /// `fsqrt.d rd, rs1`.
    FpSqrt {
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rm: Rm,
    },
    /// `fsgnj.d rd, rs1, rs2` and friends (`fmv.d`, `fneg.d`, `fabs.d`).
    FpSign {
        op: FpSignOp,
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rs2: FReg,
    },
    /// `fmin.d` (`max: false`) and `fmax.d`.
    FpMinMax {
        max: bool,
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rs2: FReg,
    },
    /// `fcvt.s.d` (`width` Single) and `fcvt.d.s` (`width` Double): to
    /// `width` from the other format.
    FpConvert {
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rm: Rm,
    },
    /// `feq.d rd, rs1, rs2`, `flt`, `fle`: `rd` (an integer register) = 1 or 0.
    FpCompare {
        op: FpCompareOp,
        width: FpWidth,
        rd: Reg,
        rs1: FReg,
        rs2: FReg,
    },
    /// `fclass.d rd, rs1`: the class mask in integer `rd`.
    FpClass {
        width: FpWidth,
        rd: Reg,
        rs1: FReg,
    },
    /// `fmv.x.w`/`fmv.x.d`: the bits of `rs1` to integer `rd` (a single's
    /// sign-extended).
    FpMoveToInt {
        width: FpWidth,
        rd: Reg,
        rs1: FReg,
    },
    /// `fmv.w.x`/`fmv.d.x`: the bits of integer `rs1` to `rd`.
    FpMoveFromInt {
        width: FpWidth,
        rd: FReg,
        rs1: Reg,
    },
    /// `fcvt.w.d rd, rs1` and the other float-to-integer conversions.
    FpToInt {
        int: IntWidth,
        width: FpWidth,
        rd: Reg,
        rs1: FReg,
        rm: Rm,
    },
    /// `fcvt.d.w rd, rs1` and the other integer-to-float conversions.
    IntToFp {
        int: IntWidth,
        width: FpWidth,
        rd: FReg,
        rs1: Reg,
        rm: Rm,
    },
    /// `fmadd.d rd, rs1, rs2, rs3` and the other fused multiply-adds.
    FpFused {
        op: FusedOp,
        width: FpWidth,
        rd: FReg,
        rs1: FReg,
        rs2: FReg,
        rs3: FReg,
        rm: Rm,
    },
}

/// Every floating-point instruction of format `width` (loads and stores
/// included), each once, with rounding mode `rm` where it has one. The
/// registers: `f = [rd, rs1, rs2, rs3]` where they are floating-point
/// ones, `x = [rd, rs1]` where integer ones (a load's or store's base is
/// `x[1]`, offset 0). The assembler finds mnemonics in this list, the
/// tests run all of it.
pub fn fp_instructions(width: FpWidth, rm: Rm, f: [FReg; 4], x: [Reg; 2]) -> Vec<Instruction> {
    use Instruction::*;
    let [rd, rs1, rs2, rs3] = f;
    let [xd, xs] = x;
    let mut all = vec![
        FpLoad {
            width,
            rd,
            rs1: xs,
            offset: 0,
        },
        FpStore {
            width,
            rs1: xs,
            rs2: rs1,
            offset: 0,
        },
        FpSqrt { width, rd, rs1, rm },
        FpConvert { width, rd, rs1, rm },
        FpClass { width, rd: xd, rs1 },
        FpMoveToInt { width, rd: xd, rs1 },
        FpMoveFromInt { width, rd, rs1: xs },
    ];
    for op in [
        FpArithOp::Add,
        FpArithOp::Sub,
        FpArithOp::Mul,
        FpArithOp::Div,
    ] {
        all.push(FpArith {
            op,
            width,
            rd,
            rs1,
            rs2,
            rm,
        });
    }
    for op in [FpSignOp::Sgnj, FpSignOp::Sgnjn, FpSignOp::Sgnjx] {
        all.push(FpSign {
            op,
            width,
            rd,
            rs1,
            rs2,
        });
    }
    for max in [false, true] {
        all.push(FpMinMax {
            max,
            width,
            rd,
            rs1,
            rs2,
        });
    }
    for op in [FpCompareOp::Eq, FpCompareOp::Lt, FpCompareOp::Le] {
        all.push(FpCompare {
            op,
            width,
            rd: xd,
            rs1,
            rs2,
        });
    }
    for int in IntWidth::ALL {
        all.push(FpToInt {
            int,
            width,
            rd: xd,
            rs1,
            rm,
        });
        all.push(IntToFp {
            int,
            width,
            rd,
            rs1: xs,
            rm,
        });
    }
    for op in [FusedOp::Madd, FusedOp::Msub, FusedOp::Nmsub, FusedOp::Nmadd] {
        all.push(FpFused {
            op,
            width,
            rd,
            rs1,
            rs2,
            rs3,
            rm,
        });
    }
    all
}

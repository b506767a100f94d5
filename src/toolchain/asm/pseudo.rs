//! Pseudo-instructions: each expands into one or more machine
//! instructions (the RISC-V unprivileged spec's list of pseudoinstructions
//! and the psABI's `call`/`tail`/`la`).
//!
//! Families of one shape are tables, read by one function each:
//! `UNARY` (`mv rd, rs` and friends, by `unary`), `BRANCH_ZERO` (`beqz rs,
//! target` ..., by `branch_zero`), `BRANCH_SWAPPED` (`bgt a, b, target` ...,
//! by `branch_swapped`) and `COUNTERS` (`rdcycle rd` ..., by
//! `read_counter`). The others are in `FORMS`, one function each: `j`,
//! `jr`, `ret`, `call`/`tail`, `la`/`lla`, `li`, `nop`, `csrr`.
//!
//! Every expansion has a size known from its operands alone (`li` needs a
//! constant, `la` is always `auipc` + `addi`), so the layout pass can place
//! the labels after it without knowing any address. `load_immediate` is
//! `li`'s expansion of a 64-bit constant.

use super::errors::{fail, Fail};
use super::expr::sext;
use super::instructions::{branch_to, jump_to};
use super::items::Fix;
use super::statement::{Form, Statement};
use crate::emu::instruction::*;

/// The pseudo-instructions that are not in a family table.
pub const FORMS: [(Form, &str); 10] = [
    (j, "j"),
    (jr, "jr"),
    (ret, "ret"),
    (|s| call(s, Reg::RA, Reg::RA), "call"),
    // psABI: `tail` jumps through t1 and discards the link.
    (|s| call(s, Reg::ZERO, Reg::T1), "tail"),
    (la, "la"),
    (la, "lla"),
    (li, "li"),
    (nop, "nop"),
    (csrr, "csrr"),
];

/// Builds the instruction of a `UNARY` form from `rd` and `rs`.
pub type Unary = fn(Reg, Reg) -> Instruction;

/// `op rd, rs`: one instruction of `rd` and one source register.
pub const UNARY: [(Unary, &str); 9] = [
    (|rd, rs| op_imm(ImmOp::Addi, rd, rs, 0), "mv"),
    (|rd, rs| op_imm(ImmOp::Xori, rd, rs, -1), "not"),
    (|rd, rs| op_reg(RegOp::Sub, rd, Reg::ZERO, rs), "neg"),
    (|rd, rs| op_reg(RegOp::Subw, rd, Reg::ZERO, rs), "negw"),
    (|rd, rs| op_imm(ImmOp::Addiw, rd, rs, 0), "sext.w"),
    (|rd, rs| op_imm(ImmOp::Sltiu, rd, rs, 1), "seqz"),
    (|rd, rs| op_reg(RegOp::Sltu, rd, Reg::ZERO, rs), "snez"),
    (|rd, rs| op_reg(RegOp::Slt, rd, rs, Reg::ZERO), "sltz"),
    (|rd, rs| op_reg(RegOp::Slt, rd, Reg::ZERO, rs), "sgtz"),
];

/// The `(op, rs1, rs2)` of a `BRANCH_ZERO` form's branch, from its `rs`.
pub type ZeroBranch = fn(Reg) -> (BranchOp, Reg, Reg);

/// `bxxz rs, target`: a branch comparing `rs` with zero.
pub const BRANCH_ZERO: [(ZeroBranch, &str); 6] = [
    (|rs| (BranchOp::Beq, rs, Reg::ZERO), "beqz"),
    (|rs| (BranchOp::Bne, rs, Reg::ZERO), "bnez"),
    (|rs| (BranchOp::Bge, Reg::ZERO, rs), "blez"),
    (|rs| (BranchOp::Bge, rs, Reg::ZERO), "bgez"),
    (|rs| (BranchOp::Blt, rs, Reg::ZERO), "bltz"),
    (|rs| (BranchOp::Blt, Reg::ZERO, rs), "bgtz"),
];

/// `bgt a, b, target` is `blt b, a, target`: the branch with swapped operands.
pub const BRANCH_SWAPPED: [(BranchOp, &str); 4] = [
    (BranchOp::Blt, "bgt"),
    (BranchOp::Bge, "ble"),
    (BranchOp::Bltu, "bgtu"),
    (BranchOp::Bgeu, "bleu"),
];

/// `fmv.d rd, rs` and friends: sign injection with `rs` twice (F, 11.6).
pub const FP_UNARY: [((FpSignOp, FpWidth), &str); 6] = [
    ((FpSignOp::Sgnj, FpWidth::Single), "fmv.s"),
    ((FpSignOp::Sgnj, FpWidth::Double), "fmv.d"),
    ((FpSignOp::Sgnjn, FpWidth::Single), "fneg.s"),
    ((FpSignOp::Sgnjn, FpWidth::Double), "fneg.d"),
    ((FpSignOp::Sgnjx, FpWidth::Single), "fabs.s"),
    ((FpSignOp::Sgnjx, FpWidth::Double), "fabs.d"),
];

/// `frcsr rd` and friends: `csrrs rd, csr, zero`.
pub const FP_CSR_READS: [(u16, &str); 3] = [
    (CSR_FCSR, "frcsr"),
    (CSR_FRM, "frrm"),
    (CSR_FFLAGS, "frflags"),
];

/// `fscsr [rd,] rs` and friends: `csrrw rd, csr, rs` (`rd` is `zero` when
/// left out); the `i` forms take a 5-bit immediate (`csrrwi`).
pub const FP_CSR_WRITES: [((u16, bool), &str); 5] = [
    ((CSR_FCSR, false), "fscsr"),
    ((CSR_FRM, false), "fsrm"),
    ((CSR_FFLAGS, false), "fsflags"),
    ((CSR_FRM, true), "fsrmi"),
    ((CSR_FFLAGS, true), "fsflagsi"),
];

/// `fmv.d rd, rs` and the other `FP_UNARY` forms.
pub fn fp_unary(s: &mut Statement, (op, width): (FpSignOp, FpWidth)) -> Result<(), Fail> {
    s.expect(&[2])?;
    let (rd, rs) = (s.freg(0)?, s.freg(1)?);
    s.fixed(Instruction::FpSign {
        op,
        width,
        rd,
        rs1: rs,
        rs2: rs,
    })
}

/// `fscsr [rd,] rs`, `fsrmi [rd,] imm` and the other `FP_CSR_WRITES`.
pub fn write_fp_csr(s: &mut Statement, csr: u16, immediate: bool) -> Result<(), Fail> {
    s.expect(&[1, 2])?;
    let (rd, source) = if s.count() == 2 {
        (s.reg(0)?, 1)
    } else {
        (Reg::ZERO, 0)
    };
    let (op, rs1) = if immediate {
        let v = s.constant(source)?;
        if !(0..=31).contains(&v) {
            return fail(s.column, format!("csr immediate {v} out of range 0..=31"));
        }
        (CsrOp::Csrrwi, Reg(v as u8))
    } else {
        (CsrOp::Csrrw, s.reg(source)?)
    };
    s.fixed(Instruction::Csr { op, rd, rs1, csr })
}

/// `rdcycle rd` and friends: the counter CSR each reads.
pub const COUNTERS: [(u16, &str); 3] = [
    (CSR_CYCLE, "rdcycle"),
    (CSR_TIME, "rdtime"),
    (CSR_INSTRET, "rdinstret"),
];

fn op_imm(op: ImmOp, rd: Reg, rs1: Reg, imm: i64) -> Instruction {
    Instruction::OpImm { op, rd, rs1, imm }
}

fn op_reg(op: RegOp, rd: Reg, rs1: Reg, rs2: Reg) -> Instruction {
    Instruction::Op { op, rd, rs1, rs2 }
}

/// `mv rd, rs` and the other `UNARY` forms.
pub fn unary(s: &mut Statement, make: Unary) -> Result<(), Fail> {
    s.expect(&[2])?;
    let (rd, rs) = (s.reg(0)?, s.reg(1)?);
    s.fixed(make(rd, rs))
}

/// `beqz rs, target` and the other `BRANCH_ZERO` forms.
pub fn branch_zero(s: &mut Statement, make: ZeroBranch) -> Result<(), Fail> {
    s.expect(&[2])?;
    let (op, rs1, rs2) = make(s.reg(0)?);
    branch_to(s, op, rs1, rs2, 1)
}

/// `bgt a, b, target` and the other `BRANCH_SWAPPED` forms.
pub fn branch_swapped(s: &mut Statement, op: BranchOp) -> Result<(), Fail> {
    s.expect(&[3])?;
    let (a, b) = (s.reg(0)?, s.reg(1)?);
    // Swapped operands: a > b is b < a.
    branch_to(s, op, b, a, 2)
}

/// `rdcycle rd` and the other `COUNTERS`: `csrrs rd, csr, zero`.
pub fn read_counter(s: &mut Statement, csr: u16) -> Result<(), Fail> {
    s.expect(&[1])?;
    let rd = s.reg(0)?;
    s.fixed(read_csr(rd, csr))
}

/// `csrr rd, csr`: `csrrs rd, csr, zero`.
fn csrr(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rd = s.reg(0)?;
    let csr = s.csr(1)?;
    s.fixed(read_csr(rd, csr))
}

fn read_csr(rd: Reg, csr: u16) -> Instruction {
    Instruction::Csr {
        op: CsrOp::Csrrs,
        rd,
        rs1: Reg::ZERO,
        csr,
    }
}

/// `j target`: `jal zero, target`.
fn j(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1])?;
    jump_to(s, Reg::ZERO, 0)
}

/// `jr rs`: `jalr zero, 0(rs)`.
fn jr(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1])?;
    let rs1 = s.reg(0)?;
    s.fixed(Instruction::Jalr {
        rd: Reg::ZERO,
        rs1,
        offset: 0,
    })
}

/// `ret`: `jalr zero, 0(ra)`.
fn ret(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[0])?;
    s.fixed(Instruction::Jalr {
        rd: Reg::ZERO,
        rs1: Reg::RA,
        offset: 0,
    })
}

/// `call target` / `tail target`: `auipc scratch` + `jalr link`, which
/// reach ±2 GiB. psABI: `call` uses ra for both.
fn call(s: &mut Statement, link: Reg, scratch: Reg) -> Result<(), Fail> {
    s.expect(&[1])?;
    let expr = s.expr(0)?;
    let auipc = Instruction::Auipc {
        rd: scratch,
        imm: 0,
    };
    s.inst(auipc, Some(expr.clone()), Fix::PcRelHi)?;
    let jalr = Instruction::Jalr {
        rd: link,
        rs1: scratch,
        offset: 0,
    };
    s.inst(jalr, Some(expr), Fix::PcRelLo)
}

/// `la rd, label` (and `lla`): `auipc rd` + `addi rd, rd`, pc-relative.
fn la(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rd = s.reg(0)?;
    let expr = s.expr(1)?;
    s.inst(
        Instruction::Auipc { rd, imm: 0 },
        Some(expr.clone()),
        Fix::PcRelHi,
    )?;
    s.inst(op_imm(ImmOp::Addi, rd, rd, 0), Some(expr), Fix::PcRelLo)
}

/// `li rd, constant`: as many instructions as `load_immediate` needs.
fn li(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rd = s.reg(0)?;
    let expr = s.expr(1)?;
    let Some(value) = expr.constant() else {
        return fail(expr.column, "`li` needs a constant; use `la` for a label");
    };
    for inst in load_immediate(rd, value) {
        s.fixed(inst)?;
    }
    Ok(())
}

/// `nop`: `addi zero, zero, 0` (RISC-V unprivileged spec, 2.4).
fn nop(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[0])?;
    s.fixed(op_imm(ImmOp::Addi, Reg::ZERO, Reg::ZERO, 0))
}

// ---------------------------------------------------------------------------
// li: loading a 64-bit constant

/// The shortest `lui`/`addi(w)`/`slli`/`srli` sequence this assembler knows
/// for `rd = value` (the recursive scheme of LLVM's RISCVMatInt):
/// a 32-bit value is `lui` + `addiw`; a larger one is the sequence for its
/// upper bits, shifted left, plus `addi` of the low 12 bits. A variant that
/// first builds `value << k` and shifts it back right wins when shorter.
pub fn load_immediate(rd: Reg, value: i64) -> Vec<Instruction> {
    let mut best = Vec::new();
    materialize(rd, value, &mut best);
    let leading = (value as u64).leading_zeros();
    if leading > 0 && leading < 64 {
        // Fill the vacated low bits with ones when that makes the constant simpler.
        for filled in [
            ((value as u64) << leading) as i64,
            (((value as u64) << leading) | ((1u64 << leading) - 1)) as i64,
        ] {
            let mut candidate = Vec::new();
            materialize(rd, filled, &mut candidate);
            candidate.push(op_imm(ImmOp::Srli, rd, rd, i64::from(leading)));
            if candidate.len() < best.len() {
                best = candidate;
            }
        }
    }
    best
}

fn materialize(rd: Reg, value: i64, out: &mut Vec<Instruction>) {
    if i32::try_from(value).is_ok() {
        return materialize_32(rd, value, out);
    }
    let lo12 = sext(value as u64, 12);
    let mut upper = value.wrapping_sub(lo12);
    // `upper` is not zero (value does not fit in 32 bits), so it has a lowest set bit.
    let mut shift = upper.trailing_zeros();
    upper >>= shift;
    if shift > 12 && !(-2048..2048).contains(&upper) && i32::try_from(upper << 12).is_ok() {
        // Let lui produce the low zeros instead of the shift.
        shift -= 12;
        upper <<= 12;
    }
    materialize(rd, upper, out);
    out.push(op_imm(ImmOp::Slli, rd, rd, i64::from(shift)));
    if lo12 != 0 {
        out.push(op_imm(ImmOp::Addi, rd, rd, lo12));
    }
}

/// A value that fits in 32 bits: `lui` and/or `addi(w)`.
fn materialize_32(rd: Reg, value: i64, out: &mut Vec<Instruction>) {
    let lo12 = sext(value as u64, 12);
    let hi20 = (value.wrapping_add(0x800) >> 12) & 0xf_ffff;
    let mut source = Reg::ZERO;
    if hi20 != 0 {
        out.push(Instruction::Lui {
            rd,
            imm: sext((hi20 as u64) << 12, 32),
        });
        source = rd;
    }
    if lo12 != 0 || hi20 == 0 {
        // After lui, addiw keeps the 32-bit wrap-around (0x7fffffff = lui 0x80000; addiw -1).
        let op = if hi20 != 0 { ImmOp::Addiw } else { ImmOp::Addi };
        out.push(op_imm(op, rd, source, lo12));
    }
}

//! Machine instructions: one function per operand form, each reading its
//! operands from a `Statement` and putting out one `Item::Inst`.
//!
//! | form   | syntax                                      | function                   |
//! |--------|---------------------------------------------|----------------------------|
//! | R-type | `add rd, rs1, rs2`                          | `register`                 |
//! | I-type | `addi rd, rs1, imm`                         | `immediate`                |
//! | load   | `ld rd, offset(rs1)`                        | `load`                     |
//! | store  | `sd rs2, offset(rs1)`                       | `store`                    |
//! | branch | `beq rs1, rs2, target`                      | `branch`                   |
//! | CSR    | `csrrw rd, csr, rs1`, `csrrwi rd, csr, 5`   | `csr`                      |
//! | atomic | `lr.d rd, (rs1)`, `amoadd.w rd, rs2, (rs1)` | `atomic`                   |
//! | unary  | `clz rd, rs1` (Zbb)                         | `unary_op`                 |
//! | FP     | `fadd.d fd, fs1, fs2[, rm]`, `fld fd, 8(sp)`, `fcvt.w.d rd, fs1, rtz`, ... | `floating` |
//! | U-type | `lui rd, imm`, `auipc rd, imm`              | `lui`, `auipc`             |
//! | jumps  | `jal [rd,] target`, `jalr rd, offset(rs1)`  | `jal`, `jalr`              |
//! | system | `fence [pred, succ]`, `ecall`, `ebreak`     | `fence`, `ecall`, `ebreak` |
//!
//! The families with many mnemonics (R-type to atomics) are dispatched
//! through the disassembler's tables (`emu::disasm`), so both spell every
//! instruction the same way; the floating-point ones through
//! `fp_template`, which finds the instruction whose disassembled mnemonic
//! is the word among `emu::fp_instructions`; the rest through `FORMS`. A rounding mode left out is the
//! one the disassembler leaves out (`disasm::default_rm`). The parser
//! (`parser::instruction`) picks the form. There are no compressed forms:
//! every instruction is 4 bytes, which the layout pass relies on.
//!
//! An immediate that may be a label or `%hi`/`%lo` stays an `Expr` with a
//! `Fix`; the resolve pass computes it and the encoder checks its range.

use super::errors::{fail, Fail};
use super::expr::Expr;
use super::items::Fix;
use super::statement::{lookup, Form, Statement};
use crate::emu::disasm::{default_rm, mnemonic, AMO_MNEMONICS};
use crate::emu::instruction::*;

/// The forms that are not a family of their own.
pub const FORMS: [(Form, &str); 8] = [
    (lui, "lui"),
    (auipc, "auipc"),
    (jal, "jal"),
    (jalr, "jalr"),
    (fence, "fence"),
    (fence, "fence.i"),
    (ecall, "ecall"),
    (ebreak, "ebreak"),
];

/// `add rd, rs1, rs2`
pub fn register(s: &mut Statement, op: RegOp) -> Result<(), Fail> {
    s.expect(&[3])?;
    let (rd, rs1, rs2) = (s.reg(0)?, s.reg(1)?, s.reg(2)?);
    s.fixed(Instruction::Op { op, rd, rs1, rs2 })
}

/// `addi rd, rs1, imm`, where imm may be `%lo(label)`.
pub fn immediate(s: &mut Statement, op: ImmOp) -> Result<(), Fail> {
    s.expect(&[3])?;
    let (rd, rs1) = (s.reg(0)?, s.reg(1)?);
    let expr = s.expr(2)?;
    let inst = Instruction::OpImm {
        op,
        rd,
        rs1,
        imm: 0,
    };
    s.inst(inst, Some(expr), Fix::Value)
}

/// `ld rd, offset(rs1)`
pub fn load(s: &mut Statement, op: LoadOp) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rd = s.reg(0)?;
    let (expr, rs1) = s.mem(1)?;
    let inst = Instruction::Load {
        op,
        rd,
        rs1,
        offset: 0,
    };
    s.inst(inst, Some(expr), Fix::Value)
}

/// `sd rs2, offset(rs1)`
pub fn store(s: &mut Statement, op: StoreOp) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rs2 = s.reg(0)?;
    let (expr, rs1) = s.mem(1)?;
    let inst = Instruction::Store {
        op,
        rs1,
        rs2,
        offset: 0,
    };
    s.inst(inst, Some(expr), Fix::Value)
}

/// `beq rs1, rs2, target`
pub fn branch(s: &mut Statement, op: BranchOp) -> Result<(), Fail> {
    s.expect(&[3])?;
    let (rs1, rs2) = (s.reg(0)?, s.reg(1)?);
    branch_to(s, op, rs1, rs2, 2)
}

/// `csrrw rd, csr, rs1` or, for the `i` forms, `csrrwi rd, csr, uimm5`.
pub fn csr(s: &mut Statement, op: CsrOp) -> Result<(), Fail> {
    s.expect(&[3])?;
    let rd = s.reg(0)?;
    let csr = s.csr(1)?;
    let rs1 = match op {
        CsrOp::Csrrw | CsrOp::Csrrs | CsrOp::Csrrc => s.reg(2)?,
        // The immediate forms put a 5-bit constant where rs1 goes.
        _ => {
            let v = s.constant(2)?;
            if !(0..=31).contains(&v) {
                return fail(s.column, format!("csr immediate {v} out of range 0..=31"));
            }
            Reg(v as u8)
        }
    };
    s.fixed(Instruction::Csr { op, rd, rs1, csr })
}

/// An atomic mnemonic with its suffixes: `amoadd.w.aqrl`.
#[derive(Clone, Copy)]
pub struct Atomic {
    op: AmoOp,
    width: AmoWidth,
    aq: bool,
    rl: bool,
}

/// `amoadd.w.aqrl` → (Add, Word, aq, rl); `None` if it is not one.
pub fn parse_amo(word: &str) -> Option<Atomic> {
    let mut parts = word.split('.');
    let op = lookup(&AMO_MNEMONICS, parts.next()?)?;
    let width = match parts.next()? {
        "w" => AmoWidth::Word,
        "d" => AmoWidth::Double,
        _ => return None,
    };
    let (aq, rl) = match parts.next() {
        None => (false, false),
        Some("aq") => (true, false),
        Some("rl") => (false, true),
        Some("aqrl") => (true, true),
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Atomic { op, width, aq, rl })
}

/// `lr.d rd, (rs1)` or `amoadd.w rd, rs2, (rs1)` (and `sc`).
pub fn atomic(s: &mut Statement, atomic: Atomic) -> Result<(), Fail> {
    let Atomic { op, width, aq, rl } = atomic;
    let (rd, rs1, rs2) = if op == AmoOp::Lr {
        // Load-reserved has no source register: rs2 is zero.
        s.expect(&[2])?;
        (s.reg(0)?, s.amo_address(1)?, Reg::ZERO)
    } else {
        s.expect(&[3])?;
        let (rd, rs2) = (s.reg(0)?, s.reg(1)?);
        (rd, s.amo_address(2)?, rs2)
    };
    s.fixed(Instruction::Amo {
        op,
        width,
        aq,
        rl,
        rd,
        rs1,
        rs2,
    })
}

/// `clz rd, rs1` and the other one-source operations (Zbb).
pub fn unary_op(s: &mut Statement, op: UnaryOp) -> Result<(), Fail> {
    s.expect(&[2])?;
    let (rd, rs1) = (s.reg(0)?, s.reg(1)?);
    s.fixed(Instruction::Unary { op, rd, rs1 })
}

/// The floating-point instruction spelled `word` (`fadd.d`), if any.
pub fn fp_template(word: &str) -> Option<Instruction> {
    if !word.starts_with('f') {
        return None;
    }
    [FpWidth::Single, FpWidth::Double]
        .into_iter()
        .flat_map(|width| fp_instructions(width, Rm::Dyn, [FReg(0); 4], [Reg(0); 2]))
        .find(|t| mnemonic(t) == word)
}

/// A floating-point instruction: the operands of `template`'s variant,
/// then an optional rounding mode for those that round.
pub fn floating(s: &mut Statement, template: Instruction) -> Result<(), Fail> {
    use Instruction::*;
    // The operands before the rounding mode, and whether one may follow.
    let (registers, rounds) = match template {
        FpLoad { .. } | FpStore { .. } => (2, false),
        FpArith { .. } => (3, true),
        FpSqrt { .. } | FpConvert { .. } | FpToInt { .. } | IntToFp { .. } => (2, true),
        FpSign { .. } | FpMinMax { .. } | FpCompare { .. } => (3, false),
        FpClass { .. } | FpMoveToInt { .. } | FpMoveFromInt { .. } => (2, false),
        FpFused { .. } => (4, true),
        _ => (0, false),
    };
    if rounds {
        s.expect(&[registers, registers + 1])?;
    } else {
        s.expect(&[registers])?;
    }
    let rm = if s.count() > registers {
        s.rm(registers)?
    } else {
        default_rm(&template)
    };
    let inst = match template {
        FpLoad { width, .. } => {
            let rd = s.freg(0)?;
            let (expr, rs1) = s.mem(1)?;
            let inst = FpLoad {
                width,
                rd,
                rs1,
                offset: 0,
            };
            return s.inst(inst, Some(expr), Fix::Value);
        }
        FpStore { width, .. } => {
            let rs2 = s.freg(0)?;
            let (expr, rs1) = s.mem(1)?;
            let inst = FpStore {
                width,
                rs1,
                rs2,
                offset: 0,
            };
            return s.inst(inst, Some(expr), Fix::Value);
        }
        FpArith { op, width, .. } => FpArith {
            op,
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rs2: s.freg(2)?,
            rm,
        },
        FpSqrt { width, .. } => FpSqrt {
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rm,
        },
        FpConvert { width, .. } => FpConvert {
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rm,
        },
        FpSign { op, width, .. } => FpSign {
            op,
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rs2: s.freg(2)?,
        },
        FpMinMax { max, width, .. } => FpMinMax {
            max,
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rs2: s.freg(2)?,
        },
        FpCompare { op, width, .. } => FpCompare {
            op,
            width,
            rd: s.reg(0)?,
            rs1: s.freg(1)?,
            rs2: s.freg(2)?,
        },
        FpClass { width, .. } => FpClass {
            width,
            rd: s.reg(0)?,
            rs1: s.freg(1)?,
        },
        FpMoveToInt { width, .. } => FpMoveToInt {
            width,
            rd: s.reg(0)?,
            rs1: s.freg(1)?,
        },
        FpMoveFromInt { width, .. } => FpMoveFromInt {
            width,
            rd: s.freg(0)?,
            rs1: s.reg(1)?,
        },
        FpToInt { int, width, .. } => FpToInt {
            int,
            width,
            rd: s.reg(0)?,
            rs1: s.freg(1)?,
            rm,
        },
        IntToFp { int, width, .. } => IntToFp {
            int,
            width,
            rd: s.freg(0)?,
            rs1: s.reg(1)?,
            rm,
        },
        FpFused { op, width, .. } => FpFused {
            op,
            width,
            rd: s.freg(0)?,
            rs1: s.freg(1)?,
            rs2: s.freg(2)?,
            rs3: s.freg(3)?,
            rm,
        },
        other => other,
    };
    s.fixed(inst)
}

/// `lui rd, imm20` (or `%hi(label)`)
fn lui(s: &mut Statement) -> Result<(), Fail> {
    upper(s, |rd| Instruction::Lui { rd, imm: 0 })
}

/// `auipc rd, imm20`
fn auipc(s: &mut Statement) -> Result<(), Fail> {
    upper(s, |rd| Instruction::Auipc { rd, imm: 0 })
}

/// The U-type forms: a register and the 20-bit upper field.
fn upper(s: &mut Statement, make: fn(Reg) -> Instruction) -> Result<(), Fail> {
    s.expect(&[2])?;
    let rd = s.reg(0)?;
    let expr = s.expr(1)?;
    s.inst(make(rd), Some(expr), Fix::Upper)
}

/// `jal target` (links in `ra`) or `jal rd, target`
fn jal(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1, 2])?;
    let (rd, target) = if s.count() == 1 {
        (Reg::RA, 0)
    } else {
        (s.reg(0)?, 1)
    };
    jump_to(s, rd, target)
}

/// `jalr rs1` (a call through a register), `jalr rd, offset(rs1)` or
/// `jalr rd, rs1, offset`
fn jalr(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1, 2, 3])?;
    let jalr = |rd, rs1| Instruction::Jalr { rd, rs1, offset: 0 };
    match s.count() {
        1 => {
            let rs1 = s.reg(0)?;
            s.fixed(jalr(Reg::RA, rs1))
        }
        2 => {
            let rd = s.reg(0)?;
            let (expr, rs1) = s.mem(1)?;
            s.inst(jalr(rd, rs1), Some(expr), Fix::Value)
        }
        _ => {
            let (rd, rs1) = (s.reg(0)?, s.reg(1)?);
            let expr = s.expr(2)?;
            s.inst(jalr(rd, rs1), Some(expr), Fix::Value)
        }
    }
}

/// `fence`, `fence rw,rw` and friends, `fence.i`: this machine has one
/// hart, so every fence is the same.
fn fence(s: &mut Statement) -> Result<(), Fail> {
    for i in 0..s.count() {
        let (set, at) = s.ident(i)?;
        if set.is_empty() || !set.chars().all(|c| "iorw".contains(c)) {
            return fail(at, format!("bad fence operand `{set}` (letters of `iorw`)"));
        }
    }
    s.expect(&[0, 2])?;
    s.fixed(Instruction::Fence)
}

fn ecall(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[0])?;
    s.fixed(Instruction::Ecall)
}

fn ebreak(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[0])?;
    s.fixed(Instruction::Ebreak)
}

/// A conditional branch to operand `target`.
pub fn branch_to(
    s: &mut Statement,
    op: BranchOp,
    rs1: Reg,
    rs2: Reg,
    target: usize,
) -> Result<(), Fail> {
    let expr = s.expr(target)?;
    let fix = target_fix(&expr)?;
    let inst = Instruction::Branch {
        op,
        rs1,
        rs2,
        offset: 0,
    };
    s.inst(inst, Some(expr), fix)
}

/// A `jal` to operand `target`.
pub fn jump_to(s: &mut Statement, rd: Reg, target: usize) -> Result<(), Fail> {
    let expr = s.expr(target)?;
    let fix = target_fix(&expr)?;
    s.inst(Instruction::Jal { rd, offset: 0 }, Some(expr), fix)
}

/// Branch/jump targets: a label is relative to the pc, a number already is
/// (as the disassembler prints it).
fn target_fix(expr: &Expr) -> Result<Fix, Fail> {
    if expr.modifier.is_some() {
        return fail(expr.column, "`%hi`/`%lo` cannot be a branch target");
    }
    Ok(if expr.label.is_some() {
        Fix::PcRelative
    } else {
        Fix::Value
    })
}

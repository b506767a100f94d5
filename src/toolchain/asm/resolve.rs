//! The resolve pass: fills every placeholder of an `Image` now that every
//! label has an address.
//!
//! For each `Patch`, in order: `evaluate` its expression (a label's
//! address, `.` the patch's own, plus the addend); for an instruction,
//! turn the value into its immediate by the patch's `Fix`
//! (`resolve_inst`) and encode it through `emu::encode`, so range checks
//! are the encoder's (`describe` names the allowed range); for data, check
//! the value fits its width (`resolve_data`). Every patch that fails is
//! reported at its line and column; the others are written.

use super::errors::{fail, AsmError, Fail};
use super::expr::{apply_modifier, sext, Expr, Modifier};
use super::items::Fix;
use super::layout::{Image, PatchKind};
use crate::emu::encode::{encode, EncodeError};
use crate::emu::instruction::Instruction;

/// Applies the patches of `image`; returns the errors of those that fail.
pub fn resolve(image: &mut Image) -> Vec<AsmError> {
    let mut errors = Vec::new();
    let patches = std::mem::take(&mut image.patches);
    for patch in &patches {
        let pc = image.bases[patch.section.index()] + patch.offset;
        let result = match &patch.kind {
            PatchKind::Inst { inst, expr, fix } => {
                resolve_inst(image, pc, *inst, expr.as_ref(), *fix).and_then(|inst| {
                    encode(&inst)
                        .map(|w| w.to_le_bytes().to_vec())
                        .map_err(|e| (patch.column, describe(&inst, e)))
                })
            }
            PatchKind::Data { width, expr } => resolve_data(image, pc, *width, expr),
        };
        match result {
            Ok(bytes) => {
                let at = patch.offset as usize;
                // Patches are only recorded in sections with contents (not bss).
                let section = image.contents.get_mut(patch.section.index());
                if let Some(slot) = section.and_then(|b| b.get_mut(at..at + bytes.len())) {
                    slot.copy_from_slice(&bytes);
                }
            }
            Err((column, message)) => errors.push(AsmError {
                line: patch.line,
                column,
                message,
            }),
        }
    }
    errors
}

/// The value of `expr` before `%hi`/`%lo`, with labels as addresses.
/// `.` is the address `here` of the instruction or data item (as in GNU as).
fn evaluate(image: &Image, expr: &Expr, here: u64) -> Result<i64, Fail> {
    let base = match &expr.label {
        None => 0,
        Some((name, _)) if name == "." => here as i64,
        Some((name, column)) => match image.address(name) {
            Some(address) => address as i64,
            None => {
                // A local label's internal name is `number:k` (expr::local_name).
                let message = match name.split_once(':') {
                    Some((number, _)) => {
                        format!("no local label `{number}:` after `{number}f`")
                    }
                    None => format!("undefined label `{name}`"),
                };
                return fail(*column, message);
            }
        },
    };
    Ok(base.wrapping_add(expr.addend))
}

/// The instruction at `pc` with its immediate computed from `expr`.
fn resolve_inst(
    image: &Image,
    pc: u64,
    inst: Instruction,
    expr: Option<&Expr>,
    fix: Fix,
) -> Result<Instruction, Fail> {
    let Some(expr) = expr else {
        return Ok(inst);
    };
    let raw = evaluate(image, expr, pc)?;
    let value = match fix {
        Fix::Value => expr.modifier.map_or(raw, |m| apply_modifier(raw, m)),
        Fix::Upper => upper_field(expr, raw)?,
        Fix::PcRelative => raw.wrapping_sub(pc as i64),
        Fix::PcRelHi | Fix::PcRelLo => pc_relative_part(expr, raw, pc, fix)?,
    };
    Ok(set_immediate(inst, value))
}

/// `lui`/`auipc`: the 20-bit field as written (or `%hi(label)`), as the
/// sign-extended immediate the encoder takes.
fn upper_field(expr: &Expr, raw: i64) -> Result<i64, Fail> {
    let field = expr.modifier.map_or(raw, |m| apply_modifier(raw, m));
    if expr.label.is_some() && expr.modifier.is_none() {
        return fail(
            expr.column,
            "use `%hi(label)` for the upper part of an address",
        );
    }
    if !(0..=0xf_ffff).contains(&field) {
        return fail(
            expr.column,
            format!("upper immediate {field} out of range 0..=0xfffff"),
        );
    }
    Ok(sext((field as u64) << 12, 32))
}

/// The `auipc` part (`PcRelHi`) or the low part after it (`PcRelLo`) of
/// `label - auipc's pc`, for `la`, `call` and `tail`.
fn pc_relative_part(expr: &Expr, raw: i64, pc: u64, fix: Fix) -> Result<i64, Fail> {
    if expr.modifier.is_some() {
        return fail(expr.column, "`%hi`/`%lo` cannot be used here");
    }
    // The auipc sits at pc for PcRelHi and at pc - 4 for the PcRelLo that follows it.
    let auipc = if fix == Fix::PcRelHi {
        pc
    } else {
        pc.wrapping_sub(4)
    };
    let offset = if expr.label.is_some() {
        raw.wrapping_sub(auipc as i64)
    } else {
        raw
    };
    if !(-(1i64 << 31) - 0x800..(1i64 << 31) - 0x800).contains(&offset) {
        return fail(
            expr.column,
            format!("offset {offset} out of the ±2 GiB reach of auipc"),
        );
    }
    Ok(if fix == Fix::PcRelHi {
        sext((apply_modifier(offset, Modifier::Hi) as u64) << 12, 32)
    } else {
        apply_modifier(offset, Modifier::Lo)
    })
}

/// A data value at `here`, little-endian in `width` bytes.
fn resolve_data(image: &Image, here: u64, width: u8, expr: &Expr) -> Result<Vec<u8>, Fail> {
    let raw = evaluate(image, expr, here)?;
    let value = expr.modifier.map_or(raw, |m| apply_modifier(raw, m));
    let bits = u32::from(width) * 8;
    if bits < 64 {
        // Accept both the signed and the unsigned reading, as GNU as does.
        let min = -(1i64 << (bits - 1));
        let max = (1i64 << bits) - 1;
        if value < min || value > max {
            return fail(
                expr.column,
                format!("value {value} out of range {min}..={max} for {width} bytes"),
            );
        }
    }
    Ok(value.to_le_bytes()[..usize::from(width)].to_vec())
}

/// Replaces the immediate (or offset) of an instruction.
fn set_immediate(inst: Instruction, value: i64) -> Instruction {
    use Instruction::*;
    match inst {
        Lui { rd, .. } => Lui { rd, imm: value },
        Auipc { rd, .. } => Auipc { rd, imm: value },
        Jal { rd, .. } => Jal { rd, offset: value },
        Jalr { rd, rs1, .. } => Jalr {
            rd,
            rs1,
            offset: value,
        },
        Branch { op, rs1, rs2, .. } => Branch {
            op,
            rs1,
            rs2,
            offset: value,
        },
        Load { op, rd, rs1, .. } => Load {
            op,
            rd,
            rs1,
            offset: value,
        },
        Store { op, rs1, rs2, .. } => Store {
            op,
            rs1,
            rs2,
            offset: value,
        },
        OpImm { op, rd, rs1, .. } => OpImm {
            op,
            rd,
            rs1,
            imm: value,
        },
        FpLoad { width, rd, rs1, .. } => FpLoad {
            width,
            rd,
            rs1,
            offset: value,
        },
        FpStore {
            width, rs1, rs2, ..
        } => FpStore {
            width,
            rs1,
            rs2,
            offset: value,
        },
        other => other,
    }
}

/// An encoder error as an assembler message that names the allowed range.
fn describe(inst: &Instruction, error: EncodeError) -> String {
    match (inst, &error) {
        (
            Instruction::Branch { .. } | Instruction::Jal { .. },
            EncodeError::ImmediateOutOfRange {
                value, min, max, ..
            },
        ) => {
            format!("branch target out of range: offset {value} (allowed {min}..={max})")
        }
        (
            _,
            EncodeError::ImmediateOutOfRange {
                value, min, max, ..
            },
        ) => {
            format!("immediate {value} out of range {min}..={max}")
        }
        (_, EncodeError::OddOffset(offset)) => format!("branch target offset {offset} is odd"),
        _ => error.to_string(),
    }
}

//! The disassembler: `Instruction` → assembly text (placeholder until the
//! real one lands).
use super::instruction::Instruction;

/// The instruction as text, with branch targets as absolute addresses.
pub fn disassemble(inst: &Instruction, _pc: u64) -> String {
    format!("{inst:?}")
}

//! Expansion of compressed (RVC) instructions to their 32-bit equivalents.

use super::instruction::Instruction;

/// Expands one 16-bit instruction; `None` when illegal or reserved.
pub fn expand(_half: u16) -> Option<Instruction> {
    None
}

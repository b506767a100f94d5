//! The disassembler: `Instruction` → assembly text (placeholder).

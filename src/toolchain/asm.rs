//! The assembler (placeholder).

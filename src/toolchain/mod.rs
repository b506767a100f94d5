//! The toolchain (selfie's *starc*): the ELF writer, the assembler and the C* compiler.
pub mod asm;
pub mod cstar;
pub mod elf;

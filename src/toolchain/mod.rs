//! The toolchain (selfie's *starc*): the ELF writer (with the DWARF debug
//! information of `dwarf`), the assembler and the C* compiler, and `build_program`, which turns any program file `sim`
//! accepts into an ELF image.
pub mod asm;
pub mod cstar;
pub mod dwarf;
pub mod elf;

use std::path::{Path, PathBuf};

/// The largest ELF file `sim` reads. Files are read whole, so without a
/// bound `sim -u /dev/zero` would take all of the host's memory.
pub const MAX_ELF_FILE: u64 = 256 << 20;
/// The largest C* or assembly source file `sim` reads (selfie.c, the
/// largest C* program there is, is under 1 MiB).
pub const MAX_SOURCE_FILE: u64 = 16 << 20;

/// Reads the whole of `path`, or fails when it holds more than `limit`
/// bytes (an endless file such as `/dev/zero` too) without reading more.
///
/// # Errors
/// The I/O error, or `InvalidData` for a file beyond the limit.
pub fn read_file_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB, the most sim reads", limit >> 20),
        ));
    }
    Ok(bytes)
}

/// What kind of file a program path names, by its extension.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SourceKind {
    /// `.c`: C* source; also `.h`, as in selfie's `selfie -c selfie.h
    /// prog.c` (selfie.c with `main` renamed, used as a library).
    Cstar,
    /// `.s` or `.S`: RV64 assembly.
    Assembly,
    /// Anything else: an ELF executable.
    Elf,
}

impl SourceKind {
    pub fn of(path: &std::path::Path) -> SourceKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some("c" | "h") => SourceKind::Cstar,
            Some("s" | "S") => SourceKind::Assembly,
            _ => SourceKind::Elf,
        }
    }
}

/// Why a program could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Compiler or assembler diagnostics, one per line, each starting with
    /// `file:line:col:` (printed as they are).
    Diagnostics(String),
    /// Anything else (unreadable file, mixed kinds): a plain message.
    Other(String),
}

impl std::error::Error for BuildError {}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Diagnostics(s) | BuildError::Other(s) => f.write_str(s),
        }
    }
}

/// Reads the program files and returns an ELF image: an ELF file as it is,
/// `.s` files assembled, `.c` files compiled (several `.c` files form one
/// program). Compiler warnings are printed to stderr.
///
/// # Errors
/// A message naming the file and what is wrong (unreadable, compile or
/// assembly errors, one per line).
pub fn build_program(paths: &[PathBuf]) -> Result<Vec<u8>, BuildError> {
    use BuildError::Other;
    let Some(first) = paths.first() else {
        return Err(Other("no program file given".into()));
    };
    let kind = SourceKind::of(first);
    if paths.iter().any(|p| SourceKind::of(p) != kind) {
        return Err(Other(
            "cannot mix C*, assembly and ELF files in one program".into(),
        ));
    }
    match kind {
        SourceKind::Cstar => match cstar::compile_files(paths) {
            Ok(compiled) => {
                for warning in &compiled.warnings {
                    eprintln!("{warning}");
                }
                Ok(compiled.elf)
            }
            Err(errors) => Err(BuildError::Diagnostics(
                errors.to_string().trim_end().to_string(),
            )),
        },
        SourceKind::Assembly => {
            if paths.len() > 1 {
                return Err(Other("assemble one .s file at a time".into()));
            }
            let bytes = read_file_limited(first, MAX_SOURCE_FILE)
                .map_err(|e| Other(format!("{}: cannot read: {e}", first.display())))?;
            let source = String::from_utf8(bytes)
                .map_err(|_| Other(format!("{}: cannot read: not UTF-8 text", first.display())))?;
            asm_build(&source, &first.display().to_string())
        }
        SourceKind::Elf => {
            if paths.len() > 1 {
                return Err(Other("an ELF executable is one file".into()));
            }
            read_file_limited(first, MAX_ELF_FILE)
                .map_err(|e| Other(format!("{}: cannot read: {e}", first.display())))
        }
    }
}

fn asm_build(source: &str, name: &str) -> Result<Vec<u8>, BuildError> {
    asm::assemble(source, name)
        .map_err(|errors| BuildError::Diagnostics(errors.to_string().trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::SourceKind;
    use std::path::Path;

    #[test]
    fn kinds_by_extension() {
        let kind = |name: &str| SourceKind::of(Path::new(name));
        assert_eq!(kind("prog.c"), SourceKind::Cstar);
        assert_eq!(kind("selfie.h"), SourceKind::Cstar);
        assert_eq!(kind("boot.s"), SourceKind::Assembly);
        assert_eq!(kind("boot.S"), SourceKind::Assembly);
        assert_eq!(kind("selfie.m"), SourceKind::Elf);
        assert_eq!(kind("prog"), SourceKind::Elf);
    }
}

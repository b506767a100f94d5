//! The C* compiler (selfie's *starc*): C* source files → an ELF64 RISC-V
//! executable. The language is spec/cstar.md; the user guide docs/cstar.md.
//!
//! How control flows through `compile`:
//!
//! ```text
//!  each source file ──scanner::scan──► tokens ──parser::parse──► ast::Program
//!  prelude.c (built in) ─────────────────────────────────────────► ast::Program
//!        │ (stop here if there were errors)
//!        ▼
//!  codegen::generate: procedure table, _start, user procedures, then what
//!        │            they call from the prelude and the built-ins (builtins.rs)
//!        ▼
//!  emitter::Emitter::finish: layout, long branches where needed, encode
//!        ▼
//!  toolchain::elf::write_executable: code at 0x10000, data on the next page
//! ```
//!
//! Every stage reports into one `errors::Diagnostics` and carries on, so
//! one run reports as many errors as it can; no input panics.
//! Preprocessor lines (`#include ...`) are skipped, so that the same file
//! also builds with a C compiler.

mod ast;
mod builtins;
mod codegen;
mod emitter;
mod errors;
mod parser;
mod scanner;

use std::path::PathBuf;

pub use errors::{CompileErrors, Diagnostic, Severity};

use super::elf::{write_executable, Segment, SegmentFlags, Symbol};
use errors::{Diagnostics, Pos};

/// The prelude, compiled into every program (see docs/cstar.md).
pub const PRELUDE: &str = include_str!("prelude.c");

/// Where the code segment starts (as selfie and static Linux binaries).
pub const CODE_BASE: u64 = 0x10000;

const PAGE: u64 = 4096;

/// A compiled program.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The ELF64 RISC-V executable.
    pub elf: Vec<u8>,
    pub warnings: Vec<Diagnostic>,
}

/// Compiles the given files (name, text) into one program.
///
/// # Errors
/// Every syntax and semantic error found, each with file, line and column.
pub fn compile(sources: &[(String, String)]) -> Result<Compiled, CompileErrors> {
    let mut names: Vec<String> = sources.iter().map(|(name, _)| name.clone()).collect();
    let prelude_file = names.len() as u32;
    names.push("prelude.c".to_string());
    let mut diags = Diagnostics::new(names);

    let mut programs = Vec::with_capacity(sources.len());
    for (i, (_, text)) in sources.iter().enumerate() {
        let tokens = scanner::scan(text, i as u32, &mut diags);
        programs.push(parser::parse(&tokens, &mut diags));
    }
    let tokens = scanner::scan(PRELUDE, prelude_file, &mut diags);
    let prelude = parser::parse(&tokens, &mut diags);
    if diags.has_errors() {
        return Err(fail(diags));
    }

    let mut generated = codegen::generate(&programs, &prelude, &mut diags);
    if diags.has_errors() {
        return Err(fail(diags));
    }
    if generated.data.is_empty() {
        generated.data.resize(8, 0); // keep a data segment for gp to point at
    }
    let data_base = |code_size: u64| (CODE_BASE + code_size + PAGE - 1) & !(PAGE - 1);
    let code = match generated.emitter.finish(data_base) {
        Ok(code) => code,
        Err(message) => {
            diags.error(
                Pos {
                    file: 0,
                    line: 1,
                    column: 1,
                },
                message,
            );
            return Err(fail(diags));
        }
    };
    let code_bytes: Vec<u8> = code.words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let data_addr = data_base(code_bytes.len() as u64);

    let mut symbols = Vec::new();
    for (name, start, end) in &generated.procedures {
        let (start, end) = (code.offset(*start), code.offset(*end));
        symbols.push(Symbol {
            name: name.clone(),
            value: CODE_BASE + start,
            size: end.saturating_sub(start),
            is_function: true,
        });
    }
    for (name, offset) in &generated.globals {
        symbols.push(Symbol {
            name: name.clone(),
            value: data_addr + offset,
            size: 8,
            is_function: false,
        });
    }
    let data_len = generated.data.len() as u64;
    let segments = [
        Segment {
            vaddr: CODE_BASE,
            mem_size: code_bytes.len() as u64,
            data: code_bytes,
            flags: SegmentFlags::CODE,
        },
        Segment {
            vaddr: data_addr,
            data: generated.data,
            mem_size: data_len,
            flags: SegmentFlags::DATA,
        },
    ];
    let elf = write_executable(CODE_BASE, &segments, &symbols);
    let (_, warnings) = diags.finish();
    Ok(Compiled { elf, warnings })
}

fn fail(diags: Diagnostics) -> CompileErrors {
    let (errors, _) = diags.finish();
    CompileErrors {
        diagnostics: errors,
    }
}

/// Reads and compiles the given files.
///
/// # Errors
/// An unreadable file (named in the diagnostic), or what `compile` reports.
pub fn compile_files(paths: &[PathBuf]) -> Result<Compiled, CompileErrors> {
    let mut sources = Vec::with_capacity(paths.len());
    let mut unreadable = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => sources.push((name, String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => unreadable.push(Diagnostic {
                file: name.clone(),
                line: 1,
                column: 1,
                severity: Severity::Error,
                message: format!("cannot read '{name}': {e}"),
            }),
        }
    }
    if !unreadable.is_empty() {
        return Err(CompileErrors {
            diagnostics: unreadable,
        });
    }
    compile(&sources)
}

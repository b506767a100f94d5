//! The driver: `compile` runs the stages over the sources (see mod.rs for
//! the picture), `compile_files` reads the files first. Both return every
//! diagnostic found, sorted by place.

use std::path::PathBuf;

use super::errors::{CompileErrors, Diagnostic, Diagnostics, Pos, Severity};
use super::{codegen, parser, scanner};
use crate::toolchain::elf::{write_executable, Segment, SegmentFlags, Symbol};

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

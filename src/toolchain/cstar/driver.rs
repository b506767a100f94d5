//! The driver: `compile` runs the stages over the sources (see mod.rs for
//! the picture), `compile_files` reads the files first. Both return every
//! diagnostic found, sorted by place.

use std::path::PathBuf;

use super::ast::{Returns, Type, Variable};
use super::codegen::{self, GlobalData, ProcedureCode};
use super::emitter::Code;
use super::errors::{CompileErrors, Diagnostic, Diagnostics, Pos, Severity};
use super::{parser, scanner};
use crate::toolchain::dwarf::{self, DebugInfo, Frame, Location, ValueType};
use crate::toolchain::elf::{write_executable_with, Section, Segment, SegmentFlags, Symbol};

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

/// Compiles the given files (name, text) into one program. The debug
/// information names the files as given, relative to the debugger's
/// current directory (`compile_files` records the compiler's).
///
/// # Errors
/// Every syntax and semantic error found, each with file, line and column.
pub fn compile(sources: &[(String, String)]) -> Result<Compiled, CompileErrors> {
    compile_in(sources, None)
}

fn compile_in(
    sources: &[(String, String)],
    comp_dir: Option<String>,
) -> Result<Compiled, CompileErrors> {
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
        Err(message) => return Err(program_error(diags, message)),
    };
    let code_bytes: Vec<u8> = code.words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let data_addr = data_base(code_bytes.len() as u64);

    let symbols = symbols(&generated.procedures, &generated.globals, &code, data_addr);
    let debug = debug_info(
        comp_dir,
        &diags,
        &generated.procedures,
        &generated.globals,
        &code,
        data_addr,
    );
    let debug_sections = match dwarf::sections(&debug) {
        Ok(sections) => sections,
        Err(message) => return Err(program_error(diags, message)),
    };
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
    let extra: Vec<Section> = debug_sections
        .into_iter()
        .map(|(name, data)| Section {
            name: name.to_string(),
            data,
        })
        .collect();
    let elf = write_executable_with(CODE_BASE, &segments, &symbols, &extra);
    let (_, warnings) = diags.finish();
    Ok(Compiled { elf, warnings })
}

/// The symbol table: every procedure (`_start` and the stubs too) as a
/// function with its size, every global as an object.
fn symbols(
    procedures: &[ProcedureCode],
    globals: &[GlobalData],
    code: &Code,
    data_addr: u64,
) -> Vec<Symbol> {
    let mut symbols = Vec::with_capacity(procedures.len() + globals.len());
    for p in procedures {
        let (start, end) = (code.offset(p.start), code.offset(p.end));
        symbols.push(Symbol {
            name: p.name.clone(),
            value: CODE_BASE + start,
            size: end.saturating_sub(start),
            is_function: true,
        });
    }
    for g in globals {
        symbols.push(Symbol {
            name: g.var.name.clone(),
            value: data_addr + g.offset,
            size: 8,
            is_function: false,
        });
    }
    symbols
}

fn value_type(var: &Variable) -> ValueType {
    match (var.ty, var.char_pointer) {
        (Type::Uint64, _) => ValueType::Uint64,
        (Type::Uint64Star, true) => ValueType::CharPointer,
        (Type::Uint64Star, false) => ValueType::Uint64Pointer,
    }
}

/// The debug information: a compile unit per source file (the prelude's
/// last), each procedure with its lines, parameters and locals (at the
/// frame offsets of codegen's convention), each global at its address.
fn debug_info(
    comp_dir: Option<String>,
    diags: &Diagnostics,
    procedures: &[ProcedureCode],
    globals: &[GlobalData],
    code: &Code,
    data_addr: u64,
) -> DebugInfo {
    let mut info = DebugInfo {
        comp_dir,
        producer: format!("sim {} C* compiler", env!("CARGO_PKG_VERSION")),
        units: Vec::new(),
        leaves: Vec::new(),
    };
    info.units = (0..diags.file_count())
        .map(|file| dwarf::CompileUnit {
            name: diags.file_name(file as u32).to_string(),
            functions: Vec::new(),
            globals: Vec::new(),
        })
        .collect();
    let variable = |var: &Variable, location| dwarf::Variable {
        name: var.name.clone(),
        ty: value_type(var),
        decl_line: var.pos.line,
        location,
    };
    for g in globals {
        if let Some(unit) = info.units.get_mut(g.var.pos.file as usize) {
            unit.globals
                .push(variable(&g.var, Location::Static(data_addr + g.offset)));
        }
    }
    // Line marks are in address order, as are procedures: walk both once.
    let mut marks = code.lines.iter().peekable();
    for p in procedures {
        let (low, high) = (
            CODE_BASE + code.offset(p.start),
            CODE_BASE + code.offset(p.end),
        );
        let Some(source) = &p.source else {
            info.leaves.push((low, high));
            continue;
        };
        let mut lines = Vec::new();
        while let Some(&&(offset, pos)) = marks.peek() {
            let address = CODE_BASE + offset;
            if address >= high {
                break;
            }
            if address >= low && pos.file == source.pos.file {
                lines.push((address, pos.line));
            }
            marks.next();
        }
        let function = dwarf::Function {
            name: p.name.clone(),
            low_pc: low,
            high_pc: high,
            decl_line: source.pos.line,
            returns: match source.returns {
                Returns::Void => None,
                Returns::Value(Type::Uint64) => Some(ValueType::Uint64),
                Returns::Value(Type::Uint64Star) => Some(ValueType::Uint64Pointer),
            },
            params: source
                .params
                .iter()
                .enumerate()
                .map(|(i, v)| variable(v, Location::Frame(16 + 8 * i as i64)))
                .collect(),
            locals: source
                .locals
                .iter()
                .enumerate()
                .map(|(j, v)| variable(v, Location::Frame(-8 * (j as i64 + 1))))
                .collect(),
            lines,
            frame: Frame::FramePointer {
                epilogue: CODE_BASE + code.offset(source.epilogue),
            },
        };
        if let Some(unit) = info.units.get_mut(source.pos.file as usize) {
            unit.functions.push(function);
        }
    }
    info
}

/// An error about the program as a whole (too large to lay out or to
/// describe), reported at its first file's start.
fn program_error(mut diags: Diagnostics, message: String) -> CompileErrors {
    let start = Pos {
        file: 0,
        line: 1,
        column: 1,
    };
    diags.error(start, message);
    fail(diags)
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
        match crate::toolchain::read_file_limited(path, crate::toolchain::MAX_SOURCE_FILE) {
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
    let comp_dir = std::env::current_dir()
        .ok()
        .map(|dir| dir.display().to_string());
    compile_in(&sources, comp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emu::{decode32, disassemble};

    /// The call-frame information (toolchain::dwarf, `Frame::FramePointer`)
    /// describes this prologue and epilogue instruction by instruction:
    /// if codegen changes them, this test says so.
    #[test]
    fn prologue_and_epilogue_are_what_the_frame_information_describes() {
        let source = "uint64_t f(uint64_t a) { uint64_t b; b = a; if (b) return 1; return b; }\n\
                      uint64_t main() { return f(2); }";
        let mut diags = Diagnostics::new(vec!["f.c".to_string(), "prelude.c".to_string()]);
        let program = parser::parse(&scanner::scan(source, 0, &mut diags), &mut diags);
        let prelude = parser::parse(&scanner::scan(PRELUDE, 1, &mut diags), &mut diags);
        let generated = codegen::generate(&[program], &prelude, &mut diags);
        assert!(!diags.has_errors());
        let f = generated
            .procedures
            .iter()
            .find(|p| p.name == "f")
            .expect("f was emitted");
        let (start, epilogue) = (f.start, f.source.as_ref().expect("C*").epilogue);
        let code = generated.emitter.finish(|_| 0x20000).expect("lays out");
        let at = |offset: u64, n: usize| -> Vec<String> {
            (0..n)
                .map(|i| {
                    let word = code.words[(offset / 4) as usize + i];
                    let inst = decode32(word).expect("decodes");
                    disassemble(&inst, 0)
                })
                .collect()
        };
        let prologue = at(code.offset(start), 4);
        let epilogue = at(code.offset(epilogue), 5);
        let expected_prologue = [
            "addi sp,sp,-16",
            "sd ra,8(sp)",
            "sd s0,0(sp)",
            "addi s0,sp,0",
        ];
        let expected_epilogue = [
            "addi sp,s0,0",
            "ld ra,8(sp)",
            "ld s0,0(sp)",
            "addi sp,sp,16",
            "jalr zero,0(ra)",
        ];
        assert_eq!(prologue, expected_prologue);
        assert_eq!(epilogue, expected_epilogue);
    }
}

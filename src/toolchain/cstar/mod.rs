//! The C* compiler (selfie's *starc*): C* source files → an ELF64 RISC-V
//! executable with a symbol table and DWARF debug information. The
//! language and its grammar are in docs/cstar.md; it accepts selfie.c as
//! published (docs/cstar.md, "Compiling selfie").
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
//!  emitter::Emitter::finish: layout, long branches where needed, encode;
//!        │            the statements' line marks become byte offsets
//!        ▼
//!  driver: symbols, and toolchain::dwarf::sections for the debug
//!        │ information (lines, procedures, variables, frames)
//!        ▼
//!  toolchain::elf::write_executable_with: code at 0x10000, data on the
//!                   next page, .debug_* sections, .symtab
//! ```
//!
//! Every stage reports into one `errors::Diagnostics` and carries on, so
//! one run reports as many errors as it can; no input panics.
//! Preprocessor lines (`#include ...`) are skipped, so that the same file
//! also builds with a C compiler; `__LINE__`, `__FILE__` and `__func__`
//! are replaced as a C compiler would (scanner, parser).

mod ast;
mod builtins;
mod codegen;
mod driver;
mod emitter;
mod errors;
mod parser;
mod scanner;

pub use driver::{compile, compile_files, Compiled, CODE_BASE, PRELUDE};
pub use errors::{CompileErrors, Diagnostic, Severity};

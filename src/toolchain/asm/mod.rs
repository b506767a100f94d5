//! The assembler: RV64 assembly text (RV64IMAFD, Zicsr, Zba, Zbb, Zbs;
//! no compressed forms) → ELF64 executable.
//!
//! It accepts exactly the syntax the disassembler prints (`emu::disasm`),
//! so a trace line can be pasted back, plus labels, comments (`#`, `//`),
//! the usual pseudo-instructions and data directives. The entry is
//! `assemble(text, file_name) -> Result<Vec<u8>, AsmErrors>`.
//!
//! How a `.s` file flows through `assemble`:
//!
//! ```text
//!  each line ──lexer::tokenize──► Tokens (Tok + column)
//!      │
//!      ▼  parser::parse_line, in the Scope of the lines before (scope.rs):
//!      │  labels, then one statement, read by its form:
//!      │  instructions.rs (machine instructions), pseudo.rs (expanded
//!      │  into them), directives.rs; operands through statement.rs,
//!      │  expressions through expr.rs
//!      ▼
//!  items::Line: labels and Items (instruction + Expr + Fix, data, bytes,
//!      │        fill, align) in one Section
//!      ▼  layout::Layout::place, line by line: labels get offsets, items
//!      │  placeholder bytes and Patches
//!      ▼  layout::Layout::finish: .text at 0x10000, then .rodata, .data,
//!      │  .bss, each on its own page
//!  layout::Image
//!      ▼  resolve::resolve: labels → addresses, each Fix applied, encoded
//!      │  through emu::encode (range checks are the encoder's)
//!      ▼  (stop here if there were errors)
//!  link::link: toolchain::elf::write_executable, a segment per section,
//!             a symbol per label, entry `_start` or the start of .text
//! ```
//!
//! Every instruction is 4 bytes (none is compressed) and every
//! pseudo-instruction has a size known from its operands alone (`li` needs
//! a constant), so one walk over the lines knows each label's offset and a
//! second (the resolve pass) can fill in every value.
//!
//! Errors do not stop the assembler: each is recorded with its line and
//! column (errors.rs) and the rest of its statement is skipped, so one run
//! reports all of them, sorted by position. Nothing derived from the input
//! is unwrapped, and arithmetic on input values is checked or explicitly
//! wrapping (two's complement, as GNU as computes).
//!
//! Branch and jump operands are labels or numbers; a number is a byte
//! offset relative to the instruction (as `disasm` prints it), not an
//! absolute address as in GNU as. As in GNU as, `.` is the current address
//! (`j .`), and numeric local labels (`1:`) are referenced as `1b`/`1f`.

mod directives;
mod errors;
mod expr;
mod instructions;
mod items;
mod layout;
mod lexer;
mod link;
mod parser;
mod pseudo;
mod resolve;
mod scope;
mod statement;

pub use errors::{AsmError, AsmErrors};
pub use layout::TEXT_BASE;
pub use pseudo::load_immediate;

use layout::Layout;
use scope::Scope;

/// Assembles `source` into an ELF64 RISC-V executable.
///
/// # Errors
/// All diagnostics of the source (unknown mnemonic or register, wrong
/// operands, immediate or branch target out of range, undefined or duplicate
/// label, bad directive), each with its line and column.
pub fn assemble(source: &str, file_name: &str) -> Result<Vec<u8>, AsmErrors> {
    let mut scope = Scope::new();
    let mut layout = Layout::new();
    let mut errors = Vec::new();
    for (index, text) in source.lines().enumerate() {
        let number = index + 1;
        let failures = match lexer::tokenize(text) {
            Ok(tokens) => layout.place(number, parser::parse_line(&mut scope, number, &tokens)),
            Err(e) => vec![e],
        };
        errors.extend(failures.into_iter().map(|(column, message)| AsmError {
            line: number,
            column,
            message,
        }));
    }
    let mut image = layout.finish();
    errors.extend(resolve::resolve(&mut image));
    if !errors.is_empty() {
        // Stable: errors at one position keep the order they were found in.
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(AsmErrors {
            file_name: file_name.to_string(),
            errors,
        });
    }
    Ok(link::link(image))
}

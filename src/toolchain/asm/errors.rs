//! Diagnostics: `AsmError` (one error at a line and column), `AsmErrors`
//! (every error of one `assemble` call, Displayed one per line as
//! `file:line:col: message`), and `Fail`, an error inside one line.
//!
//! The lexer, the parser and the layout pass work on one line at a time
//! and know only columns, so they return `Fail`; `assemble` (mod.rs)
//! attaches the line number. The resolve pass knows each patch's line and
//! makes `AsmError`s itself.

use std::fmt;

/// One diagnostic, at a 1-based line and column (in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every diagnostic of one `assemble` call, Displayed one per line as
/// `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmErrors {
    pub file_name: String,
    pub errors: Vec<AsmError>,
}

impl fmt::Display for AsmErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.file_name, e.line, e.column, e.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for AsmErrors {}

/// A diagnostic before its line number is attached: column and message.
pub type Fail = (usize, String);

pub fn fail<T>(column: usize, message: impl Into<String>) -> Result<T, Fail> {
    Err((column, message.into()))
}

//! Diagnostics: every error and warning the compiler reports, with the file,
//! line and column it is about.
//!
//! The scanner, the parser and the code generator each push `Diagnostic`s
//! into a `Diagnostics` sink and keep going; `compile` turns the sink into
//! `Compiled::warnings` or `CompileErrors` at the end.

use std::fmt;

/// Whether a diagnostic stops compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One message about a place in a source file. Lines and columns count from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, kind, self.message
        )
    }
}

/// The errors of a failed compilation, in the order they were found. Its
/// `Display` prints one `file:line:col: error: message` per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}

/// A place in the sources: an index into the list of file names, line, column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: u32,
    pub line: u32,
    pub column: u32,
}

/// Collects diagnostics while the compiler runs.
#[derive(Debug, Default)]
pub struct Diagnostics {
    files: Vec<String>,
    /// Each diagnostic with its position, to sort by place at the end.
    list: Vec<(Pos, Diagnostic)>,
}

/// More errors than this are not worth reading; the rest are dropped so
/// that a binary file does not produce megabytes of messages.
const MAX_ERRORS: usize = 100;

impl Diagnostics {
    pub fn new(files: Vec<String>) -> Diagnostics {
        Diagnostics {
            files,
            list: Vec::new(),
        }
    }

    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        if self.list.len() >= MAX_ERRORS {
            return;
        }
        let file = self
            .files
            .get(pos.file as usize)
            .cloned()
            .unwrap_or_default();
        let diagnostic = Diagnostic {
            file,
            line: pos.line,
            column: pos.column,
            severity,
            message,
        };
        self.list.push((pos, diagnostic));
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }

    pub fn warning(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Warning, message.into());
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|(_, d)| d.severity == Severity::Error)
    }

    /// Splits into (errors, warnings), each in the order of the sources
    /// (code generation meets procedures in call order, not file order).
    pub fn finish(mut self) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        self.list
            .sort_by_key(|(pos, _)| (pos.file, pos.line, pos.column));
        self.list
            .into_iter()
            .map(|(_, d)| d)
            .partition(|d| d.severity == Severity::Error)
    }
}

impl Diagnostics {
    /// How many files there are (the sources and the prelude).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The name of file `file` ("" when there is no such file).
    pub fn file_name(&self, file: u32) -> &str {
        self.files.get(file as usize).map_or("", |f| f.as_str())
    }

    /// `file:line:col` of a position, for messages that point elsewhere.
    pub fn describe(&self, pos: Pos) -> String {
        let file = self
            .files
            .get(pos.file as usize)
            .map_or("?", |f| f.as_str());
        format!("{file}:{}:{}", pos.line, pos.column)
    }
}

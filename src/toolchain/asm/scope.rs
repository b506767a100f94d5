//! What the parser remembers from one line to the next: `Scope`, the
//! current section and the names defined so far: labels (with the line
//! that defined them), `.equ` constants, and how often each numeric local
//! label (`1:`) was defined.
//!
//! Names are checked here, as the lines come: a label defined twice, a
//! label that is already a constant, or a constant that is already a
//! label. A label's address is not here; the layout pass assigns it.
//! Expressions are parsed in a scope (`Scope::expr`), so that a constant
//! is its value from the line on where it is defined, and `1b` means the
//! last `1:` above.

use std::collections::HashMap;

use super::errors::{fail, Fail};
use super::expr::{local_name, parse_expr, Expr};
use super::items::Section;
use super::lexer::Token;

/// The parser's memory of the lines before the current one.
pub struct Scope {
    /// The section that statements put their items into (`.text`, `.data`, ...).
    pub section: Section,
    /// The line where each label was defined, for "duplicate label" errors.
    labels: HashMap<String, usize>,
    constants: HashMap<String, i64>,
    /// How many times each numeric local label (`1:`) was defined so far.
    locals: HashMap<u64, usize>,
}

impl Scope {
    pub fn new() -> Self {
        Scope {
            section: Section::Text,
            labels: HashMap::new(),
            constants: HashMap::new(),
            locals: HashMap::new(),
        }
    }

    /// Defines label `name` on line `line`, unless the name is taken.
    pub fn define_label(&mut self, name: &str, column: usize, line: usize) -> Result<(), Fail> {
        if name == "." {
            return fail(column, "`.` is the current address and cannot be a label");
        }
        if let Some(previous) = self.labels.get(name) {
            return fail(
                column,
                format!("duplicate label `{name}` (first defined at line {previous})"),
            );
        }
        if self.constants.contains_key(name) {
            return fail(column, format!("`{name}` is already a constant"));
        }
        self.labels.insert(name.to_string(), line);
        Ok(())
    }

    /// Defines the next `number:` (they may repeat) and returns its
    /// internal name (see `expr::local_name`).
    pub fn define_local(
        &mut self,
        number: u64,
        column: usize,
        line: usize,
    ) -> Result<String, Fail> {
        let k = self.locals.get(&number).copied().unwrap_or(0);
        let name = local_name(number, k);
        let defined = self.define_label(&name, column, line);
        self.locals.insert(number, k + 1);
        defined.map(|()| name)
    }

    pub fn is_label(&self, name: &str) -> bool {
        self.labels.contains_key(name)
    }

    /// Defines (or redefines: `.set` may) a constant for the lines after.
    pub fn define_constant(&mut self, name: String, value: i64) {
        self.constants.insert(name, value);
    }

    /// Parses `tokens` as an expression with the names known so far.
    pub fn expr(&self, tokens: &[Token], column: usize) -> Result<Expr, Fail> {
        parse_expr(tokens, column, &self.constants, &self.locals)
    }
}

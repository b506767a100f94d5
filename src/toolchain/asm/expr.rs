//! Expressions: the tokens of one operand → an `Expr`, `[label] + addend`,
//! optionally wrapped in `%hi(...)` / `%lo(...)` (`Modifier`).
//!
//! `parse_expr` runs the recursive-descent `ExprParser`:
//! `expr := [+|-] term {(+|-) term}`,
//! `term := number | 'c' | name | 1b | 1f | %hi(expr) | %lo(expr) | (expr)`.
//! Constants (`.equ`) defined on earlier lines are substituted here, and
//! local label references (`1b`, `1f`) become the internal name of the
//! definition they mean (`local_name`), so an `Expr` holds at most one
//! label, whose address only the resolve pass knows. Arithmetic wraps
//! (two's complement), as GNU as computes.

use std::collections::HashMap;

use super::errors::{fail, Fail};
use super::lexer::{Tok, Token};
use crate::emu::instruction::Reg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    /// `%hi(x)`: the 20-bit upper field that, with `%lo(x)`, adds up to x.
    Hi,
    /// `%lo(x)`: the sign-extended low 12 bits.
    Lo,
}

/// `[label] + addend`, optionally wrapped in `%hi`/`%lo`.
#[derive(Clone, Debug)]
pub struct Expr {
    /// A label and the column where it is named.
    pub label: Option<(String, usize)>,
    pub addend: i64,
    pub modifier: Option<Modifier>,
    /// Where the expression starts, for errors about its value.
    pub column: usize,
}

impl Expr {
    /// A plain number.
    pub fn number(addend: i64, column: usize) -> Expr {
        Expr {
            label: None,
            addend,
            modifier: None,
            column,
        }
    }

    /// The value, if no label is involved.
    pub fn constant(&self) -> Option<i64> {
        match (&self.label, self.modifier) {
            (None, None) => Some(self.addend),
            (None, Some(m)) => Some(apply_modifier(self.addend, m)),
            _ => None,
        }
    }
}

pub fn apply_modifier(value: i64, modifier: Modifier) -> i64 {
    match modifier {
        // RISC-V psABI: %hi(x) = (x + 0x800) >> 12, so that %lo's sign extension cancels out.
        Modifier::Hi => (value.wrapping_add(0x800) >> 12) & 0xf_ffff,
        Modifier::Lo => sext(value as u64, 12),
    }
}

/// The low `bits` bits of `value`, sign-extended.
pub fn sext(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// Internal name of the `k`-th definition of local label `number`; the `:`
/// keeps it apart from every name a source can spell.
pub fn local_name(number: u64, k: usize) -> String {
    format!("{number}:{k}")
}

/// Parses the whole of `tokens` as one expression. `column` is where the
/// statement starts, for errors when the tokens run out.
///
/// `constants` are those defined so far; `locals` counts how often each
/// numeric local label was defined so far, so that `1b` is the last of
/// them and `1f` the next.
pub fn parse_expr(
    tokens: &[Token],
    column: usize,
    constants: &HashMap<String, i64>,
    locals: &HashMap<u64, usize>,
) -> Result<Expr, Fail> {
    let mut parser = ExprParser {
        tokens,
        at: 0,
        constants,
        locals,
        depth: 0,
    };
    let expr = parser.parse(column)?;
    if let Some(extra) = tokens.get(parser.at) {
        return fail(extra.column, "unexpected text after the expression");
    }
    Ok(expr)
}

/// Recursive-descent parser for `expr := [+|-] term {(+|-) term}`,
/// `term := number | 'c' | label | %hi(expr) | %lo(expr) | (expr)`.
struct ExprParser<'a> {
    tokens: &'a [Token],
    at: usize,
    constants: &'a HashMap<String, i64>,
    locals: &'a HashMap<u64, usize>,
    /// Nesting of parentheses, bounded so that `((((...` cannot overflow the stack.
    depth: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn parse(&mut self, column: usize) -> Result<Expr, Fail> {
        let start = self.peek().map_or(column, |t| t.column);
        let mut expr = Expr::number(0, start);
        let mut negative = false;
        let mut first = true;
        loop {
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Punct('+')) => self.at += 1,
                Some(Tok::Punct('-')) => {
                    negative = true;
                    self.at += 1;
                }
                _ if first => {}
                _ => break,
            }
            let term = self.term(column)?;
            if term.modifier.is_some() && !(first && self.peek().is_none()) {
                return fail(term.column, "`%hi`/`%lo` must be the whole operand");
            }
            if let Some(label) = term.label {
                if negative {
                    return fail(label.1, format!("cannot subtract label `{}`", label.0));
                }
                if expr.label.is_some() {
                    return fail(label.1, "at most one label per expression");
                }
                expr.label = Some(label);
            }
            expr.modifier = term.modifier;
            expr.addend = if negative {
                expr.addend.wrapping_sub(term.addend)
            } else {
                expr.addend.wrapping_add(term.addend)
            };
            negative = false;
            first = false;
        }
        Ok(expr)
    }

    fn term(&mut self, column: usize) -> Result<Expr, Fail> {
        let Some(token) = self.peek().cloned() else {
            let at = self.tokens.last().map_or(column, |t| t.column);
            return fail(at, "expected a value");
        };
        self.at += 1;
        match token.tok {
            Tok::Num(n) => Ok(Expr::number(n as i64, token.column)),
            Tok::Char(c) => Ok(Expr::number(i64::from(c), token.column)),
            Tok::Ident(name) => self.name(name, token.column),
            Tok::LocalRef { number, forward } => {
                self.local_reference(number, forward, token.column)
            }
            Tok::Punct('%') => self.modified(token.column),
            Tok::Punct('(') => {
                self.at -= 1;
                self.parenthesized(token.column)
            }
            Tok::Str(_) => fail(token.column, "unexpected string"),
            Tok::Punct(c) => fail(token.column, format!("unexpected `{c}`")),
        }
    }

    /// A constant's value, else a label (registers are neither).
    fn name(&self, name: String, column: usize) -> Result<Expr, Fail> {
        if let Some(&v) = self.constants.get(&name) {
            return Ok(Expr::number(v, column));
        }
        if Reg::parse(&name).is_some() {
            return fail(column, format!("expected a value, found register `{name}`"));
        }
        Ok(label(name, column))
    }

    /// `1b`: the last definition of `1:` so far; `1f`: the next one.
    fn local_reference(&self, number: u64, forward: bool, column: usize) -> Result<Expr, Fail> {
        let defined = self.locals.get(&number).copied().unwrap_or(0);
        let k = match (forward, defined.checked_sub(1)) {
            (true, _) => defined,
            (false, Some(previous)) => previous,
            (false, None) => {
                return fail(
                    column,
                    format!("no local label `{number}:` before `{number}b`"),
                )
            }
        };
        Ok(label(local_name(number, k), column))
    }

    /// `%hi(expr)` or `%lo(expr)`, the `%` at `column` already read.
    fn modified(&mut self, column: usize) -> Result<Expr, Fail> {
        let modifier = match self.peek().map(|t| &t.tok) {
            Some(Tok::Ident(m)) if m == "hi" => Modifier::Hi,
            Some(Tok::Ident(m)) if m == "lo" => Modifier::Lo,
            _ => return fail(column, "expected `%hi(...)` or `%lo(...)`"),
        };
        self.at += 1;
        let mut inner = self.parenthesized(column)?;
        if inner.modifier.is_some() {
            return fail(column, "nested `%hi`/`%lo`");
        }
        inner.modifier = Some(modifier);
        inner.column = column;
        Ok(inner)
    }

    fn parenthesized(&mut self, column: usize) -> Result<Expr, Fail> {
        if self.peek().map(|t| &t.tok) != Some(&Tok::Punct('(')) {
            return fail(column, "expected `(`");
        }
        self.at += 1;
        if self.depth >= 32 {
            return fail(column, "parentheses nested too deeply");
        }
        self.depth += 1;
        let inner = self.parse(column)?;
        self.depth -= 1;
        if self.peek().map(|t| &t.tok) != Some(&Tok::Punct(')')) {
            return fail(column, "expected `)`");
        }
        self.at += 1;
        Ok(inner)
    }
}

/// A label with no addend.
fn label(name: String, column: usize) -> Expr {
    Expr {
        label: Some((name, column)),
        ..Expr::number(0, column)
    }
}

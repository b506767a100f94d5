//! One statement as the forms see it: `Statement`, its word (mnemonic or
//! directive), its operands, the `Scope` it is read in, and the `Item`s it
//! puts out.
//!
//! Every form (in instructions.rs, pseudo.rs and directives.rs) is a
//! `Form`, a function of a `&mut Statement`. It checks the operand count
//! (`expect`), reads each operand by its index (`reg`, `expr`, `constant`,
//! `mem`, `amo_address`, `csr`, `ident`) and puts out items (`inst`,
//! `fixed`, `push`). The first error ends the statement; what it put out
//! before stays (see `items::Line`).

use super::errors::{fail, Fail};
use super::expr::Expr;
use super::items::{Fix, Item, Section};
use super::lexer::{Tok, Token};
use super::scope::Scope;
use crate::emu::disasm::CSR_NAMES;
use crate::emu::instruction::{FReg, Instruction, Reg, Rm};

/// How one mnemonic or directive reads its operands.
pub type Form = fn(&mut Statement) -> Result<(), Fail>;

/// The entry of `word` in a table of `(value, name)` pairs, such as the
/// disassembler's mnemonic tables or a table of forms.
pub fn lookup<T: Copy>(table: &[(T, &str)], word: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, n)| *n == word)
        .map(|(value, _)| *value)
}

/// A statement being read: what a form gets.
pub struct Statement<'a> {
    /// The mnemonic or directive, in lower case.
    pub word: String,
    /// Column of the word, for errors about the statement as a whole.
    pub column: usize,
    /// The operands: the tokens between top-level commas, none empty.
    pub operands: Vec<Vec<Token>>,
    pub scope: &'a mut Scope,
    /// What the statement puts out, in order.
    pub items: Vec<Item>,
}

impl<'a> Statement<'a> {
    /// The statement whose word is `word` (at `column`), followed by `tokens`.
    pub fn new(
        word: &str,
        column: usize,
        tokens: &[Token],
        scope: &'a mut Scope,
    ) -> Result<Self, Fail> {
        Ok(Statement {
            word: word.to_ascii_lowercase(),
            column,
            operands: split_operands(tokens, column)?,
            scope,
            items: Vec::new(),
        })
    }

    pub fn count(&self) -> usize {
        self.operands.len()
    }

    /// Checks that there are as many operands as one of `counts`.
    pub fn expect(&self, counts: &[usize]) -> Result<(), Fail> {
        if counts.contains(&self.count()) {
            return Ok(());
        }
        let wanted: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
        fail(
            self.column,
            format!(
                "`{}` takes {} operand{}, found {}",
                self.word,
                wanted.join(" or "),
                if counts == [1] { "" } else { "s" },
                self.count()
            ),
        )
    }

    // -----------------------------------------------------------------------
    // Reading operand `i` (the form has checked the count)

    pub fn reg(&self, i: usize) -> Result<Reg, Fail> {
        reg(&self.operands[i], self.column)
    }

    /// A floating-point register (`fa0`, `f10`).
    pub fn freg(&self, i: usize) -> Result<FReg, Fail> {
        match &self.operands[i][..] {
            [Token {
                tok: Tok::Ident(name),
                column,
            }] => FReg::parse(name).ok_or_else(|| {
                let hint = if Reg::parse(name).is_some() {
                    " (an integer register; this operand is a floating-point one)"
                } else {
                    ""
                };
                (
                    *column,
                    format!("unknown floating-point register `{name}`{hint}"),
                )
            }),
            [first, ..] => fail(first.column, "expected a floating-point register"),
            [] => fail(self.column, "expected a floating-point register"),
        }
    }

    /// A rounding mode: `rne`, `rtz`, `rdn`, `rup`, `rmm` or `dyn`.
    pub fn rm(&self, i: usize) -> Result<Rm, Fail> {
        let (name, column) = self.ident(i)?;
        Rm::ALL
            .iter()
            .find(|(_, _, n)| *n == name)
            .map(|(rm, _, _)| *rm)
            .ok_or((
                column,
                format!("unknown rounding mode `{name}` (rne, rtz, rdn, rup, rmm, dyn)"),
            ))
    }

    /// A name: `(name, column)`.
    pub fn ident(&self, i: usize) -> Result<(String, usize), Fail> {
        match &self.operands[i][..] {
            [Token {
                tok: Tok::Ident(name),
                column,
            }] => Ok((name.clone(), *column)),
            [first, ..] => fail(first.column, "expected a name"),
            [] => fail(self.column, "expected a name"),
        }
    }

    pub fn expr(&self, i: usize) -> Result<Expr, Fail> {
        self.scope.expr(&self.operands[i], self.column)
    }

    /// An expression that must not involve a label.
    pub fn constant(&self, i: usize) -> Result<i64, Fail> {
        constant(self.expr(i)?)
    }

    /// `offset(reg)`, `(reg)` or `%lo(x)(reg)`.
    pub fn mem(&self, i: usize) -> Result<(Expr, Reg), Fail> {
        let tokens = &self.operands[i][..];
        let at = tokens.first().map_or(self.column, |t| t.column);
        match tokens {
            [offset @ .., Token {
                tok: Tok::Punct('('),
                ..
            }, base, Token {
                tok: Tok::Punct(')'),
                ..
            }] => {
                let rs1 = reg(std::slice::from_ref(base), self.column)?;
                let expr = if offset.is_empty() {
                    Expr::number(0, at)
                } else {
                    self.scope.expr(offset, self.column)?
                };
                Ok((expr, rs1))
            }
            _ => fail(at, "expected a memory operand `offset(register)`"),
        }
    }

    /// The address of an atomic: `(reg)` or `0(reg)`.
    pub fn amo_address(&self, i: usize) -> Result<Reg, Fail> {
        let (expr, rs1) = self.mem(i)?;
        if expr.constant() != Some(0) {
            return fail(expr.column, "atomics take no offset: write `(register)`");
        }
        Ok(rs1)
    }

    /// A CSR by name (`cycle`, `time`, `instret`) or number (0..=0xfff).
    pub fn csr(&self, i: usize) -> Result<u16, Fail> {
        if let [Token {
            tok: Tok::Ident(name),
            ..
        }] = &self.operands[i][..]
        {
            if let Some((csr, _)) = CSR_NAMES.iter().find(|(_, n)| n == name) {
                return Ok(*csr);
            }
        }
        let value = self.constant(i)?;
        if !(0..=0xfff).contains(&value) {
            return fail(
                self.column,
                format!("csr number {value} out of range 0..=4095"),
            );
        }
        Ok(value as u16)
    }

    // -----------------------------------------------------------------------
    // Putting out items

    /// An instruction whose immediate the resolve pass takes from `expr`.
    pub fn inst(&mut self, inst: Instruction, expr: Option<Expr>, fix: Fix) -> Result<(), Fail> {
        if self.scope.section != Section::Text {
            return fail(self.column, "instructions belong in .text");
        }
        self.items.push(Item::Inst {
            inst,
            expr,
            fix,
            column: self.column,
        });
        Ok(())
    }

    /// An instruction complete as it is.
    pub fn fixed(&mut self, inst: Instruction) -> Result<(), Fail> {
        self.inst(inst, None, Fix::Value)
    }

    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }
}

/// The value of `expr`, which must not involve a label.
pub fn constant(expr: Expr) -> Result<i64, Fail> {
    match expr.constant() {
        Some(v) => Ok(v),
        None => fail(expr.column, "expected a constant, found a label"),
    }
}

fn reg(tokens: &[Token], column: usize) -> Result<Reg, Fail> {
    match tokens {
        [Token {
            tok: Tok::Ident(name),
            column,
        }] => Reg::parse(name).ok_or_else(|| {
            let hint = if FReg::parse(name).is_some() {
                " (a floating-point register; this operand is an integer one)"
            } else {
                ""
            };
            (*column, format!("unknown register `{name}`{hint}"))
        }),
        [first, ..] => fail(first.column, "expected a register"),
        [] => fail(column, "expected a register"),
    }
}

/// Splits the tokens after the mnemonic at top-level commas.
fn split_operands(tokens: &[Token], column: usize) -> Result<Vec<Vec<Token>>, Fail> {
    let mut list = Vec::new();
    if tokens.is_empty() {
        return Ok(list);
    }
    let mut current = Vec::new();
    let mut depth = 0usize;
    for t in tokens {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        if t.tok == Tok::Punct(',') && depth == 0 {
            if current.is_empty() {
                return fail(t.column, "empty operand");
            }
            list.push(std::mem::take(&mut current));
        } else {
            current.push(t.clone());
        }
    }
    if current.is_empty() {
        return fail(
            tokens.last().map_or(column, |t| t.column),
            "empty operand after `,`",
        );
    }
    list.push(current);
    Ok(list)
}

//! The parser: the tokens of one line → a `Line` (labels, then the items
//! of at most one statement), in the `Scope` of the lines before.
//!
//! `parse_line` takes the labels first (`name:` and numeric `1:`, several
//! may precede a statement), then hands the statement to its form by its
//! first word: a directive (it starts with a dot) through
//! `directives::DIRECTIVES`, a mnemonic through `instruction`, which tries
//! each family's table in turn. Which function reads which syntax is
//! listed in instructions.rs, pseudo.rs and directives.rs.

use super::directives::DIRECTIVES;
use super::errors::{fail, Fail};
use super::instructions;
use super::items::{Item, Line};
use super::lexer::{Tok, Token};
use super::pseudo;
use super::scope::Scope;
use super::statement::{lookup, Statement};
use crate::emu::disasm::{
    BRANCH_MNEMONICS, CSR_MNEMONICS, IMM_MNEMONICS, LOAD_MNEMONICS, REG_MNEMONICS, STORE_MNEMONICS,
    UNARY_MNEMONICS,
};

/// Parses line `number`, whose tokens are `tokens`, in `scope`, which it
/// updates: labels, constants and the section are visible to the lines
/// after.
pub fn parse_line(scope: &mut Scope, number: usize, tokens: &[Token]) -> Line {
    let section = scope.section;
    let (labels, rest) = labels(scope, number, tokens);
    let (items, error) = statement(scope, rest);
    Line {
        section,
        labels,
        items,
        error,
    }
}

/// The labels at the start of a line, each defined in `scope` (or why
/// not), and the tokens after them.
fn labels<'t>(
    scope: &mut Scope,
    number: usize,
    tokens: &'t [Token],
) -> (Vec<Result<String, Fail>>, &'t [Token]) {
    let mut labels = Vec::new();
    let mut rest = tokens;
    while let [Token {
        tok: Tok::Ident(name),
        column,
    }, Token {
        tok: Tok::Punct(':'),
        ..
    }, tail @ ..] = rest
    {
        labels.push(
            scope
                .define_label(name, *column, number)
                .map(|()| name.clone()),
        );
        rest = tail;
    }
    // Numeric local labels (`1:`), which may be defined again and again.
    while let [Token {
        tok: Tok::Num(local),
        column,
    }, Token {
        tok: Tok::Punct(':'),
        ..
    }, tail @ ..] = rest
    {
        labels.push(scope.define_local(*local, *column, number));
        rest = tail;
    }
    (labels, rest)
}

/// The items of the statement in `tokens` (if any), and the error that
/// ended it.
fn statement(scope: &mut Scope, tokens: &[Token]) -> (Vec<Item>, Option<Fail>) {
    let Some((first, operands)) = tokens.split_first() else {
        return (Vec::new(), None);
    };
    let Tok::Ident(word) = &first.tok else {
        let error = (
            first.column,
            "expected a label, an instruction or a directive".into(),
        );
        return (Vec::new(), Some(error));
    };
    let mut s = match Statement::new(word, first.column, operands, scope) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    // Directives start with a dot; no mnemonic does.
    let result = if s.word.starts_with('.') {
        match lookup(&DIRECTIVES, &s.word) {
            Some(form) => form(&mut s),
            None => fail(s.column, format!("unknown directive `{}`", s.word)),
        }
    } else {
        instruction(&mut s)
    };
    (s.items, result.err())
}

/// An instruction or pseudo-instruction: the first table that has the
/// mnemonic names its form. The machine instruction families come first,
/// with the disassembler's tables; no mnemonic is in two tables.
fn instruction(s: &mut Statement) -> Result<(), Fail> {
    // A copy: the forms take the statement mutably.
    let word = s.word.clone();
    let word = word.as_str();
    if let Some(op) = lookup(&REG_MNEMONICS, word) {
        return instructions::register(s, op);
    }
    if let Some(op) = lookup(&IMM_MNEMONICS, word) {
        return instructions::immediate(s, op);
    }
    if let Some(op) = lookup(&LOAD_MNEMONICS, word) {
        return instructions::load(s, op);
    }
    if let Some(op) = lookup(&STORE_MNEMONICS, word) {
        return instructions::store(s, op);
    }
    if let Some(op) = lookup(&BRANCH_MNEMONICS, word) {
        return instructions::branch(s, op);
    }
    if let Some(op) = lookup(&CSR_MNEMONICS, word) {
        return instructions::csr(s, op);
    }
    if let Some(atomic) = instructions::parse_amo(word) {
        return instructions::atomic(s, atomic);
    }
    if let Some(op) = lookup(&UNARY_MNEMONICS, word) {
        return instructions::unary_op(s, op);
    }
    if let Some(template) = instructions::fp_template(word) {
        return instructions::floating(s, template);
    }
    if let Some(form) = lookup(&instructions::FORMS, word) {
        return form(s);
    }
    if let Some(make) = lookup(&pseudo::UNARY, word) {
        return pseudo::unary(s, make);
    }
    if let Some(make) = lookup(&pseudo::BRANCH_ZERO, word) {
        return pseudo::branch_zero(s, make);
    }
    if let Some(op) = lookup(&pseudo::BRANCH_SWAPPED, word) {
        return pseudo::branch_swapped(s, op);
    }
    if let Some(csr) = lookup(&pseudo::COUNTERS, word) {
        return pseudo::read_counter(s, csr);
    }
    if let Some(op) = lookup(&pseudo::FP_UNARY, word) {
        return pseudo::fp_unary(s, op);
    }
    if let Some(csr) = lookup(&pseudo::FP_CSR_READS, word) {
        return pseudo::read_counter(s, csr);
    }
    if let Some((csr, immediate)) = lookup(&pseudo::FP_CSR_WRITES, word) {
        return pseudo::write_fp_csr(s, csr, immediate);
    }
    if let Some(form) = lookup(&pseudo::FORMS, word) {
        return form(s);
    }
    fail(s.column, format!("unknown mnemonic `{word}`"))
}

//! What the parser hands to the passes: one `Line` per source line, made
//! of the labels it defines and the `Item`s its statement puts into a
//! `Section`. An instruction item keeps the `Expr` of its immediate and a
//! `Fix` that says how the resolve pass turns that value into the field.
//!
//! Nothing here has an address yet: the layout pass gives every item its
//! offset, and the resolve pass its final bytes.

use super::errors::Fail;
use super::expr::Expr;
use crate::emu::instruction::Instruction;

/// The sections an image has, in the order they are laid out (`index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    Text,
    Rodata,
    Data,
    Bss,
}

/// Page size: each section starts on a page of its own, and `.balign`
/// cannot ask for more than that.
pub const PAGE: u64 = 4096;

impl Section {
    pub fn index(self) -> usize {
        match self {
            Section::Text => 0,
            Section::Rodata => 1,
            Section::Data => 2,
            Section::Bss => 3,
        }
    }
}

/// How an instruction's expression turns into its immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    /// The expression's value as is (after `%hi`/`%lo`).
    Value,
    /// The 20-bit field of `lui`/`auipc` (0..=0xfffff), shifted into place.
    Upper,
    /// `label - pc`: branch and jump targets.
    PcRelative,
    /// The high part of `label - pc` for an `auipc` (`la`, `call`, `tail`).
    PcRelHi,
    /// The low part for the instruction after that `auipc` (pc - 4).
    PcRelLo,
}

/// One thing a statement puts into its section.
#[derive(Clone, Debug)]
pub enum Item {
    /// A 4-byte instruction whose immediate comes from `expr` (if any).
    Inst {
        inst: Instruction,
        expr: Option<Expr>,
        fix: Fix,
        column: usize,
    },
    /// A `width`-byte little-endian value (`.byte` ... `.dword`).
    Data { width: u8, expr: Expr },
    /// Bytes as they are (`.string`, `.ascii`).
    Bytes { bytes: Vec<u8>, column: usize },
    /// `len` copies of `byte` (`.zero`, `.space`, `.skip`).
    Fill { len: u64, byte: u8, column: usize },
    /// Padding up to a multiple of `align` (`.align`, `.balign`).
    Align { align: u64, column: usize },
}

/// One source line, parsed.
#[derive(Clone, Debug)]
pub struct Line {
    /// The section its labels and items go into: the one in effect when
    /// the line starts (`.data` on a line switches for the lines after).
    pub section: Section,
    /// Each label the line defines (internal names for `1:`), or why it
    /// could not be defined. A bad label does not stop the line.
    pub labels: Vec<Result<String, Fail>>,
    /// The statement's items, in order, up to its first error.
    pub items: Vec<Item>,
    /// The statement's first error, after which it stopped. It is reported
    /// only if the items before it could all be placed: had one of them
    /// not fit, the statement would have stopped there.
    pub error: Option<Fail>,
}

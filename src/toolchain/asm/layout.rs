//! The layout pass: parsed `Line`s → an `Image`, the contents of every
//! section with placeholders where a value is not known yet, the address of
//! every label, and a `Patch` for every placeholder.
//!
//! `Layout::place` takes one line at a time, in order: each label gets the
//! current offset of the line's section, each item its bytes at the end of
//! that section (an instruction 4 zero bytes and a patch, a data value
//! `width` zero bytes and a patch). Every item's size is known from the
//! item alone, so one walk over the lines fixes every label's offset.
//! `Layout::finish` then lays the sections out: `.text` at `TEXT_BASE`,
//! then `.rodata`, `.data` and `.bss`, each starting on its own page.
//!
//! The resolve pass fills the placeholders; the link step writes the ELF.

use std::collections::HashMap;

use super::errors::{fail, Fail};
use super::expr::Expr;
use super::items::{Fix, Item, Line, Section, PAGE};
use crate::emu::instruction::Instruction;

/// Where `.text` is loaded (the usual base of static RISC-V Linux executables).
pub const TEXT_BASE: u64 = 0x10000;
/// Largest section we build, so that `.zero 1000000000000` is an error
/// rather than an allocation failure.
const MAX_SECTION: u64 = 64 << 20;

/// Where a label points: a section and an offset in it.
#[derive(Clone, Copy, Debug)]
pub struct Location {
    pub section: Section,
    pub offset: u64,
}

/// What goes into a placeholder.
#[derive(Clone, Debug)]
pub enum PatchKind {
    /// An instruction whose immediate comes from `expr` (if any).
    Inst {
        inst: Instruction,
        expr: Option<Expr>,
        fix: Fix,
    },
    /// A `width`-byte little-endian data value.
    Data { width: u8, expr: Expr },
}

/// A placeholder and the source position its errors are reported at.
#[derive(Clone, Debug)]
pub struct Patch {
    pub section: Section,
    pub offset: u64,
    pub line: usize,
    pub column: usize,
    pub kind: PatchKind,
}

/// The sections as laid out, before the patches are applied.
pub struct Image {
    /// Contents of text, rodata and data; bss only has a size.
    pub contents: [Vec<u8>; 3],
    pub bss_size: u64,
    /// Base address of each section, by `Section::index`.
    pub bases: [u64; 4],
    pub labels: HashMap<String, Location>,
    /// Labels in definition order, for a deterministic symbol table.
    pub label_order: Vec<String>,
    pub patches: Vec<Patch>,
}

impl Image {
    pub fn address(&self, name: &str) -> Option<u64> {
        self.labels
            .get(name)
            .map(|l| self.bases[l.section.index()] + l.offset)
    }
}

pub struct Layout {
    /// The section of the line being placed.
    section: Section,
    contents: [Vec<u8>; 3],
    bss_size: u64,
    labels: HashMap<String, Location>,
    label_order: Vec<String>,
    patches: Vec<Patch>,
}

impl Layout {
    pub fn new() -> Self {
        Layout {
            section: Section::Text,
            contents: [Vec::new(), Vec::new(), Vec::new()],
            bss_size: 0,
            labels: HashMap::new(),
            label_order: Vec::new(),
            patches: Vec::new(),
        }
    }

    /// Places line `number`; returns its errors (its own and those of
    /// placing it), in order.
    pub fn place(&mut self, number: usize, line: Line) -> Vec<Fail> {
        self.section = line.section;
        let mut errors = Vec::new();
        for label in line.labels {
            match label {
                Ok(name) => self.define(name),
                Err(e) => errors.push(e),
            }
        }
        for item in line.items {
            if let Err(e) = self.place_item(number, item) {
                // The statement stops here, so its own error is never reached.
                errors.push(e);
                return errors;
            }
        }
        errors.extend(line.error);
        errors
    }

    fn define(&mut self, name: String) {
        let location = Location {
            section: self.section,
            offset: self.offset(),
        };
        self.labels.insert(name.clone(), location);
        self.label_order.push(name);
    }

    fn place_item(&mut self, line: usize, item: Item) -> Result<(), Fail> {
        match item {
            Item::Inst {
                inst,
                expr,
                fix,
                column,
            } => self.placeholder(line, column, 4, PatchKind::Inst { inst, expr, fix }),
            Item::Data { width, expr } => {
                let column = expr.column;
                self.placeholder(line, column, width, PatchKind::Data { width, expr })
            }
            Item::Bytes { bytes, column } => self.emit(column, &bytes),
            Item::Fill { len, byte, column } => self.fill(column, len, byte),
            Item::Align { align, column } => self.align(column, align),
        }
    }

    fn offset(&self) -> u64 {
        match self.section {
            Section::Bss => self.bss_size,
            s => self.contents[s.index()].len() as u64,
        }
    }

    /// `len` zero bytes now, and a patch that fills them in the resolve pass.
    fn placeholder(
        &mut self,
        line: usize,
        column: usize,
        len: u8,
        kind: PatchKind,
    ) -> Result<(), Fail> {
        let offset = self.offset();
        self.emit(column, &[0; 8][..usize::from(len)])?;
        self.patches.push(Patch {
            section: self.section,
            offset,
            line,
            column,
            kind,
        });
        Ok(())
    }

    /// Appends bytes to the current section (or only counts them in bss).
    fn emit(&mut self, column: usize, bytes: &[u8]) -> Result<(), Fail> {
        let len = bytes.len() as u64;
        self.reserve(column, len)?;
        match self.section {
            Section::Bss => {
                if bytes.iter().any(|&b| b != 0) {
                    return fail(column, "only zeros (`.zero`, `.space`) can go in .bss");
                }
                self.bss_size += len;
            }
            s => self.contents[s.index()].extend_from_slice(bytes),
        }
        Ok(())
    }

    /// Checks that `len` more bytes keep the section within `MAX_SECTION`.
    fn reserve(&self, column: usize, len: u64) -> Result<(), Fail> {
        match self.offset().checked_add(len) {
            Some(end) if end <= MAX_SECTION => Ok(()),
            _ => fail(
                column,
                format!("section too large (limit {MAX_SECTION} bytes)"),
            ),
        }
    }

    /// `len` copies of `byte`, checked against the limit before anything
    /// is allocated.
    fn fill(&mut self, column: usize, len: u64, byte: u8) -> Result<(), Fail> {
        self.reserve(column, len)?;
        match self.section {
            // Zero copies of any byte are still only zeros.
            Section::Bss if byte != 0 && len > 0 => {
                fail(column, "only zeros (`.zero`, `.space`) can go in .bss")
            }
            Section::Bss => {
                self.bss_size += len;
                Ok(())
            }
            s => {
                let contents = &mut self.contents[s.index()];
                contents.resize(contents.len() + len as usize, byte);
                Ok(())
            }
        }
    }

    /// Pads to a multiple of `align`: with `nop`s in .text when the offset
    /// allows, so that falling through the padding is harmless, else zeros.
    fn align(&mut self, column: usize, align: u64) -> Result<(), Fail> {
        let pad = (align - self.offset() % align) % align;
        if self.section == Section::Text && self.offset().is_multiple_of(4) && pad.is_multiple_of(4)
        {
            // addi zero,zero,0 (RISC-V unprivileged spec, 2.4: NOP).
            let nop = 0x0000_0013u32.to_le_bytes();
            for _ in 0..pad / 4 {
                self.emit(column, &nop)?;
            }
            Ok(())
        } else {
            self.fill(column, pad, 0)
        }
    }

    /// Lays the sections out: text at `TEXT_BASE`, each next one on the
    /// page after the previous one ends.
    pub fn finish(self) -> Image {
        let sizes = [
            self.contents[0].len() as u64,
            self.contents[1].len() as u64,
            self.contents[2].len() as u64,
            self.bss_size,
        ];
        let mut bases = [TEXT_BASE; 4];
        let mut next = TEXT_BASE;
        for (i, size) in sizes.iter().enumerate() {
            bases[i] = next;
            // Sizes are bounded by MAX_SECTION, so this cannot overflow. Text
            // is always written, even empty, so it keeps its page for itself.
            next = (next + size).div_ceil(PAGE) * PAGE;
            if i == Section::Text.index() {
                next = next.max(TEXT_BASE + PAGE);
            }
        }
        Image {
            contents: self.contents,
            bss_size: self.bss_size,
            bases,
            labels: self.labels,
            label_order: self.label_order,
            patches: self.patches,
        }
    }
}

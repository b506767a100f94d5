//! Directives: `DIRECTIVES` maps each name to its form, one function per
//! kind:
//!
//! | directives                                | function  | effect                                            |
//! |-------------------------------------------|-----------|---------------------------------------------------|
//! | `.text` `.rodata` `.data` `.bss`          | `switch`  | the section of the lines after                    |
//! | `.section name`                           | `section` | the same, by name (`.rodata.str1.1` is `.rodata`) |
//! | `.globl` `.global` `.local`               | `symbol`  | checked, no effect: every label is a symbol       |
//! | `.type` `.size` `.file` `.ident` ...      | `ignored` | none (compiler output has them)                   |
//! | `.equ` `.set`                             | `equ`     | a constant for the lines after                    |
//! | `.byte` `.half` `.word` `.dword`, aliases | `data`    | `Item::Data` per value                            |
//! | `.string` `.asciz` `.ascii`               | `string`  | `Item::Bytes` per string (and its zero)           |
//! | `.zero` `.space` `.skip`                  | `zero`    | `Item::Fill`                                      |
//! | `.align` `.p2align` `.balign`             | `align`   | `Item::Align`                                     |
//!
//! The parser sends every word that starts with a dot here.

use super::errors::{fail, Fail};
use super::items::{Item, Section, PAGE};
use super::lexer::{Tok, Token};
use super::statement::{Form, Statement};

pub const DIRECTIVES: [(Form, &str); 35] = [
    (|s| switch(s, Section::Text), ".text"),
    (|s| switch(s, Section::Rodata), ".rodata"),
    (|s| switch(s, Section::Data), ".data"),
    (|s| switch(s, Section::Bss), ".bss"),
    (section, ".section"),
    (symbol, ".globl"),
    (symbol, ".global"),
    (symbol, ".local"),
    (ignored, ".type"),
    (ignored, ".size"),
    (ignored, ".file"),
    (ignored, ".ident"),
    (ignored, ".option"),
    (ignored, ".attribute"),
    (equ, ".equ"),
    (equ, ".set"),
    (|s| data(s, 1), ".byte"),
    (|s| data(s, 2), ".half"),
    (|s| data(s, 2), ".short"),
    (|s| data(s, 2), ".2byte"),
    (|s| data(s, 4), ".word"),
    (|s| data(s, 4), ".long"),
    (|s| data(s, 4), ".4byte"),
    (|s| data(s, 8), ".dword"),
    (|s| data(s, 8), ".quad"),
    (|s| data(s, 8), ".8byte"),
    (|s| string(s, true), ".string"),
    (|s| string(s, true), ".asciz"),
    (|s| string(s, false), ".ascii"),
    (zero, ".zero"),
    (zero, ".space"),
    (zero, ".skip"),
    (|s| align(s, Alignment::PowerOfTwo), ".align"),
    (|s| align(s, Alignment::PowerOfTwo), ".p2align"),
    (|s| align(s, Alignment::Bytes), ".balign"),
];

/// `.text`, `.data`, ...: switch to `section`.
fn switch(s: &mut Statement, section: Section) -> Result<(), Fail> {
    s.expect(&[0])?;
    s.scope.section = section;
    Ok(())
}

/// `.section name[, flags...]`: the flags are ignored.
fn section(s: &mut Statement) -> Result<(), Fail> {
    let Some(Token {
        tok: Tok::Ident(name),
        column,
    }) = s.operands.first().and_then(|t| t.first())
    else {
        return fail(s.column, "`.section` needs a section name");
    };
    s.scope.section = section_named(name).ok_or((
        *column,
        format!("unknown section `{name}` (known: .text, .rodata, .data, .bss)"),
    ))?;
    Ok(())
}

/// The section a `.section` name means: `.rodata.str1.1` and the like map
/// to their base section, the small-data sections to the plain ones.
fn section_named(name: &str) -> Option<Section> {
    let base = |prefix: &str| name == prefix || name.starts_with(&format!("{prefix}."));
    if base(".text") {
        Some(Section::Text)
    } else if base(".rodata") {
        Some(Section::Rodata)
    } else if base(".data") || base(".sdata") {
        Some(Section::Data)
    } else if base(".bss") || base(".sbss") {
        Some(Section::Bss)
    } else {
        None
    }
}

/// `.globl name`: every label is in the symbol table anyway.
fn symbol(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1])?;
    s.ident(0)?;
    Ok(())
}

/// Accepted for compatibility with compiler output; they do not change the image.
fn ignored(_: &mut Statement) -> Result<(), Fail> {
    Ok(())
}

/// `.equ name, constant`
fn equ(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[2])?;
    let (name, name_column) = s.ident(0)?;
    if s.scope.is_label(&name) {
        return fail(name_column, format!("`{name}` is already a label"));
    }
    let value = s.constant(1)?;
    s.scope.define_constant(name, value);
    Ok(())
}

/// `.word a, b, ...`: `width`-byte values, each may be a label (+ addend).
fn data(s: &mut Statement, width: u8) -> Result<(), Fail> {
    if s.count() == 0 {
        return fail(s.column, format!("`{}` needs at least one value", s.word));
    }
    if s.scope.section == Section::Bss {
        return fail(s.column, "only zeros (`.zero`, `.space`) can go in .bss");
    }
    for i in 0..s.count() {
        let expr = s.expr(i)?;
        s.push(Item::Data { width, expr });
    }
    Ok(())
}

/// `.string "a", "b"`: each string's bytes, `terminated` by a zero byte.
fn string(s: &mut Statement, terminated: bool) -> Result<(), Fail> {
    if s.count() == 0 {
        return fail(s.column, format!("`{}` needs a string", s.word));
    }
    for i in 0..s.count() {
        let (bytes, column) = match &s.operands[i][..] {
            [Token {
                tok: Tok::Str(bytes),
                column,
            }] => (bytes.clone(), *column),
            op => {
                let at = op.first().map_or(s.column, |t| t.column);
                return fail(at, "expected a string in double quotes");
            }
        };
        s.push(Item::Bytes { bytes, column });
        if terminated {
            // An item of its own: at the section's size limit the string
            // may still fit where its terminator does not.
            s.push(Item::Bytes {
                bytes: vec![0],
                column,
            });
        }
    }
    Ok(())
}

/// `.zero len[, fill]`: `len` bytes of `fill` (-128..=255, default 0).
fn zero(s: &mut Statement) -> Result<(), Fail> {
    s.expect(&[1, 2])?;
    let len = s.constant(0)?;
    let len = u64::try_from(len)
        .map_err(|_| (s.column, format!("negative size {len} for `{}`", s.word)))?;
    let fill = if s.count() > 1 { s.constant(1)? } else { 0 };
    if !(-128..=255).contains(&fill) {
        return fail(
            s.column,
            format!("fill value {fill} out of range -128..=255"),
        );
    }
    s.push(Item::Fill {
        len,
        byte: fill as u8,
        column: s.column,
    });
    Ok(())
}

/// What the operand of an alignment directive counts.
#[derive(Clone, Copy)]
enum Alignment {
    /// `.align N`, `.p2align N`: 2^N bytes (GNU as on RISC-V).
    PowerOfTwo,
    /// `.balign N`: N bytes.
    Bytes,
}

/// `.align 3` / `.balign 8`: pad to a multiple of 8 bytes.
fn align(s: &mut Statement, alignment: Alignment) -> Result<(), Fail> {
    s.expect(&[1])?;
    let n = s.constant(0)?;
    let align = match alignment {
        Alignment::Bytes => {
            if n <= 0 || n & (n - 1) != 0 || n as u64 > PAGE {
                return fail(
                    s.column,
                    format!("alignment {n} is not a power of two in 1..=4096"),
                );
            }
            n as u64
        }
        Alignment::PowerOfTwo => {
            if !(0..=12).contains(&n) {
                return fail(s.column, format!("alignment 2^{n} out of range 2^0..=2^12"));
            }
            1u64 << n
        }
    };
    s.push(Item::Align {
        align,
        column: s.column,
    });
    Ok(())
}

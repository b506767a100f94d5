//! The assembler: RV64IMAC assembly text → ELF64 executable.
//!
//! It accepts exactly the syntax the disassembler prints (`emu::disasm`),
//! so a trace line can be pasted back, plus labels, comments (`#`, `//`),
//! the usual pseudo-instructions and data directives.
//!
//! Control flow of `assemble`:
//!
//! 1. Pass 1, line by line: `tokenize` the line, take the labels
//!    (`name:`), then dispatch on the mnemonic or directive
//!    (`parse_instruction`, `parse_directive`). Every instruction is 4 bytes
//!    (none is compressed) and every pseudo-instruction has a size known from
//!    its operands alone (`li` needs a constant), so pass 1 knows each label's
//!    offset in its section. It writes placeholder bytes and records a
//!    `Patch` for every word that needs encoding.
//! 2. Layout: `.text` at 0x10000, then `.rodata`, `.data` and `.bss`, each
//!    starting on its own page (`layout`).
//! 3. Pass 2 (`apply_patches`): resolve labels to addresses, encode through
//!    `emu::encode` (so range checks are the encoder's, named in the
//!    message) and write the words.
//! 4. `elf::write_executable` with one segment per non-empty section and a
//!    symbol per label; the entry is `_start` if defined, else the start of
//!    `.text`.
//!
//! Errors do not stop either pass: each is recorded with its line and
//! column and the line is skipped, so one run reports all of them. Nothing
//! derived from the input is unwrapped, and arithmetic on input values is
//! checked or explicitly wrapping (two's complement, as GNU as computes).
//!
//! Branch and jump operands are labels or numbers; a number is a byte
//! offset relative to the instruction (as `disasm` prints it), not an
//! absolute address as in GNU as. As in GNU as, `.` is the current address
//! (`j .`), and numeric local labels (`1:`) are referenced as `1b`/`1f`.

use std::collections::HashMap;

mod errors;
mod expr;
mod lexer;

pub use errors::{AsmError, AsmErrors};

use super::elf::{write_executable, Segment, SegmentFlags, Symbol};
use crate::emu::disasm::{
    AMO_MNEMONICS, BRANCH_MNEMONICS, CSR_MNEMONICS, CSR_NAMES, IMM_MNEMONICS, LOAD_MNEMONICS,
    REG_MNEMONICS, STORE_MNEMONICS,
};
use crate::emu::encode::{encode, EncodeError};
use crate::emu::instruction::*;
use errors::{fail, Fail};
use expr::{apply_modifier, local_name, parse_expr, sext, Expr, Modifier};
use lexer::{tokenize, Tok, Token};

/// Where `.text` is loaded (the usual base of static RISC-V Linux executables).
pub const TEXT_BASE: u64 = 0x10000;
const PAGE: u64 = 4096;
/// Largest section we build, so that `.zero 1000000000000` is an error
/// rather than an allocation failure.
const MAX_SECTION: u64 = 64 << 20;

/// Assembles `source` into an ELF64 RISC-V executable.
///
/// # Errors
/// All diagnostics of the source (unknown mnemonic or register, wrong
/// operands, immediate or branch target out of range, undefined or duplicate
/// label, bad directive), each with its line and column.
pub fn assemble(source: &str, file_name: &str) -> Result<Vec<u8>, AsmErrors> {
    let mut asm = Assembler::new();
    for (index, line) in source.lines().enumerate() {
        asm.line = index + 1;
        asm.parse_line(line);
    }
    let bases = asm.layout();
    asm.apply_patches(&bases);
    if !asm.errors.is_empty() {
        let mut errors = asm.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(AsmErrors {
            file_name: file_name.to_string(),
            errors,
        });
    }
    Ok(asm.link(&bases))
}

// ---------------------------------------------------------------------------
// Sections and patches

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Section {
    Text,
    Rodata,
    Data,
    Bss,
}

const SECTIONS: [Section; 4] = [Section::Text, Section::Rodata, Section::Data, Section::Bss];

impl Section {
    fn index(self) -> usize {
        match self {
            Section::Text => 0,
            Section::Rodata => 1,
            Section::Data => 2,
            Section::Bss => 3,
        }
    }
}

/// How a patch's expression turns into the immediate of its instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
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

#[derive(Clone, Debug)]
enum PatchKind {
    /// An instruction whose immediate comes from `expr` (if any).
    Inst {
        inst: Instruction,
        expr: Option<Expr>,
        fix: Fix,
    },
    /// A `width`-byte little-endian data value.
    Data { width: u8, expr: Expr },
}

#[derive(Clone, Debug)]
struct Patch {
    section: Section,
    offset: u64,
    line: usize,
    column: usize,
    kind: PatchKind,
}

/// Where a label points: a section and an offset in it.
#[derive(Clone, Copy, Debug)]
struct LabelDef {
    section: Section,
    offset: u64,
    line: usize,
}

struct Assembler {
    line: usize,
    section: Section,
    /// Contents of text, rodata and data; bss only has a size.
    bytes: [Vec<u8>; 3],
    bss_size: u64,
    labels: HashMap<String, LabelDef>,
    /// Labels in definition order, for a deterministic symbol table.
    label_order: Vec<String>,
    constants: HashMap<String, i64>,
    /// How many times each numeric local label (`1:`) was defined so far.
    locals: HashMap<u64, usize>,
    patches: Vec<Patch>,
    errors: Vec<AsmError>,
}

/// The operands of one statement: comma-separated token lists.
struct Operands {
    list: Vec<Vec<Token>>,
    /// Column of the mnemonic, for errors about the statement as a whole.
    column: usize,
}

impl Operands {
    fn expect(&self, mnemonic: &str, counts: &[usize]) -> Result<(), Fail> {
        if counts.contains(&self.list.len()) {
            return Ok(());
        }
        let wanted: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
        fail(
            self.column,
            format!(
                "`{mnemonic}` takes {} operand{}, found {}",
                wanted.join(" or "),
                if counts == [1] { "" } else { "s" },
                self.list.len()
            ),
        )
    }
}

impl Assembler {
    fn new() -> Self {
        Assembler {
            line: 0,
            section: Section::Text,
            bytes: [Vec::new(), Vec::new(), Vec::new()],
            bss_size: 0,
            labels: HashMap::new(),
            label_order: Vec::new(),
            constants: HashMap::new(),
            locals: HashMap::new(),
            patches: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn error(&mut self, (column, message): Fail) {
        self.errors.push(AsmError {
            line: self.line,
            column,
            message,
        });
    }

    fn offset(&self) -> u64 {
        match self.section {
            Section::Bss => self.bss_size,
            s => self.bytes[s.index()].len() as u64,
        }
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
            s => self.bytes[s.index()].extend_from_slice(bytes),
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

    fn emit_zeros(&mut self, column: usize, len: u64) -> Result<(), Fail> {
        self.reserve(column, len)?;
        match self.section {
            Section::Bss => self.bss_size += len,
            s => {
                let bytes = &mut self.bytes[s.index()];
                bytes.resize(bytes.len() + len as usize, 0);
            }
        }
        Ok(())
    }

    fn push_inst(
        &mut self,
        column: usize,
        inst: Instruction,
        expr: Option<Expr>,
        fix: Fix,
    ) -> Result<(), Fail> {
        if self.section != Section::Text {
            return fail(column, "instructions belong in .text");
        }
        let offset = self.offset();
        self.emit(column, &[0; 4])?;
        self.patches.push(Patch {
            section: self.section,
            offset,
            line: self.line,
            column,
            kind: PatchKind::Inst { inst, expr, fix },
        });
        Ok(())
    }

    fn fixed(&mut self, column: usize, inst: Instruction) -> Result<(), Fail> {
        self.push_inst(column, inst, None, Fix::Value)
    }

    fn define_label(&mut self, name: &str, column: usize) -> Result<(), Fail> {
        if name == "." {
            return fail(column, "`.` is the current address and cannot be a label");
        }
        if let Some(previous) = self.labels.get(name) {
            return fail(
                column,
                format!(
                    "duplicate label `{name}` (first defined at line {})",
                    previous.line
                ),
            );
        }
        if self.constants.contains_key(name) {
            return fail(column, format!("`{name}` is already a constant"));
        }
        self.labels.insert(
            name.to_string(),
            LabelDef {
                section: self.section,
                offset: self.offset(),
                line: self.line,
            },
        );
        self.label_order.push(name.to_string());
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Pass 1

    fn parse_line(&mut self, line: &str) {
        let tokens = match tokenize(line) {
            Ok(t) => t,
            Err(e) => return self.error(e),
        };
        let mut rest = &tokens[..];
        // Labels: `name:` (several may precede one statement).
        while let [Token {
            tok: Tok::Ident(name),
            column,
        }, Token {
            tok: Tok::Punct(':'),
            ..
        }, tail @ ..] = rest
        {
            if let Err(e) = self.define_label(name, *column) {
                self.error(e);
            }
            rest = tail;
        }
        // Numeric local labels (`1:`), which may be defined again and again.
        while let [Token {
            tok: Tok::Num(number),
            column,
        }, Token {
            tok: Tok::Punct(':'),
            ..
        }, tail @ ..] = rest
        {
            let k = self.locals.get(number).copied().unwrap_or(0);
            if let Err(e) = self.define_label(&local_name(*number, k), *column) {
                self.error(e);
            }
            self.locals.insert(*number, k + 1);
            rest = tail;
        }
        let Some((first, operands)) = rest.split_first() else {
            return;
        };
        let Tok::Ident(word) = &first.tok else {
            return self.error((
                first.column,
                "expected a label, an instruction or a directive".into(),
            ));
        };
        let operands = match split_operands(operands, first.column) {
            Ok(ops) => ops,
            Err(e) => return self.error(e),
        };
        let word = word.to_ascii_lowercase();
        // Directives start with a dot; no mnemonic does.
        let result = if word.starts_with('.') {
            self.parse_directive(&word, &operands)
        } else {
            self.parse_instruction(&word, &operands)
        };
        if let Err(e) = result {
            self.error(e);
        }
    }

    /// Parses an expression operand, substituting constants defined so far.
    fn expr(&self, tokens: &[Token], column: usize) -> Result<Expr, Fail> {
        parse_expr(tokens, column, &self.constants, &self.locals)
    }

    fn constant(&self, tokens: &[Token], column: usize) -> Result<i64, Fail> {
        let expr = self.expr(tokens, column)?;
        match expr.constant() {
            Some(v) => Ok(v),
            None => fail(expr.column, "expected a constant, found a label"),
        }
    }

    fn parse_directive(&mut self, word: &str, ops: &Operands) -> Result<(), Fail> {
        let column = ops.column;
        match word {
            ".text" | ".data" | ".rodata" | ".bss" => {
                ops.expect(word, &[0])?;
                self.section = section_named(word).unwrap_or(Section::Text);
            }
            ".section" => {
                let Some(Token {
                    tok: Tok::Ident(name),
                    column,
                }) = ops.list.first().and_then(|t| t.first())
                else {
                    return fail(column, "`.section` needs a section name");
                };
                self.section = section_named(name).ok_or((
                    *column,
                    format!("unknown section `{name}` (known: .text, .rodata, .data, .bss)"),
                ))?;
            }
            ".globl" | ".global" | ".local" => {
                ops.expect(word, &[1])?;
                ident(&ops.list[0], column)?;
            }
            // Accepted for compatibility with compiler output; they do not
            // change the image.
            ".type" | ".size" | ".file" | ".ident" | ".option" | ".attribute" => {}
            ".equ" | ".set" => {
                ops.expect(word, &[2])?;
                let (name, name_column) = ident(&ops.list[0], column)?;
                if self.labels.contains_key(&name) {
                    return fail(name_column, format!("`{name}` is already a label"));
                }
                let value = self.constant(&ops.list[1], column)?;
                self.constants.insert(name, value);
            }
            ".byte" | ".half" | ".short" | ".2byte" | ".word" | ".long" | ".4byte" | ".dword"
            | ".quad" | ".8byte" => {
                let width = match word {
                    ".byte" => 1,
                    ".half" | ".short" | ".2byte" => 2,
                    ".word" | ".long" | ".4byte" => 4,
                    _ => 8,
                };
                if ops.list.is_empty() {
                    return fail(column, format!("`{word}` needs at least one value"));
                }
                if self.section == Section::Bss {
                    return fail(column, "only zeros (`.zero`, `.space`) can go in .bss");
                }
                for op in &ops.list {
                    let expr = self.expr(op, column)?;
                    let offset = self.offset();
                    self.emit(expr.column, &[0; 8][..width as usize])?;
                    self.patches.push(Patch {
                        section: self.section,
                        offset,
                        line: self.line,
                        column: expr.column,
                        kind: PatchKind::Data { width, expr },
                    });
                }
            }
            ".string" | ".asciz" | ".ascii" => {
                if ops.list.is_empty() {
                    return fail(column, format!("`{word}` needs a string"));
                }
                for op in &ops.list {
                    let [Token {
                        tok: Tok::Str(bytes),
                        column,
                    }] = &op[..]
                    else {
                        let at = op.first().map_or(column, |t| t.column);
                        return fail(at, "expected a string in double quotes");
                    };
                    self.emit(*column, bytes)?;
                    if word != ".ascii" {
                        self.emit(*column, &[0])?;
                    }
                }
            }
            ".zero" | ".space" | ".skip" => {
                ops.expect(word, &[1, 2])?;
                let len = self.constant(&ops.list[0], column)?;
                let len = u64::try_from(len)
                    .map_err(|_| (column, format!("negative size {len} for `{word}`")))?;
                let fill = match ops.list.get(1) {
                    Some(op) => self.constant(op, column)?,
                    None => 0,
                };
                if !(-128..=255).contains(&fill) {
                    return fail(column, format!("fill value {fill} out of range -128..=255"));
                }
                if fill == 0 {
                    self.emit_zeros(column, len)?;
                } else {
                    self.reserve(column, len)?;
                    self.emit(column, &vec![fill as u8; len as usize])?;
                }
            }
            ".align" | ".p2align" | ".balign" => {
                ops.expect(word, &[1])?;
                let n = self.constant(&ops.list[0], column)?;
                let align = if word == ".balign" {
                    if n <= 0 || n & (n - 1) != 0 || n as u64 > PAGE {
                        return fail(
                            column,
                            format!("alignment {n} is not a power of two in 1..=4096"),
                        );
                    }
                    n as u64
                } else {
                    // GNU as on RISC-V: `.align N` aligns to 2^N bytes.
                    if !(0..=12).contains(&n) {
                        return fail(column, format!("alignment 2^{n} out of range 2^0..=2^12"));
                    }
                    1u64 << n
                };
                self.align(column, align)?;
            }
            _ => return fail(column, format!("unknown directive `{word}`")),
        }
        Ok(())
    }

    /// Pads to a multiple of `align`: with `nop`s in .text when the offset
    /// allows, so that falling through the padding is harmless, else zeros.
    fn align(&mut self, column: usize, align: u64) -> Result<(), Fail> {
        let pad = (align - self.offset() % align) % align;
        if self.section == Section::Text && self.offset().is_multiple_of(4) && pad.is_multiple_of(4)
        {
            let nop = encode_nop();
            for _ in 0..pad / 4 {
                self.emit(column, &nop)?;
            }
            Ok(())
        } else {
            self.emit_zeros(column, pad)
        }
    }

    fn parse_instruction(&mut self, word: &str, ops: &Operands) -> Result<(), Fail> {
        use Instruction::*;
        let column = ops.column;
        let o = &ops.list;
        if let Some(op) = lookup(&REG_MNEMONICS, word) {
            ops.expect(word, &[3])?;
            let (rd, rs1, rs2) = (
                reg(&o[0], column)?,
                reg(&o[1], column)?,
                reg(&o[2], column)?,
            );
            return self.fixed(column, Op { op, rd, rs1, rs2 });
        }
        if let Some(op) = lookup(&IMM_MNEMONICS, word) {
            ops.expect(word, &[3])?;
            let (rd, rs1) = (reg(&o[0], column)?, reg(&o[1], column)?);
            let expr = self.expr(&o[2], column)?;
            return self.push_inst(
                column,
                OpImm {
                    op,
                    rd,
                    rs1,
                    imm: 0,
                },
                Some(expr),
                Fix::Value,
            );
        }
        if let Some(op) = lookup(&LOAD_MNEMONICS, word) {
            ops.expect(word, &[2])?;
            let rd = reg(&o[0], column)?;
            let (expr, rs1) = self.mem(&o[1], column)?;
            return self.push_inst(
                column,
                Load {
                    op,
                    rd,
                    rs1,
                    offset: 0,
                },
                Some(expr),
                Fix::Value,
            );
        }
        if let Some(op) = lookup(&STORE_MNEMONICS, word) {
            ops.expect(word, &[2])?;
            let rs2 = reg(&o[0], column)?;
            let (expr, rs1) = self.mem(&o[1], column)?;
            return self.push_inst(
                column,
                Store {
                    op,
                    rs1,
                    rs2,
                    offset: 0,
                },
                Some(expr),
                Fix::Value,
            );
        }
        if let Some(op) = lookup(&BRANCH_MNEMONICS, word) {
            ops.expect(word, &[3])?;
            let (rs1, rs2) = (reg(&o[0], column)?, reg(&o[1], column)?);
            return self.branch(column, op, rs1, rs2, &o[2]);
        }
        if let Some(op) = lookup(&CSR_MNEMONICS, word) {
            ops.expect(word, &[3])?;
            let rd = reg(&o[0], column)?;
            let csr = self.csr(&o[1], column)?;
            let rs1 = match op {
                CsrOp::Csrrw | CsrOp::Csrrs | CsrOp::Csrrc => reg(&o[2], column)?,
                _ => {
                    let v = self.constant(&o[2], column)?;
                    if !(0..=31).contains(&v) {
                        return fail(column, format!("csr immediate {v} out of range 0..=31"));
                    }
                    Reg(v as u8)
                }
            };
            return self.fixed(column, Csr { op, rd, rs1, csr });
        }
        if let Some((op, width, aq, rl)) = parse_amo(word) {
            if op == AmoOp::Lr {
                ops.expect(word, &[2])?;
                let rd = reg(&o[0], column)?;
                let rs1 = self.amo_address(&o[1], column)?;
                return self.fixed(
                    column,
                    Amo {
                        op,
                        width,
                        aq,
                        rl,
                        rd,
                        rs1,
                        rs2: Reg::ZERO,
                    },
                );
            }
            ops.expect(word, &[3])?;
            let (rd, rs2) = (reg(&o[0], column)?, reg(&o[1], column)?);
            let rs1 = self.amo_address(&o[2], column)?;
            return self.fixed(
                column,
                Amo {
                    op,
                    width,
                    aq,
                    rl,
                    rd,
                    rs1,
                    rs2,
                },
            );
        }
        match word {
            "lui" | "auipc" => {
                ops.expect(word, &[2])?;
                let rd = reg(&o[0], column)?;
                let expr = self.expr(&o[1], column)?;
                let inst = if word == "lui" {
                    Lui { rd, imm: 0 }
                } else {
                    Auipc { rd, imm: 0 }
                };
                self.push_inst(column, inst, Some(expr), Fix::Upper)
            }
            "jal" => {
                ops.expect(word, &[1, 2])?;
                let (rd, target) = match &o[..] {
                    [target] => (Reg::RA, target),
                    [rd, target] => (reg(rd, column)?, target),
                    _ => return fail(column, "`jal` takes 1 or 2 operands"),
                };
                self.jump(column, rd, target)
            }
            "j" => {
                ops.expect(word, &[1])?;
                self.jump(column, Reg::ZERO, &o[0])
            }
            "jalr" => {
                ops.expect(word, &[1, 2, 3])?;
                match &o[..] {
                    // `jalr rs`: call through a register.
                    [rs1] => self.fixed(
                        column,
                        Jalr {
                            rd: Reg::RA,
                            rs1: reg(rs1, column)?,
                            offset: 0,
                        },
                    ),
                    [rd, address] => {
                        let rd = reg(rd, column)?;
                        let (expr, rs1) = self.mem(address, column)?;
                        self.push_inst(column, Jalr { rd, rs1, offset: 0 }, Some(expr), Fix::Value)
                    }
                    [rd, rs1, offset] => {
                        let (rd, rs1) = (reg(rd, column)?, reg(rs1, column)?);
                        let expr = self.expr(offset, column)?;
                        self.push_inst(column, Jalr { rd, rs1, offset: 0 }, Some(expr), Fix::Value)
                    }
                    _ => fail(column, "`jalr` takes 1 to 3 operands"),
                }
            }
            "jr" => {
                ops.expect(word, &[1])?;
                self.fixed(
                    column,
                    Jalr {
                        rd: Reg::ZERO,
                        rs1: reg(&o[0], column)?,
                        offset: 0,
                    },
                )
            }
            "ret" => {
                ops.expect(word, &[0])?;
                self.fixed(
                    column,
                    Jalr {
                        rd: Reg::ZERO,
                        rs1: Reg::RA,
                        offset: 0,
                    },
                )
            }
            "call" | "tail" => {
                ops.expect(word, &[1])?;
                // psABI: `call` is auipc ra + jalr ra; `tail` uses t1 and discards the link.
                let (link, scratch) = if word == "call" {
                    (Reg::RA, Reg::RA)
                } else {
                    (Reg::ZERO, Reg::T1)
                };
                let expr = self.expr(&o[0], column)?;
                self.push_inst(
                    column,
                    Auipc {
                        rd: scratch,
                        imm: 0,
                    },
                    Some(expr.clone()),
                    Fix::PcRelHi,
                )?;
                self.push_inst(
                    column,
                    Jalr {
                        rd: link,
                        rs1: scratch,
                        offset: 0,
                    },
                    Some(expr),
                    Fix::PcRelLo,
                )
            }
            "la" | "lla" => {
                ops.expect(word, &[2])?;
                let rd = reg(&o[0], column)?;
                let expr = self.expr(&o[1], column)?;
                self.push_inst(
                    column,
                    Auipc { rd, imm: 0 },
                    Some(expr.clone()),
                    Fix::PcRelHi,
                )?;
                self.push_inst(
                    column,
                    OpImm {
                        op: ImmOp::Addi,
                        rd,
                        rs1: rd,
                        imm: 0,
                    },
                    Some(expr),
                    Fix::PcRelLo,
                )
            }
            "li" => {
                ops.expect(word, &[2])?;
                let rd = reg(&o[0], column)?;
                let expr = self.expr(&o[1], column)?;
                let Some(value) = expr.constant() else {
                    return fail(expr.column, "`li` needs a constant; use `la` for a label");
                };
                for inst in load_immediate(rd, value) {
                    self.fixed(column, inst)?;
                }
                Ok(())
            }
            "nop" => {
                ops.expect(word, &[0])?;
                self.fixed(
                    column,
                    OpImm {
                        op: ImmOp::Addi,
                        rd: Reg::ZERO,
                        rs1: Reg::ZERO,
                        imm: 0,
                    },
                )
            }
            "mv" | "not" | "neg" | "negw" | "sext.w" | "seqz" | "snez" | "sltz" | "sgtz" => {
                ops.expect(word, &[2])?;
                let (rd, rs) = (reg(&o[0], column)?, reg(&o[1], column)?);
                let imm = |op, imm| OpImm {
                    op,
                    rd,
                    rs1: rs,
                    imm,
                };
                let reg3 = |op, rs1, rs2| Op { op, rd, rs1, rs2 };
                let inst = match word {
                    "mv" => imm(ImmOp::Addi, 0),
                    "not" => imm(ImmOp::Xori, -1),
                    "neg" => reg3(RegOp::Sub, Reg::ZERO, rs),
                    "negw" => reg3(RegOp::Subw, Reg::ZERO, rs),
                    "sext.w" => imm(ImmOp::Addiw, 0),
                    "seqz" => imm(ImmOp::Sltiu, 1),
                    "snez" => reg3(RegOp::Sltu, Reg::ZERO, rs),
                    "sltz" => reg3(RegOp::Slt, rs, Reg::ZERO),
                    _ => reg3(RegOp::Slt, Reg::ZERO, rs),
                };
                self.fixed(column, inst)
            }
            "beqz" | "bnez" | "blez" | "bgez" | "bltz" | "bgtz" => {
                ops.expect(word, &[2])?;
                let rs = reg(&o[0], column)?;
                let z = Reg::ZERO;
                let (op, rs1, rs2) = match word {
                    "beqz" => (BranchOp::Beq, rs, z),
                    "bnez" => (BranchOp::Bne, rs, z),
                    "blez" => (BranchOp::Bge, z, rs),
                    "bgez" => (BranchOp::Bge, rs, z),
                    "bltz" => (BranchOp::Blt, rs, z),
                    _ => (BranchOp::Blt, z, rs),
                };
                self.branch(column, op, rs1, rs2, &o[1])
            }
            "bgt" | "ble" | "bgtu" | "bleu" => {
                ops.expect(word, &[3])?;
                let (a, b) = (reg(&o[0], column)?, reg(&o[1], column)?);
                // Swapped operands: a > b is b < a.
                let op = match word {
                    "bgt" => BranchOp::Blt,
                    "ble" => BranchOp::Bge,
                    "bgtu" => BranchOp::Bltu,
                    _ => BranchOp::Bgeu,
                };
                self.branch(column, op, b, a, &o[2])
            }
            "csrr" => {
                ops.expect(word, &[2])?;
                let rd = reg(&o[0], column)?;
                let csr = self.csr(&o[1], column)?;
                self.fixed(
                    column,
                    Csr {
                        op: CsrOp::Csrrs,
                        rd,
                        rs1: Reg::ZERO,
                        csr,
                    },
                )
            }
            "rdcycle" | "rdtime" | "rdinstret" => {
                ops.expect(word, &[1])?;
                let rd = reg(&o[0], column)?;
                let csr = match word {
                    "rdcycle" => CSR_CYCLE,
                    "rdtime" => CSR_TIME,
                    _ => CSR_INSTRET,
                };
                self.fixed(
                    column,
                    Csr {
                        op: CsrOp::Csrrs,
                        rd,
                        rs1: Reg::ZERO,
                        csr,
                    },
                )
            }
            "fence" | "fence.i" => {
                // `fence rw,rw` and friends: this machine has one hart, so every fence is the same.
                for op in o {
                    let (set, at) = ident(op, column)?;
                    if set.is_empty() || !set.chars().all(|c| "iorw".contains(c)) {
                        return fail(at, format!("bad fence operand `{set}` (letters of `iorw`)"));
                    }
                }
                ops.expect(word, &[0, 2])?;
                self.fixed(column, Fence)
            }
            "ecall" => {
                ops.expect(word, &[0])?;
                self.fixed(column, Ecall)
            }
            "ebreak" => {
                ops.expect(word, &[0])?;
                self.fixed(column, Ebreak)
            }
            _ => fail(column, format!("unknown mnemonic `{word}`")),
        }
    }

    fn branch(
        &mut self,
        column: usize,
        op: BranchOp,
        rs1: Reg,
        rs2: Reg,
        target: &[Token],
    ) -> Result<(), Fail> {
        let expr = self.expr(target, column)?;
        let fix = target_fix(&expr)?;
        self.push_inst(
            column,
            Instruction::Branch {
                op,
                rs1,
                rs2,
                offset: 0,
            },
            Some(expr),
            fix,
        )
    }

    fn jump(&mut self, column: usize, rd: Reg, target: &[Token]) -> Result<(), Fail> {
        let expr = self.expr(target, column)?;
        let fix = target_fix(&expr)?;
        self.push_inst(column, Instruction::Jal { rd, offset: 0 }, Some(expr), fix)
    }

    /// `offset(reg)`, `(reg)` or `%lo(x)(reg)`.
    fn mem(&self, tokens: &[Token], column: usize) -> Result<(Expr, Reg), Fail> {
        let at = tokens.first().map_or(column, |t| t.column);
        match tokens {
            [offset @ .., Token {
                tok: Tok::Punct('('),
                ..
            }, base, Token {
                tok: Tok::Punct(')'),
                ..
            }] => {
                let rs1 = reg(std::slice::from_ref(base), column)?;
                let expr = if offset.is_empty() {
                    Expr {
                        label: None,
                        addend: 0,
                        modifier: None,
                        column: at,
                    }
                } else {
                    self.expr(offset, column)?
                };
                Ok((expr, rs1))
            }
            _ => fail(at, "expected a memory operand `offset(register)`"),
        }
    }

    /// The address of an atomic: `(reg)` or `0(reg)`.
    fn amo_address(&self, tokens: &[Token], column: usize) -> Result<Reg, Fail> {
        let (expr, rs1) = self.mem(tokens, column)?;
        if expr.constant() != Some(0) {
            return fail(expr.column, "atomics take no offset: write `(register)`");
        }
        Ok(rs1)
    }

    /// A CSR by name (`cycle`, `time`, `instret`) or number (0..=0xfff).
    fn csr(&self, tokens: &[Token], column: usize) -> Result<u16, Fail> {
        if let [Token {
            tok: Tok::Ident(name),
            ..
        }] = tokens
        {
            if let Some((csr, _)) = CSR_NAMES.iter().find(|(_, n)| n == name) {
                return Ok(*csr);
            }
        }
        let value = self.constant(tokens, column)?;
        if !(0..=0xfff).contains(&value) {
            return fail(column, format!("csr number {value} out of range 0..=4095"));
        }
        Ok(value as u16)
    }

    // -----------------------------------------------------------------------
    // Layout and pass 2

    /// Base address of each section: text at `TEXT_BASE`, each next one on
    /// the page after the previous one ends.
    fn layout(&mut self) -> [u64; 4] {
        let sizes = [
            self.bytes[0].len() as u64,
            self.bytes[1].len() as u64,
            self.bytes[2].len() as u64,
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
        bases
    }

    fn address(&self, bases: &[u64; 4], name: &str) -> Option<u64> {
        self.labels
            .get(name)
            .map(|d| bases[d.section.index()] + d.offset)
    }

    /// The value of `expr` before `%hi`/`%lo`, with labels as addresses.
    /// `.` is the address `here` of the instruction or data item (as in GNU as).
    fn evaluate(&self, bases: &[u64; 4], expr: &Expr, here: u64) -> Result<i64, Fail> {
        let base = match &expr.label {
            None => 0,
            Some((name, _)) if name == "." => here as i64,
            Some((name, column)) => match self.address(bases, name) {
                Some(address) => address as i64,
                None => {
                    let message = match name.split_once(':') {
                        Some((number, _)) => {
                            format!("no local label `{number}:` after `{number}f`")
                        }
                        None => format!("undefined label `{name}`"),
                    };
                    return fail(*column, message);
                }
            },
        };
        Ok(base.wrapping_add(expr.addend))
    }

    fn apply_patches(&mut self, bases: &[u64; 4]) {
        let patches = std::mem::take(&mut self.patches);
        for patch in &patches {
            let pc = bases[patch.section.index()] + patch.offset;
            let result = match &patch.kind {
                PatchKind::Inst { inst, expr, fix } => self
                    .resolve_inst(bases, pc, *inst, expr.as_ref(), *fix)
                    .and_then(|inst| {
                        encode(&inst)
                            .map(|w| w.to_le_bytes().to_vec())
                            .map_err(|e| (patch.column, describe(&inst, e)))
                    }),
                PatchKind::Data { width, expr } => self.resolve_data(bases, pc, *width, expr),
            };
            match result {
                Ok(bytes) => {
                    let at = patch.offset as usize;
                    // Patches are only recorded in sections with contents (not bss).
                    let section = self.bytes.get_mut(patch.section.index());
                    if let Some(slot) = section.and_then(|b| b.get_mut(at..at + bytes.len())) {
                        slot.copy_from_slice(&bytes);
                    }
                }
                Err((column, message)) => self.errors.push(AsmError {
                    line: patch.line,
                    column,
                    message,
                }),
            }
        }
    }

    fn resolve_inst(
        &self,
        bases: &[u64; 4],
        pc: u64,
        inst: Instruction,
        expr: Option<&Expr>,
        fix: Fix,
    ) -> Result<Instruction, Fail> {
        let Some(expr) = expr else {
            return Ok(inst);
        };
        let raw = self.evaluate(bases, expr, pc)?;
        let value = match fix {
            Fix::Value => expr.modifier.map_or(raw, |m| apply_modifier(raw, m)),
            Fix::Upper => {
                let field = expr.modifier.map_or(raw, |m| apply_modifier(raw, m));
                if expr.label.is_some() && expr.modifier.is_none() {
                    return fail(
                        expr.column,
                        "use `%hi(label)` for the upper part of an address",
                    );
                }
                if !(0..=0xf_ffff).contains(&field) {
                    return fail(
                        expr.column,
                        format!("upper immediate {field} out of range 0..=0xfffff"),
                    );
                }
                sext((field as u64) << 12, 32)
            }
            Fix::PcRelative => raw.wrapping_sub(pc as i64),
            Fix::PcRelHi | Fix::PcRelLo => {
                if expr.modifier.is_some() {
                    return fail(expr.column, "`%hi`/`%lo` cannot be used here");
                }
                // The auipc sits at pc for PcRelHi and at pc - 4 for the PcRelLo that follows it.
                let auipc = if fix == Fix::PcRelHi {
                    pc
                } else {
                    pc.wrapping_sub(4)
                };
                let offset = if expr.label.is_some() {
                    raw.wrapping_sub(auipc as i64)
                } else {
                    raw
                };
                if !(-(1i64 << 31) - 0x800..(1i64 << 31) - 0x800).contains(&offset) {
                    return fail(
                        expr.column,
                        format!("offset {offset} out of the ±2 GiB reach of auipc"),
                    );
                }
                if fix == Fix::PcRelHi {
                    sext((apply_modifier(offset, Modifier::Hi) as u64) << 12, 32)
                } else {
                    apply_modifier(offset, Modifier::Lo)
                }
            }
        };
        Ok(set_immediate(inst, value))
    }

    fn resolve_data(
        &self,
        bases: &[u64; 4],
        here: u64,
        width: u8,
        expr: &Expr,
    ) -> Result<Vec<u8>, Fail> {
        let raw = self.evaluate(bases, expr, here)?;
        let value = expr.modifier.map_or(raw, |m| apply_modifier(raw, m));
        let bits = u32::from(width) * 8;
        if bits < 64 {
            // Accept both the signed and the unsigned reading, as GNU as does.
            let min = -(1i64 << (bits - 1));
            let max = (1i64 << bits) - 1;
            if value < min || value > max {
                return fail(
                    expr.column,
                    format!("value {value} out of range {min}..={max} for {width} bytes"),
                );
            }
        }
        Ok(value.to_le_bytes()[..usize::from(width)].to_vec())
    }

    fn link(&self, bases: &[u64; 4]) -> Vec<u8> {
        let mut segments = Vec::new();
        let flags = [SegmentFlags::CODE, SegmentFlags::RODATA, SegmentFlags::DATA];
        for (i, section) in SECTIONS.iter().enumerate().take(3) {
            if !self.bytes[i].is_empty() || *section == Section::Text {
                segments.push(Segment {
                    vaddr: bases[i],
                    data: self.bytes[i].clone(),
                    mem_size: self.bytes[i].len() as u64,
                    flags: flags[i],
                });
            }
        }
        if self.bss_size > 0 {
            segments.push(Segment {
                vaddr: bases[3],
                data: Vec::new(),
                mem_size: self.bss_size,
                flags: SegmentFlags::DATA,
            });
        }
        let symbols: Vec<Symbol> = self
            .label_order
            .iter()
            // Numeric local labels stay out of the symbol table, as with GNU as.
            .filter(|name| !name.contains(':'))
            .filter_map(|name| {
                let def = self.labels.get(name)?;
                Some(Symbol {
                    name: name.clone(),
                    value: bases[def.section.index()] + def.offset,
                    size: 0,
                    is_function: def.section == Section::Text,
                })
            })
            .collect();
        let entry = self.address(bases, "_start").unwrap_or(TEXT_BASE);
        write_executable(entry, &segments, &symbols)
    }
}

/// Branch/jump targets: a label is relative to the pc, a number already is.
fn target_fix(expr: &Expr) -> Result<Fix, Fail> {
    if expr.modifier.is_some() {
        return fail(expr.column, "`%hi`/`%lo` cannot be a branch target");
    }
    Ok(if expr.label.is_some() {
        Fix::PcRelative
    } else {
        Fix::Value
    })
}

/// Replaces the immediate (or offset) of an instruction.
fn set_immediate(inst: Instruction, value: i64) -> Instruction {
    use Instruction::*;
    match inst {
        Lui { rd, .. } => Lui { rd, imm: value },
        Auipc { rd, .. } => Auipc { rd, imm: value },
        Jal { rd, .. } => Jal { rd, offset: value },
        Jalr { rd, rs1, .. } => Jalr {
            rd,
            rs1,
            offset: value,
        },
        Branch { op, rs1, rs2, .. } => Branch {
            op,
            rs1,
            rs2,
            offset: value,
        },
        Load { op, rd, rs1, .. } => Load {
            op,
            rd,
            rs1,
            offset: value,
        },
        Store { op, rs1, rs2, .. } => Store {
            op,
            rs1,
            rs2,
            offset: value,
        },
        OpImm { op, rd, rs1, .. } => OpImm {
            op,
            rd,
            rs1,
            imm: value,
        },
        other => other,
    }
}

/// An encoder error as an assembler message that names the allowed range.
fn describe(inst: &Instruction, error: EncodeError) -> String {
    match (inst, &error) {
        (
            Instruction::Branch { .. } | Instruction::Jal { .. },
            EncodeError::ImmediateOutOfRange {
                value, min, max, ..
            },
        ) => {
            format!("branch target out of range: offset {value} (allowed {min}..={max})")
        }
        (
            _,
            EncodeError::ImmediateOutOfRange {
                value, min, max, ..
            },
        ) => {
            format!("immediate {value} out of range {min}..={max}")
        }
        (_, EncodeError::OddOffset(offset)) => format!("branch target offset {offset} is odd"),
        _ => error.to_string(),
    }
}

fn encode_nop() -> [u8; 4] {
    // addi zero,zero,0 (RISC-V unprivileged spec, 2.4: NOP).
    0x0000_0013u32.to_le_bytes()
}

fn section_named(name: &str) -> Option<Section> {
    // `.section .rodata.str1.1` and the like map to their base section.
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

fn lookup<T: Copy>(table: &[(T, &str)], word: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == word).map(|(op, _)| *op)
}

/// `amoadd.w.aqrl` → (Add, Word, aq, rl).
fn parse_amo(word: &str) -> Option<(AmoOp, AmoWidth, bool, bool)> {
    let mut parts = word.split('.');
    let op = lookup(&AMO_MNEMONICS, parts.next()?)?;
    let width = match parts.next()? {
        "w" => AmoWidth::Word,
        "d" => AmoWidth::Double,
        _ => return None,
    };
    let (aq, rl) = match parts.next() {
        None => (false, false),
        Some("aq") => (true, false),
        Some("rl") => (false, true),
        Some("aqrl") => (true, true),
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((op, width, aq, rl))
}

/// Splits the tokens after the mnemonic at top-level commas.
fn split_operands(tokens: &[Token], column: usize) -> Result<Operands, Fail> {
    let mut list = Vec::new();
    if tokens.is_empty() {
        return Ok(Operands { list, column });
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
    Ok(Operands { list, column })
}

fn reg(tokens: &[Token], column: usize) -> Result<Reg, Fail> {
    match tokens {
        [Token {
            tok: Tok::Ident(name),
            column,
        }] => Reg::parse(name).ok_or((*column, format!("unknown register `{name}`"))),
        [first, ..] => fail(first.column, "expected a register"),
        [] => fail(column, "expected a register"),
    }
}

fn ident(tokens: &[Token], column: usize) -> Result<(String, usize), Fail> {
    match tokens {
        [Token {
            tok: Tok::Ident(name),
            column,
        }] => Ok((name.clone(), *column)),
        [first, ..] => fail(first.column, "expected a name"),
        [] => fail(column, "expected a name"),
    }
}

// ---------------------------------------------------------------------------
// li: loading a 64-bit constant

/// The shortest `lui`/`addi(w)`/`slli`/`srli` sequence this assembler knows
/// for `rd = value` (the recursive scheme of LLVM's RISCVMatInt):
/// a 32-bit value is `lui` + `addiw`; a larger one is the sequence for its
/// upper bits, shifted left, plus `addi` of the low 12 bits. A variant that
/// first builds `value << k` and shifts it back right wins when shorter.
pub fn load_immediate(rd: Reg, value: i64) -> Vec<Instruction> {
    let mut best = Vec::new();
    materialize(rd, value, &mut best);
    let leading = (value as u64).leading_zeros();
    if leading > 0 && leading < 64 {
        // Fill the vacated low bits with ones when that makes the constant simpler.
        for filled in [
            ((value as u64) << leading) as i64,
            (((value as u64) << leading) | ((1u64 << leading) - 1)) as i64,
        ] {
            let mut candidate = Vec::new();
            materialize(rd, filled, &mut candidate);
            candidate.push(Instruction::OpImm {
                op: ImmOp::Srli,
                rd,
                rs1: rd,
                imm: i64::from(leading),
            });
            if candidate.len() < best.len() {
                best = candidate;
            }
        }
    }
    best
}

fn materialize(rd: Reg, value: i64, out: &mut Vec<Instruction>) {
    use Instruction::*;
    if i32::try_from(value).is_ok() {
        let lo12 = sext(value as u64, 12);
        let hi20 = (value.wrapping_add(0x800) >> 12) & 0xf_ffff;
        let mut source = Reg::ZERO;
        if hi20 != 0 {
            out.push(Lui {
                rd,
                imm: sext((hi20 as u64) << 12, 32),
            });
            source = rd;
        }
        if lo12 != 0 || hi20 == 0 {
            // After lui, addiw keeps the 32-bit wrap-around (0x7fffffff = lui 0x80000; addiw -1).
            let op = if hi20 != 0 { ImmOp::Addiw } else { ImmOp::Addi };
            out.push(OpImm {
                op,
                rd,
                rs1: source,
                imm: lo12,
            });
        }
        return;
    }
    let lo12 = sext(value as u64, 12);
    let mut upper = value.wrapping_sub(lo12);
    // `upper` is not zero (value does not fit in 32 bits), so it has a lowest set bit.
    let mut shift = upper.trailing_zeros();
    upper >>= shift;
    if shift > 12 && !(-2048..2048).contains(&upper) && i32::try_from(upper << 12).is_ok() {
        // Let lui produce the low zeros instead of the shift.
        shift -= 12;
        upper <<= 12;
    }
    materialize(rd, upper, out);
    out.push(OpImm {
        op: ImmOp::Slli,
        rd,
        rs1: rd,
        imm: i64::from(shift),
    });
    if lo12 != 0 {
        out.push(OpImm {
            op: ImmOp::Addi,
            rd,
            rs1: rd,
            imm: lo12,
        });
    }
}

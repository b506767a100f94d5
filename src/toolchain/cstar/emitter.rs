//! The emitter: a list of `Item`s (instructions, and branches, jumps and
//! calls to labels) → machine words, through `emu::encode`.
//!
//! `codegen` appends items and binds labels without knowing addresses.
//! `Emitter::finish` lays the code out, and wherever a branch or jump does
//! not reach its label it switches that item to a long form (an inverted
//! branch over a `jal`, or `auipc`+`jalr`) and lays out again until
//! nothing changes (items only grow, so this ends). Then it encodes.
//!
//! Alongside the items it keeps the source line each run of items comes
//! from (`mark_line`), which `finish` turns into byte offsets for the
//! debug information's line table.

use super::errors::Pos;
use crate::emu::{encode, BranchOp, ImmOp, Instruction, Reg};

/// A place in the code, bound to an item index once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(usize);

#[derive(Clone, Debug)]
pub enum Item {
    Inst(Instruction),
    Branch {
        op: BranchOp,
        rs1: Reg,
        rs2: Reg,
        target: Label,
    },
    /// `jal zero, target`
    Jump(Label),
    /// `jal ra, target`
    Call(Label),
    /// `gp = data base + GP_BIAS` (`lui` + `addi`), known only after layout.
    SetGp,
}

/// `gp` points this far into the data segment, so that 12-bit offsets
/// reach its first 4 KiB.
pub const GP_BIAS: i64 = 2048;

/// Register for the long forms and for large offsets; never a temporary.
pub const SCRATCH: Reg = Reg(27); // s11

#[derive(Default)]
pub struct Emitter {
    items: Vec<Item>,
    labels: Vec<Option<usize>>,
    /// (index of the first item, source position) for each run of items
    /// from one place in the sources, in item order.
    lines: Vec<(usize, Pos)>,
}

impl Code {
    /// Byte offset of a label from the start of the code.
    pub fn offset(&self, label: Label) -> u64 {
        self.label_offsets.get(label.0).copied().unwrap_or(0)
    }
}

/// The laid-out code.
pub struct Code {
    pub words: Vec<u32>,
    /// Byte offset of every label, indexed by label.
    pub label_offsets: Vec<u64>,
    /// (byte offset, source position): from that offset on, the code
    /// comes from that place, in ascending order of offsets.
    pub lines: Vec<(u64, Pos)>,
}

fn fits(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

fn invert(op: BranchOp) -> BranchOp {
    match op {
        BranchOp::Beq => BranchOp::Bne,
        BranchOp::Bne => BranchOp::Beq,
        BranchOp::Blt => BranchOp::Bge,
        BranchOp::Bge => BranchOp::Blt,
        BranchOp::Bltu => BranchOp::Bgeu,
        BranchOp::Bgeu => BranchOp::Bltu,
    }
}

/// `(hi, lo)` with `hi << 12 + lo == value` and `lo` a 12-bit signed number.
pub fn split_hi_lo(value: i64) -> (i64, i64) {
    let lo = ((value & 0xfff) ^ 0x800) - 0x800;
    ((value - lo) >> 12, lo)
}

impl Emitter {
    pub fn emit(&mut self, inst: Instruction) {
        self.items.push(Item::Inst(inst));
    }

    pub fn item(&mut self, item: Item) {
        self.items.push(item);
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The items emitted from now on come from `pos` (a statement, a
    /// procedure's prologue or epilogue).
    pub fn mark_line(&mut self, pos: Pos) {
        let here = self.items.len();
        match self.lines.last_mut() {
            // Nothing was emitted since the last mark: it did not happen.
            Some(last) if last.0 == here => last.1 = pos,
            _ => self.lines.push((here, pos)),
        }
    }

    pub fn bind(&mut self, label: Label) {
        if let Some(slot) = self.labels.get_mut(label.0) {
            *slot = Some(self.items.len());
        }
    }

    /// `rd = value` in as few instructions as this simple scheme finds
    /// (RISC-V unprivileged spec, 2.4: LUI/ADDI; larger values shift).
    pub fn load_immediate(&mut self, rd: Reg, value: i64) {
        if fits(value, 12) {
            self.emit(Instruction::OpImm {
                op: ImmOp::Addi,
                rd,
                rs1: Reg::ZERO,
                imm: value,
            });
        } else if fits(value, 32) {
            let (hi, lo) = split_hi_lo(value);
            // Sign-extend the 20-bit upper part as `lui` does; `addiw`
            // wraps correctly near 2^31.
            let upper = ((hi << 12) as i32) as i64;
            self.emit(Instruction::Lui { rd, imm: upper });
            if lo != 0 {
                self.emit(Instruction::OpImm {
                    op: ImmOp::Addiw,
                    rd,
                    rs1: rd,
                    imm: lo,
                });
            }
        } else {
            let lo = ((value & 0xfff) ^ 0x800) - 0x800;
            let mut hi = value.wrapping_sub(lo) >> 12;
            let mut shift = 12;
            let zeros = hi.trailing_zeros().min(63);
            hi >>= zeros;
            shift += zeros as i64;
            self.load_immediate(rd, hi);
            self.emit(Instruction::OpImm {
                op: ImmOp::Slli,
                rd,
                rs1: rd,
                imm: shift,
            });
            if lo != 0 {
                self.emit(Instruction::OpImm {
                    op: ImmOp::Addi,
                    rd,
                    rs1: rd,
                    imm: lo,
                });
            }
        }
    }

    /// `rd = rs + value`; uses `SCRATCH` when `value` needs more than 12 bits.
    pub fn add_immediate(&mut self, rd: Reg, rs: Reg, value: i64) {
        if fits(value, 12) {
            if value != 0 || rd != rs {
                self.emit(Instruction::OpImm {
                    op: ImmOp::Addi,
                    rd,
                    rs1: rs,
                    imm: value,
                });
            }
        } else {
            self.load_immediate(SCRATCH, value);
            self.emit(Instruction::Op {
                op: crate::emu::RegOp::Add,
                rd,
                rs1: rs,
                rs2: SCRATCH,
            });
        }
    }

    fn size(item: &Item, long: bool) -> u64 {
        match item {
            Item::Inst(_) => 4,
            Item::SetGp => 8,
            Item::Branch { .. } | Item::Jump(_) | Item::Call(_) => {
                if long {
                    8
                } else {
                    4
                }
            }
        }
    }

    /// Lays out and encodes; `data_base(code size)` gives the data
    /// segment's address, which `Item::SetGp` needs.
    ///
    /// # Errors
    /// A label that was never bound, an offset out of range of even the
    /// long forms (over 2 GiB of code), or an instruction the encoder
    /// refuses — all bugs or absurd programs, reported as a message.
    pub fn finish(self, data_base: impl Fn(u64) -> u64) -> Result<Code, String> {
        let n = self.items.len();
        let mut long = vec![false; n];
        let mut offsets = vec![0u64; n + 1];
        let label_item = |l: &Label| -> Result<usize, String> {
            self.labels
                .get(l.0)
                .copied()
                .flatten()
                .ok_or_else(|| format!("internal error: label {} not bound", l.0))
        };
        loop {
            let mut at = 0;
            for (i, item) in self.items.iter().enumerate() {
                offsets[i] = at;
                at += Self::size(item, long[i]);
            }
            offsets[n] = at;
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                let (target, bits) = match item {
                    Item::Branch { target, .. } => (target, 13),
                    Item::Jump(target) | Item::Call(target) => (target, 21),
                    _ => continue,
                };
                if long[i] {
                    continue;
                }
                let distance = offsets[label_item(target)?] as i64 - offsets[i] as i64;
                if !fits(distance, bits) {
                    long[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let code_size = offsets[n];
        let gp = (data_base(code_size) as i64).wrapping_add(GP_BIAS);
        let mut words = Vec::with_capacity((code_size / 4) as usize);
        let mut put = |inst: Instruction| -> Result<(), String> {
            let word = encode(&inst)
                .map_err(|e| format!("internal error: cannot encode {inst:?}: {e}"))?;
            words.push(word);
            Ok(())
        };
        for (i, item) in self.items.iter().enumerate() {
            let here = offsets[i] as i64;
            let distance = |target: &Label| -> Result<i64, String> {
                Ok(offsets[label_item(target)?] as i64 - here)
            };
            match item {
                Item::Inst(inst) => put(*inst)?,
                Item::SetGp => {
                    if !fits(gp, 32) {
                        return Err(
                            "program too large: the data segment is beyond 2 GiB".to_string()
                        );
                    }
                    let (hi, lo) = split_hi_lo(gp);
                    put(Instruction::Lui {
                        rd: Reg::GP,
                        imm: ((hi << 12) as i32) as i64,
                    })?;
                    put(Instruction::OpImm {
                        op: ImmOp::Addi,
                        rd: Reg::GP,
                        rs1: Reg::GP,
                        imm: lo,
                    })?;
                }
                Item::Branch {
                    op,
                    rs1,
                    rs2,
                    target,
                } => {
                    let d = distance(target)?;
                    if long[i] {
                        put(Instruction::Branch {
                            op: invert(*op),
                            rs1: *rs1,
                            rs2: *rs2,
                            offset: 8,
                        })?;
                        put(Instruction::Jal {
                            rd: Reg::ZERO,
                            offset: d - 4,
                        })?;
                    } else {
                        put(Instruction::Branch {
                            op: *op,
                            rs1: *rs1,
                            rs2: *rs2,
                            offset: d,
                        })?;
                    }
                }
                Item::Jump(target) | Item::Call(target) => {
                    let d = distance(target)?;
                    let (rd, via) = if matches!(item, Item::Call(_)) {
                        (Reg::RA, Reg::RA)
                    } else {
                        (Reg::ZERO, SCRATCH)
                    };
                    if long[i] {
                        if !fits(d, 32) {
                            return Err(
                                "program too large: a jump spans more than 2 GiB".to_string()
                            );
                        }
                        let (hi, lo) = split_hi_lo(d);
                        put(Instruction::Auipc {
                            rd: via,
                            imm: ((hi << 12) as i32) as i64,
                        })?;
                        put(Instruction::Jalr {
                            rd,
                            rs1: via,
                            offset: lo,
                        })?;
                    } else {
                        put(Instruction::Jal { rd, offset: d })?;
                    }
                }
            }
        }
        let mut label_offsets = Vec::with_capacity(self.labels.len());
        for label in &self.labels {
            label_offsets.push(label.map_or(0, |i| offsets[i]));
        }
        let lines = self
            .lines
            .iter()
            .map(|&(item, pos)| (offsets[item.min(n)], pos))
            .collect();
        Ok(Code {
            words,
            label_offsets,
            lines,
        })
    }
}

//! Property tests of the instruction contract: the encoder and the decoder
//! are inverse on every encodable instruction, the encoder rejects what does
//! not fit, and the decoder never panics and never loses bits that matter.

use proptest::prelude::*;
use sim::emu::decode::decode;
use sim::emu::{
    decode32, encode, AmoOp, AmoWidth, BranchOp, CsrOp, FReg, FpArithOp, FpCompareOp, FpSignOp,
    FpWidth, FusedOp, ImmOp, Instruction, IntWidth, LoadOp, Reg, RegOp, Rm, StoreOp, UnaryOp,
};

mod common;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..32).prop_map(Reg)
}

fn freg() -> impl Strategy<Value = FReg> {
    (0u8..32).prop_map(FReg)
}

fn width() -> impl Strategy<Value = FpWidth> {
    prop_oneof![Just(FpWidth::Single), Just(FpWidth::Double)]
}

fn rm() -> impl Strategy<Value = Rm> {
    one_of(&[Rm::Rne, Rm::Rtz, Rm::Rdn, Rm::Rup, Rm::Rmm, Rm::Dyn])
}

fn one_of<T: Copy + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i])
}

const BRANCH_OPS: &[BranchOp] = &[
    BranchOp::Beq,
    BranchOp::Bne,
    BranchOp::Blt,
    BranchOp::Bge,
    BranchOp::Bltu,
    BranchOp::Bgeu,
];
const LOAD_OPS: &[LoadOp] = &[
    LoadOp::Lb,
    LoadOp::Lh,
    LoadOp::Lw,
    LoadOp::Ld,
    LoadOp::Lbu,
    LoadOp::Lhu,
    LoadOp::Lwu,
];
const STORE_OPS: &[StoreOp] = &[StoreOp::Sb, StoreOp::Sh, StoreOp::Sw, StoreOp::Sd];
const IMM_OPS: &[ImmOp] = &[
    ImmOp::Addi,
    ImmOp::Slti,
    ImmOp::Sltiu,
    ImmOp::Xori,
    ImmOp::Ori,
    ImmOp::Andi,
    ImmOp::Addiw,
];
const SHIFT64_OPS: &[ImmOp] = &[
    ImmOp::Slli,
    ImmOp::Srli,
    ImmOp::Srai,
    ImmOp::SlliUw,
    ImmOp::Rori,
    ImmOp::Bclri,
    ImmOp::Bexti,
    ImmOp::Binvi,
    ImmOp::Bseti,
];
const SHIFT32_OPS: &[ImmOp] = &[ImmOp::Slliw, ImmOp::Srliw, ImmOp::Sraiw, ImmOp::Roriw];
const REG_OPS: &[RegOp] = {
    use RegOp::*;
    &[
        Add, Sub, Sll, Slt, Sltu, Xor, Srl, Sra, Or, And, Mul, Mulh, Mulhsu, Mulhu, Div, Divu, Rem,
        Remu, Addw, Subw, Sllw, Srlw, Sraw, Mulw, Divw, Divuw, Remw, Remuw, Sh1add, Sh2add, Sh3add,
        AddUw, Sh1addUw, Sh2addUw, Sh3addUw, Andn, Orn, Xnor, Max, Maxu, Min, Minu, Rol, Ror, Rolw,
        Rorw, Bclr, Bext, Binv, Bset,
    ]
};
const UNARY_OPS: &[UnaryOp] = {
    use UnaryOp::*;
    &[
        Clz, Ctz, Cpop, Clzw, Ctzw, Cpopw, SextB, SextH, ZextH, OrcB, Rev8,
    ]
};

/// Every floating-point instruction, over the full range of each field.
fn floating_point() -> impl Strategy<Value = Instruction> {
    use Instruction::*;
    let imm12 = || -2048i64..2048;
    prop_oneof![
        (width(), freg(), reg(), imm12()).prop_map(|(width, rd, rs1, offset)| FpLoad {
            width,
            rd,
            rs1,
            offset
        }),
        (width(), reg(), freg(), imm12()).prop_map(|(width, rs1, rs2, offset)| FpStore {
            width,
            rs1,
            rs2,
            offset
        }),
        (
            one_of(&[
                FpArithOp::Add,
                FpArithOp::Sub,
                FpArithOp::Mul,
                FpArithOp::Div
            ]),
            width(),
            (freg(), freg(), freg()),
            rm()
        )
            .prop_map(|(op, width, (rd, rs1, rs2), rm)| FpArith {
                op,
                width,
                rd,
                rs1,
                rs2,
                rm
            }),
        (width(), freg(), freg(), rm()).prop_map(|(width, rd, rs1, rm)| FpSqrt {
            width,
            rd,
            rs1,
            rm
        }),
        (
            one_of(&[FpSignOp::Sgnj, FpSignOp::Sgnjn, FpSignOp::Sgnjx]),
            width(),
            (freg(), freg(), freg())
        )
            .prop_map(|(op, width, (rd, rs1, rs2))| FpSign {
                op,
                width,
                rd,
                rs1,
                rs2
            }),
        (any::<bool>(), width(), (freg(), freg(), freg())).prop_map(
            |(max, width, (rd, rs1, rs2))| FpMinMax {
                max,
                width,
                rd,
                rs1,
                rs2
            }
        ),
        (width(), freg(), freg(), rm()).prop_map(|(width, rd, rs1, rm)| FpConvert {
            width,
            rd,
            rs1,
            rm
        }),
        (
            one_of(&[FpCompareOp::Eq, FpCompareOp::Lt, FpCompareOp::Le]),
            width(),
            (reg(), freg(), freg())
        )
            .prop_map(|(op, width, (rd, rs1, rs2))| FpCompare {
                op,
                width,
                rd,
                rs1,
                rs2
            }),
        (width(), reg(), freg()).prop_map(|(width, rd, rs1)| FpClass { width, rd, rs1 }),
        (width(), reg(), freg()).prop_map(|(width, rd, rs1)| FpMoveToInt { width, rd, rs1 }),
        (width(), freg(), reg()).prop_map(|(width, rd, rs1)| FpMoveFromInt { width, rd, rs1 }),
        (one_of(&IntWidth::ALL), width(), reg(), freg(), rm()).prop_map(
            |(int, width, rd, rs1, rm)| FpToInt {
                int,
                width,
                rd,
                rs1,
                rm
            }
        ),
        (one_of(&IntWidth::ALL), width(), freg(), reg(), rm()).prop_map(
            |(int, width, rd, rs1, rm)| IntToFp {
                int,
                width,
                rd,
                rs1,
                rm
            }
        ),
        (
            one_of(&[FusedOp::Madd, FusedOp::Msub, FusedOp::Nmsub, FusedOp::Nmadd]),
            width(),
            (freg(), freg(), freg(), freg()),
            rm()
        )
            .prop_map(|(op, width, (rd, rs1, rs2, rs3), rm)| FpFused {
                op,
                width,
                rd,
                rs1,
                rs2,
                rs3,
                rm
            }),
    ]
}
const CSR_OPS: &[CsrOp] = &[
    CsrOp::Csrrw,
    CsrOp::Csrrs,
    CsrOp::Csrrc,
    CsrOp::Csrrwi,
    CsrOp::Csrrsi,
    CsrOp::Csrrci,
];
const AMO_OPS: &[AmoOp] = {
    use AmoOp::*;
    &[Lr, Sc, Swap, Add, Xor, And, Or, Min, Max, Minu, Maxu]
};

/// Every instruction the encoder accepts, over the full range of each field.
fn encodable() -> impl Strategy<Value = Instruction> {
    use Instruction::*;
    let upper = || (-(1i64 << 19)..(1i64 << 19)).prop_map(|v| v << 12);
    let imm12 = || -2048i64..2048;
    prop_oneof![
        (reg(), upper()).prop_map(|(rd, imm)| Lui { rd, imm }),
        (reg(), upper()).prop_map(|(rd, imm)| Auipc { rd, imm }),
        (reg(), -(1i64 << 19)..(1i64 << 19)).prop_map(|(rd, half)| Jal {
            rd,
            offset: half * 2
        }),
        (reg(), reg(), imm12()).prop_map(|(rd, rs1, offset)| Jalr { rd, rs1, offset }),
        (one_of(BRANCH_OPS), reg(), reg(), -2048i64..2048).prop_map(|(op, rs1, rs2, half)| {
            Branch {
                op,
                rs1,
                rs2,
                offset: half * 2,
            }
        }),
        (one_of(LOAD_OPS), reg(), reg(), imm12()).prop_map(|(op, rd, rs1, offset)| Load {
            op,
            rd,
            rs1,
            offset
        }),
        (one_of(STORE_OPS), reg(), reg(), imm12()).prop_map(|(op, rs1, rs2, offset)| Store {
            op,
            rs1,
            rs2,
            offset
        }),
        (one_of(IMM_OPS), reg(), reg(), imm12()).prop_map(|(op, rd, rs1, imm)| OpImm {
            op,
            rd,
            rs1,
            imm
        }),
        (one_of(SHIFT64_OPS), reg(), reg(), 0i64..64).prop_map(|(op, rd, rs1, imm)| OpImm {
            op,
            rd,
            rs1,
            imm
        }),
        (one_of(SHIFT32_OPS), reg(), reg(), 0i64..32).prop_map(|(op, rd, rs1, imm)| OpImm {
            op,
            rd,
            rs1,
            imm
        }),
        (one_of(REG_OPS), reg(), reg(), reg()).prop_map(|(op, rd, rs1, rs2)| Op {
            op,
            rd,
            rs1,
            rs2
        }),
        (one_of(UNARY_OPS), reg(), reg()).prop_map(|(op, rd, rs1)| Unary { op, rd, rs1 }),
        floating_point(),
        Just(Fence),
        Just(Ecall),
        Just(Ebreak),
        (one_of(CSR_OPS), reg(), reg(), 0u16..4096).prop_map(|(op, rd, rs1, csr)| Csr {
            op,
            rd,
            rs1,
            csr
        }),
        (
            one_of(AMO_OPS),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            reg(),
            reg(),
            reg()
        )
            .prop_map(|(op, double, aq, rl, rd, rs1, rs2)| Amo {
                op,
                width: if double {
                    AmoWidth::Double
                } else {
                    AmoWidth::Word
                },
                aq,
                rl,
                rd,
                rs1,
                // lr has no rs2: its field must be zero (A extension, 8.2).
                rs2: if op == AmoOp::Lr { Reg::ZERO } else { rs2 },
            }),
    ]
}

/// Instructions with one immediate outside its field, or misaligned.
fn unencodable() -> impl Strategy<Value = Instruction> {
    use Instruction::*;
    let outside12 = || prop_oneof![i64::MIN..-2048, 2048..i64::MAX];
    prop_oneof![
        // Not a multiple of 4096, or beyond 32 bits.
        (reg(), any::<i64>())
            .prop_filter("encodable", |(_, imm)| imm & 0xfff != 0
                || *imm < i64::from(i32::MIN)
                || *imm > i64::from(i32::MAX))
            .prop_map(|(rd, imm)| Lui { rd, imm }),
        (
            reg(),
            prop_oneof![i64::MIN..-(1i64 << 20), (1i64 << 20)..i64::MAX]
        )
            .prop_map(|(rd, offset)| Jal { rd, offset }),
        (reg(), -(1i64 << 19)..(1i64 << 19)).prop_map(|(rd, half)| Jal {
            rd,
            offset: half * 2 + 1
        }),
        (reg(), reg(), outside12()).prop_map(|(rd, rs1, offset)| Jalr { rd, rs1, offset }),
        (
            one_of(BRANCH_OPS),
            reg(),
            reg(),
            prop_oneof![i64::MIN..-4096, 4096..i64::MAX]
        )
            .prop_map(|(op, rs1, rs2, offset)| Branch {
                op,
                rs1,
                rs2,
                offset
            }),
        (one_of(BRANCH_OPS), reg(), reg(), -2048i64..2048).prop_map(|(op, rs1, rs2, half)| {
            Branch {
                op,
                rs1,
                rs2,
                offset: half * 2 + 1,
            }
        }),
        (one_of(LOAD_OPS), reg(), reg(), outside12()).prop_map(|(op, rd, rs1, offset)| Load {
            op,
            rd,
            rs1,
            offset
        }),
        (one_of(STORE_OPS), reg(), reg(), outside12()).prop_map(|(op, rs1, rs2, offset)| Store {
            op,
            rs1,
            rs2,
            offset
        }),
        (one_of(IMM_OPS), reg(), reg(), outside12()).prop_map(|(op, rd, rs1, imm)| OpImm {
            op,
            rd,
            rs1,
            imm
        }),
        (
            one_of(SHIFT64_OPS),
            reg(),
            reg(),
            prop_oneof![i64::MIN..0, 64..i64::MAX]
        )
            .prop_map(|(op, rd, rs1, imm)| OpImm { op, rd, rs1, imm }),
        (
            one_of(SHIFT32_OPS),
            reg(),
            reg(),
            prop_oneof![i64::MIN..0, 32..i64::MAX]
        )
            .prop_map(|(op, rd, rs1, imm)| OpImm { op, rd, rs1, imm }),
        (one_of(CSR_OPS), reg(), 32u8..=255, 0u16..4096).prop_map(|(op, rd, imm, csr)| Csr {
            op,
            rd,
            rs1: Reg(imm),
            csr
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn decode_inverts_encode(inst in encodable()) {
        let word = encode(&inst).map_err(|e| TestCaseError::fail(format!("{inst:?}: {e}")))?;
        prop_assert_eq!(word & 3, 3, "a 32-bit encoding");
        prop_assert_eq!(decode32(word), Some(inst));
        prop_assert_eq!(decode(word), Some((inst, 4)));
    }

    #[test]
    fn encode_rejects_what_does_not_fit(inst in unencodable()) {
        prop_assert!(encode(&inst).is_err(), "{:?} encoded", inst);
    }

    /// Random words: no panic, and a decoded word encodes back to itself.
    /// The one exception is `fence`/`fence.i`, whose predecessor, successor,
    /// fm, rs1 and rd fields this single-hart machine ignores: the encoder
    /// writes the canonical `fence iorw,iorw`.
    #[test]
    fn decoded_words_reencode(word in any::<u32>()) {
        let _ = decode(word);
        if let Some(inst) = decode32(word) {
            let again = encode(&inst).map_err(|e| TestCaseError::fail(format!("{word:08x} {inst:?}: {e}")))?;
            if inst == Instruction::Fence {
                prop_assert_eq!(word & 0x7f, 0x0f);
                prop_assert!((word >> 12) & 7 <= 1, "fence or fence.i");
                prop_assert_eq!(again, 0x0ff0_000f);
            } else {
                prop_assert_eq!(again, word, "{:?}", inst);
            }
        }
    }

    /// Words with the opcode bits set so that most of them hit a real
    /// opcode (random words mostly do not).
    #[test]
    fn decoded_words_with_real_opcodes_reencode(high in any::<u32>(), opcode in one_of(&[
        0x03u32, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x47,
        0x4b, 0x4f, 0x53, 0x63, 0x67, 0x6f, 0x73,
    ])) {
        let word = (high & !0x7f) | opcode;
        if let Some(inst) = decode32(word) {
            let again = encode(&inst).map_err(|e| TestCaseError::fail(format!("{word:08x} {inst:?}: {e}")))?;
            if inst != Instruction::Fence {
                prop_assert_eq!(again, word, "{:?}", inst);
            }
        }
    }
}

/// Random instructions (all but branches and jumps, whose text holds
/// relative offsets where GNU as wants targets) printed by sim's
/// disassembler, assembled by GNU as: the same words as sim's encoder, and
/// objdump prints them as sim does. Checks the encoder, and the
/// disassembler's spelling, against the GNU tools for every extension.
#[test]
fn agrees_with_gnu_as_and_objdump() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let (as_, objdump) = ("riscv64-linux-gnu-as", "riscv64-linux-gnu-objdump");
    if common::tool(as_).is_none() || common::tool(objdump).is_none() {
        return;
    }
    let mut runner = TestRunner::deterministic();
    let strategy = encodable();
    let mut insts = Vec::new();
    while insts.len() < 3000 {
        let inst = strategy.new_tree(&mut runner).unwrap().current();
        let keep = match inst {
            Instruction::Branch { .. } | Instruction::Jal { .. } | Instruction::Fence => false,
            // binutils 2.40 takes no rounding mode on the conversions that
            // are always exact.
            Instruction::FpConvert {
                width: FpWidth::Double,
                rm,
                ..
            }
            | Instruction::IntToFp {
                int: IntWidth::W | IntWidth::Wu,
                width: FpWidth::Double,
                rm,
                ..
            } => rm == Rm::Rne,
            // Not every CSR has a name in GNU as; numbers print as names.
            Instruction::Csr { csr, .. } => csr < 4 || (0xc00..0xc03).contains(&csr),
            _ => true,
        };
        if keep {
            insts.push(inst);
        }
    }
    let dir = std::env::temp_dir().join(format!("sim-isa-gnu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source: String = insts.iter().map(|i| format!("{i}\n")).collect();
    std::fs::write(dir.join("all.s"), source).unwrap();
    let assembled = std::process::Command::new(as_)
        .args(["-march=rv64g_zba_zbb_zbs", "-mno-relax", "-o"])
        .arg(dir.join("all.o"))
        .arg(dir.join("all.s"))
        .output()
        .unwrap();
    assert!(
        assembled.status.success(),
        "{}",
        String::from_utf8_lossy(&assembled.stderr)
    );
    let dump = std::process::Command::new(objdump)
        .args(["-d", "-M", "no-aliases", "-M", "arch=rv64gc_zba_zbb_zbs"])
        .arg(dir.join("all.o"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&dump.stdout);
    let lines: Vec<(u32, String)> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() < 3 || !fields[0].trim_end().ends_with(':') {
                return None;
            }
            let word = u32::from_str_radix(fields[1].trim(), 16).ok()?;
            let operands = fields
                .get(3)
                .map_or("", |s| s.split(" #").next().unwrap_or(s).trim());
            Some((
                word,
                format!("{} {operands}", fields[2].trim())
                    .trim()
                    .to_string(),
            ))
        })
        .collect();
    assert_eq!(lines.len(), insts.len(), "one line per instruction");
    for (inst, (word, objdump_text)) in insts.iter().zip(&lines) {
        assert_eq!(
            encode(inst).ok(),
            Some(*word),
            "{inst}: GNU as gives {word:08x}"
        );
        // objdump prints shift amounts of the Zb* immediate forms in hex.
        let ours = inst.to_string();
        let theirs = objdump_text.clone();
        let same = ours == theirs
            || {
                let (a, b) = (ours.rsplit_once(','), theirs.rsplit_once(','));
                matches!((a, b), (Some((x, n)), Some((y, h))) if x == y
                && h.strip_prefix("0x").and_then(|h| i64::from_str_radix(h, 16).ok()) == n.parse().ok())
            };
        assert!(same, "{word:08x}: sim prints `{ours}`, objdump `{theirs}`");
    }
}

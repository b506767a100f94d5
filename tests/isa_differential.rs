//! Differential tests of the F, D, Zba, Zbb and Zbs extensions against
//! qemu-riscv64: every instruction, under every rounding mode (static and
//! dynamic), on special and random operands, runs as one guest program on
//! both; the results and the exception flags must be the same bit for bit.
//!
//! How a case runs (the program is built with sim's own encoder and ELF
//! writer): clear `fcsr`, set `frm`, load the operands into `ft0`, `ft1`,
//! `ft2` (raw 64 bits: singles may be NaN-boxed or not) and `a0`, run the
//! instruction with destination `ft3` or `a1`, store `ft3`, `a1` and
//! `fflags`. At the end the program writes all results to stdout, which
//! both machines must print alike; on a difference the test names the
//! cases.
//!
//! Also here: every instruction gcc -O2 and glibc emit for rv64gc decodes,
//! and an invalid dynamic rounding mode is an illegal instruction on both.
//! Without qemu-riscv64 (or gcc for that test) the tests print `SKIP` and
//! pass, unless `CI=true`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{li64, Program};
use proptest::prelude::*;
use sim::emu::{
    CsrOp, FReg, FpArithOp, FpWidth, FusedOp, ImmOp, Instruction, Reg, RegOp, Rm, StoreOp, UnaryOp,
    CSR_FCSR, CSR_FFLAGS, CSR_FRM,
};
use sim::toolchain::elf::{write_executable, Segment, SegmentFlags};

const QEMU: &str = "qemu-riscv64";

/// Where the test program's code starts: qemu-riscv64 does not map pages
/// below 0x10000 (Linux's `mmap_min_addr`), so not the rig's `CODE`.
const TEXT: u64 = 0x10000;
/// Where the operands and results live in the test program.
const DATA: u64 = 0x1000_0000;

/// An ELF image of `program` at `TEXT` and a data segment `(bytes,
/// size)` at `DATA`. The program's jumps, if any, must be relative.
fn elf_of(program: &Program, data: Option<(Vec<u8>, u64)>) -> Vec<u8> {
    let mut segments = vec![Segment {
        vaddr: TEXT,
        data: program.bytes.clone(),
        mem_size: program.bytes.len() as u64,
        flags: SegmentFlags::CODE,
    }];
    if let Some((bytes, mem_size)) = data {
        segments.push(Segment {
            vaddr: DATA,
            data: bytes,
            mem_size,
            flags: SegmentFlags::DATA,
        });
    }
    write_executable(TEXT, &segments, &[])
}
/// Bytes of operands (a, b, c, integer) and of results (f, x, fflags) per case.
const IN: u64 = 32;
const OUT: u64 = 24;

const FT0: FReg = FReg(0);
const FT1: FReg = FReg(1);
const FT2: FReg = FReg(2);
const FT3: FReg = FReg(3);

/// One instruction run on given operands.
#[derive(Clone, Debug)]
struct Case {
    inst: Instruction,
    /// The `frm` in effect (what `dyn` means; static modes must ignore it).
    frm: u8,
    a: u64,
    b: u64,
    c: u64,
    int: u64,
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sim-isa-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn csr(op: CsrOp, rd: Reg, rs1: u8, csr: u16) -> Instruction {
    Instruction::Csr {
        op,
        rd,
        rs1: Reg(rs1),
        csr,
    }
}

fn fp_mem(load: bool, width: FpWidth, reg: FReg, base: Reg, offset: i64) -> Instruction {
    if load {
        Instruction::FpLoad {
            width,
            rd: reg,
            rs1: base,
            offset,
        }
    } else {
        Instruction::FpStore {
            width,
            rs1: base,
            rs2: reg,
            offset,
        }
    }
}

fn addi(rd: Reg, rs1: Reg, imm: i64) -> Instruction {
    Instruction::OpImm {
        op: ImmOp::Addi,
        rd,
        rs1,
        imm,
    }
}

/// Appends `write(1, buffer, len)` until all is written (a write may be
/// short), then `exit(0)`.
fn write_all_and_exit(p: &mut Program, buffer: u64, len: u64) {
    for i in li64(Reg(18), buffer).into_iter().chain(li64(Reg(19), len)) {
        p.push(i);
    }
    let top = p.here();
    p.push(addi(Reg::A0, Reg::ZERO, 1));
    p.push(addi(Reg::A1, Reg(18), 0));
    p.push(addi(Reg::A2, Reg(19), 0));
    for i in common::syscall(64) {
        p.push(i);
    }
    p.push(Instruction::Op {
        op: RegOp::Add,
        rd: Reg(18),
        rs1: Reg(18),
        rs2: Reg::A0,
    });
    p.push(Instruction::Op {
        op: RegOp::Sub,
        rd: Reg(19),
        rs1: Reg(19),
        rs2: Reg::A0,
    });
    let back = top as i64 - p.here() as i64;
    p.push(Instruction::Branch {
        op: sim::emu::BranchOp::Bne,
        rs1: Reg(19),
        rs2: Reg::ZERO,
        offset: back,
    });
    p.push(addi(Reg::A0, Reg::ZERO, 0));
    for i in common::syscall(93) {
        p.push(i);
    }
}

/// The test program of `cases`: an ELF image that prints every result.
fn program_of(cases: &[Case]) -> Vec<u8> {
    let (s0, s1, t0) = (Reg::S0, Reg::S1, Reg::T0);
    let mut p = Program::new();
    for i in li64(s0, DATA) {
        p.push(i);
    }
    for i in li64(s1, DATA + IN * cases.len() as u64) {
        p.push(i);
    }
    let ld = |rd, offset| Instruction::Load {
        op: sim::emu::LoadOp::Ld,
        rd,
        rs1: s0,
        offset,
    };
    let sd = |rs2, offset| Instruction::Store {
        op: StoreOp::Sd,
        rs1: s1,
        rs2,
        offset,
    };
    for case in cases {
        p.push(csr(CsrOp::Csrrwi, Reg::ZERO, 0, CSR_FCSR));
        p.push(csr(CsrOp::Csrrwi, Reg::ZERO, case.frm, CSR_FRM));
        for (k, f) in [FT0, FT1, FT2].into_iter().enumerate() {
            p.push(fp_mem(true, FpWidth::Double, f, s0, 8 * k as i64));
        }
        p.push(ld(Reg::A0, 24));
        // Known values in the destinations.
        p.push(Instruction::FpMoveFromInt {
            width: FpWidth::Double,
            rd: FT3,
            rs1: Reg::ZERO,
        });
        p.push(addi(Reg::A1, Reg::ZERO, 0));
        p.push(case.inst);
        if !matches!(case.inst, Instruction::FpStore { .. }) {
            p.push(fp_mem(false, FpWidth::Double, FT3, s1, 0));
        }
        p.push(sd(Reg::A1, 8));
        p.push(csr(CsrOp::Csrrs, t0, 0, CSR_FFLAGS));
        p.push(sd(t0, 16));
        p.push(addi(s0, s0, IN as i64));
        p.push(addi(s1, s1, OUT as i64));
    }
    write_all_and_exit(
        &mut p,
        DATA + IN * cases.len() as u64,
        OUT * cases.len() as u64,
    );
    let mut data = Vec::new();
    for case in cases {
        for v in [case.a, case.b, case.c, case.int] {
            data.extend_from_slice(&v.to_le_bytes());
        }
    }
    let size = (IN + OUT) * cases.len() as u64;
    elf_of(&p, Some((data, size)))
}

/// What sim prints for a program.
fn run_sim(elf: &[u8]) -> Vec<u8> {
    let (s, outcome) = common::simulate(&[elf], |b| b.max_instructions(100_000_000));
    assert_eq!(
        outcome.exit_code,
        0,
        "sim: {}",
        String::from_utf8_lossy(s.stderr())
    );
    s.stdout().to_vec()
}

/// Writes an ELF image with the execute bit, which qemu-riscv64 (like
/// Linux) requires.
fn write_executable_file(path: &std::path::Path, elf: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, elf).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What qemu-riscv64 prints for a program.
fn run_qemu(elf: &[u8], scratch: &Scratch) -> Vec<u8> {
    let path = scratch.0.join("cases.elf");
    if let Ok(keep) = std::env::var("SIM_KEEP_ELF") {
        std::fs::write(&keep, elf).unwrap();
    }
    write_executable_file(&path, elf);
    let out = Command::new(QEMU).arg(&path).output().expect("run qemu");
    assert!(
        out.status.success(),
        "qemu: {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `cases` on both machines; panics naming the cases that differ.
fn compare(name: &str, cases: &[Case]) {
    if common::tool(QEMU).is_none() {
        return;
    }
    let scratch = Scratch::new(name);
    let elf = program_of(cases);
    let want = run_qemu(&elf, &scratch);
    let got = run_sim(&elf);
    assert_eq!(want.len(), OUT as usize * cases.len(), "qemu output size");
    assert_eq!(got.len(), want.len(), "sim output size");
    let word = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    let mut report = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let at = k * OUT as usize;
        let (w, g) = (&want[at..at + 24], &got[at..at + 24]);
        if w != g {
            report.push(format!(
                "{} (frm {}) a={:#018x} b={:#018x} c={:#018x} x={:#x}: qemu f={:#018x} x={:#x} flags={:#x}, sim f={:#018x} x={:#x} flags={:#x}",
                case.inst, case.frm, case.a, case.b, case.c, case.int,
                word(w, 0), word(w, 8), word(w, 16), word(g, 0), word(g, 8), word(g, 16)
            ));
        }
    }
    assert!(
        report.is_empty(),
        "{name}: {} of {} cases differ from qemu:\n{}",
        report.len(),
        cases.len(),
        report
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---- the instructions ---------------------------------------------------------

/// Every floating-point instruction of `width` (with destination `ft3` or
/// `a1`, sources `ft0`..`ft2` or `a0`; loads read the case's operands,
/// stores write its result) in rounding mode `rm`.
fn instructions(width: FpWidth, rm: Rm) -> Vec<Instruction> {
    sim::emu::fp_instructions(width, rm, [FT3, FT0, FT1, FT2], [Reg::A1, Reg::A0])
        .into_iter()
        .map(|inst| match inst {
            Instruction::FpLoad { .. } => fp_mem(true, width, FT3, Reg::S0, 0),
            Instruction::FpStore { .. } => fp_mem(false, width, FT0, Reg::S1, 0),
            other => other,
        })
        .collect()
}

/// Every rounding mode: the five static ones and `dyn`.
const RMS: [Rm; 6] = [Rm::Rne, Rm::Rtz, Rm::Rdn, Rm::Rup, Rm::Rmm, Rm::Dyn];

/// Whether an instruction rounds (takes `rm`).
fn rounds(inst: &Instruction) -> bool {
    use Instruction::*;
    matches!(
        inst,
        FpArith { .. }
            | FpSqrt { .. }
            | FpConvert { .. }
            | FpToInt { .. }
            | IntToFp { .. }
            | FpFused { .. }
    )
}

// ---- operands -------------------------------------------------------------------

const BOX: u64 = 0xffff_ffff_0000_0000;

/// Special doubles: zeros, subnormals, the normal range's ends, infinities,
/// NaNs (quiet, signalling, with payload), halfway cases for conversions,
/// and values at the integer ranges' edges.
const SPECIAL_D: [u64; 26] = [
    0x0000_0000_0000_0000, // +0
    0x8000_0000_0000_0000, // -0
    0x0000_0000_0000_0001, // smallest subnormal
    0x800f_ffff_ffff_ffff, // -largest subnormal
    0x0010_0000_0000_0000, // smallest normal
    0x3ff0_0000_0000_0000, // 1
    0xbff0_0000_0000_0000, // -1
    0x3ff8_0000_0000_0000, // 1.5
    0x4004_0000_0000_0000, // 2.5
    0xc00c_0000_0000_0000, // -3.5
    0x3fb9_9999_9999_999a, // 0.1
    0x7fef_ffff_ffff_ffff, // largest
    0xffef_ffff_ffff_ffff, // -largest
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // canonical NaN
    0xfff8_0000_0000_1234, // quiet NaN, payload, negative
    0x7ff0_0000_0000_0001, // signalling NaN
    0x41e0_0000_0000_0000, // 2^31
    0xc1e0_0000_0010_0000, // just below -2^31
    0x41ef_ffff_ffff_ffff, // just below 2^32
    0x43e0_0000_0000_0000, // 2^63
    0xc3e0_0000_0000_0000, // -2^63
    0x43f0_0000_0000_0000, // 2^64
    0x3fe0_0000_0000_0000, // 0.5
    0x36a0_0000_0000_0000, // 2^-149: underflows as a single
];

/// Special singles, NaN-boxed unless said otherwise.
const SPECIAL_S: [u64; 24] = [
    BOX,
    BOX | 0x8000_0000,
    BOX | 0x0000_0001,
    BOX | 0x807f_ffff,
    BOX | 0x0080_0000,
    BOX | 0x3f80_0000, // 1
    BOX | 0xbf80_0000, // -1
    BOX | 0x3fc0_0000, // 1.5
    BOX | 0x4020_0000, // 2.5
    BOX | 0xc060_0000, // -3.5
    BOX | 0x3dcc_cccd, // 0.1
    BOX | 0x7f7f_ffff, // largest
    BOX | 0xff7f_ffff,
    BOX | 0x7f80_0000, // +inf
    BOX | 0xff80_0000,
    BOX | 0x7fc0_0000,     // canonical NaN
    BOX | 0xffc0_1234,     // quiet NaN with payload
    BOX | 0x7f80_0001,     // signalling NaN
    BOX | 0x4f00_0000,     // 2^31
    BOX | 0x5f00_0000,     // 2^63
    BOX | 0x5f80_0000,     // 2^64
    BOX | 0x3f00_0000,     // 0.5
    0x0000_0000_3f80_0000, // 1, not NaN-boxed: reads as the canonical NaN
    0x7ff0_0000_3f80_0000, // not NaN-boxed either
];

/// Special integer operands of conversions from integers.
const SPECIAL_INT: [u64; 12] = [
    0,
    1,
    u64::MAX, // -1
    0x7fff_ffff,
    0xffff_ffff_8000_0000, // i32::MIN
    0xffff_ffff,
    0x8000_0000_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x0020_0000_0000_0001, // 2^53 + 1: not a double
    0x0000_0000_0100_0001, // 2^24 + 1: not a single
    0x1234_5678_9abc_def1,
    0xffff_ffff_0000_0001,
];

fn specials(width: FpWidth) -> &'static [u64] {
    match width {
        FpWidth::Single => &SPECIAL_S,
        FpWidth::Double => &SPECIAL_D,
    }
}

/// A random operand of `width`: a special value, random bits, or bits
/// with a small exponent range so that operations round, cancel,
/// overflow and underflow often.
fn operand(width: FpWidth) -> impl Strategy<Value = u64> {
    let special = (0..specials(width).len()).prop_map(move |i| specials(width)[i]);
    let near_one = any::<u64>().prop_map(move |v| match width {
        // exponent within 2^-8..2^8
        FpWidth::Double => (v & 0x800f_ffff_ffff_ffff) | ((0x3f7 + (v >> 52) % 17) << 52),
        FpWidth::Single => BOX | (v & 0x807f_ffff) | (((0x77 + (v >> 40) % 17) & 0xff) << 23),
    });
    let tiny = any::<u64>().prop_map(move |v| match width {
        FpWidth::Double => v & 0x80ff_ffff_ffff_ffff,
        FpWidth::Single => BOX | (v & 0x87ff_ffff),
    });
    let raw = any::<u64>().prop_map(move |v| match width {
        FpWidth::Double => v,
        // Mostly boxed; now and then not.
        FpWidth::Single if v & 0xf == 0 => v,
        FpWidth::Single => BOX | (v & 0xffff_ffff),
    });
    prop_oneof![2 => special, 3 => near_one, 1 => tiny, 2 => raw]
}

fn int_operand() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0..SPECIAL_INT.len()).prop_map(|i| SPECIAL_INT[i]),
        any::<u64>(),
        any::<i32>().prop_map(|v| v as i64 as u64),
        (0u32..64, any::<u64>()).prop_map(|(s, v)| v >> s),
    ]
}

/// A random case: any instruction, any rounding mode, random operands.
fn random_case() -> impl Strategy<Value = Case> {
    let width = prop_oneof![Just(FpWidth::Single), Just(FpWidth::Double)];
    (
        width,
        0usize..RMS.len(),
        any::<prop::sample::Index>(),
        0u8..5,
    )
        .prop_flat_map(|(width, rm, which, frm)| {
            let all = instructions(width, RMS[rm]);
            let inst = all[which.index(all.len())];
            (
                operand(width),
                operand(width),
                operand(width),
                int_operand(),
            )
                .prop_map(move |(a, b, c, int)| Case {
                    inst,
                    frm,
                    a,
                    b,
                    c,
                    int,
                })
        })
}

// ---- the tests ------------------------------------------------------------------

/// How many floating-point operands an instruction reads (the integer
/// conversions read `a0` instead).
fn fp_sources(inst: &Instruction) -> usize {
    use Instruction::*;
    match inst {
        FpArith { .. } | FpSign { .. } | FpMinMax { .. } | FpCompare { .. } | FpFused { .. } => 2,
        IntToFp { .. } | FpMoveFromInt { .. } => 0,
        _ => 1,
    }
}

/// Every instruction in every rounding mode (a static one with another
/// `frm` in effect, `dyn` with each `frm` in turn) on every special
/// operand, or pair of them for the two-operand ones (a fused one's third
/// operand cycles through them).
#[test]
fn every_instruction_every_rounding_mode_on_special_values() {
    let mut cases = Vec::new();
    for width in [FpWidth::Single, FpWidth::Double] {
        let values = specials(width);
        for (r, &rm) in RMS.iter().enumerate() {
            for (k, inst) in instructions(width, rm).into_iter().enumerate() {
                if rm != Rm::Dyn && !rounds(&inst) {
                    // What does not round needs one pass only.
                    continue;
                }
                let pairs: Vec<(u64, u64, u64)> = match fp_sources(&inst) {
                    0 => SPECIAL_INT.iter().map(|&i| (0, 0, i)).collect(),
                    1 => values.iter().map(|&a| (a, 0, 0)).collect(),
                    _ => values
                        .iter()
                        .flat_map(|&a| values.iter().map(move |&b| (a, b, 0)))
                        .collect(),
                };
                for (n, (a, b, int)) in pairs.into_iter().enumerate() {
                    let frm = if rm == Rm::Dyn {
                        (n % 5) as u8
                    } else {
                        (r as u8 + 2) % 5
                    };
                    cases.push(Case {
                        inst,
                        frm,
                        a,
                        b,
                        c: values[(n + k) % values.len()],
                        int,
                    });
                }
            }
        }
    }
    assert!(cases.len() > 20_000, "{} cases", cases.len());
    compare("special", &cases);
}

/// The fused multiply-adds on every triple of a smaller set of special
/// values, in every static rounding mode.
#[test]
fn fused_multiply_add_on_special_triples() {
    let mut cases = Vec::new();
    for width in [FpWidth::Single, FpWidth::Double] {
        let values: Vec<u64> = specials(width).iter().copied().step_by(2).collect();
        for op in [FusedOp::Madd, FusedOp::Msub, FusedOp::Nmsub, FusedOp::Nmadd] {
            for (n, &a) in values.iter().enumerate() {
                for &b in &values {
                    for (m, &c) in values.iter().enumerate() {
                        let rm = RMS[(n + m) % 5];
                        cases.push(Case {
                            inst: Instruction::FpFused {
                                op,
                                width,
                                rd: FT3,
                                rs1: FT0,
                                rs2: FT1,
                                rs3: FT2,
                                rm,
                            },
                            frm: 0,
                            a,
                            b,
                            c,
                            int: 0,
                        });
                    }
                }
            }
        }
    }
    compare("fused", &cases);
}

proptest! {
    // Each case is one guest program of 600 instructions under test, run
    // on both machines; shrinking would rerun qemu, and the failure
    // message already names every case that differs.
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn random_operands_agree_with_qemu(cases in prop::collection::vec(random_case(), 600)) {
        compare("random", &cases);
    }
}

/// An instruction with `rm = dyn` while `frm` holds a reserved mode (5, 6,
/// 7) is illegal: SIGILL (exit code 132) on both machines.
#[test]
fn a_reserved_dynamic_rounding_mode_is_an_illegal_instruction() {
    if common::tool(QEMU).is_none() {
        return;
    }
    let scratch = Scratch::new("frm");
    for frm in [5u8, 6, 7] {
        let mut p = Program::new();
        p.push(csr(CsrOp::Csrrwi, Reg::ZERO, frm, CSR_FRM));
        p.push(Instruction::FpArith {
            op: FpArithOp::Add,
            width: FpWidth::Double,
            rd: FT3,
            rs1: FT0,
            rs2: FT1,
            rm: Rm::Dyn,
        });
        p.push(addi(Reg::A0, Reg::ZERO, 0));
        for i in common::syscall(93) {
            p.push(i);
        }
        let elf = elf_of(&p, None);
        let path = scratch.0.join("frm.elf");
        write_executable_file(&path, &elf);
        let qemu = Command::new(QEMU).arg(&path).output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(qemu.status.signal(), Some(4), "qemu, frm {frm}");
        let (s, outcome) = common::simulate(&[&elf], |b| b);
        assert_eq!(outcome.exit_code, 128 + 4, "sim, frm {frm}");
        let err = String::from_utf8_lossy(s.stderr());
        assert!(err.contains("illegal instruction"), "{err}");
        // The rounding mode alone is wrong: frm is readable and the same
        // instruction with a valid frm runs (checked by the tests above).
    }
}

// ---- Zba, Zbb, Zbs ----------------------------------------------------------------

/// Every Zba/Zbb/Zbs instruction with destination `a1` and sources `a0`,
/// `a2` (shift amounts: every one for the immediate forms over the cases).
fn bit_instructions(shamt: i64) -> Vec<Instruction> {
    use RegOp::*;
    let (rd, rs1, rs2) = (Reg::A1, Reg::A0, Reg::A2);
    let mut all: Vec<Instruction> = [
        Sh1add, Sh2add, Sh3add, AddUw, Sh1addUw, Sh2addUw, Sh3addUw, Andn, Orn, Xnor, Max, Maxu,
        Min, Minu, Rol, Ror, Rolw, Rorw, Bclr, Bext, Binv, Bset,
    ]
    .into_iter()
    .map(|op| Instruction::Op { op, rd, rs1, rs2 })
    .collect();
    for op in [
        ImmOp::SlliUw,
        ImmOp::Rori,
        ImmOp::Bclri,
        ImmOp::Bexti,
        ImmOp::Binvi,
        ImmOp::Bseti,
    ] {
        all.push(Instruction::OpImm {
            op,
            rd,
            rs1,
            imm: shamt & 63,
        });
    }
    all.push(Instruction::OpImm {
        op: ImmOp::Roriw,
        rd,
        rs1,
        imm: shamt & 31,
    });
    use UnaryOp::*;
    for op in [
        Clz, Ctz, Cpop, Clzw, Ctzw, Cpopw, SextB, SextH, ZextH, OrcB, Rev8,
    ] {
        all.push(Instruction::Unary { op, rd, rs1 });
    }
    all
}

/// Runs each (instruction, a0, a2) and prints `a1`; sim and qemu must
/// print the same.
fn compare_bits(cases: &[(Instruction, u64, u64)]) {
    if common::tool(QEMU).is_none() {
        return;
    }
    let s1 = Reg::S1;
    let mut p = Program::new();
    for i in li64(s1, DATA) {
        p.push(i);
    }
    for &(inst, a, b) in cases {
        for i in li64(Reg::A0, a) {
            p.push(i);
        }
        for i in li64(Reg::A2, b) {
            p.push(i);
        }
        p.push(inst);
        p.push(Instruction::Store {
            op: StoreOp::Sd,
            rs1: s1,
            rs2: Reg::A1,
            offset: 0,
        });
        p.push(addi(s1, s1, 8));
    }
    write_all_and_exit(&mut p, DATA, 8 * cases.len() as u64);
    let elf = elf_of(&p, Some((Vec::new(), 8 * cases.len() as u64)));
    let scratch = Scratch::new("bits");
    let want = run_qemu(&elf, &scratch);
    let got = run_sim(&elf);
    assert_eq!(want.len(), 8 * cases.len());
    let differ: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(k, _)| want[k * 8..k * 8 + 8] != got[k * 8..k * 8 + 8])
        .map(|(k, (inst, a, b))| {
            let v = |o: &[u8]| u64::from_le_bytes(o[k * 8..k * 8 + 8].try_into().unwrap());
            format!(
                "{inst} a0={a:#x} a2={b:#x}: qemu {:#x}, sim {:#x}",
                v(&want),
                v(&got)
            )
        })
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn bit_manipulation_agrees_with_qemu(
        operands in prop::collection::vec((any::<u64>(), any::<u64>(), 0i64..64, any::<bool>()), 40)
    ) {
        let mut cases = Vec::new();
        for (a, b, shamt, small) in operands {
            // Small operands too, for the word forms and counts.
            let (a, b) = if small { (a & 0xffff, b & 0x3f) } else { (a, b) };
            for inst in bit_instructions(shamt) {
                cases.push((inst, a, b));
            }
        }
        compare_bits(&cases);
    }
}

/// Every instruction word in a static glibc program built by stock
/// `riscv64-linux-gnu-gcc -O2` (rv64gc) decodes: libc's startup uses the
/// floating-point registers even in integer programs.
#[test]
fn every_instruction_gcc_and_glibc_emit_decodes() {
    let gcc = "riscv64-linux-gnu-gcc";
    let objdump = "riscv64-linux-gnu-objdump";
    if common::tool(gcc).is_none() || common::tool(objdump).is_none() {
        return;
    }
    let scratch = Scratch::new("glibc");
    let src = scratch.0.join("p.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n#include <math.h>\n\
         int main(int argc, char **argv) { double x = strtod(argc > 1 ? argv[1] : \"2.5\", 0);\n\
         printf(\"%g %f %e\\n\", sqrt(x), exp(x), x / 3); return (int)x; }\n",
    )
    .unwrap();
    let exe = scratch.0.join("p");
    let out = Command::new(gcc)
        .args(["-static", "-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-lm")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = Command::new(objdump).arg("-d").arg(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    let mut checked = 0;
    let mut unknown = Vec::new();
    for line in text.lines() {
        // "   10150:	00010297          	auipc	t0,0x10"
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 3 || !fields[0].trim_end().ends_with(':') {
            continue;
        }
        let hex = fields[1].trim();
        let mnemonic = fields[2].trim();
        if mnemonic.starts_with('.') || mnemonic == "unimp" || mnemonic == "c.unimp" {
            // Data in .text (objdump shows .word/.2byte), or a deliberate trap.
            continue;
        }
        let Ok(word) = u32::from_str_radix(hex, 16) else {
            continue;
        };
        checked += 1;
        if sim::emu::decode(word).is_none() {
            unknown.push(format!("{word:08x} {mnemonic}"));
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(checked > 10_000, "only {checked} instructions");
    assert!(
        unknown.is_empty(),
        "words sim cannot decode:\n{}",
        unknown.join("\n")
    );
}

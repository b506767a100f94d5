//! The semantics of every RV64IMAC instruction, edges included: each test
//! builds a tiny program from typed instructions (assembly in the comment),
//! maps it into a fresh machine by hand, runs it with a step budget and
//! asserts registers, memory or the exception (RISC-V unprivileged spec,
//! chapters 2, 5, 7, 8 (M), 9 (A), 16 (C)).

mod common;

use common::*;
use sim::emu::{
    Access, AmoOp, AmoWidth, BranchOp, CsrOp, Exception, ImmOp, Instruction, LoadOp, PteFlags, Reg,
    RegOp, StoreOp, CSR_CYCLE, CSR_INSTRET, CSR_TIME, PAGE_SIZE,
};

const A0: Reg = Reg::A0;
const A1: Reg = Reg::A1;
const A2: Reg = Reg::A2;
const A3: Reg = Reg::A3;
const A4: Reg = Reg::A4;
const A5: Reg = Reg::A5;

const MIN: u64 = i64::MIN as u64;
const NEG1: u64 = u64::MAX;

fn neg(v: i64) -> u64 {
    v as u64
}

fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// `op a0, a1, a2` with a1 = a, a2 = b; returns a0.
fn rr(op: RegOp, a: u64, b: u64) -> u64 {
    let rig = exec(
        &[Instruction::Op {
            op,
            rd: A0,
            rs1: A1,
            rs2: A2,
        }],
        &[(A1, a), (A2, b)],
    );
    rig.reg(A0)
}

/// `op a0, a1, imm` with a1 = a; returns a0.
fn ri(op: ImmOp, a: u64, imm: i64) -> u64 {
    let rig = exec(
        &[Instruction::OpImm {
            op,
            rd: A0,
            rs1: A1,
            imm,
        }],
        &[(A1, a)],
    );
    rig.reg(A0)
}

fn check_rr(op: RegOp, cases: &[(u64, u64, u64)]) {
    for &(a, b, want) in cases {
        let got = rr(op, a, b);
        assert_eq!(
            got, want,
            "{op:?} {a:#x}, {b:#x}: got {got:#x}, want {want:#x}"
        );
    }
}

fn check_ri(op: ImmOp, cases: &[(u64, i64, u64)]) {
    for &(a, imm, want) in cases {
        let got = ri(op, a, imm);
        assert_eq!(
            got, want,
            "{op:?} {a:#x}, {imm}: got {got:#x}, want {want:#x}"
        );
    }
}

#[test]
fn add_sub_logic() {
    check_rr(
        RegOp::Add,
        &[(1, 2, 3), (NEG1, 1, 0), (i64::MAX as u64, 1, MIN)],
    );
    check_rr(RegOp::Sub, &[(1, 2, NEG1), (MIN, 1, i64::MAX as u64)]);
    check_rr(RegOp::Xor, &[(0xff00, 0x0ff0, 0xf0f0)]);
    check_rr(RegOp::Or, &[(0xff00, 0x0ff0, 0xfff0)]);
    check_rr(RegOp::And, &[(0xff00, 0x0ff0, 0x0f00)]);
    check_ri(ImmOp::Addi, &[(5, -6, NEG1), (NEG1, 1, 0), (0, 2047, 2047)]);
    // Immediates are sign-extended to 64 bits before the logic operation.
    check_ri(ImmOp::Xori, &[(0x1234, -1, !0x1234u64)]);
    check_ri(ImmOp::Ori, &[(0, -2048, neg(-2048))]);
    check_ri(ImmOp::Andi, &[(NEG1, -16, neg(-16)), (NEG1, 0x7ff, 0x7ff)]);
}

#[test]
fn slt_and_sltu_with_negative_numbers() {
    check_rr(
        RegOp::Slt,
        &[
            (neg(-1), 0, 1),
            (0, neg(-1), 0),
            (MIN, i64::MAX as u64, 1),
            (3, 3, 0),
        ],
    );
    check_rr(
        RegOp::Sltu,
        &[
            (neg(-1), 0, 0),
            (0, neg(-1), 1),
            (MIN, i64::MAX as u64, 0),
            (3, 4, 1),
        ],
    );
    check_ri(
        ImmOp::Slti,
        &[(neg(-5), -4, 1), (neg(-4), -5, 0), (0, -1, 0)],
    );
    // sltiu compares with the sign-extended immediate as an unsigned number:
    // `sltiu rd, rs, -1` is 1 for everything but all-ones.
    check_ri(
        ImmOp::Sltiu,
        &[(5, -1, 1), (NEG1, -1, 0), (0, 1, 1), (1, 1, 0)],
    );
}

#[test]
fn w_forms_sign_extend_their_32_bit_result() {
    check_rr(
        RegOp::Addw,
        &[
            (0x7fff_ffff, 1, 0xffff_ffff_8000_0000),
            (0xffff_ffff_0000_0001, 1, 2),
            (0xffff_ffff, 0, NEG1),
        ],
    );
    check_rr(
        RegOp::Subw,
        &[(0, 1, NEG1), (0x8000_0000, 0, sext32(0x8000_0000))],
    );
    check_rr(
        RegOp::Mulw,
        &[
            (0x10000, 0x8000, sext32(0x8000_0000)),
            (0x1_0000_0003, 2, 6),
        ],
    );
    check_ri(
        ImmOp::Addiw,
        &[
            (0x7fff_ffff, 1, 0xffff_ffff_8000_0000),
            (0x1234_5678_0000_0000, -1, NEG1),
            // `sext.w`: addiw rd, rs, 0
            (0x0000_0000_8000_0000, 0, 0xffff_ffff_8000_0000),
        ],
    );
}

#[test]
fn shift_by_immediate_0_31_32_63() {
    let x = 0x8000_0000_0000_0001u64;
    check_ri(
        ImmOp::Slli,
        &[
            (x, 0, x),
            (1, 31, 1 << 31),
            (1, 32, 1 << 32),
            (1, 63, MIN),
            (x, 63, MIN),
        ],
    );
    check_ri(
        ImmOp::Srli,
        &[(x, 0, x), (x, 31, 1 << 32), (x, 32, 1 << 31), (x, 63, 1)],
    );
    check_ri(
        ImmOp::Srai,
        &[
            (x, 0, x),
            (x, 31, 0xffff_ffff_0000_0000),
            (x, 32, 0xffff_ffff_8000_0000),
            (x, 63, NEG1),
            (0x4000_0000_0000_0000, 62, 1),
        ],
    );
    // 32-bit shifts use the low word and sign-extend bit 31 of the result.
    check_ri(
        ImmOp::Slliw,
        &[
            (1, 31, 0xffff_ffff_8000_0000),
            (0xffff_ffff_0000_0001, 0, 1),
            (3, 30, sext32(0xc000_0000)),
        ],
    );
    check_ri(
        ImmOp::Srliw,
        &[
            (0xffff_ffff_8000_0000, 0, 0xffff_ffff_8000_0000),
            (0xffff_ffff_8000_0000, 1, 0x4000_0000),
            (0x8000_0000, 31, 1),
        ],
    );
    check_ri(
        ImmOp::Sraiw,
        &[
            (0x8000_0000, 31, NEG1),
            (0x8000_0000, 4, 0xffff_ffff_f800_0000),
            (0x1_7fff_ffff, 0, 0x7fff_ffff),
        ],
    );
}

#[test]
fn register_shifts_use_only_the_low_6_or_5_bits() {
    let x = 0x8000_0000_0000_0001u64;
    check_rr(
        RegOp::Sll,
        &[
            (1, 63, MIN),
            (1, 64, 1),
            (1, 64 + 3, 8),
            (1, NEG1, MIN),
            (x, 0, x),
        ],
    );
    check_rr(RegOp::Srl, &[(x, 63, 1), (x, 64, x), (x, 64 + 63, 1)]);
    check_rr(
        RegOp::Sra,
        &[
            (x, 63, NEG1),
            (x, 64, x),
            (x, 128 + 1, 0xc000_0000_0000_0000),
        ],
    );
    check_rr(
        RegOp::Sllw,
        &[
            (1, 31, 0xffff_ffff_8000_0000),
            (1, 32, 1),
            (1, 32 + 3, 8),
            (1, 63, 0xffff_ffff_8000_0000),
        ],
    );
    check_rr(
        RegOp::Srlw,
        &[
            (0x8000_0000, 31, 1),
            (0x8000_0000, 32, sext32(0x8000_0000)),
            (0x8000_0000, 33, 0x4000_0000),
        ],
    );
    check_rr(
        RegOp::Sraw,
        &[
            (0x8000_0000, 31, NEG1),
            (0x8000_0000, 32, sext32(0x8000_0000)),
            (0x8000_0000, 33, sext32(0xc000_0000)),
        ],
    );
}

#[test]
fn lui_and_auipc_sign_extend() {
    // lui a0, 0x80000      → 0xffff_ffff_8000_0000
    // lui a1, 0x7ffff      → 0x7fff_f000
    // auipc a2, 0xfffff    → pc - 4096
    // auipc a3, 0          → pc
    let rig = exec(
        &[
            Instruction::Lui {
                rd: A0,
                imm: -0x8000_0000,
            },
            Instruction::Lui {
                rd: A1,
                imm: 0x7fff_f000,
            },
            Instruction::Auipc { rd: A2, imm: -4096 },
            Instruction::Auipc { rd: A3, imm: 0 },
        ],
        &[],
    );
    assert_eq!(rig.reg(A0), 0xffff_ffff_8000_0000);
    assert_eq!(rig.reg(A1), 0x7fff_f000);
    assert_eq!(rig.reg(A2), CODE + 8 - 4096);
    assert_eq!(rig.reg(A3), CODE + 12);
}

#[test]
fn jal_links_pc_plus_4_and_jumps() {
    // 0x1000  jal ra, +8       (skips the next instruction)
    // 0x1004  li a0, 1         (not run)
    // 0x1008  li a1, 2
    // 0x100c  ebreak
    let rig = exec(
        &[
            Instruction::Jal {
                rd: Reg::RA,
                offset: 8,
            },
            li(A0, 1),
            li(A1, 2),
        ],
        &[],
    );
    assert_eq!(rig.reg(Reg::RA), CODE + 4);
    assert_eq!(rig.reg(A0), 0);
    assert_eq!(rig.reg(A1), 2);
}

#[test]
fn jal_backwards() {
    // 0x1000  j +12
    // 0x1004  li a1, 7
    // 0x1008  ebreak
    // 0x100c  jal t0, -8       → 0x1004
    let mut p = Program::new();
    p.push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: 12,
    })
    .push(li(A1, 7))
    .push(Instruction::Ebreak)
    .push(Instruction::Jal {
        rd: Reg::T0,
        offset: -8,
    });
    let mut rig = Rig::new(&p);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A1), 7);
    assert_eq!(rig.reg(Reg::T0), CODE + 16);
    assert_eq!(rig.hart.pc, CODE + 8);
}

#[test]
fn jalr_clears_bit_0_and_links() {
    // 0x1000  jalr ra, 1(a0)   a0 = 0x100c → target 0x100d & ~1 = 0x100c
    // 0x1004  li a1, 1         (not run)
    // 0x1008  ebreak
    // 0x100c  li a2, 3
    // 0x1010  ebreak
    let mut p = Program::new();
    p.push(Instruction::Jalr {
        rd: Reg::RA,
        rs1: A0,
        offset: 1,
    })
    .push(li(A1, 1))
    .push(Instruction::Ebreak)
    .push(li(A2, 3))
    .push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.set(A0, CODE + 0xc);
    rig.run_to_ebreak();
    assert_eq!(rig.hart.pc, CODE + 0x10);
    assert_eq!(rig.reg(Reg::RA), CODE + 4);
    assert_eq!(rig.reg(A1), 0);
    assert_eq!(rig.reg(A2), 3);
}

#[test]
fn jalr_with_rd_equal_to_rs1_uses_the_old_value() {
    // 0x1000  jalr a0, -4(a0)  a0 = 0x100c → jumps to 0x1008, a0 = 0x1004
    // 0x1004  ebreak           (not reached first)
    // 0x1008  ebreak
    let mut p = Program::new();
    p.push(Instruction::Jalr {
        rd: A0,
        rs1: A0,
        offset: -4,
    })
    .push(Instruction::Ebreak)
    .push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.set(A0, CODE + 0xc);
    rig.run_to_ebreak();
    assert_eq!(rig.hart.pc, CODE + 8);
    assert_eq!(rig.reg(A0), CODE + 4);
}

#[test]
fn branches_signed_and_unsigned() {
    let cases: &[(BranchOp, u64, u64, bool)] = &[
        (BranchOp::Beq, 5, 5, true),
        (BranchOp::Beq, 5, 6, false),
        (BranchOp::Bne, 5, 6, true),
        (BranchOp::Bne, NEG1, NEG1, false),
        (BranchOp::Blt, neg(-1), 0, true),
        (BranchOp::Blt, 0, neg(-1), false),
        (BranchOp::Blt, 3, 3, false),
        (BranchOp::Bge, 3, 3, true),
        (BranchOp::Bge, neg(-1), 0, false),
        (BranchOp::Bge, MIN, MIN, true),
        (BranchOp::Bltu, 0, neg(-1), true),
        (BranchOp::Bltu, neg(-1), 0, false),
        (BranchOp::Bgeu, neg(-1), 0, true),
        (BranchOp::Bgeu, 0, 1, false),
    ];
    for &(op, a, b, taken) in cases {
        // 0x1000  b<op> a1, a2, +8
        // 0x1004  li a0, 1     (fall-through marker)
        // 0x1008  ebreak
        let rig = exec(
            &[
                Instruction::Branch {
                    op,
                    rs1: A1,
                    rs2: A2,
                    offset: 8,
                },
                li(A0, 1),
            ],
            &[(A1, a), (A2, b)],
        );
        assert_eq!(rig.reg(A0) == 0, taken, "{op:?} {a:#x}, {b:#x}");
    }
}

#[test]
fn a_backward_branch_loop_counts_instructions() {
    // li a0, 10
    // loop: addi a0, a0, -1      ; 10 times
    //       bnez a0, loop
    // ebreak
    let mut rig = Rig::new(&Program::of(&[
        li(A0, 10),
        addi(A0, A0, -1),
        Instruction::Branch {
            op: BranchOp::Bne,
            rs1: A0,
            rs2: Reg::ZERO,
            offset: -4,
        },
        Instruction::Ebreak,
    ]));
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 0);
    // 1 + 10 * 2; the ebreak does not retire.
    assert_eq!(rig.machine.instret(), 21);
}

#[test]
fn multiply_high_parts() {
    check_rr(
        RegOp::Mul,
        &[
            (neg(-3), 5, neg(-15)),
            (1 << 63, 2, 0),
            (0xffff_ffff, 0xffff_ffff, 0xffff_fffe_0000_0001),
        ],
    );
    check_rr(
        RegOp::Mulh,
        &[
            (neg(-1), neg(-1), 0),
            (MIN, MIN, 1 << 62),
            (neg(-2), 3, NEG1),
            (1 << 62, 4, 1),
        ],
    );
    check_rr(
        RegOp::Mulhu,
        &[(NEG1, NEG1, NEG1 - 1), (1 << 63, 2, 1), (5, 7, 0)],
    );
    // mulhsu: rs1 signed, rs2 unsigned.
    check_rr(
        RegOp::Mulhsu,
        &[
            (neg(-1), NEG1, NEG1),
            (neg(-1), 1, NEG1),
            (2, NEG1, 1),
            (MIN, 2, NEG1),
        ],
    );
}

#[test]
fn division_by_zero_and_overflow_64() {
    // Unprivileged spec 13.2, table 13.1: x/0 = -1 (all ones), x%0 = x,
    // MIN/-1 = MIN, MIN%-1 = 0. No trap.
    check_rr(
        RegOp::Div,
        &[
            (7, neg(-2), neg(-3)),
            (neg(-7), 2, neg(-3)),
            (42, 0, NEG1),
            (0, 0, NEG1),
            (MIN, NEG1, MIN),
        ],
    );
    check_rr(
        RegOp::Divu,
        &[(42, 0, NEG1), (NEG1, 2, NEG1 >> 1), (7, 2, 3)],
    );
    check_rr(
        RegOp::Rem,
        &[
            (7, neg(-2), 1),
            (neg(-7), 2, neg(-1)),
            (42, 0, 42),
            (neg(-42), 0, neg(-42)),
            (MIN, NEG1, 0),
        ],
    );
    check_rr(RegOp::Remu, &[(42, 0, 42), (NEG1, 10, 5), (7, 2, 1)]);
}

#[test]
fn division_by_zero_and_overflow_32() {
    let min32 = sext32(0x8000_0000);
    check_rr(
        RegOp::Divw,
        &[
            (7, neg(-2), neg(-3)),
            (42, 0, NEG1),
            // only the low words count
            (0xffff_ffff_0000_0007, 0x1_0000_0002, 3),
            (0x8000_0000, 0xffff_ffff, min32),
            (42, 0x1_0000_0000, NEG1),
        ],
    );
    check_rr(
        RegOp::Divuw,
        &[
            (42, 0, NEG1),
            // 0x8000_0000 / 1 = 0x8000_0000, sign-extended as a W result
            (0x8000_0000, 1, min32),
            (0xffff_ffff, 2, 0x7fff_ffff),
        ],
    );
    check_rr(
        RegOp::Remw,
        &[
            (neg(-7), 2, neg(-1)),
            (0x1_8000_0001, 0, sext32(0x8000_0001)),
            (0x8000_0000, 0xffff_ffff, 0),
        ],
    );
    check_rr(
        RegOp::Remuw,
        &[
            (0x1_8000_0001, 0, sext32(0x8000_0001)),
            (0xffff_ffff, 0x10, 0xf),
            (0xffff_ffff, 0x8000_0000, 0x7fff_ffff),
        ],
    );
}

fn load(op: LoadOp, offset: i64) -> Instruction {
    Instruction::Load {
        op,
        rd: A0,
        rs1: A1,
        offset,
    }
}

fn store(op: StoreOp, offset: i64) -> Instruction {
    Instruction::Store {
        op,
        rs1: A1,
        rs2: A2,
        offset,
    }
}

fn run_load(op: LoadOp, addr: u64, bytes: &[u8]) -> u64 {
    let mut p = Program::of(&[load(op, 0)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write(addr, bytes);
    rig.set(A1, addr);
    rig.run_to_ebreak();
    rig.reg(A0)
}

#[test]
fn loads_sign_and_zero_extend() {
    let bytes = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87];
    let cases = [
        (LoadOp::Lb, neg(-128)),
        (LoadOp::Lbu, 0x80),
        (LoadOp::Lh, 0xffff_ffff_ffff_8180),
        (LoadOp::Lhu, 0x8180),
        (LoadOp::Lw, 0xffff_ffff_8382_8180),
        (LoadOp::Lwu, 0x8382_8180),
        (LoadOp::Ld, 0x8786_8584_8382_8180),
    ];
    for (op, want) in cases {
        assert_eq!(run_load(op, DATA + 8, &bytes), want, "{op:?}");
    }
    // Positive values stay positive.
    assert_eq!(run_load(LoadOp::Lb, DATA, &[0x7f]), 0x7f);
    assert_eq!(
        run_load(LoadOp::Lw, DATA, &[0xff, 0xff, 0xff, 0x7f]),
        0x7fff_ffff
    );
}

#[test]
fn loads_and_stores_with_negative_offsets() {
    // sd a2, -8(a1); ld a0, -8(a1)
    let rig = exec(
        &[store(StoreOp::Sd, -8), load(LoadOp::Ld, -8)],
        &[(A1, DATA + 16), (A2, 0x1122_3344_5566_7788)],
    );
    assert_eq!(rig.reg(A0), 0x1122_3344_5566_7788);
}

#[test]
fn stores_write_only_their_width() {
    for (op, want) in [
        (StoreOp::Sb, 0xaaaa_aaaa_aaaa_aa88u64),
        (StoreOp::Sh, 0xaaaa_aaaa_aaaa_7788),
        (StoreOp::Sw, 0xaaaa_aaaa_5566_7788),
        (StoreOp::Sd, 0x1122_3344_5566_7788),
    ] {
        let mut p = Program::of(&[store(op, 0)]);
        p.push(Instruction::Ebreak);
        let mut rig = Rig::new(&p);
        rig.write_u64(DATA, 0xaaaa_aaaa_aaaa_aaaa);
        rig.set(A1, DATA).set(A2, 0x1122_3344_5566_7788);
        rig.run_to_ebreak();
        assert_eq!(rig.read_u64(DATA), want, "{op:?}");
    }
}

#[test]
fn misaligned_loads_and_stores_work_also_across_a_page() {
    // As under Linux, where the kernel emulates them: no exception.
    for addr in [
        DATA + 1,
        DATA + 3,
        DATA + 7,
        DATA + PAGE_SIZE - 3,
        DATA + PAGE_SIZE - 1,
    ] {
        for (st, ld, mask) in [
            (StoreOp::Sd, LoadOp::Ld, NEG1),
            (StoreOp::Sw, LoadOp::Lwu, 0xffff_ffff),
            (StoreOp::Sh, LoadOp::Lhu, 0xffff),
        ] {
            // sX a2, 0(a1); lX a0, 0(a1)
            let rig = &mut exec(
                &[store(st, 0), load(ld, 0)],
                &[(A1, addr), (A2, 0x0102_0304_0506_0708)],
            );
            assert_eq!(
                rig.reg(A0),
                0x0102_0304_0506_0708 & mask,
                "{st:?} at {addr:#x}"
            );
            let width = mask.count_ones() as usize / 8;
            let want = &0x0102_0304_0506_0708u64.to_le_bytes()[..width];
            assert_eq!(rig.read(addr, width), want, "{st:?} at {addr:#x}: memory");
        }
    }
    // A misaligned signed load across the page still sign-extends.
    let mut p = Program::of(&[load(LoadOp::Lw, 0)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write(DATA + PAGE_SIZE - 2, &[0x11, 0x22, 0x33, 0xf4]);
    rig.set(A1, DATA + PAGE_SIZE - 2);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 0xffff_ffff_f433_2211);
}

#[test]
fn a_misaligned_store_half_on_an_unmapped_page_faults_without_effect() {
    // The data region ends at DATA + 2 pages: an 8-byte store at 4 bytes
    // before that end touches an unmapped page.
    let end = DATA + DATA_PAGES * PAGE_SIZE;
    let mut p = Program::of(&[store(StoreOp::Sd, 0)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.set(A1, end - 4).set(A2, NEG1);
    let e = rig.run(10);
    match e {
        Exception::PageFault { vaddr, access } => {
            assert_eq!(access, Access::Write);
            assert!((end - 4..end + 4).contains(&vaddr), "vaddr {vaddr:#x}");
        }
        other => panic!("expected a page fault, got {other}"),
    }
    assert_eq!(rig.read(end - 4, 4), [0, 0, 0, 0], "no partial store");
    assert_eq!(rig.hart.pc, CODE);
    assert_eq!(rig.machine.instret(), 0);
}

#[test]
fn writes_to_x0_are_ignored() {
    // addi x0, x0, 5
    // lui x0, 0x12345
    // ld x0, 0(a1)
    // jal x0, +4         (a jump without link)
    // add a0, x0, x0
    // addi a3, x0, 0
    let rig = exec(
        &[
            addi(Reg::ZERO, Reg::ZERO, 5),
            Instruction::Lui {
                rd: Reg::ZERO,
                imm: 0x1234_5000,
            },
            Instruction::Load {
                op: LoadOp::Ld,
                rd: Reg::ZERO,
                rs1: A1,
                offset: 0,
            },
            Instruction::Jal {
                rd: Reg::ZERO,
                offset: 4,
            },
            Instruction::Op {
                op: RegOp::Add,
                rd: A0,
                rs1: Reg::ZERO,
                rs2: Reg::ZERO,
            },
            addi(A3, Reg::ZERO, 0),
        ],
        &[(A1, DATA), (A0, 99), (A3, 99)],
    );
    assert_eq!(rig.hart.reg(0), 0);
    assert_eq!(rig.hart.regs[0], 0);
    assert_eq!(rig.reg(A0), 0);
    assert_eq!(rig.reg(A3), 0);
}

#[test]
fn compressed_instructions() {
    // Halfwords from riscv64-linux-gnu-as -march=rv64imac:
    let mut p = Program::new();
    p.half(0x5565) // c.li a0, -7
        .half(0x0515) // c.addi a0, 5            a0 = -2
        .half(0x65fd) // c.lui a1, 0x1f          a1 = 0x1f000
        .half(0x862a) // c.mv a2, a0             a2 = -2
        .half(0x962e) // c.add a2, a1            a2 = 0x1effe
        .half(0x060e) // c.slli a2, 3            a2 = 0xf7ff0
        .half(0x8785) // c.srai a5, 1            a5 = -8 >> 1 = -4
        .half(0x9bc1) // c.andi a5, -16          a5 = -16
        .half(0x2505) // c.addiw a0, 1           a0 = -1
        .half(0x8e99) // c.sub a3, a4            a3 = 10 - 3 = 7
        .half(0x8eb9) // c.xor a3, a4            a3 = 7 ^ 3 = 4
        .half(0x9e99) // c.subw a3, a4           a3 = 1
        .half(0xe82a) // c.sdsp a0, 16(sp)
        .half(0x65c2) // c.ldsp a1, 16(sp)       a1 = -1
        .half(0x0028) // c.addi4spn a0, sp, 8    a0 = sp + 8
        .half(0x713d) // c.addi16sp sp, -32
        .half(0x0001) // c.nop
        .push(li(Reg::S0, DATA as i64 & 0x7ff)) // 32-bit instructions mix in
        .half(0x9002); // c.ebreak
    let mut rig = Rig::new(&p);
    rig.set(A5, neg(-8))
        .set(A3, 10)
        .set(A4, 3)
        .set(Reg::SP, DATA + 0x100);
    let e = rig.run(100);
    assert_eq!(
        e,
        Exception::Breakpoint {
            pc: CODE + 2 * 17 + 4
        }
    );
    assert_eq!(rig.reg(A1), NEG1);
    assert_eq!(rig.reg(A2), 0xf7ff0);
    assert_eq!(rig.reg(A5), neg(-16));
    assert_eq!(rig.reg(A3), 1);
    assert_eq!(rig.reg(A0), DATA + 0x108);
    assert_eq!(rig.reg(Reg::SP), DATA + 0x100 - 32);
    assert_eq!(rig.read_u64(DATA + 0x110), NEG1);
    assert_eq!(rig.machine.instret(), 18);
}

#[test]
fn compressed_control_flow() {
    // 0x1000  c.sw a0, 4(a5)
    // 0x1002  c.ld a4, 8(a5)
    // 0x1004  c.beqz a0, .-4   (not taken: a0 != 0)
    // 0x1006  c.bnez a0, .+8   → 0x100e
    // 0x1008  c.ebreak
    // 0x100a  c.ebreak
    // 0x100c  c.ebreak
    // 0x100e  c.jalr t0        → a1's target, ra = 0x1010
    // 0x1010  c.ebreak
    // 0x1012  c.j .+6          → 0x1018  (jumped to via t0)
    // 0x1014  c.ebreak
    // 0x1016  c.ebreak
    // 0x1018  c.jr ra          → 0x1010
    let mut p = Program::new();
    p.half(0xc3c8)
        .half(0x6798)
        .half(0xdd75)
        .half(0xe501)
        .half(0x9002)
        .half(0x9002)
        .half(0x9002)
        .half(0x9282)
        .half(0x9002)
        .half(0xa019)
        .half(0x9002)
        .half(0x9002)
        .half(0x8082);
    let mut rig = Rig::new(&p);
    rig.write_u64(DATA + 8, 0x1234_5678_9abc_def0);
    rig.set(A0, 0x55).set(A5, DATA).set(Reg::T0, CODE + 0x12);
    let e = rig.run(100);
    assert_eq!(e, Exception::Breakpoint { pc: CODE + 0x10 });
    assert_eq!(rig.read(DATA + 4, 4), [0x55, 0, 0, 0]);
    assert_eq!(rig.reg(A4), 0x1234_5678_9abc_def0);
    assert_eq!(rig.reg(Reg::RA), CODE + 0x10);
    // c.sw, c.ld, c.beqz, c.bnez, c.jalr, c.j, c.jr
    assert_eq!(rig.machine.instret(), 7);
}

#[test]
fn a_32_bit_instruction_after_a_compressed_one_is_misaligned_by_2_and_still_runs() {
    // 0x1000  c.nop
    // 0x1002  lui a0, 0x12345   (4-byte instruction at a 2-byte boundary)
    // 0x1006  c.ebreak
    let mut p = Program::new();
    p.half(0x0001)
        .push(Instruction::Lui {
            rd: A0,
            imm: 0x1234_5000,
        })
        .half(0x9002);
    let mut rig = Rig::new(&p);
    assert_eq!(rig.run(10), Exception::Breakpoint { pc: CODE + 6 });
    assert_eq!(rig.reg(A0), 0x1234_5000);
}

#[test]
fn a_4_byte_instruction_straddling_two_pages() {
    // The last halfword of the first code page starts a 4-byte instruction.
    let mut p = Program::new();
    while p.here() < CODE + PAGE_SIZE - 2 {
        p.half(0x0001); // c.nop
    }
    p.push(li(A0, 77)).push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    assert_eq!(
        rig.run(10_000),
        Exception::Breakpoint {
            pc: CODE + PAGE_SIZE + 2
        }
    );
    assert_eq!(rig.reg(A0), 77);
}

fn amo(op: AmoOp, width: AmoWidth) -> Instruction {
    // amo<op>.<w> a0, a2, (a1)
    Instruction::Amo {
        op,
        width,
        aq: false,
        rl: false,
        rd: A0,
        rs1: A1,
        rs2: A2,
    }
}

#[test]
fn amos_return_the_old_value_and_store_the_result() {
    use AmoOp::*;
    let old = 0xffff_ffff_ffff_fff0u64; // -16
    let src = 5u64;
    let d_cases = [
        (Swap, src),
        (Add, old.wrapping_add(src)),
        (Xor, old ^ src),
        (And, old & src),
        (Or, old | src),
        (Min, old),
        (Max, src),
        (Minu, src),
        (Maxu, old),
    ];
    for (op, want) in d_cases {
        let mut p = Program::of(&[amo(op, AmoWidth::Double)]);
        p.push(Instruction::Ebreak);
        let mut rig = Rig::new(&p);
        rig.write_u64(DATA + 8, old);
        rig.set(A1, DATA + 8).set(A2, src);
        rig.run_to_ebreak();
        assert_eq!(rig.reg(A0), old, "{op:?}.d old value");
        assert_eq!(rig.read_u64(DATA + 8), want, "{op:?}.d memory");
    }
    // Word forms: operate on 32 bits, sign-extend the loaded value, leave
    // the upper word in memory alone.
    let old32 = 0x8000_0000u32; // i32::MIN
    let w_cases = [
        (Swap, 7u32),
        (Add, old32.wrapping_add(7)),
        (Min, old32),
        (Max, 7),
        (Minu, 7),
        (Maxu, old32),
    ];
    for (op, want) in w_cases {
        let mut p = Program::of(&[amo(op, AmoWidth::Word)]);
        p.push(Instruction::Ebreak);
        let mut rig = Rig::new(&p);
        rig.write_u64(DATA, 0xdead_beef_0000_0000 | u64::from(old32));
        // Upper bits of rs2 are ignored by .w
        rig.set(A1, DATA).set(A2, 0xffff_ffff_0000_0007);
        rig.run_to_ebreak();
        assert_eq!(rig.reg(A0), sext32(old32), "{op:?}.w old value");
        assert_eq!(
            rig.read_u64(DATA),
            0xdead_beef_0000_0000 | u64::from(want),
            "{op:?}.w memory"
        );
    }
}

#[test]
fn lr_sc_succeeds_with_a_reservation_and_fails_without() {
    // lr.d a0, (a1)
    // sc.d a3, a2, (a1)   → 0, stored
    // sc.d a4, a2, (a1)   → 1 (the reservation is gone), not stored
    let lr = Instruction::Amo {
        op: AmoOp::Lr,
        width: AmoWidth::Double,
        aq: true,
        rl: false,
        rd: A0,
        rs1: A1,
        rs2: Reg::ZERO,
    };
    let sc = |rd, rs2| Instruction::Amo {
        op: AmoOp::Sc,
        width: AmoWidth::Double,
        aq: false,
        rl: true,
        rd,
        rs1: A1,
        rs2,
    };
    let mut p = Program::of(&[lr, sc(A3, A2), sc(A4, A5)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write_u64(DATA, 41);
    rig.set(A1, DATA)
        .set(A2, 42)
        .set(A5, 43)
        .set(A3, 99)
        .set(A4, 99);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 41);
    assert_eq!(rig.reg(A3), 0, "first sc succeeds");
    assert_eq!(rig.reg(A4), 1, "second sc fails");
    assert_eq!(rig.read_u64(DATA), 42);

    // sc without any lr fails and stores nothing.
    let mut p = Program::of(&[sc(A3, A2)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.set(A1, DATA).set(A2, 42);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A3), 1);
    assert_eq!(rig.read_u64(DATA), 0);

    // lr.w sign-extends.
    let lrw = Instruction::Amo {
        op: AmoOp::Lr,
        width: AmoWidth::Word,
        aq: false,
        rl: false,
        rd: A0,
        rs1: A1,
        rs2: Reg::ZERO,
    };
    let mut p = Program::of(&[lrw]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write(DATA, &[0, 0, 0, 0x80]);
    rig.set(A1, DATA);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 0xffff_ffff_8000_0000);
}

#[test]
fn misaligned_amo_raises_misaligned_without_effect() {
    for (op, width, addr) in [
        (AmoOp::Add, AmoWidth::Double, DATA + 4),
        (AmoOp::Swap, AmoWidth::Word, DATA + 2),
        (AmoOp::Lr, AmoWidth::Double, DATA + 1),
    ] {
        let mut p = Program::of(&[li(A3, 1), amo(op, width)]);
        p.push(Instruction::Ebreak);
        let mut rig = Rig::new(&p);
        rig.set(A1, addr).set(A2, 0x77).set(A0, 5);
        let e = rig.run(10);
        let access = if op == AmoOp::Lr {
            Access::Read
        } else {
            Access::Write
        };
        assert_eq!(
            e,
            Exception::Misaligned {
                vaddr: addr,
                access
            },
            "{op:?}"
        );
        assert_eq!(rig.hart.pc, CODE + 4, "pc at the amo");
        assert_eq!(rig.machine.instret(), 1, "the amo did not retire");
        assert_eq!(rig.reg(A0), 5, "rd unchanged");
        assert_eq!(rig.read_u64(DATA), 0);
        assert_eq!(rig.read_u64(DATA + 8), 0);
    }
}

#[test]
fn csr_counters_equal_the_instruction_count_before_the_instruction() {
    let csr = |rd, csr| Instruction::Csr {
        op: CsrOp::Csrrs,
        rd,
        rs1: Reg::ZERO,
        csr,
    };
    // nop; nop; nop
    // csrr a0, instret     → 3
    // csrr a1, cycle       → 4
    // csrr a2, time        → 5
    let rig = exec(
        &[
            addi(Reg::ZERO, Reg::ZERO, 0),
            addi(Reg::ZERO, Reg::ZERO, 0),
            addi(Reg::ZERO, Reg::ZERO, 0),
            csr(A0, CSR_INSTRET),
            csr(A1, CSR_CYCLE),
            csr(A2, CSR_TIME),
        ],
        &[],
    );
    assert_eq!(rig.reg(A0), 3);
    assert_eq!(rig.reg(A1), 4);
    assert_eq!(rig.reg(A2), 5);

    // Across blocks and runs: the counter is the machine's instret.
    let mut p = Program::of(&[
        Instruction::Jal {
            rd: Reg::ZERO,
            offset: 4,
        },
        csr(A0, CSR_INSTRET),
    ]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    assert_eq!(rig.run(1), Exception::Timer);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 1);

    // In a block entered from another without going back to the run loop
    // (a loop: the branch chains to its target): the count before the
    // last read is the 2 ops before the loop and two passes of 3.
    //   addi a2, x0, 3; addi a1, x0, 0
    //   loop: csrr a0, instret; addi a1, a1, 1; bne a1, a2, loop
    let rig = exec(
        &[
            addi(A2, Reg::ZERO, 3),
            addi(A1, Reg::ZERO, 0),
            csr(A0, CSR_INSTRET),
            addi(A1, A1, 1),
            Instruction::Branch {
                op: BranchOp::Bne,
                rs1: A1,
                rs2: A2,
                offset: -8,
            },
        ],
        &[],
    );
    assert_eq!(rig.reg(A1), 3);
    assert_eq!(rig.reg(A0), 8);
}

#[test]
fn fence_is_a_no_op() {
    let rig = exec(&[li(A0, 1), Instruction::Fence, li(A1, 2)], &[]);
    assert_eq!(rig.reg(A0), 1);
    assert_eq!(rig.reg(A1), 2);
    assert_eq!(rig.machine.instret(), 3);
    assert_eq!(rig.hart.pc, CODE + 12);
}

#[test]
fn ecall_raises_syscall_with_pc_at_the_ecall() {
    let mut p = Program::of(&[li(Reg::A7, 64), Instruction::Ecall, li(A0, 1)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    assert_eq!(rig.run(100), Exception::Syscall);
    assert_eq!(rig.hart.pc, CODE + 4);
    assert_eq!(rig.reg(Reg::A7), 64);
    assert_eq!(rig.machine.instret(), 1, "the ecall itself is not counted");
    // The handler advances the pc; the program then goes on.
    rig.hart.pc += 4;
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 1);
}

#[test]
fn ebreak_raises_breakpoint() {
    let mut rig = Rig::new(&Program::of(&[li(A0, 1), Instruction::Ebreak]));
    assert_eq!(rig.run(100), Exception::Breakpoint { pc: CODE + 4 });
    assert_eq!(rig.hart.pc, CODE + 4);
}

#[test]
fn illegal_words_raise_illegal_instruction() {
    // custom-0 opcode, an all-zero word (the defined-illegal c.unimp) and an
    // all-ones word.
    for bits in [0x0000_000bu32, 0xffff_ffff] {
        let mut p = Program::of(&[li(A0, 1)]);
        p.word(bits);
        let mut rig = Rig::new(&p);
        assert_eq!(
            rig.run(100),
            Exception::IllegalInstruction { pc: CODE + 4, bits }
        );
        assert_eq!(rig.hart.pc, CODE + 4);
        assert_eq!(rig.machine.instret(), 1);
        assert_eq!(rig.reg(A0), 1);
    }
    let mut p = Program::of(&[li(A0, 1)]);
    p.half(0x0000);
    let mut rig = Rig::new(&p);
    assert!(matches!(
        rig.run(100),
        Exception::IllegalInstruction { pc, bits } if pc == CODE + 4 && bits & 0xffff == 0
    ));
}

#[test]
fn store_to_a_read_only_page_faults_without_effect() {
    // li a0, 1
    // sd a2, 8(a1)     a1 = RO (read-only page)
    // li a0, 2
    let mut p = Program::of(&[li(A0, 1), store(StoreOp::Sd, 8), li(A0, 2)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write_u64(RO + 8, 0x5555);
    rig.set(A1, RO).set(A2, NEG1);
    assert_eq!(
        rig.run(100),
        Exception::PageFault {
            vaddr: RO + 8,
            access: Access::Write
        }
    );
    assert_eq!(rig.hart.pc, CODE + 4);
    assert_eq!(rig.machine.instret(), 1, "the store is not counted");
    assert_eq!(rig.reg(A0), 1);
    assert_eq!(rig.read_u64(RO + 8), 0x5555, "memory unchanged");
    let pte = rig
        .page_table
        .get(sim::emu::VirtPage::containing(RO))
        .unwrap();
    assert!(!pte.flags.has(PteFlags::DIRTY));
    // Restartable: once the page is writable the store goes through.
    rig.page_table.map(
        sim::emu::VirtPage::containing(RO),
        pte.frame,
        PteFlags::USER_RW,
    );
    rig.run_to_ebreak();
    assert_eq!(rig.read_u64(RO + 8), NEG1);
    assert_eq!(rig.reg(A0), 2);
}

#[test]
fn load_from_an_unmapped_page_faults() {
    let mut p = Program::of(&[load(LoadOp::Lw, 4)]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.set(A1, 0x7_0000).set(A0, 3);
    assert_eq!(
        rig.run(10),
        Exception::PageFault {
            vaddr: 0x7_0004,
            access: Access::Read
        }
    );
    assert_eq!(rig.reg(A0), 3);
    assert_eq!(rig.hart.pc, CODE);
}

#[test]
fn fetch_from_an_unmapped_page_faults_execute() {
    // jalr ra, 0(a1) with a1 = 0x50000 (unmapped)
    let mut rig = Rig::new(&Program::of(&[Instruction::Jalr {
        rd: Reg::RA,
        rs1: A1,
        offset: 0,
    }]));
    rig.set(A1, 0x5_0000);
    assert_eq!(
        rig.run(10),
        Exception::PageFault {
            vaddr: 0x5_0000,
            access: Access::Execute
        }
    );
    assert_eq!(rig.hart.pc, 0x5_0000);
    assert_eq!(rig.reg(Reg::RA), CODE + 4, "the jalr retired");
    assert_eq!(rig.machine.instret(), 1);
    // Fetch from a data page (no X) faults as well.
    rig.hart.pc = DATA;
    assert_eq!(
        rig.run(10),
        Exception::PageFault {
            vaddr: DATA,
            access: Access::Execute
        }
    );
}

#[test]
fn running_off_the_end_of_the_code_faults_execute() {
    // The last code page ends with a nop; the next page is unmapped.
    let mut p = Program::new();
    while p.here() < CODE + CODE_PAGES * PAGE_SIZE {
        p.push(addi(A0, A0, 1));
    }
    let mut rig = Rig::new(&p);
    let n = CODE_PAGES * PAGE_SIZE / 4;
    assert_eq!(
        rig.run(n + 10),
        Exception::PageFault {
            vaddr: CODE + CODE_PAGES * PAGE_SIZE,
            access: Access::Execute
        }
    );
    assert_eq!(rig.reg(A0), n);
    assert_eq!(rig.machine.instret(), n);
}

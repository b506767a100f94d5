//! The op sequences C* compiles for every call and every array access,
//! which the interpreter runs as one handler each (src/emu/fuse.rs): a
//! function's frame entry and exit (`addi sp,sp,-16; sd ra,8(sp); sd
//! s0,0(sp); mv s0,sp` and `mv sp,s0; ld ra,8(sp); ld s0,0(sp); addi
//! sp,sp,16`) and an element's load (`slli i,i,3; add a,a,i; ld d,0(a)`).
//! Run whole, they must end exactly as the same instructions run one at
//! a time (where nothing is fused) and as the JIT tier runs them, also
//! when a store or load in the middle faults, and with registers that
//! overlap in every way the shapes allow. So must the `jalr` that returns
//! through its link (src/emu/op.rs, `ReturnLink`).
//!
//! Each program loops, so that the TLB is warm from the second pass on:
//! a cold TLB sends the first access of each page down the slow path,
//! which goes on with the next op unfused, and only a warm one runs the
//! fused handler's own fast path and its exits in the middle.

mod common;

use common::{addi, branch, Program, Rig, CODE, DATA, RO};
use sim::emu::{
    encode, BranchOp, Exception, ImmOp, Instruction, LoadOp, Lowering, PteFlags, Reg, RegOp,
    StoreOp, PAGE_SIZE as PAGE,
};

/// Registers of one frame sequence: the stack pointer, the two saved
/// (stored, then loaded back), and the frame pointer.
#[derive(Clone, Copy, Debug)]
struct Regs {
    sp: Reg,
    saved: [Reg; 2],
    fp: Reg,
}

const C_STAR: Regs = Regs {
    sp: Reg::SP,
    saved: [Reg::RA, Reg::S0],
    fp: Reg::S0,
};

/// The loop counter of every program here.
const PASSES: Reg = Reg::T1;

fn sd(base: Reg, value: Reg, offset: i64) -> Instruction {
    Instruction::Store {
        op: StoreOp::Sd,
        rs1: base,
        rs2: value,
        offset,
    }
}

fn ld(rd: Reg, base: Reg, offset: i64) -> Instruction {
    Instruction::Load {
        op: LoadOp::Ld,
        rd,
        rs1: base,
        offset,
    }
}

fn mv(rd: Reg, rs: Reg) -> Instruction {
    addi(rd, rs, 0)
}

fn entry(p: &mut Program, r: Regs, locals: i64) {
    p.push(addi(r.sp, r.sp, -16))
        .push(sd(r.sp, r.saved[0], 8))
        .push(sd(r.sp, r.saved[1], 0))
        .push(mv(r.fp, r.sp));
    if locals != 0 {
        p.push(addi(r.sp, r.sp, -locals));
    }
}

fn exit(p: &mut Program, r: Regs) {
    p.push(mv(r.sp, r.fp))
        .push(ld(r.saved[0], r.sp, 8))
        .push(ld(r.saved[1], r.sp, 0))
        .push(addi(r.sp, r.sp, 16));
}

/// `body` run `PASSES` times, then `ebreak`.
fn looped(body: impl Fn(&mut Program)) -> Program {
    let mut p = Program::new();
    let top = p.here();
    body(&mut p);
    p.push(addi(PASSES, PASSES, -1));
    p.push(branch(BranchOp::Bne, PASSES, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    p
}

/// How a program is run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    /// Whole blocks, by the interpreter: the frame handlers run.
    Interpreted,
    /// Whole blocks, compiled by the JIT tier where it is available.
    Compiled,
    /// One instruction at a time: nothing is fused.
    Stepped,
}

/// What a run leaves: registers, pc, instructions, the exception, and the
/// data pages.
#[derive(Debug, PartialEq)]
struct Seen {
    regs: Vec<u64>,
    pc: u64,
    instret: u64,
    exception: String,
    data: Vec<u8>,
}

/// Runs `program` with the registers preset and the data words written,
/// as `way` says, until its `ebreak` or a fault.
fn run(program: &Program, presets: &[(Reg, u64)], words: &[(u64, u64)], way: Way) -> Seen {
    let mut rig = Rig::new(program);
    rig.machine.set_lowering(Lowering {
        trap_division_by_zero: false,
        jit: way == Way::Compiled,
    });
    for &(reg, value) in presets {
        rig.set(reg, value);
    }
    for &(addr, value) in words {
        rig.write_u64(addr, value);
    }
    let exception = run_to_end(&mut rig, way);
    Seen {
        regs: rig.hart.regs[..32].to_vec(),
        pc: rig.hart.pc,
        instret: rig.machine.instret(),
        exception: exception.to_string(),
        data: rig.read(DATA, 2 * PAGE as usize),
    }
}

/// Runs the rig until an exception other than the timer's, in slices of
/// one instruction or of many, as `way` says. The programs here end within
/// a few hundred instructions; the bound keeps a wrong tier from running
/// forever.
fn run_to_end(rig: &mut Rig, way: Way) -> Exception {
    let budget = if way == Way::Stepped { 1 } else { 1_000 };
    loop {
        match rig.run(budget) {
            Exception::Timer if rig.machine.instret() < 100_000 => continue,
            e => break e,
        }
    }
}

/// Runs `program` all three ways, asserts they agree, and returns what
/// the interpreter saw.
fn agree(program: &Program, presets: &[(Reg, u64)], words: &[(u64, u64)], what: &str) -> Seen {
    let stepped = run(program, presets, words, Way::Stepped);
    let compiled = run(program, presets, words, Way::Compiled);
    assert_eq!(compiled, stepped, "compiled against stepped: {what}");
    let interpreted = run(program, presets, words, Way::Interpreted);
    assert_eq!(interpreted, stepped, "interpreted against stepped: {what}");
    interpreted
}

/// Asserts that a run stopped on a fault at `pc`, with the stack pointer
/// at `sp` (the ops before the faulting one retired, it and those after
/// it did not).
fn assert_faulted_at(seen: &Seen, pc: u64, sp: u64, what: &str) {
    assert!(
        seen.exception.contains("fault"),
        "{what}: {}",
        seen.exception
    );
    assert_eq!(seen.pc, pc, "{what}");
    assert_eq!(seen.regs[Reg::SP.index()], sp, "{what}");
}

/// Entry, a local written through the frame pointer, exit: three passes
/// with the stack in the middle of the data pages.
#[test]
fn frames_run_as_single_steps_do() {
    let (sp, a, b, fp) = (Reg::SP, Reg::A0, Reg::A1, Reg::S0);
    let shapes = [
        C_STAR,
        // The stack pointer stored itself; the frame pointer saved.
        Regs {
            sp,
            saved: [sp, fp],
            fp,
        },
        // Both saved the same; the frame pointer is neither.
        Regs {
            sp,
            saved: [a, a],
            fp,
        },
        // The frame pointer is the stack pointer (`mv sp,sp`).
        Regs {
            sp,
            saved: [a, b],
            fp: sp,
        },
        // A base other than `sp`, and the frame pointer saved second.
        Regs {
            sp: b,
            saved: [a, fp],
            fp,
        },
    ];
    for regs in shapes {
        for locals in [0, 8, 24] {
            let program = looped(|p| {
                entry(p, regs, locals);
                // A local, the first saved register's slot overwritten
                // (a reload into `sp` then loads another stack pointer),
                // and a load that makes the page readable in the TLB (so
                // the exit's loads hit on the first pass too).
                p.push(addi(Reg::T0, Reg::T0, 1))
                    .push(sd(regs.fp, Reg::T0, -8))
                    .push(sd(regs.fp, Reg::T0, 8))
                    .push(ld(Reg::T2, regs.fp, -8));
                exit(p, regs);
            });
            // The stack pointer last: it may be one of the saved.
            let presets = [
                (PASSES, 3),
                (regs.saved[0], 0x1111),
                (regs.saved[1], 0x2222),
                (Reg::T0, 40),
                (regs.sp, DATA + PAGE),
            ];
            let seen = agree(
                &program,
                &presets,
                &[],
                &format!("{regs:?}, locals {locals}"),
            );
            if regs.saved[0] != regs.sp && regs.fp != regs.sp {
                assert!(seen.exception.contains("breakpoint"), "{}", seen.exception);
                assert_eq!(seen.regs[regs.sp.index()], DATA + PAGE, "{regs:?}");
                if regs.saved[0] != regs.saved[1] {
                    assert_eq!(seen.regs[regs.saved[0].index()], 43, "{regs:?}");
                }
                let local = (PAGE - 16 - 8) as usize;
                assert_eq!(seen.data[local..local + 8], 43u64.to_le_bytes(), "{regs:?}");
            }
        }
    }
}

/// Entries only, each 16 (and the locals) below the last, until one
/// crosses below the data pages or reaches the read-only page: the
/// crossing pass, on a warm TLB, faults at its first or its second store.
#[test]
fn an_entry_that_faults_in_the_middle_stops_at_the_store_that_faulted() {
    for locals in [0, 16] {
        let program = looped(|p| entry(p, C_STAR, locals));
        // The stack pointer that makes the third pass's stores land at
        // `third + 8` and `third`: the first two passes' stores (16 and
        // the locals higher each) then warmed the TLB for that page.
        let third_at = |third: u64| third + 16 + 2 * (16 + locals as u64);
        let cases = [
            (
                third_at(DATA - 8),
                DATA - 8,
                CODE + 8,
                "second store below the data pages",
            ),
            (
                third_at(DATA - 16),
                DATA - 16,
                CODE + 4,
                "first store below the data pages",
            ),
            // Never writable, so never warm: the first pass faults.
            (
                RO + 8 + 16,
                RO + 8,
                CODE + 4,
                "first store in the read-only page",
            ),
        ];
        for (sp, third, faulting_pc, what) in cases {
            let presets = [
                (PASSES, 5),
                (Reg::SP, sp),
                (Reg::RA, 0x1111),
                (Reg::S0, 0x2222),
            ];
            let what = format!("{what}, locals {locals}");
            let seen = agree(&program, &presets, &[], &what);
            assert_faulted_at(&seen, faulting_pc, third, &what);
        }
    }
}

/// Exits only, each one's stack the saved frame pointer the last loaded:
/// a chain through the data pages that ends below them, where the last
/// exit's second load faults (its first reads the data pages' first word).
#[test]
fn an_exit_that_faults_in_the_middle_stops_at_the_load_that_faulted() {
    let program = looped(|p| exit(p, C_STAR));
    let (first, second) = (DATA + 256, DATA + 128);
    for (last, faulting_pc, what) in [
        (DATA - 8, CODE + 8, "second load below the data pages"),
        (DATA - 16, CODE + 4, "first load below the data pages"),
        (
            DATA + 2 * PAGE - 8,
            CODE + 4,
            "first load above the data pages",
        ),
    ] {
        // Each frame holds the next frame pointer at 0 and a return
        // address at 8.
        let words = [
            (first, second),
            (first + 8, 1),
            (second, last),
            (second + 8, 2),
        ];
        let presets = [(PASSES, 5), (Reg::S0, first)];
        let seen = agree(&program, &presets, &words, what);
        assert_faulted_at(&seen, faulting_pc, last, what);
    }
}

// ---- returns ----------------------------------------------------------------
//
// A `jalr` remembers the block it went to last, if it is on its own page
// (src/emu/op.rs, `ReturnLink`), and goes there again without the jump
// cache when the target is the same. These programs return to alternating
// callers, to a caller on another page, and to code changed since.

fn jal(rd: Reg, from: u64, to: u64) -> Instruction {
    Instruction::Jal {
        rd,
        offset: to as i64 - from as i64,
    }
}

fn ret() -> Instruction {
    Instruction::Jalr {
        rd: Reg::ZERO,
        rs1: Reg::RA,
        offset: 0,
    }
}

/// `f` (a frame, `a0 += a1`, the frame's exit, `ret`) called from two
/// sites in turn on its own page and from a third on the next page, in a
/// loop of `PASSES`.
fn callers() -> Program {
    const F: u64 = CODE + 0x200;
    const FAR: u64 = CODE + PAGE + 0x100;
    let mut p = Program::new();
    let top = p.here();
    p.push(addi(Reg::A1, Reg::ZERO, 1));
    p.push(jal(Reg::RA, p.here(), F));
    p.push(addi(Reg::A1, Reg::ZERO, 100));
    p.push(jal(Reg::RA, p.here(), F));
    p.push(jal(Reg::RA, p.here(), FAR));
    p.push(addi(PASSES, PASSES, -1));
    p.push(branch(BranchOp::Bne, PASSES, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    while p.here() < F {
        p.push(Instruction::Ebreak);
    }
    entry(&mut p, C_STAR, 0);
    p.push(Instruction::Op {
        op: RegOp::Add,
        rd: Reg::A0,
        rs1: Reg::A0,
        rs2: Reg::A1,
    });
    exit(&mut p, C_STAR);
    p.push(ret());
    while p.here() < FAR {
        p.push(Instruction::Ebreak);
    }
    // The far caller: saves its return address in t2 around its call.
    p.push(mv(Reg::T2, Reg::RA));
    p.push(addi(Reg::A1, Reg::ZERO, 1_000));
    p.push(jal(Reg::RA, p.here(), F));
    p.push(mv(Reg::RA, Reg::T2));
    p.push(ret());
    p
}

#[test]
fn returns_to_alternating_callers_and_another_page_run_as_single_steps_do() {
    let presets = [(PASSES, 7), (Reg::SP, DATA + PAGE), (Reg::A0, 0)];
    let seen = agree(&callers(), &presets, &[], "callers");
    assert!(seen.exception.contains("breakpoint"), "{}", seen.exception);
    assert_eq!(seen.regs[Reg::A0.index()], 7 * (1 + 100 + 1_000));
    assert_eq!(seen.regs[Reg::SP.index()], DATA + PAGE);
}

#[test]
fn a_return_to_code_changed_since_runs_the_new_code() {
    // loop: jal f; C: addi a0,a0,1 (patched to addi a0,a0,100 after the
    // first pass); addi t1,t1,-1; beqz t1,end; sw a2,0(a3); j loop;
    // end: ebreak; f: ret. The return to C is remembered on the first
    // pass; the store over C must drop it with C's block.
    let mut p = Program::new();
    let top = p.here();
    let f = CODE + 0x100;
    p.push(jal(Reg::RA, p.here(), f));
    let c = p.here();
    p.push(addi(Reg::A0, Reg::A0, 1));
    p.push(addi(PASSES, PASSES, -1));
    let end = p.here() + 12;
    p.push(branch(BranchOp::Beq, PASSES, Reg::ZERO, p.here(), end));
    p.push(Instruction::Store {
        op: StoreOp::Sw,
        rs1: Reg::A3,
        rs2: Reg::A2,
        offset: 0,
    });
    p.push(jal(Reg::ZERO, p.here(), top));
    assert_eq!(p.here(), end);
    while p.here() < f {
        p.push(Instruction::Ebreak);
    }
    p.push(ret());
    let patched = encode(&addi(Reg::A0, Reg::A0, 100)).expect("encode");
    for way in [Way::Interpreted, Way::Compiled, Way::Stepped] {
        let rwx = PteFlags(PteFlags::USER_RX.0 | PteFlags::WRITE);
        let mut rig = Rig::with_code_permissions(&p, rwx);
        rig.machine.set_lowering(Lowering {
            trap_division_by_zero: false,
            jit: way == Way::Compiled,
        });
        rig.set(PASSES, 4)
            .set(Reg::A2, u64::from(patched))
            .set(Reg::A3, c);
        let exception = run_to_end(&mut rig, way);
        assert!(
            matches!(exception, Exception::Breakpoint { .. }),
            "{way:?}: {exception}"
        );
        // 1 (old) + 100 three times; a stale block would give 4.
        assert_eq!(rig.reg(Reg::A0), 301, "{way:?}");
    }
}

// ---- indexed loads ------------------------------------------------------------

/// One shape of `slli; add; load`: the registers and the load.
#[derive(Clone, Copy, Debug)]
struct Indexed {
    /// `slli index, index, 3`.
    index: Reg,
    /// `add sum, first, second`: one of them is `index`.
    sum: Reg,
    first: Reg,
    second: Reg,
    /// `load dest, offset(base)`: `base` is `sum` for the shape C\* makes.
    load: LoadOp,
    base: Reg,
    dest: Reg,
    offset: i64,
}

/// Each pass: the index from `a1` into `index`, the indexed load, its
/// value xored into `a2`, `a1` stepped by `step`. (`xori` and `xor` fuse
/// with nothing, so the three ops between them are fused as one, as they
/// are in C\*'s `ld; ld; slli; add; ld`, and not into pairs with them.)
fn indexed_program(shape: Indexed, step: i64) -> Program {
    looped(|p| {
        p.push(Instruction::OpImm {
            op: ImmOp::Xori,
            rd: shape.index,
            rs1: Reg::A1,
            imm: 0,
        })
        .push(Instruction::OpImm {
            op: ImmOp::Slli,
            rd: shape.index,
            rs1: shape.index,
            imm: 3,
        })
        .push(Instruction::Op {
            op: RegOp::Add,
            rd: shape.sum,
            rs1: shape.first,
            rs2: shape.second,
        })
        .push(Instruction::Load {
            op: shape.load,
            rd: shape.dest,
            rs1: shape.base,
            offset: shape.offset,
        })
        .push(Instruction::Op {
            op: RegOp::Xor,
            rd: Reg::A2,
            rs1: Reg::A2,
            rs2: shape.dest,
        })
        .push(addi(Reg::A1, Reg::A1, step));
        // The base again, where the sum overwrote it.
        p.push(mv(Reg::A0, Reg::S1));
    })
}

#[test]
fn indexed_loads_run_as_single_steps_do() {
    // `t1` counts the passes (`PASSES`): the index is `a3` here.
    let (t0, t1, a0, t2) = (Reg::T0, Reg::A3, Reg::A0, Reg::T2);
    let shapes = [
        // C*'s: `slli t1,t1,3; add t0,t0,t1; ld t0,0(t0)`, with t0 = a.
        Indexed {
            index: t1,
            sum: a0,
            first: a0,
            second: t1,
            load: LoadOp::Ld,
            base: a0,
            dest: t0,
            offset: 0,
        },
        // The index first; the load's destination its base.
        Indexed {
            index: t1,
            sum: a0,
            first: t1,
            second: a0,
            load: LoadOp::Ld,
            base: a0,
            dest: a0,
            offset: 8,
        },
        // The index added to itself (`add t0,t1,t1`), a signed word.
        Indexed {
            index: t1,
            sum: t0,
            first: t1,
            second: t1,
            load: LoadOp::Lw,
            base: t0,
            dest: t0,
            offset: 4,
        },
        // The sum into the index register, an unsigned byte off its end.
        Indexed {
            index: t1,
            sum: t1,
            first: a0,
            second: t1,
            load: LoadOp::Lbu,
            base: t1,
            dest: t0,
            offset: -1,
        },
        // Not the shape: the load's base is not the sum (the base alone).
        Indexed {
            index: t1,
            sum: t0,
            first: a0,
            second: t1,
            load: LoadOp::Ld,
            base: a0,
            dest: t2,
            offset: 16,
        },
    ];
    // Words 0, 1, 2, ... of the data pages hold 1000, 1001, 1002, ...
    let words: Vec<(u64, u64)> = (0..64).map(|i| (DATA + 8 * i, 1000 + i)).collect();
    for shape in shapes {
        // Passes over words 2, 5, 8, ...; then from just below the data
        // pages' end on, the last pass's load leaves them (a page fault,
        // with the `slli` and `add` retired); then misaligned ones.
        let cases = [
            (2, 3, "within the data pages"),
            (
                2 * PAGE as i64 / 8 - 3,
                1,
                "the last pass beyond the data pages",
            ),
        ];
        for (first_index, step, what) in cases {
            let program = indexed_program(shape, step);
            let presets = [
                (PASSES, 4),
                (Reg::A1, first_index as u64),
                (Reg::A2, 0),
                (Reg::A0, DATA),
                (Reg::S1, DATA),
            ];
            let seen = agree(&program, &presets, &words, &format!("{shape:?}, {what}"));
            if first_index == 2 && shape.load == LoadOp::Ld && shape.offset == 0 {
                assert!(seen.exception.contains("breakpoint"), "{}", seen.exception);
                // Words 2, 5, 8 and 11.
                assert_eq!(
                    seen.regs[Reg::A2.index()],
                    1002 ^ 1005 ^ 1008 ^ 1011,
                    "{shape:?}"
                );
            }
        }
    }
}

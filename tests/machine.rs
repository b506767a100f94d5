//! Machine-level behaviour beyond single instructions: self-modifying code
//! (the decoded-block cache is invalidated on writes), exact instruction
//! budgets, and determinism under any scheduling quantum.

mod common;

use common::*;
use sim::emu::{
    encode, BranchOp, Exception, Frame, Instruction, LoadOp, PhysMemory, PteFlags, Reg, StoreOp,
};

const A0: Reg = Reg::A0;
const A1: Reg = Reg::A1;
const A2: Reg = Reg::A2;

fn rwx() -> PteFlags {
    PteFlags(PteFlags::USER_RX.0 | PteFlags::WRITE)
}

fn word(inst: Instruction) -> u64 {
    u64::from(encode(&inst).unwrap())
}

#[test]
fn a_store_over_an_executed_instruction_is_seen_on_the_next_run_of_it() {
    // 0x1000  li a0, 0
    // 0x1004  li t1, 0
    // loop:
    // 0x1008  addi a0, a0, 1        ← overwritten with addi a0, a0, 100
    // 0x100c  addi t1, t1, 1
    // 0x1010  sw a2, 0(a1)          a1 = 0x1008
    // 0x1014  li t2, 3
    // 0x1018  blt t1, t2, loop
    // 0x101c  ebreak
    let t1 = Reg::T1;
    let t2 = Reg::T2;
    let mut p = Program::of(&[
        li(A0, 0),
        li(t1, 0),
        addi(A0, A0, 1),
        addi(t1, t1, 1),
        Instruction::Store {
            op: StoreOp::Sw,
            rs1: A1,
            rs2: A2,
            offset: 0,
        },
        li(t2, 3),
        Instruction::Branch {
            op: BranchOp::Blt,
            rs1: t1,
            rs2: t2,
            offset: -16,
        },
    ]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::with_code_permissions(&p, rwx());
    rig.set(A1, CODE + 8).set(A2, word(addi(A0, A0, 100)));
    rig.run_to_ebreak();
    // 1 (old) + 100 + 100 (new, twice); a stale block would give 3.
    assert_eq!(rig.reg(A0), 201);
}

#[test]
fn a_store_into_the_running_block_ahead_of_the_pc_takes_effect() {
    // 0x1000  sw a2, 12(a1)         a1 = 0x1000: overwrites 0x100c
    // 0x1004  nop
    // 0x1008  nop
    // 0x100c  li a0, 1              ← becomes li a0, 2
    // 0x1010  ebreak
    let mut p = Program::of(&[
        Instruction::Store {
            op: StoreOp::Sw,
            rs1: A1,
            rs2: A2,
            offset: 12,
        },
        addi(Reg::ZERO, Reg::ZERO, 0),
        addi(Reg::ZERO, Reg::ZERO, 0),
        li(A0, 1),
    ]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::with_code_permissions(&p, rwx());
    // First run: the block is decoded and cached with `li a0, 1`; the store
    // writes the same word back.
    rig.set(A1, CODE).set(A2, word(li(A0, 1)));
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 1);
    assert_eq!(rig.machine.instret(), 4);
    // Second run of the same (cached) block, now storing a new instruction.
    rig.hart.pc = CODE;
    rig.set(A2, word(li(A0, 2)));
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 2);
    assert_eq!(rig.machine.instret(), 8, "every instruction counted once");
}

#[test]
fn a_store_over_the_next_instruction_and_a_compressed_one() {
    // 0x1000  sh a2, 4(a1)          overwrite the c.li at 0x1004
    // 0x1004  c.li a0, 1            ← becomes c.li a0, 7 (0x451d)
    // 0x1006  c.ebreak
    let mut p = Program::of(&[Instruction::Store {
        op: StoreOp::Sh,
        rs1: A1,
        rs2: A2,
        offset: 4,
    }]);
    p.half(0x4505).half(0x9002);
    let mut rig = Rig::with_code_permissions(&p, rwx());
    rig.set(A1, CODE).set(A2, 0x451d);
    assert_eq!(rig.run(10), Exception::Breakpoint { pc: CODE + 6 });
    assert_eq!(rig.reg(A0), 7);
}

#[test]
fn code_written_by_the_host_after_a_run_is_seen() {
    // The kernel (the host) rewrites a frame that holds decoded code, e.g.
    // when it loads a new program into a reused frame.
    let mut rig = Rig::new(&Program::of(&[li(A0, 1), Instruction::Ebreak]));
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 1);
    let new = encode(&li(A0, 9)).unwrap().to_le_bytes();
    rig.write(CODE, &new);
    rig.hart.pc = CODE;
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 9);
}

#[test]
fn a_new_process_in_reused_frames_runs_its_own_code() {
    // Process 1 runs and exits; its frames are freed. Process 2, loaded
    // afterwards at the same addresses, gets the same frames with other code.
    let mut s = sim::Simulator::builder().capture_output(true).build();
    s.load_elf(&writer_elf(b'a', 1, 3, 0, 3), &["a".into()])
        .unwrap();
    assert_eq!(s.run().exit_code, 3);
    s.load_elf(&writer_elf(b'b', 1, 2, 5, 4), &["b".into()])
        .unwrap();
    s.run();
    let mut want = writer_output(b'a', 3);
    want.extend(writer_output(b'b', 2));
    assert_eq!(
        String::from_utf8_lossy(s.stdout()),
        String::from_utf8_lossy(&want)
    );
    let p2 = s.process(sim::kernel::Pid(2)).unwrap();
    assert_eq!(p2.exit_status(), Some(sim::kernel::ExitStatus::Exited(4)));
}

/// A loop long enough for any budget below: a block of 10 instructions
/// (9 addi and a branch back), repeated.
fn long_loop() -> Program {
    let mut p = Program::new();
    for _ in 0..9 {
        p.push(addi(A0, A0, 1));
    }
    p.push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: -36,
    });
    p
}

#[test]
fn a_budget_stops_at_exactly_that_many_instructions() {
    for n in [1, 2, 3, 5, 9, 10, 11, 17, 100, 1001, 12_345] {
        let mut rig = Rig::new(&long_loop());
        assert_eq!(rig.run(n), Exception::Timer);
        assert_eq!(rig.machine.instret(), n, "budget {n}");
        // 9 of every 10 instructions add 1.
        assert_eq!(rig.reg(A0), n / 10 * 9 + (n % 10).min(9), "budget {n}");
        // The pc is that of the next instruction to run.
        assert_eq!(rig.hart.pc, CODE + 4 * (n % 10), "budget {n}");
    }
}

#[test]
fn budgets_in_pieces_add_up_to_one_run() {
    let mut whole = Rig::new(&long_loop());
    whole.run(1000);
    let mut pieces = Rig::new(&long_loop());
    for n in [1, 7, 3, 13, 200, 1, 775] {
        assert_eq!(pieces.run(n), Exception::Timer);
    }
    assert_eq!(pieces.machine.instret(), 1000);
    assert_eq!(pieces.hart, whole.hart);
}

#[test]
fn single_steps_count_one_instruction_each() {
    let mut rig = Rig::new(&long_loop());
    for i in 1..=25 {
        rig.machine
            .step(&mut rig.hart, &mut rig.page_table, CONTEXT)
            .unwrap();
        assert_eq!(rig.machine.instret(), i);
    }
    assert_eq!(rig.hart.pc, CODE + 4 * 5);
}

#[test]
fn max_instructions_stops_the_simulator_at_exactly_n() {
    // A writer that would run for a long time.
    let elf = writer_elf(b'w', 1, 50, 1000, 0);
    for n in [1, 2, 7, 13, 1000, 2003, 20_011] {
        let (s, outcome) = simulate(&[&elf], |b| b.max_instructions(n));
        assert!(outcome.limit_reached, "limit {n}");
        assert_eq!(outcome.instructions, n);
        assert_eq!(s.machine().instret(), n);
        assert_eq!(outcome.exit_code, 1, "not ended: exit code 1");
        assert!(String::from_utf8_lossy(s.stderr()).contains("--max-instructions"));
    }
}

#[test]
fn the_same_program_twice_gives_the_same_count_and_output() {
    let elf = writer_elf(b'x', 1, 12, 77, 5);
    let (s1, o1) = simulate(&[&elf], |b| b);
    let (s2, o2) = simulate(&[&elf], |b| b);
    assert_eq!(o1, o2);
    assert_eq!(o1.exit_code, 5);
    assert_eq!(s1.stdout(), s2.stdout());
    assert_eq!(s1.stdout(), writer_output(b'x', 12).as_slice());
    // 12 iterations of (spin loop + body) plus setup and exit: deterministic
    // and plausible.
    assert!(o1.instructions > 12 * 77 * 2, "{}", o1.instructions);
}

#[test]
fn the_quantum_does_not_change_what_processes_compute() {
    // Two processes, one writing to stdout, the other to stderr, each
    // spinning between writes so that slices end in the middle of loops.
    let a = writer_elf(b'a', 1, 10, 23, 0);
    let b = writer_elf(b'b', 2, 7, 41, 0);
    let (reference, ro) = simulate(&[&a, &b], |b| b);
    assert_eq!(reference.stdout(), writer_output(b'a', 10).as_slice());
    assert_eq!(reference.stderr(), writer_output(b'b', 7).as_slice());
    let per_process = |s: &sim::Simulator| {
        s.kernel()
            .processes()
            .iter()
            .map(|p| (p.stats.instructions, p.exit_status()))
            .collect::<Vec<_>>()
    };
    for quantum in [1, 7, 1000] {
        let (s, o) = simulate(&[&a, &b], |b| b.quantum(quantum));
        assert_eq!(s.stdout(), reference.stdout(), "quantum {quantum}");
        assert_eq!(s.stderr(), reference.stderr(), "quantum {quantum}");
        assert_eq!(o.exit_code, ro.exit_code);
        assert_eq!(o.instructions, ro.instructions, "quantum {quantum}");
        assert_eq!(
            per_process(&s),
            per_process(&reference),
            "quantum {quantum}"
        );
    }
}

#[test]
fn a_quantum_of_1_interleaves_the_processes() {
    // With a quantum of 1 the two writers alternate: their output
    // interleaves instead of coming one after the other.
    let a = writer_elf(b'a', 1, 4, 0, 0);
    let b = writer_elf(b'b', 1, 4, 0, 0);
    let (s, _) = simulate(&[&a, &b], |b| b.quantum(1));
    let out = String::from_utf8_lossy(s.stdout()).to_string();
    assert!(out.starts_with("a0\nb0\n"), "{out}");
    let (s, _) = simulate(&[&a, &b], |b| b);
    let out = String::from_utf8_lossy(s.stdout()).to_string();
    assert!(out.starts_with("a0\na1\na2\na3\nb0"), "{out}");
}

#[test]
fn a_physical_memory_put_in_through_memory_mut_is_the_one_the_next_run_reads() {
    // 0x1000  ld a0, 0(a1)          a1 = DATA
    // 0x1004  ebreak
    let mut p = Program::of(&[Instruction::Load {
        op: LoadOp::Ld,
        rd: A0,
        rs1: A1,
        offset: 0,
    }]);
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    rig.write_u64(DATA, 1);
    rig.set(A1, DATA);
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 1);

    // The same frames with the same contents in a new pool, but for the
    // word at DATA. The old pool is freed: a TLB still pointing into it
    // would read freed memory.
    let old = rig.machine.memory();
    let mut new = PhysMemory::new(4);
    for f in 0..old.used_frames() {
        assert_eq!(new.alloc(), Some(Frame(f)));
        new.frame_bytes_mut(Frame(f))
            .copy_from_slice(old.frame_bytes(Frame(f)));
    }
    *rig.machine.memory_mut() = new;
    rig.write_u64(DATA, 2);
    rig.hart.pc = CODE;
    rig.run_to_ebreak();
    assert_eq!(rig.reg(A0), 2);
}

//! The JIT tier (src/emu/jit/) against the interpreter: every program in
//! the repository runs under both tiers with the same output, exit code
//! and instruction count, also when the time slice and the instruction
//! limit cut blocks in the middle. (The rest of the suite runs under
//! either tier: `SIM_JIT=0 cargo test` for the interpreter alone.)

mod common;

use std::process::Command;

use sim::{RunOutcome, Simulator};

use common::{c_files, header, root};

/// What one run shows from outside.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    exit_code: i32,
    instructions: u64,
    limit_reached: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `elf` with `args` on one tier; returns what it showed and how many
/// blocks the JIT compiled.
fn run(elf: &[u8], args: &[String], jit: bool, quantum: u64, limit: u64) -> (Seen, u64) {
    let mut s = Simulator::builder()
        .capture_output(true)
        .stdin_bytes(b"some input\nfor the programs that read\n".to_vec())
        .quantum(quantum)
        .max_instructions(limit)
        .jit(jit)
        .build();
    s.load_elf(elf, args).expect("load");
    let RunOutcome {
        exit_code,
        instructions,
        limit_reached,
    } = s.run();
    let seen = Seen {
        exit_code,
        instructions,
        limit_reached,
        stdout: s.stdout().to_vec(),
        stderr: s.stderr().to_vec(),
    };
    (seen, s.machine().compiled_blocks())
}

/// Every program of programs/ (C*), tests/c/, benches/programs/ and
/// benches/held-out/ (gcc, when installed), as (name, ELF, arguments).
fn every_program() -> Vec<(String, Vec<u8>, Vec<String>)> {
    let mut out = Vec::new();
    let mut sources = Vec::new();
    c_files(&root().join("programs"), &mut sources);
    sources.sort();
    for path in sources {
        let Ok(elf) = sim::toolchain::build_program(std::slice::from_ref(&path)) else {
            continue; // a program that is meant not to compile
        };
        let mut args = vec![path.display().to_string()];
        if let Some(extra) = header(&path, "expect-args") {
            args.extend(extra.split_whitespace().map(String::from));
        }
        out.push((path.display().to_string(), elf, args));
    }
    if let Some(gcc) = common::tool("riscv64-linux-gnu-gcc") {
        let dir = std::env::temp_dir().join(format!("sim-jit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut c = Vec::new();
        c_files(&root().join("tests/c"), &mut c);
        c_files(&root().join("benches/programs"), &mut c);
        c_files(&root().join("benches/held-out"), &mut c);
        c.sort();
        for path in c {
            let elf_path = dir.join("prog.elf");
            let status = Command::new(&gcc)
                .args([
                    "-O2",
                    "-march=rv64gc",
                    "-mabi=lp64d",
                    "-static",
                    "-nostdlib",
                ])
                .args(["-ffreestanding", "-fno-builtin", "-fno-math-errno"])
                .arg(format!("-I{}", root().join("tests/c").display()))
                .arg(root().join("tests/c/start.S"))
                .arg(&path)
                .arg("-o")
                .arg(&elf_path)
                .status()
                .expect("run gcc");
            assert!(status.success(), "gcc {}", path.display());
            let elf = std::fs::read(&elf_path).expect("read ELF");
            out.push((path.display().to_string(), elf, vec!["prog".to_string()]));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

/// Instructions each run may take: the benchmarks are cut short (the
/// limit stops both tiers at the same instruction).
const LIMIT: u64 = 2_000_000;

#[test]
fn every_program_gives_the_same_output_and_counts_under_both_tiers() {
    let programs = every_program();
    assert!(
        programs.len() >= 20,
        "found only {} programs",
        programs.len()
    );
    let mut compiled = 0;
    for (name, elf, args) in &programs {
        // The default quantum, and an odd one that cuts blocks anywhere;
        // `LIMIT` keeps the long benchmarks short.
        for quantum in [100_000, 997] {
            let (interpreted, none) = run(elf, args, false, quantum, LIMIT);
            let (jitted, blocks) = run(elf, args, true, quantum, LIMIT);
            assert_eq!(none, 0, "{name}: the interpreter compiled blocks");
            assert_eq!(interpreted, jitted, "{name}, quantum {quantum}");
            compiled += blocks;
        }
    }
    if sim::emu::jit_available() {
        assert!(compiled > 100, "the JIT compiled only {compiled} blocks");
    }
}

#[test]
fn the_instruction_limit_stops_both_tiers_at_the_same_instruction() {
    let path = root().join("programs/bench/sort.c");
    let elf = sim::toolchain::build_program(std::slice::from_ref(&path)).expect("compile");
    let args = vec!["sort".to_string()];
    for limit in [1, 2, 3, 7, 64, 65, 1_000, 12_345, 99_999, 1_000_003] {
        let (interpreted, _) = run(&elf, &args, false, 100_000, limit);
        let (jitted, _) = run(&elf, &args, true, 100_000, limit);
        assert!(interpreted.limit_reached, "limit {limit}");
        assert_eq!(interpreted.instructions, limit, "limit {limit}");
        assert_eq!(interpreted, jitted, "limit {limit}");
    }
}

/// Runs `rig` under the JIT tier (`jit`) or the interpreter alone, with
/// RISC-V's division by zero.
fn set_tier(rig: &mut common::Rig, jit: bool) {
    rig.machine.set_lowering(sim::emu::Lowering {
        trap_division_by_zero: false,
        jit,
    });
}

/// A load whose address the block computes, over pages picked at random
/// by a generator in the guest: two pages of one parity and two of the
/// other, so that the load's one-way guess of its TLB addend fails until
/// it goes two-way, and the two-way guess fails until it stops guessing
/// (jit/x86_64.rs, `Predictions`; each after 4,096 wrong guesses). Every
/// phase must load what the interpreter loads, and count alike.
#[test]
fn a_load_over_pages_of_both_parities_loads_what_the_interpreter_loads() {
    use common::{addi, branch, li, Program, Rig, DATA};
    use sim::emu::{BranchOp, Instruction, LoadOp, PteFlags, Reg, RegOp};
    let (count, state, sum, t0, t1, t2, base) =
        (Reg(9), Reg(18), Reg(19), Reg(5), Reg(6), Reg(7), Reg(20));
    let op = |op, rd, rs1, rs2| Instruction::Op { op, rd, rs1, rs2 };
    let imm = |op, rd, rs1, imm| Instruction::OpImm { op, rd, rs1, imm };
    use sim::emu::ImmOp::{Andi, Slli, Srli};
    let mut p = Program::new();
    p.push(li(sum, 0));
    let top = p.here();
    // state = state * 5 + 1; the address: DATA + (bit 12 of state >> 7 as
    // the page's parity) + (bit 16 as the page pair) + an offset.
    p.push(imm(Slli, t0, state, 2))
        .push(op(RegOp::Add, state, state, t0))
        .push(addi(state, state, 1))
        .push(imm(Srli, t0, state, 7))
        .push(Instruction::Lui {
            rd: t1,
            imm: 0x11000,
        })
        .push(op(RegOp::And, t0, t0, t1))
        .push(imm(Andi, t2, state, 0x1f8))
        .push(op(RegOp::Add, t0, t0, t2))
        .push(op(RegOp::Add, t0, t0, base))
        .push(Instruction::Load {
            op: LoadOp::Ld,
            rd: t2,
            rs1: t0,
            offset: 0,
        })
        .push(op(RegOp::Add, sum, sum, t2))
        .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        for page in [DATA + 0x10000, DATA + 0x11000] {
            rig.map(page, PteFlags::USER_RW);
        }
        for page in [DATA, DATA + 0x1000, DATA + 0x10000, DATA + 0x11000] {
            for offset in (0..0x200).step_by(8) {
                rig.write_u64(page + offset, page.rotate_left(17) ^ (offset * 0x9e37_79b9));
            }
        }
        rig.set(count, 60_000).set(state, 12_345).set(base, DATA);
        let end = rig.run(2_000_000);
        assert!(
            matches!(end, sim::emu::Exception::Breakpoint { .. }),
            "{end}"
        );
        (rig.hart.regs, rig.machine.instret())
    };
    let interpreted = run(false);
    assert_eq!(interpreted.0[9], 0, "the loop ran to its end");
    assert_eq!(run(true), interpreted);
}

/// A load whose address the block computes, alternating between a page
/// and the next (odd and even page numbers): its one-way guess of the TLB
/// addend fails every time, until, after 4,096 wrong guesses, it guesses
/// two-way, one addend per parity, which must then be right every time.
/// (A wrong guess is caught and costs only time, so only the count of
/// wrong guesses can tell that the two-way guess picks by the wrong bit.)
#[test]
fn a_two_way_guess_picks_the_addend_of_its_pages_parity() {
    use common::{add, addi, andi, branch, li, Program, Rig};
    use sim::emu::{BranchOp, ImmOp, Instruction, LoadOp, Reg};
    if !sim::emu::jit_available() {
        eprintln!("skipped: this host has no JIT tier (x86-64 only)");
        return;
    }
    let (count, sum, base, t0, t1) = (Reg(9), Reg(18), Reg(20), Reg(5), Reg(6));
    let mut p = Program::new();
    p.push(li(sum, 0));
    let top = p.here();
    // t0 = base + (count & 1) * 4096 + 8
    p.push(andi(t0, count, 1))
        .push(Instruction::OpImm {
            op: ImmOp::Slli,
            rd: t0,
            rs1: t0,
            imm: 12,
        })
        .push(add(t0, t0, base))
        .push(Instruction::Load {
            op: LoadOp::Ld,
            rd: t1,
            rs1: t0,
            offset: 8,
        })
        .push(add(sum, sum, t1))
        .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        map_two_pages(&mut rig);
        rig.set(count, 12_000).set(base, LOW);
        rig.run_to_ebreak();
        rig
    };
    let interpreted = run(false);
    let jitted = run(true);
    assert_eq!(jitted.hart.regs[18], interpreted.hart.regs[18]);
    assert_ne!(interpreted.hart.regs[18], 0);
    // 4,096 one-way, then (nearly) none: a two-way guess that picked by
    // another bit would fail 4,096 times more and give up.
    let wrong = jitted.machine.wrong_guesses();
    assert!((4_096..4_200).contains(&wrong), "{wrong} wrong guesses");
}

/// Two neighbouring pages, `LOW` and `HIGH`, for accesses across their
/// boundary.
const LOW: u64 = 0x40000;
const HIGH: u64 = 0x41000;

/// Maps `LOW` and `HIGH` to frames that are not neighbours (HIGH first, so
/// its frame lies below LOW's: the two pages are not one host run and
/// their TLB addends differ), filled with values of their addresses.
fn map_two_pages(rig: &mut common::Rig) {
    use sim::emu::PteFlags;
    let high = rig.map(HIGH, PteFlags::USER_RW);
    let low = rig.map(LOW, PteFlags::USER_RW);
    assert_ne!(
        low.0 + 1,
        high.0,
        "the pages' frames must not be neighbours"
    );
    for offset in (0..0x1000).step_by(8) {
        rig.write_u64(LOW + offset, (LOW + offset).rotate_left(23) ^ 0x5555);
        rig.write_u64(HIGH + offset, (HIGH + offset).rotate_left(29) ^ 0xaaaa);
    }
}

/// Loads and stores off one base register, one after another, that
/// alternate between two pages whose frames are not neighbours (so their
/// TLB addends differ): the JIT checks such a load or store only against
/// the page of the access before it (jit/x86_64.rs, `same_page_check`),
/// and one on the other page must take the full lookup. Sizes 1 to 8, and
/// now and then a misaligned address, which the check must not let
/// through either. Each tier must load, store and count alike.
#[test]
fn accesses_off_one_base_across_two_pages_agree_with_the_interpreter() {
    use common::{add, addi, branch, li, Program, Rig};
    use sim::emu::{BranchOp, Instruction, LoadOp, Reg, StoreOp};
    let (count, sum, base, t0, t1, t2, t3) =
        (Reg(9), Reg(18), Reg(20), Reg(5), Reg(6), Reg(7), Reg(28));
    let load = |op, rd, offset| Instruction::Load {
        op,
        rd,
        rs1: base,
        offset,
    };
    let store = |op, rs2, offset| Instruction::Store {
        op,
        rs1: base,
        rs2,
        offset,
    };
    let mut p = Program::new();
    p.push(li(sum, 0));
    let top = p.here();
    // `base` is HIGH, or HIGH + 1 (misaligned for all but bytes) every
    // fourth round: negative offsets reach LOW, the others HIGH.
    p.push(load(LoadOp::Ld, t0, -8))
        .push(load(LoadOp::Ld, t1, 0))
        .push(load(LoadOp::Lw, t2, -16))
        .push(load(LoadOp::Lhu, t3, 16))
        .push(load(LoadOp::Lbu, t3, -1))
        .push(add(sum, sum, t3))
        // Misaligned, and across the two pages.
        .push(load(LoadOp::Ld, t3, -4))
        .push(add(sum, sum, t0))
        .push(add(sum, sum, t1))
        .push(add(sum, sum, t2))
        .push(add(sum, sum, t3))
        .push(addi(t0, t0, 3))
        .push(store(StoreOp::Sd, t0, 8))
        .push(store(StoreOp::Sd, sum, -24))
        .push(store(StoreOp::Sw, t2, 24))
        .push(store(StoreOp::Sh, t1, -32))
        .push(store(StoreOp::Sb, sum, 32))
        .push(load(LoadOp::Ld, t1, -24))
        .push(add(sum, sum, t1))
        .push(Instruction::OpImm {
            op: sim::emu::ImmOp::Andi,
            rd: t3,
            rs1: count,
            imm: 3,
        })
        .push(Instruction::OpImm {
            op: sim::emu::ImmOp::Sltiu,
            rd: t3,
            rs1: t3,
            imm: 1,
        })
        .push(Instruction::Lui {
            rd: base,
            imm: HIGH as i64,
        })
        .push(add(base, base, t3))
        .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        map_two_pages(&mut rig);
        rig.set(count, 2_000).set(base, HIGH);
        let end = rig.run(1_000_000);
        let (low_bytes, high_bytes) = (rig.read(LOW + 0xfc0, 64), rig.read(HIGH, 64));
        (
            format!("{end}"),
            rig.hart.regs,
            rig.machine.instret(),
            low_bytes,
            high_bytes,
        )
    };
    let interpreted = run(false);
    assert_eq!(
        interpreted.1[9], 0,
        "the loop ran to its end: {}",
        interpreted.0
    );
    assert_eq!(run(true), interpreted);
}

/// Loops of one block that step pointers across the boundary between two
/// pages whose frames are not neighbours: such a loop carries the TLB
/// entry of its last access round to its first (jit/x86_64.rs,
/// `carried_access`), and a pointer stepped by `addi` counts as the same
/// base (`entry_kept`), so every access is checked against the page of the
/// one before. Strides of 1, 2 and 8 bytes, forwards and backwards, loads
/// and stores; each tier must load, store and count alike.
#[test]
fn one_block_loops_stepping_pointers_across_pages_agree_with_the_interpreter() {
    use common::{add, addi, branch, Program, Rig};
    use sim::emu::{BranchOp, Instruction, LoadOp, Reg, StoreOp};
    let (count, sum, up, down, t0) = (Reg(9), Reg(18), Reg(10), Reg(11), Reg(5));
    for (load, size, stride) in [(LoadOp::Lbu, 1, 1), (LoadOp::Lhu, 2, 2), (LoadOp::Ld, 8, 8)] {
        let store = match size {
            1 => StoreOp::Sb,
            2 => StoreOp::Sh,
            _ => StoreOp::Sd,
        };
        // loop: t0 = *up; sum += t0; *down = sum; up += stride;
        //       down -= stride; count -= 1; bne count, x0, loop
        let mut p = Program::new();
        let top = p.here();
        p.push(Instruction::Load {
            op: load,
            rd: t0,
            rs1: up,
            offset: 0,
        })
        .push(add(sum, sum, t0))
        .push(Instruction::Store {
            op: store,
            rs1: down,
            rs2: sum,
            offset: 0,
        })
        .push(addi(up, up, stride))
        .push(addi(down, down, -stride))
        .push(addi(count, count, -1));
        p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
        p.push(Instruction::Ebreak);
        let rounds = 0x300 / stride as u64;
        let run = |jit: bool| {
            let mut rig = Rig::new(&p);
            set_tier(&mut rig, jit);
            map_two_pages(&mut rig);
            // `up` from LOW upwards into HIGH, `down` from HIGH down into
            // LOW, both across the boundary.
            rig.set(count, rounds)
                .set(sum, 0)
                .set(up, HIGH - 0x100)
                .set(down, HIGH + 0x100);
            let end = rig.run(1_000_000);
            let bytes = rig.read(HIGH - 0x400, 0x800);
            (
                format!("{end}"),
                rig.hart.regs,
                rig.machine.instret(),
                bytes,
            )
        };
        let interpreted = run(false);
        assert_eq!(interpreted.1[9], 0, "stride {stride}: {}", interpreted.0);
        assert_eq!(run(true), interpreted, "stride {stride}");
    }
}

/// Runs the program `start(jit)` sets up, under each tier, in time slices
/// of every length in `quanta` and stopped after every count in `limits`:
/// what `seen` sees at the end (the exception and the registers, say)
/// must be what the interpreter sees running it whole, and where it
/// stops after a count, what the interpreter sees there.
fn stops_alike<T: PartialEq + std::fmt::Debug>(
    start: impl Fn(bool) -> common::Rig,
    seen: impl Fn(&mut common::Rig, sim::emu::Exception) -> T,
    quanta: std::ops::RangeInclusive<u64>,
    limits: std::ops::RangeInclusive<u64>,
) {
    use sim::emu::Exception;
    let whole = {
        let mut rig = start(false);
        let end = rig.run(100_000);
        seen(&mut rig, end)
    };
    for quantum in quanta {
        for jit in [false, true] {
            let mut rig = start(jit);
            let end = loop {
                match rig.run(quantum) {
                    Exception::Timer if rig.machine.instret() < 10_000 => continue,
                    e => break e,
                }
            };
            assert_eq!(seen(&mut rig, end), whole, "slices of {quantum}, jit {jit}");
        }
    }
    for limit in limits {
        let (mut interpreted, mut jitted) = (start(false), start(true));
        let (a, b) = (interpreted.run(limit), jitted.run(limit));
        assert_eq!(
            seen(&mut jitted, b),
            seen(&mut interpreted, a),
            "stopped after {limit}"
        );
    }
}

/// Under the JIT a forward branch does not end its block: it is a side
/// exit (block.rs, `decode_block`), which gives the instructions after it
/// back to the budget when taken. Here two side exits in one loop, one
/// taken every other round (over a store), one taken only in the last
/// rounds, run in time slices of every length from 1 to 40 instructions
/// (so that slices end before, at and after each side exit, and blocks are
/// cut right after one), and with the run stopped after every count from
/// 1 to 200: registers, pc, memory and count must be the interpreter's.
#[test]
fn side_exits_stop_and_count_exactly_wherever_the_budget_ends() {
    use common::{add, addi, andi, branch, Program, Rig, DATA};
    use sim::emu::{BranchOp, Exception, Instruction, LoadOp, Reg, StoreOp};
    let (count, sum, at, t0, t1) = (Reg(9), Reg(18), Reg(10), Reg(5), Reg(6));
    let mut p = Program::new();
    let top = p.here();
    p.push(andi(t0, count, 1));
    // Skips the `addi; sd` pair on even counts: 4 bytes of branch, 8 of pair.
    let skip = p.here() + 12;
    p.push(branch(BranchOp::Beq, t0, Reg::ZERO, p.here(), skip))
        .push(addi(sum, sum, 7))
        .push(Instruction::Store {
            op: StoreOp::Sd,
            rs1: at,
            rs2: sum,
            offset: 0,
        })
        .push(addi(sum, sum, 1))
        .push(Instruction::Load {
            op: LoadOp::Ld,
            rd: t1,
            rs1: at,
            offset: 0,
        })
        .push(add(sum, sum, t1))
        .push(addi(t0, Reg::ZERO, 3));
    // Taken in the last three rounds only: over the pointer's step.
    let over = p.here() + 8;
    p.push(branch(BranchOp::Bltu, count, t0, p.here(), over))
        .push(addi(at, at, 8))
        .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let start = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        rig.set(count, 12).set(sum, 0).set(at, DATA);
        rig
    };
    let seen = |rig: &mut Rig, end: Exception| {
        (
            format!("{end}"),
            rig.hart.regs,
            rig.hart.pc,
            rig.machine.instret(),
            rig.read(DATA, 128),
        )
    };
    let whole = {
        let mut rig = start(false);
        let end = rig.run(100_000);
        seen(&mut rig, end)
    };
    assert!(whole.0.contains("breakpoint"), "{}", whole.0);
    // Every round adds 1 and the doubled word, odd rounds 7 more.
    assert_ne!(whole.1[18], 0);
    if sim::emu::jit_available() {
        let mut rig = start(true);
        rig.run(100_000);
        assert!(rig.machine.compiled_blocks() > 0, "nothing compiled");
    }
    stops_alike(start, seen, 1..=40, 1..=200);
}

/// A taken jump to another compiled block on the page goes straight to
/// that block's code (jit/mod.rs): both jumps of a hot loop of two
/// blocks, the `jal` and the conditional branch back, are linked. (A jump
/// the JIT failed to link would still run right, through the jump cache,
/// only slower, so no other test would see it.)
#[test]
fn both_jumps_of_a_loop_of_two_blocks_are_linked() {
    use common::{addi, branch, Program, Rig};
    use sim::emu::{BranchOp, Instruction, Reg};
    if !sim::emu::jit_available() {
        eprintln!("skipped: this host has no JIT tier (x86-64 only)");
        return;
    }
    let (count, sum) = (Reg(9), Reg(18));
    let mut p = Program::new();
    let top = p.here();
    p.push(addi(count, count, -1)).push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: 4,
    });
    p.push(addi(sum, sum, 1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let mut rig = Rig::new(&p);
    set_tier(&mut rig, true);
    rig.set(count, 100).set(sum, 0);
    rig.run_to_ebreak();
    assert_eq!(rig.hart.regs[18], 100);
    // The `jal` to the second block and the `bne` back to the first; the
    // `bne`'s fall-through goes to an `ebreak`, which is not compiled.
    assert_eq!(rig.machine.linked_jumps(), 2);
}

/// A branch over a few ops that only compute registers (`if (odd)
/// sum = -sum;`) is a short skip under the JIT (jit/x86_64.rs,
/// `emit_skip`): taken, it stays in its block, which gives the skipped
/// instructions back to the budget. So the loop stays a loop of one
/// block, and the block at the branch's target is never made. Stopped
/// after every count, it must stop where the interpreter does.
#[test]
fn a_short_skip_stays_in_its_block_and_counts_exactly() {
    use common::{add, addi, andi, branch, Program, Rig};
    use sim::emu::{BranchOp, Exception, Instruction, Reg, RegOp};
    let (count, sum, t0) = (Reg(9), Reg(18), Reg(5));
    let mut p = Program::new();
    let top = p.here();
    p.push(andi(t0, count, 1));
    // Over the negation on even counts: 4 bytes of branch, 4 of `sub`.
    let over = p.here() + 8;
    p.push(branch(BranchOp::Beq, t0, Reg::ZERO, p.here(), over))
        .push(Instruction::Op {
            op: RegOp::Sub,
            rd: sum,
            rs1: Reg::ZERO,
            rs2: sum,
        })
        .push(add(sum, sum, count))
        .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let start = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        rig.set(count, 50).set(sum, 3);
        rig
    };
    let mut interpreted = start(false);
    interpreted.run_to_ebreak();
    let mut jitted = start(true);
    jitted.run_to_ebreak();
    assert_ne!(interpreted.hart.regs[18], 3);
    assert_eq!(jitted.hart.regs, interpreted.hart.regs);
    assert_eq!(jitted.machine.instret(), interpreted.machine.instret());
    if sim::emu::jit_available() {
        assert!(jitted.machine.compiled_blocks() > 0, "nothing compiled");
        // The loop and the `ebreak` after it: no block at `over`.
        assert_eq!(jitted.machine.cached_blocks(), 2);
    }
    let seen = |rig: &mut Rig, end: Exception| {
        (
            end.to_string(),
            rig.hart.regs,
            rig.hart.pc,
            rig.machine.instret(),
        )
    };
    stops_alike(start, seen, 1..=20, 1..=150);
}

/// A backward branch that a `j` back to its block's start closely
/// follows does not end the block under the JIT (block.rs,
/// `jumps_back_soon`): the block is then a loop of one block through
/// that `j`, with the branch a side exit (here to code that comes back
/// to the loop). It must run, stop and count as the interpreter does.
#[test]
fn a_loop_closed_by_a_jump_back_stays_one_block_and_counts_exactly() {
    use common::{add, addi, andi, branch, Program, Rig};
    use sim::emu::{BranchOp, Exception, Instruction, Reg};
    let (count, sum, other, t0) = (Reg(9), Reg(18), Reg(19), Reg(5));
    let mut p = Program::new();
    // 0: to the loop; 4: the code the side exit goes to, back to the loop.
    p.push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: 12,
    });
    let elsewhere = p.here();
    p.push(addi(other, other, 1));
    let top = p.here() + 4;
    p.push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: (top - p.here()) as i64,
    });
    assert_eq!(p.here(), top);
    // 4 bytes each: the loop's exit lies 7 instructions on.
    let done = top + 7 * 4;
    p.push(branch(BranchOp::Beq, count, Reg::ZERO, p.here(), done))
        .push(addi(count, count, -1))
        .push(add(sum, sum, count))
        .push(andi(t0, count, 3));
    p.push(branch(BranchOp::Beq, t0, Reg::ZERO, p.here(), elsewhere))
        .push(addi(sum, sum, 1));
    p.push(Instruction::Jal {
        rd: Reg::ZERO,
        offset: (top as i64) - (p.here() as i64),
    });
    assert_eq!(p.here(), done);
    p.push(Instruction::Ebreak);
    let start = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        rig.set(count, 40).set(sum, 0).set(other, 0);
        rig
    };
    let mut interpreted = start(false);
    interpreted.run_to_ebreak();
    assert_eq!(interpreted.hart.regs[19], 10);
    let mut jitted = start(true);
    jitted.run_to_ebreak();
    // (x0 to x31: the write sink after them is never read.)
    assert_eq!(jitted.hart.regs[..32], interpreted.hart.regs[..32]);
    assert_eq!(jitted.machine.instret(), interpreted.machine.instret());
    if sim::emu::jit_available() {
        assert!(jitted.machine.compiled_blocks() > 0, "nothing compiled");
        // The first `j`, the loop, the code elsewhere and the `ebreak`:
        // no block of its own for the loop's last two instructions.
        assert_eq!(jitted.machine.cached_blocks(), 4);
    }
    let seen = |rig: &mut Rig, end: Exception| {
        let regs = rig.hart.regs[..32].to_vec();
        (end.to_string(), regs, rig.hart.pc, rig.machine.instret())
    };
    stops_alike(start, seen, 1..=30, 1..=300);
}

/// A loop of one block writes its registers back only when it is left
/// (jit/x86_64.rs, `emit_terminator`), so it counts each register it
/// writes as dirty from its first op on, and loads the ones it only writes
/// at its start. Here a load faults in the loop's first round, before the
/// round writes `t1` (which the block only writes): the registers at the
/// fault must be the interpreter's, `t1` the value of the round before,
/// not whatever its host register held.
#[test]
fn a_fault_in_the_first_round_of_a_one_block_loop_leaves_exact_registers() {
    use common::{add, addi, branch, Program, Rig, DATA, DATA_PAGES};
    use sim::emu::{BranchOp, Instruction, LoadOp, Reg};
    let (outer, count, sum, at, t0, t1) = (Reg(8), Reg(9), Reg(18), Reg(10), Reg(5), Reg(6));
    let mut p = Program::new();
    let top = p.here();
    // (Two registers first: the block at `top`, which runs the first
    // round of each entry, then keeps t0 and t1 in other host registers
    // than the loop does.)
    p.push(addi(Reg(7), Reg::ZERO, 5))
        .push(addi(Reg(12), Reg::ZERO, 6))
        .push(addi(count, Reg::ZERO, 4));
    let tight = p.here();
    p.push(Instruction::Load {
        op: LoadOp::Ld,
        rd: t0,
        rs1: at,
        offset: 0,
    })
    .push(addi(t1, count, 100))
    .push(add(sum, sum, t0))
    .push(add(sum, sum, t1))
    .push(addi(at, at, 8))
    .push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), tight));
    // Other values in every host register before the loop is entered
    // again.
    p.push(addi(outer, outer, -1));
    for (i, r) in [7u8, 12, 13, 14, 15, 16, 28, 29].into_iter().enumerate() {
        p.push(addi(Reg(r), outer, 1000 + i as i64));
    }
    p.push(branch(BranchOp::Bne, outer, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        for offset in (0..DATA_PAGES * 0x1000).step_by(8) {
            rig.write_u64(DATA + offset, offset * 3);
        }
        // Four rounds of 8 bytes an entry. The first round of an entry
        // is part of the block at `top`; the loop of one block at `tight`
        // runs the other three: the load past the data pages is the
        // second of an entry, the first the loop runs.
        rig.set(outer, 1_000).set(at, DATA + 24);
        let end = rig.run(1_000_000);
        (
            format!("{end}"),
            rig.hart.regs,
            rig.hart.pc,
            rig.machine.instret(),
        )
    };
    let interpreted = run(false);
    assert!(interpreted.0.contains("fault"), "{}", interpreted.0);
    assert_eq!(interpreted.1[10], DATA + DATA_PAGES * 0x1000);
    let jitted = run(true);
    assert_eq!(jitted, interpreted);
}

/// A loop of one block with more registers than the JIT has host
/// registers for keeps its most used ones round the loop (jit/x86_64.rs,
/// `RegCache::pin`), so those it writes must count as dirty from its first
/// op on, also in later rounds: here the side exit at the top of the loop
/// is taken in its sixth round, before the round writes `w` (one of the
/// most used), and the register file must then hold the `w` of the round
/// before, as the interpreter's does.
#[test]
fn a_side_exit_before_a_kept_register_is_written_leaves_its_last_value() {
    use common::{add, addi, branch, Program, Rig};
    use sim::emu::{BranchOp, Instruction, Reg};
    let (count, limit, w) = (Reg(9), Reg(8), Reg(18));
    let others = [5u8, 6, 7, 10, 11, 12, 13, 14, 15].map(Reg);
    let mut p = Program::new();
    let tight = p.here();
    // (Forward: a side exit, taken when count < limit.)
    let out = tight + 4 * (6 + 4 + 1);
    p.push(branch(BranchOp::Bltu, count, limit, p.here(), out));
    for &r in &others[..3] {
        p.push(add(r, r, w));
    }
    for pair in others[3..].chunks(2) {
        p.push(add(pair[0], pair[0], pair[1]));
    }
    p.push(addi(w, count, 100))
        .push(addi(count, count, -1))
        .push(add(limit, limit, Reg::ZERO));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), tight));
    assert_eq!(p.here(), out);
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let mut rig = Rig::new(&p);
        set_tier(&mut rig, jit);
        rig.set(count, 20).set(limit, 16).set(w, 7);
        for (i, &r) in others.iter().enumerate() {
            rig.set(r, 1000 * i as u64);
        }
        let end = rig.run(10_000);
        (
            format!("{end}"),
            rig.hart.regs,
            rig.hart.pc,
            rig.machine.instret(),
        )
    };
    let interpreted = run(false);
    assert!(interpreted.0.contains("breakpoint"), "{}", interpreted.0);
    // Five rounds ran whole (count 20 down to 16); the last wrote w = 116.
    assert_eq!(interpreted.1[18], 116);
    assert_eq!(run(true), interpreted);
}

/// A store into a page of code that follows a load from the same page off
/// the same base (so the JIT checks it only against the load's TLB entry,
/// `same_page_check`): it must compare the entry's write tag, which a
/// page holding decoded code never has, so that the store goes through
/// the interpreter, which drops the stale code. The store raises the
/// immediate of the `addi` right after it, in the same block: the n-th
/// round adds n.
#[test]
fn a_store_into_code_after_a_load_off_the_same_base_changes_the_code() {
    use common::{addi, branch, li, Program, Rig};
    use sim::emu::{BranchOp, Instruction, LoadOp, PteFlags, Reg, StoreOp};
    let (count, sum, at, word) = (Reg(9), Reg(18), Reg(20), Reg(5));
    let mut p = Program::new();
    p.push(li(sum, 0));
    let top = p.here();
    // The `addi sum, sum, 0` below, 5 instructions on.
    let patched = top + 5 * 4;
    p.push(Instruction::Auipc { rd: at, imm: 0 })
        .push(Instruction::Load {
            op: LoadOp::Lw,
            rd: word,
            rs1: at,
            offset: 20,
        })
        .push(Instruction::Lui {
            rd: Reg(6),
            imm: 0x100000,
        })
        .push(Instruction::Op {
            op: sim::emu::RegOp::Add,
            rd: word,
            rs1: word,
            rs2: Reg(6),
        })
        .push(Instruction::Store {
            op: StoreOp::Sw,
            rs1: at,
            rs2: word,
            offset: 20,
        });
    assert_eq!(p.here(), patched);
    p.push(addi(sum, sum, 0)).push(addi(count, count, -1));
    p.push(branch(BranchOp::Bne, count, Reg::ZERO, p.here(), top));
    p.push(Instruction::Ebreak);
    let run = |jit: bool| {
        let rwx = PteFlags(PteFlags::USER_RX.0 | PteFlags::WRITE);
        let mut rig = Rig::with_code_permissions(&p, rwx);
        set_tier(&mut rig, jit);
        rig.set(count, 300);
        let end = rig.run(1_000_000);
        (format!("{end}"), rig.hart.regs, rig.machine.instret())
    };
    let interpreted = run(false);
    assert_eq!(interpreted.1[18], 300 * 301 / 2, "{}", interpreted.0);
    assert_eq!(run(true), interpreted);
}

/// Every double-precision op, on every pair of edge values and with
/// `fcsr` in each state the JIT's checks tell apart (nothing accrued; NX
/// accrued with nearest-even in `frm`; NX with another mode; a reserved
/// `frm`), as the first op of a block (compiled, if the JIT has a
/// template for it): the
/// registers, both files and `fcsr` must come out as the interpreter
/// leaves them. Results that are not ordinary (a NaN, an infinity, a
/// subnormal, an overflow, a conversion out of range) must reach the
/// interpreter, which computes their flags and canonical NaNs.
#[test]
fn double_ops_at_their_edges_agree_with_the_interpreter() {
    use common::{Program, Rig};
    use sim::emu::{fp_instructions, FReg, FpWidth, Instruction, Reg, Rm};
    let (fd, f1, f2, f3) = (FReg(0), FReg(1), FReg(2), FReg(3));
    let (xd, x1) = (Reg(10), Reg(11));
    // Every double-precision instruction but the loads and stores (whose
    // base this list makes x1; the random loops cover them), in the modes
    // the JIT tells apart; those without a mode once.
    let mut ops: Vec<Instruction> = Vec::new();
    for rm in [Rm::Dyn, Rm::Rne, Rm::Rtz] {
        for op in fp_instructions(FpWidth::Double, rm, [fd, f1, f2, f3], [xd, x1]) {
            let memory = matches!(op, Instruction::FpLoad { .. } | Instruction::FpStore { .. });
            if !memory && !ops.contains(&op) {
                ops.push(op);
            }
        }
    }
    let values: Vec<u64> = [
        1.5,
        -2.25,
        3.0e10,
        -3.0e10,
        0.1,
        2147483647.5,
        -2147483648.0,
        -9.3e18,
        0.0,
        -0.0,
        f64::MAX,
        -f64::MAX,
        1e300,
        1e-300,
        2.3e-308,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]
    .iter()
    .map(|v: &f64| v.to_bits())
    // The canonical NaN, a quiet one with a payload, a signaling one.
    .chain([
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0123,
        0x7ff0_0000_0000_0001,
    ])
    .collect();
    let run = |op: Instruction, fcsr: u32, (a, b): (u64, u64), jit: bool| {
        let mut rig = Rig::new(Program::new().push(op).push(Instruction::Ebreak));
        set_tier(&mut rig, jit);
        rig.hart.fcsr = fcsr;
        rig.hart.f[1] = a;
        rig.hart.f[2] = b;
        rig.hart.f[3] = a.rotate_left(1) ^ b;
        rig.set(x1, a);
        let exception = rig.run(100).to_string();
        (
            rig.hart.regs,
            rig.hart.f,
            rig.hart.fcsr,
            rig.hart.pc,
            exception,
        )
    };
    let mut compared = 0;
    for &op in &ops {
        // The second operand only for the ops that have one; `fcsr` only
        // for those that round.
        let (unary, rounds) = match op {
            Instruction::FpSqrt { .. }
            | Instruction::FpConvert { .. }
            | Instruction::FpToInt { .. }
            | Instruction::IntToFp { .. } => (true, true),
            Instruction::FpMoveToInt { .. }
            | Instruction::FpMoveFromInt { .. }
            | Instruction::FpClass { .. } => (true, false),
            Instruction::FpSign { .. } | Instruction::FpCompare { .. } => (false, false),
            _ => (false, true),
        };
        let seconds = if unary { &values[..1] } else { &values[..] };
        let states: &[u32] = if rounds {
            &[0x00, 0x01, 0x21, 0xa1]
        } else {
            &[0x01]
        };
        for &fcsr in states {
            for &a in &values {
                for &b in seconds {
                    let interpreted = run(op, fcsr, (a, b), false);
                    let jitted = run(op, fcsr, (a, b), true);
                    assert_eq!(
                        interpreted, jitted,
                        "{op:?} on {a:#x}, {b:#x} with fcsr {fcsr:#x}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 40_000, "compared only {compared} cases");
}

/// Random loops of compiled ops, run on the machine directly under both
/// tiers in slices of several sizes: every register, the data and the
/// instruction count must come out the same. What it aims at: direct links
/// and a block's jump to its own start (with the block's registers kept in
/// host registers, or, with more registers than fit, reloaded), a `jalr`
/// through the jump cache to a compiled block, `jal`
/// writing a register the loop reads, the budget cutting linked blocks,
/// and loads and stores that miss (misaligned) in the middle of a block.
mod random_loops {
    use super::common::{add, addi, branch, Program, Rig, CODE, DATA};
    use proptest::prelude::*;
    use sim::emu::{
        BranchOp, Exception, FReg, FpWidth, ImmOp, Instruction, LoadOp, Reg, RegOp, Rm, StoreOp,
    };

    /// Registers the random ops use: more than the JIT keeps in host
    /// registers (7), so some blocks fit and some do not; `ra` is also
    /// written by the `jal`.
    const POOL: [u8; 12] = [0, 1, 2, 5, 6, 7, 10, 11, 12, 13, 18, 19];
    /// Loop counters and the data pointer, which the random ops leave alone.
    const OUTER: Reg = Reg(25);
    const INNER: Reg = Reg(26);
    const BASE: Reg = Reg(27);
    /// Holds `CODE`, for the `jalr`.
    const TOP: Reg = Reg(24);

    /// xorshift64: the program from one seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn reg(&mut self) -> Reg {
            Reg(POOL[self.below(POOL.len() as u64) as usize])
        }

        /// A destination: never x0 (that is a `nop`, compiled too, but
        /// rarely worth a draw).
        fn dest(&mut self) -> Reg {
            Reg(POOL[1 + self.below(POOL.len() as u64 - 1) as usize])
        }
    }

    fn op(rng: &mut Rng) -> Instruction {
        // Every kind the JIT has a template for (jit/x86_64.rs, `compiles`).
        const REG_OPS: [RegOp; 30] = [
            RegOp::Add,
            RegOp::Sub,
            RegOp::Sll,
            RegOp::Slt,
            RegOp::Sltu,
            RegOp::Xor,
            RegOp::Srl,
            RegOp::Sra,
            RegOp::Or,
            RegOp::And,
            RegOp::Mul,
            RegOp::Mulh,
            RegOp::Mulhu,
            RegOp::Div,
            RegOp::Divu,
            RegOp::Rem,
            RegOp::Remu,
            RegOp::Addw,
            RegOp::Subw,
            RegOp::Sllw,
            RegOp::Srlw,
            RegOp::Sraw,
            RegOp::Mulw,
            RegOp::Divw,
            RegOp::Divuw,
            RegOp::Remw,
            RegOp::Remuw,
            RegOp::Sh1add,
            RegOp::Sh2add,
            RegOp::Sh3add,
        ];
        const IMM_OPS: [ImmOp; 13] = [
            ImmOp::Addi,
            ImmOp::Slti,
            ImmOp::Sltiu,
            ImmOp::Xori,
            ImmOp::Ori,
            ImmOp::Andi,
            ImmOp::Slli,
            ImmOp::Srli,
            ImmOp::Srai,
            ImmOp::Addiw,
            ImmOp::Slliw,
            ImmOp::Srliw,
            ImmOp::Sraiw,
        ];
        const LOADS: [LoadOp; 5] = [LoadOp::Lb, LoadOp::Lhu, LoadOp::Lw, LoadOp::Ld, LoadOp::Lbu];
        const STORES: [StoreOp; 4] = [StoreOp::Sb, StoreOp::Sh, StoreOp::Sw, StoreOp::Sd];
        // Mostly aligned; now and then misaligned (the slow path).
        let offset = |rng: &mut Rng| (rng.below(64) * 8 + u64::from(rng.below(8) == 0)) as i64;
        match rng.below(4) {
            0 => {
                // The destination often one of the sources: the JIT
                // computes into rd's host register, and must not lose a
                // source it still needs (rd = rs2 of a `sub`, say).
                let rd = rng.dest();
                let (rs1, rs2) = match rng.below(4) {
                    0 => (rd, rng.reg()),
                    1 => (rng.reg(), rd),
                    _ => (rng.reg(), rng.reg()),
                };
                Instruction::Op {
                    op: REG_OPS[rng.below(REG_OPS.len() as u64) as usize],
                    rd,
                    rs1,
                    rs2,
                }
            }
            1 => {
                let op = IMM_OPS[rng.below(IMM_OPS.len() as u64) as usize];
                let imm = match op {
                    ImmOp::Slli | ImmOp::Srli | ImmOp::Srai => rng.below(64) as i64,
                    ImmOp::Slliw | ImmOp::Srliw | ImmOp::Sraiw => rng.below(32) as i64,
                    // `sext.w`, which has a template of its own.
                    ImmOp::Addiw if rng.below(4) == 0 => 0,
                    _ => rng.below(4096) as i64 - 2048,
                };
                Instruction::OpImm {
                    op,
                    rd: rng.dest(),
                    rs1: rng.reg(),
                    imm,
                }
            }
            // Now and then a load from page 0, which is not mapped: the
            // program ends in a page fault there, and rd (which the block
            // may not have used before) must keep its old value.
            2 if rng.below(16) == 0 => Instruction::Load {
                op: LOADS[rng.below(5) as usize],
                rd: rng.dest(),
                rs1: Reg::ZERO,
                offset: 8,
            },
            2 => Instruction::Load {
                op: LOADS[rng.below(5) as usize],
                rd: rng.dest(),
                rs1: BASE,
                offset: offset(rng),
            },
            _ => Instruction::Store {
                op: STORES[rng.below(4) as usize],
                rs1: BASE,
                rs2: rng.reg(),
                offset: offset(rng),
            },
        }
    }

    /// Floating-point registers the random ops use.
    const FP_POOL: u8 = 6;

    /// A random floating-point instruction (jit/x86_64.rs compiles the
    /// double-precision ones most code runs, for the case of
    /// nearest-even rounding with NX accrued and ordinary operands, and
    /// leaves everything else to the interpreter): mostly doubles in the
    /// dynamic mode, now and then a single or a static mode; loads and
    /// stores off `BASE`.
    fn fp_op(rng: &mut Rng) -> Instruction {
        let f = |rng: &mut Rng| FReg(rng.below(u64::from(FP_POOL)) as u8);
        let width = if rng.below(8) == 0 {
            FpWidth::Single
        } else {
            FpWidth::Double
        };
        let rm = [Rm::Dyn, Rm::Dyn, Rm::Dyn, Rm::Rne, Rm::Rtz, Rm::Rup][rng.below(6) as usize];
        let offset = (rng.below(64) * 8 + u64::from(rng.below(8) == 0)) as i64;
        match rng.below(6) {
            0 => Instruction::FpLoad {
                width,
                rd: f(rng),
                rs1: BASE,
                offset,
            },
            1 => Instruction::FpStore {
                width,
                rs1: BASE,
                rs2: f(rng),
                offset,
            },
            _ => {
                let regs = [f(rng), f(rng), f(rng), f(rng)];
                let all = sim::emu::fp_instructions(width, rm, regs, [rng.dest(), rng.reg()]);
                // Not the loads and stores, whose base this list makes
                // an arbitrary register.
                let others: Vec<_> = all
                    .into_iter()
                    .filter(|i| {
                        !matches!(i, Instruction::FpLoad { .. } | Instruction::FpStore { .. })
                    })
                    .collect();
                others[rng.below(others.len() as u64) as usize]
            }
        }
    }

    /// Doubles the floating-point registers start with: ordinary ones,
    /// and the edges the JIT's checks send to the interpreter (zeros, a
    /// subnormal, the largest finite, an infinity, a NaN, a value near
    /// overflow when squared, one near underflow).
    const FP_VALUES: [f64; 12] = [
        1.5,
        -2.25,
        3.0e10,
        0.1,
        0.0,
        -0.0,
        5e-324,
        f64::MAX,
        f64::INFINITY,
        f64::NAN,
        1e300,
        1e-300,
    ];

    /// A 64-bit constant built in one register, as compilers do (`lui`,
    /// then shifts and adds on the same register): the block decoder folds
    /// such runs into one op (block.rs, `fold_constants`).
    fn constant(p: &mut Program, rng: &mut Rng) {
        let t = rng.dest();
        p.push(Instruction::Lui {
            rd: t,
            imm: (rng.below(1 << 20) as i64 - (1 << 19)) << 12,
        });
        for _ in 0..1 + rng.below(5) {
            let (op, imm) = match rng.below(4) {
                0 => (ImmOp::Addiw, rng.below(4096) as i64 - 2048),
                1 => (ImmOp::Slli, rng.below(20) as i64),
                2 => (ImmOp::Addi, rng.below(4096) as i64 - 2048),
                _ => (ImmOp::Xori, rng.below(4096) as i64 - 2048),
            };
            p.push(Instruction::OpImm {
                op,
                rd: t,
                rs1: t,
                imm,
            });
        }
    }

    /// A load from an address the block computes (`andi t, r, 0x1f8; add
    /// t, t, base; l? rd, 0(t)`, an index into the data): the JIT's loads
    /// off a computed base guess their TLB addend (jit/x86_64.rs,
    /// `Predictions`), those off `BASE` do not.
    fn computed_load(p: &mut Program, rng: &mut Rng) {
        let t = rng.dest();
        p.push(Instruction::OpImm {
            op: ImmOp::Andi,
            rd: t,
            rs1: rng.reg(),
            imm: 0x1f8,
        });
        p.push(add(t, t, BASE));
        p.push(Instruction::Load {
            op: [LoadOp::Ld, LoadOp::Lw, LoadOp::Lbu][rng.below(3) as usize],
            rd: rng.dest(),
            rs1: t,
            offset: 0,
        });
    }

    /// ```text
    /// outer: li inner, 3
    /// inner: random ops; b?? r, r, over; random ops; addi inner, inner, 0
    ///  over: addi inner, inner, -1; bne inner, x0, inner
    ///        random ops; jal ra, next
    ///        (an instruction jumped over)
    /// next:  random ops; li inner, 3
    /// tight: random ops; addi inner, inner, -1; bne inner, x0, tight
    ///        addi outer, outer, -1; beq outer, x0, end
    ///        jalr x0, outer - CODE(top)
    /// end:   ebreak
    /// ```
    fn program(seed: u64) -> Program {
        let mut rng = Rng(seed | 1);
        let mut p = Program::new();
        let random_ops = |p: &mut Program, rng: &mut Rng, most: u64| {
            for _ in 0..rng.below(most) {
                if rng.below(6) == 0 {
                    constant(p, rng);
                } else if rng.below(5) == 0 {
                    computed_load(p, rng);
                } else if rng.below(3) == 0 {
                    p.push(fp_op(rng));
                } else {
                    p.push(op(rng));
                }
            }
        };
        let outer = p.here();
        p.push(addi(INNER, Reg::ZERO, 3));
        let inner = p.here();
        random_ops(&mut p, &mut rng, 12);
        // A branch over a few ops, inside the loop: both ways lead to a
        // compiled block on the page, so the conditional jump is linked.
        let mut skipped = Program::new();
        random_ops(&mut skipped, &mut rng, 4);
        // (Never empty: the branch skips at least this.)
        skipped.push(addi(INNER, INNER, 0));
        const BRANCHES: [BranchOp; 6] = [
            BranchOp::Beq,
            BranchOp::Bne,
            BranchOp::Blt,
            BranchOp::Bge,
            BranchOp::Bltu,
            BranchOp::Bgeu,
        ];
        let kind = BRANCHES[rng.below(6) as usize];
        let over = p.here() + 4 + skipped.bytes.len() as u64;
        p.push(branch(kind, rng.reg(), rng.reg(), p.here(), over));
        p.bytes.extend_from_slice(&skipped.bytes);
        p.push(addi(INNER, INNER, -1));
        p.push(branch(BranchOp::Bne, INNER, Reg::ZERO, p.here(), inner));
        random_ops(&mut p, &mut rng, 8);
        p.push(Instruction::Jal {
            rd: Reg::RA,
            offset: 8,
        });
        p.push(Instruction::Ebreak);
        random_ops(&mut p, &mut rng, 8);
        // A loop of one block (`tight`), which keeps its registers and its
        // last access's TLB entry round the loop when it uses few registers.
        p.push(addi(INNER, Reg::ZERO, 3));
        let tight = p.here();
        random_ops(&mut p, &mut rng, 6);
        p.push(addi(INNER, INNER, -1));
        p.push(branch(BranchOp::Bne, INNER, Reg::ZERO, p.here(), tight));
        p.push(addi(OUTER, OUTER, -1));
        p.push(branch(
            BranchOp::Beq,
            OUTER,
            Reg::ZERO,
            p.here(),
            p.here() + 8,
        ));
        // Back to `outer` through the jump cache.
        p.push(Instruction::Jalr {
            rd: Reg::ZERO,
            rs1: TOP,
            offset: (outer - CODE) as i64,
        });
        p.push(Instruction::Ebreak);
        p
    }

    /// Runs `program` to its end (or a fault) in slices of `quantum`
    /// instructions; the registers, pc, data, count and the exception.
    fn run(
        program: &Program,
        seed: u64,
        jit: bool,
        quantum: u64,
    ) -> (Vec<u64>, Vec<u8>, u64, String) {
        let mut rig = Rig::new(program);
        super::set_tier(&mut rig, jit);
        rig.set(OUTER, 4).set(BASE, DATA).set(TOP, CODE);
        for (i, &g) in POOL.iter().enumerate().skip(1) {
            rig.set(Reg(g), 0x0123_4567_89ab_cdef_u64.rotate_left(7 * i as u32));
        }
        // Mostly nearest-even with NX accrued (the case the JIT
        // compiles), sometimes no flags yet, or another mode in `frm`.
        rig.hart.fcsr = [0x01, 0x01, 0x01, 0x00, 0x21, 0x41][(seed % 6) as usize];
        for i in 0..usize::from(FP_POOL) {
            let value = FP_VALUES[(seed >> (4 * i)) as usize % FP_VALUES.len()];
            rig.hart.f[i] = value.to_bits();
        }
        // The programs end after a few hundred instructions; a bound keeps
        // a tier that loses a loop counter from running forever.
        let exception = loop {
            match rig.run(quantum) {
                Exception::Timer if rig.machine.instret() < 1_000_000 => continue,
                e => break e,
            }
        };
        // (A program that faults on page 0 may end before any block was
        // decoded whole.)
        let ran_to_its_end = matches!(exception, Exception::Breakpoint { .. });
        if jit && sim::emu::jit_available() && ran_to_its_end {
            assert!(rig.machine.compiled_blocks() > 0, "nothing compiled");
        }
        let mut regs = rig.hart.regs[..32].to_vec();
        regs.push(rig.hart.pc);
        regs.extend_from_slice(&rig.hart.f);
        regs.push(u64::from(rig.hart.fcsr));
        let data = rig.read(DATA, 520);
        (regs, data, rig.machine.instret(), exception.to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn random_loops_end_alike_under_both_tiers(seed in any::<u64>(), quantum in prop::sample::select(vec![1u64, 2, 5, 13, 64, 100_000])) {
            let program = program(seed);
            let interpreted = run(&program, seed, false, quantum);
            let jitted = run(&program, seed, true, quantum);
            prop_assert_eq!(&interpreted, &jitted);
            // One instruction at a time, every block is a single op: no
            // fused pairs, folded constants or links between blocks. The
            // whole blocks must end exactly as that does.
            let stepped = run(&program, seed, false, 1);
            prop_assert_eq!(&interpreted, &stepped);
        }
    }
}

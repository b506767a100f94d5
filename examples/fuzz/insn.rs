//! Target `insn`: random instruction streams, biased towards valid
//! encodings (integer, M, A, F/D, compressed, loads and stores near a data
//! segment, branches, CSR accesses, `ecall`s with random call numbers and
//! arguments), run in 1 to 3 processes over 1 or 2 VMs (sometimes under a
//! guest kernel made of the same code) under each quantum of
//! `QUANTA`, each run twice: both runs must end alike (instruction count,
//! exit code, output, every register), and the invariants must hold.
//!
//! The input is a sequence of decisions (`Source`): the program's words,
//! the data segment's bytes, the registers at start, the processes.

use sim::abi::CALLS;
use sim::kernel::Mode;
use sim::simulator::DEFAULT_QUANTUM;

use crate::guest::{self, Sandbox, DATA};
use crate::rng::{Rng, Source, INTERESTING};
use crate::{Target, Verdict};

/// The quanta every input runs under.
const QUANTA: &[u64] = &[1, 2, 3, 7, 100, DEFAULT_QUANTUM];

const DATA_BYTES: u64 = 8192;
/// Instructions per run (all processes together).
const BUDGET: u64 = 3000;
/// s0 (x8): the base register of most loads and stores.
const S0: u32 = 8;

/// Call numbers besides the ABI's: Linux's common ones, and nonsense.
const OTHER_CALLS: &[u64] = &[
    0, 17, 29, 48, 62, 66, 78, 80, 96, 98, 99, 113, 134, 135, 160, 174, 178, 215, 222, 226, 261,
    278, 399, 409, 599, 2047,
];

pub struct InsnTarget {
    sandbox: Sandbox,
    /// Runs made, and guest instructions they ran.
    runs: u64,
    instructions: u64,
}

impl InsnTarget {
    pub fn new() -> InsnTarget {
        InsnTarget {
            sandbox: Sandbox::new("insn"),
            runs: 0,
            instructions: 0,
        }
    }
}

fn r_type(op: u32, rd: u32, f3: u32, rs1: u32, rs2: u32, f7: u32) -> u32 {
    (f7 & 0x7f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 | (rd & 31) << 7 | op
}

fn i_type(op: u32, rd: u32, f3: u32, rs1: u32, imm: i32) -> u32 {
    (imm as u32 & 0xfff) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 | (rd & 31) << 7 | op
}

fn s_type(op: u32, f3: u32, rs1: u32, rs2: u32, imm: i32) -> u32 {
    let imm = imm as u32;
    (imm >> 5 & 0x7f) << 25
        | (rs2 & 31) << 20
        | (rs1 & 31) << 15
        | (f3 & 7) << 12
        | (imm & 31) << 7
        | op
}

fn b_type(f3: u32, rs1: u32, rs2: u32, offset: i32) -> u32 {
    let o = offset as u32;
    (o >> 12 & 1) << 31
        | (o >> 5 & 0x3f) << 25
        | (rs2 & 31) << 20
        | (rs1 & 31) << 15
        | (f3 & 7) << 12
        | (o >> 1 & 0xf) << 8
        | (o >> 11 & 1) << 7
        | 0x63
}

fn j_type(rd: u32, offset: i32) -> u32 {
    let o = offset as u32;
    (o >> 20 & 1) << 31
        | (o >> 1 & 0x3ff) << 21
        | (o >> 11 & 1) << 20
        | (o >> 12 & 0xff) << 12
        | (rd & 31) << 7
        | 0x6f
}

const ECALL: u32 = 0x73;

/// An offset from s0 that mostly stays inside the data segment.
fn offset(src: &mut Source) -> i32 {
    if src.u8() < 220 {
        (src.u16() % 2048) as i32 & !7
    } else {
        imm12(src)
    }
}

/// A small signed immediate, often near zero, sometimes at the edges.
fn imm12(src: &mut Source) -> i32 {
    match src.below(4) {
        0 => i32::from(src.u8() as i8),
        1 => *src.pick(&[0, 1, -1, 8, -8, 2047, -2048, 4095 - 4096, 7, 3]),
        _ => (src.u16() & 0xfff) as i32 - 2048,
    }
}

/// Appends one instruction (or a short sequence) chosen by `src`.
fn instruction(src: &mut Source, code: &mut Vec<u8>) {
    let reg = |src: &mut Source| u32::from(src.u8() & 31);
    let word = match src.below(16) {
        0 | 1 => {
            // Integer ALU, M: OP, OP-32, OP-IMM, OP-IMM-32, LUI, AUIPC.
            let op = *src.pick(&[0x33, 0x3b, 0x13, 0x1b, 0x37, 0x17]);
            let f3 = u32::from(src.u8() % 8);
            let f7 = match src.below(8) {
                0 => u32::from(src.u8()),
                1 | 2 if f3 == 0 || f3 == 5 => 0x20,
                3 | 4 => 0x01,
                _ => 0,
            };
            r_type(op, reg(src), f3, reg(src), reg(src), f7)
        }
        2 | 3 => {
            let f3 = u32::from(src.u8() % 8);
            i_type(
                0x03,
                reg(src),
                f3,
                if src.u8() < 200 { S0 } else { reg(src) },
                offset(src),
            )
        }
        4 | 5 => {
            let f3 = u32::from(src.u8() % 5);
            s_type(
                0x23,
                f3,
                if src.u8() < 200 { S0 } else { reg(src) },
                reg(src),
                offset(src),
            )
        }
        6 => {
            // F/D: OP-FP with a real funct7 mostly, loads/stores, FMA.
            match src.below(4) {
                0 => i_type(0x07, reg(src), *src.pick(&[2, 3]), S0, offset(src)),
                1 => s_type(0x27, *src.pick(&[2, 3]), S0, reg(src), offset(src)),
                2 => {
                    let f7 = *src.pick(&[
                        0x00, 0x01, 0x04, 0x05, 0x08, 0x09, 0x0c, 0x0d, 0x2c, 0x2d, 0x10, 0x11,
                        0x14, 0x15, 0x20, 0x21, 0x50, 0x51, 0x60, 0x61, 0x68, 0x69, 0x70, 0x71,
                        0x78, 0x79,
                    ]);
                    r_type(
                        0x53,
                        reg(src),
                        u32::from(src.u8()),
                        reg(src),
                        reg(src) % 4,
                        f7,
                    )
                }
                _ => {
                    let op = *src.pick(&[0x43, 0x47, 0x4b, 0x4f]);
                    r_type(
                        op,
                        reg(src),
                        u32::from(src.u8()),
                        reg(src),
                        reg(src),
                        u32::from(src.u8()),
                    ) | reg(src) << 27
                }
            }
        }
        7 => {
            let f3 = *src.pick(&[0, 1, 4, 5, 6, 7, 2, 3]);
            let offset = (i32::from(src.u8() as i8) & !1) * 2;
            b_type(f3, reg(src), reg(src), offset)
        }
        8 => match src.below(8) {
            0 => i_type(0x67, reg(src), 0, reg(src), imm12(src)),
            _ => j_type(reg(src) % 2, (i32::from(src.u8() as i8) & !1) * 2),
        },
        9 | 10 => {
            // An ecall: a7 = a call number, sometimes a0 too.
            let number = if src.u8() < 200 {
                src.pick(CALLS).number
            } else {
                *src.pick(OTHER_CALLS)
            };
            push32(code, i_type(0x13, 17, 0, 0, number as i32));
            if src.u8() < 100 {
                push32(code, i_type(0x13, 10, 0, 0, imm12(src)));
            }
            ECALL
        }
        11 => {
            // Compressed: two random halfwords of the C quadrants.
            for _ in 0..2 {
                let half = (src.u16() & !3) | u16::from(src.u8() % 3);
                code.extend_from_slice(&half.to_le_bytes());
            }
            return;
        }
        12 => {
            // A: LR/SC/AMO on the data segment.
            let f5 = u32::from(src.u8() % 32);
            r_type(
                0x2f,
                reg(src),
                *src.pick(&[2, 3]),
                S0,
                reg(src),
                f5 << 2 | u32::from(src.u8() % 4),
            )
        }
        13 => {
            // Zicsr: fflags, frm, fcsr, the counters, or any CSR.
            let any = u32::from(src.u16());
            let csr = *src.pick(&[1, 2, 3, 0xc00, 0xc01, 0xc02, 0x300, 0x180, any]);
            (csr & 0xfff) << 20
                | reg(src) << 15
                | u32::from(src.u8() % 8) << 12
                | reg(src) << 7
                | 0x73
        }
        14 => *src.pick(&[
            0x0000_000f,
            0x0000_100f,
            0x0010_0073,
            0x1050_0073,
            0x3020_0073,
            0,
        ]),
        _ => src.u32(),
    };
    push32(code, word);
}

fn push32(code: &mut Vec<u8>, word: u32) {
    code.extend_from_slice(&word.to_le_bytes());
}

/// A register's value at start.
fn start_value(src: &mut Source) -> u64 {
    match src.below(4) {
        0 => *src.pick(INTERESTING),
        1 => DATA + src.below(DATA_BYTES),
        2 => u64::from(src.u8()),
        _ => src.u64(),
    }
}

/// What a run ended with, compared between the two runs of one quantum.
#[derive(PartialEq, Eq, Debug)]
struct Ending {
    exit_code: i32,
    instructions: u64,
    limit_reached: bool,
    output: Vec<Vec<u8>>,
    registers: Vec<Option<String>>,
}

struct Plan {
    elf: Vec<u8>,
    processes: Vec<(usize, Mode, Option<usize>)>,
    registers: Vec<(usize, u64)>,
}

fn plan(input: &[u8]) -> Plan {
    let mut src = Source::new(input);
    let vms = 1 + src.below(2) as usize;
    let count = 1 + src.below(3) as usize;
    let under_kernel = count >= 2 && src.u8() < 64;
    let processes = (0..count)
        .map(|i| match (i, under_kernel) {
            (0, true) => (0, Mode::Kernel, None),
            (1, true) => (0, Mode::User, Some(0)),
            _ => (i % vms, Mode::User, None),
        })
        .collect();
    let mut registers = vec![(S0 as usize, DATA + (src.below(DATA_BYTES / 2) & !7))];
    for reg in (1..32).filter(|&r| r != 2 && r != S0 as usize) {
        if src.u8() < 128 {
            registers.push((reg, start_value(&mut src)));
        }
    }
    let data: Vec<u8> = (0..256).map(|_| src.u8()).collect();
    let mut code = Vec::new();
    let length = 8 + src.below(120);
    for _ in 0..length {
        instruction(&mut src, &mut code);
    }
    // The end: exit(0) if the stream got this far.
    push32(&mut code, i_type(0x13, 17, 0, 0, 93));
    push32(&mut code, i_type(0x13, 10, 0, 0, 0));
    push32(&mut code, ECALL);
    Plan {
        elf: guest::elf_of(code, data, DATA_BYTES),
        processes,
        registers,
    }
}

fn run(sandbox: &Sandbox, plan: &Plan, quantum: u64) -> Result<Ending, String> {
    let mut sim = guest::builder(&sandbox.root, quantum, BUDGET)
        .try_build()
        .map_err(|e| format!("cannot build a simulator: {e}"))?;
    let mut pids = Vec::new();
    for &(vm, mode, supervisor) in &plan.processes {
        while sim.vm_count() <= vm {
            sim.try_add_vm()?;
        }
        let supervisor = supervisor.and_then(|i| pids.get(i).map(|&(_, pid)| pid));
        let pid = sim
            .load_elf_in(vm, &plan.elf, &["insn".to_string()], mode, supervisor)
            .map_err(|e| format!("the generated ELF was refused: {e}"))?;
        for &(reg, value) in &plan.registers {
            sim.set_register(vm, pid, reg, value);
        }
        pids.push((vm, pid));
    }
    let outcome = guest::finish(&mut sim)?;
    Ok(Ending {
        exit_code: outcome.exit_code,
        instructions: outcome.instructions,
        limit_reached: outcome.limit_reached,
        output: (0..sim.vm_count())
            .flat_map(|vm| [sim.vm_stdout(vm).to_vec(), sim.vm_stderr(vm).to_vec()])
            .collect(),
        registers: pids
            .iter()
            .map(|&(vm, pid)| sim.dump_registers(vm, pid))
            .collect(),
    })
}

impl Target for InsnTarget {
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        let n = 64 + rng.below(1024) as usize;
        rng.bytes(n)
    }

    fn execute(&mut self, input: &[u8]) -> Verdict {
        let plan = plan(input);
        for &quantum in QUANTA {
            let first = match run(&self.sandbox, &plan, quantum) {
                Ok(e) => e,
                Err(e) => return Verdict::Failure(format!("quantum {quantum}: {e}")),
            };
            let second = match run(&self.sandbox, &plan, quantum) {
                Ok(e) => e,
                Err(e) => return Verdict::Failure(format!("quantum {quantum}: {e}")),
            };
            self.runs += 2;
            self.instructions += first.instructions + second.instructions;
            if first != second {
                return Verdict::Failure(format!(
                    "quantum {quantum}: two runs differ:\n{first:?}\n{second:?}"
                ));
            }
        }
        Verdict::Ok
    }

    fn reached(&self) -> String {
        format!(
            "{} runs, {} guest instructions",
            self.runs, self.instructions
        )
    }
}

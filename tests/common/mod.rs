//! Shared helpers of the integration tests: tiny programs built from typed
//! instructions, mapped by hand into a fresh `Machine` + `PageTable` and run
//! with a step budget; ELF images built with the toolchain's ELF writer.
//!
//! Memory map of a test rig:
//!
//! ```text
//! CODE  0x1000   program, user r-x (CODE_PAGES pages)
//! DATA  0x10000  two user rw- pages (DATA_PAGES), zeroed
//! RO    0x20000  one user r-- page
//! ```
#![allow(dead_code)]

use sim::emu::{
    encode, BranchOp, Exception, Frame, Hart, ImmOp, Instruction, Machine, PageTable, PteFlags,
    Reg, RegOp, VirtPage, PAGE_SIZE,
};
use sim::toolchain::elf::{write_executable, Segment, SegmentFlags};

pub const CODE: u64 = 0x1000;
pub const CODE_PAGES: u64 = 4;
pub const DATA: u64 = 0x10000;
pub const DATA_PAGES: u64 = 2;
pub const RO: u64 = 0x20000;

/// A context id for the rig's single context.
pub const CONTEXT: u64 = 1;

/// A program: instructions and raw halfwords (compressed instructions),
/// in order.
#[derive(Default, Clone)]
pub struct Program {
    pub bytes: Vec<u8>,
}

impl Program {
    pub fn new() -> Program {
        Program::default()
    }

    /// A program of 32-bit instructions.
    pub fn of(insts: &[Instruction]) -> Program {
        let mut p = Program::new();
        for i in insts {
            p.push(*i);
        }
        p
    }

    /// Appends a 32-bit instruction.
    pub fn push(&mut self, inst: Instruction) -> &mut Program {
        let word = encode(&inst).unwrap_or_else(|e| panic!("cannot encode {inst:?}: {e:?}"));
        self.bytes.extend_from_slice(&word.to_le_bytes());
        self
    }

    /// Appends a raw 32-bit word (e.g. an illegal one).
    pub fn word(&mut self, word: u32) -> &mut Program {
        self.bytes.extend_from_slice(&word.to_le_bytes());
        self
    }

    /// Appends a compressed instruction's halfword.
    pub fn half(&mut self, half: u16) -> &mut Program {
        self.bytes.extend_from_slice(&half.to_le_bytes());
        self
    }

    /// Address of the next instruction appended (programs start at `CODE`).
    pub fn here(&self) -> u64 {
        CODE + self.bytes.len() as u64
    }
}

/// A machine with one hand-mapped context.
pub struct Rig {
    pub machine: Machine,
    pub hart: Hart,
    pub page_table: PageTable,
}

impl Rig {
    /// Maps `program` at `CODE` (r-x), the data pages (rw-) and the
    /// read-only page, and points the pc at `CODE`.
    pub fn new(program: &Program) -> Rig {
        Rig::with_code_permissions(program, PteFlags::USER_RX)
    }

    /// As `new`, with the code pages mapped with `permissions`
    /// (`USER_RX | WRITE` for self-modifying code).
    pub fn with_code_permissions(program: &Program, permissions: PteFlags) -> Rig {
        assert!(
            program.bytes.len() as u64 <= CODE_PAGES * PAGE_SIZE,
            "Rig::new: program too long"
        );
        let mut rig = Rig {
            machine: Machine::new(4),
            hart: Hart::default(),
            page_table: PageTable::new(),
        };
        for i in 0..CODE_PAGES {
            rig.map(CODE + i * PAGE_SIZE, permissions);
        }
        for i in 0..DATA_PAGES {
            rig.map(DATA + i * PAGE_SIZE, PteFlags::USER_RW);
        }
        rig.map(RO, PteFlags::USER_R);
        rig.write(CODE, &program.bytes);
        rig.hart.pc = CODE;
        rig
    }

    /// Maps the page at `vaddr` to a fresh zeroed frame.
    pub fn map(&mut self, vaddr: u64, permissions: PteFlags) -> Frame {
        let frame = self.machine.memory_mut().alloc().expect("Rig::map: frame");
        self.page_table
            .map(VirtPage::containing(vaddr), frame, permissions);
        frame
    }

    fn host_byte(&mut self, vaddr: u64) -> &mut u8 {
        let pte = self
            .page_table
            .get(VirtPage::containing(vaddr))
            .unwrap_or_else(|| panic!("Rig: {vaddr:#x} not mapped"));
        &mut self.machine.memory_mut().frame_bytes_mut(pte.frame)[(vaddr % PAGE_SIZE) as usize]
    }

    /// Writes bytes behind the machine's back (setup only, before running).
    pub fn write(&mut self, vaddr: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            *self.host_byte(vaddr + i as u64) = b;
        }
    }

    pub fn write_u64(&mut self, vaddr: u64, value: u64) {
        self.write(vaddr, &value.to_le_bytes());
    }

    pub fn read(&mut self, vaddr: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| *self.host_byte(vaddr + i as u64))
            .collect()
    }

    pub fn read_u64(&mut self, vaddr: u64) -> u64 {
        u64::from_le_bytes(self.read(vaddr, 8).try_into().unwrap())
    }

    pub fn reg(&self, r: Reg) -> u64 {
        self.hart.reg(r.index())
    }

    pub fn set(&mut self, r: Reg, value: u64) -> &mut Rig {
        self.hart.set_reg(r.index(), value);
        self
    }

    /// Runs for at most `budget` more instructions.
    pub fn run(&mut self, budget: u64) -> Exception {
        let stop_at = self.machine.instret() + budget;
        self.machine
            .run(&mut self.hart, &mut self.page_table, CONTEXT, stop_at)
    }

    /// Runs until the program's closing `ebreak` and asserts it got there.
    pub fn run_to_ebreak(&mut self) {
        let e = self.run(100_000);
        assert!(
            matches!(e, Exception::Breakpoint { .. }),
            "expected the closing ebreak, got {e} at pc {:#x}",
            self.hart.pc
        );
    }
}

/// Runs `insts` followed by `ebreak` with the registers preset to `inputs`
/// and returns the rig.
pub fn exec(insts: &[Instruction], inputs: &[(Reg, u64)]) -> Rig {
    let mut program = Program::of(insts);
    program.push(Instruction::Ebreak);
    let mut rig = Rig::new(&program);
    for &(r, v) in inputs {
        rig.set(r, v);
    }
    rig.run_to_ebreak();
    rig
}

pub fn addi(rd: Reg, rs1: Reg, imm: i64) -> Instruction {
    Instruction::OpImm {
        op: ImmOp::Addi,
        rd,
        rs1,
        imm,
    }
}

pub fn andi(rd: Reg, rs1: Reg, imm: i64) -> Instruction {
    Instruction::OpImm {
        op: ImmOp::Andi,
        rd,
        rs1,
        imm,
    }
}

pub fn add(rd: Reg, rs1: Reg, rs2: Reg) -> Instruction {
    Instruction::Op {
        op: RegOp::Add,
        rd,
        rs1,
        rs2,
    }
}

/// A conditional branch at `from` to `to`.
pub fn branch(op: BranchOp, rs1: Reg, rs2: Reg, from: u64, to: u64) -> Instruction {
    Instruction::Branch {
        op,
        rs1,
        rs2,
        offset: to as i64 - from as i64,
    }
}

/// `li rd, imm` for a 12-bit immediate.
pub fn li(rd: Reg, imm: i64) -> Instruction {
    addi(rd, Reg::ZERO, imm)
}

/// `li rd, value` for any 64-bit value, as `lui`/`addi`/`slli` steps
/// (what the assembler's `li` expands to, simplified).
pub fn li64(rd: Reg, value: u64) -> Vec<Instruction> {
    let v = value as i64;
    if (-2048..2048).contains(&v) {
        return vec![li(rd, v)];
    }
    if v == i64::from(v as i32) {
        let lo = (v << 52) >> 52;
        let hi = v.wrapping_sub(lo);
        let mut out = vec![Instruction::Lui { rd, imm: hi }];
        if lo != 0 {
            out.push(Instruction::OpImm {
                op: ImmOp::Addiw,
                rd,
                rs1: rd,
                imm: lo,
            });
        }
        return out;
    }
    // Upper part, shifted left by 12, plus the low 12 bits.
    let lo = (v << 52) >> 52;
    let hi = (v.wrapping_sub(lo)) >> 12;
    let mut out = li64(rd, hi as u64);
    out.push(Instruction::OpImm {
        op: ImmOp::Slli,
        rd,
        rs1: rd,
        imm: 12,
    });
    if lo != 0 {
        out.push(addi(rd, rd, lo));
    }
    out
}

/// `ecall` with `a7 = number` (arguments set by the caller).
pub fn syscall(number: i64) -> Vec<Instruction> {
    let mut out = li64(Reg::A7, number as u64);
    out.push(Instruction::Ecall);
    out
}

/// An ELF image with one code segment at `CODE` holding `program` (entry
/// there too) and an optional data segment `(vaddr, bytes, mem_size)`.
pub fn elf_of(program: &Program, data: Option<(u64, Vec<u8>, u64)>) -> Vec<u8> {
    let mut segments = vec![Segment {
        vaddr: CODE,
        data: program.bytes.clone(),
        mem_size: program.bytes.len() as u64,
        flags: SegmentFlags::CODE,
    }];
    if let Some((vaddr, bytes, mem_size)) = data {
        segments.push(Segment {
            vaddr,
            data: bytes,
            mem_size,
            flags: SegmentFlags::DATA,
        });
    }
    write_executable(CODE, &segments, &[])
}

/// The tools the differential tests need: `Some(path)` or, when missing,
/// `None` after printing `SKIP` (and panicking when `CI=true`).
pub fn tool(name: &str) -> Option<String> {
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name.to_string());
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} not found, and CI=true: install it (see .ci/run)");
    }
    eprintln!("SKIP: {name} not found");
    None
}

/// Where `writer_elf` keeps its message.
pub const WRITER_DATA: u64 = 0x10000;

/// A loop of `count` iterations, each spinning `spin` times and then
/// writing `"<tag><digit>\n"` (digit = iteration number mod 10) to `fd`; at
/// the end `exit(exit_code)`. Position-independent; data at `WRITER_DATA`.
///
/// ```text
///         li s0, 0                ; i
///         li s1, count
///         li a1, WRITER_DATA      ; buffer: tag, digit, '\n'
///   loop: li t1, spin
///   spin: addi t1, t1, -1
///         bnez t1, spin           ; (skipped when spin == 0)
///         li t2, 10
///         remu t0, s0, t2
///         addi t0, t0, '0'
///         sb t0, 1(a1)
///         li a0, fd
///         li a2, 3
///         li a7, 64               ; write
///         ecall
///         addi s0, s0, 1
///         blt s0, s1, loop
///         li a0, exit_code
///         li a7, 93               ; exit
///         ecall
/// ```
pub fn writer_elf(tag: u8, fd: i64, count: i64, spin: i64, exit_code: i64) -> Vec<u8> {
    use sim::emu::{BranchOp, RegOp, StoreOp};
    let (s0, s1, t0, t1, t2) = (Reg::S0, Reg::S1, Reg::T0, Reg::T1, Reg::T2);
    let mut p = Program::new();
    p.push(li(s0, 0)).push(li(s1, count));
    for i in li64(Reg::A1, WRITER_DATA) {
        p.push(i);
    }
    let top = p.here();
    if spin > 0 {
        p.push(li(t1, spin))
            .push(addi(t1, t1, -1))
            .push(Instruction::Branch {
                op: BranchOp::Bne,
                rs1: t1,
                rs2: Reg::ZERO,
                offset: -4,
            });
    }
    p.push(li(t2, 10))
        .push(Instruction::Op {
            op: RegOp::Remu,
            rd: t0,
            rs1: s0,
            rs2: t2,
        })
        .push(addi(t0, t0, i64::from(b'0')))
        .push(Instruction::Store {
            op: StoreOp::Sb,
            rs1: Reg::A1,
            rs2: t0,
            offset: 1,
        })
        .push(li(Reg::A0, fd))
        .push(li(Reg::A2, 3));
    for i in syscall(64) {
        p.push(i);
    }
    p.push(addi(s0, s0, 1));
    let back = top as i64 - p.here() as i64;
    p.push(Instruction::Branch {
        op: BranchOp::Blt,
        rs1: s0,
        rs2: s1,
        offset: back,
    });
    p.push(li(Reg::A0, exit_code));
    for i in syscall(93) {
        p.push(i);
    }
    elf_of(&p, Some((WRITER_DATA, vec![tag, b'?', b'\n'], 3)))
}

/// What `writer_elf(tag, _, count, ..)` writes.
pub fn writer_output(tag: u8, count: i64) -> Vec<u8> {
    (0..count)
        .flat_map(|i| [tag, b'0' + (i % 10) as u8, b'\n'])
        .collect()
}

/// A simulator with captured output, built by `configure`, running the
/// given ELF images (each named `p<i>`).
pub fn simulate(
    elfs: &[&[u8]],
    configure: impl FnOnce(sim::SimulatorBuilder) -> sim::SimulatorBuilder,
) -> (sim::Simulator, sim::RunOutcome) {
    let mut s = configure(sim::Simulator::builder().capture_output(true)).build();
    for (i, elf) in elfs.iter().enumerate() {
        s.load_elf(elf, &[format!("p{i}")])
            .unwrap_or_else(|e| panic!("load p{i}: {e}"));
    }
    let outcome = s.run();
    (s, outcome)
}

/// The repository's root directory.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.c` file under `dir`, recursively, appended to `out`.
pub fn c_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            c_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "c") {
            out.push(path);
        }
    }
}

/// The value after `// <key>:` in a program's header comment.
pub fn header(path: &std::path::Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let marker = format!("// {key}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&marker).map(|v| v.trim().to_string()))
}

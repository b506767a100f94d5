//! Target `asm`: assembly sources to the assembler
//! (`toolchain::asm::assemble`), which must answer with an error or an
//! ELF; an ELF runs, bounded.
//!
//! Half the inputs are generated line by line (instructions with
//! registers, immediates at the edges, labels, `%hi`/`%lo`, pseudo
//! instructions, directives with odd sizes), half are mutations of the
//! repository's `.s` files.

use sim::toolchain::asm::assemble;

use crate::guest::{self, SourceTarget};
use crate::rng::{Rng, INTERESTING};

const MNEMONICS: &[&str] = &[
    "add",
    "addi",
    "addiw",
    "sub",
    "lui",
    "auipc",
    "li",
    "la",
    "mv",
    "ld",
    "sd",
    "lw",
    "sw",
    "lb",
    "sb",
    "lbu",
    "lhu",
    "beq",
    "bne",
    "blt",
    "bgeu",
    "bnez",
    "beqz",
    "j",
    "jal",
    "jalr",
    "call",
    "ret",
    "tail",
    "ecall",
    "ebreak",
    "mul",
    "div",
    "remu",
    "slli",
    "srai",
    "sltiu",
    "lr.d",
    "sc.d",
    "amoadd.w",
    "amoswap.d",
    "fld",
    "fsd",
    "fadd.d",
    "fmul.s",
    "fcvt.d.l",
    "fmv.x.d",
    "fsqrt.d",
    "csrr",
    "csrw",
    "csrrs",
    "fence",
    "fence.i",
    "nop",
    "not",
    "neg",
    "seqz",
    "c.addi",
    "c.li",
    "c.j",
    "c.lw",
    "xori",
    "sraw",
];

const DIRECTIVES: &[&str] = &[
    ".text",
    ".data",
    ".section .rodata",
    ".globl _start",
    ".align 3",
    ".align 63",
    ".p2align 2",
    ".byte 1, 255, 256",
    ".half 65536",
    ".word -1",
    ".dword 18446744073709551615",
    ".quad 1",
    ".zero 4096",
    ".zero 99999999999",
    ".space 17",
    ".string \"a\\n\"",
    ".asciz \"\"",
    ".ascii \"x",
    ".equ K, 4096",
    ".set K, -1",
    ".option norvc",
    ".option push",
    ".option pop",
    ".balign 4096",
];

const REGISTERS: &[&str] = &[
    "zero", "ra", "sp", "gp", "tp", "t0", "a0", "a1", "a7", "s0", "s11", "x31", "x32", "ft0",
    "fa0", "f31", "pc", "foo",
];

const TOKENS: &[&str] = &[
    ",",
    "(",
    ")",
    "%hi(",
    "%lo(",
    "%pcrel_hi(",
    "_start",
    "1f",
    "1b",
    "0x",
    "-",
    "+",
    ":",
    "#",
    "\"",
    "\\",
    ".text",
    ".data",
    "ecall",
    "li",
    "a0",
    "x0",
];

/// The `asm` target.
pub fn target() -> SourceTarget {
    let repo = guest::repo();
    let mut paths = guest::files(&repo.join("programs"), &["s", "S"]);
    paths.push(repo.join("tests/c/start.S"));
    SourceTarget::new(
        "asm",
        guest::read_all(&paths),
        TOKENS,
        generate_program,
        build,
        20_000,
    )
}

fn build(source: &str) -> Option<Vec<u8>> {
    assemble(source, "fuzz.s").ok()
}

fn operand(rng: &mut Rng) -> String {
    match rng.below(9) {
        0..=2 => rng.pick(REGISTERS).to_string(),
        3 => format!("{}", *rng.pick(INTERESTING) as i64),
        4 => format!("{:#x}", rng.pick(INTERESTING)),
        5 => format!("{}({})", rng.below(4096) as i64 - 2048, rng.pick(REGISTERS)),
        6 => format!(
            "%{}(l{})",
            rng.pick(&["hi", "lo", "pcrel_hi", "pcrel_lo"]),
            rng.below(8)
        ),
        7 => format!("l{}", rng.below(8)),
        _ => format!("{}", rng.below(64)),
    }
}

fn generate_program(rng: &mut Rng) -> String {
    let mut out = String::from(".text\n.globl _start\n_start:\n");
    for _ in 0..=rng.below(40) {
        match rng.below(10) {
            0 => out.push_str(&format!("l{}:\n", rng.below(8))),
            1 => out.push_str(&format!("{}\n", rng.pick(DIRECTIVES))),
            _ => {
                let n = rng.below(4) as usize;
                let ops: Vec<String> = (0..n).map(|_| operand(rng)).collect();
                out.push_str(&format!("  {} {}\n", rng.pick(MNEMONICS), ops.join(", ")));
            }
        }
    }
    out.push_str("  li a7, 93\n  ecall\n");
    out
}

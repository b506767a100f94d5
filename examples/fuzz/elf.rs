//! Target `elf`: mutated ELF files to `Simulator::load_elf` (user and
//! kernel mode), then a bounded run.
//!
//! The seeds are ELFs sim's own toolchain makes (C* programs, assembly)
//! and, when `riscv64-linux-gnu-gcc` is installed, gcc's (static,
//! freestanding, tests/c/). A mutation sets a header or program-header
//! field to an edge value (0, all ones, the file size, an odd or
//! page-end entry, ...), flips bytes, truncates, extends, or copies one
//! program header over another.

use sim::kernel::Mode;
use sim::toolchain::build_program;

use crate::guest::{self, Sandbox};
use crate::rng::{Rng, INTERESTING};
use crate::{Target, Verdict};

/// Fields of the ELF header: (offset, size).
const EHDR_FIELDS: &[(usize, usize)] = &[
    (4, 1),  // EI_CLASS
    (5, 1),  // EI_DATA
    (6, 1),  // EI_VERSION
    (16, 2), // e_type
    (18, 2), // e_machine
    (20, 4), // e_version
    (24, 8), // e_entry
    (32, 8), // e_phoff
    (40, 8), // e_shoff
    (48, 4), // e_flags
    (52, 2), // e_ehsize
    (54, 2), // e_phentsize
    (56, 2), // e_phnum
    (58, 2), // e_shentsize
    (60, 2), // e_shnum
    (62, 2), // e_shstrndx
];

/// Fields of a program header: (offset in it, size).
const PHDR_FIELDS: &[(usize, usize)] = &[
    (0, 4),  // p_type
    (4, 4),  // p_flags
    (8, 8),  // p_offset
    (16, 8), // p_vaddr
    (24, 8), // p_paddr
    (32, 8), // p_filesz
    (40, 8), // p_memsz
    (48, 8), // p_align
];

pub struct ElfTarget {
    seeds: Vec<Vec<u8>>,
    sandbox: Sandbox,
    /// Inputs that loaded (and ran).
    loaded: u64,
}

impl ElfTarget {
    pub fn new() -> ElfTarget {
        let repo = guest::repo();
        let mut sources: Vec<_> = ["hello.c", "echo.c", "fork.c", "hello.s"]
            .iter()
            .map(|f| repo.join("programs").join(f))
            .collect();
        sources.extend(guest::files(&repo.join("programs/asm"), &["s"]));
        let mut seeds: Vec<Vec<u8>> = sources
            .iter()
            .filter_map(|p| build_program(std::slice::from_ref(p)).ok())
            .collect();
        seeds.extend(gcc_seeds());
        if seeds.is_empty() {
            panic!("fuzz elf: no seed ELF could be built");
        }
        ElfTarget {
            seeds,
            sandbox: Sandbox::new("elf"),
            loaded: 0,
        }
    }
}

/// ELFs gcc makes from tests/c/, if the cross compiler is installed.
fn gcc_seeds() -> Vec<Vec<u8>> {
    let repo = guest::repo();
    let dir = repo.join("target").join("fuzz-gcc-seeds");
    let _ = std::fs::create_dir_all(&dir);
    let mut out = Vec::new();
    for (name, opt) in [("hello", "-O0"), ("fork", "-O2"), ("arith", "-O1")] {
        let exe = dir.join(format!("{name}{opt}"));
        let built = std::process::Command::new("riscv64-linux-gnu-gcc")
            .args([opt, "-march=rv64gc", "-mabi=lp64d", "-static", "-nostdlib"])
            .args(["-ffreestanding", "-fno-builtin", "-o"])
            .arg(&exe)
            .arg(repo.join("tests/c/start.S"))
            .arg(repo.join(format!("tests/c/{name}.c")))
            .output();
        match built {
            Ok(o) if o.status.success() => out.extend(std::fs::read(&exe).ok()),
            Ok(o) => eprintln!(
                "fuzz elf: gcc seed {name} not built: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(_) => {
                eprintln!(
                    "fuzz elf: riscv64-linux-gnu-gcc not found: only sim's own ELFs as seeds"
                );
                break;
            }
        }
    }
    out
}

fn read_u64(bytes: &[u8], at: usize, size: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(src) = bytes.get(at..at.saturating_add(size)) {
        v[..size].copy_from_slice(src);
    }
    u64::from_le_bytes(v)
}

fn write_field(bytes: &mut [u8], at: usize, size: usize, value: u64) {
    if let Some(dst) = bytes.get_mut(at..at.saturating_add(size)) {
        dst.copy_from_slice(&value.to_le_bytes()[..size]);
    }
}

/// An edge value for a field whose value is `old` in a file of `len` bytes.
fn edge_value(rng: &mut Rng, old: u64, len: u64) -> u64 {
    match rng.below(8) {
        0 | 1 => *rng.pick(INTERESTING),
        2 => old.wrapping_add(rng.below(9)).wrapping_sub(4),
        3 => len.wrapping_add(rng.below(9)).wrapping_sub(4),
        4 => old | 0xfff,
        5 => old ^ (1 << rng.below(64)),
        6 => old.wrapping_mul(2 + rng.below(1000)),
        _ => rng.next_u64(),
    }
}

impl Target for ElfTarget {
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut elf = rng.pick(&self.seeds).clone();
        for _ in 0..=rng.below(6) {
            let len = elf.len() as u64;
            let phoff = read_u64(&elf, 32, 8) as usize;
            let phnum = read_u64(&elf, 56, 2);
            match rng.below(10) {
                0..=2 => {
                    let &(at, size) = rng.pick(EHDR_FIELDS);
                    let old = read_u64(&elf, at, size);
                    write_field(&mut elf, at, size, edge_value(rng, old, len));
                }
                3..=5 if phnum > 0 => {
                    let i = rng.below(phnum) as usize;
                    let &(at, size) = rng.pick(PHDR_FIELDS);
                    let at = phoff
                        .saturating_add(i.saturating_mul(56))
                        .saturating_add(at);
                    let old = read_u64(&elf, at, size);
                    write_field(&mut elf, at, size, edge_value(rng, old, len));
                }
                6 if len > 0 => {
                    for _ in 0..=rng.below(8) {
                        let i = rng.below(len) as usize;
                        elf[i] ^= 1 << rng.below(8);
                    }
                }
                7 => {
                    let keep = rng.below(len + 1) as usize;
                    elf.truncate(keep);
                }
                8 => {
                    let n = rng.below(4096) as usize;
                    elf.extend(rng.bytes(n));
                }
                _ if phnum > 1 => {
                    let (a, b) = (rng.below(phnum) as usize, rng.below(phnum) as usize);
                    let from = phoff.saturating_add(a.saturating_mul(56));
                    let to = phoff.saturating_add(b.saturating_mul(56));
                    if let Some(src) = elf.get(from..from.saturating_add(56)).map(<[u8]>::to_vec) {
                        if let Some(dst) = elf.get_mut(to..to.saturating_add(56)) {
                            dst.copy_from_slice(&src);
                        }
                    }
                }
                _ => {}
            }
        }
        elf
    }

    fn execute(&mut self, input: &[u8]) -> Verdict {
        // Every third input (by its length) is loaded as a guest kernel
        // with a user child, the others as a user program.
        let result = if input.len().is_multiple_of(3) {
            run_as_kernel(&self.sandbox, input)
        } else {
            guest::run_elf(&self.sandbox.root, input, 20_000)
        };
        match result {
            Ok(loaded) => {
                self.loaded += u64::from(loaded);
                Verdict::Ok
            }
            Err(e) => Verdict::Failure(e),
        }
    }

    fn reached(&self) -> String {
        format!(
            "{} seeds, {} inputs loaded and ran",
            self.seeds.len(),
            self.loaded
        )
    }
}

fn run_as_kernel(sandbox: &Sandbox, elf: &[u8]) -> Result<bool, String> {
    let mut sim = guest::builder(&sandbox.root, 1000, 20_000)
        .try_build()
        .map_err(|e| format!("cannot build a simulator: {e}"))?;
    let args = ["fuzz".to_string()];
    let Ok(kernel) = sim.load_elf_in(0, elf, &args, Mode::Kernel, None) else {
        return Ok(false);
    };
    let _ = sim.load_elf_in(0, elf, &args, Mode::User, Some(kernel));
    guest::finish(&mut sim).map(|_| true)
}

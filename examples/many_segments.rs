//! Writes an ELF executable with N loadable segments (the loader's
//! worst case: issue 11, finding 6), for timing the loader:
//! `cargo run --release --example many_segments -- 65535 /tmp/many.elf`,
//! then `sim -u /tmp/many.elf` (docs/RELIABILITY.md). Segment 0 holds the
//! code (`exit(0)`); the others are one page of .bss each. The file has
//! only what a loader reads: the ELF header, the program headers and the
//! code (no sections).
use std::process::ExitCode;

/// Bytes of the ELF64 header and of one program header.
const EHDR: usize = 64;
const PHDR: usize = 56;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(count), Some(out)) = (
        args.first().and_then(|n| n.parse::<u16>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: many_segments N OUT.elf   (1 <= N <= 65535)");
        return ExitCode::FAILURE;
    };
    let count = usize::from(count.max(1));
    let base: u64 = 0x10000;
    let code_at = (EHDR + PHDR * count).next_multiple_of(4096);
    // li a0, 0; li a7, 93; ecall
    let code: Vec<u8> = [0x0000_0513u32, 0x05d0_0893, 0x0000_0073]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let mut elf = Vec::with_capacity(code_at + code.len());
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&base.to_le_bytes()); // e_entry
    elf.extend_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [EHDR, PHDR, count, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        elf.extend_from_slice(&(half as u16).to_le_bytes());
    }
    for i in 0..count {
        let first = i == 0;
        let (flags, offset, filesz) = if first {
            (5u32, code_at as u64, code.len() as u64) // R+X, the code
        } else {
            (6u32, 0, 0) // R+W, .bss only
        };
        elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf.extend_from_slice(&flags.to_le_bytes());
        elf.extend_from_slice(&offset.to_le_bytes());
        let vaddr = base + i as u64 * 0x1000;
        elf.extend_from_slice(&vaddr.to_le_bytes()); // p_vaddr
        elf.extend_from_slice(&vaddr.to_le_bytes()); // p_paddr
        elf.extend_from_slice(&filesz.to_le_bytes());
        elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_memsz
        elf.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    }
    elf.resize(code_at, 0);
    elf.extend_from_slice(&code);
    if let Err(e) = std::fs::write(out, elf) {
        eprintln!("many_segments: {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

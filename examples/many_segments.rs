//! Writes an ELF executable with N loadable segments (the loader's
//! worst case: issue 11, finding 6), for timing the loader:
//! `cargo run --release --example many_segments -- 65535 /tmp/many.elf`,
//! then `sim -u /tmp/many.elf` (docs/RELIABILITY.md). Segment 0 holds the
//! code (`exit(0)`); the others are one page of .bss each.
use std::process::ExitCode;

use sim::toolchain::elf::{write_executable, Segment, SegmentFlags};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(count), Some(out)) = (
        args.first().and_then(|n| n.parse::<u64>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: many_segments N OUT.elf   (1 <= N <= 65535)");
        return ExitCode::FAILURE;
    };
    if !(1..=65_535).contains(&count) {
        eprintln!("many_segments: N must be 1..=65535 (e_phnum is 16 bits)");
        return ExitCode::FAILURE;
    }
    // li a0, 0; li a7, 93; ecall
    let code: Vec<u8> = [0x0000_0513u32, 0x05d0_0893, 0x0000_0073]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let segments: Vec<Segment> = (0..count)
        .map(|i| Segment {
            vaddr: 0x10000 + i * 0x1000,
            data: if i == 0 { code.clone() } else { Vec::new() },
            mem_size: 0x1000,
            flags: if i == 0 {
                SegmentFlags::CODE
            } else {
                SegmentFlags::DATA
            },
        })
        .collect();
    let elf = write_executable(0x10000, &segments, &[]);
    if let Err(e) = std::fs::write(out, elf) {
        eprintln!("many_segments: {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! Instruction fetch at and across page ends, and at odd addresses
//! (issue 11, item 1): the RISC-V rules, never a host panic.
//!
//! - An odd pc is an instruction-address-misaligned fault (with the C
//!   extension instructions are 2-byte aligned): the kernel kills the
//!   process with SIGBUS (exit code 135), as Linux does for
//!   BUS_ADRALN. qemu-riscv64 7.2 instead decodes the bytes at the odd
//!   address (an ELF whose entry is `0x..fff` then dies of SIGSEGV
//!   fetching the next page, other odd entries run whatever those bytes
//!   mean); RISC-V hardware cannot fetch there at all.
//! - A 4-byte instruction whose second half lies on an unmapped page is a
//!   fetch page fault at that page (SIGSEGV, exit code 139), as on
//!   qemu-riscv64, which the test runs too when it is installed.

mod common;

use std::process::Command;

use sim::toolchain::elf::{write_executable, Segment, SegmentFlags};

const TEXT: u64 = 0x10000;

/// An executable whose one code segment is `code` at `TEXT`, entered at
/// `entry`.
fn elf(code: Vec<u8>, entry: u64) -> Vec<u8> {
    let size = code.len() as u64;
    write_executable(
        entry,
        &[Segment {
            vaddr: TEXT,
            data: code,
            mem_size: size,
            flags: SegmentFlags::CODE,
        }],
        &[],
    )
}

/// `li a0, 5; li a7, 93; ecall`: exit(5).
const EXIT5: [u32; 3] = [0x0050_0513, 0x05d0_0893, 0x0000_0073];

fn words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Exit code and stderr under sim.
fn run_sim(elf: &[u8]) -> (i32, String) {
    let (s, outcome) = common::simulate(&[elf], |b| b.max_instructions(1_000_000));
    (
        outcome.exit_code,
        String::from_utf8_lossy(s.stderr()).into_owned(),
    )
}

/// The exit code a shell sees under qemu-riscv64 (128 + signal), if it is
/// installed.
fn run_qemu(name: &str, elf: &[u8]) -> Option<i32> {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;
    common::tool("qemu-riscv64")?;
    let path = std::env::temp_dir().join(format!("sim-fetch-{}-{name}", std::process::id()));
    std::fs::write(&path, elf).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new("qemu-riscv64")
        .arg(&path)
        .output()
        .unwrap()
        .status;
    let _ = std::fs::remove_file(&path);
    Some(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    )
}

#[test]
fn an_entry_at_the_last_byte_of_a_page_is_a_misaligned_fetch_not_a_panic() {
    // A page of nops entered at its last byte: the block decoder used to
    // read the byte after the page ("the len is 4096 but the index is 4096").
    let code: Vec<u8> = words(&[0x0000_0013; 1024]);
    let (code, err) = run_sim(&elf(code, TEXT + 0xfff));
    assert_eq!(code, 128 + 7, "{err}");
    assert!(
        err.contains("killed: misaligned instruction fetch at pc 0x10fff"),
        "{err}"
    );
}

#[test]
fn an_odd_entry_is_a_misaligned_fetch() {
    // At 0x10001 start the bytes of exit(5) (after one byte of padding):
    // sim must not run them.
    let mut code = vec![0u8];
    code.extend(words(&EXIT5));
    let (code, err) = run_sim(&elf(code, TEXT + 1));
    assert_eq!(code, 135, "{err}");
    assert!(err.contains("pc 0x10001"), "{err}");
    assert!(err.contains("instruction-address-misaligned"), "{err}");
}

#[test]
fn an_instruction_whose_second_half_is_unmapped_is_a_fetch_fault_there() {
    // 2047 c.nop, then the first half of a 4-byte instruction at 0x10ffe;
    // the page at 0x11000 is not mapped.
    let mut code: Vec<u8> = [0x01u8, 0x00].repeat(2047);
    code.extend([0x13, 0x05]);
    assert_eq!(code.len(), 4096);
    for entry in [TEXT, TEXT + 0xffe] {
        let image = elf(code.clone(), entry);
        let (exit, err) = run_sim(&image);
        assert_eq!(exit, 139, "{err}");
        assert!(
            err.contains("fetch at address 0x11000 (pc 0x10ffe): address not mapped"),
            "{err}"
        );
        if let Some(qemu) = run_qemu("straddle", &image) {
            assert_eq!(exit, qemu, "sim and qemu-riscv64 differ");
        }
    }
}

#[test]
fn code_that_fills_its_page_to_the_last_byte_runs() {
    // Nops, then exit(5) ending at the page's last byte.
    let mut code: Vec<u8> = words(&[0x0000_0013; 1021]);
    code.extend(words(&EXIT5));
    assert_eq!(code.len(), 4096);
    let (exit, err) = run_sim(&elf(code, TEXT));
    assert_eq!(exit, 5, "{err}");
}

//! Bad input never panics the host: random and mutated ELF files are
//! refused with a reason, random instruction streams end in an exception,
//! random program sources end in an error (docs/RELIABILITY.md).

mod common;

use common::*;
use proptest::prelude::*;
use sim::emu::{Exception, PAGE_SIZE};
use sim::kernel::LoadError;
use sim::Simulator;

fn load(bytes: &[u8]) -> Result<sim::kernel::Pid, LoadError> {
    let mut s = Simulator::builder()
        .capture_output(true)
        .memory_mb(8)
        .build();
    s.load_elf(bytes, &["prog".into()])
}

fn refused(bytes: &[u8]) -> String {
    match load(bytes) {
        Ok(_) => panic!("the file was accepted"),
        Err(e) => e.to_string(),
    }
}

/// A valid two-segment executable (code and data with bss).
fn good_elf() -> Vec<u8> {
    writer_elf(b'x', 1, 1, 0, 0)
}

const PHOFF: usize = 64;
const PHENT: usize = 56;

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Offset of field `off` of program header `i`.
fn ph(i: usize, off: usize) -> usize {
    PHOFF + i * PHENT + off
}
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;

#[test]
fn the_good_file_loads_and_runs() {
    let (s, outcome) = simulate(&[&good_elf()], |b| b);
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(s.stdout(), b"x0\n");
}

#[test]
fn not_an_elf_file() {
    assert!(refused(b"").contains("not an ELF file"));
    assert!(refused(b"hello, world").contains("not an ELF file"));
    assert!(refused(b"#!/bin/sh\necho hi\n").contains("not an ELF file"));
    // The magic alone, with a truncated header.
    let mut head = good_elf();
    head.truncate(40);
    let e = refused(&head);
    assert!(
        e.contains("not an ELF file") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn wrong_machine_or_class() {
    let mut x86 = good_elf();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    let e = refused(&x86);
    assert!(e.contains("not a RISC-V executable"), "{e}");
    assert!(e.contains("62"), "{e}");

    let mut class32 = good_elf();
    class32[4] = 1; // ELFCLASS32
    assert!(refused(&class32).contains("not a 64-bit ELF file"));

    let mut big_endian = good_elf();
    big_endian[5] = 2;
    assert!(refused(&big_endian).contains("little-endian"));

    let mut shared = good_elf();
    shared[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    assert!(refused(&shared).contains("not an executable"));
}

#[test]
fn overlapping_segments() {
    let mut elf = good_elf();
    // Move the data segment onto the code segment.
    let code = get_u64(&elf, ph(0, P_VADDR));
    put_u64(&mut elf, ph(1, P_VADDR), code);
    let e = refused(&elf);
    assert!(e.contains("overlap"), "{e}");
}

#[test]
fn entry_point_outside_code() {
    let mut elf = good_elf();
    // Into the data segment (not executable), then nowhere.
    for entry in [WRITER_DATA, 0x0, 0xdead_beef_0000] {
        put_u64(&mut elf, 24, entry);
        let e = refused(&elf);
        assert!(e.contains("entry point"), "{entry:#x}: {e}");
        assert!(e.contains(&format!("{entry:#x}")), "{e}");
    }
}

#[test]
fn truncated_files() {
    let elf = good_elf();
    // Cut inside the code segment's bytes.
    let code_at = get_u64(&elf, ph(0, P_OFFSET)) as usize;
    let e = refused(&elf[..code_at + 8]);
    assert!(e.contains("truncated"), "{e}");
    // Cut inside the program headers.
    let e = refused(&elf[..PHOFF + 20]);
    assert!(!e.is_empty());
}

#[test]
fn absurd_segments() {
    let mut elf = good_elf();
    put_u64(&mut elf, ph(1, P_MEMSZ), u64::MAX - 0x100);
    let e = refused(&elf);
    assert!(e.contains("segment 1"), "{e}");

    let mut elf = good_elf();
    put_u64(&mut elf, ph(1, P_FILESZ), 0x10_0000);
    let e = refused(&elf);
    assert!(e.contains("segment 1"), "{e}");

    let mut elf = good_elf();
    put_u64(&mut elf, ph(1, P_VADDR), u64::MAX - 0xfff);
    let e = refused(&elf);
    assert!(e.contains("segment 1"), "{e}");

    // Above the user address space.
    let mut elf = good_elf();
    put_u64(&mut elf, ph(1, P_VADDR), 0x7fff_0000_0000);
    assert!(refused(&elf).contains("outside"));
}

#[test]
fn a_refused_file_leaves_no_frames_behind() {
    let mut s = Simulator::builder()
        .capture_output(true)
        .memory_mb(1)
        .build();
    let mut elf = good_elf();
    put_u64(&mut elf, 24, 0); // bad entry
    for _ in 0..1000 {
        assert!(s.load_elf(&elf, &["p".into()]).is_err());
    }
    assert_eq!(s.machine().memory().used_frames(), 0);
    // Too big to fit: out of memory is an error, not a host abort.
    let mut s = Simulator::builder()
        .capture_output(true)
        .memory_mb(1)
        .build();
    let big = sim::toolchain::elf::write_executable(
        CODE,
        &[sim::toolchain::elf::Segment {
            vaddr: CODE,
            data: vec![0x13; 2 << 20],
            mem_size: 2 << 20,
            flags: sim::toolchain::elf::SegmentFlags::CODE,
        }],
        &[],
    );
    let e = s.load_elf(&big, &["big".into()]).unwrap_err();
    assert!(e.to_string().contains("out of physical memory"), "{e}");
    assert_eq!(s.machine().memory().used_frames(), 0);
}

/// Interesting values for header fields.
fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(0xfff),
        Just(0x1000),
        Just(0x1001),
        Just(0x3f_ffff_f000),
        Just(0x30_0000_0000),
        Just(1 << 36),
        Just(u64::MAX),
        Just(u64::MAX - 0xfff),
        Just(i64::MAX as u64),
        any::<u64>(),
        0u64..0x20000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(load(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_the_magic_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut file = b"\x7fELF\x02\x01\x01".to_vec();
        file.extend(bytes);
        // Anything but a panic; a valid file by chance would be fine too.
        if let Err(e) = load(&file) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn mutated_program_headers_never_panic(
        index in 0usize..3,
        field in prop_oneof![Just(0usize), Just(4), Just(8), Just(16), Just(32), Just(40), Just(48)],
        value in field_value(),
    ) {
        let mut elf = good_elf();
        let at = ph(index, field);
        if field < 8 {
            elf[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
        } else {
            put_u64(&mut elf, at, value);
        }
        match load(&elf) {
            Ok(_) => {
                // Accepted: then it must also run without panicking.
                let mut s = Simulator::builder().capture_output(true).max_instructions(10_000).build();
                s.load_elf(&elf, &["p".into()]).unwrap();
                s.run();
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn mutated_elf_headers_never_panic(
        at in 0usize..64,
        value in any::<u8>(),
        cut in proptest::option::of(0usize..5000),
    ) {
        let mut elf = good_elf();
        elf[at] = value;
        if let Some(cut) = cut {
            elf.truncate(cut);
        }
        let _ = load(&elf);
    }

    #[test]
    fn header_fields_with_absurd_values_never_panic(
        field in prop_oneof![Just(24usize), Just(32), Just(40)],
        value in field_value(),
        phnum in proptest::option::of(any::<u16>()),
    ) {
        // e_entry, e_phoff, e_shoff; and e_phnum
        let mut elf = good_elf();
        put_u64(&mut elf, field, value);
        if let Some(n) = phnum {
            elf[56..58].copy_from_slice(&n.to_le_bytes());
        }
        let _ = load(&elf);
    }

    #[test]
    fn truncated_files_are_refused(cut in 0usize..0x1100) {
        let elf = good_elf();
        // Everything up to the end of the last segment's bytes is needed.
        let data_end = (get_u64(&elf, ph(1, P_OFFSET)) + get_u64(&elf, ph(1, P_FILESZ))) as usize;
        let cut = cut.min(data_end - 1);
        prop_assert!(load(&elf[..cut]).is_err());
    }

    #[test]
    fn random_instruction_words_end_in_an_exception(words in proptest::collection::vec(any::<u32>(), 1..512)) {
        let mut p = Program::new();
        for w in &words {
            p.word(*w);
        }
        let mut rig = Rig::new(&p);
        // Point some registers into mapped memory, so that loads and
        // stores hit pages too.
        rig.set(sim::emu::Reg(10), DATA).set(sim::emu::Reg(11), CODE).set(sim::emu::Reg(2), DATA + PAGE_SIZE);
        for _ in 0..20 {
            let e = rig.run(5_000);
            // Skip past an ecall as a kernel would; stop on anything fatal.
            match e {
                Exception::Syscall => rig.hart.pc += 4,
                Exception::Timer => {}
                _ => break,
            }
        }
    }

    #[test]
    fn random_code_under_the_kernel_never_panics(words in proptest::collection::vec(any::<u32>(), 1..512)) {
        // No ecalls: random syscalls could touch host files.
        let mut p = Program::new();
        for w in words {
            let system = w & 0x7f == 0x73 || (w & 0xffff) == 0x9002 || w as u16 & 3 != 3;
            p.word(if system { 0x0000_0013 } else { w });
        }
        let (s, outcome) = simulate(&[&elf_of(&p, None)], |b| b.max_instructions(50_000).quantum(1000));
        let status = s.process(sim::kernel::Pid(1)).unwrap().exit_status();
        prop_assert!(outcome.limit_reached || status.is_some());
    }

    #[test]
    fn random_bytes_as_a_program_file_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        ext in prop_oneof![Just("s"), Just("c"), Just("elf")],
    ) {
        // Until the assembler and compiler are in, build_program hands the
        // bytes through and load_elf refuses them; either way, no panic.
        let dir = std::env::temp_dir().join(format!("sim-robustness-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("random-{}.{ext}", bytes.len()));
        std::fs::write(&path, &bytes).unwrap();
        let mut s = Simulator::builder().capture_output(true).max_instructions(10_000).build();
        if s.load_program(&path, &["p".into()]).is_ok() {
            s.run();
        }
        let _ = std::fs::remove_file(&path);
    }
}

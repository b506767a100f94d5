//! The assembler: the disassembler's syntax assembles back to the same
//! words, pseudo-instructions expand as documented, every error is reported
//! with its position, and no input panics.

use goblin::elf::Elf;
use proptest::prelude::*;
use sim::emu::{decode32, encode, Instruction, Reg};
use sim::toolchain::asm::{assemble, load_immediate, AsmErrors, TEXT_BASE};

/// The bytes of the segment loaded at `vaddr`, and the ELF's entry.
fn segment(elf_bytes: &[u8], vaddr: u64) -> Vec<u8> {
    let elf = Elf::parse(elf_bytes).expect("assembler output must parse");
    let ph = elf
        .program_headers
        .iter()
        .find(|ph| ph.p_vaddr == vaddr)
        .unwrap_or_else(|| panic!("no segment at {vaddr:#x}"));
    elf_bytes[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize].to_vec()
}

fn words(source: &str) -> Vec<u32> {
    let elf = assemble(source, "test.s").unwrap_or_else(|e| panic!("{e}"));
    segment(&elf, TEXT_BASE)
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The disassembly of what `source` assembles to.
fn listing(source: &str) -> Vec<String> {
    words(source)
        .into_iter()
        .map(|w| decode32(w).map_or(format!("illegal {w:08x}"), |i| i.to_string()))
        .collect()
}

fn errors(source: &str) -> String {
    match assemble(source, "bad.s") {
        Ok(_) => panic!("{source:?} assembled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn assembles_disassembler_syntax() {
    // Words from GNU as (see emu::disasm's tests); branch targets relative.
    let cases: &[(&str, u32)] = &[
        ("addi a0,sp,16", 0x01010513),
        ("ld ra,8(sp)", 0x00813083),
        ("sd s0,0(sp)", 0x00813023),
        ("lui a0,0x12345", 0x12345537),
        ("lui a0,0xfffff", 0xfffff537),
        ("auipc a0,0x1", 0x00001517),
        ("beq a0,a1,-12", 0xfeb50ae3),
        ("jal ra,24", 0x018000ef),
        ("jalr ra,0(a1)", 0x000580e7),
        ("jalr zero,-12(a1)", 0xff458067),
        ("csrrs a0,cycle,zero", 0xc0002573),
        ("csrrs a0,time,zero", 0xc0102573),
        ("csrrs a0,instret,zero", 0xc0202573),
        ("csrrw a0,0x340,t0", 0x34029573),
        ("csrrwi a0,0x340,5", 0x3402d573),
        ("lr.d a0,(a1)", 0x1005b52f),
        ("sc.d a0,a2,(a1)", 0x18c5b52f),
        ("amoadd.w.aqrl a0,a2,(a1)", 0x06c5a52f),
        ("amoadd.w.aq a0,a2,(a1)", 0x04c5a52f),
        ("amoswap.d.rl a0,a2,(a1)", 0x0ac5b52f),
        ("ecall", 0x00000073),
        ("ebreak", 0x00100073),
        ("fence", 0x0ff0000f),
        ("sub a0,a0,a1", 0x40b50533),
        ("div a0,a0,a1", 0x02b54533),
        ("mulw a0,a0,a1", 0x02b5053b),
        ("srai a0,a0,63", 0x43f55513),
        ("slliw a1,a1,31", 0x01f5959b),
        ("xori a0,a0,-1", 0xfff54513),
        ("sw a1,0(a0)", 0x00b52023),
        ("bne a0,zero,-4", 0xfe051ee3),
    ];
    let source: String = cases.iter().map(|(text, _)| format!("{text}\n")).collect();
    let expected: Vec<u32> = cases.iter().map(|&(_, w)| w).collect();
    assert_eq!(words(&source), expected);
    // And each prints back as written.
    for &(text, word) in cases {
        assert_eq!(decode32(word).map(|i| i.to_string()).as_deref(), Some(text));
    }
}

#[test]
fn pseudo_instructions_expand() {
    let source = "
        start:
        nop
        mv a0, a1
        not a0, a1
        neg a0, a1
        negw a0, a1
        sext.w a0, a1
        seqz a0, a1
        snez a0, a1
        sltz a0, a1
        sgtz a0, a1
        j start
        jr a5
        jalr a5
        jal start
        ret
        beqz a0, start
        bnez a0, start
        blez a0, start
        bgez a0, start
        bltz a0, start
        bgtz a0, start
        bgt a0, a1, start
        ble a0, a1, start
        bgtu a0, a1, start
        bleu a0, a1, start
        csrr a0, cycle
        rdcycle a0
        rdtime a1
        rdinstret a2
        fence rw, rw
        fence.i
        call start
        tail start
        la a0, start
        li a0, 0
        li a0, -2048
        li a0, 2047
        li a0, 2048
        li a0, 0x7fffffff
        li a0, -0x80000000
    ";
    let expected = [
        "addi zero,zero,0",
        "addi a0,a1,0",
        "xori a0,a1,-1",
        "sub a0,zero,a1",
        "subw a0,zero,a1",
        "addiw a0,a1,0",
        "sltiu a0,a1,1",
        "sltu a0,zero,a1",
        "slt a0,a1,zero",
        "slt a0,zero,a1",
        "jal zero,-40",
        "jalr zero,0(a5)",
        "jalr ra,0(a5)",
        "jal ra,-52",
        "jalr zero,0(ra)",
        "beq a0,zero,-60",
        "bne a0,zero,-64",
        "bge zero,a0,-68",
        "bge a0,zero,-72",
        "blt a0,zero,-76",
        "blt zero,a0,-80",
        "blt a1,a0,-84",
        "bge a1,a0,-88",
        "bltu a1,a0,-92",
        "bgeu a1,a0,-96",
        "csrrs a0,cycle,zero",
        "csrrs a0,cycle,zero",
        "csrrs a1,time,zero",
        "csrrs a2,instret,zero",
        "fence",
        "fence",
        "auipc ra,0x0",
        "jalr ra,-124(ra)",
        "auipc t1,0x0",
        "jalr zero,-132(t1)",
        "auipc a0,0x0",
        "addi a0,a0,-140",
        "addi a0,zero,0",
        "addi a0,zero,-2048",
        "addi a0,zero,2047",
        "lui a0,0x1",
        "addiw a0,a0,-2048",
        "lui a0,0x80000",
        "addiw a0,a0,-1",
        "lui a0,0x80000",
    ];
    assert_eq!(listing(source), expected);
}

#[test]
fn hi_lo_and_data_directives() {
    let source = r#"
        .globl _start
        .text
        _start:
            lui a0, %hi(table)
            addi a0, a0, %lo(table)
            ld a1, %lo(table)(a0)
            sd a1, %lo(bss_word)(a0)
        .section .rodata
        message: .string "a\tb\n", "\x41\101"
                 .ascii "xy"
                 .byte 'z', -1, 255
                 .half 0x1234
        .data
                 .align 3
        table:   .dword message, table + 8, -1
                 .word 0xdeadbeef
                 .zero 3
                 .space 2, 7
        .bss
        bss_word: .space 8
    "#;
    let elf = assemble(source, "data.s").unwrap_or_else(|e| panic!("{e}"));
    let parsed = Elf::parse(&elf).unwrap();
    let symbol = |name: &str| {
        parsed
            .syms
            .iter()
            .find(|s| parsed.strtab.get_at(s.st_name) == Some(name))
            .map(|s| s.st_value)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    };
    assert_eq!(parsed.entry, TEXT_BASE);
    assert_eq!(symbol("_start"), TEXT_BASE);
    // Each section on its own page after the previous one.
    let message = symbol("message");
    let table = symbol("table");
    let bss = symbol("bss_word");
    assert_eq!(message, 0x11000);
    assert_eq!(table, 0x12000);
    assert_eq!(bss, 0x13000);
    let rodata = segment(&elf, message);
    assert_eq!(&rodata[..], b"a\tb\n\0AA\0xyz\xff\xff\x34\x12");
    let data = segment(&elf, table);
    let mut expected = Vec::new();
    expected.extend_from_slice(&message.to_le_bytes());
    expected.extend_from_slice(&(table + 8).to_le_bytes());
    expected.extend_from_slice(&u64::MAX.to_le_bytes());
    expected.extend_from_slice(&0xdeadbeefu32.to_le_bytes());
    expected.extend_from_slice(&[0, 0, 0, 7, 7]);
    assert_eq!(data, expected);
    let text = listing(source);
    assert_eq!(text[0], "lui a0,0x12");
    assert_eq!(text[1], "addi a0,a0,0");
    let bss_header = parsed
        .program_headers
        .iter()
        .find(|p| p.p_vaddr == bss)
        .unwrap();
    assert_eq!((bss_header.p_filesz, bss_header.p_memsz), (0, 8));
}

#[test]
fn entry_is_start_label() {
    let elf = assemble("nop\n_start: ecall\n", "entry.s").unwrap();
    assert_eq!(Elf::parse(&elf).unwrap().entry, TEXT_BASE + 4);
}

#[test]
fn reports_every_error_with_position() {
    let source = "\
start:
    frob a0, a1
    addi a0, a1
    addi a0, q7, 1
    addi a0, a1, 5000
    beq a0, a1, nowhere
start:
    .bogus 1
    lui a0, 0x100000
    slli a0, a0, 64
    ld a0, a1
    csrrwi a0, cycle, 32
";
    let expected = "\
bad.s:2:5: unknown mnemonic `frob`
bad.s:3:5: `addi` takes 3 operands, found 2
bad.s:4:14: unknown register `q7`
bad.s:5:5: immediate 5000 out of range -2048..=2047
bad.s:6:17: undefined label `nowhere`
bad.s:7:1: duplicate label `start` (first defined at line 1)
bad.s:8:5: unknown directive `.bogus`
bad.s:9:13: upper immediate 1048576 out of range 0..=0xfffff
bad.s:10:5: immediate 64 out of range 0..=63
bad.s:11:12: expected a memory operand `offset(register)`
bad.s:12:5: csr immediate 32 out of range 0..=31";
    assert_eq!(errors(source), expected);
}

#[test]
fn branch_targets_out_of_range() {
    let far = "beq a0, a1, far\n.zero 4096\nfar: nop\n";
    // .zero in .text is data, allowed; the branch cannot reach 4100 bytes.
    assert_eq!(
        errors(far),
        "bad.s:1:1: branch target out of range: offset 4100 (allowed -4096..=4095)"
    );
    assert_eq!(
        errors("jal ra, 3\n"),
        "bad.s:1:1: branch target offset 3 is odd"
    );
    assert_eq!(
        errors("j 1048576\n"),
        "bad.s:1:1: branch target out of range: offset 1048576 (allowed -1048576..=1048575)"
    );
}

#[test]
fn more_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "li a0, label\nlabel:",
            "bad.s:1:8: `li` needs a constant; use `la` for a label",
        ),
        (
            ".data\naddi a0, a0, 1",
            "bad.s:2:1: instructions belong in .text",
        ),
        (
            ".bss\n.byte 1",
            "bad.s:2:1: only zeros (`.zero`, `.space`) can go in .bss",
        ),
        (
            ".byte 256",
            "bad.s:1:7: value 256 out of range -128..=255 for 1 bytes",
        ),
        (
            ".align 13",
            "bad.s:1:1: alignment 2^13 out of range 2^0..=2^12",
        ),
        (
            ".zero 100000000000",
            "bad.s:1:1: section too large (limit 67108864 bytes)",
        ),
        (
            ".string abc",
            "bad.s:1:9: expected a string in double quotes",
        ),
        (
            "addi a0, a0, 99999999999999999999",
            "bad.s:1:14: bad number `99999999999999999999`",
        ),
        (".string \"abc", "bad.s:1:9: unterminated string"),
        ("add a0,,a1", "bad.s:1:8: empty operand"),
        (
            "lr.w a0, 4(a1)",
            "bad.s:1:10: atomics take no offset: write `(register)`",
        ),
        (
            "addi a0, a0, x - y",
            "bad.s:1:18: cannot subtract label `y`",
        ),
        (
            "42",
            "bad.s:1:1: expected a label, an instruction or a directive",
        ),
        (
            ".section .weird",
            "bad.s:1:10: unknown section `.weird` (known: .text, .rodata, .data, .bss)",
        ),
    ];
    for &(source, expected) in cases {
        assert_eq!(errors(source), expected, "{source:?}");
    }
}

#[test]
fn comments_and_labels() {
    let source = "a: b: addi a0, a0, 1 # comment, with commas\n// whole line\n  c:\n j a // back\n j b\n j c\n";
    assert_eq!(
        listing(source),
        ["addi a0,a0,1", "jal zero,-4", "jal zero,-8", "jal zero,-8"]
    );
    assert_eq!(
        listing("li a0, '#'  # a hash\nli a1, '\\n'"),
        ["addi a0,zero,35", "addi a1,zero,10"]
    );
    assert_eq!(listing(".equ N, 40\nli a0, N + 2"), ["addi a0,zero,42"]);
    // Numeric local labels, as in GNU as: `1b` is the nearest `1:` before, `1f` after.
    assert_eq!(
        listing("1: nop\n j 1b\n j 1f\n 1: j 1b\n 0: j 0b\n"),
        [
            "addi zero,zero,0",
            "jal zero,-4",
            "jal zero,4",
            "jal zero,0",
            "jal zero,0"
        ]
    );
    assert_eq!(
        errors("j 1b\n"),
        "bad.s:1:3: no local label `1:` before `1b`"
    );
    assert_eq!(
        errors("j 2f\n2: nop\nj 2f\n"),
        "bad.s:3:3: no local label `2:` after `2f`"
    );
    assert_eq!(
        listing("li a0, 0b101\nla a1, 0f\n0:"),
        ["addi a0,zero,5", "auipc a1,0x0", "addi a1,a1,8"]
    );
    // `.` is the current address, as in GNU as.
    assert_eq!(
        listing("nop\nj .\nbeq a0, a1, . - 8\n"),
        ["addi zero,zero,0", "jal zero,0", "beq a0,a1,-8"]
    );
    assert_eq!(
        segment(
            &assemble(".data\nx: .dword .\n.dword . + 1", "dot.s").unwrap(),
            0x11000
        )[..],
        [0x00, 0x10, 0x01, 0, 0, 0, 0, 0, 0x09, 0x10, 0x01, 0, 0, 0, 0, 0]
    );
}

/// Runs a `li` sequence on a model of the registers.
fn evaluate(sequence: &[Instruction]) -> i64 {
    let mut value: i64 = 0;
    for inst in sequence {
        value = match *inst {
            Instruction::Lui { imm, .. } => imm,
            Instruction::OpImm { op, rs1, imm, .. } => {
                let source = if rs1 == Reg::ZERO { 0 } else { value };
                use sim::emu::ImmOp::*;
                match op {
                    Addi => source.wrapping_add(imm),
                    Addiw => i64::from(source.wrapping_add(imm) as i32),
                    Slli => source << imm,
                    Srli => ((source as u64) >> imm) as i64,
                    other => panic!("li emitted {other:?}"),
                }
            }
            other => panic!("li emitted {other:?}"),
        };
    }
    value
}

#[test]
fn li_known_lengths() {
    // The counts that GNU as and LLVM produce for these constants.
    let cases: &[(i64, usize)] = &[
        (0, 1),
        (-1, 1),
        (0x800, 2),
        (0x7fff_ffff, 2),
        (0x1_0000_0000, 2),
        (0x8000_0000, 2),
        (i64::MIN, 2),
        (0x0000_ffff_ffff_ffff, 2),
        (0x1234_5678_9abc_def0, 8),
    ];
    for &(value, length) in cases {
        let sequence = load_immediate(Reg::A0, value);
        assert_eq!(evaluate(&sequence), value, "{value:#x}");
        assert!(sequence.len() <= length, "{value:#x}: {sequence:?}");
    }
}

/// An image parses, and its segments are page-aligned and disjoint.
fn check_image(image: &[u8]) {
    let elf = Elf::parse(image).expect("assembler output must parse");
    let mut ranges: Vec<(u64, u64)> = elf
        .program_headers
        .iter()
        .map(|p| (p.p_vaddr, p.p_vaddr + p.p_memsz.max(1)))
        .collect();
    ranges.sort();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping segments {ranges:x?}");
    }
    for (start, _) in &ranges {
        assert_eq!(start % 4096, 0);
    }
}

fn round_trip_word() -> impl Strategy<Value = u32> {
    let opcodes = [
        0x03u32, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x47,
        0x4b, 0x4f, 0x53, 0x63, 0x67, 0x6f, 0x73,
    ];
    (any::<u32>(), 0..opcodes.len()).prop_map(move |(high, i)| (high & !0x7f) | opcodes[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn li_loads_every_constant(value in any::<i64>()) {
        let sequence = load_immediate(Reg::A0, value);
        prop_assert_eq!(evaluate(&sequence), value);
        prop_assert!(sequence.len() <= 8, "{:#x}: {:?}", value, sequence);
        for inst in &sequence {
            prop_assert!(encode(inst).is_ok(), "{:?}", inst);
        }
    }

    /// Disassembling a block of instructions and assembling the text gives
    /// the same words (fences come back canonical: their fields are ignored).
    #[test]
    fn disassembly_reassembles(raw in proptest::collection::vec(round_trip_word(), 1..64)) {
        let insts: Vec<Instruction> = raw.iter().filter_map(|&w| decode32(w)).collect();
        prop_assume!(!insts.is_empty());
        let source: String = insts.iter().map(|i| format!("{i}\n")).collect();
        let expected: Vec<u32> = insts.iter().map(|i| encode(i).unwrap()).collect();
        prop_assert_eq!(words(&source), expected, "{}", source);
    }

    #[test]
    fn random_text_never_panics(source in "\\PC{0,200}") {
        if let Ok(image) = assemble(&source, "fuzz.s") {
            check_image(&image);
        }
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(prop_oneof![
        Just("addi"), Just("beq"), Just("li"), Just("la"), Just("lr.w"), Just("amoadd.d.aqrl"),
        Just("csrrs"), Just("jalr"), Just("call"), Just("lui"), Just("ld"), Just(".byte"),
        Just(".dword"), Just(".string"), Just(".align"), Just(".zero"), Just(".data"),
        Just(".bss"), Just(".equ"), Just(".section"), Just("a0"), Just("sp"), Just("x31"),
        Just("zero"), Just("label"), Just("label:"), Just("_start:"), Just(","), Just("("),
        Just(")"), Just("%hi"), Just("%lo"), Just("+"), Just("-"), Just("0"), Just("-1"),
        Just("4096"), Just("0xffffffffffffffff"), Just("9223372036854775807"),
        Just("-9223372036854775808"), Just("'a'"), Just("'\\"), Just("\"s\\x\""), Just("\n"),
        Just("#"), Just("//"), Just("cycle"), Just("1:"), Just("1b"), Just("1f"), Just("."), Just("12"), Just(":"),
        Just("fadd.d"), Just("fld"), Just("fcvt.w.s"), Just("fmadd.s"), Just("fmv.d"), Just("fsrmi"),
        Just("fa0"), Just("ft11"), Just("f31"), Just("rtz"), Just("dyn"), Just("fcsr"), Just("clz"),
    ], 0..40)) {
        let source = tokens.join(" ");
        if let Ok(image) = assemble(&source, "soup.s") {
            check_image(&image);
        }
    }
}

#[test]
fn errors_display_one_per_line() {
    let e = AsmErrors {
        file_name: "f.s".into(),
        errors: vec![
            sim::toolchain::asm::AsmError {
                line: 1,
                column: 2,
                message: "one".into(),
            },
            sim::toolchain::asm::AsmError {
                line: 3,
                column: 4,
                message: "two".into(),
            },
        ],
    };
    assert_eq!(e.to_string(), "f.s:1:2: one\nf.s:3:4: two");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let source = format!("li a0, {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
    assert!(errors(&source).contains("nested too deeply"));
}

/// Words of GNU as (`-march=rv64g_zba_zbb_zbs`) for the F, D and Zb*
/// syntax the disassembler prints, with rounding modes and the pseudo
/// forms.
#[test]
fn assembles_floating_point_and_bit_manipulation() {
    let cases: &[(&str, u32)] = &[
        ("fadd.d fa0,fa1,fa2", 0x02c5f553),
        ("fadd.d fa0,fa1,fa2,rne", 0x02c58553),
        ("fadd.s fa0,fa1,fa2,rmm", 0x00c5c553),
        ("fsqrt.d fa0,fa1", 0x5a05f553),
        ("fcvt.d.s fa0,fa1", 0x42058553),
        ("fcvt.d.w fa0,a0", 0xd2050553),
        ("fcvt.w.d a0,fa0,rtz", 0xc2051553),
        ("fcvt.lu.s a0,fa0,rmm", 0xc0354553),
        ("feq.d a0,fa0,fa1", 0xa2b52553),
        ("fclass.d a0,fa0", 0xe2051553),
        ("fmv.x.w a0,fa0", 0xe0050553),
        ("fmv.d.x fa0,a0", 0xf2050553),
        ("fmsub.s fa0,fa1,fa2,fa3,rtz", 0x68c59547),
        ("fnmsub.d ft11,fs11,fa7,ft8", 0xe31dffcb),
        ("flw fa0,8(sp)", 0x00812507),
        ("fsd fs11,2040(t6)", 0x7fbfbc27),
        ("fmv.d fa0,fa1", 0x22b58553),
        ("fneg.d fa0,fa1", 0x22b59553),
        ("fabs.s fa0,fa1", 0x20b5a553),
        ("frcsr a0", 0x00302573),
        ("fscsr a0,a1", 0x00359573),
        ("fsrmi 2", 0x00215073),
        ("fsflagsi a0,3", 0x0011d573),
        ("frflags a0", 0x00102573),
        ("csrrw a0,frm,a1", 0x00259573),
        ("fld f8,-16(x10)", 0xff053407),
        ("sh1add a0,a1,a2", 0x20c5a533),
        ("add.uw a0,a1,a2", 0x08c5853b),
        ("slli.uw a0,a1,5", 0x0855951b),
        ("clz a0,a1", 0x60059513),
        ("rev8 a0,a1", 0x6b85d513),
        ("orc.b a0,a1", 0x2875d513),
        ("zext.h a0,a1", 0x0805c53b),
        ("rori a0,a1,63", 0x63f5d513),
        ("roriw a0,a1,31", 0x61f5d51b),
        ("bseti a0,a1,63", 0x2bf59513),
        ("sext.b a0,a1", 0x60459513),
    ];
    for &(text, word) in cases {
        assert_eq!(words(text), vec![word], "{text}");
    }
    // The disassembler prints what it reads back.
    assert_eq!(listing("fmv.d fa0,fa1"), vec!["fsgnj.d fa0,fa1,fa1"]);
    assert_eq!(
        listing("fcvt.d.s fa0,fa1,dyn"),
        vec!["fcvt.d.s fa0,fa1,dyn"]
    );
    assert_eq!(
        listing("fadd.d fa0,fa1,fa2,dyn"),
        vec!["fadd.d fa0,fa1,fa2"]
    );
}

#[test]
fn floating_point_operand_errors() {
    let e = errors("fadd.d a0, fa1, fa2\n");
    assert!(
        e.contains("bad.s:1:8: unknown floating-point register `a0` (an integer register"),
        "{e}"
    );
    let e = errors("fcvt.w.d fa0, fa1\n");
    assert!(
        e.contains("unknown register `fa0` (a floating-point register"),
        "{e}"
    );
    let e = errors("fadd.d fa0, fa1, fa2, up\n");
    assert!(e.contains("unknown rounding mode `up`"), "{e}");
    let e = errors("fsgnj.d fa0, fa1, fa2, rtz\n");
    assert!(e.contains("takes 3 operands, found 4"), "{e}");
    let e = errors("fsrmi 32\n");
    assert!(e.contains("csr immediate 32 out of range"), "{e}");
}

//! Cross-checks against the GNU toolchain and qemu-riscv64:
//!
//! - every program in `programs/hello.s` and `programs/asm/` is assembled
//!   by our assembler and by `riscv64-linux-gnu-as` + `ld -Ttext=0x10000 --no-relax`,
//!   both images run under `qemu-riscv64`, and their stdout and exit codes
//!   must agree (and match the expectation in the table below);
//! - a block of instructions assembled by both gives the same words.
//!
//! When a tool is missing the tests print `SKIP: ... not found` and pass,
//! except under `CI=true`, where the tools are required.

use std::path::{Path, PathBuf};
use std::process::Command;

use sim::toolchain::asm::assemble;

const QEMU: &str = "qemu-riscv64";
const GNU_AS: &str = "riscv64-linux-gnu-as";
const GNU_LD: &str = "riscv64-linux-gnu-ld";
const GNU_OBJCOPY: &str = "riscv64-linux-gnu-objcopy";

/// Whether all `tools` run; prints SKIP otherwise (and fails in CI).
fn have(tools: &[&str]) -> bool {
    for tool in tools {
        let found = Command::new(tool).arg("--version").output().is_ok();
        if !found {
            eprintln!("SKIP: {tool} not found");
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{tool} is required in CI"
            );
            return false;
        }
    }
    true
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-asm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_executable(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    // qemu-riscv64, like execve, refuses a file without execute permission.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Builds `source` with GNU as and ld. Linker relaxation is off: it would
/// turn `la` into `gp`-relative addressing, and these programs have no C
/// runtime that sets up `gp`.
fn gnu_build(source: &Path, dir: &Path, stem: &str, extra_as_flags: &[&str]) -> PathBuf {
    let object = dir.join(format!("{stem}.o"));
    let elf = dir.join(format!("{stem}.gnu.elf"));
    run(Command::new(GNU_AS)
        .args(["-march=rv64imac", "-mabi=lp64"])
        .args(extra_as_flags)
        .arg(source)
        .arg("-o")
        .arg(&object));
    run(Command::new(GNU_LD)
        .args(["-Ttext=0x10000", "--no-relax"])
        .arg(&object)
        .arg("-o")
        .arg(&elf));
    elf
}

/// Runs an executable under qemu: (stdout, exit code).
fn qemu(elf: &Path) -> (String, i32) {
    let output = Command::new(QEMU).arg(elf).output().unwrap();
    let code = output.status.code().unwrap_or(-1);
    (String::from_utf8_lossy(&output.stdout).into_owned(), code)
}

/// Each program with its expected stdout (None: compare with GNU only) and exit code.
const PROGRAMS: &[(&str, Option<&str>, i32)] = &[
    ("programs/hello.s", Some("Hello, world!\n"), 0),
    ("programs/asm/sum.s", Some("5050\n"), 186),
    (
        "programs/asm/fib.s",
        Some("0 1 1 2 3 5 8 13 21 34 55 89 144 233 377 610\n"),
        98,
    ),
    ("programs/asm/arith.s", None, 0),
    ("programs/asm/atomic.s", None, 0),
];

#[test]
fn programs_match_gnu_under_qemu() {
    if !have(&[QEMU, GNU_AS, GNU_LD]) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Every program in programs/asm/ must be listed.
    let mut listed: Vec<&str> = PROGRAMS.iter().map(|p| p.0).collect();
    listed.sort();
    let mut found: Vec<String> = std::fs::read_dir(root.join("programs/asm"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| format!("programs/asm/{}", e.file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".s"))
        .collect();
    found.push("programs/hello.s".into());
    found.sort();
    assert_eq!(listed, found, "PROGRAMS must list every program");

    let dir = scratch_dir("programs");
    for &(program, expected_stdout, expected_code) in PROGRAMS {
        let path = root.join(program);
        let source = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let ours = dir.join(format!("{stem}.elf"));
        let image = assemble(&source, program).unwrap_or_else(|e| panic!("{e}"));
        write_executable(&ours, &image);
        let gnu = gnu_build(&path, &dir, &stem, &[]);

        let (our_stdout, our_code) = qemu(&ours);
        let (gnu_stdout, gnu_code) = qemu(&gnu);
        assert_eq!(
            (&our_stdout, our_code),
            (&gnu_stdout, gnu_code),
            "{program}: ours vs GNU"
        );
        if let Some(expected) = expected_stdout {
            assert_eq!(our_stdout, expected, "{program}");
        }
        assert_eq!(our_code, expected_code, "{program}");
        // The header comment states the exit code.
        assert!(
            source
                .to_lowercase()
                .contains(&format!("exit code {expected_code}")),
            "{program}: document the exit code"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same instructions (no compression, no linker relaxation) give the
/// same words from GNU as and from ours.
#[test]
fn same_words_as_gnu_as() {
    if !have(&[GNU_AS, GNU_LD, GNU_OBJCOPY]) {
        return;
    }
    let block = "
        .globl _start
    _start:
        lui a0, 0x12345
        auipc t0, 0xfffff
        jal ra, target
        jalr t1, -5(a2)
        beq a0, a1, target
        bne s0, s1, _start
        blt a2, a3, target
        bge a4, a5, _start
        bltu a6, a7, target
        bgeu s2, s3, _start
        lb a0, -1(sp)
        lh a1, 2047(gp)
        lw a2, -2048(tp)
        ld a3, 8(t0)
        lbu a4, 0(t1)
        lhu a5, 6(t2)
        lwu a6, 12(s0)
        sb a0, -1(sp)
        sh a1, 2(s1)
        sw a2, 4(a0)
        sd a3, -8(sp)
        addi a0, a0, -2048
        slti a1, a2, 7
        sltiu a1, a2, -1
        xori a3, a4, 0x7ff
        ori a5, a6, 1
        andi a7, s2, -16
        slli s3, s4, 63
        srli s5, s6, 1
        srai s7, s8, 32
        addiw s9, s10, -1
        slliw s11, t3, 31
        srliw t4, t5, 0
        sraiw t6, zero, 5
    target:
        add a0, a1, a2
        sub a0, a1, a2
        sll a0, a1, a2
        slt a0, a1, a2
        sltu a0, a1, a2
        xor a0, a1, a2
        srl a0, a1, a2
        sra a0, a1, a2
        or a0, a1, a2
        and a0, a1, a2
        mul a0, a1, a2
        mulh a0, a1, a2
        mulhsu a0, a1, a2
        mulhu a0, a1, a2
        div a0, a1, a2
        divu a0, a1, a2
        rem a0, a1, a2
        remu a0, a1, a2
        addw a0, a1, a2
        subw a0, a1, a2
        sllw a0, a1, a2
        srlw a0, a1, a2
        sraw a0, a1, a2
        mulw a0, a1, a2
        divw a0, a1, a2
        divuw a0, a1, a2
        remw a0, a1, a2
        remuw a0, a1, a2
        fence
        ecall
        ebreak
        csrrw a0, 0x340, a1
        csrrs a0, cycle, zero
        csrrc a0, time, a1
        csrrwi a0, 0x340, 31
        csrrsi a0, instret, 1
        csrrci a0, 0x7ff, 0
        lr.w a0, (a1)
        lr.d.aq a0, (a1)
        sc.w a0, a2, (a1)
        sc.d.rl a0, a2, (a1)
        amoswap.w a0, a2, (a1)
        amoadd.d.aqrl a0, a2, (a1)
        amoxor.w a0, a2, (a1)
        amoand.d a0, a2, (a1)
        amoor.w a0, a2, (a1)
        amomin.d a0, a2, (a1)
        amomax.w a0, a2, (a1)
        amominu.d a0, a2, (a1)
        amomaxu.w a0, a2, (a1)
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
        j _start
        jr a0
        jal target
        ret
        beqz a0, _start
        bnez a0, target
        blez a0, _start
        bgez a0, target
        bltz a0, _start
        bgtz a0, target
        bgt a0, a1, _start
        ble a0, a1, target
        bgtu a0, a1, _start
        bleu a0, a1, target
        csrr a0, cycle
        rdcycle a0
        rdtime a1
        rdinstret a2
        call target
        tail _start
        la a0, data
        lui a1, %hi(data)
        addi a1, a1, %lo(data)
        ld a2, %lo(data)(a1)
        li a0, 0
        li a0, 2047
        li a0, -2048
        li a0, 2048
        li a0, 0x7fffffff
        li a0, -0x80000000
        li a0, 0x12345678
    data:
        .dword 1
    ";
    let dir = scratch_dir("words");
    let source_path = dir.join("block.s");
    std::fs::write(&source_path, format!(".option norvc\n{block}")).unwrap();
    let gnu = gnu_build(&source_path, &dir, "block", &["-mno-relax"]);
    let text = dir.join("block.text");
    run(Command::new(GNU_OBJCOPY)
        .args(["-O", "binary", "-j", ".text"])
        .arg(&gnu)
        .arg(&text));
    let gnu_words = std::fs::read(&text).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let ours = assemble(block, "block.s").unwrap_or_else(|e| panic!("{e}"));
    let elf = goblin::elf::Elf::parse(&ours).unwrap();
    let ph = elf
        .program_headers
        .iter()
        .find(|p| p.p_vaddr == 0x10000)
        .unwrap();
    let our_words = &ours[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
    let lines: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with(':') && !l.starts_with('.'))
        .collect();
    for (i, (ours, gnu)) in our_words.chunks(4).zip(gnu_words.chunks(4)).enumerate() {
        assert_eq!(
            ours,
            gnu,
            "word {i} (near `{}`)",
            lines.get(i).unwrap_or(&"?")
        );
    }
    assert_eq!(our_words.len(), gnu_words.len());
}

//! Whole programs: every C* program in programs/ compiles; each runs under
//! qemu-riscv64 with the expected output (`<program>.c.out`), arguments
//! (`// expect-args:` line) and exit code (`// expect-exit:` line); and the
//! programs whose meaning is the same in C give the same output when
//! compiled natively with `cc -D'uint64_t=unsigned long'`
//! (tests/cstar/native_shim.h supplies the prelude in C).

mod common;
#[path = "cstar/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use sim::toolchain::cstar::compile_files;

use common::{c_files, header, root};

#[test]
fn every_program_compiles_and_runs_with_its_expected_output() {
    let mut programs = Vec::new();
    c_files(&root().join("programs"), &mut programs);
    programs.sort();
    assert!(
        programs.len() >= 6,
        "programs/ should hold hello, echo, fork and the benchmarks"
    );
    let mut ran = 0;
    for path in &programs {
        let compiled = compile_files(std::slice::from_ref(path)).unwrap_or_else(|e| panic!("{e}"));
        let Some(code) = header(path, "expect-exit") else {
            continue;
        };
        let code: i32 = code.parse().expect("expect-exit is a number");
        let args = header(path, "expect-args").unwrap_or_default();
        let args: Vec<&str> = args.split_whitespace().collect();
        let expected =
            std::fs::read_to_string(format!("{}.out", path.display())).unwrap_or_else(|_| {
                panic!("{}.out with the expected output is missing", path.display())
            });
        match support::run_both(&compiled.elf, &args) {
            Some((out, status)) => {
                assert_eq!(
                    (out.as_str(), status),
                    (expected.as_str(), code),
                    "{}",
                    path.display()
                );
                ran += 1;
            }
            None => return support::skip(),
        }
    }
    assert!(ran >= 6);
}

/// Builds `program` natively and returns its stdout and exit code; `None`
/// when there is no C compiler.
fn run_native(program: &Path, args: &[&str]) -> Option<(String, i32)> {
    run_native_with(program, args, true)
}

/// As `run_native`; `with_shim`: with the prelude in C
/// (tests/cstar/native_shim.h), else as selfie's Makefile builds selfie.c
/// (the program declares what it uses from the C library itself).
fn run_native_with(program: &Path, args: &[&str], with_shim: bool) -> Option<(String, i32)> {
    let exe = support::temp_path(".native");
    let shim = root().join("tests/cstar/native_shim.h");
    let mut cc = Command::new("cc");
    cc.args(["-O1", "-D", "uint64_t=unsigned long", "-w"]);
    if with_shim {
        cc.arg("-include").arg(&shim);
    }
    let built = cc.arg(program).arg("-o").arg(&exe).output();
    match built {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run cc: {e}"),
        Ok(out) => assert!(
            out.status.success(),
            "cc failed on {}:\n{}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    let out = Command::new(&exe)
        .args(args)
        .output()
        .expect("run native program");
    let _ = std::fs::remove_file(&exe);
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    ))
}

#[test]
fn differential_against_native_c() {
    let programs = [
        ("programs/hello.c", vec![]),
        ("programs/echo.c", vec!["a", "bc", "def"]),
        ("programs/bench/sieve.c", vec![]),
        ("programs/bench/sort.c", vec![]),
        ("programs/bench/matmul.c", vec![]),
        ("tests/cstar/arith.c", vec![]),
        ("tests/cstar/strings.c", vec![]),
    ];
    for (program, args) in programs {
        let path = root().join(program);
        let Some(native) = run_native(&path, &args) else {
            eprintln!("SKIP: cc not found");
            return;
        };
        let compiled = compile_files(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{e}"));
        match support::run_both(&compiled.elf, &args) {
            Some(ours) => assert_eq!(ours, native, "{program}: C* under qemu vs native C"),
            None => return support::skip(),
        }
    }
}

#[test]
fn a_selfie_style_program_prints_the_same_with_a_c_compiler() {
    // At boot level 0 (cc) printf is the C library's; in C* it is the
    // program's own non_0_boot_level_printf on the var_* macros.
    let path = root().join("programs/selfie/selfie_style.c");
    let Some(native) = run_native_with(&path, &[], false) else {
        eprintln!("SKIP: cc not found");
        return;
    };
    let compiled = compile_files(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        compiled.warnings.is_empty(),
        "selfie_style.c compiles without warnings: {:?}",
        compiled.warnings
    );
    match support::run_both(&compiled.elf, &[]) {
        Some(ours) => {
            assert_eq!(ours, native, "C* under qemu vs native C");
            assert!(ours.0.contains("sum of 1..5 is 15\n"), "{}", ours.0);
        }
        None => support::skip(),
    }
}

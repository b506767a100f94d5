//! The floating-point state is part of a context: saved on every switch,
//! copied by fork, visible in traces, the library and register dumps.
//! Also selfie's division-by-zero trap (`--trap-division-by-zero`), a
//! machine option that is off by default.

mod common;

use sim::emu::{Exception, Reg};
use sim::kernel::Pid;
use sim::toolchain::asm::assemble;
use sim::{Simulator, Trace};

fn program(source: &str) -> Vec<u8> {
    assemble(source, "test.s").unwrap_or_else(|e| panic!("{e}"))
}

/// Sets fa0 to `value` (a double) and frm to `frm`, raises NX, spins
/// `spin` times (long enough for many switches at quantum 1), then exits 0
/// if fa0, frm and fflags are still what it set, else 1.
fn keeper(value: f64, frm: u8, spin: u32) -> Vec<u8> {
    program(&format!(
        "_start:
            li t0, {bits}
            fmv.d.x fa0, t0
            fsrmi {frm}
            li t1, 1
            fcvt.d.w ft1, t1
            li t1, 3
            fcvt.d.w ft2, t1
            fdiv.d ft3, ft1, ft2      # 1/3: inexact, NX
            li t1, {spin}
        spin:
            addi t1, t1, -1
            bnez t1, spin
            fmv.x.d t2, fa0
            bne t2, t0, bad
            frrm t2
            li t3, {frm}
            bne t2, t3, bad
            frflags t2
            li t3, 1
            bne t2, t3, bad
            li a0, 0
            li a7, 93
            ecall
        bad:
            li a0, 1
            li a7, 93
            ecall",
        bits = value.to_bits() as i64,
    ))
}

#[test]
fn context_switches_keep_each_process_fp_registers_and_fcsr() {
    let a = keeper(1.5, 1, 200);
    let b = keeper(-2.25, 3, 200);
    let (s, outcome) = common::simulate(&[&a, &b], |b| b.quantum(1));
    assert_eq!(
        outcome.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(s.stderr())
    );
    // Ended processes keep their registers until reaped.
    assert_eq!(s.fp_register(Pid(1), 10), Some(1.5f64.to_bits()));
    assert_eq!(s.fp_register(Pid(2), 10), Some((-2.25f64).to_bits()));
    assert_eq!(s.fcsr(Pid(1)), Some(1 << 5 | 1));
    assert_eq!(s.fcsr(Pid(2)), Some(3 << 5 | 1));
    let stats = s.stats_report();
    assert!(stats.contains("process 2 (p1): exited 0"), "{stats}");
}

#[test]
fn fork_copies_the_fp_registers_and_fcsr() {
    // The parent sets fa0 and frm, forks; the child checks and changes
    // both and exits 0 if it saw the parent's; the parent waits and exits
    // with the child's status + 10 if its own are unchanged.
    let elf = program(&format!(
        "_start:
            li t0, {bits}
            fmv.d.x fa0, t0
            fsrmi 2
            li a0, 17           # SIGCHLD: fork
            li a1, 0
            li a7, 220          # clone
            ecall
            beqz a0, child
            li a0, -1
            addi sp, sp, -16
            mv a1, sp
            li a2, 0
            li a3, 0
            li a7, 260          # wait4
            ecall
            ld t3, 0(sp)
            srli t3, t3, 8
            fmv.x.d t2, fa0
            bne t2, t0, bad
            frrm t2
            li t4, 2
            bne t2, t4, bad
            addi a0, t3, 10
            li a7, 93
            ecall
        child:
            fmv.x.d t2, fa0
            bne t2, t0, bad
            frrm t2
            li t4, 2
            bne t2, t4, bad
            fmv.d.x fa0, zero
            fsrmi 4
            li a0, 0
            li a7, 93
            ecall
        bad:
            li a0, 1
            li a7, 93
            ecall",
        bits = std::f64::consts::PI.to_bits() as i64,
    ));
    let (s, outcome) = common::simulate(&[&elf], |b| b.quantum(3));
    assert_eq!(
        outcome.exit_code,
        10,
        "{}",
        String::from_utf8_lossy(s.stderr())
    );
}

#[test]
fn the_library_reads_and_sets_fp_registers_and_dumps_them() {
    let elf = program(
        "_start:
            fadd.d fa0, fa1, fa2
            ebreak",
    );
    let mut s = Simulator::builder().capture_output(true).build();
    let pid = s.load_elf(&elf, &["p".into()]).unwrap();
    assert!(s.set_fp_register(0, pid, 11, 1.25f64.to_bits()));
    assert!(s.set_fp_register(0, pid, 12, 2.5f64.to_bits()));
    let event = s.run_until_exception().expect("the ebreak");
    assert!(matches!(event.exception, Exception::Breakpoint { .. }));
    assert_eq!(s.fp_register(pid, 10), Some(3.75f64.to_bits()));
    assert_eq!(s.fcsr(pid), Some(0));
    let dump = s.dump_registers(0, pid).unwrap();
    assert!(dump.contains("fa0=0x400e000000000000 (3.75)"), "{dump}");
    assert!(dump.contains("fa1=0x3ff4000000000000 (1.25)"), "{dump}");
    assert!(!dump.contains("fcsr"), "{dump}");
    assert_eq!(s.register(pid, Reg::A0.index()), Some(0));
}

#[test]
fn the_trace_shows_fp_registers_and_fcsr_changes() {
    let elf = program(
        "_start:
            li a0, 1
            fcvt.s.w fa0, a0
            li a0, 3
            fcvt.s.w fa1, a0
            fdiv.s fa2, fa0, fa1
            li a0, 0
            li a7, 93
            ecall",
    );
    let trace = Trace {
        instructions: true,
        ..Trace::default()
    };
    let (s, outcome) = common::simulate(&[&elf], |b| b.trace(trace));
    assert_eq!(outcome.exit_code, 0);
    let err = String::from_utf8_lossy(s.stderr());
    assert!(
        err.contains("fcvt.s.w fa0,a0  fa0=0xffffffff3f800000 (1f)"),
        "{err}"
    );
    assert!(
        err.contains("fdiv.s fa2,fa0,fa1  fa2=0xffffffff3eaaaaab (0.33333334f)  fcsr=0x1"),
        "{err}"
    );
}

/// `a0 = 7 / 0` (RISC-V: -1) and `7 % 0` (RISC-V: 7), exit with their sum
/// (6); `divw` by a register whose low word is zero too.
const DIVIDE_BY_ZERO: &str = "_start:
    li a0, 7
    li a1, 0
    div a2, a0, a1
    rem a3, a0, a1
    add a0, a2, a3
    li a7, 93
    ecall";

#[test]
fn division_by_zero_gives_risc_v_results_by_default() {
    let (s, outcome) = common::simulate(&[&program(DIVIDE_BY_ZERO)], |b| b);
    assert_eq!(
        outcome.exit_code,
        6,
        "{}",
        String::from_utf8_lossy(s.stderr())
    );
}

#[test]
fn selfie_semantics_trap_division_by_zero() {
    let (s, outcome) = common::simulate(&[&program(DIVIDE_BY_ZERO)], |b| {
        b.trap_division_by_zero(true)
    });
    // SIGFPE, as Linux reports an arithmetic fault.
    assert_eq!(outcome.exit_code, 128 + 8);
    let err = String::from_utf8_lossy(s.stderr());
    assert!(
        err.contains("killed: division by zero at pc 0x10008 (selfie's machine traps it: --trap-division-by-zero"),
        "{err}"
    );
    // The word forms look at the low word only; a non-zero divisor divides.
    let word = program(
        "_start:
            li a0, 7
            li a1, 1
            slli a1, a1, 32       # low word zero
            li a2, 2
            divuw a3, a0, a2      # 3
            remw a4, a0, a2       # 1
            add a0, a3, a4
            divw a5, a0, a1       # traps
            li a7, 93
            ecall",
    );
    let (s, outcome) = common::simulate(&[&word], |b| b.trap_division_by_zero(true));
    assert_eq!(outcome.exit_code, 136);
    let event_pc = String::from_utf8_lossy(s.stderr());
    assert!(event_pc.contains("at pc 0x1001c"), "{event_pc}");
}

#[test]
fn the_division_trap_is_an_exception_the_library_sees() {
    let mut s = Simulator::builder()
        .capture_output(true)
        .trap_division_by_zero(true)
        .build();
    let pid = s.load_elf(&program(DIVIDE_BY_ZERO), &["p".into()]).unwrap();
    let event = s.run_until_exception().expect("the trap");
    assert_eq!(event.exception, Exception::DivisionByZero { pc: 0x10008 });
    assert_eq!(event.pid, pid);
    // The faulting instruction did not run.
    assert_eq!(s.register(pid, Reg::A2.index()), Some(0));
}

#[test]
fn the_command_line_option_traps_division_by_zero() {
    let dir = std::env::temp_dir().join(format!("sim-div0-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("div0.s");
    std::fs::write(&path, DIVIDE_BY_ZERO).unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(extra)
            .arg("-u")
            .arg(&path)
            .output()
            .unwrap()
    };
    assert_eq!(run(&[]).status.code(), Some(6));
    let trapped = run(&["--trap-division-by-zero"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(trapped.status.code(), Some(136));
    assert!(String::from_utf8_lossy(&trapped.stderr).contains("division by zero at pc"));
}

//! `--trace`: runs a context one instruction at a time and prints each
//! instruction, disassembled, with the registers it changed (a
//! floating-point one with its value, and `fcsr` when its flags or
//! rounding mode changed):
//!
//! ```text
//! [1] 0x100b0: addi a0,zero,1  a0=0x1
//! [1] 0x100b4: fcvt.d.w fa0,a0  fa0=0x3ff0000000000000 (1)
//! [1] 0x100b8: fdiv.d fa1,fa0,fa2  fa1=0x3fd5555555555555 (0.3333333333333333)  fcsr=0x1
//! [1] 0x100c4: ecall  → syscall
//! ```

use crate::emu::{self, Access, Exception, Machine, PhysAddr};
use crate::kernel::{Console, Process};

/// Single-steps `process`, printing each instruction, until an exception
/// (the timer counts as one when the machine's count reaches `stop_at`).
pub(super) fn until_exception(
    machine: &mut Machine,
    process: &mut Process,
    stop_at: u64,
    console: &mut Console,
) -> Exception {
    loop {
        if machine.instret() >= stop_at {
            return Exception::Timer;
        }
        let pc = process.hart.pc;
        let text = fetch_for_trace(machine, process, pc);
        let before = process.hart.clone();
        let result = machine.step(&mut process.hart, &mut process.page_table, process.context);
        let changed = changes(&before, &process.hart);
        match result {
            Ok(()) => console
                .write_stderr(format!("[{}] {pc:#x}: {text}{changed}\n", process.pid).as_bytes()),
            Err(e) => {
                console
                    .write_stderr(format!("[{}] {pc:#x}: {text}  → {e}\n", process.pid).as_bytes());
                return e;
            }
        }
    }
}

/// What one instruction changed: `  a0=0x1`, `  fa0=0x... (1.5)`,
/// `  fcsr=0x1`.
fn changes(before: &emu::Hart, after: &emu::Hart) -> String {
    let mut out = String::new();
    if let Some(r) = (1..32).find(|&r| after.regs[r] != before.regs[r]) {
        out += &format!("  {}={:#x}", emu::Reg(r as u8), after.regs[r]);
    }
    if let Some(r) = (0..32).find(|&r| after.f[r] != before.f[r]) {
        out += &format!(
            "  {}={}",
            emu::FReg(r as u8),
            emu::machine::fp_text(after.f[r])
        );
    }
    if after.fcsr != before.fcsr {
        out += &format!("  fcsr={:#x}", after.fcsr);
    }
    out
}

/// The disassembled instruction at `pc`, read without side effects.
fn fetch_for_trace(machine: &Machine, process: &Process, pc: u64) -> String {
    let byte = |a: u64| -> Option<u8> {
        let phys = PhysAddr(process.page_table.translate(a, Access::Execute)?);
        Some(machine.memory().frame_bytes(phys.frame())[phys.offset()])
    };
    let Some(bytes) = (0..4)
        .map(|i| byte(pc + i))
        .collect::<Option<Vec<u8>>>()
        .or_else(|| {
            (0..2)
                .map(|i| byte(pc + i))
                .collect::<Option<Vec<u8>>>()
                .map(|mut v| {
                    v.extend([0, 0]);
                    v
                })
        })
    else {
        return "(not mapped)".into();
    };
    let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match emu::decode(word) {
        Some((inst, _)) => emu::disasm::disassemble(&inst, pc),
        None => format!("(illegal {word:#010x})"),
    }
}

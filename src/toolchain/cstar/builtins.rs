//! The built-in procedures: one ecall stub per entry of `abi::CALLS` that
//! has a C* name, plus selfie's adaptations (`open`, `fork`, `wait`) and
//! `brk`/`close`, which the prelude's `malloc` and file programs use.
//!
//! A stub is an ordinary procedure of the compiler's calling convention
//! (arguments on the stack, `sp` pointing at the first): it loads them into
//! `a0`.., sets the number in `a7`, runs `ecall` and returns `a0`.
//! `codegen` emits a stub only when a program calls it.
//!
//! The atomics (`atomic_swap`, `atomic_add`, `load_reserved`,
//! `store_conditional`; docs/spec/cstar.md) are stubs of the same shape
//! whose body is one RV64A instruction on the doubleword at `a0` instead of
//! an `ecall`: they are for locks on shared memory, which a system call
//! could not make cheaper.

use super::ast::Type;
use crate::abi;
use crate::emu::Reg;

/// Where one of `a0`.. gets its value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// The procedure's n-th argument.
    Param(u8),
    /// A fixed value (selfie's `fork()` is `clone(SIGCHLD, 0, ...)`).
    Const(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    /// How many arguments a C* call passes.
    pub params: usize,
    pub number: u64,
    /// The values of `a0`, `a1`, ... at the `ecall`.
    pub regs: Vec<Arg>,
    pub returns: Type,
    /// The register the call leaves its result in (`a0`, but `a6` for
    /// selfie's `switch`).
    pub result: Reg,
    /// For an atomic: the instruction that replaces `li a7, number; ecall`
    /// (`op.d.aqrl a0, a1, (a0)`).
    pub atomic: Option<crate::emu::AmoOp>,
}

/// `SIGCHLD`: the signal a forked child sends its parent on exit (Linux).
const SIGCHLD: u64 = 17;

/// Every built-in procedure.
pub fn builtins() -> Vec<Builtin> {
    let params = |n: u8| (0..n).map(Arg::Param).collect::<Vec<_>>();
    let mut list = Vec::new();
    for call in abi::CALLS {
        let Some(name) = call.builtin else { continue };
        if call.number == abi::SYS_CLONE {
            continue; // `fork` below
        }
        let returns = if matches!(call.number, abi::SYS_SHM_MAP | abi::SYS_RSHMAT) {
            Type::Uint64Star
        } else {
            Type::Uint64
        };
        list.push(Builtin {
            name,
            params: usize::from(call.args),
            number: call.number,
            regs: params(call.args),
            returns,
            result: Reg::A0,
            atomic: None,
        });
    }
    let special = [
        (
            "open",
            3,
            abi::SYS_OPENAT,
            vec![
                Arg::Const(abi::AT_FDCWD),
                Arg::Param(0),
                Arg::Param(1),
                Arg::Param(2),
            ],
        ),
        (
            "fork",
            0,
            abi::SYS_CLONE,
            vec![
                Arg::Const(SIGCHLD),
                Arg::Const(0),
                Arg::Const(0),
                Arg::Const(0),
                Arg::Const(0),
            ],
        ),
        (
            "wait",
            1,
            abi::SYS_WAIT4,
            vec![
                Arg::Const(u64::MAX),
                Arg::Param(0),
                Arg::Const(0),
                Arg::Const(0),
            ],
        ),
        ("close", 1, abi::SYS_CLOSE, params(1)),
        ("brk", 1, abi::SYS_BRK, params(1)),
    ];
    for (name, n, number, regs) in special {
        list.push(Builtin {
            name,
            params: n,
            number,
            regs,
            returns: Type::Uint64,
            result: Reg::A0,
            atomic: None,
        });
    }
    use crate::emu::AmoOp;
    let atomics = [
        ("atomic_swap", 2, AmoOp::Swap),
        ("atomic_add", 2, AmoOp::Add),
        ("load_reserved", 1, AmoOp::Lr),
        ("store_conditional", 2, AmoOp::Sc),
    ];
    for (name, n, op) in atomics {
        list.push(Builtin {
            name,
            params: n,
            number: 0,
            regs: params(n as u8),
            returns: Type::Uint64,
            result: Reg::A0,
            atomic: Some(op),
        });
    }
    // selfie's hypster_switch(context, timeout): its compiler's stub for
    // the switch call (selfie.c `emit_switch`), which returns the context
    // switched from in a6. Run it with `--abi selfie` (docs/selfie.md). A
    // program's own definition wins, as selfie.c's does.
    list.push(Builtin {
        name: "hypster_switch",
        params: 2,
        number: abi::selfie::SELFIE_SWITCH,
        regs: params(2),
        returns: Type::Uint64Star,
        result: Reg::A6,
        atomic: None,
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_call_has_a_builtin() {
        let all = builtins();
        for call in abi::CALLS {
            if let Some(name) = call.builtin {
                assert!(all.iter().any(|b| b.name == name), "{name} missing");
            }
        }
        let fork = all
            .iter()
            .find(|b| b.name == "fork")
            .map(|b| (b.params, b.number));
        assert_eq!(fork, Some((0, abi::SYS_CLONE)));
    }
}

//! Debugging: from a crash to its cause (docs/debugging.md).
//!
//! | file | what | layer |
//! |---|---|---|
//! | symbols.rs | `Symbols`: functions, globals, lines and unwind rules of any ELF (C*'s and gcc's `-g` output) | beside emu: reads bytes only |
//! | crash.rs | the words of a crash report | beside emu |
//! | session.rs | `Session`: a debugged run with reverse execution (replay), shared by the two front ends | above the simulator |
//! | cli.rs | `sim --debug`: the interactive, gdb-like command loop | above the simulator |
//! | gdb.rs | `sim -g PORT`: the gdb remote stub (gdbstub crate) | above the simulator |
//!
//! The run control they stand on (breakpoints, watchpoints and steps as
//! events, positions, replay) is the simulator's (simulator/control.rs),
//! so a test drives it without any front end; the crash report's facts
//! are gathered by simulator/crash.rs. The emulator has no debugging hook:
//! a run without a debugger attached takes exactly the path it always
//! took.
//!
//! Control flow of a debugged run: a front end reads a command, asks the
//! `Session` (run to a stop, step, reverse-step), which calls
//! `Simulator::run_until`; for a step backwards the session asks the
//! simulator for a replica replayed to the earlier position and continues
//! with that one.

pub mod cli;
pub mod crash;
pub mod gdb;
pub mod session;
pub mod symbols;

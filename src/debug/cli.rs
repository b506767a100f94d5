//! `sim --debug`: the interactive debugger, gdb's commands on sim's own
//! run control. It reads one command a line from its input (a terminal,
//! or a script: a test pipes commands in), prints to its output, and the
//! guests' output is forwarded as it appears (once: a replay does not
//! repeat it).
//!
//! ```text
//! run(simulator, input, output)
//!  └ loop: read a line → `command` → a Session call → print where it stopped
//! ```
//!
//! **Extension point (coursework):** a new command is one arm in
//! `command` and one line in `HELP`.

use std::io::{BufRead, Write};

use super::session::Session;
use super::symbols::parse_address;
use crate::emu::{FReg, Reg};
use crate::kernel::Pid;
use crate::simulator::{Stop, StopReason, WatchKind, Watchpoint};
use crate::Simulator;

const HELP: &str = "\
commands (gdb's names; LOC is a function, FILE:LINE, or *ADDRESS):
  break|b LOC          stop before the instruction at LOC
  delete [ADDRESS]     remove one breakpoint (all without an address)
  watch|rwatch|awatch VAR|ADDRESS   stop on a write / read / either of 8 bytes
  continue|c           run to a breakpoint, watchpoint or the end
  stepi|si             one instruction          reverse-stepi|rsi  one back
  step|s               to the next source line  reverse-step|rs    one line back
  next|n               as step, over calls      finish             to the caller
  reverse-continue|rc  back to the last breakpoint or watchpoint hit
  last-write VAR|ADDRESS  back to the last write of it (by any process)
  print|p $REG|$pc|VAR|ADDRESS   a register (x or f), a C* global, 8 bytes
  x/N ADDRESS|VAR      N 8-byte words of memory
  info registers|r [f] integer (and floating-point) registers
  info breakpoints|watchpoints|pagetable|shm|vmshm|rshm|contexts|processes|position
  backtrace|bt         the focused process's frames
  process VM PID       focus on another process
  quit|q";

/// Runs the command loop on a loaded simulator (built with
/// `capture_output`); returns the exit code of the run (1 when it was
/// left before its end).
///
/// # Errors
/// When the output cannot be written.
pub fn run(sim: Simulator, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<i32, String> {
    let mut session = Session::new(sim);
    let io = |e: std::io::Error| format!("debugger output: {e}");
    writeln!(out, "sim debugger: the program is loaded and stopped before its first instruction; `help` lists the commands").map_err(io)?;
    print_where(&session, out).map_err(io)?;
    let mut line = String::new();
    loop {
        write!(out, "(sim) ").map_err(io)?;
        out.flush().map_err(io)?;
        line.clear();
        if input.read_line(&mut line).map_err(io)? == 0 {
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if matches!(text, "quit" | "q") {
            break;
        }
        let reply = command(&mut session, text);
        let (guest_out, guest_err) = session.take_output();
        out.write_all(&guest_out).map_err(io)?;
        out.write_all(&guest_err).map_err(io)?;
        match reply {
            Ok(text) => write!(out, "{text}").map_err(io)?,
            Err(e) => writeln!(out, "error: {e}").map_err(io)?,
        }
    }
    Ok(session.exited().unwrap_or(1))
}

/// Where the focused process stands: `f+0x8 (loop.c:7) at pc 0x100c8`.
fn place(session: &Session) -> String {
    let Some(pc) = session.pc() else {
        return "the process has ended".into();
    };
    let (vm, pid) = session.focus();
    let at = match session.symbols() {
        Some(s) => s.describe(pc),
        None => format!("{pc:#x}"),
    };
    let vm = if vm > 0 {
        format!("vm {vm} ")
    } else {
        String::new()
    };
    format!(
        "{vm}process {pid} at {at}, pc {pc:#x} (position {})",
        session.sim().position()
    )
}

fn print_where(session: &Session, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", place(session))
}

/// A stop, as gdb words it.
fn describe(session: &Session, reason: &StopReason) -> String {
    match reason {
        StopReason::Breakpoint { .. } => format!("Breakpoint: {}\n", place(session)),
        StopReason::Watch {
            address,
            write,
            old,
            new,
            watch,
            ..
        } => {
            let value = value_of;
            let access = if *write { "write" } else { "read" };
            let mut text = format!(
                "Watchpoint {:#x}: {access} at {address:#x}\n",
                watch.address
            );
            if *write {
                text += &format!("Old value = {}\nNew value = {}\n", value(old), value(new));
            } else {
                text += &format!("Value = {}\n", value(new));
            }
            text + &place(session) + "\n"
        }
        StopReason::Step { .. } | StopReason::Position => place(session) + "\n",
        StopReason::Exited { exit_code } => format!("the run ended, exit code {exit_code}\n"),
    }
}

/// Up to 8 little-endian bytes as a number.
fn value_of(bytes: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    let n = bytes.len().min(8);
    v[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(v)
}

/// The address of what the user named: a C* global, or an address.
fn data_address(session: &Session, text: &str) -> Result<u64, String> {
    let text = text.trim().trim_start_matches('&').trim_start_matches('*');
    if let Some(a) = parse_address(text) {
        return Ok(a);
    }
    session
        .symbols()
        .and_then(|s| s.global(text))
        .map(|g| g.address)
        .ok_or_else(|| format!("no global variable or address {text:?}"))
}

fn register_named(name: &str) -> Option<Result<Reg, FReg>> {
    (0..32u8).map(|i| (Reg(i), FReg(i))).find_map(|(r, f)| {
        if r.to_string() == name || format!("x{}", r.0) == name {
            Some(Ok(r))
        } else if f.to_string() == name || format!("f{}", f.0) == name {
            Some(Err(f))
        } else {
            None
        }
    })
}

/// Runs one command; its reply text.
fn command(session: &mut Session, text: &str) -> Result<String, String> {
    let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    let (vm, pid) = session.focus();
    Ok(match name {
        "help" | "h" => format!("{HELP}\n"),
        "break" | "b" => {
            let symbols = session.symbols();
            let address = symbols
                .and_then(|s| s.resolve_location(rest))
                .or_else(|| parse_address(rest.trim_start_matches('*')))
                .ok_or_else(|| format!("no function, line or address {rest:?}"))?;
            session.sim_mut().add_breakpoint(address);
            let at = session
                .symbols()
                .map_or_else(|| format!("{address:#x}"), |s| s.describe(address));
            format!("Breakpoint at {address:#x}: {at}\n")
        }
        "delete" | "d" => {
            let all = session.sim().breakpoints();
            let chosen: Vec<u64> = match parse_address(rest) {
                Some(a) => vec![a],
                None => all,
            };
            for a in chosen {
                session.sim_mut().remove_breakpoint(a);
            }
            String::new()
        }
        "watch" | "rwatch" | "awatch" => {
            let address = data_address(session, rest)?;
            let kind = match name {
                "watch" => WatchKind::Write,
                "rwatch" => WatchKind::Read,
                _ => WatchKind::Access,
            };
            session.sim_mut().add_watchpoint(Watchpoint {
                address,
                len: 8,
                kind,
            });
            format!("Hardware watchpoint ({kind:?}) on {address:#x} ({rest})\n")
        }
        "continue" | "c" => {
            let reason = session.resume(Stop::Continue);
            describe(session, &reason)
        }
        "stepi" | "si" => {
            let reason = session.resume(Stop::Step);
            describe(session, &reason)
        }
        "step" | "s" => {
            let reason = session.step_line();
            describe(session, &reason)
        }
        "next" | "n" => {
            let reason = session.next_line();
            describe(session, &reason)
        }
        "finish" => {
            let reason = session.finish();
            describe(session, &reason)
        }
        "reverse-stepi" | "rsi" => {
            session.reverse_stepi()?;
            place(session) + "\n"
        }
        "reverse-step" | "rs" => {
            session.reverse_step_line()?;
            place(session) + "\n"
        }
        "reverse-continue" | "rc" => match session.reverse_continue()? {
            Some(reason) => {
                format!("back at the last stop ({})\n", short(&reason)) + &place(session) + "\n"
            }
            None => {
                "No more reverse-execution history: at the start of the run\n".to_string()
                    + &place(session)
                    + "\n"
            }
        },
        "last-write" => {
            let address = data_address(session, rest)?;
            match session.last_write(address, 8)? {
                Some(StopReason::Watch { pid, old, new, .. }) => format!(
                    "the last write of {address:#x} was by process {pid} (it changed {} to {}); it is the next instruction:\n{}\n",
                    value_of(&old),
                    value_of(&new),
                    place(session)
                ),
                _ => format!("nothing wrote {address:#x} before now\n"),
            }
        }
        "print" | "p" => print(session, rest)?,
        "backtrace" | "bt" | "where" => {
            let frames = session.backtrace(32);
            let mut text = String::new();
            for (i, pc) in frames.iter().enumerate() {
                let at = session
                    .symbols()
                    .map_or_else(|| format!("{pc:#x}"), |s| s.describe(*pc));
                text += &format!("#{i} {pc:#x} in {at}\n");
            }
            text
        }
        "process" => {
            let mut words = rest.split_whitespace().map(|w| w.parse::<u64>());
            match (words.next(), words.next()) {
                (Some(Ok(vm)), Some(Ok(pid))) => {
                    session.set_focus(vm as usize, Pid(pid));
                    place(session) + "\n"
                }
                _ => return Err("usage: process VM PID".into()),
            }
        }
        "info" | "i" => info(session, rest, vm, pid)?,
        _ if name.starts_with("x/") || name == "x" => {
            let count: u64 = name
                .strip_prefix("x/")
                .map(|n| n.trim_end_matches(['x', 'g', 'd']))
                .filter(|n| !n.is_empty())
                .map_or(Ok(1), str::parse)
                .map_err(|_| format!("bad count in {name}"))?;
            let address = data_address(session, rest)?;
            let mut text = String::new();
            for i in 0..count.min(256) {
                let a = address + 8 * i;
                match session.sim().read_memory_in(vm, pid, a, 8) {
                    Some(b) => {
                        let v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                        text += &format!("{a:#x}: {v:#018x}\n");
                    }
                    None => {
                        text += &format!("{a:#x}: not mapped\n");
                        break;
                    }
                }
            }
            text
        }
        _ => return Err(format!("unknown command {name:?} (help lists them)")),
    })
}

fn short(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::Breakpoint { .. } => "a breakpoint",
        StopReason::Watch { .. } => "a watchpoint",
        _ => "a stop",
    }
}

fn print(session: &Session, what: &str) -> Result<String, String> {
    let (vm, pid) = session.focus();
    let process = session
        .sim()
        .vm(vm)
        .and_then(|k| k.process(pid))
        .ok_or("no such process")?;
    if let Some(name) = what.strip_prefix('$') {
        if name == "pc" {
            return Ok(format!("$pc = {:#x}\n", process.hart.pc));
        }
        return match register_named(name) {
            Some(Ok(r)) => {
                let v = process.hart.reg(r.index());
                Ok(format!("${name} = {v:#x} ({})\n", v as i64))
            }
            Some(Err(f)) => Ok(format!(
                "${name} = {}\n",
                crate::emu::machine::fp_text(process.hart.fp_reg(f.0 as usize))
            )),
            None => Err(format!("no register {name}")),
        };
    }
    let address = data_address(session, what)?;
    let bytes = session
        .sim()
        .read_memory_in(vm, pid, address, 8)
        .ok_or_else(|| format!("{address:#x} is not mapped"))?;
    let v = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
    Ok(format!("{what} = {} ({v:#x})\n", v as i64))
}

fn info(session: &Session, what: &str, vm: usize, pid: Pid) -> Result<String, String> {
    let sim = session.sim();
    let process = sim.vm(vm).and_then(|k| k.process(pid));
    Ok(match what.split_whitespace().next().unwrap_or("") {
        "registers" | "r" | "reg" => {
            let p = process.ok_or("no such process")?;
            let mut text = format!("pc  {:#x}  {}\n", p.hart.pc, place(session));
            for i in 1..32u8 {
                text += &format!("{:<4}{:#x}\n", Reg(i).to_string(), p.hart.reg(i as usize));
            }
            if what.split_whitespace().nth(1) == Some("f") || what.contains("float") {
                for i in 0..32u8 {
                    text += &format!(
                        "{:<5}{}\n",
                        FReg(i).to_string(),
                        crate::emu::machine::fp_text(p.hart.fp_reg(i as usize))
                    );
                }
                text += &format!("fcsr {:#x}\n", p.hart.fcsr);
            }
            text
        }
        "breakpoints" | "b" => sim
            .breakpoints()
            .iter()
            .map(|a| {
                let at = session
                    .symbols()
                    .map_or_else(|| format!("{a:#x}"), |s| s.describe(*a));
                format!("breakpoint at {a:#x}: {at}\n")
            })
            .collect(),
        "watchpoints" => sim
            .watchpoints()
            .iter()
            .map(|w| {
                format!(
                    "{:?} watchpoint on {:#x} ({} bytes)\n",
                    w.kind, w.address, w.len
                )
            })
            .collect(),
        "pagetable" => {
            let p = process.ok_or("no such process")?;
            let mut text = format!("page table of process {pid}:\n");
            for (page, pte) in p.page_table.entries() {
                text += &format!(
                    "  {:#x} -> frame {:?} {:?}\n",
                    page.address(),
                    pte.frame,
                    pte.flags
                );
            }
            text
        }
        "shm" => sim.dump_shm(),
        "vmshm" => sim.dump_vmshm(),
        "rshm" => "rshm: this run is not an rshm node (sim node / sim cluster)\n".to_string(),
        "contexts" => sim.dump_contexts(),
        "processes" | "threads" => {
            let mut text = String::new();
            for v in 0..sim.vm_count() {
                for p in sim
                    .vm(v)
                    .map(|k| k.processes().iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    text += &format!(
                        "vm {v} process {} ({}) {:?} pc {:#x}\n",
                        p.pid, p.name, p.state, p.hart.pc
                    );
                }
            }
            text
        }
        "position" => format!("position {}\n", sim.position()),
        "line" => {
            let pc = session.pc().ok_or("no such process")?;
            let at = session
                .symbols()
                .map_or_else(|| format!("{pc:#x}"), |s| s.describe(pc));
            format!("{at}\n")
        }
        other => return Err(format!("info {other}: unknown (help lists them)")),
    })
}

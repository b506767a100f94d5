//! The `sim` command line: usage errors, load errors, exit codes, --stats.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

const SIM: &str = env!("CARGO_BIN_EXE_sim");

fn sim(args: &[&str]) -> Output {
    Command::new(SIM).args(args).output().expect("run sim")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sim-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn help_exits_0() {
    let o = sim(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("-u"), "{out}");
    assert!(out.contains("--stats"), "{out}");
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = sim(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("sim:"), "{}", stderr(&o));
}

#[test]
fn an_unknown_option_is_a_usage_error() {
    let o = sim(&["--no-such-option"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).is_empty());
}

#[test]
fn a_missing_file_is_named() {
    let o = sim(&["-u", "missing.elf"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("sim:"), "{err}");
    assert!(err.contains("missing.elf"), "{err}");
}

#[test]
fn a_refused_file_is_named_with_the_reason() {
    let dir = Scratch::new("refused");
    let path = dir.file("text.elf", b"just some text\n");
    let o = sim(&["-u", &path]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("text.elf"), "{err}");
    assert!(err.contains("not an ELF file"), "{err}");
}

#[test]
fn the_exit_code_is_the_guests() {
    let dir = Scratch::new("exit");
    for code in [0, 1, 42, 255] {
        let path = dir.file(&format!("exit{code}.elf"), &writer_elf(b'e', 1, 2, 0, code));
        let o = sim(&["-u", &path]);
        assert_eq!(o.status.code(), Some(code as i32));
        assert_eq!(o.stdout, writer_output(b'e', 2));
    }
}

#[test]
fn stats_prints_the_summary_to_stderr() {
    let dir = Scratch::new("stats");
    let path = dir.file("w.elf", &writer_elf(b's', 1, 3, 10, 9));
    let o = sim(&["-u", &path, "--stats"]);
    assert_eq!(o.status.code(), Some(9));
    assert_eq!(o.stdout, writer_output(b's', 3), "stats go to stderr");
    let err = stderr(&o);
    for word in [
        "instructions",
        "exceptions",
        "syscalls",
        "page faults",
        "frames",
    ] {
        assert!(err.contains(word), "no {word:?} in:\n{err}");
    }
    assert!(err.lines().all(|l| l.starts_with("sim:")), "{err}");
    assert!(err.contains("write 3"), "{err}");
    // Without --stats: nothing on stderr.
    let o = sim(&["-u", &path]);
    assert_eq!(stderr(&o), "");
}

#[test]
fn two_programs_and_the_first_ones_exit_code() {
    let dir = Scratch::new("two");
    let a = dir.file("a.elf", &writer_elf(b'a', 1, 2, 0, 3));
    let b = dir.file("b.elf", &writer_elf(b'b', 2, 2, 0, 4));
    let o = sim(&["-u", &a, "x", "y", "-u", &b]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(o.stdout, writer_output(b'a', 2));
    assert_eq!(o.stderr, writer_output(b'b', 2));
}

#[test]
fn max_instructions_stops_the_run() {
    let dir = Scratch::new("max");
    let path = dir.file("w.elf", &writer_elf(b'm', 1, 100, 1000, 0));
    let o = sim(&["--max-instructions", "5000", "-u", &path]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("sim:") && err.contains("5000"), "{err}");
    assert!(o.stdout.len() < writer_output(b'm', 100).len());
}

#[test]
fn a_killed_first_process_gives_128_plus_the_signal() {
    let dir = Scratch::new("killed");
    let null = Program::of(&[sim::emu::Instruction::Load {
        op: sim::emu::LoadOp::Ld,
        rd: sim::emu::Reg::A0,
        rs1: sim::emu::Reg::ZERO,
        offset: 16,
    }]);
    let path = dir.file("null.elf", &elf_of(&null, None));
    let o = sim(&["-u", &path]);
    assert_eq!(o.status.code(), Some(139));
    let err = stderr(&o);
    assert!(err.starts_with("sim:") && err.contains("0x10"), "{err}");
}

#[test]
fn memory_the_host_cannot_give_is_an_error_not_a_crash() {
    // 64 GiB of physical memory for the machine: more than a development
    // machine lets one process reserve; `sim` must say so and exit 1.
    let o = sim(&["-m", "65536", "-u", "programs/hello.s"]);
    let err = stderr(&o);
    if o.status.code() == Some(0) {
        // A host that grants it runs the program as usual.
        assert_eq!(stdout(&o), "Hello, world!\n");
    } else {
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with("sim:") && err.contains("65536 MiB"),
            "{err}"
        );
    }
}

#[test]
fn a_host_shm_region_larger_than_memory_is_refused_up_front() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/hello.c");
    let o = sim(&["-m", "64", "--host-shm", "64", hello]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--host-shm 64 MiB does not fit in the machine's memory (-m 64 MiB)"),
        "{}",
        stderr(&o)
    );
    // The default region does not stand in the way of a small machine.
    let o = sim(&["-m", "2", hello]);
    assert_eq!(stdout(&o), "Hello, world!\n", "{}", stderr(&o));
}

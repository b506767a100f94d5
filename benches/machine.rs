//! The machine's speed on CPU-bound guest programs: `sim` with its JIT
//! tier, `sim --no-jit` (the interpreter alone) and qemu-riscv64, side by
//! side on the same ELF.
//!
//! `cargo bench --bench machine` compiles each C* program of
//! programs/bench/ (but forkloop.c) with sim's compiler and, when riscv64-linux-gnu-gcc is
//! installed, each gcc -O2 program of benches/programs/ (freestanding, with
//! tests/c/start.S), plus any ELF given (`cargo bench --bench machine --
//! prog.elf ...`). It then runs the three commands in turn, one warm-up and
//! `RUNS` timed rounds (sim, sim --no-jit, qemu, sim, ...: alternating, so
//! that a drift of the machine's speed hits all three alike), and prints
//! the median CPU time (user + system, from `getrusage` of the finished
//! child) of each and the ratios to qemu. The instruction count comes from
//! `sim` and is exact and the same under both tiers.
//!
//! With `-- --cachegrind` (and valgrind installed) it also prints host
//! instructions per guest instruction of both tiers over the first 50
//! million guest instructions.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const RUNS: usize = 5;
const CACHEGRIND_INSTRUCTIONS: u64 = 50_000_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time (user + system) of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed value we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `command` to its end; its CPU time, `None` if it could not start.
fn cpu_time(command: &mut Command) -> Option<Duration> {
    let before = children_cpu();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.code()?;
    Some(children_cpu() - before)
}

fn sim_command(elf: &Path, jit: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sim"));
    if !jit {
        c.arg("--no-jit");
    }
    c.arg("-u").arg(elf);
    c
}

fn qemu_command(elf: &Path) -> Command {
    let mut c = Command::new("qemu-riscv64");
    c.arg(elf);
    c
}

fn instructions(elf: &[u8]) -> u64 {
    let mut simulator = sim::Simulator::builder().capture_output(true).build();
    simulator
        .load_elf(elf, &["bench".to_string()])
        .expect("load");
    simulator.run().instructions
}

/// Host instructions per guest instruction over the first
/// `CACHEGRIND_INSTRUCTIONS`, by cachegrind.
fn host_per_guest(elf: &Path, jit: bool) -> Option<f64> {
    let mut c = Command::new("valgrind");
    c.args([
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
    ])
    .arg(env!("CARGO_BIN_EXE_sim"));
    if !jit {
        c.arg("--no-jit");
    }
    c.arg("-u")
        .arg(elf)
        .arg("--max-instructions")
        .arg(CACHEGRIND_INSTRUCTIONS.to_string());
    let out = c.stdout(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("I refs") || l.contains("I   refs"))?;
    let refs: u64 = line
        .rsplit(':')
        .next()?
        .trim()
        .replace(',', "")
        .parse()
        .ok()?;
    Some(refs as f64 / CACHEGRIND_INSTRUCTIONS as f64)
}

fn sources(dir: &str) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.retain(|p| p.extension().is_some_and(|e| e == "c"));
    sources.sort();
    sources
}

fn gcc(source: &Path, out: &Path) -> Option<Vec<u8>> {
    let status = Command::new("riscv64-linux-gnu-gcc")
        .args([
            "-O2",
            "-march=rv64gc",
            "-mabi=lp64d",
            "-static",
            "-nostdlib",
        ])
        .args([
            "-ffreestanding",
            "-fno-builtin",
            "-Itests/c",
            "tests/c/start.S",
        ])
        .arg(source)
        .arg("-o")
        .arg(out)
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(out).ok())?
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cachegrind = args.iter().any(|a| a == "--cachegrind");
    let dir = std::env::temp_dir().join(format!("sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut programs: Vec<(String, Vec<u8>)> = Vec::new();
    for source in sources("programs/bench") {
        // forkloop.c measures the kernel's process table, not the CPU (and
        // 50,000 forks take minutes under qemu).
        if source.ends_with("forkloop.c") {
            continue;
        }
        let elf = sim::toolchain::build_program(std::slice::from_ref(&source)).expect("compile");
        programs.push((source.display().to_string(), elf));
    }
    for source in sources("benches/programs") {
        match gcc(&source, &dir.join("gcc.elf")) {
            Some(elf) => programs.push((source.display().to_string(), elf)),
            None => eprintln!(
                "skip {}: riscv64-linux-gnu-gcc failed or missing",
                source.display()
            ),
        }
    }
    for arg in args.iter().filter(|a| !a.starts_with('-')) {
        let elf = std::fs::read(arg).expect("read ELF");
        programs.push((arg.clone(), elf));
    }
    let has_qemu = cpu_time(Command::new("qemu-riscv64").arg("--version")).is_some();
    println!(
        "{:<30} {:>13} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "program", "instructions", "jit", "interp", "qemu", "jit/qemu", "int/qemu"
    );
    for (name, elf) in &programs {
        let path = dir.join("bench.elf");
        std::fs::write(&path, elf).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let instructions = instructions(elf);
        let (mut jit, mut interp, mut qemu) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..=RUNS {
            let j = cpu_time(&mut sim_command(&path, true)).expect("run sim");
            let i = cpu_time(&mut sim_command(&path, false)).expect("run sim");
            let q = has_qemu
                .then(|| cpu_time(&mut qemu_command(&path)))
                .flatten();
            if round > 0 {
                jit.push(j);
                interp.push(i);
                qemu.extend(q);
            }
        }
        let (jit, interp) = (median(jit).as_secs_f64(), median(interp).as_secs_f64());
        let (q, jq, iq) = if qemu.is_empty() {
            ("-".to_string(), "-".to_string(), "-".to_string())
        } else {
            let q = median(qemu).as_secs_f64();
            (
                format!("{q:.3}"),
                format!("{:.2}", jit / q),
                format!("{:.2}", interp / q),
            )
        };
        println!("{name:<30} {instructions:>13} {jit:>8.3} {interp:>8.3} {q:>8} {jq:>9} {iq:>9}");
        if cachegrind {
            let per =
                |jit| host_per_guest(&path, jit).map_or("-".to_string(), |v| format!("{v:.2}"));
            println!(
                "{:<30} host instructions per guest instruction: jit {}, interp {}",
                "",
                per(true),
                per(false)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

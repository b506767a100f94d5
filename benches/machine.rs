//! The machine's speed on CPU-bound guest programs, side by side with
//! qemu-riscv64 on the same ELF.
//!
//! `cargo bench --bench machine` compiles each program of programs/bench/
//! (C*) and, when given, extra ELF files (`cargo bench --bench machine --
//! prog.elf ...`), then alternates runs of `sim` (the library, in this
//! process) and `qemu-riscv64` (a child process; skipped when not
//! installed), five of each, and prints the median wall times, the guest
//! instructions per second of `sim` (MIPS) and the ratio sim/qemu. The
//! instruction count comes from `sim` and is exact (deterministic).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run_sim(elf: &[u8]) -> (Duration, u64) {
    let mut simulator = sim::Simulator::builder().capture_output(true).build();
    simulator
        .load_elf(elf, &["bench".to_string()])
        .expect("load");
    let start = Instant::now();
    let outcome = simulator.run();
    (start.elapsed(), outcome.instructions)
}

fn run_qemu(path: &Path) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("qemu-riscv64")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.code()?;
    Some(start.elapsed())
}

fn main() {
    let mut programs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut sources: Vec<PathBuf> = std::fs::read_dir("programs/bench")
        .expect("programs/bench")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    for source in sources {
        let elf = sim::toolchain::build_program(std::slice::from_ref(&source)).expect("compile");
        programs.push((source.display().to_string(), elf));
    }
    for arg in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        let elf = std::fs::read(&arg).expect("read ELF");
        programs.push((arg, elf));
    }
    let dir = std::env::temp_dir().join(format!("sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!(
        "{:<28} {:>14} {:>10} {:>8} {:>10} {:>8}",
        "program", "instructions", "sim", "MIPS", "qemu", "sim/qemu"
    );
    for (name, elf) in &programs {
        let path = dir.join("bench.elf");
        std::fs::write(&path, elf).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let (mut sim_times, mut qemu_times) = (Vec::new(), Vec::new());
        let mut instructions = 0;
        run_sim(elf); // warm-up
        run_qemu(&path);
        for _ in 0..RUNS {
            let (t, n) = run_sim(elf);
            sim_times.push(t);
            instructions = n;
            if let Some(t) = run_qemu(&path) {
                qemu_times.push(t);
            }
        }
        let sim_time = median(sim_times);
        let mips = instructions as f64 / sim_time.as_secs_f64() / 1e6;
        let (qemu, ratio) = if qemu_times.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            let q = median(qemu_times);
            (
                format!("{:.3} s", q.as_secs_f64()),
                format!("{:.2}", sim_time.as_secs_f64() / q.as_secs_f64()),
            )
        };
        println!(
            "{:<28} {:>14} {:>8.3} s {:>8.0} {:>10} {:>8}",
            name,
            instructions,
            sim_time.as_secs_f64(),
            mips,
            qemu,
            ratio
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

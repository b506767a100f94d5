//! Costs of named shared memory (docs/PERFORMANCE.md, "Named shared
//! memory"):
//!
//! 1. host time per page of `shm_map` and `shm_close` for a 4 MiB object
//!    (1024 pages), each call issued through the kernel's syscall dispatch;
//! 2. guest stores through shared pages against private pages
//!    (programs/shm/bench_stores.c): the same speed is expected.
//!
//! `cargo bench --bench shm` (plain `std::time`, no harness).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sim::abi::layout::STACK_TOP;
use sim::abi::*;
use sim::kernel::Pid;
use sim::Simulator;

const PAGES: u64 = 1024;
const ROUNDS: u32 = 50;

fn call(sim: &mut Simulator, pid: Pid, number: u64, args: &[u64]) -> u64 {
    sim.syscall(0, pid, number, args).expect("a0")
}

fn timed(total: &mut Duration, f: impl FnOnce() -> u64) -> u64 {
    let start = Instant::now();
    let v = f();
    *total += start.elapsed();
    assert!(v < (-4095i64) as u64, "call failed: {v:#x}");
    v
}

fn map_and_close() {
    let source = [(
        "idle.c".to_string(),
        "uint64_t main() { while (1) yield(); return 0; }".to_string(),
    )];
    let elf = sim::toolchain::cstar::compile(&source).expect("idle").elf;
    let (mut map, mut close_copy, mut close_last) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    // One machine for all rounds: after the first round the frames come
    // from the free list, so the figures are the steady state (the very
    // first touch of a host page would add the host's page fault).
    let mut sim = Simulator::builder().capture_output(true).build();
    for round in 0..=ROUNDS {
        let a = sim.load_elf(&elf, &["a".into()]).expect("load");
        let b = sim.load_elf(&elf, &["b".into()]).expect("load");
        let name_at = STACK_TOP - 0x10000;
        for pid in [a, b] {
            sim.copy_to_guest(0, pid, name_at, b"big\0").expect("name");
        }
        let (mut m, mut cc, mut cl) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let id = call(&mut sim, a, SYS_SHM_OPEN, &[name_at]);
        call(&mut sim, b, SYS_SHM_OPEN, &[name_at]);
        call(&mut sim, a, SYS_SHM_SIZE, &[id, PAGES * 4096]);
        timed(&mut m, || call(&mut sim, a, SYS_SHM_MAP, &[0, id]));
        timed(&mut m, || call(&mut sim, b, SYS_SHM_MAP, &[0, id]));
        // a leaves first: 1024 private copies; b is last: keeps the frames.
        timed(&mut cc, || call(&mut sim, a, SYS_SHM_CLOSE, &[id]));
        timed(&mut cl, || call(&mut sim, b, SYS_SHM_CLOSE, &[id]));
        assert!(sim.kernel().shm().objects().is_empty(), "round {round}");
        call(&mut sim, a, SYS_EXIT, &[0]);
        call(&mut sim, b, SYS_EXIT, &[0]);
        if round > 0 {
            map += m;
            close_copy += cc;
            close_last += cl;
        }
    }
    let per_page = |d: Duration, calls: u32| d.as_nanos() as f64 / f64::from(calls) / PAGES as f64;
    println!(
        "shm_map of 4 MiB:                  {:7.1} ns/page",
        per_page(map, 2 * ROUNDS)
    );
    println!(
        "shm_close, private copies, 4 MiB:  {:7.1} ns/page",
        per_page(close_copy, ROUNDS)
    );
    println!(
        "shm_close, last client, 4 MiB:     {:7.1} ns/page",
        per_page(close_last, ROUNDS)
    );
}

fn stores(shared: bool) -> (f64, u64) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("programs/shm/bench_stores.c");
    let mut best = f64::MAX;
    let mut instructions = 0;
    for _ in 0..5 {
        let mut sim = Simulator::builder().capture_output(true).build();
        let mut args = vec!["bench_stores".to_string()];
        if shared {
            args.push("shared".into());
        }
        sim.load_program(&path, &args).expect("bench_stores.c");
        let start = Instant::now();
        let outcome = sim.run();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(outcome.exit_code, 0);
        best = best.min(secs);
        instructions = outcome.instructions;
    }
    (best, instructions)
}

fn main() {
    map_and_close();
    let stores_per_run = 32.0 * 524_288.0;
    for (label, shared) in [("private", false), ("shared", true)] {
        let (secs, instructions) = stores(shared);
        println!(
            "guest stores, {label:7} pages: {:6.2} ns/store, {:5.0} MIPS ({instructions} instructions, best of 5: {:.3} s)",
            secs * 1e9 / stores_per_run,
            instructions as f64 / secs / 1e6,
            secs
        );
    }
}

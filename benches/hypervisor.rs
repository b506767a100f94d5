//! The cost of the hypervisor, side by side with running directly:
//!
//! 1. a CPU-bound program (programs/bench/matmul.c) under `-u` and under
//!    `-k programs/kernels/rr.c -u`;
//! 2. a syscall-heavy program (getpid in a loop) the same way, where rr
//!    forwards every call with `hv_forward`;
//! 3. the host cost of one context switch: a guest kernel calls
//!    `hv_switch` on a child whose first instruction is an `ecall`, so each
//!    round trip is two exceptions and two switches (kernel → child →
//!    kernel) and nothing else; compared with a process calling getpid
//!    (one exception, no switch).
//!
//! `cargo bench --bench hypervisor` (release profile). Figures go to
//! docs/PERFORMANCE.md, "Hypervisor".

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sim::kernel::Mode;
use sim::Simulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(path: &Path) -> Vec<u8> {
    sim::toolchain::build_program(&[path.to_path_buf()]).expect("builds")
}

fn build_source(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hypervisor-bench");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join(format!("{name}.c"));
    std::fs::write(&path, source).expect("writes the source");
    build(&path)
}

/// Runs `program` (under `kernel` if given) and returns the best wall time
/// of `runs` runs and the instructions of one run.
fn time(kernel: Option<&[u8]>, program: Option<&[u8]>, runs: usize) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut instructions = 0;
    for _ in 0..runs {
        let mut s = Simulator::builder().capture_output(true).build();
        let supervisor = kernel.map(|k| {
            s.load_elf_in(0, k, &["kernel".into()], Mode::Kernel, None)
                .expect("kernel loads")
        });
        if let Some(p) = program {
            s.load_elf_in(0, p, &["prog".into()], Mode::User, supervisor)
                .expect("program loads");
        }
        let started = Instant::now();
        let outcome = s.run();
        best = best.min(started.elapsed());
        instructions = outcome.instructions;
        assert_eq!(
            outcome.exit_code,
            0,
            "{}",
            String::from_utf8_lossy(s.stderr())
        );
    }
    (best, instructions)
}

fn side_by_side(name: &str, program: &[u8], rr: &[u8], runs: usize) {
    let (direct, n) = time(None, Some(program), runs);
    let (guest, m) = time(Some(rr), Some(program), runs);
    println!(
        "{name:<22} -u {:>8.3} s ({:>4.0} MIPS)   -k rr -u {:>8.3} s ({:>4.0} MIPS)   slowdown {:.2}x",
        direct.as_secs_f64(),
        n as f64 / direct.as_secs_f64() / 1e6,
        guest.as_secs_f64(),
        m as f64 / guest.as_secs_f64() / 1e6,
        guest.as_secs_f64() / direct.as_secs_f64()
    );
}

const CALLS: u64 = 200_000;

fn main() {
    let rr = build(&root().join("programs/kernels/rr.c"));
    let matmul = build(&root().join("programs/bench/matmul.c"));
    let getpid = build_source(
        "getpid_loop",
        &format!(
            "uint64_t main() {{
               uint64_t i;
               i = 0;
               while (i < {CALLS}) {{
                 getpid();
                 i = i + 1;
               }}
               return 0;
             }}"
        ),
    );
    side_by_side("matmul (CPU-bound)", &matmul, &rr, 3);
    side_by_side(&format!("getpid x {CALLS}"), &getpid, &rr, 3);

    // One round trip: the kernel's hv_switch (a hypercall), the switch to
    // the child, its ecall (delivered to the kernel), the switch back.
    let switcher = build_source(
        "switch_loop",
        &format!(
            "uint64_t main() {{
               uint64_t id;
               uint64_t* code;
               uint64_t i;
               id = hv_create();
               code = malloc(8192);
               code = (uint64_t*) (((uint64_t) code + 4095) / 4096 * 4096);
               *code = 0x73;   // ecall
               hv_map(id, 65536, (uint64_t) code, 5);
               hv_set_reg(id, 32, 65536);
               i = 0;
               while (i < {CALLS}) {{
                 hv_switch(id);
                 i = i + 1;
               }}
               hv_delete(id);
               return 0;
             }}"
        ),
    );
    let (switches, _) = time(Some(&switcher), None, 3);
    let (calls, _) = time(None, Some(&getpid), 3);
    let per_trip = switches.as_nanos() as f64 / CALLS as f64;
    let per_call = calls.as_nanos() as f64 / CALLS as f64;
    println!("getpid (1 exception, no switch):               {per_call:>8.0} ns");
    println!("hv_switch round trip (2 exceptions, 2 switches): {per_trip:>8.0} ns");
    println!(
        "one context switch through the host, (trip - 2 getpid) / 2: {:>8.0} ns (<= 0: below the noise)",
        (per_trip - 2.0 * per_call) / 2.0
    );
}

//! Grading tests of assignments/sync (locks on shared memory) and the
//! tests of C*'s atomic built-ins they rest on (docs/spec/cstar.md,
//! "Atomics"): `atomic_swap`, `atomic_add`, `load_reserved`,
//! `store_conditional` compile to one RV64A instruction each and stay
//! exact across processes that share a page, whatever the quantum.

use std::path::{Path, PathBuf};

use sim::emu::{AmoOp, Instruction};
use sim::Simulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(path: &Path) -> Vec<u8> {
    sim::toolchain::build_program(&[path.to_path_buf()])
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn build_source(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("assignment_sync");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join(format!("{name}_{}.c", std::process::id()));
    std::fs::write(&path, source).expect("writes");
    build(&path)
}

/// Runs `elf` with `quantum` instructions per slice; stdout and exit code.
fn run(elf: &[u8], quantum: u64) -> (String, i32) {
    let mut s = Simulator::builder()
        .capture_output(true)
        .quantum(quantum)
        .max_instructions(20_000_000)
        .build();
    s.load_elf(elf, &["prog".to_string()]).expect("loads");
    let outcome = s.run();
    (
        String::from_utf8_lossy(s.stdout()).into(),
        outcome.exit_code,
    )
}

fn counter() -> Vec<u8> {
    build(&root().join("programs/sync/counter.c"))
}

#[test]
fn four_processes_count_exactly_under_the_lock() {
    assert_eq!(run(&counter(), 10_000), ("counter 4000\n".to_string(), 0));
}

#[test]
fn the_count_is_exact_with_a_tiny_quantum() {
    // Preempted every few instructions: inside lock() and unlock() too.
    for quantum in [3, 7, 50] {
        assert_eq!(
            run(&counter(), quantum).0,
            "counter 4000\n",
            "quantum {quantum}"
        );
    }
}

#[test]
fn the_lock_is_built_from_an_atomic_instruction() {
    // The compiled program holds an AMO or an lr/sc pair: a lock of plain
    // loads and stores cannot be correct under preemption.
    let bytes = counter();
    let found = bytes.chunks_exact(4).any(|w| {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        matches!(
            sim::emu::decode32(word),
            Some(Instruction::Amo {
                op: AmoOp::Swap | AmoOp::Add | AmoOp::Lr | AmoOp::Sc,
                ..
            })
        )
    });
    assert!(
        found,
        "no atomic instruction in programs/sync/counter.c's code"
    );
}

const ATOMICS: &str = r#"
uint64_t* shared;
uint64_t* status;
uint64_t main() {
  uint64_t id;
  uint64_t i;
  uint64_t k;
  uint64_t v;
  status = malloc(8);
  id = shm_open("atomics");
  shm_size(id, 4096);
  shared = shm_map(0, id);
  k = 0;
  while (k < 3) {
    if (fork() == 0) {
      i = 0;
      while (i < 500) {
        atomic_add(shared, 2);
        v = load_reserved(shared + 1);
        while (store_conditional(shared + 1, v + 1) != 0)
          v = load_reserved(shared + 1);
        i = i + 1;
      }
      exit(0);
    }
    k = k + 1;
  }
  k = 0;
  while (k < 3) { wait(status); k = k + 1; }
  print_unsigned(*shared); print(" "); print_unsigned(*(shared + 1)); println();
  v = atomic_swap(shared, 42);
  print_unsigned(v); print(" "); print_unsigned(*shared); println();
  return 0;
}
"#;

#[test]
fn atomic_builtins_are_exact_across_processes() {
    let elf = build_source("atomics", ATOMICS);
    // Not a quantum below the length of the lr..sc sequence (two calls):
    // every sc would fail, as on hardware without a forward-progress
    // guarantee (docs/spec/cstar.md).
    for quantum in [50, 10_000] {
        assert_eq!(
            run(&elf, quantum).0,
            "3000 1500\n3000 42\n",
            "quantum {quantum}"
        );
    }
}

#[test]
fn a_misaligned_atomic_kills_the_process_with_a_message() {
    let elf = build_source(
        "misaligned",
        "uint64_t main() { uint64_t* p; p = malloc(16); atomic_add((uint64_t*) ((uint64_t) p + 4), 1); print(\"survived\\n\"); return 0; }",
    );
    let mut s = Simulator::builder().capture_output(true).build();
    s.load_elf(&elf, &["m".to_string()]).expect("loads");
    s.run();
    assert_eq!(s.stdout(), b"");
    let stderr = String::from_utf8_lossy(s.stderr());
    assert!(stderr.contains("misaligned"), "{stderr}");
}

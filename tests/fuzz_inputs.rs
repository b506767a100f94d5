//! Regressions of what the fuzz harness and its attacker-style runs found
//! in the command line and the files it reads (examples/fuzz/,
//! docs/RELIABILITY.md "Fuzzing").

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_sim");

/// Runs sim with `args`; fails the test if it is still running after the
/// deadline (then it is killed). Returns the exit code and stderr.
fn sim_within(args: &[&str], deadline: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(SIM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sim");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for sim") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr)
                .expect("read stderr");
            return (status.code(), stderr);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sim {args:?} still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An endless file as a program, a source or a scenario was read whole:
/// sim took gigabytes and never answered. Now it reads at most the limit
/// and says so.
#[test]
fn endless_input_files_are_refused_not_read_forever() {
    for args in [
        &["-u", "/dev/zero"][..],
        &["--scenario", "/dev/zero"],
        &["-c", "/dev/zero", "-o", "/dev/null"],
    ] {
        let (code, stderr) = sim_within(args, Duration::from_secs(60));
        assert_eq!(code, Some(1), "sim {args:?}: {stderr}");
        assert!(
            stderr.contains("/dev/zero: cannot read: larger than"),
            "sim {args:?}: {stderr}"
        );
    }
}

/// `sim node --cluster-key /dev/zero` read the key file whole (gigabytes,
/// no end); now a key file beyond 64 KiB is refused.
#[test]
fn an_endless_cluster_key_file_is_refused() {
    let (code, stderr) = sim_within(
        &[
            "node",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--cluster-key",
            "/dev/zero",
            "-u",
            concat!(env!("CARGO_MANIFEST_DIR"), "/programs/hello.s"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--cluster-key /dev/zero: larger than"),
        "{stderr}"
    );
}

/// munmap, mprotect and mremap of a range of 2^39 bytes used to walk it
/// page by page (2^27 pages): the fuzzer's `insn` and `syscalls` targets
/// hung there. The cost now follows the mapped pages, and a range beyond
/// the user address space is EINVAL as on Linux.
#[test]
fn huge_memory_ranges_are_quick() {
    let dir = std::env::temp_dir().join(format!("sim-huge-ranges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = dir.join("huge.s");
    // munmap(0x1000, 2^39) then mprotect(0x20_0000_0000, 2^36, PROT_READ): the
    // exit code is 1 + (munmap's result is -EINVAL) + 2 * (mprotect's is 0).
    std::fs::write(
        &source,
        "
        .text
        .globl _start
_start:
        li a0, 0x1000
        li a1, 0x8000000000
        li a7, 215
        ecall
        li t0, -22
        li s1, 1
        bne a0, t0, 1f
        addi s1, s1, 1
1:
        li a0, 0x2000000000
        li a1, 0x1000000000
        li a2, 1
        li a7, 226
        ecall
        bne a0, zero, 2f
        addi s1, s1, 2
2:
        mv a0, s1
        li a7, 93
        ecall
",
    )
    .expect("write huge.s");
    let path = source.to_str().expect("utf-8 path");
    let (code, stderr) = sim_within(&["-u", path], Duration::from_secs(30));
    assert_eq!(code, Some(4), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

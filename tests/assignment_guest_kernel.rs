//! Grading tests of assignments/guest-kernel: a guest kernel in C*
//! (programs/kernels/rr.c) that schedules its children round robin and
//! does a kernel's work itself — it backs their page faults under guest
//! paging (hv_paging, hv_map) and serves their writes by copying from their
//! memory (hv_read) — instead of forwarding everything to the host.
//!
//! The checks step through every exception with the library's stepping
//! API (`run_until_exception` / `handle`) and watch the kernel's
//! hypercalls. `a_kernel_that_only_switches_and_forwards_fails_the_checks`
//! shows that tests/fixtures/forward_kernel.c, which does nothing real,
//! fails them.

use std::path::{Path, PathBuf};

use sim::abi;
use sim::emu::{Exception, Reg};
use sim::kernel::process::Mode;
use sim::Simulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(path: &Path) -> Vec<u8> {
    sim::toolchain::build_program(&[path.to_path_buf()])
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

/// Compiles C* source text written to a file of its own: the tests run in
/// parallel and several build the same child, so one file per call (a
/// shared file could be read while another test truncates it).
fn build_source(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("assignment_guest_kernel");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{name}_{}_{n}.c", std::process::id()));
    std::fs::write(&path, source).expect("writes");
    build(&path)
}

/// A child that uses its heap (64 KiB through malloc) and its stack, then
/// writes a line that proves it read back what it stored.
const HEAP_CHILD: &str = r#"
uint64_t main() {
  uint64_t* a;
  uint64_t i;
  uint64_t sum;
  a = malloc(8192 * 8);
  i = 0;
  while (i < 8192) { *(a + i) = i; i = i + 1; }
  sum = 0;
  i = 0;
  while (i < 8192) { sum = sum + *(a + i); i = i + 1; }
  if (sum == 33550336) print("heap ok\n"); else print("heap WRONG\n");
  return 7;
}
"#;

/// A child that dereferences a null pointer.
const NULL_CHILD: &str = r#"
uint64_t main() {
  uint64_t* p;
  p = (uint64_t*) 0;
  return *p;
}
"#;

/// What the kernel did, seen from the host.
#[derive(Debug, Default)]
struct Observed {
    stdout: String,
    stderr: String,
    exit_code: i32,
    /// hv_forward calls of the kernel, by the child's pending exception.
    forwarded_faults: usize,
    forwarded_writes: usize,
    hv_maps: usize,
    hv_reads: usize,
    guest_paging: bool,
    /// Child pages whose frame is not one the kernel maps too: backed by
    /// the host, not by the kernel (stack and ELF segments excepted).
    host_backed_heap_pages: usize,
}

fn observe(kernel: &[u8], children: &[(&str, Vec<u8>)]) -> Observed {
    let mut s = Simulator::builder()
        .capture_output(true)
        .max_instructions(50_000_000)
        .build();
    let k = s
        .load_elf_in(0, kernel, &["kernel".to_string()], Mode::Kernel, None)
        .expect("kernel loads");
    let mut pids = Vec::new();
    for (name, elf) in children {
        pids.push(
            s.load_elf_in(0, elf, &[name.to_string()], Mode::User, Some(k))
                .expect("child loads"),
        );
    }
    let mut o = Observed::default();
    while let Some(event) = s.run_until_exception() {
        if event.exception == Exception::Syscall && event.pid == k {
            let number = s.register(k, Reg::A7.index()).unwrap_or(0);
            let id = sim::ids::Pid(s.register(k, Reg::A0.index()).unwrap_or(0));
            match number {
                abi::HV_FORWARD => match s.process(id).and_then(|c| c.pending) {
                    Some(Exception::PageFault { .. }) => o.forwarded_faults += 1,
                    Some(Exception::Syscall)
                        if s.register(id, Reg::A7.index()) == Some(abi::SYS_WRITE) =>
                    {
                        o.forwarded_writes += 1
                    }
                    _ => {}
                },
                abi::HV_MAP => o.hv_maps += 1,
                abi::HV_READ => o.hv_reads += 1,
                abi::HV_PAGING => o.guest_paging |= id.0 == abi::HV_PAGING_GUEST,
                _ => {}
            }
        }
        // At a child's exit: which of its heap pages did the kernel back?
        if event.exception == Exception::Syscall
            && pids.contains(&event.pid)
            && s.register(event.pid, Reg::A7.index()) == Some(abi::SYS_EXIT)
        {
            if let (Some(child), Some(kern)) = (s.process(event.pid), s.process(k)) {
                let kernel_frames: std::collections::HashSet<_> = kern
                    .page_table
                    .entries()
                    .map(|(_, pte)| pte.frame)
                    .collect();
                o.host_backed_heap_pages += child
                    .page_table
                    .entries()
                    .filter(|(page, pte)| {
                        page.address() >= child.heap_start
                            && page.address() < abi::layout::SHM_BASE
                            && !kernel_frames.contains(&pte.frame)
                    })
                    .count();
            }
        }
        s.handle(event);
    }
    let outcome = s.run();
    o.stdout = String::from_utf8_lossy(s.stdout()).into();
    o.stderr = String::from_utf8_lossy(s.stderr()).into();
    o.exit_code = outcome.exit_code;
    o
}

fn rr() -> Vec<u8> {
    build(&root().join("programs/kernels/rr.c"))
}

fn hello() -> Vec<u8> {
    build(&root().join("programs/hello.c"))
}

/// The checks of the assignment, for any kernel: the failures, empty when
/// the kernel does the work itself.
fn check(kernel: &[u8]) -> Vec<String> {
    let mut failures = Vec::new();
    let o = observe(
        kernel,
        &[
            ("heap", build_source("heap", HEAP_CHILD)),
            ("hello", hello()),
        ],
    );
    if !(o.stdout.contains("heap ok\n") && o.stdout.contains("Hello, world!\n")) {
        failures.push(format!("children's output wrong: {:?}", o.stdout));
    }
    if !o.guest_paging {
        failures.push("never asked for guest paging (hv_paging(1))".into());
    }
    if o.forwarded_faults > 0 || o.hv_maps == 0 || o.host_backed_heap_pages > 0 {
        failures.push(format!(
            "page faults not handled by the kernel: {} forwarded, {} hv_map, {} heap pages backed by the host",
            o.forwarded_faults, o.hv_maps, o.host_backed_heap_pages
        ));
    }
    if o.forwarded_writes > 0 || o.hv_reads == 0 {
        failures.push(format!(
            "writes not served by the kernel: {} forwarded, {} hv_read",
            o.forwarded_writes, o.hv_reads
        ));
    }
    failures
}

#[test]
fn children_run_round_robin_with_their_output_and_exit_codes() {
    let o = observe(
        &rr(),
        &[
            ("heap", build_source("heap", HEAP_CHILD)),
            ("hello", hello()),
        ],
    );
    assert!(o.stdout.contains("heap ok\n"), "{o:?}");
    assert!(o.stdout.contains("Hello, world!\n"), "{o:?}");
    assert!(o.stderr.contains("exited with 7"), "{o:?}");
    assert_eq!(
        o.exit_code, 7,
        "the kernel exits with its first child's code"
    );
}

#[test]
fn page_faults_are_backed_by_the_kernel_under_guest_paging() {
    let o = observe(&rr(), &[("heap", build_source("heap", HEAP_CHILD))]);
    assert!(o.guest_paging, "rr must call hv_paging(1)");
    assert_eq!(o.forwarded_faults, 0, "{o:?}");
    assert!(
        o.hv_maps >= 16,
        "64 KiB of heap needs 16 pages at least: {o:?}"
    );
    assert_eq!(o.host_backed_heap_pages, 0, "{o:?}");
}

#[test]
fn writes_are_served_by_the_kernel_through_hv_read() {
    let o = observe(&rr(), &[("hello", hello())]);
    assert_eq!(o.stdout, "Hello, world!\n");
    assert_eq!(o.forwarded_writes, 0, "{o:?}");
    assert!(o.hv_reads >= 1, "{o:?}");
}

#[test]
fn a_null_pointer_kills_only_that_child() {
    let o = observe(
        &rr(),
        &[
            ("null", build_source("null", NULL_CHILD)),
            ("hello", hello()),
        ],
    );
    assert!(o.stdout.contains("Hello, world!\n"), "{o:?}");
    assert!(
        o.stderr.contains("null") && o.stderr.contains("0x0"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_kernel_that_only_switches_and_forwards_fails_the_checks() {
    let stub = build(&root().join("tests/fixtures/forward_kernel.c"));
    let failures = check(&stub);
    assert!(
        failures.len() >= 3,
        "the forwarding stub must fail paging, guest paging and writes: {failures:?}"
    );
    assert!(check(&rr()).is_empty(), "{:?}", check(&rr()));
}

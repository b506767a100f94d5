//! The hypervisor: the same programs under the host kernel (`-u`) and
//! under the guest kernels of programs/kernels/ (`-k ... -u`), as selfie's
//! check_mipster/check_hypster pairs; the -u/-k rules U/K-2..U/K-5; the
//! hypercalls; nesting; several VMs; stepping through an exception that is
//! delivered to a guest kernel.

use std::path::{Path, PathBuf};

use sim::abi;
use sim::emu::Exception;
use sim::hypervisor::Scenario;
use sim::kernel::{ExitStatus, Mode, Pid};
use sim::{Event, Simulator};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(path: &Path) -> Vec<u8> {
    sim::toolchain::build_program(&[path.to_path_buf()])
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn program(rel: &str) -> Vec<u8> {
    build(&root().join(rel))
}

/// Compiles C* source text (written to a file of its own in the target
/// directory, so that parallel tests do not collide).
fn build_source(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hypervisor");
    std::fs::create_dir_all(&dir).unwrap();
    // Two tests may build the same source at once: one file per call.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{name}_{}_{n}.c", std::process::id()));
    std::fs::write(&path, source).unwrap();
    build(&path)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn simulator() -> Simulator {
    Simulator::builder().capture_output(true).build()
}

/// What one program did in one run.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: String,
    status: Option<ExitStatus>,
    exit_code: i32,
}

/// Runs `elf` as a process of the host kernel.
fn direct(elf: &[u8], argv: &[String]) -> Run {
    let mut s = simulator();
    let pid = s.load_elf(elf, argv).unwrap();
    let outcome = s.run();
    Run {
        stdout: String::from_utf8_lossy(s.stdout()).into(),
        status: s.process(pid).and_then(|p| p.exit_status()),
        exit_code: outcome.exit_code,
    }
}

/// Runs `elf` under the guest kernels `kernels`, each nested in the one
/// before; returns the run of the program and the simulator.
fn under(kernels: &[&[u8]], elf: &[u8], argv: &[String]) -> (Run, Simulator) {
    let mut s = simulator();
    let mut supervisor = None;
    for (i, k) in kernels.iter().enumerate() {
        let name = format!("kernel{i}");
        supervisor = Some(
            s.load_elf_in(0, k, &[name], Mode::Kernel, supervisor)
                .unwrap(),
        );
    }
    let pid = s.load_elf_in(0, elf, argv, Mode::User, supervisor).unwrap();
    let outcome = s.run();
    let run = Run {
        stdout: String::from_utf8_lossy(s.stdout()).into(),
        status: s.process(pid).and_then(|p| p.exit_status()),
        exit_code: outcome.exit_code,
    };
    (run, s)
}

/// programs/bench/* with smaller inputs (debug builds are slow under a
/// guest kernel); each replacement must still match the source.
fn small_bench(name: &str, from: &str, to: &str) -> Vec<u8> {
    let path = root().join(format!("programs/bench/{name}.c"));
    let source = std::fs::read_to_string(&path).unwrap();
    assert!(
        source.contains(from),
        "{name}.c no longer contains {from:?}"
    );
    build_source(&format!("small_{name}"), &source.replacen(from, to, 1))
}

/// Every program in programs/ that uses only standard calls, and the
/// shm programs that run alone, with their arguments.
fn standard_programs() -> Vec<(String, Vec<u8>, Vec<String>)> {
    let mut list = Vec::new();
    for (rel, argv) in [
        ("programs/hello.c", &["hello"][..]),
        ("programs/echo.c", &["echo", "one", "two", "three"][..]),
        ("programs/fork.c", &["fork"][..]),
        // Named shared memory works the same for a guest kernel's children.
        ("programs/shm/example_fork.c", &["example_fork"][..]),
        ("programs/shm/prodcons_fork.c", &["prodcons_fork"][..]),
        ("programs/shm/diverge_fork.c", &["diverge_fork"][..]),
    ] {
        list.push((rel.to_string(), program(rel), args(argv)));
    }
    for (name, from, to) in [
        ("sieve", "N = 3000000", "N = 20000"),
        ("sort", "n = 400000", "n = 3000"),
        ("matmul", "n = 300", "n = 24"),
    ] {
        list.push((
            format!("programs/bench/{name}.c (smaller)"),
            small_bench(name, from, to),
            args(&[name]),
        ));
    }
    list
}

#[test]
fn standard_programs_behave_the_same_under_each_guest_kernel() {
    let rr = program("programs/kernels/rr.c");
    let count = program("programs/kernels/count.c");
    for (name, elf, argv) in standard_programs() {
        let reference = direct(&elf, &argv);
        assert!(reference.status.is_some(), "{name} ended");
        for (kernel, k) in [("rr", &rr), ("count", &count)] {
            let (run, s) = under(&[k], &elf, &argv);
            assert_eq!(run, reference, "{name} under {kernel}");
            // Every frame is freed once, shared ones included.
            assert_eq!(
                s.machine().memory().used_frames(),
                0,
                "{name} under {kernel}"
            );
        }
    }
}

#[test]
fn the_guest_kernel_reports_each_child_and_exits_with_the_first_ones_code() {
    let rr = program("programs/kernels/rr.c");
    let mut s = simulator();
    let k = s
        .load_elf_in(0, &rr, &args(&["rr"]), Mode::Kernel, None)
        .unwrap();
    let hello = program("programs/hello.c");
    let echo = program("programs/echo.c");
    let a = s
        .load_elf_in(0, &echo, &args(&["echo", "x", "y"]), Mode::User, Some(k))
        .unwrap();
    let b = s
        .load_elf_in(0, &hello, &args(&["hello"]), Mode::User, Some(k))
        .unwrap();
    let outcome = s.run();
    let stdout = String::from_utf8_lossy(s.stdout()).to_string();
    assert!(
        stdout.contains("x y\n") && stdout.contains("Hello, world!\n"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(
        stderr.contains(&format!("rr: child {a} exited with 2")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("rr: child {b} exited with 0")),
        "{stderr}"
    );
    assert_eq!(outcome.exit_code, 2, "rr exits with its first child's code");
}

#[test]
fn count_observes_its_childrens_syscalls_and_answers_getpid_itself() {
    let count = program("programs/kernels/count.c");
    let (run, s) = under(&[&count], &program("programs/fork.c"), &args(&["fork"]));
    assert_eq!(run.status, Some(ExitStatus::Exited(0)));
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(stderr.contains("count: child 2:"), "{stderr}");
    assert!(stderr.contains("write "), "{stderr}");
    assert!(stderr.contains("clone 1"), "{stderr}");
    assert!(stderr.contains("getpid"), "{stderr}");
    // count answered getpid without the host: the host never saw it.
    let host_saw = s.process(Pid(2)).unwrap().stats.syscall_count("getpid");
    assert_eq!(host_saw, None);
}

/// A C* program that calls hypercall `call` with zero arguments.
fn hypercall_program(call: &abi::CallInfo) -> Vec<u8> {
    let name = call.builtin.unwrap();
    let zeros = vec!["0"; usize::from(call.args)].join(", ");
    build_source(
        &format!("user_{name}"),
        &format!("uint64_t main() {{\n  {name}({zeros});\n  print(\"not killed\\n\");\n  return 0;\n}}\n"),
    )
}

#[test]
fn a_user_process_calling_any_hypercall_is_killed_under_rule_uk3() {
    let hypercalls: Vec<_> = abi::CALLS
        .iter()
        .filter(|c| abi::is_hypercall(c.number))
        .collect();
    assert_eq!(hypercalls.len(), 14);
    for call in hypercalls {
        let elf = hypercall_program(call);
        let mut s = simulator();
        let pid = s.load_elf(&elf, &args(&["user"])).unwrap();
        s.run();
        let stderr = String::from_utf8_lossy(s.stderr()).to_string();
        assert!(
            stderr.contains("rule U/K-3 broken"),
            "{}: {stderr}",
            call.name
        );
        assert!(stderr.contains(call.name), "{}: {stderr}", call.name);
        assert_eq!(s.stdout(), b"", "{}", call.name);
        assert_eq!(
            s.process(pid).unwrap().exit_status(),
            Some(ExitStatus::Killed(4))
        );
    }
}

#[test]
fn a_hypercall_of_a_guest_kernels_child_goes_to_its_kernel_and_kills_only_it() {
    let rr = program("programs/kernels/rr.c");
    let elf = hypercall_program(abi::call_info(abi::HV_CREATE).unwrap());
    let mut s = simulator();
    let k = s
        .load_elf_in(0, &rr, &args(&["rr"]), Mode::Kernel, None)
        .unwrap();
    let bad = s
        .load_elf_in(0, &elf, &args(&["user"]), Mode::User, Some(k))
        .unwrap();
    let good = s
        .load_elf_in(
            0,
            &program("programs/hello.c"),
            &args(&["hello"]),
            Mode::User,
            Some(k),
        )
        .unwrap();
    // The violation is delivered to rr (U/K-2), not handled by the host.
    loop {
        let event = s.run_until_exception().unwrap();
        let violation = event.pid == bad && event.exception == Exception::Syscall;
        s.handle(event);
        if violation {
            assert_eq!(s.running_context(), Some(k));
            let pending = s.process(bad).unwrap().pending;
            assert!(
                matches!(pending, Some(Exception::PrivilegeViolation { call, .. }) if call == abi::HV_CREATE),
                "{pending:?}"
            );
            break;
        }
    }
    s.run();
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(stderr.contains("rule U/K-3 broken"), "{stderr}");
    assert_eq!(s.stdout(), b"Hello, world!\n");
    assert_eq!(
        s.process(bad).unwrap().exit_status(),
        Some(ExitStatus::Killed(4))
    );
    assert_eq!(
        s.process(good).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(
        s.process(k).unwrap().exit_status(),
        Some(ExitStatus::Exited(132))
    );
}

#[test]
fn a_kernel_may_switch_only_to_its_own_children() {
    // Kernel 1 with child 2; a second VM-0 root (3, a plain process) is not
    // kernel 1's child, and neither is kernel 1 itself (rule U/K-4).
    let kernel = build_source(
        "switch_stranger",
        "uint64_t main() {
           uint64_t* ids;
           ids = malloc(64);
           if (hv_children(ids, 8) != 1) return 10;
           if (is_error(hv_switch(3)) == 0) return 11;
           if (is_error(hv_switch(getpid())) == 0) return 12;
           if (is_error(hv_switch(77)) == 0) return 13;
           if (is_error(hv_status(3)) == 0) return 14;
           if (is_error(hv_get_reg(3, 1)) == 0) return 15;
           if (is_error(hv_map(3, 4096, 4096, 3)) == 0) return 16;
           if (is_error(hv_delete(3)) == 0) return 17;
           if (is_error(hv_get_reg(*ids, 99)) == 0) return 18;
           if (is_error(hv_children((uint64_t*) 8, 8)) == 0) return 19;
           return 0;
         }",
    );
    let mut s = simulator();
    let k = s
        .load_elf_in(0, &kernel, &args(&["k"]), Mode::Kernel, None)
        .unwrap();
    let child = s
        .load_elf_in(
            0,
            &program("programs/hello.c"),
            &args(&["hello"]),
            Mode::User,
            Some(k),
        )
        .unwrap();
    let stranger = s
        .load_elf(&program("programs/echo.c"), &args(&["echo"]))
        .unwrap();
    assert_eq!((k, child, stranger), (Pid(1), Pid(2), Pid(3)));
    let outcome = s.run();
    assert_eq!(outcome.exit_code, 0, "every refused call returned an error");
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(stderr.contains("rule U/K-4"), "{stderr}");
    // Nothing ran for kernel 1: its child never ran (it ended with the
    // kernel), and the stranger ran only as the host's own process.
    let c = s.process(child).unwrap();
    assert_eq!(c.stats.instructions, 0);
    assert_eq!(c.exit_status(), Some(ExitStatus::Killed(9)));
    assert_eq!(
        s.process(stranger).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(s.stdout(), b"\n", "only echo's own output");
}

#[test]
fn a_guest_kernel_that_faults_is_killed_without_taking_down_another_vm() {
    let faulty = build_source(
        "faulty_kernel",
        "uint64_t main() {
           uint64_t* ids;
           ids = malloc(64);
           hv_children(ids, 8);
           hv_switch(*ids);
           *((uint64_t*) 8) = 1;
           return 0;
         }",
    );
    let mut s = simulator();
    let a = s
        .load_elf(&program("programs/fork.c"), &args(&["fork"]))
        .unwrap();
    let vm = s.add_vm();
    let k = s
        .load_elf_in(vm, &faulty, &args(&["faulty"]), Mode::Kernel, None)
        .unwrap();
    let child = s
        .load_elf_in(
            vm,
            &program("programs/hello.c"),
            &args(&["hello"]),
            Mode::User,
            Some(k),
        )
        .unwrap();
    let outcome = s.run();
    assert_eq!(outcome.exit_code, 0, "VM 0's first process decides");
    assert_eq!(
        s.vm_stdout(0),
        b"child: sum of 1..10 is 55\nparent: child exited with 42\n"
    );
    assert_eq!(
        s.process(a).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    let stderr = String::from_utf8_lossy(s.vm_stderr(vm)).to_string();
    assert!(
        stderr.contains("killed") && stderr.contains("0x8"),
        "{stderr}"
    );
    let vm1 = s.vm(vm).unwrap();
    assert_eq!(
        vm1.process(k).unwrap().exit_status(),
        Some(ExitStatus::Killed(11))
    );
    assert_eq!(
        vm1.process(child).unwrap().exit_status(),
        Some(ExitStatus::Killed(9))
    );
    // The child's page fault went to the kernel, which did not map it.
    assert_eq!(s.vm_stdout(vm), b"");
    assert_eq!(s.machine().memory().used_frames(), 0);
}

#[test]
fn step_through_a_page_fault_delivered_to_the_guest_kernel() {
    let mut s = simulator();
    let k = s
        .load_elf_in(
            0,
            &program("programs/kernels/rr.c"),
            &args(&["rr"]),
            Mode::Kernel,
            None,
        )
        .unwrap();
    let child = s
        .load_elf_in(
            0,
            &program("programs/hello.c"),
            &args(&["hello"]),
            Mode::User,
            Some(k),
        )
        .unwrap();
    // Run until the child's first page fault; until then only the kernel
    // and the child run.
    let (vaddr, event) = loop {
        let event = s.run_until_exception().expect("the child faults");
        assert!(event.pid == k || event.pid == child, "{event:?}");
        if let Event {
            pid,
            exception: Exception::PageFault { vaddr, .. },
            ..
        } = event
        {
            if pid == child {
                break (vaddr, event);
            }
        }
        s.handle(event);
    };
    assert_eq!(s.running_context(), Some(child));
    s.handle(event);
    // Delivered to the parent: the next context to run is the guest kernel,
    // whose hv_switch returned the child's id; the fault is pending.
    assert_eq!(s.running_context(), Some(k));
    assert_eq!(s.process(k).unwrap().hart.reg(10), child.0);
    assert_eq!(s.process(k).unwrap().switched_to, None);
    assert!(matches!(
        s.process(child).unwrap().pending,
        Some(Exception::PageFault { vaddr: v, .. }) if v == vaddr
    ));
    let mut hypercalls = Vec::new();
    loop {
        let event = s.run_until_exception().unwrap();
        if event.pid == child {
            break;
        }
        assert_eq!(event.pid, k);
        assert_eq!(event.exception, Exception::Syscall);
        hypercalls.push(s.process(k).unwrap().hart.reg(17));
        s.handle(event);
    }
    // rr read the fault (hv_status, hv_get_reg), mapped a page of its own
    // (hv_map) and switched back (hv_switch); the page is now mapped.
    for call in [abi::HV_STATUS, abi::HV_GET_REG, abi::HV_MAP, abi::HV_SWITCH] {
        assert!(hypercalls.contains(&call), "{call} in {hypercalls:?}");
    }
    assert_eq!(hypercalls.last(), Some(&abi::HV_SWITCH));
    assert_eq!(s.process(k).unwrap().switched_to, Some(child));
    let page = sim::emu::VirtPage::containing(vaddr);
    let child_pte = s.process(child).unwrap().page_table.get(page).unwrap();
    assert_eq!(
        s.machine().memory().references(child_pte.frame),
        2,
        "shared with rr"
    );
}

#[test]
fn nested_guest_kernels_run_hello() {
    let rr = program("programs/kernels/rr.c");
    let hello = program("programs/hello.c");
    let reference = direct(&hello, &args(&["hello"]));
    for depth in [2, 3] {
        let kernels: Vec<&[u8]> = vec![&rr; depth];
        let (run, s) = under(&kernels, &hello, &args(&["hello"]));
        assert_eq!(run, reference, "depth {depth}");
        let tree = s.dump_contexts();
        let expected_last = format!(
            "{}{} hello (user mode, ended",
            "  ".repeat(depth + 1),
            depth + 1
        );
        assert!(tree.contains(&expected_last), "{tree}");
    }
}

#[test]
fn two_vms_run_side_by_side_with_their_own_pids() {
    let scenario = Scenario::parse(&format!(
        "user {0}/programs/hello.c\nvm\nkernel {0}/programs/kernels/rr.c\nuser {0}/programs/echo.c a b\n",
        root().display()
    ))
    .unwrap();
    let mut s = simulator();
    s.load_scenario(&scenario).unwrap();
    assert_eq!(s.vm_count(), 2);
    let outcome = s.run();
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(s.vm_stdout(0), b"Hello, world!\n");
    assert_eq!(s.vm_stdout(1), b"a b\n");
    // Each VM numbers its processes from 1; TLB context ids differ.
    let hello = s.process_in(0, Pid(1)).unwrap();
    let rr = s.process_in(1, Pid(1)).unwrap();
    let echo = s.process_in(1, Pid(2)).unwrap();
    assert!(hello.name.ends_with("hello.c") && rr.name.ends_with("rr.c"));
    assert_eq!(echo.exit_status(), Some(ExitStatus::Exited(2)));
    assert_eq!(
        (hello.context, rr.context, echo.context),
        (1, 1 << 32 | 1, 1 << 32 | 2)
    );
    assert!(s.process_in(0, Pid(2)).is_none());
    let tree = s.dump_contexts();
    assert!(tree.contains("vm 1: host kernel\n  1 "), "{tree}");
}

#[test]
fn a_guest_kernel_builds_a_child_from_nothing() {
    // hv_create an empty child, write three instructions into a page of its
    // own, map it executable at 0x10000, point the child's pc at it, run it
    // and watch it exit with 7:
    //   addi a7, zero, 93   (0x05d00893)
    //   addi a0, zero, 7    (0x00700513)
    //   ecall               (0x00000073)
    let kernel = build_source(
        "from_nothing",
        "uint64_t main() {
           uint64_t id;
           uint64_t* code;
           uint64_t* ids;
           id = hv_create();
           code = malloc(8192);
           code = (uint64_t*) (((uint64_t) code + 4095) / 4096 * 4096);
           *code = 0x0070051305d00893;
           *(code + 1) = 0x73;
           if (hv_map(id, 65536, (uint64_t) code, 5) != 0) return 10;
           if (hv_map(id, 65536, (uint64_t) code, 5) != -17) return 11;
           if (hv_set_reg(id, 32, 65536) != 0) return 12;
           if (hv_switch(id) != id) return 13;
           if (hv_status(id) != 1) return 14;
           if (hv_get_reg(id, 17) != 93) return 15;
           if (hv_get_reg(id, 33) != 93) return 16;
           ids = malloc(64);
           if (hv_children(ids, 8) != 1) return 17;
           if (*ids != id) return 18;
           if (hv_forward(id) != 0) return 19;
           if (hv_status(id) != 8) return 20;
           if (hv_get_reg(id, 33) != 7) return 21;
           if (hv_children(ids, 8) != 0) return 22;
           if (is_error(hv_switch(id)) == 0) return 23;
           return 0;
         }",
    );
    let mut s = simulator();
    s.load_elf_in(0, &kernel, &args(&["k"]), Mode::Kernel, None)
        .unwrap();
    let outcome = s.run();
    assert_eq!(
        outcome.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(s.stderr())
    );
    assert_eq!(
        s.process(Pid(2)).unwrap().exit_status(),
        Some(ExitStatus::Exited(7))
    );
    assert_eq!(s.machine().memory().used_frames(), 0);
}

#[test]
fn the_command_line_runs_vms_and_guest_kernels() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .args([
            "-k",
            "programs/kernels/rr.c",
            "-u",
            "programs/hello.c",
            "-u",
            "programs/echo.c",
            "one",
            "--vm",
            "-u",
            "programs/echo.c",
            "two",
            "three",
            "--dump-contexts",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in ["Hello, world!\n", "one\n", "two three\n"] {
        assert!(stdout.contains(line), "{stdout}");
    }
    assert!(stderr.contains("rr: child 2 exited with 0"), "{stderr}");
    assert!(stderr.contains("vm 1: host kernel"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "rr's code: its first child's");
}

#[test]
fn two_vms_opening_shm_x_see_different_objects() {
    // Each VM has its own shm table: the same name is a different object.
    // The program writes argc into "x", yields so that the other VM runs
    // (VMs take turns), and checks that nobody else wrote to it.
    let elf = build_source(
        "shm_x",
        "uint64_t main(uint64_t argc, uint64_t* argv) {
           uint64_t id;
           uint64_t* p;
           uint64_t i;
           id = shm_open(\"x\");
           if (is_error(shm_size(id, 4096))) return 3;
           p = shm_map(0, id);
           if (*p != 0) return 1;
           *p = argc;
           i = 0;
           while (i < 10) {
             yield();
             i = i + 1;
           }
           if (*p != argc) return 2;
           return 0;
         }",
    );
    let mut s = simulator();
    let a = s.load_elf(&elf, &args(&["x"])).unwrap();
    let vm = s.add_vm();
    let b = s
        .load_elf_in(vm, &elf, &args(&["x", "two"]), Mode::User, None)
        .unwrap();
    // Run until both have mapped their "x"; then the objects differ.
    let mut seen_both = false;
    while let Some(event) = s.run_until_exception() {
        s.handle(event);
        let (x0, x1) = (
            s.kernel().shm().find(b"x"),
            s.vm(vm).unwrap().shm().find(b"x"),
        );
        if let (Some(x0), Some(x1)) = (x0, x1) {
            if !x0.frames.is_empty() && !x1.frames.is_empty() {
                assert_ne!(x0.frames, x1.frames);
                seen_both = true;
            }
        }
    }
    assert!(seen_both, "both VMs had \"x\" open at the same time");
    assert_eq!(
        s.process(a).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(
        s.process_in(vm, b).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(s.machine().memory().used_frames(), 0);
}

#[test]
fn a_child_pc_at_a_pages_last_byte_is_a_misaligned_fetch_for_its_kernel() {
    // hv_set_reg(child, pc, page + 0xfff) used to panic the host (the block
    // decoder read past the page). Now the child raises
    // instruction-address-misaligned: status 6, the pc as argument, access
    // 2 (execute); the kernel goes on.
    let kernel = build_source(
        "odd_pc",
        "uint64_t main() {
           uint64_t id;
           uint64_t* code;
           id = hv_create();
           code = malloc(8192);
           code = (uint64_t*) (((uint64_t) code + 4095) / 4096 * 4096);
           *code = 0x0000007300100513;
           hv_map(id, 65536, (uint64_t) code, 5);
           if (hv_set_reg(id, 32, 65536 + 4095) != 0) return 1;
           if (hv_switch(id) != id) return 2;
           if (hv_status(id) != 6) return 3;
           if (hv_get_reg(id, 33) != 65536 + 4095) return 4;
           if (hv_get_reg(id, 34) != 2) return 5;
           hv_set_reg(id, 32, 65536 + 1);
           hv_switch(id);
           if (hv_status(id) != 6) return 6;
           hv_set_reg(id, 32, 65536);
           hv_switch(id);
           if (hv_get_reg(id, 10) != 1) return 7;
           return 0;
         }",
    );
    let mut s = simulator();
    s.load_elf_in(0, &kernel, &args(&["k"]), Mode::Kernel, None)
        .unwrap();
    let outcome = s.run();
    assert_eq!(
        outcome.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(s.stderr())
    );
}

#[test]
fn code_a_guest_kernel_rewrites_in_its_childs_page_runs_anew() {
    // The kernel and its child share the code page (hv_map) and take turns
    // on the machine, whose caches of the two contexts are swapped, not
    // flushed: a store by the kernel must still invalidate what the child
    // decoded. Child code: addi a0, zero, K; ecall.
    let kernel = build_source(
        "rewrite",
        "uint64_t main() {
           uint64_t id;
           uint64_t* code;
           id = hv_create();
           code = malloc(8192);
           code = (uint64_t*) (((uint64_t) code + 4095) / 4096 * 4096);
           *code = 0x0000007300100513;
           hv_map(id, 65536, (uint64_t) code, 5);
           hv_set_reg(id, 32, 65536);
           hv_switch(id);
           if (hv_get_reg(id, 10) != 1) return 1;
           *code = 0x0000007300200513;
           hv_set_reg(id, 32, 65536);
           hv_switch(id);
           if (hv_get_reg(id, 10) != 2) return 2;
           return 0;
         }",
    );
    let mut s = simulator();
    s.load_elf_in(0, &kernel, &args(&["k"]), Mode::Kernel, None)
        .unwrap();
    assert_eq!(s.run().exit_code, 0);
}

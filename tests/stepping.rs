//! Stepping through exceptions with the library: run until the next
//! exception, look at the process before the kernel handled it, let the
//! kernel handle it, look again.

mod common;

use common::*;
use sim::emu::{Access, Exception, Instruction, PteFlags, Reg, StoreOp, VirtPage};
use sim::kernel::{ExitStatus, Pid};
use sim::Simulator;

const DATA_SEG: u64 = 0x10000;
const BSS: u64 = 0x11000;

/// ```text
///   li t0, BSS
///   li t1, 42
///   sd t1, 0(t0)         ; page fault: fresh bss page
///   lui t3, -3           ; t3 = -12288
///   add t3, sp, t3
///   sd t1, 0(t3)         ; page fault: fresh stack page
///   li a0, 1
///   li a1, DATA_SEG      ; "hi\n"
///   li a2, 3
///   li a7, 64
///   ecall                ; write
///   li a0, 0
///   li a7, 93
///   ecall                ; exit
/// ```
fn fault_then_write() -> Vec<u8> {
    let (t0, t1, t3) = (Reg::T0, Reg::T1, Reg(28));
    let mut p = Program::new();
    for i in li64(t0, BSS) {
        p.push(i);
    }
    p.push(li(t1, 42)).push(Instruction::Store {
        op: StoreOp::Sd,
        rs1: t0,
        rs2: t1,
        offset: 0,
    });
    store_below_sp(&mut p, 12288, t3, t1);
    p.push(li(Reg::A0, 1));
    for i in li64(Reg::A1, DATA_SEG) {
        p.push(i);
    }
    p.push(li(Reg::A2, 3));
    for i in syscall(64) {
        p.push(i);
    }
    p.push(li(Reg::A0, 0));
    for i in syscall(93) {
        p.push(i);
    }
    elf_of(&p, Some((DATA_SEG, b"hi\n".to_vec(), 0x2000)))
}

/// `lui scratch, -distance; add scratch, sp, scratch; sd value, 0(scratch)`:
/// a store `distance` bytes below the stack pointer (`distance` a
/// multiple of 4096).
fn store_below_sp(p: &mut Program, distance: i64, scratch: Reg, value: Reg) {
    p.push(Instruction::Lui {
        rd: scratch,
        imm: -distance,
    })
    .push(Instruction::Op {
        op: sim::emu::RegOp::Add,
        rd: scratch,
        rs1: Reg::SP,
        rs2: scratch,
    })
    .push(Instruction::Store {
        op: StoreOp::Sd,
        rs1: scratch,
        rs2: value,
        offset: 0,
    });
}

fn expect_page_fault(s: &mut Simulator, pid: Pid, vaddr: u64) {
    let event = s.run_until_exception().expect("an exception");
    assert_eq!(event.pid, pid);
    assert_eq!(
        event.exception,
        Exception::PageFault {
            vaddr,
            access: Access::Write
        }
    );
    let page = VirtPage::containing(vaddr);
    let process = s.process(pid).unwrap();
    assert!(
        process.page_table.get(page).is_none(),
        "not mapped before the kernel handled the fault"
    );
    let faults_before = process.stats.page_faults;
    s.handle(event);
    let process = s.process(pid).unwrap();
    let pte = process
        .page_table
        .get(page)
        .expect("mapped after the kernel handled the fault");
    assert_eq!(pte.flags.permissions(), PteFlags::USER_RW.permissions());
    assert!(pte.flags.has(PteFlags::VALID));
    assert_eq!(process.stats.page_faults, faults_before + 1);
    // A fresh page is zeroed, and the store has not happened yet.
    assert_eq!(s.read_memory(pid, vaddr, 8), Some(vec![0; 8]));
}

#[test]
fn step_through_page_faults_and_a_write_syscall() {
    let mut s = Simulator::builder().capture_output(true).build();
    let pid = s.load_elf(&fault_then_write(), &["prog".into()]).unwrap();
    let sp = s.register(pid, Reg::SP.index()).unwrap();
    assert_eq!(s.read_memory(pid, BSS, 1), None);

    expect_page_fault(&mut s, pid, BSS);
    expect_page_fault(&mut s, pid, sp - 12288);

    let event = s.run_until_exception().unwrap();
    assert_eq!(event.exception, Exception::Syscall);
    assert_eq!(s.register(pid, Reg::A7.index()), Some(64));
    assert_eq!(s.register(pid, Reg::A2.index()), Some(3));
    // Both restarted stores went through.
    assert_eq!(
        s.read_memory(pid, BSS, 8),
        Some(42u64.to_le_bytes().to_vec())
    );
    assert_eq!(
        s.read_memory(pid, sp - 12288, 8),
        Some(42u64.to_le_bytes().to_vec())
    );
    let pc = s.process(pid).unwrap().hart.pc;
    assert_eq!(
        s.stdout(),
        b"",
        "nothing written before the kernel handles it"
    );
    s.handle(event);
    assert_eq!(s.stdout(), b"hi\n");
    assert_eq!(s.register(pid, Reg::A0.index()), Some(3), "write returns 3");
    assert_eq!(s.process(pid).unwrap().hart.pc, pc + 4);

    let event = s.run_until_exception().unwrap();
    assert_eq!(event.exception, Exception::Syscall);
    assert_eq!(s.register(pid, Reg::A7.index()), Some(93));
    s.handle(event);
    assert_eq!(
        s.process(pid).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    assert_eq!(s.run_until_exception(), None);
}

#[test]
fn run_gives_the_same_result_as_stepping() {
    let mut s = Simulator::builder().capture_output(true).build();
    s.load_elf(&fault_then_write(), &["prog".into()]).unwrap();
    let outcome = s.run();
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(s.stdout(), b"hi\n");
    let p = s.process(Pid(1)).unwrap();
    assert_eq!(p.stats.page_faults, 2);
    assert_eq!(p.stats.syscall_count("write"), Some(1));
    assert_eq!(p.stats.syscall_count("exit"), Some(1));
}

/// `sd zero, 0(zero)`: a store to address 0.
fn null_store() -> Vec<u8> {
    let p = Program::of(&[
        li(Reg::A0, 5),
        Instruction::Store {
            op: StoreOp::Sd,
            rs1: Reg::ZERO,
            rs2: Reg::ZERO,
            offset: 0,
        },
        li(Reg::A0, 6),
    ]);
    elf_of(&p, None)
}

#[test]
fn a_store_to_address_0_kills_only_that_process() {
    let mut s = Simulator::builder()
        .capture_output(true)
        .quantum(50)
        .build();
    let bad = s.load_elf(&null_store(), &["null".into()]).unwrap();
    let good = s
        .load_elf(&writer_elf(b'g', 1, 5, 30, 0), &["good".into()])
        .unwrap();
    let event = s.run_until_exception().unwrap();
    assert_eq!(
        event,
        sim::Event {
            vm: 0,
            pid: bad,
            exception: Exception::PageFault {
                vaddr: 0,
                access: Access::Write
            }
        }
    );
    s.handle(event);
    assert_eq!(
        s.process(bad).unwrap().exit_status(),
        Some(ExitStatus::Killed(11))
    );
    let outcome = s.run();
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(stderr.contains("sim: "), "{stderr}");
    assert!(stderr.contains("0x0"), "names the address: {stderr}");
    assert!(stderr.contains("killed"), "{stderr}");
    assert!(stderr.contains("store"), "names the access: {stderr}");
    assert_eq!(s.stdout(), writer_output(b'g', 5).as_slice());
    assert_eq!(
        s.process(good).unwrap().exit_status(),
        Some(ExitStatus::Exited(0))
    );
    // sim's exit code is the first process's: 128 + SIGSEGV.
    assert_eq!(outcome.exit_code, 139);
}

#[test]
fn other_faults_kill_with_a_message() {
    // An illegal instruction, an ebreak and a misaligned amo each kill
    // the process with the reason; a good process next to them finishes.
    let illegal = {
        let mut p = Program::new();
        p.word(0x0000_000b);
        elf_of(&p, None)
    };
    let ebreak = elf_of(&Program::of(&[Instruction::Ebreak]), None);
    let misaligned = elf_of(
        &Program::of(&[
            li(Reg::A1, 0x101),
            Instruction::Amo {
                op: sim::emu::AmoOp::Add,
                width: sim::emu::AmoWidth::Word,
                aq: false,
                rl: false,
                rd: Reg::A0,
                rs1: Reg::A1,
                rs2: Reg::A0,
            },
        ]),
        None,
    );
    let good = writer_elf(b'g', 1, 2, 0, 7);
    let (s, outcome) = simulate(&[&illegal, &ebreak, &misaligned, &good], |b| b);
    let stderr = String::from_utf8_lossy(s.stderr()).to_string();
    assert!(
        stderr.contains("illegal instruction 0x0000000b"),
        "{stderr}"
    );
    assert!(stderr.contains("ebreak"), "{stderr}");
    assert!(stderr.contains("misaligned"), "{stderr}");
    assert!(stderr.contains("0x101"), "{stderr}");
    assert_eq!(s.stdout(), writer_output(b'g', 2).as_slice());
    let statuses: Vec<_> = s
        .kernel()
        .processes()
        .iter()
        .map(|p| p.exit_status())
        .collect();
    assert_eq!(
        statuses,
        [
            Some(ExitStatus::Killed(4)),
            Some(ExitStatus::Killed(5)),
            Some(ExitStatus::Killed(7)),
            Some(ExitStatus::Exited(7))
        ]
    );
    assert_eq!(outcome.exit_code, 128 + 4);
}

/// Runs `a0..a2 = args; a7 = number; ecall; ebreak` and returns `a0` at the
/// ebreak.
fn syscall_result(number: i64, args: [u64; 3]) -> u64 {
    let mut p = Program::new();
    for (i, &v) in args.iter().enumerate() {
        for inst in li64(Reg(10 + i as u8), v) {
            p.push(inst);
        }
    }
    for inst in syscall(number) {
        p.push(inst);
    }
    p.push(Instruction::Ebreak);
    let mut s = Simulator::builder()
        .capture_output(true)
        .stdin_bytes(b"0123456789".to_vec())
        .build();
    let pid = s.load_elf(&elf_of(&p, None), &["p".into()]).unwrap();
    loop {
        let event = s.run_until_exception().expect("reaches the ebreak");
        if let Exception::Breakpoint { .. } = event.exception {
            return s.register(pid, Reg::A0.index()).unwrap();
        }
        s.handle(event);
    }
}

#[test]
fn bad_syscall_arguments_are_error_codes() {
    let efault = (-14i64) as u64;
    // write(1, NULL, 10), write(1, unmapped, 10), read(0, code page, 10)
    assert_eq!(syscall_result(64, [1, 0, 10]), efault);
    assert_eq!(syscall_result(64, [1, 0x7654_3000, 10]), efault);
    assert_eq!(
        syscall_result(63, [0, CODE, 10]),
        efault,
        "code is read-only"
    );
    // A bad fd, an unknown call, a wild pointer as a path.
    assert_eq!(syscall_result(64, [99, CODE, 1]), (-9i64) as u64, "EBADF");
    assert_eq!(syscall_result(4242, [0, 0, 0]), (-38i64) as u64, "ENOSYS");
    assert_eq!(
        syscall_result(56, [(-100i64) as u64, u64::MAX - 3, 0]),
        efault
    );
    // Lengths that wrap around the address space.
    assert_eq!(syscall_result(64, [1, CODE, u64::MAX]), efault);
}

/// `--stats` counts every exception and call (by kind and number, in
/// arrays on the ecall path) and prints them by name, in name order,
/// also a number no call has (`syscall_<n>`, below and above the numbers
/// sim knows); the same whether the run loop or a library user drives the
/// exceptions.
#[test]
fn stats_count_by_name_in_name_order() {
    let elf = sim::toolchain::asm::assemble(
        "_start:
             li s0, 3
         again:
             li a7, 172          # getpid
             ecall
             addi s0, s0, -1
             bnez s0, again
             li a7, 900          # no such call: ENOSYS
             ecall
             li a7, 70000        # no such call either, far above
             ecall
             lui t0, 0xffffd     # a fresh stack page: a page fault
             add t0, sp, t0
             sd s0, 0(t0)
             li a0, 1
             la a1, text
             li a2, 3
             li a7, 64           # write
             ecall
             li a0, 0
             li a7, 93           # exit
             ecall
         .data
         text: .string \"hi\\n\"",
        "stats.s",
    )
    .expect("assembles");
    let report = |step_by_step: bool| {
        let mut sim = Simulator::builder().capture_output(true).quantum(4).build();
        sim.load_elf(&elf, &["stats".to_string()]).expect("loads");
        let outcome = if step_by_step {
            while let Some(event) = sim.run_until_exception() {
                sim.handle(event);
            }
            sim.run()
        } else {
            sim.run()
        };
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(sim.stdout(), b"hi\n");
        let report = sim.stats_report();
        // The first line holds the time the run took.
        let lines: Vec<&str> = report.lines().skip(2).collect();
        (lines.join("\n"), outcome.instructions)
    };
    let (lines, instructions) = report(false);
    assert_eq!(
        lines,
        format!(
            "sim: stats: exceptions: page fault 1, syscall 7, timer {timers}\n\
             sim: stats: process 1 (stats): exited 0, {instructions} instructions, 1 page faults, 4 pages peak\n\
             sim: stats:   syscalls: exit 1, getpid 3, syscall_70000 1, syscall_900 1, write 1",
            timers = instructions / 4
        )
    );
    assert_eq!(report(true), (lines, instructions));
}

/// A stack that grows down a page at a time lies in neighbouring frames,
/// each page's frame one below the frame of the page above it: the
/// loader maps the stack's first pages and the kernel backs the pages it
/// grows into with frames from the top of the pool down, and a fork
/// copies the stack the same way. (The emulator is faster for it: an
/// array across two stack pages is one run of host memory, so a load's
/// guessed host address holds across the boundary.) A segment the loader
/// maps lies in ascending frames, from the bottom of the pool.
#[test]
fn a_stack_growing_down_page_by_page_lies_in_neighbouring_frames() {
    let (t1, t3) = (Reg::T1, Reg(28));
    let mut p = Program::new();
    p.push(li(t1, 42));
    // One store a page further down each time, as a growing stack does.
    for pages in 1..=4 {
        store_below_sp(&mut p, 4096 * pages, t3, t1);
    }
    // fork (clone with SIGCHLD), then both exit.
    p.push(li(Reg::A0, 17));
    for i in syscall(220) {
        p.push(i);
    }
    p.push(li(Reg::A0, 0));
    for i in syscall(93) {
        p.push(i);
    }
    // A data segment of three pages of file bytes, which the loader maps
    // now: the other way round, in ascending frames.
    let data = (DATA_SEG, vec![7; 3 * 4096], 3 * 4096);
    let mut s = Simulator::builder().build();
    let pid = s
        .load_elf(&elf_of(&p, Some(data)), &["prog".into()])
        .unwrap();
    let data_frames: Vec<u32> = (0..3)
        .map(|k| {
            let page = VirtPage::containing(DATA_SEG + 4096 * k);
            s.process(pid)
                .unwrap()
                .page_table
                .get(page)
                .unwrap()
                .frame
                .0
        })
        .collect();
    assert_eq!(
        data_frames,
        [0, 1, 2].map(|k| data_frames[0] + k),
        "a segment's pages lie in ascending frames"
    );
    let sp = s.register(pid, Reg::SP.index()).unwrap();
    let mut faults = 0;
    let fork = loop {
        let event = s.run_until_exception().expect("an exception");
        if event.exception == Exception::Syscall {
            break event;
        }
        assert!(matches!(event.exception, Exception::PageFault { .. }));
        faults += 1;
        s.handle(event);
    };
    assert_eq!(faults, 4, "each store faults in a page of its own");
    assert_eq!(s.register(pid, Reg::A7.index()), Some(220));
    s.handle(fork);
    let child = Pid(s.register(pid, Reg::A0.index()).unwrap());
    assert_ne!(child, pid, "the fork made a child");
    for pid in [pid, child] {
        let stack: Vec<(VirtPage, u32)> = s
            .process(pid)
            .unwrap()
            .page_table
            .entries()
            .filter(|(page, _)| page.address() >= VirtPage::containing(sp - 4 * 4096).address())
            .map(|(page, pte)| (page, pte.frame.0))
            .collect();
        assert!(
            stack.len() >= 5,
            "process {pid}: the loader's page(s) and four more: {stack:?}"
        );
        for pair in stack.windows(2) {
            let ((low, low_frame), (high, high_frame)) = (pair[0], pair[1]);
            assert_eq!(high.0, low.0 + 1, "no holes in the stack: {stack:?}");
            assert_eq!(
                low_frame + 1,
                high_frame,
                "process {pid}: page {:#x} is in frame {low_frame}, the page above in frame {high_frame}",
                low.address()
            );
        }
    }
}

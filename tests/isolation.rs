//! Finding 2 of issue 11 (cross-VM memory): a guest kernel could `hv_map`
//! a page of an inter-VM block into its child, close the block, and the
//! host daemon then handed the same frame to another VM's new block: the
//! child read and wrote that VM's data. `hv_map` of a named-shm page broke
//! the shm invariant "every entry that maps an object's frame is recorded
//! in that process's client". Now `hv_map` gives only private pages
//! (`EPERM` otherwise, with a `sim:` message), and the frame-ownership
//! rule (emu/memory.rs) is checked over the whole machine
//! (`Simulator::check_invariants`).

use sim::abi::layout::STACK_TOP;
use sim::abi::*;
use sim::emu::{VirtPage, PAGE_SIZE};
use sim::kernel::{Mode, Pid};
use sim::vmshm::{MULTISHARED, READ, WRITE};
use sim::Simulator;

const BASE_AT: u64 = STACK_TOP - 16 * PAGE_SIZE;
const SIZE_AT: u64 = BASE_AT + 8;
const NAME_AT: u64 = BASE_AT + 64;
/// Where the guest kernel maps its child's page.
const CHILD_PAGE: u64 = 0x10_0000;

fn idle() -> Vec<u8> {
    sim::toolchain::cstar::compile(&[(
        "idle.c".to_string(),
        "uint64_t main() { while (1) yield(); return 0; }".to_string(),
    )])
    .expect("idle program")
    .elf
}

struct Rig {
    sim: Simulator,
}

impl Rig {
    fn call(&mut self, vm: usize, pid: Pid, number: u64, args: &[u64]) -> u64 {
        self.sim.syscall(vm, pid, number, args).expect("live")
    }

    fn put(&mut self, vm: usize, pid: Pid, at: u64, bytes: &[u8]) {
        self.sim
            .copy_to_guest(vm, pid, at, bytes)
            .expect("writable");
    }

    fn word(&mut self, vm: usize, pid: Pid, at: u64) -> u64 {
        let bytes = self.sim.copy_from_guest(vm, pid, at, 8).expect("readable");
        u64::from_le_bytes(bytes.try_into().unwrap())
    }

    /// vm_open of one page of `shmid`; returns the base.
    fn vm_open(&mut self, vm: usize, pid: Pid, shmid: u64) -> u64 {
        self.put(vm, pid, SIZE_AT, &PAGE_SIZE.to_le_bytes());
        let r = self.call(
            vm,
            pid,
            SYS_VM_OPEN,
            &[shmid, BASE_AT, SIZE_AT, MULTISHARED, READ | WRITE],
        );
        assert_eq!(r, 0, "vm_open");
        self.word(vm, pid, BASE_AT)
    }

    fn check(&self) {
        if let Err(broken) = self.sim.check_invariants() {
            panic!("invariant broken: {broken}");
        }
    }
}

/// VM 0 runs a guest kernel (an idle program in kernel mode) with one
/// child made by hv_create; VM 1 an idle user process.
fn two_vms() -> (Rig, Pid, Pid, Pid) {
    let mut sim = Simulator::builder().capture_output(true).build();
    let elf = idle();
    let kernel = sim
        .load_elf_in(0, &elf, &["kernel".into()], Mode::Kernel, None)
        .unwrap();
    let vm1 = sim.add_vm();
    let other = sim
        .load_elf_in(vm1, &elf, &["other".into()], Mode::User, None)
        .unwrap();
    let mut rig = Rig { sim };
    let child = Pid(rig.call(0, kernel, HV_CREATE, &[]));
    assert!(rig.sim.process_in(0, child).is_some(), "hv_create");
    (rig, kernel, child, other)
}

#[test]
fn a_guest_kernel_cannot_give_its_child_a_page_of_an_inter_vm_block() {
    let (mut rig, kernel, child, other) = two_vms();
    let base = rig.vm_open(0, kernel, 1);
    let r = rig.call(
        0,
        kernel,
        HV_MAP,
        &[child.0, CHILD_PAGE, base, HV_PROT_READ | HV_PROT_WRITE],
    );
    assert_eq!(r, EPERM.to_return(), "hv_map of a block page");
    let stderr = String::from_utf8_lossy(rig.sim.stderr()).into_owned();
    assert!(
        stderr.contains("hv_map") && stderr.contains("inter-VM shared-memory block"),
        "{stderr}"
    );
    rig.check();
    // The attack went on: close the block, let VM 1 get a new one and
    // write a secret there. The child must not see any of it.
    assert_eq!(
        rig.call(0, kernel, SYS_VM_CLOSE, &[1, base, PAGE_SIZE]),
        0,
        "vm_close"
    );
    let theirs = rig.vm_open(1, other, 2);
    rig.put(1, other, theirs, b"VM 1's secret");
    let child_page = rig
        .sim
        .process_in(0, child)
        .unwrap()
        .page_table
        .get(VirtPage::containing(CHILD_PAGE));
    let their_frame = rig
        .sim
        .process_in(1, other)
        .unwrap()
        .page_table
        .get(VirtPage::containing(theirs))
        .unwrap()
        .frame;
    assert!(
        child_page.is_none_or(|pte| pte.frame != their_frame),
        "the guest kernel's child maps VM 1's block"
    );
    rig.check();
}

#[test]
fn a_guest_kernel_cannot_give_its_child_a_page_of_a_named_shm_object() {
    let (mut rig, kernel, child, _) = two_vms();
    rig.put(0, kernel, NAME_AT, b"obj\0");
    let id = rig.call(0, kernel, SYS_SHM_OPEN, &[NAME_AT]);
    assert_eq!(
        rig.call(0, kernel, SYS_SHM_SIZE, &[id, PAGE_SIZE]),
        PAGE_SIZE
    );
    let addr = rig.call(0, kernel, SYS_SHM_MAP, &[0, id]);
    let r = rig.call(
        0,
        kernel,
        HV_MAP,
        &[child.0, CHILD_PAGE, addr, HV_PROT_READ],
    );
    assert_eq!(r, EPERM.to_return(), "hv_map of an shm page");
    assert!(rig
        .sim
        .process_in(0, child)
        .unwrap()
        .page_table
        .get(VirtPage::containing(CHILD_PAGE))
        .is_none());
    rig.check();
    // The object goes with its last client, and nothing else holds its
    // frame.
    assert_eq!(rig.call(0, kernel, SYS_SHM_CLOSE, &[id]), 0);
    rig.check();
}

#[test]
fn private_pages_are_still_given_and_freed_by_their_last_mapping() {
    let (mut rig, kernel, child, _) = two_vms();
    let own = STACK_TOP - 32 * PAGE_SIZE;
    rig.put(0, kernel, own, b"shared with the child");
    let r = rig.call(
        0,
        kernel,
        HV_MAP,
        &[child.0, CHILD_PAGE, own, HV_PROT_READ | HV_PROT_WRITE],
    );
    assert_eq!(r, 0);
    let frame = |rig: &Rig, pid: Pid, at: u64| {
        rig.sim
            .process_in(0, pid)
            .and_then(|p| p.page_table.get(VirtPage::containing(at)))
            .map(|pte| pte.frame)
    };
    let shared = frame(&rig, kernel, own).unwrap();
    assert_eq!(frame(&rig, child, CHILD_PAGE), Some(shared));
    assert_eq!(rig.sim.machine().memory().references(shared), 2);
    rig.check();
    // hv_delete drops the child's reference and its entry in the table.
    assert_eq!(rig.call(0, kernel, HV_DELETE, &[child.0]), 0);
    assert!(rig.sim.process_in(0, child).is_none(), "deleted");
    assert_eq!(rig.sim.machine().memory().references(shared), 1);
    assert_eq!(
        rig.call(0, kernel, HV_STATUS, &[child.0]),
        ECHILD.to_return()
    );
    rig.check();
}

/// Found by the `syscalls` fuzz target: a fork of a guest kernel made a
/// context, ended, and was reaped; the context stayed in the table with a
/// supervisor that was gone. Now a process leaves the table with the
/// contexts it made.
#[test]
fn a_reaped_guest_kernel_fork_takes_its_contexts_along() {
    let (mut rig, kernel, _, _) = two_vms();
    const SIGCHLD: u64 = 17;
    let fork = Pid(rig.call(0, kernel, SYS_CLONE, &[SIGCHLD, 0, 0, 0, 0]));
    assert!(rig.sim.process_in(0, fork).is_some(), "fork");
    let context = Pid(rig.call(0, fork, HV_CREATE, &[]));
    assert!(rig.sim.process_in(0, context).is_some(), "hv_create");
    rig.call(0, fork, SYS_EXIT_GROUP, &[0]);
    rig.check();
    assert_eq!(
        rig.call(0, kernel, SYS_WAIT4, &[u64::MAX, 0, 0, 0]),
        fork.0,
        "wait4 reaps the fork"
    );
    rig.check();
    assert!(rig.sim.process_in(0, fork).is_none(), "the fork was reaped");
    assert!(
        rig.sim.process_in(0, context).is_none(),
        "its context went with it"
    );
}

/// Found by the `syscalls` fuzz target (seed 1, input 261, once the call
/// table grew): a call made through the library by a thread that did not
/// hold its group's address space faulted a page into an empty table; the
/// page was lost at the next move of the shared state ("7 frames are
/// allocated, but only 6 have an owner"). The kernel now activates the
/// thread whose exception it handles.
#[test]
fn a_call_of_a_thread_that_does_not_hold_the_address_space_loses_no_frame() {
    let mut sim = Simulator::builder().capture_output(true).build();
    let leader = sim
        .load_elf_in(0, &idle(), &["threads".into()], Mode::User, None)
        .unwrap();
    let mut rig = Rig { sim };
    const THREAD_FLAGS: u64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000;
    let thread = Pid(rig.call(
        0,
        leader,
        SYS_CLONE,
        &[THREAD_FLAGS, STACK_TOP - 8 * PAGE_SIZE, 0, 0, 0],
    ));
    assert!(
        rig.sim.process_in(0, thread).is_some(),
        "clone made a thread"
    );
    // The leader runs a call last: it holds the address space. Then the
    // thread writes to a stack page no one has touched yet.
    rig.call(0, leader, SYS_GETPID, &[]);
    let fresh = STACK_TOP - 40 * PAGE_SIZE;
    assert_eq!(rig.call(0, thread, SYS_CLOCK_GETTIME, &[1, fresh]), 0);
    rig.check();
    // The group ends; every frame it had goes back.
    rig.call(0, leader, SYS_EXIT_GROUP, &[0]);
    rig.check();
}

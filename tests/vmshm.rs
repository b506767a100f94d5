//! Inter-VM shared memory (docs/spec/vmshm.md): one test per row of the error
//! table and per lifetime rule, visibility between VMs both ways,
//! read-only enforcement, the demos of programs/vmshm (directly and under
//! the rr guest kernel) and a `--dump-vmshm` snapshot.
//!
//! The rig (tests/vmshm/support.rs) issues each call through the kernel's
//! real dispatch; every error test also checks that nothing changed.

#[path = "vmshm/support.rs"]
mod support;

use sim::abi::layout::SHM_BASE;
use sim::abi::*;
use sim::emu::PAGE_SIZE;
use sim::kernel::{Mode, ProcessState};
use sim::vmshm::{EXCLUSIVE, MULTISHARED, READ, WRITE};
use sim::Simulator;
use support::{e, program, Rig, BASE_AT, BLOCKED, SIZE_AT};

const RW: u64 = READ | WRITE;

// ---------------------------------------------------------- level 1: open

#[test]
fn open_maps_the_block_and_writes_base_and_size() {
    let mut rig = Rig::new(1);
    let (r, base, size) = rig.open(0, 1, 7, 5000, EXCLUSIVE, RW);
    assert_eq!((r, base, size), (0, SHM_BASE, 2 * PAGE_SIZE));
    assert_eq!(rig.refs(7), vec![0]);
    assert_eq!(rig.free_pages(), 254);
    rig.check();
}

#[test]
fn visibility_between_vms_in_both_directions() {
    let mut rig = Rig::new(2);
    let (_, a, _) = rig.open(0, 1, 7, 4096, MULTISHARED, RW);
    let (r, b, size) = rig.open(1, 1, 7, 0, MULTISHARED, RW);
    assert_eq!((r, size), (0, 4096), "*size 0 means the block's size");
    rig.write_u64(0, 1, a + 8, 0x1234);
    assert_eq!(rig.read_u64(1, 1, b + 8), 0x1234, "vm 0 → vm 1");
    rig.write_u64(1, 1, b + 16, 0x5678);
    assert_eq!(rig.read_u64(0, 1, a + 16), 0x5678, "vm 1 → vm 0");
    assert_eq!(rig.refs(7), vec![0, 1]);
    rig.check();
}

#[test]
fn write_alone_means_read_write_and_read_maps_read_only() {
    let mut rig = Rig::new(2);
    let (_, a, _) = rig.open(0, 1, 7, 4096, MULTISHARED, WRITE);
    let (_, b, _) = rig.open(1, 1, 7, 0, MULTISHARED, READ);
    rig.write_u64(0, 1, a, 9);
    assert_eq!(rig.read_u64(1, 1, b), 9);
    assert_eq!(rig.try_write_u64(1, 1, b, 1), Err(EFAULT));
}

#[test]
fn a_store_through_a_read_only_mapping_kills_only_the_storing_process() {
    let mut sim = Simulator::builder().capture_output(true).build();
    sim.load_program(
        &program("programs/vmshm/readonly.c"),
        &["readonly.c".into()],
    )
    .expect("loads");
    sim.add_vm();
    sim.load_program_in(
        1,
        &program("programs/vmshm/consumer.c"),
        &["consumer.c".into()],
        Mode::User,
        None,
    )
    .expect("loads");
    sim.load_program_in(
        1,
        &program("programs/vmshm/producer.c"),
        &["producer.c".into()],
        Mode::User,
        None,
    )
    .expect("loads");
    let outcome = sim.run();
    let stderr = String::from_utf8_lossy(sim.vm_stderr(0)).into_owned();
    assert_eq!(outcome.exit_code, 128 + 11, "{stderr}");
    assert!(
        stderr.contains("killed: store at address 0x3000001000")
            && stderr.contains("inter-VM shared memory opened read-only (docs/spec/vmshm.md"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(sim.vm_stdout(0)),
        "readonly: read 42\n"
    );
    // The other VM's processes went on and finished.
    assert_eq!(
        String::from_utf8_lossy(sim.vm_stdout(1)),
        "consumer (vm 1): sum 5050\nproducer (vm 1): sent 1..100\n"
    );
    // The killed process's close at exit dropped its VM's reference.
    assert!(sim.host_daemon().open_blocks().is_empty());
}

// ----------------------------------------------------- the error table

#[test]
fn bad_pointer_efault() {
    let mut rig = Rig::new(1);
    assert_eq!(
        rig.call(0, 1, SYS_VM_OPEN, &[7, 0, SIZE_AT, EXCLUSIVE, RW]),
        e(EFAULT)
    );
    rig.set_size(0, 1, 4096);
    assert_eq!(
        rig.call(0, 1, SYS_VM_OPEN, &[7, BASE_AT, 8, EXCLUSIVE, RW]),
        e(EFAULT)
    );
    // Code pages are readable but not writable: *base cannot be written.
    assert_eq!(
        rig.call(0, 1, SYS_VM_OPEN, &[7, 0x10000, SIZE_AT, EXCLUSIVE, RW]),
        e(EFAULT)
    );
    assert_eq!(rig.call(0, 1, SYS_VM_LISTEN, &[7, BASE_AT, 0]), e(EFAULT));
    assert_eq!(
        rig.call(0, 1, SYS_VM_CONNECT, &[0, 7, 0, SIZE_AT]),
        e(EFAULT)
    );
    assert!(rig.refs(7).is_empty());
    assert!(rig.host(|h| h.connections().is_empty() && h.frames().is_empty()));
}

#[test]
fn flags_perms_and_shmid_einval() {
    let mut rig = Rig::new(1);
    for (shmid, flags, perms) in [
        (7, EXCLUSIVE | MULTISHARED, RW), // both flags
        (7, 0, RW),                       // neither
        (7, 4, RW),                       // unknown flag
        (7, EXCLUSIVE, 0),                // no permission
        (7, EXCLUSIVE, 4),                // unknown perms bit
        (7, EXCLUSIVE, 7),
        ((-1i64) as u64, EXCLUSIVE, RW), // negative shmid
    ] {
        assert_eq!(
            rig.open(0, 1, shmid, 4096, flags, perms).0,
            e(EINVAL),
            "{flags} {perms}"
        );
    }
    assert_eq!(rig.listen(0, 1, (-3i64) as u64, 0), e(EINVAL));
    assert_eq!(rig.connect(0, 1, 0, (-3i64) as u64), e(EINVAL));
    assert!(rig.host(|h| h.open_blocks().is_empty() && h.frames().is_empty()));
    assert_eq!(rig.read_u64(0, 1, BASE_AT), 0, "*base unchanged");
}

#[test]
fn flags_differ_from_creation_einval() {
    let mut rig = Rig::new(2);
    rig.open(0, 1, 7, 4096, EXCLUSIVE, RW);
    let (r, base, size) = rig.open(1, 1, 7, 0, MULTISHARED, RW);
    assert_eq!((r, base, size), (e(EINVAL), 0, 0), "nothing written");
    assert_eq!(rig.refs(7), vec![0]);
}

#[test]
fn size_larger_than_the_existing_block_einval() {
    let mut rig = Rig::new(2);
    rig.open(0, 1, 7, 4096, MULTISHARED, RW);
    assert_eq!(rig.open(1, 1, 7, 4097, MULTISHARED, RW).0, e(EINVAL));
    assert_eq!(
        rig.open(1, 1, 7, 4096, MULTISHARED, RW).0,
        0,
        "equal is fine"
    );
}

#[test]
fn unknown_shmid_with_size_0_enoent() {
    let mut rig = Rig::new(1);
    assert_eq!(rig.open(0, 1, 7, 0, MULTISHARED, RW).0, e(ENOENT));
    assert!(rig.refs(7).is_empty());
}

#[test]
fn no_free_block_large_enough_enospc() {
    let mut rig = Rig::new(2);
    assert_eq!(
        rig.open(0, 1, 1, 257 * PAGE_SIZE, MULTISHARED, RW).0,
        e(ENOSPC)
    );
    assert_eq!(rig.open(0, 1, 1, 200 * PAGE_SIZE, MULTISHARED, RW).0, 0);
    assert_eq!(
        rig.open(1, 1, 2, 57 * PAGE_SIZE, MULTISHARED, RW).0,
        e(ENOSPC)
    );
    assert_eq!(rig.open(1, 1, 2, 56 * PAGE_SIZE, MULTISHARED, RW).0, 0);
    assert_eq!(rig.free_pages(), 0);
    rig.check();
}

#[test]
fn exclusive_third_vm_ebusy_multishared_third_vm_fine() {
    let mut rig = Rig::new(3);
    rig.open(0, 1, 7, 4096, EXCLUSIVE, RW);
    assert_eq!(rig.open(1, 1, 7, 0, EXCLUSIVE, RW).0, 0);
    let (r, base, _) = rig.open(2, 1, 7, 0, EXCLUSIVE, RW);
    assert_eq!((r, base), (e(EBUSY), 0));
    assert_eq!(rig.refs(7), vec![0, 1]);
    // A second process of a VM already counted in is not a third VM.
    rig.open(0, 1, 8, 4096, MULTISHARED, RW);
    rig.open(1, 1, 8, 0, MULTISHARED, RW);
    assert_eq!(rig.open(2, 1, 8, 0, MULTISHARED, RW).0, 0);
    assert_eq!(rig.refs(8), vec![0, 1, 2]);
}

#[test]
fn close_of_a_shmid_not_open_einval() {
    let mut rig = Rig::new(1);
    assert_eq!(rig.close(0, 1, 7, SHM_BASE, 4096), e(EINVAL));
    let (_, base, size) = rig.open(0, 1, 7, 4096, MULTISHARED, RW);
    assert_eq!(
        rig.close(0, 1, 7, base + PAGE_SIZE, size),
        e(EINVAL),
        "wrong base"
    );
    assert_eq!(
        rig.close(0, 1, 7, base, 3 * PAGE_SIZE),
        e(EINVAL),
        "wrong size"
    );
    assert_eq!(rig.close(0, 1, 7, base, size), 0);
    assert_eq!(rig.close(0, 1, 7, base, size), e(EINVAL), "second close");
    assert!(rig.refs(7).is_empty());
}

#[test]
fn listen_where_someone_listens_eaddrinuse() {
    let mut rig = Rig::new(2);
    rig.listen(0, 1, 9, 0);
    assert!(rig.is_blocked(0, 1));
    assert_eq!(rig.listen(1, 1, 9, 0), e(EADDRINUSE));
    assert!(!rig.is_blocked(1, 1));
}

#[test]
fn connect_to_a_vm_that_does_not_exist_ehostunreach() {
    let mut rig = Rig::new(2);
    assert_eq!(rig.connect(1, 1, 5, 9), e(EHOSTUNREACH));
    assert_eq!(rig.read_u64(1, 1, BASE_AT), 0);
}

#[test]
fn connect_where_nobody_listens_econnrefused() {
    let mut rig = Rig::new(3);
    assert_eq!(rig.connect(1, 1, 0, 9), e(ECONNREFUSED));
    rig.listen(0, 1, 9, 0);
    assert_eq!(
        rig.connect(1, 1, 2, 9),
        e(ECONNREFUSED),
        "listens in another VM"
    );
}

#[test]
fn connect_to_a_pair_already_connected_eisconn() {
    let mut rig = Rig::new(3);
    rig.listen(0, 1, 9, 0);
    assert_eq!(rig.connect(1, 1, 0, 9), 0);
    assert_eq!(rig.connect(2, 1, 0, 9), e(EISCONN));
    assert_eq!(rig.read_u64(2, 1, BASE_AT), 0);
}

// ----------------------------------------------------- level 2 in order

/// VM 0 listens, VM 1 connects, VM 0 picks the block up; returns both bases.
fn pair(rig: &mut Rig) -> (u64, u64) {
    assert_eq!(rig.listen(0, 1, 9, 3 * PAGE_SIZE), BLOCKED, "blocks");
    assert!(matches!(rig.state(0, 1), ProcessState::Blocked(_)));
    assert_eq!(rig.connect(1, 1, 0, 9), 0);
    assert_eq!(
        rig.state(0, 1),
        ProcessState::Ready,
        "the connect woke the listener"
    );
    assert_eq!(rig.listen(0, 1, 9, 3 * PAGE_SIZE), 1, "the peer's VM id");
    assert_eq!(rig.read_u64(0, 1, SIZE_AT), 3 * PAGE_SIZE);
    assert_eq!(rig.read_u64(1, 1, SIZE_AT), 3 * PAGE_SIZE);
    (rig.base(0, 1), rig.base(1, 1))
}

#[test]
fn listen_connect_exchange_disconnect() {
    let mut rig = Rig::new(2);
    let (a, b) = pair(&mut rig);
    rig.write_u64(0, 1, a + 2 * PAGE_SIZE, 77);
    assert_eq!(rig.read_u64(1, 1, b + 2 * PAGE_SIZE), 77);
    rig.write_u64(1, 1, b, 88);
    assert_eq!(rig.read_u64(0, 1, a), 88);
    assert_eq!(rig.free_pages(), 253);
    rig.check();
    assert_eq!(rig.disconnect(0, 1, 9), BLOCKED, "waits for the peer");
    assert!(rig.is_blocked(0, 1));
    assert_eq!(rig.free_pages(), 253, "vm 1 still maps the block");
    assert_eq!(
        rig.disconnect(1, 1, 9),
        0,
        "the second close returns at once"
    );
    assert_eq!(rig.free_pages(), 256);
    assert_eq!(rig.state(0, 1), ProcessState::Ready);
    assert_eq!(rig.disconnect(0, 1, 9), 0);
    assert!(rig.host(|h| h.connections().is_empty()));
    assert_eq!(rig.disconnect(0, 1, 9), e(EINVAL), "not connected any more");
    rig.check();
}

#[test]
fn blocking_stops_only_the_caller() {
    let mut rig = Rig::with(2, 2, 1);
    rig.listen(0, 1, 9, 0);
    assert!(rig.is_blocked(0, 1));
    assert_eq!(rig.state(0, 2), ProcessState::Ready);
    assert_eq!(rig.call(0, 2, SYS_GETPID, &[]), 2, "its VM goes on");
    assert_eq!(rig.call(1, 1, SYS_VM_ID, &[]), 1, "other VMs go on");
}

// ----------------------------------------------------- lifetime rules

#[test]
fn a_process_that_exits_closes_all_it_opened() {
    let mut rig = Rig::with(2, 2, 1);
    rig.open(0, 1, 7, 4096, MULTISHARED, RW);
    rig.open(0, 1, 8, 4096, MULTISHARED, READ);
    rig.open(0, 2, 7, 0, MULTISHARED, RW);
    rig.open(1, 1, 8, 0, MULTISHARED, RW);
    let frames = rig.host(|h| h.frames().to_vec());
    rig.exit(0, 1);
    assert_eq!(rig.refs(7), vec![0], "process 2 of vm 0 still has it");
    assert_eq!(rig.refs(8), vec![1]);
    rig.exit(0, 2);
    assert!(rig.refs(7).is_empty());
    assert_eq!(rig.free_pages(), 255);
    // The host's frames were not freed by the exits.
    assert!(frames
        .iter()
        .all(|&f| rig.sim.machine().memory().is_allocated(f)));
    rig.check();
}

#[test]
fn exit_while_connected_does_not_block_and_the_waiting_peer_is_reset() {
    let mut rig = Rig::new(2);
    pair(&mut rig);
    assert_eq!(rig.disconnect(1, 1, 9), BLOCKED);
    rig.exit(0, 1);
    assert!(
        rig.sim
            .process_in(0, sim::kernel::Pid(1))
            .is_some_and(sim::kernel::Process::is_zombie),
        "exit did not block"
    );
    assert_eq!(
        rig.state(1, 1),
        ProcessState::Ready,
        "the peer's close completes"
    );
    assert_eq!(rig.disconnect(1, 1, 9), e(ECONNRESET));
    assert_eq!(rig.free_pages(), 256, "resources released");
    assert!(rig.host(|h| h.connections().is_empty()));
}

#[test]
fn a_peer_exiting_before_the_listener_picked_up_resets_the_listener() {
    let mut rig = Rig::new(2);
    rig.listen(0, 1, 9, 0);
    rig.connect(1, 1, 0, 9);
    rig.exit(1, 1);
    assert_eq!(rig.listen(0, 1, 9, 0), e(ECONNRESET));
    assert_eq!(rig.free_pages(), 256);
}

#[test]
fn a_mapped_side_whose_peer_exited_closes_at_once() {
    let mut rig = Rig::new(2);
    pair(&mut rig);
    rig.exit(1, 1);
    assert_eq!(rig.disconnect(0, 1, 9), 0);
    assert_eq!(rig.free_pages(), 256);
}

#[test]
fn a_vm_that_ends_while_a_peer_waits_resets_it_and_cannot_be_reached() {
    let mut rig = Rig::with(2, 2, 1);
    pair(&mut rig);
    rig.open(1, 2, 7, 4096, MULTISHARED, RW);
    assert_eq!(rig.disconnect(0, 1, 9), BLOCKED);
    // Every process of VM 1 ends (killed, as when its guest kernel dies).
    rig.kill(1, 2);
    rig.kill(1, 1);
    assert!(rig.host(|h| h.vms()[&sim::vmshm::VmId(1)]), "vm 1 ended");
    assert!(rig.refs(7).is_empty());
    assert_eq!(rig.state(0, 1), ProcessState::Ready);
    assert_eq!(rig.disconnect(0, 1, 9), e(ECONNRESET));
    assert_eq!(rig.connect(0, 2, 1, 9), e(EHOSTUNREACH));
    assert_eq!(rig.free_pages(), 256);
}

#[test]
fn a_block_is_reused_only_after_every_vm_unmapped_it_and_scrubbed() {
    let mut rig = Rig::new(3);
    let (_, a, _) = rig.open(0, 1, 1, 4096, MULTISHARED, RW);
    let (_, b, _) = rig.open(1, 1, 1, 0, MULTISHARED, RW);
    rig.write_u64(0, 1, a, 0xfeed);
    assert_eq!(rig.close(0, 1, 1, a, 4096), 0);
    let offset = |rig: &Rig, shmid| rig.host(|h| h.open_blocks()[&shmid].block.first);
    rig.open(2, 1, 2, 4096, MULTISHARED, RW);
    assert_ne!(offset(&rig, 2), 0, "vm 1 still maps block 0");
    assert_eq!(rig.read_u64(1, 1, b), 0xfeed);
    assert_eq!(rig.close(1, 1, 1, b, 4096), 0);
    let (_, c, _) = rig.open(2, 1, 3, 4096, MULTISHARED, RW);
    assert_eq!(offset(&rig, 3), 0, "first fit reuses block 0 now");
    assert_eq!(rig.read_u64(2, 1, c), 0, "scrubbed");
    rig.check();
}

// ----------------------------------------------------- fork, vm_id

#[test]
fn fork_shares_level_1_mappings() {
    let mut rig = Rig::new(1);
    let (_, a, _) = rig.open(0, 1, 7, 4096, MULTISHARED, RW);
    let child = rig.call(0, 1, SYS_CLONE, &[17, 0]);
    rig.write_u64(0, child, a, 5);
    assert_eq!(rig.read_u64(0, 1, a), 5);
    rig.check();
    rig.exit(0, 1);
    assert_eq!(rig.refs(7), vec![0], "the child still has it open");
    rig.exit(0, child);
    assert!(rig.refs(7).is_empty());
    rig.check();
}

#[test]
fn vm_id_is_the_kernels_id() {
    let mut rig = Rig::new(3);
    assert_eq!(rig.call(2, 1, SYS_VM_ID, &[]), 2);
}

// ----------------------------------------------------- demos

fn run(scenario: &str, dump: bool) -> Simulator {
    let scenario = sim::hypervisor::Scenario::parse(scenario).expect("scenario");
    let mut sim = Simulator::builder()
        .capture_output(true)
        .trace(sim::Trace {
            dump_vmshm: dump,
            ..sim::Trace::default()
        })
        .build();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd");
    sim.load_scenario(&scenario).expect("loads");
    let outcome = sim.run();
    assert_eq!(
        outcome.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(sim.vm_stderr(0))
    );
    sim
}

fn stdout(sim: &Simulator, vm: usize) -> String {
    String::from_utf8_lossy(sim.vm_stdout(vm)).into_owned()
}

const LISTENER_OUT: &str = "listener: vm 1 connected, 4096 bytes\nlistener: 1 squared is 1\nlistener: 2 squared is 4\nlistener: 3 squared is 9\nlistener: 4 squared is 16\nlistener: 5 squared is 25\nlistener: closed\n";

#[test]
fn demo_level_1_producer_and_consumer_in_two_vms() {
    let sim = run(
        "user programs/vmshm/producer.c\nvm\nuser programs/vmshm/consumer.c\n",
        false,
    );
    assert_eq!(stdout(&sim, 0), "producer (vm 0): sent 1..100\n");
    assert_eq!(stdout(&sim, 1), "consumer (vm 1): sum 5050\n");
}

#[test]
fn demo_level_2_listener_and_connector_in_two_vms() {
    let sim = run(
        "user programs/vmshm/listener.c\nvm\nuser programs/vmshm/connector.c\n",
        false,
    );
    assert_eq!(stdout(&sim, 0), LISTENER_OUT);
    assert_eq!(
        stdout(&sim, 1),
        "connector (vm 1): connected\nconnector: closed\n"
    );
}

#[test]
fn demos_under_the_rr_guest_kernel_forward_the_calls() {
    let sim = run(
        "kernel programs/kernels/rr.c\nuser programs/vmshm/listener.c\nvm\nkernel programs/kernels/rr.c\nuser programs/vmshm/connector.c\n",
        false,
    );
    assert_eq!(stdout(&sim, 0), LISTENER_OUT);
    assert_eq!(
        stdout(&sim, 1),
        "connector (vm 1): connected\nconnector: closed\n"
    );
    let sim = run(
        "kernel programs/kernels/rr.c\nuser programs/vmshm/producer.c\nvm\nuser programs/vmshm/consumer.c\n",
        false,
    );
    assert_eq!(stdout(&sim, 1), "consumer (vm 1): sum 5050\n");
}

#[test]
fn dump_vmshm_of_the_listen_connect_demo() {
    let sim = run(
        "user programs/vmshm/listener.c\nvm\nuser programs/vmshm/connector.c\n",
        true,
    );
    let text = format!(
        "--- vm 0 stderr\n{}--- vm 1 stderr\n{}--- at the end\n{}",
        String::from_utf8_lossy(sim.vm_stderr(0)),
        String::from_utf8_lossy(sim.vm_stderr(1)),
        sim.dump_vmshm()
    );
    insta::assert_snapshot!(text);
}

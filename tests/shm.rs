//! Named shared memory (docs/spec/shm.md): one test per rule and per error, in
//! the style of the LTP shm tests (each sets up, makes one call, checks
//! the result, the lists, the page tables and that an error changed
//! nothing), then the exception-stepping test, the `--dump-shm` snapshots
//! and the guest programs of programs/shm.
//!
//! Isolation of two kernels (the same name in two VMs reaching two
//! objects) waits for VMs; `two_kernels_have_separate_tables` checks only
//! that each kernel owns its table.

#[path = "shm/support.rs"]
mod support;

use sim::abi::layout::{SHM_BASE, STACK_TOP, USER_END};
use sim::abi::*;
use sim::emu::{Reg, PAGE_SIZE};
use sim::kernel::{ExitStatus, Pid};
use sim::shm::{MAX_OBJECTS, SIZE_MAX};
use support::{e, Rig, NAME_AT};

// ---------------------------------------------------------------- A.1 open

#[test]
fn a1_open_same_name_same_id() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let a = rig.open(p1, "test");
    let b = rig.open(p2, "test");
    assert_eq!(a, b);
    assert_eq!(rig.clients("test"), vec![1, 2]);
    rig.check();
}

#[test]
fn a1_open_again_adds_no_second_client() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let a = rig.open(p, "test");
    assert_eq!(rig.open(p, "test"), a);
    assert_eq!(rig.clients("test"), vec![1]);
    rig.check();
}

#[test]
fn a1_open_creates_at_end_of_list_without_size() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    for name in ["a", "b", "c"] {
        rig.open(p, name);
    }
    assert_eq!(rig.names(), vec!["a", "b", "c"]);
    let obj = rig.sim.kernel().shm().find(b"c").unwrap();
    assert_eq!((obj.size, obj.frames.len()), (None, 0));
}

#[test]
fn a1_open_empty_name_einval() {
    let mut rig = Rig::new(1);
    assert_eq!(rig.open(rig.pids[0], ""), e(EINVAL));
    assert!(rig.names().is_empty());
}

#[test]
fn a1_open_no_nul_within_255_bytes_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    rig.write(p, NAME_AT, &[b'x'; 300]);
    assert_eq!(rig.call(p, SYS_SHM_OPEN, &[NAME_AT]), e(EINVAL));
    assert!(rig.names().is_empty());
}

#[test]
fn a1_open_name_too_long_enametoolong() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let longest = "n".repeat(sim::shm::NAME_MAX);
    assert!(rig.open(p, &longest) < e(Errno(4095)));
    assert_eq!(rig.open(p, &format!("{longest}n")), e(ENAMETOOLONG));
    assert_eq!(rig.names().len(), 1);
}

#[test]
fn a1_open_bad_pointer_efault() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    for bad in [0, 8, USER_END, u64::MAX] {
        assert_eq!(rig.call(p, SYS_SHM_OPEN, &[bad]), e(EFAULT), "{bad:#x}");
    }
    assert!(rig.names().is_empty());
}

#[test]
fn a1_open_table_full_enospc() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    for i in 0..MAX_OBJECTS {
        assert!(rig.open(p, &format!("o{i}")) < e(Errno(4095)));
    }
    assert_eq!(rig.open(p, "one more"), e(ENOSPC));
    // An existing name still opens.
    assert!(rig.open(p, "o3") < e(Errno(4095)));
    assert_eq!(rig.names().len(), MAX_OBJECTS);
    rig.check();
}

// ---------------------------------------------------------------- A.2 size

#[test]
fn a2_size_rounds_up() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    for (asked, got) in [(1, 4096), (4096, 4096), (4097, 8192), (5000, 8192)] {
        let id = rig.open(p, &format!("s{asked}"));
        assert_eq!(rig.size(p, id, asked), got);
        let obj = rig
            .sim
            .kernel()
            .shm()
            .find(format!("s{asked}").as_bytes())
            .unwrap();
        assert_eq!(obj.frames.len() as u64, got / PAGE_SIZE);
    }
    rig.check();
}

#[test]
fn a2_size_same_rounded_size_returns_it() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let id = rig.open(p1, "test");
    rig.open(p2, "test");
    assert_eq!(rig.size(p1, id, 5000), 8192);
    let frames = rig.sim.kernel().shm().find(b"test").unwrap().frames.clone();
    assert_eq!(rig.size(p2, id, 8000), 8192);
    assert_eq!(rig.sim.kernel().shm().find(b"test").unwrap().frames, frames);
}

#[test]
fn a2_size_sealed_eperm() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    rig.size(p, id, 5000);
    let free = rig.free_frames();
    assert_eq!(rig.size(p, id, 9000), e(EPERM));
    assert_eq!(rig.size(p, id, 4096), e(EPERM));
    assert_eq!(rig.free_frames(), free);
    assert_eq!(
        rig.sim.kernel().shm().find(b"test").unwrap().size,
        Some(8192)
    );
}

#[test]
fn a2_size_zero_too_large_overflow_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    for bad in [0, SIZE_MAX + 1, u64::MAX, u64::MAX - 100] {
        assert_eq!(rig.size(p, id, bad), e(EINVAL), "{bad:#x}");
    }
    assert_eq!(rig.sim.kernel().shm().find(b"test").unwrap().size, None);
}

#[test]
fn a2_size_unknown_id_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    rig.open(p, "test");
    for bad in [0, 2, 1 + MAX_OBJECTS as u64, u64::MAX] {
        assert_eq!(rig.size(p, bad, 4096), e(EINVAL), "{bad}");
    }
}

#[test]
fn a2_size_not_a_client_eacces() {
    let mut rig = Rig::new(2);
    let id = rig.open(rig.pids[0], "test");
    assert_eq!(rig.size(rig.pids[1], id, 4096), e(EACCES));
    assert_eq!(rig.sim.kernel().shm().find(b"test").unwrap().size, None);
}

#[test]
fn a2_size_enomem_changes_nothing() {
    let mut rig = Rig::with_memory(1, 1);
    let p = rig.pids[0];
    let id = rig.open(p, "big");
    let free = rig.free_frames();
    assert_eq!(rig.size(p, id, u64::from(free + 1) * PAGE_SIZE), e(ENOMEM));
    assert_eq!(rig.free_frames(), free);
    assert_eq!(rig.sim.kernel().shm().find(b"big").unwrap().size, None);
    // Retry with what fits.
    assert_eq!(
        rig.size(p, id, u64::from(free) * PAGE_SIZE),
        u64::from(free) * PAGE_SIZE
    );
    rig.check();
}

#[test]
fn a2_frames_zero_filled() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    // Dirty eight frames, then give them back to the allocator.
    let (_, addr) = rig.open_size_map(p1, "junk", 8 * PAGE_SIZE);
    rig.write(p1, addr, &[0xaa; 8 * 4096]);
    let dirty: Vec<_> = rig.frames(p1, addr, 8);
    rig.exit(p1);
    // The allocator reuses freed frames first: "clean" gets those frames.
    let id = rig.open(p2, "clean");
    rig.size(p2, id, 8 * PAGE_SIZE);
    let frames = rig
        .sim
        .kernel()
        .shm()
        .find(b"clean")
        .unwrap()
        .frames
        .clone();
    assert!(frames.iter().any(|f| dirty.contains(&Some(*f))));
    let addr = rig.map(p2, 0, id);
    assert_eq!(rig.read(p2, addr, 8 * PAGE_SIZE), vec![0; 8 * 4096]);
    rig.check();
}

// ----------------------------------------------------------------- A.3 map

#[test]
fn a3_map_before_size_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    let pages = rig.sim.process(p).unwrap().page_table.len();
    assert_eq!(rig.map(p, 0, id), e(EINVAL));
    assert_eq!(rig.sim.process(p).unwrap().page_table.len(), pages);
}

#[test]
fn a3_unaligned_addr_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    rig.size(p, id, 4096);
    for addr in [SHM_BASE + 1, SHM_BASE + 8, SHM_BASE + 4095] {
        assert_eq!(rig.map(p, addr, id), e(EINVAL));
    }
    assert!(rig.clients("test").len() == 1);
    rig.check();
}

#[test]
fn a3_occupied_addr_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    rig.size(p, id, 2 * PAGE_SIZE);
    let at = rig.map(p, 0, id);
    // Mapped already; overlapping by one page; the stack (mapped and
    // demand-paged); the heap's room below SHM_BASE; the program's code.
    let heap = rig.sim.process(p).unwrap().heap_start;
    for addr in [
        at,
        at + PAGE_SIZE,
        at - PAGE_SIZE,
        STACK_TOP - PAGE_SIZE,
        STACK_TOP - (1 << 20),
        (heap + 0xffff) & !0xfff,
        SHM_BASE - PAGE_SIZE,
        0x10000,
    ] {
        assert_eq!(rig.map(p, addr, id), e(EINVAL), "{addr:#x}");
    }
    rig.check();
}

#[test]
fn a3_out_of_range_addr_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    rig.size(p, id, 2 * PAGE_SIZE);
    for addr in [USER_END, USER_END - PAGE_SIZE, u64::MAX - 0xfff, 1 << 63] {
        assert_eq!(rig.map(p, addr, id), e(EINVAL), "{addr:#x}");
    }
    rig.check();
}

#[test]
fn a3_kernel_picks_free_range_and_user_addr_is_honoured() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let id = rig.open(p, "test");
    rig.size(p, id, 5000);
    assert_eq!(rig.map(p, 0, id), SHM_BASE);
    assert_eq!(rig.map(p, 0, id), SHM_BASE + 2 * PAGE_SIZE);
    let mine = SHM_BASE + (1 << 30);
    assert_eq!(rig.map(p, mine, id), mine);
    // Below the program: page 1 is user space too.
    assert_eq!(rig.map(p, 0x1000, id), 0x1000);
    rig.check();
}

#[test]
fn a3_maps_read_write_and_shares_frames() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, a1) = rig.open_size_map(p1, "test", 5000);
    rig.open(p2, "test");
    let a2 = rig.map(p2, SHM_BASE + 0x10_0000, id);
    assert_eq!(rig.frames(p1, a1, 2), rig.frames(p2, a2, 2));
    let pte = rig
        .sim
        .process(p2)
        .unwrap()
        .page_table
        .get(sim::emu::VirtPage::containing(a2))
        .unwrap();
    assert_eq!(
        pte.flags.permissions(),
        sim::emu::PteFlags::USER_RW.permissions()
    );
    rig.write(p1, a1 + 4096 + 10, b"hello");
    assert_eq!(rig.read(p2, a2 + 4096 + 10, 5), b"hello");
    rig.check();
}

#[test]
fn a3_double_map_aliases() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let (id, first) = rig.open_size_map(p, "test", 4096);
    let second = rig.map(p, 0, id);
    assert_ne!(first, second);
    assert_eq!(rig.frame(p, first), rig.frame(p, second));
    rig.write(p, first + 100, b"alias");
    assert_eq!(rig.read(p, second + 100, 5), b"alias");
    let obj = rig.sim.kernel().shm().find(b"test").unwrap();
    assert_eq!(obj.client(p).unwrap().1.pages.len(), 2);
    rig.check();
}

#[test]
fn a3_not_a_client_eacces() {
    let mut rig = Rig::new(2);
    let (id, _) = rig.open_size_map(rig.pids[0], "test", 4096);
    assert_eq!(rig.map(rig.pids[1], 0, id), e(EACCES));
    rig.check();
}

#[test]
fn a3_unknown_id_einval() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    rig.open_size_map(p, "test", 4096);
    assert_eq!(rig.map(p, 0, 7), e(EINVAL));
    assert_eq!(rig.map(p, 0, 0), e(EINVAL));
}

// --------------------------------------------------------------- A.4 close

#[test]
fn a4_close_keeps_contents_private() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, a1) = rig.open_size_map(p1, "test", 5000);
    rig.open(p2, "test");
    let a2 = rig.map(p2, 0, id);
    rig.write(p1, a1, b"before");
    let shared = rig.frames(p1, a1, 2);
    assert_eq!(rig.close(p1, id), 0);
    // Same address, same contents, private frames.
    let private = rig.frames(p1, a1, 2);
    assert!(private.iter().all(|f| f.is_some() && !shared.contains(f)));
    assert_eq!(rig.read(p1, a1, 6), b"before");
    // No leak either way.
    rig.write(p1, a1, b"mine!!");
    assert_eq!(rig.read(p2, a2, 6), b"before");
    rig.write(p2, a2 + 4096, b"theirs");
    assert_eq!(rig.read(p1, a1 + 4096, 6), vec![0; 6]);
    assert_eq!(rig.clients("test"), vec![2]);
    rig.check();
}

#[test]
fn a4_last_client_keeps_original_frames_and_frees_name() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, a1) = rig.open_size_map(p1, "test", 5000);
    rig.open(p2, "test");
    let a2 = rig.map(p2, 0, id);
    let original = rig.frames(p2, a2, 2);
    rig.close(p1, id);
    let free = rig.free_frames();
    assert_eq!(rig.close(p2, id), 0);
    assert_eq!(
        rig.frames(p2, a2, 2),
        original,
        "no copy for the last client"
    );
    assert_eq!(rig.free_frames(), free, "no frame allocated or freed");
    assert!(rig.names().is_empty());
    assert_ne!(rig.frames(p1, a1, 2), original);
    // The name is free again: a new object, a new id.
    let again = rig.open(p1, "test");
    assert_ne!(again, id);
    assert_eq!(rig.sim.kernel().shm().find(b"test").unwrap().size, None);
    rig.check();
}

#[test]
fn a4_last_client_copies_its_second_mapping() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let (id, first) = rig.open_size_map(p, "test", 4096);
    let second = rig.map(p, 0, id);
    let original = rig.frame(p, first);
    rig.write(p, first, b"x");
    assert_eq!(rig.close(p, id), 0);
    assert_eq!(rig.frame(p, first), original);
    assert_ne!(rig.frame(p, second), original);
    assert_eq!(rig.read(p, second, 1), b"x");
    rig.write(p, first, b"y");
    assert_eq!(
        rig.read(p, second, 1),
        b"x",
        "the views are no longer aliased"
    );
    rig.check();
}

#[test]
fn a4_client_that_never_mapped_just_leaves() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, _) = rig.open_size_map(p1, "test", 4096);
    rig.open(p2, "test");
    let free = rig.free_frames();
    assert_eq!(rig.close(p2, id), 0);
    assert_eq!(rig.free_frames(), free);
    assert_eq!(rig.clients("test"), vec![1]);
    // The last client, never mapped: the frames go back to the allocator.
    let q = rig.open(p2, "unmapped");
    rig.size(p2, q, 3 * PAGE_SIZE);
    let free = rig.free_frames();
    assert_eq!(rig.close(p2, q), 0);
    assert_eq!(rig.free_frames(), free + 3);
    rig.check();
}

#[test]
fn a4_double_close_einval() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, _) = rig.open_size_map(p1, "test", 4096);
    rig.open(p2, "test");
    assert_eq!(rig.close(p1, id), 0);
    assert_eq!(rig.close(p1, id), e(EINVAL));
    assert_eq!(rig.clients("test"), vec![2]);
    rig.check();
}

#[test]
fn a4_close_not_a_client_einval() {
    let mut rig = Rig::new(2);
    let (id, _) = rig.open_size_map(rig.pids[0], "test", 4096);
    assert_eq!(rig.close(rig.pids[1], id), e(EINVAL));
    assert_eq!(rig.close(rig.pids[1], 12345), e(EINVAL));
    assert_eq!(rig.clients("test"), vec![1]);
}

#[test]
fn a4_stale_id_after_slot_reuse() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let old = rig.open(p, "old");
    rig.close(p, old);
    let new = rig.open(p, "new");
    let slot = |rig: &Rig| rig.sim.kernel().shm().objects().head().unwrap();
    assert_eq!(slot(&rig).0, 0, "the freed slot is reused");
    assert_ne!(new, old);
    assert_eq!(rig.size(p, old, 4096), e(EINVAL));
    assert_eq!(rig.map(p, 0, old), e(EINVAL));
    assert_eq!(rig.close(p, old), e(EINVAL));
    assert_eq!(rig.sim.kernel().shm().find(b"new").unwrap().size, None);
    assert_eq!(rig.clients("new"), vec![1]);
    rig.check();
}

#[test]
fn a4_close_enomem_is_atomic() {
    let mut rig = Rig::with_memory(2, 1);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, a1) = rig.open_size_map(p1, "test", 4 * PAGE_SIZE);
    rig.open(p2, "test");
    rig.map(p2, 0, id);
    rig.write(p1, a1, b"keep");
    // Take every free frame but two: p1's close needs four.
    let hog = rig.open(p2, "hog");
    let spare = u64::from(rig.free_frames()) - 2;
    rig.size(p2, hog, spare * PAGE_SIZE);
    let dump = rig.sim.dump_shm();
    let frames = rig.frames(p1, a1, 4);
    let free = rig.free_frames();
    assert_eq!(rig.close(p1, id), e(ENOMEM));
    assert_eq!(rig.sim.dump_shm(), dump);
    assert_eq!(rig.frames(p1, a1, 4), frames);
    assert_eq!(rig.free_frames(), free);
    rig.check();
    // Free the hog; the same call now succeeds.
    rig.close(p2, hog);
    assert_eq!(rig.close(p1, id), 0);
    assert_eq!(rig.read(p1, a1, 4), b"keep");
    rig.check();
}

// ------------------------------------------------------- A.5 exit, A.6 fork

#[test]
fn a5_exit_without_close() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let baseline = rig.free_frames();
    let (id, _) = rig.open_size_map(p1, "test", 5000);
    rig.open(p2, "test");
    let a2 = rig.map(p2, 0, id);
    rig.open_size_map(p1, "other", 4096);
    rig.write(p2, a2, b"alive");
    rig.exit(p1);
    assert_eq!(rig.names(), vec!["test"], "p1's own object died with it");
    assert_eq!(rig.clients("test"), vec![2]);
    assert_eq!(rig.read(p2, a2, 5), b"alive");
    rig.check();
    rig.exit(p2);
    assert!(rig.names().is_empty());
    assert!(
        rig.free_frames() > baseline,
        "the idle programs' frames came back too"
    );
    assert_eq!(rig.sim.machine().memory().used_frames(), 0);
    rig.check();
}

#[test]
fn a5_killed_process_leaves_too() {
    let mut rig = Rig::new(2);
    let (p1, p2) = (rig.pids[0], rig.pids[1]);
    let (id, _) = rig.open_size_map(p1, "test", 4096);
    rig.open(p2, "test");
    rig.sim.kill(0, p1, 9, "test");
    assert_eq!(rig.clients("test"), vec![2]);
    assert_eq!(rig.map(p2, 0, id), SHM_BASE);
    rig.check();
}

#[test]
fn a6_fork_inherits_shared() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let (id, addr) = rig.open_size_map(p, "test", 5000);
    let child = Pid(rig.fork(p));
    assert_eq!(rig.clients("test"), vec![1, child.0]);
    assert_eq!(rig.frames(child, addr, 2), rig.frames(p, addr, 2));
    let obj = rig.sim.kernel().shm().find(b"test").unwrap();
    assert_eq!(
        obj.client(child).unwrap().1.pages,
        obj.client(p).unwrap().1.pages
    );
    // Private pages are still copied.
    assert_ne!(rig.frame(child, NAME_AT), rig.frame(p, NAME_AT));
    rig.write(child, addr + 4096, b"from child");
    assert_eq!(rig.read(p, addr + 4096, 10), b"from child");
    // The child is a full client: it closes on its own.
    assert_eq!(rig.close(child, id), 0);
    rig.check();
}

#[test]
fn a6_fork_enomem_adds_no_client() {
    let mut rig = Rig::with_memory(1, 1);
    let p = rig.pids[0];
    rig.open_size_map(p, "test", 4096);
    let hog = rig.open(p, "hog");
    let free = u64::from(rig.free_frames());
    rig.size(p, hog, free * PAGE_SIZE);
    let dump = rig.sim.dump_shm();
    assert_eq!(rig.fork(p), e(ENOMEM));
    assert_eq!(rig.sim.dump_shm(), dump);
    assert_eq!(rig.sim.kernel().processes().len(), 1);
    rig.check();
}

#[test]
fn a7_object_lives_while_it_has_a_client() {
    let mut rig = Rig::new(3);
    let (p1, p2, p3) = (rig.pids[0], rig.pids[1], rig.pids[2]);
    let id = rig.open(p1, "test");
    rig.open(p2, "test");
    rig.close(p1, id);
    assert_eq!(rig.names(), vec!["test"]);
    assert_eq!(rig.open(p3, "test"), id, "still the same object");
    rig.close(p2, id);
    rig.close(p3, id);
    assert!(rig.names().is_empty());
}

// ------------------------------------------------------------ list integrity

fn three_objects() -> (Rig, Vec<u64>) {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let ids = ["a", "b", "c"].iter().map(|n| rig.open(p, n)).collect();
    (rig, ids)
}

#[test]
fn list_remove_head() {
    let (mut rig, ids) = three_objects();
    rig.close(rig.pids[0], ids[0]);
    assert_eq!(rig.names(), vec!["b", "c"]);
    rig.sim.kernel().shm().objects().check().unwrap();
    rig.check();
}

#[test]
fn list_remove_middle() {
    let (mut rig, ids) = three_objects();
    rig.close(rig.pids[0], ids[1]);
    assert_eq!(rig.names(), vec!["a", "c"]);
    rig.check();
}

#[test]
fn list_remove_tail_then_append() {
    let (mut rig, ids) = three_objects();
    let p = rig.pids[0];
    rig.close(p, ids[2]);
    assert_eq!(rig.names(), vec!["a", "b"]);
    rig.open(p, "d");
    assert_eq!(rig.names(), vec!["a", "b", "d"]);
    rig.check();
}

#[test]
fn list_remove_all_then_reuse() {
    let (mut rig, ids) = three_objects();
    let p = rig.pids[0];
    for id in [ids[1], ids[0], ids[2]] {
        rig.close(p, id);
        rig.check();
    }
    let objects = rig.sim.kernel().shm().objects();
    assert_eq!(
        (objects.head(), objects.tail(), objects.len()),
        (None, None, 0)
    );
    rig.open(p, "e");
    assert_eq!(rig.names(), vec!["e"]);
}

#[test]
fn client_list_remove_head_middle_tail() {
    for leaver in 0..3 {
        let mut rig = Rig::new(3);
        let pids = rig.pids.clone();
        let id = pids.iter().map(|&p| rig.open(p, "test")).last().unwrap();
        rig.close(pids[leaver], id);
        let mut want: Vec<u64> = pids.iter().map(|p| p.0).collect();
        want.remove(leaver);
        assert_eq!(rig.clients("test"), want);
        rig.check();
    }
}

// ------------------------------------------------------- what users can see

#[test]
fn trace_syscalls_names_the_shm_calls() {
    let mut sim = sim::Simulator::builder()
        .capture_output(true)
        .trace(sim::Trace {
            syscalls: true,
            ..sim::Trace::default()
        })
        .build();
    let pid = sim
        .load_elf(&support::idle_elf(), &["idle".into()])
        .unwrap();
    let mut rig = Rig {
        sim,
        pids: vec![pid],
    };
    let id = rig.open(pid, "test");
    rig.size(pid, id, 5000);
    rig.map(pid, 0, id);
    rig.close(pid, id);
    rig.close(pid, id);
    let err = String::from_utf8_lossy(rig.sim.stderr()).into_owned();
    for line in [
        // strace's format: the name as a string, decimal results,
        // addresses in hex, errors with their text.
        String::from("[1] shm_open(\"test\") = 1"),
        "[1] shm_size(1, 5000) = 8192".into(),
        "[1] shm_map(0x0, 1) = 0x3000000000".into(),
        "[1] shm_close(1) = 0".into(),
        "[1] shm_close(1) = -1 EINVAL (Invalid argument)".into(),
    ] {
        assert!(err.contains(&line), "{line} missing from\n{err}");
    }
}

#[test]
fn dump_shows_real_pages_and_frames() {
    let mut rig = Rig::new(1);
    let p = rig.pids[0];
    let (_, addr) = rig.open_size_map(p, "test", 5000);
    let dump = rig.sim.dump_shm();
    let frames = rig.frames(p, addr, 2);
    let want = format!("[{}, {}]", frames[0].unwrap(), frames[1].unwrap());
    assert!(dump.contains(&want), "{dump}");
    let page = addr / PAGE_SIZE;
    assert!(dump.contains(&format!("[{page}, {}]", page + 1)), "{dump}");
}

#[test]
fn two_kernels_have_separate_tables() {
    let mut a = Rig::new(1);
    let mut b = Rig::new(1);
    let ia = a.open(a.pids[0], "test");
    a.size(a.pids[0], ia, 4096);
    let ib = b.open(b.pids[0], "test");
    assert_eq!(b.sim.kernel().shm().find(b"test").unwrap().size, None);
    assert_eq!(ia, ib, "ids are per table");
}

// ------------------------------------------------- stepping through the run

/// The syscall number of the ecall `event` stands for, if it is one.
fn syscall_of(sim: &sim::Simulator, event: &sim::Event) -> Option<u64> {
    (event.exception == sim::emu::Exception::Syscall)
        .then(|| sim.register(event.pid, Reg::A7.index()))
        .flatten()
}

#[test]
fn stepping_example_shares_then_diverges() {
    let mut sim = support::load(&["example_a.c", "example_b.c"], false);
    let mut maps = Vec::new();
    let mut closes = 0;
    while let Some(event) = sim.run_until_exception() {
        let call = syscall_of(&sim, &event);
        sim.handle(event);
        match call {
            Some(SYS_SHM_MAP) => {
                let addr = sim.register(event.pid, Reg::A0.index()).unwrap();
                maps.push((event.pid, addr));
                if maps.len() == 2 {
                    let frames = |(pid, addr): (Pid, u64)| -> Vec<_> {
                        let pt = &sim.process(pid).unwrap().page_table;
                        (0..2)
                            .map(|i| {
                                pt.get(sim::emu::VirtPage::containing(addr + i * 4096))
                                    .unwrap()
                                    .frame
                            })
                            .collect()
                    };
                    assert_eq!(frames(maps[0]), frames(maps[1]), "both map the same frames");
                    let object = sim.kernel().shm().find(b"test").unwrap();
                    assert_eq!(frames(maps[0]), object.frames);
                    insta::assert_snapshot!("example_after_second_map", sim.dump_shm());
                }
            }
            Some(SYS_SHM_CLOSE) => {
                closes += 1;
                if closes == 2 {
                    let frames = |(pid, addr): (Pid, u64)| -> Vec<_> {
                        let pt = &sim.process(pid).unwrap().page_table;
                        (0..2)
                            .map(|i| {
                                pt.get(sim::emu::VirtPage::containing(addr + i * 4096))
                                    .unwrap()
                                    .frame
                            })
                            .collect::<Vec<_>>()
                    };
                    let (fa, fb) = (frames(maps[0]), frames(maps[1]));
                    assert!(
                        fa.iter().all(|f| !fb.contains(f)),
                        "private frames after close"
                    );
                    let bytes = |(pid, addr): (Pid, u64)| sim.read_memory(pid, addr, 8192).unwrap();
                    assert_eq!(bytes(maps[0]), bytes(maps[1]), "with the same contents");
                    assert_eq!(sim.dump_shm(), "shm: no objects\n");
                }
            }
            _ => {}
        }
        sim.check_shm_invariants().unwrap();
    }
    assert_eq!((maps.len(), closes), (2, 2));
}

#[test]
fn dump_shm_run_of_the_example() {
    let mut sim = support::load(&["example_a.c", "example_b.c"], true);
    let outcome = sim.run();
    assert_eq!(outcome.exit_code, 0);
    insta::assert_snapshot!(
        "example_dump_shm_run",
        String::from_utf8_lossy(sim.stderr())
    );
}

// ------------------------------------------------------------ guest programs

/// Each run of programs/shm: the programs (one process each), the file
/// with the expected stdout. Every process must exit with 0 and leave no
/// frame behind. The divergence runs also check that the TLB and decoded
/// code follow a re-mapping: the guests store through translations cached
/// before their close.
const RUNS: &[(&[&str], &str)] = &[
    (&["example_a.c", "example_b.c"], "example.out"),
    (&["example_fork.c"], "example_fork.out"),
    (&["producer.c", "consumer.c"], "prodcons.out"),
    (&["prodcons_fork.c"], "prodcons_fork.out"),
    (&["diverge_a.c", "diverge_b.c"], "diverge.out"),
    (&["diverge_fork.c"], "diverge_fork.out"),
];

#[test]
fn programs_run_with_expected_output() {
    for (programs, expected) in RUNS {
        let mut sim = support::load(programs, false);
        let outcome = sim.run();
        let want = std::fs::read_to_string(support::program(expected))
            .unwrap_or_else(|e| panic!("{expected}: {e}"));
        assert_eq!(String::from_utf8_lossy(sim.stdout()), want, "{programs:?}");
        assert_eq!(outcome.exit_code, 0, "{programs:?}");
        for p in sim.kernel().processes().iter() {
            assert_eq!(
                p.exit_status(),
                Some(ExitStatus::Exited(0)),
                "{programs:?}: {}",
                p.name
            );
        }
        assert_eq!(sim.dump_shm(), "shm: no objects\n");
        assert_eq!(
            sim.machine().memory().used_frames(),
            0,
            "{programs:?}: frames leaked"
        );
    }
}

#[test]
fn programs_run_with_a_tiny_quantum() {
    // Preempted every 50 instructions instead of yielding politely: lines
    // may interleave, but every process still checks its own results and
    // exits with 0, and nothing leaks.
    for (programs, _) in RUNS {
        let mut sim = sim::Simulator::builder()
            .capture_output(true)
            .quantum(50)
            .build();
        for name in programs.iter() {
            sim.load_program(&support::program(name), &[name.to_string()])
                .unwrap();
        }
        sim.run();
        for p in sim.kernel().processes().iter() {
            assert_eq!(
                p.exit_status(),
                Some(ExitStatus::Exited(0)),
                "{programs:?}: {}",
                p.name
            );
        }
        assert_eq!(
            sim.machine().memory().used_frames(),
            0,
            "{programs:?}: frames leaked"
        );
    }
}

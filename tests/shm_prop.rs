//! Property test of named shared memory: random sequences of
//! open/size/map/close/write/read/exit/fork across several processes,
//! issued through the kernel's syscall dispatch. After every step the
//! invariants of docs/spec/shm.md hold; every write through a mapping is seen
//! at the same offset through every mapping of the same object (sharing);
//! after a close, the closer kept its contents and nothing leaks either way
//! between it and the remaining clients; at the end, with every process
//! gone, no frame and no object is left.

#[path = "shm/support.rs"]
mod support;

use proptest::prelude::*;
use sim::emu::PAGE_SIZE;
use sim::kernel::Pid;
use support::{e, Rig};

const NAMES: [&str; 3] = ["red", "green", "blue"];
const MAX_PROCESSES: usize = 6;

#[derive(Clone, Debug)]
enum Op {
    /// open, size if not set, map: what a program does first.
    Attach {
        p: usize,
        name: usize,
        pages: u64,
    },
    Open {
        p: usize,
        name: usize,
    },
    Size {
        p: usize,
        name: usize,
        pages: u64,
    },
    Map {
        p: usize,
        name: usize,
    },
    Close {
        p: usize,
        name: usize,
    },
    Write {
        p: usize,
        name: usize,
        offset: u64,
        value: u8,
    },
    Exit {
        p: usize,
    },
    Fork {
        p: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..MAX_PROCESSES;
    let name = 0..NAMES.len();
    prop_oneof![
        3 => (p.clone(), name.clone()).prop_map(|(p, name)| Op::Open { p, name }),
        2 => (p.clone(), name.clone(), 1..4u64).prop_map(|(p, name, pages)| Op::Size { p, name, pages }),
        3 => (p.clone(), name.clone()).prop_map(|(p, name)| Op::Map { p, name }),
        4 => (p.clone(), name.clone(), 1..4u64).prop_map(|(p, name, pages)| Op::Attach { p, name, pages }),
        2 => (p.clone(), name.clone()).prop_map(|(p, name)| Op::Close { p, name }),
        4 => (p.clone(), name.clone(), 0..3 * PAGE_SIZE, any::<u8>())
            .prop_map(|(p, name, offset, value)| Op::Write { p, name, offset, value }),
        1 => p.clone().prop_map(|p| Op::Exit { p }),
        1 => p.prop_map(|p| Op::Fork { p }),
    ]
}

/// The start address of every mapping `pid` has of `name` (one per
/// `shm_map`: every `n`-th page of its client's pages).
fn mappings(rig: &Rig, pid: Pid, name: &str) -> Vec<u64> {
    let Some(object) = rig.sim.kernel().shm().find(name.as_bytes()) else {
        return Vec::new();
    };
    let n = object.frames.len().max(1);
    object
        .client(pid)
        .map(|(_, c)| c.pages.iter().step_by(n).map(|p| p.address()).collect())
        .unwrap_or_default()
}

fn object_size(rig: &Rig, name: &str) -> u64 {
    rig.sim
        .kernel()
        .shm()
        .find(name.as_bytes())
        .and_then(|o| o.size)
        .unwrap_or(0)
}

fn clients(rig: &Rig, name: &str) -> Vec<Pid> {
    rig.clients(name).into_iter().map(Pid).collect()
}

/// The `p`-th client of `name` (mod their number), so that closes and
/// writes mostly hit processes that can make them; any live process when
/// the object has no client.
fn pick_client(rig: &Rig, live: &[Pid], name: &str, p: usize) -> Pid {
    let clients = clients(rig, name);
    if clients.is_empty() {
        live[p % live.len()]
    } else {
        clients[p % clients.len()]
    }
}

fn step(rig: &mut Rig, live: &mut Vec<Pid>, ids: &mut [u64; 3], op: &Op) {
    let pick = |p: usize| live[p % live.len()];
    match *op {
        Op::Open { p, name } => {
            let id = rig.open(pick(p), NAMES[name]);
            if id < e(sim::abi::Errno(4095)) {
                ids[name] = id;
            }
        }
        Op::Size { p, name, pages } => {
            rig.size(pick(p), ids[name], pages * PAGE_SIZE);
        }
        Op::Map { p, name } => {
            rig.map(pick(p), 0, ids[name]);
        }
        Op::Attach { p, name, pages } => {
            let pid = pick(p);
            let id = rig.open(pid, NAMES[name]);
            if id >= e(sim::abi::Errno(4095)) {
                return;
            }
            ids[name] = id;
            if object_size(rig, NAMES[name]) == 0 {
                rig.size(pid, id, pages * PAGE_SIZE);
            }
            rig.map(pid, 0, id);
        }
        Op::Close { p, name } => {
            let pid = pick_client(rig, live, NAMES[name], p);
            let size = object_size(rig, NAMES[name]);
            let mine = mappings(rig, pid, NAMES[name]);
            let before: Vec<Vec<u8>> = mine.iter().map(|&a| rig.read(pid, a, size)).collect();
            let result = rig.close(pid, ids[name]);
            if result != 0 {
                return;
            }
            // The closer keeps its contents at the same addresses.
            for (&a, old) in mine.iter().zip(&before) {
                assert_eq!(&rig.read(pid, a, size), old, "contents kept on close");
            }
            // No leak either way between the closer and the rest.
            let Some(&mine_at) = mine.first() else { return };
            for other in clients(rig, NAMES[name]) {
                for theirs in mappings(rig, other, NAMES[name]) {
                    let seen = rig.read(other, theirs, 1)[0];
                    rig.write(pid, mine_at, &[seen ^ 0xff]);
                    assert_eq!(rig.read(other, theirs, 1)[0], seen, "closer's write leaked");
                    let kept = rig.read(pid, mine_at, 1)[0];
                    rig.write(other, theirs, &[kept ^ 0x0f]);
                    assert_eq!(
                        rig.read(pid, mine_at, 1)[0],
                        kept,
                        "a client's write reached the closer"
                    );
                }
            }
        }
        Op::Write {
            p,
            name,
            offset,
            value,
        } => {
            let pid = pick(p);
            let size = object_size(rig, NAMES[name]);
            let mine = mappings(rig, pid, NAMES[name]);
            let (Some(&at), true) = (mine.first(), size > 0) else {
                return;
            };
            let offset = offset % size;
            rig.write(pid, at + offset, &[value]);
            // Every mapping of every client sees it.
            for other in clients(rig, NAMES[name]) {
                for view in mappings(rig, other, NAMES[name]) {
                    assert_eq!(
                        rig.read(other, view + offset, 1),
                        [value],
                        "shared write not seen"
                    );
                }
            }
        }
        Op::Exit { p } => {
            let pid = pick(p);
            rig.exit(pid);
            live.retain(|&q| q != pid);
        }
        Op::Fork { p } => {
            if live.len() < MAX_PROCESSES {
                let child = rig.fork(pick(p));
                if child < e(sim::abi::Errno(4095)) {
                    live.push(Pid(child));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..60)) {
        // 1 MiB: 256 frames, so that ENOMEM happens now and then.
        let mut rig = Rig::with_memory(3, 1);
        let mut live = rig.pids.clone();
        let mut ids = [0u64; 3];
        for op in &ops {
            if live.is_empty() {
                break;
            }
            step(&mut rig, &mut live, &mut ids, op);
            rig.check();
        }
        for pid in live {
            rig.exit(pid);
            rig.check();
        }
        prop_assert_eq!(rig.sim.dump_shm(), "shm: no objects\n");
        prop_assert_eq!(rig.sim.machine().memory().used_frames(), 0);
    }
}

//! Several rshm nodes in one test process over loopback TCP, driven through
//! the server API with `MemNode` (a kernel stand-in). Every test binds
//! 127.0.0.1:0, bounds its waits, and stops its nodes by dropping them.

use std::time::Duration;

use sim::abi::{EIDRM, EINVAL};
use sim::rshm::harness::{eventually, mem_cluster, MemNode};
use sim::rshm::PAGE_BYTES;

const MESH: Duration = Duration::from_secs(10);
const SOON: Duration = Duration::from_secs(5);

/// Whether a dumped table has a live row of `key`.
fn has_live_key(dump: &str, key: u64) -> bool {
    dump.lines()
        .any(|l| l.contains(&format!(" key {key} ")) && l.contains(" live copy"))
}

#[test]
fn three_nodes_share_a_segment() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(42, 3 * PAGE_BYTES as u64).unwrap();
    assert_eq!(n[1].get(42, 0).unwrap(), id, "same key, same rshmid");
    assert_eq!(n[2].get(42, 100).unwrap(), id);
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    n[1].write(id, PAGE_BYTES, b"node 2 was here");
    let v = n[1].publish(id).unwrap();
    assert_eq!(v, 1);
    // Contract: visible everywhere once rshm_changed returned.
    for node in &n {
        let c = node.copy(id).unwrap();
        assert_eq!(&c.bytes[PAGE_BYTES..PAGE_BYTES + 15], b"node 2 was here");
        assert_eq!(c.version, 1);
    }
}

#[test]
fn errors_of_every_call() {
    let mut n = mem_cluster(3, MESH).unwrap();
    // rshmget: size 0 on create, too large, larger than existing.
    assert_eq!(n[0].get(1, 0), Err(EINVAL));
    assert_eq!(n[0].get(1, sim::rshm::MAX_SEGMENT + 1), Err(EINVAL));
    let id = n[0].get(1, 5000).unwrap();
    assert_eq!(n[1].get(1, 3 * PAGE_BYTES as u64), Err(EINVAL));
    assert_eq!(
        n[1].get(1, 2 * PAGE_BYTES as u64),
        Ok(id),
        "rounded up to pages"
    );
    // rshmat / rshmctl / rshm_changed on an unknown id.
    assert_eq!(n[1].attach(12345), Err(EINVAL));
    assert_eq!(n[1].remove(12345), Err(EINVAL));
    assert_eq!(n[1].publish(12345), Err(EINVAL));
    // Removed: EIDRM for attach, a second remove, publish.
    n[1].attach(id).unwrap();
    n[2].remove(id).unwrap();
    assert_eq!(n[2].remove(id), Err(EIDRM));
    assert_eq!(n[0].attach(id), Err(EIDRM));
    n[1].write(id, 0, b"x");
    assert_eq!(n[1].publish(id), Err(EIDRM));
    // The key is free at once: a new segment, a new id.
    let id2 = n[1].get(1, 4096).unwrap();
    assert_ne!(id2, id);
}

#[test]
fn concurrent_rshmget_converges() {
    for round in 0..5u64 {
        let n = mem_cluster(3, MESH).unwrap();
        let key = 1000 + round;
        let ids: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = n
                .into_iter()
                .map(|mut node| s.spawn(move || (node.get(key, 4096), node)))
                .collect();
            // Keep every node alive until all calls returned.
            let done: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let ids: Vec<_> = done.iter().map(|(id, _)| *id).collect();
            let logs: Vec<_> = done
                .iter()
                .map(|(_, n)| n.log.lock().unwrap().clone())
                .collect();
            assert!(
                ids.iter().all(|i| i.is_ok() && *i == ids[0]),
                "round {round}: {ids:x?} {logs:#?}"
            );
            ids.into_iter().map(|i| i.unwrap_or(0)).collect()
        });
        assert!(ids.iter().all(|&i| i == ids[0]));
    }
}

#[test]
fn removal_while_attached_elsewhere_frees_after_the_last_detach() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(7, 4096).unwrap();
    n[2].attach(id).unwrap();
    n[2].write(id, 0, b"still here");
    // Attachments are announced without waiting; let them arrive.
    for node in &mut n[..2] {
        assert!(eventually(SOON, || node.dump().contains("refs 3:1")));
    }
    n[0].remove(id).unwrap();
    // The attached node keeps working on its copy.
    assert_eq!(&n[2].copy(id).unwrap().bytes[..10], b"still here");
    assert!(eventually(SOON, || n[1].dump().contains("removed")));
    n[2].detach(id);
    // Attached nowhere: every table collects the row (only the id stays).
    for node in n.iter_mut() {
        assert!(eventually(SOON, || node
            .dump()
            .contains("0 segments, 1 collected")));
    }
    assert!(eventually(SOON, || n[2].copy(id).is_none()));
}

#[test]
fn disjoint_page_writers_both_keep_their_writes() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(9, 4 * PAGE_BYTES as u64).unwrap();
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    n[1].write(id, PAGE_BYTES, &[2; 64]);
    n[2].write(id, 2 * PAGE_BYTES, &[3; 64]);
    let (mut a, mut b) = (n.remove(1), n.remove(1));
    let (va, vb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.publish(id).unwrap());
        let hb = s.spawn(|| b.publish(id).unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_ne!(va, vb);
    for node in [&n[0], &a, &b] {
        let c = node.copy(id).unwrap();
        assert_eq!(c.bytes[PAGE_BYTES], 2, "node {}", node.id);
        assert_eq!(c.bytes[2 * PAGE_BYTES], 3, "node {}", node.id);
    }
}

#[test]
fn one_page_change_sends_about_one_page() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(11, 1 << 20).unwrap();
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    n[1].write(id, 5 * PAGE_BYTES, &[1; 8]);
    n[1].publish(id).unwrap();
    assert!(n
        .iter()
        .all(|x| x.copy(id).unwrap().bytes[5 * PAGE_BYTES] == 1));
    // Only the 8 changed bytes travel, not the page.
    let sent: usize = n[1].last_runs.iter().map(|r| r.bytes.len()).sum();
    assert_eq!(sent, 8);
}

#[test]
fn concurrent_writers_of_different_bytes_of_one_page_keep_every_write() {
    // The case: node 2 changes word 1 and node 3 word 2 of the
    // same page, and both publish at once, many times over.
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(17, PAGE_BYTES as u64).unwrap();
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    let (mut a, mut b) = (n.remove(1), n.remove(1));
    std::thread::scope(|s| {
        s.spawn(|| {
            for v in 1..=50u64 {
                a.write(id, 8, &v.to_le_bytes());
                a.publish(id).unwrap();
            }
        });
        s.spawn(|| {
            for v in 1..=50u64 {
                b.write(id, 16, &(1000 + v).to_le_bytes());
                b.publish(id).unwrap();
            }
        });
    });
    for node in [&n[0], &a, &b] {
        let ok = eventually(SOON, || {
            let c = node.copy(id).unwrap();
            c.bytes[8..16] == 50u64.to_le_bytes() && c.bytes[16..24] == 1050u64.to_le_bytes()
        });
        assert!(
            ok,
            "node {}: {:?}",
            node.id,
            &node.copy(id).unwrap().bytes[..24]
        );
    }
}

#[test]
fn no_torn_reads_while_updates_arrive() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let pages = 16;
    let id = n[0].get(12, (pages * PAGE_BYTES) as u64).unwrap();
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    let mut writer = n.remove(1);
    let reader = &n[1];
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for round in 1..=40u8 {
                // Every page holds the round number: a reader that sees two
                // different values saw half an update.
                for p in 0..pages {
                    writer.write(id, p * PAGE_BYTES, &[round; PAGE_BYTES]);
                }
                writer.publish(id).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let torn = reader
                .with_copy(id, |c| c.bytes.iter().any(|&b| b != c.bytes[0]))
                .unwrap();
            assert!(!torn, "torn read");
            reads += 1;
        }
        assert!(reads > 0);
    });
    assert_eq!(reader.copy(id).unwrap().bytes[0], 40);
}

#[test]
fn owner_stop_elects_the_lowest_holder_with_versions_kept() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(13, 2 * PAGE_BYTES as u64).unwrap();
    n[1].attach(id).unwrap();
    n[2].attach(id).unwrap();
    n[2].write(id, 0, b"v1");
    assert_eq!(n[2].publish(id).unwrap(), 1);
    n[2].write(id, PAGE_BYTES, b"v2");
    assert_eq!(n[2].publish(id).unwrap(), 2);
    let mut owner = n.remove(0);
    owner.stop();
    // Node 2 becomes owner; the next publish continues the version count.
    for node in n.iter_mut() {
        assert!(eventually(SOON, || node
            .dump()
            .contains("owner 2 epoch 1 version 2")));
    }
    n[1].write(id, 0, b"v3");
    assert_eq!(n[1].publish(id).unwrap(), 3);
    assert_eq!(&n[0].copy(id).unwrap().bytes[..2], b"v3");
    assert!(n[0].logged("node 1 left"));
}

#[test]
fn node_killed_in_the_middle_of_a_publish_copies_converge() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(14, 2 * PAGE_BYTES as u64).unwrap();
    n[1].attach(id).unwrap();
    n[2].attach(id).unwrap();
    n[0].attach(id).unwrap();
    // The owner (node 1) sends the update to node 2, half a frame to node
    // 3, and dies.
    n[0].send(sim::rshm::Request::CrashDuringNextPublish);
    n[0].write(id, 0, b"last words");
    let _ = n[0].publish(id);
    let (b, c) = (&n[1], &n[2]);
    assert!(eventually(SOON, || {
        let (x, y) = (b.copy(id).unwrap(), c.copy(id).unwrap());
        x == y && x.version == 1
    }));
    assert_eq!(&c.copy(id).unwrap().bytes[..10], b"last words");
    assert!(c.logged("dropped frame from node 1"), "{:?}", c.log);
}

#[test]
fn rejoin_after_a_missed_removal_does_not_resurrect() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(15, 4096).unwrap();
    n[2].attach(id).unwrap();
    n[2].detach(id);
    // Node 3 stops answering (like SIGSTOP) and is dropped; meanwhile the
    // segment is removed.
    n[2].send(sim::rshm::Request::Suspend(Duration::from_millis(3000)));
    assert!(eventually(SOON, || n[0].logged("node 3 left")));
    n[0].remove(id).unwrap();
    // Node 3 comes back with its stale table and merges.
    assert!(eventually(Duration::from_secs(12), || n[0]
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("node 3 joined"))
        .count()
        >= 2));
    for node in n.iter_mut() {
        let ok = eventually(SOON, || !has_live_key(&node.dump(), 15));
        let id = node.id;
        assert!(ok, "node {id}: {} {:#?}", node.dump(), node.log);
    }
    let fresh = n[2].get(15, 4096).unwrap();
    assert_ne!(fresh, id, "the key makes a new segment");
}

#[test]
fn a_bad_frame_is_dropped_and_names_the_peer() {
    use std::io::Write;
    let n = mem_cluster(1, MESH).unwrap();
    // A first frame that is no greeting: dropped, and so is the connection.
    let mut s = std::net::TcpStream::connect(n[0].addr).unwrap();
    s.write_all(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    assert!(
        eventually(SOON, || n[0].logged("peer 127.0.0.1")
            && n[0].logged("first frame is not a greeting")),
        "{:?}",
        n[0].log
    );
    // A length beyond what an unauthenticated peer may send.
    let mut s2 = std::net::TcpStream::connect(n[0].addr).unwrap();
    s2.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(eventually(SOON, || n[0].logged("exceeds the limit")));
    drop((s, s2));
    // The node keeps running: it still answers its kernel.
    let mut n = n;
    assert!(n[0].get(1, 4096).is_ok());
}

#[test]
fn a_publish_whose_owner_stops_starts_over_with_the_new_owner() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(16, 2 * PAGE_BYTES as u64).unwrap();
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    // The owner (node 1) stops answering, like a stopped process, just
    // before node 3 publishes: node 3's call waits on it until node 1 is
    // dropped, then goes to the new owner (node 2, the lowest holder).
    n[0].send(sim::rshm::Request::Suspend(Duration::from_millis(4000)));
    n[2].write(id, PAGE_BYTES, b"after the owner");
    let version = n[2].publish(id).unwrap();
    assert!(version >= 1);
    let page = |node: &MemNode| node.copy(id).unwrap().bytes[PAGE_BYTES..PAGE_BYTES + 15].to_vec();
    assert_eq!(page(&n[1]), b"after the owner");
    assert!(n[2].logged("node 1 left"), "{:?}", n[2].log);
    assert!(n[1].dump().contains("owner 2"), "{}", n[1].dump());
}

#[test]
fn create_remove_churn_keeps_a_flat_per_call_cost() {
    // 100,000 segment lifetimes (rshmget creates, rshmctl removes): removed
    // rows are collected, lookups are indexed, so the last thousand cost
    // about what the first thousand did.
    let mut n = mem_cluster(1, MESH).unwrap();
    let batch = |n: &mut MemNode, first: u64| {
        let t = std::time::Instant::now();
        for key in first..first + 1000 {
            let id = n.get(key, 4096).unwrap();
            n.remove(id).unwrap();
        }
        t.elapsed()
    };
    let early = batch(&mut n[0], 0);
    for round in 1..99 {
        batch(&mut n[0], round * 1000);
    }
    let late = batch(&mut n[0], 99_000);
    let dump = n[0].dump();
    assert!(
        dump.starts_with("rshm table of node 1: 0 segments, 1 collected"),
        "{dump}"
    );
    // Generous for a loaded machine: a linear cost would be ~100 times.
    assert!(
        late < early * 4 + Duration::from_millis(200),
        "first 1000 lifetimes {early:?}, last 1000 {late:?}"
    );
}

/// A peer that speaks the protocol with the cluster key, frame by frame
/// (to produce orders of frames a real node only produces by chance).
struct RawPeer {
    stream: std::net::TcpStream,
    decoder: sim::rshm::wire::FrameDecoder,
    sealer: sim::rshm::auth::Sealer,
    opener: sim::rshm::auth::Opener,
}

impl RawPeer {
    /// Connects and exchanges greetings.
    fn connect(to: std::net::SocketAddr) -> RawPeer {
        use sim::rshm::wire::{decode_body, encode_frame, FrameDecoder, Msg};
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(to).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mine = sim::rshm::auth::nonce();
        stream
            .write_all(&encode_frame(&Msg::Greeting { nonce: mine }).unwrap())
            .unwrap();
        let mut decoder = FrameDecoder::new();
        let mut buf = [0u8; 4096];
        let theirs = loop {
            if let Some(frame) = decoder.next_frame() {
                match decode_body(&frame.unwrap()).unwrap() {
                    (_, Msg::Greeting { nonce }) => break nonce,
                    (_, other) => panic!("first frame {}", other.name()),
                }
            }
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed before greeting");
            decoder.push(&buf[..n]);
        };
        decoder.set_limit(sim::rshm::wire::MAX_FRAME);
        let (sealer, opener) =
            sim::rshm::auth::session(&sim::rshm::ClusterKey::open(), &mine, &theirs);
        RawPeer {
            stream,
            decoder,
            sealer,
            opener,
        }
    }

    fn send(&mut self, incarnation: u32, msg: &sim::rshm::wire::Msg) -> std::io::Result<()> {
        use std::io::Write;
        let frame = sim::rshm::wire::seal_frame(msg, incarnation, &mut self.sealer).unwrap();
        self.stream.write_all(&frame)
    }

    /// The next sealed message, or None once the node closed.
    fn next(&mut self) -> Option<sim::rshm::wire::Msg> {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                let body = frame.unwrap();
                let (envelope, tag) = sim::rshm::wire::split_tag(&body).unwrap();
                assert!(self.opener.check(envelope, tag), "a frame with a bad tag");
                return Some(sim::rshm::wire::decode_body(envelope).unwrap().1);
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.push(&buf[..n]),
            }
        }
    }
}

#[test]
fn a_dropped_incarnation_gets_its_rejoin_even_when_its_frames_cross_it() {
    use sim::rshm::wire::Msg;
    let n = mem_cluster(1, MESH).unwrap();
    let hello = Msg::Hello {
        node: 2,
        incarnation: 77,
        table: Vec::new(),
        collected: Vec::new(),
    };
    // Node 2 joins, then falls silent until node 1 drops it.
    let mut first = RawPeer::connect(n[0].addr);
    first.send(77, &hello).unwrap();
    assert!(eventually(SOON, || n[0].logged("node 2 joined")));
    assert!(eventually(SOON, || n[0].logged("node 2 left")));
    // It comes back with the dropped incarnation, and its heartbeat
    // crosses node 1's answer (as a real node's second hello does).
    let mut again = RawPeer::connect(n[0].addr);
    again.send(77, &hello).unwrap();
    again.send(77, &Msg::Heartbeat).unwrap();
    let mut told = None;
    while let Some(msg) = again.next() {
        if let Msg::Rejoin { incarnation } = msg {
            told = Some(incarnation);
            break;
        }
    }
    assert_eq!(told, Some(77), "node 1 must tell the peer to rejoin");
    // Node 1 still reads what the peer sends until the peer closes: its
    // frames draw no reset (a reset would have discarded the Rejoin).
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(50));
        again.send(77, &Msg::Heartbeat).unwrap();
    }
    let joins = n[0]
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("node 2 joined"))
        .count();
    assert_eq!(
        joins, 1,
        "the dropped incarnation must not come back: {:?}",
        n[0].log
    );
}

#[test]
fn a_late_claim_does_not_take_over_a_decided_epoch() {
    use sim::rshm::wire::Msg;
    use sim::rshm::RshmId;
    // Node 1 owns a segment that nodes 2 and 3 hold; node 1 stops and node
    // 2 (the lowest holder) wins epoch 1.
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(14, PAGE_BYTES as u64).unwrap();
    n[1].attach(id).unwrap();
    n[2].attach(id).unwrap();
    let mut owner = n.remove(0);
    owner.stop();
    for node in n.iter_mut() {
        assert!(eventually(SOON, || node.dump().contains("owner 2 epoch 1")));
    }
    // Node 1 comes back as a new incarnation that missed all of it (as
    // after a pause) and claims epoch 1, which its lower id would win
    // while the epoch was open.
    let rshm = RshmId::from_guest(id).unwrap();
    let hello = Msg::Hello {
        node: 1,
        incarnation: u32::MAX,
        table: Vec::new(),
        collected: Vec::new(),
    };
    let mut late = RawPeer::connect(n[1].addr);
    late.send(u32::MAX, &hello).unwrap();
    late.send(u32::MAX, &Msg::Takeover { id: rshm, epoch: 1 })
        .unwrap();
    let mut answer = None;
    while let Some(msg) = late.next() {
        if let Msg::TakeoverAck {
            accepted, owner, ..
        } = msg
        {
            answer = Some((accepted, owner));
            break;
        }
    }
    assert_eq!(
        answer,
        Some((false, 2)),
        "node 3 must refuse and name the owner that won epoch 1"
    );
    // The owner that won goes on numbering versions, and node 3 takes them.
    n[0].write(id, 0, b"v1");
    assert_eq!(n[0].publish(id).unwrap(), 1);
    assert_eq!(&n[1].copy(id).unwrap().bytes[..2], b"v1");
    assert!(n[1].dump().contains("owner 2 epoch 1"), "{}", n[1].dump());
}

/// Answers the next `Fetch` of `id` with the image `bytes` at (`epoch`,
/// `version`); false when the node sent none before the peer's read
/// timeout (it did not ask the new owner for its image).
fn serve_next_fetch(
    peer: &mut RawPeer,
    incarnation: u32,
    id: sim::rshm::RshmId,
    epoch: u64,
    version: u64,
    bytes: &[u8],
) -> bool {
    use sim::rshm::wire::{Msg, Run};
    while let Some(msg) = peer.next() {
        if let Msg::Fetch { token, id: asked } = msg {
            assert_eq!(asked, id);
            let image = Msg::Image {
                token,
                id,
                epoch,
                version,
                runs: vec![Run {
                    offset: 0,
                    bytes: bytes.to_vec(),
                }],
                error: None,
            };
            peer.send(incarnation, &image).unwrap();
            return true;
        }
    }
    false
}

#[test]
fn a_holder_that_learns_of_a_newer_epoch_late_fetches_the_new_owners_image() {
    use sim::rshm::wire::{Msg, SegmentInfo};
    use sim::rshm::RshmId;
    // Node 2 holds a copy of node 1's segment (epoch 0, version 0).
    let mut n = mem_cluster(2, MESH).unwrap();
    let id = n[0].get(17, PAGE_BYTES as u64).unwrap();
    n[1].attach(id).unwrap();
    let rshm = RshmId::from_guest(id).unwrap();
    // Node 3 meets node 2 only now, as the owner of epoch 1 (it took the
    // segment over among nodes node 2 was cut off from, and re-sent its
    // image to the holders it knew then: not node 2). Its hello is all
    // node 2 learns of the new epoch; no further publish may come.
    let row = SegmentInfo {
        id: rshm,
        key: 17,
        size: PAGE_BYTES as u64,
        owner: 3,
        epoch: 1,
        version: 5,
        removed: false,
        established: true,
        holders: vec![3],
        refs: Vec::new(),
    };
    let mut owner = RawPeer::connect(n[1].addr);
    let hello = Msg::Hello {
        node: 3,
        incarnation: 5,
        table: vec![row],
        collected: Vec::new(),
    };
    owner.send(5, &hello).unwrap();
    assert!(
        serve_next_fetch(&mut owner, 5, rshm, 1, 5, b"epoch one"),
        "node 2 must fetch the image of the epoch it missed: {:?}",
        n[1].log
    );
    let copy_has = |node: &MemNode, text: &[u8], version: u64| {
        node.copy(id)
            .is_some_and(|c| &c.bytes[..text.len()] == text && c.version == version)
    };
    assert!(
        eventually(SOON, || copy_has(&n[1], b"epoch one", 5)),
        "{:?}",
        n[1].copy(id).map(|c| c.version)
    );
    // An owner that names itself to node 2 with `Owner` does not count
    // node 2 among its holders, so it sends node 2 no updates: node 2
    // fetches its image, which makes it a holder.
    owner.send(5, &Msg::Owner { id: rshm, epoch: 2 }).unwrap();
    assert!(
        serve_next_fetch(&mut owner, 5, rshm, 2, 6, b"epoch two"),
        "node 2 must fetch from an owner that does not know it holds a copy: {:?}",
        n[1].log
    );
    assert!(eventually(SOON, || copy_has(&n[1], b"epoch two", 6)));
}

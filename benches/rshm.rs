//! rshm on loopback: `cargo bench --bench rshm`. Three nodes in this
//! process (server threads + MemNode kernel stand-ins), a 1 MiB segment.
//! Prints the latency of rshm_changed for a small change, the throughput
//! of publishing the whole segment next to raw TCP loopback throughput
//! measured in the same run, the bytes on the wire for one publish with
//! whole pages (the old protocol) and with byte runs, and the per-call
//! cost of create/remove over 100,000 segment lifetimes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sim::rshm::auth::{session, ClusterKey};
use sim::rshm::harness::{mem_cluster, MemNode};
use sim::rshm::wire::{seal_frame, Msg, RshmId, Run};
use sim::rshm::PAGE_BYTES;

const SEGMENT: usize = 1 << 20;

fn raw_tcp_mib_per_s() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let total = 256usize << 20;
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < total {
            got += s.read(&mut buf).unwrap();
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let chunk = vec![7u8; 1 << 20];
    let start = Instant::now();
    for _ in 0..total >> 20 {
        s.write_all(&chunk).unwrap();
    }
    reader.join().unwrap();
    (total >> 20) as f64 / start.elapsed().as_secs_f64()
}

/// Bytes on the wire for one publish from a non-owner of 3 nodes: Publish
/// to the owner, Update to the third node and to the publisher (its echo),
/// two Acks and the Published answer, each a sealed frame.
fn wire_bytes(runs: Vec<Run>) -> usize {
    let id = RshmId {
        node: 1,
        incarnation: 1,
        seq: 0,
    };
    let (mut sealer, _) = session(&ClusterKey::open(), &[1; 32], &[2; 32]);
    let update = |echo| Msg::Update {
        id,
        epoch: 0,
        version: 9,
        full: false,
        echo,
        runs: runs.clone(),
    };
    let frames = [
        Msg::Publish {
            token: 1,
            id,
            epoch: 0,
            runs: runs.clone(),
        },
        update(None),
        update(Some(1)),
        Msg::Ack {
            id,
            epoch: 0,
            version: 9,
        },
        Msg::Ack {
            id,
            epoch: 0,
            version: 9,
        },
        Msg::Published {
            token: 1,
            version: 9,
            error: None,
        },
    ];
    frames
        .iter()
        .map(|m| seal_frame(m, 1, &mut sealer).unwrap().len())
        .sum()
}

/// Microseconds per create+remove over `lifetimes`, for the first and the
/// last thousand.
fn churn(node: &mut MemNode, lifetimes: u64) -> (f64, f64) {
    let mut batch = |first: u64| {
        let t = Instant::now();
        for key in first..first + 1000 {
            let id = node.get(key, 4096).unwrap();
            node.remove(id).unwrap();
        }
        t.elapsed().as_secs_f64() * 1e6 / 1000.0
    };
    let early = batch(1_000_000);
    for b in 1..lifetimes / 1000 - 1 {
        batch(1_000_000 + b * 1000);
    }
    let late = batch(1_000_000 + lifetimes - 1000);
    (early, late)
}

fn main() {
    let mut nodes = mem_cluster(3, Duration::from_secs(10)).expect("cluster");
    let id = nodes[0].get(1, SEGMENT as u64).unwrap();
    for n in nodes.iter_mut() {
        n.attach(id).unwrap();
    }
    // Latency: node 2 (not the owner) changes 16 bytes and publishes.
    let rounds = 500;
    let mut times = Vec::with_capacity(rounds);
    for r in 0..rounds {
        nodes[1].write(id, (r % 256) * PAGE_BYTES, &[r as u8 | 1; 16]);
        let t = Instant::now();
        nodes[1].publish(id).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[rounds / 2];
    let p99 = times[rounds * 99 / 100];
    println!("rshm_changed, 16 bytes of a 1 MiB segment, 3 nodes: median {median:?}, p99 {p99:?}");

    // Throughput: every page written in full, published from a non-owner.
    let rounds = 20;
    let start = Instant::now();
    for r in 0..rounds {
        let page = vec![(r as u8) ^ 0x5a; PAGE_BYTES];
        for p in 0..SEGMENT / PAGE_BYTES {
            nodes[1].write(id, p * PAGE_BYTES, &page);
        }
        nodes[1].publish(id).unwrap();
    }
    let mib_s = rounds as f64 / start.elapsed().as_secs_f64();
    let raw = raw_tcp_mib_per_s();
    println!(
        "publish 1 MiB (to 2 other nodes): {mib_s:.0} MiB/s of segment; raw TCP loopback: {raw:.0} MiB/s ({:.1}%)",
        100.0 * mib_s / raw
    );

    // Bytes on the wire: one 8-byte word changed in one page.
    let whole_page = wire_bytes(vec![Run {
        offset: (3 * PAGE_BYTES) as u32,
        bytes: vec![0xa5; PAGE_BYTES],
    }]);
    nodes[1].write(id, 3 * PAGE_BYTES + 64, &0xdead_beef_u64.to_le_bytes());
    nodes[1].publish(id).unwrap();
    let diff = wire_bytes(nodes[1].last_runs.clone());
    println!(
        "bytes on the wire per publish, one word changed, 3 nodes: whole page {whole_page}, diff {diff} ({:.1}x fewer)",
        whole_page as f64 / diff as f64
    );
    drop(nodes);

    // Create/remove churn: one node (every cost is the table's), then
    // three (a creation round and a removal over TCP).
    let mut one = mem_cluster(1, Duration::from_secs(10)).expect("cluster");
    let (early, late) = churn(&mut one[0], 100_000);
    println!(
        "create+remove, 1 node, 100,000 lifetimes: {early:.1} us per lifetime for the first 1000, {late:.1} us for the last 1000"
    );
    drop(one);
    let mut three = mem_cluster(3, Duration::from_secs(10)).expect("cluster");
    let (early, late) = churn(&mut three[1], 20_000);
    println!(
        "create+remove from a non-owner, 3 nodes, 20,000 lifetimes: {early:.1} us for the first 1000, {late:.1} us for the last 1000"
    );
}

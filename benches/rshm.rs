//! rshm on loopback: `cargo bench --bench rshm`. Three nodes in this
//! process (server threads + MemNode kernels stand-ins), a 1 MiB segment.
//! Prints the latency of rshm_changed for a one-page change, the
//! throughput of publishing the whole segment next to raw TCP loopback
//! throughput measured in the same run, and the bytes on the wire.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sim::rshm::harness::mem_cluster;
use sim::rshm::wire::{encode_frame, Msg, Page, RshmId};
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

fn main() {
    let mut nodes = mem_cluster(3, Duration::from_secs(10)).expect("cluster");
    let id = nodes[0].get(1, SEGMENT as u64).unwrap();
    for n in nodes.iter_mut() {
        n.attach(id).unwrap();
    }
    // Latency: node 2 (not the owner) changes one page and publishes.
    let rounds = 500;
    let mut times = Vec::with_capacity(rounds);
    for r in 0..rounds {
        nodes[1].write(id, (r % 256) * PAGE_BYTES, &[r as u8; 16]);
        let t = Instant::now();
        nodes[1].publish(id).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[rounds / 2];
    let p99 = times[rounds * 99 / 100];
    println!("rshm_changed, one page of a 1 MiB segment, 3 nodes: median {median:?}, p99 {p99:?}");

    // Throughput: every page written, published from a non-owner.
    let rounds = 20;
    let start = Instant::now();
    for r in 0..rounds {
        for p in 0..SEGMENT / PAGE_BYTES {
            nodes[1].write(id, p * PAGE_BYTES, &[r as u8; 8]);
        }
        nodes[1].publish(id).unwrap();
    }
    let mib_s = rounds as f64 / start.elapsed().as_secs_f64();
    let raw = raw_tcp_mib_per_s();
    println!(
        "publish 1 MiB (to 2 other nodes): {mib_s:.0} MiB/s of segment; raw TCP loopback: {raw:.0} MiB/s ({:.1}%)",
        100.0 * mib_s / raw
    );

    // Bytes on the wire for one page from a non-owner: Publish to the
    // owner, Update to the third node, an empty echo to the publisher,
    // and two Acks plus the Published answer.
    let rid = RshmId {
        node: 1,
        incarnation: 1,
        seq: 0,
    };
    let page = || {
        vec![Page {
            index: 3,
            bytes: vec![0xa5; PAGE_BYTES],
        }]
    };
    let frames = [
        Msg::Publish {
            token: 1,
            id: rid,
            pages: page(),
        },
        Msg::Update {
            id: rid,
            version: 9,
            full: false,
            echo: None,
            pages: page(),
        },
        Msg::Update {
            id: rid,
            version: 9,
            full: false,
            echo: Some(1),
            pages: vec![],
        },
        Msg::Ack {
            id: rid,
            version: 9,
        },
        Msg::Ack {
            id: rid,
            version: 9,
        },
        Msg::Published {
            token: 1,
            version: 9,
            error: None,
        },
    ];
    let bytes: usize = frames.iter().map(|m| encode_frame(m).unwrap().len()).sum();
    println!(
        "bytes on the wire, one-page change, 3 nodes: {bytes} ({:.2} pages; the segment is 256 pages)",
        bytes as f64 / PAGE_BYTES as f64
    );
}

//! Fault injection with real `sim node` processes on 127.0.0.1
//! (docs/RELIABILITY.md). Three nodes run programs/rshm/faults.c: each
//! writes a growing counter into its own word of one page and publishes
//! it, over and over, while the test kills (SIGKILL), stops (SIGSTOP /
//! SIGCONT) and restarts nodes, or forges peers. An observer node in the
//! test process (the harness's `MemNode`, with the cluster key) holds a
//! copy too, tells the programs when to stop, and compares.
//!
//! Each scenario asserts:
//! - no acknowledged publish is lost: every value a node printed as
//!   acknowledged ("ack") is at most the final value of its word (values
//!   only grow), and a node that finished has its last value everywhere;
//! - all live copies converge: every live node and the observer end with
//!   the same words;
//! - no call hangs: every program that was not killed finishes all its
//!   rounds (each call returned) and exits 0 before the deadline.
//!
//! Every wait is for a condition, with a deadline; children are killed
//! when a test ends, also when it fails.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sim::rshm::harness::{eventually, MemNode};
use sim::rshm::wire::{encode_frame, Msg, SegmentInfo};
use sim::rshm::{ClusterKey, RshmId, PAGE_BYTES};

const SIM: &str = env!("CARGO_BIN_EXE_sim");
const PROGRAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/rshm/faults.c");
const KEY: u64 = 1616;
const OBSERVER: u16 = 9;
/// Generous bounds for a loaded 2-core machine; a passing run takes a
/// fraction of them.
const DEADLINE: Duration = Duration::from_secs(60);
const SOON: Duration = Duration::from_secs(20);

type Lines = Arc<Mutex<Vec<String>>>;

/// Copies a child's stream into `lines`, line by line, on a thread.
fn collect(stream: impl Read + Send + 'static, lines: Lines) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut l) = lines.lock() {
                l.push(line);
            }
        }
    });
}

/// One `sim node` process (killed when dropped).
struct Proc {
    child: Child,
    out: Lines,
    err: Lines,
    /// This run's counter starts after this value.
    start: u64,
    rounds: u64,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn out(&self) -> Vec<String> {
        self.out.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn err_text(&self) -> String {
        self.err.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Publishes that returned (acknowledged or not).
    fn answered(&self) -> usize {
        self.out()
            .iter()
            .filter(|l| l.starts_with("ack ") || l.starts_with("err "))
            .count()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("the kill command");
        assert!(status.success(), "kill -{name} failed");
    }
}

/// Three nodes, the observer, and every process each node id ran as.
struct Cluster {
    ports: Vec<u16>,
    key_file: PathBuf,
    observer: MemNode,
    observer_port: u16,
    /// Node id → its processes, the live one last.
    runs: BTreeMap<u16, Vec<Proc>>,
    /// Node id → whether its last process was killed for good.
    killed: BTreeMap<u16, bool>,
    rshmid: u64,
    started: Instant,
}

fn free_ports(n: usize) -> Vec<u16> {
    sim::rshm::harness::free_ports(n).unwrap()
}

impl Cluster {
    /// Starts the observer, then nodes 1..=3 running `rounds` publishes
    /// each, and waits until the observer holds a copy.
    fn start(name: &str, rounds: u64) -> Cluster {
        let dir = std::env::temp_dir().join(format!("rshm-faults-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("cluster.key");
        std::fs::write(&key_file, sim::rshm::auth::new_key_text()).unwrap();
        let ports = free_ports(3);
        let observer_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let observer_addr = observer_listener.local_addr().unwrap();
        let peers: Vec<(u16, SocketAddr)> = (1..=3u16)
            .map(|i| {
                let addr: SocketAddr = format!("127.0.0.1:{}", ports[usize::from(i) - 1])
                    .parse()
                    .unwrap();
                (i, addr)
            })
            .collect();
        let key = ClusterKey::from_file(&key_file).unwrap();
        let observer =
            MemNode::start_with_key(OBSERVER, observer_listener, peers, None, key).unwrap();
        let mut cluster = Cluster {
            ports,
            key_file,
            observer,
            observer_port: observer_addr.port(),
            runs: BTreeMap::new(),
            killed: BTreeMap::new(),
            rshmid: 0,
            started: Instant::now(),
        };
        for id in 1..=3 {
            cluster.spawn(id, rounds, 0);
        }
        // The observer attaches once a node created the segment (so that a
        // node, not the observer, owns it).
        let deadline = Instant::now() + SOON;
        while cluster.rshmid == 0 {
            assert!(
                Instant::now() < deadline,
                "no node published: {}",
                cluster.report()
            );
            if cluster
                .runs
                .values()
                .any(|r| r.last().is_some_and(|p| p.answered() > 0))
            {
                if let Ok(id) = cluster.observer.get(KEY, 2 * PAGE_BYTES as u64) {
                    cluster.rshmid = id;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        let id = cluster.rshmid;
        let mut tries = Vec::new();
        let attached = eventually(SOON, || {
            let r = cluster.observer.attach(id);
            tries.push(r);
            r.is_ok()
        });
        if !attached {
            let dump = cluster.observer.dump();
            panic!(
                "observer could not attach ({tries:?}): {dump}{}",
                cluster.report()
            );
        }
        cluster
    }

    fn spawn(&mut self, id: u16, rounds: u64, start: u64) {
        let mut command = Command::new(SIM);
        command
            .arg("node")
            .arg("--id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.ports[usize::from(id) - 1]))
            .arg("--cluster-key")
            .arg(&self.key_file);
        for (i, port) in self.ports.iter().enumerate() {
            if i + 1 != usize::from(id) {
                command
                    .arg("--peer")
                    .arg(format!("{}=127.0.0.1:{port}", i + 1));
            }
        }
        command
            .arg("--peer")
            .arg(format!("{OBSERVER}=127.0.0.1:{}", self.observer_port));
        let mut child = command
            .arg("-u")
            .arg(PROGRAM)
            .arg(rounds.to_string())
            .arg(start.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err): (Lines, Lines) = (Arc::default(), Arc::default());
        collect(child.stdout.take().unwrap(), out.clone());
        collect(child.stderr.take().unwrap(), err.clone());
        self.runs.entry(id).or_default().push(Proc {
            child,
            out,
            err,
            start,
            rounds,
        });
        self.killed.insert(id, false);
    }

    fn live(&self, id: u16) -> &Proc {
        self.runs[&id].last().unwrap()
    }

    /// The node that owns the segment, as the observer sees it.
    fn owner(&mut self) -> u16 {
        let dump = self.observer.dump();
        let line = dump
            .lines()
            .find(|l| l.contains(&format!(" key {KEY} ")))
            .unwrap_or_else(|| panic!("no row of the segment: {dump}"));
        let owner = line
            .split(" owner ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        owner.parse().unwrap()
    }

    /// Waits until node `id`'s live process answered `n` more publishes.
    fn wait_progress(&self, id: u16, n: usize) {
        let p = self.live(id);
        let target = p.answered() + n;
        let done = eventually(SOON, || {
            p.answered() >= target || p.out().iter().any(|l| l.starts_with("done "))
        });
        assert!(done, "node {id} made no progress: {}", self.report());
    }

    fn kill(&mut self, id: u16) {
        let p = self.runs.get_mut(&id).unwrap().last_mut().unwrap();
        p.child.kill().unwrap();
        let _ = p.child.wait();
        self.killed.insert(id, true);
    }

    /// Stops node `id` until the others dropped it, then lets it go on.
    fn pause(&mut self, id: u16) {
        self.live(id).signal("STOP");
        let others: Vec<u16> = self
            .runs
            .keys()
            .copied()
            .filter(|&n| n != id && !self.killed[&n])
            .collect();
        let needle = format!("node {id} left");
        let dropped = eventually(SOON, || {
            others
                .iter()
                .all(|&n| self.live(n).err_text().contains(&needle))
        });
        self.live(id).signal("CONT");
        assert!(dropped, "node {id} was not dropped: {}", self.report());
        // It comes back as a new member of every other node.
        let back = eventually(SOON, || {
            let lines = self
                .live(id)
                .err
                .lock()
                .map(|l| l.clone())
                .unwrap_or_default();
            let Some(at) = lines
                .iter()
                .rposition(|l| l.contains("rejoining as a new member"))
            else {
                return false;
            };
            others.iter().all(|n| {
                lines[at..]
                    .iter()
                    .any(|l| l.contains(&format!("node {n} joined")))
            })
        });
        assert!(back, "node {id} did not rejoin: {}", self.report());
    }

    /// Waits for every live program to finish its rounds, stops them
    /// through the observer, checks what the module doc promises, and
    /// returns (publishes acknowledged, acknowledged publishes lost).
    fn finish_and_check(mut self) -> (usize, usize) {
        let deadline = Instant::now() + DEADLINE;
        let live: Vec<u16> = self
            .killed
            .iter()
            .filter(|(_, &k)| !k)
            .map(|(&n, _)| n)
            .collect();
        for &id in &live {
            let p = self.live(id);
            let done = eventually(deadline.saturating_duration_since(Instant::now()), || {
                p.out().iter().any(|l| l.starts_with("done "))
            });
            assert!(
                done,
                "node {id} did not finish (a call hung?): {}",
                self.report()
            );
        }
        // Stop: page 1, word 0.
        let id = self.rshmid;
        self.observer.write(id, PAGE_BYTES, &1u64.to_le_bytes());
        let stopped = eventually(SOON, || self.observer.publish(id).is_ok());
        assert!(
            stopped,
            "the observer could not publish the stop: {}",
            self.report()
        );
        let mut finals: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
        for &node in &live {
            let p = self.runs.get_mut(&node).unwrap().last_mut().unwrap();
            let code = loop {
                if let Some(status) = p.child.try_wait().unwrap() {
                    break status.code();
                }
                if Instant::now() > deadline {
                    let _ = p.child.kill();
                    break None;
                }
                thread::sleep(Duration::from_millis(20));
            };
            let p = self.live(node);
            // The reader threads may still be copying the last lines.
            eventually(SOON, || p.out().iter().any(|l| l.starts_with("final ")));
            assert_eq!(code, Some(0), "node {node}: {}", self.report());
            let line = p
                .out()
                .into_iter()
                .find(|l| l.starts_with("final "))
                .unwrap_or_else(|| panic!("node {node} printed no final view: {}", self.report()));
            let words: Vec<u64> = line
                .split(':')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .map(|w| w.parse().unwrap())
                .collect();
            finals.insert(node, words);
        }
        let observer: Vec<u64> = {
            let copy = self.observer.copy(id).unwrap();
            (1..8)
                .map(|w| u64::from_le_bytes(copy.bytes[w * 8..w * 8 + 8].try_into().unwrap()))
                .collect()
        };
        // All live copies converge.
        for (node, words) in &finals {
            assert_eq!(
                words,
                &observer,
                "node {node} differs from the observer: {}",
                self.report()
            );
        }
        // No acknowledged publish is lost; a finished node's last value is
        // everywhere; no call hung (every round answered).
        let mut acked = 0;
        let mut lost = 0;
        for (&node, procs) in &self.runs {
            let last_word = observer[usize::from(node) - 1];
            for p in procs {
                for line in p.out() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    // A killed node may have been cut in the middle of
                    // its last line ("ack 2"): that value is unknown.
                    if f.first() == Some(&"ack") && f.len() == 4 {
                        acked += 1;
                        let value: u64 = f[2].parse().unwrap();
                        if value > last_word {
                            lost += 1;
                        }
                    }
                }
            }
            let p = procs.last().unwrap();
            if !self.killed[&node] {
                let done = p
                    .out()
                    .iter()
                    .find(|l| l.starts_with("done "))
                    .map(|l| l.split_whitespace().nth(2).unwrap().parse::<u64>().unwrap());
                assert_eq!(done, Some(p.start + p.rounds));
                assert_eq!(
                    last_word,
                    p.start + p.rounds,
                    "node {node}: {}",
                    self.report()
                );
                assert!(
                    p.answered() as u64 >= p.rounds,
                    "node {node}: {}",
                    self.report()
                );
            }
        }
        assert_eq!(lost, 0, "acknowledged publishes lost: {}", self.report());
        if self.started.elapsed() > Duration::from_secs(8) {
            // Slow but correct: say why (seen with --nocapture).
            eprintln!(
                "slow scenario ({:?}): {}",
                self.started.elapsed(),
                self.report()
            );
        }
        (acked, lost)
    }

    /// Everything the nodes printed, for a failure message.
    fn report(&self) -> String {
        let mut s = String::new();
        for (id, procs) in &self.runs {
            for (i, p) in procs.iter().enumerate() {
                let out = p.out();
                let tail: Vec<&String> = out.iter().rev().take(6).collect();
                s += &format!(
                    "\n--- node {id} run {i} ({}): {} lines, last {tail:?}\n{}",
                    process_state(p.child.id()),
                    out.len(),
                    p.err_text()
                );
            }
        }
        s += &format!(
            "\n--- observer: {:?}",
            self.observer.log.lock().map(|l| l.clone())
        );
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The key file's folder is this test's own.
        if let Some(dir) = self.key_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What Linux says of a child that was not waited for yet: running,
/// stopped, or how it ended (a zombie keeps its exit code in
/// /proc/PID/stat, so a crash shows in a failure message).
fn process_state(pid: u32) -> String {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return "reaped".into();
    };
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    match fields.first() {
        Some(&"Z") => {
            // Field 52 of the line is the exit code in waitpid's form.
            let code: i32 = fields.get(49).and_then(|c| c.parse().ok()).unwrap_or(-1);
            if code & 0x7f != 0 {
                format!("killed by signal {}", code & 0x7f)
            } else {
                format!("exited with {}", code >> 8)
            }
        }
        Some(state) => format!("state {state}"),
        None => "unknown".into(),
    }
}

fn summary(name: &str, started: Instant, (acked, lost): (usize, usize)) {
    eprintln!(
        "rshm fault scenario {name}: {acked} acknowledged publishes, {lost} lost, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn killing_the_owner_mid_publish_and_restarting_it_loses_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("kill-owner", 150);
    let owner = c.owner();
    c.wait_progress(owner, 20);
    c.kill(owner);
    let others: Vec<u16> = (1..=3).filter(|&n| n != owner).collect();
    for &n in &others {
        c.wait_progress(n, 20);
    }
    // The others' publishes answer (acknowledged or not) also before they
    // noticed the kill: the new owner may come a moment later.
    let taken_over = eventually(SOON, || c.owner() != owner);
    assert!(taken_over, "no new owner took over: {}", c.report());
    // The killed node comes back (a new incarnation) and publishes again.
    c.spawn(owner, 60, 1_000_000);
    let result = c.finish_and_check();
    summary("kill-owner", started, result);
}

#[test]
fn killing_a_non_owner_mid_publish_and_restarting_it_loses_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("kill-other", 150);
    let owner = c.owner();
    let victim = (1..=3).find(|&n| n != owner).unwrap();
    c.wait_progress(victim, 20);
    c.kill(victim);
    c.wait_progress(owner, 20);
    c.spawn(victim, 60, 1_000_000);
    let result = c.finish_and_check();
    summary("kill-other", started, result);
}

#[test]
fn pausing_the_owner_and_then_a_non_owner_loses_nothing_and_hangs_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("pause", 200);
    let owner = c.owner();
    c.wait_progress(owner, 10);
    c.pause(owner);
    let other = (1..=3).find(|&n| n != owner).unwrap();
    c.wait_progress(other, 10);
    let now_owner = c.owner();
    let victim = (1..=3).find(|&n| n != now_owner).unwrap();
    c.pause(victim);
    // Both came back as new members.
    for node in [owner, victim] {
        let p = c.live(node);
        assert!(
            eventually(SOON, || p.err_text().contains("rejoining as a new member")),
            "node {node}: {}",
            c.report()
        );
    }
    let result = c.finish_and_check();
    summary("pause", started, result);
}

#[test]
fn a_brief_owner_pause_and_two_nodes_paused_at_once_lose_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("pause-two", 200);
    let owner = c.owner();
    c.wait_progress(owner, 10);
    // Shorter than the timeout: nobody is dropped, nothing is redone.
    c.live(owner).signal("STOP");
    thread::sleep(Duration::from_millis(200));
    c.live(owner).signal("CONT");
    c.wait_progress(owner, 10);
    // Both others stop together until the owner dropped them both.
    let others: Vec<u16> = (1..=3).filter(|&n| n != owner).collect();
    for &n in &others {
        c.live(n).signal("STOP");
    }
    let dropped = eventually(SOON, || {
        others
            .iter()
            .all(|n| c.live(owner).err_text().contains(&format!("node {n} left")))
    });
    for &n in &others {
        c.live(n).signal("CONT");
    }
    assert!(dropped, "the owner dropped nobody: {}", c.report());
    for &n in &others {
        let p = c.live(n);
        assert!(
            eventually(SOON, || p.err_text().contains("rejoining as a new member")),
            "node {n}: {}",
            c.report()
        );
    }
    let result = c.finish_and_check();
    summary("pause-two", started, result);
}

#[test]
fn killing_the_owner_while_another_node_is_paused_loses_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("kill-and-pause", 150);
    let owner = c.owner();
    c.wait_progress(owner, 10);
    let paused = (1..=3).find(|&n| n != owner).unwrap();
    c.live(paused).signal("STOP");
    c.kill(owner);
    // The third node goes on alone with the observer.
    let third = (1..=3).find(|&n| n != owner && n != paused).unwrap();
    c.wait_progress(third, 10);
    c.live(paused).signal("CONT");
    c.spawn(owner, 60, 1_000_000);
    let result = c.finish_and_check();
    summary("kill-and-pause", started, result);
}

/// A peer that has no key: it greets like a node, then sends frames
/// sealed with a tag of its own making.
fn forged_frames(target: SocketAddr, frames: &[Msg]) -> std::io::Result<()> {
    let mut s = TcpStream::connect(target)?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(&encode_frame(&Msg::Greeting { nonce: [7; 32] }).unwrap())?;
    for msg in frames {
        let mut frame = encode_frame(msg).unwrap();
        frame.extend_from_slice(&[0xab; 32]);
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_le_bytes());
        s.write_all(&frame)?;
    }
    Ok(())
}

/// The node's resident memory in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn forged_peers_change_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start("forged", 150);
    let owner = c.owner();
    let target: SocketAddr = format!("127.0.0.1:{}", c.ports[usize::from(owner) - 1])
        .parse()
        .unwrap();
    let pid = c.live(owner).child.id();
    let rss_before = rss_kib(pid);
    // A forged hello that claims to be node 2 and announces 300 segments
    // of 4 MiB, a full image, and 100,000 more rows.
    let info = |seq: u32| SegmentInfo {
        id: RshmId {
            node: 2,
            incarnation: 1,
            seq,
        },
        key: 9000 + u64::from(seq),
        size: 4 << 20,
        owner: 2,
        epoch: 0,
        version: 1,
        removed: false,
        established: true,
        holders: vec![2],
        refs: vec![(2, 1)],
    };
    let hello = Msg::Hello {
        node: 2,
        incarnation: u32::MAX,
        table: (0..300).map(info).collect(),
        collected: vec![],
    };
    let rows = Msg::Hello {
        node: 3,
        incarnation: u32::MAX,
        table: (0..100_000).map(info).collect(),
        collected: vec![],
    };
    let _ = forged_frames(target, &[hello, Msg::Heartbeat]);
    let _ = forged_frames(target, &[rows]);
    // 300 connections that greet and then only send heartbeats.
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(mut s) = TcpStream::connect(target) {
            let _ = s.write_all(&encode_frame(&Msg::Greeting { nonce: [1; 32] }).unwrap());
            idle.push(s);
        }
    }
    for s in &mut idle {
        let _ = s.write_all(&encode_frame(&Msg::Heartbeat).unwrap());
    }
    // A length no greeting has.
    if let Ok(mut s) = TcpStream::connect(target) {
        let _ = s.write_all(&u32::MAX.to_le_bytes());
    }
    let p = c.live(owner);
    assert!(
        eventually(SOON, || p
            .err_text()
            .contains("not sealed with the cluster key")),
        "{}",
        c.report()
    );
    assert!(
        eventually(SOON, || p.err_text().contains("connections open already")),
        "{}",
        c.report()
    );
    // Nothing was merged: nobody left, no forged segment in any table.
    c.wait_progress(owner, 10);
    drop(idle);
    for node in 1..=3u16 {
        let text = c.live(node).err_text();
        assert!(!text.contains(" left "), "node {node}: {text}");
    }
    let dump = c.observer.dump();
    assert!(!dump.contains("key 9000"), "{dump}");
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    let result = c.finish_and_check();
    summary("forged", started, result);
}

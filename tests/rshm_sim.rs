//! `sim node` and `sim cluster` processes running the C* board demo
//! (programs/rshm/board.c) over loopback TCP: the kernel's rshm calls end to
//! end. Every node listens on a port of 127.0.0.1 the OS assigned; every
//! child is killed if it outlives its deadline, so no test hangs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_sim");
const BOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/rshm/board.c");
/// Generous: the machine is small and shared; a node gives up on a
/// missing peer after ~100 M yields (no test waits for that).
const DEADLINE: Duration = Duration::from_secs(90);

/// One scenario at a time: each starts three `sim node` processes, and
/// five scenarios at once (the test harness's threads) overload the small
/// CI machine until nodes miss each other's deadlines. A failed scenario
/// poisons the lock; the next one runs anyway.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SCENARIO: Mutex<()> = Mutex::new(());
    SCENARIO
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Ports the OS assigns on 127.0.0.1, released for the nodes to bind.
fn free_ports(n: usize) -> Vec<u16> {
    sim::rshm::harness::free_ports(n).unwrap()
}

/// A child `sim` process, killed when dropped (also when a test fails
/// half way), so that no node outlives its test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(command: &mut Command) -> Running {
    Running(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Starts `sim node --id id` knowing every node of `ports` (ids 1..),
/// running the board with `args`.
fn node(id: usize, ports: &[u16], args: &[&str]) -> Running {
    let mut command = Command::new(SIM);
    command
        .arg("node")
        .arg("--id")
        .arg(id.to_string())
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", ports[id - 1]));
    for (i, port) in ports.iter().enumerate() {
        if i + 1 != id {
            command
                .arg("--peer")
                .arg(format!("{}=127.0.0.1:{port}", i + 1));
        }
    }
    spawn(command.arg("-u").arg(BOARD).args(args))
}

/// Collects a child's output on a thread (so a full pipe never blocks it).
fn collect(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stream).read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Waits for `child` until `deadline`, killing it then. Returns the exit
/// code (None when killed) and its stdout and stderr (empty when taken
/// before).
fn finish(running: &mut Running, deadline: Instant) -> (Option<i32>, String, String) {
    let child = &mut running.0;
    let out = child.stdout.take().map(collect);
    let err = child.stderr.take().map(collect);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let text = |rx: Option<mpsc::Receiver<String>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(10)).ok())
            .unwrap_or_default()
    };
    (code, text(out), text(err))
}

/// The lines a node prints when it saw every other node's page.
fn expected_reads(me: usize, nodes: usize) -> Vec<String> {
    (1..=nodes)
        .filter(|&j| j != me)
        .map(|j| format!("node {me} reads page {}: node {j} was here", j - 1))
        .collect()
}

#[test]
fn board_on_three_sim_nodes() {
    let _scenario = one_at_a_time();
    let ports = free_ports(3);
    let mut children: Vec<Running> = (1..=3).map(|id| node(id, &ports, &[])).collect();
    let deadline = Instant::now() + DEADLINE;
    for (i, child) in children.iter_mut().enumerate() {
        let id = i + 1;
        let (code, out, err) = finish(child, deadline);
        assert_eq!(code, Some(0), "node {id}:\n{out}\n{err}");
        assert!(out.contains(&format!("node {id}: published page {}", id - 1)));
        for line in expected_reads(id, 3) {
            assert!(
                out.contains(&line),
                "node {id} lacks {line:?}:\n{out}\n{err}"
            );
        }
        assert!(err.contains(&format!("sim: node {id}: listening on 127.0.0.1:")));
    }
}

#[test]
fn sim_cluster_3_runs_the_board() {
    let _scenario = one_at_a_time();
    // `sim cluster` waits for its nodes; a node left behind by a failure
    // ends when its program gives up on the others (board.c's bound).
    let mut cluster = spawn(Command::new(SIM).args(["cluster", "3", "-u", BOARD, "--dump-rshm"]));
    let (code, out, err) = finish(&mut cluster, Instant::now() + DEADLINE);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for id in 1..=3 {
        for line in expected_reads(id, 3) {
            let prefixed = format!("[node {id}] {line}");
            assert!(out.contains(&prefixed), "lacks {prefixed:?}:\n{out}\n{err}");
        }
        // --dump-rshm: each node's table at exit names the segment of key 42.
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("[node {id}] ")) && l.contains("key 42 size 12288")),
            "node {id} printed no table:\n{err}"
        );
    }
}

#[test]
fn sim_cluster_exit_code_is_the_first_failure() {
    let _scenario = one_at_a_time();
    // One node of a board for 2 nodes expects ids 1..2: with 3 nodes,
    // node 3 refuses (exit 100) while 1 and 2 succeed.
    let mut cluster = spawn(Command::new(SIM).args(["cluster", "3", "-u", BOARD, "2"]));
    let (code, out, err) = finish(&mut cluster, Instant::now() + DEADLINE);
    assert_eq!(code, Some(100), "{out}\n{err}");
    assert!(
        out.contains("[node 3] board: node ids must be 1..N"),
        "{out}"
    );
    assert!(
        out.contains("[node 1] node 1 reads page 1: node 2 was here"),
        "{out}"
    );
}

/// Sends a child's stdout line by line (a thread reads it).
fn lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`, until `deadline`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, deadline: Instant) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?} in time; saw {seen:?}"),
        }
    }
}

#[test]
fn killing_a_node_leaves_the_others_working() {
    let _scenario = one_at_a_time();
    // Node 1 publishes and stays; node 2 publishes and waits for node 3.
    // Node 1 is killed (it may own the segment: then node 2 takes over),
    // and only then does node 3 start: it joins node 2, fetches the board
    // from it, and both finish, each having read the two other pages.
    let ports = free_ports(3);
    let deadline = Instant::now() + DEADLINE;
    let mut first = node(1, &ports, &["3", "stay"]);
    let mut second = node(2, &ports, &[]);
    let first_out = lines(first.0.stdout.take().unwrap());
    let second_out = lines(second.0.stdout.take().unwrap());
    let _first_err = collect(first.0.stderr.take().unwrap());
    wait_line(&first_out, "node 1: published page 0", deadline);
    // Node 2 holds a copy once its own publish returned.
    wait_line(&second_out, "node 2: published page 1", deadline);
    drop(first); // killed
                 // Node 3 knows node 1 too: a peer that never answers holds its first
                 // calls until the start-up period ends (2 s), then it goes on.
    let mut third = node(3, &ports, &[]);
    let (code3, out3, err3) = finish(&mut third, deadline);
    assert_eq!(code3, Some(0), "node 3:\n{out3}\n{err3}");
    for line in expected_reads(3, 3) {
        assert!(
            out3.contains(&line),
            "node 3 lacks {line:?}:\n{out3}\n{err3}"
        );
    }
    let second_reads = wait_line(&second_out, "reads page 2", deadline);
    let (code2, _, err2) = finish(&mut second, deadline);
    assert_eq!(code2, Some(0), "node 2: {second_reads:?}\n{err2}");
    for line in expected_reads(2, 3) {
        assert!(
            second_reads.contains(&line),
            "node 2 lacks {line:?}: {second_reads:?}\n{err2}"
        );
    }
    assert!(err2.contains("node 1 left"), "{err2}");
}

#[test]
fn no_torn_reads_while_updates_arrive() {
    let _scenario = one_at_a_time();
    // programs/rshm/torn.c: node 1 publishes 200 rounds of two pages
    // filled with the round number; nodes 2 and 3 scan both pages after
    // every yield and count scans that mix two rounds.
    let torn = concat!(env!("CARGO_MANIFEST_DIR"), "/programs/rshm/torn.c");
    let mut cluster = spawn(Command::new(SIM).args(["cluster", "3", "-u", torn]));
    let (code, out, err) = finish(&mut cluster, Instant::now() + DEADLINE);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("[node 1] node 1: published 200 rounds"),
        "{out}"
    );
    for id in 2..=3 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("[node {id}] node {id}: saw round 200")))
            .unwrap_or_else(|| panic!("node {id} did not finish:\n{out}\n{err}"));
        assert!(line.ends_with(", 0 torn scans"), "{line}");
    }
}

#[test]
fn node_ids_outside_the_supported_range_are_refused_at_start() {
    for id in ["0", "1024", "65535"] {
        let mut node = spawn(Command::new(SIM).args([
            "node",
            "--id",
            id,
            "--listen",
            "127.0.0.1:0",
            "-u",
            BOARD,
        ]));
        let (code, out, err) = finish(&mut node, Instant::now() + DEADLINE);
        assert_ne!(code, Some(0), "node {id} started:\n{out}\n{err}");
        assert!(
            err.contains("outside the supported range 1..=1023"),
            "node {id}:\n{err}"
        );
    }
}

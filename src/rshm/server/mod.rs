//! The rshm server of one node: a thread that owns the node's state table
//! and its connections (spec/rshm.md: "the server is a thread of the node;
//! the kernel and the server talk through message queues").
//!
//! ```text
//! kernel ──Request──► ┐                       ┌──► Event ──► kernel
//! peers.rs ─Input───► ├ inbox ─► Server::step ┤
//! ticks (heartbeat) ─►┘                       └──► frames ──► peers
//! ```
//!
//! Every input is handled to the end before the next one, so the table is
//! never seen half-changed. A call that needs other nodes becomes a
//! `Pending` entry keyed by a token and is answered (`Event::Reply`) when
//! the last answer arrives. When the owner it waits for leaves, the call
//! starts over with the segment's new owner (`member_left`); EHOSTDOWN
//! only when no live node can decide.
//!
//! Publishing (`rshm_changed`), spec "the owner gives the update the next
//! version number and forwards it to every node with a copy":
//!
//! ```text
//! origin: Publish{pages} ─► owner: version+1, apply, Update{pages} ─► holders
//!                                   (the origin gets an echo without pages)
//! holders: apply (server image, then the kernel between two machine runs)
//!          Ack{version} ─► owner ─► Published{version} ─► origin's caller
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::peers::{write_frame, ConnId, Net};
use super::table::{image_to_pages, ApplyOutcome, Segment, Table};
use super::wire::{
    FrameError, Msg, NodeId, Page, RshmId, SegmentInfo, MAX_SEGMENT, MAX_SEQ, PAGE_BYTES,
};
use crate::abi::{EHOSTDOWN, EIDRM, EINVAL, ENOSPC};

/// Live segments one node keeps at most (rshmget ENOSPC beyond).
pub const MAX_SEGMENTS: usize = 256;

/// What the kernel asks of its server. Ids are the values guests see.
#[derive(Debug)]
pub enum Request {
    /// rshmget(key, size).
    Get { token: u64, key: u64, size: u64 },
    /// rshmat: make sure this node holds the latest image; send it back
    /// when `need_data` (the kernel has no local object yet).
    Attach {
        token: u64,
        id: u64,
        need_data: bool,
    },
    /// This node now has `count` processes attached (no reply).
    Refs { id: u64, count: u32 },
    /// rshmctl(IPC_RMID).
    Remove { token: u64, id: u64 },
    /// rshm_changed: the pages written since the last publish.
    Publish {
        token: u64,
        id: u64,
        pages: Vec<Page>,
    },
    /// The kernel applied `Event::Apply` of this version.
    Applied { id: u64, version: u64 },
    /// The state table as text (`--dump-rshm`).
    Dump { token: u64 },
    /// Answer (`Answer::Done`) once no call and no forwarded update is
    /// in progress here: a node whose processes all ended sends it before
    /// it stops, so that the publishes it sequences still complete.
    Drain { token: u64 },
    /// Test hook: stop reading and heartbeating for a while, like a
    /// stopped (SIGSTOP) process.
    Suspend(Duration),
    /// Test hook: when this node next forwards an update as owner, send it
    /// to one holder, half a frame to the next, then crash.
    CrashDuringNextPublish,
    /// Close every connection and end the thread without goodbye.
    Stop,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Id(u64),
    /// The segment's size and version, and its image when asked for.
    Attached {
        size: u64,
        version: u64,
        data: Option<Vec<u8>>,
    },
    Done,
    Version(u64),
    Text(String),
}

/// What the server tells the kernel.
#[derive(Debug)]
pub enum Event {
    /// The answer to the request with this token: a value or an errno.
    Reply {
        token: u64,
        result: Result<Answer, u64>,
    },
    /// Apply these pages to the local copy between two guest instructions,
    /// then send `Request::Applied`.
    Apply {
        id: u64,
        version: u64,
        full: bool,
        pages: Vec<Page>,
    },
    /// The segment was removed and is attached nowhere: drop the local copy.
    Freed { id: u64 },
    /// The owner gave the publish with this token its version: every
    /// `Apply` after this event is of a later version (see rshm/syscalls.rs
    /// for why the kernel cares).
    Sequenced { token: u64 },
}

/// Where the server writes its log lines (`sim: node N: ...`).
#[derive(Clone, Default)]
pub struct Log {
    /// Also keep lines here (tests read them).
    pub lines: Option<Arc<Mutex<Vec<String>>>>,
    /// Print lines on stderr.
    pub stderr: bool,
}

impl Log {
    fn write(&self, line: String) {
        if self.stderr {
            eprintln!("{line}");
        }
        if let Some(lines) = &self.lines {
            if let Ok(mut l) = lines.lock() {
                l.push(line);
            }
        }
    }
}

/// How to start a node.
pub struct NodeConfig {
    pub id: NodeId,
    /// None: derived from the clock, so a restarted node gets a new one.
    pub incarnation: Option<u32>,
    /// Bound listening socket (tests bind 127.0.0.1:0).
    pub listener: TcpListener,
    /// The other nodes and where they listen.
    pub peers: Vec<(NodeId, SocketAddr)>,
    pub heartbeat: Duration,
    /// Silence after which a peer counts as stopped.
    pub timeout: Duration,
    /// Requests wait at most this long at start for the first hellos.
    pub startup: Duration,
    pub log: Log,
}

impl NodeConfig {
    pub fn new(id: NodeId, listener: TcpListener, peers: Vec<(NodeId, SocketAddr)>) -> NodeConfig {
        NodeConfig {
            id,
            incarnation: None,
            listener,
            peers,
            heartbeat: Duration::from_millis(100),
            timeout: Duration::from_millis(1000),
            startup: Duration::from_secs(2),
            log: Log {
                lines: None,
                stderr: true,
            },
        }
    }
}

/// The kernel's side of the queues to a running server.
pub struct NodeHandle {
    pub id: NodeId,
    pub incarnation: u32,
    pub addr: SocketAddr,
    inbox: Sender<Input>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    next_token: AtomicU64,
}

impl NodeHandle {
    /// Starts the server thread.
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn start(config: NodeConfig) -> std::io::Result<NodeHandle> {
        let addr = config.listener.local_addr()?;
        let (inbox, inputs) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let incarnation = config.incarnation.unwrap_or_else(clock_incarnation);
        let net = Net::new(inbox.clone());
        let id = config.id;
        let listener = config.listener.try_clone()?;
        net.spawn_listener(listener);
        let mut server = Server::new(config, incarnation, net, events_tx);
        let thread = thread::Builder::new()
            .name(format!("rshm-node-{id}"))
            .spawn(move || server.run(inputs))?;
        Ok(NodeHandle {
            id,
            incarnation,
            addr,
            inbox,
            events,
            thread: Some(thread),
            next_token: AtomicU64::new(1),
        })
    }

    /// A second way in, for a thread other than the one that reads events.
    pub fn requester(&self) -> Requester {
        Requester(self.inbox.clone())
    }

    /// A fresh token for a request.
    pub fn token(&self) -> u64 {
        self.next_token.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a request; false when the server is gone.
    pub fn send(&self, request: Request) -> bool {
        self.inbox.send(Input::Kernel(request)).is_ok()
    }

    /// The next event if one is queued.
    pub fn try_event(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event.
    pub fn wait_event(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Waits up to `timeout` for the next event; `Disconnected` when the
    /// server thread has ended (no reply will ever come).
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`.
    pub fn recv_event(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(&mut self) {
        let _ = self.inbox.send(Input::Kernel(Request::Stop));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends requests to a server from any thread.
#[derive(Clone)]
pub struct Requester(Sender<Input>);

impl Requester {
    /// Queues a request; false when the server is gone.
    pub fn send(&self, request: Request) -> bool {
        self.0.send(Input::Kernel(request)).is_ok()
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An incarnation from the clock, in hundredths of a second (spec: "a
/// restarted node is a new member with a new incarnation"). A restart takes
/// far longer than 10 ms, so a restarted node never reuses one; the
/// counter wraps after 497 days. It only has to grow across restarts of one
/// node id (server.rs `hello` keeps the higher incarnation).
fn clock_incarnation() -> u32 {
    let centis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() / 10);
    ((centis % (1 << 32)) as u32).max(1)
}

/// Everything that reaches the server thread.
#[derive(Debug)]
pub enum Input {
    Kernel(Request),
    NewConn {
        conn: ConnId,
        stream: TcpStream,
        dialed: Option<NodeId>,
        peer_addr: String,
    },
    DialFailed {
        node: NodeId,
        reason: String,
    },
    Frame {
        conn: ConnId,
        msg: Msg,
    },
    BadFrame {
        conn: ConnId,
        /// The peer's address, to name it after its connection is gone.
        peer_addr: String,
        error: FrameError,
    },
    Closed {
        conn: ConnId,
        reason: String,
    },
}

/// One open connection.
struct Conn {
    stream: TcpStream,
    /// Set by the peer's hello.
    node: Option<NodeId>,
    incarnation: u32,
    /// Who dialed: decides which of two simultaneous connections survives.
    dialer: Option<NodeId>,
    peer_addr: String,
    last_heard: Instant,
}

/// A call of this node's kernel waiting on the network.
enum Pending {
    Create {
        kernel: u64,
        id: RshmId,
        size: u64,
        waiting: BTreeSet<NodeId>,
        lowest: RshmId,
        established: Option<RshmId>,
    },
    Fetch {
        /// None: a gap repair, not a kernel call.
        kernel: Option<(u64, bool)>,
        id: RshmId,
        owner: NodeId,
    },
    Remove {
        kernel: u64,
        id: RshmId,
        owner: NodeId,
    },
    Publish {
        kernel: u64,
        id: RshmId,
        owner: NodeId,
        pages: Vec<Page>,
    },
}

/// An update the owner forwarded and waits acknowledgements for.
struct Forwarded {
    origin: NodeId,
    origin_token: u64,
    waiting: BTreeSet<NodeId>,
}

/// A re-election this node runs as the new owner.
struct Election {
    waiting: BTreeSet<NodeId>,
    best: (u64, NodeId),
}

struct Server {
    me: NodeId,
    incarnation: u32,
    next_seq: u32,
    table: Table,
    conns: BTreeMap<ConnId, Conn>,
    /// Which node each identified connection belonged to, also after it
    /// closed (to name the peer of a frame that arrives late).
    conn_nodes: BTreeMap<ConnId, NodeId>,
    /// Live members: node → its connection.
    members: BTreeMap<NodeId, ConnId>,
    configured: BTreeMap<NodeId, SocketAddr>,
    dialing: BTreeSet<NodeId>,
    /// Configured peers not heard from (hello or failed dial) since start.
    unsettled: BTreeSet<NodeId>,
    started: Instant,
    /// Kernel requests held until the first hellos arrived.
    held: Vec<Request>,
    pending: BTreeMap<u64, Pending>,
    next_token: u64,
    forwarded: BTreeMap<(RshmId, u64), Forwarded>,
    /// rshmget calls waiting for a creation round of their key to end:
    /// (kernel token, key, size).
    awaiting: Vec<(u64, u64, u64)>,
    elections: BTreeMap<RshmId, Election>,
    /// Calls that reached this node as the new owner before it saw the old
    /// owner leave (see `defer_early`): when they came, from whom, what.
    deferred: Vec<(Instant, NodeId, Msg)>,
    /// Tokens of `Request::Drain` not answered yet.
    draining: Vec<u64>,
    crash_next_publish: bool,
    heartbeat: Duration,
    timeout: Duration,
    startup: Duration,
    last_tick: Instant,
    last_dial: Instant,
    net: Net,
    events: Sender<Event>,
    log: Log,
    running: bool,
}

impl Server {
    fn new(config: NodeConfig, incarnation: u32, net: Net, events: Sender<Event>) -> Server {
        let configured: BTreeMap<NodeId, SocketAddr> = config
            .peers
            .iter()
            .copied()
            .filter(|p| p.0 != config.id)
            .collect();
        let now = Instant::now();
        Server {
            me: config.id,
            incarnation,
            next_seq: 0,
            table: Table::new(),
            conns: BTreeMap::new(),
            conn_nodes: BTreeMap::new(),
            members: BTreeMap::new(),
            unsettled: configured.keys().copied().collect(),
            configured,
            dialing: BTreeSet::new(),
            started: now,
            held: Vec::new(),
            pending: BTreeMap::new(),
            next_token: 1,
            forwarded: BTreeMap::new(),
            awaiting: Vec::new(),
            elections: BTreeMap::new(),
            deferred: Vec::new(),
            draining: Vec::new(),
            crash_next_publish: false,
            heartbeat: config.heartbeat,
            timeout: config.timeout,
            startup: config.startup,
            last_tick: now,
            last_dial: now - Duration::from_secs(1),
            net,
            events,
            log: config.log,
            running: true,
        }
    }

    fn log(&self, text: &str) {
        self.log.write(format!("sim: node {}: {text}", self.me));
    }

    fn run(&mut self, inputs: Receiver<Input>) {
        self.log(&format!(
            "started (incarnation {}), {} peers configured",
            self.incarnation,
            self.configured.len()
        ));
        self.dial_missing();
        while self.running {
            match inputs.recv_timeout(self.heartbeat / 2) {
                Ok(Input::Kernel(Request::Suspend(d))) => {
                    thread::sleep(d);
                }
                Ok(input) => self.step(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick();
            self.check_drained();
        }
        self.net.stop.store(true, Ordering::Relaxed);
        for conn in self.conns.values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        self.conns.clear();
    }

    /// A call for a segment whose owner this node still believes alive
    /// comes from a node that already dropped that owner and elected this
    /// one (each node notices a silent peer on its own clock). Such a call
    /// waits until this node sees the owner leave too (`member_left`), or
    /// for one heartbeat timeout; then it is handled as it stands.
    fn defer_early(&mut self, from: NodeId, msg: Msg) -> Option<Msg> {
        let (Msg::Publish { id, .. } | Msg::Fetch { id, .. } | Msg::Remove { id, .. }) = &msg
        else {
            return Some(msg);
        };
        let early = self.table.get(*id).is_some_and(|seg| {
            seg.owner != self.me
                && seg.owner != from
                && !seg.removed
                && self.members.contains_key(&seg.owner)
        });
        if !early || self.deferred.iter().any(|d| d.2 == msg) {
            return Some(msg);
        }
        self.deferred.push((Instant::now(), from, msg));
        None
    }

    /// Handles the deferred calls again: all of them after a member left,
    /// else those older than the timeout (handled as they stand).
    fn retry_deferred(&mut self, all: bool) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| all || now.duration_since(d.0) > self.timeout);
        self.deferred = keep;
        for (at, from, msg) in due {
            if !self.members.contains_key(&from) {
                continue;
            }
            if all {
                self.message(from, msg);
            } else {
                // Expired: mark it so that `defer_early` lets it through.
                self.deferred.push((at, from, msg.clone()));
                self.message(from, msg);
                self.deferred.retain(|d| d.0 != at || d.1 != from);
            }
        }
    }

    /// Answers `Request::Drain` once nothing is in progress.
    fn check_drained(&mut self) {
        if self.draining.is_empty()
            || !(self.pending.is_empty() && self.forwarded.is_empty() && self.elections.is_empty())
        {
            return;
        }
        for token in std::mem::take(&mut self.draining) {
            self.reply(token, Ok(Answer::Done));
        }
    }

    fn live(&self) -> BTreeSet<NodeId> {
        let mut live: BTreeSet<NodeId> = self.members.keys().copied().collect();
        live.insert(self.me);
        live
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn reply(&self, token: u64, result: Result<Answer, u64>) {
        let _ = self.events.send(Event::Reply { token, result });
    }

    // ---- time ------------------------------------------------------------

    fn tick(&mut self) {
        let now = Instant::now();
        if self.unsettled.is_empty() || now.duration_since(self.started) > self.startup {
            self.unsettled.clear();
            for request in std::mem::take(&mut self.held) {
                self.kernel(request);
            }
        }
        if now.duration_since(self.last_tick) < self.heartbeat {
            return;
        }
        self.last_tick = now;
        self.retry_deferred(false);
        let silent: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_heard) > self.timeout)
            .map(|(&id, _)| id)
            .collect();
        for conn in silent {
            self.close(conn, "no heartbeat within the timeout");
        }
        // Not to half-closed duplicates: their writes would fail.
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| c.node.is_none() || self.members.values().any(|m| m == *id))
            .map(|(&id, _)| id)
            .collect();
        for conn in conns {
            self.send_conn(conn, &Msg::Heartbeat);
        }
        if now.duration_since(self.last_dial) > self.heartbeat * 2 {
            self.dial_missing();
        }
    }

    /// Dials configured peers that are not members. To keep simultaneous
    /// dials rare, a node dials only higher ids at first (the lower id
    /// connects); after the startup period it dials any missing peer, for
    /// peers that do not know this node. Should two connections open at
    /// once anyway, `hello` keeps one.
    fn dial_missing(&mut self) {
        self.last_dial = Instant::now();
        let all = self.started.elapsed() > self.startup;
        let me = self.me;
        let missing: Vec<(NodeId, SocketAddr)> = self
            .configured
            .iter()
            .filter(|(n, _)| all || **n > me)
            .filter(|(n, _)| !self.members.contains_key(n) && !self.dialing.contains(n))
            .map(|(&n, &a)| (n, a))
            .collect();
        for (node, addr) in missing {
            self.dialing.insert(node);
            self.net.spawn_dial(node, addr);
        }
    }

    // ---- sending ---------------------------------------------------------

    fn send_conn(&mut self, conn: ConnId, msg: &Msg) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Err(e) = write_frame(&mut c.stream, msg, None) {
            self.close(conn, &format!("write failed: {e}"));
        }
    }

    fn send(&mut self, node: NodeId, msg: &Msg) {
        if let Some(&conn) = self.members.get(&node) {
            self.send_conn(conn, msg);
        }
    }

    fn multicast(&mut self, msg: &Msg) {
        let nodes: Vec<NodeId> = self.members.keys().copied().collect();
        for n in nodes {
            self.send(n, msg);
        }
    }

    // ---- inputs ----------------------------------------------------------

    fn step(&mut self, input: Input) {
        match input {
            Input::Kernel(request) => {
                if self.unsettled.is_empty() || matches!(request, Request::Stop) {
                    self.kernel(request);
                } else {
                    self.held.push(request);
                }
            }
            Input::NewConn {
                conn,
                stream,
                dialed,
                peer_addr,
            } => {
                if let Some(n) = dialed {
                    self.dialing.remove(&n);
                }
                self.conns.insert(
                    conn,
                    Conn {
                        stream,
                        node: None,
                        incarnation: 0,
                        dialer: dialed.map(|_| self.me),
                        peer_addr,
                        last_heard: Instant::now(),
                    },
                );
                let hello = Msg::Hello {
                    node: self.me,
                    incarnation: self.incarnation,
                    table: self.table.infos(),
                };
                self.send_conn(conn, &hello);
            }
            Input::DialFailed { node, .. } => {
                // Not settled: a peer started a moment later refuses at
                // first (`sim cluster` starts nodes side by side). Requests
                // wait for it until `startup` ends; `tick` dials again.
                self.dialing.remove(&node);
            }
            Input::Frame { conn, msg } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.last_heard = Instant::now();
                match (c.node, msg) {
                    (
                        _,
                        Msg::Hello {
                            node,
                            incarnation,
                            table,
                        },
                    ) => self.hello(conn, node, incarnation, table),
                    // Also a duplicate connection's frames: the peer may
                    // have sent them before it learnt which one survives.
                    (Some(from), msg) if self.is_current(from, conn) => self.message(from, msg),
                    (Some(_), _) => {} // a duplicate connection on its way out
                    (None, _) => {
                        let who = self.conn_name(conn);
                        self.log(&format!("dropped frame from {who}: message before hello"));
                    }
                }
            }
            Input::BadFrame {
                conn,
                peer_addr,
                error,
            } => {
                let who = match (self.conns.get(&conn), self.conn_nodes.get(&conn)) {
                    (Some(_), _) => self.conn_name(conn),
                    (None, Some(n)) => format!("node {n} ({peer_addr})"),
                    (None, None) => format!("peer {peer_addr}"),
                };
                self.log(&format!("dropped frame from {who}: {error}"));
            }
            Input::Closed { conn, reason } => self.close(conn, &reason),
        }
    }

    /// Whether `conn` belongs to the live incarnation of member `node`.
    fn is_current(&self, node: NodeId, conn: ConnId) -> bool {
        let incarnation = |c: ConnId| self.conns.get(&c).map(|c| c.incarnation);
        self.members
            .get(&node)
            .is_some_and(|&m| incarnation(m) == incarnation(conn))
    }

    fn conn_name(&self, conn: ConnId) -> String {
        match self.conns.get(&conn) {
            Some(Conn {
                node: Some(n),
                peer_addr,
                ..
            }) => format!("node {n} ({peer_addr})"),
            Some(c) => format!("unidentified peer {}", c.peer_addr),
            None => format!("connection {conn}"),
        }
    }

    /// Closes a connection; if it was a member's, the member leaves.
    fn close(&mut self, conn: ConnId, reason: &str) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let _ = c.stream.shutdown(Shutdown::Both);
        if let Some(node) = c.node {
            if self.members.get(&node) == Some(&conn) {
                self.members.remove(&node);
                self.log(&format!(
                    "node {node} left (incarnation {}): {reason}",
                    c.incarnation
                ));
                self.member_left(node);
            }
        }
    }

    /// A peer's hello: a new member, a duplicate connection, or a restart.
    fn hello(&mut self, conn: ConnId, node: NodeId, incarnation: u32, mut table: Vec<SegmentInfo>) {
        if node == self.me {
            self.log("dropped a connection from a node with my own id");
            self.close(conn, "same id");
            return;
        }
        // A peer's table is an allegation like any frame: a segment no node
        // could have created (size 0 or above MAX_SEGMENT) is not merged.
        let before = table.len();
        table.retain(|info| info.size != 0 && info.size <= MAX_SEGMENT);
        if table.len() != before {
            self.log(&format!(
                "node {node}: dropped {} impossible segment(s) from its table",
                before - table.len()
            ));
        }
        self.unsettled.remove(&node);
        self.conn_nodes.insert(conn, node);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.node = Some(node);
            c.incarnation = incarnation;
            c.dialer.get_or_insert(node);
        }
        if let Some(&old) = self.members.get(&node) {
            let old_inc = self.conns.get(&old).map_or(0, |c| c.incarnation);
            if old == conn {
                // The peer's table as of its join (see below): merge it.
                let live = self.live();
                self.table.merge(node, &table, &live);
                self.check_freeable();
                self.recheck_awaiting();
                return;
            }
            if incarnation == old_inc {
                // Both dialed at once: keep the connection dialed by the
                // lower id, on both ends alike.
                let keep_dialer = self.me.min(node);
                let old_dialer = self.conns.get(&old).and_then(|c| c.dialer);
                // The loser is only half closed: frames already on their
                // way through it are still read (see `is_current`).
                let loser = if old_dialer == Some(keep_dialer) {
                    conn
                } else {
                    self.members.insert(node, conn);
                    old
                };
                if let Some(c) = self.conns.get(&loser) {
                    let _ = c.stream.shutdown(Shutdown::Write);
                }
                return;
            }
            if incarnation < old_inc {
                self.close(conn, "stale incarnation");
                return;
            }
            // A restart: the old member is gone.
            self.close(old, "restarted with a new incarnation");
        }
        self.members.insert(node, conn);
        self.log(&format!("node {node} joined (incarnation {incarnation})"));
        // Our first hello left when the connection opened, maybe long
        // before the peer answered; what changed since (a removal it
        // missed) goes in a second one.
        let hello = Msg::Hello {
            node: self.me,
            incarnation: self.incarnation,
            table: self.table.infos(),
        };
        self.send_conn(conn, &hello);
        let live = self.live();
        self.table.merge(node, &table, &live);
        self.check_freeable();
        self.recheck_awaiting();
    }

    // ---- membership changes ----------------------------------------------

    fn member_left(&mut self, node: NodeId) {
        let orphaned = self.table.drop_node(node);
        // Calls waiting on the node.
        let tokens: Vec<u64> = self.pending.keys().copied().collect();
        let mut orphaned_calls = Vec::new();
        for token in tokens {
            let finished = match self.pending.get_mut(&token) {
                Some(Pending::Create { waiting, .. }) => {
                    // A creation needs the answers of the live nodes only.
                    waiting.remove(&node);
                    self.maybe_created(token);
                    false
                }
                Some(Pending::Fetch { owner, .. })
                | Some(Pending::Remove { owner, .. })
                | Some(Pending::Publish { owner, .. }) => *owner == node,
                None => false,
            };
            if finished {
                orphaned_calls.extend(self.pending.remove(&token));
            }
        }
        let keys: Vec<(RshmId, u64)> = self.forwarded.keys().copied().collect();
        for key in keys {
            if let Some(f) = self.forwarded.get_mut(&key) {
                f.waiting.remove(&node);
            }
            self.maybe_published(key);
        }
        let elections: Vec<RshmId> = self.elections.keys().copied().collect();
        for id in elections {
            if let Some(e) = self.elections.get_mut(&id) {
                e.waiting.remove(&node);
                if e.best.1 == node {
                    e.best = (0, self.me);
                }
            }
            self.maybe_elected(id);
        }
        let live = self.live();
        for id in orphaned {
            // A candidate whose creator died can never be established.
            if let Some(seg) = self.table.get_mut(id) {
                if !seg.established && id.node == node {
                    seg.removed = true;
                }
            }
            self.elect(id, &live);
        }
        // The calls that waited on the node start over with the segment's
        // new owner (EHOSTDOWN when there is none: no live node has a copy).
        for call in orphaned_calls {
            match call {
                Pending::Fetch {
                    kernel: Some((token, need_data)),
                    id,
                    ..
                } => self.attach(token, id.to_guest(), need_data),
                Pending::Remove { kernel, id, .. } => self.remove(kernel, id.to_guest()),
                Pending::Publish {
                    kernel, id, pages, ..
                } => self.publish(kernel, id.to_guest(), pages),
                // A gap repair: the new owner re-sends the whole image.
                Pending::Fetch { kernel: None, .. } | Pending::Create { .. } => {}
            }
        }
        self.retry_deferred(true);
        self.check_freeable();
        self.recheck_awaiting();
    }

    /// Spec: "if the owner stops, the remaining node with a copy and the
    /// lowest id becomes the owner, takes the highest version among the
    /// copies, and sends it to the others".
    fn elect(&mut self, id: RshmId, live: &BTreeSet<NodeId>) {
        let Some(new_owner) = self.table.elect(id, live) else {
            return;
        };
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        seg.owner = new_owner;
        if new_owner != self.me || seg.freed {
            return;
        }
        let version = seg.version;
        let waiting: BTreeSet<NodeId> = seg
            .holders
            .iter()
            .copied()
            .filter(|&h| h != self.me && live.contains(&h))
            .collect();
        self.log(&format!(
            "owner of {id} now (version {version}), asking {} holders for theirs",
            waiting.len()
        ));
        for &h in &waiting {
            self.send(h, &Msg::VersionQuery { id });
        }
        self.elections.insert(
            id,
            Election {
                waiting,
                best: (version, self.me),
            },
        );
        self.maybe_elected(id);
    }

    fn maybe_elected(&mut self, id: RshmId) {
        let Some(e) = self.elections.get(&id) else {
            return;
        };
        if !e.waiting.is_empty() {
            return;
        }
        let (version, from) = e.best;
        if from != self.me {
            // Wait for its image (answered with VersionIs { data }).
            self.send(from, &Msg::ImageQuery { id });
            if let Some(e) = self.elections.get_mut(&id) {
                e.waiting.insert(from);
            }
            return;
        }
        self.elections.remove(&id);
        let Some(seg) = self.table.get(id) else {
            return;
        };
        let pages = seg.image_pages();
        self.log(&format!(
            "re-sending {id} at version {version} to its holders"
        ));
        let holders: Vec<NodeId> = seg
            .holders
            .iter()
            .copied()
            .filter(|&h| h != self.me)
            .collect();
        for h in holders {
            self.send(
                h,
                &Msg::Update {
                    id,
                    version,
                    full: true,
                    echo: None,
                    pages: pages.clone(),
                },
            );
        }
    }

    fn check_freeable(&mut self) {
        for id in self.table.freeable() {
            self.table.free(id);
            let _ = self.events.send(Event::Freed { id: id.to_guest() });
        }
    }

    // ---- the kernel's calls ----------------------------------------------

    fn kernel(&mut self, request: Request) {
        match request {
            Request::Get { token, key, size } => self.get(token, key, size),
            Request::Attach {
                token,
                id,
                need_data,
            } => self.attach(token, id, need_data),
            Request::Refs { id, count } => {
                let Some(seg) = self.table.by_guest(id) else {
                    return;
                };
                let id = seg.id;
                if let Some(seg) = self.table.get_mut(id) {
                    if count == 0 {
                        seg.refs.remove(&self.me);
                    } else {
                        seg.refs.insert(self.me, count);
                    }
                }
                self.multicast(&Msg::Refs {
                    id,
                    node: self.me,
                    count,
                });
                self.check_freeable();
            }
            Request::Remove { token, id } => self.remove(token, id),
            Request::Publish { token, id, pages } => self.publish(token, id, pages),
            Request::Applied { id, version } => {
                if let Some(seg) = self.table.by_guest(id) {
                    let (id, owner) = (seg.id, seg.owner);
                    self.acked(id, version, owner);
                }
            }
            Request::Dump { token } => {
                let text = self.table.dump(self.me);
                self.reply(token, Ok(Answer::Text(text)));
            }
            Request::Drain { token } => self.draining.push(token),
            Request::Suspend(_) => {}
            Request::CrashDuringNextPublish => self.crash_next_publish = true,
            Request::Stop => self.running = false,
        }
    }

    fn get(&mut self, token: u64, key: u64, size: u64) {
        if let Some(seg) = self.table.resolve(key) {
            if !seg.established {
                // Another node's creation round is open: its outcome decides.
                self.awaiting.push((token, key, size));
                return;
            }
            let result = if size <= seg.size {
                Ok(Answer::Id(seg.id.to_guest()))
            } else {
                Err(EINVAL)
            };
            self.reply(token, result);
            return;
        }
        if size == 0 || size > MAX_SEGMENT {
            self.reply(token, Err(EINVAL));
            return;
        }
        if self.table.live_count() >= MAX_SEGMENTS || self.next_seq > MAX_SEQ {
            self.reply(token, Err(ENOSPC));
            return;
        }
        let size = size.div_ceil(PAGE_BYTES as u64) * PAGE_BYTES as u64;
        let id = RshmId {
            node: self.me,
            incarnation: self.incarnation,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let seg = Segment::new(id, key, size);
        let info = seg.info();
        self.table.segments.insert(id, seg);
        let net_token = self.token();
        let waiting: BTreeSet<NodeId> = self.members.keys().copied().collect();
        self.pending.insert(
            net_token,
            Pending::Create {
                kernel: token,
                id,
                size,
                waiting,
                lowest: id,
                established: None,
            },
        );
        self.multicast(&Msg::Create {
            token: net_token,
            info,
        });
        self.maybe_created(net_token);
    }

    fn maybe_created(&mut self, token: u64) {
        let Some(Pending::Create { waiting, .. }) = self.pending.get(&token) else {
            return;
        };
        if waiting.is_empty() {
            self.finish_pending(token, Ok(()));
        }
    }

    fn attach(&mut self, token: u64, guest: u64, need_data: bool) {
        let Some(seg) = self.table.by_guest(guest) else {
            self.reply(token, Err(EINVAL));
            return;
        };
        if seg.removed {
            self.reply(token, Err(EIDRM));
            return;
        }
        if seg.data.is_some() {
            let answer = Answer::Attached {
                size: seg.size,
                version: seg.version,
                data: need_data.then(|| seg.data.clone()).flatten(),
            };
            self.reply(token, Ok(answer));
            return;
        }
        let (id, owner) = (seg.id, seg.owner);
        if !self.members.contains_key(&owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        let net_token = self.token();
        self.pending.insert(
            net_token,
            Pending::Fetch {
                kernel: Some((token, need_data)),
                id,
                owner,
            },
        );
        self.send(
            owner,
            &Msg::Fetch {
                token: net_token,
                id,
            },
        );
    }

    fn remove(&mut self, token: u64, guest: u64) {
        let Some(seg) = self.table.by_guest(guest) else {
            self.reply(token, Err(EINVAL));
            return;
        };
        if seg.removed {
            self.reply(token, Err(EIDRM));
            return;
        }
        let (id, owner) = (seg.id, seg.owner);
        if owner == self.me {
            self.remove_as_owner(id);
            self.reply(token, Ok(Answer::Done));
            return;
        }
        if !self.members.contains_key(&owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        let net_token = self.token();
        self.pending.insert(
            net_token,
            Pending::Remove {
                kernel: token,
                id,
                owner,
            },
        );
        self.send(
            owner,
            &Msg::Remove {
                token: net_token,
                id,
            },
        );
    }

    fn remove_as_owner(&mut self, id: RshmId) {
        if let Some(seg) = self.table.get_mut(id) {
            seg.removed = true;
        }
        self.multicast(&Msg::Removed { id });
        self.check_freeable();
        self.recheck_awaiting();
    }

    /// Answers the rshmget calls whose key now has an established
    /// segment, and asks again for those whose candidates all went away.
    fn recheck_awaiting(&mut self) {
        for (token, key, size) in std::mem::take(&mut self.awaiting) {
            match self.table.resolve(key) {
                Some(seg) if !seg.established => self.awaiting.push((token, key, size)),
                _ => self.get(token, key, size),
            }
        }
    }

    fn publish(&mut self, token: u64, guest: u64, pages: Vec<Page>) {
        let Some(seg) = self.table.by_guest(guest) else {
            self.reply(token, Err(EINVAL));
            return;
        };
        if seg.removed {
            self.reply(token, Err(EIDRM));
            return;
        }
        if !seg.pages_fit(&pages) {
            self.reply(token, Err(EINVAL));
            return;
        }
        let (id, owner) = (seg.id, seg.owner);
        if owner == self.me {
            let error = self.forward(id, self.me, token, pages);
            if error == 0 {
                let _ = self.events.send(Event::Sequenced { token });
            } else {
                self.reply(token, Err(error));
            }
            return;
        }
        if !self.members.contains_key(&owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        let net_token = self.token();
        self.send(
            owner,
            &Msg::Publish {
                token: net_token,
                id,
                pages: pages.clone(),
            },
        );
        self.pending.insert(
            net_token,
            Pending::Publish {
                kernel: token,
                id,
                owner,
                pages,
            },
        );
    }

    /// As owner: the next version of `id` is `pages` from `origin`; apply
    /// it here and forward it to every holder. Returns the errno when
    /// refused.
    fn forward(&mut self, id: RshmId, origin: NodeId, origin_token: u64, pages: Vec<Page>) -> u64 {
        let Some(seg) = self.table.get_mut(id) else {
            return EINVAL;
        };
        if seg.removed {
            return EIDRM;
        }
        let version = seg.version + 1;
        if seg.apply(version, false, &pages) != ApplyOutcome::Applied {
            return EINVAL;
        }
        let holders = seg.holders.clone();
        let live = self.live();
        let mut waiting: BTreeSet<NodeId> = holders
            .iter()
            .copied()
            .filter(|&h| h != self.me && live.contains(&h))
            .collect();
        if origin != self.me {
            waiting.insert(origin);
            // The owner's own kernel applies it too.
            waiting.insert(self.me);
            let _ = self.events.send(Event::Apply {
                id: id.to_guest(),
                version,
                full: false,
                pages: pages.clone(),
            });
        }
        let crash = std::mem::take(&mut self.crash_next_publish);
        let mut sent = 0;
        let me = self.me;
        let targets: Vec<NodeId> = waiting.iter().copied().filter(|&h| h != me).collect();
        for h in targets {
            let msg = Msg::Update {
                id,
                version,
                full: false,
                echo: (h == origin).then_some(origin_token),
                pages: if h == origin {
                    Vec::new()
                } else {
                    pages.clone()
                },
            };
            if crash && sent == 1 {
                // Test hook: half a frame, then die (spec: "a node killed in
                // the middle of a publish").
                if let Some(&conn) = self.members.get(&h) {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        let _ = write_frame(&mut c.stream, &msg, Some(PAGE_BYTES / 2));
                    }
                }
                self.log("crashing in the middle of a publish (test hook)");
                self.running = false;
                for c in self.conns.values() {
                    let _ = c.stream.shutdown(Shutdown::Both);
                }
                return 0;
            }
            self.send(h, &msg);
            sent += 1;
        }
        self.forwarded.insert(
            (id, version),
            Forwarded {
                origin,
                origin_token,
                waiting,
            },
        );
        self.maybe_published((id, version));
        0
    }

    /// `node` applied `version` of `id` (and so every earlier one).
    fn acked(&mut self, id: RshmId, version: u64, owner: NodeId) {
        if owner != self.me {
            self.send(owner, &Msg::Ack { id, version });
            return;
        }
        self.ack_from(self.me, id, version);
    }

    fn ack_from(&mut self, node: NodeId, id: RshmId, version: u64) {
        let keys: Vec<(RshmId, u64)> = self
            .forwarded
            .range((id, 0)..=(id, version))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(f) = self.forwarded.get_mut(&key) {
                f.waiting.remove(&node);
            }
            self.maybe_published(key);
        }
    }

    fn maybe_published(&mut self, key: (RshmId, u64)) {
        let Some(f) = self.forwarded.get(&key) else {
            return;
        };
        if !f.waiting.is_empty() {
            return;
        }
        let (origin, token) = (f.origin, f.origin_token);
        self.forwarded.remove(&key);
        if origin == self.me {
            self.reply(token, Ok(Answer::Version(key.1)));
        } else {
            self.send(
                origin,
                &Msg::Published {
                    token,
                    version: key.1,
                    error: 0,
                },
            );
        }
    }

    /// Ends a pending call: `Ok` means "finished normally".
    fn finish_pending(&mut self, token: u64, outcome: Result<(), u64>) {
        let Some(pending) = self.pending.remove(&token) else {
            return;
        };
        match pending {
            Pending::Create {
                kernel,
                id,
                size,
                lowest,
                established,
                ..
            } => {
                if let Err(e) = outcome {
                    self.reply(kernel, Err(e));
                    return;
                }
                let winner = established.unwrap_or(lowest);
                if winner == id {
                    if let Some(seg) = self.table.get_mut(id) {
                        seg.established = true;
                    }
                    self.multicast(&Msg::Established { id });
                    self.reply(kernel, Ok(Answer::Id(id.to_guest())));
                    self.recheck_awaiting();
                    return;
                }
                // Lost the round: withdraw ours and wait like any caller
                // for the key's established segment.
                self.awaiting
                    .push((kernel, self.table.get(id).map_or(0, |s| s.key), size));
                self.remove_as_owner(id);
            }
            Pending::Fetch { kernel, .. } => {
                if let (Some((k, _)), Err(e)) = (kernel, outcome) {
                    self.reply(k, Err(e));
                }
            }
            Pending::Remove { kernel, .. } | Pending::Publish { kernel, .. } => {
                if let Err(e) = outcome {
                    self.reply(kernel, Err(e));
                }
            }
        }
    }

    // ---- messages from peers ---------------------------------------------

    fn message(&mut self, from: NodeId, msg: Msg) {
        let Some(msg) = self.defer_early(from, msg) else {
            return;
        };
        match msg {
            Msg::Hello { .. } | Msg::Heartbeat => {}
            Msg::Create { token, info } => {
                if info.id.node != from || info.size > MAX_SEGMENT || info.size == 0 {
                    self.log(&format!("dropped frame from node {from}: bad Create"));
                    return;
                }
                self.table.insert_announced(&info);
                let Some(winner) = self.table.resolve(info.key) else {
                    return;
                };
                let reply = Msg::CreateAck {
                    token,
                    winner: winner.info(),
                    established: winner.established,
                };
                self.send(from, &reply);
            }
            Msg::CreateAck {
                token,
                winner,
                established,
            } => {
                self.table.insert_announced(&winner);
                if let Some(Pending::Create {
                    waiting,
                    lowest,
                    established: est,
                    ..
                }) = self.pending.get_mut(&token)
                {
                    waiting.remove(&from);
                    *lowest = (*lowest).min(winner.id);
                    if established {
                        *est = Some(winner.id);
                    }
                }
                self.maybe_created(token);
            }
            Msg::Fetch { token, id } => {
                let (version, data, error) = match self.table.get(id) {
                    Some(seg) if seg.owner == self.me && !seg.removed => match &seg.data {
                        Some(d) => (seg.version, d.clone(), 0),
                        None => (0, Vec::new(), EHOSTDOWN),
                    },
                    Some(seg) if seg.removed => (0, Vec::new(), EIDRM),
                    _ => (0, Vec::new(), EINVAL),
                };
                self.send(
                    from,
                    &Msg::Image {
                        token,
                        id,
                        version,
                        data,
                        error,
                    },
                );
                if error == 0 {
                    if let Some(seg) = self.table.get_mut(id) {
                        seg.holders.insert(from);
                    }
                    self.multicast(&Msg::Holder { id, node: from });
                }
            }
            Msg::Image {
                token,
                id,
                version,
                data,
                error,
            } => self.image(token, id, version, data, error),
            Msg::Holder { id, node } => {
                if let Some(seg) = self.table.get_mut(id) {
                    if !seg.freed {
                        seg.holders.insert(node);
                    }
                }
            }
            Msg::Refs { id, node, count } => {
                if let Some(seg) = self.table.get_mut(id) {
                    if count == 0 {
                        seg.refs.remove(&node);
                    } else {
                        seg.refs.insert(node, count);
                    }
                }
                self.check_freeable();
            }
            Msg::Remove { token, id } => {
                let error = match self.table.get(id) {
                    Some(seg) if seg.removed => EIDRM,
                    Some(seg) if seg.owner == self.me => 0,
                    Some(_) => EHOSTDOWN,
                    None => EINVAL,
                };
                if error == 0 {
                    self.remove_as_owner(id);
                }
                self.send(from, &Msg::RemoveDone { token, error });
            }
            Msg::Removed { id } => {
                if let Some(seg) = self.table.get_mut(id) {
                    seg.removed = true;
                }
                self.check_freeable();
                self.recheck_awaiting();
            }
            Msg::Established { id } => {
                if let Some(seg) = self.table.get_mut(id) {
                    seg.established = true;
                }
                self.recheck_awaiting();
            }
            Msg::RemoveDone { token, error } => {
                if let Some(Pending::Remove { kernel, .. }) = self.pending.remove(&token) {
                    self.reply(
                        kernel,
                        if error == 0 {
                            Ok(Answer::Done)
                        } else {
                            Err(error)
                        },
                    );
                }
            }
            Msg::Publish { token, id, pages } => {
                let error = match self.table.get(id) {
                    Some(seg) if seg.owner != self.me => EHOSTDOWN,
                    Some(seg) if !seg.pages_fit(&pages) => {
                        self.log(&format!(
                            "dropped frame from node {from}: pages out of range"
                        ));
                        EINVAL
                    }
                    _ => self.forward(id, from, token, pages),
                };
                if error != 0 {
                    self.send(
                        from,
                        &Msg::Published {
                            token,
                            version: 0,
                            error,
                        },
                    );
                }
            }
            Msg::Update {
                id,
                version,
                full,
                echo,
                pages,
            } => self.update(from, id, version, full, echo, pages),
            Msg::Ack { id, version } => self.ack_from(from, id, version),
            Msg::Published {
                token,
                version,
                error,
            } => {
                if let Some(Pending::Publish { kernel, .. }) = self.pending.remove(&token) {
                    let result = if error == 0 {
                        Ok(Answer::Version(version))
                    } else {
                        Err(error)
                    };
                    self.reply(kernel, result);
                }
            }
            Msg::VersionQuery { id } => {
                let version = self.table.get(id).map_or(0, |s| s.version);
                self.send(
                    from,
                    &Msg::VersionIs {
                        id,
                        version,
                        data: None,
                    },
                );
            }
            Msg::ImageQuery { id } => {
                let (version, data) = self
                    .table
                    .get(id)
                    .map_or((0, None), |s| (s.version, s.data.clone()));
                self.send(from, &Msg::VersionIs { id, version, data });
            }
            Msg::VersionIs { id, version, data } => self.version_is(from, id, version, data),
        }
    }

    fn image(&mut self, token: u64, id: RshmId, version: u64, data: Vec<u8>, error: u64) {
        let Some(Pending::Fetch { kernel, .. }) = self.pending.remove(&token) else {
            return;
        };
        if error != 0 {
            if let Some((k, _)) = kernel {
                self.reply(k, Err(error));
            }
            return;
        }
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        if data.len() as u64 != seg.size {
            self.log(&format!("dropped image of {id}: wrong size"));
            if let Some((k, _)) = kernel {
                self.reply(k, Err(EHOSTDOWN));
            }
            return;
        }
        let pages = image_to_pages(&data);
        let outcome = seg.apply(version, true, &pages);
        seg.holders.insert(self.me);
        let (size, version_now, owner) = (seg.size, seg.version, seg.owner);
        match kernel {
            Some((k, need_data)) => {
                let data = need_data.then(|| seg.data.clone()).flatten();
                self.reply(
                    k,
                    Ok(Answer::Attached {
                        size,
                        version: version_now,
                        data,
                    }),
                );
            }
            None => {
                // A gap repair: the kernel's copy gets the whole image.
                if outcome == ApplyOutcome::Applied {
                    let _ = self.events.send(Event::Apply {
                        id: id.to_guest(),
                        version,
                        full: true,
                        pages,
                    });
                } else {
                    self.acked(id, version_now, owner);
                }
            }
        }
    }

    fn update(
        &mut self,
        from: NodeId,
        id: RshmId,
        version: u64,
        full: bool,
        echo: Option<u64>,
        pages: Vec<Page>,
    ) {
        let Some(seg) = self.table.get_mut(id) else {
            self.log(&format!("dropped update from node {from}: unknown {id}"));
            return;
        };
        if full && from != seg.owner {
            seg.owner = from;
        }
        let owner = seg.owner;
        if let Some(token) = echo {
            // Our own publish, sequenced: its pages are already in our
            // kernel's frames; bring the server's image up to date.
            let mine = match self.pending.get(&token) {
                Some(Pending::Publish { pages, kernel, .. }) => {
                    let _ = self.events.send(Event::Sequenced { token: *kernel });
                    pages.clone()
                }
                _ => Vec::new(),
            };
            let Some(seg) = self.table.get_mut(id) else {
                return;
            };
            match seg.apply(version, false, &mine) {
                ApplyOutcome::Gap => self.repair(id, owner),
                _ => self.acked(id, version, owner),
            }
            return;
        }
        match seg.apply(version, full, &pages) {
            ApplyOutcome::Applied => {
                let _ = self.events.send(Event::Apply {
                    id: id.to_guest(),
                    version,
                    full,
                    pages,
                });
            }
            ApplyOutcome::Stale => self.acked(id, version, owner),
            ApplyOutcome::Gap => self.repair(id, owner),
            ApplyOutcome::Malformed => {
                self.log(&format!(
                    "dropped update from node {from}: pages do not fit {id}"
                ));
            }
        }
    }

    /// Fetches a whole image after a missing version.
    fn repair(&mut self, id: RshmId, owner: NodeId) {
        let token = self.token();
        self.pending.insert(
            token,
            Pending::Fetch {
                kernel: None,
                id,
                owner,
            },
        );
        self.send(owner, &Msg::Fetch { token, id });
    }

    fn version_is(&mut self, from: NodeId, id: RshmId, version: u64, data: Option<Vec<u8>>) {
        let Some(e) = self.elections.get_mut(&id) else {
            return;
        };
        e.waiting.remove(&from);
        if let Some(data) = data {
            // The image of the best holder: take it as ours.
            let pages = image_to_pages(&data);
            if let Some(seg) = self.table.get_mut(id) {
                if data.len() as u64 == seg.size
                    && seg.apply(version, true, &pages) == ApplyOutcome::Applied
                {
                    let _ = self.events.send(Event::Apply {
                        id: id.to_guest(),
                        version,
                        full: true,
                        pages,
                    });
                }
            }
            if let Some(e) = self.elections.get_mut(&id) {
                e.best = (version, self.me);
            }
        } else if version > e.best.0 {
            e.best = (version, from);
        }
        self.maybe_elected(id);
    }
}

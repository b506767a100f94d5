//! The kernel's side of a node's server: what it may ask (`Request`), what
//! it is told (`Answer`, `Event`), how a node is configured (`NodeConfig`,
//! `Log`) and started (`NodeHandle::start`).
//!
//! Control enters here once, in `NodeHandle::start`: it spawns the
//! listener (peers.rs) and the server thread (`Server::run`, mod.rs).
//! From then on `NodeHandle::send` and `Requester::send` only queue an
//! `Input::Kernel`, and `try_event` / `wait_event` / `recv_event` only take
//! what the thread queued: nothing here touches the server's state.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Input, Server};
use crate::abi::Errno;
use crate::rshm::auth::ClusterKey;
use crate::rshm::peers::Net;
use crate::rshm::wire::{check_node_id, NodeId, Run};

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
    /// rshm_changed: the bytes written since the last publish (diff.rs).
    Publish { token: u64, id: u64, runs: Vec<Run> },
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
        result: Result<Answer, Errno>,
    },
    /// Apply these runs to the local copy between two guest instructions
    /// (diff.rs `merge`: bytes written here and not yet sequenced stay),
    /// then send `Request::Applied`. `full`: the runs rebuild the whole
    /// segment from zeros. Updates come in version order, this node's own
    /// publishes among them.
    Apply {
        id: u64,
        version: u64,
        full: bool,
        runs: Vec<Run>,
    },
    /// The segment was removed and is attached nowhere: drop the local copy.
    Freed { id: u64 },
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
    pub(super) fn write(&self, line: String) {
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

/// How long a kernel call may wait for the network by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// A call of the kernel is answered (ETIMEDOUT at the latest) within
    /// this long.
    pub call_timeout: Duration,
    /// Seals every frame (`--cluster-key`; `ClusterKey::open()` without).
    pub key: ClusterKey,
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
            call_timeout: DEFAULT_CALL_TIMEOUT,
            key: ClusterKey::open(),
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
    /// The server answers every call within this long.
    pub call_timeout: Duration,
    inbox: Sender<Input>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    next_token: AtomicU64,
}

impl NodeHandle {
    /// Starts the server thread.
    ///
    /// # Errors
    /// When the node id is outside the supported range, the listener's
    /// address cannot be read or a thread cannot be spawned.
    pub fn start(config: NodeConfig) -> std::io::Result<NodeHandle> {
        check_node_id(config.id)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let addr = config.listener.local_addr()?;
        let (inbox, inputs) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let incarnation = config.incarnation.unwrap_or_else(|| clock_incarnation(0));
        let net = Net::new(inbox.clone(), config.key.clone());
        let id = config.id;
        let call_timeout = config.call_timeout;
        let listener = config.listener.try_clone()?;
        net.spawn_listener(listener)?;
        let mut server = Server::new(config, incarnation, net, events_tx);
        let thread = thread::Builder::new()
            .name(format!("rshm-node-{id}"))
            .spawn(move || server.run(inputs))?;
        Ok(NodeHandle {
            id,
            incarnation,
            addr,
            call_timeout,
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

/// An incarnation from the clock, in hundredths of a second, and above
/// `after` (spec: "a restarted node is a new member with a new
/// incarnation"). A restart takes far longer than 10 ms, so a restarted
/// node never reuses one; a node that rejoins after a pause takes the next
/// one at least (membership.rs `rejoin`). The counter wraps after 497
/// days. It only has to grow across restarts of one node id
/// (membership.rs `on_hello` keeps the higher incarnation).
pub(super) fn clock_incarnation(after: u32) -> u32 {
    let centis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() / 10);
    ((centis % (1 << 32)) as u32)
        .max(1)
        .max(after.saturating_add(1))
}

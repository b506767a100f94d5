//! A stand-in for a node's kernel, for tests and benchmarks that drive the
//! server API directly: `MemNode` keeps each segment's local copy and its
//! twin in host memory, publishes diffs like the kernel (diff.rs), merges
//! `Event::Apply` at once (under a lock, so a reader never sees half an
//! update) and acknowledges, and turns calls into blocking functions with
//! a timeout.
//!
//! ```text
//! test thread ── MemNode::get/attach/publish ──► Requester ──► server
//! pump thread ◄── Event ── server: Apply → copies + Applied; Reply → replies
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::auth::ClusterKey;
use super::diff;
use super::server::{Answer, Event, Log, NodeConfig, NodeHandle, Request, Requester};
use super::wire::{NodeId, Run, PAGE_BYTES};
use crate::abi::{Errno, EHOSTDOWN, EINVAL, EIO, ETIMEDOUT};

/// One local copy: version and bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copy {
    pub version: u64,
    pub bytes: Vec<u8>,
    /// The bytes as of the last sequenced update (diff.rs).
    pub twin: Vec<u8>,
    /// Pages written locally since the last publish.
    pub dirty: BTreeSet<u32>,
}

impl Copy {
    fn new(version: u64, bytes: Vec<u8>) -> Copy {
        Copy {
            version,
            twin: bytes.clone(),
            bytes,
            dirty: BTreeSet::new(),
        }
    }

    /// Merges an update (diff.rs `merge`).
    fn merge(&mut self, full: bool, runs: &[Run]) {
        if full {
            let mut image = vec![0u8; self.bytes.len()];
            diff::apply_runs(&mut image, runs);
            diff::merge(&mut self.bytes, &mut self.twin, &image);
            return;
        }
        for r in runs {
            let (at, len) = (r.offset as usize, r.bytes.len());
            if at + len <= self.bytes.len() {
                diff::merge(
                    &mut self.bytes[at..at + len],
                    &mut self.twin[at..at + len],
                    &r.bytes,
                );
            }
        }
    }
}

type Copies = Arc<Mutex<BTreeMap<u64, Copy>>>;

/// How long a call waits for its answer before it counts as lost (the
/// server answers ETIMEDOUT within `SERVER_CALL_TIMEOUT`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The servers' own call timeout here.
pub const SERVER_CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// A node whose "kernel" is host memory.
pub struct MemNode {
    pub id: NodeId,
    pub addr: SocketAddr,
    requests: Requester,
    replies: Receiver<(u64, Result<Answer, Errno>)>,
    copies: Copies,
    next_token: u64,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
    /// The server's log lines.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The runs the last `publish` sent (tests measure them).
    pub last_runs: Vec<Run>,
}

/// `n` ports free on 127.0.0.1, for nodes (or `sim node` processes) to
/// bind: below the ephemeral range, so that no connection takes one in
/// the meantime (`cluster::loopback_ports` says why).
///
/// # Errors
/// When the OS refuses a socket, or no port is free.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    super::cluster::loopback_ports(n)
}

/// Binds `n` listeners on 127.0.0.1 with OS-assigned ports.
///
/// # Errors
/// When the OS refuses a socket.
pub fn bind_loopback(n: usize) -> std::io::Result<Vec<TcpListener>> {
    (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect()
}

impl MemNode {
    /// Starts node `id` on `listener`, knowing `peers`.
    ///
    /// # Errors
    /// When the server cannot start.
    pub fn start(
        id: NodeId,
        listener: TcpListener,
        peers: Vec<(NodeId, SocketAddr)>,
        incarnation: Option<u32>,
    ) -> std::io::Result<MemNode> {
        MemNode::start_with_key(id, listener, peers, incarnation, ClusterKey::open())
    }

    /// Starts node `id` like `start`, sealing its frames with `key`.
    ///
    /// # Errors
    /// When the server cannot start.
    pub fn start_with_key(
        id: NodeId,
        listener: TcpListener,
        peers: Vec<(NodeId, SocketAddr)>,
        incarnation: Option<u32>,
        key: ClusterKey,
    ) -> std::io::Result<MemNode> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut config = NodeConfig::new(id, listener, peers);
        config.incarnation = incarnation;
        config.timeout = Duration::from_millis(2000);
        config.call_timeout = SERVER_CALL_TIMEOUT;
        config.key = key;
        config.log = Log {
            lines: Some(log.clone()),
            stderr: std::env::var_os("RSHM_LOG").is_some(),
        };
        let handle = NodeHandle::start(config)?;
        let addr = handle.addr;
        let requests = handle.requester();
        let copies: Copies = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (reply_tx, replies) = mpsc::channel();
        let pump = {
            let copies = copies.clone();
            let stop = stop.clone();
            let requests = requests.clone();
            thread::spawn(move || {
                let mut handle = handle;
                while !stop.load(Ordering::Relaxed) {
                    let Some(event) = handle.wait_event(Duration::from_millis(20)) else {
                        continue;
                    };
                    match event {
                        Event::Reply { token, result } => {
                            let _ = reply_tx.send((token, result));
                        }
                        Event::Apply {
                            id,
                            version,
                            full,
                            runs,
                        } => {
                            if let Ok(mut copies) = copies.lock() {
                                if let Some(copy) = copies.get_mut(&id) {
                                    copy.merge(full, &runs);
                                    copy.version = copy.version.max(version);
                                    if full {
                                        copy.version = version;
                                    }
                                }
                            }
                            requests.send(Request::Applied { id, version });
                        }
                        Event::Freed { id } => {
                            if let Ok(mut copies) = copies.lock() {
                                copies.remove(&id);
                            }
                        }
                    }
                }
                handle.stop();
            })
        };
        Ok(MemNode {
            id,
            addr,
            requests,
            replies,
            copies,
            next_token: 1 << 40,
            stop,
            pump: Some(pump),
            log,
            last_runs: Vec::new(),
        })
    }

    /// Sends a request and waits for its answer.
    ///
    /// # Errors
    /// The errno, or ETIMEDOUT when no answer came within `CALL_TIMEOUT`.
    pub fn call(&mut self, make: impl FnOnce(u64) -> Request) -> Result<Answer, Errno> {
        self.next_token += 1;
        let token = self.next_token;
        if !self.requests.send(make(token)) {
            return Err(EHOSTDOWN);
        }
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok((t, result)) if t == token => return result,
                Ok(_) => {}
                Err(_) => return Err(ETIMEDOUT),
            }
        }
    }

    /// rshmget.
    ///
    /// # Errors
    /// The errno.
    pub fn get(&mut self, key: u64, size: u64) -> Result<u64, Errno> {
        match self.call(|token| Request::Get { token, key, size })? {
            Answer::Id(id) => Ok(id),
            _ => Err(EIO),
        }
    }

    /// rshmat: fetches the image and counts one more attachment here.
    ///
    /// # Errors
    /// The errno.
    pub fn attach(&mut self, id: u64) -> Result<(), Errno> {
        let need_data = !self.copies.lock().is_ok_and(|c| c.contains_key(&id));
        if let Answer::Attached { version, data, .. } = self.call(|token| Request::Attach {
            token,
            id,
            need_data,
        })? {
            if let (Some(bytes), Ok(mut copies)) = (data, self.copies.lock()) {
                copies.insert(id, Copy::new(version, bytes));
            }
        }
        self.requests.send(Request::Refs { id, count: 1 });
        Ok(())
    }

    /// rshmdt of the last attachment here.
    pub fn detach(&mut self, id: u64) {
        self.requests.send(Request::Refs { id, count: 0 });
    }

    /// rshmctl(IPC_RMID).
    ///
    /// # Errors
    /// The errno.
    pub fn remove(&mut self, id: u64) -> Result<(), Errno> {
        self.call(|token| Request::Remove { token, id }).map(|_| ())
    }

    /// Writes `bytes` at `offset` of the local copy (a local store: no network).
    pub fn write(&self, id: u64, offset: usize, bytes: &[u8]) {
        if let Ok(mut copies) = self.copies.lock() {
            if let Some(c) = copies.get_mut(&id) {
                c.bytes[offset..offset + bytes.len()].copy_from_slice(bytes);
                let first = offset / PAGE_BYTES;
                let last = (offset + bytes.len().max(1) - 1) / PAGE_BYTES;
                c.dirty.extend((first..=last).map(|p| p as u32));
            }
        }
    }

    /// rshm_changed: publishes the bytes written since the last publish
    /// (the dirty pages, diffed against the twin).
    ///
    /// # Errors
    /// The errno.
    pub fn publish(&mut self, id: u64) -> Result<u64, Errno> {
        let (runs, pages) = match self.copies.lock() {
            Ok(mut copies) => match copies.get_mut(&id) {
                Some(c) => {
                    let pages = std::mem::take(&mut c.dirty);
                    let runs: Vec<Run> = pages
                        .iter()
                        .flat_map(|&p| {
                            let at = p as usize * PAGE_BYTES;
                            diff::diff_page(
                                p,
                                &c.twin[at..at + PAGE_BYTES],
                                &c.bytes[at..at + PAGE_BYTES],
                            )
                        })
                        .collect();
                    (runs, pages)
                }
                None => return Err(EINVAL),
            },
            Err(_) => return Err(EIO),
        };
        self.last_runs = runs.clone();
        let sent = runs.clone();
        let answer = self.call(|token| Request::Publish { token, id, runs });
        if answer.is_err() {
            // Not acknowledged: the bytes go out again next time (the twin
            // takes their complement, so they differ from the copy).
            self.with_copy_mut(id, |c| {
                for r in &sent {
                    let at = r.offset as usize;
                    for k in at..at + r.bytes.len() {
                        c.twin[k] = !c.bytes[k];
                    }
                }
                c.dirty.extend(pages);
            });
        }
        match answer? {
            Answer::Version(v) => {
                self.with_copy_mut(id, |c| c.version = c.version.max(v));
                Ok(v)
            }
            _ => Err(EIO),
        }
    }

    /// The local copy of `id`.
    pub fn copy(&self, id: u64) -> Option<Copy> {
        self.copies.lock().ok()?.get(&id).cloned()
    }

    /// Runs `f` on the local copy under the lock updates take.
    pub fn with_copy<T>(&self, id: u64, f: impl FnOnce(&Copy) -> T) -> Option<T> {
        self.copies.lock().ok()?.get(&id).map(f)
    }

    fn with_copy_mut<T>(&self, id: u64, f: impl FnOnce(&mut Copy) -> T) -> Option<T> {
        self.copies.lock().ok()?.get_mut(&id).map(f)
    }

    /// The server's state table as text.
    pub fn dump(&mut self) -> String {
        match self.call(|token| Request::Dump { token }) {
            Ok(Answer::Text(t)) => t,
            other => format!("{other:?}"),
        }
    }

    /// Sends a test hook or other request without waiting.
    pub fn send(&self, request: Request) {
        self.requests.send(request);
    }

    /// Whether a log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log
            .lock()
            .is_ok_and(|l| l.iter().any(|line| line.contains(needle)))
    }

    /// Stops the node: the server closes its connections (peers see it leave).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

impl Drop for MemNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `n` nodes with ids 1..=n on loopback, all knowing each other, and
/// waits until every node sees every other (or `timeout`).
///
/// # Errors
/// When a socket cannot be bound or the mesh does not form in time.
pub fn mem_cluster(n: usize, timeout: Duration) -> std::io::Result<Vec<MemNode>> {
    let listeners = bind_loopback(n)?;
    let addrs: Vec<(NodeId, SocketAddr)> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| Ok(((i + 1) as NodeId, l.local_addr()?)))
        .collect::<std::io::Result<_>>()?;
    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        nodes.push(MemNode::start((i + 1) as NodeId, l, addrs.clone(), None)?);
    }
    wait_mesh(&nodes, n, timeout)?;
    Ok(nodes)
}

/// Waits until every node in `nodes` logged `want - 1` joins.
///
/// # Errors
/// TimedOut.
pub fn wait_mesh(nodes: &[MemNode], want: usize, timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let formed = nodes.iter().all(|n| {
            n.log.lock().is_ok_and(|l| {
                let joined = l.iter().filter(|x| x.contains("joined")).count();
                let left = l.iter().filter(|x| x.contains(" left ")).count();
                joined.saturating_sub(left) + 1 >= want
            })
        });
        if formed {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "mesh did not form",
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    cond()
}

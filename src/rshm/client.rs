//! The kernel's side of a node (docs/spec/rshm.md: "the kernel and the server
//! talk through message queues"): `RshmClient` holds the queues to the
//! server and what the kernel remembers between a request and its reply.
//! The calls and the event handling that use it are in the kernel's
//! syscall layer (kernel/syscall/rshm.rs).
//!
//! ```text
//! SharedMemory.rshm: Option<RshmClient>  (kernel/shared.rs)
//!   node       NodeHandle: requests in, events out (server/)
//!   waiting    token → the blocked process, what it asked, its deadline
//!   in_flight  token → the runs of a publish not yet answered
//!   twins      segment → its bytes as of the last sequenced update here
//!              (diff.rs: a publish sends where the copy differs)
//!   told_refs  segment → attached processes as last told to the server
//! ```
//!
//! The server answers every call within its call timeout (ETIMEDOUT at
//! the latest); `BACKSTOP` more and the kernel answers ETIMEDOUT itself,
//! so that no process waits forever even if the server thread is gone
//! wrong.
//!
//! A segment's local copy is a named shared-memory object of this kernel
//! (docs/spec/shm.md) called `rshm:<id in hex>`: processes of one node map the
//! same frames, and `--dump-shm` shows it like any other object.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::server::NodeHandle;
use super::wire::{NodeId, Run};
use crate::ids::Pid;

/// What a process blocked on the server asked for.
#[derive(Clone, Debug)]
pub(crate) enum Call {
    Get,
    /// Map the segment at `addr` (0: the kernel picks) once the node holds it.
    Attach {
        id: u64,
        addr: u64,
    },
    Remove,
    /// The page indices this publish carries (dirty again on an error).
    Publish {
        id: u64,
        pages: Vec<u32>,
    },
}

/// A process blocked on the server.
#[derive(Clone, Debug)]
pub(crate) struct Waiter {
    pub pid: Pid,
    pub call: Call,
    /// The syscall's number and arguments, for `--trace-syscalls`.
    pub number: u64,
    pub args: [u64; 2],
    /// Answered ETIMEDOUT by the kernel itself after this.
    pub deadline: Instant,
}

/// How long after the server's own call timeout the kernel gives up on an
/// answer.
pub const BACKSTOP: Duration = Duration::from_secs(5);

/// The kernel's queues to its node's rshm server and its pending calls.
pub struct RshmClient {
    pub node: NodeHandle,
    pub(crate) waiting: BTreeMap<u64, Waiter>,
    /// Publishes sent and not yet answered: (segment, runs).
    pub(crate) in_flight: BTreeMap<u64, (u64, Vec<Run>)>,
    /// Each local copy's twin (diff.rs).
    pub(crate) twins: BTreeMap<u64, Vec<u8>>,
    pub(crate) told_refs: BTreeMap<u64, u32>,
    /// How long a call may wait for its answer in all.
    pub(crate) call_limit: Duration,
    /// When the guests' buffered stdout was last written out (see
    /// `Kernel::poll_rshm`).
    pub(crate) last_flush: Instant,
}

impl RshmClient {
    /// Wraps a started server (`NodeHandle::start`).
    pub fn new(node: NodeHandle) -> RshmClient {
        let call_limit = node.call_timeout + BACKSTOP;
        RshmClient {
            node,
            waiting: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            twins: BTreeMap::new(),
            told_refs: BTreeMap::new(),
            call_limit,
            last_flush: Instant::now(),
        }
    }

    /// This node's id (`node_id()`).
    pub fn id(&self) -> NodeId {
        self.node.id
    }

    /// The tokens of calls past their deadline.
    pub(crate) fn overdue(&self, now: Instant) -> Vec<u64> {
        self.waiting
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(&t, _)| t)
            .collect()
    }
}

/// The name of the local shm object that holds segment `id`'s copy.
pub fn local_name(id: u64) -> Vec<u8> {
    format!("rshm:{id:x}").into_bytes()
}

/// The segment id a local object's name stands for.
pub fn id_of_name(name: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(name.strip_prefix(b"rshm:")?).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

//! The rshm server of one node: a thread that owns the node's state table
//! and its connections (docs/spec/rshm.md: "the server is a thread of the node;
//! the kernel and the server talk through message queues").
//!
//! How control enters and leaves:
//!
//! ```text
//! NodeHandle::start (handle.rs): spawns the listener and Server::run
//! kernel ───Input::Kernel(Request)──► ┐                ┌──► Event ──► kernel
//! peers.rs ─Input::Net(NetInput)────► ├ inbox ─► step ─┤
//! run: after each input or heartbeat/2 ─► tick         └──► frames ─► peers
//! run: a gap longer than the pause limit ─► rejoin (membership.rs)
//! ```
//!
//! `run` takes one `Input` at a time and handles it to the end before the
//! next, so the table is never seen half-changed. `step` hands a
//! kernel's `Request` to `kernel` and the network threads' inputs to
//! membership.rs, which passes a member's frames to `message`; `kernel`
//! and `message` below are the table of who handles what. Everything
//! leaves through `event` / `reply` (to the kernel) and `send` /
//! `multicast` (to peers, membership.rs).
//!
//! A call that needs other nodes becomes a `Pending` entry keyed by a
//! token and is answered (`Event::Reply`) when the last answer arrives;
//! one that needs an owner nobody has settled yet is *parked* and tried
//! again when an owner settles. Every call has a deadline
//! (`NodeConfig::call_timeout`): then it is answered `ETIMEDOUT`. When
//! the owner it waits for leaves, the call starts over with the segment's
//! new owner (`member_left`).
//!
//! | file          | concern                                   | its state     |
//! |---------------|-------------------------------------------|---------------|
//! | handle.rs     | the kernel's API and the thread's start   | —             |
//! | membership.rs | connections, greetings, hellos, joins and | `Membership`  |
//! |               | leaves, heartbeats, dials, rejoining after|               |
//! |               | a pause, limits; every frame in and out   |               |
//! | calls.rs      | rshmget (creation rounds), attach counts, | `Calls`       |
//! |               | rshmctl(IPC_RMID), freeing; every call in |               |
//! |               | flight, parked calls, deadlines           |               |
//! | transfer.rs   | rshmat and gap repair: whole images       | —             |
//! | publish.rs    | rshm_changed: sequencing, forwarding,     | `Publishing`  |
//! |               | acknowledgements                          |               |
//! | election.rs   | a new owner after the owner left: claims  | `Elections`   |
//! |               | in epochs; calls that reach it early      |               |
//!
//! Each concern's state is a struct of its file, with fields private to
//! that file: only that file reaches into them, the others call its
//! methods. The handlers stay `Server` methods
//! because most of them touch several concerns: a publish reads the table
//! and membership, sends frames and records a call. Two things are shared
//! on purpose rather than split: the `Table` (every concern reads and
//! changes segments; its rules are table.rs's), and `Calls`, one token
//! space for every call in flight, because a fetch, a remove and a
//! publish all start over the same way when their owner leaves
//! (`calls_without`, `restart`). transfer.rs has no struct: a fetch in
//! flight is a `Pending::Fetch`, the holders are the table's.

mod calls;
mod election;
mod handle;
mod membership;
mod publish;
mod transfer;

pub use calls::{MAX_SEGMENTS, MAX_TABLE_ROWS};
pub use handle::{Answer, Event, Log, NodeConfig, NodeHandle, Request, Requester};

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use super::peers::{Net, NetInput};
use super::table::{Segment, Table};
use super::wire::{Msg, NodeId, RshmId, Run};
use crate::abi::{Errno, EIDRM, EINVAL};
use calls::Calls;
use election::Elections;
use membership::Membership;
use publish::Publishing;

/// Everything that reaches the server thread.
#[derive(Debug)]
pub enum Input {
    /// From the node's kernel (handle.rs).
    Kernel(Request),
    /// From the network threads (peers.rs).
    Net(NetInput),
}

impl From<NetInput> for Input {
    fn from(input: NetInput) -> Input {
        Input::Net(input)
    }
}

/// Log lines about one peer per second at most; the rest are counted and
/// the count is logged with the next line that gets through.
const PEER_LINES_PER_SECOND: u32 = 20;

/// Keeps a flood of bad frames from flooding the log.
#[derive(Default)]
struct LogLimiter {
    /// Peer → (the second it is counting, lines in it, lines suppressed).
    peers: HashMap<String, (Instant, u32, u64)>,
}

impl LogLimiter {
    /// Whether a line about `peer` may be written now, and how many were
    /// suppressed before it.
    fn allow(&mut self, peer: &str) -> Option<u64> {
        let now = Instant::now();
        if self.peers.len() > 1024 {
            self.peers
                .retain(|_, (since, _, _)| now.duration_since(*since) < Duration::from_secs(1));
        }
        let entry = self.peers.entry(peer.to_string()).or_insert((now, 0, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            entry.0 = now;
            entry.1 = 0;
        }
        if entry.1 >= PEER_LINES_PER_SECOND {
            entry.2 += 1;
            return None;
        }
        entry.1 += 1;
        Some(std::mem::take(&mut entry.2))
    }
}

/// One node's server: its identity, its table, one struct per concern.
struct Server {
    me: NodeId,
    incarnation: u32,
    table: Table,
    membership: Membership,
    calls: Calls,
    publishing: Publishing,
    elections: Elections,
    events: Sender<Event>,
    log: Log,
    limiter: LogLimiter,
    call_timeout: Duration,
    /// When the loop last came round (`check_paused`).
    last_alive: Instant,
    running: bool,
}

impl Server {
    fn new(config: NodeConfig, incarnation: u32, net: Net<Input>, events: Sender<Event>) -> Server {
        Server {
            me: config.id,
            incarnation,
            table: Table::new(),
            membership: Membership::new(
                config.id,
                &config.peers,
                config.heartbeat,
                config.timeout,
                config.startup,
                net,
            ),
            calls: Calls::new(),
            publishing: Publishing::default(),
            elections: Elections::default(),
            events,
            log: config.log,
            limiter: LogLimiter::default(),
            call_timeout: config.call_timeout,
            last_alive: Instant::now(),
            running: true,
        }
    }

    fn log(&self, text: &str) {
        self.log.write(format!("sim: node {}: {text}", self.me));
    }

    /// A line about what peer `peer` sent: at most
    /// `PEER_LINES_PER_SECOND` a second per peer.
    fn log_peer(&mut self, peer: &str, text: &str) {
        if let Some(suppressed) = self.limiter.allow(peer) {
            if suppressed > 0 {
                self.log(&format!(
                    "{text} ({suppressed} earlier lines about {peer} suppressed)"
                ));
            } else {
                self.log(text);
            }
        }
    }

    fn run(&mut self, inputs: Receiver<Input>) {
        self.log(&format!(
            "started (incarnation {}), {} peers configured",
            self.incarnation,
            self.membership.configured_count()
        ));
        self.membership.dial_missing(self.me);
        while self.running {
            let input = inputs.recv_timeout(self.membership.heartbeat() / 2);
            self.check_paused();
            match input {
                Ok(Input::Kernel(Request::Suspend(d))) => {
                    thread::sleep(d);
                    self.check_paused();
                }
                Ok(input) => self.step(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick();
            self.check_drained();
            // `last_alive` is not reset here: a stop in the middle of a
            // step or a tick must still count at the next `check_paused`.
        }
        self.membership.stop();
    }

    /// A gap this long since the loop last came round means this thread
    /// was stopped (SIGSTOP, a test's Suspend, a stalled write): the peers
    /// may have dropped this node, so it comes back as a new member before
    /// it handles anything that arrived meanwhile or judges anyone silent
    /// (their frames waited in the inbox).
    fn check_paused(&mut self) {
        let gap = self.last_alive.elapsed();
        if gap > self.membership.pause_limit() {
            self.rejoin(&format!("this node was paused for {} ms", gap.as_millis()));
        }
        self.last_alive = Instant::now();
    }

    /// Whether this thread was stopped since the loop last came round: a
    /// step or tick now running may be handling what a pause left behind
    /// (failed writes to peers that dropped this node).
    fn paused_now(&self) -> bool {
        self.last_alive.elapsed() > self.membership.pause_limit()
    }

    // ---- what leaves for the kernel --------------------------------------

    fn event(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn reply(&self, token: u64, result: Result<Answer, Errno>) {
        self.event(Event::Reply { token, result });
    }

    /// A deadline for a call that starts now.
    fn deadline(&self) -> Instant {
        Instant::now() + self.call_timeout
    }

    /// The live segment that a kernel call names by its guest id; None
    /// once the call is answered EINVAL (no such segment) or EIDRM
    /// (removed).
    fn segment_for(&self, token: u64, guest: u64) -> Option<&Segment> {
        let Some(seg) = self.table.by_guest(guest) else {
            let removed = RshmId::from_guest(guest).is_some_and(|id| self.table.is_collected(id));
            self.reply(token, Err(if removed { EIDRM } else { EINVAL }));
            return None;
        };
        if seg.removed() {
            self.reply(token, Err(EIDRM));
            return None;
        }
        Some(seg)
    }

    /// Tells the kernel to apply `runs` of `id` at `version`.
    fn apply_event(&self, id: RshmId, version: u64, full: bool, runs: Vec<Run>) {
        self.event(Event::Apply {
            id: id.to_guest(),
            version,
            full,
            runs,
        });
    }

    // ---- what enters -----------------------------------------------------

    fn step(&mut self, input: Input) {
        match input {
            Input::Kernel(request) => {
                if self.membership.settled() || matches!(request, Request::Stop) {
                    self.kernel(request);
                } else {
                    self.calls.hold(request);
                }
            }
            // membership.rs
            Input::Net(NetInput::NewConn {
                conn,
                stream,
                dialed,
                peer_addr,
            }) => self.opened(conn, stream, dialed, peer_addr),
            Input::Net(NetInput::Greeted { conn, sealer }) => self.greeted(conn, sealer),
            Input::Net(NetInput::DialFailed { node, .. }) => self.dial_failed(node),
            Input::Net(NetInput::Frame {
                conn,
                incarnation,
                msg,
            }) => self.frame(conn, incarnation, msg),
            Input::Net(NetInput::BadFrame {
                conn,
                peer_addr,
                error,
            }) => self.bad_frame(conn, &peer_addr, &error),
            Input::Net(NetInput::Closed { conn, reason }) => self.close(conn, &reason),
            Input::Net(NetInput::Refused { peer_addr, reason }) => {
                self.log_peer(&peer_addr, &format!("refused peer {peer_addr}: {reason}"));
            }
        }
    }

    /// A request of this node's kernel.
    fn kernel(&mut self, request: Request) {
        let deadline = self.deadline();
        match request {
            // calls.rs
            Request::Get { token, key, size } => self.get(token, key, size, deadline),
            Request::Refs { id, count } => self.refs(id, count),
            Request::Remove { token, id } => self.remove(token, id, deadline),
            Request::Drain { token } => self.calls.drain(token),
            // transfer.rs
            Request::Attach {
                token,
                id,
                need_data,
            } => self.attach(token, id, need_data, deadline),
            // publish.rs
            Request::Publish { token, id, runs } => self.publish(token, id, runs, deadline),
            Request::Applied { id, version } => self.applied(id, version),
            Request::CrashDuringNextPublish => self.publishing.crash_next_publish(),
            // here
            Request::Dump { token } => {
                let text = self.table.dump(self.me);
                self.reply(token, Ok(Answer::Text(text)));
            }
            Request::Suspend(_) => {}
            Request::Stop => self.running = false,
        }
    }

    /// A frame of member `from`.
    fn message(&mut self, from: NodeId, msg: Msg) {
        let Some(msg) = self.defer_early(from, msg) else {
            return;
        };
        match msg {
            // membership.rs reads these before they get here.
            Msg::Greeting { .. } | Msg::Hello { .. } | Msg::Heartbeat | Msg::Rejoin { .. } => {}
            // calls.rs
            Msg::Create { token, info } => self.on_create(from, token, info),
            Msg::CreateAck {
                token,
                winner,
                established,
            } => self.on_create_ack(from, token, winner, established),
            Msg::Established { id } => self.on_established(id),
            Msg::Refs { id, node, count } => self.on_refs(from, id, node, count),
            Msg::Remove { token, id } => self.on_remove(from, token, id),
            Msg::RemoveDone { token, error } => self.on_remove_done(token, error),
            Msg::Removed { id } => self.on_removed(from, id),
            // transfer.rs
            Msg::Fetch { token, id } => self.on_fetch(from, token, id),
            Msg::Image {
                token,
                id,
                epoch,
                version,
                runs,
                error,
            } => self.on_image(from, token, id, epoch, version, runs, error),
            Msg::Holder { id, node } => self.on_holder(from, id, node),
            // publish.rs
            Msg::Publish {
                token,
                id,
                epoch,
                runs,
            } => self.on_publish(from, token, id, epoch, runs),
            Msg::Update {
                id,
                epoch,
                version,
                full,
                echo: _,
                runs,
            } => self.on_update(from, id, epoch, version, full, runs),
            Msg::Ack { id, version, .. } => self.ack_from(from, id, version),
            Msg::Published {
                token,
                version,
                error,
            } => self.on_published(token, version, error),
            // election.rs
            Msg::Takeover { id, epoch } => self.on_takeover(from, id, epoch),
            Msg::TakeoverAck {
                id,
                epoch,
                accepted,
                owner,
                version,
                holder,
            } => self.on_takeover_ack(from, id, epoch, accepted, owner, version, holder),
            Msg::Owner { id, epoch } => self.on_owner(from, id, epoch),
            Msg::ImageQuery { id, epoch } => self.on_image_query(from, id, epoch),
            Msg::ImageIs {
                id,
                epoch,
                version,
                runs,
            } => self.on_image_is(from, id, epoch, version, runs),
        }
    }
}

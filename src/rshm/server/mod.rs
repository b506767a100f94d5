//! The rshm server of one node: a thread that owns the node's state table
//! and its connections (spec/rshm.md: "the server is a thread of the node;
//! the kernel and the server talk through message queues").
//!
//! How control enters and leaves:
//!
//! ```text
//! NodeHandle::start (handle.rs): spawns the listener and Server::run
//! kernel ───Input::Kernel(Request)──► ┐                ┌──► Event ──► kernel
//! peers.rs ─Input::Net(NetInput)────► ├ inbox ─► step ─┤
//! run: after each input or heartbeat/2 ─► tick         └──► frames ─► peers
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
//! token and is answered (`Event::Reply`) when the last answer arrives.
//! When the owner it waits for leaves, the call starts over with the
//! segment's new owner (`member_left`); EHOSTDOWN only when no live node
//! can decide.
//!
//! | file          | concern                                   | its state     |
//! |---------------|-------------------------------------------|---------------|
//! | handle.rs     | the kernel's API and the thread's start   | —             |
//! | membership.rs | connections, hellos, joins and leaves,    | `Membership`  |
//! |               | heartbeats, dials; every frame in and out |               |
//! | calls.rs      | rshmget (creation rounds), attach counts, | `Calls`       |
//! |               | rshmctl(IPC_RMID), freeing; every call in |               |
//! |               | flight                                    |               |
//! | transfer.rs   | rshmat and gap repair: whole images       | —             |
//! | publish.rs    | rshm_changed: sequencing, forwarding,     | `Publishing`  |
//! |               | acknowledgements                          |               |
//! | election.rs   | a new owner after the owner left; calls   | `Elections`   |
//! |               | that reach it before it knows             |               |
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

pub use calls::MAX_SEGMENTS;
pub use handle::{Answer, Event, Log, NodeConfig, NodeHandle, Request, Requester};

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;

use super::peers::{Net, NetInput};
use super::table::{Segment, Table};
use super::wire::{Msg, NodeId, Page, RshmId};
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
            self.membership.configured_count()
        ));
        self.membership.dial_missing(self.me);
        while self.running {
            match inputs.recv_timeout(self.membership.heartbeat() / 2) {
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
        self.membership.stop();
    }

    // ---- what leaves for the kernel --------------------------------------

    fn event(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn reply(&self, token: u64, result: Result<Answer, Errno>) {
        self.event(Event::Reply { token, result });
    }

    /// The live segment that a kernel call names by its guest id; None
    /// once the call is answered EINVAL (no such segment) or EIDRM
    /// (removed).
    fn segment_for(&self, token: u64, guest: u64) -> Option<&Segment> {
        let Some(seg) = self.table.by_guest(guest) else {
            self.reply(token, Err(EINVAL));
            return None;
        };
        if seg.removed {
            self.reply(token, Err(EIDRM));
            return None;
        }
        Some(seg)
    }

    /// Tells the kernel to apply `pages` of `id` at `version`.
    fn apply_event(&self, id: RshmId, version: u64, full: bool, pages: Vec<Page>) {
        self.event(Event::Apply {
            id: id.to_guest(),
            version,
            full,
            pages,
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
            Input::Net(NetInput::DialFailed { node, .. }) => self.dial_failed(node),
            Input::Net(NetInput::Frame { conn, msg }) => self.frame(conn, msg),
            Input::Net(NetInput::BadFrame {
                conn,
                peer_addr,
                error,
            }) => self.bad_frame(conn, &peer_addr, &error),
            Input::Net(NetInput::Closed { conn, reason }) => self.close(conn, &reason),
        }
    }

    /// A request of this node's kernel.
    fn kernel(&mut self, request: Request) {
        match request {
            // calls.rs
            Request::Get { token, key, size } => self.get(token, key, size),
            Request::Refs { id, count } => self.refs(id, count),
            Request::Remove { token, id } => self.remove(token, id),
            Request::Drain { token } => self.calls.drain(token),
            // transfer.rs
            Request::Attach {
                token,
                id,
                need_data,
            } => self.attach(token, id, need_data),
            // publish.rs
            Request::Publish { token, id, pages } => self.publish(token, id, pages),
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
            Msg::Hello { .. } | Msg::Heartbeat => {}
            // calls.rs
            Msg::Create { token, info } => self.on_create(from, token, info),
            Msg::CreateAck {
                token,
                winner,
                established,
            } => self.on_create_ack(from, token, winner, established),
            Msg::Established { id } => self.on_established(id),
            Msg::Refs { id, node, count } => self.on_refs(id, node, count),
            Msg::Remove { token, id } => self.on_remove(from, token, id),
            Msg::RemoveDone { token, error } => self.on_remove_done(token, error),
            Msg::Removed { id } => self.on_removed(id),
            // transfer.rs
            Msg::Fetch { token, id } => self.on_fetch(from, token, id),
            Msg::Image {
                token,
                id,
                version,
                data,
                error,
            } => self.on_image(token, id, version, data, error),
            Msg::Holder { id, node } => self.on_holder(id, node),
            // publish.rs
            Msg::Publish { token, id, pages } => self.on_publish(from, token, id, pages),
            Msg::Update {
                id,
                version,
                full,
                echo,
                pages,
            } => self.on_update(from, id, version, full, echo, pages),
            Msg::Ack { id, version } => self.ack_from(from, id, version),
            Msg::Published {
                token,
                version,
                error,
            } => self.on_published(token, version, error),
            // election.rs
            Msg::VersionQuery { id } => self.on_version_query(from, id),
            Msg::ImageQuery { id } => self.on_image_query(from, id),
            Msg::VersionIs { id, version, data } => self.on_version_is(from, id, version, data),
        }
    }
}

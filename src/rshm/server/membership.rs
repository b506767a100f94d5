//! Membership: which nodes are live, through which connection, and since
//! which incarnation (spec/rshm.md, "Membership"). `Membership` holds the
//! connections and the clock of heartbeats and dials; the `Server` methods
//! here are where the network threads' inputs enter and where every frame
//! leaves.
//!
//! ```text
//! peers.rs ─NewConn─► opened ─► Hello ─► peer
//!          ─Frame───► frame ─┬► on_hello ─► member joins: merge its table
//!                            └► Server::message (mod.rs), once a member
//!          ─Closed──► close ─► member_left ─► every concern lets go of it
//! run loop ─────────► tick: held requests, heartbeats, silent peers, dials
//! send / multicast / send_conn ─► write_frame ─► peer (a failed write
//!                                                closes, as above)
//! ```
//!
//! A member leaves only through `close`, so `member_left` is the one place
//! where calls, publishes and elections learn that a node is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Input, Server};
use crate::rshm::peers::{write_frame, ConnId, Net};
use crate::rshm::wire::{FrameError, Msg, NodeId, SegmentInfo, MAX_SEGMENT};

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

/// The connections and members of one node, and when to heartbeat and
/// dial.
pub(super) struct Membership {
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
    heartbeat: Duration,
    timeout: Duration,
    startup: Duration,
    last_tick: Instant,
    last_dial: Instant,
    net: Net<Input>,
}

impl Membership {
    pub(super) fn new(
        me: NodeId,
        peers: &[(NodeId, SocketAddr)],
        heartbeat: Duration,
        timeout: Duration,
        startup: Duration,
        net: Net<Input>,
    ) -> Membership {
        let configured: BTreeMap<NodeId, SocketAddr> =
            peers.iter().copied().filter(|p| p.0 != me).collect();
        let now = Instant::now();
        Membership {
            conns: BTreeMap::new(),
            conn_nodes: BTreeMap::new(),
            members: BTreeMap::new(),
            unsettled: configured.keys().copied().collect(),
            configured,
            dialing: BTreeSet::new(),
            started: now,
            heartbeat,
            timeout,
            startup,
            last_tick: now,
            last_dial: now - Duration::from_secs(1),
            net,
        }
    }

    pub(super) fn configured_count(&self) -> usize {
        self.configured.len()
    }

    pub(super) fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// Silence after which a peer counts as stopped.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Every configured peer answered (or the startup period is over):
    /// kernel requests need not wait any more.
    pub(super) fn settled(&self) -> bool {
        self.unsettled.is_empty()
    }

    pub(super) fn is_member(&self, node: NodeId) -> bool {
        self.members.contains_key(&node)
    }

    /// The live members other than this node.
    pub(super) fn nodes(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// Dials configured peers that are not members. To keep simultaneous
    /// dials rare, a node dials only higher ids at first (the lower id
    /// connects); after the startup period it dials any missing peer, for
    /// peers that do not know this node. Should two connections open at
    /// once anyway, `on_hello` keeps one.
    pub(super) fn dial_missing(&mut self, me: NodeId) {
        self.last_dial = Instant::now();
        let all = self.started.elapsed() > self.startup;
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

    /// Writes one frame on `conn` (a no-op when it is closed already);
    /// `limit` cuts it short for the crash test hook.
    pub(super) fn write(
        &mut self,
        conn: ConnId,
        msg: &Msg,
        limit: Option<usize>,
    ) -> Result<(), String> {
        match self.conns.get_mut(&conn) {
            Some(c) => write_frame(&mut c.stream, msg, limit).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The connection of member `node`.
    pub(super) fn conn_of(&self, node: NodeId) -> Option<ConnId> {
        self.members.get(&node).copied()
    }

    /// Shuts every connection down, both ways, without forgetting them.
    pub(super) fn shut_down_all(&self) {
        for conn in self.conns.values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }

    /// The server thread ends: stop the network threads, drop every
    /// connection.
    pub(super) fn stop(&mut self) {
        self.net.stop.store(true, Ordering::Relaxed);
        self.shut_down_all();
        self.conns.clear();
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
}

impl Server {
    /// This node and the live members.
    pub(super) fn live(&self) -> BTreeSet<NodeId> {
        let mut live: BTreeSet<NodeId> = self.membership.members.keys().copied().collect();
        live.insert(self.me);
        live
    }

    // ---- time ------------------------------------------------------------

    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        let m = &mut self.membership;
        if m.unsettled.is_empty() || now.duration_since(m.started) > m.startup {
            m.unsettled.clear();
            for request in self.calls.take_held() {
                self.kernel(request);
            }
        }
        let m = &mut self.membership;
        if now.duration_since(m.last_tick) < m.heartbeat {
            return;
        }
        m.last_tick = now;
        self.retry_deferred(false);
        let m = &self.membership;
        let silent: Vec<ConnId> = m
            .conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_heard) > m.timeout)
            .map(|(&id, _)| id)
            .collect();
        for conn in silent {
            self.close(conn, "no heartbeat within the timeout");
        }
        // Not to half-closed duplicates: their writes would fail.
        let m = &self.membership;
        let conns: Vec<ConnId> = m
            .conns
            .iter()
            .filter(|(id, c)| c.node.is_none() || m.members.values().any(|member| member == *id))
            .map(|(&id, _)| id)
            .collect();
        for conn in conns {
            self.send_conn(conn, &Msg::Heartbeat);
        }
        let m = &mut self.membership;
        if now.duration_since(m.last_dial) > m.heartbeat * 2 {
            m.dial_missing(self.me);
        }
    }

    // ---- sending ---------------------------------------------------------

    pub(super) fn send_conn(&mut self, conn: ConnId, msg: &Msg) {
        if let Err(e) = self.membership.write(conn, msg, None) {
            self.close(conn, &format!("write failed: {e}"));
        }
    }

    pub(super) fn send(&mut self, node: NodeId, msg: &Msg) {
        if let Some(conn) = self.membership.conn_of(node) {
            self.send_conn(conn, msg);
        }
    }

    pub(super) fn multicast(&mut self, msg: &Msg) {
        for n in self.membership.nodes() {
            self.send(n, msg);
        }
    }

    fn hello_msg(&self) -> Msg {
        Msg::Hello {
            node: self.me,
            incarnation: self.incarnation,
            table: self.table.infos(),
        }
    }

    // ---- inputs from the network threads ---------------------------------

    /// A connection opened (we dialed `dialed`, or accepted): greet it.
    pub(super) fn opened(
        &mut self,
        conn: ConnId,
        stream: TcpStream,
        dialed: Option<NodeId>,
        peer_addr: String,
    ) {
        if let Some(n) = dialed {
            self.membership.dialing.remove(&n);
        }
        self.membership.conns.insert(
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
        let hello = self.hello_msg();
        self.send_conn(conn, &hello);
    }

    pub(super) fn dial_failed(&mut self, node: NodeId) {
        // Not settled: a peer started a moment later refuses at first
        // (`sim cluster` starts nodes side by side). Requests wait for it
        // until `startup` ends; `tick` dials again.
        self.membership.dialing.remove(&node);
    }

    pub(super) fn frame(&mut self, conn: ConnId, msg: Msg) {
        let Some(c) = self.membership.conns.get_mut(&conn) else {
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
            ) => self.on_hello(conn, node, incarnation, table),
            // Also a duplicate connection's frames: the peer may have sent
            // them before it learnt which one survives.
            (Some(from), msg) if self.membership.is_current(from, conn) => {
                self.message(from, msg);
            }
            (Some(_), _) => {} // a duplicate connection on its way out
            (None, _) => {
                let who = self.membership.conn_name(conn);
                self.log(&format!("dropped frame from {who}: message before hello"));
            }
        }
    }

    pub(super) fn bad_frame(&mut self, conn: ConnId, peer_addr: &str, error: &FrameError) {
        let m = &self.membership;
        let who = match (m.conns.get(&conn), m.conn_nodes.get(&conn)) {
            (Some(_), _) => m.conn_name(conn),
            (None, Some(n)) => format!("node {n} ({peer_addr})"),
            (None, None) => format!("peer {peer_addr}"),
        };
        self.log(&format!("dropped frame from {who}: {error}"));
    }

    /// Closes a connection; if it was a member's, the member leaves.
    pub(super) fn close(&mut self, conn: ConnId, reason: &str) {
        let Some(c) = self.membership.conns.remove(&conn) else {
            return;
        };
        let _ = c.stream.shutdown(Shutdown::Both);
        if let Some(node) = c.node {
            if self.membership.members.get(&node) == Some(&conn) {
                self.membership.members.remove(&node);
                self.log(&format!(
                    "node {node} left (incarnation {}): {reason}",
                    c.incarnation
                ));
                self.member_left(node);
            }
        }
    }

    /// A peer's hello: a new member, a duplicate connection, or a restart.
    fn on_hello(
        &mut self,
        conn: ConnId,
        node: NodeId,
        incarnation: u32,
        mut table: Vec<SegmentInfo>,
    ) {
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
        let m = &mut self.membership;
        m.unsettled.remove(&node);
        m.conn_nodes.insert(conn, node);
        if let Some(c) = m.conns.get_mut(&conn) {
            c.node = Some(node);
            c.incarnation = incarnation;
            c.dialer.get_or_insert(node);
        }
        if let Some(&old) = m.members.get(&node) {
            let old_inc = m.conns.get(&old).map_or(0, |c| c.incarnation);
            if old == conn {
                // The peer's table as of its join (see below): merge it.
                self.merge_table(node, &table);
                return;
            }
            if incarnation == old_inc {
                // Both dialed at once: keep the connection dialed by the
                // lower id, on both ends alike.
                let keep_dialer = self.me.min(node);
                let old_dialer = m.conns.get(&old).and_then(|c| c.dialer);
                // The loser is only half closed: frames already on their
                // way through it are still read (see `is_current`).
                let loser = if old_dialer == Some(keep_dialer) {
                    conn
                } else {
                    m.members.insert(node, conn);
                    old
                };
                if let Some(c) = m.conns.get(&loser) {
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
        self.membership.members.insert(node, conn);
        self.log(&format!("node {node} joined (incarnation {incarnation})"));
        // Our first hello left when the connection opened, maybe long
        // before the peer answered; what changed since (a removal it
        // missed) goes in a second one.
        let hello = self.hello_msg();
        self.send_conn(conn, &hello);
        self.merge_table(node, &table);
    }

    /// Merges a member's table into ours; what it changed may free
    /// segments and settle rshmget calls.
    fn merge_table(&mut self, node: NodeId, table: &[SegmentInfo]) {
        let live = self.live();
        self.table.merge(node, table, &live);
        self.check_freeable();
        self.recheck_awaiting();
    }

    // ---- a member leaves -------------------------------------------------

    /// Every concern lets go of `node`, in this order: calls that wait for
    /// a creation round count it out, calls waiting on it as owner are
    /// taken back; forwarded updates and elections stop waiting for it;
    /// its segments get new owners; then the calls taken back start over
    /// with those owners.
    fn member_left(&mut self, node: NodeId) {
        let orphaned = self.table.drop_node(node);
        let orphaned_calls = self.calls_without(node);
        self.publishes_without(node);
        self.elections_without(node);
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
        self.restart(orphaned_calls);
        self.retry_deferred(true);
        self.check_freeable();
        self.recheck_awaiting();
    }
}

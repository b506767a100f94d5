//! Membership: which nodes are live, through which connection, and since
//! which incarnation (docs/spec/rshm.md, "Membership"). `Membership` holds the
//! connections and the clock of heartbeats and dials; the `Server` methods
//! here are where the network threads' inputs enter and where every frame
//! leaves.
//!
//! ```text
//! peers.rs ─NewConn─► opened (no frame goes out before the peer greets)
//!          ─Greeted─► greeted ─► Hello (sealed) ─► peer
//!          ─Frame───► frame ─┬► on_hello ─► member joins: merge its table
//!                            │   (a dropped incarnation ─Rejoin─► it)
//!                            ├► Rejoin: this node was dropped ─► rejoin
//!                            └► Server::message (mod.rs), once a member
//!          ─Closed──► close ─► member_left ─► every concern lets go of it
//! run loop ─────────► tick: held requests, heartbeats, silent and
//!                     unidentified peers, dials, deadlines
//! run loop: paused ─► rejoin: new incarnation, every connection closed,
//!                     no ownership kept, copies refreshed once back
//! send / multicast / send_conn ─► write_frame ─► peer (a failed write
//!                                                closes, as above)
//! ```
//!
//! A member leaves only through `close`, so `member_left` is the one place
//! where calls, publishes and elections learn that a node is gone. A node
//! dropped once may only come back as a new member (a higher incarnation):
//! its old incarnation is *fenced* (`expelled`), so a node that was paused
//! cannot resume with its stale view and act on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::calls::{MAX_SEGMENTS, MAX_TABLE_ROWS};
use super::handle::clock_incarnation;
use super::{Input, Server};
use crate::rshm::auth::Sealer;
use crate::rshm::peers::{write_frame, ConnId, Net};
use crate::rshm::wire::{
    check_node_id, CollectedRange, FrameError, Msg, NodeId, SegmentInfo, MAX_SEGMENT,
};

/// Collected id ranges a hello carries at most (the newest kept): the
/// hello must stay far below the frame limit.
const MAX_HELLO_RANGES: usize = 32_768;

/// One open connection.
struct Conn {
    stream: TcpStream,
    /// Set once the peer greeted: frames to it are sealed with it.
    sealer: Option<Sealer>,
    /// Set by the peer's hello.
    node: Option<NodeId>,
    incarnation: u32,
    /// Who dialed: decides which of two simultaneous connections survives.
    dialer: Option<NodeId>,
    /// This node refused the peer's incarnation and told it to rejoin: the
    /// connection is half closed (our side) so that the `Rejoin` reaches
    /// the peer before our FIN, and its frames are ignored until it closes
    /// or falls silent.
    refused: bool,
    peer_addr: String,
    /// When the connection opened, or the peer greeted: an unidentified
    /// peer has `timeout` from here to say hello.
    opened: Instant,
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
    /// The highest incarnation of each node this node dropped: that one
    /// and older ones are refused (`Rejoin`).
    expelled: HashMap<NodeId, u32>,
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
        let configured: BTreeMap<NodeId, SocketAddr> = peers
            .iter()
            .copied()
            .filter(|p| p.0 != me && check_node_id(p.0).is_ok())
            .collect();
        let now = Instant::now();
        Membership {
            conns: BTreeMap::new(),
            conn_nodes: BTreeMap::new(),
            members: BTreeMap::new(),
            expelled: HashMap::new(),
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

    /// A stop of the server thread this long may have let the peers drop
    /// this node: they drop a peer after `timeout` of silence, and it
    /// last wrote at most a heartbeat and a half before it stopped.
    pub(super) fn pause_limit(&self) -> Duration {
        (self.timeout / 2).max(self.timeout.saturating_sub(self.heartbeat * 2))
    }

    /// Every configured peer answered (or the startup period is over):
    /// kernel requests need not wait any more.
    pub(super) fn settled(&self) -> bool {
        self.unsettled.is_empty()
    }

    /// Whether a peer this node was started with is not a member now.
    pub(super) fn missing_peers(&self) -> bool {
        self.configured
            .keys()
            .any(|n| !self.members.contains_key(n))
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

    /// Writes one frame on `conn` (a no-op when it is closed already or
    /// the peer has not greeted yet); `limit` cuts it short for the crash
    /// test hook.
    pub(super) fn write(
        &mut self,
        conn: ConnId,
        incarnation: u32,
        msg: &Msg,
        limit: Option<usize>,
    ) -> Result<(), String> {
        match self.conns.get_mut(&conn) {
            Some(Conn {
                stream,
                sealer: Some(sealer),
                ..
            }) => write_frame(stream, sealer, incarnation, msg, limit).map(|_| ()),
            _ => Ok(()),
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
        self.check_paused();
        self.retry_deferred(false);
        let m = &self.membership;
        // Silent members, and connections that never said who they are
        // (a peer without the key, or one that only greets).
        let silent: Vec<(ConnId, &str)> = m
            .conns
            .iter()
            .filter_map(|(&id, c)| {
                if now.duration_since(c.last_heard) > m.timeout {
                    Some((id, "no heartbeat within the timeout"))
                } else if c.node.is_none() && now.duration_since(c.opened) > m.timeout {
                    Some((id, "no hello within the timeout"))
                } else {
                    None
                }
            })
            .collect();
        let silent: Vec<(ConnId, String)> = silent
            .into_iter()
            .map(|(c, r)| (c, r.to_string()))
            .collect();
        for (conn, reason) in silent {
            self.close(conn, &reason);
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
        self.expire_calls();
        self.expire_forwarded();
        self.retry_parked();
        self.retry_elections();
        self.refresh_stale_copies();
    }

    // ---- sending ---------------------------------------------------------

    pub(super) fn send_conn(&mut self, conn: ConnId, msg: &Msg) {
        if let Err(e) = self.membership.write(conn, self.incarnation, msg, None) {
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
        let mut collected = self.table.collected().ranges();
        if collected.len() > MAX_HELLO_RANGES {
            collected.drain(..collected.len() - MAX_HELLO_RANGES);
        }
        Msg::Hello {
            node: self.me,
            incarnation: self.incarnation,
            table: self.table.infos(),
            collected,
        }
    }

    // ---- inputs from the network threads ---------------------------------

    /// A connection opened (we dialed `dialed`, or accepted); our greeting
    /// is on its way (peers.rs), our hello follows the peer's greeting.
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
        let now = Instant::now();
        self.membership.conns.insert(
            conn,
            Conn {
                stream,
                sealer: None,
                node: None,
                incarnation: 0,
                dialer: dialed.map(|_| self.me),
                refused: false,
                peer_addr,
                opened: now,
                last_heard: now,
            },
        );
    }

    /// The peer greeted: our frames to it can be sealed; the first is our
    /// hello.
    pub(super) fn greeted(&mut self, conn: ConnId, sealer: Sealer) {
        let Some(c) = self.membership.conns.get_mut(&conn) else {
            return;
        };
        c.sealer = Some(sealer);
        // The peer's clock starts here: a connection made while the peer
        // was stopped waited in its backlog, and must not be closed as
        // silent the moment the peer comes back, before its hello.
        let now = Instant::now();
        c.opened = now;
        c.last_heard = now;
        let hello = self.hello_msg();
        self.send_conn(conn, &hello);
    }

    pub(super) fn dial_failed(&mut self, node: NodeId) {
        // Not settled: a peer started a moment later refuses at first
        // (`sim cluster` starts nodes side by side). Requests wait for it
        // until `startup` ends; `tick` dials again.
        self.membership.dialing.remove(&node);
    }

    pub(super) fn frame(&mut self, conn: ConnId, incarnation: u32, msg: Msg) {
        let Some(c) = self.membership.conns.get_mut(&conn) else {
            return;
        };
        if c.refused {
            // Not heard: `tick` closes it once the peer stays silent.
            return;
        }
        c.last_heard = Instant::now();
        let (node, conn_incarnation) = (c.node, c.incarnation);
        match (node, msg) {
            (
                _,
                Msg::Hello {
                    node,
                    incarnation: hello_incarnation,
                    table,
                    collected,
                },
            ) => {
                if hello_incarnation != incarnation {
                    let who = self.membership.conn_name(conn);
                    self.log_peer(
                        &who,
                        &format!("dropped frame from {who}: hello of another incarnation"),
                    );
                    return;
                }
                self.on_hello(conn, node, incarnation, table, collected);
            }
            (Some(from), _) if incarnation != conn_incarnation => {
                let who = self.membership.conn_name(conn);
                self.log_peer(
                    &who,
                    &format!("dropped frame from {who}: incarnation {incarnation}, node {from} greeted as {conn_incarnation}"),
                );
            }
            (
                Some(_),
                Msg::Rejoin {
                    incarnation: dropped,
                },
            ) => {
                if dropped >= self.incarnation {
                    let who = self.membership.conn_name(conn);
                    self.rejoin(&format!("{who} dropped incarnation {dropped}"));
                }
            }
            // Also a duplicate connection's frames: the peer may have sent
            // them before it learnt which one survives.
            (Some(from), msg) if self.membership.is_current(from, conn) => {
                self.message(from, msg);
            }
            (Some(_), _) => {} // a duplicate connection on its way out
            (None, msg) => {
                let who = self.membership.conn_name(conn);
                self.log_peer(
                    &who,
                    &format!("dropped frame from {who}: {} before hello", msg.name()),
                );
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
        self.log_peer(peer_addr, &format!("dropped frame from {who}: {error}"));
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
                // Fenced: that incarnation may not come back. Unless this
                // node is the one that was stopped (the loop has not come
                // round for longer than a pause): then the peer only
                // dropped us, this node rejoins as soon as the loop comes
                // round (`check_paused`), and fencing the peer would
                // refuse it for good.
                if !self.paused_now() {
                    let fenced = self.membership.expelled.entry(node).or_insert(0);
                    *fenced = (*fenced).max(c.incarnation);
                }
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
        collected: Vec<CollectedRange>,
    ) {
        if node == self.me || check_node_id(node).is_err() {
            let who = self.membership.conn_name(conn);
            self.log_peer(
                &who,
                &format!("dropped a connection from {who}: it says it is node {node}"),
            );
            self.close(conn, "impossible node id");
            return;
        }
        if self
            .membership
            .expelled
            .get(&node)
            .is_some_and(|&dropped| incarnation <= dropped)
        {
            // It was dropped (silent too long): it may only come back as a
            // new member. Tell it so, on this connection, and close our
            // side only. A full close would make the peer's next write
            // (its second hello crosses our Rejoin) draw a reset, and a
            // reset discards what the peer has not read yet: the Rejoin.
            // The peer closes once it rejoined; `tick` closes it if not.
            let dropped = self.membership.expelled[&node];
            if let Some(c) = self.membership.conns.get_mut(&conn) {
                c.node = Some(node);
                c.incarnation = incarnation;
                c.refused = true;
            }
            self.send_conn(
                conn,
                &Msg::Rejoin {
                    incarnation: dropped,
                },
            );
            if let Some(c) = self.membership.conns.get(&conn) {
                let _ = c.stream.shutdown(Shutdown::Write);
            }
            return;
        }
        self.limit_table(node, &mut table);
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
                self.merge_table(node, &table, &collected);
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
        // Our first hello left when the peer greeted, maybe long before
        // it answered; what changed since (a removal it missed) goes in a
        // second one.
        let hello = self.hello_msg();
        self.send_conn(conn, &hello);
        self.merge_table(node, &table, &collected);
    }

    /// Keeps a peer's table within what one node could have: rows of
    /// possible sizes, at most `MAX_SEGMENTS` live ones per creator and
    /// `MAX_TABLE_ROWS` in all.
    fn limit_table(&mut self, node: NodeId, table: &mut Vec<SegmentInfo>) {
        let before = table.len();
        let mut per_creator: HashMap<NodeId, usize> = HashMap::new();
        table.retain(|info| {
            let count = per_creator.entry(info.id.node).or_insert(0);
            if !info.removed {
                *count += 1;
            }
            info.size != 0
                && info.size <= MAX_SEGMENT
                && info.size.is_multiple_of(crate::rshm::PAGE_BYTES as u64)
                && info.id.fits_guest()
                && *count <= MAX_SEGMENTS
        });
        table.truncate(
            MAX_TABLE_ROWS
                .saturating_sub(self.table.len())
                .max(MAX_SEGMENTS),
        );
        if table.len() != before {
            self.log_peer(
                &format!("node {node}"),
                &format!(
                    "node {node}: dropped {} impossible or excess segment(s) from its table",
                    before - table.len()
                ),
            );
        }
    }

    /// Merges a member's table into ours; what it changed may free
    /// segments, settle owners and settle rshmget calls.
    fn merge_table(&mut self, node: NodeId, table: &[SegmentInfo], collected: &[CollectedRange]) {
        let live = self.live();
        self.table.merge(node, table, collected, &live);
        self.keep_claims_unsettled();
        self.check_freeable();
        self.recheck_awaiting();
        self.retry_parked();
        self.refresh_stale_copies();
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
        for id in orphaned {
            self.owner_left(id);
        }
        self.withdraw_candidates_of(node);
        self.restart(orphaned_calls);
        self.retry_deferred(true);
        self.check_freeable();
        self.recheck_awaiting();
    }

    // ---- this node was dropped -------------------------------------------

    /// This node was stopped long enough to be dropped, or a peer says it
    /// was: it comes back as a new member. It takes a new incarnation,
    /// closes every connection (without electing itself anything: its view
    /// is stale), gives up every ownership and takeover, answers the calls
    /// it sequenced as owner with ETIMEDOUT, and refreshes each copy it
    /// holds from the segment's owner once it knows it
    /// (`refresh_stale_copies`).
    pub(super) fn rejoin(&mut self, why: &str) {
        let old = self.incarnation;
        self.incarnation = clock_incarnation(old);
        self.log(&format!(
            "rejoining as a new member (incarnation {} after {old}): {why}",
            self.incarnation
        ));
        let conns: Vec<ConnId> = self.membership.conns.keys().copied().collect();
        let members: Vec<NodeId> = self.membership.members.keys().copied().collect();
        for conn in conns {
            if let Some(c) = self.membership.conns.remove(&conn) {
                let _ = c.stream.shutdown(Shutdown::Both);
            }
        }
        self.membership.members.clear();
        self.membership.dialing.clear();
        // As at start: the configured peers are asked again, and until they
        // answered (or the startup period passed) this node claims nothing
        // and its kernel's calls wait.
        self.membership.started = Instant::now();
        self.membership.unsettled = self.membership.configured.keys().copied().collect();
        self.abandon_forwarded();
        self.abandon_elections();
        let mut orphaned_calls = Vec::new();
        for node in members {
            self.table.drop_node(node);
            orphaned_calls.extend(self.calls_without(node));
        }
        for id in self.table.ids() {
            if let Some(seg) = self.table.get_mut(id) {
                seg.settled = false;
                seg.mark_stale();
                seg.holders.retain(|&h| h == self.me);
            }
        }
        self.restart(orphaned_calls);
        self.membership.dial_missing(self.me);
    }
}

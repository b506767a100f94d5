//! The kernel's calls that make, count and end segments — rshmget (a
//! creation round), attach counts, rshmctl(IPC_RMID) and collection — at
//! both ends, and `Calls`: every call of this node waiting on the network,
//! whichever concern started it (`Pending`), the calls parked until a
//! segment has a settled owner (`Parked`), and their deadlines.
//!
//! ```text
//! kernel: Get ─► get ─┬► the key resolves: Answer::Id, or wait (awaiting)
//!                     └► a candidate ─Create─► every member: on_create
//!                        ◄─CreateAck─ on_create_ack ─► maybe_created ─►
//!                        finish_pending: won ─Established─► every member,
//!                        lost: withdraw it and wait like any caller
//! kernel: Refs ─► refs ─Refs─► every member: on_refs
//! kernel: Remove ─► remove ─┬► owner here: remove_as_owner ─Removed─►
//!                           ├► ─Remove─► owner: on_remove ─RemoveDone─►
//!                           │  on_remove_done ─► the caller's reply
//!                           └► no settled owner yet: parked
//! removed and attached nowhere ─► check_freeable ─► Event::Freed, the row
//!                                 is collected (table.rs)
//! tick ─► expire_calls (ETIMEDOUT), retry_parked
//! ```
//!
//! A call waits under a token of this server (`Calls::start`); the answer
//! of a peer carries it back. When the node it waits on leaves,
//! `calls_without` takes the call back and `restart` asks again, with the
//! call's first deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::{Answer, Event, Request, Server};
use crate::abi::{Errno, EAGAIN, EIDRM, EINVAL, ENOSPC, ETIMEDOUT};
use crate::rshm::table::Segment;
use crate::rshm::wire::{Msg, NodeId, RshmId, Run, SegmentInfo, MAX_SEGMENT, MAX_SEQ, PAGE_BYTES};

/// Live segments one node creates at most, and the most any peer may
/// announce as its own (rshmget ENOSPC beyond).
pub const MAX_SEGMENTS: usize = 256;

/// Rows (live and removed, not yet collected) a table keeps at most: what
/// peers announce beyond is dropped with a log line.
pub const MAX_TABLE_ROWS: usize = 8192;

/// A call of this node's kernel waiting on the network.
pub(super) enum Pending {
    Create {
        kernel: u64,
        id: RshmId,
        size: u64,
        waiting: BTreeSet<NodeId>,
        lowest: RshmId,
        established: Option<RshmId>,
        deadline: Instant,
    },
    Fetch {
        /// None: a gap repair, not a kernel call.
        kernel: Option<(u64, bool)>,
        id: RshmId,
        owner: NodeId,
        deadline: Instant,
    },
    Remove {
        kernel: u64,
        id: RshmId,
        owner: NodeId,
        deadline: Instant,
    },
    Publish {
        kernel: u64,
        id: RshmId,
        owner: NodeId,
        runs: Vec<Run>,
        deadline: Instant,
    },
}

impl Pending {
    fn deadline(&self) -> Instant {
        match self {
            Pending::Create { deadline, .. }
            | Pending::Fetch { deadline, .. }
            | Pending::Remove { deadline, .. }
            | Pending::Publish { deadline, .. } => *deadline,
        }
    }
}

/// A kernel call that waits for a segment to have a settled owner that is
/// a member (a takeover in progress, or an owner that asked to retry).
pub(super) enum Parked {
    Attach {
        token: u64,
        guest: u64,
        need_data: bool,
    },
    Remove {
        token: u64,
        guest: u64,
    },
    Publish {
        token: u64,
        guest: u64,
        runs: Vec<Run>,
    },
}

/// The calls in flight, and the kernel's calls that wait for something
/// before they can start.
pub(super) struct Calls {
    pending: BTreeMap<u64, Pending>,
    next_token: u64,
    /// The next sequence number of an rshmid this node creates.
    next_seq: u32,
    /// Kernel requests held until the first hellos arrived.
    held: Vec<Request>,
    /// rshmget calls waiting for a creation round of their key to end:
    /// (kernel token, key, size, deadline).
    awaiting: Vec<(u64, u64, u64, Instant)>,
    /// Calls waiting for an owner, with their deadlines.
    parked: Vec<(Parked, Instant)>,
    /// Tokens of `Request::Drain` not answered yet.
    draining: Vec<u64>,
}

impl Calls {
    pub(super) fn new() -> Calls {
        Calls {
            pending: BTreeMap::new(),
            next_token: 1,
            next_seq: 0,
            held: Vec::new(),
            awaiting: Vec::new(),
            parked: Vec::new(),
            draining: Vec::new(),
        }
    }

    /// A fresh token for a call of this server.
    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Records `call` under a fresh token.
    pub(super) fn start(&mut self, call: Pending) -> u64 {
        let token = self.token();
        self.pending.insert(token, call);
        token
    }

    /// Ends the call with this token, whatever it was.
    pub(super) fn take(&mut self, token: u64) -> Option<Pending> {
        self.pending.remove(&token)
    }

    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.parked.is_empty()
    }

    pub(super) fn hold(&mut self, request: Request) {
        self.held.push(request);
    }

    pub(super) fn take_held(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.held)
    }

    pub(super) fn drain(&mut self, token: u64) {
        self.draining.push(token);
    }

    /// Waits for an owner until `deadline`.
    pub(super) fn park(&mut self, call: Parked, deadline: Instant) {
        self.parked.push((call, deadline));
    }
}

/// Counts `node`'s attached processes in `seg` (none: no entry).
fn set_refs(seg: &mut Segment, node: NodeId, count: u32) {
    if count == 0 {
        seg.refs.remove(&node);
    } else {
        seg.refs.insert(node, count);
    }
}

impl Server {
    // ---- rshmget: a creation round ---------------------------------------

    pub(super) fn get(&mut self, token: u64, key: u64, size: u64, deadline: Instant) {
        let live = self.live();
        if let Some(seg) = self.table.resolve_among(key, &live) {
            if !seg.established {
                // Another node's creation round is open: its outcome decides.
                self.calls.awaiting.push((token, key, size, deadline));
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
        if self.table.live_count() >= MAX_SEGMENTS
            || self.table.len() >= MAX_TABLE_ROWS
            || self.calls.next_seq > MAX_SEQ
        {
            self.reply(token, Err(ENOSPC));
            return;
        }
        let size = size.div_ceil(PAGE_BYTES as u64) * PAGE_BYTES as u64;
        let id = RshmId {
            node: self.me,
            incarnation: self.incarnation,
            seq: self.calls.next_seq,
        };
        self.calls.next_seq += 1;
        let seg = Segment::new(id, key, size);
        let info = seg.info();
        self.table.insert(seg);
        let waiting: BTreeSet<NodeId> = self.membership.nodes().into_iter().collect();
        let net_token = self.calls.start(Pending::Create {
            kernel: token,
            id,
            size,
            waiting,
            lowest: id,
            established: None,
            deadline,
        });
        self.multicast(&Msg::Create {
            token: net_token,
            info,
        });
        self.maybe_created(net_token);
    }

    /// A member announces its candidate: answer with our resolution of
    /// the key.
    pub(super) fn on_create(&mut self, from: NodeId, token: u64, info: SegmentInfo) {
        let bad = info.id.node != from
            || info.size > MAX_SEGMENT
            || info.size == 0
            || !info.size.is_multiple_of(PAGE_BYTES as u64)
            || !info.id.fits_guest();
        if bad {
            self.log_peer(
                &format!("node {from}"),
                &format!("dropped frame from node {from}: bad Create"),
            );
            return;
        }
        if self.table.live_created_by(from) >= MAX_SEGMENTS || self.table.len() >= MAX_TABLE_ROWS {
            self.log_peer(
                &format!("node {from}"),
                &format!("dropped frame from node {from}: Create beyond its quota of {MAX_SEGMENTS} segments"),
            );
            return;
        }
        self.table.insert_announced(&info);
        // Always answered: a round must not wait for this node in vain
        // (the candidate itself when it resolves to nothing here).
        let live = self.live();
        let (winner, established) = match self.table.resolve_among(info.key, &live) {
            Some(w) => (w.info(), w.established),
            None => (info, false),
        };
        let reply = Msg::CreateAck {
            token,
            winner,
            established,
        };
        self.send(from, &reply);
    }

    pub(super) fn on_create_ack(
        &mut self,
        from: NodeId,
        token: u64,
        winner: SegmentInfo,
        established: bool,
    ) {
        // A winner that is removed (or collected) here does not count.
        let known_removed = self.table.is_collected(winner.id)
            || self.table.get(winner.id).is_some_and(Segment::removed);
        let possible = winner.id.fits_guest() && winner.size <= MAX_SEGMENT && winner.size > 0;
        if !known_removed
            && possible
            && self.table.get(winner.id).is_none()
            && self.table.len() < MAX_TABLE_ROWS
        {
            self.table.insert_announced(&winner);
        }
        let counts = !known_removed && self.table.get(winner.id).is_some();
        if let Some(Pending::Create {
            waiting,
            lowest,
            established: est,
            ..
        }) = self.calls.pending.get_mut(&token)
        {
            waiting.remove(&from);
            if counts {
                *lowest = (*lowest).min(winner.id);
                if established {
                    *est = Some(winner.id);
                }
            }
        }
        self.maybe_created(token);
    }

    fn maybe_created(&mut self, token: u64) {
        let Some(Pending::Create { waiting, .. }) = self.calls.pending.get(&token) else {
            return;
        };
        if waiting.is_empty() {
            self.finish_pending(token, Ok(()));
        }
    }

    pub(super) fn on_established(&mut self, id: RshmId) {
        if let Some(seg) = self.table.get_mut(id) {
            seg.established = true;
        }
        self.recheck_awaiting();
    }

    /// Ends a pending call: `Ok` means "finished normally".
    fn finish_pending(&mut self, token: u64, outcome: Result<(), Errno>) {
        let Some(pending) = self.calls.take(token) else {
            return;
        };
        match pending {
            Pending::Create {
                kernel,
                id,
                size,
                lowest,
                established,
                deadline,
                ..
            } => {
                if let Err(e) = outcome {
                    // Withdraw the candidate: nobody waits for it forever.
                    self.remove_as_owner(id);
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
                let key = self.table.get(id).map_or(0, |s| s.key);
                self.calls.awaiting.push((kernel, key, size, deadline));
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

    /// Answers the rshmget calls whose key now has an established
    /// segment, and asks again for those whose candidates all went away.
    pub(super) fn recheck_awaiting(&mut self) {
        let live = self.live();
        for (token, key, size, deadline) in std::mem::take(&mut self.calls.awaiting) {
            match self.table.resolve_among(key, &live) {
                Some(seg) if !seg.established => {
                    self.calls.awaiting.push((token, key, size, deadline));
                }
                _ => self.get(token, key, size, deadline),
            }
        }
    }

    /// The candidates of `node`, which left, can never be established
    /// (their creation round died with it): withdrawn, so that nobody
    /// waits for them. (A candidate in a hello whose creator is not a
    /// member yet stays: it may be joining; `resolve_among` keeps rshmget
    /// from waiting for it meanwhile.)
    pub(super) fn withdraw_candidates_of(&mut self, node: NodeId) {
        let orphans: Vec<RshmId> = self
            .table
            .segments()
            .filter(|s| !s.established && !s.removed() && s.id.node == node)
            .map(|s| s.id)
            .collect();
        for id in orphans {
            self.table.mark_removed(id);
        }
        if !self.calls.awaiting.is_empty() {
            self.recheck_awaiting();
        }
    }

    // ---- attach counts ---------------------------------------------------

    /// This node's kernel has `count` processes attached to `guest` now.
    pub(super) fn refs(&mut self, guest: u64, count: u32) {
        let Some(seg) = self.table.by_guest(guest) else {
            return;
        };
        let id = seg.id;
        if let Some(seg) = self.table.get_mut(id) {
            set_refs(seg, self.me, count);
        }
        self.multicast(&Msg::Refs {
            id,
            node: self.me,
            count,
        });
        self.check_freeable();
    }

    pub(super) fn on_refs(&mut self, from: NodeId, id: RshmId, node: NodeId, count: u32) {
        // A node counts its own processes only.
        if node != from {
            return;
        }
        if let Some(seg) = self.table.get_mut(id) {
            set_refs(seg, node, count);
        }
        self.check_freeable();
    }

    // ---- rshmctl(IPC_RMID) -----------------------------------------------

    pub(super) fn remove(&mut self, token: u64, guest: u64, deadline: Instant) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        let (id, owner, settled) = (seg.id, seg.owner, seg.settled);
        if owner == self.me && settled {
            self.remove_as_owner(id);
            self.reply(token, Ok(Answer::Done));
            return;
        }
        if !settled || !self.membership.is_member(owner) {
            self.calls.park(Parked::Remove { token, guest }, deadline);
            return;
        }
        let net_token = self.calls.start(Pending::Remove {
            kernel: token,
            id,
            owner,
            deadline,
        });
        self.send(
            owner,
            &Msg::Remove {
                token: net_token,
                id,
            },
        );
    }

    pub(super) fn remove_as_owner(&mut self, id: RshmId) {
        self.table.mark_removed(id);
        self.multicast(&Msg::Removed { id });
        self.check_freeable();
        self.recheck_awaiting();
    }

    /// As owner, a member's rshmctl(IPC_RMID).
    pub(super) fn on_remove(&mut self, from: NodeId, token: u64, id: RshmId) {
        let error = match self.table.get(id) {
            Some(seg) if seg.removed() => Some(EIDRM),
            Some(seg) if seg.owner == self.me && seg.settled => None,
            Some(_) => Some(EAGAIN),
            None if self.table.is_collected(id) => Some(EIDRM),
            None => Some(EINVAL),
        };
        if error.is_none() {
            self.remove_as_owner(id);
        }
        self.send(from, &Msg::RemoveDone { token, error });
    }

    pub(super) fn on_remove_done(&mut self, token: u64, error: Option<Errno>) {
        if let Some(Pending::Remove {
            kernel,
            id,
            deadline,
            ..
        }) = self.calls.take(token)
        {
            if error == Some(EAGAIN) {
                // Not the owner (any more): wait for the settled one.
                let guest = id.to_guest();
                self.calls.park(
                    Parked::Remove {
                        token: kernel,
                        guest,
                    },
                    deadline,
                );
                return;
            }
            self.reply(kernel, error.map_or(Ok(Answer::Done), Err));
        }
    }

    pub(super) fn on_removed(&mut self, from: NodeId, id: RshmId) {
        // Only the owner, or the creator withdrawing its candidate, removes.
        let allowed = self
            .table
            .get(id)
            .is_some_and(|s| s.owner == from || (id.node == from && !s.established));
        if !allowed {
            return;
        }
        self.table.mark_removed(id);
        self.check_freeable();
        self.recheck_awaiting();
    }

    /// Collects removed segments attached nowhere: the kernel drops its
    /// local copy, the table keeps only the id.
    pub(super) fn check_freeable(&mut self) {
        for id in self.table.collect_freeable() {
            self.event(Event::Freed { id: id.to_guest() });
        }
    }

    // ---- deadlines, parked calls, draining, members that leave -----------

    /// Answers ETIMEDOUT to every call past its deadline.
    pub(super) fn expire_calls(&mut self) {
        let now = Instant::now();
        let expired: Vec<u64> = self
            .calls
            .pending
            .iter()
            .filter(|(_, p)| p.deadline() <= now)
            .map(|(&t, _)| t)
            .collect();
        for token in expired {
            self.finish_pending(token, Err(ETIMEDOUT));
        }
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.calls.awaiting)
            .into_iter()
            .partition(|a| a.3 <= now);
        self.calls.awaiting = keep;
        for (token, ..) in due {
            self.reply(token, Err(ETIMEDOUT));
        }
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.calls.parked)
            .into_iter()
            .partition(|p| p.1 <= now);
        self.calls.parked = keep;
        for (call, _) in due {
            let token = match call {
                Parked::Attach { token, .. }
                | Parked::Remove { token, .. }
                | Parked::Publish { token, .. } => token,
            };
            self.reply(token, Err(ETIMEDOUT));
        }
    }

    /// Tries the parked calls again (an owner may have settled).
    pub(super) fn retry_parked(&mut self) {
        for (call, deadline) in std::mem::take(&mut self.calls.parked) {
            match call {
                Parked::Attach {
                    token,
                    guest,
                    need_data,
                } => self.attach(token, guest, need_data, deadline),
                Parked::Remove { token, guest } => self.remove(token, guest, deadline),
                Parked::Publish { token, guest, runs } => {
                    self.publish(token, guest, runs, deadline);
                }
            }
        }
    }

    /// Answers `Request::Drain` once nothing is in progress.
    pub(super) fn check_drained(&mut self) {
        if self.calls.draining.is_empty()
            || !(self.calls.is_idle() && self.publishing.is_idle() && self.elections.is_idle())
        {
            return;
        }
        for token in std::mem::take(&mut self.calls.draining) {
            self.reply(token, Ok(Answer::Done));
        }
    }

    /// `node` left: creation rounds stop waiting for its answer; the calls
    /// that wait on it as owner are taken back (to `restart` once the
    /// segments have new owners).
    pub(super) fn calls_without(&mut self, node: NodeId) -> Vec<Pending> {
        let tokens: Vec<u64> = self.calls.pending.keys().copied().collect();
        let mut orphaned = Vec::new();
        for token in tokens {
            let finished = match self.calls.pending.get_mut(&token) {
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
                orphaned.extend(self.calls.take(token));
            }
        }
        orphaned
    }

    /// The calls that waited on an owner that left start over with the
    /// segment's new owner (parked until it settles), keeping their
    /// deadlines.
    pub(super) fn restart(&mut self, calls: Vec<Pending>) {
        for call in calls {
            match call {
                Pending::Fetch {
                    kernel: Some((token, need_data)),
                    id,
                    deadline,
                    ..
                } => self.attach(token, id.to_guest(), need_data, deadline),
                Pending::Remove {
                    kernel,
                    id,
                    deadline,
                    ..
                } => self.remove(kernel, id.to_guest(), deadline),
                Pending::Publish {
                    kernel,
                    id,
                    runs,
                    deadline,
                    ..
                } => self.publish(kernel, id.to_guest(), runs, deadline),
                // A gap repair: the new owner re-sends the whole image to
                // the holders it knows; should this node not be one of
                // them, the copy is fetched once the new owner settles.
                Pending::Fetch {
                    kernel: None, id, ..
                } => {
                    if let Some(seg) = self.table.get_mut(id) {
                        seg.mark_stale();
                    }
                }
                Pending::Create { .. } => {}
            }
        }
    }

    /// No live node holds a copy of `id`: a call that needs one cannot
    /// wait for it (EHOSTDOWN).
    pub(super) fn no_live_holder(&self, id: RshmId) -> bool {
        let live = self.live();
        self.table
            .get(id)
            .is_none_or(|s| s.data.is_none() && !s.holders.iter().any(|h| live.contains(h)))
    }
}

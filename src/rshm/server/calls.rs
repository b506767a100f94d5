//! The kernel's calls that make, count and end segments — rshmget (a
//! creation round), attach counts, rshmctl(IPC_RMID) and freeing — at both
//! ends, and `Calls`: every call of this node waiting on the network,
//! whichever concern started it (`Pending`).
//!
//! ```text
//! kernel: Get ─► get ─┬► the key resolves: Answer::Id, or wait (awaiting)
//!                     └► a candidate ─Create─► every member: on_create
//!                        ◄─CreateAck─ on_create_ack ─► maybe_created ─►
//!                        finish_pending: won ─Established─► every member,
//!                        lost: withdraw it and wait like any caller
//! kernel: Refs ─► refs ─Refs─► every member: on_refs
//! kernel: Remove ─► remove ─┬► owner here: remove_as_owner ─Removed─►
//!                           └► ─Remove─► owner: on_remove ─RemoveDone─►
//!                              on_remove_done ─► the caller's reply
//! removed and attached nowhere ─► check_freeable ─► Event::Freed
//! ```
//!
//! A call waits under a token of this server (`Calls::start`); the answer
//! of a peer carries it back. When the node it waits on leaves,
//! `calls_without` takes the call back and `restart` asks again.

use std::collections::{BTreeMap, BTreeSet};

use super::{Answer, Event, Request, Server};
use crate::abi::{Errno, EHOSTDOWN, EIDRM, EINVAL, ENOSPC};
use crate::rshm::table::Segment;
use crate::rshm::wire::{Msg, NodeId, Page, RshmId, SegmentInfo, MAX_SEGMENT, MAX_SEQ, PAGE_BYTES};

/// Live segments one node keeps at most (rshmget ENOSPC beyond).
pub const MAX_SEGMENTS: usize = 256;

/// A call of this node's kernel waiting on the network.
pub(super) enum Pending {
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
    /// (kernel token, key, size).
    awaiting: Vec<(u64, u64, u64)>,
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
            draining: Vec::new(),
        }
    }

    /// A fresh token for a call of this server.
    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub(super) fn insert(&mut self, token: u64, call: Pending) {
        self.pending.insert(token, call);
    }

    /// Records `call` under a fresh token.
    pub(super) fn start(&mut self, call: Pending) -> u64 {
        let token = self.token();
        self.insert(token, call);
        token
    }

    pub(super) fn get(&self, token: u64) -> Option<&Pending> {
        self.pending.get(&token)
    }

    /// Ends the call with this token, whatever it was.
    pub(super) fn take(&mut self, token: u64) -> Option<Pending> {
        self.pending.remove(&token)
    }

    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty()
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

    pub(super) fn get(&mut self, token: u64, key: u64, size: u64) {
        if let Some(seg) = self.table.resolve(key) {
            if !seg.established {
                // Another node's creation round is open: its outcome decides.
                self.calls.awaiting.push((token, key, size));
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
        if self.table.live_count() >= MAX_SEGMENTS || self.calls.next_seq > MAX_SEQ {
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
        self.table.segments.insert(id, seg);
        let waiting: BTreeSet<NodeId> = self.membership.nodes().into_iter().collect();
        let net_token = self.calls.start(Pending::Create {
            kernel: token,
            id,
            size,
            waiting,
            lowest: id,
            established: None,
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

    pub(super) fn on_create_ack(
        &mut self,
        from: NodeId,
        token: u64,
        winner: SegmentInfo,
        established: bool,
    ) {
        self.table.insert_announced(&winner);
        if let Some(Pending::Create {
            waiting,
            lowest,
            established: est,
            ..
        }) = self.calls.pending.get_mut(&token)
        {
            waiting.remove(&from);
            *lowest = (*lowest).min(winner.id);
            if established {
                *est = Some(winner.id);
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
                self.calls
                    .awaiting
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

    /// Answers the rshmget calls whose key now has an established
    /// segment, and asks again for those whose candidates all went away.
    pub(super) fn recheck_awaiting(&mut self) {
        for (token, key, size) in std::mem::take(&mut self.calls.awaiting) {
            match self.table.resolve(key) {
                Some(seg) if !seg.established => self.calls.awaiting.push((token, key, size)),
                _ => self.get(token, key, size),
            }
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

    pub(super) fn on_refs(&mut self, id: RshmId, node: NodeId, count: u32) {
        if let Some(seg) = self.table.get_mut(id) {
            set_refs(seg, node, count);
        }
        self.check_freeable();
    }

    // ---- rshmctl(IPC_RMID) -----------------------------------------------

    pub(super) fn remove(&mut self, token: u64, guest: u64) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        let (id, owner) = (seg.id, seg.owner);
        if owner == self.me {
            self.remove_as_owner(id);
            self.reply(token, Ok(Answer::Done));
            return;
        }
        if !self.membership.is_member(owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        let net_token = self.calls.start(Pending::Remove {
            kernel: token,
            id,
            owner,
        });
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

    /// As owner, a member's rshmctl(IPC_RMID).
    pub(super) fn on_remove(&mut self, from: NodeId, token: u64, id: RshmId) {
        let error = match self.table.get(id) {
            Some(seg) if seg.removed => Some(EIDRM),
            Some(seg) if seg.owner == self.me => None,
            Some(_) => Some(EHOSTDOWN),
            None => Some(EINVAL),
        };
        if error.is_none() {
            self.remove_as_owner(id);
        }
        self.send(from, &Msg::RemoveDone { token, error });
    }

    pub(super) fn on_remove_done(&mut self, token: u64, error: Option<Errno>) {
        if let Some(Pending::Remove { kernel, .. }) = self.calls.take(token) {
            self.reply(kernel, error.map_or(Ok(Answer::Done), Err));
        }
    }

    pub(super) fn on_removed(&mut self, id: RshmId) {
        if let Some(seg) = self.table.get_mut(id) {
            seg.removed = true;
        }
        self.check_freeable();
        self.recheck_awaiting();
    }

    /// Drops the data of removed segments attached nowhere.
    pub(super) fn check_freeable(&mut self) {
        for id in self.table.freeable() {
            self.table.free(id);
            self.event(Event::Freed { id: id.to_guest() });
        }
    }

    // ---- draining and members that leave ---------------------------------

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
    /// segment's new owner (EHOSTDOWN when there is none: no live node has
    /// a copy).
    pub(super) fn restart(&mut self, calls: Vec<Pending>) {
        for call in calls {
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
    }
}

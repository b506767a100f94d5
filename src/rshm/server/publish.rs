//! Publishing (`rshm_changed`), spec "the owner gives the update the next
//! version number and forwards it to every node with a copy".
//! `Publishing` holds the updates this node forwarded as owner and waits
//! acknowledgements for.
//!
//! ```text
//! origin: publish ─► Pending::Publish recorded, then ─Publish{runs, epoch}─►
//!   owner: on_publish ─► forward: version+1, apply, Update{runs, epoch} ─►
//!   every holder and the origin (its echo carries the runs too: its
//!   kernel's twin moves with it, diff.rs) and this node's own kernel
//! holders: on_update: an older epoch is fenced off; apply (server image,
//!   then the kernel between two machine runs: Event::Apply ─►
//!   Request::Applied ─► applied) ─Ack{version}─► owner: ack_from ─►
//!   maybe_published ─Published{version}─► origin: on_published ─► reply
//! not the settled owner: Published{EAGAIN} ─► the origin parks the call
//!   until an owner settles, then sends it there (same deadline)
//! ```
//!
//! Only the settled owner of the segment's current epoch numbers
//! versions. An update that finds a version missing asks for the whole
//! image (`repair`, transfer.rs). A forwarded update whose
//! acknowledgements do not all come by the deadline is answered
//! ETIMEDOUT (the origin's kernel sends those bytes again next time).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::calls::{Parked, Pending};
use super::{Answer, Server};
use crate::abi::{Errno, EAGAIN, EIDRM, EINVAL, ETIMEDOUT};
use crate::rshm::table::ApplyOutcome;
use crate::rshm::wire::{Msg, NodeId, RshmId, Run};

/// An update the owner forwarded and waits acknowledgements for.
struct Forwarded {
    origin: NodeId,
    origin_token: u64,
    waiting: BTreeSet<NodeId>,
    deadline: Instant,
}

/// The updates this node sequenced as owner and not yet acknowledged by
/// every holder, keyed by segment and version.
#[derive(Default)]
pub(super) struct Publishing {
    forwarded: BTreeMap<(RshmId, u64), Forwarded>,
    crash_next_publish: bool,
}

impl Publishing {
    /// No forwarded update waits for an acknowledgement.
    pub(super) fn is_idle(&self) -> bool {
        self.forwarded.is_empty()
    }

    /// Test hook (`Request::CrashDuringNextPublish`).
    pub(super) fn crash_next_publish(&mut self) {
        self.crash_next_publish = true;
    }
}

impl Server {
    /// The kernel's rshm_changed: sequence it here as owner, or send it to
    /// the owner; park it while no owner is settled.
    pub(super) fn publish(&mut self, token: u64, guest: u64, runs: Vec<Run>, deadline: Instant) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        if !seg.runs_fit(&runs) {
            self.reply(token, Err(EINVAL));
            return;
        }
        let (id, owner, epoch, settled) = (seg.id, seg.owner, seg.epoch, seg.settled);
        if owner == self.me && settled {
            if let Err(error) = self.forward(id, self.me, token, runs, deadline) {
                self.reply(token, Err(error));
            }
            return;
        }
        if !settled || !self.membership.is_member(owner) {
            self.calls
                .park(Parked::Publish { token, guest, runs }, deadline);
            return;
        }
        // Recorded before it is sent: a write that fails closes the
        // connection, and the owner's leaving restarts what is recorded.
        let net_token = self.calls.start(Pending::Publish {
            kernel: token,
            id,
            owner,
            runs: runs.clone(),
            deadline,
        });
        self.send(
            owner,
            &Msg::Publish {
                token: net_token,
                id,
                epoch,
                runs,
            },
        );
    }

    /// As owner, a peer's publish.
    pub(super) fn on_publish(
        &mut self,
        from: NodeId,
        token: u64,
        id: RshmId,
        epoch: u64,
        runs: Vec<Run>,
    ) {
        let deadline = self.deadline();
        let result = match self.table.get(id) {
            Some(seg) if seg.removed() => Err(EIDRM),
            Some(seg) if seg.owner != self.me || !seg.settled => Err(EAGAIN),
            Some(seg) if !seg.runs_fit(&runs) => {
                self.log_peer(
                    &format!("node {from}"),
                    &format!("dropped frame from node {from}: runs out of range"),
                );
                Err(EINVAL)
            }
            Some(seg) if epoch > seg.epoch => Err(EAGAIN),
            Some(_) => self.forward(id, from, token, runs, deadline),
            None if self.table.is_collected(id) => Err(EIDRM),
            None => Err(EINVAL),
        };
        if let Err(error) = result {
            self.send(
                from,
                &Msg::Published {
                    token,
                    version: 0,
                    error: Some(error),
                },
            );
        }
    }

    /// As owner: the next version of `id` is `runs` from `origin`; apply
    /// it here and forward it to every holder, the origin and this node's
    /// kernel. The error says why it was refused.
    fn forward(
        &mut self,
        id: RshmId,
        origin: NodeId,
        origin_token: u64,
        runs: Vec<Run>,
        deadline: Instant,
    ) -> Result<(), Errno> {
        let Some(seg) = self.table.get_mut(id) else {
            return Err(EINVAL);
        };
        if seg.removed() {
            return Err(EIDRM);
        }
        let version = seg.version + 1;
        if seg.apply(version, false, &runs) != ApplyOutcome::Applied {
            return Err(EINVAL);
        }
        let epoch = seg.epoch;
        let holders = seg.holders.clone();
        let live = self.live();
        let mut waiting: BTreeSet<NodeId> = holders
            .iter()
            .copied()
            .filter(|&h| h != self.me && live.contains(&h))
            .collect();
        if origin != self.me {
            waiting.insert(origin);
        }
        // This node's kernel applies it too (for its own publish, the echo
        // moves its twin).
        waiting.insert(self.me);
        self.apply_event(id, version, false, runs.clone());
        let crash = std::mem::take(&mut self.publishing.crash_next_publish);
        let me = self.me;
        let targets: Vec<NodeId> = waiting.iter().copied().filter(|&h| h != me).collect();
        // BEGIN SOLUTION rshm-publish
        for (sent, h) in targets.into_iter().enumerate() {
            let msg = Msg::Update {
                id,
                epoch,
                version,
                full: false,
                echo: (h == origin).then_some(origin_token),
                runs: runs.clone(),
            };
            if crash && sent == 1 {
                // Test hook: half a frame, then die (spec: "a node killed in
                // the middle of a publish").
                if let Some(conn) = self.membership.conn_of(h) {
                    let frame_half = 24 + runs.iter().map(|r| r.bytes.len()).sum::<usize>() / 2;
                    let _ = self
                        .membership
                        .write(conn, self.incarnation, &msg, Some(frame_half));
                }
                self.log("crashing in the middle of a publish (test hook)");
                self.running = false;
                self.membership.shut_down_all();
                return Ok(());
            }
            self.send(h, &msg);
        }
        // STUB
        // // docs/spec/rshm.md, rshm_changed: send the update to every holder.
        // let _ = (crash, epoch, version, &runs, origin_token);
        // for h in targets {
        //     waiting.remove(&h); // nobody else hears of it
        // }
        // END SOLUTION rshm-publish
        self.publishing.forwarded.insert(
            (id, version),
            Forwarded {
                origin,
                origin_token,
                waiting,
                deadline,
            },
        );
        self.maybe_published((id, version));
        Ok(())
    }

    /// At a holder (and at the origin, as an echo): the owner's update.
    pub(super) fn on_update(
        &mut self,
        from: NodeId,
        id: RshmId,
        epoch: u64,
        version: u64,
        full: bool,
        runs: Vec<Run>,
    ) {
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        // Only the owner of the current epoch numbers versions; a node that
        // holds no copy takes no update (it never asked for the segment).
        if seg.data.is_none() || seg.removed() {
            return;
        }
        if epoch < seg.epoch || (epoch == seg.epoch && from != seg.owner) {
            let text = format!("dropped update of {id} from node {from}: epoch {epoch} is fenced (epoch {} owner {})", seg.epoch, seg.owner);
            self.log_peer(&format!("node {from}"), &text);
            return;
        }
        if epoch > seg.epoch {
            seg.epoch = epoch;
            seg.owner = from;
            seg.settled = false;
        }
        if full {
            seg.settled = true;
            seg.stale = false;
        }
        match seg.apply(version, full, &runs) {
            ApplyOutcome::Applied => {
                self.apply_event(id, version, full, runs);
                if full {
                    self.retry_parked();
                }
            }
            ApplyOutcome::Stale => self.acked(id, version, from),
            ApplyOutcome::Gap => self.repair(id, from),
            ApplyOutcome::Malformed => {
                self.log_peer(
                    &format!("node {from}"),
                    &format!("dropped update from node {from}: runs do not fit {id}"),
                );
            }
        }
    }

    /// The kernel applied `version` of segment `guest`.
    pub(super) fn applied(&mut self, guest: u64, version: u64) {
        if let Some(seg) = self.table.by_guest(guest) {
            let (id, owner) = (seg.id, seg.owner);
            self.acked(id, version, owner);
        }
    }

    /// This node applied `version` of `id` (and so every earlier one).
    pub(super) fn acked(&mut self, id: RshmId, version: u64, owner: NodeId) {
        if owner != self.me {
            let epoch = self.table.get(id).map_or(0, |s| s.epoch);
            self.send(owner, &Msg::Ack { id, epoch, version });
            return;
        }
        self.ack_from(self.me, id, version);
    }

    /// As owner: `node` applied `version` of `id` (and so every earlier
    /// one).
    pub(super) fn ack_from(&mut self, node: NodeId, id: RshmId, version: u64) {
        let keys: Vec<(RshmId, u64)> = self
            .publishing
            .forwarded
            .range((id, 0)..=(id, version))
            .map(|(k, _)| *k)
            .collect();
        self.stop_waiting(node, keys);
    }

    /// `node` left: the forwarded updates stop waiting for it.
    pub(super) fn publishes_without(&mut self, node: NodeId) {
        let keys: Vec<(RshmId, u64)> = self.publishing.forwarded.keys().copied().collect();
        self.stop_waiting(node, keys);
    }

    /// Forwarded updates past their deadline are answered ETIMEDOUT.
    pub(super) fn expire_forwarded(&mut self) {
        let now = Instant::now();
        let due: Vec<(RshmId, u64)> = self
            .publishing
            .forwarded
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(f) = self.publishing.forwarded.remove(&key) {
                self.answer_origin(f.origin, f.origin_token, Err(ETIMEDOUT));
            }
        }
    }

    /// This node no longer owns anything (it rejoins): the updates it
    /// forwarded are answered ETIMEDOUT.
    pub(super) fn abandon_forwarded(&mut self) {
        for (_, f) in std::mem::take(&mut self.publishing.forwarded) {
            self.answer_origin(f.origin, f.origin_token, Err(ETIMEDOUT));
        }
    }

    fn answer_origin(&mut self, origin: NodeId, token: u64, result: Result<u64, Errno>) {
        if origin == self.me {
            self.reply(token, result.map(Answer::Version));
        } else {
            let (version, error) = match result {
                Ok(v) => (v, None),
                Err(e) => (0, Some(e)),
            };
            self.send(
                origin,
                &Msg::Published {
                    token,
                    version,
                    error,
                },
            );
        }
    }

    /// The forwarded updates `keys` no longer wait for `node`; those that
    /// waited for it last are published. One at a time, because answering
    /// one may close a connection and so change the others.
    fn stop_waiting(&mut self, node: NodeId, keys: Vec<(RshmId, u64)>) {
        for key in keys {
            if let Some(f) = self.publishing.forwarded.get_mut(&key) {
                f.waiting.remove(&node);
            }
            self.maybe_published(key);
        }
    }

    fn maybe_published(&mut self, key: (RshmId, u64)) {
        let Some(f) = self.publishing.forwarded.get(&key) else {
            return;
        };
        if !f.waiting.is_empty() {
            return;
        }
        let (origin, token) = (f.origin, f.origin_token);
        self.publishing.forwarded.remove(&key);
        self.answer_origin(origin, token, Ok(key.1));
    }

    /// At the origin: the owner's answer to our publish.
    pub(super) fn on_published(&mut self, token: u64, version: u64, error: Option<Errno>) {
        let Some(Pending::Publish {
            kernel,
            id,
            runs,
            deadline,
            ..
        }) = self.calls.take(token)
        else {
            return;
        };
        if error == Some(EAGAIN) {
            // Not the settled owner (any more): wait for the one that is.
            let guest = id.to_guest();
            self.calls.park(
                Parked::Publish {
                    token: kernel,
                    guest,
                    runs,
                },
                deadline,
            );
            return;
        }
        self.reply(kernel, error.map_or(Ok(Answer::Version(version)), Err));
    }
}

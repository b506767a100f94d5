//! Ownership after an owner leaves (docs/spec/rshm.md: "if the owner stops, the
//! remaining node with a copy and the lowest id becomes the owner, takes
//! the highest version among the copies, and sends it to the others"),
//! decided once per *epoch* and acknowledged by every member.
//!
//! ```text
//! member_left ─► owner_left: the segment is unsettled; the lowest live
//!   holder (this node's view) ─► claim: epoch+1 ─Takeover─► every member
//! members: on_takeover: a higher epoch, or the same epoch from a lower
//!   node, is accepted (a lower holder contests with its own claim),
//!   unless this member settled that epoch under another live owner
//!   ─TakeoverAck{accepted, version, holder}─► claimant: on_takeover_ack
//! all answered (or the deadline) ─► maybe_elected ─┬► ImageQuery ─► best
//!                                                  │  holder ─ImageIs─►
//!                                                  └► settle: Update{full,
//!                                                     epoch} ─► holders
//! Server::message ─► defer_early: a call or claim about a segment whose
//!   owner is still live here waits ─► retry_deferred (tick, member_left)
//! ```
//!
//! Why this loses no acknowledged publish: a publish is acknowledged only
//! once every live holder applied it, and the new owner is a live holder
//! (or became one after it, from an image that had it), so its own image
//! has every acknowledged version; asking the others only keeps versions
//! that reached some holders and were never acknowledged. A claimant that
//! sees a better claim (higher epoch, or same epoch and lower id) gives
//! up; a claim that stalls is made again in a later epoch; a node that
//! rejoins gives up all of its claims (membership.rs `rejoin`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Server;
use crate::rshm::table::ApplyOutcome;
use crate::rshm::wire::{Msg, NodeId, RshmId, Run};

/// A claim this node makes as the new owner.
struct Claim {
    epoch: u64,
    /// The segment's owner and epoch before this claim, back in the table
    /// if the claim is abandoned.
    before: (NodeId, u64),
    waiting: BTreeSet<NodeId>,
    /// The highest version heard of, and who holds it.
    best: (u64, NodeId),
    /// Asking `best` for its image.
    fetching: bool,
    deadline: Instant,
}

/// The claims in progress here and the messages deferred until this node
/// sees the old owner leave.
#[derive(Default)]
pub(super) struct Elections {
    running: BTreeMap<RshmId, Claim>,
    /// Messages that reached this node before it saw the old owner leave
    /// (see `defer_early`): when they came, from whom, what.
    deferred: Vec<(Instant, NodeId, Msg)>,
}

impl Elections {
    /// No claim waits for an answer.
    pub(super) fn is_idle(&self) -> bool {
        self.running.is_empty()
    }
}

impl Server {
    /// `id`'s owner left: unsettled until a claim settles; this node
    /// claims when it is the lowest live holder it knows of.
    pub(super) fn owner_left(&mut self, id: RshmId) {
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        if seg.removed() {
            // A removed segment needs no sequencing: nobody waits on it.
            seg.settled = true;
            return;
        }
        seg.settled = false;
        self.consider_claim(id);
    }

    /// Claims `id` if this node is the lowest live holder and nobody
    /// claimed it in a newer epoch.
    fn consider_claim(&mut self, id: RshmId) {
        let live = self.live();
        let Some(seg) = self.table.get(id) else {
            return;
        };
        if seg.settled
            || seg.removed()
            || seg.data.is_none()
            || self.elections.running.contains_key(&id)
            || !self.membership.settled()
        {
            // A node that has not heard from its peers yet (it started or
            // rejoined) has no view to claim with: `retry_elections` asks
            // again.
            return;
        }
        let mut holders: BTreeSet<NodeId> = seg
            .holders
            .iter()
            .copied()
            .filter(|h| live.contains(h))
            .collect();
        holders.insert(self.me);
        // The owner may be live (a claim of it is in progress elsewhere).
        if seg.owner != self.me && live.contains(&seg.owner) {
            return;
        }
        if holders.first() == Some(&self.me) {
            let epoch = seg.epoch + 1;
            self.claim(id, epoch);
        }
    }

    /// Claims `id` in `epoch`: every member is asked to accept.
    fn claim(&mut self, id: RshmId, epoch: u64) {
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        let before = (seg.owner, seg.epoch);
        seg.owner = self.me;
        seg.epoch = epoch;
        seg.settled = false;
        let version = seg.version;
        let waiting: BTreeSet<NodeId> = self.membership.nodes().into_iter().collect();
        self.log(&format!(
            "claiming {id} in epoch {epoch} (version {version}), asking {} members",
            waiting.len()
        ));
        for &n in &waiting {
            self.send(n, &Msg::Takeover { id, epoch });
        }
        let deadline = Instant::now() + self.membership.timeout();
        self.elections.running.insert(
            id,
            Claim {
                epoch,
                before,
                waiting,
                best: (version, self.me),
                fetching: false,
                deadline,
            },
        );
        self.maybe_elected(id);
    }

    /// Claims stay unsettled until their own decision (a hello that agrees
    /// with the claim does not settle it).
    pub(super) fn keep_claims_unsettled(&mut self) {
        let ids: Vec<RshmId> = self.elections.running.keys().copied().collect();
        for id in ids {
            if let Some(seg) = self.table.get_mut(id) {
                seg.settled = false;
            }
        }
    }

    fn maybe_elected(&mut self, id: RshmId) {
        let Some(c) = self.elections.running.get(&id) else {
            return;
        };
        if !c.waiting.is_empty() {
            return;
        }
        let (version, from, epoch) = (c.best.0, c.best.1, c.epoch);
        if from != self.me && !c.fetching {
            // Wait for its image (answered with ImageIs).
            self.send(from, &Msg::ImageQuery { id, epoch });
            if let Some(c) = self.elections.running.get_mut(&id) {
                c.waiting.insert(from);
                c.fetching = true;
            }
            return;
        }
        self.elections.running.remove(&id);
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        seg.settled = true;
        seg.stale = false;
        let runs = seg.image_runs();
        let version = seg.version.max(version);
        seg.version = version;
        let me = self.me;
        let holders: Vec<NodeId> = seg.holders.iter().copied().filter(|&h| h != me).collect();
        self.log(&format!(
            "owner of {id} in epoch {epoch}: re-sending version {version} to its holders"
        ));
        for &h in &holders {
            self.send(
                h,
                &Msg::Update {
                    id,
                    epoch,
                    version,
                    full: true,
                    echo: None,
                    runs: runs.clone(),
                },
            );
        }
        // The members without a copy waited for the claim too.
        for n in self.membership.nodes() {
            if !holders.contains(&n) {
                self.send(n, &Msg::Owner { id, epoch });
            }
        }
        self.retry_parked();
        self.retry_deferred(true);
    }

    /// `node` left: the claims stop waiting for it, and one that counted
    /// on its image falls back to this node's. Segments a claimant that
    /// left was settling are considered again.
    pub(super) fn elections_without(&mut self, node: NodeId) {
        let ids: Vec<RshmId> = self.elections.running.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.elections.running.get_mut(&id) {
                c.waiting.remove(&node);
                if c.best.1 == node {
                    let mine = self.table.get(id).map_or(0, |s| s.version);
                    c.best = (mine, self.me);
                    c.fetching = false;
                }
            }
            self.maybe_elected(id);
        }
    }

    /// Claims past their deadline go on with the answers they have (every
    /// acknowledged version is in this node's image already); unsettled
    /// segments nobody claims are considered again.
    pub(super) fn retry_elections(&mut self) {
        let now = Instant::now();
        let due: Vec<RshmId> = self
            .elections
            .running
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if let Some(c) = self.elections.running.get_mut(&id) {
                c.waiting.clear();
                if c.fetching {
                    let mine = self.table.get(id).map_or(0, |s| s.version);
                    c.best = (mine, self.me);
                }
            }
            self.maybe_elected(id);
        }
        let live = self.live();
        let unsettled: Vec<RshmId> = self
            .table
            .segments()
            .filter(|s| !s.settled && !s.removed() && s.data.is_some() && !live.contains(&s.owner))
            .map(|s| s.id)
            .collect();
        for id in unsettled {
            self.consider_claim(id);
        }
    }

    /// This node rejoins as a new member: it claims nothing any more.
    ///
    /// A claim set this node as the owner in its epoch before anyone
    /// agreed: that goes back to what it was, or this node's table would
    /// keep the abandoned claim and, as the lower id of that epoch, outrank
    /// the claim that did win there (seen after a pause: a node claimed,
    /// was dropped meanwhile, rejoined, and then refused the real owner's
    /// updates for good).
    pub(super) fn abandon_elections(&mut self) {
        for (id, claim) in std::mem::take(&mut self.elections.running) {
            if let Some(seg) = self.table.get_mut(id) {
                if (seg.owner, seg.epoch) == (self.me, claim.epoch) {
                    (seg.owner, seg.epoch) = claim.before;
                }
            }
        }
        self.elections.deferred.clear();
    }

    // ---- claims, at every member -----------------------------------------

    pub(super) fn on_takeover(&mut self, from: NodeId, id: RshmId, epoch: u64) {
        let Some(seg) = self.table.get(id) else {
            return;
        };
        let better = seg.outranked_by(epoch, from);
        let holds = seg.data.is_some() && !seg.removed();
        let (cur_owner, cur_epoch, version, settled) =
            (seg.owner, seg.epoch, seg.version, seg.settled);
        if better
            && holds
            && self.me < from
            && epoch == cur_epoch + 1
            && !self.elections.running.contains_key(&id)
            && cur_owner != self.me
        {
            // This node holds a copy and has the lower id: it contests in
            // the same epoch, and its claim wins everywhere.
            self.claim(id, epoch);
            self.send(
                from,
                &Msg::TakeoverAck {
                    id,
                    epoch,
                    accepted: false,
                    owner: self.me,
                    version,
                    holder: true,
                },
            );
            return;
        }
        // The epoch is decided already: its owner here is live and settled
        // (this node is that owner, or took its full image), which only
        // happens once every member the owner asked agreed, a lower
        // contestant included. A claim from a node that missed that (it
        // was paused, and dropped) must not take the epoch over: refused,
        // it gives up (`on_takeover_ack`).
        let decided = !better
            || (epoch == cur_epoch
                && settled
                && cur_owner != from
                && self.live().contains(&cur_owner));
        if decided {
            self.send(
                from,
                &Msg::TakeoverAck {
                    id,
                    epoch: cur_epoch,
                    accepted: false,
                    owner: cur_owner,
                    version,
                    holder: holds,
                },
            );
            return;
        }
        // Accepted: a claim of ours in an older epoch or from a higher id
        // gives way.
        self.elections.running.remove(&id);
        if let Some(seg) = self.table.get_mut(id) {
            seg.owner = from;
            seg.epoch = epoch;
            seg.settled = false;
        }
        self.send(
            from,
            &Msg::TakeoverAck {
                id,
                epoch,
                accepted: true,
                owner: from,
                version,
                holder: holds,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_takeover_ack(
        &mut self,
        from: NodeId,
        id: RshmId,
        epoch: u64,
        accepted: bool,
        owner: NodeId,
        version: u64,
        holder: bool,
    ) {
        let Some(c) = self.elections.running.get_mut(&id) else {
            return;
        };
        if accepted && epoch == c.epoch {
            c.waiting.remove(&from);
            if holder && version > c.best.0 {
                c.best = (version, from);
            }
            self.maybe_elected(id);
            return;
        }
        if accepted {
            return;
        }
        // Refused: a better claim (or owner) exists — give way to it. In
        // this claim's own epoch, any other owner named is better: it is
        // a lower claimant, or one that won the epoch already.
        let outranked = self
            .table
            .get(id)
            .is_some_and(|s| s.outranked_by(epoch, owner) || epoch == c.epoch);
        if outranked && owner != self.me {
            self.elections.running.remove(&id);
            if let Some(seg) = self.table.get_mut(id) {
                seg.owner = owner;
                seg.epoch = epoch;
                seg.settled = false;
            }
            self.log(&format!(
                "gave up claiming {id}: node {owner} owns it in epoch {epoch}"
            ));
        } else if let Some(c) = self.elections.running.get_mut(&id) {
            // It follows a claim ours outranks: count it as an answer.
            c.waiting.remove(&from);
            if holder && version > c.best.0 {
                c.best = (version, from);
            }
            self.maybe_elected(id);
        }
    }

    /// A claim settled: the claimant owns `id` in `epoch` now, and does not
    /// count this node among its holders (so it sent no image).
    pub(super) fn on_owner(&mut self, from: NodeId, id: RshmId, epoch: u64) {
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        let same = seg.owner == from && seg.epoch == epoch;
        if !same && !seg.outranked_by(epoch, from) {
            return;
        }
        seg.owner = from;
        seg.epoch = epoch;
        seg.settled = true;
        // The owner sends `Owner` to the members it does not count among
        // its holders: it will send this node no update. A copy here is
        // fetched, which makes this node a holder there.
        seg.mark_stale();
        self.retry_parked();
        self.refresh_stale_copies();
    }

    pub(super) fn on_image_query(&mut self, from: NodeId, id: RshmId, epoch: u64) {
        let (version, runs) = match self.table.get(id) {
            Some(s) if s.owner == from && s.epoch == epoch => {
                (s.version, s.data.as_ref().map(|_| s.image_runs()))
            }
            Some(s) => (s.version, None),
            None => (0, None),
        };
        self.send(
            from,
            &Msg::ImageIs {
                id,
                epoch,
                version,
                runs,
            },
        );
    }

    /// The best holder's image: taken as ours, then the claim settles.
    pub(super) fn on_image_is(
        &mut self,
        from: NodeId,
        id: RshmId,
        epoch: u64,
        version: u64,
        runs: Option<Vec<Run>>,
    ) {
        let Some(c) = self.elections.running.get_mut(&id) else {
            return;
        };
        if epoch != c.epoch || !c.fetching {
            return;
        }
        c.waiting.remove(&from);
        let mine = self.table.get(id).map_or(0, |s| s.version);
        c.best = (mine, self.me);
        if let (Some(runs), Some(seg)) = (runs, self.table.get_mut(id)) {
            if version > seg.version && seg.apply(version, true, &runs) == ApplyOutcome::Applied {
                if let Some(c) = self.elections.running.get_mut(&id) {
                    c.best = (version, self.me);
                }
                self.apply_event(id, version, true, runs);
            }
        }
        self.maybe_elected(id);
    }

    // ---- calls that come before this node knows it owns ------------------

    /// A call or claim about a segment whose owner this node still
    /// believes alive comes from a node that already dropped that owner
    /// (each node notices a silent peer on its own clock). It waits until
    /// this node sees the owner leave too (`member_left`), or for one
    /// heartbeat timeout; then it is handled as it stands. A publish that
    /// reaches this node while it settles a claim waits for the claim.
    pub(super) fn defer_early(&mut self, from: NodeId, msg: Msg) -> Option<Msg> {
        let (Msg::Publish { id, .. }
        | Msg::Fetch { id, .. }
        | Msg::Remove { id, .. }
        | Msg::Takeover { id, .. }) = &msg
        else {
            return Some(msg);
        };
        let claiming =
            self.elections.running.contains_key(id) && !matches!(msg, Msg::Takeover { .. });
        let early = claiming
            || self.table.get(*id).is_some_and(|seg| {
                seg.owner != self.me
                    && seg.owner != from
                    && !seg.removed()
                    && self.membership.is_member(seg.owner)
            });
        if !early || self.elections.deferred.iter().any(|d| d.2 == msg) {
            return Some(msg);
        }
        if self.elections.deferred.len() >= 4096 {
            return Some(msg);
        }
        self.elections.deferred.push((Instant::now(), from, msg));
        None
    }

    /// Handles the deferred messages again: all of them after a member
    /// left or a claim settled, else those older than the timeout
    /// (handled as they stand).
    pub(super) fn retry_deferred(&mut self, all: bool) {
        let now = Instant::now();
        let timeout = self.membership.timeout();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.elections.deferred)
            .into_iter()
            .partition(|d| all || now.duration_since(d.0) > timeout);
        self.elections.deferred = keep;
        for (at, from, msg) in due {
            if !self.membership.is_member(from) {
                continue;
            }
            let expired = now.duration_since(at) > timeout;
            if expired {
                // Mark it so that `defer_early` lets it through.
                self.elections.deferred.push((at, from, msg.clone()));
                self.message(from, msg);
                self.elections.deferred.retain(|d| d.0 != at || d.1 != from);
            } else {
                self.message(from, msg);
            }
        }
    }
}

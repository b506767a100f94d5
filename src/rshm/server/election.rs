//! Ownership after an owner leaves (spec/rshm.md: "if the owner stops, the
//! remaining node with a copy and the lowest id becomes the owner, takes
//! the highest version among the copies, and sends it to the others").
//! `Elections` holds the re-elections this node runs as the new owner and
//! the calls that reached it before it knew it owns the segment.
//!
//! ```text
//! member_left ─► elect ─► VersionQuery ─► holders
//!   holders: on_version_query ─► VersionIs{version}
//! on_version_is ─► maybe_elected ─┬► ImageQuery ─► best holder
//!                                 │    on_image_query ─► VersionIs{data}
//!                                 └► Update{full} ─► every holder
//! Server::message ─► defer_early: a call for a segment whose owner is
//!                    still live here waits ─► retry_deferred (tick,
//!                    member_left)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Server;
use crate::rshm::table::{image_to_pages, ApplyOutcome};
use crate::rshm::wire::{Msg, NodeId, RshmId};

/// A re-election this node runs as the new owner.
struct Election {
    waiting: BTreeSet<NodeId>,
    /// The highest version heard of, and who holds it.
    best: (u64, NodeId),
}

/// The re-elections in progress here and the calls deferred until this
/// node sees the old owner leave.
#[derive(Default)]
pub(super) struct Elections {
    running: BTreeMap<RshmId, Election>,
    /// Calls that reached this node as the new owner before it saw the old
    /// owner leave (see `defer_early`): when they came, from whom, what.
    deferred: Vec<(Instant, NodeId, Msg)>,
}

impl Elections {
    /// No re-election waits for an answer.
    pub(super) fn is_idle(&self) -> bool {
        self.running.is_empty()
    }
}

impl Server {
    /// `id`'s owner left: the table names the new one. When that is this
    /// node, ask every live holder for its version.
    pub(super) fn elect(&mut self, id: RshmId, live: &BTreeSet<NodeId>) {
        let Some(new_owner) = self.table.elect(id, live) else {
            return;
        };
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        seg.owner = new_owner;
        if new_owner != self.me || seg.freed {
            return;
        }
        let version = seg.version;
        let waiting: BTreeSet<NodeId> = seg
            .holders
            .iter()
            .copied()
            .filter(|&h| h != self.me && live.contains(&h))
            .collect();
        self.log(&format!(
            "owner of {id} now (version {version}), asking {} holders for theirs",
            waiting.len()
        ));
        for &h in &waiting {
            self.send(h, &Msg::VersionQuery { id });
        }
        self.elections.running.insert(
            id,
            Election {
                waiting,
                best: (version, self.me),
            },
        );
        self.maybe_elected(id);
    }

    fn maybe_elected(&mut self, id: RshmId) {
        let Some(e) = self.elections.running.get(&id) else {
            return;
        };
        if !e.waiting.is_empty() {
            return;
        }
        let (version, from) = e.best;
        if from != self.me {
            // Wait for its image (answered with VersionIs { data }).
            self.send(from, &Msg::ImageQuery { id });
            if let Some(e) = self.elections.running.get_mut(&id) {
                e.waiting.insert(from);
            }
            return;
        }
        self.elections.running.remove(&id);
        let Some(seg) = self.table.get(id) else {
            return;
        };
        let pages = seg.image_pages();
        self.log(&format!(
            "re-sending {id} at version {version} to its holders"
        ));
        let holders: Vec<NodeId> = seg
            .holders
            .iter()
            .copied()
            .filter(|&h| h != self.me)
            .collect();
        for h in holders {
            self.send(
                h,
                &Msg::Update {
                    id,
                    version,
                    full: true,
                    echo: None,
                    pages: pages.clone(),
                },
            );
        }
    }

    /// `node` left: the elections stop waiting for it, and one that counted
    /// on its image falls back to this node's.
    pub(super) fn elections_without(&mut self, node: NodeId) {
        let ids: Vec<RshmId> = self.elections.running.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.elections.running.get_mut(&id) {
                e.waiting.remove(&node);
                if e.best.1 == node {
                    e.best = (0, self.me);
                }
            }
            self.maybe_elected(id);
        }
    }

    // ---- a new owner's questions, at the holders ------------------------

    pub(super) fn on_version_query(&mut self, from: NodeId, id: RshmId) {
        let version = self.table.get(id).map_or(0, |s| s.version);
        self.send(
            from,
            &Msg::VersionIs {
                id,
                version,
                data: None,
            },
        );
    }

    pub(super) fn on_image_query(&mut self, from: NodeId, id: RshmId) {
        let (version, data) = self
            .table
            .get(id)
            .map_or((0, None), |s| (s.version, s.data.clone()));
        self.send(from, &Msg::VersionIs { id, version, data });
    }

    // ---- their answers, at the new owner ---------------------------------

    pub(super) fn on_version_is(
        &mut self,
        from: NodeId,
        id: RshmId,
        version: u64,
        data: Option<Vec<u8>>,
    ) {
        let Some(e) = self.elections.running.get_mut(&id) else {
            return;
        };
        e.waiting.remove(&from);
        if let Some(data) = data {
            // The image of the best holder: take it as ours.
            let pages = image_to_pages(&data);
            if let Some(seg) = self.table.get_mut(id) {
                if data.len() as u64 == seg.size
                    && seg.apply(version, true, &pages) == ApplyOutcome::Applied
                {
                    self.apply_event(id, version, true, pages);
                }
            }
            if let Some(e) = self.elections.running.get_mut(&id) {
                e.best = (version, self.me);
            }
        } else if version > e.best.0 {
            e.best = (version, from);
        }
        self.maybe_elected(id);
    }

    // ---- calls that come before this node knows it owns ------------------

    /// A call for a segment whose owner this node still believes alive
    /// comes from a node that already dropped that owner and elected this
    /// one (each node notices a silent peer on its own clock). Such a call
    /// waits until this node sees the owner leave too (`member_left`), or
    /// for one heartbeat timeout; then it is handled as it stands.
    pub(super) fn defer_early(&mut self, from: NodeId, msg: Msg) -> Option<Msg> {
        let (Msg::Publish { id, .. } | Msg::Fetch { id, .. } | Msg::Remove { id, .. }) = &msg
        else {
            return Some(msg);
        };
        let early = self.table.get(*id).is_some_and(|seg| {
            seg.owner != self.me
                && seg.owner != from
                && !seg.removed
                && self.membership.is_member(seg.owner)
        });
        if !early || self.elections.deferred.iter().any(|d| d.2 == msg) {
            return Some(msg);
        }
        self.elections.deferred.push((Instant::now(), from, msg));
        None
    }

    /// Handles the deferred calls again: all of them after a member left,
    /// else those older than the timeout (handled as they stand).
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
            if all {
                self.message(from, msg);
            } else {
                // Expired: mark it so that `defer_early` lets it through.
                self.elections.deferred.push((at, from, msg.clone()));
                self.message(from, msg);
                self.elections.deferred.retain(|d| d.0 != at || d.1 != from);
            }
        }
    }
}

//! Publishing (`rshm_changed`), spec "the owner gives the update the next
//! version number and forwards it to every node with a copy".
//! `Publishing` holds the updates this node forwarded as owner and waits
//! acknowledgements for.
//!
//! ```text
//! origin: publish ─Publish{pages}─► owner: on_publish ─► forward:
//!   version+1, apply, Update{pages} ─► holders (the origin gets an echo
//!   without pages; a publish of the owner's own kernel skips the wire)
//! holders: on_update: apply (server image, then the kernel between two
//!   machine runs: Event::Apply ─► Request::Applied ─► applied)
//!   ─Ack{version}─► owner: ack_from ─► maybe_published
//!   ─Published{version}─► origin: on_published ─► the caller's reply
//! ```
//!
//! An update that finds a version missing asks for the whole image
//! (`repair`, transfer.rs).

use std::collections::{BTreeMap, BTreeSet};

use super::calls::Pending;
use super::{Answer, Event, Server};
use crate::abi::{Errno, EHOSTDOWN, EIDRM, EINVAL};
use crate::rshm::table::ApplyOutcome;
use crate::rshm::wire::{Msg, NodeId, Page, RshmId, PAGE_BYTES};

/// An update the owner forwarded and waits acknowledgements for.
struct Forwarded {
    origin: NodeId,
    origin_token: u64,
    waiting: BTreeSet<NodeId>,
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
    /// the owner.
    pub(super) fn publish(&mut self, token: u64, guest: u64, pages: Vec<Page>) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        if !seg.pages_fit(&pages) {
            self.reply(token, Err(EINVAL));
            return;
        }
        let (id, owner) = (seg.id, seg.owner);
        if owner == self.me {
            match self.forward(id, self.me, token, pages) {
                Ok(()) => self.event(Event::Sequenced { token }),
                Err(error) => self.reply(token, Err(error)),
            }
            return;
        }
        if !self.membership.is_member(owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        let net_token = self.calls.token();
        self.send(
            owner,
            &Msg::Publish {
                token: net_token,
                id,
                pages: pages.clone(),
            },
        );
        self.calls.insert(
            net_token,
            Pending::Publish {
                kernel: token,
                id,
                owner,
                pages,
            },
        );
    }

    /// As owner, a peer's publish.
    pub(super) fn on_publish(&mut self, from: NodeId, token: u64, id: RshmId, pages: Vec<Page>) {
        let result = match self.table.get(id) {
            Some(seg) if seg.owner != self.me => Err(EHOSTDOWN),
            Some(seg) if !seg.pages_fit(&pages) => {
                self.log(&format!(
                    "dropped frame from node {from}: pages out of range"
                ));
                Err(EINVAL)
            }
            _ => self.forward(id, from, token, pages),
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

    /// As owner: the next version of `id` is `pages` from `origin`; apply
    /// it here and forward it to every holder. The error says why it was
    /// refused.
    fn forward(
        &mut self,
        id: RshmId,
        origin: NodeId,
        origin_token: u64,
        pages: Vec<Page>,
    ) -> Result<(), Errno> {
        let Some(seg) = self.table.get_mut(id) else {
            return Err(EINVAL);
        };
        if seg.removed {
            return Err(EIDRM);
        }
        let version = seg.version + 1;
        if seg.apply(version, false, &pages) != ApplyOutcome::Applied {
            return Err(EINVAL);
        }
        let holders = seg.holders.clone();
        let live = self.live();
        let mut waiting: BTreeSet<NodeId> = holders
            .iter()
            .copied()
            .filter(|&h| h != self.me && live.contains(&h))
            .collect();
        if origin != self.me {
            waiting.insert(origin);
            // The owner's own kernel applies it too.
            waiting.insert(self.me);
            self.apply_event(id, version, false, pages.clone());
        }
        let crash = std::mem::take(&mut self.publishing.crash_next_publish);
        let me = self.me;
        let targets: Vec<NodeId> = waiting.iter().copied().filter(|&h| h != me).collect();
        for (sent, h) in targets.into_iter().enumerate() {
            let msg = Msg::Update {
                id,
                version,
                full: false,
                echo: (h == origin).then_some(origin_token),
                pages: if h == origin {
                    Vec::new()
                } else {
                    pages.clone()
                },
            };
            if crash && sent == 1 {
                // Test hook: half a frame, then die (spec: "a node killed in
                // the middle of a publish").
                if let Some(conn) = self.membership.conn_of(h) {
                    let _ = self.membership.write(conn, &msg, Some(PAGE_BYTES / 2));
                }
                self.log("crashing in the middle of a publish (test hook)");
                self.running = false;
                self.membership.shut_down_all();
                return Ok(());
            }
            self.send(h, &msg);
        }
        self.publishing.forwarded.insert(
            (id, version),
            Forwarded {
                origin,
                origin_token,
                waiting,
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
        version: u64,
        full: bool,
        echo: Option<u64>,
        pages: Vec<Page>,
    ) {
        let Some(seg) = self.table.get_mut(id) else {
            self.log(&format!("dropped update from node {from}: unknown {id}"));
            return;
        };
        if full && from != seg.owner {
            seg.owner = from;
        }
        let owner = seg.owner;
        if let Some(token) = echo {
            // Our own publish, sequenced: its pages are already in our
            // kernel's frames; bring the server's image up to date.
            let mine = match self.calls.get(token) {
                Some(Pending::Publish { pages, kernel, .. }) => {
                    self.event(Event::Sequenced { token: *kernel });
                    pages.clone()
                }
                _ => Vec::new(),
            };
            let Some(seg) = self.table.get_mut(id) else {
                return;
            };
            match seg.apply(version, false, &mine) {
                ApplyOutcome::Gap => self.repair(id, owner),
                _ => self.acked(id, version, owner),
            }
            return;
        }
        match seg.apply(version, full, &pages) {
            ApplyOutcome::Applied => self.apply_event(id, version, full, pages),
            ApplyOutcome::Stale => self.acked(id, version, owner),
            ApplyOutcome::Gap => self.repair(id, owner),
            ApplyOutcome::Malformed => {
                self.log(&format!(
                    "dropped update from node {from}: pages do not fit {id}"
                ));
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
            self.send(owner, &Msg::Ack { id, version });
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
        if origin == self.me {
            self.reply(token, Ok(Answer::Version(key.1)));
        } else {
            self.send(
                origin,
                &Msg::Published {
                    token,
                    version: key.1,
                    error: None,
                },
            );
        }
    }

    /// At the origin: the owner's answer to our publish.
    pub(super) fn on_published(&mut self, token: u64, version: u64, error: Option<Errno>) {
        if let Some(Pending::Publish { kernel, .. }) = self.calls.take(token) {
            self.reply(kernel, error.map_or(Ok(Answer::Version(version)), Err));
        }
    }
}

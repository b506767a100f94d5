//! Whole images: a node that has no copy of a segment, missed a version,
//! or rejoined with a copy from before, fetches the owner's image and
//! becomes a holder. No state of its own: a fetch in flight is a
//! `Pending::Fetch` of the calls table (calls.rs), the holders are the
//! table's.
//!
//! ```text
//! kernel: Request::Attach ─► attach ─┬► the image is here: Answer::Attached
//!                                    ├► fetch ─Fetch─► owner
//!                                    └► no settled owner yet: parked
//! on_update finds a gap, rejoin left a stale copy ─► repair ─► fetch
//! owner: on_fetch ─Image─► the asker, ─Holder─► every member
//!        (not the settled owner: Image { error: EAGAIN }, the asker parks)
//! asker: on_image ─► apply ─► Answer::Attached (attach) or Event::Apply
//!                             (repair)
//! ```

use std::time::Instant;

use super::calls::{Parked, Pending};
use super::{Answer, Server};
use crate::abi::{Errno, EAGAIN, EHOSTDOWN, EIDRM, EINVAL};
use crate::rshm::table::ApplyOutcome;
use crate::rshm::wire::{Msg, NodeId, RshmId, Run};

impl Server {
    /// rshmat: answer at once when this node holds the image, else fetch
    /// it from the owner.
    pub(super) fn attach(&mut self, token: u64, guest: u64, need_data: bool, deadline: Instant) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        if seg.data.is_some() && !seg.stale {
            let answer = Answer::Attached {
                size: seg.size,
                version: seg.version,
                data: need_data.then(|| seg.data.clone()).flatten(),
            };
            self.reply(token, Ok(answer));
            return;
        }
        let (id, owner, settled) = (seg.id, seg.owner, seg.settled);
        let owner_live = self.membership.is_member(owner);
        // The live owner always has the image, even when this node's table
        // lists it as no holder: a row learned from a third node before
        // this node connected to the creator keeps only the holders that
        // were live here then.
        // Without either, a configured peer that is not a member yet may
        // join any moment with a copy (just after a start): the call then
        // waits for one, up to its deadline, as it waits for an owner.
        if !owner_live && self.no_live_holder(id) && !self.membership.missing_peers() {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        if !settled || !owner_live {
            self.calls.park(
                Parked::Attach {
                    token,
                    guest,
                    need_data,
                },
                deadline,
            );
            return;
        }
        self.fetch(Some((token, need_data)), id, owner, deadline);
    }

    /// Fetches a whole image after a missing version.
    pub(super) fn repair(&mut self, id: RshmId, owner: NodeId) {
        let deadline = self.deadline();
        self.fetch(None, id, owner, deadline);
    }

    /// Copies that predate this node's rejoin are fetched again once their
    /// owner is a settled member (or kept when this node is the owner).
    pub(super) fn refresh_stale_copies(&mut self) {
        let stale: Vec<(RshmId, NodeId)> = self
            .table
            .segments()
            .filter(|s| s.stale && s.settled && !s.removed())
            .map(|s| (s.id, s.owner))
            .collect();
        for (id, owner) in stale {
            if owner != self.me && !self.membership.is_member(owner) {
                continue;
            }
            if let Some(seg) = self.table.get_mut(id) {
                seg.stale = false;
            }
            if owner != self.me {
                self.repair(id, owner);
            }
        }
    }

    /// Asks `owner` for the image of `id`; `kernel` is the attach call
    /// waiting for it (None: a gap repair).
    fn fetch(&mut self, kernel: Option<(u64, bool)>, id: RshmId, owner: NodeId, deadline: Instant) {
        let token = self.calls.start(Pending::Fetch {
            kernel,
            id,
            owner,
            deadline,
        });
        self.send(owner, &Msg::Fetch { token, id });
    }

    /// As owner: send the image, and tell every member that `from` holds
    /// a copy now.
    pub(super) fn on_fetch(&mut self, from: NodeId, token: u64, id: RshmId) {
        let (epoch, version, runs, error) = match self.table.get(id) {
            Some(seg) if seg.removed() => (0, 0, Vec::new(), Some(EIDRM)),
            Some(seg) if seg.owner == self.me && seg.settled => match &seg.data {
                Some(_) => (seg.epoch, seg.version, seg.image_runs(), None),
                None => (0, 0, Vec::new(), Some(EHOSTDOWN)),
            },
            Some(_) => (0, 0, Vec::new(), Some(EAGAIN)),
            None if self.table.is_collected(id) => (0, 0, Vec::new(), Some(EIDRM)),
            None => (0, 0, Vec::new(), Some(EINVAL)),
        };
        self.send(
            from,
            &Msg::Image {
                token,
                id,
                epoch,
                version,
                runs,
                error,
            },
        );
        if error.is_none() {
            if let Some(seg) = self.table.get_mut(id) {
                seg.holders.insert(from);
            }
            self.multicast(&Msg::Holder { id, node: from });
        }
    }

    pub(super) fn on_holder(&mut self, from: NodeId, id: RshmId, node: NodeId) {
        let live = self.live();
        if let Some(seg) = self.table.get_mut(id) {
            // The owner says who fetched from it; a node may say it of itself.
            if (seg.owner == from || node == from) && live.contains(&node) {
                seg.holders.insert(node);
            }
        }
    }

    /// The owner's answer to `fetch`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_image(
        &mut self,
        from: NodeId,
        token: u64,
        id: RshmId,
        epoch: u64,
        version: u64,
        runs: Vec<Run>,
        error: Option<Errno>,
    ) {
        let Some(Pending::Fetch {
            kernel, deadline, ..
        }) = self.calls.take(token)
        else {
            return;
        };
        if let Some(error) = error {
            match (kernel, error) {
                (Some((k, need_data)), EAGAIN) => self.calls.park(
                    Parked::Attach {
                        token: k,
                        guest: id.to_guest(),
                        need_data,
                    },
                    deadline,
                ),
                (Some((k, _)), e) => self.reply(k, Err(e)),
                // A repair the owner could not serve: try when it settles.
                (None, _) => {
                    if let Some(seg) = self.table.get_mut(id) {
                        seg.mark_stale();
                    }
                }
            }
            return;
        }
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        if seg.outranked_by(epoch, from) || (seg.owner == from && seg.epoch == epoch) {
            seg.owner = from;
            seg.epoch = epoch;
            seg.settled = true;
        }
        let outcome = seg.apply(version, true, &runs);
        if outcome == ApplyOutcome::Malformed {
            self.log_peer(
                &format!("node {from}"),
                &format!("dropped image of {id} from node {from}: runs do not fit"),
            );
            if let Some((k, _)) = kernel {
                self.reply(k, Err(EHOSTDOWN));
            }
            return;
        }
        seg.holders.insert(self.me);
        let (size, version_now) = (seg.size, seg.version);
        match kernel {
            Some((k, need_data)) => {
                let data = need_data.then(|| seg.data.clone()).flatten();
                self.reply(
                    k,
                    Ok(Answer::Attached {
                        size,
                        version: version_now,
                        data,
                    }),
                );
                // The kernel may hold an older local copy (its processes
                // stayed attached): it takes the image too.
                if !need_data {
                    self.apply_event(id, version_now, true, runs);
                }
            }
            // A repair: the kernel's copy gets the whole image.
            None => self.apply_event(id, version_now, true, runs),
        }
    }
}

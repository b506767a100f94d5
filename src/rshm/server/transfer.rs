//! Whole images: a node that has no copy of a segment, or missed a
//! version, fetches the owner's image and becomes a holder. No state of
//! its own: a fetch in flight is a `Pending::Fetch` of the calls table
//! (calls.rs), the holders are the table's.
//!
//! ```text
//! kernel: Request::Attach ─► attach ─┬► the image is here: Answer::Attached
//!                                    └► fetch ─Fetch─► owner
//! on_update finds a gap ─► repair ─► fetch ─Fetch─► owner
//! owner: on_fetch ─Image─► the asker, ─Holder─► every member
//! asker: on_image ─► apply ─► Answer::Attached (attach) or Event::Apply
//!                             (repair)
//! ```

use super::calls::Pending;
use super::{Answer, Server};
use crate::abi::{Errno, EHOSTDOWN, EIDRM, EINVAL};
use crate::rshm::table::{image_to_pages, ApplyOutcome};
use crate::rshm::wire::{Msg, NodeId, RshmId};

impl Server {
    /// rshmat: answer at once when this node holds the image, else fetch
    /// it from the owner.
    pub(super) fn attach(&mut self, token: u64, guest: u64, need_data: bool) {
        let Some(seg) = self.segment_for(token, guest) else {
            return;
        };
        if seg.data.is_some() {
            let answer = Answer::Attached {
                size: seg.size,
                version: seg.version,
                data: need_data.then(|| seg.data.clone()).flatten(),
            };
            self.reply(token, Ok(answer));
            return;
        }
        let (id, owner) = (seg.id, seg.owner);
        if !self.membership.is_member(owner) {
            self.reply(token, Err(EHOSTDOWN));
            return;
        }
        self.fetch(Some((token, need_data)), id, owner);
    }

    /// Fetches a whole image after a missing version.
    pub(super) fn repair(&mut self, id: RshmId, owner: NodeId) {
        self.fetch(None, id, owner);
    }

    /// Asks `owner` for the image of `id`; `kernel` is the attach call
    /// waiting for it (None: a gap repair).
    fn fetch(&mut self, kernel: Option<(u64, bool)>, id: RshmId, owner: NodeId) {
        let token = self.calls.start(Pending::Fetch { kernel, id, owner });
        self.send(owner, &Msg::Fetch { token, id });
    }

    /// As owner: send the image, and tell every member that `from` holds
    /// a copy now.
    pub(super) fn on_fetch(&mut self, from: NodeId, token: u64, id: RshmId) {
        let (version, data, error) = match self.table.get(id) {
            Some(seg) if seg.owner == self.me && !seg.removed => match &seg.data {
                Some(d) => (seg.version, d.clone(), None),
                None => (0, Vec::new(), Some(EHOSTDOWN)),
            },
            Some(seg) if seg.removed => (0, Vec::new(), Some(EIDRM)),
            _ => (0, Vec::new(), Some(EINVAL)),
        };
        self.send(
            from,
            &Msg::Image {
                token,
                id,
                version,
                data,
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

    pub(super) fn on_holder(&mut self, id: RshmId, node: NodeId) {
        if let Some(seg) = self.table.get_mut(id) {
            if !seg.freed {
                seg.holders.insert(node);
            }
        }
    }

    /// The owner's answer to `fetch`.
    pub(super) fn on_image(
        &mut self,
        token: u64,
        id: RshmId,
        version: u64,
        data: Vec<u8>,
        error: Option<Errno>,
    ) {
        let Some(Pending::Fetch { kernel, .. }) = self.calls.take(token) else {
            return;
        };
        if let Some(error) = error {
            if let Some((k, _)) = kernel {
                self.reply(k, Err(error));
            }
            return;
        }
        let Some(seg) = self.table.get_mut(id) else {
            return;
        };
        if data.len() as u64 != seg.size {
            self.log(&format!("dropped image of {id}: wrong size"));
            if let Some((k, _)) = kernel {
                self.reply(k, Err(EHOSTDOWN));
            }
            return;
        }
        let pages = image_to_pages(&data);
        let outcome = seg.apply(version, true, &pages);
        seg.holders.insert(self.me);
        let (size, version_now, owner) = (seg.size, seg.version, seg.owner);
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
            }
            None => {
                // A gap repair: the kernel's copy gets the whole image.
                if outcome == ApplyOutcome::Applied {
                    self.apply_event(id, version, true, pages);
                } else {
                    self.acked(id, version_now, owner);
                }
            }
        }
    }
}

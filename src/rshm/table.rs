//! The state table of one node (spec/rshm.md, "State per segment"): one
//! `Segment` per rshmid this node knows, live or removed, and the rules
//! that keep the tables of all nodes converging. Pure data: the server
//! (server/) calls it and sends what it says; tests call it directly.
//!
//! Rules decided here:
//!
//! - **rshmget convergence** (`resolve`): a key names the *established*
//!   live segment with that key if there is one, else the live candidate
//!   with the lowest rshmid. A node that creates announces its candidate
//!   and waits for every live node's answer (its resolution of the key);
//!   if no answer names a lower or established segment, the candidate is
//!   established and the creator multicasts that. Otherwise it withdraws
//!   (removes) its candidate. A caller that finds only candidates waits
//!   for an `Established` of the key, and asks again when every candidate
//!   was withdrawn (server/calls.rs `get`). So every caller returns an
//!   established id, and at most one live segment per key is established.
//! - **removal** is sticky: `removed` merges with OR, so a node that missed
//!   a removal cannot bring the segment back (tombstones). A removed
//!   segment no longer resolves, so its key is free at once; its data is
//!   freed when no process on any live node is attached (`freeable`).
//! - **ownership**: the creator owns a segment; when the owner leaves, the
//!   lowest live node that holds a copy becomes owner (`elect`).
//! - **authority in merges**: a node is the authority for its own row
//!   (whether it holds a copy, how many of its processes are attached).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::wire::{NodeId, Page, RshmId, SegmentInfo, PAGE_BYTES};

/// One segment as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub id: RshmId,
    pub key: u64,
    /// Bytes, a multiple of the page size.
    pub size: u64,
    /// The node that orders updates and removals.
    pub owner: NodeId,
    /// The version of this node's image (`data`), or the highest version
    /// heard of when this node holds no copy.
    pub version: u64,
    /// Marked for removal; never cleared (tombstone).
    pub removed: bool,
    /// The creation call returned with this segment (known at the creator).
    pub established: bool,
    /// Nodes that hold a copy (spec: "remote endpoints").
    pub holders: BTreeSet<NodeId>,
    /// Processes attached, per node (spec: "ref_count" of each node).
    pub refs: BTreeMap<NodeId, u32>,
    /// This node's copy at `version`: the last image applied here (the
    /// kernel's frames hold it plus local writes not yet published).
    pub data: Option<Vec<u8>>,
    /// Removed and detached everywhere: data dropped, only the tombstone
    /// remains.
    pub freed: bool,
}

/// How an update relates to the image a node holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Applied; the image is now at the update's version.
    Applied,
    /// Already had it (or newer): nothing changed.
    Stale,
    /// A version is missing before this delta: nothing changed; fetch a
    /// whole image from the owner.
    Gap,
    /// Pages out of range or of the wrong size, or no image here: nothing
    /// changed (never a partial apply).
    Malformed,
}

impl Segment {
    /// A new segment created by `owner`, all zeros, held by the owner.
    pub fn new(id: RshmId, key: u64, size: u64) -> Segment {
        Segment {
            id,
            key,
            size,
            owner: id.node,
            version: 0,
            removed: false,
            established: false,
            holders: BTreeSet::from([id.node]),
            refs: BTreeMap::new(),
            data: Some(vec![0; size as usize]),
            freed: false,
        }
    }

    /// The row as sent in hellos and announcements.
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            id: self.id,
            key: self.key,
            size: self.size,
            owner: self.owner,
            version: self.version,
            removed: self.removed,
            established: self.established,
            holders: self.holders.iter().copied().collect(),
            refs: self.refs.iter().map(|(n, c)| (*n, *c)).collect(),
        }
    }

    fn from_info(info: &SegmentInfo) -> Segment {
        Segment {
            id: info.id,
            key: info.key,
            size: info.size,
            owner: info.owner,
            version: info.version,
            removed: info.removed,
            established: info.established,
            holders: info.holders.iter().copied().collect(),
            refs: info.refs.iter().copied().filter(|r| r.1 > 0).collect(),
            data: None,
            freed: false,
        }
    }

    /// Processes attached on all nodes.
    pub fn total_refs(&self) -> u64 {
        self.refs.values().map(|&c| u64::from(c)).sum()
    }

    /// Pages in the segment.
    pub fn pages(&self) -> u64 {
        self.size / PAGE_BYTES as u64
    }

    /// Checks that `pages` fit this segment (each in range, one page long).
    pub fn pages_fit(&self, pages: &[Page]) -> bool {
        pages
            .iter()
            .all(|p| u64::from(p.index) < self.pages() && p.bytes.len() == PAGE_BYTES)
    }

    /// Applies an update to this node's image, all or nothing.
    pub fn apply(&mut self, version: u64, full: bool, pages: &[Page]) -> ApplyOutcome {
        if !self.pages_fit(pages) || (full && pages.len() as u64 != self.pages()) {
            return ApplyOutcome::Malformed;
        }
        if full {
            if self.data.is_some() && version < self.version {
                return ApplyOutcome::Stale;
            }
            self.data = Some(vec![0; self.size as usize]);
        } else {
            if self.data.is_none() {
                return ApplyOutcome::Malformed;
            }
            if version <= self.version {
                return ApplyOutcome::Stale;
            }
            if version != self.version + 1 {
                return ApplyOutcome::Gap;
            }
        }
        let Some(data) = self.data.as_mut() else {
            return ApplyOutcome::Malformed;
        };
        for p in pages {
            let at = p.index as usize * PAGE_BYTES;
            data[at..at + PAGE_BYTES].copy_from_slice(&p.bytes);
        }
        self.version = version;
        ApplyOutcome::Applied
    }

    /// The whole image as pages (for `full` updates).
    pub fn image_pages(&self) -> Vec<Page> {
        image_to_pages(self.data.as_deref().unwrap_or(&[]))
    }
}

/// Splits an image into pages.
pub fn image_to_pages(data: &[u8]) -> Vec<Page> {
    data.chunks(PAGE_BYTES)
        .enumerate()
        .map(|(i, c)| Page {
            index: i as u32,
            bytes: c.to_vec(),
        })
        .collect()
}

/// The state table of one node.
#[derive(Default, Debug)]
pub struct Table {
    pub segments: BTreeMap<RshmId, Segment>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn get(&self, id: RshmId) -> Option<&Segment> {
        self.segments.get(&id)
    }

    pub fn get_mut(&mut self, id: RshmId) -> Option<&mut Segment> {
        self.segments.get_mut(&id)
    }

    /// The segment guest id `guest` names (see `RshmId::to_guest`).
    pub fn by_guest(&self, guest: u64) -> Option<&Segment> {
        self.segments.values().find(|s| s.id.to_guest() == guest)
    }

    /// The live segment `key` names: the established one, else the lowest
    /// id (see the module doc).
    pub fn resolve(&self, key: u64) -> Option<&Segment> {
        let live = || {
            self.segments
                .values()
                .filter(move |s| s.key == key && !s.removed)
        };
        live()
            .find(|s| s.established)
            .or_else(|| live().min_by_key(|s| s.id))
    }

    /// Segments neither removed nor freed.
    pub fn live_count(&self) -> usize {
        self.segments.values().filter(|s| !s.removed).count()
    }

    /// Records a segment another node announced (or learnt in a hello).
    pub fn insert_announced(&mut self, info: &SegmentInfo) {
        self.segments
            .entry(info.id)
            .or_insert_with(|| Segment::from_info(info));
    }

    /// Merges the table `from` sent in its hello (spec: "the others reply
    /// with their state tables, which it merges"). Removal is sticky; the
    /// sender is the authority for its own holder and ref entries.
    pub fn merge(&mut self, from: NodeId, infos: &[SegmentInfo], live: &BTreeSet<NodeId>) {
        for info in infos {
            let seg = self
                .segments
                .entry(info.id)
                .or_insert_with(|| Segment::from_info(info));
            seg.removed |= info.removed;
            seg.established |= info.established;
            if seg.data.is_none() {
                seg.version = seg.version.max(info.version);
            }
            if !live.contains(&seg.owner) && live.contains(&info.owner) {
                seg.owner = info.owner;
            }
            if info.holders.contains(&from) {
                seg.holders.insert(from);
            } else {
                seg.holders.remove(&from);
            }
            match info.refs.iter().find(|r| r.0 == from) {
                Some(&(_, c)) if c > 0 => {
                    seg.refs.insert(from, c);
                }
                _ => {
                    seg.refs.remove(&from);
                }
            }
            // Holders and refs the sender reports for third nodes are news
            // only when those nodes are live.
            for &h in &info.holders {
                if h != from && live.contains(&h) {
                    seg.holders.insert(h);
                }
            }
            for &(n, c) in &info.refs {
                if n != from && live.contains(&n) && c > 0 {
                    seg.refs.entry(n).or_insert(c);
                }
            }
        }
    }

    /// Forgets `node` (it stopped): its copies and attachments no longer
    /// count. Returns the segments it owned, which need a new owner.
    pub fn drop_node(&mut self, node: NodeId) -> Vec<RshmId> {
        let mut orphaned = Vec::new();
        for seg in self.segments.values_mut() {
            seg.holders.remove(&node);
            seg.refs.remove(&node);
            if seg.owner == node && !seg.freed {
                orphaned.push(seg.id);
            }
        }
        orphaned
    }

    /// The new owner of `id`: the lowest live node that holds a copy
    /// (spec: "the remaining node with a copy and the lowest id").
    pub fn elect(&self, id: RshmId, live: &BTreeSet<NodeId>) -> Option<NodeId> {
        let seg = self.segments.get(&id)?;
        seg.holders.iter().copied().find(|h| live.contains(h))
    }

    /// Segments that are removed and attached nowhere, not yet freed.
    pub fn freeable(&self) -> Vec<RshmId> {
        self.segments
            .values()
            .filter(|s| s.removed && !s.freed && s.total_refs() == 0)
            .map(|s| s.id)
            .collect()
    }

    /// Drops the data of a removed segment, keeping its tombstone.
    pub fn free(&mut self, id: RshmId) {
        if let Some(seg) = self.segments.get_mut(&id) {
            seg.freed = true;
            seg.data = None;
            seg.holders.clear();
        }
    }

    /// Every row, for hellos.
    pub fn infos(&self) -> Vec<SegmentInfo> {
        self.segments.values().map(Segment::info).collect()
    }

    /// The table as `--dump-rshm` prints it.
    pub fn dump(&self, me: NodeId) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "rshm table of node {me}: {} segments",
            self.segments.len()
        );
        for seg in self.segments.values() {
            let state = if seg.freed {
                "removed (tombstone)"
            } else if seg.removed {
                "removed"
            } else {
                "live"
            };
            let join = |v: Vec<String>| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(",")
                }
            };
            let holders = join(seg.holders.iter().map(|n| n.to_string()).collect());
            let refs = join(seg.refs.iter().map(|(n, c)| format!("{n}:{c}")).collect());
            let _ = writeln!(
                s,
                "  rshmid {} ({:#x}) key {} size {} owner {} version {} {state} copy {} holders {holders} refs {refs}",
                seg.id,
                seg.id.to_guest(),
                seg.key,
                seg.size,
                seg.owner,
                seg.version,
                if seg.data.is_some() { "here" } else { "none" },
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(node: NodeId, seq: u32) -> RshmId {
        RshmId {
            node,
            incarnation: 1,
            seq,
        }
    }

    #[test]
    fn lowest_id_wins_unless_one_is_established() {
        let mut t = Table::new();
        t.segments.insert(id(2, 0), Segment::new(id(2, 0), 7, 4096));
        t.segments.insert(id(1, 5), Segment::new(id(1, 5), 7, 4096));
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(1, 5)));
        t.get_mut(id(2, 0)).unwrap().established = true;
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(2, 0)));
        t.get_mut(id(2, 0)).unwrap().removed = true;
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(1, 5)));
        assert_eq!(t.resolve(8), None);
    }

    #[test]
    fn removal_survives_a_merge_with_a_node_that_missed_it() {
        let live = BTreeSet::from([1, 2, 3]);
        let mut t = Table::new();
        let mut seg = Segment::new(id(1, 0), 9, 4096);
        seg.removed = true;
        t.segments.insert(seg.id, seg.clone());
        let mut stale = seg.info();
        stale.removed = false;
        stale.holders = vec![1, 3];
        stale.refs = vec![(3, 1)];
        t.merge(3, &[stale], &live);
        let s = t.get(id(1, 0)).unwrap();
        assert!(s.removed, "no resurrection");
        assert!(t.resolve(9).is_none());
        assert_eq!(s.refs.get(&3), Some(&1));
        assert!(t.freeable().is_empty());
    }

    #[test]
    fn owner_drop_elects_the_lowest_live_holder() {
        let mut t = Table::new();
        let mut seg = Segment::new(id(1, 0), 1, 4096);
        seg.holders.extend([3, 2]);
        seg.refs.insert(1, 2);
        t.segments.insert(seg.id, seg);
        assert_eq!(t.drop_node(1), vec![id(1, 0)]);
        let live = BTreeSet::from([2, 3]);
        assert_eq!(t.elect(id(1, 0), &live), Some(2));
        assert_eq!(t.get(id(1, 0)).unwrap().total_refs(), 0);
    }

    #[test]
    fn deltas_apply_in_order_or_not_at_all() {
        let mut seg = Segment::new(id(1, 0), 1, 2 * PAGE_BYTES as u64);
        let page = |i, b| Page {
            index: i,
            bytes: vec![b; PAGE_BYTES],
        };
        assert_eq!(seg.apply(1, false, &[page(1, 5)]), ApplyOutcome::Applied);
        assert_eq!(seg.apply(3, false, &[page(0, 6)]), ApplyOutcome::Gap);
        assert_eq!(seg.apply(1, false, &[page(0, 6)]), ApplyOutcome::Stale);
        assert_eq!(
            seg.apply(2, false, &[page(0, 6), page(2, 1)]),
            ApplyOutcome::Malformed
        );
        let data = seg.data.clone().unwrap();
        assert_eq!((data[0], data[PAGE_BYTES]), (0, 5), "no partial apply");
        assert_eq!(
            seg.apply(4, true, &[page(0, 8), page(1, 9)]),
            ApplyOutcome::Applied
        );
        assert_eq!(seg.version, 4);
    }
}

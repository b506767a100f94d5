//! The state table of one node (docs/spec/rshm.md, "State table") and the rules
//! that keep the tables of all nodes in agreement:
//!
//! - **rshmget convergence**: a key resolves to its *established* segment
//!   if there is one, else to its lowest candidate id (`resolve`). A
//!   creator establishes its candidate only when no live node named a
//!   lower or established one; a caller that only sees candidates waits
//!   for an `Established` of the key, and asks again when every candidate
//!   was withdrawn (server/calls.rs `get`). So every caller returns an
//!   established id, and at most one live segment per key is established.
//! - **removal** is sticky: `removed` merges with OR, so a node that missed
//!   a removal cannot bring the segment back. A removed segment no longer
//!   resolves, so its key is free at once; its data is freed when no
//!   process on any live node is attached, and then its row is *collected*:
//!   only its id stays, in a range of ids per creator incarnation
//!   (`Collected`) that hellos carry, so a row of a collected segment is
//!   never merged back in.
//! - **ownership**: the creator owns a segment in epoch 0; when the owner
//!   leaves, the lowest live node that holds a copy claims it in the next
//!   epoch (server/election.rs). A higher epoch wins; in one epoch the
//!   lowest claimant.
//! - **authority in merges**: a node is the authority for its own row
//!   (whether it holds a copy, how many of its processes are attached); a
//!   hello adds the sender as holder but never removes it (a hello may be
//!   older than the owner's `Holder` notice).
//!
//! Every lookup on a call's path is indexed: by id, by guest id, by key,
//! and the removed rows not yet freed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use super::diff;
use super::wire::{CollectedRange, NodeId, RshmId, Run, SegmentInfo, PAGE_BYTES};

/// One segment as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub id: RshmId,
    pub key: u64,
    /// Bytes, a multiple of the page size.
    pub size: u64,
    /// The node that orders updates and removals.
    pub owner: NodeId,
    /// The ownership epoch `owner` holds it in.
    pub epoch: u64,
    /// The owner of `epoch` has the latest image and sequences: false
    /// while a takeover is in progress (calls that need the owner wait).
    pub settled: bool,
    /// The version of this node's image (`data`), or the highest version
    /// heard of when this node holds no copy.
    pub version: u64,
    /// Marked for removal; never cleared.
    removed: bool,
    /// The creation call returned with this segment (known at the creator).
    pub established: bool,
    /// Nodes that hold a copy (spec: "remote endpoints").
    pub holders: BTreeSet<NodeId>,
    /// Processes attached, per node (spec: "ref_count" of each node).
    pub refs: BTreeMap<NodeId, u32>,
    /// This node's copy at `version`: the last image applied here (the
    /// kernel's frames hold it plus local writes not yet published).
    pub data: Option<Vec<u8>>,
    /// The copy may lack versions the owner has (it predates this node's
    /// rejoin, an epoch this node did not see begin, a repair cut short):
    /// it is fetched again from the owner once that one is a settled
    /// member (`mark_stale`, server/transfer.rs `refresh_stale_copies`).
    pub stale: bool,
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
    /// Runs out of range, or no image here: nothing changed (never a
    /// partial apply).
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
            epoch: 0,
            settled: true,
            version: 0,
            removed: false,
            established: false,
            holders: BTreeSet::from([id.node]),
            refs: BTreeMap::new(),
            data: Some(vec![0; size as usize]),
            stale: false,
        }
    }

    /// The row as sent in hellos and announcements.
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            id: self.id,
            key: self.key,
            size: self.size,
            owner: self.owner,
            epoch: self.epoch,
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
            epoch: info.epoch,
            settled: true,
            version: info.version,
            removed: info.removed,
            established: info.established,
            holders: info.holders.iter().copied().collect(),
            refs: info.refs.iter().copied().filter(|r| r.1 > 0).collect(),
            data: None,
            stale: false,
        }
    }

    pub fn removed(&self) -> bool {
        self.removed
    }

    /// This node's copy, if it has one, is to be fetched again from the
    /// owner (`stale`).
    pub fn mark_stale(&mut self) {
        self.stale = self.data.is_some();
    }

    /// Processes attached on all nodes.
    pub fn total_refs(&self) -> u64 {
        self.refs.values().map(|&c| u64::from(c)).sum()
    }

    /// Pages in the segment.
    pub fn pages(&self) -> u64 {
        self.size / PAGE_BYTES as u64
    }

    /// Checks that `runs` fit this segment.
    pub fn runs_fit(&self, runs: &[Run]) -> bool {
        diff::runs_fit(runs, self.size)
    }

    /// Whether (`epoch`, `owner`) outranks this row's owner: a higher
    /// epoch, or in the same epoch a lower node.
    pub fn outranked_by(&self, epoch: u64, owner: NodeId) -> bool {
        (epoch, std::cmp::Reverse(owner)) > (self.epoch, std::cmp::Reverse(self.owner))
    }

    /// Applies an update to this node's image, all or nothing. A `full`
    /// update rebuilds the image from zeros (and may create it), whatever
    /// the version here: it comes from the owner of the current epoch,
    /// whose image is the segment's (an older owner's versions that never
    /// reached it do not count).
    pub fn apply(&mut self, version: u64, full: bool, runs: &[Run]) -> ApplyOutcome {
        if !self.runs_fit(runs) {
            return ApplyOutcome::Malformed;
        }
        if full {
            let mut data = vec![0; self.size as usize];
            diff::apply_runs(&mut data, runs);
            self.data = Some(data);
            self.version = version;
            return ApplyOutcome::Applied;
        }
        let Some(data) = self.data.as_mut() else {
            return ApplyOutcome::Malformed;
        };
        if version <= self.version {
            return ApplyOutcome::Stale;
        }
        if version != self.version + 1 {
            return ApplyOutcome::Gap;
        }
        diff::apply_runs(data, runs);
        self.version = version;
        ApplyOutcome::Applied
    }

    /// The whole image as runs from zero (for `full` updates).
    pub fn image_runs(&self) -> Vec<Run> {
        diff::image_runs(self.data.as_deref().unwrap_or(&[]))
    }
}

/// Ids of collected segments: per creator and incarnation, disjoint
/// inclusive ranges of sequence numbers (start → end). Creators number
/// segments in order, so churn keeps this at a range or a few.
#[derive(Default, Debug, Clone)]
pub struct Collected {
    ranges: HashMap<(NodeId, u32), BTreeMap<u32, u32>>,
}

impl Collected {
    pub fn contains(&self, id: RshmId) -> bool {
        self.ranges
            .get(&(id.node, id.incarnation))
            .and_then(|r| r.range(..=id.seq).next_back())
            .is_some_and(|(_, &end)| id.seq <= end)
    }

    /// Adds the inclusive range `from..=to` of `(node, incarnation)`.
    pub fn insert_range(&mut self, node: NodeId, incarnation: u32, from: u32, to: u32) {
        if from > to {
            return;
        }
        let ranges = self.ranges.entry((node, incarnation)).or_default();
        let (mut start, mut end) = (from, to);
        // Merge with every range that overlaps or touches.
        let touching: Vec<(u32, u32)> = ranges
            .range(..=end.saturating_add(1))
            .rev()
            .take_while(|(_, &e)| e.saturating_add(1) >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            ranges.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        ranges.insert(start, end);
    }

    pub fn insert(&mut self, id: RshmId) {
        self.insert_range(id.node, id.incarnation, id.seq, id.seq);
    }

    /// Every range, for hellos.
    pub fn ranges(&self) -> Vec<CollectedRange> {
        let mut out: Vec<CollectedRange> = self
            .ranges
            .iter()
            .flat_map(|(&(n, inc), r)| r.iter().map(move |(&s, &e)| (n, inc, s, e)))
            .collect();
        out.sort_unstable();
        out
    }

    /// Ranges in all.
    pub fn len(&self) -> usize {
        self.ranges.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The state table of one node.
#[derive(Default, Debug)]
pub struct Table {
    segments: BTreeMap<RshmId, Segment>,
    by_guest: HashMap<u64, RshmId>,
    /// Live (not removed) segments of each key.
    by_key: HashMap<u64, BTreeSet<RshmId>>,
    /// Removed rows not yet freed.
    removed_unfreed: BTreeSet<RshmId>,
    live: usize,
    collected: Collected,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn get(&self, id: RshmId) -> Option<&Segment> {
        self.segments.get(&id)
    }

    /// A row to change; its `removed` only through `mark_removed` (the
    /// indexes follow it).
    pub fn get_mut(&mut self, id: RshmId) -> Option<&mut Segment> {
        self.segments.get_mut(&id)
    }

    /// Rows in the table (live and removed).
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn ids(&self) -> Vec<RshmId> {
        self.segments.keys().copied().collect()
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values()
    }

    pub fn collected(&self) -> &Collected {
        &self.collected
    }

    /// Whether `id` was collected (removed and freed) here.
    pub fn is_collected(&self, id: RshmId) -> bool {
        self.collected.contains(id)
    }

    /// Adds a row; false when its id was collected (a removed segment is
    /// never brought back) or it is known already.
    pub fn insert(&mut self, seg: Segment) -> bool {
        if self.collected.contains(seg.id) || self.segments.contains_key(&seg.id) {
            return false;
        }
        let id = seg.id;
        self.by_guest.insert(id.to_guest(), id);
        if seg.removed {
            self.removed_unfreed.insert(id);
        } else {
            self.by_key.entry(seg.key).or_default().insert(id);
            self.live += 1;
        }
        self.segments.insert(id, seg);
        true
    }

    /// Marks `id` removed (sticky); true when it was live.
    pub fn mark_removed(&mut self, id: RshmId) -> bool {
        let Some(seg) = self.segments.get_mut(&id) else {
            return false;
        };
        if seg.removed {
            return false;
        }
        seg.removed = true;
        self.live -= 1;
        self.removed_unfreed.insert(id);
        if let Some(ids) = self.by_key.get_mut(&seg.key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_key.remove(&seg.key);
            }
        }
        true
    }

    /// The segment guest id `guest` names (see `RshmId::to_guest`).
    pub fn by_guest(&self, guest: u64) -> Option<&Segment> {
        self.segments.get(self.by_guest.get(&guest)?)
    }

    /// The live segment `key` names: the established one, else the lowest
    /// id (see the module doc).
    pub fn resolve(&self, key: u64) -> Option<&Segment> {
        let ids = self.by_key.get(&key)?;
        let mut live = ids.iter().filter_map(|id| self.segments.get(id));
        let lowest = live.next()?;
        if lowest.established {
            return Some(lowest);
        }
        live.find(|s| s.established).or(Some(lowest))
    }

    /// Like `resolve`, but a candidate whose creator is not in `live` does
    /// not count (its round cannot end while its creator is away: nobody
    /// waits for it).
    pub fn resolve_among(&self, key: u64, live: &BTreeSet<NodeId>) -> Option<&Segment> {
        let ids = self.by_key.get(&key)?;
        let usable: Vec<&Segment> = ids
            .iter()
            .filter_map(|id| self.segments.get(id))
            .filter(|s| s.established || live.contains(&s.id.node))
            .collect();
        usable
            .iter()
            .find(|s| s.established)
            .or(usable.first())
            .copied()
    }

    /// Live (not removed) segments.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Live segments created by `node` (a peer's quota).
    pub fn live_created_by(&self, node: NodeId) -> usize {
        let from = RshmId {
            node,
            incarnation: 0,
            seq: 0,
        };
        let to = RshmId {
            node,
            incarnation: u32::MAX,
            seq: u32::MAX,
        };
        self.segments
            .range(from..=to)
            .filter(|(_, s)| !s.removed)
            .count()
    }

    /// Records a segment another node announced (or learnt in a hello).
    pub fn insert_announced(&mut self, info: &SegmentInfo) {
        self.insert(Segment::from_info(info));
    }

    /// Merges the table `from` sent in its hello (spec: "the others reply
    /// with their state tables, which it merges"). Removal is sticky and
    /// collected ids stay out; the sender is the authority for its own
    /// ref entry and can add itself as a holder; ownership follows the
    /// higher epoch.
    pub fn merge(
        &mut self,
        from: NodeId,
        infos: &[SegmentInfo],
        collected: &[CollectedRange],
        live: &BTreeSet<NodeId>,
    ) {
        for &(node, incarnation, start, end) in collected {
            self.collected.insert_range(node, incarnation, start, end);
        }
        for info in infos {
            if self.collected.contains(info.id) {
                continue;
            }
            if !self.segments.contains_key(&info.id) {
                let mut seg = Segment::from_info(info);
                // Only what the sender says of itself and of live nodes.
                seg.holders.retain(|h| *h == from || live.contains(h));
                seg.refs.retain(|n, _| *n == from || live.contains(n));
                self.insert(seg);
                continue;
            }
            if info.removed {
                self.mark_removed(info.id);
            }
            let Some(seg) = self.segments.get_mut(&info.id) else {
                continue;
            };
            seg.established |= info.established;
            if seg.data.is_none() {
                seg.version = seg.version.max(info.version);
            }
            if seg.outranked_by(info.epoch, info.owner) {
                // An epoch this node did not see begin: its owner re-sent
                // its image only to the holders it knew then, maybe not to
                // this node, and may send no update again for a long
                // time. The copy is fetched again once that owner is a
                // settled member (`refresh_stale_copies`).
                seg.mark_stale();
                seg.owner = info.owner;
                seg.epoch = info.epoch;
            }
            // A live owner both ends agree on needs no takeover.
            if info.owner == seg.owner && info.epoch == seg.epoch && live.contains(&seg.owner) {
                seg.settled = true;
            }
            if info.holders.contains(&from) {
                seg.holders.insert(from);
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
        // Rows the sender's collected ranges cover go (their data is freed
        // at every node that had them attached nowhere).
        if !collected.is_empty() {
            let gone: Vec<RshmId> = self
                .segments
                .keys()
                .copied()
                .filter(|id| self.collected.contains(*id))
                .collect();
            for id in gone {
                self.mark_removed(id);
            }
        }
    }

    /// Forgets `node` (it stopped): its copies and attachments no longer
    /// count. Returns the live segments it owned, which need a new owner.
    pub fn drop_node(&mut self, node: NodeId) -> Vec<RshmId> {
        let mut orphaned = Vec::new();
        for seg in self.segments.values_mut() {
            seg.holders.remove(&node);
            seg.refs.remove(&node);
            if seg.owner == node {
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

    /// Removed segments attached nowhere: their rows are collected (data
    /// dropped, only the id kept in `Collected`). Returns them.
    pub fn collect_freeable(&mut self) -> Vec<RshmId> {
        let freeable: Vec<RshmId> = self
            .removed_unfreed
            .iter()
            .copied()
            .filter(|id| self.segments.get(id).is_none_or(|s| s.total_refs() == 0))
            .collect();
        for &id in &freeable {
            self.removed_unfreed.remove(&id);
            if let Some(seg) = self.segments.remove(&id) {
                self.by_guest.remove(&seg.id.to_guest());
            }
            self.collected.insert(id);
        }
        freeable
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
            "rshm table of node {me}: {} segments, {} collected id ranges",
            self.segments.len(),
            self.collected.len()
        );
        for seg in self.segments.values() {
            let state = if seg.removed { "removed" } else { "live" };
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
                "  rshmid {} ({:#x}) key {} size {} owner {} epoch {} version {} {state} copy {} holders {holders} refs {refs}",
                seg.id,
                seg.id.to_guest(),
                seg.key,
                seg.size,
                seg.owner,
                seg.epoch,
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
        t.insert(Segment::new(id(2, 0), 7, 4096));
        t.insert(Segment::new(id(1, 5), 7, 4096));
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(1, 5)));
        t.get_mut(id(2, 0)).unwrap().established = true;
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(2, 0)));
        t.mark_removed(id(2, 0));
        assert_eq!(t.resolve(7).map(|s| s.id), Some(id(1, 5)));
        assert_eq!(t.resolve(8), None);
        assert_eq!(t.live_count(), 1);
    }

    #[test]
    fn removal_survives_a_merge_with_a_node_that_missed_it() {
        let live = BTreeSet::from([1, 2, 3]);
        let mut t = Table::new();
        let seg = Segment::new(id(1, 0), 9, 4096);
        let mut stale = seg.info();
        t.insert(seg);
        t.mark_removed(id(1, 0));
        stale.holders = vec![1, 3];
        stale.refs = vec![(3, 1)];
        t.merge(3, &[stale.clone()], &[], &live);
        let s = t.get(id(1, 0)).unwrap();
        assert!(s.removed(), "no resurrection");
        assert!(t.resolve(9).is_none());
        assert_eq!(s.refs.get(&3), Some(&1));
        assert!(t.collect_freeable().is_empty(), "node 3 is attached");
        stale.refs = vec![];
        t.merge(3, &[stale.clone()], &[], &live);
        assert_eq!(t.collect_freeable(), vec![id(1, 0)]);
        // Collected: the row is gone and a stale row stays out.
        assert!(t.get(id(1, 0)).is_none());
        t.merge(3, &[stale], &[], &live);
        assert!(t.get(id(1, 0)).is_none());
        assert!(t.resolve(9).is_none());
    }

    #[test]
    fn a_hello_older_than_a_holder_notice_keeps_the_holder() {
        let live = BTreeSet::from([1, 2]);
        let mut t = Table::new();
        let seg = Segment::new(id(1, 0), 9, 4096);
        let old = seg.info(); // node 2 not yet a holder
        t.insert(seg);
        t.get_mut(id(1, 0)).unwrap().holders.insert(2);
        t.merge(2, &[old], &[], &live);
        assert!(t.get(id(1, 0)).unwrap().holders.contains(&2));
    }

    #[test]
    fn collected_ranges_merge() {
        let mut c = Collected::default();
        for seq in [0, 2, 1, 5, 4, 3] {
            c.insert(id(1, seq));
        }
        assert_eq!(c.ranges(), vec![(1, 1, 0, 5)]);
        assert!(c.contains(id(1, 3)) && !c.contains(id(1, 6)) && !c.contains(id(2, 0)));
        c.insert_range(1, 1, 10, 12);
        c.insert_range(1, 1, 6, 9);
        assert_eq!(c.ranges(), vec![(1, 1, 0, 12)]);
    }

    #[test]
    fn owner_drop_elects_the_lowest_live_holder() {
        let mut t = Table::new();
        let mut seg = Segment::new(id(1, 0), 1, 4096);
        seg.holders.extend([3, 2]);
        seg.refs.insert(1, 2);
        t.insert(seg);
        assert_eq!(t.drop_node(1), vec![id(1, 0)]);
        let live = BTreeSet::from([2, 3]);
        assert_eq!(t.elect(id(1, 0), &live), Some(2));
        assert_eq!(t.get(id(1, 0)).unwrap().total_refs(), 0);
    }

    #[test]
    fn higher_epochs_and_then_lower_owners_win() {
        let seg = Segment::new(id(3, 0), 1, 4096);
        assert!(seg.outranked_by(1, 9));
        assert!(!seg.outranked_by(0, 4));
        assert!(seg.outranked_by(0, 2));
    }

    #[test]
    fn deltas_apply_in_order_or_not_at_all() {
        let mut seg = Segment::new(id(1, 0), 1, 2 * PAGE_BYTES as u64);
        let run = |at: usize, b| Run {
            offset: at as u32,
            bytes: vec![b; 4],
        };
        assert_eq!(
            seg.apply(1, false, &[run(PAGE_BYTES, 5)]),
            ApplyOutcome::Applied
        );
        assert_eq!(seg.apply(3, false, &[run(0, 6)]), ApplyOutcome::Gap);
        assert_eq!(seg.apply(1, false, &[run(0, 6)]), ApplyOutcome::Stale);
        assert_eq!(
            seg.apply(2, false, &[run(0, 6), run(2 * PAGE_BYTES - 2, 1)]),
            ApplyOutcome::Malformed
        );
        let data = seg.data.clone().unwrap();
        assert_eq!((data[0], data[PAGE_BYTES]), (0, 5), "no partial apply");
        assert_eq!(
            seg.apply(4, true, &[run(0, 8), run(PAGE_BYTES, 9)]),
            ApplyOutcome::Applied
        );
        assert_eq!(seg.version, 4);
        assert_eq!(seg.data.as_ref().unwrap()[PAGE_BYTES + 1], 9);
    }
}

//! Byte-granular publishing (the TreadMarks technique): each node keeps a
//! *twin* of a segment — its bytes as of the last update this node took
//! part in — and publishes only the bytes where its copy differs from the
//! twin, as runs of `(offset, bytes)`.
//!
//! ```text
//! rshm_changed: for each dirty page: diff_page(twin, copy) ─► runs ─► owner
//! an update's runs (another node's, or our own echoed back in sequence
//! order) ─► merge(copy, twin, values), byte by byte:
//!     copy == twin (not written here since): copy = twin = value
//!     copy != twin (written here, not yet sequenced): twin = value only
//! ```
//!
//! The twin moves only with sequenced updates, never at publish time. So a
//! byte this node wrote and has not had sequenced differs from the twin: an
//! update of another writer does not overwrite it here, and because the
//! twin now holds the other writer's value, the next diff sends ours again
//! (it is sequenced later, so it wins on every node, here too). Our own
//! publish comes back in sequence order and brings the twin up to the
//! copy. Two nodes that write different bytes of one page both keep them:
//! neither run touches the other's bytes.

use super::wire::{Run, PAGE_BYTES};

/// Two runs closer than this many equal bytes are sent as one: a run's
/// header (offset and length, varints) costs about this much.
const JOIN_GAP: usize = 8;

/// The runs where `page` (page `index` of the segment) differs from `twin`.
pub fn diff_page(index: u32, twin: &[u8], page: &[u8]) -> Vec<Run> {
    let base = index as usize * PAGE_BYTES;
    let mut runs: Vec<Run> = Vec::new();
    let mut i = 0;
    let n = twin.len().min(page.len());
    while i < n {
        if twin[i] == page[i] {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        // Extend while differences keep coming within JOIN_GAP bytes.
        let mut j = end;
        while j < n && j - end < JOIN_GAP {
            if twin[j] != page[j] {
                end = j + 1;
            }
            j += 1;
        }
        runs.push(Run {
            offset: (base + start) as u32,
            bytes: page[start..end].to_vec(),
        });
        i = end;
    }
    runs
}

/// The runs that rebuild `image` from zeros (a whole image on the wire:
/// zero pages cost nothing).
pub fn image_runs(image: &[u8]) -> Vec<Run> {
    let zeros = [0u8; PAGE_BYTES];
    image
        .chunks(PAGE_BYTES)
        .enumerate()
        .flat_map(|(i, page)| diff_page(i as u32, &zeros[..page.len()], page))
        .collect()
}

/// Whether every run lies inside a segment of `size` bytes and they carry
/// at most `size` bytes in all (a peer's runs are an allegation).
pub fn runs_fit(runs: &[Run], size: u64) -> bool {
    let mut total: u64 = 0;
    runs.iter().all(|r| {
        total += r.bytes.len() as u64;
        u64::from(r.offset) + r.bytes.len() as u64 <= size && total <= size
    })
}

/// Bytes the runs carry.
pub fn run_bytes(runs: &[Run]) -> usize {
    runs.iter().map(|r| r.bytes.len()).sum()
}

/// Calls `f(page index, offset in the page, bytes)` for each piece of
/// `run` that falls in one page.
pub fn for_each_piece(run: &Run, mut f: impl FnMut(usize, usize, &[u8])) {
    let mut at = run.offset as usize;
    let mut rest = &run.bytes[..];
    while !rest.is_empty() {
        let in_page = at % PAGE_BYTES;
        let take = rest.len().min(PAGE_BYTES - in_page);
        f(at / PAGE_BYTES, in_page, &rest[..take]);
        at += take;
        rest = &rest[take..];
    }
}

/// Applies sequenced `values` to a local `copy` and its `twin` (slices of
/// equal length): see the module doc for the rule.
pub fn merge(copy: &mut [u8], twin: &mut [u8], values: &[u8]) {
    for ((c, t), &v) in copy.iter_mut().zip(twin.iter_mut()).zip(values) {
        if *c == *t {
            *c = v;
        }
        *t = v;
    }
}

/// Applies runs to a plain image (the server's copy: no twin).
pub fn apply_runs(image: &mut [u8], runs: &[Run]) {
    for r in runs {
        let at = r.offset as usize;
        if let Some(dst) = image.get_mut(at..at + r.bytes.len()) {
            dst.copy_from_slice(&r.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_finds_only_changed_bytes_and_joins_close_ones() {
        let twin = vec![0u8; PAGE_BYTES];
        let mut page = twin.clone();
        page[8] = 1;
        page[12] = 2; // 3 equal bytes between: joined
        page[100] = 3;
        let runs = diff_page(2, &twin, &page);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].offset as usize, 2 * PAGE_BYTES + 8);
        assert_eq!(runs[0].bytes, vec![1, 0, 0, 0, 2]);
        assert_eq!(runs[1].bytes, vec![3]);
        assert!(diff_page(0, &twin, &twin).is_empty());
    }

    #[test]
    fn two_writers_of_one_page_keep_both_words() {
        // Nodes A and B start from the same twin; A writes word 1, B word 2.
        let base = vec![0u8; PAGE_BYTES];
        let (mut a, mut a_twin) = (base.clone(), base.clone());
        let (mut b, mut b_twin) = (base.clone(), base.clone());
        a[8..16].copy_from_slice(&[1; 8]);
        b[16..24].copy_from_slice(&[2; 8]);
        let from_a = diff_page(0, &a_twin, &a);
        let from_b = diff_page(0, &b_twin, &b);
        // The owner sequences A then B; each node applies both in order
        // (its own comes back as the echo).
        for runs in [&from_a, &from_b] {
            for r in runs.iter() {
                let at = r.offset as usize;
                let len = r.bytes.len();
                merge(&mut a[at..at + len], &mut a_twin[at..at + len], &r.bytes);
                merge(&mut b[at..at + len], &mut b_twin[at..at + len], &r.bytes);
            }
        }
        assert_eq!(a, b);
        assert_eq!((a[8], a[16]), (1, 2));
        assert_eq!(a, a_twin, "nothing left to publish");
    }

    #[test]
    fn an_unsequenced_local_write_survives_an_update_and_is_sent_again() {
        let mut copy = vec![0u8; 16];
        let mut twin = copy.clone();
        copy[3] = 9; // written here, not yet sequenced
        merge(&mut copy, &mut twin, &[5; 16]);
        assert_eq!(copy[3], 9, "kept");
        assert_eq!(copy[4], 5, "others' bytes taken");
        let again = diff_page(0, &twin, &copy);
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].offset, &again[0].bytes[..]), (3, &[9u8][..]));
    }

    #[test]
    fn image_runs_skip_zeros_and_rebuild_the_image() {
        let mut image = vec![0u8; 3 * PAGE_BYTES];
        image[PAGE_BYTES + 7] = 4;
        image[3 * PAGE_BYTES - 1] = 8;
        let runs = image_runs(&image);
        assert_eq!(run_bytes(&runs), 2);
        let mut rebuilt = vec![0u8; image.len()];
        apply_runs(&mut rebuilt, &runs);
        assert_eq!(rebuilt, image);
        assert!(runs_fit(&runs, image.len() as u64));
        assert!(!runs_fit(&runs, image.len() as u64 - 1));
    }

    #[test]
    fn pieces_split_at_page_boundaries() {
        let run = Run {
            offset: (PAGE_BYTES - 2) as u32,
            bytes: vec![1, 2, 3, 4],
        };
        let mut pieces = Vec::new();
        for_each_piece(&run, |p, o, b| pieces.push((p, o, b.to_vec())));
        assert_eq!(
            pieces,
            vec![(0, PAGE_BYTES - 2, vec![1, 2]), (1, 0, vec![3, 4])]
        );
    }
}

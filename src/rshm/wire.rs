//! The wire format between rshm servers (spec/rshm.md, "a full mesh ...
//! length-prefixed binary messages, one Rust enum ... with a version field").
//!
//! ```text
//! frame = length (u32, little endian) ‖ postcard(Envelope { version, msg })
//! ```
//!
//! `encode_frame` builds a frame; `FrameDecoder` is fed the bytes a socket
//! delivers and hands out whole messages. A frame that is cut short, longer
//! than `MAX_FRAME`, of another protocol version or that does not decode is
//! a `FrameError` — the caller logs it with the peer's name and drops it;
//! nothing of it is applied, and nothing here panics on any input.
//!
//! Main types: `RshmId` (the global segment id), `Msg` (every message),
//! `Page` (one page of a segment), `FrameDecoder`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::abi::Errno;

/// Protocol version; a frame of another version is dropped.
pub const PROTOCOL_VERSION: u16 = 2;

/// Bytes in one page of a segment (the machine's page size).
pub const PAGE_BYTES: usize = crate::emu::PAGE_SIZE as usize;

/// The largest segment (spec: `rshmget` EINVAL "too large").
pub const MAX_SEGMENT: u64 = 4 << 20;

/// The largest frame: a whole segment plus room for the message around it.
pub const MAX_FRAME: usize = MAX_SEGMENT as usize + (64 << 10);

/// A node's id (`sim node --id N`).
pub type NodeId = u16;

/// A segment id, unique across all nodes and never reused (spec: "(node
/// id, incarnation, sequence)"). Ordered by its fields, so the lowest id is
/// well defined (used for `rshmget` convergence, see table.rs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RshmId {
    pub node: NodeId,
    /// The creating node's incarnation (a restarted node has a new one).
    pub incarnation: u32,
    pub seq: u32,
}

impl RshmId {
    /// The value a guest sees: `node (8 bits) | incarnation (32 bits) |
    /// seq (23 bits)`, top bit clear so that it never looks like an error.
    /// Order-preserving for ids whose fields fit.
    pub fn to_guest(self) -> u64 {
        (u64::from(self.node & 0xff) << 55)
            | (u64::from(self.incarnation) << 23)
            | u64::from(self.seq & MAX_SEQ)
    }

    /// Whether `to_guest` keeps every bit of this id.
    pub fn fits_guest(self) -> bool {
        self.node <= 0xff && self.seq <= MAX_SEQ
    }
}

/// The largest sequence number a guest id has room for (rshmget ENOSPC
/// beyond: a node creates at most 8 Mi segments per incarnation).
pub const MAX_SEQ: u32 = 0x7f_ffff;

impl fmt::Display for RshmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.node, self.incarnation, self.seq)
    }
}

/// One page of a segment: its index in the segment and its bytes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Page {
    pub index: u32,
    pub bytes: Vec<u8>,
}

/// What every node knows of a segment: the spec's state table row, less
/// the node-local fields (local object, data).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub id: RshmId,
    pub key: u64,
    pub size: u64,
    pub owner: NodeId,
    pub version: u64,
    pub removed: bool,
    /// Its creation round chose it (it is the key's segment).
    pub established: bool,
    /// Nodes that hold a copy.
    pub holders: Vec<NodeId>,
    /// Attached processes per node.
    pub refs: Vec<(NodeId, u32)>,
}

/// Every message between servers. `token` fields pair a reply with the
/// request that asked for it (chosen by the asking node).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// First message on a connection, from both ends: who I am and my table.
    Hello {
        node: NodeId,
        incarnation: u32,
        table: Vec<SegmentInfo>,
    },
    /// Sent every heartbeat interval; silence longer than the timeout drops the peer.
    Heartbeat,
    /// A new segment (rshmget that created one); answered with `CreateAck`.
    Create { token: u64, info: SegmentInfo },
    /// The segment the replier resolves the key to, and whether that
    /// segment's creation is complete (then it wins over any newcomer).
    CreateAck {
        token: u64,
        winner: SegmentInfo,
        established: bool,
    },
    /// To the owner: send me the latest image (a node without a copy).
    Fetch { token: u64, id: RshmId },
    /// The owner's answer to `Fetch`: the whole segment.
    Image {
        token: u64,
        id: RshmId,
        version: u64,
        data: Vec<u8>,
        /// Why the owner refused (unknown, removed).
        error: Option<Errno>,
    },
    /// Node `node` now holds a copy of `id`.
    Holder { id: RshmId, node: NodeId },
    /// Node `node` has `count` processes attached to `id`.
    Refs {
        id: RshmId,
        node: NodeId,
        count: u32,
    },
    /// To the owner: remove `id` (rshmctl IPC_RMID).
    Remove { token: u64, id: RshmId },
    /// From the owner to every node: `id` is removed.
    Removed { id: RshmId },
    /// From the creator to every node: its creation round chose `id`.
    Established { id: RshmId },
    /// The owner's answer to `Remove`: done, or why not.
    RemoveDone { token: u64, error: Option<Errno> },
    /// To the owner: the pages the sender's processes wrote since its last publish.
    Publish {
        token: u64,
        id: RshmId,
        pages: Vec<Page>,
    },
    /// From the owner to a holder: apply `pages` as `version`. `full` means
    /// the pages are the whole segment (apply even after a gap). An update
    /// echoing the receiver's own publish carries no pages (`echo`: that
    /// node has them) .
    Update {
        id: RshmId,
        version: u64,
        full: bool,
        echo: Option<u64>,
        pages: Vec<Page>,
    },
    /// To the owner: `version` of `id` is applied here.
    Ack { id: RshmId, version: u64 },
    /// The owner's answer to `Publish`: the version, or why not.
    Published {
        token: u64,
        version: u64,
        error: Option<Errno>,
    },
    /// A new owner asks a holder for its version (re-election).
    VersionQuery { id: RshmId },
    /// A holder's answer, with its image when `with_data` was asked.
    VersionIs {
        id: RshmId,
        version: u64,
        data: Option<Vec<u8>>,
    },
    /// A new owner asks the holder with the highest version for its image.
    ImageQuery { id: RshmId },
}

/// The envelope every frame carries.
#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u16,
    msg: Msg,
}

/// Why a frame was dropped.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME} bytes")]
    Oversized(u64),
    #[error("frame cut short: {got} of {want} bytes")]
    Truncated { got: usize, want: usize },
    #[error("protocol version {0}, expected {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("undecodable frame: {0}")]
    Undecodable(String),
}

/// Encodes `msg` as one frame.
///
/// # Errors
/// `Oversized` when the message does not fit in a frame (a segment larger
/// than `MAX_SEGMENT` cannot be created, so this is a bug of the caller).
pub fn encode_frame(msg: &Msg) -> Result<Vec<u8>, FrameError> {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        msg: msg.clone(),
    };
    let mut out = vec![0u8; 4];
    let body = postcard::to_extend(&envelope, Vec::new())
        .map_err(|e| FrameError::Undecodable(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::Oversized(body.len() as u64));
    }
    out[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes the body of one frame (without its length prefix).
///
/// # Errors
/// `Version` or `Undecodable`; trailing bytes count as undecodable.
pub fn decode_body(body: &[u8]) -> Result<Msg, FrameError> {
    let (version, _) = postcard::take_from_bytes::<u16>(body)
        .map_err(|e| FrameError::Undecodable(e.to_string()))?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::Version(version));
    }
    let (envelope, rest) = postcard::take_from_bytes::<Envelope>(body)
        .map_err(|e| FrameError::Undecodable(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Undecodable(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(envelope.msg)
}

/// Reassembles frames from a byte stream.
///
/// Feed it with `push`, take messages with `next_frame`. After an
/// `Oversized` length the stream cannot be trusted to resynchronise (the
/// length field lies), so the decoder is poisoned and the caller closes the
/// connection; an undecodable body of an honest length is skipped.
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    poisoned: bool,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.poisoned {
            return;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > (1 << 20) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived: `Some(Ok(msg))`, or
    /// `Some(Err(e))` for a frame that is dropped; `None` when more bytes
    /// are needed.
    pub fn next_frame(&mut self) -> Option<Result<Msg, FrameError>> {
        if self.poisoned {
            return None;
        }
        let avail = &self.buf[self.start..];
        let header: [u8; 4] = avail.get(..4)?.try_into().ok()?;
        let len = u32::from_le_bytes(header) as usize;
        if len > MAX_FRAME {
            self.poisoned = true;
            return Some(Err(FrameError::Oversized(len as u64)));
        }
        let body = avail.get(4..4 + len)?;
        let result = decode_body(body);
        self.start += 4 + len;
        Some(result)
    }

    /// Whether an oversized length made the stream unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// At end of stream: the error for a frame left incomplete, if any.
    pub fn finish(&self) -> Option<FrameError> {
        let avail = self.buf.len() - self.start;
        if self.poisoned || avail == 0 {
            return None;
        }
        let want = self.buf[self.start..]
            .get(..4)
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
            .map_or(4, |h| 4 + u32::from_le_bytes(h) as usize);
        Some(FrameError::Truncated { got: avail, want })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<Msg> {
        let id = RshmId {
            node: 2,
            incarnation: 7,
            seq: 1,
        };
        vec![
            Msg::Heartbeat,
            Msg::Hello {
                node: 1,
                incarnation: 3,
                table: vec![SegmentInfo {
                    id,
                    key: 42,
                    size: 8192,
                    owner: 2,
                    version: 5,
                    removed: false,
                    established: true,
                    holders: vec![1, 2],
                    refs: vec![(1, 1)],
                }],
            },
            Msg::Update {
                id,
                version: 9,
                full: false,
                echo: None,
                pages: vec![Page {
                    index: 3,
                    bytes: vec![7; PAGE_BYTES],
                }],
            },
            Msg::Published {
                token: 5,
                version: 9,
                error: None,
            },
        ]
    }

    #[test]
    fn frames_round_trip_in_one_stream() {
        let mut stream = Vec::new();
        for m in sample() {
            stream.extend(encode_frame(&m).unwrap());
        }
        let mut d = FrameDecoder::new();
        // Byte by byte: frames come out only when whole.
        let mut out = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(r) = d.next_frame() {
                out.push(r.unwrap());
            }
        }
        assert_eq!(out, sample());
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn truncated_frame_is_reported_at_end_of_stream() {
        let frame = encode_frame(&sample()[1]).unwrap();
        let mut d = FrameDecoder::new();
        d.push(&frame[..frame.len() - 3]);
        assert!(d.next_frame().is_none());
        assert!(matches!(d.finish(), Some(FrameError::Truncated { .. })));
    }

    #[test]
    fn lying_length_poisons_and_other_version_is_dropped() {
        let mut d = FrameDecoder::new();
        d.push(&u32::MAX.to_le_bytes());
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Oversized(_)))
        ));
        assert!(d.is_poisoned());
        assert!(d.next_frame().is_none());

        let mut body = postcard::to_allocvec(&(PROTOCOL_VERSION + 1)).unwrap();
        body.push(1);
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend(body);
        let good = encode_frame(&Msg::Heartbeat).unwrap();
        let mut d = FrameDecoder::new();
        d.push(&frame);
        d.push(&good);
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::Version(PROTOCOL_VERSION + 1)))
        );
        assert_eq!(d.next_frame(), Some(Ok(Msg::Heartbeat)));
    }

    #[test]
    fn guest_ids_keep_order_and_stay_positive() {
        let a = RshmId {
            node: 1,
            incarnation: u32::MAX,
            seq: MAX_SEQ,
        };
        let b = RshmId {
            node: 2,
            incarnation: 0,
            seq: 0,
        };
        assert!(a.to_guest() < b.to_guest());
        assert!((a.to_guest() as i64) > 0);
        assert!(a.fits_guest());
        let c = RshmId {
            node: 255,
            incarnation: u32::MAX,
            seq: MAX_SEQ,
        };
        assert!((c.to_guest() as i64) > 0, "top bit clear");
        assert!(!RshmId {
            seq: MAX_SEQ + 1,
            ..c
        }
        .fits_guest());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes, in random chunks: never a panic, and the decoder
        /// always makes progress or waits for more.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                    cut in 1usize..64) {
            let mut d = FrameDecoder::new();
            for chunk in bytes.chunks(cut) {
                d.push(chunk);
                while d.next_frame().is_some() {}
            }
            let _ = d.finish();
        }

        /// A valid stream cut anywhere yields a prefix of its messages and
        /// then a truncation error, never a wrong message.
        #[test]
        fn truncations_yield_a_prefix(cut in 0usize..12_000) {
            let msgs = sample();
            let mut stream = Vec::new();
            for m in &msgs { stream.extend(encode_frame(m).unwrap()); }
            let cut = cut.min(stream.len());
            let mut d = FrameDecoder::new();
            d.push(&stream[..cut]);
            let mut got = Vec::new();
            while let Some(r) = d.next_frame() { got.push(r.unwrap()); }
            prop_assert_eq!(&got[..], &msgs[..got.len()]);
            let consumed: usize = msgs[..got.len()].iter().map(|m| encode_frame(m).unwrap().len()).sum();
            prop_assert_eq!(d.finish().is_some(), consumed < cut);
        }

        /// Length fields that lie (shorter or longer than the body) or
        /// corrupted body bytes: a dropped frame or a different but
        /// well-formed message, never a panic.
        #[test]
        fn lying_lengths_and_flipped_bytes(delta in -40i64..40, flip in 0usize..200, bit in 0u8..8) {
            let mut frame = encode_frame(&sample()[1]).unwrap();
            let len = (frame.len() - 4) as i64 + delta;
            frame[..4].copy_from_slice(&(len.max(0) as u32).to_le_bytes());
            let i = 4 + flip % (frame.len() - 4);
            frame[i] ^= 1 << bit;
            let mut d = FrameDecoder::new();
            d.push(&frame);
            d.push(&encode_frame(&Msg::Heartbeat).unwrap());
            while d.next_frame().is_some() {}
            let _ = d.finish();
        }
    }
}

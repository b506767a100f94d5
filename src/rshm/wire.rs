//! The wire format between rshm servers (docs/spec/rshm.md, "a full mesh ...
//! length-prefixed binary messages, one Rust enum ... with a version field").
//!
//! ```text
//! frame    = length (u32, little endian) ‖ body
//! greeting = body: postcard(Envelope { version, incarnation: 0, Greeting })
//! sealed   = body: postcard(Envelope { version, incarnation, msg }) ‖ tag (32 bytes)
//! ```
//!
//! Each end of a connection first sends a `Greeting` with a fresh nonce;
//! every later frame is sealed with a tag keyed by the cluster key and both
//! nonces, and numbered implicitly per direction (auth.rs), so a frame of
//! a peer without the key, or a replayed one, is dropped with its
//! connection. `FrameDecoder` is fed the bytes a socket delivers and hands
//! out whole bodies; `decode_body` turns one into a message. A frame cut
//! short, longer than the decoder's limit, of another protocol version or
//! that does not decode is a `FrameError` — the caller logs it with the
//! peer's name and drops it; nothing of it is applied, and nothing here
//! panics on any input.
//!
//! Main types: `RshmId` (the global segment id), `Msg` (every message),
//! `Run` (changed bytes of a segment), `FrameDecoder`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::auth::{Sealer, TAG_BYTES};
use crate::abi::Errno;

/// Protocol version; a frame of another version is dropped. 3: byte runs
/// instead of pages, ownership epochs, sealed frames.
pub const PROTOCOL_VERSION: u16 = 3;

/// Bytes in one page of a segment (the machine's page size).
pub const PAGE_BYTES: usize = crate::emu::PAGE_SIZE as usize;

/// The largest segment (spec: `rshmget` EINVAL "too large").
pub const MAX_SEGMENT: u64 = 4 << 20;

/// The largest frame: a whole segment as runs plus room for the message
/// around it.
pub const MAX_FRAME: usize = 2 * MAX_SEGMENT as usize + (64 << 10);

/// The largest frame before a peer has greeted: a greeting is ~40 bytes.
pub const MAX_GREETING: usize = 256;

/// A node's id (`sim node --id N`), `MIN_NODE..=MAX_NODE`.
pub type NodeId = u16;

/// The lowest node id a node may have.
pub const MIN_NODE: NodeId = 1;
/// The highest node id: a guest's rshmid has 10 bits for it.
pub const MAX_NODE: NodeId = 1023;

/// Refuses a node id outside `MIN_NODE..=MAX_NODE`.
///
/// # Errors
/// A message that names the range.
pub fn check_node_id(id: NodeId) -> Result<(), String> {
    if (MIN_NODE..=MAX_NODE).contains(&id) {
        Ok(())
    } else {
        Err(format!(
            "node id {id} is outside the supported range {MIN_NODE}..={MAX_NODE}"
        ))
    }
}

/// A segment id, unique across all nodes and restarts and never reused
/// (spec: "(node id, incarnation, sequence)"). Ordered by its fields, so
/// the lowest id is well defined (used for `rshmget` convergence, see
/// table.rs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RshmId {
    pub node: NodeId,
    /// The creating node's incarnation (a restarted node has a new one).
    pub incarnation: u32,
    pub seq: u32,
}

/// Bits of a guest id: node, incarnation, sequence (63 in all: the top bit
/// stays clear so that an id never looks like an error).
const NODE_BITS: u32 = 10;
const INCARNATION_BITS: u32 = 32;
const SEQ_BITS: u32 = 21;

/// The largest sequence number a guest id has room for (rshmget ENOSPC
/// beyond: a node creates at most 2 Mi segments per incarnation).
pub const MAX_SEQ: u32 = (1 << SEQ_BITS) - 1;

impl RshmId {
    /// The value a guest sees: `node (10 bits) | incarnation (32 bits) |
    /// seq (21 bits)`, top bit clear. Every field is whole for ids that
    /// `fits_guest` (the server makes no other), so the value is unique
    /// and order-preserving.
    pub fn to_guest(self) -> u64 {
        (u64::from(self.node) << (INCARNATION_BITS + SEQ_BITS))
            | (u64::from(self.incarnation) << SEQ_BITS)
            | u64::from(self.seq)
    }

    /// The id a guest value stands for (None when no id packs to it).
    pub fn from_guest(guest: u64) -> Option<RshmId> {
        let id = RshmId {
            node: (guest >> (INCARNATION_BITS + SEQ_BITS)) as NodeId,
            incarnation: (guest >> SEQ_BITS) as u32,
            seq: (guest & u64::from(MAX_SEQ)) as u32,
        };
        (id.fits_guest() && id.to_guest() == guest).then_some(id)
    }

    /// Whether `to_guest` keeps every bit of this id.
    pub fn fits_guest(self) -> bool {
        (MIN_NODE..=MAX_NODE).contains(&self.node) && self.seq <= MAX_SEQ
    }
}

const _: () = assert!(NODE_BITS + INCARNATION_BITS + SEQ_BITS == 63);
const _: () = assert!(MAX_NODE as u32 == (1 << NODE_BITS) - 1);

impl fmt::Display for RshmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.node, self.incarnation, self.seq)
    }
}

/// Changed bytes of a segment: `bytes` at byte `offset` (diff.rs).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Run {
    pub offset: u32,
    pub bytes: Vec<u8>,
}

/// One page of a segment: its index and its bytes (the kernel's view).
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
    /// The ownership epoch: 0 for the creator, one more per takeover.
    pub epoch: u64,
    pub version: u64,
    pub removed: bool,
    /// Its creation round chose it (it is the key's segment).
    pub established: bool,
    /// Nodes that hold a copy.
    pub holders: Vec<NodeId>,
    /// Attached processes per node.
    pub refs: Vec<(NodeId, u32)>,
}

/// Removed segments collected from every table: creator, creator's
/// incarnation, and an inclusive range of sequence numbers.
pub type CollectedRange = (NodeId, u32, u32, u32);

/// Every message between servers. `token` fields pair a reply with the
/// request that asked for it (chosen by the asking node). `epoch` fields
/// are a segment's ownership epoch as the sender knows it: a holder
/// ignores an owner of an older epoch (a fenced one).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// The first frame each end sends, unsealed: a fresh nonce for the
    /// session keys (auth.rs).
    Greeting { nonce: [u8; 32] },
    /// The first sealed message, from both ends: who I am and my table.
    Hello {
        node: NodeId,
        incarnation: u32,
        table: Vec<SegmentInfo>,
        collected: Vec<CollectedRange>,
    },
    /// Sent every heartbeat interval; silence longer than the timeout drops the peer.
    Heartbeat,
    /// This node dropped the receiver's incarnation `incarnation` (it was
    /// silent): it may only come back as a new member (a new incarnation).
    Rejoin { incarnation: u32 },
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
    /// The owner's answer to `Fetch`: the whole segment as runs from zero.
    Image {
        token: u64,
        id: RshmId,
        epoch: u64,
        version: u64,
        runs: Vec<Run>,
        /// Why the owner refused (unknown, removed, not the owner).
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
    /// To the owner: the bytes the sender's processes wrote since its last
    /// publish.
    Publish {
        token: u64,
        id: RshmId,
        epoch: u64,
        runs: Vec<Run>,
    },
    /// From the owner to a holder: apply `runs` as `version`. `full` means
    /// the runs rebuild the whole segment from zeros (apply even after a
    /// gap). `echo` names the receiver's own publish (its token there).
    Update {
        id: RshmId,
        epoch: u64,
        version: u64,
        full: bool,
        echo: Option<u64>,
        runs: Vec<Run>,
    },
    /// To the owner: `version` of `id` is applied here.
    Ack {
        id: RshmId,
        epoch: u64,
        version: u64,
    },
    /// The owner's answer to `Publish`: the version, or why not (EAGAIN:
    /// the receiver does not own the segment in that epoch: ask again).
    Published {
        token: u64,
        version: u64,
        error: Option<Errno>,
    },
    /// The sender claims ownership of `id` in `epoch` (its old owner left).
    Takeover { id: RshmId, epoch: u64 },
    /// The answer to `Takeover`: whether the claim is accepted (else the
    /// owner and epoch the replier follows), and the replier's version.
    TakeoverAck {
        id: RshmId,
        epoch: u64,
        accepted: bool,
        owner: NodeId,
        version: u64,
        holder: bool,
    },
    /// A new owner's claim is settled: it sequences `id` in `epoch` (to
    /// the members that hold no copy; holders get the whole image).
    Owner { id: RshmId, epoch: u64 },
    /// A new owner asks the holder with the highest version for its image.
    ImageQuery { id: RshmId, epoch: u64 },
    /// A holder's answer: its version and image (None: it has none).
    ImageIs {
        id: RshmId,
        epoch: u64,
        version: u64,
        runs: Option<Vec<Run>>,
    },
}

impl Msg {
    /// The message's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Greeting { .. } => "Greeting",
            Msg::Hello { .. } => "Hello",
            Msg::Heartbeat => "Heartbeat",
            Msg::Rejoin { .. } => "Rejoin",
            Msg::Create { .. } => "Create",
            Msg::CreateAck { .. } => "CreateAck",
            Msg::Fetch { .. } => "Fetch",
            Msg::Image { .. } => "Image",
            Msg::Holder { .. } => "Holder",
            Msg::Refs { .. } => "Refs",
            Msg::Remove { .. } => "Remove",
            Msg::Removed { .. } => "Removed",
            Msg::Established { .. } => "Established",
            Msg::RemoveDone { .. } => "RemoveDone",
            Msg::Publish { .. } => "Publish",
            Msg::Update { .. } => "Update",
            Msg::Ack { .. } => "Ack",
            Msg::Published { .. } => "Published",
            Msg::Takeover { .. } => "Takeover",
            Msg::TakeoverAck { .. } => "TakeoverAck",
            Msg::Owner { .. } => "Owner",
            Msg::ImageQuery { .. } => "ImageQuery",
            Msg::ImageIs { .. } => "ImageIs",
        }
    }
}

/// The envelope every frame carries: the protocol version and the
/// sender's incarnation (a frame of an incarnation other than the one the
/// connection greeted with is dropped).
#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u16,
    incarnation: u32,
    msg: Msg,
}

/// Why a frame was dropped.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {1} bytes")]
    Oversized(u64, usize),
    #[error("frame cut short: {got} of {want} bytes")]
    Truncated { got: usize, want: usize },
    #[error("protocol version {0}, expected {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("undecodable frame: {0}")]
    Undecodable(String),
    #[error("frame not sealed with the cluster key")]
    BadTag,
    #[error("first frame is not a greeting")]
    NoGreeting,
}

fn body_of(msg: &Msg, incarnation: u32) -> Result<Vec<u8>, FrameError> {
    let envelope = Envelope {
        version: PROTOCOL_VERSION,
        incarnation,
        msg: msg.clone(),
    };
    postcard::to_extend(&envelope, Vec::new()).map_err(|e| FrameError::Undecodable(e.to_string()))
}

fn framed(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    if body.len() > MAX_FRAME {
        return Err(FrameError::Oversized(body.len() as u64, MAX_FRAME));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Encodes `msg` as one unsealed frame (the greeting; tests).
///
/// # Errors
/// `Oversized` when the message does not fit in a frame.
pub fn encode_frame(msg: &Msg) -> Result<Vec<u8>, FrameError> {
    framed(&body_of(msg, 0)?)
}

/// Encodes `msg` as one sealed frame of incarnation `incarnation`.
///
/// # Errors
/// `Oversized` when the message does not fit in a frame (a segment larger
/// than `MAX_SEGMENT` cannot be created, so this is a bug of the caller).
pub fn seal_frame(msg: &Msg, incarnation: u32, sealer: &mut Sealer) -> Result<Vec<u8>, FrameError> {
    let mut body = body_of(msg, incarnation)?;
    let tag = sealer.tag(&body);
    body.extend_from_slice(&tag);
    framed(&body)
}

/// Decodes an unsealed body (without its length prefix): the sender's
/// incarnation and the message.
///
/// # Errors
/// `Version` or `Undecodable`; trailing bytes count as undecodable.
pub fn decode_body(body: &[u8]) -> Result<(u32, Msg), FrameError> {
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
    Ok((envelope.incarnation, envelope.msg))
}

/// Splits a sealed body into the envelope's bytes and its tag.
///
/// # Errors
/// `BadTag` when the body is too short to carry one.
pub fn split_tag(body: &[u8]) -> Result<(&[u8], &[u8; TAG_BYTES]), FrameError> {
    let at = body
        .len()
        .checked_sub(TAG_BYTES)
        .ok_or(FrameError::BadTag)?;
    let (envelope, tag) = body.split_at(at);
    let tag: &[u8; TAG_BYTES] = tag.try_into().map_err(|_| FrameError::BadTag)?;
    Ok((envelope, tag))
}

/// Reassembles frames from a byte stream.
///
/// Feed it with `push`, take bodies with `next_frame`. After a length above
/// the limit the stream cannot be trusted to resynchronise (the length
/// field lies), so the decoder is poisoned and the caller closes the
/// connection. The limit starts at `MAX_GREETING` and is raised once the
/// peer has greeted (`set_limit`), so a peer without the key cannot make
/// this node buffer more than a greeting.
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    poisoned: bool,
    limit: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            poisoned: false,
            limit: MAX_GREETING,
        }
    }
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// A decoder that takes frames up to `limit` bytes from the start.
    pub fn with_limit(limit: usize) -> FrameDecoder {
        FrameDecoder {
            limit: limit.min(MAX_FRAME),
            ..FrameDecoder::default()
        }
    }

    /// Frames up to `limit` bytes are taken from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(MAX_FRAME);
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

    /// Bytes buffered that are not a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame's body, if one has arrived: `Some(Ok(body))`,
    /// or `Some(Err(e))` for a length above the limit (then poisoned);
    /// `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if self.poisoned {
            return None;
        }
        let avail = &self.buf[self.start..];
        let header: [u8; 4] = avail.get(..4)?.try_into().ok()?;
        let len = u32::from_le_bytes(header) as usize;
        if len > self.limit {
            self.poisoned = true;
            return Some(Err(FrameError::Oversized(len as u64, self.limit)));
        }
        let body = avail.get(4..4 + len)?.to_vec();
        self.start += 4 + len;
        Some(Ok(body))
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
                    epoch: 1,
                    version: 5,
                    removed: false,
                    established: true,
                    holders: vec![1, 2],
                    refs: vec![(1, 1)],
                }],
                collected: vec![(2, 7, 0, 0)],
            },
            Msg::Update {
                id,
                epoch: 1,
                version: 9,
                full: false,
                echo: None,
                runs: vec![Run {
                    offset: 3,
                    bytes: vec![7; 40],
                }],
            },
            Msg::Published {
                token: 5,
                version: 9,
                error: None,
            },
        ]
    }

    fn decode(body: Vec<u8>) -> Msg {
        decode_body(&body).unwrap().1
    }

    fn big_decoder() -> FrameDecoder {
        FrameDecoder::with_limit(MAX_FRAME)
    }

    #[test]
    fn frames_round_trip_in_one_stream() {
        let mut stream = Vec::new();
        for m in sample() {
            stream.extend(encode_frame(&m).unwrap());
        }
        let mut d = big_decoder();
        // Byte by byte: frames come out only when whole.
        let mut out = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(r) = d.next_frame() {
                out.push(decode(r.unwrap()));
            }
        }
        assert_eq!(out, sample());
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn truncated_frame_is_reported_at_end_of_stream() {
        let frame = encode_frame(&sample()[1]).unwrap();
        let mut d = big_decoder();
        d.push(&frame[..frame.len() - 3]);
        assert!(d.next_frame().is_none());
        assert!(matches!(d.finish(), Some(FrameError::Truncated { .. })));
    }

    #[test]
    fn lying_length_poisons_and_other_version_is_dropped() {
        let mut d = big_decoder();
        d.push(&u32::MAX.to_le_bytes());
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Oversized(..)))
        ));
        assert!(d.is_poisoned());
        assert!(d.next_frame().is_none());

        let mut body = postcard::to_allocvec(&(PROTOCOL_VERSION + 1)).unwrap();
        body.push(1);
        assert_eq!(
            decode_body(&body).err(),
            Some(FrameError::Version(PROTOCOL_VERSION + 1))
        );
    }

    #[test]
    fn before_the_greeting_only_small_frames_are_taken() {
        let mut d = FrameDecoder::new();
        d.push(&((MAX_GREETING + 1) as u32).to_le_bytes());
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Oversized(..)))
        ));
        let greeting = encode_frame(&Msg::Greeting { nonce: [3; 32] }).unwrap();
        assert!(greeting.len() <= MAX_GREETING);
    }

    #[test]
    fn guest_ids_keep_every_field_and_order() {
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
        let top = RshmId {
            node: MAX_NODE,
            incarnation: u32::MAX,
            seq: MAX_SEQ,
        };
        assert!((top.to_guest() as i64) > 0, "top bit clear");
        assert_eq!(RshmId::from_guest(top.to_guest()), Some(top));
        // Nodes 1 and 257 (equal in their low 8 bits) make different ids.
        let n257 = RshmId { node: 257, ..b };
        let n1 = RshmId { node: 1, ..b };
        assert_ne!(n1.to_guest(), n257.to_guest());
        assert_eq!(RshmId::from_guest(n257.to_guest()), Some(n257));
        assert!(!RshmId {
            seq: MAX_SEQ + 1,
            ..top
        }
        .fits_guest());
        assert!(check_node_id(0).is_err());
        assert!(check_node_id(MAX_NODE + 1).is_err());
        assert!(check_node_id(257).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes, in random chunks: never a panic, and the decoder
        /// always makes progress or waits for more.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                    cut in 1usize..64) {
            let mut d = big_decoder();
            for chunk in bytes.chunks(cut) {
                d.push(chunk);
                while let Some(r) = d.next_frame() {
                    if let Ok(body) = r { let _ = decode_body(&body); let _ = split_tag(&body); }
                }
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
            let mut d = big_decoder();
            d.push(&stream[..cut]);
            let mut got = Vec::new();
            while let Some(r) = d.next_frame() { got.push(decode(r.unwrap())); }
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
            let mut d = big_decoder();
            d.push(&frame);
            d.push(&encode_frame(&Msg::Heartbeat).unwrap());
            while let Some(r) = d.next_frame() {
                if let Ok(body) = r { let _ = decode_body(&body); }
            }
            let _ = d.finish();
        }
    }
}

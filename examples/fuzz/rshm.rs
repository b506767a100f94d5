//! Target `rshm`: random and mutated wire frames (src/rshm/wire.rs).
//!
//! Each input does two things:
//! - **decode**: its bytes, cut into chunks, go through `FrameDecoder`
//!   (before and after the greeting's limit) and every body through
//!   `decode_body` and `split_tag`: errors are values, never panics;
//! - **live**: it talks to a real node (a `MemNode` server on 127.0.0.1,
//!   one with the open key and one with a secret cluster key the harness
//!   knows too): it reads the node's greeting, then sends garbage before a
//!   greeting, or greets and sends a `Hello` claiming some node id and a
//!   table, then a run of messages — well-formed with adversarial fields
//!   (segment ids of real and made-up segments, huge sizes, offsets and
//!   versions, other nodes' ids), or their sealed bytes mutated, a bad
//!   tag, a length of 4 GiB, a frame cut short — and hangs up. The node
//!   must still answer a call afterwards (its table dump), no thread of it
//!   may panic, and the host's memory stays under `--max-rss-mb`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use sim::abi::{Errno, EAGAIN, EINVAL};
use sim::rshm::auth::{nonce, session, Sealer};
use sim::rshm::harness::MemNode;
use sim::rshm::wire::{
    decode_body, split_tag, CollectedRange, FrameDecoder, Msg, SegmentInfo, MAX_FRAME,
    PROTOCOL_VERSION,
};
use sim::rshm::{ClusterKey, NodeId, RshmId, Run};

use crate::rng::{Rng, Source, INTERESTING};
use crate::{Target, Verdict};

/// The secret of the keyed node (the harness is a member that knows it).
const SECRET: &[u8] = b"the fuzz harness's cluster key";
/// The live nodes' own id.
const NODE: NodeId = 1;

struct Live {
    node: MemNode,
    key: ClusterKey,
    /// Segments the node made (guest ids), for messages about real ones.
    segments: Vec<u64>,
}

pub struct RshmTarget {
    /// Conversations with live nodes, and bytes sent in them.
    conversations: u64,
    sent: u64,
    /// Started on first use: [open key, secret key].
    live: Vec<Live>,
}

impl RshmTarget {
    pub fn new() -> RshmTarget {
        RshmTarget {
            conversations: 0,
            sent: 0,
            live: Vec::new(),
        }
    }

    fn start(&mut self) -> Result<(), String> {
        for key in [ClusterKey::open(), ClusterKey::from_secret(SECRET)] {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let mut node = MemNode::start_with_key(NODE, listener, Vec::new(), None, key.clone())
                .map_err(|e| format!("cannot start a node: {e}"))?;
            let mut segments = Vec::new();
            for (k, size) in [(1, 4096), (2, 3 * 4096 + 17)] {
                let id = node
                    .get(k, size)
                    .map_err(|e| format!("rshmget on a fresh node: {e:?}"))?;
                let _ = node.attach(id);
                segments.push(id);
            }
            self.live.push(Live {
                node,
                key,
                segments,
            });
        }
        Ok(())
    }
}

/// Cuts `bytes` into chunks and runs them through a decoder.
fn decode_all(src: &mut Source, bytes: &[u8]) {
    let mut decoder = if src.u8() < 128 {
        FrameDecoder::new()
    } else {
        FrameDecoder::with_limit(MAX_FRAME)
    };
    let mut at = 0;
    while at < bytes.len() {
        let n = (1 + src.below(64) as usize).min(bytes.len() - at);
        decoder.push(&bytes[at..at + n]);
        at += n;
        while let Some(frame) = decoder.next_frame() {
            if let Ok(body) = frame {
                let _ = decode_body(&body);
                if let Ok((envelope, _tag)) = split_tag(&body) {
                    let _ = decode_body(envelope);
                }
            }
        }
    }
    let _ = decoder.finish();
    let _ = decode_body(bytes);
    let _ = postcard::from_bytes::<Msg>(bytes);
}

fn node_id(src: &mut Source) -> NodeId {
    let any = src.u16();
    *src.pick(&[2, 2, 3, NODE, 0, 1023, 1024, u16::MAX, any])
}

fn number(src: &mut Source) -> u64 {
    match src.below(3) {
        0 => *src.pick(INTERESTING),
        1 => src.below(8),
        _ => src.u64(),
    }
}

fn segment_id(src: &mut Source, known: &[u64]) -> RshmId {
    let real = known
        .get(src.below(known.len() as u64 + 1) as usize)
        .and_then(|&g| RshmId::from_guest(g));
    match real {
        Some(id) if src.u8() < 200 => id,
        _ => RshmId {
            node: node_id(src),
            incarnation: src.u32(),
            seq: src.u32() % 8,
        },
    }
}

fn runs(src: &mut Source) -> Vec<Run> {
    (0..src.below(4))
        .map(|_| {
            let any = src.u32();
            Run {
                offset: *src.pick(&[0, 1, 4095, 4096, 12288, 16400, u32::MAX, any]),
                bytes: vec![src.u8(); src.below(300) as usize],
            }
        })
        .collect()
}

fn errno(src: &mut Source) -> Option<Errno> {
    match src.below(3) {
        0 => None,
        1 => Some(*src.pick(&[EAGAIN, EINVAL])),
        _ => Some(Errno(src.u64())),
    }
}

fn info(src: &mut Source, known: &[u64]) -> SegmentInfo {
    SegmentInfo {
        id: segment_id(src, known),
        key: src.below(4),
        size: number(src),
        owner: node_id(src),
        epoch: number(src),
        version: number(src),
        removed: src.u8() < 40,
        established: src.u8() < 128,
        holders: (0..src.below(4)).map(|_| node_id(src)).collect(),
        refs: (0..src.below(3))
            .map(|_| (node_id(src), src.u32()))
            .collect(),
    }
}

/// A well-formed message with adversarial fields.
fn message(src: &mut Source, known: &[u64]) -> Msg {
    let token = number(src);
    match src.below(22) {
        0 => Msg::Heartbeat,
        1 => Msg::Rejoin {
            incarnation: src.u32(),
        },
        2 => Msg::Create {
            token,
            info: info(src, known),
        },
        3 => Msg::CreateAck {
            token,
            winner: info(src, known),
            established: src.u8() < 128,
        },
        4 => Msg::Fetch {
            token,
            id: segment_id(src, known),
        },
        5 => Msg::Image {
            token,
            id: segment_id(src, known),
            epoch: number(src),
            version: number(src),
            runs: runs(src),
            error: errno(src),
        },
        6 => Msg::Holder {
            id: segment_id(src, known),
            node: node_id(src),
        },
        7 => Msg::Refs {
            id: segment_id(src, known),
            node: node_id(src),
            count: src.u32(),
        },
        8 => Msg::Remove {
            token,
            id: segment_id(src, known),
        },
        9 => Msg::Removed {
            id: segment_id(src, known),
        },
        10 => Msg::Established {
            id: segment_id(src, known),
        },
        11 => Msg::RemoveDone {
            token,
            error: errno(src),
        },
        12 => Msg::Publish {
            token,
            id: segment_id(src, known),
            epoch: number(src),
            runs: runs(src),
        },
        13 => Msg::Update {
            id: segment_id(src, known),
            epoch: number(src),
            version: number(src),
            full: src.u8() < 128,
            echo: (src.u8() < 128).then(|| number(src)),
            runs: runs(src),
        },
        14 => Msg::Ack {
            id: segment_id(src, known),
            epoch: number(src),
            version: number(src),
        },
        15 => Msg::Published {
            token,
            version: number(src),
            error: errno(src),
        },
        16 => Msg::Takeover {
            id: segment_id(src, known),
            epoch: number(src),
        },
        17 => Msg::TakeoverAck {
            id: segment_id(src, known),
            epoch: number(src),
            accepted: src.u8() < 128,
            owner: node_id(src),
            version: number(src),
            holder: src.u8() < 128,
        },
        18 => Msg::Owner {
            id: segment_id(src, known),
            epoch: number(src),
        },
        19 => Msg::ImageQuery {
            id: segment_id(src, known),
            epoch: number(src),
        },
        20 => Msg::ImageIs {
            id: segment_id(src, known),
            epoch: number(src),
            version: number(src),
            runs: (src.u8() < 128).then(|| runs(src)),
        },
        _ => hello(src, known),
    }
}

fn hello(src: &mut Source, known: &[u64]) -> Msg {
    let collected: Vec<CollectedRange> = (0..src.below(3))
        .map(|_| (node_id(src), src.u32(), src.u32(), src.u32()))
        .collect();
    Msg::Hello {
        node: node_id(src),
        incarnation: src.u32(),
        table: (0..src.below(4)).map(|_| info(src, known)).collect(),
        collected,
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The envelope's bytes, as wire.rs encodes them (a struct is a tuple
/// in postcard).
fn envelope(version: u16, incarnation: u32, msg: &Msg) -> Vec<u8> {
    postcard::to_allocvec(&(version, incarnation, msg)).unwrap_or_default()
}

fn sealed(sealer: &mut Sealer, mut body: Vec<u8>) -> Vec<u8> {
    let tag = sealer.tag(&body);
    body.extend_from_slice(&tag);
    framed(&body)
}

/// Reads one frame's body (the node's greeting).
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 4096 {
        return None;
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// One conversation with a live node, as `src` decides.
fn converse(src: &mut Source, live: &Live) -> Result<usize, String> {
    let mut stream = TcpStream::connect(live.node.addr).map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Some(theirs) = read_frame(&mut stream) else {
        return Err("the node sent no greeting".into());
    };
    let Ok((_, Msg::Greeting { nonce: theirs })) = decode_body(&theirs) else {
        return Err("the node's first frame is not a greeting".into());
    };
    let mut out = Vec::new();
    if src.u8() < 30 {
        // Garbage instead of a greeting.
        out.extend(src.take(300));
    } else {
        let mine = nonce();
        out.extend(framed(&envelope(
            PROTOCOL_VERSION,
            0,
            &Msg::Greeting { nonce: mine },
        )));
        // A stranger seals with another key.
        let key = if src.u8() < 20 {
            ClusterKey::from_secret(b"a stranger's key, not the cluster's")
        } else {
            live.key.clone()
        };
        let (mut sealer, _opener) = session(&key, &mine, &theirs);
        let incarnation = src.u32();
        let hello = match hello(src, &live.segments) {
            Msg::Hello {
                table, collected, ..
            } => Msg::Hello {
                node: *src.pick(&[2, 3, 4, NODE, 0, 2000]),
                incarnation,
                table,
                collected,
            },
            other => other,
        };
        out.extend(sealed(
            &mut sealer,
            envelope(PROTOCOL_VERSION, incarnation, &hello),
        ));
        for _ in 0..src.below(24) {
            let msg = message(src, &live.segments);
            let inc = if src.u8() < 230 {
                incarnation
            } else {
                src.u32()
            };
            let mut body = envelope(PROTOCOL_VERSION, inc, &msg);
            match src.below(16) {
                0 => {
                    // Mutated bytes, sealed: past the tag, into the decoder.
                    for _ in 0..=src.below(4) {
                        if !body.is_empty() {
                            let i = src.below(body.len() as u64) as usize;
                            body[i] = src.u8();
                        }
                    }
                    out.extend(sealed(&mut sealer, body));
                }
                1 => {
                    // A bad tag.
                    let mut frame = sealed(&mut sealer, body);
                    if let Some(last) = frame.last_mut() {
                        *last ^= 1;
                    }
                    out.extend(frame);
                }
                2 => out.extend(u32::MAX.to_le_bytes()),
                3 => {
                    let frame = sealed(&mut sealer, body);
                    let cut = src.below(frame.len() as u64) as usize;
                    out.extend(&frame[..cut]);
                }
                4 => out.extend(sealed(&mut sealer, envelope(src.u16(), inc, &msg))),
                _ => out.extend(sealed(&mut sealer, body)),
            }
        }
    }
    // The node may hang up on us at any point: that is its right.
    let _ = stream.write_all(&out);
    let _ = stream.flush();
    if src.u8() < 128 {
        // Stay a moment, so the node handles the frames while we are a member.
        std::thread::sleep(Duration::from_millis(u64::from(src.u8() % 20)));
    }
    let _ = stream.shutdown(Shutdown::Both);
    Ok(out.len())
}

impl Target for RshmTarget {
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        let n = 16 + rng.below(2048) as usize;
        rng.bytes(n)
    }

    fn execute(&mut self, input: &[u8]) -> Verdict {
        let mut src = Source::new(input);
        decode_all(&mut src, input);
        if self.live.is_empty() {
            if let Err(e) = self.start() {
                return Verdict::Failure(e);
            }
        }
        let which = usize::from(src.u8() % 2);
        let Some(live) = self.live.get_mut(which) else {
            return Verdict::Failure("no live node".into());
        };
        if let Ok(mut log) = live.node.log.lock() {
            log.clear();
        }
        match converse(&mut src, live) {
            Ok(sent) => {
                self.conversations += 1;
                self.sent += sent as u64;
            }
            Err(e) => return Verdict::Failure(format!("node {which}: {e}")),
        }
        let dump = live.node.dump();
        if dump.starts_with("Err(") {
            let failure = format!("node {which} stopped answering: {dump}");
            self.live.clear();
            return Verdict::Failure(failure);
        }
        Verdict::Ok
    }

    fn reached(&self) -> String {
        format!(
            "{} conversations with live nodes, {} bytes sent",
            self.conversations, self.sent
        )
    }
}

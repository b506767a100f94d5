//! TCP plumbing of the full mesh (docs/spec/rshm.md: "every server keeps a
//! connection to every other server"). Threads here only move bytes and
//! check tags; every decision is the server's (server/membership.rs).
//!
//! ```text
//! listener thread ──accept──┐ (beyond MAX_CONNS: closed at once, NetInput::Refused)
//! dial thread ──connect─────┴─► open: write our Greeting, then
//!                               NetInput::NewConn(conn, stream) ─► server
//! reader thread per connection: bytes → FrameDecoder
//!     first frame: the peer's Greeting → session keys → NetInput::Greeted(sealer)
//!     then each frame: tag checked (auth.rs) → NetInput::Frame
//!     a bad tag, a missing greeting, an oversized length → BadFrame, then Closed
//! server thread: write_frame(conn) (sealed, blocking, with a write timeout)
//! ```
//!
//! Connections are numbered (`ConnId`) when they open; the server binds a
//! number to a node when the peer's `Hello` arrives. `Net` sends into the
//! server's inbox whatever item type that inbox has (`I: From<NetInput>`),
//! so this file needs nothing of the server's and the server's files are
//! free to import it. A thread that cannot be spawned costs its
//! connection (or dial), never the node.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::auth::{self, ClusterKey, Opener, Sealer};
use super::wire::{self, FrameDecoder, FrameError, Msg, NodeId, MAX_FRAME};

/// Numbers connections in the order they open (never reused in a run).
pub type ConnId = u64;

/// How long one write may block before the peer counts as stopped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a dial may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_millis(500);
/// Open connections at most (each has a reader thread); more are closed
/// as they are accepted.
pub const MAX_CONNS: usize = 128;

/// What the network threads tell the server.
#[derive(Debug)]
pub enum NetInput {
    NewConn {
        conn: ConnId,
        stream: TcpStream,
        dialed: Option<NodeId>,
        peer_addr: String,
    },
    /// The peer greeted: frames to it may be sealed now.
    Greeted {
        conn: ConnId,
        sealer: Sealer,
    },
    DialFailed {
        node: NodeId,
        reason: String,
    },
    Frame {
        conn: ConnId,
        /// The sender's incarnation, from the frame's envelope.
        incarnation: u32,
        msg: Msg,
    },
    BadFrame {
        conn: ConnId,
        /// The peer's address, to name it after its connection is gone.
        peer_addr: String,
        error: FrameError,
    },
    Closed {
        conn: ConnId,
        reason: String,
    },
    /// A connection closed as it was accepted (too many open).
    Refused {
        peer_addr: String,
        reason: String,
    },
}

/// Shared by the network threads of one node; `I` is the item of the
/// server's inbox.
pub struct Net<I> {
    pub inbox: Sender<I>,
    pub stop: Arc<AtomicBool>,
    next_conn: Arc<AtomicU64>,
    open_conns: Arc<AtomicUsize>,
    key: Arc<ClusterKey>,
}

// Not derived: a derive would ask for `I: Clone`, and the server's inputs
// (which hold TcpStreams) are not.
impl<I> Clone for Net<I> {
    fn clone(&self) -> Self {
        Net {
            inbox: self.inbox.clone(),
            stop: Arc::clone(&self.stop),
            next_conn: Arc::clone(&self.next_conn),
            open_conns: Arc::clone(&self.open_conns),
            key: Arc::clone(&self.key),
        }
    }
}

/// Counts a connection open until dropped (its reader ends).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<I: From<NetInput> + Send + 'static> Net<I> {
    pub fn new(inbox: Sender<I>, key: ClusterKey) -> Net<I> {
        Net {
            inbox,
            stop: Arc::new(AtomicBool::new(false)),
            next_conn: Arc::new(AtomicU64::new(1)),
            open_conns: Arc::new(AtomicUsize::new(0)),
            key: Arc::new(key),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Queues `input` for the server; false when the server is gone.
    fn tell(&self, input: NetInput) -> bool {
        self.inbox.send(input.into()).is_ok()
    }

    /// Accepts connections until `stop`; each becomes `NetInput::NewConn`.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn_listener(&self, listener: TcpListener) -> std::io::Result<()> {
        let net = self.clone();
        listener.set_nonblocking(true)?;
        thread::Builder::new()
            .name("rshm-listen".into())
            .spawn(move || {
                while !net.stopped() {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            net.open(stream, None);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(())
    }

    /// Dials `node` at `addr` in the background; success is
    /// `NetInput::NewConn`, failure `NetInput::DialFailed`.
    pub fn spawn_dial(&self, node: NodeId, addr: SocketAddr) {
        let net = self.clone();
        let spawned = thread::Builder::new()
            .name("rshm-dial".into())
            .spawn(
                move || match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
                    Ok(stream) => net.open(stream, Some(node)),
                    Err(e) => {
                        net.tell(NetInput::DialFailed {
                            node,
                            reason: e.to_string(),
                        });
                    }
                },
            );
        if let Err(e) = spawned {
            self.tell(NetInput::DialFailed {
                node,
                reason: format!("cannot start a dial thread: {e}"),
            });
        }
    }

    /// Registers a new connection: greets the peer and starts its reader.
    /// `dialed` names the node we dialed (None when we accepted).
    fn open(&self, mut stream: TcpStream, dialed: Option<NodeId>) {
        let peer_addr = stream
            .peer_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        if self.open_conns.fetch_add(1, Ordering::Relaxed) >= MAX_CONNS {
            self.open_conns.fetch_sub(1, Ordering::Relaxed);
            let _ = stream.shutdown(Shutdown::Both);
            let reason = format!("{MAX_CONNS} connections open already");
            match dialed {
                Some(node) => self.tell(NetInput::DialFailed { node, reason }),
                None => self.tell(NetInput::Refused { peer_addr, reason }),
            };
            return;
        }
        let slot = Slot(Arc::clone(&self.open_conns));
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mine = auth::nonce();
        let greeting = wire::encode_frame(&Msg::Greeting { nonce: mine });
        let Ok(reader) = stream.try_clone() else {
            return;
        };
        if greeting.map_or(true, |g| stream.write_all(&g).is_err()) {
            let _ = stream.shutdown(Shutdown::Both);
            if let Some(node) = dialed {
                self.tell(NetInput::DialFailed {
                    node,
                    reason: "could not send the greeting".into(),
                });
            }
            return;
        }
        if !self.tell(NetInput::NewConn {
            conn,
            stream,
            dialed,
            peer_addr: peer_addr.clone(),
        }) {
            return;
        }
        let net = self.clone();
        let closer = reader.try_clone();
        let spawned = thread::Builder::new()
            .name("rshm-read".into())
            .spawn(move || {
                let _slot = slot;
                net.read_loop(conn, reader, peer_addr, mine);
            });
        if let Err(e) = spawned {
            if let Ok(s) = closer {
                let _ = s.shutdown(Shutdown::Both);
            }
            self.tell(NetInput::Closed {
                conn,
                reason: format!("cannot start a reader thread: {e}"),
            });
        }
    }

    /// Reads frames until the connection closes; never panics on any bytes.
    fn read_loop(self, conn: ConnId, mut stream: TcpStream, peer_addr: String, mine: [u8; 32]) {
        let mut decoder = FrameDecoder::new();
        let mut opener: Option<Opener> = None;
        let mut buf = vec![0u8; 64 << 10];
        let bad = |error: FrameError| NetInput::BadFrame {
            conn,
            peer_addr: peer_addr.clone(),
            error,
        };
        let reason = 'read: loop {
            match stream.read(&mut buf) {
                Ok(0) => break "closed by peer".to_string(),
                Ok(n) => {
                    decoder.push(&buf[..n]);
                    while let Some(frame) = decoder.next_frame() {
                        let body = match frame {
                            Ok(body) => body,
                            Err(error) => {
                                if !self.tell(bad(error)) {
                                    return;
                                }
                                continue;
                            }
                        };
                        let input = match opener.as_mut() {
                            None => match wire::decode_body(&body) {
                                Ok((_, Msg::Greeting { nonce })) => {
                                    let (sealer, op) = auth::session(&self.key, &mine, &nonce);
                                    opener = Some(op);
                                    decoder.set_limit(MAX_FRAME);
                                    NetInput::Greeted { conn, sealer }
                                }
                                _ => {
                                    self.tell(bad(FrameError::NoGreeting));
                                    break 'read "no greeting".to_string();
                                }
                            },
                            Some(op) => match wire::split_tag(&body) {
                                Ok((envelope, tag)) if op.check(envelope, tag) => {
                                    match wire::decode_body(envelope) {
                                        Ok((incarnation, msg)) => NetInput::Frame {
                                            conn,
                                            incarnation,
                                            msg,
                                        },
                                        Err(error) => bad(error),
                                    }
                                }
                                _ => {
                                    self.tell(bad(FrameError::BadTag));
                                    break 'read "frame not sealed with the cluster key"
                                        .to_string();
                                }
                            },
                        };
                        if !self.tell(input) {
                            return;
                        }
                    }
                    if decoder.is_poisoned() {
                        break "stream unusable after an oversized frame".to_string();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break e.to_string(),
            }
        };
        if let Some(error) = decoder.finish() {
            self.tell(bad(error));
        }
        let _ = stream.shutdown(Shutdown::Both);
        self.tell(NetInput::Closed { conn, reason });
    }
}

/// Writes one sealed frame (or, for the crash test hook, its first `limit`
/// bytes).
///
/// # Errors
/// The I/O error (the caller drops the connection).
pub fn write_frame(
    stream: &mut TcpStream,
    sealer: &mut Sealer,
    incarnation: u32,
    msg: &Msg,
    limit: Option<usize>,
) -> Result<usize, String> {
    let frame =
        wire::seal_frame(msg, incarnation, sealer).map_err(|e: FrameError| e.to_string())?;
    let bytes = limit.map_or(&frame[..], |l| &frame[..l.min(frame.len())]);
    stream.write_all(bytes).map_err(|e| e.to_string())?;
    Ok(bytes.len())
}

//! TCP plumbing of the full mesh (spec/rshm.md: "every server keeps a
//! connection to every other server"). Threads here only move bytes; every
//! decision is the server's (server/membership.rs).
//!
//! ```text
//! listener thread ──accept──┐
//! dial thread ──connect─────┴─► NetInput::NewConn(conn, stream) ─► server
//! reader thread per connection: bytes → FrameDecoder → NetInput::Frame /
//!                          NetInput::BadFrame / NetInput::Closed ─► server
//! server thread: write_frame(conn) (blocking, with a write timeout)
//! ```
//!
//! Connections are numbered (`ConnId`) when they open; the server binds a
//! number to a node when the peer's `Hello` arrives. `Net` sends into the
//! server's inbox whatever item type that inbox has (`I: From<NetInput>`),
//! so this file needs nothing of the server's and the server's files are
//! free to import it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::wire::{FrameDecoder, FrameError, Msg, NodeId};

/// Numbers connections in the order they open (never reused in a run).
pub type ConnId = u64;

/// How long one write may block before the peer counts as stopped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a dial may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_millis(500);

/// What the network threads tell the server.
#[derive(Debug)]
pub enum NetInput {
    NewConn {
        conn: ConnId,
        stream: TcpStream,
        dialed: Option<NodeId>,
        peer_addr: String,
    },
    DialFailed {
        node: NodeId,
        reason: String,
    },
    Frame {
        conn: ConnId,
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
}

/// Shared by the network threads of one node; `I` is the item of the
/// server's inbox.
pub struct Net<I> {
    pub inbox: Sender<I>,
    pub stop: Arc<AtomicBool>,
    next_conn: Arc<AtomicU64>,
}

// Not derived: a derive would ask for `I: Clone`, and the server's inputs
// (which hold TcpStreams) are not.
impl<I> Clone for Net<I> {
    fn clone(&self) -> Self {
        Net {
            inbox: self.inbox.clone(),
            stop: Arc::clone(&self.stop),
            next_conn: Arc::clone(&self.next_conn),
        }
    }
}

impl<I: From<NetInput> + Send + 'static> Net<I> {
    pub fn new(inbox: Sender<I>) -> Net<I> {
        Net {
            inbox,
            stop: Arc::new(AtomicBool::new(false)),
            next_conn: Arc::new(AtomicU64::new(1)),
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
    pub fn spawn_listener(&self, listener: TcpListener) {
        let net = self.clone();
        let _ = listener.set_nonblocking(true);
        thread::spawn(move || {
            while !net.stopped() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        net.open(stream, None);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    /// Dials `node` at `addr` in the background; success is
    /// `NetInput::NewConn`, failure `NetInput::DialFailed`.
    pub fn spawn_dial(&self, node: NodeId, addr: SocketAddr) {
        let net = self.clone();
        thread::spawn(
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
    }

    /// Registers a new connection and starts its reader. `dialed` names the
    /// node we dialed (None when we accepted).
    fn open(&self, stream: TcpStream, dialed: Option<NodeId>) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let Ok(reader) = stream.try_clone() else {
            return;
        };
        let peer_addr = stream
            .peer_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        let peer_addr_for_reader = peer_addr.clone();
        if !self.tell(NetInput::NewConn {
            conn,
            stream,
            dialed,
            peer_addr,
        }) {
            return;
        }
        let net = self.clone();
        thread::spawn(move || net.read_loop(conn, reader, peer_addr_for_reader));
    }

    /// Reads frames until the connection closes; never panics on any bytes.
    fn read_loop(self, conn: ConnId, mut stream: TcpStream, peer_addr: String) {
        let mut decoder = FrameDecoder::new();
        let mut buf = vec![0u8; 64 << 10];
        let reason = loop {
            match stream.read(&mut buf) {
                Ok(0) => break "closed by peer".to_string(),
                Ok(n) => {
                    decoder.push(&buf[..n]);
                    while let Some(frame) = decoder.next_frame() {
                        let input = match frame {
                            Ok(msg) => NetInput::Frame { conn, msg },
                            Err(error) => NetInput::BadFrame {
                                conn,
                                peer_addr: peer_addr.clone(),
                                error,
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
            self.tell(NetInput::BadFrame {
                conn,
                peer_addr,
                error,
            });
        }
        let _ = stream.shutdown(Shutdown::Both);
        self.tell(NetInput::Closed { conn, reason });
    }
}

/// Writes one frame (or, for the crash test hook, its first `limit` bytes).
///
/// # Errors
/// The I/O error (the caller drops the connection).
pub fn write_frame(
    stream: &mut TcpStream,
    msg: &Msg,
    limit: Option<usize>,
) -> Result<usize, String> {
    let frame = super::wire::encode_frame(msg).map_err(|e: FrameError| e.to_string())?;
    let bytes = limit.map_or(&frame[..], |l| &frame[..l.min(frame.len())]);
    stream.write_all(bytes).map_err(|e| e.to_string())?;
    Ok(bytes.len())
}

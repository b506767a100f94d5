//! Host descriptors whose reads may block: the host's stdin when it is a
//! terminal or a pipe, FIFOs, character devices. A read of one must put
//! only the reading process to sleep, never the simulator (every VM runs
//! in the one host thread), so each such descriptor gets a reader thread:
//!
//! ```text
//! reader thread                      kernel (the simulator's thread)
//!   open (a FIFO's open blocks       sys_openat: Block(HostIo) until
//!         until a writer comes)  ──►   `opened` says so; then the fd
//!   loop: read up to CHUNK bytes ──►  sys_read: data there → copy it out
//!         send it (waits while the             nothing yet → Block(HostIo)
//!         previous chunk is unread)  run loop: `ready` → wake the reader
//!   0 bytes or an error: send, end
//! ```
//!
//! The channel holds one chunk (`sync_channel(1)`), so a thread never
//! reads far ahead of its guest: at most two chunks of host memory per
//! descriptor. Regular files never come here: they cannot block, and
//! reading them in the simulator's thread keeps runs deterministic.
//! A thread blocked in a host `read` cannot be cancelled; when its
//! descriptor is closed it ends after its next read returns (or with the
//! program).

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::thread;

/// Bytes one host read asks for.
const CHUNK: usize = 64 * 1024;

/// What a reader thread sends.
enum Message {
    /// The descriptor is open (a FIFO's open returned); for a writable
    /// open, the file to write to.
    Opened(Option<std::fs::File>),
    Data(Vec<u8>),
    /// End of input (a read returned 0).
    End,
    Error(io::Error),
}

/// What opening a blocking descriptor gives when it is done.
pub enum Opened {
    /// Still opening (a FIFO without a peer yet).
    Waiting,
    /// Open; for a writable open, the file to write to.
    Done(Option<std::fs::File>),
    Failed(io::Error),
}

/// A host descriptor read by its own thread.
pub struct HostStream {
    rx: Receiver<Message>,
    /// Whether `Opened` has come.
    open: bool,
    /// The writer the open produced, until `opened` hands it out.
    writer: Option<Option<std::fs::File>>,
    /// Bytes received and not read yet: `buffer[pos..]`.
    buffer: Vec<u8>,
    pos: usize,
    /// The end (`Ok`) or the error that ended the thread, once seen.
    end: Option<io::Result<()>>,
}

impl HostStream {
    /// Starts a thread that runs `open` (which may block, as a FIFO's
    /// open does), then, if `readable`, reads what it returned until the
    /// end. `open` returns the reader and, for a writable open, the file
    /// to write to.
    pub fn spawn<F>(readable: bool, open: F) -> HostStream
    where
        F: FnOnce() -> io::Result<(Box<dyn Read + Send>, Option<std::fs::File>)> + Send + 'static,
    {
        let (tx, rx) = sync_channel(1);
        let spawned = thread::Builder::new()
            .name("sim-host-reader".into())
            .spawn(move || {
                let (mut reader, writer) = match open() {
                    Ok(opened) => opened,
                    Err(e) => {
                        let _ = tx.send(Message::Error(e));
                        return;
                    }
                };
                if tx.send(Message::Opened(writer)).is_err() || !readable {
                    return;
                }
                let mut chunk = vec![0u8; CHUNK];
                loop {
                    let message = match reader.read(&mut chunk) {
                        Ok(0) => Message::End,
                        Ok(n) => Message::Data(chunk[..n].to_vec()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Message::Error(e),
                    };
                    let last = !matches!(message, Message::Data(_));
                    // A send fails once the descriptor is closed: stop.
                    if tx.send(message).is_err() || last {
                        return;
                    }
                }
            });
        let mut stream = HostStream {
            rx,
            open: false,
            writer: None,
            buffer: Vec::new(),
            pos: 0,
            end: None,
        };
        if let Err(e) = spawned {
            // No thread: the descriptor fails as if its open had.
            stream.end = Some(Err(e));
        }
        stream
    }

    /// Takes what the thread sent, without waiting.
    fn receive(&mut self) {
        while self.end.is_none() && (self.pos == self.buffer.len() || !self.open) {
            match self.rx.try_recv() {
                Ok(Message::Opened(writer)) => {
                    self.open = true;
                    self.writer = Some(writer);
                }
                Ok(Message::Data(data)) => {
                    self.buffer = data;
                    self.pos = 0;
                }
                Ok(Message::End) => self.end = Some(Ok(())),
                Ok(Message::Error(e)) => self.end = Some(Err(e)),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.end = Some(Ok(())),
            }
        }
    }

    /// Whether the open is done (and the writer it made, once).
    pub fn opened(&mut self) -> Opened {
        self.receive();
        if self.open {
            return Opened::Done(self.writer.take().flatten());
        }
        match self.end.take() {
            Some(Err(e)) => Opened::Failed(e),
            Some(Ok(())) => Opened::Failed(io::Error::from(io::ErrorKind::UnexpectedEof)),
            None => Opened::Waiting,
        }
    }

    /// Whether the open is still under way.
    pub fn is_opening(&mut self) -> bool {
        self.receive();
        !self.open && self.end.is_none()
    }

    /// Whether a read would return now (data, the end, or an error).
    pub fn ready(&mut self) -> bool {
        self.receive();
        self.pos < self.buffer.len() || self.end.is_some()
    }

    /// Reads what has arrived, at most `out.len()` bytes: `None` when
    /// nothing has arrived yet (the reader must wait), `Some(Ok(0))` at
    /// the end.
    pub fn read(&mut self, out: &mut [u8]) -> Option<io::Result<usize>> {
        self.receive();
        if self.pos < self.buffer.len() {
            let n = out.len().min(self.buffer.len() - self.pos);
            out[..n].copy_from_slice(&self.buffer[self.pos..self.pos + n]);
            self.pos += n;
            return Some(Ok(n));
        }
        match &self.end {
            None => None,
            Some(Ok(())) => Some(Ok(0)),
            Some(Err(e)) => Some(Err(io::Error::new(e.kind(), e.to_string()))),
        }
    }
}

//! Files: the per-process descriptor table, the open-file descriptions it
//! points at, and the console.
//!
//! As in Unix, three levels:
//!
//! ```text
//! Process.files: FdTable     fd → Rc<RefCell<OpenFile>>   (per process; fork copies
//!                                                          the table, dup would copy a slot)
//! OpenFile                   one open(): what it is, how it was opened, the
//!                            offset (inside the host file) — shared by every
//!                            descriptor that points at it, after fork too
//! FileKind                   the console, a regular host file, a host stream
//!                            (stdin, FIFO, device: hostio.rs), a directory
//! ```
//!
//! Paths never reach the host's `open(2)` directly: kernel/fs.rs resolves
//! every guest path inside the root directory (`--root`) through cap-std.
//!
//! Reads of regular files are buffered in the kernel: guests often read
//! one byte per call, and one host `read` per guest call would dominate the
//! run time. Console output is buffered too and flushed before the
//! simulator reads stdin, writes to stderr, or ends, so the interleaving a
//! user sees is the one the guest wrote.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::Mutex;

use super::hostio::HostStream;

/// Size of the kernel's read buffer per open file, and how much console
/// output is buffered before it is written out.
pub const READ_BUFFER: usize = 64 * 1024;

/// A regular host file opened by a guest: the host file (whose offset is
/// the description's, shared after fork) and the kernel's read buffer.
pub struct RegularFile {
    file: File,
    /// Bytes read from the host ahead of the guest: `buffer[pos..]` come
    /// next. The host file's offset is `buffer.len() - pos` bytes past the
    /// guest's.
    buffer: Vec<u8>,
    pos: usize,
}

impl RegularFile {
    pub fn new(file: File) -> RegularFile {
        RegularFile {
            file,
            buffer: Vec::new(),
            pos: 0,
        }
    }

    /// The next bytes of the file (an empty slice at the end), reading the
    /// host file when the buffer is used up. Nothing is consumed until
    /// `consume`. Inlined into `read`; the refill, once per
    /// `READ_BUFFER` bytes, is a call of its own.
    #[inline]
    pub fn available(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buffer.len() {
            self.refill()?;
        }
        Ok(&self.buffer[self.pos..])
    }

    /// Reads the next `READ_BUFFER` bytes of the host file into the
    /// buffer (fewer at its end, none after it).
    #[inline(never)]
    fn refill(&mut self) -> io::Result<()> {
        self.buffer.resize(READ_BUFFER, 0);
        let n = loop {
            match self.file.read(&mut self.buffer) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = n.inspect_err(|_| self.buffer.clear())?;
        self.buffer.truncate(n);
        self.pos = 0;
        Ok(())
    }

    /// Marks `n` bytes of `available` as read.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buffer.len());
    }

    /// Writes at the guest's offset: bytes read ahead are given back to
    /// the host file first (so that a read then a write on one
    /// description writes where the guest expects).
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.drop_read_ahead()?;
        self.file.write(data)
    }

    /// Up to `len` bytes at `offset`, fewer at the end of the file
    /// (pread64, a file mapping); the file position does not move.
    pub fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut out[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        out.truncate(done);
        Ok(out)
    }

    /// Writes `data` at `offset` (pwrite64); the file position does not move.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        self.drop_read_ahead()?;
        self.file.write_at(data, offset)
    }

    /// Moves the file position (lseek); returns the new one.
    pub fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.drop_read_ahead()?;
        self.file.seek(to)
    }

    /// The host file's metadata (fstat).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// Cuts or extends the file to `len` bytes (ftruncate); bytes read
    /// ahead may be gone, so they are given back first.
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.drop_read_ahead()?;
        self.file.set_len(len)
    }

    /// Changes the file's mode (fchmod).
    pub fn set_permissions(&self, permissions: cap_std::fs::Permissions) -> io::Result<()> {
        self.file.set_permissions(permissions.into_std(&self.file)?)
    }

    /// Changes the file's access and modification times (futimens).
    pub fn set_times(&self, times: std::fs::FileTimes) -> io::Result<()> {
        self.file.set_times(times)
    }

    /// Moves the host file's offset back to the guest's and empties the
    /// buffer.
    ///
    /// **Extension point (coursework):** `lseek`, `pread64`, `fstat`'s
    /// size and `ftruncate` start here: call this first, then use the
    /// host file.
    pub fn drop_read_ahead(&mut self) -> io::Result<()> {
        let ahead = (self.buffer.len() - self.pos) as i64;
        if ahead > 0 {
            self.file.seek(SeekFrom::Current(-ahead))?;
        }
        self.buffer.clear();
        self.pos = 0;
        Ok(())
    }
}

/// What an open-file description refers to.
pub enum FileKind {
    /// The console's stdin (the host's, or fixed bytes).
    Stdin,
    Stdout,
    Stderr,
    /// A regular host file: never blocks, read in the simulator's thread.
    Regular(RegularFile),
    /// A host descriptor that may block (FIFO, device): read by its own
    /// thread; writes go to `writer`.
    Stream {
        reader: Option<HostStream>,
        writer: Option<File>,
    },
    /// A directory: the base of paths relative to it (`openat(fd, ...)`).
    Directory,
    /// The read end of a pipe made by `pipe2` (kernel-internal, so that
    /// what a reader gets does not depend on host timing).
    PipeRead(PipeEnd),
    /// The write end of a pipe.
    PipeWrite(PipeEnd),
}

/// The bytes in a pipe and how many ends of each kind are open.
#[derive(Default, Debug)]
pub struct Pipe {
    pub data: std::collections::VecDeque<u8>,
    pub readers: usize,
    pub writers: usize,
}

/// One end of a pipe: while it lives, it counts as an open reader or
/// writer (a reader sees the end of the data once no writer is left; a
/// writer gets EPIPE once no reader is).
#[derive(Debug)]
pub struct PipeEnd {
    pub pipe: Rc<RefCell<Pipe>>,
    write: bool,
}

impl PipeEnd {
    /// The two ends of a new pipe: (read, write).
    pub fn pair() -> (PipeEnd, PipeEnd) {
        let pipe = Rc::new(RefCell::new(Pipe {
            readers: 1,
            writers: 1,
            ..Pipe::default()
        }));
        (
            PipeEnd {
                pipe: pipe.clone(),
                write: false,
            },
            PipeEnd { pipe, write: true },
        )
    }

    /// Whether a read would not block: data, or no writer left.
    pub fn readable_now(&self) -> bool {
        let pipe = self.pipe.borrow();
        !pipe.data.is_empty() || pipe.writers == 0
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut pipe = self.pipe.borrow_mut();
        if self.write {
            pipe.writers -= 1;
        } else {
            pipe.readers -= 1;
        }
    }
}

/// One open file (an "open-file description"): shared by every descriptor
/// that refers to it, in this process and its forks.
pub struct OpenFile {
    pub kind: FileKind,
    pub readable: bool,
    pub writable: bool,
    /// The path inside the root it was opened by ("" for the console):
    /// the base of `openat` with this descriptor as `dirfd`, and the name
    /// in messages.
    pub path: std::path::PathBuf,
    /// The flags it was opened with (`fcntl(F_GETFL)`).
    pub flags: u64,
    /// For a directory: how many entries `getdents64` returned so far.
    pub dir_offset: u64,
}

impl OpenFile {
    /// A description of one of the console's streams.
    fn console(kind: FileKind, readable: bool, writable: bool) -> Rc<RefCell<OpenFile>> {
        Rc::new(RefCell::new(OpenFile {
            kind,
            readable,
            writable,
            path: Default::default(),
            flags: if writable { 1 } else { 0 },
            dir_offset: 0,
        }))
    }
}

/// A shared open-file description.
pub type SharedFile = Rc<RefCell<OpenFile>>;

/// Default limit of descriptors per process (`--max-open-files`), as
/// Linux's usual soft `RLIMIT_NOFILE`.
pub const DEFAULT_MAX_FDS: usize = 1024;

/// A process's file descriptors; the lowest free number is used first.
/// Each descriptor also has its close-on-exec flag (`FD_CLOEXEC`, set by
/// `O_CLOEXEC` and `fcntl(F_SETFD)`): a flag of the number, not of the
/// open-file description, so dup'ed numbers start without it.
#[derive(Clone)]
pub struct FdTable {
    slots: Vec<Option<SharedFile>>,
    /// The descriptors closed by execve.
    cloexec: std::collections::BTreeSet<usize>,
    /// At most this many descriptors (`EMFILE` beyond).
    limit: usize,
}

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable::with_limit(DEFAULT_MAX_FDS)
    }
}

impl FdTable {
    /// The standard descriptors 0, 1 and 2 (the console), and room for
    /// `limit` descriptors in all.
    pub fn with_limit(limit: usize) -> FdTable {
        FdTable {
            slots: vec![
                Some(OpenFile::console(FileKind::Stdin, true, false)),
                Some(OpenFile::console(FileKind::Stdout, false, true)),
                Some(OpenFile::console(FileKind::Stderr, false, true)),
            ],
            cloexec: Default::default(),
            limit,
        }
    }

    /// An empty table (a process that ended holds no files).
    pub fn empty() -> FdTable {
        FdTable {
            slots: Vec::new(),
            cloexec: Default::default(),
            limit: 0,
        }
    }

    pub fn get(&self, fd: u64) -> Option<&SharedFile> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    /// Installs a file at the lowest free number; `None` when the table
    /// holds `limit` descriptors already.
    pub fn insert(&mut self, file: SharedFile) -> Option<u64> {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            if i < self.limit {
                self.slots[i] = Some(file);
                self.cloexec.remove(&i);
                return Some(i as u64);
            }
            return None;
        }
        if self.slots.len() >= self.limit {
            return None;
        }
        self.slots.push(Some(file));
        self.cloexec.remove(&(self.slots.len() - 1));
        Some(self.slots.len() as u64 - 1)
    }

    /// Sets or clears `fd`'s close-on-exec flag (nothing for a closed fd).
    pub fn set_cloexec(&mut self, fd: u64, on: bool) {
        let Some(i) = usize::try_from(fd)
            .ok()
            .filter(|&i| self.slots.get(i).is_some_and(Option::is_some))
        else {
            return;
        };
        if on {
            self.cloexec.insert(i);
        } else {
            self.cloexec.remove(&i);
        }
    }

    /// Whether `fd` is closed by execve.
    pub fn is_cloexec(&self, fd: u64) -> bool {
        usize::try_from(fd).is_ok_and(|i| self.cloexec.contains(&i))
    }

    /// Closes every descriptor flagged close-on-exec (execve).
    pub fn close_on_exec(&mut self) {
        for i in std::mem::take(&mut self.cloexec) {
            self.remove(i as u64);
        }
    }

    /// Puts `file` at descriptor `fd` (dup3), closing what was there;
    /// `None` beyond the limit.
    pub fn place(&mut self, fd: u64, file: SharedFile) -> Option<()> {
        let i = usize::try_from(fd).ok().filter(|&i| i < self.limit)?;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(file);
        self.cloexec.remove(&i);
        Some(())
    }

    /// The lowest free descriptor at or above `min` (F_DUPFD) for `file`.
    pub fn insert_from(&mut self, min: u64, file: SharedFile) -> Option<u64> {
        let min = usize::try_from(min).ok()?;
        let i = (min..self.limit).find(|&i| self.slots.get(i).is_none_or(Option::is_none))?;
        self.place(i as u64, file)?;
        Some(i as u64)
    }

    pub fn remove(&mut self, fd: u64) -> Option<SharedFile> {
        let i = usize::try_from(fd).ok()?;
        self.cloexec.remove(&i);
        let file = self.slots.get_mut(i)?.take();
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        file
    }

    /// Open descriptors.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where guest input comes from.
pub enum Input {
    /// The host's stdin.
    Host,
    /// Fixed bytes (tests and embedding): never blocks, deterministic.
    Bytes(Vec<u8>),
}

/// Where guest output goes.
pub enum Output {
    Host,
    /// Collected in memory (tests and embedding).
    Captured(Vec<u8>),
}

/// The host's stdin as the guests read it. There is one stdin per host
/// process, so there is one of these for every VM and simulator of the
/// process: a regular file (`sim ... < file`) is read directly (it cannot
/// block, and reads stay deterministic); anything else (a terminal, a
/// pipe) by a reader thread (hostio.rs), so that a guest waiting for input
/// sleeps alone.
enum HostStdin {
    File(File),
    Stream(HostStream),
}

static HOST_STDIN: Mutex<Option<HostStdin>> = Mutex::new(None);

/// Runs `f` on the host's stdin, opening it on first use.
fn with_host_stdin<T>(f: impl FnOnce(&mut HostStdin) -> T) -> T {
    // A panic while the lock was held cannot leave the reader in a state
    // worse than a closed stdin, so a poisoned lock is used as it is.
    let mut guard = HOST_STDIN.lock().unwrap_or_else(|e| e.into_inner());
    let stdin = guard.get_or_insert_with(|| {
        use std::os::fd::AsFd;
        let file = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(File::from)
            .ok()
            .filter(|f| f.metadata().is_ok_and(|m| m.is_file()));
        match file {
            Some(file) => HostStdin::File(file),
            None => HostStdin::Stream(HostStream::spawn(true, || {
                Ok((Box::new(io::stdin()) as Box<dyn Read + Send>, None))
            })),
        }
    });
    f(stdin)
}

/// The console: stdin, stdout and stderr shared by all processes of a VM.
pub struct Console {
    pub input: Input,
    pub stdout: Output,
    pub stderr: Output,
    stdout_buffer: Vec<u8>,
    /// How much of `Input::Bytes` the guests have read.
    input_pos: usize,
    /// The host's stdout was closed by its reader (`sim ... | head -1`):
    /// later guest writes to it get `EPIPE`.
    stdout_closed: bool,
}

impl Console {
    pub fn new(input: Input, stdout: Output, stderr: Output) -> Console {
        Console {
            input,
            stdout,
            stderr,
            stdout_buffer: Vec::new(),
            input_pos: 0,
            stdout_closed: false,
        }
    }

    /// Reads guest input: `None` when none has arrived yet (the reader
    /// must wait: only the host's stdin can make it), `Some(Ok(0))` at the
    /// end of input.
    pub fn read(&mut self, out: &mut [u8]) -> Option<io::Result<usize>> {
        match &mut self.input {
            Input::Bytes(bytes) => {
                let rest = &bytes[self.input_pos.min(bytes.len())..];
                let n = out.len().min(rest.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.input_pos += n;
                Some(Ok(n))
            }
            Input::Host => {
                // What the guest wrote so far is shown before it waits.
                self.flush();
                with_host_stdin(|stdin| match stdin {
                    HostStdin::File(file) => Some(file.read(out)),
                    HostStdin::Stream(stream) => stream.read(out),
                })
            }
        }
    }

    /// Whether a read of stdin would return now.
    pub fn input_ready(&mut self) -> bool {
        match &self.input {
            Input::Bytes(_) => true,
            Input::Host => with_host_stdin(|stdin| match stdin {
                HostStdin::File(_) => true,
                HostStdin::Stream(stream) => stream.ready(),
            }),
        }
    }

    /// Writes guest output to stdout.
    ///
    /// # Errors
    /// `BrokenPipe` once the host's stdout has no reader any more.
    pub fn write_stdout(&mut self, data: &[u8]) -> io::Result<()> {
        if self.stdout_closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        match &mut self.stdout {
            Output::Host => {
                self.stdout_buffer.extend_from_slice(data);
                if self.stdout_buffer.len() >= READ_BUFFER {
                    self.flush();
                }
                if self.stdout_closed {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
            Output::Captured(buffer) => buffer.extend_from_slice(data),
        }
        Ok(())
    }

    pub fn write_stderr(&mut self, data: &[u8]) {
        self.flush();
        match &mut self.stderr {
            Output::Host => {
                let _ = io::stderr().write_all(data);
            }
            Output::Captured(buffer) => buffer.extend_from_slice(data),
        }
    }

    /// Writes buffered stdout to the host. A stdout without a reader
    /// (`sim ... | head -1`) is not the simulator's fault: the output is
    /// dropped and later writes fail (`write_stdout`).
    pub fn flush(&mut self) {
        if !self.stdout_buffer.is_empty() {
            let mut out = io::stdout().lock();
            let written = out
                .write_all(&self.stdout_buffer)
                .and_then(|()| out.flush());
            if written.is_err_and(|e| e.kind() == io::ErrorKind::BrokenPipe) {
                self.stdout_closed = true;
            }
            self.stdout_buffer.clear();
        }
    }

    /// What the guests wrote to stdout, when captured.
    pub fn captured_stdout(&self) -> &[u8] {
        match &self.stdout {
            Output::Captured(buffer) => buffer,
            Output::Host => &[],
        }
    }

    /// What the guests wrote to stderr, when captured.
    pub fn captured_stderr(&self) -> &[u8] {
        match &self.stderr {
            Output::Captured(buffer) => buffer,
            Output::Host => &[],
        }
    }
}

//! File calls: read, write, openat, close (kernel/files.rs has the
//! descriptor table and the descriptions, kernel/fs.rs the root every path
//! is resolved in).
//!
//! ```text
//! read   regular file   min(len, bytes left) in one call, copied out in
//!                       chunks (Linux: a regular file never gives a short
//!                       read before its end; at most MAX_RW_COUNT bytes)
//!        stdin, FIFO,   what has arrived (at least one byte), or the
//!        device         process sleeps (WaitReason::HostIo) until the
//!                       reader thread (kernel/hostio.rs) has something
//! write  stdout, pipe   a reader that went away: EPIPE, and the writer
//!                       dies of SIGPIPE (Linux's default action)
//! openat                path resolved inside --root (kernel/fs.rs);
//!                       a FIFO's open sleeps until its peer comes
//! ```

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use cap_std::fs::{OpenOptions, OpenOptionsExt};

use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::files::{Console, FileKind, OpenFile, RegularFile, READ_BUFFER};
use crate::kernel::fs::{self, FileSystem};
use crate::kernel::hostio::{HostStream, Opened};
use crate::kernel::process::{Pid, Process, WaitReason};
use crate::kernel::uaccess::{check_writable, copy_in_to, copy_out, read_c_string};
use crate::kernel::Kernel;

/// Most bytes one read or write moves (Linux's `MAX_RW_COUNT`, INT_MAX
/// rounded down to a page): larger counts are shortened, as Linux does.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Most bytes one write to the console or a stream moves (the rest is
/// the guest's to write again: a short write, as POSIX allows).
const WRITE_CHUNK: u64 = 1 << 20;

/// Longest path accepted by openat (Linux's `PATH_MAX`).
pub(super) const PATH_MAX: usize = 4096;

/// `SIGPIPE`: the default action of a write to a pipe without a reader.
const SIGPIPE: u8 = 13;

/// A FIFO whose open waits for its peer (kernel/hostio.rs): the process
/// sleeps in its `openat`, and when it runs the call again the same open
/// is picked up here.
pub struct PendingOpen {
    /// The call's arguments: a different call drops the pending open.
    args: [u64; 4],
    stream: HostStream,
    readable: bool,
    writable: bool,
    path: PathBuf,
}

impl PendingOpen {
    /// Whether the open has finished (or failed).
    pub fn ready(&mut self) -> bool {
        !self.stream.is_opening()
    }
}

impl Kernel {
    /// read(fd, buf*, len) → bytes read (0 at the end).
    pub(super) fn sys_read(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let len = len.min(MAX_RW_COUNT);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let file = process.files.get(fd).cloned().ok_or(EBADF)?;
        let mut file = file.borrow_mut();
        if !file.readable {
            return Err(EBADF);
        }
        if len == 0 {
            return Ok(Ret::Value(0));
        }
        match &mut file.kind {
            FileKind::Regular(regular) => read_regular(machine, process, regular, buf, len),
            // Out of line: what a read of a regular file, the common case,
            // does not need stays out of its way.
            kind => read_other(
                machine,
                process,
                kind,
                (fd, buf, len),
                &mut self.console,
                &mut self.io_buffer,
            ),
        }
    }
}

/// `read` of anything but a regular file: the console's stdin, a host
/// stream, a pipe; a directory or a write-only kind is an error.
#[inline(never)]
fn read_other(
    machine: &mut Machine,
    process: &mut Process,
    kind: &mut FileKind,
    (fd, buf, len): (u64, u64, u64),
    console: &mut Console,
    scratch: &mut Vec<u8>,
) -> SysResult {
    match kind {
        FileKind::Stdin => read_stream(machine, process, (fd, buf, len), scratch, |out| {
            console.read(out)
        }),
        FileKind::Stream {
            reader: Some(reader),
            ..
        } => read_stream(machine, process, (fd, buf, len), scratch, |out| {
            reader.read(out)
        }),
        FileKind::PipeRead(end) => {
            read_stream(machine, process, (fd, buf, len), scratch, |out| {
                let mut pipe = end.pipe.borrow_mut();
                if pipe.data.is_empty() {
                    // No writer left: the end of the data; else wait.
                    return (pipe.writers == 0).then_some(Ok(0));
                }
                let n = out.len().min(pipe.data.len());
                for (slot, byte) in out.iter_mut().zip(pipe.data.drain(..n)) {
                    *slot = byte;
                }
                Some(Ok(n))
            })
        }
        FileKind::Directory => Err(EISDIR),
        _ => Err(EBADF),
    }
}

impl Kernel {
    /// write(fd, buf*, len) → bytes written.
    pub(super) fn sys_write(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let file = process.files.get(fd).cloned().ok_or(EBADF)?;
        let mut file = file.borrow_mut();
        if !file.writable {
            return Err(EBADF);
        }
        // The bytes go through the kernel's reused buffer: a small write
        // allocates nothing. It is taken out of `self` while the console,
        // another part of `self`, writes it, and put back after.
        let mut data = std::mem::take(&mut self.io_buffer);
        if let Err(e) = copy_in_to(machine, process, buf, len.min(WRITE_CHUNK), &mut data) {
            self.io_buffer = data;
            return Err(e);
        }
        let written = match &mut file.kind {
            FileKind::Stdout => self.console.write_stdout(&data).map(|()| data.len()),
            FileKind::Stderr => {
                self.console.write_stderr(&data);
                Ok(data.len())
            }
            FileKind::Regular(regular) => regular.write(&data),
            FileKind::Stream {
                writer: Some(writer),
                ..
            } => io::Write::write(writer, &data),
            FileKind::PipeWrite(end) => {
                // Pipes have no capacity limit in sim: a write never blocks.
                let mut pipe = end.pipe.borrow_mut();
                if pipe.readers == 0 {
                    Err(io::ErrorKind::BrokenPipe.into())
                } else {
                    pipe.data.extend(&data);
                    Ok(data.len())
                }
            }
            // As host errors, so that the buffer goes back below;
            // `errno_of` gives the same numbers back.
            FileKind::Directory => Err(io::Error::from_raw_os_error(EISDIR.0 as i32)),
            _ => Err(io::Error::from_raw_os_error(EBADF.0 as i32)),
        };
        self.io_buffer = data;
        match written {
            Ok(n) => Ok(Ret::Value(n as u64)),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                drop(file);
                // Linux: the write fails with EPIPE and SIGPIPE, whose
                // default action ends the writer (signal(7)).
                self.kill(
                    machine,
                    pid,
                    SIGPIPE,
                    &format!("SIGPIPE: write to fd {fd}, a pipe whose reader has gone"),
                );
                Ok(Ret::Exited)
            }
            Err(e) => Err(errno_of(&e)),
        }
    }

    /// openat(dirfd, path*, flags, mode) → a new descriptor. The path is
    /// resolved inside the root (kernel/fs.rs); `mode` is the new file's
    /// permissions when `O_CREAT` creates one (the host applies sim's
    /// umask, as Linux applies the process's).
    pub(super) fn sys_openat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        args: [u64; 4],
    ) -> SysResult {
        let [dirfd, path_ptr, flags, mode] = args;
        let fs = self.fs.clone().ok_or(EACCES)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        // The second run of an openat that slept while a FIFO opened.
        if let Some(mut pending) = process.pending_open.take() {
            if pending.args == args {
                return match pending.stream.opened() {
                    Opened::Waiting => {
                        process.pending_open = Some(pending);
                        Ok(Ret::Block(WaitReason::HostIo(None)))
                    }
                    Opened::Failed(e) => Err(errno_of(&e)),
                    Opened::Done(writer) => {
                        let reader = pending.readable.then_some(pending.stream);
                        let file = OpenFile {
                            kind: FileKind::Stream { reader, writer },
                            readable: pending.readable,
                            writable: pending.writable,
                            path: pending.path,
                            flags: pending.args[2],
                            dir_offset: 0,
                        };
                        install(process, file)
                    }
                };
            }
        }
        let guest_path = read_c_string(machine, process, path_ptr, PATH_MAX)?;
        if guest_path.is_empty() {
            return Err(ENOENT);
        }
        let base = if guest_path.starts_with(b"/") || dirfd == AT_FDCWD {
            process.cwd.clone()
        } else {
            let dir = process.files.get(dirfd).ok_or(EBADF)?.borrow();
            if !matches!(dir.kind, FileKind::Directory) {
                return Err(ENOTDIR);
            }
            dir.path.clone()
        };
        let path = fs.resolve(&base, &guest_path);
        let (readable, writable) = match flags & O_ACCMODE {
            O_RDONLY => (true, false),
            O_WRONLY => (false, true),
            O_RDWR => (true, true),
            _ => return Err(EINVAL),
        };
        let changes = writable || flags & (O_CREAT | O_TRUNC) != 0;
        let shown = String::from_utf8_lossy(&guest_path).into_owned();
        if fs.read_only() && changes {
            self.report_refused(pid, &shown, "the file system is read-only (--read-only)");
            return Err(EROFS);
        }
        if process.files.len() >= self.limits.open_files {
            let limit = self.limits.open_files as u64;
            self.report_limit(pid, "openat", "--max-open-files", limit);
            return Err(EMFILE);
        }
        let opened = open_path(&fs, &path, flags, mode, readable, writable);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        match opened {
            Ok(Open::Now(kind)) => install(
                process,
                OpenFile {
                    kind,
                    readable,
                    writable,
                    path,
                    flags,
                    dir_offset: 0,
                },
            ),
            Ok(Open::Later(stream)) => {
                process.pending_open = Some(PendingOpen {
                    args,
                    stream,
                    readable,
                    writable,
                    path,
                });
                Ok(Ret::Block(WaitReason::HostIo(None)))
            }
            Err(e) if fs::is_escape(&e) => {
                let why = format!(
                    "it leads outside the root directory {} (--root)",
                    fs.root_path().display()
                );
                self.report_refused(pid, &shown, &why);
                Err(EACCES)
            }
            Err(e) => Err(errno_of(&e)),
        }
    }

    /// close(fd) → 0.
    pub(super) fn sys_close(&mut self, pid: Pid, fd: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.files.remove(fd).ok_or(EBADF)?;
        Ok(Ret::Value(0))
    }

    /// Says why an open of `path` by `pid` was refused.
    fn report_refused(&mut self, pid: Pid, path: &str, why: &str) {
        let name = self
            .processes
            .get(pid)
            .map_or_else(String::new, |p| p.name.clone());
        self.report(&format!(
            "process {pid} ({name}): openat {path:?} refused: {why}"
        ));
    }
}

/// A new descriptor for `file`: the lowest free one.
pub(super) fn install(process: &mut Process, file: OpenFile) -> SysResult {
    let cloexec = file.flags & super::fd::O_CLOEXEC != 0;
    let fd = process
        .files
        .insert(Rc::new(RefCell::new(file)))
        .ok_or(EMFILE)?;
    process.files.set_cloexec(fd, cloexec);
    Ok(Ret::Value(fd))
}

/// How an open went.
enum Open {
    Now(FileKind),
    /// A FIFO (or device) whose open may block: its reader thread opens it.
    Later(HostStream),
}

/// Opens `path` (inside the root) as `flags` say.
fn open_path(
    fs: &FileSystem,
    path: &std::path::Path,
    flags: u64,
    mode: u64,
    readable: bool,
    writable: bool,
) -> io::Result<Open> {
    let exclusive = flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL;
    let must_be_dir = flags & O_DIRECTORY != 0;
    match fs.root().metadata(path) {
        Ok(_) if exclusive => Err(io::ErrorKind::AlreadyExists.into()),
        Ok(meta) if meta.is_dir() => {
            if writable {
                return Err(io::Error::from_raw_os_error(EISDIR.0 as i32));
            }
            // Checks that the directory can be opened (and stays inside).
            fs.root().open_dir(path)?;
            Ok(Open::Now(FileKind::Directory))
        }
        Ok(_) if must_be_dir => Err(io::Error::from_raw_os_error(ENOTDIR.0 as i32)),
        Ok(meta) if !meta.is_file() => {
            // A FIFO, a terminal, a device: its open and reads may block.
            let dir = fs.root().try_clone()?;
            let path = path.to_path_buf();
            let mut options = OpenOptions::new();
            options.read(readable).write(writable);
            Ok(Open::Later(HostStream::spawn(readable, move || {
                let file = dir.open_with(&path, &options)?.into_std();
                let writer = if writable {
                    Some(file.try_clone()?)
                } else {
                    None
                };
                Ok((Box::new(file) as Box<dyn io::Read + Send>, writer))
            })))
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound || flags & O_CREAT == 0 => Err(e),
        _ => {
            let create = flags & O_CREAT != 0;
            let mut options = OpenOptions::new();
            options
                .read(readable)
                // Creating needs write access to the host file even for
                // O_RDONLY | O_CREAT, which Linux allows; the description
                // stays read-only.
                .write(writable || create)
                .append(flags & O_APPEND != 0)
                .truncate(flags & O_TRUNC != 0 && writable)
                .create(create)
                .create_new(exclusive)
                .mode((mode & 0o7777) as u32);
            let file = fs.root().open_with(path, &options)?.into_std();
            Ok(Open::Now(FileKind::Regular(RegularFile::new(file))))
        }
    }
}

/// A read of a regular file: `len` bytes or up to the end, in one call,
/// copied out chunk by chunk. A chunk is consumed only once it is in
/// guest memory, so a bad buffer loses no file bytes: the call returns
/// what was copied, or `EFAULT` if nothing was.
fn read_regular(
    machine: &mut Machine,
    process: &mut Process,
    file: &mut RegularFile,
    buf: u64,
    len: u64,
) -> SysResult {
    let mut done = 0u64;
    while done < len {
        let chunk = file.available().map_err(|e| errno_of(&e))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len().min((len - done) as usize);
        match copy_out(machine, process, buf + done, &chunk[..n]) {
            Ok(()) => file.consume(n),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += n as u64;
    }
    Ok(Ret::Value(done))
}

/// A read of the console's stdin or a host stream: what has arrived (a
/// short read, as from a pipe or a terminal), or the process sleeps until
/// something does. The buffer is checked first, so that bytes taken from
/// the stream always reach the guest. They pass through the kernel's
/// reused buffer: a read allocates nothing.
fn read_stream(
    machine: &mut Machine,
    process: &mut Process,
    (fd, buf, len): (u64, u64, u64),
    scratch: &mut Vec<u8>,
    read: impl FnOnce(&mut [u8]) -> Option<io::Result<usize>>,
) -> SysResult {
    let n = len.min(READ_BUFFER as u64) as usize;
    check_writable(machine, process, buf, n as u64)?;
    scratch.clear();
    scratch.resize(n, 0);
    match read(scratch) {
        None => Ok(Ret::Block(WaitReason::HostIo(Some(fd)))),
        Some(Ok(n)) => {
            copy_out(machine, process, buf, &scratch[..n])?;
            Ok(Ret::Value(n as u64))
        }
        Some(Err(e)) => Err(errno_of(&e)),
    }
}

/// The errno for a host I/O error.
pub(super) fn errno_of(e: &io::Error) -> Errno {
    use io::ErrorKind::*;
    match e.kind() {
        NotFound => ENOENT,
        PermissionDenied => EACCES,
        AlreadyExists => EEXIST,
        InvalidInput => EINVAL,
        BrokenPipe => EPIPE,
        _ => e.raw_os_error().map_or(EIO, |n| Errno(n as u64)),
    }
}

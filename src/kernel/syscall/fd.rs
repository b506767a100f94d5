//! Descriptor calls beyond read and write: lseek, pread64/pwrite64,
//! readv/writev, dup/dup3, fcntl, ioctl, pipe2, fstat (with Linux's
//! numbers, flags and `struct stat` layout for RISC-V).
//!
//! ```text
//! readv/writev  one read/write per iovec through sys_read/sys_write,
//!               stopping at the first short one (as Linux's loop does)
//! fstat         regular files and directories: the host's metadata;
//!               the console: a character device if the host's stream is
//!               a terminal, else a pipe (what Linux shows for `| cat`)
//! ioctl         TCGETS on the console when the host's stream is a
//!               terminal (isatty), ENOTTY otherwise; nothing else
//! ```

use std::io::{IsTerminal, SeekFrom};

use super::file::{errno_of, install};
use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::files::{FileKind, OpenFile, PipeEnd, SharedFile};
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_in, copy_out};
use crate::kernel::{Kernel, Output};

const SEEK_SET: u64 = 0;
const SEEK_CUR: u64 = 1;
const SEEK_END: u64 = 2;

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_DUPFD_CLOEXEC: u64 = 1030;
/// The one descriptor flag (F_GETFD, F_SETFD).
const FD_CLOEXEC: u64 = 1;

/// `O_CLOEXEC`, the one flag dup3 and pipe2 take besides O_NONBLOCK.
pub const O_CLOEXEC: u64 = 0o2000000;
const O_NONBLOCK: u64 = 0o4000;

const TCGETS: u64 = 0x5401;
const TIOCGWINSZ: u64 = 0x5413;

/// Most iovecs one readv/writev takes (Linux's `UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;

/// File type bits of `st_mode` (inode(7)).
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;

/// Bytes of Linux's `struct stat` on RISC-V (asm-generic/stat.h).
pub const STAT_SIZE: usize = 128;

/// `struct stat` (asm-generic layout) of host metadata.
pub fn stat_bytes(meta: &cap_std::fs::Metadata) -> [u8; STAT_SIZE] {
    use cap_std::fs::MetadataExt;
    let mut out = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: &[u8]| out[at..at + v.len()].copy_from_slice(v);
    put(0, &meta.dev().to_le_bytes());
    put(8, &meta.ino().to_le_bytes());
    put(16, &meta.mode().to_le_bytes());
    put(20, &(meta.nlink() as u32).to_le_bytes());
    put(24, &meta.uid().to_le_bytes());
    put(28, &meta.gid().to_le_bytes());
    put(32, &meta.rdev().to_le_bytes());
    put(48, &meta.size().to_le_bytes());
    put(56, &(meta.blksize() as u32).to_le_bytes());
    put(64, &meta.blocks().to_le_bytes());
    put(72, &meta.atime().to_le_bytes());
    put(80, &meta.atime_nsec().to_le_bytes());
    put(88, &meta.mtime().to_le_bytes());
    put(96, &meta.mtime_nsec().to_le_bytes());
    put(104, &meta.ctime().to_le_bytes());
    put(112, &meta.ctime_nsec().to_le_bytes());
    out
}

/// `struct stat` of a console stream or pipe end: only the type, the
/// owner's read/write permissions and a block size of one page.
fn stat_of_stream(mode: u32) -> [u8; STAT_SIZE] {
    let mut out = [0u8; STAT_SIZE];
    out[16..20].copy_from_slice(&(mode | 0o600).to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[56..60].copy_from_slice(&4096u32.to_le_bytes());
    out
}

impl Kernel {
    /// The open-file description behind `fd` of `pid`.
    pub(super) fn file_of(&self, pid: Pid, fd: u64) -> Result<SharedFile, Errno> {
        let process = self.processes.get(pid).ok_or(ESRCH)?;
        process.files.get(fd).cloned().ok_or(EBADF)
    }

    /// Whether the host stream behind a console kind is a terminal.
    fn console_is_terminal(&self, kind: &FileKind) -> bool {
        let console = &self.console;
        match kind {
            FileKind::Stdin => {
                matches!(console.input, crate::kernel::Input::Host)
                    && std::io::stdin().is_terminal()
            }
            FileKind::Stdout => {
                matches!(console.stdout, Output::Host) && std::io::stdout().is_terminal()
            }
            FileKind::Stderr => {
                matches!(console.stderr, Output::Host) && std::io::stderr().is_terminal()
            }
            _ => false,
        }
    }

    /// The `struct stat` of an open file.
    pub(super) fn stat_of_file(&self, file: &SharedFile) -> Result<[u8; STAT_SIZE], Errno> {
        let file = file.borrow();
        match &file.kind {
            FileKind::Regular(regular) => {
                Ok(stat_bytes(&cap_std::fs::Metadata::from_just_metadata(
                    regular.metadata().map_err(|e| errno_of(&e))?,
                )))
            }
            FileKind::Directory | FileKind::Stream { .. } => {
                let fs = self.fs.as_ref().ok_or(EBADF)?;
                let meta = fs.root().metadata(&file.path).map_err(|e| errno_of(&e))?;
                Ok(stat_bytes(&meta))
            }
            FileKind::PipeRead(_) | FileKind::PipeWrite(_) => Ok(stat_of_stream(S_IFIFO)),
            kind => Ok(stat_of_stream(if self.console_is_terminal(kind) {
                S_IFCHR
            } else {
                S_IFIFO
            })),
        }
    }

    /// fstat(fd, stat*) → 0.
    pub(super) fn sys_fstat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
    ) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let bytes = self.stat_of_file(&file)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(0))
    }

    /// lseek(fd, offset, whence) → the new offset; `ESPIPE` on the
    /// console and pipes.
    pub(super) fn sys_lseek(&mut self, pid: Pid, fd: u64, offset: u64, whence: u64) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let mut file = file.borrow_mut();
        if let FileKind::Directory = file.kind {
            // Only a rewind is meaningful for a directory stream.
            if whence == SEEK_SET && offset == 0 {
                file.dir_offset = 0;
                return Ok(Ret::Value(0));
            }
            return Err(EINVAL);
        }
        let FileKind::Regular(regular) = &mut file.kind else {
            return Err(ESPIPE);
        };
        let to = match whence {
            SEEK_SET => SeekFrom::Start(offset),
            SEEK_CUR => SeekFrom::Current(offset as i64),
            SEEK_END => SeekFrom::End(offset as i64),
            _ => return Err(EINVAL),
        };
        if whence == SEEK_SET && (offset as i64) < 0 {
            return Err(EINVAL);
        }
        let at = regular.seek(to).map_err(|e| errno_of(&e))?;
        Ok(Ret::Value(at))
    }

    /// pread64(fd, buf*, len, offset) → bytes read, the offset unchanged.
    pub(super) fn sys_pread64(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [fd, buf, len, offset] = a;
        let file = self.file_of(pid, fd)?;
        let mut file = file.borrow_mut();
        if !file.readable {
            return Err(EBADF);
        }
        let FileKind::Regular(regular) = &mut file.kind else {
            return Err(ESPIPE);
        };
        if (offset as i64) < 0 {
            return Err(EINVAL);
        }
        let len = len.min(super::MAX_RW_COUNT).min(1 << 24);
        let bytes = regular
            .read_at(offset, len as usize)
            .map_err(|e| errno_of(&e))?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(bytes.len() as u64))
    }

    /// pwrite64(fd, buf*, len, offset) → bytes written, the offset unchanged.
    pub(super) fn sys_pwrite64(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [fd, buf, len, offset] = a;
        let file = self.file_of(pid, fd)?;
        let mut file = file.borrow_mut();
        if !file.writable {
            return Err(EBADF);
        }
        let FileKind::Regular(regular) = &mut file.kind else {
            return Err(ESPIPE);
        };
        // pwrite(2): EINVAL for a negative offset, as pread64 above.
        if (offset as i64) < 0 {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let data = copy_in(
            machine,
            process,
            buf,
            len.min(super::MAX_RW_COUNT).min(1 << 24),
        )?;
        let n = regular.write_at(offset, &data).map_err(|e| errno_of(&e))?;
        Ok(Ret::Value(n as u64))
    }

    /// readv/writev(fd, iov*, count) → bytes moved: each iovec in turn
    /// through read/write, stopping at the first short transfer.
    pub(super) fn sys_readv_writev(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        write: bool,
        a: [u64; 3],
    ) -> SysResult {
        let [fd, iov, count] = a;
        if count > IOV_MAX {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let table = copy_in(machine, process, iov, count * 16)?;
        let mut done = 0u64;
        for entry in table.chunks_exact(16) {
            let base = u64::from_le_bytes(entry[..8].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(entry[8..].try_into().unwrap_or_default());
            if len == 0 {
                continue;
            }
            let result = if write {
                self.sys_write(machine, pid, fd, base, len)
            } else {
                self.sys_read(machine, pid, fd, base, len)
            };
            match result {
                Ok(Ret::Value(n)) => {
                    done += n;
                    if n < len {
                        break;
                    }
                }
                // Nothing moved yet: the call's own result (an error, a
                // block that reruns the whole call, the writer's death).
                other if done == 0 => return other,
                _ => break,
            }
        }
        Ok(Ret::Value(done))
    }

    /// dup(fd) → the lowest free descriptor, sharing the description.
    pub(super) fn sys_dup(&mut self, pid: Pid, fd: u64) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.files.insert(file).map(Ret::Value).ok_or(EMFILE)
    }

    /// dup3(old, new, flags) → new, now sharing old's description.
    pub(super) fn sys_dup3(&mut self, pid: Pid, old: u64, new: u64, flags: u64) -> SysResult {
        if old == new || flags & !O_CLOEXEC != 0 {
            return Err(EINVAL);
        }
        let file = self.file_of(pid, old)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.files.place(new, file).ok_or(EBADF)?;
        process.files.set_cloexec(new, flags & O_CLOEXEC != 0);
        Ok(Ret::Value(new))
    }

    /// fcntl(fd, cmd, arg): F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD (the
    /// close-on-exec flag, `FD_CLOEXEC`), F_GETFL/F_SETFL.
    pub(super) fn sys_fcntl(&mut self, pid: Pid, fd: u64, cmd: u64, arg: u64) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let new = process.files.insert_from(arg, file).ok_or(EMFILE)?;
                process.files.set_cloexec(new, cmd == F_DUPFD_CLOEXEC);
                Ok(Ret::Value(new))
            }
            F_GETFD => Ok(Ret::Value(u64::from(process.files.is_cloexec(fd)))),
            F_SETFD => {
                process.files.set_cloexec(fd, arg & FD_CLOEXEC != 0);
                Ok(Ret::Value(0))
            }
            F_GETFL => Ok(Ret::Value(
                file.borrow().flags & !(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC),
            )),
            F_SETFL => {
                let mut file = file.borrow_mut();
                let changeable = O_APPEND | O_NONBLOCK;
                file.flags = (file.flags & !changeable) | (arg & changeable);
                Ok(Ret::Value(0))
            }
            _ => Err(EINVAL),
        }
    }

    /// ioctl(fd, request, arg): TCGETS and TIOCGWINSZ answer ENOTTY unless
    /// the descriptor is the console on a host terminal (module doc).
    pub(super) fn sys_ioctl(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        request: u64,
        arg: u64,
    ) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let terminal = self.console_is_terminal(&file.borrow().kind);
        if !terminal {
            return Err(ENOTTY);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        match request {
            // A plain terminal's settings: 60 bytes of struct termios
            // (zero flags are enough for isatty and stdio).
            TCGETS => copy_out(machine, process, arg, &[0u8; 60])?,
            TIOCGWINSZ => {
                let mut size = [0u8; 8];
                size[..2].copy_from_slice(&24u16.to_le_bytes());
                size[2..4].copy_from_slice(&80u16.to_le_bytes());
                copy_out(machine, process, arg, &size)?;
            }
            _ => return Err(ENOTTY),
        }
        Ok(Ret::Value(0))
    }

    /// pipe2(fds*, flags) → 0, the read end in fds[0], the write end in
    /// fds[1] (two 32-bit ints).
    pub(super) fn sys_pipe2(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fds: u64,
        flags: u64,
    ) -> SysResult {
        if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        // Checked first, so that a bad pointer leaves no descriptors.
        copy_out(machine, process, fds, &[0u8; 8])?;
        let (read_end, write_end) = PipeEnd::pair();
        let end = |kind, readable, writable| OpenFile {
            kind,
            readable,
            writable,
            path: Default::default(),
            flags: if writable { O_WRONLY } else { O_RDONLY },
            dir_offset: 0,
        };
        let Ok(Ret::Value(r)) = install(process, end(FileKind::PipeRead(read_end), true, false))
        else {
            return Err(EMFILE);
        };
        let w = match install(process, end(FileKind::PipeWrite(write_end), false, true)) {
            Ok(Ret::Value(w)) => w,
            _ => {
                process.files.remove(r);
                return Err(EMFILE);
            }
        };
        process.files.set_cloexec(r, flags & O_CLOEXEC != 0);
        process.files.set_cloexec(w, flags & O_CLOEXEC != 0);
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(r as u32).to_le_bytes());
        bytes[4..].copy_from_slice(&(w as u32).to_le_bytes());
        copy_out(machine, process, fds, &bytes)?;
        Ok(Ret::Value(0))
    }
}

//! What a program changes about files besides their bytes: sizes
//! (truncate, ftruncate), modes (fchmod, fchmodat), times (utimensat),
//! links (symlinkat, linkat), durability (fsync, fdatasync, sync), and the
//! working directory by descriptor (fchdir).
//!
//! ```text
//! by path        guest_path (path.rs: inside the root, from dirfd or the
//!                working directory) → check_writable_fs (EROFS under
//!                --read-only) → the cap-std call on the root directory
//! by descriptor  file_of (fd.rs) → the host file of a regular file, or
//!                the description's path for a directory
//! ```
//!
//! Times set with `UTIME_NOW` come from the kernel's clock (virtual unless
//! `--clock host`), as the guest's own `clock_gettime` would give them, so
//! a run stays deterministic. Writes go straight to the host file (only
//! reads are buffered, files.rs), so the syncs have nothing to flush: they
//! check the descriptor and return 0, and the host's page cache does the
//! rest.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use super::file::errno_of;
use super::path::host_error;
use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::clock::CLOCK_REALTIME;
use crate::kernel::files::FileKind;
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_in, read_c_string};
use crate::kernel::Kernel;

use super::file::PATH_MAX;

/// `linkat`: follow a symbolic link given as the source.
const AT_SYMLINK_FOLLOW: u64 = 0x400;
/// `AT_EMPTY_PATH`: the descriptor itself.
const AT_EMPTY_PATH: u64 = 0x1000;
/// `utimensat` nanosecond values that are not times (utimensat(2)).
const UTIME_NOW: u64 = (1 << 30) - 1;
const UTIME_OMIT: u64 = (1 << 30) - 2;

/// A mode as the host's permissions (the type bits are not the caller's
/// to change).
fn permissions(mode: u64) -> cap_std::fs::Permissions {
    cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode((mode & 0o7777) as u32))
}

impl Kernel {
    /// truncate(path*, length) → 0: the file (not a directory) cut or
    /// extended with zeros to `length` bytes.
    pub(super) fn sys_truncate(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        ptr: u64,
        length: u64,
    ) -> SysResult {
        if (length as i64) < 0 {
            return Err(EINVAL);
        }
        self.change_tree(machine, pid, AT_FDCWD, ptr, |root, path| {
            if root.metadata(path)?.is_dir() {
                return Err(host_error(EISDIR));
            }
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true);
            root.open_with(path, &options)?.set_len(length)
        })
    }

    /// ftruncate(fd, length) → 0; `EINVAL` unless `fd` is a regular file
    /// open for writing (ftruncate(2)).
    pub(super) fn sys_ftruncate(&mut self, pid: Pid, fd: u64, length: u64) -> SysResult {
        if (length as i64) < 0 {
            return Err(EINVAL);
        }
        let file = self.file_of(pid, fd)?;
        let mut file = file.borrow_mut();
        if !file.writable {
            return Err(EINVAL);
        }
        let FileKind::Regular(regular) = &mut file.kind else {
            return Err(EINVAL);
        };
        regular.set_len(length).map_err(|e| errno_of(&e))?;
        Ok(Ret::Value(0))
    }

    /// fchmod(fd, mode) → 0, for a regular file or a directory.
    pub(super) fn sys_fchmod(&mut self, pid: Pid, fd: u64, mode: u64) -> SysResult {
        let fs = self.fs.clone().ok_or(EBADF)?;
        let file = self.file_of(pid, fd)?;
        let file = file.borrow();
        if fs.read_only() && matches!(file.kind, FileKind::Regular(_) | FileKind::Directory) {
            return Err(EROFS);
        }
        let result = match &file.kind {
            FileKind::Regular(regular) => regular.set_permissions(permissions(mode)),
            FileKind::Directory => fs.root().set_permissions(&file.path, permissions(mode)),
            // The console and pipes: Linux changes the inode's mode;
            // sim's have none to change.
            _ => return Err(EINVAL),
        };
        result.map_err(|e| errno_of(&e))?;
        Ok(Ret::Value(0))
    }

    /// fchmodat(dirfd, path*, mode) → 0.
    pub(super) fn sys_fchmodat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        mode: u64,
    ) -> SysResult {
        self.change_tree(machine, pid, dirfd, ptr, |root, path| {
            root.set_permissions(path, permissions(mode))
        })
    }

    /// utimensat(dirfd, path*, times*, flags) → 0: the access and
    /// modification times, each a timespec, `UTIME_NOW` or `UTIME_OMIT`;
    /// `times` NULL means both now. A NULL path (glibc's futimens) or
    /// `AT_EMPTY_PATH` names `dirfd` itself.
    pub(super) fn sys_utimensat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [dirfd, ptr, times_ptr, flags] = a;
        let now = self
            .clock
            .now_ns(CLOCK_REALTIME, machine.instret(), 0)
            .ok_or(EFAULT)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let requested = if times_ptr == 0 {
            [(now, false), (now, false)]
        } else {
            let bytes = copy_in(machine, process, times_ptr, 32)?;
            let word =
                |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
            let time = |at: usize| -> Result<(u64, bool), Errno> {
                let (sec, nsec) = (word(at), word(at + 8));
                match nsec {
                    UTIME_NOW => Ok((now, false)),
                    UTIME_OMIT => Ok((0, true)),
                    n if n >= 1_000_000_000 || (sec as i64) < 0 => Err(EINVAL),
                    n => Ok((sec.saturating_mul(1_000_000_000).saturating_add(n), false)),
                }
            };
            [time(0)?, time(16)?]
        };
        let mut times = std::fs::FileTimes::new();
        let at = |ns: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
        if !requested[0].1 {
            times = times.set_accessed(at(requested[0].0));
        }
        if !requested[1].1 {
            times = times.set_modified(at(requested[1].0));
        }
        let by_descriptor = ptr == 0
            || (flags & AT_EMPTY_PATH != 0 && {
                let p = self.processes.get_mut(pid).ok_or(ESRCH)?;
                read_c_string(machine, p, ptr, PATH_MAX)?.is_empty()
            });
        if by_descriptor {
            let fs = self.fs.clone().ok_or(EBADF)?;
            let file = self.file_of(pid, dirfd)?;
            let file = file.borrow();
            if fs.read_only() {
                return Err(EROFS);
            }
            let result = match &file.kind {
                FileKind::Regular(regular) => regular.set_times(times),
                FileKind::Directory => fs
                    .root()
                    .open_dir(&file.path)
                    .and_then(|dir| dir.into_std_file().set_times(times)),
                _ => return Err(EINVAL),
            };
            result.map_err(|e| errno_of(&e))?;
            return Ok(Ret::Value(0));
        }
        self.change_tree(machine, pid, dirfd, ptr, |root, path| {
            if root.metadata(path)?.is_dir() {
                root.open_dir(path)?.into_std_file().set_times(times)
            } else {
                root.open(path)?.into_std().set_times(times)
            }
        })
    }

    /// symlinkat(target*, newdirfd, linkpath*) → 0. The target is stored
    /// as given; following it stays inside the root like every path (an
    /// absolute target is refused then, with a message).
    pub(super) fn sys_symlinkat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target_ptr: u64,
        dirfd: u64,
        ptr: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let target = read_c_string(machine, process, target_ptr, PATH_MAX)?;
        if target.is_empty() {
            return Err(ENOENT);
        }
        let target = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&target);
        self.change_tree(machine, pid, dirfd, ptr, |root, link| {
            root.symlink_contents(target, link)
        })
    }

    /// linkat(olddirfd, old*, newdirfd, new*, flags) → 0: a hard link.
    pub(super) fn sys_linkat(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 5]) -> SysResult {
        let [old_dir, old_ptr, new_dir, new_ptr, flags] = a;
        if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(EINVAL);
        }
        let from = self.guest_path(machine, pid, old_dir, old_ptr, false)?;
        let to = self.guest_path(machine, pid, new_dir, new_ptr, false)?;
        self.check_writable_fs(pid, &to)?;
        let root = from.fs.root();
        match root.symlink_metadata(&from.path) {
            Ok(meta) if meta.is_dir() => return Err(EPERM),
            Ok(_) => {}
            Err(e) => return Err(self.path_error(pid, &from, &e)),
        }
        match root.hard_link(&from.path, root, &to.path) {
            Ok(()) => Ok(Ret::Value(0)),
            Err(e) => Err(self.path_error(pid, &to, &e)),
        }
    }

    /// fsync(fd), fdatasync(fd) → 0 for a file or directory; `EINVAL` for
    /// the console and pipes, which cannot be synced (fsync(2)).
    pub(super) fn sys_fsync(&mut self, pid: Pid, fd: u64) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let file = file.borrow();
        match file.kind {
            FileKind::Regular(_) | FileKind::Directory => Ok(Ret::Value(0)),
            _ => Err(EINVAL),
        }
    }

    /// fchdir(fd) → 0: the directory `fd` names becomes the working
    /// directory.
    pub(super) fn sys_fchdir(&mut self, pid: Pid, fd: u64) -> SysResult {
        let file = self.file_of(pid, fd)?;
        let dir = {
            let file = file.borrow();
            if !matches!(file.kind, FileKind::Directory) {
                return Err(ENOTDIR);
            }
            file.path.clone()
        };
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.cwd = dir;
        Ok(Ret::Value(0))
    }
}

//! Path calls: newfstatat, getcwd, chdir, mkdirat, unlinkat, renameat2,
//! faccessat/faccessat2, getdents64, readlinkat. Every path is resolved
//! inside the root (kernel/fs.rs) from the working directory or a
//! directory descriptor (`dirfd`, `AT_FDCWD`), as openat does; under
//! `--read-only` the calls that would change the tree fail with `EROFS`.
//!
//! `/proc/self/exe` (glibc reads it at startup) names the program the
//! process was started from, as an absolute guest path.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;

use super::fd::stat_bytes;
use super::file::{errno_of, PATH_MAX};
use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::files::FileKind;
use crate::kernel::fs::{self, FileSystem};
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_out, read_c_string};
use crate::kernel::Kernel;

/// `*at` flags.
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_REMOVEDIR: u64 = 0x200;
const AT_EMPTY_PATH: u64 = 0x1000;
/// `renameat2`: fail if the target exists.
const RENAME_NOREPLACE: u64 = 1;
/// `faccessat` modes.
const W_OK: u64 = 2;

/// `d_type` values of getdents64.
const DT_FIFO: u8 = 1;
const DT_CHR: u8 = 2;
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;
const DT_LNK: u8 = 10;

/// `errno` as a host error, for a `change_tree` closure to fail with.
pub(super) fn host_error(errno: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno.0 as i32)
}

/// A path a guest named, resolved.
pub(super) struct GuestPath {
    pub fs: Rc<FileSystem>,
    /// Inside the root.
    pub path: PathBuf,
    /// As the guest wrote it (for messages).
    pub shown: String,
}

impl Kernel {
    /// Reads the path at `ptr` and resolves it from `dirfd` (module doc).
    /// An empty path is `ENOENT` unless `empty_ok` (AT_EMPTY_PATH).
    pub(super) fn guest_path(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        empty_ok: bool,
    ) -> Result<GuestPath, Errno> {
        let fs = self.fs.clone().ok_or(EACCES)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let guest = read_c_string(machine, process, ptr, PATH_MAX)?;
        if guest.is_empty() && !empty_ok {
            return Err(ENOENT);
        }
        let base = if guest.starts_with(b"/") || dirfd == AT_FDCWD {
            process.cwd.clone()
        } else {
            let dir = process.files.get(dirfd).ok_or(EBADF)?.borrow();
            if guest.is_empty() {
                dir.path.clone()
            } else {
                if !matches!(dir.kind, FileKind::Directory) {
                    return Err(ENOTDIR);
                }
                dir.path.clone()
            }
        };
        let path = fs.resolve(&base, &guest);
        Ok(GuestPath {
            fs,
            path,
            shown: String::from_utf8_lossy(&guest).into_owned(),
        })
    }

    /// The errno of a host error on `path`, saying so when the path led
    /// out of the root (as openat does).
    pub(super) fn path_error(&mut self, pid: Pid, path: &GuestPath, e: &std::io::Error) -> Errno {
        if fs::is_escape(e) {
            let why = format!(
                "it leads outside the root directory {} (--root)",
                path.fs.root_path().display()
            );
            self.report_path_refused(pid, &path.shown, &why);
            return EACCES;
        }
        errno_of(e)
    }

    /// Refuses a change under `--read-only`.
    pub(super) fn check_writable_fs(&mut self, pid: Pid, path: &GuestPath) -> Result<(), Errno> {
        if path.fs.read_only() {
            self.report_path_refused(
                pid,
                &path.shown,
                "the file system is read-only (--read-only)",
            );
            return Err(EROFS);
        }
        Ok(())
    }

    /// The common shape of a call that changes the tree at one path:
    /// resolve it (from `dirfd`), refuse under `--read-only`, run `change`
    /// on the root directory and the path inside it, and turn a host error
    /// into the guest's errno (naming an escape, as openat does).
    pub(super) fn change_tree(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        change: impl FnOnce(&cap_std::fs::Dir, &std::path::Path) -> std::io::Result<()>,
    ) -> SysResult {
        let path = self.guest_path(machine, pid, dirfd, ptr, false)?;
        self.check_writable_fs(pid, &path)?;
        match change(path.fs.root(), &path.path) {
            Ok(()) => Ok(Ret::Value(0)),
            Err(e) => Err(self.path_error(pid, &path, &e)),
        }
    }

    fn report_path_refused(&mut self, pid: Pid, path: &str, why: &str) {
        let name = self
            .processes
            .get(pid)
            .map_or_else(String::new, |p| p.name.clone());
        self.report(&format!("process {pid} ({name}): {path:?} refused: {why}"));
    }

    /// newfstatat(dirfd, path*, stat*, flags) → 0.
    pub(super) fn sys_newfstatat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [dirfd, ptr, buf, flags] = a;
        let empty_ok = flags & AT_EMPTY_PATH != 0;
        let path = self.guest_path(machine, pid, dirfd, ptr, empty_ok)?;
        let bytes = if path.shown.is_empty() {
            // AT_EMPTY_PATH: the descriptor itself (glibc's fstat).
            let file = if dirfd == AT_FDCWD {
                None
            } else {
                let process = self.processes.get(pid).ok_or(ESRCH)?;
                Some(process.files.get(dirfd).cloned().ok_or(EBADF)?)
            };
            match file {
                Some(file) => self.stat_of_file(&file)?,
                None => stat_bytes(
                    &path
                        .fs
                        .root()
                        .metadata(&path.path)
                        .map_err(|e| errno_of(&e))?,
                ),
            }
        } else {
            let meta = if flags & AT_SYMLINK_NOFOLLOW != 0 {
                path.fs.root().symlink_metadata(&path.path)
            } else {
                path.fs.root().metadata(&path.path)
            };
            match meta {
                Ok(meta) => stat_bytes(&meta),
                Err(e) => return Err(self.path_error(pid, &path, &e)),
            }
        };
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(0))
    }

    /// getcwd(buf*, size) → the length written, with the NUL: the working
    /// directory as an absolute guest path.
    pub(super) fn sys_getcwd(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        buf: u64,
        size: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let mut text = b"/".to_vec();
        text.extend_from_slice(process.cwd.as_os_str().as_bytes());
        if text.len() > 1 && text.ends_with(b"/") {
            text.pop();
        }
        text.push(0);
        if (text.len() as u64) > size {
            return Err(ERANGE);
        }
        copy_out(machine, process, buf, &text)?;
        Ok(Ret::Value(text.len() as u64))
    }

    /// chdir(path*) → 0.
    pub(super) fn sys_chdir(&mut self, machine: &mut Machine, pid: Pid, ptr: u64) -> SysResult {
        let path = self.guest_path(machine, pid, AT_FDCWD, ptr, false)?;
        match path.fs.root().metadata(&path.path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ENOTDIR),
            Err(e) => return Err(self.path_error(pid, &path, &e)),
        }
        let normal = normalize(&path.path);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.cwd = normal;
        Ok(Ret::Value(0))
    }

    /// mkdirat(dirfd, path*, mode) → 0.
    pub(super) fn sys_mkdirat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        mode: u64,
    ) -> SysResult {
        let umask = self.processes.get(pid).map_or(0o022, |p| p.umask);
        let mut builder = cap_std::fs::DirBuilder::new();
        {
            use cap_std::fs::DirBuilderExt;
            builder.mode(((mode & 0o7777) & !umask) as u32);
        }
        self.change_tree(machine, pid, dirfd, ptr, |root, path| {
            root.create_dir_with(path, &builder)
        })
    }

    /// unlinkat(dirfd, path*, flags) → 0: a file, or with `AT_REMOVEDIR`
    /// an empty directory.
    pub(super) fn sys_unlinkat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        flags: u64,
    ) -> SysResult {
        self.change_tree(machine, pid, dirfd, ptr, |root, path| {
            if flags & AT_REMOVEDIR != 0 {
                return root.remove_dir(path);
            }
            match root.symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => Err(host_error(EISDIR)),
                _ => root.remove_file(path),
            }
        })
    }

    /// renameat2(olddirfd, old*, newdirfd, new*, flags) → 0.
    pub(super) fn sys_renameat2(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 5],
    ) -> SysResult {
        let [old_dir, old_ptr, new_dir, new_ptr, flags] = a;
        if flags & !RENAME_NOREPLACE != 0 {
            return Err(EINVAL);
        }
        let from = self.guest_path(machine, pid, old_dir, old_ptr, false)?;
        let to = self.guest_path(machine, pid, new_dir, new_ptr, false)?;
        self.check_writable_fs(pid, &from)?;
        let root = from.fs.root();
        if flags & RENAME_NOREPLACE != 0 && root.symlink_metadata(&to.path).is_ok() {
            return Err(EEXIST);
        }
        match root.rename(&from.path, root, &to.path) {
            Ok(()) => Ok(Ret::Value(0)),
            Err(e) => Err(self.path_error(pid, &from, &e)),
        }
    }

    /// faccessat(dirfd, path*, mode) / faccessat2(.., flags) → 0 when the
    /// file exists and (for W_OK) the file system is writable; the
    /// host's permission bits decide the rest.
    pub(super) fn sys_faccessat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        ptr: u64,
        mode: u64,
    ) -> SysResult {
        let path = self.guest_path(machine, pid, dirfd, ptr, false)?;
        let meta = match path.fs.root().metadata(&path.path) {
            Ok(meta) => meta,
            Err(e) => return Err(self.path_error(pid, &path, &e)),
        };
        if mode & W_OK != 0 && (path.fs.read_only() || meta.permissions().readonly()) {
            return Err(if path.fs.read_only() { EROFS } else { EACCES });
        }
        let bits = {
            use cap_std::fs::MetadataExt;
            meta.mode()
        };
        // Read (4) and execute (1) against the owner's bits.
        let owner = (bits >> 6) & 7;
        if u64::from(owner) & mode & 5 != mode & 5 {
            return Err(EACCES);
        }
        Ok(Ret::Value(0))
    }

    /// getdents64(fd, buf*, len) → bytes of `struct linux_dirent64`
    /// records ("." and ".." first, then the directory's entries in the
    /// host's order), 0 at the end.
    pub(super) fn sys_getdents64(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        fd: u64,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let fs = self.fs.clone().ok_or(EBADF)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let file = process.files.get(fd).cloned().ok_or(EBADF)?;
        let mut file = file.borrow_mut();
        if !matches!(file.kind, FileKind::Directory) {
            return Err(ENOTDIR);
        }
        let mut names: Vec<(Vec<u8>, u8, u64)> =
            vec![(b".".to_vec(), DT_DIR, 1), (b"..".to_vec(), DT_DIR, 2)];
        let entries = fs.root().read_dir(&file.path).map_err(|e| errno_of(&e))?;
        for entry in entries.flatten() {
            let kind = entry.file_type().map_or(0, |t| {
                use cap_std::fs::FileTypeExt;
                if t.is_dir() {
                    DT_DIR
                } else if t.is_file() {
                    DT_REG
                } else if t.is_symlink() {
                    DT_LNK
                } else if t.is_fifo() {
                    DT_FIFO
                } else if t.is_char_device() {
                    DT_CHR
                } else {
                    0
                }
            });
            // The inode number is not offered through the capability;
            // the position stands in for it (no program compares them).
            let ino = names.len() as u64 + 1;
            names.push((entry.file_name().as_bytes().to_vec(), kind, ino));
        }
        let mut out = Vec::new();
        let mut index = file.dir_offset as usize;
        while let Some((name, kind, ino)) = names.get(index) {
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            if (out.len() + reclen) as u64 > len {
                if out.is_empty() {
                    return Err(EINVAL);
                }
                break;
            }
            let mut record = vec![0u8; reclen];
            record[..8].copy_from_slice(&ino.to_le_bytes());
            record[8..16].copy_from_slice(&(index as u64 + 1).to_le_bytes());
            record[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
            record[18] = *kind;
            record[19..19 + name.len()].copy_from_slice(name);
            out.extend_from_slice(&record);
            index += 1;
        }
        copy_out(machine, process, buf, &out)?;
        file.dir_offset = index as u64;
        Ok(Ret::Value(out.len() as u64))
    }

    /// readlinkat(dirfd, path*, buf*, size) → bytes (no NUL).
    pub(super) fn sys_readlinkat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 4],
    ) -> SysResult {
        let [dirfd, ptr, buf, size] = a;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let guest = read_c_string(machine, process, ptr, PATH_MAX)?;
        let target = if guest == b"/proc/self/exe" {
            let mut text = Vec::new();
            if !process.exe.starts_with('/') {
                text.extend_from_slice(b"/");
                let cwd = process.cwd.as_os_str().as_bytes();
                if !cwd.is_empty() {
                    text.extend_from_slice(cwd);
                    text.push(b'/');
                }
            }
            text.extend_from_slice(process.exe.as_bytes());
            text
        } else {
            let path = self.guest_path(machine, pid, dirfd, ptr, false)?;
            match path.fs.root().read_link(&path.path) {
                Ok(target) => target.as_os_str().as_bytes().to_vec(),
                Err(e) => return Err(self.path_error(pid, &path, &e)),
            }
        };
        if size == 0 {
            return Err(EINVAL);
        }
        let n = target.len().min(size as usize);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &target[..n])?;
        Ok(Ret::Value(n as u64))
    }
}

/// `path` without `.` and with `..` applied (a working directory is kept
/// in this form, so that getcwd prints it cleanly).
fn normalize(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

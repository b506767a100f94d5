//! File calls: read, write, openat, close. Descriptors 0–2 are the
//! console; others are host files (kernel/files.rs buffers them).

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::rc::Rc;

use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::files::{HostFile, OpenFile};
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_in, copy_out, read_c_string};
use crate::kernel::Kernel;

/// Largest chunk one read or write call moves (larger requests are
/// shortened, as POSIX allows).
const IO_CHUNK: u64 = 1 << 20;

/// Longest path accepted by openat.
const PATH_MAX: usize = 4096;

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
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let file = process.files.get(fd).cloned().ok_or(EBADF)?;
        let mut data = vec![0u8; len.min(IO_CHUNK) as usize];
        let n = match file {
            OpenFile::Stdin => self.console.read(&mut data),
            OpenFile::Host(host) => host.borrow_mut().read(&mut data),
            OpenFile::Stdout | OpenFile::Stderr => return Err(EBADF),
        }
        .map_err(|e| errno_of(&e))?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &data[..n])?;
        Ok(Ret::Value(n as u64))
    }

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
        let data = copy_in(machine, process, buf, len.min(IO_CHUNK))?;
        match file {
            OpenFile::Stdout => self.console.write_stdout(&data),
            OpenFile::Stderr => self.console.write_stderr(&data),
            OpenFile::Host(host) => {
                let n = host.borrow_mut().write(&data).map_err(|e| errno_of(&e))?;
                return Ok(Ret::Value(n as u64));
            }
            OpenFile::Stdin => return Err(EBADF),
        }
        Ok(Ret::Value(data.len() as u64))
    }

    /// openat(dirfd, path*, flags) → a new descriptor. Relative paths are
    /// taken from sim's working directory (`AT_FDCWD` only).
    pub(super) fn sys_openat(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        dirfd: u64,
        path: u64,
        flags: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let path = read_c_string(machine, process, path, PATH_MAX)?;
        let path = String::from_utf8_lossy(&path).into_owned();
        if dirfd != AT_FDCWD && !path.starts_with('/') {
            return Err(EBADF);
        }
        if path.is_empty() {
            return Err(ENOENT);
        }
        let (readable, writable) = match flags & 3 {
            O_RDONLY => (true, false),
            O_WRONLY => (false, true),
            O_RDWR => (true, true),
            _ => return Err(EINVAL),
        };
        let file = OpenOptions::new()
            .read(readable)
            .write(writable)
            .create(flags & O_CREAT != 0 && writable)
            .truncate(flags & O_TRUNC != 0 && writable)
            .append(flags & O_APPEND != 0)
            .open(&path)
            .map_err(|e| errno_of(&e))?;
        let open = OpenFile::Host(Rc::new(RefCell::new(HostFile::new(
            file, readable, writable,
        ))));
        let fd = process.files.insert(open).ok_or(EMFILE)?;
        Ok(Ret::Value(fd))
    }

    /// close(fd) → 0.
    pub(super) fn sys_close(&mut self, pid: Pid, fd: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.files.remove(fd).ok_or(EBADF)?;
        Ok(Ret::Value(0))
    }
}

/// The errno for a host I/O error.
fn errno_of(e: &std::io::Error) -> Errno {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => ENOENT,
        PermissionDenied => EACCES,
        AlreadyExists => EEXIST,
        InvalidInput => EINVAL,
        _ => e.raw_os_error().map_or(EIO, |n| Errno(n as u64)),
    }
}

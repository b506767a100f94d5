//! Waiting for descriptors: ppoll and pselect6 (glibc's poll, select and
//! their p-forms all end here on RISC-V Linux).
//!
//! ```text
//! readiness of each descriptor (ready_now)
//!   regular files, directories   readable and writable (as on Linux)
//!   console stdin, FIFOs         readable once input or its end arrived
//!   stdout, stderr               writable
//!   pipe read end                readable with data; POLLHUP once no writer is left
//!   pipe write end               writable; POLLERR once no reader is left
//! some ready, or a zero timeout  → the results, at once
//! none ready, a timeout          → the clock sleeps the timeout (virtual
//!                                  time unless --clock host), a last look,
//!                                  then the results (0 if still none)
//! none ready, no timeout         → Block(Poll): the call runs again
//!                                  once some process ran an instruction,
//!                                  or when host input may have come
//!                                  (Kernel::poll_host_io); with neither,
//!                                  it is a deadlock (as a read of an
//!                                  empty pipe would be)
//! ```
//!
//! The signal mask argument is accepted and not applied: sim never
//! interrupts a blocked call with a signal (docs/user-guide.md).

use super::system::read_timespec_ns;
use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::Machine;
use crate::kernel::files::{FileKind, SharedFile};
use crate::kernel::process::{Pid, WaitReason};
use crate::kernel::uaccess::{copy_in, copy_out};
use crate::kernel::Kernel;

/// `struct pollfd` event bits (poll(2)).
const POLLIN: u16 = 0x1;
const POLLPRI: u16 = 0x2;
const POLLOUT: u16 = 0x4;
const POLLERR: u16 = 0x8;
const POLLHUP: u16 = 0x10;
const POLLNVAL: u16 = 0x20;
const POLLRDNORM: u16 = 0x40;
const POLLWRNORM: u16 = 0x100;

/// Most descriptors one call looks at (Linux: the open-file limit;
/// `FD_SETSIZE` is 1024 for select).
const MAX_POLL_FDS: u64 = 4096;

/// What a descriptor can do right now.
#[derive(Default)]
struct Readiness {
    readable: bool,
    writable: bool,
    /// The other end is gone (a pipe without writers).
    hangup: bool,
    /// Writing would fail (a pipe without readers).
    error: bool,
}

impl Kernel {
    /// Whether input from the host (not another process) can make `file`
    /// ready: the console's stdin or a FIFO's reader.
    fn fed_by_host(file: &SharedFile) -> bool {
        matches!(
            file.borrow().kind,
            FileKind::Stdin
                | FileKind::Stream {
                    reader: Some(_),
                    ..
                }
        )
    }

    /// What blocks a poll of `fds` of `pid` that found none ready.
    fn poll_wait(&self, machine: &Machine, pid: Pid, fds: impl Iterator<Item = u64>) -> Ret {
        let files = self.processes.get(pid).map(|p| &p.files);
        let host = fds
            .filter_map(|fd| files.and_then(|f| f.get(fd)))
            .any(Kernel::fed_by_host);
        Ret::Block(WaitReason::Poll {
            host,
            at: machine.instret(),
        })
    }

    fn ready_now(&mut self, file: &SharedFile) -> Readiness {
        let mut file = file.borrow_mut();
        let (readable, writable) = (file.readable, file.writable);
        let always = Readiness {
            readable,
            writable,
            ..Readiness::default()
        };
        match &mut file.kind {
            FileKind::Regular(_) | FileKind::Directory => always,
            FileKind::Stdin => Readiness {
                readable: self.console.input_ready(),
                ..Readiness::default()
            },
            FileKind::Stdout | FileKind::Stderr => Readiness {
                writable: true,
                ..Readiness::default()
            },
            FileKind::Stream { reader, writer } => Readiness {
                readable: reader.as_mut().is_some_and(|r| r.ready()),
                writable: writer.is_some(),
                ..Readiness::default()
            },
            FileKind::PipeRead(end) => {
                let pipe = end.pipe.borrow();
                Readiness {
                    readable: !pipe.data.is_empty(),
                    hangup: pipe.writers == 0,
                    ..Readiness::default()
                }
            }
            FileKind::PipeWrite(end) => {
                let pipe = end.pipe.borrow();
                Readiness {
                    writable: pipe.readers > 0,
                    error: pipe.readers == 0,
                    ..Readiness::default()
                }
            }
        }
    }

    /// The timeout at `ptr` (a timespec) in nanoseconds; `None` for NULL
    /// (wait without end).
    fn timeout_ns(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        ptr: u64,
    ) -> Result<Option<u64>, Errno> {
        if ptr == 0 {
            return Ok(None);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        read_timespec_ns(machine, process, ptr).map(Some)
    }

    /// Runs `look` (how many are ready) now; if none is and the timeout
    /// allows, waits as the module doc says and looks once more.
    fn wait_for_descriptors(
        &mut self,
        timeout: Option<u64>,
        mut look: impl FnMut(&mut Kernel) -> Result<u64, Errno>,
    ) -> Result<Option<u64>, Errno> {
        let ready = look(self)?;
        match timeout {
            _ if ready > 0 => Ok(Some(ready)),
            Some(0) => Ok(Some(0)),
            Some(ns) => {
                self.clock.sleep(ns);
                Ok(Some(look(self)?))
            }
            None => Ok(None),
        }
    }

    /// ppoll(fds*, nfds, timeout*, sigmask*, sigsetsize) → how many
    /// entries have events; each entry's `revents` written.
    pub(super) fn sys_ppoll(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 3]) -> SysResult {
        let [fds_ptr, nfds, timeout_ptr] = a;
        if nfds > MAX_POLL_FDS {
            return Err(EINVAL);
        }
        let timeout = self.timeout_ns(machine, pid, timeout_ptr)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let mut entries = copy_in(machine, process, fds_ptr, nfds * 8)?;
        let look = |kernel: &mut Kernel| -> Result<u64, Errno> {
            let mut count = 0;
            for entry in entries.chunks_exact_mut(8) {
                let fd = i32::from_le_bytes(entry[..4].try_into().unwrap_or([0; 4]));
                let events = u16::from_le_bytes(entry[4..6].try_into().unwrap_or([0; 2]));
                let revents = if fd < 0 {
                    0
                } else {
                    let file = kernel
                        .processes
                        .get(pid)
                        .and_then(|p| p.files.get(fd as u64).cloned());
                    match file {
                        None => POLLNVAL,
                        Some(file) => {
                            let r = kernel.ready_now(&file);
                            let mut bits = 0;
                            if r.readable && events & (POLLIN | POLLRDNORM) != 0 {
                                bits |= events & (POLLIN | POLLRDNORM);
                            }
                            if r.writable && events & (POLLOUT | POLLWRNORM) != 0 {
                                bits |= events & (POLLOUT | POLLWRNORM);
                            }
                            // Reported whether asked for or not (poll(2)).
                            if r.hangup {
                                bits |= POLLHUP;
                            }
                            if r.error {
                                bits |= POLLERR;
                            }
                            bits & !POLLPRI
                        }
                    }
                };
                entry[6..8].copy_from_slice(&revents.to_le_bytes());
                count += u64::from(revents != 0);
            }
            Ok(count)
        };
        let Some(ready) = self.wait_for_descriptors(timeout, look)? else {
            let fds = entries
                .chunks_exact(8)
                .map(|e| i32::from_le_bytes(e[..4].try_into().unwrap_or([0; 4])))
                .filter(|&fd| fd >= 0)
                .map(|fd| fd as u64);
            return Ok(self.poll_wait(machine, pid, fds));
        };
        // `look` borrowed the entries; it is done with them now.
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, fds_ptr, &entries)?;
        Ok(Ret::Value(ready))
    }

    /// pselect6(nfds, readfds*, writefds*, exceptfds*, timeout*, sigmask*)
    /// → how many bits are set in the three sets, which are rewritten to
    /// hold only the ready descriptors.
    pub(super) fn sys_pselect6(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        a: [u64; 5],
    ) -> SysResult {
        let [nfds, read_ptr, write_ptr, except_ptr, timeout_ptr] = a;
        if nfds > MAX_POLL_FDS {
            return Err(EINVAL);
        }
        let timeout = self.timeout_ns(machine, pid, timeout_ptr)?;
        let set_bytes = nfds.div_ceil(64) * 8;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let mut read_in = |ptr: u64| -> Result<Option<Vec<u8>>, Errno> {
            (ptr != 0)
                .then(|| copy_in(machine, process, ptr, set_bytes))
                .transpose()
        };
        let (reads, writes, excepts) = (
            read_in(read_ptr)?,
            read_in(write_ptr)?,
            read_in(except_ptr)?,
        );
        let has = |set: &Option<Vec<u8>>, fd: u64| {
            set.as_ref()
                .is_some_and(|s| s[(fd / 8) as usize] & (1 << (fd % 8)) != 0)
        };
        // Every descriptor named must be open (select(2): EBADF).
        for fd in 0..nfds {
            if (has(&reads, fd) || has(&writes, fd) || has(&excepts, fd))
                && self
                    .processes
                    .get(pid)
                    .and_then(|p| p.files.get(fd))
                    .is_none()
            {
                return Err(EBADF);
            }
        }
        let empty = vec![0u8; set_bytes as usize];
        let mut out = (empty.clone(), empty.clone(), empty);
        let look = |kernel: &mut Kernel| -> Result<u64, Errno> {
            out.0.fill(0);
            out.1.fill(0);
            let mut count = 0;
            for fd in 0..nfds {
                let (want_read, want_write) = (has(&reads, fd), has(&writes, fd));
                if !want_read && !want_write {
                    continue;
                }
                let Some(file) = kernel
                    .processes
                    .get(pid)
                    .and_then(|p| p.files.get(fd).cloned())
                else {
                    continue;
                };
                let r = kernel.ready_now(&file);
                let (byte, bit) = ((fd / 8) as usize, 1u8 << (fd % 8));
                // A hung-up pipe reads its end; a broken one fails to write:
                // both count as ready, as on Linux.
                if want_read && (r.readable || r.hangup) {
                    out.0[byte] |= bit;
                    count += 1;
                }
                if want_write && (r.writable || r.error) {
                    out.1[byte] |= bit;
                    count += 1;
                }
            }
            Ok(count)
        };
        let Some(ready) = self.wait_for_descriptors(timeout, look)? else {
            let fds = (0..nfds).filter(|&fd| has(&reads, fd) || has(&writes, fd));
            return Ok(self.poll_wait(machine, pid, fds));
        };
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        // No exceptional conditions in sim: that set comes back empty.
        for (ptr, set) in [
            (read_ptr, &out.0),
            (write_ptr, &out.1),
            (except_ptr, &out.2),
        ] {
            if ptr != 0 {
                copy_out(machine, process, ptr, set)?;
            }
        }
        Ok(Ret::Value(ready))
    }
}

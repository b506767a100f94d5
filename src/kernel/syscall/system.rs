//! System calls a Linux program asks of its system rather than of its
//! files or memory: identity (uid, pid, tid, parent), limits, uname,
//! sysinfo, getrandom, and time on the kernel's clock (kernel/clock.rs:
//! virtual and deterministic unless `--clock host`).
//!
//! Fixed answers, so that a run does not depend on the host: uid and gid
//! 1000 (`loader::GUEST_UID`), `uname` says "Linux sim 6.6.0 riscv64",
//! `sysinfo` reports the machine's physical memory (`-m`).

use super::{Ret, SysResult};
use crate::abi::{layout::STACK_LIMIT, EFAULT, EINVAL, ESRCH};
use crate::emu::Machine;
use crate::kernel::clock::CLOCK_MONOTONIC;
use crate::kernel::loader::{splitmix64, CLOCK_TICKS, GUEST_GID, GUEST_UID};
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_in, copy_out};
use crate::kernel::Kernel;

/// `prlimit64` resources sim answers with a finite limit.
const RLIMIT_STACK: u64 = 3;
const RLIMIT_NOFILE: u64 = 7;
const RLIMIT_NPROC: u64 = 6;
/// `RLIM_INFINITY`.
const UNLIMITED: u64 = u64::MAX;

/// The most bytes one getrandom call returns (Linux: 32 MiB - 1).
const GETRANDOM_MAX: u64 = (32 << 20) - 1;

/// `struct utsname`: six fields of 65 bytes.
const UTS_FIELD: usize = 65;
const UNAME: [&str; 6] = [
    "Linux",
    "sim",
    "6.6.0-sim",
    "#1 SMP sim",
    "riscv64",
    "(none)",
];

/// Splits nanoseconds into a `struct timespec` (tv_sec, tv_nsec).
pub(super) fn timespec_bytes(ns: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    out[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    out
}

impl Kernel {
    /// A value the caller's call returns at once.
    fn value_of(&self, pid: Pid, value: impl FnOnce(&crate::kernel::Process) -> u64) -> SysResult {
        let process = self.processes.get(pid).ok_or(ESRCH)?;
        Ok(Ret::Value(value(process)))
    }

    /// getuid, geteuid → 1000; getgid, getegid → 1000.
    pub(super) fn sys_identity(&mut self, number: u64) -> SysResult {
        use crate::abi::{SYS_GETEUID, SYS_GETUID};
        Ok(Ret::Value(if matches!(number, SYS_GETUID | SYS_GETEUID) {
            GUEST_UID
        } else {
            GUEST_GID
        }))
    }

    /// getppid() → the parent's pid (0 for a process the host started, as
    /// for a child of init that Linux would show as 1: sim has no init).
    pub(super) fn sys_getppid(&mut self, pid: Pid) -> SysResult {
        self.value_of(pid, |p| p.parent.map_or(0, |p| p.0))
    }

    /// gettid() → the caller's thread id (its pid: one thread each).
    pub(super) fn sys_gettid(&mut self, pid: Pid) -> SysResult {
        Ok(Ret::Value(pid.0))
    }

    /// set_tid_address(tidptr) → the tid; the kernel zeroes `*tidptr` when
    /// the process ends.
    pub(super) fn sys_set_tid_address(&mut self, pid: Pid, tidptr: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        process.clear_child_tid = tidptr;
        Ok(Ret::Value(pid.0))
    }

    /// set_robust_list(head, len) → 0 (the list matters only to threads
    /// that die holding a robust mutex; accepted and not walked).
    pub(super) fn sys_set_robust_list(&mut self, len: u64) -> SysResult {
        if len != 24 {
            return Err(EINVAL);
        }
        Ok(Ret::Value(0))
    }

    /// prlimit64(pid, resource, new*, old*) / getrlimit(resource, old*):
    /// the stack is 8 MiB (abi/layout.rs), descriptors `--max-open-files`,
    /// processes `--max-processes`, everything else unlimited. New limits
    /// are accepted and not kept.
    pub(super) fn sys_prlimit64(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        resource: u64,
        old: u64,
    ) -> SysResult {
        let limit = match resource {
            RLIMIT_STACK => STACK_LIMIT,
            RLIMIT_NOFILE => self.limits.open_files as u64,
            RLIMIT_NPROC => self.limits.processes as u64,
            0..=15 => UNLIMITED,
            _ => return Err(EINVAL),
        };
        if old != 0 {
            let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&limit.to_le_bytes());
            let max = if resource == RLIMIT_STACK {
                UNLIMITED
            } else {
                limit
            };
            bytes[8..].copy_from_slice(&max.to_le_bytes());
            copy_out(machine, process, old, &bytes)?;
        }
        Ok(Ret::Value(0))
    }

    /// getrandom(buf*, len, flags) → len: bytes from the kernel's seeded
    /// generator (`--seed`), the same on every run.
    pub(super) fn sys_getrandom(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        buf: u64,
        len: u64,
    ) -> SysResult {
        let len = len.min(GETRANDOM_MAX);
        let mut bytes = Vec::with_capacity(len as usize);
        while (bytes.len() as u64) < len {
            bytes.extend_from_slice(&splitmix64(&mut self.random).to_le_bytes());
        }
        bytes.truncate(len as usize);
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(len))
    }

    /// uname(buf*) → 0, with the fixed identity of the module doc.
    pub(super) fn sys_uname(&mut self, machine: &mut Machine, pid: Pid, buf: u64) -> SysResult {
        let mut bytes = vec![0u8; UTS_FIELD * UNAME.len()];
        for (i, field) in UNAME.iter().enumerate() {
            bytes[i * UTS_FIELD..i * UTS_FIELD + field.len()].copy_from_slice(field.as_bytes());
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(0))
    }

    /// sysinfo(info*) → 0: uptime from the monotonic clock, the machine's
    /// memory, the number of processes.
    pub(super) fn sys_sysinfo(&mut self, machine: &mut Machine, pid: Pid, buf: u64) -> SysResult {
        let uptime = self
            .clock
            .now_ns(CLOCK_MONOTONIC, machine.instret(), 0)
            .unwrap_or(0)
            / 1_000_000_000;
        let frame = crate::emu::PAGE_SIZE;
        let total = u64::from(machine.memory().frame_count()) * frame;
        let free = u64::from(machine.memory().free_frames()) * frame;
        // struct sysinfo (64-bit): uptime, loads[3], totalram, freeram,
        // sharedram, bufferram, totalswap, freeswap (longs), procs (u16),
        // pad, totalhigh, freehigh, mem_unit (u32): 112 bytes.
        let mut bytes = vec![0u8; 112];
        let mut put = |at: usize, v: &[u8]| bytes[at..at + v.len()].copy_from_slice(v);
        put(0, &uptime.to_le_bytes());
        put(32, &total.to_le_bytes());
        put(40, &free.to_le_bytes());
        put(80, &(self.processes.len() as u16).to_le_bytes());
        put(104, &1u32.to_le_bytes());
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(0))
    }

    /// clock_gettime(id, ts*) → 0.
    pub(super) fn sys_clock_gettime(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        ts: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let ns = self
            .clock
            .now_ns(id, machine.instret(), process.stats.instructions)
            .ok_or(EINVAL)?;
        copy_out(machine, process, ts, &timespec_bytes(ns))?;
        Ok(Ret::Value(0))
    }

    /// clock_getres(id, res*) → 0 (1 ns).
    pub(super) fn sys_clock_getres(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        res: u64,
    ) -> SysResult {
        let ns = self.clock.resolution_ns(id).ok_or(EINVAL)?;
        if res != 0 {
            let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
            copy_out(machine, process, res, &timespec_bytes(ns))?;
        }
        Ok(Ret::Value(0))
    }

    /// gettimeofday(tv*, tz*) → 0: the realtime clock in microseconds.
    pub(super) fn sys_gettimeofday(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        tv: u64,
        tz: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let ns = self
            .clock
            .now_ns(0, machine.instret(), process.stats.instructions)
            .unwrap_or(0);
        if tv != 0 {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
            bytes[8..].copy_from_slice(&((ns % 1_000_000_000) / 1000).to_le_bytes());
            copy_out(machine, process, tv, &bytes)?;
        }
        if tz != 0 {
            copy_out(machine, process, tz, &[0u8; 8])?;
        }
        Ok(Ret::Value(0))
    }

    /// nanosleep(req*, rem*) / clock_nanosleep(id, flags, req*, rem*):
    /// the clock moves past the deadline (kernel/clock.rs); never
    /// interrupted, so `rem` is untouched. `TIMER_ABSTIME` (flags 1)
    /// sleeps until the absolute time `req`.
    pub(super) fn sys_nanosleep(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        clock: u64,
        flags: u64,
        req: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let bytes = copy_in(machine, process, req, 16)?;
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let (sec, nsec) = (word(0), word(8));
        if (sec as i64) < 0 || nsec >= 1_000_000_000 {
            return Err(EINVAL);
        }
        let mut ns = sec.saturating_mul(1_000_000_000).saturating_add(nsec);
        if flags & 1 != 0 {
            let now = self
                .clock
                .now_ns(clock, machine.instret(), 0)
                .ok_or(EINVAL)?;
            ns = ns.saturating_sub(now);
        }
        self.clock.sleep(ns);
        Ok(Ret::Value(0))
    }

    /// times(buf*) → clock ticks since boot; the caller's user time in
    /// `buf` (its instructions on the clock), system time 0.
    pub(super) fn sys_times(&mut self, machine: &mut Machine, pid: Pid, buf: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let tick_ns = 1_000_000_000 / CLOCK_TICKS;
        let user = process.stats.instructions / tick_ns;
        if buf != 0 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&user.to_le_bytes());
            copy_out(machine, process, buf, &bytes)?;
        }
        let now = self
            .clock
            .now_ns(CLOCK_MONOTONIC, machine.instret(), 0)
            .ok_or(EFAULT)?;
        Ok(Ret::Value(now / tick_ns))
    }

    /// umask(mask) → the previous mask.
    pub(super) fn sys_umask(&mut self, pid: Pid, mask: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let old = process.umask;
        process.umask = mask & 0o777;
        Ok(Ret::Value(old))
    }
}

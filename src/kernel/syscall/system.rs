//! System calls a Linux program asks of its system rather than of its
//! files or memory: identity (uid, pid, tid, parent), limits, uname,
//! sysinfo, getrandom, and time on the kernel's clock (kernel/clock.rs:
//! virtual and deterministic unless `--clock host`).
//!
//! Fixed answers, so that a run does not depend on the host: uid and gid
//! 1000 (`loader::GUEST_UID`), `uname` says "Linux sim 6.6.0 riscv64",
//! `sysinfo` reports the machine's physical memory (`-m`).

use super::{Ret, SysResult};
use crate::abi::{layout::STACK_LIMIT, Errno, EFAULT, EINVAL, EPERM, ESRCH};
use crate::emu::Machine;
use crate::kernel::clock::CLOCK_MONOTONIC;
use crate::kernel::loader::{splitmix64, CLOCK_TICKS, GUEST_GID, GUEST_UID};
use crate::kernel::process::Pid;
use crate::kernel::uaccess::{copy_in, copy_out, read_c_string};
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

/// `getrusage` targets.
const RUSAGE_SELF: u64 = 0;
const RUSAGE_THREAD: u64 = 1;
const RUSAGE_CHILDREN: u64 = -1i64 as u64;
/// Bytes of `struct rusage` (two timevals and fourteen longs).
const RUSAGE_SIZE: usize = 144;

/// `prctl` options sim answers.
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
/// A thread's name is at most this long, with its NUL (`TASK_COMM_LEN`).
const COMM_LEN: usize = 16;

/// Bytes of the CPU mask sched_getaffinity writes: one `unsigned long`
/// (sim's machine has one hart, CPU 0).
const CPU_MASK_BYTES: u64 = 8;

/// Splits nanoseconds into a `struct timespec` (tv_sec, tv_nsec).
pub(super) fn timespec_bytes(ns: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    out[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    out
}

/// The `struct timespec` at `ptr` in nanoseconds (saturating);
/// `EINVAL` for a negative second or a nanosecond field of a second or
/// more (nanosleep(2), poll(2)).
pub(super) fn read_timespec_ns(
    machine: &mut Machine,
    process: &mut crate::kernel::Process,
    ptr: u64,
) -> Result<u64, Errno> {
    let bytes = copy_in(machine, process, ptr, 16)?;
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let (sec, nsec) = (word(0), word(8));
    if (sec as i64) < 0 || nsec >= 1_000_000_000 {
        return Err(EINVAL);
    }
    Ok(sec.saturating_mul(1_000_000_000).saturating_add(nsec))
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
        let mut ns = read_timespec_ns(machine, process, req)?;
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

    /// getrusage(who, usage*) → 0: user time from the instructions the
    /// process (`RUSAGE_SELF`, all its threads) or thread
    /// (`RUSAGE_THREAD`) ran, one nanosecond each like the CPU-time
    /// clocks; the peak resident size from its pages. Waited-for children
    /// (`RUSAGE_CHILDREN`) are not accounted: zeros, as `times` reports.
    pub(super) fn sys_getrusage(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        who: u64,
        buf: u64,
    ) -> SysResult {
        let tgid = self.tgid_of(pid);
        let (instructions, pages) = match who {
            RUSAGE_SELF => self
                .processes
                .iter()
                .filter(|p| p.tgid == tgid)
                .fold((0, 0), |(i, pages), p| {
                    (i + p.stats.instructions, pages.max(p.stats.peak_pages))
                }),
            RUSAGE_THREAD => {
                let p = self.processes.get(pid).ok_or(ESRCH)?;
                (p.stats.instructions, p.stats.peak_pages)
            }
            RUSAGE_CHILDREN => (0, 0),
            _ => return Err(EINVAL),
        };
        let mut bytes = [0u8; RUSAGE_SIZE];
        // ru_utime as a timeval (seconds, microseconds); ru_stime stays 0.
        bytes[..8].copy_from_slice(&(instructions / 1_000_000_000).to_le_bytes());
        bytes[8..16].copy_from_slice(&(instructions % 1_000_000_000 / 1000).to_le_bytes());
        // ru_maxrss in KiB.
        bytes[32..40].copy_from_slice(&(pages * 4).to_le_bytes());
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, buf, &bytes)?;
        Ok(Ret::Value(0))
    }

    /// The process `target` names for the affinity and group calls: the
    /// caller for 0.
    fn named_process(&self, pid: Pid, target: u64) -> Result<Pid, Errno> {
        if target == 0 {
            return Ok(pid);
        }
        let target = Pid(target);
        self.processes.get(target).map(|_| target).ok_or(ESRCH)
    }

    /// sched_getaffinity(pid, len, mask*) → the bytes written: CPU 0 only.
    /// `len` must hold an `unsigned long` and be a multiple of one.
    pub(super) fn sys_sched_getaffinity(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        len: u64,
        mask: u64,
    ) -> SysResult {
        self.named_process(pid, target)?;
        if len < CPU_MASK_BYTES || !len.is_multiple_of(CPU_MASK_BYTES) {
            return Err(EINVAL);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        copy_out(machine, process, mask, &1u64.to_le_bytes())?;
        Ok(Ret::Value(CPU_MASK_BYTES))
    }

    /// sched_setaffinity(pid, len, mask*) → 0 if the mask has CPU 0,
    /// `EINVAL` if it names none of the machine's CPUs.
    pub(super) fn sys_sched_setaffinity(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        target: u64,
        len: u64,
        mask: u64,
    ) -> SysResult {
        self.named_process(pid, target)?;
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let bytes = copy_in(machine, process, mask, len.min(CPU_MASK_BYTES))?;
        if bytes.first().is_none_or(|b| b & 1 == 0) {
            return Err(EINVAL);
        }
        Ok(Ret::Value(0))
    }

    /// prctl(option, arg2, ...) → 0 (or the value asked for): a thread's
    /// name (`PR_SET_NAME`, `PR_GET_NAME`: sim's messages name the process
    /// by it too) and the dumpable flag (always 1); other options `EINVAL`.
    pub(super) fn sys_prctl(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        option: u64,
        arg: u64,
    ) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        match option {
            PR_GET_DUMPABLE => Ok(Ret::Value(1)),
            PR_SET_DUMPABLE if arg <= 1 => Ok(Ret::Value(0)),
            PR_SET_NAME => {
                // Linux keeps the first 15 bytes of a longer name.
                let mut name = read_c_string(machine, process, arg, 4096)?;
                name.truncate(COMM_LEN - 1);
                process.name = String::from_utf8_lossy(&name).into_owned();
                Ok(Ret::Value(0))
            }
            PR_GET_NAME => {
                let base = process.name.rsplit('/').next().unwrap_or_default();
                let mut comm = [0u8; COMM_LEN];
                let n = base.len().min(COMM_LEN - 1);
                comm[..n].copy_from_slice(&base.as_bytes()[..n]);
                copy_out(machine, process, arg, &comm)?;
                Ok(Ret::Value(0))
            }
            _ => Err(EINVAL),
        }
    }

    /// The first thread of `pid`'s thread group, which keeps the group's
    /// process group and session.
    fn leader_mut(&mut self, pid: Pid) -> Result<&mut crate::kernel::Process, Errno> {
        let tgid = self.tgid_of(pid);
        self.processes.get_mut(tgid).ok_or(ESRCH)
    }

    /// getpgid(pid) → its process group.
    pub(super) fn sys_getpgid(&mut self, pid: Pid, target: u64) -> SysResult {
        let target = self.named_process(pid, target)?;
        Ok(Ret::Value(self.leader_mut(target)?.pgid.0))
    }

    /// getsid(pid) → its session.
    pub(super) fn sys_getsid(&mut self, pid: Pid, target: u64) -> SysResult {
        let target = self.named_process(pid, target)?;
        Ok(Ret::Value(self.leader_mut(target)?.sid.0))
    }

    /// setpgid(pid, pgid) → 0: moves the caller or one of its children
    /// (0: the caller) into process group `pgid` (0: its own pid), within
    /// its session (setpgid(2)); a session leader cannot move.
    pub(super) fn sys_setpgid(&mut self, pid: Pid, target: u64, pgid: u64) -> SysResult {
        if (pgid as i64) < 0 {
            return Err(EINVAL);
        }
        let me = self.tgid_of(pid);
        let target = self.tgid_of(self.named_process(pid, target)?);
        let (caller_sid, target_parent) = {
            let caller = self.leader_mut(me)?;
            let sid = caller.sid;
            let parent = self.processes.get(target).and_then(|p| p.parent);
            (sid, parent)
        };
        if target != me && target_parent != Some(me) {
            return Err(ESRCH);
        }
        let group = if pgid == 0 { target } else { Pid(pgid) };
        let leader = self.leader_mut(target)?;
        if leader.sid == target || leader.sid != caller_sid {
            return Err(EPERM);
        }
        let exists = group == target
            || self
                .processes
                .iter()
                .any(|p| p.pgid == group && p.sid == caller_sid);
        if !exists {
            return Err(EPERM);
        }
        self.leader_mut(target)?.pgid = group;
        Ok(Ret::Value(0))
    }

    /// setsid() → the new session's id (the caller's pid); `EPERM` if the
    /// caller leads a process group already.
    pub(super) fn sys_setsid(&mut self, pid: Pid) -> SysResult {
        let me = self.tgid_of(pid);
        let taken = self.processes.iter().any(|p| p.pgid == me);
        if taken {
            return Err(EPERM);
        }
        let leader = self.leader_mut(me)?;
        (leader.pgid, leader.sid) = (me, me);
        Ok(Ret::Value(me.0))
    }

    /// umask(mask) → the previous mask.
    pub(super) fn sys_umask(&mut self, pid: Pid, mask: u64) -> SysResult {
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        let old = process.umask;
        process.umask = mask & 0o777;
        Ok(Ret::Value(old))
    }
}

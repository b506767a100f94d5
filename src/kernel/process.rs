//! A process: one context (registers, page table) plus what the kernel
//! knows of it (state, parent, memory regions, open files, statistics) and
//! its place in the context tree of the hypervisor (mode, supervisor, the
//! pending exception, the child it switched to; see src/hypervisor/).

use std::collections::BTreeMap;

use super::files::FdTable;
use super::syscall::{PendingOpen, SelfieContext};
use crate::abi::selfie::Profile;
use crate::emu::{Exception, Hart, PageTable, PteFlags};
pub use crate::ids::Pid;
use crate::vmshm::VmWait;

/// The privilege mode of a context (rule U/K-3: only kernel-mode contexts
/// may use hypercalls).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    User,
    /// A guest kernel (`-k`): it schedules its own children through
    /// hypercalls.
    Kernel,
}

/// What a blocked process waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitReason {
    /// `wait4` for a child (`None`: any child).
    Child(Option<Pid>),
    /// An rshm call waiting for the node's server (docs/spec/rshm.md): the
    /// request's token. The reply sets `a0` and makes the process ready
    /// (kernel/syscall/rshm.rs), instead of re-running the `ecall`.
    Rshm(u64),
    /// A vm_listen or vm_disconnect waiting for the peer (docs/spec/vmshm.md).
    VmShm(VmWait),
    /// Host input that has not arrived: a read of descriptor `Some(fd)`
    /// (stdin, a FIFO, a device), or `None`, an `openat` of a FIFO
    /// waiting for its peer (kernel/hostio.rs). Only this process sleeps.
    HostIo(Option<u64>),
    /// FUTEX_WAIT on the word at the address, in the address space of the
    /// thread group (kernel/threads.rs); FUTEX_WAKE finishes the call.
    Futex(Pid, u64),
    /// A ppoll or pselect6 without a timeout that found no descriptor
    /// ready, when the machine had retired `at` instructions: it runs
    /// again when something may have changed (`Kernel::poll_host_io`):
    /// some process ran an instruction since, or, if `host`, one of its
    /// descriptors is host input (stdin, a FIFO) that may still arrive.
    /// Otherwise nothing can wake it: a deadlock (pollers that only wake
    /// each other are one too).
    Poll { host: bool, at: u64 },
}

/// How a process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExitStatus {
    /// `exit(code)`: the low 8 bits of code.
    Exited(u8),
    /// Killed by the kernel for a fault, with the signal Linux would use
    /// (SIGSEGV 11, SIGILL 4, SIGBUS 7, SIGTRAP 5, SIGKILL 9).
    Killed(u8),
}

impl ExitStatus {
    /// The status word `wait4` stores (Linux: `code << 8`, or the signal).
    pub fn wait_status(self) -> u64 {
        match self {
            ExitStatus::Exited(code) => u64::from(code) << 8,
            ExitStatus::Killed(signal) => u64::from(signal),
        }
    }

    /// The exit code a shell would see (128 + signal when killed).
    pub fn exit_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => i32::from(code),
            ExitStatus::Killed(signal) => 128 + i32::from(signal),
        }
    }
}

/// The scheduling state of a process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcessState {
    Ready,
    Blocked(WaitReason),
    /// Ended, waiting for its parent to collect the status.
    Zombie(ExitStatus),
}

/// A range of virtual memory the kernel backs with zeroed frames on the
/// first touch (demand paging).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub permissions: PteFlags,
}

/// Per-process counters for `--stats`.
#[derive(Clone, Debug, Default)]
pub struct ProcessStats {
    pub instructions: u64,
    /// Calls made, by number (`syscall_count` looks one up by name).
    pub syscalls: CallCounts,
    pub exceptions: ExceptionCounts,
    pub page_faults: u64,
    pub peak_pages: u64,
}

/// How often each call number was made. Counted on the path of every
/// syscall, so by index rather than in a map: the numbers of every call
/// sim knows are below `CallCounts::DENSE` and count in a vector indexed
/// by the number (grown once to the largest number seen); any other
/// number a guest puts in `a7` counts in a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    dense: Vec<u64>,
    sparse: BTreeMap<u64, u64>,
}

impl CallCounts {
    /// Numbers below this count by index (abi/mod.rs: all sim knows).
    pub const DENSE: u64 = 1024;

    /// Counts one call of `number`: on the path of every syscall, one
    /// bounds check and an add for a number counted before (the vector
    /// only holds numbers below `DENSE`); the rest is out of line.
    #[inline(always)]
    pub fn add(&mut self, number: u64) {
        match usize::try_from(number)
            .ok()
            .and_then(|i| self.dense.get_mut(i))
        {
            Some(count) => *count += 1,
            None => self.add_first(number),
        }
    }

    /// `add` for a number the vector does not hold yet.
    #[inline(never)]
    fn add_first(&mut self, number: u64) {
        if number >= CallCounts::DENSE {
            *self.sparse.entry(number).or_default() += 1;
            return;
        }
        let index = number as usize;
        if index >= self.dense.len() {
            self.dense.resize(index + 1, 0);
        }
        self.dense[index] += 1;
    }

    /// How often `number` was called (0: never).
    pub fn get(&self, number: u64) -> u64 {
        match usize::try_from(number) {
            Ok(index) if number < CallCounts::DENSE => self.dense.get(index).copied().unwrap_or(0),
            _ => self.sparse.get(&number).copied().unwrap_or(0),
        }
    }

    /// `(number, count)` of every call made, by number.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let dense = self.dense.iter().enumerate();
        dense
            .filter(|&(_, &count)| count != 0)
            .map(|(number, &count)| (number as u64, count))
            .chain(self.sparse.iter().map(|(&number, &count)| (number, count)))
    }
}

/// How often each kind of exception was raised: one counter per
/// `Exception::kind_index` (counted on every exception, so an array, not
/// a map keyed by name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExceptionCounts([u64; Exception::KINDS]);

impl ExceptionCounts {
    /// Counts one exception.
    pub fn add(&mut self, exception: Exception) {
        self.0[exception.kind_index()] += 1;
    }

    /// How often an exception of the kind named `kind` (`Exception::kind`)
    /// was raised (0: never, or no such kind).
    pub fn get(&self, kind: &str) -> u64 {
        Exception::KIND_NAMES
            .iter()
            .position(|&name| name == kind)
            .map_or(0, |index| self.0[index])
    }

    /// `(kind, count)` of every kind raised, in name order (`--stats`).
    pub fn by_name(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<_> = Exception::KIND_NAMES
            .iter()
            .zip(self.0)
            .filter(|&(_, count)| count != 0)
            .map(|(&name, count)| (name, count))
            .collect();
        counts.sort_unstable();
        counts
    }
}

/// One process.
pub struct Process {
    pub pid: Pid,
    /// The program name (argv[0]) for messages.
    pub name: String,
    /// A number unique to this address space among all contexts of the
    /// machine, for the TLB.
    pub context: u64,
    pub hart: Hart,
    pub page_table: PageTable,
    pub state: ProcessState,
    /// `None` for the processes the host started (`-u`).
    pub parent: Option<Pid>,
    /// ELF segments' zero-filled tails (.bss): demand-paged.
    pub regions: Vec<Region>,
    /// First address of the heap.
    pub heap_start: u64,
    /// Current program break.
    pub brk: u64,
    pub files: FdTable,
    /// The working directory, a path inside the root (kernel/fs.rs).
    pub cwd: std::path::PathBuf,
    /// An `openat` of a FIFO waiting for its peer (syscall/file.rs).
    pub pending_open: Option<PendingOpen>,
    /// Started by the host (`-u`, `-k`, `Simulator::load_elf`): its
    /// status stays in the table after it ended, for sim's exit code and
    /// `--stats` (lifecycle.rs). Other ended processes go once reaped.
    pub started_by_host: bool,
    /// Made by fork: its parent collects it (wait4), also when a guest
    /// kernel supervises it (lifecycle.rs `release`).
    pub forked: bool,
    /// Most pages it may have mapped (kernel/limits.rs): shm, vmshm, rshm
    /// and hv_map fail with `ENOMEM` beyond.
    pub max_mapped_pages: u64,
    pub stats: ProcessStats,
    pub mode: Mode,
    /// The thread group (kernel/threads.rs): the pid of its first thread,
    /// what getpid returns; its own pid for a one-thread process.
    pub tgid: Pid,
    /// The guest kernel this context is a child of, which receives its
    /// exceptions (rule U/K-2); `None`: the host kernel. A context with a
    /// supervisor is never in the host's ready queue (rule U/K-5).
    pub supervisor: Option<Pid>,
    /// The exception waiting for the supervisor to read (`hv_status`).
    pub pending: Option<Exception>,
    /// For a guest kernel: the child it runs through `hv_switch` (it sits
    /// in that `ecall` until the child's next exception).
    pub switched_to: Option<Pid>,
    /// The ABI its calls follow: Linux's, or selfie's (abi/selfie.rs).
    pub profile: Profile,
    /// For a context that selfie's `switch` made: where its machine
    /// context lies in its supervisor's memory (kernel/syscall/selfie.rs).
    pub selfie: Option<SelfieContext>,
    /// The instruction count at which its own timer fires (the timeout of
    /// selfie's `switch`); `None`: only the host's time slice ends its run.
    pub timer_deadline: Option<u64>,
    /// Signal dispositions, the blocked mask and pending signals
    /// (kernel/signal.rs).
    pub signals: super::signal::Signals,
    /// `set_tid_address`/`CLONE_CHILD_CLEARTID`: the word the kernel
    /// zeroes when the process ends (0: none).
    pub clear_child_tid: u64,
    /// The file-creation mask (`umask`), applied to the mode of new files.
    pub umask: u64,
    /// The path it was started from (what `/proc/self/exe` names).
    pub exe: String,
    /// Its process group and session (setpgid, setsid), kept in the
    /// thread group's first thread; a child starts in its parent's. A
    /// process the host started leads a group of its own (as a shell
    /// starts a job) in a session whose leader is outside sim: session 0,
    /// which is what Linux reports for a leader outside the caller's pid
    /// namespace (getsid(2)), as getppid reports 0 for the parent.
    pub pgid: Pid,
    pub sid: Pid,
    /// For a guest kernel: `hv_paging(HV_PAGING_GUEST)` was called — the
    /// host backs none of its children's page faults (hypercalls.rs).
    pub guest_paging: bool,
}

impl ProcessStats {
    /// How often the call named `name` (as abi.rs names it, or
    /// `syscall_<n>`) was made; `None` if never.
    pub fn syscall_count(&self, name: &str) -> Option<u64> {
        self.syscalls
            .iter()
            .find(|&(number, _)| crate::abi::call_name(number) == name)
            .map(|(_, count)| count)
    }

    /// The calls made, by name under `profile`, in name order (`--stats`).
    pub fn syscalls_by_name(&self, profile: Profile) -> BTreeMap<String, u64> {
        self.syscalls
            .iter()
            .map(|(number, count)| (profile.call_name(number), count))
            .collect()
    }
}

impl Process {
    /// A ready process with an empty address space, all registers 0 and the
    /// standard descriptors (stdin, stdout, stderr). `context` is its TLB
    /// context id (`Kernel::context_of`); `supervisor` the guest kernel it
    /// is a child of (`None`: the host kernel).
    pub fn new(
        pid: Pid,
        name: String,
        context: u64,
        mode: Mode,
        supervisor: Option<Pid>,
    ) -> Process {
        Process {
            pid,
            name,
            context,
            hart: Hart::default(),
            page_table: PageTable::new(),
            state: ProcessState::Ready,
            parent: None,
            regions: Vec::new(),
            heap_start: 0,
            brk: 0,
            files: FdTable::default(),
            cwd: Default::default(),
            pending_open: None,
            started_by_host: false,
            forked: false,
            max_mapped_pages: super::limits::DEFAULT_MAX_MAPPED_PAGES,
            stats: ProcessStats::default(),
            tgid: pid,
            mode,
            supervisor,
            pending: None,
            switched_to: None,
            profile: Profile::Linux,
            selfie: None,
            timer_deadline: None,
            signals: Default::default(),
            clear_child_tid: 0,
            umask: 0o022,
            exe: String::new(),
            pgid: pid,
            sid: Pid(0),
            guest_paging: false,
        }
    }

    /// Records the size of the address space for `--stats` (call it after
    /// mapping pages).
    pub fn note_peak_pages(&mut self) {
        self.stats.peak_pages = self.stats.peak_pages.max(self.page_table.len() as u64);
    }

    /// Whether its guest kernel may still ask about it after it ended: it
    /// has one and did not come from a fork (lifecycle.rs `release`).
    pub fn kept_for_its_kernel(&self) -> bool {
        self.supervisor.is_some() && !self.forked
    }

    /// Whether the process has ended.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, ProcessState::Zombie(_))
    }

    /// The status it ended with, if it ended.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.state {
            ProcessState::Zombie(status) => Some(status),
            _ => None,
        }
    }
}

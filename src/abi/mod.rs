//! The guest ABI in one place: syscall and hypercall numbers and their
//! names (this file), the error numbers (errno.rs) and the address space a
//! guest sees (layout.rs), as docs/spec/abi.md describes them, and
//! selfie's ABI profile (selfie.rs, docs/selfie.md). The kernel's
//! dispatch, the C* compiler's built-in procedures, the trace and the
//! docs all read from here; every layer may use it (it needs only the
//! page size of `emu`).

mod errno;
pub mod layout;
pub mod selfie;

pub use errno::*;

/// How the trace shows an argument (kernel/syscall/decode.rs): the one
/// call table below gives each call's arguments their kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A number in hex (addresses, handles, anything opaque).
    Hex,
    /// A signed decimal number (sizes, counts, ids).
    Int,
    /// A file descriptor.
    Fd,
    /// A directory descriptor: `AT_FDCWD` by name.
    DirFd,
    /// A pointer to a NUL-terminated string (paths, shm names).
    Path,
    /// A pointer to bytes whose length is argument number `n`.
    Buf(u8),
    /// `open` flags: `O_WRONLY|O_CREAT|O_TRUNC`.
    OpenFlags,
    /// Permission bits, in octal.
    Mode,
    /// `PROT_*` bits.
    Prot,
    /// `MAP_*` bits.
    MapFlags,
    /// `CLONE_*` bits and the exit signal.
    CloneFlags,
    /// A signal number: `SIGUSR1`.
    Signal,
    /// `SIG_BLOCK`, `SIG_UNBLOCK`, `SIG_SETMASK`.
    SigHow,
    /// A clock id: `CLOCK_MONOTONIC`.
    Clock,
    /// A futex operation: `FUTEX_WAIT_PRIVATE`.
    FutexOp,
    /// `SEEK_SET`, `SEEK_CUR`, `SEEK_END`.
    Whence,
    /// `AT_*` flags.
    AtFlags,
    /// A `struct timespec` the call reads.
    Timespec,
    /// A `struct timespec` the call writes (shown after it).
    TimespecOut,
    /// A `struct stat` the call writes (shown after it).
    StatOut,
    /// Any other pointer (`NULL` or hex).
    Ptr,
}

/// How the trace shows a call's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    /// Signed decimal.
    Int,
    /// An address, in hex.
    Addr,
}

/// One entry of the call table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallInfo {
    /// The number in `a7`.
    pub number: u64,
    /// The name the trace prints and the C* built-in procedure is called by
    /// (`None` for calls that have no C* built-in).
    pub name: &'static str,
    /// The C* built-in name, when it differs from `name` or exists at all.
    pub builtin: Option<&'static str>,
    /// How many arguments the call takes (a0..).
    pub args: u8,
    /// How the trace shows each argument.
    pub kinds: &'static [Arg],
    /// How the trace shows the result.
    pub returns: Returns,
}

macro_rules! calls {
    ($( $konst:ident = $num:expr, $name:expr, $builtin:expr, [$($kind:expr),*] -> $ret:ident; )*) => {
        $( pub const $konst: u64 = $num; )*
        /// Every call `sim` knows, in number order.
        pub const CALLS: &[CallInfo] = &[
            $( CallInfo {
                number: $num,
                name: $name,
                builtin: $builtin,
                args: { let kinds: &[Arg] = &[$($kind),*]; kinds.len() as u8 },
                kinds: &[$($kind),*],
                returns: Returns::$ret,
            }, )*
        ];
    };
}

use Arg::*;

calls! {
    SYS_GETCWD = 17, "getcwd", None, [Ptr, Int] -> Int;
    SYS_DUP = 23, "dup", None, [Fd] -> Int;
    SYS_DUP3 = 24, "dup3", None, [Fd, Fd, OpenFlags] -> Int;
    SYS_FCNTL = 25, "fcntl", None, [Fd, Int, Hex] -> Int;
    SYS_IOCTL = 29, "ioctl", None, [Fd, Hex, Ptr] -> Int;
    SYS_MKDIRAT = 34, "mkdirat", None, [DirFd, Path, Mode] -> Int;
    SYS_UNLINKAT = 35, "unlinkat", None, [DirFd, Path, AtFlags] -> Int;
    SYS_SYMLINKAT = 36, "symlinkat", None, [Path, DirFd, Path] -> Int;
    SYS_LINKAT = 37, "linkat", None, [DirFd, Path, DirFd, Path, AtFlags] -> Int;
    SYS_TRUNCATE = 45, "truncate", None, [Path, Int] -> Int;
    SYS_FTRUNCATE = 46, "ftruncate", None, [Fd, Int] -> Int;
    SYS_FACCESSAT = 48, "faccessat", None, [DirFd, Path, Int] -> Int;
    SYS_CHDIR = 49, "chdir", None, [Path] -> Int;
    SYS_FCHDIR = 50, "fchdir", None, [Fd] -> Int;
    SYS_FCHMOD = 52, "fchmod", None, [Fd, Mode] -> Int;
    SYS_FCHMODAT = 53, "fchmodat", None, [DirFd, Path, Mode] -> Int;
    SYS_OPENAT = 56, "openat", None, [DirFd, Path, OpenFlags, Mode] -> Int;
    SYS_CLOSE = 57, "close", None, [Fd] -> Int;
    SYS_PIPE2 = 59, "pipe2", None, [Ptr, OpenFlags] -> Int;
    SYS_GETDENTS64 = 61, "getdents64", None, [Fd, Ptr, Int] -> Int;
    SYS_LSEEK = 62, "lseek", None, [Fd, Int, Whence] -> Int;
    SYS_READ = 63, "read", Some("read"), [Fd, Ptr, Int] -> Int;
    SYS_WRITE = 64, "write", Some("write"), [Fd, Buf(2), Int] -> Int;
    SYS_READV = 65, "readv", None, [Fd, Ptr, Int] -> Int;
    SYS_WRITEV = 66, "writev", None, [Fd, Ptr, Int] -> Int;
    SYS_PREAD64 = 67, "pread64", None, [Fd, Ptr, Int, Int] -> Int;
    SYS_PWRITE64 = 68, "pwrite64", None, [Fd, Buf(2), Int, Int] -> Int;
    SYS_PSELECT6 = 72, "pselect6", None, [Int, Ptr, Ptr, Ptr, Timespec, Ptr] -> Int;
    SYS_PPOLL = 73, "ppoll", None, [Ptr, Int, Timespec, Ptr, Int] -> Int;
    SYS_READLINKAT = 78, "readlinkat", None, [DirFd, Path, Ptr, Int] -> Int;
    SYS_NEWFSTATAT = 79, "newfstatat", None, [DirFd, Path, StatOut, AtFlags] -> Int;
    SYS_FSTAT = 80, "fstat", None, [Fd, StatOut] -> Int;
    SYS_SYNC = 81, "sync", None, [] -> Int;
    SYS_FSYNC = 82, "fsync", None, [Fd] -> Int;
    SYS_FDATASYNC = 83, "fdatasync", None, [Fd] -> Int;
    SYS_UTIMENSAT = 88, "utimensat", None, [DirFd, Path, Ptr, AtFlags] -> Int;
    SYS_EXIT = 93, "exit", Some("exit"), [Int] -> Int;
    SYS_EXIT_GROUP = 94, "exit_group", None, [Int] -> Int;
    SYS_SET_TID_ADDRESS = 96, "set_tid_address", None, [Ptr] -> Int;
    SYS_FUTEX = 98, "futex", None, [Ptr, FutexOp, Int, Ptr, Ptr, Hex] -> Int;
    SYS_SET_ROBUST_LIST = 99, "set_robust_list", None, [Ptr, Int] -> Int;
    SYS_NANOSLEEP = 101, "nanosleep", None, [Timespec, Ptr] -> Int;
    SYS_CLOCK_GETTIME = 113, "clock_gettime", None, [Clock, TimespecOut] -> Int;
    SYS_CLOCK_GETRES = 114, "clock_getres", None, [Clock, TimespecOut] -> Int;
    SYS_CLOCK_NANOSLEEP = 115, "clock_nanosleep", None, [Clock, Int, Timespec, Ptr] -> Int;
    SYS_SCHED_SETAFFINITY = 122, "sched_setaffinity", None, [Int, Int, Ptr] -> Int;
    SYS_SCHED_GETAFFINITY = 123, "sched_getaffinity", None, [Int, Int, Ptr] -> Int;
    SYS_SCHED_YIELD = 124, "sched_yield", Some("yield"), [] -> Int;
    SYS_KILL = 129, "kill", None, [Int, Signal] -> Int;
    SYS_TKILL = 130, "tkill", None, [Int, Signal] -> Int;
    SYS_TGKILL = 131, "tgkill", None, [Int, Int, Signal] -> Int;
    SYS_SIGALTSTACK = 132, "sigaltstack", None, [Ptr, Ptr] -> Int;
    SYS_RT_SIGACTION = 134, "rt_sigaction", None, [Signal, Ptr, Ptr, Int] -> Int;
    SYS_RT_SIGPROCMASK = 135, "rt_sigprocmask", None, [SigHow, Ptr, Ptr, Int] -> Int;
    SYS_RT_SIGRETURN = 139, "rt_sigreturn", None, [] -> Int;
    SYS_TIMES = 153, "times", None, [Ptr] -> Int;
    SYS_SETPGID = 154, "setpgid", None, [Int, Int] -> Int;
    SYS_GETPGID = 155, "getpgid", None, [Int] -> Int;
    SYS_GETSID = 156, "getsid", None, [Int] -> Int;
    SYS_SETSID = 157, "setsid", None, [] -> Int;
    SYS_UNAME = 160, "uname", None, [Ptr] -> Int;
    SYS_GETRLIMIT = 163, "getrlimit", None, [Int, Ptr] -> Int;
    SYS_GETRUSAGE = 165, "getrusage", None, [Int, Ptr] -> Int;
    SYS_UMASK = 166, "umask", None, [Mode] -> Int;
    SYS_PRCTL = 167, "prctl", None, [Int, Hex, Hex, Hex, Hex] -> Int;
    SYS_GETTIMEOFDAY = 169, "gettimeofday", None, [Ptr, Ptr] -> Int;
    SYS_GETPID = 172, "getpid", Some("getpid"), [] -> Int;
    SYS_GETPPID = 173, "getppid", None, [] -> Int;
    SYS_GETUID = 174, "getuid", None, [] -> Int;
    SYS_GETEUID = 175, "geteuid", None, [] -> Int;
    SYS_GETGID = 176, "getgid", None, [] -> Int;
    SYS_GETEGID = 177, "getegid", None, [] -> Int;
    SYS_GETTID = 178, "gettid", None, [] -> Int;
    SYS_SYSINFO = 179, "sysinfo", None, [Ptr] -> Int;
    SYS_BRK = 214, "brk", None, [Hex] -> Addr;
    SYS_MUNMAP = 215, "munmap", None, [Hex, Int] -> Int;
    SYS_MREMAP = 216, "mremap", None, [Hex, Int, Int, Hex, Hex] -> Addr;
    SYS_CLONE = 220, "clone", Some("fork"), [CloneFlags, Ptr, Ptr, Hex, Ptr] -> Int;
    SYS_EXECVE = 221, "execve", None, [Path, Ptr, Ptr] -> Int;
    SYS_MMAP = 222, "mmap", None, [Hex, Int, Prot, MapFlags, Fd, Hex] -> Addr;
    SYS_MPROTECT = 226, "mprotect", None, [Hex, Int, Prot] -> Int;
    SYS_MADVISE = 233, "madvise", None, [Hex, Int, Int] -> Int;
    SYS_WAIT4 = 260, "wait4", None, [Int, Ptr, Int, Ptr] -> Int;
    SYS_PRLIMIT64 = 261, "prlimit64", None, [Int, Int, Ptr, Ptr] -> Int;
    SYS_RENAMEAT2 = 276, "renameat2", None, [DirFd, Path, DirFd, Path, Int] -> Int;
    SYS_GETRANDOM = 278, "getrandom", None, [Ptr, Int, Hex] -> Int;
    SYS_FACCESSAT2 = 439, "faccessat2", None, [DirFd, Path, Int, AtFlags] -> Int;
    HV_CREATE = 400, "hv_create", Some("hv_create"), [] -> Int;
    HV_SWITCH = 401, "hv_switch", Some("hv_switch"), [Int] -> Int;
    HV_STATUS = 402, "hv_status", Some("hv_status"), [Int] -> Int;
    HV_FORWARD = 403, "hv_forward", Some("hv_forward"), [Int] -> Int;
    HV_MAP = 404, "hv_map", Some("hv_map"), [Int, Hex, Hex, Prot] -> Int;
    HV_DELETE = 405, "hv_delete", Some("hv_delete"), [Int] -> Int;
    HV_GET_REG = 406, "hv_get_reg", Some("hv_get_reg"), [Int, Int] -> Addr;
    HV_SET_REG = 407, "hv_set_reg", Some("hv_set_reg"), [Int, Int, Hex] -> Int;
    HV_CHILDREN = 408, "hv_children", Some("hv_children"), [Ptr, Int] -> Int;
    HV_READ = 409, "hv_read", Some("hv_read"), [Int, Hex, Ptr, Int] -> Int;
    HV_WRITE = 410, "hv_write", Some("hv_write"), [Int, Hex, Buf(3), Int] -> Int;
    HV_MAPPINGS = 411, "hv_mappings", Some("hv_mappings"), [Int, Ptr, Int] -> Int;
    HV_PROTECT = 412, "hv_protect", Some("hv_protect"), [Int, Hex, Hex] -> Int;
    HV_PAGING = 413, "hv_paging", Some("hv_paging"), [Int] -> Int;
    SYS_SHM_OPEN = 500, "shm_open", Some("shm_open"), [Path] -> Int;
    SYS_SHM_SIZE = 501, "shm_size", Some("shm_size"), [Int, Int] -> Int;
    SYS_SHM_MAP = 502, "shm_map", Some("shm_map"), [Hex, Int] -> Addr;
    SYS_SHM_CLOSE = 503, "shm_close", Some("shm_close"), [Int] -> Int;
    SYS_VM_OPEN = 510, "vm_open", Some("vm_open"), [Int, Ptr, Ptr, Hex, Prot] -> Int;
    SYS_VM_CLOSE = 511, "vm_close", Some("vm_close"), [Int, Hex, Int] -> Int;
    SYS_VM_LISTEN = 512, "vm_listen", Some("vm_listen"), [Int, Int, Int] -> Int;
    SYS_VM_CONNECT = 513, "vm_connect", Some("vm_connect"), [Int, Int, Int, Int] -> Int;
    SYS_VM_DISCONNECT = 514, "vm_disconnect", Some("vm_disconnect"), [Int] -> Int;
    SYS_VM_ID = 515, "vm_id", Some("vm_id"), [] -> Int;
    SYS_RSHMGET = 520, "rshmget", Some("rshmget"), [Hex, Int] -> Int;
    SYS_RSHMAT = 521, "rshmat", Some("rshmat"), [Int, Hex] -> Addr;
    SYS_RSHMDT = 522, "rshmdt", Some("rshmdt"), [Int, Hex] -> Int;
    SYS_RSHMCTL = 523, "rshmctl", Some("rshmctl"), [Int, Int] -> Int;
    SYS_RSHM_CHANGED = 524, "rshm_changed", Some("rshm_changed"), [Int] -> Int;
    SYS_NODE_ID = 525, "node_id", Some("node_id"), [] -> Int;
    SYS_PROCESSES = 530, "processes", Some("processes"), [] -> Int;
}

/// Looks a call up by number.
pub fn call_info(number: u64) -> Option<&'static CallInfo> {
    CALLS.iter().find(|c| c.number == number)
}

/// The name of a call for traces: its table name, or `syscall_<n>`.
pub fn call_name(number: u64) -> String {
    call_info(number).map_or_else(|| format!("syscall_{number}"), |c| c.name.to_string())
}

/// Whether `number` is a hypercall (rule U/K-3: kernel mode only).
pub fn is_hypercall(number: u64) -> bool {
    (HV_CREATE..=HV_PAGING).contains(&number)
}

/// `hv_status` codes: what the child's pending exception is.
pub const HV_STATUS_NONE: u64 = 0;
pub const HV_STATUS_SYSCALL: u64 = 1;
pub const HV_STATUS_PAGE_FAULT: u64 = 2;
pub const HV_STATUS_ILLEGAL: u64 = 3;
pub const HV_STATUS_TIMER: u64 = 4;
pub const HV_STATUS_BREAKPOINT: u64 = 5;
pub const HV_STATUS_MISALIGNED: u64 = 6;
pub const HV_STATUS_PRIVILEGE: u64 = 7;
pub const HV_STATUS_EXITED: u64 = 8;
/// Only under selfie's semantics (`--trap-division-by-zero`).
pub const HV_STATUS_DIVISION_BY_ZERO: u64 = 9;

/// `hv_get_reg`/`hv_set_reg` register numbers beyond x0..x31.
pub const HV_REG_PC: u64 = 32;
/// Read only: the argument of the pending exception — the faulting
/// address (page fault, misaligned), the instruction bits (illegal), the
/// pc (breakpoint), the call number (syscall, privilege violation); the
/// exit code once the child ended (128 + signal when killed).
pub const HV_REG_ARG: u64 = 33;
/// Read only: the access of a pending page fault or misaligned access:
/// 0 load, 1 store, 2 fetch.
pub const HV_REG_ACCESS: u64 = 34;

/// `hv_map` permissions (as POSIX PROT_*).
pub const HV_PROT_READ: u64 = 1;
pub const HV_PROT_WRITE: u64 = 2;
pub const HV_PROT_EXEC: u64 = 4;

/// `hv_paging` modes (docs/spec/hypervisor.md, "guest paging").
/// The host backs a forwarded page fault of a child as its own (default).
pub const HV_PAGING_HOST: u64 = 0;
/// The host backs no page fault of this kernel's children: `hv_forward` of
/// one kills the child; the kernel must `hv_map` the page itself.
pub const HV_PAGING_GUEST: u64 = 1;

/// Most bytes one `hv_read`/`hv_write` copies.
pub const HV_COPY_MAX: u64 = 1 << 20;

/// `openat` flags (Linux generic values), as the kernel interprets them.
pub const O_RDONLY: u64 = 0;
pub const O_WRONLY: u64 = 1;
pub const O_RDWR: u64 = 2;
/// The access mode bits of the flags.
pub const O_ACCMODE: u64 = 3;
pub const O_CREAT: u64 = 0o100;
/// With `O_CREAT`: fail with `EEXIST` if the file exists.
pub const O_EXCL: u64 = 0o200;
pub const O_TRUNC: u64 = 0o1000;
pub const O_APPEND: u64 = 0o2000;
/// Fail with `ENOTDIR` unless the path names a directory.
pub const O_DIRECTORY: u64 = 0o200000;
/// `dirfd` meaning "the working directory".
pub const AT_FDCWD: u64 = (-100i64) as u64;

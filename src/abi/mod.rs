//! The guest ABI in one place: syscall and hypercall numbers and their
//! names (this file), the error numbers (errno.rs) and the address space a
//! guest sees (layout.rs), as docs/spec/abi.md describes them. The kernel's
//! dispatch, the C* compiler's built-in procedures, the trace and the docs
//! all read from here; every layer may use it (it needs only the page size
//! of `emu`).

mod errno;
pub mod layout;

pub use errno::*;

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
}

macro_rules! calls {
    ($( $konst:ident = $num:expr, $name:expr, $builtin:expr, $args:expr; )*) => {
        $( pub const $konst: u64 = $num; )*
        /// Every call `sim` knows, in number order.
        pub const CALLS: &[CallInfo] = &[
            $( CallInfo { number: $num, name: $name, builtin: $builtin, args: $args }, )*
        ];
    };
}

calls! {
    SYS_OPENAT = 56, "openat", None, 4;
    SYS_CLOSE = 57, "close", None, 1;
    SYS_READ = 63, "read", Some("read"), 3;
    SYS_WRITE = 64, "write", Some("write"), 3;
    SYS_EXIT = 93, "exit", Some("exit"), 1;
    SYS_EXIT_GROUP = 94, "exit_group", None, 1;
    SYS_SCHED_YIELD = 124, "sched_yield", Some("yield"), 0;
    SYS_GETPID = 172, "getpid", Some("getpid"), 0;
    SYS_BRK = 214, "brk", None, 1;
    SYS_CLONE = 220, "clone", Some("fork"), 5;
    SYS_WAIT4 = 260, "wait4", None, 4;
    HV_CREATE = 400, "hv_create", Some("hv_create"), 0;
    HV_SWITCH = 401, "hv_switch", Some("hv_switch"), 1;
    HV_STATUS = 402, "hv_status", Some("hv_status"), 1;
    HV_FORWARD = 403, "hv_forward", Some("hv_forward"), 1;
    HV_MAP = 404, "hv_map", Some("hv_map"), 4;
    HV_DELETE = 405, "hv_delete", Some("hv_delete"), 1;
    HV_GET_REG = 406, "hv_get_reg", Some("hv_get_reg"), 2;
    HV_SET_REG = 407, "hv_set_reg", Some("hv_set_reg"), 3;
    HV_CHILDREN = 408, "hv_children", Some("hv_children"), 2;
    HV_READ = 409, "hv_read", Some("hv_read"), 4;
    HV_WRITE = 410, "hv_write", Some("hv_write"), 4;
    HV_MAPPINGS = 411, "hv_mappings", Some("hv_mappings"), 3;
    HV_PROTECT = 412, "hv_protect", Some("hv_protect"), 3;
    HV_PAGING = 413, "hv_paging", Some("hv_paging"), 1;
    SYS_SHM_OPEN = 500, "shm_open", Some("shm_open"), 1;
    SYS_SHM_SIZE = 501, "shm_size", Some("shm_size"), 2;
    SYS_SHM_MAP = 502, "shm_map", Some("shm_map"), 2;
    SYS_SHM_CLOSE = 503, "shm_close", Some("shm_close"), 1;
    SYS_VM_OPEN = 510, "vm_open", Some("vm_open"), 5;
    SYS_VM_CLOSE = 511, "vm_close", Some("vm_close"), 3;
    SYS_VM_LISTEN = 512, "vm_listen", Some("vm_listen"), 3;
    SYS_VM_CONNECT = 513, "vm_connect", Some("vm_connect"), 4;
    SYS_VM_DISCONNECT = 514, "vm_disconnect", Some("vm_disconnect"), 1;
    SYS_VM_ID = 515, "vm_id", Some("vm_id"), 0;
    SYS_RSHMGET = 520, "rshmget", Some("rshmget"), 2;
    SYS_RSHMAT = 521, "rshmat", Some("rshmat"), 2;
    SYS_RSHMDT = 522, "rshmdt", Some("rshmdt"), 2;
    SYS_RSHMCTL = 523, "rshmctl", Some("rshmctl"), 2;
    SYS_RSHM_CHANGED = 524, "rshm_changed", Some("rshm_changed"), 1;
    SYS_NODE_ID = 525, "node_id", Some("node_id"), 0;
    SYS_PROCESSES = 530, "processes", Some("processes"), 0;
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

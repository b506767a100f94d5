//! `--trace-syscalls`' argument decoder: each argument shown as strace
//! shows it, by the kind the call table gives it (abi/mod.rs `Arg`):
//! strings (paths, shm names, what a write writes), flags by name
//! (`O_RDONLY|O_CLOEXEC`, `PROT_READ|PROT_WRITE`, `CLONE_VM|...`),
//! `AT_FDCWD`, signals (`SIGUSR1`), and the fields of the common structs
//! (`{st_mode=S_IFREG|0644, st_size=1760}`, `{tv_sec=1, tv_nsec=0}`).
//! Results are decimal (addresses in hex), errors as strace prints them:
//! `-1 ENOENT (No such file or directory)`.
//!
//! Guest memory is only peeked at (uaccess.rs `peek`): a trace never backs
//! a page or changes what the program sees.

use crate::abi::{Arg, Errno, Returns};
use crate::emu::Machine;
use crate::kernel::process::Process;
use crate::kernel::uaccess::peek;

/// Most bytes of a string or buffer shown (strace's default is 32).
const SHOW_BYTES: usize = 32;

/// `name` for each bit of `value` that `names` knows, the rest in hex;
/// `zero` when nothing is set.
fn flag_names(value: u64, names: &[(u64, &str)], zero: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

const OPEN_FLAGS: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o2000000, "O_CLOEXEC"),
];

const PROT: &[(u64, &str)] = &[(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")];

const MAP_FLAGS: &[(u64, &str)] = &[
    (0x01, "MAP_SHARED"),
    (0x02, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x20000, "MAP_STACK"),
    (0x10_0000, "MAP_FIXED_NOREPLACE"),
];

const CLONE_FLAGS: &[(u64, &str)] = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1_0000, "CLONE_THREAD"),
    (0x4_0000, "CLONE_SYSVSEM"),
    (0x8_0000, "CLONE_SETTLS"),
    (0x10_0000, "CLONE_PARENT_SETTID"),
    (0x20_0000, "CLONE_CHILD_CLEARTID"),
    (0x100_0000, "CLONE_CHILD_SETTID"),
];

const AT_FLAGS: &[(u64, &str)] = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
];

const SIGNALS: [&str; 32] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// A signal number by name (`SIGRT_n` beyond 31).
pub fn signal_name(sig: u64) -> String {
    match SIGNALS.get(sig as usize) {
        Some(name) => name.to_string(),
        None if sig <= 64 => format!("SIGRT_{}", sig - 32),
        None => sig.to_string(),
    }
}

const CLOCKS: [&str; 8] = [
    "CLOCK_REALTIME",
    "CLOCK_MONOTONIC",
    "CLOCK_PROCESS_CPUTIME_ID",
    "CLOCK_THREAD_CPUTIME_ID",
    "CLOCK_MONOTONIC_RAW",
    "CLOCK_REALTIME_COARSE",
    "CLOCK_MONOTONIC_COARSE",
    "CLOCK_BOOTTIME",
];

fn futex_op(op: u64) -> String {
    let names = [
        "FUTEX_WAIT",
        "FUTEX_WAKE",
        "FUTEX_FD",
        "FUTEX_REQUEUE",
        "FUTEX_CMP_REQUEUE",
        "FUTEX_WAKE_OP",
        "FUTEX_LOCK_PI",
        "FUTEX_UNLOCK_PI",
        "FUTEX_TRYLOCK_PI",
        "FUTEX_WAIT_BITSET",
        "FUTEX_WAKE_BITSET",
    ];
    let mut text = names
        .get((op & 0x7f) as usize)
        .map_or_else(|| format!("{:#x}", op & 0x7f), |n| n.to_string());
    if op & 128 != 0 {
        text.push_str("_PRIVATE");
    }
    if op & 256 != 0 {
        text.push_str("|FUTEX_CLOCK_REALTIME");
    }
    text
}

/// The file type and permissions of `st_mode`.
fn mode_text(mode: u64) -> String {
    let kind = match mode & 0o170000 {
        0o140000 => "S_IFSOCK|",
        0o120000 => "S_IFLNK|",
        0o100000 => "S_IFREG|",
        0o060000 => "S_IFBLK|",
        0o040000 => "S_IFDIR|",
        0o020000 => "S_IFCHR|",
        0o010000 => "S_IFIFO|",
        _ => "",
    };
    format!("{kind}{:04o}", mode & 0o7777)
}

/// Bytes as a C string literal, shortened to `SHOW_BYTES` with `...`.
fn quoted(bytes: &[u8], more: bool) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(SHOW_BYTES) {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:o}")),
        }
    }
    out.push('"');
    if more || bytes.len() > SHOW_BYTES {
        out.push_str("...");
    }
    out
}

fn word(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
}

/// One argument as the trace shows it. `args` are all of the call's
/// arguments (a buffer's length is another argument); `ok` whether the
/// call succeeded (output structs are shown only then). `process` is
/// `None` when the caller is gone (its memory with it).
pub fn show_arg(
    kind: Arg,
    value: u64,
    args: &[u64],
    ok: bool,
    machine: &Machine,
    process: Option<&Process>,
) -> String {
    let peek_bytes = |len: usize| process.and_then(|p| peek(machine, p, value, len));
    let pointer = || {
        if value == 0 {
            "NULL".to_string()
        } else {
            format!("{value:#x}")
        }
    };
    match kind {
        Arg::Hex => format!("{value:#x}"),
        Arg::Int => (value as i64).to_string(),
        Arg::Fd => (value as i32).to_string(),
        Arg::DirFd if value as i64 == -100 => "AT_FDCWD".into(),
        Arg::DirFd => (value as i32).to_string(),
        Arg::Path => {
            if value == 0 {
                return "NULL".into();
            }
            match process.and_then(|p| crate::kernel::uaccess::peek_string(machine, p, value, 4096))
            {
                Some(text) => quoted(&text, false),
                None => pointer(),
            }
        }
        Arg::Buf(len_at) => {
            let len = args.get(usize::from(len_at)).copied().unwrap_or(0) as usize;
            match peek_bytes(len.min(SHOW_BYTES)) {
                Some(bytes) if value != 0 => quoted(&bytes, len > SHOW_BYTES),
                _ => pointer(),
            }
        }
        Arg::OpenFlags => {
            let access = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][(value & 3) as usize];
            let rest = flag_names(value & !3, OPEN_FLAGS, "");
            if rest.is_empty() {
                access.into()
            } else {
                format!("{access}|{rest}")
            }
        }
        Arg::Mode => format!("0{value:03o}"),
        Arg::Prot => flag_names(value, PROT, "PROT_NONE"),
        Arg::MapFlags => flag_names(value, MAP_FLAGS, "0"),
        Arg::CloneFlags => {
            let signal = value & 0xff;
            let flags = flag_names(value & !0xff, CLONE_FLAGS, "");
            match (flags.is_empty(), signal) {
                (true, _) => signal_name(signal),
                (false, 0) => flags,
                (false, s) => format!("{flags}|{}", signal_name(s)),
            }
        }
        Arg::Signal => signal_name(value),
        Arg::SigHow => ["SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"]
            .get(value as usize)
            .map_or_else(|| value.to_string(), |s| s.to_string()),
        Arg::Clock => CLOCKS
            .get(value as usize)
            .map_or_else(|| value.to_string(), |s| s.to_string()),
        Arg::FutexOp => futex_op(value),
        Arg::Whence => ["SEEK_SET", "SEEK_CUR", "SEEK_END"]
            .get(value as usize)
            .map_or_else(|| value.to_string(), |s| s.to_string()),
        Arg::AtFlags => flag_names(value, AT_FLAGS, "0"),
        Arg::Timespec => match peek_bytes(16) {
            Some(b) if value != 0 => {
                format!("{{tv_sec={}, tv_nsec={}}}", word(&b, 0) as i64, word(&b, 8))
            }
            _ => pointer(),
        },
        Arg::TimespecOut => match peek_bytes(16) {
            Some(b) if ok && value != 0 => {
                format!("{{tv_sec={}, tv_nsec={}}}", word(&b, 0) as i64, word(&b, 8))
            }
            _ => pointer(),
        },
        Arg::StatOut => match peek_bytes(128) {
            Some(b) if ok && value != 0 => {
                let mode = u64::from(u32::from_le_bytes(b[16..20].try_into().unwrap_or_default()));
                format!(
                    "{{st_mode={}, st_size={}, ...}}",
                    mode_text(mode),
                    word(&b, 48) as i64
                )
            }
            _ => pointer(),
        },
        Arg::Ptr => pointer(),
    }
}

/// strerror(3)'s text of the errors sim returns.
pub fn strerror(e: Errno) -> &'static str {
    match e.0 {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        3 => "No such process",
        4 => "Interrupted system call",
        5 => "Input/output error",
        9 => "Bad file descriptor",
        10 => "No child processes",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device or resource busy",
        17 => "File exists",
        18 => "Invalid cross-device link",
        19 => "No such device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        24 => "Too many open files",
        25 => "Inappropriate ioctl for device",
        28 => "No space left on device",
        29 => "Illegal seek",
        30 => "Read-only file system",
        32 => "Broken pipe",
        34 => "Numerical result out of range",
        36 => "File name too long",
        38 => "Function not implemented",
        39 => "Directory not empty",
        43 => "Identifier removed",
        98 => "Address already in use",
        104 => "Connection reset by peer",
        106 => "Transport endpoint is already connected",
        110 => "Connection timed out",
        111 => "Connection refused",
        112 => "Host is down",
        113 => "No route to host",
        _ => "Unknown error",
    }
}

/// A successful result as the trace shows it.
pub fn show_value(returns: Returns, value: u64) -> String {
    match returns {
        Returns::Int => (value as i64).to_string(),
        Returns::Addr => format!("{value:#x}"),
    }
}

/// An error as strace shows it: `-1 ENOENT (No such file or directory)`.
pub fn show_error(e: Errno) -> String {
    format!("-1 {e} ({})", strerror(e))
}

//! Error numbers: what a call that failed returns, as Linux numbers them
//! (so the same binary gives the same errors under qemu-riscv64).
//!
//! Inside sim an error is an `Errno` value (`Err(EINVAL)`); only at the
//! guest boundary does it become a number: a call returns `-errno` in `a0`
//! (`Errno::to_return`), which C* programs test with `is_error`.

use std::fmt;

/// A positive error number of the ABI table below. (It travels between
/// rshm nodes too, as its number.)
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub struct Errno(pub u64);

impl Errno {
    /// The number (`EINVAL.number() == 22`).
    pub fn number(self) -> u64 {
        self.0
    }

    /// The value a call returns in `a0` for this error: `-errno`.
    pub fn to_return(self) -> u64 {
        self.0.wrapping_neg()
    }

    /// The error a returned `a0` value stands for, if it is one: Linux
    /// returns errors as `-1..=-4095`.
    pub fn from_return(value: u64) -> Option<Errno> {
        let errno = value.wrapping_neg();
        (1..=4095).contains(&errno).then_some(Errno(errno))
    }

    /// The name (`"EINVAL"`), if it is one of ours.
    pub fn name(self) -> Option<&'static str> {
        ERRORS.iter().find(|e| e.1 == self).map(|e| e.0)
    }
}

impl fmt::Display for Errno {
    /// The name, or `errno N` for a number without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// The value a call returns in `a0` for error `errno`: `-errno`.
pub fn error_return(errno: Errno) -> u64 {
    errno.to_return()
}

macro_rules! errors {
    ($( $konst:ident = $num:expr; )*) => {
        $( pub const $konst: Errno = Errno($num); )*
        /// Every error number `sim` returns, with its name.
        pub const ERRORS: &[(&str, Errno)] = &[ $( (stringify!($konst), Errno($num)), )* ];
    };
}

errors! {
    EPERM = 1;
    ENOENT = 2;
    ESRCH = 3;
    EINTR = 4;
    EIO = 5;
    E2BIG = 7;
    ENOEXEC = 8;
    EBADF = 9;
    ECHILD = 10;
    EAGAIN = 11;
    ENOMEM = 12;
    EACCES = 13;
    EFAULT = 14;
    EBUSY = 16;
    EEXIST = 17;
    EXDEV = 18;
    ENODEV = 19;
    ENOTDIR = 20;
    EISDIR = 21;
    EINVAL = 22;
    EMFILE = 24;
    ENOTTY = 25;
    ENOSPC = 28;
    ESPIPE = 29;
    EROFS = 30;
    EPIPE = 32;
    ERANGE = 34;
    ENAMETOOLONG = 36;
    ENOSYS = 38;
    ENOTEMPTY = 39;
    EIDRM = 43;
    EADDRINUSE = 98;
    ECONNRESET = 104;
    EISCONN = 106;
    ETIMEDOUT = 110;
    ECONNREFUSED = 111;
    EHOSTDOWN = 112;
    EHOSTUNREACH = 113;
}

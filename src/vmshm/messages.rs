//! The protocol between a client daemon (one per VM's kernel) and the host
//! daemon (one per hypervisor run): one enum each way, so that every
//! exchange can be printed (`--trace-daemon`) and tested on its own
//! (docs/spec/vmshm.md: "Requests and replies between the two daemons are
//! explicit messages").
//!
//! ```text
//! client ──Envelope { from: vm, request: HostRequest }──► host
//! client ◄──────────── HostReply ─────────────────────── host
//! kernel ◄──── Notice { vm, pid, shmid } (a waiter may go on) ─ host, via the run loop
//! ```
//!
//! Sizes and offsets are bytes; offsets are relative to the start of the
//! host shared region, so a client never sees a frame number it did not
//! ask the host for.

use std::fmt;

use crate::abi::Errno;
pub use crate::ids::{Pid, VmId};

/// `vm_open`'s flags (docs/spec/vmshm.md, level 1): exactly one of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sharing {
    /// `EXCLUSIVE` (1): at most two VMs may have the block open.
    Exclusive,
    /// `MULTISHARED` (2): any number of VMs.
    Multishared,
}

/// `vm_open` flag `EXCLUSIVE`.
pub const EXCLUSIVE: u64 = 1;
/// `vm_open` flag `MULTISHARED`.
pub const MULTISHARED: u64 = 2;
/// `vm_open` permission bit: the pages may be read.
pub const READ: u64 = 1;
/// `vm_open` permission bit: the pages may be written (implies READ).
pub const WRITE: u64 = 2;

impl Sharing {
    /// The flags word of `vm_open`, if it names exactly one flag.
    pub fn from_flags(flags: u64) -> Option<Sharing> {
        match flags {
            EXCLUSIVE => Some(Sharing::Exclusive),
            MULTISHARED => Some(Sharing::Multishared),
            _ => None,
        }
    }
}

impl fmt::Display for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sharing::Exclusive => "EXCLUSIVE",
            Sharing::Multishared => "MULTISHARED",
        })
    }
}

/// A block of the host region: where it starts and how long it is (both
/// multiples of the page size).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockInfo {
    pub offset: u64,
    pub size: u64,
}

/// What a client daemon asks the host daemon.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostRequest {
    /// Level 1: open `shmid` for this VM (create it with `size` bytes if it
    /// is new; `size` 0 on an existing one means "its size").
    Open {
        shmid: u64,
        size: u64,
        sharing: Sharing,
    },
    /// Level 1: the last process of this VM closed `shmid`.
    Close { shmid: u64 },
    /// Level 2: `pid` listens on `shmid` for a block of `size` bytes (0: one
    /// page). Sent again each time the waiting process is woken.
    Listen { pid: Pid, shmid: u64, size: u64 },
    /// Level 2: `pid` connects to the listener of `shmid` in VM `target`.
    Connect {
        pid: Pid,
        target: u64,
        shmid: u64,
        size: u64,
    },
    /// Level 2: `pid` closes its side of `shmid` (it has unmapped the
    /// block). Sent again each time the waiting process is woken.
    Disconnect { pid: Pid, shmid: u64 },
    /// Level 2: `pid` gives up its side of `shmid` at once (it could not
    /// map the block it was given); the peer is reset.
    Reset { pid: Pid, shmid: u64 },
    /// `pid` exited: every level-2 side it had is gone (level 1 is closed
    /// with `Close` by the client, which counts the processes).
    ProcessExited { pid: Pid },
    /// Every process of this VM has ended: drop all its references.
    VmEnded,
}

/// A request and the VM it comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Envelope {
    pub from: VmId,
    pub request: HostRequest,
}

/// What the host daemon answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HostReply {
    /// Level 1: the block of the opened `shmid`.
    Opened(BlockInfo),
    /// Level 2, to a listener: a peer connected from VM `peer`.
    Paired { block: BlockInfo, peer: VmId },
    /// Level 2, to a connector: the pair is made.
    Connected(BlockInfo),
    /// Not yet: the caller blocks and asks again when a `Notice` wakes it.
    Wait,
    /// Done (close, disconnect, exit, VM end).
    Done,
    /// Refused with this errno (docs/spec/vmshm.md's error table).
    Error(Errno),
}

/// The host tells a VM that its waiting process `pid` can ask again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Notice {
    pub vm: VmId,
    pub pid: Pid,
    pub shmid: u64,
}

impl fmt::Display for HostRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HostRequest::Open {
                shmid,
                size,
                sharing,
            } => write!(f, "Open {{ shmid {shmid}, size {size}, {sharing} }}"),
            HostRequest::Close { shmid } => write!(f, "Close {{ shmid {shmid} }}"),
            HostRequest::Listen { pid, shmid, size } => {
                write!(f, "Listen {{ pid {pid}, shmid {shmid}, size {size} }}")
            }
            HostRequest::Connect {
                pid,
                target,
                shmid,
                size,
            } => write!(
                f,
                "Connect {{ pid {pid}, to vm {target}, shmid {shmid}, size {size} }}"
            ),
            HostRequest::Disconnect { pid, shmid } => {
                write!(f, "Disconnect {{ pid {pid}, shmid {shmid} }}")
            }
            HostRequest::Reset { pid, shmid } => write!(f, "Reset {{ pid {pid}, shmid {shmid} }}"),
            HostRequest::ProcessExited { pid } => write!(f, "ProcessExited {{ pid {pid} }}"),
            HostRequest::VmEnded => f.write_str("VmEnded"),
        }
    }
}

impl fmt::Display for BlockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {:#x}, size {}", self.offset, self.size)
    }
}

impl fmt::Display for HostReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HostReply::Opened(b) => write!(f, "Opened {{ {b} }}"),
            HostReply::Paired { block, peer } => write!(f, "Paired {{ {block}, peer {peer} }}"),
            HostReply::Connected(b) => write!(f, "Connected {{ {b} }}"),
            HostReply::Wait => f.write_str("Wait"),
            HostReply::Done => f.write_str("Done"),
            HostReply::Error(e) => match e.name() {
                Some(name) => write!(f, "Error({name})"),
                None => write!(f, "Error({})", e.number()),
            },
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wake {{ pid {}, shmid {} }}", self.pid, self.shmid)
    }
}

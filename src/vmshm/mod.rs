//! Inter-VM shared memory through a host daemon (spec/vmshm.md).
//!
//! How control flows:
//!
//! ```text
//! guest ecall 510..515 (vm_open, vm_close, vm_listen, vm_connect, vm_disconnect, vm_id)
//!  └ kernel/syscall.rs: dispatch → sys_vm_<name>
//!     └ client.rs: ClientDaemon (one per VM's kernel): check, read and
//!        probe guest pointers (kernel/uaccess.rs), then
//!        └ link.rs: HostLink::call(Envelope) ─► host.rs: HostDaemon::handle
//!             (one per run, owned by the Simulator; alloc.rs: first fit)
//!          ◄─ HostReply (messages.rs): map the block, write *base, *size
//!        or Wait: the process blocks (WaitReason::VmShm); the host queues
//!        a Notice; the Simulator's run loop hands it to the VM's kernel,
//!        which wakes the process; it repeats its ecall and asks again
//! kernel exit → ClientDaemon::exit (before the frames are freed),
//!               last process of a VM → ClientDaemon::vm_ended
//! --trace-daemon → every message, from HostLink::call
//! --dump-vmshm  → dump.rs
//! ```
//!
//! Files: `messages.rs` the protocol, `alloc.rs` the block allocator,
//! `host.rs` the host daemon, `link.rs` the client's handle on it,
//! `client.rs` the client daemon, `dump.rs` the picture.

pub mod alloc;
pub mod client;
pub mod dump;
pub mod host;
pub mod link;
pub mod messages;
pub mod run;

pub use alloc::BlockAllocator;
pub use client::{ClientDaemon, Done, Mapping, VmWait};
pub use dump::dump;
pub use host::{Block, Connection, HostDaemon, OpenBlock, Side, SideState, DEFAULT_HOST_SHM_MB};
pub use link::HostLink;
pub use messages::{
    BlockInfo, Envelope, HostReply, HostRequest, Notice, Sharing, VmId, EXCLUSIVE, MULTISHARED,
    READ, WRITE,
};
pub use run::VmShmOptions;

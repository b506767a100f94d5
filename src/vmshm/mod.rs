//! Inter-VM shared memory, the VM's side (docs/spec/vmshm.md): the client
//! daemon each VM's kernel has, and the messages it exchanges with the host
//! daemon (which lives in the hypervisor: src/hypervisor/host_daemon/).
//!
//! How control flows:
//!
//! ```text
//! guest ecall 510..515 (vm_open, vm_close, vm_listen, vm_connect, vm_disconnect, vm_id)
//!  └ kernel/syscall/vmshm.rs: sys_vm_<name> reads and probes the guest's
//!    pointers, picks free ranges (kernel/paging.rs)
//!     └ client.rs: ClientDaemon (one per VM's kernel), plain values in
//!        and out, page tables and frames
//!        └ link.rs: HostLink::call(Envelope) ─► HostService (the host
//!             daemon, src/hypervisor/host_daemon/)
//!          ◄─ HostReply (messages.rs): map the block
//!        or Wait: the process blocks (WaitReason::VmShm); the host queues
//!        a Notice; the Simulator's run loop hands it to the VM's kernel,
//!        which wakes the process; it repeats its ecall and asks again
//! kernel exit → ClientDaemon::exit (before the frames are freed),
//!               last process of a VM → ClientDaemon::vm_ended
//! --trace-daemon → every message, from HostLink::call
//! ```
//!
//! Files: `messages.rs` the protocol, `link.rs` the client's port to the
//! host, `client.rs` the client daemon.

pub mod client;
pub mod link;
pub mod messages;

pub use client::{
    check_shmid, ClientDaemon, Disconnected, Granted, Listened, Mapping, OpenRequest, VmWait,
};
pub use link::{HostLink, HostService};
pub use messages::{
    BlockInfo, Envelope, HostReply, HostRequest, Notice, Sharing, VmId, EXCLUSIVE, MULTISHARED,
    READ, WRITE,
};

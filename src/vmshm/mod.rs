//! Inter-VM shared memory through a host daemon (spec/vmshm.md).
//!
//! How control flows: a client daemon sends an `Envelope` through its
//! `HostLink` (link.rs) to the `HostDaemon` (host.rs), which answers with a
//! `HostReply` (messages.rs) and queues `Notice`s for processes that may go
//! on; the block allocator (alloc.rs) hands out first-fit blocks of the
//! host region.

pub mod alloc;
pub mod host;
pub mod link;
pub mod messages;

pub use alloc::BlockAllocator;
pub use host::{Block, Connection, HostDaemon, OpenBlock, Side, SideState, DEFAULT_HOST_SHM_MB};
pub use link::HostLink;
pub use messages::{
    BlockInfo, Envelope, HostReply, HostRequest, Notice, Sharing, VmId, EXCLUSIVE, MULTISHARED,
    READ, WRITE,
};

//! Distributed shared memory across machines (spec/rshm.md): System V–style
//! segments that processes on different `sim node`s share.
//!
//! How control flows:
//!
//! ```text
//! guest ecall 520..525
//!  └ kernel/syscall/rshm.rs: sys_rshm* — local work (maps, dirty pages) at once;
//!    what needs the network becomes a Request with a token, and the
//!    process blocks (WaitReason::Rshm) — only that process
//!        └ server/: the node's server thread (one per node), one file
//!                   per concern (membership, calls, transfer, publish,
//!                   election; server/mod.rs has the table)
//!             table.rs: the state table and its rules (convergence,
//!                       removal, tombstones, re-election)
//!             peers.rs: TCP mesh threads (listen, dial, read frames)
//!             wire.rs:  the message enum and length-prefixed frames
//!        ◄ Event::Reply / Event::Apply / Event::Freed
//!  run loop (src/simulator/) → Kernel::poll_rshm between two machine runs:
//!    replies wake their process with the result in a0; updates are
//!    applied to the local copy (atomically between two guest
//!    instructions) and acknowledged
//! ```
//!
//! `client.rs` is the kernel's end of the queues (`SharedMemory::rshm`),
//! a local copy is a named shm object of that kernel (spec/shm.md). This
//! module knows nothing of the kernel: the kernel calls it. `node.rs`
//! starts a node's server for `sim node`; `cluster.rs` runs N `sim node`
//! processes for `sim cluster`. `harness.rs` drives servers without a
//! kernel (tests, benchmarks).

pub mod client;
pub mod cluster;
pub mod harness;
pub mod node;
pub mod peers;
pub mod server;
pub mod table;
pub mod wire;

pub use client::RshmClient;
pub use server::{Answer, Event, Log, NodeConfig, NodeHandle, Request, MAX_SEGMENTS};
pub use table::{Segment, Table};
pub use wire::{NodeId, Page, RshmId, MAX_FRAME, MAX_SEGMENT, MAX_SEQ, PAGE_BYTES};

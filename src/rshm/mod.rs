//! Distributed shared memory across machines (docs/spec/rshm.md): System V–style
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
//!                       removal, collection, ownership epochs)
//!             peers.rs: TCP mesh threads (listen, dial, read frames,
//!                       check their tags)
//!             auth.rs:  the cluster key, greetings, sealed frames
//!             wire.rs:  the message enum and length-prefixed frames
//!             diff.rs:  twins and byte runs (what a publish sends)
//!        ◄ Event::Reply / Event::Apply / Event::Freed
//!  run loop (src/simulator/) → Kernel::poll_rshm between two machine runs:
//!    replies wake their process with the result in a0; updates are
//!    merged into the local copy (atomically between two guest
//!    instructions, byte by byte against the twin: diff.rs) and
//!    acknowledged
//! ```
//!
//! `client.rs` is the kernel's end of the queues (`SharedMemory::rshm`),
//! a local copy is a named shm object of that kernel (docs/spec/shm.md). This
//! module knows nothing of the kernel: the kernel calls it. `node.rs`
//! starts a node's server for `sim node`; `cluster.rs` runs N `sim node`
//! processes for `sim cluster`. `harness.rs` drives servers without a
//! kernel (tests, benchmarks).

pub mod auth;
pub mod client;
pub mod cluster;
pub mod diff;
pub mod harness;
pub mod node;
pub mod peers;
pub mod server;
pub mod table;
pub mod wire;

pub use auth::ClusterKey;
pub use client::RshmClient;
pub use server::{
    Answer, Event, Log, NodeConfig, NodeHandle, Request, MAX_SEGMENTS, MAX_TABLE_ROWS,
};
pub use table::{Segment, Table};
pub use wire::{
    NodeId, Page, RshmId, Run, MAX_FRAME, MAX_NODE, MAX_SEGMENT, MAX_SEQ, MIN_NODE, PAGE_BYTES,
};

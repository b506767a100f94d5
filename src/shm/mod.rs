//! Named shared memory of one kernel (docs/spec/shm.md, rules A.1–A.7).
//!
//! How control flows:
//!
//! ```text
//! guest ecall 500..503
//!  └ kernel/syscall/shm.rs: sys_shm_open/size/map/close
//!       reads the name through uaccess (the one choke point for pointers),
//!       picks the address of a mapping (kernel/paging.rs)
//!       └ table.rs: ShmTable::open/size/map/close (check, then commit)
//!            object.rs: ShmObject / Client, linked by list.rs
//!            page tables (emu/mmu.rs) and frames (emu/memory.rs)
//!       └ invariants.rs: check everything (debug builds)
//! kernel exit  → ShmTable::exit  (A.5, before the page table is freed)
//! kernel fork  → ShmTable::shared_pages + ShmTable::fork (A.6)
//!   (both through the kernel's SharedMemory, kernel/shared.rs)
//! --dump-shm   → dump.rs
//! ```
//!
//! Files: `list.rs` the generic arena list with generational handles,
//! `object.rs` the two node types and ids, `table.rs` the calls,
//! `dump.rs` the picture, `invariants.rs` the checks.
//!
//! One `ShmTable` per kernel: a name never reaches another kernel's
//! object (each VM owns its kernel, and so its table). This module knows
//! nothing of the kernel: it takes pids, page tables and the machine's
//! frames, and returns plain values.

pub mod dump;
pub mod invariants;
pub mod list;
pub mod object;
pub mod table;

pub use dump::dump;
pub use invariants::{check as check_invariants, ProcessView};
pub use list::{Handle, Linked, List, Slot};
pub use object::{Client, ShmId, ShmObject, MAX_OBJECTS, NAME_MAX, NAME_SCAN};
pub use table::{ShmTable, SIZE_MAX};

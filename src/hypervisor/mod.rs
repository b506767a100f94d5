//! The hypervisor (selfie's *hypster*): the context tree, the -u/-k rules
//! of docs/spec/hypervisor.md, the VMs, and the host daemon of inter-VM shared memory.
//!
//! Table of contents:
//!
//! | file | what |
//! |---|---|
//! | contexts.rs | the context tree: which context runs (`deepest`), where an exception goes (`deliver`, rule U/K-2), `--dump-contexts` |
//! | vm.rs | VM groups: the `-u`/`-k`/`--vm` command line and `--scenario` files as one `Scenario` |
//! | host_daemon/ | the host daemon of docs/spec/vmshm.md: the host shared region, its blocks, level-1 opens and level-2 connections; `--dump-vmshm` |
//!
//! The hypercalls themselves (400–413) are calls like any other: the
//! kernel's one syscall layer runs them (kernel/syscall/hypercalls.rs);
//! this module decides that they go there.
//!
//! How control flows. A VM is one `Kernel` (src/kernel/) with its
//! processes; the `Simulator` holds several and round-robins between them,
//! one time slice each. Within a VM the host kernel schedules only its
//! *roots*, processes without a supervisor: host processes (`-u`) and
//! guest kernels (`-k`, kernel mode). A guest kernel's children (its
//! `-u` programs, `hv_create`, their forks) have `supervisor = Some(kernel)`
//! and never enter the ready queue (U/K-5). Running a root means running
//! the deepest context down its `switched_to` chain:
//!
//! ```text
//! run loop: root = kernel.current; ctx = deepest(root); machine.run(ctx) → E
//! deliver(ctx, E):
//!   E = ecall of a hypercall (a7 in 400..=413; 401 alone under selfie's ABI)
//!      ctx in kernel mode  → Kernel::syscall (the host's syscall layer)
//!      ctx in user mode    → E := PrivilegeViolation (U/K-3), go on below
//!   ctx has no supervisor  → Kernel::handle(E): the host kernel (U/K-2)
//!   ctx made by selfie's switch → its context saved into S's memory,
//!                            S's switch returns (kernel/syscall/selfie.rs);
//!                            the end of the host's slice only preempts
//!   ctx has supervisor S   → ctx.pending = E; S.switched_to = None;
//!                            S's hv_switch finishes with ctx's id;
//!                            S runs next — or, for the Timer that ends the
//!                            host's slice, the root is preempted and S runs
//!                            when its root is scheduled again
//! ```
//!
//! The host daemon is reached by each VM's client daemon through the
//! `HostService` port of src/vmshm/link.rs; the simulator owns it and
//! hands its notices to the kernels after every exception.

pub mod contexts;
pub mod host_daemon;
pub mod vm;

pub use contexts::{deepest, deliver, dump_contexts, handler_of, Handler};
pub use host_daemon::{HostDaemon, DEFAULT_HOST_SHM_MB};
pub use vm::{ContextSpec, Item, Scenario, ScenarioError, VmSpec};

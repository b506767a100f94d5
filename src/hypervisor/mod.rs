//! The hypervisor (selfie's *hypster*): the context tree, the -u/-k rules
//! of DESIGN.md, the hypercalls and the VMs.
//!
//! Table of contents:
//!
//! | file | what |
//! |---|---|
//! | contexts.rs | the context tree: which context runs (`deepest`), where an exception goes (`deliver`, rule U/K-2), `--dump-contexts` |
//! | hypercalls.rs | one `hv_<name>` per hypercall of spec/abi.md (400–408), for kernel-mode callers (U/K-3, U/K-4) |
//! | vm.rs | VM groups: the `-u`/`-k`/`--vm` command line and `--scenario` files as one `Scenario` |
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
//!   E = ecall of a hypercall (a7 in 400..=408)
//!      ctx in kernel mode  → hypercalls::dispatch (the host handles it)
//!      ctx in user mode    → E := PrivilegeViolation (U/K-3), go on below
//!   ctx has no supervisor  → Kernel::handle(E): the host kernel (U/K-2)
//!   ctx has supervisor S   → ctx.pending = E; S.switched_to = None;
//!                            S.a0 = ctx; S.pc += 4 (its hv_switch returns);
//!                            S runs next — or, for the Timer that ends the
//!                            host's slice, the root is preempted and S runs
//!                            when its root is scheduled again
//! ```

pub mod contexts;
pub mod hypercalls;
pub mod vm;

pub use contexts::{deepest, deliver, dump_contexts, handler_of, Handler};
pub use vm::{ContextSpec, Scenario, ScenarioError, VmSpec};

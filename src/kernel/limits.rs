//! Bounds on what the guests of one kernel may make the host hold, so that
//! no guest can grow the simulator's own memory without limit (`-m`
//! bounds only the guests' frames). Each limit fails the call that would
//! pass it with Linux's errno for it, and has a builder and a CLI option.
//!
//! | limit | default | beyond it | option |
//! |---|---|---|---|
//! | processes of one kernel (VM), ended ones not yet reaped included | 4096 | `fork`: `EAGAIN` (as Linux at `RLIMIT_NPROC`); loading a program: an error | `--max-processes` |
//! | contexts of one guest kernel (`hv_create`, its children's forks), ended ones not yet deleted included | 1024 | `hv_create`: `EAGAIN` | `--max-contexts` |
//! | open descriptors of one process | 1024 | `openat`: `EMFILE` (as Linux at `RLIMIT_NOFILE`) | `--max-open-files` |
//! | VMs of one simulator | 64 (simulator/mod.rs) | `add_vm`: an error | `--max-vms` |
//! | pages mapped by one process | 262,144 (1 GiB) | `shm_map`, `vm_open`, `vm_listen`, `vm_connect`, `rshmat`, `hv_map`: `ENOMEM` | `SimulatorBuilder::max_mapped_pages` |

/// Default of `Limits::mapped_pages`: most pages one process has mapped
/// at once (1 GiB): a shared mapping
/// (`shm_map`, `vm_open`, `rshmat`, `hv_map`) takes no frame of its own,
/// so without this bound mapping one object again and again would grow
/// the host's page tables without limit. Beyond it those calls fail with
/// `ENOMEM` (demand-paged private pages are bounded by `-m` already).
pub const DEFAULT_MAX_MAPPED_PAGES: u64 = 1 << 18;

impl super::Kernel {
    /// Says, once per kernel and limit, that a call of `pid` ran into the
    /// limit `option`: the call fails with its errno either way, and a
    /// fork bomb should not fill the terminal.
    pub(crate) fn report_limit(
        &mut self,
        pid: super::Pid,
        call: &str,
        option: &'static str,
        limit: u64,
    ) {
        if !self.limits_reported.insert(option) {
            return;
        }
        let name = self
            .processes
            .get(pid)
            .map_or_else(String::new, |p| p.name.clone());
        self.report(&format!(
            "process {pid} ({name}): {call} refused: the limit of {limit} ({option}) is reached \
             (reported once)"
        ));
    }
}

/// Default of `Limits::processes`.
pub const DEFAULT_MAX_PROCESSES: usize = 4096;
/// Default of `Limits::contexts_per_kernel`.
pub const DEFAULT_MAX_CONTEXTS: usize = 1024;

/// The limits of one kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Processes in the table at once.
    pub processes: usize,
    /// Children one guest kernel may have at once.
    pub contexts_per_kernel: usize,
    /// Descriptors one process may have open.
    pub open_files: usize,
    /// Pages one process may have mapped (`Process::max_mapped_pages`).
    pub mapped_pages: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            processes: DEFAULT_MAX_PROCESSES,
            contexts_per_kernel: DEFAULT_MAX_CONTEXTS,
            open_files: super::files::DEFAULT_MAX_FDS,
            mapped_pages: DEFAULT_MAX_MAPPED_PAGES,
        }
    }
}

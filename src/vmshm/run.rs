//! The host daemon's place in the run loop: the `Simulator` creates one
//! `HostLink` per run and gives each VM's kernel a handle
//! (`Simulator::link_vmshm`); after every handled exception it hands the
//! host's notices to the kernels (`deliver_vmshm_notices`) and, with
//! `--dump-vmshm`, prints the region when a call changed it.

use crate::kernel::Kernel;
use crate::simulator::Simulator;

use super::link::HostLink;
use super::messages::VmId;

/// How the run's host daemon is set up (`--host-shm`, `--trace-daemon`,
/// `--dump-vmshm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmShmOptions {
    pub host_shm_mb: u64,
    pub trace_daemon: bool,
    pub dump_vmshm: bool,
}

impl Default for VmShmOptions {
    fn default() -> Self {
        VmShmOptions {
            host_shm_mb: super::host::DEFAULT_HOST_SHM_MB,
            trace_daemon: false,
            dump_vmshm: false,
        }
    }
}

/// Links `kernel` (VM `kernel.id`) to the host daemon behind `link`.
pub fn link_kernel(kernel: &mut Kernel, link: &HostLink, options: VmShmOptions) {
    kernel.vmshm.trace = options.trace_daemon;
    kernel.vmshm_dump = options.dump_vmshm;
    kernel.vmshm.link(kernel.id, link.clone());
}

impl Simulator {
    fn kernels(&self) -> Vec<&Kernel> {
        self.vms.iter().collect()
    }

    fn kernel_of(&mut self, vm: VmId) -> Option<&mut Kernel> {
        self.vms.get_mut(usize::try_from(vm.0).ok()?)
    }

    /// The host daemon of this run.
    pub fn host_daemon(&self) -> Option<&HostLink> {
        Some(&self.host)
    }

    /// The host region as `--dump-vmshm` prints it (spec/vmshm.md, "What
    /// users can see").
    pub fn dump_vmshm(&self) -> String {
        let clients: Vec<_> = self.kernels().into_iter().map(|k| &k.vmshm).collect();
        self.host_daemon().map_or_else(
            || "no host daemon\n".to_string(),
            |host| host.with(|h| super::dump(h, &clients)),
        )
    }

    /// Hands the host daemon's notices to the kernels (waking processes),
    /// then prints the region for every kernel whose vm_* call changed it
    /// (`--dump-vmshm`). The run loop calls it after every handled
    /// exception; tests that call `Kernel::handle` themselves call it too.
    pub fn after_vmshm(&mut self) {
        let Some(host) = self.host_daemon().cloned() else {
            return;
        };
        loop {
            let notices = host.take_notices();
            if notices.is_empty() {
                break;
            }
            for notice in notices {
                if let Some(kernel) = self.kernel_of(notice.vm) {
                    kernel.vmshm_notice(notice);
                }
            }
        }
        let changed: Vec<u64> = self
            .kernels()
            .into_iter()
            .filter(|k| k.vmshm_changed && k.vmshm_dump)
            .map(|k| k.id)
            .collect();
        for vm in changed {
            let text = format!("sim: vmshm after a call of vm {vm}:\n{}", self.dump_vmshm());
            if let Some(kernel) = self.kernel_of(VmId(vm)) {
                kernel.console.write_stderr(text.as_bytes());
            }
        }
        for kernel in &mut self.vms {
            kernel.vmshm_changed = false;
        }
    }

    /// `--dump-vmshm` at the end of `run`.
    pub(crate) fn dump_vmshm_at_exit(&mut self) {
        if self.kernels().iter().any(|k| k.vmshm_dump) {
            let text = format!("sim: vmshm at exit:\n{}", self.dump_vmshm());
            self.vms[0].console.write_stderr(text.as_bytes());
        }
    }
}

//! `HostLink`: how a client daemon reaches the host daemon.
//!
//! In a real hypervisor this is a channel (a hypercall, a virtio queue);
//! here every kernel and the run loop hold a handle to the one
//! `HostDaemon` of the run, and a request is a synchronous call that
//! returns the reply. A handle is passed explicitly to each kernel when its
//! VM is created (no global state), and every message goes through `call`,
//! the one place that traces it (`--trace-daemon`).

use std::cell::RefCell;
use std::rc::Rc;

use super::host::HostDaemon;
use super::messages::{BlockInfo, Envelope, HostReply, HostRequest, Notice, VmId};
use crate::emu::{Frame, PhysMemory};

/// A shared handle to the run's host daemon.
#[derive(Clone, Debug)]
pub struct HostLink {
    daemon: Rc<RefCell<HostDaemon>>,
}

impl HostLink {
    /// A link to a new host daemon with a region of `megabytes` MiB.
    pub fn new(megabytes: u64) -> HostLink {
        HostLink {
            daemon: Rc::new(RefCell::new(HostDaemon::new(megabytes))),
        }
    }

    /// Sends `request` from VM `from`; returns the reply and, for
    /// `--trace-daemon`, the two trace lines (without the `sim:` prefix).
    pub fn call(
        &self,
        memory: &mut PhysMemory,
        from: VmId,
        request: HostRequest,
    ) -> (HostReply, [String; 2]) {
        let reply = self
            .daemon
            .borrow_mut()
            .handle(memory, Envelope { from, request });
        (
            reply,
            [
                format!("daemon: {from} → host: {request}"),
                format!("daemon: host → {from}: {reply}"),
            ],
        )
    }

    /// The frames behind a block the host handed out.
    pub fn frames(&self, block: BlockInfo) -> Vec<Frame> {
        self.daemon.borrow().block_frames(block)
    }

    /// Registers VM `vm` with the host.
    pub fn attach(&self, vm: VmId) {
        self.daemon.borrow_mut().attach(vm);
    }

    /// Takes the queued notices (processes to wake).
    pub fn take_notices(&self) -> Vec<Notice> {
        self.daemon.borrow_mut().take_notices()
    }

    /// Runs `f` on the daemon's state (dumps, tests).
    pub fn with<R>(&self, f: impl FnOnce(&HostDaemon) -> R) -> R {
        f(&self.daemon.borrow())
    }
}

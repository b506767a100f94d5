//! `HostLink`: how a client daemon reaches the host daemon.
//!
//! In a real hypervisor this is a channel (a hypercall, a virtio queue);
//! here the host daemon lives in the hypervisor (src/hypervisor/host_daemon/)
//! and every kernel holds a handle to it, through `HostService`: the few
//! things a client daemon may ask of its host. A request is a synchronous
//! call that returns the reply. A handle is passed explicitly to each
//! kernel when its VM is created (no global state), and every message goes
//! through `call`, the one place that traces it (`--trace-daemon`).
//!
//! The trait is what keeps the layers apart: vmshm (below the kernel)
//! defines the protocol and this port; the hypervisor (above the kernel)
//! implements it.

use std::cell::RefCell;
use std::rc::Rc;

use super::messages::{BlockInfo, Envelope, HostReply, HostRequest, VmId};
use crate::emu::{Frame, PhysMemory};

/// What a client daemon may ask of the host daemon.
pub trait HostService {
    /// Answers one request (docs/spec/vmshm.md's messages).
    fn handle(&mut self, memory: &mut PhysMemory, envelope: Envelope) -> HostReply;
    /// The frames behind a block the host handed out.
    fn block_frames(&self, block: BlockInfo) -> Vec<Frame>;
    /// Registers VM `vm`.
    fn attach(&mut self, vm: VmId);
    /// Whether the host region has been reserved from the machine yet.
    fn region_reserved(&self) -> bool;
    /// The region's frames, in region order (empty until reserved).
    fn region_frames(&self) -> Vec<Frame>;
}

/// A shared handle to the run's host daemon.
#[derive(Clone)]
pub struct HostLink {
    host: Rc<RefCell<dyn HostService>>,
}

impl std::fmt::Debug for HostLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLink")
    }
}

impl HostLink {
    /// A link to `host`.
    pub fn new(host: Rc<RefCell<dyn HostService>>) -> HostLink {
        HostLink { host }
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
            .host
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
        self.host.borrow().block_frames(block)
    }

    /// Registers VM `vm` with the host.
    pub fn attach(&self, vm: VmId) {
        self.host.borrow_mut().attach(vm);
    }

    /// Whether the host region has been reserved from the machine yet.
    pub fn region_reserved(&self) -> bool {
        self.host.borrow().region_reserved()
    }

    /// The region's frames, in region order (empty until reserved).
    pub fn region_frames(&self) -> Vec<Frame> {
        self.host.borrow().region_frames()
    }
}

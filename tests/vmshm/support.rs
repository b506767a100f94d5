//! A rig for the vmshm tests: a simulator with several VMs, each with idle
//! processes whose vm_* syscalls the test issues one at a time through the
//! kernel's real dispatch (registers a7/a0.., an `ecall` exception handled
//! by that VM's kernel, the result in a0), as a guest would. A call that
//! blocks leaves its process `Blocked`; the test issues it again once the
//! host daemon's notice made the process ready, as the guest's repeated
//! `ecall` would.
#![allow(dead_code)]

use std::path::PathBuf;

use sim::abi::layout::STACK_TOP;
use sim::abi::*;
use sim::emu::PAGE_SIZE;
use sim::hypervisor::HostDaemon;
use sim::kernel::{ExitStatus, Pid, ProcessState};
use sim::vmshm::VmId;
use sim::Simulator;

/// Where the rig keeps `base` and `size` words: a stack page.
pub const BASE_AT: u64 = STACK_TOP - 16 * PAGE_SIZE;
pub const SIZE_AT: u64 = BASE_AT + 8;

const IDLE: &str = "uint64_t main() { while (1) yield(); return 0; }";

/// What `Rig::call` returns for a call that blocked its process.
pub const BLOCKED: u64 = 0x00b1_0ced;

/// `-errno` as the guest sees it in a0.
pub fn e(errno: Errno) -> u64 {
    errno.to_return()
}

pub fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

pub struct Rig {
    pub sim: Simulator,
}

impl Rig {
    /// `vms` VMs with one idle process (pid 1) each; a 1 MiB host region
    /// (256 pages).
    pub fn new(vms: usize) -> Rig {
        Rig::with(vms, 1, 1)
    }

    /// `vms` VMs with `processes` idle processes each.
    pub fn with(vms: usize, processes: usize, host_shm_mb: u64) -> Rig {
        let mut sim = Simulator::builder()
            .capture_output(true)
            .host_shm_mb(host_shm_mb)
            .build();
        let source = [("idle.c".to_string(), IDLE.to_string())];
        let elf = match sim::toolchain::cstar::compile(&source) {
            Ok(c) => c.elf,
            Err(e) => panic!("idle program: {e}"),
        };
        for vm in 0..vms {
            if vm > 0 {
                sim.add_vm();
            }
            for i in 0..processes {
                sim.load_elf_in(
                    vm,
                    &elf,
                    &[format!("idle{vm}.{i}")],
                    sim::kernel::Mode::User,
                    None,
                )
                .expect("idle program loads");
            }
        }
        Rig { sim }
    }

    /// Issues syscall `number` with `args` from process `pid` of VM `vm`;
    /// returns a0, or `BLOCKED` if the call blocked the process.
    pub fn call(&mut self, vm: usize, pid: u64, number: u64, args: &[u64]) -> u64 {
        let a0 = self
            .sim
            .syscall(vm, Pid(pid), number, args)
            .expect("a live process");
        if self.is_blocked(vm, pid) {
            return BLOCKED;
        }
        a0
    }

    pub fn set_size(&mut self, vm: usize, pid: u64, size: u64) {
        self.write_u64(vm, pid, SIZE_AT, size);
    }

    /// vm_open with `*size = size`; returns (a0, *base, *size).
    pub fn open(
        &mut self,
        vm: usize,
        pid: u64,
        shmid: u64,
        size: u64,
        flags: u64,
        perms: u64,
    ) -> (u64, u64, u64) {
        self.set_size(vm, pid, size);
        self.write_u64(vm, pid, BASE_AT, 0);
        let r = self.call(
            vm,
            pid,
            SYS_VM_OPEN,
            &[shmid, BASE_AT, SIZE_AT, flags, perms],
        );
        (
            r,
            self.read_u64(vm, pid, BASE_AT),
            self.read_u64(vm, pid, SIZE_AT),
        )
    }

    pub fn close(&mut self, vm: usize, pid: u64, shmid: u64, base: u64, size: u64) -> u64 {
        self.call(vm, pid, SYS_VM_CLOSE, &[shmid, base, size])
    }

    /// vm_listen with `*size = size`; returns a0 (`BLOCKED` when it blocked).
    pub fn listen(&mut self, vm: usize, pid: u64, shmid: u64, size: u64) -> u64 {
        self.set_size(vm, pid, size);
        self.call(vm, pid, SYS_VM_LISTEN, &[shmid, BASE_AT, SIZE_AT])
    }

    /// vm_connect with `*size = 0`; returns a0.
    pub fn connect(&mut self, vm: usize, pid: u64, target: u64, shmid: u64) -> u64 {
        self.set_size(vm, pid, 0);
        self.call(vm, pid, SYS_VM_CONNECT, &[target, shmid, BASE_AT, SIZE_AT])
    }

    pub fn disconnect(&mut self, vm: usize, pid: u64, shmid: u64) -> u64 {
        self.call(vm, pid, SYS_VM_DISCONNECT, &[shmid])
    }

    /// Ends process `pid` of VM `vm` as exit(0) does.
    pub fn exit(&mut self, vm: usize, pid: u64) {
        self.call(vm, pid, SYS_EXIT, &[0]);
    }

    /// Kills process `pid` of VM `vm` (as a fault or the deadlock breaker would).
    pub fn kill(&mut self, vm: usize, pid: u64) {
        self.sim.end_process(vm, Pid(pid), ExitStatus::Killed(9));
    }

    pub fn state(&self, vm: usize, pid: u64) -> ProcessState {
        self.sim.process_in(vm, Pid(pid)).expect("a process").state
    }

    /// Whether the process sleeps (one that ended and left the table,
    /// like a reaped child or an orphan, does not).
    pub fn is_blocked(&self, vm: usize, pid: u64) -> bool {
        self.sim
            .process_in(vm, Pid(pid))
            .is_some_and(|p| matches!(p.state, ProcessState::Blocked(_)))
    }

    pub fn base(&mut self, vm: usize, pid: u64) -> u64 {
        self.read_u64(vm, pid, BASE_AT)
    }

    /// Writes a word as the kernel would (through uaccess: page
    /// permissions apply, so a read-only page is EFAULT).
    pub fn try_write_u64(
        &mut self,
        vm: usize,
        pid: u64,
        addr: u64,
        value: u64,
    ) -> Result<(), Errno> {
        self.sim
            .copy_to_guest(vm, Pid(pid), addr, &value.to_le_bytes())
    }

    pub fn write_u64(&mut self, vm: usize, pid: u64, addr: u64, value: u64) {
        self.try_write_u64(vm, pid, addr, value)
            .expect("guest memory is writable");
    }

    pub fn read_u64(&mut self, vm: usize, pid: u64, addr: u64) -> u64 {
        let bytes = self
            .sim
            .copy_from_guest(vm, Pid(pid), addr, 8)
            .expect("guest memory is readable");
        u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }

    /// Runs `f` on the host daemon.
    pub fn host<R>(&self, f: impl FnOnce(&HostDaemon) -> R) -> R {
        f(&self.sim.host_daemon())
    }

    /// VMs that have `shmid` open at level 1.
    pub fn refs(&self, shmid: u64) -> Vec<u64> {
        self.host(|h| {
            h.open_blocks()
                .get(&shmid)
                .map(|b| b.vms.iter().map(|v: &VmId| v.0).collect())
                .unwrap_or_default()
        })
    }

    pub fn free_pages(&self) -> u64 {
        self.host(|h| h.allocator().free_pages())
    }

    /// Panics with the broken invariant of any VM's kernel, if any.
    pub fn check(&self) {
        if let Err(broken) = self.sim.check_shm_invariants() {
            panic!("invariant broken: {broken}\n{}", self.sim.dump_vmshm());
        }
    }
}

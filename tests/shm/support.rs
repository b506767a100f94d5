//! A rig for the shm tests: a simulator with idle processes whose syscalls
//! the test issues one at a time, through the kernel's real dispatch
//! (registers a7/a0.., an `ecall` exception, the result in a0), as a guest
//! would — but with the test choosing every argument and inspecting the
//! page tables, frames and lists in between.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sim::abi::layout::STACK_TOP;
use sim::abi::*;
use sim::emu::{Frame, VirtPage, PAGE_SIZE};
use sim::kernel::Pid;
use sim::{Simulator, Trace};

/// Where the rig writes names: a stack page below the argument strings.
pub const NAME_AT: u64 = STACK_TOP - 16 * PAGE_SIZE;

/// A program that never runs here (the rig only raises its ecalls).
const IDLE: &str = "uint64_t main() { while (1) yield(); return 0; }";

/// `-errno` as the guest sees it in a0.
pub fn e(errno: Errno) -> u64 {
    errno.to_return()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn program(name: &str) -> PathBuf {
    root().join("programs/shm").join(name)
}

pub fn idle_elf() -> Vec<u8> {
    let source = [("idle.c".to_string(), IDLE.to_string())];
    match sim::toolchain::cstar::compile(&source) {
        Ok(c) => c.elf,
        Err(e) => panic!("idle program: {e}"),
    }
}

pub struct Rig {
    pub sim: Simulator,
    pub pids: Vec<Pid>,
}

impl Rig {
    /// `processes` idle processes on a machine with 64 MiB.
    pub fn new(processes: usize) -> Rig {
        Rig::with_memory(processes, 64)
    }

    pub fn with_memory(processes: usize, mb: u64) -> Rig {
        let mut sim = Simulator::builder()
            .memory_mb(mb)
            .capture_output(true)
            .build();
        let elf = idle_elf();
        let pids = (0..processes)
            .map(|i| {
                sim.load_elf(&elf, &[format!("idle{i}")])
                    .expect("idle program loads")
            })
            .collect();
        Rig { sim, pids }
    }

    /// Issues syscall `number` with `args` from `pid`; returns a0.
    pub fn call(&mut self, pid: Pid, number: u64, args: &[u64]) -> u64 {
        self.sim.syscall(0, pid, number, args).unwrap_or(0)
    }

    /// shm_open with `name` written (NUL-terminated) to `NAME_AT`.
    pub fn open(&mut self, pid: Pid, name: &str) -> u64 {
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        self.write(pid, NAME_AT, &bytes);
        self.call(pid, SYS_SHM_OPEN, &[NAME_AT])
    }

    pub fn size(&mut self, pid: Pid, id: u64, size: u64) -> u64 {
        self.call(pid, SYS_SHM_SIZE, &[id, size])
    }

    pub fn map(&mut self, pid: Pid, addr: u64, id: u64) -> u64 {
        self.call(pid, SYS_SHM_MAP, &[addr, id])
    }

    pub fn close(&mut self, pid: Pid, id: u64) -> u64 {
        self.call(pid, SYS_SHM_CLOSE, &[id])
    }

    pub fn exit(&mut self, pid: Pid) {
        self.call(pid, SYS_EXIT, &[0]);
    }

    /// fork (clone with SIGCHLD); returns the child.
    pub fn fork(&mut self, pid: Pid) -> u64 {
        self.call(pid, SYS_CLONE, &[17, 0])
    }

    /// Opens, sizes and maps `name` for `pid`; returns (id, address).
    pub fn open_size_map(&mut self, pid: Pid, name: &str, size: u64) -> (u64, u64) {
        let id = self.open(pid, name);
        assert!(id < e(Errno(4095)), "open {name}: {:#x}", id);
        let rounded = self.size(pid, id, size);
        assert!(rounded < e(Errno(4095)), "size {name}: {:#x}", rounded);
        let addr = self.map(pid, 0, id);
        assert!(addr < e(Errno(4095)), "map {name}: {:#x}", addr);
        (id, addr)
    }

    /// Writes guest memory as the kernel would (through uaccess).
    pub fn write(&mut self, pid: Pid, addr: u64, bytes: &[u8]) {
        self.sim
            .copy_to_guest(0, pid, addr, bytes)
            .expect("guest memory is writable");
    }

    pub fn read(&self, pid: Pid, addr: u64, len: u64) -> Vec<u8> {
        self.sim
            .read_memory(pid, addr, len)
            .expect("guest memory is mapped")
    }

    /// The frame behind `addr` in `pid`'s page table.
    pub fn frame(&self, pid: Pid, addr: u64) -> Option<Frame> {
        self.sim
            .process(pid)?
            .page_table
            .get(VirtPage::containing(addr))
            .map(|p| p.frame)
    }

    pub fn frames(&self, pid: Pid, addr: u64, pages: u64) -> Vec<Option<Frame>> {
        (0..pages)
            .map(|i| self.frame(pid, addr + i * PAGE_SIZE))
            .collect()
    }

    pub fn free_frames(&self) -> u32 {
        self.sim.machine().memory().free_frames()
    }

    /// Panics with the broken invariant, if any.
    pub fn check(&self) {
        if let Err(broken) = self.sim.check_shm_invariants() {
            panic!("shm invariant broken: {broken}\n{}", self.sim.dump_shm());
        }
    }

    /// Names of the objects in list order.
    pub fn names(&self) -> Vec<String> {
        self.sim
            .kernel()
            .shm()
            .objects()
            .iter()
            .map(|(_, o)| o.display_name())
            .collect()
    }

    /// Pids of the clients of `name`, in list order.
    pub fn clients(&self, name: &str) -> Vec<u64> {
        self.sim
            .kernel()
            .shm()
            .find(name.as_bytes())
            .map(|o| o.clients.iter().map(|(_, c)| c.pid.0).collect())
            .unwrap_or_default()
    }
}

/// Loads C* programs of programs/shm as processes of a fresh simulator.
pub fn load(names: &[&str], dump_shm: bool) -> Simulator {
    let mut sim = Simulator::builder()
        .capture_output(true)
        .trace(Trace {
            dump_shm,
            ..Trace::default()
        })
        .build();
    for name in names {
        let path: &Path = &program(name);
        sim.load_program(path, &[name.to_string()])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    sim
}

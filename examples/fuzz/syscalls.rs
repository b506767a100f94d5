//! Target `syscalls`: random sequences of syscalls and hypercalls with
//! random and adversarial arguments, across several processes, guest
//! kernels and VMs, issued through the library (`Simulator::syscall`), with
//! guest code run in between; after every call the invariants are checked
//! (`Simulator::check_invariants`: spec/shm.md's, the inter-VM mappings,
//! the process table, frame ownership over the machine; in release builds
//! too) and the sandbox: nothing outside the root may change.
//!
//! The guests: in VM 0 two user processes, a guest kernel and its child;
//! in VM 1 a user process and a guest kernel. Each is a loop of
//! `sched_yield` with a data segment of paths, names and free room. A call
//! is issued only by a context that could trap now: the deepest context
//! (hypervisor::deepest) of a ready root.
//!
//! Arguments come from: edge values, pointers into the data segment (its
//! strings, its last bytes, the page after it), every live process's id
//! (of any VM), VM ids, descriptors, register numbers, `openat` flags.

use sim::abi::{self, CALLS};
use sim::hypervisor::deepest;
use sim::kernel::{Mode, Pid, ProcessState};
use sim::Simulator;

use crate::guest::{self, Sandbox, DATA};
use crate::rng::{Rng, Source, INTERESTING};
use crate::{Target, Verdict};

const DATA_BYTES: u64 = 16384;
/// Most operations per input.
const MAX_OPS: usize = 96;

/// The strings at the start of the data segment (NUL-terminated).
const STRINGS: &[&str] = &[
    "file",
    "/etc/passwd",
    "../outside/secret",
    "/../outside/secret",
    "dir/../../outside/secret",
    "/proc/self/environ",
    "/dev/fd/0",
    ".",
    "..",
    "",
    "shm-a",
    "shm-b",
    "blk",
    "a-very-long-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on",
];

/// Call numbers besides the ABI's.
const OTHER_CALLS: &[u64] = &[0, 17, 29, 48, 62, 80, 96, 222, 226, 278, 399, 409, 4095];

pub struct SyscallTarget {
    /// Calls issued, and of those, how many returned an error.
    calls: u64,
    errors: u64,
    sandbox: Sandbox,
    elf: Vec<u8>,
    offsets: Vec<u64>,
}

impl SyscallTarget {
    pub fn new() -> SyscallTarget {
        // _start: li a7, 124; ecall; j _start
        let words: [u32; 3] = [0x07c0_0893, 0x0000_0073, 0xff9f_f06f];
        let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for s in STRINGS {
            offsets.push(data.len() as u64);
            data.extend_from_slice(s.as_bytes());
            data.push(0);
        }
        SyscallTarget {
            calls: 0,
            errors: 0,
            sandbox: Sandbox::new("syscalls"),
            elf: guest::elf_of(code, data, DATA_BYTES),
            offsets,
        }
    }

    fn build(&self) -> Result<Simulator, String> {
        let mut sim = guest::builder(&self.sandbox.root, 500, 200_000)
            .read_only(false)
            .try_build()?;
        sim.try_add_vm()?;
        let load = |sim: &mut Simulator, vm, mode, supervisor| {
            sim.load_elf_in(vm, &self.elf, &["guest".to_string()], mode, supervisor)
                .map_err(|e| format!("the guest was refused: {e}"))
        };
        load(&mut sim, 0, Mode::User, None)?;
        load(&mut sim, 0, Mode::User, None)?;
        let kernel = load(&mut sim, 0, Mode::Kernel, None)?;
        load(&mut sim, 0, Mode::User, Some(kernel))?;
        load(&mut sim, 1, Mode::User, None)?;
        load(&mut sim, 1, Mode::Kernel, None)?;
        Ok(sim)
    }

    /// One argument: `results` holds what earlier calls returned (ids,
    /// descriptors, addresses), so that calls reach what others made.
    fn argument(&self, src: &mut Source, pids: &[u64], results: &[u64]) -> u64 {
        match src.below(15) {
            12..=14 if !results.is_empty() => *src.pick(results),
            12..=14 => src.below(4),
            0 | 1 => *src.pick(INTERESTING),
            2 | 3 => DATA + *src.pick(&self.offsets),
            4 => DATA + DATA_BYTES - src.below(16),
            5 => pids
                .get(src.below(pids.len() as u64) as usize)
                .copied()
                .unwrap_or(0),
            6 => src.below(5),
            7 => src.below(10),
            8 => src.below(40),
            9 => (-(src.below(200) as i64)) as u64,
            10 => {
                let flags = [
                    abi::O_CREAT,
                    abi::O_TRUNC,
                    abi::O_WRONLY,
                    abi::O_RDWR,
                    abi::O_EXCL,
                    abi::O_DIRECTORY,
                    abi::O_APPEND,
                ];
                flags.iter().filter(|_| src.u8() < 80).fold(0, |a, f| a | f)
            }
            _ => src.u64(),
        }
    }
}

/// The contexts that could trap now: the deepest context of each ready
/// root, in every VM.
fn issuers(sim: &Simulator) -> Vec<(usize, Pid)> {
    let mut out = Vec::new();
    for vm in 0..sim.vm_count() {
        let Some(kernel) = sim.vm(vm) else { continue };
        let roots = kernel
            .processes()
            .pids_where(|p| p.supervisor.is_none() && p.state == ProcessState::Ready);
        for root in roots {
            let pid = deepest(kernel, root);
            if kernel
                .process(pid)
                .is_some_and(|p| p.state == ProcessState::Ready)
            {
                out.push((vm, pid));
            }
        }
    }
    out
}

fn all_pids(sim: &Simulator) -> Vec<u64> {
    (0..sim.vm_count())
        .filter_map(|vm| sim.vm(vm))
        .flat_map(|k| k.processes().pids_where(|_| true))
        .map(|p| p.0)
        .collect()
}

impl Target for SyscallTarget {
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        let n = 64 + rng.below(2048) as usize;
        rng.bytes(n)
    }

    fn execute(&mut self, input: &[u8]) -> Verdict {
        self.sandbox.clear_root();
        let mut sim = match self.build() {
            Ok(sim) => sim,
            Err(e) => return Verdict::Failure(e),
        };
        let mut src = Source::new(input);
        let mut trail: Vec<String> = Vec::new();
        let mut results: Vec<u64> = Vec::new();
        for _ in 0..MAX_OPS {
            if src.is_empty() {
                break;
            }
            match src.below(10) {
                0 => {
                    // Let the guests run for a few exceptions.
                    for _ in 0..=src.below(20) {
                        match sim.run_until_exception() {
                            Some(event) => sim.handle(event),
                            None => break,
                        }
                    }
                    trail.push("run".into());
                }
                1 => {
                    // Write a string into an issuer's data segment.
                    let who = issuers(&sim);
                    if let Some(&(vm, pid)) = who.get(src.below(who.len() as u64) as usize) {
                        let text = src.pick(STRINGS).as_bytes().to_vec();
                        let at = DATA + src.below(DATA_BYTES);
                        let _ = sim.copy_to_guest(vm, pid, at, &text);
                    }
                }
                _ => {
                    let who = issuers(&sim);
                    let Some(&(vm, pid)) = who.get(src.below(who.len() as u64) as usize) else {
                        break;
                    };
                    let number = match src.below(10) {
                        0 => *src.pick(OTHER_CALLS),
                        _ => src.pick(CALLS).number,
                    };
                    let pids = all_pids(&sim);
                    let args: Vec<u64> = (0..6)
                        .map(|_| self.argument(&mut src, &pids, &results))
                        .collect();
                    trail.push(format!(
                        "vm {vm} pid {pid}: {}({:#x?})",
                        abi::call_name(number),
                        &args
                    ));
                    self.calls += 1;
                    let result = sim.syscall(vm, pid, number, &args).unwrap_or(0);
                    if abi::Errno::from_return(result).is_some() {
                        self.errors += 1;
                    } else if result > 2 && results.len() < 64 {
                        results.push(result);
                    }
                }
            }
            if let Err(broken) = sim.check_invariants() {
                return Verdict::Failure(format!(
                    "invariant broken after: {}\n  {broken}",
                    trail.join("\n  ")
                ));
            }
            if let Some(escape) = self.sandbox.escaped() {
                return Verdict::Failure(format!(
                    "sandbox escape after: {}\n  {escape}",
                    trail.join("\n  ")
                ));
            }
        }
        Verdict::Ok
    }

    fn reached(&self) -> String {
        format!("{} calls, {} of them errors", self.calls, self.errors)
    }
}

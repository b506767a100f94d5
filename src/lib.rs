//! `sim`: an educational OS-kernel simulator — at once the hardware (an
//! RV64GC machine, [`emu`]), the operating system that runs guest programs
//! on it ([`kernel`], [`shm`]) and the toolchain that builds them
//! ([`toolchain`]: a C* compiler, an assembler, an ELF writer).
//!
//! One run loop drives everything (rule U/K-1 of the design): run the
//! current context until it raises an exception, deliver the exception to
//! its handler, schedule, repeat. [`Simulator`] is that loop; a test can
//! stop at every exception, look at registers, memory and page tables, let
//! the kernel handle it, and go on.
//!
//! ```
//! use sim::emu::{Exception, Reg};
//! use sim::Simulator;
//!
//! // A guest program: write(1, "hi\n", 3); exit(7).
//! let elf = sim::toolchain::asm::assemble(
//!     "_start:
//!          li a0, 1
//!          la a1, text
//!          li a2, 3
//!          li a7, 64
//!          ecall
//!          li a0, 7
//!          li a7, 93
//!          ecall
//!      .data
//!      text: .string \"hi\\n\"",
//!     "hi.s",
//! )
//! .expect("assembles");
//!
//! let mut sim = Simulator::builder().capture_output(true).build();
//! let pid = sim.load_elf(&elf, &["hi".to_string()]).expect("loads");
//!
//! // The first exception is the write syscall; the kernel has not seen it yet.
//! let event = sim.run_until_exception().expect("an exception");
//! assert_eq!(event.exception, Exception::Syscall);
//! assert_eq!(sim.register(pid, Reg::A7.index()), Some(64));
//! assert_eq!(sim.stdout(), b"");
//!
//! // Let the kernel handle it: the output appears, a0 holds the result.
//! sim.handle(event);
//! assert_eq!(sim.stdout(), b"hi\n");
//! assert_eq!(sim.register(pid, Reg::A0.index()), Some(3));
//!
//! // The exit syscall, then nothing is left to run.
//! let event = sim.run_until_exception().expect("the exit");
//! assert_eq!(sim.register(pid, Reg::A7.index()), Some(93));
//! sim.handle(event);
//! assert!(sim.run_until_exception().is_none());
//! assert_eq!(sim.run().exit_code, 7);
//! ```
//!
//! Modules, from the bottom up (each uses only those above it in this
//! list, and the shared-memory systems know nothing of the kernel):
//! - [`abi`]: the guest ABI: call numbers, error numbers, the address space.
//! - [`ids`]: `Pid` and `VmId`, the names every layer shares.
//! - [`emu`]: the machine: decoder, encoder, disassembler, executor,
//!   MMU/TLB, physical memory.
//! - [`trace`]: the one `Trace` settings value (`--trace*`, `--dump-*`).
//! - [`debug`]: symbols and lines of any ELF, crash reports; above the
//!   simulator, the interactive debugger and the gdb stub.
//! - [`shm`]: named shared memory between the processes of one kernel.
//! - [`vmshm`]: inter-VM shared memory, a VM's side: the client daemon and
//!   the messages to the host daemon.
//! - [`rshm`]: distributed shared memory: node server, wire protocol, peers.
//! - [`kernel`]: processes, scheduler, the one syscall layer (syscalls,
//!   hypercalls, the shared-memory calls), paging, ELF loader.
//! - [`hypervisor`]: the context tree and -u/-k rules, VMs, the host daemon
//!   of inter-VM shared memory (docs/hypervisor.md).
//! - [`simulator`]: the run loop and the library API.
//! - [`toolchain`]: C* compiler, assembler, ELF writer.
//! - [`course`]: the course kit: assignments, `sim grade`, `sim handout`
//!   (docs/teaching.md); it runs cargo, not guest code.
pub mod abi;
pub mod course;
pub mod debug;
pub mod emu;
pub mod hypervisor;
pub mod ids;
pub mod kernel;
pub mod rshm;
pub mod shm;
pub mod simulator;
pub mod toolchain;
pub mod trace;
pub mod vmshm;

pub use simulator::{Event, RunOutcome, Simulator, SimulatorBuilder};
pub use trace::Trace;

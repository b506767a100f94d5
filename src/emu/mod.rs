//! The machine (selfie's *mipster*): an RV64GC hart (RV64IMAFDC, Zicsr,
//! and the bit-manipulation extensions Zba, Zbb, Zbs) with paged memory.
//!
//! Control enters through `Machine::run(hart, page_table, context, stop_at)`
//! (or `Machine::step`), called by the kernel: it runs the context's
//! instructions until one raises an exception (a syscall, a page fault, an
//! illegal instruction, ...) or the instruction counter reaches `stop_at`
//! (`Exception::Timer`), and leaves by returning that exception as a value,
//! with the hart's pc at the instruction that raised it. The kernel handles
//! it and calls `run` again; emu never calls out.
//!
//! The files, top to bottom: each uses only files below it.
//!
//! - `machine.rs`: `Machine`, `Hart`; the run loop, and the switching of
//!   caches between contexts.
//! - `block.rs`: decoding guest code into blocks of ops; the block cache and
//!   the jump cache.
//! - `jit/`: the JIT tier: blocks compiled to x86-64 code that takes the
//!   place of a block's first handler and exits to the interpreter's.
//! - `fuse.rs`: superinstructions, handlers that run two adjacent ops.
//! - `exec.rs`: one handler per op kind (`exec_addi`, ...): the hot path;
//!   `exec_fp.rs` the floating-point ones (`exec_fadd_d`, ...).
//! - `op.rs`: `Op`, the `Handler` contract, and `Exec`, what handlers get.
//! - `bus.rs`: memory access off the fast path: translation and TLB fill,
//!   misses, atomics.
//! - `exception.rs`: `Exception`, how a run ends.
//! - `softfloat.rs`: IEEE 754 arithmetic in software, bit-exact to RISC-V
//!   (rounding modes, flags, canonical NaNs), for exec_fp.rs.
//! - `decode.rs`, `decode_rvc.rs`: machine words to `Instruction`.
//! - `mmu.rs`: `PageTable` and `Pte`; the software TLB.
//! - `encode.rs`, `disasm.rs`: `Instruction` to machine words, to text.
//! - `memory.rs`: `PhysMemory`, the frames and their allocator.
//! - `entries.rs`: the entries of the TLB and jump cache, owned through one
//!   raw pointer that the executor copies.
//! - `addr.rs`: `VirtAddr` and `PhysAddr`: an address as its page and
//!   offset, split in one place.
//! - `instruction.rs`: `Instruction`, the typed form all of them share.

pub mod addr;
mod block;
mod bus;
pub mod decode;
mod decode_rvc;
pub mod disasm;
pub mod encode;
mod entries;
pub mod exception;
mod exec;
mod exec_fp;
mod fuse;
pub mod instruction;
mod jit;
pub mod machine;
pub mod memory;
pub mod mmu;
mod op;
pub mod softfloat;

pub use addr::{PhysAddr, VirtAddr};
pub use block::Lowering;
pub use decode::{decode, decode16, decode32};
pub use disasm::disassemble;
pub use encode::{encode, EncodeError};
pub use exception::Exception;
pub use instruction::*;
pub use machine::{Hart, Machine};
pub use memory::{Frame, PhysMemory, PAGE_SIZE};
pub use mmu::{Access, PageTable, Pte, PteFlags, VirtPage};

/// Whether this host has the JIT tier (jit/: x86-64 only); elsewhere every
/// machine interprets, whatever `Lowering::jit` says.
pub fn jit_available() -> bool {
    jit::Jit::available()
}

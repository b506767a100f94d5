//! The machine (selfie's *mipster*): an RV64IMAC hart with paged memory.
//!
//! Types: `Instruction` (decode.rs, encode.rs, disasm.rs) is the typed
//! instruction.
pub mod decode;
mod decode_rvc;
pub mod disasm;
pub mod encode;
pub mod instruction;

pub use decode::{decode, decode16, decode32};
pub use disasm::disassemble;
pub use encode::{encode, EncodeError};
pub use instruction::*;

pub mod addr;
mod block;
pub mod exception;
mod exec;
mod fuse;
pub mod machine;
pub mod memory;
pub mod mmu;

pub use addr::{PhysAddr, VirtAddr};
pub use exception::Exception;
pub use machine::{Hart, Machine};
pub use memory::{Frame, PhysMemory, PAGE_SIZE};
pub use mmu::{Access, PageTable, Pte, PteFlags, VirtPage};

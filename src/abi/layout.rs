//! The address space of a user process, drawn once:
//!
//! ```text
//! 0x40_0000_0000  USER_END (Sv39's lower half: 256 GiB)
//!                 guard page
//! 0x3f_ffff_f000  STACK_TOP: argc, argv, envp, auxv, strings; grows down
//!                 ... at most STACK_LIMIT (8 MiB), demand-paged
//! 0x30_0000_0000  SHM_BASE: shared-memory mappings picked by the kernel
//!                 ... grow up
//!                 heap: from the page after the program's last segment up
//!                 to brk, demand-paged (grows up, at most to SHM_BASE)
//!                 .bss (demand-paged), .data, .rodata, .text: ELF segments
//! 0x0000_1000     lowest address a segment may use (page 0 stays unmapped,
//!                 so null-pointer accesses fault)
//! ```

use crate::emu::PAGE_SIZE;

pub const USER_START: u64 = 0x1000;
pub const USER_END: u64 = 0x40_0000_0000;
pub const STACK_TOP: u64 = USER_END - PAGE_SIZE;
pub const STACK_LIMIT: u64 = 8 << 20;
pub const STACK_BOTTOM: u64 = STACK_TOP - STACK_LIMIT;
pub const SHM_BASE: u64 = 0x30_0000_0000;

/// Rounds `addr` up to a page boundary (saturating).
pub fn page_round_up(addr: u64) -> u64 {
    addr.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Rounds `addr` down to a page boundary.
pub fn page_round_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

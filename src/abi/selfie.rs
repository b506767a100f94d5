//! selfie's ABI, as its emulator *mipster* gives it to the programs it
//! runs: which calls exist, the machine context a hypervisor (*hypster*)
//! keeps in its own memory and hands to the `switch` call, and the
//! exception codes mipster writes into it. A process runs under this
//! profile when its ELF is a selfie binary (`is_selfie_elf`) or `--abi
//! selfie` says so; kernel/syscall/selfie.rs implements it.
//!
//! The values are selfie's (selfie.c, "MACHINE CONTEXTS" and "EXCEPTIONS");
//! the call numbers of exit, read, write, openat and brk are Linux's, so
//! only `switch` and what happens to an unknown call differ.

/// selfie's `switch(context, timeout)`: run the context until its next
/// exception, or for `timeout` instructions (0: no timer).
pub const SELFIE_SWITCH: u64 = 401;

/// The calls mipster handles (selfie.c `handle_system_call`), besides
/// `switch`.
pub const SELFIE_CALLS: [u64; 5] = [
    super::SYS_EXIT,
    super::SYS_READ,
    super::SYS_WRITE,
    super::SYS_OPENAT,
    super::SYS_BRK,
];

/// The exit code mipster gives a program that made an unknown call
/// (selfie.c `EXITCODE_UNKNOWNSYSCALL`).
pub const EXITCODE_UNKNOWNSYSCALL: u8 = 24;

/// Which ABI a process's calls follow.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Profile {
    /// Linux's call numbers and `sim`'s own (shm, vmshm, rshm, the
    /// hypercalls 400–413 of docs/spec/abi.md).
    #[default]
    Linux,
    /// selfie's: exit, read, write, openat, brk, and `switch` (401) with
    /// selfie's context semantics; any other call ends the program, as
    /// mipster does.
    Selfie,
}

impl Profile {
    /// Whether `number` is a hypervisor call under this profile (rule
    /// U/K-3: kernel-mode contexts only).
    pub fn is_hypercall(self, number: u64) -> bool {
        match self {
            Profile::Linux => super::is_hypercall(number),
            Profile::Selfie => number == SELFIE_SWITCH,
        }
    }

    /// The profile an ELF asks for by its layout: selfie's for a binary
    /// selfie's compiler wrote, Linux's for any other.
    pub fn of_elf(elf: &[u8]) -> Profile {
        if is_selfie_elf(elf) {
            Profile::Selfie
        } else {
            Profile::Linux
        }
    }

    /// The profile `--abi` names: `linux`, `selfie`, or `None` for `auto`
    /// (and anything else: each ELF's own).
    pub fn from_flag(flag: &str) -> Option<Profile> {
        match flag {
            "linux" => Some(Profile::Linux),
            "selfie" => Some(Profile::Selfie),
            _ => None,
        }
    }

    /// The name of call `number` for traces.
    pub fn call_name(self, number: u64) -> String {
        match (self, number) {
            (Profile::Selfie, SELFIE_SWITCH) => "switch".to_string(),
            _ => super::call_name(number),
        }
    }
}

/// Word offsets into selfie's machine context (selfie.c, "MACHINE
/// CONTEXTS"): the fields `switch` reads and writes. Every field is one
/// 64-bit word; pointers are addresses in the hypervisor's memory.
pub mod context {
    pub const PC: u64 = 2;
    /// Pointer to the 32 registers x0..x31.
    pub const REGS: u64 = 3;
    /// Pointer to the root of the two-level page table.
    pub const PAGE_TABLE: u64 = 4;
    /// The pages `[LOWEST_LO_PAGE, HIGHEST_LO_PAGE)` (code, data, heap)
    /// and `[LOWEST_HI_PAGE, HIGHEST_HI_PAGE)` (stack) may have been mapped
    /// since the last switch.
    pub const LOWEST_LO_PAGE: u64 = 5;
    pub const HIGHEST_LO_PAGE: u64 = 6;
    pub const LOWEST_HI_PAGE: u64 = 7;
    pub const HIGHEST_HI_PAGE: u64 = 8;
    pub const CODE_START: u64 = 9;
    pub const CODE_SIZE: u64 = 10;
    pub const DATA_START: u64 = 11;
    pub const DATA_SIZE: u64 = 12;
    pub const HEAP_START: u64 = 13;
    pub const PROGRAM_BREAK: u64 = 14;
    pub const EXCEPTION: u64 = 15;
    /// The faulting page, address or call number.
    pub const FAULT: u64 = 16;
    /// Pointer to the context's name (a C string).
    pub const NAME: u64 = 20;
}

/// selfie's exception codes (selfie.c `EXCEPTION_*`).
pub mod exception {
    pub const PAGE_FAULT: u64 = 1;
    pub const SEGMENTATION_FAULT: u64 = 2;
    pub const SYSCALL: u64 = 3;
    pub const TIMER: u64 = 4;
    pub const DIVISION_BY_ZERO: u64 = 5;
    pub const INVALID_ADDRESS: u64 = 6;
    pub const UNKNOWN_INSTRUCTION: u64 = 7;
}

/// selfie's virtual memory: 4 GiB, 4 KiB pages, a two-level page table
/// whose root has one entry per 512 pages and whose leaves hold 512
/// entries (selfie.c `root_PDE_offset`, `leaf_PTE_offset`).
pub const VIRTUAL_MEMORY_END: u64 = 1 << 32;
pub const PAGES: u64 = VIRTUAL_MEMORY_END / crate::emu::PAGE_SIZE;
pub const LEAF_ENTRIES: u64 = 512;

/// Whether `elf` is a binary selfie wrote: a RISC-U executable. selfie's
/// compiler writes one fixed layout (selfie.c `encode_elf_header`): a
/// 64-bit little-endian RISC-V `ET_EXEC` with entry 0x10000, no section
/// headers, `e_flags` 0 and exactly two program headers, code (R+X, at
/// file offset 4096, at the entry) and data (R+W), each as large in
/// memory as in the file. `sim`'s own compiler and GNU's always write
/// section headers, so neither is taken for selfie's.
pub fn is_selfie_elf(elf: &[u8]) -> bool {
    use goblin::elf::{header, program_header, Elf};
    let Ok(parsed) = Elf::parse_header(elf) else {
        return false;
    };
    let h = parsed;
    let header_fits = h.e_ident[header::EI_CLASS] == header::ELFCLASS64
        && h.e_ident[header::EI_DATA] == header::ELFDATA2LSB
        && h.e_type == header::ET_EXEC
        && h.e_machine == header::EM_RISCV
        && h.e_entry == CODE_START
        && h.e_phoff == 64
        && h.e_shoff == 0
        && h.e_shnum == 0
        && h.e_flags == 0
        && h.e_phnum == 2;
    if !header_fits {
        return false;
    }
    let Ok(elf) = Elf::parse(elf) else {
        return false;
    };
    let [code, data] = elf.program_headers.as_slice() else {
        return false;
    };
    code.p_type == program_header::PT_LOAD
        && code.p_flags == program_header::PF_R | program_header::PF_X
        && code.p_offset == 4096
        && code.p_vaddr == CODE_START
        && code.p_filesz == code.p_memsz
        && data.p_type == program_header::PT_LOAD
        && data.p_flags == program_header::PF_R | program_header::PF_W
        && data.p_filesz == data.p_memsz
}

/// Where selfie's binaries start (the RISC-V proxy kernel's convention).
const CODE_START: u64 = 0x10000;

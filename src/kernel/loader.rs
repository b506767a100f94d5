//! The ELF loader: validates an ELF64 RISC-V executable (through goblin),
//! maps its segments into a fresh page table and builds the Linux initial
//! stack, so that programs start as under Linux or qemu-riscv64.
//!
//! Initial stack (System V ABI for RISC-V; sp 16-byte aligned, lowest first):
//!
//! ```text
//! sp → argc
//!      argv[0] .. argv[argc-1], 0
//!      envp[0] .. envp[n-1], 0     (LinuxSetup::env: the CLI passes the host's)
//!      auxv: what qemu-riscv64 gives: AT_PHDR AT_PHENT AT_PHNUM AT_PAGESZ
//!            AT_BASE (0: no interpreter) AT_FLAGS AT_ENTRY AT_UID AT_EUID
//!            AT_GID AT_EGID AT_HWCAP (I M A F D C) AT_CLKTCK (100)
//!            AT_RANDOM AT_SECURE (0) AT_EXECFN, then AT_NULL
//!      16 random bytes (from the seed, for determinism), the strings
//! STACK_TOP
//! ```

use goblin::elf::{header, program_header, Elf, ProgramHeader};

use super::paging::alloc_frame_for;
use super::process::Region;
use crate::abi::layout::*;
use crate::emu::{Frame, Machine, PageTable, PteFlags, VirtPage, PAGE_SIZE};

/// Why an executable was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("not an ELF file: {0}")]
    NotElf(String),
    #[error("not a 64-bit ELF file (class {0})")]
    WrongClass(u8),
    #[error("not a little-endian ELF file")]
    WrongEndianness,
    #[error("not a RISC-V executable (machine {0})")]
    WrongMachine(u16),
    #[error("not an executable (ELF type {0}); build with -static")]
    NotExecutable(u16),
    #[error("ELF header field {field}: {reason}")]
    BadHeader { field: &'static str, reason: String },
    #[error("segment {index}: {reason}")]
    BadSegment { index: usize, reason: String },
    #[error("segments {0} and {1} overlap")]
    Overlap(usize, usize),
    #[error("no loadable segment")]
    NoSegments,
    #[error("entry point {0:#x} is not inside an executable segment")]
    BadEntry(u64),
    #[error("the program needs a dynamic linker (PT_INTERP); build with -static")]
    Dynamic,
    #[error("out of physical memory while loading ({needed} frames needed, {free} free)")]
    OutOfMemory { needed: u64, free: u64 },
    #[error("arguments too large for the stack")]
    ArgumentsTooLarge,
    #[error("the kernel holds {0} processes already (--max-processes)")]
    TooManyProcesses(usize),
    #[error("process {0} is not a guest kernel that can take children")]
    NoSupervisor(u64),
    #[error("there is no VM {0}")]
    NoVm(usize),
    #[error(
        "rule U/K-5: a user process runs only when the OS that started it switches to it, \
         and process {0} runs selfie's ABI: it starts its own contexts (switch 401) and would \
         never run one sim loads under it"
    )]
    NotStartedBySelfie(u64),
}

/// A program image loaded into an address space.
pub struct LoadedImage {
    pub page_table: PageTable,
    pub entry: u64,
    pub stack_pointer: u64,
    /// Zero-filled parts of segments, to be backed on demand.
    pub regions: Vec<Region>,
    /// First address after the last segment, page-aligned: the heap starts here.
    pub heap_start: u64,
}

/// Largest total segment size we accept (the address space allows more, but
/// an absurd size is almost always a corrupt file).
const MAX_SEGMENT: u64 = 1 << 36;

struct LoadSegment {
    /// Its place in the program header table (for messages).
    index: usize,
    vaddr: u64,
    mem_size: u64,
    file: std::ops::Range<usize>,
    permissions: PteFlags,
}

/// Bytes of one ELF64 program header (`sizeof(Elf64_Phdr)`).
const PHDR_SIZE: u64 = 56;

/// What `parse` found: the segments in address order and what the
/// initial stack's auxiliary vector says.
struct Parsed {
    segments: Vec<LoadSegment>,
    entry: u64,
    phdr_vaddr: Option<u64>,
    phnum: u16,
}

/// Checks an ELF image and returns its loadable segments, sorted by
/// address. Every header field the loader uses is checked here, and the
/// overlap check sorts the segments and compares neighbours, so a file of
/// n segments costs O(n log n), not O(n²).
fn parse(bytes: &[u8]) -> Result<Parsed, LoadError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(LoadError::NotElf(
            "missing the \\x7fELF magic number".into(),
        ));
    }
    if bytes.len() < 64 {
        return Err(LoadError::NotElf(format!(
            "truncated header ({} bytes)",
            bytes.len()
        )));
    }
    if bytes[header::EI_CLASS] != header::ELFCLASS64 {
        return Err(LoadError::WrongClass(bytes[header::EI_CLASS]));
    }
    if bytes[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(LoadError::WrongEndianness);
    }
    let elf = Elf::parse_header(bytes).map_err(|e| LoadError::NotElf(e.to_string()))?;
    if elf.e_machine != header::EM_RISCV {
        return Err(LoadError::WrongMachine(elf.e_machine));
    }
    if elf.e_type != header::ET_EXEC {
        return Err(LoadError::NotExecutable(elf.e_type));
    }
    let bad_header = |field: &'static str, reason: String| LoadError::BadHeader { field, reason };
    if elf.e_phnum == 0 {
        return Err(LoadError::NoSegments);
    }
    // The loader reads the program headers as Elf64_Phdr: another entry
    // size would make it read garbage (System V ABI, "ELF Header").
    if u64::from(elf.e_phentsize) != PHDR_SIZE {
        return Err(bad_header(
            "e_phentsize",
            format!(
                "{} is not the size of an ELF64 program header ({PHDR_SIZE})",
                elf.e_phentsize
            ),
        ));
    }
    let table_end = u64::from(elf.e_phnum)
        .checked_mul(PHDR_SIZE)
        .and_then(|n| n.checked_add(elf.e_phoff));
    if table_end.is_none_or(|end| end > bytes.len() as u64) {
        return Err(bad_header(
            "e_phoff",
            format!(
                "truncated: {} program headers at offset {:#x} lie beyond the end of the file ({:#x} bytes)",
                elf.e_phnum,
                elf.e_phoff,
                bytes.len()
            ),
        ));
    }
    let ctx = goblin::container::Ctx::new(
        goblin::container::Container::Big,
        goblin::container::Endian::Little,
    );
    let headers = ProgramHeader::parse(bytes, elf.e_phoff as usize, elf.e_phnum as usize, ctx)
        .map_err(|e| bad_header("e_phoff", e.to_string()))?;
    let mut segments = Vec::new();
    let mut phdr_vaddr = None;
    for (index, ph) in headers.iter().enumerate() {
        if ph.p_type == program_header::PT_INTERP {
            return Err(LoadError::Dynamic);
        }
        if ph.p_type != program_header::PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let bad = |reason: String| LoadError::BadSegment { index, reason };
        if ph.p_filesz > ph.p_memsz {
            return Err(bad(format!(
                "p_filesz {:#x} is larger than p_memsz {:#x}",
                ph.p_filesz, ph.p_memsz
            )));
        }
        if ph.p_memsz > MAX_SEGMENT {
            return Err(bad(format!("absurd p_memsz {:#x}", ph.p_memsz)));
        }
        // System V ABI: p_align is 0 or 1 (no alignment) or a power of two.
        if ph.p_align > 1 && !ph.p_align.is_power_of_two() {
            return Err(bad(format!(
                "p_align {:#x} is not a power of two",
                ph.p_align
            )));
        }
        let end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or_else(|| {
            bad(format!(
                "p_vaddr {:#x} + p_memsz {:#x} overflows",
                ph.p_vaddr, ph.p_memsz
            ))
        })?;
        if ph.p_vaddr < USER_START || end > SHM_BASE {
            return Err(bad(format!(
                "range {:#x}..{:#x} is outside {USER_START:#x}..{SHM_BASE:#x}",
                ph.p_vaddr, end
            )));
        }
        let file_end = ph
            .p_offset
            .checked_add(ph.p_filesz)
            .filter(|&e| e <= bytes.len() as u64)
            .ok_or_else(|| {
                bad(format!(
                    "file bytes p_offset {:#x} + p_filesz {:#x} lie beyond the end of the file ({:#x} bytes): truncated?",
                    ph.p_offset,
                    ph.p_filesz,
                    bytes.len()
                ))
            })?;
        let mut permissions = PteFlags::USER;
        if ph.is_read() {
            permissions |= PteFlags::READ;
        }
        if ph.is_write() {
            permissions |= PteFlags::READ | PteFlags::WRITE;
        }
        if ph.is_executable() {
            permissions |= PteFlags::EXECUTE;
        }
        if ph.p_offset <= elf.e_phoff && elf.e_phoff < file_end {
            phdr_vaddr = Some(ph.p_vaddr + (elf.e_phoff - ph.p_offset));
        }
        segments.push(LoadSegment {
            index,
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            file: ph.p_offset as usize..file_end as usize,
            permissions: PteFlags(permissions),
        });
    }
    if segments.is_empty() {
        return Err(LoadError::NoSegments);
    }
    // Sorted by address, two segments overlap only if neighbours do.
    segments.sort_by_key(|s| s.vaddr);
    for pair in segments.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.vaddr < a.vaddr + a.mem_size {
            return Err(LoadError::Overlap(
                a.index.min(b.index),
                a.index.max(b.index),
            ));
        }
    }
    let entry = elf.e_entry;
    // The segment that may hold the entry: the last one starting at or
    // below it (binary search over the sorted list).
    let at = segments.partition_point(|s| s.vaddr <= entry);
    let entry_ok = at > 0 && {
        let s = &segments[at - 1];
        s.permissions.has(PteFlags::EXECUTE) && entry < s.vaddr + s.mem_size
    };
    if !entry_ok {
        return Err(LoadError::BadEntry(entry));
    }
    Ok(Parsed {
        segments,
        entry,
        phdr_vaddr,
        phnum: elf.e_phnum,
    })
}

impl std::ops::BitOrAssign<u8> for PteFlags {
    fn bitor_assign(&mut self, rhs: u8) {
        self.0 |= rhs;
    }
}

/// Frees every frame mapped in `page_table` (used when loading fails).
pub(crate) fn free_all(machine: &mut Machine, page_table: &PageTable) {
    for (_, pte) in page_table.entries() {
        machine.memory_mut().free(pte.frame);
    }
}

/// Maps `page` with a fresh zeroed frame, or finds the one already there
/// (two segments may share a page) and widens its permissions.
fn frame_for(
    machine: &mut Machine,
    page_table: &mut PageTable,
    page: VirtPage,
    permissions: PteFlags,
) -> Option<Frame> {
    if let Some(pte) = page_table.get(page) {
        let merged = PteFlags(pte.flags.permissions().0 | permissions.0);
        page_table.map(page, pte.frame, merged);
        return Some(pte.frame);
    }
    let frame = machine.memory_mut().alloc()?;
    page_table.map(page, frame, permissions);
    Some(frame)
}

/// The pages of `seg` that are loaded now, `first..end` (page-aligned):
/// those holding file bytes. Whole pages past them are the segment's
/// zero-filled tail (.bss), backed on demand.
fn eager_pages(seg: &LoadSegment) -> (u64, u64) {
    let file_len = (seg.file.end - seg.file.start) as u64;
    let first = page_round_down(seg.vaddr);
    if file_len == 0 {
        return (first, first);
    }
    (first, page_round_up(seg.vaddr + file_len))
}

/// Frames the segments need now: their eager pages, counting a page two
/// neighbouring segments share once (the segments are sorted and do not
/// overlap, so only neighbours can share a page).
fn frames_needed(segments: &[LoadSegment]) -> u64 {
    let mut needed = 0;
    let mut counted_up_to = 0;
    for seg in segments {
        let (first, end) = eager_pages(seg);
        let first = first.max(counted_up_to);
        if first < end {
            needed += (end - first) / PAGE_SIZE;
            counted_up_to = end;
        }
    }
    needed
}

/// Loads `bytes` with arguments `args` into a new address space.
///
/// # Errors
/// A `LoadError` naming what is wrong with the file, or that memory ran out
/// (with the number of frames the program needs).
pub fn load(
    machine: &mut Machine,
    bytes: &[u8],
    args: &[String],
) -> Result<LoadedImage, LoadError> {
    load_with(machine, bytes, args, &[], random_bytes(0))
}

/// `load` with an environment and the 16 bytes `AT_RANDOM` points to.
///
/// # Errors
/// As `load`.
pub fn load_with(
    machine: &mut Machine,
    bytes: &[u8],
    args: &[String],
    env: &[String],
    random: [u8; 16],
) -> Result<LoadedImage, LoadError> {
    let parsed = parse(bytes)?;
    let (stack_pointer, stack) = stack_image(
        args,
        env,
        random,
        parsed.entry,
        parsed.phdr_vaddr,
        parsed.phnum,
    )?;
    // Count first, so that a program too large fails before anything is
    // allocated and says how many frames it needs.
    let stack_pages = (page_round_up(STACK_TOP) - page_round_down(stack_pointer)) / PAGE_SIZE;
    let needed = frames_needed(&parsed.segments) + stack_pages;
    let free = u64::from(machine.memory().free_frames());
    if needed > free {
        return Err(LoadError::OutOfMemory { needed, free });
    }
    let out_of_memory = LoadError::OutOfMemory { needed, free };
    let mut page_table = PageTable::new();
    let mut regions = Vec::new();
    let mut heap_start = 0;
    let result = (|| {
        for seg in &parsed.segments {
            let file_end = seg.vaddr + (seg.file.end - seg.file.start) as u64;
            let (mut page, eager_end) = eager_pages(seg);
            while page < eager_end {
                let frame = frame_for(
                    machine,
                    &mut page_table,
                    VirtPage::containing(page),
                    seg.permissions,
                )
                .ok_or_else(|| out_of_memory.clone())?;
                let from = page.max(seg.vaddr);
                let to = (page + PAGE_SIZE).min(file_end);
                if from < to {
                    let src = seg.file.start + (from - seg.vaddr) as usize;
                    let dst = (from - page) as usize;
                    let n = (to - from) as usize;
                    machine.memory_mut().frame_bytes_mut(frame)[dst..dst + n]
                        .copy_from_slice(&bytes[src..src + n]);
                }
                page += PAGE_SIZE;
            }
            let end = page_round_up(seg.vaddr + seg.mem_size);
            if eager_end < end {
                regions.push(Region {
                    start: eager_end,
                    end,
                    permissions: seg.permissions,
                });
            }
            heap_start = heap_start.max(end);
        }
        write_stack(machine, &mut page_table, stack_pointer, &stack)
            .ok_or_else(|| out_of_memory.clone())
    })();
    match result {
        Ok(()) => Ok(LoadedImage {
            page_table,
            entry: parsed.entry,
            stack_pointer,
            regions,
            heap_start,
        }),
        Err(e) => {
            free_all(machine, &page_table);
            Err(e)
        }
    }
}

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// The user and group id every guest has (no `root` powers to pretend).
pub const GUEST_UID: u64 = 1000;
pub const GUEST_GID: u64 = 1000;

/// `AT_HWCAP`: one bit per single-letter extension, bit `letter - 'a'`
/// (Linux's riscv hwcap.h): I, M, A, F, D, C. (Zba/Zbb/Zbs have no
/// `AT_HWCAP` bits; Linux reports them through `riscv_hwprobe`.)
pub const HWCAP: u64 = {
    let mut bits = 0u64;
    let letters = *b"imafdc";
    let mut i = 0;
    while i < letters.len() {
        bits |= 1 << (letters[i] - b'a');
        i += 1;
    }
    bits
};

/// Linux's `sysconf(_SC_CLK_TCK)`: the unit of `times`.
pub const CLOCK_TICKS: u64 = 100;

/// 16 bytes from `seed` (splitmix64), what `AT_RANDOM` points to: glibc
/// takes its stack protector and pointer guard from them.
pub fn random_bytes(seed: u64) -> [u8; 16] {
    let mut state = seed;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    out[8..].copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    out
}

/// One step of splitmix64 (a small, well-mixed generator: Steele, Lea and
/// Flood, "Fast splittable pseudorandom number generators", 2014).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Largest argument block we place on the stack.
const MAX_ARG_BYTES: usize = 1024 * 1024;

/// The initial stack (module doc): its lowest address, `sp`, and its
/// bytes from `sp` up to `STACK_TOP`.
fn stack_image(
    args: &[String],
    env: &[String],
    random: [u8; 16],
    entry: u64,
    phdr: Option<u64>,
    phnum: u16,
) -> Result<(u64, Vec<u8>), LoadError> {
    // Strings and random bytes at the top, then the vectors below them.
    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    for a in args.iter().chain(env) {
        offsets.push(strings.len());
        strings.extend_from_slice(a.as_bytes());
        strings.push(0);
    }
    // AT_EXECFN: the program's name as it was started.
    let execfn_offset = strings.len();
    strings.extend_from_slice(args.first().map_or(&b""[..], |a| a.as_bytes()));
    strings.push(0);
    let random_offset = strings.len();
    strings.extend_from_slice(&random);
    if strings.len() > MAX_ARG_BYTES {
        return Err(LoadError::ArgumentsTooLarge);
    }
    let strings_at = (STACK_TOP - strings.len() as u64) & !15;
    let mut words: Vec<u64> = vec![args.len() as u64];
    let (arg_offsets, env_offsets) = offsets.split_at(args.len());
    words.extend(arg_offsets.iter().map(|&o| strings_at + o as u64));
    words.push(0); // end of argv
    words.extend(env_offsets.iter().map(|&o| strings_at + o as u64));
    words.push(0); // end of envp
    if let Some(phdr) = phdr {
        words.extend([
            AT_PHDR,
            phdr,
            AT_PHENT,
            PHDR_SIZE,
            AT_PHNUM,
            u64::from(phnum),
        ]);
    }
    words.extend([
        AT_PAGESZ,
        PAGE_SIZE,
        AT_BASE,
        0,
        AT_FLAGS,
        0,
        AT_ENTRY,
        entry,
        AT_UID,
        GUEST_UID,
        AT_EUID,
        GUEST_UID,
        AT_GID,
        GUEST_GID,
        AT_EGID,
        GUEST_GID,
        AT_HWCAP,
        HWCAP,
        AT_CLKTCK,
        CLOCK_TICKS,
        AT_RANDOM,
        strings_at + random_offset as u64,
        AT_SECURE,
        0,
        AT_EXECFN,
        strings_at + execfn_offset as u64,
    ]);
    words.extend([AT_NULL, 0]);
    let sp = (strings_at - 8 * words.len() as u64) & !15;
    let mut image = Vec::with_capacity((STACK_TOP - sp) as usize);
    for w in &words {
        image.extend_from_slice(&w.to_le_bytes());
    }
    image.resize((strings_at - sp) as usize, 0);
    image.extend_from_slice(&strings);
    Ok((sp, image))
}

/// Maps the stack pages and copies `image` to `sp`; `None` when frames
/// run out.
fn write_stack(
    machine: &mut Machine,
    page_table: &mut PageTable,
    sp: u64,
    image: &[u8],
) -> Option<()> {
    // Map the pages from the top down, as the stack grows into the pages
    // below later: the whole stack then lies in neighbouring frames
    // (`paging::alloc_frame_for`).
    let top = sp + image.len().saturating_sub(1) as u64;
    for page in (VirtPage::containing(sp).0..=VirtPage::containing(top).0).rev() {
        let page = VirtPage(page);
        if page_table.get(page).is_none() {
            let frame = alloc_frame_for(machine.memory_mut(), page)?;
            page_table.map(page, frame, PteFlags::USER_RW);
        }
    }
    let mut addr = sp;
    let mut at = 0usize;
    while at < image.len() {
        let page = page_round_down(addr);
        let frame = frame_for(
            machine,
            page_table,
            VirtPage::containing(page),
            PteFlags::USER_RW,
        )?;
        let off = (addr - page) as usize;
        let n = (PAGE_SIZE as usize - off).min(image.len() - at);
        machine.memory_mut().frame_bytes_mut(frame)[off..off + n]
            .copy_from_slice(&image[at..at + n]);
        at += n;
        addr += n as u64;
    }
    Some(())
}

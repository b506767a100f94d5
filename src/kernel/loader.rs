//! The ELF loader: validates an ELF64 RISC-V executable (through goblin),
//! maps its segments into a fresh page table and builds the Linux initial
//! stack, so that programs start as under Linux or qemu-riscv64.
//!
//! Initial stack (System V ABI for RISC-V; sp 16-byte aligned, lowest first):
//!
//! ```text
//! sp → argc
//!      argv[0] .. argv[argc-1], 0
//!      envp: 0                      (an empty environment)
//!      auxv: (AT_PHDR, ..) (AT_PHENT, ..) (AT_PHNUM, ..) (AT_PAGESZ, 4096)
//!            (AT_ENTRY, ..) (AT_RANDOM, ptr) (AT_NULL, 0)
//!      16 random bytes (fixed, for determinism), argument strings
//! STACK_TOP
//! ```

use goblin::elf::{header, program_header, Elf};

use super::process::Region;
use crate::abi::layout::*;
use crate::emu::{Frame, Machine, PageTable, PteFlags, VirtPage, PAGE_SIZE};

/// Why an executable was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    #[error("out of physical memory while loading ({0} frames needed)")]
    OutOfMemory(u64),
    #[error("arguments too large for the stack")]
    ArgumentsTooLarge,
    #[error("process {0} is not a guest kernel that can take children")]
    NoSupervisor(u64),
    #[error("there is no VM {0}")]
    NoVm(usize),
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
    vaddr: u64,
    mem_size: u64,
    file: std::ops::Range<usize>,
    permissions: PteFlags,
}

/// Checks an ELF image and returns its loadable segments.
fn parse(bytes: &[u8]) -> Result<(Vec<LoadSegment>, u64, Option<u64>, u16), LoadError> {
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
    // Say "truncated" for tables cut off by the end of the file, rather than
    // goblin's bare "bad offset".
    let tables = [
        ("program headers", elf.e_phoff, elf.e_phnum, elf.e_phentsize),
        ("section headers", elf.e_shoff, elf.e_shnum, elf.e_shentsize),
    ];
    for (what, offset, count, size) in tables {
        let end = u64::from(count)
            .checked_mul(u64::from(size))
            .and_then(|n| n.checked_add(offset));
        if count != 0 && end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(LoadError::NotElf(format!(
                "truncated: {what} at offset {offset:#x} lie beyond the end of the file ({:#x} bytes)",
                bytes.len()
            )));
        }
    }
    let elf = Elf::parse(bytes).map_err(|e| LoadError::NotElf(e.to_string()))?;
    let mut segments = Vec::new();
    let mut phdr_vaddr = None;
    for (index, ph) in elf.program_headers.iter().enumerate() {
        if ph.p_type == program_header::PT_INTERP {
            return Err(LoadError::Dynamic);
        }
        if ph.p_type != program_header::PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let bad = |reason: String| LoadError::BadSegment { index, reason };
        if ph.p_filesz > ph.p_memsz {
            return Err(bad(format!(
                "file size {:#x} is larger than memory size {:#x}",
                ph.p_filesz, ph.p_memsz
            )));
        }
        if ph.p_memsz > MAX_SEGMENT {
            return Err(bad(format!("absurd size {:#x}", ph.p_memsz)));
        }
        let end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or_else(|| {
            bad(format!(
                "address {:#x} + size {:#x} overflows",
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
                    "file bytes {:#x}+{:#x} lie beyond the end of the file ({:#x} bytes): truncated?",
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
        if ph.p_offset <= elf.header.e_phoff && elf.header.e_phoff < file_end {
            phdr_vaddr = Some(ph.p_vaddr + (elf.header.e_phoff - ph.p_offset));
        }
        segments.push(LoadSegment {
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            file: ph.p_offset as usize..file_end as usize,
            permissions: PteFlags(permissions),
        });
    }
    if segments.is_empty() {
        return Err(LoadError::NoSegments);
    }
    for (i, a) in segments.iter().enumerate() {
        for (j, b) in segments.iter().enumerate().skip(i + 1) {
            if a.vaddr < b.vaddr + b.mem_size && b.vaddr < a.vaddr + a.mem_size {
                return Err(LoadError::Overlap(i, j));
            }
        }
    }
    let entry = elf.entry;
    let entry_ok = segments.iter().any(|s| {
        s.permissions.has(PteFlags::EXECUTE) && entry >= s.vaddr && entry < s.vaddr + s.mem_size
    });
    if !entry_ok {
        return Err(LoadError::BadEntry(entry));
    }
    Ok((segments, entry, phdr_vaddr, elf.header.e_phnum))
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

/// Loads `bytes` with arguments `args` into a new address space.
///
/// # Errors
/// A `LoadError` naming what is wrong with the file, or that memory ran out.
pub fn load(
    machine: &mut Machine,
    bytes: &[u8],
    args: &[String],
) -> Result<LoadedImage, LoadError> {
    let (segments, entry, phdr, phnum) = parse(bytes)?;
    let mut page_table = PageTable::new();
    let mut regions = Vec::new();
    let mut heap_start = 0;
    let result = (|| {
        for seg in &segments {
            // File bytes are copied now; whole pages past them are the
            // segment's zero-filled tail (.bss), backed on demand.
            let file_len = (seg.file.end - seg.file.start) as u64;
            let file_end = seg.vaddr + file_len;
            let eager_end = if file_len == 0 {
                page_round_down(seg.vaddr)
            } else {
                page_round_up(file_end)
            };
            let mut page = page_round_down(seg.vaddr);
            while page < eager_end {
                let frame = frame_for(
                    machine,
                    &mut page_table,
                    VirtPage::containing(page),
                    seg.permissions,
                )
                .ok_or(LoadError::OutOfMemory(1))?;
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
        build_stack(machine, &mut page_table, args, entry, phdr, phnum)
    })();
    match result {
        Ok(stack_pointer) => Ok(LoadedImage {
            page_table,
            entry,
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
const AT_ENTRY: u64 = 9;
const AT_RANDOM: u64 = 25;

/// Largest argument block we place on the stack.
const MAX_ARG_BYTES: usize = 128 * 1024;

fn build_stack(
    machine: &mut Machine,
    page_table: &mut PageTable,
    args: &[String],
    entry: u64,
    phdr: Option<u64>,
    phnum: u16,
) -> Result<u64, LoadError> {
    // Strings and random bytes at the top, then the vectors below them.
    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    for a in args {
        offsets.push(strings.len());
        strings.extend_from_slice(a.as_bytes());
        strings.push(0);
    }
    let random_offset = strings.len();
    strings.extend_from_slice(b"sim-determinism!");
    if strings.len() > MAX_ARG_BYTES {
        return Err(LoadError::ArgumentsTooLarge);
    }
    let strings_at = (STACK_TOP - strings.len() as u64) & !15;
    let mut words: Vec<u64> = vec![args.len() as u64];
    words.extend(offsets.iter().map(|&o| strings_at + o as u64));
    words.push(0); // end of argv
    words.push(0); // empty envp
    if let Some(phdr) = phdr {
        words.extend([AT_PHDR, phdr, AT_PHENT, 56, AT_PHNUM, u64::from(phnum)]);
    }
    words.extend([
        AT_PAGESZ,
        PAGE_SIZE,
        AT_ENTRY,
        entry,
        AT_RANDOM,
        strings_at + random_offset as u64,
    ]);
    words.extend([AT_NULL, 0]);
    let sp = (strings_at - 8 * words.len() as u64) & !15;
    let mut image = Vec::with_capacity((STACK_TOP - sp) as usize);
    for w in &words {
        image.extend_from_slice(&w.to_le_bytes());
    }
    image.resize((strings_at - sp) as usize, 0);
    image.extend_from_slice(&strings);
    let mut addr = sp;
    let mut at = 0usize;
    while at < image.len() {
        let page = page_round_down(addr);
        let frame = frame_for(
            machine,
            page_table,
            VirtPage::containing(page),
            PteFlags::USER_RW,
        )
        .ok_or(LoadError::OutOfMemory(1))?;
        let off = (addr - page) as usize;
        let n = (PAGE_SIZE as usize - off).min(image.len() - at);
        machine.memory_mut().frame_bytes_mut(frame)[off..off + n]
            .copy_from_slice(&image[at..at + n]);
        at += n;
        addr += n as u64;
    }
    Ok(sp)
}

//! The ELF writer: turns segments and symbols into an ELF64 RISC-V
//! executable that `sim`, qemu-riscv64, objdump and gdb all read.
//!
//! Layout of the file it writes:
//!
//! ```text
//! 0x0000  ELF header (64 bytes)
//! 0x0040  program headers, one PT_LOAD per segment (56 bytes each)
//! ....    each segment's bytes, at a file offset congruent to its vaddr
//!         modulo 4096 (what the Linux loader, and qemu, require)
//! ....    extra sections that are not loaded (the DWARF .debug_*)
//! ....    .symtab, .strtab, .shstrtab
//! ....    section headers (null, one per segment, .bss parts, the extra
//!         sections, symtab, strtab, shstrtab)
//! ```

use goblin::elf::header::{EM_RISCV, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_LOAD};

/// Page size the segments are aligned to.
const PAGE: u64 = 4096;

/// Permissions of a loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentFlags {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl SegmentFlags {
    pub const CODE: SegmentFlags = SegmentFlags {
        read: true,
        write: false,
        execute: true,
    };
    pub const DATA: SegmentFlags = SegmentFlags {
        read: true,
        write: true,
        execute: false,
    };
    pub const RODATA: SegmentFlags = SegmentFlags {
        read: true,
        write: false,
        execute: false,
    };

    fn bits(self) -> u32 {
        (if self.read { PF_R } else { 0 })
            | (if self.write { PF_W } else { 0 })
            | (if self.execute { PF_X } else { 0 })
    }
}

/// One loadable segment: `data` at `vaddr`, followed by zeros up to
/// `mem_size` (the bss).
#[derive(Clone, Debug)]
pub struct Segment {
    pub vaddr: u64,
    pub data: Vec<u8>,
    pub mem_size: u64,
    pub flags: SegmentFlags,
}

/// A symbol for the symbol table (procedures and globals), so that objdump,
/// gdb and `sim --trace` can name addresses.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub is_function: bool,
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn pad_to(out: &mut Vec<u8>, offset: u64) {
    while (out.len() as u64) < offset {
        out.push(0);
    }
}

struct SectionHeader {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// A section that is not loaded (debug information): its name and bytes.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    pub data: Vec<u8>,
}

/// Writes an executable with the given entry point, segments and symbols.
/// Segments must not overlap (the caller lays them out); they are written
/// in the order given.
pub fn write_executable(entry: u64, segments: &[Segment], symbols: &[Symbol]) -> Vec<u8> {
    write_executable_with(entry, segments, symbols, &[])
}

/// As `write_executable`, plus `extra` sections that are not loaded (the
/// DWARF debug information), in the order given.
pub fn write_executable_with(
    entry: u64,
    segments: &[Segment],
    symbols: &[Symbol],
    extra: &[Section],
) -> Vec<u8> {
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let phoff = EHDR;
    let mut out = Vec::new();

    // Reserve the headers; fill the ELF header at the end when offsets are known.
    pad_to(&mut out, EHDR + PHDR * segments.len() as u64);

    // Segment contents.
    let mut offsets = Vec::with_capacity(segments.len());
    for seg in segments {
        let here = out.len() as u64;
        let mut offset = (here & !(PAGE - 1)) + (seg.vaddr & (PAGE - 1));
        if offset < here {
            offset += PAGE;
        }
        pad_to(&mut out, offset);
        out.extend_from_slice(&seg.data);
        offsets.push(offset);
    }

    // Program headers.
    let mut ph = Vec::new();
    for (seg, &offset) in segments.iter().zip(&offsets) {
        push_u32(&mut ph, PT_LOAD);
        push_u32(&mut ph, seg.flags.bits());
        push_u64(&mut ph, offset);
        push_u64(&mut ph, seg.vaddr);
        push_u64(&mut ph, seg.vaddr);
        push_u64(&mut ph, seg.data.len() as u64);
        push_u64(&mut ph, seg.mem_size.max(seg.data.len() as u64));
        push_u64(&mut ph, PAGE);
    }
    out[phoff as usize..phoff as usize + ph.len()].copy_from_slice(&ph);

    // String tables and the symbol table.
    let mut shstrtab = vec![0u8];
    let add_name = |table: &mut Vec<u8>, name: &str| -> u32 {
        let at = table.len() as u32;
        table.extend_from_slice(name.as_bytes());
        table.push(0);
        at
    };
    let mut sections = vec![SectionHeader {
        name: 0,
        kind: 0,
        flags: 0,
        addr: 0,
        offset: 0,
        size: 0,
        link: 0,
        info: 0,
        align: 0,
        entsize: 0,
    }];
    for (seg, &offset) in segments.iter().zip(&offsets) {
        let (name, flags) = if seg.flags.execute {
            (".text", 0x2 | 0x4) // SHF_ALLOC | SHF_EXECINSTR
        } else if seg.flags.write {
            (".data", 0x2 | 0x1) // SHF_ALLOC | SHF_WRITE
        } else {
            (".rodata", 0x2)
        };
        let name = add_name(&mut shstrtab, name);
        sections.push(SectionHeader {
            name,
            kind: 1, // SHT_PROGBITS
            flags,
            addr: seg.vaddr,
            offset,
            size: seg.data.len() as u64,
            link: 0,
            info: 0,
            align: 8,
            entsize: 0,
        });
        if seg.mem_size > seg.data.len() as u64 {
            let name = add_name(&mut shstrtab, ".bss");
            sections.push(SectionHeader {
                name,
                kind: 8, // SHT_NOBITS
                flags: 0x2 | 0x1,
                addr: seg.vaddr + seg.data.len() as u64,
                offset: offset + seg.data.len() as u64,
                size: seg.mem_size - seg.data.len() as u64,
                link: 0,
                info: 0,
                align: 8,
                entsize: 0,
            });
        }
    }

    let section_of = |value: u64| -> u16 {
        sections
            .iter()
            .position(|s| s.kind != 0 && value >= s.addr && value < s.addr + s.size.max(1))
            .map_or(0xfff1, |i| i as u16) // SHN_ABS when outside every section
    };
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24]; // the null symbol
    for sym in symbols {
        let name = add_name(&mut strtab, &sym.name);
        push_u32(&mut symtab, name);
        let kind = if sym.is_function { 2 } else { 1 }; // STT_FUNC / STT_OBJECT
        symtab.push((1 << 4) | kind); // STB_GLOBAL
        symtab.push(0);
        push_u16(&mut symtab, section_of(sym.value));
        push_u64(&mut symtab, sym.value);
        push_u64(&mut symtab, sym.size);
    }

    for section in extra {
        let name = add_name(&mut shstrtab, &section.name);
        let offset = out.len() as u64;
        out.extend_from_slice(&section.data);
        sections.push(SectionHeader {
            name,
            kind: 1, // SHT_PROGBITS, without SHF_ALLOC: not loaded
            flags: 0,
            addr: 0,
            offset,
            size: section.data.len() as u64,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        });
    }

    let symtab_index = sections.len() as u32;
    let symtab_name = add_name(&mut shstrtab, ".symtab");
    let strtab_name = add_name(&mut shstrtab, ".strtab");
    let shstrtab_name = add_name(&mut shstrtab, ".shstrtab");

    let aligned = (out.len() as u64 + 7) & !7;
    pad_to(&mut out, aligned);
    let symtab_offset = out.len() as u64;
    out.extend_from_slice(&symtab);
    sections.push(SectionHeader {
        name: symtab_name,
        kind: 2, // SHT_SYMTAB
        flags: 0,
        addr: 0,
        offset: symtab_offset,
        size: symtab.len() as u64,
        link: symtab_index + 1,
        info: 1, // index of the first global symbol
        align: 8,
        entsize: 24,
    });
    let strtab_offset = out.len() as u64;
    out.extend_from_slice(&strtab);
    sections.push(SectionHeader {
        name: strtab_name,
        kind: 3, // SHT_STRTAB
        flags: 0,
        addr: 0,
        offset: strtab_offset,
        size: strtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    let shstrtab_offset = out.len() as u64;
    out.extend_from_slice(&shstrtab);
    let shstrndx = sections.len() as u16;
    sections.push(SectionHeader {
        name: shstrtab_name,
        kind: 3,
        flags: 0,
        addr: 0,
        offset: shstrtab_offset,
        size: shstrtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });

    let aligned = (out.len() as u64 + 7) & !7;
    pad_to(&mut out, aligned);
    let shoff = out.len() as u64;
    for s in &sections {
        push_u32(&mut out, s.name);
        push_u32(&mut out, s.kind);
        push_u64(&mut out, s.flags);
        push_u64(&mut out, s.addr);
        push_u64(&mut out, s.offset);
        push_u64(&mut out, s.size);
        push_u32(&mut out, s.link);
        push_u32(&mut out, s.info);
        push_u64(&mut out, s.align);
        push_u64(&mut out, s.entsize);
    }

    // ELF header (System V ABI, "ELF Header").
    let mut eh = Vec::with_capacity(64);
    eh.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]); // ELFCLASS64, LSB, version 1, SYSV
    eh.extend_from_slice(&[0; 8]);
    push_u16(&mut eh, ET_EXEC);
    push_u16(&mut eh, EM_RISCV);
    push_u32(&mut eh, 1);
    push_u64(&mut eh, entry);
    push_u64(&mut eh, phoff);
    push_u64(&mut eh, shoff);
    push_u32(&mut eh, 0); // e_flags: soft-float ABI, no RVC in our own output
    push_u16(&mut eh, EHDR as u16);
    push_u16(&mut eh, PHDR as u16);
    push_u16(&mut eh, segments.len() as u16);
    push_u16(&mut eh, 64);
    push_u16(&mut eh, sections.len() as u16);
    push_u16(&mut eh, shstrndx);
    out[..64].copy_from_slice(&eh);
    out
}

//! The last step: a resolved `Image` → ELF64 bytes, through
//! `toolchain::elf::write_executable`: one segment per non-empty section
//! (`.text` always), a symbol per named label, and the entry at `_start`
//! if it is defined, else at the start of `.text`.

use super::items::Section;
use super::layout::{Image, TEXT_BASE};
use crate::toolchain::elf::{write_executable, Segment, SegmentFlags, Symbol};

pub fn link(image: Image) -> Vec<u8> {
    let entry = image.address("_start").unwrap_or(TEXT_BASE);
    let symbols = symbols(&image);
    let Image {
        contents,
        bss_size,
        bases,
        ..
    } = image;
    let mut segments = Vec::new();
    // Text, rodata and data, in the order of `Section::index`.
    let flags = [SegmentFlags::CODE, SegmentFlags::RODATA, SegmentFlags::DATA];
    for (i, data) in contents.into_iter().enumerate() {
        if !data.is_empty() || i == Section::Text.index() {
            segments.push(Segment {
                vaddr: bases[i],
                mem_size: data.len() as u64,
                data,
                flags: flags[i],
            });
        }
    }
    if bss_size > 0 {
        segments.push(Segment {
            vaddr: bases[Section::Bss.index()],
            data: Vec::new(),
            mem_size: bss_size,
            flags: SegmentFlags::DATA,
        });
    }
    write_executable(entry, &segments, &symbols)
}

/// A symbol per label, in definition order; numeric local labels stay out
/// of the symbol table, as with GNU as.
fn symbols(image: &Image) -> Vec<Symbol> {
    image
        .label_order
        .iter()
        .filter(|name| !name.contains(':'))
        .filter_map(|name| {
            let location = image.labels.get(name)?;
            Some(Symbol {
                name: name.clone(),
                value: image.bases[location.section.index()] + location.offset,
                size: 0,
                is_function: location.section == Section::Text,
            })
        })
        .collect()
}

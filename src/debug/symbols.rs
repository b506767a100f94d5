//! `Symbols`: what an ELF file says about its own code, read once per
//! loaded image and only when something asks (a crash report, a trace
//! window, a breakpoint by name): the symbol table (functions and globals),
//! the DWARF line table (address ↔ `file:line`, through the `addr2line`
//! crate and gimli's line-program reader) and the call-frame information
//! (`.debug_frame` as sim's C* compiler writes it, `.eh_frame` as gcc does)
//! for backtraces.
//!
//! Everything here reads what the file says and never trusts it: a broken
//! or missing section means "no lines" or "no unwind rule", never a panic.
//!
//! Unwinding (`Symbols::backtrace`) tries, for each frame: the DWARF CFI
//! row for the pc (the canonical frame address CFA = a register + an
//! offset, and where `ra` and `s0` were saved relative to the CFA); without
//! one, C*'s own frame layout (src/toolchain/cstar/codegen.rs: `s0` points
//! at the saved `s0`, the return address is at `s0 + 8`).

use std::rc::Rc;

use gimli::read::{EndianRcSlice, Reader as _};
use gimli::{
    BaseAddresses, CfaRule, DebugFrame, EhFrame, EndianSlice, LittleEndian, Register, RegisterRule,
    RunTimeEndian, UnwindContext, UnwindSection,
};
use goblin::elf::section_header::{SHF_EXECINSTR, SHT_NOBITS};
use goblin::elf::{sym, Elf};

type Reader = EndianRcSlice<RunTimeEndian>;

/// A named address range: a function or a global variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub address: u64,
    /// Bytes it covers (for a function whose symbol has no size: up to the
    /// next function).
    pub size: u64,
}

impl Symbol {
    /// Whether `address` lies inside it.
    pub fn contains(&self, address: u64) -> bool {
        address >= self.address && address - self.address < self.size.max(1)
    }
}

/// A source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The file as the compiler named it (`loop.c`, `/tmp/x/crash.c`).
    pub file: String,
    pub line: u32,
}

impl Line {
    /// `loop.c:7`: the file's last path component and the line.
    pub fn short(&self) -> String {
        let name = self.file.rsplit('/').next().unwrap_or(&self.file);
        format!("{name}:{}", self.line)
    }
}

/// One row of the line table: code at `address` belongs to `line`.
#[derive(Clone, Debug)]
struct Row {
    address: u64,
    file: Rc<str>,
    line: u32,
    is_stmt: bool,
}

/// Which call-frame section the image has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CfiKind {
    DebugFrame,
    EhFrame,
}

/// A call-frame section's bytes and where it is loaded.
struct Cfi {
    kind: CfiKind,
    bytes: Vec<u8>,
    address: u64,
    text: u64,
}

/// One frame of a backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The frame's pc: the faulting instruction for frame 0, the return
    /// address for the others.
    pub pc: u64,
    /// The caller's stack pointer (the CFA) when it was known.
    pub cfa: Option<u64>,
}

/// The symbols, lines and unwind information of one ELF image.
pub struct Symbols {
    /// Functions, sorted by address.
    functions: Vec<Symbol>,
    /// Global variables (`STT_OBJECT`), sorted by address.
    globals: Vec<Symbol>,
    /// `.debug_line` rows, sorted by address (end-of-sequence rows dropped).
    rows: Vec<Row>,
    lines: Option<addr2line::Context<Reader>>,
    cfi: Option<Cfi>,
    entry: u64,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbols")
            .field("functions", &self.functions.len())
            .field("globals", &self.globals.len())
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl Symbols {
    /// Reads the symbols of an ELF image.
    ///
    /// # Errors
    /// When the bytes are not an ELF file goblin can parse. Missing or
    /// broken debug sections are not an error: lookups then find less.
    pub fn parse(bytes: &[u8]) -> Result<Symbols, String> {
        let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let section = |name: &str| -> Option<(&[u8], u64)> {
            let header = elf
                .section_headers
                .iter()
                .find(|h| elf.shdr_strtab.get_at(h.sh_name) == Some(name))?;
            if header.sh_type == SHT_NOBITS {
                return None;
            }
            let start = usize::try_from(header.sh_offset).ok()?;
            let end = start.checked_add(usize::try_from(header.sh_size).ok()?)?;
            Some((bytes.get(start..end)?, header.sh_addr))
        };
        let (mut functions, mut globals) = (Vec::new(), Vec::new());
        for s in elf.syms.iter() {
            let Some(name) = elf.strtab.get_at(s.st_name).filter(|n| !n.is_empty()) else {
                continue;
            };
            let symbol = Symbol {
                name: name.to_string(),
                address: s.st_value,
                size: s.st_size,
            };
            match s.st_type() {
                sym::STT_FUNC => functions.push(symbol),
                sym::STT_OBJECT => globals.push(symbol),
                _ => {}
            }
        }
        for list in [&mut functions, &mut globals] {
            list.sort_by(|a, b| a.address.cmp(&b.address).then(a.name.cmp(&b.name)));
            list.dedup_by(|b, a| a.address == b.address && a.name == b.name);
        }
        // A function without a size (an assembly label) reaches up to the
        // next one, the last up to the end of its section.
        let section_end = |address: u64| {
            elf.section_headers
                .iter()
                .filter(|h| h.sh_flags & u64::from(SHF_EXECINSTR) != 0)
                .find(|h| address >= h.sh_addr && address - h.sh_addr < h.sh_size)
                .map(|h| h.sh_addr + h.sh_size)
        };
        for i in 0..functions.len() {
            if functions[i].size == 0 {
                let address = functions[i].address;
                let next = functions[i + 1..]
                    .iter()
                    .map(|f| f.address)
                    .find(|&a| a > address)
                    .or_else(|| section_end(address));
                functions[i].size = next.map_or(4, |n| n - address);
            }
        }
        let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
            let data = section(id.name()).map_or(&[][..], |(data, _)| data);
            Ok(EndianRcSlice::new(Rc::from(data), RunTimeEndian::Little))
        })
        .ok();
        let rows = dwarf.as_ref().map(line_rows).unwrap_or_default();
        let lines = dwarf.and_then(|d| addr2line::Context::from_dwarf(d).ok());
        let text = section(".text").map_or(0, |(_, a)| a);
        let cfi = section(".debug_frame")
            .map(|(b, a)| (CfiKind::DebugFrame, b, a))
            .or_else(|| section(".eh_frame").map(|(b, a)| (CfiKind::EhFrame, b, a)))
            .map(|(kind, bytes, address)| Cfi {
                kind,
                bytes: bytes.to_vec(),
                address,
                text,
            });
        Ok(Symbols {
            functions,
            globals,
            rows,
            lines,
            cfi,
            entry: elf.entry,
        })
    }

    /// The entry point.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The functions, by address.
    pub fn functions(&self) -> &[Symbol] {
        &self.functions
    }

    /// The global variables, by address.
    pub fn globals(&self) -> &[Symbol] {
        &self.globals
    }

    /// Whether the image has a DWARF line table.
    pub fn has_lines(&self) -> bool {
        !self.rows.is_empty()
    }

    /// The function `address` lies in.
    pub fn function_at(&self, address: u64) -> Option<&Symbol> {
        let i = self.functions.partition_point(|f| f.address <= address);
        self.functions[..i]
            .iter()
            .rev()
            .take(4)
            .find(|f| f.contains(address))
    }

    /// `address` as `function+0x10` (`function` at offset 0), or `None`
    /// outside every function.
    pub fn function_offset(&self, address: u64) -> Option<String> {
        let f = self.function_at(address)?;
        Some(match address - f.address {
            0 => f.name.clone(),
            offset => format!("{}+{offset:#x}", f.name),
        })
    }

    /// The source line of the code at `address`.
    pub fn line_at(&self, address: u64) -> Option<Line> {
        let location = self.lines.as_ref()?.find_location(address).ok()??;
        Some(Line {
            file: location.file?.to_string(),
            line: location.line?,
        })
    }

    /// `function+0x10 (file.c:7)`, whatever of it is known; the address in
    /// hex when nothing is.
    pub fn describe(&self, address: u64) -> String {
        let function = self.function_offset(address);
        let line = self.line_at(address).map(|l| l.short());
        match (function, line) {
            (Some(f), Some(l)) => format!("{f} ({l})"),
            (Some(f), None) => f,
            (None, Some(l)) => format!("{address:#x} ({l})"),
            (None, None) => format!("{address:#x}"),
        }
    }

    /// The function named `name`.
    pub fn function(&self, name: &str) -> Option<&Symbol> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The global variable named `name`.
    pub fn global(&self, name: &str) -> Option<&Symbol> {
        self.globals.iter().find(|g| g.name == name)
    }

    /// Where a breakpoint on function `name` goes, as gdb places it: after
    /// the prologue, at the second line-table row of the function (the
    /// first statement of its body), or at its first instruction when the
    /// line table says nothing.
    pub fn breakpoint_address(&self, name: &str) -> Option<u64> {
        let f = self.function(name)?;
        let mut in_function = self
            .rows
            .iter()
            .filter(|r| r.is_stmt && f.contains(r.address))
            .map(|r| r.address);
        let first = in_function.next();
        let second = in_function.find(|&a| Some(a) != first);
        Some(second.unwrap_or(f.address))
    }

    /// The first address of code for `line` of `file` (matched by its
    /// last path component, or whole); if no code belongs to that line,
    /// the next line with code, as gdb does.
    pub fn line_address(&self, file: &str, line: u32) -> Option<u64> {
        let matches = |r: &Row| {
            let name = r.file.rsplit('/').next().unwrap_or(&r.file);
            r.is_stmt && (name == file || &*r.file == file)
        };
        let best_line = self
            .rows
            .iter()
            .filter(|r| matches(r) && r.line >= line)
            .map(|r| r.line)
            .min()?;
        self.rows
            .iter()
            .filter(|r| matches(r) && r.line == best_line)
            .map(|r| r.address)
            .min()
    }

    /// Resolves what a user types for a code location: `main`, `loop.c:7`,
    /// `*0x100b0` or `0x100b0`.
    pub fn resolve_location(&self, text: &str) -> Option<u64> {
        let text = text.trim();
        if let Some(address) = parse_address(text.trim_start_matches('*')) {
            return Some(address);
        }
        if let Some((file, line)) = text.rsplit_once(':') {
            return self.line_address(file, line.parse().ok()?);
        }
        self.breakpoint_address(text)
    }

    /// The frames of a stack, innermost first, at most `limit`: `pc` and
    /// the registers `sp`, `s0` and `ra`, and `read` for the 8 bytes at a
    /// stack address. Stops where no rule applies or the stack leaves the
    /// image's functions.
    pub fn backtrace(
        &self,
        mut pc: u64,
        mut sp: u64,
        mut fp: u64,
        ra: u64,
        read: &dyn Fn(u64) -> Option<u64>,
        limit: usize,
    ) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut ra = Some(ra);
        while frames.len() < limit && self.function_at(pc).is_some() {
            // A return address points after the call: look it up at the call.
            let probe = if frames.is_empty() { pc } else { pc - 1 };
            let unwound = self
                .unwind_cfi(probe, sp, fp, ra, read)
                .or_else(|| cstar_unwind(fp, read));
            let Some((cfa, next_pc, next_fp)) = unwound else {
                frames.push(Frame { pc, cfa: None });
                break;
            };
            frames.push(Frame { pc, cfa: Some(cfa) });
            if next_pc == 0 || (next_pc == pc && cfa == sp) {
                break;
            }
            (pc, sp, fp, ra) = (next_pc, cfa, next_fp, None);
        }
        frames
    }

    /// One step of CFI unwinding: (CFA, return address, caller's `s0`).
    fn unwind_cfi(
        &self,
        probe: u64,
        sp: u64,
        fp: u64,
        ra: Option<u64>,
        read: &dyn Fn(u64) -> Option<u64>,
    ) -> Option<(u64, u64, u64)> {
        let cfi = self.cfi.as_ref()?;
        let data = EndianSlice::new(&cfi.bytes, LittleEndian);
        let mut ctx = UnwindContext::new();
        let row = match cfi.kind {
            CfiKind::DebugFrame => {
                let mut section = DebugFrame::new(&cfi.bytes, LittleEndian);
                section.set_address_size(8);
                let bases = BaseAddresses::default();
                section
                    .unwind_info_for_address(&bases, &mut ctx, probe, DebugFrame::cie_from_offset)
                    .ok()?
                    .clone()
            }
            CfiKind::EhFrame => {
                let section = EhFrame::from(data);
                let bases = BaseAddresses::default()
                    .set_eh_frame(cfi.address)
                    .set_text(cfi.text);
                section
                    .unwind_info_for_address(&bases, &mut ctx, probe, EhFrame::cie_from_offset)
                    .ok()?
                    .clone()
            }
        };
        let value_of = |r: Register| match r.0 {
            2 => Some(sp),
            8 => Some(fp),
            1 => ra,
            _ => None,
        };
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                value_of(*register)?.wrapping_add_signed(*offset)
            }
            CfaRule::Expression(_) => return None,
        };
        let restore = |r: u16, current: Option<u64>| match row.register(Register(r)) {
            Some(RegisterRule::Offset(offset)) => read(cfa.wrapping_add_signed(offset)),
            None | Some(RegisterRule::SameValue | RegisterRule::Undefined) => current,
            Some(_) => None,
        };
        let next_pc = restore(1, ra)?;
        let next_fp = restore(8, Some(fp)).unwrap_or(fp);
        Some((cfa, next_pc, next_fp))
    }
}

/// C*'s frame (codegen.rs): `s0` points at the caller's `s0`, the return
/// address is above it, and the caller's stack pointer above that.
fn cstar_unwind(fp: u64, read: &dyn Fn(u64) -> Option<u64>) -> Option<(u64, u64, u64)> {
    let ra = read(fp.checked_add(8)?)?;
    let caller_fp = read(fp)?;
    Some((fp + 16, ra, caller_fp))
}

/// `0x100b0` or `65712`.
pub fn parse_address(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Every row of every line program, sorted by address.
fn line_rows(dwarf: &gimli::Dwarf<Reader>) -> Vec<Row> {
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        let mut files: Vec<Option<Rc<str>>> = Vec::new();
        let mut rows = program.rows();
        while let Ok(Some((header, row))) = rows.next_row() {
            if row.end_sequence() {
                continue;
            }
            let Some(line) = row.line() else {
                continue;
            };
            let index = row.file_index() as usize;
            if files.len() <= index {
                files.resize(index + 1, None);
            }
            if files[index].is_none() {
                files[index] = row.file(header).and_then(|entry| {
                    let name = dwarf.attr_string(&unit, entry.path_name()).ok()?;
                    let name = name.to_string_lossy().ok()?.into_owned();
                    let dir = entry
                        .directory(header)
                        .and_then(|d| dwarf.attr_string(&unit, d).ok())
                        .and_then(|d| d.to_string_lossy().ok().map(|d| d.into_owned()));
                    Some(Rc::from(match dir {
                        Some(dir) if !name.starts_with('/') && !dir.is_empty() => {
                            format!("{dir}/{name}")
                        }
                        _ => name,
                    }))
                });
            }
            let Some(file) = files[index].clone() else {
                continue;
            };
            out.push(Row {
                address: row.address(),
                file,
                line: line.get() as u32,
                is_stmt: row.is_stmt(),
            });
        }
    }
    out.sort_by_key(|r| r.address);
    out
}

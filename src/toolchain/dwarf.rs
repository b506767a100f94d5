//! The debug-information writer: a compiled program's source lines,
//! procedures, variables and frames → the DWARF sections of its ELF file
//! (`.debug_info`, `.debug_abbrev`, `.debug_line`, `.debug_ranges`,
//! `.debug_str`, `.debug_frame`), so that gdb, `addr2line` and
//! `objdump -dl` understand what the C* compiler wrote.
//!
//! How control flows: the compiler's driver fills a [`DebugInfo`] (one
//! [`CompileUnit`] per source file, addresses already laid out) and calls
//! [`sections`], which builds the DWARF with the `gimli` crate's writer
//! and returns each section's bytes for `elf::write_executable_with`.
//!
//! ```text
//!  DebugInfo ──► gimli::write::Dwarf: per unit a DW_TAG_compile_unit with
//!   units          base types (uint64_t, uint64_t*, char, char*),
//!                  DW_TAG_variable per global (DW_OP_addr),
//!                  DW_TAG_subprogram per function (low/high pc, frame
//!                  base s0) with its DW_TAG_formal_parameter and
//!                  DW_TAG_variable children (DW_OP_fbreg), and a line
//!                  program with one sequence per function
//!           └──► gimli::write::FrameTable: one FDE per function (.debug_frame)
//! ```
//!
//! DWARF 4 (DWARF Debugging Information Format, version 4), the version
//! every binutils and gdb of the last decade reads. RISC-V's DWARF
//! register numbers are its x register numbers (RISC-V ELF psABI, "DWARF
//! Register Numbers"): `ra` = 1, `sp` = 2, `s0` = 8.

use gimli::write::{
    Address, AttributeValue, CallFrameInstruction, CommonInformationEntry, DebugFrame,
    DebuggingInformationEntry, EndianVec, Expression, FileId, FrameDescriptionEntry, FrameTable,
    LineProgram, LineString, Range, RangeList, Sections, Unit, UnitEntryId,
};
use gimli::{constants, Encoding, Format, LineEncoding, LittleEndian, Register};

const RA: Register = Register(1);
const SP: Register = Register(2);
const S0: Register = Register(8);

/// The types a C* value can have, as a debugger shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `uint64_t`
    Uint64,
    /// `uint64_t*`
    Uint64Pointer,
    /// `char*`: bytes, shown as a C string.
    CharPointer,
}

/// Where a variable lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// At a fixed address (a global).
    Static(u64),
    /// At this offset from the frame base, `s0` (a parameter or local).
    Frame(i64),
}

#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub ty: ValueType,
    pub decl_line: u32,
    pub location: Location,
}

/// How a function keeps its frame: what the call-frame information says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The C* convention (cstar::codegen): the prologue is
    /// `addi sp,sp,-16; sd ra,8(sp); sd s0,0(sp); addi s0,sp,0` at the
    /// function's first address, the epilogue at `epilogue` is
    /// `addi sp,s0,0; ld ra,8(sp); ld s0,0(sp); addi sp,sp,16; jalr`.
    /// In between the frame's address (CFA) is `s0 + 16`.
    FramePointer { epilogue: u64 },
    /// A leaf that never touches the stack (a built-in stub): CFA = sp,
    /// the return address stays in `ra`.
    Leaf,
}

/// One function: its code range, source lines and variables.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub low_pc: u64,
    /// Just past its last instruction.
    pub high_pc: u64,
    pub decl_line: u32,
    /// `None` for `void`.
    pub returns: Option<ValueType>,
    pub params: Vec<Variable>,
    pub locals: Vec<Variable>,
    /// (address, line) in ascending order of addresses, all within
    /// `low_pc..high_pc`, the first at `low_pc`.
    pub lines: Vec<(u64, u32)>,
    pub frame: Frame,
}

/// One source file.
#[derive(Clone, Debug)]
pub struct CompileUnit {
    /// The file's name as the compiler was given it.
    pub name: String,
    pub functions: Vec<Function>,
    pub globals: Vec<Variable>,
}

/// Everything the debug information says about a program.
#[derive(Clone, Debug)]
pub struct DebugInfo {
    /// The directory relative names are relative to (`DW_AT_comp_dir`);
    /// `None`: the debugger's current directory.
    pub comp_dir: Option<String>,
    /// `DW_AT_producer`.
    pub producer: String,
    pub units: Vec<CompileUnit>,
    /// Code without source (`_start`, stubs): (start, end), for the
    /// call-frame information only.
    pub leaves: Vec<(u64, u64)>,
}

/// A DWARF section: its name (`.debug_info`, ...) and bytes.
pub type DebugSection = (&'static str, Vec<u8>);

const ENCODING: Encoding = Encoding {
    format: Format::Dwarf32,
    version: 4,
    address_size: 8,
};

/// A string gimli accepts as a file or directory name: no NUL, not empty
/// (gimli's `LineProgram::new` panics on either; names come from users).
fn clean_name(name: &str) -> Vec<u8> {
    let bytes: Vec<u8> = name
        .bytes()
        .map(|b| if b == 0 { b'?' } else { b })
        .collect();
    if bytes.is_empty() {
        b"<unnamed>".to_vec()
    } else {
        bytes
    }
}

/// The DWARF sections describing `info`, in a fixed order, deterministic
/// for the same input.
///
/// # Errors
/// gimli's message when it cannot encode something (a bug, or absurd
/// input such as a function larger than 4 GiB).
pub fn sections(info: &DebugInfo) -> Result<Vec<DebugSection>, String> {
    let mut dwarf = gimli::write::Dwarf::new();
    let comp_dir = info.comp_dir.as_deref().map(clean_name);
    for cu in &info.units {
        let unit = compile_unit(cu, comp_dir.as_deref(), &info.producer)?;
        dwarf.units.add(unit);
    }
    let mut sections = Sections::new(EndianVec::new(LittleEndian));
    dwarf
        .write(&mut sections)
        .map_err(|e| format!("cannot write the debug information: {e}"))?;

    let mut out = Vec::new();
    sections
        .for_each(|id, data| -> Result<(), String> {
            if !data.slice().is_empty() {
                out.push((id.name(), data.slice().to_vec()));
            }
            Ok(())
        })
        .map_err(|e| format!("cannot write the debug information: {e}"))?;

    let mut frame = DebugFrame(EndianVec::new(LittleEndian));
    frame_table(info)?
        .write_debug_frame(&mut frame)
        .map_err(|e| format!("cannot write the call-frame information: {e}"))?;
    out.push((".debug_frame", frame.0.into_vec()));
    Ok(out)
}

/// The base and pointer types one unit's entries refer to.
struct Types {
    uint64: UnitEntryId,
    uint64_pointer: UnitEntryId,
    char_pointer: UnitEntryId,
}

impl Types {
    fn add(unit: &mut Unit) -> Types {
        let root = unit.root();
        let base = |unit: &mut Unit, name: &str, encoding, size| {
            let id = unit.add(root, constants::DW_TAG_base_type);
            let entry = unit.get_mut(id);
            entry.set(constants::DW_AT_name, AttributeValue::String(name.into()));
            entry.set(
                constants::DW_AT_encoding,
                AttributeValue::Encoding(encoding),
            );
            entry.set(constants::DW_AT_byte_size, AttributeValue::Data1(size));
            id
        };
        let pointer = |unit: &mut Unit, to| {
            let id = unit.add(root, constants::DW_TAG_pointer_type);
            let entry = unit.get_mut(id);
            entry.set(constants::DW_AT_byte_size, AttributeValue::Data1(8));
            entry.set(constants::DW_AT_type, AttributeValue::UnitRef(to));
            id
        };
        let uint64 = base(unit, "uint64_t", constants::DW_ATE_unsigned, 8);
        let character = base(unit, "char", constants::DW_ATE_unsigned_char, 1);
        Types {
            uint64,
            uint64_pointer: pointer(unit, uint64),
            char_pointer: pointer(unit, character),
        }
    }

    fn of(&self, ty: ValueType) -> UnitEntryId {
        match ty {
            ValueType::Uint64 => self.uint64,
            ValueType::Uint64Pointer => self.uint64_pointer,
            ValueType::CharPointer => self.char_pointer,
        }
    }
}

fn compile_unit(cu: &CompileUnit, comp_dir: Option<&[u8]>, producer: &str) -> Result<Unit, String> {
    let name = clean_name(&cu.name);
    let working_dir = comp_dir.unwrap_or(b".").to_vec();
    let mut lines = LineProgram::new(
        ENCODING,
        LineEncoding::default(),
        LineString::String(working_dir),
        None,
        LineString::String(name.clone()),
        None,
    );
    let directory = lines.default_directory();
    let file = lines.add_file(LineString::String(name.clone()), directory, None);
    for f in &cu.functions {
        line_sequence(&mut lines, file, f);
    }

    let mut unit = Unit::new(ENCODING, lines);
    let types = Types::add(&mut unit);
    let ranges = RangeList(
        cu.functions
            .iter()
            .map(|f| Range::StartLength {
                begin: Address::Constant(f.low_pc),
                length: f.high_pc.saturating_sub(f.low_pc),
            })
            .collect(),
    );
    let ranges = unit.ranges.add(ranges);
    let root = unit.root();
    let entry = unit.get_mut(root);
    entry.set(constants::DW_AT_name, AttributeValue::String(name));
    if let Some(dir) = comp_dir {
        entry.set(
            constants::DW_AT_comp_dir,
            AttributeValue::String(dir.to_vec()),
        );
    }
    entry.set(
        constants::DW_AT_producer,
        AttributeValue::String(producer.as_bytes().to_vec()),
    );
    entry.set(
        constants::DW_AT_language,
        AttributeValue::Language(constants::DW_LANG_C99),
    );
    entry.set(
        constants::DW_AT_low_pc,
        AttributeValue::Address(Address::Constant(0)),
    );
    entry.set(
        constants::DW_AT_ranges,
        AttributeValue::RangeListRef(ranges),
    );

    for global in &cu.globals {
        let id = add_variable(
            &mut unit,
            root,
            constants::DW_TAG_variable,
            global,
            file,
            &types,
        );
        unit.get_mut(id)
            .set(constants::DW_AT_external, AttributeValue::FlagPresent);
    }
    for f in &cu.functions {
        add_function(&mut unit, f, file, &types)?;
    }
    Ok(unit)
}

/// One sequence of rows per function: `begin_sequence` at its first
/// address, a row wherever the line changes, `end_sequence` at its end.
fn line_sequence(lines: &mut LineProgram, file: FileId, f: &Function) {
    lines.begin_sequence(Some(Address::Constant(f.low_pc)));
    let mut previous = None;
    for &(address, line) in &f.lines {
        if previous == Some(line) || address < f.low_pc || address >= f.high_pc {
            continue;
        }
        previous = Some(line);
        let row = lines.row();
        row.address_offset = address - f.low_pc;
        row.file = file;
        row.line = u64::from(line);
        row.is_statement = true;
        lines.generate_row();
    }
    lines.end_sequence(f.high_pc.saturating_sub(f.low_pc));
}

/// The name and the place of the declaration of an entry.
fn declare(entry: &mut DebuggingInformationEntry, name: &str, file: FileId, line: u32) {
    entry.set(
        constants::DW_AT_name,
        AttributeValue::String(name.as_bytes().to_vec()),
    );
    entry.set(
        constants::DW_AT_decl_file,
        AttributeValue::FileIndex(Some(file)),
    );
    entry.set(
        constants::DW_AT_decl_line,
        AttributeValue::Udata(u64::from(line)),
    );
}

fn add_variable(
    unit: &mut Unit,
    parent: UnitEntryId,
    tag: constants::DwTag,
    var: &Variable,
    file: FileId,
    types: &Types,
) -> UnitEntryId {
    let id = unit.add(parent, tag);
    let entry = unit.get_mut(id);
    declare(entry, &var.name, file, var.decl_line);
    entry.set(
        constants::DW_AT_type,
        AttributeValue::UnitRef(types.of(var.ty)),
    );
    let mut location = Expression::new();
    match var.location {
        Location::Static(address) => location.op_addr(Address::Constant(address)),
        Location::Frame(offset) => location.op_fbreg(offset),
    }
    entry.set(constants::DW_AT_location, AttributeValue::Exprloc(location));
    id
}

fn add_function(unit: &mut Unit, f: &Function, file: FileId, types: &Types) -> Result<(), String> {
    let root = unit.root();
    let id = unit.add(root, constants::DW_TAG_subprogram);
    let entry = unit.get_mut(id);
    declare(entry, &f.name, file, f.decl_line);
    entry.set(constants::DW_AT_external, AttributeValue::FlagPresent);
    entry.set(constants::DW_AT_prototyped, AttributeValue::FlagPresent);
    if let Some(ty) = f.returns {
        entry.set(constants::DW_AT_type, AttributeValue::UnitRef(types.of(ty)));
    }
    entry.set(
        constants::DW_AT_low_pc,
        AttributeValue::Address(Address::Constant(f.low_pc)),
    );
    // DWARF 4, 2.17.2: a constant high_pc is the length of the range.
    entry.set(
        constants::DW_AT_high_pc,
        AttributeValue::Udata(f.high_pc.saturating_sub(f.low_pc)),
    );
    let mut frame_base = Expression::new();
    match f.frame {
        Frame::FramePointer { .. } => frame_base.op_reg(S0),
        Frame::Leaf => frame_base.op_reg(SP),
    }
    entry.set(
        constants::DW_AT_frame_base,
        AttributeValue::Exprloc(frame_base),
    );
    for p in &f.params {
        if p.name.is_empty() {
            return Err(format!("an unnamed parameter of '{}'", f.name));
        }
        add_variable(unit, id, constants::DW_TAG_formal_parameter, p, file, types);
    }
    for local in &f.locals {
        add_variable(unit, id, constants::DW_TAG_variable, local, file, types);
    }
    Ok(())
}

/// `.debug_frame`: how to find the caller's frame from any pc.
fn frame_table(info: &DebugInfo) -> Result<FrameTable, String> {
    let mut table = FrameTable::default();
    // The CIE's "version" is the .debug_frame version (DWARF 4, 7.24: 4).
    let mut cie = CommonInformationEntry::new(ENCODING, 1, -8, RA);
    cie.add_instruction(CallFrameInstruction::Cfa(SP, 0));
    let cie = table.add_cie(cie);
    let length = |low: u64, high: u64| {
        u32::try_from(high.saturating_sub(low))
            .map_err(|_| "a function larger than 4 GiB".to_string())
    };
    for f in info.units.iter().flat_map(|u| &u.functions) {
        let mut fde =
            FrameDescriptionEntry::new(Address::Constant(f.low_pc), length(f.low_pc, f.high_pc)?);
        if let Frame::FramePointer { epilogue } = f.frame {
            let epilogue = length(f.low_pc, epilogue)?;
            // After each prologue instruction (offsets of the next one).
            fde.add_instruction(4, CallFrameInstruction::CfaOffset(16));
            fde.add_instruction(8, CallFrameInstruction::Offset(RA, -8));
            fde.add_instruction(12, CallFrameInstruction::Offset(S0, -16));
            fde.add_instruction(16, CallFrameInstruction::CfaRegister(S0));
            // After `ld ra` the return address is back in ra; after
            // `ld s0` s0 is the caller's again, so the CFA is sp + 16;
            // after `addi sp,sp,16` it is sp.
            fde.add_instruction(epilogue + 8, CallFrameInstruction::SameValue(RA));
            fde.add_instruction(epilogue + 12, CallFrameInstruction::Cfa(SP, 16));
            fde.add_instruction(epilogue + 12, CallFrameInstruction::SameValue(S0));
            fde.add_instruction(epilogue + 16, CallFrameInstruction::CfaOffset(0));
        }
        table.add_fde(cie, fde);
    }
    for &(low, high) in &info.leaves {
        let fde = FrameDescriptionEntry::new(Address::Constant(low), length(low, high)?);
        table.add_fde(cie, fde);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gimli::read::{self, UnwindSection};

    type R<'a> = gimli::EndianSlice<'a, LittleEndian>;

    const LOW: u64 = 0x10000;
    const EPILOGUE: u64 = LOW + 0x2c;
    const HIGH: u64 = LOW + 0x40;

    fn example() -> DebugInfo {
        let var = |name: &str, ty, location| Variable {
            name: name.to_string(),
            ty,
            decl_line: 5,
            location,
        };
        DebugInfo {
            comp_dir: Some("/work".to_string()),
            producer: "test".to_string(),
            units: vec![CompileUnit {
                name: "f.c".to_string(),
                functions: vec![Function {
                    name: "f".to_string(),
                    low_pc: LOW,
                    high_pc: HIGH,
                    decl_line: 5,
                    returns: Some(ValueType::Uint64),
                    params: vec![var("n", ValueType::Uint64, Location::Frame(16))],
                    locals: vec![var("s", ValueType::CharPointer, Location::Frame(-8))],
                    // Line 7 twice in a row: one row.
                    lines: vec![(LOW, 5), (LOW + 0x14, 7), (LOW + 0x20, 7), (EPILOGUE, 9)],
                    frame: Frame::FramePointer { epilogue: EPILOGUE },
                }],
                globals: vec![var(
                    "g",
                    ValueType::Uint64Pointer,
                    Location::Static(0x11000),
                )],
            }],
            leaves: vec![(HIGH, HIGH + 16)],
        }
    }

    fn section<'a>(sections: &'a [DebugSection], name: &str) -> R<'a> {
        let data = sections
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[][..], |(_, d)| d.as_slice());
        gimli::EndianSlice::new(data, LittleEndian)
    }

    #[test]
    fn lines_and_the_subprogram_read_back() {
        let sections = sections(&example()).expect("writes");
        let dwarf = read::Dwarf::load(|id| -> Result<R, gimli::Error> {
            Ok(section(&sections, id.name()))
        })
        .expect("loads");
        let header = dwarf.units().next().expect("reads").expect("one unit");
        let unit = dwarf.unit(header).expect("unit");
        let program = unit.line_program.clone().expect("lines");
        let mut rows = program.rows();
        let mut seen = Vec::new();
        while let Some((_, row)) = rows.next_row().expect("row") {
            seen.push((
                row.address(),
                row.line().map_or(0, |l| l.get()),
                row.end_sequence(),
            ));
        }
        assert_eq!(
            seen,
            [
                (LOW, 5, false),
                (LOW + 0x14, 7, false),
                (EPILOGUE, 9, false),
                (HIGH, 9, true)
            ]
        );
        let mut entries = unit.entries();
        let mut subprogram = None;
        while let Some(entry) = entries.next_dfs().expect("entry") {
            if entry.tag() == gimli::DW_TAG_subprogram {
                let low = entry.attr_value(gimli::DW_AT_low_pc);
                let length = entry
                    .attr_value(gimli::DW_AT_high_pc)
                    .and_then(|v| v.udata_value());
                subprogram = Some((low, length));
            }
        }
        assert_eq!(
            subprogram,
            Some((Some(read::AttributeValue::Addr(LOW)), Some(HIGH - LOW)))
        );
    }

    /// The CFA (register, offset) at `address`.
    fn cfa_at(frame: &read::DebugFrame<R>, address: u64) -> (u16, i64) {
        let bases = read::BaseAddresses::default();
        let mut context = read::UnwindContext::new();
        let row = frame
            .unwind_info_for_address(
                &bases,
                &mut context,
                address,
                read::DebugFrame::cie_from_offset,
            )
            .expect("an FDE covers the address");
        match row.cfa() {
            read::CfaRule::RegisterAndOffset { register, offset } => (register.0, *offset),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_frame_follows_the_prologue_and_epilogue() {
        let sections = sections(&example()).expect("writes");
        let mut frame = read::DebugFrame::from(section(&sections, ".debug_frame"));
        frame.set_address_size(8);
        assert_eq!(cfa_at(&frame, LOW), (2, 0)); // sp, on entry
        assert_eq!(cfa_at(&frame, LOW + 4), (2, 16)); // after addi sp,sp,-16
        assert_eq!(cfa_at(&frame, LOW + 0x14), (8, 16)); // the body: s0 + 16
        assert_eq!(cfa_at(&frame, EPILOGUE + 8), (8, 16)); // after ld ra
        assert_eq!(cfa_at(&frame, EPILOGUE + 12), (2, 16)); // after ld s0
        assert_eq!(cfa_at(&frame, EPILOGUE + 16), (2, 0)); // at the ret
        assert_eq!(cfa_at(&frame, HIGH + 8), (2, 0)); // a leaf
    }

    #[test]
    fn names_with_nul_or_nothing_do_not_panic() {
        let mut info = example();
        info.units[0].name = String::new();
        info.comp_dir = Some("a\0b".to_string());
        assert!(sections(&info).is_ok());
    }
}

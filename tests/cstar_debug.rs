//! The debug information of compiled C* programs, checked with the tools a
//! student uses (riscv64 `addr2line`, `objdump -dl`, `gdb-multiarch`, and
//! gdb against `qemu-riscv64 -g`) and read back with gimli's reader.
//! A missing tool is a SKIP, a failure under CI=true (tests/common).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use goblin::elf::Elf;
use sim::toolchain::cstar::compile;

const ADDR2LINE: &str = "riscv64-linux-gnu-addr2line";
const OBJDUMP: &str = "riscv64-linux-gnu-objdump";
const GDB: &str = "gdb-multiarch";
const QEMU: &str = "qemu-riscv64";

/// The program of the tests; line numbers matter (f's body starts at 7).
const LOOP_C: &str = "\
// A loop that calls f with i = 0, 1, 2.
uint64_t total;
char* greeting = (char*) 0;

uint64_t f(uint64_t i) {
  uint64_t doubled;
  doubled = i * 2;
  total = total + doubled;
  return doubled;
}

uint64_t main() {
  uint64_t i;
  greeting = \"hello\";
  i = 0;
  while (i < 3) {
    f(i);
    i = i + 1;
  }
  return total;
}
";

/// loop.c and its ELF in a fresh directory, compiled there with
/// `sim -c loop.c -o loop.elf`, as a student would.
struct Built {
    dir: PathBuf,
    elf: PathBuf,
    bytes: Vec<u8>,
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn build_loop(tag: &str) -> Built {
    let dir = std::env::temp_dir().join(format!("sim-cstar-debug-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("loop.c"), LOOP_C).expect("write loop.c");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-c", "loop.c", "-o", "loop.elf"])
        .current_dir(&dir)
        .output()
        .expect("run sim -c");
    assert!(
        out.status.success(),
        "sim -c loop.c failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elf = dir.join("loop.elf");
    let bytes = std::fs::read(&elf).expect("read loop.elf");
    Built { dir, elf, bytes }
}

/// The address and size of a symbol.
fn symbol(elf: &[u8], name: &str) -> (u64, u64) {
    let elf = Elf::parse(elf).expect("parses");
    elf.syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
        .map(|s| (s.st_value, s.st_size))
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

// ---- the DWARF itself, read back with gimli ----

type Reader<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

fn dwarf_of<'a>(elf: &Elf, bytes: &'a [u8]) -> gimli::Dwarf<Reader<'a>> {
    let section = |id: gimli::SectionId| -> Result<Reader<'a>, gimli::Error> {
        let data = elf
            .section_headers
            .iter()
            .find(|h| elf.shdr_strtab.get_at(h.sh_name) == Some(id.name()))
            .map_or(&[][..], |h| {
                &bytes[h.sh_offset as usize..(h.sh_offset + h.sh_size) as usize]
            });
        Ok(gimli::EndianSlice::new(data, gimli::LittleEndian))
    };
    gimli::Dwarf::load(section).expect("DWARF loads")
}

#[test]
fn the_dwarf_reads_back_with_lines_and_a_subprogram_range() {
    let compiled = compile(&[("loop.c".to_string(), LOOP_C.to_string())]).expect("compiles");
    let bytes = &compiled.elf;
    let elf = Elf::parse(bytes).expect("parses");
    let dwarf = dwarf_of(&elf, bytes);
    let (f_start, f_size) = symbol(bytes, "f");

    let mut units = dwarf.units();
    let header = units.next().expect("reads").expect("a unit for loop.c");
    let unit = dwarf.unit(header).expect("unit");
    let name = unit.name.expect("DW_AT_name");
    assert_eq!(name.slice(), b"loop.c");

    // The line table: f's rows are 5 (prologue), 7, 8, 9, 10 (epilogue).
    let program = unit.line_program.clone().expect("a line program");
    let mut rows = program.rows();
    let mut f_lines = Vec::new();
    while let Some((_, row)) = rows.next_row().expect("row") {
        if row.end_sequence() {
            continue;
        }
        if (f_start..f_start + f_size).contains(&row.address()) {
            f_lines.push(row.line().map_or(0, |l| l.get()));
        }
    }
    assert_eq!(f_lines, [5, 7, 8, 9, 10]);

    // The subprogram f: its pc range is the symbol's, its parameter i
    // lives at fbreg+16, its local at fbreg-8.
    let mut entries = unit.entries();
    let mut found = None;
    let mut names = Vec::new();
    while let Some(entry) = entries.next_dfs().expect("entry") {
        let Some(gimli::AttributeValue::String(n)) = entry.attr_value(gimli::DW_AT_name) else {
            continue;
        };
        names.push((entry.tag(), String::from_utf8_lossy(n.slice()).into_owned()));
        if entry.tag() == gimli::DW_TAG_subprogram && n.slice() == b"f" {
            let low = match entry.attr_value(gimli::DW_AT_low_pc) {
                Some(gimli::AttributeValue::Addr(a)) => a,
                other => panic!("low_pc {other:?}"),
            };
            let length = entry
                .attr_value(gimli::DW_AT_high_pc)
                .and_then(|v| v.udata_value())
                .expect("high_pc as a length");
            found = Some((low, length));
        }
    }
    assert_eq!(found, Some((f_start, f_size)));
    for expected in [
        (gimli::DW_TAG_variable, "total"),
        (gimli::DW_TAG_variable, "greeting"),
        (gimli::DW_TAG_subprogram, "main"),
        (gimli::DW_TAG_formal_parameter, "i"),
        (gimli::DW_TAG_variable, "doubled"),
        (gimli::DW_TAG_base_type, "uint64_t"),
    ] {
        assert!(
            names.contains(&(expected.0, expected.1.to_string())),
            "{expected:?} in {names:?}"
        );
    }
}

#[test]
fn the_same_sources_give_the_same_bytes() {
    let sources = [("loop.c".to_string(), LOOP_C.to_string())];
    let first = compile(&sources).expect("compiles").elf;
    let second = compile(&sources).expect("compiles").elf;
    assert!(first == second, "two compiles of loop.c differ");
    // And from the command line, twice in the same directory.
    let built = build_loop("same");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["-c", "loop.c", "-o", "again.elf"])
        .current_dir(&built.dir)
        .output()
        .expect("run sim -c");
    assert!(out.status.success());
    let again = std::fs::read(built.dir.join("again.elf")).expect("read again.elf");
    assert!(built.bytes == again, "two runs of sim -c loop.c differ");
}

// ---- the tools ----

#[test]
fn addr2line_names_function_file_and_line() {
    let Some(tool) = common::tool(ADDR2LINE) else {
        return;
    };
    let built = build_loop("addr2line");
    let (f, _) = symbol(&built.bytes, "f");
    // f + 20: the first instruction of line 7, after the 5-instruction prologue.
    let address = format!("{:#x}", f + 20);
    let elf = built.elf.display().to_string();
    let out = run(&tool, &["-f", "-e", &elf, &address], &built.dir);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"f"), "{out}");
    assert!(
        lines.get(1).is_some_and(|l| l.ends_with("/loop.c:7")),
        "{out}"
    );
}

#[test]
fn objdump_interleaves_functions_and_lines() {
    let Some(tool) = common::tool(OBJDUMP) else {
        return;
    };
    let built = build_loop("objdump");
    let elf = built.elf.display().to_string();
    let out = run(&tool, &["-dl", &elf], &built.dir);
    for expected in [
        "<f>:",
        "f():",
        "/loop.c:7",
        "<main>:",
        "main():",
        "/loop.c:16",
    ] {
        assert!(out.contains(expected), "no '{expected}' in:\n{out}");
    }
    // Line 7 comes right after f's prologue.
    let f = out.find("f():").expect("f");
    let line7 = out[f..].find("/loop.c:7").expect("line 7 in f");
    assert!(
        out[f..f + line7].matches("\n   1").count() == 5,
        "{}",
        &out[f..f + line7]
    );
}

#[test]
fn gdb_knows_lines_functions_types_and_variables() {
    let Some(gdb) = common::tool(GDB) else {
        return;
    };
    let built = build_loop("gdb");
    let (f, _) = symbol(&built.bytes, "f");
    let elf = built.elf.display().to_string();
    let out = run(
        &gdb,
        &[
            "-nx",
            "-batch",
            "-ex",
            &format!("file {elf}"),
            "-ex",
            "info line loop.c:7",
            "-ex",
            "info functions",
            "-ex",
            "ptype f",
            "-ex",
            "ptype greeting",
            "-ex",
            "info scope f",
            "-ex",
            "info address total",
        ],
        &built.dir,
    );
    for expected in [
        format!(
            "Line 7 of \"loop.c\" starts at address {:#x} <f+20>",
            f + 20
        ),
        "5:\tuint64_t f(uint64_t);".to_string(),
        "12:\tuint64_t main(void);".to_string(),
        "type = uint64_t (uint64_t)".to_string(),
        "type = char *".to_string(),
        "Symbol i is a variable at frame base reg $fp offset 0+16".to_string(),
        "Symbol doubled is a variable at frame base reg $fp offset 0+-8".to_string(),
        "Symbol \"total\" is static storage at address".to_string(),
    ] {
        assert!(out.contains(&expected), "no '{expected}' in:\n{out}");
    }
}

/// A TCP port nobody listens on (the OS picks it; qemu binds it next).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn gdb_steps_a_running_program_under_qemu() {
    let (Some(gdb), Some(qemu)) = (common::tool(GDB), common::tool(QEMU)) else {
        return;
    };
    let built = build_loop("qemu");
    let port = free_port();
    let mut guest = Command::new(&qemu)
        .args(["-g", &port.to_string()])
        .arg(&built.elf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu-riscv64 -g");
    let elf = built.elf.display().to_string();
    // gdb retries the connection until qemu listens (up to 30 s).
    let script = [
        "set tcp connect-timeout 30".to_string(),
        format!("file {elf}"),
        format!("target remote 127.0.0.1:{port}"),
        "break f".to_string(),
        "continue".to_string(),
        "backtrace".to_string(),
        "next".to_string(),
        "print doubled".to_string(),
        "finish".to_string(),
        "print greeting".to_string(),
        "step".to_string(),
        "step".to_string(),
        "step".to_string(),
        "step".to_string(),
        "delete".to_string(),
        "continue".to_string(),
    ];
    let mut args = vec!["-nx".to_string(), "-batch".to_string()];
    for line in &script {
        args.push("-ex".to_string());
        args.push(line.clone());
    }
    let started = Instant::now();
    let out = Command::new(&gdb)
        .args(&args)
        .current_dir(&built.dir)
        .output()
        .expect("run gdb");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // qemu ends with the program; make sure of it either way.
    let deadline = Instant::now() + Duration::from_secs(10);
    while guest.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = guest.kill();
    let _ = guest.wait();
    for expected in [
        "Breakpoint 1, f (i=0) at loop.c:7",
        "#1  0x",
        "in main () at loop.c:17",
        "8\t  total = total + doubled;",
        "$1 = 0",
        "Value returned is $2 = 0",
        "\"hello\"",
        "18\t    i = i + 1;",
        "16\t  while (i < 3) {",
        "17\t    f(i);",
        "f (i=1) at loop.c:7",
        "exited with code 06",
    ] {
        assert!(
            out.contains(expected),
            "no '{expected}' after {:?} in:\n{out}",
            started.elapsed()
        );
    }
}

#[test]
fn each_file_is_a_compile_unit_with_its_own_procedures() {
    let sources = [
        (
            "a.c".to_string(),
            "uint64_t twice(uint64_t x);\nuint64_t main() { return twice(21); }\n".to_string(),
        ),
        (
            "b.c".to_string(),
            "uint64_t unused;\nuint64_t twice(uint64_t x) {\n  return x * 2;\n}\n".to_string(),
        ),
    ];
    let compiled = compile(&sources).expect("compiles");
    let elf = Elf::parse(&compiled.elf).expect("parses");
    let dwarf = dwarf_of(&elf, &compiled.elf);
    let mut units = Vec::new();
    let mut headers = dwarf.units();
    while let Some(header) = headers.next().expect("reads") {
        let unit = dwarf.unit(header).expect("unit");
        let name = String::from_utf8_lossy(unit.name.expect("name").slice()).into_owned();
        let mut entries = unit.entries();
        let mut names = Vec::new();
        while let Some(entry) = entries.next_dfs().expect("entry") {
            let top = matches!(
                entry.tag(),
                gimli::DW_TAG_subprogram | gimli::DW_TAG_variable
            ) && entry.attr_value(gimli::DW_AT_external).is_some();
            if let (true, Some(gimli::AttributeValue::String(n))) =
                (top, entry.attr_value(gimli::DW_AT_name))
            {
                names.push(String::from_utf8_lossy(n.slice()).into_owned());
            }
        }
        units.push((name, names));
    }
    assert_eq!(units.len(), 3, "{units:?}");
    assert_eq!(units[0], ("a.c".to_string(), vec!["main".to_string()]));
    assert_eq!(
        units[1],
        (
            "b.c".to_string(),
            vec!["unused".to_string(), "twice".to_string()]
        )
    );
    assert_eq!(units[2].0, "prelude.c");
}

//! What the targets share: the sandbox every guest runs in, a bounded run
//! of a loaded program, the seed files of the repository, and the byte and
//! line mutations of text inputs.

use std::path::{Path, PathBuf};

use sim::toolchain::elf::{write_executable, Segment, SegmentFlags};
use sim::{RunOutcome, Simulator, SimulatorBuilder};

use crate::rng::Rng;
use crate::{Target, Verdict};

/// Where the generated programs (`insn`, `syscalls`) have their code and
/// their data.
pub const CODE: u64 = 0x1000;
pub const DATA: u64 = 0x10000;

/// An ELF of `code` (r-x) at `CODE` and `data` (rw-, zero-filled to
/// `data_bytes`) at `DATA`, entered at `CODE`.
pub fn elf_of(code: Vec<u8>, data: Vec<u8>, data_bytes: u64) -> Vec<u8> {
    let segments = [
        Segment {
            vaddr: CODE,
            mem_size: code.len() as u64,
            data: code,
            flags: SegmentFlags::CODE,
        },
        Segment {
            vaddr: DATA,
            data,
            mem_size: data_bytes,
            flags: SegmentFlags::DATA,
        },
    ];
    write_executable(CODE, &segments, &[])
}

/// The repository (the example runs from anywhere).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sandbox: `root/` is the guests' root directory (empty at start);
/// `outside/secret` is next to it, where no guest may reach.
pub struct Sandbox {
    pub root: PathBuf,
    outside: PathBuf,
}

const SECRET: &[u8] = b"the fuzzer's secret: no guest may read or change this\n";

impl Sandbox {
    /// A fresh sandbox under target/ for this process.
    pub fn new(name: &str) -> Sandbox {
        let base = repo()
            .join("target")
            .join(format!("fuzz-sandbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let outside = base.join("outside");
        for dir in [&root, &outside] {
            if let Err(e) = std::fs::create_dir_all(dir) {
                panic!("fuzz: cannot create {}: {e}", dir.display());
            }
        }
        if let Err(e) = std::fs::write(outside.join("secret"), SECRET) {
            panic!("fuzz: cannot write the secret: {e}");
        }
        Sandbox { root, outside }
    }

    /// Whether anything outside the root changed: the secret read back
    /// intact, and nothing next to it.
    pub fn escaped(&self) -> Option<String> {
        let entries: Vec<_> = match std::fs::read_dir(&self.outside) {
            Ok(d) => d.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            Err(e) => return Some(format!("the outside directory is gone: {e}")),
        };
        if entries.len() != 1 {
            return Some(format!("outside the root now holds {entries:?}"));
        }
        match std::fs::read(self.outside.join("secret")) {
            Ok(bytes) if bytes == SECRET => None,
            Ok(_) => Some("the secret outside the root changed".into()),
            Err(e) => Some(format!("the secret outside the root is unreadable: {e}")),
        }
    }

    /// Empties the root (between inputs, so each starts alike).
    pub fn clear_root(&self) {
        if let Ok(dir) = std::fs::read_dir(&self.root) {
            for entry in dir.flatten() {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(base) = self.root.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// A simulator for untrusted programs: small memory and limits, captured
/// output, stdin from bytes (never the host's), the read-only sandbox.
pub fn builder(root: &Path, quantum: u64, max_instructions: u64) -> SimulatorBuilder {
    Simulator::builder()
        .memory_mb(8)
        .host_shm_mb(1)
        .quantum(quantum)
        .max_instructions(max_instructions)
        .capture_output(true)
        .stdin_bytes(b"fuzz input\n".to_vec())
        .root(root)
        .read_only(true)
        .max_processes(16)
        .max_contexts(16)
        .max_open_files(16)
        .max_vms(4)
        .max_mapped_pages(4096)
}

/// Loads `elf` as the one program of a fresh simulator and runs it until
/// it ends or has run `max_instructions`; then checks the invariants.
/// Returns whether the ELF loaded.
pub fn run_elf(root: &Path, elf: &[u8], max_instructions: u64) -> Result<bool, String> {
    let mut sim = match builder(root, sim::simulator::DEFAULT_QUANTUM, max_instructions).try_build()
    {
        Ok(sim) => sim,
        Err(e) => return Err(format!("cannot build a simulator: {e}")),
    };
    if sim.load_elf(elf, &["fuzz".to_string()]).is_err() {
        return Ok(false);
    }
    finish(&mut sim)?;
    Ok(true)
}

/// Runs `sim` to its end (bounded by its instruction limit) and checks the
/// invariants.
pub fn finish(sim: &mut Simulator) -> Result<RunOutcome, String> {
    let outcome = sim.run();
    sim.check_invariants()
        .map_err(|e| format!("invariant broken after the run: {e}"))?;
    Ok(outcome)
}

/// The files under `dir` (recursively) whose names end in one of `exts`.
pub fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files(&path, exts));
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(path);
        }
    }
    out
}

/// The text of each file (unreadable ones left out).
pub fn read_all(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// 1 to 8 mutations of a text: bytes replaced, ranges deleted or
/// repeated, `tokens` inserted, lines swapped, spliced from `others`.
pub fn mutate_text(rng: &mut Rng, text: &[u8], tokens: &[&str], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = text.to_vec();
    for _ in 0..=rng.below(8) {
        let len = out.len() as u64;
        let at = rng.below(len + 1) as usize;
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(len) as usize;
                out[i] = *rng.pick(b" \n;{}()[]*&+-/%<>=!'\"\\0123456789azAZ_.,:#\t\x00\xff");
            }
            1 => {
                let end = (at + rng.below(64) as usize).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(256) as usize).min(out.len());
                let chunk = out[at..end].to_vec();
                let most = if rng.percent(5) { 200 } else { 3 };
                let times = 1 + rng.below(most);
                for _ in 0..times {
                    out.splice(at..at, chunk.iter().copied());
                }
            }
            3 | 4 => {
                let token = format!(" {} ", rng.pick(tokens));
                out.splice(at..at, token.bytes());
            }
            5 => {
                let mut lines: Vec<Vec<u8>> =
                    out.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len() as u64;
                let (a, b) = (rng.below(n) as usize, rng.below(n) as usize);
                lines.swap(a, b);
                out = lines.join(&b'\n');
            }
            6 if !others.is_empty() => {
                let other = rng.pick(others);
                let from = rng.below(other.len() as u64 + 1) as usize;
                let end = (from + rng.below(512) as usize).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let n = rng.below(16) as usize;
                let junk = rng.bytes(n);
                out.splice(at..at, junk);
            }
        }
    }
    out
}

/// A target whose inputs are source texts (`cstar`, `asm`): half made by
/// `generate` (some of those mutated), half mutations of `seeds`; each is
/// built by `build`, and what builds runs for `budget` instructions.
pub struct SourceTarget {
    pub seeds: Vec<Vec<u8>>,
    pub tokens: &'static [&'static str],
    pub generate: fn(&mut Rng) -> String,
    /// The ELF, or `None` for a source the tool refused (with an error).
    pub build: fn(&str) -> Option<Vec<u8>>,
    pub budget: u64,
    pub sandbox: Sandbox,
    /// Inputs that built, and of those, that loaded and ran.
    built: u64,
    ran: u64,
}

impl SourceTarget {
    pub fn new(
        name: &str,
        seeds: Vec<Vec<u8>>,
        tokens: &'static [&'static str],
        generate: fn(&mut Rng) -> String,
        build: fn(&str) -> Option<Vec<u8>>,
        budget: u64,
    ) -> SourceTarget {
        SourceTarget {
            seeds,
            tokens,
            generate,
            build,
            budget,
            sandbox: Sandbox::new(name),
            built: 0,
            ran: 0,
        }
    }
}

impl Target for SourceTarget {
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        if self.seeds.is_empty() || rng.percent(50) {
            let program = (self.generate)(rng).into_bytes();
            if rng.percent(30) {
                return mutate_text(rng, &program, self.tokens, &self.seeds);
            }
            return program;
        }
        let seed = rng.pick(&self.seeds).clone();
        mutate_text(rng, &seed, self.tokens, &self.seeds)
    }

    fn execute(&mut self, input: &[u8]) -> Verdict {
        let Some(elf) = (self.build)(&String::from_utf8_lossy(input)) else {
            return Verdict::Ok;
        };
        self.built += 1;
        match run_elf(&self.sandbox.root, &elf, self.budget) {
            Ok(ran) => {
                self.ran += u64::from(ran);
                Verdict::Ok
            }
            Err(e) => Verdict::Failure(e),
        }
    }

    fn reached(&self) -> String {
        format!("{} built, {} ran", self.built, self.ran)
    }
}

//! The fuzz harness (issue 11): feeds `sim` inputs an attacker would write
//! and counts what goes wrong. Runs on stable Rust:
//!
//! ```text
//! cargo run --release --example fuzz -- TARGET --seconds N [--seed S]
//! cargo run --release --example fuzz -- TARGET --seed S --input N   # one input again
//! cargo run --release --example fuzz -- TARGET --replay fuzz-crashes/FILE
//! ```
//!
//! How control flows:
//!
//! ```text
//! main: parse the options, install the panic hook, start the campaign
//!  │    on a worker thread and watch it (the watchdog)
//!  └ campaign (worker thread)
//!     for n in 0..: rng = seed ⊕ n ─► target.generate(rng) ─► input bytes
//!                   catch_unwind(target.execute(input)) ─► Verdict
//!                   a panic or a failure: print it, write the input to
//!                   fuzz-crashes/TARGET-sS-nN.bin
//!  watchdog (main thread): an input running longer than --hang-seconds
//!  is a hang: its input is written out and the campaign ends
//! ```
//!
//! Every input is a byte string and every target is deterministic from it,
//! so a saved input reproduces (`--replay`), and so does `--seed S --input
//! N` (input N of seed S is generated from those two numbers alone). The
//! targets (one file each):
//!
//! | target | what it feeds | checks |
//! |---|---|---|
//! | `elf` | mutated ELF files (sim's compiler and assembler, gcc) to `Simulator::load_elf`, then a bounded run | no panic; invariants |
//! | `insn` | random instruction streams in several processes and VMs, under the quanta 1, 2, 3, 7, 100 and the default | no panic; the same count and output twice; invariants |
//! | `cstar` | generated and mutated C* sources to the compiler; what compiles runs | no panic |
//! | `asm` | generated and mutated assembly to the assembler; what assembles runs | no panic |
//! | `syscalls` | random calls with adversarial arguments through `Simulator::syscall`, across processes, guest kernels and VMs | no panic; invariants after every call; nothing outside the root changes |
//! | `rshm` | random and mutated wire frames to the frame decoder and to live nodes (before and after the greeting, open and secret key) | no panic; the node still answers; bounded memory |
//!
//! At the end each campaign prints one line: inputs tried, panics, hangs,
//! failures and the peak host RSS; the exit code is 1 if anything went
//! wrong.

mod asm;
mod cstar;
mod elf;
mod guest;
mod insn;
mod rng;
mod rshm;
mod syscalls;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use rng::Rng;

/// What one input did.
pub enum Verdict {
    /// Nothing wrong (an error value for a bad input is fine).
    Ok,
    /// Something other than a panic broke a rule: an invariant, the
    /// sandbox, determinism, a node that stopped answering.
    Failure(String),
}

/// A fuzz target: makes inputs and runs them.
pub trait Target {
    /// A new input made from `rng` alone.
    fn generate(&mut self, rng: &mut Rng) -> Vec<u8>;
    /// Runs one input; panics are caught by the caller.
    fn execute(&mut self, input: &[u8]) -> Verdict;
    /// What the inputs reached, for the summary (e.g. how many loaded).
    fn reached(&self) -> String {
        String::new()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum TargetName {
    Elf,
    Insn,
    Cstar,
    Asm,
    Syscalls,
    Rshm,
}

impl TargetName {
    fn name(self) -> &'static str {
        match self {
            TargetName::Elf => "elf",
            TargetName::Insn => "insn",
            TargetName::Cstar => "cstar",
            TargetName::Asm => "asm",
            TargetName::Syscalls => "syscalls",
            TargetName::Rshm => "rshm",
        }
    }

    fn make(self) -> Box<dyn Target> {
        match self {
            TargetName::Elf => Box::new(elf::ElfTarget::new()),
            TargetName::Insn => Box::new(insn::InsnTarget::new()),
            TargetName::Cstar => Box::new(cstar::target()),
            TargetName::Asm => Box::new(asm::target()),
            TargetName::Syscalls => Box::new(syscalls::SyscallTarget::new()),
            TargetName::Rshm => Box::new(rshm::RshmTarget::new()),
        }
    }
}

/// Fuzzes one part of sim for a bounded time.
#[derive(Parser, Debug)]
#[command(name = "fuzz")]
struct Options {
    /// What to fuzz.
    #[arg(value_enum)]
    target: TargetName,
    /// Stop starting new inputs after this many seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The campaign's seed: input N is made from (seed, N) alone.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only input N of the seed (to reproduce a report).
    #[arg(long)]
    input: Option<u64>,
    /// Stop after this many inputs.
    #[arg(long)]
    max_inputs: Option<u64>,
    /// Run the input saved in FILE instead of generating any.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Write each input to stdout before running it (with --input or
    /// --replay, to look at one).
    #[arg(long)]
    print: bool,
    /// An input running longer than this is a hang.
    #[arg(long, default_value_t = 20)]
    hang_seconds: u64,
    /// Fail when the host's peak resident set exceeds this (MiB).
    #[arg(long, default_value_t = 1024)]
    max_rss_mb: u64,
}

/// Panics seen by the hook (any thread: rshm servers run in their own).
static PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let message = format!(
            "thread '{}' panicked at {}",
            thread.name().unwrap_or("?"),
            info
        );
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = message;
        }
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
}

/// The input running now, for the watchdog.
struct Current {
    number: u64,
    started: Instant,
    input: Vec<u8>,
}

#[derive(Default)]
struct Counts {
    inputs: AtomicU64,
    panics: AtomicU64,
    failures: AtomicU64,
}

/// The seed of input `number` of campaign `seed`.
fn input_seed(seed: u64, number: u64) -> u64 {
    rng::mix(seed ^ rng::mix(number.wrapping_add(1)))
}

/// Writes a bad input where `--replay` finds it again; returns the path.
fn save_crash(target: &str, seed: u64, number: u64, input: &[u8]) -> String {
    let dir = PathBuf::from("fuzz-crashes");
    let path = dir.join(format!("{target}-s{seed}-n{number}.bin"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

/// The host's peak resident set so far, in KiB (`VmHWM`, Linux).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let options = Options::parse();
    install_panic_hook();
    let name = options.target.name();
    let counts = Arc::new(Counts::default());
    let current: Arc<Mutex<Option<Current>>> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let reached: Arc<Mutex<String>> = Arc::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let replay = match &options.replay {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("fuzz: cannot read {}: {e}", path.display());
                std::process::exit(2);
            }
        },
        None => None,
    };

    let worker = {
        let (counts, current, done, reached) = (
            counts.clone(),
            current.clone(),
            done.clone(),
            reached.clone(),
        );
        let print = options.print;
        let (seed, input, max_inputs, which) = (
            options.seed,
            options.input,
            options.max_inputs,
            options.target,
        );
        std::thread::Builder::new()
            .name(format!("fuzz-{name}"))
            .stack_size(64 << 20)
            .spawn(move || {
                let mut target = which.make();
                let numbers: Box<dyn Iterator<Item = u64>> = match (input, &replay) {
                    (_, Some(_)) => Box::new(0..1),
                    (Some(n), None) => Box::new(n..n + 1),
                    (None, None) => Box::new(0..max_inputs.unwrap_or(u64::MAX)),
                };
                for number in numbers {
                    if replay.is_none() && input.is_none() && Instant::now() >= deadline {
                        break;
                    }
                    let bytes = match &replay {
                        Some(bytes) => bytes.clone(),
                        None => target.generate(&mut Rng::new(input_seed(seed, number))),
                    };
                    if print {
                        use std::io::Write;
                        let _ = std::io::stdout().write_all(&bytes);
                        println!();
                    }
                    if let Ok(mut c) = current.lock() {
                        *c = Some(Current {
                            number,
                            started: Instant::now(),
                            input: bytes.clone(),
                        });
                    }
                    let panics_before = PANICS.load(Ordering::SeqCst);
                    let result = catch_unwind(AssertUnwindSafe(|| target.execute(&bytes)));
                    counts.inputs.fetch_add(1, Ordering::SeqCst);
                    let panicked = result.is_err() || PANICS.load(Ordering::SeqCst) != panics_before;
                    let problem = if panicked {
                        counts.panics.fetch_add(1, Ordering::SeqCst);
                        let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
                        if result.is_err() {
                            // The target's state may be half-changed: start afresh.
                            target = which.make();
                        }
                        Some(format!("panic: {message}"))
                    } else if let Ok(Verdict::Failure(why)) = result {
                        counts.failures.fetch_add(1, Ordering::SeqCst);
                        Some(format!("failure: {why}"))
                    } else {
                        None
                    };
                    if let Some(problem) = problem {
                        let path = save_crash(name, seed, number, &bytes);
                        eprintln!(
                            "fuzz {name}: input {number} of seed {seed}: {problem}\n  \
                             saved as {path}; reproduce with: cargo run --release --example fuzz -- {name} --replay {path}"
                        );
                    }
                }
                if let Ok(mut r) = reached.lock() {
                    *r = target.reached();
                }
                done.store(true, Ordering::SeqCst);
            })
    };
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            eprintln!("fuzz: cannot start the worker thread: {e}");
            std::process::exit(2);
        }
    };

    // The watchdog.
    let hang_limit = Duration::from_secs(options.hang_seconds);
    let mut hangs = 0;
    while !done.load(Ordering::SeqCst) && !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let hung = current.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|c| c.started.elapsed() > hang_limit)
                .map(|c| (c.number, c.input.clone()))
        });
        if let Some((number, input)) = hung {
            hangs += 1;
            let path = save_crash(name, options.seed, number, &input);
            eprintln!(
                "fuzz {name}: input {number} of seed {}: hang: still running after {} s\n  \
                 saved as {path}; reproduce with: cargo run --release --example fuzz -- {name} --replay {path}",
                options.seed, options.hang_seconds
            );
            break;
        }
    }
    if hangs == 0 && worker.join().is_err() {
        let last = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
        eprintln!("fuzz {name}: the harness itself failed: {last}");
        hangs += 1;
    }

    let inputs = counts.inputs.load(Ordering::SeqCst);
    let panics = counts.panics.load(Ordering::SeqCst);
    let failures = counts.failures.load(Ordering::SeqCst);
    let rss_mib = peak_rss_kib() as f64 / 1024.0;
    let secs = started.elapsed().as_secs_f64();
    let over_rss = rss_mib > options.max_rss_mb as f64;
    let reached = reached.lock().map(|r| r.clone()).unwrap_or_default();
    println!(
        "fuzz {name}: {inputs} inputs in {secs:.1} s ({:.0}/s), {panics} panics, {hangs} hangs, \
         {failures} failures, peak host RSS {rss_mib:.1} MiB{}, seed {}{}{reached}",
        inputs as f64 / secs.max(1e-9),
        if over_rss { " (over --max-rss-mb)" } else { "" },
        options.seed,
        if reached.is_empty() { "" } else { "; " },
    );
    let bad = panics + hangs + failures > 0 || over_rss;
    // A hung worker cannot be joined: leave without it.
    std::process::exit(i32::from(bad));
}

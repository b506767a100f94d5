//! The `sim` command line: parse (once, with clap), build a `Simulator`,
//! run, print. Everything else lives in the library.
//!
//! clap checks every option; the order of `-u`, `-k` and `--vm`, which
//! decides what runs in which VM under which kernel, is read from clap's
//! own record of where each occurrence stood (`scenario_of`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use sim::hypervisor::{Item, Scenario};
use sim::toolchain::BuildError;
use sim::{Simulator, Trace};

/// An educational OS-kernel simulator: an RV64 machine, a kernel and a C*
/// toolchain in one program.
#[derive(Parser, Debug)]
#[command(
    name = "sim",
    version,
    about,
    args_conflicts_with_subcommands = true,
    override_usage = "sim [OPTIONS] PROG [ARGS]...\n       sim [OPTIONS] -u PROG [ARGS].. [-u ..] [-k KERNEL ..] [--vm ..]\n       sim -c FILES.. -o OUT\n       sim <COMMAND>",
    after_help = "Examples:\n  sim ./hello                      (a static glibc binary, as qemu-riscv64 runs it)\n  sim selfie.m -c selfie.c -o out.m -m 1   (every word after PROG is the guest's)\n  sim -u programs/hello.s\n  sim -u programs/hello.c --stats\n  sim -u prog.elf arg1 arg2 -u other.elf\n  sim -k programs/kernels/rr.c -u programs/hello.c -u programs/echo.c a b\n  sim -u programs/hello.c --vm -k programs/kernels/rr.c -u programs/fork.c\n  sim --scenario vms.txt\n  sim -c a.c b.c -o prog.elf\n  sim cluster 3 -u programs/rshm/board.c\n  sim -u selfie.m -a -c -a selfie.c -u other.elf\n\nPROG [ARGS]: the first word that is not an option is the program; it and\nevery word after it, options included, are the guest's argv (as with\nqemu-riscv64). The options of sim come before PROG.\n\nWithin a VM, -k starts a guest kernel under the kernel before it (the\nhost for the first), -u loads a program under the last -k (or the host);\n--vm starts the next VM; -a WORD adds a word to the last -u/-k program's\narguments, also one that starts with '-'. See docs/hypervisor.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunOptions,

    /// The program to run and its arguments: every word from PROG on is
    /// the guest's (also those that start with '-').
    // trailing_var_arg: after PROG every word is a value, also one that
    // looks like an option; PROG itself must not start with '-', so
    // `-uFILE` and friends still parse as options.
    #[arg(value_name = "PROG [ARGS]", trailing_var_arg = true,
          num_args = 1.., conflicts_with_all = ["user", "kernel", "scenario"])]
    program: Vec<String>,

    /// Compile (.c) or assemble (.s) the given files into one ELF (with -o).
    #[arg(short = 'c', value_name = "FILES", num_args = 1.., conflicts_with_all = ["user", "kernel"])]
    compile: Vec<PathBuf>,

    /// Output file for -c.
    #[arg(short = 'o', value_name = "FILE", requires = "compile")]
    output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node of distributed shared memory (docs/spec/rshm.md): the programs
    /// run on a kernel whose rshm calls reach the other nodes over TCP.
    Node(Box<NodeArgs>),
    /// Start N nodes on 127.0.0.1 (ports the OS assigns), each running the
    /// given programs; output lines are prefixed `[node N]`.
    Cluster(ClusterArgs),
    /// Grade an assignment: run its tests in this source tree and print each
    /// test with its points and the total (docs/teaching.md).
    Grade(GradeArgs),
    /// Write the student's copy of this source tree with the assignment's
    /// solution regions replaced by their stubs (docs/teaching.md).
    Handout(HandoutArgs),
}

#[derive(Args, Debug)]
struct GradeArgs {
    /// The assignment (`sim grade --list` lists them).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the assignments, one a line: name, max points, title.
    #[arg(long)]
    list: bool,
    /// Print the grade as JSON: {"assignment", "points", "max", "tests": [...]}.
    #[arg(long)]
    json: bool,
    /// The source tree (default: the one holding the working directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    tree: PathBuf,
}

#[derive(Args, Debug)]
struct HandoutArgs {
    /// The assignment whose solution regions become stubs.
    name: String,
    /// Where to write the copy (new or empty).
    #[arg(short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// The source tree (default: the one holding the working directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    tree: PathBuf,
}

#[derive(Args, Debug)]
struct NodeArgs {
    /// This node's id (also what `node_id()` returns).
    #[arg(long, value_name = "N")]
    id: u16,

    /// Where to accept the other nodes' connections (port 0: the OS picks
    /// one and the node prints it).
    #[arg(long, value_name = "ADDR")]
    listen: String,

    /// Another node and where it listens; repeat for every other node.
    #[arg(long = "peer", value_name = "ID=ADDR", value_parser = sim::rshm::node::parse_peer)]
    peers: Vec<(u16, SocketAddr)>,

    /// Print the rshm state table when the node stops.
    #[arg(long)]
    dump_rshm: bool,

    /// The cluster's shared secret (a file of at least 16 bytes, e.g. the
    /// one `sim cluster` makes): peers without it are dropped after their
    /// first frame. Without it any peer that speaks the protocol may join.
    #[arg(long, value_name = "FILE")]
    cluster_key: Option<PathBuf>,

    #[command(flatten)]
    run: RunOptions,
}

#[derive(Args, Debug)]
struct ClusterArgs {
    /// How many nodes (ids 1..=N).
    #[arg(value_name = "N")]
    nodes: u16,

    /// What every node gets: `-u PROG [ARGS]` and the options of `sim node`
    /// other than --id, --listen and --peer.
    #[arg(
        value_name = "NODE OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// The options of a run (plain `sim` and `sim node`).
#[derive(Args, Debug)]
struct RunOptions {
    /// Run PROG (an RV64 ELF, a .s or a .c file) with ARGS as a process of
    /// the built-in kernel; repeat -u for several processes.
    #[arg(short = 'u', value_name = "PROG [ARGS]", num_args = 1.., action = ArgAction::Append)]
    user: Vec<String>,

    /// Run KERNEL (a C* guest kernel, .s or ELF) in kernel mode: the -u
    /// programs after it are its children, which it schedules through
    /// hypercalls; a second -k nests a kernel under the first.
    #[arg(short = 'k', value_name = "KERNEL [ARGS]", num_args = 1.., action = ArgAction::Append)]
    kernel: Vec<String>,

    /// One more argument word for the -u or -k program before it, taken
    /// as it is (also when it starts with '-'): `-u prog -a -c -a x`.
    #[arg(short = 'a', long = "arg", value_name = "WORD", allow_hyphen_values = true,
          action = ArgAction::Append)]
    arg: Vec<String>,

    /// Set VAR to VALUE in the guests' environment (they get sim's own
    /// environment, as under qemu-riscv64; repeat for several).
    #[arg(short = 'E', value_name = "VAR=VALUE", action = ArgAction::Append)]
    set_env: Vec<String>,

    /// Remove VAR from the guests' environment.
    #[arg(short = 'U', value_name = "VAR", action = ArgAction::Append)]
    unset_env: Vec<String>,

    /// Start the guests with an empty environment (then -E adds to it).
    #[arg(long)]
    env_clear: bool,

    /// The guests' clock: `virtual` (deterministic: starts at
    /// 2024-01-01T00:00:00Z and advances 1 ns per instruction; sleeps
    /// skip ahead) or `host` (the host's real clock).
    #[arg(long, value_name = "CLOCK", default_value = "virtual")]
    clock: ClockArg,

    /// Seed of getrandom and of AT_RANDOM's bytes (the same seed gives
    /// the same bytes on every run).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// Start the next VM: the -u/-k options after it run in a VM of their
    /// own (own kernel, processes and pids).
    // Each occurrence is kept (Append with no value), so that its place
    // on the command line is known (`scenario_of`); a Count would keep
    // only the last.
    #[arg(long = "vm", action = ArgAction::Append, num_args = 0,
          default_missing_value = "true", value_parser = clap::value_parser!(bool))]
    vm: Vec<bool>,

    /// Load the VMs and programs from FILE (lines `vm`, `kernel PROG
    /// [ARGS]`, `user PROG [ARGS]`) instead of -u/-k/--vm.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user", "kernel"])]
    scenario: Option<PathBuf>,

    /// Print the context tree of every VM at exit.
    #[arg(long)]
    dump_contexts: bool,

    /// Print each process's page table when it calls exit (virtual page,
    /// frame, permission and accessed/dirty bits).
    #[arg(long)]
    dump_pagetable: bool,

    /// Physical memory in MiB.
    #[arg(short = 'm', value_name = "MB", default_value_t = sim::simulator::DEFAULT_MEMORY_MB,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    memory: u64,

    /// Instructions per time slice of the round-robin scheduler.
    #[arg(long, value_name = "N", default_value_t = sim::simulator::DEFAULT_QUANTUM,
          value_parser = clap::value_parser!(u64).range(1..))]
    quantum: u64,

    /// Print every instruction executed, disassembled, with the registers it changed.
    #[arg(long)]
    trace: bool,

    /// Trace only from the N-th instruction on (counted over all processes, as --stats does).
    #[arg(long, value_name = "N")]
    trace_from: Option<u64>,

    /// Trace only up to (not including) instruction N.
    #[arg(long, value_name = "N")]
    trace_to: Option<u64>,

    /// Keep only the last N trace lines; print them when a process is killed and when the run ends.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000).map(|n| n as usize))]
    trace_last: Option<usize>,

    /// Trace only process PID.
    #[arg(long, value_name = "PID")]
    trace_pid: Option<u64>,

    /// Trace only the instructions of function NAME (from the ELF symbol table).
    #[arg(long, value_name = "NAME")]
    trace_function: Option<String>,

    /// Trace only instructions at addresses START..END (hex or decimal, END excluded).
    #[arg(long, value_name = "START-END", value_parser = parse_range)]
    trace_range: Option<(u64, u64)>,

    /// Debug the programs interactively (gdb-like commands on stdin: help lists them).
    #[arg(long, conflicts_with = "gdb")]
    debug: bool,

    /// Wait for gdb on 127.0.0.1:PORT before running (as qemu -g does): `target remote :PORT`.
    #[arg(short = 'g', value_name = "PORT")]
    gdb: Option<u16>,

    /// selfie's machine semantics: a division or remainder by zero kills the
    /// process (SIGFPE) instead of giving RISC-V's result.
    #[arg(long)]
    trap_division_by_zero: bool,

    /// The guests' ABI: linux (Linux's calls and sim's own), selfie
    /// (selfie's: exit, read, write, openat, brk and switch, as on its
    /// mipster), or auto: selfie's for binaries selfie's compiler wrote.
    #[arg(long, value_name = "ABI", default_value = "auto",
          value_parser = clap::builder::PossibleValuesParser::new(["auto", "linux", "selfie"]))]
    abi: String,

    /// Interpret only: do not compile hot code to host code (the JIT tier).
    /// Output and instruction counts are the same either way.
    #[arg(long)]
    no_jit: bool,

    /// Print every syscall with its arguments and result.
    #[arg(long)]
    trace_syscalls: bool,

    /// Print every exception, the context that raised it and who handled it.
    #[arg(long)]
    trace_exceptions: bool,

    /// Stop the run after N instructions in total.
    #[arg(long, value_name = "N")]
    max_instructions: Option<u64>,

    /// Print a summary at exit: instructions, exceptions and syscalls by
    /// kind, page faults, frames used, per process.
    #[arg(long)]
    stats: bool,

    /// Print the shared-memory list (docs/spec/shm.md) after every shm call
    /// that succeeded and at exit.
    #[arg(long)]
    dump_shm: bool,

    /// Size of the host shared region for inter-VM shared memory
    /// (docs/spec/vmshm.md) in MiB, reserved on first use.
    #[arg(long, value_name = "MB", default_value_t = sim::hypervisor::DEFAULT_HOST_SHM_MB)]
    host_shm: u64,

    /// Print every message between the VMs' client daemons and the host
    /// daemon (docs/spec/vmshm.md).
    #[arg(long)]
    trace_daemon: bool,

    /// Print the host shared region (blocks, flags, counts, VMs, processes,
    /// listen/connect state) after every vm_* call that changed it and at
    /// exit.
    #[arg(long)]
    dump_vmshm: bool,

    /// The directory guest paths are resolved in: absolute paths start
    /// there, and no path (.., symlinks, /proc) leads out. `--root /` gives
    /// the host's whole file system, as qemu-riscv64 does. Default: the
    /// working directory.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,

    /// Refuse every guest open that could write, create or truncate a file
    /// (EROFS).
    #[arg(long)]
    read_only: bool,

    /// Most processes one kernel (VM) holds at once, ended ones not yet
    /// reaped included; a fork beyond fails with EAGAIN.
    #[arg(long, value_name = "N", default_value_t = sim::kernel::limits::DEFAULT_MAX_PROCESSES,
          value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    max_processes: usize,

    /// Most contexts one guest kernel holds at once; hv_create beyond
    /// fails with EAGAIN.
    #[arg(long, value_name = "N", default_value_t = sim::kernel::limits::DEFAULT_MAX_CONTEXTS,
          value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    max_contexts: usize,

    /// Most descriptors one process has open; openat beyond fails with
    /// EMFILE.
    #[arg(long, value_name = "N", default_value_t = sim::kernel::files::DEFAULT_MAX_FDS,
          value_parser = clap::value_parser!(u64).range(3..).map(|n| n as usize))]
    max_open_files: usize,

    /// Most VMs (--vm, scenario files).
    #[arg(long, value_name = "N", default_value_t = sim::simulator::DEFAULT_MAX_VMS,
          value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    max_vms: usize,
}

/// `--clock`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ClockArg {
    Virtual,
    Host,
}

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli, &matches) {
        Ok(code) => ExitCode::from(code),
        Err(BuildError::Diagnostics(text)) => {
            eprintln!("{text}");
            ExitCode::from(1)
        }
        Err(BuildError::Other(message)) => {
            eprintln!("sim: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<u8, BuildError> {
    match cli.command {
        Some(Command::Node(node)) => {
            let node_matches = matches.subcommand_matches("node").unwrap_or(matches);
            return run_node(*node, node_matches);
        }
        Some(Command::Cluster(cluster)) => return run_cluster(&cluster),
        Some(Command::Grade(args)) => return run_grade(&args).map_err(course_error),
        Some(Command::Handout(args)) => return run_handout(&args).map_err(course_error),
        None => {}
    }
    if !cli.compile.is_empty() {
        let output = cli
            .output
            .ok_or_else(|| BuildError::Other("-c needs -o FILE".into()))?;
        let elf = sim::toolchain::build_program(&cli.compile)?;
        write_executable(&output, &elf)
            .map_err(|e| BuildError::Other(format!("{}: cannot write: {e}", output.display())))?;
        return Ok(0);
    }
    let mut simulator = build(&cli.run, matches, &cli.program)?;
    if cli.run.dump_pagetable {
        dump_pagetables_at_exit(&mut simulator);
    }
    if let Some(port) = cli.run.gdb {
        let code = sim::debug::gdb::serve(simulator, port).map_err(BuildError::Other)?;
        return Ok(code.clamp(0, 255) as u8);
    }
    if cli.run.debug {
        let stdin = std::io::stdin();
        let code = sim::debug::cli::run(simulator, &mut stdin.lock(), &mut std::io::stdout())
            .map_err(BuildError::Other)?;
        return Ok(code.clamp(0, 255) as u8);
    }
    let outcome = simulator.run();
    if cli.run.stats {
        eprint!("{}", simulator.stats_report());
    }
    Ok(outcome.exit_code.clamp(0, 255) as u8)
}

/// Runs to the end through the stepping API, printing each process's page
/// table at its exit call (before the kernel frees it).
fn dump_pagetables_at_exit(simulator: &mut Simulator) {
    use sim::emu::{Exception, Reg};
    while let Some(event) = simulator.run_until_exception() {
        let number = simulator
            .process_in(event.vm, event.pid)
            .map(|p| p.hart.reg(Reg::A7.index()));
        let exits = matches!(number, Some(sim::abi::SYS_EXIT | sim::abi::SYS_EXIT_GROUP));
        if event.exception == Exception::Syscall && exits {
            if let Some(text) = simulator.dump_pagetable(event.vm, event.pid) {
                eprint!("sim: {text}");
            }
        }
        simulator.handle(event);
    }
}

fn course_error(e: sim::course::CourseError) -> BuildError {
    BuildError::Other(e.to_string())
}

/// `sim grade`: the list, or one assignment's grade (text or JSON); exits 0
/// with full marks, 2 below.
fn run_grade(args: &GradeArgs) -> Result<u8, sim::course::CourseError> {
    let root = sim::course::root_from(&args.tree)?;
    if args.list {
        for a in sim::course::list(&root)? {
            println!("{}\t{} points\t{}", a.name, a.max(), a.title);
        }
        return Ok(0);
    }
    let name = args.name.as_deref().unwrap_or_default();
    let assignment = sim::course::Assignment::load(&root, name)?;
    let report = sim::course::grade(&root, &assignment)?;
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.points == report.max { 0 } else { 2 })
}

/// `sim handout NAME -o DIR`.
fn run_handout(args: &HandoutArgs) -> Result<u8, sim::course::CourseError> {
    let root = sim::course::root_from(&args.tree)?;
    let assignment = sim::course::Assignment::load(&root, &args.name)?;
    let changed = sim::course::handout(&root, &assignment, &args.output)?;
    eprintln!(
        "sim: handout of {} written to {}; stubbed: {}",
        assignment.name,
        args.output.display(),
        changed.join(", ")
    );
    Ok(0)
}

/// The programs of `-u`, `-k` and `--vm` in the order they were given:
/// clap records each occurrence's values and the position of each value
/// (or flag) on the command line, so the occurrences are sorted by where
/// they started.
fn scenario_of(matches: &ArgMatches) -> Scenario {
    let mut placed: Vec<(usize, Item)> = Vec::new();
    for (id, kernel) in [("user", false), ("kernel", true)] {
        let (Ok(Some(occurrences)), Some(mut indices)) = (
            matches.try_get_occurrences::<String>(id),
            matches.indices_of(id),
        ) else {
            continue;
        };
        for occurrence in occurrences {
            let args: Vec<String> = occurrence.cloned().collect();
            let Some(first) = indices.next() else {
                break;
            };
            // The other values of this occurrence follow its first one.
            indices
                .by_ref()
                .take(args.len().saturating_sub(1))
                .for_each(drop);
            let item = if kernel {
                Item::Kernel(args)
            } else {
                Item::User(args)
            };
            placed.push((first, item));
        }
    }
    if let Some(indices) = matches.indices_of("vm") {
        placed.extend(indices.map(|at| (at, Item::NextVm)));
    }
    placed.sort_by_key(|(at, _)| *at);
    // Each -a word joins the last -u/-k program placed before it.
    if let (Ok(Some(words)), Some(indices)) = (
        matches.try_get_many::<String>("arg"),
        matches.indices_of("arg"),
    ) {
        for (word, at) in words.zip(indices) {
            let owner = placed
                .iter_mut()
                .rev()
                .find(|(start, item)| *start < at && !matches!(item, Item::NextVm));
            if let Some((_, Item::User(args) | Item::Kernel(args))) = owner {
                args.push(word.clone());
            }
        }
    }
    Scenario::from_items(placed.into_iter().map(|(_, item)| item))
}

/// The guests' environment (sim's own, changed by --env-clear, -U, -E),
/// clock and seed.
fn linux_setup_of(options: &RunOptions) -> sim::kernel::LinuxSetup {
    let mut env: Vec<(String, String)> = if options.env_clear {
        Vec::new()
    } else {
        std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    };
    env.retain(|(k, _)| !options.unset_env.contains(k));
    for setting in &options.set_env {
        let (k, v) = setting.split_once('=').unwrap_or((setting, ""));
        env.retain(|(old, _)| old != k);
        env.push((k.to_string(), v.to_string()));
    }
    sim::kernel::LinuxSetup {
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        clock: match options.clock {
            ClockArg::Virtual => sim::kernel::clock::ClockMode::Virtual,
            ClockArg::Host => sim::kernel::clock::ClockMode::Host,
        },
        seed: options.seed,
    }
}

/// The trace and dump options as one settings value.
fn trace_of(options: &RunOptions) -> Trace {
    Trace {
        instructions: options.trace,
        syscalls: options.trace_syscalls,
        exceptions: options.trace_exceptions,
        daemon: options.trace_daemon,
        dump_shm: options.dump_shm,
        dump_vmshm: options.dump_vmshm,
        dump_contexts: options.dump_contexts,
        from: options.trace_from,
        to: options.trace_to,
        last: options.trace_last,
        pid: options.trace_pid,
        range: options.trace_range,
        // Parsed once per run; `Trace` stays a `Copy` value (src/trace.rs).
        function: options
            .trace_function
            .clone()
            .map(|name| &*Box::leak(name.into_boxed_str())),
    }
}

/// `--trace-range START-END`.
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or("expected START-END, e.g. 0x10000-0x10100")?;
    let address = |t: &str| {
        sim::debug::symbols::parse_address(t.trim()).ok_or(format!("not an address: {t:?}"))
    };
    let (start, end) = (address(start)?, address(end)?);
    if start >= end {
        return Err(format!("empty range: {text}"));
    }
    Ok((start, end))
}

/// A simulator with the options and the programs loaded.
fn build(
    options: &RunOptions,
    matches: &ArgMatches,
    program: &[String],
) -> Result<Simulator, BuildError> {
    let scenario = match &options.scenario {
        Some(path) => Scenario::read(path).map_err(BuildError::Other)?,
        None if !program.is_empty() => Scenario::from_items([Item::User(program.to_vec())]),
        None => scenario_of(matches),
    };
    if scenario.is_empty() {
        return Err(BuildError::Other(
            "nothing to run: give PROG [ARGS], -u PROG, -k KERNEL or --scenario FILE (see sim --help)".into(),
        ));
    }
    let host_shm_given =
        matches.value_source("host_shm") == Some(clap::parser::ValueSource::CommandLine);
    if host_shm_given && options.host_shm >= options.memory {
        // The region is reserved from the machine's memory on first use;
        // without this check that first use would only see ENOMEM. (The
        // default is small and only matters to programs that share.)
        return Err(BuildError::Other(format!(
            "--host-shm {} MiB does not fit in the machine's memory (-m {} MiB): \
             the region is taken from it; give a smaller --host-shm or a larger -m",
            options.host_shm, options.memory
        )));
    }
    let mut builder = Simulator::builder()
        .memory_mb(options.memory)
        .quantum(options.quantum)
        .trace(trace_of(options))
        .host_shm_mb(options.host_shm)
        .trap_division_by_zero(options.trap_division_by_zero)
        .abi(sim::abi::selfie::Profile::from_flag(&options.abi))
        .jit(!options.no_jit)
        .read_only(options.read_only)
        .max_processes(options.max_processes)
        .max_contexts(options.max_contexts)
        .max_open_files(options.max_open_files)
        .max_vms(options.max_vms)
        .linux(linux_setup_of(options));
    if let Some(root) = &options.root {
        builder = builder.root(root);
    }
    if options.debug || options.gdb.is_some() {
        // The debugger forwards the guests' output itself (once, also
        // across replays); stdin is its command stream, not the guest's.
        builder = builder.capture_output(true).stdin_bytes(Vec::new());
    }
    if let Some(limit) = options.max_instructions {
        builder = builder.max_instructions(limit);
    }
    let mut simulator = builder.try_build().map_err(BuildError::Other)?;
    simulator.load_scenario(&scenario)?;
    Ok(simulator)
}

/// `sim node`: the programs are loaded first (a compile error stops the
/// node before it joins), then the server starts and the kernel runs.
fn run_node(node: NodeArgs, matches: &ArgMatches) -> Result<u8, BuildError> {
    let mut simulator = build(&node.run, matches, &[])?;
    let client = sim::rshm::node::start(
        node.id,
        &node.listen,
        node.peers,
        node.cluster_key.as_deref(),
    )
    .map_err(BuildError::Other)?;
    simulator.attach_rshm(client);
    let outcome = simulator.run();
    if let Some(table) = simulator.shutdown_rshm(node.dump_rshm) {
        eprint!("sim: rshm at exit:\n{table}");
    }
    if node.run.stats {
        eprint!("{}", simulator.stats_report());
    }
    Ok(outcome.exit_code.clamp(0, 255) as u8)
}

/// `sim cluster N`: N child `sim node` processes of this executable.
fn run_cluster(cluster: &ClusterArgs) -> Result<u8, BuildError> {
    let exe = std::env::current_exe()
        .map_err(|e| BuildError::Other(format!("cluster: cannot find this executable: {e}")))?;
    let code =
        sim::rshm::cluster::run(&exe, cluster.nodes, &cluster.args).map_err(BuildError::Other)?;
    Ok(code.clamp(0, 255) as u8)
}

/// Writes an image and marks it executable, as a linker does (qemu-riscv64,
/// like the kernel, refuses to run a file without the execute bit).
fn write_executable(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::hypervisor::{ContextSpec, VmSpec};

    fn parse(line: &str) -> Scenario {
        let words = std::iter::once("sim").chain(line.split_whitespace());
        let matches = Cli::command()
            .try_get_matches_from(words)
            .expect("the command line parses");
        scenario_of(&matches)
    }

    fn spec(kernel: bool, line: &str) -> ContextSpec {
        ContextSpec {
            kernel,
            args: line.split_whitespace().map(str::to_string).collect(),
        }
    }

    #[test]
    fn the_command_line_groups_programs_into_vms() {
        let s = parse("-m 8 -u a.c x y --vm -k rr.c -u b.c --stats --vm -uc.c");
        assert_eq!(
            s.vms,
            vec![
                VmSpec {
                    contexts: vec![spec(false, "a.c x y")]
                },
                VmSpec {
                    contexts: vec![spec(true, "rr.c"), spec(false, "b.c")]
                },
                VmSpec {
                    contexts: vec![spec(false, "c.c")]
                },
            ]
        );
    }

    #[test]
    fn kernels_nest_in_the_order_given() {
        let s = parse("-k k1.c -k k2.c a -u p.c -u q.c x");
        assert_eq!(
            s.vms,
            vec![VmSpec {
                contexts: vec![
                    spec(true, "k1.c"),
                    spec(true, "k2.c a"),
                    spec(false, "p.c"),
                    spec(false, "q.c x")
                ]
            }]
        );
    }

    #[test]
    fn every_word_after_prog_belongs_to_the_guest() {
        let words = "sim -m 8 selfie.m -c selfie.c -o out.m -m 1 -- x".split(' ');
        let cli = Cli::try_parse_from(words).expect("parses");
        assert_eq!(
            cli.program.join(" "),
            "selfie.m -c selfie.c -o out.m -m 1 -- x"
        );
        assert_eq!(cli.run.memory, 8);
    }

    #[test]
    fn dash_a_words_join_the_program_before_them() {
        let s = parse("-u p.c x -a -c -a y -u q.c -a -z");
        assert_eq!(
            s.vms,
            vec![VmSpec {
                contexts: vec![spec(false, "p.c x -c y"), spec(false, "q.c -z")]
            }]
        );
    }

    #[test]
    fn node_options_are_read_from_the_subcommand() {
        let words = "sim node --id 1 --listen 127.0.0.1:0 -u a.c --vm -u b.c".split(' ');
        let matches = Cli::command().try_get_matches_from(words).expect("parses");
        let node = matches.subcommand_matches("node").expect("node");
        assert_eq!(scenario_of(node).vms.len(), 2);
    }
}

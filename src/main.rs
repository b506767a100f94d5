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
    after_help = "Examples:\n  sim -u programs/hello.s\n  sim -u programs/hello.c --stats\n  sim -u prog.elf arg1 arg2 -u other.elf\n  sim -k programs/kernels/rr.c -u programs/hello.c -u programs/echo.c a b\n  sim -u programs/hello.c --vm -k programs/kernels/rr.c -u programs/fork.c\n  sim --scenario vms.txt\n  sim -c a.c b.c -o prog.elf\n  sim cluster 3 -u programs/rshm/board.c\n\nWithin a VM, -k starts a guest kernel under the kernel before it (the\nhost for the first), -u loads a program under the last -k (or the host);\n--vm starts the next VM. See docs/hypervisor.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunOptions,

    /// Compile (.c) or assemble (.s) the given files into one ELF (with -o).
    #[arg(short = 'c', value_name = "FILES", num_args = 1.., conflicts_with_all = ["user", "kernel"])]
    compile: Vec<PathBuf>,

    /// Output file for -c.
    #[arg(short = 'o', value_name = "FILE", requires = "compile")]
    output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node of distributed shared memory (spec/rshm.md): the programs
    /// run on a kernel whose rshm calls reach the other nodes over TCP.
    Node(Box<NodeArgs>),
    /// Start N nodes on 127.0.0.1 (ports the OS assigns), each running the
    /// given programs; output lines are prefixed `[node N]`.
    Cluster(ClusterArgs),
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

    /// Print the shared-memory list (spec/shm.md) after every shm call
    /// that succeeded and at exit.
    #[arg(long)]
    dump_shm: bool,

    /// Size of the host shared region for inter-VM shared memory
    /// (spec/vmshm.md) in MiB, reserved on first use.
    #[arg(long, value_name = "MB", default_value_t = sim::hypervisor::DEFAULT_HOST_SHM_MB)]
    host_shm: u64,

    /// Print every message between the VMs' client daemons and the host
    /// daemon (spec/vmshm.md).
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
    let mut simulator = build(&cli.run, matches)?;
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
    Scenario::from_items(placed.into_iter().map(|(_, item)| item))
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
fn build(options: &RunOptions, matches: &ArgMatches) -> Result<Simulator, BuildError> {
    let scenario = match &options.scenario {
        Some(path) => Scenario::read(path).map_err(BuildError::Other)?,
        None => scenario_of(matches),
    };
    if scenario.is_empty() {
        return Err(BuildError::Other(
            "nothing to run: give -u PROG, -k KERNEL or --scenario FILE (see sim --help)".into(),
        ));
    }
    let mut builder = Simulator::builder()
        .memory_mb(options.memory)
        .quantum(options.quantum)
        .trace(trace_of(options))
        .host_shm_mb(options.host_shm)
        .trap_division_by_zero(options.trap_division_by_zero)
        .read_only(options.read_only)
        .max_processes(options.max_processes)
        .max_contexts(options.max_contexts)
        .max_open_files(options.max_open_files)
        .max_vms(options.max_vms);
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
    let mut simulator = build(&node.run, matches)?;
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
    fn node_options_are_read_from_the_subcommand() {
        let words = "sim node --id 1 --listen 127.0.0.1:0 -u a.c --vm -u b.c".split(' ');
        let matches = Cli::command().try_get_matches_from(words).expect("parses");
        let node = matches.subcommand_matches("node").expect("node");
        assert_eq!(scenario_of(node).vms.len(), 2);
    }
}

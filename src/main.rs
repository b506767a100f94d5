//! The `sim` command line: parse, build a `Simulator`, run, print.
//! Everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};
use sim::hypervisor::Scenario;
use sim::toolchain::BuildError;
use sim::Simulator;

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
    Node(NodeArgs),
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
    #[arg(long = "vm", action = ArgAction::Count)]
    vm: u8,

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

    /// Print every instruction executed, disassembled, with the register it changed.
    #[arg(long)]
    trace: bool,

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
    #[arg(long, value_name = "MB", default_value_t = sim::vmshm::DEFAULT_HOST_SHM_MB)]
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
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
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

fn run(cli: Cli) -> Result<u8, BuildError> {
    match cli.command {
        Some(Command::Node(node)) => return run_node(node),
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
    let mut simulator = build(&cli.run)?;
    let outcome = simulator.run();
    if cli.run.stats {
        eprint!("{}", simulator.stats_report());
    }
    Ok(outcome.exit_code.clamp(0, 255) as u8)
}

/// A simulator with the options and the programs loaded.
fn build(options: &RunOptions) -> Result<Simulator, BuildError> {
    // clap gives the values of -u and -k flattened: re-read the raw
    // arguments to group them into programs and VMs.
    let scenario = match &options.scenario {
        Some(path) => Scenario::read(path).map_err(BuildError::Other)?,
        None => Scenario::from_args(std::env::args().skip(1)),
    };
    if scenario.is_empty() {
        return Err(BuildError::Other(
            "nothing to run: give -u PROG, -k KERNEL or --scenario FILE (see sim --help)".into(),
        ));
    }
    let mut builder = Simulator::builder()
        .memory_mb(options.memory)
        .quantum(options.quantum)
        .trace(options.trace)
        .trace_syscalls(options.trace_syscalls)
        .trace_exceptions(options.trace_exceptions)
        .dump_contexts(options.dump_contexts)
        .dump_shm(options.dump_shm)
        .host_shm_mb(options.host_shm)
        .trace_daemon(options.trace_daemon)
        .dump_vmshm(options.dump_vmshm);
    if let Some(limit) = options.max_instructions {
        builder = builder.max_instructions(limit);
    }
    let mut simulator = builder.try_build().map_err(BuildError::Other)?;
    simulator.load_scenario(&scenario)?;
    Ok(simulator)
}

/// `sim node`: the programs are loaded first (a compile error stops the
/// node before it joins), then the server starts and the kernel runs.
fn run_node(node: NodeArgs) -> Result<u8, BuildError> {
    let mut simulator = build(&node.run)?;
    let client =
        sim::rshm::node::start(node.id, &node.listen, node.peers).map_err(BuildError::Other)?;
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

//! `sim cluster N -u PROG …` (docs/spec/rshm.md): N nodes on 127.0.0.1 in one
//! command, for demos and tests. Each node is a child `sim node` process
//! of the same executable.
//!
//! ```text
//! run(exe, n, args)
//!   find n free ports on 127.0.0.1 below the ephemeral range (loopback_ports)
//!   write a fresh cluster key to a file only this user can read (unless
//!   args name one with --cluster-key)
//!   spawn `exe node --id i --listen 127.0.0.1:P_i --peer j=127.0.0.1:P_j
//!          --cluster-key KEY … args`
//!   two threads per child copy its stdout / stderr lines, prefixed `[node i] `
//!   wait for every child; the exit code is the first non-zero one in node order
//!   remove the key file
//! ```
//!
//! The ports come from below the OS's range of ephemeral ports
//! (`loopback_ports`), so that no connection this machine opens in the
//! meantime, ours included, takes one before its node binds it. Another
//! program that binds one of them in that instant makes that node fail to
//! bind, and it says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};

/// The most nodes `sim cluster` starts (node ids are 1..=N).
pub const MAX_NODES: u16 = 64;

/// Runs `n` nodes of `exe`, each with `args` (`-u PROG …` and options),
/// and returns the exit code.
///
/// # Errors
/// A message when a port cannot be found or a child cannot be started.
pub fn run(exe: &Path, n: u16, args: &[String]) -> Result<i32, String> {
    if n == 0 || n > MAX_NODES {
        return Err(format!("cluster: N must be 1..={MAX_NODES}, not {n}"));
    }
    let ports = loopback_ports(usize::from(n))
        .map_err(|e| format!("cluster: cannot find free ports on 127.0.0.1: {e}"))?;
    let given_key = args
        .iter()
        .any(|a| a == "--cluster-key" || a.starts_with("--cluster-key="));
    let key = if given_key {
        None
    } else {
        Some(KeyFile::new()?)
    };
    let mut children: Vec<(u16, Child, Vec<JoinHandle<()>>)> = Vec::new();
    for id in 1..=n {
        let mut command = Command::new(exe);
        command
            .arg("node")
            .arg("--id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", ports[usize::from(id - 1)]));
        for peer in (1..=n).filter(|&p| p != id) {
            command
                .arg("--peer")
                .arg(format!("{peer}=127.0.0.1:{}", ports[usize::from(peer - 1)]));
        }
        if let Some(key) = &key {
            command.arg("--cluster-key").arg(&key.0);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cluster: cannot start node {id}: {e}"))?;
        let mut copiers = Vec::new();
        if let Some(out) = child.stdout.take() {
            copiers.push(copy_prefixed(out, id, false));
        }
        if let Some(err) = child.stderr.take() {
            copiers.push(copy_prefixed(err, id, true));
        }
        children.push((id, child, copiers));
    }
    let mut code = 0;
    for (id, mut child, copiers) in children {
        let status = child
            .wait()
            .map_err(|e| format!("cluster: waiting for node {id}: {e}"))?;
        for c in copiers {
            let _ = c.join();
        }
        let this = exit_code(&status);
        if code == 0 && this != 0 {
            code = this;
        }
    }
    Ok(code)
}

/// A cluster key file for one run, removed when dropped.
struct KeyFile(PathBuf);

impl KeyFile {
    fn new() -> Result<KeyFile, String> {
        let path = std::env::temp_dir().join(format!(
            "sim-cluster-{}-{:x}.key",
            std::process::id(),
            u64::from_le_bytes(super::auth::nonce()[..8].try_into().unwrap_or([0; 8]))
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .map_err(|e| format!("cluster: cannot write a key file {}: {e}", path.display()))?;
        file.write_all(super::auth::new_key_text().as_bytes())
            .map_err(|e| format!("cluster: cannot write a key file {}: {e}", path.display()))?;
        Ok(KeyFile(path))
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How many ports `loopback_ports` tried in this process so far. Shared
/// by its threads, so that two clusters started at once (tests in
/// parallel) never get the same port.
static PORTS_TRIED: AtomicU32 = AtomicU32::new(0);

/// `n` ports free on 127.0.0.1 now, for nodes to bind soon after.
///
/// Why not ports the OS assigns (`bind 127.0.0.1:0`, then release)? Those
/// come from the ephemeral range, which is also where every outgoing
/// connection gets its local port: between the release and the node's
/// bind, a connection of any program, often another node's, could take
/// it. So these are found below that range (Linux:
/// `/proc/sys/net/ipv4/ip_local_port_range`, 32768 elsewhere), where
/// only an explicit bind takes a port, each checked free by binding it.
/// They are taken from the upper half below it (16384 to 32767 by
/// default), above the well-known and most service ports. The search
/// starts at a place that depends on the process id and goes on from
/// where this process's last search stopped. (With no room below the
/// range, the OS assigns them, as before.)
///
/// # Errors
/// When a socket cannot be made, or no port of the range is free.
pub fn loopback_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let below = ephemeral_low();
    let first = (below / 2).max(1024);
    if first >= below {
        return (0..n)
            .map(|_| Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()))
            .collect();
    }
    let span = below - first;
    let mut ports = Vec::with_capacity(n);
    for _ in 0..span {
        if ports.len() == n {
            break;
        }
        let tried = PORTS_TRIED.fetch_add(1, Ordering::Relaxed);
        let offset = std::process::id().wrapping_mul(7919).wrapping_add(tried) % span;
        let Ok(port) = u16::try_from(first + offset) else {
            continue;
        };
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => ports.push(port),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(e),
        }
    }
    if ports.len() < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("no {n} free ports from {first} to {below}"),
        ));
    }
    Ok(ports)
}

/// The first port of the OS's ephemeral range.
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// Copies `stream` line by line to our stdout or stderr, each line
/// prefixed `[node id] ` (written whole, so lines of nodes never mix).
fn copy_prefixed(stream: impl Read + Send + 'static, id: u16, to_stderr: bool) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            let mut out = format!("[node {id}] ").into_bytes();
            out.extend_from_slice(&line);
            let _ = if to_stderr {
                std::io::stderr().lock().write_all(&out)
            } else {
                std::io::stdout().lock().write_all(&out)
            };
        }
    })
}

/// The code a shell would see: the exit code, or 128 + the signal.
fn exit_code(status: &std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

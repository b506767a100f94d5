//! Starting the rshm server of a `sim node` (docs/spec/rshm.md, "What users can
//! see"): bind the listening address, parse `--peer ID=ADDR`, start the
//! server thread and hand the kernel its end of the queues.
//!
//! ```text
//! main.rs `sim node` → node::start(id, listen, peers, key) → RshmClient
//!   → Kernel::rshm = Some(client); Simulator::run(); Kernel::shutdown_rshm
//! ```

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use super::auth::ClusterKey;
use super::client::RshmClient;
use super::server::{NodeConfig, NodeHandle};
use super::wire::{check_node_id, NodeId};

/// Parses `--peer ID=ADDR` (ADDR as `host:port`, resolved now).
///
/// # Errors
/// A message that names what is wrong.
pub fn parse_peer(text: &str) -> Result<(NodeId, SocketAddr), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("--peer {text}: expected ID=ADDR"))?;
    let id: NodeId = id
        .parse()
        .map_err(|_| format!("--peer {text}: node id {id:?} is not a number 0..65535"))?;
    check_node_id(id).map_err(|e| format!("--peer {text}: {e}"))?;
    let addr = resolve(addr).map_err(|e| format!("--peer {text}: {e}"))?;
    Ok((id, addr))
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

/// Binds `listen` and starts node `id`'s server, knowing `peers`, with
/// the cluster key read from `key_file` (none: peers are not
/// authenticated, and the node says so). Prints `sim: node N: listening on
/// ADDR` (with the port the OS chose for `:0`).
///
/// # Errors
/// A message naming what is wrong: a node id outside the supported range,
/// an unreadable key file, an address that could not be bound.
pub fn start(
    id: NodeId,
    listen: &str,
    peers: Vec<(NodeId, SocketAddr)>,
    key_file: Option<&Path>,
) -> Result<RshmClient, String> {
    check_node_id(id).map_err(|e| format!("--id {id}: {e}"))?;
    let key = match key_file {
        Some(path) => ClusterKey::from_file(path)?,
        None => {
            eprintln!(
                "sim: node {id}: no --cluster-key: any peer that speaks the protocol may join"
            );
            ClusterKey::open()
        }
    };
    let addr = resolve(listen).map_err(|e| format!("--listen {e}"))?;
    let listener =
        bind_patiently(addr, id).map_err(|e| format!("--listen {listen}: cannot bind: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    eprintln!("sim: node {id}: listening on {bound}");
    let mut config = NodeConfig::new(id, listener, peers);
    config.key = key;
    let handle = NodeHandle::start(config)
        .map_err(|e| format!("node {id}: cannot start the rshm server: {e}"))?;
    Ok(RshmClient::new(handle))
}

/// How long `bind_patiently` waits for a busy port.
const BIND_PATIENCE: Duration = Duration::from_secs(5);

/// Binds `addr`, waiting up to `BIND_PATIENCE` while the port is in use.
///
/// A node restarted at once on its old port, as after a crash, can find
/// it still held for a moment by the sockets of its previous incarnation
/// while the OS closes them (also seen in the fault tests, where many
/// nodes come and go on one machine). Any other error fails at once.
fn bind_patiently(addr: SocketAddr, id: NodeId) -> std::io::Result<TcpListener> {
    let deadline = Instant::now() + BIND_PATIENCE;
    let mut said = false;
    loop {
        match TcpListener::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                if !said {
                    eprintln!("sim: node {id}: {addr} is in use; waiting for it");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

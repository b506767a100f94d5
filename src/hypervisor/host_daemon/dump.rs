//! `--dump-vmshm`: the host region as text, for people and snapshots.
//!
//! ```text
//! host region: 1024 pages (4 MiB), frames 0..=1023, 1022 pages free
//!   free: pages 2..1024
//!   blocks handed out 3, scrubbed before reuse 2
//! level 1 (vm_open/vm_close):
//!   shmid 7: offset 0x0, 1 page, EXCLUSIVE, refs 2: vm 0 [pids 1 2], vm 1 [pid 1]
//! level 2 (vm_listen/vm_connect/vm_disconnect):
//!   shmid 9: offset 0x1000, 1 page: listener vm 0 pid 1 Mapped, connector vm 1 pid 1 Closing
//! ```
//!
//! The host knows the VMs; each VM's client daemon knows its processes, so
//! the dump takes both.

use std::fmt::Write;

use super::{HostDaemon, Side};
use crate::emu::PAGE_SIZE;
use crate::vmshm::ClientDaemon;

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The host region, its blocks and who uses them.
pub fn dump(host: &HostDaemon, clients: &[&ClientDaemon]) -> String {
    let mut s = String::new();
    let pages = host.pages();
    let frames = host.frames();
    let reserved = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) if b.0 - a.0 + 1 == frames.len() as u32 => {
            format!("frames {a}..={b}")
        }
        (Some(_), Some(_)) => format!("{} frames", frames.len()),
        _ => "not reserved yet".to_string(),
    };
    let _ = writeln!(
        s,
        "host region: {} ({} KiB), {reserved}, {} free",
        plural(pages, "page"),
        pages * PAGE_SIZE / 1024,
        plural(host.allocator().free_pages(), "page")
    );
    let free: Vec<String> = host
        .allocator()
        .free_ranges()
        .iter()
        .map(|(f, n)| format!("{f}..{}", f + n))
        .collect();
    let _ = writeln!(s, "  free pages: [{}]", free.join(", "));
    let _ = writeln!(
        s,
        "  blocks handed out {} (each zeroed first)",
        host.handed_out
    );
    let vms: Vec<String> = host
        .vms()
        .iter()
        .map(|(vm, ended)| format!("{vm}{}", if *ended { " (ended)" } else { "" }))
        .collect();
    let _ = writeln!(s, "  VMs: {}", vms.join(", "));
    let _ = writeln!(s, "level 1 (vm_open/vm_close):");
    if host.open_blocks().is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for (shmid, b) in host.open_blocks() {
        let users: Vec<String> = b
            .vms
            .iter()
            .map(|vm| {
                let pids: Vec<String> = clients
                    .iter()
                    .filter(|c| c.vm() == *vm)
                    .filter_map(|c| c.opens().get(shmid))
                    .flat_map(|m| {
                        m.iter().map(|(pid, maps)| {
                            let rw = if maps.iter().all(|m| m.writable) {
                                "rw"
                            } else if maps.iter().any(|m| m.writable) {
                                "r/rw"
                            } else {
                                "r"
                            };
                            format!("{pid} {rw}")
                        })
                    })
                    .collect();
                format!("{vm} [{}]", pids.join(", "))
            })
            .collect();
        let info = b.block.info();
        let _ = writeln!(
            s,
            "  shmid {shmid}: offset {:#x}, {}, {}, refs {}: {}",
            info.offset,
            plural(b.block.pages, "page"),
            b.sharing,
            b.vms.len(),
            users.join(", ")
        );
    }
    let _ = writeln!(s, "level 2 (vm_listen/vm_connect/vm_disconnect):");
    if host.connections().is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    let side =
        |what: &str, side: &Side| format!("{what} {} pid {} {:?}", side.vm, side.pid, side.state);
    for (shmid, c) in host.connections() {
        let block = c.block.map_or_else(
            || format!("{} requested, no block", plural(c.pages, "page")),
            |b| format!("offset {:#x}, {}", b.info().offset, plural(b.pages, "page")),
        );
        let mut sides = vec![side("listener", &c.listener)];
        if let Some(connector) = &c.connector {
            sides.push(side("connector", connector));
        }
        let _ = writeln!(s, "  shmid {shmid}: {block}: {}", sides.join(", "));
    }
    s
}

//! `--dump-shm`: the lists drawn as docs/spec/shm.md draws them, one box per
//! object in list order and, under it, one box per client, with the real
//! slot, page and frame numbers.
//!
//! ```text
//! shm: 1 object (head 0, tail 0)
//! object [slot 0]
//! +---------+------------------+
//! | next    | -                |
//! | prev    | -                |
//! | id      | 1                |
//! | name    | "test"           |
//! | size    | 8192 (2 pages)   |
//! | frames  | [200, 201]       |
//! | clients | 2 (head 0, tail 1) |
//! +---------+------------------+
//!     client [slot 0]
//!     +-------+--------------+
//!     | next  | 1            |
//!     ...
//! ```
//!
//! Runs of three or more consecutive numbers print as `first..=last`, so a
//! 4 MiB object stays one line.

use std::fmt::Write;

use super::list::Slot;
use super::table::ShmTable;
use crate::emu::PAGE_SIZE;

/// The table as text (ends with a newline).
pub fn dump(table: &ShmTable) -> String {
    let objects = table.objects();
    let mut out = String::new();
    if objects.is_empty() {
        out.push_str("shm: no objects\n");
        return out;
    }
    let _ = writeln!(
        out,
        "shm: {} object{} (head {}, tail {})",
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        link(objects.head()),
        link(objects.tail())
    );
    for (handle, object) in objects.iter() {
        let _ = writeln!(out, "object [slot {}]", handle.slot);
        let size = match object.size {
            Some(size) => format!("{size} ({} pages)", size / PAGE_SIZE),
            None => "- (not set)".into(),
        };
        let clients = &object.clients;
        let rows = [
            ("next", link(object.next)),
            ("prev", link(object.prev)),
            ("id", object.id.to_string()),
            ("name", format!("\"{}\"", object.display_name())),
            ("size", size),
            (
                "frames",
                numbers(object.frames.iter().map(|f| u64::from(f.0))),
            ),
            (
                "clients",
                format!(
                    "{} (head {}, tail {})",
                    clients.len(),
                    link(clients.head()),
                    link(clients.tail())
                ),
            ),
        ];
        draw(&mut out, "", &rows);
        for (handle, client) in clients.iter() {
            let _ = writeln!(out, "    client [slot {}]", handle.slot);
            let rows = [
                ("next", link(client.next)),
                ("prev", link(client.prev)),
                ("pid", client.pid.to_string()),
                ("pages", numbers(client.pages.iter().map(|p| p.0))),
            ];
            draw(&mut out, "    ", &rows);
        }
    }
    out
}

fn link(slot: Option<Slot>) -> String {
    slot.map_or_else(|| "-".into(), |s| s.to_string())
}

/// `[a, b, c..=d]`: runs of three or more consecutive numbers shortened.
fn numbers(values: impl Iterator<Item = u64>) -> String {
    let values: Vec<u64> = values.collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j].wrapping_add(1) {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}..={}", values[i], values[j]));
        } else {
            parts.extend(values[i..=j].iter().map(u64::to_string));
        }
        i = j + 1;
    }
    format!("[{}]", parts.join(", "))
}

/// One box of `key | value` rows.
fn draw(out: &mut String, indent: &str, rows: &[(&str, String)]) {
    let key = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let value = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let rule = format!(
        "{indent}+{}+{}+\n",
        "-".repeat(key + 2),
        "-".repeat(value + 2)
    );
    out.push_str(&rule);
    for (k, v) in rows {
        let _ = writeln!(out, "{indent}| {k:<key$} | {v:<value$} |");
    }
    out.push_str(&rule);
}

#[cfg(test)]
mod tests {
    use super::numbers;

    #[test]
    fn runs_are_shortened() {
        assert_eq!(numbers([200, 201].into_iter()), "[200, 201]");
        assert_eq!(numbers([1, 2, 3, 4, 9, 7].into_iter()), "[1..=4, 9, 7]");
        assert_eq!(numbers(std::iter::empty()), "[]");
    }
}

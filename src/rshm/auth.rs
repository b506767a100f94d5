//! Who may talk to a node: the cluster key, the greeting and the tag that
//! seals every later frame (BLAKE3 in keyed mode, from the `blake3` crate:
//! nothing here is hand-written crypto).
//!
//! ```text
//! sim node --cluster-key FILE ─► ClusterKey::from_file (derive_key of the file)
//! connection opens: each end sends Greeting { nonce } (peers.rs `open`)
//! reader thread: first frame must be a greeting ─► session(key, mine, theirs)
//!    ─► Opener (stays in the reader: checks each frame's tag, in order)
//!    ─► Sealer (goes to the server: tags each frame it writes)
//! tag = keyed_hash(direction key, frame number ‖ envelope)
//! ```
//!
//! The direction keys mix both nonces, so tags of one connection are
//! worthless on another, and the implicit frame number makes a replayed,
//! dropped or reordered frame fail its tag. A peer without the key gets
//! past its greeting and no further: its first sealed frame fails, and the
//! connection is closed. Without `--cluster-key` the key is derived from
//! nothing: the handshake still runs, but any peer that knows the protocol
//! passes it (the node says so when it starts).

use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of a frame's tag (a whole BLAKE3 output: its comparison is
/// constant-time).
pub const TAG_BYTES: usize = 32;

/// The derivation context of cluster keys (BLAKE3's `derive_key`).
const KEY_CONTEXT: &str = "sim rshm 2026 cluster key v1";

/// The shortest key file accepted, in bytes.
pub const MIN_KEY_FILE: usize = 16;
/// The longest key file accepted, in bytes.
pub const MAX_KEY_FILE: u64 = 64 << 10;

/// The secret every node of a cluster shares.
#[derive(Clone)]
pub struct ClusterKey {
    key: [u8; 32],
    /// Read from a file (false: the open, unauthenticated key).
    pub secret: bool,
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterKey {{ secret: {} }}", self.secret)
    }
}

impl ClusterKey {
    /// The key derived from the bytes of `path` (surrounding white space
    /// ignored, so a key file may end with a newline).
    ///
    /// # Errors
    /// A message when the file cannot be read or is too short.
    pub fn from_file(path: &Path) -> Result<ClusterKey, String> {
        // Read at most MAX_KEY_FILE bytes (and one more to tell): an
        // endless file (`/dev/zero`) is an error, not all of the memory.
        let mut text = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut text))
            .map_err(|e| format!("--cluster-key {}: {e}", path.display()))?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(format!(
                "--cluster-key {}: larger than {MAX_KEY_FILE} bytes, the most a key file may have",
                path.display()
            ));
        }
        let trimmed = text.trim_ascii();
        if trimmed.len() < MIN_KEY_FILE {
            return Err(format!(
                "--cluster-key {}: a key needs at least {MIN_KEY_FILE} bytes, the file has {}",
                path.display(),
                trimmed.len()
            ));
        }
        Ok(ClusterKey::from_secret(trimmed))
    }

    /// The key derived from `secret`.
    pub fn from_secret(secret: &[u8]) -> ClusterKey {
        ClusterKey {
            key: blake3::derive_key(KEY_CONTEXT, secret),
            secret: true,
        }
    }

    /// The key of a node started without `--cluster-key`.
    pub fn open() -> ClusterKey {
        ClusterKey {
            key: blake3::derive_key(KEY_CONTEXT, b""),
            secret: false,
        }
    }
}

/// A new key file's contents: 64 hex digits of fresh randomness.
pub fn new_key_text() -> String {
    let bytes = nonce();
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.push('\n');
    s
}

/// 32 bytes the peer cannot predict: from the OS (`/dev/urandom`), or,
/// where that cannot be read, from std's randomly seeded hasher.
pub fn nonce() -> [u8; 32] {
    let mut out = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if from_os.is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        for chunk in out.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    out
}

fn direction_key(key: &ClusterKey, from: &[u8; 32], to: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(&key.key);
    h.update(b"rshm direction");
    h.update(from);
    h.update(to);
    *h.finalize().as_bytes()
}

fn tag_of(key: &[u8; 32], number: u64, envelope: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(&number.to_le_bytes());
    h.update(envelope);
    h.finalize()
}

/// Tags the frames one end writes.
pub struct Sealer {
    key: [u8; 32],
    next: u64,
}

impl Sealer {
    /// The tag of the next frame, whose envelope is `envelope`.
    pub fn tag(&mut self, envelope: &[u8]) -> [u8; TAG_BYTES] {
        let tag = tag_of(&self.key, self.next, envelope);
        self.next += 1;
        *tag.as_bytes()
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer {{ next: {} }}", self.next)
    }
}

/// Checks the frames one end reads.
pub struct Opener {
    key: [u8; 32],
    next: u64,
}

impl Opener {
    /// Whether `tag` seals `envelope` as the next frame (constant-time).
    pub fn check(&mut self, envelope: &[u8], tag: &[u8; TAG_BYTES]) -> bool {
        let ok = tag_of(&self.key, self.next, envelope) == blake3::Hash::from_bytes(*tag);
        self.next += 1;
        ok
    }
}

/// The two halves of a connection's session: what this end seals with
/// and what it opens the peer's frames with.
pub fn session(key: &ClusterKey, mine: &[u8; 32], theirs: &[u8; 32]) -> (Sealer, Opener) {
    (
        Sealer {
            key: direction_key(key, mine, theirs),
            next: 0,
        },
        Opener {
            key: direction_key(key, theirs, mine),
            next: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_agree_and_a_stranger_or_a_replay_fails() {
        let key = ClusterKey::from_secret(b"sixteen bytes at least");
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        let (mut a_seal, _) = session(&key, &a, &b);
        let (_, mut b_open) = session(&key, &b, &a);
        let t0 = a_seal.tag(b"hello");
        let t1 = a_seal.tag(b"world");
        assert!(b_open.check(b"hello", &t0));
        assert!(!b_open.check(b"hello", &t0), "replay: the number moved on");
        // A peer with another key.
        let other = ClusterKey::from_secret(b"another sixteen bytes");
        let (mut x_seal, _) = session(&other, &a, &b);
        let (_, mut b_open) = session(&key, &b, &a);
        assert!(!b_open.check(b"hello", &x_seal.tag(b"hello")));
        let _ = t1;
    }

    #[test]
    fn key_files_are_checked() {
        let dir = std::env::temp_dir().join(format!("rshm-key-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "abc\n").unwrap();
        assert!(ClusterKey::from_file(&short).is_err());
        let good = dir.join("good");
        std::fs::write(&good, new_key_text()).unwrap();
        assert!(ClusterKey::from_file(&good).unwrap().secret);
        assert!(ClusterKey::from_file(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

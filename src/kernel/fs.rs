//! The guests' file system: a root directory of the host (`--root DIR`,
//! default the directory sim was started in) inside which every guest path
//! is resolved, and nothing outside it.
//!
//! ```text
//! guest path        resolved as (a path relative to the root)
//! "/a/b"            "a/b"                 absolute paths start at the root
//! "a/b"             cwd + "a/b"           relative to the process's working
//!                                         directory (a path inside the root)
//! dirfd, "a/b"      that directory's path + "a/b"
//! ```
//!
//! The resolved path is opened through a `cap_std::fs::Dir` of the root,
//! opened once (`FileSystem::open`) with the simulator's ambient
//! authority. cap-std walks the path component by component with
//! `openat(2)` and refuses every step that would leave the root: `..` past
//! it, a symlink (absolute, or relative and climbing out), through
//! `/proc/self/root` or `/dev/fd/N` (they are not inside the root unless
//! the root is `/`), `O_CREAT` through a dangling symlink that points
//! outside. Directory descriptors carry their path inside the root, so a
//! directory fd cannot lead out either. String checks on paths are never
//! what keeps the guest in.
//!
//! `--root /` gives the host's whole file system, as qemu-riscv64 does,
//! with the working directory sim was started in. `--read-only` refuses
//! every open that could change a file (`EROFS`).
//!
//! **Extension point (coursework):** the other Linux file calls
//! (`newfstatat`, `mkdirat`, `unlinkat`, `renameat2`, `readlinkat`,
//! `faccessat`, `getcwd`, `chdir`) take a path the same way: `resolve` it,
//! then call the `cap_std::fs::Dir` method of the same name on `root()`.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

/// The root directory and how the guests may use it.
pub struct FileSystem {
    root: Dir,
    /// The host path of the root, for messages.
    root_path: PathBuf,
    /// `--read-only`: opens that could change a file fail with `EROFS`.
    read_only: bool,
    /// The working directory a new process starts in, inside the root:
    /// sim's own when it lies inside the root, else the root itself.
    start_cwd: PathBuf,
}

impl FileSystem {
    /// Opens `root` (which must be a directory) as the guests' root.
    ///
    /// # Errors
    /// A message naming the directory when it cannot be opened.
    pub fn open(root: &Path, read_only: bool) -> Result<FileSystem, String> {
        let shown = root.display();
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(|e| format!("--root {shown}: cannot open the directory: {e}"))?;
        let root_path = std::fs::canonicalize(root)
            .map_err(|e| format!("--root {shown}: cannot resolve the directory: {e}"))?;
        let start_cwd = std::env::current_dir()
            .ok()
            .and_then(|cwd| std::fs::canonicalize(cwd).ok())
            .and_then(|cwd| cwd.strip_prefix(&root_path).ok().map(Path::to_path_buf))
            .unwrap_or_default();
        Ok(FileSystem {
            root: dir,
            root_path,
            read_only,
            start_cwd,
        })
    }

    /// The root, as a capability: every open goes through it.
    pub fn root(&self) -> &Dir {
        &self.root
    }

    /// The host path of the root.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Where a new process's working directory is, inside the root.
    pub fn start_cwd(&self) -> &Path {
        &self.start_cwd
    }

    /// A guest path (bytes, as the guest passed them) as a path relative
    /// to the root: absolute ones from the root, relative ones from
    /// `base` (the working directory or a directory descriptor's path).
    /// The result is only ever opened through `root()`, which keeps it
    /// inside.
    pub fn resolve(&self, base: &Path, guest_path: &[u8]) -> PathBuf {
        let path = Path::new(OsStr::from_bytes(guest_path));
        let mut resolved = if path.is_absolute() {
            PathBuf::new()
        } else {
            base.to_path_buf()
        };
        // Leading `/`s are the root itself; cap-std refuses absolute paths.
        resolved.extend(path.components().filter(|c| *c != Component::RootDir));
        if resolved.as_os_str().is_empty() {
            resolved.push(".");
        }
        resolved
    }
}

/// Whether an error of cap-std says the path would have left the root.
pub fn is_escape(error: &io::Error) -> bool {
    // cap-std reports every escape as this one PermissionDenied error.
    error.kind() == io::ErrorKind::PermissionDenied
        && error.to_string().contains("outside of the filesystem")
}

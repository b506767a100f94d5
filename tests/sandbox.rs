//! Finding 3 of issue 11 (no file-system sandbox): a guest's paths resolve
//! inside the root directory (`--root`, `SimulatorBuilder::root`), and no
//! trick leads out. Each test starts the guest in a fresh, nearly empty
//! directory next to an "outside" directory holding a secret, and tries
//! the tricks of kernel/fs.rs one `openat` at a time, issued through the
//! kernel's real dispatch (`Simulator::syscall`).
//!
//! On main, `openat` was the host's `open(2)` in sim's working directory:
//! `../outside/secret` and an absolute path to the secret were read, files
//! were created and truncated anywhere.

use std::path::{Path, PathBuf};

use sim::abi::layout::STACK_TOP;
use sim::abi::*;
use sim::emu::PAGE_SIZE;
use sim::kernel::Pid;
use sim::Simulator;

/// Where the rig writes paths: a stack page below the argument strings.
const PATH_AT: u64 = STACK_TOP - 16 * PAGE_SIZE;
/// Where reads land.
const BUF_AT: u64 = STACK_TOP - 64 * PAGE_SIZE;

const SECRET: &[u8] = b"the secret outside the root\n";

/// `-errno` as the guest sees it in a0.
fn e(errno: Errno) -> u64 {
    errno.to_return()
}

/// A scratch tree, removed when dropped:
///
/// ```text
/// <tmp>/sim-sandbox-<pid>-<name>/
///   outside/secret        the file no guest may reach
///   root/                 the guest's root
///     inside.txt
///     sub/                a directory
/// ```
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let base = std::env::temp_dir().join(format!("sim-sandbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::create_dir_all(base.join("root/sub")).unwrap();
        std::fs::write(base.join("outside/secret"), SECRET).unwrap();
        std::fs::write(base.join("root/inside.txt"), b"inside\n").unwrap();
        Tree(base)
    }

    fn root(&self) -> PathBuf {
        self.0.join("root")
    }

    fn secret(&self) -> PathBuf {
        self.0.join("outside/secret")
    }

    fn symlink(&self, target: &Path, link: &str) {
        std::os::unix::fs::symlink(target, self.root().join(link)).unwrap();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A simulator rooted in `root` with one idle process whose calls the test
/// makes.
struct Rig {
    sim: Simulator,
    pid: Pid,
}

impl Rig {
    fn new(root: &Path, read_only: bool) -> Rig {
        let mut sim = Simulator::builder()
            .capture_output(true)
            .root(root)
            .read_only(read_only)
            .build();
        let idle = sim::toolchain::cstar::compile(&[(
            "idle.c".to_string(),
            "uint64_t main() { while (1) yield(); return 0; }".to_string(),
        )])
        .expect("idle program")
        .elf;
        let pid = sim.load_elf(&idle, &["idle".into()]).expect("loads");
        Rig { sim, pid }
    }

    fn call(&mut self, number: u64, args: &[u64]) -> u64 {
        self.sim.syscall(0, self.pid, number, args).expect("live")
    }

    fn put_path(&mut self, path: &str) {
        let mut bytes = path.as_bytes().to_vec();
        bytes.push(0);
        self.sim
            .copy_to_guest(0, self.pid, PATH_AT, &bytes)
            .expect("writable");
    }

    fn openat(&mut self, dirfd: u64, path: &str, flags: u64, mode: u64) -> u64 {
        self.put_path(path);
        self.call(SYS_OPENAT, &[dirfd, PATH_AT, flags, mode])
    }

    fn open(&mut self, path: &str, flags: u64) -> u64 {
        self.openat(AT_FDCWD, path, flags, 0o644)
    }

    /// Reads up to `len` bytes from `fd`; the result and the bytes.
    fn read(&mut self, fd: u64, len: u64) -> (u64, Vec<u8>) {
        let n = self.call(SYS_READ, &[fd, BUF_AT, len]);
        let got = if Errno::from_return(n).is_some() {
            Vec::new()
        } else {
            self.sim.read_memory(self.pid, BUF_AT, n).expect("mapped")
        };
        (n, got)
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(self.sim.stderr()).into_owned()
    }
}

#[test]
fn paths_resolve_inside_the_root() {
    let tree = Tree::new("inside");
    let mut rig = Rig::new(&tree.root(), false);
    // Relative and absolute names of the same file inside.
    for path in [
        "inside.txt",
        "/inside.txt",
        "//sub/../inside.txt",
        "./sub/../inside.txt",
    ] {
        let fd = rig.open(path, O_RDONLY);
        assert!(fd < 100, "{path}: {:#x}", fd);
        assert_eq!(rig.read(fd, 100).1, b"inside\n", "{path}");
        assert_eq!(rig.call(SYS_CLOSE, &[fd]), 0);
    }
    // The host's absolute paths are the root's: /etc/passwd is not there.
    assert_eq!(rig.open("/etc/passwd", O_RDONLY), e(ENOENT));
    let secret = tree.secret().display().to_string();
    assert_eq!(rig.open(&secret, O_RDONLY), e(ENOENT));
}

#[test]
fn dot_dot_and_symlinks_do_not_lead_out() {
    let tree = Tree::new("escape");
    tree.symlink(&tree.secret(), "absolute-link");
    tree.symlink(Path::new("../outside/secret"), "relative-link");
    // A chain: each step relative, the last one climbing out.
    tree.symlink(Path::new("chain2"), "chain1");
    tree.symlink(Path::new("sub/../../outside/secret"), "chain2");
    // A symlink to a directory outside, then a path through it.
    tree.symlink(&tree.0.join("outside"), "outdir");
    let mut rig = Rig::new(&tree.root(), false);
    for path in [
        "../outside/secret",
        "../../../../../../../etc/passwd",
        "sub/../../outside/secret",
        "/../outside/secret",
        "absolute-link",
        "relative-link",
        "chain1",
        "outdir/secret",
        "/outdir/secret",
    ] {
        let fd = rig.open(path, O_RDONLY);
        assert_eq!(fd, e(EACCES), "{path}: {:#x}", fd);
    }
    let stderr = rig.stderr();
    assert!(
        stderr.contains("openat \"../outside/secret\" refused")
            && stderr.contains("outside the root directory"),
        "{stderr}"
    );
    // /proc and /dev are not inside the root.
    for path in [
        "/proc/self/root/etc/passwd",
        "/proc/self/environ",
        "/dev/fd/0",
    ] {
        assert_eq!(rig.open(path, O_RDONLY), e(ENOENT), "{path}");
    }
}

#[test]
fn creating_through_a_dangling_symlink_outside_is_refused() {
    let tree = Tree::new("dangling");
    let target = tree.0.join("outside/created-by-guest");
    tree.symlink(&target, "dangling-abs");
    tree.symlink(Path::new("../outside/created-by-guest"), "dangling-rel");
    let mut rig = Rig::new(&tree.root(), false);
    for path in ["dangling-abs", "dangling-rel"] {
        let fd = rig.openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644);
        assert_eq!(fd, e(EACCES), "{path}");
    }
    assert!(!target.exists(), "a file was created outside the root");
    // Truncating the secret through a link fails too, and leaves it.
    tree.symlink(&tree.secret(), "secret-link");
    assert_eq!(rig.open("secret-link", O_WRONLY | O_TRUNC), e(EACCES));
    assert_eq!(std::fs::read(tree.secret()).unwrap(), SECRET);
}

#[test]
fn a_directory_descriptor_does_not_lead_out() {
    let tree = Tree::new("dirfd");
    let mut rig = Rig::new(&tree.root(), false);
    let dir = rig.open("sub", O_RDONLY | O_DIRECTORY);
    assert!(dir < 100, "{:#x}", dir);
    // Inside the root through the directory: fine.
    let fd = rig.openat(dir, "../inside.txt", O_RDONLY, 0);
    assert!(fd < 100, "{:#x}", fd);
    assert_eq!(rig.read(fd, 100).1, b"inside\n");
    // Out of the root through the directory: refused.
    assert_eq!(
        rig.openat(dir, "../../outside/secret", O_RDONLY, 0),
        e(EACCES)
    );
    // A directory is not read, and a file is not a directory.
    assert_eq!(rig.read(dir, 10).0, e(EISDIR));
    assert_eq!(rig.openat(fd, "x", O_RDONLY, 0), e(ENOTDIR));
    assert_eq!(rig.open("inside.txt", O_RDONLY | O_DIRECTORY), e(ENOTDIR));
    assert_eq!(rig.open("sub", O_WRONLY), e(EISDIR));
    // A bad descriptor as dirfd.
    assert_eq!(rig.openat(77, "x", O_RDONLY, 0), e(EBADF));
}

#[test]
fn create_truncate_and_mode_inside_the_root() {
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new("create");
    let mut rig = Rig::new(&tree.root(), false);
    let fd = rig.openat(AT_FDCWD, "/new.txt", O_WRONLY | O_CREAT | O_EXCL, 0o600);
    assert!(fd < 100, "{:#x}", fd);
    rig.sim.copy_to_guest(0, rig.pid, BUF_AT, b"hello").unwrap();
    assert_eq!(rig.call(SYS_WRITE, &[fd, BUF_AT, 5]), 5);
    let path = tree.root().join("new.txt");
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    // The guest's mode, less sim's umask (022 or stricter): no group or
    // other bits, which a mode of 0o644 would have left.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777 & !0o600, 0, "mode {:o}", mode);
    assert_eq!(
        rig.openat(AT_FDCWD, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0o600),
        e(EEXIST)
    );
    let fd = rig.open("new.txt", O_WRONLY | O_TRUNC);
    assert!(fd < 100);
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

#[test]
fn read_only_refuses_writes_creates_and_truncates() {
    let tree = Tree::new("read-only");
    let mut rig = Rig::new(&tree.root(), true);
    for flags in [
        O_WRONLY,
        O_RDWR,
        O_RDONLY | O_CREAT,
        O_WRONLY | O_TRUNC,
        O_WRONLY | O_CREAT | O_APPEND,
    ] {
        assert_eq!(rig.open("inside.txt", flags), e(EROFS), "flags {flags:#o}");
    }
    assert_eq!(rig.open("fresh.txt", O_WRONLY | O_CREAT), e(EROFS));
    assert!(!tree.root().join("fresh.txt").exists());
    assert_eq!(
        std::fs::read(tree.root().join("inside.txt")).unwrap(),
        b"inside\n"
    );
    // Reading still works.
    let fd = rig.open("inside.txt", O_RDONLY);
    assert_eq!(rig.read(fd, 100).1, b"inside\n");
    assert!(
        rig.stderr().contains("read-only (--read-only)"),
        "{}",
        rig.stderr()
    );
}

#[test]
fn root_slash_is_the_hosts_file_system() {
    let tree = Tree::new("slash");
    let mut rig = Rig::new(Path::new("/"), false);
    let secret = tree.secret().display().to_string();
    let fd = rig.open(&secret, O_RDONLY);
    assert!(fd < 100, "{:#x}", fd);
    assert_eq!(rig.read(fd, 100).1, SECRET);
}

#[test]
fn the_cli_takes_root_and_read_only() {
    let tree = Tree::new("cli");
    let program = tree.0.join("cat.c");
    std::fs::write(
        &program,
        "uint64_t main(uint64_t argc, uint64_t* argv) {
           uint64_t fd; uint64_t* buf; uint64_t n;
           buf = malloc(256);
           fd = open((uint64_t*) *(argv + 1), 0, 0);
           if (is_error(fd)) { print(\"refused\\n\"); return 1; }
           n = read(fd, buf, 256);
           write(1, buf, n);
           fd = open(\"written.txt\", 577, 420);
           if (is_error(fd)) { print(\"no write\\n\"); return 2; }
           return 0;
         }",
    )
    .unwrap();
    let sim = env!("CARGO_BIN_EXE_sim");
    let run = |extra: &[&str], arg: &str| {
        let out = std::process::Command::new(sim)
            .args(extra)
            .arg("-u")
            .arg(&program)
            .arg(arg)
            .output()
            .expect("runs sim");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let root = tree.root().display().to_string();
    let (code, out, _) = run(&["--root", &root], "/inside.txt");
    assert_eq!((code, out.as_str()), (Some(0), "inside\n"));
    assert!(tree.root().join("written.txt").exists());
    let (code, out, err) = run(&["--root", &root], "../outside/secret");
    assert_eq!((code, out.as_str()), (Some(1), "refused\n"), "{err}");
    assert!(err.contains("outside the root directory"), "{err}");
    let (code, out, err) = run(&["--root", &root, "--read-only"], "inside.txt");
    assert_eq!(
        (code, out.as_str()),
        (Some(2), "inside\nno write\n"),
        "{err}"
    );
    let (code, _, err) = run(&["--root", "/nonexistent/dir"], "x");
    assert_eq!(code, Some(1));
    assert!(err.contains("--root /nonexistent/dir"), "{err}");
}

#[test]
fn attribute_and_link_calls_stay_inside_the_root() {
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new("attrs");
    tree.symlink(&tree.secret(), "secret-link");
    let secret_mode = std::fs::metadata(tree.secret())
        .unwrap()
        .permissions()
        .mode();
    let mut rig = Rig::new(&tree.root(), false);
    let out = "../outside/secret";
    // truncate, fchmodat, utimensat and linkat of a path outside: refused.
    rig.put_path(out);
    assert_eq!(rig.call(SYS_TRUNCATE, &[PATH_AT, 0]), e(EACCES));
    assert_eq!(
        rig.call(SYS_FCHMODAT, &[AT_FDCWD, PATH_AT, 0o777]),
        e(EACCES)
    );
    assert_eq!(
        rig.call(SYS_UTIMENSAT, &[AT_FDCWD, PATH_AT, 0, 0]),
        e(EACCES)
    );
    rig.sim
        .copy_to_guest(0, rig.pid, BUF_AT, b"stolen\0")
        .unwrap();
    assert_eq!(
        rig.call(SYS_LINKAT, &[AT_FDCWD, PATH_AT, AT_FDCWD, BUF_AT, 0]),
        e(EACCES)
    );
    // The same through a symbolic link that points out.
    rig.put_path("secret-link");
    assert_eq!(rig.call(SYS_TRUNCATE, &[PATH_AT, 0]), e(EACCES));
    assert_eq!(
        rig.call(SYS_FCHMODAT, &[AT_FDCWD, PATH_AT, 0o777]),
        e(EACCES)
    );
    assert_eq!(std::fs::read(tree.secret()).unwrap(), SECRET);
    assert_eq!(
        std::fs::metadata(tree.secret())
            .unwrap()
            .permissions()
            .mode(),
        secret_mode
    );
    assert!(!tree.root().join("stolen").exists());
    // A symbolic link the guest makes to an absolute path is stored, but
    // following it stays inside the root.
    rig.sim
        .copy_to_guest(
            0,
            rig.pid,
            BUF_AT,
            tree.secret().to_str().unwrap().as_bytes(),
        )
        .unwrap();
    rig.sim
        .copy_to_guest(
            0,
            rig.pid,
            BUF_AT + tree.secret().to_str().unwrap().len() as u64,
            b"\0",
        )
        .unwrap();
    rig.put_path("guest-link");
    assert_eq!(rig.call(SYS_SYMLINKAT, &[BUF_AT, AT_FDCWD, PATH_AT]), 0);
    assert_eq!(rig.open("guest-link", O_RDONLY), e(EACCES));
    // Inside the root they work, and --read-only refuses them.
    rig.put_path("inside.txt");
    assert_eq!(rig.call(SYS_TRUNCATE, &[PATH_AT, 3]), 0);
    assert_eq!(
        std::fs::read(tree.root().join("inside.txt")).unwrap(),
        b"ins"
    );
    let mut read_only = Rig::new(&tree.root(), true);
    read_only.put_path("inside.txt");
    assert_eq!(read_only.call(SYS_TRUNCATE, &[PATH_AT, 0]), e(EROFS));
    assert_eq!(
        read_only.call(SYS_FCHMODAT, &[AT_FDCWD, PATH_AT, 0o777]),
        e(EROFS)
    );
    assert_eq!(
        std::fs::read(tree.root().join("inside.txt")).unwrap(),
        b"ins"
    );
}

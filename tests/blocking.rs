//! Finding 4 of issue 11 (one blocked read stops every VM): a read of the
//! host's stdin with no input yet, or the open of a FIFO without a peer,
//! blocked the whole simulator, and `--max-instructions` did not help.
//! Now only the reading process sleeps (kernel/hostio.rs): the others run,
//! `--max-instructions` ends the run, and input that arrives later wakes
//! the reader. A write to a pipe whose reader has gone gets EPIPE and
//! the writer dies of SIGPIPE, as on Linux.
//!
//! Each test runs the `sim` binary with a pipe for stdin that the test
//! holds open, and waits for output with a deadline (never a fixed
//! sleep): on main the waits run out and the test fails instead of
//! hanging.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long a test waits for what must come quickly (generous: CI runs
/// the suite on two busy cores).
const DEADLINE: Duration = Duration::from_secs(60);

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sim-blocking-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a C* program and returns its path.
    fn program(&self, name: &str, source: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, source).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `sim` whose stdout arrives on a channel.
struct Run {
    child: Child,
    out: Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Run {
    fn start(args: &[&str], stdin: Stdio, root: &Path) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
            .args(args)
            .current_dir(root)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs sim");
        let mut stdout = child.stdout.take().unwrap();
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 || tx.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            out,
            seen: Vec::new(),
        }
    }

    /// Waits until stdout holds `text`; kills sim and fails after the
    /// deadline.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !String::from_utf8_lossy(&self.seen).contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {text:?} on sim's stdout in {DEADLINE:?}; got {:?}",
                        String::from_utf8_lossy(&self.seen)
                    );
                }
            }
        }
    }

    /// Waits for sim to end; its exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("sim did not end in {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(chunk) = self.out.recv_timeout(Duration::from_secs(5)) {
            self.seen.extend(chunk);
        }
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr);
        (
            status.code(),
            String::from_utf8_lossy(&self.seen).into_owned(),
            stderr,
        )
    }
}

const READER: &str = "uint64_t main() {
  uint64_t* buf; uint64_t n;
  buf = malloc(128);
  n = read(0, buf, 100);
  print(\"reader got: \");
  write(1, buf, n);
  return 5;
}";

const WRITER: &str = "uint64_t main() { print(\"writer done\\n\"); return 0; }";

#[test]
fn a_process_waiting_for_stdin_does_not_stop_the_others() {
    let scratch = Scratch::new("stdin");
    let reader = scratch.program("reader.c", READER);
    let writer = scratch.program("writer.c", WRITER);
    let mut run = Run::start(&["-u", &reader, "-u", &writer], Stdio::piped(), &scratch.0);
    let mut stdin = run.child.stdin.take().unwrap();
    // The writer runs and ends while the reader waits for input.
    run.wait_for("writer done\n");
    stdin.write_all(b"late input\n").unwrap();
    drop(stdin);
    run.wait_for("reader got: late input\n");
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(5), "{err}");
    assert_eq!(out, "writer done\nreader got: late input\n");
}

#[test]
fn max_instructions_ends_a_run_whose_reader_waits() {
    let scratch = Scratch::new("limit");
    let reader = scratch.program("reader.c", READER);
    let spinner = scratch.program(
        "spinner.c",
        "uint64_t main() { print(\"spinning\\n\"); while (1) { } return 0; }",
    );
    let mut run = Run::start(
        &[
            "--max-instructions",
            "3000000",
            "-u",
            &reader,
            "-u",
            &spinner,
        ],
        Stdio::piped(),
        &scratch.0,
    );
    // stdin stays open and empty: only the limit can end the run.
    let stdin = run.child.stdin.take();
    run.wait_for("spinning\n");
    let (code, out, err) = run.finish();
    drop(stdin);
    assert_eq!(code, Some(1), "the first process had not ended: {err}");
    assert_eq!(out, "spinning\n");
    assert!(err.contains("stopped after 3000000 instructions"), "{err}");
}

#[test]
fn opening_and_reading_a_fifo_sleeps_alone() {
    let scratch = Scratch::new("fifo");
    let made = Command::new("mkfifo")
        .arg(scratch.0.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let reader = scratch.program(
        "fifo_reader.c",
        "uint64_t main() {
           uint64_t* buf; uint64_t fd; uint64_t n;
           buf = malloc(128);
           fd = open(\"/pipe\", 0, 0);
           if (is_error(fd)) return 1;
           n = read(fd, buf, 100);
           print(\"fifo: \");
           write(1, buf, n);
           return 0;
         }",
    );
    let ticker = scratch.program(
        "ticker.c",
        "uint64_t main() { print(\"tick\\n\"); return 0; }",
    );
    let root = scratch.0.display().to_string();
    let mut run = Run::start(
        &["--root", &root, "-u", &reader, "-u", &ticker],
        Stdio::null(),
        &scratch.0,
    );
    // The reader sleeps in its open (no writer yet); the ticker runs.
    run.wait_for("tick\n");
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(scratch.0.join("pipe"))
        .expect("open the FIFO for writing");
    fifo.write_all(b"through the fifo\n").unwrap();
    drop(fifo);
    run.wait_for("fifo: through the fifo\n");
    let (code, _, err) = run.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_write_to_a_closed_pipe_is_sigpipe() {
    let scratch = Scratch::new("sigpipe");
    let yes = scratch.program(
        "yes.c",
        "uint64_t main() { while (1) print(\"y\\n\"); return 0; }",
    );
    let mut run = Run::start(
        &["--max-instructions", "2000000000", "-u", &yes],
        Stdio::null(),
        &scratch.0,
    );
    run.wait_for("y\ny\n");
    // `sim ... | head -1`: the reader goes away.
    drop(std::mem::replace(&mut run.out, mpsc::channel().1));
    let (code, _, err) = run.finish();
    assert_eq!(code, Some(128 + 13), "{err}");
    assert!(err.contains("SIGPIPE"), "{err}");
}

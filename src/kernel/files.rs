//! Files: the per-process descriptor table and the console.
//!
//! Reads are buffered in the kernel: guests often read one byte per call,
//! and one host `read` per guest call would dominate the run time. Console
//! output is buffered too and flushed before the simulator reads stdin,
//! writes to stderr, or ends, so the interleaving a user sees is the one the
//! guest wrote.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// Size of the kernel's read buffer per open file.
const READ_BUFFER: usize = 64 * 1024;

/// A host file opened by a guest (shared by parent and child after fork,
/// with one offset, as in Unix).
pub struct HostFile {
    file: File,
    buffer: Vec<u8>,
    pos: usize,
    readable: bool,
    writable: bool,
}

impl HostFile {
    pub fn new(file: File, readable: bool, writable: bool) -> HostFile {
        HostFile {
            file,
            buffer: Vec::new(),
            pos: 0,
            readable,
            writable,
        }
    }

    /// Reads up to `out.len()` bytes through the kernel buffer.
    pub fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.readable {
            return Err(io::Error::from_raw_os_error(9));
        }
        if self.pos == self.buffer.len() {
            self.buffer.resize(READ_BUFFER, 0);
            let n = self.file.read(&mut self.buffer)?;
            self.buffer.truncate(n);
            self.pos = 0;
        }
        let n = out.len().min(self.buffer.len() - self.pos);
        out[..n].copy_from_slice(&self.buffer[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.writable {
            return Err(io::Error::from_raw_os_error(9));
        }
        self.file.write(data)
    }
}

/// What a file descriptor refers to.
#[derive(Clone)]
pub enum OpenFile {
    Stdin,
    Stdout,
    Stderr,
    Host(Rc<RefCell<HostFile>>),
}

/// A process's file descriptors; the lowest free number is used first.
#[derive(Clone)]
pub struct FdTable {
    slots: Vec<Option<OpenFile>>,
}

/// At most this many descriptors per process.
pub const MAX_FDS: usize = 256;

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable {
            slots: vec![
                Some(OpenFile::Stdin),
                Some(OpenFile::Stdout),
                Some(OpenFile::Stderr),
            ],
        }
    }
}

impl FdTable {
    pub fn get(&self, fd: u64) -> Option<&OpenFile> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    /// Installs a file at the lowest free number; `None` when full.
    pub fn insert(&mut self, file: OpenFile) -> Option<u64> {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(file);
            return Some(i as u64);
        }
        if self.slots.len() >= MAX_FDS {
            return None;
        }
        self.slots.push(Some(file));
        Some(self.slots.len() as u64 - 1)
    }

    pub fn remove(&mut self, fd: u64) -> Option<OpenFile> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.take()
    }
}

/// Where guest input comes from.
pub enum Input {
    /// The host's stdin.
    Host,
    /// Fixed bytes (tests and embedding).
    Bytes(Vec<u8>),
}

/// Where guest output goes.
pub enum Output {
    Host,
    /// Collected in memory (tests and embedding).
    Captured(Vec<u8>),
}

/// The console: stdin, stdout and stderr shared by all processes.
pub struct Console {
    pub input: Input,
    input_buffer: Vec<u8>,
    input_pos: usize,
    pub stdout: Output,
    pub stderr: Output,
    stdout_buffer: Vec<u8>,
}

impl Console {
    pub fn new(input: Input, stdout: Output, stderr: Output) -> Console {
        Console {
            input,
            input_buffer: Vec::new(),
            input_pos: 0,
            stdout,
            stderr,
            stdout_buffer: Vec::new(),
        }
    }

    /// Reads guest input through the kernel buffer.
    pub fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.input_pos == self.input_buffer.len() {
            self.flush();
            match &mut self.input {
                Input::Host => {
                    self.input_buffer.resize(READ_BUFFER, 0);
                    let n = io::stdin().read(&mut self.input_buffer)?;
                    self.input_buffer.truncate(n);
                }
                Input::Bytes(bytes) => {
                    self.input_buffer = std::mem::take(bytes);
                }
            }
            self.input_pos = 0;
        }
        let n = out.len().min(self.input_buffer.len() - self.input_pos);
        out[..n].copy_from_slice(&self.input_buffer[self.input_pos..self.input_pos + n]);
        self.input_pos += n;
        Ok(n)
    }

    pub fn write_stdout(&mut self, data: &[u8]) {
        match &mut self.stdout {
            Output::Host => {
                self.stdout_buffer.extend_from_slice(data);
                if self.stdout_buffer.len() >= READ_BUFFER {
                    self.flush();
                }
            }
            Output::Captured(buffer) => buffer.extend_from_slice(data),
        }
    }

    pub fn write_stderr(&mut self, data: &[u8]) {
        self.flush();
        match &mut self.stderr {
            Output::Host => {
                let _ = io::stderr().write_all(data);
            }
            Output::Captured(buffer) => buffer.extend_from_slice(data),
        }
    }

    /// Writes buffered stdout to the host.
    pub fn flush(&mut self) {
        if !self.stdout_buffer.is_empty() {
            let mut out = io::stdout().lock();
            // A closed stdout (e.g. `sim ... | head`) is not the guest's fault.
            let _ = out.write_all(&self.stdout_buffer);
            let _ = out.flush();
            self.stdout_buffer.clear();
        }
    }

    /// What the guests wrote to stdout, when captured.
    pub fn captured_stdout(&self) -> &[u8] {
        match &self.stdout {
            Output::Captured(buffer) => buffer,
            Output::Host => &[],
        }
    }

    /// What the guests wrote to stderr, when captured.
    pub fn captured_stderr(&self) -> &[u8] {
        match &self.stderr {
            Output::Captured(buffer) => buffer,
            Output::Host => &[],
        }
    }
}

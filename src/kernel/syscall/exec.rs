//! execve: a process becomes another program, keeping its pid, parent,
//! working directory, umask, process group, blocked signals and the
//! descriptors not flagged close-on-exec (execve(2)).
//!
//! ```text
//! sys_execve(path*, argv**, envp**)
//!   read the path (inside the root), argv and envp       EFAULT, E2BIG
//!   read the file: an ELF of at most 256 MiB              ENOENT, EACCES, ENOEXEC
//!   load it into a new address space (loader.rs)          ENOEXEC, ENOMEM
//!   ── nothing failed: the old program is gone from here on ──
//!   other threads end; contexts it made as a guest kernel end
//!   shared memory is left (as at exit); its private frames are freed
//!   the new image, fresh registers, handlers back to SIG_DFL, clear_child_tid 0
//!   close-on-exec descriptors are closed
//! ```
//!
//! Everything that can fail is done before the old address space is
//! touched, so a failed execve returns to the program that called it, as on
//! Linux. Scripts (`#!`) are not run: sim has no shell inside the root to
//! hand them to (`ENOEXEC`).

use std::io::Read;

use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::{Hart, Machine, Reg};
use crate::kernel::loader::{self, LoadError};
use crate::kernel::process::Pid;
use crate::kernel::signal::{SIG_DFL, SIG_IGN};
use crate::kernel::uaccess::{read_c_string, read_u64};
use crate::kernel::Kernel;

/// The largest program execve reads (as `sim -u` does).
const MAX_PROGRAM: u64 = 256 << 20;
/// Most entries of argv or envp, and most bytes of all their strings
/// (Linux: a quarter of the stack limit, 2 MiB with 8 MiB of stack).
const MAX_STRINGS: usize = 1 << 16;
const MAX_STRING_BYTES: usize = 2 << 20;
/// Longest single argument or variable (Linux's `MAX_ARG_STRLEN`).
const MAX_ARG_STRLEN: usize = 32 * 4096;

impl Kernel {
    /// The NUL-terminated array of string pointers at `ptr` (NULL: empty).
    fn string_array(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        ptr: u64,
        total: &mut usize,
    ) -> Result<Vec<String>, Errno> {
        let mut out = Vec::new();
        if ptr == 0 {
            return Ok(out);
        }
        let process = self.processes.get_mut(pid).ok_or(ESRCH)?;
        for i in 0..=MAX_STRINGS as u64 {
            let at = ptr.checked_add(i * 8).ok_or(EFAULT)?;
            let string = read_u64(machine, process, at)?;
            if string == 0 {
                return Ok(out);
            }
            if out.len() == MAX_STRINGS {
                break;
            }
            let bytes = match read_c_string(machine, process, string, MAX_ARG_STRLEN) {
                Err(e) if e == ENAMETOOLONG => return Err(E2BIG),
                other => other?,
            };
            *total += bytes.len() + 1;
            if *total > MAX_STRING_BYTES {
                return Err(E2BIG);
            }
            out.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        Err(E2BIG)
    }

    /// execve(path*, argv**, envp**): on success the call does not return
    /// (the new program starts at its entry); on failure the caller goes
    /// on with the error.
    pub(super) fn sys_execve(&mut self, machine: &mut Machine, pid: Pid, a: [u64; 3]) -> SysResult {
        let [path_ptr, argv_ptr, envp_ptr] = a;
        let path = self.guest_path(machine, pid, AT_FDCWD, path_ptr, false)?;
        let mut total = 0;
        let argv = self.string_array(machine, pid, argv_ptr, &mut total)?;
        let envp = self.string_array(machine, pid, envp_ptr, &mut total)?;
        // The file: a regular file the owner may execute.
        let root = path.fs.root();
        let meta = match root.metadata(&path.path) {
            Ok(meta) => meta,
            Err(e) => return Err(self.path_error(pid, &path, &e)),
        };
        let mode = {
            use cap_std::fs::MetadataExt;
            meta.mode()
        };
        if !meta.is_file() || mode & 0o100 == 0 {
            return Err(EACCES);
        }
        let mut bytes = Vec::new();
        let read = root
            .open(&path.path)
            .and_then(|file| file.take(MAX_PROGRAM + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            return Err(self.path_error(pid, &path, &e));
        }
        if bytes.len() as u64 > MAX_PROGRAM || !bytes.starts_with(b"\x7fELF") {
            return Err(ENOEXEC);
        }
        let random = loader::random_bytes(self.linux.seed ^ self.next_pid ^ pid.0);
        let image =
            loader::load_with(machine, &bytes, &argv, &envp, random).map_err(|e| match e {
                LoadError::OutOfMemory { .. } => ENOMEM,
                _ => ENOEXEC,
            })?;
        // The point of no return.
        let pid = if self.other_threads(pid).is_empty() {
            pid
        } else {
            // Linux ends the other threads and the caller takes over the
            // thread group's pid.
            let leader = self.tgid_of(pid);
            if leader != pid {
                loader::free_all(machine, &image.page_table);
                return Err(EINVAL);
            }
            self.end_other_threads(machine, pid)
        };
        self.end_contexts_of(machine, pid);
        let Some(process) = self.processes.get_mut(pid) else {
            loader::free_all(machine, &image.page_table);
            return Err(ESRCH);
        };
        self.shared
            .exit(machine.memory_mut(), pid, &mut process.page_table);
        let old = std::mem::replace(&mut process.page_table, image.page_table);
        loader::free_all(machine, &old);
        // Translations of the old address space must not outlive it.
        machine.flush_tlb();
        process.regions = image.regions;
        process.heap_start = image.heap_start;
        process.brk = image.heap_start;
        process.hart = Hart::default();
        process.hart.pc = image.entry;
        process.hart.set_reg(Reg::SP.index(), image.stack_pointer);
        process.name = argv.first().cloned().unwrap_or_else(|| path.shown.clone());
        // An absolute guest path (what /proc/self/exe names).
        process.exe = format!("/{}", path.path.display()).replace("//", "/");
        process.clear_child_tid = 0;
        process.switched_to = None;
        for action in process.signals.actions.iter_mut() {
            if action.handler != SIG_IGN {
                action.handler = SIG_DFL;
            }
            action.flags = 0;
            action.mask = 0;
        }
        process.files.close_on_exec();
        process.profile = self
            .abi
            .unwrap_or_else(|| crate::abi::selfie::Profile::of_elf(&bytes));
        process.note_peak_pages();
        self.report_vmshm();
        Ok(Ret::Resumed)
    }
}

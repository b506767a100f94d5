//! What a test, a debugger or a teacher's tool reads and changes between
//! two exceptions: the machine, the VMs' kernels and processes, guest
//! memory (as the kernel reads it, or without side effects), the captured
//! output, the dumps of every structure, and the `--stats` summary.

use std::cell::Ref;

use super::{Event, Simulator};
use crate::abi::{Errno, ESRCH};
use crate::emu::{self, Exception, Machine, PteFlags};
use crate::hypervisor::{self, HostDaemon};
use crate::kernel::{uaccess, ExitStatus, Kernel, Pid, Process};

impl Simulator {
    /// The machine: physical memory, the instruction counter, the caches.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// VM 0's kernel (the only one unless VMs were added).
    pub fn kernel(&self) -> &Kernel {
        &self.vms[0]
    }

    /// VM 0's kernel, for changing it (a test setting registers).
    pub fn kernel_mut(&mut self) -> &mut Kernel {
        &mut self.vms[0]
    }

    /// VM `vm`'s kernel.
    pub fn vm(&self, vm: usize) -> Option<&Kernel> {
        self.vms.get(vm)
    }

    /// VM `vm`'s kernel, for changing it.
    pub fn vm_mut(&mut self, vm: usize) -> Option<&mut Kernel> {
        self.vms.get_mut(vm)
    }

    /// How many VMs there are.
    pub fn vm_count(&self) -> usize {
        self.vms.len()
    }

    /// The VM whose context raised the last event (and runs now).
    pub fn current_vm(&self) -> usize {
        self.current_vm
    }

    /// The host daemon of inter-VM shared memory (docs/spec/vmshm.md).
    pub fn host_daemon(&self) -> Ref<'_, HostDaemon> {
        self.host_daemon.borrow()
    }

    /// The context the machine runs next in the current VM, if a root is
    /// scheduled: the deepest context down its root's `hv_switch` chain.
    pub fn running_context(&self) -> Option<Pid> {
        let kernel = &self.vms[self.current_vm];
        kernel
            .current()
            .map(|root| hypervisor::deepest(kernel, root))
    }

    /// A process of VM 0 (also after it ended).
    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.process_in(0, pid)
    }

    /// A process of VM `vm`.
    pub fn process_in(&self, vm: usize, pid: Pid) -> Option<&Process> {
        self.vms.get(vm)?.process(pid)
    }

    /// Register `x<reg>` of a process of VM 0.
    pub fn register(&self, pid: Pid, reg: usize) -> Option<u64> {
        self.process(pid).map(|p| p.hart.reg(reg))
    }

    /// Floating-point register `f<reg>` of a process of VM 0: its 64 bits
    /// as they are (a single is NaN-boxed: `bits as u32` is its value).
    pub fn fp_register(&self, pid: Pid, reg: usize) -> Option<u64> {
        self.process(pid).map(|p| p.hart.fp_reg(reg))
    }

    /// `fcsr` of a process of VM 0: `frm` in bits 7:5, `fflags` in 4:0.
    pub fn fcsr(&self, pid: Pid) -> Option<u32> {
        self.process(pid).map(|p| p.hart.fcsr)
    }

    /// Sets floating-point register `f<reg>` of process `pid` of VM `vm`
    /// to raw bits. Returns whether the process exists.
    pub fn set_fp_register(&mut self, vm: usize, pid: Pid, reg: usize, bits: u64) -> bool {
        match self.vms.get_mut(vm).and_then(|k| k.process_mut(pid)) {
            Some(p) => {
                p.hart.set_fp_reg(reg, bits);
                true
            }
            None => false,
        }
    }

    /// The registers of process `pid` of VM `vm` as text: pc, the non-zero
    /// integer and floating-point registers, `fcsr` (`Hart::dump`).
    pub fn dump_registers(&self, vm: usize, pid: Pid) -> Option<String> {
        self.process_in(vm, pid).map(|p| p.hart.dump())
    }

    /// Sets register `x<reg>` of process `pid` of VM `vm` (writes to `x0`
    /// are ignored). Returns whether the process exists.
    pub fn set_register(&mut self, vm: usize, pid: Pid, reg: usize, value: u64) -> bool {
        match self.vms.get_mut(vm).and_then(|k| k.process_mut(pid)) {
            Some(p) => {
                p.hart.set_reg(reg, value);
                true
            }
            None => false,
        }
    }

    /// Makes process `pid` of VM `vm` issue syscall `number` with `args`
    /// (as if its `ecall` had trapped) and lets the kernel handle it.
    /// Returns `a0` afterwards: the result, unless the call blocked or the
    /// process ended (then 0 if the process left the table, see
    /// `Kernel::release`); `None` when there is no such process.
    pub fn syscall(&mut self, vm: usize, pid: Pid, number: u64, args: &[u64]) -> Option<u64> {
        self.process_in(vm, pid)?;
        self.set_register(vm, pid, emu::Reg::A7.index(), number);
        for (i, &a) in args.iter().enumerate().take(6) {
            self.set_register(vm, pid, emu::Reg::A0.index() + i, a);
        }
        self.handle(Event {
            vm,
            pid,
            exception: Exception::Syscall,
        });
        Some(
            self.process_in(vm, pid)
                .map_or(0, |p| p.hart.reg(emu::Reg::A0.index())),
        )
    }

    /// Ends process `pid` of VM `vm` with `status`, as a fault or the
    /// deadlock breaker would (without a message).
    pub fn end_process(&mut self, vm: usize, pid: Pid, status: ExitStatus) {
        if let Some(kernel) = self.vms.get_mut(vm) {
            kernel.exit(&mut self.machine, pid, status);
        }
        self.after_vmshm();
    }

    /// Kills process `pid` of VM `vm` with `signal`, printing `why` as the
    /// kernel does for a fault.
    pub fn kill(&mut self, vm: usize, pid: Pid, signal: u8, why: &str) {
        if let Some(kernel) = self.vms.get_mut(vm) {
            kernel.kill(&mut self.machine, pid, signal, why);
        }
        self.after_vmshm();
    }

    /// Reads `len` bytes of a process's memory without side effects (no
    /// demand paging, no accessed bits); `None` if any byte is unmapped.
    pub fn read_memory(&self, pid: Pid, vaddr: u64, len: u64) -> Option<Vec<u8>> {
        let process = self.process(pid)?;
        let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
        for i in 0..len {
            let addr = emu::VirtAddr(vaddr.checked_add(i)?);
            let pte = process.page_table.get(addr.page())?;
            let bytes = self.machine.memory().frame_bytes(pte.frame);
            out.push(bytes[addr.offset()]);
        }
        Some(out)
    }

    /// Reads guest memory of process `pid` of VM `vm` as the kernel does
    /// for a syscall (demand paging, permission checks).
    ///
    /// # Errors
    /// `EFAULT` for a byte the process may not read, `ESRCH` for no such
    /// process.
    pub fn copy_from_guest(
        &mut self,
        vm: usize,
        pid: Pid,
        vaddr: u64,
        len: u64,
    ) -> Result<Vec<u8>, Errno> {
        let process = self
            .vms
            .get_mut(vm)
            .and_then(|k| k.process_mut(pid))
            .ok_or(ESRCH)?;
        uaccess::copy_in(&mut self.machine, process, vaddr, len)
    }

    /// Writes guest memory of process `pid` of VM `vm` as the kernel does
    /// for a syscall (demand paging, permission checks: a read-only page
    /// is `EFAULT`).
    ///
    /// # Errors
    /// `EFAULT`, `ESRCH`.
    pub fn copy_to_guest(
        &mut self,
        vm: usize,
        pid: Pid,
        vaddr: u64,
        bytes: &[u8],
    ) -> Result<(), Errno> {
        let process = self
            .vms
            .get_mut(vm)
            .and_then(|k| k.process_mut(pid))
            .ok_or(ESRCH)?;
        uaccess::copy_out(&mut self.machine, process, vaddr, bytes)
    }

    /// The page table of process `pid` of VM `vm`, one mapped page a line
    /// in address order (`--dump-pagetable` prints it when a process exits):
    /// virtual address, frame number and permission/status bits.
    pub fn dump_pagetable(&self, vm: usize, pid: Pid) -> Option<String> {
        let process = self.vm(vm)?.process(pid)?;
        let mut entries: Vec<_> = process.page_table.entries().collect();
        entries.sort_by_key(|&(page, _)| page);
        let mut out = format!(
            "page table of process {pid} ({}), vm {vm}: {} pages\n  {:<16} {:<8} flags (r w x user accessed dirty)\n",
            process.name,
            entries.len(),
            "vaddr",
            "frame"
        );
        for (page, pte) in entries {
            let f = pte.flags;
            let bit = |b: u8, c: char| if f.has(b) { c } else { '-' };
            out.push_str(&format!(
                "  {:<#16x} {:<#8x} {}{}{}{}{}{}\n",
                page.address(),
                pte.frame.0,
                bit(PteFlags::READ, 'r'),
                bit(PteFlags::WRITE, 'w'),
                bit(PteFlags::EXECUTE, 'x'),
                bit(PteFlags::USER, 'u'),
                bit(PteFlags::ACCESSED, 'a'),
                bit(PteFlags::DIRTY, 'd'),
            ));
        }
        Some(out)
    }

    /// The context tree of every VM (`--dump-contexts`).
    pub fn dump_contexts(&self) -> String {
        self.vms.iter().map(hypervisor::dump_contexts).collect()
    }

    /// The shm lists drawn as docs/spec/shm.md draws them (what `--dump-shm`
    /// prints); usable at any exception. Each VM has its own list; with
    /// more than one VM, each is headed `vm N:`.
    pub fn dump_shm(&self) -> String {
        if self.vms.len() == 1 {
            return crate::shm::dump(self.vms[0].shm());
        }
        self.vms
            .iter()
            .map(|k| format!("vm {}:\n{}", k.id(), crate::shm::dump(k.shm())))
            .collect()
    }

    /// The host region as `--dump-vmshm` prints it (docs/spec/vmshm.md, "What
    /// users can see").
    pub fn dump_vmshm(&self) -> String {
        let clients: Vec<_> = self.vms.iter().map(|k| &k.shared().vmshm).collect();
        hypervisor::host_daemon::dump(&self.host_daemon.borrow(), &clients)
    }

    /// Checks every invariant now: each VM's kernel (docs/spec/shm.md's, the
    /// inter-VM mappings, the process table: kernel/invariants.rs) and
    /// the frame-ownership rule over the whole machine (emu/memory.rs).
    ///
    /// # Errors
    /// The first broken invariant, in words.
    pub fn check_invariants(&self) -> Result<(), String> {
        for kernel in &self.vms {
            kernel.check_invariants(&self.machine)?;
        }
        let region = self.host_daemon.borrow().frames().to_vec();
        crate::kernel::invariants::check_frame_references(&self.vms, &region, self.machine.memory())
    }

    /// Checks the invariants: all of them (`check_invariants`), of which
    /// docs/spec/shm.md's are a part.
    ///
    /// # Errors
    /// The first broken invariant, in words.
    pub fn check_shm_invariants(&self) -> Result<(), String> {
        self.check_invariants()
    }

    /// What guests of VM 0 wrote to stdout (with `capture_output`).
    pub fn stdout(&self) -> &[u8] {
        self.vm_stdout(0)
    }

    /// What guests of VM 0 and the simulator wrote to stderr (with
    /// `capture_output`).
    pub fn stderr(&self) -> &[u8] {
        self.vm_stderr(0)
    }

    /// What guests of VM `vm` wrote to stdout (with `capture_output`).
    pub fn vm_stdout(&self, vm: usize) -> &[u8] {
        self.vms
            .get(vm)
            .map_or(&[], |k| k.console().captured_stdout())
    }

    /// What guests of VM `vm` and the simulator wrote to its stderr.
    pub fn vm_stderr(&self, vm: usize) -> &[u8] {
        self.vms
            .get(vm)
            .map_or(&[], |k| k.console().captured_stderr())
    }

    /// The `--stats` summary.
    pub fn stats_report(&self) -> String {
        use std::fmt::Write;
        let instructions = self.machine.instret();
        let seconds = self.elapsed.as_secs_f64();
        let mut s = String::new();
        let mips = if seconds > 0.0 {
            instructions as f64 / seconds / 1e6
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "sim: stats: {instructions} instructions in {seconds:.3} s ({mips:.0} MIPS)"
        );
        let frames = self.machine.memory().frame_count();
        let _ = writeln!(
            s,
            "sim: stats: frames: {} peak of {frames} ({} KiB), {} decoded blocks",
            self.peak_frames,
            u64::from(self.peak_frames) * 4,
            self.machine.cached_blocks()
        );
        let _ = writeln!(
            s,
            "sim: stats: exceptions: {}",
            list(self.exceptions.by_name())
        );
        let processes = self
            .vms
            .iter()
            .flat_map(|k| k.processes().iter().map(move |p| (k.id(), p)));
        for (vm, p) in processes {
            let vm = if self.vms.len() > 1 {
                format!("vm {vm} ")
            } else {
                String::new()
            };
            let status = match p.exit_status() {
                Some(ExitStatus::Exited(c)) => format!("exited {c}"),
                Some(ExitStatus::Killed(sig)) => format!("killed (signal {sig})"),
                None => "running".into(),
            };
            let _ = writeln!(
                s,
                "sim: stats: {vm}process {} ({}): {status}, {} instructions, {} page faults, {} pages peak",
                p.pid, p.name, p.stats.instructions, p.stats.page_faults, p.stats.peak_pages
            );
            let syscalls = p.stats.syscalls_by_name(p.profile);
            let _ = writeln!(s, "sim: stats:   syscalls: {}", list(syscalls));
        }
        s
    }
}

/// `name count, name count, ...` for `--stats`.
fn list<K: std::fmt::Display>(counts: impl IntoIterator<Item = (K, u64)>) -> String {
    counts
        .into_iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

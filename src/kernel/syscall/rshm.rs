//! Distributed shared memory calls (docs/spec/rshm.md, numbers 520–525 in
//! abi.rs) and the kernel's handling of its node server's events.
//!
//! ```text
//! ecall → dispatch (mod.rs) → sys_rshm*
//!   local work at once: rshmdt unmaps; rshm_changed takes the pages whose
//!   dirty bit is set (PageTable::take_dirty) over every local mapping and
//!   diffs each against the segment's twin (rshm/diff.rs): only the bytes
//!   that changed go out
//!   anything that needs the server: Request with a token, the process
//!   blocks on WaitReason::Rshm(token) — only that process
//! run loop (src/simulator/) → Kernel::poll_rshm before every machine run:
//!   Event::Reply  → finish the call (rshmat maps the local copy):
//!                   finish_pending writes a0 and moves the pc
//!   Event::Apply  → merge the runs into the local object's frames and the
//!                   twin, ack
//!   a call past its deadline (the server's timeout and a backstop) →
//!                   ETIMEDOUT
//! every process blocked on the server → break_deadlock → wait_rshm: wait
//!   on the event queue with a timeout instead of killing anyone
//! ```
//!
//! Applying between two machine runs makes an update atomic between two
//! guest instructions (spec: "each applies it atomically"). An update
//! never overwrites a byte this node wrote and has not yet had sequenced
//! (it differs from the twin): that write is sent again with the next
//! publish, is sequenced after the update, and so wins everywhere, here
//! too. Writes to other bytes of the same page are taken as they come.

use std::collections::BTreeSet;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::{Ret, SysResult};
use crate::abi::*;
use crate::emu::{Machine, VirtPage, PAGE_SIZE};
use crate::kernel::paging;
use crate::kernel::process::{Pid, ProcessState, WaitReason};
use crate::kernel::Kernel;
use crate::rshm::client::{local_name, Call, Waiter};
use crate::rshm::diff;
use crate::rshm::{Answer, Event, Request, Run, PAGE_BYTES};

/// rshmctl's one command (System V's `IPC_RMID`).
pub const IPC_RMID: u64 = 0;

/// How long the run loop waits for the server at a time when every
/// process waits on it.
pub const NETWORK_WAIT: Duration = Duration::from_millis(50);

/// How often a node writes out its guests' buffered stdout: nodes run
/// side by side, so their lines should appear as they happen.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// How long a node whose processes all ended keeps serving the calls and
/// updates still in progress before it stops (`Request::Drain`).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(3);

impl Kernel {
    /// Sends `make(token)` to the server and blocks `pid` until the reply.
    fn rshm_request(
        &mut self,
        pid: Pid,
        call: Call,
        number: u64,
        args: [u64; 2],
        make: impl FnOnce(u64) -> Request,
    ) -> SysResult {
        let Some(client) = self.shared.rshm.as_mut() else {
            return Err(ENOSYS);
        };
        let token = client.node.token();
        if !client.node.send(make(token)) {
            return Err(EHOSTDOWN);
        }
        let deadline = Instant::now() + client.call_limit;
        client.waiting.insert(
            token,
            Waiter {
                pid,
                call,
                number,
                args,
                deadline,
            },
        );
        Ok(Ret::Pending(WaitReason::Rshm(token)))
    }

    /// rshmget(key, size) → rshmid: the server decides (table.rs, "rshmget
    /// convergence"), at once when the key is known here.
    pub(super) fn sys_rshmget(&mut self, pid: Pid, key: u64, size: u64) -> SysResult {
        self.rshm_request(pid, Call::Get, SYS_RSHMGET, [key, size], |token| {
            Request::Get { token, key, size }
        })
    }

    /// rshmat(rshmid, addr) → address. The server fetches the latest image
    /// when this node holds no copy; the mapping is made when it answers.
    pub(super) fn sys_rshmat(&mut self, pid: Pid, id: u64, addr: u64) -> SysResult {
        if self.shared.rshm.is_some() && !addr.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        let need_data = self.shared.shm.find(&local_name(id)).is_none();
        self.rshm_request(
            pid,
            Call::Attach { id, addr },
            SYS_RSHMAT,
            [id, addr],
            |token| Request::Attach {
                token,
                id,
                need_data,
            },
        )
    }

    /// rshmdt(rshmid, addr) → 0: unmaps the run mapped at `addr`; later
    /// accesses fault. No network: the new ref_count goes to the server.
    pub(super) fn sys_rshmdt(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        addr: u64,
    ) -> SysResult {
        if self.shared.rshm.is_none() {
            return Err(ENOSYS);
        }
        let Some(object) = self.shared.shm.find(&local_name(id)) else {
            return Err(EINVAL);
        };
        let shmid = object.id.0;
        let Some(process) = self.processes.get_mut(pid) else {
            return Err(ESRCH);
        };
        self.shared.shm.unmap_run(
            machine.memory_mut(),
            &mut process.page_table,
            pid,
            shmid,
            addr,
        )?;
        self.debug_check_shm(machine, "rshmdt");
        self.shared.rshm_refs_changed();
        Ok(Ret::Value(0))
    }

    /// rshmctl(rshmid, IPC_RMID) → 0: forwarded to the owner by the server.
    pub(super) fn sys_rshmctl(&mut self, pid: Pid, id: u64, cmd: u64) -> SysResult {
        if self.shared.rshm.is_some() && cmd != IPC_RMID {
            return Err(EINVAL);
        }
        self.rshm_request(pid, Call::Remove, SYS_RSHMCTL, [id, cmd], |token| {
            Request::Remove { token, id }
        })
    }

    /// rshm_changed(rshmid) → version: publishes the bytes any process of
    /// this node wrote since the last publish: the pages the MMU's dirty
    /// bits name (spec: "only the pages written since the last publish"),
    /// diffed against the twin.
    pub(super) fn sys_rshm_changed(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
    ) -> SysResult {
        if self.shared.rshm.is_none() {
            return Err(ENOSYS);
        }
        let Some(object) = self.shared.shm.find(&local_name(id)) else {
            return Err(EINVAL);
        };
        if object.client(pid).is_none() {
            return Err(EINVAL);
        }
        let frames = object.frames.clone();
        let mappings: Vec<(Pid, Vec<VirtPage>)> = object
            .clients
            .iter()
            .map(|(_, c)| (c.pid, c.pages.clone()))
            .collect();
        let n = frames.len().max(1);
        let mut indices = BTreeSet::new();
        for (owner, pages) in &mappings {
            let Some(process) = self.processes.get_mut(*owner) else {
                continue;
            };
            let dirty: BTreeSet<VirtPage> = process
                .page_table
                .take_dirty(pages.iter().copied())
                .into_iter()
                .collect();
            for (i, page) in pages.iter().enumerate() {
                if dirty.contains(page) {
                    indices.insert((i % n) as u32);
                }
            }
        }
        let zeros = [0u8; PAGE_BYTES];
        let twin = self.shared.rshm.as_ref().and_then(|c| c.twins.get(&id));
        let runs: Vec<Run> = indices
            .iter()
            .flat_map(|&i| {
                let at = i as usize * PAGE_BYTES;
                // Without a twin (never expected) every byte counts.
                let base = twin
                    .and_then(|t| t.get(at..at + PAGE_BYTES))
                    .unwrap_or(&zeros);
                diff::diff_page(i, base, machine.memory().frame_bytes(frames[i as usize]))
            })
            .collect();
        let list: Vec<u32> = indices.iter().copied().collect();
        let sent = runs.clone();
        let result = self.rshm_request(
            pid,
            Call::Publish {
                id,
                pages: list.clone(),
            },
            SYS_RSHM_CHANGED,
            [id, 0],
            |token| Request::Publish { token, id, runs },
        );
        match (&result, self.shared.rshm.as_mut()) {
            (Ok(Ret::Pending(WaitReason::Rshm(token))), Some(client)) => {
                client.in_flight.insert(*token, (id, sent));
            }
            _ => self.publish_failed(machine, id, &list, &sent),
        }
        result
    }

    /// node_id() → this node's id.
    pub(super) fn sys_node_id(&mut self) -> SysResult {
        match &self.shared.rshm {
            Some(client) => Ok(Ret::Value(u64::from(client.id()))),
            None => Err(ENOSYS),
        }
    }

    /// Handles every event the server has queued; true if there was one.
    /// The run loop calls it before each machine run (spec: updates are
    /// applied "atomically between two guest instructions").
    #[inline]
    pub fn poll_rshm(&mut self, machine: &mut Machine) -> bool {
        // Without an rshm node (the common case) one look, before every
        // machine run.
        self.shared.rshm.is_some() && self.poll_rshm_server(machine)
    }

    /// `poll_rshm` of an rshm node.
    fn poll_rshm_server(&mut self, machine: &mut Machine) -> bool {
        let Some(client) = self.shared.rshm.as_mut() else {
            return false;
        };
        if client.last_flush.elapsed() >= FLUSH_EVERY {
            client.last_flush = Instant::now();
            self.console.flush();
        }
        let mut any = false;
        let overdue = client.overdue(Instant::now());
        for token in overdue {
            self.rshm_reply(machine, token, Err(ETIMEDOUT));
            any = true;
        }
        while let Some(event) = self.shared.rshm.as_ref().and_then(|c| c.node.try_event()) {
            self.rshm_event(machine, event);
            any = true;
        }
        any
    }

    /// Whether some process waits for the server.
    pub(crate) fn waits_on_network(&self) -> bool {
        self.shared.rshm.is_some()
            && self
                .processes
                .iter()
                .any(|p| matches!(p.state, ProcessState::Blocked(WaitReason::Rshm(_))))
    }

    /// Every process waits for the server: wait up to `NETWORK_WAIT` for
    /// an event. If the server is gone, its waiters get EHOSTDOWN.
    pub(crate) fn wait_rshm(&mut self, machine: &mut Machine) {
        let Some(client) = self.shared.rshm.as_ref() else {
            return;
        };
        match client.node.recv_event(NETWORK_WAIT) {
            Ok(event) => {
                self.rshm_event(machine, event);
                self.poll_rshm(machine);
            }
            Err(RecvTimeoutError::Timeout) => {
                self.poll_rshm(machine);
            }
            Err(RecvTimeoutError::Disconnected) => {
                let tokens: Vec<u64> = self
                    .shared
                    .rshm
                    .as_ref()
                    .map_or_else(Vec::new, |c| c.waiting.keys().copied().collect());
                for token in tokens {
                    self.rshm_reply(machine, token, Err(EHOSTDOWN));
                }
            }
        }
    }

    fn rshm_event(&mut self, machine: &mut Machine, event: Event) {
        match event {
            Event::Reply { token, result } => self.rshm_reply(machine, token, result),
            Event::Apply {
                id,
                version,
                full,
                runs,
            } => {
                self.apply_update(machine, id, full, &runs);
                if let Some(client) = &self.shared.rshm {
                    client.node.send(Request::Applied { id, version });
                }
            }
            Event::Freed { id } => {
                if let Some(client) = self.shared.rshm.as_mut() {
                    client.told_refs.remove(&id);
                    client.twins.remove(&id);
                }
            }
        }
    }

    /// Finishes the call waiting for `token` with the server's answer.
    fn rshm_reply(&mut self, machine: &mut Machine, token: u64, result: Result<Answer, Errno>) {
        let Some(client) = self.shared.rshm.as_mut() else {
            return;
        };
        let Some(waiter) = client.waiting.remove(&token) else {
            return;
        };
        let runs = client.in_flight.remove(&token).map(|f| f.1);
        let value: Result<u64, Errno> = match (&waiter.call, result) {
            (&Call::Attach { id, addr }, Ok(Answer::Attached { size, data, .. })) => {
                if data.is_none() && self.shared.shm.find(&local_name(id)).is_none() {
                    // The local copy went away since the request (its last
                    // process detached): ask again, with the image.
                    self.reattach(token, waiter, id);
                    return;
                }
                self.attach_local(machine, waiter.pid, id, addr, size, data)
            }
            (Call::Publish { id, pages }, Err(e)) => {
                // Not acknowledged: its bytes go out again with the next
                // publish.
                let (id, pages) = (*id, pages.clone());
                self.publish_failed(machine, id, &pages, runs.as_deref().unwrap_or(&[]));
                Err(e)
            }
            (_, Ok(Answer::Id(v) | Answer::Version(v))) => Ok(v),
            (_, Ok(Answer::Done)) => Ok(0),
            (_, Ok(_)) => Err(EIO),
            (_, Err(e)) => Err(e),
        };
        let reason = WaitReason::Rshm(token);
        self.finish_pending(waiter.pid, reason, waiter.number, &waiter.args, value);
    }

    /// Sends the attach of `waiter` again, asking for the image.
    fn reattach(&mut self, old: u64, waiter: Waiter, id: u64) {
        let Some(client) = self.shared.rshm.as_mut() else {
            return;
        };
        let token = client.node.token();
        client.node.send(Request::Attach {
            token,
            id,
            need_data: true,
        });
        let mut waiter = waiter;
        waiter.deadline = Instant::now() + client.call_limit;
        let pid = waiter.pid;
        client.waiting.insert(token, waiter);
        if let Some(p) = self.processes.get_mut(pid) {
            if p.state == ProcessState::Blocked(WaitReason::Rshm(old)) {
                p.state = ProcessState::Blocked(WaitReason::Rshm(token));
            }
        }
    }

    /// Maps segment `id` into `pid` at `addr`, creating the local object
    /// from `data` when this node has none (docs/spec/shm.md rules A.1–A.3).
    fn attach_local(
        &mut self,
        machine: &mut Machine,
        pid: Pid,
        id: u64,
        addr: u64,
        size: u64,
        data: Option<Vec<u8>>,
    ) -> Result<u64, Errno> {
        let name = local_name(id);
        let (shmid, was_client) = match self.shared.shm.find(&name) {
            Some(object) => (object.id.0, object.client(pid).is_some()),
            None => {
                let shmid = self.shared.shm.open(pid, &name)?.0;
                let created = self.shared.shm.size(machine.memory_mut(), pid, shmid, size);
                let frames = self.shared.shm.find(&name).map(|o| o.frames.clone());
                match (created, frames, data) {
                    (Ok(_), Some(frames), Some(data)) if data.len() as u64 == size => {
                        for (frame, bytes) in frames.iter().zip(data.chunks(PAGE_BYTES)) {
                            machine.memory_mut().frame_bytes_mut(*frame)[..bytes.len()]
                                .copy_from_slice(bytes);
                        }
                        // The image is the last sequenced state: the twin.
                        if let Some(client) = self.shared.rshm.as_mut() {
                            client.twins.insert(id, data);
                        }
                    }
                    (created, ..) => {
                        if let Some(process) = self.processes.get_mut(pid) {
                            let page_table = &mut process.page_table;
                            let memory = machine.memory_mut();
                            let _ = self.shared.shm.close(memory, page_table, pid, shmid);
                        }
                        return Err(created.err().unwrap_or(EIO));
                    }
                }
                (shmid, true)
            }
        };
        if !was_client {
            self.shared.shm.open(pid, &name)?;
        }
        let Some(process) = self.processes.get_mut(pid) else {
            return Err(ESRCH);
        };
        let shm = &mut self.shared.shm;
        let result = shm.pages_to_map(pid, shmid).and_then(|pages| {
            let start = paging::place(process, addr, pages)?;
            shm.map(&mut process.page_table, pid, shmid, start)
        });
        process.note_peak_pages();
        if result.is_err() && !was_client {
            let _ = shm.close(machine.memory_mut(), &mut process.page_table, pid, shmid);
        }
        self.debug_check_shm(machine, "rshmat");
        if result.is_ok() {
            self.shared.rshm_refs_changed();
        }
        result
    }

    /// Merges an update's runs into the local copy and its twin (diff.rs
    /// `merge`: bytes written here and not yet sequenced stay). `full`:
    /// the runs rebuild the whole segment from zeros.
    fn apply_update(&mut self, machine: &mut Machine, id: u64, full: bool, runs: &[Run]) {
        let Some(object) = self.shared.shm.find(&local_name(id)) else {
            // No process attached here: the server's image is the copy.
            if let Some(client) = self.shared.rshm.as_mut() {
                client.twins.remove(&id);
            }
            return;
        };
        let frames = object.frames.clone();
        let Some(twin) = self.shared.rshm.as_mut().and_then(|c| c.twins.get_mut(&id)) else {
            return;
        };
        let size = frames.len() * PAGE_BYTES;
        if twin.len() != size {
            twin.resize(size, 0);
        }
        let memory = machine.memory_mut();
        let mut merge_piece = |page: usize, at: usize, values: &[u8]| {
            let Some(&frame) = frames.get(page) else {
                return;
            };
            let start = page * PAGE_BYTES + at;
            let copy = &mut memory.frame_bytes_mut(frame)[at..at + values.len()];
            diff::merge(copy, &mut twin[start..start + values.len()], values);
        };
        if full {
            let mut image = vec![0u8; size];
            diff::apply_runs(&mut image, runs);
            for (page, values) in image.chunks(PAGE_BYTES).enumerate() {
                merge_piece(page, 0, values);
            }
        } else {
            for run in runs {
                if run.offset as usize + run.bytes.len() <= size {
                    diff::for_each_piece(run, &mut merge_piece);
                }
            }
        }
    }

    /// A publish was not acknowledged: its pages are marked dirty again and
    /// its bytes made to differ from the twin, so that the next publish
    /// sends them (whatever happened to this one).
    fn publish_failed(&mut self, machine: &Machine, id: u64, pages: &[u32], runs: &[Run]) {
        let frames = self
            .shared
            .shm
            .find(&local_name(id))
            .map(|o| o.frames.clone());
        if let (Some(frames), Some(twin)) = (
            frames,
            self.shared.rshm.as_mut().and_then(|c| c.twins.get_mut(&id)),
        ) {
            let memory = machine.memory();
            for run in runs {
                diff::for_each_piece(run, |page, at, values| {
                    let Some(&frame) = frames.get(page) else {
                        return;
                    };
                    let start = page * PAGE_BYTES + at;
                    let copy = &memory.frame_bytes(frame)[at..at + values.len()];
                    if let Some(t) = twin.get_mut(start..start + values.len()) {
                        // The complement of the copy's byte differs from it,
                        // whatever the copy holds.
                        for (t, c) in t.iter_mut().zip(copy) {
                            *t = !*c;
                        }
                    }
                });
            }
        }
        self.redirty(id, pages);
    }

    /// Marks `pages` of segment `id` dirty again (a publish that failed).
    fn redirty(&mut self, id: u64, pages: &[u32]) {
        let Some(object) = self.shared.shm.find(&local_name(id)) else {
            return;
        };
        let n = object.frames.len();
        let Some((pid, mapped)) = object
            .clients
            .iter()
            .map(|(_, c)| (c.pid, c.pages.clone()))
            .find(|(_, pages)| pages.len() >= n)
        else {
            return;
        };
        if let Some(process) = self.processes.get_mut(pid) {
            for &i in pages {
                if let Some(&page) = mapped.get(i as usize) {
                    process.page_table.mark_dirty(page);
                }
            }
        }
    }

    /// Ends this node's part: serves the calls and updates in progress for
    /// at most `DRAIN_LIMIT` (so that publishes this node sequences as
    /// owner still complete), then stops the server. Returns the state
    /// table as `--dump-rshm` prints it, when `dump`.
    pub fn shutdown_rshm(&mut self, machine: &mut Machine, dump: bool) -> Option<String> {
        let token = self.shared.rshm.as_ref()?.node.token();
        self.shared
            .rshm
            .as_ref()?
            .node
            .send(Request::Drain { token });
        let drained = self.rshm_wait_for(machine, token, DRAIN_LIMIT);
        if drained.is_none() {
            self.report("rshm: stopping with calls still in progress");
        }
        let text = if dump {
            let token = self.shared.rshm.as_ref()?.node.token();
            self.shared
                .rshm
                .as_ref()?
                .node
                .send(Request::Dump { token });
            match self.rshm_wait_for(machine, token, DRAIN_LIMIT) {
                Some(Ok(Answer::Text(t))) => Some(t),
                _ => Some("(no answer from the rshm server)\n".to_string()),
            }
        } else {
            None
        };
        if let Some(mut client) = self.shared.rshm.take() {
            client.node.stop();
        }
        text
    }

    /// Handles events until the reply to `token` (the kernel's own
    /// request), at most `limit`.
    fn rshm_wait_for(
        &mut self,
        machine: &mut Machine,
        token: u64,
        limit: Duration,
    ) -> Option<Result<Answer, Errno>> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.shared.rshm.as_ref()?.node.recv_event(left) {
                Ok(Event::Reply { token: t, result }) if t == token => return Some(result),
                Ok(event) => self.rshm_event(machine, event),
                Err(_) => return None,
            }
        }
    }
}

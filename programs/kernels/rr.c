// rr: a guest kernel in C* (run it with sim -k programs/kernels/rr.c -u PROG).
// It runs its children round robin through hypercalls
// (docs/spec/hypervisor.md, docs/hypervisor.md): it finds them with
// hv_children, runs each with hv_switch until the child's next exception,
// reads the exception with hv_status and hv_get_reg, and does a kernel's
// work itself: it asks for guest paging (hv_paging), so the host backs none
// of its children's page faults, and backs them with pages of its own heap
// (hv_map); it serves its children's writes to stdout and stderr by copying
// their bytes out of their memory (hv_read); other calls it forwards to the
// host (hv_forward). It reports on stderr when a child ends and exits with
// the exit code of its first child, so that `sim -k rr.c -u prog` exits as
// `sim -u prog` does. This is the reference of assignments/guest-kernel.

uint64_t MAX_CHILDREN = 64;
uint64_t PAGE = 4096;
uint64_t POOL_PAGES = 64;

// hv_status codes (src/abi.rs, HV_STATUS_*).
uint64_t STATUS_SYSCALL = 1;
uint64_t STATUS_PAGE_FAULT = 2;
uint64_t STATUS_TIMER = 4;
uint64_t STATUS_EXITED = 8;

// hv_get_reg register numbers: a0 = x10, a7 = x17, the argument of the
// pending exception (33) and the access of a page fault (34: 2 = fetch).
uint64_t REG_A0 = 10;
uint64_t REG_A1 = 11;
uint64_t REG_A2 = 12;
uint64_t REG_A7 = 17;
uint64_t REG_PC = 32;
uint64_t REG_ARG = 33;
uint64_t REG_ACCESS = 34;
uint64_t ACCESS_FETCH = 2;

uint64_t SYS_WRITE = 64;
uint64_t SYS_SCHED_YIELD = 124;
uint64_t PAGING_GUEST = 1;
uint64_t PROT_READ_WRITE = 3;

uint64_t* children;    // ids from hv_children
uint64_t* pool;        // next free page of the page pool
uint64_t pool_left;    // pages left in the pool
uint64_t first_child;  // the first child: its exit code is ours
uint64_t first_code;
uint64_t* digit;       // one-word buffer for eprint_unsigned
uint64_t* iobuf;       // one page: a child's bytes on their way out

void eprint(uint64_t* s) {
  write(2, s, string_length(s));
}

void eprint_unsigned(uint64_t n) {
  if (n >= 10)
    eprint_unsigned(n / 10);
  *digit = '0' + n % 10;
  write(2, digit, 1);
}

// A fresh page-aligned page of our own heap, or 0 when memory ran out.
// Pages are never given back: a child's page stays mapped until it ends.
uint64_t* page_alloc() {
  uint64_t* page;
  if (pool_left == 0) {
    pool = malloc(PAGE * (POOL_PAGES + 1));
    if (pool == (uint64_t*) 0)
      return (uint64_t*) 0;
    pool = (uint64_t*) (((uint64_t) pool + PAGE - 1) / PAGE * PAGE);
    pool_left = POOL_PAGES;
  }
  page = pool;
  pool = pool + PAGE / 8;   // pointer arithmetic counts words
  pool_left = pool_left - 1;
  return page;
}

// The page fault handler: back the faulting page with a page of our own.
// **Extension point (coursework):** a course can ask for a different policy
// here: refuse wild addresses as the host does, share read-only pages,
// or limit each child's pages.
// Extension point: a course would have students check the address against
// the child's regions (stack, heap, bss) here instead of backing any page.
// A null-pointer access, a fetch, or a page that is already mapped (a
// permission fault) goes to the host, which kills the child as it would
// kill its own process.
void handle_page_fault(uint64_t id) {
  // BEGIN SOLUTION guest-kernel
  uint64_t vaddr;
  uint64_t* page;
  vaddr = hv_get_reg(id, REG_ARG);
  if (vaddr < PAGE) {
    hv_forward(id);
    return;
  }
  if (hv_get_reg(id, REG_ACCESS) == ACCESS_FETCH) {
    hv_forward(id);
    return;
  }
  page = page_alloc();
  if (page == (uint64_t*) 0) {
    hv_forward(id);
    return;
  }
  if (is_error(hv_map(id, vaddr / PAGE * PAGE, (uint64_t) page, PROT_READ_WRITE))) {
    // Give the page back to the pool and let the host decide.
    pool = pool - PAGE / 8;
    pool_left = pool_left + 1;
    hv_forward(id);
  }
  // STUB
  // // Under guest paging the host backs nothing: forwarding kills the child.
  // hv_forward(id);
  // END SOLUTION guest-kernel
}

void report_end(uint64_t id) {
  eprint("rr: child ");
  eprint_unsigned(id);
  eprint(" exited with ");
  eprint_unsigned(hv_get_reg(id, REG_ARG));
  eprint("\n");
  if (id == first_child)
    first_code = hv_get_reg(id, REG_ARG);
}

// Ends the child's syscall with `result` in a0, after its ecall.
void finish(uint64_t id, uint64_t result) {
  hv_set_reg(id, REG_A0, result);
  hv_set_reg(id, REG_PC, hv_get_reg(id, REG_PC) + 4);
}

// write(fd, buf, len) of a child to stdout or stderr, served here: its
// bytes are copied out of its memory a page at a time (hv_read) and
// written as ours. Returns 0 for other fds (the host serves those).
uint64_t handle_write(uint64_t id) {
  // BEGIN SOLUTION guest-kernel
  uint64_t fd;
  uint64_t addr;
  uint64_t len;
  uint64_t done;
  uint64_t n;
  uint64_t r;
  fd = hv_get_reg(id, REG_A0);
  if (fd != 1)
    if (fd != 2)
      return 0;
  addr = hv_get_reg(id, REG_A1);
  len = hv_get_reg(id, REG_A2);
  done = 0;
  while (done < len) {
    n = len - done;
    if (n > PAGE)
      n = PAGE;
    r = hv_read(id, addr + done, iobuf, n);
    if (is_error(r)) {
      // A bad buffer: EFAULT, as the host would say (or the bytes so far).
      if (done == 0)
        finish(id, r);
      else
        finish(id, done);
      return 1;
    }
    write(fd, iobuf, n);
    done = done + n;
  }
  finish(id, done);
  return 1;
  // STUB
  // return 0;
  // END SOLUTION guest-kernel
}

// The syscall handler: serve writes here, forward the rest to the host. Returns 1 to keep
// running the child, 0 to go on to the next child (it ended, yielded, or
// its call would block and must be retried later).
uint64_t handle_syscall(uint64_t id) {
  uint64_t number;
  uint64_t result;
  number = hv_get_reg(id, REG_A7);
  if (number == SYS_WRITE)
    if (handle_write(id))
      return 1;
  result = hv_forward(id);
  if (hv_status(id) == STATUS_EXITED) {
    report_end(id);
    return 0;
  }
  if (is_error(result))
    return 0;
  if (number == SYS_SCHED_YIELD)
    return 0;
  return 1;
}

// Runs child id until its time slice ends, it yields, would block or ends.
void run_child(uint64_t id) {
  uint64_t status;
  while (1) {
    if (is_error(hv_switch(id)))
      return;
    status = hv_status(id);
    if (status == STATUS_SYSCALL) {
      if (handle_syscall(id) == 0)
        return;
    } else if (status == STATUS_PAGE_FAULT)
      handle_page_fault(id);
    else if (status == STATUS_TIMER)
      return;
    else {
      // Illegal instruction, breakpoint, misaligned access, a hypercall
      // from user mode: the host kills the child with its message.
      hv_forward(id);
      if (hv_status(id) == STATUS_EXITED)
        report_end(id);
      return;
    }
  }
}

uint64_t main() {
  uint64_t n;
  uint64_t i;
  digit = malloc(8);
  iobuf = malloc(PAGE);
  // BEGIN SOLUTION guest-kernel
  hv_paging(PAGING_GUEST);
  // STUB
  // // The host backs the children's page faults (not for long).
  // END SOLUTION guest-kernel
  children = malloc(MAX_CHILDREN * 8);
  n = hv_children(children, MAX_CHILDREN);
  if (n == 0) {
    eprint("rr: no children to run\n");
    return 0;
  }
  first_child = *children;
  // Each round asks for the children again: forks join, ended ones leave.
  while (n > 0) {
    i = 0;
    while (i < n) {
      run_child(*(children + i));
      i = i + 1;
    }
    n = hv_children(children, MAX_CHILDREN);
  }
  return first_code;
}

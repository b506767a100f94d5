// A small hypster in the style of selfie's: it loads a program (an ELF
// file) into a machine context in its own memory, laid out as selfie's
// (selfie.c, "MACHINE CONTEXTS"), and runs it with selfie's switch call
// (401, through the hypster_switch built-in), handling what comes back:
// the program's read, write, openat, brk and exit calls, its page faults (a page of its
// own memory for each) and its timer interrupts. Under the host it runs as
// selfie's hypster does under mipster, so it needs selfie's ABI:
//
//   sim --abi selfie programs/selfie/hypster.c hello.elf [ARGS]
//   sim --abi selfie programs/selfie/hypster.c hypster.elf hello.elf
//
// The second nests: the inner hypster's switches go to the host too, and
// its program's exceptions come back to it, not to the outer one.
// Arguments after the file name are the program's (argv[0] = the file).

uint64_t* hypster_switch(uint64_t* to_context, uint64_t timeout);

uint64_t PAGESIZE = 4096;
uint64_t LEAF_ENTRIES = 512;         // page-table entries in one 4 KiB leaf
uint64_t HIGHEST_PAGE = 1048575;     // the last page of 4 GiB
uint64_t STACK_PAGES = 524288;       // pages at or above this are the stack's
uint64_t TIMESLICE = 1000;           // instructions before a timer interrupt
uint64_t MAX_FILE = 1048576;

// selfie's exception codes
uint64_t EXCEPTION_NOEXCEPTION = 0;
uint64_t EXCEPTION_PAGEFAULT = 1;
uint64_t EXCEPTION_SYSCALL = 3;
uint64_t EXCEPTION_TIMER = 4;

uint64_t SYSCALL_EXIT = 93;
uint64_t SYSCALL_READ = 63;
uint64_t SYSCALL_WRITE = 64;
uint64_t SYSCALL_OPENAT = 56;
uint64_t SYSCALL_BRK = 214;

uint64_t REG_SP = 2;
uint64_t REG_A0 = 10;
uint64_t REG_A1 = 11;
uint64_t REG_A2 = 12;
uint64_t REG_A3 = 13;
uint64_t REG_A7 = 17;

uint64_t* context;      // the machine context: 32 words, as selfie's
uint64_t* registers;    // x0..x31
uint64_t* page_table;   // the root: one entry per 512 pages

uint64_t* next_frame;   // frames: page-aligned pages of our own heap
uint64_t frames_left;

uint64_t syscalls;
uint64_t page_faults;
uint64_t timer_interrupts;

// A zeroed, page-aligned page of our memory (fresh heap pages are zero);
// selfie's palloc zeroes its frames for the same reason.
uint64_t* palloc() {
  uint64_t* block;
  uint64_t frame;
  if (frames_left == 0) {
    block = malloc(65 * PAGESIZE);
    frame = ((uint64_t) block + PAGESIZE - 1) / PAGESIZE * PAGESIZE;
    next_frame = (uint64_t*) frame;
    frames_left = 64;
  }
  block = next_frame;
  next_frame = (uint64_t*) ((uint64_t) next_frame + PAGESIZE);
  frames_left = frames_left - 1;
  // Touch it: a page we have not touched is not ours yet (under a hypster
  // it has no frame), and the host maps only pages we have.
  *block = 0;
  return block;
}

uint64_t min(uint64_t a, uint64_t b) {
  if (a < b)
    return a;
  return b;
}

uint64_t max(uint64_t a, uint64_t b) {
  if (a > b)
    return a;
  return b;
}

// Maps the program's page to our frame, and widens the range of pages the
// host caches at the next switch (context words 5..8, as selfie.c's map_page).
void map_page(uint64_t page, uint64_t* frame) {
  uint64_t* leaf;
  leaf = (uint64_t*) *(page_table + page / LEAF_ENTRIES);
  if (leaf == (uint64_t*) 0) {
    leaf = palloc();
    *(page_table + page / LEAF_ENTRIES) = (uint64_t) leaf;
  }
  *(leaf + page % LEAF_ENTRIES) = (uint64_t) frame;
  if (page < STACK_PAGES) {
    *(context + 5) = min(page, *(context + 5));
    *(context + 6) = max(page + 1, *(context + 6));
  } else {
    *(context + 7) = min(page, *(context + 7));
    *(context + 8) = max(page + 1, *(context + 8));
  }
}

// Where the program's address vaddr is in our memory (0: not mapped).
uint64_t translate(uint64_t vaddr) {
  uint64_t page;
  uint64_t* leaf;
  uint64_t frame;
  page = vaddr / PAGESIZE;
  leaf = (uint64_t*) *(page_table + page / LEAF_ENTRIES);
  if (leaf == (uint64_t*) 0)
    return 0;
  frame = *(leaf + page % LEAF_ENTRIES);
  if (frame == 0)
    return 0;
  return frame + vaddr % PAGESIZE;
}

// Stores one byte at the program's address vaddr, mapping a
// page if it has none yet.
void store_byte(uint64_t vaddr, uint64_t byte) {
  uint64_t at;
  at = translate(vaddr);
  if (at == 0) {
    map_page(vaddr / PAGESIZE, palloc());
    at = translate(vaddr);
  }
  store_character((uint64_t*) (at - at % 8), at % 8, byte);
}

// The 16-bit and 64-bit fields of an ELF header in buffer.
uint64_t half_at(uint64_t* buffer, uint64_t offset) {
  return load_character(buffer, offset) + load_character(buffer, offset + 1) * 256;
}

uint64_t word_at(uint64_t* buffer, uint64_t offset) {
  return *(buffer + offset / 8);
}

// Loads the ELF file's loadable segments into the context; returns its
// entry point, or 0 if it is no ELF file we can load.
uint64_t load(uint64_t* buffer, uint64_t size) {
  uint64_t phoff;
  uint64_t phnum;
  uint64_t i;
  uint64_t header;
  uint64_t offset;
  uint64_t vaddr;
  uint64_t filesz;
  uint64_t memsz;
  uint64_t j;
  uint64_t program_break;
  if (size < 64)
    return 0;
  if (word_at(buffer, 0) % 4294967296 != 1179403647) // "\x7fELF"
    return 0;
  phoff = word_at(buffer, 32);
  phnum = half_at(buffer, 56);
  program_break = 0;
  i = 0;
  while (i < phnum) {
    header = phoff + i * 56;
    if (word_at(buffer, header) % 4294967296 == 1) { // PT_LOAD
      offset = word_at(buffer, header + 8);
      vaddr = word_at(buffer, header + 16);
      filesz = word_at(buffer, header + 32);
      memsz = word_at(buffer, header + 40);
      if (offset + filesz > size)
        return 0;
      if (i == 0) {
        *(context + 9) = vaddr;   // code segment
        *(context + 10) = memsz;
      } else {
        *(context + 11) = vaddr;  // data segment
        *(context + 12) = memsz;
      }
      j = 0;
      while (j < memsz) {
        if (j < filesz)
          store_byte(vaddr + j, load_character(buffer, offset + j));
        else
          store_byte(vaddr + j, 0);
        j = j + 1;
      }
      program_break = max(program_break, vaddr + memsz);
    }
    i = i + 1;
  }
  program_break = (program_break + PAGESIZE - 1) / PAGESIZE * PAGESIZE;
  *(context + 13) = program_break;   // heap start
  *(context + 14) = program_break;   // program break
  return word_at(buffer, 24);
}

// Stores a 64-bit word at the program's address vaddr.
void store_word(uint64_t vaddr, uint64_t value) {
  uint64_t i;
  i = 0;
  while (i < 8) {
    store_byte(vaddr + i, value % 256);
    value = value / 256;
    i = i + 1;
  }
}

// The program's initial stack, as Linux lays it out: argc, then argv
// (pointers to the strings, copied to the top of the stack), then an
// empty environment and auxiliary vector.
uint64_t push_arguments(uint64_t argc, uint64_t* argv) {
  uint64_t top;
  uint64_t sp;
  uint64_t i;
  uint64_t j;
  uint64_t* s;
  uint64_t length;
  uint64_t* pointers;
  pointers = malloc(argc * 8);
  top = HIGHEST_PAGE * PAGESIZE + PAGESIZE;
  i = 0;
  while (i < argc) {
    s = (uint64_t*) *(argv + i);
    length = string_length(s);
    top = top - length - 1;
    j = 0;
    while (j <= length) {
      store_byte(top + j, load_character(s, j));
      j = j + 1;
    }
    *(pointers + i) = top;
    i = i + 1;
  }
  sp = (top - (argc + 4) * 8) / 16 * 16;
  store_word(sp, argc);
  i = 0;
  while (i < argc) {
    store_word(sp + 8 + i * 8, *(pointers + i));
    i = i + 1;
  }
  store_word(sp + 8 + argc * 8, 0);      // end of argv
  store_word(sp + 16 + argc * 8, 0);     // end of envp
  store_word(sp + 24 + argc * 8, 0);     // AT_NULL
  return sp;
}

uint64_t is_heap_or_stack(uint64_t vaddr) {
  if (vaddr >= *(context + 13))
    if (vaddr < *(context + 14))
      return 1;
  if (vaddr >= *(registers + REG_SP))
    if (vaddr / PAGESIZE <= HIGHEST_PAGE)
      return 1;
  return 0;
}

// read or write(fd, buffer, count) of the program (call a7): page by page
// between the file and our memory. A read may land on a page of its heap
// or stack it has not touched yet: that page is mapped first.
uint64_t do_read_or_write(uint64_t a7, uint64_t fd, uint64_t vaddr, uint64_t count) {
  uint64_t done;
  uint64_t at;
  uint64_t chunk;
  uint64_t got;
  done = 0;
  while (done < count) {
    at = translate(vaddr + done);
    if (at == 0) {
      if (a7 == SYSCALL_WRITE)
        return done;
      if (is_heap_or_stack(vaddr + done) == 0)
        return done;
      map_page((vaddr + done) / PAGESIZE, palloc());
      at = translate(vaddr + done);
    }
    chunk = min(count - done, PAGESIZE - (vaddr + done) % PAGESIZE);
    if (a7 == SYSCALL_READ)
      got = read(fd, (uint64_t*) at, chunk);
    else
      got = write(fd, (uint64_t*) at, chunk);
    if (got > chunk)
      return got; // an error
    done = done + got;
    if (got < chunk)
      return done;
  }
  return done;
}

// openat(dirfd, path, flags, mode) of the program: its path copied into
// our memory, then our own open (relative to the working directory).
uint64_t do_openat(uint64_t vaddr, uint64_t flags, uint64_t mode) {
  uint64_t* path;
  uint64_t i;
  uint64_t at;
  uint64_t c;
  path = malloc(256);
  i = 0;
  c = 1;
  while (c != 0) {
    if (i == 255)
      c = 0;
    else {
      at = translate(vaddr + i);
      if (at == 0)
        c = 0;
      else
        c = load_character((uint64_t*) (at - at % 8), at % 8);
    }
    store_character(path, i, c);
    i = i + 1;
  }
  return open(path, flags, mode);
}

// brk(address) of the program, as selfie's implement_brk: grow (or
// shrink to no less than the heap's start), else return the break.
uint64_t do_brk(uint64_t address) {
  if (address >= *(context + 13))
    if (address < *(registers + REG_SP))
      *(context + 14) = address;
  return *(context + 14);
}

// Handles the program's call; returns 1 when it exited.
uint64_t handle_syscall() {
  uint64_t a7;
  syscalls = syscalls + 1;
  a7 = *(registers + REG_A7);
  if (a7 == SYSCALL_EXIT) {
    *(context + 17) = *(registers + REG_A0);
    return 1;
  } else if (a7 == SYSCALL_WRITE)
    *(registers + REG_A0) = do_read_or_write(a7, *(registers + REG_A0), *(registers + REG_A1), *(registers + REG_A2));
  else if (a7 == SYSCALL_READ)
    *(registers + REG_A0) = do_read_or_write(a7, *(registers + REG_A0), *(registers + REG_A1), *(registers + REG_A2));
  else if (a7 == SYSCALL_OPENAT)
    *(registers + REG_A0) = do_openat(*(registers + REG_A1), *(registers + REG_A2), *(registers + REG_A3));
  else if (a7 == SYSCALL_BRK)
    *(registers + REG_A0) = do_brk(*(registers + REG_A0));
  else {
    print("hypster: unknown system call ");
    print_unsigned(a7);
    println();
    *(context + 17) = 24;
    return 1;
  }
  *(context + 2) = *(context + 2) + 4;   // past the ecall
  return 0;
}

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t* buffer;
  uint64_t fd;
  uint64_t size;
  uint64_t entry;
  uint64_t exception;
  if (argc < 2) {
    print("usage: hypster PROGRAM [ARGS]");
    println();
    return 11;
  }
  context = malloc(32 * 8);
  registers = malloc(32 * 8);
  page_table = malloc(HIGHEST_PAGE / LEAF_ENTRIES * 8 + 8);
  *(context + 3) = (uint64_t) registers;
  *(context + 4) = (uint64_t) page_table;
  *(context + 7) = HIGHEST_PAGE;
  *(context + 8) = HIGHEST_PAGE;
  *(context + 20) = *(argv + 1);           // its name
  buffer = malloc(MAX_FILE);
  fd = open((uint64_t*) *(argv + 1), 0, 0);
  size = read(fd, buffer, MAX_FILE);
  if (size > MAX_FILE) {
    print("hypster: cannot read ");
    print((uint64_t*) *(argv + 1));
    println();
    return 15;
  }
  entry = load(buffer, size);
  if (entry == 0) {
    print("hypster: not an ELF file we can load");
    println();
    return 12;
  }
  *(context + 2) = entry;
  *(registers + REG_SP) = push_arguments(argc - 1, argv + 1);
  while (1) {
    hypster_switch(context, TIMESLICE);
    exception = *(context + 15);
    *(context + 15) = EXCEPTION_NOEXCEPTION;
    if (exception == EXCEPTION_SYSCALL) {
      if (handle_syscall()) {
        print("hypster: ");
        print((uint64_t*) *(argv + 1));
        print(" exited with ");
        print_unsigned(*(context + 17));
        print(" after ");
        print_unsigned(syscalls);
        print(" syscalls, ");
        print_unsigned(page_faults);
        print(" page faults, ");
        print_unsigned(timer_interrupts);
        print(" timer interrupts");
        println();
        return *(context + 17);
      }
    } else if (exception == EXCEPTION_PAGEFAULT) {
      page_faults = page_faults + 1;
      map_page(*(context + 16), palloc());
    } else if (exception == EXCEPTION_TIMER)
      timer_interrupts = timer_interrupts + 1;
    else {
      print("hypster: uncaught exception ");
      print_unsigned(exception);
      print(" (fault ");
      print_hex(*(context + 16), 8);
      print(")");
      println();
      return 27;
    }
  }
  return 0;
}

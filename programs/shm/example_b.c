// The example of docs/spec/shm.md, process B (run it with example_a.c).
// B opens "test" (the same id as A), asks for the same size (A.2: the
// same rounded size returns it), maps it at an address of its own choice
// (A has the kernel pick one), reads A's number and answers on the second
// page.

uint64_t main() {
  uint64_t id;
  uint64_t* p;

  id = shm_open("test");
  if (is_error(id))
    return 1;
  if (shm_size(id, 5000) != 8192)
    return 2;
  // 206159478784 is 0x3000100000: SHM_BASE + 1 MiB (kernel/layout.rs).
  p = shm_map(206159478784, id);
  if (is_error((uint64_t) p))
    return 3;
  while (*(p + 1) == 0)
    yield();
  print("b: a wrote ");
  print_unsigned(*p);
  println();
  *(p + 512) = *p + 1;
  *(p + 513) = 1;
  if (shm_close(id) != 0)
    return 4;
  // Let A close too while B still exists, so that a debugger (or the
  // stepping test) can see both private copies side by side.
  yield();
  return 0;
}

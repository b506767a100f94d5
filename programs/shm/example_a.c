// The example of docs/spec/shm.md, process A (run it with example_b.c):
//   sim -u programs/shm/example_a.c -u programs/shm/example_b.c --dump-shm
// A opens "test", sizes it to 5000 bytes (rounded up to two pages), maps
// it, writes a number on the first page and waits for B's answer on the
// second page. Then it closes: its pages keep their contents, privately.

uint64_t main() {
  uint64_t id;
  uint64_t* p;

  id = shm_open("test");
  if (is_error(id))
    return 1;
  if (shm_size(id, 5000) != 8192)
    return 2;
  p = shm_map(0, id);
  if (is_error((uint64_t) p))
    return 3;
  // Page 1, word 0: A's number; word 1: A's flag.
  *p = 42;
  *(p + 1) = 1;
  // Page 2 (512 words on): B's answer and B's flag.
  while (*(p + 513) == 0)
    yield();
  print("a: b answered ");
  print_unsigned(*(p + 512));
  println();
  if (shm_close(id) != 0)
    return 4;
  // Still readable after close: the same address, a private copy.
  if (*(p + 512) != 43)
    return 5;
  return 0;
}

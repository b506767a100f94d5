// The other half of diverge_a.c.

uint64_t main() {
  uint64_t data;
  uint64_t sync;
  uint64_t* d;
  uint64_t* s;

  data = shm_open("data");
  shm_size(data, 4096);
  d = shm_map(0, data);
  sync = shm_open("sync");
  shm_size(sync, 4096);
  s = shm_map(0, sync);
  if (is_error((uint64_t) d) + is_error((uint64_t) s))
    return 1;
  while (*s < 1)
    yield();
  print("b: before close I see ");
  print_unsigned(*d);
  println();
  *(s + 1) = 1;
  while (*s < 2)
    yield();
  // A closed and wrote 2 into its private copy: B still maps the
  // object's frames, which hold 1.
  print("b: a wrote 2 after its close, I still see ");
  print_unsigned(*d);
  println();
  if (*d != 1)
    return 2;
  shm_close(data);        // the last client keeps the original frames
  *d = 3;
  print("b: after my close I see ");
  print_unsigned(*d);
  println();
  *(s + 1) = 2;
  shm_close(sync);
  return 0;
}

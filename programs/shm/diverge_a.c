// Private copies diverge after close (A.4); run it with diverge_b.c:
//   sim -u programs/shm/diverge_a.c -u programs/shm/diverge_b.c
// "data" is the object both close; "sync" stays open so that the two
// processes can still take turns after "data" is closed.
// sync word 0: A's step, sync word 1: B's step.

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
  *d = 1;
  *s = 1;                 // step 1: data holds 1
  while (*(s + 1) < 1)
    yield();
  shm_close(data);        // A gets a private copy holding 1 ...
  *d = 2;                 // ... and writes 2 into it only
  *s = 2;                 // step 2
  while (*(s + 1) < 2)
    yield();
  print("a: after close I see ");
  print_unsigned(*d);
  println();
  shm_close(sync);
  if (*d != 2)
    return 2;
  return 0;
}

// diverge_a.c and diverge_b.c in one program: the child plays B.
//   sim -u programs/shm/diverge_fork.c

uint64_t main() {
  uint64_t data;
  uint64_t sync;
  uint64_t* d;
  uint64_t* s;
  uint64_t* status;

  status = malloc(8);
  data = shm_open("data");
  shm_size(data, 4096);
  d = shm_map(0, data);
  sync = shm_open("sync");
  shm_size(sync, 4096);
  s = shm_map(0, sync);
  if (is_error((uint64_t) d) + is_error((uint64_t) s))
    return 1;
  if (fork() == 0) {
    while (*s < 1)
      yield();
    print("child: before close I see ");
    print_unsigned(*d);
    println();
    *(s + 1) = 1;
    while (*s < 2)
      yield();
    print("child: parent wrote 2 after its close, I still see ");
    print_unsigned(*d);
    println();
    shm_close(data);
    *d = 3;
    *(s + 2) = *d;        // report what the child's private copy holds
    *(s + 1) = 2;
    exit(0);
  }
  *d = 1;
  *s = 1;
  while (*(s + 1) < 1)
    yield();
  shm_close(data);
  *d = 2;
  *s = 2;
  wait(status);
  print("parent: after close I see ");
  print_unsigned(*d);
  print(", the child wrote ");
  print_unsigned(*(s + 2));
  print(" to its own copy");
  println();
  if (*d != 2)
    return 2;
  return 0;
}

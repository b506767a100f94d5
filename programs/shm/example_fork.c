// The example of docs/spec/shm.md with fork: the parent opens, sizes and maps
// "test", then forks. The child inherits the mapping as shared (A.6), so
// what it writes the parent reads; both close their view.
//   sim -u programs/shm/example_fork.c --dump-shm

uint64_t main() {
  uint64_t id;
  uint64_t* p;
  uint64_t* status;
  uint64_t child;

  status = malloc(8);
  id = shm_open("test");
  if (shm_size(id, 5000) != 8192)
    return 2;
  p = shm_map(0, id);
  if (is_error((uint64_t) p))
    return 3;
  *p = 42;
  child = fork();
  if (child == 0) {
    print("child: parent wrote ");
    print_unsigned(*p);
    println();
    *(p + 512) = *p + 1;
    shm_close(id);
    exit(0);
  }
  wait(status);
  print("parent: child answered ");
  print_unsigned(*(p + 512));
  println();
  if (shm_close(id) != 0)
    return 4;
  return 0;
}

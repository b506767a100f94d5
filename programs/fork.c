// Processes: fork a child, let it work and exit with a code, wait for it
// in the parent and check the code. The parent prints only after wait
// returns, so the output order is the same on every run and every kernel.
// expect-exit: 0

uint64_t main() {
  uint64_t parent;
  uint64_t child;
  uint64_t* status;
  uint64_t i;
  uint64_t sum;

  status = malloc(8);
  parent = getpid();
  child = fork();
  if (is_error(child)) {
    print("fork failed\n");
    return 1;
  }
  if (child == 0) {
    // The child has its own copy of memory: this loop changes only its sum.
    sum = 0;
    i = 1;
    while (i <= 10) {
      sum = sum + i;
      i = i + 1;
    }
    print("child: sum of 1..10 is ");
    print_unsigned(sum);
    println();
    if (getpid() == parent)
      exit(99);
    exit(sum - 13);
  }
  if (wait(status) != child) {
    print("wait returned another process\n");
    return 2;
  }
  // Linux encodes the exit code as status bits 8..15.
  print("parent: child exited with ");
  print_unsigned(*status / 256 % 256);
  println();
  if (*status / 256 % 256 != 42)
    return 3;
  if (getpid() != parent)
    return 4;
  return 0;
}

// fork, exit and wait N times (N is argv[1], default 50000): the host's
// process table must not grow with N (docs/RELIABILITY.md, "Bounded host
// resources").
// expect-args: 100
// expect-exit: 0

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t i;
  uint64_t n;
  uint64_t pid;
  uint64_t* status;
  uint64_t* digits;
  status = malloc(8);
  n = 50000;
  if (argc > 1) {
    digits = (uint64_t*) *(argv + 1);
    n = 0;
    i = 0;
    while (load_character(digits, i) != 0) {
      n = n * 10 + load_character(digits, i) - '0';
      i = i + 1;
    }
  }
  i = 0;
  while (i < n) {
    pid = fork();
    if (pid == 0)
      exit(0);
    if (wait(status) != pid)
      return 1;
    i = i + 1;
  }
  return 0;
}

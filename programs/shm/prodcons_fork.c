// The producer/consumer pair of producer.c and consumer.c in one program:
// the parent produces, the forked child consumes.
//   sim -u programs/shm/prodcons_fork.c

uint64_t COUNT = 100;
uint64_t SLOTS = 8;

uint64_t consume(uint64_t* p) {
  uint64_t sum;
  sum = 0;
  while (*(p + 1) < COUNT) {
    while (*p == *(p + 1))
      yield();
    sum = sum + *(p + 2 + *(p + 1) % SLOTS);
    *(p + 1) = *(p + 1) + 1;
  }
  print("consumer: sum ");
  print_unsigned(sum);
  println();
  if (sum != 5050)
    return 2;
  return 0;
}

uint64_t main() {
  uint64_t id;
  uint64_t* p;
  uint64_t* status;
  uint64_t i;

  status = malloc(8);
  id = shm_open("ring");
  shm_size(id, 4096);
  p = shm_map(0, id);
  if (is_error((uint64_t) p))
    return 1;
  if (fork() == 0)
    exit(consume(p)); // exit without close: A.5 closes for it
  i = 1;
  while (i <= COUNT) {
    while (*p - *(p + 1) == SLOTS)
      yield();
    *(p + 2 + *p % SLOTS) = i;
    *p = *p + 1;
    i = i + 1;
  }
  wait(status);
  print("producer: child exited with ");
  print_unsigned(*status / 256 % 256);
  println();
  shm_close(id);
  return *status / 256 % 256;
}

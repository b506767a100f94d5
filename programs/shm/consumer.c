// Consumer of the producer/consumer pair (see producer.c): takes 100
// values out of the ring and prints their sum.

uint64_t COUNT = 100;
uint64_t SLOTS = 8;

uint64_t main() {
  uint64_t id;
  uint64_t* p;
  uint64_t sum;

  id = shm_open("ring");
  shm_size(id, 4096);
  p = shm_map(0, id);
  if (is_error((uint64_t) p))
    return 1;
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
  shm_close(id);
  if (sum != 5050)
    return 2;
  return 0;
}

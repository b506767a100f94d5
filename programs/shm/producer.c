// Producer of a producer/consumer pair (run it with consumer.c):
//   sim -u programs/shm/producer.c -u programs/shm/consumer.c
// The object "ring" holds a ring buffer of 8 words and two counters:
// word 0 counts the values put in (written only by the producer), word 1
// the values taken out (written only by the consumer). Each side only
// writes its own counter, so no lock is needed.

uint64_t COUNT = 100;
uint64_t SLOTS = 8;

uint64_t main() {
  uint64_t id;
  uint64_t* p;
  uint64_t i;

  id = shm_open("ring");
  shm_size(id, 4096);
  p = shm_map(0, id);
  if (is_error((uint64_t) p))
    return 1;
  i = 1;
  while (i <= COUNT) {
    while (*p - *(p + 1) == SLOTS)
      yield();
    *(p + 2 + *p % SLOTS) = i;
    *p = *p + 1;
    i = i + 1;
  }
  print("producer: sent 1..");
  print_unsigned(COUNT);
  println();
  // Closing now is safe: the consumer keeps the shared frames, the
  // producer gets private copies (A.4).
  shm_close(id);
  return 0;
}

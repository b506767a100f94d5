// Benchmark for benches/shm.rs: 32 rounds of stores over 4 MiB, through
// pages of a shared-memory object (with any argument) or through private
// heap pages (without). Both must run at the same speed: a shared page is
// an ordinary page-table entry, so stores to it take the same fast path.
//   sim -u programs/shm/bench_stores.c shared --stats
//   sim -u programs/shm/bench_stores.c --stats

uint64_t WORDS = 524288; // 4 MiB / 8

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t* p;
  uint64_t id;
  uint64_t i;
  uint64_t round;

  if (argc > 1) {
    id = shm_open("bench");
    shm_size(id, WORDS * 8);
    p = shm_map(0, id);
  } else
    p = malloc(WORDS * 8);
  if (is_error((uint64_t) p))
    return 1;
  round = 0;
  while (round < 32) {
    i = 0;
    while (i < WORDS) {
      *(p + i) = i + round;
      i = i + 1;
    }
    round = round + 1;
  }
  return 0;
}

// No torn reads (docs/spec/rshm.md: an update is applied "atomically between
// two guest instructions"): node 1 fills two pages of a segment with the
// round number, word by word, and publishes, ROUNDS times; every other
// node scans both pages over and over and counts the scans that saw two
// different numbers. Each scan starts right after a yield, so it runs
// within one time slice: an update lands before it or after it.
// Node 1 starts only when both readers have attached (each sets a flag on
// a page of its own, pages 2 and 3, and publishes it): otherwise a slow
// reader could find node 1 gone, and the segment with it.
//
//   sim cluster 3 -u programs/rshm/torn.c
//
// Exit code: the number of torn scans (0), or 100+ for a failed call.

uint64_t WORDS = 1024; // two pages
uint64_t PAGE_WORDS = 512;
uint64_t ROUNDS = 200;
uint64_t KEY = 7;

uint64_t main() {
  uint64_t me;
  uint64_t id;
  uint64_t* p;
  uint64_t round;
  uint64_t i;
  uint64_t first;
  uint64_t torn;
  uint64_t scans;
  uint64_t changes;
  uint64_t last;

  me = node_id();
  if (is_error(me))
    return 100;
  id = rshmget(KEY, WORDS * 8 * 2);
  if (is_error(id))
    return 101;
  p = rshmat(id, 0);
  if (is_error((uint64_t) p))
    return 102;
  if (me == 1) {
    // Wait for the readers' flags on pages 2 and 3.
    while (*(p + PAGE_WORDS * 2) * *(p + PAGE_WORDS * 3) == 0)
      yield();
    round = 1;
    while (round <= ROUNDS) {
      i = 0;
      while (i < WORDS) {
        *(p + i) = round;
        i = i + 1;
      }
      if (is_error(rshm_changed(id)))
        return 103;
      round = round + 1;
    }
    print("node 1: published ");
    print_unsigned(ROUNDS);
    print(" rounds\n");
    return 0;
  }
  *(p + PAGE_WORDS * me) = 1;
  if (is_error(rshm_changed(id)))
    return 104;
  torn = 0;
  scans = 0;
  changes = 0;
  last = 0;
  while (last < ROUNDS) {
    yield();
    first = *p;
    i = 1;
    while (i < WORDS) {
      if (*(p + i) != first) {
        torn = torn + 1;
        i = WORDS;
      }
      i = i + 1;
    }
    if (first != last)
      changes = changes + 1;
    last = first;
    scans = scans + 1;
  }
  print("node ");
  print_unsigned(me);
  print(": saw round ");
  print_unsigned(last);
  print(" (");
  print_unsigned(changes);
  print(" different rounds), ");
  print_unsigned(torn);
  print(" torn scans\n");
  rshmdt(id, p);
  return torn;
}

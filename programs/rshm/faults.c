// Publishes under fault injection (tests/rshm_faults.rs, docs/RELIABILITY.md):
// every node writes a growing counter into its own word of ONE page of a
// shared segment and publishes it with rshm_changed, ROUNDS times, while
// the test kills, stops and restarts nodes and forges peers. So all
// writers write different bytes of the same page at once.
//
//   sim cluster 3 -u programs/rshm/faults.c 200 0
//
// Arguments: ROUNDS, START (the counter begins after it: a restarted
// node is given a larger START so that its values keep growing), and N:
// instead of waiting for the stop word, each node raises its done flag
// (page 1, word NODE) and exits once N nodes raised theirs (for timing
// publishes with `sim cluster N`: docs/PERFORMANCE.md).
// Prints one line per publish: "ack NODE VALUE VERSION" when rshm_changed
// returned (the publish is acknowledged: every live copy has it), or
// "err NODE VALUE ERRNO" when it failed (the value goes out again with the
// next publish). Then "done NODE LAST", and it waits until the test's
// observer node sets the stop word (page 1, word 0); then it prints
// "final NODE: w1 w2 ... w8", its copy of the eight counters, and exits 0.

uint64_t KEY = 1616;
uint64_t PAGE_WORDS = 512;
uint64_t WORDS = 8;

uint64_t parse_number(uint64_t* s) {
  uint64_t i;
  uint64_t n;
  i = 0;
  n = 0;
  while (load_character(s, i) != 0) {
    n = n * 10 + load_character(s, i) - '0';
    i = i + 1;
  }
  return n;
}

void say(uint64_t* what, uint64_t me, uint64_t a, uint64_t b) {
  print(what);
  print(" ");
  print_unsigned(me);
  print(" ");
  print_unsigned(a);
  print(" ");
  print_unsigned(b);
  println();
}

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t rounds;
  uint64_t start;
  uint64_t me;
  uint64_t id;
  uint64_t* p;
  uint64_t value;
  uint64_t version;
  uint64_t i;
  uint64_t tries;
  uint64_t nodes;
  uint64_t raised;

  rounds = 200;
  start = 0;
  nodes = 0;
  if (argc > 1)
    rounds = parse_number((uint64_t*) *(argv + 1));
  if (argc > 2)
    start = parse_number((uint64_t*) *(argv + 2));
  if (argc > 3)
    nodes = parse_number((uint64_t*) *(argv + 3));
  me = node_id();
  if (is_error(me))
    return 100;
  if (me >= WORDS)
    return 100;
  // rshmget and rshmat may time out while an owner is being replaced:
  // they are asked again.
  id = rshmget(KEY, 2 * PAGE_WORDS * 8);
  tries = 0;
  while (is_error(id)) {
    tries = tries + 1;
    if (tries > 20) {
      say("gave-up rshmget", me, tries, -id);
      return 101;
    }
    id = rshmget(KEY, 2 * PAGE_WORDS * 8);
  }
  p = rshmat(id, 0);
  tries = 0;
  while (is_error((uint64_t) p)) {
    tries = tries + 1;
    if (tries > 20) {
      say("gave-up rshmat", me, tries, -((uint64_t) p));
      return 102;
    }
    p = rshmat(id, 0);
  }
  value = start;
  while (value < start + rounds) {
    value = value + 1;
    *(p + me) = value;
    version = rshm_changed(id);
    if (is_error(version))
      say("err", me, value, -version);
    else
      say("ack", me, value, version);
  }
  // The last value must be acknowledged before this node says it is done.
  version = rshm_changed(id);
  tries = 0;
  while (is_error(version)) {
    tries = tries + 1;
    if (tries > 20) {
      say("gave-up rshm_changed", me, tries, -version);
      return 103;
    }
    version = rshm_changed(id);
  }
  say("ack", me, value, version);
  say("done", me, value, 0);
  if (nodes) {
    *(p + PAGE_WORDS + me) = 1;
    version = rshm_changed(id);
    while (is_error(version))
      version = rshm_changed(id);
    raised = 0;
    while (raised < nodes) {
      yield();
      raised = 0;
      i = 1;
      while (i <= nodes) {
        raised = raised + *(p + PAGE_WORDS + i);
        i = i + 1;
      }
    }
    return 0;
  }
  while (*(p + PAGE_WORDS) == 0)
    yield();
  print("final ");
  print_unsigned(me);
  print(":");
  i = 1;
  while (i < WORDS) {
    print(" ");
    print_unsigned(*(p + i));
    i = i + 1;
  }
  println();
  return 0;
}

// The rshm board (docs/spec/rshm.md, docs/rshm.md): nodes share a board of one
// page per node. Each node writes a line on its own page, publishes it
// with rshm_changed, waits until it has seen every other node's line,
// prints them and detaches.
//
//   sim cluster 3 -u programs/rshm/board.c
//
// Arguments: the number of nodes (default 3; node ids are 1..N), and
// "stay" to publish and then keep running without reading (a test kills
// such a node to show that the others go on without it).
// Exit code: 0 when every other line was seen, else how many were missing.

uint64_t PAGE_WORDS = 512;
uint64_t KEY = 42;
// How often to look at the board before giving up on a node (each look
// is one yield: the kernel applies updates from other nodes in between).
uint64_t MAX_LOOKS = 100000000;
uint64_t EHOSTDOWN = 112;
uint64_t ETIMEDOUT = 110;

// Whether a call failed in a way that trying again may mend: the owner
// stopped (EHOSTDOWN) or did not answer in time (ETIMEDOUT, e.g. while
// a node rejoins on a loaded machine).
uint64_t worth_retrying(uint64_t result) {
  if (result == -EHOSTDOWN)
    return 1;
  return result == -ETIMEDOUT;
}

// Writes the decimal digits of n at byte `at` of s; returns the next byte.
uint64_t store_number(uint64_t* s, uint64_t at, uint64_t n) {
  if (n >= 10)
    at = store_number(s, at, n / 10);
  store_character(s, at, '0' + n % 10);
  return at + 1;
}

// Copies the string `from` to byte `at` of s; returns the next byte.
uint64_t store_string(uint64_t* s, uint64_t at, uint64_t* from) {
  uint64_t i;
  i = 0;
  while (load_character(from, i) != 0) {
    store_character(s, at + i, load_character(from, i));
    i = i + 1;
  }
  return at + i;
}

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

// How many pages other than `me`'s hold a line.
uint64_t lines_seen(uint64_t* board, uint64_t nodes, uint64_t me) {
  uint64_t j;
  uint64_t seen;
  j = 1;
  seen = 0;
  while (j <= nodes) {
    if (j != me)
      if (*(board + (j - 1) * PAGE_WORDS) != 0)
        seen = seen + 1;
    j = j + 1;
  }
  return seen;
}

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t nodes;
  uint64_t stay;
  uint64_t me;
  uint64_t id;
  uint64_t* board;
  uint64_t* mine;
  uint64_t at;
  uint64_t version;
  uint64_t tries;
  uint64_t looks;
  uint64_t j;
  uint64_t missing;

  nodes = 3;
  stay = 0;
  if (argc > 1)
    nodes = parse_number((uint64_t*) *(argv + 1));
  if (argc > 2)
    stay = string_compare((uint64_t*) *(argv + 2), "stay");
  me = node_id();
  if (is_error(me)) {
    print("board: not a node: run it with sim cluster or sim node\n");
    return 100;
  }
  if (me < 1) {
    print("board: node ids must be 1..N\n");
    return 100;
  }
  if (me > nodes) {
    print("board: node ids must be 1..N\n");
    return 100;
  }
  // Every node asks for the same key: the first creates the segment, all
  // get the same rshmid (also when they ask at once).
  id = rshmget(KEY, nodes * PAGE_WORDS * 8);
  tries = 0;
  // (C* has no &&: both conditions are 0 or 1.)
  while (worth_retrying(id) * (tries < 100)) {
    yield();
    id = rshmget(KEY, nodes * PAGE_WORDS * 8);
    tries = tries + 1;
  }
  if (is_error(id)) {
    print("board: rshmget failed: error ");
    print_unsigned(-id);
    println();
    return 101;
  }
  board = rshmat(id, 0);
  tries = 0;
  while (worth_retrying((uint64_t) board) * (tries < 100)) {
    yield();
    board = rshmat(id, 0);
    tries = tries + 1;
  }
  if (is_error((uint64_t) board)) {
    print("board: rshmat failed: error ");
    print_unsigned(-((uint64_t) board));
    println();
    return 102;
  }
  // Local writes need no network...
  mine = board + (me - 1) * PAGE_WORDS;
  at = store_string(mine, 0, "node ");
  at = store_number(mine, at, me);
  at = store_string(mine, at, " was here");
  store_character(mine, at, 0);
  // ...and become visible elsewhere when rshm_changed returns. It fails
  // with EHOSTDOWN when the owner stopped in the middle; the pages stay
  // dirty, so trying again (with the new owner) publishes them.
  version = rshm_changed(id);
  tries = 0;
  while (version == -EHOSTDOWN) {
    if (tries == 1000) {
      print("board: rshm_changed failed\n");
      return 103;
    }
    yield();
    version = rshm_changed(id);
    tries = tries + 1;
  }
  if (is_error(version)) {
    print("board: rshm_changed failed\n");
    return 103;
  }
  print("node ");
  print_unsigned(me);
  print(": published page ");
  print_unsigned(me - 1);
  println();
  if (stay)
    while (1)
      yield();
  looks = 0;
  while (looks < MAX_LOOKS) {
    if (lines_seen(board, nodes, me) == nodes - 1)
      looks = MAX_LOOKS;
    else {
      yield();
      looks = looks + 1;
    }
  }
  missing = 0;
  j = 1;
  while (j <= nodes) {
    if (j != me) {
      print("node ");
      print_unsigned(me);
      print(" reads page ");
      print_unsigned(j - 1);
      print(": ");
      if (*(board + (j - 1) * PAGE_WORDS) != 0)
        print(board + (j - 1) * PAGE_WORDS);
      else {
        print("(nothing)");
        missing = missing + 1;
      }
      println();
    }
    j = j + 1;
  }
  if (rshmdt(id, board) != 0) {
    print("board: rshmdt failed\n");
    return 104;
  }
  return missing;
}

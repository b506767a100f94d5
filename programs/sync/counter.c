// Four processes add to one counter in named shared memory, 1000 times
// each, under a spin lock (assignments/sync). Inside the critical section a
// process yields between reading and writing the counter, so without a
// working lock the others' updates are lost for certain, not by chance.
// Run: sim -u programs/sync/counter.c      (prints "counter 4000")

uint64_t WORKERS = 4;
uint64_t ROUNDS = 1000;

uint64_t* shared;   // word 0: the lock, word 1: the counter
uint64_t* status;   // for wait

// Takes the lock at `l`: waits while another process holds it.
void lock(uint64_t* l) {
  // BEGIN SOLUTION sync
  while (atomic_swap(l, 1) != 0)
    yield();
  // STUB
  // // Make this a lock (docs/spec/cstar.md, "Atomics").
  // END SOLUTION sync
}

// Gives the lock at `l` back.
void unlock(uint64_t* l) {
  // BEGIN SOLUTION sync
  atomic_swap(l, 0);
  // STUB
  // END SOLUTION sync
}

void work() {
  uint64_t i;
  uint64_t v;
  i = 0;
  while (i < ROUNDS) {
    lock(shared);
    v = *(shared + 1);
    yield();
    *(shared + 1) = v + 1;
    unlock(shared);
    i = i + 1;
  }
}

uint64_t main() {
  uint64_t id;
  uint64_t i;
  status = malloc(8);
  id = shm_open("counter");
  shm_size(id, 4096);
  shared = shm_map(0, id);
  i = 0;
  while (i < WORKERS) {
    if (fork() == 0) {
      work();
      exit(0);
    }
    i = i + 1;
  }
  i = 0;
  while (i < WORKERS) {
    wait(status);
    i = i + 1;
  }
  print("counter ");
  print_unsigned(*(shared + 1));
  println();
  return 0;
}

// Level 1 of docs/spec/vmshm.md, producer side (VM 0). Run it with the
// consumer in another VM:
//   sim -u programs/vmshm/producer.c --vm -u programs/vmshm/consumer.c
// It creates block 1 (MULTISHARED, read/write, one page) through the host
// daemon and puts 1..100 into a ring of 8 words: word 0 counts the values
// put in (written only here), word 1 the values taken out (written only
// by the consumer), words 2..9 are the ring.

uint64_t SHMID = 1;
uint64_t MULTISHARED = 2;
uint64_t READ_WRITE = 3;
uint64_t COUNT = 100;
uint64_t SLOTS = 8;

uint64_t main() {
  uint64_t* base;
  uint64_t* size;
  uint64_t* p;
  uint64_t i;

  base = malloc(8);
  size = malloc(8);
  *size = 4096;
  if (is_error(vm_open(SHMID, base, size, MULTISHARED, READ_WRITE)))
    return 1;
  p = (uint64_t*) *base;
  i = 1;
  while (i <= COUNT) {
    while (*p - *(p + 1) == SLOTS)
      yield();
    *(p + 2 + *p % SLOTS) = i;
    *p = *p + 1;
    i = i + 1;
  }
  // Wait until everything was taken out, then close: the block stays
  // while the consumer's VM has it open.
  while (*(p + 1) < COUNT)
    yield();
  print("producer (vm ");
  print_unsigned(vm_id());
  print("): sent 1..");
  print_unsigned(COUNT);
  println();
  return vm_close(SHMID, (uint64_t) p, *size);
}

// Level 1 of docs/spec/vmshm.md, consumer side (VM 1; see producer.c). It opens
// block 1 with size 0 ("its size"): until the producer created it, the
// host answers ENOENT, so it tries again after a yield. It takes 100 values
// out of the ring and prints their sum.

uint64_t SHMID = 1;
uint64_t MULTISHARED = 2;
uint64_t READ_WRITE = 3;
uint64_t COUNT = 100;
uint64_t SLOTS = 8;

uint64_t main() {
  uint64_t* base;
  uint64_t* size;
  uint64_t* p;
  uint64_t sum;

  base = malloc(8);
  size = malloc(8);
  *size = 0;
  while (is_error(vm_open(SHMID, base, size, MULTISHARED, READ_WRITE)))
    yield();
  p = (uint64_t*) *base;
  sum = 0;
  while (*(p + 1) < COUNT) {
    while (*p == *(p + 1))
      yield();
    sum = sum + *(p + 2 + *(p + 1) % SLOTS);
    *(p + 1) = *(p + 1) + 1;
  }
  print("consumer (vm ");
  print_unsigned(vm_id());
  print("): sum ");
  print_unsigned(sum);
  println();
  vm_close(SHMID, (uint64_t) p, *size);
  if (sum != 5050)
    return 2;
  return 0;
}

// Level 2 of docs/spec/vmshm.md, connecting side (VM 1; see listener.c). Until
// VM 0 listens, vm_connect fails at once with ECONNREFUSED; it tries again
// after a yield. It answers each round with its square, then closes.

uint64_t SHMID = 9;
uint64_t ROUNDS = 5;
uint64_t LISTENER_VM = 0;

uint64_t main() {
  uint64_t* base;
  uint64_t* size;
  uint64_t* p;
  uint64_t round;

  base = malloc(8);
  size = malloc(8);
  *size = 0;
  while (is_error(vm_connect(LISTENER_VM, SHMID, base, size)))
    yield();
  p = (uint64_t*) *base;
  print("connector (vm ");
  print_unsigned(vm_id());
  print("): connected\n");
  round = 1;
  while (round <= ROUNDS) {
    while (*p != round)
      yield();
    *(p + 1) = round * round;
    round = round + 1;
  }
  if (is_error(vm_disconnect(SHMID)))
    return 2;
  print("connector: closed\n");
  return 0;
}

// Level 2 of docs/spec/vmshm.md, listening side (VM 0). Run it with the
// connector in another VM:
//   sim -u programs/vmshm/listener.c --vm -u programs/vmshm/connector.c
// vm_listen blocks this process (only it) until a process of another VM
// connects; then both map the same fresh block. They exchange five
// messages, one word each way per round: word 0 is the round the listener
// asks, word 1 the answer the connector wrote (round * round). Then both
// close with vm_disconnect, which waits for the other side.

uint64_t SHMID = 9;
uint64_t ROUNDS = 5;

uint64_t main() {
  uint64_t* base;
  uint64_t* size;
  uint64_t* p;
  uint64_t peer;
  uint64_t round;

  base = malloc(8);
  size = malloc(8);
  *size = 4096;
  peer = vm_listen(SHMID, base, size);
  if (is_error(peer))
    return 1;
  p = (uint64_t*) *base;
  print("listener: vm ");
  print_unsigned(peer);
  print(" connected, ");
  print_unsigned(*size);
  print(" bytes\n");
  round = 1;
  while (round <= ROUNDS) {
    *p = round;
    while (*(p + 1) != round * round)
      yield();
    print("listener: ");
    print_unsigned(round);
    print(" squared is ");
    print_unsigned(*(p + 1));
    println();
    round = round + 1;
  }
  if (is_error(vm_disconnect(SHMID)))
    return 2;
  print("listener: closed\n");
  return 0;
}

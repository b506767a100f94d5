// A bug to find (docs/debugging.md): sum walks a list of three nodes, but
// the last node's next pointer is set to a bad address instead of 0.
uint64_t* first;
uint64_t counter;

uint64_t* node(uint64_t value, uint64_t* next) {
  uint64_t* n;
  n = malloc(16);
  *n = value;
  *(n + 1) = (uint64_t) next;
  return n;
}

uint64_t sum(uint64_t* list) {
  uint64_t total;
  total = 0;
  while (list != (uint64_t*) 0) {
    total = total + *list;
    counter = counter + 1;
    list = (uint64_t*) *(list + 1);
  }
  return total;
}

uint64_t main() {
  first = node(3, (uint64_t*) 12345);
  first = node(2, first);
  first = node(1, first);
  return sum(first);
}

uint64_t a = ;
uint64_t main() {
  uint64_t x;
  x = (1 + ;
  if x == 1) x = 2;
  while (x) { x = x - 1 }
  return x;
}
uint64_t after( { }
uint64_t last() { return 3 }

uint64_t add(uint64_t a, uint64_t b) { return a + b; }
uint64_t sum(uint64_t n, ...) { return n; }
uint64_t main() {
  write(1, "x");
  sum();
  return add(1) + add(1, 2, 3) + getpid(7);
}

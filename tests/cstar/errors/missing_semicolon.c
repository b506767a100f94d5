uint64_t main() {
  uint64_t x;
  x = 1
  return x;
}

uint64_t main() {
  uint64_t x = 0;
  x = 1;
  uint64_t y;
  return x;
}

uint64_t main() {
  y = 3;
  return foo(y) + z;
}

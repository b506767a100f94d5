void nothing() { }
void bad() { return 5; }
uint64_t main() {
  uint64_t x;
  x = nothing();
  return nothing() + 1;
}

uint64_t main() {
  uint64_t s;
  s = "never closed;
  s = 18446744073709551616;
  s = 0x;
  s = 1 @ 2;
  s = 'ab';
  s = "\q";
  return 0;
}
/* open comment

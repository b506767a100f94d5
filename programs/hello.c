// The first program: prints a greeting with the prelude's print.
// expect-exit: 0

uint64_t main() {
  print("Hello, world!");
  println();
  return 0;
}

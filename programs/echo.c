// Prints its arguments, separated by spaces, like echo(1): shows how main
// receives argc and argv from the initial stack.
// expect-args: one two three
// expect-exit: 3

uint64_t main(uint64_t argc, uint64_t* argv) {
  uint64_t i;
  i = 1;
  while (i < argc) {
    if (i > 1)
      print(" ");
    // argv is an array of pointers to strings: load one, cast it back.
    print((uint64_t*) *(argv + i));
    i = i + 1;
  }
  println();
  return argc - 1;
}

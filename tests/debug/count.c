// A gcc -g test program for the debugger (tests/debug_*.rs): no libc,
// so it builds with -nostdlib; _start calls main and exits.
long counter;

long bump(long by) {
  counter = counter + by;
  return counter;
}

int main(void) {
  for (long i = 1; i <= 3; i++)
    bump(i);
  return (int) counter;
}

void _start(void) {
  long code = main();
  register long a0 asm("a0") = code;
  register long a7 asm("a7") = 93;
  asm volatile("ecall" : : "r"(a0), "r"(a7));
  for (;;) {}
}

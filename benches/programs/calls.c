/* Calls and returns: a recursive Fibonacci (a call and a return per
 * addition) and a loop of calls through a table of function pointers
 * (an indirect call each). A gcc -O2 benchmark of benches/machine.rs. */
#include "sys.h"

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static long twice(long x) { return 2 * x + 1; }
static long half(long x) { return x >> 1; }
static long mix(long x) { return x ^ (x << 7); }
static long step(long x) { return x * 5 + 3; }

/* volatile: so that gcc keeps the calls indirect. */
static long (*volatile table[4])(long) = {twice, half, mix, step};

int main(void) {
  show("fib", fib(31));
  long x = 1;
  for (long i = 0; i < 12000000; i++) x = table[i & 3](x);
  show_hex("x", (unsigned long)x);
  return 0;
}

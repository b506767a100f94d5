#include "sys.h"

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static long ackermann(long m, long n) {
  if (m == 0) return n + 1;
  if (n == 0) return ackermann(m - 1, 1);
  return ackermann(m - 1, ackermann(m, n - 1));
}

static long depth(long n) { return n == 0 ? 0 : 1 + depth(n - 1); }

int main(void) {
  show("fib(24)", fib(24));
  show("ack(2,3)", ackermann(2, 3));
  show("ack(3,4)", ackermann(3, 4));
  show("depth", depth(100000));
  return 0;
}

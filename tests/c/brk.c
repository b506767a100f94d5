/* Grows the heap with brk, uses it, and prints only sizes and sums
 * (addresses differ between kernels). */
#include "sys.h"

int main(void) {
  long start = sys_brk(0);
  long want = start + 300000;
  long got = sys_brk(want);
  show("grew", got == want);
  long *heap = (long *)start;
  long n = (got - start) / sizeof(long);
  for (long i = 0; i < n; i++) heap[i] = i * 3;
  long sum = 0;
  for (long i = 0; i < n; i++) sum += heap[i];
  show("words", n);
  show("sum", sum);
  got = sys_brk(start + 1000000);
  show("grew again", got == start + 1000000);
  ((char *)start)[999999] = 7;
  show("last byte", ((char *)start)[999999]);
  show("old data kept", heap[n - 1]);
  got = sys_brk(start + 4096);
  show("shrunk", got == start + 4096);
  return 0;
}

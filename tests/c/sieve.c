#include "sys.h"

#define N 30000
static char composite[N + 1];

int main(void) {
  long count = 0, last = 0, sum = 0;
  for (long i = 2; i <= N; i++) {
    if (composite[i]) continue;
    count++;
    last = i;
    sum += i;
    for (long j = i * i; j <= N; j += i) composite[j] = 1;
  }
  show("primes", count);
  show("last", last);
  show("sum", sum);
  return 0;
}

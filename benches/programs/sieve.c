/* Sieve of Eratosthenes over 2,000,000 numbers, 20 rounds: byte stores in
 * strided loops. A gcc -O2 benchmark of benches/machine.rs. */
#include "sys.h"

#define N 2000000
static unsigned char composite[N + 1];

int main(void) {
  long count = 0;
  for (int round = 0; round < 20; round++) {
    memset(composite, 0, sizeof composite);
    count = 0;
    for (long i = 2; i <= N; i++) {
      if (composite[i]) continue;
      count++;
      for (long j = i * i; j <= N; j += i) composite[j] = 1;
    }
  }
  show("primes", count);
  return 0;
}

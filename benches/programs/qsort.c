/* Quicksort of 300,000 pseudo-random 64-bit keys, 6 rounds: compares,
 * swaps and recursion. A gcc -O2 benchmark of benches/machine.rs. */
#include "sys.h"

#define N 300000
static long keys[N];

static unsigned long state = 88172645463325252UL;
static unsigned long next_random(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static void quicksort(long *a, long lo, long hi) {
  while (lo < hi) {
    long pivot = a[lo + (hi - lo) / 2];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}

int main(void) {
  long check = 0;
  for (int round = 0; round < 6; round++) {
    for (long i = 0; i < N; i++) keys[i] = (long)(next_random() >> 1);
    quicksort(keys, 0, N - 1);
    for (long i = 1; i < N; i++)
      if (keys[i - 1] > keys[i]) return 1;
    check ^= keys[N / 2];
  }
  show_hex("check", check);
  return 0;
}

#include "sys.h"

#define N 2000
static long a[N];
static unsigned long seed = 12345;

static long next(void) {
  seed = seed * 6364136223846793005ul + 1442695040888963407ul;
  return (long)(seed >> 33) - (1l << 30);
}

static void quicksort(long *v, long lo, long hi) {
  while (lo < hi) {
    long pivot = v[(lo + hi) / 2], i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        long t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      quicksort(v, lo, j);
      lo = i;
    } else {
      quicksort(v, i, hi);
      hi = j;
    }
  }
}

int main(void) {
  for (int i = 0; i < N; i++) a[i] = next();
  quicksort(a, 0, N - 1);
  long sorted = 1, check = 0;
  for (int i = 0; i < N; i++) {
    if (i && a[i - 1] > a[i]) sorted = 0;
    check = check * 31 + a[i];
  }
  show("sorted", sorted);
  show("min", a[0]);
  show("max", a[N - 1]);
  show("median", a[N / 2]);
  show("check", check);
  return sorted ? 0 : 1;
}

// Benchmark: quicksort of 400,000 pseudo-random numbers (a linear
// congruential generator), then a check that the result is sorted and a
// checksum. Recursion and pointer arithmetic.
// expect-exit: 0

uint64_t seed = 1;

uint64_t random() {
  seed = seed * 6364136223846793005 + 1442695040888963407;
  return seed / 65536 % 1000000007;
}

void swap(uint64_t* a, uint64_t i, uint64_t j) {
  uint64_t t;
  t = *(a + i);
  *(a + i) = *(a + j);
  *(a + j) = t;
}

// Sorts a[lo..hi] (inclusive); Lomuto partition around the middle element.
void quicksort(uint64_t* a, uint64_t lo, uint64_t hi) {
  uint64_t pivot;
  uint64_t i;
  uint64_t j;
  if (lo >= hi)
    return;
  swap(a, (lo + hi) / 2, hi);
  pivot = *(a + hi);
  i = lo;
  j = lo;
  while (j < hi) {
    if (*(a + j) < pivot) {
      swap(a, i, j);
      i = i + 1;
    }
    j = j + 1;
  }
  swap(a, i, hi);
  if (i > lo)
    quicksort(a, lo, i - 1);
  quicksort(a, i + 1, hi);
}

uint64_t main() {
  uint64_t n;
  uint64_t* a;
  uint64_t i;
  uint64_t checksum;
  n = 400000;
  a = malloc(n * sizeof(uint64_t));
  i = 0;
  while (i < n) {
    *(a + i) = random();
    i = i + 1;
  }
  quicksort(a, 0, n - 1);
  checksum = 0;
  i = 0;
  while (i < n) {
    if (i > 0)
      if (*(a + i - 1) > *(a + i)) {
        print("not sorted\n");
        return 1;
      }
    checksum = (checksum * 31 + *(a + i)) % 1000000007;
    i = i + 1;
  }
  print("sorted ");
  print_unsigned(n);
  print(" numbers, checksum ");
  print_unsigned(checksum);
  println();
  return 0;
}

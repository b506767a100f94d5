// Benchmark: multiplies two 300x300 matrices of words, row by row, and
// prints a checksum of the product. Nested loops and multiplication.
// expect-exit: 0

uint64_t* matrix(uint64_t n, uint64_t seed) {
  uint64_t* m;
  uint64_t i;
  m = malloc(n * n * 8);
  i = 0;
  while (i < n * n) {
    *(m + i) = (i * seed + 7) % 1000;
    i = i + 1;
  }
  return m;
}

uint64_t main() {
  uint64_t n;
  uint64_t* a;
  uint64_t* b;
  uint64_t* c;
  uint64_t i;
  uint64_t j;
  uint64_t k;
  uint64_t sum;
  uint64_t* row;
  uint64_t checksum;
  n = 300;
  a = matrix(n, 3);
  b = matrix(n, 5);
  c = malloc(n * n * 8);
  i = 0;
  while (i < n) {
    row = a + i * n;
    j = 0;
    while (j < n) {
      sum = 0;
      k = 0;
      while (k < n) {
        sum = sum + *(row + k) * *(b + k * n + j);
        k = k + 1;
      }
      *(c + i * n + j) = sum;
      j = j + 1;
    }
    i = i + 1;
  }
  checksum = 0;
  i = 0;
  while (i < n * n) {
    checksum = (checksum * 7 + *(c + i)) % 1000000007;
    i = i + 1;
  }
  print("matmul ");
  print_unsigned(n);
  print("x");
  print_unsigned(n);
  print(" checksum ");
  print_unsigned(checksum);
  println();
  return 0;
}

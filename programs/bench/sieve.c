// Benchmark: the sieve of Eratosthenes up to 3,000,000, one word per
// number, five rounds. Prints the number of primes found.
// expect-exit: 0

uint64_t N = 3000000;

uint64_t sieve(uint64_t* composite) {
  uint64_t i;
  uint64_t j;
  uint64_t count;
  i = 0;
  while (i < N) {
    *(composite + i) = 0;
    i = i + 1;
  }
  count = 0;
  i = 2;
  while (i < N) {
    if (*(composite + i) == 0) {
      count = count + 1;
      j = i * i;
      while (j < N) {
        *(composite + j) = 1;
        j = j + i;
      }
    }
    i = i + 1;
  }
  return count;
}

uint64_t main() {
  uint64_t* composite;
  uint64_t round;
  uint64_t count;
  composite = malloc(N * 8);
  round = 0;
  while (round < 5) {
    count = sieve(composite);
    round = round + 1;
  }
  print("primes below ");
  print_unsigned(N);
  print(": ");
  print_unsigned(count);
  println();
  return 0;
}

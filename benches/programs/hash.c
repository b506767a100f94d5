/* An open-addressing hash table of 64-bit keys (2^20 slots): 3,000,000
 * inserts and lookups, multiplicative hashing, linear probing. A gcc -O2
 * benchmark of benches/machine.rs. */
#include "sys.h"

#define SLOTS (1 << 20)
static unsigned long table_keys[SLOTS];
static long table_values[SLOTS];

static unsigned long hash(unsigned long k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdUL;
  k ^= k >> 33;
  return k;
}

static void put(unsigned long key, long value) {
  unsigned long i = hash(key) & (SLOTS - 1);
  while (table_keys[i] != 0 && table_keys[i] != key) i = (i + 1) & (SLOTS - 1);
  table_keys[i] = key;
  table_values[i] += value;
}

static long get(unsigned long key) {
  unsigned long i = hash(key) & (SLOTS - 1);
  while (table_keys[i] != 0) {
    if (table_keys[i] == key) return table_values[i];
    i = (i + 1) & (SLOTS - 1);
  }
  return 0;
}

int main(void) {
  long sum = 0;
  for (unsigned long n = 1; n <= 1500000; n++) put(n * 2654435761UL % 700001 + 1, (long)n);
  for (unsigned long n = 1; n <= 1500000; n++) sum += get(n % 800000 + 1);
  show("sum", sum);
  return 0;
}

/* 200x200 integer matrix product, 15 rounds: a multiply-add inner loop
 * with one strided load. A gcc -O2 benchmark of benches/machine.rs. */
#include "sys.h"

#define N 200
static long a[N][N], b[N][N], c[N][N];

int main(void) {
  for (long i = 0; i < N; i++)
    for (long j = 0; j < N; j++) {
      a[i][j] = i * 3 + j;
      b[i][j] = i - 2 * j;
    }
  long trace = 0;
  for (int round = 0; round < 15; round++) {
    for (long i = 0; i < N; i++)
      for (long j = 0; j < N; j++) {
        long s = 0;
        for (long k = 0; k < N; k++) s += a[i][k] * b[k][j];
        c[i][j] = s + round;
      }
    for (long i = 0; i < N; i++) trace += c[i][i];
  }
  show("trace", trace);
  return 0;
}

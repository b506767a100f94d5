/* N-queens backtracking solver (array-based, no bitmasks), counting all
 * solutions for several board sizes. A held-out program. */
#include "sys.h"

#ifndef REPS
#define REPS 15
#endif

#define MAXN 16

static int col[MAXN];          /* col[row] = column of queen */
static unsigned char usedc[MAXN], diag1[2 * MAXN], diag2[2 * MAXN];
static unsigned long nodes;
static unsigned long hash;

static int solve(int row, int n) {
  if (row == n) {
    unsigned h = 0;
    for (int r = 0; r < n; r++) h = h * 17 + col[r];
    hash += h;
    return 1;
  }
  int count = 0;
  for (int c = 0; c < n; c++) {
    if (usedc[c] || diag1[row + c] || diag2[row - c + n - 1]) continue;
    nodes++;
    col[row] = c;
    usedc[c] = diag1[row + c] = diag2[row - c + n - 1] = 1;
    count += solve(row + 1, n);
    usedc[c] = diag1[row + c] = diag2[row - c + n - 1] = 0;
  }
  return count;
}

int main(void) {
  unsigned long sum = 0;
  int last = 0;
  for (int rep = 0; rep < REPS; rep++) {
    for (int n = 4; n <= 12; n++) {
      nodes = 0;
      int s = solve(0, n);
      sum = sum * 31 + s + nodes;
      if (n == 12) last = s;
    }
  }
  show("solutions12", last);
  show("nodes12", nodes);
  show_hex("sol_hash", hash);
  show_hex("queens_sum", sum);
  return 0;
}

/* Edit distance and longest common subsequence by dynamic programming
 * (two rolling rows) on generated, mutated strings. A held-out program. */
#include "sys.h"

#ifndef REPS
#define REPS 40
#endif

#define LEN 2000

static unsigned char a[LEN], b[LEN];
static int prev[LEN + 1], cur[LEN + 1];
static unsigned long lcg = 2463534242UL;

static unsigned next_rand(void) {
  lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
  return (unsigned)(lcg >> 33);
}

static int min3(int x, int y, int z) {
  int m = x < y ? x : y;
  return m < z ? m : z;
}

static int edit_distance(const unsigned char *s, int n, const unsigned char *t, int m) {
  for (int j = 0; j <= m; j++) prev[j] = j;
  for (int i = 1; i <= n; i++) {
    cur[0] = i;
    unsigned char si = s[i - 1];
    for (int j = 1; j <= m; j++) {
      int cost = si == t[j - 1] ? 0 : 1;
      cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    for (int j = 0; j <= m; j++) prev[j] = cur[j];
  }
  return prev[m];
}

static int lcs(const unsigned char *s, int n, const unsigned char *t, int m) {
  for (int j = 0; j <= m; j++) prev[j] = 0;
  for (int i = 1; i <= n; i++) {
    cur[0] = 0;
    for (int j = 1; j <= m; j++) {
      if (s[i - 1] == t[j - 1]) cur[j] = prev[j - 1] + 1;
      else cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
    }
    for (int j = 0; j <= m; j++) prev[j] = cur[j];
  }
  return prev[m];
}

int main(void) {
  unsigned long sum = 0;
  int ed = 0, lc = 0;
  for (int rep = 0; rep < REPS; rep++) {
    for (int i = 0; i < LEN; i++) a[i] = 'a' + next_rand() % 4;
    for (int i = 0; i < LEN; i++) {
      unsigned r = next_rand() % 10;
      b[i] = r < 7 ? a[i] : (unsigned char)('a' + next_rand() % 4);
    }
    int n = LEN - (rep % 8) * 50, m = LEN - (rep * 37) % 200;
    ed = edit_distance(a, n, b, m);
    lc = lcs(a, n, b, m);
    sum = sum * 1000003 + ed * 65536 + lc;
  }
  show("edit", ed);
  show("lcs", lc);
  show_hex("dp_sum", sum);
  return 0;
}

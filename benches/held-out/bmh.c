/* Boyer-Moore-Horspool search of many patterns over generated text.
 * A held-out program. */
#include "sys.h"

#ifndef REPS
#define REPS 280
#endif

#define TLEN 200000
#define NPAT 24

static unsigned char text[TLEN];
static unsigned char pats[NPAT][32];
static int plen[NPAT];
static int shift[256];
static unsigned long lcg = 88172645463325252UL;

static unsigned next_rand(void) {
  lcg = lcg * 6364136223846793005UL + 1442695040888963407UL;
  return (unsigned)(lcg >> 33);
}

static void gen(void) {
  /* words from a small alphabet separated by spaces, so matches occur */
  static const char alpha[] = "etaoinshrdlu";
  int i = 0;
  while (i < TLEN) {
    int wl = 2 + next_rand() % 7;
    for (int k = 0; k < wl && i < TLEN; k++) text[i++] = alpha[next_rand() % 12];
    if (i < TLEN) text[i++] = ' ';
  }
  for (int p = 0; p < NPAT; p++) {
    int len = 3 + p % 10;
    int at = next_rand() % (TLEN - 40);
    if (p & 1) {
      for (int k = 0; k < len; k++) pats[p][k] = alpha[next_rand() % 12];
    } else {
      for (int k = 0; k < len; k++) pats[p][k] = text[at + k];
    }
    plen[p] = len;
  }
}

static int bmh(const unsigned char *pat, int m, const unsigned char *t, int n,
               unsigned *firstpos) {
  for (int c = 0; c < 256; c++) shift[c] = m;
  for (int k = 0; k < m - 1; k++) shift[pat[k]] = m - 1 - k;
  int count = 0, i = 0;
  unsigned first = 0xffffffffu;
  unsigned char last = pat[m - 1];
  while (i <= n - m) {
    unsigned char c = t[i + m - 1];
    if (c == last) {
      int j = m - 2;
      while (j >= 0 && t[i + j] == pat[j]) j--;
      if (j < 0) {
        if (first == 0xffffffffu) first = i;
        count++;
      }
    }
    i += shift[c];
  }
  *firstpos = first;
  return count;
}

int main(void) {
  gen();
  unsigned long sum = 0;
  unsigned total = 0;
  for (int rep = 0; rep < REPS; rep++) {
    text[(rep * 7919) % TLEN] = "etaoinshrdlu"[rep % 12];
    for (int p = 0; p < NPAT; p++) {
      unsigned first;
      int c = bmh(pats[p], plen[p], text, TLEN, &first);
      total += c;
      sum = sum * 1000003 + c * 31 + first;
    }
  }
  unsigned f0;
  show("matches_p0", bmh(pats[0], plen[0], text, TLEN, &f0));
  show("first_p0", f0);
  show("total", total);
  show_hex("bmh_sum", sum);
  return 0;
}

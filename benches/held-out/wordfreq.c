/* Tokenize generated text and count words in an open-addressing hash table.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 300
#endif

#define TEXT (192 * 1024)
#define TBITS 13
#define TSIZE (1 << TBITS)

static char text[TEXT + 1];
struct entry { const char *w; int len; unsigned hash; int count; };
static struct entry table[TSIZE];

static unsigned long rs = 0x9E3779B97F4A7C15UL;
static unsigned rnd(void) { rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27; return (unsigned)((rs * 2685821657736338717UL) >> 32); }

static const char syl[][4] = {"ka", "to", "ri", "ne", "sa", "mu", "lo", "vi", "pe", "da", "qu", "x", "zor", "in", "el", "th"};

static void gen(void) {
  int p = 0;
  while (p < TEXT - 24) {
    unsigned r = rnd();
    /* skewed word length and syllables, so some words are frequent */
    int ns = 1 + (r & 3) % 3 + ((r >> 2) & 7) / 7;
    for (int s = 0; s < ns; s++) {
      unsigned k = (r >> (5 + 4 * s)) & 15;
      if (s > 0 && (r >> 30)) k &= 7;
      const char *q = syl[k];
      while (*q) text[p++] = *q++;
    }
    unsigned sep = (r >> 26) & 15;
    text[p++] = sep == 0 ? '.' : sep == 1 ? ',' : sep == 2 ? '\n' : ' ';
    if (sep < 2) text[p++] = ' ';
  }
  while (p < TEXT) text[p++] = ' ';
  text[TEXT] = 0;
}

static inline int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static unsigned str_hash(const char *s, int n) {
  unsigned h = 5381;
  for (int i = 0; i < n; i++) h = (h << 5) + h + (unsigned char)s[i];
  return h ^ (h >> 15);
}

static int str_eq(const char *a, const char *b, int n) {
  for (int i = 0; i < n; i++) if (a[i] != b[i]) return 0;
  return 1;
}

static int nuniq;

static void add(const char *w, int n) {
  unsigned h = str_hash(w, n);
  unsigned i = h & (TSIZE - 1);
  for (;;) {
    struct entry *e = &table[i];
    if (!e->w) { e->w = w; e->len = n; e->hash = h; e->count = 1; nuniq++; return; }
    if (e->hash == h && e->len == n && str_eq(e->w, w, n)) { e->count++; return; }
    i = (i + 1) & (TSIZE - 1);
  }
}

int main(void) {
  gen();
  unsigned long sum = 0;
  int total = 0, maxc = 0;
  for (int rep = 0; rep < REPS; rep++) {
    for (int i = 0; i < TSIZE; i++) { table[i].w = 0; table[i].count = 0; }
    nuniq = 0; total = 0;
    const char *p = text, *end = text + TEXT;
    while (p < end) {
      while (p < end && !is_alpha(*p)) p++;
      const char *s = p;
      while (p < end && is_alpha(*p)) p++;
      if (p > s) { add(s, (int)(p - s)); total++; }
    }
    unsigned long h = 0;
    maxc = 0;
    for (int i = 0; i < TSIZE; i++)
      if (table[i].w) {
        h += (unsigned long)table[i].hash * table[i].count;
        if (table[i].count > maxc) maxc = table[i].count;
      }
    sum = sum * 33 + h + nuniq;
    text[(rep * 7919) % TEXT] = 'e';
  }
  show("words", total);
  show("unique", nuniq);
  show("maxcount", maxc);
  show_hex("wordfreq_sum", sum);
  return 0;
}

/* LZ77-style compressor with a hash table of previous positions.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 50
#endif

#define N (256 * 1024)
#define HBITS 14
#define MINM 4
#define MAXM 255
#define WIN 65535

static unsigned char in[N];
static unsigned char out[N + N / 8 + 64];
static int head[1 << HBITS];
static int prev[N];
#define MAXCHAIN 24

static unsigned long rs = 88172645463325252UL;
static unsigned rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (unsigned)rs; }

static const char *words[] = {
  "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was",
  "with", "be", "by", "on", "not", "he", "this", "are", "or", "his", "from",
  "at", "which", "but", "have", "an", "had", "they", "you", "were", "their",
  "compress", "window", "literal", "match", "offset", "length", "buffer",
  "emulator", "register", "instruction", "memory", "branch", "cache"};
#define NWORDS (sizeof words / sizeof words[0])

static void gen(void) {
  int p = 0;
  while (p < N) {
    unsigned r = rnd();
    const char *w = words[((r % NWORDS + (r >> 8) % NWORDS) / 2 + ((r >> 20) & 1)) % NWORDS];
    if ((r >> 24) % 23 == 0 && p < N) in[p++] = 'A' + (r >> 16) % 26;
    while (*w && p < N) in[p++] = *w++;
    if (p < N) in[p++] = ((r >> 28) == 0) ? '\n' : (((r >> 27) & 7) == 3 ? ',' : ' ');
  }
}

static inline unsigned hash4(const unsigned char *p) {
  unsigned v = p[0] | (p[1] << 8) | (p[2] << 16) | ((unsigned)p[3] << 24);
  return (v * 2654435761u) >> (32 - HBITS);
}

/* Format: flag byte per 8 items; literal = 1 byte; match = len-MINM, off lo, off hi. */
static int compress(void) {
  for (int i = 0; i < (1 << HBITS); i++) head[i] = -1;
  int ip = 0, op = 0, flagpos = 0, nitems = 8;
  while (ip < N) {
    if (nitems == 8) { flagpos = op++; out[flagpos] = 0; nitems = 0; }
    int best = 0, boff = 0;
    if (ip + MINM <= N) {
      unsigned h = hash4(in + ip);
      int cand = head[h];
      prev[ip] = cand;
      head[h] = ip;
      int lim = N - ip; if (lim > MAXM + MINM) lim = MAXM + MINM;
      for (int chain = 0; cand >= 0 && ip - cand <= WIN && chain < MAXCHAIN; chain++) {
        if (in[cand + best] == in[ip + best]) {
          int l = 0;
          while (l < lim && in[cand + l] == in[ip + l]) l++;
          if (l > best) { best = l; boff = ip - cand; if (l == lim) break; }
        }
        cand = prev[cand];
      }
      if (best < MINM) best = 0;
    }
    if (best) {
      out[flagpos] |= 1 << nitems;
      out[op++] = best - MINM; out[op++] = boff & 255; out[op++] = boff >> 8;
      int end = ip + best;
      for (ip++; ip < end && ip + MINM <= N; ip++) {
        unsigned h = hash4(in + ip);
        prev[ip] = head[h]; head[h] = ip;
      }
      ip = end;
    } else {
      out[op++] = in[ip++];
    }
    nitems++;
  }
  return op;
}

static unsigned char dec[N];
static int decompress(int n) {
  int ip = 0, op = 0;
  while (ip < n) {
    unsigned flags = out[ip++];
    for (int k = 0; k < 8 && ip < n; k++) {
      if (flags & (1u << k)) {
        int len = out[ip] + MINM, off = out[ip + 1] | (out[ip + 2] << 8);
        ip += 3;
        for (int j = 0; j < len; j++, op++) dec[op] = dec[op - off];
      } else dec[op++] = out[ip++];
    }
  }
  return op;
}

int main(void) {
  gen();
  unsigned long sum = 0;
  int csize = 0;
  for (int rep = 0; rep < REPS; rep++) {
    in[rep * 977 % N] ^= (unsigned char)rep;
    csize = compress();
    unsigned h = 2166136261u;
    for (int i = 0; i < csize; i++) h = (h ^ out[i]) * 16777619u;
    sum = sum * 131 + h + csize;
  }
  int dn = decompress(csize);
  int ok = dn == N;
  for (int i = 0; ok && i < N; i++) if (dec[i] != in[i]) ok = 0;
  show("csize", csize);
  show("roundtrip_ok", ok);
  show_hex("lz_sum", sum);
  return 0;
}

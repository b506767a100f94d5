/* Fixed-point radix-2 FFT (Q15 twiddles, int32 data, int64 products),
 * size 4096, forward then inverse.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 900
#endif

#define LOGN 12
#define N (1 << LOGN)

static int sintab[N];          /* sin(2*pi*i/N) in Q15, for i < N; cos = sin(i + N/4) */
static int re[N], im[N];
static int orig[N];

/* sine by Taylor-free integer method: rotate a Q30 vector by a small angle */
static void make_sintab(void) {
  /* Use angle-doubling recurrence in Q30: cos/sin of 2pi/N precomputed. */
  const long long C = 1073740561LL;  /* cos(2pi/4096) * 2^30 */
  const long long S = 1647099LL;     /* sin(2pi/4096) * 2^30 */
  long long c = 1LL << 30, s = 0;
  for (int i = 0; i < N; i++) {
    sintab[i] = (int)((s + (1LL << 14)) >> 15);
    long long nc = (c * C - s * S + (1LL << 29)) >> 30;
    long long ns = (s * C + c * S + (1LL << 29)) >> 30;
    c = nc; s = ns;
  }
}

static void bitrev(void) {
  for (int i = 1, j = 0; i < N; i++) {
    int bit = N >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      int t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
}

/* inverse: sign=-1. Scales by 1/2 each stage on forward to avoid overflow. */
static void fft(int inverse) {
  bitrev();
  for (int len = 2, step = N / 2; len <= N; len <<= 1, step >>= 1) {
    int half = len >> 1;
    for (int i = 0; i < N; i += len) {
      for (int k = 0; k < half; k++) {
        int wr = sintab[(k * step + N / 4) & (N - 1)];
        int wi = sintab[k * step];
        if (!inverse) wi = -wi;
        int a = i + k, b = a + half;
        long long tr = ((long long)re[b] * wr - (long long)im[b] * wi) >> 15;
        long long ti = ((long long)re[b] * wi + (long long)im[b] * wr) >> 15;
        int ur = re[a], ui = im[a];
        if (!inverse) {
          re[a] = (int)((ur + tr) >> 1); im[a] = (int)((ui + ti) >> 1);
          re[b] = (int)((ur - tr) >> 1); im[b] = (int)((ui - ti) >> 1);
        } else {
          re[a] = (int)(ur + tr); im[a] = (int)(ui + ti);
          re[b] = (int)(ur - tr); im[b] = (int)(ui - ti);
        }
      }
    }
  }
}

int main(void) {
  make_sintab();
  unsigned x = 2463534242u;
  for (int i = 0; i < N; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    /* two tones plus noise, amplitude ~2^20 */
    orig[i] = (sintab[(i * 37) & (N - 1)] << 8) + (sintab[(i * 511 + 100) & (N - 1)] << 7)
              + ((int)(x & 0xffff) - 0x8000) * 16;
  }
  unsigned long sum = 0;
  long maxerr = 0, peak = 0;
  int peakbin = 0;
  for (int rep = 0; rep < REPS; rep++) {
    for (int i = 0; i < N; i++) { re[i] = orig[i] + rep; im[i] = 0; }
    fft(0);
    peak = 0;
    for (int i = 0; i < N; i++) {
      long m = (long)re[i] * re[i] + (long)im[i] * im[i];
      if (m > peak) { peak = m; peakbin = i; }
      sum = sum * 3 + (unsigned)re[i] + ((unsigned long)(unsigned)im[i] << 17);
    }
    fft(1);
    maxerr = 0;
    for (int i = 0; i < N; i++) {
      long e = (long)re[i] - (orig[i] + rep);
      if (e < 0) e = -e;
      if (e > maxerr) maxerr = e;
      sum += (unsigned)re[i];
    }
  }
  show("peakbin", peakbin);
  show("maxerr", maxerr);
  show_hex("fft_sum", sum);
  return 0;
}

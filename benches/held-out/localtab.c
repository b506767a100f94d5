/* Table-driven checksum with two tables on main's stack: a 2 KiB unsigned
 * short table and a 1 KiB unsigned char S-box; the index chain is serial.
 * A held-out program (benches/held-out/README.md). */
#include "sys.h"

#ifndef REPS
#define REPS 700
#endif

#define BUF (64 * 1024)
static unsigned char buf[BUF];

int main(void) {
  unsigned short t16[1024];   /* 2 KiB */
  unsigned char sbox[1024];   /* 1 KiB */

  unsigned x = 0x1234567u;
  for (int i = 0; i < BUF; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    buf[i] = (unsigned char)(x >> 11);
  }
  /* CRC-16/CCITT-like table for 10-bit inputs */
  for (int i = 0; i < 1024; i++) {
    unsigned c = (unsigned)i << 6;
    for (int k = 0; k < 10; k++) c = (c & 0x8000) ? ((c << 1) ^ 0x1021) : (c << 1);
    t16[i] = (unsigned short)c;
  }
  /* S-box: a permutation of 0..255 repeated 4 times with different keys */
  for (int i = 0; i < 1024; i++) sbox[i] = (unsigned char)i;
  unsigned j = 0;
  for (int blk = 0; blk < 4; blk++) {
    unsigned char *s = sbox + blk * 256;
    for (int i = 0; i < 256; i++) {
      j = (j + s[i] + 0x5A + blk * 17 + i) & 255;
      unsigned char t = s[i]; s[i] = s[j]; s[j] = t;
    }
  }

  unsigned long total = 0;
  unsigned state = 0xACE1;
  unsigned idx = 0;
  for (int rep = 0; rep < REPS; rep++) {
    for (int i = 0; i < BUF; i++) {
      unsigned b = buf[(i + idx) & (BUF - 1)];
      unsigned s = sbox[(b ^ state) & 1023];
      state = (state >> 6) ^ t16[(state ^ (s << 2) ^ b) & 1023];
      idx = (idx + s + (state & 7)) & (BUF - 1);
    }
    total = total * 65599 + state + idx;
  }
  show("state", state);
  show_hex("localtab_sum", total);
  return 0;
}

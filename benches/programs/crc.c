/* CRC-32 of a 64 KiB buffer, 800 times, through a 256-entry table: each
 * step's table index depends on the step before (a chain of loads). A gcc
 * -O2 benchmark of benches/machine.rs. */
#include "sys.h"

static unsigned char buf[1 << 16];

int main(void) {
  unsigned table[256];
  for (unsigned i = 0; i < 256; i++) {
    unsigned c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  for (unsigned i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + (i >> 5));
  unsigned crc = 0;
  for (int round = 0; round < 800; round++) {
    unsigned c = 0xFFFFFFFFu ^ crc;
    for (unsigned i = 0; i < sizeof buf; i++) c = table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
    crc = c ^ 0xFFFFFFFFu;
  }
  show_hex("crc", crc);
  return 0;
}

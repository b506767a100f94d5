/* Copies stdin to stdout in upper case, in chunks; counts bytes. */
#include "sys.h"

int main(void) {
  char buf[7]; /* a small buffer: many reads */
  long total = 0, n;
  while ((n = sys_read(0, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n; i++)
      if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
    sys_write(1, buf, n);
    total += n;
  }
  show("total", total);
  return n < 0 ? 1 : 0;
}

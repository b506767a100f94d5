/* Double-precision floating point: a 300x300 Mandelbrot set (200
 * iterations at most per point: multiply-adds and compares) and a
 * 3,000,000-term series (divisions and int-to-double conversions). A gcc
 * -O2 benchmark of benches/machine.rs. */
#include "sys.h"

int main(void) {
  long inside = 0;
  for (int py = 0; py < 300; py++)
    for (int px = 0; px < 300; px++) {
      double cx = -2.0 + px * (3.0 / 300), cy = -1.5 + py * (3.0 / 300);
      double x = 0, y = 0;
      int i = 0;
      while (i < 200 && x * x + y * y <= 4.0) {
        double t = x * x - y * y + cx;
        y = 2 * x * y + cy;
        x = t;
        i++;
      }
      if (i == 200) inside++;
    }
  double sum = 0;
  for (long k = 1; k < 3000000; k++) sum += 1.0 / ((double)k * (double)k);
  show("inside", inside);
  show("sum_e9", (long)(sum * 1e9));
  return 0;
}

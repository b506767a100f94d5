/* Double-precision floating point through memory: five bodies under
 * gravity, 150,000 steps (loads and stores of doubles, multiply-adds, a
 * division and a square root per pair). A gcc -O2 benchmark of
 * benches/machine.rs. */
#include "sys.h"

#define BODIES 5
static double px[BODIES], py[BODIES], pz[BODIES];
static double vx[BODIES], vy[BODIES], vz[BODIES], mass[BODIES];

/* fsqrt.d itself: the freestanding build has no libm. */
static double root(double x) {
  double r;
  __asm__("fsqrt.d %0, %1" : "=f"(r) : "f"(x));
  return r;
}

int main(void) {
  for (int i = 0; i < BODIES; i++) {
    px[i] = i;
    py[i] = i * 0.5;
    pz[i] = -i;
    vx[i] = 0.01 * i;
    vy[i] = 0;
    vz[i] = 0.02;
    mass[i] = 1.0 + i;
  }
  for (int step = 0; step < 150000; step++) {
    for (int i = 0; i < BODIES; i++)
      for (int j = i + 1; j < BODIES; j++) {
        double dx = px[i] - px[j], dy = py[i] - py[j], dz = pz[i] - pz[j];
        double d2 = dx * dx + dy * dy + dz * dz + 0.01;
        double pull = 0.001 / (d2 * root(d2));
        vx[i] -= dx * mass[j] * pull;
        vy[i] -= dy * mass[j] * pull;
        vz[i] -= dz * mass[j] * pull;
        vx[j] += dx * mass[i] * pull;
        vy[j] += dy * mass[i] * pull;
        vz[j] += dz * mass[i] * pull;
      }
    for (int i = 0; i < BODIES; i++) {
      px[i] += 0.001 * vx[i];
      py[i] += 0.001 * vy[i];
      pz[i] += 0.001 * vz[i];
    }
  }
  show("x0_e6", (long)(px[0] * 1e6));
  show("z4_e6", (long)(pz[4] * 1e6));
  return 0;
}

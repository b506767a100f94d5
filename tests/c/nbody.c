/* n-body in double precision (the classic five-planet benchmark): FP
 * arithmetic, fsqrt, fused multiply-adds, conversions. Prints the energy
 * before and after, exactly (the bits) and in decimal; then the same
 * computation in single precision and under each rounding mode (fsrm),
 * whose results differ in the last bits. Built with -march=rv64gc. */
#include "sys.h"

#define N 5
#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

struct body {
  double x, y, z, vx, vy, vz, mass;
};

static struct body bodies[N] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

static void offset_momentum(struct body *b) {
  double px = 0, py = 0, pz = 0;
  for (int i = 0; i < N; i++) {
    px += b[i].vx * b[i].mass;
    py += b[i].vy * b[i].mass;
    pz += b[i].vz * b[i].mass;
  }
  b[0].vx = -px / SOLAR_MASS;
  b[0].vy = -py / SOLAR_MASS;
  b[0].vz = -pz / SOLAR_MASS;
}

static double energy(const struct body *b) {
  double e = 0;
  for (int i = 0; i < N; i++) {
    e += 0.5 * b[i].mass * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
    for (int j = i + 1; j < N; j++) {
      double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
      e -= b[i].mass * b[j].mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

static void advance(struct body *b, double dt) {
  for (int i = 0; i < N; i++) {
    for (int j = i + 1; j < N; j++) {
      double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
      double d2 = dx * dx + dy * dy + dz * dz;
      double mag = dt / (d2 * __builtin_sqrt(d2));
      b[i].vx -= dx * b[j].mass * mag;
      b[i].vy -= dy * b[j].mass * mag;
      b[i].vz -= dz * b[j].mass * mag;
      b[j].vx += dx * b[i].mass * mag;
      b[j].vy += dy * b[i].mass * mag;
      b[j].vz += dz * b[i].mass * mag;
    }
  }
  for (int i = 0; i < N; i++) {
    b[i].x += dt * b[i].vx;
    b[i].y += dt * b[i].vy;
    b[i].z += dt * b[i].vz;
  }
}

/* A double as bits and as decimal with nine digits after the point. */
static void show_double(const char *name, double v) {
  union {
    double d;
    unsigned long u;
  } bits = {v};
  print(name);
  print("=");
  print_hex(bits.u);
  print(" ");
  if (v < 0) {
    print("-");
    v = -v;
  }
  long whole = (long)v;
  print_long(whole);
  print(".");
  long frac = (long)((v - (double)whole) * 1e9 + 0.5);
  char digits[10];
  for (int i = 8; i >= 0; i--) {
    digits[i] = '0' + frac % 10;
    frac /= 10;
  }
  digits[9] = 0;
  print(digits);
  print("\n");
}

/* A float loop: the harmonic series in single precision. */
static float harmonic(int n) {
  float s = 0;
  for (int i = 1; i <= n; i++) s += 1.0f / (float)i;
  return s;
}

static void set_rounding(int rm) { asm volatile("fsrm %0" : : "r"(rm)); }

static unsigned flags(void) {
  unsigned f;
  asm volatile("frflags %0" : "=r"(f));
  return f;
}

int main(int argc, char **argv) {
  int steps = 200000;
  if (argc > 1) {
    steps = 0;
    for (const char *p = argv[1]; *p; p++) steps = steps * 10 + (*p - '0');
  }
  offset_momentum(bodies);
  show_double("energy before", energy(bodies));
  for (int i = 0; i < steps; i++) advance(bodies, 0.01);
  show_double("energy after", energy(bodies));
  for (int rm = 0; rm < 5; rm++) {
    set_rounding(rm);
    float h = harmonic(1000);
    union {
      float f;
      unsigned u;
    } b = {h};
    print("harmonic(1000) rm=");
    print_long(rm);
    print(": ");
    print_hex(b.u);
    print("\n");
  }
  set_rounding(0);
  show("fflags", flags());
  return 0;
}

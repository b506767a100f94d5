/* Arithmetic edges, computed at run time (volatile inputs keep gcc from
 * folding them), printed as numbers. */
#include "sys.h"

static volatile long v_zero = 0, v_min = (long)0x8000000000000000ul, v_m1 = -1;
static volatile long v_7 = 7, v_m7 = -7, v_big = 0x123456789abcdefl;
static volatile int w_min = (int)0x80000000u, w_m1 = -1, w_zero = 0, w_7 = 7;
static volatile unsigned long u_max = ~0ul;
static volatile int sh[] = {0, 1, 31, 32, 63, 64, 65};

int main(void) {
  show("div0", v_7 / v_zero);
  show("rem0", v_7 % v_zero);
  show("divu0", (long)((unsigned long)v_7 / (unsigned long)v_zero));
  show("remu0", (long)((unsigned long)v_m7 % (unsigned long)v_zero));
  show("divovf", v_min / v_m1);
  show("removf", v_min % v_m1);
  show("divw0", w_7 / w_zero);
  show("remw0", w_7 % w_zero);
  show("divwovf", w_min / w_m1);
  show("remwovf", w_min % w_m1);
  show("divuw0", (unsigned)w_7 / (unsigned)w_zero);
  show("neg_div", v_m7 / 2);
  show("neg_rem", v_m7 % 2);
  show("addovf", (long)((unsigned long)v_min + (unsigned long)v_m1));
  show("addwovf", (int)((unsigned)0x7fffffff + (unsigned)w_7));
  show("mul", v_big * v_big);
  show("mulw", (int)((unsigned)w_min * (unsigned)w_7));
  __int128 p = (__int128)v_big * (__int128)v_m7;
  show_hex("mulh", (unsigned long)(p >> 64));
  unsigned __int128 q = (unsigned __int128)u_max * (unsigned __int128)u_max;
  show_hex("mulhu", (unsigned long)(q >> 64));
  for (int i = 0; i < 7; i++) {
    int s = sh[i];
    show_hex("sll", (unsigned long)v_big << (s & 63));
    show_hex("srl", (unsigned long)v_min >> (s & 63));
    show("sra", v_min >> (s & 63));
    show("sllw", (int)((unsigned)w_7 << (s & 31)));
    show("sraw", w_min >> (s & 31));
  }
  show("slt", v_m1 < v_7);
  show("sltu", (unsigned long)v_m1 < (unsigned long)v_7);
  return 0;
}

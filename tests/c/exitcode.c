/* Exits with a code computed from a loop: a collatz step count. */
#include "sys.h"

int main(void) {
  long n = 97, steps = 0;
  while (n != 1) {
    n = (n & 1) ? 3 * n + 1 : n / 2;
    steps++;
  }
  show("steps", steps);
  return (int)steps; /* 118 */
}

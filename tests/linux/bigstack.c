#include <stdio.h>
#include <string.h>
static long depth(int n) { char pad[512]; memset(pad, n, sizeof pad); if (n == 0) return pad[3]; return depth(n - 1) + pad[n % 512] % 3; }
int main(void) { char big[1 << 20]; memset(big, 1, sizeof big); printf("%ld %d\n", depth(10000), big[99999]); return 0; }

/* A syscall-heavy glibc program: 200,000 formatted lines to stdout
 * (line-buffered on a terminal, 4 KiB writes into a pipe or file). */
#include <stdio.h>
int main(void) {
    double x = 0.5;
    for (int i = 0; i < 200000; i++) {
        x = x * 1.000001 + 0.25;
        printf("line %d: %.6f %s\n", i, x, (i & 1) ? "odd" : "even");
    }
    return 0;
}

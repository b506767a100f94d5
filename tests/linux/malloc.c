#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    long sum = 0;
    char *blocks[200];
    for (int i = 0; i < 200; i++) { blocks[i] = malloc(16 + i * 97); memset(blocks[i], i, 16 + i * 97); }
    for (int i = 0; i < 200; i += 2) { free(blocks[i]); blocks[i] = NULL; }
    for (int i = 1; i < 200; i += 2) { blocks[i] = realloc(blocks[i], 5000 + i); sum += (unsigned char)blocks[i][3]; }
    char *big = malloc(4 << 20); memset(big, 7, 4 << 20); sum += big[12345];
    free(big);
    int *c = calloc(1000, sizeof(int)); for (int i = 0; i < 1000; i++) sum += c[i];
    printf("sum=%ld\n", sum);
    for (int i = 1; i < 200; i += 2) free(blocks[i]);
    free(c);
    return 0;
}

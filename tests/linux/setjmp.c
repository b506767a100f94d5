#include <stdio.h>
#include <setjmp.h>
static jmp_buf env;
static void deep(int n) { if (n == 0) longjmp(env, 7); deep(n - 1); }
int main(void) {
    volatile int count = 0;
    int r = setjmp(env);
    printf("setjmp returned %d\n", r);
    if (count++ < 3) deep(10 + count);
    printf("done %d\n", count);
    return 0;
}

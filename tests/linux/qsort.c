#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
static int scmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int main(void) {
    int v[1000]; unsigned s = 12345;
    for (int i = 0; i < 1000; i++) { s = s * 1103515245 + 12345; v[i] = (s >> 8) % 10000; }
    qsort(v, 1000, sizeof v[0], cmp);
    for (int i = 0; i < 1000; i += 100) printf("%d ", v[i]);
    printf("\n");
    const char *w[] = {"pear", "apple", "fig", "banana", "cherry"};
    qsort(w, 5, sizeof w[0], scmp);
    for (int i = 0; i < 5; i++) printf("%s\n", w[i]);
    int key = v[500]; int *hit = bsearch(&key, v, 1000, sizeof v[0], cmp);
    printf("found %d\n", hit ? *hit : -1);
    return 0;
}

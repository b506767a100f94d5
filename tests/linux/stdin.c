#include <stdio.h>
int main(void) {
    char line[256]; int lines = 0; long chars = 0;
    while (fgets(line, sizeof line, stdin)) { lines++; for (char *p = line; *p; p++) chars++; }
    int n; printf("lines=%d chars=%ld\n", lines, chars);
    return 0;
}

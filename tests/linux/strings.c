#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <stdlib.h>
int main(void) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s-%d-%x-%5.2f", "abc", 42, 255, 2.5);
    puts(buf);
    char copy[256]; strcpy(copy, buf); strcat(copy, "!");
    printf("%zu %d %s\n", strlen(copy), strcmp(buf, copy), strchr(copy, 'd'));
    char text[] = "the quick brown fox";
    for (char *t = strtok(text, " "); t; t = strtok(NULL, " ")) { for (char *p = t; *p; p++) *p = toupper(*p); printf("[%s]", t); }
    printf("\n%ld %lu\n", strtol("-1234", NULL, 10), strtoul("ff", NULL, 16));
    printf("%s\n", strstr("haystack with needle", "needle"));
    char *d = strdup("duplicate"); printf("%s %d\n", d, memcmp(d, "dup", 3)); free(d);
    return 0;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }
int main(void) {
    mkdir("d", 0755);
    const char *names[] = {"d/b", "d/a", "d/c"};
    for (int i = 0; i < 3; i++) { FILE *f = fopen(names[i], "w"); fputs(names[i], f); fclose(f); }
    DIR *dir = opendir("d"); if (!dir) { perror("opendir"); return 1; }
    char *seen[10]; int n = 0; struct dirent *e;
    while ((e = readdir(dir))) if (e->d_name[0] != '.') seen[n++] = strdup(e->d_name);
    closedir(dir);
    qsort(seen, n, sizeof seen[0], cmp);
    for (int i = 0; i < n; i++) printf("%s\n", seen[i]);
    char cwd[4096]; printf("cwd ends with: %d\n", getcwd(cwd, sizeof cwd) != NULL);
    chdir("d"); FILE *f = fopen("a", "r"); char b[8] = {0}; fread(b, 1, 3, f); fclose(f); printf("via chdir: %s\n", b);
    return 0;
}

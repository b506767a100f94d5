#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/stat.h>
int main(void) {
    FILE *f = fopen("out.txt", "w");
    if (!f) { perror("fopen"); return 1; }
    for (int i = 0; i < 100; i++) fprintf(f, "line %d %f\n", i, i / 3.0);
    fclose(f);
    f = fopen("out.txt", "r");
    fseek(f, 0, SEEK_END); long size = ftell(f); rewind(f);
    char line[100]; fgets(line, sizeof line, f);
    printf("size %ld first %s", size, line);
    fseek(f, -10, SEEK_END); size_t n = fread(line, 1, 9, f); line[n] = 0;
    printf("tail [%s]\n", line);
    fclose(f);
    struct stat st; if (stat("out.txt", &st) == 0) printf("stat size %lld reg %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    int fd = open("out.txt", O_RDONLY); char b[5]; pread(fd, b, 4, 5); b[4] = 0; printf("pread [%s] lseek %ld\n", b, (long)lseek(fd, 0, SEEK_CUR));
    int fd2 = dup(fd); printf("dup %d\n", fd2 > fd); close(fd); close(fd2);
    int w = open("moved-not-yet.txt", O_RDWR | O_CREAT, 0644);
    errno = 0; long r = pwrite(w, "x", 1, -1); printf("pwrite -1: %ld %s\n", r, strerror(errno));
    errno = 0; r = pread(w, b, 1, -1); printf("pread -1: %ld %s\n", r, strerror(errno));
    close(w); unlink("moved-not-yet.txt");
    if (rename("out.txt", "moved.txt") != 0) perror("rename");
    printf("access %d %d\n", access("moved.txt", R_OK), access("out.txt", F_OK));
    mkdir("sub", 0755); FILE *g = fopen("sub/x", "w"); fputs("x\n", g); fclose(g);
    unlink("sub/x"); printf("rmdir %d\n", rmdir("sub"));
    return 0;
}

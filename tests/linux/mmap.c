#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    size_t len = 1 << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    memset(p, 'x', len); printf("%c %d\n", p[len - 1], p[0] == 'x');
    printf("mprotect %d\n", mprotect(p, 4096, PROT_READ));
    printf("munmap %d\n", munmap(p, len));
    char *big = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    big[0] = 1; big[(1UL << 30) - 1] = 2; printf("1GiB %d\n", big[0] + big[(1UL << 30) - 1]);
    munmap(big, 1UL << 30);
    FILE *f = fopen("mapped.txt", "w"); fputs("file contents here\n", f); fclose(f);
    int fd = open("mapped.txt", O_RDONLY);
    char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) { perror("mmap file"); return 1; }
    printf("%.18s\n", m); close(fd); munmap(m, 4096);
    return 0;
}

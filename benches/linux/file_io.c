/* A syscall-heavy glibc program: 20,000 small unbuffered writes, seeks
 * and reads on a scratch file (one system call each). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int fd = open("bench_file_io.tmp", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    char buf[64];
    long sum = 0;
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "record %d\n", i);
        if (write(fd, buf, n) != n) return 2;
        if (i % 4 == 3) {
            lseek(fd, -n, SEEK_CUR);
            sum += read(fd, buf, n);
        }
    }
    close(fd);
    unlink("bench_file_io.tmp");
    printf("%ld\n", sum);
    return 0;
}

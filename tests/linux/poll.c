/* poll and select: a pipe becomes readable once written and hangs up once
   its writer closes, a regular file is always ready, a timeout with nothing
   ready returns 0, select as a sleep, a closed descriptor is POLLNVAL or
   EBADF, and a child's write wakes a parent blocked without a timeout. */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>

int main(void) {
    int p[2]; pipe(p);
    struct pollfd fds[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}};
    int n = poll(fds, 3, 0);
    printf("empty pipe: %d in=%#x out=%#x neg=%#x\n", n, fds[0].revents, fds[1].revents, fds[2].revents);
    write(p[1], "x", 1);
    n = poll(fds, 2, 100);
    printf("written: %d in=%#x\n", n, fds[0].revents);
    char c; read(p[0], &c, 1);
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    n = poll(fds, 1, 50);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("timeout: %d waited>=50ms %d\n", n, ms >= 50);
    close(p[1]);
    n = poll(fds, 1, -1);
    printf("writer closed: %d in=%#x\n", n, fds[0].revents);
    close(p[0]);
    struct pollfd bad = {p[0], POLLIN, 0};
    n = poll(&bad, 1, 0); printf("closed fd: %d revents=%#x\n", n, bad.revents);
    FILE *f = fopen("f.txt", "w"); fputs("data\n", f); fclose(f);
    int fd = open("f.txt", O_RDONLY);
    fd_set r, w; FD_ZERO(&r); FD_ZERO(&w); FD_SET(fd, &r); FD_SET(1, &w);
    struct timeval tv = {0, 0};
    n = select(fd + 1, &r, &w, NULL, &tv);
    printf("select file+stdout: %d r=%d w=%d\n", n, FD_ISSET(fd, &r), FD_ISSET(1, &w));
    close(fd); unlink("f.txt");
    FD_ZERO(&r); FD_SET(fd, &r); errno = 0;
    n = select(fd + 1, &r, NULL, NULL, &tv); printf("select closed: %d %s\n", n, strerror(errno));
    tv.tv_sec = 0; tv.tv_usec = 20000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = select(0, NULL, NULL, NULL, &tv);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("select sleep: %d waited>=20ms %d\n", n, ms >= 20);
    pipe(p);
    fflush(stdout);
    if (fork() == 0) { close(p[0]); usleep(10000); write(p[1], "hi", 2); _exit(0); }
    close(p[1]);
    struct pollfd one = {p[0], POLLIN, 0};
    n = poll(&one, 1, -1);
    char buf[4] = {0}; read(p[0], buf, 2);
    printf("woken by child: %d in=%#x got %s\n", n, one.revents & POLLIN, buf);
    wait(NULL);
    return 0;
}

/* File attributes and links (truncate, chmod, utimensat, symlink, link,
   fchdir, fsync), getrusage, CPU affinity, prctl names, process groups
   and sessions: each result and errno, compared with qemu-riscv64. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <sys/wait.h>

static void check(const char *what, int r) { printf("%s: %d %s\n", what, r, r < 0 ? strerror(errno) : "ok"); }

int main(void) {
    FILE *f = fopen("a.txt", "w"); fputs("hello, world\n", f); fclose(f);
    struct stat st;
    check("truncate 5", truncate("a.txt", 5)); stat("a.txt", &st); printf("size %lld\n", (long long)st.st_size);
    int fd = open("a.txt", O_RDWR);
    check("ftruncate 100", ftruncate(fd, 100)); fstat(fd, &st); printf("size %lld\n", (long long)st.st_size);
    check("ftruncate -1", ftruncate(fd, -1));
    check("fsync", fsync(fd)); check("fdatasync", fdatasync(fd));
    check("fsync pipe", ({ int p[2]; pipe(p); int r = fsync(p[0]); close(p[0]); close(p[1]); r; }));
    check("fchmod 600", fchmod(fd, 0600)); fstat(fd, &st); printf("mode %o\n", st.st_mode & 0777);
    check("chmod 640", chmod("a.txt", 0640)); stat("a.txt", &st); printf("mode %o\n", st.st_mode & 0777);
    struct timespec ts[2] = {{1000000, 5}, {2000000, 7}};
    check("utimensat", utimensat(AT_FDCWD, "a.txt", ts, 0)); stat("a.txt", &st);
    printf("atime %ld mtime %ld.%09ld\n", (long)st.st_atime, (long)st.st_mtime, st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {3000000, 0}};
    check("futimens", futimens(fd, omit)); fstat(fd, &st); printf("atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
    check("utimensat bad nsec", utimensat(AT_FDCWD, "a.txt", (struct timespec[2]){{0, 2000000000}, {0, 0}}, 0));
    check("utimensat missing", utimensat(AT_FDCWD, "nope.txt", ts, 0));
    close(fd);
    check("symlink", symlink("a.txt", "s.txt"));
    char buf[64]; ssize_t n = readlink("s.txt", buf, sizeof buf); buf[n < 0 ? 0 : n] = 0; printf("readlink %s\n", buf);
    f = fopen("s.txt", "r"); printf("through link: %c\n", f ? fgetc(f) : '?'); if (f) fclose(f);
    check("link", link("a.txt", "h.txt")); stat("a.txt", &st); printf("nlink %d\n", (int)st.st_nlink);
    check("link exists", link("a.txt", "h.txt"));
    mkdir("d", 0755);
    check("link dir", link("d", "d2"));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    check("fchdir", fchdir(dfd)); printf("cwd %s\n", getcwd(buf, sizeof buf) ? strrchr(buf, '/') : "?");
    check("fchdir file", fchdir(0));
    chdir(".."); close(dfd);
    unlink("s.txt"); unlink("h.txt"); unlink("a.txt"); rmdir("d");
    sync();
    struct rusage ru; check("getrusage", getrusage(RUSAGE_SELF, &ru));
    check("getrusage bad", getrusage(7, &ru));
    cpu_set_t set; CPU_ZERO(&set);
    check("sched_getaffinity", sched_getaffinity(0, sizeof set, &set)); printf("cpu0 %d\n", CPU_ISSET(0, &set));
    check("prctl set name", prctl(PR_SET_NAME, "worker-thread-long-name"));
    char name[17] = {0}; check("prctl get name", prctl(PR_GET_NAME, name)); printf("name %s\n", name);
    check("prctl bad", prctl(9999, 0));
    printf("pgid==getpgid(0) %d sid!=pid %d\n", getpgrp() == getpgid(0), getsid(0) != getpid());
    check("setpgid self", setpgid(0, 0)); printf("pgid is pid %d\n", getpgid(0) == getpid());
    check("setsid as group leader", setsid());
    pid_t c = fork();
    if (c == 0) { int r = setsid(); printf("child setsid ok %d pgid==pid %d\n", r == getpid(), getpgid(0) == getpid()); fflush(stdout); _exit(0); }
    int status; waitpid(c, &status, 0);
    check("getpgid missing", getpgid(99999));
    return 0;
}

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        pid_t p = fork();
        if (p == 0) {
            if (i == 2) { pid_t q = fork(); if (q == 0) _exit(7); int st; waitpid(q, &st, 0); _exit(WEXITSTATUS(st) + 1); }
            _exit(i + 10);
        }
        int st; waitpid(p, &st, 0);
        printf("child %d exited %d\n", i, WEXITSTATUS(st));
    }
    pid_t p = fork();
    if (p == 0) { abort(); }
    int st; wait(&st); printf("signaled %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));
    int fds[2]; pipe(fds);
    if (fork() == 0) { close(fds[0]); write(fds[1], "through pipe\n", 13); _exit(0); }
    close(fds[1]); char buf[64]; ssize_t n = read(fds[0], buf, sizeof buf); wait(NULL);
    fwrite(buf, 1, n > 0 ? n : 0, stdout);
    return 0;
}

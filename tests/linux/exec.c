/* Not compared with qemu-riscv64, which cannot execve a RISC-V program
   without binfmt_misc: tests/linux.rs checks its output itself.
   execve: argv and envp reach the new program, close-on-exec descriptors
   close and the others stay, handlers are reset while ignored signals stay
   ignored, the pid stays, a failed execve returns its error; fork+exec+wait
   as system() does it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/stat.h>

static void on_usr1(int s) { (void)s; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child: argc %d argv[2] %s env %s\n", argc, argv[2], getenv("EXEC_VAR") ? getenv("EXEC_VAR") : "(none)");
        printf("child: fd 3 %s, fd 4 %s\n", fcntl(3, F_GETFD) < 0 ? "closed" : "open", fcntl(4, F_GETFD) < 0 ? "closed" : "open");
        struct sigaction sa; sigaction(SIGUSR1, NULL, &sa); printf("child: SIGUSR1 %s\n", sa.sa_handler == SIG_DFL ? "default" : "other");
        sigaction(SIGUSR2, NULL, &sa); printf("child: SIGUSR2 %s\n", sa.sa_handler == SIG_IGN ? "ignored" : "other");
        printf("child: same pid %d\n", atoi(argv[3]) == getpid());
        char buf[8] = {0}; lseek(4, 0, SEEK_SET); read(4, buf, 5); printf("child: read fd 4 [%s]\n", buf);
        return 7;
    }
    printf("parent: start\n"); fflush(stdout);
    char *bad[] = {"x", NULL};
    errno = 0; execve("./no-such-program", bad, NULL); printf("missing: %s\n", strerror(errno));
    FILE *t = fopen("text.txt", "w"); fputs("just text, no program\n", t); fclose(t); chmod("text.txt", 0755);
    errno = 0; execve("./text.txt", bad, NULL); printf("script: %s\n", strerror(errno));
    chmod("text.txt", 0644);
    errno = 0; execve("./text.txt", bad, NULL); printf("not executable: %s\n", strerror(errno));
    unlink("text.txt");
    pid_t pid = fork();
    if (pid == 0) {
        int a = open("a.txt", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int b = open("b.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
        write(b, "hello", 5);
        if (a != 3 || b != 4) { printf("fds %d %d\n", a, b); _exit(1); }
        signal(SIGUSR1, on_usr1); signal(SIGUSR2, SIG_IGN);
        char me[16]; snprintf(me, sizeof me, "%d", getpid());
        char *args[] = {argv[0], "child", "second", me, NULL};
        char *env[] = {"EXEC_VAR=passed", NULL};
        execve(argv[0], args, env);
        printf("execve failed: %s\n", strerror(errno));
        _exit(99);
    }
    int status; waitpid(pid, &status, 0);
    printf("parent: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    unlink("a.txt"); unlink("b.txt");
    return 0;
}

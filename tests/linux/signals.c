#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void handler(int sig) { got = sig; }
static void info_handler(int sig, siginfo_t *si, void *ctx) { got = sig + 100 * (si->si_signo == sig); }
int main(void) {
    signal(SIGUSR1, handler);
    raise(SIGUSR1); printf("got %d\n", got);
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = info_handler; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    kill(getpid(), SIGUSR2); printf("got %d\n", got);
    sigset_t set; sigemptyset(&set); sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL); got = 0; raise(SIGUSR1); printf("blocked got %d\n", got);
    sigprocmask(SIG_UNBLOCK, &set, NULL); printf("unblocked got %d\n", got);
    signal(SIGUSR1, SIG_IGN); raise(SIGUSR1); printf("ignored\n");
    return 0;
}

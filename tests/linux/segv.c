#include <stdio.h>
#include <signal.h>
#include <setjmp.h>
#include <string.h>
static sigjmp_buf env;
static void on_segv(int sig, siginfo_t *si, void *ctx) { siglongjmp(env, (int)(long)si->si_addr); }
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = on_segv; sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    int r = sigsetjmp(env, 1);
    if (r == 0) { *(volatile int *)0x40 = 1; printf("not reached\n"); }
    printf("caught SIGSEGV at %#x\n", r);
    signal(SIGSEGV, SIG_DFL);
    fflush(stdout);
    *(volatile int *)0x80 = 1;
    return 0;
}

#include <stdio.h>
#include <sys/utsname.h>
#include <sys/sysinfo.h>
#include <unistd.h>
int main(void) {
    struct utsname u; uname(&u); printf("%s %s\n", u.sysname, u.machine);
    struct sysinfo si; printf("sysinfo %d\n", sysinfo(&si) == 0 && si.totalram > 0);
    printf("uid %d gid %d\n", getuid() == geteuid(), getgid() == getegid());
    printf("pagesize %ld\n", sysconf(_SC_PAGESIZE));
    printf("pid ok %d\n", getpid() > 0 && getppid() >= 0);
    return 0;
}

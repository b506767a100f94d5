#include <stdio.h>
#include <time.h>
#include <sys/time.h>
#include <sys/times.h>
int main(void) {
    struct timespec a, b, r;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec req = {0, 20 * 1000 * 1000};
    nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept >= 20ms: %d\n", ms >= 20 && ms < 2000);
    struct timeval tv; gettimeofday(&tv, NULL);
    printf("after 2020: %d\n", tv.tv_sec > 1577836800);
    time_t t = time(NULL); printf("time ok: %d\n", t > 1577836800);
    clock_getres(CLOCK_REALTIME, &r); printf("res ok: %d\n", r.tv_sec == 0 && r.tv_nsec > 0);
    struct tm tm; gmtime_r(&(time_t){86400 * 365}, &tm); char buf[64]; strftime(buf, sizeof buf, "%Y-%m-%d", &tm); printf("%s\n", buf);
    clock_t c = clock(); printf("clock ok: %d\n", c >= 0);
    return 0;
}

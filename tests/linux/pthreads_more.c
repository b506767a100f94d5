#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#define N 6
static __thread int local = 5;
static pthread_barrier_t barrier;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER, nonfull = PTHREAD_COND_INITIALIZER;
static int queue[4], head, count, produced_sum, consumed_sum;
static void *producer(void *arg) {
    for (int i = 1; i <= 200; i++) {
        pthread_mutex_lock(&m);
        while (count == 4) pthread_cond_wait(&nonfull, &m);
        queue[(head + count++) % 4] = i; produced_sum += i;
        pthread_cond_signal(&nonempty);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}
static void *consumer(void *arg) {
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&m);
        while (count == 0) pthread_cond_wait(&nonempty, &m);
        consumed_sum += queue[head]; head = (head + 1) % 4; count--;
        pthread_cond_signal(&nonfull);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}
static void *worker(void *arg) {
    long id = (long)arg;
    local += id;
    pthread_barrier_wait(&barrier);
    char *buf = malloc(1000 + id * 100); memset(buf, 'a' + id, 10); buf[10] = 0;
    int same_pid = getpid() == (pid_t)syscall(SYS_getpid);
    int own_tid = syscall(SYS_gettid) != getpid();
    long r = local * 100 + (buf[3] - 'a') * 10 + same_pid + own_tid;
    free(buf);
    return (void *)r;
}
int main(void) {
    pthread_t t[N];
    pthread_barrier_init(&barrier, NULL, N);
    for (long i = 0; i < N; i++) if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) { perror("pthread_create"); return 1; }
    for (int i = 0; i < N; i++) { void *r; pthread_join(t[i], &r); printf("thread %d returned %ld\n", i, (long)r); }
    printf("main's local still %d\n", local);
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, NULL); pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL); pthread_join(c, NULL);
    printf("produced %d consumed %d\n", produced_sum, consumed_sum);
    pthread_attr_t attr; pthread_attr_init(&attr); pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t d; pthread_create(&d, &attr, producer, NULL);
    for (int i = 0; i < 200; i++) { pthread_mutex_lock(&m); while (count == 0) pthread_cond_wait(&nonempty, &m); head = (head + 1) % 4; count--; pthread_cond_signal(&nonfull); pthread_mutex_unlock(&m); }
    printf("detached done\n");
    return 0;
}

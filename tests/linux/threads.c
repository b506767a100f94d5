#include <stdio.h>
#include <pthread.h>
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter; static int ready;
static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 10000; i++) { pthread_mutex_lock(&lock); counter += id; pthread_mutex_unlock(&lock); }
    pthread_mutex_lock(&lock); ready++; pthread_cond_signal(&cond); pthread_mutex_unlock(&lock);
    return (void *)(id * 2);
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    pthread_mutex_lock(&lock); while (ready < 4) pthread_cond_wait(&cond, &lock); pthread_mutex_unlock(&lock);
    long total = 0;
    for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); total += (long)r; }
    printf("counter=%ld total=%ld\n", counter, total);
    return 0;
}

/* contention on an atomic counter and on a mutex (futex) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#define NT 4
static atomic_long counter;
static long locked;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static long iters = 100000;
static void *work(void *arg)
{
    pthread_mutex_lock(&mu);
    ready++;
    pthread_cond_broadcast(&cv);
    while (ready < NT) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    for (long i = 0; i < iters; i++) {
        atomic_fetch_add(&counter, 1);
        pthread_mutex_lock(&mu);
        locked++;
        pthread_mutex_unlock(&mu);
    }
    return (void *)(long)arg;
}
int main(int argc, char **argv)
{
    if (argc > 1) iters = atol(argv[1]);
    pthread_t t[NT];
    for (long i = 0; i < NT; i++) pthread_create(&t[i], NULL, work, (void *)i);
    long s = 0;
    for (int i = 0; i < NT; i++) { void *r; pthread_join(t[i], &r); s += (long)r; }
    printf("atomic=%ld locked=%ld joined=%ld\n", (long)counter, locked, s);
    return counter == NT * iters && locked == NT * iters ? 0 : 1;
}

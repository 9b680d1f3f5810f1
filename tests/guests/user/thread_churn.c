/* thread churn: 400 short-lived threads created and joined in rounds */
#include <pthread.h>
#include <stdio.h>
static void *f(void *a) { return (void *)((long)a * 2); }
int main(void) {
    long sum = 0;
    for (int r = 0; r < 50; r++) {
        pthread_t t[8];
        for (long i = 0; i < 8; i++) pthread_create(&t[i], 0, f, (void *)i);
        for (int i = 0; i < 8; i++) { void *v; pthread_join(t[i], &v); sum += (long)v; }
    }
    printf("sum=%ld\n", sum);
    return 0;
}

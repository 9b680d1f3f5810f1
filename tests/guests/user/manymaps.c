/* 20000 small mmaps, half unmapped, holes reused: correctness and no quadratic search */
#include <stdio.h>
#include <sys/mman.h>
int main(void) {
    static void *p[20000];
    for (int i = 0; i < 20000; i++) { p[i] = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); *(int*)p[i] = i; }
    long s = 0;
    for (int i = 0; i < 20000; i += 2) munmap(p[i], 4096);
    for (int i = 0; i < 10000; i++) { void *q = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); s += q != MAP_FAILED; }
    for (int i = 1; i < 20000; i += 2) s += *(int*)p[i] == i;
    printf("%ld\n", s);
    return 0;
}

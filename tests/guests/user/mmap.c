#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void)
{
    size_t n = 16 << 20;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(i >> 12);
    for (size_t i = 0; i < n; i += 4096) sum += p[i];
    printf("sum=%lu\n", sum);
    p = mremap(p, n, 2 * n, MREMAP_MAYMOVE);
    printf("mremap kept=%d\n", p != MAP_FAILED && p[4096 * 5] == 5);
    printf("mprotect=%d\n", mprotect(p, 4096, PROT_READ));
    printf("munmap=%d\n", munmap(p, 2 * n));
    char *b = malloc(1 << 20);            /* brk or mmap through malloc */
    memset(b, 1, 1 << 20);
    void *s0 = sbrk(0);
    printf("brk grows=%d\n", sbrk(1 << 16) == s0 && sbrk(0) == (char *)s0 + (1 << 16));
    free(b);
    return 0;
}

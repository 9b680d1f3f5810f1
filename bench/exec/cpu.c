/* CPU-bound C kernels for bench/exec: sieve, CRC-32, double matrix
 * multiply, qsort, string hashing. Prints checksums (vessel and qemu must
 * agree). Usage: cpu [SCALE] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    /* sieve */
    int n = 2000000 * scale, primes = 0;
    char *s = calloc(n + 1, 1);
    for (int i = 2; i <= n; i++)
        if (!s[i]) {
            primes++;
            for (long j = (long)i * i; j <= n; j += i)
                s[j] = 1;
        }
    printf("primes <= %d: %d\n", n, primes);
    /* crc32 (bitwise) */
    uint32_t crc = ~0u;
    for (int r = 0; r < scale; r++)
        for (int i = 0; i < n / 4; i++) {
            crc ^= (uint8_t)(s[i] + i);
            for (int k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
        }
    printf("crc %08x\n", ~crc);
    free(s);
    /* matrix multiply */
    int m = 120;
    double *a = malloc(sizeof(double) * m * m), *b = malloc(sizeof(double) * m * m), *c = calloc(m * m, sizeof(double));
    for (int i = 0; i < m * m; i++) {
        a[i] = (i % 17) / 7.0 - 1.1;
        b[i] = (i % 13) / 3.0 + 0.25;
    }
    for (int r = 0; r < scale; r++)
        for (int i = 0; i < m; i++)
            for (int k = 0; k < m; k++)
                for (int j = 0; j < m; j++)
                    c[i * m + j] += a[i * m + k] * b[k * m + j];
    double tr = 0;
    for (int i = 0; i < m; i++)
        tr += c[i * m + i];
    printf("trace %.17g\n", tr);
    /* qsort */
    int q = 300000 * scale;
    uint32_t *v = malloc(sizeof(uint32_t) * q), x = 1;
    for (int i = 0; i < q; i++)
        v[i] = x = x * 1664525u + 1013904223u;
    qsort(v, q, sizeof *v, cmp);
    printf("sorted %u %u %u\n", v[0], v[q / 2], v[q - 1]);
    /* string hashing */
    char buf[64];
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < 200000 * scale; i++) {
        int l = snprintf(buf, sizeof buf, "key-%d-%x", i, i * 2654435761u);
        for (int k = 0; k < l; k++)
            h = (h ^ (uint8_t)buf[k]) * 1099511628211ull;
    }
    printf("fnv %016llx\n", (unsigned long long)h);
    return 0;
}

/* iobench: tiny static block I/O benchmark run inside the guest.
 *   iobench DEV MODE BS COUNT     MODE: seqr seqw randr randw
 * O_DIRECT I/O of COUNT blocks of BS bytes over the first COUNT*BS bytes of
 * DEV (random offsets drawn from a fixed-seed generator); prints
 * "MODE MB/s IOPS" measured with CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: iobench DEV seqr|seqw|randr|randw BS COUNT\n");
        return 2;
    }
    const char *mode = argv[2];
    long bs = atol(argv[3]), count = atol(argv[4]);
    int wr = mode[strlen(mode) - 1] == 'w', rnd = mode[0] == 'r';
    int fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0 || bs <= 0 || count <= 0) {
        perror(argv[1]);
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, bs))
        return 1;
    memset(buf, 0x5a, bs);
    unsigned long long x = 88172645463325252ULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < count; i++) {
        long blk = i;
        if (rnd) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            blk = (long)(x % (unsigned long long)count);
        }
        ssize_t n = wr ? pwrite(fd, buf, bs, (off_t)blk * bs) : pread(fd, buf, bs, (off_t)blk * bs);
        if (n != bs) {
            perror("io");
            return 1;
        }
    }
    if (wr)
        fdatasync(fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s %.2f %.0f\n", mode, (double)bs * count / s / 1e6, count / s);
    return 0;
}

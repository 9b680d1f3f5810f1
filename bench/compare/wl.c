/* bench/compare/wl.c: the comparison's workloads, one source built for
 * x86-64 and riscv64 (static). Each workload times itself with
 * CLOCK_MONOTONIC, so a VM's or a runtime's start-up is not in its figure
 * (start-up has its own workload, timed from outside).
 *
 *   wl KIND SIZE      KIND: int fp mem syscall proc file tcp hello all
 *                     SIZE: work units (1 = the smallest; linear in work)
 *
 * One line per workload on stdout: "wl KIND VALUE UNIT" where UNIT is ms
 * (int, fp: milliseconds per unit of work, so that figures of different
 * SIZEs compare; lower is better), MB/s (higher is better) or us
 * (microseconds per operation: lower is better). `hello` prints
 * "wl hello" and exits: the start-up figure is the time to that line.
 * A failure prints "wl KIND error: WHY" on stdout and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *kind, const char *what)
{
    printf("wl %s error: %s: %s\n", kind, what, strerror(errno));
    fflush(stdout);
    return -1;
}

/* integer: xorshift64 state mixed by multiply, shift and a table lookup;
 * a unit is 2 million iterations */
static int wl_int(unsigned size)
{
    uint64_t x = 88172645463325252ull, acc = 0;
    uint32_t tab[256];
    for (unsigned i = 0; i < 256; i++)
        tab[i] = i * 2654435761u;
    double t0 = now();
    for (uint64_t i = 0; i < (uint64_t)size * 2000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc += (x * 0x9E3779B97F4A7C15ull) >> 32;
        acc ^= tab[acc & 255];
    }
    double t = now() - t0;
    printf("wl int %.4f ms %llx\n", t * 1e3 / size, (unsigned long long)(acc & 0xffff));
    return 0;
}

/* floating point: an n-body-like inner loop on doubles (mul, add, div,
 * sqrt); a unit is 3000 steps of 16 bodies */
static int wl_fp(unsigned size)
{
    double px[16], py[16], vx[16] = { 0 }, vy[16] = { 0 };
    for (int i = 0; i < 16; i++) {
        px[i] = (i % 4) * 1.5 + 0.25 * i;
        py[i] = (i / 4) * 1.5 - 0.125 * i;
    }
    double t0 = now();
    for (unsigned step = 0; step < size * 3000; step++) {
        for (int i = 0; i < 16; i++)
            for (int j = i + 1; j < 16; j++) {
                double dx = px[j] - px[i], dy = py[j] - py[i];
                double d2 = dx * dx + dy * dy + 0.01;
                double f = 1e-4 / (d2 * __builtin_sqrt(d2));
                vx[i] += dx * f; vy[i] += dy * f;
                vx[j] -= dx * f; vy[j] -= dy * f;
            }
        for (int i = 0; i < 16; i++) {
            px[i] += vx[i] * 0.01;
            py[i] += vy[i] * 0.01;
        }
    }
    double t = now() - t0;
    printf("wl fp %.4f ms %.3f\n", t * 1e3 / size, px[0] + py[15]);
    return 0;
}

/* memory bandwidth: memcpy between two 16 MiB buffers (beyond the caches) */
static int wl_mem(unsigned size)
{
    const size_t len = 16u << 20;
    char *a = malloc(len), *b = malloc(len);
    if (!a || !b)
        return fail("mem", "malloc 16 MiB");
    memset(a, 1, len);
    memset(b, 2, len);
    unsigned rounds = size * 4;
    double t0 = now();
    for (unsigned i = 0; i < rounds; i++) {
        memcpy(i & 1 ? a : b, i & 1 ? b : a, len);
        __asm__ volatile("" ::: "memory");
    }
    double t = now() - t0;
    printf("wl mem %.1f MB/s\n", (double)rounds * len / 1e6 / t);
    free(a);
    free(b);
    return 0;
}

/* system calls: getppid through syscall(2), so no library cache answers it */
static int wl_syscall(unsigned size)
{
    unsigned n = size * 20000;
    long sum = 0;
    double t0 = now();
    for (unsigned i = 0; i < n; i++)
        sum += syscall(SYS_getppid);
    double t = now() - t0;
    printf("wl syscall %.4f us %ld\n", t / n * 1e6, sum > 0 ? 1L : 0L);
    return 0;
}

/* process creation: fork, the child exits at once, the parent waits */
static int wl_proc(unsigned size)
{
    unsigned n = size * 10;
    double t0 = now();
    for (unsigned i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0)
            return fail("proc", "fork");
        if (p == 0)
            _exit(7);
        int st;
        if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
            return fail("proc", "waitpid");
    }
    double t = now() - t0;
    printf("wl proc %.2f us\n", t / n * 1e6);
    return 0;
}

/* file: write SIZE MiB in 64 KiB blocks, fsync, read it back, in the
 * current directory (a VM's virtio disk, a container's rootfs) */
static int wl_file(unsigned size)
{
    static const char path[] = "wl-file.tmp";
    const size_t blk = 64 << 10;
    size_t total = (size_t)size << 20;
    char *buf = malloc(blk);
    if (!buf)
        return fail("file", "malloc");
    memset(buf, 0x5a, blk);
    double t0 = now();
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0)
        return fail("file", "open wl-file.tmp");
    for (size_t done = 0; done < total; done += blk)
        if (write(fd, buf, blk) != (ssize_t)blk)
            return fail("file", "write");
    if (fsync(fd) < 0)
        return fail("file", "fsync");
    if (lseek(fd, 0, SEEK_SET) != 0)
        return fail("file", "lseek");
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf, blk)) > 0)
        got += (size_t)r;
    close(fd);
    unlink(path);
    double t = now() - t0;
    free(buf);
    if (got != total) {
        errno = EIO;
        return fail("file", "short read");
    }
    printf("wl file %.1f MB/s\n", 2.0 * (double)total / 1e6 / t);
    return 0;
}

/* TCP over loopback: a child sends SIZE*4 MiB to the parent through 127.0.0.1 */
static int wl_tcp(unsigned size)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0)
        return fail("tcp", "socket");
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
        return fail("tcp", "bind/listen on 127.0.0.1");
    size_t total = (size_t)size << 22;
    static char buf[64 << 10];
    double t0 = now();
    pid_t p = fork();
    if (p < 0)
        return fail("tcp", "fork");
    if (p == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            _exit(2);
        memset(buf, 'x', sizeof(buf));
        for (size_t done = 0; done < total;) {
            ssize_t w = write(s, buf, sizeof(buf));
            if (w <= 0)
                _exit(3);
            done += (size_t)w;
        }
        close(s);
        _exit(0);
    }
    int c = accept(ls, NULL, NULL);
    if (c < 0)
        return fail("tcp", "accept");
    size_t got = 0;
    ssize_t r;
    while ((r = read(c, buf, sizeof(buf))) > 0)
        got += (size_t)r;
    double t = now() - t0;
    close(c);
    close(ls);
    int st;
    waitpid(p, &st, 0);
    if (got != total || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        errno = EPIPE;
        return fail("tcp", "sender failed or short transfer");
    }
    printf("wl tcp %.1f MB/s\n", (double)total / 1e6 / t);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(unsigned size);
} workloads[] = {
    { "int", wl_int }, { "fp", wl_fp }, { "mem", wl_mem }, { "syscall", wl_syscall },
    { "proc", wl_proc }, { "file", wl_file }, { "tcp", wl_tcp },
};
#define N_WL (sizeof(workloads) / sizeof(workloads[0]))

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "hello")) {
        puts("wl hello");
        return 0;
    }
    char *end = NULL;
    unsigned long size = argc == 3 ? strtoul(argv[2], &end, 10) : 0;
    if (argc != 3 || !end || *end || size < 1 || size > 100000) {
        fprintf(stderr, "usage: wl int|fp|mem|syscall|proc|file|tcp|all|hello SIZE (1..100000)\n");
        return 2;
    }
    int bad = 0, found = 0;
    for (size_t i = 0; i < N_WL; i++)
        if (!strcmp(argv[1], "all") || !strcmp(argv[1], workloads[i].name)) {
            found = 1;
            bad |= workloads[i].fn((unsigned)size) < 0;
        }
    if (!found) {
        fprintf(stderr, "wl: unknown workload '%s'\n", argv[1]);
        return 2;
    }
    return bad;
}

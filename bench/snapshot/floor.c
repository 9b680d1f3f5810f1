/* bench/snapshot/floor.c: the floor under vessel's restore time. A program
 * that does nothing but what every dynamically linked C program does
 * before main (the kernel's exec, ld.so mapping and relocating libc and
 * libm, as for vessel), then prints the stamps vessel prints
 * (bench_since_exec: "main" and, at once, "vCPUs running") and a "tick"
 * line, and waits to be killed. bench/snapshot/restore-floor.sh runs it
 * beside vessel's restore in the same alternating run of restore.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void stamp(const char *what, double t0)
{
    struct timespec ts;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "vessel: bench: %s %.3f ms after exec (%ld page faults)\n", what,
            ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - t0) / 1e6, ru.ru_minflt + ru.ru_majflt);
}

int main(int argc, char **argv)
{
    (void)argv;
    const char *t0s = getenv("VESSEL_BENCH_T0");
    double t0 = t0s ? strtod(t0s, NULL) : 0;
    if (t0s) {
        stamp("main", t0);
        stamp("vCPUs running", t0);
    }
    /* a libm call the compiler cannot fold, so that libm stays linked */
    printf("tick %g\n", sqrt((double)argc + 0.5));
    fflush(stdout);
    for (;;)
        pause();
}

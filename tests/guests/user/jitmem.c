/* Memory accesses from hot (translated) code: faults become the right
 * SIGSEGV (si_code, si_addr) at the faulting access, and code written by
 * the program (stores, read()) runs as written. Addresses are printed
 * relative to the access, as the two emulators place mappings apart; those
 * of accesses outside the address space only with an argument (qemu-riscv64
 * reports 0 there, Linux on RISC-V the address: stval). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got, code;
static volatile uintptr_t addr;
static int show_wild;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got = sig;
    code = si->si_code;
    addr = (uintptr_t)si->si_addr;
    siglongjmp(jb, 1);
}

__attribute__((noinline)) static uint64_t load8(volatile uint64_t *p) { return *p; }
__attribute__((noinline)) static uint32_t load4(volatile uint32_t *p) { return *p; }
__attribute__((noinline)) static uint8_t load1(volatile uint8_t *p) { return *p; }
/* a base register inside the space, the offset taking it out */
__attribute__((noinline)) static uint64_t load_m16(uintptr_t b)
{
    uint64_t v;
    __asm__ volatile("ld %0, -16(%1)" : "=r"(v) : "r"(b) : "memory");
    return v;
}
__attribute__((noinline)) static uint64_t load_p2040(uintptr_t b)
{
    uint64_t v;
    __asm__ volatile("ld %0, 2040(%1)" : "=r"(v) : "r"(b) : "memory");
    return v;
}
__attribute__((noinline)) static void store8(volatile uint64_t *p, uint64_t v) { *p = v; }
__attribute__((noinline)) static void store2(volatile uint16_t *p, uint16_t v) { *p = v; }

/* warm the accessors up on good memory so that they are translated */
static uint64_t warm(uint8_t *good)
{
    uint64_t s = 0;
    for (int i = 0; i < 2000; i++) {
        store8((volatile uint64_t *)(good + 8 * (i % 64)), (uint64_t)i);
        store2((volatile uint16_t *)(good + 2 * (i % 64)), (uint16_t)i);
        s += load8((volatile uint64_t *)(good + 8 * (i % 64)));
        s += load4((volatile uint32_t *)(good + 4 * (i % 64)));
        s += load1(good + (i % 64));
        s += load_m16((uintptr_t)(good + 16 + 8 * (i % 8)));
        s += load_p2040((uintptr_t)(good + 8 * (i % 8)));
    }
    return s;
}

enum { L8, L4, L1, S8, S2, LM16, LP2040 };
static void try(const char *what, int kind, uintptr_t a)
{
    got = 0;
    if (!sigsetjmp(jb, 1)) {
        uint64_t v = 0;
        switch (kind) {
        case L8: v = load8((volatile uint64_t *)a); break;
        case L4: v = load4((volatile uint32_t *)a); break;
        case L1: v = load1((volatile uint8_t *)a); break;
        case S8: store8((volatile uint64_t *)a, 7); break;
        case S2: store2((volatile uint16_t *)a, 7); break;
        case LM16: v = load_m16(a + 16); break;
        case LP2040: v = load_p2040(a - 2040); break;
        }
        printf("%s: no fault (%llu)\n", what, (unsigned long long)v);
    } else if (strstr(what, "wild") && !show_wild) {
        printf("%s: sig=%d code=%d\n", what, got, code);
    } else {
        printf("%s: sig=%d code=%d addr=access%+ld\n", what, got, code, (long)(addr - a));
    }
}

typedef long (*fn_t)(void);

/* addi a0, zero, n; ret */
static void put_fn(uint32_t *p, int n)
{
    p[0] = 0x00000513u | ((uint32_t)n & 0xfff) << 20;
    p[1] = 0x00008067u;
}

int main(int argc, char **argv)
{
    (void)argv;
    show_wild = argc > 1;
    struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    uint8_t *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    munmap(m + 1 * 4096, 4096);                 /* a hole */
    mprotect(m + 2 * 4096, 4096, PROT_READ);    /* read-only */
    mprotect(m + 3 * 4096, 4096, PROT_NONE);    /* no access */
    printf("warm %llu\n", (unsigned long long)warm(m));
    for (int round = 0; round < 3; round++) {
        printf("round %d\n", round);
        try("load8 unmapped", L8, (uintptr_t)(m + 4096 + 16));
        try("load4 PROT_NONE", L4, (uintptr_t)(m + 3 * 4096 + 100));
        try("load1 NULL+8", L1, 8);
        try("load8 wild 0xdead000000000000", L8, 0xdead000000000000ull);
        try("load8 wild 1<<40", L8, 1ull << 40);
        try("load8 wild -8", L8, (uintptr_t)-8);
        try("load8 wild 8-16", LM16, (uintptr_t)-8);
        try("load8 wild (1<<47)-8+2040", LP2040, (1ull << 47) - 8 + 2040);
        try("load8 across into the hole", L8, (uintptr_t)(m + 4096 - 4));
        try("load4 read-only page", L4, (uintptr_t)(m + 2 * 4096 + 8));
        try("store8 read-only page", S8, (uintptr_t)(m + 2 * 4096 + 8));
        try("store2 unmapped", S2, (uintptr_t)(m + 4096 + 2));
        try("store8 PROT_NONE", S8, (uintptr_t)(m + 3 * 4096));
        try("store8 wild 0x8000000000000000", S8, 0x8000000000000000ull);
        printf("still good %llu\n", (unsigned long long)warm(m));
    }

    /* code in a writable page: run hot, rewrite, run again */
    uint32_t *code_pg = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code_pg == MAP_FAILED)
        return 1;
    fn_t f = (fn_t)(void *)code_pg;
    volatile uint64_t *counter = (volatile uint64_t *)(code_pg + 512);   /* same page */
    for (int n = 1; n <= 5; n++) {
        put_fn(code_pg, n * 100);
        __builtin___clear_cache((char *)code_pg, (char *)(code_pg + 2));
        long s = 0;
        for (int i = 0; i < 300; i++) {
            s += f();
            *counter += 1;                      /* data stores beside the code */
        }
        printf("rewritten %d: sum %ld counter %llu\n", n, s, (unsigned long long)*counter);
    }
    /* read() into the page holding hot code */
    char path[] = "/tmp/jitmem-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    uint32_t fresh[2];
    put_fn(fresh, 777);
    if (write(fd, fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh))
        return 1;
    lseek(fd, 0, SEEK_SET);
    long n = read(fd, code_pg, sizeof(fresh));
    close(fd);
    unlink(path);
    __builtin___clear_cache((char *)code_pg, (char *)(code_pg + 2));
    long s = 0;
    for (int i = 0; i < 100; i++)
        s += f();
    printf("read %ld bytes over the code: sum %ld\n", n, s);

    /* a 32-bit instruction across two pages (addi a0, a0, 100 in the first
     * page's last 2 bytes and the second's first 2, then ret), hot, then
     * each half rewritten by a store (no fence.i: the emulators see stores
     * to code; vessel caches and translates such an instruction, so the
     * store to either page must drop it) */
    uint8_t *two = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED)
        return 1;
    long (*g)(long) = (long (*)(long))(void *)(two + 4094);
    uint32_t ins = 0x00050513u | 100u << 20, ret = 0x00008067u;   /* addi a0, a0, 100 */
    memcpy(two + 4094, &ins, 4);
    memcpy(two + 4098, &ret, 4);
    __builtin___clear_cache((char *)two + 4094, (char *)two + 4102);
    for (int round = 0; round < 3; round++) {
        if (round == 1) {
            ins = 0x00050513u | 200u << 20;                        /* addi a0, a0, 200 */
            memcpy(two + 4096, (uint8_t *)&ins + 2, 2);            /* the second page's half */
        } else if (round == 2) {
            ins = 0x00054513u | 200u << 20;                        /* xori a0, a0, 200 */
            memcpy(two + 4094, &ins, 2);                           /* the first page's half */
        }
        long t = 0;
        for (int i = 0; i < 300; i++)
            t += g(1000 + i);
        printf("across pages, round %d: sum %ld\n", round, t);
    }
    return 0;
}

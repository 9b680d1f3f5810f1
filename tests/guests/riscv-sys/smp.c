/* Two harts (run with -smp 2 / --smp 2): hart 0 wakes hart 1 with an IPI
 * (CLINT MSIP of hart 1); both then hammer shared memory with amoadd.d,
 * LR/SC loops and a spinlock (amoswap.w.aq / amoswap.w.rl) around a plain
 * increment, and each takes an interrupt of its own mtimecmp. Every update
 * must be there at the end: AMOs and LR/SC are atomic across harts. */
#include "sys.h"

const char test_name[] = "smp";

#define N 200000
#define CLINT_MTIMECMP_OF(h) (CLINT_MTIMECMP + 8ull * (h))

static volatile uint64_t amo_count, lrsc_count, locked_count, sc_failures[2];
static volatile uint32_t lock;
static volatile uint64_t arrived, finished, hart1_id = ~0ull, timer_hart[2];

static void spin_lock(void)
{
    uint32_t one = 1, old;
    do {
        __asm__ volatile("amoswap.w.aq %0, %1, (%2)" : "=r"(old) : "r"(one), "r"(&lock) : "memory");
    } while (old);
}
static void spin_unlock(void)
{
    __asm__ volatile("amoswap.w.rl zero, zero, (%0)" :: "r"(&lock) : "memory");
}

static void lrsc_inc(volatile uint64_t *p, unsigned hart)
{
    uint64_t v, fail;
    for (;;) {
        __asm__ volatile("lr.d.aq %0, (%2)\n addi %0, %0, 1\n sc.d.rl %1, %0, (%2)"
                         : "=&r"(v), "=&r"(fail) : "r"(p) : "memory");
        if (!fail) return;
        sc_failures[hart]++;
    }
}

static void hook(uint64_t cause, int level)
{
    unsigned h = (unsigned)CSR_READ(mhartid);
    (void)level;
    if (cause != (CAUSE_IRQ | IRQ_MTI) || h > 1)
        check_fail(__LINE__, "unexpected interrupt", cause, CAUSE_IRQ | IRQ_MTI);
    mmio_write64(CLINT_MTIMECMP_OF(h), ~0ull);
    timer_hart[h]++;
}

/* each hart: its own timer interrupt, then the shared-memory work */
static void work(unsigned hart)
{
    uint64_t t0 = mtime();
    unsigned i;

    mmio_write64(CLINT_MTIMECMP_OF(hart), t0 + 5000);
    CSR_WRITE(mie, 1u << IRQ_MTI);
    CSR_SET(mstatus, MS_MIE);
    while (!timer_hart[hart] && mtime() - t0 < 10000000) ;
    CSR_CLEAR(mstatus, MS_MIE);
    CSR_WRITE(mie, 0);

    __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < 2 && mtime() - t0 < 50000000) ;
    for (i = 0; i < N; i++) {
        __asm__ volatile("amoadd.d zero, %0, (%1)" :: "r"(1ull), "r"(&amo_count) : "memory");
        lrsc_inc(&lrsc_count, hart);
        spin_lock();
        locked_count = locked_count + 1;
        spin_unlock();
    }
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
}

void secondary_main(unsigned hartid)
{
    hart1_id = CSR_READ(mhartid);
    if (hartid == 1)
        work(1);
}

int main(void)
{
    uint64_t t0;

    irq_hook = hook;
    CHECK_EQ(CSR_READ(mhartid), 0);
    CHECK_EQ(mmio_read32(CLINT_MSIP + 4), 0);
    mmio_write32(CLINT_MSIP + 4, 1);                 /* IPI: wake hart 1 */
    work(0);
    t0 = mtime();
    while (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) < 2 && mtime() - t0 < 100000000) ;
    CHECK_EQ(hart1_id, 1);                           /* hart 1 ran, and knows who it is */
    CHECK_EQ(arrived, 2);
    CHECK_EQ(finished, 2);
    CHECK_EQ(timer_hart[0], 1);                      /* each hart got its own timer */
    CHECK_EQ(timer_hart[1], 1);
    CHECK_EQ(mmio_read32(CLINT_MSIP + 4), 0);        /* hart 1 cleared its MSIP */
    CHECK_EQ(amo_count, 2 * N);
    CHECK_EQ(lrsc_count, 2 * N);
    CHECK_EQ(locked_count, 2 * N);
    printf_("riscv-sys smp: sc.d failures %d + %d\n", sc_failures[0], sc_failures[1]);
    return 0;
}

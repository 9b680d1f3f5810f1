/* Timers: mtime/time, the CLINT mtimecmp interrupt in M (and while U runs
 * with mstatus.MIE = 0), MTIP read-only in mip, WFI woken by the timer with
 * interrupts globally off and on (and that it parks rather than spins),
 * and Sstc: menvcfg.STCE, stimecmp (CSR 0x14d) driving mip.STIP, an S timer
 * interrupt delegated to S (from S and from U), and stimecmp illegal in S
 * without STCE or mcounteren.TM. */
#include "sys.h"

const char test_name[] = "timer";

#define MENVCFG_STCE (1ull << 63)
#define STIMECMP_R() ({ uint64_t v_; __asm__ volatile("csrr %0, 0x14d" : "=r"(v_) :: "memory"); v_; })
#define STIMECMP_W(v) __asm__ volatile("csrw 0x14d, %0" :: "r"((uint64_t)(v)) : "memory")
#define MENVCFG_R() ({ uint64_t v_; __asm__ volatile("csrr %0, 0x30a" : "=r"(v_) :: "memory"); v_; })
#define MENVCFG_W(v) __asm__ volatile("csrw 0x30a, %0" :: "r"((uint64_t)(v)) : "memory")
#define TICKS_1S 10000000ull

static volatile uint64_t fired_at, flag;

static void hook(uint64_t cause, int level)
{
    (void)level;
    fired_at = mtime();
    flag = 1;
    if (cause == (CAUSE_IRQ | IRQ_MTI)) set_mtimecmp(~0ull);
    else if (cause == (CAUSE_IRQ | IRQ_STI)) STIMECMP_W(~0ull);
    else check_fail(__LINE__, "unexpected interrupt", cause, 0);
}

/* spin (any mode, bare) until the hook ran or a second passed */
static uint64_t spin(uint64_t a)
{
    uint64_t t0 = mtime();
    (void)a;
    while (!flag && mtime() - t0 < TICKS_1S) ;
    return flag;
}

static void clock(void)
{
    uint64_t m0, t, m1, i;
    m0 = mtime();
    t = rdtime();
    m1 = mtime();
    CHECK(m0 <= t && t <= m1);               /* time CSR == CLINT mtime */
    for (i = 0; i < 100000 && mtime() == m1; i++) ;
    CHECK(mtime() > m1);                     /* it advances */
}

static void machine_timer(void)
{
    uint64_t cmp;

    irq_hook = hook;
    CSR_WRITE(mie, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    /* MTIP follows mtime >= mtimecmp; software cannot write it */
    set_mtimecmp(0);
    CHECK(CSR_READ(mip) & (1u << IRQ_MTI));
    set_mtimecmp(~0ull);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_MTI)));
    CSR_SET(mip, 1u << IRQ_MTI);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_MTI)));

    /* an interrupt 1 ms from now, taken in M */
    irq.count = 0; flag = 0;
    cmp = mtime() + 10000;
    set_mtimecmp(cmp);
    CSR_WRITE(mie, 1u << IRQ_MTI);
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(spin(0), 1);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(irq.count, 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_MTI);
    CHECK_EQ(irq.level, PRIV_M);
    CHECK(fired_at >= cmp);
    CHECK_EQ((irq.status & MS_MPP) >> MPP_SHIFT, PRIV_M);
    CHECK(irq.status & MS_MPIE);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_MTI)));

    /* while U runs, an M interrupt is taken even with mstatus.MIE = 0 */
    irq.count = 0; flag = 0;
    CSR_CLEAR(mstatus, MS_MPIE);            /* U runs with MIE = 0 */
    cmp = mtime() + 10000;
    set_mtimecmp(cmp);
    CHECK_EQ(run_in(PRIV_U, spin, 0, 0), 1);
    CHECK_EQ(irq.count, 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_MTI);
    CHECK_EQ((irq.status & MS_MPP) >> MPP_SHIFT, PRIV_U);
    /* ... and not in M with MIE = 0 */
    irq.count = 0;
    set_mtimecmp(0);
    CHECK(CSR_READ(mip) & (1u << IRQ_MTI));
    CHECK_EQ(irq.count, 0);
    set_mtimecmp(~0ull);
    CSR_WRITE(mie, 0);
}

static void wfi_wakeup(void)
{
    uint64_t cmp, n;

    /* MIE = 0: wfi returns once MTIP is pending and enabled in mie; no trap */
    irq.count = 0;
    CSR_CLEAR(mstatus, MS_MIE);
    CSR_WRITE(mie, 1u << IRQ_MTI);
    cmp = mtime() + 20000;                   /* 2 ms */
    set_mtimecmp(cmp);
    for (n = 0; n < 1000000 && !(CSR_READ(mip) & (1u << IRQ_MTI)); n++)
        __asm__ volatile("wfi");
    CHECK(mtime() >= cmp);
    CHECK(CSR_READ(mip) & (1u << IRQ_MTI));
    CHECK_EQ(irq.count, 0);
    /* wfi parked the hart: a handful of wake-ups, not a busy loop of 2 ms */
    CHECK(n <= 10);
    set_mtimecmp(~0ull);

    /* MIE = 1: the interrupt is taken right after the wfi */
    irq.count = 0; flag = 0;
    cmp = mtime() + 20000;
    set_mtimecmp(cmp);
    CSR_SET(mstatus, MS_MIE);
    for (n = 0; n < 1000000 && !flag; n++)
        __asm__ volatile("wfi");
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(irq.count, 1);
    CHECK(fired_at >= cmp);
    CHECK(n <= 10);
    CSR_WRITE(mie, 0);
}

static uint64_t s_read_stimecmp(uint64_t a) { (void)a; return STIMECMP_R(); }

/* S: arm stimecmp 1 ms ahead and spin (with SIE as given) */
static uint64_t s_timer(uint64_t sie)
{
    CSR_SET(sie, 1u << IRQ_STI);
    if (sie) CSR_SET(sstatus, MS_SIE);
    STIMECMP_W(rdtime() + 10000);
    spin(0);
    CSR_CLEAR(sstatus, MS_SIE);
    return flag;
}
/* S: arm stimecmp, drop to U (SIE = 0 in S does not mask S interrupts in U) */
static uint64_t s_timer_from_u(uint64_t a)
{
    (void)a;
    CSR_SET(sie, 1u << IRQ_STI);
    CSR_CLEAR(sstatus, MS_SIE | MS_SPIE | MS_SPP);
    STIMECMP_W(rdtime() + 10000);
    CSR_WRITE(sepc, (uint64_t)spin);
    __asm__ volatile("la ra, lower_return\n sret" ::: "ra", "memory");
    return 0;
}
/* S: wfi until STIP (SIE = 0) */
static uint64_t s_wfi(uint64_t a)
{
    uint64_t n;
    (void)a;
    CSR_SET(sie, 1u << IRQ_STI);
    CSR_CLEAR(sstatus, MS_SIE);
    STIMECMP_W(rdtime() + 20000);
    for (n = 0; n < 1000000 && !(CSR_READ(sip) & (1u << IRQ_STI)); n++)
        __asm__ volatile("wfi");
    STIMECMP_W(~0ull);
    return n;
}

static void sstc(void)
{
    uint64_t cmp;

    irq_hook = hook;
    CSR_WRITE(mie, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    CSR_WRITE(stvec, (uint64_t)s_trap_entry);
    MENVCFG_W(MENVCFG_STCE);
    CHECK(MENVCFG_R() & MENVCFG_STCE);       /* Sstc is there */
    CSR_WRITE(mcounteren, 7);

    /* STIP = time >= stimecmp */
    STIMECMP_W(0);
    CHECK(CSR_READ(mip) & (1u << IRQ_STI));
    STIMECMP_W(~0ull);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_STI)));
    STIMECMP_W(12345);
    CHECK_EQ(STIMECMP_R(), 12345);
    STIMECMP_W(~0ull);

    /* not delegated: taken in M (cause 5) */
    irq.count = 0; flag = 0;
    CSR_WRITE(mie, 1u << IRQ_STI);
    cmp = rdtime() + 10000;
    STIMECMP_W(cmp);
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(spin(0), 1);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(irq.count, 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_STI);
    CHECK_EQ(irq.level, PRIV_M);
    CHECK(fired_at >= cmp);
    CSR_WRITE(mie, 0);

    /* delegated: taken in S */
    CSR_WRITE(mideleg, 1u << IRQ_STI);
    irq.count = 0; flag = 0;
    CHECK_EQ(run_in(PRIV_S, s_timer, 1, 0), 1);
    CHECK_EQ(irq.count, 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_STI);
    CHECK_EQ(irq.level, PRIV_S);
    CHECK(irq.status & MS_SPP);
    CHECK(irq.status & MS_SPIE);
    /* S with SIE = 0: stays pending, not taken */
    irq.count = 0; flag = 0;
    CHECK_EQ(run_in(PRIV_S, s_timer, 0, 0), 0);
    CHECK_EQ(irq.count, 0);
    CHECK(CSR_READ(mip) & (1u << IRQ_STI));
    STIMECMP_W(~0ull);
    /* from U: taken in S whatever SIE */
    irq.count = 0; flag = 0;
    CHECK_EQ(run_in(PRIV_S, s_timer_from_u, 0, 0), 1);
    CHECK_EQ(irq.count, 1);
    CHECK_EQ(irq.level, PRIV_S);
    CHECK(!(irq.status & MS_SPP));
    /* wfi in S woken by stimecmp */
    irq.count = 0;
    CHECK(run_in(PRIV_S, s_wfi, 0, 0) <= 10);
    CHECK_EQ(irq.count, 0);
    CSR_WRITE(mideleg, 0);

    /* stimecmp from S needs STCE and mcounteren.TM */
    trap_expect(TRAP_SKIP);
    (void)run_in(PRIV_S, s_read_stimecmp, 0, 0);
    CHECK_EQ(trap.count, 0);
    CSR_WRITE(mcounteren, 5);               /* TM clear */
    (void)run_in(PRIV_S, s_read_stimecmp, 0, 0);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    CSR_WRITE(mcounteren, 7);
    MENVCFG_W(0);
    trap_expect(TRAP_SKIP);
    (void)run_in(PRIV_S, s_read_stimecmp, 0, 0);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    trap_done();
    CSR_WRITE(mcounteren, 0);
}

/* QEMU's spike board has no time CSR (rdtime traps, for M-mode firmware to
 * emulate) and so no Sstc; it is also the only board here without a UART.
 * There, and only there, the time-CSR parts are left out. */
static bool time_csr(void)
{
    trap_expect(TRAP_SKIP);
    (void)AT("csrrs x0, time, x0");
    trap_done();
    if (trap.count == 0)
        return true;
    if (have_uart)
        check_fail(__LINE__, "the time CSR traps in M", trap.cause, 0);
    printf_("riscv-sys timer: spike board (no UART, no time CSR): time CSR and Sstc checks left out\n");
    return false;
}

int main(void)
{
    bool t = time_csr();
    if (t) clock();
    machine_timer();
    wfi_wakeup();
    if (t) sstc();
    return 0;
}

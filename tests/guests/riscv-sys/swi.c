/* Software interrupts and interrupt routing: CLINT MSIP (its bit, mip.MSIP,
 * the trap in M, written from S as an IPI), SSIP set by M and by S, taken
 * in M when not delegated and in S when delegated (from S with SIE, from U
 * whatever SIE), interrupt priority (MSI > MTI), pending-but-disabled
 * interrupts not taken, and vectored mtvec (interrupts at base + 4 * cause,
 * exceptions at base). */
#include "sys.h"

const char test_name[] = "swi";

static volatile unsigned seq[8], nseq;

static void hook(uint64_t cause, int level)
{
    (void)level;
    if (nseq < 8) seq[nseq] = (unsigned)(cause & 63);
    nseq++;
    switch (cause & 63) {
    case IRQ_MSI: mmio_write32(CLINT_MSIP, 0); break;
    case IRQ_MTI: set_mtimecmp(~0ull); break;
    case IRQ_SSI:
        if (level == PRIV_M) CSR_CLEAR(mip, 1u << IRQ_SSI);
        else CSR_CLEAR(sip, 1u << IRQ_SSI);
        break;
    default: check_fail(__LINE__, "unexpected interrupt", cause, 0);
    }
}

static void reset_seq(void) { nseq = 0; irq.count = 0; }

static uint64_t wait_irq(uint64_t n)
{
    uint64_t i;
    for (i = 0; i < 10000000 && nseq < n; i++) ;
    return nseq;
}

/* S: raise MSIP through the CLINT (an IPI to hart 0) and wait for M */
static uint64_t s_ipi(uint64_t a)
{
    (void)a;
    mmio_write32(CLINT_MSIP, 1);
    return wait_irq(1);
}
/* S: set sip.SSIP itself with SIE on */
static uint64_t s_self_ssi(uint64_t a)
{
    (void)a;
    CSR_SET(sie, 1u << IRQ_SSI);
    CSR_SET(sstatus, MS_SIE);
    CSR_SET(sip, 1u << IRQ_SSI);
    wait_irq(1);
    CSR_CLEAR(sstatus, MS_SIE);
    return nseq;
}

static void msip(void)
{
    CSR_WRITE(mie, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(mmio_read32(CLINT_MSIP), 0);
    mmio_write32(CLINT_MSIP, 0xffffffff);
    CHECK_EQ(mmio_read32(CLINT_MSIP), 1);           /* only bit 0 */
    CHECK(CSR_READ(mip) & (1u << IRQ_MSI));
    CHECK_EQ(irq.count, 0);                          /* pending, not enabled */
    mmio_write32(CLINT_MSIP, 0);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_MSI)));
    CSR_SET(mip, 1u << IRQ_MSI);                     /* MSIP is read-only in mip */
    CHECK(!(CSR_READ(mip) & (1u << IRQ_MSI)));

    reset_seq();
    CSR_WRITE(mie, 1u << IRQ_MSI);
    mmio_write32(CLINT_MSIP, 1);
    CHECK_EQ(irq.count, 0);                          /* MIE = 0 in M */
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(wait_irq(1), 1);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_MSI);
    CHECK_EQ(irq.level, PRIV_M);
    CHECK_EQ(mmio_read32(CLINT_MSIP), 0);

    /* an IPI written by S, taken in M from S (MIE = 0 there) */
    reset_seq();
    CSR_CLEAR(mstatus, MS_MPIE);
    CHECK_EQ(run_in(PRIV_S, s_ipi, 0, 0), 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_MSI);
    CHECK_EQ((irq.status & MS_MPP) >> MPP_SHIFT, PRIV_S);
    CSR_WRITE(mie, 0);
}

static void ssip(void)
{
    CSR_WRITE(stvec, (uint64_t)s_trap_entry);
    CSR_WRITE(mie, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    CSR_WRITE(mideleg, 0);
    /* M can set and clear SSIP */
    CSR_SET(mip, 1u << IRQ_SSI);
    CHECK(CSR_READ(mip) & (1u << IRQ_SSI));
    CSR_CLEAR(mip, 1u << IRQ_SSI);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_SSI)));
    /* not delegated: taken in M */
    reset_seq();
    CSR_WRITE(mie, 1u << IRQ_SSI);
    CSR_SET(mip, 1u << IRQ_SSI);
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(wait_irq(1), 1);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_SSI);
    CHECK_EQ(irq.level, PRIV_M);
    /* delegated: S sets it, S takes it */
    CSR_WRITE(mideleg, 1u << IRQ_SSI);
    reset_seq();
    CHECK_EQ(run_in(PRIV_S, s_self_ssi, 0, 0), 1);
    CHECK_EQ(irq.cause, CAUSE_IRQ | IRQ_SSI);
    CHECK_EQ(irq.level, PRIV_S);
    CHECK(irq.status & MS_SPP);
    CHECK(!(CSR_READ(mip) & (1u << IRQ_SSI)));
    /* delegated, pending, U runs: taken in S even with SIE = 0 */
    reset_seq();
    CSR_SET(mip, 1u << IRQ_SSI);
    CHECK_EQ(irq.count, 0);                          /* M never takes a delegated one */
    CSR_CLEAR(mstatus, MS_SIE);
    CHECK_EQ(run_in(PRIV_U, wait_irq, 1, 0), 1);
    CHECK_EQ(irq.level, PRIV_S);
    CHECK(!(irq.status & MS_SPP));
    /* delegated, pending, S runs with SIE = 0: not taken */
    reset_seq();
    CSR_SET(mip, 1u << IRQ_SSI);
    CHECK_EQ(run_in(PRIV_S, wait_irq, 1, 0), 0);
    CSR_CLEAR(mip, 1u << IRQ_SSI);
    CSR_WRITE(mideleg, 0);
    CSR_WRITE(mie, 0);
}

/* MSI before MTI (the order with SSI as well is checked in strict.c: QEMU
 * 7.2 takes a non-delegated SSI first) */
static void priority(void)
{
    reset_seq();
    CSR_WRITE(mideleg, 0);
    CSR_CLEAR(mstatus, MS_MIE);
    set_mtimecmp(0);
    mmio_write32(CLINT_MSIP, 1);
    CSR_WRITE(mie, (1u << IRQ_MTI) | (1u << IRQ_MSI));
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(wait_irq(2), 2);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(seq[0], IRQ_MSI);
    CHECK_EQ(seq[1], IRQ_MTI);
    CSR_WRITE(mie, 0);
}

static void vectored(void)
{
    uint64_t pc;

    CSR_WRITE(mtvec, (uint64_t)vec_irq | 1);
    CHECK_EQ(CSR_READ(mtvec), (uint64_t)vec_irq | 1);
    reset_seq();
    CSR_WRITE(mie, (1u << IRQ_MSI) | (1u << IRQ_MTI) | (1u << IRQ_SSI));
    mmio_write32(CLINT_MSIP, 1);
    CSR_SET(mstatus, MS_MIE);
    CHECK_EQ(wait_irq(1), 1);
    set_mtimecmp(0);
    CHECK_EQ(wait_irq(2), 2);
    CSR_SET(mip, 1u << IRQ_SSI);
    CHECK_EQ(wait_irq(3), 3);
    CSR_CLEAR(mstatus, MS_MIE);
    CHECK_EQ(seq[0], IRQ_MSI);
    CHECK_EQ(seq[1], IRQ_MTI);
    CHECK_EQ(seq[2], IRQ_SSI);
    CSR_WRITE(mie, 0);
    /* exceptions go to the base */
    CSR_WRITE(mtvec, (uint64_t)vec_exc | 1);
    trap_expect(TRAP_SKIP);
    pc = AT("ebreak");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.epc, pc);
    trap_done();
    CSR_WRITE(mtvec, (uint64_t)m_trap_entry);
    /* reserved modes (2, 3) are not kept */
    CSR_WRITE(mtvec, (uint64_t)vec_exc | 2);
    CHECK((CSR_READ(mtvec) & 3) < 2);
    CSR_WRITE(mtvec, (uint64_t)m_trap_entry);
}

int main(void)
{
    irq_hook = hook;
    msip();
    ssip();
    priority();
    vectored();
    return 0;
}

/* System-mode CSR ops the translator does inline (jit_ops.c): csrrw,
 * csrrs, csrrc and their immediate forms on sstatus. Linux's
 * local_irq_save/restore are these; the op ends its block, and before,
 * the translated code left at it for the interpreter. Checked: the op
 * is translated (the block's code returns to the dispatcher, not to the
 * interpreter at the op), and random sequences of them, with values that
 * touch SIE, SPIE, SPP, FS (inline), SUM, MXR (a TLB flush: the
 * interpreter) and other bits, in S, M and U mode (illegal: a trap),
 * leave the hart as the interpreter does. And the timer check: a timer
 * that falls due while translated code loops is seen within the poll
 * interval (exec.c: RV_POLL_INSNS), which that code checks in the
 * compare of its budget (h->jit_limit). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rv_sysfx.h"

#define RAM 0x80000000ull
#define RAM_SIZE (1u << 20)
#define TRAP (RAM + 0x8000)        /* mtvec: a loop */

static uint32_t csr_op(unsigned f3, unsigned rd, unsigned rs1, unsigned csr)
{
    return (csr << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x73;
}

static struct rv_sysfx *fx_new(bool jit, const uint32_t *code, size_t n)
{
    return rv_sysfx_new(jit, RAM, RAM_SIZE, TRAP, code, n);
}

static void set_priv(struct rv_hart *h, unsigned priv)
{
    h->priv = priv;
    rv_update_modes(h);
}

/* csrrci a5, sstatus, SIE; addi a0, a0, 1; csrrs x0, sstatus, a5 (the
 * irq save/restore pair); j back (a jump in the page: its block goes on
 * with the csrrci). Once translated, the block of the addi and the csrrs
 * runs through to the dispatcher. */
static void test_translated(void **state)
{
    (void)state;
    const uint32_t code[] = { csr_op(7, 15, 2, 0x100), addi(10, 10, 1), csr_op(2, 0, 15, 0x100), jal0(-12) };
    struct rv_sysfx *f = fx_new(true, code, 4);
    struct rv_hart *h = f->h;
    set_priv(h, RV_PRIV_S);
    h->mstatus |= MS_SIE;
    assert_int_equal(rv_run(h, 400), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 100);
    assert_true(h->mstatus & MS_SIE);
    int c = 0;
    struct rv_block *b = rv_block_lookup(h, RAM + 4, &c);
    assert_non_null(b);
    assert_int_equal(b->n, 2);
    if (!b->jit)
        fail_msg("the block ending in csrrs sstatus is not translated");
    /* no budget left: the code stops at its first chain */
    uint64_t pc = h->pc;
    h->pc = RAM + 4;
    atomic_store(&h->jit_limit, h->instret);
    h->mstatus &= ~MS_SIE;
    rv_set_x(h, 15, MS_SIE);
    struct rv_jit_ret r = b->jit(h);
    if (r.code != RV_JIT_NEXT)
        fail_msg("csrrs sstatus is not translated: exit code %#llx", (unsigned long long)r.code);
    assert_int_equal(h->pc, RAM + 12);
    assert_true(h->mstatus & MS_SIE);
    assert_int_equal(rv_get_x(h, 10), 101);
    h->pc = pc;
    rv_sysfx_del(f);
}

struct state {
    enum rv_exit ex;
    uint64_t pc, instret, mstatus, mcause, mepc, mtval, tlb_gen, x[32];
};

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static const uint64_t bits[] = { MS_SIE, MS_SPIE, MS_SPP, MS_FS, 1ULL << 13, MS_SUM, MS_MXR,
                                 MS_MIE, MS_MPP, MS_UXL, MS_SD, MS_XS };

static uint64_t value(void)
{
    uint64_t v = 0;
    for (unsigned k = rnd() % 4; k > 0; k--)
        v |= bits[rnd() % (sizeof(bits) / sizeof(bits[0]))];
    return rnd() % 8 ? v : rnd();
}

static void run_prog(bool jit, const uint32_t *code, size_t n, unsigned priv, uint64_t mstatus,
                     const uint64_t *x0, struct state *s)
{
    struct rv_sysfx *f = fx_new(jit, code, n);
    struct rv_hart *h = f->h;
    for (unsigned k = 1; k < 32; k++)
        rv_set_x(h, k, x0[k]);
    h->mstatus = mstatus;
    set_priv(h, priv);
    uint64_t gen = h->tlb_gen;
    s->ex = rv_run(h, 2000);
    s->pc = rv_get_pc(h);
    s->instret = rv_instret(h);
    s->mstatus = h->mstatus;
    s->mcause = h->mcause;
    s->mepc = h->mepc;
    s->mtval = h->mtval;
    s->tlb_gen = h->tlb_gen - gen;
    for (unsigned k = 0; k < 32; k++)
        s->x[k] = rv_get_x(h, k);
    rv_sysfx_del(f);
}

static void test_vs_interpreter(void **state)
{
    (void)state;
    static const unsigned privs[] = { RV_PRIV_S, RV_PRIV_S, RV_PRIV_S, RV_PRIV_M, RV_PRIV_U };
    unsigned flushes = 0;
    for (unsigned p = 0; p < 300; p++) {
        uint32_t code[64];
        size_t n = 0;
        uint64_t x0[32] = { 0 };
        for (unsigned k = 1; k < 32; k++)
            x0[k] = value();
        /* a loop of csr ops on sstatus, each after an addi */
        for (unsigned k = 1 + rnd() % 8; k > 0; k--) {
            unsigned f3 = (unsigned[]){ 1, 2, 3, 5, 6, 7 }[rnd() % 6];
            unsigned rd = rnd() % 4 ? 10 + rnd() % 8 : 0, rs1 = rnd() % 5 ? 10 + rnd() % 8 : 0;
            if (f3 >= 5)
                rs1 = (unsigned)(rnd() % 32);
            code[n++] = addi(20, 20, 1);
            code[n++] = csr_op(f3, rd, rs1, 0x100);
        }
        code[n] = jal0(-4 * (int)n);
        n++;
        unsigned priv = privs[p % 5];
        uint64_t mstatus = value() & (MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_SUM | MS_MXR | MS_MIE);
        struct state a, b;
        run_prog(false, code, n, priv, mstatus, x0, &a);
        run_prog(true, code, n, priv, mstatus, x0, &b);
        flushes += a.tlb_gen > 0;
        if (a.ex != b.ex || a.pc != b.pc || a.instret != b.instret || a.mstatus != b.mstatus ||
            a.mcause != b.mcause || a.mepc != b.mepc || a.mtval != b.mtval || memcmp(a.x, b.x, sizeof(a.x)))
            fail_msg("program %u (priv %u): interpreter exit %d pc %#llx instret %llu mstatus %#llx mcause %llu, "
                     "translator exit %d pc %#llx instret %llu mstatus %#llx mcause %llu", p, priv, a.ex,
                     (unsigned long long)a.pc, (unsigned long long)a.instret, (unsigned long long)a.mstatus,
                     (unsigned long long)a.mcause, b.ex, (unsigned long long)b.pc,
                     (unsigned long long)b.instret, (unsigned long long)b.mstatus,
                     (unsigned long long)b.mcause);
    }
    /* some programs changed SUM or MXR (the interpreter's path) */
    assert_true(flushes > 20);
}

/* bnez in a loop (a translated self-loop) in M mode with MTIE and MIE
 * on; the timer falls due (mtimecmp 0, mip not set: as time passing):
 * the next check, at most RV_POLL_INSNS instructions later (16,384), takes
 * the interrupt to mtvec, which sets a1. */
static void test_timer_in_loop(void **state)
{
    (void)state;
    const uint32_t code[] = { addi(10, 10, 1), 0xfe029ee3u /* bnez t0, -4 */ };
    for (int jit = 0; jit < 2; jit++) {
        struct rv_sysfx *f = fx_new(jit, code, 2);
        struct rv_hart *h = f->h;
        uint32_t handler = addi(11, 0, 1);
        assert_int_equal(mem_write(&f->mem, TRAP, &handler, 4), 0);
        uint32_t spin = jal0(0);
        assert_int_equal(mem_write(&f->mem, TRAP + 4, &spin, 4), 0);
        rv_set_x(h, 5, 1);
        rv_set_mtimecmp(h, UINT64_MAX);
        h->mie = 1ULL << RV_IRQ_MTI;
        h->mstatus |= MS_MIE;
        assert_int_equal(rv_run(h, 100000), RV_EXIT_BUDGET);
        assert_int_equal(rv_get_x(h, 11), 0);
        if (jit) {
            int c = 0;
            struct rv_block *b = rv_block_lookup(h, RAM, &c);
            assert_non_null(b);
            assert_non_null(b->jit);
        }
        atomic_store(&h->mtimecmp, 0);
        uint64_t a0 = rv_get_x(h, 10);
        assert_int_equal(rv_run(h, 40000), RV_EXIT_BUDGET);
        if (rv_get_x(h, 11) != 1)
            fail_msg("jit %d: the timer was not taken in 40,000 instructions", jit);
        uint64_t ran = 2 * (rv_get_x(h, 10) - a0);
        if (ran > 16384 + 4)
            fail_msg("jit %d: the timer was taken after %llu instructions", jit, (unsigned long long)ran);
        rv_sysfx_del(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translated),
        cmocka_unit_test(test_vs_interpreter),
        cmocka_unit_test(test_timer_in_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

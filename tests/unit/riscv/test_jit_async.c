/* The translator thread (jit.c, m->jit_async: system mode): a hot block is
 * copied to the hart's thread of translation while the hart interprets
 * on, and its code is installed at a later block entry if the block is
 * still the one copied. Checked: the code comes (a loop's block is found
 * translated after the hart runs on, and the loop's count is the
 * interpreter's); a hart whose code page is rewritten at every iteration
 * (every block dropped while queued or being translated) and whose caches
 * are flushed or trimmed between slices (rv_jit_quiesce with the thread
 * busy; the trim gives the thread's ring back to the host) ends
 * with the interpreter's registers; a hart freed with jobs queued. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "rv_sysfx.h"

#define RAM 0x80000000ull
#define RAM_SIZE (1u << 20)
#define TRAP (RAM + 0x8000)        /* mtvec: a loop */

static uint32_t r_op(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd, unsigned opc)
{
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc;
}
static uint32_t i_op(int imm, unsigned rs1, unsigned f3, unsigned rd, unsigned opc)
{
    return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc;
}
static uint32_t sw(unsigned rs2, unsigned rs1, int imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5 & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (2u << 12) | ((u & 0x1f) << 7) | 0x23;
}
static uint32_t bne(unsigned rs1, unsigned rs2, int off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 12 & 1) << 31) | ((u >> 5 & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (1u << 12) |
           ((u >> 1 & 0xf) << 8) | ((u >> 11 & 1) << 7) | 0x63;
}
static uint32_t lui(unsigned rd, uint32_t imm20) { return (imm20 << 12) | (rd << 7) | 0x37; }

static struct rv_sysfx *fx_new(bool jit, bool async, const uint32_t *code, size_t n)
{
    struct rv_sysfx *f = rv_sysfx_new(jit, RAM, RAM_SIZE, TRAP, code, n);
    f->m->jit_async = async;
    return f;
}

/* a0 += 1 until it is a1 (1000), then a jump to itself */
static const uint32_t count_loop[] = {
    0x3e800593,                         /* li a1, 1000 */
    0x00150513,                         /* loop: addi a0, a0, 1 */
    0x00350613,                         /* addi a2, a0, 3 */
    0xfeb51ce3,                         /* bne a0, a1, loop (-8) */
    0x0000006f,                         /* j . */
};

static void test_installed(void **state)
{
    (void)state;
    struct rv_sysfx *f = fx_new(true, true, count_loop, sizeof(count_loop) / 4);
    struct rv_hart *h = f->h;
    assert_true(f->m->jit_async);
    /* the loop's block is handed over at its second run; the thread
     * installs it whenever it is done: run slices of the spin at the end
     * until the loop's block (entered through the dispatcher again after
     * a reset of the pc) is found translated, at most 20 s */
    struct rv_block *b = NULL;
    for (unsigned k = 0; k < 20000; k++) {
        h->pc = RAM + 4;
        rv_set_x(h, 10, 0);
        rv_set_x(h, 11, 1000);
        assert_int_equal(rv_run(h, 4000), RV_EXIT_BUDGET);
        assert_int_equal(rv_get_x(h, 10), 1000);
        assert_int_equal(rv_get_x(h, 12), 1003);
        int cause = 0;
        b = rv_block_lookup(h, RAM + 4, &cause);
        if (b && b->jit)
            break;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    assert_non_null(b);
    assert_non_null(b->jit);
    assert_false(b->jit_queued);
    rv_sysfx_del(f);
}

/* The code page rewritten at every iteration: s0 = the address of the
 * patched instruction, s1 = `addi a1, a1, 0`; each iteration writes
 * `addi a1, a1, (a0 & 0x7ff)` there (dropping the page's blocks, queued
 * or not), runs it, adds a1 into a2. */
static size_t smc_prog(uint32_t *p)
{
    size_t n = 0, at;
    p[n++] = 0x00000417;                            /* auipc s0, 0: s0 = RAM */
    p[n++] = i_op(0x100, 8, 0, 8, 0x13);            /* s0 += 0x100: the patch site */
    p[n++] = lui(9, 0x58);
    p[n++] = i_op(0x593, 9, 0, 9, 0x13);            /* s1 = 0x00058593: addi a1, a1, 0 */
    p[n++] = i_op(0x7d0, 0, 0, 13, 0x13);           /* a3 = 2000 iterations */
    size_t loop = n;
    p[n++] = i_op(1, 10, 0, 10, 0x13);              /* a0 += 1 */
    p[n++] = i_op(0x7ff, 10, 7, 5, 0x13);           /* t0 = a0 & 0x7ff */
    p[n++] = i_op(20, 5, 1, 5, 0x13);               /* t0 <<= 20 */
    p[n++] = r_op(0, 9, 5, 6, 5, 0x33);             /* t0 |= s1 */
    p[n++] = sw(5, 8, 0);                           /* the patch */
    p[n++] = 0x0000100f;                            /* fence.i */
    at = n++;
    p[at] = jal0((int)((0x100 / 4 - at) * 4));      /* to the patch site */
    size_t back = n;
    p[n++] = r_op(0, 11, 12, 0, 12, 0x33);          /* a2 += a1 */
    p[n++] = i_op(-1, 13, 0, 13, 0x13);             /* a3 -= 1 */
    at = n++;
    p[at] = bne(13, 0, (int)(loop * 4) - (int)(at * 4));
    p[n++] = jal0(0);                               /* done: j . */
    while (n < 0x100 / 4)
        p[n++] = 0x00000013;
    p[n++] = 0x00058593;                            /* the patch site: addi a1, a1, 0 */
    at = n++;
    p[at] = jal0((int)(back * 4) - (int)(at * 4));
    return n;
}

static void test_smc_and_flushes(void **state)
{
    (void)state;
    static uint32_t prog[0x100 / 4 + 2];
    size_t n = smc_prog(prog);
    struct rv_sysfx *fi = fx_new(false, false, prog, n);
    struct rv_sysfx *fa = fx_new(true, true, prog, n);
    fa->m->jit_threshold = 0;
    /* slices of 300 instructions: between them the async hart's caches
     * are flushed or trimmed (every fourth slice each) while its thread
     * may be translating */
    for (unsigned s = 0; s < 400; s++) {
        enum rv_exit ei = rv_run(fi->h, 300), ea = rv_run(fa->h, 300);
        assert_int_equal(ei, ea);
        assert_int_equal(fi->h->pc, fa->h->pc);
        for (unsigned r = 0; r < 32; r++)
            if (rv_get_x(fi->h, r) != rv_get_x(fa->h, r))
                fail_msg("slice %u: x%u %#llx interpreted, %#llx with the translator thread", s, r,
                         (unsigned long long)rv_get_x(fi->h, r), (unsigned long long)rv_get_x(fa->h, r));
        if (s % 4 == 1)
            rv_cache_flush(fa->h);
        if (s % 4 == 3) {
            /* a trim of a mostly idle hart: its caches, the thread's
             * working state and ring go back to the host (rv_jit_release) */
            fa->h->mostly_idle = true;
            assert_true(rv_hart_trim(fa->h));
            rv_cache_busy(fa->h);
            fa->h->mostly_idle = false;
        }
    }
    assert_int_equal(rv_get_x(fa->h, 13), 0);      /* all 2000 iterations done */
    rv_sysfx_del(fa);
    rv_sysfx_del(fi);
}

/* Freed with jobs handed over and not taken back: no block is touched
 * after the arena is gone (ASan), the thread ends. */
static void test_free_queued(void **state)
{
    (void)state;
    for (unsigned k = 0; k < 50; k++) {
        struct rv_sysfx *f = fx_new(true, true, count_loop, sizeof(count_loop) / 4);
        f->m->jit_threshold = 0;
        assert_int_equal(rv_run(f->h, 50 + k * 7), RV_EXIT_BUDGET);
        rv_sysfx_del(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed),
        cmocka_unit_test(test_smc_and_flushes),
        cmocka_unit_test(test_free_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

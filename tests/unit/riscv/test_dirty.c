/* Dirty logging in the RV64 core (system mode): while the log is on, a
 * store's slow path marks its page and then fills the write TLB entry, so
 * the page's later stores take the fast path; rv_dirty_log_sync collects
 * the marks and drops every hart's write entries, so that a page written
 * after the sync (an epoch boundary of replication, a pass of live
 * migration) is in the next sync again. Interpreter and translator, two
 * harts each writing its own page. */
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
#define PAGE_OF(h) (0x10u + (h))     /* hart h stores to RAM page 0x10 + h */

static uint32_t auipc(unsigned rd, uint32_t imm20) { return (imm20 << 12) | (rd << 7) | 0x17; }
static uint32_t sd(unsigned rs2, unsigned rs1, int imm)
{
    return ((uint32_t)((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (3u << 12) | ((uint32_t)(imm & 31) << 7) | 0x23;
}

struct fx {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    struct rv_hart *h[2];
    uint64_t bits[RAM_SIZE / 4096 / 64];
};

/* Hart h's code at RAM + h * 0x1000: t1 = its data page; then forever
 * sd t0, 0(t1); addi t0, t0, 1; sd t0, 8(t1); j back. */
static void program(struct fx *f, unsigned h)
{
    uint64_t pc = RAM + h * 0x1000u;
    uint32_t code[] = {
        auipc(6, PAGE_OF(0)),         /* t1 = pc + 0x10 pages = RAM + PAGE_OF(h) * 4096 */
        sd(5, 6, 0), addi(5, 5, 1), sd(5, 6, 8), jal0(-12),
    };
    assert_int_equal(mem_write(&f->mem, pc, code, sizeof(code)), 0);
}

static struct fx *fx_new(bool jit)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = rv_sysfx_machine(&f->mem, &f->bus, RAM, RAM_SIZE, 2, jit);
    for (unsigned i = 0; i < 2; i++) {
        program(f, i);
        f->h[i] = rv_hart_new(f->m, i);
        assert_non_null(f->h[i]);
        rv_hart_reset(f->h[i], RAM + i * 0x1000u);
    }
    return f;
}

static void fx_free(struct fx *f)
{
    for (unsigned i = 0; i < 2; i++)
        rv_hart_free(f->h[i]);
    rv_sysfx_free(f->m, &f->mem, &f->bus);
    free(f);
}

static bool page_set(const struct fx *f, unsigned page)
{
    return f->bits[page / 64] >> (page % 64) & 1;
}

/* one epoch: both harts run `n` instructions, then the sync */
static uint64_t epoch(struct fx *f, uint64_t n)
{
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(rv_run(f->h[i], n), RV_EXIT_BUDGET);
    memset(f->bits, 0, sizeof(f->bits));
    return rv_dirty_log_sync(f->m, 0, f->bits);
}

static bool write_entry(const struct fx *f, unsigned h)
{
    uint64_t va = RAM + PAGE_OF(h) * 4096ull;
    const struct rv_tlb_entry *e = rv_tlb_slot(f->h[h], RV_ACC_WRITE, va);
    return e->tag == rv_tlb_tag(va, f->h[h]->mode_data);
}

static void run_epochs(bool jit)
{
    struct fx *f = fx_new(jit);
    assert_int_equal(rv_run(f->h[0], 4000), RV_EXIT_BUDGET);    /* warm: blocks decoded / translated */
    assert_int_equal(rv_run(f->h[1], 4000), RV_EXIT_BUDGET);
    assert_int_equal(mem_dirty_enable(&f->mem), 0);
    for (unsigned i = 0; i < 2; i++)
        rv_flush_tlb(f->h[i]);            /* as the board's dirty_log_start */
    for (unsigned k = 0; k < 20; k++) {
        /* every epoch, both pages again: a page written after the boundary
         * is in the next sync (no write entry survives it unmarked) */
        if (epoch(f, 4000) != 2 || !page_set(f, PAGE_OF(0)) || !page_set(f, PAGE_OF(1)))
            fail_msg("jit %d, epoch %u: pages %d %d not both in the log", jit, k, page_set(f, PAGE_OF(0)),
                     page_set(f, PAGE_OF(1)));
        /* the write entries were filled while logging: the later stores
         * took the fast path (they go at the harts' next run) */
        for (unsigned i = 0; i < 2; i++)
            assert_true(write_entry(f, i));
        /* nothing ran since: an empty sync */
        memset(f->bits, 0, sizeof(f->bits));
        assert_int_equal(rv_dirty_log_sync(f->m, 0, f->bits), 0);
    }
    /* one store after the boundary is enough */
    assert_int_equal(epoch(f, 2), 2);
    /* the data is what the last stores wrote: t0 or t0 - 1 (stopped
     * between the addi and the second store) */
    for (unsigned i = 0; i < 2; i++) {
        uint64_t v[2], t0 = rv_get_x(f->h[i], 5);
        assert_int_equal(mem_read(&f->mem, RAM + PAGE_OF(i) * 4096ull, v, sizeof(v)), 0);
        uint64_t last = v[0] > v[1] ? v[0] : v[1];
        assert_true(last == t0 || last + 1 == t0);
        assert_true(t0 > 20000);
    }
    /* logging off: stores go on through the entries, nothing is logged */
    mem_dirty_disable(&f->mem);
    assert_int_equal(epoch(f, 4000), 0);
    fx_free(f);
}

static void test_interpreter(void **state)
{
    (void)state;
    run_epochs(false);
}

static void test_translator(void **state)
{
    (void)state;
    run_epochs(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interpreter),
        cmocka_unit_test(test_translator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

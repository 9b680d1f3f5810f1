/* The idle regime of a hart's code cache (cache.c): a mostly idle hart
 * (busy under a tenth of each second, rv_hart_note_wait) gives its
 * decoded blocks, lookup tables and translated code back at its next idle
 * wait (rv_hart_trim) and then runs on a small arena: at most
 * RV_SMALL_ARENA bytes resident however much code it runs (recycled when
 * full, no huge page), nothing translated, and the same results as
 * before. It gets the whole cache and the translator back when it turns
 * busy: a second busy a tenth of the time or more, or a long run without
 * a wait. Pages resident are counted with mincore. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "rv_sysfx.h"

#define RAM 0x80000000ull
#define RAM_SIZE (4u << 20)
#define PAGES 16u                 /* of code: about 700 KiB decoded */
#define PER_PAGE 1024u            /* instructions: 1023 addi, a jal */
#define LOOP (PAGES * PER_PAGE)   /* instructions of one round */
#define MS 1000000ULL

struct fx {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    struct rv_hart *h;
};

/* PAGES pages of a0 += 1, each ending in a jump to the next, the last
 * back to the first: 256 blocks of 64 instructions */
static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = rv_sysfx_machine(&f->mem, &f->bus, RAM, RAM_SIZE, 1, true);
    uint32_t *code = calloc(LOOP, 4);
    for (unsigned k = 0; k < LOOP; k++)
        code[k] = addi(10, 10, 1);
    for (unsigned p = 0; p < PAGES; p++)
        code[p * PER_PAGE + PER_PAGE - 1] = jal0(p + 1 < PAGES ? 4 : -(int)(LOOP * 4 - 4));
    assert_int_equal(mem_write(&f->mem, RAM, code, LOOP * 4), 0);
    free(code);
    f->h = rv_hart_new(f->m, 0);
    rv_hart_reset(f->h, RAM);
    rv_set_priv(f->h, RV_PRIV_S);
    return f;
}

static void fx_free(struct fx *f)
{
    rv_hart_free(f->h);
    rv_sysfx_free(f->m, &f->mem, &f->bus);
    free(f);
}

/* KiB of [p, p + len) resident */
static size_t resident_kb(const void *p, size_t len)
{
    size_t n = len / 4096, r = 0;
    unsigned char *v = malloc(n);
    assert_int_equal(mincore((void *)p, len, v), 0);
    for (size_t k = 0; k < n; k++)
        r += v[k] & 1;
    free(v);
    return r * 4;
}
static size_t arena_kb(struct fx *f) { return resident_kb(f->h->arena, RV_ARENA_SIZE); }

/* Whether the mapping holding p has VmFlag `flag` (smaps: "hg" asked for
 * huge pages, "nh" asked for none), whatever the host's THP setting */
static bool vm_flag(const void *p, const char *flag)
{
    FILE *fp = fopen("/proc/self/smaps", "r");
    assert_non_null(fp);
    char line[512];
    bool in = false, found = false;
    while (fgets(line, sizeof(line), fp)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && !strncmp(line, "VmFlags:", 8)) {
            char want[8];
            snprintf(want, sizeof(want), " %s", flag);
            for (char *q = line + 8; (q = strstr(q, want)); q++)
                if (q[3] == ' ' || q[3] == '\n')
                    found = true;
            break;
        }
    }
    fclose(fp);
    return found;
}

/* `rounds` rounds of the loop: a0 counts the addi */
static void run_rounds(struct fx *f, unsigned rounds)
{
    uint64_t a0 = rv_get_x(f->h, 10);
    assert_int_equal(rv_run(f->h, (uint64_t)rounds * LOOP), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_pc(f->h), RAM);
    assert_int_equal(rv_get_x(f->h, 10), a0 + (uint64_t)rounds * PAGES * (PER_PAGE - 1));
}

/* 2.5 s of 10 ms periods (a whole window of the duty in the last), each `run` busy then a wait, from *t */
static void periods(struct rv_hart *h, uint64_t *t, uint64_t run)
{
    for (int k = 0; k < 250; k++, *t += 10 * MS)
        rv_hart_note_wait(h, *t + run, 10 * MS - run);
}

static void test_idle_small(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct rv_hart *h = f->h;
    run_rounds(f, 3);                                /* busy: all decoded and translated */
    assert_false(h->small);
    assert_true(h->jit_used > 0);
    assert_true(h->arena_used > 0);
    assert_true(arena_kb(f) >= h->arena_used / 1024);   /* resident as far as it is used */
    /* under RV_HUGE_AT decoded: 4 KiB pages (a short program clears no 2 MiB page) */
    assert_true(h->arena_used < RV_HUGE_AT);
    assert_false(h->arena_huge);
    assert_false(vm_flag(h->arena, "hg"));
    size_t jit_kb = resident_kb(h->jit_code, 4096 * 16);
    assert_true(jit_kb > 0);

    /* a hart busy more than a tenth of the time keeps its cache at a wait */
    uint64_t t = 1000 * MS;
    periods(h, &t, 2 * MS);
    assert_false(h->mostly_idle);
    rv_hart_trim(h);
    assert_false(h->small);
    assert_true(arena_kb(f) >= h->arena_used / 1024);

    /* mostly idle: at the next idle wait everything is given back */
    periods(h, &t, MS / 2);
    assert_true(h->mostly_idle);
    rv_hart_trim(h);
    assert_true(h->small);
    assert_int_equal(h->smalls, 1);
    assert_int_equal(arena_kb(f), 0);
    assert_true(vm_flag(h->arena, "nh"));           /* no huge page: 2 MiB at one touch */
    assert_int_equal(resident_kb(h->jit_code, 4096 * 16), 0);
    assert_int_equal(resident_kb(h->jcache, sizeof(h->jcache) + sizeof(h->hash)), 0);

    /* runs as before on a bounded arena: its wake-ups (each less than
     * RV_SMALL_BUSY_NS after the last wait) run 700 KiB of decoded code */
    uint64_t flushes = h->flush_count;
    for (int wake = 0; wake < 4; wake++) {
        h->wait_end_ns = time_ns() + 3600 * 1000 * MS;   /* just woken, whatever the host's load */
        run_rounds(f, 2);
        rv_hart_trim(h);
    }
    assert_true(h->small);
    assert_true(h->flush_count > flushes + 4);       /* recycled */
    assert_true(h->arena_used <= RV_SMALL_ARENA);
    assert_true(arena_kb(f) <= RV_SMALL_ARENA / 1024);
    assert_int_equal(h->jit_used, 0);                /* nothing translated */
    assert_int_equal(resident_kb(h->jit_code, 4096 * 16), 0);
    assert_true(resident_kb(h->jcache, sizeof(h->jcache) + sizeof(h->hash)) <= 16);
    assert_int_equal(resident_kb(h->jtc, sizeof(h->jtc)), 0);

    /* a long run without a wait: busy again (the timer poll), the whole
     * arena and the translator back */
    h->wait_end_ns = time_ns() - 1000 * MS;
    run_rounds(f, 3);
    assert_false(h->small);
    assert_false(h->mostly_idle);
    assert_true(h->jit_used > 0);
    assert_true(arena_kb(f) > RV_SMALL_ARENA / 1024);
    /* huge pages asked for again once RV_HUGE_AT of it is used */
    assert_true(h->arena_huge == (h->arena_used >= RV_HUGE_AT));
    assert_true(vm_flag(h->arena, "hg") == h->arena_huge);
    assert_true(vm_flag(h->arena, "nh") == !h->arena_huge);

    /* small again, then a busy second at the window's end */
    periods(h, &t, MS / 2);
    rv_hart_trim(h);
    assert_true(h->small);
    assert_int_equal(h->smalls, 2);
    periods(h, &t, 3 * MS);
    assert_false(h->small);
    h->wait_end_ns = time_ns() + 3600 * 1000 * MS;
    run_rounds(f, 2);
    assert_true(h->jit_used > 0);
    fx_free(f);
}

/* Past RV_HUGE_AT of decoded blocks and of translated code, each arena
 * asks for huge pages (once) */
static void test_huge_at(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct rv_hart *h = f->h;
    run_rounds(f, 3);
    assert_false(vm_flag(h->arena, "hg"));
    assert_false(vm_flag(h->jit_code, "hg"));
    /* decoded and translated again, from just under the mark */
    rv_cache_flush(h);
    h->arena_used = RV_HUGE_AT - 4096;
    h->jit_used = RV_HUGE_AT - 4096;
    run_rounds(f, 3);
    assert_true(h->arena_huge && h->jit_huge);
    assert_true(vm_flag(h->arena, "hg"));
    assert_true(vm_flag(h->jit_code, "hg"));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_small),
        cmocka_unit_test(test_huge_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the RV64GC core: RVC expansion against the assembler's
 * encodings, and behaviours of the interpreter and its block cache that the
 * differential test cannot see (self-modifying code, fence.i, budgets,
 * breakpoints, watchpoints, LR/SC reservations, illegal instructions, page faults). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "emu/riscv/riscv.h"
#include "emu/riscv/hart.h"

/* pairs produced by riscv64-linux-gnu-as: the compressed form and the
 * 32-bit form of the same instruction (objdump -M no-aliases) */
static const struct { uint16_t c; uint32_t w; } rvc[] = {
    { 0x0800, 0x01010413 }, { 0x2588, 0x0085b507 }, { 0x42d0, 0x0046a603 },
    { 0x6b98, 0x0107b703 }, { 0xac8c, 0x00b4bc27 }, { 0xdc48, 0x02a42e23 },
    { 0xfe6c, 0x0eb63c23 }, { 0x0001, 0x00000013 }, { 0x1575, 0xffd50513 },
    { 0x25fd, 0x01f5859b }, { 0x5281, 0xfe000293 }, { 0x7139, 0xfc010113 },
    { 0x7905, 0xfffe1937 }, { 0x917d, 0x03f55513 }, { 0x8585, 0x4015d593 },
    { 0x9a7d, 0xfff67613 }, { 0x8c05, 0x40940433 }, { 0x8eb9, 0x00e6c6b3 },
    { 0x8fc1, 0x0087e7b3 }, { 0x8ce9, 0x00a4f4b3 }, { 0x9d91, 0x40c585bb },
    { 0x9eb9, 0x00e686bb }, { 0x0332, 0x00c31313 }, { 0x307e, 0x1f813007 },
    { 0x50fe, 0x0fc12083 }, { 0x61a2, 0x00813183 }, { 0x8082, 0x00008067 },
    { 0x83f2, 0x01c003b3 }, { 0x9002, 0x00100073 }, { 0x9e82, 0x000e80e7 },
    { 0x99d2, 0x014989b3 }, { 0xa022, 0x00813027 }, { 0xc22a, 0x00a12223 },
    { 0xffae, 0x1eb13c23 },
};

static void test_rvc_expand(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(rvc) / sizeof(rvc[0]); k++) {
        uint32_t got = rv_expand_c(rvc[k].c);
        if (got != rvc[k].w)
            fail_msg("c 0x%04x: expanded 0x%08x, assembler 0x%08x", rvc[k].c, got, rvc[k].w);
    }
    /* reserved encodings */
    assert_int_equal(rv_expand_c(0x0000), 0);      /* all zero */
    assert_int_equal(rv_expand_c(0x0000 | (0 << 5)), 0);   /* c.addi4spn imm 0 */
    assert_int_equal(rv_expand_c(0x6101 & ~0x107c), 0);    /* c.addi16sp imm 0 */
    assert_int_equal(rv_expand_c(0x4082 & ~0x0f80), 0);    /* c.lwsp rd 0 */
    assert_int_equal(rv_expand_c(0x8002), 0);              /* c.jr x0 */
    assert_int_equal(rv_expand_c(0x9c41 | 0x0040), 0);     /* reserved c.subw-space op */
}

/* ---- a flat user machine over 64 KiB at 0x10000 (all RWX) ---- */
#define BASE 0x10000ULL
#define SIZE 0x10000ULL
static uint8_t *space;

static int fill(struct rv_hart *h, uint64_t va, enum rv_access acc, uintptr_t *addend, uint64_t *pa)
{
    (void)h; (void)pa;
    if (va < BASE || va >= BASE + SIZE)
        return acc == RV_ACC_READ ? -RV_EXC_LOAD_PAGE : acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE
                                                                           : -RV_EXC_INSN_PAGE;
    *addend = (uintptr_t)space - BASE;
    return 0;
}
static const struct rv_mem_ops ops = { .fill_tlb = fill };
static struct rv_machine *mach;

static int setup(void **state)
{
    (void)state;
    space = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(space, 0, SIZE);
    if (!mach)
        mach = rv_machine_new_user(&ops);
    return 0;
}
static int teardown(void **state)
{
    (void)state;
    munmap(space, SIZE);
    return 0;
}

static void put(uint64_t addr, const uint32_t *w, size_t n)
{
    memcpy(space + (addr - BASE), w, n * 4);
}

#define ECALL 0x00000073u
static uint32_t addi(unsigned rd, unsigned rs1, int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13; }
static uint32_t sw(unsigned rs2, unsigned rs1, int imm)
{
    return ((uint32_t)((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (2u << 12) | ((uint32_t)(imm & 31) << 7) | 0x23;
}
static uint32_t lw(unsigned rd, unsigned rs1, int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (2u << 12) | (rd << 7) | 0x03; }
static uint32_t auipc(unsigned rd) { return (rd << 7) | 0x17; }

/* A store that rewrites an instruction later in the same block: the new
 * instruction must run (the block is invalidated by the store). */
static void test_self_modifying(void **state)
{
    (void)state;
    uint32_t prog[] = {
        auipc(5),              /* t0 = pc (0x10000) */
        lw(6, 5, 24),          /* t1 = the replacement word at +24 */
        sw(6, 5, 16),          /* overwrite the instruction at +16 */
        addi(10, 0, 1),        /* a0 = 1 */
        addi(10, 10, 100),     /* replaced by: a0 = a0 + 7 */
        ECALL,
        addi(10, 10, 7),       /* data: the replacement */
    };
    put(BASE, prog, 7);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    /* warm the cache with the original code first */
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), 8);
    /* five retired: the store leaves the block, which counts only what ran */
    assert_int_equal(rv_instret(h), 5);
    /* second time round: the code is already the new one */
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), 8);
    /* host-side change + rv_invalidate_code: seen at the next run */
    uint32_t w = addi(10, 10, 40);
    put(BASE + 16, &w, 1);
    uint32_t nop = addi(0, 0, 0);
    put(BASE + 8, &nop, 1);          /* no more self-modification */
    rv_invalidate_code(mach, BASE, 32);
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), 41);
    rv_hart_free(h);
}

static void test_budget_and_breakpoint(void **state)
{
    (void)state;
    uint32_t prog[] = { addi(10, 0, 1), addi(10, 10, 2), addi(10, 10, 4), addi(10, 10, 8), ECALL };
    put(BASE, prog, 5);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    assert_int_equal(rv_run(h, 1), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_pc(h), BASE + 4);
    assert_int_equal(rv_get_x(h, 10), 1);
    assert_int_equal(rv_run(h, 2), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_pc(h), BASE + 12);
    assert_int_equal(rv_get_x(h, 10), 7);
    assert_int_equal(rv_instret(h), 3);
    /* a breakpoint at +8 */
    rv_set_pc(h, BASE);
    assert_int_equal(rv_debug_breakpoint(mach, BASE + 8, true), 0);
    assert_int_equal(rv_run(h, 0), RV_EXIT_DEBUG);
    assert_int_equal(rv_get_pc(h), BASE + 8);
    assert_int_equal(rv_get_x(h, 10), 3);
    /* resuming goes past it */
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), 15);
    assert_int_equal(rv_debug_breakpoint(mach, BASE + 8, false), 0);
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    rv_hart_free(h);
}

/* Stepping (a budget shorter than the block) onto a jump the block
 * follows in line, as gdb's stepi does: the step goes to the jump's
 * target, not past it (it went on at the next word). */
static void test_step_inline_jump(void **state)
{
    (void)state;
    uint32_t prog[] = { addi(10, 0, 1), 0x0080006fu /* j +8 */, addi(10, 10, 100), addi(10, 10, 2), ECALL };
    put(BASE, prog, 5);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);      /* the whole block first: a0 = 3 */
    assert_int_equal(rv_get_x(h, 10), 3);
    rv_hart_reset(h, BASE);
    uint64_t want[] = { BASE + 4, BASE + 12, BASE + 16 }, n0 = rv_instret(h);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(rv_run(h, 1), RV_EXIT_BUDGET);
        assert_int_equal(rv_get_pc(h), want[k]);
    }
    assert_int_equal(rv_get_x(h, 10), 3);
    assert_int_equal(rv_instret(h) - n0, 3);
    rv_hart_free(h);
}

/* The debugger's watchpoints: a write one stops before the store (memory
 * untouched, pc at it), a read one before the load; the kind and address
 * come once from rv_debug_watch_take; removed, the run goes on, also on
 * pages the TLB had cached before the watchpoint was set. */
static void test_watchpoints(void **state)
{
    (void)state;
    uint32_t prog[] = {
        auipc(5),              /* t0 = 0x10000 */
        addi(6, 0, 77),
        sw(6, 5, 0x400),       /* +8: store 77 at 0x10400 */
        lw(7, 5, 0x404),       /* +12: load from 0x10404 */
        ECALL,
    };
    put(BASE, prog, 5);
    struct rv_hart *h = rv_hart_new(mach, 0);
    uint64_t a;
    unsigned kind;
    for (int pass = 0; pass < 2; pass++) {       /* the second with the TLB warm */
        rv_hart_reset(h, BASE);
        memset(space + 0x400, 0, 8);
        assert_int_equal(rv_debug_watchpoint(mach, BASE + 0x400, 4, RV_WATCH_WRITE, true), 0);
        assert_int_equal(rv_debug_watchpoint(mach, BASE + 0x404, 4, RV_WATCH_READ, true), 0);
        assert_int_equal(rv_run(h, 0), RV_EXIT_DEBUG);
        assert_int_equal(rv_get_pc(h), BASE + 8);
        assert_true(rv_debug_watch_take(h, &a, &kind));
        assert_int_equal(a, BASE + 0x400);
        assert_int_equal(kind, RV_WATCH_WRITE);
        assert_false(rv_debug_watch_take(h, &a, &kind));
        assert_int_equal(space[0x400], 0);               /* before the access */
        assert_int_equal(rv_debug_watchpoint(mach, BASE + 0x400, 4, RV_WATCH_WRITE, false), 0);
        assert_int_equal(rv_run(h, 0), RV_EXIT_DEBUG);
        assert_int_equal(rv_get_pc(h), BASE + 12);
        assert_int_equal(space[0x400], 77);
        assert_true(rv_debug_watch_take(h, &a, &kind));
        assert_int_equal(a, BASE + 0x404);
        assert_int_equal(kind, RV_WATCH_READ);
        assert_int_equal(rv_debug_watchpoint(mach, BASE + 0x404, 4, RV_WATCH_READ, false), 0);
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    }
    assert_int_equal(rv_debug_watchpoint(mach, BASE, 0, RV_WATCH_WRITE, true), -EINVAL);
    rv_hart_free(h);
}

static void test_faults(void **state)
{
    (void)state;
    uint32_t prog[] = { addi(5, 0, 0x100), lw(6, 5, 0), ECALL, 0xffffffffu };
    put(BASE, prog, 4);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    uint64_t cause, tval;
    /* load from 0x100: outside the space */
    assert_int_equal(rv_run(h, 0), RV_EXIT_FAULT);
    rv_hart_exception(h, &cause, &tval);
    assert_int_equal(cause, RV_EXC_LOAD_PAGE);
    assert_int_equal(tval, 0x100);
    assert_int_equal(rv_get_pc(h), BASE + 4);
    assert_int_equal(rv_instret(h), 1);
    /* an illegal instruction reports its bits */
    rv_set_pc(h, BASE + 12);
    assert_int_equal(rv_run(h, 0), RV_EXIT_FAULT);
    rv_hart_exception(h, &cause, &tval);
    assert_int_equal(cause, RV_EXC_ILLEGAL);
    assert_int_equal(tval, 0xffffffffu);
    /* fetch from outside */
    rv_set_pc(h, 0x4000);
    assert_int_equal(rv_run(h, 0), RV_EXIT_FAULT);
    rv_hart_exception(h, &cause, &tval);
    assert_int_equal(cause, RV_EXC_INSN_PAGE);
    assert_int_equal(tval, 0x4000);
    rv_hart_free(h);
}

/* lr.w / sc.w: success, failure after an intervening store by sc of another
 * address, and a misaligned lr faulting */
static void test_lrsc(void **state)
{
    (void)state;
    uint32_t lr_w = (0x02u << 27) | (5 << 15) | (2 << 12) | (6 << 7) | 0x2f;          /* lr.w t1,(t0) */
    uint32_t sc_w = (0x03u << 27) | (7 << 20) | (5 << 15) | (2 << 12) | (10 << 7) | 0x2f; /* sc.w a0,t2,(t0) */
    uint32_t p2[] = { auipc(5), addi(5, 5, 0x400), lr_w, addi(7, 0, 55), sc_w, addi(11, 10, 0), sc_w, ECALL };
    put(BASE, p2, 8);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 11), 0);      /* first sc succeeded */
    assert_int_equal(rv_get_x(h, 10), 1);      /* second failed: no reservation */
    uint32_t v;
    memcpy(&v, space + 0x400, 4);
    assert_int_equal(v, 55);
    /* misaligned lr.w */
    uint32_t p3[] = { auipc(5), addi(5, 5, 0x402), lr_w, ECALL };
    put(BASE, p3, 4);
    rv_invalidate_code(mach, BASE, 16);
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_FAULT);
    uint64_t cause, tval;
    rv_hart_exception(h, &cause, &tval);
    assert_int_equal(cause, RV_EXC_LOAD_MISALIGNED);
    assert_int_equal(tval, BASE + 0x402);
    rv_hart_free(h);
}

/* The block cache's tables start small and grow with the blocks: every
 * block decoded before a growth is found again after it (the same block,
 * nothing decoded twice), an invalidated page's blocks are decoded anew
 * and the others' are kept, and the code still runs right. */
static void test_cache_tables_grow(void **state)
{
    (void)state;
    enum { NB = 3000 };      /* entry points: 3000 blocks, in three pages */
    uint32_t one = addi(10, 10, 1);
    for (uint64_t a = BASE; a < BASE + 4 * NB; a += 4)
        put(a, &one, 1);
    uint32_t ec = ECALL;
    put(BASE + 4 * NB, &ec, 1);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, BASE);
    assert_int_equal(h->tbl_mask, (1u << RV_TBL_MIN_BITS) - 1);
    static struct rv_block *first[NB];
    int cause = 0;
    for (unsigned k = 0; k < NB; k++) {
        first[k] = rv_block_lookup(h, BASE + 4 * k, &cause);
        assert_non_null(first[k]);
    }
    assert_true(h->tbl_mask + 1 >= NB && h->tbl_mask < (1u << RV_HASH_BITS));
    size_t used = h->arena_used;
    for (unsigned k = 0; k < NB; k++)
        if (rv_block_lookup(h, BASE + 4 * k, &cause) != first[k])
            fail_msg("block %u: another block after the tables grew", k);
    assert_int_equal(h->arena_used, used);
    rv_code_written(h, BASE);          /* what a store to page 0 does */
    h->code_dirty = false;
    for (unsigned k = 0; k < NB; k++) {
        struct rv_block *b = rv_block_lookup(h, BASE + 4 * k, &cause);
        assert_non_null(b);
        if (k < 1024 ? b == first[k] : b != first[k])
            fail_msg("block %u (page %u): %s after page 0 was invalidated", k, k / 1024,
                     b == first[k] ? "the old block" : "decoded again");
    }
    rv_set_x(h, 10, 0);
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), NB);
    /* a whole flush keeps the tables' size and clears them */
    uint32_t mask = h->tbl_mask;
    rv_invalidate_code(mach, BASE, 4 * NB);
    rv_set_pc(h, BASE + 4 * (NB - 1));
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(h->tbl_mask, mask);
    unsigned in_hash = 0, in_jc = 0;
    for (unsigned k = 0; k <= mask; k++) {
        in_hash += h->hash[k] != NULL;
        in_jc += h->jcache[k] != NULL;
    }
    assert_int_equal(in_hash, 1);      /* the one block run since */
    assert_int_equal(in_jc, 1);
    rv_hart_free(h);
}

static uint32_t sh(unsigned rs2, unsigned rs1, int imm)
{
    return ((uint32_t)((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (1u << 12) | ((uint32_t)(imm & 31) << 7) | 0x23;
}
static uint32_t bne(unsigned rs1, unsigned rs2, int imm)
{
    uint32_t u = (uint32_t)imm;
    return (((u >> 12) & 1) << 31) | (((u >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (1u << 12) |
           (((u >> 1) & 0xf) << 8) | (((u >> 11) & 1) << 7) | 0x63;
}
static void put_at(uint64_t addr, uint32_t w, unsigned len)
{
    memcpy(space + (addr - BASE), &w, len);
}

/* test_straddle's two rewrites: the guest's store code at BASE writes the
 * halfword HALF at ADDR (a store to code), then the loop at LOOP runs 10
 * times from a1 = A1. */
static void straddle_rewrite(struct rv_hart *h, uint32_t half, uint64_t addr, uint64_t loop, uint64_t a1)
{
    rv_set_x(h, 6, half);
    rv_set_x(h, 7, addr);
    rv_set_pc(h, BASE);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    rv_set_x(h, 5, 10);
    rv_set_x(h, 11, a1);
    rv_set_pc(h, loop);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
}

/* A 32-bit instruction across a page boundary in a hot loop: it is a
 * cached (and, when hot, translated) block of its own, not decoded again
 * at every run; a guest store to either of its halves is seen at once. */
static void test_straddle(void **state)
{
    (void)state;
    const uint64_t loop = BASE + 0xff0, ins = BASE + 0xffe;
    put_at(loop, addi(10, 10, 1), 4);
    put_at(loop + 4, addi(10, 10, 1), 4);
    put_at(loop + 8, addi(10, 10, 1), 4);
    put_at(loop + 12, 0x0001, 2);                 /* c.nop */
    put_at(ins, addi(11, 11, 1), 4);              /* 0x...ffe to 0x...1001 */
    put_at(ins + 4, addi(5, 5, -1), 4);
    put_at(ins + 8, bne(5, 0, (int)(loop - (ins + 8))), 4);
    put_at(ins + 12, ECALL, 4);
    /* at BASE: sh t1, 0(t2); ecall (the guest rewrites a half) */
    uint32_t patch[] = { sh(6, 7, 0), ECALL };
    put(BASE, patch, 2);
    struct rv_hart *h = rv_hart_new(mach, 0);
    rv_hart_reset(h, loop);
    rv_set_x(h, 5, 100);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 10), 300);
    assert_int_equal(rv_get_x(h, 11), 100);
    assert_int_equal(rv_instret(h), 100 * 7);
    int c = 0;
    struct rv_block *b = rv_block_lookup(h, ins, &c);
    assert_non_null(b);
    assert_true(b != h->step_block);
    assert_int_equal(b->n, 1);
    if (mach->jit && mach->jit_threshold < 100)
        assert_non_null(b->jit);

    /* the second half (next page): addi a1, a1, 5 */
    straddle_rewrite(h, addi(11, 11, 5) >> 16, ins + 2, loop, 0);
    assert_int_equal(rv_get_x(h, 11), 50);

    /* the first half: addi a2, a1, 5 (rd changes) */
    straddle_rewrite(h, addi(12, 11, 5) & 0xffff, ins, loop, 7);
    assert_int_equal(rv_get_x(h, 11), 7);
    assert_int_equal(rv_get_x(h, 12), 12);
    rv_hart_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rvc_expand),
        cmocka_unit_test_setup_teardown(test_self_modifying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_and_breakpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_inline_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lrsc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_tables_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_straddle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

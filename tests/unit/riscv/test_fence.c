/* fence.i and sfence.vma in system mode, interpreter and translator.
 *
 * fence.i drops the decoded code only when it may be stale: a device's or
 * a loader's write to a page holding code (guest_mem's on_write hook)
 * since the hart's last flush; a hart's own stores drop the page's code
 * at once. sfence.vma with an address drops that page's TLB entries, and
 * all of them when the address lies in a superpage an entry came from
 * (the entries are per 4 KiB page). And the translator's ways from one
 * block to the next without the dispatcher (chains across pages, jalr
 * through h->jtc) follow a page's new mapping after a TLB flush; the
 * interpreter's chains, checked against the fetch TLB, outlive a fence of
 * another page, and a translated block's exit to the dispatcher is
 * chained on that block. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rv_sysfx.h"

#define RAM 0x80000000ull
#define RAM_SIZE (4u << 20)

static uint32_t ld(unsigned rd, unsigned rs1, int imm) { return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (3u << 12) | (rd << 7) | 0x03; }
static uint32_t sfence_vma(unsigned rs1, unsigned rs2) { return 0x12000073u | (rs2 << 20) | (rs1 << 15); }
#define FENCE_I 0x0000100fu
static uint32_t jalr0(unsigned rs1) { return (rs1 << 15) | 0x67; }

struct fx {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    struct rv_hart *h;
};

static struct fx *fx_new(bool jit, const uint32_t *code, size_t n, uint64_t pa)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = rv_sysfx_machine(&f->mem, &f->bus, RAM, RAM_SIZE, 1, jit);
    assert_int_equal(mem_write(&f->mem, pa, code, n * 4), 0);
    f->h = rv_hart_new(f->m, 0);
    assert_non_null(f->h);
    return f;
}

static void fx_free(struct fx *f)
{
    rv_hart_free(f->h);
    rv_sysfx_free(f->m, &f->mem, &f->bus);
    free(f);
}

/* a0 = 1; fence.i; loop. A device then rewrites the addi (a0 = 2): the
 * next fence.i makes the hart run the new instruction. Without a write,
 * fence.i keeps the decoded code. */
static void run_fence_i(bool jit)
{
    const uint32_t code[] = { addi(10, 0, 1), FENCE_I, jal0(-8) };
    struct fx *f = fx_new(jit, code, 3, RAM);
    rv_hart_reset(f->h, RAM);
    assert_int_equal(rv_run(f->h, 300), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(f->h, 10), 1);
    uint64_t flushes = f->h->flush_count;
    assert_int_equal(rv_run(f->h, 300), RV_EXIT_BUDGET);
    assert_int_equal(f->h->flush_count, flushes);       /* 100 fence.i, nothing written */
    uint32_t two = addi(10, 0, 2);
    assert_int_equal(mem_write(&f->mem, RAM, &two, 4), 0);   /* as a device's DMA */
    assert_int_equal(rv_run(f->h, 300), RV_EXIT_BUDGET);
    if (rv_get_x(f->h, 10) != 2)
        fail_msg("jit %d: fence.i after a device wrote the code still runs the old one", jit);
    /* a write to a page without code changes nothing */
    flushes = f->h->flush_count;
    uint64_t v = 7;
    assert_int_equal(mem_write(&f->mem, RAM + 0x8000, &v, 8), 0);
    assert_int_equal(rv_run(f->h, 300), RV_EXIT_BUDGET);
    assert_int_equal(f->h->flush_count, flushes);
    /* an untracked writer (vhost): every fence.i flushes */
    mem_note_untracked(&f->mem);
    assert_int_equal(rv_run(f->h, 3), RV_EXIT_BUDGET);
    assert_true(f->h->flush_count > flushes);
    fx_free(f);
}

static void test_fence_i_interp(void **state) { (void)state; run_fence_i(false); }
static void test_fence_i_jit(void **state) { (void)state; run_fence_i(true); }

enum { PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_A = 64, PTE_D = 128 };
#define ROOT (RAM + 0x10000)
#define L1 (RAM + 0x11000)
#define L0 (RAM + 0x12000)
static uint64_t pte(uint64_t pa, unsigned flags) { return (pa >> 12) << 10 | flags; }
static void put64(struct fx *f, uint64_t pa, uint64_t v) { assert_int_equal(mem_write(&f->mem, pa, &v, 8), 0); }

/* Sv39, S-mode: code at va 0x1000 (ld a0, 0(a1); sfence.vma a2; loop);
 * va 0x2000 a 4 KiB page, va 0x200000 a 2 MiB page. The test changes a
 * leaf and checks what the load reads after the fence. */
static void run_sfence(bool jit)
{
    const uint32_t code[] = { ld(10, 11, 0), sfence_vma(12, 0), jal0(-8) };
    struct fx *f = fx_new(jit, code, 3, RAM + 0x1000);
    put64(f, ROOT, pte(L1, PTE_V));
    put64(f, L1, pte(L0, PTE_V));
    put64(f, L1 + 8, pte(RAM, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));           /* 0x200000: RAM's first 2 MiB */
    put64(f, L0 + 8, pte(RAM + 0x1000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 16, pte(RAM + 0x3000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)); /* 0x2000 */
    put64(f, RAM + 0x3000, 111);
    put64(f, RAM + 0x4000, 222);
    put64(f, RAM + 0x200000 + 0x3000, 333);
    struct rv_hart *h = f->h;
    rv_hart_reset(h, 0x1000);
    h->priv = RV_PRIV_S;
    h->satp = (8ULL << 60) | (ROOT >> 12);
    rv_update_modes(h);

    /* 4 KiB page: the fence of its own address */
    h->x[11] = 0x2000;
    h->x[12] = 0x2000;
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 111);
    put64(f, L0 + 16, pte(RAM + 0x4000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);
    if (rv_get_x(h, 10) != 222)
        fail_msg("jit %d: sfence.vma of the page kept its old translation", jit);

    /* the fence of another page keeps this one's entry: rv_tlb_flush_page
     * clears one slot (the old translation is still used, as hardware
     * may until a fence of the page) */
    h->x[12] = 0x5000;
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);     /* the entry filled again */
    assert_int_equal(rv_get_x(h, 10), 222);
    put64(f, L0 + 16, pte(RAM + 0x3000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 222);

    /* 2 MiB page: read at 0x203000, fence another address of the same
     * superpage after its leaf moved to the next 2 MiB */
    h->x[11] = 0x203000;
    h->x[12] = 0x200000 + 0x5000;
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 111);
    put64(f, L1 + 8, pte(RAM + 0x200000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    assert_int_equal(rv_run(h, 60), RV_EXIT_BUDGET);
    if (rv_get_x(h, 10) != 333)
        fail_msg("jit %d: sfence.vma inside a superpage kept its old translation", jit);
    fx_free(f);
}

static void test_sfence_interp(void **state) { (void)state; run_sfence(false); }

/* va 0x1000: call f at va 0x2000 (a chain across pages), which sets a0
 * and jumps through a1 to g at va 0x3000 (jalr: h->jtc), which sets a2
 * and jumps back to 0x1000 (a chain across pages). Then f's and g's
 * pages are mapped to other code and the TLB flushed: the next runs
 * must take the new code, not the blocks chained or cached before. */
static void run_remap(bool jit)
{
    const uint32_t main_[] = { jal(1, 0x1000), jal0(-4) };
    struct fx *f = fx_new(jit, main_, 2, RAM + 0x1000);
    const uint32_t f1[] = { addi(10, 0, 5), jalr0(11) }, f2[] = { addi(10, 0, 6), jalr0(11) };
    const uint32_t g1[] = { addi(12, 0, 7), jal0(-0x2000) }, g2[] = { addi(12, 0, 8), jal0(-0x2000) };
    assert_int_equal(mem_write(&f->mem, RAM + 0x5000, f1, sizeof(f1)), 0);
    assert_int_equal(mem_write(&f->mem, RAM + 0x6000, f2, sizeof(f2)), 0);
    assert_int_equal(mem_write(&f->mem, RAM + 0x7000, g1, sizeof(g1)), 0);
    assert_int_equal(mem_write(&f->mem, RAM + 0x8000, g2, sizeof(g2)), 0);
    put64(f, ROOT, pte(L1, PTE_V));
    put64(f, L1, pte(L0, PTE_V));
    put64(f, L0 + 8, pte(RAM + 0x1000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 16, pte(RAM + 0x5000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 24, pte(RAM + 0x7000, PTE_V | PTE_R | PTE_X | PTE_A));
    struct rv_hart *h = f->h;
    rv_hart_reset(h, 0x1000);
    h->priv = RV_PRIV_S;
    h->satp = (8ULL << 60) | (ROOT >> 12);
    rv_update_modes(h);
    h->x[11] = 0x3000;
    assert_int_equal(rv_run(h, 3000), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 5);
    assert_int_equal(rv_get_x(h, 12), 7);
    /* g's page first: f's jalr to it is translated and finds g in jtc */
    put64(f, L0 + 24, pte(RAM + 0x8000, PTE_V | PTE_R | PTE_X | PTE_A));
    rv_flush_tlb(h);
    h->x[12] = 0;
    assert_int_equal(rv_run(h, 3000), RV_EXIT_BUDGET);
    if (rv_get_x(h, 12) != 8)
        fail_msg("jit %d: after g's remap a2 = %llu (want 8)", jit, (unsigned long long)rv_get_x(h, 12));
    /* then f's: the call to it is a chain across pages */
    put64(f, L0 + 16, pte(RAM + 0x6000, PTE_V | PTE_R | PTE_X | PTE_A));
    rv_flush_tlb(h);
    h->x[10] = 0;
    assert_int_equal(rv_run(h, 3000), RV_EXIT_BUDGET);
    if (rv_get_x(h, 10) != 6)
        fail_msg("jit %d: after f's remap a0 = %llu (want 6)", jit, (unsigned long long)rv_get_x(h, 10));
    /* and back, with an sfence.vma of f's page only: the chain to it
     * checks the fetch TLB, not the generation the fence bumps */
    put64(f, L0 + 16, pte(RAM + 0x5000, PTE_V | PTE_R | PTE_X | PTE_A));
    rv_tlb_flush_page(h, 0x2000);
    h->x[10] = 0;
    assert_int_equal(rv_run(h, 3000), RV_EXIT_BUDGET);
    if (rv_get_x(h, 10) != 5)
        fail_msg("jit %d: after f's remap and a fence of its page a0 = %llu (want 5)", jit,
                 (unsigned long long)rv_get_x(h, 10));
    fx_free(f);
}

/* The interpreter's chains outlive an sfence.vma of another page: the
 * loop of run_remap (main -> f -> g across three pages), chained; then
 * the fence of an unrelated page, and f's block taken out of the lookup
 * tables (a lookup would decode it again): the next rounds follow the
 * chains and decode nothing. */
static void test_chain_after_fence(void **state)
{
    (void)state;
    const uint32_t main_[] = { jal(1, 0x1000), jal0(-4) };
    struct fx *f = fx_new(false, main_, 2, RAM + 0x1000);
    const uint32_t f1[] = { addi(10, 0, 5), jalr0(11) }, g1[] = { addi(12, 0, 7), jal0(-0x2000) };
    assert_int_equal(mem_write(&f->mem, RAM + 0x5000, f1, sizeof(f1)), 0);
    assert_int_equal(mem_write(&f->mem, RAM + 0x7000, g1, sizeof(g1)), 0);
    put64(f, ROOT, pte(L1, PTE_V));
    put64(f, L1, pte(L0, PTE_V));
    put64(f, L0 + 8, pte(RAM + 0x1000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 16, pte(RAM + 0x5000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 24, pte(RAM + 0x7000, PTE_V | PTE_R | PTE_X | PTE_A));
    struct rv_hart *h = f->h;
    rv_hart_reset(h, 0x1000);
    h->priv = RV_PRIV_S;
    h->satp = (8ULL << 60) | (ROOT >> 12);
    rv_update_modes(h);
    h->x[11] = 0x3000;
    assert_int_equal(rv_run(h, 300), RV_EXIT_BUDGET);
    int c = 0;
    struct rv_block *fb = rv_block_lookup(h, 0x2000, &c);
    assert_non_null(fb);
    rv_tlb_flush_page(h, 0x9000);
    for (unsigned j = 0; j <= h->tbl_mask; j++) {
        if (h->jcache[j] == fb)
            h->jcache[j] = NULL;
        for (struct rv_block **pp = &h->hash[j]; *pp;)
            if (*pp == fb)
                *pp = fb->hnext;
            else
                pp = &(*pp)->hnext;
    }
    size_t used = h->arena_used;
    h->pc = 0x1000;
    h->x[10] = 0;
    assert_int_equal(rv_run(h, 300), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 10), 5);
    if (h->arena_used != used)
        fail_msg("after an sfence.vma of another page the chain to f went to a lookup");
    fx_free(f);
}

/* A 32-bit instruction across a page boundary (addi a1, a1, 1 at va
 * 0x1ffe) in a loop, its two virtual pages on consecutive physical ones:
 * it is a cached block, not decoded again at every run. Then its second
 * page is mapped elsewhere (another second half: addi a1, a1, 5): after
 * the TLB flush the hart runs the new instruction; mapped back, a device's
 * write to the second half is seen after the loop's fence.i. */
static void run_straddle(bool jit)
{
    /* 0x1ff0: addi a0,a0,1; addi a0,a0,1; fence.i; c.nop; addi a1,a1,1
     * (0x1ffe-0x2001); 0x2002: j 0x1ff0 */
    const uint32_t lo[] = { addi(10, 10, 1), addi(10, 10, 1), FENCE_I };
    struct fx *f = fx_new(jit, lo, 3, RAM + 0x1ff0);
    uint8_t tail[8];
    uint16_t cnop = 0x0001;
    uint32_t ins = addi(11, 11, 1), ins5 = addi(11, 11, 5), back = jal0(-0x12);
    memcpy(tail, &cnop, 2);
    memcpy(tail + 2, &ins, 2);
    assert_int_equal(mem_write(&f->mem, RAM + 0x1ffc, tail, 4), 0);
    memcpy(tail, (uint8_t *)&ins + 2, 2);
    memcpy(tail + 2, &back, 4);
    assert_int_equal(mem_write(&f->mem, RAM + 0x2000, tail, 6), 0);
    memcpy(tail, (uint8_t *)&ins5 + 2, 2);
    assert_int_equal(mem_write(&f->mem, RAM + 0x6000, tail, 6), 0);
    put64(f, ROOT, pte(L1, PTE_V));
    put64(f, L1, pte(L0, PTE_V));
    put64(f, L0 + 8, pte(RAM + 0x1000, PTE_V | PTE_R | PTE_X | PTE_A));
    put64(f, L0 + 16, pte(RAM + 0x2000, PTE_V | PTE_R | PTE_X | PTE_A));
    struct rv_hart *h = f->h;
    rv_hart_reset(h, 0x1ff0);
    h->priv = RV_PRIV_S;
    h->satp = (8ULL << 60) | (ROOT >> 12);
    rv_update_modes(h);
    assert_int_equal(rv_run(h, 600), RV_EXIT_BUDGET);   /* 100 rounds of 6 */
    assert_int_equal(rv_get_x(h, 10), 200);
    assert_int_equal(rv_get_x(h, 11), 100);
    int c = 0;
    struct rv_block *b = rv_block_lookup(h, 0x1ffe, &c);
    assert_non_null(b);
    if (b == h->step_block)
        fail_msg("jit %d: the instruction across the pages is decoded at every run", jit);
    assert_int_equal(b->n, 1);

    put64(f, L0 + 16, pte(RAM + 0x6000, PTE_V | PTE_R | PTE_X | PTE_A));
    rv_flush_tlb(h);
    h->x[11] = 0;
    assert_int_equal(rv_run(h, 600), RV_EXIT_BUDGET);
    if (rv_get_x(h, 11) != 500)
        fail_msg("jit %d: after the second page's remap a1 = %llu (want 500)", jit,
                 (unsigned long long)rv_get_x(h, 11));

    put64(f, L0 + 16, pte(RAM + 0x2000, PTE_V | PTE_R | PTE_X | PTE_A));
    rv_flush_tlb(h);
    h->x[11] = 0;
    assert_int_equal(rv_run(h, 600), RV_EXIT_BUDGET);
    assert_int_equal(rv_get_x(h, 11), 100);
    assert_int_equal(mem_write(&f->mem, RAM + 0x2000, (uint8_t *)&ins5 + 2, 2), 0);   /* as a device's DMA */
    h->x[11] = 0;
    assert_int_equal(rv_run(h, 600), RV_EXIT_BUDGET);
    /* the first round's fence.i comes before its addi: all 100 see it */
    if (rv_get_x(h, 11) != 500)
        fail_msg("jit %d: after a device wrote the second half a1 = %llu (want 500)", jit,
                 (unsigned long long)rv_get_x(h, 11));
    fx_free(f);
}

/* Translated A (page 0) links to translated B (page 1), which leaves for
 * the dispatcher to C (page 2: csrr t0, sscratch, which the translator
 * leaves to the interpreter), then D (j A, translated). The dispatcher
 * entered D's code, which ran on through A into B: the chain slot for C
 * is B's, the block whose exit it was (h->jit_last), not D's. */
static void test_chain_after_jit_exit(void **state)
{
    (void)state;
    const uint32_t a[] = { addi(10, 10, 1), jal0(0x1000 - 4) }, b[] = { addi(11, 11, 1), jal0(0x1000 - 4) };
    const uint32_t c[] = { 0x140022f3u /* csrrs t0, sscratch, x0 */, jal0(-0x2004) };
    struct fx *f = fx_new(true, a, 2, RAM);
    assert_int_equal(mem_write(&f->mem, RAM + 0x1000, b, sizeof(b)), 0);
    assert_int_equal(mem_write(&f->mem, RAM + 0x2000, c, sizeof(c)), 0);
    struct rv_hart *h = f->h;
    rv_hart_reset(h, RAM);
    assert_int_equal(rv_run(h, 2000), RV_EXIT_BUDGET);
    assert_true(rv_get_x(h, 10) > 300);
    int e = 0;
    struct rv_block *bb = rv_block_lookup(h, RAM + 0x1000, &e), *cb = rv_block_lookup(h, RAM + 0x2000, &e);
    struct rv_block *db = rv_block_lookup(h, RAM + 0x2004, &e);
    assert_non_null(bb);
    assert_non_null(cb);
    assert_non_null(db);
    assert_non_null(bb->jit);
    assert_non_null(db->jit);
    assert_null(cb->jit);
    /* B's and D's slots cleared (the interpreter filled B's before B
     * was translated): the translated rounds chain C on B, never on D */
    bb->cpc[0] = bb->cpc[1] = db->cpc[0] = db->cpc[1] = ~0ULL;
    assert_int_equal(rv_run(h, 2000), RV_EXIT_BUDGET);
    bool in_b = (bb->cpc[0] == RAM + 0x2000 && bb->cnext[0] == cb) || (bb->cpc[1] == RAM + 0x2000 && bb->cnext[1] == cb);
    bool in_d = db->cpc[0] == RAM + 0x2000 || db->cpc[1] == RAM + 0x2000;
    if (!in_b || in_d)
        fail_msg("the exit of translated B to C is chained on %s (B's cpc %#llx %#llx, D's %#llx %#llx)",
                 in_d ? "D, where the dispatcher entered" : "neither", (unsigned long long)bb->cpc[0],
                 (unsigned long long)bb->cpc[1], (unsigned long long)db->cpc[0], (unsigned long long)db->cpc[1]);
    fx_free(f);
}

static void test_straddle_interp(void **state) { (void)state; run_straddle(false); }
static void test_straddle_jit(void **state) { (void)state; run_straddle(true); }

static void test_remap_interp(void **state) { (void)state; run_remap(false); }
static void test_remap_jit(void **state) { (void)state; run_remap(true); }
static void test_sfence_jit(void **state) { (void)state; run_sfence(true); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fence_i_interp),
        cmocka_unit_test(test_fence_i_jit),
        cmocka_unit_test(test_sfence_interp),
        cmocka_unit_test(test_sfence_jit),
        cmocka_unit_test(test_remap_interp),
        cmocka_unit_test(test_remap_jit),
        cmocka_unit_test(test_chain_after_fence),
        cmocka_unit_test(test_chain_after_jit_exit),
        cmocka_unit_test(test_straddle_interp),
        cmocka_unit_test(test_straddle_jit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

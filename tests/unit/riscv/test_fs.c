/* mstatus.FS in system mode, interpreter against translator: an F/D
 * instruction with FS off is an illegal instruction (nothing written, FS
 * still off); one that writes an f register makes FS dirty (and SD set);
 * the translator checks FS and sets it dirty once per block (jit.h's
 * jt.fs), so the blocks here put several F/D instructions after one
 * another, in a loop, and right behind a change of FS by a (translated)
 * csrc/csrs of sstatus, which ends its block today. Each
 * program runs from each FS value on both engines; the machine state after
 * (pc, mcause, mtval, mepc, mstatus, x and f registers, instret) must be
 * the same. */
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
#define TRAP (RAM + 0x1000)         /* mtvec: a loop the hart stays in */
#define DATA (RAM + 0x2000)
#define FS_SHIFT 13

static uint32_t r_type(unsigned opc, unsigned f3, unsigned f7, unsigned rd, unsigned rs1, unsigned rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}
static uint32_t fadd_d(unsigned rd, unsigned a, unsigned b) { return r_type(0x53, 0, 0x01, rd, a, b); }
static uint32_t fmul_d(unsigned rd, unsigned a, unsigned b) { return r_type(0x53, 0, 0x09, rd, a, b); }
static uint32_t fmv_d_x(unsigned rd, unsigned rs) { return r_type(0x53, 0, 0x79, rd, rs, 0); }
static uint32_t feq_d(unsigned rd, unsigned a, unsigned b) { return r_type(0x53, 2, 0x51, rd, a, b); }
static uint32_t fld(unsigned rd, unsigned rs1, int imm) { return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | 3u << 12 | rd << 7 | 0x07; }
static uint32_t fsd(unsigned rs2, unsigned rs1, int imm)
{
    uint32_t u = (uint32_t)imm;
    return (u >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | 3u << 12 | (u & 0x1f) << 7 | 0x27;
}
/* csrrc x0, sstatus, rs1 / csrrs x0, sstatus, rs1 */
static uint32_t csrc_sstatus(unsigned rs1) { return 0x100u << 20 | rs1 << 15 | 3u << 12 | 0x73; }
static uint32_t csrs_sstatus(unsigned rs1) { return 0x100u << 20 | rs1 << 15 | 2u << 12 | 0x73; }
static uint32_t bne(unsigned a, unsigned b, int off)
{
    uint32_t u = (uint32_t)off;
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | b << 20 | a << 15 | 1u << 12 | (u >> 1 & 0xf) << 8 |
           (u >> 11 & 1) << 7 | 0x63;
}

struct st {
    uint64_t pc, mcause, mtval, mepc, mstatus, instret, x[32], f[32];
};

/* The program at RAM + 4 from FS = fs in M-mode; x5 = DATA, x6 = 3.0's bits,
 * x7 = the FS mask, x8 = a loop count; budget instructions (more than a
 * block's 64: a block the budget would cut is stepped, never translated;
 * the final jal0(0) makes the block run on to 64 instructions). */
static void run(bool jit, const uint32_t *code, size_t n, unsigned fs, unsigned budget, struct st *r)
{
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m = rv_sysfx_machine(&mem, &bus, RAM, RAM_SIZE, 1, jit);
    /* a jump first (the decoder follows it: the block at RAM holds it and
     * the program), so that no F/D instruction is its block's first: a
     * block that faulted at its first instruction was not counted towards
     * translation here (2 runs of 5) */
    const uint32_t jump = jal0(4);
    assert_int_equal(mem_write(&mem, RAM, &jump, 4), 0);
    assert_int_equal(mem_write(&mem, RAM + 4, code, n * 4), 0);
    const uint32_t spin = jal0(0);
    assert_int_equal(mem_write(&mem, TRAP, &spin, 4), 0);
    const double d = 1.5;
    assert_int_equal(mem_write(&mem, DATA, &d, 8), 0);
    struct rv_hart *h = rv_hart_new(m, 0);
    assert_non_null(h);
    const double three = 3.0;
    uint64_t bits;
    memcpy(&bits, &three, 8);
    /* five times (a reset only the first: it drops the decoded code): the
     * last runs find the block translated (threshold 1; the first block
     * of a run is counted only from its second entry on) */
    rv_hart_reset(h, RAM);
    for (int k = 0; k < 5; k++) {
        rv_set_pc(h, RAM);
        h->mtvec = TRAP;
        h->mstatus = (h->mstatus & ~(3ull << FS_SHIFT)) | (uint64_t)fs << FS_SHIFT;
        rv_set_x(h, 5, DATA);
        rv_set_x(h, 6, bits);
        rv_set_x(h, 7, 3ull << FS_SHIFT);
        rv_set_x(h, 8, 40);
        rv_run(h, budget);
    }
    if (jit) {                          /* the program's first block ran translated */
        int c;
        struct rv_block *b = rv_block_lookup(h, RAM, &c);
        assert_non_null(b);
        if (!b->jit)
            fail_msg("FS %u: the block at %#llx was not translated (%u runs counted)", fs,
                     (unsigned long long)RAM, (unsigned)b->hits);
    }
    memset(r, 0, sizeof(*r));
    r->pc = rv_get_pc(h);
    r->mcause = h->mcause;
    r->mtval = h->mtval;
    r->mepc = h->mepc;
    r->mstatus = h->mstatus;
    r->instret = rv_instret(h);
    for (unsigned i = 0; i < 32; i++) {
        r->x[i] = rv_get_x(h, i);
        r->f[i] = rv_get_f(h, i);
    }
    rv_hart_free(h);
    rv_sysfx_free(m, &mem, &bus);
}

static void check(const char *name, const uint32_t *code, size_t n, unsigned budget, uint64_t want_fs_off_cause)
{
    for (unsigned fs = 0; fs < 4; fs++) {
        struct st a, b;
        run(false, code, n, fs, budget, &a);
        run(true, code, n, fs, budget, &b);
        if (memcmp(&a, &b, sizeof(a)))
            fail_msg("%s from FS %u: interpreter pc %#llx mcause %llu mepc %#llx mstatus %#llx f1 %#llx; "
                     "translator pc %#llx mcause %llu mepc %#llx mstatus %#llx f1 %#llx", name, fs,
                     (unsigned long long)a.pc, (unsigned long long)a.mcause, (unsigned long long)a.mepc,
                     (unsigned long long)a.mstatus, (unsigned long long)a.f[1], (unsigned long long)b.pc,
                     (unsigned long long)b.mcause, (unsigned long long)b.mepc, (unsigned long long)b.mstatus,
                     (unsigned long long)b.f[1]);
        if (fs == 0 && want_fs_off_cause && a.mcause != want_fs_off_cause)
            fail_msg("%s from FS off: mcause %llu, want %llu", name, (unsigned long long)a.mcause,
                     (unsigned long long)want_fs_off_cause);
    }
}

/* straight-line F/D: a move, arithmetic, a load, a store, a compare */
static void test_fs_straight(void **state)
{
    (void)state;
    const uint32_t code[] = { addi(9, 0, 1),     fmv_d_x(1, 6),   fadd_d(2, 1, 1), fmul_d(3, 2, 1),
                              fld(4, 5, 0),      fadd_d(1, 3, 4), fsd(1, 5, 8),    feq_d(10, 1, 1),
                              jal0(0) };
    check("straight", code, sizeof(code) / 4, 400, 2);
}

/* only a store and a compare (no f register written): FS is checked,
 * never set dirty by the block */
static void test_fs_no_write(void **state)
{
    (void)state;
    const uint32_t code[] = { addi(9, 0, 1), fsd(1, 5, 16), feq_d(10, 1, 1), fsd(2, 5, 24), jal0(0) };
    check("no f write", code, sizeof(code) / 4, 400, 2);
}

/* a loop over F/D instructions (a branch back to the block's start) */
static void test_fs_loop(void **state)
{
    (void)state;
    const uint32_t code[] = { fadd_d(1, 1, 0), fmv_d_x(2, 6), fmul_d(1, 1, 2), addi(8, 8, -1), bne(8, 0, -16),
                              jal0(0) };
    check("loop", code, sizeof(code) / 4, 400, 2);
}

/* FS turned off by csrc sstatus after F/D instructions made it dirty:
 * the next F/D instruction is illegal (its own pc, nothing written); and
 * turned off and on again before F/D instructions */
static void test_fs_changed(void **state)
{
    (void)state;
    const uint32_t off[] = { fmv_d_x(1, 6), fadd_d(2, 1, 1), csrc_sstatus(7), fadd_d(3, 2, 2), jal0(0) };
    check("FS off after dirty", off, sizeof(off) / 4, 400, 2);
    struct st a;
    run(true, off, sizeof(off) / 4, 3, 400, &a);
    if (a.mepc != RAM + 16 || a.mcause != 2 || ((a.mstatus >> FS_SHIFT) & 3) != 0)
        fail_msg("FS off after dirty: the fadd after it is illegal (mepc %#llx mcause %llu FS %llu)",
                 (unsigned long long)a.mepc, (unsigned long long)a.mcause,
                 (unsigned long long)((a.mstatus >> FS_SHIFT) & 3));
    const uint32_t on[] = { csrc_sstatus(7), addi(9, 0, 1), csrs_sstatus(7), fmv_d_x(1, 6), fadd_d(2, 1, 1),
                            jal0(0) };
    check("FS off then on", on, sizeof(on) / 4, 400, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fs_straight),
        cmocka_unit_test(test_fs_no_write),
        cmocka_unit_test(test_fs_loop),
        cmocka_unit_test(test_fs_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* System mode, translator against interpreter, on random programs (issue
 * 18): fuzz/riscv/sysdiff.h runs each program on two system machines (jit
 * off; jit on, threshold 1) in M-mode, S-mode with Sv39 (4 KiB and 2 MiB
 * leaves, read-only, execute-only and unmapped pages, A/D clear) and M-mode
 * with MPRV, with mstatus.FS in each state, and compares the whole hart
 * state and the RAM after every run. Programs: straight-line and looping
 * RV64IMAFD, loads and stores of every width near page boundaries (and
 * across them), csrc/csrs of sstatus.FS and sstatus.SIE (SSIP pending),
 * CSR instructions on sstatus, fflags, frm and fcsr. Seeded:
 * SYSDIFF_SEED=n SYSDIFF_PROGS=n reproduce or extend a run, and
 * SYSDIFF_FIRST=i SYSDIFF_PROGS=1 runs program i alone; a mismatch
 * prints the seed, the program and its state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../fuzz/riscv/sysdiff.h"
#include "base/base.h"

struct rng {
    uint64_t s;
};
static uint64_t rnd(struct rng *g)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return g->s;
}
static unsigned pick(struct rng *g, unsigned n) { return (unsigned)(rnd(g) % n); }

static uint32_t r_type(unsigned op, unsigned f3, unsigned f7, unsigned rd, unsigned rs1, unsigned rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t i_type(unsigned op, unsigned f3, unsigned rd, unsigned rs1, int imm)
{
    return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t s_type(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int imm)
{
    return (uint32_t)((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (uint32_t)(imm & 31) << 7 | op;
}
static uint32_t b_type(unsigned f3, unsigned rs1, unsigned rs2, int off)
{
    uint32_t o = (uint32_t)off;
    return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           ((o >> 1) & 0xf) << 8 | ((o >> 11) & 1) << 7 | 0x63;
}
static uint32_t csr(unsigned f3, unsigned rd, unsigned src, unsigned num) { return num << 20 | src << 15 | f3 << 12 | rd << 7 | 0x73; }

/* R-type integer ops: opcode, funct3, funct7 (RV64IM) */
static const struct { uint8_t op, f3, f7; } rops[] = {
    { 0x33, 0, 0 }, { 0x33, 0, 0x20 }, { 0x33, 1, 0 }, { 0x33, 2, 0 }, { 0x33, 3, 0 },
    { 0x33, 4, 0 }, { 0x33, 5, 0 }, { 0x33, 5, 0x20 }, { 0x33, 6, 0 }, { 0x33, 7, 0 },
    { 0x33, 0, 1 }, { 0x33, 1, 1 }, { 0x33, 2, 1 }, { 0x33, 3, 1 }, { 0x33, 4, 1 },
    { 0x33, 5, 1 }, { 0x33, 6, 1 }, { 0x33, 7, 1 },
    { 0x3b, 0, 0 }, { 0x3b, 0, 0x20 }, { 0x3b, 1, 0 }, { 0x3b, 5, 0 }, { 0x3b, 5, 0x20 },
    { 0x3b, 0, 1 }, { 0x3b, 4, 1 }, { 0x3b, 5, 1 }, { 0x3b, 6, 1 }, { 0x3b, 7, 1 },
};
/* F/D ops on f registers: funct7 (fmt in its low bits), funct3 (7: dynamic
 * rm, else fixed), rs2 (0xff: a register) */
static const struct { uint8_t f7, f3, rs2; } fops[] = {
    { 0x01, 7, 0xff }, { 0x05, 7, 0xff }, { 0x09, 0, 0xff }, { 0x0d, 7, 0xff }, { 0x2d, 7, 0 },   /* d */
    { 0x00, 7, 0xff }, { 0x04, 1, 0xff }, { 0x08, 7, 0xff }, { 0x0c, 2, 0xff }, { 0x2c, 7, 0 },   /* s */
    { 0x11, 0, 0xff }, { 0x11, 1, 0xff }, { 0x11, 2, 0xff }, { 0x10, 0, 0xff },                   /* fsgnj */
    { 0x15, 0, 0xff }, { 0x15, 1, 0xff }, { 0x14, 0, 0xff },                                      /* fmin/fmax */
    { 0x20, 7, 1 }, { 0x21, 7, 0 },                                                               /* fcvt.s.d, fcvt.d.s */
};

static unsigned rreg(struct rng *g) { return pick(g, 4) == 0 ? pick(g, 32) : 1 + pick(g, 8); }
static unsigned wreg(struct rng *g) { return pick(g, 16) == 0 ? 0 : 1 + pick(g, 24); }

/* an offset from a base register: mostly near it (across its page
 * boundary), sometimes anywhere in the immediate's range */
static int near(struct rng *g) { return pick(g, 4) ? (int)pick(g, 32) - 16 : (int)pick(g, 4096) - 2048; }

/* One random instruction (or a few) at p[*n]. */
static void gen_one(struct rng *g, uint32_t *p, unsigned *n, unsigned room)
{
    unsigned k = *n, c = pick(g, 100);
    unsigned base = pick(g, 2) ? 31 : 29;
    if (c < 22) {
        unsigned o = pick(g, sizeof(rops) / sizeof(rops[0]));
        p[k++] = r_type(rops[o].op, rops[o].f3, rops[o].f7, wreg(g), rreg(g), rreg(g));
    } else if (c < 34) {
        static const uint8_t f3[] = { 0, 2, 3, 4, 6, 7 };
        p[k++] = pick(g, 4) ? i_type(0x13, f3[pick(g, 6)], wreg(g), rreg(g), (int)pick(g, 4096) - 2048)
                            : i_type(pick(g, 2) ? 0x13 : 0x1b, pick(g, 2) ? 1 : 5, wreg(g), rreg(g),
                                     (int)pick(g, 32) | (pick(g, 2) ? 0x400 : 0));
    } else if (c < 36) {
        p[k++] = (uint32_t)(rnd(g) & 0xfffff000u) | wreg(g) << 7 | (pick(g, 2) ? 0x37 : 0x17);  /* lui/auipc */
    } else if (c < 48) {               /* loads, every width */
        p[k++] = i_type(0x03, pick(g, 7), wreg(g), base, near(g));
    } else if (c < 58) {               /* stores, every width */
        p[k++] = s_type(0x23, pick(g, 4), base, rreg(g), near(g));
    } else if (c < 62 && room > 2) {   /* A: through x27 = base + a small (aligned or not) offset */
        static const uint8_t f5[] = { 1, 0, 4, 12, 8, 16, 20, 24, 28, 2, 3 };
        unsigned o = pick(g, sizeof(f5)), rs2 = f5[o] == 2 ? 0 : rreg(g);
        p[k++] = i_type(0x13, 0, 27, base, pick(g, 8) ? (int)(pick(g, 8) * 8) - 32 : (int)pick(g, 64) - 32);
        p[k++] = r_type(0x2f, 2 + pick(g, 2), (unsigned)f5[o] << 2 | pick(g, 4), wreg(g), 27, rs2);
    } else if (c < 68) {               /* F/D loads and stores */
        p[k++] = pick(g, 2) ? i_type(0x07, 2 + pick(g, 2), pick(g, 32), base, near(g))
                            : s_type(0x27, 2 + pick(g, 2), base, pick(g, 32), near(g));
    } else if (c < 78) {               /* F/D arithmetic, moves, compares, conversions */
        unsigned fd = pick(g, 8), a = pick(g, 8), b = pick(g, 8);
        switch (pick(g, 8)) {
        case 0: case 1: case 2: {
            unsigned o = pick(g, sizeof(fops) / sizeof(fops[0]));
            p[k++] = r_type(0x53, fops[o].f3 == 7 && pick(g, 2) ? pick(g, 5) : fops[o].f3, fops[o].f7, fd, a,
                            fops[o].rs2 == 0xff ? b : fops[o].rs2);
            break;
        }
        case 3: p[k++] = r_type(0x43 + 4 * pick(g, 4), 7, pick(g, 8) << 2 | pick(g, 2), fd, a, b); break;  /* fmadd.. */
        case 4: p[k++] = r_type(0x53, 0, pick(g, 2) ? 0x79 : 0x78, fd, rreg(g), 0); break;  /* fmv.d.x/w.x */
        case 5: p[k++] = r_type(0x53, 0, pick(g, 2) ? 0x71 : 0x70, wreg(g), a, 0); break;  /* fmv.x.d/x.w */
        case 6: p[k++] = r_type(0x53, pick(g, 3), pick(g, 2) ? 0x51 : 0x50, wreg(g), a, b); break;  /* fle/flt/feq */
        default: p[k++] = pick(g, 2) ? r_type(0x53, pick(g, 2) ? 1 : 7, 0x61 - pick(g, 2), wreg(g), a, pick(g, 4))
                                     : r_type(0x53, 7, 0x69 - pick(g, 2), fd, rreg(g), pick(g, 4));    /* fcvt */
        }
    } else if (c < 83) {               /* sstatus: FS off/on (x28 = FS mask), SIE on (x26), reads, writes */
        switch (pick(g, 6)) {
        case 0: p[k++] = csr(3, 0, 28, 0x100); break;            /* csrc sstatus, x28 */
        case 1: p[k++] = csr(2, 0, 28, 0x100); break;            /* csrs sstatus, x28 */
        case 2: p[k++] = csr(2, 0, 26, 0x100); break;            /* csrs sstatus, x26 (SIE) */
        case 3: p[k++] = csr(2, wreg(g), 0, 0x100); break;       /* csrr rd, sstatus */
        case 4: p[k++] = csr(1 + pick(g, 3), wreg(g), rreg(g), 0x100); break;
        default: p[k++] = csr(5 + pick(g, 3), wreg(g), pick(g, 32), 0x100); break;  /* csrrwi.. */
        }
    } else if (c < 89) {               /* fflags, frm, fcsr */
        unsigned f3 = pick(g, 7) + 1;
        if (f3 == 4)
            f3 = 2;
        p[k++] = csr(f3, wreg(g), f3 >= 5 ? pick(g, 32) : pick(g, 3) ? rreg(g) : 0, 1 + pick(g, 3));
    } else if (c < 97 && room > 4) {   /* a forward branch over 1..3 instructions */
        static const unsigned f3[6] = { 0, 1, 4, 5, 6, 7 };
        p[k++] = b_type(f3[pick(g, 6)], rreg(g), pick(g, 2) ? rreg(g) : 0, 4 * (2 + (int)pick(g, 3)));
    } else {
        p[k++] = i_type(0x13, 0, wreg(g), rreg(g), (int)pick(g, 100));
    }
    *n = k;
}

/* Interesting bases: page boundaries of the data pages (VA, or PA - RAM
 * in M-mode: the same offsets), the 4 KiB / 2 MiB boundary, a 4 KiB
 * boundary inside the 2 MiB page, the end of the 2 MiB page (and of RAM). */
static uint64_t gen_base(struct rng *g)
{
    switch (pick(g, 5)) {
    case 0: case 1: return SD_DATA + 0x1000ull * (1 + pick(g, 7)) + (uint64_t)(int64_t)(near(g) / 2);
    case 2: return 0x200000 + (uint64_t)(int64_t)(near(g) / 2);
    case 3: return 0x300000 + (uint64_t)(int64_t)(near(g) / 2);
    default: return 0x400000 - 8 - pick(g, 64);
    }
}

static const uint64_t fvals[] = {
    0x3ff8000000000000ull, 0x0000000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
    0x7ff8000000000000ull, 0x7ff4000000000000ull, 0x0000000000000001ull, 0x0010000000000000ull,
    0xffffffff3fc00000ull, 0xffffffff7fc00000ull, 0xffffffff00000001ull, 0x000000003f800000ull,
    0x4008000000000000ull, 0xc1e0000000000000ull, 0x43e0000000000000ull, 0xffffffff7f800000ull,
};
static const uint64_t xvals[] = { 0, 1, (uint64_t)-1, 0x7fffffffffffffffull, 0x8000000000000000ull, 0x80000000ull,
                                  0xffffffff80000000ull, 3, 0x1ff8, 0x200000 };

static void gen_prog(struct rng *g, struct sd_prog *pr)
{
    memset(pr, 0, sizeof(*pr));
    pr->mode = (uint8_t)pick(g, 3);
    pr->fs = (uint8_t)pick(g, 4);
    pr->frm = (uint8_t)(pick(g, 4) ? 0 : pick(g, 8));
    pr->fflags = (uint8_t)(pick(g, 2) ? 1 : pick(g, 32));      /* NX accrued or not */
    for (unsigned i = 0; i < 8; i++) {
        pr->order[i] = (uint8_t)i;
        unsigned k = pick(g, 8);
        pr->perm[i] = (uint8_t)((k < 4 ? 0 : k == 4 ? 1 : k == 5 ? 2 : k == 6 ? 3 : 4) |
                                (pick(g, 8) ? 0 : 8) | (pick(g, 6) ? 0 : 16));
    }
    for (unsigned i = 7; i > 0; i--) {
        unsigned j = pick(g, i + 1);
        uint8_t t = pr->order[i];
        pr->order[i] = pr->order[j];
        pr->order[j] = t;
    }
    pr->big_ro = pick(g, 5) == 0;
    pr->deleg = (uint8_t)pick(g, 2);
    pr->ssip = pick(g, 8) == 0;
    pr->mxr = pick(g, 4) == 0;
    for (unsigned r = 1; r < 25; r++)
        pr->x[r] = pick(g, 2) ? xvals[pick(g, sizeof(xvals) / 8)] : pick(g, 2) ? rnd(g) : pick(g, 64);
    for (unsigned r = 0; r < 32; r++)
        pr->f[r] = pick(g, 4) ? fvals[pick(g, sizeof(fvals) / 8)] : rnd(g);
    pr->base31 = gen_base(g);
    pr->base29 = gen_base(g);
    pr->loops = 1 + pick(g, 6);
    /* a straight-line prologue, a counted loop (x30), an epilogue, wfi */
    uint32_t *p = pr->code;
    unsigned n = 0, max = pick(g, 4) ? 40 : 120;
    if (pick(g, 4))         /* a first instruction the translator takes: the body must get code */
        p[n++] = i_type(0x13, 0, 1 + pick(g, 24), 0, (int)pick(g, 4096) - 2048);
    for (unsigned k = pick(g, 8); k > 0; k--)
        gen_one(g, p, &n, max - n);
    if (pick(g, 3)) {
        unsigned head = n;
        for (unsigned k = 1 + pick(g, 16); k > 0 && n + 12 < max; k--)
            gen_one(g, p, &n, max - n - 8);
        p[n++] = i_type(0x13, 0, 30, 30, -1);
        p[n] = b_type(1, 30, 0, -4 * (int)(n - head));          /* bnez x30, head */
        n++;
    }
    for (unsigned k = pick(g, 8); k > 0 && n + 8 < max; k--)
        gen_one(g, p, &n, max - n - 4);
    if (pick(g, 12) == 0)   /* into a data page: X-only/RWX (zeros: illegal), else a fetch fault */
        p[n++] = i_type(0x67, 0, wreg(g), pick(g, 2) ? 31 : 29, (int)(pick(g, 8) * 4) - 16);
    p[n++] = 0x10500073u;                                       /* wfi */
    p[n++] = 0xffdff06fu;                                       /* j -4 */
    pr->n = n;
    pr->budget_cut = 1 + pick(g, 4 + n * (unsigned)pr->loops);
}

static void dump(const struct sd_prog *pr, uint64_t seed, unsigned i, const char *msg)
{
    fprintf(stderr, "sysdiff: seed %llu program %u: %s\n", (unsigned long long)seed, i, msg);
    fprintf(stderr, "  mode %u fs %u frm %u fflags %#x deleg %u ssip %u mxr %u big_ro %u loops %llu "
            "base31 %#llx base29 %#llx budget_cut %u\n  pages", pr->mode, pr->fs, pr->frm, pr->fflags,
            pr->deleg, pr->ssip, pr->mxr, pr->big_ro, (unsigned long long)pr->loops,
            (unsigned long long)pr->base31, (unsigned long long)pr->base29, pr->budget_cut);
    for (unsigned k = 0; k < 8; k++)
        fprintf(stderr, " %u->%u:%#x", k, pr->order[k], pr->perm[k]);
    fprintf(stderr, "\n  code (at +8):");
    for (unsigned k = 0; k < pr->n; k++)
        fprintf(stderr, "%s%08x", k % 8 ? " " : "\n   ", pr->code[k]);
    fprintf(stderr, "\n");
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void test_sysdiff_random(void **state)
{
    (void)state;
    static struct sd_pair pair;
    static struct sd_prog pr;
    uint64_t seed = env_u64("SYSDIFF_SEED", 1);
    unsigned progs = (unsigned)env_u64("SYSDIFF_PROGS", 3000);
    unsigned first = (unsigned)env_u64("SYSDIFF_FIRST", 0);    /* one program: SYSDIFF_FIRST=i SYSDIFF_PROGS=1 */
    log_set_level(LOG_ERROR);          /* the guests' MMIO warnings */
    assert_int_equal(sd_open(&pair), 0);
    unsigned translated = 0, modes[3] = { 0 };
    for (unsigned i = first; i < first + progs; i++) {
        struct rng g = { seed * 0x9e3779b97f4a7c15ull + i + 1 };
        for (int w = 0; w < 4; w++)
            rnd(&g);
        gen_prog(&g, &pr);
        bool tr;
        if (sd_run(&pair, &pr, &tr)) {
            dump(&pr, seed, i, pair.msg);
            sd_close(&pair);
            fail_msg("seed %llu program %u: %s", (unsigned long long)seed, i, pair.msg);
        }
        /* the body's block must have got code when it starts with an
         * addi from x0 (its first instruction may be one the translator
         * leaves to the interpreter: wfi, an illegal one, a CSR other
         * than fflags/frm/fcsr), unless it jumps into a data page at its
         * end: what the body stored there runs, and may store into the
         * code page, which drops the body's block at every run (seed 21
         * program 5255: a halfword stored at RAM+0x300010 and run is a
         * store to RAM+0xdc) */
        bool jumps_out = pr.n >= 3 && (pr.code[pr.n - 3] & 0x7f) == 0x67;
        if (!tr && (pr.code[0] & 0xff07f) == 0x13 && !jumps_out) {
            snprintf(pair.msg, sizeof(pair.msg), "the body's block was not translated (%s, %u runs counted%s)",
                     pair.body_found ? "found" : "not in the cache", pair.body_hits,
                     pair.body_failed ? ", translation failed" : "");
            dump(&pr, seed, i, pair.msg);
            fail_msg("seed %llu program %u: %s", (unsigned long long)seed, i, pair.msg);
        }
        translated += tr;
        modes[pr.mode]++;
    }
    fprintf(stderr, "sysdiff: seed %llu, %u programs (M %u, S %u, MPRV %u), body translated in %u, "
            "last run cut by the budget in %u; traps of run 3 (cause:count) to M", (unsigned long long)seed, progs,
            modes[0], modes[1], modes[2], translated, pair.budget_exits);
    for (unsigned c = 0; c < 17; c++)
        if (pair.m_cause[c])
            fprintf(stderr, c == 16 ? " irq:%u" : " %u:%u", c == 16 ? pair.m_cause[c] : c, pair.m_cause[c]);
    fprintf(stderr, ", to S");
    for (unsigned c = 0; c < 17; c++)
        if (pair.s_cause[c])
            fprintf(stderr, c == 16 ? " irq:%u" : " %u:%u", c == 16 ? pair.s_cause[c] : c, pair.s_cause[c]);
    fprintf(stderr, "\n");
    sd_close(&pair);
    assert_true(translated >= progs * 9 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysdiff_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

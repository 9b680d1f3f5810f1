/* System mode, translator against interpreter, on random programs (issue
 * 18): fuzz/riscv/sysdiff.h runs each program on two system machines (jit
 * off; jit on, threshold 1) in M-mode, S-mode with Sv39 (4 KiB and 2 MiB
 * leaves, read-only, execute-only and unmapped pages, A/D clear) and M-mode
 * with MPRV, with mstatus.FS in each state, and compares the whole hart
 * state and the RAM after every run. Programs: straight-line and looping
 * RV64IMAFD, loads and stores of every width near page boundaries (and
 * across them), PTEs changed (with or without sfence.vma), csrc/csrs of
 * sstatus.FS and sstatus.SIE (SSIP pending),
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

/* The generator draws every random value in a statement of its own
 * (function arguments are evaluated in no fixed order: two picks in one
 * call gave other programs under ASan than in the release build): V(i, n)
 * is draw i of this instruction's, reduced to [0, n). */
#define NDRAW 12
#define V(i, n) ((unsigned)(d[i] % (n)))
static unsigned rreg_of(uint64_t v) { return v % 4 == 0 ? (unsigned)(v >> 2) % 32 : 1 + (unsigned)(v >> 2) % 8; }   /* reuse a few */
/* x23 and x24 are the PTE changes' (a branch over their auipc/lui must
 * still reach a page table, not the code) */
static unsigned wreg_of(uint64_t v) { return v % 16 == 0 ? 0 : 1 + (unsigned)(v >> 4) % 22; }
/* an offset from a base register: mostly near it (across its page
 * boundary), sometimes anywhere in the immediate's range */
static int near_of(uint64_t v) { return v % 4 ? (int)((v >> 2) % 32) - 16 : (int)((v >> 2) % 4096) - 2048; }

/* One random instruction (or a few) at p[*n]. */
static void gen_one(struct rng *g, uint32_t *p, unsigned *n, unsigned room, unsigned mode)
{
    uint64_t d[NDRAW];
    for (unsigned j = 0; j < NDRAW; j++)
        d[j] = rnd(g);
    unsigned k = *n, c = V(0, 100);
    unsigned base = V(1, 2) ? 31 : 29;
    unsigned rd = wreg_of(d[2]), rs1 = rreg_of(d[3]), rs2 = rreg_of(d[4]);
    int off = near_of(d[5]);
    if (c < 22) {
        unsigned o = V(6, sizeof(rops) / sizeof(rops[0]));
        p[k++] = r_type(rops[o].op, rops[o].f3, rops[o].f7, rd, rs1, rs2);
    } else if (c < 34) {
        static const uint8_t f3[] = { 0, 2, 3, 4, 6, 7 };
        p[k++] = V(6, 4) ? i_type(0x13, f3[V(7, 6)], rd, rs1, (int)V(8, 4096) - 2048)
                         : i_type(V(7, 2) ? 0x13 : 0x1b, V(8, 2) ? 1 : 5, rd, rs1, (int)V(9, 32) | (V(10, 2) ? 0x400 : 0));
    } else if (c < 36) {
        p[k++] = (uint32_t)(d[6] & 0xfffff000u) | rd << 7 | (V(7, 2) ? 0x37 : 0x17);  /* lui/auipc */
    } else if (c < 48) {               /* loads, every width */
        p[k++] = i_type(0x03, V(6, 7), rd, base, off);
    } else if (c < 58) {               /* stores, every width */
        p[k++] = s_type(0x23, V(6, 4), base, rs2, off);
    } else if (c < 62 && room > 2) {   /* A: through x27 = base + a small (aligned or not) offset */
        static const uint8_t f5[] = { 1, 0, 4, 12, 8, 16, 20, 24, 28, 2, 3 };
        unsigned o = V(6, sizeof(f5));
        p[k++] = i_type(0x13, 0, 27, base, V(7, 8) ? (int)(V(8, 8) * 8) - 32 : (int)V(8, 64) - 32);
        p[k++] = r_type(0x2f, 2 + V(9, 2), (unsigned)f5[o] << 2 | V(10, 4), rd, 27, f5[o] == 2 ? 0 : rs2);
    } else if (c < 68) {               /* F/D loads and stores */
        p[k++] = V(6, 2) ? i_type(0x07, 2 + V(7, 2), V(8, 32), base, off) : s_type(0x27, 2 + V(7, 2), base, V(8, 32), off);
    } else if (c < 78) {               /* F/D arithmetic, moves, compares, conversions */
        unsigned fd = V(6, 8), a = V(7, 8), b = V(8, 8);
        switch (V(9, 8)) {
        case 0: case 1: case 2: {
            unsigned o = V(10, sizeof(fops) / sizeof(fops[0]));
            p[k++] = r_type(0x53, fops[o].f3 == 7 && V(11, 2) ? V(11, 10) / 2 : fops[o].f3, fops[o].f7, fd, a,
                            fops[o].rs2 == 0xff ? b : fops[o].rs2);
            break;
        }
        case 3: p[k++] = r_type(0x43 + 4 * V(10, 4), 7, V(11, 8) << 2 | V(11, 16) / 8, fd, a, b); break;  /* fmadd.. */
        case 4: p[k++] = r_type(0x53, 0, V(10, 2) ? 0x79 : 0x78, fd, rs1, 0); break;  /* fmv.d.x/w.x */
        case 5: p[k++] = r_type(0x53, 0, V(10, 2) ? 0x71 : 0x70, rd, a, 0); break;    /* fmv.x.d/x.w */
        case 6: p[k++] = r_type(0x53, V(10, 3), V(11, 2) ? 0x51 : 0x50, rd, a, b); break;  /* fle/flt/feq */
        default: p[k++] = V(10, 2) ? r_type(0x53, V(11, 2) ? 1 : 7, 0x61 - V(11, 4) / 2, rd, a, V(8, 4))
                                   : r_type(0x53, 7, 0x69 - V(11, 2), fd, rs1, V(8, 4));    /* fcvt */
        }
    } else if (c < 83) {               /* sstatus: FS off/on (x28 = FS mask), SIE on (x26), reads, writes */
        switch (V(6, 6)) {
        case 0: p[k++] = csr(3, 0, 28, 0x100); break;            /* csrc sstatus, x28 */
        case 1: p[k++] = csr(2, 0, 28, 0x100); break;            /* csrs sstatus, x28 */
        case 2: p[k++] = csr(2, 0, 26, 0x100); break;            /* csrs sstatus, x26 (SIE) */
        case 3: p[k++] = csr(2, rd, 0, 0x100); break;            /* csrr rd, sstatus */
        case 4: p[k++] = csr(1 + V(7, 3), rd, rs1, 0x100); break;
        default: p[k++] = csr(5 + V(7, 3), rd, V(8, 32), 0x100); break;  /* csrrwi.. */
        }
    } else if (c < 89) {               /* fflags, frm, fcsr */
        unsigned f3 = V(6, 7) + 1;
        if (f3 == 4)
            f3 = 2;
        p[k++] = csr(f3, rd, f3 >= 5 ? V(7, 32) : V(8, 3) ? rs1 : 0, 1 + V(9, 3));
    } else if (c < 92 && room > 6) {   /* a data page's PTE changed (a bit of V, R, W, A, D
                                        * toggled), sometimes then sfence.vma: through VA
                                        * 0x1fe000 (L0) in S/MPRV, physically in M */
        static const uint16_t bit[] = { SD_PTE_V, SD_PTE_R, SD_PTE_W, SD_PTE_A, SD_PTE_D, SD_PTE_R | SD_PTE_W };
        int pte = 8 * (16 + (int)V(6, 8));
        if (mode == SD_M) {             /* auipc x24 at code offset 8 + 4k: RAM + 0x5000 + pte from it */
            int delta = 0x5000 + pte - (8 + 4 * (int)k), hi = (delta + 0x800) >> 12;
            p[k++] = (uint32_t)hi << 12 | 24u << 7 | 0x17;
            pte = delta - (hi << 12);
        } else {
            p[k++] = 0x1feu << 12 | 24u << 7 | 0x37;     /* lui x24, 0x1fe */
        }
        p[k++] = i_type(0x03, 3, 23, 24, pte);
        p[k++] = i_type(0x13, 4, 23, 23, bit[V(7, 6)]);
        p[k++] = s_type(0x23, 3, 24, 23, pte);
        if (V(8, 2))
            p[k++] = 0x12000073u;                        /* sfence.vma */
    } else if (c < 97 && room > 4) {   /* a forward branch over 1..3 instructions */
        static const unsigned f3[6] = { 0, 1, 4, 5, 6, 7 };
        p[k++] = b_type(f3[V(6, 6)], rs1, V(7, 2) ? rs2 : 0, 4 * (2 + (int)V(8, 3)));
    } else {
        p[k++] = i_type(0x13, 0, rd, rs1, (int)V(6, 100));
    }
    *n = k;
}

/* Interesting bases: page boundaries of the data pages (VA, or PA - RAM
 * in M-mode: the same offsets), the 4 KiB / 2 MiB boundary, a 4 KiB
 * boundary inside the 2 MiB page, the end of the 2 MiB page (and of RAM). */
static uint64_t gen_base(struct rng *g)
{
    uint64_t d[3] = { rnd(g), 0, 0 };
    d[1] = rnd(g);
    d[2] = rnd(g);
    uint64_t half = (uint64_t)(int64_t)(near_of(d[2]) / 2);
    switch (V(0, 5)) {
    case 0: case 1: return SD_DATA + 0x1000ull * (1 + V(1, 7)) + half;
    case 2: return 0x200000 + half;
    case 3: return 0x300000 + half;
    default: return 0x400000 - 8 - V(1, 64);
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
        unsigned k = pick(g, 8), a_clear = pick(g, 8) == 0, d_clear = pick(g, 6) == 0;
        pr->perm[i] = (uint8_t)((k < 4 ? 0 : k == 4 ? 1 : k == 5 ? 2 : k == 6 ? 3 : 4) | (a_clear ? 8 : 0) |
                                (d_clear ? 16 : 0));
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
    pr->x[24] = pr->mode == SD_M ? SD_RAM + SD_PT + 0x2000 : 0x1fe000;  /* L0, as a PTE change sets it */
    pr->base31 = gen_base(g);
    pr->base29 = gen_base(g);
    pr->loops = 1 + pick(g, 6);
    /* a straight-line prologue, a counted loop (x30), an epilogue, wfi */
    uint32_t *p = pr->code;
    unsigned n = 0, max = pick(g, 4) ? 40 : 120;
    if (pick(g, 4))         /* a first instruction the translator takes: the body must get code */
    {
        unsigned rd = 1 + pick(g, 24);
        p[n++] = i_type(0x13, 0, rd, 0, (int)pick(g, 4096) - 2048);
    }
    for (unsigned k = pick(g, 8); k > 0; k--)
        gen_one(g, p, &n, max - n, pr->mode);
    if (pick(g, 3)) {
        unsigned head = n;
        for (unsigned k = 1 + pick(g, 16); k > 0 && n + 12 < max; k--)
            gen_one(g, p, &n, max - n - 8, pr->mode);
        p[n++] = i_type(0x13, 0, 30, 30, -1);
        p[n] = b_type(1, 30, 0, -4 * (int)(n - head));          /* bnez x30, head */
        n++;
    }
    for (unsigned k = pick(g, 8); k > 0 && n + 8 < max; k--)
        gen_one(g, p, &n, max - n - 4, pr->mode);
    if (pick(g, 12) == 0) { /* into a data page: X-only/RWX (zeros: illegal), else a fetch fault */
        unsigned rd = wreg_of(rnd(g)), rs1 = pick(g, 2) ? 31 : 29;
        p[n++] = i_type(0x67, 0, rd, rs1, (int)(pick(g, 8) * 4) - 16);
    }
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
         * than fflags/frm/fcsr), unless it wrote its own code (which drops
         * the body's block at every run: seed 1 program 21 in M-mode, a
         * branch over the auipc of a PTE change, whose store then went
         * through x24 = 0x80000000 to RAM+0x64), or jumps into a data
         * page at its end: what the body stored there runs, and may store
         * into the code page (seed 21 program 5255 of an earlier
         * generator: a halfword stored at RAM+0x300010 and run was a
         * store to RAM+0xdc) */
        bool jumps_out = pr.n >= 3 && (pr.code[pr.n - 3] & 0x7f) == 0x67;
        if (!tr && (pr.code[0] & 0xff07f) == 0x13 && !jumps_out && !pair.code_changed) {
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

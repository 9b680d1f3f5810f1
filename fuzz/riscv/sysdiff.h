/* System-mode differential harness, shared by tests/unit/riscv/test_sysdiff.c
 * (random programs) and fuzz/riscv/fuzz_riscv_sys.c (fuzzer-chosen ones):
 * two system machines, one interpreting (jit off), one translating (jit
 * on, threshold 1), run the same program from the same state, and after
 * each run the whole architectural state (rv_hart_save: pc, priv, x and f
 * registers, fflags/frm, mstatus, the M- and S-mode trap CSRs, instret,
 * ...), the exit and the RAM the programs can write must be the same.
 *
 * The guest (4 MiB of RAM at SD_RAM; VA = virtual address in Sv39):
 *   PA RAM+0x0000  code: `jalr x0, 0(x25)` (the entry block, so that the
 *                  body is entered from another block and counted towards
 *                  translation), a nop, then the body at +8      VA 0x1000
 *   PA RAM+0x1000  trap handler (mtvec; stvec at VA 0x2000): wfi; j -4
 *   PA RAM+0x3000  Sv39 root, +0x4000 L1, +0x5000 L0 (VA 0 .. 2 MiB; L0
 *                  itself is at VA 0x1fe000, RW, so that a body can
 *                  change a data page's PTE)
 *   PA RAM+0x10000 eight data pages at VA 0x10000..0x18000 (shuffled, each
 *                  RW, R, X-only, RWX or unmapped, A/D sometimes clear), and
 *                  RAM+0x18000 at VA 0x1ff000 (RW), just below
 *   PA RAM+0x200000 a 2 MiB leaf at VA 0x200000 (RW or R); VA 0x400000 up
 *                  is unmapped (PA RAM+0x400000 is past the end of RAM).
 * Modes: M (physical), S (Sv39), M with MPRV and MPP=S (data through Sv39,
 * fetch physical). x25 = the body's address, x26 = sstatus.SIE, x27 a
 * scratch base the body computes, x28 = the sstatus.FS mask, x29 and x31
 * = bases near page boundaries, x30 = the loop count; a body writes x1..x24.
 * Time stands still (a constant clock) on both machines: the two engines
 * need not poll the clock the same number of times.
 * No file-scope state: everything lives in struct sd_pair. */
#ifndef VESSEL_FUZZ_RISCV_SYSDIFF_H
#define VESSEL_FUZZ_RISCV_SYSDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bus/bus.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/hart.h"
#include "mem/mem.h"

#define SD_RAM 0x80000000ull
#define SD_RAM_SIZE (4ull << 20)
#define SD_CODE_VA 0x1000ull
#define SD_TRAP_VA 0x2000ull
#define SD_PT 0x3000ull             /* offsets in RAM */
#define SD_DATA 0x10000ull
#define SD_MAX_INSNS 960            /* body words: the code page less the stub */
#define SD_FS_MASK (3ull << 13)

enum sd_mode { SD_M, SD_S, SD_MPRV };

/* A program and its initial state: everything a run depends on. */
struct sd_prog {
    uint32_t code[SD_MAX_INSNS];
    unsigned n;
    uint8_t mode, fs, frm, fflags;
    uint8_t perm[8];        /* data page i: 0 RW, 1 R, 2 X only, 3 RWX, 4 unmapped; |8 A clear, |16 D clear */
    uint8_t order[8];       /* data VA page i -> PA page order[i] */
    uint8_t big_ro;         /* the 2 MiB leaf read-only */
    uint8_t deleg;          /* medeleg: page faults and illegal instructions to S */
    uint8_t ssip;           /* SSIP pending, SSIE enabled and delegated */
    uint8_t mxr;
    uint64_t x[25], f[32];  /* x1..x24 (x[0] unused), f0..f31 */
    uint64_t base31, base29, loops;
    uint32_t budget_cut;    /* the budget of the last run */
    uint32_t budget;        /* of the other runs; 0: 50000 */
};

struct sd_machine {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    uint64_t ticks;
};

struct sd_pair {
    struct sd_machine e[2];     /* 0 interprets, 1 translates */
    char msg[512];              /* the first difference */
    bool full_ram;              /* clear and compare all RAM (else sd_ranges) */
    /* what the runs of run 3 (translated) ended in: exception causes
     * taken to M and to S (an interrupt as 16), runs cut by the budget */
    unsigned m_cause[17], s_cause[17], budget_exits;
    /* the body's block after run 3 on the translating machine: found,
     * its count and whether translation failed (for a message) */
    bool body_found, body_failed;
    bool code_changed;          /* the program wrote its own code page (self-modifying) */
    unsigned body_hits;
};

struct sd_result {
    struct rv_hart_state st;
    enum rv_exit ex;
};

static inline uint64_t sd_clock(void *opaque)
{
    const uint64_t *t = opaque;
    return *t;
}

static inline int sd_open(struct sd_pair *p)
{
    static const struct rv_sys_ops no_ops;
    memset(p, 0, sizeof(*p));
    for (int k = 0; k < 2; k++) {
        struct sd_machine *e = &p->e[k];
        mem_init(&e->mem);
        if (mem_add_ram(&e->mem, SD_RAM, SD_RAM_SIZE, 0) < 0)
            return -1;
        bus_init(&e->bus);
        struct rv_sys_config sc = { .mem = &e->mem, .bus = &e->bus, .ops = &no_ops, .nharts = 1 };
        e->m = rv_machine_new_sys(&sc);
        if (!e->m)
            return -1;
        e->m->jit = k == 1;
        e->m->jit_threshold = 1;
        e->m->jit_async = false;    /* translated at once, on this thread: reproducible */
        rv_machine_set_clock(e->m, sd_clock, &e->ticks);
    }
    return 0;
}

static inline void sd_close(struct sd_pair *p)
{
    for (int k = 0; k < 2; k++) {
        struct sd_machine *e = &p->e[k];
        if (e->m) {
            rv_machine_set_clock(e->m, NULL, NULL);
            rv_machine_free(e->m);
        }
        bus_destroy(&e->bus);
        mem_destroy(&e->mem);
    }
}

/* The RAM ranges a program can write (or the walk can, A/D bits): cleared
 * before a program, compared after each run. */
static const struct { uint64_t off, len; } sd_ranges[] = {
    { 0, 0x20000 }, { 0x1ff000, 0x2000 }, { 0x2ff000, 0x2000 }, { 0x3fe000, 0x2000 },
};

static inline uint8_t *sd_host(struct sd_machine *e, uint64_t off) { return (uint8_t *)e->mem.r[0].host + off; }

static inline void sd_w64(struct sd_machine *e, uint64_t off, uint64_t v) { memcpy(sd_host(e, off), &v, 8); }

#define SD_PTE_V 1u
#define SD_PTE_R 2u
#define SD_PTE_W 4u
#define SD_PTE_X 8u
#define SD_PTE_A 0x40u
#define SD_PTE_D 0x80u
static inline uint64_t sd_pte(uint64_t pa, unsigned flags) { return (pa >> 12) << 10 | flags; }

/* RAM as a program starts: cleared, code and page tables written. */
static inline void sd_load(struct sd_machine *e, const struct sd_prog *pr, bool full)
{
    if (full)
        memset(sd_host(e, 0), 0, SD_RAM_SIZE);
    for (size_t r = 0; !full && r < sizeof(sd_ranges) / sizeof(sd_ranges[0]); r++)
        memset(sd_host(e, sd_ranges[r].off), 0, sd_ranges[r].len);
    uint32_t stub[2] = { 0x000c8067u /* jalr x0, 0(x25) */, 0x00000013u };
    memcpy(sd_host(e, 0), stub, 8);
    memcpy(sd_host(e, 8), pr->code, (pr->n < SD_MAX_INSNS ? pr->n : SD_MAX_INSNS) * 4);
    const uint32_t trap[2] = { 0x10500073u /* wfi */, 0xffdff06fu /* j -4 */ };
    memcpy(sd_host(e, 0x1000), trap, 8);
    const unsigned ad = SD_PTE_A | SD_PTE_D;
    sd_w64(e, SD_PT, sd_pte(SD_RAM + SD_PT + 0x1000, SD_PTE_V));                          /* root[0] -> L1 */
    sd_w64(e, SD_PT + 0x1000, sd_pte(SD_RAM + SD_PT + 0x2000, SD_PTE_V));                 /* L1[0] -> L0 */
    sd_w64(e, SD_PT + 0x1000 + 8, sd_pte(SD_RAM + 0x200000,
                                          SD_PTE_V | SD_PTE_R | (pr->big_ro ? 0 : SD_PTE_W) | ad));  /* L1[1]: 2 MiB */
    uint64_t l0 = SD_PT + 0x2000;
    sd_w64(e, l0 + 8 * (SD_CODE_VA >> 12), sd_pte(SD_RAM, SD_PTE_V | SD_PTE_R | SD_PTE_X | SD_PTE_A));
    sd_w64(e, l0 + 8 * (SD_TRAP_VA >> 12), sd_pte(SD_RAM + 0x1000, SD_PTE_V | SD_PTE_R | SD_PTE_X | SD_PTE_A));
    for (unsigned i = 0; i < 8; i++) {
        static const unsigned kind[5] = { SD_PTE_R | SD_PTE_W, SD_PTE_R, SD_PTE_X, SD_PTE_R | SD_PTE_W | SD_PTE_X, 0 };
        unsigned p = pr->perm[i], k = p & 7;
        if (k >= 5 || kind[k] == 0)
            continue;
        unsigned fl = SD_PTE_V | kind[k] | (p & 8 ? 0 : SD_PTE_A) | (p & 16 ? 0 : SD_PTE_D);
        sd_w64(e, l0 + 8 * (16 + i), sd_pte(SD_RAM + SD_DATA + 0x1000ull * (pr->order[i] & 7), fl));
    }
    sd_w64(e, l0 + 8 * 511, sd_pte(SD_RAM + 0x18000, SD_PTE_V | SD_PTE_R | SD_PTE_W | ad));
    sd_w64(e, l0 + 8 * 510, sd_pte(SD_RAM + SD_PT + 0x2000, SD_PTE_V | SD_PTE_R | SD_PTE_W | ad));  /* L0 itself */
    rv_invalidate_code(e->m, SD_RAM, SD_RAM_SIZE);
}

/* The state a run starts from (the registers again at every run; RAM is
 * what the runs before left). */
static inline void sd_enter(struct rv_hart *h, const struct sd_prog *pr)
{
    bool s = pr->mode == SD_S;
    uint64_t va = pr->mode != SD_M;        /* data through Sv39 */
    rv_set_priv(h, RV_PRIV_M);
    rv_csr_write(h, 0x180, va ? 8ull << 60 | ((SD_RAM + SD_PT) >> 12) : 0);       /* satp */
    uint64_t ms = h->mstatus & ~(SD_FS_MASK | 1ull << 17 | 3ull << 11 | 1ull << 19 | 0xaull);
    ms |= (uint64_t)(pr->fs & 3) << 13 | (pr->mxr ? 1ull << 19 : 0);
    if (pr->mode == SD_MPRV)
        ms |= 1ull << 17 | 1ull << 11;     /* MPRV, MPP = S */
    rv_csr_write(h, 0x300, ms);
    rv_csr_write(h, 0x305, SD_RAM + 0x1000);                                       /* mtvec */
    rv_csr_write(h, 0x105, SD_TRAP_VA);                                            /* stvec */
    rv_csr_write(h, 0x302, pr->deleg ? (1u << 2 | 1u << 12 | 1u << 13 | 1u << 15 | 1u << 5 | 1u << 7) : 0);
    rv_csr_write(h, 0x303, pr->ssip ? 1u << RV_IRQ_SSI : 0);                       /* mideleg */
    rv_csr_write(h, 0x304, pr->ssip ? 1u << RV_IRQ_SSI : 0);                       /* mie */
    rv_set_irq(h, RV_IRQ_SSI, pr->ssip);
    rv_csr_write(h, 0x003, (uint64_t)(pr->frm & 7) << 5 | (pr->fflags & 31));     /* fcsr */
    for (unsigned r = 1; r < 25; r++)
        rv_set_x(h, r, pr->x[r]);
    for (unsigned r = 0; r < 32; r++)
        rv_set_f(h, r, pr->f[r]);
    uint64_t code = s ? SD_CODE_VA : SD_RAM;
    uint64_t data = va ? 0 : SD_RAM;       /* bases are offsets: VA, or PA - RAM */
    rv_set_x(h, 25, code + 8);
    rv_set_x(h, 26, 2);
    rv_set_x(h, 27, data + pr->base31);
    rv_set_x(h, 28, SD_FS_MASK);
    rv_set_x(h, 29, data + pr->base29);
    rv_set_x(h, 30, pr->loops);
    rv_set_x(h, 31, data + pr->base31);
    rv_set_pc(h, code);
    if (s)
        rv_set_priv(h, RV_PRIV_S);
}

static inline void sd_diff(char *msg, size_t len, const char *what, unsigned run, uint64_t a, uint64_t b)
{
    if (!msg[0])
        snprintf(msg, len, "run %u: %s interpreted %#llx, translated %#llx", run, what, (unsigned long long)a,
                 (unsigned long long)b);
}

/* The runs of one program on both machines; 0, or -1 with p->msg set to
 * the first difference. *translated: whether the body's block got code. */
static inline int sd_run(struct sd_pair *p, const struct sd_prog *pr, bool *translated)
{
    struct rv_hart *h[2];
    struct sd_result res[2];
    p->msg[0] = 0;
    *translated = false;
    for (int k = 0; k < 2; k++) {
        p->e[k].ticks = 1000000;
        sd_load(&p->e[k], pr, p->full_ram);
        h[k] = rv_hart_new(p->e[k].m, 0);
        if (!h[k])
            return snprintf(p->msg, sizeof(p->msg), "rv_hart_new failed"), -1;
        rv_hart_reset(h[k], SD_RAM);
    }
    /* runs 0-2 with a budget the program never reaches (run 1 counts the
     * body, run 2 translates it, run 3 runs its code), run 4 cut short */
    for (unsigned run = 0; run < 5 && !p->msg[0]; run++) {
        uint64_t budget = run < 4 ? (pr->budget ? pr->budget : 50000) : pr->budget_cut;
        for (int k = 0; k < 2; k++) {
            sd_enter(h[k], pr);
            res[k].ex = rv_run(h[k], budget);
            rv_hart_save(h[k], &res[k].st);
        }
        if (run == 3) {
            int c;
            rv_set_priv(h[1], pr->mode == SD_S ? RV_PRIV_S : RV_PRIV_M);
            struct rv_block *b = rv_block_lookup(h[1], (pr->mode == SD_S ? SD_CODE_VA : SD_RAM) + 8, &c);
            *translated = b && b->jit;
            p->body_found = b != NULL;
            p->body_hits = b ? b->hits : 0;
            p->body_failed = b && b->jit_failed;
            /* the whole code page: the stub, the body, the zeros after it */
            unsigned nb = pr->n < SD_MAX_INSNS ? pr->n : SD_MAX_INSNS;
            const uint8_t *cp = sd_host(&p->e[1], 0);
            const uint32_t stub0 = 0x000c8067u, stub1 = 0x00000013u;
            p->code_changed = memcmp(cp, &stub0, 4) || memcmp(cp + 4, &stub1, 4) || memcmp(cp + 8, pr->code, nb * 4);
            for (size_t o = 8 + nb * 4; o < 0x1000 && !p->code_changed; o++)
                p->code_changed = cp[o] != 0;
            const struct rv_hart_state *t = &res[1].st;
            if (t->mcause)
                p->m_cause[t->mcause >> 63 ? 16 : t->mcause & 15]++;
            if (t->scause)
                p->s_cause[t->scause >> 63 ? 16 : t->scause & 15]++;
        }
        if (run == 4 && res[1].ex == RV_EXIT_BUDGET)
            p->budget_exits++;
        const struct rv_hart_state *a = &res[0].st, *b = &res[1].st;
        char *m = p->msg;
        size_t ml = sizeof(p->msg);
        if (res[0].ex != res[1].ex)
            sd_diff(m, ml, "exit", run, res[0].ex, res[1].ex);
        if (a->pc != b->pc) sd_diff(m, ml, "pc", run, a->pc, b->pc);
        if (a->priv != b->priv) sd_diff(m, ml, "priv", run, a->priv, b->priv);
        if (a->minstret != b->minstret) sd_diff(m, ml, "instret", run, a->minstret, b->minstret);
        if (a->mcause != b->mcause) sd_diff(m, ml, "mcause", run, a->mcause, b->mcause);
        if (a->mepc != b->mepc) sd_diff(m, ml, "mepc", run, a->mepc, b->mepc);
        if (a->mtval != b->mtval) sd_diff(m, ml, "mtval", run, a->mtval, b->mtval);
        if (a->scause != b->scause) sd_diff(m, ml, "scause", run, a->scause, b->scause);
        if (a->sepc != b->sepc) sd_diff(m, ml, "sepc", run, a->sepc, b->sepc);
        if (a->stval != b->stval) sd_diff(m, ml, "stval", run, a->stval, b->stval);
        if (a->mstatus != b->mstatus) sd_diff(m, ml, "mstatus", run, a->mstatus, b->mstatus);
        if (a->fflags != b->fflags) sd_diff(m, ml, "fflags", run, a->fflags, b->fflags);
        if (a->frm != b->frm) sd_diff(m, ml, "frm", run, a->frm, b->frm);
        for (unsigned r = 0; r < 32; r++) {
            char what[8];
            snprintf(what, sizeof(what), "x%u", r);
            if (a->x[r] != b->x[r]) sd_diff(m, ml, what, run, a->x[r], b->x[r]);
            snprintf(what, sizeof(what), "f%u", r);
            if (a->f[r] != b->f[r]) sd_diff(m, ml, what, run, a->f[r], b->f[r]);
        }
        if (h[0]->mstatus != h[1]->mstatus)    /* SD too, as the hart keeps it */
            sd_diff(m, ml, "mstatus (raw)", run, h[0]->mstatus, h[1]->mstatus);
        if (!m[0] && memcmp(a, b, sizeof(*a)))
            sd_diff(m, ml, "another CSR (rv_hart_state)", run, 0, 0);
        for (size_t r = 0; !m[0] && r < sizeof(sd_ranges) / sizeof(sd_ranges[0]); r++)
            for (uint64_t o = sd_ranges[r].off; o < sd_ranges[r].off + sd_ranges[r].len; o += 8) {
                uint64_t va, vb;
                memcpy(&va, sd_host(&p->e[0], o), 8);
                memcpy(&vb, sd_host(&p->e[1], o), 8);
                if (va != vb) {
                    char what[40];
                    snprintf(what, sizeof(what), "RAM+%#llx", (unsigned long long)o);
                    sd_diff(m, ml, what, run, va, vb);
                    break;
                }
            }
        if (!m[0] && p->full_ram && run == 4 && memcmp(sd_host(&p->e[0], 0), sd_host(&p->e[1], 0), SD_RAM_SIZE))
            sd_diff(m, ml, "RAM", run, 0, 0);
        for (int k = 0; k < 2; k++)
            if (res[k].ex == RV_EXIT_HALT)
                rv_hart_resume(h[k]);
    }
    for (int k = 0; k < 2; k++)
        rv_hart_free(h[k]);
    return p->msg[0] ? -1 : 0;
}

#endif

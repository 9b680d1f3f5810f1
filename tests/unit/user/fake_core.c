/* A tiny RV64I interpreter implementing the riscv.h hart API, only so the
 * user-mode run loop (run.c: syscalls, signal frames, threads) can be tested
 * before the real RV64GC core is linked. Test-only; not the product. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "emu/riscv/riscv.h"
#include "fake_core.h"

struct rv_machine { const struct rv_mem_ops *ops; };
struct rv_hart {
    struct rv_machine *m;
    uint64_t x[32], f[32], pc, fcsr, cause, tval, resv, resv_val;
    atomic_bool kick;
};

struct rv_machine *rv_machine_new_user(const struct rv_mem_ops *ops)
{
    struct rv_machine *m = calloc(1, sizeof(*m));
    m->ops = ops;
    return m;
}
struct rv_hart *rv_hart_new(struct rv_machine *m, unsigned id)
{
    struct rv_hart *h = calloc(1, sizeof(*h));
    h->m = m;
    return h;
}
void rv_hart_free(struct rv_hart *h) { free(h); }
void rv_hart_reset(struct rv_hart *h, uint64_t pc) { memset(h->x, 0, sizeof(h->x)); h->pc = pc; }
uint64_t rv_get_x(const struct rv_hart *h, unsigned r) { return r ? h->x[r] : 0; }
void rv_set_x(struct rv_hart *h, unsigned r, uint64_t v) { if (r) h->x[r] = v; }
uint64_t rv_get_f(const struct rv_hart *h, unsigned r) { return h->f[r]; }
void rv_set_f(struct rv_hart *h, unsigned r, uint64_t v) { h->f[r] = v; }
uint64_t rv_get_pc(const struct rv_hart *h) { return h->pc; }
void rv_set_pc(struct rv_hart *h, uint64_t pc) { h->pc = pc; }
int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *v)
{
    if (csr != 3) return -1;
    *v = h->fcsr;
    return 0;
}
int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t v)
{
    if (csr != 3) return -1;
    h->fcsr = v;
    return 0;
}
void rv_kick(struct rv_hart *h) { atomic_store(&h->kick, true); }
void rv_invalidate_code(struct rv_machine *m, uint64_t a, uint64_t l) { }
void rv_flush_tlb(struct rv_hart *h) { }
void rv_hart_exception(const struct rv_hart *h, uint64_t *cause, uint64_t *tval)
{
    *cause = h->cause;
    *tval = h->tval;
}

static void *mem(struct rv_hart *h, uint64_t a, enum rv_access acc, int *cause)
{
    uintptr_t add;
    uint64_t pa;
    int r = h->m->ops->fill_tlb(h, a, acc, &add, &pa);
    if (r != 0) {
        *cause = -r;
        return NULL;
    }
    return (void *)(a + add);
}

#define LD(T, p) ({ T v_; memcpy(&v_, (p), sizeof(T)); v_; })
#define ST(T, p, v) do { T v_ = (T)(v); memcpy((p), &v_, sizeof(T)); } while (0)
#define SEXT(v, b) ((int64_t)((uint64_t)(v) << (64 - (b))) >> (64 - (b)))
#define BITS(v, hi, lo) (((v) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

static uint32_t enc_i(unsigned op, unsigned rd, unsigned f3, unsigned rs1, int32_t imm)
{ return ((uint32_t)imm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op; }
static uint32_t enc_s(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{ return ((uint32_t)(imm >> 5 & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31u) << 7) | op; }
static uint32_t enc_r(unsigned op, unsigned rd, unsigned f3, unsigned rs1, unsigned rs2, unsigned f7)
{ return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op; }
static uint32_t enc_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t o)
{
    uint32_t u = (uint32_t)o;
    return ((u >> 12 & 1) << 31) | ((u >> 5 & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) |
           (f3 << 12) | ((u >> 1 & 0xf) << 8) | ((u >> 11 & 1) << 7) | 0x63;
}
static uint32_t enc_j(unsigned rd, int32_t o)
{
    uint32_t u = (uint32_t)o;
    return ((u >> 20 & 1) << 31) | ((u >> 1 & 0x3ff) << 21) | ((u >> 11 & 1) << 20) |
           ((u >> 12 & 0xff) << 12) | (rd << 7) | 0x6f;
}

/* RVC -> the equivalent 32-bit instruction (0 = illegal). */
static uint32_t expand_c(uint16_t c)
{
    unsigned q = c & 3, f3 = c >> 13, r = BITS(c, 11, 7), rs2 = BITS(c, 6, 2);
    unsigned rp = 8 + BITS(c, 9, 7), rp2 = 8 + BITS(c, 4, 2);
    switch (q << 3 | f3) {
    case 000: {   /* c.addi4spn */
        uint32_t imm = (BITS(c, 10, 7) << 6) | (BITS(c, 12, 11) << 4) | (BITS(c, 5, 5) << 3) | (BITS(c, 6, 6) << 2);
        return imm ? enc_i(0x13, rp2, 0, 2, (int32_t)imm) : 0;
    }
    case 001: return enc_i(0x07, rp2, 3, rp, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6)));  /* c.fld */
    case 002: return enc_i(0x03, rp2, 2, rp, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 6) << 2) | (BITS(c, 5, 5) << 6)));
    case 003: return enc_i(0x03, rp2, 3, rp, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6)));  /* c.ld */
    case 005: return enc_s(0x27, 3, rp, rp2, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6)));  /* c.fsd */
    case 006: return enc_s(0x23, 2, rp, rp2, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 6) << 2) | (BITS(c, 5, 5) << 6)));
    case 007: return enc_s(0x23, 3, rp, rp2, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6)));  /* c.sd */
    case 010: return enc_i(0x13, r, 0, r, (int32_t)SEXT((BITS(c, 12, 12) << 5) | rs2, 6));   /* c.addi */
    case 011: return r ? enc_i(0x1b, r, 0, r, (int32_t)SEXT((BITS(c, 12, 12) << 5) | rs2, 6)) : 0;  /* c.addiw */
    case 012: return enc_i(0x13, r, 0, 0, (int32_t)SEXT((BITS(c, 12, 12) << 5) | rs2, 6));   /* c.li */
    case 013:
        if (r == 2) {   /* c.addi16sp */
            int32_t imm = (int32_t)SEXT((BITS(c, 12, 12) << 9) | (BITS(c, 4, 3) << 7) | (BITS(c, 5, 5) << 6) |
                                        (BITS(c, 2, 2) << 5) | (BITS(c, 6, 6) << 4), 10);
            return imm ? enc_i(0x13, 2, 0, 2, imm) : 0;
        } else {        /* c.lui */
            int32_t imm = (int32_t)SEXT((BITS(c, 12, 12) << 17) | (rs2 << 12), 18);
            return imm ? ((uint32_t)imm & 0xfffff000u) | (r << 7) | 0x37 : 0;
        }
    case 014: {
        unsigned f2 = BITS(c, 11, 10);
        int32_t imm = (int32_t)((BITS(c, 12, 12) << 5) | rs2);
        if (f2 == 0) return enc_i(0x13, rp, 5, rp, imm);                 /* srli */
        if (f2 == 1) return enc_i(0x13, rp, 5, rp, imm | 0x400);         /* srai */
        if (f2 == 2) return enc_i(0x13, rp, 7, rp, (int32_t)SEXT(imm, 6)); /* andi */
        unsigned f = (BITS(c, 12, 12) << 2) | BITS(c, 6, 5);
        switch (f) {
        case 0: return enc_r(0x33, rp, 0, rp, rp2, 0x20);   /* sub */
        case 1: return enc_r(0x33, rp, 4, rp, rp2, 0);      /* xor */
        case 2: return enc_r(0x33, rp, 6, rp, rp2, 0);      /* or */
        case 3: return enc_r(0x33, rp, 7, rp, rp2, 0);      /* and */
        case 4: return enc_r(0x3b, rp, 0, rp, rp2, 0x20);   /* subw */
        case 5: return enc_r(0x3b, rp, 0, rp, rp2, 0);      /* addw */
        default: return 0;
        }
    }
    case 015: return enc_j(0, (int32_t)SEXT((BITS(c, 12, 12) << 11) | (BITS(c, 8, 8) << 10) | (BITS(c, 10, 9) << 8) |
                                            (BITS(c, 6, 6) << 7) | (BITS(c, 7, 7) << 6) | (BITS(c, 2, 2) << 5) |
                                            (BITS(c, 11, 11) << 4) | (BITS(c, 5, 3) << 1), 12));
    case 016: case 017: {
        int32_t o = (int32_t)SEXT((BITS(c, 12, 12) << 8) | (BITS(c, 6, 5) << 6) | (BITS(c, 2, 2) << 5) |
                                  (BITS(c, 11, 10) << 3) | (BITS(c, 4, 3) << 1), 9);
        return enc_b(f3 == 6 ? 0 : 1, rp, 0, o);
    }
    case 020: return enc_i(0x13, r, 1, r, (int32_t)((BITS(c, 12, 12) << 5) | rs2));      /* slli */
    case 021: return enc_i(0x07, r, 3, 2, (int32_t)((BITS(c, 12, 12) << 5) | (BITS(c, 6, 5) << 3) | (BITS(c, 4, 2) << 6)));
    case 022: return r ? enc_i(0x03, r, 2, 2, (int32_t)((BITS(c, 12, 12) << 5) | (BITS(c, 6, 4) << 2) | (BITS(c, 3, 2) << 6))) : 0;
    case 023: return r ? enc_i(0x03, r, 3, 2, (int32_t)((BITS(c, 12, 12) << 5) | (BITS(c, 6, 5) << 3) | (BITS(c, 4, 2) << 6))) : 0;
    case 024:
        if (!BITS(c, 12, 12)) {
            if (!rs2) return r ? enc_i(0x67, 0, 0, r, 0) : 0;     /* jr */
            return enc_r(0x33, r, 0, 0, rs2, 0);                  /* mv */
        }
        if (!r && !rs2) return 0x00100073;                        /* ebreak */
        if (!rs2) return enc_i(0x67, 1, 0, r, 0);                 /* jalr */
        return enc_r(0x33, r, 0, r, rs2, 0);                      /* add */
    case 025: return enc_s(0x27, 3, 2, rs2, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 9, 7) << 6)));  /* fsdsp */
    case 026: return enc_s(0x23, 2, 2, rs2, (int32_t)((BITS(c, 12, 9) << 2) | (BITS(c, 8, 7) << 6)));
    case 027: return enc_s(0x23, 3, 2, rs2, (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 9, 7) << 6)));
    }
    return 0;
}

enum rv_exit rv_run(struct rv_hart *h, uint64_t budget)
{
    for (uint64_t n = 0;; n++) {
        if (atomic_exchange(&h->kick, false))
            return RV_EXIT_BUDGET;
        int cause = 0;
        uint32_t *ip = mem(h, h->pc, RV_ACC_EXEC, &cause);
        if (!ip) {
            h->cause = (uint64_t)cause; h->tval = h->pc;
            return RV_EXIT_FAULT;
        }
        uint32_t i;
        unsigned len = 4;
        if ((LD(uint16_t, ip) & 3) != 3) {
            i = expand_c(LD(uint16_t, ip));
            len = 2;
            if (!i) { h->cause = RV_EXC_ILLEGAL; h->tval = LD(uint16_t, ip); return RV_EXIT_FAULT; }
        } else {
            if (((h->pc + 2) & 0xfff) == 0) {   /* crosses a page: fetch the upper half */
                uint16_t *hi = mem(h, h->pc + 2, RV_ACC_EXEC, &cause);
                if (!hi) { h->cause = (uint64_t)cause; h->tval = h->pc + 2; return RV_EXIT_FAULT; }
                i = LD(uint16_t, ip) | ((uint32_t)LD(uint16_t, hi) << 16);
            } else {
                i = LD(uint32_t, ip);
            }
        }
        unsigned op = i & 0x7f, rd = (i >> 7) & 31, f3 = (i >> 12) & 7,
                 rs1 = (i >> 15) & 31, rs2 = (i >> 20) & 31, f7 = i >> 25;
        uint64_t a = h->x[rs1], b = h->x[rs2], npc = h->pc + len, v = 0;
        int64_t immi = SEXT(i >> 20, 12);
        int64_t imms = SEXT(((i >> 25) << 5) | ((i >> 7) & 31), 12);
        bool wr = true;
        switch (op) {
        case 0x37: v = (uint64_t)SEXT(i & 0xfffff000u, 32); break;
        case 0x17: v = h->pc + (uint64_t)SEXT(i & 0xfffff000u, 32); break;
        case 0x6f: {
            int64_t o = SEXT(((i >> 31) << 20) | (((i >> 12) & 0xff) << 12) |
                             (((i >> 20) & 1) << 11) | (((i >> 21) & 0x3ff) << 1), 21);
            v = npc; npc = h->pc + (uint64_t)o; break;
        }
        case 0x67: v = npc; npc = (a + (uint64_t)immi) & ~1ULL; break;
        case 0x63: {
            int64_t o = SEXT(((i >> 31) << 12) | (((i >> 7) & 1) << 11) |
                             (((i >> 25) & 0x3f) << 5) | (((i >> 8) & 0xf) << 1), 13);
            bool t = false;
            switch (f3) {
            case 0: t = a == b; break; case 1: t = a != b; break;
            case 4: t = (int64_t)a < (int64_t)b; break; case 5: t = (int64_t)a >= (int64_t)b; break;
            case 6: t = a < b; break; case 7: t = a >= b; break;
            default: goto illegal;
            }
            if (t) npc = h->pc + (uint64_t)o;
            wr = false; break;
        }
        case 0x03: {
            uint64_t ea = a + (uint64_t)immi;
            void *p = mem(h, ea, RV_ACC_READ, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = ea; return RV_EXIT_FAULT; }
            switch (f3) {
            case 0: v = (uint64_t)(int64_t)LD(int8_t, p); break;
            case 1: v = (uint64_t)(int64_t)LD(int16_t, p); break;
            case 2: v = (uint64_t)(int64_t)LD(int32_t, p); break;
            case 3: v = LD(uint64_t, p); break;
            case 4: v = LD(uint8_t, p); break;
            case 5: v = LD(uint16_t, p); break;
            case 6: v = LD(uint32_t, p); break;
            default: goto illegal;
            }
            break;
        }
        case 0x23: {
            uint64_t ea = a + (uint64_t)imms;
            void *p = mem(h, ea, RV_ACC_WRITE, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = ea; return RV_EXIT_FAULT; }
            switch (f3) {
            case 0: ST(uint8_t, p, (uint8_t)b); break;
            case 1: ST(uint16_t, p, (uint16_t)b); break;
            case 2: ST(uint32_t, p, (uint32_t)b); break;
            case 3: ST(uint64_t, p, b); break;
            default: goto illegal;
            }
            wr = false; break;
        }
        case 0x13: case 0x33: case 0x1b: case 0x3b: {
            bool imm = op == 0x13 || op == 0x1b, w = op == 0x1b || op == 0x3b;
            uint64_t y = imm ? (uint64_t)immi : b;
            unsigned sh = (unsigned)(y & (w ? 31 : 63));
            if (!imm && f7 == 1) {            /* M: mul/div subset */
                if (w) { a = (uint64_t)(int64_t)(int32_t)a; b = (uint64_t)(int64_t)(int32_t)b; }
                if (w && (f3 == 5 || f3 == 7)) { a = (uint32_t)a; b = (uint32_t)b; }
                switch (f3) {
                case 0: v = a * b; break;
                case 1: v = (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64); break;
                case 2: v = (uint64_t)(((__int128)(int64_t)a * (unsigned __int128)b) >> 64); break;
                case 3: v = (uint64_t)(((unsigned __int128)a * b) >> 64); break;
                case 4:
                    if (!w && (int64_t)a == INT64_MIN && (int64_t)b == -1) { v = a; break; }
                    if (w && (int32_t)a == INT32_MIN && (int32_t)b == -1) { v = a; break; } v = b ? (uint64_t)((int64_t)a / (int64_t)b) : ~0ULL; break;
                case 5: v = b ? a / b : ~0ULL; break;
                case 6:
                    if ((int64_t)b == -1) { v = 0; break; }
                    v = b ? (uint64_t)((int64_t)a % (int64_t)b) : a; break;
                case 7: v = b ? a % b : a; break;
                default: goto illegal;
                }
                if (w) v = (uint64_t)(int64_t)(int32_t)v;
                break;
            }
            switch (f3) {
            case 0: v = (!imm && (f7 & 0x20)) ? a - y : a + y; break;
            case 1: v = w ? (uint64_t)(uint32_t)a << sh : a << sh; break;
            case 2: v = (int64_t)a < (int64_t)y; break;
            case 3: v = a < y; break;
            case 4: v = a ^ y; break;
            case 5:
                if ((imm ? (i >> 30) & 1 : f7 & 0x20))
                    v = w ? (uint64_t)((int64_t)(int32_t)a >> sh) : (uint64_t)((int64_t)a >> sh);
                else
                    v = w ? (uint64_t)((uint32_t)a >> sh) : a >> sh;
                break;
            case 6: v = a | y; break;
            case 7: v = a & y; break;
            }
            if (w) v = (uint64_t)(int64_t)(int32_t)v;
            break;
        }
        case 0x0f: wr = false; break;                 /* fence */
        case 0x07: case 0x27: {                       /* flw/fld, fsw/fsd */
            uint64_t ea = a + (uint64_t)(op == 0x07 ? immi : imms);
            void *p = mem(h, ea, op == 0x07 ? RV_ACC_READ : RV_ACC_WRITE, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = ea; return RV_EXIT_FAULT; }
            if (op == 0x07) {
                if (f3 == 3) h->f[rd] = LD(uint64_t, p);
                else if (f3 == 2) h->f[rd] = 0xffffffff00000000ULL | LD(uint32_t, p);
                else goto illegal;
            } else {
                if (f3 == 3) ST(uint64_t, p, h->f[rs2]);
                else if (f3 == 2) ST(uint32_t, p, (uint32_t)h->f[rs2]);
                else goto illegal;
            }
            wr = false; break;
        }
        case 0x53:                                    /* only the fmv moves */
            if (f7 == 0x79 && f3 == 0 && rs2 == 0) { h->f[rd] = a; wr = false; break; }       /* fmv.d.x */
            if (f7 == 0x71 && f3 == 0 && rs2 == 0) { v = h->f[rs1]; break; }                  /* fmv.x.d */
            if (f7 == 0x78 && f3 == 0 && rs2 == 0) { h->f[rd] = 0xffffffff00000000ULL | (uint32_t)a; wr = false; break; }
            if (f7 == 0x70 && f3 == 0 && rs2 == 0) { v = (uint64_t)(int64_t)(int32_t)h->f[rs1]; break; }
            if (f7 == 0x11 && f3 == 0) { h->f[rd] = (h->f[rs1] & ~(1ULL << 63)) | (h->f[rs2] & (1ULL << 63)); wr = false; break; } /* fsgnj.d (fmv.d) */
            goto illegal;
        case 0x2f: {                                  /* A: amoadd/amoswap/lr/sc .w/.d */
            void *p = mem(h, a, RV_ACC_WRITE, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = a; return RV_EXIT_FAULT; }
            unsigned f5 = i >> 27;
            if (f3 == 2) {
                int32_t *q = p, old = __atomic_load_n(q, __ATOMIC_SEQ_CST), nv;
                if (f5 == 2) { v = (uint64_t)(int64_t)old; h->resv = a; h->resv_val = (uint64_t)(int64_t)old; break; }
                if (f5 == 3) {
                    int32_t exp = (int32_t)h->resv_val;
                    v = !(h->resv == a && __atomic_compare_exchange_n(q, &exp, (int32_t)b, false,
                                                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
                    h->resv = ~0ULL; break;
                }
                do {
                    int32_t y = (int32_t)b;
                    switch (f5) {
                    case 0: nv = (int32_t)((uint32_t)old + (uint32_t)y); break;
                    case 1: nv = y; break;
                    case 4: nv = old ^ y; break;
                    case 8: nv = old | y; break;
                    case 12: nv = old & y; break;
                    case 16: nv = old < y ? old : y; break;
                    case 20: nv = old > y ? old : y; break;
                    case 24: nv = (uint32_t)old < (uint32_t)y ? old : y; break;
                    case 28: nv = (uint32_t)old > (uint32_t)y ? old : y; break;
                    default: goto illegal;
                    }
                } while (!__atomic_compare_exchange_n(q, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
                v = (uint64_t)(int64_t)old;
            } else if (f3 == 3) {
                uint64_t *q = p, old = __atomic_load_n(q, __ATOMIC_SEQ_CST), nv;
                if (f5 == 2) { v = old; h->resv = a; h->resv_val = old; break; }
                if (f5 == 3) {
                    uint64_t exp = h->resv_val;
                    v = !(h->resv == a && __atomic_compare_exchange_n(q, &exp, b, false,
                                                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
                    h->resv = ~0ULL; break;
                }
                do {
                    switch (f5) {
                    case 0: nv = old + b; break;
                    case 1: nv = b; break;
                    case 4: nv = old ^ b; break;
                    case 8: nv = old | b; break;
                    case 12: nv = old & b; break;
                    case 16: nv = (int64_t)old < (int64_t)b ? old : b; break;
                    case 20: nv = (int64_t)old > (int64_t)b ? old : b; break;
                    case 24: nv = old < b ? old : b; break;
                    case 28: nv = old > b ? old : b; break;
                    default: goto illegal;
                    }
                } while (!__atomic_compare_exchange_n(q, &old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
                v = old;
            } else goto illegal;
            break;
        }
        case 0x73: {
            if (i == 0x00000073) return RV_EXIT_ECALL;
            if (i == 0x00100073) return RV_EXIT_EBREAK;
            unsigned csr = i >> 20;
            uint64_t old, src = (f3 & 4) ? rs1 : a;
            if (csr == 1) old = h->fcsr & 31;
            else if (csr == 2) old = (h->fcsr >> 5) & 7;
            else if (csr == 3) old = h->fcsr & 0xff;
            else if (csr == 0xc00 || csr == 0xc01 || csr == 0xc02) old = n;
            else goto illegal;
            uint64_t nv = old;
            switch (f3 & 3) {
            case 1: nv = src; break;
            case 2: nv = old | src; break;
            case 3: nv = old & ~src; break;
            default: goto illegal;
            }
            if (csr <= 3 && ((f3 & 3) == 1 || rs1)) {
                if (csr == 1) h->fcsr = (h->fcsr & ~31ULL) | (nv & 31);
                else if (csr == 2) h->fcsr = (h->fcsr & ~0xe0ULL) | ((nv & 7) << 5);
                else h->fcsr = nv & 0xff;
            }
            v = old;
            break;
        }
        default:
        illegal:
            h->cause = RV_EXC_ILLEGAL; h->tval = i;
            return RV_EXIT_FAULT;
        }
        if (wr && rd) h->x[rd] = v;
        h->pc = npc;
        if (budget && n >= budget) return RV_EXIT_BUDGET;
    }
}

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
    uint64_t x[32], f[32], pc, fcsr, cause, tval;
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

#define SEXT(v, b) ((int64_t)((uint64_t)(v) << (64 - (b))) >> (64 - (b)))

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
        uint32_t i = *ip;
        unsigned op = i & 0x7f, rd = (i >> 7) & 31, f3 = (i >> 12) & 7,
                 rs1 = (i >> 15) & 31, rs2 = (i >> 20) & 31, f7 = i >> 25;
        uint64_t a = h->x[rs1], b = h->x[rs2], npc = h->pc + 4, v = 0;
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
            case 0: v = (uint64_t)(int64_t)*(int8_t *)p; break;
            case 1: v = (uint64_t)(int64_t)*(int16_t *)p; break;
            case 2: v = (uint64_t)(int64_t)*(int32_t *)p; break;
            case 3: v = *(uint64_t *)p; break;
            case 4: v = *(uint8_t *)p; break;
            case 5: v = *(uint16_t *)p; break;
            case 6: v = *(uint32_t *)p; break;
            default: goto illegal;
            }
            break;
        }
        case 0x23: {
            uint64_t ea = a + (uint64_t)imms;
            void *p = mem(h, ea, RV_ACC_WRITE, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = ea; return RV_EXIT_FAULT; }
            switch (f3) {
            case 0: *(uint8_t *)p = (uint8_t)b; break;
            case 1: *(uint16_t *)p = (uint16_t)b; break;
            case 2: *(uint32_t *)p = (uint32_t)b; break;
            case 3: *(uint64_t *)p = b; break;
            default: goto illegal;
            }
            wr = false; break;
        }
        case 0x13: case 0x33: case 0x1b: case 0x3b: {
            bool imm = op == 0x13 || op == 0x1b, w = op == 0x1b || op == 0x3b;
            uint64_t y = imm ? (uint64_t)immi : b;
            unsigned sh = (unsigned)(y & (w ? 31 : 63));
            if (!imm && f7 == 1) {            /* M: mul/div subset */
                switch (f3) {
                case 0: v = a * b; break;
                case 4: v = b ? (uint64_t)((int64_t)a / (int64_t)b) : ~0ULL; break;
                case 5: v = b ? a / b : ~0ULL; break;
                case 6: v = b ? (uint64_t)((int64_t)a % (int64_t)b) : a; break;
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
        case 0x2f: {                                  /* A: amoadd/amoswap/lr/sc .w/.d */
            void *p = mem(h, a, RV_ACC_WRITE, &cause);
            if (!p) { h->cause = (uint64_t)cause; h->tval = a; return RV_EXIT_FAULT; }
            unsigned f5 = i >> 27;
            if (f3 == 2) {
                _Atomic int32_t *q = p;
                if (f5 == 0) v = (uint64_t)(int64_t)atomic_fetch_add(q, (int32_t)b);
                else if (f5 == 1) v = (uint64_t)(int64_t)atomic_exchange(q, (int32_t)b);
                else if (f5 == 2) v = (uint64_t)(int64_t)atomic_load(q);
                else if (f5 == 3) { atomic_store(q, (int32_t)b); v = 0; }
                else goto illegal;
            } else {
                _Atomic uint64_t *q = p;
                if (f5 == 0) v = atomic_fetch_add(q, b);
                else if (f5 == 1) v = atomic_exchange(q, b);
                else if (f5 == 2) v = atomic_load(q);
                else if (f5 == 3) { atomic_store(q, b); v = 0; }
                else goto illegal;
            }
            break;
        }
        case 0x73:
            if (i == 0x00000073) return RV_EXIT_ECALL;
            if (i == 0x00100073) return RV_EXIT_EBREAK;
            goto illegal;
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

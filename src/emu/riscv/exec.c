/* emu/riscv: the interpreter. Blocks of decoded instructions (cache.c) run
 * through a computed-goto dispatch; hot state stays in locals and the loop
 * leaves a block only at its end, on an exception, or when a store
 * invalidated code. Loads and stores take the inline TLB fast path; a miss
 * goes to mmu.c. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"
#include "base/base.h"

#include <stdio.h>

#define SEXT32(v) ((uint64_t)(int64_t)(int32_t)(v))

static inline uint64_t mulhu64(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}
static inline uint64_t mulh64(int64_t a, int64_t b)
{
    return (uint64_t)(((__int128)a * b) >> 64);
}
static inline uint64_t mulhsu64(int64_t a, uint64_t b)
{
    return (uint64_t)(((__int128)a * (__int128)b) >> 64);
}
static inline uint64_t orc_b(uint64_t v)
{
    uint64_t r = 0;
    for (unsigned k = 0; k < 64; k += 8)
        if ((v >> k) & 0xff)
            r |= 0xffULL << k;
    return r;
}

/* Handle asynchronous requests at a block boundary. Returns an exit or
 * RV_EXIT_NONE to go on. */
static enum rv_exit service_requests(struct rv_hart *h)
{
    unsigned req = atomic_exchange_explicit(&h->exit_req, 0, memory_order_acquire);
    if (req & RV_REQ_TLB)
        rv_tlb_flush_local(h);
    if (req & RV_REQ_CODE)
        rv_cache_flush(h);
    if (req & RV_REQ_HALT || h->halted) {
        h->halted = true;
        return RV_EXIT_HALT;
    }
    if (req & RV_REQ_KICK)
        return RV_EXIT_BUDGET;
    return RV_EXIT_NONE;
}

/* A trap retires no instruction, but takes a step of the budget, so a
 * guest trapping in a loop (a handler address that faults itself) still
 * returns to its caller. True when the budget is used up. */
static inline bool trap_uses_budget(struct rv_hart *h)
{
    if (h->budget_end == UINT64_MAX)
        return false;
    if (h->budget_end <= h->instret)
        return true;
    h->budget_end--;
    return false;
}

enum rv_exit rv_run(struct rv_hart *h, uint64_t budget)
{
#define RV_OP_LABEL(n) [RV_OP_##n] = &&L_##n,
    static const void *const labels[RV_OP_COUNT] = { RV_OPS(RV_OP_LABEL) };
#undef RV_OP_LABEL
    uint64_t *const x = h->x;
    struct rv_machine *const m = h->m;
    const bool sys = !m->user;
    const struct rv_insn *i;
    struct rv_block *b, *last = NULL;
    unsigned mode_d;
    enum rv_exit ex;
    uint64_t va, tag, v;
    int c;
    uintptr_t jsite = 0;          /* translator: a chainable exit just taken */
    uint64_t jpc = 0, jkey = 0, jfc = 0;

    if (h->halted)
        return RV_EXIT_HALT;
    h->budget_end = budget ? h->instret + budget : UINT64_MAX;

#define NEXT do { i++; goto *i->lab; } while (0)
    /* An exception at instruction i: not retired; trap or leave. */
#define EXC(cause, tval) do {                                              \
        h->instret -= (uint64_t)(b->n - (unsigned)(i - b->insn));            \
        h->pc = i->pc;                                                     \
        if (rv_trap(h, (cause), (tval))) {                                 \
            if (unlikely(trap_uses_budget(h)))                             \
                return RV_EXIT_BUDGET;                                     \
            goto dispatch_nochain;                                         \
        }                                                                  \
        return RV_EXIT_FAULT;                                              \
    } while (0)
#define JUMP(target) do { h->pc = (target); goto dispatch; } while (0)
    /* leave the block after instruction i (a taken branch mid-block) */
#define SIDE(target) do {                                                  \
        h->instret -= (uint64_t)(b->n - 1 - (unsigned)(i - b->insn));        \
        JUMP(target);                                                      \
    } while (0)
#define RD x[i->rd]
#define RS1 x[i->rs1]
#define RS2 x[i->rs2]

#define LOAD(T, addr, dst) do {                                            \
        va = (addr);                                                       \
        struct rv_tlb_entry *e_ = rv_tlb_slot(h, RV_ACC_READ, va);         \
        tag = rv_tlb_tag(va, mode_d);                                      \
        if (likely(e_->tag == tag && (va & 0xfff) <= 4096 - sizeof(T))) {  \
            T t_; memcpy(&t_, (const void *)(uintptr_t)(va + e_->addend), sizeof(T)); \
            dst = t_;                                                      \
        } else {                                                           \
            c = rv_load_slow(h, va, sizeof(T), &v);                        \
            if (unlikely(c)) EXC(c, va);                                   \
            dst = (T)v;                                                    \
        }                                                                  \
    } while (0)
#define STORE(T, addr, val) do {                                           \
        va = (addr);                                                       \
        struct rv_tlb_entry *e_ = rv_tlb_slot(h, RV_ACC_WRITE, va);        \
        tag = rv_tlb_tag(va, mode_d);                                      \
        if (likely(e_->tag == tag && (va & 0xfff) <= 4096 - sizeof(T))) {  \
            T t_ = (T)(val); memcpy((void *)(uintptr_t)(va + e_->addend), &t_, sizeof(T)); \
        } else {                                                           \
            c = rv_store_slow(h, va, sizeof(T), (uint64_t)(T)(val));       \
            if (unlikely(c)) EXC(c, va);                                   \
            if (unlikely(h->code_dirty)) {                                 \
                /* leave after it: the rest of the block is not retired */ \
                h->code_dirty = false;                                     \
                h->instret -= (uint64_t)(b->n - 1 - (unsigned)(i - b->insn)); \
                h->pc = i->pc + i->len;                                    \
                goto dispatch_nochain;                                     \
            }                                                              \
        }                                                                  \
    } while (0)

dispatch_nochain:
    last = NULL;
dispatch:
    if (unlikely(atomic_load_explicit(&h->exit_req, memory_order_relaxed))) {
        last = NULL;
        ex = service_requests(h);
        if (ex != RV_EXIT_NONE)
            return ex;
    }
    if (sys) {
        if (unlikely(--h->poll == 0)) {
            h->poll = 256;
            rv_update_timers(h);
        }
        if (unlikely(atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie)) {
            int irq = rv_pending_irq(h);
            if (irq >= 0) {
                rv_take_irq(h, irq);
                last = NULL;
            }
        }
    }
    if (unlikely(atomic_load_explicit(&m->nbp, memory_order_relaxed))) {
        if (rv_bp_at(m, h->pc)) {
            if (h->debug_skip != h->pc) {
                h->debug_skip = h->pc;
                return RV_EXIT_DEBUG;
            }
            last = NULL;
        } else {
            h->debug_skip = ~0ULL;
        }
    }
    /* chained successor of the previous block (same translation regime:
     * every path that changes privilege, satp, TLBs or code comes through
     * dispatch_nochain or a request) */
    if (last) {
        unsigned s_ = last->cpc[0] == h->pc ? 0 : last->cpc[1] == h->pc ? 1 : 2;
        if (s_ < 2 && likely(last->cnext[s_]->valid) &&
            last->cgen[s_] == ((h->tlb_gen << 2) | h->priv)) {
            b = last->cnext[s_];
            goto have_block;
        }
    }
    {
        uint64_t fc = h->flush_count;
        b = rv_block_lookup(h, h->pc, &c);
        if (unlikely(!b)) {
            /* fetch fault: the exception is taken at pc itself */
            last = NULL;
            if (rv_trap(h, (uint64_t)c, h->exc_tval)) {
                if (unlikely(trap_uses_budget(h)))
                    return RV_EXIT_BUDGET;
                goto dispatch;
            }
            return RV_EXIT_FAULT;
        }
        if (last && fc == h->flush_count && b != h->step_block) {
            unsigned s_ = h->pc == last->end_pc ? 1 : 0;
            last->cpc[s_] = h->pc;
            last->cnext[s_] = b;
            last->cgen[s_] = (h->tlb_gen << 2) | h->priv;
        }
        if (unlikely(!b->linked)) {
            for (unsigned k = 0; k <= b->n; k++)
                b->insn[k].lab = labels[b->insn[k].op];
            b->linked = true;
        }
    }
have_block:
    mode_d = h->mode_data;
    if (unlikely(h->budget_end - h->instret < b->n)) {
        if (h->instret >= h->budget_end)
            return RV_EXIT_BUDGET;
        /* fewer instructions left than the block holds: one at a time */
        struct rv_block *s = h->step_block;
        s->n = 1;
        s->insn[0] = b->insn[0];
        rv_decode(&s->insn[1], 0, 4, b->insn[0].pc + b->insn[0].len, m->user);
        s->insn[1].op = RV_OP_END;
        s->insn[1].lab = labels[RV_OP_END];
        s->linked = true;
        b = s;
    }
    last = b == h->step_block ? NULL : b;
    h->instret += b->n;
    i = b->insn;
    if (!b->jit && m->jit && last && !b->jit_failed && b->hits++ >= m->jit_threshold)
        rv_jit_translate(h, b);
    if (unlikely(jsite)) {
        /* the previous block left through a chainable exit to this one */
        if (b->jit && b->vpc == jpc && jkey == ((h->tlb_gen << 2) | h->priv) &&
            jfc == h->flush_count && !atomic_load_explicit(&m->nbp, memory_order_relaxed))
            rv_jit_link(h, jsite, b);
        jsite = 0;
    }
    if (b->jit) {
        if (!sys)
            h->jtc[(b->vpc >> 1) & ((1u << RV_JTC_BITS) - 1)] = (struct rv_jtc){ b->vpc, b };
        struct rv_jit_ret r = b->jit(h);
        if (likely(r.code == RV_JIT_NEXT)) {
            if (r.aux) {
                jsite = (uintptr_t)r.aux;
                jpc = h->pc;
                jkey = (h->tlb_gen << 2) | h->priv;
                jfc = h->flush_count;
            }
            goto dispatch;
        }
        if (r.code == RV_JIT_NOCHAIN)
            goto dispatch_nochain;
        if ((r.code & 0xff) == RV_JIT_RESUME) {
            last = b = (struct rv_block *)(uintptr_t)r.aux;
            i = &b->insn[r.code >> 8];
            goto *i->lab;
        }
        /* an exception: pc and instret are already those of EXC */
        if (rv_trap(h, r.code - RV_JIT_EXC, r.aux)) {
            if (unlikely(trap_uses_budget(h)))
                return RV_EXIT_BUDGET;
            goto dispatch_nochain;
        }
        return RV_EXIT_FAULT;
    }
    goto *i->lab;

L_END: JUMP(i->pc);
L_NOP: NEXT;
L_FENCE: NEXT;
L_LI: RD = (uint64_t)i->imm; NEXT;
L_MV: RD = RS1; NEXT;
L_LUI: RD = (uint64_t)i->imm; NEXT;
L_AUIPC: RD = (uint64_t)i->imm; NEXT;
L_JAL: RD = i->pc + i->len; SIDE((uint64_t)i->imm);
L_JAL_IN: RD = i->pc + i->len; NEXT;
L_JALR: v = (RS1 + (uint64_t)i->imm) & ~1ULL; RD = i->pc + i->len; SIDE(v);
L_BEQ: if (RS1 == RS2) SIDE((uint64_t)i->imm); NEXT;
L_BNE: if (RS1 != RS2) SIDE((uint64_t)i->imm); NEXT;
L_BLT: if ((int64_t)RS1 < (int64_t)RS2) SIDE((uint64_t)i->imm); NEXT;
L_BGE: if ((int64_t)RS1 >= (int64_t)RS2) SIDE((uint64_t)i->imm); NEXT;
L_BLTU: if (RS1 < RS2) SIDE((uint64_t)i->imm); NEXT;
L_BGEU: if (RS1 >= RS2) SIDE((uint64_t)i->imm); NEXT;

L_LB: { int8_t t; LOAD(int8_t, RS1 + (uint64_t)i->imm, t); RD = (uint64_t)(int64_t)t; NEXT; }
L_LH: { int16_t t; LOAD(int16_t, RS1 + (uint64_t)i->imm, t); RD = (uint64_t)(int64_t)t; NEXT; }
L_LW: { int32_t t; LOAD(int32_t, RS1 + (uint64_t)i->imm, t); RD = (uint64_t)(int64_t)t; NEXT; }
L_LD: { uint64_t t; LOAD(uint64_t, RS1 + (uint64_t)i->imm, t); RD = t; NEXT; }
L_LBU: { uint8_t t; LOAD(uint8_t, RS1 + (uint64_t)i->imm, t); RD = t; NEXT; }
L_LHU: { uint16_t t; LOAD(uint16_t, RS1 + (uint64_t)i->imm, t); RD = t; NEXT; }
L_LWU: { uint32_t t; LOAD(uint32_t, RS1 + (uint64_t)i->imm, t); RD = t; NEXT; }
L_SB: STORE(uint8_t, RS1 + (uint64_t)i->imm, RS2); NEXT;
L_SH: STORE(uint16_t, RS1 + (uint64_t)i->imm, RS2); NEXT;
L_SW: STORE(uint32_t, RS1 + (uint64_t)i->imm, RS2); NEXT;
L_SD: STORE(uint64_t, RS1 + (uint64_t)i->imm, RS2); NEXT;

L_ADDI: RD = RS1 + (uint64_t)i->imm; NEXT;
L_SLTI: RD = (int64_t)RS1 < i->imm; NEXT;
L_SLTIU: RD = RS1 < (uint64_t)i->imm; NEXT;
L_XORI: RD = RS1 ^ (uint64_t)i->imm; NEXT;
L_ORI: RD = RS1 | (uint64_t)i->imm; NEXT;
L_ANDI: RD = RS1 & (uint64_t)i->imm; NEXT;
L_SLLI: RD = RS1 << i->imm; NEXT;
L_SRLI: RD = RS1 >> i->imm; NEXT;
L_SRAI: RD = (uint64_t)((int64_t)RS1 >> i->imm); NEXT;
L_ADD: RD = RS1 + RS2; NEXT;
L_SUB: RD = RS1 - RS2; NEXT;
L_SLL: RD = RS1 << (RS2 & 63); NEXT;
L_SLT: RD = (int64_t)RS1 < (int64_t)RS2; NEXT;
L_SLTU: RD = RS1 < RS2; NEXT;
L_XOR: RD = RS1 ^ RS2; NEXT;
L_SRL: RD = RS1 >> (RS2 & 63); NEXT;
L_SRA: RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63)); NEXT;
L_OR: RD = RS1 | RS2; NEXT;
L_AND: RD = RS1 & RS2; NEXT;
L_ADDIW: RD = SEXT32(RS1 + (uint64_t)i->imm); NEXT;
L_SLLIW: RD = SEXT32((uint32_t)RS1 << i->imm); NEXT;
L_SRLIW: RD = SEXT32((uint32_t)RS1 >> i->imm); NEXT;
L_SRAIW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> i->imm); NEXT;
L_ADDW: RD = SEXT32(RS1 + RS2); NEXT;
L_SUBW: RD = SEXT32(RS1 - RS2); NEXT;
L_SLLW: RD = SEXT32((uint32_t)RS1 << (RS2 & 31)); NEXT;
L_SRLW: RD = SEXT32((uint32_t)RS1 >> (RS2 & 31)); NEXT;
L_SRAW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31)); NEXT;

L_MUL: RD = RS1 * RS2; NEXT;
L_MULH: RD = mulh64((int64_t)RS1, (int64_t)RS2); NEXT;
L_MULHSU: RD = mulhsu64((int64_t)RS1, RS2); NEXT;
L_MULHU: RD = mulhu64(RS1, RS2); NEXT;
L_DIV: {
    int64_t a = (int64_t)RS1, d = (int64_t)RS2;
    RD = d == 0 ? ~0ULL : (a == INT64_MIN && d == -1) ? (uint64_t)a : (uint64_t)(a / d);
    NEXT;
}
L_DIVU: RD = RS2 == 0 ? ~0ULL : RS1 / RS2; NEXT;
L_REM: {
    int64_t a = (int64_t)RS1, d = (int64_t)RS2;
    RD = d == 0 ? (uint64_t)a : (a == INT64_MIN && d == -1) ? 0 : (uint64_t)(a % d);
    NEXT;
}
L_REMU: RD = RS2 == 0 ? RS1 : RS1 % RS2; NEXT;
L_MULW: RD = SEXT32((uint32_t)RS1 * (uint32_t)RS2); NEXT;
L_DIVW: {
    int32_t a = (int32_t)RS1, d = (int32_t)RS2;
    RD = d == 0 ? ~0ULL : (a == INT32_MIN && d == -1) ? SEXT32(a) : SEXT32(a / d);
    NEXT;
}
L_DIVUW: {
    uint32_t a = (uint32_t)RS1, d = (uint32_t)RS2;
    RD = d == 0 ? ~0ULL : SEXT32(a / d);
    NEXT;
}
L_REMW: {
    int32_t a = (int32_t)RS1, d = (int32_t)RS2;
    RD = d == 0 ? SEXT32(a) : (a == INT32_MIN && d == -1) ? 0 : SEXT32(a % d);
    NEXT;
}
L_REMUW: {
    uint32_t a = (uint32_t)RS1, d = (uint32_t)RS2;
    RD = d == 0 ? SEXT32(a) : SEXT32(a % d);
    NEXT;
}

    /* ---- A ---- */
#define AMO_PTR(T, write) ({                                               \
        va = RS1;                                                          \
        T *p_ = rv_amo_ptr(h, va, sizeof(T), (write), &c);                  \
        if (unlikely(!p_)) EXC(c, va);                                     \
        p_; })
L_LR_W: {
    int32_t *p = AMO_PTR(int32_t, false);
    int32_t t = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    h->resv_host = (uintptr_t)p; h->resv_val = (uint32_t)t; h->resv_addr = va;
    RD = (uint64_t)(int64_t)t; NEXT;
}
L_LR_D: {
    uint64_t *p = AMO_PTR(uint64_t, false);
    uint64_t t = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    h->resv_host = (uintptr_t)p; h->resv_val = t; h->resv_addr = va;
    RD = t; NEXT;
}
L_SC_W: {
    uint32_t *p = AMO_PTR(uint32_t, true);
    uint32_t expect = (uint32_t)h->resv_val;
    bool ok = h->resv_host == (uintptr_t)p &&
              __atomic_compare_exchange_n(p, &expect, (uint32_t)RS2, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    h->resv_host = 0;
    RD = !ok; NEXT;
}
L_SC_D: {
    uint64_t *p = AMO_PTR(uint64_t, true);
    uint64_t expect = h->resv_val;
    bool ok = h->resv_host == (uintptr_t)p &&
              __atomic_compare_exchange_n(p, &expect, RS2, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    h->resv_host = 0;
    RD = !ok; NEXT;
}
#define AMO_FETCH(T, ST, fn) {                                             \
        T *p = AMO_PTR(T, true);                                           \
        T r = fn(p, (T)RS2, __ATOMIC_SEQ_CST);                             \
        RD = (uint64_t)(ST)r; NEXT;                              \
    }
#define AMO_CAS(T, ST, expr) {                                             \
        T *p = AMO_PTR(T, true);                                           \
        T o = __atomic_load_n(p, __ATOMIC_RELAXED), n, b_ = (T)RS2;         \
        do { T a_ = o; n = (expr); } while (!__atomic_compare_exchange_n(p, &o, n, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)); \
        RD = (uint64_t)(ST)o; NEXT;                              \
    }
L_AMOSWAP_W: AMO_FETCH(uint32_t, int32_t, __atomic_exchange_n)
L_AMOADD_W: AMO_FETCH(uint32_t, int32_t, __atomic_fetch_add)
L_AMOXOR_W: AMO_FETCH(uint32_t, int32_t, __atomic_fetch_xor)
L_AMOAND_W: AMO_FETCH(uint32_t, int32_t, __atomic_fetch_and)
L_AMOOR_W: AMO_FETCH(uint32_t, int32_t, __atomic_fetch_or)
L_AMOMIN_W: AMO_CAS(uint32_t, int32_t, (int32_t)a_ < (int32_t)b_ ? a_ : b_)
L_AMOMAX_W: AMO_CAS(uint32_t, int32_t, (int32_t)a_ > (int32_t)b_ ? a_ : b_)
L_AMOMINU_W: AMO_CAS(uint32_t, int32_t, a_ < b_ ? a_ : b_)
L_AMOMAXU_W: AMO_CAS(uint32_t, int32_t, a_ > b_ ? a_ : b_)
L_AMOSWAP_D: AMO_FETCH(uint64_t, uint64_t, __atomic_exchange_n)
L_AMOADD_D: AMO_FETCH(uint64_t, uint64_t, __atomic_fetch_add)
L_AMOXOR_D: AMO_FETCH(uint64_t, uint64_t, __atomic_fetch_xor)
L_AMOAND_D: AMO_FETCH(uint64_t, uint64_t, __atomic_fetch_and)
L_AMOOR_D: AMO_FETCH(uint64_t, uint64_t, __atomic_fetch_or)
L_AMOMIN_D: AMO_CAS(uint64_t, uint64_t, (int64_t)a_ < (int64_t)b_ ? a_ : b_)
L_AMOMAX_D: AMO_CAS(uint64_t, uint64_t, (int64_t)a_ > (int64_t)b_ ? a_ : b_)
L_AMOMINU_D: AMO_CAS(uint64_t, uint64_t, a_ < b_ ? a_ : b_)
L_AMOMAXU_D: AMO_CAS(uint64_t, uint64_t, a_ > b_ ? a_ : b_)

    /* ---- F / D ---- */
#define FP_ON() do { if (sys && !(h->mstatus & MS_FS)) EXC(RV_EXC_ILLEGAL, i->raw); } while (0)
L_FLW: { uint32_t t; FP_ON(); LOAD(uint32_t, RS1 + (uint64_t)i->imm, t); h->fp.f[i->rd] = 0xffffffff00000000ULL | t; if (sys) rv_fs_dirty(h); NEXT; }
L_FLD: { uint64_t t; FP_ON(); LOAD(uint64_t, RS1 + (uint64_t)i->imm, t); h->fp.f[i->rd] = t; if (sys) rv_fs_dirty(h); NEXT; }
L_FSW: FP_ON(); STORE(uint32_t, RS1 + (uint64_t)i->imm, (uint32_t)h->fp.f[i->rs2]); NEXT;
L_FSD: FP_ON(); STORE(uint64_t, RS1 + (uint64_t)i->imm, h->fp.f[i->rs2]); NEXT;
L_FPU:
    FP_ON();
    if (unlikely(rv_fpu_exec(&h->fp, x, i->raw) < 0))
        EXC(RV_EXC_ILLEGAL, i->raw);
    if (sys) rv_fs_dirty(h);
    x[0] = 0;
    NEXT;

    /* ---- system ---- */
L_FENCE_I:
    rv_cache_flush(h);
    h->pc = i->pc + i->len;
    goto dispatch_nochain;
L_ECALL:
    if (!sys) {
        h->instret -= (uint64_t)(b->n - (unsigned)(i - b->insn));
        h->pc = i->pc;
        return RV_EXIT_ECALL;
    }
    if (h->priv == RV_PRIV_S && m->sops && m->sops->sbi_call) {
        h->pc = i->pc;
        if (m->sops->sbi_call(h)) {
            h->pc = i->pc + 4;
            goto dispatch_nochain;
        }
    }
    EXC(RV_EXC_ECALL_U + h->priv, 0);
L_EBREAK:
    if (!sys) {
        h->instret -= (uint64_t)(b->n - (unsigned)(i - b->insn));
        h->pc = i->pc;
        return RV_EXIT_EBREAK;
    }
    EXC(RV_EXC_BREAKPOINT, i->pc);
L_ILLEGAL:
    EXC(RV_EXC_ILLEGAL, i->len == 2 ? (i->raw & 0xffff) : i->raw);

#define CSR_DO(val, kind, write) do {                                      \
        uint64_t old_ = 0;                                                 \
        if (unlikely(rv_csr_op(h, (unsigned)i->imm, &old_, (val), (kind), (write)) < 0)) \
            EXC(RV_EXC_ILLEGAL, i->raw);                                   \
        RD = old_;                                                         \
        h->pc = i->pc + 4;                                                 \
        goto dispatch_nochain;                                             \
    } while (0)
L_CSRRW: CSR_DO(RS1, 0, true);
L_CSRRS: CSR_DO(RS1, 1, i->rs1 != 0);
L_CSRRC: CSR_DO(RS1, 2, i->rs1 != 0);
L_CSRRWI: CSR_DO(i->rs1, 0, true);
L_CSRRSI: CSR_DO(i->rs1, 1, i->rs1 != 0);
L_CSRRCI: CSR_DO(i->rs1, 2, i->rs1 != 0);
L_MRET:
    if (rv_mret(h) < 0)
        EXC(RV_EXC_ILLEGAL, i->raw);
    goto dispatch_nochain;
L_SRET:
    if (rv_sret(h) < 0)
        EXC(RV_EXC_ILLEGAL, i->raw);
    goto dispatch_nochain;
L_WFI:
    if (h->priv < RV_PRIV_M && (h->mstatus & MS_TW))
        EXC(RV_EXC_ILLEGAL, i->raw);
    if (h->priv == RV_PRIV_U)
        EXC(RV_EXC_ILLEGAL, i->raw);
    h->pc = i->pc + 4;
    rv_update_timers(h);
    if (!(atomic_load(&h->mip) & h->mie))
        return RV_EXIT_WFI;
    goto dispatch_nochain;
L_SFENCE_VMA:
    if (h->priv == RV_PRIV_U || (h->priv == RV_PRIV_S && (h->mstatus & MS_TVM)))
        EXC(RV_EXC_ILLEGAL, i->raw);
    rv_tlb_flush_local(h);
    h->pc = i->pc + 4;
    goto dispatch_nochain;

    /* ---- Zba / Zbb / Zbs ---- */
L_ADD_UW: RD = (RS1 & 0xffffffffULL) + RS2; NEXT;
L_SH1ADD: RD = (RS1 << 1) + RS2; NEXT;
L_SH2ADD: RD = (RS1 << 2) + RS2; NEXT;
L_SH3ADD: RD = (RS1 << 3) + RS2; NEXT;
L_SH1ADD_UW: RD = ((RS1 & 0xffffffffULL) << 1) + RS2; NEXT;
L_SH2ADD_UW: RD = ((RS1 & 0xffffffffULL) << 2) + RS2; NEXT;
L_SH3ADD_UW: RD = ((RS1 & 0xffffffffULL) << 3) + RS2; NEXT;
L_SLLI_UW: RD = (RS1 & 0xffffffffULL) << i->imm; NEXT;
L_ANDN: RD = RS1 & ~RS2; NEXT;
L_ORN: RD = RS1 | ~RS2; NEXT;
L_XNOR: RD = ~(RS1 ^ RS2); NEXT;
L_CLZ: RD = RS1 ? (uint64_t)__builtin_clzll(RS1) : 64; NEXT;
L_CLZW: RD = (uint32_t)RS1 ? (uint64_t)__builtin_clz((uint32_t)RS1) : 32; NEXT;
L_CTZ: RD = RS1 ? (uint64_t)__builtin_ctzll(RS1) : 64; NEXT;
L_CTZW: RD = (uint32_t)RS1 ? (uint64_t)__builtin_ctz((uint32_t)RS1) : 32; NEXT;
L_CPOP: RD = (uint64_t)__builtin_popcountll(RS1); NEXT;
L_CPOPW: RD = (uint64_t)__builtin_popcount((uint32_t)RS1); NEXT;
L_MAX: RD = (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2; NEXT;
L_MAXU: RD = RS1 > RS2 ? RS1 : RS2; NEXT;
L_MIN: RD = (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2; NEXT;
L_MINU: RD = RS1 < RS2 ? RS1 : RS2; NEXT;
L_SEXT_B: RD = (uint64_t)(int64_t)(int8_t)RS1; NEXT;
L_SEXT_H: RD = (uint64_t)(int64_t)(int16_t)RS1; NEXT;
L_ZEXT_H: RD = (uint16_t)RS1; NEXT;
L_ROL: { unsigned s = RS2 & 63; RD = s ? (RS1 << s) | (RS1 >> (64 - s)) : RS1; NEXT; }
L_ROR: { unsigned s = RS2 & 63; RD = s ? (RS1 >> s) | (RS1 << (64 - s)) : RS1; NEXT; }
L_RORI: { unsigned s = (unsigned)i->imm & 63; RD = s ? (RS1 >> s) | (RS1 << (64 - s)) : RS1; NEXT; }
L_ROLW: { uint32_t a = (uint32_t)RS1; unsigned s = RS2 & 31; RD = SEXT32(s ? (a << s) | (a >> (32 - s)) : a); NEXT; }
L_RORW: { uint32_t a = (uint32_t)RS1; unsigned s = RS2 & 31; RD = SEXT32(s ? (a >> s) | (a << (32 - s)) : a); NEXT; }
L_RORIW: { uint32_t a = (uint32_t)RS1; unsigned s = (unsigned)i->imm & 31; RD = SEXT32(s ? (a >> s) | (a << (32 - s)) : a); NEXT; }
L_ORC_B: RD = orc_b(RS1); NEXT;
L_REV8: RD = __builtin_bswap64(RS1); NEXT;
L_BCLR: RD = RS1 & ~(1ULL << (RS2 & 63)); NEXT;
L_BCLRI: RD = RS1 & ~(1ULL << (i->imm & 63)); NEXT;
L_BEXT: RD = (RS1 >> (RS2 & 63)) & 1; NEXT;
L_BEXTI: RD = (RS1 >> (i->imm & 63)) & 1; NEXT;
L_BINV: RD = RS1 ^ (1ULL << (RS2 & 63)); NEXT;
L_BINVI: RD = RS1 ^ (1ULL << (i->imm & 63)); NEXT;
L_BSET: RD = RS1 | (1ULL << (RS2 & 63)); NEXT;
L_BSETI: RD = RS1 | (1ULL << (i->imm & 63)); NEXT;
}

/* emu/riscv: the interpreter. Blocks of decoded instructions (cache.c) run
 * through a computed-goto dispatch; hot state stays in locals and the loop
 * leaves a block only at its end, on an exception, or when a store
 * invalidated code.
 *
 * rv_run is the loop and its labels; the steps around it are named
 * functions, always inlined where they run per block or per access:
 *   exec_boundary    requests, timers, interrupts, breakpoints (per block)
 *   exec_next_block  the chained successor, or a lookup (and a fetch fault)
 *   exec_enter_jit   run a block's translated code, note a chainable exit
 *   exec_load/store  the inline TLB fast path; a miss goes to mmu.c
 *   exec_trap        an exception: trap, or leave (the exit path)
 * and the ops are rows of tables (EXEC_*_OPS) that expand to labels. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"
#include "base/base.h"

#include <stdio.h>

#define HOT static inline __attribute__((always_inline))

#define SEXT32(v) ((uint64_t)(int64_t)(int32_t)(v))

/* ---- the arithmetic the tables below use ---- */

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
/* RISC-V division: x/0 is all ones, x%0 is x, INT_MIN/-1 overflows to
 * INT_MIN with remainder 0; the W forms on the low words, sign-extended */
static inline uint64_t div64(int64_t a, int64_t d)
{
    return d == 0 ? ~0ULL : (a == INT64_MIN && d == -1) ? (uint64_t)a : (uint64_t)(a / d);
}
static inline uint64_t rem64(int64_t a, int64_t d)
{
    return d == 0 ? (uint64_t)a : (a == INT64_MIN && d == -1) ? 0 : (uint64_t)(a % d);
}
static inline uint64_t div32(int32_t a, int32_t d)
{
    return d == 0 ? ~0ULL : (a == INT32_MIN && d == -1) ? SEXT32(a) : SEXT32(a / d);
}
static inline uint64_t rem32(int32_t a, int32_t d)
{
    return d == 0 ? SEXT32(a) : (a == INT32_MIN && d == -1) ? 0 : SEXT32(a % d);
}
static inline uint64_t rol64(uint64_t a, unsigned s)
{
    s &= 63;
    return s ? (a << s) | (a >> (64 - s)) : a;
}
static inline uint64_t ror64(uint64_t a, unsigned s)
{
    s &= 63;
    return s ? (a >> s) | (a << (64 - s)) : a;
}
static inline uint64_t rol32(uint32_t a, unsigned s)
{
    s &= 31;
    return SEXT32(s ? (a << s) | (a >> (32 - s)) : a);
}
static inline uint64_t ror32(uint32_t a, unsigned s)
{
    s &= 31;
    return SEXT32(s ? (a >> s) | (a << (32 - s)) : a);
}
static inline uint64_t orc_b(uint64_t v)
{
    uint64_t r = 0;
    for (unsigned k = 0; k < 64; k += 8)
        if ((v >> k) & 0xff)
            r |= 0xffULL << k;
    return r;
}

/* ---- the op tables: each row becomes a label of rv_run ---- */

/* operands of the instruction i being run (x: the hart's registers) */
#define RD x[i->rd]
#define RS1 x[i->rs1]
#define RS2 x[i->rs2]
#define IMM ((uint64_t)i->imm)
#define PC rv_insn_pc(b, i)           /* i's pc (b: its block) */
#define U32(v) ((uint64_t)(v) & 0xffffffffULL)

/* rd = expression */
#define EXEC_ALU_OPS(X) \
    X(LI, IMM) X(MV, RS1) X(LUI, IMM) X(AUIPC, IMM) X(JAL_IN, PC + i->len) \
    X(ADDI, RS1 + IMM) X(SLTI, (int64_t)RS1 < i->imm) X(SLTIU, RS1 < IMM) \
    X(XORI, RS1 ^ IMM) X(ORI, RS1 | IMM) X(ANDI, RS1 & IMM) \
    X(SLLI, RS1 << i->imm) X(SRLI, RS1 >> i->imm) X(SRAI, (uint64_t)((int64_t)RS1 >> i->imm)) \
    X(ADD, RS1 + RS2) X(SUB, RS1 - RS2) X(SLL, RS1 << (RS2 & 63)) \
    X(SLT, (int64_t)RS1 < (int64_t)RS2) X(SLTU, RS1 < RS2) X(XOR, RS1 ^ RS2) \
    X(SRL, RS1 >> (RS2 & 63)) X(SRA, (uint64_t)((int64_t)RS1 >> (RS2 & 63))) \
    X(OR, RS1 | RS2) X(AND, RS1 & RS2) \
    X(ADDIW, SEXT32(RS1 + IMM)) X(SLLIW, SEXT32((uint32_t)RS1 << i->imm)) \
    X(SRLIW, SEXT32((uint32_t)RS1 >> i->imm)) X(SRAIW, (uint64_t)(int64_t)((int32_t)RS1 >> i->imm)) \
    X(ADDW, SEXT32(RS1 + RS2)) X(SUBW, SEXT32(RS1 - RS2)) \
    X(SLLW, SEXT32((uint32_t)RS1 << (RS2 & 31))) X(SRLW, SEXT32((uint32_t)RS1 >> (RS2 & 31))) \
    X(SRAW, (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31))) \
    X(MUL, RS1 * RS2) X(MULH, mulh64((int64_t)RS1, (int64_t)RS2)) \
    X(MULHSU, mulhsu64((int64_t)RS1, RS2)) X(MULHU, mulhu64(RS1, RS2)) \
    X(DIV, div64((int64_t)RS1, (int64_t)RS2)) X(DIVU, RS2 == 0 ? ~0ULL : RS1 / RS2) \
    X(REM, rem64((int64_t)RS1, (int64_t)RS2)) X(REMU, RS2 == 0 ? RS1 : RS1 % RS2) \
    X(MULW, SEXT32((uint32_t)RS1 * (uint32_t)RS2)) \
    X(DIVW, div32((int32_t)RS1, (int32_t)RS2)) \
    X(DIVUW, (uint32_t)RS2 == 0 ? ~0ULL : SEXT32((uint32_t)RS1 / (uint32_t)RS2)) \
    X(REMW, rem32((int32_t)RS1, (int32_t)RS2)) \
    X(REMUW, (uint32_t)RS2 == 0 ? SEXT32(RS1) : SEXT32((uint32_t)RS1 % (uint32_t)RS2)) \
    X(ADD_UW, U32(RS1) + RS2) X(SH1ADD, (RS1 << 1) + RS2) X(SH2ADD, (RS1 << 2) + RS2) \
    X(SH3ADD, (RS1 << 3) + RS2) X(SH1ADD_UW, (U32(RS1) << 1) + RS2) \
    X(SH2ADD_UW, (U32(RS1) << 2) + RS2) X(SH3ADD_UW, (U32(RS1) << 3) + RS2) \
    X(SLLI_UW, U32(RS1) << i->imm) \
    X(ANDN, RS1 & ~RS2) X(ORN, RS1 | ~RS2) X(XNOR, ~(RS1 ^ RS2)) \
    X(CLZ, RS1 ? (uint64_t)__builtin_clzll(RS1) : 64) \
    X(CLZW, (uint32_t)RS1 ? (uint64_t)__builtin_clz((uint32_t)RS1) : 32) \
    X(CTZ, RS1 ? (uint64_t)__builtin_ctzll(RS1) : 64) \
    X(CTZW, (uint32_t)RS1 ? (uint64_t)__builtin_ctz((uint32_t)RS1) : 32) \
    X(CPOP, (uint64_t)__builtin_popcountll(RS1)) X(CPOPW, (uint64_t)__builtin_popcount((uint32_t)RS1)) \
    X(MAX, (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2) X(MAXU, RS1 > RS2 ? RS1 : RS2) \
    X(MIN, (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2) X(MINU, RS1 < RS2 ? RS1 : RS2) \
    X(SEXT_B, (uint64_t)(int64_t)(int8_t)RS1) X(SEXT_H, (uint64_t)(int64_t)(int16_t)RS1) \
    X(ZEXT_H, (uint16_t)RS1) \
    X(ROL, rol64(RS1, (unsigned)RS2)) X(ROR, ror64(RS1, (unsigned)RS2)) \
    X(RORI, ror64(RS1, (unsigned)i->imm)) X(ROLW, rol32((uint32_t)RS1, (unsigned)RS2)) \
    X(RORW, ror32((uint32_t)RS1, (unsigned)RS2)) X(RORIW, ror32((uint32_t)RS1, (unsigned)i->imm)) \
    X(ORC_B, orc_b(RS1)) X(REV8, __builtin_bswap64(RS1)) \
    X(BCLR, RS1 & ~(1ULL << (RS2 & 63))) X(BCLRI, RS1 & ~(1ULL << (i->imm & 63))) \
    X(BEXT, (RS1 >> (RS2 & 63)) & 1) X(BEXTI, (RS1 >> (i->imm & 63)) & 1) \
    X(BINV, RS1 ^ (1ULL << (RS2 & 63))) X(BINVI, RS1 ^ (1ULL << (i->imm & 63))) \
    X(BSET, RS1 | (1ULL << (RS2 & 63))) X(BSETI, RS1 | (1ULL << (i->imm & 63)))

/* if (condition) pc = imm, leaving the block */
#define EXEC_BRANCH_OPS(X) \
    X(BEQ, RS1 == RS2) X(BNE, RS1 != RS2) X(BLT, (int64_t)RS1 < (int64_t)RS2) \
    X(BGE, (int64_t)RS1 >= (int64_t)RS2) X(BLTU, RS1 < RS2) X(BGEU, RS1 >= RS2)

/* rd = memory (the type extends it); memory = rs2 */
#define EXEC_LOAD_OPS(X) \
    X(LB, int8_t) X(LH, int16_t) X(LW, int32_t) X(LD, uint64_t) \
    X(LBU, uint8_t) X(LHU, uint16_t) X(LWU, uint32_t)
#define EXEC_STORE_OPS(X) X(SB, uint8_t) X(SH, uint16_t) X(SW, uint32_t) X(SD, uint64_t)
/* F / D: a single is NaN-boxed into the 64-bit register */
#define EXEC_FP_LOAD_OPS(X) X(FLW, uint32_t, 0xffffffff00000000ULL) X(FLD, uint64_t, 0)
#define EXEC_FP_STORE_OPS(X) X(FSW, uint32_t) X(FSD, uint64_t)

/* A: width type, the signed type rd gets, and an __atomic builtin or the
 * new value from the old one (a_) and rs2 (b_) for a compare-and-swap loop */
#define EXEC_AMO_FETCH_OPS(X) \
    X(AMOSWAP_W, uint32_t, int32_t, __atomic_exchange_n) X(AMOADD_W, uint32_t, int32_t, __atomic_fetch_add) \
    X(AMOXOR_W, uint32_t, int32_t, __atomic_fetch_xor) X(AMOAND_W, uint32_t, int32_t, __atomic_fetch_and) \
    X(AMOOR_W, uint32_t, int32_t, __atomic_fetch_or) \
    X(AMOSWAP_D, uint64_t, uint64_t, __atomic_exchange_n) X(AMOADD_D, uint64_t, uint64_t, __atomic_fetch_add) \
    X(AMOXOR_D, uint64_t, uint64_t, __atomic_fetch_xor) X(AMOAND_D, uint64_t, uint64_t, __atomic_fetch_and) \
    X(AMOOR_D, uint64_t, uint64_t, __atomic_fetch_or)
#define EXEC_AMO_CAS_OPS(X) \
    X(AMOMIN_W, uint32_t, int32_t, (int32_t)a_ < (int32_t)b_ ? a_ : b_) \
    X(AMOMAX_W, uint32_t, int32_t, (int32_t)a_ > (int32_t)b_ ? a_ : b_) \
    X(AMOMINU_W, uint32_t, int32_t, a_ < b_ ? a_ : b_) X(AMOMAXU_W, uint32_t, int32_t, a_ > b_ ? a_ : b_) \
    X(AMOMIN_D, uint64_t, uint64_t, (int64_t)a_ < (int64_t)b_ ? a_ : b_) \
    X(AMOMAX_D, uint64_t, uint64_t, (int64_t)a_ > (int64_t)b_ ? a_ : b_) \
    X(AMOMINU_D, uint64_t, uint64_t, a_ < b_ ? a_ : b_) X(AMOMAXU_D, uint64_t, uint64_t, a_ > b_ ? a_ : b_)
/* LR / SC: width type, the signed type rd gets */
#define EXEC_LRSC_OPS(X) X(W, uint32_t, int32_t) X(D, uint64_t, uint64_t)

/* Zicsr: the source value, the kind (0 write, 1 set, 2 clear), whether it writes */
#define EXEC_CSR_OPS(X) \
    X(CSRRW, RS1, 0, true) X(CSRRS, RS1, 1, i->rs1 != 0) X(CSRRC, RS1, 2, i->rs1 != 0) \
    X(CSRRWI, i->rs1, 0, true) X(CSRRSI, i->rs1, 1, i->rs1 != 0) X(CSRRCI, i->rs1, 2, i->rs1 != 0)

/* ---- the steps of the loop ---- */

/* Handle asynchronous requests at a block boundary. Returns an exit or
 * RV_EXIT_NONE to go on. */
static enum rv_exit service_requests(struct rv_hart *h)
{
    unsigned req = atomic_exchange_explicit(&h->exit_req, 0, memory_order_acquire);
    if (req & RV_REQ_TLB)
        rv_tlb_flush_local(h);
    else if (req & RV_REQ_WTLB)
        rv_tlb_flush_write_local(h);
    if (req & RV_REQ_CODE)
        rv_cache_flush(h);
    else if (req & RV_REQ_FENCEI)
        rv_fence_i(h);
    if (req & RV_REQ_HALT || h->halted) {
        h->halted = true;
        return RV_EXIT_HALT;
    }
    if (req & RV_REQ_KICK)
        return RV_EXIT_BUDGET;
    return RV_EXIT_NONE;
}

/* What translated code compares instret with when no request is pending
 * (hart.h: jit_limit): the budget, in system mode the next timer poll
 * when sooner. */
static inline uint64_t rv_jit_limit(const struct rv_hart *h)
{
    return h->m->user ? h->budget_end : MIN(h->budget_end, h->poll_at);
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
    atomic_store(&h->jit_limit, rv_jit_limit(h));   /* a request: exit_req is read next */
    return false;
}

/* The exit path: an exception with h->pc and instret those of the faulting
 * instruction. RV_EXIT_NONE when the guest takes the trap (go on at its
 * handler), else the exit. */
static enum rv_exit exec_trap(struct rv_hart *h, uint64_t cause, uint64_t tval)
{
    if (unlikely(cause == RV_CAUSE_WATCH))
        return RV_EXIT_DEBUG;        /* the debugger's watchpoint: stop before the access */
    if (!rv_trap(h, cause, tval))
        return RV_EXIT_FAULT;
    return unlikely(trap_uses_budget(h)) ? RV_EXIT_BUDGET : RV_EXIT_NONE;
}

/* Instructions between two timer checks in system mode (a timer
 * interrupt is seen at most this late: 16,384 instructions, 10-40 us of
 * a boot). The check was every 256 blocks, counted down at every block
 * boundary, translated transitions included (a compare and a subtract
 * of h->poll in every chain stub, loop and jalr lookup, and an exit of
 * translated code at each check: 39,500 checks in a boot of the default
 * guest): now when instret reaches poll_at, which translated code sees
 * in the budget's compare (h->jit_limit). */
#define RV_POLL_INSNS 16384

/* At a block boundary: requests, the timer poll and pending interrupts
 * (system), breakpoints. Clears *last when the regime may have changed. */
HOT enum rv_exit exec_boundary(struct rv_hart *h, struct rv_machine *m, bool sys,
                               struct rv_block **last)
{
    /* a request lowered jit_limit (rv_request): back to its value first,
     * then exit_req, whose bit a request sets before it lowers the limit
     * (a seq_cst store, then the load: a request that raced with it is
     * seen below, or keeps the limit low) */
    unsigned req;
    uint64_t lim = rv_jit_limit(h);
    if (unlikely(atomic_load_explicit(&h->jit_limit, memory_order_relaxed) != lim)) {
        atomic_store(&h->jit_limit, lim);
        req = atomic_load(&h->exit_req);
    } else {
        req = atomic_load_explicit(&h->exit_req, memory_order_relaxed);
    }
    if (unlikely(req)) {
        *last = NULL;
        enum rv_exit ex = service_requests(h);
        if (ex != RV_EXIT_NONE)
            return ex;
    }
    if (sys) {
        if (unlikely(h->instret >= h->poll_at)) {
            h->poll_at = h->instret + RV_POLL_INSNS;
            /* the limit up to the next poll, unless a request lowered it
             * since it was read above (then it stays low: the request is
             * served at the next boundary) */
            atomic_compare_exchange_strong(&h->jit_limit, &lim, rv_jit_limit(h));
            rv_update_timers(h);
            if (h->small)
                rv_cache_poll_small(h);
        }
        if (unlikely(atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie)) {
            int irq = rv_pending_irq(h);
            if (irq >= 0) {
                rv_take_irq(h, irq);
                *last = NULL;
            }
        }
    }
    if (unlikely(rv_debug_exec_on(h))) {
        if (rv_bp_at(m, h->pc)) {
            if (h->debug_skip != h->pc) {
                h->debug_skip = h->pc;
                return RV_EXIT_DEBUG;
            }
            *last = NULL;
        } else {
            h->debug_skip = ~0ULL;
        }
        if (h->trig_exec && rv_trig_exec_fire(h, h->pc)) {
            /* Sdtrig: a breakpoint exception before the instruction */
            *last = NULL;
            return exec_trap(h, RV_EXC_BREAKPOINT, h->pc);
        }
    }
    return RV_EXIT_NONE;
}

static inline bool sys_straddle(const struct rv_hart *h, const struct rv_block *b)
{
    return unlikely((b->vpc & 0xfff) == 0xffe) && b->n == 1 && b->insn[0].len == 4 && !h->m->user;
}

/* Is `last`'s chained successor n, in slot s, still the block at h->pc?
 * Every path that changes the code (a flush, a dropped block: valid)
 * comes through dispatch_nochain or a request. In user mode the
 * translation regime is the one the chain was made in (tlb_gen, priv); in
 * system mode the fetch TLB maps pc, in the current privilege, to the
 * code n was decoded from, as for the translator's chains (jit.c): an
 * sfence.vma of one page (5,100 in a boot of the default guest) bumps
 * tlb_gen, and with it every chain went back to a lookup (121,000 of the
 * boot's 381,000 lookups found the successor the chain had). */
HOT bool exec_chain_ok(const struct rv_hart *h, const struct rv_block *last, unsigned s, bool sys)
{
    const struct rv_block *n = last->cnext[s];
    if (unlikely(!n->valid))
        return false;
    if (!sys)
        return last->cgen[s] == ((h->tlb_gen << 2) | h->priv);
    const struct rv_tlb_entry *e = &h->tlb[RV_ACC_EXEC][(h->pc >> 12) & (RV_TLB_SIZE - 1)];
    return e->tag == rv_tlb_tag(h->pc, h->mode_fetch) && h->pc + e->addend == n->key;
}

/* The block at h->pc: the chained successor of `last` (exec_chain_ok),
 * else a lookup, chained to `last`. NULL on a fetch fault, with *ex the
 * exit (RV_EXIT_NONE: the trap is taken, dispatch again). */
HOT struct rv_block *exec_next_block(struct rv_hart *h, struct rv_block *last, bool sys, enum rv_exit *ex)
{
    if (last) {
        unsigned s = last->cpc[0] == h->pc ? 0 : last->cpc[1] == h->pc ? 1 : 2;
        if (s < 2 && exec_chain_ok(h, last, s, sys))
            return last->cnext[s];
    }
    uint64_t fc = h->flush_count;
    int c;
    struct rv_block *b = rv_block_lookup(h, h->pc, &c);
    if (unlikely(!b)) {
        /* fetch fault: the exception is taken at pc itself */
        *ex = exec_trap(h, (uint64_t)c, h->exc_tval);
        return NULL;
    }
    /* a cached block across a page boundary is entered only through the
     * lookup in system mode: it checks the second page (cache.c) */
    if (last && fc == h->flush_count && b != h->step_block && !sys_straddle(h, b)) {
        /* slot 1: the fall-through, or, after a final jal (which has
         * none), a taken branch's side exit, so that it does not evict
         * the jal's target from slot 0 */
        const struct rv_insn *f = &last->insn[last->n - 1];
        unsigned s = h->pc == last->end_pc || (f->op == RV_OP_JAL && h->pc != (uint64_t)f->imm) ? 1 : 0;
        last->cpc[s] = h->pc;
        last->cnext[s] = b;
        last->cgen[s] = (h->tlb_gen << 2) | h->priv;
    }
    return b;
}

/* Fewer instructions left in the budget than b holds: its first one alone,
 * in the hart's step block. A jump the block follows in line (JAL_IN: it
 * only links) goes on at its target, not after it. */
static struct rv_block *exec_step_block(struct rv_hart *h, const struct rv_block *b)
{
    struct rv_block *s = h->step_block;
    s->n = 1;
    s->vpc = b->vpc;                /* the instructions' dpc are from it */
    s->insn[0] = b->insn[0];
    uint64_t next = b->insn[0].op == RV_OP_JAL_IN ? (uint64_t)b->insn[0].imm : rv_insn_pc(b, &b->insn[0]) + b->insn[0].len;
    rv_decode(&s->insn[1], 0, 4, next, h->m->user);
    s->insn[1].op = RV_OP_END;
    s->insn[1].dpc = (int16_t)(next - b->vpc);
    return s;
}

/* A chainable exit the translated code just took (rv_jit_link), checked
 * against the block it led to. */
struct exec_jsite {
    uintptr_t site;
    uint64_t pc, key, fc;
};

/* Block b is entered (instret counts all of it): translate it when it is
 * hot: run jit_threshold times, on a hart that idles most of the time
 * (rv_hart_wait) since its last long wait. An idle guest's timer and
 * housekeeping code runs a few times per wake-up: counted across
 * wake-ups it was all translated within seconds, about 1 MiB of code per
 * idle Linux guest that it hardly runs (bench/snapshot/many.sh); on a
 * hart busy a tenth of the time or more the counts go on as before. A
 * small hart (cache.c, the idle regime) translates nothing. */
HOT void exec_enter(struct rv_hart *h, struct rv_machine *m, struct rv_block *b, bool chained)
{
    h->instret += b->n;
    if (!b->jit && m->jit && chained && !b->jit_failed) {
        /* translations the hart's translator thread finished (m->jit_async):
         * b's own perhaps */
        rv_jit_poll(h);
        if (b->jit || b->jit_queued || b->jit_failed)
            return;
        if (unlikely(b->hit_gen != h->idle_gen)) {
            b->hit_gen = h->idle_gen;
            b->hits = 0;
        }
        if (b->hits++ >= m->jit_threshold && !h->small) {
            if (m->jit_async)
                rv_jit_queue(h, b);
            else
                rv_jit_translate(h, b);
        }
    }
}

/* Run b's translated code, first linking the previous translated block's
 * exit to it; a chainable exit is noted in *js. */
HOT struct rv_jit_ret exec_enter_jit(struct rv_hart *h, struct rv_machine *m, struct rv_block *b,
                                     bool sys, struct exec_jsite *js)
{
    if (unlikely(js->site)) {
        if (b->vpc == js->pc && js->key == ((h->tlb_gen << 2) | h->priv) &&
            js->fc == h->flush_count && !rv_debug_exec_on(h))
            rv_jit_link(h, js->site, b);
        js->site = 0;
    }
    h->jtc[(b->vpc >> 1) & ((1u << RV_JTC_BITS) - 1)] = (struct rv_jtc){ b->vpc, b };
    struct rv_jit_ret r = b->jit(h);
    if (likely(r.code == RV_JIT_NEXT) && r.aux) {
        js->site = (uintptr_t)r.aux;
        js->pc = h->pc;
        js->key = (h->tlb_gen << 2) | h->priv;
        js->fc = h->flush_count;
    }
    return r;
}

/* The memory-access path: a load or store of `size` bytes at va through
 * the TLB (mode: the data-access mode of the tag), else mmu.c. 0 or the
 * exception cause; a load's value is zero-extended into *v; a store that
 * wrote decoded code returns EXEC_CODE_WRITTEN (the block must end). */
enum { EXEC_CODE_WRITTEN = -1 };
HOT int exec_load(struct rv_hart *h, uint64_t va, unsigned size, unsigned mode, uint64_t *v)
{
    const struct rv_tlb_entry *e = rv_tlb_slot(h, RV_ACC_READ, va);
    if (likely(e->tag == rv_tlb_tag(va, mode) && (va & 0xfff) <= 4096 - size)) {
        const void *p = (const void *)(uintptr_t)(va + e->addend);
        uint8_t b1; uint16_t b2; uint32_t b4;
        switch (size) {
        case 1: memcpy(&b1, p, 1); *v = b1; break;
        case 2: memcpy(&b2, p, 2); *v = b2; break;
        case 4: memcpy(&b4, p, 4); *v = b4; break;
        default: memcpy(v, p, 8); break;
        }
        return 0;
    }
    return rv_load_slow(h, va, size, v);
}
HOT int exec_store(struct rv_hart *h, uint64_t va, unsigned size, unsigned mode, uint64_t v)
{
    const struct rv_tlb_entry *e = rv_tlb_slot(h, RV_ACC_WRITE, va);
    if (likely(e->tag == rv_tlb_tag(va, mode) && (va & 0xfff) <= 4096 - size)) {
        void *p = (void *)(uintptr_t)(va + e->addend);
        uint8_t b1 = (uint8_t)v; uint16_t b2 = (uint16_t)v; uint32_t b4 = (uint32_t)v;
        switch (size) {
        case 1: memcpy(p, &b1, 1); break;
        case 2: memcpy(p, &b2, 2); break;
        case 4: memcpy(p, &b4, 4); break;
        default: memcpy(p, &v, 8); break;
        }
        return 0;
    }
    int c = rv_store_slow(h, va, size, v);
    if (!c && unlikely(h->code_dirty))
        return EXEC_CODE_WRITTEN;
    return c;
}

/* ---- the loop ----
 *
 * The pieces rv_run's labels are made of. They use its locals: h, x, the
 * block b and its instruction i, va (an access's address), mode_d (the
 * data-access mode of TLB tags), sys. An access's cause stays in a local
 * of its own (c_), set on the slow path only. */

#define NEXT do { i++; goto *labels[i->op]; } while (0)
#define EXC(cause, tval) do { ecause = (cause); etval = (tval); goto exception; } while (0)
/* return to the caller before instruction i (not retired) */
#define LEAVE(e) do { ex = (e); goto leave; } while (0)
#define JUMP(target) do { h->pc = (target); goto dispatch; } while (0)
/* leave the block after instruction i (a taken branch mid-block) */
#define SIDE(target) do {                                                  \
        h->instret -= (uint64_t)(b->n - 1 - (unsigned)(i - b->insn));        \
        JUMP(target);                                                      \
    } while (0)
#define LOAD(T, dst) do {                                                  \
        uint64_t v_;                                                       \
        va = RS1 + IMM;                                                    \
        int c_ = exec_load(h, va, sizeof(T), mode_d, &v_);                 \
        if (unlikely(c_))                                                  \
            EXC((uint64_t)c_, va);                                         \
        dst = (T)v_;                                                       \
    } while (0)
#define STORE(T, val) do {                                                 \
        va = RS1 + IMM;                                                    \
        int c_ = exec_store(h, va, sizeof(T), mode_d, (uint64_t)(T)(val)); \
        if (unlikely(c_)) {                                                \
            if (c_ == EXEC_CODE_WRITTEN)                                   \
                goto code_written;                                         \
            EXC((uint64_t)c_, va);                                         \
        }                                                                  \
    } while (0)
#define AMO_PTR(T, write) ({                                               \
        va = RS1;                                                          \
        int c_;                                                            \
        T *p_ = rv_amo_ptr(h, va, sizeof(T), (write), &c_);                \
        if (unlikely(!p_))                                                 \
            EXC((uint64_t)c_, va);                                         \
        p_; })
#define FP_ON() do { if (sys && !(h->mstatus & MS_FS)) EXC(RV_EXC_ILLEGAL, i->raw); } while (0)

/* a label per row of the tables */
#define OP_ALU(n, e) L_##n: RD = (e); NEXT;
#define OP_BRANCH(n, cond) L_##n: if (cond) SIDE(IMM); NEXT;
#define OP_LOAD(n, T) L_##n: { T t_; LOAD(T, t_); RD = (uint64_t)(int64_t)t_; NEXT; }
#define OP_STORE(n, T) L_##n: STORE(T, RS2); NEXT;
#define OP_FP_LOAD(n, T, box) L_##n: {                                     \
        T t_;                                                              \
        FP_ON();                                                           \
        LOAD(T, t_);                                                       \
        h->fp.f[i->rd] = (box) | t_;                                       \
        goto fp_written;                                                   \
    }
#define OP_FP_STORE(n, T) L_##n: FP_ON(); STORE(T, (T)h->fp.f[i->rs2]); NEXT;
#define OP_AMO_FETCH(n, T, ST, fn) L_##n: {                                \
        T *p = AMO_PTR(T, true);                                           \
        RD = (uint64_t)(ST)fn(p, (T)RS2, __ATOMIC_SEQ_CST);                \
        NEXT;                                                              \
    }
#define OP_AMO_CAS(n, T, ST, expr) L_##n: {                                \
        T *p = AMO_PTR(T, true);                                           \
        T o = __atomic_load_n(p, __ATOMIC_RELAXED), n_, b_ = (T)RS2;       \
        do { T a_ = o; n_ = (expr); }                                      \
        while (!__atomic_compare_exchange_n(p, &o, n_, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)); \
        RD = (uint64_t)(ST)o;                                              \
        NEXT;                                                              \
    }
#define OP_LRSC(w, T, ST)                                                  \
    L_LR_##w: {                                                            \
        T *p = AMO_PTR(T, false);                                          \
        T t = __atomic_load_n(p, __ATOMIC_ACQUIRE);                        \
        h->resv_host = (uintptr_t)p; h->resv_val = t; h->resv_addr = va;   \
        RD = (uint64_t)(ST)t;                                              \
        NEXT;                                                              \
    }                                                                      \
    L_SC_##w: {                                                            \
        T *p = AMO_PTR(T, true);                                           \
        T expect = (T)h->resv_val;                                         \
        bool ok = h->resv_host == (uintptr_t)p &&                          \
                  __atomic_compare_exchange_n(p, &expect, (T)RS2, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
        h->resv_host = 0;                                                  \
        RD = !ok;                                                          \
        NEXT;                                                              \
    }
/* A CSR op ends its block; the next one may be its chained successor:
 * every CSR write that changes the translation regime flushes the TLB
 * (satp, mstatus's MPRV, MPP, SUM, MXR), which exec_chain_ok sees, or the
 * code through a request (triggers), and the boundary takes an interrupt
 * a write enabled. */
#define OP_CSR(n, val, kind, write) L_##n: {                               \
        uint64_t old_ = 0;                                                 \
        if (unlikely(rv_csr_op(h, (unsigned)i->imm, &old_, (val), (kind), (write)) < 0)) \
            EXC(RV_EXC_ILLEGAL, i->raw);                                   \
        RD = old_;                                                         \
        h->pc = PC + 4;                                                    \
        goto dispatch;                                                     \
    }

/* The translator's AMOs, LR and SC (jit_ops.c calls this): the operation
 * of the interpreter's labels above, from the same tables. *val is rs2's
 * value in, rd's out; returns 0 or an exception cause (tval: va). */
#define AMO_CALL_PTR(T, write) ({                                          \
        T *p_ = rv_amo_ptr(h, va, sizeof(T), (write), &c);                 \
        if (unlikely(!p_))                                                 \
            return c;                                                      \
        p_; })
#define AMO_CALL_FETCH(n, T, ST, fn) case RV_OP_##n: {                     \
        T *p = AMO_CALL_PTR(T, true);                                      \
        *val = (uint64_t)(ST)fn(p, (T)*val, __ATOMIC_SEQ_CST);             \
        return 0;                                                          \
    }
#define AMO_CALL_CAS(n, T, ST, expr) case RV_OP_##n: {                     \
        T *p = AMO_CALL_PTR(T, true);                                      \
        T o = __atomic_load_n(p, __ATOMIC_RELAXED), n_, b_ = (T)*val;      \
        do { T a_ = o; n_ = (expr); }                                      \
        while (!__atomic_compare_exchange_n(p, &o, n_, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)); \
        *val = (uint64_t)(ST)o;                                            \
        return 0;                                                          \
    }
#define AMO_CALL_LRSC(w, T, ST)                                            \
    case RV_OP_LR_##w: {                                                   \
        T *p = AMO_CALL_PTR(T, false);                                     \
        T t = __atomic_load_n(p, __ATOMIC_ACQUIRE);                        \
        h->resv_host = (uintptr_t)p; h->resv_val = t; h->resv_addr = va;   \
        *val = (uint64_t)(ST)t;                                            \
        return 0;                                                          \
    }                                                                      \
    case RV_OP_SC_##w: {                                                   \
        T *p = AMO_CALL_PTR(T, true);                                      \
        T expect = (T)h->resv_val;                                         \
        bool ok = h->resv_host == (uintptr_t)p &&                          \
                  __atomic_compare_exchange_n(p, &expect, (T)*val, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
        h->resv_host = 0;                                                  \
        *val = !ok;                                                        \
        return 0;                                                          \
    }
int rv_exec_amo(struct rv_hart *h, const struct rv_insn *i, uint64_t va, uint64_t *val)
{
    int c = RV_EXC_ILLEGAL;
    switch (i->op) {
    EXEC_AMO_FETCH_OPS(AMO_CALL_FETCH)
    EXEC_AMO_CAS_OPS(AMO_CALL_CAS)
    EXEC_LRSC_OPS(AMO_CALL_LRSC)
    default: return c;
    }
}
#undef AMO_CALL_PTR
#undef AMO_CALL_FETCH
#undef AMO_CALL_CAS
#undef AMO_CALL_LRSC

enum rv_exit rv_run(struct rv_hart *h, uint64_t budget)
{
#define RV_OP_LABEL(n) [RV_OP_##n] = &&L_##n,
    static const void *const labels[RV_OP_COUNT] = { RV_OPS(RV_OP_LABEL) };
#undef RV_OP_LABEL
    uint64_t *const x = h->x;
    struct rv_machine *const m = h->m;     /* in a register: the helpers take it */
    const bool sys = !m->user;
    const struct rv_insn *i;
    struct rv_block *b, *last = NULL;
    struct exec_jsite js = { 0 };
    unsigned mode_d;
    enum rv_exit ex = RV_EXIT_NONE;
    uint64_t va, ecause, etval;

    if (h->halted)
        return RV_EXIT_HALT;
    h->budget_end = budget ? h->instret + budget : UINT64_MAX;
    atomic_store(&h->jit_limit, rv_jit_limit(h));   /* exec_boundary reads exit_req next */

dispatch_nochain:
    last = NULL;
dispatch:
    if (unlikely((ex = exec_boundary(h, m, sys, &last)) != RV_EXIT_NONE))
        return ex;
    if (unlikely(!(b = exec_next_block(h, last, sys, &ex)))) {
        if (ex != RV_EXIT_NONE)
            return ex;
        goto dispatch_nochain;
    }
    mode_d = h->mode_data;
    if (unlikely(h->budget_end - h->instret < b->n)) {
        if (h->instret >= h->budget_end)
            return RV_EXIT_BUDGET;
        b = exec_step_block(h, b);
    }
    last = b == h->step_block ? NULL : b;
    exec_enter(h, m, b, last != NULL);
    i = b->insn;
    if (b->jit) {
        struct rv_jit_ret r = exec_enter_jit(h, m, b, sys, &js);
        if (likely(r.code == RV_JIT_NEXT)) {
            /* the successor is chained to the block whose exit this was:
             * the code may have run on from b through linked exits (with
             * b as `last`, a boot of the default guest made 270,000
             * lookups; with the exiting block, 226,000) */
            last = h->jit_last;
            goto dispatch;
        }
        if (r.code == RV_JIT_NOCHAIN)
            goto dispatch_nochain;
        if ((r.code & 0xff) == RV_JIT_RESUME) {
            last = b = (struct rv_block *)(uintptr_t)r.aux;
            i = &b->insn[r.code >> 8];
            goto *labels[i->op];
        }
        /* an exception: pc and instret are already those of EXC */
        if ((ex = exec_trap(h, r.code - RV_JIT_EXC, r.aux)) != RV_EXIT_NONE)
            return ex;
        goto dispatch_nochain;
    }
    if (unlikely(js.site))
        js.site = 0;                /* the exit led to an interpreted block */
    goto *labels[i->op];

    EXEC_ALU_OPS(OP_ALU)
    EXEC_BRANCH_OPS(OP_BRANCH)
    EXEC_LOAD_OPS(OP_LOAD)
    EXEC_STORE_OPS(OP_STORE)
    EXEC_AMO_FETCH_OPS(OP_AMO_FETCH)
    EXEC_AMO_CAS_OPS(OP_AMO_CAS)
    EXEC_LRSC_OPS(OP_LRSC)
    EXEC_CSR_OPS(OP_CSR)

    /* control flow */
L_END: JUMP(PC);
L_NOP: L_FENCE: NEXT;
L_JAL: RD = PC + i->len; SIDE(IMM);
L_JALR: va = (RS1 + IMM) & ~1ULL; RD = PC + i->len; SIDE(va);

    /* F / D */
    EXEC_FP_LOAD_OPS(OP_FP_LOAD)
    EXEC_FP_STORE_OPS(OP_FP_STORE)
L_FPU:
    FP_ON();
    if (unlikely(rv_fpu_exec(&h->fp, x, i->raw) < 0))
        EXC(RV_EXC_ILLEGAL, i->raw);
    x[0] = 0;
fp_written:
    if (sys)
        rv_fs_dirty(h);
    NEXT;

    /* system */
L_FENCE_I:
    rv_fence_i(h);
    h->pc = PC + i->len;
    goto dispatch_nochain;
L_ECALL:
    if (!sys)
        LEAVE(RV_EXIT_ECALL);
    if (h->priv == RV_PRIV_S && m->sops && m->sops->sbi_call) {
        h->pc = PC;
        if (m->sops->sbi_call(h)) {
            h->pc = PC + 4;
            goto dispatch_nochain;
        }
    }
    EXC(RV_EXC_ECALL_U + h->priv, 0);
L_EBREAK:
    if (!sys)
        LEAVE(RV_EXIT_EBREAK);
    EXC(RV_EXC_BREAKPOINT, PC);
L_ILLEGAL:
    EXC(RV_EXC_ILLEGAL, i->len == 2 ? (i->raw & 0xffff) : i->raw);
L_MRET:
    if (rv_mret(h) < 0)
        EXC(RV_EXC_ILLEGAL, i->raw);
    goto dispatch_nochain;
L_SRET:
    if (rv_sret(h) < 0)
        EXC(RV_EXC_ILLEGAL, i->raw);
    goto dispatch_nochain;
L_WFI:
    if (h->priv == RV_PRIV_U || (h->priv < RV_PRIV_M && (h->mstatus & MS_TW)))
        EXC(RV_EXC_ILLEGAL, i->raw);
    h->pc = PC + 4;
    rv_update_timers(h);
    if (!(atomic_load(&h->mip) & h->mie))
        return RV_EXIT_WFI;
    goto dispatch_nochain;
L_SFENCE_VMA:
    if (h->priv == RV_PRIV_U || (h->priv == RV_PRIV_S && (h->mstatus & MS_TVM)))
        EXC(RV_EXC_ILLEGAL, i->raw);
    if (i->rs1)
        rv_tlb_flush_page(h, RS1);
    else
        rv_tlb_flush_local(h);
    h->pc = PC + 4;
    goto dispatch_nochain;

    /* leaving instruction i unretired: an exception, or an exit to the caller */
exception:
    h->instret -= (uint64_t)(b->n - (unsigned)(i - b->insn));
    h->pc = PC;
    if ((ex = exec_trap(h, ecause, etval)) != RV_EXIT_NONE)
        return ex;
    goto dispatch_nochain;
leave:
    h->instret -= (uint64_t)(b->n - (unsigned)(i - b->insn));
    h->pc = PC;
    return ex;
    /* a store wrote decoded code: leave after it, the rest is not retired */
code_written:
    h->code_dirty = false;
    h->instret -= (uint64_t)(b->n - 1 - (unsigned)(i - b->insn));
    h->pc = PC + i->len;
    goto dispatch_nochain;
}

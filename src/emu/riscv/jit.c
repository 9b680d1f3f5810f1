/* emu/riscv: the binary translator (RISC-V -> x86-64) behind the block cache.
 *
 * A decoded block (cache.c) that has run VESSEL_JIT_THRESHOLD times is
 * translated into host code in the hart's code arena; exec.c then calls
 * that code instead of interpreting. The code runs a prefix of the block:
 * when it meets an op it does not translate it returns RV_JIT_RESUME with
 * the block and that instruction's index and the interpreter goes on from
 * there, with the same instret accounting (exec.c added b->n at block entry).
 *
 * Host code: rbx = the hart; up to 11 guest registers of the block live in
 * host registers (rbp, r12-r15, which calls keep, then rsi, rdi, r8-r11,
 * which a slow-path call saves first and reloads after); rax, rcx, rdx are
 * scratch. Every exit writes back the guest registers written so far, sets
 * h->pc, takes back the instructions not retired from h->instret, and
 * returns { code, aux } in rax:rdx (enum rv_jit_code).
 *
 * Loads and stores check the same TLB entry as the interpreter's LOAD/STORE
 * (slot, tag with h->mode_data, access inside the page) and otherwise call
 * rv_load_slow/rv_store_slow: a cause returns RV_JIT_EXC (pc at the access,
 * not retired), a store that dirtied code (h->code_dirty) leaves after it.
 *
 * The arena is reset with the block arena (rv_cache_flush), so a dropped
 * block's code is never entered again. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"
#include "emu/riscv/jit_x86.h"
#include "base/base.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#define JIT_ARENA (32u << 20)        /* host code per hart */
#define JIT_BLOCK_ROOM (32u << 10)   /* the most one block may take */
#define JIT_DEFAULT_THRESHOLD 16

/* host registers for guest registers; the first NCALLEE survive calls */
static const int8_t pool[] = { RBP, R12, R13, R14, R15, RSI, RDI, R8, R9, R10, R11 };
#define NPOOL ((unsigned)sizeof(pool))
#define NCALLEE 5

/* the frame: [rsp] slow-path load result, [rsp+8] mode_data + 1, [rsp+16] va */
enum { SLOT_VAL = 0, SLOT_MODE = 8, SLOT_VA = 16, FRAME = 24 };
#define OFF_X(r) ((int32_t)(offsetof(struct rv_hart, x) + 8 * (r)))
#define OFF_F(r) ((int32_t)(offsetof(struct rv_hart, fp.f) + 8 * (r)))
#define OFF_PC ((int32_t)offsetof(struct rv_hart, pc))
#define OFF_INSTRET ((int32_t)offsetof(struct rv_hart, instret))
#define OFF_MODE ((int32_t)offsetof(struct rv_hart, mode_data))
#define OFF_DIRTY ((int32_t)offsetof(struct rv_hart, code_dirty))
#define OFF_REQ ((int32_t)offsetof(struct rv_hart, exit_req))
#define OFF_BUDGET ((int32_t)offsetof(struct rv_hart, budget_end))
#define OFF_POLL ((int32_t)offsetof(struct rv_hart, poll))
#define OFF_MIP ((int32_t)offsetof(struct rv_hart, mip))
#define OFF_MIE ((int32_t)offsetof(struct rv_hart, mie))
#define OFF_JTC ((int32_t)offsetof(struct rv_hart, jtc))
#define OFF_TLB(acc) ((int32_t)(offsetof(struct rv_hart, tlb) + (size_t)(acc) * sizeof(((struct rv_hart *)0)->tlb[0])))

enum { ST_BRANCH, ST_LOAD, ST_STORE };
struct stub {
    uint8_t kind, size;
    bool sext;
    uint8_t k;                  /* instruction index in the block */
    uint8_t rs2;                /* store: the value's register */
    bool fp;                    /* store: rs2 is an f register */
    int8_t dst;                 /* load: the host register loaded */
    uint32_t dirty;             /* guest registers dirty at that point */
    uint32_t patch[2];          /* rel32s to point at the stub (0: none) */
    uint32_t back;              /* where the fast path goes on */
};

struct jt {
    struct jx e;
    const struct rv_block *b;
    int8_t hreg[33];            /* guest -> host register, -1: in memory */
    uint32_t dirty;             /* guest registers written in host registers */
    uint32_t callers;           /* guest registers in caller-saved host registers */
    uint32_t epilogue;
    uint32_t top;               /* after the entry's loads: where a self-loop goes */
    bool user;
    bool loop;                  /* a branch goes back to the block's start */
    bool nbp;                   /* breakpoints are set: every exit to the dispatcher */
    unsigned nstub;
    struct stub stub[2 * RV_BLOCK_MAX + 2];
};

void rv_jit_configure(struct rv_machine *m)
{
    const char *s = getenv("VESSEL_JIT");
    m->jit = !(s && s[0] == '0' && !s[1]);
    s = getenv("VESSEL_JIT_THRESHOLD");
    m->jit_threshold = s && *s ? (uint32_t)strtoul(s, NULL, 10) : JIT_DEFAULT_THRESHOLD;
}

void rv_jit_free(struct rv_hart *h)
{
    if (h->jit_code)
        munmap(h->jit_code, JIT_ARENA);
    h->jit_code = NULL;
}

/* ---- guest register operands ---- */

static struct jrm gx(const struct jt *t, unsigned r)
{
    return t->hreg[r] >= 0 ? jr(t->hreg[r]) : jm(RBX, OFF_X(r));
}
/* rax (or another scratch) = guest register r */
static void get(struct jt *t, int d, unsigned r, bool w)
{
    if (t->hreg[r] >= 0 && w)
        jx_mov_rr(&t->e, d, t->hreg[r]);
    else
        jx_mov_r_rm(&t->e, w, d, gx(t, r));
}
/* guest rd = host register s */
static void put(struct jt *t, unsigned rd, int s)
{
    if (rd == 0 || rd >= 32)
        return;
    if (t->hreg[rd] >= 0) {
        jx_mov_rr(&t->e, t->hreg[rd], s);
        t->dirty |= 1u << rd;
    } else {
        jx_mov_rm_r(&t->e, true, jm(RBX, OFF_X(rd)), s);
    }
}
static void put_imm(struct jt *t, unsigned rd, uint64_t v)
{
    if (rd == 0 || rd >= 32)
        return;
    if (t->hreg[rd] < 0 && (int64_t)v == (int32_t)v) {
        jx_mov_rm_imm32(&t->e, jm(RBX, OFF_X(rd)), (int32_t)v);
        return;
    }
    jx_mov_imm(&t->e, RAX, v);
    put(t, rd, RAX);
}

/* write the guest registers in mask from their host registers to memory */
static void writeback(struct jt *t, uint32_t mask)
{
    for (unsigned r = 1; r < 32; r++)
        if ((mask >> r) & 1 && t->hreg[r] >= 0)
            jx_mov_rm_r(&t->e, true, jm(RBX, OFF_X(r)), t->hreg[r]);
}
static void reload(struct jt *t, uint32_t mask)
{
    for (unsigned r = 1; r < 32; r++)
        if ((mask >> r) & 1 && t->hreg[r] >= 0)
            jx_mov_r_rm(&t->e, true, t->hreg[r], jm(RBX, OFF_X(r)));
}

/* Leave: pc = imm (pc_reg < 0) or pc_reg, instret -= unretired, return code/aux. */
static void emit_exit(struct jt *t, uint32_t wb, int pc_reg, uint64_t pc, uint32_t unretired,
                      unsigned code, uint64_t aux)
{
    struct jx *e = &t->e;
    writeback(t, wb);
    if (pc_reg < 0) {
        jx_mov_imm(e, RAX, pc);
        pc_reg = RAX;
    }
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), pc_reg);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jm(RBX, OFF_INSTRET), (int32_t)unretired);
    jx_mov_imm(e, RAX, code);
    jx_mov_imm(e, RDX, aux);
    jx_jmp_to(e, t->epilogue);
}

/* The exit to a known pc: a jump that rv_jit_link may point at a chain stub
 * to the next block, else a return of RV_JIT_NEXT with the jump's address.
 * In system mode only targets in the block's page are chained: the whole
 * chain then runs under the translation that the dispatcher checked. */
static void emit_exit_to(struct jt *t, uint32_t wb, uint64_t pc, uint32_t unretired)
{
    struct jx *e = &t->e;
    bool chain = t->user || (pc & ~0xfffULL) == (t->b->vpc & ~0xfffULL);
    if (!chain) {
        emit_exit(t, wb, -1, pc, unretired, RV_JIT_NEXT, 0);
        return;
    }
    writeback(t, wb);
    jx_mov_imm(e, RAX, pc);
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RAX);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jm(RBX, OFF_INSTRET), (int32_t)unretired);
    uint32_t site = jx_jmp(e);                 /* rel32 0: falls through */
    jx_mov_imm(e, RAX, RV_JIT_NEXT);
    jx_mov_imm(e, RDX, (uint64_t)(uintptr_t)(e->buf + site));
    jx_jmp_to(e, t->epilogue);
}

static struct stub *new_stub(struct jt *t, unsigned kind, unsigned k)
{
    struct stub *s = &t->stub[t->nstub++];
    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)kind;
    s->k = (uint8_t)k;
    s->dirty = t->dirty;
    return s;
}

/* ---- memory ---- */

/* rax = rs1 + imm; rdx = TLB slot offset; jumps to the stub on a miss.
 * The tag is computed from the access's last byte and the slot from its
 * first: an access that crosses the page never matches (the next page's
 * tag lives in another slot), which is the interpreter's in-page check. */
static void emit_tlb_check(struct jt *t, const struct rv_insn *i, int acc, unsigned size, struct stub *s)
{
    struct jx *e = &t->e;
    if (i->rs1 == 0) {
        jx_mov_imm(e, RAX, (uint64_t)i->imm);
    } else if (t->hreg[i->rs1] >= 0) {
        jx_lea(e, RAX, jm(t->hreg[i->rs1], (int32_t)i->imm));
    } else {
        jx_mov_r_rm(e, true, RAX, gx(t, i->rs1));
        if (i->imm)
            jx_alu_rm_imm(e, true, ALU_ADD, jr(RAX), (int32_t)i->imm);
    }
    jx_lea(e, RCX, jm(RAX, (int32_t)size - 1));
    jx_shift_imm(e, true, SH_SHR, jr(RCX), 12);
    if (t->user) {
        /* user mode runs in U (mode 0) only: tag = vpn * 4 + 1 */
        jx_lea(e, RCX, jmi(-1, RCX, 2, 1));
    } else {
        jx_shift_imm(e, true, SH_SHL, jr(RCX), 2);
        jx_alu_r_rm(e, true, ALU_ADD, RCX, jm(RSP, SLOT_MODE));
    }
    jx_mov_r_rm(e, false, RDX, jr(RAX));
    jx_shift_imm(e, false, SH_SHR, jr(RDX), 12 - 4);
    jx_alu_rm_imm(e, false, ALU_AND, jr(RDX), (RV_TLB_SIZE - 1) << 4);
    jx_alu_r_rm(e, true, ALU_CMP, RCX, jmi(RBX, RDX, 0, OFF_TLB(acc)));
    s->patch[0] = jx_jcc(e, CC_NE);
    jx_alu_r_rm(e, true, ALU_ADD, RAX, jmi(RBX, RDX, 0, OFF_TLB(acc) + 8));
}

/* fp: the destination is f[rd] (flw NaN-boxes) */
static void emit_load(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool sext, bool fp)
{
    struct stub *s = new_stub(t, ST_LOAD, k);
    s->size = (uint8_t)size;
    s->sext = sext;
    int d = !fp && i->rd < 32 && t->hreg[i->rd] >= 0 ? t->hreg[i->rd] : RAX;
    s->dst = (int8_t)d;
    emit_tlb_check(t, i, RV_ACC_READ, size, s);
    jx_load(&t->e, size, sext, d, jm(RAX, 0));
    s->back = jx_pos(&t->e);
    if (!fp) {
        if (d == RAX)
            put(t, i->rd, RAX);
        else
            t->dirty |= 1u << i->rd;
        return;
    }
    if (size == 4) {
        jx_mov_imm(&t->e, RCX, 0xffffffff00000000ULL);
        jx_alu_r_rm(&t->e, true, ALU_OR, RAX, jr(RCX));
    }
    jx_mov_rm_r(&t->e, true, jm(RBX, OFF_F(i->rd)), RAX);
}

static void emit_store(struct jt *t, const struct rv_insn *i, unsigned k, unsigned size, bool fp)
{
    struct stub *s = new_stub(t, ST_STORE, k);
    s->size = (uint8_t)size;
    s->rs2 = i->rs2;
    s->fp = fp;
    emit_tlb_check(t, i, RV_ACC_WRITE, size, s);
    int v = fp ? -1 : t->hreg[i->rs2];
    if (v < 0) {
        jx_mov_r_rm(&t->e, true, RCX, fp ? jm(RBX, OFF_F(i->rs2)) : gx(t, i->rs2));
        v = RCX;
    }
    jx_store(&t->e, size, jm(RAX, 0), v);
    s->back = jx_pos(&t->e);
}

/* save the caller-saved guest registers, call fn(h, va = rax, size, rcx),
 * then test eax */
static void emit_slow_call(struct jt *t, const struct stub *s, const void *fn)
{
    struct jx *e = &t->e;
    jx_mov_rm_r(e, true, jm(RSP, SLOT_VA), RAX);
    if (s->kind == ST_STORE) {
        if (s->fp)
            jx_mov_r_rm(e, true, RCX, jm(RBX, OFF_F(s->rs2)));
        else
            get(t, RCX, s->rs2, true);
        if (s->size < 8)
            jx_load(e, s->size, false, RCX, jr(RCX));
    } else {
        jx_lea(e, RCX, jm(RSP, SLOT_VAL));
    }
    writeback(t, s->dirty & t->callers);
    jx_mov_rr(e, RSI, RAX);
    jx_mov_rr(e, RDI, RBX);
    jx_mov_imm(e, RDX, s->size);
    jx_call_abs(e, fn);
    jx_test_rm_r(e, false, jr(RAX), RAX);
}

static void emit_fault(struct jt *t, const struct stub *s)
{
    struct jx *e = &t->e;
    const struct rv_insn *i = &t->b->insn[s->k];
    writeback(t, s->dirty & ~t->callers);
    jx_mov_imm(e, RCX, i->pc);
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RCX);
    jx_alu_rm_imm(e, true, ALU_SUB, jm(RBX, OFF_INSTRET), (int32_t)(t->b->n - s->k));
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RAX), RV_JIT_EXC);
    jx_mov_r_rm(e, true, RDX, jm(RSP, SLOT_VA));
    jx_jmp_to(e, t->epilogue);
}

/* The dispatcher's checks between two runs of a block (no request, budget
 * left; system mode: no timer poll due, no interrupt pending), jumping to
 * `fail` when one fails; then instret += n of `to`. */
static void emit_checks(struct jx *e, bool user, uint32_t fail, uint32_t n)
{
    jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_REQ), 0);
    jx_jcc_to(e, CC_NE, fail);
    jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_BUDGET));
    jx_alu_r_rm(e, true, ALU_SUB, RAX, jm(RBX, OFF_INSTRET));
    jx_alu_rm_imm(e, true, ALU_CMP, jr(RAX), (int32_t)n);
    jx_jcc_to(e, CC_B, fail);
    if (!user) {
        jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_POLL), 1);
        jx_jcc_to(e, CC_BE, fail);
        jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_MIP));
        jx_test_rm_r(e, true, jm(RBX, OFF_MIE), RAX);
        jx_jcc_to(e, CC_NE, fail);
        jx_alu_rm_imm(e, false, ALU_SUB, jm(RBX, OFF_POLL), 1);
    }
    jx_alu_rm_imm(e, true, ALU_ADD, jm(RBX, OFF_INSTRET), (int32_t)n);
}

/* A taken branch back to the block's start: run the block again with the
 * guest registers still in host registers (every register the block
 * writes counts as dirty from the start, so any exit writes it back). */
static void emit_loop(struct jt *t, const struct stub *s)
{
    struct jx *e = &t->e;
    uint32_t unretired = t->b->n - 1 - s->k;
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jm(RBX, OFF_INSTRET), (int32_t)unretired);
    /* the checks jump forward to the exit: emit them with a placeholder */
    uint32_t start = jx_pos(e);
    emit_checks(e, t->user, start, t->b->n);
    jx_jmp_to(e, t->top);
    uint32_t out = jx_pos(e);
    e->p = e->buf + start;
    emit_checks(e, t->user, out, t->b->n);
    jx_jmp_to(e, t->top);
    emit_exit(t, s->dirty, -1, t->b->vpc, 0, RV_JIT_NEXT, 0);
}

static void emit_stub(struct jt *t, struct stub *s)
{
    struct jx *e = &t->e;
    const struct rv_insn *i = &t->b->insn[s->k];
    uint32_t start = jx_pos(e);
    for (unsigned k = 0; k < 2; k++)
        if (s->patch[k])
            jx_patch(e, s->patch[k], start);
    if (s->kind == ST_BRANCH && t->loop && (uint64_t)i->imm == t->b->vpc) {
        emit_loop(t, s);
        return;
    }
    if (s->kind == ST_BRANCH) {
        emit_exit_to(t, s->dirty, (uint64_t)i->imm, t->b->n - 1 - s->k);
        return;
    }
    if (s->kind == ST_LOAD) {
        emit_slow_call(t, s, (const void *)rv_load_slow);
        uint32_t fault = jx_jcc(e, CC_NE);
        reload(t, t->callers);
        jx_load(e, s->size, s->sext, s->dst, jm(RSP, SLOT_VAL));
        jx_jmp_to(e, s->back);
        jx_patch(e, fault, jx_pos(e));
        emit_fault(t, s);
        return;
    }
    emit_slow_call(t, s, (const void *)rv_store_slow);
    uint32_t fault = jx_jcc(e, CC_NE);
    jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RBX, OFF_DIRTY));   /* cmp byte [code_dirty], 0 */
    jx_byte(e, 0);
    uint32_t dirty = jx_jcc(e, CC_NE);
    reload(t, t->callers);
    jx_jmp_to(e, s->back);
    jx_patch(e, dirty, jx_pos(e));
    jx_insn(e, 0, 0, 0xc6, 0, jm(RBX, OFF_DIRTY));         /* mov byte [code_dirty], 0 */
    jx_byte(e, 0);
    emit_exit(t, s->dirty & ~t->callers, -1, i->pc + i->len, t->b->n - 1 - s->k, RV_JIT_NOCHAIN, 0);
    jx_patch(e, fault, jx_pos(e));
    emit_fault(t, s);
}

/* ---- ALU ---- */

/* The host register to compute rd in: its own when it has one and rd is
 * not `avoid` (an operand read after the first), else rax. */
static int dst_of(const struct jt *t, unsigned rd, unsigned avoid)
{
    if (rd < 32 && t->hreg[rd] >= 0 && (rd != avoid || avoid == 0))
        return t->hreg[rd];
    return RAX;
}
/* rd = host register d (computed by dst_of), 64-bit or sign-extended 32 */
static void done(struct jt *t, unsigned rd, int d, bool w)
{
    if (!w) {
        if (d != RAX) {
            jx_movsxd(&t->e, d, jr(d));
            t->dirty |= 1u << rd;
            return;
        }
        jx_movsxd(&t->e, RAX, jr(RAX));
    }
    if (d == RAX)
        put(t, rd, RAX);
    else
        t->dirty |= 1u << rd;
}

/* rd = rs1 OP rs2 (64-bit, or 32-bit sign-extended) */
static void alu_rr(struct jt *t, const struct rv_insn *i, unsigned alu, bool w)
{
    unsigned a = i->rs1, b = i->rs2;
    bool comm = alu == ALU_ADD || alu == ALU_AND || alu == ALU_OR || alu == ALU_XOR;
    if (comm && i->rd == b && b != a) {
        a = i->rs2;
        b = i->rs1;
    }
    int d = dst_of(t, i->rd, b == i->rd && a != b ? b : 0);
    get(t, d, a, true);
    jx_alu_r_rm(&t->e, w, alu, d, gx(t, b));
    done(t, i->rd, d, w);
}
static void alu_ri(struct jt *t, const struct rv_insn *i, unsigned alu, bool w)
{
    int d = dst_of(t, i->rd, 0);
    get(t, d, i->rs1, true);
    jx_alu_rm_imm(&t->e, w, alu, jr(d), (int32_t)i->imm);
    done(t, i->rd, d, w);
}
static void shift_ri(struct jt *t, const struct rv_insn *i, unsigned sh, bool w)
{
    int d = dst_of(t, i->rd, 0);
    get(t, d, i->rs1, true);
    jx_shift_imm(&t->e, w, sh, jr(d), (unsigned)i->imm & (w ? 63 : 31));
    done(t, i->rd, d, w);
}
/* shifts and rotates by rs2 (x86 masks the count as RISC-V does) */
static void shift_rr(struct jt *t, const struct rv_insn *i, unsigned sh, bool w)
{
    get(t, RCX, i->rs2, true);
    get(t, RAX, i->rs1, true);
    jx_shift_cl(&t->e, w, sh, jr(RAX));
    if (!w)
        jx_movsxd(&t->e, RAX, jr(RAX));
    put(t, i->rd, RAX);
}
/* rd = (rs1 CMP rs2/imm) ? 1 : 0 */
static void set_cc(struct jt *t, const struct rv_insn *i, unsigned cc, bool imm)
{
    struct jx *e = &t->e;
    get(t, RAX, i->rs1, true);
    jx_alu_r_rm(e, false, ALU_XOR, RCX, jr(RCX));
    if (imm)
        jx_alu_rm_imm(e, true, ALU_CMP, jr(RAX), (int32_t)i->imm);
    else
        jx_alu_r_rm(e, true, ALU_CMP, RAX, gx(t, i->rs2));
    jx_setcc(e, cc, RCX);
    put(t, i->rd, RCX);
}
/* rd = cmp(rs1, rs2) picks rs2 under cc, else rs1 */
static void minmax(struct jt *t, const struct rv_insn *i, unsigned cc)
{
    get(t, RAX, i->rs1, true);
    get(t, RCX, i->rs2, true);
    jx_alu_r_rm(&t->e, true, ALU_CMP, RAX, jr(RCX));
    jx_cmov(&t->e, true, cc, RAX, jr(RCX));
    put(t, i->rd, RAX);
}
/* DIV/DIVU/REM/REMU and the W forms, with RISC-V's results for x/0 and
 * INT_MIN/-1 */
static void divide(struct jt *t, const struct rv_insn *i, bool sign, bool rem, bool w)
{
    struct jx *e = &t->e;
    get(t, RCX, i->rs2, true);
    get(t, RAX, i->rs1, true);
    jx_test_rm_r(e, w, jr(RCX), RCX);
    uint32_t zero = jx_jcc(e, CC_E);
    uint32_t minus1 = 0;
    if (sign) {
        jx_alu_rm_imm(e, w, ALU_CMP, jr(RCX), -1);
        minus1 = jx_jcc(e, CC_E);
        jx_cqo(e, w);
        jx_group3(e, w, G3_IDIV, jr(RCX));
    } else {
        jx_alu_r_rm(e, false, ALU_XOR, RDX, jr(RDX));
        jx_group3(e, w, G3_DIV, jr(RCX));
    }
    if (rem)
        jx_mov_r_rm(e, true, RAX, jr(RDX));
    uint32_t done = jx_jmp(e);
    if (sign) {
        /* x / -1 = -x (INT_MIN stays), x % -1 = 0 */
        jx_patch(e, minus1, jx_pos(e));
        if (rem)
            jx_alu_r_rm(e, false, ALU_XOR, RAX, jr(RAX));
        else
            jx_group3(e, w, G3_NEG, jr(RAX));
        uint32_t d2 = jx_jmp(e);
        jx_patch(e, zero, jx_pos(e));
        if (!rem)
            jx_mov_imm(e, RAX, ~0ULL);
        jx_patch(e, d2, jx_pos(e));
    } else {
        jx_patch(e, zero, jx_pos(e));
        if (!rem)
            jx_mov_imm(e, RAX, ~0ULL);
    }
    jx_patch(e, done, jx_pos(e));
    if (!w)
        jx_movsxd(e, RAX, jr(RAX));
    put(t, i->rd, RAX);
}

static bool have_popcnt(void)
{
    static int v = -1;
    if (v < 0)
        v = __builtin_cpu_supports("popcnt") ? 1 : 0;
    return v;
}

/* Is op translated? F/D only in user mode (no mstatus.FS to check or set) */
static bool jit_op(unsigned op, bool user)
{
    switch (op) {
    case RV_OP_FLW: case RV_OP_FLD: case RV_OP_FSW: case RV_OP_FSD: case RV_OP_FPU:
        return user;
    case RV_OP_NOP: case RV_OP_FENCE: case RV_OP_LI: case RV_OP_MV: case RV_OP_LUI: case RV_OP_AUIPC:
    case RV_OP_JAL: case RV_OP_JAL_IN: case RV_OP_JALR:
    case RV_OP_BEQ: case RV_OP_BNE: case RV_OP_BLT: case RV_OP_BGE: case RV_OP_BLTU: case RV_OP_BGEU:
    case RV_OP_LB: case RV_OP_LH: case RV_OP_LW: case RV_OP_LD: case RV_OP_LBU: case RV_OP_LHU: case RV_OP_LWU:
    case RV_OP_SB: case RV_OP_SH: case RV_OP_SW: case RV_OP_SD:
    case RV_OP_ADDI: case RV_OP_SLTI: case RV_OP_SLTIU: case RV_OP_XORI: case RV_OP_ORI: case RV_OP_ANDI:
    case RV_OP_SLLI: case RV_OP_SRLI: case RV_OP_SRAI:
    case RV_OP_ADD: case RV_OP_SUB: case RV_OP_SLL: case RV_OP_SLT: case RV_OP_SLTU: case RV_OP_XOR:
    case RV_OP_SRL: case RV_OP_SRA: case RV_OP_OR: case RV_OP_AND:
    case RV_OP_ADDIW: case RV_OP_SLLIW: case RV_OP_SRLIW: case RV_OP_SRAIW: case RV_OP_ADDW: case RV_OP_SUBW:
    case RV_OP_SLLW: case RV_OP_SRLW: case RV_OP_SRAW:
    case RV_OP_MUL: case RV_OP_MULH: case RV_OP_MULHSU: case RV_OP_MULHU: case RV_OP_DIV: case RV_OP_DIVU:
    case RV_OP_REM: case RV_OP_REMU: case RV_OP_MULW: case RV_OP_DIVW: case RV_OP_DIVUW: case RV_OP_REMW:
    case RV_OP_REMUW:
    case RV_OP_ADD_UW: case RV_OP_SH1ADD: case RV_OP_SH2ADD: case RV_OP_SH3ADD: case RV_OP_SH1ADD_UW:
    case RV_OP_SH2ADD_UW: case RV_OP_SH3ADD_UW: case RV_OP_SLLI_UW:
    case RV_OP_ANDN: case RV_OP_ORN: case RV_OP_XNOR: case RV_OP_CLZ: case RV_OP_CLZW: case RV_OP_CTZ:
    case RV_OP_CTZW: case RV_OP_MAX: case RV_OP_MAXU: case RV_OP_MIN: case RV_OP_MINU:
    case RV_OP_SEXT_B: case RV_OP_SEXT_H: case RV_OP_ZEXT_H:
    case RV_OP_ROL: case RV_OP_ROLW: case RV_OP_ROR: case RV_OP_RORW: case RV_OP_RORI: case RV_OP_RORIW:
    case RV_OP_REV8:
    case RV_OP_BCLR: case RV_OP_BCLRI: case RV_OP_BEXT: case RV_OP_BEXTI: case RV_OP_BINV: case RV_OP_BINVI:
    case RV_OP_BSET: case RV_OP_BSETI:
        return true;
    case RV_OP_CPOP: case RV_OP_CPOPW:
        return have_popcnt();
    default:
        return false;
    }
}

static void emit_branch(struct jt *t, const struct rv_insn *i, unsigned k, unsigned cc)
{
    struct jx *e = &t->e;
    int a = t->hreg[i->rs1];
    if (a < 0) {
        get(t, RAX, i->rs1, true);
        a = RAX;
    }
    if (i->rs2 == 0)
        jx_test_rm_r(e, true, jr(a), a);
    else
        jx_alu_r_rm(e, true, ALU_CMP, a, gx(t, i->rs2));
    struct stub *s = new_stub(t, ST_BRANCH, k);
    s->patch[0] = jx_jcc(e, cc);
}

/* rd = ((rs1 [32-bit zero-extended]) << sh) + rs2 */
static void shadd(struct jt *t, const struct rv_insn *i, unsigned sh, bool uw)
{
    get(t, RAX, i->rs1, !uw);
    if (sh)
        jx_shift_imm(&t->e, true, SH_SHL, jr(RAX), sh);
    jx_alu_r_rm(&t->e, true, ALU_ADD, RAX, gx(t, i->rs2));
    put(t, i->rd, RAX);
}

/* rv_fpu_exec(&h->fp, h->x, raw) with every guest register in memory
 * around the call; -1 is an illegal instruction. */
static void emit_fpu(struct jt *t, const struct rv_insn *i, unsigned k)
{
    struct jx *e = &t->e;
    writeback(t, t->dirty);
    t->dirty = 0;
    jx_lea(e, RDI, jm(RBX, (int32_t)offsetof(struct rv_hart, fp)));
    jx_lea(e, RSI, jm(RBX, OFF_X(0)));
    jx_mov_imm(e, RDX, i->raw);
    jx_call_abs(e, (const void *)rv_fpu_exec);
    jx_test_rm_r(e, false, jr(RAX), RAX);
    uint32_t ok = jx_jcc(e, CC_NS);
    emit_exit(t, 0, -1, i->pc, t->b->n - k, RV_JIT_EXC + RV_EXC_ILLEGAL, i->raw);
    jx_patch(e, ok, jx_pos(e));
    jx_mov_rm_imm32(e, jm(RBX, OFF_X(0)), 0);
    reload(t, ~1u);
}

/* User mode: leave for pc = rdx, straight into the target's translated
 * block when h->jtc knows it (still valid, with the dispatcher's checks),
 * else back to the dispatcher. */
static void emit_jalr_lookup(struct jt *t, uint32_t unretired)
{
    struct jx *e = &t->e;
    writeback(t, t->dirty);
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RDX);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jm(RBX, OFF_INSTRET), (int32_t)unretired);
    jx_mov_r_rm(e, false, RAX, jr(RDX));
    jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), ((1 << RV_JTC_BITS) - 1) << 1);
    jx_shift_imm(e, false, SH_SHL, jr(RAX), 3);
    jx_alu_r_rm(e, true, ALU_CMP, RDX, jmi(RBX, RAX, 0, OFF_JTC));
    uint32_t miss = jx_jcc(e, CC_NE);
    jx_mov_r_rm(e, true, RCX, jmi(RBX, RAX, 0, OFF_JTC + 8));
    jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RCX, (int32_t)offsetof(struct rv_block, valid)));
    jx_byte(e, 0);
    uint32_t gone = jx_jcc(e, CC_E);
    jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_REQ), 0);
    uint32_t req = jx_jcc(e, CC_NE);
    jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_BUDGET));
    jx_alu_r_rm(e, true, ALU_SUB, RAX, jm(RBX, OFF_INSTRET));
    jx_mov_r_rm(e, false, RDX, jm(RCX, (int32_t)offsetof(struct rv_block, n)));
    jx_alu_r_rm(e, true, ALU_CMP, RAX, jr(RDX));
    uint32_t budget = jx_jcc(e, CC_B);
    jx_alu_r_rm(e, true, ALU_ADD, RDX, jm(RBX, OFF_INSTRET));
    jx_mov_rm_r(e, true, jm(RBX, OFF_INSTRET), RDX);
    jx_insn(e, 0, 0, 0xff, 4, jm(RCX, (int32_t)offsetof(struct rv_block, jit_body)));  /* jmp [rcx+body] */
    uint32_t out = jx_pos(e);
    jx_patch(e, miss, out);
    jx_patch(e, gone, out);
    jx_patch(e, req, out);
    jx_patch(e, budget, out);
    jx_mov_imm(e, RAX, RV_JIT_NEXT);
    jx_mov_imm(e, RDX, 0);
    jx_jmp_to(e, t->epilogue);
}

/* One instruction; the op is one jit_op() accepts. */
static void emit_insn(struct jt *t, const struct rv_insn *i, unsigned k)
{
    struct jx *e = &t->e;
    unsigned rd = i->rd;
    switch (i->op) {
    case RV_OP_NOP: case RV_OP_FENCE: break;
    case RV_OP_LI: case RV_OP_LUI: case RV_OP_AUIPC: put_imm(t, rd, (uint64_t)i->imm); break;
    case RV_OP_MV:
        if (rd < 32 && t->hreg[rd] >= 0 && t->hreg[i->rs1] >= 0) {
            jx_mov_rr(e, t->hreg[rd], t->hreg[i->rs1]);
            t->dirty |= 1u << rd;
        } else {
            get(t, RAX, i->rs1, true);
            put(t, rd, RAX);
        }
        break;
    case RV_OP_JAL_IN: put_imm(t, rd, i->pc + i->len); break;
    case RV_OP_JAL:
        put_imm(t, rd, i->pc + i->len);
        emit_exit_to(t, t->dirty, (uint64_t)i->imm, t->b->n - 1 - k);
        break;
    case RV_OP_JALR:
        get(t, RDX, i->rs1, true);
        if (i->imm)
            jx_alu_rm_imm(e, true, ALU_ADD, jr(RDX), (int32_t)i->imm);
        jx_alu_rm_imm(e, true, ALU_AND, jr(RDX), -2);
        put_imm(t, rd, i->pc + i->len);
        if (t->user && !t->nbp)
            emit_jalr_lookup(t, t->b->n - 1 - k);
        else
            emit_exit(t, t->dirty, RDX, 0, t->b->n - 1 - k, RV_JIT_NEXT, 0);
        break;
    case RV_OP_BEQ: emit_branch(t, i, k, CC_E); break;
    case RV_OP_BNE: emit_branch(t, i, k, CC_NE); break;
    case RV_OP_BLT: emit_branch(t, i, k, CC_L); break;
    case RV_OP_BGE: emit_branch(t, i, k, CC_GE); break;
    case RV_OP_BLTU: emit_branch(t, i, k, CC_B); break;
    case RV_OP_BGEU: emit_branch(t, i, k, CC_AE); break;

    case RV_OP_LB: emit_load(t, i, k, 1, true, false); break;
    case RV_OP_LH: emit_load(t, i, k, 2, true, false); break;
    case RV_OP_LW: emit_load(t, i, k, 4, true, false); break;
    case RV_OP_LD: emit_load(t, i, k, 8, false, false); break;
    case RV_OP_LBU: emit_load(t, i, k, 1, false, false); break;
    case RV_OP_LHU: emit_load(t, i, k, 2, false, false); break;
    case RV_OP_LWU: emit_load(t, i, k, 4, false, false); break;
    case RV_OP_SB: emit_store(t, i, k, 1, false); break;
    case RV_OP_SH: emit_store(t, i, k, 2, false); break;
    case RV_OP_SW: emit_store(t, i, k, 4, false); break;
    case RV_OP_SD: emit_store(t, i, k, 8, false); break;
    case RV_OP_FLW: emit_load(t, i, k, 4, false, true); break;
    case RV_OP_FLD: emit_load(t, i, k, 8, false, true); break;
    case RV_OP_FSW: emit_store(t, i, k, 4, true); break;
    case RV_OP_FSD: emit_store(t, i, k, 8, true); break;
    case RV_OP_FPU: emit_fpu(t, i, k); break;

    case RV_OP_ADDI: alu_ri(t, i, ALU_ADD, true); break;
    case RV_OP_XORI: alu_ri(t, i, ALU_XOR, true); break;
    case RV_OP_ORI: alu_ri(t, i, ALU_OR, true); break;
    case RV_OP_ANDI: alu_ri(t, i, ALU_AND, true); break;
    case RV_OP_SLTI: set_cc(t, i, CC_L, true); break;
    case RV_OP_SLTIU: set_cc(t, i, CC_B, true); break;
    case RV_OP_SLLI: shift_ri(t, i, SH_SHL, true); break;
    case RV_OP_SRLI: shift_ri(t, i, SH_SHR, true); break;
    case RV_OP_SRAI: shift_ri(t, i, SH_SAR, true); break;
    case RV_OP_ADD: alu_rr(t, i, ALU_ADD, true); break;
    case RV_OP_SUB: alu_rr(t, i, ALU_SUB, true); break;
    case RV_OP_XOR: alu_rr(t, i, ALU_XOR, true); break;
    case RV_OP_OR: alu_rr(t, i, ALU_OR, true); break;
    case RV_OP_AND: alu_rr(t, i, ALU_AND, true); break;
    case RV_OP_SLT: set_cc(t, i, CC_L, false); break;
    case RV_OP_SLTU: set_cc(t, i, CC_B, false); break;
    case RV_OP_SLL: shift_rr(t, i, SH_SHL, true); break;
    case RV_OP_SRL: shift_rr(t, i, SH_SHR, true); break;
    case RV_OP_SRA: shift_rr(t, i, SH_SAR, true); break;
    case RV_OP_ADDIW: alu_ri(t, i, ALU_ADD, false); break;
    case RV_OP_SLLIW: shift_ri(t, i, SH_SHL, false); break;
    case RV_OP_SRLIW: shift_ri(t, i, SH_SHR, false); break;
    case RV_OP_SRAIW: shift_ri(t, i, SH_SAR, false); break;
    case RV_OP_ADDW: alu_rr(t, i, ALU_ADD, false); break;
    case RV_OP_SUBW: alu_rr(t, i, ALU_SUB, false); break;
    case RV_OP_SLLW: shift_rr(t, i, SH_SHL, false); break;
    case RV_OP_SRLW: shift_rr(t, i, SH_SHR, false); break;
    case RV_OP_SRAW: shift_rr(t, i, SH_SAR, false); break;

    case RV_OP_MUL: case RV_OP_MULW:
        get(t, RAX, i->rs1, true);
        jx_imul_r_rm(e, i->op == RV_OP_MUL, RAX, gx(t, i->rs2));
        if (i->op == RV_OP_MULW)
            jx_movsxd(e, RAX, jr(RAX));
        put(t, rd, RAX);
        break;
    case RV_OP_MULH: case RV_OP_MULHU: case RV_OP_MULHSU:
        get(t, RAX, i->rs1, true);
        jx_group3(e, true, i->op == RV_OP_MULH ? G3_IMUL : G3_MUL, gx(t, i->rs2));
        if (i->op == RV_OP_MULHSU) {
            /* signed x unsigned: the unsigned high part minus rs2 when rs1 < 0 */
            get(t, RCX, i->rs1, true);
            jx_shift_imm(e, true, SH_SAR, jr(RCX), 63);
            jx_alu_r_rm(e, true, ALU_AND, RCX, gx(t, i->rs2));
            jx_alu_r_rm(e, true, ALU_SUB, RDX, jr(RCX));
        }
        put(t, rd, RDX);
        break;
    case RV_OP_DIV: divide(t, i, true, false, true); break;
    case RV_OP_DIVU: divide(t, i, false, false, true); break;
    case RV_OP_REM: divide(t, i, true, true, true); break;
    case RV_OP_REMU: divide(t, i, false, true, true); break;
    case RV_OP_DIVW: divide(t, i, true, false, false); break;
    case RV_OP_DIVUW: divide(t, i, false, false, false); break;
    case RV_OP_REMW: divide(t, i, true, true, false); break;
    case RV_OP_REMUW: divide(t, i, false, true, false); break;

    case RV_OP_ADD_UW: shadd(t, i, 0, true); break;
    case RV_OP_SH1ADD: shadd(t, i, 1, false); break;
    case RV_OP_SH2ADD: shadd(t, i, 2, false); break;
    case RV_OP_SH3ADD: shadd(t, i, 3, false); break;
    case RV_OP_SH1ADD_UW: shadd(t, i, 1, true); break;
    case RV_OP_SH2ADD_UW: shadd(t, i, 2, true); break;
    case RV_OP_SH3ADD_UW: shadd(t, i, 3, true); break;
    case RV_OP_SLLI_UW:
        get(t, RAX, i->rs1, false);
        jx_shift_imm(e, true, SH_SHL, jr(RAX), (unsigned)i->imm & 63);
        put(t, rd, RAX);
        break;
    case RV_OP_ANDN: case RV_OP_ORN:
        get(t, RAX, i->rs2, true);
        jx_group3(e, true, G3_NOT, jr(RAX));
        jx_alu_r_rm(e, true, i->op == RV_OP_ANDN ? ALU_AND : ALU_OR, RAX, gx(t, i->rs1));
        put(t, rd, RAX);
        break;
    case RV_OP_XNOR:
        get(t, RAX, i->rs1, true);
        jx_alu_r_rm(e, true, ALU_XOR, RAX, gx(t, i->rs2));
        jx_group3(e, true, G3_NOT, jr(RAX));
        put(t, rd, RAX);
        break;
    case RV_OP_CLZ: case RV_OP_CLZW: {
        /* bsr gives the top bit's index (ZF on zero): clz = index ^ (width-1);
         * zero -> 2*width-1, which gives width */
        bool w = i->op == RV_OP_CLZ;
        jx_bsr(e, w, RAX, gx(t, i->rs1));
        jx_mov_imm(e, RCX, w ? 127 : 63);
        jx_cmov(e, false, CC_E, RAX, jr(RCX));
        jx_alu_rm_imm(e, false, ALU_XOR, jr(RAX), w ? 63 : 31);
        put(t, rd, RAX);
        break;
    }
    case RV_OP_CTZ: case RV_OP_CTZW: {
        bool w = i->op == RV_OP_CTZ;
        jx_bsf(e, w, RAX, gx(t, i->rs1));
        jx_mov_imm(e, RCX, w ? 64 : 32);
        jx_cmov(e, false, CC_E, RAX, jr(RCX));
        jx_mov_r_rm(e, false, RAX, jr(RAX));
        put(t, rd, RAX);
        break;
    }
    case RV_OP_CPOP: case RV_OP_CPOPW:
        jx_popcnt(e, i->op == RV_OP_CPOP, RAX, gx(t, i->rs1));
        put(t, rd, RAX);
        break;
    case RV_OP_MAX: minmax(t, i, CC_L); break;
    case RV_OP_MAXU: minmax(t, i, CC_B); break;
    case RV_OP_MIN: minmax(t, i, CC_G); break;
    case RV_OP_MINU: minmax(t, i, CC_A); break;
    case RV_OP_SEXT_B: case RV_OP_SEXT_H: case RV_OP_ZEXT_H:
        get(t, RAX, i->rs1, true);
        jx_load(e, i->op == RV_OP_SEXT_B ? 1 : 2, i->op != RV_OP_ZEXT_H, RAX, jr(RAX));
        put(t, rd, RAX);
        break;
    case RV_OP_ROL: shift_rr(t, i, SH_ROL, true); break;
    case RV_OP_ROR: shift_rr(t, i, SH_ROR, true); break;
    case RV_OP_ROLW: shift_rr(t, i, SH_ROL, false); break;
    case RV_OP_RORW: shift_rr(t, i, SH_ROR, false); break;
    case RV_OP_RORI: shift_ri(t, i, SH_ROR, true); break;
    case RV_OP_RORIW: shift_ri(t, i, SH_ROR, false); break;
    case RV_OP_REV8:
        get(t, RAX, i->rs1, true);
        jx_bswap(e, RAX);
        put(t, rd, RAX);
        break;
    case RV_OP_BCLR: case RV_OP_BINV: case RV_OP_BSET: case RV_OP_BEXT: {
        unsigned n = i->op == RV_OP_BEXT ? 4 : i->op == RV_OP_BSET ? 5 : i->op == RV_OP_BCLR ? 6 : 7;
        get(t, RCX, i->rs2, true);
        get(t, RAX, i->rs1, true);
        jx_bt_r(e, n, jr(RAX), RCX);
        if (n == 4) {
            jx_setcc(e, CC_B, RAX);
            jx_load(e, 1, false, RAX, jr(RAX));
        }
        put(t, rd, RAX);
        break;
    }
    case RV_OP_BCLRI: case RV_OP_BINVI: case RV_OP_BSETI: case RV_OP_BEXTI: {
        unsigned n = i->op == RV_OP_BEXTI ? 4 : i->op == RV_OP_BSETI ? 5 : i->op == RV_OP_BCLRI ? 6 : 7;
        get(t, RAX, i->rs1, true);
        jx_bt_imm(e, n, jr(RAX), (unsigned)i->imm & 63);
        if (n == 4) {
            jx_setcc(e, CC_B, RAX);
            jx_load(e, 1, false, RAX, jr(RAX));
        }
        put(t, rd, RAX);
        break;
    }
    default:
        break;
    }
}

/* Choose the guest registers to keep in host registers: the most used. */
static void alloc_regs(struct jt *t, unsigned n, uint32_t *read)
{
    unsigned uses[33] = { 0 };
    *read = 0;
    for (unsigned k = 0; k < n; k++) {
        const struct rv_insn *i = &t->b->insn[k];
        if (i->op == RV_OP_FPU) {
            *read = ~1u;        /* it reads and writes x through memory */
            continue;
        }
        bool fp = i->op >= RV_OP_FLW && i->op <= RV_OP_FSD;
        uses[i->rs1] += 2;
        if (!fp) {
            uses[i->rs2] += 2;
            uses[i->rd] += 2;
            *read |= 1u << i->rs2;
        }
        *read |= 1u << i->rs1;
    }
    memset(t->hreg, -1, sizeof(t->hreg));
    t->callers = 0;
    for (unsigned p = 0; p < NPOOL; p++) {
        unsigned best = 0, most = 0;
        for (unsigned r = 1; r < 32; r++)
            if (t->hreg[r] < 0 && uses[r] > most) {
                best = r;
                most = uses[r];
            }
        if (!best)
            break;
        t->hreg[best] = pool[p];
        if (p >= NCALLEE)
            t->callers |= 1u << best;
        uses[best] = 0;
    }
}

static const int8_t saved[] = { RBX, RBP, R12, R13, R14, R15 };

bool rv_jit_translate(struct rv_hart *h, struct rv_block *b)
{
    if (!h->jit_code) {
        void *p = mmap(NULL, JIT_ARENA, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            log_warn("riscv: no executable memory for the translator: interpreting only");
            h->m->jit = false;
            return false;
        }
        h->jit_code = p;
        h->jit_used = 0;
    }
    unsigned n = 0;
    while (n < b->n && jit_op(b->insn[n].op, h->m->user))
        n++;
    if (n == 0) {
        b->jit_failed = true;
        return false;
    }
    if (h->jit_used + JIT_BLOCK_ROOM > JIT_ARENA) {
        /* full: start again after the next block boundary's flush */
        atomic_fetch_or(&h->exit_req, RV_REQ_CODE);
        return false;
    }
    struct jt *t = xzalloc(sizeof(*t));
    struct jx *e = &t->e;
    e->buf = e->p = h->jit_code + h->jit_used;
    e->end = e->buf + JIT_BLOCK_ROOM;
    t->b = b;
    t->user = h->m->user;
    uint32_t read;
    alloc_regs(t, n, &read);
    /* self-loops and jalr lookups skip the dispatcher's breakpoint check:
     * none while any is set (setting one flushes every cache) */
    t->nbp = atomic_load_explicit(&h->m->nbp, memory_order_relaxed) != 0;
    if (!t->nbp)
        for (unsigned k = 0; k < n; k++)
            if (b->insn[k].op >= RV_OP_BEQ && b->insn[k].op <= RV_OP_BGEU && (uint64_t)b->insn[k].imm == b->vpc)
                t->loop = true;
    if (t->loop) {
        for (unsigned k = 0; k < n; k++) {
            const struct rv_insn *i = &b->insn[k];
            bool fp = i->op >= RV_OP_FLW && i->op <= RV_OP_FSD;
            if (!fp && i->rd > 0 && i->rd < 32 && t->hreg[i->rd] >= 0)
                t->dirty |= 1u << i->rd;
        }
        read |= t->dirty;
    }

    /* the shared epilogue comes first, the entry point after it */
    t->epilogue = jx_pos(e);
    jx_alu_rm_imm(e, true, ALU_ADD, jr(RSP), FRAME);
    for (int k = (int)ARRAY_SIZE(saved) - 1; k >= 0; k--)
        jx_pop(e, saved[k]);
    jx_ret(e);
    uint32_t entry = jx_pos(e);
    for (unsigned k = 0; k < ARRAY_SIZE(saved); k++)
        jx_push(e, saved[k]);
    jx_alu_rm_imm(e, true, ALU_SUB, jr(RSP), FRAME);
    jx_mov_rr(e, RBX, RDI);
    jx_mov_r_rm(e, false, RAX, jm(RBX, OFF_MODE));
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RAX), 1);
    jx_mov_rm_r(e, true, jm(RSP, SLOT_MODE), RAX);
    uint32_t body = jx_pos(e);
    reload(t, read);
    t->top = jx_pos(e);

    bool ended = false;
    for (unsigned k = 0; k < n; k++) {
        emit_insn(t, &b->insn[k], k);
        ended = b->insn[k].op == RV_OP_JAL || b->insn[k].op == RV_OP_JALR;
    }
    if (n == b->n) {
        if (!ended)
            emit_exit_to(t, t->dirty, b->insn[n].pc, 0);
    } else {
        emit_exit(t, t->dirty, -1, b->insn[n].pc, 0, RV_JIT_RESUME | n << 8, (uintptr_t)b);
    }
    for (unsigned k = 0; k < t->nstub; k++)
        emit_stub(t, &t->stub[k]);

    bool ok = !jx_overflow(e);
    if (ok) {
        b->jit = (rv_jit_fn)(void *)(e->buf + entry);
        b->jit_body = e->buf + body;
        h->jit_used += (jx_pos(e) + 15) & ~15u;
    } else {
        b->jit_failed = true;
    }
    free(t);
    return ok;
}

/* A chain stub: the dispatcher's checks between two blocks (the target
 * still valid, no request, budget left, in system mode no timer poll due
 * and no interrupt pending), then straight into the next block's body; any
 * check failing goes back to the exit's return. It starts with
 * mov rax, &to->valid, which rv_jit_link reads back to relink a site whose
 * target was dropped. */
bool rv_jit_link(struct rv_hart *h, uintptr_t site, struct rv_block *to)
{
    uint8_t *sp = (uint8_t *)site;
    int32_t rel;
    memcpy(&rel, sp, 4);
    if (rel) {
        const bool *valid;
        memcpy(&valid, sp + 4 + rel + 2, sizeof(valid));
        if (*valid)
            return false;
    }
    if (!to->jit || h->jit_used + 128 > JIT_ARENA)
        return false;
    struct jx ex = { .buf = h->jit_code + h->jit_used };
    struct jx *e = &ex;
    e->p = e->buf;
    e->end = e->buf + 128;
    uint32_t back = (uint32_t)(site + 4 - (uintptr_t)e->buf);
    uint32_t body = (uint32_t)((uintptr_t)to->jit_body - (uintptr_t)e->buf);
    jx_byte(e, 0x48);                           /* mov rax, imm64 (always this form) */
    jx_byte(e, 0xb8);
    jx_u64(e, (uint64_t)(uintptr_t)&to->valid);
    jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RAX, 0));  /* cmp byte [rax], 0 */
    jx_byte(e, 0);
    jx_jcc_to(e, CC_E, back);
    emit_checks(e, h->m->user, back, to->n);
    jx_jmp_to(e, body);
    if (jx_overflow(e))
        return false;
    h->jit_used += (jx_pos(e) + 15) & ~15u;
    rel = (int32_t)((uintptr_t)e->buf - (site + 4));
    memcpy(sp, &rel, 4);
    return true;
}

/* emu/riscv: the translator's op lowering: each RISC-V op jit.c hands over
 * becomes x86-64 code over guest registers in host registers or in the
 * hart (jit.h: gx/get/put), with the interpreter's exact results (x86
 * masks shift counts as RISC-V does; division by zero and INT_MIN / -1 are
 * special-cased; clz/ctz use bsr/bsf, cpop popcnt when the host has it). */
#include "emu/riscv/jit.h"
#include "emu/riscv/ops.h"

/* How an op is emitted: the function and its arguments, from the table
 * jit_ops below. */
struct jit_op;
typedef void jit_emit_fn(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o);
enum { JIT_ANY, JIT_POPCNT, JIT_FCSR };
struct jit_op {
    jit_emit_fn *emit;          /* NULL: not translated (the interpreter runs it) */
    uint8_t code;               /* an x86 ALU, shift, condition or group-3 code, or a flag */
    bool w;                     /* 64-bit; else the W form (32-bit, sign-extended) */
    uint8_t n;                  /* a size, a shift count, a bit-op number, or a flag */
    uint8_t when;               /* JIT_POPCNT: when the host has popcnt; JIT_FCSR: CSR
                                 * ops on fflags, frm, fcsr only */
};

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
    if (!w && t->zext) {
        /* a zext.w follows (jit_emit_insn): the 32-bit host op already
         * zero-extended d */
        t->zext = false;
        w = true;
    }
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

/* The ALU op just emitted left the flags of guest rd's value (ZF and SF
 * of a W op's 32-bit result are those of its sign extension; and, or and
 * xor clear OF and CF as test does). */
static void set_flags(struct jt *t, unsigned rd, unsigned alu)
{
    if (rd == 0 || rd >= 32 || t->zext)
        return;                 /* (a zext.w pair after it: SF is not rd's) */
    t->flags_reg = (uint8_t)rd;
    t->flags_full = alu == ALU_AND || alu == ALU_OR || alu == ALU_XOR;
}

/* rd = rs1 OP rs2 (64-bit, or 32-bit sign-extended) */
static void emit_alu_rr(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    unsigned a = i->rs1, b = i->rs2, alu = o->code;
    bool comm = alu == ALU_ADD || alu == ALU_AND || alu == ALU_OR || alu == ALU_XOR;
    if (comm && i->rd == b && b != a) {
        a = i->rs2;
        b = i->rs1;
    }
    int d = dst_of(t, i->rd, b == i->rd && a != b ? b : 0);
    int ha = a ? t->hreg[a] : -1, hb = b ? t->hreg[b] : -1;
    if (alu == ALU_ADD && ha >= 0 && hb >= 0 && d != ha && d != hb && ((ha & 7) != 5 || (hb & 7) != 5)) {
        /* add/addw into a third register: lea d, [a + b] (the W form's
         * 32-bit lea zero-extends, done() sign-extends). Not with rbp or
         * r13 as the base: that encoding needs a displacement, and a lea
         * of base, index and displacement takes 3 cycles on Intel cores
         * (mips.c's loop ran 40% slower); nor in place of add d, b. */
        if ((ha & 7) == 5) {
            int x = ha;
            ha = hb;
            hb = x;
        }
        jx_insn(&t->e, jx_w(o->w), 0, 0x8d, (unsigned)d, jmi(ha, hb, 0, 0));
        done(t, i->rd, d, o->w);
        return;
    }
    get(t, d, a, true);
    jx_alu_r_rm(&t->e, o->w, alu, d, gx(t, b));
    set_flags(t, i->rd, alu);
    done(t, i->rd, d, o->w);
}
static void emit_alu_ri(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    int d = dst_of(t, i->rd, 0);
    if (o->code == ALU_ADD && !o->w && i->imm == 0) {
        /* sext.w: one movsxd from the register or its memory */
        jx_movsxd(&t->e, d, gx(t, i->rs1));
        done(t, i->rd, d, true);
        return;
    }
    if (o->code == ALU_ADD && i->rs1 && t->hreg[i->rs1] >= 0 && t->hreg[i->rs1] != d) {
        /* addi/addiw into another register: lea d, [rs1 + imm] */
        jx_insn(&t->e, jx_w(o->w), 0, 0x8d, (unsigned)d, jm(t->hreg[i->rs1], (int32_t)i->imm));
        done(t, i->rd, d, o->w);
        return;
    }
    get(t, d, i->rs1, true);
    jx_alu_rm_imm(&t->e, o->w, o->code, jr(d), (int32_t)i->imm);
    set_flags(t, i->rd, o->code);
    done(t, i->rd, d, o->w);
}
static void emit_shift_ri(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    int d = dst_of(t, i->rd, 0);
    get(t, d, i->rs1, true);
    jx_shift_imm(&t->e, o->w, o->code, jr(d), (unsigned)i->imm & (o->w ? 63 : 31));
    if (!o->w && o->code == SH_SHR && (i->imm & 31)) {
        /* srliw by 1 to 31: bit 31 of the result is clear, so its sign
         * extension is the zero extension the 32-bit shr did (and a
         * zext.w pair after it has nothing left to do) */
        t->zext = false;
        done(t, i->rd, d, true);
        return;
    }
    done(t, i->rd, d, o->w);
}
/* shifts and rotates by rs2 (x86 masks the count as RISC-V does) */
static void emit_shift_rr(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    unsigned pp = o->code == SH_SHL ? SHX_SHL : o->code == SH_SHR ? SHX_SHR : o->code == SH_SAR ? SHX_SAR : 0;
    if (pp && (t->host & JIT_HOST_BMI2)) {
        /* shlx/shrx/sarx d, rs1, rs2: three operands, no cl */
        int c = t->hreg[i->rs2];
        if (c < 0) {
            get(t, RCX, i->rs2, true);
            c = RCX;
        }
        int d = dst_of(t, i->rd, 0);
        jx_shx(&t->e, o->w, pp, d, gx(t, i->rs1), c);
        done(t, i->rd, d, o->w);
        return;
    }
    get(t, RCX, i->rs2, true);
    get(t, RAX, i->rs1, true);
    jx_shift_cl(&t->e, o->w, o->code, jr(RAX));
    if (!o->w)
        jx_movsxd(&t->e, RAX, jr(RAX));
    put(t, i->rd, RAX);
}
/* rd = (rs1 CMP rs2, or imm when n) ? 1 : 0 */
static void emit_set_cc(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    struct jx *e = &t->e;
    get(t, RAX, i->rs1, true);
    jx_alu_r_rm(e, false, ALU_XOR, RCX, jr(RCX));
    if (o->n)
        jx_alu_rm_imm(e, true, ALU_CMP, jr(RAX), (int32_t)i->imm);
    else
        jx_alu_r_rm(e, true, ALU_CMP, RAX, gx(t, i->rs2));
    jx_setcc(e, o->code, RCX);
    put(t, i->rd, RCX);
}
/* rd = cmp(rs1, rs2) picks rs2 under the condition, else rs1 */
static void emit_minmax(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs1, true);
    get(t, RCX, i->rs2, true);
    jx_alu_r_rm(&t->e, true, ALU_CMP, RAX, jr(RCX));
    jx_cmov(&t->e, true, o->code, RAX, jr(RCX));
    put(t, i->rd, RAX);
}
/* DIV/DIVU/REM/REMU and the W forms (code: signed, n: remainder), with
 * RISC-V's results for x/0 and INT_MIN/-1 */
static void emit_divide(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    struct jx *e = &t->e;
    bool sign = o->code, rem = o->n, w = o->w;
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

/* the flags are set: taken under cc, to a side exit (a stub) or, in user
 * mode, back into the block inline (jit_into_back) */
static void branch_to(struct jt *t, const struct rv_insn *i, unsigned k, unsigned cc)
{
    if (t->user && t->into[k] >= 0 && (unsigned)t->into[k] <= k) {
        jit_into_back(t, k, cc);
        return;
    }
    struct stub *s = jit_new_stub(t, ST_BRANCH, k);
    s->patch[0] = jx_jcc(&t->e, cc);
}

/* The condition cc of a compare of guest r with 0 on the flags the op
 * before left (flags_in), or -1 when they do not tell it. */
static int flags_cc(const struct jt *t, unsigned r, unsigned cc)
{
    if (r == 0 || t->flags_in != r)
        return -1;
    if (t->flags_in_full || cc == CC_E || cc == CC_NE)
        return (int)cc;
    /* ZF and SF only: r < 0 and r >= 0 are SF */
    return cc == CC_L ? CC_S : cc == CC_GE ? CC_NS : -1;
}

static void emit_branch(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    struct jx *e = &t->e;
    static const uint8_t swap[16] = {
        [CC_E] = CC_E, [CC_NE] = CC_NE, [CC_L] = CC_G, [CC_G] = CC_L, [CC_GE] = CC_LE,
        [CC_LE] = CC_GE, [CC_B] = CC_A, [CC_A] = CC_B, [CC_AE] = CC_BE, [CC_BE] = CC_AE,
    };
    /* against x0, with the flags the op before left for that register
     * (addi a0, a0, -1; bnez a0; or a second branch on it): no test */
    int fcc = i->rs2 == 0 ? flags_cc(t, i->rs1, o->code) : i->rs1 == 0 ? flags_cc(t, i->rs2, swap[o->code]) : -1;
    if (fcc >= 0) {
        t->flags_reg = t->flags_in;
        t->flags_full = t->flags_in_full;
        branch_to(t, i, k, (unsigned)fcc);
        return;
    }
    if (i->rs1 == 0 && i->rs2 != 0 && t->hreg[i->rs2] >= 0) {
        /* 0 OP rs2 (bgtz, blez, ...): test rs2 sets the flags of rs2 - 0,
         * so the swapped condition, without reading x0 */
        jx_test_rm_r(e, true, jr(t->hreg[i->rs2]), t->hreg[i->rs2]);
        t->flags_reg = (uint8_t)i->rs2;
        t->flags_full = true;
        branch_to(t, i, k, swap[o->code]);
        return;
    }
    int a = t->hreg[i->rs1];
    if (a < 0 && i->rs1 != 0 && (i->rs2 == 0 || t->hreg[i->rs2] >= 0)) {
        /* rs1 in the hart: compared where it is (cmp m, r sets the flags
         * of rs1 - rs2; cmp m, 0 those test would) */
        if (i->rs2 == 0) {
            jx_alu_rm_imm(e, true, ALU_CMP, gx(t, i->rs1), 0);
            t->flags_reg = (uint8_t)i->rs1;
            t->flags_full = true;
        } else {
            jx_alu_rm_r(e, true, ALU_CMP, gx(t, i->rs1), t->hreg[i->rs2]);
        }
        branch_to(t, i, k, o->code);
        return;
    }
    if (a < 0) {
        get(t, RAX, i->rs1, true);
        a = RAX;
    }
    if (i->rs2 == 0) {
        jx_test_rm_r(e, true, jr(a), a);
        t->flags_reg = (uint8_t)i->rs1;
        t->flags_full = true;
    } else {
        jx_alu_r_rm(e, true, ALU_CMP, a, gx(t, i->rs2));
    }
    branch_to(t, i, k, o->code);
}

/* rd = ((rs1 [32-bit zero-extended when code]) << n) + rs2 */
static void emit_shadd(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs1, !o->code);
    if (o->n)
        jx_shift_imm(&t->e, true, SH_SHL, jr(RAX), o->n);
    jx_alu_r_rm(&t->e, true, ALU_ADD, RAX, gx(t, i->rs2));
    put(t, i->rd, RAX);
}

/* OP-FP funct5: feq/flt/fle, fcvt.int.fp and fmv.x/fclass write x[rd];
 * fcvt.fp.int and fmv.fp.x read x[rs1]; the fused ops and the rest of
 * OP-FP touch f only. Anything else: assume both (illegal ones trap). */
unsigned jit_fpu_xuse(uint32_t raw)
{
    if ((raw & 0x7f) != 0x53)
        return (raw & 0x73) == 0x43 ? FPU_XNONE : FPU_XALL;
    switch (raw >> 27) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x08: case 0x0b:
        return FPU_XNONE;
    case 0x14: case 0x18: case 0x1c:
        return FPU_XWRITE;
    case 0x1a: case 0x1e:
        return FPU_XREAD;
    default:
        return FPU_XALL;
    }
}

/* rv_fpu_exec(&h->fp, h->x, raw): the caller-saved guest registers are
 * saved around the call, and the x register it reads (written back first)
 * or writes (reloaded after) goes through memory; -1 is an illegal
 * instruction. */
void jit_fpu_call(struct jt *t, const struct rv_insn *i, unsigned k)
{
    struct jx *e = &t->e;
    unsigned use = jit_fpu_xuse(i->raw);
    uint32_t sync = t->dirty & t->callers;
    if (use == FPU_XREAD)
        sync |= t->dirty & (1u << i->rs1);
    if (use == FPU_XALL)
        sync = t->dirty;
    jit_writeback(t, sync);
    jx_lea(e, RDI, jm(RBX, (int32_t)offsetof(struct rv_hart, fp)));
    jx_lea(e, RSI, jm(RBX, OFF_X(0)));
    jx_mov_imm(e, RDX, i->raw);
    jx_call_abs(e, (const void *)rv_fpu_exec);
    jx_test_rm_r(e, false, jr(RAX), RAX);
    uint32_t ok = jx_jcc(e, CC_NS);
    /* the caller-saved ones are in memory already (and clobbered) */
    jit_exit(t, t->dirty & ~sync & ~t->callers, -1, rv_insn_pc(t->b, i), t->b->n - k, RV_JIT_EXC + RV_EXC_ILLEGAL, i->raw);
    jx_patch(e, ok, jx_pos(e));
    uint32_t back = t->callers;
    if (use == FPU_XWRITE) {
        jx_mov_rm_imm32(e, jm(RBX, OFF_X(0)), 0);      /* an rd of x0 lands in x[0] */
        back |= 1u << i->rd;
    }
    if (use == FPU_XALL) {
        jx_mov_rm_imm32(e, jm(RBX, OFF_X(0)), 0);
        back = ~1u;
        t->dirty = 0;
    }
    jit_reload(t, back & ~1u);
}
/* The inline fast path when the instruction has one (jit_fp.c), its exact
 * path out of line (an ST_FPU stub: the call, then back); else the call
 * here. Both leave the same registers valid (the fast path may have marked
 * more of them dirty, which is kept: a write-back too many is harmless). */
static void emit_fpu(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)o;
    jit_fs_check(t, i, k);
    uint32_t dirty = t->dirty;
    if (jit_fp_fast(t, i, &t->fpslow[k])) {
        struct stub *s = jit_new_stub(t, ST_FPU, k);
        s->dirty = dirty;
        s->back = jx_pos(&t->e);
    } else {
        jit_fpu_call(t, i, k);
    }
    jit_fs_written(t);
}

/* Leave for pc = rdx, straight into the target's translated block when
 * h->jtc knows it (still valid, with the dispatcher's checks), else back
 * to the dispatcher. instret is written once on the way in: instret -
 * unretired + the target's n (checked against h->jit_limit first: the
 * budget, and no request pending); the
 * ways out take the unretired back. In system mode the entry must also
 * still be what the fetch TLB maps pc to now (the block's key is the host
 * address of its first instruction: the tag for pc in mode_fetch, then
 * pc + addend == key), and the chain stubs' timer poll and interrupt
 * checks pass: kernel code returns through jalr, and each return was a
 * round trip through the dispatcher (about two million to the default
 * guest's init marker). The guest registers are all in memory by then:
 * rsi and rdi are free. */
static void emit_jalr_lookup(struct jt *t, uint32_t unretired)
{
    struct jx *e = &t->e;
    jit_writeback(t, t->dirty);
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RDX);
    if (t->user)
        jit_jalr_site(t, unretired);
    jx_mov_r_rm(e, false, RAX, jr(RDX));
    jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), ((1 << RV_JTC_BITS) - 1) << 1);
    jx_shift_imm(e, false, SH_SHL, jr(RAX), 3);
    jx_alu_r_rm(e, true, ALU_CMP, RDX, jmi(RBX, RAX, 0, OFF_JTC));
    uint32_t miss = jx_jcc(e, CC_NE);
    jx_mov_r_rm(e, true, RCX, jmi(RBX, RAX, 0, OFF_JTC + 8));
    /* a clear entry is { 0, NULL }: a jump to pc 0 matches it */
    jx_test_rm_r(e, true, jr(RCX), RCX);
    uint32_t clear = jx_jcc(e, CC_E);
    jx_insn(e, 0, 0, 0x80, ALU_CMP, jm(RCX, (int32_t)offsetof(struct rv_block, valid)));
    jx_byte(e, 0);
    uint32_t gone = jx_jcc(e, CC_E);
    uint32_t sys[3] = { 0 };
    if (!t->user) {
        jx_mov_rr(e, RSI, RDX);
        jx_shift_imm(e, true, SH_SHR, jr(RSI), 12);
        jx_mov_rr(e, RDI, RSI);
        jx_alu_rm_imm(e, false, ALU_AND, jr(RDI), RV_TLB_SIZE - 1);
        jx_shift_imm(e, false, SH_SHL, jr(RDI), 4);
        jx_shift_imm(e, true, SH_SHL, jr(RSI), 2);
        jx_mov_r_rm(e, false, RAX, jm(RBX, (int32_t)offsetof(struct rv_hart, mode_fetch)));
        jx_lea(e, RSI, jmi(RSI, RAX, 0, 1));                    /* tag = vpn * 4 + mode + 1 */
        jx_alu_r_rm(e, true, ALU_CMP, RSI, jmi(RBX, RDI, 0, OFF_TLB(RV_ACC_EXEC)));
        sys[0] = jx_jcc(e, CC_NE);
        jx_mov_r_rm(e, true, RSI, jmi(RBX, RDI, 0, OFF_TLB(RV_ACC_EXEC) + 8));
        jx_alu_r_rm(e, true, ALU_ADD, RSI, jr(RDX));
        jx_alu_r_rm(e, true, ALU_CMP, RSI, jm(RCX, (int32_t)offsetof(struct rv_block, key)));
        sys[1] = jx_jcc(e, CC_NE);
        jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_MIP));
        jx_test_rm_r(e, true, jm(RBX, OFF_MIE), RAX);
        sys[2] = jx_jcc(e, CC_NE);
    }
    jx_mov_r_rm(e, false, RDX, jm(RCX, (int32_t)offsetof(struct rv_block, n)));
    jx_alu_r_rm(e, true, ALU_ADD, RDX, jr(JIT_ICOUNT));
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jr(RDX), (int32_t)unretired);
    jx_alu_r_rm(e, true, ALU_CMP, RDX, jm(RBX, OFF_LIMIT));
    uint32_t budget = jx_jcc(e, CC_A);
    jx_mov_rr(e, JIT_ICOUNT, RDX);
    jx_insn(e, 0, 0, 0xff, 4, jm(RCX, (int32_t)offsetof(struct rv_block, jit_body)));  /* jmp [rcx+body] */
    uint32_t out = jx_pos(e);
    for (unsigned f = 0; f < 3; f++)
        if (sys[f])
            jx_patch(e, sys[f], out);
    jx_patch(e, miss, out);
    jx_patch(e, clear, out);
    jx_patch(e, gone, out);
    jx_patch(e, budget, out);
    if (unretired)
        jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)unretired);
    jx_mov_imm(e, RAX, RV_JIT_NEXT);
    jx_mov_imm(e, RDX, 0);
    jx_jmp_to(e, t->epilogue);
    if (t->jsite)
        jit_jalr_site_out(t, unretired);
}

/* csr ops on sstatus (system mode): Linux's local_irq_save/restore, 88,600
 * of them in a boot of the default guest, each of which left translated
 * code for the interpreter and then the dispatcher (the op ends its
 * block). Inline: the read as csr.c's (mstatus's S bits, UXL = 2, SD when
 * FS is dirty) and a write that changes SIE, SPIE, SPP or FS only (no TLB
 * flush, no change of modes: mstatus_write's effect is the masked
 * store). The rest (U mode: illegal; a write changing SUM or MXR) goes to
 * the interpreter at this instruction (RV_JIT_RESUME), rd untouched. An
 * interrupt that SIE enables is taken at the block's exit: the op ends
 * the block, and every exit to a block checks mip & mie (a chain's stub,
 * or the dispatcher). kind: 0 write, 1 set, 2 clear; imm: the uimm form. */
#define SSTATUS_FAST (MS_SIE | MS_SPIE | MS_SPP | MS_FS)
#define SSTATUS_LOW (SSTATUS_MASK & ~(MS_UXL | MS_SD))
_Static_assert(SSTATUS_LOW < (1ULL << 31) && MSTATUS_WMASK < (1ULL << 31), "imm32 masks");
_Static_assert((SSTATUS_MASK & MSTATUS_WMASK & ~SSTATUS_FAST) == (MS_SUM | MS_MXR), "the slow bits");
static void emit_sstatus(struct jt *t, const struct rv_insn *i, unsigned k, unsigned kind, bool imm)
{
    struct jx *e = &t->e;
    bool write = kind == 0 || i->rs1 != 0;
    uint32_t slow[2] = { 0, 0 };
    jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_PRIV), RV_PRIV_S);
    slow[0] = jx_jcc(e, CC_B);
    /* rax = the value read: rcx = SD (FS == 3: (FS + 1) >> 2) */
    jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_MSTATUS));
    jx_mov_r_rm(e, false, RCX, jr(RAX));
    jx_shift_imm(e, false, SH_SHR, jr(RCX), 13);
    jx_alu_rm_imm(e, false, ALU_AND, jr(RCX), 3);
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RCX), 1);
    jx_shift_imm(e, false, SH_SHR, jr(RCX), 2);
    jx_shift_imm(e, true, SH_SHL, jr(RCX), 63);
    jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), (int32_t)SSTATUS_LOW);
    jx_alu_r_rm(e, true, ALU_OR, RAX, jr(RCX));
    jx_bt_imm(e, 5, jr(RAX), 33);                       /* bts: UXL = 2 */
    if (write) {
        if (imm)
            jx_mov_imm(e, RDX, i->rs1);
        else
            get(t, RDX, i->rs1, true);
        if (kind == 1) {
            jx_alu_r_rm(e, true, ALU_OR, RDX, jr(RAX));
        } else if (kind == 2) {
            jx_group3(e, true, G3_NOT, jr(RDX));
            jx_alu_r_rm(e, true, ALU_AND, RDX, jr(RAX));
        }
        /* SUM or MXR changed: the interpreter (a TLB flush) */
        jx_mov_rr(e, RCX, RDX);
        jx_alu_r_rm(e, true, ALU_XOR, RCX, jr(RAX));
        jx_alu_rm_imm(e, false, ALU_AND, jr(RCX), (int32_t)(MS_SUM | MS_MXR));
        slow[1] = jx_jcc(e, CC_NE);
        jx_alu_rm_imm(e, false, ALU_AND, jr(RDX), (int32_t)SSTATUS_FAST);
        jx_mov_r_rm(e, true, RCX, jm(RBX, OFF_MSTATUS));
        jx_alu_rm_imm(e, true, ALU_AND, jr(RCX), (int32_t)(MSTATUS_WMASK & ~SSTATUS_FAST));
        jx_alu_r_rm(e, true, ALU_OR, RCX, jr(RDX));
        jx_mov_rm_r(e, true, jm(RBX, OFF_MSTATUS), RCX);
    }
    uint32_t done = jx_jmp(e);
    for (unsigned s = 0; s < 2; s++)
        if (slow[s])
            jx_patch(e, slow[s], jx_pos(e));
    jit_exit(t, t->dirty, -1, rv_insn_pc(t->b, i), 0, RV_JIT_RESUME | k << 8, (uintptr_t)t->self);
    jx_patch(e, done, jx_pos(e));
    put(t, i->rd, RAX);
}

/* csr ops on fflags/frm/fcsr (jit_fp.c) and sstatus: code is the kind
 * (write, set, clear), n the immediate form */
static void emit_csr(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    if (i->imm == RV_CSR_SSTATUS)
        emit_sstatus(t, i, k, o->code, o->n);
    else
        jit_emit_fcsr(t, i, k, o->code, o->n);
}

/* AMOs, LR and SC: a call of rv_exec_amo (the interpreter's operation:
 * host atomics on guest memory) with va = rs1 and rs2's value, rd = the
 * result; a cause leaves with the exception at this instruction. */
static void emit_amo(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)o;
    struct jx *e = &t->e;
    get(t, RAX, i->rs1, true);
    get(t, RCX, i->rs2, true);
    jx_mov_rm_r(e, true, jm(RSP, SLOT_VA), RAX);
    jx_mov_rm_r(e, true, jm(RSP, SLOT_VAL), RCX);
    jit_writeback(t, t->dirty & t->callers);
    jx_mov_rr(e, RDX, RAX);
    jx_mov_rr(e, RDI, RBX);
    jx_mov_imm(e, RSI, (uint64_t)(uintptr_t)&t->self->insn[k]);   /* the hart's, not a copy's */
    jx_lea(e, RCX, jm(RSP, SLOT_VAL));
    jx_call_abs(e, (const void *)rv_exec_amo);
    jx_test_rm_r(e, false, jr(RAX), RAX);
    uint32_t ok = jx_jcc(e, CC_E);
    /* the caller-saved ones are in memory already */
    jit_writeback(t, t->dirty & ~t->callers);
    jx_mov_imm(e, RCX, rv_insn_pc(t->b, i));
    jx_mov_rm_r(e, true, jm(RBX, OFF_PC), RCX);
    jx_alu_rm_imm(e, true, ALU_SUB, jr(JIT_ICOUNT), (int32_t)(t->b->n - k));
    jx_alu_rm_imm(e, false, ALU_ADD, jr(RAX), RV_JIT_EXC);
    jx_mov_r_rm(e, true, RDX, jm(RSP, SLOT_VA));
    jx_jmp_to(e, t->epilogue);
    jx_patch(e, ok, jx_pos(e));
    jit_reload(t, t->callers);
    jx_mov_r_rm(e, true, RAX, jm(RSP, SLOT_VAL));
    put(t, i->rd, RAX);
}

/* fence.i: rv_fence_i before the next block runs (RV_REQ_FENCEI, which
 * the dispatcher serves at once, as the interpreter's fence.i calls it),
 * and the block is left without chaining */
static void emit_fence_i(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)o;
    jx_byte(&t->e, 0xf0);                               /* lock or dword [exit_req], FENCEI */
    jx_alu_rm_imm(&t->e, false, ALU_OR, jm(RBX, OFF_REQ), RV_REQ_FENCEI);
    jit_exit(t, t->dirty, -1, rv_insn_pc(t->b, i) + i->len, t->b->n - 1 - k, RV_JIT_NOCHAIN, 0);
}

/* ---- the other ops, one function per kind ---- */

static void emit_none(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)t; (void)i; (void)k; (void)o;
}
static void emit_imm(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k; (void)o;
    put_imm(t, i->rd, (uint64_t)i->imm);
}
static void emit_mv(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k; (void)o;
    unsigned rd = i->rd;
    if (rd < 32 && t->hreg[rd] >= 0 && t->hreg[i->rs1] >= 0) {
        jx_mov_rr(&t->e, t->hreg[rd], t->hreg[i->rs1]);
        t->dirty |= 1u << rd;
    } else {
        get(t, RAX, i->rs1, true);
        put(t, rd, RAX);
    }
}
/* jal inside the block (rd = the return address) or leaving it */
static void emit_jal(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    put_imm(t, i->rd, rv_insn_pc(t->b, i) + i->len);
    if (o->n)
        jit_exit_to(t, t->dirty, (uint64_t)i->imm, t->b->n - 1 - k);
}
static void emit_jalr(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)o;
    struct jx *e = &t->e;
    get(t, RDX, i->rs1, true);
    if (i->imm)
        jx_alu_rm_imm(e, true, ALU_ADD, jr(RDX), (int32_t)i->imm);
    jx_alu_rm_imm(e, true, ALU_AND, jr(RDX), -2);
    put_imm(t, i->rd, rv_insn_pc(t->b, i) + i->len);
    if (!t->nbp)
        emit_jalr_lookup(t, t->b->n - 1 - k);
    else
        jit_exit(t, t->dirty, RDX, 0, t->b->n - 1 - k, RV_JIT_NEXT, 0);
}
/* n bytes, sign-extended when code; the F/D forms on f registers */
static void emit_load(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    jit_load(t, i, k, o->n, o->code, false);
}
static void emit_store(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    jit_store(t, i, k, o->n, false);
}
static void emit_fload(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    jit_fs_check(t, i, k);
    jit_load(t, i, k, o->n, false, true);
    jit_fs_written(t);
}
static void emit_fstore(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    jit_fs_check(t, i, k);
    jit_store(t, i, k, o->n, true);
}
static void emit_mul(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs1, true);
    jx_imul_r_rm(&t->e, o->w, RAX, gx(t, i->rs2));
    if (!o->w)
        jx_movsxd(&t->e, RAX, jr(RAX));
    put(t, i->rd, RAX);
}
/* the high half: code is the group-3 multiply, n marks mulhsu */
static void emit_mulh(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    struct jx *e = &t->e;
    get(t, RAX, i->rs1, true);
    jx_group3(e, true, o->code, gx(t, i->rs2));
    if (o->n) {
        /* signed x unsigned: the unsigned high part minus rs2 when rs1 < 0 */
        get(t, RCX, i->rs1, true);
        jx_shift_imm(e, true, SH_SAR, jr(RCX), 63);
        jx_alu_r_rm(e, true, ALU_AND, RCX, gx(t, i->rs2));
        jx_alu_r_rm(e, true, ALU_SUB, RDX, jr(RCX));
    }
    put(t, i->rd, RDX);
}
static void emit_slli_uw(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k; (void)o;
    get(t, RAX, i->rs1, false);
    jx_shift_imm(&t->e, true, SH_SHL, jr(RAX), (unsigned)i->imm & 63);
    put(t, i->rd, RAX);
}
/* andn, orn: rs1 OP ~rs2 */
static void emit_alu_not(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs2, true);
    jx_group3(&t->e, true, G3_NOT, jr(RAX));
    jx_alu_r_rm(&t->e, true, o->code, RAX, gx(t, i->rs1));
    put(t, i->rd, RAX);
}
static void emit_xnor(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k; (void)o;
    get(t, RAX, i->rs1, true);
    jx_alu_r_rm(&t->e, true, ALU_XOR, RAX, gx(t, i->rs2));
    jx_group3(&t->e, true, G3_NOT, jr(RAX));
    put(t, i->rd, RAX);
}
/* bsr gives the top bit's index (ZF on zero): clz = index ^ (width-1);
 * zero -> 2*width-1, which gives width */
static void emit_clz(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    struct jx *e = &t->e;
    jx_bsr(e, o->w, RAX, gx(t, i->rs1));
    jx_mov_imm(e, RCX, o->w ? 127 : 63);
    jx_cmov(e, false, CC_E, RAX, jr(RCX));
    jx_alu_rm_imm(e, false, ALU_XOR, jr(RAX), o->w ? 63 : 31);
    put(t, i->rd, RAX);
}
static void emit_ctz(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    struct jx *e = &t->e;
    jx_bsf(e, o->w, RAX, gx(t, i->rs1));
    jx_mov_imm(e, RCX, o->w ? 64 : 32);
    jx_cmov(e, false, CC_E, RAX, jr(RCX));
    jx_mov_r_rm(e, false, RAX, jr(RAX));
    put(t, i->rd, RAX);
}
static void emit_cpop(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    jx_popcnt(&t->e, o->w, RAX, gx(t, i->rs1));
    put(t, i->rd, RAX);
}
/* sext.b, sext.h, zext.h: the low n bytes, sign-extended when code */
static void emit_ext(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs1, true);
    jx_load(&t->e, o->n, o->code, RAX, jr(RAX));
    put(t, i->rd, RAX);
}
static void emit_rev8(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k; (void)o;
    get(t, RAX, i->rs1, true);
    jx_bswap(&t->e, RAX);
    put(t, i->rd, RAX);
}
/* Zbs by rs2 or by imm: n is the bt group's op (4 bt = bext, 5 bts =
 * bset, 6 btr = bclr, 7 btc = binv) */
static void emit_bit_end(struct jt *t, const struct rv_insn *i, unsigned n)
{
    if (n == 4) {
        jx_setcc(&t->e, CC_B, RAX);
        jx_load(&t->e, 1, false, RAX, jr(RAX));
    }
    put(t, i->rd, RAX);
}
static void emit_bit_r(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RCX, i->rs2, true);
    get(t, RAX, i->rs1, true);
    jx_bt_r(&t->e, o->n, jr(RAX), RCX);
    emit_bit_end(t, i, o->n);
}
static void emit_bit_i(struct jt *t, const struct rv_insn *i, unsigned k, const struct jit_op *o)
{
    (void)k;
    get(t, RAX, i->rs1, true);
    jx_bt_imm(&t->e, o->n, jr(RAX), (unsigned)i->imm & 63);
    emit_bit_end(t, i, o->n);
}

/* Every translated op: { function, code, 64-bit, n, when } */
#define OP(op, fn, ...) [RV_OP_##op] = { emit_##fn, __VA_ARGS__ }
static const struct jit_op jit_ops[RV_OP_COUNT] = {
    OP(NOP, none, 0), OP(FENCE, none, 0), OP(FENCE_I, fence_i, 0),
    OP(LI, imm, 0), OP(LUI, imm, 0), OP(AUIPC, imm, 0), OP(MV, mv, 0),
    OP(JAL_IN, jal, 0, .n = 0), OP(JAL, jal, 0, .n = 1), OP(JALR, jalr, 0),
    OP(BEQ, branch, CC_E), OP(BNE, branch, CC_NE), OP(BLT, branch, CC_L),
    OP(BGE, branch, CC_GE), OP(BLTU, branch, CC_B), OP(BGEU, branch, CC_AE),
    OP(LB, load, true, .n = 1), OP(LH, load, true, .n = 2), OP(LW, load, true, .n = 4),
    OP(LD, load, false, .n = 8), OP(LBU, load, false, .n = 1), OP(LHU, load, false, .n = 2),
    OP(LWU, load, false, .n = 4),
    OP(SB, store, 0, .n = 1), OP(SH, store, 0, .n = 2), OP(SW, store, 0, .n = 4), OP(SD, store, 0, .n = 8),
    OP(FLW, fload, 0, .n = 4), OP(FLD, fload, 0, .n = 8),
    OP(FSW, fstore, 0, .n = 4), OP(FSD, fstore, 0, .n = 8), OP(FPU, fpu, 0),
    OP(LR_W, amo, 0), OP(SC_W, amo, 0), OP(LR_D, amo, 0), OP(SC_D, amo, 0),
    OP(AMOSWAP_W, amo, 0), OP(AMOADD_W, amo, 0), OP(AMOXOR_W, amo, 0), OP(AMOAND_W, amo, 0),
    OP(AMOOR_W, amo, 0), OP(AMOMIN_W, amo, 0), OP(AMOMAX_W, amo, 0), OP(AMOMINU_W, amo, 0),
    OP(AMOMAXU_W, amo, 0), OP(AMOSWAP_D, amo, 0), OP(AMOADD_D, amo, 0), OP(AMOXOR_D, amo, 0),
    OP(AMOAND_D, amo, 0), OP(AMOOR_D, amo, 0), OP(AMOMIN_D, amo, 0), OP(AMOMAX_D, amo, 0),
    OP(AMOMINU_D, amo, 0), OP(AMOMAXU_D, amo, 0),
    OP(CSRRW, csr, 0, .n = 0, .when = JIT_FCSR), OP(CSRRS, csr, 1, .n = 0, .when = JIT_FCSR),
    OP(CSRRC, csr, 2, .n = 0, .when = JIT_FCSR), OP(CSRRWI, csr, 0, .n = 1, .when = JIT_FCSR),
    OP(CSRRSI, csr, 1, .n = 1, .when = JIT_FCSR), OP(CSRRCI, csr, 2, .n = 1, .when = JIT_FCSR),
    OP(ADDI, alu_ri, ALU_ADD, true), OP(XORI, alu_ri, ALU_XOR, true),
    OP(ORI, alu_ri, ALU_OR, true), OP(ANDI, alu_ri, ALU_AND, true),
    OP(SLTI, set_cc, CC_L, .n = 1), OP(SLTIU, set_cc, CC_B, .n = 1),
    OP(SLLI, shift_ri, SH_SHL, true), OP(SRLI, shift_ri, SH_SHR, true), OP(SRAI, shift_ri, SH_SAR, true),
    OP(ADD, alu_rr, ALU_ADD, true), OP(SUB, alu_rr, ALU_SUB, true), OP(XOR, alu_rr, ALU_XOR, true),
    OP(OR, alu_rr, ALU_OR, true), OP(AND, alu_rr, ALU_AND, true),
    OP(SLT, set_cc, CC_L, .n = 0), OP(SLTU, set_cc, CC_B, .n = 0),
    OP(SLL, shift_rr, SH_SHL, true), OP(SRL, shift_rr, SH_SHR, true), OP(SRA, shift_rr, SH_SAR, true),
    OP(ADDIW, alu_ri, ALU_ADD, false), OP(SLLIW, shift_ri, SH_SHL, false),
    OP(SRLIW, shift_ri, SH_SHR, false), OP(SRAIW, shift_ri, SH_SAR, false),
    OP(ADDW, alu_rr, ALU_ADD, false), OP(SUBW, alu_rr, ALU_SUB, false),
    OP(SLLW, shift_rr, SH_SHL, false), OP(SRLW, shift_rr, SH_SHR, false), OP(SRAW, shift_rr, SH_SAR, false),
    OP(MUL, mul, 0, true), OP(MULW, mul, 0, false),
    OP(MULH, mulh, G3_IMUL), OP(MULHU, mulh, G3_MUL), OP(MULHSU, mulh, G3_MUL, .n = 1),
    /* divide: code signed, n remainder */
    OP(DIV, divide, true, true, 0), OP(DIVU, divide, false, true, 0),
    OP(REM, divide, true, true, 1), OP(REMU, divide, false, true, 1),
    OP(DIVW, divide, true, false, 0), OP(DIVUW, divide, false, false, 0),
    OP(REMW, divide, true, false, 1), OP(REMUW, divide, false, false, 1),
    /* shadd: code zero-extends rs1, n the shift */
    OP(ADD_UW, shadd, true, .n = 0), OP(SH1ADD, shadd, false, .n = 1), OP(SH2ADD, shadd, false, .n = 2),
    OP(SH3ADD, shadd, false, .n = 3), OP(SH1ADD_UW, shadd, true, .n = 1),
    OP(SH2ADD_UW, shadd, true, .n = 2), OP(SH3ADD_UW, shadd, true, .n = 3), OP(SLLI_UW, slli_uw, 0),
    OP(ANDN, alu_not, ALU_AND), OP(ORN, alu_not, ALU_OR), OP(XNOR, xnor, 0),
    OP(CLZ, clz, 0, true), OP(CLZW, clz, 0, false), OP(CTZ, ctz, 0, true), OP(CTZW, ctz, 0, false),
    OP(CPOP, cpop, 0, true, .when = JIT_POPCNT), OP(CPOPW, cpop, 0, false, .when = JIT_POPCNT),
    OP(MAX, minmax, CC_L), OP(MAXU, minmax, CC_B), OP(MIN, minmax, CC_G), OP(MINU, minmax, CC_A),
    OP(SEXT_B, ext, true, .n = 1), OP(SEXT_H, ext, true, .n = 2), OP(ZEXT_H, ext, false, .n = 2),
    OP(ROL, shift_rr, SH_ROL, true), OP(ROR, shift_rr, SH_ROR, true),
    OP(ROLW, shift_rr, SH_ROL, false), OP(RORW, shift_rr, SH_ROR, false),
    OP(RORI, shift_ri, SH_ROR, true), OP(RORIW, shift_ri, SH_ROR, false), OP(REV8, rev8, 0),
    OP(BEXT, bit_r, 0, .n = 4), OP(BSET, bit_r, 0, .n = 5), OP(BCLR, bit_r, 0, .n = 6), OP(BINV, bit_r, 0, .n = 7),
    OP(BEXTI, bit_i, 0, .n = 4), OP(BSETI, bit_i, 0, .n = 5), OP(BCLRI, bit_i, 0, .n = 6),
    OP(BINVI, bit_i, 0, .n = 7),
};
#undef OP

/* Is i's op translated? (the table's rows, under their conditions) */
bool jit_op_ok(const struct rv_insn *i, bool user, uint8_t host)
{
    unsigned op = i->op;
    if (op >= RV_OP_COUNT || !jit_ops[op].emit)
        return false;
    switch (jit_ops[op].when) {
    case JIT_FCSR: return (i->imm >= 1 && i->imm <= 3) || (!user && i->imm == RV_CSR_SSTATUS);
    case JIT_POPCNT: return host & JIT_HOST_POPCNT;
    default: return true;
    }
}

/* Ops that cannot leave the block and touch only x[rs1], x[rs2], x[rd]
 * (the register-only ALU ops): an instruction can be moved across them
 * when they do not touch its register. */
static bool alu_only(unsigned op)
{
    return (op >= RV_OP_ADDI && op <= RV_OP_SRAW) || op == RV_OP_MUL || op == RV_OP_MULW ||
           op == RV_OP_LUI || op == RV_OP_LI || op == RV_OP_MV || op == RV_OP_NOP ||
           (op >= RV_OP_ADD_UW && op <= RV_OP_SLLI_UW);
}

/* slli rd, rs, 32 then srli/srai rd, rd, 32: zero/sign-extend the low word
 * in one move. The pair may stand apart with register-only ALU ops
 * between that do not touch rd (compilers interleave two such pairs):
 * nothing can leave the block in between, so the srli's effect moves up
 * to the slli and the srli is skipped (t->skip). Returns the
 * instructions done at i (1 when the partner comes later). */
static unsigned emit_word_ext(struct jt *t, const struct rv_insn *i, unsigned k, unsigned left)
{
    unsigned rd = i->rd;
    if (i->op != RV_OP_SLLI || i->imm != 32 || left < 2 || rd >= 32 || rd == 0)
        return 0;
    unsigned j = 1;
    for (; j < left && j < 6; j++) {
        const struct rv_insn *m = i + j;
        if (m->rs1 == rd && m->rd == rd && m->imm == 32 && (m->op == RV_OP_SRLI || m->op == RV_OP_SRAI))
            break;
        if (!alu_only(m->op) || m->rs1 == rd || m->rs2 == rd || m->rd == rd || k + j >= 64)
            return 0;
    }
    if (j == left || j == 6)
        return 0;
    const struct rv_insn *n = i + j;
    int d = dst_of(t, rd, 0);
    if (n->op == RV_OP_SRLI)
        get(t, d, i->rs1, false);
    else
        jx_movsxd(&t->e, d, gx(t, i->rs1));
    done(t, rd, d, true);
    if (j == 1)
        return 2;
    t->skip |= 1ull << (k + j);
    return 1;
}

/* A W op into rd followed by slli rd, rd, 32 and srli rd, rd, 32 (zext.w
 * of its result: bzip2's index arithmetic, `(UInt32)(i + d)` as an array
 * index), possibly with register-only ALU ops that do not touch rd in
 * between: the slli's position, else 0. The W op's 32-bit host op then
 * gives the zero-extended value by itself (done() skips the sign
 * extension) and the pair is skipped, as emit_word_ext moves a pair. */
static unsigned zext_after(const struct rv_insn *i, unsigned k, unsigned left)
{
    unsigned rd = i->rd, sl = 0;
    if (rd == 0 || rd >= 32)
        return 0;
    if ((i->op == RV_OP_SLLIW || i->op == RV_OP_SRLIW || i->op == RV_OP_SRAIW) && !(i->imm & 31))
        return 0;                       /* a shift by 0: leave it to done()'s movsxd */
    for (unsigned j = 1; j < left && j < 6 && k + j < 64; j++) {
        const struct rv_insn *m = i + j;
        if (m->op == RV_OP_SLLI && m->rs1 == rd && m->rd == rd && m->imm == 32 && !sl) {
            sl = j;
            continue;
        }
        if (sl && m->op == RV_OP_SRLI && m->rs1 == rd && m->rd == rd && m->imm == 32)
            return sl | j << 8;
        if (!alu_only(m->op) || m->rs1 == rd || m->rs2 == rd || m->rd == rd)
            return 0;
    }
    return 0;
}

/* Does the op's code leave rdx alone and write no guest register but
 * x[rd] (its out-of-line paths either leave the block or come back with
 * rdx = the base: emit_stub)? Then jit_emit_insn keeps t->checked and
 * t->rdx_base across it. */
static bool keeps_rdx(const struct jit_op *o)
{
    static jit_emit_fn *const ok[] = {
        emit_none, emit_imm, emit_mv, emit_alu_rr, emit_alu_ri, emit_shift_ri, emit_shift_rr,
        emit_set_cc, emit_minmax, emit_branch, emit_shadd, emit_load, emit_store, emit_fload,
        emit_fstore, emit_mul, emit_slli_uw, emit_alu_not, emit_xnor, emit_clz, emit_ctz,
        emit_cpop, emit_ext, emit_rev8, emit_bit_r, emit_bit_i,
    };
    for (unsigned k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
        if (o->emit == ok[k])
            return true;
    return false;
}

/* One instruction; the op is one jit_op_ok() accepts. */
unsigned jit_emit_insn(struct jt *t, const struct rv_insn *i, unsigned k, unsigned left)
{
    const struct jit_op *o = &jit_ops[i->op];
    if (k < 64 && (t->skip >> k) & 1)
        return 1;                       /* done by an earlier instruction */
    t->flags_in = t->flags_reg;
    t->flags_in_full = t->flags_full;
    t->flags_reg = 0;
    unsigned used = emit_word_ext(t, i, k, left);      /* writes rd only, keeps rdx */
    bool ext = used != 0;
    if (!ext) {
        used = 1;
        unsigned z = o->w ? 0 : zext_after(i, k, left);
        t->zext = z != 0;
        o->emit(t, i, k, o);
        if (z && !t->zext)              /* done() took it: the pair is done */
            t->skip |= 1ull << (k + (z & 0xff)) | 1ull << (k + (z >> 8));
        t->zext = false;
    }
    if (o->emit == emit_csr && !(i->imm >= 1 && i->imm <= 3))
        t->fs = 0;                      /* not fflags, frm, fcsr: mstatus may have changed */
    if (!ext && !keeps_rdx(o)) {
        t->checked = 0;
        t->rdx_base = false;
    } else if (i->rd < 32) {
        t->checked &= ~(1u << i->rd);
    }
    return used;
}

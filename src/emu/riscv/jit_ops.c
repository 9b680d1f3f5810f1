/* emu/riscv: the translator's op lowering: each RISC-V op jit.c hands over
 * becomes x86-64 code over guest registers in host registers or in the
 * hart (jit.h: gx/get/put), with the interpreter's exact results (x86
 * masks shift counts as RISC-V does; division by zero and INT_MIN / -1 are
 * special-cased; clz/ctz use bsr/bsf, cpop popcnt when the host has it). */
#include "emu/riscv/jit.h"
#include "emu/riscv/ops.h"

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
bool jit_op_ok(unsigned op, bool user)
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
    struct stub *s = jit_new_stub(t, ST_BRANCH, k);
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
static void emit_fpu(struct jt *t, const struct rv_insn *i, unsigned k)
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
    jit_exit(t, t->dirty & ~sync & ~t->callers, -1, i->pc, t->b->n - k, RV_JIT_EXC + RV_EXC_ILLEGAL, i->raw);
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

/* User mode: leave for pc = rdx, straight into the target's translated
 * block when h->jtc knows it (still valid, with the dispatcher's checks),
 * else back to the dispatcher. */
static void emit_jalr_lookup(struct jt *t, uint32_t unretired)
{
    struct jx *e = &t->e;
    jit_writeback(t, t->dirty);
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

/* One instruction; the op is one jit_op_ok() accepts. */
unsigned jit_emit_insn(struct jt *t, const struct rv_insn *i, unsigned k, unsigned left)
{
    struct jx *e = &t->e;
    unsigned rd = i->rd;
    /* slli rd, rs, 32 then srli/srai rd, rd, 32: zero/sign-extend the low
     * word (nothing can leave the block between the two) */
    if (i->op == RV_OP_SLLI && i->imm == 32 && left > 1 && rd < 32) {
        const struct rv_insn *n = i + 1;
        if ((n->op == RV_OP_SRLI || n->op == RV_OP_SRAI) && n->imm == 32 && n->rs1 == rd && n->rd == rd) {
            int d = dst_of(t, rd, 0);
            if (n->op == RV_OP_SRLI)
                get(t, d, i->rs1, false);
            else
                jx_movsxd(e, d, gx(t, i->rs1));
            done(t, rd, d, true);
            return 2;
        }
    }
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
        jit_exit_to(t, t->dirty, (uint64_t)i->imm, t->b->n - 1 - k);
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
            jit_exit(t, t->dirty, RDX, 0, t->b->n - 1 - k, RV_JIT_NEXT, 0);
        break;
    case RV_OP_BEQ: emit_branch(t, i, k, CC_E); break;
    case RV_OP_BNE: emit_branch(t, i, k, CC_NE); break;
    case RV_OP_BLT: emit_branch(t, i, k, CC_L); break;
    case RV_OP_BGE: emit_branch(t, i, k, CC_GE); break;
    case RV_OP_BLTU: emit_branch(t, i, k, CC_B); break;
    case RV_OP_BGEU: emit_branch(t, i, k, CC_AE); break;

    case RV_OP_LB: jit_load(t, i, k, 1, true, false); break;
    case RV_OP_LH: jit_load(t, i, k, 2, true, false); break;
    case RV_OP_LW: jit_load(t, i, k, 4, true, false); break;
    case RV_OP_LD: jit_load(t, i, k, 8, false, false); break;
    case RV_OP_LBU: jit_load(t, i, k, 1, false, false); break;
    case RV_OP_LHU: jit_load(t, i, k, 2, false, false); break;
    case RV_OP_LWU: jit_load(t, i, k, 4, false, false); break;
    case RV_OP_SB: jit_store(t, i, k, 1, false); break;
    case RV_OP_SH: jit_store(t, i, k, 2, false); break;
    case RV_OP_SW: jit_store(t, i, k, 4, false); break;
    case RV_OP_SD: jit_store(t, i, k, 8, false); break;
    case RV_OP_FLW: jit_load(t, i, k, 4, false, true); break;
    case RV_OP_FLD: jit_load(t, i, k, 8, false, true); break;
    case RV_OP_FSW: jit_store(t, i, k, 4, true); break;
    case RV_OP_FSD: jit_store(t, i, k, 8, true); break;
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
    return 1;
}


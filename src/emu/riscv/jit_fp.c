/* emu/riscv: the translator's F and D fast paths, and the FP CSRs.
 *
 * An OP-FP or fused instruction is emitted as inline SSE code for the
 * common case, guarded by checks that send every other case to the exact
 * path (the call into fpu.c that jit_ops.c emits after it), as QEMU's
 * hardfloat does:
 *
 * - arithmetic (add, sub, mul, div, sqrt, the four fused ops, fcvt.s.d,
 *   fcvt from a 64-bit integer or to a single): only in round-to-nearest
 *   (rm 0, or rm 7 with frm 0) once NX is accrued, and only when the result
 *   is finite with an exponent field of 2 or more (or, for add and sub, an
 *   exact zero). Such a result raises no flag but NX (no NV: a NaN result
 *   is not taken; no DZ or OF: the result is finite; no UF: it is normal
 *   and not within a factor 2 of the smallest normal), the host's rounding
 *   is RISC-V's, and NX is already set. Subnormal operands need no check:
 *   SSE computes them exactly (no DAZ/FTZ), and the result test decides.
 * - exact operations (fcvt.d.s, fcvt.d.w, sign injection, moves,
 *   comparisons of ordered operands, conversions to an integer that fit)
 *   in every mode the instruction allows; a dynamic rm still needs a valid
 *   frm (else the exact path raises the illegal instruction).
 * - singles: every operand must be NaN-boxed (else the exact path reads
 *   the canonical NaN); results are boxed.
 *
 * Conversions to an integer take x86's "indefinite" answer (the most
 * negative value, for NaN and out of range) to the exact path, which gives
 * RISC-V's saturated value and NV. fmin/fmax, fclass, the unsigned
 * conversions and the other rounding modes always take the exact path. */
#include "emu/riscv/jit.h"

#define OFF_FFLAGS ((int32_t)offsetof(struct rv_hart, fp.fflags))
#define OFF_FRM ((int32_t)offsetof(struct rv_hart, fp.frm))

enum { FX_NX = 1 };
/* what an instruction needs of the rounding mode */
enum { RM_ANY, RM_VALID, RM_NEAREST };

struct fpi {
    unsigned opc, f5, rm, rd, rs1, rs2, rs3;
    bool d;                     /* double (fmt 1), else single (fmt 0) */
};

static void to_slow(struct jt *t, struct jit_fp_slow *s, unsigned cc)
{
    s->site[s->n++] = jx_jcc(&t->e, cc);
}

/* The rounding-mode guard; false: no fast path for this rm. */
static bool check_rm(struct jt *t, const struct fpi *f, unsigned need, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    if (need == RM_ANY)
        return true;
    if (need == RM_VALID) {
        if (f->rm == 5 || f->rm == 6)
            return false;
        if (f->rm == 7) {
            jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_FRM), 4);
            to_slow(t, s, CC_A);
        }
        return true;
    }
    if (f->rm != 0 && f->rm != 7)
        return false;
    if (f->rm == 7) {
        jx_alu_rm_imm(e, false, ALU_CMP, jm(RBX, OFF_FRM), 0);
        to_slow(t, s, CC_NE);
    }
    jx_insn(e, 0, 0, 0xf6, 0, jm(RBX, OFF_FFLAGS));     /* test byte [fflags], NX */
    jx_byte(e, FX_NX);
    to_slow(t, s, CC_E);
    return true;
}

/* singles: f[r] must be NaN-boxed */
static void check_box(struct jt *t, const struct fpi *f, unsigned r, struct jit_fp_slow *s)
{
    if (f->d)
        return;
    jx_alu_rm_imm(&t->e, false, ALU_CMP, jm(RBX, OFF_F(r) + 4), -1);
    to_slow(t, s, CC_NE);
}

/* f[rd] = rax (a single in eax is boxed first; rcx is clobbered) */
static void put_f(struct jt *t, const struct fpi *f)
{
    struct jx *e = &t->e;
    if (!f->d) {
        jx_mov_r_rm(e, false, RAX, jr(RAX));
        jx_mov_imm(e, RCX, 0xffffffff00000000ULL);
        jx_alu_r_rm(e, true, ALU_OR, RAX, jr(RCX));
    }
    jx_mov_rm_r(e, true, jm(RBX, OFF_F(f->rd)), RAX);
}

/* rax = xmm0's result; to the slow path unless finite with an exponent
 * field >= 2 (or zero, when zero_ok), then f[rd] = it */
static void put_checked(struct jt *t, const struct fpi *f, bool zero_ok, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    bool d = f->d;
    jx_movq_rm_x(e, d, jr(RAX), 0);
    jx_mov_r_rm(e, d, RCX, jr(RAX));
    jx_alu_r_rm(e, d, ALU_ADD, RCX, jr(RCX));          /* the sign out */
    uint32_t zero = 0;
    if (zero_ok)
        zero = jx_jcc(e, CC_E);
    jx_shift_imm(e, d, SH_SHR, jr(RCX), d ? 53 : 24);   /* the exponent field */
    jx_alu_rm_imm(e, false, ALU_SUB, jr(RCX), 2);
    jx_alu_rm_imm(e, false, ALU_CMP, jr(RCX), d ? 0x7fd : 0xfd);
    to_slow(t, s, CC_AE);
    if (zero_ok)
        jx_patch(e, zero, jx_pos(e));
    put_f(t, f);
}

/* fadd, fsub, fmul, fdiv, fsqrt */
static bool fast_arith(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    static const uint8_t op[4] = { SSE_ADD, SSE_SUB, SSE_MUL, SSE_DIV };
    bool sqrt = f->f5 == 0x0b;
    if ((sqrt && f->rs2) || !check_rm(t, f, RM_NEAREST, s))
        return false;
    check_box(t, f, f->rs1, s);
    if (sqrt) {
        jx_sse_op(&t->e, f->d, SSE_SQRT, 0, jm(RBX, OFF_F(f->rs1)));
    } else {
        check_box(t, f, f->rs2, s);
        jx_movs_x_m(&t->e, f->d, 0, jm(RBX, OFF_F(f->rs1)));
        jx_sse_op(&t->e, f->d, op[f->f5], 0, jm(RBX, OFF_F(f->rs2)));
    }
    put_checked(t, f, f->f5 <= 1, s);
    return true;
}

/* fmadd (a*b+c), fmsub (a*b-c), fnmsub (-a*b+c), fnmadd (-a*b-c) */
static bool fast_fma(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    if (!(t->host & JIT_HOST_FMA) || !check_rm(t, f, RM_NEAREST, s))
        return false;
    static const uint8_t op[4] = { 0xa9, 0xab, 0xad, 0xaf };   /* 0x43 0x47 0x4b 0x4f */
    unsigned r[3] = { f->rs1, f->rs2, f->rs3 };
    for (unsigned k = 0; k < 3; k++) {
        check_box(t, f, r[k], s);
        jx_movs_x_m(&t->e, f->d, (int)k, jm(RBX, OFF_F(r[k])));
    }
    jx_vfma213(&t->e, f->d, op[(f->opc >> 2) & 3], 0, 1, 2);
    put_checked(t, f, false, s);
    return true;
}

/* fsgnj, fsgnjn, fsgnjx: integer operations on the bits */
static bool fast_sgnj(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    bool d = f->d;
    if (f->rm > 2)
        return false;
    check_box(t, f, f->rs1, s);
    check_box(t, f, f->rs2, s);
    jx_mov_r_rm(e, d, RAX, jm(RBX, OFF_F(f->rs1)));
    jx_mov_r_rm(e, d, RCX, jm(RBX, OFF_F(f->rs2)));
    if (f->rm == 1)
        jx_group3(e, d, G3_NOT, jr(RCX));
    jx_shift_imm(e, d, SH_SHR, jr(RCX), d ? 63 : 31);
    jx_shift_imm(e, d, SH_SHL, jr(RCX), d ? 63 : 31);
    if (f->rm == 2) {
        jx_alu_r_rm(e, d, ALU_XOR, RAX, jr(RCX));
    } else {
        jx_bt_imm(e, 6, jr(RAX), d ? 63 : 31);          /* btr: the sign off */
        jx_alu_r_rm(e, d, ALU_OR, RAX, jr(RCX));
    }
    put_f(t, f);
    return true;
}

/* feq, flt, fle of ordered operands (a NaN takes the exact path: NV) */
static bool fast_compare(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    static const uint8_t cc[3] = { CC_BE, CC_B, CC_E };
    struct jx *e = &t->e;
    if (f->rm > 2)
        return false;
    check_box(t, f, f->rs1, s);
    check_box(t, f, f->rs2, s);
    jx_movs_x_m(e, f->d, 0, jm(RBX, OFF_F(f->rs1)));
    jx_alu_r_rm(e, false, ALU_XOR, RCX, jr(RCX));
    jx_ucomis(e, f->d, 0, jm(RBX, OFF_F(f->rs2)));
    to_slow(t, s, CC_P);
    jx_setcc(e, cc[f->rm], RCX);
    put(t, f->rd, RCX);
    return true;
}

/* fcvt.w/l.{s,d} (signed): truncated for rm 1, else in round to nearest */
static bool fast_to_int(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    bool w = f->rs2 == 2, trunc = f->rm == 1;
    if ((f->rs2 != 0 && f->rs2 != 2) || (f->rm != 1 && f->rm != 0 && f->rm != 7))
        return false;
    if (trunc) {
        jx_insn(e, 0, 0, 0xf6, 0, jm(RBX, OFF_FFLAGS));
        jx_byte(e, FX_NX);
        to_slow(t, s, CC_E);
    } else if (!check_rm(t, f, RM_NEAREST, s)) {
        return false;
    }
    check_box(t, f, f->rs1, s);
    jx_cvts2si(e, f->d, w, trunc, RAX, jm(RBX, OFF_F(f->rs1)));
    jx_alu_rm_imm(e, w, ALU_CMP, jr(RAX), 1);           /* overflows only for the indefinite */
    to_slow(t, s, CC_O);
    if (!w)
        jx_movsxd(e, RAX, jr(RAX));
    put(t, f->rd, RAX);
    return true;
}

/* fcvt.{s,d}.{w,l}: exact for fcvt.d.w, else in round to nearest */
static bool fast_from_int(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    bool w = f->rs2 == 2;
    if (f->rs2 != 0 && f->rs2 != 2)
        return false;
    if (!check_rm(t, f, f->d && !w ? RM_VALID : RM_NEAREST, s))
        return false;
    jx_cvtsi2s(e, f->d, w, 0, gx(t, f->rs1));
    jx_movq_rm_x(e, f->d, jr(RAX), 0);
    put_f(t, f);
    return true;
}

/* fcvt.s.d (rounds), fcvt.d.s (exact but for NaNs) */
static bool fast_cvt_fmt(struct jt *t, const struct fpi *f, struct jit_fp_slow *s)
{
    struct jx *e = &t->e;
    if (f->d && f->rs2 == 0) {
        if (!check_rm(t, f, RM_VALID, s))
            return false;
        struct fpi single = *f;
        single.d = false;
        check_box(t, &single, f->rs1, s);
        jx_movs_x_m(e, false, 0, jm(RBX, OFF_F(f->rs1)));
        jx_ucomis(e, false, 0, jr(0));
        to_slow(t, s, CC_P);
        jx_cvts2s(e, false, 0, jr(0));
        jx_movq_rm_x(e, true, jr(RAX), 0);
        put_f(t, f);
        return true;
    }
    if (f->d || f->rs2 != 1 || !check_rm(t, f, RM_NEAREST, s))
        return false;
    jx_cvts2s(e, true, 0, jm(RBX, OFF_F(f->rs1)));
    put_checked(t, f, false, s);
    return true;
}

/* fmv.x.{w,d} and fmv.{w,d}.x: bits only */
static bool fast_move(struct jt *t, const struct fpi *f)
{
    struct jx *e = &t->e;
    if (f->rs2 || f->rm)
        return false;
    if (f->f5 == 0x1c) {
        if (f->d)
            jx_mov_r_rm(e, true, RAX, jm(RBX, OFF_F(f->rs1)));
        else
            jx_movsxd(e, RAX, jm(RBX, OFF_F(f->rs1)));
        put(t, f->rd, RAX);
        return true;
    }
    get(t, RAX, f->rs1, f->d);
    put_f(t, f);
    return true;
}

bool jit_fp_fast(struct jt *t, const struct rv_insn *i, struct jit_fp_slow *s)
{
    uint32_t raw = i->raw;
    struct fpi f = {
        .opc = raw & 0x7f, .f5 = raw >> 27, .rm = (raw >> 12) & 7, .rd = (raw >> 7) & 31,
        .rs1 = (raw >> 15) & 31, .rs2 = (raw >> 20) & 31, .rs3 = raw >> 27,
        .d = ((raw >> 25) & 3) == 1,
    };
    s->n = 0;
    if ((raw >> 25) & 2)
        return false;           /* H, Q: illegal, the exact path says so */
    if (f.opc != 0x53)
        return (f.opc & 0x73) == 0x43 && fast_fma(t, &f, s);
    switch (f.f5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x0b:
        return fast_arith(t, &f, s);
    case 0x04: return fast_sgnj(t, &f, s);
    case 0x08: return fast_cvt_fmt(t, &f, s);
    case 0x14: return fast_compare(t, &f, s);
    case 0x18: return fast_to_int(t, &f, s);
    case 0x1a: return fast_from_int(t, &f, s);
    case 0x1c: case 0x1e: return fast_move(t, &f);
    default: return false;
    }
}

/* System mode: an F/D instruction (or FP CSR access) with mstatus.FS off
 * is illegal (tval: the instruction, as the interpreter's FP_ON). */
void jit_fs_check(struct jt *t, const struct rv_insn *i, unsigned k)
{
    struct jx *e = &t->e;
    if (t->user || t->fs)
        return;                         /* checked or set by an earlier one */
    jx_insn(e, 0, 0, 0xf7, 0, jm(RBX, OFF_MSTATUS));    /* test dword [mstatus], FS */
    jx_u32(e, (uint32_t)MS_FS);
    uint32_t on = jx_jcc(e, CC_NE);
    jit_exit(t, t->dirty, -1, rv_insn_pc(t->b, i), t->b->n - k, RV_JIT_EXC + RV_EXC_ILLEGAL, i->raw);
    jx_patch(e, on, jx_pos(e));
    t->fs = 1;
}

/* mstatus |= FS | SD (rv_fs_dirty), once per block: a read-modify-write
 * of mstatus after every F/D instruction (and the next one's test of it)
 * chained each through a store, and ran an n-body loop 6x slower than in
 * user mode */
static void fs_dirty(struct jt *t)
{
    if (t->fs == 2)
        return;
    jx_alu_rm_imm(&t->e, false, ALU_OR, jm(RBX, OFF_MSTATUS), (int32_t)MS_FS);
    jx_bt_imm(&t->e, 5, jm(RBX, OFF_MSTATUS), 63);
    t->fs = 2;
}
/* after an F/D instruction that wrote an f register: in system mode */
void jit_fs_written(struct jt *t)
{
    if (!t->user)
        fs_dirty(t);
}

/* csrrw/csrrs/csrrc (and the immediate forms) on fflags, frm or fcsr
 * (user-level CSRs: only mstatus.FS guards them): the CSR as csr.c reads
 * and writes it (fflags 5 bits, frm 3, fcsr both; a write marks FS
 * dirty). kind: 0 write, 1 set, 2 clear; imm: the value is the uimm in
 * rs1. */
void jit_emit_fcsr(struct jt *t, const struct rv_insn *i, unsigned k, unsigned kind, bool imm)
{
    struct jx *e = &t->e;
    unsigned csr = (unsigned)i->imm;
    bool write = kind == 0 || i->rs1 != 0;
    jit_fs_check(t, i, k);
    if (csr != 2)
        jx_mov_r_rm(e, false, RAX, jm(RBX, OFF_FFLAGS));
    if (csr == 1) {
        jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), 31);
    } else {
        jx_mov_r_rm(e, false, csr == 2 ? RAX : RCX, jm(RBX, OFF_FRM));
        if (csr == 3) {
            jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), 31);
            jx_alu_rm_imm(e, false, ALU_AND, jr(RCX), 7);
            jx_shift_imm(e, false, SH_SHL, jr(RCX), 5);
            jx_alu_r_rm(e, false, ALU_OR, RAX, jr(RCX));
        } else {
            jx_alu_rm_imm(e, false, ALU_AND, jr(RAX), 7);
        }
    }
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
        jx_mov_r_rm(e, false, RCX, jr(RDX));
        if (csr != 2) {
            jx_alu_rm_imm(e, false, ALU_AND, jr(RCX), 31);
            jx_mov_rm_r(e, false, jm(RBX, OFF_FFLAGS), RCX);
            jx_mov_r_rm(e, false, RCX, jr(RDX));
            jx_shift_imm(e, false, SH_SHR, jr(RCX), 5);
        }
        if (csr != 1) {
            jx_alu_rm_imm(e, false, ALU_AND, jr(RCX), 7);
            jx_mov_rm_r(e, false, jm(RBX, OFF_FRM), RCX);
        }
        fs_dirty(t);
    }
    put(t, i->rd, RAX);
}

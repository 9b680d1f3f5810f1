/* emu/riscv internal: a small x86-64 instruction emitter for the
 * translator (jit.c). One general encoder (prefix, REX, opcode, ModRM, SIB,
 * displacement) and thin helpers named after the instructions they emit.
 * Writes never pass e->end; e->p runs on so that jx_overflow() tells. */
#ifndef VESSEL_RISCV_JIT_X86_H
#define VESSEL_RISCV_JIT_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A,
       CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G };
/* group-1 ALU: opcode "op r, r/m" and the /n of "op r/m, imm" */
enum { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
/* group-2 shifts (/n) */
enum { SH_ROL = 0, SH_ROR = 1, SH_SHL = 4, SH_SHR = 5, SH_SAR = 7 };
/* group-3 (F7 /n) */
enum { G3_NOT = 2, G3_NEG = 3, G3_MUL = 4, G3_IMUL = 5, G3_DIV = 6, G3_IDIV = 7 };

struct jx {
    uint8_t *buf, *p, *end;
};

/* A register or memory operand: reg >= 0, or [base + index << scale + disp]
 * (base -1: no base, index -1: no index). */
struct jrm {
    int8_t reg, base, index;
    uint8_t scale;
    int32_t disp;
};

static inline struct jrm jr(int r) { return (struct jrm){ .reg = (int8_t)r, .base = -1, .index = -1 }; }
static inline struct jrm jm(int base, int32_t disp)
{
    return (struct jrm){ .reg = -1, .base = (int8_t)base, .index = -1, .disp = disp };
}
static inline struct jrm jmi(int base, int index, unsigned scale, int32_t disp)
{
    return (struct jrm){ .reg = -1, .base = (int8_t)base, .index = (int8_t)index,
                         .scale = (uint8_t)scale, .disp = disp };
}

static inline void jx_byte(struct jx *e, unsigned v)
{
    if (e->p < e->end)
        *e->p = (uint8_t)v;
    e->p++;
}
static inline void jx_u32(struct jx *e, uint32_t v)
{
    for (unsigned k = 0; k < 4; k++)
        jx_byte(e, (v >> (8 * k)) & 0xff);
}
static inline void jx_u64(struct jx *e, uint64_t v)
{
    jx_u32(e, (uint32_t)v);
    jx_u32(e, (uint32_t)(v >> 32));
}
static inline bool jx_overflow(const struct jx *e) { return e->p > e->end; }
static inline uint32_t jx_pos(const struct jx *e) { return (uint32_t)(e->p - e->buf); }

#define JX_W 1       /* REX.W: 64-bit operand */
#define JX_B8 2      /* byte registers: spl..dil need a REX */

/* ModRM [SIB] [disp] for r (a register or a /n) and m */
static inline void jx_modrm(struct jx *e, unsigned r, struct jrm m)
{
    if (m.reg >= 0) {
        jx_byte(e, 0xc0 | (r & 7) << 3 | (m.reg & 7));
        return;
    }
    if (m.base < 0) {                       /* [index << scale + disp32] */
        jx_byte(e, (r & 7) << 3 | 4);
        jx_byte(e, (unsigned)m.scale << 6 | (m.index & 7) << 3 | 5);
        jx_u32(e, (uint32_t)m.disp);
        return;
    }
    unsigned mod = (m.disp == 0 && (m.base & 7) != 5) ? 0 : (m.disp >= -128 && m.disp <= 127) ? 1 : 2;
    if (m.index >= 0) {
        jx_byte(e, mod << 6 | (r & 7) << 3 | 4);
        jx_byte(e, (unsigned)m.scale << 6 | (m.index & 7) << 3 | (m.base & 7));
    } else {
        jx_byte(e, mod << 6 | (r & 7) << 3 | (m.base & 7));
        if ((m.base & 7) == 4)
            jx_byte(e, 0x24);
    }
    if (mod == 1)
        jx_byte(e, (uint8_t)m.disp);
    else if (mod == 2)
        jx_u32(e, (uint32_t)m.disp);
}

/* [pfx] [REX] op(1-3 bytes) ModRM [SIB] [disp]; r is a register or a /n. */
static inline void jx_insn(struct jx *e, unsigned flags, unsigned pfx, uint32_t op, unsigned r, struct jrm m)
{
    if (pfx)
        jx_byte(e, pfx);
    unsigned lo = (unsigned)(m.reg >= 0 ? m.reg : m.base >= 0 ? m.base : 0);
    unsigned rex = 0x40 | (flags & JX_W ? 8u : 0u) | ((r >> 3) & 1) << 2 |
                   (m.index >= 0 ? (((unsigned)m.index >> 3) & 1) << 1 : 0) | ((lo >> 3) & 1);
    bool force = (flags & JX_B8) && ((r >= 4 && r < 8) || (m.reg >= 4 && m.reg < 8));
    if (rex != 0x40 || force)
        jx_byte(e, rex);
    if (op > 0xffff)
        jx_byte(e, op >> 16);
    if (op > 0xff)
        jx_byte(e, (op >> 8) & 0xff);
    jx_byte(e, op & 0xff);
    jx_modrm(e, r, m);
}

/* BMI2 shifts by a register, d = m SHIFT c (the count masked as RISC-V
 * masks it): pp 1 shlx, 2 sarx, 3 shrx; w: 64-bit (else 32-bit,
 * zero-extended) */
enum { SHX_SHL = 1, SHX_SAR = 2, SHX_SHR = 3 };
static inline void jx_shx(struct jx *e, bool w, unsigned pp, int d, struct jrm m, int c)
{
    unsigned lo = (unsigned)(m.reg >= 0 ? m.reg : m.base >= 0 ? m.base : 0);
    unsigned x = m.reg < 0 && m.index >= 0 ? ((unsigned)m.index >> 3) & 1 : 0;
    jx_byte(e, 0xc4);
    jx_byte(e, (((~(unsigned)d >> 3) & 1) << 7) | ((~x & 1) << 6) | (((~lo >> 3) & 1) << 5) | 0x02);
    jx_byte(e, (w ? 0x80u : 0u) | ((~(unsigned)c & 15) << 3) | pp);
    jx_byte(e, 0xf7);
    jx_modrm(e, (unsigned)d, m);
}

static inline unsigned jx_w(bool w) { return w ? JX_W : 0; }

/* mov r, r/m and mov r/m, r (w: 64-bit, else 32-bit, which zero-extends) */
static inline void jx_mov_r_rm(struct jx *e, bool w, int r, struct jrm m) { jx_insn(e, jx_w(w), 0, 0x8b, (unsigned)r, m); }
static inline void jx_mov_rm_r(struct jx *e, bool w, struct jrm m, int r) { jx_insn(e, jx_w(w), 0, 0x89, (unsigned)r, m); }
static inline void jx_mov_rr(struct jx *e, int d, int s)
{
    if (d != s)
        jx_mov_r_rm(e, true, d, jr(s));
}
/* stores of 1/2/4/8 bytes from register r */
static inline void jx_store(struct jx *e, unsigned size, struct jrm m, int r)
{
    switch (size) {
    case 1: jx_insn(e, JX_B8, 0, 0x88, (unsigned)r, m); break;
    case 2: jx_insn(e, 0, 0x66, 0x89, (unsigned)r, m); break;
    case 4: jx_insn(e, 0, 0, 0x89, (unsigned)r, m); break;
    default: jx_insn(e, JX_W, 0, 0x89, (unsigned)r, m); break;
    }
}
/* loads of 1/2/4/8 bytes into the 64-bit r, sign- or zero-extended */
static inline void jx_load(struct jx *e, unsigned size, bool sext, int r, struct jrm m)
{
    switch (size) {
    case 1: jx_insn(e, sext ? JX_W : 0, 0, sext ? 0x0fbe : 0x0fb6, (unsigned)r, m); break;
    case 2: jx_insn(e, sext ? JX_W : 0, 0, sext ? 0x0fbf : 0x0fb7, (unsigned)r, m); break;
    case 4: if (sext) jx_insn(e, JX_W, 0, 0x63, (unsigned)r, m); else jx_insn(e, 0, 0, 0x8b, (unsigned)r, m); break;
    default: jx_insn(e, JX_W, 0, 0x8b, (unsigned)r, m); break;
    }
}
static inline void jx_movsxd(struct jx *e, int d, struct jrm m) { jx_insn(e, JX_W, 0, 0x63, (unsigned)d, m); }
static inline void jx_lea(struct jx *e, int d, struct jrm m) { jx_insn(e, JX_W, 0, 0x8d, (unsigned)d, m); }

/* op r, r/m */
static inline void jx_alu_r_rm(struct jx *e, bool w, unsigned alu, int r, struct jrm m)
{
    jx_insn(e, jx_w(w), 0, alu * 8 + 3, (unsigned)r, m);
}
/* op r/m, r */
static inline void jx_alu_rm_r(struct jx *e, bool w, unsigned alu, struct jrm m, int r)
{
    jx_insn(e, jx_w(w), 0, alu * 8 + 1, (unsigned)r, m);
}
/* op r/m, imm (sign-extended imm8 or imm32) */
static inline void jx_alu_rm_imm(struct jx *e, bool w, unsigned alu, struct jrm m, int32_t imm)
{
    if (imm >= -128 && imm <= 127) {
        jx_insn(e, jx_w(w), 0, 0x83, alu, m);
        jx_byte(e, (uint8_t)imm);
    } else {
        jx_insn(e, jx_w(w), 0, 0x81, alu, m);
        jx_u32(e, (uint32_t)imm);
    }
}
static inline void jx_test_rm_r(struct jx *e, bool w, struct jrm m, int r) { jx_insn(e, jx_w(w), 0, 0x85, (unsigned)r, m); }
static inline void jx_shift_imm(struct jx *e, bool w, unsigned sh, struct jrm m, unsigned n)
{
    jx_insn(e, jx_w(w), 0, 0xc1, sh, m);
    jx_byte(e, n);
}
static inline void jx_shift_cl(struct jx *e, bool w, unsigned sh, struct jrm m) { jx_insn(e, jx_w(w), 0, 0xd3, sh, m); }
static inline void jx_group3(struct jx *e, bool w, unsigned g, struct jrm m) { jx_insn(e, jx_w(w), 0, 0xf7, g, m); }
static inline void jx_imul_r_rm(struct jx *e, bool w, int r, struct jrm m) { jx_insn(e, jx_w(w), 0, 0x0faf, (unsigned)r, m); }
static inline void jx_cqo(struct jx *e, bool w) { if (w) jx_byte(e, 0x48); jx_byte(e, 0x99); }
static inline void jx_setcc(struct jx *e, unsigned cc, int r) { jx_insn(e, JX_B8, 0, 0x0f90 + cc, 0, jr(r)); }
static inline void jx_cmov(struct jx *e, bool w, unsigned cc, int r, struct jrm m) { jx_insn(e, jx_w(w), 0, 0x0f40 + cc, (unsigned)r, m); }
static inline void jx_bsr(struct jx *e, bool w, int r, struct jrm m) { jx_insn(e, jx_w(w), 0, 0x0fbd, (unsigned)r, m); }
static inline void jx_bsf(struct jx *e, bool w, int r, struct jrm m) { jx_insn(e, jx_w(w), 0, 0x0fbc, (unsigned)r, m); }
static inline void jx_popcnt(struct jx *e, bool w, int r, struct jrm m) { jx_insn(e, jx_w(w), 0xf3, 0x0fb8, (unsigned)r, m); }
static inline void jx_bswap(struct jx *e, int r)
{
    jx_byte(e, 0x48 | (r >> 3));
    jx_byte(e, 0x0f);
    jx_byte(e, 0xc8 + (r & 7));
}
/* bt/bts/btr/btc r/m64, r (n = 4 5 6 7) and with an imm8 index */
static inline void jx_bt_r(struct jx *e, unsigned n, struct jrm m, int r)
{
    static const uint32_t op[4] = { 0x0fa3, 0x0fab, 0x0fb3, 0x0fbb };
    jx_insn(e, JX_W, 0, op[n - 4], (unsigned)r, m);
}
static inline void jx_bt_imm(struct jx *e, unsigned n, struct jrm m, unsigned bit)
{
    jx_insn(e, JX_W, 0, 0x0fba, n, m);
    jx_byte(e, bit);
}
/* r = v with the shortest encoding */
static inline void jx_mov_imm(struct jx *e, int r, uint64_t v)
{
    if (v <= 0xffffffffULL) {
        if (r >= 8)
            jx_byte(e, 0x41);
        jx_byte(e, 0xb8 + (r & 7));
        jx_u32(e, (uint32_t)v);
    } else if ((int64_t)v == (int32_t)v) {
        jx_insn(e, JX_W, 0, 0xc7, 0, jr(r));
        jx_u32(e, (uint32_t)v);
    } else {
        jx_byte(e, 0x48 | (r >> 3));
        jx_byte(e, 0xb8 + (r & 7));
        jx_u64(e, v);
    }
}
/* mov qword r/m, simm32 */
static inline void jx_mov_rm_imm32(struct jx *e, struct jrm m, int32_t v)
{
    jx_insn(e, JX_W, 0, 0xc7, 0, m);
    jx_u32(e, (uint32_t)v);
}
static inline void jx_push(struct jx *e, int r)
{
    if (r >= 8)
        jx_byte(e, 0x41);
    jx_byte(e, 0x50 + (r & 7));
}
static inline void jx_pop(struct jx *e, int r)
{
    if (r >= 8)
        jx_byte(e, 0x41);
    jx_byte(e, 0x58 + (r & 7));
}
static inline void jx_ret(struct jx *e) { jx_byte(e, 0xc3); }
static inline void jx_call_abs(struct jx *e, const void *fn)
{
    jx_mov_imm(e, RAX, (uint64_t)(uintptr_t)fn);
    jx_insn(e, 0, 0, 0xff, 2, jr(RAX));
}
/* SSE scalar ops (xmm registers 0-15 as r): pfx 0xf2 double, 0xf3 single */
enum { SSE_SQRT = 0x51, SSE_ADD = 0x58, SSE_MUL = 0x59, SSE_SUB = 0x5c, SSE_DIV = 0x5e };
static inline unsigned jx_sse_pfx(bool d) { return d ? 0xf2 : 0xf3; }
/* movsd/movss xmm, m and m, xmm */
static inline void jx_movs_x_m(struct jx *e, bool d, int x, struct jrm m) { jx_insn(e, 0, jx_sse_pfx(d), 0x0f10, (unsigned)x, m); }
static inline void jx_movs_m_x(struct jx *e, bool d, struct jrm m, int x) { jx_insn(e, 0, jx_sse_pfx(d), 0x0f11, (unsigned)x, m); }
/* addsd & co.: x = x OP m (SSE_SQRT: x = sqrt(m)) */
static inline void jx_sse_op(struct jx *e, bool d, unsigned op, int x, struct jrm m) { jx_insn(e, 0, jx_sse_pfx(d), 0x0f00 | op, (unsigned)x, m); }
/* movq/movd xmm, r/m and r/m, xmm (w: 64-bit) */
static inline void jx_movq_x_rm(struct jx *e, bool w, int x, struct jrm m) { jx_insn(e, jx_w(w), 0x66, 0x0f6e, (unsigned)x, m); }
static inline void jx_movq_rm_x(struct jx *e, bool w, struct jrm m, int x) { jx_insn(e, jx_w(w), 0x66, 0x0f7e, (unsigned)x, m); }
/* ucomisd/ucomiss x, m: unordered sets PF (and ZF, CF) */
static inline void jx_ucomis(struct jx *e, bool d, int x, struct jrm m) { jx_insn(e, 0, d ? 0x66 : 0, 0x0f2e, (unsigned)x, m); }
/* cvtsi2sd/ss x, r/m (w: a 64-bit integer) */
static inline void jx_cvtsi2s(struct jx *e, bool d, bool w, int x, struct jrm m) { jx_insn(e, jx_w(w), jx_sse_pfx(d), 0x0f2a, (unsigned)x, m); }
/* cvt(t)sd2si/ss2si r, m: trunc rounds toward zero, else MXCSR's mode */
static inline void jx_cvts2si(struct jx *e, bool d, bool w, bool trunc, int r, struct jrm m)
{
    jx_insn(e, jx_w(w), jx_sse_pfx(d), trunc ? 0x0f2c : 0x0f2d, (unsigned)r, m);
}
/* cvtsd2ss (d: from double) / cvtss2sd x, m */
static inline void jx_cvts2s(struct jx *e, bool d, int x, struct jrm m) { jx_insn(e, 0, jx_sse_pfx(d), 0x0f5a, (unsigned)x, m); }
/* FMA3, register forms, x = y * x + z (213): op 0xa9 vfmadd, 0xab vfmsub,
 * 0xad vfnmadd (-(y*x)+z), 0xaf vfnmsub (-(y*x)-z); d: the sd form */
static inline void jx_vfma213(struct jx *e, bool d, unsigned op, int x, int y, int z)
{
    jx_byte(e, 0xc4);
    jx_byte(e, (unsigned)(((~x >> 3) & 1) << 7 | 1 << 6 | ((~z >> 3) & 1) << 5 | 0x02));
    jx_byte(e, (unsigned)((d ? 0x80 : 0) | ((~y & 15) << 3) | 0x01));
    jx_byte(e, op);
    jx_byte(e, 0xc0 | (x & 7) << 3 | (z & 7));
}

/* Jumps with a rel32 to fill in later: they return the offset of the rel32. */
static inline uint32_t jx_jcc(struct jx *e, unsigned cc)
{
    jx_byte(e, 0x0f);
    jx_byte(e, 0x80 + cc);
    uint32_t at = jx_pos(e);
    jx_u32(e, 0);
    return at;
}
static inline uint32_t jx_jmp(struct jx *e)
{
    jx_byte(e, 0xe9);
    uint32_t at = jx_pos(e);
    jx_u32(e, 0);
    return at;
}
static inline void jx_patch(struct jx *e, uint32_t at, uint32_t target)
{
    if (at + 4 > (uint32_t)(e->end - e->buf))
        return;
    uint32_t rel = target - (at + 4);
    for (unsigned k = 0; k < 4; k++)
        e->buf[at + k] = (uint8_t)(rel >> (8 * k));
}
/* a jump straight to a known (earlier or later) position */
static inline void jx_jmp_to(struct jx *e, uint32_t target) { jx_patch(e, jx_jmp(e), target); }
static inline void jx_jcc_to(struct jx *e, unsigned cc, uint32_t target) { jx_patch(e, jx_jcc(e, cc), target); }

#endif

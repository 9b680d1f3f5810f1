/* emu/riscv: F and D arithmetic, IEEE 754 exact, on the host FPU.
 *
 * Rounding modes RNE/RTZ/RDN/RUP map onto the host's; RMM (nearest, ties
 * away from zero) has no host mode: the result is computed under RTZ and
 * "away", and a tie is detected by redoing the operation exactly in a wider
 * format (double for singles, x87 long double for doubles), whose precision
 * holds the midpoint of two adjacent results. Exception flags come from the
 * host (SSE and x87 both detect tininess after rounding, as RISC-V does).
 * NaN results are canonical; NaN-boxing is checked on every single input.
 *
 * Operands and results pass through volatile locals so the compiler keeps
 * every operation between the fesetround/feclearexcept calls around it. */
#include "emu/riscv/fpu.h"

#include <fenv.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FENV_ACCESS ON
#endif

enum { RNE, RTZ, RDN, RUP, RMM };
enum { FF_NX = 1, FF_UF = 2, FF_OF = 4, FF_DZ = 8, FF_NV = 16 };

#define CANON_S 0x7fc00000u
#define CANON_D 0x7ff8000000000000ull

static const int host_mode[5] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD, FE_TONEAREST };

static inline uint32_t unbox(uint64_t v) { return (v >> 32) == 0xffffffffu ? (uint32_t)v : CANON_S; }
static inline uint64_t box(uint32_t v) { return 0xffffffff00000000ull | v; }

static uint32_t host_flags(void)
{
    int e = fetestexcept(FE_ALL_EXCEPT);
    uint32_t f = 0;
    if (e & FE_INEXACT) f |= FF_NX;
    if (e & FE_UNDERFLOW) f |= FF_UF;
    if (e & FE_OVERFLOW) f |= FF_OF;
    if (e & FE_DIVBYZERO) f |= FF_DZ;
    if (e & FE_INVALID) f |= FF_NV;
    return f;
}

enum fop { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_SQRT, OP_FMA };
/* r = a OP b, sqrt_fn(a) or fma_fn(a, b, c) */
#define FOP_APPLY(op, r, a, b, c, sqrt_fn, fma_fn) do {                    \
        switch (op) {                                                      \
        case OP_ADD: r = a + b; break;                                     \
        case OP_SUB: r = a - b; break;                                     \
        case OP_MUL: r = a * b; break;                                     \
        case OP_DIV: r = a / b; break;                                     \
        case OP_SQRT: r = sqrt_fn(a); break;                               \
        default: r = fma_fn(a, b, c); break;                               \
        }                                                                  \
    } while (0)

/* One operation in a given host mode; flags accrued into *fl. Single and
 * double arithmetic runs on SSE, so the rounding mode and the exception
 * flags are set and read in MXCSR directly (a fraction of the cost of
 * fesetround/feclearexcept/fetestexcept, which also touch the x87 unit). */
static inline uint32_t mxcsr_get(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static inline void mxcsr_set(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}
static inline uint32_t mxcsr_rc(int mode)
{
    switch (mode) {
    case FE_DOWNWARD: return 1u << 13;
    case FE_UPWARD: return 2u << 13;
    case FE_TOWARDZERO: return 3u << 13;
    default: return 0;
    }
}
static inline uint32_t mxcsr_flags(uint32_t m)
{
    uint32_t f = 0;
    if (m & 0x01) f |= FF_NV;
    if (m & 0x04) f |= FF_DZ;
    if (m & 0x08) f |= FF_OF;
    if (m & 0x10) f |= FF_UF;
    if (m & 0x20) f |= FF_NX;
    return f;
}

/* Float -> integer with saturation (spec table 11.4). kind: 0 W, 1 WU, 2 L, 3 LU. */
static uint64_t to_int(long double v, bool is_nan, int kind, int rm, uint32_t *fl)
{
    static const long double lo[4] = { -2147483648.0L, 0.0L, -9223372036854775808.0L, 0.0L };
    static const long double hi[4] = { 2147483647.0L, 4294967295.0L, 9223372036854775807.0L, 18446744073709551615.0L };
    static const uint64_t max[4] = { 0x7fffffffull, 0xffffffffffffffffull, 0x7fffffffffffffffull, 0xffffffffffffffffull };
    static const uint64_t min[4] = { 0xffffffff80000000ull, 0, 0x8000000000000000ull, 0 };
    if (is_nan) {
        *fl |= FF_NV;
        return max[kind];
    }
    long double r;
    switch (rm) {
    case RNE: r = nearbyintl(v); break;   /* default mode is RNE */
    case RTZ: r = truncl(v); break;
    case RDN: r = floorl(v); break;
    case RUP: r = ceill(v); break;
    default: r = roundl(v); break;         /* ties away */
    }
    if (r < lo[kind] || r > hi[kind] || isinf(v)) {
        *fl |= FF_NV;
        return signbit(v) ? min[kind] : max[kind];
    }
    if (r != v)
        *fl |= FF_NX;
    switch (kind) {
    case 0: return (uint64_t)(int64_t)(int32_t)(int64_t)r;
    case 1: return (uint64_t)(int64_t)(int32_t)(uint32_t)(uint64_t)r;   /* sign-extended */
    case 2: return (uint64_t)(int64_t)r;
    default: return (uint64_t)r;
    }
}

static unsigned classify(bool neg, bool inf, bool nan, bool snan, bool zero, bool sub)
{
    if (nan) return snan ? 1u << 8 : 1u << 9;
    if (inf) return neg ? 1u << 0 : 1u << 7;
    if (zero) return neg ? 1u << 3 : 1u << 4;
    if (sub) return neg ? 1u << 2 : 1u << 5;
    return neg ? 1u << 1 : 1u << 6;
}

/* feq/flt/fle: rm 2 = eq (quiet), 1 = lt, 0 = le (signaling). */
static int compare(long double a, long double b, bool anan, bool bnan, bool asnan, bool bsnan,
                   unsigned kind, uint32_t *fl)
{
    if (anan || bnan) {
        if (kind != 2 || asnan || bsnan)
            *fl |= FF_NV;
        return 0;
    }
    return kind == 2 ? a == b : kind == 1 ? a < b : a <= b;
}

static inline void setx(uint64_t *x, unsigned rd, uint64_t v) { if (rd) x[rd] = v; }

/* An integer source of fcvt.{s,d}.{w,wu,l,lu} (rs2 0..3), exact in a long double */
static long double int_source(uint64_t v, unsigned kind)
{
    switch (kind) {
    case 0: return (int32_t)v;
    case 1: return (uint32_t)v;
    case 2: return (int64_t)v;
    default: return v;
    }
}

/* An instruction's fields, decoded once */
struct fpu_args {
    unsigned opc, fmt, f5, rd, rs1, rs2, rs3, rm;
    int erm;            /* the effective rounding mode (frm for rm 7) */
    bool rm_ok;         /* erm is a valid mode */
};

/* Each width from one template: op_s, arith_d, exec_s, ... */
#define F_BITS 32
#include "emu/riscv/fpu_template.h"
#define F_BITS 64
#include "emu/riscv/fpu_template.h"

/* fcvt.s.d, fcvt.d.s */
static int exec_cvt_fmt(struct rv_fpstate *fs, const struct fpu_args *a, uint32_t *fl)
{
    uint64_t *f = fs->f;
    if (!a->rm_ok)
        return -1;
    if (a->fmt == 0 && a->rs2 == 1) {
        uint64_t v = f[a->rs1];
        if (nan_d(v)) {
            if (snan_d(v)) *fl |= FF_NV;
            f[a->rd] = box(CANON_S);
        } else {
            f[a->rd] = box(f2u_s(round_to_s(u2f_d(v), a->erm, fl)));
        }
    } else if (a->fmt == 1 && a->rs2 == 0) {
        uint32_t v = unbox(f[a->rs1]);
        if (nan_s(v)) {
            if (snan_s(v)) *fl |= FF_NV;
            f[a->rd] = CANON_D;
        } else {
            f[a->rd] = f2u_d((double)u2f_s(v));
        }
    } else {
        return -1;
    }
    return 0;
}

int rv_fpu_exec(struct rv_fpstate *fs, uint64_t *x, uint32_t insn)
{
    struct fpu_args a = {
        .opc = insn & 0x7f, .fmt = (insn >> 25) & 3, .f5 = insn >> 27, .rd = (insn >> 7) & 31,
        .rs1 = (insn >> 15) & 31, .rs2 = (insn >> 20) & 31, .rs3 = insn >> 27, .rm = (insn >> 12) & 7,
    };
    uint32_t fl = 0;
    if (a.fmt > 1)
        return -1;                          /* H and Q are not implemented */
    a.erm = a.rm == 7 ? (int)fs->frm : (int)a.rm;
    a.rm_ok = a.erm <= 4;
    int r;
    if (a.opc == 0x53 && a.f5 == 0x08)
        r = exec_cvt_fmt(fs, &a, &fl);
    else
        r = a.fmt == 0 ? exec_s(fs, x, &a, &fl) : exec_d(fs, x, &a, &fl);
    if (r == 0)
        fs->fflags |= fl;
    return r;
}

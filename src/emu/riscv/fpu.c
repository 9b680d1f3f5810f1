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

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

static inline uint32_t unbox(uint64_t v) { return (v >> 32) == 0xffffffffu ? (uint32_t)v : CANON_S; }
static inline uint64_t box(uint32_t v) { return 0xffffffff00000000ull | v; }

static inline bool snan_s(uint32_t u) { return (u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) && !(u & 0x00400000u); }
static inline bool snan_d(uint64_t u) { return (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (u & 0x000fffffffffffffull) && !(u & 0x0008000000000000ull); }
static inline bool nan_s(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }
static inline bool nan_d(uint64_t u) { return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull; }

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

static float op_s(enum fop op, float a, float b, float c, int mode, uint32_t *fl)
{
    volatile float va = a, vb = b, vc = c, r;
    uint32_t saved = mxcsr_get();
    mxcsr_set((saved & ~0x603fu) | mxcsr_rc(mode));
    switch (op) {
    case OP_ADD: r = va + vb; break;
    case OP_SUB: r = va - vb; break;
    case OP_MUL: r = va * vb; break;
    case OP_DIV: r = va / vb; break;
    case OP_SQRT: r = sqrtf(va); break;
    default: r = fmaf(va, vb, vc); break;
    }
    uint32_t after = mxcsr_get();
    mxcsr_set(saved & ~0x3fu);
    if (fl) *fl |= mxcsr_flags(after);
    return r;
}

static double op_d(enum fop op, double a, double b, double c, int mode, uint32_t *fl)
{
    volatile double va = a, vb = b, vc = c, r;
    uint32_t saved = mxcsr_get();
    mxcsr_set((saved & ~0x603fu) | mxcsr_rc(mode));
    switch (op) {
    case OP_ADD: r = va + vb; break;
    case OP_SUB: r = va - vb; break;
    case OP_MUL: r = va * vb; break;
    case OP_DIV: r = va / vb; break;
    case OP_SQRT: r = sqrt(va); break;
    default: r = fma(va, vb, vc); break;
    }
    uint32_t after = mxcsr_get();
    mxcsr_set(saved & ~0x3fu);
    if (fl) *fl |= mxcsr_flags(after);
    return r;
}

/* The same operation, exactly if possible, in the wider format under RTZ.
 * Returns true when the wide result is exact. */
static bool wide_exact_s(enum fop op, float a, float b, float c, double *out)
{
    volatile double va = a, vb = b, vc = c, r;
    fesetround(FE_TOWARDZERO);
    feclearexcept(FE_ALL_EXCEPT);
    switch (op) {
    case OP_ADD: r = va + vb; break;
    case OP_SUB: r = va - vb; break;
    case OP_MUL: r = va * vb; break;
    case OP_DIV: r = va / vb; break;
    case OP_SQRT: r = sqrt(va); break;
    default: r = fma(va, vb, vc); break;
    }
    bool exact = !fetestexcept(FE_INEXACT);
    fesetround(FE_TONEAREST);
    *out = r;
    return exact;
}

static bool wide_exact_d(enum fop op, double a, double b, double c, long double *out)
{
    volatile long double va = a, vb = b, vc = c, r;
    fesetround(FE_TOWARDZERO);
    feclearexcept(FE_ALL_EXCEPT);
    switch (op) {
    case OP_ADD: r = va + vb; break;
    case OP_SUB: r = va - vb; break;
    case OP_MUL: r = va * vb; break;
    case OP_DIV: r = va / vb; break;
    case OP_SQRT: r = sqrtl(va); break;
    default: r = fmal(va, vb, vc); break;
    }
    bool exact = !fetestexcept(FE_INEXACT);
    fesetround(FE_TONEAREST);
    *out = r;
    return exact;
}

static float arith_s(enum fop op, float a, float b, float c, int rm, uint32_t *fl)
{
    float r = op_s(op, a, b, c, host_mode[rm], fl);
    if (rm != RMM || isnan(r) || isinf(r))
        return r;
    float tz = op_s(op, a, b, c, FE_TOWARDZERO, NULL);
    if (tz == r && f2u(tz) == f2u(r))
        { /* RNE went toward zero: a tie would have to go away */ }
    else
        return r;                       /* RNE already rounded away (or exact) */
    float away = op_s(op, a, b, c, signbit(r) ? FE_DOWNWARD : FE_UPWARD, NULL);
    if (away == tz)
        return r;                       /* exact */
    double w;
    if (wide_exact_s(op, a, b, c, &w) && w == ((double)tz + (double)away) / 2)
        return away;
    return r;
}

static double arith_d(enum fop op, double a, double b, double c, int rm, uint32_t *fl)
{
    double r = op_d(op, a, b, c, host_mode[rm], fl);
    if (rm != RMM || isnan(r) || isinf(r))
        return r;
    double tz = op_d(op, a, b, c, FE_TOWARDZERO, NULL);
    if (d2u(tz) != d2u(r))
        return r;
    double away = op_d(op, a, b, c, signbit(r) ? FE_DOWNWARD : FE_UPWARD, NULL);
    if (away == tz)
        return r;
    long double w;
    if (wide_exact_d(op, a, b, c, &w) && w == ((long double)tz + (long double)away) / 2)
        return away;
    return r;
}

/* Round an exact long double value (an integer source or a double being
 * narrowed) to the target format with rm. */
static double round_to_d(long double v, int rm, uint32_t *fl)
{
    /* exactly representable (most integers converted): no rounding, no
     * flag, in every mode */
    double q = (double)v;
    if ((long double)q == v)
        return q;
    volatile long double vv = v;
    volatile double r;
    fesetround(host_mode[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    r = (double)vv;
    *fl |= host_flags();
    if (rm == RMM && (*fl & FF_NX)) {
        fesetround(FE_TOWARDZERO);
        volatile double tz = (double)vv;
        fesetround(vv < 0 ? FE_DOWNWARD : FE_UPWARD);
        volatile double away = (double)vv;
        if (tz != away && vv == ((long double)tz + (long double)away) / 2)
            r = away;
    }
    fesetround(FE_TONEAREST);
    return r;
}

static float round_to_s(long double v, int rm, uint32_t *fl)
{
    float q = (float)v;
    if ((long double)q == v)
        return q;
    volatile long double vv = v;
    volatile float r;
    fesetround(host_mode[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    r = (float)vv;
    *fl |= host_flags();
    if (rm == RMM && (*fl & FF_NX)) {
        fesetround(FE_TOWARDZERO);
        volatile float tz = (float)vv;
        fesetround(vv < 0 ? FE_DOWNWARD : FE_UPWARD);
        volatile float away = (float)vv;
        if (tz != away && vv == ((long double)tz + (long double)away) / 2)
            r = away;
    }
    fesetround(FE_TONEAREST);
    return r;
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

static uint64_t minmax_s(uint32_t a, uint32_t b, bool is_max, uint32_t *fl)
{
    if (snan_s(a) || snan_s(b)) *fl |= FF_NV;
    if (nan_s(a) && nan_s(b)) return CANON_S;
    if (nan_s(a)) return b;
    if (nan_s(b)) return a;
    float fa = u2f(a), fb = u2f(b);
    if (fa == fb)      /* equal incl. -0 == +0: min prefers -0, max +0 */
        return is_max ? (a & b) : (a | b);
    return (fa < fb) != is_max ? a : b;
}

static uint64_t minmax_d(uint64_t a, uint64_t b, bool is_max, uint32_t *fl)
{
    if (snan_d(a) || snan_d(b)) *fl |= FF_NV;
    if (nan_d(a) && nan_d(b)) return CANON_D;
    if (nan_d(a)) return b;
    if (nan_d(b)) return a;
    double fa = u2d(a), fb = u2d(b);
    if (fa == fb)
        return is_max ? (a & b) : (a | b);
    return (fa < fb) != is_max ? a : b;
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

/* The common case taken natively, as QEMU's hardfloat does: round to
 * nearest (the host's standing mode), NX already accrued, operands normal
 * or zero, a result that is normal or an exact zero. Then no flag but NX
 * can arise, and NX is already set. Anything else takes the exact path. */
static inline bool normal_or_zero_d(uint64_t u)
{
    uint64_t e = (u >> 52) & 0x7ff;
    return e != 0x7ff && (e != 0 || !(u & 0x000fffffffffffffull));
}
static inline bool normal_or_zero_s(uint32_t u)
{
    uint32_t e = (u >> 23) & 0xff;
    return e != 0xff && (e != 0 || !(u & 0x007fffffu));
}
/* The smallest normal magnitude: with tininess detected after rounding, a
 * result that rounded up to it may still have underflowed (UF), so the
 * fast paths leave it to the exact path, as they do subnormals. */
static inline bool tiny_d(uint64_t u) { return (u & ~(1ull << 63)) == 0x0010000000000000ull; }
static inline bool tiny_s(uint32_t u) { return (u & 0x7fffffffu) == 0x00800000u; }

static bool fast_arith(unsigned fmt, enum fop op, uint64_t *f, unsigned rd, unsigned rs1, unsigned rs2)
{
    if (fmt == 1) {
        uint64_t ua = f[rs1], ub = f[rs2];
        if (!normal_or_zero_d(ua) || !normal_or_zero_d(ub))
            return false;
        double a = u2d(ua), b = u2d(ub), r;
        switch (op) {
        case OP_ADD: r = a + b; break;
        case OP_SUB: r = a - b; break;
        case OP_MUL: r = a * b; if (r == 0 && a != 0 && b != 0) return false; break;
        case OP_DIV: if (b == 0) return false; r = a / b; if (r == 0 && a != 0) return false; break;
        default: return false;
        }
        uint64_t ur = d2u(r);
        if (!normal_or_zero_d(ur) || tiny_d(ur))
            return false;
        f[rd] = ur;
        return true;
    }
    uint64_t ba = f[rs1], bb = f[rs2];
    if ((ba >> 32) != 0xffffffffu || (bb >> 32) != 0xffffffffu)
        return false;
    uint32_t ua = (uint32_t)ba, ub = (uint32_t)bb;
    if (!normal_or_zero_s(ua) || !normal_or_zero_s(ub))
        return false;
    float a = u2f(ua), b = u2f(ub), r;
    switch (op) {
    case OP_ADD: r = a + b; break;
    case OP_SUB: r = a - b; break;
    case OP_MUL: r = a * b; if (r == 0 && a != 0 && b != 0) return false; break;
    case OP_DIV: if (b == 0) return false; r = a / b; if (r == 0 && a != 0) return false; break;
    default: return false;
    }
    uint32_t ur = f2u(r);
    if (!normal_or_zero_s(ur) || tiny_s(ur))
        return false;
    f[rd] = box(ur);
    return true;
}

/* fmadd & co. (signs already applied) under the same conditions: the host
 * fma is correctly rounded; a zero is taken only when both the product and
 * the addend are zero (else it may be an underflow). */
static bool fast_fma_d(double a, double b, double c, double *r)
{
    if (!normal_or_zero_d(d2u(a)) || !normal_or_zero_d(d2u(b)) || !normal_or_zero_d(d2u(c)))
        return false;
    double v = fma(a, b, c);
    uint64_t u = d2u(v);
    if (!normal_or_zero_d(u) || tiny_d(u) || (v == 0 && !((a == 0 || b == 0) && c == 0)))
        return false;
    *r = v;
    return true;
}
static bool fast_fma_s(float a, float b, float c, float *r)
{
    if (!normal_or_zero_s(f2u(a)) || !normal_or_zero_s(f2u(b)) || !normal_or_zero_s(f2u(c)))
        return false;
    float v = fmaf(a, b, c);
    uint32_t u = f2u(v);
    if (!normal_or_zero_s(u) || tiny_s(u) || (v == 0 && !((a == 0 || b == 0) && c == 0)))
        return false;
    *r = v;
    return true;
}

int rv_fpu_exec(struct rv_fpstate *fs, uint64_t *x, uint32_t insn)
{
    unsigned opc = insn & 0x7f, rd = (insn >> 7) & 31, rm = (insn >> 12) & 7;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31, rs3 = insn >> 27;
    unsigned fmt = (insn >> 25) & 3, f5 = insn >> 27;
    uint32_t fl = 0;
    uint64_t *f = fs->f;

    if (fmt > 1)
        return -1;                          /* H and Q are not implemented */
    int erm = rm == 7 ? (int)fs->frm : (int)rm;
    bool rm_ok = erm <= 4;

    if (opc != 0x53) {                      /* fused multiply-add family */
        if (!rm_ok) return -1;
        bool neg_prod = opc == 0x4b || opc == 0x4f;   /* fnmsub, fnmadd */
        bool neg_add = opc == 0x47 || opc == 0x4f;    /* fmsub, fnmadd */
        if (fmt == 0) {
            uint32_t a = unbox(f[rs1]), b = unbox(f[rs2]), c = unbox(f[rs3]);
            float fa = u2f(a), fb = u2f(b), fc = u2f(c), r;
            if ((isinf(fa) && fb == 0) || (fa == 0 && isinf(fb))) {
                fl |= FF_NV; r = u2f(CANON_S);
            } else {
                if (neg_prod) fa = -fa;
                if (neg_add) fc = -fc;
                if (!(erm == RNE && (fs->fflags & FF_NX) && fast_fma_s(fa, fb, fc, &r)))
                    r = arith_s(OP_FMA, fa, fb, fc, erm, &fl);
            }
            f[rd] = box(isnan(r) ? CANON_S : f2u(r));
        } else {
            uint64_t a = f[rs1], b = f[rs2], c = f[rs3];
            double fa = u2d(a), fb = u2d(b), fc = u2d(c), r;
            if ((isinf(fa) && fb == 0) || (fa == 0 && isinf(fb))) {
                fl |= FF_NV; r = u2d(CANON_D);
            } else {
                if (neg_prod) fa = -fa;
                if (neg_add) fc = -fc;
                if (!(erm == RNE && (fs->fflags & FF_NX) && fast_fma_d(fa, fb, fc, &r)))
                    r = arith_d(OP_FMA, fa, fb, fc, erm, &fl);
            }
            f[rd] = isnan(r) ? CANON_D : d2u(r);
        }
        fs->fflags |= fl;
        return 0;
    }

    switch (f5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x0b: {
        static const enum fop ops[] = { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
        enum fop op = f5 == 0x0b ? OP_SQRT : ops[f5];
        if (!rm_ok || (op == OP_SQRT && rs2))
            return -1;
        if (erm == RNE && (fs->fflags & FF_NX) && op != OP_SQRT && fast_arith(fmt, op, f, rd, rs1, rs2))
            return 0;
        if (fmt == 0) {
            float r = arith_s(op, u2f(unbox(f[rs1])), u2f(unbox(f[rs2])), 0, erm, &fl);
            f[rd] = box(isnan(r) ? CANON_S : f2u(r));
        } else {
            double r = arith_d(op, u2d(f[rs1]), u2d(f[rs2]), 0, erm, &fl);
            f[rd] = isnan(r) ? CANON_D : d2u(r);
        }
        break;
    }
    case 0x04: {                            /* fsgnj, fsgnjn, fsgnjx */
        if (rm > 2) return -1;
        if (fmt == 0) {
            uint32_t a = unbox(f[rs1]), b = unbox(f[rs2]), s = b & 0x80000000u;
            if (rm == 1) s ^= 0x80000000u;
            if (rm == 2) s = (a ^ b) & 0x80000000u;
            f[rd] = box((a & 0x7fffffffu) | s);
        } else {
            uint64_t a = f[rs1], b = f[rs2], s = b & (1ull << 63);
            if (rm == 1) s ^= 1ull << 63;
            if (rm == 2) s = (a ^ b) & (1ull << 63);
            f[rd] = (a & ~(1ull << 63)) | s;
        }
        break;
    }
    case 0x05:                              /* fmin, fmax */
        if (rm > 1) return -1;
        if (fmt == 0)
            f[rd] = box((uint32_t)minmax_s(unbox(f[rs1]), unbox(f[rs2]), rm, &fl));
        else
            f[rd] = minmax_d(f[rs1], f[rs2], rm, &fl);
        break;
    case 0x08:                              /* fcvt.s.d, fcvt.d.s */
        if (!rm_ok) return -1;
        if (fmt == 0 && rs2 == 1) {
            uint64_t a = f[rs1];
            if (nan_d(a)) {
                if (snan_d(a)) fl |= FF_NV;
                f[rd] = box(CANON_S);
            } else {
                f[rd] = box(f2u(round_to_s(u2d(a), erm, &fl)));
            }
        } else if (fmt == 1 && rs2 == 0) {
            uint32_t a = unbox(f[rs1]);
            if (nan_s(a)) {
                if (snan_s(a)) fl |= FF_NV;
                f[rd] = CANON_D;
            } else {
                f[rd] = d2u((double)u2f(a));
            }
        } else {
            return -1;
        }
        break;
    case 0x14:                              /* fle, flt, feq */
        if (rm > 2) return -1;
        if (fmt == 0) {
            uint32_t a = unbox(f[rs1]), b = unbox(f[rs2]);
            setx(x, rd, compare(u2f(a), u2f(b), nan_s(a), nan_s(b), snan_s(a), snan_s(b), rm, &fl));
        } else {
            uint64_t a = f[rs1], b = f[rs2];
            setx(x, rd, compare(u2d(a), u2d(b), nan_d(a), nan_d(b), snan_d(a), snan_d(b), rm, &fl));
        }
        break;
    case 0x18:                              /* fcvt.{w,wu,l,lu}.{s,d} */
        if (!rm_ok || rs2 > 3) return -1;
        if (fmt == 0) {
            uint32_t a = unbox(f[rs1]);
            setx(x, rd, to_int(u2f(a), nan_s(a), rs2, erm, &fl));
        } else {
            uint64_t a = f[rs1];
            setx(x, rd, to_int(u2d(a), nan_d(a), rs2, erm, &fl));
        }
        break;
    case 0x1a: {                            /* fcvt.{s,d}.{w,wu,l,lu} */
        if (!rm_ok || rs2 > 3) return -1;
        uint64_t v = x[rs1];
        long double src;
        switch (rs2) {
        case 0: src = (int32_t)v; break;
        case 1: src = (uint32_t)v; break;
        case 2: src = (int64_t)v; break;
        default: src = v; break;
        }
        if (fmt == 0)
            f[rd] = box(f2u(round_to_s(src, erm, &fl)));
        else
            f[rd] = d2u(round_to_d(src, erm, &fl));
        break;
    }
    case 0x1c:                              /* fmv.x.w / fmv.x.d, fclass */
        if (rs2 || rm > 1) return -1;
        if (rm == 0) {
            setx(x, rd, fmt == 0 ? (uint64_t)(int64_t)(int32_t)(uint32_t)f[rs1] : f[rs1]);
        } else if (fmt == 0) {
            uint32_t a = unbox(f[rs1]);
            unsigned e = (a >> 23) & 0xff;
            uint32_t m = a & 0x7fffff;
            setx(x, rd, classify(a >> 31, e == 0xff && !m, nan_s(a), snan_s(a), !e && !m, !e && m));
        } else {
            uint64_t a = f[rs1];
            unsigned e = (a >> 52) & 0x7ff;
            uint64_t m = a & 0xfffffffffffffull;
            setx(x, rd, classify(a >> 63, e == 0x7ff && !m, nan_d(a), snan_d(a), !e && !m, !e && m));
        }
        break;
    case 0x1e:                              /* fmv.w.x / fmv.d.x */
        if (rs2 || rm) return -1;
        f[rd] = fmt == 0 ? box((uint32_t)x[rs1]) : x[rs1];
        break;
    default:
        return -1;
    }
    fs->fflags |= fl;
    return 0;
}

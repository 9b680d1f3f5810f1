/* emu/riscv internal: the F and D arithmetic of fpu.c, written once and
 * instantiated per width, as TinyEMU's riscv_cpu_template.h is per XLEN.
 * fpu.c defines F_BITS (32 or 64) and includes this file once for each;
 * every function gets the suffix _s or _d. Private to fpu.c. */

#if F_BITS == 32
#define F_SUFFIX s
#define FT float                        /* the format */
#define UT uint32_t                     /* its bits */
#define WT double                       /* a wider format, exact for a tie's midpoint */
#define F_EXP_SHIFT 23
#define F_SQRT sqrtf
#define F_FMA fmaf
#define W_SQRT sqrt
#define W_FMA fma
#define F_GET(v) unbox(v)               /* register -> bits (NaN-boxing checked) */
#define F_PUT(u) box(u)                 /* bits -> register */
#define F_RAW_X(v) ((uint64_t)(int64_t)(int32_t)(uint32_t)(v))   /* fmv.x.w */
#elif F_BITS == 64
#define F_SUFFIX d
#define FT double
#define UT uint64_t
#define WT long double                  /* x87 extended */
#define F_EXP_SHIFT 52
#define F_SQRT sqrt
#define F_FMA fma
#define W_SQRT sqrtl
#define W_FMA fmal
#define F_GET(v) (v)
#define F_PUT(u) (u)
#define F_RAW_X(v) (v)
#else
#error "F_BITS must be 32 or 64"
#endif

#define F_GLUE_(a, b) a##_##b
#define F_GLUE(a, b) F_GLUE_(a, b)
#define FN(name) F_GLUE(name, F_SUFFIX)

#define F_SIGN ((UT)1 << (F_BITS - 1))
#define F_EXP_MAX ((UT)((F_SIGN - 1) >> F_EXP_SHIFT))       /* 0xff, 0x7ff */
#define F_EXP_BITS (F_EXP_MAX << F_EXP_SHIFT)
#define F_FRAC (((UT)1 << F_EXP_SHIFT) - 1)
#define F_QUIET ((UT)1 << (F_EXP_SHIFT - 1))
#define F_CANON (F_EXP_BITS | F_QUIET)                       /* the canonical NaN */

static inline UT FN(f2u)(FT f) { UT u; memcpy(&u, &f, sizeof(u)); return u; }
static inline FT FN(u2f)(UT u) { FT f; memcpy(&f, &u, sizeof(f)); return f; }

static inline bool FN(snan)(UT u)
{
    return (u & F_EXP_BITS) == F_EXP_BITS && (u & F_FRAC) && !(u & F_QUIET);
}
static inline bool FN(nan)(UT u) { return (u & ~F_SIGN) > F_EXP_BITS; }

/* The fast paths take operands that are normal or zero and results that
 * are normal or an exact zero (see fast_arith). */
static inline bool FN(normal_or_zero)(UT u)
{
    UT e = (u >> F_EXP_SHIFT) & F_EXP_MAX;
    return e != F_EXP_MAX && (e != 0 || !(u & F_FRAC));
}
/* The smallest normal magnitude: with tininess detected after rounding, a
 * result that rounded up to it may still have underflowed (UF), so the
 * fast paths leave it to the exact path, as they do subnormals. */
static inline bool FN(tiny)(UT u) { return (u & ~F_SIGN) == (UT)1 << F_EXP_SHIFT; }

/* One operation in a given host mode (SSE: MXCSR set and read directly);
 * flags accrued into *fl. */
static FT FN(op)(enum fop op, FT a, FT b, FT c, int mode, uint32_t *fl)
{
    volatile FT va = a, vb = b, vc = c, r;
    uint32_t saved = mxcsr_get();
    mxcsr_set((saved & ~0x603fu) | mxcsr_rc(mode));
    FOP_APPLY(op, r, va, vb, vc, F_SQRT, F_FMA);
    uint32_t after = mxcsr_get();
    mxcsr_set(saved & ~0x3fu);
    if (fl) *fl |= mxcsr_flags(after);
    return r;
}

/* The same operation, exactly if possible, in the wider format under RTZ.
 * Returns true when the wide result is exact. */
static bool FN(wide_exact)(enum fop op, FT a, FT b, FT c, WT *out)
{
    volatile WT va = a, vb = b, vc = c, r;
    fesetround(FE_TOWARDZERO);
    feclearexcept(FE_ALL_EXCEPT);
    FOP_APPLY(op, r, va, vb, vc, W_SQRT, W_FMA);
    bool exact = !fetestexcept(FE_INEXACT);
    fesetround(FE_TONEAREST);
    *out = r;
    return exact;
}

/* An operation under RISC-V rounding mode rm; RMM from RTZ, "away" and the
 * wide result (see fpu.c). */
static FT FN(arith)(enum fop op, FT a, FT b, FT c, int rm, uint32_t *fl)
{
    FT r = FN(op)(op, a, b, c, host_mode[rm], fl);
    if (rm != RMM || isnan(r) || isinf(r))
        return r;
    FT tz = FN(op)(op, a, b, c, FE_TOWARDZERO, NULL);
    if (FN(f2u)(tz) != FN(f2u)(r))
        return r;                       /* RNE already rounded away (or exact) */
    FT away = FN(op)(op, a, b, c, signbit(r) ? FE_DOWNWARD : FE_UPWARD, NULL);
    if (away == tz)
        return r;                       /* exact */
    WT w;
    if (FN(wide_exact)(op, a, b, c, &w) && w == ((WT)tz + (WT)away) / 2)
        return away;
    return r;
}

/* Round an exact long double value (an integer source or a wider value
 * being narrowed) to the format with rm. */
static FT FN(round_to)(long double v, int rm, uint32_t *fl)
{
    /* exactly representable (most integers converted): no rounding, no
     * flag, in every mode */
    FT q = (FT)v;
    if ((long double)q == v)
        return q;
    volatile long double vv = v;
    volatile FT r;
    fesetround(host_mode[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    r = (FT)vv;
    *fl |= host_flags();
    if (rm == RMM && (*fl & FF_NX)) {
        fesetround(FE_TOWARDZERO);
        volatile FT tz = (FT)vv;
        fesetround(vv < 0 ? FE_DOWNWARD : FE_UPWARD);
        volatile FT away = (FT)vv;
        if (tz != away && vv == ((long double)tz + (long double)away) / 2)
            r = away;
    }
    fesetround(FE_TONEAREST);
    return r;
}

static UT FN(minmax)(UT a, UT b, bool is_max, uint32_t *fl)
{
    if (FN(snan)(a) || FN(snan)(b)) *fl |= FF_NV;
    if (FN(nan)(a) && FN(nan)(b)) return F_CANON;
    if (FN(nan)(a)) return b;
    if (FN(nan)(b)) return a;
    FT fa = FN(u2f)(a), fb = FN(u2f)(b);
    if (fa == fb)      /* equal incl. -0 == +0: min prefers -0, max +0 */
        return is_max ? (a & b) : (a | b);
    return (fa < fb) != is_max ? a : b;
}

/* The common case taken natively, as QEMU's hardfloat does: round to
 * nearest (the host's standing mode), NX already accrued, operands normal
 * or zero, a result that is normal or an exact zero. Then no flag but NX
 * can arise, and NX is already set. Anything else takes the exact path. */
static bool FN(fast_arith)(enum fop op, uint64_t *f, unsigned rd, unsigned rs1, unsigned rs2)
{
    UT ua = F_GET(f[rs1]), ub = F_GET(f[rs2]);
    if (!FN(normal_or_zero)(ua) || !FN(normal_or_zero)(ub))
        return false;
    FT a = FN(u2f)(ua), b = FN(u2f)(ub), r;
    switch (op) {
    case OP_ADD: r = a + b; break;
    case OP_SUB: r = a - b; break;
    case OP_MUL: r = a * b; if (r == 0 && a != 0 && b != 0) return false; break;
    case OP_DIV: if (b == 0) return false; r = a / b; if (r == 0 && a != 0) return false; break;
    default: return false;
    }
    UT ur = FN(f2u)(r);
    if (!FN(normal_or_zero)(ur) || FN(tiny)(ur))
        return false;
    f[rd] = F_PUT(ur);
    return true;
}

/* fmadd & co. (signs already applied) under the same conditions: the host
 * fma is correctly rounded; a zero is taken only when both the product and
 * the addend are zero (else it may be an underflow). */
static bool FN(fast_fma)(FT a, FT b, FT c, FT *r)
{
    if (!FN(normal_or_zero)(FN(f2u)(a)) || !FN(normal_or_zero)(FN(f2u)(b)) ||
        !FN(normal_or_zero)(FN(f2u)(c)))
        return false;
    FT v = F_FMA(a, b, c);
    UT u = FN(f2u)(v);
    if (!FN(normal_or_zero)(u) || FN(tiny)(u) || (v == 0 && !((a == 0 || b == 0) && c == 0)))
        return false;
    *r = v;
    return true;
}

/* ---- the instructions of this width (fpu.c decodes them into a) ---- */

/* fmadd, fmsub, fnmsub, fnmadd */
static int FN(exec_fma)(struct rv_fpstate *fs, const struct fpu_args *a, uint32_t *fl)
{
    uint64_t *f = fs->f;
    if (!a->rm_ok)
        return -1;
    bool neg_prod = a->opc == 0x4b || a->opc == 0x4f;   /* fnmsub, fnmadd */
    bool neg_add = a->opc == 0x47 || a->opc == 0x4f;    /* fmsub, fnmadd */
    FT fa = FN(u2f)(F_GET(f[a->rs1])), fb = FN(u2f)(F_GET(f[a->rs2])), fc = FN(u2f)(F_GET(f[a->rs3])), r;
    if ((isinf(fa) && fb == 0) || (fa == 0 && isinf(fb))) {
        *fl |= FF_NV;
        r = FN(u2f)(F_CANON);
    } else {
        if (neg_prod) fa = -fa;
        if (neg_add) fc = -fc;
        if (!(a->erm == RNE && (fs->fflags & FF_NX) && FN(fast_fma)(fa, fb, fc, &r)))
            r = FN(arith)(OP_FMA, fa, fb, fc, a->erm, fl);
    }
    f[a->rd] = F_PUT(isnan(r) ? F_CANON : FN(f2u)(r));
    return 0;
}

/* fadd, fsub, fmul, fdiv, fsqrt */
static int FN(exec_arith)(struct rv_fpstate *fs, const struct fpu_args *a, uint32_t *fl)
{
    static const enum fop ops[] = { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
    uint64_t *f = fs->f;
    enum fop op = a->f5 == 0x0b ? OP_SQRT : ops[a->f5];
    if (!a->rm_ok || (op == OP_SQRT && a->rs2))
        return -1;
    if (a->erm == RNE && (fs->fflags & FF_NX) && op != OP_SQRT &&
        FN(fast_arith)(op, f, a->rd, a->rs1, a->rs2))
        return 0;
    FT r = FN(arith)(op, FN(u2f)(F_GET(f[a->rs1])), FN(u2f)(F_GET(f[a->rs2])), 0, a->erm, fl);
    f[a->rd] = F_PUT(isnan(r) ? F_CANON : FN(f2u)(r));
    return 0;
}

/* fmv.x, fclass */
static int FN(exec_to_x)(struct rv_fpstate *fs, uint64_t *x, const struct fpu_args *a)
{
    uint64_t *f = fs->f;
    if (a->rs2 || a->rm > 1)
        return -1;
    if (a->rm == 0) {
        setx(x, a->rd, F_RAW_X(f[a->rs1]));
        return 0;
    }
    UT u = F_GET(f[a->rs1]);
    UT e = (u >> F_EXP_SHIFT) & F_EXP_MAX, m = u & F_FRAC;
    setx(x, a->rd, classify(u >> (F_BITS - 1), e == F_EXP_MAX && !m, FN(nan)(u), FN(snan)(u),
                            !e && !m, !e && m));
    return 0;
}

/* Every instruction of this width but fcvt between the widths. */
static int FN(exec)(struct rv_fpstate *fs, uint64_t *x, const struct fpu_args *a, uint32_t *fl)
{
    uint64_t *f = fs->f;
    if (a->opc != 0x53)
        return FN(exec_fma)(fs, a, fl);
    UT u = F_GET(f[a->rs1]), v = F_GET(f[a->rs2]);
    switch (a->f5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x0b:
        return FN(exec_arith)(fs, a, fl);
    case 0x04:                              /* fsgnj, fsgnjn, fsgnjx */
        if (a->rm > 2) return -1;
        UT s = v & F_SIGN;
        if (a->rm == 1) s ^= F_SIGN;
        if (a->rm == 2) s = (u ^ v) & F_SIGN;
        f[a->rd] = F_PUT((u & ~F_SIGN) | s);
        return 0;
    case 0x05:                              /* fmin, fmax */
        if (a->rm > 1) return -1;
        f[a->rd] = F_PUT(FN(minmax)(u, v, a->rm, fl));
        return 0;
    case 0x14:                              /* fle, flt, feq */
        if (a->rm > 2) return -1;
        setx(x, a->rd, compare(FN(u2f)(u), FN(u2f)(v), FN(nan)(u), FN(nan)(v), FN(snan)(u),
                               FN(snan)(v), a->rm, fl));
        return 0;
    case 0x18:                              /* fcvt.{w,wu,l,lu} */
        if (!a->rm_ok || a->rs2 > 3) return -1;
        setx(x, a->rd, to_int(FN(u2f)(u), FN(nan)(u), a->rs2, a->erm, fl));
        return 0;
    case 0x1a:                              /* fcvt from {w,wu,l,lu} */
        if (!a->rm_ok || a->rs2 > 3) return -1;
        f[a->rd] = F_PUT(FN(f2u)(FN(round_to)(int_source(x[a->rs1], a->rs2), a->erm, fl)));
        return 0;
    case 0x1c:                              /* fmv.x.w / fmv.x.d, fclass */
        return FN(exec_to_x)(fs, x, a);
    case 0x1e:                              /* fmv.w.x / fmv.d.x */
        if (a->rs2 || a->rm) return -1;
        f[a->rd] = F_PUT((UT)x[a->rs1]);
        return 0;
    default:
        return -1;
    }
}

#undef F_BITS
#undef F_SUFFIX
#undef FT
#undef UT
#undef WT
#undef F_EXP_SHIFT
#undef F_SQRT
#undef F_FMA
#undef W_SQRT
#undef W_FMA
#undef F_GET
#undef F_PUT
#undef F_RAW_X
#undef F_GLUE_
#undef F_GLUE
#undef FN
#undef F_SIGN
#undef F_EXP_MAX
#undef F_EXP_BITS
#undef F_FRAC
#undef F_QUIET
#undef F_CANON

/* F/D unit: results and fflags against the RISC-V spec (values checked
 * against qemu-riscv64 where the spec leaves room for doubt). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "emu/riscv/fpu.h"

enum { NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16 };
enum { RNE, RTZ, RDN, RUP, RMM, DYN = 7 };
#define BOXED(u) (0xffffffff00000000ull | (uint32_t)(u))

static uint32_t r_type(unsigned f7, unsigned rs2, unsigned rs1, unsigned rm, unsigned rd)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | 0x53;
}
static uint32_t r4(unsigned opc, unsigned fmt, unsigned rs3, unsigned rs2, unsigned rs1, unsigned rm, unsigned rd)
{
    return rs3 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | opc;
}
static uint64_t d(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }
static uint64_t s(float v) { uint32_t u; memcpy(&u, &v, 4); return BOXED(u); }

static struct rv_fpstate fs;
static uint64_t x[32];

static int run(uint32_t insn) { return rv_fpu_exec(&fs, x, insn); }
static void reset(void) { memset(&fs, 0, sizeof(fs)); memset(x, 0, sizeof(x)); }

/* fadd.d f3, f1, f2 with rm; returns result bits */
static uint64_t faddd(double a, double b, unsigned rm)
{
    fs.f[1] = d(a); fs.f[2] = d(b);
    assert_int_equal(run(r_type(0x01, 2, 1, rm, 3)), 0);
    return fs.f[3];
}

static void test_rounding_modes(void **st)
{
    reset();
    /* 1 + 2^-53 is a tie between 1 and 1+2^-52: RNE->1 (even), RMM->away */
    double tie = 0x1p-53;
    assert_int_equal(faddd(1.0, tie, RNE), d(1.0));
    assert_int_equal(faddd(1.0, tie, RMM), d(1.0 + 0x1p-52));
    assert_int_equal(faddd(1.0, tie, RTZ), d(1.0));
    assert_int_equal(faddd(1.0, tie, RUP), d(1.0 + 0x1p-52));
    assert_int_equal(faddd(1.0, tie, RDN), d(1.0));
    assert_int_equal(faddd(-1.0, -tie, RDN), d(-1.0 - 0x1p-52));
    assert_int_equal(faddd(-1.0, -tie, RMM), d(-1.0 - 0x1p-52));
    /* not a tie: 1 + 0.75 ulp -> nearest is up in RNE and RMM, RTZ down */
    assert_int_equal(faddd(1.0, 0x1.8p-53, RMM), d(1.0 + 0x1p-52));
    assert_int_equal(faddd(1.0, 0x1.0p-54, RMM), d(1.0));
    assert_int_equal(fs.fflags, NX);
    /* RMM tie on singles: 1 + 2^-24 */
    fs.f[1] = s(1.0f); fs.f[2] = s(0x1p-24f);
    assert_int_equal(run(r_type(0x00, 2, 1, RMM, 3)), 0);
    assert_int_equal(fs.f[3], s(1.0f + 0x1p-23f));
    assert_int_equal(run(r_type(0x00, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], s(1.0f));
    /* dynamic rm from frm; invalid frm or rm 5/6 is illegal */
    fs.frm = RUP;
    assert_int_equal(faddd(1.0, tie, DYN), d(1.0 + 0x1p-52));
    fs.frm = 5;
    assert_int_equal(run(r_type(0x01, 2, 1, DYN, 3)), -1);
    assert_int_equal(run(r_type(0x01, 2, 1, 5, 3)), -1);
    assert_int_equal(run(r_type(0x01, 2, 1, 6, 3)), -1);
}

static void test_flags_and_nan(void **st)
{
    reset();
    faddd(1.0, 1.0, RNE);
    assert_int_equal(fs.fflags, 0);
    /* 0/0: canonical NaN, NV */
    fs.f[1] = d(0.0); fs.f[2] = d(0.0);
    assert_int_equal(run(r_type(0x0d, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    assert_int_equal(fs.fflags, NV);
    /* 1/0: inf, DZ */
    fs.fflags = 0; fs.f[1] = d(1.0);
    assert_int_equal(run(r_type(0x0d, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], d(__builtin_inf()));
    assert_int_equal(fs.fflags, DZ);
    /* overflow */
    fs.fflags = 0;
    assert_int_equal(faddd(0x1.fffffffffffffp1023, 0x1.fffffffffffffp1023, RNE), d(__builtin_inf()));
    assert_int_equal(fs.fflags, OF | NX);
    fs.fflags = 0;
    assert_int_equal(faddd(0x1.fffffffffffffp1023, 0x1.fffffffffffffp1023, RTZ), d(0x1.fffffffffffffp1023));
    /* underflow: tiny and inexact */
    fs.fflags = 0; fs.f[1] = d(0x1.0000000000001p-1022); fs.f[2] = d(0.5);
    assert_int_equal(run(r_type(0x09, 2, 1, RNE, 3)), 0);   /* fmul.d */
    assert_int_equal(fs.fflags, UF | NX);
    /* a payload NaN input gives the canonical NaN; sNaN raises NV */
    fs.fflags = 0;
    assert_int_equal(faddd(__builtin_nan("0x123"), 1.0, RNE), 0x7ff8000000000000ull);
    assert_int_equal(fs.fflags, 0);
    fs.f[1] = 0x7ff0000000000001ull; fs.f[2] = d(1.0);
    assert_int_equal(run(r_type(0x01, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    assert_int_equal(fs.fflags, NV);
    /* NaN boxing: an unboxed single reads as the canonical NaN */
    fs.fflags = 0; fs.f[1] = 0x000000003f800000ull; fs.f[2] = s(1.0f);
    assert_int_equal(run(r_type(0x00, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], BOXED(0x7fc00000));
    /* sqrt(-1): canonical NaN + NV; fsqrt with rs2 != 0 is illegal */
    fs.fflags = 0; fs.f[1] = d(-1.0);
    assert_int_equal(run(r_type(0x2d, 0, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    assert_int_equal(fs.fflags, NV);
    assert_int_equal(run(r_type(0x2d, 1, 1, RNE, 3)), -1);
}

static void test_minmax_compare(void **st)
{
    reset();
    fs.f[1] = d(-0.0); fs.f[2] = d(0.0);
    assert_int_equal(run(r_type(0x15, 2, 1, 0, 3)), 0);     /* fmin.d */
    assert_int_equal(fs.f[3], d(-0.0));
    assert_int_equal(run(r_type(0x15, 2, 1, 1, 3)), 0);     /* fmax.d */
    assert_int_equal(fs.f[3], d(0.0));
    fs.f[1] = 0x7ff8000000000000ull; fs.f[2] = d(2.0);
    assert_int_equal(run(r_type(0x15, 2, 1, 0, 3)), 0);
    assert_int_equal(fs.f[3], d(2.0));
    assert_int_equal(fs.fflags, 0);
    fs.f[1] = 0x7ff0000000000001ull;                         /* sNaN */
    assert_int_equal(run(r_type(0x15, 2, 1, 1, 3)), 0);
    assert_int_equal(fs.f[3], d(2.0));
    assert_int_equal(fs.fflags, NV);
    fs.f[2] = 0x7ff8000000000000ull; fs.fflags = 0;
    assert_int_equal(run(r_type(0x15, 2, 1, 1, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    /* feq quiet, flt signaling on qNaN */
    fs.fflags = 0; fs.f[1] = 0x7ff8000000000000ull; fs.f[2] = d(1.0);
    x[5] = 99;
    assert_int_equal(run(r_type(0x51, 2, 1, 2, 5)), 0);     /* feq.d */
    assert_int_equal(x[5], 0);
    assert_int_equal(fs.fflags, 0);
    assert_int_equal(run(r_type(0x51, 2, 1, 1, 5)), 0);     /* flt.d */
    assert_int_equal(fs.fflags, NV);
    fs.f[1] = d(1.0);
    assert_int_equal(run(r_type(0x51, 2, 1, 0, 5)), 0);     /* fle.d 1<=1 */
    assert_int_equal(x[5], 1);
    /* rd = x0 stays 0 */
    assert_int_equal(run(r_type(0x51, 2, 1, 0, 0)), 0);
    assert_int_equal(x[0], 0);
}

static uint64_t cvt_to_int(uint64_t src, unsigned fmt, unsigned kind, unsigned rm)
{
    fs.f[1] = src;
    assert_int_equal(run(r_type(0x60 | fmt, kind, 1, rm, 5)), 0);
    return x[5];
}

static void test_fcvt(void **st)
{
    reset();
    assert_int_equal(cvt_to_int(0x7ff8000000000000ull, 1, 0, RTZ), 0x7fffffff);
    assert_int_equal(fs.fflags, NV);
    fs.fflags = 0;
    assert_int_equal(cvt_to_int(d(-__builtin_inf()), 1, 0, RTZ), 0xffffffff80000000ull);
    assert_int_equal(cvt_to_int(d(2147483648.0), 1, 0, RTZ), 0x7fffffff);
    assert_int_equal(cvt_to_int(d(-2147483649.0), 1, 0, RTZ), 0xffffffff80000000ull);
    assert_int_equal(fs.fflags, NV);
    fs.fflags = 0;
    assert_int_equal(cvt_to_int(s(-1.0f), 0, 1, RTZ), 0);          /* fcvt.wu.s */
    assert_int_equal(fs.fflags, NV);
    fs.fflags = 0;
    assert_int_equal(cvt_to_int(s(-0.5f), 0, 1, RTZ), 0);
    assert_int_equal(fs.fflags, NX);
    fs.fflags = 0;
    assert_int_equal(cvt_to_int(d(2.5), 1, 2, RNE), 2);            /* fcvt.l.d */
    assert_int_equal(cvt_to_int(d(2.5), 1, 2, RMM), 3);
    assert_int_equal(cvt_to_int(d(-2.5), 1, 2, RMM), (uint64_t)-3);
    assert_int_equal(cvt_to_int(d(-2.5), 1, 2, RUP), (uint64_t)-2);
    assert_int_equal(cvt_to_int(d(0x1p63), 1, 2, RNE), 0x7fffffffffffffffull);
    assert_int_equal(cvt_to_int(d(4294967295.0), 1, 1, RNE), 0xffffffffffffffffull); /* wu sign-extends */
    assert_int_equal(cvt_to_int(d(0x1p64), 1, 3, RNE), 0xffffffffffffffffull);
    /* int -> float: fcvt.s.l of 2^24+1 rounds; RMM tie */
    fs.fflags = 0; x[6] = (1 << 24) + 1;
    assert_int_equal(run(r_type(0x68, 2, 6, RNE, 3)), 0);
    assert_int_equal(fs.f[3], s(16777216.0f));
    assert_int_equal(fs.fflags, NX);
    assert_int_equal(run(r_type(0x68, 2, 6, RMM, 3)), 0);
    assert_int_equal(fs.f[3], s(16777218.0f));
    /* exact: no flag in any mode (the conversion's fast path) */
    fs.fflags = 0; x[6] = (uint64_t)-12345;
    assert_int_equal(run(r_type(0x69, 2, 6, RUP, 3)), 0);          /* fcvt.d.l */
    assert_int_equal(fs.f[3], d(-12345.0));
    assert_int_equal(run(r_type(0x68, 2, 6, RDN, 3)), 0);          /* fcvt.s.l */
    assert_int_equal(fs.f[3], s(-12345.0f));
    assert_int_equal(fs.fflags, 0);
    x[6] = (uint64_t)-1;
    assert_int_equal(run(r_type(0x69, 3, 6, RNE, 3)), 0);          /* fcvt.d.lu */
    assert_int_equal(fs.f[3], d(0x1p64));
    /* fcvt.s.d narrows with rounding; fcvt.d.s of sNaN -> canonical + NV */
    fs.fflags = 0; fs.f[1] = d(1.0 + 0x1p-24);
    assert_int_equal(run(r_type(0x20, 1, 1, RMM, 3)), 0);
    assert_int_equal(fs.f[3], s(1.0f + 0x1p-23f));
    fs.f[1] = BOXED(0x7f800001);
    assert_int_equal(run(r_type(0x21, 0, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    assert_true(fs.fflags & NV);
}

/* Round-to-nearest once NX is accrued takes a host fast path: results that
 * round up to the smallest normal must still raise UF (tininess after
 * rounding), and fused ops must match the exact path. */
static void test_fast_paths(void **st)
{
    const double a = 0x1.fffffffffffffp-1, mn = 0x1p-1022;
    for (int fused = 0; fused < 2; fused++) {
        reset();
        fs.fflags = NX;
        fs.f[1] = d(a); fs.f[2] = d(mn); fs.f[4] = d(0.0);
        /* fmul.d f3, f1, f2 / fmadd.d f3, f1, f2, f4 */
        assert_int_equal(run(fused ? r4(0x43, 1, 4, 2, 1, RNE, 3) : r_type(0x09, 2, 1, RNE, 3)), 0);
        assert_int_equal(fs.f[3], d(mn));
        assert_int_equal(fs.fflags, NX | UF);
    }
    /* single: the same at FLT_MIN */
    reset();
    fs.fflags = NX;
    fs.f[1] = s(0x1.fffffep-1f); fs.f[2] = s(0x1p-126f);
    assert_int_equal(run(r_type(0x08, 2, 1, RNE, 3)), 0);     /* fmul.s */
    assert_int_equal(fs.f[3], s(0x1p-126f));
    assert_int_equal(fs.fflags, NX | UF);
    /* fused results equal the exact path's, with and without NX accrued */
    const double v[][3] = { { 1.5, 2.0, 0.25 }, { 0.1, 0.2, 0.3 }, { -3.0, 1e300, 1e300 },
                            { 1e-300, 1e-10, 0.0 }, { 2.0, -0.5, 1.0 }, { 0.0, 5.0, -0.0 } };
    for (unsigned k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
        uint64_t res[2], fl[2];
        for (int nx = 0; nx < 2; nx++) {
            reset();
            fs.fflags = nx ? NX : 0;
            fs.f[1] = d(v[k][0]); fs.f[2] = d(v[k][1]); fs.f[4] = d(v[k][2]);
            assert_int_equal(run(r4(0x4f, 1, 4, 2, 1, RNE, 3)), 0);   /* fnmadd.d */
            res[nx] = fs.f[3];
            fl[nx] = fs.fflags | NX;
        }
        assert_int_equal(res[0], res[1]);
        assert_int_equal(fl[0], fl[1]);
    }
}

static void test_fma_class_moves(void **st)
{
    reset();
    /* fmadd.d inf*0 + qNaN raises NV */
    fs.f[1] = d(__builtin_inf()); fs.f[2] = d(0.0); fs.f[4] = 0x7ff8000000000000ull;
    assert_int_equal(run(r4(0x43, 1, 4, 2, 1, RNE, 3)), 0);
    assert_int_equal(fs.f[3], 0x7ff8000000000000ull);
    assert_int_equal(fs.fflags, NV);
    /* fused: (1+2^-30)^2 - 1 keeps the 2^-60 term */
    fs.fflags = 0; fs.f[1] = d(1.0 + 0x1p-30); fs.f[2] = d(1.0 + 0x1p-30); fs.f[4] = d(1.0);
    assert_int_equal(run(r4(0x47, 1, 4, 2, 1, RNE, 3)), 0);        /* fmsub */
    assert_int_equal(fs.f[3], d(0x1p-29 + 0x1p-60));
    assert_int_equal(run(r4(0x4f, 1, 4, 2, 1, RNE, 3)), 0);        /* fnmadd = -(a*b)-c */
    assert_int_equal(fs.f[3], d(-(2.0 + 0x1p-29 + 0x1p-60)));
    /* fclass.d */
    static const struct { uint64_t v; uint64_t cls; } cl[] = {
        { 0xfff0000000000000ull, 1 << 0 }, { 0xbff0000000000000ull, 1 << 1 },
        { 0x800fffffffffffffull, 1 << 2 }, { 0x8000000000000000ull, 1 << 3 },
        { 0, 1 << 4 }, { 1, 1 << 5 }, { 0x3ff0000000000000ull, 1 << 6 },
        { 0x7ff0000000000000ull, 1 << 7 }, { 0x7ff0000000000001ull, 1 << 8 },
        { 0x7ff8000000000000ull, 1 << 9 },
    };
    for (unsigned i = 0; i < 10; i++) {
        fs.f[1] = cl[i].v;
        assert_int_equal(run(r_type(0x71, 0, 1, 1, 5)), 0);
        assert_int_equal(x[5], cl[i].cls);
    }
    /* fmv.x.w sign-extends; fmv.w.x NaN-boxes; fsgnjx.s */
    fs.f[1] = BOXED(0xbf800000);
    assert_int_equal(run(r_type(0x70, 0, 1, 0, 5)), 0);
    assert_int_equal(x[5], 0xffffffffbf800000ull);
    x[6] = 0x123456789abcdef0ull;
    assert_int_equal(run(r_type(0x78, 0, 6, 0, 3)), 0);
    assert_int_equal(fs.f[3], BOXED(0x9abcdef0));
    fs.f[1] = s(-2.0f); fs.f[2] = s(-1.0f);
    assert_int_equal(run(r_type(0x10, 2, 1, 2, 3)), 0);
    assert_int_equal(fs.f[3], s(2.0f));
    /* H/Q formats are illegal */
    assert_int_equal(run(r_type(0x02, 2, 1, RNE, 3)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding_modes),
        cmocka_unit_test(test_flags_and_nan),
        cmocka_unit_test(test_minmax_compare),
        cmocka_unit_test(test_fcvt),
        cmocka_unit_test(test_fma_class_moves),
        cmocka_unit_test(test_fast_paths),
    };
    return cmocka_run_group_tests_name("fpu", tests, NULL, NULL);
}

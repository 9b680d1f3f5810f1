/* F and D edge cases: NaN canonicalisation and payloads, NaN-boxing,
 * fmin/fmax, comparisons, fcvt saturation, the five rounding modes (static
 * rm field and dynamic frm), overflow/underflow (tininess after rounding),
 * fclass, fflags accumulation and the fcsr layout. Expected values and
 * flags follow the RISC-V unprivileged spec, chapters F and D. */
#include "check.h"

#define ONE   0x3ff0000000000000ull
#define TWO   0x4000000000000000ull
#define HALF  0x3fe0000000000000ull
#define QNAN  0x7ff8000000000000ull   /* canonical */
#define SNAN  0x7ff0000000000001ull
#define PNAN  0x7ff8dead0000beefull   /* quiet, with payload */
#define INF   0x7ff0000000000000ull
#define NINF  0xfff0000000000000ull
#define DMAX  0x7fefffffffffffffull
#define DMINN 0x0010000000000000ull
#define NZERO 0x8000000000000000ull
#define SONE  B(0x3f800000)
#define SQNAN B(0x7fc00000)
#define SSNAN B(0x7f800001)

static double d2(double x) { return x; }
static uint64_t bits(double x) { union { double d; uint64_t u; } u = {d2(x)}; return u.u; }

int main(void)
{
    /* NaNs: results are canonical, payloads are not propagated */
    chkf("fadd.d sNaN+1", F2("fadd.d", "", SNAN, ONE), fl_, QNAN, NV);
    chkf("fadd.d payload qNaN+1", F2("fadd.d", "", PNAN, ONE), fl_, QNAN, 0);
    chkf("fmul.d -qNaN*1", F2("fmul.d", "", 0xfff8000000000000ull, ONE), fl_, QNAN, 0);
    chkf("fadd.s payload qNaN+1", F2("fadd.s", "", B(0x7fc0dead), SONE), fl_, SQNAN, 0);
    chkf("fadd.s unboxed input = qNaN", F2("fadd.s", "", 0x000000003f800000ull, SONE), fl_, SQNAN, 0);
    chkf("fadd.s sNaN", F2("fadd.s", "", SSNAN, SONE), fl_, SQNAN, NV);
    chkf("fsgnj.s unboxed input", F2("fsgnj.s", "", 0x3f800000ull, SONE), fl_, SQNAN, 0);
    chkf("fsgnjn.s unboxed input", F2("fsgnjn.s", "", 0x3f800000ull, SONE), fl_, B(0xffc00000), 0);
    chkf("fsgnj.d keeps sNaN payload", F2("fsgnj.d", "", SNAN, NZERO), fl_, 0xfff0000000000001ull, 0);
    chkf("fsgnjx.d", F2("fsgnjx.d", "", NZERO | ONE, NZERO), fl_, ONE, 0);
    chkf("fmv.x.w sign-extends", FX1("fmv.x.w", "", B(0x80000000)), fl_, 0xffffffff80000000ull, 0);
    chkf("fmv.x.w ignores boxing", FX1("fmv.x.w", "", 0x1234567880000001ull), fl_, 0xffffffff80000001ull, 0);
    chkf("fmv.w.x boxes", FI("fmv.w.x", "", 0x123456789abcdef0ull), fl_, B(0x9abcdef0), 0);
    chkf("fcvt.d.s sNaN", F1("fcvt.d.s", "", SSNAN), fl_, QNAN, NV);
    chkf("fcvt.s.d payload NaN", F1("fcvt.s.d", "", PNAN), fl_, SQNAN, 0);
    chkf("fcvt.s.d unboxed? (D source, bits as is)", F1("fcvt.s.d", "", ONE), fl_, SONE, 0);
    chkf("fsqrt.d -1", F1("fsqrt.d", "", NZERO | ONE), fl_, QNAN, NV);
    chkf("fsqrt.d -0", F1("fsqrt.d", "", NZERO), fl_, NZERO, 0);
    chkf("fsqrt.d 2", F1("fsqrt.d", "", TWO), fl_, 0x3ff6a09e667f3bcdull, NX);
    chkf("fdiv.d 1/0", F2("fdiv.d", "", ONE, 0), fl_, INF, DZ);
    chkf("fdiv.d -1/0", F2("fdiv.d", "", NZERO | ONE, 0), fl_, NINF, DZ);
    chkf("fdiv.d 0/0", F2("fdiv.d", "", 0, 0), fl_, QNAN, NV);
    chkf("fdiv.d inf/inf", F2("fdiv.d", "", INF, INF), fl_, QNAN, NV);
    chkf("fsub.d inf-inf", F2("fsub.d", "", INF, INF), fl_, QNAN, NV);
    chkf("fmul.d inf*0", F2("fmul.d", "", INF, 0), fl_, QNAN, NV);
    chkf("fmadd.d inf*0+qNaN sets NV", F3("fmadd.d", "", INF, 0, QNAN), fl_, QNAN, NV);
    chkf("fmadd.d 1*1+sNaN", F3("fmadd.d", "", ONE, ONE, SNAN), fl_, QNAN, NV);
    chkf("fnmsub.d -(2*2)+1", F3("fnmsub.d", "", TWO, TWO, ONE), fl_, 0xc008000000000000ull, 0);
    chkf("fnmadd.d -(1*1)-1", F3("fnmadd.d", "", ONE, ONE, ONE), fl_, 0xc000000000000000ull, 0);
    chkf("fmsub.s 2*2-1", F3("fmsub.s", "", B(0x40000000), B(0x40000000), SONE), fl_, B(0x40400000), 0);
    chkf("fmadd.d x*y-x*y exact zero, rdn = -0", F3("fmadd.d", ", rdn", ONE, ONE, NZERO | ONE), fl_, NZERO, 0);
    chkf("fadd.d 1+(-1) rne = +0", F2("fadd.d", ", rne", ONE, NZERO | ONE), fl_, 0, 0);
    chkf("fadd.d 1+(-1) rdn = -0", F2("fadd.d", ", rdn", ONE, NZERO | ONE), fl_, NZERO, 0);
    /* fmin/fmax: -0 < +0, a single NaN operand yields the other */
    chkf("fmin.d +0,-0", F2("fmin.d", "", 0, NZERO), fl_, NZERO, 0);
    chkf("fmax.d -0,+0", F2("fmax.d", "", NZERO, 0), fl_, 0, 0);
    chkf("fmin.d qNaN,1", F2("fmin.d", "", PNAN, ONE), fl_, ONE, 0);
    chkf("fmax.d 1,sNaN", F2("fmax.d", "", ONE, SNAN), fl_, ONE, NV);
    chkf("fmin.d qNaN,qNaN", F2("fmin.d", "", PNAN, QNAN), fl_, QNAN, 0);
    chkf("fmax.s sNaN,sNaN", F2("fmax.s", "", SSNAN, SSNAN), fl_, SQNAN, NV);
    chkf("fmin.s -0,+0", F2("fmin.s", "", B(0x80000000), B(0)), fl_, B(0x80000000), 0);
    chkf("fmax.s unboxed,1", F2("fmax.s", "", 0x3f800000ull, B(0x40000000)), fl_, B(0x40000000), 0);
    /* comparisons */
    chkf("feq.d qNaN (quiet)", FX2("feq.d", QNAN, QNAN), fl_, 0, 0);
    chkf("feq.d sNaN", FX2("feq.d", SNAN, ONE), fl_, 0, NV);
    chkf("flt.d qNaN (signalling)", FX2("flt.d", QNAN, ONE), fl_, 0, NV);
    chkf("fle.d 1,qNaN", FX2("fle.d", ONE, QNAN), fl_, 0, NV);
    chkf("feq.d +0,-0", FX2("feq.d", 0, NZERO), fl_, 1, 0);
    chkf("flt.d -0,+0", FX2("flt.d", NZERO, 0), fl_, 0, 0);
    chkf("fle.d -inf,-max", FX2("fle.d", NINF, NZERO | DMAX), fl_, 1, 0);
    chkf("flt.s unboxed,1", FX2("flt.s", 0x3f800000ull, SONE), fl_, 0, NV);
    /* fcvt to integer: saturation, NV for invalid, NX for inexact */
    chkf("fcvt.w.d NaN", FX1("fcvt.w.d", ", rtz", QNAN), fl_, 0x7fffffff, NV);
    chkf("fcvt.w.d +inf", FX1("fcvt.w.d", ", rtz", INF), fl_, 0x7fffffff, NV);
    chkf("fcvt.w.d -inf", FX1("fcvt.w.d", ", rtz", NINF), fl_, 0xffffffff80000000ull, NV);
    chkf("fcvt.w.d 2^31", FX1("fcvt.w.d", ", rtz", 0x41e0000000000000ull), fl_, 0x7fffffff, NV);
    chkf("fcvt.w.d -2^31", FX1("fcvt.w.d", ", rtz", 0xc1e0000000000000ull), fl_, 0xffffffff80000000ull, 0);
    chkf("fcvt.w.d 2^31-0.5 rtz", FX1("fcvt.w.d", ", rtz", bits(2147483647.5)), fl_, 0x7fffffff, NX);
    chkf("fcvt.w.d 2^31-0.5 rne overflows", FX1("fcvt.w.d", ", rne", bits(2147483647.5)), fl_, 0x7fffffff, NV);
    chkf("fcvt.wu.d -1", FX1("fcvt.wu.d", ", rtz", NZERO | ONE), fl_, 0, NV);
    chkf("fcvt.wu.d -0.5 rtz", FX1("fcvt.wu.d", ", rtz", NZERO | HALF), fl_, 0, NX);
    chkf("fcvt.wu.d -0.5 rdn", FX1("fcvt.wu.d", ", rdn", NZERO | HALF), fl_, 0, NV);
    chkf("fcvt.wu.d NaN", FX1("fcvt.wu.d", ", rtz", QNAN), fl_, ~0ull, NV);
    chkf("fcvt.wu.d 2^32-1 sext", FX1("fcvt.wu.d", ", rtz", bits(4294967295.0)), fl_, ~0ull, 0);
    chkf("fcvt.wu.d +inf", FX1("fcvt.wu.d", ", rtz", INF), fl_, ~0ull, NV);
    chkf("fcvt.l.d NaN", FX1("fcvt.l.d", ", rtz", PNAN), fl_, 0x7fffffffffffffffull, NV);
    chkf("fcvt.l.d -inf", FX1("fcvt.l.d", ", rtz", NINF), fl_, 0x8000000000000000ull, NV);
    chkf("fcvt.l.d 2^63", FX1("fcvt.l.d", ", rtz", 0x43e0000000000000ull), fl_, 0x7fffffffffffffffull, NV);
    chkf("fcvt.l.d -2^63", FX1("fcvt.l.d", ", rtz", 0xc3e0000000000000ull), fl_, 0x8000000000000000ull, 0);
    chkf("fcvt.lu.d -1", FX1("fcvt.lu.d", ", rtz", NZERO | ONE), fl_, 0, NV);
    chkf("fcvt.lu.d NaN", FX1("fcvt.lu.d", ", rtz", QNAN), fl_, ~0ull, NV);
    chkf("fcvt.lu.d 2^64", FX1("fcvt.lu.d", ", rtz", 0x43f0000000000000ull), fl_, ~0ull, NV);
    chkf("fcvt.lu.d -0", FX1("fcvt.lu.d", ", rtz", NZERO), fl_, 0, 0);
    chkf("fcvt.w.s NaN", FX1("fcvt.w.s", ", rtz", SQNAN), fl_, 0x7fffffff, NV);
    chkf("fcvt.w.s unboxed = NaN", FX1("fcvt.w.s", ", rtz", 0x3f800000ull), fl_, 0x7fffffff, NV);
    chkf("fcvt.lu.s -inf", FX1("fcvt.lu.s", ", rtz", B(0xff800000)), fl_, 0, NV);
    chkf("fcvt.l.s 2^63", FX1("fcvt.l.s", ", rtz", B(0x5f000000)), fl_, 0x7fffffffffffffffull, NV);
    /* the five rounding modes on ties and signs */
    static const char *rn[5] = {"rne", "rtz", "rdn", "rup", "rmm"};
    static const int64_t c25[5] = {2, 2, 2, 3, 3}, cm25[5] = {-2, -2, -3, -2, -3}, cm05[5] = {0, 0, -1, 0, -1};
    static const uint64_t add_p[5] = {ONE, ONE, ONE, ONE + 1, ONE + 1};
    static const uint64_t add_n[5] = {NZERO | ONE, NZERO | ONE, NZERO | (ONE + 1), NZERO | ONE, NZERO | (ONE + 1)};
    static const uint64_t s_d[5] = {B(0x3f800000), B(0x3f800000), B(0x3f800000), B(0x3f800001), B(0x3f800001)};
    static const uint64_t ovf[5] = {INF, DMAX, DMAX, INF, INF}, novf[5] = {NINF, NZERO | DMAX, NINF, NZERO | DMAX, NINF};
    static const uint64_t l2f[5] = {0x43f0000000000000ull, 0x43efffffffffffffull, 0x43efffffffffffffull, 0x43f0000000000000ull, 0x43f0000000000000ull};
    char name[64];
    for (int m = 0; m < 5; m++) {
        uint64_t r[9];
        unsigned f[9];
        switch (m) {
#define ALLOPS(RM) \
            r[0] = FX1("fcvt.w.d", ", " RM, bits(2.5)); f[0] = fl_; \
            r[1] = FX1("fcvt.l.d", ", " RM, bits(-2.5)); f[1] = fl_; \
            r[2] = FX1("fcvt.w.d", ", " RM, bits(-0.5)); f[2] = fl_; \
            r[3] = F2("fadd.d", ", " RM, ONE, 0x3ca0000000000000ull); f[3] = fl_; \
            r[4] = F2("fadd.d", ", " RM, NZERO | ONE, 0xbca0000000000000ull); f[4] = fl_; \
            r[5] = F1("fcvt.s.d", ", " RM, 0x3ff0000010000000ull); f[5] = fl_; \
            r[6] = F2("fmul.d", ", " RM, DMAX, TWO); f[6] = fl_; \
            r[7] = F2("fmul.d", ", " RM, NZERO | DMAX, TWO); f[7] = fl_; \
            r[8] = FI("fcvt.d.lu", ", " RM, ~0ull); f[8] = fl_;
        case 0: ALLOPS("rne") break;
        case 1: ALLOPS("rtz") break;
        case 2: ALLOPS("rdn") break;
        case 3: ALLOPS("rup") break;
        case 4: ALLOPS("rmm") break;
        }
#define C(i, what, e, ef) snprintf(name, sizeof name, "%s %s", what, rn[m]); chkf(name, r[i], f[i], e, ef);
        C(0, "fcvt.w.d 2.5", (uint64_t)c25[m], NX);
        C(1, "fcvt.l.d -2.5", (uint64_t)cm25[m], NX);
        C(2, "fcvt.w.d -0.5", (uint64_t)cm05[m], NX);
        C(3, "fadd.d 1+2^-53", add_p[m], NX);
        C(4, "fadd.d -1-2^-53", add_n[m], NX);
        C(5, "fcvt.s.d 1+2^-24", s_d[m], NX);
        C(6, "fmul.d max*2", ovf[m], OF | NX);
        C(7, "fmul.d -max*2", novf[m], OF | NX);
        C(8, "fcvt.d.lu 2^64-1", l2f[m], NX);
    }
    /* dynamic rounding mode from frm */
    for (int m = 0; m < 5; m++) {
        uint64_t r, f;
        __asm__ volatile("fsrm %2\n\tfmv.d.x ft0, %3\n\tcsrwi fflags, 0\n\tfcvt.w.d %0, ft0, dyn\n\tfrflags %1\n\tfsrmi 0"
                         : "=r"(r), "=&r"(f) : "r"((uint64_t)m), "r"(bits(-2.5)) : "ft0");
        snprintf(name, sizeof name, "fcvt.w.d -2.5 dyn frm=%s", rn[m]);
        chkf(name, r, (unsigned)f, (uint64_t)cm25[m], NX);
    }
    /* underflow: flagged only when tiny after rounding and inexact */
    chkf("fmul.d minnormal*0.5 exact: no UF", F2("fmul.d", "", DMINN, HALF), fl_, 0x0008000000000000ull, 0);
    chkf("fmul.d (minnormal+1ulp)*0.5", F2("fmul.d", "", DMINN + 1, HALF), fl_, 0x0008000000000000ull, UF | NX);
    chkf("fmul.d mindenorm*0.5 rne", F2("fmul.d", ", rne", 1, HALF), fl_, 0, UF | NX);
    chkf("fmul.d mindenorm*0.5 rup", F2("fmul.d", ", rup", 1, HALF), fl_, 1, UF | NX);
    chkf("fmul.d exact tiny needs rounding: UF", F2("fmul.d", ", rne", DMINN, 0x3fefffffffffffffull), fl_, DMINN, UF | NX);
    /* maxdenorm * (1+2^-52) = 2^-1022 (1 - 2^-104): tiny before rounding, not after */
    chkf("fmul.d rounds to minnormal: no UF", F2("fmul.d", ", rne", 0x000fffffffffffffull, ONE + 1), fl_, DMINN, NX);
    chkf("fadd.d denorm+denorm exact", F2("fadd.d", "", 1, 1), fl_, 2, 0);
    chkf("fmul.s underflow to 0 rtz", F2("fmul.s", ", rtz", B(0x00000001), B(0x3f000000)), fl_, B(0), UF | NX);
    /* int -> fp */
    chkf("fcvt.d.w uses low 32 bits", FI("fcvt.d.w", "", 0x1234567880000000ull), fl_, 0xc1e0000000000000ull, 0);
    chkf("fcvt.d.wu", FI("fcvt.d.wu", "", ~0ull), fl_, 0x41efffffffe00000ull, 0);
    chkf("fcvt.s.l INT64_MAX rne", FI("fcvt.s.l", ", rne", 0x7fffffffffffffffull), fl_, B(0x5f000000), NX);
    chkf("fcvt.s.w 2^24+1 rtz", FI("fcvt.s.w", ", rtz", 16777217), fl_, B(0x4b800000), NX);
    chkf("fcvt.s.wu 0", FI("fcvt.s.wu", ", rtz", 0), fl_, B(0), 0);
    /* fclass */
    static const uint64_t cls[10] = {NINF, NZERO | ONE, NZERO | 1, NZERO, 0, 1, ONE, INF, SNAN, QNAN};
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "fclass.d class %d", i);
        chkf(name, FX1("fclass.d", "", cls[i]), fl_, 1u << i, 0);
    }
    chkf("fclass.s unboxed = qNaN", FX1("fclass.s", "", 0x7f800000ull), fl_, 1u << 9, 0);
    chkf("fclass.s sNaN", FX1("fclass.s", "", SSNAN), fl_, 1u << 8, 0);
    chkf("fclass.s -denorm", FX1("fclass.s", "", B(0x80000001)), fl_, 1u << 2, 0);
    /* fflags accumulate; fcsr layout frm[7:5] fflags[4:0] */
    { uint64_t f, c, o;
      __asm__ volatile("csrwi fflags, 0\n\tfmv.d.x ft0, %3\n\tfdiv.d ft1, ft0, ft1\n\t"
                       "fmv.d.x ft0, zero\n\tfdiv.d ft1, ft0, ft0\n\tfrflags %0\n\t"
                       "li t0, 0xff\n\tfscsr %2, t0\n\tfrcsr %1\n\tfscsr %2"
                       : "=&r"(f), "=&r"(c), "=&r"(o) : "r"(ONE) : "t0", "ft0", "ft1");
      chk("fflags accumulate DZ|NV", f, DZ | NV);
      chk("fcsr reads back 0xff", c, 0xff); }
    { uint64_t rm, fl;
      __asm__ volatile("fscsr zero\n\tli t0, 0x7e\n\tcsrw fcsr, t0\n\tfrrm %0\n\tfrflags %1\n\tfscsr zero"
                       : "=&r"(rm), "=&r"(fl) :: "t0");
      chk("frm from fcsr 0x7e", rm, 3); chk("fflags from fcsr 0x7e", fl, 0x1e); }
    { uint64_t o, n;
      __asm__ volatile("fsflagsi 0x1f\n\tfsflagsi %0, 1\n\tfrflags %1\n\tcsrwi fflags, 0" : "=&r"(o), "=&r"(n));
      chk("fsflagsi returns old", o, 0x1f); chk("fsflagsi sets", n, 1); }
    return done();
}

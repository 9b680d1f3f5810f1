/* Loads and stores of every width at misaligned and page-crossing
 * addresses, sign/zero extension, AMOs (old value returned sign-extended,
 * signed vs unsigned min/max), LR/SC success and failure. */
#include "check.h"
#include <string.h>

static uint8_t buf[8192] __attribute__((aligned(4096)));

#define LD(op, p) ({ uint64_t r_; __asm__ volatile(op " %0, 0(%1)" : "=r"(r_) : "r"(p) : "memory"); r_; })
#define ST(op, p, v) __asm__ volatile(op " %1, 0(%0)" :: "r"(p), "r"((uint64_t)(v)) : "memory")
#define AMO(op, p, v) ({ uint64_t r_; __asm__ volatile(op " %0, %2, (%1)" : "=r"(r_) : "r"(p), "r"((uint64_t)(v)) : "memory"); r_; })

/* byte-wise little-endian read, the reference for the wide loads */
static uint64_t bytes(const volatile uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void fill(void)
{
    for (int i = 0; i < 8192; i++)
        ((volatile uint8_t *)buf)[i] = (uint8_t)(0x80 + i * 7);
}

int main(void)
{
    char name[64];
    fill();
    /* every width at every offset 0..7 and across the page boundary */
    static const struct { const char *op; int n; int sext; } L[] = {
        {"lb", 1, 1}, {"lbu", 1, 0}, {"lh", 2, 1}, {"lhu", 2, 0},
        {"lw", 4, 1}, {"lwu", 4, 0}, {"ld", 8, 0},
    };
    int offs[] = {0, 1, 2, 3, 4, 5, 6, 7, 4093, 4095};
    for (unsigned i = 0; i < sizeof L / sizeof L[0]; i++)
        for (unsigned j = 0; j < sizeof offs / sizeof offs[0]; j++) {
            uint8_t *p = buf + offs[j];
            uint64_t e = bytes(p, L[i].n);
            if (L[i].sext && L[i].n < 8 && (e >> (8 * L[i].n - 1)) & 1)
                e |= ~0ull << (8 * L[i].n);
            uint64_t g = 0;
            switch (i) {
            case 0: g = LD("lb", p); break;
            case 1: g = LD("lbu", p); break;
            case 2: g = LD("lh", p); break;
            case 3: g = LD("lhu", p); break;
            case 4: g = LD("lw", p); break;
            case 5: g = LD("lwu", p); break;
            case 6: g = LD("ld", p); break;
            }
            snprintf(name, sizeof name, "%s at +%d", L[i].op, offs[j]);
            chk(name, g, e);
        }
    /* misaligned and page-crossing stores, checked byte-wise */
    int soffs[] = {1, 3, 5, 7, 4094, 4093};
    for (unsigned j = 0; j < sizeof soffs / sizeof soffs[0]; j++) {
        uint8_t *p = buf + soffs[j];
        fill();
        ST("sd", p, 0x1122334455667788ull);
        snprintf(name, sizeof name, "sd at +%d", soffs[j]);
        chk(name, bytes(p - 1, 8), 0x2233445566778800ull | buf[soffs[j] - 1]);
        chk("  byte after sd untouched", bytes(p + 8, 1), (uint8_t)(0x80 + (soffs[j] + 8) * 7));
        ST("sw", p, 0xaabbccddeeff0011ull);
        snprintf(name, sizeof name, "sw at +%d", soffs[j]);
        chk(name, bytes(p, 8), 0x11223344eeff0011ull);
        ST("sh", p + 1, 0x9876);
        snprintf(name, sizeof name, "sh at +%d", soffs[j] + 1);
        chk(name, bytes(p, 4), 0xee987611ull);
    }
    /* FP loads/stores misaligned: bit-exact, no NaN canonicalisation */
    fill();
    ST("sd", buf + 8, 0x7ff4000000000001ull);      /* a signalling NaN */
    { uint64_t r; __asm__ volatile("fld ft0, 0(%1)\n\tfsd ft0, 3(%1)\n\tld %0, 3(%1)" : "=r"(r) : "r"(buf + 8) : "ft0", "memory");
      chk("fld/fsd sNaN misaligned, bits kept", r, 0x7ff4000000000001ull); }
    { uint64_t r; __asm__ volatile("flw ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(buf + 4093) : "ft0", "memory");
      chk("flw page-crossing NaN-boxes", r, 0xffffffff00000000ull | bytes(buf + 4093, 4)); }
    { uint64_t r; __asm__ volatile("li t0, -1\n\tfmv.d.x ft0, t0\n\tfsw ft0, 1(%1)\n\tlwu %0, 1(%1)" : "=r"(r) : "r"(buf + 16) : "t0", "ft0", "memory");
      chk("fsw stores the low 32 bits", r, 0xffffffff); }
    /* AMOs */
    uint64_t *a = (uint64_t *)(buf + 64);
    uint32_t *w = (uint32_t *)(buf + 128);
    *w = 0x7fffffff;
    chk("amoadd.w returns old", AMO("amoadd.w", w, 1), 0x7fffffff);
    chk("  new value sign-extends", LD("lw", w), 0xffffffff80000000ull);
    chk("amomin.w signed keeps neg", AMO("amomin.w", w, 1), 0xffffffff80000000ull);
    chk("  mem", *w, 0x80000000);
    chk("amominu.w", AMO("amominu.w", w, 1), 0xffffffff80000000ull);
    chk("  mem", *w, 1);
    chk("amomax.w", AMO("amomax.w", w, -5), 1);
    chk("  mem", *w, 1);
    chk("amomaxu.w", AMO("amomaxu.w", w, -5), 1);
    chk("  mem", *w, 0xfffffffb);
    chk("amoswap.w upper rs2 bits ignored", AMO("amoswap.w", w, 0x1234567800000042ull), 0xfffffffffffffffbull);
    chk("  mem", *w, 0x42);
    *a = 0x8000000000000000ull;
    chk("amomax.d", AMO("amomax.d", a, 5), 0x8000000000000000ull);
    chk("  mem", *a, 5);
    chk("amomaxu.d", AMO("amomaxu.d", a, -1), 5);
    chk("amoxor.d", AMO("amoxor.d", a, 0xff), ~0ull);
    chk("amoand.d", AMO("amoand.d", a, 0xf0f0), ~0ull ^ 0xff);
    chk("amoor.d", AMO("amoor.d", a, 1), 0xf000);
    chk("  mem", *a, 0xf001);
    chk("amoadd.d wraps", AMO("amoadd.d", a, -0xf001), 0xf001);
    chk("  mem", *a, 0);
    /* LR/SC */
    *a = 10;
    { uint64_t v, s; __asm__ volatile("lr.d %0, (%2)\n\tsc.d %1, %3, (%2)" : "=&r"(v), "=&r"(s) : "r"(a), "r"(11ull) : "memory");
      chk("lr.d value", v, 10); chk("sc.d after lr succeeds", s, 0); chk("  mem", *a, 11); }
    { uint64_t s; __asm__ volatile("sc.d %0, %2, (%1)" : "=&r"(s) : "r"(a), "r"(12ull) : "memory");
      chk("sc.d without reservation fails", s, 1); chk("  mem unchanged", *a, 11); }
    *w = 0x80000000;
    { uint64_t v, s; __asm__ volatile("lr.w %0, (%2)\n\tsc.w %1, %3, (%2)" : "=&r"(v), "=&r"(s) : "r"(w), "r"(7ull) : "memory");
      chk("lr.w sign-extends", v, 0xffffffff80000000ull); chk("sc.w succeeds", s, 0); chk("  mem", *w, 7); }
    return done();
}

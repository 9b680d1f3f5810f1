/* Shared by the riscv-isa edge-case programs: every check prints its name
 * and the value the CPU produced (the line vessel and qemu-riscv64 must print
 * identically) and, when that value differs from the one derived from the
 * RISC-V spec, " FAIL expected ...". The exit status is the failure count. */
#include <stdint.h>
#include <stdio.h>

static int fails, checks;

static void chk(const char *name, uint64_t got, uint64_t exp)
{
    checks++;
    printf("%-44s %016llx", name, (unsigned long long)got);
    if (got != exp) {
        printf(" FAIL expected %016llx", (unsigned long long)exp);
        fails++;
    }
    printf("\n");
}

/* value and fflags */
static void chkf(const char *name, uint64_t got, unsigned gflags, uint64_t exp, unsigned eflags)
{
    checks++;
    printf("%-44s %016llx flags %02x", name, (unsigned long long)got, gflags);
    if (got != exp || gflags != eflags) {
        printf(" FAIL expected %016llx flags %02x", (unsigned long long)exp, eflags);
        fails++;
    }
    printf("\n");
}

static int done(void)
{
    printf("%d checks, %d failures\n", checks, fails);
    return fails ? 1 : 0;
}

/* integer ops: R-type and one-operand */
#define R2(op, a, b) ({ uint64_t r_; __asm__ volatile(op " %0, %1, %2" : "=r"(r_) : "r"((uint64_t)(a)), "r"((uint64_t)(b))); r_; })
#define R1(op, a) ({ uint64_t r_; __asm__ volatile(op " %0, %1" : "=r"(r_) : "r"((uint64_t)(a))); r_; })
#define RI(op, a, imm) ({ uint64_t r_; __asm__ volatile(op " %0, %1, " #imm : "=r"(r_) : "r"((uint64_t)(a))); r_; })

/* FP ops on raw bit patterns (loaded with fmv.d.x so NaN-boxing is explicit);
 * the flags of that one instruction land in fl_. */
static unsigned fl_;
#define FOP(asmtext, a, b, c) ({ uint64_t r_, f_; __asm__ volatile( \
    "fmv.d.x ft0, %2\n\tfmv.d.x ft1, %3\n\tfmv.d.x ft2, %4\n\tcsrwi fflags, 0\n\t" \
    asmtext "\n\tfrflags %1" : "=r"(r_), "=&r"(f_) \
    : "r"((uint64_t)(a)), "r"((uint64_t)(b)), "r"((uint64_t)(c)) : "ft0", "ft1", "ft2", "ft3"); \
    fl_ = (unsigned)f_; r_; })
/* fp result: op ft3, ft0, ft1[, ft2][, rm] then move out */
#define F2(op, rm, a, b)    FOP(op " ft3, ft0, ft1" rm "\n\tfmv.x.d %0, ft3", a, b, 0)
#define F3(op, rm, a, b, c) FOP(op " ft3, ft0, ft1, ft2" rm "\n\tfmv.x.d %0, ft3", a, b, c)
#define F1(op, rm, a)       FOP(op " ft3, ft0" rm "\n\tfmv.x.d %0, ft3", a, 0, 0)
/* integer result */
#define FX1(op, rm, a)      FOP(op " %0, ft0" rm, a, 0, 0)
#define FX2(op, a, b)       FOP(op " %0, ft0, ft1", a, b, 0)
/* integer source */
#define FI(op, rm, x) ({ uint64_t r_, f_; __asm__ volatile( \
    "csrwi fflags, 0\n\t" op " ft3, %2" rm "\n\tfmv.x.d %0, ft3\n\tfrflags %1" \
    : "=r"(r_), "=&r"(f_) : "r"((uint64_t)(x)) : "ft3"); fl_ = (unsigned)f_; r_; })

#define B(x) (0xffffffff00000000ull | (uint32_t)(x))   /* NaN-boxed single */
enum { NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16 };

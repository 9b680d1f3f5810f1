/* Explicit compressed (RVC) forms with edge immediates; each must behave
 * like its 32-bit expansion (spec chapter "C" expansion table). */
#include "check.h"

/* run one C instruction on s0 (x8) with s1 (x9) as second operand */
#define C1(insn, a) ({ register uint64_t r_ __asm__("s0") = (uint64_t)(a); \
    __asm__ volatile(insn : "+r"(r_)); r_; })
#define C2(insn, a, b) ({ register uint64_t r_ __asm__("s0") = (uint64_t)(a); \
    register uint64_t b_ __asm__("s1") = (uint64_t)(b); __asm__ volatile(insn : "+r"(r_) : "r"(b_)); r_; })

static uint64_t mem[8] = {0x8000000180000002ull, 0xfedcba9876543210ull};

int main(void)
{
    chk("c.addi s0,-32", C1("c.addi s0, -32", 0), (uint64_t)-32);
    chk("c.addi s0,31", C1("c.addi s0, 31", 1), 32);
    chk("c.addiw sext", C1("c.addiw s0, 1", 0x7fffffff), 0xffffffff80000000ull);
    chk("c.addiw s0,0 = sext.w", C1("c.addiw s0, 0", 0x00000001fffffffeull), (uint64_t)-2);
    chk("c.li s0,-1", C1("c.li s0, -1", 5), (uint64_t)-1);
    chk("c.lui s0,0xfffe0 (negative)", C1("c.lui s0, 0xfffe0", 0), 0xfffffffffffe0000ull);
    chk("c.lui s0,1", C1("c.lui s0, 1", 0), 0x1000);
    chk("c.slli s0,63", C1("c.slli s0, 63", 1), 0x8000000000000000ull);
    chk("c.srli s0,63", C1("c.srli s0, 63", 0x8000000000000000ull), 1);
    chk("c.srai s0,63", C1("c.srai s0, 63", 0x8000000000000000ull), (uint64_t)-1);
    chk("c.srai s0,1", C1("c.srai s0, 1", (uint64_t)-5), (uint64_t)-3);
    chk("c.andi s0,-32", C1("c.andi s0, -32", 0xffff), 0xffe0);
    chk("c.andi s0,31", C1("c.andi s0, 31", 0xffff), 31);
    chk("c.mv", C2("c.mv s0, s1", 1, 0x1234), 0x1234);
    chk("c.add", C2("c.add s0, s1", (uint64_t)-1, 2), 1);
    chk("c.sub", C2("c.sub s0, s1", 0, 1), (uint64_t)-1);
    chk("c.and", C2("c.and s0, s1", 0xf0f0, 0xff00), 0xf000);
    chk("c.or", C2("c.or s0, s1", 0xf0f0, 0x0f0f), 0xffff);
    chk("c.xor", C2("c.xor s0, s1", 0xff, 0x0f), 0xf0);
    chk("c.addw sext", C2("c.addw s0, s1", 0x7fffffff, 1), 0xffffffff80000000ull);
    chk("c.subw sext", C2("c.subw s0, s1", 0x100000000ull, 1), (uint64_t)-1);
    chk("c.lw sext", C2("c.lw s0, 4(s1)", 0, mem), 0xffffffff80000001ull);
    chk("c.ld", C2("c.ld s0, 8(s1)", 0, mem), 0xfedcba9876543210ull);
    { register uint64_t v __asm__("s0") = 0x1122334455667788ull; register uint64_t *p __asm__("s1") = mem;
      __asm__ volatile("c.sd s0, 16(s1)\n\tc.sw s0, 24(s1)" :: "r"(v), "r"(p) : "memory");
      chk("c.sd", mem[2], 0x1122334455667788ull); chk("c.sw low word", mem[3], 0x55667788ull); }
    { uint64_t r; __asm__ volatile("mv t0, sp\n\tc.addi16sp sp, -496\n\tsub %0, t0, sp\n\tc.addi16sp sp, 496" : "=r"(r) :: "t0");
      chk("c.addi16sp -496", r, 496); }
    { uint64_t r; __asm__ volatile("c.addi4spn s0, sp, 1020\n\tsub %0, s0, sp" : "=r"(r) :: "s0");
      chk("c.addi4spn 1020", r, 1020); }
    { uint64_t r; __asm__ volatile("addi sp, sp, -16\n\tli t0, -7\n\tc.sdsp t0, 8(sp)\n\tc.lwsp %0, 8(sp)\n\taddi sp, sp, 16" : "=r"(r) :: "t0", "memory");
      chk("c.sdsp/c.lwsp sext", r, (uint64_t)-7); }
    { uint64_t r; __asm__ volatile("li %0, 0\n\tc.j 1f\n\tli %0, 1\n1:\tc.beqz %0, 2f\n\tli %0, 2\n2:\tc.bnez %0, 3f\n\taddi %0, %0, 5\n3:" : "=&r"(r));
      chk("c.j/c.beqz/c.bnez", r, 5); }
    { uint64_t r; __asm__ volatile("la t0, 1f\n\tli %0, 3\n\tc.jr t0\n\tli %0, 4\n1:" : "=&r"(r) :: "t0");
      chk("c.jr", r, 3); }
    { uint64_t r, ra0; __asm__ volatile("mv t2, ra\n\tla t0, 1f\n\tc.jalr t0\n1:\tmv %1, ra\n\tla %0, 1b\n\tmv ra, t2" : "=&r"(r), "=&r"(ra0) :: "t0", "t2");
      chk("c.jalr links pc+2", ra0 - r, 0); }
    return done();
}

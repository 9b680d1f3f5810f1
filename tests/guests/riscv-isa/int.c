/* RV64IM + Zba/Zbb/Zbs edge cases: division by zero and overflow, shift
 * amount masking, sign extension of the W forms, bit-manipulation corners.
 * Expected values follow the RISC-V unprivileged spec (M: "Division by zero
 * and division overflow" table; B: instruction definitions). */
#include "check.h"

#define MIN64 0x8000000000000000ull
#define ALL 0xffffffffffffffffull

int main(void)
{
    /* division by zero: quotient all ones, remainder the dividend */
    chk("div 7/0", R2("div", 7, 0), ALL);
    chk("divu 7/0", R2("divu", 7, 0), ALL);
    chk("rem 7%0", R2("rem", 7, 0), 7);
    chk("remu -7%0", R2("remu", -7, 0), (uint64_t)-7);
    chk("divw 7/0", R2("divw", 7, 0), ALL);
    chk("divuw 7/0", R2("divuw", 7, 0), ALL);
    chk("remw 0x1_80000001%0", R2("remw", 0x180000001ull, 0), 0xffffffff80000001ull);
    chk("remuw 0x1_80000001%0", R2("remuw", 0x180000001ull, 0), 0xffffffff80000001ull);
    /* signed overflow: MIN / -1 = MIN, remainder 0 */
    chk("div MIN/-1", R2("div", MIN64, -1), MIN64);
    chk("rem MIN%-1", R2("rem", MIN64, -1), 0);
    chk("divw MIN32/-1", R2("divw", 0x80000000ull, -1), 0xffffffff80000000ull);
    chk("remw MIN32%-1", R2("remw", 0x80000000ull, -1), 0);
    chk("div -7/2 (truncates)", R2("div", -7, 2), (uint64_t)-3);
    chk("rem -7%2 (sign of dividend)", R2("rem", -7, 2), (uint64_t)-1);
    chk("divw ignores upper bits", R2("divw", 0xdeadbeef00000010ull, 0x1234567800000004ull), 4);
    chk("divuw 0xffffffff/2", R2("divuw", 0xffffffffull, 2), 0x7fffffff);
    chk("divuw 0x80000000/1 sext", R2("divuw", 0x80000000ull, 1), 0xffffffff80000000ull);
    chk("remuw 0x80000005%16", R2("remuw", 0x80000005ull, 16), 5);
    /* multiplication high parts */
    chk("mulh -1*-1", R2("mulh", -1, -1), 0);
    chk("mulhu -1*-1", R2("mulhu", -1, -1), 0xfffffffffffffffeull);
    chk("mulhsu -1*(2^64-1)", R2("mulhsu", -1, -1), ALL);
    chk("mulhsu 2*(2^64-1)", R2("mulhsu", 2, -1), 1);
    chk("mulh MIN*MIN", R2("mulh", MIN64, MIN64), 0x4000000000000000ull);
    chk("mul MIN*-1", R2("mul", MIN64, -1), MIN64);
    chk("mulw 0x7fffffff*2", R2("mulw", 0x7fffffff, 2), 0xfffffffffffffffeull);
    chk("mulw ignores upper bits", R2("mulw", 0x100000003ull, 0x200000005ull), 15);
    /* shifts: amounts are masked to 6 (5 for W) bits */
    chk("sll 1<<64", R2("sll", 1, 64), 1);
    chk("sll 1<<65", R2("sll", 1, 65), 2);
    chk("srl MIN>>63", R2("srl", MIN64, 63), 1);
    chk("sra MIN>>63", R2("sra", MIN64, 63), ALL);
    chk("sra MIN>>127", R2("sra", MIN64, 127), ALL);
    chk("sllw 1<<31", R2("sllw", 1, 31), 0xffffffff80000000ull);
    chk("sllw 1<<32 (masked)", R2("sllw", 1, 32), 1);
    chk("srlw upper bits ignored", R2("srlw", 0xffffffff80000000ull, 31), 1);
    chk("srlw by 0 sign-extends", R2("srlw", 0x80000000ull, 0), 0xffffffff80000000ull);
    chk("sraw 0x80000000>>31", R2("sraw", 0x80000000ull, 31), ALL);
    chk("sraiw 0x80000000,0", RI("sraiw", 0x80000000ull, 0), 0xffffffff80000000ull);
    chk("srliw 0xffffffff00000001,0", RI("srliw", 0xffffffff00000001ull, 0), 1);
    chk("srliw 0x80000000,1", RI("srliw", 0x80000000ull, 1), 0x40000000);
    chk("slliw 0x1,31", RI("slliw", 1, 31), 0xffffffff80000000ull);
    chk("srai MIN,63", RI("srai", MIN64, 63), ALL);
    /* W arithmetic sign extension */
    chk("addw 0x7fffffff+1", R2("addw", 0x7fffffff, 1), 0xffffffff80000000ull);
    chk("subw 0x80000000-1", R2("subw", 0x80000000ull, 1), 0x7fffffff);
    chk("addiw x,0 = sext.w", RI("addiw", 0x123456789abcdef0ull, 0), 0xffffffff9abcdef0ull);
    chk("addiw 0x7fffffff,1", RI("addiw", 0x7fffffff, 1), 0xffffffff80000000ull);
    chk("slt -1<0", R2("slt", -1, 0), 1);
    chk("sltu -1<0", R2("sltu", -1, 0), 0);
    chk("sltiu 5<-1 (unsigned)", RI("sltiu", 5, -1), 1);
    chk("slti MIN<-2048", RI("slti", MIN64, -2048), 1);
    { uint64_t r; __asm__ volatile("lui %0, 0x80000" : "=r"(r)); chk("lui 0x80000 sign-extends", r, 0xffffffff80000000ull); }
    { uint64_t r; __asm__ volatile("lui %0, 0xfffff\n\taddiw %0, %0, -1" : "+r"(r)); chk("lui+addiw -4097", r, (uint64_t)-4097); }
    /* Zbb */
    chk("clz 0", R1("clz", 0), 64);
    chk("clz 1", R1("clz", 1), 63);
    chk("clzw 0", R1("clzw", 0), 32);
    chk("clzw ignores upper", R1("clzw", 0xffffffff00000001ull), 31);
    chk("ctz 0", R1("ctz", 0), 64);
    chk("ctzw 0x1_00000000", R1("ctzw", 0x100000000ull), 32);
    chk("ctz MIN", R1("ctz", MIN64), 63);
    chk("cpop -1", R1("cpop", -1), 64);
    chk("cpopw -1", R1("cpopw", -1), 32);
    chk("sext.b 0x80", R1("sext.b", 0x80), 0xffffffffffffff80ull);
    chk("sext.h 0x18000", R1("sext.h", 0x18000), 0xffffffffffff8000ull);
    chk("zext.h -1", R1("zext.h", -1), 0xffff);
    chk("zext.w -1", R1("zext.w", -1), 0xffffffff);
    chk("orc.b", R1("orc.b", 0x0100000000801000ull), 0xff00000000ffff00ull);
    chk("rev8", R1("rev8", 0x0102030405060708ull), 0x0807060504030201ull);
    chk("rol MIN|1,1", R2("rol", 0x8000000000000001ull, 1), 3);
    chk("rol x,65 (masked)", R2("rol", 0x8000000000000001ull, 65), 3);
    chk("ror 1,1", R2("ror", 1, 1), MIN64);
    chk("rolw 0x80000001,1", R2("rolw", 0x80000001ull, 1), 3);
    chk("rorw 1,1 sext", R2("rorw", 1, 1), 0xffffffff80000000ull);
    chk("roriw 1,1 sext", RI("roriw", 1, 1), 0xffffffff80000000ull);
    chk("rori 1,63", RI("rori", 1, 63), 2);
    chk("max -1,1", R2("max", -1, 1), 1);
    chk("maxu -1,1", R2("maxu", -1, 1), ALL);
    chk("min -1,1", R2("min", -1, 1), ALL);
    chk("minu -1,1", R2("minu", -1, 1), 1);
    chk("andn 0xff,0x0f", R2("andn", 0xff, 0x0f), 0xf0);
    chk("orn 0,0", R2("orn", 0, 0), ALL);
    chk("xnor 5,5", R2("xnor", 5, 5), ALL);
    /* Zba */
    chk("add.uw", R2("add.uw", 0xffffffff80000000ull, 1), 0x80000001);
    chk("sh1add", R2("sh1add", 1, 2), 4);
    chk("sh2add", R2("sh2add", MIN64 | 1, 1), 5);
    chk("sh3add.uw", R2("sh3add.uw", 0xffffffff00000001ull, 0), 8);
    chk("sh1add.uw", R2("sh1add.uw", 0xffffffffffffffffull, 0), 0x1fffffffeull);
    chk("slli.uw", RI("slli.uw", 0xffffffff80000000ull, 1), 0x100000000ull);
    /* Zbs: bit index masked to 6 bits */
    chk("bset 0,67", R2("bset", 0, 67), 8);
    chk("bclr -1,63", R2("bclr", -1, 63), 0x7fffffffffffffffull);
    chk("binv 0,0", R2("binv", 0, 0), 1);
    chk("bext MIN,63", R2("bext", MIN64, 63), 1);
    chk("bexti 0x10,4", RI("bexti", 0x10, 4), 1);
    chk("bseti 0,63", RI("bseti", 0, 63), MIN64);
    chk("binvi -1,0", RI("binvi", -1, 0), ALL - 1);
    chk("bclri MIN,63", RI("bclri", MIN64, 63), 0);
    return done();
}

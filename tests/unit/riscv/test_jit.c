/* Unit tests of the binary translator (jit.c, jit_x86.h): the emitter's
 * encodings against the GNU assembler's, and the translator against the
 * interpreter on random programs of the ops it translates (ALU, M, A, Zba,
 * Zbb, Zbs, loads/stores incl. misaligned and page-crossing, F/D, branches,
 * jumps, loops, faults, self-modifying stores), F/D and the FP CSRs op by
 * op in every rounding mode on special and random values,
 * run under budgets: every exit must leave the same registers, pc,
 * instret, exception and memory; the translator both through the TLB and
 * with direct access to a reservation (user mode's guest_base model, host
 * faults sent to the slow path by rv_jit_host_fault). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "emu/riscv/riscv.h"
#include "emu/riscv/hart.h"
#include "emu/riscv/jit_x86.h"

/* ---- the emitter: bytes as objdump -M intel decodes them back to the
 * intended instruction (checked when this table was written) ---- */
#define ENC(stmt, ...) do {                                                \
        static const uint8_t want_[] = { __VA_ARGS__ };                    \
        uint8_t *s_ = e.p;                                                 \
        stmt;                                                              \
        size_t n_ = (size_t)(e.p - s_);                                    \
        if (n_ != sizeof(want_) || memcmp(s_, want_, n_))                  \
            fail_msg("%s: %zu bytes, wrong encoding", #stmt, n_);          \
    } while (0)

static void test_emitter(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    struct jx e = { buf, buf, buf + sizeof(buf) };
    ENC(jx_mov_r_rm(&e, true, RAX, jm(RBX, 8)), 0x48, 0x8b, 0x43, 0x08);
    ENC(jx_mov_r_rm(&e, true, R12, jm(RBX, 0x100)), 0x4c, 0x8b, 0xa3, 0x00, 0x01, 0x00, 0x00);
    ENC(jx_mov_rm_r(&e, true, jm(RSP, 16), R9), 0x4c, 0x89, 0x4c, 0x24, 0x10);
    ENC(jx_store(&e, 1, jm(RAX, 0), RSI), 0x40, 0x88, 0x30);
    ENC(jx_store(&e, 2, jm(R13, 0), R10), 0x66, 0x45, 0x89, 0x55, 0x00);
    ENC(jx_load(&e, 2, true, RAX, jm(R13, 0)), 0x49, 0x0f, 0xbf, 0x45, 0x00);
    ENC(jx_load(&e, 4, true, R11, jm(RBP, -8)), 0x4c, 0x63, 0x5d, 0xf8);
    ENC(jx_load(&e, 1, false, RAX, jr(RAX)), 0x0f, 0xb6, 0xc0);
    ENC(jx_alu_r_rm(&e, true, ALU_CMP, RCX, jmi(RBX, RDX, 0, 0x40)), 0x48, 0x3b, 0x4c, 0x13, 0x40);
    ENC(jx_alu_r_rm(&e, true, ALU_ADD, RAX, jmi(RBX, RDX, 0, 0x1234)), 0x48, 0x03, 0x84, 0x13, 0x34, 0x12, 0x00, 0x00);
    ENC(jx_alu_rm_imm(&e, true, ALU_SUB, jm(RBX, 0x2000), 300), 0x48, 0x81, 0xab, 0x00, 0x20, 0x00, 0x00, 0x2c, 0x01, 0x00, 0x00);
    ENC(jx_alu_rm_imm(&e, false, ALU_AND, jr(RDX), 255), 0x81, 0xe2, 0xff, 0x00, 0x00, 0x00);
    ENC(jx_shift_imm(&e, true, SH_SAR, jr(R15), 63), 0x49, 0xc1, 0xff, 0x3f);
    ENC(jx_shift_cl(&e, false, SH_ROL, jr(R8)), 0x41, 0xd3, 0xc0);
    ENC(jx_group3(&e, true, G3_IDIV, jr(RCX)), 0x48, 0xf7, 0xf9);
    ENC(jx_imul_r_rm(&e, true, RAX, jr(R14)), 0x49, 0x0f, 0xaf, 0xc6);
    ENC(jx_setcc(&e, CC_B, RSI), 0x40, 0x0f, 0x92, 0xc6);
    ENC(jx_cmov(&e, true, CC_L, RAX, jr(RCX)), 0x48, 0x0f, 0x4c, 0xc1);
    ENC(jx_bsr(&e, false, RAX, jm(RBX, 0x48)), 0x0f, 0xbd, 0x43, 0x48);
    ENC(jx_popcnt(&e, true, RAX, jr(R12)), 0xf3, 0x49, 0x0f, 0xb8, 0xc4);
    ENC(jx_bswap(&e, R9), 0x49, 0x0f, 0xc9);
    ENC(jx_bt_r(&e, 6, jr(RAX), RCX), 0x48, 0x0f, 0xb3, 0xc8);
    ENC(jx_bt_imm(&e, 5, jr(RAX), 33), 0x48, 0x0f, 0xba, 0xe8, 0x21);
    ENC(jx_mov_imm(&e, R8, 0x12345678), 0x41, 0xb8, 0x78, 0x56, 0x34, 0x12);
    ENC(jx_mov_imm(&e, RAX, 0xfffffffffffff000ULL), 0x48, 0xc7, 0xc0, 0x00, 0xf0, 0xff, 0xff);
    ENC(jx_mov_imm(&e, RDX, 0x2aaaaab000ULL), 0x48, 0xba, 0x00, 0xb0, 0xaa, 0xaa, 0x2a, 0x00, 0x00, 0x00);
    ENC(jx_mov_rm_imm32(&e, jm(RBX, 0x10), -1), 0x48, 0xc7, 0x43, 0x10, 0xff, 0xff, 0xff, 0xff);
    ENC(jx_lea(&e, RCX, jm(RSP, 0)), 0x48, 0x8d, 0x0c, 0x24);
    ENC(jx_lea(&e, RAX, jm(R12, -2048)), 0x49, 0x8d, 0x84, 0x24, 0x00, 0xf8, 0xff, 0xff);
    ENC(jx_movsxd(&e, RAX, jr(RAX)), 0x48, 0x63, 0xc0);
    ENC(jx_push(&e, R12), 0x41, 0x54);
    ENC(jx_pop(&e, RBP), 0x5d);
    ENC(jx_cqo(&e, true), 0x48, 0x99);
    ENC(jx_test_rm_r(&e, false, jr(RAX), RAX), 0x85, 0xc0);
    ENC(jx_call_abs(&e, (void*)0x7f0011223344ULL), 0x48, 0xb8, 0x44, 0x33, 0x22, 0x11, 0x00, 0x7f, 0x00, 0x00, 0xff, 0xd0);
    ENC(jx_lea(&e, RCX, jmi(-1, RCX, 2, 1)), 0x48, 0x8d, 0x0c, 0x8d, 0x01, 0x00, 0x00, 0x00);
    ENC(jx_lea(&e, R9, jmi(RBP, R10, 3, 0)), 0x4e, 0x8d, 0x4c, 0xd5, 0x00);
    /* SSE and FMA3 (jit_fp.c) */
    ENC(jx_movs_x_m(&e, true, 0, jm(RBX, 0x108)), 0xf2, 0x0f, 0x10, 0x83, 0x08, 0x01, 0x00, 0x00);
    ENC(jx_movs_x_m(&e, false, 2, jm(RBX, 0x10)), 0xf3, 0x0f, 0x10, 0x53, 0x10);
    ENC(jx_sse_op(&e, false, SSE_MUL, 1, jm(RBX, 0x10)), 0xf3, 0x0f, 0x59, 0x4b, 0x10);
    ENC(jx_sse_op(&e, true, SSE_SQRT, 0, jm(RBX, 0x10)), 0xf2, 0x0f, 0x51, 0x43, 0x10);
    ENC(jx_movq_rm_x(&e, true, jr(RAX), 0), 0x66, 0x48, 0x0f, 0x7e, 0xc0);
    ENC(jx_movq_rm_x(&e, false, jr(RAX), 0), 0x66, 0x0f, 0x7e, 0xc0);
    ENC(jx_ucomis(&e, true, 0, jm(RBX, 0x10)), 0x66, 0x0f, 0x2e, 0x43, 0x10);
    ENC(jx_ucomis(&e, false, 0, jr(0)), 0x0f, 0x2e, 0xc0);
    ENC(jx_cvtsi2s(&e, true, true, 0, jr(R12)), 0xf2, 0x49, 0x0f, 0x2a, 0xc4);
    ENC(jx_cvtsi2s(&e, false, false, 0, jm(RBX, 0x10)), 0xf3, 0x0f, 0x2a, 0x43, 0x10);
    ENC(jx_cvts2si(&e, true, false, true, RAX, jm(RBX, 0x10)), 0xf2, 0x0f, 0x2c, 0x43, 0x10);
    ENC(jx_cvts2si(&e, false, true, false, RAX, jm(RBX, 0x10)), 0xf3, 0x48, 0x0f, 0x2d, 0x43, 0x10);
    ENC(jx_cvts2s(&e, false, 0, jr(0)), 0xf3, 0x0f, 0x5a, 0xc0);
    ENC(jx_vfma213(&e, true, 0xa9, 0, 1, 2), 0xc4, 0xe2, 0xf1, 0xa9, 0xc2);
    ENC(jx_vfma213(&e, false, 0xaf, 0, 1, 2), 0xc4, 0xe2, 0x71, 0xaf, 0xc2);
    /* BMI2 shifts */
    ENC(jx_shx(&e, true, SHX_SHL, RAX, jr(RCX), RDX), 0xc4, 0xe2, 0xe9, 0xf7, 0xc1);
    ENC(jx_shx(&e, true, SHX_SHR, R9, jm(RBX, 0x48), R11), 0xc4, 0x62, 0xa3, 0xf7, 0x4b, 0x48);
    ENC(jx_shx(&e, false, SHX_SAR, RAX, jr(R12), RSI), 0xc4, 0xc2, 0x4a, 0xf7, 0xc4);
    ENC(jx_shx(&e, false, SHX_SHL, R10, jm(RBX, 0x100), R14), 0xc4, 0x62, 0x09, 0xf7, 0x93, 0x00, 0x01, 0x00, 0x00);
    /* jumps: rel32 from the end of the jump */
    uint32_t at = jx_jcc(&e, CC_NE);
    jx_patch(&e, at, at + 4 + 0x10);
    assert_memory_equal(e.buf + at - 2, ((const uint8_t[]){ 0x0f, 0x85, 0x10, 0, 0, 0 }), 6);
    /* writes stop at the end; the overflow is seen */
    struct jx small = { buf, buf, buf + 3 };
    assert_false(jx_overflow(&small));
    jx_mov_imm(&small, RAX, 0x1122334455667788ULL);
    assert_true(jx_overflow(&small));
}

/* ---- the translator against the interpreter ---- */
#define BASE 0x10000ULL
#define SIZE 0x10000ULL
#define DATA (BASE + 0x7f00)          /* x31: loads and stores around it cross 0x18000 */
static uint8_t *cur;                  /* the space of the hart that runs */

static int fill(struct rv_hart *h, uint64_t va, enum rv_access acc, uintptr_t *addend, uint64_t *pa)
{
    (void)h; (void)pa;
    if (va < BASE || va >= BASE + SIZE)
        return acc == RV_ACC_READ ? -RV_EXC_LOAD_PAGE : acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE
                                                                           : -RV_EXC_INSN_PAGE;
    *addend = (uintptr_t)cur - BASE;
    return 0;
}
static const struct rv_mem_ops ops = { .fill_tlb = fill };

/* Direct access: guest [0, RSIZE) at host resv + va, of which only [BASE,
 * BASE + SIZE) is mapped; pages holding decoded code are made read-only
 * and made writable again by a store's fill (the user-mode contract). */
#define RSIZE (1ULL << 20)
static uint8_t *resv;
static struct rv_hart *cur_h;
static bool ro[SIZE / 4096];

static int fill_direct(struct rv_hart *h, uint64_t va, enum rv_access acc, uintptr_t *addend, uint64_t *pa)
{
    int r = fill(h, va, acc, addend, pa);
    if (!r && acc == RV_ACC_WRITE && ro[(va - BASE) / 4096]) {
        ro[(va - BASE) / 4096] = false;
        mprotect(resv + (va & ~0xfffULL), 4096, PROT_READ | PROT_WRITE);
    }
    return r;
}
static void code_page(void *opaque, uint64_t va)
{
    (void)opaque;
    if (va >= BASE && va < BASE + SIZE && !ro[(va - BASE) / 4096]) {
        ro[(va - BASE) / 4096] = true;
        mprotect(resv + va, 4096, PROT_READ);
    }
}
static struct rv_mem_ops ops_direct = { .fill_tlb = fill_direct, .code_page = code_page,
                                        .direct_size = RSIZE };

static void on_host_fault(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    if (cur_h && rv_jit_host_fault(cur_h, uc))
        return;
    signal(sig, SIG_DFL);
}

static uint8_t *direct_space(void)
{
    /* guards of 64 KiB below and 1 MiB above, as user mode's */
    uint8_t *p = mmap(NULL, (64u << 10) + RSIZE + (1u << 20), PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(p != MAP_FAILED);
    resv = p + (64u << 10);
    assert_true(mprotect(resv + BASE, SIZE, PROT_READ | PROT_WRITE) == 0);
    ops_direct.direct_base = resv;
    struct sigaction sa = { .sa_sigaction = on_host_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    return resv + BASE;
}

static void direct_space_free(void)
{
    munmap(resv - (64u << 10), (64u << 10) + RSIZE + (1u << 20));
    resv = NULL;
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
}

/* The three guest spaces of a comparison: interpreted, translated through
 * the TLB, translated with direct access. */
struct spaces {
    uint8_t *si, *st, *sd;
};
static void spaces_open(struct spaces *sp)
{
    sp->si = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sp->st = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(sp->si != MAP_FAILED && sp->st != MAP_FAILED);
    sp->sd = direct_space();
}
static void spaces_close(struct spaces *sp)
{
    munmap(sp->si, SIZE);
    munmap(sp->st, SIZE);
    direct_space_free();
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

static uint32_t r_type(unsigned op, unsigned f3, unsigned f7, unsigned rd, unsigned rs1, unsigned rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t i_type(unsigned op, unsigned f3, unsigned rd, unsigned rs1, int imm)
{
    return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t s_type(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int imm)
{
    return (uint32_t)((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (uint32_t)(imm & 31) << 7 | op;
}
static uint32_t b_type(unsigned f3, unsigned rs1, unsigned rs2, int off)
{
    uint32_t o = (uint32_t)off;
    return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           ((o >> 1) & 0xf) << 8 | ((o >> 11) & 1) << 7 | 0x63;
}
static uint32_t jal(unsigned rd, int off)
{
    uint32_t o = (uint32_t)off;
    return ((o >> 20) & 1) << 31 | ((o >> 1) & 0x3ff) << 21 | ((o >> 11) & 1) << 20 |
           ((o >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}
#define ECALL 0x00000073u

/* R-type ops: opcode, funct3, funct7 (rs2 fixed for zext.h) */
static const struct { uint8_t op, f3, f7; } rops[] = {
    { 0x33, 0, 0 }, { 0x33, 0, 0x20 }, { 0x33, 1, 0 }, { 0x33, 2, 0 }, { 0x33, 3, 0 },
    { 0x33, 4, 0 }, { 0x33, 5, 0 }, { 0x33, 5, 0x20 }, { 0x33, 6, 0 }, { 0x33, 7, 0 },
    { 0x33, 0, 1 }, { 0x33, 1, 1 }, { 0x33, 2, 1 }, { 0x33, 3, 1 }, { 0x33, 4, 1 },
    { 0x33, 5, 1 }, { 0x33, 6, 1 }, { 0x33, 7, 1 },
    { 0x3b, 0, 0 }, { 0x3b, 0, 0x20 }, { 0x3b, 1, 0 }, { 0x3b, 5, 0 }, { 0x3b, 5, 0x20 },
    { 0x3b, 0, 1 }, { 0x3b, 4, 1 }, { 0x3b, 5, 1 }, { 0x3b, 6, 1 }, { 0x3b, 7, 1 },
    { 0x3b, 0, 4 }, { 0x33, 2, 0x10 }, { 0x33, 4, 0x10 }, { 0x33, 6, 0x10 },
    { 0x3b, 2, 0x10 }, { 0x3b, 4, 0x10 }, { 0x3b, 6, 0x10 },
    { 0x33, 7, 0x20 }, { 0x33, 6, 0x20 }, { 0x33, 4, 0x20 }, { 0x33, 6, 5 }, { 0x33, 7, 5 },
    { 0x33, 4, 5 }, { 0x33, 5, 5 }, { 0x33, 1, 0x30 }, { 0x33, 5, 0x30 }, { 0x3b, 1, 0x30 },
    { 0x3b, 5, 0x30 }, { 0x33, 1, 0x24 }, { 0x33, 5, 0x24 }, { 0x33, 1, 0x34 }, { 0x33, 1, 0x14 },
};
/* I-type ops: opcode, funct3, fixed high immediate bits, shamt mask (0: a
 * random 12-bit immediate) */
static const struct { uint8_t op, f3; uint16_t hi, sh; } iops[] = {
    { 0x13, 0, 0, 0 }, { 0x13, 2, 0, 0 }, { 0x13, 3, 0, 0 }, { 0x13, 4, 0, 0 }, { 0x13, 6, 0, 0 },
    { 0x13, 7, 0, 0 }, { 0x13, 1, 0, 63 }, { 0x13, 5, 0, 63 }, { 0x13, 5, 0x400, 63 },
    { 0x1b, 0, 0, 0 }, { 0x1b, 1, 0, 31 }, { 0x1b, 5, 0, 31 }, { 0x1b, 5, 0x400, 31 },
    { 0x13, 1, 0x600, 0x100 }, { 0x13, 1, 0x601, 0x100 }, { 0x13, 1, 0x602, 0x100 },
    { 0x13, 1, 0x604, 0x100 }, { 0x13, 1, 0x605, 0x100 }, { 0x13, 5, 0x600, 63 },
    { 0x13, 5, 0x6b8, 0x100 }, { 0x1b, 1, 0x600, 0x100 }, { 0x1b, 1, 0x601, 0x100 },
    { 0x1b, 1, 0x602, 0x100 }, { 0x1b, 5, 0x600, 31 }, { 0x1b, 1, 0x080, 63 },
    { 0x13, 1, 0x480, 63 }, { 0x13, 5, 0x480, 63 }, { 0x13, 1, 0x680, 63 }, { 0x13, 1, 0x280, 63 },
};

static unsigned rreg(void) { return pick(4) == 0 ? pick(32) : 1 + pick(8); }   /* reuse a few */
static unsigned wreg(void) { return pick(16) == 0 ? 0 : 1 + pick(pick(2) ? 8 : 27); }

/* One random instruction at p[*n] (may emit a few). */
static void gen_one(uint32_t *p, unsigned *n, unsigned room)
{
    unsigned k = *n, c = pick(100);
    if (c < 35) {
        unsigned o = pick(sizeof(rops) / sizeof(rops[0]));
        unsigned rs2 = rops[o].op == 0x3b && rops[o].f7 == 4 && rops[o].f3 == 4 ? 0 : rreg();
        p[k++] = r_type(rops[o].op, rops[o].f3, rops[o].f7, wreg(), rreg(), rs2);
    } else if (c < 60) {
        unsigned o = pick(sizeof(iops) / sizeof(iops[0]));
        int imm = iops[o].sh == 0 ? (int)pick(4096) - 2048 :
                  iops[o].sh == 0x100 ? iops[o].hi : (int)(iops[o].hi | (pick(64) & iops[o].sh));
        p[k++] = i_type(iops[o].op, iops[o].f3, wreg(), rreg(), imm);
    } else if (c < 63 && room > 2) {   /* zext.w / sext.w as a shift pair */
        unsigned d = wreg();
        p[k++] = i_type(0x13, 1, d, rreg(), 32);
        if (pick(2) && room > 4) {     /* interleaved: another op between the two */
            unsigned o = pick(sizeof(rops) / sizeof(rops[0]));
            p[k++] = r_type(rops[o].op, rops[o].f3, rops[o].f7, wreg(), rreg(), rops[o].f7 == 4 ? 0 : rreg());
        }
        p[k++] = i_type(0x13, 5, d, pick(4) ? d : rreg(), pick(2) ? 32 : 0x400 | 32);
    } else if (c < 66 && room > 4) {   /* a W op's result zero-extended (slli/srli 32),
                                        * maybe with another op between, or not quite
                                        * that pattern (srai, another register) */
        static const struct { uint8_t op, f3, f7; } wops[] = {
            { 0x3b, 0, 0 }, { 0x3b, 0, 0x20 }, { 0x3b, 1, 0 }, { 0x3b, 5, 0 }, { 0x3b, 5, 0x20 },
        };
        unsigned d = 1 + pick(8), o = pick(7);
        if (o < 5)
            p[k++] = r_type(wops[o].op, wops[o].f3, wops[o].f7, d, rreg(), rreg());
        else if (o == 5)
            p[k++] = i_type(0x1b, 0, d, rreg(), (int)pick(4096) - 2048);             /* addiw */
        else {                         /* slliw, srliw, sraiw (a count of 0 too) */
            unsigned f3 = pick(2) ? 1 : 5;
            p[k++] = i_type(0x1b, f3, d, rreg(), (int)pick(32) | (f3 == 5 && pick(2) ? 0x400 : 0));
        }
        p[k++] = i_type(0x13, 1, d, pick(8) ? d : rreg(), 32);
        if (pick(2)) {
            unsigned o2 = pick(sizeof(rops) / sizeof(rops[0]));
            p[k++] = r_type(rops[o2].op, rops[o2].f3, rops[o2].f7, pick(6) ? wreg() : d, rreg(), rops[o2].f7 == 4 ? 0 : rreg());
        }
        p[k++] = i_type(0x13, 5, pick(8) ? d : wreg(), pick(8) ? d : rreg(), pick(6) ? 32 : 0x400 | 32);
    } else if (c < 67) {
        p[k++] = (uint32_t)(rnd() & 0xfffff000u) | wreg() << 7 | (pick(2) ? 0x37 : 0x17);  /* lui/auipc */
    } else if (c < 72 && room > 4) {   /* accesses through one base in a row (the
                                        * direct path checks it once), the base
                                        * sometimes overwritten between */
        p[k++] = i_type(0x13, 0, 27, 31, (int)pick(64) - 32);             /* addi x27, x31, d */
        for (unsigned a = 1 + pick(3); a > 0; a--) {
            int imm = pick(2) ? 0xf8 + (int)pick(12) : (int)pick(4096) - 2048;
            unsigned rd = pick(4) ? wreg() : 27;
            p[k++] = pick(2) ? i_type(0x03, pick(7), rd, 27, imm) : s_type(0x23, pick(4), 27, rreg(), imm);
        }
    } else if (c < 76) {               /* loads, x31-relative, often across 0x18000 */
        int imm = pick(2) ? 0xf8 + (int)pick(12) : (int)pick(4096) - 2048;
        p[k++] = i_type(0x03, pick(7), wreg(), 31, imm);
    } else if (c < 82) {
        int imm = pick(2) ? 0xf8 + (int)pick(12) : (int)pick(4096) - 2048;
        p[k++] = s_type(0x23, pick(4), 31, rreg(), imm);
    } else if (c < 84) {               /* A: x31-relative (aligned), or through any register */
        static const uint8_t f5[] = { 1, 0, 4, 12, 8, 16, 20, 24, 28, 2, 3 };
        unsigned o = pick(sizeof(f5)), rs2 = f5[o] == 2 ? 0 : rreg();
        p[k++] = r_type(0x2f, 2 + pick(2), (unsigned)f5[o] << 2 | pick(4), wreg(), pick(8) ? 31 : rreg(), rs2);
    } else if (c < 88) {               /* FP: loads, stores, arithmetic, moves, conversions */
        int imm = 0xf8 + (int)pick(12);
        unsigned f = pick(8);
        switch (pick(13)) {
        case 0: p[k++] = i_type(0x07, 2 + pick(2), f, 31, imm); break;
        case 1: p[k++] = s_type(0x27, 2 + pick(2), 31, f, imm); break;
        case 2: p[k++] = r_type(0x53, 0, 0x01, f, pick(8), pick(8)); break;      /* fadd.d */
        case 3: p[k++] = r_type(0x53, 0, 0x71, wreg(), f, 0); break;             /* fmv.x.d */
        case 4: p[k++] = r_type(0x53, 2, 0x51, wreg(), f, pick(8)); break;       /* feq.d */
        case 5: p[k++] = r_type(0x53, 0, 0x79, f, rreg(), 0); break;             /* fmv.d.x */
        case 6: p[k++] = r_type(0x43, 0, (pick(8) << 2) | 1, f, pick(8), pick(8)); break; /* fmadd.d */
        case 7: p[k++] = r_type(0x53, 1, 0x61, wreg(), f, 2); break;             /* fcvt.l.d rtz */
        case 8: p[k++] = r_type(0x53, pick(2) ? 0 : 7, (pick(4) << 2) | 1, f, pick(8), pick(8)); break; /* fadd..fdiv.d */
        case 9: p[k++] = r_type(0x53, pick(3), 0x11, f, pick(8), pick(8)); break; /* fsgnj*.d */
        case 10: p[k++] = r_type(0x53, pick(2), 0x61, wreg(), f, 0); break;      /* fcvt.w.d */
        case 11: p[k++] = r_type(0x53, 7, 0x20, f, pick(8), 1); break;            /* fcvt.s.d */
        default: p[k++] = r_type(0x53, 7, 0x69, f, rreg(), 2); break;            /* fcvt.d.l */
        }
    } else if (c < 95 && room > 4) {   /* a forward branch over 1..3 instructions */
        static const unsigned f3[6] = { 0, 1, 4, 5, 6, 7 };
        unsigned a = pick(3) ? rreg() : 0, b = a && pick(3) ? rreg() : 0;   /* x0 on either side */
        p[k++] = b_type(f3[pick(6)], pick(2) ? a : b, pick(2) ? b : a, 4 * (2 + (int)pick(3)));
    } else if (c < 97 && room > 3) {   /* jal over one, or a call through auipc + jalr */
        if (pick(2)) {
            p[k++] = jal(wreg(), 8);
        } else {
            p[k++] = 0x17 | 28 << 7;                          /* auipc x28, 0 */
            p[k++] = i_type(0x67, 0, wreg(), 28, 12);         /* jalr rd, 12(x28) */
        }
    } else if (room > 6) {             /* a store over an instruction ahead */
        p[k++] = 0x17 | 29 << 7;                              /* auipc x29, 0 */
        p[k++] = i_type(0x13, 0, 28, 0, 0x13);                /* x28 = nop */
        p[k++] = s_type(0x23, 2, 29, 28, 16);                 /* sw x28, 16(x29) */
        if (pick(2))
            p[k++] = 0x0000100fu;                             /* fence.i */
    } else {
        p[k++] = i_type(0x13, 0, wreg(), rreg(), (int)pick(100));
    }
    *n = k;
}

/* A program: a prologue, a counted loop over random instructions, an
 * epilogue, ecall; sometimes a load from an unmapped address. */
static unsigned gen_prog(uint32_t *p, unsigned max)
{
    unsigned n = 0;
    p[n++] = i_type(0x13, 0, 30, 0, 1 + (int)pick(20));      /* x30 = iterations */
    for (unsigned k = pick(6); k > 0; k--)
        gen_one(p, &n, max - n);
    unsigned head = n;
    for (unsigned k = 2 + pick(30); k > 0 && n + 12 < max; k--)
        gen_one(p, &n, max - n - 8);
    p[n++] = i_type(0x13, 0, 30, 30, -1);
    p[n] = b_type(1, 30, 0, -4 * (int)(n - head));            /* bnez x30, head */
    n++;
    for (unsigned k = pick(6); k > 0 && n + 8 < max; k--)
        gen_one(p, &n, max - n - 4);
    if (pick(8) == 0)
        p[n++] = i_type(0x03, 3, 5, 0, 0x100);                /* ld x5, 0x100(x0): faults */
    p[n++] = ECALL;
    return n;
}

struct run {
    enum rv_exit ex[64];
    uint64_t pc[64], instret[64], x[64][32], f[64][32];
    uint32_t fflags[64];
    uint64_t cause, tval;
    unsigned nex;
};

/* Run one hart on space sp until ecall, a fault or 64 exits; budget 0 =
 * none, else a budget cycling through small values. */
static void run_on(struct rv_machine *m, uint8_t *sp, const uint64_t *x0, unsigned budget, struct run *r)
{
    cur = sp;
    struct rv_hart *h = rv_hart_new(m, 0);
    cur_h = h;
    if (resv && sp == resv + BASE) {
        memset(ro, 0, sizeof(ro));
        mprotect(sp, SIZE, PROT_READ | PROT_WRITE);
    }
    rv_hart_reset(h, BASE);
    for (unsigned k = 1; k < 32; k++) {
        rv_set_x(h, k, x0[k]);
        rv_set_f(h, k, x0[k] * 0x9e3779b97f4a7c15ULL);
    }
    rv_set_x(h, 31, DATA);
    memset(r, 0, sizeof(*r));
    for (r->nex = 0; r->nex < 64;) {
        enum rv_exit e = rv_run(h, budget ? 1 + (budget + r->nex * 7) % 23 : 20000);
        unsigned j = r->nex++;
        r->ex[j] = e;
        r->pc[j] = rv_get_pc(h);
        r->instret[j] = rv_instret(h);
        r->fflags[j] = h->fp.fflags;
        for (unsigned k = 0; k < 32; k++) {
            r->x[j][k] = rv_get_x(h, k);
            r->f[j][k] = rv_get_f(h, k);
        }
        if (e == RV_EXIT_FAULT)
            rv_hart_exception(h, &r->cause, &r->tval);
        if (e != RV_EXIT_BUDGET || !budget)
            break;              /* !budget: a loop that does not end */
    }
    cur_h = NULL;
    rv_hart_free(h);
}

static void compare(const struct run *a, const struct run *b, unsigned prog)
{
    if (a->nex != b->nex)
        fail_msg("program %u: %u exits interpreted, %u translated", prog, a->nex, b->nex);
    for (unsigned j = 0; j < a->nex; j++) {
        if (getenv("JIT_DUMP"))
            for (unsigned k = 0; k < 32; k++)
                if (a->x[j][k] != b->x[j][k] || a->f[j][k] != b->f[j][k])
                    fprintf(stderr, "x%u/f%u differ: %#llx/%#llx vs %#llx/%#llx\n", k, k,
                         (unsigned long long)a->x[j][k], (unsigned long long)a->f[j][k],
                         (unsigned long long)b->x[j][k], (unsigned long long)b->f[j][k]);
        if (a->fflags[j] != b->fflags[j])
            fail_msg("program %u exit %u: fflags %#x interpreted, %#x translated", prog, j, a->fflags[j], b->fflags[j]);
        if (a->ex[j] != b->ex[j] || a->pc[j] != b->pc[j] || a->instret[j] != b->instret[j])
            fail_msg("program %u exit %u: interpreter %d pc %#llx instret %llu, translator %d pc %#llx instret %llu",
                     prog, j, a->ex[j], (unsigned long long)a->pc[j], (unsigned long long)a->instret[j],
                     b->ex[j], (unsigned long long)b->pc[j], (unsigned long long)b->instret[j]);
        for (unsigned k = 0; k < 32; k++)
            if (a->x[j][k] != b->x[j][k] || a->f[j][k] != b->f[j][k])
                fail_msg("program %u exit %u: x%u/f%u differ: %#llx/%#llx vs %#llx/%#llx", prog, j, k, k,
                         (unsigned long long)a->x[j][k], (unsigned long long)a->f[j][k],
                         (unsigned long long)b->x[j][k], (unsigned long long)b->f[j][k]);
    }
    if (a->cause != b->cause || a->tval != b->tval)
        fail_msg("program %u: exception %llu/%#llx vs %llu/%#llx", prog, (unsigned long long)a->cause,
                 (unsigned long long)a->tval, (unsigned long long)b->cause, (unsigned long long)b->tval);
}

static struct rv_machine *machine(bool jit, uint32_t threshold)
{
    struct rv_machine *m = rv_machine_new_user(&ops);
    m->jit = jit;
    m->jit_threshold = threshold;
    return m;
}
static struct rv_machine *machine_direct(uint32_t threshold)
{
    struct rv_machine *m = rv_machine_new_user(&ops_direct);
    m->jit = true;
    m->jit_threshold = threshold;
    return m;
}

static void test_translator_vs_interpreter(void **state)
{
    (void)state;
    struct rv_machine *mi = machine(false, 0), *mj = machine(true, 0), *mt = machine(true, 3);
    struct rv_machine *md = machine_direct(0), *mdt = machine_direct(3);
    struct spaces sp;
    spaces_open(&sp);
    uint8_t *si = sp.si, *st = sp.st, *sd = sp.sd;
    static struct run ri, rj;
    static uint32_t prog[1024];
    unsigned ecalls = 0, faults = 0;
    for (unsigned p = 0; p < 2000; p++) {
        unsigned n = gen_prog(prog, 200);
        uint64_t x0[32];
        for (unsigned k = 0; k < 32; k++)
            x0[k] = pick(4) ? rnd() : pick(3) ? (uint64_t)(int64_t)(int)pick(9) - 4 : 1ULL << 63;
        uint8_t data[SIZE / 2];
        for (size_t k = 0; k < sizeof(data); k++)
            data[k] = (uint8_t)rnd();
        unsigned budget = p % 3 == 2 ? 1 + pick(50) : 0;
        /* the translator: through the TLB or direct, from the first run or
         * after 3 (the interpreter first) */
        struct rv_machine *mx = (p / 2) % 2 ? (p % 2 ? mj : mt) : (p % 2 ? md : mdt);
        uint8_t *sj = (p / 2) % 2 ? st : sd;
        if (sj == sd)
            mprotect(sd, SIZE, PROT_READ | PROT_WRITE);
        for (int s = 0; s < 2; s++) {
            uint8_t *sp = s ? sj : si;
            memset(sp, 0, SIZE / 2);
            memcpy(sp, prog, n * 4);
            memcpy(sp + SIZE / 2, data, sizeof(data));
            if (s) {
                rv_invalidate_code(mx, 0, ~0ULL);
                run_on(mx, sp, x0, budget, &rj);
            } else {
                rv_invalidate_code(mi, 0, ~0ULL);
                run_on(mi, sp, x0, budget, &ri);
            }
        }
        /* JIT_DUMP=N: program N to /tmp/jit-prog.bin (objdump -b binary) */
        if (getenv("JIT_DUMP") && (unsigned)atoi(getenv("JIT_DUMP")) == p) {
            FILE *f = fopen("/tmp/jit-prog.bin", "wb");
            fwrite(prog, 4, n, f);
            fclose(f);
        }
        compare(&ri, &rj, p);
        if (memcmp(si, sj, SIZE))
            fail_msg("program %u: memory differs", p);
        ecalls += ri.ex[ri.nex - 1] == RV_EXIT_ECALL;
        faults += ri.ex[ri.nex - 1] == RV_EXIT_FAULT;
    }
    /* the programs must mostly run to their ecall, and some must fault */
    assert_true(ecalls > 1000);
    assert_true(faults > 50);
    spaces_close(&sp);
    rv_machine_free(mi);
    rv_machine_free(mj);
    rv_machine_free(mt);
    rv_machine_free(md);
    rv_machine_free(mdt);
}

/* ---- branches against x0 right after the ALU op that wrote their
 * register (jit_ops.c reuses that op's flags instead of a test: ZF and
 * SF after add and sub, all of them after and, or, xor and a test), and
 * a second branch on the same register, sometimes with a zext.w pair
 * between (the W op's flags are then not the register's); operands at
 * the edges of signed overflow, in a loop whose bnez follows its
 * counter's addi ---- */
static const uint64_t edge[] = {
    0, 1, ~0ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL, 0x7fffffffULL, 0x80000000ULL,
    0xffffffff80000000ULL, 0xffffffff7fffffffULL, 0x100000000ULL, 2, 0xfffffffffffffffeULL,
};
static unsigned gen_flags_prog(uint32_t *p, unsigned max)
{
    static const struct { uint8_t op, f3, f7; } ops[] = {
        { 0x33, 0, 0 }, { 0x33, 0, 0x20 }, { 0x33, 4, 0 }, { 0x33, 6, 0 }, { 0x33, 7, 0 },
        { 0x3b, 0, 0 }, { 0x3b, 0, 0x20 },
    };
    static const unsigned f3[6] = { 0, 1, 4, 5, 6, 7 };
    unsigned n = 0;
    p[n++] = i_type(0x13, 0, 30, 0, 1 + (int)pick(8));      /* x30 = iterations */
    unsigned head = n;
    for (unsigned k = 2 + pick(12); k > 0 && n + 12 < max; k--) {
        unsigned rd = 1 + pick(6);
        if (pick(3)) {
            unsigned o = pick(sizeof(ops) / sizeof(ops[0]));
            p[n++] = r_type(ops[o].op, ops[o].f3, ops[o].f7, rd, 1 + pick(6), 1 + pick(6));
        } else {
            static const uint8_t iop[][2] = { { 0x13, 0 }, { 0x13, 4 }, { 0x13, 6 }, { 0x13, 7 }, { 0x1b, 0 } };
            unsigned o = pick(5);
            int imm = pick(2) ? (int)pick(5) - 2 : (int)pick(4096) - 2048;
            p[n++] = i_type(iop[o][0], iop[o][1], rd, 1 + pick(6), imm);
        }
        if (pick(3) == 0) {                /* zext.w of it as a shift pair (folded into a W op) */
            p[n++] = i_type(0x13, 1, rd, rd, 32);
            p[n++] = i_type(0x13, 5, rd, rd, 32);
        }
        for (unsigned b = 1 + pick(2); b > 0; b--) {
            bool left = pick(2);           /* rd OP x0, or x0 OP rd */
            p[n++] = b_type(f3[pick(6)], left ? rd : 0, left ? 0 : rd, 8);
            p[n++] = i_type(0x13, 0, 20 + pick(8), 20 + pick(8), 1 + (int)pick(9));   /* skipped or not */
        }
    }
    p[n++] = i_type(0x13, 0, 30, 30, -1);
    p[n] = b_type(1, 30, 0, -4 * (int)(n - head));            /* bnez x30, head */
    n++;
    p[n++] = ECALL;
    return n;
}

static void test_flags_vs_interpreter(void **state)
{
    (void)state;
    struct rv_machine *mi = machine(false, 0), *mj = machine(true, 0), *md = machine_direct(0);
    struct spaces sp;
    spaces_open(&sp);
    static struct run ri, rj;
    static uint32_t prog[256];
    for (unsigned p = 0; p < 1500; p++) {
        unsigned n = gen_flags_prog(prog, 200);
        uint64_t x0[32];
        for (unsigned k = 0; k < 32; k++)
            x0[k] = pick(4) ? edge[pick(sizeof(edge) / 8)] : rnd();
        unsigned budget = p % 3 == 2 ? 1 + pick(50) : 0;
        struct rv_machine *mx = p % 2 ? md : mj;
        uint8_t *sj = p % 2 ? sp.sd : sp.st;
        if (sj == sp.sd)
            mprotect(sj, SIZE, PROT_READ | PROT_WRITE);
        for (int s = 0; s < 2; s++) {
            uint8_t *space = s ? sj : sp.si;
            memset(space, 0, SIZE);
            memcpy(space, prog, n * 4);
            rv_invalidate_code(s ? mx : mi, 0, ~0ULL);
            run_on(s ? mx : mi, space, x0, budget, s ? &rj : &ri);
        }
        compare(&ri, &rj, p);
    }
    spaces_close(&sp);
    rv_machine_free(mi);
    rv_machine_free(mj);
    rv_machine_free(md);
}

/* ---- F/D: each translated path (jit_fp.c's fast paths and the call
 * they fall back to) against the interpreter, in every rounding mode
 * (static and dynamic, with valid and invalid frm), with NX accrued or
 * not, on special values (zeros, subnormals, the smallest normals, inf,
 * quiet and signaling NaNs, values that convert out of range, unboxed
 * singles) and on random ones ---- */
static const uint64_t fvals_d[] = {
    0, 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0xbff8000000000000ULL, 0x4008000000000000ULL,
    0x7fefffffffffffffULL, 0xffefffffffffffffULL, 0x0010000000000000ULL, 0x8010000000000000ULL,
    0x0020000000000000ULL, 0x0018000000000000ULL, 0x001fffffffffffffULL, 0x000fffffffffffffULL,
    0x0000000000000001ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL,
    0x7ff0000000000001ULL, 0xfff8000000000001ULL, 0x3fb999999999999aULL, 0x3fd5555555555555ULL,
    0x43e0000000000000ULL, 0xc3e0000000000000ULL, 0x41e0000000000000ULL, 0xc1e0000000100000ULL,
    0xc1dfffffffffffffULL, 0x41efffffffff0000ULL, 0x3fe0000000000000ULL, 0x4004000000000000ULL,
    0xc004000000000000ULL, 0x01a56e1fc2f8f359ULL, 0x7e37e43c8800759cULL, 0x3ff0000000000001ULL,
    0x47efffffe0000000ULL, 0x47efffffffffffffULL, 0x3810000000000000ULL, 0x380fffffffffffffULL,
    0x36a0000000000000ULL, 0x5fe0000000000000ULL, 0x2000000000000000ULL,
};
static const uint32_t fvals_s[] = {
    0, 0x80000000, 0x3f800000, 0xbfc00000, 0x40400000, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000,
    0x01000000, 0x00c00000, 0x00ffffff, 0x007fffff, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00000,
    0x7f800001, 0xffc00001, 0x3dcccccd, 0x3eaaaaab, 0x5f000000, 0xdf000000, 0x4f000000, 0xcf000000,
    0xcf000001, 0x3f000000, 0x40200000, 0xc0200000, 0x1f800000, 0x5f7fffff, 0x3f800001,
};
static const uint64_t ivals[] = {
    0, 1, ~0ULL, 0x80000000ULL, 0xffffffff80000000ULL, 0x7fffffffULL, 0x8000000000000000ULL,
    0x7fffffffffffffffULL, (1ULL << 53) + 1, 0xffffffffULL, 3, 0xfffffffffffffffdULL, 1ULL << 24 | 1,
};

/* A value for an f register: special, "nice" (exponent near 1, or near
 * the ends of the range), or random bits; singles mostly NaN-boxed. */
static uint64_t fval(bool d)
{
    unsigned c = pick(16);
    uint64_t sign = pick(2);
    if (d) {
        if (c < 5)
            return fvals_d[pick(sizeof(fvals_d) / 8)];
        if (c == 15)
            return rnd();
        unsigned ex = c == 14 ? 1 + pick(4) : c == 13 ? 0x7fa + pick(5) : 0x3ff - 40 + pick(80);
        return sign << 63 | (uint64_t)ex << 52 | (rnd() >> 12 & (pick(3) ? ~0ULL : 0xfff0000000000ULL));
    }
    uint32_t v;
    if (c < 5)
        v = fvals_s[pick(sizeof(fvals_s) / 4)];
    else if (c == 15)
        return pick(2) ? rnd() : (uint32_t)rnd();       /* not boxed */
    else if (c == 12)
        v = (uint32_t)rnd();
    else {
        unsigned ex = c == 14 ? 1 + pick(4) : c == 13 ? 0xfa + pick(5) : 0x7f - 20 + pick(40);
        v = (uint32_t)sign << 31 | ex << 23 | ((uint32_t)rnd() & (pick(3) ? 0x7fffffu : 0x7f0000u));
    }
    return 0xffffffff00000000ULL | v;
}

struct fp_state {
    enum rv_exit ex;
    uint64_t pc, instret, x[32], f[32], cause, tval, mstatus;
    uint32_t fflags, frm;
};

static void fp_run(struct rv_hart *h, const uint64_t *x, const uint64_t *f, uint32_t fflags, uint32_t frm,
                   struct fp_state *r)
{
    for (unsigned k = 1; k < 32; k++) {
        rv_set_x(h, k, x[k]);
        rv_set_f(h, k, f[k]);
    }
    rv_set_f(h, 0, f[0]);
    h->fp.fflags = fflags;
    h->fp.frm = frm;
    rv_set_pc(h, BASE);
    memset(r, 0, sizeof(*r));
    r->ex = rv_run(h, 0);
    r->pc = rv_get_pc(h);
    r->instret = rv_instret(h);
    for (unsigned k = 0; k < 32; k++) {
        r->x[k] = rv_get_x(h, k);
        r->f[k] = rv_get_f(h, k);
    }
    r->fflags = h->fp.fflags;
    r->frm = h->fp.frm;
    r->mstatus = h->mstatus;
    if (r->ex == RV_EXIT_FAULT)
        rv_hart_exception(h, &r->cause, &r->tval);
}

/* instruction templates: opcode, funct7 without fmt, rs2 (or rs3 << 2 for the
 * fused ops: funct7 holds it), the rm values that exist (a mask) */
static const struct { uint8_t opc, f7, rs2; uint8_t rms; bool xrd, xrs1, rs1_is_rs2; } fp_tmpl[] = {
    { 0x53, 0x00, 2, 0xff }, { 0x53, 0x04, 2, 0xff }, { 0x53, 0x08, 2, 0xff }, { 0x53, 0x0c, 2, 0xff },
    { 0x53, 0x2c, 0, 0xff }, { 0x53, 0x2c, 1, 0x01 },                   /* fsqrt; rs2 != 0: illegal */
    { 0x53, 0x10, 2, 0x0f }, { 0x53, 0x10, 2, 0x07, .rs1_is_rs2 = true },      /* fsgnj* (rm 3: illegal) */
    { 0x53, 0x14, 2, 0x07 },                                              /* fmin, fmax */
    { 0x53, 0x20, 1, 0xff }, { 0x53, 0x20, 0, 0xff },                   /* fcvt.s.d / fcvt.d.s (fmt picks) */
    { 0x53, 0x50, 2, 0x0f, .xrd = true }, { 0x53, 0x50, 2, 0x07, .xrd = true, .rs1_is_rs2 = true },
    { 0x53, 0x60, 0, 0xff, .xrd = true }, { 0x53, 0x60, 1, 0xff, .xrd = true },
    { 0x53, 0x60, 2, 0xff, .xrd = true }, { 0x53, 0x60, 3, 0xff, .xrd = true },
    { 0x53, 0x68, 0, 0xff, .xrs1 = true }, { 0x53, 0x68, 1, 0xff, .xrs1 = true },
    { 0x53, 0x68, 2, 0xff, .xrs1 = true }, { 0x53, 0x68, 3, 0xff, .xrs1 = true },
    { 0x53, 0x70, 0, 0x03, .xrd = true }, { 0x53, 0x70, 1, 0x01, .xrd = true },  /* fmv.x, fclass */
    { 0x53, 0x78, 0, 0x03, .xrs1 = true },                                       /* fmv.f.x */
    { 0x43, 0x10, 2, 0xff }, { 0x47, 0x10, 2, 0xff }, { 0x4b, 0x10, 2, 0xff }, { 0x4f, 0x10, 2, 0xff },
    { 0x73, 0, 0, 0xee }, { 0x73, 0, 0, 0xee }, { 0x73, 0, 0, 0xee },  /* csrr* on fflags, frm, fcsr, others */
};

static void fp_compare(const struct fp_state *a, const struct fp_state *b, uint32_t insn, uint64_t f1,
                       uint64_t f2, uint32_t fflags, uint32_t frm)
{
    bool same = a->ex == b->ex && a->pc == b->pc && a->instret == b->instret && a->fflags == b->fflags &&
                a->frm == b->frm && a->mstatus == b->mstatus && a->cause == b->cause && a->tval == b->tval && !memcmp(a->x, b->x, sizeof(a->x)) &&
                !memcmp(a->f, b->f, sizeof(a->f));
    if (same)
        return;
    unsigned k = 0;
    while (k < 31 && a->x[k] == b->x[k] && a->f[k] == b->f[k])
        k++;
    fail_msg("insn %#010x f1 %#llx f2 %#llx fflags %#x frm %u: interpreter exit %d pc %#llx fflags %#x "
             "frm %u x%u/f%u %#llx/%#llx, translator exit %d pc %#llx fflags %#x frm %u %#llx/%#llx", insn,
             (unsigned long long)f1, (unsigned long long)f2, fflags, frm, a->ex, (unsigned long long)a->pc,
             a->fflags, a->frm, k, k, (unsigned long long)a->x[k], (unsigned long long)a->f[k], b->ex,
             (unsigned long long)b->pc, b->fflags, b->frm, (unsigned long long)b->x[k],
             (unsigned long long)b->f[k]);
}

static void test_fp_vs_interpreter(void **state)
{
    (void)state;
    struct rv_machine *mi = machine(false, 0), *mj = machine(true, 0);
    uint8_t *si = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *sj = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(si != MAP_FAILED && sj != MAP_FAILED);
    static struct fp_state ri, rj;
    unsigned runs = 0;
    for (unsigned t = 0; t < sizeof(fp_tmpl) / sizeof(fp_tmpl[0]); t++)
    for (unsigned fmt = 0; fmt < 2; fmt++)
    for (unsigned rm = 0; rm < 8; rm++) {
        if (!(fp_tmpl[t].rms >> rm & 1))
            continue;
        unsigned rd = fp_tmpl[t].xrd ? (pick(6) ? 10 : 0) : (pick(4) ? 3 : 1);
        unsigned rs1 = fp_tmpl[t].xrs1 ? 11 : 1;
        unsigned rs2 = fp_tmpl[t].rs1_is_rs2 ? 1 : fp_tmpl[t].rs2;
        uint32_t insn = r_type(fp_tmpl[t].opc, rm, fp_tmpl[t].f7 | fmt, rd, rs1, rs2);
        if (fp_tmpl[t].opc != 0x53)
            insn |= 4u << 27;                                /* rs3 = f4 */
        if (fp_tmpl[t].opc == 0x73) {                        /* csr ops: rm is funct3 */
            static const uint16_t csrs[] = { 1, 2, 3, 1, 2, 3, 0x004, 0xc02 };
            insn = i_type(0x73, rm, pick(4) ? 10 : 0, rm >= 5 ? pick(32) : pick(2) ? 11 : 0,
                          csrs[fmt * 4 + pick(4)]);
        }
        /* x11 and x10 kept in host registers around it */
        uint32_t prog[] = { i_type(0x13, 0, 11, 11, 0), insn, i_type(0x13, 0, 12, 10, 1), ECALL };
        for (int s = 0; s < 2; s++) {
            memcpy(s ? sj : si, prog, sizeof(prog));
            rv_invalidate_code(s ? mj : mi, 0, ~0ULL);
        }
        cur = si;
        struct rv_hart *hi = rv_hart_new(mi, 0);
        rv_hart_reset(hi, BASE);
        cur = sj;
        struct rv_hart *hj = rv_hart_new(mj, 0);
        rv_hart_reset(hj, BASE);
        bool d = fmt == 1;
        for (unsigned n = 0; n < 300; n++) {
            uint64_t x[32], f[32];
            for (unsigned k = 0; k < 32; k++) {
                x[k] = pick(2) ? ivals[pick(sizeof(ivals) / 8)] : rnd();
                /* fcvt.s.d reads a double, fcvt.d.s a single */
                bool src_d = fp_tmpl[t].f7 == 0x20 ? fp_tmpl[t].rs2 == 1 : d;
                f[k] = fval(k == 1 ? src_d : d);
            }
            if (pick(8) == 0)
                f[2] = f[1];
            uint32_t fflags = pick(3) ? 1 : pick(2) ? 0 : pick(32);
            uint32_t frm = pick(2) ? 0 : pick(8);
            cur = si;
            fp_run(hi, x, f, fflags, frm, &ri);
            cur = sj;
            fp_run(hj, x, f, fflags, frm, &rj);
            fp_compare(&ri, &rj, insn, f[1], f[2], fflags, frm);
            runs++;
        }
        int c;
        struct rv_block *b = rv_block_lookup(hj, BASE, &c);
        assert_non_null(b);
        assert_non_null(b->jit);
        rv_hart_free(hi);
        rv_hart_free(hj);
    }
    assert_true(runs > 50000);
    munmap(si, SIZE);
    munmap(sj, SIZE);
    rv_machine_free(mi);
    rv_machine_free(mj);
}

/* A hot loop is translated after the threshold, not before; VESSEL_JIT=0
 * style machines never translate. */
static void test_threshold(void **state)
{
    (void)state;
    uint8_t *sp = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t p[] = { i_type(0x13, 0, 10, 10, 3), i_type(0x13, 0, 11, 11, -1), b_type(1, 11, 0, -8), ECALL };
    memcpy(sp, p, sizeof(p));
    for (int jit = 0; jit < 2; jit++) {
        struct rv_machine *m = machine(jit, 5);
        cur = sp;
        struct rv_hart *h = rv_hart_new(m, 0);
        rv_hart_reset(h, BASE);
        rv_set_x(h, 11, 3);          /* 3 runs of the loop block: under the threshold */
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
        int c;
        struct rv_block *b = rv_block_lookup(h, BASE, &c);
        assert_non_null(b);
        assert_null(b->jit);
        rv_set_pc(h, BASE);
        rv_set_x(h, 11, 100);
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
        assert_int_equal(rv_get_x(h, 10), 3 * 103);
        assert_int_equal(rv_instret(h), 3 * 103);
        b = rv_block_lookup(h, BASE, &c);
        if (jit)
            assert_non_null(b->jit);
        else
            assert_null(b->jit);
        rv_hart_free(h);
        rv_machine_free(m);
    }
    munmap(sp, SIZE);
}

/* A mostly idle hart (busy under a tenth of a second's window) counts a
 * block's runs only since its last long wait: runs spread over wake-ups
 * stay interpreted, as many within one wake-up are translated; a busier
 * hart's counts go on across waits. */
static void test_idle_hits(void **state)
{
    (void)state;
    uint8_t *sp = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t p[] = { i_type(0x13, 0, 10, 10, 3), i_type(0x13, 0, 11, 11, -1), b_type(1, 11, 0, -8), ECALL };
    memcpy(sp, p, sizeof(p));
    const uint64_t ms = 1000000;
    for (int busy = 0; busy < 2; busy++) {
        struct rv_machine *m = machine(true, 5);
        cur = sp;
        struct rv_hart *h = rv_hart_new(m, 0);
        rv_hart_reset(h, BASE);
        /* a second and a half of 10 ms periods: 0.5 ms (or 6 ms) run, then a wait */
        uint64_t t = 1000 * ms, run = busy ? 6 * ms : ms / 2;
        for (int k = 0; k < 150; k++, t += 10 * ms)
            rv_hart_note_wait(h, t + run, 10 * ms - run);
        assert_int_equal(h->mostly_idle, !busy);
        int c;
        for (int wake = 0; wake < 3; wake++) {       /* 3 wake-ups of 3 loop runs each */
            rv_set_pc(h, BASE);
            rv_set_x(h, 11, 3);
            assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
            rv_hart_note_wait(h, t + run, 10 * ms - run);
            t += 10 * ms;
        }
        struct rv_block *b = rv_block_lookup(h, BASE, &c);
        assert_non_null(b);
        if (busy)
            assert_non_null(b->jit);
        else
            assert_null(b->jit);
        rv_set_pc(h, BASE);
        rv_set_x(h, 11, 10);                         /* 10 runs in one wake-up */
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
        b = rv_block_lookup(h, BASE, &c);
        assert_non_null(b->jit);
        rv_hart_free(h);
        rv_machine_free(m);
    }
    munmap(sp, SIZE);
}

/* ---- chained blocks (jit.c's rv_jit_link): a linked exit jumps straight
 * to the next block's chain entry, with no check of the target's
 * validity: dropping a block must point the exits linked to it back at the
 * dispatcher (rv_jit_unlink) ---- */

/* A (page 0) and B (page 1) chain to each other; every 20 runs of B, P
 * (page 0) rewrites B's first instruction (addi x11,x11,1 -> +100) with
 * a store, twice, then ecall. A chain from A into B's old code would
 * count x11 by 1 after the rewrite. */
static void chain_prog(uint8_t *sp)
{
    uint32_t a[] = { i_type(0x13, 0, 10, 10, 1), jal(0, 0x1000 - 4) };
    uint32_t b[] = { i_type(0x13, 0, 11, 11, 1), i_type(0x13, 0, 12, 12, -1),
                     b_type(0, 12, 0, 0x100 - 0x1008), jal(0, -0x100c) };
    uint32_t p[] = { i_type(0x13, 0, 13, 13, -1), b_type(4, 13, 0, 0x100 - 4),
                     s_type(0x23, 2, 5, 6, 0), i_type(0x13, 0, 12, 0, 20), jal(0, -0x110) };
    memset(sp, 0, SIZE);
    memcpy(sp, a, sizeof(a));
    memcpy(sp + 0x1000, b, sizeof(b));
    memcpy(sp + 0x100, p, sizeof(p));
    uint32_t e = ECALL;
    memcpy(sp + 0x200, &e, 4);
}

static void chain_run(struct rv_machine *m, uint8_t *sp, uint64_t *x11, uint64_t *instret, bool *linked)
{
    cur = sp;
    struct rv_hart *h = rv_hart_new(m, 0);
    cur_h = h;
    if (resv && sp == resv + BASE) {
        memset(ro, 0, sizeof(ro));
        mprotect(sp, SIZE, PROT_READ | PROT_WRITE);
    }
    chain_prog(sp);
    rv_invalidate_code(m, 0, ~0ULL);
    rv_hart_reset(h, BASE);
    rv_set_x(h, 5, BASE + 0x1000);
    rv_set_x(h, 6, i_type(0x13, 0, 11, 11, 100));
    rv_set_x(h, 12, 20);
    rv_set_x(h, 13, 2);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_pc(h), BASE + 0x200);
    *x11 = rv_get_x(h, 11);
    *instret = rv_instret(h);
    int c;
    struct rv_block *b = rv_block_lookup(h, BASE + 0x1000, &c);
    *linked = b && b->jit_in;        /* B (decoded again) is chained to */
    cur_h = NULL;
    rv_hart_free(h);
}

static void test_chain_dropped_target(void **state)
{
    (void)state;
    struct spaces sp;
    spaces_open(&sp);
    uint8_t *si = sp.si, *st = sp.st, *sd = sp.sd;
    struct rv_machine *mi = machine(false, 0);
    uint64_t x11, instret;
    bool linked;
    chain_run(mi, si, &x11, &instret, &linked);
    assert_int_equal(x11, 20 + 20 * 100 + 20 * 100);
    for (int direct = 0; direct < 2; direct++) {
        struct rv_machine *m = direct ? machine_direct(0) : machine(true, 0);
        uint64_t jx11, jinstret;
        chain_run(m, direct ? sd : st, &jx11, &jinstret, &linked);
        assert_int_equal(jx11, x11);
        assert_int_equal(jinstret, instret);
        assert_true(linked);
        rv_machine_free(m);
    }
    rv_machine_free(mi);
    spaces_close(&sp);
}

/* rv_run of a hart on a thread of its own (the request tests) */
struct kick_arg {
    struct rv_hart *h;
    enum rv_exit ex;
};
static void *kick_runner(void *p)
{
    struct kick_arg *k = p;
    k->ex = rv_run(k->h, 0);
    return NULL;
}

/* The request tests' hart: in the direct space (sp) or a mapping of its
 * own, the space cleared for the caller's code; kick_fx_start then runs
 * it from BASE with x31 = DATA, the counter the code stores. */
struct kick_fx {
    int direct;
    uint8_t *s;
    struct rv_machine *m;
    struct rv_hart *h;
    uint64_t *ctr;
};
static void kick_fx_new(struct kick_fx *f, int direct, uint8_t *sp)
{
    f->direct = direct;
    f->s = direct ? sp : mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(f->s != MAP_FAILED);
    f->m = direct ? machine_direct(0) : machine(true, 0);
    cur = f->s;
    f->h = rv_hart_new(f->m, 0);
    cur_h = f->h;
    memset(ro, 0, sizeof(ro));
    memset(f->s, 0, SIZE);
    f->ctr = (uint64_t *)(void *)(f->s + (DATA - BASE));
}
static void kick_fx_start(struct kick_fx *f)
{
    rv_invalidate_code(f->m, 0, ~0ULL);
    rv_hart_reset(f->h, BASE);
    rv_set_x(f->h, 31, DATA);
}
static void kick_fx_free(struct kick_fx *f)
{
    cur_h = NULL;
    rv_hart_free(f->h);
    rv_machine_free(f->m);
    if (!f->direct)
        munmap(f->s, SIZE);
}
/* rv_run on a thread of its own until the counter is 5000 past `from`,
 * then rv_kick: the run must end (within 20 s) with RV_EXIT_BUDGET */
static void kick_round(struct kick_fx *f, uint64_t from, int round)
{
    struct kick_arg k = { f->h, RV_EXIT_NONE };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, kick_runner, &k), 0);
    while (__atomic_load_n(f->ctr, __ATOMIC_RELAXED) < from + 5000)
        sched_yield();
    rv_kick(f->h);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    if (pthread_timedjoin_np(th, NULL, &until) != 0)
        fail_msg("round %d: the run did not stop at the request", round);
    assert_int_equal(k.ex, RV_EXIT_BUDGET);
}

/* A request (rv_kick from another thread, as a host signal for the guest
 * is) stops a loop of chained blocks at a block boundary with instret
 * exact: A (addi x10; jal B) and B (addi x11; sd x11 to memory; jal A)
 * chain forever; at A's start instret = 5 * x10 and x10 = x11, at B's
 * 2 * x10 + 3 * x11 and x10 = x11 + 1. */
static void test_chain_request(void **state)
{
    (void)state;
    uint8_t *sp = direct_space();
    uint32_t a[] = { i_type(0x13, 0, 10, 10, 1), jal(0, 0x1000 - 4) };
    uint32_t b[] = { i_type(0x13, 0, 11, 11, 1), s_type(0x23, 3, 31, 11, 0), jal(0, -0x1008) };
    for (int direct = 0; direct < 2; direct++) {
        struct kick_fx f;
        kick_fx_new(&f, direct, sp);
        struct rv_hart *h = f.h;
        memcpy(f.s, a, sizeof(a));
        memcpy(f.s + 0x1000, b, sizeof(b));
        kick_fx_start(&f);
        for (int round = 0; round < 3; round++) {
            /* a few thousand chained transitions, then the request */
            uint64_t from = __atomic_load_n(f.ctr, __ATOMIC_RELAXED);
            kick_round(&f, from, round);
            uint64_t x10 = rv_get_x(h, 10), x11 = rv_get_x(h, 11), pc = rv_get_pc(h);
            assert_true(x11 >= from + 5000);
            if (pc == BASE) {
                assert_int_equal(x10, x11);
                assert_int_equal(rv_instret(h), 5 * x10);
            } else {
                assert_int_equal(pc, BASE + 0x1000);
                assert_int_equal(x10, x11 + 1);
                assert_int_equal(rv_instret(h), 2 * x10 + 3 * x11);
            }
            assert_int_equal(*f.ctr, x11);
        }
        int c;
        struct rv_block *bb = rv_block_lookup(h, BASE + 0x1000, &c);
        assert_true(bb && bb->jit && bb->jit_in);    /* the loop ran chained */
        kick_fx_free(&f);
    }
    direct_space_free();
}

/* A request stops a block that loops on itself, whose iterations check
 * only h->jit_limit (which rv_request lowers), not exit_req: the loop
 * (addi x10; sd x10; bne x10, x0, back to its start) runs until rv_kick
 * from another thread, then leaves at its start with instret = 3 * x10;
 * and again after rv_run put the limit back. Without the limit, the
 * runner would never return: waited for with a deadline. */
static void test_loop_request(void **state)
{
    (void)state;
    uint8_t *sp = direct_space();
    uint32_t loop[] = { i_type(0x13, 0, 10, 10, 1), s_type(0x23, 3, 31, 10, 0), b_type(1, 10, 0, -8) };
    for (int direct = 0; direct < 2; direct++) {
        struct kick_fx f;
        kick_fx_new(&f, direct, sp);
        struct rv_hart *h = f.h;
        memcpy(f.s, loop, sizeof(loop));
        kick_fx_start(&f);
        for (int round = 0; round < 3; round++) {
            uint64_t from = __atomic_load_n(f.ctr, __ATOMIC_RELAXED);
            kick_round(&f, from, round);
            assert_int_equal(rv_get_pc(h), BASE);
            uint64_t x10 = rv_get_x(h, 10);
            assert_true(x10 >= from + 5000);
            assert_int_equal(rv_instret(h), 3 * x10);
            assert_int_equal(*f.ctr, x10);
        }
        int c;
        struct rv_block *b = rv_block_lookup(h, BASE, &c);
        assert_true(b && b->jit);           /* the loop ran translated */
        kick_fx_free(&f);
    }
    direct_space_free();
}

/* Is a block decoded at pc in h's cache? (no lookup: that would decode
 * one) */
static bool block_cached(const struct rv_hart *h, uint64_t pc)
{
    for (unsigned j = 0; j <= h->tbl_mask; j++)
        for (const struct rv_block *b = h->hash[j]; b; b = b->hnext)
            if (b->vpc == pc && b->valid)
                return true;
    return false;
}

/* A loop inside a block (a branch back to an instruction after the
 * block's first: addi x12 once, then addi x10; sd x10; bne x10, x0 back
 * to the addi x10) runs inside the block's code: no block is decoded at
 * the loop's head, and a request stops it at the head with instret =
 * 1 + 3 * x10. A forward branch inside a block (beq x0, x0 over an addi
 * x13, in the loop) skips the instruction and counts only what ran:
 * instret = 1 + 4 * x10 then. */
static void test_inner_loop_request(void **state)
{
    (void)state;
    const uint32_t loop[] = { i_type(0x13, 0, 12, 12, 1), i_type(0x13, 0, 10, 10, 1), s_type(0x23, 3, 31, 10, 0),
                              b_type(1, 10, 0, -8) };
    const uint32_t skip[] = { i_type(0x13, 0, 12, 12, 1), i_type(0x13, 0, 10, 10, 1), b_type(0, 0, 0, 8),
                              i_type(0x13, 0, 13, 13, 1), s_type(0x23, 3, 31, 10, 0), b_type(1, 10, 0, -16) };
    for (int form = 0; form < 2; form++) {
        uint8_t *sp = direct_space();       /* one run each: it keeps the code's protection */
        for (int direct = 0; direct < 2; direct++) {
            struct kick_fx f;
            kick_fx_new(&f, direct, sp);
            struct rv_hart *h = f.h;
            if (form == 0)
                memcpy(f.s, loop, sizeof(loop));
            else
                memcpy(f.s, skip, sizeof(skip));
            kick_fx_start(&f);
            kick_round(&f, 0, 0);
            uint64_t x10 = rv_get_x(h, 10);
            assert_true(x10 >= 5000);
            assert_int_equal(rv_get_x(h, 12), 1);
            assert_int_equal(rv_get_x(h, 13), 0);
            assert_int_equal(*f.ctr, x10);
            if (rv_get_pc(h) != BASE + 4)
                fail_msg("form %d direct %d: stopped at %#llx, not the loop's head", form, direct,
                         (unsigned long long)rv_get_pc(h));
            assert_int_equal(rv_instret(h), 1 + (form ? 4 : 3) * x10);
            if (block_cached(h, BASE + 4) || block_cached(h, BASE + 16))
                fail_msg("form %d direct %d: the loop left its block (a block was decoded inside it)", form,
                         direct);
            int c;
            struct rv_block *b = rv_block_lookup(h, BASE, &c);
            assert_true(b && b->jit);
            kick_fx_free(&f);
        }
        direct_space_free();
    }
}

/* A loop with direct accesses keeps the reservation's base in rdx from
 * one iteration to the next; an op that uses rdx (divu: the remainder)
 * must have it set again before the branch back. Here the remainder is
 * chosen so that a stale rdx would point the next iteration's load at a
 * host decoy (mapped, so no fault corrects it): the sum of the loads must
 * be that of the guest's word. */
static void test_loop_base(void **state)
{
    (void)state;
    uint8_t *sp = direct_space();
    static uint64_t decoy[2] = { 0x5555, 0x5555 };
    uint32_t loop[] = {
        i_type(0x03, 3, 5, 11, 0),                  /* ld x5, 0(x11) */
        r_type(0x33, 0, 0, 12, 12, 5),              /* add x12, x12, x5 */
        r_type(0x33, 7, 1, 6, 8, 9),                /* remu x6, x8, x9 (rdx = x8) */
        r_type(0x33, 5, 1, 7, 8, 9),                /* divu x7, x8, x9 */
        i_type(0x13, 0, 30, 30, -1),
        b_type(1, 30, 0, -20),                      /* bnez x30, the start */
        ECALL,
    };
    struct rv_machine *m = machine_direct(0);
    cur = sp;
    struct rv_hart *h = rv_hart_new(m, 0);
    cur_h = h;
    memset(ro, 0, sizeof(ro));
    mprotect(sp, SIZE, PROT_READ | PROT_WRITE);
    memset(sp, 0, SIZE);
    memcpy(sp, loop, sizeof(loop));
    uint64_t word = 7;
    memcpy(sp + (DATA - BASE), &word, 8);
    rv_invalidate_code(m, 0, ~0ULL);
    rv_hart_reset(h, BASE);
    rv_set_x(h, 11, DATA);
    rv_set_x(h, 8, (uint64_t)(uintptr_t)decoy - DATA);
    rv_set_x(h, 9, ~0ULL);
    rv_set_x(h, 30, 10);
    assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
    assert_int_equal(rv_get_x(h, 12), 10 * word);
    assert_int_equal(rv_instret(h), 6 * 10);         /* (the ecall retires when served) */
    int c;
    struct rv_block *b = rv_block_lookup(h, BASE, &c);
    assert_true(b && b->jit);
    cur_h = NULL;
    rv_hart_free(h);
    rv_machine_free(m);
    direct_space_free();
}

/* ---- jalr's per-site cache (jit.c's jit_jalr_site): a call site linked
 * to f1, then called with f2 (a miss), f1 rewritten by a guest store, by
 * the host before a fence.i, and by the host before rv_invalidate_code
 * (what munmap and mmap do): each phase against the interpreter ---- */
#define F1 0x1000
#define F2 0x1100
static void site_write(uint8_t *sp, uint64_t off, uint32_t insn)
{
    if (resv && sp == resv + BASE) {
        ro[off / 4096] = false;
        mprotect(sp + (off & ~0xfffULL), 4096, PROT_READ | PROT_WRITE);
    }
    memcpy(sp + off, &insn, 4);
}

struct site_run {
    uint64_t x10[5], instret[5];
    bool linked;
};

static void site_phases(struct rv_machine *m, uint8_t *sp, struct site_run *r)
{
    uint32_t main_[] = { b_type(0, 7, 0, 8), s_type(0x23, 2, 7, 6, 0), b_type(0, 8, 0, 8), 0x0000100fu,
                         i_type(0x67, 0, 1, 5, 0), i_type(0x13, 0, 12, 12, -1), b_type(1, 12, 0, -8), ECALL };
    uint32_t f1[] = { i_type(0x13, 0, 10, 10, 1), i_type(0x67, 0, 0, 1, 0) };
    uint32_t f2[] = { i_type(0x13, 0, 10, 10, 100), i_type(0x67, 0, 0, 1, 0) };
    cur = sp;
    struct rv_hart *h = rv_hart_new(m, 0);
    cur_h = h;
    if (resv && sp == resv + BASE) {
        memset(ro, 0, sizeof(ro));
        mprotect(sp, SIZE, PROT_READ | PROT_WRITE);
    }
    memset(sp, 0, SIZE);
    memcpy(sp, main_, sizeof(main_));
    memcpy(sp + F1, f1, sizeof(f1));
    memcpy(sp + F2, f2, sizeof(f2));
    rv_invalidate_code(m, 0, ~0ULL);
    rv_hart_reset(h, BASE);
    memset(r, 0, sizeof(*r));
    for (unsigned ph = 0; ph < 5; ph++) {
        rv_set_pc(h, BASE);
        rv_set_x(h, 12, 20);
        rv_set_x(h, 5, BASE + (ph == 1 ? F2 : F1));
        rv_set_x(h, 7, ph == 2 ? BASE + F1 : 0);
        rv_set_x(h, 6, i_type(0x13, 0, 10, 10, 1000));
        rv_set_x(h, 8, ph == 3);
        if (ph == 3)
            site_write(sp, F1, i_type(0x13, 0, 10, 10, 7));     /* unseen until the fence.i */
        if (ph == 4) {
            site_write(sp, F1, i_type(0x13, 0, 10, 10, 3));
            rv_invalidate_code(m, BASE + F1, 4);
        }
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
        r->x10[ph] = rv_get_x(h, 10);
        r->instret[ph] = rv_instret(h);
        if (ph == 0) {
            int c;
            struct rv_block *b = rv_block_lookup(h, BASE + F1, &c);
            r->linked = b && b->jit_in;      /* only the call site jumps there */
        }
    }
    cur_h = NULL;
    rv_hart_free(h);
}

static void test_jalr_site_cache(void **state)
{
    (void)state;
    struct spaces sp;
    spaces_open(&sp);
    uint8_t *si = sp.si, *st = sp.st, *sd = sp.sd;
    struct rv_machine *mi = machine(false, 0);
    struct site_run ri, rj;
    site_phases(mi, si, &ri);
    assert_int_equal(ri.x10[4], 20 + 2000 + 20000 + 140 + 60);
    for (int direct = 0; direct < 2; direct++) {
        struct rv_machine *m = direct ? machine_direct(0) : machine(true, 0);
        site_phases(m, direct ? sd : st, &rj);
        assert_true(rj.linked);
        for (unsigned ph = 0; ph < 5; ph++) {
            if (rj.x10[ph] != ri.x10[ph] || rj.instret[ph] != ri.instret[ph])
                fail_msg("%s, phase %u: x10 %llu instret %llu, interpreted %llu %llu", direct ? "direct" : "TLB",
                         ph, (unsigned long long)rj.x10[ph], (unsigned long long)rj.instret[ph],
                         (unsigned long long)ri.x10[ph], (unsigned long long)ri.instret[ph]);
        }
        rv_machine_free(m);
    }
    rv_machine_free(mi);
    spaces_close(&sp);
}

/* The size of a block's host code through the TLB path (system mode's,
 * and user mode's with watchpoints): 16 loads and stores, each with a
 * slow path out of line; those call the arena's thunks, which keep the
 * guest registers in caller-saved host registers across the call, instead
 * of writing them back and loading them again in every stub (the slow
 * paths were most of the 1.5 KB of code per block of a boot). The first
 * access to each page takes its slow path (the TLB is empty); the
 * registers and memory are the interpreter's. */
static void test_slow_path_size(void **state)
{
    (void)state;
    uint8_t *sp = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t p[40];
    unsigned n = 0;
    for (unsigned k = 0; k < 8; k++) {
        p[n++] = i_type(0x03, 3, 5 + k, 31, 8 * (int)k);          /* ld x(5+k), 8k(x31) */
        p[n++] = s_type(0x23, 3, 30, 5 + k, 8 * (int)k);          /* sd x(5+k), 8k(x30) */
    }
    p[n++] = ECALL;
    memcpy(sp, p, n * 4);
    for (unsigned k = 0; k < 8; k++) {
        uint64_t v = 0x1111111111111111ULL * (k + 1);
        memcpy(sp + (DATA - BASE) + 8 * k, &v, 8);
    }
    uint64_t used[2], x[2][8];
    for (int jit = 0; jit < 2; jit++) {
        struct rv_machine *m = machine(jit, 0);
        cur = sp;
        struct rv_hart *h = rv_hart_new(m, 0);
        rv_hart_reset(h, BASE);
        rv_set_x(h, 31, DATA);
        rv_set_x(h, 30, BASE + 0x9000 + 0x800 * (unsigned)jit);
        assert_int_equal(rv_run(h, 0), RV_EXIT_ECALL);
        for (unsigned k = 0; k < 8; k++)
            x[jit][k] = rv_get_x(h, 5 + k);
        used[jit] = h->jit_used;
        int c;
        struct rv_block *b = rv_block_lookup(h, BASE, &c);
        assert_non_null(b);
        if (jit)
            assert_non_null(b->jit);
        rv_hart_free(h);
        rv_machine_free(m);
    }
    assert_memory_equal(x[0], x[1], sizeof(x[0]));
    assert_memory_equal(sp + 0x9000, sp + 0x9800, 64);
    if (used[1] > 3200)                 /* 3,584 before the thunks, 2,864 with them */
        fail_msg("16 accesses through the TLB took %llu bytes of host code", (unsigned long long)used[1]);
    munmap(sp, SIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emitter),
        cmocka_unit_test(test_translator_vs_interpreter),
        cmocka_unit_test(test_flags_vs_interpreter),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_idle_hits),
        cmocka_unit_test(test_fp_vs_interpreter),
        cmocka_unit_test(test_chain_dropped_target),
        cmocka_unit_test(test_chain_request),
        cmocka_unit_test(test_loop_request),
        cmocka_unit_test(test_inner_loop_request),
        cmocka_unit_test(test_loop_base),
        cmocka_unit_test(test_jalr_site_cache),
        cmocka_unit_test(test_slow_path_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Trap delegation to S-mode: medeleg/mideleg writable bits, traps from U
 * and S taken by the S handler at stvec with scause/stval/sepc and
 * SPP/SPIE/SIE, sret back, non-delegated causes still going to M, and
 * traps in M never delegated. */
#include "sys.h"

const char test_name[] = "deleg";

static uint64_t u_illegal(uint64_t a) { (void)a; return AT(".word 0x00000077"); }
static uint64_t u_ebreak(uint64_t a) { (void)a; return AT("ebreak"); }
static uint64_t u_ecall(uint64_t a)
{
    register uint64_t a7 __asm__("a7") = 0;
    uint64_t pc;
    (void)a;
    __asm__ volatile("lla %0, 1f\n1: ecall" : "=&r"(pc) : "r"(a7) : "memory");
    return pc;
}
static uint64_t u_load_fault(uint64_t a) { return probe_ld(a); }
static uint64_t s_illegal_sie(uint64_t sie)
{
    uint64_t pc;
    if (sie) CSR_SET(sstatus, MS_SIE); else CSR_CLEAR(sstatus, MS_SIE);
    pc = AT(".word 0x00000077");
    /* the sret restored SIE */
    if (!!(CSR_READ(sstatus) & MS_SIE) != !!sie) return 1;
    CSR_CLEAR(sstatus, MS_SIE);
    return pc;
}
/* S reads its own trap CSRs after a delegated trap */
static uint64_t s_csrs_after(uint64_t a)
{
    uint64_t pc = AT("ebreak");
    (void)a;
    if (CSR_READ(scause) != EXC_BREAKPOINT) return 1;
    if (CSR_READ(sepc) != pc + 4) return 2;     /* the handler skipped it */
    return 0;
}

static void writable_bits(void)
{
    uint64_t need = (1u << EXC_INSN_MISALIGNED) | (1u << EXC_INSN_ACCESS) | (1u << EXC_ILLEGAL) |
                    (1u << EXC_BREAKPOINT) | (1u << EXC_LOAD_MISALIGNED) | (1u << EXC_LOAD_ACCESS) |
                    (1u << EXC_STORE_MISALIGNED) | (1u << EXC_STORE_ACCESS) | (1u << EXC_ECALL_U) |
                    (1u << EXC_INSN_PAGE) | (1u << EXC_LOAD_PAGE) | (1u << EXC_STORE_PAGE);
    uint64_t v;

    CSR_WRITE(medeleg, ~0ull);
    v = CSR_READ(medeleg);
    CHECK_EQ(v & need, need);
    CSR_WRITE(medeleg, 0);
    CHECK_EQ(CSR_READ(medeleg), 0);
    CSR_WRITE(mideleg, ~0ull);
    v = CSR_READ(mideleg);
    CHECK_EQ(v & 0x222, 0x222);          /* SSI, STI, SEI */
    CSR_WRITE(mideleg, 0);
    CHECK_EQ(CSR_READ(mideleg) & 0x222, 0);
    /* stvec: direct and vectored modes are kept, the base is 4-aligned */
    CSR_WRITE(stvec, RAM_BASE + 0x101);
    CHECK_EQ(CSR_READ(stvec), RAM_BASE + 0x101);
    CSR_WRITE(stvec, RAM_BASE + 0x100);
    CHECK_EQ(CSR_READ(stvec), RAM_BASE + 0x100);
}

/* U traps with a delegated cause reach the S handler */
static void from_u(void)
{
    uint64_t pc;

    CSR_WRITE(stvec, (uint64_t)s_trap_entry);
    CSR_WRITE(medeleg, (1u << EXC_ILLEGAL) | (1u << EXC_ECALL_U) | (1u << EXC_LOAD_ACCESS));

    trap_expect(TRAP_SKIP);
    pc = run_in(PRIV_U, u_illegal, 0, 0);
    CHECK_TRAP(EXC_ILLEGAL, trap.tval == 0 ? 0 : 0x77, PRIV_S);
    CHECK_EQ(trap.epc, pc);
    CHECK(!(trap.status & MS_SPP));            /* from U */

    trap_expect(TRAP_SKIP);
    pc = run_in(PRIV_U, u_ecall, 0, 0);
    CHECK_TRAP(EXC_ECALL_U, 0, PRIV_S);
    CHECK_EQ(trap.epc, pc);
    /* the MAGIC_RET ecall also went through S, which passed it on to M by
     * an S ecall */
    CHECK_EQ(CSR_READ(mcause), EXC_ECALL_S);

    trap_expect(TRAP_SKIP);
    (void)run_in(PRIV_U, u_load_fault, UNMAPPED_PA + 8, 0);
    CHECK_TRAP(EXC_LOAD_ACCESS, UNMAPPED_PA + 8, PRIV_S);

    /* ebreak is not delegated: M takes it */
    trap_expect(TRAP_SKIP);
    pc = run_in(PRIV_U, u_ebreak, 0, 0);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.level, PRIV_M);
    CHECK_EQ(trap.epc, pc);
    CHECK_EQ((trap.status & MS_MPP) >> MPP_SHIFT, PRIV_U);
    trap_done();
    CSR_WRITE(medeleg, 0);
}

/* S traps to S: SPP = 1, SPIE = the old SIE, SIE = 0; sret restores SIE */
static void from_s(void)
{
    uint64_t pc, sie;

    CSR_WRITE(stvec, (uint64_t)s_trap_entry);
    CSR_WRITE(medeleg, (1u << EXC_ILLEGAL) | (1u << EXC_BREAKPOINT));
    CSR_WRITE(mideleg, 0);
    CSR_WRITE(mie, 0);
    for (sie = 0; sie < 2; sie++) {
        trap_expect(TRAP_SKIP);
        pc = run_in(PRIV_S, s_illegal_sie, sie, 0);
        CHECK(pc > 1);
        CHECK_EQ(trap.count, 1);
        CHECK_EQ(trap.cause, EXC_ILLEGAL);
        CHECK_EQ(trap.level, PRIV_S);
        CHECK_EQ(trap.epc, pc);
        CHECK(trap.status & MS_SPP);
        CHECK_EQ(!!(trap.status & MS_SPIE), sie);
        CHECK(!(trap.status & MS_SIE));
    }
    trap_expect(TRAP_SKIP);
    CHECK_EQ(run_in(PRIV_S, s_csrs_after, 0, 0), 0);
    CHECK_EQ(trap.level, PRIV_S);

    /* vectored stvec: exceptions still go to the base */
    CSR_WRITE(stvec, (uint64_t)s_trap_entry | 1);
    trap_expect(TRAP_SKIP);
    pc = run_in(PRIV_S, s_illegal_sie, 0, 0);
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.level, PRIV_S);
    CHECK_EQ(trap.epc, pc);
    CSR_WRITE(stvec, (uint64_t)s_trap_entry);

    /* in M a delegated cause is still taken by M */
    trap_expect(TRAP_SKIP);
    pc = AT(".word 0x00000077");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.level, PRIV_M);
    CHECK_EQ(trap.epc, pc);
    trap_done();
    CSR_WRITE(medeleg, 0);
}

int main(void)
{
    writable_bits();
    from_u();
    from_s();
    return 0;
}

/* Privilege transitions: mret to M, S and U and ecall back; sret to S and
 * to U; what xRET does to MIE/MPIE/MPP, SIE/SPIE/SPP and MPRV; ecall causes
 * from U/S/M; and which instructions and CSRs are illegal in S and in U
 * (with and without mstatus.TSR/TW/TVM). No delegation here: every trap
 * goes to M (deleg.c covers S-mode handling). */
#include "sys.h"

const char test_name[] = "priv";

#define MPP_OF(s) (((s) & MS_MPP) >> MPP_SHIFT)

static uint64_t ret_plus1(uint64_t a) { return a + 1; }
static uint64_t read_sstatus(uint64_t a) { (void)a; return CSR_READ(sstatus); }

/* mret with MPP = M: MIE = MPIE, MPIE = 1, MPP = U (the least privileged
 * mode), MPRV kept (the new mode is M). */
static void mret_to_m(void)
{
    uint64_t s;
    unsigned mpie;

    CSR_WRITE(mie, 0);
    for (mpie = 0; mpie < 2; mpie++) {
        CSR_CLEAR(mstatus, MS_MIE | MS_MPIE);
        CSR_SET(mstatus, MS_MPP | MS_MPRV | (mpie ? MS_MPIE : 0));
        __asm__ volatile("lla t0, 1f\n csrw mepc, t0\n mret\n1: csrr %0, mstatus"
                         : "=r"(s) :: "t0", "memory");
        CHECK_EQ(!!(s & MS_MIE), mpie);
        CHECK(s & MS_MPIE);
        CHECK_EQ(MPP_OF(s), PRIV_U);
        CHECK(s & MS_MPRV);
        CSR_CLEAR(mstatus, MS_MPRV | MS_MIE);
    }
}

/* mret to S and U, back by ecall (cause 9 / 8, MPP = S / U, MPIE = the MIE
 * the lower mode ran with, MIE = 0; mret to a lower mode clears MPRV). */
static void mret_down_ecall_up(void)
{
    uint64_t s, r;

    CSR_CLEAR(mstatus, MS_MIE);
    CSR_SET(mstatus, MS_MPIE);
    r = run_in(PRIV_S, read_sstatus, 0, 0);
    s = CSR_READ(mstatus);
    CHECK_EQ(CSR_READ(mcause), EXC_ECALL_S);
    CHECK_EQ(CSR_READ(mepc), (uint64_t)lower_return_ecall);
    CHECK_EQ(CSR_READ(mtval), 0);
    CHECK_EQ(MPP_OF(s), PRIV_S);
    CHECK(s & MS_MPIE);                        /* MIE was 1 in S (mret: MIE = MPIE) */
    CHECK(!(s & MS_MIE));
    /* (that mret to S clears MPRV is checked in strict.c: QEMU 7.2 keeps it) */
    CSR_CLEAR(mstatus, MS_MPRV);
    CHECK(!(r & (MS_MIE | MS_MPIE | MS_MPP | MS_MPRV | MS_TSR | MS_TW | MS_TVM)));  /* sstatus hides M fields */

    CSR_CLEAR(mstatus, MS_MPIE);
    r = run_in(PRIV_U, ret_plus1, 41, 0);
    s = CSR_READ(mstatus);
    CHECK_EQ(r, 42);
    CHECK_EQ(CSR_READ(mcause), EXC_ECALL_U);
    CHECK_EQ(CSR_READ(mepc), (uint64_t)lower_return_ecall);
    CHECK_EQ(MPP_OF(s), PRIV_U);
    CHECK(!(s & (MS_MPIE | MS_MIE)));
}

/* sret in S: SIE = SPIE, SPIE = 1, SPP = U. */
static uint64_t s_sret_self(uint64_t spie)
{
    uint64_t r;
    CSR_SET(sstatus, MS_SPP | MS_SIE);
    if (spie) CSR_SET(sstatus, MS_SPIE); else CSR_CLEAR(sstatus, MS_SPIE);
    __asm__ volatile("lla t0, 1f\n csrw sepc, t0\n sret\n1: csrr %0, sstatus"
                     : "=r"(r) :: "t0", "memory");
    CSR_CLEAR(sstatus, MS_SIE);
    return r;
}

static void u_exit77(void) { lower_exit(77); }

/* sret from S to U (SPP = 0): the U code's ecall reaches M as cause 8 */
static uint64_t s_sret_to_u(uint64_t a)
{
    (void)a;
    CSR_CLEAR(sstatus, MS_SPP);
    CSR_WRITE(sepc, (uint64_t)u_exit77);
    __asm__ volatile("sret" ::: "memory");
    return 0;   /* not reached */
}

static void sret_paths(void)
{
    uint64_t r;

    r = run_in(PRIV_S, s_sret_self, 0, 0);
    CHECK_EQ(r & (MS_SIE | MS_SPIE | MS_SPP), MS_SPIE);
    r = run_in(PRIV_S, s_sret_self, 1, 0);
    CHECK_EQ(r & (MS_SIE | MS_SPIE | MS_SPP), MS_SIE | MS_SPIE);

    r = run_in(PRIV_S, s_sret_to_u, 0, 0);
    CHECK_EQ(r, 77);
    CHECK_EQ(CSR_READ(mcause), EXC_ECALL_U);
    CHECK_EQ(MPP_OF(CSR_READ(mstatus)), PRIV_U);
}

/* ecall without the return code: recorded in M, skipped, the mode goes on */
static uint64_t plain_ecall(uint64_t a)
{
    register uint64_t a7 __asm__("a7") = 0;   /* not MAGIC_RET */
    uint64_t pc;
    (void)a;
    __asm__ volatile("lla %0, 1f\n1: ecall" : "=&r"(pc) : "r"(a7) : "memory");
    return pc;
}

static void ecalls(void)
{
    static const int privs[] = { PRIV_U, PRIV_S };
    unsigned i;
    for (i = 0; i < 2; i++) {
        uint64_t pc;
        trap_expect(TRAP_SKIP);
        pc = run_in(privs[i], plain_ecall, 0, 0);
        CHECK_EQ(trap.count, 1);
        CHECK_EQ(trap.cause, privs[i] == PRIV_U ? EXC_ECALL_U : EXC_ECALL_S);
        CHECK_EQ(trap.epc, pc);
        CHECK_EQ(trap.tval, 0);
        CHECK_EQ(MPP_OF(trap.status), (uint64_t)privs[i]);
        CHECK_EQ(trap.level, PRIV_M);
    }
    trap_done();
}

/* ---- what is illegal where */
enum { T_MSTATUS, T_MHARTID, T_MSCRATCH_W, T_MRET, T_SSTATUS, T_SSCRATCH_W,
       T_SRET, T_SFENCE, T_SATP, T_WFI, T_CYCLE_W, T_N };
static uint64_t try_insn(uint64_t which)
{
    switch (which) {
    case T_MSTATUS:    return AT("csrrs x0, mstatus, x0");
    case T_MHARTID:    return AT("csrrs x0, mhartid, x0");
    case T_MSCRATCH_W: return AT("csrrw x0, mscratch, x0");
    case T_MRET:       return AT("mret");
    case T_SSTATUS:    return AT("csrrs x0, sstatus, x0");
    case T_SSCRATCH_W: return AT("csrrw x0, sscratch, x0");
    case T_SRET:       return AT("sret");
    case T_SFENCE:     return AT("sfence.vma");
    case T_SATP:       return AT("csrrs x0, satp, x0");
    case T_WFI:        return AT("wfi");
    case T_CYCLE_W:    return AT("csrrw x0, cycle, x0");
    }
    return 0;
}

static void expect_illegal(int priv, unsigned which, bool illegal, int line)
{
    uint64_t pc;
    trap_expect(TRAP_SKIP);
    pc = run_in(priv, try_insn, which, 0);
    checks++;
    if (illegal) {
        uint32_t insn = *(volatile uint32_t *)pc;
        if (trap.count != 1 || trap.cause != EXC_ILLEGAL || trap.epc != pc ||
            (trap.tval != 0 && trap.tval != insn) || MPP_OF(trap.status) != (uint64_t)priv)
            check_fail(line, priv == PRIV_U ? "illegal in U" : "illegal in S", which, ~0ull);
    } else if (trap.count != 0) {
        check_fail(line, priv == PRIV_U ? "legal in U" : "legal in S", which, ~0ull);
    }
    trap_done();
}
#define ILLEGAL(p, w) expect_illegal(p, w, true, __LINE__)
#define LEGAL(p, w) expect_illegal(p, w, false, __LINE__)

static void illegal_where(void)
{
    ILLEGAL(PRIV_S, T_MSTATUS);
    ILLEGAL(PRIV_S, T_MHARTID);
    ILLEGAL(PRIV_S, T_MSCRATCH_W);
    ILLEGAL(PRIV_S, T_MRET);
    ILLEGAL(PRIV_S, T_CYCLE_W);
    LEGAL(PRIV_S, T_SSTATUS);
    LEGAL(PRIV_S, T_SSCRATCH_W);
    LEGAL(PRIV_S, T_SATP);
    LEGAL(PRIV_S, T_SFENCE);
    ILLEGAL(PRIV_U, T_MSTATUS);
    ILLEGAL(PRIV_U, T_MRET);
    ILLEGAL(PRIV_U, T_SSTATUS);
    ILLEGAL(PRIV_U, T_SSCRATCH_W);
    ILLEGAL(PRIV_U, T_SRET);
    ILLEGAL(PRIV_U, T_SFENCE);
    ILLEGAL(PRIV_U, T_SATP);

    CSR_SET(mstatus, MS_TVM);           /* satp and sfence.vma trap in S */
    ILLEGAL(PRIV_S, T_SATP);
    ILLEGAL(PRIV_S, T_SFENCE);
    CSR_CLEAR(mstatus, MS_TVM);
    CSR_SET(mstatus, MS_TSR);           /* sret traps in S */
    ILLEGAL(PRIV_S, T_SRET);
    CSR_CLEAR(mstatus, MS_TSR);
    CSR_SET(mstatus, MS_TW);            /* wfi traps in S */
    ILLEGAL(PRIV_S, T_WFI);
    CSR_CLEAR(mstatus, MS_TW);
    /* in M all of them are legal but mret/sret (they would return): the
     * CSR ones */
    trap_expect(TRAP_SKIP);
    (void)try_insn(T_MSTATUS);
    (void)try_insn(T_MHARTID);
    (void)try_insn(T_SATP);
    CHECK_EQ(trap.count, 0);
    trap_done();
}

int main(void)
{
    mret_to_m();
    mret_down_ecall_up();
    sret_paths();
    ecalls();
    illegal_where();
    return 0;
}

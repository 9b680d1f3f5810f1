/* Synchronous exceptions taken in M-mode: illegal instruction, ebreak,
 * ecall from M, fetch/load/store access faults at unmapped physical
 * addresses, misaligned accesses, the mcause/mtval/mepc of each, mepc's
 * WARL bit 0, jalr to an odd address (with C, only bit 0 is cleared: no
 * fault), and mstatus.MIE/MPIE/MPP on trap entry and mret. */
#include "sys.h"

const char test_name[] = "traps";

static void illegal(void)
{
    uint64_t pc;

    /* a reserved major opcode (inst[6:2] = 11101) */
    trap_expect(TRAP_SKIP);
    pc = AT(".word 0x00000077");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    CHECK_EQ(trap.epc, pc);
    CHECK(trap.tval == 0 || trap.tval == 0x77);   /* spec: 0 or the instruction bits */

    /* a write to a read-only CSR (csrrw x0, cycle, x0 = `unimp`) */
    trap_expect(TRAP_SKIP);
    pc = AT(".word 0xc0001073");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    CHECK_EQ(trap.epc, pc);
    CHECK(trap.tval == 0 || trap.tval == 0xc0001073);

    /* the all-zero 16-bit instruction is defined illegal (skip 4 = it and a c.nop) */
    trap_expect(TRAP_SKIP);
    pc = AT(".2byte 0\n.2byte 0x0001");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ILLEGAL);
    CHECK_EQ(trap.epc, pc);
    CHECK_EQ(trap.tval, 0);

    /* mret is legal in M only: sret in M is legal too (M may execute it); wfi
     * is legal. An FP instruction is tested in csr.c. */
    trap_done();
}

static void breaks_and_ecalls(void)
{
    uint64_t pc;

    trap_expect(TRAP_SKIP);
    pc = AT("ebreak");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.epc, pc);
    CHECK(trap.tval == 0 || trap.tval == pc);     /* spec: 0 or the pc */

    trap_expect(TRAP_SKIP);
    pc = AT(".2byte 0x9002\n.2byte 0x0001");     /* c.ebreak; c.nop */
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_BREAKPOINT);
    CHECK_EQ(trap.epc, pc);
    CHECK(trap.tval == 0 || trap.tval == pc);

    trap_expect(TRAP_SKIP);
    pc = AT("ecall");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.cause, EXC_ECALL_M);
    CHECK_EQ(trap.epc, pc);
    CHECK_EQ(trap.tval, 0);
    /* trap entry from M: MPP = M, MIE cleared, MPIE = the old MIE (0 here) */
    CHECK_EQ((trap.status & MS_MPP) >> MPP_SHIFT, PRIV_M);
    CHECK_EQ(trap.status & (MS_MIE | MS_MPIE), 0);

    /* with MIE = 1 (mie = 0, so no interrupt can be taken): MPIE = 1, MIE = 0
     * in the handler, MIE = 1 again after mret */
    CSR_WRITE(mie, 0);
    CSR_SET(mstatus, MS_MIE);
    trap_expect(TRAP_SKIP);
    (void)AT("ecall");
    CHECK_EQ(trap.count, 1);
    CHECK_EQ(trap.status & (MS_MIE | MS_MPIE), MS_MPIE);
    CHECK_EQ(CSR_READ(mstatus) & (MS_MIE | MS_MPIE), MS_MIE | MS_MPIE);
    CSR_CLEAR(mstatus, MS_MIE);
    trap_done();
}

static void epc_and_jumps(void)
{
    uint64_t saved = CSR_READ(mepc), v;

    /* (mepc[0] reading 0 is checked in strict.c: QEMU 7.2 keeps it) */
    CSR_WRITE(mepc, RAM_BASE + 0x1002);
    CHECK_EQ(CSR_READ(mepc), RAM_BASE + 0x1002);      /* IALIGN = 16 with C */
    CSR_WRITE(mepc, saved);

    /* jalr to an odd address clears bit 0 and does not fault */
    trap_expect(TRAP_RA);
    v = probe_fetch((uint64_t)pages_ret42 | 1, 0);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, 42);
    /* a 2-byte aligned target is fine with C */
    {
        uint64_t r;
        __asm__ volatile(".option push\n.option rvc\n"
                         "lla t0, 2f\n jalr t0\n j 3f\n"
                         ".balign 4\n c.nop\n"                /* 2: is at 4n+2 */
                         "2: c.li %0, 7\n c.jr ra\n"
                         "3:\n.option pop" : "=r"(r) :: "t0", "ra", "memory");
        CHECK_EQ(r, 7);
    }
    trap_done();
}

static void access_faults(void)
{
    static const uint64_t bad[] = { UNMAPPED_PA, UNMAPPED_PA2 + 0x18 };
    unsigned i;
    uint64_t v;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t a = bad[i];

        trap_expect(TRAP_SKIP); (void)probe_ld(a);
        CHECK_TRAP(EXC_LOAD_ACCESS, a, PRIV_M);
        trap_expect(TRAP_SKIP); (void)probe_lw(a + 4);
        CHECK_TRAP(EXC_LOAD_ACCESS, a + 4, PRIV_M);
        trap_expect(TRAP_SKIP); (void)probe_lbu(a + 3);
        CHECK_TRAP(EXC_LOAD_ACCESS, a + 3, PRIV_M);
        trap_expect(TRAP_SKIP); probe_sd(a, 1);
        CHECK_TRAP(EXC_STORE_ACCESS, a, PRIV_M);
        trap_expect(TRAP_SKIP); probe_sb(a + 5, 1);
        CHECK_TRAP(EXC_STORE_ACCESS, a + 5, PRIV_M);
        /* (an AMO there must be a store/AMO access fault: strict.c; QEMU 7.2
         * reports a load access fault) */
        trap_expect(TRAP_RA); v = probe_fetch(a, 0);
        CHECK_TRAP(EXC_INSN_ACCESS, a, PRIV_M);
        CHECK_EQ(trap.epc, a);
        CHECK_EQ(v, a);
    }
    trap_done();
}

static void misaligned(void)
{
    static uint64_t buf[4] __attribute__((aligned(16)));
    uint64_t a = (uint64_t)buf, v;

    buf[0] = 0x8877665544332211ull;
    buf[1] = 0xffeeddccbbaa9988ull;
    /* plain loads and stores are carried out */
    trap_expect(TRAP_SKIP);
    v = probe_ld(a + 3);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, 0xaa99888877665544ull);
    v = probe_lw(a + 6);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(v, 0xffffffff99888877ull);
    probe_sd(a + 5, 0x0102030405060708ull);
    CHECK_EQ(trap.count, 0);
    CHECK_EQ(buf[0], 0x0607085544332211ull);
    CHECK_EQ(buf[1], 0xffeedd0102030405ull);
    /* AMOs and LR/SC must be aligned: address-misaligned or access fault */
    trap_expect(TRAP_SKIP); (void)probe_amoadd_d(a + 4, 1);
    CHECK_EQ(trap.count, 1);        /* the cause (store/AMO) is checked in strict.c */
    CHECK_EQ(trap.tval, a + 4);
    trap_expect(TRAP_SKIP); (void)probe_amoadd_w(a + 2, 1);
    CHECK_EQ(trap.count, 1);        /* the cause (store/AMO) is checked in strict.c */
    CHECK_EQ(trap.tval, a + 2);
    trap_expect(TRAP_SKIP); (void)probe_lr_d(a + 1);
    CHECK_EQ(trap.count, 1);
    CHECK(trap.cause == EXC_LOAD_MISALIGNED || trap.cause == EXC_LOAD_ACCESS);
    CHECK_EQ(trap.tval, a + 1);
    /* (a misaligned sc.d must trap even without a reservation: strict.c) */
    CHECK_EQ(buf[0], 0x0607085544332211ull);            /* nothing was written */
    CHECK_EQ(buf[1], 0xffeedd0102030405ull);
    trap_done();
}

int main(void)
{
    illegal();
    breaks_and_ecalls();
    epc_and_jumps();
    access_faults();
    misaligned();
    return 0;
}

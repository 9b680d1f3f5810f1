/* SBI test program: runs in S-mode on `vessel run --smp 2` (built-in SBI),
 * calls every extension vessel offers, checks the results against the SBI
 * v2.0 spec, prints TAP lines through the DBCN console and ends with SRST:
 * shutdown with reason "none" when every check passed, "system failure"
 * otherwise (vessel then exits 0 or 1). */
#include <stdint.h>

#define EXT_BASE 0x10
#define EXT_TIME 0x54494D45
#define EXT_IPI 0x735049
#define EXT_RFENCE 0x52464E43
#define EXT_HSM 0x48534D
#define EXT_SRST 0x53525354
#define EXT_DBCN 0x4442434E

#define ERR_NOT_SUPPORTED (-2)
#define ERR_INVALID_PARAM (-3)
#define ERR_INVALID_ADDRESS (-5)
#define ERR_ALREADY_AVAILABLE (-6)

#define SIP_SSIP (1u << 1)
#define SIP_STIP (1u << 5)

struct ret { long err; long val; };

static struct ret sbi(long eid, long fid, long a0, long a1, long a2)
{
    register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2;
    register long r6 __asm__("a6") = fid, r7 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
    return (struct ret){ r0, r1 };
}

static long legacy(long eid, long a0)
{
    register long r0 __asm__("a0") = a0, r7 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(r0) : "r"(r7) : "memory", "a1");
    return r0;
}

#define CSR_READ(c) ({ uint64_t v_; __asm__ volatile("csrr %0, " #c : "=r"(v_) :: "memory"); v_; })
#define CSR_SET(c, v) __asm__ volatile("csrs " #c ", %0" :: "r"((uint64_t)(v)) : "memory")
#define CSR_CLEAR(c, v) __asm__ volatile("csrc " #c ", %0" :: "r"((uint64_t)(v)) : "memory")

static unsigned long slen(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
static void puts_(const char *s) { sbi(EXT_DBCN, 0, (long)slen(s), (long)s, 0); }
static void putnum(long v)
{
    char b[24];
    int i = 23;
    int neg = v < 0;
    unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
    b[i] = 0;
    do { b[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (neg)
        b[--i] = '-';
    puts_(b + i);
}

static int n_checks, n_failed;
static void check(int cond, const char *name, long got)
{
    n_checks++;
    if (!cond)
        n_failed++;
    puts_(cond ? "ok " : "not ok ");
    putnum(n_checks);
    puts_(" - sbi: ");
    puts_(name);
    if (!cond) {
        puts_(" (got ");
        putnum(got);
        puts_(")");
    }
    puts_("\n");
}

void unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    puts_("not ok - sbi: unexpected trap, scause ");
    putnum((long)cause);
    puts_(" sepc ");
    putnum((long)epc);
    puts_(" stval ");
    putnum((long)tval);
    puts_("\n");
    sbi(EXT_SRST, 0, 0, 1, 0);
}

static volatile long second_hartid = -1, second_arg, second_runs;
static volatile long second_suspend;     /* 1: hart 1 suspends (non-retentive) instead of stopping */
static volatile long resumed_hartid = -1, resumed_arg, resumed_runs, resumed_sstatus, suspend_err;
extern char second_entry[], resume_entry[];

/* Hart 1 after hart_start: note who it is and stop again, or go into a
 * non-retentive suspend that an IPI ends. */
void secondary(long hartid, long arg)
{
    second_hartid = hartid;
    second_arg = arg;
    __atomic_fetch_add(&second_runs, 1, __ATOMIC_SEQ_CST);
    if (second_suspend) {
        CSR_SET(sie, SIP_SSIP);        /* the IPI is what wakes it */
        suspend_err = sbi(EXT_HSM, 3, 0x80000000, (long)resume_entry, 0xabcd).err;
    }
    sbi(EXT_HSM, 1, 0, 0, 0);         /* hart_stop: does not return */
    for (;;)
        ;
}

/* Hart 1 back from the non-retentive suspend: a0 = hartid, a1 = opaque. */
void resumed(long hartid, long arg)
{
    resumed_hartid = hartid;
    resumed_arg = arg;
    resumed_sstatus = (long)CSR_READ(sstatus);
    CSR_CLEAR(sip, SIP_SSIP);
    __atomic_fetch_add(&resumed_runs, 1, __ATOMIC_SEQ_CST);
    sbi(EXT_HSM, 1, 0, 0, 0);
    for (;;)
        ;
}

static long hart_status(long h) { return sbi(EXT_HSM, 2, h, 0, 0).val; }

static void wait_status(long h, long want)
{
    for (long i = 0; i < 100000000 && hart_status(h) != want; i++)
        ;
}

static uint64_t now(void) { return CSR_READ(time); }

int main(long hartid, long fdt)
{
    struct ret r;
    puts_("# sbi test program in S-mode\n");
    check(hartid == 0, "boot hart is hart 0 (a0)", hartid);
    check(fdt != 0 && *(volatile uint32_t *)fdt == 0xedfe0dd0, "a1 points to the device tree", fdt);

    /* base */
    r = sbi(EXT_BASE, 0, 0, 0, 0);
    check(r.err == 0 && r.val == 0x2000000, "spec version 2.0", r.val);
    r = sbi(EXT_BASE, 1, 0, 0, 0);
    check(r.err == 0, "get_impl_id", r.err);
    static const long exts[] = { EXT_BASE, EXT_TIME, EXT_IPI, EXT_RFENCE, EXT_HSM, EXT_SRST, EXT_DBCN, 1, 2 };
    int all = 1;
    for (unsigned i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        all &= sbi(EXT_BASE, 3, exts[i], 0, 0).val == 1;
    check(all, "probe finds base, time, ipi, rfence, hsm, srst, dbcn, legacy console", 0);
    r = sbi(EXT_BASE, 3, 0x504D55, 0, 0);     /* PMU */
    check(r.err == 0 && r.val == 0, "probe of an absent extension (PMU) gives 0", r.val);
    r = sbi(EXT_BASE, 42, 0, 0, 0);
    check(r.err == ERR_NOT_SUPPORTED, "unknown base function: NOT_SUPPORTED", r.err);
    r = sbi(0x0A000000, 0, 0, 0, 0);
    check(r.err == ERR_NOT_SUPPORTED, "unknown extension: NOT_SUPPORTED", r.err);

    /* consoles */
    legacy(1, '#');
    legacy(1, '\n');
    check(legacy(2, 0) == -1, "legacy getchar with no input gives -1", 0);
    static const char msg[] = "# dbcn write\n";
    r = sbi(EXT_DBCN, 0, sizeof(msg) - 1, (long)msg, 0);
    check(r.err == 0 && r.val == (long)sizeof(msg) - 1, "dbcn console_write returns the byte count", r.val);
    r = sbi(EXT_DBCN, 0, 16, 0x1000, 0);
    check(r.err == ERR_INVALID_PARAM, "dbcn write from outside RAM: INVALID_PARAM", r.err);
    r = sbi(EXT_DBCN, 2, '#', 0, 0);
    sbi(EXT_DBCN, 2, '\n', 0, 0);
    check(r.err == 0, "dbcn write_byte", r.err);
    static char inbuf[8];
    r = sbi(EXT_DBCN, 1, sizeof(inbuf), (long)inbuf, 0);
    check(r.err == 0 && r.val == 0, "dbcn console_read: no bytes", r.val);

    /* time: the timer fires after set_timer, and set_timer(-1) clears it */
    CSR_SET(sie, SIP_STIP);
    r = sbi(EXT_TIME, 0, (long)(now() + 20000), 0, 0);   /* 2 ms */
    check(r.err == 0 && !(CSR_READ(sip) & SIP_STIP), "set_timer in the future: STIP clear", r.err);
    uint64_t t0 = now();
    while (!(CSR_READ(sip) & SIP_STIP) && now() - t0 < 10000000)
        __asm__ volatile("wfi");
    check(CSR_READ(sip) & SIP_STIP, "the timer fires (STIP)", (long)(now() - t0));
    sbi(EXT_TIME, 0, -1, 0, 0);
    check(!(CSR_READ(sip) & SIP_STIP), "set_timer(-1) clears STIP", 0);
    legacy(0, (long)(now() + 10000));
    t0 = now();
    while (!(CSR_READ(sip) & SIP_STIP) && now() - t0 < 10000000)
        __asm__ volatile("wfi");
    check(CSR_READ(sip) & SIP_STIP, "legacy set_timer fires too", 0);
    sbi(EXT_TIME, 0, -1, 0, 0);

    /* hsm suspend (retentive): returns once the timer interrupt is pending */
    sbi(EXT_TIME, 0, (long)(now() + 20000), 0, 0);
    t0 = now();
    r = sbi(EXT_HSM, 3, 0, 0, 0);
    check(r.err == 0 && (CSR_READ(sip) & SIP_STIP) && now() - t0 >= 15000,
          "hart_suspend(retentive) returns after the timer", (long)(now() - t0));
    sbi(EXT_TIME, 0, -1, 0, 0);
    CSR_CLEAR(sie, SIP_STIP);
    r = sbi(EXT_HSM, 3, 0x80000000, 0x1000, 0);
    check(r.err == ERR_INVALID_ADDRESS, "hart_suspend(non-retentive) to an address outside RAM: INVALID_ADDRESS",
          r.err);
    r = sbi(EXT_HSM, 3, 5, 0, 0);
    check(r.err == ERR_INVALID_PARAM, "hart_suspend(reserved type): INVALID_PARAM", r.err);
    r = sbi(EXT_HSM, 3, 0x10000000, 0, 0);
    check(r.err == ERR_INVALID_PARAM, "hart_suspend(platform type, none implemented): INVALID_PARAM", r.err);

    /* ipi to itself sets SSIP */
    CSR_CLEAR(sip, SIP_SSIP);
    r = sbi(EXT_IPI, 0, 1, 0, 0);
    check(r.err == 0 && (CSR_READ(sip) & SIP_SSIP), "send_ipi to self sets SSIP", r.err);
    CSR_CLEAR(sip, SIP_SSIP);
    check(!(CSR_READ(sip) & SIP_SSIP), "the kernel clears SSIP", 0);
    r = sbi(EXT_IPI, 0, 1, 5, 0);
    check(r.err == ERR_INVALID_PARAM, "send_ipi to a hart that does not exist: INVALID_PARAM", r.err);
    r = sbi(EXT_IPI, 0, 0, -1, 0);
    check(r.err == 0 && (CSR_READ(sip) & SIP_SSIP), "send_ipi with base -1 reaches every hart", r.err);
    CSR_CLEAR(sip, SIP_SSIP);

    /* rfence */
    r = sbi(EXT_RFENCE, 0, 0, -1, 0);
    check(r.err == 0, "remote_fence_i on all harts", r.err);
    r = sbi(EXT_RFENCE, 1, 3, 0, 0);
    check(r.err == 0, "remote_sfence_vma on harts 0-1", r.err);
    r = sbi(EXT_RFENCE, 2, 1, 0, 0);
    check(r.err == 0, "remote_sfence_vma_asid", r.err);
    r = sbi(EXT_RFENCE, 3, 1, 0, 0);
    check(r.err == ERR_NOT_SUPPORTED, "remote_hfence_gvma_vmid: NOT_SUPPORTED", r.err);
    r = sbi(EXT_RFENCE, 1, 1, 9, 0);
    check(r.err == ERR_INVALID_PARAM, "remote_sfence_vma on a hart that does not exist", r.err);

    /* hsm */
    check(hart_status(0) == 0, "hart 0 is STARTED", hart_status(0));
    check(hart_status(1) == 1, "hart 1 waits STOPPED", hart_status(1));
    r = sbi(EXT_HSM, 2, 9, 0, 0);
    check(r.err == ERR_INVALID_PARAM, "get_status of a hart that does not exist", r.err);
    r = sbi(EXT_HSM, 0, 0, (long)second_entry, 0);
    check(r.err == ERR_ALREADY_AVAILABLE, "hart_start of a running hart: ALREADY_AVAILABLE", r.err);
    r = sbi(EXT_HSM, 0, 9, (long)second_entry, 0);
    check(r.err == ERR_INVALID_PARAM, "hart_start of a hart that does not exist", r.err);
    r = sbi(EXT_HSM, 0, 1, 0x1000, 0);
    check(r.err == ERR_INVALID_ADDRESS, "hart_start at an address outside RAM: INVALID_ADDRESS", r.err);
    r = sbi(EXT_HSM, 0, 1, (long)second_entry, 0x1234);
    check(r.err == 0, "hart_start of hart 1", r.err);
    for (long i = 0; i < 100000000 && second_runs < 1; i++)
        ;
    check(second_runs == 1 && second_hartid == 1 && second_arg == 0x1234,
          "hart 1 runs with a0 = hartid, a1 = opaque", second_arg);
    wait_status(1, 1);
    check(hart_status(1) == 1, "hart_stop: hart 1 STOPPED again", hart_status(1));
    r = sbi(EXT_HSM, 0, 1, (long)second_entry, 0x5678);
    for (long i = 0; i < 100000000 && second_runs < 2; i++)
        ;
    check(r.err == 0 && second_runs == 2 && second_arg == 0x5678, "a stopped hart starts again", second_runs);
    wait_status(1, 1);

    /* non-retentive suspend on hart 1: SUSPENDED until an IPI, then it
     * starts at resume_addr with a0 = hartid, a1 = opaque, SIE off */
    second_suspend = 1;
    r = sbi(EXT_HSM, 0, 1, (long)second_entry, 0);
    wait_status(1, 4);
    check(r.err == 0 && hart_status(1) == 4, "hart_suspend(non-retentive): SUSPENDED", hart_status(1));
    check(resumed_runs == 0, "a suspended hart does not run", resumed_runs);
    sbi(EXT_IPI, 0, 2, 0, 0);
    for (long i = 0; i < 100000000 && resumed_runs < 1; i++)
        ;
    check(resumed_runs == 1 && resumed_hartid == 1 && resumed_arg == 0xabcd,
          "an interrupt resumes it at resume_addr with a0 = hartid, a1 = opaque", resumed_arg);
    check(!(resumed_sstatus & 2), "resumed with sstatus.SIE clear", resumed_sstatus);
    check(suspend_err == 0, "the suspend call itself never returned", suspend_err);
    wait_status(1, 1);
    second_suspend = 0;

    /* srst argument checks (the real call comes last) */
    r = sbi(EXT_SRST, 0, 7, 0, 0);
    check(r.err == ERR_INVALID_PARAM, "system_reset with a reserved type: INVALID_PARAM", r.err);
    r = sbi(EXT_SRST, 0, 0, 7, 0);
    check(r.err == ERR_INVALID_PARAM, "system_reset with a reserved reason: INVALID_PARAM", r.err);

    puts_(n_failed ? "# some checks failed\n" : "# all checks passed\n");
    sbi(EXT_SRST, 0, 0, n_failed ? 1 : 0, 0);
    puts_("not ok - sbi: system_reset returned\n");
    for (;;)
        ;
}

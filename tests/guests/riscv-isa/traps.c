/* Instructions that must trap, as a Linux riscv64 program sees it: the
 * signal number, si_code and si_addr (= the faulting pc for SIGILL/SIGTRAP)
 * after illegal encodings, a reserved dynamic rounding mode, a write to a
 * read-only CSR or a machine-mode CSR, a reserved C encoding, ebreak and
 * c.ebreak. The handler leaves with siglongjmp. */
#define _GNU_SOURCE
#include "check.h"
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static sigjmp_buf env;
static volatile int got_sig, got_code;
static void *volatile got_addr;

static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    siglongjmp(env, 1);
}

/* run BODY, whose first trapping instruction is at local label 1; report
 * signal, si_code and si_addr minus the address of that label */
#define TRAP(name, exp_sig, exp_code, body) do { \
    static void *lab_; got_sig = 0; got_code = 0; \
    if (sigsetjmp(env, 1) == 0) { __asm__ volatile("la t1, 1f\n\tsd t1, %0\n\t" body : "=m"(lab_) :: "memory", "t0", "t1", "ft0"); } \
    chk(name " signal", got_sig, exp_sig); \
    chk(name " si_code", got_code, exp_code); \
    chk(name " si_addr - pc", got_sig ? (uint64_t)((char *)got_addr - (char *)lab_) : 1, 0); \
} while (0)

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, 0);
    sigaction(SIGTRAP, &sa, 0);
    TRAP("all-zero halfword", SIGILL, ILL_ILLOPC, "1:\t.2byte 0");
    TRAP("all-ones word", SIGILL, ILL_ILLOPC, "1:\t.4byte 0xffffffff");
    TRAP("fadd.d dyn with frm=5", SIGILL, ILL_ILLOPC, "fsrmi 5\n1:\tfadd.d ft0, ft0, ft0, dyn");
    __asm__ volatile("fsrmi 0");
    TRAP("fadd.d static rm=5 (reserved)", SIGILL, ILL_ILLOPC, "1:\t.4byte 0x02005053");
    TRAP("fadd.d static rm=6 (reserved)", SIGILL, ILL_ILLOPC, "1:\t.4byte 0x02006053");
    TRAP("csrw cycle (read-only)", SIGILL, ILL_ILLOPC, "li t0, 1\n1:\tcsrw cycle, t0");
    TRAP("csrr of mstatus (machine CSR)", SIGILL, ILL_ILLOPC, "1:\tcsrr t0, mstatus");
    TRAP("c.addi4spn imm=0 (reserved)", SIGILL, ILL_ILLOPC, "1:\t.2byte 0x0004");
    TRAP("ebreak", SIGTRAP, TRAP_BRKPT, "1:\tebreak");
    TRAP("c.ebreak", SIGTRAP, TRAP_BRKPT, "1:\tc.ebreak");
    /* frm=5 itself is writable: reading it back is fine */
    { uint64_t r; __asm__ volatile("fsrmi 5\n\tfrrm %0\n\tfsrmi 0" : "=r"(r)); chk("frm holds 5", r, 5); }
    return done();
}

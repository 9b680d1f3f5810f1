/* libFuzzer: the RV64GC decoder, interpreter and translator on
 * guest-controlled code. The input is raw instruction bytes. Byte 0 picks
 * the machine: even = a user-mode machine over a small flat space (code page r-x at 0x10000, data
 * rw at 0x20000..0x30000), odd = a system machine with 1 MiB of RAM at
 * 0x80000000 and an empty bus, starting in M-mode, so CSRs, traps, the MMU
 * (the code may build page tables and switch satp) and MMIO faults are
 * exercised too; bit 1 turns the translator on there (VESSEL_JIT_THRESHOLD=0).
 * User-mode code runs three times, interpreted, translated through the TLB
 * and translated with direct access (guest memory at a fixed host offset in
 * a guarded reservation whose host protection mirrors the guest's, host
 * faults sent to the slow path by rv_jit_host_fault), and every exit must
 * leave the same state and memory. Every exit is fine; a crash, a hang, a
 * difference or a sanitizer report is a bug. Time is not the host's: each
 * machine reads a clock that starts at the same tick in every run and
 * advances by one per read, so a guest reading `time` (or a timer) sees the
 * same values interpreted and translated, and an input replays exactly
 * (cycle and instret count instructions and need nothing). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "emu/riscv/riscv.h"
#include "mem/mem.h"
#include "bus/bus.h"

#define U_BASE 0x10000ULL
#define U_SIZE 0x20000ULL
static uint8_t *u_mem;

static int u_fill(struct rv_hart *h, uint64_t va, enum rv_access acc, uintptr_t *addend, uint64_t *pa)
{
    (void)h; (void)pa;
    if (va < U_BASE || va >= U_BASE + U_SIZE)
        return acc == RV_ACC_READ ? -RV_EXC_LOAD_PAGE : acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE : -RV_EXC_INSN_PAGE;
    bool code = va < U_BASE + 0x10000;
    if ((acc == RV_ACC_WRITE && code) || (acc == RV_ACC_EXEC && !code))
        return acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE : -RV_EXC_INSN_PAGE;
    *addend = (uintptr_t)u_mem - U_BASE;
    return 0;
}
static const struct rv_mem_ops u_ops = { .fill_tlb = u_fill };

/* Direct access: guest [0, D_SPACE) at host d_resv + va, 64 KiB guards
 * below and 1 MiB above; the code pages are host read-only as the guest's
 * (never writable: no code-page protection needed). */
#define D_SPACE (1ULL << 20)
static uint8_t *d_resv;
static struct rv_hart *d_hart;
static struct sigaction d_old_segv, d_old_bus;
static struct rv_mem_ops d_ops = { .fill_tlb = u_fill, .direct_size = D_SPACE };

static void d_fault(int sig, siginfo_t *si, void *uc)
{
    if (d_hart && rv_jit_host_fault(d_hart, uc))
        return;
    /* not translated code's: libFuzzer's handler (or the default) */
    const struct sigaction *o = sig == SIGSEGV ? &d_old_segv : &d_old_bus;
    if ((o->sa_flags & SA_SIGINFO) && o->sa_sigaction) {
        o->sa_sigaction(sig, si, uc);
    } else if (o->sa_handler != SIG_DFL && o->sa_handler != SIG_IGN) {
        o->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static uint8_t *d_space(void)
{
    uint8_t *p = mmap(NULL, (64u << 10) + D_SPACE + (1u << 20), PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        abort();
    d_resv = p + (64u << 10);
    d_ops.direct_base = d_resv;
    struct sigaction sa = { .sa_sigaction = d_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigaction(SIGSEGV, &sa, &d_old_segv);
    sigaction(SIGBUS, &sa, &d_old_bus);
    return d_resv + U_BASE;
}

/* The deterministic clock: FUZZ_T0 at the start of a run, +1 per read. */
#define FUZZ_T0 1000000ULL
static uint64_t fuzz_clock(void *opaque)
{
    uint64_t *t = opaque;
    return (*t)++;
}

/* A user machine with the translator off, or on for every block. */
static struct rv_machine *u_machine(bool jit, const struct rv_mem_ops *ops)
{
    setenv("VESSEL_JIT", jit ? "1" : "0", 1);
    setenv("VESSEL_JIT_THRESHOLD", "0", 1);
    struct rv_machine *m = rv_machine_new_user(ops);
    unsetenv("VESSEL_JIT");
    unsetenv("VESSEL_JIT_THRESHOLD");
    return m;
}

struct u_state {
    enum rv_exit e;
    uint64_t pc, instret, x[32], f[32], cause, tval, fcsr;
};

static void u_snap(struct rv_hart *h, enum rv_exit e, struct u_state *s)
{
    memset(s, 0, sizeof(*s));
    s->e = e;
    s->pc = rv_get_pc(h);
    s->instret = rv_instret(h);
    for (unsigned r = 0; r < 32; r++) {
        s->x[r] = rv_get_x(h, r);
        s->f[r] = rv_get_f(h, r);
    }
    rv_csr_read(h, 0x003, &s->fcsr);        /* fflags and frm */
    if (e == RV_EXIT_FAULT)
        rv_hart_exception(h, &s->cause, &s->tval);
}

/* Run the code on `mem` until it stops; the state at every exit. */
static unsigned u_run(struct rv_machine *m, uint8_t *mem, const uint8_t *data, size_t size, struct u_state *st)
{
    uint64_t ticks = FUZZ_T0;
    rv_machine_set_clock(m, fuzz_clock, &ticks);
    u_mem = mem;
    bool direct = d_resv && mem == d_resv + U_BASE;
    if (direct)
        mprotect(mem, U_SIZE, PROT_READ | PROT_WRITE);
    memset(u_mem, 0, U_SIZE);
    memcpy(u_mem, data, size);
    if (direct)
        mprotect(mem, 0x10000, PROT_READ);     /* the code, as u_fill has it */
    rv_invalidate_code(m, 0, ~0ULL);
    struct rv_hart *h = rv_hart_new(m, 0);
    if (direct)
        d_hart = h;
    rv_hart_reset(h, U_BASE);
    for (unsigned r = 1; r < 32; r++)
        rv_set_x(h, r, U_BASE + 0x10000 + r * 64);
    unsigned n = 0;
    while (n < 64) {
        enum rv_exit e = rv_run(h, 2000);
        u_snap(h, e, &st[n++]);
        if (e == RV_EXIT_ECALL || e == RV_EXIT_EBREAK)
            rv_set_pc(h, rv_get_pc(h) + 4);     /* skip and go on */
        else
            break;
    }
    d_hart = NULL;
    rv_hart_free(h);
    rv_machine_set_clock(m, NULL, NULL);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 0x8000)
        return 0;
    bool sys = data[0] & 1, jit = data[0] & 2;
    data++;
    size--;
    if (!sys) {
        /* differential: the interpreter and the translator must leave the
         * same state at every exit, and the same memory */
        static struct rv_machine *mi, *mj, *md;
        static uint8_t *mem_i, *mem_j, *mem_d;
        static struct u_state si[64], sj[64], sd[64];
        if (!mi) {
            mem_d = d_space();
            mi = u_machine(false, &u_ops);
            mj = u_machine(true, &u_ops);
            md = u_machine(true, &d_ops);
            mem_i = mmap(NULL, U_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            mem_j = mmap(NULL, U_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        }
        unsigned ni = u_run(mi, mem_i, data, size, si);
        unsigned nj = u_run(mj, mem_j, data, size, sj);
        if (ni != nj || memcmp(si, sj, ni * sizeof(si[0])) || memcmp(mem_i, mem_j, U_SIZE))
            __builtin_trap();
        unsigned nd = u_run(md, mem_d, data, size, sd);
        if (ni != nd || memcmp(si, sd, ni * sizeof(si[0])) || memcmp(mem_i, mem_d, U_SIZE))
            __builtin_trap();
        return 0;
    }
    struct guest_mem mem;
    struct bus bus;
    mem_init(&mem);
    bus_init(&bus);
    if (mem_add_ram(&mem, 0x80000000ULL, 1 << 20, 0) < 0)
        return 0;
    memcpy(mem.r[0].host, data, size);
    struct rv_sys_config cfg = { .mem = &mem, .bus = &bus, .nharts = 1, .sv48 = true };
    setenv("VESSEL_JIT", jit ? "1" : "0", 1);
    setenv("VESSEL_JIT_THRESHOLD", "0", 1);
    setenv("VESSEL_JIT_ASYNC", "0", 1);      /* on this thread: reproducible */
    struct rv_machine *m = rv_machine_new_sys(&cfg);
    unsetenv("VESSEL_JIT");
    unsetenv("VESSEL_JIT_THRESHOLD");
    unsetenv("VESSEL_JIT_ASYNC");
    uint64_t ticks = FUZZ_T0;
    rv_machine_set_clock(m, fuzz_clock, &ticks);
    struct rv_hart *h = rv_hart_new(m, 0);
    rv_hart_reset(h, 0x80000000ULL);
    for (int n = 0; n < 16; n++) {
        enum rv_exit e = rv_run(h, 5000);
        if (e != RV_EXIT_WFI)
            break;
        rv_set_irq(h, RV_IRQ_MTI, n & 1);
    }
    rv_hart_free(h);
    rv_machine_free(m);
    mem_destroy(&mem);
    bus_destroy(&bus);
    return 0;
}

/* riscv64 rt_sigframe, as arch/riscv/kernel/signal.c lays it out:
 *   struct rt_sigframe { siginfo_t info (128); struct ucontext uc; }
 *   ucontext: uc_flags @0, uc_link @8, uc_stack @16 (sp, flags, size),
 *             uc_sigmask @40 (8 bytes + reserved to 128 bytes),
 *             uc_mcontext @176: gregs[32] (pc, x1..x31), then the F/D
 *             state: f[32] (64-bit each) and fcsr (u32), 528 bytes in all.
 * The handler returns to a trampoline page (li a7, 139; ecall), standing in
 * for the kernel's vDSO __vdso_rt_sigreturn. */
#include "emu/riscv/user/user.h"
#include "base/base.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

static void put64(uint8_t *o, uint64_t v) { memcpy(o, &v, 8); }
static void put32(uint8_t *o, uint32_t v) { memcpy(o, &v, 4); }
static uint64_t get64(const uint8_t *o) { uint64_t v; memcpy(&v, o, 8); return v; }
static uint32_t get32(const uint8_t *o) { uint32_t v; memcpy(&v, o, 4); return v; }

static bool on_altstack(const struct user_altstack *alt, uint64_t sp)
{
    return alt && alt->size && sp > alt->sp && sp - alt->sp <= alt->size;
}

static void fill_siginfo(uint8_t *o, int sig, const struct user_siginfo *si)
{
    memset(o, 0, USER_SIGINFO_SIZE);
    put32(o + 0, (uint32_t)sig);
    if (!si)
        return;
    put32(o + 4, (uint32_t)si->err);
    put32(o + 8, (uint32_t)si->code);
    switch (sig) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP:
        if (si->code > 0) {
            put64(o + 16, si->addr);
            break;
        }
        /* sent by kill */
        /* fallthrough */
    default:
        put32(o + 16, (uint32_t)si->pid);
        put32(o + 20, (uint32_t)si->uid);
        if (sig == SIGCHLD)
            put32(o + 24, (uint32_t)si->status);
        else
            put64(o + 24, (uint64_t)si->value);
    }
}

int user_sigframe_setup(struct user_mem *m, struct user_regs *regs, int sig,
                        const struct user_siginfo *si, uint64_t handler,
                        uint64_t blocked, const struct user_altstack *alt,
                        bool onstack)
{
    uint64_t sp = regs->x[2];
    if (onstack && alt && alt->size && !(alt->flags & SS_DISABLE) && !on_altstack(alt, sp))
        sp = alt->sp + alt->size;
    uint64_t f = (sp - USER_SIGFRAME_SIZE) & ~15ULL;
    if (f > sp || !user_mem_ok(m, f, USER_SIGFRAME_SIZE, PROT_READ | PROT_WRITE))
        return -EFAULT;
    uint8_t *o = user_mem_ptr(m, f, USER_SIGFRAME_SIZE);
    memset(o, 0, USER_SIGFRAME_SIZE);
    fill_siginfo(o, sig, si);
    uint8_t *uc = o + USER_UC_OFF;
    if (alt) {
        put64(uc + USER_UC_STACK, alt->sp);
        put32(uc + USER_UC_STACK + 8, (uint32_t)(alt->size == 0 ? SS_DISABLE :
                on_altstack(alt, regs->x[2]) ? SS_ONSTACK : alt->flags));
        put64(uc + USER_UC_STACK + 16, alt->size);
    } else {
        put32(uc + USER_UC_STACK + 8, SS_DISABLE);
    }
    put64(uc + USER_UC_SIGMASK, blocked);
    uint8_t *mc = uc + USER_UC_MCONTEXT;
    put64(mc, regs->pc);
    for (int i = 1; i < 32; i++)
        put64(mc + 8 * i, regs->x[i]);
    for (int i = 0; i < 32; i++)
        put64(mc + USER_MC_FPREGS + 8 * i, regs->f[i]);
    put32(mc + USER_MC_FPREGS + 256, regs->fcsr);

    regs->x[10] = (uint64_t)sig;
    regs->x[11] = f;
    regs->x[12] = f + USER_UC_OFF;
    regs->x[1] = USER_SIGTRAMP;
    regs->x[2] = f;
    regs->pc = handler;
    return 0;
}

int user_sigframe_restore(struct user_mem *m, struct user_regs *regs, uint64_t *blocked)
{
    uint64_t f = regs->x[2];
    if (!user_mem_ok(m, f, USER_SIGFRAME_SIZE, PROT_READ))
        return -EFAULT;
    const uint8_t *uc = m->host + f + USER_UC_OFF;
    const uint8_t *mc = uc + USER_UC_MCONTEXT;
    regs->pc = get64(mc);
    for (int i = 1; i < 32; i++)
        regs->x[i] = get64(mc + 8 * i);
    for (int i = 0; i < 32; i++)
        regs->f[i] = get64(mc + USER_MC_FPREGS + 8 * i);
    regs->fcsr = get32(mc + USER_MC_FPREGS + 256);
    *blocked = get64(uc + USER_UC_SIGMASK) &
               ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
    return 0;
}

int user_sigtramp_map(struct user_mem *m)
{
    int64_t r = user_mem_mmap(m, USER_SIGTRAMP, USER_PAGE, PROT_READ | PROT_WRITE,
                              MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r < 0)
        return (int)r;
    /* addi a7, zero, 139 ; ecall */
    const uint32_t code[2] = { (139u << 20) | (17u << 7) | 0x13u, 0x00000073u };
    memcpy(m->host + USER_SIGTRAMP, code, sizeof(code));
    return user_mem_mprotect(m, USER_SIGTRAMP, USER_PAGE, PROT_READ | PROT_EXEC);
}

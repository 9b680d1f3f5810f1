/* The run loop for user mode: one host thread per guest thread, each with
 * its own hart. Guest faults become synchronous signals; host signals for
 * which the guest installed a handler are caught (proc.c), queued, and
 * delivered at the next exit from rv_run (the handler kicks every hart). */
#include "emu/riscv/user/internal.h"
#include "emu/riscv/gdb.h"
#include "base/base.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SA_G_ONSTACK   0x08000000u
#define SA_G_RESTART   0x10000000u
#define SA_G_NODEFER   0x40000000u
#define SA_G_RESETHAND 0x80000000u

enum { NR_EXIT = 93, NR_EXIT_GROUP = 94, NR_RT_SIGSUSPEND = 133, NR_EXECVE = 221 };

static bool sig_default_ignored(int sig)
{
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}

static void wake_handler(int sig) { (void)sig; }

/* A host fault on guest memory that the page map did not catch (a stale
 * TLB entry after munmap on another thread, a file mapping past EOF): the
 * guest would get SIGSEGV/SIGBUS. Without a way to unwind the core at the
 * faulting instruction, deliver it as uncaught. Faults elsewhere are
 * vessel's own: die as usual. */
static void host_fault_handler(int sig, siginfo_t *si, void *uc)
{
    struct user_thread *cur = user_cur_thread;
    uintptr_t a = (uintptr_t)si->si_addr;
    /* a direct access of translated code: its slow path raises the guest's
     * exception (or makes a store to a code page) */
    if (cur && cur->h && rv_jit_host_fault(cur->h, uc))
        return;
    if (cur) {
        struct user_mem *m = &cur->p->mem;
        if (a >= (uintptr_t)m->host && a - (uintptr_t)m->host < m->size) {
            /* a store through a write TLB entry made before its page held
             * code (another hart's, not yet flushed): writable again */
            if (sig == SIGSEGV && user_mem_code_unprotect_async(m, a - (uintptr_t)m->host))
                return;
            user_die_of_signal(sig);
        }
    }
    signal(sig, SIG_DFL);       /* re-executes the faulting access and dies */
}

/* User-mode TLB fill: flat guest space, permissions from the page map. */
static int user_fill_tlb(struct rv_hart *h, uint64_t vaddr, enum rv_access acc,
                         uintptr_t *host_addend, uint64_t *paddr)
{
    (void)paddr;
    const struct user_proc *p = rv_machine_opaque(rv_hart_machine(h));
    const struct user_mem *m = &p->mem;
    int need = acc == RV_ACC_READ ? PROT_READ : acc == RV_ACC_WRITE ? PROT_WRITE : PROT_EXEC;
    if (vaddr < m->size) {
        uint8_t b = __atomic_load_n(&m->prot[vaddr / USER_PAGE], __ATOMIC_RELAXED);
        if ((b & USER_MAPPED) && (b & need)) {
            /* a store to a page kept read-only for its code: the caller
             * drops the code (rv_code_written) and stores through the host */
            if (acc == RV_ACC_WRITE && (b & USER_CODEPROT))
                user_mem_code_unprotect((struct user_mem *)m, vaddr, 1, false);
            *host_addend = (uintptr_t)m->host;
            return 0;
        }
    }
    return acc == RV_ACC_READ ? -RV_EXC_LOAD_PAGE :
           acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE : -RV_EXC_INSN_PAGE;
}

static void regs_get(struct rv_hart *h, struct user_regs *r)
{
    r->pc = rv_get_pc(h);
    r->x[0] = 0;
    for (unsigned i = 1; i < 32; i++)
        r->x[i] = rv_get_x(h, i);
    for (unsigned i = 0; i < 32; i++)
        r->f[i] = rv_get_f(h, i);
    uint64_t v = 0;
    rv_csr_read(h, 0x003, &v);
    r->fcsr = (uint32_t)v;
}

static void regs_set(struct rv_hart *h, const struct user_regs *r)
{
    rv_set_pc(h, r->pc);
    for (unsigned i = 1; i < 32; i++)
        rv_set_x(h, i, r->x[i]);
    for (unsigned i = 0; i < 32; i++)
        rv_set_f(h, i, r->f[i]);
    rv_csr_write(h, 0x003, r->fcsr);
}

static void strace_signal(int sig, const struct user_siginfo *si)
{
    char line[160];
    int n = snprintf(line, sizeof(line), "--- SIG%s {si_signo=%d, si_code=%d, si_addr=0x%llx} ---\n",
                     sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", sig, si->code,
                     (unsigned long long)si->addr);
    write_full(2, line, (size_t)MIN(n, (int)sizeof(line) - 1));
}

/* Take the lowest deliverable pending signal off the thread's or the
 * process's set. Returns it (0: none) and fills *si. */
static int take_signal(struct user_thread *t, struct user_siginfo *si)
{
    struct user_proc *p = t->p;
    for (;;) {
        uint64_t pend = (__atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) |
                         __atomic_load_n(&p->pending, __ATOMIC_SEQ_CST)) & ~t->blocked;
        if (!pend)
            return 0;
        int sig = __builtin_ctzll(pend) + 1;
        if (t->pending & USER_SIGBIT(sig)) {
            __atomic_and_fetch(&t->pending, ~USER_SIGBIT(sig), __ATOMIC_SEQ_CST);
            *si = t->pending_info[sig];
            return sig;
        }
        if (__atomic_fetch_and(&p->pending, ~USER_SIGBIT(sig), __ATOMIC_SEQ_CST) & USER_SIGBIT(sig)) {
            memset(si, 0, sizeof(*si));
            si->signo = sig;
            si->code = 0;      /* SI_USER: sent from outside */
            return sig;
        }
        /* another thread took it: look again */
    }
}

/* Push a frame for the guest handler of `sig` and switch the thread to it. */
static void enter_handler(struct user_thread *t, int sig, const struct user_siginfo *si,
                          const struct user_sigaction *act)
{
    struct user_regs r;
    regs_get(t->h, &r);
    uint64_t frame_mask = t->has_restore_mask ? t->restore_mask : t->blocked;
    if (user_sigframe_setup(&t->p->mem, &r, sig, si, act->handler, frame_mask, &t->alt,
                            act->flags & SA_G_ONSTACK) < 0)
        user_die_of_signal(SIGSEGV);
    regs_set(t->h, &r);
    t->blocked |= act->mask;
    if (!(act->flags & SA_G_NODEFER))
        t->blocked |= USER_SIGBIT(sig);
    t->blocked &= ~(USER_SIGBIT(SIGKILL) | USER_SIGBIT(SIGSTOP));
    t->has_restore_mask = false;
}

/* Deliver one deliverable pending signal, if any: one frame at a time, the
 * next exit from rv_run delivers more. */
static void deliver_signals(struct user_thread *t)
{
    struct user_proc *p = t->p;
    struct user_siginfo si;
    int sig;
    while ((sig = take_signal(t, &si)) != 0) {
        if (p->strace)
            strace_signal(sig, &si);
        pthread_mutex_lock(&p->sig_lock);
        struct user_sigaction act = p->act[sig];
        if (act.handler > 1 && (act.flags & SA_G_RESETHAND))
            p->act[sig].handler = 0;
        pthread_mutex_unlock(&p->sig_lock);
        if (act.handler == 1)
            continue;                       /* SIG_IGN */
        if (act.handler == 0) {
            if (sig_default_ignored(sig))
                continue;
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
                kill(getpid(), SIGSTOP);
                continue;
            }
            user_die_of_signal(sig);
        }
        enter_handler(t, sig, &si, &act);
        break;
    }
    if (t->has_restore_mask) {
        t->blocked = t->restore_mask;
        t->has_restore_mask = false;
    }
}

/* A fault inside the guest: queue the synchronous signal. If it is blocked
 * or ignored the process dies of it, as on Linux. */
static void fault_signal(struct user_thread *t, int sig, int code, uint64_t addr)
{
    struct user_proc *p = t->p;
    struct user_siginfo si = { .signo = sig, .code = code, .addr = addr };
    if ((t->blocked & USER_SIGBIT(sig)) || p->act[sig].handler == 1)
        user_die_of_signal(sig);
    t->pending_info[sig] = si;
    __atomic_or_fetch(&t->pending, USER_SIGBIT(sig), __ATOMIC_SEQ_CST);
}

static void handle_fault(struct user_thread *t)
{
    uint64_t cause = 0, tval = 0;
    rv_hart_exception(t->h, &cause, &tval);
    switch (cause) {
    case RV_EXC_ILLEGAL:
        fault_signal(t, SIGILL, 1 /* ILL_ILLOPC */, rv_get_pc(t->h));
        break;
    case RV_EXC_BREAKPOINT:
        fault_signal(t, SIGTRAP, 1 /* TRAP_BRKPT */, rv_get_pc(t->h));
        break;
    case RV_EXC_INSN_MISALIGNED: case RV_EXC_LOAD_MISALIGNED:
    case RV_EXC_STORE_MISALIGNED:
        fault_signal(t, SIGBUS, 1 /* BUS_ADRALN */, tval);
        break;
    default: {
        int b = user_mem_prot_of(&t->p->mem, tval);
        int need = cause == RV_EXC_LOAD_PAGE ? PROT_READ : cause == RV_EXC_STORE_PAGE ? PROT_WRITE : PROT_EXEC;
        if ((b & USER_MAPPED) && (b & need)) {
            /* an access across pages whose first page allows it: the
             * fault, as Linux reports it, is at the second page's start */
            tval = (tval | (USER_PAGE - 1)) + 1;
            b = user_mem_prot_of(&t->p->mem, tval);
        }
        fault_signal(t, SIGSEGV, (b & USER_MAPPED) ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */, tval);
    }
    }
}

static void handle_ecall(struct user_thread *t)
{
    struct user_proc *p = t->p;
    struct user_regs r;
    regs_get(t->h, &r);
    unsigned nr = (unsigned)r.x[17];
    bool noreturn = nr == NR_EXIT || nr == NR_EXIT_GROUP || nr == NR_EXECVE;
    struct user_regs call;          /* the call as made, for --strace */
    if (p->strace) {
        call = r;
        if (noreturn)
            user_strace(t, &call, 0, false);
    }
    int64_t ret = user_syscall(t, &r);
    if (p->strace && !noreturn)
        user_strace(t, &call, ret, true);
    if (ret == USER_SYSCALL_NORET) {
        if (!t->exiting)
            regs_set(t->h, &r);          /* rt_sigreturn */
        return;
    }
    if (ret == -EINTR && nr != NR_RT_SIGSUSPEND) {
        /* interrupted by a signal whose handler has SA_RESTART: re-run the ecall */
        uint64_t pend = (t->pending | p->pending) & ~t->blocked;
        if (pend) {
            int sig = __builtin_ctzll(pend) + 1;
            if (p->act[sig].handler > 1 && (p->act[sig].flags & SA_G_RESTART))
                return;                  /* pc still at the ecall, a0 untouched */
        }
    }
    rv_set_x(t->h, 10, (uint64_t)ret);
    rv_set_pc(t->h, r.pc + 4);
}

static void thread_loop(struct user_thread *t)
{
    struct user_run *run = t->p->run;
    while (!t->exiting) {
        uint64_t budget = run->gdb ? gdb_stub_before_run(run->gdb, t->h) : 0;
        enum rv_exit e = rv_run(t->h, budget);
        if (run->gdb && gdb_stub_after_run(run->gdb, t->h, e))
            continue;
        switch (e) {
        case RV_EXIT_ECALL:
            handle_ecall(t);
            break;
        case RV_EXIT_EBREAK:
            fault_signal(t, SIGTRAP, 1 /* TRAP_BRKPT */, rv_get_pc(t->h));
            break;
        case RV_EXIT_FAULT:
            handle_fault(t);
            break;
        default:
            break;
        }
        int gen = __atomic_load_n(&run->maps_gen, __ATOMIC_ACQUIRE);
        if (t->maps_gen != gen) {
            t->maps_gen = gen;
            rv_flush_tlb(t->h);
        }
        if (!t->exiting)
            deliver_signals(t);
    }
}

static void thread_finish(struct user_thread *t)
{
    if (t->clear_child_tid) {
        uint32_t *u = user_mem_ptr(&t->p->mem, t->clear_child_tid, 4);
        if (u && user_mem_ok(&t->p->mem, t->clear_child_tid, 4, PROT_WRITE)) {
            __atomic_store_n(u, 0, __ATOMIC_SEQ_CST);
            syscall(SYS_futex, u, FUTEX_WAKE, 1, NULL, NULL, 0);
        }
    }
    int code = t->exit_code;
    int left = user_thread_unregister(t->p, t);
    if (left == 0)
        user_exit_group(t->p, code);
}

/* run->thread_main: a clone()d thread (proc.c created its hart). */
static void *clone_thread_main(void *arg)
{
    struct user_clone_start *cs = arg;
    struct user_thread *t = cs->t;
    struct user_run *run = t->p->run;
    user_cur_thread = t;
    pthread_sigmask(SIG_SETMASK, &cs->mask, NULL);
    t->tid = (int)syscall(SYS_gettid);
    t->host = pthread_self();
    struct user_mem *m = &t->p->mem;
    if ((cs->flags & CLONE_PARENT_SETTID) && user_mem_ok(m, cs->ptid, 4, PROT_WRITE))
        *(int32_t *)user_mem_ptr(m, cs->ptid, 4) = t->tid;
    if ((cs->flags & CLONE_CHILD_SETTID) && user_mem_ok(m, cs->ctid, 4, PROT_WRITE))
        *(int32_t *)user_mem_ptr(m, cs->ctid, 4) = t->tid;
    regs_set(t->h, &cs->regs);
    cs->tid = t->tid;
    sem_post(&cs->started);           /* cs (and maybe t, once it exits) are gone after this */
    thread_loop(t);
    if (run->gdb)
        gdb_stub_remove_hart(run->gdb, t->h);
    thread_finish(t);
    rv_hart_free(t->h);
    free(t);
    return NULL;
}

static void gdb_kill(void *opaque)
{
    (void)opaque;
    fflush(stdout);
    _exit(128 + SIGKILL);
}

/* The debugger's server thread runs no guest code: it must not take the
 * host signals mirrored for the guest, so it starts with them blocked
 * (it inherits this thread's mask). */
static int start_gdb(struct user_proc *p, struct rv_hart *h)
{
    struct user_run *run = p->run;
    struct gdb_stub_config gc = { .m = run->machine, .wait = true, .kill = gdb_kill, .opaque = p };
    sigset_t old;
    user_block_async_signals(&old);
    run->gdb = gdb_stub_start(p->gdb, &gc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!run->gdb)
        return -1;
    gdb_stub_add_hart(run->gdb, h);
    return 0;
}

static void install_host_handlers(void)
{
    struct sigaction wake = { .sa_handler = wake_handler };   /* no SA_RESTART */
    sigaction(USER_WAKE_SIG, &wake, NULL);
    struct sigaction fault = { .sa_sigaction = host_fault_handler,
                               .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigaction(SIGSEGV, &fault, NULL);
    sigaction(SIGBUS, &fault, NULL);
}

/* The first thread's initial stack (argv, envp, auxv) and the sigreturn
 * trampoline. Returns the initial sp, or 0 after logging why not. */
static uint64_t initial_stack(struct user_proc *p, int argc, char *const *argv, char *const *envp)
{
    int rc = user_sigtramp_map(&p->mem);
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0x5a, sizeof(rnd));
    uint64_t sp = 0;
    if (rc == 0)
        rc = user_stack_build(&p->mem, USER_STACK_TOP, p->stack_size, &p->img, argc, argv,
                              envp, p->exec_fn ? p->exec_fn : p->exe_path, rnd, &sp);
    if (rc < 0) {
        log_error("exec: %s: cannot set up the initial stack: %s", p->exe_path, strerror(-rc));
        return 0;
    }
    return sp;
}

static void user_code_page(void *opaque, uint64_t va)
{
    user_mem_code_protect(&((struct user_proc *)opaque)->mem, va);
}
static void code_dropped(void *arg, uint64_t g, uint64_t len)
{
    user_code_changed(arg, g, len);
}

static struct user_run *run_new(struct user_proc *p)
{
    struct user_run *run = xzalloc(sizeof(*run));
    run->mem_ops = (struct rv_mem_ops){ .fill_tlb = user_fill_tlb, .opaque = p };
    /* translated loads and stores go straight to the reservation unless
     * VESSEL_JIT_DIRECT=0 (then through the TLB, as the interpreter) */
    const char *d = getenv("VESSEL_JIT_DIRECT");
    if (!(d && d[0] == '0' && !d[1])) {
        run->mem_ops.direct_base = p->mem.host;
        run->mem_ops.direct_size = p->mem.size;
        run->mem_ops.code_page = user_code_page;
        p->mem.code_dropped = code_dropped;
        p->mem.code_arg = p;
    }
    run->thread_main = clone_thread_main;
    pthread_mutex_init(&run->threads_lock, NULL);
    run->machine = rv_machine_new_user(&run->mem_ops);
    if (!run->machine) {
        free(run);
        return NULL;
    }
    return run;
}

/* Undo run_new and the first thread when the program cannot start. */
static int run_abort(struct user_proc *p, struct user_thread *t)
{
    if (t && t->h)
        rv_hart_free(t->h);
    free(t);
    rv_machine_free(p->run->machine);
    free(p->run);
    p->run = NULL;
    return 2;
}

int user_run(struct user_proc *p, int argc, char *const *argv, char *const *envp)
{
    uint64_t sp = initial_stack(p, argc, argv, envp);
    if (!sp)
        return 2;
    p->run = run_new(p);
    if (!p->run) {
        log_error("exec: cannot create the RISC-V machine");
        return 2;
    }
    struct user_thread *t = xzalloc(sizeof(*t));
    t->p = p;
    t->tid = getpid();
    t->host = pthread_self();
    t->h = rv_hart_new(p->run->machine, 0);
    if (!t->h) {
        log_error("exec: cannot create the RISC-V hart");
        return run_abort(p, t);
    }
    rv_hart_reset(t->h, p->img.entry);
    rv_set_x(t->h, 2, sp);
    if (p->gdb && start_gdb(p, t->h) < 0)
        return run_abort(p, t);
    user_cur_thread = t;
    install_host_handlers();
    user_thread_register(p, t);
    /* a guest SIGPIPE default kills, like natively: leave the host default */
    thread_loop(t);
    thread_finish(t);        /* exits the process when this was the last thread */
    pthread_exit(NULL);      /* SYS_exit on the main thread: the others go on */
}

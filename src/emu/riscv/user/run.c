/* Threads, the run loop and signal delivery for user mode.
 * One host thread per guest thread, each with its own hart. Signals:
 * guest faults become synchronous signals; host signals for which the guest
 * installed a handler are caught, queued, and delivered at the next exit
 * from rv_run (the handler kicks every hart). */
#include "emu/riscv/user/internal.h"
#include "emu/riscv/riscv.h"
#include "base/base.h"
#include "emu/riscv/user/user_config.h"
#if VESSEL_HAVE_RISCV_CORE_DETECTED
#define VESSEL_HAVE_RISCV_CORE 1
#endif
#if defined(VESSEL_HAVE_RISCV_CORE) && !defined(VESSEL_NO_GDB)
#include "emu/riscv/gdb.h"
#define USER_GDB 1
static struct gdb_stub *g_gdb;
#endif

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define USER_WAKE_SIG SIGRTMAX      /* host-only: interrupts a thread's blocking syscall */
static struct user_proc *g_proc;
#ifdef VESSEL_HAVE_RISCV_CORE
static __thread struct user_thread *cur_thread;
#endif
static pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_thread *g_threads[MAX_THREADS];
static int g_nthreads;

#define SA_G_SIGINFO   0x00000004u
#define SA_G_ONSTACK   0x08000000u
#define SA_G_RESTART   0x10000000u
#define SA_G_NODEFER   0x40000000u
#define SA_G_RESETHAND 0x80000000u
#define SIGBIT(s) (1ULL << ((s) - 1))

static UNUSED bool sig_default_ignored(int sig)
{
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}

static bool sig_core(int sig)
{
    switch (sig) {
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS:
    case SIGFPE: case SIGSEGV: case SIGSYS: case SIGXCPU: case SIGXFSZ:
        return true;
    default:
        return false;
    }
}

/* Uncaught fatal signal: for the core-dumping ones (SIGSEGV, SIGILL,
 * SIGABRT...) report like qemu, then die of the same signal so the parent
 * sees what it would see natively (shell status 128+sig). SIGTERM, SIGINT
 * and the like end the program silently, as natively. */
static UNUSED void __attribute__((noreturn)) die_of_signal(int sig)
{
    if (sig_core(sig)) {
        const char *name = strsignal(sig);
        fprintf(stderr, "vessel: uncaught target signal %d (%s) - core dumped\n", sig,
                name ? name : "?");
        fflush(stderr);
    }
    struct rlimit nocore = { 0, 0 };
    setrlimit(RLIMIT_CORE, &nocore);
    struct sigaction sa = { .sa_handler = SIG_DFL };
    sigaction(sig, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

void user_exit_group(struct user_proc *p, int code)
{
    (void)p;
#ifdef USER_GDB
    if (g_gdb) {
        gdb_stub_machine_exit(g_gdb, code);
        gdb_stub_join(g_gdb);        /* the 'W' reaches gdb before we are gone */
    }
#endif
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

/* ---------- host signal mirror ---------- */
static void host_sig_handler(int sig)
{
    struct user_proc *p = g_proc;
    if (!p || sig < 1 || sig > USER_NSIG)
        return;
    __atomic_or_fetch(&p->pending, SIGBIT(sig), __ATOMIC_SEQ_CST);
#ifdef VESSEL_HAVE_RISCV_CORE
    for (int i = 0; i < MAX_THREADS; i++) {
        struct user_thread *t = __atomic_load_n(&g_threads[i], __ATOMIC_ACQUIRE);
        if (t && t->h)
            rv_kick(t->h);
    }
#endif
}

void user_signal_host_update(struct user_proc *p, int sig)
{
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS ||
        sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig > 31)
        return;    /* synchronous ones are produced by the emulator, not the host */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigfillset(&sa.sa_mask);
    uint64_t h = p->act[sig].handler;
    if (h == 0)
        sa.sa_handler = SIG_DFL;
    else if (h == 1)
        sa.sa_handler = SIG_IGN;
    else
        sa.sa_handler = host_sig_handler;     /* no SA_RESTART: blocking calls see EINTR */
    sigaction(sig, &sa, NULL);
}

int user_signal_queue(struct user_proc *p, int tid, int sig, const struct user_siginfo *si)
{
    if (sig < 1 || sig > USER_NSIG)
        return -EINVAL;
    struct user_thread *target = NULL;
    pthread_mutex_lock(&g_threads_lock);
    for (int i = 0; i < MAX_THREADS; i++)
        if (g_threads[i] && (tid == 0 || g_threads[i]->tid == tid)) {
            target = g_threads[i];
            break;
        }
    if (!target) {
        pthread_mutex_unlock(&g_threads_lock);
        return -ESRCH;
    }
    if (si)
        target->pending_info[sig] = *si;
    else
        memset(&target->pending_info[sig], 0, sizeof(target->pending_info[sig]));
    target->pending_info[sig].signo = sig;
    __atomic_or_fetch(&target->pending, SIGBIT(sig), __ATOMIC_SEQ_CST);
#ifdef VESSEL_HAVE_RISCV_CORE
    if (target->h)
        rv_kick(target->h);
    /* wake it from a blocking host syscall (futex, read, sigsuspend) */
    if (target != cur_thread && target->host)
        pthread_kill(target->host, USER_WAKE_SIG);
#endif
    pthread_mutex_unlock(&g_threads_lock);
    return 0;
}

static UNUSED int register_thread(struct user_thread *t)
{
    pthread_mutex_lock(&g_threads_lock);
    for (int i = 0; i < MAX_THREADS; i++)
        if (!g_threads[i]) {
            __atomic_store_n(&g_threads[i], t, __ATOMIC_RELEASE);
            g_nthreads++;
            pthread_mutex_unlock(&g_threads_lock);
            return 0;
        }
    pthread_mutex_unlock(&g_threads_lock);
    return -EAGAIN;
}

/* Returns the number of threads left. */
static UNUSED int unregister_thread(struct user_thread *t)
{
    pthread_mutex_lock(&g_threads_lock);
    for (int i = 0; i < MAX_THREADS; i++)
        if (g_threads[i] == t)
            __atomic_store_n(&g_threads[i], NULL, __ATOMIC_RELEASE);
    int left = --g_nthreads;
    pthread_mutex_unlock(&g_threads_lock);
    return left;
}

/* ---------- execve ---------- */
static bool is_riscv64_elf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf64_Ehdr eh;
    ssize_t n = read(fd, &eh, sizeof(eh));
    close(fd);
    return n == (ssize_t)sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
           eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_RISCV;
}

static char **guest_strv(struct user_proc *p, uint64_t g, int *n_out)
{
    int n = 0;
    char **v = xmalloc(sizeof(char *));
    v[0] = NULL;
    while (g) {
        uint64_t *pp = user_mem_ptr(&p->mem, g + 8ULL * (uint64_t)n, 8);
        if (!pp || !user_mem_ok(&p->mem, g + 8ULL * (uint64_t)n, 8, PROT_READ)) {
            free(v);
            return NULL;
        }
        if (!*pp)
            break;
        const char *s = user_mem_str(&p->mem, *pp, 1 << 17);
        if (!s || n > 100000) {
            free(v);
            return NULL;
        }
        v = xrealloc(v, sizeof(char *) * (size_t)(n + 2));
        v[n++] = (char *)s;
        v[n] = NULL;
    }
    if (n_out)
        *n_out = n;
    return v;
}

int64_t user_execve(struct user_thread *t, const char *path, uint64_t gargv, uint64_t genvp)
{
    struct user_proc *p = t->p;
    int argc = 0;
    cleanup_free char **argv = guest_strv(p, gargv, &argc);
    cleanup_free char **envp = guest_strv(p, genvp, NULL);
    if (!argv || !envp)
        return -EFAULT;
    if (access(path, F_OK) < 0)
        return -errno;
    if (!is_riscv64_elf(path)) {
        execve(path, argv, envp);     /* a host program or script */
        return -errno;
    }
    char **nv = xmalloc(sizeof(char *) * (size_t)(argc + 14));
    int k = 0;
    nv[k++] = p->self_exe;
    nv[k++] = "exec";
    if (p->sysroot) {
        nv[k++] = "-L";
        nv[k++] = p->sysroot;
    }
    if (p->strace)
        nv[k++] = "--strace";
    char stack_arg[32];
    if (p->stack_size && p->stack_size != USER_STACK_DEFAULT) {
        snprintf(stack_arg, sizeof(stack_arg), "%llu", (unsigned long long)p->stack_size);
        nv[k++] = "-s";
        nv[k++] = stack_arg;
    }
    if (argc > 0) {
        nv[k++] = "-0";
        nv[k++] = argv[0];
    }
    nv[k++] = "--";
    nv[k++] = (char *)path;
    for (int i = 1; i < argc; i++)
        nv[k++] = argv[i];
    nv[k] = NULL;
    execve(p->self_exe, nv, envp);
    int e = errno;
    free(nv);
    return -e;
}

#ifndef VESSEL_HAVE_RISCV_CORE
/* ---------- no CPU core linked yet ---------- */
bool user_core_available(void) { return false; }

int64_t user_do_clone(struct user_thread *t, struct user_regs *r, uint64_t flags,
                      uint64_t stack, uint64_t ptid, uint64_t tls, uint64_t ctid)
{
    return -ENOSYS;
}
void user_code_changed(struct user_proc *p, uint64_t g, uint64_t len) { }
void user_maps_changed(struct user_proc *p) { }

int user_run(struct user_proc *p, int argc, char *const *argv, char *const *envp)
{
    log_error("exec: the RV64GC CPU core is not built into this vessel yet "
              "(program %s loaded, entry 0x%llx)", p->exe_path,
              (unsigned long long)p->img.entry);
    return 2;
}
#else
/* ---------- with the CPU core ---------- */
static struct rv_machine *g_machine;
static int g_maps_gen;                 /* bumped on munmap/mprotect: harts flush TLBs */
static __thread int my_maps_gen;

bool user_core_available(void) { return true; }

static void wake_handler(int sig) { }

/* A host fault on guest memory that the page map did not catch (a stale
 * TLB entry after munmap on another thread, a file mapping past EOF): the
 * guest would get SIGSEGV/SIGBUS. Without a way to unwind the core at the
 * faulting instruction, deliver it as uncaught. Faults elsewhere are
 * vessel's own: die as usual. */
static void host_fault_handler(int sig, siginfo_t *si, void *uc)
{
    struct user_proc *p = g_proc;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (p && a >= (uintptr_t)p->mem.host && a - (uintptr_t)p->mem.host < p->mem.size)
        die_of_signal(sig);
    signal(sig, SIG_DFL);       /* re-executes the faulting access and dies */
}

/* User-mode TLB fill: flat guest space, permissions from the page map. */
static int user_fill_tlb(struct rv_hart *h, uint64_t vaddr, enum rv_access acc,
                         uintptr_t *host_addend, uint64_t *paddr)
{
    struct user_mem *m = &g_proc->mem;
    int need = acc == RV_ACC_READ ? PROT_READ : acc == RV_ACC_WRITE ? PROT_WRITE : PROT_EXEC;
    if (vaddr < m->size) {
        uint8_t b = m->prot[vaddr / USER_PAGE];
        if ((b & USER_MAPPED) && (b & need)) {
            *host_addend = (uintptr_t)m->host;
            return 0;
        }
    }
    return acc == RV_ACC_READ ? -RV_EXC_LOAD_PAGE :
           acc == RV_ACC_WRITE ? -RV_EXC_STORE_PAGE : -RV_EXC_INSN_PAGE;
}

static const struct rv_mem_ops user_mem_ops = { .fill_tlb = user_fill_tlb };

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

void user_code_changed(struct user_proc *p, uint64_t g, uint64_t len)
{
    rv_invalidate_code(g_machine, g, len);
}

void user_maps_changed(struct user_proc *p)
{
    __atomic_add_fetch(&g_maps_gen, 1, __ATOMIC_SEQ_CST);
    if (cur_thread && cur_thread->h) {
        rv_flush_tlb(cur_thread->h);
        my_maps_gen = g_maps_gen;
    }
    for (int i = 0; i < MAX_THREADS; i++) {
        struct user_thread *t = __atomic_load_n(&g_threads[i], __ATOMIC_ACQUIRE);
        if (t && t != cur_thread && t->h)
            rv_kick(t->h);
    }
}

/* Deliver one deliverable pending signal, if any. */
static void deliver_signals(struct user_thread *t)
{
    struct user_proc *p = t->p;
    bool delivered = false;
    for (; !delivered;) {
        uint64_t pend = (__atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) |
                         __atomic_load_n(&p->pending, __ATOMIC_SEQ_CST)) & ~t->blocked;
        if (!pend)
            break;
        int sig = __builtin_ctzll(pend) + 1;
        struct user_siginfo si;
        if (t->pending & SIGBIT(sig)) {
            __atomic_and_fetch(&t->pending, ~SIGBIT(sig), __ATOMIC_SEQ_CST);
            si = t->pending_info[sig];
        } else {
            if (!(__atomic_fetch_and(&p->pending, ~SIGBIT(sig), __ATOMIC_SEQ_CST) & SIGBIT(sig)))
                continue;      /* another thread took it */
            memset(&si, 0, sizeof(si));
            si.signo = sig;
            si.code = 0;      /* SI_USER: sent from outside */
        }
        if (p->strace) {
            char line[160];
            int n = snprintf(line, sizeof(line), "--- SIG%s {si_signo=%d, si_code=%d, si_addr=0x%llx} ---\n",
                             sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", sig, si.code,
                             (unsigned long long)si.addr);
            write_full(2, line, (size_t)MIN(n, (int)sizeof(line) - 1));
        }
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
            die_of_signal(sig);
        }
        struct user_regs r;
        regs_get(t->h, &r);
        uint64_t frame_mask = t->has_restore_mask ? t->restore_mask : t->blocked;
        if (user_sigframe_setup(&p->mem, &r, sig, &si, act.handler, frame_mask, &t->alt,
                                act.flags & SA_G_ONSTACK) < 0)
            die_of_signal(SIGSEGV);
        regs_set(t->h, &r);
        t->blocked |= act.mask;
        if (!(act.flags & SA_G_NODEFER))
            t->blocked |= SIGBIT(sig);
        t->blocked &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
        t->has_restore_mask = false;
        delivered = true;    /* one frame at a time; the next exit delivers more */
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
    if ((t->blocked & SIGBIT(sig)) || p->act[sig].handler == 1)
        die_of_signal(sig);
    t->pending_info[sig] = si;
    __atomic_or_fetch(&t->pending, SIGBIT(sig), __ATOMIC_SEQ_CST);
}

static void handle_ecall(struct user_thread *t)
{
    struct user_proc *p = t->p;
    struct user_regs r;
    regs_get(t->h, &r);
    unsigned nr = (unsigned)r.x[17];
    struct user_regs call;          /* the call as made, for --strace */
    if (p->strace) {
        call = r;
        if (nr == 93 || nr == 94 || nr == 221)
            user_strace(t, &call, 0, false);
    }
    int64_t ret = user_syscall(t, &r);
    if (p->strace && nr != 93 && nr != 94 && nr != 221)
        user_strace(t, &call, ret, true);
    if (ret == USER_SYSCALL_NORET) {
        if (!t->exiting)
            regs_set(t->h, &r);          /* rt_sigreturn */
        return;
    }
    if (ret == -EINTR && nr != 133) {
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
    cur_thread = t;
    while (!t->exiting) {
#ifdef USER_GDB
        uint64_t budget = g_gdb ? gdb_stub_before_run(g_gdb, t->h) : 0;
        enum rv_exit e = rv_run(t->h, budget);
        if (g_gdb && gdb_stub_after_run(g_gdb, t->h, e))
            continue;
#else
        enum rv_exit e = rv_run(t->h, 0);
#endif
        switch (e) {
        case RV_EXIT_ECALL:
            handle_ecall(t);
            break;
        case RV_EXIT_EBREAK:
            fault_signal(t, SIGTRAP, 1 /* TRAP_BRKPT */, rv_get_pc(t->h));
            break;
        case RV_EXIT_FAULT: {
            uint64_t cause = 0, tval = 0;
            rv_hart_exception(t->h, &cause, &tval);
            switch (cause) {
            case RV_EXC_ILLEGAL:
                fault_signal(t, SIGILL, 1 /* ILL_ILLOPC */, rv_get_pc(t->h));
                break;
            case RV_EXC_BREAKPOINT:
                fault_signal(t, SIGTRAP, 1, rv_get_pc(t->h));
                break;
            case RV_EXC_INSN_MISALIGNED: case RV_EXC_LOAD_MISALIGNED:
            case RV_EXC_STORE_MISALIGNED:
                fault_signal(t, SIGBUS, 1 /* BUS_ADRALN */, tval);
                break;
            default: {
                int b = user_mem_prot_of(&t->p->mem, tval);
                fault_signal(t, SIGSEGV, (b & USER_MAPPED) ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */,
                             tval);
            }
            }
            break;
        }
        default:
            break;
        }
        if (my_maps_gen != __atomic_load_n(&g_maps_gen, __ATOMIC_ACQUIRE)) {
            my_maps_gen = g_maps_gen;
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
    int left = unregister_thread(t);
    if (left == 0)
        user_exit_group(t->p, code);
}

struct clone_start {
    struct user_thread *t;
    struct user_regs regs;
    uint64_t flags, ptid, ctid;
    int tid;                          /* the child's, for the parent */
    sem_t started;
};

static void *clone_thread_main(void *arg)
{
    struct clone_start *cs = arg;
    struct user_thread *t = cs->t;
    t->tid = (int)syscall(SYS_gettid);
    t->host = pthread_self();
    struct user_mem *m = &t->p->mem;
    if ((cs->flags & CLONE_PARENT_SETTID) && user_mem_ok(m, cs->ptid, 4, PROT_WRITE))
        *(int32_t *)(m->host + cs->ptid) = t->tid;
    if ((cs->flags & CLONE_CHILD_SETTID) && user_mem_ok(m, cs->ctid, 4, PROT_WRITE))
        *(int32_t *)(m->host + cs->ctid) = t->tid;
    regs_set(t->h, &cs->regs);
    cs->tid = t->tid;
    sem_post(&cs->started);           /* cs (and maybe t, once it exits) are gone after this */
    thread_loop(t);
#ifdef USER_GDB
    if (g_gdb)
        gdb_stub_remove_hart(g_gdb, t->h);
#endif
    thread_finish(t);
    rv_hart_free(t->h);
    free(t);
    return NULL;
}

int64_t user_do_clone(struct user_thread *t, struct user_regs *r, uint64_t flags,
                      uint64_t stack, uint64_t ptid, uint64_t tls, uint64_t ctid)
{
    struct user_proc *p = t->p;
    struct user_mem *m = &p->mem;
    if ((flags & CLONE_VM) && !(flags & CLONE_VFORK)) {
        if (!(flags & CLONE_THREAD) || !(flags & CLONE_SIGHAND))
            return -EINVAL;      /* a shared address space without shared thread state */
        struct user_thread *c = xzalloc(sizeof(*c));
        c->p = p;
        c->h = rv_hart_new(g_machine, 1);
        if (!c->h) {
            free(c);
            return -EAGAIN;
        }
        c->blocked = t->blocked;
        if (flags & CLONE_CHILD_CLEARTID)
            c->clear_child_tid = ctid;
        struct clone_start cs = { .t = c, .regs = *r, .flags = flags, .ptid = ptid, .ctid = ctid };
        cs.regs.x[10] = 0;
        cs.regs.pc = r->pc + 4;
        if (stack)
            cs.regs.x[2] = stack;
        if (flags & CLONE_SETTLS)
            cs.regs.x[4] = tls;
        sem_init(&cs.started, 0, 0);
#ifdef USER_GDB
        if (g_gdb)
            gdb_stub_add_hart(g_gdb, c->h);
#endif
        if (register_thread(c) < 0) {
            rv_hart_free(c->h);
            free(c);
            return -EAGAIN;
        }
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1 << 20);
        pthread_t th;
        int e = pthread_create(&th, &attr, clone_thread_main, &cs);
        pthread_attr_destroy(&attr);
        if (e) {
            unregister_thread(c);
            rv_hart_free(c->h);
            free(c);
            return -e;
        }
        while (sem_wait(&cs.started) < 0 && errno == EINTR)
            ;
        sem_destroy(&cs.started);
        return cs.tid;                 /* c may already be freed */
    }
    /* fork-like: a host process with a copy of the address space. For
     * CLONE_VFORK the parent waits until the child execs or exits (the
     * write end of a close-on-exec pipe closes then). */
    int vp[2] = { -1, -1 };
    if ((flags & CLONE_VFORK) && pipe2(vp, O_CLOEXEC) < 0)
        vp[0] = vp[1] = -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (vp[0] >= 0) { close(vp[0]); close(vp[1]); }
        return -e;
    }
    if (pid == 0) {
        if (vp[0] >= 0)
            close(vp[0]);
        t->tid = getpid();
#ifdef USER_GDB
        g_gdb = NULL;          /* the debugger stays with the parent */
#endif
        pthread_mutex_init(&g_threads_lock, NULL);
        for (int i = 0; i < MAX_THREADS; i++)
            g_threads[i] = NULL;
        g_nthreads = 0;
        register_thread(t);
        if ((flags & CLONE_CHILD_SETTID) && user_mem_ok(m, ctid, 4, PROT_WRITE))
            *(int32_t *)(m->host + ctid) = t->tid;
        t->clear_child_tid = (flags & CLONE_CHILD_CLEARTID) ? ctid : 0;
        if (stack)
            rv_set_x(t->h, 2, stack);
        if (flags & CLONE_SETTLS)
            rv_set_x(t->h, 4, tls);
        return 0;
    }
    if (vp[0] >= 0) {
        close(vp[1]);
        char c;
        while (read(vp[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(vp[0]);
    }
    if ((flags & CLONE_PARENT_SETTID) && user_mem_ok(m, ptid, 4, PROT_WRITE))
        *(int32_t *)(m->host + ptid) = pid;
    return pid;
}

#ifdef USER_GDB
static void gdb_kill(void *opaque)
{
    (void)opaque;
    fflush(stdout);
    _exit(128 + SIGKILL);
}
#endif

int user_run(struct user_proc *p, int argc, char *const *argv, char *const *envp)
{
    g_proc = p;
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
        return 2;
    }
    g_machine = rv_machine_new_user(&user_mem_ops);
    if (!g_machine) {
        log_error("exec: cannot create the RISC-V machine");
        return 2;
    }
    struct user_thread *t = xzalloc(sizeof(*t));
    t->p = p;
    t->tid = getpid();
    t->host = pthread_self();
    struct sigaction wake = { .sa_handler = wake_handler };   /* no SA_RESTART */
    sigaction(USER_WAKE_SIG, &wake, NULL);
    struct sigaction fault = { .sa_sigaction = host_fault_handler,
                               .sa_flags = SA_SIGINFO | SA_NODEFER };
    sigaction(SIGSEGV, &fault, NULL);
    sigaction(SIGBUS, &fault, NULL);
    t->h = rv_hart_new(g_machine, 0);
    if (!t->h) {
        log_error("exec: cannot create the RISC-V hart");
        return 2;
    }
    rv_hart_reset(t->h, p->img.entry);
    rv_set_x(t->h, 2, sp);
#ifdef USER_GDB
    if (p->gdb) {
        struct gdb_stub_config gc = { .m = g_machine, .wait = true, .kill = gdb_kill, .opaque = p };
        g_gdb = gdb_stub_start(p->gdb, &gc);
        if (!g_gdb) {
            rv_hart_free(t->h);
            free(t);
            return 2;
        }
        gdb_stub_add_hart(g_gdb, t->h);
    }
#endif
    register_thread(t);
    /* a guest SIGPIPE default kills, like natively: leave the host default */
    thread_loop(t);
    thread_finish(t);        /* exits the process when this was the last thread */
    pthread_exit(NULL);      /* SYS_exit on the main thread: the others go on */
}
#endif

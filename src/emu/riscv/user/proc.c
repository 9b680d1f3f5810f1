/* The process shared by the run loop and the syscall layer: its thread
 * list, signal queueing and the host signal mirror, clone, execve, exit,
 * and the drop of decoded code and TLBs when guest mappings change. */
#include "emu/riscv/user/internal.h"
#include "emu/riscv/gdb.h"
#include "base/base.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct user_thread *user_cur_thread;

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

/* For the core-dumping ones (SIGSEGV, SIGILL, SIGABRT...) report like qemu,
 * then die of the same signal so the parent sees what it would see natively
 * (shell status 128+sig). SIGTERM, SIGINT and the like end the program
 * silently, as natively. */
void user_die_of_signal(int sig)
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
    if (p->run && p->run->gdb) {
        gdb_stub_machine_exit(p->run->gdb, code);
        gdb_stub_join(p->run->gdb);        /* the 'W' reaches gdb before we are gone */
    }
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

/* ---------- the thread list ---------- */
static void kick_all(struct user_run *run, const struct user_thread *except)
{
    for (int i = 0; i < USER_MAX_THREADS; i++) {
        struct user_thread *t = __atomic_load_n(&run->threads[i], __ATOMIC_ACQUIRE);
        if (t && t != except && t->h)
            rv_kick(t->h);
    }
}

int user_thread_register(struct user_proc *p, struct user_thread *t)
{
    struct user_run *run = p->run;
    pthread_mutex_lock(&run->threads_lock);
    for (int i = 0; i < USER_MAX_THREADS; i++)
        if (!run->threads[i]) {
            __atomic_store_n(&run->threads[i], t, __ATOMIC_RELEASE);
            run->nthreads++;
            pthread_mutex_unlock(&run->threads_lock);
            return 0;
        }
    pthread_mutex_unlock(&run->threads_lock);
    return -EAGAIN;
}

int user_thread_unregister(struct user_proc *p, struct user_thread *t)
{
    struct user_run *run = p->run;
    pthread_mutex_lock(&run->threads_lock);
    for (int i = 0; i < USER_MAX_THREADS; i++)
        if (run->threads[i] == t)
            __atomic_store_n(&run->threads[i], NULL, __ATOMIC_RELEASE);
    int left = --run->nthreads;
    pthread_mutex_unlock(&run->threads_lock);
    return left;
}

/* ---------- host signal mirror ---------- */
void user_block_async_signals(sigset_t *old)
{
    sigset_t set;
    sigfillset(&set);
    static const int sync_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };
    for (size_t i = 0; i < ARRAY_SIZE(sync_sigs); i++)
        sigdelset(&set, sync_sigs[i]);
    pthread_sigmask(SIG_SETMASK, &set, old);
}

/* Runs on a guest thread: every thread that runs no guest code keeps the
 * mirrored signals blocked (run.c). */
static void host_sig_handler(int sig)
{
    struct user_thread *cur = user_cur_thread;
    if (!cur || sig < 1 || sig > USER_NSIG)
        return;
    struct user_proc *p = cur->p;
    __atomic_or_fetch(&p->pending, USER_SIGBIT(sig), __ATOMIC_SEQ_CST);
    if (p->run)
        kick_all(p->run, NULL);
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
    struct user_run *run = p->run;
    if (sig < 1 || sig > USER_NSIG)
        return -EINVAL;
    if (!run)
        return -ESRCH;
    struct user_thread *target = NULL;
    pthread_mutex_lock(&run->threads_lock);
    for (int i = 0; i < USER_MAX_THREADS; i++)
        if (run->threads[i] && (tid == 0 || run->threads[i]->tid == tid)) {
            target = run->threads[i];
            break;
        }
    if (!target) {
        pthread_mutex_unlock(&run->threads_lock);
        return -ESRCH;
    }
    if (si)
        target->pending_info[sig] = *si;
    else
        memset(&target->pending_info[sig], 0, sizeof(target->pending_info[sig]));
    target->pending_info[sig].signo = sig;
    __atomic_or_fetch(&target->pending, USER_SIGBIT(sig), __ATOMIC_SEQ_CST);
    if (target->h)
        rv_kick(target->h);
    /* wake it from a blocking host syscall (futex, read, sigsuspend) */
    if (target != user_cur_thread && target->host)
        pthread_kill(target->host, USER_WAKE_SIG);
    pthread_mutex_unlock(&run->threads_lock);
    return 0;
}

/* ---------- code and mappings ---------- */
void user_code_changed(struct user_proc *p, uint64_t g, uint64_t len)
{
    if (p->run)
        rv_invalidate_code(p->run->machine, g, len);
}

void user_maps_changed(struct user_proc *p)
{
    struct user_run *run = p->run;
    if (!run)
        return;
    __atomic_add_fetch(&run->maps_gen, 1, __ATOMIC_SEQ_CST);
    struct user_thread *cur = user_cur_thread;
    if (cur && cur->h) {
        rv_flush_tlb(cur->h);
        cur->maps_gen = __atomic_load_n(&run->maps_gen, __ATOMIC_ACQUIRE);
    }
    kick_all(run, cur);
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
    if (p->sysroot && p->sysroot_explicit) {    /* else the new program's own default */
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

/* ---------- clone ---------- */
static void put_tid(struct user_mem *m, uint64_t g, int tid)
{
    if (user_mem_ok(m, g, 4, PROT_WRITE))
        *(int32_t *)user_mem_ptr(m, g, 4) = tid;
}

static int64_t clone_thread(struct user_thread *t, struct user_regs *r, uint64_t flags,
                            uint64_t stack, uint64_t ptid, uint64_t tls, uint64_t ctid)
{
    struct user_proc *p = t->p;
    struct user_run *run = p->run;
    if (!(flags & CLONE_THREAD) || !(flags & CLONE_SIGHAND))
        return -EINVAL;      /* a shared address space without shared thread state */
    struct user_thread *c = xzalloc(sizeof(*c));
    c->p = p;
    c->h = rv_hart_new(run->machine, 1);
    if (!c->h) {
        free(c);
        return -EAGAIN;
    }
    c->blocked = t->blocked;
    c->maps_gen = __atomic_load_n(&run->maps_gen, __ATOMIC_ACQUIRE);
    if (flags & CLONE_CHILD_CLEARTID)
        c->clear_child_tid = ctid;
    struct user_clone_start cs = { .t = c, .regs = *r, .flags = flags, .ptid = ptid, .ctid = ctid };
    cs.regs.x[10] = 0;
    cs.regs.pc = r->pc + 4;
    if (stack)
        cs.regs.x[2] = stack;
    if (flags & CLONE_SETTLS)
        cs.regs.x[4] = tls;
    sem_init(&cs.started, 0, 0);
    if (run->gdb)
        gdb_stub_add_hart(run->gdb, c->h);
    if (user_thread_register(p, c) < 0) {
        rv_hart_free(c->h);
        free(c);
        return -EAGAIN;
    }
    /* The new thread starts with the host signals blocked and unblocks
     * them once it is a guest thread (a mirrored host signal needs one). */
    user_block_async_signals(&cs.mask);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_t th;
    int e = pthread_create(&th, &attr, run->thread_main, &cs);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &cs.mask, NULL);
    if (e) {
        user_thread_unregister(p, c);
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
 * CLONE_VFORK the parent waits until the child execs or exits (the write
 * end of a close-on-exec pipe closes then). */
static int64_t clone_fork(struct user_thread *t, uint64_t flags, uint64_t stack,
                          uint64_t ptid, uint64_t tls, uint64_t ctid)
{
    struct user_proc *p = t->p;
    struct user_run *run = p->run;
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
        t->host = pthread_self();
        run->gdb = NULL;          /* the debugger stays with the parent */
        pthread_mutex_init(&run->threads_lock, NULL);
        memset(run->threads, 0, sizeof(run->threads));
        run->nthreads = 0;
        user_thread_register(p, t);
        if (flags & CLONE_CHILD_SETTID)
            put_tid(&p->mem, ctid, t->tid);
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
    if (flags & CLONE_PARENT_SETTID)
        put_tid(&p->mem, ptid, pid);
    return pid;
}

int64_t user_do_clone(struct user_thread *t, struct user_regs *r, uint64_t flags,
                      uint64_t stack, uint64_t ptid, uint64_t tls, uint64_t ctid)
{
    if (!t->p->run)
        return -ENOSYS;            /* not running (the syscall unit test) */
    if ((flags & CLONE_VM) && !(flags & CLONE_VFORK))
        return clone_thread(t, r, flags, stack, ptid, tls, ctid);
    return clone_fork(t, flags, stack, ptid, tls, ctid);
}

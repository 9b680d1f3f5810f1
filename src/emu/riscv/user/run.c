/* Threads, the run loop and signal delivery for user mode.
 * One host thread per guest thread, each with its own hart. Signals:
 * guest faults become synchronous signals; host signals for which the guest
 * installed a handler are caught, queued, and delivered at the next exit
 * from rv_run (the handler kicks every hart). */
#include "emu/riscv/user/internal.h"
#include "emu/riscv/riscv.h"
#include "base/base.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
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
static struct user_proc *g_proc;
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

/* Uncaught fatal signal: report like qemu, then die of the same signal so
 * the parent sees what it would see natively (shell status 128+sig). */
static UNUSED void __attribute__((noreturn)) die_of_signal(int sig)
{
    const char *name = strsignal(sig);
    fprintf(stderr, "vessel: uncaught target signal %d (%s) - %s\n", sig,
            name ? name : "?", sig_core(sig) ? "core dumped" : "exiting");
    fflush(stderr);
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
    p->pending_info_pid = 0;
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
    char **nv = xmalloc(sizeof(char *) * (size_t)(argc + 12));
    int k = 0;
    nv[k++] = p->self_exe;
    nv[k++] = "exec";
    if (p->sysroot) {
        nv[k++] = "-L";
        nv[k++] = p->sysroot;
    }
    if (p->strace)
        nv[k++] = "--strace";
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
#include "emu/riscv/user/core_glue.h"
#endif

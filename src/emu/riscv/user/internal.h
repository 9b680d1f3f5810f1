/* Private to emu/riscv/user. The files in layers, each calling only the
 * ones below it:
 *   run.c      the run loop: one hart per thread, ecalls, faults, signal
 *              delivery, user_run
 *   syscall.c  the Linux syscall table and its handlers
 *   proc.c     the process the two share: the thread list, signal queueing
 *              and the host signal mirror, clone, execve, exit, code and
 *              mapping changes
 * proc.c starts a clone()d thread through run->thread_main, which run.c
 * sets: the one call upwards, made through a pointer. */
#ifndef VESSEL_USER_INTERNAL_H
#define VESSEL_USER_INTERNAL_H
#include <semaphore.h>
#include <signal.h>

#include "emu/riscv/riscv.h"
#include "emu/riscv/user/user.h"

#define USER_MAX_THREADS 1024
#define USER_WAKE_SIG SIGRTMAX      /* host-only: interrupts a thread's blocking syscall */
#define USER_SIGBIT(s) (1ULL << ((s) - 1))

/* What a running process has beyond struct user_proc (p->run). */
struct user_run {
    struct rv_mem_ops mem_ops;       /* fill_tlb; opaque = the process */
    struct rv_machine *machine;
    struct gdb_stub *gdb;            /* --gdb; NULL otherwise */
    void *(*thread_main)(void *);    /* run.c's start of a clone()d thread */
    pthread_mutex_t threads_lock;
    struct user_thread *threads[USER_MAX_THREADS];
    int nthreads;
    int maps_gen;                    /* bumped on munmap/mprotect/mremap: harts flush TLBs */
};

/* What run->thread_main gets: the new thread, its first registers, and the
 * parent's signal mask (the thread starts with the host signals blocked). */
struct user_clone_start {
    struct user_thread *t;
    struct user_regs regs;
    uint64_t flags, ptid, ctid;
    int tid;                          /* the child's, for the parent */
    sigset_t mask;
    sem_t started;
};

/* The guest thread running on this host thread: host signal handlers need
 * it to find the process (NULL on threads that run no guest code). */
extern __thread struct user_thread *user_cur_thread;

/* Block every signal but the synchronous faults on this thread (the old
 * mask in *old): threads that run no guest code keep the host signals
 * mirrored for the guest away (proc.c). */
void user_block_async_signals(sigset_t *old);

/* Thread list (proc.c). register fails with -EAGAIN when full; unregister
 * returns the number of threads left. */
int user_thread_register(struct user_proc *p, struct user_thread *t);
int user_thread_unregister(struct user_proc *p, struct user_thread *t);

/* clone(): CLONE_VM|CLONE_THREAD -> host pthread with its own hart;
 * otherwise host fork(). Returns the child tid (parent) or -errno;
 * the forked child returns 0 from this function. */
int64_t user_do_clone(struct user_thread *t, struct user_regs *r, uint64_t flags,
                      uint64_t stack, uint64_t ptid, uint64_t tls, uint64_t ctid);
/* Guest code/mappings changed: drop decoded blocks, TLBs on every hart. */
void user_code_changed(struct user_proc *p, uint64_t g, uint64_t len);
void user_maps_changed(struct user_proc *p);
/* Queue a signal for thread `tid` (0 = the process) and kick harts. */
int user_signal_queue(struct user_proc *p, int tid, int sig, const struct user_siginfo *si);
/* The guest changed the disposition of `sig`: mirror it on the host. */
void user_signal_host_update(struct user_proc *p, int sig);
/* An uncaught signal: the qemu-style line for core-dumping ones, then die
 * of the same signal. */
void user_die_of_signal(int sig) __attribute__((noreturn));
/* Exit paths. */
void user_exit_group(struct user_proc *p, int code) __attribute__((noreturn));
/* execve of a guest program: never returns on success. */
int64_t user_execve(struct user_thread *t, const char *path, uint64_t argv, uint64_t envp);
#endif

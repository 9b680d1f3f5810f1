/* Private to emu/riscv/user: the seam between syscall.c and run.c. */
#ifndef VESSEL_USER_INTERNAL_H
#define VESSEL_USER_INTERNAL_H
#include "emu/riscv/user/user.h"

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
/* Exit paths. */
void user_exit_group(struct user_proc *p, int code) __attribute__((noreturn));
/* execve of a guest program: never returns on success. */
int64_t user_execve(struct user_thread *t, const char *path, uint64_t argv, uint64_t envp);
/* --strace line; done=false prints the call alone (exit, execve). */
void user_strace(struct user_thread *t, const struct user_regs *r, int64_t ret, bool done);
#endif

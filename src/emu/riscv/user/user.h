/* emu/riscv/user: Linux user-mode emulation for riscv64 programs
 * (`vessel exec`, like qemu-riscv64).
 *
 * Guest memory is one host reservation: guest address g lives at host
 * address mem->host + g for g < mem->size. A per-page protection map keeps
 * the guest's view (PROT_READ/WRITE/EXEC) so faults are exact guest faults.
 *
 * Pieces (each testable alone):
 *   mem.c      address space: reserve, map/unmap/protect, brk, free-range search
 *   elf.c      ELF validation and loading (static, static-pie, PT_INTERP)
 *   stack.c    initial stack: argc, argv, envp, auxv as Linux lays it out
 *   stat.c     host struct stat -> riscv64 (asm-generic) struct stat
 *   signal.c   riscv64 rt_sigframe (siginfo + ucontext) build and restore
 *   proc.c     the process: thread list, signal queueing, clone, execve, exit
 *   syscall.c  the Linux syscall layer (asm-generic numbers): one table
 *   run.c      the run loop on the RV64GC core (emu/riscv/riscv.h): a hart
 *              per thread, ecalls, faults, signal delivery
 */
#ifndef VESSEL_USER_H
#define VESSEL_USER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define USER_PAGE       4096ULL
#define USER_SPACE_SIZE (1ULL << 38)          /* 256 GiB, like Sv39 user space */
#define USER_STACK_TOP  (USER_SPACE_SIZE - 0x10000000ULL)
#define USER_STACK_DEFAULT (8ULL << 20)
#define USER_MMAP_TOP   (USER_STACK_TOP - (256ULL << 20))   /* below stack + gap */
#define USER_SIGTRAMP   (USER_SPACE_SIZE - USER_PAGE)        /* rt_sigreturn trampoline */
#define USER_INTERP_BASE 0x3f00000000ULL      /* where PT_INTERP (ld.so) goes */
#define USER_PIE_BASE    0x2aaaaaa000ULL      /* where static-pie / ET_DYN programs go */

/* ---------- address space (mem.c) ---------- */
struct user_mem {
    uint8_t *host;          /* host address of guest address 0 */
    uint64_t size;          /* guest addresses [0, size) */
    uint8_t *prot;          /* one byte per guest page: PROT_* | USER_MAPPED */
    uint64_t brk_start, brk_cur, brk_mapped;
    uint64_t mmap_hint;     /* top-down search starts here (free-area cache) */
    pthread_mutex_t lock;
    /* Pages write-protected on the host because they hold decoded code
     * (translated stores go straight to the host: they must fault there).
     * code_dropped(arg, g, len) is told when vessel itself must write such
     * a page (a syscall, a signal frame): the code there must go. */
    int ncodeprot;
    void (*code_dropped)(void *arg, uint64_t g, uint64_t len);
    void *code_arg;
};
#define USER_MAPPED 0x80
#define USER_CODEPROT 0x40      /* guest-writable, host read-only: holds code */

int user_mem_init(struct user_mem *m, uint64_t size);
void user_mem_free(struct user_mem *m);
/* Host pointer for [g, g+len) if the whole range is inside the address space
 * (no protection check), else NULL. */
void *user_mem_ptr(struct user_mem *m, uint64_t g, uint64_t len);
/* Whole range mapped with at least `prot`. */
bool user_mem_ok(struct user_mem *m, uint64_t g, uint64_t len, int prot);
/* Guest string at g (max `max` bytes incl. NUL): host pointer or NULL. */
const char *user_mem_str(struct user_mem *m, uint64_t g, size_t max);
/* mmap in guest terms. Returns the guest address or -errno. flags: MAP_*
 * (MAP_FIXED honoured, MAP_FIXED_NOREPLACE too); fd -1 for anonymous. */
int64_t user_mem_mmap(struct user_mem *m, uint64_t g, uint64_t len, int prot,
                      int flags, int fd, uint64_t off);
int user_mem_munmap(struct user_mem *m, uint64_t g, uint64_t len);
int user_mem_mprotect(struct user_mem *m, uint64_t g, uint64_t len, int prot);
int64_t user_mem_mremap(struct user_mem *m, uint64_t old, uint64_t oldlen,
                        uint64_t newlen, int flags, uint64_t newaddr);
uint64_t user_mem_brk(struct user_mem *m, uint64_t newbrk);
/* Free guest range of `len` bytes searching down from `top`; 0 if none. */
uint64_t user_mem_find_free(struct user_mem *m, uint64_t len, uint64_t top);
int user_mem_prot_of(struct user_mem *m, uint64_t g);   /* page byte */
/* A block was decoded from the page at g: a guest-writable page becomes
 * host read-only (USER_CODEPROT) so that a direct store to it faults. */
void user_mem_code_protect(struct user_mem *m, uint64_t g);
/* Give the pages of [g, g+len) that are USER_CODEPROT their guest
 * protection back; with notify, tell code_dropped. True when any was. */
bool user_mem_code_unprotect(struct user_mem *m, uint64_t g, uint64_t len, bool notify);
/* The same for the page of g from a signal handler (no lock, no notice). */
bool user_mem_code_unprotect_async(struct user_mem *m, uint64_t g);

/* ---------- ELF loading (elf.c) ---------- */
struct user_image {
    uint64_t entry;        /* first pc: ld.so's entry when dynamic */
    uint64_t prog_entry;   /* AT_ENTRY */
    uint64_t phdr, phnum, phent;   /* AT_PHDR (guest address), AT_PHNUM, AT_PHENT */
    uint64_t load_bias;
    uint64_t interp_base;  /* AT_BASE, 0 when static */
    uint64_t brk;          /* page-aligned end of the highest program segment */
    uint64_t lo, hi;       /* guest range of the program's segments */
    bool is_pie, dynamic;
};

/* Validate an ELF header and program header table held in buf (the first
 * len bytes of a file of file_size bytes). Returns 0 or -ENOEXEC with a
 * one-line reason in err (e.g. "is an x86-64 ELF, not riscv64"). */
int user_elf_check(const uint8_t *buf, size_t len, uint64_t file_size,
                   char *err, size_t errlen);
/* Load program `path` (and its PT_INTERP from `sysroot` if it has one).
 * Returns 0 or -errno with a reason in err ("" means strerror). */
int user_elf_load(struct user_mem *m, const char *path, const char *sysroot,
                  struct user_image *img, char *err, size_t errlen);
/* Same, from an open fd (fuzzing, tests). */
int user_elf_load_fd(struct user_mem *m, int fd, const char *sysroot,
                     struct user_image *img, char *err, size_t errlen);

/* ---------- initial stack (stack.c) ---------- */
enum {
    USER_AT_NULL = 0, USER_AT_PHDR = 3, USER_AT_PHENT = 4, USER_AT_PHNUM = 5,
    USER_AT_PAGESZ = 6, USER_AT_BASE = 7, USER_AT_FLAGS = 8, USER_AT_ENTRY = 9,
    USER_AT_UID = 11, USER_AT_EUID = 12, USER_AT_GID = 13, USER_AT_EGID = 14,
    USER_AT_PLATFORM = 15, USER_AT_HWCAP = 16, USER_AT_CLKTCK = 17,
    USER_AT_SECURE = 23, USER_AT_RANDOM = 25, USER_AT_HWCAP2 = 26,
    USER_AT_EXECFN = 31, USER_AT_MINSIGSTKSZ = 51,
};
/* HWCAP: one bit per single-letter extension, bit (letter - 'A'). */
#define USER_HWCAP_IMAFDC ((1UL << ('I' - 'A')) | (1UL << ('M' - 'A')) | \
    (1UL << ('A' - 'A')) | (1UL << ('F' - 'A')) | (1UL << ('D' - 'A')) | \
    (1UL << ('C' - 'A')))

/* Map a stack of `size` bytes ending at `top` and lay out strings, argc,
 * argv, envp and auxv as Linux does. *sp = the initial guest sp (16-aligned). */
int user_stack_build(struct user_mem *m, uint64_t top, uint64_t size,
                     const struct user_image *img, int argc, char *const *argv,
                     char *const *envp, const char *execfn,
                     const uint8_t random[16], uint64_t *sp);

/* ---------- struct translation (stat.c) ---------- */
struct stat;
#define USER_STAT_SIZE 128
/* Write a riscv64 struct stat (128 bytes) for host stat `st` into out. */
void user_stat_to_guest(const struct stat *st, uint8_t out[USER_STAT_SIZE]);

/* ---------- registers and signal frames (signal.c) ---------- */
struct user_regs {
    uint64_t pc;
    uint64_t x[32];         /* x[0] unused */
    uint64_t f[32];
    uint32_t fcsr;
};

/* riscv64 rt_sigframe: siginfo (128) + ucontext (960). */
#define USER_SIGINFO_SIZE    128
#define USER_UC_OFF          128
#define USER_UC_STACK        16
#define USER_UC_SIGMASK      40
#define USER_UC_MCONTEXT     176
#define USER_MC_FPREGS       256     /* inside mcontext */
#define USER_SIGFRAME_SIZE   1088

struct user_siginfo {     /* the fields we fill; rest zero */
    int signo, code, err;
    uint64_t addr;        /* si_addr for faults */
    int pid, uid;         /* kill/tgkill */
    int status;           /* SIGCHLD */
    int64_t value;        /* sigqueue */
};
struct user_altstack { uint64_t sp; int flags; uint64_t size; };

/* Build a frame below regs->x[2] (or on the alternate stack) and point regs
 * at the handler: a0=sig, a1=&info, a2=&uc, ra=USER_SIGTRAMP, sp=frame.
 * Returns 0, or -EFAULT when the frame cannot be written (caller kills). */
int user_sigframe_setup(struct user_mem *m, struct user_regs *regs, int sig,
                        const struct user_siginfo *si, uint64_t handler,
                        uint64_t blocked, const struct user_altstack *alt,
                        bool onstack);
/* rt_sigreturn: restore regs and *blocked from the frame at regs->x[2]. */
int user_sigframe_restore(struct user_mem *m, struct user_regs *regs,
                          uint64_t *blocked);
/* Write the rt_sigreturn trampoline (li a7,139; ecall) at USER_SIGTRAMP. */
int user_sigtramp_map(struct user_mem *m);

/* ---------- process, threads, syscalls (syscall.c, run.c) ---------- */
#define USER_NSIG 64
struct user_sigaction { uint64_t handler, flags, mask; };

struct user_proc {
    struct user_mem mem;
    struct user_image img;
    char *exe_path;          /* absolute host path of the guest program (/proc/self/exe) */
    char *exec_fn;           /* the path as given (AT_EXECFN); NULL = exe_path */
    char *sysroot;           /* -L, VESSEL_LD_PREFIX, else /usr/riscv64-linux-gnu when present */
    bool sysroot_explicit;   /* given (-L, VESSEL_LD_PREFIX): passed on to an execve'd program */
    bool sysroot_paths;      /* absolute paths looked up there first: given, or the program is dynamic */
    char *self_exe;          /* vessel itself, to re-exec for riscv64 execve */
    bool strace;
    char *gdb;               /* --gdb SPEC: wait for a debugger before the first instruction */
    uint64_t stack_size;
    pthread_mutex_t sig_lock;
    struct user_sigaction act[USER_NSIG + 1];
    uint64_t pending;        /* process-wide pending (kill, host signals) */
    struct user_run *run;    /* the machine, threads and debugger (run.c); NULL until user_run */
    uint64_t nosys_logged[16];   /* unsupported syscall numbers < 1024 already logged */
};

struct rv_hart;
struct user_run;
struct user_thread {
    struct user_proc *p;
    struct rv_hart *h;
    pthread_t host;
    int tid;
    uint64_t blocked;        /* guest signal mask (bit sig-1) */
    uint64_t pending;        /* thread-directed signals */
    struct user_siginfo pending_info[USER_NSIG + 1];
    uint64_t clear_child_tid;
    struct user_altstack alt;
    uint64_t restore_mask;   /* rt_sigsuspend: the mask to put back after delivery */
    bool has_restore_mask;
    bool exiting;
    int exit_code;
    int maps_gen;            /* the process's maps_gen when this hart's TLB was last flushed */
};

/* Dispatch the syscall in the thread's registers (a7 = number). Returns
 * the value for a0 (negative = -errno). USER_SYSCALL_NORET: registers were
 * replaced (rt_sigreturn, execve) — do not touch a0 or advance pc. */
#define USER_SYSCALL_NORET ((int64_t)1 << 62)
int64_t user_syscall(struct user_thread *t, struct user_regs *r);
const char *user_syscall_name(unsigned nr);
/* The --strace line for the call in r, to stderr: "TID name(args) = ret";
 * done=false prints the call alone (exit, execve). */
void user_strace(struct user_thread *t, const struct user_regs *r, int64_t ret, bool done);

/* Run the program: returns the exit status for the host process
 * (guest status, or 128+sig after printing the uncaught-signal line). */
int user_run(struct user_proc *p, int argc, char *const *argv, char *const *envp);

#endif

/* Freestanding RV64IA guest for the run loop (tests/integration/exec-run.sh):
 * raw syscalls, a SIGSEGV handler that
 * skips the faulting store and returns through rt_sigreturn, a clone()d
 * thread joined through CLONE_CHILD_CLEARTID + futex, exit_group.
 * Build: riscv64-linux-gnu-gcc -march=rv64ia -mabi=lp64 -nostdlib -static -O1 */
static long sys(long n, long a, long b, long c, long d, long e)
{
    register long a7 __asm__("a7") = n;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4) : "memory");
    return a0;
}
static void wr(const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    sys(64, 1, (long)s, n, 0, 0);
}
static int eq(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}
static volatile int flag;
static volatile int counter;
static volatile int tid_word;
static char tstack[16384] __attribute__((aligned(16)));

static void handler(int sig, void *si, void *uc)
{
    unsigned long *pc = (unsigned long *)((char *)uc + 176);   /* uc_mcontext.__gregs[0] */
    *pc += 4;
    flag = sig;
    if (*(int *)si == 11 && *(unsigned long *)((char *)si + 16) == 0x10)
        wr("handler si_addr ok\n");
}

static void usr1(int sig)
{
    flag = sig;
    wr("usr1\n");
}

static void thread_fn(void)
{
    __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
    wr("thread\n");
}
long clone_thread(long flags, void *stack, volatile int *ptid, long tls, volatile int *ctid,
                  void (*fn)(void));
__asm__(".globl clone_thread\n"
        "clone_thread:\n"
        "  mv t0, a5\n"
        "  li a7, 220\n"
        "  ecall\n"
        "  bnez a0, 1f\n"
        "  jalr t0\n"
        "  li a0, 0\n"
        "  li a7, 93\n"
        "  ecall\n"
        "1: ret\n");

void start_c(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc > 1)
        wr(argv[1]), wr("\n");
    if (argc > 1 && eq(argv[1], "die"))
        *(volatile int *)0x10 = 1;            /* no handler: fatal */
    if (argc > 1 && eq(argv[1], "fork")) {     /* fork + wait4, then execve a host program */
        long pid = sys(220, 17 /* SIGCHLD */, 0, 0, 0, 0);
        if (pid == 0) {
            wr("child\n");
            sys(94, 3, 0, 0, 0, 0);
        }
        int status = 0;
        long w = sys(260, pid, (long)&status, 0, 0, 0);
        if (w == pid && (status >> 8) == 3)
            wr("waited 3\n");
        char *av[] = { "echo", "from", "host", 0 };
        char *ev[] = { 0 };
        sys(221, (long)"/bin/echo", (long)av, (long)ev, 0, 0);
        wr("execve failed\n");
        sys(94, 1, 0, 0, 0, 0);
    }
    if (argc > 1 && eq(argv[1], "wait")) {     /* a signal sent by the host */
        unsigned long a[3] = { (unsigned long)usr1, 0, 0 };
        sys(134, 10, (long)a, 0, 8, 0);
        unsigned long none = 0;
        wr("ready\n");
        while (flag != 10)
            sys(133, (long)&none, 8, 0, 0, 0);     /* rt_sigsuspend */
        sys(94, 6, 0, 0, 0, 0);
    }
    unsigned long act[3] = { (unsigned long)handler, 4 /* SA_SIGINFO */, 0 };
    sys(134, 11, (long)act, 0, 8, 0);
    *(volatile int *)0x10 = 1;                /* handler skips it */
    if (flag == 11)
        wr("resumed\n");
    long flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x100000 | 0x200000;
    /* VM FS FILES SIGHAND THREAD SYSVSEM PARENT_SETTID CHILD_CLEARTID */
    long t = clone_thread(flags, tstack + sizeof(tstack), &tid_word, 0, &tid_word, thread_fn);
    if (t <= 0)
        wr("clone failed\n");
    int v;
    while ((v = tid_word) != 0) {
        long r = sys(98, (long)&tid_word, 0 /* FUTEX_WAIT */, v, 0, 0);
        if (r != 0 && r != -11 /* EAGAIN */)
            wr("futex error\n");
    }
    if (counter == 1)
        wr("joined\n");
    sys(94, 5, 0, 0, 0, 0);
}
__asm__(".globl _start\n_start:\n"
        "  .option push\n  .option norelax\n  la gp, __global_pointer$\n  .option pop\n"
        "  mv a0, sp\n  call start_c\n");

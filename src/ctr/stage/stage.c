/* vessel-ctr-exec: the last step into a container (CVE-2019-5736).
 *
 * The runtime never execve()s a container's program itself: a process
 * whose /proc/self/exe is the host's vessel binary would hand that binary
 * to the container (a `#!/proc/self/exe` program runs it inside, where it
 * can be held open and rewritten once the runtime exits). Instead it runs
 * this small static program from a sealed memfd (secure.c), and this one
 * execs the container's program. From then on /proc/self/exe names only
 * this sealed copy: no file on the host, no shared libraries, nothing that
 * can be written.
 *
 * Freestanding (no libc): raw system calls, its own _start. Arguments:
 *   vessel-ctr-exec LOGFD HEAD TAIL PATH ARGV0 [ARGS...]   (environment as given)
 * On an execve failure it writes HEAD, the error's text and TAIL to LOGFD
 * (the runtime's log line, preformatted) and exits 127. LOGFD is made
 * close-on-exec (or closed) before the execve. Run any other way (as a
 * `#!/proc/self/exe` interpreter, say) it refuses with one line on stderr. */
#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/fcntl.h>

#define MAGIC "vessel-ctr-exec"

#if defined(__x86_64__)
static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call stage_main\n  hlt\n");
#elif defined(__aarch64__)
static long sys3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n  mov x0, sp\n  bl stage_main\n  brk #0\n");
#elif defined(__riscv) && __riscv_xlen == 64
static long sys3(long n, long a, long b, long c)
{
    register long a7 __asm__("a7") = n, a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
    return a0;
}
__asm__(".text\n.global _start\n_start:\n  mv a0, sp\n  call stage_main\n  unimp\n");
#else
#error "vessel-ctr-exec: no system call glue for this architecture"
#endif

static unsigned long len(const char *s)
{
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}

static void put(long fd, const char *s)
{
    for (unsigned long n = len(s); n;) {
        long w = sys3(__NR_write, fd, (long)s, (long)n);
        if (w <= 0) return;
        s += w;
        n -= (unsigned long)w;
    }
}

static __attribute__((noreturn)) void leave(int status)
{
    for (;;) sys3(__NR_exit_group, status, 0, 0);
}

/* the texts glibc gives the errors execve(2) documents */
static const char *err_text(long e)
{
    switch (e) {
    case E2BIG: return "Argument list too long";
    case EACCES: return "Permission denied";
    case EAGAIN: return "Resource temporarily unavailable";
    case EFAULT: return "Bad address";
    case EINVAL: return "Invalid argument";
    case EIO: return "Input/output error";
    case EISDIR: return "Is a directory";
    case ELIBBAD: return "Accessing a corrupted shared library";
    case ELOOP: return "Too many levels of symbolic links";
    case EMFILE: return "Too many open files";
    case ENAMETOOLONG: return "File name too long";
    case ENFILE: return "Too many open files in system";
    case ENOENT: return "No such file or directory";
    case ENOEXEC: return "Exec format error";
    case ENOMEM: return "Cannot allocate memory";
    case ENOTDIR: return "Not a directory";
    case EPERM: return "Operation not permitted";
    case ETXTBSY: return "Text file busy";
    case ENOSYS: return "Function not implemented";
    default: return "error";
    }
}

static long parse_fd(const char *s)
{
    long v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 65535) return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int same(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

__attribute__((used, noreturn)) void stage_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
    if (argc < 6 || !same(argv[0], MAGIC)) {
        put(2, "vessel-ctr-exec: the runtime's last step into a container; it runs nothing by itself\n");
        leave(127);
    }
    long logfd = parse_fd(argv[1]);
    if (logfd > 2 && sys3(__NR_fcntl, logfd, F_SETFD, FD_CLOEXEC) < 0 && sys3(__NR_close, logfd, 0, 0) < 0)
        leave(127);                              /* never leak the runtime's log into the container */
    long e = sys3(__NR_execve, (long)argv[4], (long)(argv + 5), (long)envp);
    if (logfd >= 0) {
        put(logfd, argv[2]);
        put(logfd, err_text(-e));
        put(logfd, argv[3]);
    }
    leave(127);
}

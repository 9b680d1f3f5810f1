/* emu/riscv/user syscall layer, called directly with guest registers (no
 * CPU core needed): pointer translation, struct layouts, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu/riscv/user/user.h"

static struct user_proc P;
static struct user_thread T;
#define SCRATCH 0x100000ULL

static int64_t sc(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                  uint64_t a4, uint64_t a5)
{
    struct user_regs r;
    memset(&r, 0, sizeof(r));
    r.x[17] = nr;
    r.x[10] = a0; r.x[11] = a1; r.x[12] = a2; r.x[13] = a3; r.x[14] = a4; r.x[15] = a5;
    r.x[2] = SCRATCH + 0x8000;
    return user_syscall(&T, &r);
}
#define SC(nr, ...) sc(nr, ##__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define sc(nr, a, b, c, d, e, f, ...) sc(nr, a, b, c, d, e, f)
#define G(off) (SCRATCH + (off))
#define H(off) ((char *)P.mem.host + SCRATCH + (off))

static int setup(void **state)
{
    memset(&P, 0, sizeof(P));
    memset(&T, 0, sizeof(T));
    if (user_mem_init(&P.mem, USER_SPACE_SIZE) < 0)
        return -1;
    user_mem_mmap(&P.mem, SCRATCH, 0x10000, PROT_READ | PROT_WRITE,
                  MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    P.mem.brk_start = P.mem.brk_cur = P.mem.brk_mapped = 0x200000;
    P.exe_path = "/some/where/prog";
    pthread_mutex_init(&P.sig_lock, NULL);
    T.p = &P;
    T.tid = getpid();
    return 0;
}
static int teardown(void **state)
{
    user_mem_free(&P.mem);
    return 0;
}

static void test_io(void **state)
{
    int fds[2];
    assert_int_equal(SC(59, G(0), O_CLOEXEC), 0);            /* pipe2 */
    memcpy(fds, H(0), 8);
    strcpy(H(64), "hello");
    assert_int_equal(SC(64, fds[1], G(64), 5), 5);           /* write */
    assert_int_equal(SC(63, fds[0], G(128), 100), 5);        /* read */
    assert_memory_equal(H(128), "hello", 5);
    /* writev with guest iovecs */
    uint64_t iov[4] = { G(64), 2, G(66), 3 };
    memcpy(H(256), iov, sizeof(iov));
    assert_int_equal(SC(66, fds[1], G(256), 2), 5);
    assert_int_equal(SC(63, fds[0], G(128), 100), 5);
    /* a buffer outside guest memory and one in unmapped guest memory */
    assert_int_equal(SC(64, fds[1], 1ULL << 50, 5), -EFAULT);
    assert_int_equal(SC(64, fds[1], 0x7000000, 5), -EFAULT);
    assert_int_equal(SC(57, fds[0]), 0);
    assert_int_equal(SC(57, fds[1]), 0);
    assert_int_equal(SC(57, 12345), -EBADF);
}

static void test_files(void **state)
{
    char dir[] = "/tmp/vessel-sc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(H(0), 256, "%s/f", dir);
    int64_t fd = SC(56, AT_FDCWD, G(0), O_CREAT | O_RDWR, 0600);  /* openat */
    assert_true(fd >= 0);
    assert_int_equal(SC(68, fd, G(0), 10, 100), 10);          /* pwrite64 */
    /* newfstatat -> riscv64 struct stat: st_size at 48, st_mode at 16 */
    assert_int_equal(SC(79, AT_FDCWD, G(0), G(512), 0), 0);
    int64_t size; uint32_t mode;
    memcpy(&size, H(512 + 48), 8);
    memcpy(&mode, H(512 + 16), 4);
    assert_int_equal(size, 110);
    assert_int_equal(mode, S_IFREG | 0600);
    assert_int_equal(SC(80, fd, G(768)), 0);                  /* fstat */
    assert_memory_equal(H(512), H(768), 128);
    assert_int_equal(SC(57, fd), 0);
    strcpy(H(300), "nope");
    assert_int_equal(SC(79, AT_FDCWD, G(300), G(512), 0), -ENOENT);
    /* a stat buffer in read-only memory: -EFAULT, not a host crash */
    user_mem_mprotect(&P.mem, SCRATCH + 0xf000, 0x1000, PROT_READ);
    assert_int_equal(SC(79, AT_FDCWD, G(0), G(0xf000), 0), -EFAULT);
    user_mem_mprotect(&P.mem, SCRATCH + 0xf000, 0x1000, PROT_READ | PROT_WRITE);
    assert_int_equal(SC(35, AT_FDCWD, G(0), 0), 0);           /* unlinkat */
    snprintf(H(0), 256, "%s", dir);
    assert_int_equal(SC(35, AT_FDCWD, G(0), AT_REMOVEDIR), 0);
    /* getcwd returns the length including the NUL */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(SC(17, G(0), 4096), (int64_t)strlen(cwd) + 1);
    assert_string_equal(H(0), cwd);
    assert_int_equal(SC(17, G(0), 1), -ERANGE);
    /* /proc/self/maps shows guest mappings */
    strcpy(H(0), "/proc/self/maps");
    int64_t mfd = SC(56, AT_FDCWD, G(0), O_RDONLY, 0);
    assert_true(mfd >= 0);
    int64_t n = SC(63, mfd, G(0x1000), 0x1000);
    assert_true(n > 0);
    H(0x1000)[n] = 0;
    assert_non_null(strstr(H(0x1000), "00100000-00110000 rw-p"));
    SC(57, mfd);
    /* readlinkat /proc/self/exe -> the guest program */
    strcpy(H(0), "/proc/self/exe");
    assert_int_equal(SC(78, AT_FDCWD, G(0), G(256), 100), (int64_t)strlen(P.exe_path));
    assert_memory_equal(H(256), P.exe_path, strlen(P.exe_path));
}

static void test_identity(void **state)
{
    assert_int_equal(SC(160, G(0)), 0);                       /* uname */
    assert_string_equal(H(65 * 4), "riscv64");                /* utsname.machine */
    assert_int_equal(SC(172), getpid());
    assert_int_equal(SC(178), getpid());
    assert_int_equal(SC(174), getuid());
    assert_int_equal(SC(96, G(40)), getpid());                /* set_tid_address */
    assert_int_equal(T.clear_child_tid, G(40));
    assert_int_equal(SC(113, CLOCK_MONOTONIC, G(0)), 0);
    int64_t sec;
    memcpy(&sec, H(0), 8);
    assert_true(sec > 0);
    assert_int_equal(SC(278, G(0), 16, 0), 16);               /* getrandom */
    assert_int_equal(SC(9999), -ENOSYS);
    assert_int_equal(SC(258, 0, 0, 0, 0, 0), -ENOSYS);       /* riscv_hwprobe */
    assert_int_equal(SC(261, 0, RLIMIT_NOFILE, 0, G(0)), 0); /* prlimit64 */
}

static void test_memory(void **state)
{
    int64_t a = SC(222, 0, 0x5000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(a > 0);
    assert_true(user_mem_ok(&P.mem, (uint64_t)a, 0x5000, PROT_READ | PROT_WRITE));
    assert_int_equal(SC(226, a, 0x1000, PROT_READ), 0);       /* mprotect */
    assert_false(user_mem_ok(&P.mem, (uint64_t)a, 1, PROT_WRITE));
    assert_int_equal(SC(215, a, 0x5000), 0);                  /* munmap */
    assert_false(user_mem_ok(&P.mem, (uint64_t)a, 1, 0));
    assert_int_equal(SC(222, 0, 0x1000, PROT_READ, MAP_PRIVATE, -1, 0), -EBADF);
    assert_int_equal(SC(214, 0), 0x200000);                   /* brk query */
    assert_int_equal(SC(214, 0x234567), 0x234567);
    assert_true(user_mem_ok(&P.mem, 0x200000, 0x34567, PROT_READ | PROT_WRITE));
    /* file mapping: contents visible at the guest address */
    char path[] = "/tmp/vessel-map-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "mapped!", 7), 7);
    int64_t b = SC(222, 0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(b > 0);
    assert_memory_equal(P.mem.host + b, "mapped!", 7);
    close(fd);
    unlink(path);
}

static void test_signals(void **state)
{
    /* rt_sigaction: riscv64 struct is { handler, flags, mask } (24 bytes) */
    uint64_t act[3] = { 0x10000, 0x10000000 /* SA_RESTART */, 0x4 };
    memcpy(H(0), act, sizeof(act));
    assert_int_equal(SC(134, SIGUSR2, G(0), 0, 8), 0);
    assert_int_equal(SC(134, SIGUSR2, 0, G(64), 8), 0);
    assert_memory_equal(H(64), act, sizeof(act));
    assert_int_equal(SC(134, SIGKILL, G(0), 0, 8), -EINVAL);
    assert_int_equal(SC(134, SIGUSR2, G(0), 0, 16), -EINVAL);
    assert_int_equal(SC(134, 65, G(0), 0, 8), -EINVAL);
    act[0] = 0;     /* back to SIG_DFL, host too */
    memcpy(H(0), act, sizeof(act));
    assert_int_equal(SC(134, SIGUSR2, G(0), 0, 8), 0);
    /* rt_sigprocmask: SIGKILL cannot be blocked */
    uint64_t set = (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGKILL - 1));
    memcpy(H(128), &set, 8);
    assert_int_equal(SC(135, SIG_BLOCK, G(128), G(136), 8), 0);
    assert_int_equal(T.blocked, 1ULL << (SIGUSR1 - 1));
    assert_int_equal(SC(135, SIG_UNBLOCK, G(128), 0, 8), 0);
    assert_int_equal(T.blocked, 0);
    assert_int_equal(SC(135, 7, G(128), 0, 8), -EINVAL);
    /* sigaltstack set/get */
    uint64_t ss[3] = { G(0x2000), 0, 0x4000 };
    memcpy(H(200), ss, sizeof(ss));
    assert_int_equal(SC(132, G(200), G(240)), 0);
    assert_int_equal(SC(132, 0, G(240)), 0);
    assert_memory_equal(H(240), ss, sizeof(ss));
    ss[2] = 100;
    memcpy(H(200), ss, sizeof(ss));
    assert_int_equal(SC(132, G(200), 0), -ENOMEM);
    /* rt_sigreturn from a frame built by user_sigframe_setup */
    struct user_regs r;
    memset(&r, 0, sizeof(r));
    r.x[2] = G(0xe000);
    r.pc = 0x4242;
    r.x[9] = 99;
    struct user_siginfo si = { .signo = SIGUSR1 };
    assert_int_equal(user_sigframe_setup(&P.mem, &r, SIGUSR1, &si, 0x5000, 0x30, NULL, false), 0);
    r.x[17] = 139;
    r.x[9] = 1;
    assert_int_equal(user_syscall(&T, &r), USER_SYSCALL_NORET);
    assert_int_equal(r.pc, 0x4242);
    assert_int_equal(r.x[9], 99);
    assert_int_equal(r.x[2], G(0xe000));
    assert_int_equal(T.blocked, 0x30);
}

static void test_futex(void **state)
{
    uint32_t v = 5;
    memcpy(H(0), &v, 4);
    /* FUTEX_WAIT with a value that does not match: -EAGAIN */
    assert_int_equal(SC(98, G(0), 0 /* FUTEX_WAIT */, 4, 0, 0, 0), -EAGAIN);
    assert_int_equal(SC(98, G(0), 1 /* FUTEX_WAKE */, 1, 0, 0, 0), 0);
    assert_int_equal(SC(98, G(2), 1, 1, 0, 0, 0), -EFAULT);     /* misaligned */
    assert_int_equal(SC(98, 1ULL << 50, 1, 1, 0, 0, 0), -EFAULT);
    /* timed wait on a matching value returns -ETIMEDOUT */
    int64_t ts[2] = { 0, 1000000 };
    memcpy(H(64), ts, 16);
    assert_int_equal(SC(98, G(0), 0, 5, G(64), 0, 0), -ETIMEDOUT);
}

/* --strace lines: argument formats from the syscall table, errors, and
 * addresses returned by mmap/brk in hex. */
static void strace_line(unsigned nr, const uint64_t a[6], int64_t ret, char *out, size_t len)
{
    struct user_regs r;
    memset(&r, 0, sizeof(r));
    r.x[17] = nr;
    for (int i = 0; i < 6; i++)
        r.x[10 + i] = a[i];
    char path[] = "/tmp/vessel-strace-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    user_strace(&T, &r, ret, true);
    dup2(saved, 2);
    close(saved);
    memset(out, 0, len);
    assert_true(pread(fd, out, len - 1, 0) > 0);
    close(fd);
    unlink(path);
}

static void test_strace(void **state)
{
    char line[256], want[256];
    T.tid = 42;
    memcpy(H(0), "/etc/hostname", 14);
    uint64_t open_args[6] = { (uint64_t)-100, G(0), O_RDONLY, 0 };
    strace_line(56, open_args, -ENOENT, line, sizeof(line));
    assert_string_equal(line, "42 openat(AT_FDCWD,\"/etc/hostname\",0x0,00) = -1 errno=2 (No such file or directory)\n");
    /* futex's last argument is a number, never read from guest memory */
    uint64_t futex_args[6] = { G(0), 9 /* FUTEX_WAIT_BITSET */, 5, 0, 0, G(0) };
    strace_line(98, futex_args, 0, line, sizeof(line));
    snprintf(want, sizeof(want), "42 futex(0x%llx,0x9,5,NULL,NULL,0x%llx) = 0\n",
             (unsigned long long)G(0), (unsigned long long)G(0));
    assert_string_equal(line, want);
    uint64_t mmap_args[6] = { 0, 4096, 3, 0x22, (uint64_t)-1, 0 };
    strace_line(222, mmap_args, 0x3ff0000000, line, sizeof(line));
    assert_string_equal(line, "42 mmap(NULL,4096,0x3,0x22,-1,0x0) = 0x0000003ff0000000\n");
    uint64_t none[6] = { 1, 2 };
    strace_line(5000, none, -ENOSYS, line, sizeof(line));
    assert_string_equal(line, "42 syscall_5000(0x1,0x2,0x0,0x0,0x0,0x0) = -1 errno=38 (Function not implemented)\n");
    assert_int_equal(SC(5000), -ENOSYS);
    assert_int_equal(SC(99, 0, 0), -ENOSYS);              /* set_robust_list: refused on purpose */
    assert_string_equal(user_syscall_name(64), "write");
    assert_null(user_syscall_name(5000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_futex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The user-mode run loop (run.c) end to end with a tiny RV64IA test core
 * (fake_core.c): ELF load, stack, syscalls, a fault delivered to a guest
 * handler and rt_sigreturn, a clone()d thread joined by futex, exit_group,
 * and an uncaught fault. Needs riscv64-linux-gnu-gcc to build the guest;
 * skipped without it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu/riscv/user/user.h"
#include "base/base.h"

static char guest[PATH_MAX], guest_exec[PATH_MAX], guest_pie[PATH_MAX];

static int build_guest(void **state)
{
    const char *src = getenv("USER_GUEST_SRC");
    snprintf(guest_exec, sizeof(guest_exec), "/tmp/vessel-rv64i-%d", getpid());
    snprintf(guest_pie, sizeof(guest_pie), "/tmp/vessel-rv64i-pie-%d", getpid());
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof(cmd), "riscv64-linux-gnu-gcc -march=rv64ia -mabi=lp64 -nostdlib "
             "-static -O1 -fno-stack-protector -o %s %s 2>/dev/null", guest_exec,
             src ? src : SRC_DIR "/tests/guests/user/rv64i_run.c");
    if (system(cmd) != 0)
        guest_exec[0] = 0;
    /* static-pie (ET_DYN, no PT_INTERP): loaded at USER_PIE_BASE */
    snprintf(cmd, sizeof(cmd), "riscv64-linux-gnu-gcc -march=rv64ia -mabi=lp64 -nostdlib "
             "-static-pie -fPIE -Wl,--no-dynamic-linker -O1 -fno-stack-protector -o %s %s 2>/dev/null",
             guest_pie, src ? src : SRC_DIR "/tests/guests/user/rv64i_run.c");
    if (system(cmd) != 0)
        guest_pie[0] = 0;
    strcpy(guest, guest_exec);
    return 0;
}
static int rm_guest(void **state)
{
    if (guest_exec[0])
        unlink(guest_exec);
    if (guest_pie[0])
        unlink(guest_pie);
    return 0;
}

/* Run the guest in a child process; returns the wait status. With
 * send_sig, send it to the child once its output contains "ready". */
static int run_guest_sig(const char *arg, bool strace, char *out, size_t outlen, char *err,
                         size_t errlen, int send_sig)
{
    char of[] = "/tmp/vessel-run-out-XXXXXX", ef[] = "/tmp/vessel-run-err-XXXXXX";
    int ofd = mkstemp(of), efd = mkstemp(ef);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        struct user_proc *p = xzalloc(sizeof(*p));
        char e[256];
        if (user_mem_init(&p->mem, USER_SPACE_SIZE) < 0 ||
            user_elf_load(&p->mem, guest, NULL, &p->img, e, sizeof(e)) < 0)
            _exit(100);
        p->exe_path = guest;
        p->self_exe = "/bin/false";
        p->stack_size = USER_STACK_DEFAULT;
        p->strace = strace;
        pthread_mutex_init(&p->sig_lock, NULL);
        char *argv[] = { guest, (char *)arg, NULL };
        char *envp[] = { "A=B", NULL };
        _exit(user_run(p, arg ? 2 : 1, argv, envp) + 50);
    }
    if (send_sig) {
        char buf[64] = "";
        for (int i = 0; i < 1000 && !strstr(buf, "ready"); i++) {
            usleep(10000);
            pread(ofd, buf, sizeof(buf) - 1, 0);
        }
        usleep(20000);           /* let it reach rt_sigsuspend (or not: both must work) */
        kill(pid, send_sig);
    }
    int st;
    waitpid(pid, &st, 0);
    memset(out, 0, outlen);
    memset(err, 0, errlen);
    pread(ofd, out, outlen - 1, 0);
    pread(efd, err, errlen - 1, 0);
    close(ofd); close(efd);
    unlink(of); unlink(ef);
    return st;
}

static int run_guest(const char *arg, bool strace, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    return run_guest_sig(arg, strace, out, outlen, err, errlen, 0);
}

static void test_host_signal(void **state)
{
    if (!user_core_available() || !guest[0]) {
        skip();
        return;
    }
    char out[1024], err[1024];
    int st = run_guest_sig("wait", false, out, sizeof(out), err, sizeof(err), SIGUSR1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 6);
    assert_string_equal(out, "wait\nready\nusr1\n");
}

static void test_fork_exec(void **state)
{
    if (!user_core_available() || !guest[0]) {
        skip();
        return;
    }
    char out[1024], err[1024];
    int st = run_guest("fork", false, out, sizeof(out), err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out, "fork\nchild\nwaited 3\nfrom host\n");
}

static void test_run_program(void **state)
{
    if (!user_core_available() || !guest[0]) {
        skip();
        return;
    }
    char out[1024], err[1024];
    int st = run_guest("hello", false, out, sizeof(out), err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 5);
    assert_string_equal(out, "hello\nhandler si_addr ok\nresumed\nthread\njoined\n");
}

static void test_static_pie(void **state)
{
    if (!user_core_available() || !guest_pie[0]) {
        skip();
        return;
    }
    strcpy(guest, guest_pie);
    char out[1024], err[1024];
    int st = run_guest("hello", false, out, sizeof(out), err, sizeof(err));
    strcpy(guest, guest_exec);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 5);
    assert_string_equal(out, "hello\nhandler si_addr ok\nresumed\nthread\njoined\n");
}

static void test_uncaught_fault(void **state)
{
    if (!user_core_available() || !guest[0]) {
        skip();
        return;
    }
    char out[1024], err[1024];
    int st = run_guest("die", false, out, sizeof(out), err, sizeof(err));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_string_equal(out, "die\n");
    assert_non_null(strstr(err, "vessel: uncaught target signal 11 (Segmentation fault) - core dumped"));
}

static void test_strace(void **state)
{
    if (!user_core_available() || !guest[0]) {
        skip();
        return;
    }
    char out[1024], err[4096];
    int st = run_guest("hi", true, out, sizeof(out), err, sizeof(err));
    assert_true(WIFEXITED(st));
    /* "PID write(1,0xADDR,2) = 2" for "hi", the sigaction, clone, exit_group */
    assert_non_null(strstr(err, ",2) = 2\n"));
    assert_non_null(strstr(err, " rt_sigaction(11,0x"));
    assert_non_null(strstr(err, " clone(0x350f00,0x"));
    assert_null(strstr(err, "clone(0x350f00,0x0"));
    assert_non_null(strstr(err, " exit_group(5)\n"));
    assert_non_null(strstr(err, " rt_sigreturn()"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_program),
        cmocka_unit_test(test_static_pie),
        cmocka_unit_test(test_uncaught_fault),
        cmocka_unit_test(test_strace),
        cmocka_unit_test(test_host_signal),
        cmocka_unit_test(test_fork_exec),
    };
    return cmocka_run_group_tests(tests, build_guest, rm_guest);
}

/* The exec stage (CVE-2019-5736): a sealed memfd nothing can write, which
 * execs the given program, reports a failed execve on the runtime's log
 * (text or json) and refuses to run as anything else. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "ctr/ctr.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static void test_sealed(void **st)
{
    int fd = ctr_exec_stage_open();
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GET_SEALS) & SEALS, SEALS);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fd, "x", 1), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(ftruncate(fd, 0), -1);
    /* reopened through /proc, as the attack does: still nothing to write */
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    int w = open(p, O_WRONLY | O_TRUNC);
    if (w >= 0) {
        assert_int_equal(write(w, "x", 1), -1);
        close(w);
    }
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_true(sb.st_size > 0);
    close(fd);
}

/* run PATH ARGV through the stage in a child with stderr and the log on a
 * pipe; its exit status, and what it wrote there in OUT */
static int staged(const char *path, char *const argv[], bool json, char *out, size_t cap)
{
    int pfd[2];
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int stage = ctr_exec_stage_open();
        int logfd = dup3(pfd[1], 40, O_CLOEXEC);
        dup2(pfd[1], 2);
        log_set_fd(logfd);
        log_set_json(json);
        log_set_prog("vessel-ctr");
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        ctr_exec_staged(stage, path, argv, envp, true);
        _exit(99);
    }
    close(pfd[1]);
    ssize_t n = read_full(pfd[0], out, cap - 1);
    out[n > 0 ? n : 0] = 0;
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_runs(void **st)
{
    char out[1024];
    assert_int_equal(staged("/bin/sh", (char *[]){ "sh", "-c", "exit 7", NULL }, false, out, sizeof(out)), 7);
    assert_string_equal(out, "");
    /* argv[0] and the arguments arrive as given, the log fd (40) does
     * not: it is close-on-exec again in the program */
    assert_int_equal(staged("/bin/sh", (char *[]){ "name0", "-c", "[ \"$0\" = name0 ] && [ ! -e /proc/self/fd/40 ]",
                                                   NULL }, false, out, sizeof(out)), 0);
}

static void test_errors(void **st)
{
    char out[1024];
    assert_int_equal(staged("/nonexistent/prog", (char *[]){ "prog", NULL }, false, out, sizeof(out)), 127);
    assert_string_equal(out, "vessel-ctr: exec /nonexistent/prog: No such file or directory\n");
    /* a file without x: EACCES; the json log line as log_error writes it */
    char dir[] = "/tmp/vessel-stage-XXXXXX", file[64], want[128];
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/data", dir);
    FILE *f = fopen(file, "w");
    fputs("data\n", f);
    fclose(f);
    chmod(file, 0644);
    assert_int_equal(staged(file, (char *[]){ "x", NULL }, true, out, sizeof(out)), 127);
    snprintf(want, sizeof(want), "{\"level\":\"error\",\"msg\":\"exec %s: Permission denied\",\"time\":\"", file);
    assert_non_null(strstr(out, want));
    assert_int_equal(out[strlen(out) - 1], '\n');
    /* x but no known format: ENOEXEC */
    chmod(file, 0755);
    assert_int_equal(staged(file, (char *[]){ "x", NULL }, false, out, sizeof(out)), 127);
    snprintf(want, sizeof(want), "vessel-ctr: exec %s: Exec format error\n", file);
    assert_string_equal(out, want);
    unlink(file);
    rmdir(dir);
}

/* what a container gets when it execs #!/proc/self/exe: the stage, which refuses */
static void test_proc_self_exe(void **st)
{
    char dir[] = "/tmp/vessel-stage-XXXXXX", script[64], out[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof(script), "%s/evil", dir);
    FILE *f = fopen(script, "w");
    fputs("#!/proc/self/exe\n", f);
    fclose(f);
    chmod(script, 0755);
    assert_int_equal(staged(script, (char *[]){ "evil", NULL }, false, out, sizeof(out)), 127);
    assert_string_equal(out, "vessel-ctr-exec: the runtime's last step into a container; it runs nothing by itself\n");
    unlink(script);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_proc_self_exe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

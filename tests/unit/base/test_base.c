#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"

static void test_parse_size(void **state)
{
    uint64_t v;
    assert_int_equal(parse_size("128M", 1, &v), 0);
    assert_int_equal(v, 128ULL << 20);
    assert_int_equal(parse_size("1G", 1, &v), 0);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(parse_size("2KiB", 1, &v), 0);
    assert_int_equal(v, 2048);
    assert_int_equal(parse_size("512", 1 << 20, &v), 0);
    assert_int_equal(v, 512ULL << 20);
    assert_int_equal(parse_size("4096b", 1 << 20, &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(parse_size("", 1, &v), -EINVAL);
    assert_int_equal(parse_size("-1", 1, &v), -EINVAL);
    assert_int_equal(parse_size("12Q", 1, &v), -EINVAL);
    assert_int_equal(parse_size("M", 1, &v), -EINVAL);
    assert_int_equal(parse_size("99999999999999T", 1, &v), -ERANGE);
    assert_int_equal(parse_size("99999999999999999999999", 1, &v), -ERANGE);
}

static void test_parse_u64(void **state)
{
    uint64_t v;
    assert_int_equal(parse_u64("0x10", &v), 0);
    assert_int_equal(v, 16);
    assert_int_equal(parse_u64("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_u64("42x", &v), -EINVAL);
    assert_int_equal(parse_u64("-3", &v), -EINVAL);
}

static void test_ratelimit(void **state)
{
    struct ratelimit rl = { 0, 100000, 3, 0, 0 };
    rl.window_start_ms = time_ms();
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += ratelimit_ok(&rl);
    assert_int_equal(ok, 3);
    assert_int_equal(rl.suppressed, 7);
}

static void test_read_file(void **state)
{
    char path[] = "/tmp/vessel-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write_full(fd, "hello", 5), 5);
    close(fd);
    char *d;
    size_t n;
    assert_int_equal(read_file(path, &d, &n, 0), 0);
    assert_int_equal(n, 5);
    assert_string_equal(d, "hello");
    free(d);
    assert_int_equal(read_file(path, &d, &n, 3), -EFBIG);
    assert_int_equal(read_file(path, &d, &n, 5), 0);     /* exactly max_len fits */
    assert_int_equal(n, 5);
    assert_string_equal(d, "hello");
    free(d);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(read_file(path, &d, &n, 0), 0);
    assert_int_equal(n, 0);
    assert_string_equal(d, "");
    free(d);
    unlink(path);
    assert_int_equal(read_file(path, &d, &n, 0), -ENOENT);
    assert_int_equal(read_file("/tmp", &d, &n, 0), -EISDIR);
}

static void test_write_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/vessel-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/f", dir);
    assert_int_equal(write_str(path, "x"), -ENOENT);          /* no O_CREAT */
    assert_int_equal(write_file(path, "hello", 5, O_CREAT | O_TRUNC, 0600), 0);
    assert_int_equal(write_file(path, "hi", 2, O_TRUNC, 0), 0);
    assert_int_equal(write_str(path, "!"), 0);                 /* overwrites at 0 */
    char *d;
    size_t n;
    assert_int_equal(read_file(path, &d, &n, 0), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d, "!i");
    free(d);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(write_str(dir, "x"), -EISDIR);
    assert_int_equal(write_str("/dev/full", "x"), -ENOSPC);   /* the write's error */
    unlink(path);
    rmdir(dir);
    free(path);
}

static void test_mkdir_parents(void **state)
{
    (void)state;
    char dir[] = "/tmp/vessel-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *deep = xasprintf("%s/a/b/c", dir), *file = xasprintf("%s/f", dir), *under = xasprintf("%s/f/x", dir);
    assert_int_equal(mkdir_parents(deep, 0700), 0);
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(mkdir_parents(deep, 0700), 0);            /* already there: fine */
    assert_int_equal(write_file(file, "", 0, O_CREAT, 0600), 0);
    assert_int_equal(mkdir_parents(under, 0700), -ENOTDIR);   /* a file in the way */
    char *c = xasprintf("%s/a/b", dir), *b = xasprintf("%s/a", dir);
    rmdir(deep); rmdir(c); rmdir(b); unlink(file); rmdir(dir);
    free(deep); free(file); free(under); free(c); free(b);
}

static int bound_at(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* A listener's socket file goes at the end only while it is its own:
 * not once another process replaced it on the same path (vessel spare's
 * next standby), nor a path that was never a socket. */
static void test_sock_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/vessel-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/s.sock", dir);
    struct stat st;
    struct sock_path a, b;
    int fa = bound_at(path);
    sock_path_note(&a, path);
    assert_true(a.set);
    sock_path_remove(&a);                               /* still ours: removed */
    assert_int_equal(lstat(path, &st), -1);
    close(fa);

    fa = bound_at(path);
    sock_path_note(&a, path);
    unlink(path);                                       /* another takes the path */
    int fb = bound_at(path);
    sock_path_note(&b, path);
    sock_path_remove(&a);                               /* not ours now: stays */
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    sock_path_remove(&b);
    assert_int_equal(lstat(path, &st), -1);
    sock_path_remove(&b);                               /* twice: nothing */
    close(fa);
    close(fb);

    assert_int_equal(write_file(path, "x", 1, O_CREAT, 0600), 0);
    sock_path_note(&a, path);                           /* not a socket: never removed */
    assert_false(a.set);
    sock_path_remove(&a);
    assert_int_equal(lstat(path, &st), 0);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* unix_listen: 0600 whatever the umask, connectable by its owner, a stale
 * socket replaced, anything else at the path refused and left alone */
static void test_unix_listen(void **state)
{
    (void)state;
    char dir[] = "/tmp/vessel-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/l.sock", dir);
    struct stat st;
    struct sock_path sp = { 0 };
    const mode_t masks[] = { 0, 0277 };
    for (unsigned i = 0; i < 2; i++) {
        mode_t old = umask(masks[i]);
        int fd = unix_listen(path, SOCK_NONBLOCK, 1, &sp);   /* the second replaces the first's file */
        umask(old);
        assert_true(fd >= 0);
        assert_true(sp.set);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(c);
        close(fd);
    }
    sock_path_remove(&sp);
    assert_int_equal(write_file(path, "keep", 4, O_CREAT, 0644), 0);
    assert_int_equal(unix_listen(path, 0, 1, NULL), -ENOTSOCK);
    assert_string_equal(unix_listen_strerror(-ENOTSOCK), "exists and is not a socket");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(read_file(path, &data, &len, 64), 0);
    assert_int_equal(len, 4);
    free(data);
    unlink(path);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    assert_int_equal(unix_listen(longp, 0, 1, NULL), -ENAMETOOLONG);
    rmdir(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_mkdir_parents),
        cmocka_unit_test(test_sock_path),
        cmocka_unit_test(test_unix_listen),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}

/* ctr's one error type: made once with its errno text, the first error
 * kept, context prefixed, printed once with its exit status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "ctr/ctr.h"

static void test_make(void **st)
{
    struct ctr_error *err = NULL;
    assert_int_equal(ctr_error_make(&err, 0, "mount %s on %s", "a", "/b"), -1);
    assert_non_null(err);
    assert_string_equal(err->msg, "mount a on /b");
    assert_int_equal(err->errnum, 0);
    assert_int_equal(err->status, 1);
    ctr_error_free(&err);
    assert_null(err);
    ctr_error_make(&err, ENOENT, "cannot read %s", "/x/config.json");
    assert_string_equal(err->msg, "cannot read /x/config.json: No such file or directory");
    assert_int_equal(err->errnum, ENOENT);
    ctr_error_free(&err);
    ctr_error_free(&err);                      /* twice: nothing left to free */
}

static void test_first_kept(void **st)
{
    struct ctr_error *err = NULL;
    ctr_error_make(&err, EPERM, "cause");
    ctr_error_make(&err, 0, "consequence");
    assert_string_equal(err->msg, "cause: Operation not permitted");
    ctr_error_free(&err);
    /* no place to put it: still -1, nothing allocated */
    assert_int_equal(ctr_error_make(NULL, 0, "dropped"), -1);
}

static void test_usage_and_wrap(void **st)
{
    struct ctr_error *err = NULL;
    assert_int_equal(ctr_error_wrap(&err, "nothing to wrap"), -1);
    assert_null(err);
    assert_int_equal(ctr_error_usage(&err, "--format: \"%s\" is not table or json", "xml"), -1);
    assert_int_equal(err->status, 2);
    assert_int_equal(ctr_error_wrap(&err, "update"), -1);
    assert_string_equal(err->msg, "update: --format: \"xml\" is not table or json");
    ctr_error_free(&err);
    /* a long message is cut, not overrun */
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    ctr_error_make(&err, 0, "%s", big);
    assert_true(strlen(err->msg) < sizeof(big));
    ctr_error_free(&err);
}

/* the one place it is printed: one log line, the exit status returned */
static void test_report(void **st)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    log_set_fd(p[1]);
    log_set_prog("vessel-ctr");
    struct ctr_error *err = NULL;
    ctr_error_usage(&err, "kill: unknown signal \"%s\"", "FOO");
    assert_int_equal(ctr_error_report(&err), 2);
    assert_null(err);
    ctr_error_make(&err, EEXIST, "cannot create %s", "/run/x");
    assert_int_equal(ctr_error_report(&err), 1);
    assert_int_equal(ctr_error_report(&err), 1);   /* none: a plain failure, nothing printed */
    log_set_fd(2);
    close(p[1]);
    char out[512];
    ssize_t n = read_full(p[0], out, sizeof(out) - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = 0;
    assert_string_equal(out, "vessel-ctr: kill: unknown signal \"FOO\"\n"
                             "vessel-ctr: cannot create /run/x: File exists\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make),
        cmocka_unit_test(test_first_kept),
        cmocka_unit_test(test_usage_and_wrap),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

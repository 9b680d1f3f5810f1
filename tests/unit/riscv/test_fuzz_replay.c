/* A fuzz target's regression inputs (fuzz/regressions/FUZZ_TARGET/)
 * replayed through the target itself, built here without libFuzzer: an
 * input that made it fail once must pass in every test run (under ASan and
 * UBSan in the sanitizer pass). fuzz_riscv_exec traps on a difference
 * between the interpreter and the translator, so a regression ends this
 * test with SIGILL. Built once per target (tests/unit/riscv, tests/unit/user). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void test_regressions(void **st)
{
    (void)st;
    const char *dir = FUZZ_REGRESSIONS "/" FUZZ_TARGET;
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *buf = NULL;
        size_t len = 0;
        assert_int_equal(read_file(path, &buf, &len, 1 << 20), 0);
        print_message("replay %s (%zu bytes)\n", de->d_name, len);
        /* a few times: a failure may depend on timing (the clock it was) */
        for (int k = 0; k < 100; k++)
            LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    assert_true(n >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

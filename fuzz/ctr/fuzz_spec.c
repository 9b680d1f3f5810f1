/* libFuzzer: config.json parsing and validation must never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>

#include "base/base.h"
#include "ctr/ctr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_fd(open("/dev/null", O_WRONLY));
        quiet = 1;
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    struct ctr_error *err = NULL;
    struct ctr_spec *s = ctr_spec_parse(text, "/bundle", "config.json", &err);
    if (!s && !err)
        __builtin_trap();              /* every refusal says why */
    ctr_error_free(&err);
    ctr_spec_free(s);
    free(text);
    return 0;
}

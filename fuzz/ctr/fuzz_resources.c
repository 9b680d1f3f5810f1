/* libFuzzer: a linux.resources document as `vessel ctr update --resources
 * FILE` reads it (a file the user gives, podman writes) must never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <json-c/json.h>

#include "base/base.h"
#include "ctr/ctr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_fd(open("/dev/null", O_WRONLY));
        quiet = 1;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 1 << 20 ? 1 << 20 : size));
    json_tokener_free(tok);
    if (o && json_object_is_type(o, json_type_object)) {
        struct ctr_resources r;
        ctr_resources_init(&r);
        struct ctr_error *err = NULL;
        if (ctr_resources_parse(o, &r, "update --resources", &err) < 0 && !err)
            __builtin_trap();          /* every refusal says why */
        ctr_error_free(&err);
        ctr_resources_free(&r);
    }
    json_object_put(o);
    return 0;
}

/* ctr: linux.seccomp -> a libseccomp filter. Validation happens when the
 * config is loaded (so errors name the field); loading happens in the
 * container just before execve. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

static const struct { const char *name; uint32_t act; bool takes_errno; } actions[] = {
    { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
    { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
    { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
    { "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
    { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
    { "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
    { "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
    { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
};

static const struct { const char *name; enum scmp_compare op; } ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
    { "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
    { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static int action_of(struct json_object *o, const char *key, int64_t errno_ret, uint32_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    const char *n = json_object_get_string(v);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (!strcmp(n, actions[i].name)) {
            uint32_t a = actions[i].act;
            if (actions[i].takes_errno)
                a = (a & 0xffff0000u) | (uint32_t)(errno_ret >= 0 ? errno_ret : EPERM);
            *out = a;
            return 0;
        }
    return -1;
}

/* errnoRet of a rule, defaultErrnoRet of the filter (key says which) */
static int64_t errno_ret_of(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return -1;
}

static const struct { const char *name; enum scmp_filter_attr attr; } filter_flags[] = {
    { "SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC },
    { "SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG },
    { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB },
};

static int op_of(const char *n, enum scmp_compare *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (!strcmp(n, ops[i].name)) { *out = ops[i].op; return 0; }
    return -1;
}

#define BAD(...) return ctr_error_make(err, 0, "config.json: " __VA_ARGS__)

int ctr_seccomp_validate(struct json_object *o, const char *path, struct ctr_error **err)
{
    uint32_t a;
    struct json_object *v, *arr;
    if (!json_object_object_get_ex(o, "defaultAction", &v))
        BAD("%s.defaultAction: missing", path);
    if (json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), "SCMP_ACT_NOTIFY"))
        BAD("%s.defaultAction: SCMP_ACT_NOTIFY is not supported (no seccomp agent)", path);
    if (action_of(o, "defaultAction", 1, &a))
        BAD("%s.defaultAction: unknown action %s", path, json_object_to_json_string(v));
    if (json_object_object_get_ex(o, "defaultErrnoRet", &v) &&
        (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 || json_object_get_int64(v) > 4095))
        BAD("%s.defaultErrnoRet: %s is not an errno", path, json_object_to_json_string(v));
    if (json_object_object_get_ex(o, "listenerPath", &v))
        BAD("%s.listenerPath: seccomp notification is not supported", path);
    if (json_object_object_get_ex(o, "flags", &arr)) {
        if (!json_object_is_type(arr, json_type_array))
            BAD("%s.flags: expected array", path);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            const char *n = json_object_get_string(json_object_array_get_idx(arr, i));
            size_t k;
            for (k = 0; k < ARRAY_SIZE(filter_flags) && (!n || strcmp(n, filter_flags[k].name)); k++) {}
            if (k == ARRAY_SIZE(filter_flags))
                BAD("%s.flags[%zu]: unknown flag \"%s\"", path, i, n ? n : "");
        }
    }
    if (json_object_object_get_ex(o, "architectures", &arr)) {
        if (!json_object_is_type(arr, json_type_array))
            BAD("%s.architectures: expected array", path);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            const char *n = json_object_get_string(json_object_array_get_idx(arr, i));
            if (!n || strncmp(n, "SCMP_ARCH_", 10) || !seccomp_arch_resolve_name(strcasecmp(n + 10, "X86_64") ? n + 10 : "x86_64")) {
                /* libseccomp wants lower-case names like "x86_64", "aarch64" */
                char low[32];
                size_t k;
                for (k = 0; n && n[10 + k] && k < sizeof(low) - 1; k++)
                    low[k] = (char)((n[10 + k] >= 'A' && n[10 + k] <= 'Z') ? n[10 + k] + 32 : n[10 + k]);
                low[k] = 0;
                if (!n || !seccomp_arch_resolve_name(low))
                    BAD("%s.architectures[%zu]: unknown architecture \"%s\"", path, i, n ? n : "");
            }
        }
    }
    if (!json_object_object_get_ex(o, "syscalls", &arr))
        return 0;
    if (!json_object_is_type(arr, json_type_array))
        BAD("%s.syscalls: expected array", path);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *r = json_object_array_get_idx(arr, i), *names, *args;
        if (!json_object_is_type(r, json_type_object))
            BAD("%s.syscalls[%zu]: expected object", path, i);
        if (json_object_object_get_ex(r, "action", &v) && json_object_is_type(v, json_type_string) &&
            !strcmp(json_object_get_string(v), "SCMP_ACT_NOTIFY"))
            BAD("%s.syscalls[%zu].action: SCMP_ACT_NOTIFY is not supported (no seccomp agent)", path, i);
        if (action_of(r, "action", 1, &a)) {
            json_object_object_get_ex(r, "action", &v);
            BAD("%s.syscalls[%zu].action: unknown action %s", path, i, v ? json_object_to_json_string(v) : "(missing)");
        }
        if (!json_object_object_get_ex(r, "names", &names) || !json_object_is_type(names, json_type_array))
            BAD("%s.syscalls[%zu].names: expected an array of syscall names", path, i);
        for (size_t j = 0; j < json_object_array_length(names); j++) {
            const char *n = json_object_get_string(json_object_array_get_idx(names, j));
            if (!n || seccomp_syscall_resolve_name(n) == __NR_SCMP_ERROR)
                log_warn("%s.syscalls[%zu].names[%zu]: unknown syscall \"%s\" ignored", path, i, j, n ? n : "");
        }
        if (json_object_object_get_ex(r, "args", &args)) {
            if (!json_object_is_type(args, json_type_array))
                BAD("%s.syscalls[%zu].args: expected array", path, i);
            for (size_t j = 0; j < json_object_array_length(args); j++) {
                struct json_object *ar = json_object_array_get_idx(args, j), *idx, *op;
                enum scmp_compare c;
                if (!json_object_object_get_ex(ar, "index", &idx) || !json_object_is_type(idx, json_type_int) ||
                    json_object_get_int(idx) < 0 || json_object_get_int(idx) > 5)
                    BAD("%s.syscalls[%zu].args[%zu].index: must be 0..5", path, i, j);
                if (!json_object_object_get_ex(ar, "op", &op) || op_of(json_object_get_string(op), &c))
                    BAD("%s.syscalls[%zu].args[%zu].op: unknown operator %s", path, i, j,
                        op ? json_object_to_json_string(op) : "(missing)");
            }
        }
    }
    return 0;
}

int ctr_seccomp_load(struct json_object *o, struct ctr_error **err)
{
    uint32_t def;
    action_of(o, "defaultAction", errno_ret_of(o, "defaultErrnoRet"), &def);
    scmp_filter_ctx ctx = seccomp_init(def);
    struct json_object *arr;
    int r = 0;
    if (!ctx) {
        return ctr_error_make(err, 0, "seccomp_init failed");
    }
    /* no_new_privs is process.noNewPrivileges' business, not libseccomp's */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (json_object_object_get_ex(o, "flags", &arr))
        for (size_t i = 0; i < json_object_array_length(arr); i++)
            for (size_t k = 0; k < ARRAY_SIZE(filter_flags); k++)
                if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), filter_flags[k].name) &&
                    (r = seccomp_attr_set(ctx, filter_flags[k].attr, 1)) < 0) {
                    seccomp_release(ctx);
                    return ctr_error_make(err, -r, "linux.seccomp.flags[%zu]: %s", i, filter_flags[k].name);
                }
    if (json_object_object_get_ex(o, "architectures", &arr)) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            const char *n = json_object_get_string(json_object_array_get_idx(arr, i)) + 10;
            char low[32];
            size_t k;
            for (k = 0; n[k] && k < sizeof(low) - 1; k++)
                low[k] = (char)((n[k] >= 'A' && n[k] <= 'Z') ? n[k] + 32 : n[k]);
            low[k] = 0;
            uint32_t arch = seccomp_arch_resolve_name(low);
            if (arch && seccomp_arch_exist(ctx, arch) == -EEXIST)
                seccomp_arch_add(ctx, arch);
        }
    }
    if (json_object_object_get_ex(o, "syscalls", &arr)) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *rule = json_object_array_get_idx(arr, i), *names, *args = NULL;
            uint32_t act;
            action_of(rule, "action", errno_ret_of(rule, "errnoRet"), &act);
            if (act == def)
                continue;
            json_object_object_get_ex(rule, "names", &names);
            json_object_object_get_ex(rule, "args", &args);
            struct scmp_arg_cmp cmp[6];
            unsigned ncmp = 0;
            for (size_t j = 0; args && j < json_object_array_length(args) && ncmp < 6; j++) {
                struct json_object *a = json_object_array_get_idx(args, j), *v;
                enum scmp_compare op = SCMP_CMP_EQ;
                uint64_t val = 0, val2 = 0;
                json_object_object_get_ex(a, "op", &v);
                op_of(json_object_get_string(v), &op);
                if (json_object_object_get_ex(a, "value", &v)) val = json_object_get_uint64(v);
                if (json_object_object_get_ex(a, "valueTwo", &v)) val2 = json_object_get_uint64(v);
                json_object_object_get_ex(a, "index", &v);
                cmp[ncmp++] = (struct scmp_arg_cmp){ (unsigned)json_object_get_int(v), op, val, val2 };
            }
            for (size_t j = 0; j < json_object_array_length(names); j++) {
                const char *n = json_object_get_string(json_object_array_get_idx(names, j));
                int nr = seccomp_syscall_resolve_name(n);
                if (nr == __NR_SCMP_ERROR)
                    continue;
                r = seccomp_rule_add_array(ctx, act, nr, ncmp, cmp);
                if (r < 0 && r != -EEXIST) {
                    seccomp_release(ctx);
                    return ctr_error_make(err, -r, "linux.seccomp.syscalls[%zu]: cannot add rule for %s", i, n);
                }
            }
        }
    }
    r = seccomp_load(ctx);
    seccomp_release(ctx);
    if (r < 0)
        return ctr_error_make(err, -r, "loading the seccomp filter");
    return 0;
}

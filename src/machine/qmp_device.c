/* QMP device_add / device_del / query-hotpluggable-cpus: the argument
 * checks and reply shapes (QEMU's), apart from the protocol in qmp.c. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "machine/internal.h"
#include "machine/qmp.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

void qmp_cpu_qom_path(char *buf, size_t len, unsigned index, const char *id)
{
    if (id)
        snprintf(buf, len, "/machine/peripheral/%s", id);
    else
        snprintf(buf, len, "/machine/cpu[%u]", index);
}

/* A topology property: absent (-1), or a non-negative integer. */
static int topo_arg(json_object *args, const char *key, int64_t *out, char *err, size_t errlen)
{
    json_object *v = json_object_object_get(args, key);
    *out = -1;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return ERR("Invalid parameter type for '%s', expected: integer", key);
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno || n < 0 || n > 0xffff)
        return ERR("Parameter '%s' is out of range: %lld", key, (long long)n);
    *out = n;
    return 0;
}

int qmp_device_cpu_parse(json_object *args, const char *target, struct qmp_cpu_add *out, char *err, size_t errlen)
{
    json_object *drv = args ? json_object_object_get(args, "driver") : NULL, *id;
    if (!drv)
        return ERR("Parameter 'driver' is missing");
    if (!json_object_is_type(drv, json_type_string))
        return ERR("Invalid parameter type for 'driver', expected: string");
    const char *d = json_object_get_string(drv);
    char cpu[64], host[64];
    snprintf(cpu, sizeof(cpu), "%s-cpu", target ? target : "");
    snprintf(host, sizeof(host), "host-%s-cpu", target ? target : "");
    if (strcmp(d, cpu) && strcmp(d, host))
        return ERR("device_add of '%.64s': vessel hot-plugs CPUs only ('%s' or '%s')", d, cpu, host);
    id = json_object_object_get(args, "id");
    if (!id)
        return ERR("Parameter 'id' is missing: device_del names the CPU by it");
    if (!json_object_is_type(id, json_type_string))
        return ERR("Invalid parameter type for 'id', expected: string");
    const char *s = json_object_get_string(id);
    size_t n = strlen(s);
    if (!n || n > 48 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) ||
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != n)
        return ERR("Parameter 'id' expects an identifier (a letter, then letters, digits, '-', '.', '_'; "
                   "at most 48): '%.64s'", s);
    int64_t core, socket, thread, die;
    if (topo_arg(args, "core-id", &core, err, errlen) || topo_arg(args, "socket-id", &socket, err, errlen) ||
        topo_arg(args, "thread-id", &thread, err, errlen) || topo_arg(args, "die-id", &die, err, errlen))
        return -1;
    if (core < 0)
        return ERR("Parameter 'core-id' is missing (query-hotpluggable-cpus lists the free ones)");
    if (socket > 0 || thread > 0 || die > 0)
        return ERR("socket-id %lld, die-id %lld, thread-id %lld: this machine has one socket, die and thread "
                   "(give 0 or leave them out)", (long long)socket, (long long)die, (long long)thread);
    out->id = s;
    out->core = (unsigned)core;
    return 0;
}

json_object *qmp_hotpluggable_cpus_json(const struct qmp_hotcpu *c, unsigned n, const char *target)
{
    char type[64];
    snprintf(type, sizeof(type), "host-%s-cpu", target ? target : "");
    json_object *a = json_object_new_array();
    for (unsigned i = 0; i < n; i++) {
        json_object *e = json_object_new_object(), *props = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string(type));
        json_object_object_add(e, "vcpus-count", json_object_new_int64(1));
        json_object_object_add(props, "socket-id", json_object_new_int64(0));
        json_object_object_add(props, "core-id", json_object_new_int64(c[i].index));
        json_object_object_add(props, "thread-id", json_object_new_int64(0));
        json_object_object_add(e, "props", props);
        if (c[i].present) {
            char path[96];
            qmp_cpu_qom_path(path, sizeof(path), c[i].index, c[i].id);
            json_object_object_add(e, "qom-path", json_object_new_string(path));
        }
        json_object_array_add(a, e);
    }
    return a;
}

/* QMP's migration commands as JSON (QEMU's MigrationInfo,
 * MigrationParameters and capabilities), kept out of qmp.c's protocol. */
#include "machine/internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static void add_int(json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

json_object *qmp_migrate_info_json(const struct machine_mig_info *in)
{
    json_object *o = json_object_new_object();
    if (in->status == MIG_NONE)
        return o;               /* QEMU: {} before any migration */
    json_object_object_add(o, "status", json_object_new_string(machine_mig_status_name(in->status)));
    json_object *ram = json_object_new_object();
    add_int(ram, "transferred", (int64_t)in->transferred);
    add_int(ram, "remaining", (int64_t)in->remaining);
    add_int(ram, "total", (int64_t)in->total);
    add_int(ram, "duplicate", (int64_t)in->duplicate);
    add_int(ram, "skipped", 0);
    add_int(ram, "normal", (int64_t)in->normal);
    add_int(ram, "normal-bytes", (int64_t)in->normal_bytes);
    add_int(ram, "dirty-pages-rate", (int64_t)in->dirty_rate);
    json_object_object_add(ram, "mbps", json_object_new_double(in->mbps));
    add_int(ram, "dirty-sync-count", (int64_t)in->iterations);
    add_int(ram, "page-size", (int64_t)MEM_PAGE_SIZE);
    json_object_object_add(o, "ram", ram);
    add_int(o, "setup-time", in->setup_time_ms);
    if (in->status == MIG_COMPLETED) {
        add_int(o, "downtime", in->downtime_ms);
        add_int(o, "total-time", in->total_time_ms);
    } else if (in->status == MIG_ACTIVE || in->status == MIG_DEVICE || in->status == MIG_SETUP) {
        add_int(o, "expected-downtime", in->expected_downtime_ms);
    } else {
        add_int(o, "total-time", in->total_time_ms);
    }
    if (in->throttle_pct) {
        add_int(o, "cpu-throttle-percentage", in->throttle_pct);
        add_int(o, "x-cpu-throttle-percentage", in->throttle_pct);
    }
    if (in->status == MIG_FAILED && in->error[0])
        json_object_object_add(o, "error-desc", json_object_new_string(in->error));
    return o;
}

json_object *qmp_migrate_params_json(const struct machine_mig_params *p)
{
    json_object *o = json_object_new_object();
    add_int(o, "downtime-limit", (int64_t)p->downtime_limit_ms);
    add_int(o, "max-bandwidth", (int64_t)p->max_bandwidth);
    add_int(o, "cpu-throttle-initial", p->throttle_initial);
    add_int(o, "cpu-throttle-increment", p->throttle_increment);
    return o;
}

static int get_int(json_object *args, const char *key, int64_t min, int64_t max, int64_t *out, char *err,
                   size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(args, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int)) {
        snprintf(err, errlen, "Invalid parameter type for '%s', expected: integer", key);
        return -1;
    }
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max) {
        snprintf(err, errlen, "Parameter '%s' expects a value from %lld to %lld", key, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = x;
    return 1;
}

int qmp_migrate_params_parse(json_object *args, struct machine_mig_params *p, char *err, size_t errlen)
{
    struct machine_mig_params n = *p;
    int64_t v;
    int r;
    if (!args)
        return 0;
    /* QEMU's bounds: downtime-limit up to 2000 s, throttles 1..99 */
    if ((r = get_int(args, "downtime-limit", 0, 2000000, &v, err, errlen)) < 0)
        return -1;
    if (r)
        n.downtime_limit_ms = (uint64_t)v;
    if ((r = get_int(args, "max-bandwidth", 0, INT64_MAX, &v, err, errlen)) < 0)
        return -1;
    if (r)
        n.max_bandwidth = (uint64_t)v;
    if ((r = get_int(args, "cpu-throttle-initial", 1, 99, &v, err, errlen)) < 0)
        return -1;
    if (r)
        n.throttle_initial = (unsigned)v;
    if ((r = get_int(args, "cpu-throttle-increment", 1, 99, &v, err, errlen)) < 0)
        return -1;
    if (r)
        n.throttle_increment = (unsigned)v;
    *p = n;
    return 0;
}

int qmp_migrate_caps_parse(json_object *args, struct machine_mig_params *p, char *err, size_t errlen)
{
    json_object *a;
    if (!args || !json_object_object_get_ex(args, "capabilities", &a)) {
        snprintf(err, errlen, "Parameter 'capabilities' is missing");
        return -1;
    }
    if (!json_object_is_type(a, json_type_array)) {
        snprintf(err, errlen, "Invalid parameter type for 'capabilities', expected: array");
        return -1;
    }
    bool ac = p->auto_converge;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *c = json_object_array_get_idx(a, i), *name, *state;
        if (!json_object_is_type(c, json_type_object) || !json_object_object_get_ex(c, "capability", &name) ||
            !json_object_object_get_ex(c, "state", &state) || !json_object_is_type(name, json_type_string) ||
            !json_object_is_type(state, json_type_boolean)) {
            snprintf(err, errlen, "capabilities[%zu]: expected {\"capability\": NAME, \"state\": BOOL}", i);
            return -1;
        }
        if (strcmp(json_object_get_string(name), "auto-converge")) {
            snprintf(err, errlen, "Capability '%.64s' is not offered (vessel has auto-converge only)",
                     json_object_get_string(name));
            return -1;
        }
        ac = json_object_get_boolean(state);
    }
    p->auto_converge = ac;
    return 0;
}

json_object *qmp_migrate_caps_json(const struct machine_mig_params *p)
{
    json_object *a = json_object_new_array(), *c = json_object_new_object();
    json_object_object_add(c, "capability", json_object_new_string("auto-converge"));
    json_object_object_add(c, "state", json_object_new_boolean(p->auto_converge));
    json_object_array_add(a, c);
    return a;
}

json_object *qmp_replication_info_json(const struct machine_repl_info *in)
{
    static const char *const roles[] = { "none", "primary", "standby" };
    json_object *o = json_object_new_object();
    json_object_object_add(o, "role", json_object_new_string(roles[in->role <= REPL_ROLE_STANDBY ? in->role : 0]));
    json_object_object_add(o, "status", json_object_new_string(in->status[0] ? in->status : "none"));
    if (in->role == REPL_ROLE_NONE)
        return o;
    json_object_object_add(o, "uri", json_object_new_string(in->uri));
    if (in->period_ms)
        json_object_object_add(o, "period-ms", json_object_new_int64((int64_t)in->period_ms));
    json_object_object_add(o, "epoch", json_object_new_int64((int64_t)in->epoch));
    json_object_object_add(o, "epochs", json_object_new_int64((int64_t)in->epochs));
    if (in->acked)
        json_object_object_add(o, "last-ack", json_object_new_int64((int64_t)in->last_ack));
    json_object_object_add(o, "lag-ms", json_object_new_int64((int64_t)in->lag_ms));
    json_object_object_add(o, "pages", json_object_new_int64((int64_t)in->pages));
    json_object_object_add(o, "zero-pages", json_object_new_int64((int64_t)in->zero_pages));
    json_object_object_add(o, "disk-bytes", json_object_new_int64((int64_t)in->disk_bytes));
    json_object_object_add(o, "epoch-bytes", json_object_new_int64((int64_t)in->bytes));
    json_object_object_add(o, "transferred", json_object_new_int64((int64_t)in->total_bytes));
    if (in->role == REPL_ROLE_PRIMARY && in->period_ms) {
        json_object_object_add(o, "pause-us", json_object_new_int64((int64_t)in->pause_us));
        json_object_object_add(o, "setup-ms", json_object_new_int64((int64_t)in->setup_ms));
    }
    if (in->role == REPL_ROLE_STANDBY) {
        json_object_object_add(o, "timeout-ms", json_object_new_int64((int64_t)in->timeout_ms));
        json_object_object_add(o, "max-gap-ms", json_object_new_int64((int64_t)in->max_gap_ms));
    }
    if (in->error[0])
        json_object_object_add(o, "error-desc", json_object_new_string(in->error));
    return o;
}

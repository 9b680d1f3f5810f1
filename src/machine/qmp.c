/* QMP: QEMU's Machine Protocol, the session: requests in, replies and events
 * out, the command table. qmp_server.c puts a session on a unix socket,
 * qmp_monitor.c connects the commands to a machine. See machine/qmp.h.
 *
 * Input is parsed with json-c's streaming tokener, so several requests in
 * one read and one request split over many reads both work. After bad JSON
 * or an oversized request the input is skipped up to the next control byte
 * (a newline, in practice) or 0xFE/0xFF, the points QEMU's lexer also
 * resynchronizes on. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "base/base.h"
#include "config.h"
#include "machine/internal.h"
#include "machine/qmp.h"

#define QMP_MAX_DEPTH 32          /* nesting: no command needs more than 3 */
#define QMP_MAX_CPUS 256
#define QMP_MAX_BLOCKS 64
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ==== output buffer ==== */
struct qmp_buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct qmp_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = MAX(b->cap * 2, b->len + n + 1);
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* ==== session ==== */
struct qmp_session {
    const struct qmp_ops *ops;
    void *opaque;
    void (*flush_events)(void *arg);
    void *arg;
    json_tokener *tok;
    size_t pending;             /* bytes of the request being parsed */
    bool skipping;              /* after an error: drop input up to a sync byte */
    bool negotiated;
    struct qmp_buf out;
};

enum qmp_class { QMP_GENERIC_ERROR, QMP_COMMAND_NOT_FOUND, QMP_DEVICE_NOT_ACTIVE, QMP_DEVICE_NOT_FOUND };
static const char *const class_names[] = {
    [QMP_GENERIC_ERROR] = "GenericError", [QMP_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_DEVICE_NOT_ACTIVE] = "DeviceNotActive", [QMP_DEVICE_NOT_FOUND] = "DeviceNotFound",
};

struct qmp_result {
    json_object *ret;           /* the return value, or NULL with an error */
    enum qmp_class cls;
    char desc[256];
};

static void PRINTF(3, 4) set_error(struct qmp_result *r, enum qmp_class cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->desc, sizeof(r->desc), fmt, ap);
    va_end(ap);
    r->cls = cls;
    json_object_put(r->ret);
    r->ret = NULL;
}

static void emit(struct qmp_session *s, json_object *msg)
{
    size_t n;
    const char *t = json_object_to_json_string_length(msg, JSON_FLAGS, &n);
    buf_add(&s->out, t, n);
    buf_add(&s->out, "\r\n", 2);
}

/* One reply. Events a synchronous command raised (STOP for stop) go first,
 * as on QEMU; after a request QEMU serves later (quit, system_reset,
 * system_powerdown) its events follow the reply. */
static void reply_ex(struct qmp_session *s, struct qmp_result *r, json_object *id, bool events_first)
{
    if (events_first && s->flush_events)
        s->flush_events(s->arg);
    json_object *msg = json_object_new_object();
    if (r->ret) {
        json_object_object_add(msg, "return", r->ret);
        r->ret = NULL;
    } else {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "class", json_object_new_string(class_names[r->cls]));
        json_object_object_add(e, "desc", json_object_new_string(r->desc));
        json_object_object_add(msg, "error", e);
    }
    if (id)
        json_object_object_add(msg, "id", json_object_get(id));
    emit(s, msg);
    json_object_put(msg);
}

static void reply(struct qmp_session *s, struct qmp_result *r, json_object *id)
{
    reply_ex(s, r, id, true);
}

static void error_reply(struct qmp_session *s, const char *desc)
{
    struct qmp_result r = { 0 };
    set_error(&r, QMP_GENERIC_ERROR, "%s", desc);
    reply(s, &r, NULL);
}

/* ---- commands ---- */
struct qmp_cmd;
typedef void (*qmp_handler)(struct qmp_session *s, json_object *args, struct qmp_result *r);

static json_object *version_object(void)
{
    unsigned v[3] = { 0, 0, 0 };
    sscanf(VESSEL_VERSION, "%u.%u.%u", &v[0], &v[1], &v[2]);
    json_object *q = json_object_new_object();
    json_object_object_add(q, "micro", json_object_new_int64(v[2]));
    json_object_object_add(q, "minor", json_object_new_int64(v[1]));
    json_object_object_add(q, "major", json_object_new_int64(v[0]));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "qemu", q);
    json_object_object_add(o, "package", json_object_new_string("vessel " VESSEL_VERSION));
    return o;
}

static void cmd_capabilities(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    json_object *en = args ? json_object_object_get(args, "enable") : NULL;
    if (en) {
        if (!json_object_is_type(en, json_type_array)) {
            set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for 'enable', expected: array");
            return;
        }
        for (size_t i = 0; i < json_object_array_length(en); i++) {
            json_object *c = json_object_array_get_idx(en, i);
            if (!json_object_is_type(c, json_type_string)) {
                set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for 'enable[%zu]', expected: string", i);
                return;
            }
            /* QEMU offers 'oob'; vessel offers no capability at all */
            set_error(r, QMP_GENERIC_ERROR, "Capability '%.64s' not available", json_object_get_string(c));
            return;
        }
    }
    s->negotiated = true;
}

static void cmd_query_status(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *st = s->ops->status(s->opaque);
    if (!st)
        st = "running";
    json_object_object_add(r->ret, "status", json_object_new_string(st));
    json_object_object_add(r->ret, "singlestep", json_object_new_boolean(0));
    json_object_object_add(r->ret, "running", json_object_new_boolean(!strcmp(st, "running")));
}

#define SIMPLE_CMD(name, op)                                                  \
    static void name(struct qmp_session *s, json_object *args, struct qmp_result *r) \
    {                                                                         \
        const char *why = NULL;                                               \
        int e = s->ops->op(s->opaque, &why);                                  \
        if (e < 0)                                                            \
            set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));  \
    }
SIMPLE_CMD(cmd_stop, stop)
SIMPLE_CMD(cmd_cont, cont)
SIMPLE_CMD(cmd_system_reset, system_reset)
SIMPLE_CMD(cmd_system_powerdown, system_powerdown)
SIMPLE_CMD(cmd_quit, quit)

static void cmd_query_cpus_fast(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct qmp_cpu cpus[QMP_MAX_CPUS] = { { 0 } };     /* entries a machine leaves unfilled read as 0 */
    unsigned n = MIN(s->ops->query_cpus(s->opaque, cpus, QMP_MAX_CPUS), QMP_MAX_CPUS);
    json_object_put(r->ret);
    r->ret = json_object_new_array();
    for (unsigned i = 0; i < n; i++) {
        char path[96];
        json_object *c = json_object_new_object(), *props = json_object_new_object();
        qmp_cpu_qom_path(path, sizeof(path), cpus[i].index, cpus[i].id);
        json_object_object_add(c, "cpu-index", json_object_new_int64(cpus[i].index));
        json_object_object_add(c, "qom-path", json_object_new_string(path));
        json_object_object_add(c, "thread-id", json_object_new_int64(cpus[i].thread_id));
        json_object_object_add(props, "core-id", json_object_new_int64(cpus[i].index));
        json_object_object_add(props, "thread-id", json_object_new_int64(0));
        json_object_object_add(props, "socket-id", json_object_new_int64(0));
        json_object_object_add(c, "props", props);
        const char *target = cpus[i].target ? cpus[i].target : s->ops->target;
        json_object_object_add(c, "target", json_object_new_string(target && *target ? target : "unknown"));
        if (cpus[i].state)
            json_object_object_add(c, "x-state", json_object_new_string(cpus[i].state));
        json_object_array_add(r->ret, c);
    }
}

static void cmd_query_block(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct qmp_block blk[QMP_MAX_BLOCKS] = { { 0 } };
    unsigned n = MIN(s->ops->query_block(s->opaque, blk, QMP_MAX_BLOCKS), QMP_MAX_BLOCKS);
    json_object_put(r->ret);
    r->ret = json_object_new_array();
    for (unsigned i = 0; i < n; i++) {
        const struct qmp_block *b = &blk[i];
        json_object *d = json_object_new_object(), *ins = json_object_new_object();
        json_object *img = json_object_new_object(), *cache = json_object_new_object();
        char node[32];
        snprintf(node, sizeof(node), "#block%03u", i);
        json_object_object_add(d, "device", json_object_new_string(b->device ? b->device : ""));
        json_object_object_add(d, "locked", json_object_new_boolean(0));
        json_object_object_add(d, "removable", json_object_new_boolean(0));
        json_object_object_add(d, "type", json_object_new_string("unknown"));
        json_object_object_add(d, "io-status", json_object_new_string("ok"));
        json_object_object_add(img, "filename", json_object_new_string(b->file ? b->file : ""));
        json_object_object_add(img, "format", json_object_new_string("raw"));
        json_object_object_add(img, "virtual-size", json_object_new_int64((int64_t)b->size));
        json_object_object_add(img, "dirty-flag", json_object_new_boolean(0));
        json_object_object_add(cache, "writeback", json_object_new_boolean(1));
        json_object_object_add(cache, "direct", json_object_new_boolean(b->direct));
        json_object_object_add(cache, "no-flush", json_object_new_boolean(0));
        json_object_object_add(ins, "file", json_object_new_string(b->file ? b->file : ""));
        json_object_object_add(ins, "node-name", json_object_new_string(node));
        json_object_object_add(ins, "ro", json_object_new_boolean(b->read_only));
        json_object_object_add(ins, "drv", json_object_new_string("raw"));
        json_object_object_add(ins, "backing_file_depth", json_object_new_int64(0));
        json_object_object_add(ins, "encrypted", json_object_new_boolean(0));
        json_object_object_add(ins, "detect_zeroes", json_object_new_string("off"));
        json_object_object_add(ins, "write_threshold", json_object_new_int64(0));
        json_object_object_add(ins, "cache", cache);
        json_object_object_add(ins, "image", img);
        json_object_object_add(d, "inserted", ins);
        json_object_array_add(r->ret, d);
    }
}

/* Optional boolean argument `key` (false when absent); false on a wrong type. */
static bool bool_arg(json_object *args, const char *key, bool *out, struct qmp_result *r)
{
    json_object *v;
    *out = false;
    if (!args || !json_object_object_get_ex(args, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_boolean)) {
        set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for '%s', expected: boolean", key);
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

static const char *path_arg(json_object *args, struct qmp_result *r)
{
    json_object *v;
    if (!args || !json_object_object_get_ex(args, "path", &v)) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter 'path' is missing");
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
        set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for 'path', expected: non-empty string");
        return NULL;
    }
    return json_object_get_string(v);
}

/* ---- the balloon ---- */
#define NO_BALLOON "No balloon device has been activated"

/* A required integer argument: true, or false with the error QEMU gives. */
static bool int_arg(json_object *args, const char *key, int64_t *out, struct qmp_result *r)
{
    json_object *v = args ? json_object_object_get(args, key) : NULL;
    if (!v) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter '%s' is missing", key);
        return false;
    }
    if (!json_object_is_type(v, json_type_int)) {
        set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for '%s', expected: integer", key);
        return false;
    }
    errno = 0;
    *out = json_object_get_int64(v);
    if (errno == EINVAL || (*out == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter '%s' is out of range", key);
        return false;
    }
    return true;
}

static const char *str_arg(json_object *args, const char *key, struct qmp_result *r)
{
    json_object *v = args ? json_object_object_get(args, key) : NULL;
    if (!v) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter '%s' is missing", key);
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        set_error(r, QMP_GENERIC_ERROR, "Invalid parameter type for '%s', expected: string", key);
        return NULL;
    }
    return json_object_get_string(v);
}

static void cmd_vm_snapshot(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    bool paused, disks;
    const char *path = path_arg(args, r), *why = NULL;
    if (!path || !bool_arg(args, "paused", &paused, r) || !bool_arg(args, "disks", &disks, r))
        return;
    int e = s->ops->vm_snapshot(s->opaque, path, paused, disks, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_vm_restore(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    bool paused, verify;
    const char *path = path_arg(args, r), *why = NULL;
    if (!path || !bool_arg(args, "paused", &paused, r) || !bool_arg(args, "verify", &verify, r))
        return;
    int e = s->ops->vm_restore(s->opaque, path, paused, verify, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_balloon(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    int64_t v;
    const char *why = NULL;
    if (!int_arg(args, "value", &v, r))
        return;
    if (v <= 0) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter 'target' expects a size");
        return;
    }
    int e = s->ops->balloon(s->opaque, (uint64_t)v, &why);
    if (e == -ENODEV)
        set_error(r, QMP_DEVICE_NOT_ACTIVE, NO_BALLOON);
    else if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_query_balloon(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    uint64_t actual = 0;
    const char *why = NULL;
    int e = s->ops->query_balloon(s->opaque, &actual, &why);
    if (e == -ENODEV)
        set_error(r, QMP_DEVICE_NOT_ACTIVE, NO_BALLOON);
    else if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
    else
        json_object_object_add(r->ret, "actual", json_object_new_int64((int64_t)actual));
}

/* QOM: only the balloon's guest-stats and guest-stats-polling-interval, by
 * a path whose last part is the device's id (/machine/peripheral/balloon0,
 * or balloon0 alone, as QEMU resolves partial paths). */
static const char *qom_target(json_object *args, const char **prop, struct qmp_result *r)
{
    const char *path = str_arg(args, "path", r);
    if (!path || !(*prop = str_arg(args, "property", r)))
        return NULL;
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool qom_found(int e, const char *id, const char *prop, struct qmp_result *r)
{
    if (e == -ENOENT)
        set_error(r, QMP_DEVICE_NOT_FOUND, "Device '%.64s' not found", id);
    else if (e == -EINVAL)
        set_error(r, QMP_GENERIC_ERROR, "Property '%.64s' not found", prop);
    else if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", strerror(-e));
    return e >= 0;
}

/* qom-get of a virtio-mem property: true when `id` is the device (done). */
static bool memdev_get(struct qmp_session *s, const char *id, const char *prop, struct qmp_result *r)
{
    struct virtio_mem_info in;
    if (!s->ops->memdev || s->ops->memdev(s->opaque, id, &in) < 0)
        return false;
    if (!strcmp(prop, "size"))
        r->ret = json_object_new_int64((int64_t)in.plugged);
    else if (!strcmp(prop, "requested-size"))
        r->ret = json_object_new_int64((int64_t)in.opts.requested);
    else if (!strcmp(prop, "block-size"))
        r->ret = json_object_new_int64((int64_t)in.opts.block_size);
    else if (!strcmp(prop, "memaddr"))
        r->ret = json_object_new_int64((int64_t)in.opts.addr);
    else
        set_error(r, QMP_GENERIC_ERROR, "Property '%.64s' not found", prop);
    return true;
}

static void cmd_qom_get(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *prop = NULL, *id = qom_target(args, &prop, r);
    if (!id)
        return;
    json_object_put(r->ret);
    r->ret = NULL;
    if (memdev_get(s, id, prop, r))
        return;
    if (!strcmp(prop, "guest-stats")) {
        struct qmp_balloon_stats st = { 0 };
        if (!qom_found(s->ops->balloon_stats(s->opaque, id, &st), id, prop, r))
            return;
        if (!st.last_update) {
            set_error(r, QMP_GENERIC_ERROR, "guest hasn't updated any stats yet");
            return;
        }
        json_object *o = json_object_new_object(), *stats = json_object_new_object();
        for (unsigned i = 0; i < st.n && i < QMP_BALLOON_STATS; i++)
            json_object_object_add(stats, st.name[i], json_object_new_int64(st.val[i]));
        json_object_object_add(o, "stats", stats);
        json_object_object_add(o, "last-update", json_object_new_int64(st.last_update));
        r->ret = o;
    } else if (!strcmp(prop, "guest-stats-polling-interval")) {
        int64_t sec = 0;
        if (qom_found(s->ops->balloon_poll(s->opaque, id, false, &sec), id, prop, r))
            r->ret = json_object_new_int64(sec);
    } else {
        if (qom_found(s->ops->balloon_poll(s->opaque, id, false, &(int64_t){ 0 }), id, prop, r))
            qom_found(-EINVAL, id, prop, r);
    }
}

/* qom-set of virtio-mem's requested-size: true when `id` is the device. */
static bool memdev_set(struct qmp_session *s, json_object *args, const char *id, const char *prop,
                       struct qmp_result *r)
{
    struct virtio_mem_info in;
    if (!s->ops->memdev || s->ops->memdev(s->opaque, id, &in) < 0)
        return false;
    int64_t v;
    const char *why = NULL;
    if (strcmp(prop, "requested-size"))
        set_error(r, QMP_GENERIC_ERROR, "Property '%.64s' is read-only or not found (set requested-size)", prop);
    else if (!int_arg(args, "value", &v, r))
        ;                           /* the error is set */
    else if (v < 0)
        set_error(r, QMP_GENERIC_ERROR, "Parameter 'value' expects a size in bytes: %lld", (long long)v);
    else if (s->ops->memdev_set(s->opaque, id, (uint64_t)v, &why) < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : "requested-size refused");
    return true;
}

static void cmd_qom_set(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *prop = NULL, *id = qom_target(args, &prop, r);
    int64_t sec;
    if (!id)
        return;
    if (memdev_set(s, args, id, prop, r))
        return;
    if (strcmp(prop, "guest-stats-polling-interval")) {
        if (qom_found(s->ops->balloon_poll(s->opaque, id, false, &(int64_t){ 0 }), id, prop, r))
            qom_found(-EINVAL, id, prop, r);
        return;
    }
    if (!int_arg(args, "value", &sec, r))
        return;
    if (sec < 0) {
        set_error(r, QMP_GENERIC_ERROR, "timer value must be greater than zero");
        return;
    }
    if (sec > UINT32_MAX) {
        set_error(r, QMP_GENERIC_ERROR, "timer value is too big");
        return;
    }
    qom_found(s->ops->balloon_poll(s->opaque, id, true, &sec), id, prop, r);
}

static void cmd_query_version(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    json_object_put(r->ret);
    r->ret = version_object();
}

static void cmd_query_commands(struct qmp_session *s, json_object *args, struct qmp_result *r);

/* ---- migration (docs/snapshot.md) ---- */
static void cmd_migrate(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *uri = str_arg(args, "uri", r), *why = NULL;
    bool blk, inc, detach, resume;
    if (!uri || !bool_arg(args, "blk", &blk, r) || !bool_arg(args, "inc", &inc, r) ||
        !bool_arg(args, "detach", &detach, r) || !bool_arg(args, "resume", &resume, r))
        return;
    if (blk || inc || resume) {
        set_error(r, QMP_GENERIC_ERROR, "%s is not offered: disks are shared by path (docs/snapshot.md)",
                  resume ? "resume" : "block migration");
        return;
    }
    int e = s->ops->migrate(s->opaque, uri, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

SIMPLE_CMD(cmd_migrate_cancel, migrate_cancel)

static void cmd_query_migrate(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_mig_info in;
    memset(&in, 0, sizeof(in));
    s->ops->query_migrate(s->opaque, &in);
    json_object_put(r->ret);
    r->ret = qmp_migrate_info_json(&in);
}

static void cmd_query_migrate_parameters(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_mig_params p;
    s->ops->migrate_params(s->opaque, &p, false);
    json_object_put(r->ret);
    r->ret = qmp_migrate_params_json(&p);
}

static void cmd_migrate_set_parameters(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_mig_params p;
    char err[200];
    s->ops->migrate_params(s->opaque, &p, false);
    if (qmp_migrate_params_parse(args, &p, err, sizeof(err)) < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", err);
    else
        s->ops->migrate_params(s->opaque, &p, true);
}

static void cmd_query_migrate_capabilities(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_mig_params p;
    s->ops->migrate_params(s->opaque, &p, false);
    json_object_put(r->ret);
    r->ret = qmp_migrate_caps_json(&p);
}

static void cmd_migrate_set_capabilities(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_mig_params p;
    char err[200];
    s->ops->migrate_params(s->opaque, &p, false);
    if (qmp_migrate_caps_parse(args, &p, err, sizeof(err)) < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", err);
    else
        s->ops->migrate_params(s->opaque, &p, true);
}

/* ---- hot-spare replication (docs/replication.md) ---- */
static void cmd_vm_replicate(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *uri = str_arg(args, "uri", r), *why = NULL;
    int64_t period = 25;
    if (!uri)
        return;
    if (args && json_object_object_get(args, "period-ms") && !int_arg(args, "period-ms", &period, r))
        return;
    if (period < 1 || period > 60000) {
        set_error(r, QMP_GENERIC_ERROR, "Parameter 'period-ms' expects 1 to 60000 (milliseconds)");
        return;
    }
    int e = s->ops->replicate(s->opaque, uri, (uint64_t)period, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

/* ---- hotplug (qmp_device.c has the shapes) ---- */
static const char *session_target(struct qmp_session *s)
{
    if (s->ops->target)
        return s->ops->target;
    struct qmp_cpu c[1] = { { 0 } };
    return s->ops->query_cpus && s->ops->query_cpus(s->opaque, c, 1) ? c[0].target : NULL;
}

static void pci_add(struct qmp_session *s, const struct qmp_pci_add *pa, struct qmp_result *r)
{
    const char *why = NULL;
    if (!s->ops->pci_add) {
        set_error(r, QMP_GENERIC_ERROR, "device_add of '%s': this machine has no PCI hotplug", pa->dev.driver);
        return;
    }
    int e = s->ops->pci_add(s->opaque, &pa->dev, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_device_add(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct qmp_cpu_add a;
    const char *why = NULL;
    struct qmp_pci_add *pa = xmalloc(sizeof(*pa));
    int p = qmp_device_pci_parse(args, pa, r->desc, sizeof(r->desc));
    if (p <= 0 && !s->ops->pci_add) {
        json_object *drv = json_object_object_get(args, "driver");
        set_error(r, QMP_GENERIC_ERROR, "device_add of '%.64s': this machine has no PCI hotplug",
                  json_object_get_string(drv));
        free(pa);
        return;
    }
    if (p <= 0) {
        if (p == 0)
            pci_add(s, pa, r);
        else {
            char d[sizeof(r->desc)];
            memcpy(d, r->desc, sizeof(d));
            set_error(r, QMP_GENERIC_ERROR, "%s", d);
        }
        free(pa);
        return;
    }
    free(pa);
    if (qmp_device_cpu_parse(args, session_target(s), &a, r->desc, sizeof(r->desc)) < 0) {
        char d[sizeof(r->desc)];
        memcpy(d, r->desc, sizeof(d));
        set_error(r, QMP_GENERIC_ERROR, "%s", d);
        return;
    }
    int e = s->ops->cpu_add(s->opaque, &a, &why);
    if (e < 0)
        set_error(r, QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_query_replication(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_repl_info in;
    memset(&in, 0, sizeof(in));
    s->ops->query_replication(s->opaque, &in);
    json_object_put(r->ret);
    r->ret = qmp_replication_info_json(&in);
}

static void cmd_device_del(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    const char *id = str_arg(args, "id", r), *why = NULL;
    if (!id)
        return;
    int e = s->ops->device_del(s->opaque, id, &why);
    if (e < 0)
        set_error(r, e == -ENOENT ? QMP_DEVICE_NOT_FOUND : QMP_GENERIC_ERROR, "%s", why ? why : strerror(-e));
}

static void cmd_query_pci(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct machine_pci_info *in = xmalloc(PCI_MAX_SLOTS * sizeof(*in));
    unsigned slots[PCI_MAX_SLOTS], n = 0;
    for (unsigned sl = 0; sl < PCI_MAX_SLOTS; sl++) {
        int e = s->ops->query_pci(s->opaque, sl, &in[n]);
        if (e == -ENODEV) {
            set_error(r, QMP_GENERIC_ERROR, "this machine has no PCI bus (its virtio devices are on virtio-mmio)");
            free(in);
            return;
        }
        if (e == 0)
            slots[n++] = sl;
    }
    json_object_put(r->ret);
    r->ret = qmp_pci_json(in, slots, n);
    free(in);
}

/* query-memory-devices: QEMU's MemoryDeviceInfo of the virtio-mem device */
static void cmd_query_memory_devices(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    json_object_put(r->ret);
    r->ret = json_object_new_array();
    struct virtio_mem_info in;
    if (s->ops->memdev(s->opaque, NULL, &in) < 0)
        return;
    json_object *e = json_object_new_object(), *d = json_object_new_object();
    char path[64];
    snprintf(path, sizeof(path), "/objects/%s-mem", in.opts.id);
    json_object_object_add(d, "id", json_object_new_string(in.opts.id));
    json_object_object_add(d, "memaddr", json_object_new_int64((int64_t)in.opts.addr));
    json_object_object_add(d, "requested-size", json_object_new_int64((int64_t)in.opts.requested));
    json_object_object_add(d, "size", json_object_new_int64((int64_t)in.plugged));
    json_object_object_add(d, "max-size", json_object_new_int64((int64_t)in.opts.size));
    json_object_object_add(d, "block-size", json_object_new_int64((int64_t)in.opts.block_size));
    json_object_object_add(d, "node", json_object_new_int(0));
    json_object_object_add(d, "memdev", json_object_new_string(path));
    json_object_object_add(e, "type", json_object_new_string("virtio-mem"));
    json_object_object_add(e, "data", d);
    json_object_array_add(r->ret, e);
}

static void cmd_query_hotpluggable_cpus(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    struct qmp_hotcpu c[QMP_MAX_CPUS];
    memset(c, 0, sizeof(c));
    int n = s->ops->hotpluggable_cpus(s->opaque, c, QMP_MAX_CPUS);
    if (n < 0) {
        set_error(r, QMP_GENERIC_ERROR, "machine does not support hot-plugging CPUs");
        return;
    }
    json_object_put(r->ret);
    r->ret = qmp_hotpluggable_cpus_json(c, (unsigned)MIN(n, QMP_MAX_CPUS), session_target(s));
}

/* `op` is the qmp_ops member the command needs (its offset), or -1. */
struct qmp_cmd {
    const char *name;
    qmp_handler fn;
    long op;
    const char *const *args;    /* the arguments it takes (NULL-terminated; checked by the handler) */
    bool deferred;              /* QEMU acts on it later: its events follow the reply */
};
#define OP(m) ((long)offsetof(struct qmp_ops, m))
static const char *const caps_args[] = { "enable", NULL };
static const char *const snapshot_args[] = { "path", "paused", "disks", NULL };
static const char *const restore_args[] = { "path", "paused", "verify", NULL };
static const char *const balloon_args[] = { "value", NULL };
static const char *const qom_get_args[] = { "path", "property", NULL };
static const char *const qom_set_args[] = { "path", "property", "value", NULL };
static const char *const migrate_args[] = { "uri", "blk", "inc", "detach", "resume", NULL };
static const char *const migrate_param_args[] = { "downtime-limit", "max-bandwidth", "cpu-throttle-initial",
                                                  "cpu-throttle-increment", NULL };
static const char *const migrate_cap_args[] = { "capabilities", NULL };
static const char *const replicate_args[] = { "uri", "period-ms", NULL };
static const char *const device_add_args[] = { "driver", "id", "core-id", "socket-id", "thread-id", "die-id",
                                               "file", "read-only", "cache", "serial", "drive", "net", "mac",
                                               "netdev", "addr", "bus", NULL };
static const char *const device_del_args[] = { "id", NULL };
static const struct qmp_cmd cmds[] = {
    { "qmp_capabilities", cmd_capabilities, -1, caps_args },
    { "query-status", cmd_query_status, OP(status), NULL },
    { "stop", cmd_stop, OP(stop), NULL },
    { "cont", cmd_cont, OP(cont), NULL },
    { "system_reset", cmd_system_reset, OP(system_reset), NULL, true },
    { "system_powerdown", cmd_system_powerdown, OP(system_powerdown), NULL, true },
    { "quit", cmd_quit, OP(quit), NULL, true },
    { "query-cpus-fast", cmd_query_cpus_fast, OP(query_cpus), NULL },
    { "query-block", cmd_query_block, OP(query_block), NULL },
    { "query-version", cmd_query_version, -1, NULL },
    { "query-commands", cmd_query_commands, -1, NULL },
    { "vm-snapshot", cmd_vm_snapshot, OP(vm_snapshot), snapshot_args },
    { "vm-restore", cmd_vm_restore, OP(vm_restore), restore_args },
    { "balloon", cmd_balloon, OP(balloon), balloon_args },
    { "query-balloon", cmd_query_balloon, OP(query_balloon), NULL },
    { "qom-get", cmd_qom_get, OP(balloon_stats), qom_get_args },
    { "qom-set", cmd_qom_set, OP(balloon_poll), qom_set_args },
    { "migrate", cmd_migrate, OP(migrate), migrate_args },
    { "migrate_cancel", cmd_migrate_cancel, OP(migrate_cancel), NULL },
    { "query-migrate", cmd_query_migrate, OP(query_migrate), NULL },
    { "migrate-set-parameters", cmd_migrate_set_parameters, OP(migrate_params), migrate_param_args },
    { "query-migrate-parameters", cmd_query_migrate_parameters, OP(migrate_params), NULL },
    { "migrate-set-capabilities", cmd_migrate_set_capabilities, OP(migrate_params), migrate_cap_args },
    { "query-migrate-capabilities", cmd_query_migrate_capabilities, OP(migrate_params), NULL },
    { "vm-replicate", cmd_vm_replicate, OP(replicate), replicate_args },
    { "query-replication", cmd_query_replication, OP(query_replication), NULL },
    { "device_add", cmd_device_add, OP(cpu_add), device_add_args },
    { "device_del", cmd_device_del, OP(device_del), device_del_args },
    { "query-hotpluggable-cpus", cmd_query_hotpluggable_cpus, OP(hotpluggable_cpus), NULL },
    { "query-pci", cmd_query_pci, OP(query_pci), NULL },
    { "query-memory-devices", cmd_query_memory_devices, OP(memdev), NULL },
};

static bool cmd_takes(const struct qmp_cmd *c, const char *arg)
{
    for (const char *const *a = c->args; a && *a; a++)
        if (!strcmp(*a, arg))
            return true;
    return false;
}

static bool ops_have(const struct qmp_ops *ops, const struct qmp_cmd *c)
{
    if (c->op < 0)
        return true;
    void *fn;
    memcpy(&fn, (const char *)ops + c->op, sizeof(fn));
    return fn != NULL;
}

const char *qmp_ops_command(const struct qmp_ops *ops, unsigned i)
{
    for (size_t k = 0; k < ARRAY_SIZE(cmds); k++)
        if (ops_have(ops, &cmds[k]) && i-- == 0)
            return cmds[k].name;
    return NULL;
}

static bool cmd_available(const struct qmp_session *s, const struct qmp_cmd *c)
{
    return ops_have(s->ops, c);
}

static void cmd_query_commands(struct qmp_session *s, json_object *args, struct qmp_result *r)
{
    json_object_put(r->ret);
    r->ret = json_object_new_array();
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        if (!cmd_available(s, &cmds[i]))
            continue;
        json_object *c = json_object_new_object();
        json_object_object_add(c, "name", json_object_new_string(cmds[i].name));
        json_object_array_add(r->ret, c);
    }
}

static const struct qmp_cmd *cmd_find(const struct qmp_session *s, const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
        if (!strcmp(cmds[i].name, name))
            return cmd_available(s, &cmds[i]) ? &cmds[i] : NULL;
    return NULL;
}

/* One parsed request. Member checks and messages follow QEMU's dispatcher. */
static void dispatch(struct qmp_session *s, json_object *req)
{
    struct qmp_result r = { 0 };
    json_object *id = NULL, *args = NULL;
    const char *name = NULL;
    if (!json_object_is_type(req, json_type_object)) {
        set_error(&r, QMP_GENERIC_ERROR, "QMP input must be a JSON object");
        reply(s, &r, NULL);
        return;
    }
    id = json_object_object_get(req, "id");
    json_object_object_foreach(req, key, val) {
        if (!strcmp(key, "execute")) {
            if (!json_object_is_type(val, json_type_string)) {
                set_error(&r, QMP_GENERIC_ERROR, "QMP input member 'execute' must be a string");
                goto out;
            }
            name = json_object_get_string(val);
        } else if (!strcmp(key, "arguments")) {
            if (!json_object_is_type(val, json_type_object)) {
                set_error(&r, QMP_GENERIC_ERROR, "QMP input member 'arguments' must be an object");
                goto out;
            }
            args = val;
        } else if (!strcmp(key, "exec-oob")) {
            set_error(&r, QMP_GENERIC_ERROR, "QMP input member 'exec-oob' is unexpected: out-of-band "
                      "execution is not offered (use 'execute')");
            goto out;
        } else if (strcmp(key, "id")) {
            set_error(&r, QMP_GENERIC_ERROR, "QMP input member '%.64s' is unexpected", key);
            goto out;
        }
    }
    if (!name) {
        set_error(&r, QMP_GENERIC_ERROR, "QMP input lacks member 'execute'");
        goto out;
    }
    bool is_caps = !strcmp(name, "qmp_capabilities");
    if (!s->negotiated && !is_caps) {
        set_error(&r, QMP_COMMAND_NOT_FOUND, "Expecting capabilities negotiation with 'qmp_capabilities'");
        goto out;
    }
    if (s->negotiated && is_caps) {
        set_error(&r, QMP_COMMAND_NOT_FOUND, "Capabilities negotiation is already complete, command ignored");
        goto out;
    }
    const struct qmp_cmd *c = cmd_find(s, name);
    if (!c) {
        set_error(&r, QMP_COMMAND_NOT_FOUND, "The command %.64s has not been found", name);
        goto out;
    }
    if (args) {
        json_object_object_foreach(args, akey, aval) {
            (void)aval;
            if (!cmd_takes(c, akey)) {
                set_error(&r, QMP_GENERIC_ERROR, "Parameter '%.64s' is unexpected", akey);
                goto out;
            }
        }
    }
    r.ret = json_object_new_object();
    c->fn(s, args, &r);
    reply_ex(s, &r, id, !c->deferred);
    return;
out:
    reply(s, &r, id);
}

/* ---- input ---- */
static bool sync_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c >= 0xfe;
}

static void resync(struct qmp_session *s)
{
    json_tokener_reset(s->tok);
    s->pending = 0;
    s->skipping = true;
}

void qmp_session_input(struct qmp_session *s, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        if (s->skipping) {
            size_t i = 0;
            while (i < len && !sync_byte((unsigned char)p[i]))
                i++;
            if (i == len)
                return;
            s->skipping = false;
            p += i + 1;
            len -= i + 1;
            continue;
        }
        if (s->pending == 0) {      /* between requests: whitespace and sync bytes */
            while (len && (sync_byte((unsigned char)*p) || *p == ' ' || *p == '\t')) {
                p++;
                len--;
            }
            if (!len)
                return;
        }
        size_t room = QMP_MAX_REQUEST - s->pending;
        if (room == 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "JSON request larger than %d bytes: ignored", QMP_MAX_REQUEST);
            error_reply(s, msg);
            resync(s);
            continue;
        }
        size_t n = MIN(len, room);
        json_object *obj = json_tokener_parse_ex(s->tok, p, (int)n);
        enum json_tokener_error err = json_tokener_get_error(s->tok);
        size_t used = json_tokener_get_parse_end(s->tok);
        if (used > n)
            used = n;
        if (err == json_tokener_continue) {
            s->pending += n;
            p += n;
            len -= n;
            continue;
        }
        p += used;
        len -= used;
        if (err != json_tokener_success || !obj) {
            char msg[160];
            snprintf(msg, sizeof(msg), "JSON parse error, %s", json_tokener_error_desc(err));
            error_reply(s, msg);
            json_object_put(obj);
            resync(s);
            continue;
        }
        json_tokener_reset(s->tok);
        s->pending = 0;
        dispatch(s, obj);
        json_object_put(obj);
    }
}

struct qmp_session *qmp_session_new(const struct qmp_ops *ops, void *opaque,
                                    void (*flush_events)(void *arg), void *arg)
{
    struct qmp_session *s = xzalloc(sizeof(*s));
    s->ops = ops;
    s->opaque = opaque;
    s->flush_events = flush_events;
    s->arg = arg;
    s->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    if (!s->tok) {
        free(s);
        return NULL;
    }
    json_object *g = json_object_new_object(), *q = json_object_new_object();
    json_object_object_add(q, "version", version_object());
    json_object_object_add(q, "capabilities", json_object_new_array());
    json_object_object_add(g, "QMP", q);
    emit(s, g);
    json_object_put(g);
    return s;
}

void qmp_session_free(struct qmp_session *s)
{
    if (!s)
        return;
    json_tokener_free(s->tok);
    free(s->out.data);
    free(s);
}

void qmp_session_event(struct qmp_session *s, const char *json)
{
    if (!s->negotiated)
        return;
    buf_add(&s->out, json, strlen(json));
    buf_add(&s->out, "\r\n", 2);
}

bool qmp_session_negotiated(const struct qmp_session *s)
{
    return s->negotiated;
}

const char *qmp_session_output(const struct qmp_session *s, size_t *len)
{
    *len = s->out.len;
    return s->out.data ? s->out.data : "";
}

void qmp_session_consume(struct qmp_session *s, size_t n)
{
    if (n >= s->out.len) {
        s->out.len = 0;
    } else {
        memmove(s->out.data, s->out.data + n, s->out.len - n);
        s->out.len -= n;
    }
    if (s->out.data)
        s->out.data[s->out.len] = 0;
}

/* ---- events ---- */
static const char *const event_names[] = {
    [QMP_EVENT_STOP] = "STOP", [QMP_EVENT_RESUME] = "RESUME", [QMP_EVENT_SHUTDOWN] = "SHUTDOWN",
    [QMP_EVENT_POWERDOWN] = "POWERDOWN", [QMP_EVENT_RESET] = "RESET",
    [QMP_EVENT_BALLOON_CHANGE] = "BALLOON_CHANGE", [QMP_EVENT_MIGRATION] = "MIGRATION",
    [QMP_EVENT_REPLICATION_FAILOVER] = "REPLICATION_FAILOVER",
    [QMP_EVENT_DEVICE_DELETED] = "DEVICE_DELETED",
};

const char *qmp_event_name(unsigned i)
{
    return i < ARRAY_SIZE(event_names) ? event_names[i] : NULL;
}

static char *event_text(enum qmp_event ev, json_object *data)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_object *o = json_object_new_object(), *ts = json_object_new_object();
    json_object_object_add(o, "event",
                           json_object_new_string((unsigned)ev < ARRAY_SIZE(event_names) ? event_names[ev] : "UNKNOWN"));
    if (data)
        json_object_object_add(o, "data", data);
    json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
    json_object_object_add(o, "timestamp", ts);
    char *s = xstrdup(json_object_to_json_string_ext(o, JSON_FLAGS));
    json_object_put(o);
    return s;
}

char *qmp_event_json(enum qmp_event ev, bool guest, const char *reason)
{
    json_object *d = NULL;
    if (reason && ev == QMP_EVENT_MIGRATION) {
        d = json_object_new_object();
        json_object_object_add(d, "status", json_object_new_string(reason));
    } else if (reason && ev == QMP_EVENT_DEVICE_DELETED) {
        d = json_object_new_object();
        char path[96];
        if (reason[0] != '/')
            json_object_object_add(d, "device", json_object_new_string(reason));
        snprintf(path, sizeof(path), reason[0] == '/' ? "%s" : "/machine/peripheral/%s", reason);
        json_object_object_add(d, "path", json_object_new_string(path));
    } else if (reason) {
        d = json_object_new_object();
        json_object_object_add(d, "guest", json_object_new_boolean(guest));
        json_object_object_add(d, "reason", json_object_new_string(reason));
    }
    return event_text(ev, d);
}

char *qmp_event_json_value(enum qmp_event ev, const char *key, int64_t value)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, key, json_object_new_int64(value));
    return event_text(ev, d);
}

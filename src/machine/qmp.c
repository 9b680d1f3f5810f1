/* QMP: QEMU's Machine Protocol on a unix socket. See machine/qmp.h.
 *
 * Input is parsed with json-c's streaming tokener, so several requests in
 * one read and one request split over many reads both work. After bad JSON
 * or an oversized request the input is skipped up to the next control byte
 * (a newline, in practice) or 0xFE/0xFF, the points QEMU's lexer also
 * resynchronizes on. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "base/base.h"
#include "config.h"
#include "dev/virtio/virtio.h"
#include "machine/internal.h"
#include "machine/machine.h"
#include "machine/qmp.h"
#include "machine/snapshot.h"

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

/* ==== the socket server ==== */
struct qmp_server {
    struct loop *loop;
    const struct qmp_ops *ops;
    void *opaque;
    struct qmp_spec spec;
    dev_t dev;                  /* of the socket file we made, to remove only ours */
    ino_t ino;
    int listen_fd;
    bool listening;             /* listen_fd is on the loop */
    int client_fd;
    struct qmp_session *sess;
    uint32_t client_events;
    bool client_eof;            /* the client sends no more (it may still read) */
    struct loop_event *wake;    /* events queued from other threads; closing */
    pthread_mutex_t lock;       /* queue, closing, closed */
    pthread_cond_t cond;        /* closed */
    bool closing, closed;
    bool closing_now;           /* loop thread: tearing down, take no new client */
    char **queue;
    size_t nqueue, capqueue;
    /* BALLOON_CHANGE throttling (under lock; the timer on the loop thread) */
    uint64_t balloon_last_ms;
    bool balloon_pending;
    uint64_t balloon_value;
    struct loop_timer *balloon_timer;
};

int qmp_spec_parse(const char *spec, struct qmp_spec *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(spec, "unix:", 5)) {
        log_error("--qmp %s: only unix:PATH[,server][,wait=off] is supported", spec);
        return -EINVAL;
    }
    const char *path = spec + 5, *comma = strchr(path, ',');
    size_t plen = comma ? (size_t)(comma - path) : strlen(path);
    if (plen == 0 || plen >= sizeof(out->path)) {
        log_error("--qmp %s: the socket path must be 1 to %zu bytes", spec, sizeof(out->path) - 1);
        return -EINVAL;
    }
    memcpy(out->path, path, plen);
    out->path[plen] = 0;
    bool server = false, wait_set = false;
    while (comma) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        size_t n = comma ? (size_t)(comma - opt) : strlen(opt);
        char o[32];
        if (n >= sizeof(o))
            goto bad;
        memcpy(o, opt, n);
        o[n] = 0;
        if (!strcmp(o, "server") || !strcmp(o, "server=on")) {
            server = true;
        } else if (!strcmp(o, "wait=off") || !strcmp(o, "nowait")) {
            out->wait = false;
            wait_set = true;
        } else if (!strcmp(o, "wait=on") || !strcmp(o, "wait")) {
            out->wait = true;
            wait_set = true;
        } else if (!strcmp(o, "server=off")) {
            log_error("--qmp %s: vessel only listens (server); it does not connect out", spec);
            return -EINVAL;
        } else {
            goto bad;
        }
    }
    /* QEMU: `server` waits for a client unless wait=off */
    if (server && !wait_set)
        out->wait = true;
    return 0;
bad:
    log_error("--qmp %s: unknown option (accepted: server, wait=on, wait=off, nowait)", spec);
    return -EINVAL;
}

static void client_cb(void *opaque, int fd, uint32_t events);
static void listen_cb(void *opaque, int fd, uint32_t events);
static size_t client_send(struct qmp_server *s);
static bool client_flush(struct qmp_server *s);
static void client_close(struct qmp_server *s);

static void queue_locked(struct qmp_server *s, char *j)
{
    if (s->nqueue == s->capqueue) {
        s->capqueue = s->capqueue ? s->capqueue * 2 : 8;
        s->queue = xrealloc(s->queue, s->capqueue * sizeof(*s->queue));
    }
    s->queue[s->nqueue++] = j;
}

/* A BALLOON_CHANGE held back by the throttle goes out once its second is
 * over (lock held). Returns when to look again (0: nothing pending). */
static uint64_t balloon_due_locked(struct qmp_server *s)
{
    if (!s->balloon_pending)
        return 0;
    uint64_t now = time_ms(), due = s->balloon_last_ms + QMP_BALLOON_THROTTLE_MS;
    if (now < due)
        return due;
    queue_locked(s, qmp_event_json_value(QMP_EVENT_BALLOON_CHANGE, "actual", (int64_t)s->balloon_value));
    s->balloon_pending = false;
    s->balloon_last_ms = now;
    return 0;
}

static void balloon_timer_cb(void *arg);

static void drain_queue(void *arg)
{
    struct qmp_server *s = arg;
    pthread_mutex_lock(&s->lock);
    uint64_t due = balloon_due_locked(s);
    char **q = s->queue;
    size_t n = s->nqueue;
    s->queue = NULL;
    s->nqueue = s->capqueue = 0;
    pthread_mutex_unlock(&s->lock);
    if (due) {                  /* on the loop thread: qmp_server_free clears pending first */
        if (!s->balloon_timer)
            s->balloon_timer = loop_timer_new(s->loop, balloon_timer_cb, s);
        loop_timer_mod(s->balloon_timer, due);
    }
    for (size_t i = 0; i < n; i++) {
        if (s->sess)
            qmp_session_event(s->sess, q[i]);
        free(q[i]);
    }
    free(q);
}

static void balloon_timer_cb(void *arg)
{
    struct qmp_server *s = arg;
    drain_queue(s);
    if (s->sess && !client_flush(s))
        client_close(s);
}

static void client_close(struct qmp_server *s)
{
    if (s->client_fd < 0)
        return;
    loop_del_fd(s->loop, s->client_fd);
    close(s->client_fd);
    s->client_fd = -1;
    qmp_session_free(s->sess);
    s->sess = NULL;
    /* the next client waiting in the backlog is taken now */
    if (s->listen_fd >= 0 && !s->listening && !s->closing_now) {
        s->listening = true;
        if (loop_add_fd(s->loop, s->listen_fd, EPOLLIN, listen_cb, s) < 0)
            s->listening = false;
    }
}

/* Write what the client has not got yet without blocking: the bytes left,
 * or SIZE_MAX when the client is gone. */
static size_t client_send(struct qmp_server *s)
{
    size_t len;
    const char *out = qmp_session_output(s->sess, &len);
    while (len) {
        ssize_t w = send(s->client_fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return SIZE_MAX;
        }
        qmp_session_consume(s->sess, (size_t)w);
        out = qmp_session_output(s->sess, &len);
    }
    return len;
}

/* Send, and watch for writability while output is left; false when the
 * client is gone or has left too much unread. */
static bool client_flush(struct qmp_server *s)
{
    size_t len = client_send(s);
    if (len == SIZE_MAX)
        return false;
    if (len > QMP_MAX_OUTPUT) {
        log_warn("QMP: the client leaves %zu bytes unread: disconnected", len);
        return false;
    }
    uint32_t want = (s->client_eof ? 0 : EPOLLIN) | (len ? EPOLLOUT : 0);
    if (want != s->client_events && loop_mod_fd(s->loop, s->client_fd, want) == 0)
        s->client_events = want;
    return true;
}

/* A client that shuts down its sending side (socat at the end of its
 * input) still reads: it keeps the monitor, and gets its replies and the
 * events that follow them (a quit's SHUTDOWN), until it closes. */
static void client_cb(void *opaque, int fd, uint32_t events)
{
    struct qmp_server *s = opaque;
    if ((events & EPOLLIN) && !s->client_eof) {
        char buf[16384];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            client_close(s);
            return;
        }
        if (n == 0)
            s->client_eof = true;       /* a request cut short stays unanswered */
        if (n > 0)
            qmp_session_input(s->sess, buf, (size_t)n);
    }
    drain_queue(s);
    if (!client_flush(s) || (events & (EPOLLHUP | EPOLLERR)))
        client_close(s);                /* gone */
}

/* Everything is set up before the fd goes on the loop: with wait=on this
 * runs on the main thread while the loop thread already runs. */
static int client_open(struct qmp_server *s, int fd)
{
    s->sess = qmp_session_new(s->ops, s->opaque, drain_queue, s);
    if (!s->sess) {
        close(fd);
        return -ENOMEM;
    }
    s->client_fd = fd;
    s->client_eof = false;
    if (s->listening) {         /* one client at a time, as QEMU's monitor */
        loop_del_fd(s->loop, s->listen_fd);
        s->listening = false;
    }
    size_t left = client_send(s);           /* the greeting */
    s->client_events = EPOLLIN | (left ? EPOLLOUT : 0);
    if (left == SIZE_MAX || loop_add_fd(s->loop, fd, s->client_events, client_cb, s) < 0) {
        qmp_session_free(s->sess);
        s->sess = NULL;
        close(fd);
        s->client_fd = -1;
        if (s->listen_fd >= 0 && !s->listening) {
            s->listening = true;
            if (loop_add_fd(s->loop, s->listen_fd, EPOLLIN, listen_cb, s) < 0)
                s->listening = false;
        }
        return -EIO;
    }
    return 0;
}

static void listen_cb(void *opaque, int fd, uint32_t events)
{
    struct qmp_server *s = opaque;
    if (s->client_fd >= 0)
        return;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warn("QMP: accept on %s: %s", s->spec.path, strerror(errno));
        return;
    }
    client_open(s, c);
}

static void server_teardown(struct qmp_server *s)
{
    s->closing_now = true;
    if (s->sess) {              /* a last SHUTDOWN, a quit's reply */
        drain_queue(s);
        client_send(s);
    }
    client_close(s);
    if (s->listening)
        loop_del_fd(s->loop, s->listen_fd);
    s->listening = false;
}

static void wake_cb(void *opaque)
{
    struct qmp_server *s = opaque;
    pthread_mutex_lock(&s->lock);
    bool closing = s->closing;
    pthread_mutex_unlock(&s->lock);
    if (closing) {
        server_teardown(s);
        pthread_mutex_lock(&s->lock);
        s->closed = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    drain_queue(s);
    if (s->sess && !client_flush(s))
        client_close(s);
}

void qmp_server_stop(struct qmp_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    pthread_mutex_unlock(&s->lock);
    loop_event_notify(s->wake);
    pthread_mutex_lock(&s->lock);
    while (!s->closed)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

void qmp_server_event(struct qmp_server *s, enum qmp_event ev, bool guest, const char *reason)
{
    if (!s)
        return;
    char *j = qmp_event_json(ev, guest, reason);
    pthread_mutex_lock(&s->lock);
    queue_locked(s, j);
    pthread_mutex_unlock(&s->lock);
    if (s->wake)
        loop_event_notify(s->wake);
}

void qmp_server_event_value(struct qmp_server *s, enum qmp_event ev, const char *key, int64_t value)
{
    if (!s)
        return;
    char *j = qmp_event_json_value(ev, key, value);
    pthread_mutex_lock(&s->lock);
    queue_locked(s, j);
    pthread_mutex_unlock(&s->lock);
    if (s->wake)
        loop_event_notify(s->wake);
}

void qmp_server_balloon_change(struct qmp_server *s, uint64_t actual)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->balloon_pending = true;
    s->balloon_value = actual;
    balloon_due_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (s->wake)
        loop_event_notify(s->wake);
}

static int listen_on(struct qmp_server *s)
{
    struct stat st;
    const char *path = s->spec.path;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("--qmp unix:%s: exists and is not a socket", path);
            return -EEXIST;
        }
        unlink(path);           /* a stale socket, as QEMU replaces it */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("--qmp unix:%s: socket: %s", path, strerror(errno));
        return -errno;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* 0600 from the start: no moment where others could connect */
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (r == 0 && chmod(path, 0600) < 0)
        r = -1, e = errno;
    if (r == 0 && listen(fd, 8) < 0)
        r = -1, e = errno;
    if (r == 0 && stat(path, &st) < 0)
        r = -1, e = errno;
    if (r < 0) {
        log_error("--qmp unix:%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->listen_fd = fd;
    return 0;
}

/* wait=on: block until the first client connects (QEMU prints the same).
 * The wait unblocks every signal, so that Ctrl-C still ends vessel while
 * the machine's own signal handling (signals blocked, read from a
 * signalfd) has not started. */
static int wait_client(struct qmp_server *s)
{
    log_info("QMP: waiting for a connection on unix:%s", s->spec.path);
    sigset_t none;
    sigemptyset(&none);
    int c = -1;
    for (;;) {
        struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
        if (ppoll(&p, 1, NULL, &none) < 0 && errno != EINTR)
            break;
        c = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0 || (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED))
            break;
    }
    int e = errno;
    if (c < 0) {
        log_error("--qmp unix:%s: accept: %s", s->spec.path, strerror(e));
        return -e;
    }
    return client_open(s, c);
}

struct qmp_server *qmp_server_new(const char *spec, struct loop *loop, const struct qmp_ops *ops,
                                  void *opaque)
{
    struct qmp_server *s = xzalloc(sizeof(*s));
    s->loop = loop;
    s->ops = ops;
    s->opaque = opaque;
    s->listen_fd = s->client_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (qmp_spec_parse(spec, &s->spec) < 0 || listen_on(s) < 0)
        goto fail;
    s->wake = loop_event_new(loop, wake_cb, s);
    if (!s->wake)
        goto fail;
    if (s->spec.wait) {
        if (wait_client(s) < 0)
            goto fail;
    }
    if (s->client_fd < 0) {
        s->listening = true;        /* before the loop thread can see the fd */
        if (loop_add_fd(loop, s->listen_fd, EPOLLIN, listen_cb, s) < 0) {
            s->listening = false;
            log_error("--qmp unix:%s: cannot watch the socket", s->spec.path);
            goto fail;
        }
    }
    return s;
fail:
    qmp_server_free(s);
    return NULL;
}

void qmp_server_free(struct qmp_server *s)
{
    if (!s)
        return;
    if (!s->closed)
        server_teardown(s);
    if (s->listen_fd >= 0) {
        struct stat st;
        if (stat(s->spec.path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
            unlink(s->spec.path);
        close(s->listen_fd);
    }
    loop_event_free(s->wake);
    loop_timer_free(s->balloon_timer);
    s->balloon_timer = NULL;
    s->balloon_pending = false;
    drain_queue(s);             /* free what nobody will read */
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ==== the machine's monitor ==== */
struct qmp_monitor {
    char *spec;
    struct machine *m;
    struct qmp_server *srv;
    char why[600];              /* the last snapshot / restore error */
    char cpu_id[QMP_MAX_CPUS][64];  /* the hot-plugged CPUs' ids, for the query being answered */
};

static const char *mon_status(void *opaque)
{
    struct qmp_monitor *q = opaque;
    return machine_status_name(machine_status(q->m));
}

static const char *mon_why(int r)
{
    switch (r) {
    case -ESHUTDOWN: return "The machine is shutting down";
    case -ENOSYS: return "This machine has no power button";
    case -EBUSY: return "A migration is in progress (incoming, or sending the machine's state)";
    default: return strerror(-r);
    }
}

static int mon_stop(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_pause(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_cont(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_resume(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_reset(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_reset(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_powerdown(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_powerdown(q->m);
    if (r < 0)
        *why = mon_why(r);
    return r;
}

static int mon_quit(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    machine_quit(q->m);
    return 0;
}

/* The vCPUs present (absent ones, CPU hotplug, are left out as on QEMU). */
static unsigned mon_cpus(void *opaque, struct qmp_cpu *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_ncpus(q->m), k = 0;
    for (unsigned i = 0; i < n; i++) {
        struct machine_cpu_info ci;
        int e = machine_cpu_info(q->m, i, &ci);
        if (e == -ENODEV)
            continue;
        if (e < 0)
            break;
        struct machine_cpu_slot sl = { 0 };
        if (k < max && k < QMP_MAX_CPUS) {
            bool id = machine_cpu_slot(q->m, i, &sl) == 0 && sl.id[0];
            memcpy(q->cpu_id[k], sl.id, sizeof(q->cpu_id[k]));
            out[k] = (struct qmp_cpu){ .index = ci.cpu_index, .thread_id = ci.thread_id, .target = ci.target,
                                       .state = ci.state, .id = id ? q->cpu_id[k] : NULL };
        }
        k++;
    }
    return k;
}

static int mon_cpu_add(void *opaque, const struct qmp_cpu_add *a, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_cpu_add(q->m, a->core, a->id, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

static int mon_pci_add(void *opaque, const struct machine_pci_device *d, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_device_add(q->m, d, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

/* id NULL: the device whatever its name */
static int mon_memdev(void *opaque, const char *id, struct virtio_mem_info *out)
{
    struct qmp_monitor *q = opaque;
    struct virtio_mem *d = machine_memdev(q->m);
    if (!d)
        return -ENOENT;
    virtio_mem_info(d, out);
    return !id || !strcmp(out->opts.id, id) ? 0 : -ENOENT;
}

static int mon_memdev_set(void *opaque, const char *id, uint64_t requested, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct virtio_mem *d = machine_memdev(q->m);
    int r = d ? virtio_mem_set_requested(d, requested, q->why, sizeof(q->why)) : -ENOENT;
    if (r < 0)
        *why = d ? q->why : "no virtio-mem device";
    return r;
}

static int mon_query_pci(void *opaque, unsigned slot, struct machine_pci_info *out)
{
    struct qmp_monitor *q = opaque;
    return machine_pci_info(q->m, slot, out);
}

/* A hot-plugged PCI device of that id, else a CPU */
static int mon_device_del(void *opaque, const char *id, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_device_del(q->m, id, q->why, sizeof(q->why));
    if (r != -ENOENT) {
        if (r < 0)
            *why = q->why;
        return r;
    }
    r = machine_cpu_del(q->m, id, q->why, sizeof(q->why));
    if (r < 0)
        *why = q->why;
    return r;
}

static int mon_hotpluggable_cpus(void *opaque, struct qmp_hotcpu *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_ncpus(q->m);
    for (unsigned i = 0; i < n && i < max && i < QMP_MAX_CPUS; i++) {
        struct machine_cpu_slot sl;
        if (machine_cpu_slot(q->m, i, &sl) < 0)
            return -ENOTSUP;
        memcpy(q->cpu_id[i], sl.id, sizeof(q->cpu_id[i]));
        out[i] = (struct qmp_hotcpu){ .index = i, .present = sl.present, .id = sl.id[0] ? q->cpu_id[i] : NULL };
    }
    return (int)n;
}

static unsigned mon_blocks(void *opaque, struct qmp_block *out, unsigned max)
{
    struct qmp_monitor *q = opaque;
    unsigned n = machine_nblock(q->m);
    for (unsigned i = 0; i < n && i < max; i++) {
        struct machine_block_info bi;
        if (machine_block_info(q->m, i, &bi) < 0)
            return i;
        out[i] = (struct qmp_block){ .device = bi.device, .file = bi.file, .read_only = bi.readonly,
                                     .direct = bi.direct, .size = bi.size };
    }
    return n;
}

static int mon_vm_snapshot(void *opaque, const char *path, bool paused, bool disks, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct machine_snapshot_opts o = { .paused = paused, .disks = disks };
    int r = machine_snapshot(q->m, path, &o, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP vm-snapshot: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_vm_restore(void *opaque, const char *path, bool paused, bool verify, const char **why)
{
    struct qmp_monitor *q = opaque;
    struct snap *s;
    int r = snap_load_dir(path, &s, q->why, sizeof(q->why));
    if (!r) {
        r = machine_restore(q->m, s, paused, verify, q->why, sizeof(q->why));
        snap_free(s);
    }
    if (r < 0) {
        log_warn("QMP vm-restore: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_balloon(void *opaque, uint64_t bytes, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_balloon_set(q->m, bytes);
}

static int mon_query_balloon(void *opaque, uint64_t *actual, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_balloon_query(q->m, actual);
}

static struct virtio_balloon *mon_balloon_named(struct qmp_monitor *q, const char *id)
{
    struct virtio_balloon *b = machine_balloon(q->m);
    return b && !strcmp(virtio_balloon_options(b)->id, id) ? b : NULL;
}

static int mon_balloon_stats(void *opaque, const char *id, struct qmp_balloon_stats *out)
{
    struct virtio_balloon *b = mon_balloon_named(opaque, id);
    if (!b)
        return -ENOENT;
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(b, &st, NULL);
    out->n = 0;
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR && i < QMP_BALLOON_STATS; i++) {
        out->name[out->n] = virtio_balloon_stat_name(i);
        out->val[out->n++] = st.val[i] > INT64_MAX ? -1 : (int64_t)st.val[i];
    }
    out->last_update = st.last_update;
    return 0;
}

static int mon_balloon_poll(void *opaque, const char *id, bool set, int64_t *seconds)
{
    struct virtio_balloon *b = mon_balloon_named(opaque, id);
    if (!b)
        return -ENOENT;
    if (set)
        return virtio_balloon_set_poll_interval(b, (unsigned)*seconds);
    *seconds = virtio_balloon_poll_interval(b);
    return 0;
}

static int mon_migrate(void *opaque, const char *uri, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_migrate(q->m, uri, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP migrate: %s", q->why);
        *why = q->why;
    }
    return r;
}

static int mon_migrate_cancel(void *opaque, const char **why)
{
    struct qmp_monitor *q = opaque;
    return machine_migrate_cancel(q->m);
}

static void mon_query_migrate(void *opaque, struct machine_mig_info *out)
{
    struct qmp_monitor *q = opaque;
    machine_migrate_info(q->m, out);
}

static void mon_migrate_params(void *opaque, struct machine_mig_params *p, bool set)
{
    struct qmp_monitor *q = opaque;
    if (set)
        machine_migrate_set_params(q->m, p);
    else
        machine_migrate_get_params(q->m, p);
}

static int mon_replicate(void *opaque, const char *uri, uint64_t period_ms, const char **why)
{
    struct qmp_monitor *q = opaque;
    int r = machine_replicate(q->m, uri, period_ms, q->why, sizeof(q->why));
    if (r < 0) {
        log_warn("QMP vm-replicate: %s", q->why);
        *why = q->why;
    }
    return r;
}

static void mon_query_replication(void *opaque, struct machine_repl_info *out)
{
    struct qmp_monitor *q = opaque;
    machine_replicate_info(q->m, out);
}

static const struct qmp_ops monitor_ops = {
    .status = mon_status, .stop = mon_stop, .cont = mon_cont, .system_reset = mon_reset,
    .system_powerdown = mon_powerdown, .quit = mon_quit, .query_cpus = mon_cpus, .query_block = mon_blocks,
    .vm_snapshot = mon_vm_snapshot, .vm_restore = mon_vm_restore,
    .balloon = mon_balloon, .query_balloon = mon_query_balloon, .balloon_stats = mon_balloon_stats,
    .balloon_poll = mon_balloon_poll,
    .migrate = mon_migrate, .migrate_cancel = mon_migrate_cancel, .query_migrate = mon_query_migrate,
    .migrate_params = mon_migrate_params,
    .replicate = mon_replicate, .query_replication = mon_query_replication,
    .cpu_add = mon_cpu_add, .device_del = mon_device_del, .hotpluggable_cpus = mon_hotpluggable_cpus,
    .pci_add = mon_pci_add, .query_pci = mon_query_pci, .memdev = mon_memdev, .memdev_set = mon_memdev_set,
};

const char *qmp_monitor_command(unsigned i)
{
    for (size_t k = 0; k < ARRAY_SIZE(cmds); k++)
        if (ops_have(&monitor_ops, &cmds[k]) && i-- == 0)
            return cmds[k].name;
    return NULL;
}

static const enum qmp_event event_of[] = {
    [MACHINE_EV_STOP] = QMP_EVENT_STOP, [MACHINE_EV_RESUME] = QMP_EVENT_RESUME,
    [MACHINE_EV_SHUTDOWN] = QMP_EVENT_SHUTDOWN, [MACHINE_EV_POWERDOWN] = QMP_EVENT_POWERDOWN,
    [MACHINE_EV_RESET] = QMP_EVENT_RESET, [MACHINE_EV_BALLOON_CHANGE] = QMP_EVENT_BALLOON_CHANGE,
    [MACHINE_EV_MIGRATION] = QMP_EVENT_MIGRATION,
    [MACHINE_EV_REPLICATION_FAILOVER] = QMP_EVENT_REPLICATION_FAILOVER,
    [MACHINE_EV_DEVICE_DELETED] = QMP_EVENT_DEVICE_DELETED,
};

/* Any thread: queue the event for the loop. */
static void mon_event(void *opaque, const struct machine_event_info *e)
{
    struct qmp_monitor *q = opaque;
    if (e->event == MACHINE_EV_BALLOON_CHANGE)
        qmp_server_balloon_change(q->srv, e->value);
    else if (e->event == MACHINE_EV_REPLICATION_FAILOVER)
        qmp_server_event_value(q->srv, QMP_EVENT_REPLICATION_FAILOVER, "epoch", (int64_t)e->value);
    else if ((unsigned)e->event < ARRAY_SIZE(event_of))
        qmp_server_event(q->srv, event_of[e->event], e->guest, e->reason);
}

static int mon_start(struct machine *m, void *opaque)
{
    struct qmp_monitor *q = opaque;
    q->m = m;
    q->srv = qmp_server_new(q->spec, machine_loop(m), &monitor_ops, q);
    if (!q->srv)
        return -EINVAL;
    machine_set_event_cb(m, mon_event, q);
    return 0;
}

/* vCPUs joined, loop still running: serve the last events, then stop. */
static void mon_stop_monitor(void *opaque)
{
    struct qmp_monitor *q = opaque;
    if (q->m)
        machine_set_event_cb(q->m, NULL, NULL);
    qmp_server_stop(q->srv);
    qmp_server_free(q->srv);
    q->srv = NULL;
}

int qmp_monitor_init(struct machine_monitor *mon, const char *spec)
{
    if (mon->start) {
        log_error("--qmp %s: one --qmp socket only", spec);
        return -EEXIST;
    }
    struct qmp_spec sp;
    if (qmp_spec_parse(spec, &sp) < 0)
        return -EINVAL;
    struct qmp_monitor *q = xzalloc(sizeof(*q));
    q->spec = xstrdup(spec);
    mon->start = mon_start;
    mon->stop = mon_stop_monitor;
    mon->opaque = q;
    return 0;
}

void qmp_monitor_release(struct machine_monitor *mon)
{
    struct qmp_monitor *q = mon->opaque;
    if (!q || mon->start != mon_start)
        return;
    free(q->spec);
    free(q);
    mon->opaque = NULL;
}

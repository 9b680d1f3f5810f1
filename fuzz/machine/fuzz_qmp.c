/* libFuzzer: the QMP parser and dispatcher, over a fake machine. The input
 * is what a client sends, cut into reads at points the input chooses (the
 * first byte seeds the cut sizes), with an event queued between reads. Every
 * reply must be valid JSON ending in "\r\n"; nothing may crash or leak. */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "machine/qmp.h"

struct fake {
    int paused;
    struct qmp_session *s;
};

static const char *f_status(void *o) { return ((struct fake *)o)->paused ? "paused" : "running"; }

static int f_stop(void *o, const char **why)
{
    struct fake *f = o;
    if (f->paused) {
        *why = "already paused";
        return -EBUSY;
    }
    f->paused = 1;
    char *e = qmp_event_json(QMP_EVENT_STOP, false, NULL);
    qmp_session_event(f->s, e);
    free(e);
    return 0;
}

static int f_cont(void *o, const char **why) { ((struct fake *)o)->paused = 0; return 0; }
static int f_ok(void *o, const char **why) { return 0; }

static unsigned f_cpus(void *o, struct qmp_cpu *out, unsigned max)
{
    for (unsigned i = 0; i < 300 && i < max; i++)
        out[i] = (struct qmp_cpu){ .index = i, .thread_id = 100 + i, .target = i & 1 ? "x86_64" : NULL };
    return 300;                 /* more than the caller's room: must be clamped */
}

static unsigned f_block(void *o, struct qmp_block *out, unsigned max)
{
    if (max)
        out[0] = (struct qmp_block){ .device = "vda", .file = "/d\"i\\sk.img", .size = 512 };
    return 1;
}

static int f_balloon(void *o, uint64_t bytes, const char **why) { return bytes & 1 ? -ENODEV : 0; }
static int f_qballoon(void *o, uint64_t *actual, const char **why)
{
    *actual = 1 << 20;
    return 0;
}
static int f_bstats(void *o, const char *id, struct qmp_balloon_stats *st)
{
    if (strcmp(id, "balloon0"))
        return -ENOENT;
    st->n = 1;
    st->name[0] = "stat-free-memory";
    st->val[0] = 1;
    st->last_update = 1;
    return 0;
}
static int f_bpoll(void *o, const char *id, bool set, int64_t *sec)
{
    if (strcmp(id, "balloon0"))
        return -ENOENT;
    if (!set)
        *sec = 0;
    return 0;
}

/* CPU hotplug: the ids device_add checked reach here well-formed */
static int f_cpu_add(void *o, const struct qmp_cpu_add *a, const char **why)
{
    if (!a->id || !a->id[0] || strlen(a->id) > 48 || a->core > 0xffff)
        abort();
    return a->core & 1 ? 0 : -EEXIST;
}
static int f_device_del(void *o, const char *id, const char **why) { return strcmp(id, "cpu1") ? -ENOENT : 0; }
static int f_hotcpus(void *o, struct qmp_hotcpu *out, unsigned max)
{
    for (unsigned i = 0; i < 300 && i < max; i++)
        out[i] = (struct qmp_hotcpu){ .index = i, .present = i & 1, .id = i == 1 ? "cpu1" : NULL };
    return 300;                 /* more than the caller's room: must be clamped */
}

static const struct qmp_ops ops = {
    .target = "riscv64", .status = f_status, .stop = f_stop, .cont = f_cont, .system_reset = f_ok,
    .system_powerdown = f_ok, .quit = f_ok, .query_cpus = f_cpus, .query_block = f_block,
    .balloon = f_balloon, .query_balloon = f_qballoon, .balloon_stats = f_bstats, .balloon_poll = f_bpoll,
    .cpu_add = f_cpu_add, .device_del = f_device_del, .hotpluggable_cpus = f_hotcpus,
};

/* Every complete line of output parses as a JSON object. */
static void check_output(struct qmp_session *s)
{
    size_t len;
    const char *out = qmp_session_output(s, &len);
    size_t start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (out[i] != '\r' || out[i + 1] != '\n')
            continue;
        json_tokener *t = json_tokener_new();
        json_object *o = json_tokener_parse_ex(t, out + start, (int)(i - start));
        if (!o || !json_object_is_type(o, json_type_object))
            abort();
        json_object_put(o);
        json_tokener_free(t);
        start = i + 2;
    }
    if (start != len)
        abort();                /* a reply not ended by "\r\n" */
    qmp_session_consume(s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fake f = { 0 };
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    f.s = s;
    check_output(s);
    /* negotiate first half the time, so the commands behind it are reached */
    if (data[0] & 0x80) {
        const char *neg = "{\"execute\":\"qmp_capabilities\"}";
        qmp_session_input(s, neg, strlen(neg));
        check_output(s);
    }
    uint32_t cut = data[0] & 0x7f;
    size_t off = 1;
    while (off < size) {
        cut = cut * 1103515245u + 12345u;
        size_t n = MIN(size - off, 1 + (cut >> 16) % 64);
        qmp_session_input(s, data + off, n);
        off += n;
        if (cut & 0x100) {
            char *e = qmp_event_json((enum qmp_event)((cut >> 9) % 5), cut & 0x200, cut & 0x400 ? "guest-reset" : NULL);
            qmp_session_event(s, e);
            free(e);
        }
        check_output(s);
    }
    qmp_session_free(s);
    return 0;
}

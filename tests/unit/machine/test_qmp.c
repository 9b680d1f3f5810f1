/* QMP: the protocol over a fake machine (negotiation, every command, ids,
 * errors, streaming input, oversized and malformed requests, events) and
 * the socket server (0600 socket, greeting, clients in turn, a client that
 * leaves mid-request, wait=on, spec parsing). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"
#include "machine/machine.h"
#include "machine/qmp.h"

/* ---- a fake machine ---- */
struct fake {
    char *queue[8];                 /* events raised, not yet sent (as the server queues them) */
    int nqueue;
    const char *status;
    int stops, conts, resets, powerdowns, quits;
    struct qmp_session *sess;       /* events go here when set */
    int fail;                       /* stop fails with this */
};

static const char *f_status(void *o) { return ((struct fake *)o)->status; }

static void f_raise(struct fake *f, char *json)
{
    assert_true(f->nqueue < 8);
    f->queue[f->nqueue++] = json;
}

/* the server's drain: queued events into the session */
static void f_flush(void *arg)
{
    struct fake *f = arg;
    for (int i = 0; i < f->nqueue; i++) {
        if (f->sess)
            qmp_session_event(f->sess, f->queue[i]);
        free(f->queue[i]);
    }
    f->nqueue = 0;
}

static int f_stop(void *o, const char **why)
{
    struct fake *f = o;
    if (f->fail) {
        *why = "the machine cannot pause now";
        return f->fail;
    }
    f->stops++;
    f->status = "paused";
    f_raise(f, qmp_event_json(QMP_EVENT_STOP, false, NULL));   /* must precede the reply */
    return 0;
}
static int f_cont(void *o, const char **why) { ((struct fake *)o)->conts++; ((struct fake *)o)->status = "running"; return 0; }
static int f_reset(void *o, const char **why)
{
    struct fake *f = o;
    f->resets++;
    f_raise(f, qmp_event_json(QMP_EVENT_RESET, false, "host-qmp-system-reset"));  /* follows the reply */
    return 0;
}
static int f_powerdown(void *o, const char **why) { ((struct fake *)o)->powerdowns++; return 0; }
static int f_quit(void *o, const char **why) { ((struct fake *)o)->quits++; return 0; }

static unsigned f_cpus(void *o, struct qmp_cpu *out, unsigned max)
{
    for (unsigned i = 0; i < 2 && i < max; i++)
        out[i] = (struct qmp_cpu){ .index = i, .thread_id = 1000 + i, .state = i ? "stopped" : NULL };
    return 2;
}

static unsigned f_block(void *o, struct qmp_block *out, unsigned max)
{
    if (max)
        out[0] = (struct qmp_block){ .device = "virtio0", .file = "/tmp/disk.img", .read_only = true, .size = 1 << 20 };
    return 1;
}

static const struct qmp_ops fake_ops = {
    .target = "riscv64", .status = f_status, .stop = f_stop, .cont = f_cont, .system_reset = f_reset,
    .system_powerdown = f_powerdown, .quit = f_quit, .query_cpus = f_cpus, .query_block = f_block,
};

/* The output's messages, one parsed JSON object each, consumed. */
static int take(struct qmp_session *s, json_object **msgs, int max)
{
    size_t len;
    const char *out = qmp_session_output(s, &len);
    char *copy = strndup(out, len);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        assert_true(l > 0 && line[l - 1] == '\r');      /* "\r\n" ends every message */
        assert_true(n < max);
        msgs[n] = json_tokener_parse(line);
        assert_non_null(msgs[n]);
        n++;
    }
    free(copy);
    qmp_session_consume(s, len);
    return n;
}

static void put_all(json_object **m, int n)
{
    for (int i = 0; i < n; i++)
        json_object_put(m[i]);
}

static const char *path_str(json_object *o, const char *a, const char *b)
{
    json_object *v = json_object_object_get(o, a);
    if (b)
        v = json_object_object_get(v, b);
    return v ? json_object_get_string(v) : NULL;
}

/* Send text, expect exactly one reply; returns it (caller puts). */
static json_object *one(struct qmp_session *s, const char *text)
{
    json_object *m[4];
    qmp_session_input(s, text, strlen(text));
    int n = take(s, m, 4);
    assert_int_equal(n, 1);
    return m[0];
}

static void expect_error(struct qmp_session *s, const char *text, const char *cls, const char *desc_part)
{
    json_object *r = one(s, text);
    const char *c = path_str(r, "error", "class"), *d = path_str(r, "error", "desc");
    assert_non_null(c);
    assert_string_equal(c, cls);
    assert_non_null(strstr(d, desc_part));
    json_object_put(r);
}

static struct qmp_session *negotiated(struct fake *f)
{
    struct qmp_session *s = qmp_session_new(&fake_ops, f, f_flush, f);
    json_object *m[2];
    assert_int_equal(take(s, m, 2), 1);         /* greeting */
    put_all(m, 1);
    json_object *r = one(s, "{\"execute\":\"qmp_capabilities\"}\n");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    return s;
}

static void test_greeting_and_negotiation(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = qmp_session_new(&fake_ops, &f, NULL, NULL);
    json_object *m[4];
    assert_int_equal(take(s, m, 4), 1);
    json_object *q = json_object_object_get(m[0], "QMP");
    assert_non_null(q);
    assert_true(json_object_is_type(json_object_object_get(q, "capabilities"), json_type_array));
    assert_int_equal(json_object_array_length(json_object_object_get(q, "capabilities")), 0);
    assert_non_null(json_object_object_get(json_object_object_get(json_object_object_get(q, "version"), "qemu"), "major"));
    put_all(m, 1);
    /* before negotiation: only qmp_capabilities, CommandNotFound otherwise */
    expect_error(s, "{\"execute\":\"query-status\"}", "CommandNotFound", "Expecting capabilities negotiation");
    assert_false(qmp_session_negotiated(s));
    /* an unknown capability is refused and negotiation stays open */
    expect_error(s, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}", "GenericError",
                 "Capability 'oob' not available");
    expect_error(s, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":\"oob\"}}", "GenericError",
                 "expected: array");
    json_object *r = one(s, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]},\"id\":\"n1\"}");
    assert_string_equal(path_str(r, "id", NULL), "n1");
    assert_int_equal(json_object_object_length(json_object_object_get(r, "return")), 0);
    json_object_put(r);
    assert_true(qmp_session_negotiated(s));
    expect_error(s, "{\"execute\":\"qmp_capabilities\"}", "CommandNotFound", "already complete");
    qmp_session_free(s);
}

static void test_commands(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = negotiated(&f);
    json_object *r = one(s, "{\"execute\":\"query-status\",\"id\":42}");
    assert_string_equal(path_str(r, "return", "status"), "running");
    assert_true(json_object_get_boolean(json_object_object_get(json_object_object_get(r, "return"), "running")));
    assert_int_equal(json_object_get_int(json_object_object_get(r, "id")), 42);
    json_object_put(r);

    /* stop: the STOP event raised during the command comes before the reply */
    f.sess = s;
    json_object *m[4];
    const char *stop = "{\"execute\":\"stop\",\"id\":{\"a\":[1,2]}}";
    qmp_session_input(s, stop, strlen(stop));
    f_flush(&f);
    assert_int_equal(take(s, m, 4), 2);
    assert_string_equal(path_str(m[0], "event", NULL), "STOP");
    assert_non_null(json_object_object_get(json_object_object_get(m[0], "timestamp"), "microseconds"));
    assert_non_null(json_object_object_get(m[1], "return"));
    assert_string_equal(json_object_to_json_string_ext(json_object_object_get(m[1], "id"), JSON_C_TO_STRING_PLAIN),
                        "{\"a\":[1,2]}");
    put_all(m, 2);
    qmp_session_input(s, "{\"execute\":\"system_reset\"}", 26);
    f_flush(&f);                                /* what the server does after each read */
    assert_int_equal(take(s, m, 4), 2);
    assert_non_null(json_object_object_get(m[0], "return"));
    assert_string_equal(path_str(m[1], "event", NULL), "RESET");
    assert_string_equal(path_str(m[1], "data", "reason"), "host-qmp-system-reset");
    put_all(m, 2);
    f.sess = NULL;
    assert_int_equal(f.stops, 1);
    r = one(s, "{\"execute\":\"query-status\"}");
    assert_string_equal(path_str(r, "return", "status"), "paused");
    assert_false(json_object_get_boolean(json_object_object_get(json_object_object_get(r, "return"), "running")));
    json_object_put(r);

    const char *simple[] = { "cont", "system_reset", "system_powerdown", "quit" };
    for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
        char req[128];
        snprintf(req, sizeof(req), "{\"execute\":\"%s\"}", simple[i]);
        r = one(s, req);
        assert_non_null(json_object_object_get(r, "return"));
        json_object_put(r);
    }
    assert_int_equal(f.conts, 1);
    assert_int_equal(f.resets, 2);
    assert_int_equal(f.powerdowns, 1);
    assert_int_equal(f.quits, 1);

    r = one(s, "{\"execute\":\"query-cpus-fast\"}");
    json_object *cpus = json_object_object_get(r, "return");
    assert_int_equal(json_object_array_length(cpus), 2);
    json_object *c1 = json_object_array_get_idx(cpus, 1);
    assert_int_equal(json_object_get_int(json_object_object_get(c1, "cpu-index")), 1);
    assert_int_equal(json_object_get_int(json_object_object_get(c1, "thread-id")), 1001);
    assert_string_equal(path_str(c1, "target", NULL), "riscv64");
    assert_string_equal(path_str(c1, "x-state", NULL), "stopped");       /* vessel's extension */
    assert_null(json_object_object_get(json_object_array_get_idx(cpus, 0), "x-state"));   /* none given */
    json_object_put(r);

    r = one(s, "{\"execute\":\"query-block\"}");
    json_object *b0 = json_object_array_get_idx(json_object_object_get(r, "return"), 0);
    assert_string_equal(path_str(b0, "device", NULL), "virtio0");
    json_object *ins = json_object_object_get(b0, "inserted");
    assert_string_equal(path_str(ins, "file", NULL), "/tmp/disk.img");   /* no "\/" escapes */
    assert_true(json_object_get_boolean(json_object_object_get(ins, "ro")));
    assert_int_equal(json_object_get_int64(json_object_object_get(json_object_object_get(ins, "image"), "virtual-size")),
                     1 << 20);
    json_object_put(r);

    r = one(s, "{\"execute\":\"query-version\"}");
    assert_non_null(strstr(path_str(r, "return", "package"), "vessel"));
    json_object_put(r);

    r = one(s, "{\"execute\":\"query-commands\"}");
    json_object *list = json_object_object_get(r, "return");
    assert_int_equal(json_object_array_length(list), 11);
    json_object_put(r);

    /* the machine's own error */
    f.fail = -EBUSY;
    expect_error(s, "{\"execute\":\"stop\"}", "GenericError", "cannot pause now");
    qmp_session_free(s);
}

/* ---- the balloon commands ---- */
struct fake_balloon { int64_t target; int sets, polls; int64_t poll; bool none; };
static struct fake_balloon fb;
static int f_balloon(void *o, uint64_t bytes, const char **why)
{
    if (fb.none)
        return -ENODEV;
    fb.target = (int64_t)bytes;
    fb.sets++;
    return 0;
}
static int f_query_balloon(void *o, uint64_t *actual, const char **why)
{
    if (fb.none)
        return -ENODEV;
    *actual = 128ULL << 20;
    return 0;
}
static int f_balloon_stats(void *o, const char *id, struct qmp_balloon_stats *st)
{
    if (strcmp(id, "balloon0"))
        return -ENOENT;
    st->n = 2;
    st->name[0] = "stat-free-memory";
    st->val[0] = 4096;
    st->name[1] = "stat-swap-in";
    st->val[1] = -1;
    st->last_update = fb.polls ? 1700000000 : 0;
    return 0;
}
static int f_balloon_poll(void *o, const char *id, bool set, int64_t *sec)
{
    if (strcmp(id, "balloon0"))
        return -ENOENT;
    if (set) {
        fb.poll = *sec;
        fb.polls++;
    } else {
        *sec = fb.poll;
    }
    return 0;
}

static void test_balloon_commands(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_ops ops = fake_ops;
    ops.balloon = f_balloon;
    ops.query_balloon = f_query_balloon;
    ops.balloon_stats = f_balloon_stats;
    ops.balloon_poll = f_balloon_poll;
    memset(&fb, 0, sizeof(fb));
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    json_object *m[2];
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    json_object *r = one(s, "{\"execute\":\"query-commands\"}");
    assert_int_equal(json_object_array_length(json_object_object_get(r, "return")), 15);
    json_object_put(r);

    r = one(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":67108864},\"id\":1}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fb.target, 64 << 20);
    expect_error(s, "{\"execute\":\"balloon\"}", "GenericError", "Parameter 'value' is missing");
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":\"1G\"}}", "GenericError",
                 "expected: integer");
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":0}}", "GenericError", "expects a size");
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":-5}}", "GenericError", "expects a size");
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":1.5}}", "GenericError", "integer");
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":1,\"x\":1}}", "GenericError",
                 "Parameter 'x' is unexpected");
    assert_int_equal(fb.sets, 1);
    r = one(s, "{\"execute\":\"query-balloon\"}");
    assert_int_equal(json_object_get_int64(json_object_object_get(json_object_object_get(r, "return"), "actual")),
                     128 << 20);
    json_object_put(r);

    /* qom: stats before the guest sent any, polling interval, bad paths */
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/balloon0\","
                 "\"property\":\"guest-stats\"}}", "GenericError", "hasn't updated any stats yet");
    r = one(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"balloon0\","
               "\"property\":\"guest-stats-polling-interval\",\"value\":2}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fb.poll, 2);
    r = one(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/balloon0\","
               "\"property\":\"guest-stats-polling-interval\"}}");
    assert_int_equal(json_object_get_int(json_object_object_get(r, "return")), 2);
    json_object_put(r);
    r = one(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/balloon0\","
               "\"property\":\"guest-stats\"}}");
    json_object *ret = json_object_object_get(r, "return");
    assert_int_equal(json_object_get_int64(json_object_object_get(ret, "last-update")), 1700000000);
    json_object *stats = json_object_object_get(ret, "stats");
    assert_int_equal(json_object_get_int64(json_object_object_get(stats, "stat-free-memory")), 4096);
    assert_int_equal(json_object_get_int64(json_object_object_get(stats, "stat-swap-in")), -1);
    json_object_put(r);
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/nope\","
                 "\"property\":\"guest-stats\"}}", "DeviceNotFound", "Device 'nope' not found");
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"balloon0\",\"property\":\"x\"}}",
                 "GenericError", "Property 'x' not found");
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":1,\"property\":\"x\"}}",
                 "GenericError", "expected: string");
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"balloon0\"}}",
                 "GenericError", "Parameter 'property' is missing");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"balloon0\","
                 "\"property\":\"guest-stats-polling-interval\",\"value\":-1}}", "GenericError",
                 "must be greater than zero");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"balloon0\","
                 "\"property\":\"guest-stats-polling-interval\",\"value\":4294967296}}", "GenericError",
                 "too big");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"balloon0\","
                 "\"property\":\"guest-stats\",\"value\":1}}", "GenericError", "Property 'guest-stats' not found");
    assert_int_equal(fb.polls, 1);

    /* no balloon device: DeviceNotActive, as QEMU */
    fb.none = true;
    expect_error(s, "{\"execute\":\"balloon\",\"arguments\":{\"value\":1}}", "DeviceNotActive",
                 "No balloon device has been activated");
    expect_error(s, "{\"execute\":\"query-balloon\"}", "DeviceNotActive", "No balloon device");
    qmp_session_free(s);
}

static void test_missing_op_is_unknown(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_ops ops = fake_ops;
    ops.system_powerdown = NULL;
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    json_object *m[2];
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    expect_error(s, "{\"execute\":\"system_powerdown\"}", "CommandNotFound", "has not been found");
    json_object *r = one(s, "{\"execute\":\"query-commands\"}");
    assert_int_equal(json_object_array_length(json_object_object_get(r, "return")), 10);
    json_object_put(r);
    qmp_session_free(s);
}

static void test_bad_requests(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = negotiated(&f);
    expect_error(s, "{\"execute\":\"no-such\"}", "CommandNotFound", "The command no-such has not been found");
    expect_error(s, "[1,2]\n", "GenericError", "must be a JSON object");
    expect_error(s, "\"str\"\n", "GenericError", "must be a JSON object");
    expect_error(s, "{\"arguments\":{}}", "GenericError", "lacks member 'execute'");
    expect_error(s, "{\"execute\":1}", "GenericError", "'execute' must be a string");
    expect_error(s, "{\"execute\":\"stop\",\"arguments\":[]}", "GenericError", "'arguments' must be an object");
    expect_error(s, "{\"execute\":\"stop\",\"foo\":1}", "GenericError", "member 'foo' is unexpected");
    expect_error(s, "{\"execute\":\"stop\",\"arguments\":{\"force\":true}}", "GenericError",
                 "Parameter 'force' is unexpected");
    expect_error(s, "{\"exec-oob\":\"stop\"}", "GenericError", "exec-oob");
    assert_int_equal(f.stops, 0);
    /* malformed JSON: one error, then the next line works */
    json_object *m[8];
    const char *bad = "{\"execute\": nope}\n{\"execute\":\"query-status\"}\n";
    qmp_session_input(s, bad, strlen(bad));
    assert_int_equal(take(s, m, 8), 2);
    assert_string_equal(path_str(m[0], "error", "class"), "GenericError");
    assert_non_null(strstr(path_str(m[0], "error", "desc"), "JSON parse error"));
    assert_string_equal(path_str(m[1], "return", "status"), "running");
    put_all(m, 2);
    /* garbage bytes, NULs, a lone closing brace */
    const char junk[] = "\xff\xfe}}}\x00\x01{\"execute\":\"query-status\"}";
    qmp_session_input(s, junk, sizeof(junk) - 1);
    int n = take(s, m, 8);
    assert_true(n >= 2);
    assert_string_equal(path_str(m[n - 1], "return", "status"), "running");
    put_all(m, n);
    /* too deep */
    char deep[200] = "{\"execute\":\"stop\",\"id\":";
    for (int i = 0; i < 60; i++)
        strcat(deep, "[");
    strcat(deep, "\n");
    expect_error(s, deep, "GenericError", "JSON parse error");
    assert_int_equal(f.stops, 0);
    qmp_session_free(s);
}

static void test_streaming(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = negotiated(&f);
    /* three requests in one read, no separators needed between objects */
    const char *three = "{\"execute\":\"query-status\",\"id\":1}{\"execute\":\"query-status\",\"id\":2}\r\n"
                        "  {\"execute\":\"query-status\",\"id\":3}";
    json_object *m[8];
    qmp_session_input(s, three, strlen(three));
    assert_int_equal(take(s, m, 8), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(json_object_get_int(json_object_object_get(m[i], "id")), i + 1);
    put_all(m, 3);
    /* one request a byte at a time: no reply until the last byte */
    const char *req = "{ \"execute\" : \"query-status\", \"id\": \"split\" }";
    for (size_t i = 0; i < strlen(req); i++) {
        size_t len;
        qmp_session_input(s, req + i, 1);
        qmp_session_output(s, &len);
        assert_int_equal(len, i + 1 < strlen(req) ? 0 : len);
    }
    assert_int_equal(take(s, m, 8), 1);
    assert_string_equal(path_str(m[0], "id", NULL), "split");
    put_all(m, 1);
    /* QEMU accepts single-quoted strings; so does this parser */
    json_object *r = one(s, "{'execute': 'query-status'}");
    assert_string_equal(path_str(r, "return", "status"), "running");
    json_object_put(r);
    qmp_session_free(s);
}

static void test_oversized(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = negotiated(&f);
    /* a 1 MiB request, fed in 4 KiB reads: one error, then resync on the newline */
    size_t big = 1 << 20;
    char *req = xmalloc(big + 64);
    int h = snprintf(req, big, "{\"execute\":\"stop\",\"id\":\"");
    memset(req + h, 'a', big - (size_t)h - 3);
    memcpy(req + big - 3, "\"}\n", 3);
    for (size_t off = 0; off < big; off += 4096)
        qmp_session_input(s, req + off, MIN(4096, big - off));
    free(req);
    json_object *m[4];
    assert_int_equal(take(s, m, 4), 1);
    assert_non_null(strstr(path_str(m[0], "error", "desc"), "larger than"));
    put_all(m, 1);
    assert_int_equal(f.stops, 0);
    json_object *r = one(s, "{\"execute\":\"query-status\"}\n");
    assert_string_equal(path_str(r, "return", "status"), "running");
    json_object_put(r);
    qmp_session_free(s);
}

static void test_events_after_negotiation_only(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_session *s = qmp_session_new(&fake_ops, &f, NULL, NULL);
    json_object *m[4];
    take(s, m, 4);
    put_all(m, 1);
    char *e = qmp_event_json(QMP_EVENT_SHUTDOWN, true, "guest-shutdown");
    qmp_session_event(s, e);
    size_t len;
    qmp_session_output(s, &len);
    assert_int_equal(len, 0);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    qmp_session_event(s, e);
    free(e);
    assert_int_equal(take(s, m, 4), 1);
    assert_string_equal(path_str(m[0], "event", NULL), "SHUTDOWN");
    assert_true(json_object_get_boolean(json_object_object_get(json_object_object_get(m[0], "data"), "guest")));
    assert_string_equal(path_str(m[0], "data", "reason"), "guest-shutdown");
    put_all(m, 1);
    /* STOP has no data, as on QEMU */
    e = qmp_event_json(QMP_EVENT_STOP, false, NULL);
    json_object *o = json_tokener_parse(e);
    assert_null(json_object_object_get(o, "data"));
    json_object_put(o);
    free(e);
    qmp_session_free(s);
}

static void test_spec_parse(void **state)
{
    struct qmp_spec sp;
    assert_int_equal(qmp_spec_parse("unix:/tmp/a.sock", &sp), 0);
    assert_string_equal(sp.path, "/tmp/a.sock");
    assert_false(sp.wait);
    assert_int_equal(qmp_spec_parse("unix:/tmp/a.sock,server,wait=off", &sp), 0);
    assert_false(sp.wait);
    assert_int_equal(qmp_spec_parse("unix:/tmp/a.sock,server,nowait", &sp), 0);
    assert_false(sp.wait);
    assert_int_equal(qmp_spec_parse("unix:/tmp/a.sock,server", &sp), 0);
    assert_true(sp.wait);                       /* QEMU: server waits unless wait=off */
    assert_int_equal(qmp_spec_parse("unix:/tmp/a.sock,server=on,wait=on", &sp), 0);
    assert_true(sp.wait);
    assert_int_equal(qmp_spec_parse("tcp:127.0.0.1:4444", &sp), -EINVAL);
    assert_int_equal(qmp_spec_parse("unix:", &sp), -EINVAL);
    assert_int_equal(qmp_spec_parse("unix:/tmp/a,server=off", &sp), -EINVAL);
    assert_int_equal(qmp_spec_parse("unix:/tmp/a,bogus", &sp), -EINVAL);
    char longp[200] = "unix:/";
    memset(longp + 6, 'x', 150);
    longp[156] = 0;
    assert_int_equal(qmp_spec_parse(longp, &sp), -EINVAL);
}

/* ---- the socket server, run on this thread with loop_run_once ---- */
static int connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Run the loop until fd has a line; return it (static buffer per call site). */
static void read_line(struct loop *l, int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (poll(&p, 1, 0) == 0)
            loop_run_once(l, 1000);
        ssize_t r = read(fd, buf + n, 1);
        assert_int_equal(r, 1);
        if (buf[n] == '\n') {
            buf[n + 1] = 0;
            return;
        }
        n++;
        assert_true(n + 2 < size);
    }
}

static void test_server(void **state)
{
    char dir[] = "/tmp/vessel-qmp-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], spec[160];
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    snprintf(spec, sizeof(spec), "unix:%s,server,wait=off", path);
    struct loop *l = loop_new();
    struct fake f = { .status = "running" };
    mode_t old = umask(0);                      /* the socket is 0600 whatever the umask */
    struct qmp_server *srv = qmp_server_new(spec, l, &fake_ops, &f);
    umask(old);
    assert_non_null(srv);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    char line[4096];
    /* first client: greeting, negotiation, a command, an event */
    int c1 = connect_to(path);
    read_line(l, c1, line, sizeof(line));
    assert_non_null(strstr(line, "\"QMP\""));
    assert_non_null(strstr(line, "\r\n"));
    const char *neg = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\",\"id\":7}\n";
    assert_int_equal(write(c1, neg, strlen(neg)), (ssize_t)strlen(neg));
    read_line(l, c1, line, sizeof(line));
    assert_string_equal(line, "{\"return\":{}}\r\n");
    read_line(l, c1, line, sizeof(line));
    assert_non_null(strstr(line, "\"status\":\"running\""));
    assert_non_null(strstr(line, "\"id\":7"));
    qmp_server_event(srv, QMP_EVENT_POWERDOWN, false, NULL);
    read_line(l, c1, line, sizeof(line));
    assert_non_null(strstr(line, "\"event\":\"POWERDOWN\""));

    /* a second client waits in the backlog until the first leaves */
    int c2 = connect_to(path);
    for (int i = 0; i < 5; i++)
        loop_run_once(l, 0);
    struct pollfd p = { .fd = c2, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);
    /* the first leaves in the middle of a request */
    const char *half = "{\"execute\":\"st";
    assert_int_equal(write(c1, half, strlen(half)), (ssize_t)strlen(half));
    close(c1);
    read_line(l, c2, line, sizeof(line));
    assert_non_null(strstr(line, "\"QMP\""));
    assert_int_equal(f.stops, 0);
    /* a client that sends a command and leaves before the reply */
    const char *fire = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"stop\"}\n";
    assert_int_equal(write(c2, fire, strlen(fire)), (ssize_t)strlen(fire));
    close(c2);
    int c3 = connect_to(path);
    read_line(l, c3, line, sizeof(line));        /* served again: the server survived */
    assert_non_null(strstr(line, "\"QMP\""));
    assert_int_equal(f.stops, 1);
    /* a client that shuts down its sending side still gets its replies and
     * the events after them (socat at the end of its input, then SHUTDOWN) */
    const char *last = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
    assert_int_equal(write(c3, last, strlen(last)), (ssize_t)strlen(last));
    shutdown(c3, SHUT_WR);
    read_line(l, c3, line, sizeof(line));
    assert_string_equal(line, "{\"return\":{}}\r\n");
    read_line(l, c3, line, sizeof(line));
    assert_string_equal(line, "{\"return\":{}}\r\n");
    for (int i = 0; i < 3; i++)
        loop_run_once(l, 0);
    qmp_server_event(srv, QMP_EVENT_SHUTDOWN, false, "host-qmp-quit");
    read_line(l, c3, line, sizeof(line));
    assert_non_null(strstr(line, "\"event\":\"SHUTDOWN\""));
    assert_int_equal(f.quits, 1);
    close(c3);
    for (int i = 0; i < 3; i++)
        loop_run_once(l, 0);

    /* BALLOON_CHANGE: at most one a second, the last of a burst at its end */
    int c4 = connect_to(path);
    read_line(l, c4, line, sizeof(line));
    const char *neg4 = "{\"execute\":\"qmp_capabilities\"}\n";
    assert_int_equal(write(c4, neg4, strlen(neg4)), (ssize_t)strlen(neg4));
    read_line(l, c4, line, sizeof(line));
    uint64_t t0 = time_ms();
    qmp_server_balloon_change(srv, 100);
    qmp_server_balloon_change(srv, 200);
    qmp_server_balloon_change(srv, 300);
    read_line(l, c4, line, sizeof(line));
    assert_non_null(strstr(line, "\"event\":\"BALLOON_CHANGE\""));
    assert_non_null(strstr(line, "\"data\":{\"actual\":100}"));
    read_line(l, c4, line, sizeof(line));
    assert_non_null(strstr(line, "\"data\":{\"actual\":300}"));
    assert_true(time_ms() - t0 >= QMP_BALLOON_THROTTLE_MS - 10);
    close(c4);
    for (int i = 0; i < 3; i++)
        loop_run_once(l, 0);

    qmp_server_free(srv);
    f_flush(&f);                                /* the fake's own queue (unused by the server) */
    assert_int_equal(stat(path, &st), -1);      /* removed */
    /* something else at the path is not replaced */
    FILE *file = fopen(path, "w");
    fclose(file);
    assert_null(qmp_server_new(spec, l, &fake_ops, &f));
    unlink(path);
    loop_free(l);
    rmdir(dir);
}

/* vessel features lists the monitor's commands and the event names: each
 * once, the table's own names, NULL past the end. */
static void test_monitor_command_list(void **state)
{
    (void)state;
    unsigned n = 0;
    const char *c;
    bool caps = false, qc = false, snap = false;
    for (; (c = qmp_monitor_command(n)); n++) {
        assert_true(*c != 0);
        for (unsigned j = 0; j < n; j++)
            assert_string_not_equal(qmp_monitor_command(j), c);
        caps |= !strcmp(c, "qmp_capabilities");
        qc |= !strcmp(c, "query-commands");
        snap |= !strcmp(c, "vm-snapshot");
    }
    assert_true(n >= 10);
    assert_true(caps && qc && snap);
    assert_null(qmp_monitor_command(n + 1000));
    assert_string_equal(qmp_event_name(QMP_EVENT_STOP), "STOP");
    assert_string_equal(qmp_event_name(QMP_EVENT_MIGRATION), "MIGRATION");
    unsigned e = 0;
    while (qmp_event_name(e))
        e++;
    assert_true(e > QMP_EVENT_MIGRATION);   /* every event named, none after the last */
    assert_null(qmp_event_name(e + 1000));
}

/* ---- CPU hotplug: device_add / device_del / query-hotpluggable-cpus ---- */
struct fake_hp { unsigned core; char id[64]; int adds, dels; bool present1; };
static struct fake_hp fh;
static int f_cpu_add(void *o, const struct qmp_cpu_add *a, const char **why)
{
    fh.adds++;
    fh.core = a->core;
    snprintf(fh.id, sizeof(fh.id), "%s", a->id);
    fh.present1 = true;
    return 0;
}
static int f_device_del(void *o, const char *id, const char **why)
{
    if (strcmp(id, fh.id)) {
        *why = "Device 'x' not found";
        return -ENOENT;
    }
    fh.dels++;
    return 0;
}
static int f_hotcpus(void *o, struct qmp_hotcpu *out, unsigned max)
{
    out[0] = (struct qmp_hotcpu){ .index = 0, .present = true };
    out[1] = (struct qmp_hotcpu){ .index = 1, .present = fh.present1, .id = fh.present1 ? fh.id : NULL };
    return 2;
}

/* ---- PCI hotplug: device_add of virtio-blk-pci / virtio-net-pci, query-pci ---- */
struct fake_pci { int adds; char id[64], file[256], net[256]; unsigned slot; bool ro, direct; const char *option; };
static struct fake_pci fp;
static int f_pci_add(void *o, const struct machine_pci_device *d, const char **why)
{
    fp.adds++;
    snprintf(fp.id, sizeof(fp.id), "%s", d->id);
    snprintf(fp.file, sizeof(fp.file), "%s", d->disk.path);
    snprintf(fp.net, sizeof(fp.net), "%s", d->net ? d->net : "");
    fp.slot = d->slot;
    fp.ro = d->disk.readonly;
    fp.direct = d->disk.direct;
    fp.option = d->option;
    return 0;
}
static int f_query_pci(void *o, unsigned slot, struct machine_pci_info *out)
{
    if (slot != 0 && slot != 3)
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    out->s.cfg[0] = 0xf4; out->s.cfg[1] = 0x1a; out->s.cfg[2] = 0x42; out->s.cfg[3] = 0x10;
    out->s.cfg[0x0b] = 0x01; out->s.cfg[0x0a] = 0x80;
    out->s.cfg[PCI_INTERRUPT_PIN] = 1; out->s.cfg[PCI_INTERRUPT_LINE] = 7;
    out->s.bar_addr[0] = 0xc0008000; out->s.bar_size[0] = 0x8000;
    snprintf(out->id, sizeof(out->id), "%s", slot == 3 ? "disk1" : "");
    return 0;
}

static void test_pci_hotplug_commands(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_ops ops = fake_ops;
    ops.target = "x86_64";
    ops.cpu_add = f_cpu_add;
    ops.device_del = f_device_del;
    ops.pci_add = f_pci_add;
    ops.query_pci = f_query_pci;
    memset(&fp, 0, sizeof(fp));
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    json_object *m[2];
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    json_object *r = one(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"disk1\","
                            "\"file\":\"/srv/a,b.img\",\"read-only\":true,\"cache\":\"none\",\"addr\":\"0x3\",\"bus\":\"pci.0\"}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fp.adds, 1);
    assert_string_equal(fp.option, "disk");
    assert_string_equal(fp.id, "disk1");
    assert_string_equal(fp.file, "/srv/a,b.img");      /* a comma in the path is just a comma */
    assert_true(fp.ro && fp.direct);
    assert_int_equal(fp.slot, 3);
    r = one(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\",\"id\":\"nic1\","
               "\"net\":\"user,hostfwd=tcp:127.0.0.1:2222-:22\",\"mac\":\"52:54:00:12:34:56\",\"addr\":\"05.0\"}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_string_equal(fp.option, "net");
    assert_string_equal(fp.net, "user,hostfwd=tcp:127.0.0.1:2222-:22,mac=52:54:00:12:34:56");
    assert_int_equal(fp.slot, 5);
    r = one(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\",\"id\":\"nic2\"}}");
    json_object_put(r);
    assert_string_equal(fp.net, "user");               /* the default backend */
    assert_int_equal(fp.slot, 0);
    assert_int_equal(fp.adds, 3);

    /* argument errors: one line naming the value; nothing plugged */
    static const char *const bad[][2] = {
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\"}", "Parameter 'file' is missing" },
        { "{\"driver\":\"virtio-blk-pci\",\"file\":\"/x\"}", "Parameter 'id' is missing" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"1d\",\"file\":\"/x\"}", "'1d'" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"drive\":\"drive0\"}", "'drive0'): vessel has no blockdev-add" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":7}", "Invalid parameter type for 'file'" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"cache\":\"unsafe\"}", "'cache' expects 'none' or 'writeback': 'unsafe'" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"read-only\":\"yes\"}", "'read-only', expected: boolean" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"serial\":\"123456789012345678901\"}", "'serial' expects 1 to 20" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"addr\":\"0x20\"}", "'addr' expects a PCI device number 0x1-0x1f (\"0x5\", \"05.0\"): '0x20'" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"addr\":\"5.1\"}", "'5.1'" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"addr\":0}", "0x1-0x1f: 0" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"bus\":\"pcie.1\"}", "Bus 'pcie.1' not found" },
        { "{\"driver\":\"virtio-blk-pci\",\"id\":\"d\",\"file\":\"/x\",\"mac\":\"52:54:00:12:34:56\"}", "Property 'virtio-blk-pci.mac' not found" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"file\":\"/x\"}", "Property 'virtio-net-pci.file' not found" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"net\":\"bridge\"}", "'net' expects what --net takes (user[,hostfwd=...] or tap,ifname=NAME): 'bridge'" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"mac\":\"01:00:00:00:00:01\"}", "'mac' expects a unicast MAC address (52:54:00:12:34:56): '01:00:00:00:00:01'" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"mac\":\"52:54:00:12:34:56,x\"}", "'52:54:00:12:34:56,x'" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"netdev\":\"hn0\"}", "'hn0'): vessel has no netdev_add" },
        { "{\"driver\":\"virtio-net-pci\",\"id\":\"n\",\"core-id\":1}", "Property 'virtio-net-pci.core-id' not found" },
        { "{\"driver\":\"e1000\",\"id\":\"n\"}", "device_add of 'e1000': vessel hot-plugs CPUs ('x86_64-cpu' or 'host-x86_64-cpu'), 'virtio-blk-pci' and 'virtio-net-pci'" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char req[1024];
        snprintf(req, sizeof(req), "{\"execute\":\"device_add\",\"arguments\":%s}", bad[i][0]);
        expect_error(s, req, "GenericError", bad[i][1]);
    }
    assert_int_equal(fp.adds, 3);

    /* query-pci: QEMU's PciInfo */
    r = one(s, "{\"execute\":\"query-pci\"}");
    json_object *buses = json_object_object_get(r, "return");
    assert_int_equal(json_object_array_length(buses), 1);
    json_object *devs = json_object_object_get(json_object_array_get_idx(buses, 0), "devices");
    assert_int_equal(json_object_array_length(devs), 2);
    json_object *d3 = json_object_array_get_idx(devs, 1);
    assert_int_equal(json_object_get_int(json_object_object_get(d3, "slot")), 3);
    assert_string_equal(json_object_get_string(json_object_object_get(d3, "qdev_id")), "disk1");
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_object_get(d3, "id"), "vendor")), 0x1af4);
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_object_get(d3, "id"), "device")), 0x1042);
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_object_get(d3, "class_info"), "class")), 0x0180);
    json_object *reg = json_object_array_get_idx(json_object_object_get(d3, "regions"), 0);
    assert_int_equal(json_object_get_int64(json_object_object_get(reg, "address")), 0xc0008000);
    assert_int_equal(json_object_get_int64(json_object_object_get(reg, "size")), 0x8000);
    json_object_put(r);
    qmp_session_free(s);
}

/* ---- virtio-mem: qom-get / qom-set / query-memory-devices ---- */
static uint64_t fm_requested;
static int f_memdev(void *o, const char *id, struct virtio_mem_info *out)
{
    if (id && strcmp(id, "vmem0"))
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    snprintf(out->opts.id, sizeof(out->opts.id), "vmem0");
    out->opts = (struct virtio_mem_opts){ .id = "vmem0", .addr = 1ULL << 32, .size = 512ULL << 20,
                                          .block_size = 2ULL << 20, .requested = fm_requested };
    out->plugged = fm_requested;
    return 0;
}
static int f_memdev_set(void *o, const char *id, uint64_t requested, const char **why)
{
    if (requested % (2ULL << 20)) {
        *why = "requested-size 3: a multiple of block-size 2097152 up to size 536870912";
        return -EINVAL;
    }
    fm_requested = requested;
    return 0;
}

static void test_memdev_commands(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_ops ops = fake_ops;
    ops.memdev = f_memdev;
    ops.memdev_set = f_memdev_set;
    ops.balloon_stats = f_balloon_stats;       /* qom-get/qom-set are served with the balloon's ops */
    ops.balloon_poll = f_balloon_poll;
    fm_requested = 0;
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    json_object *m[2];
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    json_object *r = one(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/machine/peripheral/vmem0\","
                            "\"property\":\"requested-size\",\"value\":402653184}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fm_requested, 402653184);
    r = one(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"size\"}}");
    assert_int_equal(json_object_get_int64(json_object_object_get(r, "return")), 402653184);
    json_object_put(r);
    r = one(s, "{\"execute\":\"query-memory-devices\"}");
    json_object *d = json_object_object_get(json_object_array_get_idx(json_object_object_get(r, "return"), 0), "data");
    assert_int_equal(json_object_get_int64(json_object_object_get(d, "max-size")), 512 << 20);
    assert_int_equal(json_object_get_int64(json_object_object_get(d, "memaddr")), 1LL << 32);
    assert_string_equal(json_object_get_string(json_object_object_get(d, "id")), "vmem0");
    json_object_put(r);
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"requested-size\",\"value\":3}}",
                 "GenericError", "requested-size 3: a multiple of block-size");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"requested-size\",\"value\":-1}}",
                 "GenericError", "'value' expects a size in bytes: -1");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"requested-size\",\"value\":\"1G\"}}",
                 "GenericError", "Invalid parameter type for 'value', expected: integer");
    expect_error(s, "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"size\",\"value\":0}}",
                 "GenericError", "Property 'size' is read-only or not found");
    expect_error(s, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"vmem0\",\"property\":\"colour\"}}",
                 "GenericError", "Property 'colour' not found");
    assert_int_equal(fm_requested, 402653184);
    qmp_session_free(s);
}

static void test_hotplug_commands(void **state)
{
    struct fake f = { .status = "running" };
    struct qmp_ops ops = fake_ops;
    ops.target = "x86_64";
    ops.cpu_add = f_cpu_add;
    ops.device_del = f_device_del;
    ops.hotpluggable_cpus = f_hotcpus;
    memset(&fh, 0, sizeof(fh));
    struct qmp_session *s = qmp_session_new(&ops, &f, NULL, NULL);
    json_object *m[2];
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    json_object *r = one(s, "{\"execute\":\"query-hotpluggable-cpus\"}");
    json_object *a = json_object_object_get(r, "return");
    assert_int_equal(json_object_array_length(a), 2);
    assert_string_equal(path_str(json_object_array_get_idx(a, 0), "type", NULL), "host-x86_64-cpu");
    assert_string_equal(path_str(json_object_array_get_idx(a, 0), "qom-path", NULL), "/machine/cpu[0]");
    assert_null(json_object_object_get(json_object_array_get_idx(a, 1), "qom-path"));
    assert_int_equal(json_object_get_int(json_object_object_get(
                         json_object_object_get(json_object_array_get_idx(a, 1), "props"), "core-id")), 1);
    json_object_put(r);

    r = one(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"host-x86_64-cpu\",\"id\":\"c1\","
               "\"core-id\":1,\"socket-id\":0,\"thread-id\":0}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fh.adds, 1);
    assert_int_equal(fh.core, 1);
    assert_string_equal(fh.id, "c1");
    r = one(s, "{\"execute\":\"query-hotpluggable-cpus\"}");
    assert_string_equal(path_str(json_object_array_get_idx(json_object_object_get(r, "return"), 1), "qom-path", NULL),
                        "/machine/peripheral/c1");
    json_object_put(r);

    /* argument errors: one line naming the value; nothing plugged */
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"c2\",\"core-id\":1}}", "GenericError",
                 "Parameter 'driver' is missing");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"d\"}}",
                 "GenericError", "device_add of 'virtio-blk-pci'");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"riscv64-cpu\",\"id\":\"d\",\"core-id\":1}}",
                 "GenericError", "device_add of 'riscv64-cpu'");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"core-id\":1}}",
                 "GenericError", "Parameter 'id' is missing");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"9x\",\"core-id\":1}}",
                 "GenericError", "'9x'");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"c\"}}",
                 "GenericError", "Parameter 'core-id' is missing");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"c\",\"core-id\":\"1\"}}",
                 "GenericError", "'core-id', expected: integer");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"c\",\"core-id\":-1}}",
                 "GenericError", "'core-id' is out of range: -1");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"c\",\"core-id\":1,"
                    "\"socket-id\":1}}", "GenericError", "socket-id 1");
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"x86_64-cpu\",\"id\":\"c\",\"core-id\":1,"
                    "\"bus\":\"pci.0\"}}", "GenericError", "Parameter 'bus' is unexpected");
    assert_int_equal(fh.adds, 1);
    expect_error(s, "{\"execute\":\"device_del\"}", "GenericError", "Parameter 'id' is missing");
    expect_error(s, "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"nope\"}}", "DeviceNotFound", "not found");
    r = one(s, "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"c1\"}}");
    assert_non_null(json_object_object_get(r, "return"));
    json_object_put(r);
    assert_int_equal(fh.dels, 1);
    qmp_session_free(s);

    /* a PCI device on a machine without PCI hotplug (no pci_add): refused */
    s = qmp_session_new(&ops, &f, NULL, NULL);
    take(s, m, 2);
    put_all(m, 1);
    json_object_put(one(s, "{\"execute\":\"qmp_capabilities\"}"));
    expect_error(s, "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\",\"id\":\"n\"}}",
                 "GenericError", "device_add of 'virtio-net-pci': this machine has no PCI hotplug");
    qmp_session_free(s);

    /* DEVICE_DELETED: QEMU's data */
    char *ev = qmp_event_json(QMP_EVENT_DEVICE_DELETED, true, "c1");
    assert_non_null(strstr(ev, "\"event\":\"DEVICE_DELETED\",\"data\":{\"device\":\"c1\",\"path\":\"/machine/peripheral/c1\"}"));
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_and_negotiation),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_missing_op_is_unknown),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_events_after_negotiation_only),
        cmocka_unit_test(test_spec_parse),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_balloon_commands),
        cmocka_unit_test(test_monitor_command_list),
        cmocka_unit_test(test_hotplug_commands),
        cmocka_unit_test(test_pci_hotplug_commands),
        cmocka_unit_test(test_memdev_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* vessel qmp: a small QMP client for scripts and tests. Connects to a
 * --qmp socket, negotiates capabilities, sends one command and prints its
 * `return` value as one line of JSON (or the error as one line on stderr). */
#include "base/base.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void qmp_usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel qmp [OPTIONS] PATH COMMAND [JSON-ARGS]\n"
        "\n"
        "Send one QMP command to the control socket of a running machine (started\n"
        "with --qmp unix:PATH on 'vessel run' or 'vessel kvm'; QEMU's sockets work\n"
        "too) and print its return value as one line of JSON.\n"
        "\n"
        "The client reads the greeting, negotiates capabilities (qmp_capabilities),\n"
        "sends {\"execute\": COMMAND, \"arguments\": JSON-ARGS}, skips the events\n"
        "that arrive before the reply, and exits. JSON-ARGS must be a JSON object.\n"
        "\n"
        "Options:\n"
        "  --pretty          print the return value indented over several lines\n"
        "  --events          also print, one line each, the events received before\n"
        "                    the reply (as they came, with their timestamps)\n"
        "  --wait-event NAME after the reply, stay connected until an event NAME\n"
        "                    comes (DEVICE_DELETED after device_del) and print it\n"
        "                    (exit 2 if the connection ends first)\n"
        "  -h, --help        show this help\n"
        "\n"
        "Commands vessel serves: qmp_capabilities query-status stop cont\n"
        "system_reset system_powerdown quit query-cpus-fast query-block\n"
        "balloon query-balloon qom-get qom-set query-version query-commands\n"
        "device_add device_del query-hotpluggable-cpus query-pci (hotplug on vessel kvm)\n"
        "(see docs/qmp.md).\n"
        "\n"
        "Exit status:\n"
        "  0  the command returned; its value is on stdout\n"
        "  1  the server answered with an error: \"vessel: qmp: CLASS: DESC\" on stderr\n"
        "  2  bad arguments, or the socket could not be reached or spoke no QMP\n"
        "\n"
        "Examples:\n"
        "  vessel run --qmp unix:/tmp/vm.qmp &\n"
        "  vessel qmp /tmp/vm.qmp query-status      # {\"status\":\"running\",...}\n"
        "  vessel qmp /tmp/vm.qmp stop\n"
        "  vessel qmp /tmp/vm.qmp system_powerdown\n");
}

struct qmp_conn {
    int fd;
    json_tokener *tok;
    char buf[16384];
    size_t off, len;            /* unparsed bytes in buf */
    bool fed;                   /* part of a value is in the tokener */
};

/* The next JSON value from the server; NULL (logged) on EOF or bad JSON. */
static json_object *conn_read(struct qmp_conn *c, const char *path)
{
    for (;;) {
        while (c->off < c->len) {
            char ch = c->buf[c->off];
            if (!c->fed && (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t')) {
                c->off++;
                continue;
            }
            json_object *o = json_tokener_parse_ex(c->tok, c->buf + c->off, (int)(c->len - c->off));
            enum json_tokener_error e = json_tokener_get_error(c->tok);
            size_t used = json_tokener_get_parse_end(c->tok);
            if (e == json_tokener_continue) {
                c->off = c->len;
                c->fed = true;
                break;
            }
            c->off += used;
            c->fed = false;
            json_tokener_reset(c->tok);
            if (e != json_tokener_success || !o) {
                log_error("qmp: %s: the server sent bad JSON (%s)", path, json_tokener_error_desc(e));
                json_object_put(o);
                return NULL;
            }
            return o;
        }
        ssize_t n;
        do
            n = recv(c->fd, c->buf, sizeof(c->buf), 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            log_error("qmp: %s: %s", path, n == 0 ? "the server closed the connection" : strerror(errno));
            return NULL;
        }
        c->off = 0;
        c->len = (size_t)n;
    }
}

/* send(MSG_NOSIGNAL): a server that went away is an error, not SIGPIPE */
static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int conn_send(struct qmp_conn *c, const char *path, json_object *msg)
{
    size_t n;
    const char *t = json_object_to_json_string_length(msg, JSON_OUT, &n);
    /* one write with the newline: the server may act (quit) and close as
     * soon as the object is complete */
    char *line = xasprintf("%s\n", t);
    int r = send_all(c->fd, line, n + 1);
    free(line);
    if (r < 0) {
        log_error("qmp: %s: write: %s", path, strerror(errno));
        return -EIO;
    }
    return 0;
}

/* Send one command, wait for its reply (events before it are printed with
 * --events). 0 and *ret, 1 with the error printed, 2 on a transport error. */
static int conn_execute(struct qmp_conn *c, const char *path, const char *cmd, json_object *args,
                        bool events, json_object **ret)
{
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(msg, "arguments", json_object_get(args));
    int r = conn_send(c, path, msg);
    json_object_put(msg);
    if (r)
        return 2;
    for (;;) {
        json_object *o = conn_read(c, path), *v;
        if (!o)
            return 2;
        if (json_object_object_get_ex(o, "return", &v)) {
            *ret = json_object_get(v);
            json_object_put(o);
            return 0;
        }
        if (json_object_object_get_ex(o, "error", &v)) {
            json_object *cls = json_object_object_get(v, "class"), *desc = json_object_object_get(v, "desc");
            log_error("qmp: %s: %s", cls ? json_object_get_string(cls) : "Error",
                      desc ? json_object_get_string(desc) : "(no description)");
            json_object_put(o);
            return 1;
        }
        if (json_object_object_get_ex(o, "event", &v)) {
            if (events)
                printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT));
            json_object_put(o);
            continue;
        }
        log_error("qmp: %s: unexpected message %s", path, json_object_to_json_string_ext(o, JSON_OUT));
        json_object_put(o);
        return 2;
    }
}

/* After the reply: the first event named `name`, printed. 0, or 2 when the
 * connection ends first. */
static int conn_wait_event(struct qmp_conn *c, const char *path, const char *name)
{
    for (;;) {
        json_object *o = conn_read(c, path), *v;
        if (!o)
            return 2;
        bool hit = json_object_object_get_ex(o, "event", &v) && !strcmp(json_object_get_string(v), name);
        if (hit)
            printf("%s\n", json_object_to_json_string_ext(o, JSON_OUT));
        json_object_put(o);
        if (hit)
            return 0;
    }
}

enum { O_PRETTY = 256, O_EVENTS, O_WAIT };

int cmd_qmp(int argc, char **argv)
{
    static const struct option opts[] = {
        { "pretty", no_argument, 0, O_PRETTY }, { "events", no_argument, 0, O_EVENTS },
        { "wait-event", required_argument, 0, O_WAIT },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    bool pretty = false, events = false;
    const char *wait_ev = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PRETTY: pretty = true; break;
        case O_EVENTS: events = true; break;
        case O_WAIT: wait_ev = optarg; break;
        case 'h': qmp_usage(stdout); return 0;
        default:
            fprintf(stderr, "See 'vessel qmp --help'.\n");
            return 2;
        }
    }
    if (argc - optind < 2 || argc - optind > 3) {
        log_error("qmp: need PATH COMMAND [JSON-ARGS]; see 'vessel qmp --help'");
        return 2;
    }
    const char *path = argv[optind], *cmd = argv[optind + 1];
    json_object *args = NULL;
    if (argc - optind == 3) {
        enum json_tokener_error e;
        args = json_tokener_parse_verbose(argv[optind + 2], &e);
        if (!args || !json_object_is_type(args, json_type_object)) {
            log_error("qmp: JSON-ARGS '%s': %s", argv[optind + 2],
                      args ? "not a JSON object" : json_tokener_error_desc(e));
            json_object_put(args);
            return 2;
        }
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_error("qmp: %s: socket path longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
        json_object_put(args);
        return 2;
    }
    strcpy(sa.sun_path, path);
    struct qmp_conn conn = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    if (conn.fd < 0 || connect(conn.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        log_error("qmp: %s: %s", path, strerror(errno));
        if (conn.fd >= 0)
            close(conn.fd);
        json_object_put(args);
        return 2;
    }
    conn.tok = json_tokener_new();
    int rc = 2;
    json_object *greeting = conn_read(&conn, path), *ret = NULL;
    if (!greeting || !json_object_object_get_ex(greeting, "QMP", NULL)) {
        if (greeting)
            log_error("qmp: %s: no QMP greeting (got %s)", path, json_object_to_json_string_ext(greeting, JSON_OUT));
        goto out;
    }
    rc = conn_execute(&conn, path, "qmp_capabilities", NULL, false, &ret);
    json_object_put(ret);
    ret = NULL;
    if (rc == 0 && strcmp(cmd, "qmp_capabilities"))
        rc = conn_execute(&conn, path, cmd, args, events, &ret);
    if (rc == 0 && ret)
        printf("%s\n", json_object_to_json_string_ext(ret, pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE : JSON_OUT));
    else if (rc == 0)
        printf("{}\n");
    if (rc == 0 && wait_ev) {
        fflush(stdout);
        rc = conn_wait_event(&conn, path, wait_ev);
    }
out:
    json_object_put(greeting);
    json_object_put(ret);
    json_object_put(args);
    json_tokener_free(conn.tok);
    close(conn.fd);
    fflush(stdout);
    return rc;
}

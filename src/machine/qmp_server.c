/* QMP's socket server: the listening unix socket (0600, QEMU's option
 * shape), one client at a time on the machine's event loop, events queued
 * from any thread, BALLOON_CHANGE throttled as QEMU does. The protocol
 * itself is qmp.c's session. See machine/qmp.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"
#include "machine/qmp.h"

/* ==== the socket server ==== */
struct qmp_server {
    struct loop *loop;
    const struct qmp_ops *ops;
    void *opaque;
    struct qmp_spec spec;
    struct sock_path sock;      /* the socket file we made: removed at the end, if still ours */
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
    int fd = unix_listen(s->spec.path, SOCK_NONBLOCK, 8, &s->sock);
    if (fd < 0) {
        log_error("--qmp unix:%s: %s", s->spec.path, unix_listen_strerror(fd));
        return fd;
    }
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
        sock_path_remove(&s->sock);
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

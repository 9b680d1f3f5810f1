/* User-mode networking with libslirp, driven by the event loop.
 *
 * libslirp (and the GLib and PCRE2 it pulls in) is loaded with dlopen when
 * a machine asks for user networking, not linked: a process that does not
 * use it does not pay for loading and relocating three libraries at every
 * start (bench/snapshot: restore time). The library is never unloaded
 * (RTLD_NODELETE: GLib cannot be). */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <slirp/libslirp.h>

#include "backend/backend.h"
#include "base/base.h"

#define SLIRP_SONAME "libslirp.so.0"

/* The libslirp functions vessel calls, resolved from the loaded library;
 * their types are the header's, so a mismatch is a compile error. */
#define SLIRP_FUNCS(X) \
    X(slirp_new) X(slirp_cleanup) X(slirp_input) X(slirp_add_hostfwd) \
    X(slirp_pollfds_fill) X(slirp_pollfds_poll) \
    X(slirp_state_save) X(slirp_state_load) X(slirp_state_version)

struct slirp_api {
#define SLIRP_FIELD(f) __typeof__(f) *f;
    SLIRP_FUNCS(SLIRP_FIELD)
#undef SLIRP_FIELD
};

struct net_slirp {
    struct net_backend be;
    struct loop *loop;
    Slirp *slirp;
    struct slirp_api api;
};

/* Load libslirp and resolve every function vessel uses into api. */
static int slirp_api_load(struct slirp_api *api)
{
    void *dl = dlopen(SLIRP_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) {
        log_error("--net user: cannot load %s (package libslirp0): %s", SLIRP_SONAME, dlerror());
        return -ENOENT;
    }
#define SLIRP_RESOLVE(f) \
    if (!(*(void **)&api->f = dlsym(dl, #f))) { \
        log_error("--net user: %s has no %s: %s", SLIRP_SONAME, #f, dlerror()); \
        return -ENOENT; \
    }
    SLIRP_FUNCS(SLIRP_RESOLVE)
#undef SLIRP_RESOLVE
    return 0;
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    if (s->be.receive)
        s->be.receive(s->be.rx_opaque, buf, len);
    return (ssize_t)len;   /* no buffer in the guest: dropped, like a full wire */
}

static void cb_guest_error(const char *msg, void *opaque)
{
    log_guest("user net: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return (int64_t)time_ns();
}

struct slirp_timer { struct loop_timer *t; SlirpTimerCb cb; void *cb_opaque; };

static void timer_fire(void *opaque)
{
    struct slirp_timer *st = opaque;
    st->cb(st->cb_opaque);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct net_slirp *s = opaque;
    struct slirp_timer *st = xzalloc(sizeof(*st));
    st->cb = cb;
    st->cb_opaque = cb_opaque;
    st->t = loop_timer_new(s->loop, timer_fire, st);
    return st;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct slirp_timer *st = timer;
    loop_timer_free(st->t);
    free(st);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *st = timer;
    loop_timer_mod(st->t, expire_ms > 0 ? (uint64_t)expire_ms : 1);
}

static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}
static void cb_notify(void *opaque) {}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

static int add_poll(int fd, int events, void *opaque)
{
    short ev = 0;
    if (events & SLIRP_POLL_IN) ev |= POLLIN;
    if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
    return loop_poll_add(opaque, fd, ev);
}

static int get_revents(int idx, void *opaque)
{
    short r = loop_poll_revents(opaque, idx);
    int ev = 0;
    if (r & POLLIN) ev |= SLIRP_POLL_IN;
    if (r & POLLOUT) ev |= SLIRP_POLL_OUT;
    if (r & POLLPRI) ev |= SLIRP_POLL_PRI;
    if (r & POLLERR) ev |= SLIRP_POLL_ERR;
    if (r & POLLHUP) ev |= SLIRP_POLL_HUP;
    return ev;
}

static void hook_prepare(void *opaque, struct loop *l, int *timeout_ms)
{
    struct net_slirp *s = opaque;
    uint32_t t = UINT32_MAX;
    s->api.slirp_pollfds_fill(s->slirp, &t, add_poll, l);
    *timeout_ms = t == UINT32_MAX ? -1 : (int)MIN(t, 60000u);
}

static void hook_dispatch(void *opaque, struct loop *l, bool error)
{
    struct net_slirp *s = opaque;
    s->api.slirp_pollfds_poll(s->slirp, error, get_revents, l);
}

static int slirp_be_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_slirp *s = (struct net_slirp *)be;
    s->api.slirp_input(s->slirp, frame, (int)len);
    return 0;
}

static void slirp_be_rx_ready(struct net_backend *be) {}

/* ---- snapshot: slirp_state_save / slirp_state_load, on the loop thread ---- */
struct slirp_io {
    struct net_slirp *s;
    uint8_t **buf;
    size_t *len;
    const uint8_t *in;
    size_t in_len, pos;
    int ret;
};

static ssize_t state_write(const void *buf, size_t len, void *opaque)
{
    struct slirp_io *io = opaque;
    *io->buf = xrealloc(*io->buf, *io->len + len);
    memcpy(*io->buf + *io->len, buf, len);
    *io->len += len;
    return (ssize_t)len;
}

static ssize_t state_read(void *buf, size_t len, void *opaque)
{
    struct slirp_io *io = opaque;
    size_t n = MIN(len, io->in_len - io->pos);
    memcpy(buf, io->in + io->pos, n);
    if (n < len)
        memset((uint8_t *)buf + n, 0, len - n);
    io->pos += n;
    return (ssize_t)n;
}

static void do_state_save(void *arg)
{
    struct slirp_io *io = arg;
    uint32_t ver = (uint32_t)io->s->api.slirp_state_version();
    state_write(&ver, sizeof(ver), io);
    io->s->api.slirp_state_save(io->s->slirp, state_write, io);
}

static void do_state_load(void *arg)
{
    struct slirp_io *io = arg;
    uint32_t ver;
    if (io->in_len < sizeof(ver)) {
        io->ret = -EINVAL;
        return;
    }
    memcpy(&ver, io->in, sizeof(ver));
    io->pos = sizeof(ver);
    if (ver == 0 || ver > (uint32_t)io->s->api.slirp_state_version()) {
        io->ret = -EINVAL;
        return;
    }
    io->ret = io->s->api.slirp_state_load(io->s->slirp, (int)ver, state_read, io) < 0 || io->pos != io->in_len ? -EINVAL : 0;
}

static int slirp_be_state_save(struct net_backend *be, uint8_t **buf, size_t *len)
{
    struct slirp_io io = { .s = (struct net_slirp *)be, .buf = buf, .len = len };
    int r = loop_call(io.s->loop, do_state_save, &io);
    return r ? r : io.ret;
}

static int slirp_be_state_load(struct net_backend *be, const uint8_t *buf, size_t len)
{
    struct slirp_io io = { .s = (struct net_slirp *)be, .in = buf, .in_len = len };
    int r = loop_call(io.s->loop, do_state_load, &io);
    return r ? r : io.ret;
}

static void slirp_be_destroy(struct net_backend *be)
{
    struct net_slirp *s = (struct net_slirp *)be;
    loop_del_hook(s->loop, s);
    s->api.slirp_cleanup(s->slirp);
    free(s);
}

/* slirp_add_hostfwd, tried again every millisecond for up to busy_wait_ms
 * while the port is taken (libslirp does not say why a bind failed; the
 * holder's exit has no event to wait on). */
static int add_fwd(struct net_slirp *s, const struct net_hostfwd *f, struct in_addr host, struct in_addr guest,
                   unsigned busy_wait_ms)
{
    uint64_t until = time_ns() + (uint64_t)busy_wait_ms * 1000000u;
    for (;;) {
        if (s->api.slirp_add_hostfwd(s->slirp, f->udp, host, f->host_port, guest, f->guest_port) == 0)
            return 0;
        if (time_ns() >= until)
            return -1;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

struct net_backend *net_slirp_create(struct loop *loop, const struct net_hostfwd *fwd, unsigned nfwd,
                                     bool restricted, bool no_host_loopback, unsigned busy_wait_ms)
{
    struct net_slirp *s = xzalloc(sizeof(*s));
    if (slirp_api_load(&s->api) < 0) {
        free(s);
        return NULL;
    }
    s->loop = loop;
    s->be.send = slirp_be_send;
    s->be.rx_ready = slirp_be_rx_ready;
    s->be.destroy = slirp_be_destroy;
    s->be.state_save = slirp_be_state_save;
    s->be.state_load = slirp_be_state_load;
    s->be.name = "user";
    SlirpConfig cfg = { .version = 1 };
    cfg.in_enabled = true;
    cfg.restricted = restricted;
    cfg.disable_host_loopback = no_host_loopback;
    inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
    inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
    inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
    inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
    cfg.if_mtu = 1500;
    cfg.if_mru = 1500;
    cfg.vhostname = "vessel";
    s->slirp = s->api.slirp_new(&cfg, &slirp_cbs, s);
    if (!s->slirp) {
        log_error("--net user: libslirp refused its configuration");
        free(s);
        return NULL;
    }
    struct in_addr host, guest;
    inet_pton(AF_INET, "127.0.0.1", &host);
    inet_pton(AF_INET, "10.0.2.15", &guest);
    for (unsigned i = 0; i < nfwd; i++)
        if (add_fwd(s, &fwd[i], host, guest, busy_wait_ms) < 0) {
            log_error("--net user: cannot forward %s port 127.0.0.1:%u (in use?)",
                      fwd[i].udp ? "udp" : "tcp", fwd[i].host_port);
            s->api.slirp_cleanup(s->slirp);
            free(s);
            return NULL;
        }
    struct loop_hook h = { hook_prepare, hook_dispatch, s };
    loop_add_hook(loop, &h);
    return &s->be;
}

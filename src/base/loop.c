/* Event loop: epoll for registered fds, plus poll() rounds for hooks whose
 * fd set changes every round (the epoll fd itself is one of the polled fds). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "base/base.h"

struct loop_fd {
    int fd;
    loop_fd_cb cb;
    void *opaque;
    bool dead;
    struct loop_fd *next;       /* list of all entries */
};

struct loop_timer {
    struct loop *l;
    loop_cb cb;
    void *opaque;
    uint64_t expire;            /* 0 = disarmed */
    uint64_t round;             /* loop round it last fired in */
    struct loop_timer *next;
};

struct loop_event {
    struct loop *l;
    int fd;
    loop_cb cb;
    void *opaque;
};

#define LOOP_MAX_HOOKS 8

struct loop {
    int epfd;
    int wake_fd;                /* eventfd used by loop_stop */
    pthread_mutex_t lock;       /* fds list */
    struct loop_fd *fds;
    struct loop_timer *timers;
    struct loop_hook hooks[LOOP_MAX_HOOKS];
    unsigned nhooks;
    struct pollfd *pfd;
    unsigned npfd, cap_pfd;
    pthread_t thread;
    bool running, stop;
    uint64_t round;
};

static void wake_cb(void *opaque, int fd, uint32_t events)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) { /* nothing to do */ }
}

struct loop *loop_new(void)
{
    struct loop *l = xzalloc(sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wake_fd < 0) {
        log_error("event loop: %s", strerror(errno));
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wake_fd >= 0)
            close(l->wake_fd);
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    loop_add_fd(l, l->wake_fd, EPOLLIN, wake_cb, l);
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    loop_stop(l);
    for (struct loop_fd *f = l->fds, *n; f; f = n) {
        n = f->next;
        free(f);
    }
    for (struct loop_timer *t = l->timers, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    close(l->epfd);
    close(l->wake_fd);
    free(l->pfd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *opaque)
{
    struct loop_fd *f = xzalloc(sizeof(*f));
    f->fd = fd;
    f->cb = cb;
    f->opaque = opaque;
    struct epoll_event ev = { .events = events, .data.ptr = f };
    pthread_mutex_lock(&l->lock);
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        pthread_mutex_unlock(&l->lock);
        free(f);
        return -e;
    }
    f->next = l->fds;
    l->fds = f;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static struct loop_fd *find_fd(struct loop *l, int fd)
{
    for (struct loop_fd *f = l->fds; f; f = f->next)
        if (f->fd == fd && !f->dead)
            return f;
    return NULL;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
    int r = -ENOENT;
    pthread_mutex_lock(&l->lock);
    struct loop_fd *f = find_fd(l, fd);
    if (f) {
        struct epoll_event ev = { .events = events, .data.ptr = f };
        r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

void loop_del_fd(struct loop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    struct loop_fd *f = find_fd(l, fd);
    if (f) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        f->dead = true;         /* freed after the current dispatch round */
    }
    pthread_mutex_unlock(&l->lock);
}

static void reap_fds(struct loop *l)
{
    pthread_mutex_lock(&l->lock);
    for (struct loop_fd **p = &l->fds; *p;) {
        struct loop_fd *f = *p;
        if (f->dead) {
            *p = f->next;
            free(f);
        } else {
            p = &f->next;
        }
    }
    pthread_mutex_unlock(&l->lock);
}

struct loop_timer *loop_timer_new(struct loop *l, loop_cb cb, void *opaque)
{
    struct loop_timer *t = xzalloc(sizeof(*t));
    t->l = l;
    t->cb = cb;
    t->opaque = opaque;
    t->round = UINT64_MAX;
    t->next = l->timers;
    l->timers = t;
    return t;
}

void loop_timer_mod(struct loop_timer *t, uint64_t expire_ms)
{
    t->expire = expire_ms ? expire_ms : 1;
}

void loop_timer_del(struct loop_timer *t)
{
    t->expire = 0;
}

void loop_timer_free(struct loop_timer *t)
{
    if (!t)
        return;
    for (struct loop_timer **p = &t->l->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    free(t);
}

static void event_cb(void *opaque, int fd, uint32_t events)
{
    struct loop_event *e = opaque;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) == sizeof(v))
        e->cb(e->opaque);
}

struct loop_event *loop_event_new(struct loop *l, loop_cb cb, void *opaque)
{
    struct loop_event *e = xzalloc(sizeof(*e));
    e->l = l;
    e->cb = cb;
    e->opaque = opaque;
    e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->fd < 0 || loop_add_fd(l, e->fd, EPOLLIN, event_cb, e) < 0) {
        log_error("event loop: eventfd: %s", strerror(errno));
        if (e->fd >= 0)
            close(e->fd);
        free(e);
        return NULL;
    }
    return e;
}

void loop_event_notify(struct loop_event *e)
{
    uint64_t one = 1;
    if (write(e->fd, &one, sizeof(one)) < 0) { /* counter saturated: already pending */ }
}

void loop_event_free(struct loop_event *e)
{
    if (!e)
        return;
    loop_del_fd(e->l, e->fd);
    close(e->fd);
    free(e);
}

void loop_add_hook(struct loop *l, const struct loop_hook *h)
{
    if (l->nhooks < LOOP_MAX_HOOKS)
        l->hooks[l->nhooks++] = *h;
}

void loop_del_hook(struct loop *l, void *opaque)
{
    for (unsigned i = 0; i < l->nhooks; i++)
        if (l->hooks[i].opaque == opaque) {
            l->hooks[i] = l->hooks[--l->nhooks];
            return;
        }
}

int loop_poll_add(struct loop *l, int fd, short events)
{
    if (l->npfd == l->cap_pfd) {
        l->cap_pfd = l->cap_pfd ? 2 * l->cap_pfd : 32;
        l->pfd = xrealloc(l->pfd, l->cap_pfd * sizeof(*l->pfd));
    }
    l->pfd[l->npfd] = (struct pollfd){ .fd = fd, .events = events };
    return (int)l->npfd++;
}

short loop_poll_revents(struct loop *l, int idx)
{
    return idx >= 0 && (unsigned)idx < l->npfd ? l->pfd[idx].revents : 0;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    uint64_t now = time_ms();
    for (struct loop_timer *t = l->timers; t; t = t->next)
        if (t->expire) {
            int d = t->expire <= now ? 0 : (int)MIN(t->expire - now, 60000);
            if (timeout_ms < 0 || d < timeout_ms)
                timeout_ms = d;
        }
    l->npfd = 0;
    loop_poll_add(l, l->epfd, POLLIN);
    for (unsigned i = 0; i < l->nhooks; i++) {
        int t = -1;
        l->hooks[i].prepare(l->hooks[i].opaque, l, &t);
        if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
            timeout_ms = t;
    }
    int n = poll(l->pfd, l->npfd, timeout_ms);
    if (n < 0 && errno != EINTR)
        return -errno;
    now = time_ms();
    /* Fire expired timers one at a time, rescanning after each: a callback
     * may add, re-arm or free timers. A timer re-armed into the past waits
     * for the next round. */
    for (unsigned fired = 0; fired < 1024; fired++) {
        struct loop_timer *t = l->timers;
        while (t && !(t->expire && t->expire <= now && t->round != l->round))
            t = t->next;
        if (!t)
            break;
        t->expire = 0;
        t->round = l->round;
        t->cb(t->opaque);
    }
    l->round++;
    if (n > 0 && l->pfd[0].revents) {
        struct epoll_event ev[64];
        int k = epoll_wait(l->epfd, ev, 64, 0);
        for (int i = 0; i < k; i++) {
            struct loop_fd *f = ev[i].data.ptr;
            if (!f->dead)
                f->cb(f->opaque, f->fd, ev[i].events);
        }
        reap_fds(l);
    }
    for (unsigned i = 0; i < l->nhooks; i++)
        l->hooks[i].dispatch(l->hooks[i].opaque, l, n < 0);
    return 0;
}

static void *loop_thread(void *arg)
{
    struct loop *l = arg;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
        if (loop_run_once(l, -1) < 0)
            break;
    return NULL;
}

int loop_start(struct loop *l)
{
    l->stop = false;
    int r = thread_spawn(&l->thread, loop_thread, l);
    if (r) {
        log_error("event loop: cannot start the I/O thread: %s", strerror(r));
        return -r;
    }
    l->running = true;
    return 0;
}

void loop_stop(struct loop *l)
{
    if (!l->running)
        return;
    __atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof(one)) < 0) { /* already pending */ }
    pthread_join(l->thread, NULL);
    l->running = false;
}

bool loop_on_thread(struct loop *l)
{
    return l->running && pthread_equal(pthread_self(), l->thread);
}

/* ---- running a function on the loop's thread ---- */
struct loop_call {
    loop_cb fn;
    void *arg;
    bool done;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void loop_call_cb(void *opaque)
{
    struct loop_call *c = opaque;
    c->fn(c->arg);
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int loop_call(struct loop *l, loop_cb fn, void *arg)
{
    if (!l->running || loop_on_thread(l)) {
        fn(arg);
        return 0;
    }
    struct loop_call c = { fn, arg, false, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };
    struct loop_event *e = loop_event_new(l, loop_call_cb, &c);
    if (!e)
        return -ENOMEM;
    loop_event_notify(e);
    pthread_mutex_lock(&c.lock);
    while (!c.done)
        pthread_cond_wait(&c.cond, &c.lock);
    pthread_mutex_unlock(&c.lock);
    loop_event_free(e);
    return 0;
}

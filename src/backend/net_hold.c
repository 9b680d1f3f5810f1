/* Output commit for network backends (hot-spare replication): frames the
 * guest sends while held wait here, in order, until released up to a
 * mark; they then go out on the backend's loop thread (libslirp wants
 * that thread), still in order. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "backend/backend.h"
#include "base/base.h"

struct held_frame {
    uint8_t *data;
    size_t len;
};

struct net_hold {
    struct net_backend *be;
    struct loop_event *ev;
    pthread_mutex_t lock;
    bool on;
    struct held_frame *q;           /* ring */
    size_t head, n, cap, bytes;
    uint64_t base;                  /* sequence number of q[head] */
    uint64_t release_to;            /* frames before this go out */
    uint64_t dropped;
};

/* Loop thread: send what is released, in order. */
static void hold_flush(void *opaque)
{
    struct net_hold *h = opaque;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        if (!h->n || h->base >= h->release_to) {
            pthread_mutex_unlock(&h->lock);
            return;
        }
        struct held_frame f = h->q[h->head];
        h->head = (h->head + 1) % h->cap;
        h->n--;
        h->bytes -= f.len;
        h->base++;
        pthread_mutex_unlock(&h->lock);
        h->be->send(h->be, f.data, f.len);      /* a full queue drops, like a wire */
        free(f.data);
    }
}

int net_hold_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_hold *h = be->hold;
    pthread_mutex_lock(&h->lock);
    if (!h->on && !h->n) {
        pthread_mutex_unlock(&h->lock);
        return be->send(be, frame, len);
    }
    if (h->bytes + len > NET_HOLD_MAX) {
        h->dropped++;
        pthread_mutex_unlock(&h->lock);
        return -ENOBUFS;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct held_frame *q = xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < h->n; i++)
            q[i] = h->q[(h->head + i) % h->cap];
        free(h->q);
        h->q = q;
        h->head = 0;
        h->cap = cap;
    }
    struct held_frame *f = &h->q[(h->head + h->n) % h->cap];
    f->data = xmalloc(len ? len : 1);
    memcpy(f->data, frame, len);
    f->len = len;
    h->n++;
    h->bytes += len;
    bool go = !h->on;
    pthread_mutex_unlock(&h->lock);
    if (go)
        loop_event_notify(h->ev);
    return 0;
}

int net_backend_hold(struct net_backend *be, struct loop *loop, bool on)
{
    if (!be->hold) {
        if (!on)
            return 0;
        struct net_hold *h = xzalloc(sizeof(*h));
        h->be = be;
        pthread_mutex_init(&h->lock, NULL);
        h->ev = loop_event_new(loop, hold_flush, h);
        if (!h->ev) {
            pthread_mutex_destroy(&h->lock);
            free(h);
            return -ENOMEM;
        }
        be->hold = h;
    }
    struct net_hold *h = be->hold;
    pthread_mutex_lock(&h->lock);
    h->on = on;
    if (!on)
        h->release_to = UINT64_MAX;
    pthread_mutex_unlock(&h->lock);
    if (!on)
        loop_event_notify(h->ev);
    return 0;
}

uint64_t net_backend_hold_mark(struct net_backend *be)
{
    struct net_hold *h = be->hold;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    uint64_t m = h->base + h->n;
    pthread_mutex_unlock(&h->lock);
    return m;
}

void net_backend_release(struct net_backend *be, uint64_t mark)
{
    struct net_hold *h = be->hold;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    if (h->release_to != UINT64_MAX && mark > h->release_to)
        h->release_to = mark;
    pthread_mutex_unlock(&h->lock);
    loop_event_notify(h->ev);
}

uint64_t net_backend_hold_dropped(struct net_backend *be)
{
    struct net_hold *h = be->hold;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    uint64_t d = h->dropped;
    pthread_mutex_unlock(&h->lock);
    return d;
}

void net_hold_free(struct net_backend *be)
{
    struct net_hold *h = be->hold;
    if (!h)
        return;
    loop_event_free(h->ev);
    for (size_t i = 0; i < h->n; i++)
        free(h->q[(h->head + i) % h->cap].data);
    free(h->q);
    pthread_mutex_destroy(&h->lock);
    free(h);
    be->hold = NULL;
}

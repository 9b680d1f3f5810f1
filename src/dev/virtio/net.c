/* virtio-net: one rx/tx queue pair, no offloads. Queue work runs on the
 * event loop thread (where the backend lives); notify only wakes it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/virtio/vhost.h"
#include "dev/virtio/virtio.h"

enum { NET_F_MRG_RXBUF = 15, NET_F_MAC = 5, NET_F_STATUS = 16 };
#define NET_BAD_VHOST 20            /* virtio_needs_reset kind (core's are below 16) */
#define NET_S_LINK_UP 1
#define NET_HDR_LEN 12              /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define NET_FRAME_MAX (65536 + NET_HDR_LEN)
enum { RXQ = 0, TXQ = 1 };
#define NET_BACKLOG 128

struct net_config {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
    uint16_t mtu;
} __attribute__((packed));

struct virtio_net {
    struct virtio_dev vdev;
    struct net_config cfg;
    struct net_backend *be;
    struct loop *loop;
    struct loop_event *tx_ev, *rx_ev;
    struct virtq_elem elem;          /* used on the loop thread only */
    uint8_t frame[NET_FRAME_MAX];
    uint64_t rx_dropped, tx_dropped;
    /* frames that came while the guest had no receive buffer (loop thread only) */
    struct { uint8_t *data; size_t len; } backlog[NET_BACKLOG];
    unsigned bl_head, bl_count;
    bool paused;                     /* machine paused: frames wait in the backlog, TX waits */
    /* a frame taken from the TX ring (its buffer already used) is being
     * handed to the backend, lock dropped: a pause waits for it, so that
     * a checkpoint's state and its held output agree on every frame */
    bool tx_sending;
    pthread_cond_t tx_sent;
    /* vhost-net (--net tap,vhost=on): the kernel moves the packets */
    struct vhost_net vh;
    bool vh_open;                    /* /dev/vhost-net is ours: the device uses it when the driver starts */
    bool vh_failed;                  /* the kernel refused the device once: vessel moves the packets for good */
    bool vh_held;                    /* the tap and the doorbells are the kernel's (vessel reads neither) */
    int vh_kick[VHOST_NET_QUEUES];   /* what the kernel reads for each queue's notifications */
    struct vh_cb { struct virtio_net *n; unsigned q; } vh_cb[VHOST_NET_QUEUES];
};

/* Put one frame into the next receive buffer: 1 = delivered (or dropped as
 * too big for the buffer), 0 = no buffer. Lock held. */
static int rx_one(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    struct virtio_dev *d = &n->vdev;
    struct virtq_elem *e = &n->elem;
    if (virtq_pop(d, RXQ, e) != 1)
        return 0;
    if (e->in_len < NET_HDR_LEN + len) {
        /* buffer too small for this frame (no MRG_RXBUF): drop the frame */
        log_guest("virtio-net: receive buffer of %llu bytes too small for a %zu byte frame",
                  (unsigned long long)e->in_len, len);
        virtq_push(d, RXQ, e, 0);
        n->rx_dropped++;
        return 1;
    }
    uint8_t hdr[NET_HDR_LEN] = { 0 };
    hdr[10] = 1;   /* num_buffers = 1 */
    iov_from_buf(e->in, e->in_num, 0, hdr, NET_HDR_LEN);
    iov_from_buf(e->in, e->in_num, NET_HDR_LEN, frame, len);
    virtq_push(d, RXQ, e, (uint32_t)(NET_HDR_LEN + len));
    return 1;
}

/* Deliver queued frames while the guest has buffers. Lock held. */
static void rx_flush(struct virtio_net *n)
{
    bool any = false;
    while (n->bl_count) {
        unsigned i = n->bl_head;
        if (!rx_one(n, n->backlog[i].data, n->backlog[i].len))
            break;
        free(n->backlog[i].data);
        n->backlog[i].data = NULL;
        n->bl_head = (i + 1) % NET_BACKLOG;
        n->bl_count--;
        any = true;
    }
    if (any)
        virtq_notify(&n->vdev, RXQ);
}

size_t virtio_net_receive(struct virtio_net *n, const uint8_t *frame, size_t len)
{
    struct virtio_dev *d = &n->vdev;
    size_t ret = len;
    pthread_mutex_lock(&d->lock);
    if (n->vh_held) {               /* read just before the kernel took the tap */
        n->rx_dropped++;
        pthread_mutex_unlock(&d->lock);
        return len;
    }
    if (!n->paused)
        rx_flush(n);
    if (!n->paused && !n->bl_count && rx_one(n, frame, len)) {
        virtq_notify(d, RXQ);
    } else if (n->bl_count < NET_BACKLOG && virtio_running(d) && len <= NET_FRAME_MAX) {
        unsigned i = (n->bl_head + n->bl_count++) % NET_BACKLOG;
        n->backlog[i].data = xmalloc(len);
        memcpy(n->backlog[i].data, frame, len);
        n->backlog[i].len = len;
    } else {
        n->rx_dropped++;
        ret = 0;   /* full: a tap backend stops reading until rx_ready */
    }
    pthread_mutex_unlock(&d->lock);
    return ret;
}

static size_t be_receive(void *opaque, const uint8_t *frame, size_t len)
{
    return virtio_net_receive(opaque, frame, len);
}

void virtio_net_process_tx(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    struct virtq_elem *e = &n->elem;
    bool any = false;
    pthread_mutex_lock(&d->lock);
    for (int budget = 0; budget < 256 && !n->paused && !n->vh_held; budget++) {
        if (virtq_pop(d, TXQ, e) != 1)
            break;
        any = true;
        size_t len = 0;
        uint8_t hdr[NET_HDR_LEN] = { 0 };
        bool ok = e->out_len >= NET_HDR_LEN && e->out_len - NET_HDR_LEN <= sizeof(n->frame);
        if (ok) {
            iov_to_buf(e->out, e->out_num, 0, hdr, NET_HDR_LEN);
            len = iov_to_buf(e->out, e->out_num, NET_HDR_LEN, n->frame, e->out_len - NET_HDR_LEN);
        }
        virtq_push(d, TXQ, e, 0);
        /* offloads (offered with vhost-net, which failed): the tap does
         * the checksum and segmentation the guest's header asks for */
        bool vnet = (d->guest_features & VHOST_NET_OFFLOADS) && n->be && n->be->send_vnet;
        if (!ok || len < 14) {
            log_guest("virtio-net: bad transmit buffer (%llu bytes)", (unsigned long long)e->out_len);
            n->tx_dropped++;
            continue;
        }
        n->tx_sending = true;
        pthread_mutex_unlock(&d->lock);
        hdr[10] = hdr[11] = 0;      /* num_buffers: receive only */
        bool bad = n->be && (vnet ? n->be->send_vnet(n->be, hdr, NET_HDR_LEN, n->frame, len)
                                  : net_backend_send(n->be, n->frame, len)) < 0;
        pthread_mutex_lock(&d->lock);
        n->tx_sending = false;
        pthread_cond_broadcast(&n->tx_sent);
        if (bad)
            n->tx_dropped++;
    }
    if (any)
        virtq_notify(d, TXQ);
    bool more = !n->paused && !n->vh_held && virtq_has_work(d, TXQ);
    pthread_mutex_unlock(&d->lock);
    if (more && n->tx_ev)
        loop_event_notify(n->tx_ev);   /* yield to other loop work, come back */
}

static void tx_event(void *opaque) { virtio_net_process_tx(opaque); }

static void rx_event(void *opaque)
{
    struct virtio_net *n = opaque;
    pthread_mutex_lock(&n->vdev.lock);
    if (!n->paused && !n->vh_held)
        rx_flush(n);
    bool room = !n->paused && !n->vh_held && n->bl_count < NET_BACKLOG;
    pthread_mutex_unlock(&n->vdev.lock);
    if (room && n->be && n->be->rx_ready)
        n->be->rx_ready(n->be);
}

/* ---- vhost-net ---- */

/* The kernel filled a ring and wants the guest told (loop thread). */
static void vh_call(void *opaque, int fd, uint32_t events)
{
    struct vh_cb *cb = opaque;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return;
    pthread_mutex_lock(&cb->n->vdev.lock);
    virtq_interrupt(&cb->n->vdev, cb->q);
    pthread_mutex_unlock(&cb->n->vdev.lock);
}

/* The kernel met a ring or a descriptor it cannot use (an address outside
 * the memory table, a bad index) and stopped the queue (loop thread). */
static void vh_err(void *opaque, int fd, uint32_t events)
{
    struct vh_cb *cb = opaque;
    struct virtio_dev *d = &cb->n->vdev;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return;
    pthread_mutex_lock(&d->lock);
    log_guest("%s: vhost-net stopped queue %u: a bad ring or descriptor (outside guest RAM?)", d->name, cb->q);
    if (virtio_running(d))
        virtio_needs_reset(d, NET_BAD_VHOST, "vhost-net refused a ring or descriptor");
    pthread_mutex_unlock(&d->lock);
}

/* Give the tap and the doorbells back to vessel's loop (lock held). */
static void vh_release(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    if (!n->vh_held)
        return;
    int tap = n->be->take_fd(n->be, true);     /* still ours: its fd */
    if (tap >= 0 && vhost_net_set_tap_offloads(tap, 0) < 0)
        log_once(LOG_WARN, "%s: vhost-net: TUNSETOFFLOAD 0: %s", d->name, strerror(errno));
    n->be->take_fd(n->be, false);
    for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
        if (d->tops && d->tops->doorbell_fd)
            d->tops->doorbell_fd(d, q, false);
        if (d->tops && d->tops->call_fd)
            d->tops->call_fd(d, q, -1);
    }
    n->vh_held = false;
}

/* The driver is ready (or the machine resumes): the kernel takes over
 * (lock held). A failure leaves vessel moving the packets (logged once). */
static void vh_start(struct virtio_net *n)
{
    struct virtio_dev *d = &n->vdev;
    if (!n->vh_open || n->vh_failed || n->vh.running || n->paused || !virtio_running(d))
        return;
    if (!n->vh_held) {
        int tap = n->be->take_fd(n->be, true);
        if (tap < 0)
            return;
        for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
            int fd = d->tops && d->tops->doorbell_fd ? d->tops->doorbell_fd(d, q, true) : -1;
            n->vh_kick[q] = fd >= 0 ? fd : n->vh.kick[q];
        }
        n->vh_held = true;
    }
    int tap = n->be->take_fd(n->be, true);
    if (vhost_net_start(&n->vh, d, tap, n->vh_kick) < 0) {
        vh_release(n);
        n->vh_failed = true;        /* for good: vessel's own path from now on */
        return;
    }
    /* the offloads the guest accepted, toward it: the tap may then hand
     * vhost whole TCP segments of up to 64 KiB with partial checksums */
    int r = vhost_net_set_tap_offloads(tap, vhost_net_tap_offloads(d->guest_features));
    if (r < 0)
        log_once(LOG_WARN, "%s: vhost-net: TUNSETOFFLOAD: %s (the tap sends plain frames)", d->name, strerror(-r));
    for (unsigned q = 0; q < VHOST_NET_QUEUES; q++)
        if (d->tops && d->tops->call_fd)
            d->tops->call_fd(d, q, n->vh.call[q]);   /* the engine's irqfd where it can */
}

/* Machine pause: the kernel stops (the tap and doorbells stay its, so
 * nothing is read meanwhile); reset: everything comes back. Lock held. */
static void vh_stop(struct virtio_net *n, bool release)
{
    vhost_net_stop(&n->vh, &n->vdev);
    if (release)
        vh_release(n);
}

void virtio_net_vhost(struct virtio_net *n, const char *path, const char *who)
{
    struct virtio_dev *d = &n->vdev;
    int r = -ENOTSUP;
    if (!n->be || !n->be->take_fd || !n->loop || (r = vhost_net_open(&n->vh, path)) < 0) {
        log_warn("%s: vhost=on: %s: %s; vessel moves the packets itself", who, path, strerror(-r));
        return;
    }
    for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
        n->vh_cb[q] = (struct vh_cb){ n, q };
        if (loop_add_fd(n->loop, n->vh.call[q], EPOLLIN, vh_call, &n->vh_cb[q]) < 0 ||
            loop_add_fd(n->loop, n->vh.err[q], EPOLLIN, vh_err, &n->vh_cb[q]) < 0) {
            log_warn("%s: vhost=on: the event loop refused an eventfd; vessel moves the packets itself", who);
            for (unsigned k = 0; k <= q; k++) {
                loop_del_fd(n->loop, n->vh.call[k]);
                loop_del_fd(n->loop, n->vh.err[k]);
            }
            vhost_net_close(&n->vh);
            return;
        }
    }
    /* ring features only as far as the kernel serves them; mergeable
     * receive buffers, which vessel's own path also serves (one buffer
     * each: the tap's offloads are off whenever vessel reads it); the
     * offloads, which the tap serves (vessel's own path passes the guest's
     * header to it) */
    uint64_t ring = (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << NET_F_MRG_RXBUF);
    d->host_features = (d->host_features & ~ring) | (vhost_net_ring_features(&n->vh) & ring);
    if (n->be->send_vnet)
        d->host_features |= VHOST_NET_OFFLOADS;
    n->vh_open = true;
}

bool virtio_net_vhost_on(struct virtio_net *n)
{
    return n->vh_open;
}

static void net_start(struct virtio_dev *d)
{
    vh_start(d->opaque);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_net *n = d->opaque;
    if (__atomic_load_n(&n->vh_held, __ATOMIC_ACQUIRE) && q < VHOST_NET_QUEUES) {
        uint64_t one = 1;           /* a notification that came as an MMIO exit */
        if (write(n->vh_kick[q], &one, sizeof(one)) < 0)
            log_once(LOG_WARN, "%s: vhost-net kick: %s", d->name, strerror(errno));
        return;
    }
    if (q == TXQ) {
        if (n->tx_ev)
            loop_event_notify(n->tx_ev);
        else
            virtio_net_process_tx(n);
    } else if (q == RXQ) {
        if (n->rx_ev)
            loop_event_notify(n->rx_ev);
        else
            rx_event(n);
    }
}

static void backlog_clear(struct virtio_net *n)
{
    for (unsigned k = 0; k < n->bl_count; k++) {
        unsigned i = (n->bl_head + k) % NET_BACKLOG;
        free(n->backlog[i].data);
        n->backlog[i].data = NULL;
    }
    n->bl_head = n->bl_count = 0;
}

static void net_reset(struct virtio_dev *d)
{
    vh_stop(d->opaque, true);
    backlog_clear(d->opaque);
}

/* Machine pause: nothing is written to or read from the rings; frames from
 * the backend wait in the backlog (dropped once it is full, as a full
 * ring drops them). Resume delivers them. */
static void net_pause(struct virtio_dev *d)
{
    struct virtio_net *n = d->opaque;
    n->paused = true;
    /* a frame the ring already gave up goes out (or into the replication
     * hold) before the pause returns: else a checkpoint taken now would
     * call it sent while its output mark left it for the next epoch */
    while (n->tx_sending)
        pthread_cond_wait(&n->tx_sent, &d->lock);
    vh_stop(n, false);
}

static void net_resume(struct virtio_dev *d)
{
    struct virtio_net *n = d->opaque;
    n->paused = false;
    vh_start(n);
    if (n->tx_ev)
        loop_event_notify(n->tx_ev);
    if (n->rx_ev)
        loop_event_notify(n->rx_ev);
}

static const struct virtio_dev_ops net_ops = {
    .notify = net_notify, .start = net_start, .reset = net_reset, .pause = net_pause, .resume = net_resume,
};

struct virtio_net *virtio_net_create(const uint8_t mac[6], struct net_backend *be, struct loop *loop)
{
    struct virtio_net *n = xzalloc(sizeof(*n));
    memcpy(n->cfg.mac, mac, 6);
    n->cfg.status = NET_S_LINK_UP;
    n->cfg.max_virtqueue_pairs = 1;
    n->cfg.mtu = 1500;
    n->be = be;
    n->loop = loop;
    pthread_cond_init(&n->tx_sent, NULL);
    virtio_dev_init(&n->vdev, "virtio-net", VIRTIO_ID_NET, (1ULL << NET_F_MAC) | (1ULL << NET_F_STATUS),
                    2, &n->cfg, sizeof(n->cfg), &net_ops, n);
    if (loop) {
        n->tx_ev = loop_event_new(loop, tx_event, n);
        n->rx_ev = loop_event_new(loop, rx_event, n);
    }
    if (be) {
        be->receive = be_receive;
        be->rx_opaque = n;
    }
    return n;
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n) { return &n->vdev; }

void virtio_net_destroy(struct virtio_net *n)
{
    if (!n)
        return;
    loop_event_free(n->tx_ev);
    loop_event_free(n->rx_ev);
    if (n->vh_open || n->vh.fd > 0) {
        for (unsigned q = 0; q < VHOST_NET_QUEUES; q++) {
            loop_del_fd(n->loop, n->vh.call[q]);
            loop_del_fd(n->loop, n->vh.err[q]);
        }
        pthread_mutex_lock(&n->vdev.lock);
        vh_stop(n, true);
        pthread_mutex_unlock(&n->vdev.lock);
        vhost_net_close(&n->vh);
    }
    if (n->be)
        n->be->receive = NULL;
    backlog_clear(n);
    virtio_dev_destroy(&n->vdev);
    pthread_cond_destroy(&n->tx_sent);
    free(n);
}

/* ---- --net user[,hostfwd=...][,mac=MAC] | tap,ifname=NAME[,mac=MAC] ---- */
struct net_inst {
    struct virtio_net *n;
    struct net_backend *be;
    const struct net_opts *o;
    struct loop *loop;
};

static int net_kind_parse(const char *val, void **data)
{
    struct net_opts *o = xmalloc(sizeof(*o));
    if (virtio_parse_net(val, o) < 0) {
        free(o);
        return -EINVAL;
    }
    *data = o;
    return 0;
}

/* busy_wait_ms: how long a tap or a forwarded port another process holds
 * may take to be let go (a standby taking over from a primary that is
 * still exiting). */
static struct net_backend *backend_new(const struct net_opts *o, struct loop *loop, unsigned busy_wait_ms)
{
    return o->kind == NET_USER
               ? net_slirp_create(loop, o->fwd, o->nfwd, o->restrict_net, o->no_host_loopback, busy_wait_ms)
               : net_tap_create(loop, o->ifname, busy_wait_ms);
}

static void *net_kind_create(const void *data, unsigned index, const struct virtio_host *host,
                             struct virtio_dev **dev)
{
    const struct net_opts *o = data;
    struct net_backend *be = NULL;
    if (!host->defer_net && !(be = backend_new(o, host->loop, 0)))
        return NULL;
    uint8_t mac[6];
    memcpy(mac, o->mac, 6);
    if (!o->mac_set)
        mac[5] = (uint8_t)(mac[5] + index);
    struct net_inst *ni = xzalloc(sizeof(*ni));
    ni->be = be;
    ni->o = o;
    ni->loop = host->loop;
    ni->n = virtio_net_create(mac, be, host->loop);
    if (o->kind == NET_TAP && o->vhost) {
        char who[64];
        snprintf(who, sizeof(who), "--net tap,ifname=%s", o->ifname);
        virtio_net_vhost(ni->n, o->vhostdev[0] ? o->vhostdev : "/dev/vhost-net", who);
    }
    *dev = virtio_net_dev(ni->n);
    return ni;
}

static void net_kind_destroy(void *inst)
{
    struct net_inst *ni = inst;
    virtio_net_destroy(ni->n);
    net_backend_destroy(ni->be);
    free(ni);
}

static int net_kind_save_var(void *inst, uint8_t **buf, size_t *len)
{
    struct net_inst *ni = inst;
    return ni->be && ni->be->state_save ? ni->be->state_save(ni->be, buf, len) : 0;
}

static int net_kind_load_var(void *inst, const uint8_t *buf, size_t len)
{
    struct net_inst *ni = inst;
    if (!ni->be || !ni->be->state_load)
        return len ? -EINVAL : 0;
    return ni->be->state_load(ni->be, buf, len);
}

static const char *net_kind_no_state(void *inst)
{
    struct net_inst *ni = inst;
    return virtio_net_vhost_on(ni->n)
               ? "a network device uses vhost-net (--net tap,vhost=on): its rings' state and the guest pages "
                 "the kernel writes are not tracked, so snapshots, migration and replication are refused"
               : NULL;
}

static struct net_backend *net_kind_backend(void *inst)
{
    struct net_inst *ni = inst;
    return ni->be;
}

/* A killed primary's descriptors are closed as its process is torn down,
 * which takes milliseconds, more on a loaded host. */
#define NET_TAKEOVER_WAIT_MS 2000u

/* On the loop thread (the device's TX and RX run there). */
static int net_kind_attach(void *inst)
{
    struct net_inst *ni = inst;
    if (ni->be)
        return 0;
    struct net_backend *be = backend_new(ni->o, ni->loop, NET_TAKEOVER_WAIT_MS);
    if (!be)
        return -EIO;
    pthread_mutex_lock(&ni->n->vdev.lock);
    ni->be = be;
    ni->n->be = be;
    be->receive = be_receive;
    be->rx_opaque = ni->n;
    pthread_mutex_unlock(&ni->n->vdev.lock);
    return 0;
}

const struct virtio_kind virtio_net_kind = {
    .option = "net", .device = "virtio-net", .has_value = true, .max = 4, .needs_loop = true, .parse = net_kind_parse,
    .create = net_kind_create, .destroy = net_kind_destroy,
    .save_var = net_kind_save_var, .load_var = net_kind_load_var,
    .net_backend = net_kind_backend, .net_attach = net_kind_attach, .no_state = net_kind_no_state,
};

/* vhost-net: see vhost.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/virtio/vhost.h"
#include "dev/virtio/virtio.h"

/* Ring features the virtio core offers that vhost must serve itself. */
#define RING_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC) | \
                       (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << 15 /* VIRTIO_NET_F_MRG_RXBUF */))

static void close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

int vhost_net_open(struct vhost_net *v, const char *path)
{
    memset(v, 0, sizeof(*v));
    for (unsigned q = 0; q < VHOST_NET_QUEUES; q++)
        v->call[q] = v->err[q] = v->kick[q] = -1;
    v->fd = open(path, O_RDWR | O_CLOEXEC);
    if (v->fd < 0)
        return -errno;
    int r = 0;
    if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, &v->features) < 0)
        r = -errno;
    for (unsigned q = 0; !r && q < VHOST_NET_QUEUES; q++) {
        v->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        v->err[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        v->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (v->call[q] < 0 || v->err[q] < 0 || v->kick[q] < 0)
            r = -errno;
    }
    if (r < 0)
        vhost_net_close(v);
    return r;
}

uint64_t vhost_net_ring_features(const struct vhost_net *v)
{
    return v->features & RING_FEATURES;
}

/* The guest's writable RAM regions: the only guest physical addresses
 * vhost will translate. */
static int set_mem_table(struct vhost_net *v, struct guest_mem *mem)
{
    struct vhost_memory *t = xzalloc(sizeof(*t) + MEM_MAX_REGIONS * sizeof(t->regions[0]));
    for (unsigned i = 0; i < mem->nr; i++) {
        const struct mem_region *r = &mem->r[i];
        if (r->flags & MEM_F_READONLY)
            continue;
        t->regions[t->nregions++] = (struct vhost_memory_region){
            .guest_phys_addr = r->gpa, .memory_size = r->size, .userspace_addr = (uintptr_t)r->host,
        };
    }
    int ret = ioctl(v->fd, VHOST_SET_MEM_TABLE, t) < 0 ? -errno : 0;
    free(t);
    return ret;
}

static int set_vring(struct vhost_net *v, const struct virtq *vq, unsigned q, int kick)
{
    struct vhost_vring_state num = { .index = q, .num = vq->num };
    struct vhost_vring_state base = { .index = q, .num = vq->last_avail };
    struct vhost_vring_addr addr = {
        .index = q, .desc_user_addr = (uintptr_t)vq->desc, .avail_user_addr = (uintptr_t)vq->avail,
        .used_user_addr = (uintptr_t)vq->used,
    };
    struct vhost_vring_file kf = { .index = q, .fd = kick }, cf = { .index = q, .fd = v->call[q] },
                            ef = { .index = q, .fd = v->err[q] };
    if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0 || ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
        ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0 || ioctl(v->fd, VHOST_SET_VRING_KICK, &kf) < 0 ||
        ioctl(v->fd, VHOST_SET_VRING_CALL, &cf) < 0 || ioctl(v->fd, VHOST_SET_VRING_ERR, &ef) < 0)
        return -errno;
    return 0;
}

static void set_backend(struct vhost_net *v, unsigned nq, int fd)
{
    for (unsigned q = 0; q < nq; q++) {
        struct vhost_vring_file b = { .index = q, .fd = fd };
        if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0 && fd >= 0)
            log_once(LOG_WARN, "vhost-net: VHOST_NET_SET_BACKEND(%u, -1): %s", q, strerror(errno));
    }
}

int vhost_net_start(struct vhost_net *v, struct virtio_dev *d, int tap_fd, const int kick[VHOST_NET_QUEUES])
{
    const char *what = "VHOST_SET_FEATURES";
    uint64_t f = d->guest_features & v->features;
    int r = ioctl(v->fd, VHOST_SET_FEATURES, &f) < 0 ? -errno : 0;
    if (!r) {
        what = "VHOST_SET_MEM_TABLE";
        mem_note_untracked(d->mem);     /* the kernel writes RX buffers */
        r = set_mem_table(v, d->mem);
    }
    for (unsigned q = 0; !r && q < VHOST_NET_QUEUES; q++) {
        what = "the rings";
        if (q >= d->nvq || !d->vq[q].ready)
            r = -EINVAL;
        else
            r = set_vring(v, &d->vq[q], q, kick[q]);
    }
    for (unsigned q = 0; !r && q < VHOST_NET_QUEUES; q++) {
        struct vhost_vring_file b = { .index = q, .fd = tap_fd };
        what = "VHOST_NET_SET_BACKEND";
        if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0) {
            r = -errno;
            set_backend(v, q, -1);
        }
    }
    if (r < 0) {
        log_once(LOG_WARN, "%s: vhost-net: %s: %s; vessel moves the packets itself", d->name, what, strerror(-r));
        return r;
    }
    v->running = true;
    /* a notification vessel's loop took just before the kernel got the
     * doorbell would be lost: one spurious kick is harmless */
    uint64_t one = 1;
    for (unsigned q = 0; q < VHOST_NET_QUEUES; q++)
        if (write(kick[q], &one, sizeof(one)) < 0)
            log_once(LOG_WARN, "vhost-net: kick: %s", strerror(errno));
    return 0;
}

void vhost_net_stop(struct vhost_net *v, struct virtio_dev *d)
{
    if (!v->running)
        return;
    set_backend(v, VHOST_NET_QUEUES, -1);
    for (unsigned q = 0; q < VHOST_NET_QUEUES && q < d->nvq; q++) {
        struct virtq *vq = &d->vq[q];
        struct vhost_vring_state st = { .index = q };
        if (ioctl(v->fd, VHOST_GET_VRING_BASE, &st) == 0)
            vq->last_avail = (uint16_t)st.num;
        if (vq->ready && vq->used) {
            vq->used_idx = __atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE);
            vq->signalled_valid = false;
        }
    }
    v->running = false;
}

void vhost_net_close(struct vhost_net *v)
{
    if (v->fd >= 0)
        close(v->fd);       /* the kernel stops the rings and drops the tap */
    v->fd = -1;
    close_fds(v->call, VHOST_NET_QUEUES);
    close_fds(v->err, VHOST_NET_QUEUES);
    close_fds(v->kick, VHOST_NET_QUEUES);
}

unsigned vhost_net_tap_offloads(uint64_t f)
{
    if (!(f & (1ULL << 1)))                 /* GUEST_CSUM: the rest need it */
        return 0;
    unsigned t = TUN_F_CSUM;
    if (f & (1ULL << 7))
        t |= TUN_F_TSO4;
    if (f & (1ULL << 8))
        t |= TUN_F_TSO6;
    if ((f & (1ULL << 9)) && (t & (TUN_F_TSO4 | TUN_F_TSO6)))
        t |= TUN_F_TSO_ECN;
    return t;
}

int vhost_net_set_tap_offloads(int tap_fd, unsigned tun_flags)
{
    return ioctl(tap_fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}

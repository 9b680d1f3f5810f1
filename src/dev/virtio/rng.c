/* virtio-rng: fills guest buffers from getrandom(). Synchronous: getrandom
 * on an initialised host pool never blocks, so the vCPU thread serves it. */
#include <errno.h>
#include <sys/random.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

struct virtio_rng {
    struct virtio_dev vdev;
};

static void rng_notify(struct virtio_dev *d, unsigned q)
{
    struct virtq_elem *e = xmalloc(sizeof(*e));
    pthread_mutex_lock(&d->lock);
    bool any = false;
    int r;
    while ((r = virtq_pop(d, 0, e)) == 1) {
        uint64_t done = 0;
        for (unsigned i = 0; i < e->in_num; i++) {
            size_t want = MIN(e->in[i].iov_len, 65536), got = 0;
            while (got < want) {
                ssize_t n = getrandom((uint8_t *)e->in[i].iov_base + got, want - got, 0);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    break;
                }
                got += n;
            }
            done += got;
            if (got < e->in[i].iov_len)
                break;
        }
        virtq_push(d, 0, e, (uint32_t)done);
        any = true;
    }
    if (any)
        virtq_notify(d, 0);
    pthread_mutex_unlock(&d->lock);
    free(e);
}

static const struct virtio_dev_ops rng_ops = { .notify = rng_notify };

struct virtio_rng *virtio_rng_create(void)
{
    struct virtio_rng *r = xzalloc(sizeof(*r));
    virtio_dev_init(&r->vdev, "virtio-rng", VIRTIO_ID_RNG, 0, 1, NULL, 0, &rng_ops, r);
    return r;
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r) { return &r->vdev; }

void virtio_rng_destroy(struct virtio_rng *r)
{
    if (!r)
        return;
    virtio_dev_destroy(&r->vdev);
    free(r);
}

/* ---- --rng ---- */
static void *rng_kind_create(const void *data, unsigned index, const struct virtio_host *host,
                             struct virtio_dev **dev)
{
    struct virtio_rng *r = virtio_rng_create();
    *dev = virtio_rng_dev(r);
    return r;
}

static void rng_kind_destroy(void *inst)
{
    virtio_rng_destroy(inst);
}

const struct virtio_kind virtio_rng_kind = {
    .option = "rng", .device = "virtio-rng", .max = 1, .create = rng_kind_create, .destroy = rng_kind_destroy,
};

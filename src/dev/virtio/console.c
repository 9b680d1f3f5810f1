/* virtio-console: a single port (no MULTIPORT), queues receiveq 0 and
 * transmitq 1. Output goes straight to the port callback on the vCPU thread;
 * input comes from virtio_console_input() on any thread. */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

enum { CRXQ = 0, CTXQ = 1 };

struct console_config { uint16_t cols, rows; uint32_t max_nr_ports, emerg_wr; } __attribute__((packed));

struct virtio_console {
    struct virtio_dev vdev;
    struct console_config cfg;
    struct virtio_console_port port;
    struct virtq_elem elem;         /* under vdev.lock */
    uint8_t buf[4096];
};

static void console_tx(struct virtio_console *c)
{
    struct virtio_dev *d = &c->vdev;
    pthread_mutex_lock(&d->lock);
    bool any = false;
    while (virtq_pop(d, CTXQ, &c->elem) == 1) {
        struct virtq_elem *e = &c->elem;
        for (size_t off = 0; off < e->out_len;) {
            size_t n = iov_to_buf(e->out, e->out_num, off, c->buf, sizeof(c->buf));
            if (!n)
                break;
            if (c->port.write)
                c->port.write(c->port.opaque, c->buf, n);
            off += n;
        }
        virtq_push(d, CTXQ, e, 0);
        any = true;
    }
    if (any)
        virtq_notify(d, CTXQ);
    pthread_mutex_unlock(&d->lock);
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
    struct virtio_dev *d = &c->vdev;
    size_t done = 0;
    pthread_mutex_lock(&d->lock);
    while (done < len && virtq_pop(d, CRXQ, &c->elem) == 1) {
        struct virtq_elem *e = &c->elem;
        size_t n = iov_from_buf(e->in, e->in_num, 0, buf + done, len - done);
        virtq_push(d, CRXQ, e, (uint32_t)n);
        done += n;
    }
    if (done)
        virtq_notify(d, CRXQ);
    pthread_mutex_unlock(&d->lock);
    return done;
}

static void console_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_console *c = d->opaque;
    if (q == CTXQ)
        console_tx(c);
    else if (q == CRXQ && c->port.rx_ready)
        c->port.rx_ready(c->port.opaque);
}

static const struct virtio_dev_ops console_ops = { .notify = console_notify };

struct virtio_console *virtio_console_create(struct virtio_console_port port)
{
    struct virtio_console *c = xzalloc(sizeof(*c));
    c->port = port;
    c->cfg.cols = 80;
    c->cfg.rows = 25;
    c->cfg.max_nr_ports = 1;
    virtio_dev_init(&c->vdev, "virtio-console", VIRTIO_ID_CONSOLE, 0, 2, &c->cfg, sizeof(c->cfg),
                    &console_ops, c);
    return c;
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c) { return &c->vdev; }

void virtio_console_destroy(struct virtio_console *c)
{
    if (!c)
        return;
    virtio_dev_destroy(&c->vdev);
    free(c);
}

/* ---- --console: hvc0 on the machine's console line ---- */
static void *con_kind_create(const void *data, unsigned index, const struct virtio_host *host,
                             struct virtio_dev **dev)
{
    struct virtio_console *c = virtio_console_create(host->console);
    *dev = virtio_console_dev(c);
    return c;
}

static void con_kind_destroy(void *inst)
{
    virtio_console_destroy(inst);
}

static size_t con_kind_input(void *inst, const uint8_t *buf, size_t len)
{
    return virtio_console_input(inst, buf, len);
}

const struct virtio_kind virtio_console_kind = {
    .option = "console", .device = "virtio-console", .max = 1, .create = con_kind_create, .destroy = con_kind_destroy,
    .input = con_kind_input,
};

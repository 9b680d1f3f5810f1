/* virtio-mmio transport, version 2 ("modern"), independent of the device. */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

#define MMIO_MAGIC 0x74726976  /* "virt" */

enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_DESC_LO = 0x080, R_DESC_HI = 0x084, R_DRIVER_LO = 0x090, R_DRIVER_HI = 0x094,
    R_DEVICE_LO = 0x0a0, R_DEVICE_HI = 0x0a4,
    R_SHM_SEL = 0x0ac, R_SHM_LEN_LO = 0x0b0, R_SHM_LEN_HI = 0x0b4,
    R_SHM_BASE_LO = 0x0b8, R_SHM_BASE_HI = 0x0bc,
    R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

struct virtio_mmio {
    struct virtio_dev *d;
    struct irq_line irq;
    struct bus *bus;
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
};

static void mmio_interrupt(struct virtio_dev *d, unsigned bits, int q)
{
    (void)q;
    struct virtio_mmio *m = d->transport;
    d->isr |= bits;
    irq_set(&m->irq, d->isr != 0);
}

static const struct virtio_transport_ops mmio_tops = { .interrupt = mmio_interrupt };

static uint64_t config_read(struct virtio_dev *d, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    pthread_mutex_lock(&d->lock);
    if (off < d->config_len && size <= d->config_len - off)
        memcpy(&v, d->config + off, size);   /* little-endian host */
    pthread_mutex_unlock(&d->lock);
    return v;
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_mmio *m = opaque;
    struct virtio_dev *d = m->d;
    if (off >= R_CONFIG)
        return config_read(d, off - R_CONFIG, size);
    if (size != 4 || (off & 3)) {
        log_guest("%s: mmio read of size %u at 0x%llx", d->name, size, (unsigned long long)off);
        return 0;
    }
    uint64_t v = 0;
    pthread_mutex_lock(&d->lock);
    struct virtq *vq = m->queue_sel < d->nvq ? &d->vq[m->queue_sel] : NULL;
    switch (off) {
    case R_MAGIC: v = MMIO_MAGIC; break;
    case R_VERSION: v = 2; break;
    case R_DEVICE_ID: v = d->device_id; break;
    case R_VENDOR_ID: v = d->vendor_id; break;
    case R_DEV_FEATURES:
        v = m->dev_features_sel < 2 ? (uint32_t)(d->host_features >> (32 * m->dev_features_sel)) : 0;
        break;
    case R_QUEUE_NUM_MAX: v = vq ? VIRTQ_MAX_SIZE : 0; break;
    case R_QUEUE_NUM: v = vq ? vq->num : 0; break;
    case R_QUEUE_READY: v = vq ? vq->ready : 0; break;
    case R_INT_STATUS: v = d->isr; break;
    case R_STATUS: v = d->status; break;
    case R_DESC_LO: v = vq ? (uint32_t)vq->desc_addr : 0; break;
    case R_DESC_HI: v = vq ? vq->desc_addr >> 32 : 0; break;
    case R_DRIVER_LO: v = vq ? (uint32_t)vq->avail_addr : 0; break;
    case R_DRIVER_HI: v = vq ? vq->avail_addr >> 32 : 0; break;
    case R_DEVICE_LO: v = vq ? (uint32_t)vq->used_addr : 0; break;
    case R_DEVICE_HI: v = vq ? vq->used_addr >> 32 : 0; break;
    case R_SHM_LEN_LO: case R_SHM_LEN_HI: case R_SHM_BASE_LO: case R_SHM_BASE_HI:
        v = 0xffffffff; break;   /* no shared memory regions */
    case R_CONFIG_GEN: v = d->config_gen; break;
    default: break;
    }
    pthread_mutex_unlock(&d->lock);
    return v;
}

static void set_addr(uint64_t *a, bool hi, uint32_t val)
{
    if (hi)
        *a = (*a & 0xffffffffULL) | ((uint64_t)val << 32);
    else
        *a = (*a & ~0xffffffffULL) | val;
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virtio_mmio *m = opaque;
    struct virtio_dev *d = m->d;
    if (off >= R_CONFIG) {
        off -= R_CONFIG;
        pthread_mutex_lock(&d->lock);
        if (off < d->config_len && size <= d->config_len - off && d->ops->config_write)
            d->ops->config_write(d, off, &val, size);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    if (size != 4 || (off & 3)) {
        log_guest("%s: mmio write of size %u at 0x%llx", d->name, size, (unsigned long long)off);
        return;
    }
    uint32_t v = (uint32_t)val;
    switch (off) {
    case R_QUEUE_NOTIFY:
        if (v < d->nvq && d->ops->notify)
            d->ops->notify(d, v);
        return;
    case R_STATUS:
        virtio_set_status(d, v);
        return;
    case R_QUEUE_READY:
        if (m->queue_sel >= d->nvq)
            return;
        if (v == 1) {
            if (!d->vq[m->queue_sel].ready)   /* a second ready=1 must not rewind the ring */
                virtio_queue_enable(d, m->queue_sel);
        } else if (v == 0) {
            pthread_mutex_lock(&d->lock);
            d->vq[m->queue_sel].ready = false;
            pthread_mutex_unlock(&d->lock);
        }
        return;
    default:
        break;
    }
    pthread_mutex_lock(&d->lock);
    struct virtq *vq = m->queue_sel < d->nvq ? &d->vq[m->queue_sel] : NULL;
    bool qcfg = vq && !vq->ready;   /* queue registers are writable only while not ready */
    switch (off) {
    case R_DEV_FEATURES_SEL: m->dev_features_sel = v; break;
    case R_DRV_FEATURES_SEL: m->drv_features_sel = v; break;
    case R_DRV_FEATURES:
        if (m->drv_features_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
            unsigned sh = 32 * m->drv_features_sel;
            d->guest_features = (d->guest_features & ~(0xffffffffULL << sh)) | ((uint64_t)v << sh);
        }
        break;
    case R_QUEUE_SEL: m->queue_sel = v; break;
    case R_QUEUE_NUM: if (qcfg) vq->num = v > 0xffff ? 0 : v; break;
    case R_INT_ACK:
        d->isr &= ~v;
        irq_set(&m->irq, d->isr != 0);
        break;
    case R_DESC_LO: case R_DESC_HI: if (qcfg) set_addr(&vq->desc_addr, off == R_DESC_HI, v); break;
    case R_DRIVER_LO: case R_DRIVER_HI: if (qcfg) set_addr(&vq->avail_addr, off == R_DRIVER_HI, v); break;
    case R_DEVICE_LO: case R_DEVICE_HI: if (qcfg) set_addr(&vq->used_addr, off == R_DEVICE_HI, v); break;
    case R_SHM_SEL: break;
    default:
        log_guest("%s: write to read-only/unknown mmio register 0x%llx", d->name, (unsigned long long)off);
        break;
    }
    pthread_mutex_unlock(&d->lock);
}

const struct bus_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

struct virtio_mmio *virtio_mmio_create(struct bus *bus, uint64_t base, struct irq_line irq,
                                       struct guest_mem *mem, struct virtio_dev *dev)
{
    struct virtio_mmio *m = xzalloc(sizeof(*m));
    m->d = dev;
    m->irq = irq;
    m->bus = bus;
    dev->mem = mem;
    dev->transport = m;
    dev->tops = &mmio_tops;
    if (bus) {
        int r = bus_register(bus, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, m, dev->name);
        if (r < 0) {
            log_error("%s: cannot map at 0x%llx: %s", dev->name, (unsigned long long)base, strerror(-r));
            free(m);
            return NULL;
        }
    }
    return m;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
    free(m);
}

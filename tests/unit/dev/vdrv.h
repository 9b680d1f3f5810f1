/* A tiny virtio driver for unit tests and fuzzers: drives a device through
 * the mmio transport over a real struct guest_mem, writing rings the way a
 * guest driver does. Header-only (static functions). */
#ifndef VESSEL_TEST_VDRV_H
#define VESSEL_TEST_VDRV_H

#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "dev/virtio/virtio.h"
#include "mem/mem.h"

#define VD_RAM 0x80000000ULL
#define VD_RAM_SIZE (4ULL << 20)
#define VD_MMIO 0x10001000ULL

struct vdrv_q { uint64_t desc, avail, used; uint16_t num, avail_idx, last_used, next_desc; };

struct vdrv {
    struct guest_mem mem;
    struct bus bus;
    struct virtio_mmio *mmio;
    struct virtio_dev *dev;
    int irq_level, irq_raises;
    uint64_t heap;
    uint64_t features;
    struct vdrv_q q[VIRTIO_MAX_QUEUES];
};

static void vdrv_irq(void *opaque, unsigned n, int level)
{
    struct vdrv *v = opaque;
    if (level && !v->irq_level)
        v->irq_raises++;
    v->irq_level = level;
}

static uint32_t vd_rd(struct vdrv *v, uint64_t off)
{
    uint64_t val = 0;
    bus_access(&v->bus, VD_MMIO + off, &val, 4, false);
    return (uint32_t)val;
}
static void vd_wr(struct vdrv *v, uint64_t off, uint32_t val)
{
    uint64_t x = val;
    bus_access(&v->bus, VD_MMIO + off, &x, 4, true);
}
static uint64_t vd_cfg(struct vdrv *v, uint64_t off, unsigned size)
{
    uint64_t val = 0;
    bus_access(&v->bus, VD_MMIO + 0x100 + off, &val, size, false);
    return val;
}

static void *gp(struct vdrv *v, uint64_t gpa) { return mem_translate(&v->mem, gpa, 1); }

static uint64_t vd_alloc(struct vdrv *v, uint64_t len)
{
    uint64_t a = (v->heap + 15) & ~15ULL;
    v->heap = a + len;
    memset(gp(v, a), 0, len);
    return a;
}

static int vdrv_open(struct vdrv *v, struct virtio_dev *dev)
{
    memset(v, 0, sizeof(*v));
    mem_init(&v->mem);
    if (mem_add_ram(&v->mem, VD_RAM, VD_RAM_SIZE, 0) < 0)
        return -1;
    bus_init(&v->bus);
    v->dev = dev;
    v->heap = VD_RAM + 0x1000;
    struct irq_line irq = { vdrv_irq, v, 1 };
    v->mmio = virtio_mmio_create(&v->bus, VD_MMIO, irq, &v->mem, dev);
    return v->mmio ? 0 : -1;
}

/* As a driver's remove path does: reset the device first. The reset waits
 * for requests in flight and stops the queues, so no device thread reads
 * the rings after the guest memory below is unmapped. (Without it a blk
 * worker, back in virtq_pop after its last completion, could fault on the
 * unmapped ring: test_virtio died with status 255 about once in 100 runs.) */
static void vdrv_close(struct vdrv *v)
{
    if (v->mmio)
        vd_wr(v, 0x70, 0);
    virtio_mmio_destroy(v->mmio);
    bus_destroy(&v->bus);
    mem_destroy(&v->mem);
}

static void vdrv_setup_queue(struct vdrv *v, unsigned q, uint16_t num)
{
    struct vdrv_q *Q = &v->q[q];
    memset(Q, 0, sizeof(*Q));
    Q->num = num;
    Q->desc = vd_alloc(v, 16 * num);
    Q->avail = vd_alloc(v, 6 + 2 * num);
    Q->used = vd_alloc(v, 6 + 8 * num);
    vd_wr(v, 0x30, q);
    vd_wr(v, 0x38, num);
    vd_wr(v, 0x80, (uint32_t)Q->desc); vd_wr(v, 0x84, Q->desc >> 32);
    vd_wr(v, 0x90, (uint32_t)Q->avail); vd_wr(v, 0x94, Q->avail >> 32);
    vd_wr(v, 0xa0, (uint32_t)Q->used); vd_wr(v, 0xa4, Q->used >> 32);
    vd_wr(v, 0x44, 1);
}

/* Negotiate `want` & offered features, set up nq queues of `num`, DRIVER_OK.
 * Returns the status register. */
static uint32_t vdrv_init(struct vdrv *v, uint64_t want, unsigned nq, uint16_t num)
{
    vd_wr(v, 0x70, 0);
    vd_wr(v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE);
    vd_wr(v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vd_wr(v, 0x14, 0);
    uint64_t f = vd_rd(v, 0x10);
    vd_wr(v, 0x14, 1);
    f |= (uint64_t)vd_rd(v, 0x10) << 32;
    v->features = f & want;
    vd_wr(v, 0x24, 0); vd_wr(v, 0x20, (uint32_t)v->features);
    vd_wr(v, 0x24, 1); vd_wr(v, 0x20, v->features >> 32);
    vd_wr(v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(vd_rd(v, 0x70) & VIRTIO_STATUS_FEATURES_OK))
        return vd_rd(v, 0x70);
    for (unsigned q = 0; q < nq; q++)
        vdrv_setup_queue(v, q, num);
    vd_wr(v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK);
    return vd_rd(v, 0x70);
}

struct vseg { uint64_t gpa; uint32_t len; bool write; };

static struct virtq_desc *vd_desc(struct vdrv *v, unsigned q, unsigned i)
{
    return (struct virtq_desc *)gp(v, v->q[q].desc + 16ULL * i);
}

/* Put a raw descriptor index on the avail ring and kick. */
static void vdrv_kick_head(struct vdrv *v, unsigned q, uint16_t head)
{
    struct vdrv_q *Q = &v->q[q];
    uint16_t *avail = gp(v, Q->avail);
    avail[2 + Q->avail_idx % Q->num] = head;
    __atomic_store_n(&avail[1], ++Q->avail_idx, __ATOMIC_RELEASE);
    vd_wr(v, 0x50, q);
}

/* Submit a chain (direct, or through an indirect table). Returns head. */
static uint16_t vdrv_submit(struct vdrv *v, unsigned q, const struct vseg *s, unsigned n, bool indirect)
{
    struct vdrv_q *Q = &v->q[q];
    uint16_t head = Q->next_desc;
    if (indirect) {
        uint64_t tbl = vd_alloc(v, 16 * n);
        struct virtq_desc *t = gp(v, tbl);
        for (unsigned i = 0; i < n; i++)
            t[i] = (struct virtq_desc){ s[i].gpa, s[i].len,
                (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
                (uint16_t)(i + 1) };
        *vd_desc(v, q, head) = (struct virtq_desc){ tbl, 16 * n, VIRTQ_DESC_F_INDIRECT, 0 };
        Q->next_desc = (head + 1) % Q->num;
    } else {
        for (unsigned i = 0; i < n; i++) {
            uint16_t idx = (head + i) % Q->num;
            *vd_desc(v, q, idx) = (struct virtq_desc){ s[i].gpa, s[i].len,
                (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
                (uint16_t)((idx + 1) % Q->num) };
        }
        Q->next_desc = (head + n) % Q->num;
    }
    vdrv_kick_head(v, q, head);
    return head;
}

/* Wait (up to 5 s) for the next used entry. Returns 0 and fills id/len, or -1. */
static int vdrv_wait_used(struct vdrv *v, unsigned q, uint32_t *id, uint32_t *len)
{
    struct vdrv_q *Q = &v->q[q];
    uint16_t *used = gp(v, Q->used);
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != Q->last_used) {
            struct virtq_used_elem *e = (struct virtq_used_elem *)(used + 2) + Q->last_used % Q->num;
            if (id) *id = e->id;
            if (len) *len = e->len;
            Q->last_used++;
            return 0;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return -1;
}

static uint16_t vdrv_used_idx(struct vdrv *v, unsigned q)
{
    uint16_t *used = gp(v, v->q[q].used);
    return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
}

#endif

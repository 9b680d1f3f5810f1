/* virtio-mem (virtio 1.2, 5.15): a device-managed region of guest-physical
 * memory whose blocks the driver plugs and unplugs on request, driven by
 * the host's requested size (QEMU's virtio-mem-pci, resized with qom-set
 * requested-size). This file is the device: its configuration space, the
 * request queue (PLUG, UNPLUG, UNPLUG_ALL, STATE) with every range checked
 * against the region, and the block bitmap; the host gives unplugged
 * blocks back through `discard` (MADV_DONTNEED / a punched hole). Requests
 * are served synchronously on the notifying thread (they only update the
 * bitmap; an unplug's discard is one madvise). */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

enum { REQ_PLUG = 0, REQ_UNPLUG = 1, REQ_UNPLUG_ALL = 2, REQ_STATE = 3 };
enum { RESP_ACK = 0, RESP_NACK = 1, RESP_BUSY = 2, RESP_ERROR = 3 };
enum { STATE_PLUGGED = 0, STATE_UNPLUGGED = 1, STATE_MIXED = 2 };
#define REQ_SIZE 24
#define RESP_SIZE 10

/* struct virtio_mem_config, little endian */
enum { C_BLOCK_SIZE = 0, C_NODE_ID = 8, C_ADDR = 16, C_REGION_SIZE = 24, C_USABLE = 32, C_PLUGGED = 40,
       C_REQUESTED = 48, C_LEN = 56 };

struct virtio_mem {
    struct virtio_dev vdev;
    struct virtio_mem_opts o;
    struct virtio_mem_host host;
    uint8_t config[C_LEN];
    uint64_t nblocks, plugged;      /* blocks in the region, plugged now */
    uint64_t *bitmap;               /* bit per block: plugged */
    uint64_t stats[4];              /* ACK, NACK, BUSY, ERROR responses sent */
};

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static bool bit(const struct virtio_mem *m, uint64_t b) { return m->bitmap[b / 64] >> (b % 64) & 1; }
static void set_bit(struct virtio_mem *m, uint64_t b, bool on)
{
    if (on)
        m->bitmap[b / 64] |= 1ULL << (b % 64);
    else
        m->bitmap[b / 64] &= ~(1ULL << (b % 64));
}

/* d->lock held: the size fields of the configuration space */
static void config_update(struct virtio_mem *m)
{
    put64(m->config + C_PLUGGED, m->plugged * m->o.block_size);
    put64(m->config + C_REQUESTED, m->o.requested);
}

/* The first block of [addr, addr + n blocks): false when the range is not
 * inside the region or not block-aligned, or n is 0. */
static bool range_ok(const struct virtio_mem *m, uint64_t addr, uint64_t n, uint64_t *first)
{
    if (n == 0 || addr < m->o.addr || (addr - m->o.addr) % m->o.block_size)
        return false;
    *first = (addr - m->o.addr) / m->o.block_size;
    return *first < m->nblocks && n <= m->nblocks - *first;
}

/* Give [first, first + n) back to the host (lock held; the discard does
 * not take it). */
static void discard(struct virtio_mem *m, uint64_t first, uint64_t n)
{
    if (n && m->host.discard)
        m->host.discard(m->host.opaque, m->o.addr + first * m->o.block_size, n * m->o.block_size);
}

/* One request: the response type, and for STATE the state. */
static unsigned serve(struct virtio_mem *m, const uint8_t *req, uint16_t *state)
{
    unsigned type = get16(req);
    uint64_t addr = get64(req + 8), n = get16(req + 16), first;
    switch (type) {
    case REQ_PLUG:
    case REQ_UNPLUG: {
        bool plug = type == REQ_PLUG;
        if (!range_ok(m, addr, n, &first)) {
            log_guest("%s: %s of %llu blocks at 0x%llx: not inside the region 0x%llx+0x%llx in whole %llu-byte blocks",
                      m->vdev.name, plug ? "plug" : "unplug", (unsigned long long)n, (unsigned long long)addr,
                      (unsigned long long)m->o.addr, (unsigned long long)m->o.size,
                      (unsigned long long)m->o.block_size);
            return RESP_ERROR;
        }
        for (uint64_t b = first; b < first + n; b++)
            if (bit(m, b) == plug) {
                log_guest("%s: %s of block %llu, which is %s already", m->vdev.name, plug ? "plug" : "unplug",
                          (unsigned long long)b, plug ? "plugged" : "unplugged");
                return RESP_ERROR;
            }
        if (plug && (m->plugged + n) * m->o.block_size > m->o.requested)
            return RESP_NACK;       /* more than the host asked for */
        for (uint64_t b = first; b < first + n; b++)
            set_bit(m, b, plug);
        m->plugged = plug ? m->plugged + n : m->plugged - n;
        if (!plug)
            discard(m, first, n);
        return RESP_ACK;
    }
    case REQ_UNPLUG_ALL:
        for (uint64_t b = 0; b < m->nblocks; b++) {
            uint64_t s = b;
            while (b < m->nblocks && bit(m, b))
                set_bit(m, b++, false);
            discard(m, s, b - s);
        }
        m->plugged = 0;
        return RESP_ACK;
    case REQ_STATE: {
        if (!range_ok(m, addr, n, &first)) {
            log_guest("%s: state of %llu blocks at 0x%llx: not inside the region", m->vdev.name,
                      (unsigned long long)n, (unsigned long long)addr);
            return RESP_ERROR;
        }
        uint64_t on = 0;
        for (uint64_t b = first; b < first + n; b++)
            on += bit(m, b);
        *state = on == n ? STATE_PLUGGED : on == 0 ? STATE_UNPLUGGED : STATE_MIXED;
        return RESP_ACK;
    }
    }
    log_guest("%s: request type %u unknown", m->vdev.name, type);
    return RESP_ERROR;
}

static void mem_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_mem *m = d->opaque;
    struct virtq_elem *e = xmalloc(sizeof(*e));
    pthread_mutex_lock(&d->lock);
    uint64_t before = m->plugged;
    bool any = false;
    while (q == 0 && virtq_pop(d, 0, e) == 1) {
        uint8_t req[REQ_SIZE] = { 0 }, resp[RESP_SIZE] = { 0 };
        uint16_t state = 0;
        unsigned type;
        if (e->out_len < REQ_SIZE || e->in_len < RESP_SIZE) {
            log_guest("%s: request of %llu bytes with %llu for the response (want %d and %d)", d->name,
                      (unsigned long long)e->out_len, (unsigned long long)e->in_len, REQ_SIZE, RESP_SIZE);
            type = RESP_ERROR;
        } else {
            iov_to_buf(e->out, e->out_num, 0, req, REQ_SIZE);
            type = serve(m, req, &state);
        }
        m->stats[type]++;
        resp[0] = (uint8_t)type;
        resp[8] = (uint8_t)state;
        resp[9] = (uint8_t)(state >> 8);
        size_t put = iov_from_buf(e->in, e->in_num, 0, resp, RESP_SIZE);
        virtq_push(d, 0, e, (uint32_t)put);
        any = true;
    }
    config_update(m);
    if (any)
        virtq_notify(d, 0);
    uint64_t after = m->plugged;
    pthread_mutex_unlock(&d->lock);
    free(e);
    if (after != before && m->host.size_changed)
        m->host.size_changed(m->host.opaque, after * m->o.block_size);
}

static const struct virtio_dev_ops mem_ops = { .notify = mem_notify };

int virtio_mem_check_opts(const struct virtio_mem_opts *o, char *err, size_t errlen)
{
    if (!o->block_size || (o->block_size & (o->block_size - 1)) || o->block_size < 4096)
        return errf(err, errlen, -EINVAL, "block-size %llu: a power of two of at least 4096",
                    (unsigned long long)o->block_size);
    if (!o->size || o->size % o->block_size || o->addr % o->block_size)
        return errf(err, errlen, -EINVAL, "size %llu at 0x%llx: a multiple of block-size %llu, aligned to it",
                    (unsigned long long)o->size, (unsigned long long)o->addr, (unsigned long long)o->block_size);
    if (o->size / o->block_size > (1ULL << 24))
        return errf(err, errlen, -EINVAL, "size %llu: more than 2^24 blocks of %llu bytes",
                    (unsigned long long)o->size, (unsigned long long)o->block_size);
    if (o->requested > o->size || o->requested % o->block_size)
        return errf(err, errlen, -EINVAL, "requested-size %llu: a multiple of block-size %llu up to size %llu",
                    (unsigned long long)o->requested, (unsigned long long)o->block_size,
                    (unsigned long long)o->size);
    return 0;
}

struct virtio_mem *virtio_mem_create(const struct virtio_mem_opts *o, const struct virtio_mem_host *host)
{
    char err[200];
    if (virtio_mem_check_opts(o, err, sizeof(err)) < 0) {
        log_error("virtio-mem: %s", err);
        return NULL;
    }
    struct virtio_mem *m = xzalloc(sizeof(*m));
    m->o = *o;
    if (host)
        m->host = *host;
    m->nblocks = o->size / o->block_size;
    m->bitmap = xzalloc((m->nblocks + 63) / 64 * 8);
    put64(m->config + C_BLOCK_SIZE, o->block_size);
    put64(m->config + C_ADDR, o->addr);
    put64(m->config + C_REGION_SIZE, o->size);
    put64(m->config + C_USABLE, o->size);
    config_update(m);
    virtio_dev_init(&m->vdev, "virtio-mem", VIRTIO_ID_MEM, 0, 1, m->config, C_LEN, &mem_ops, m);
    return m;
}

struct virtio_dev *virtio_mem_dev(struct virtio_mem *m) { return &m->vdev; }

int virtio_mem_set_requested(struct virtio_mem *m, uint64_t bytes, char *err, size_t errlen)
{
    if (bytes > m->o.size || bytes % m->o.block_size)
        return errf(err, errlen, -EINVAL, "requested-size %llu: a multiple of block-size %llu up to size %llu",
                    (unsigned long long)bytes, (unsigned long long)m->o.block_size, (unsigned long long)m->o.size);
    pthread_mutex_lock(&m->vdev.lock);
    bool changed = m->o.requested != bytes;
    m->o.requested = bytes;
    config_update(m);
    if (changed)
        virtio_config_changed(&m->vdev);
    pthread_mutex_unlock(&m->vdev.lock);
    return 0;
}

void virtio_mem_info(struct virtio_mem *m, struct virtio_mem_info *out)
{
    pthread_mutex_lock(&m->vdev.lock);
    *out = (struct virtio_mem_info){ .opts = m->o, .plugged = m->plugged * m->o.block_size };
    memcpy(out->responses, m->stats, sizeof(out->responses));
    pthread_mutex_unlock(&m->vdev.lock);
}

/* A system reset: every block unplugged and given back, as on QEMU (the
 * guest's driver starts from an empty region). */
void virtio_mem_reset(struct virtio_mem *m)
{
    pthread_mutex_lock(&m->vdev.lock);
    uint8_t req[REQ_SIZE] = { REQ_UNPLUG_ALL };
    uint16_t state;
    serve(m, req, &state);
    config_update(m);
    pthread_mutex_unlock(&m->vdev.lock);
}

void virtio_mem_destroy(struct virtio_mem *m)
{
    if (!m)
        return;
    virtio_dev_destroy(&m->vdev);
    free(m->bitmap);
    free(m);
}

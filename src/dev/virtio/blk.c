/* virtio-blk over a raw image. Worker threads pop requests, do the I/O
 * without the device lock, and complete them. notify (on the vCPU thread)
 * first serves what cannot block there -- small reads the host page cache
 * holds (RWF_NOWAIT), get-id, refused requests -- and wakes a worker for
 * the rest: a request that would wait for the disk is handed over. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "base/base.h"
#include "dev/virtio/virtio.h"

enum {
    BLK_F_SIZE_MAX = 1, BLK_F_SEG_MAX = 2, BLK_F_RO = 5, BLK_F_BLK_SIZE = 6,
    BLK_F_FLUSH = 9, BLK_F_DISCARD = 13, BLK_F_WRITE_ZEROES = 14,
};
enum { BLK_T_IN = 0, BLK_T_OUT = 1, BLK_T_FLUSH = 4, BLK_T_GET_ID = 8,
       BLK_T_DISCARD = 11, BLK_T_WRITE_ZEROES = 13 };
enum { BLK_S_OK = 0, BLK_S_IOERR = 1, BLK_S_UNSUPP = 2 };

#define SECTOR 512ULL
#define SIZE_MAX_SEG (1u << 20)          /* size_max: bytes per segment */
#define SEG_MAX (VIRTQ_MAX_SIZE - 2)
#define MAX_DISCARD_SECTORS (1u << 22)
#define BLK_MAX_THREADS 8
#define BLK_NOWAIT_MAX 8                 /* requests notify serves itself, at most */

struct blk_config {
    uint64_t capacity;
    uint32_t size_max, seg_max;
    struct { uint16_t cylinders; uint8_t heads, sectors; } geometry;
    uint32_t blk_size;
    struct { uint8_t physical_block_exp, alignment_offset; uint16_t min_io_size; uint32_t opt_io_size; } topology;
    uint8_t writeback, unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

/* A popped request handed from notify to a worker. */
struct blk_handoff {
    struct blk_handoff *next;
    struct virtq_elem e;
};

struct virtio_blk {
    struct virtio_dev vdev;
    struct blk_config cfg;
    struct blk_image *img;
    char id[21];
    unsigned nthreads;
    pthread_t threads[BLK_MAX_THREADS];
    pthread_cond_t work, idle;
    unsigned inflight;             /* popped, not yet pushed (handed-over ones too) */
    struct blk_handoff *handoff;   /* for the workers, under vdev.lock */
    struct blk_handoff *spare;     /* one element kept for notify, under vdev.lock */
    bool stop, quiesce;
};

struct blk_req_hdr { uint32_t type, reserved; uint64_t sector; };
struct blk_discard_seg { uint64_t sector; uint32_t num_sectors, flags; };

/* The data iovec of a request: `src` minus `skip` leading and `trim`
 * trailing bytes. Returns the number of segments. */
static unsigned iov_slice(struct iovec *dst, const struct iovec *src, unsigned n, uint64_t skip, uint64_t len)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (skip >= src[i].iov_len) {
            skip -= src[i].iov_len;
            continue;
        }
        size_t c = MIN(src[i].iov_len - skip, len);
        dst[k++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, c };
        len -= c;
        skip = 0;
    }
    return k;
}

#define REQ_MAX_BYTES (256ULL << 20)   /* larger than seg_max * size_max: refused */

static bool range_ok(struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t cap = b->cfg.capacity;
    return bytes % SECTOR == 0 && bytes <= REQ_MAX_BYTES && sector <= cap && bytes / SECTOR <= cap - sector;
}

static uint8_t do_discard(struct virtio_blk *b, const struct virtq_elem *e, bool zeroes)
{
    uint64_t n = (e->out_len - sizeof(struct blk_req_hdr)) / sizeof(struct blk_discard_seg);
    if (n == 0 || n > 1 || (e->out_len - sizeof(struct blk_req_hdr)) % sizeof(struct blk_discard_seg))
        return BLK_S_UNSUPP;
    struct blk_discard_seg s;
    iov_to_buf(e->out, e->out_num, sizeof(struct blk_req_hdr), &s, sizeof(s));
    if (s.sector > b->cfg.capacity || s.num_sectors > b->cfg.capacity - s.sector || (s.flags & ~1u) ||
        s.num_sectors > (zeroes ? b->cfg.max_write_zeroes_sectors : b->cfg.max_discard_sectors)) {
        log_guest("%s: bad discard/write-zeroes segment", b->vdev.name);
        return BLK_S_IOERR;
    }
    if (!zeroes && (s.flags & 1))
        return BLK_S_UNSUPP;      /* the unmap flag is for write-zeroes only */
    int r = zeroes ? blk_image_write_zeroes(b->img, s.sector * SECTOR, s.num_sectors * SECTOR, s.flags & 1)
                   : blk_image_discard(b->img, s.sector * SECTOR, s.num_sectors * SECTOR);
    return r < 0 ? BLK_S_IOERR : BLK_S_OK;
}

#define NOWAIT_MAX_BYTES (1u << 20)     /* larger reads go to a worker (parallel copy) */

/* Serve one request (no lock held). Returns the bytes written to the guest,
 * or, with `nowait`, -EAGAIN (nothing reported to the guest yet) when it
 * could block: then a worker must serve it. */
static int64_t blk_handle(struct virtio_blk *b, struct virtq_elem *e, bool nowait)
{
    if (e->in_len < 1) {
        log_guest("%s: request without a status byte", b->vdev.name);
        return 0;
    }
    uint8_t status = BLK_S_OK;
    uint32_t written = 0;
    struct blk_req_hdr h;
    struct iovec data[VIRTQ_MAX_SEGS];   /* 4 KiB: on the worker's stack */
    unsigned nd;
    uint64_t dlen;
    if (e->out_len < sizeof(h)) {
        log_guest("%s: request header too short", b->vdev.name);
        status = BLK_S_IOERR;
        goto done;
    }
    iov_to_buf(e->out, e->out_num, 0, &h, sizeof(h));
    if (nowait && h.type != BLK_T_IN && h.type != BLK_T_GET_ID)
        return -EAGAIN;
    switch (h.type) {
    case BLK_T_IN:
        dlen = e->in_len - 1;
        if (!range_ok(b, h.sector, dlen)) {
            log_guest("%s: read beyond the disk or not a sector multiple", b->vdev.name);
            status = BLK_S_IOERR;
            break;
        }
        if (nowait && dlen > NOWAIT_MAX_BYTES)
            return -EAGAIN;
        nd = iov_slice(data, e->in, e->in_num, 0, dlen);
        int r = nowait ? blk_image_preadv_nowait(b->img, data, nd, h.sector * SECTOR)
                       : blk_image_preadv(b->img, data, nd, h.sector * SECTOR);
        if (r == -EAGAIN && nowait)
            return -EAGAIN;
        if (r < 0)
            status = BLK_S_IOERR;
        else
            written = (uint32_t)dlen;
        break;
    case BLK_T_OUT:
        dlen = e->out_len - sizeof(h);
        if (b->img->readonly) {
            status = BLK_S_IOERR;
            break;
        }
        if (!range_ok(b, h.sector, dlen)) {
            log_guest("%s: write beyond the disk or not a sector multiple", b->vdev.name);
            status = BLK_S_IOERR;
            break;
        }
        nd = iov_slice(data, e->out, e->out_num, sizeof(h), dlen);
        if (blk_image_pwritev(b->img, data, nd, h.sector * SECTOR) < 0)
            status = BLK_S_IOERR;
        break;
    case BLK_T_FLUSH:
        if (blk_image_flush(b->img) < 0)
            status = BLK_S_IOERR;
        break;
    case BLK_T_GET_ID:
        dlen = MIN(e->in_len - 1, 20);
        written = (uint32_t)iov_from_buf(e->in, e->in_num, 0, b->id, dlen);
        break;
    case BLK_T_DISCARD:
    case BLK_T_WRITE_ZEROES:
        if (b->img->readonly)
            status = BLK_S_IOERR;
        else
            status = do_discard(b, e, h.type == BLK_T_WRITE_ZEROES);
        break;
    default:
        status = BLK_S_UNSUPP;
        break;
    }
done:
    /* the status byte is the last byte of the writable part */
    iov_from_buf(e->in, e->in_num, e->in_len - 1, &status, 1);
    return written + 1;
}

/* Complete a served request (lock held). */
static void blk_complete(struct virtio_blk *b, struct virtq_elem *e, uint32_t len)
{
    virtq_push(&b->vdev, 0, e, len);
    if (--b->inflight == 0)
        pthread_cond_broadcast(&b->idle);
}

static void *blk_worker(void *arg)
{
    struct virtio_blk *b = arg;
    struct virtio_dev *d = &b->vdev;
    struct virtq_elem *own = xmalloc(sizeof(*own));
    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (b->stop)
            break;
        /* handed-over requests are popped already: serve them even while a reset waits */
        struct blk_handoff *ho = b->handoff;
        struct virtq_elem *e = own;
        if (ho) {
            b->handoff = ho->next;
            e = &ho->e;
        } else if (b->quiesce || virtq_pop(d, 0, own) != 1) {
            pthread_cond_wait(&b->work, &d->lock);
            continue;
        } else {
            b->inflight++;
        }
        pthread_mutex_unlock(&d->lock);
        uint32_t len = (uint32_t)blk_handle(b, e, false);
        pthread_mutex_lock(&d->lock);
        blk_complete(b, e, len);
        virtq_notify(d, 0);
        if (ho) {
            if (!b->spare)
                b->spare = ho;
            else
                free(ho);
        }
    }
    pthread_mutex_unlock(&d->lock);
    free(own);
    return NULL;
}

void virtio_blk_process(struct virtio_blk *b)
{
    struct virtio_dev *d = &b->vdev;
    struct virtq_elem *e = xmalloc(sizeof(*e));
    pthread_mutex_lock(&d->lock);
    while (virtq_pop(d, 0, e) == 1) {
        pthread_mutex_unlock(&d->lock);
        uint32_t len = (uint32_t)blk_handle(b, e, false);
        pthread_mutex_lock(&d->lock);
        virtq_push(d, 0, e, len);
        virtq_notify(d, 0);
    }
    pthread_mutex_unlock(&d->lock);
    free(e);
}

static void blk_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_blk *b = d->opaque;
    if (b->nthreads == 0) {          /* synchronous mode */
        virtio_blk_process(b);
        return;
    }
    pthread_mutex_lock(&d->lock);
    bool done = false;
    for (unsigned i = 0; i < BLK_NOWAIT_MAX && !b->quiesce; i++) {
        struct blk_handoff *ho = b->spare;
        b->spare = NULL;
        if (!ho)
            ho = xmalloc(sizeof(*ho));
        if (virtq_pop(d, 0, &ho->e) != 1) {
            b->spare = ho;
            break;
        }
        b->inflight++;
        pthread_mutex_unlock(&d->lock);
        int64_t len = blk_handle(b, &ho->e, true);
        pthread_mutex_lock(&d->lock);
        if (len == -EAGAIN) {        /* would block: a worker takes it */
            ho->next = NULL;
            struct blk_handoff **p = &b->handoff;
            while (*p)
                p = &(*p)->next;
            *p = ho;
            break;
        }
        blk_complete(b, &ho->e, (uint32_t)len);
        done = true;
        if (!b->spare)
            b->spare = ho;
        else
            free(ho);
    }
    if (done)
        virtq_notify(d, 0);
    if (b->handoff || virtq_has_work(d, 0))
        pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&d->lock);
}

static void blk_start(struct virtio_dev *d)
{
    struct virtio_blk *b = d->opaque;
    pthread_cond_broadcast(&b->work);  /* requests may be queued before DRIVER_OK */
}

static void blk_reset(struct virtio_dev *d)
{
    struct virtio_blk *b = d->opaque;
    b->quiesce = true;
    while (b->inflight)
        pthread_cond_wait(&b->idle, &d->lock);
    b->quiesce = false;
}

/* Machine pause: the requests in flight complete, no new one is taken. */
static void blk_pause(struct virtio_dev *d)
{
    struct virtio_blk *b = d->opaque;
    b->quiesce = true;
    while (b->inflight)
        pthread_cond_wait(&b->idle, &d->lock);
}

static void blk_resume(struct virtio_dev *d)
{
    struct virtio_blk *b = d->opaque;
    b->quiesce = false;
    pthread_cond_broadcast(&b->work);   /* notifications may have come in between */
}

static void blk_config_write(struct virtio_dev *d, unsigned off, const void *buf, unsigned len)
{
    /* writeback toggle is not offered (CONFIG_WCE); everything is read-only */
}

static const struct virtio_dev_ops blk_ops = {
    .notify = blk_notify, .start = blk_start, .reset = blk_reset, .config_write = blk_config_write,
    .pause = blk_pause, .resume = blk_resume,
};

struct virtio_blk *virtio_blk_create(struct blk_image *img, const char *id, unsigned nthreads)
{
    struct virtio_blk *b = xzalloc(sizeof(*b));
    b->img = img;
    if (id)
        strncpy(b->id, id, 20);
    b->cfg.capacity = img->size / SECTOR;
    b->cfg.size_max = SIZE_MAX_SEG;
    b->cfg.seg_max = SEG_MAX;
    b->cfg.blk_size = 512;
    b->cfg.num_queues = 1;
    b->cfg.max_discard_sectors = MAX_DISCARD_SECTORS;
    b->cfg.max_discard_seg = 1;
    b->cfg.discard_sector_alignment = 8;
    b->cfg.max_write_zeroes_sectors = MAX_DISCARD_SECTORS;
    b->cfg.max_write_zeroes_seg = 1;
    b->cfg.write_zeroes_may_unmap = 1;
    uint64_t f = (1ULL << BLK_F_SIZE_MAX) | (1ULL << BLK_F_SEG_MAX) | (1ULL << BLK_F_BLK_SIZE) |
                 (1ULL << BLK_F_FLUSH);
    if (img->readonly)
        f |= 1ULL << BLK_F_RO;
    else
        f |= (1ULL << BLK_F_DISCARD) | (1ULL << BLK_F_WRITE_ZEROES);
    virtio_dev_init(&b->vdev, "virtio-blk", VIRTIO_ID_BLOCK, f, 1, &b->cfg, sizeof(b->cfg), &blk_ops, b);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->idle, NULL);
    b->nthreads = MIN(nthreads, BLK_MAX_THREADS);
    for (unsigned i = 0; i < b->nthreads; i++)
        if (thread_spawn(&b->threads[i], blk_worker, b) != 0) {
            log_warn("virtio-blk %s: could only start %u worker threads", img->path, i);
            b->nthreads = i;
            break;
        }
    return b;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b) { return &b->vdev; }

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->vdev.lock);
    b->stop = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->vdev.lock);
    for (unsigned i = 0; i < b->nthreads; i++)
        pthread_join(b->threads[i], NULL);
    while (b->handoff) {
        struct blk_handoff *n = b->handoff->next;
        free(b->handoff);
        b->handoff = n;
    }
    free(b->spare);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->idle);
    virtio_dev_destroy(&b->vdev);
    blk_image_close(b->img);
    free(b);
}

/* ---- --disk PATH[,readonly][,cache=none][,id=NAME] ---- */
static int blk_kind_parse(const char *val, void **data)
{
    struct disk_opts *d = xmalloc(sizeof(*d));
    if (virtio_parse_disk(val, d) < 0) {
        free(d);
        return -EINVAL;
    }
    *data = d;
    return 0;
}

static int blk_kind_check(const void *data, const void *earlier)
{
    const struct disk_opts *d = data, *e = earlier;
    if (strcmp(d->path, e->path) == 0) {
        log_error("--disk %s: the same image is given twice", d->path);
        return -EINVAL;
    }
    return 0;
}

static void *blk_kind_create(const void *data, unsigned index, const struct virtio_host *host,
                             struct virtio_dev **dev)
{
    const struct disk_opts *d = data;
    struct blk_image *img;
    if ((host->defer_disk_locks ? blk_image_open_unlocked : blk_image_open)(d->path, d->readonly, d->direct, &img) < 0)
        return NULL;
    char id[21];
    if (d->id[0])
        snprintf(id, sizeof(id), "%s", d->id);
    else
        snprintf(id, sizeof(id), "vd%c", 'a' + index);
    struct virtio_blk *b = virtio_blk_create(img, id, 4);
    *dev = virtio_blk_dev(b);
    return b;
}

static void blk_kind_destroy(void *inst)
{
    virtio_blk_destroy(inst);
}

static void blk_kind_block_info(void *inst, const void *data, struct virtio_block_info *bi)
{
    const struct virtio_blk *b = inst;
    const struct disk_opts *d = data;
    bi->id = b->id;
    bi->file = d->path;
    bi->readonly = d->readonly;
    bi->direct = d->direct;
    bi->size = b->img->size;
}

static int blk_kind_reopen(void *inst)
{
    struct virtio_blk *b = inst;
    return blk_image_reopen(b->img);
}

static int blk_kind_lock(void *inst, bool on)
{
    struct virtio_blk *b = inst;
    return blk_image_set_lock(b->img, on);
}

static struct blk_image *blk_kind_image(void *inst)
{
    struct virtio_blk *b = inst;
    return b->img;
}

const struct virtio_kind virtio_blk_kind = {
    .option = "disk", .device = "virtio-blk", .has_value = true, .max = 8, .parse = blk_kind_parse, .check = blk_kind_check,
    .create = blk_kind_create, .destroy = blk_kind_destroy, .block_info = blk_kind_block_info,
    .reopen = blk_kind_reopen, .lock = blk_kind_lock, .image = blk_kind_image,
};

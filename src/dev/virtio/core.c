/* virtio core: device status, feature negotiation, split virtqueues with
 * indirect descriptors and EVENT_IDX. Every guest-written value is checked. */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

/* Kinds of guest error, logged once each per device. */
enum {
    BAD_AVAIL_IDX, BAD_HEAD, BAD_NEXT, BAD_LOOP, BAD_ADDR, BAD_ORDER,
    BAD_INDIRECT_NESTED, BAD_INDIRECT_LEN, BAD_INDIRECT_FEATURE, BAD_QUEUE_CFG,
    BAD_TOO_LONG,
};

void virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id,
                     uint64_t features, unsigned nvq, void *config, unsigned config_len,
                     const struct virtio_dev_ops *ops, void *opaque)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->device_id = device_id;
    d->vendor_id = 0x4c535356; /* "VSSL" */
    d->host_features = features | (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
    d->nvq = nvq;
    d->config = config;
    d->config_len = config_len;
    d->ops = ops;
    d->opaque = opaque;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
}

void virtio_dev_destroy(struct virtio_dev *d)
{
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
}

static void virtio_interrupt(struct virtio_dev *d, unsigned bits, int q)
{
    if (d->tops && d->tops->interrupt)
        d->tops->interrupt(d, bits, q);
}

void virtio_needs_reset(struct virtio_dev *d, unsigned kind, const char *what)
{
    if (!(d->bad_kinds & (1u << kind))) {
        d->bad_kinds |= 1u << kind;
        log_guest("%s: %s; device needs reset", d->name ? d->name : "virtio", what);
    }
    if (!(d->status & VIRTIO_STATUS_NEEDS_RESET)) {
        d->status |= VIRTIO_STATUS_NEEDS_RESET;
        if (d->status & VIRTIO_STATUS_DRIVER_OK)
            virtio_interrupt(d, VIRTIO_ISR_CONFIG, -1);
    }
}

void virtio_config_changed(struct virtio_dev *d)
{
    d->config_gen++;
    if (d->status & VIRTIO_STATUS_DRIVER_OK)
        virtio_interrupt(d, VIRTIO_ISR_CONFIG, -1);
}

static void reset_locked(struct virtio_dev *d)
{
    if (d->ops && d->ops->reset)
        d->ops->reset(d);
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        memset(&d->vq[i], 0, sizeof(d->vq[i]));
    d->guest_features = 0;
    d->status = 0;
    d->isr = 0;
    virtio_interrupt(d, 0, -1);
}

void virtio_reset(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    reset_locked(d);
    pthread_mutex_unlock(&d->lock);
}

void virtio_dev_pause(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    if (d->ops && d->ops->pause)
        d->ops->pause(d);
    pthread_mutex_unlock(&d->lock);
}

void virtio_dev_resume(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    if (d->ops && d->ops->resume)
        d->ops->resume(d);
    pthread_mutex_unlock(&d->lock);
}

void virtio_set_status(struct virtio_dev *d, uint32_t val)
{
    pthread_mutex_lock(&d->lock);
    if (val == 0) {
        reset_locked(d);
        goto out;
    }
    uint32_t old = d->status;
    val &= 0xff & ~VIRTIO_STATUS_NEEDS_RESET;
    if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        /* Accept only a subset of what we offered, and only virtio 1.x. */
        if ((d->guest_features & ~d->host_features) ||
            !(d->guest_features & (1ULL << VIRTIO_F_VERSION_1)))
            val &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    if ((val & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK))
        val &= ~VIRTIO_STATUS_DRIVER_OK;   /* DRIVER_OK without FEATURES_OK: ignore */
    d->status = val | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((val & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && d->ops && d->ops->start)
        d->ops->start(d);
out:
    pthread_mutex_unlock(&d->lock);
}

int virtio_queue_enable(struct virtio_dev *d, unsigned q)
{
    int ret = 0;
    pthread_mutex_lock(&d->lock);
    struct virtq *vq = &d->vq[q];
    uint64_t n = vq->num;
    if (q >= d->nvq || n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)) ||
        (vq->desc_addr & 15) || (vq->avail_addr & 1) || (vq->used_addr & 3) ||
        !(vq->desc = mem_translate(d->mem, vq->desc_addr, 16 * n)) ||
        !(vq->avail = mem_translate(d->mem, vq->avail_addr, 6 + 2 * n)) ||
        !(vq->used = mem_translate(d->mem, vq->used_addr, 6 + 8 * n))) {
        vq->ready = false;
        virtio_needs_reset(d, BAD_QUEUE_CFG, "queue configured outside RAM or with a bad size/alignment");
        ret = -EINVAL;
    } else {
        vq->ready = true;
        vq->broken = false;
        vq->last_avail = vq->used_idx = 0;
        vq->signalled_valid = false;
    }
    pthread_mutex_unlock(&d->lock);
    return ret;
}

static inline uint16_t ld16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

bool virtq_has_work(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    return q < d->nvq && vq->ready && !vq->broken && virtio_running(d) && ld16(&vq->avail[1]) != vq->last_avail;
}

/* A bad ring: stop this queue (the others go on) and ask for a reset. */
static int vq_bad(struct virtio_dev *d, struct virtq *vq, unsigned kind, const char *what)
{
    vq->broken = true;
    virtio_needs_reset(d, kind, what);
    return -EINVAL;
}

int virtq_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e)
{
    struct virtq *vq = &d->vq[q];
    if (q >= d->nvq || !vq->ready || vq->broken || !virtio_running(d))
        return 0;
    uint16_t avail_idx = ld16(&vq->avail[1]);
    uint16_t pending = avail_idx - vq->last_avail;
    if (pending == 0)
        return 0;
    if (pending > vq->num) {
        return vq_bad(d, vq, BAD_AVAIL_IDX, "avail idx moved by more than the queue size");
    }
    uint16_t head = __atomic_load_n(&vq->avail[2 + vq->last_avail % vq->num], __ATOMIC_RELAXED);
    if (head >= vq->num) {
        return vq_bad(d, vq, BAD_HEAD, "avail ring head index out of range");
    }
    e->head = head;
    e->out_num = e->in_num = 0;
    e->out_len = e->in_len = 0;

    const struct virtq_desc *table = vq->desc;
    unsigned tsize = vq->num, count = 0, idx = head;
    bool indirect = false;
    for (;;) {
        struct virtq_desc desc;
        memcpy(&desc, &table[idx], sizeof(desc));   /* read once: the guest may change it */
        if (++count > tsize) {
            return vq_bad(d, vq, BAD_LOOP, "descriptor chain loops or is longer than its table");
        }
        if (desc.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!virtio_has_feature(d, VIRTIO_F_INDIRECT_DESC)) {
                return vq_bad(d, vq, BAD_INDIRECT_FEATURE, "indirect descriptor without the feature");
            }
            if (indirect) {
                return vq_bad(d, vq, BAD_INDIRECT_NESTED, "indirect descriptor inside an indirect table");
            }
            if (desc.len == 0 || desc.len % 16 || desc.len / 16 > 65536 ||
                (desc.flags & VIRTQ_DESC_F_NEXT)) {   /* entries are memcpy'd: any alignment */
                return vq_bad(d, vq, BAD_INDIRECT_LEN, "bad indirect table length or flags");
            }
            table = mem_translate(d->mem, desc.addr, desc.len);
            if (!table) {
                return vq_bad(d, vq, BAD_ADDR, "descriptor address outside RAM");
            }
            tsize = desc.len / 16;
            idx = 0;
            count = 0;
            indirect = true;
            continue;
        }
        if (e->out_num + e->in_num >= VIRTQ_MAX_SEGS) {
            return vq_bad(d, vq, BAD_TOO_LONG, "descriptor chain too long");
        }
        void *p = mem_translate(d->mem, desc.addr, desc.len);
        if (!p) {
            return vq_bad(d, vq, BAD_ADDR, "descriptor address/length outside RAM");
        }
        if (desc.flags & VIRTQ_DESC_F_WRITE) {
            e->in_gpa[e->in_num] = desc.addr;
            e->in[e->in_num++] = (struct iovec){ p, desc.len };
            e->in_len += desc.len;
        } else {
            if (e->in_num) {
                return vq_bad(d, vq, BAD_ORDER, "readable descriptor after a writable one");
            }
            e->out[e->out_num++] = (struct iovec){ p, desc.len };
            e->out_len += desc.len;
        }
        if (!(desc.flags & VIRTQ_DESC_F_NEXT))
            break;
        idx = desc.next;
        if (idx >= tsize) {
            return vq_bad(d, vq, BAD_NEXT, "descriptor next index out of range");
        }
    }
    vq->last_avail++;
    if (virtio_has_feature(d, VIRTIO_F_EVENT_IDX)) {
        /* avail_event: kick us again for anything past what we consumed */
        __atomic_store_n(&vq->used[2 + 4 * vq->num], vq->last_avail, __ATOMIC_RELAXED);
        /* a write to RAM like the used ring's: logged for a migration or
         * an epoch even when no push follows before the cut (a held
         * element), else the copy keeps an old avail_event and the
         * driver there does not kick for what it adds next */
        mem_mark_dirty(d->mem, vq->used_addr + 4 + 8ULL * vq->num, 2);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    return 1;
}

void virtq_elem_mark_dirty(struct virtio_dev *d, const struct virtq_elem *e, uint64_t len)
{
    for (unsigned i = 0; i < e->in_num && len; i++) {
        uint64_t n = MIN(len, e->in[i].iov_len);
        mem_mark_dirty(d->mem, e->in_gpa[i], n);
        len -= n;
    }
}

void virtq_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e, uint32_t len)
{
    struct virtq *vq = &d->vq[q];
    if (q >= d->nvq || !vq->ready)
        return;
    if (len > e->in_len)
        len = (uint32_t)e->in_len;
    virtq_elem_mark_dirty(d, e, len);
    struct virtq_used_elem *ue = (struct virtq_used_elem *)(vq->used + 2) + vq->used_idx % vq->num;
    ue->id = e->head;
    ue->len = len;
    vq->used_idx++;
    __atomic_store_n(&vq->used[1], vq->used_idx, __ATOMIC_RELEASE);
    mem_mark_dirty(d->mem, vq->used_addr, 6 + 8ULL * vq->num);
}

void virtq_notify(struct virtio_dev *d, unsigned q)
{
    struct virtq *vq = &d->vq[q];
    if (q >= d->nvq || !vq->ready)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    bool need;
    if (virtio_has_feature(d, VIRTIO_F_EVENT_IDX)) {
        uint16_t event = ld16(&vq->avail[2 + vq->num]);
        uint16_t new = vq->used_idx, old = vq->signalled_used;
        need = !vq->signalled_valid || (uint16_t)(new - event - 1) < (uint16_t)(new - old);
        vq->signalled_used = new;
        vq->signalled_valid = true;
    } else {
        need = !(ld16(&vq->avail[0]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    if (need)
        virtio_interrupt(d, VIRTIO_ISR_USED, (int)q);
}

void virtq_interrupt(struct virtio_dev *d, unsigned q)
{
    if (q < d->nvq && d->vq[q].ready && virtio_running(d))
        virtio_interrupt(d, VIRTIO_ISR_USED, (int)q);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, c);
        done += c;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = MIN(iov[i].iov_len - off, len - done);
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, c);
        done += c;
        off = 0;
    }
    return done;
}

/* Requests made available but not taken when the state was saved (a
 * notification by eventfd still on its way, or one that came while the
 * device was paused): one notify per such queue, as QEMU signals every
 * queue's ioeventfd when it starts them. A paused device only queues
 * them until resume. */
void virtio_dev_kick(struct virtio_dev *d)
{
    bool work[VIRTIO_MAX_QUEUES] = { false };
    pthread_mutex_lock(&d->lock);
    for (unsigned i = 0; i < d->nvq; i++)
        work[i] = virtq_has_work(d, i);
    pthread_mutex_unlock(&d->lock);
    for (unsigned i = 0; i < d->nvq; i++)
        if (work[i] && d->ops && d->ops->notify)
            d->ops->notify(d, i);
}

void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&d->lock);
    st->device_id = d->device_id;
    st->status = d->status;
    st->config_gen = d->config_gen;
    st->isr = d->isr;
    st->nvq = d->nvq;
    st->guest_features = d->guest_features;
    for (unsigned i = 0; i < d->nvq; i++) {
        const struct virtq *vq = &d->vq[i];
        st->vq[i] = (struct virtq_state){
            .num = vq->num, .last_avail = vq->last_avail, .used_idx = vq->used_idx,
            .signalled_used = vq->signalled_used, .ready = vq->ready,
            .signalled_valid = vq->signalled_valid, .broken = vq->broken, .desc_addr = vq->desc_addr,
            .avail_addr = vq->avail_addr, .used_addr = vq->used_addr,
        };
    }
    pthread_mutex_unlock(&d->lock);
}

int virtio_dev_load(struct virtio_dev *d, const struct virtio_dev_state *st)
{
    if (st->device_id != d->device_id || st->nvq != d->nvq || (st->guest_features & ~d->host_features))
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    d->status = st->status & 0xff;
    d->config_gen = st->config_gen;
    d->isr = st->isr & 3;
    d->guest_features = st->guest_features;
    int ret = 0;
    for (unsigned i = 0; i < d->nvq; i++) {
        struct virtq *vq = &d->vq[i];
        const struct virtq_state *s = &st->vq[i];
        memset(vq, 0, sizeof(*vq));
        vq->num = s->num;
        vq->desc_addr = s->desc_addr;
        vq->avail_addr = s->avail_addr;
        vq->used_addr = s->used_addr;
        if (!s->ready)
            continue;
        pthread_mutex_unlock(&d->lock);
        int r = virtio_queue_enable(d, i);
        pthread_mutex_lock(&d->lock);
        if (r < 0) {
            ret = r;
            break;
        }
        vq->last_avail = s->last_avail;
        vq->used_idx = s->used_idx;
        vq->signalled_used = s->signalled_used;
        vq->signalled_valid = s->signalled_valid;
        vq->broken = s->broken;
    }
    if (d->tops && d->tops->interrupt && !d->tops->loads_after_device)
        d->tops->interrupt(d, 0, -1);   /* re-drive the line from isr (else the transport's load does) */
    pthread_mutex_unlock(&d->lock);
    if (ret == 0 && !(d->tops && d->tops->loads_after_device))
        virtio_dev_kick(d);
    return ret;
}

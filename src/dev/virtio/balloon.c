/* virtio-balloon (virtio 1.x, device id 5): the host asks the guest to give
 * memory back (num_pages), the guest hands over page frame numbers on the
 * inflate queue and takes them back on the deflate queue; the statistics
 * queue carries the guest's memory figures; free page reporting hands over
 * ranges the guest's allocator has free. Pages given back are released to
 * the host (mem_discard: MADV_DONTNEED, or a hole punched in a memfd).
 *
 * Everything the driver sends is checked: a PFN outside RAM, in a
 * read-only region or in one of this device's own rings is skipped (and
 * logged, rate limited); a report range is released only where it covers
 * whole pages of one RAM region. Work is done on the notifying vCPU thread
 * (a flood of reports costs the guest its own CPU time), except the stats
 * polling timer, which runs on the machine's I/O loop. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

#define F_MUST_TELL_HOST 0
#define F_STATS_VQ       1
#define F_DEFLATE_ON_OOM 2
#define F_FREE_PAGE_HINT 3
#define F_PAGE_POISON    4
#define F_REPORTING      5

#define PFN_SHIFT 12            /* VIRTIO_BALLOON_PFN_SHIFT: PFNs count 4 KiB pages */
#define PFN_BATCH 256           /* PFNs read per step (Linux sends at most 256 per buffer) */
#define STAT_BYTES 10           /* le16 tag + le64 value, packed */

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_REPORTING, Q_NONE };
#define Q_STATS_INDEX 2         /* the stats queue, when negotiated, is always the third */

struct balloon_config {         /* little endian, as the guest sees it */
    uint32_t num_pages;
    uint32_t actual;
    uint32_t free_page_hint_cmd_id;
    uint32_t poison_val;
};

struct virtio_balloon {
    struct virtio_dev vdev;
    struct balloon_config cfg;
    struct virtio_balloon_opts opts;
    struct virtio_balloon_host host;
    struct loop_timer *poll_timer;  /* stats polling (on the backends' loop thread) */
    struct loop_event *poll_set;    /* poll_interval changed: re-arm on that thread */
    unsigned poll_interval;         /* seconds, 0: no polling (under vdev.lock) */
    struct virtq_elem *stats_elem;  /* the stats buffer the device holds */
    bool stats_held;
    struct virtio_balloon_stats stats;
    struct virtio_balloon_counters cnt;
    uint32_t pfns[PFN_BATCH];
};

static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
    "stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults", "stat-free-memory",
    "stat-total-memory", "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
    "stat-htlb-pgfail",
};

const char *virtio_balloon_stat_name(unsigned tag)
{
    return tag < VIRTIO_BALLOON_S_NR ? stat_names[tag] : NULL;
}

/* Queue index -> role: the stats queue exists only with F_STATS_VQ, the
 * reporting queue only with F_REPORTING, and later queues move down. */
static unsigned queue_role(const struct virtio_dev *d, unsigned q)
{
    unsigned roles[4], n = 0;
    roles[n++] = Q_INFLATE;
    roles[n++] = Q_DEFLATE;
    if (virtio_has_feature(d, F_STATS_VQ))
        roles[n++] = Q_STATS;
    if (virtio_has_feature(d, F_REPORTING))
        roles[n++] = Q_REPORTING;
    return q < n ? roles[q] : Q_NONE;
}

/* Whether the 4 KiB page at gpa holds one of this device's rings. */
static bool page_is_ring(const struct virtio_dev *d, uint64_t gpa)
{
    for (unsigned i = 0; i < d->nvq; i++) {
        const struct virtq *vq = &d->vq[i];
        if (!vq->ready)
            continue;
        const uint64_t start[3] = { vq->desc_addr, vq->avail_addr, vq->used_addr };
        const uint64_t len[3] = { 16ULL * vq->num, 6 + 2ULL * vq->num, 6 + 8ULL * vq->num };
        for (unsigned k = 0; k < 3; k++)
            if (gpa < start[k] + len[k] && start[k] < gpa + (1ULL << PFN_SHIFT))
                return true;
    }
    return false;
}

/* Release one inflated page (lock held). */
static void inflate_page(struct virtio_balloon *b, uint32_t pfn)
{
    struct virtio_dev *d = &b->vdev;
    uint64_t gpa = (uint64_t)pfn << PFN_SHIFT;
    if (page_is_ring(d, gpa)) {
        b->cnt.refused++;
        log_guest("%s: inflate of PFN 0x%x, a page holding this device's rings: kept", d->name, pfn);
        return;
    }
    int64_t r = mem_discard(d->mem, gpa, 1ULL << PFN_SHIFT);
    if (r < 0) {
        b->cnt.refused++;
        log_guest("%s: inflate of PFN 0x%x (%s): ignored", d->name, pfn,
                  r == -EFAULT ? "outside RAM" : r == -EPERM ? "read-only memory" : strerror((int)-r));
        return;
    }
    b->cnt.inflated++;
    b->cnt.released_bytes += (uint64_t)r;
}

/* An inflate or deflate buffer: le32 PFNs in its readable part. The PFNs
 * are copied out first, so a buffer naming its own page reads no zeroes. */
static void pfn_buffer(struct virtio_balloon *b, const struct virtq_elem *e, bool inflate)
{
    uint64_t n = e->out_len / 4;
    if (e->out_len % 4)
        log_guest("%s: PFN buffer of %llu bytes, not a multiple of 4", b->vdev.name,
                  (unsigned long long)e->out_len);
    for (uint64_t done = 0; done < n;) {
        size_t k = (size_t)MIN(n - done, PFN_BATCH);
        iov_to_buf(e->out, e->out_num, done * 4, b->pfns, k * 4);
        for (size_t i = 0; i < k; i++) {
            uint32_t pfn = le32toh(b->pfns[i]);
            if (inflate) {
                inflate_page(b, pfn);
            } else if (!mem_translate(b->vdev.mem, (uint64_t)pfn << PFN_SHIFT, 1ULL << PFN_SHIFT)) {
                b->cnt.refused++;
                log_guest("%s: deflate of PFN 0x%x outside RAM: ignored", b->vdev.name, pfn);
            } else {
                b->cnt.deflated++;   /* the guest touches it again: the host faults it in */
            }
        }
        done += k;
    }
}

/* Free page reporting: each writable segment is a free range (lock held). */
static void report_buffer(struct virtio_balloon *b, const struct virtq_elem *e)
{
    struct virtio_dev *d = &b->vdev;
    b->cnt.reports++;
    /* the guest expects its poison pattern in pages it gets back: a
     * discarded page would read as zero (QEMU skips them the same way) */
    if (virtio_has_feature(d, F_PAGE_POISON) && b->cfg.poison_val)
        return;
    for (unsigned i = 0; i < e->in_num; i++) {
        int64_t r = mem_discard(d->mem, e->in_gpa[i], e->in[i].iov_len);
        if (r < 0) {
            b->cnt.refused++;
            log_guest("%s: reported range 0x%llx+0x%zx: %s", d->name, (unsigned long long)e->in_gpa[i],
                      e->in[i].iov_len, strerror((int)-r));
            continue;
        }
        b->cnt.reported_bytes += (uint64_t)r;
    }
}

/* The guest's statistics; the buffer is held until the next poll. Returns
 * whether an older buffer went back to the guest. */
static bool stats_buffer(struct virtio_balloon *b, const struct virtq_elem *e)
{
    struct virtio_dev *d = &b->vdev;
    bool pushed = false;
    if (b->stats_held) {        /* a second buffer: give the first back, keep the new one */
        log_guest("%s: a second stats buffer while the device holds one", d->name);
        virtq_push(d, Q_STATS_INDEX, b->stats_elem, 0);
        pushed = true;
    }
    uint64_t n = e->out_len / STAT_BYTES;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t raw[STAT_BYTES];
        uint16_t tag;
        uint64_t val;
        iov_to_buf(e->out, e->out_num, i * STAT_BYTES, raw, sizeof(raw));
        memcpy(&tag, raw, 2);
        memcpy(&val, raw + 2, 8);
        tag = le16toh(tag);
        if (tag < VIRTIO_BALLOON_S_NR) {     /* unknown tags: a newer driver, skipped */
            b->stats.val[tag] = le64toh(val);
            b->stats.have |= 1u << tag;
        }
    }
    b->stats.last_update = (int64_t)time(NULL);
    memcpy(b->stats_elem, e, sizeof(*e));
    b->stats_held = true;
    return pushed;
}

/* Serve queue q (lock held). */
static void serve_locked(struct virtio_balloon *b, unsigned q, struct virtq_elem *e)
{
    struct virtio_dev *d = &b->vdev;
    unsigned role = queue_role(d, q);
    bool any = false;
    while (role != Q_NONE && virtq_pop(d, q, e) == 1) {
        switch (role) {
        case Q_INFLATE: pfn_buffer(b, e, true); break;
        case Q_DEFLATE: pfn_buffer(b, e, false); break;
        case Q_REPORTING: report_buffer(b, e); break;
        case Q_STATS:
            any |= stats_buffer(b, e);
            continue;
        }
        virtq_push(d, q, e, 0);
        any = true;
    }
    if (any)
        virtq_notify(d, q);
}

static void balloon_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_balloon *b = d->opaque;
    struct virtq_elem *e = xmalloc(sizeof(*e));
    pthread_mutex_lock(&d->lock);
    serve_locked(b, q, e);
    pthread_mutex_unlock(&d->lock);
    free(e);
}

/* DRIVER_OK (lock held): Linux queues its first statistics buffer and
 * kicks before it sets DRIVER_OK, when a notify is not served yet; take
 * what is waiting on every queue now. */
static void balloon_start(struct virtio_dev *d)
{
    struct virtio_balloon *b = d->opaque;
    struct virtq_elem *e = xmalloc(sizeof(*e));
    for (unsigned q = 0; q < d->nvq; q++)
        serve_locked(b, q, e);
    free(e);
}

static void balloon_config_write(struct virtio_dev *d, unsigned off, const void *buf, unsigned len)
{
    struct virtio_balloon *b = d->opaque;
    uint8_t *c = (uint8_t *)&b->cfg;
    /* the driver writes actual (and poison_val); num_pages and the hint
     * command id are the device's */
    unsigned lo = MAX(off, 4u), hi = MIN(off + len, 16u);
    if (hi <= lo)
        return;
    uint32_t old = b->cfg.actual;
    for (unsigned i = lo; i < hi; i++)
        if (i < 8 || i >= 12)
            c[i] = ((const uint8_t *)buf)[i - off];
    uint32_t actual = le32toh(b->cfg.actual);
    if (actual != le32toh(old) && b->host.changed)
        b->host.changed(b->host.opaque, (uint64_t)actual << PFN_SHIFT);
}

static void balloon_reset(struct virtio_dev *d)
{
    struct virtio_balloon *b = d->opaque;
    b->cfg.actual = 0;
    b->cfg.poison_val = 0;
    b->stats_held = false;      /* the ring is gone with the reset */
}

static const struct virtio_dev_ops balloon_ops = {
    .notify = balloon_notify, .config_write = balloon_config_write, .start = balloon_start,
    .reset = balloon_reset,
};

/* ---- host side ---- */
int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t guest_bytes)
{
    struct virtio_dev *d = &b->vdev;
    pthread_mutex_lock(&d->lock);
    uint64_t ram = mem_ram_size(d->mem);
    uint64_t target = MIN(guest_bytes, ram);
    uint64_t pages = (ram - target) >> PFN_SHIFT;
    if (pages > UINT32_MAX)
        pages = UINT32_MAX;
    b->cfg.num_pages = htole32((uint32_t)pages);
    virtio_config_changed(d);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

uint64_t virtio_balloon_actual(struct virtio_balloon *b)
{
    struct virtio_dev *d = &b->vdev;
    pthread_mutex_lock(&d->lock);
    uint64_t ram = mem_ram_size(d->mem);
    uint64_t held = (uint64_t)le32toh(b->cfg.actual) << PFN_SHIFT;
    pthread_mutex_unlock(&d->lock);
    return held < ram ? ram - held : 0;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *st,
                              struct virtio_balloon_counters *cnt)
{
    pthread_mutex_lock(&b->vdev.lock);
    if (st)
        *st = b->stats;
    if (cnt)
        *cnt = b->cnt;
    pthread_mutex_unlock(&b->vdev.lock);
}

void virtio_balloon_request_stats(struct virtio_balloon *b)
{
    struct virtio_dev *d = &b->vdev;
    pthread_mutex_lock(&d->lock);
    if (b->stats_held && virtio_running(d) && virtio_has_feature(d, F_STATS_VQ)) {
        b->stats_held = false;
        virtq_push(d, Q_STATS_INDEX, b->stats_elem, 0);
        virtq_notify(d, Q_STATS_INDEX);
    }
    pthread_mutex_unlock(&d->lock);
}

static unsigned poll_interval(struct virtio_balloon *b)
{
    pthread_mutex_lock(&b->vdev.lock);
    unsigned s = b->poll_interval;
    pthread_mutex_unlock(&b->vdev.lock);
    return s;
}

/* loop thread: the timer fired, or the interval changed (both re-arm) */
static void poll_cb(void *opaque)
{
    struct virtio_balloon *b = opaque;
    unsigned s = poll_interval(b);
    if (!s) {
        loop_timer_del(b->poll_timer);
        return;
    }
    virtio_balloon_request_stats(b);
    loop_timer_mod(b->poll_timer, time_ms() + 1000ULL * s);
}

int virtio_balloon_set_poll_interval(struct virtio_balloon *b, unsigned seconds)
{
    if (!b->poll_timer)
        return -ENOSYS;
    pthread_mutex_lock(&b->vdev.lock);
    b->poll_interval = seconds;
    pthread_mutex_unlock(&b->vdev.lock);
    loop_event_notify(b->poll_set);
    return 0;
}

unsigned virtio_balloon_poll_interval(struct virtio_balloon *b)
{
    return poll_interval(b);
}

const struct virtio_balloon_opts *virtio_balloon_options(const struct virtio_balloon *b)
{
    return &b->opts;
}

struct virtio_balloon *virtio_balloon_create(const struct virtio_balloon_opts *o, struct loop *loop,
                                             const struct virtio_balloon_host *host)
{
    struct virtio_balloon *b = xzalloc(sizeof(*b));
    b->opts = *o;
    if (host)
        b->host = *host;
    b->stats_elem = xmalloc(sizeof(*b->stats_elem));
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        b->stats.val[i] = UINT64_MAX;
    uint64_t f = (1ULL << F_STATS_VQ) | (1ULL << F_PAGE_POISON);
    if (o->deflate_on_oom)
        f |= 1ULL << F_DEFLATE_ON_OOM;
    if (o->free_page_reporting)
        f |= 1ULL << F_REPORTING;
    virtio_dev_init(&b->vdev, "virtio-balloon", VIRTIO_ID_BALLOON, f, 4, &b->cfg, sizeof(b->cfg),
                    &balloon_ops, b);
    if (loop && (!(b->poll_timer = loop_timer_new(loop, poll_cb, b)) ||
                 !(b->poll_set = loop_event_new(loop, poll_cb, b)))) {
        virtio_balloon_destroy(b);
        return NULL;
    }
    return b;
}

struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b) { return &b->vdev; }

void virtio_balloon_destroy(struct virtio_balloon *b)
{
    if (!b)
        return;
    if (b->poll_set)
        loop_event_free(b->poll_set);
    if (b->poll_timer)
        loop_timer_free(b->poll_timer);
    virtio_dev_destroy(&b->vdev);
    free(b->stats_elem);
    free(b);
}

/* ---- --balloon[=deflate-on-oom=on,free-page-reporting=on,id=NAME] ---- */
static int on_off(const char *spec, const char *key, const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
    } else {
        log_error("--balloon %s: %s=%s: expected on or off", spec, key, v);
        return -EINVAL;
    }
    return 0;
}

int virtio_parse_balloon(const char *spec, struct virtio_balloon_opts *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "balloon0");
    if (!spec || !*spec)
        return 0;
    char buf[256];
    if (strlen(spec) >= sizeof(buf)) {
        log_error("--balloon: option string too long");
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *v = strchr(t, '=');
        if (!v) {
            log_error("--balloon %s: '%s' needs a value (deflate-on-oom=on|off, free-page-reporting=on|off, "
                      "id=NAME)", spec, t);
            return -EINVAL;
        }
        *v++ = 0;
        if (!strcmp(t, "deflate-on-oom")) {
            if (on_off(spec, t, v, &o->deflate_on_oom) < 0)
                return -EINVAL;
        } else if (!strcmp(t, "free-page-reporting")) {
            if (on_off(spec, t, v, &o->free_page_reporting) < 0)
                return -EINVAL;
        } else if (!strcmp(t, "id")) {
            if (!*v || strlen(v) >= sizeof(o->id) || strchr(v, '/')) {
                log_error("--balloon %s: id '%s': 1 to %zu characters, no '/'", spec, v, sizeof(o->id) - 1);
                return -EINVAL;
            }
            snprintf(o->id, sizeof(o->id), "%s", v);
        } else {
            log_error("--balloon %s: unknown option '%s' (deflate-on-oom, free-page-reporting, id)", spec, t);
            return -EINVAL;
        }
    }
    return 0;
}

static int balloon_kind_parse(const char *val, void **data)
{
    struct virtio_balloon_opts *o = xzalloc(sizeof(*o));
    if (virtio_parse_balloon(val, o) < 0) {
        free(o);
        return -EINVAL;
    }
    *data = o;
    return 0;
}

static void *balloon_kind_create(const void *data, unsigned index, const struct virtio_host *host,
                                 struct virtio_dev **dev)
{
    struct virtio_balloon *b = virtio_balloon_create(data, host->loop, &host->balloon);
    if (b)
        *dev = virtio_balloon_dev(b);
    return b;
}

static void balloon_kind_destroy(void *inst)
{
    virtio_balloon_destroy(inst);
}

/* ---- snapshot: what the device keeps beyond the virtio core's state ----
 * The guest-visible config (target, actual, poison), the stats polling
 * interval, the statistics and counters, and the head of the stats buffer
 * the device holds (it gives that buffer back on the next poll: only its
 * head is needed to return it with no bytes written). */
#define BALLOON_STATE_VERSION 1
struct balloon_state {          /* little endian */
    uint32_t version;
    struct balloon_config cfg;
    uint32_t poll_interval;
    uint16_t stats_head;
    uint8_t stats_held, pad[5];
    int64_t last_update;
    uint64_t stats[VIRTIO_BALLOON_S_NR];
    struct virtio_balloon_counters cnt;
};

static int balloon_kind_save_var(void *inst, uint8_t **buf, size_t *len)
{
    struct virtio_balloon *b = inst;
    struct balloon_state st = { .version = BALLOON_STATE_VERSION };
    pthread_mutex_lock(&b->vdev.lock);
    st.cfg = b->cfg;
    st.poll_interval = b->poll_interval;
    st.stats_held = b->stats_held;
    st.stats_head = b->stats_held ? b->stats_elem->head : 0;
    st.last_update = b->stats.last_update;
    memcpy(st.stats, b->stats.val, sizeof(st.stats));
    st.cnt = b->cnt;
    pthread_mutex_unlock(&b->vdev.lock);
    *buf = xrealloc(*buf, *len + sizeof(st));
    memcpy(*buf + *len, &st, sizeof(st));
    *len += sizeof(st);
    return 0;
}

static int balloon_kind_load_var(void *inst, const uint8_t *buf, size_t len)
{
    struct virtio_balloon *b = inst;
    struct balloon_state st;
    if (len != sizeof(st))
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    if (st.version != BALLOON_STATE_VERSION || st.stats_held > 1 || st.stats_head >= VIRTQ_MAX_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&b->vdev.lock);
    b->cfg = st.cfg;
    b->poll_interval = st.poll_interval;
    b->stats_held = st.stats_held;
    memset(b->stats_elem, 0, sizeof(*b->stats_elem));
    b->stats_elem->head = st.stats_head;
    b->stats.last_update = st.last_update;
    memcpy(b->stats.val, st.stats, sizeof(st.stats));
    b->cnt = st.cnt;
    pthread_mutex_unlock(&b->vdev.lock);
    if (b->poll_set)
        loop_event_notify(b->poll_set);   /* re-arm (or stop) the polling timer */
    return 0;
}

const struct virtio_kind virtio_balloon_kind = {
    .option = "balloon", .device = "virtio-balloon", .has_value = true, .max = 1, .needs_loop = true, .parse = balloon_kind_parse,
    .create = balloon_kind_create, .destroy = balloon_kind_destroy,
    .save_var = balloon_kind_save_var, .load_var = balloon_kind_load_var,
};

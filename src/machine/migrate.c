/* Live migration: pre-copy of RAM with dirty logging, then stop-and-copy
 * of the rest and of the machine's state (a snapshot's sections), over
 * the stream of machine/migstream.h; and the incoming side that loads it
 * (docs/snapshot.md, "Migration"). */
#include "machine/internal.h"
#include "machine/migstream.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BLOCKERS 8
#define THROTTLE_MAX 99

struct migration {
    pthread_mutex_t lock;               /* params, info, blockers, fd */
    struct machine_mig_params params;
    struct machine_mig_info info;
    char *blocker[MAX_BLOCKERS];
    unsigned nblockers;

    /* the source */
    pthread_t thread;
    bool thread_started;
    atomic_bool cancel;
    int fd;
    uint64_t *bitmap[MEM_MAX_REGIONS];
    uint8_t *pagebuf;                   /* MIG_PAGES_MAX pages being sent */
    uint64_t index[MIG_PAGES_MAX];
    unsigned nbuf, buf_region;
    uint64_t zero_first, zero_count;    /* a run of zero pages not sent yet */
    unsigned zero_region;
    uint64_t rl_start, rl_bytes;        /* max-bandwidth window */
    bool unlimited;                     /* the stop-and-copy: no max-bandwidth (the guest waits) */
    uint64_t sent;                      /* stream bytes */
    bool was_running;
    bool oneway;                        /* file: no destination answers; the source stays paused after */
    struct mig_reader rd;               /* the destination's answers */
    uint64_t t_pause, t_rest, t_state, t_sent;      /* the stop-and-copy's steps (ns, from its start) */
    uint64_t final_pages;
    /* auto-converge */
    pthread_t throttle_thread;
    bool throttle_started;
    atomic_bool throttle_stop;

    /* the destination */
    pthread_t in_thread;
    bool in_started;
    int in_listen, in_fd, in_wake;      /* in_listen: the listening socket, or the file (in_file) */
    bool in_file;                       /* --incoming file:PATH: read it, answer nothing */
    struct sock_path in_sock;           /* --incoming unix:PATH: removed at the end, if still ours */
};

static uint64_t now_ms(void) { return time_ns() / 1000000; }

static const char *const status_names[] = {
    [MIG_NONE] = "none", [MIG_SETUP] = "setup", [MIG_ACTIVE] = "active", [MIG_DEVICE] = "device",
    [MIG_COMPLETED] = "completed", [MIG_FAILED] = "failed", [MIG_CANCELLING] = "cancelling",
    [MIG_CANCELLED] = "cancelled",
};

const char *machine_mig_status_name(enum machine_mig_status s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "none";
}

int migrate_init(struct machine *m)
{
    struct migration *g = xzalloc(sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->params = (struct machine_mig_params){ .downtime_limit_ms = 300, .throttle_initial = 20,
                                             .throttle_increment = 10 };
    g->fd = g->in_listen = g->in_fd = g->in_wake = -1;
    m->mig = g;
    return 0;
}

void migrate_free(struct machine *m)
{
    struct migration *g = m->mig;
    if (!g)
        return;
    migrate_stop(m);
    for (unsigned i = 0; i < g->nblockers; i++)
        free(g->blocker[i]);
    for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
        free(g->bitmap[i]);
    free(g->pagebuf);
    pthread_mutex_destroy(&g->lock);
    free(g);
    m->mig = NULL;
}

int machine_add_migration_blocker(struct machine *m, const char *reason)
{
    struct migration *g = m->mig;
    pthread_mutex_lock(&g->lock);
    int r = g->nblockers < MAX_BLOCKERS ? 0 : -ENOSPC;
    if (!r)
        g->blocker[g->nblockers++] = xstrdup(reason);
    pthread_mutex_unlock(&g->lock);
    return r;
}

bool migrate_blocker(struct machine *m, char *out, size_t n)
{
    struct migration *g = m->mig;
    pthread_mutex_lock(&g->lock);
    bool any = g->nblockers > 0;
    if (any)
        repl_copy_str(out, n, g->blocker[0]);
    pthread_mutex_unlock(&g->lock);
    return any;
}

void machine_migrate_get_params(struct machine *m, struct machine_mig_params *out)
{
    pthread_mutex_lock(&m->mig->lock);
    *out = m->mig->params;
    pthread_mutex_unlock(&m->mig->lock);
}

void machine_migrate_set_params(struct machine *m, const struct machine_mig_params *p)
{
    pthread_mutex_lock(&m->mig->lock);
    m->mig->params = *p;
    pthread_mutex_unlock(&m->mig->lock);
}

void machine_migrate_info(struct machine *m, struct machine_mig_info *out)
{
    pthread_mutex_lock(&m->mig->lock);
    *out = m->mig->info;
    pthread_mutex_unlock(&m->mig->lock);
    out->throttle_pct = atomic_load(&m->throttle_pct);
}

/* The MIGRATION event is queued before the lock that publishes the status
 * is dropped: a query-migrate reply that shows the new status is sent after
 * the event (a reply flushes queued events first), as on QEMU, where both
 * happen under the big lock. The event queue's lock nests inside this one. */
static void set_status(struct machine *m, enum machine_mig_status st)
{
    pthread_mutex_lock(&m->mig->lock);
    bool changed = m->mig->info.status != st;
    m->mig->info.status = st;
    if (changed)
        machine_emit_migration(m, machine_mig_status_name(st));
    pthread_mutex_unlock(&m->mig->lock);
}

static void PRINTF(2, 3) set_error(struct machine *m, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&m->mig->lock);
    va_start(ap, fmt);
    vsnprintf(m->mig->info.error, sizeof(m->mig->info.error), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&m->mig->lock);
}

/* ---- auto-converge ---- */
static void *throttle_main(void *arg)
{
    struct machine *m = arg;
    while (!atomic_load(&m->mig->throttle_stop)) {
        unsigned pct = atomic_load(&m->throttle_pct);
        /* one slice of running plus the sleep: each vCPU sleeps once per period */
        uint64_t ns = MACHINE_THROTTLE_SLICE_NS * 100 / (100 - (pct > THROTTLE_MAX ? THROTTLE_MAX : pct));
        /* in steps of a slice at most, so that the end of the throttle is quick */
        for (uint64_t end = time_ns() + ns, now; (now = time_ns()) < end && !atomic_load(&m->mig->throttle_stop);) {
            struct timespec ts = { 0, (long)MIN(end - now, MACHINE_THROTTLE_SLICE_NS) };
            nanosleep(&ts, NULL);
        }
        atomic_fetch_add(&m->throttle_tick, 1);
        machine_kick(m);
    }
    return NULL;
}

static void throttle_up(struct machine *m)
{
    struct migration *g = m->mig;
    unsigned pct = atomic_load(&m->throttle_pct);
    pthread_mutex_lock(&g->lock);
    unsigned next = pct ? pct + g->params.throttle_increment : g->params.throttle_initial;
    pthread_mutex_unlock(&g->lock);
    next = next > THROTTLE_MAX ? THROTTLE_MAX : next ? next : 1;
    atomic_store(&m->throttle_pct, next);
    if (next != pct)
        log_info("migrate: auto-converge throttles the vCPUs to %u%%", next);
    if (!g->throttle_started) {
        atomic_store(&g->throttle_stop, false);
        atomic_fetch_or(&m->req, MACHINE_REQ_THROTTLE);
        g->throttle_started = pthread_create(&g->throttle_thread, NULL, throttle_main, m) == 0;
    }
}

static void throttle_end(struct machine *m)
{
    struct migration *g = m->mig;
    atomic_fetch_and(&m->req, ~MACHINE_REQ_THROTTLE);
    atomic_store(&m->throttle_pct, 0);
    if (g->throttle_started) {
        atomic_store(&g->throttle_stop, true);
        pthread_join(g->throttle_thread, NULL);
        g->throttle_started = false;
    }
    pthread_mutex_lock(&m->lock);
    for (unsigned i = 0; i < m->cfg.ncpus; i++)
        m->vcpu[i].throttle_woke = m->vcpu[i].throttle_until = 0;
    pthread_cond_broadcast(&m->cond);       /* a vCPU asleep wakes now */
    pthread_mutex_unlock(&m->lock);
}

/* ---- sending RAM ---- */
/* Keep to max-bandwidth: after `bytes` more, sleep until the window's
 * average is at the limit (100 ms windows, as QEMU's rate limit). */
static void rate_limit(struct migration *g, uint64_t bytes)
{
    g->sent += bytes;
    pthread_mutex_lock(&g->lock);
    uint64_t bw = g->params.max_bandwidth;
    g->info.transferred = g->sent;
    pthread_mutex_unlock(&g->lock);
    if (!bw || g->unlimited)
        return;
    uint64_t now = time_ns();
    if (now - g->rl_start > 100000000ULL) {
        g->rl_start = now;
        g->rl_bytes = 0;
    }
    g->rl_bytes += bytes;
    uint64_t due = g->rl_start + g->rl_bytes * 1000000000ULL / bw;
    while (now < due && !atomic_load(&g->cancel)) {
        uint64_t d = MIN(due - now, 10000000ULL);
        struct timespec ts = { 0, (long)d };
        nanosleep(&ts, NULL);
        now = time_ns();
    }
}

static int put(struct migration *g, ssize_t n)
{
    if (n < 0)
        return (int)n;
    rate_limit(g, (uint64_t)n);
    return atomic_load(&g->cancel) ? -ECANCELED : 0;
}

static int flush_pages(struct migration *g)
{
    int r = 0;
    if (g->nbuf) {
        r = put(g, mig_write_pages(g->fd, g->buf_region, g->index, g->nbuf, g->pagebuf));
        pthread_mutex_lock(&g->lock);
        g->info.normal += g->nbuf;
        g->info.normal_bytes += g->nbuf * MEM_PAGE_SIZE;
        pthread_mutex_unlock(&g->lock);
        g->nbuf = 0;
    }
    if (!r && g->zero_count) {
        r = put(g, mig_write_zero(g->fd, g->zero_region, g->zero_first, g->zero_count));
        pthread_mutex_lock(&g->lock);
        g->info.duplicate += g->zero_count;
        pthread_mutex_unlock(&g->lock);
        g->zero_count = 0;
    }
    return r;
}

/* One page. A zero page is seen in place, not copied first: most of a
 * first pass is pages the guest never wrote, and reading 256 MiB once
 * instead of copying it costs the vCPUs less of the host. The guest may
 * write the page meanwhile, as it may during a copy: its bit was taken
 * before (sync_dirty), so a write from then on is in the next sync, and
 * the page goes again. Any other page is copied first: the copy is what
 * is sent. */
static int send_page(struct migration *g, const struct mem_region *r, unsigned region, uint64_t page)
{
    uint8_t *dst = g->pagebuf + (size_t)g->nbuf * MEM_PAGE_SIZE;
    const uint8_t *src = r->host + (page << MEM_PAGE_SHIFT);
    if (mem_page_is_zero(src)) {
        if (g->zero_count && (g->zero_region != region || g->zero_first + g->zero_count != page)) {
            int e = flush_pages(g);
            if (e)
                return e;
        }
        if (!g->zero_count) {
            g->zero_region = region;
            g->zero_first = page;
        }
        g->zero_count++;
        return 0;
    }
    if (g->nbuf && g->buf_region != region) {
        int e = flush_pages(g);
        if (e)
            return e;
        dst = g->pagebuf;
    }
    memcpy(dst, src, MEM_PAGE_SIZE);
    g->buf_region = region;
    g->index[g->nbuf++] = page;
    return g->nbuf == MIG_PAGES_MAX ? flush_pages(g) : 0;
}

/* Every page whose bit is set in the bitmaps (the bits are cleared). */
static int send_dirty(struct machine *m)
{
    struct migration *g = m->mig;
    for (unsigned i = 0; i < m->mem.nr; i++) {
        const struct mem_region *r = &m->mem.r[i];
        uint64_t words = mem_bitmap_words(r->size);
        for (uint64_t w = 0; w < words; w++) {
            while (g->bitmap[i][w]) {
                unsigned b = (unsigned)__builtin_ctzll(g->bitmap[i][w]);
                g->bitmap[i][w] &= g->bitmap[i][w] - 1;
                int e = send_page(g, r, i, w * 64 + b);
                if (e)
                    return e;
            }
        }
    }
    return flush_pages(g);
}

/* Pages dirtied since the last sync into the bitmaps (vCPUs parked: no
 * store half done); the count of dirty pages in them. */
static uint64_t sync_dirty(struct machine *m, bool parked)
{
    struct migration *g = m->mig;
    if (!parked && machine_vcpus_park(m) < 0)
        return 0;
    for (unsigned i = 0; i < m->mem.nr; i++) {
        m->eops->dirty_log_sync(m->eng, i, g->bitmap[i]);
        mem_dirty_collect(&m->mem, i, g->bitmap[i]);     /* devices' writes */
    }
    if (!parked)
        machine_vcpus_unpark(m);
    uint64_t n = 0;
    for (unsigned i = 0; i < m->mem.nr; i++)
        for (uint64_t w = 0; w < mem_bitmap_words(m->mem.r[i].size); w++)
            n += (uint64_t)__builtin_popcountll(g->bitmap[i][w]);
    pthread_mutex_lock(&g->lock);
    g->info.iterations++;
    g->info.remaining = n * MEM_PAGE_SIZE;
    pthread_mutex_unlock(&g->lock);
    return n;
}

static int dirty_log_start(struct machine *m)
{
    struct migration *g = m->mig;
    for (unsigned i = 0; i < m->mem.nr; i++) {
        uint64_t words = mem_bitmap_words(m->mem.r[i].size);
        free(g->bitmap[i]);
        g->bitmap[i] = xzalloc(words * sizeof(uint64_t));
        /* the first pass sends everything: all bits set, none past the end */
        uint64_t pages = m->mem.r[i].size >> MEM_PAGE_SHIFT;
        for (uint64_t p = 0; p < pages; p++)
            g->bitmap[i][p / 64] |= 1ULL << (p % 64);
    }
    int r = machine_vcpus_park(m);
    if (r < 0)
        return r;
    r = mem_dirty_enable(&m->mem);
    if (!r)
        r = m->eops->dirty_log_start(m->eng);
    if (!r)
        atomic_store(&m->dirty_logging, true);
    machine_vcpus_unpark(m);
    return r;
}

static void dirty_log_stop(struct machine *m)
{
    if (!atomic_load(&m->dirty_logging))
        return;
    bool parked = machine_vcpus_park(m) == 0;
    m->eops->dirty_log_stop(m->eng);
    mem_dirty_disable(&m->mem);
    atomic_store(&m->dirty_logging, false);
    if (parked)
        machine_vcpus_unpark(m);
}

static int await_answer(struct migration *g, uint32_t pass, char *err, size_t errlen);

/* Pre-copy: all of RAM, then the dirty pages pass after pass until what is
 * left fits the downtime limit at the bandwidth measured. */
static int precopy(struct machine *m, char *err, size_t errlen)
{
    struct migration *g = m->mig;
    unsigned hot = 0;
    for (uint64_t pass = 1;; pass++) {
        uint64_t t0 = time_ns(), b0 = g->sent;
        int r = send_dirty(m);
        if (!r)
            r = put(g, mig_write_record(g->fd, MIG_REC_PASS, (uint32_t)pass, NULL, 0));
        if (r)
            return r;
        uint64_t dt = MAX(time_ns() - t0, 1000ULL), bytes = g->sent - b0;
        uint64_t dirty = sync_dirty(m, false);
        double bw = (double)bytes / (double)dt * 1e6;                /* bytes per ms */
        pthread_mutex_lock(&g->lock);
        uint64_t limit = g->params.downtime_limit_ms;
        bool ac = g->params.auto_converge;
        g->info.mbps = bw * 8e3 / 1e6;
        g->info.dirty_rate = (uint64_t)((double)dirty * 1e9 / (double)dt);
        g->info.expected_downtime_ms = (int64_t)((double)(dirty * MEM_PAGE_SIZE) / (bw > 0 ? bw : 1));
        int64_t expected = g->info.expected_downtime_ms;
        pthread_mutex_unlock(&g->lock);
        log_debug("migrate: pass %llu: %llu bytes in %.1f ms, %llu pages dirty, expected downtime %lld ms",
                  (unsigned long long)pass, (unsigned long long)bytes, (double)dt / 1e6,
                  (unsigned long long)dirty, (long long)expected);
        if (expected <= (int64_t)limit)     /* the destination has applied it all: no backlog in the downtime */
            return g->oneway ? 0 : await_answer(g, (uint32_t)pass, err, errlen);
        /* QEMU's rule: dirtied more than half of what was sent, twice: throttle */
        if (ac && dirty * MEM_PAGE_SIZE * 2 > bytes && ++hot >= 2) {
            throttle_up(m);
            hot = 0;
        }
        if (atomic_load(&g->cancel))
            return -ECANCELED;
    }
}

/* ---- stop and copy ---- */
static void disks_lock(struct machine *m, bool on)
{
    for (unsigned i = 0; i < machine_nblock(m); i++) {
        int r = virtio_board_block_lock(m->virtio, i, on);
        if (r < 0 && r != -ENOTSUP)
            log_warn("migrate: disk %u: cannot %s its lock: %s", i, on ? "take" : "drop", strerror(-r));
    }
}

/* The machine's state as a snapshot's manifest and state.bin. */
static int state_bytes(struct machine *m, char **man, size_t *mlen, uint8_t **st, size_t *slen, char *err,
                       size_t errlen)
{
    struct snap_writer *w = snap_writer_new(m->eops->machine_type, m->eops->target, m->cfg.ncpus);
    int r = machine_state_save(m, w, err, errlen);
    for (unsigned i = 0; !r && i < m->mem.nr; i++) {
        struct snap_ram sr = { .gpa = m->mem.r[i].gpa, .size = m->mem.r[i].size };
        snprintf(sr.file, sizeof(sr.file), "stream-%u", i);
        snap_add_ram(w, &sr);
    }
    for (unsigned i = 0; !r && i < machine_nblock(m); i++) {
        struct machine_block_info bi;
        struct snap_disk d = { 0 };
        machine_block_info(m, i, &bi);
        snprintf(d.id, sizeof(d.id), "%s", bi.device);
        snprintf(d.path, sizeof(d.path), "%s", bi.file);
        if ((r = snap_disk_identity(bi.file, &d)) < 0)
            snprintf(err, errlen, "disk %s (%s): %s", d.id, d.path, strerror(-r));
        else
            snap_add_disk(w, &d);
    }
    if (!r)
        snap_writer_finish(w, man, mlen, st, slen);
    snap_writer_free(w);
    return r;
}

static ssize_t fd_read(void *opaque, void *buf, size_t len)
{
    ssize_t n = read(*(int *)opaque, buf, len);
    return n < 0 ? -errno : n;
}

/* The destination's answer: 0 once its guest runs, else -errno + err.
 * pass > 0: wait for PASS_ACK of that pass instead. */
static int await_answer(struct migration *g, uint32_t pass, char *err, size_t errlen)
{
    struct mig_record rec;
    int r;
    do
        r = mig_read_record(&g->rd, &rec, err, errlen);
    while (!r && rec.type == MIG_REC_PASS_ACK && rec.arg != pass);
    if (!r && pass && rec.type == MIG_REC_PASS_ACK)
        return 0;
    if (!r && rec.type == MIG_REC_FAILED)
        r = -EIO, snprintf(err, errlen, "the destination failed: %.*s", (int)MIN(rec.len, 400),
                           (const char *)rec.payload);
    else if (!r && rec.type != MIG_REC_RUNNING)
        r = -EPROTO, snprintf(err, errlen, "the destination answered with record type %u", rec.type);
    else if (r == -EPIPE)
        snprintf(err, errlen, "the destination went away before it confirmed that its guest runs");
    return r;
}

/* Pause, send the rest and the state, wait for the destination. 0: it
 * runs (downtime set); else the guest here resumes. */
static int stop_and_copy(struct machine *m, char *err, size_t errlen)
{
    struct migration *g = m->mig;
    uint64_t t0 = time_ns();
    g->was_running = machine_status(m) == MACHINE_RUNNING;
    int r = machine_pause(m);
    if (r < 0)
        return snprintf(err, errlen, "cannot pause the machine: %s", strerror(-r)), r;
    atomic_store(&m->migrating_out, true);     /* QMP cont waits for the outcome */
    g->t_pause = time_ns() - t0;
    machine_bench_stamp("migration: paused");
    g->unlimited = true;
    set_status(m, MIG_DEVICE);
    throttle_end(m);
    g->final_pages = sync_dirty(m, machine_vcpus_park(m) == 0);
    machine_vcpus_unpark(m);
    r = send_dirty(m);
    dirty_log_stop(m);
    g->t_rest = time_ns() - t0;
    char *man = NULL;
    uint8_t *st = NULL;
    size_t mlen = 0, slen = 0;
    if (!r) {
        disks_lock(m, false);
        r = state_bytes(m, &man, &mlen, &st, &slen, err, errlen);
        g->t_state = time_ns() - t0;
        if (!r)
            r = put(g, mig_write_state(g->fd, g->was_running, man, mlen, st, slen));
        if (!r)
            r = put(g, mig_write_record(g->fd, MIG_REC_END, 0, NULL, 0));
        g->t_sent = time_ns() - t0;
        if (r && !err[0])
            snprintf(err, errlen, "sending the state: %s", strerror(-r));
        if (!r && g->oneway && fsync(g->fd) < 0)
            r = -errno, snprintf(err, errlen, "writing the file: %s", strerror(errno));
        else if (!r && !g->oneway)
            r = await_answer(g, 0, err, errlen);
    } else if (r != -ECANCELED) {
        snprintf(err, errlen, "sending RAM: %s", strerror(-r));
    }
    free(man);
    free(st);
    if (r) {
        atomic_store(&m->migrating_out, false);     /* on success it stays: the guest runs elsewhere */
        disks_lock(m, true);
        if (g->was_running)
            machine_resume(m);
        return r;
    }
    pthread_mutex_lock(&g->lock);
    g->info.downtime_ms = (int64_t)((time_ns() - t0) / 1000000);
    g->info.remaining = 0;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

/* A write failed: the destination may have said why before it left. */
static void destination_reason(struct migration *g, char *err, size_t errlen)
{
    struct pollfd p = { g->fd, POLLIN, 0 };
    struct mig_record rec;
    char why[256];
    while (poll(&p, 1, 0) == 1 && mig_read_record(&g->rd, &rec, why, sizeof(why)) == 0)
        if (rec.type == MIG_REC_FAILED) {
            snprintf(err, errlen, "the destination failed: %.*s", (int)MIN(rec.len, 400), (const char *)rec.payload);
            return;
        }
}

static void *migrate_main(void *arg)
{
    struct machine *m = arg;
    struct migration *g = m->mig;
    char err[512] = "";
    uint64_t t0 = now_ms();
    mig_reader_init(&g->rd, fd_read, &g->fd);
    int r = put(g, mig_write_header(g->fd));
    struct mig_shape sh = { m->eops->machine_type, m->eops->target, m->cfg.ncpus, m->mem.nr };
    for (unsigned i = 0; i < m->mem.nr; i++) {
        sh.gpa[i] = m->mem.r[i].gpa;
        sh.size[i] = m->mem.r[i].size;
    }
    if (!r)
        r = put(g, mig_write_hello(g->fd, &sh));
    if (!r && (r = dirty_log_start(m)) < 0)
        snprintf(err, sizeof(err), "cannot start dirty logging: %s", strerror(-r));
    pthread_mutex_lock(&g->lock);
    g->info.setup_time_ms = (int64_t)(now_ms() - t0);
    pthread_mutex_unlock(&g->lock);
    if (!r) {
        set_status(m, MIG_ACTIVE);
        r = precopy(m, err, sizeof(err));
        if (r && r != -ECANCELED && !err[0])
            snprintf(err, sizeof(err), "sending RAM: %s", strerror(-r));
    }
    if (!r)
        r = stop_and_copy(m, err, sizeof(err));
    if ((r == -EPIPE || r == -ECONNRESET) && !g->oneway)
        destination_reason(g, err, sizeof(err));
    throttle_end(m);
    dirty_log_stop(m);
    bool cancelled = atomic_load(&g->cancel) && (r == -ECANCELED || !err[0]);
    if (cancelled)
        mig_write_record(g->fd, MIG_REC_CANCEL, 0, "migrate_cancel", 14);
    pthread_mutex_lock(&g->lock);
    g->info.total_time_ms = (int64_t)(now_ms() - t0);
    int fd = g->fd;
    g->fd = -1;
    pthread_mutex_unlock(&g->lock);
    close(fd);
    mig_reader_free(&g->rd);
    if (!r && g->oneway) {
        /* QEMU's postmigrate: the guest is in the file and stays paused here (cont, quit) */
        disks_lock(m, true);
        atomic_store(&m->migrating_out, false);
        set_status(m, MIG_COMPLETED);
        log_info("migrate: completed in %lld ms, %llu passes: the machine is in the file; it stays paused here "
                 "(cont resumes it, quit ends it)", (long long)g->info.total_time_ms,
                 (unsigned long long)g->info.iterations);
    } else if (!r) {
        set_status(m, MIG_COMPLETED);
        log_info("migrate: completed in %lld ms, %llu passes; the guest runs at the destination: exiting "
                 "(downtime %lld ms: paused at %.1f, %llu last pages sent at %.1f, state at %.1f, sent at %.1f)",
                 (long long)g->info.total_time_ms, (unsigned long long)g->info.iterations,
                 (long long)g->info.downtime_ms, (double)g->t_pause / 1e6, (unsigned long long)g->final_pages,
                 (double)g->t_rest / 1e6, (double)g->t_state / 1e6, (double)g->t_sent / 1e6);
        machine_shutdown(m, MACHINE_STOP_QUIT, 0);
    } else if (cancelled) {
        set_status(m, MIG_CANCELLED);
    } else {
        if (!err[0])
            snprintf(err, sizeof(err), "%s", strerror(-r));
        set_error(m, "%s", err);
        log_warn("migrate: failed: %s; the guest runs on here", err);
        set_status(m, MIG_FAILED);
    }
    return NULL;
}

/* The previous migration's thread, once it has ended (from the control
 * thread): joined so another may start. */
static void reap(struct migration *g)
{
    pthread_mutex_lock(&g->lock);
    enum machine_mig_status st = g->info.status;
    pthread_mutex_unlock(&g->lock);
    if (g->thread_started && (st == MIG_COMPLETED || st == MIG_FAILED || st == MIG_CANCELLED)) {
        pthread_join(g->thread, NULL);
        g->thread_started = false;
    }
}

int machine_migrate(struct machine *m, const char *uri, char *err, size_t errlen)
{
    struct migration *g = m->mig;
    struct mig_uri u;
    reap(g);
    int r = mig_uri_parse_migrate(uri, &u, err, errlen);
    if (r)
        return r;
    if (!m->eops || !m->eops->dirty_log_start || !m->eops->dirty_log_sync || !m->eops->dirty_log_stop ||
        !m->eops->save || !m->eops->machine_type)
        return snprintf(err, errlen, "this machine cannot be migrated yet (its engine has no dirty logging)"),
               -ENOTSUP;
    pthread_mutex_lock(&g->lock);
    enum machine_mig_status st = g->info.status;
    const char *blocker = g->nblockers ? g->blocker[0] : NULL;
    pthread_mutex_unlock(&g->lock);
    if (blocker)
        return snprintf(err, errlen, "migration is blocked: %s", blocker), -EPERM;
    if (st == MIG_SETUP || st == MIG_ACTIVE || st == MIG_DEVICE || st == MIG_CANCELLING || g->thread_started ||
        atomic_load(&m->incoming_wait))
        return snprintf(err, errlen, "There's a migration process in progress"), -EBUSY;
    if (atomic_load(&m->dirty_logging))     /* hot-spare replication uses the dirty log */
        return snprintf(err, errlen, "the machine is being replicated (query-replication): migration is refused"),
               -EBUSY;
    enum machine_status ms = machine_status(m);
    if (ms == MACHINE_SHUTDOWN || ms == MACHINE_INTERNAL_ERROR)
        return snprintf(err, errlen, "the machine is shutting down"), -ESHUTDOWN;
    int fd = mig_uri_connect(&u, err, errlen);
    if (fd < 0)
        return fd;
    if (!g->pagebuf)
        g->pagebuf = xmalloc(MIG_PAGES_MAX * MEM_PAGE_SIZE);
    pthread_mutex_lock(&g->lock);
    g->fd = fd;
    memset(&g->info, 0, sizeof(g->info));
    g->info.status = MIG_NONE;
    g->info.total = mem_ram_size(&m->mem);
    g->info.remaining = g->info.total;
    pthread_mutex_unlock(&g->lock);
    g->sent = g->nbuf = 0;
    g->oneway = u.file;
    g->zero_count = 0;
    g->unlimited = false;
    g->rl_start = time_ns();
    g->rl_bytes = 0;
    atomic_store(&g->cancel, false);
    set_status(m, MIG_SETUP);
    r = pthread_create(&g->thread, NULL, migrate_main, m);
    if (r) {
        close(fd);
        g->fd = -1;
        set_status(m, MIG_FAILED);
        return snprintf(err, errlen, "cannot start the migration thread: %s", strerror(r)), -r;
    }
    g->thread_started = true;
    return 0;
}

int machine_migrate_cancel(struct machine *m)
{
    struct migration *g = m->mig;
    pthread_mutex_lock(&g->lock);
    enum machine_mig_status st = g->info.status;
    bool active = st == MIG_SETUP || st == MIG_ACTIVE;
    pthread_mutex_unlock(&g->lock);
    if (!active)
        return 0;               /* QEMU: nothing to cancel is no error */
    atomic_store(&g->cancel, true);
    set_status(m, MIG_CANCELLING);
    return 0;
}

void migrate_stop(struct machine *m)
{
    struct migration *g = m->mig;
    if (!g)
        return;
    if (g->thread_started) {
        atomic_store(&g->cancel, true);
        pthread_mutex_lock(&g->lock);
        if (g->fd >= 0)
            shutdown(g->fd, SHUT_RDWR);     /* out of a blocked write or read */
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
        g->thread_started = false;
    }
    throttle_end(m);
    if (g->in_started) {
        uint64_t one = 1;
        if (write(g->in_wake, &one, sizeof(one)) < 0)
            log_warn("migrate: eventfd: %s", strerror(errno));
        pthread_mutex_lock(&g->lock);
        if (g->in_fd >= 0)
            shutdown(g->in_fd, SHUT_RDWR);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->in_thread, NULL);
        g->in_started = false;
    }
    if (g->in_listen >= 0)
        close(g->in_listen);
    sock_path_remove(&g->in_sock);
    if (g->in_wake >= 0)
        close(g->in_wake);
    g->in_listen = g->in_wake = -1;
}

/* ---- the destination ---- */
static void incoming_fail(struct machine *m, int fd, const char *why)
{
    log_error("incoming migration: %s", why);
    if (fd >= 0)
        mig_write_record(fd, MIG_REC_FAILED, 0, why, strlen(why));
    machine_shutdown(m, MACHINE_STOP_ERROR, 1);
}

/* The stream's state into the machine (RAM is in place): every check
 * first, then the disks' locks, the engine and the devices. */
static int incoming_load(struct machine *m, const char *man, size_t mlen, const uint8_t *st, size_t slen,
                         char *err, size_t errlen)
{
    struct snap *s;
    char why[512];
    int r = snap_parse(man, mlen, st, slen, &s, why, sizeof(why));
    if (r < 0)
        return snprintf(err, errlen, "the machine state: %s", why), r;
    snap_set_dir(s, "(migration stream)");
    r = machine_state_check(m, s, err, errlen);
    for (unsigned i = 0; !r && i < machine_nblock(m); i++)
        if ((r = virtio_board_block_lock(m->virtio, i, true)) < 0 && r != -ENOTSUP)
            snprintf(err, errlen, "disk %u: cannot take its lock (the source still holds it?)", i);
        else
            r = 0;
    if (!r)
        r = machine_state_load(m, s, err, errlen);
    snap_free(s);
    return r;
}

static void *incoming_main(void *arg)
{
    struct machine *m = arg;
    struct migration *g = m->mig;
    /* the source, or -1 when the machine stops; a file is read as it is */
    int fd = g->in_file ? g->in_listen : mig_accept(g->in_listen, g->in_wake);
    if (g->in_file) {
        pthread_mutex_lock(&g->lock);
        g->in_listen = -1;
        pthread_mutex_unlock(&g->lock);
    }
    if (fd < 0) {
        if (!machine_vcpu_should_exit(m))
            incoming_fail(m, -1, "cannot accept the source's connection");
        return NULL;
    }
    pthread_mutex_lock(&g->lock);
    g->in_fd = fd;
    pthread_mutex_unlock(&g->lock);
    uint64_t t0 = time_ns();
    struct mig_shape sh = { m->eops->machine_type, m->eops->target, m->cfg.ncpus, m->mem.nr };
    for (unsigned i = 0; i < m->mem.nr; i++) {
        sh.gpa[i] = m->mem.r[i].gpa;
        sh.size[i] = m->mem.r[i].size;
    }
    struct mig_reader rd;
    struct mig_incoming_stats stats = { 0 };
    char *man = NULL, err[600] = "";
    uint8_t *st = NULL;
    size_t mlen = 0, slen = 0;
    bool running = false;
    mig_reader_init(&rd, fd_read, &g->in_fd);
    int ack = g->in_file ? -1 : fd;     /* nothing goes back into a file */
    int r = mig_receive(&rd, ack, &m->mem, &sh, &man, &mlen, &st, &slen, &running, &stats, err, sizeof(err));
    mig_reader_free(&rd);
    if (!r)
        r = incoming_load(m, man, mlen, st, slen, err, sizeof(err));
    free(man);
    free(st);
    if (r) {
        if (!machine_vcpu_should_exit(m))
            incoming_fail(m, ack, err);
    } else {
        log_debug("incoming migration: %llu pages, %llu zero pages, %llu passes, %.1f ms",
                  (unsigned long long)stats.pages, (unsigned long long)stats.zero_pages,
                  (unsigned long long)stats.passes, (double)(time_ns() - t0) / 1e6);
        atomic_store(&m->incoming_wait, false);
        machine_bench_stamp("incoming migration: state loaded");
        /* -S: the guest stays paused until QMP cont, as QEMU's -incoming
         * without autostart */
        if (running && !m->cfg.start_paused)
            machine_resume(m);
        set_status(m, MIG_COMPLETED);
        if (ack >= 0)
            mig_write_record(fd, MIG_REC_RUNNING, 0, NULL, 0);
    }
    pthread_mutex_lock(&g->lock);
    g->in_fd = -1;
    pthread_mutex_unlock(&g->lock);
    close(fd);
    return NULL;
}

int migrate_incoming_start(struct machine *m)
{
    struct migration *g = m->mig;
    struct mig_uri u;
    char err[512];
    if (mig_uri_parse_migrate(m->cfg.incoming, &u, err, sizeof(err)) < 0 ||
        (g->in_listen = mig_uri_listen(&u, err, sizeof(err))) < 0) {
        log_error("--incoming: %s", err);
        return -EINVAL;
    }
    g->in_file = u.file;
    if (!u.tcp && !u.file)
        sock_path_note(&g->in_sock, u.path);
    g->in_wake = eventfd(0, EFD_CLOEXEC);
    if (g->in_wake < 0) {
        log_error("--incoming: eventfd: %s", strerror(errno));
        return -errno;
    }
    atomic_store(&m->incoming_wait, true);
    int r = pthread_create(&g->in_thread, NULL, incoming_main, m);
    if (r) {
        log_error("--incoming: cannot start its thread: %s", strerror(r));
        return -r;
    }
    g->in_started = true;
    return 0;
}

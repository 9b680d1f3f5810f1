/* Hot-spare replication, the primary: every epoch the guest is parked
 * briefly, what it changed (RAM pages, disk blocks) and its whole device
 * and CPU state are copied, the guest runs on, the epoch goes to the
 * standby, and the console and network output the guest produced up to the
 * cut is let out once the standby acknowledges it (output commit, as
 * Remus). docs/replication.md. */
#include "machine/internal.h"
#include "machine/migstream.h"
#include "machine/replstream.h"
#include "machine/replverify.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEFAULT_PERIOD_MS 25
#define ACK_TIMEOUT_MS 30000      /* a standby alive but silent this long: given up (CANCEL) */
#define MAX_NETS 4
#define COPY_ZERO_RUN 4096

struct page_ref {
    uint32_t region;
    uint64_t page;
};

struct repl_primary {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int fd, wake;
    uint64_t period_ms;
    struct mig_reader rd;
    uint64_t *bitmap[MEM_MAX_REGIONS];
    unsigned ndisks;
    struct blk_image *img[REPL_MAX_DISKS];
    uint64_t *dbits[REPL_MAX_DISKS];
    /* the epoch being cut: copies made while the guest is parked */
    uint8_t *pages;
    struct page_ref *pref;
    size_t npages, cap_pages;
    struct page_ref *zref;
    size_t nzero, cap_zero;
    uint8_t *disk;                      /* blocks, in dirty-bit order */
    size_t disk_len, disk_cap;
    char *man;
    uint8_t *state;
    size_t mlen, slen;
    bool running;
    /* output commit marks of the epoch being cut */
    unsigned nnet;
    struct net_backend *net[MAX_NETS];
    uint64_t net_mark[MAX_NETS], con_mark;
    /* the console bytes of the epoch being cut, for the standby: from
     * con_from (the last epoch's mark) to con_mark, copied through con */
    struct chardev *serial;
    uint64_t con_from;
    uint8_t *con;
    size_t con_cap;
    /* VESSEL_TEST_REPL_KILL (tests only): where and from which epoch on */
    int kill_where;
    uint64_t kill_from;
    uint64_t t_start;                   /* ns */
    const char *verify;                 /* VESSEL_TEST_REPL_VERIFY (tests only): machine/replverify.h */
    /* counts of what was sent in this epoch */
    uint64_t nrec, bytes, wire;
};

/* Out of line: GCC 12 with ASan at -O2 mistakes an inlined snprintf into
 * these fields for an access out of bounds. */
void repl_copy_str(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; n && i < n - 1 && src[i]; i++)
        dst[i] = src[i];
    if (n)
        dst[i] = 0;
}

static void set_info_error(struct machine *m, const char *status, const char *err)
{
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    repl_copy_str(r->info.status, sizeof(r->info.status), status);
    repl_copy_str(r->info.error, sizeof(r->info.error), err ? err : "");
    pthread_mutex_unlock(&r->lock);
}

void replicate_set_status(struct machine *m, const char *status)
{
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    repl_copy_str(r->info.status, sizeof(r->info.status), status);
    pthread_mutex_unlock(&r->lock);
}

int replicate_init(struct machine *m)
{
    struct replication *r = xzalloc(sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    repl_copy_str(r->info.status, sizeof(r->info.status), "none");
    m->repl = r;
    return 0;
}

static enum machine_repl_role machine_repl_role(struct machine *m)
{
    pthread_mutex_lock(&m->repl->lock);
    enum machine_repl_role role = m->repl->info.role;
    pthread_mutex_unlock(&m->repl->lock);
    return role;
}

void machine_replicate_info(struct machine *m, struct machine_repl_info *out)
{
    pthread_mutex_lock(&m->repl->lock);
    *out = m->repl->info;
    if (out->role == REPL_ROLE_STANDBY && out->acked)
        out->lag_ms = (time_ns() - m->repl->last_ns) / 1000000;
    pthread_mutex_unlock(&m->repl->lock);
}

/* ---- output commit ---- */
static void hold_outputs(struct machine *m, struct repl_primary *p, bool on)
{
    chardev_hold(m->serial, on);
    p->nnet = MIN(virtio_board_net_backends(m->virtio, p->net, MAX_NETS), MAX_NETS);
    for (unsigned i = 0; i < p->nnet; i++)
        if (p->net[i] && net_backend_hold(p->net[i], virtio_board_loop(m->virtio), on) < 0)
            log_warn("replicate: network %u: cannot hold its output", i);
}

static void mark_outputs(struct machine *m, struct repl_primary *p)
{
    p->con_mark = chardev_hold_mark(m->serial);
    for (unsigned i = 0; i < p->nnet; i++)
        p->net_mark[i] = p->net[i] ? net_backend_hold_mark(p->net[i]) : 0;
}

/* Fault injection for the tests of the console's output commit:
 * VESSEL_TEST_REPL_KILL=before-release:N or after-write:N makes the primary
 * SIGKILL itself at that moment of the first epoch >= N that has console
 * bytes: after the standby's ack, before / after writing them (and before
 * RELEASED). Anything else in it is ignored. */
enum { KILL_NONE, KILL_BEFORE_RELEASE, KILL_AFTER_WRITE };

static void test_kill_parse(struct repl_primary *p)
{
    const char *e = getenv("VESSEL_TEST_REPL_KILL");
    const char *c = e ? strchr(e, ':') : NULL;
    if (!c || parse_u64(c + 1, &p->kill_from))
        return;
    if (!strncmp(e, "before-release:", 15))
        p->kill_where = KILL_BEFORE_RELEASE;
    else if (!strncmp(e, "after-write:", 12))
        p->kill_where = KILL_AFTER_WRITE;
}

static void test_kill(const struct repl_primary *p, int where, uint64_t epoch, uint64_t con)
{
    if (p->kill_where == where && epoch >= p->kill_from && con > p->con_from) {
        log_info("replicate: VESSEL_TEST_REPL_KILL: killed %s epoch %llu's %llu console bytes",
                 where == KILL_AFTER_WRITE ? "after writing" : "before writing", (unsigned long long)epoch,
                 (unsigned long long)(con - p->con_from));
        raise(SIGKILL);
    }
}

/* Epoch `epoch` acknowledged: its console bytes out, then RELEASED at
 * once (the standby, taking over from this epoch, writes them only
 * without it), then its frames. 0, or -errno when RELEASED cannot be sent. */
static int release_outputs(struct machine *m, struct repl_primary *p, uint64_t epoch, uint64_t con,
                           const uint64_t *net)
{
    test_kill(p, KILL_BEFORE_RELEASE, epoch, con);
    chardev_release(m->serial, con);
    test_kill(p, KILL_AFTER_WRITE, epoch, con);
    ssize_t n = repl_write_released(p->fd, epoch);
    p->con_from = con;
    p->wire += n > 0 ? (uint64_t)n : 0;
    for (unsigned i = 0; i < p->nnet; i++)
        if (p->net[i])
            net_backend_release(p->net[i], net[i]);
    return n < 0 ? (int)n : 0;
}

/* ---- cutting an epoch (the guest parked) ---- */
static void copy_page(struct repl_primary *p, const struct mem_region *r, unsigned region, uint64_t page)
{
    const uint8_t *src = r->host + (page << MEM_PAGE_SHIFT);
    if (mem_page_is_zero(src)) {
        if (p->nzero == p->cap_zero) {
            p->cap_zero = MAX(p->cap_zero * 2, 256);
            p->zref = xrealloc(p->zref, p->cap_zero * sizeof(*p->zref));
        }
        p->zref[p->nzero++] = (struct page_ref){ region, page };
        return;
    }
    if (p->npages == p->cap_pages) {
        p->cap_pages = MAX(p->cap_pages * 2, 256);
        p->pages = xrealloc(p->pages, p->cap_pages * MEM_PAGE_SIZE);
        p->pref = xrealloc(p->pref, p->cap_pages * sizeof(*p->pref));
    }
    memcpy(p->pages + p->npages * MEM_PAGE_SIZE, src, MEM_PAGE_SIZE);
    p->pref[p->npages++] = (struct page_ref){ region, page };
}

static void copy_ram(struct machine *m, struct repl_primary *p)
{
    for (unsigned i = 0; i < m->mem.nr; i++) {
        if (!p->bitmap[i])
            continue;
        m->eops->dirty_log_sync(m->eng, i, p->bitmap[i]);
        mem_dirty_collect(&m->mem, i, p->bitmap[i]);
        const struct mem_region *r = &m->mem.r[i];
        for (uint64_t w = 0; w < mem_bitmap_words(r->size); w++)
            while (p->bitmap[i][w]) {
                unsigned b = (unsigned)__builtin_ctzll(p->bitmap[i][w]);
                p->bitmap[i][w] &= p->bitmap[i][w] - 1;
                copy_page(p, r, i, w * 64 + b);
            }
    }
}

/* The blocks written since the last epoch, read from the image (no
 * request is in flight). Their bits stay set in dbits for sending. */
static int copy_disks(struct repl_primary *p, char *err, size_t errlen)
{
    for (unsigned d = 0; d < p->ndisks; d++) {
        struct blk_image *img = p->img[d];
        blk_image_dirty_collect(img, p->dbits[d]);
        for (uint64_t w = 0; w < blk_image_dirty_words(img); w++)
            for (uint64_t bits = p->dbits[d][w]; bits; bits &= bits - 1) {
                uint64_t off = (w * 64 + (uint64_t)__builtin_ctzll(bits)) * BLK_DIRTY_BLOCK;
                size_t len = (size_t)MIN((uint64_t)BLK_DIRTY_BLOCK, img->size - off) & ~(size_t)511;
                if (p->disk_len + BLK_DIRTY_BLOCK > p->disk_cap) {
                    p->disk_cap = MAX(p->disk_cap * 2, (size_t)1 << 20);
                    p->disk = xrealloc(p->disk, p->disk_cap);
                }
                struct iovec v = { p->disk + p->disk_len, len };
                int r = len ? blk_image_preadv(img, &v, 1, off) : 0;
                if (r < 0)
                    return snprintf(err, errlen, "disk %u: reading %zu bytes at %llu: %s", d, len,
                                    (unsigned long long)off, strerror(-r)), r;
                p->disk_len += BLK_DIRTY_BLOCK;
            }
    }
    return 0;
}

static int copy_state(struct machine *m, struct repl_primary *p, char *err, size_t errlen)
{
    free(p->man);
    free(p->state);
    p->man = NULL;
    p->state = NULL;
    struct snap_writer *w = snap_writer_new(m->eops->machine_type, m->eops->target, m->cfg.ncpus);
    int r = machine_state_save(m, w, err, errlen);
    for (unsigned i = 0; !r && i < m->mem.nr; i++) {
        struct snap_ram sr = { .gpa = m->mem.r[i].gpa, .size = m->mem.r[i].size };
        snprintf(sr.file, sizeof(sr.file), "stream-%u", i);
        snap_add_ram(w, &sr);
    }
    if (!r)
        snap_writer_finish(w, &p->man, &p->mlen, &p->state, &p->slen);
    snap_writer_free(w);
    return r;
}

/* Park, copy, mark the outputs, run on. */
static int cut_epoch(struct machine *m, struct repl_primary *p, uint64_t epoch, uint64_t *pause_us, char *err,
                     size_t errlen)
{
    p->npages = p->nzero = p->disk_len = 0;
    uint64_t t0 = time_ns();
    bool quiesced;
    int r = machine_checkpoint_begin(m, &quiesced);
    if (r < 0)
        return snprintf(err, errlen, "the machine is stopping"), r;
    p->running = machine_status(m) == MACHINE_RUNNING;
    /* the state first: saving it completes a vCPU's last I/O exit (KVM:
     * vkvm_vcpu_settle), and a string read from a port writes guest RAM,
     * which the dirty log then has for this epoch rather than the next */
    r = copy_state(m, p, err, errlen);
    copy_ram(m, p);
    repl_verify_save(p->verify, &m->mem, epoch);
    if (!r)
        r = copy_disks(p, err, errlen);
    mark_outputs(m, p);
    machine_checkpoint_end(m, quiesced);
    *pause_us = (time_ns() - t0) / 1000;
    return r;
}

/* ---- sending an epoch ---- */
static int put(struct repl_primary *p, ssize_t n, uint64_t payload)
{
    if (n < 0)
        return (int)n;
    p->nrec++;
    p->bytes += payload;
    p->wire += (uint64_t)n;
    return 0;
}

static int send_pages(struct repl_primary *p)
{
    uint64_t idx[MIG_PAGES_MAX];
    for (size_t i = 0; i < p->npages;) {
        size_t n = 0;
        uint32_t region = p->pref[i].region;
        while (i + n < p->npages && n < MIG_PAGES_MAX && p->pref[i + n].region == region) {
            idx[n] = p->pref[i + n].page;
            n++;
        }
        int r = put(p, mig_write_pages(p->fd, region, idx, (unsigned)n, p->pages + i * MEM_PAGE_SIZE),
                    n * (8 + MEM_PAGE_SIZE));
        if (r)
            return r;
        i += n;
    }
    for (size_t i = 0; i < p->nzero;) {
        size_t n = 1;
        while (i + n < p->nzero && p->zref[i + n].region == p->zref[i].region &&
               p->zref[i + n].page == p->zref[i].page + n)
            n++;
        int r = put(p, mig_write_zero(p->fd, p->zref[i].region, p->zref[i].page, n), 16);
        if (r)
            return r;
        i += n;
    }
    return 0;
}

static bool block_zero(const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i += MEM_PAGE_SIZE)
        if (!mem_page_is_zero(b + i))
            return false;
    return true;
}

/* One run of consecutive dirty blocks: DISK records of at most
 * MIG_DISK_MAX bytes, all-zero blocks as DISK_ZERO. */
static int send_run(struct repl_primary *p, unsigned d, uint64_t first, uint64_t count, const uint8_t *data)
{
    struct blk_image *img = p->img[d];
    for (uint64_t k = 0; k < count;) {
        bool zero = block_zero(data + k * BLK_DIRTY_BLOCK, BLK_DIRTY_BLOCK);
        uint64_t n = 1;
        while (k + n < count && n * BLK_DIRTY_BLOCK < MIG_DISK_MAX &&
               block_zero(data + (k + n) * BLK_DIRTY_BLOCK, BLK_DIRTY_BLOCK) == zero)
            n++;
        uint64_t off = (first + k) * BLK_DIRTY_BLOCK;
        uint64_t len = MIN(n * BLK_DIRTY_BLOCK, img->size - off) & ~(uint64_t)511;
        int r = !len ? 0
              : zero ? put(p, repl_write_disk_zero(p->fd, d, off, len), 16)
                     : put(p, repl_write_disk(p->fd, d, off, data + k * BLK_DIRTY_BLOCK, (size_t)len), 8 + len);
        if (r)
            return r;
        k += n;
    }
    return 0;
}

static int send_disks(struct repl_primary *p, uint64_t *disk_bytes)
{
    size_t at = 0;
    *disk_bytes = 0;
    for (unsigned d = 0; d < p->ndisks; d++) {
        uint64_t words = blk_image_dirty_words(p->img[d]), run = 0, count = 0;
        size_t run_at = at;
        for (uint64_t b = 0; b <= words * 64; b++) {
            bool dirty = b < words * 64 && (p->dbits[d][b / 64] >> (b % 64)) & 1;
            if (dirty) {
                if (!count) {
                    run = b;
                    run_at = at;
                }
                count++;
                at += BLK_DIRTY_BLOCK;
                continue;
            }
            if (count) {
                int r = send_run(p, d, run, count, p->disk + run_at);
                if (r)
                    return r;
                *disk_bytes += count * BLK_DIRTY_BLOCK;
                count = 0;
            }
        }
        memset(p->dbits[d], 0, words * sizeof(uint64_t));
    }
    return 0;
}

/* The console bytes held for this epoch (CONSOLE records): still held,
 * since they are let out only once this epoch is acknowledged. */
static int send_console(struct repl_primary *p)
{
    for (uint64_t off = p->con_from; off < p->con_mark;) {
        size_t want = (size_t)MIN(p->con_mark - off, (uint64_t)MIG_CONSOLE_MAX);
        if (want > p->con_cap) {
            p->con_cap = MAX(want, MIN(2 * p->con_cap, (size_t)MIG_CONSOLE_MAX));
            p->con = xrealloc(p->con, p->con_cap);
        }
        size_t n = chardev_hold_peek(p->serial, off, p->con, want);
        if (!n)
            break;
        int r = put(p, repl_write_console(p->fd, off, p->con, n), 8 + n);
        if (r)
            return r;
        off += n;
    }
    return 0;
}

static int send_epoch(struct repl_primary *p, uint64_t epoch, uint64_t *disk_bytes)
{
    p->nrec = p->bytes = p->wire = 0;
    int r = send_pages(p);
    if (!r)
        r = send_disks(p, disk_bytes);
    if (!r)
        r = send_console(p);
    if (!r)
        r = put(p, mig_write_state(p->fd, p->running, p->man, p->mlen, p->state, p->slen), 16 + p->mlen + p->slen);
    if (!r) {
        ssize_t n = repl_write_epoch(p->fd, epoch, p->nrec, p->bytes);
        r = n < 0 ? (int)n : 0;
        p->wire += n > 0 ? (uint64_t)n : 0;
    }
    return r;
}

/* ---- the first copy: all of RAM and every disk, read as the guest runs
 * (tracking is on: what changes meanwhile goes again in epoch 0) ---- */
static int copy_region(struct repl_primary *p, const struct mem_region *r, unsigned region, uint8_t *buf)
{
    uint64_t idx[MIG_PAGES_MAX], zfirst = 0, zcount = 0, npages = r->size >> MEM_PAGE_SHIFT;
    unsigned n = 0;
    for (uint64_t pg = 0; pg <= npages; pg++) {
        bool end = pg == npages, zero = !end && mem_page_is_zero(r->host + (pg << MEM_PAGE_SHIFT));
        int e = 0;
        /* a run of zero pages goes out every COPY_ZERO_RUN pages: the
         * standby hears from us while we scan a large empty RAM */
        if (zcount && (end || !zero || zcount == COPY_ZERO_RUN))
            e = put(p, mig_write_zero(p->fd, region, zfirst, zcount), 16), zcount = 0;
        if (!e && n && (end || n == MIG_PAGES_MAX))
            e = put(p, mig_write_pages(p->fd, region, idx, n, buf), n * (8 + MEM_PAGE_SIZE)), n = 0;
        if (e)
            return e;
        if (end)
            break;
        if (zero) {
            zfirst = zcount ? zfirst : pg;
            zcount++;
            continue;
        }
        memcpy(buf + (size_t)n * MEM_PAGE_SIZE, r->host + (pg << MEM_PAGE_SHIFT), MEM_PAGE_SIZE);
        idx[n++] = pg;
    }
    return 0;
}

static int send_copy(struct machine *m, struct repl_primary *p, char *err, size_t errlen)
{
    uint8_t *buf = xmalloc(MIG_DISK_MAX);
    int r = 0;
    for (unsigned i = 0; !r && i < m->mem.nr; i++)
        if (p->bitmap[i])
            r = copy_region(p, &m->mem.r[i], i, buf);
    for (unsigned d = 0; !r && d < p->ndisks; d++) {
        struct blk_image *img = p->img[d];
        for (uint64_t off = 0; !r && off < img->size; off += MIG_DISK_MAX) {
            size_t len = (size_t)MIN((uint64_t)MIG_DISK_MAX, img->size - off);
            size_t blocks = (len + BLK_DIRTY_BLOCK - 1) / BLK_DIRTY_BLOCK;
            memset(buf, 0, blocks * BLK_DIRTY_BLOCK);
            struct iovec v = { buf, len & ~(size_t)511 };
            if (v.iov_len && (r = blk_image_preadv(img, &v, 1, off)) < 0) {
                snprintf(err, errlen, "disk %u: reading %zu bytes at %llu: %s", d, len, (unsigned long long)off,
                         strerror(-r));
                break;
            }
            r = send_run(p, d, off / BLK_DIRTY_BLOCK, blocks, buf);
        }
    }
    free(buf);
    if (!r)
        r = put(p, mig_write_record(p->fd, MIG_REC_PASS, 1, NULL, 0), 0);
    if (r && !err[0])
        snprintf(err, errlen, "sending the first copy: %s", strerror(-r));
    return r;
}

/* ---- the thread ---- */
/* Read the ack with a timeout; the stop wake ends the wait too. */
static ssize_t ack_read(void *opaque, void *buf, size_t len)
{
    struct repl_primary *p = opaque;
    struct pollfd pf[2] = { { p->fd, POLLIN, 0 }, { p->wake, POLLIN, 0 } };
    int n = poll(pf, 2, ACK_TIMEOUT_MS);
    if (n == 0)
        return -ETIMEDOUT;
    if (n < 0)
        return errno == EINTR ? -EINTR : -errno;
    if (pf[1].revents && !pf[0].revents)
        return -ECANCELED;
    ssize_t r = read(p->fd, buf, len);
    return r < 0 ? -errno : r;
}

/* Sleep until `until` (ns) or a stop: true to go on. */
static bool nap(struct repl_primary *p, uint64_t until)
{
    uint64_t now = time_ns();
    if (now < until) {
        struct pollfd pf = { p->wake, POLLIN, 0 };
        poll(&pf, 1, (int)((until - now + 999999) / 1000000));
    }
    return !atomic_load(&p->stop);
}

static void account(struct machine *m, uint64_t epoch, uint64_t t_cut, uint64_t pause_us, uint64_t disk_bytes,
                    const struct repl_primary *p)
{
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    r->info.epoch = epoch;
    r->info.last_ack = epoch;
    r->info.acked = true;
    r->info.lag_ms = (time_ns() - t_cut) / 1000000;
    r->info.pages = p->npages;
    r->info.zero_pages = p->nzero;
    r->info.disk_bytes = disk_bytes;
    r->info.bytes = p->wire;
    r->info.pause_us = pause_us;
    r->info.total_bytes += p->wire;
    r->info.epochs = epoch + 1;
    if (epoch == 0) {
        repl_copy_str(r->info.status, sizeof(r->info.status), "active");
        r->info.setup_ms = (time_ns() - p->t_start) / 1000000;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Anything the standby sent after its ack is TAKEOVER (its timeout ran
 * out) or its end: then nothing more may be let out here. 0 when quiet. */
static int standby_spoke(struct repl_primary *p, char *err, size_t errlen)
{
    struct pollfd pf = { p->fd, POLLIN, 0 };
    if (poll(&pf, 1, 0) <= 0)
        return 0;
    uint64_t e;
    int r = repl_read_ack(&p->rd, &e, err, errlen);
    return r ? r : (snprintf(err, errlen, "the standby acknowledged epoch %llu twice", (unsigned long long)e),
                    -EPROTO);
}

/* One epoch, cut, sent and acknowledged, its output let out. */
static int one_epoch(struct machine *m, struct repl_primary *p, uint64_t epoch, char *err, size_t errlen)
{
    uint64_t pause_us = 0, disk_bytes = 0, t_cut = time_ns();
    int r = cut_epoch(m, p, epoch, &pause_us, err, errlen);
    uint64_t con = p->con_mark, net[MAX_NETS];
    memcpy(net, p->net_mark, sizeof(net));
    if (!r && (r = send_epoch(p, epoch, &disk_bytes)) < 0)
        snprintf(err, errlen, "sending epoch %llu: %s", (unsigned long long)epoch, strerror(-r));
    uint64_t acked = 0;
    if (!r && (r = repl_read_ack(&p->rd, &acked, err, errlen)) == 0 && acked != epoch)
        r = -EPROTO, snprintf(err, errlen, "the standby acknowledged epoch %llu, %llu was due",
                              (unsigned long long)acked, (unsigned long long)epoch);
    if (!r)
        r = standby_spoke(p, err, errlen);
    if (r)
        return r;
    if ((r = release_outputs(m, p, epoch, con, net)) < 0)
        return snprintf(err, errlen, "the standby went away (sending RELEASED %llu: %s)", (unsigned long long)epoch,
                        strerror(-r)), r;
    account(m, epoch, t_cut, pause_us, disk_bytes, p);
    return 0;
}

static int start_tracking(struct machine *m, struct repl_primary *p, char *err, size_t errlen)
{
    for (unsigned i = 0; i < m->mem.nr; i++) {
        uint64_t words = mem_bitmap_words(m->mem.r[i].size);
        if (m->mem.r[i].flags & MEM_F_READONLY)
            continue;
        p->bitmap[i] = xzalloc(words * sizeof(uint64_t));     /* the first copy (send_copy) has every page */
    }
    p->ndisks = MIN(machine_nblock(m), REPL_MAX_DISKS);
    int r = machine_vcpus_park(m);
    if (r < 0)
        return snprintf(err, errlen, "the machine is stopping"), r;
    for (unsigned d = 0; d < p->ndisks; d++) {
        p->img[d] = virtio_board_block_image(m->virtio, d);
        p->dbits[d] = xzalloc((blk_image_dirty_words(p->img[d]) + 1) * sizeof(uint64_t));
        blk_image_dirty_start(p->img[d]);
    }
    hold_outputs(m, p, true);
    p->serial = m->serial;
    p->con_from = chardev_hold_mark(m->serial);
    r = mem_dirty_enable(&m->mem);
    if (!r)
        r = m->eops->dirty_log_start(m->eng);
    if (!r)
        atomic_store(&m->dirty_logging, true);
    machine_vcpus_unpark(m);
    if (r)
        snprintf(err, errlen, "cannot start dirty logging: %s", strerror(-r));
    return r;
}

static void stop_tracking(struct machine *m, struct repl_primary *p)
{
    bool parked = machine_vcpus_park(m) == 0;
    if (atomic_load(&m->dirty_logging)) {
        m->eops->dirty_log_stop(m->eng);
        mem_dirty_disable(&m->mem);
        atomic_store(&m->dirty_logging, false);
    }
    for (unsigned d = 0; d < p->ndisks; d++)
        if (p->img[d])
            blk_image_dirty_stop(p->img[d]);
    hold_outputs(m, p, false);         /* everything held goes out: nobody else will say it */
    if (parked)
        machine_vcpus_unpark(m);
}

static void *replicate_main(void *arg)
{
    struct machine *m = arg;
    struct repl_primary *p = m->repl->pri;
    char err[512] = "";
    mig_reader_init(&p->rd, ack_read, p);
    struct mig_shape sh = { m->eops->machine_type, m->eops->target, m->cfg.ncpus, m->mem.nr };
    for (unsigned i = 0; i < m->mem.nr; i++) {
        sh.gpa[i] = m->mem.r[i].gpa;
        sh.size[i] = m->mem.r[i].size;
    }
    int r = mig_write_header_version(p->fd, REPL_VERSION) < 0 || mig_write_hello(p->fd, &sh) < 0 ? -EPIPE : 0;
    if (r)
        snprintf(err, sizeof(err), "the standby went away at the start");
    if (!r)
        r = start_tracking(m, p, err, sizeof(err));
    if (!r)
        r = send_copy(m, p, err, sizeof(err));
    uint64_t epoch = 0;
    for (uint64_t next = time_ns(); !r && nap(p, next); epoch++) {
        next = time_ns() + p->period_ms * 1000000;
        r = one_epoch(m, p, epoch, err, sizeof(err));
    }
    bool stopped = atomic_load(&p->stop) || r == -ESHUTDOWN;
    if (r == -EOWNERDEAD) {
        /* the standby runs the guest now: stop here, and let out nothing held */
        log_error("replicate: %s: this primary stops (the guest goes on at the standby)", err);
        set_info_error(m, "failed", err);
        machine_shutdown(m, MACHINE_STOP_ERROR, 1);
        mig_reader_free(&p->rd);
        return NULL;
    }
    if (stopped)            /* an orderly stop: the standby must not take over */
        mig_write_record(p->fd, MIG_REC_CANCEL, 0, "the primary stopped", 19);
    else if (r == -ETIMEDOUT)
        mig_write_record(p->fd, MIG_REC_CANCEL, 0, "the primary gave up waiting for an acknowledgement", 50);
    else if (err[0])        /* e.g. an epoch that could not be cut (the guest turned on nested
                             * virtualization): the guest runs on here, so the standby, if it
                             * still listens, must stop rather than take over after its timeout */
        mig_write_record(p->fd, MIG_REC_CANCEL, 0, err, strlen(err));
    stop_tracking(m, p);
    if (stopped) {
        set_info_error(m, "stopped", NULL);
    } else {
        if (!err[0])
            snprintf(err, sizeof(err), "%s", strerror(-r));
        log_warn("replicate: %s; the guest runs on unprotected", err);
        set_info_error(m, "failed", err);
    }
    mig_reader_free(&p->rd);
    return NULL;
}

static void primary_free(struct repl_primary *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    if (p->wake >= 0)
        close(p->wake);
    for (unsigned i = 0; i < MEM_MAX_REGIONS; i++)
        free(p->bitmap[i]);
    for (unsigned d = 0; d < REPL_MAX_DISKS; d++)
        free(p->dbits[d]);
    free(p->pages);
    free(p->pref);
    free(p->zref);
    free(p->disk);
    free(p->man);
    free(p->state);
    free(p->con);
    free(p);
}

/* The previous primary thread, if it has ended (failed), joined. */
static bool primary_busy(struct machine *m)
{
    struct replication *r = m->repl;
    if (!r->pri)
        return false;
    pthread_mutex_lock(&r->lock);
    bool ended = !strcmp(r->info.status, "failed") || !strcmp(r->info.status, "stopped");
    pthread_mutex_unlock(&r->lock);
    if (!ended)
        return true;
    pthread_join(r->pri->thread, NULL);
    primary_free(r->pri);
    r->pri = NULL;
    return false;
}

int machine_replicate_check_config(const struct machine_config *mc, char *err, size_t errlen)
{
    /* a standby has not opened its network yet (vhost-net's own migration
     * blocker comes with the open): the options say it */
    for (unsigned i = 0; i < mc->virtio.n; i++) {
        const struct virtio_opt *o = &mc->virtio.dev[i];
        if (o->spec && !strncmp(o->spec, "net:", 4) && o->data && ((const struct net_opts *)o->data)->vhost)
            return snprintf(err, errlen, "replication is blocked: --net %s uses vhost-net: the guest pages the "
                            "kernel writes are not tracked (use vhost=off)", o->spec + 4), -ENOTSUP;
    }
    return 0;
}

bool replicate_busy(struct machine *m)
{
    struct replication *r = m->repl;
    char status[sizeof(r->info.status)];
    pthread_mutex_lock(&r->lock);
    enum machine_repl_role role = r->info.role;
    repl_copy_str(status, sizeof(status), r->info.status);     /* (see repl_copy_str: GCC 12 + ASan) */
    pthread_mutex_unlock(&r->lock);
    return role == REPL_ROLE_STANDBY ||
           (role == REPL_ROLE_PRIMARY && (!strcmp(status, "setup") || !strcmp(status, "active")));
}

int replicate_blocked(struct machine *m, char *err, size_t errlen)
{
    char why[300];
    if (migrate_blocker(m, why, sizeof(why)))
        return snprintf(err, errlen, "replication is blocked: %s", why), -ENOTSUP;
    int r = machine_replicate_check_config(&m->cfg, err, errlen);
    if (r < 0)
        return r;
    if (machine_hotplug_count(m))
        return snprintf(err, errlen, "replication is blocked: the machine has hot-plugged devices (device_add): "
                        "their state is not replicated (device_del them first)"), -ENOTSUP;
    if (m->memdev)
        return snprintf(err, errlen, "replication is blocked: the machine has a virtio-mem device "
                        "(--memory-hotplug): its state is not replicated"), -ENOTSUP;
    return 0;
}

int machine_replicate(struct machine *m, const char *uri, uint64_t period_ms, char *err, size_t errlen)
{
    struct replication *rep = m->repl;
    struct mig_uri u;
    int r = mig_uri_parse(uri, &u, err, errlen);
    if (r)
        return r;
    if (!m->eops || !m->eops->dirty_log_start || !m->eops->save || !m->eops->machine_type)
        return snprintf(err, errlen, "this machine cannot be replicated yet (its engine has no dirty logging)"),
               -ENOTSUP;
    if (period_ms < 1 || period_ms > 60000)
        return snprintf(err, errlen, "period-ms %llu: 1 to 60000", (unsigned long long)period_ms), -EINVAL;
    if ((r = replicate_blocked(m, err, errlen)) < 0)
        return r;
    if (primary_busy(m) || machine_repl_role(m) == REPL_ROLE_STANDBY || atomic_load(&m->dirty_logging) || atomic_load(&m->incoming_wait))
        return snprintf(err, errlen, "replication or a migration is in progress (or this is a standby)"), -EBUSY;
    enum machine_status ms = machine_status(m);
    if (ms == MACHINE_SHUTDOWN || ms == MACHINE_INTERNAL_ERROR || ms == MACHINE_PRELAUNCH)
        return snprintf(err, errlen, "the machine is not running"), -EBUSY;
    int fd = mig_uri_connect(&u, err, errlen);
    if (fd < 0)
        return fd;
    struct repl_primary *p = xzalloc(sizeof(*p));
    p->fd = fd;
    p->wake = eventfd(0, EFD_CLOEXEC);
    p->period_ms = period_ms;
    p->verify = repl_verify_dir();
    p->t_start = time_ns();
    test_kill_parse(p);
    pthread_mutex_lock(&rep->lock);
    memset(&rep->info, 0, sizeof(rep->info));
    rep->info.role = REPL_ROLE_PRIMARY;
    rep->info.period_ms = period_ms;
    repl_copy_str(rep->info.status, sizeof(rep->info.status), "setup");
    repl_copy_str(rep->info.uri, sizeof(rep->info.uri), uri);
    pthread_mutex_unlock(&rep->lock);
    rep->pri = p;
    if (p->wake < 0 || (r = pthread_create(&p->thread, NULL, replicate_main, m)) != 0) {
        rep->pri = NULL;
        primary_free(p);
        set_info_error(m, "failed", "cannot start the replication thread");
        return snprintf(err, errlen, "cannot start the replication thread"), -EAGAIN;
    }
    p->started = true;
    log_info("replicate: to %s, an epoch every %llu ms", uri, (unsigned long long)period_ms);
    return 0;
}

int replicate_start_from_config(struct machine *m)
{
    char err[512];
    uint64_t period = m->cfg.replicate_period_ms ? m->cfg.replicate_period_ms : DEFAULT_PERIOD_MS;
    if (machine_replicate(m, m->cfg.replicate, period, err, sizeof(err)) < 0) {
        log_error("--replicate: %s", err);
        return -1;
    }
    return 0;
}

void replicate_stop(struct machine *m)
{
    struct replication *r = m->repl;
    if (!r || !r->pri)
        return;
    if (r->pri->started) {
        atomic_store(&r->pri->stop, true);
        uint64_t one = 1;
        if (write(r->pri->wake, &one, sizeof(one)) < 0)
            log_warn("replicate: eventfd: %s", strerror(errno));
        pthread_join(r->pri->thread, NULL);
        r->pri->started = false;
    }
    primary_free(r->pri);
    r->pri = NULL;
}

void replicate_free(struct machine *m)
{
    struct replication *r = m->repl;
    if (!r)
        return;
    replicate_stop(m);
    pthread_mutex_destroy(&r->lock);
    free(r);
    m->repl = NULL;
}

int machine_parse_repl_arg(const char *opt, char *arg, const char *key, uint64_t *ms)
{
    char *comma = strrchr(arg, ',');
    size_t kl = strlen(key);
    if (comma && !strncmp(comma + 1, key, kl) && comma[1 + kl] == '=') {
        uint64_t v;
        if (parse_u64(comma + 2 + kl, &v) || v < 1 || v > 60000) {
            log_error("%s %s: %s= takes 1 to 60000 (milliseconds)", opt, arg, key);
            return -EINVAL;
        }
        *ms = v;
        *comma = 0;
    }
    struct mig_uri u;
    char err[300];
    if (mig_uri_parse(arg, &u, err, sizeof(err)) < 0) {
        log_error("%s: %s", opt, err);
        return -EINVAL;
    }
    return 0;
}

/* Hot-spare replication, the standby (`vessel run --standby URI`): it
 * receives epochs, applies each only once it is whole (RAM, then its own
 * disks, written and fdatasync'ed), keeps the last one's device and CPU
 * state and acknowledges it. When the primary's stream stops (EOF, an
 * error, no epoch within the timeout) it takes over: the last applied
 * state is loaded, the network backends are made (the tap opened, the
 * hostfwd ports bound) and the guest runs on from that epoch.
 * docs/replication.md. */
#include "machine/internal.h"
#include "machine/migstream.h"
#include "machine/replstream.h"
#include "machine/replverify.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* No --standby timeout=MS: the timeout is DEFAULT_TIMEOUT_MS or
 * GAP_FACTOR times the longest wait for data seen so far, whichever is
 * larger, at most MAX_TIMEOUT_MS: a host loaded enough to hold a live
 * primary's data back for 0.75 s (measured at load 20 on 2 cores) does not
 * make its standby take over. */
#define DEFAULT_TIMEOUT_MS 1000
#define GAP_FACTOR 4
#define MAX_TIMEOUT_MS 10000

struct repl_standby {
    pthread_t thread;
    bool started;
    int listen, fd, wake;
    struct sock_path sock;          /* unix: removed at the end, if still ours */
    uint64_t timeout_ms;
    bool adaptive;                  /* no timeout=MS given: it follows max_gap_ns */
    struct repl_stage stage;
    /* the last applied epoch's state */
    char *man;
    uint8_t *state;
    size_t mlen, slen;
    bool running, have;
    uint64_t epoch;
    struct repl_console con;        /* the last applied epoch's console bytes, and whether they are out */
    uint64_t max_gap_ns;            /* the longest wait for data once an epoch is in (max-gap-ms) */
    const char *verify;             /* VESSEL_TEST_REPL_VERIFY (tests only): machine/replverify.h */
};

/* Read with the heartbeat timeout; the stop wake ends it. */
static ssize_t sb_read(void *opaque, void *buf, size_t len)
{
    struct repl_standby *s = opaque;
    struct pollfd pf[2] = { { s->fd, POLLIN, 0 }, { s->wake, POLLIN, 0 } };
    uint64_t t0 = time_ns();
    int n = poll(pf, 2, (int)s->timeout_ms);
    if (n == 0)
        return -ETIMEDOUT;
    if (n < 0)
        return errno == EINTR ? -EINTR : -errno;
    if (pf[1].revents)
        return -ECANCELED;
    uint64_t waited = time_ns() - t0;
    if (s->have && waited > s->max_gap_ns) {
        s->max_gap_ns = waited;      /* in steady state: how close a live primary came to the timeout */
        if (s->adaptive)
            s->timeout_ms = MIN(MAX_TIMEOUT_MS, MAX(DEFAULT_TIMEOUT_MS, GAP_FACTOR * (waited / 1000000)));
    }
    ssize_t r = read(s->fd, buf, len);
    return r < 0 ? -errno : r;
}

static void geometry(struct machine *m, struct repl_geom *g, struct mig_shape *sh)
{
    memset(g, 0, sizeof(*g));
    *sh = (struct mig_shape){ m->eops->machine_type, m->eops->target, m->cfg.ncpus, m->mem.nr };
    g->nram = m->mem.nr;
    for (unsigned i = 0; i < m->mem.nr; i++) {
        sh->gpa[i] = m->mem.r[i].gpa;
        sh->size[i] = m->mem.r[i].size;
        g->ram_size[i] = (m->mem.r[i].flags & MEM_F_READONLY) ? 0 : m->mem.r[i].size;
    }
    g->ndisks = MIN(machine_nblock(m), REPL_MAX_DISKS);
    for (unsigned d = 0; d < g->ndisks; d++) {
        struct blk_image *img = virtio_board_block_image(m->virtio, d);
        g->disk_size[d] = img && !img->readonly ? img->size : 0;
    }
}

static int disk_write(void *opaque, unsigned disk, uint64_t off, const uint8_t *data, uint64_t len)
{
    struct machine *m = opaque;
    struct blk_image *img = virtio_board_block_image(m->virtio, disk);
    if (!img)
        return -ENODEV;
    if (!data)
        return blk_image_write_zeroes(img, off, len, false);
    struct iovec v = { (void *)data, (size_t)len };
    return blk_image_pwritev(img, &v, 1, off);
}

static int flush_disks(struct machine *m)
{
    int r = 0;
    for (unsigned d = 0; !r && d < MIN(machine_nblock(m), REPL_MAX_DISKS); d++)
        r = blk_image_flush(virtio_board_block_image(m->virtio, d));
    return r;
}

/* A whole epoch in: RAM, disks (synced), the state kept. */
static int apply_epoch(struct machine *m, struct repl_standby *s, char *err, size_t errlen)
{
    repl_stage_apply_ram(&s->stage, &m->mem);
    int r = repl_stage_each_disk(&s->stage, disk_write, m);
    if (!r && s->stage.disk_bytes)
        r = flush_disks(m);
    if (r)
        return snprintf(err, errlen, "writing the standby's disk: %s", strerror(-r)), r;
    const char *man;
    const uint8_t *st;
    repl_stage_state(&s->stage, &man, &s->mlen, &st, &s->slen, &s->running);
    s->man = xrealloc(s->man, s->mlen + 1);
    memcpy(s->man, man, s->mlen);
    s->man[s->mlen] = 0;
    s->state = xrealloc(s->state, s->slen ? s->slen : 1);
    memcpy(s->state, st, s->slen);
    s->have = true;
    s->epoch = s->stage.epoch;
    repl_console_applied(&s->con, &s->stage);
    return 0;
}

static void note_epoch(struct machine *m, const struct repl_standby *s, uint64_t wire)
{
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    r->info.epoch = r->info.last_ack = s->epoch;
    r->info.acked = true;
    r->info.pages = s->stage.pages;
    r->info.zero_pages = s->stage.zero_pages;
    r->info.disk_bytes = s->stage.disk_bytes;
    r->info.bytes = wire;
    r->info.total_bytes += wire;
    r->info.epochs = s->epoch + 1;
    r->info.max_gap_ms = s->max_gap_ns / 1000000;
    r->info.timeout_ms = s->timeout_ms;
    r->last_ns = time_ns();
    repl_copy_str(r->info.status, sizeof(r->info.status), "active");
    pthread_mutex_unlock(&r->lock);
}

/* Receive until the stream stops: 0 and the reason in err, -ECANCELED
 * when the primary said it stopped. */
static int receive(struct machine *m, struct repl_standby *s, struct mig_reader *rd, char *err, size_t errlen)
{
    struct repl_geom g;
    struct mig_shape sh;
    struct mig_record rec;
    geometry(m, &g, &sh);
    int r = mig_read_header_version(rd, REPL_VERSION, "replication", err, errlen);
    if (!r)
        r = mig_read_record(rd, &rec, err, errlen);
    if (!r)
        r = mig_check_hello(&rec, &sh, err, errlen);
    if (!r)
        r = repl_read_copy(rd, &g, &m->mem, disk_write, m, &s->stage, err, errlen);
    if (!r && (r = flush_disks(m)) < 0)
        snprintf(err, errlen, "syncing the standby's disks: %s", strerror(-r));
    for (uint64_t want = 0; !r; want++) {
        uint64_t b0 = rd->bytes;
        r = repl_read_epoch(rd, &g, want, &s->stage, err, errlen);
        repl_console_note(&s->con, &s->stage);     /* a RELEASED counts even if the epoch after it is cut */
        if (r < 0)
            break;
        if ((r = apply_epoch(m, s, err, errlen)) < 0)
            break;
        repl_verify_check(s->verify, &m->mem, s->fd, want);

        if (repl_write_ack(s->fd, want) < 0)
            return snprintf(err, errlen, "the primary went away"), 0;
        note_epoch(m, s, rd->bytes - b0);
    }
    if (r == -ETIMEDOUT) {
        snprintf(err, errlen, "no epoch from the primary for %llu ms", (unsigned long long)s->timeout_ms);
        /* a primary still alive must stop before it lets anything more out */
        if (s->have)
            mig_write_record(s->fd, MIG_REC_TAKEOVER, 0, err, strlen(err));
    }
    return r == -ECANCELED ? r : 0;
}

/* The last applied epoch becomes the running guest. t[]: when the state
 * was parsed, the network taken, the state loaded, the harts let go (ns);
 * *con: the console bytes of that epoch written here (the primary had not
 * said it let them out). */
static int take_over(struct machine *m, struct repl_standby *s, uint64_t t[4], size_t *con, char *err,
                     size_t errlen)
{
    struct snap *sn;
    char why[512];
    int r = snap_parse(s->man, s->mlen, s->state, s->slen, &sn, why, sizeof(why));
    if (r < 0)
        return snprintf(err, errlen, "the machine state: %s", why), r;
    snap_set_dir(sn, "(replication stream)");
    r = machine_state_check_shape(m, sn, err, errlen);
    t[0] = time_ns();
    if (!r && (r = virtio_board_net_attach(m->virtio)) < 0)
        snprintf(err, errlen, "cannot take over the network (see above)");
    t[1] = time_ns();
    if (!r)
        r = machine_state_load(m, sn, err, errlen);
    snap_free(sn);
    t[2] = time_ns();
    if (r)
        return r;
    const uint8_t *held;
    *con = repl_console_pending(&s->con, &held);
    chardev_write(m->serial, held, *con);
    atomic_store(&m->incoming_wait, false);
    r = s->running ? machine_resume(m) : 0;
    t[3] = time_ns();
    return r;
}

static void failover(struct machine *m, struct repl_standby *s, const char *why, uint64_t t_stop)
{
    char err[600] = "";
    uint64_t t[4] = { 0 };
    size_t con = 0;
    if (take_over(m, s, t, &con, err, sizeof(err)) < 0) {
        log_error("replication: cannot take over: %s", err);
        machine_shutdown(m, MACHINE_STOP_ERROR, 1);
        return;
    }
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    r->info.role = REPL_ROLE_PRIMARY;
    repl_copy_str(r->info.status, sizeof(r->info.status), "failed-over");
    repl_copy_str(r->info.error, sizeof(r->info.error), why);
    pthread_mutex_unlock(&r->lock);
    /* the parts of the takeover, and when the stream stopped on the
     * monotonic clock (bench/replication/failover.py subtracts the kill) */
    log_info("replication: failover: %s; the guest goes on from epoch %llu (%.1f ms after the stream stopped: "
             "state %.1f, network %.1f, load %.1f, resume %.1f ms; stream stopped at monotonic %.6f s); "
             "console: %zu bytes of that epoch written here (%s)", why,
             (unsigned long long)s->epoch, (double)(t[3] - t_stop) / 1e6, (double)(t[0] - t_stop) / 1e6,
             (double)(t[1] - t[0]) / 1e6, (double)(t[2] - t[1]) / 1e6, (double)(t[3] - t[2]) / 1e6,
             (double)t_stop / 1e9, con, s->con.released ? "the primary had let them out" : "the primary had not said "
             "it let them out");
    machine_emit_value(m, MACHINE_EV_REPLICATION_FAILOVER, s->epoch);
}

static void *replica_main(void *arg)
{
    struct machine *m = arg;
    struct repl_standby *s = m->repl->sb;
    int fd = mig_accept(s->listen, s->wake);
    if (fd < 0) {
        if (!machine_vcpu_should_exit(m)) {
            log_error("--standby: cannot accept the primary's connection");
            machine_shutdown(m, MACHINE_STOP_ERROR, 1);
        }
        return NULL;
    }
    s->fd = fd;
    struct mig_reader rd;
    char err[600] = "";
    mig_reader_init(&rd, sb_read, s);
    int r = receive(m, s, &rd, err, sizeof(err));
    uint64_t t_stop = time_ns();
    mig_reader_free(&rd);
    if (machine_vcpu_should_exit(m))
        return NULL;
    if (r == -ECANCELED) {
        log_info("replication: %s: the standby stops", err);
        replicate_set_status(m, "stopped");
        machine_shutdown(m, MACHINE_STOP_QUIT, 0);
    } else if (!s->have) {
        log_error("replication: %s before the first epoch was whole: nothing to take over", err);
        mig_write_record(fd, MIG_REC_FAILED, 0, err, strlen(err));
        machine_shutdown(m, MACHINE_STOP_ERROR, 1);
    } else {
        failover(m, s, err, t_stop);
    }
    /* the old primary's connection and the listener go (a new standby may take the address) */
    close(fd);
    s->fd = -1;
    sock_path_remove(&s->sock);
    return NULL;
}

int replica_start(struct machine *m)
{
    struct mig_uri u;
    char err[512];
    struct repl_standby *s = xzalloc(sizeof(*s));
    s->listen = s->fd = s->wake = -1;
    s->timeout_ms = m->cfg.standby_timeout_ms ? m->cfg.standby_timeout_ms : DEFAULT_TIMEOUT_MS;
    s->verify = repl_verify_dir();
    s->adaptive = !m->cfg.standby_timeout_ms;
    repl_stage_init(&s->stage);
    repl_console_init(&s->con);
    m->repl->sb = s;
    if (replicate_blocked(m, err, sizeof(err)) < 0) {
        log_error("--standby: %s", err);
        return -ENOTSUP;
    }
    if (mig_uri_parse(m->cfg.standby, &u, err, sizeof(err)) < 0 || (s->listen = mig_uri_listen(&u, err, sizeof(err))) < 0) {
        log_error("--standby: %s", err);
        return -EINVAL;
    }
    if (!u.tcp)
        sock_path_note(&s->sock, u.path);
    s->wake = eventfd(0, EFD_CLOEXEC);
    if (s->wake < 0)
        return log_error("--standby: eventfd: %s", strerror(errno)), -errno;
    struct replication *r = m->repl;
    pthread_mutex_lock(&r->lock);
    r->info.role = REPL_ROLE_STANDBY;
    r->info.period_ms = 0;
    r->info.timeout_ms = s->timeout_ms;
    repl_copy_str(r->info.status, sizeof(r->info.status), "setup");
    repl_copy_str(r->info.uri, sizeof(r->info.uri), m->cfg.standby);
    pthread_mutex_unlock(&r->lock);
    atomic_store(&m->incoming_wait, true);
    int e = pthread_create(&s->thread, NULL, replica_main, m);
    if (e)
        return log_error("--standby: cannot start its thread: %s", strerror(e)), -e;
    s->started = true;
    return 0;
}

void replica_stop(struct machine *m)
{
    struct repl_standby *s = m->repl ? m->repl->sb : NULL;
    if (!s)
        return;
    if (s->started) {
        uint64_t one = 1;
        if (write(s->wake, &one, sizeof(one)) < 0)
            log_warn("replication: eventfd: %s", strerror(errno));
        pthread_join(s->thread, NULL);
        s->started = false;
    }
}

void replica_free(struct machine *m)
{
    struct repl_standby *s = m->repl ? m->repl->sb : NULL;
    if (!s)
        return;
    replica_stop(m);
    if (s->fd >= 0)
        close(s->fd);
    if (s->listen >= 0)
        close(s->listen);
    sock_path_remove(&s->sock);
    if (s->wake >= 0)
        close(s->wake);
    repl_stage_free(&s->stage);
    repl_console_free(&s->con);
    free(s->man);
    free(s->state);
    free(s);
    m->repl->sb = NULL;
}

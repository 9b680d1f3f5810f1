/* Hot-spare replication epochs over the migration stream's records
 * (machine/replstream.h): staged whole, checked, then applied. */
#include "machine/replstream.h"
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#define SECTOR 512u

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

void repl_stage_init(struct repl_stage *st)
{
    memset(st, 0, sizeof(*st));
    st->state_off = SIZE_MAX;
}

void repl_stage_free(struct repl_stage *st)
{
    free(st->buf);
    repl_stage_init(st);
}

static void stage_reset(struct repl_stage *st)
{
    st->len = 0;
    st->nrec = st->bytes = st->pages = st->zero_pages = st->disk_bytes = 0;
    st->con_off = st->con_bytes = 0;
    st->released = false;
    st->state_off = SIZE_MAX;
}

static void stage_add(struct repl_stage *st, const struct mig_record *rec)
{
    size_t need = 16 + ((rec->len + 7) & ~(size_t)7);
    if (st->len + need > st->cap) {
        st->cap = MAX(st->cap * 2, st->len + need);
        st->buf = xrealloc(st->buf, st->cap);
    }
    uint8_t *p = st->buf + st->len;
    memcpy(p, &rec->type, 4);
    memcpy(p + 4, &rec->arg, 4);
    uint64_t l = rec->len;
    memcpy(p + 8, &l, 8);
    if (rec->len)
        memcpy(p + 16, rec->payload, rec->len);
    memset(p + 16 + rec->len, 0, need - 16 - rec->len);
    st->len += need;
}

/* The records of a stage: type, arg, payload, length at *off (advanced). */
static bool stage_next(const struct repl_stage *st, size_t *off, uint32_t *type, uint32_t *arg,
                       const uint8_t **payload, uint64_t *len)
{
    if (*off >= st->len)
        return false;
    const uint8_t *p = st->buf + *off;
    memcpy(type, p, 4);
    memcpy(arg, p + 4, 4);
    memcpy(len, p + 8, 8);
    *payload = p + 16;
    *off += 16 + ((*len + 7) & ~(uint64_t)7);
    return true;
}

static int check_pages(const struct repl_geom *g, const struct mig_record *rec, uint64_t *count, char *err,
                       size_t errlen)
{
    if (rec->arg >= g->nram || !g->ram_size[rec->arg])
        return errf(err, errlen, -EINVAL, "replication stream: RAM region %u does not exist here (corrupt)", rec->arg);
    uint64_t npages = g->ram_size[rec->arg] >> MEM_PAGE_SHIFT;
    if (rec->type == MIG_REC_ZERO) {
        uint64_t first = rec->len == 16 ? get64(rec->payload) : 0, n = rec->len == 16 ? get64(rec->payload + 8) : 0;
        if (rec->len != 16 || !n || first >= npages || n > npages - first)
            return errf(err, errlen, -EINVAL, "replication stream: a ZERO record outside RAM region %u (corrupt)",
                        rec->arg);
        *count = n;
        return 0;
    }
    size_t n = rec->len / (8 + MEM_PAGE_SIZE);
    if (n == 0 || n > MIG_PAGES_MAX || rec->len != n * (8 + MEM_PAGE_SIZE))
        return errf(err, errlen, -EINVAL, "replication stream: a PAGES record of %zu bytes is no whole number of "
                    "pages", rec->len);
    for (size_t i = 0; i < n; i++)
        if (get64(rec->payload + 8 * i) >= npages)
            return errf(err, errlen, -EINVAL, "replication stream: page %llu is outside RAM region %u (%llu pages)",
                        (unsigned long long)get64(rec->payload + 8 * i), rec->arg, (unsigned long long)npages);
    *count = n;
    return 0;
}

static int check_disk(const struct repl_geom *g, const struct mig_record *rec, uint64_t *bytes, char *err,
                      size_t errlen)
{
    if (rec->arg >= g->ndisks)
        return errf(err, errlen, -EINVAL, "replication stream: disk %u does not exist here (%u disks)", rec->arg,
                    g->ndisks);
    if (rec->len < 8 || (rec->type == MIG_REC_DISK_ZERO && rec->len != 16))
        return errf(err, errlen, -EINVAL, "replication stream: a disk record of %zu bytes (corrupt)", rec->len);
    uint64_t off = get64(rec->payload), len = rec->type == MIG_REC_DISK ? rec->len - 8 : get64(rec->payload + 8);
    uint64_t size = g->disk_size[rec->arg];
    if (!len || off % SECTOR || len % SECTOR || off > size || len > size - off)
        return errf(err, errlen, -EINVAL, "replication stream: disk %u: %llu bytes at %llu (the disk has %llu; "
                    "whole sectors only)", rec->arg, (unsigned long long)len, (unsigned long long)off,
                    (unsigned long long)size);
    *bytes = len;
    return 0;
}

static int check_epoch(const struct repl_stage *st, const struct mig_record *rec, uint64_t want, char *err,
                       size_t errlen)
{
    if (rec->len != 24)
        return errf(err, errlen, -EINVAL, "replication stream: an EPOCH record of %zu bytes (corrupt)", rec->len);
    uint64_t e = get64(rec->payload), n = get64(rec->payload + 8), b = get64(rec->payload + 16);
    if (e != want)
        return errf(err, errlen, -EINVAL, "replication stream: epoch %llu where %llu was due (a gap or a repeat)",
                    (unsigned long long)e, (unsigned long long)want);
    if (n != st->nrec || b != st->bytes)
        return errf(err, errlen, -EINVAL, "replication stream: epoch %llu: %llu records of %llu bytes came, it says "
                    "%llu of %llu (corrupt)", (unsigned long long)e, (unsigned long long)st->nrec,
                    (unsigned long long)st->bytes, (unsigned long long)n, (unsigned long long)b);
    if (st->state_off == SIZE_MAX)
        return errf(err, errlen, -EINVAL, "replication stream: epoch %llu has no STATE (corrupt)",
                    (unsigned long long)e);
    return 0;
}

/* CONSOLE: an offset and at least one byte, following on from the
 * epoch's CONSOLE before it. */
static int check_console(struct repl_stage *st, const struct mig_record *rec, char *err, size_t errlen)
{
    if (rec->len < 9)
        return errf(err, errlen, -EINVAL, "replication stream: a CONSOLE record of %zu bytes (corrupt)", rec->len);
    uint64_t off = get64(rec->payload), n = rec->len - 8;
    if (st->con_bytes && off != st->con_off + st->con_bytes)
        return errf(err, errlen, -EINVAL, "replication stream: console bytes at %llu where %llu was due (corrupt)",
                    (unsigned long long)off, (unsigned long long)(st->con_off + st->con_bytes));
    if (!st->con_bytes)
        st->con_off = off;
    st->con_bytes += n;
    return 0;
}

/* RELEASED N: only before the first record of epoch N + 1. */
static int check_released(struct repl_stage *st, const struct mig_record *rec, uint64_t want, char *err,
                          size_t errlen)
{
    if (rec->len != 8 || st->nrec || st->released)
        return errf(err, errlen, -EINVAL, "replication stream: a RELEASED record of %zu bytes after %llu records "
                    "of epoch %llu (corrupt)", rec->len, (unsigned long long)st->nrec, (unsigned long long)want);
    uint64_t e = get64(rec->payload);
    if (!want || e != want - 1)
        return errf(err, errlen, -EINVAL, "replication stream: RELEASED for epoch %llu before epoch %llu (corrupt)",
                    (unsigned long long)e, (unsigned long long)want);
    st->released = true;
    return 0;
}

/* One record of an epoch into the stage: 0, 1 at its end, or -errno. */
static int stage_record(struct repl_stage *st, const struct repl_geom *g, uint64_t want, const struct mig_record *rec,
                        char *err, size_t errlen)
{
    uint64_t n = 0;
    int r = 0;
    if (rec->type != MIG_REC_EPOCH && rec->type != MIG_REC_CANCEL && st->state_off != SIZE_MAX)
        return errf(err, errlen, -EINVAL, "replication stream: record type %u after STATE (corrupt)", rec->type);
    switch (rec->type) {
    case MIG_REC_PAGES:
    case MIG_REC_ZERO:
        if (!(r = check_pages(g, rec, &n, err, errlen)))
            *(rec->type == MIG_REC_PAGES ? &st->pages : &st->zero_pages) += n;
        break;
    case MIG_REC_DISK:
    case MIG_REC_DISK_ZERO:
        if (!(r = check_disk(g, rec, &n, err, errlen)))
            st->disk_bytes += n;
        break;
    case MIG_REC_STATE: {
        const char *m;
        const uint8_t *s;
        size_t ml, sl;
        if (!(r = mig_state_parts(rec, &m, &ml, &s, &sl, err, errlen)))
            st->state_off = st->len;
        break;
    }
    case MIG_REC_CONSOLE:
        r = check_console(st, rec, err, errlen);
        break;
    case MIG_REC_RELEASED:      /* about the epoch before: not one of this epoch's records */
        return check_released(st, rec, want, err, errlen);
    case MIG_REC_EPOCH:
        return (r = check_epoch(st, rec, want, err, errlen)) < 0 ? r : 1;
    case MIG_REC_CANCEL:
        return errf(err, errlen, -ECANCELED, "%.*s", (int)MIN(rec->len, 300), (const char *)rec->payload);
    default:
        return errf(err, errlen, -EINVAL, "replication stream: record type %u inside an epoch (corrupt)", rec->type);
    }
    if (r)
        return r;
    stage_add(st, rec);
    st->nrec++;
    st->bytes += rec->len;
    return 0;
}

int repl_read_copy(struct mig_reader *rd, const struct repl_geom *g, struct guest_mem *mem,
                   repl_disk_write_fn disk_write, void *opaque, struct repl_stage *st, char *err, size_t errlen)
{
    stage_reset(st);
    for (;;) {
        struct mig_record rec;
        uint64_t n = 0;
        int r = mig_read_record(rd, &rec, err, errlen);
        if (r)
            return r;
        switch (rec.type) {
        case MIG_REC_PAGES:
        case MIG_REC_ZERO:
            if ((r = check_pages(g, &rec, &n, err, errlen)) == 0) {
                if (rec.arg >= mem->nr || mem->r[rec.arg].size != g->ram_size[rec.arg])
                    return errf(err, errlen, -EINVAL, "replication stream: RAM region %u differs here", rec.arg);
                int64_t k = rec.type == MIG_REC_PAGES ? mig_apply_pages(mem, &rec, err, errlen)
                                                      : mig_apply_zero(mem, &rec, err, errlen);
                r = k < 0 ? (int)k : 0;
                *(rec.type == MIG_REC_PAGES ? &st->pages : &st->zero_pages) += n;
            }
            break;
        case MIG_REC_DISK:
        case MIG_REC_DISK_ZERO:
            if ((r = check_disk(g, &rec, &n, err, errlen)) == 0) {
                uint64_t off = get64(rec.payload);
                r = disk_write(opaque, rec.arg, off, rec.type == MIG_REC_DISK ? rec.payload + 8 : NULL, n);
                if (r)
                    errf(err, errlen, r, "writing the standby's disk %u: %s", rec.arg, strerror(-r));
                st->disk_bytes += n;
            }
            break;
        case MIG_REC_PASS:
            return 0;
        case MIG_REC_CANCEL:
            return errf(err, errlen, -ECANCELED, "%.*s", (int)MIN(rec.len, 300), (const char *)rec.payload);
        default:
            return errf(err, errlen, -EINVAL, "replication stream: record type %u in the first copy (corrupt)",
                        rec.type);
        }
        if (r)
            return r;
    }
}

int repl_read_epoch(struct mig_reader *rd, const struct repl_geom *g, uint64_t want, struct repl_stage *st,
                    char *err, size_t errlen)
{
    stage_reset(st);
    for (;;) {
        struct mig_record rec;
        int r = mig_read_record(rd, &rec, err, errlen);
        if (!r)
            r = stage_record(st, g, want, &rec, err, errlen);
        if (r == 1) {
            st->epoch = want;
            return 0;
        }
        if (r)
            return r;
    }
}

void repl_stage_apply_ram(const struct repl_stage *st, struct guest_mem *mem)
{
    size_t off = 0;
    uint32_t type, arg;
    const uint8_t *p;
    uint64_t len;
    while (stage_next(st, &off, &type, &arg, &p, &len)) {
        if ((type != MIG_REC_PAGES && type != MIG_REC_ZERO) || arg >= mem->nr)
            continue;
        uint8_t *host = mem->r[arg].host;
        if (type == MIG_REC_ZERO) {
            memset(host + (get64(p) << MEM_PAGE_SHIFT), 0, get64(p + 8) << MEM_PAGE_SHIFT);
            continue;
        }
        size_t n = len / (8 + MEM_PAGE_SIZE);
        for (size_t i = 0; i < n; i++)
            memcpy(host + (get64(p + 8 * i) << MEM_PAGE_SHIFT), p + 8 * n + i * MEM_PAGE_SIZE, MEM_PAGE_SIZE);
    }
}

int repl_stage_each_disk(const struct repl_stage *st,
                         int (*cb)(void *opaque, unsigned disk, uint64_t off, const uint8_t *data, uint64_t len),
                         void *opaque)
{
    size_t off = 0;
    uint32_t type, arg;
    const uint8_t *p;
    uint64_t len;
    while (stage_next(st, &off, &type, &arg, &p, &len)) {
        int r = 0;
        if (type == MIG_REC_DISK)
            r = cb(opaque, arg, get64(p), p + 8, len - 8);
        else if (type == MIG_REC_DISK_ZERO)
            r = cb(opaque, arg, get64(p), NULL, get64(p + 8));
        if (r)
            return r;
    }
    return 0;
}

void repl_stage_state(const struct repl_stage *st, const char **manifest, size_t *mlen, const uint8_t **state,
                      size_t *slen, bool *running)
{
    const uint8_t *p = st->buf + st->state_off;
    uint32_t arg;
    uint64_t len;
    memcpy(&arg, p + 4, 4);
    memcpy(&len, p + 8, 8);
    struct mig_record rec = { MIG_REC_STATE, arg, p + 16, (size_t)len };
    char err[8];
    mig_state_parts(&rec, manifest, mlen, state, slen, err, sizeof(err));   /* checked when staged */
    *running = arg & 1;
}

void repl_stage_each_console(const struct repl_stage *st, void (*cb)(void *opaque, const uint8_t *p, size_t len),
                             void *opaque)
{
    size_t off = 0;
    uint32_t type, arg;
    const uint8_t *p;
    uint64_t len;
    while (stage_next(st, &off, &type, &arg, &p, &len))
        if (type == MIG_REC_CONSOLE)
            cb(opaque, p + 8, (size_t)len - 8);
}

void repl_console_init(struct repl_console *c)
{
    memset(c, 0, sizeof(*c));
}

void repl_console_free(struct repl_console *c)
{
    free(c->buf);
    repl_console_init(c);
}

void repl_console_note(struct repl_console *c, const struct repl_stage *st)
{
    /* the stage's RELEASED was checked to be for the epoch before the one read */
    if (st->released && c->have)
        c->released = true;
}

static void console_add(void *opaque, const uint8_t *p, size_t len)
{
    struct repl_console *c = opaque;
    if (c->len + len > c->cap) {
        c->cap = MAX(c->cap * 2, c->len + len);
        c->buf = xrealloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, p, len);
    c->len += len;
}

void repl_console_applied(struct repl_console *c, const struct repl_stage *st)
{
    c->len = 0;
    repl_stage_each_console(st, console_add, c);
    c->have = true;
    c->released = false;
    c->epoch = st->epoch;
}

size_t repl_console_pending(const struct repl_console *c, const uint8_t **bytes)
{
    *bytes = c->buf;
    return c->have && !c->released ? c->len : 0;
}

ssize_t repl_write_console(int fd, uint64_t off, const uint8_t *data, size_t len)
{
    uint8_t o[8];
    put64(o, off);
    struct iovec p[2] = { { o, 8 }, { (void *)data, len } };
    return mig_write_recordv(fd, MIG_REC_CONSOLE, 0, p, 2);
}

ssize_t repl_write_released(int fd, uint64_t epoch)
{
    uint8_t b[8];
    put64(b, epoch);
    return mig_write_record(fd, MIG_REC_RELEASED, 0, b, 8);
}

ssize_t repl_write_disk(int fd, unsigned disk, uint64_t off, const uint8_t *data, size_t len)
{
    uint8_t o[8];
    put64(o, off);
    struct iovec p[2] = { { o, 8 }, { (void *)data, len } };
    return mig_write_recordv(fd, MIG_REC_DISK, disk, p, 2);
}

ssize_t repl_write_disk_zero(int fd, unsigned disk, uint64_t off, uint64_t len)
{
    uint8_t b[16];
    put64(b, off);
    put64(b + 8, len);
    return mig_write_record(fd, MIG_REC_DISK_ZERO, disk, b, 16);
}

ssize_t repl_write_epoch(int fd, uint64_t epoch, uint64_t nrec, uint64_t bytes)
{
    uint8_t b[24];
    put64(b, epoch);
    put64(b + 8, nrec);
    put64(b + 16, bytes);
    return mig_write_record(fd, MIG_REC_EPOCH, 0, b, 24);
}

ssize_t repl_write_ack(int fd, uint64_t epoch)
{
    uint8_t b[8];
    put64(b, epoch);
    return mig_write_record(fd, MIG_REC_EPOCH_ACK, 0, b, 8);
}

int repl_read_ack(struct mig_reader *rd, uint64_t *epoch, char *err, size_t errlen)
{
    struct mig_record rec;
    int r = mig_read_record(rd, &rec, err, errlen);
    if (r)
        return r;
    if (rec.type == MIG_REC_FAILED)
        return errf(err, errlen, -EIO, "the standby failed: %.*s", (int)MIN(rec.len, 400), (const char *)rec.payload);
    if (rec.type == MIG_REC_TAKEOVER)
        return errf(err, errlen, -EOWNERDEAD, "the standby took over: %.*s", (int)MIN(rec.len, 400),
                    (const char *)rec.payload);
    if (rec.type != MIG_REC_EPOCH_ACK || rec.len != 8)
        return errf(err, errlen, -EPROTO, "the standby answered with record type %u", rec.type);
    *epoch = get64(rec.payload);
    return 0;
}

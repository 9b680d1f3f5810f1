/* The live-migration stream: records with a CRC each, written to and read
 * from a socket, every field checked (machine/migstream.h). */
#include "machine/migstream.h"
#include "base/base.h"
#include "config.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* ---- writing ---- */
static ssize_t writev_full(int fd, struct iovec *iov, int n)
{
    ssize_t total = 0;
    bool sock = true;
    while (n > 0) {
        /* a socket: no SIGPIPE when the other side is gone (-EPIPE instead) */
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)(n > 1024 ? 1024 : n) };
        ssize_t w = sock ? sendmsg(fd, &mh, MSG_NOSIGNAL) : writev(fd, iov, n > 1024 ? 1024 : n);
        if (w < 0 && sock && errno == ENOTSOCK) {
            sock = false;
            continue;
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        total += w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return total;
}

ssize_t mig_write_header(int fd)
{
    return mig_write_header_version(fd, MIG_VERSION);
}

ssize_t mig_write_header_version(int fd, uint32_t version)
{
    uint8_t h[MIG_HEADER_SIZE];
    memcpy(h, MIG_MAGIC, 8);
    put32(h + 8, version);
    put32(h + 12, snap_crc32(0, h, 12));
    struct iovec iov = { h, sizeof(h) };
    return writev_full(fd, &iov, 1);
}

/* A record whose payload is the concatenation of parts. */
ssize_t mig_write_recordv(int fd, uint32_t type, uint32_t arg, const struct iovec *parts, int nparts)
{
    if (nparts < 0 || nparts > 6)
        return -EINVAL;
    uint8_t h[MIG_REC_HEADER], t[4];
    uint64_t len = 0;
    for (int i = 0; i < nparts; i++)
        len += parts[i].iov_len;
    put32(h, type);
    put32(h + 4, arg);
    put64(h + 8, len);
    uint32_t crc = snap_crc32(0, h, sizeof(h));
    struct iovec iov[8];
    iov[0] = (struct iovec){ h, sizeof(h) };
    for (int i = 0; i < nparts; i++) {
        crc = snap_crc32(crc, parts[i].iov_base, parts[i].iov_len);
        iov[1 + i] = parts[i];
    }
    put32(t, crc);
    iov[1 + nparts] = (struct iovec){ t, sizeof(t) };
    return writev_full(fd, iov, nparts + 2);
}

ssize_t mig_write_record(int fd, uint32_t type, uint32_t arg, const void *payload, size_t len)
{
    struct iovec p = { (void *)payload, len };
    return mig_write_recordv(fd, type, arg, &p, len ? 1 : 0);
}

ssize_t mig_write_hello(int fd, const struct mig_shape *sh)
{
    json_object *o = json_object_new_object(), *ram = json_object_new_array();
    json_object_object_add(o, "vessel", json_object_new_string(VESSEL_VERSION));
    json_object_object_add(o, "type", json_object_new_string(sh->type));
    json_object_object_add(o, "target", json_object_new_string(sh->target));
    json_object_object_add(o, "ncpus", json_object_new_int64(sh->ncpus));
    for (unsigned i = 0; i < sh->nram; i++) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "gpa", json_object_new_int64((int64_t)sh->gpa[i]));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)sh->size[i]));
        json_object_array_add(ram, r);
    }
    json_object_object_add(o, "ram", ram);
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    ssize_t r = mig_write_record(fd, MIG_REC_HELLO, 0, txt, strlen(txt));
    json_object_put(o);
    return r;
}

ssize_t mig_write_pages(int fd, unsigned region, const uint64_t *index, unsigned n, const uint8_t *data)
{
    uint8_t idx[MIG_PAGES_MAX * 8];
    for (unsigned i = 0; i < n; i++)
        put64(idx + 8 * i, index[i]);
    struct iovec p[2] = { { idx, 8ULL * n }, { (void *)data, (size_t)n * MEM_PAGE_SIZE } };
    return mig_write_recordv(fd, MIG_REC_PAGES, region, p, 2);
}

ssize_t mig_write_zero(int fd, unsigned region, uint64_t first, uint64_t count)
{
    uint8_t b[16];
    put64(b, first);
    put64(b + 8, count);
    return mig_write_record(fd, MIG_REC_ZERO, region, b, sizeof(b));
}

ssize_t mig_write_state(int fd, bool running, const char *manifest, size_t mlen, const uint8_t *state,
                        size_t slen)
{
    uint8_t lens[16];
    put64(lens, mlen);
    put64(lens + 8, slen);
    struct iovec p[3] = { { lens, sizeof(lens) }, { (void *)manifest, mlen }, { (void *)state, slen } };
    return mig_write_recordv(fd, MIG_REC_STATE, running, p, 3);
}

/* ---- reading ---- */
void mig_reader_init(struct mig_reader *rd, ssize_t (*read)(void *opaque, void *buf, size_t len), void *opaque)
{
    memset(rd, 0, sizeof(*rd));
    rd->read = read;
    rd->opaque = opaque;
}

void mig_reader_free(struct mig_reader *rd)
{
    free(rd->buf);
    rd->buf = NULL;
    rd->cap = 0;
}

/* Exactly len bytes: 0, -EPIPE at the end of the stream, -errno. */
static int stream_read_full(struct mig_reader *rd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = rd->read(rd->opaque, p, len);
        if (n == 0)
            return -EPIPE;
        if (n < 0) {
            if (n == -EINTR)
                continue;
            return (int)n;
        }
        p += n;
        len -= (size_t)n;
        rd->bytes += (uint64_t)n;
    }
    return 0;
}

static const char *read_why(int r)
{
    return r == -EPIPE ? "the stream ended early (the source went away or was cancelled)" : strerror(-r);
}

int mig_read_header(struct mig_reader *rd, char *err, size_t errlen)
{
    return mig_read_header_version(rd, MIG_VERSION, "migration", err, errlen);
}

int mig_read_header_version(struct mig_reader *rd, uint32_t version, const char *what, char *err, size_t errlen)
{
    uint8_t h[MIG_HEADER_SIZE];
    int r = stream_read_full(rd, h, sizeof(h));
    if (r)
        return errf(err, errlen, r, "%s stream: no header: %s", what, read_why(r));
    if (memcmp(h, MIG_MAGIC, 8))
        return errf(err, errlen, -EINVAL, "%s stream: not a vessel %s stream (no magic)", what, what);
    if (get32(h + 12) != snap_crc32(0, h, 12))
        return errf(err, errlen, -EINVAL, "%s stream: header CRC mismatch (corrupt)", what);
    if (get32(h + 8) != version)
        return errf(err, errlen, -EINVAL, "%s stream: version %u, this vessel reads version %u", what,
                    get32(h + 8), version);
    return 0;
}

static uint64_t max_len(uint32_t type)
{
    switch (type) {
    case MIG_REC_HELLO: return MIG_MAX_HELLO;
    case MIG_REC_PAGES: return MIG_PAGES_MAX * (8 + MEM_PAGE_SIZE);
    case MIG_REC_ZERO: return 16;
    case MIG_REC_STATE: return MIG_MAX_STATE;
    case MIG_REC_CANCEL: case MIG_REC_FAILED: case MIG_REC_TAKEOVER: return MIG_MAX_REASON;
    case MIG_REC_PASS: case MIG_REC_END: case MIG_REC_RUNNING: case MIG_REC_PASS_ACK: return 0;
    case MIG_REC_DISK: return 8 + MIG_DISK_MAX;
    case MIG_REC_DISK_ZERO: return 16;
    case MIG_REC_EPOCH: return 24;
    case MIG_REC_EPOCH_ACK: return 8;
    case MIG_REC_CONSOLE: return 8 + MIG_CONSOLE_MAX;
    case MIG_REC_RELEASED: return 8;
    default: return UINT64_MAX;
    }
}

int mig_read_record(struct mig_reader *rd, struct mig_record *rec, char *err, size_t errlen)
{
    uint8_t h[MIG_REC_HEADER], t[4];
    int r = stream_read_full(rd, h, sizeof(h));
    if (r)
        return errf(err, errlen, r, "migration stream: %s", read_why(r));
    uint32_t type = get32(h);
    uint64_t len = get64(h + 8), max = max_len(type);
    if (max == UINT64_MAX)
        return errf(err, errlen, -EINVAL, "migration stream: unknown record type %u at byte %llu (corrupt)", type,
                    (unsigned long long)(rd->bytes - sizeof(h)));
    if (len > max)
        return errf(err, errlen, -EINVAL, "migration stream: record type %u of %llu bytes (at most %llu; corrupt)",
                    type, (unsigned long long)len, (unsigned long long)max);
    if (len > rd->cap) {
        free(rd->buf);
        rd->cap = (size_t)len;
        rd->buf = xmalloc(rd->cap);
    }
    if (len && (r = stream_read_full(rd, rd->buf, (size_t)len)))
        return errf(err, errlen, r, "migration stream: record type %u cut short: %s", type, read_why(r));
    if ((r = stream_read_full(rd, t, 4)))
        return errf(err, errlen, r, "migration stream: record type %u without its CRC: %s", type, read_why(r));
    uint32_t crc = snap_crc32(snap_crc32(0, h, sizeof(h)), rd->buf, (size_t)len);
    if (crc != get32(t))
        return errf(err, errlen, -EINVAL, "migration stream: record type %u (%llu bytes): CRC-32 0x%08x, the stream "
                    "says 0x%08x (corrupt)", type, (unsigned long long)len, crc, get32(t));
    rec->type = type;
    rec->arg = get32(h + 4);
    rec->payload = rd->buf;
    rec->len = (size_t)len;
    return 0;
}

static bool json_u64(json_object *o, const char *key, uint64_t *out)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < 0)
        return false;
    *out = (uint64_t)x;
    return true;
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int check_hello_json(json_object *o, const struct mig_shape *mine, char *err, size_t errlen)
{
    const char *ve = json_str(o, "vessel"), *ty = json_str(o, "type"), *tg = json_str(o, "target");
    json_object *ram;
    uint64_t n;
    if (!ve || !ty || !tg || !json_u64(o, "ncpus", &n) || !json_object_object_get_ex(o, "ram", &ram) ||
        !json_object_is_type(ram, json_type_array))
        return errf(err, errlen, -EINVAL, "migration stream: HELLO lacks vessel, type, target, ncpus or ram");
    if (strcmp(ve, VESSEL_VERSION))
        return errf(err, errlen, -EINVAL, "migration stream: the source is vessel %.32s; this is vessel %s (state "
                    "layouts differ between versions)", ve, VESSEL_VERSION);
    if (strcmp(ty, mine->type) || strcmp(tg, mine->target))
        return errf(err, errlen, -EINVAL, "migration stream: the source is a %.40s (%.20s) machine, this one is %s (%s)",
                    ty, tg, mine->type, mine->target);
    if (n != mine->ncpus)
        return errf(err, errlen, -EINVAL, "migration stream: the source has %llu vCPUs, this machine %u (start it "
                    "with the same --smp)", (unsigned long long)n, mine->ncpus);
    if (json_object_array_length(ram) != mine->nram)
        return errf(err, errlen, -EINVAL, "migration stream: the source has %zu RAM regions, this machine %u",
                    json_object_array_length(ram), mine->nram);
    for (unsigned i = 0; i < mine->nram; i++) {
        json_object *r = json_object_array_get_idx(ram, i);
        uint64_t gpa, size;
        if (!json_u64(r, "gpa", &gpa) || !json_u64(r, "size", &size))
            return errf(err, errlen, -EINVAL, "migration stream: HELLO: RAM region %u lacks gpa or size", i);
        if (gpa != mine->gpa[i] || size != mine->size[i])
            return errf(err, errlen, -EINVAL, "migration stream: the source's RAM region %u is %llu MiB at 0x%llx, "
                        "this machine's %llu MiB at 0x%llx (start it with the same -m)", i,
                        (unsigned long long)(size >> 20), (unsigned long long)gpa,
                        (unsigned long long)(mine->size[i] >> 20), (unsigned long long)mine->gpa[i]);
    }
    return 0;
}

int mig_check_hello(const struct mig_record *rec, const struct mig_shape *mine, char *err, size_t errlen)
{
    if (rec->type != MIG_REC_HELLO)
        return errf(err, errlen, -EINVAL, "migration stream: record type %u where HELLO was due", rec->type);
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, (const char *)rec->payload, (int)rec->len);
    bool ok = o && json_tokener_get_error(tok) == json_tokener_success && json_object_is_type(o, json_type_object);
    json_tokener_free(tok);
    int r = ok ? check_hello_json(o, mine, err, errlen)
               : errf(err, errlen, -EINVAL, "migration stream: HELLO is not a JSON object (corrupt)");
    json_object_put(o);
    return r;
}

/* Region `region` of mem, writable, or NULL with err set. */
static struct mem_region *region_of(struct guest_mem *mem, uint32_t region, char *err, size_t errlen)
{
    if (region >= mem->nr || (mem->r[region].flags & MEM_F_READONLY)) {
        errf(err, errlen, -EINVAL, "migration stream: RAM region %u does not exist here (corrupt)", region);
        return NULL;
    }
    return &mem->r[region];
}

int64_t mig_apply_pages(struct guest_mem *mem, const struct mig_record *rec, char *err, size_t errlen)
{
    struct mem_region *r = region_of(mem, rec->arg, err, errlen);
    if (!r)
        return -EINVAL;
    size_t n = rec->len / (8 + MEM_PAGE_SIZE);
    if (n == 0 || n > MIG_PAGES_MAX || rec->len != n * (8 + MEM_PAGE_SIZE))
        return errf(err, errlen, -EINVAL, "migration stream: a PAGES record of %zu bytes is no whole number of pages",
                    rec->len);
    uint64_t npages = r->size >> MEM_PAGE_SHIFT;
    for (size_t i = 0; i < n; i++)
        if (get64(rec->payload + 8 * i) >= npages)
            return errf(err, errlen, -EINVAL, "migration stream: page %llu is outside RAM region %u (%llu pages)",
                        (unsigned long long)get64(rec->payload + 8 * i), rec->arg, (unsigned long long)npages);
    const uint8_t *data = rec->payload + 8 * n;
    for (size_t i = 0; i < n; i++)
        memcpy(r->host + (get64(rec->payload + 8 * i) << MEM_PAGE_SHIFT), data + i * MEM_PAGE_SIZE, MEM_PAGE_SIZE);
    return (int64_t)n;
}

static bool page_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    uint64_t acc = 0;
    for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i++)
        acc |= q[i];
    return acc == 0;
}

int64_t mig_apply_zero(struct guest_mem *mem, const struct mig_record *rec, char *err, size_t errlen)
{
    struct mem_region *r = region_of(mem, rec->arg, err, errlen);
    if (!r)
        return -EINVAL;
    if (rec->len != 16)
        return errf(err, errlen, -EINVAL, "migration stream: a ZERO record of %zu bytes (16 expected)", rec->len);
    uint64_t first = get64(rec->payload), count = get64(rec->payload + 8), npages = r->size >> MEM_PAGE_SHIFT;
    if (!count || first >= npages || count > npages - first)
        return errf(err, errlen, -EINVAL, "migration stream: zero pages %llu+%llu are outside RAM region %u",
                    (unsigned long long)first, (unsigned long long)count, rec->arg);
    for (uint64_t p = first; p < first + count; p++) {
        uint8_t *h = r->host + (p << MEM_PAGE_SHIFT);
        if (!page_zero(h))
            memset(h, 0, MEM_PAGE_SIZE);
    }
    return (int64_t)count;
}

int mig_state_parts(const struct mig_record *rec, const char **manifest, size_t *mlen, const uint8_t **state,
                    size_t *slen, char *err, size_t errlen)
{
    if (rec->len < 16)
        return errf(err, errlen, -EINVAL, "migration stream: STATE record of %zu bytes", rec->len);
    uint64_t m = get64(rec->payload), s = get64(rec->payload + 8);
    if (m > rec->len - 16 || s != rec->len - 16 - m)
        return errf(err, errlen, -EINVAL, "migration stream: STATE record: %llu + %llu bytes in %zu (corrupt)",
                    (unsigned long long)m, (unsigned long long)s, rec->len - 16);
    *manifest = (const char *)rec->payload + 16;
    *mlen = (size_t)m;
    *state = rec->payload + 16 + m;
    *slen = (size_t)s;
    return 0;
}

static int take_state(const struct mig_record *rec, char **manifest, size_t *mlen, uint8_t **state, size_t *slen,
                      bool *running, char *err, size_t errlen)
{
    const char *m;
    const uint8_t *s;
    int r = mig_state_parts(rec, &m, mlen, &s, slen, err, errlen);
    if (r)
        return r;
    *manifest = xmalloc(*mlen + 1);
    memcpy(*manifest, m, *mlen);
    (*manifest)[*mlen] = 0;
    *state = xmalloc(*slen ? *slen : 1);
    memcpy(*state, s, *slen);
    *running = rec->arg & 1;
    return 0;
}

int mig_receive(struct mig_reader *rd, int ack_fd, struct guest_mem *mem, const struct mig_shape *mine, char **manifest,
                size_t *mlen, uint8_t **state, size_t *slen, bool *running, struct mig_incoming_stats *st,
                char *err, size_t errlen)
{
    struct mig_record rec;
    char *man = NULL;
    uint8_t *sta = NULL;
    *manifest = NULL;
    *state = NULL;
    int r = mig_read_header(rd, err, errlen);
    if (!r)
        r = mig_read_record(rd, &rec, err, errlen);
    if (!r)
        r = mig_check_hello(&rec, mine, err, errlen);
    while (!r) {
        if ((r = mig_read_record(rd, &rec, err, errlen)))
            break;
        int64_t n = 0;
        switch (rec.type) {
        case MIG_REC_PAGES:
            if (man)
                goto order;
            n = mig_apply_pages(mem, &rec, err, errlen);
            if (n > 0)
                st->pages += (uint64_t)n;
            break;
        case MIG_REC_ZERO:
            if (man)
                goto order;
            n = mig_apply_zero(mem, &rec, err, errlen);
            if (n > 0)
                st->zero_pages += (uint64_t)n;
            break;
        case MIG_REC_PASS:
            st->passes++;
            if (ack_fd >= 0 && mig_write_record(ack_fd, MIG_REC_PASS_ACK, rec.arg, NULL, 0) < 0)
                n = errf(err, errlen, -EPIPE, "migration: the source went away");
            break;
        case MIG_REC_STATE:
            if (man)
                goto order;
            n = take_state(&rec, &man, mlen, &sta, slen, running, err, errlen);
            break;
        case MIG_REC_END:
            if (!man)
                goto order;
            *manifest = man;
            *state = sta;
            return 0;
        case MIG_REC_CANCEL:
            r = errf(err, errlen, -ECANCELED, "migration cancelled by the source: %.*s", (int)MIN(rec.len, 300),
                     (const char *)rec.payload);
            break;
        default:
            goto order;
        }
        if (n < 0)
            r = (int)n;
        continue;
order:
        r = errf(err, errlen, -EINVAL, "migration stream: record type %u out of order (corrupt)", rec.type);
    }
    free(man);
    free(sta);
    return r;
}

/* ---- addresses ---- */
int mig_uri_parse(const char *uri, struct mig_uri *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!strncmp(uri, "unix:", 5)) {
        const char *p = uri + 5;
        if (!*p || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return errf(err, errlen, -EINVAL, "migration URI '%.200s': a unix socket path of 1 to %zu bytes is needed",
                        uri, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        snprintf(out->path, sizeof(out->path), "%s", p);
        return 0;
    }
    if (strncmp(uri, "tcp:", 4))
        return errf(err, errlen, -EINVAL, "migration URI '%.200s': expected unix:PATH or tcp:HOST:PORT", uri);
    const char *h = uri + 4, *colon;
    size_t hl;
    if (*h == '[') {
        const char *e = strchr(h, ']');
        if (!e || e[1] != ':')
            return errf(err, errlen, -EINVAL, "migration URI '%.200s': expected tcp:[V6ADDR]:PORT", uri);
        h++;
        hl = (size_t)(e - h);
        colon = e + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon)
            return errf(err, errlen, -EINVAL, "migration URI '%.200s': expected tcp:HOST:PORT", uri);
        hl = (size_t)(colon - h);
    }
    uint64_t port;
    if (hl >= sizeof(out->host) || parse_u64(colon + 1, &port) || port > 65535 || (port == 0 && hl))
        return errf(err, errlen, -EINVAL, "migration URI '%.200s': bad host or port", uri);
    out->tcp = true;
    memcpy(out->host, h, hl);
    out->host[hl] = 0;
    snprintf(out->port, sizeof(out->port), "%llu", (unsigned long long)port);
    return 0;
}

int mig_uri_parse_migrate(const char *uri, struct mig_uri *out, char *err, size_t errlen)
{
    if (strncmp(uri, "file:", 5)) {
        if (strncmp(uri, "unix:", 5) && strncmp(uri, "tcp:", 4))
            return errf(err, errlen, -EINVAL, "migration URI '%.200s': expected unix:PATH, tcp:HOST:PORT or file:PATH",
                        uri);
        return mig_uri_parse(uri, out, err, errlen);
    }
    memset(out, 0, sizeof(*out));
    const char *p = uri + 5;
    if (!*p || strlen(p) >= sizeof(out->path))
        return errf(err, errlen, -EINVAL, "migration URI '%.200s': a file path of 1 to %zu bytes is needed", uri,
                    sizeof(out->path) - 1);
    out->file = true;
    snprintf(out->path, sizeof(out->path), "%s", p);
    return 0;
}

int mig_uri_connect(const struct mig_uri *u, char *err, size_t errlen)
{
    if (u->file) {
        int fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        return fd >= 0 ? fd : errf(err, errlen, -errno, "migrate file:%s: %s", u->path, strerror(errno));
    }
    if (!u->tcp) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", u->path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            int e = -errno;
            if (fd >= 0)
                close(fd);
            return errf(err, errlen, e, "migrate unix:%s: %s", u->path, strerror(-e));
        }
        return fd;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
    int g = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &res);
    if (g)
        return errf(err, errlen, -EINVAL, "migrate tcp:%s:%s: %s", u->host, u->port, gai_strerror(g));
    int fd = -1, e = -ECONNREFUSED;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            e = -errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return errf(err, errlen, e, "migrate tcp:%s:%s: %s", u->host, u->port, strerror(-e));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int listen_unix(const struct mig_uri *u, char *err, size_t errlen)
{
    /* 0600: only its owner can send this process a machine's state */
    int fd = unix_listen(u->path, 0, 1, NULL);
    return fd >= 0 ? fd : errf(err, errlen, fd, "--incoming unix:%s: %s", u->path, unix_listen_strerror(fd));
}

int mig_uri_listen(const struct mig_uri *u, char *err, size_t errlen)
{
    if (u->file) {
        int fd = open(u->path, O_RDONLY | O_CLOEXEC);
        return fd >= 0 ? fd : errf(err, errlen, -errno, "--incoming file:%s: %s", u->path, strerror(errno));
    }
    if (!u->tcp)
        return listen_unix(u, err, errlen);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
    int g = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &res);
    if (g)
        return errf(err, errlen, -EINVAL, "--incoming tcp:%s:%s: %s", u->host, u->port, gai_strerror(g));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol), one = 1, e = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0)
        e = -errno;
    freeaddrinfo(res);
    if (e) {
        if (fd >= 0)
            close(fd);
        return errf(err, errlen, e, "--incoming tcp:%s:%s: %s", u->host, u->port, strerror(-e));
    }
    return fd;
}

int mig_accept(int listen_fd, int wake_fd)
{
    struct pollfd p[2] = { { listen_fd, POLLIN, 0 }, { wake_fd, POLLIN, 0 } };
    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return -1;
        if (p[1].revents)
            return -1;
        if (p[0].revents) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 || (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED))
                return fd;
        }
    }
}

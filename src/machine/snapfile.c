/* The snapshot format: manifest.json (json-c) and state.bin, written and
 * read with every field checked (machine/snapshot.h, docs/snapshot.md). */
#include "machine/snapshot.h"
#include "base/base.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

bool snap_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SNAP_NAME_MAX || s[0] == '/' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

/* ---- disk identity ---- */
#define SAMPLE_EDGE (64u << 10)
#define SAMPLE_BLOCK 4096u
#define SAMPLE_N 16

static uint32_t crc_range(int fd, uint64_t off, uint64_t len, uint32_t crc, uint8_t *buf, int *err)
{
    while (len && !*err) {
        size_t n = len > SAMPLE_EDGE ? SAMPLE_EDGE : (size_t)len;
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r <= 0) {
            *err = r < 0 ? -errno : -EIO;
            break;
        }
        crc = snap_crc32(crc, buf, (size_t)r);
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return crc;
}

int snap_disk_identity(const char *path, struct snap_disk *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    d->size = (uint64_t)st.st_size;
    d->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    uint8_t *buf = xmalloc(SAMPLE_EDGE);
    int err = 0;
    uint32_t crc = 0;
    uint64_t size = d->size;
    crc = crc_range(fd, 0, MIN(size, (uint64_t)SAMPLE_EDGE), crc, buf, &err);
    if (size > 2ULL * SAMPLE_EDGE) {
        uint64_t span = size - 2ULL * SAMPLE_EDGE - SAMPLE_BLOCK;
        for (unsigned i = 0; i < SAMPLE_N && size > 2ULL * SAMPLE_EDGE + SAMPLE_BLOCK; i++)
            crc = crc_range(fd, SAMPLE_EDGE + span / (SAMPLE_N - 1) * i, SAMPLE_BLOCK, crc, buf, &err);
    }
    if (size > SAMPLE_EDGE)
        crc = crc_range(fd, size - MIN(size - SAMPLE_EDGE, (uint64_t)SAMPLE_EDGE),
                        MIN(size - SAMPLE_EDGE, (uint64_t)SAMPLE_EDGE), crc, buf, &err);
    free(buf);
    close(fd);
    d->sample_crc32 = crc;
    return err;
}

/* ---- writing ---- */
struct snap_writer {
    json_object *root, *config, *devices, *ram, *disks, *sections;
    uint8_t *data;
    size_t len, cap;
};

struct snap_writer *snap_writer_new(const char *type, const char *target, unsigned ncpus)
{
    struct snap_writer *w = xzalloc(sizeof(*w));
    w->root = json_object_new_object();
    json_object_object_add(w->root, "format", json_object_new_string(SNAP_FORMAT));
    json_object_object_add(w->root, "version", json_object_new_int(SNAP_VERSION));
    json_object_object_add(w->root, "vessel", json_object_new_string(VESSEL_VERSION));
    json_object *mach = json_object_new_object();
    json_object_object_add(mach, "type", json_object_new_string(type));
    json_object_object_add(mach, "target", json_object_new_string(target));
    json_object_object_add(mach, "ncpus", json_object_new_int64(ncpus));
    json_object_object_add(w->root, "machine", mach);
    w->ram = json_object_new_array();
    w->config = json_object_new_object();
    w->devices = json_object_new_array();
    w->disks = json_object_new_array();
    w->sections = json_object_new_array();
    json_object_object_add(w->root, "ram", w->ram);
    json_object_object_add(w->root, "config", w->config);
    json_object_object_add(w->root, "devices", w->devices);
    json_object_object_add(w->root, "disks", w->disks);
    json_object_object_add(w->root, "sections", w->sections);
    w->len = SNAP_HEADER_SIZE;
    w->cap = 64 << 10;
    w->data = xzalloc(w->cap);
    return w;
}

void snap_writer_free(struct snap_writer *w)
{
    if (!w)
        return;
    json_object_put(w->root);
    free(w->data);
    free(w);
}

void snap_add_section(struct snap_writer *w, const char *name, uint32_t version, const void *data, size_t len)
{
    /* every section starts 8-byte aligned (the loads read plain structs
     * in place); the padding is zeros */
    size_t pad = (8 - (w->len & 7)) & 7;
    if (w->len + pad + len > w->cap) {
        while (w->len + pad + len > w->cap)
            w->cap *= 2;
        w->data = xrealloc(w->data, w->cap);
    }
    memset(w->data + w->len, 0, pad);
    w->len += pad;
    if (w->len + len > w->cap) {
        while (w->len + len > w->cap)
            w->cap *= 2;
        w->data = xrealloc(w->data, w->cap);
    }
    if (len)
        memcpy(w->data + w->len, data, len);
    json_object *s = json_object_new_object();
    json_object_object_add(s, "name", json_object_new_string(name));
    json_object_object_add(s, "version", json_object_new_int64(version));
    json_object_object_add(s, "offset", json_object_new_int64((int64_t)(w->len - SNAP_HEADER_SIZE)));
    json_object_object_add(s, "length", json_object_new_int64((int64_t)len));
    json_object_object_add(s, "crc32", json_object_new_int64(snap_crc32(0, data, len)));
    json_object_array_add(w->sections, s);
    w->len += len;
}

void snap_add_config(struct snap_writer *w, const char *key, const char *val)
{
    if (val)
        json_object_object_add(w->config, key, json_object_new_string(val));
}

void snap_add_config_u64(struct snap_writer *w, const char *key, uint64_t val)
{
    json_object_object_add(w->config, key, json_object_new_int64((int64_t)val));
}

void snap_add_device(struct snap_writer *w, const char *id, const char *kind, const char *section,
                     const char *config)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(id));
    json_object_object_add(d, "kind", json_object_new_string(kind));
    json_object_object_add(d, "section", section ? json_object_new_string(section) : NULL);
    if (config)
        json_object_object_add(d, "config", json_object_new_string(config));
    json_object_array_add(w->devices, d);
}

void snap_add_ram(struct snap_writer *w, const struct snap_ram *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "gpa", json_object_new_int64((int64_t)r->gpa));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)r->size));
    json_object_object_add(o, "file", json_object_new_string(r->file));
    json_object_object_add(o, "crc32", json_object_new_int64(r->crc32));
    json_object_array_add(w->ram, o);
}

void snap_add_disk(struct snap_writer *w, const struct snap_disk *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(d->id));
    json_object_object_add(o, "path", json_object_new_string(d->path));
    json_object_object_add(o, "size", json_object_new_int64((int64_t)d->size));
    json_object_object_add(o, "mtime_ns", json_object_new_int64(d->mtime_ns));
    json_object_object_add(o, "sample_crc32", json_object_new_int64(d->sample_crc32));
    json_object_object_add(o, "saved", d->saved[0] ? json_object_new_string(d->saved) : NULL);
    json_object_array_add(w->disks, o);
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

void snap_writer_finish(struct snap_writer *w, char **manifest, size_t *mlen, uint8_t **state, size_t *slen)
{
    const char *txt = json_object_to_json_string_ext(w->root, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    *mlen = strlen(txt) + 1;
    *manifest = xmalloc(*mlen + 1);
    memcpy(*manifest, txt, *mlen - 1);
    (*manifest)[*mlen - 1] = '\n';
    (*manifest)[*mlen] = 0;
    uint8_t *h = w->data;
    memcpy(h, SNAP_MAGIC, 8);
    put32(h + 8, SNAP_VERSION);
    put32(h + 12, snap_crc32(0, *manifest, *mlen));
    put64(h + 16, w->len - SNAP_HEADER_SIZE);
    put32(h + 24, 0);
    put32(h + 28, snap_crc32(0, h, 28));
    *state = w->data;
    *slen = w->len;
    w->data = NULL;
}

/* ---- reading ---- */
struct snap_sec {
    char name[SNAP_NAME_MAX];
    uint32_t version;
    uint64_t offset, length;
};

struct snap {
    char *dir;
    json_object *root;              /* owns the strings below */
    const char *vessel, *type, *target;
    unsigned ncpus;
    json_object *config;
    uint8_t *state;                 /* header + payload */
    size_t state_len;
    struct snap_sec *sec;
    unsigned nsec;
    struct snap_ram ram[SNAP_MAX_RAM];
    unsigned nram;
    struct snap_dev *dev;
    unsigned ndev;
    struct snap_disk *disk;
    unsigned ndisk;
};

static int PRINTF(3, 4) fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Member `key` of o with type t, or NULL. */
static json_object *member(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static bool get_u64(json_object *o, const char *key, uint64_t max, uint64_t *out)
{
    json_object *v = member(o, key, json_type_int);
    if (!v)
        return false;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < 0 || (uint64_t)x > max)
        return false;
    *out = (uint64_t)x;
    return true;
}

static bool get_name(json_object *o, const char *key, char *out)
{
    json_object *v = member(o, key, json_type_string);
    if (!v || !snap_name_ok(json_object_get_string(v)))
        return false;
    snprintf(out, SNAP_NAME_MAX, "%s", json_object_get_string(v));
    return true;
}

static int parse_sections(struct snap *s, uint64_t payload, char *err, size_t errlen)
{
    json_object *a = member(s->root, "sections", json_type_array);
    if (!a)
        return fail(err, errlen, "manifest: no \"sections\" array");
    size_t n = json_object_array_length(a);
    if (n > SNAP_MAX_SECTIONS)
        return fail(err, errlen, "manifest: %zu sections (at most %d)", n, SNAP_MAX_SECTIONS);
    s->sec = xzalloc((n ? n : 1) * sizeof(*s->sec));
    uint64_t next = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(a, i);
        struct snap_sec *c = &s->sec[i];
        uint64_t ver, crc;
        if (!json_object_is_type(o, json_type_object) || !get_name(o, "name", c->name) ||
            !get_u64(o, "version", UINT32_MAX, &ver) || !get_u64(o, "offset", payload, &c->offset) ||
            !get_u64(o, "length", payload, &c->length) || !get_u64(o, "crc32", UINT32_MAX, &crc))
            return fail(err, errlen, "manifest: section %zu: needs name, version, offset, length, crc32", i);
        c->version = (uint32_t)ver;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(s->sec[k].name, c->name))
                return fail(err, errlen, "manifest: section %s appears twice", c->name);
        uint64_t start = (next + 7) & ~7ULL;
        if (c->offset != start || c->offset > payload || c->length > payload - c->offset)
            return fail(err, errlen, "section %s: bytes %llu+%llu do not follow the previous section in a "
                        "payload of %llu", c->name, (unsigned long long)c->offset,
                        (unsigned long long)c->length, (unsigned long long)payload);
        for (uint64_t k = next; k < start; k++)
            if (s->state[SNAP_HEADER_SIZE + k])
                return fail(err, errlen, "state.bin: padding before section %s is not zero (corrupt)", c->name);
        next = c->offset + c->length;
        uint32_t got = snap_crc32(0, s->state + SNAP_HEADER_SIZE + c->offset, c->length);
        if (got != crc)
            return fail(err, errlen, "section %s: CRC-32 0x%08x, the manifest says 0x%08x (corrupt)", c->name,
                        got, (uint32_t)crc);
        s->nsec++;
    }
    if (next != payload)
        return fail(err, errlen, "state.bin: %llu payload bytes, the sections cover %llu",
                    (unsigned long long)payload, (unsigned long long)next);
    return 0;
}

static int parse_ram(struct snap *s, char *err, size_t errlen)
{
    json_object *a = member(s->root, "ram", json_type_array);
    if (!a || json_object_array_length(a) == 0 || json_object_array_length(a) > SNAP_MAX_RAM)
        return fail(err, errlen, "manifest: \"ram\" must list 1 to %d regions", SNAP_MAX_RAM);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *o = json_object_array_get_idx(a, i);
        struct snap_ram *r = &s->ram[i];
        uint64_t crc;
        if (!get_u64(o, "gpa", INT64_MAX, &r->gpa) || !get_u64(o, "size", INT64_MAX, &r->size) ||
            !get_name(o, "file", r->file) || strchr(r->file, '/') || !get_u64(o, "crc32", UINT32_MAX, &crc) ||
            !r->size || (r->gpa | r->size) & 4095 || r->gpa + r->size < r->gpa)
            return fail(err, errlen, "manifest: ram region %zu: needs gpa, size (page multiples), file, crc32", i);
        r->crc32 = (uint32_t)crc;
        s->nram++;
    }
    return 0;
}

static int parse_devices(struct snap *s, char *err, size_t errlen)
{
    json_object *a = member(s->root, "devices", json_type_array);
    if (!a || json_object_array_length(a) > SNAP_MAX_DEVS)
        return fail(err, errlen, "manifest: \"devices\" must be an array of at most %d", SNAP_MAX_DEVS);
    size_t n = json_object_array_length(a);
    s->dev = xzalloc((n ? n : 1) * sizeof(*s->dev));
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(a, i), *v;
        struct snap_dev *d = &s->dev[i];
        if (!json_object_is_type(o, json_type_object) || !get_name(o, "id", d->id) || !get_name(o, "kind", d->kind))
            return fail(err, errlen, "manifest: device %zu: needs an id and a kind", i);
        if (json_object_object_get_ex(o, "section", &v) && v && !get_name(o, "section", d->section))
            return fail(err, errlen, "manifest: device %s: bad section name", d->id);
        if (d->section[0] && !snap_section(s, d->section, NULL, NULL))
            return fail(err, errlen, "manifest: device %s: no section %s", d->id, d->section);
        d->config = "";
        if ((v = member(o, "config", json_type_string))) {
            if (strlen(json_object_get_string(v)) >= SNAP_MAX_CONFIG)
                return fail(err, errlen, "manifest: device %s: config too long", d->id);
            d->config = json_object_get_string(v);
        }
        s->ndev++;
    }
    return 0;
}

static int parse_disks(struct snap *s, char *err, size_t errlen)
{
    json_object *a = member(s->root, "disks", json_type_array);
    if (!a || json_object_array_length(a) > SNAP_MAX_DISKS)
        return fail(err, errlen, "manifest: \"disks\" must be an array of at most %d", SNAP_MAX_DISKS);
    size_t n = json_object_array_length(a);
    if (!n)
        return 0;       /* no array: 4 KiB (a path each) not zeroed for nothing */
    s->disk = xzalloc(n * sizeof(*s->disk));
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(a, i), *v;
        struct snap_disk *d = &s->disk[i];
        uint64_t mt, crc;
        json_object *p = member(o, "path", json_type_string);
        if (!get_name(o, "id", d->id) || !p || !*json_object_get_string(p) ||
            strlen(json_object_get_string(p)) >= sizeof(d->path) || !get_u64(o, "size", INT64_MAX, &d->size) ||
            !get_u64(o, "mtime_ns", INT64_MAX, &mt) || !get_u64(o, "sample_crc32", UINT32_MAX, &crc))
            return fail(err, errlen, "manifest: disk %zu: needs id, path, size, mtime_ns, sample_crc32", i);
        snprintf(d->path, sizeof(d->path), "%s", json_object_get_string(p));
        d->mtime_ns = (int64_t)mt;
        d->sample_crc32 = (uint32_t)crc;
        if (json_object_object_get_ex(o, "saved", &v) && v && (!get_name(o, "saved", d->saved) || strchr(d->saved, '/')))
            return fail(err, errlen, "manifest: disk %s: bad saved file name", d->id);
        s->ndisk++;
    }
    return 0;
}

static int parse_header(struct snap *s, size_t mlen, const char *manifest, uint64_t *payload, char *err,
                        size_t errlen)
{
    const uint8_t *h = s->state;
    if (s->state_len < SNAP_HEADER_SIZE || memcmp(h, SNAP_MAGIC, 8))
        return fail(err, errlen, "state.bin: not a vessel snapshot state file (%zu bytes, no magic)", s->state_len);
    if (get32(h + 28) != snap_crc32(0, h, 28) || get32(h + 24))
        return fail(err, errlen, "state.bin: header CRC mismatch (corrupt)");
    if (get32(h + 8) != SNAP_VERSION)
        return fail(err, errlen, "state.bin: format version %u, this vessel reads version %d", get32(h + 8),
                    SNAP_VERSION);
    if (get32(h + 12) != snap_crc32(0, manifest, mlen))
        return fail(err, errlen, "manifest.json: CRC-32 does not match the one in state.bin (corrupt or edited)");
    *payload = get64(h + 16);
    if (*payload != s->state_len - SNAP_HEADER_SIZE)
        return fail(err, errlen, "state.bin: %zu payload bytes, its header says %llu (truncated?)",
                    s->state_len - SNAP_HEADER_SIZE, (unsigned long long)*payload);
    return 0;
}

static int parse_top(struct snap *s, char *err, size_t errlen)
{
    json_object *f = member(s->root, "format", json_type_string), *v = member(s->root, "version", json_type_int);
    if (!f || strcmp(json_object_get_string(f), SNAP_FORMAT))
        return fail(err, errlen, "manifest: \"format\" is not \"%s\"", SNAP_FORMAT);
    if (!v || json_object_get_int64(v) != SNAP_VERSION)
        return fail(err, errlen, "manifest: format version %s, this vessel reads version %d",
                    v ? json_object_to_json_string(v) : "(none)", SNAP_VERSION);
    json_object *ve = member(s->root, "vessel", json_type_string), *m = member(s->root, "machine", json_type_object);
    json_object *t = member(m, "type", json_type_string), *tg = member(m, "target", json_type_string);
    uint64_t n;
    if (!ve || !t || !tg || !get_u64(m, "ncpus", 1024, &n) || n == 0)
        return fail(err, errlen, "manifest: needs \"vessel\" and \"machine\" with type, target and ncpus");
    if (strcmp(json_object_get_string(ve), VESSEL_VERSION))
        return fail(err, errlen, "written by vessel %.32s; this is vessel %s (state layouts differ between versions)",
                    json_object_get_string(ve), VESSEL_VERSION);
    s->vessel = json_object_get_string(ve);
    s->type = json_object_get_string(t);
    s->target = json_object_get_string(tg);
    s->ncpus = (unsigned)n;
    s->config = member(s->root, "config", json_type_object);
    if (!s->config)
        return fail(err, errlen, "manifest: no \"config\" object");
    return 0;
}

/* snap_parse on a state buffer (malloc'd) that the snap takes, freed with
 * it or on failure: snap_load_dir reads state.bin once, not twice. */
static int parse_taking(const char *manifest, size_t mlen, uint8_t *state, size_t slen, struct snap **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (mlen > SNAP_MAX_MANIFEST || slen > SNAP_MAX_STATE) {
        free(state);
        return fail(err, errlen, "manifest or state too large (%zu, %zu bytes)", mlen, slen);
    }
    struct snap *s = xzalloc(sizeof(*s));
    s->dir = xstrdup("");
    s->state = state;
    s->state_len = slen;
    uint64_t payload = 0;
    int r = parse_header(s, mlen, manifest, &payload, err, errlen);
    if (!r) {
        json_tokener *tok = json_tokener_new();
        s->root = json_tokener_parse_ex(tok, manifest, (int)mlen);
        enum json_tokener_error je = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!s->root || je != json_tokener_success || !json_object_is_type(s->root, json_type_object))
            r = fail(err, errlen, "manifest.json: not a JSON object (%s)", json_tokener_error_desc(je));
    }
    if (!r)
        r = parse_top(s, err, errlen);
    if (!r)
        r = parse_sections(s, payload, err, errlen);
    if (!r)
        r = parse_ram(s, err, errlen);
    if (!r)
        r = parse_devices(s, err, errlen);
    if (!r)
        r = parse_disks(s, err, errlen);
    if (r) {
        snap_free(s);
        return r;
    }
    *out = s;
    return 0;
}

int snap_parse(const char *manifest, size_t mlen, const uint8_t *state, size_t slen, struct snap **out,
               char *err, size_t errlen)
{
    *out = NULL;
    if (mlen > SNAP_MAX_MANIFEST || slen > SNAP_MAX_STATE)
        return fail(err, errlen, "manifest or state too large (%zu, %zu bytes)", mlen, slen);
    uint8_t *copy = xmalloc(slen ? slen : 1);
    if (slen)
        memcpy(copy, state, slen);
    return parse_taking(manifest, mlen, copy, slen, out, err, errlen);
}

int snap_load_dir(const char *dir, struct snap **out, char *err, size_t errlen)
{
    char path[4200], why[512];
    char *m = NULL, *st = NULL;
    size_t mlen = 0, slen = 0;
    *out = NULL;
    snprintf(path, sizeof(path), "%s/" SNAP_MANIFEST, dir);
    int r = read_file(path, &m, &mlen, SNAP_MAX_MANIFEST);
    if (r < 0) {
        snprintf(err, errlen, "snapshot %s: cannot read %s: %s", dir, SNAP_MANIFEST, strerror(-r));
        return r;
    }
    snprintf(path, sizeof(path), "%s/" SNAP_STATE, dir);
    r = read_file(path, &st, &slen, SNAP_MAX_STATE);
    if (r < 0) {
        snprintf(err, errlen, "snapshot %s: cannot read %s: %s", dir, SNAP_STATE, strerror(-r));
        free(m);
        return r;
    }
    r = parse_taking(m, mlen, (uint8_t *)st, slen, out, why, sizeof(why));
    free(m);
    if (r < 0) {
        snprintf(err, errlen, "snapshot %s: %s", dir, why);
        return r;
    }
    free((*out)->dir);
    (*out)->dir = xstrdup(dir);
    return 0;
}

void snap_free(struct snap *s)
{
    if (!s)
        return;
    json_object_put(s->root);
    free(s->dir);
    free(s->state);
    free(s->sec);
    free(s->dev);
    free(s->disk);
    free(s);
}

const char *snap_dir(const struct snap *s) { return s->dir; }

void snap_set_dir(struct snap *s, const char *dir)
{
    free(s->dir);
    s->dir = xstrdup(dir);
}
const char *snap_vessel_version(const struct snap *s) { return s->vessel; }
const char *snap_type(const struct snap *s) { return s->type; }
const char *snap_target(const struct snap *s) { return s->target; }
unsigned snap_ncpus(const struct snap *s) { return s->ncpus; }
unsigned snap_nsections(const struct snap *s) { return s->nsec; }
const char *snap_section_name(const struct snap *s, unsigned i) { return i < s->nsec ? s->sec[i].name : NULL; }
unsigned snap_nram(const struct snap *s) { return s->nram; }
const struct snap_ram *snap_ram(const struct snap *s, unsigned i) { return i < s->nram ? &s->ram[i] : NULL; }
unsigned snap_ndevs(const struct snap *s) { return s->ndev; }
const struct snap_dev *snap_dev(const struct snap *s, unsigned i) { return i < s->ndev ? &s->dev[i] : NULL; }
unsigned snap_ndisks(const struct snap *s) { return s->ndisk; }
const struct snap_disk *snap_disk(const struct snap *s, unsigned i) { return i < s->ndisk ? &s->disk[i] : NULL; }

const void *snap_section(const struct snap *s, const char *name, uint32_t *version, size_t *len)
{
    for (unsigned i = 0; i < s->nsec; i++)
        if (!strcmp(s->sec[i].name, name)) {
            if (version)
                *version = s->sec[i].version;
            if (len)
                *len = (size_t)s->sec[i].length;
            return s->state + SNAP_HEADER_SIZE + s->sec[i].offset;
        }
    return NULL;
}

const void *snap_section_exact(const struct snap *s, const char *name, uint32_t version, size_t size, char *err,
                               size_t errlen)
{
    uint32_t ver = 0;
    size_t len = 0;
    const void *p = snap_section(s, name, &ver, &len);
    if (!p)
        snprintf(err, errlen, "snapshot %s: no section %s", snap_dir(s), name);
    else if (ver != version || len != size)
        snprintf(err, errlen, "snapshot %s: section %s is version %u, %zu bytes; this vessel reads version %u, "
                 "%zu bytes", snap_dir(s), name, ver, len, version, size);
    return p && ver == version && len == size ? p : NULL;
}

const char *snap_config(const struct snap *s, const char *key)
{
    json_object *v = member(s->config, key, json_type_string);
    return v ? json_object_get_string(v) : NULL;
}

bool snap_config_u64(const struct snap *s, const char *key, uint64_t *val)
{
    return get_u64(s->config, key, INT64_MAX, val);
}

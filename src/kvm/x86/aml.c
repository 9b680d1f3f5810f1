/* kvm/x86 aml.c: a small AML writer (ACPI 6.5, chapter 20) for the DSDT
 * vessel builds at every boot: no iasl at build time. See aml.h. */
#include "kvm/x86/aml.h"

#include <errno.h>
#include <string.h>

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (a->err)
        return;
    if (a->len + n > a->cap) {
        a->err = -ENOSPC;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}
void aml_byte(struct aml *a, uint8_t b) { aml_bytes(a, &b, 1); }

/* One name segment: up to 4 characters, padded with '_'. */
void aml_seg(struct aml *a, const char *s, size_t n)
{
    char seg[4] = { '_', '_', '_', '_' };
    memcpy(seg, s, n > 4 ? 4 : n);
    aml_bytes(a, seg, 4);
}

/* NameString: "\\_SB.PWRB", "_HID", "COM1" (root prefix, dotted segments). */
void aml_name(struct aml *a, const char *path)
{
    if (*path == '\\') {
        aml_byte(a, '\\');
        path++;
    }
    unsigned nseg = 1;
    for (const char *p = path; *p; p++)
        nseg += *p == '.';
    if (nseg == 2)
        aml_byte(a, 0x2e);          /* DualNamePrefix */
    else if (nseg > 2) {
        aml_byte(a, 0x2f);          /* MultiNamePrefix */
        aml_byte(a, (uint8_t)nseg);
    }
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        aml_seg(a, path, n);
        path += n + (dot != NULL);
    }
}

void aml_int(struct aml *a, uint64_t v)
{
    uint8_t b[9];
    unsigned n;
    if (v == 0 || v == 1) {
        aml_byte(a, (uint8_t)v);    /* ZeroOp, OneOp */
        return;
    }
    if (v <= 0xff) { b[0] = 0x0a; n = 1; }
    else if (v <= 0xffff) { b[0] = 0x0b; n = 2; }
    else if (v <= 0xffffffffu) { b[0] = 0x0c; n = 4; }
    else { b[0] = 0x0e; n = 8; }
    for (unsigned i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, n + 1);
}

void aml_string(struct aml *a, const char *s)
{
    aml_byte(a, 0x0d);
    aml_bytes(a, s, strlen(s) + 1);
}

/* EISAID("PNP0501"): three letters, four hex digits, as a DWord whose bytes
 * are the compressed id in big-endian order. */
void aml_eisaid(struct aml *a, const char *id)
{
    uint32_t v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
                 (uint32_t)(id[2] - 0x40) << 16;
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        v |= (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10) << (4 * (6 - i));
    }
    uint8_t b[5] = { 0x0c, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    aml_bytes(a, b, 5);
}

/* Open a package: its opcode (1 or 2 bytes) now, its PkgLength at aml_end. */
void aml_begin(struct aml *a, const uint8_t *op, size_t oplen)
{
    aml_bytes(a, op, oplen);
    if (a->depth >= AML_DEPTH) {
        a->err = -E2BIG;
        return;
    }
    a->open[a->depth++] = a->len;
}

/* PkgLength of a body of `body` bytes (the count includes its own bytes). */
static size_t pkglen_encode(size_t body, uint8_t out[4])
{
    size_t n = body + 1 < 0x40 ? 1 : body + 2 < 0x1000 ? 2 : body + 3 < 0x100000 ? 3 : 4;
    size_t total = body + n;
    if (n == 1) {
        out[0] = (uint8_t)total;
        return 1;
    }
    out[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
    return n;
}

void aml_end(struct aml *a)
{
    if (a->err)
        return;
    if (!a->depth) {
        a->err = -EINVAL;
        return;
    }
    size_t at = a->open[--a->depth];
    uint8_t pl[4];
    size_t n = pkglen_encode(a->len - at, pl);
    if (a->len + n > a->cap) {
        a->err = -ENOSPC;
        return;
    }
    memmove(a->buf + at + n, a->buf + at, a->len - at);
    memcpy(a->buf + at, pl, n);
    a->len += n;
}

const uint8_t OP_SCOPE[] = { 0x10 }, OP_DEVICE[] = { 0x5b, 0x82 }, OP_METHOD[] = { 0x14 },
              OP_IF[] = { 0xa0 }, OP_ELSE[] = { 0xa1 }, OP_WHILE[] = { 0xa2 }, OP_BUFFER[] = { 0x11 },
              OP_PACKAGE[] = { 0x12 }, OP_FIELD[] = { 0x5b, 0x81 };

void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
    aml_byte(a, 0x08);              /* NameOp */
    aml_name(a, name);
    aml_int(a, v);
}
void aml_name_string(struct aml *a, const char *name, const char *s)
{
    aml_byte(a, 0x08);
    aml_name(a, name);
    aml_string(a, s);
}

/* Name(_CRS, ResourceTemplate() { res }) */
void aml_crs(struct aml *a, const uint8_t *res, size_t len)
{
    aml_byte(a, 0x08);
    aml_name(a, "_CRS");
    aml_begin(a, OP_BUFFER, 1);
    aml_int(a, len + 2);
    aml_bytes(a, res, len);
    aml_byte(a, 0x79);              /* EndTag, checksum 0 */
    aml_byte(a, 0x00);
    aml_end(a);
}

/* Memory32Fixed(ReadWrite, base, len) + Interrupt(ResourceConsumer, Level,
 * ActiveHigh, Exclusive) { irq } */
size_t res_mem_irq(uint8_t *r, uint32_t base, uint32_t len, uint32_t irq)
{
    uint8_t m[] = { 0x86, 9, 0, 1, (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)(base >> 16),
                    (uint8_t)(base >> 24), (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 24),
                    0x89, 6, 0, 0x01, 1, (uint8_t)irq, (uint8_t)(irq >> 8), (uint8_t)(irq >> 16),
                    (uint8_t)(irq >> 24) };
    memcpy(r, m, sizeof(m));
    return sizeof(m);
}

/* Device(name) { _HID EISAID(hid); _UID uid } opened (close with aml_end). */
void aml_device_eisa(struct aml *a, const char *name, const char *hid, unsigned uid)
{
    aml_begin(a, OP_DEVICE, 2);
    aml_name(a, name);
    aml_byte(a, 0x08);
    aml_name(a, "_HID");
    aml_eisaid(a, hid);
    aml_name_int(a, "_UID", uid);
}

void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
    aml_begin(a, OP_METHOD, 1);
    aml_name(a, name);
    aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
}

void aml_opregion(struct aml *a, const char *name, uint64_t base, uint64_t len)
{
    aml_bytes(a, (const uint8_t[]){ 0x5b, 0x80 }, 2);
    aml_name(a, name);
    aml_byte(a, 0x00);              /* SystemMemory */
    aml_int(a, base);
    aml_int(a, len);
}

void aml_mutex(struct aml *a, const char *name)
{
    aml_bytes(a, (const uint8_t[]){ 0x5b, 0x01 }, 2);
    aml_name(a, name);
    aml_byte(a, 0);                 /* SyncLevel 0 */
}

void aml_acquire(struct aml *a, const char *name)
{
    aml_bytes(a, (const uint8_t[]){ 0x5b, 0x23 }, 2);
    aml_name(a, name);
    aml_bytes(a, (const uint8_t[]){ 0xff, 0xff }, 2);  /* wait forever */
}

void aml_release(struct aml *a, const char *name)
{
    aml_bytes(a, (const uint8_t[]){ 0x5b, 0x27 }, 2);
    aml_name(a, name);
}

/* The snapshot format (machine/snapshot.h): a round trip through the
 * writer and the parser; every truncation and every single-bit flip of
 * state.bin, and every bit flip of the manifest, refused; another format
 * version, another vessel version, bad names, overlapping or missing
 * sections refused with a line naming them; disk identity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "config.h"
#include "machine/snapshot.h"

struct blob {
    char *man;
    uint8_t *st;
    size_t mlen, slen;
};

static void build(struct blob *b, const char *extra_section)
{
    struct snap_writer *w = snap_writer_new("riscv64-virt", "riscv64", 2);
    uint8_t a[40], c[7];
    for (unsigned i = 0; i < sizeof(a); i++)
        a[i] = (uint8_t)(i * 7);
    memset(c, 0x5a, sizeof(c));
    snap_add_section(w, "riscv.board", 1, a, sizeof(a));
    snap_add_section(w, "dev/serial0", 3, c, sizeof(c));
    snap_add_section(w, "empty", 1, NULL, 0);
    if (extra_section)
        snap_add_section(w, extra_section, 1, c, 1);
    snap_add_config_u64(w, "ram_size", 256ULL << 20);
    snap_add_config(w, "kernel", "/boot/Image");
    snap_add_device(w, "serial0", "uart8250", "dev/serial0", NULL);
    snap_add_device(w, "plic", "riscv.sifive.plic", NULL, NULL);
    snap_add_device(w, "vda", "virtio-mmio", NULL, "disk:/srv/d.img,id=vda");
    struct snap_ram r = { .gpa = 0x80000000ULL, .size = 256ULL << 20, .file = "ram-0.bin", .crc32 = 0xdeadbeef };
    snap_add_ram(w, &r);
    struct snap_disk d = { .id = "vda", .path = "/srv/d.img", .size = 1 << 20, .mtime_ns = 1234567890123456789LL,
                           .sample_crc32 = 42, .saved = "disk-vda.img" };
    snap_add_disk(w, &d);
    snap_writer_finish(w, &b->man, &b->mlen, &b->st, &b->slen);
    snap_writer_free(w);
}

static void blob_free(struct blob *b)
{
    free(b->man);
    free(b->st);
}

static int parse(const struct blob *b, char *err)
{
    struct snap *s;
    int r = snap_parse(b->man, b->mlen, b->st, b->slen, &s, err, 300);
    snap_free(s);
    return r;
}

static void test_round_trip(void **state)
{
    struct blob b;
    build(&b, NULL);
    struct snap *s;
    char err[300] = "";
    assert_int_equal(snap_parse(b.man, b.mlen, b.st, b.slen, &s, err, sizeof(err)), 0);
    assert_string_equal(snap_type(s), "riscv64-virt");
    assert_string_equal(snap_target(s), "riscv64");
    assert_int_equal(snap_ncpus(s), 2);
    uint32_t ver;
    size_t len;
    const uint8_t *p = snap_section(s, "riscv.board", &ver, &len);
    assert_non_null(p);
    assert_int_equal(ver, 1);
    assert_int_equal(len, 40);
    assert_int_equal(p[39], (uint8_t)(39 * 7));
    p = snap_section(s, "dev/serial0", &ver, &len);
    assert_int_equal(ver, 3);
    assert_int_equal(len, 7);
    assert_int_equal(p[6], 0x5a);
    const uint8_t *e = snap_section(s, "empty", NULL, &len);
    assert_non_null(e);
    assert_int_equal(len, 0);
    /* sections start 8-byte aligned: after 40 + 7 bytes comes 48 */
    assert_int_equal(e - (const uint8_t *)snap_section(s, "riscv.board", NULL, NULL), 48);
    assert_int_equal((uintptr_t)e % 8, 0);
    assert_null(snap_section(s, "nope", NULL, NULL));
    assert_int_equal(snap_nsections(s), 3);
    uint64_t v;
    assert_true(snap_config_u64(s, "ram_size", &v));
    assert_int_equal(v, 256ULL << 20);
    assert_string_equal(snap_config(s, "kernel"), "/boot/Image");
    assert_null(snap_config(s, "ram_size"));          /* a number, not a string */
    assert_int_equal(snap_ndevs(s), 3);
    assert_string_equal(snap_dev(s, 0)->section, "dev/serial0");
    assert_string_equal(snap_dev(s, 1)->section, "");
    assert_string_equal(snap_dev(s, 2)->config, "disk:/srv/d.img,id=vda");
    assert_int_equal(snap_nram(s), 1);
    assert_int_equal(snap_ram(s, 0)->gpa, 0x80000000ULL);
    assert_int_equal(snap_ram(s, 0)->crc32, 0xdeadbeef);
    assert_int_equal(snap_ndisks(s), 1);
    assert_int_equal(snap_disk(s, 0)->mtime_ns, 1234567890123456789LL);
    assert_string_equal(snap_disk(s, 0)->saved, "disk-vda.img");
    snap_free(s);
    blob_free(&b);
}

static void test_truncated_state(void **state)
{
    struct blob b;
    char err[300];
    build(&b, NULL);
    size_t full = b.slen;
    for (size_t n = 0; n < full; n++) {
        b.slen = n;
        err[0] = 0;
        assert_int_equal(parse(&b, err), -EINVAL);
        assert_true(strlen(err) > 10);
    }
    b.slen = full;
    assert_int_equal(parse(&b, err), 0);
    blob_free(&b);
}

static void test_bit_flips(void **state)
{
    struct blob b;
    char err[300];
    build(&b, NULL);
    for (size_t i = 0; i < b.slen * 8; i++) {
        b.st[i / 8] ^= (uint8_t)(1u << (i % 8));
        err[0] = 0;
        if (parse(&b, err) != -EINVAL || !err[0])
            fail_msg("a flip of bit %zu of state.bin went unnoticed", i);
        b.st[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t i = 0; i < b.mlen * 8; i += 3) {
        b.man[i / 8] ^= (char)(1u << (i % 8));
        if (parse(&b, err) != -EINVAL)
            fail_msg("a flip of bit %zu of the manifest went unnoticed", i);
        b.man[i / 8] ^= (char)(1u << (i % 8));
    }
    assert_int_equal(parse(&b, err), 0);
    /* a flipped payload byte is named by its section */
    b.st[SNAP_HEADER_SIZE + 41] ^= 1;
    parse(&b, err);
    assert_non_null(strstr(err, "section dev/serial0"));
    blob_free(&b);
}

/* Rewrite the header's manifest CRC after editing the manifest. */
static void reseal(struct blob *b)
{
    uint32_t c = snap_crc32(0, b->man, b->mlen);
    memcpy(b->st + 12, &c, 4);
    uint32_t h = snap_crc32(0, b->st, 28);
    memcpy(b->st + 28, &h, 4);
}

static void replace(struct blob *b, const char *from, const char *to)
{
    char *p = strstr(b->man, from);
    assert_non_null(p);
    size_t fl = strlen(from), tl = strlen(to);
    char *n = xmalloc(b->mlen - fl + tl + 1);
    memcpy(n, b->man, (size_t)(p - b->man));
    memcpy(n + (p - b->man), to, tl);
    memcpy(n + (p - b->man) + tl, p + fl, b->mlen - (size_t)(p - b->man) - fl + 1);
    b->mlen = b->mlen - fl + tl;
    free(b->man);
    b->man = n;
    reseal(b);
}

static void expect(const char *from, const char *to, const char *msg)
{
    struct blob b;
    char err[300] = "";
    build(&b, NULL);
    replace(&b, from, to);
    assert_int_equal(parse(&b, err), -EINVAL);
    if (!strstr(err, msg))
        fail_msg("'%s' -> '%s': got \"%s\", wanted \"%s\"", from, to, err, msg);
    blob_free(&b);
}

static void test_refusals(void **state)
{
    expect("\"version\":1,\n  \"vessel\"", "\"version\":2,\n  \"vessel\"", "format version 2");
    expect("\"vessel\":\"" VESSEL_VERSION "\"", "\"vessel\":\"9.9.9\"", "written by vessel 9.9.9");
    expect("\"format\":\"vessel-snapshot\"", "\"format\":\"qemu\"", "\"format\"");
    expect("\"name\":\"dev/serial0\"", "\"name\":\"../serial0\"", "section 1");
    expect("\"name\":\"dev/serial0\"", "\"name\":\"riscv.board\"", "appears twice");
    expect("\"file\":\"ram-0.bin\"", "\"file\":\"/etc/passwd\"", "ram region 0");
    expect("\"saved\":\"disk-vda.img\"", "\"saved\":\"../disk-vda.img\"", "disk vda");
    expect("\"offset\":40", "\"offset\":39", "do not follow");
    expect("\"section\":\"dev/serial0\"", "\"section\":\"dev/uart\"", "no section dev/uart");
    expect("\"ncpus\":2", "\"ncpus\":0", "ncpus");
    expect("\"size\":268435456", "\"size\":268435457", "page multiples");
    /* the header's own version */
    struct blob b;
    char err[300];
    build(&b, NULL);
    b.st[8] = 2;
    uint32_t h = snap_crc32(0, b.st, 28);
    memcpy(b.st + 28, &h, 4);
    assert_int_equal(parse(&b, err), -EINVAL);
    assert_non_null(strstr(err, "format version 2"));
    blob_free(&b);
}

static void test_names(void **state)
{
    assert_true(snap_name_ok("dev/serial0"));
    assert_true(snap_name_ok("ram-0.bin"));
    assert_false(snap_name_ok(""));
    assert_false(snap_name_ok("/abs"));
    assert_false(snap_name_ok("a/../b"));
    assert_false(snap_name_ok("sp ace"));
    char longname[SNAP_NAME_MAX + 1];
    memset(longname, 'a', SNAP_NAME_MAX);
    longname[SNAP_NAME_MAX] = 0;
    assert_false(snap_name_ok(longname));
}

static void test_disk_identity(void **state)
{
    char path[] = "/tmp/vessel-snapdisk.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *buf = xzalloc(1 << 20);
    assert_int_equal(write(fd, buf, 1 << 20), 1 << 20);
    struct snap_disk a = { 0 }, b = { 0 };
    assert_int_equal(snap_disk_identity(path, &a), 0);
    assert_int_equal(a.size, 1 << 20);
    /* the same content with the same mtime: the same identity */
    assert_int_equal(snap_disk_identity(path, &b), 0);
    assert_int_equal(a.sample_crc32, b.sample_crc32);
    assert_int_equal(a.mtime_ns, b.mtime_ns);
    /* a changed first block, the mtime put back: the samples differ */
    struct timespec ts[2] = { { 0, UTIME_OMIT }, { a.mtime_ns / 1000000000LL, a.mtime_ns % 1000000000LL } };
    assert_int_equal(pwrite(fd, "x", 1, 100), 1);
    assert_int_equal(futimens(fd, ts), 0);
    assert_int_equal(snap_disk_identity(path, &b), 0);
    assert_int_equal(a.mtime_ns, b.mtime_ns);
    assert_int_not_equal(a.sample_crc32, b.sample_crc32);
    close(fd);
    unlink(path);
    assert_int_equal(snap_disk_identity(path, &b), -ENOENT);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_state),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_disk_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

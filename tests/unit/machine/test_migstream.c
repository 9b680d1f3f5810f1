/* The live-migration stream (machine/migstream.h): a stream written with
 * the writers is read back whole (RAM, zero pages, state, running flag);
 * every truncation and every single-bit flip of it is refused with no
 * state given; a HELLO of another machine, pages and zero runs outside
 * RAM, records out of order and a CANCEL are refused with their line;
 * migration URIs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/migstream.h"
#include "machine/snapshot.h"

#define RAM_BASE 0x80000000ULL
#define RAM_PAGES 64

struct membuf {
    const uint8_t *p;
    size_t len, off;
};

static ssize_t mem_rd(void *opaque, void *buf, size_t len)
{
    struct membuf *b = opaque;
    size_t n = len < b->len - b->off ? len : b->len - b->off;
    memcpy(buf, b->p + b->off, n);
    b->off += n;
    return (ssize_t)n;
}

static const struct mig_shape shape = { "riscv64-virt", "riscv64", 1, 1, { RAM_BASE }, { RAM_PAGES * 4096 } };

/* The stream of a source with pages 3 and 7 holding data, 10..19 zero. */
static uint8_t *make_stream(size_t *len, uint32_t extra_type)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    int fd = fileno(f);
    uint8_t pages[2 * 4096];
    memset(pages, 0xa5, 4096);
    memset(pages + 4096, 0x5a, 4096);
    uint64_t idx[2] = { 3, 7 };
    assert_true(mig_write_header(fd) > 0);
    assert_true(mig_write_hello(fd, &shape) > 0);
    assert_true(mig_write_pages(fd, 0, idx, 2, pages) > 0);
    assert_true(mig_write_zero(fd, 0, 10, 10) > 0);
    assert_true(mig_write_record(fd, MIG_REC_PASS, 1, NULL, 0) > 0);
    if (extra_type)
        assert_true(mig_write_record(fd, extra_type, 0, extra_type == MIG_REC_CANCEL ? "why" : NULL,
                                     extra_type == MIG_REC_CANCEL ? 3 : 0) > 0);
    const char man[] = "{\"manifest\":1}";
    const uint8_t st[5] = { 1, 2, 3, 4, 5 };
    assert_true(mig_write_state(fd, true, man, sizeof(man) - 1, st, sizeof(st)) > 0);
    assert_true(mig_write_record(fd, MIG_REC_END, 0, NULL, 0) > 0);
    *len = (size_t)lseek(fd, 0, SEEK_END);
    uint8_t *buf = malloc(*len);
    assert_int_equal(pread(fd, buf, *len, 0), (ssize_t)*len);
    fclose(f);
    return buf;
}

static int receive(const uint8_t *s, size_t len, struct guest_mem *mem, char **man, uint8_t **st, char *err)
{
    struct membuf b = { s, len, 0 };
    struct mig_reader rd;
    size_t mlen, slen;
    bool running = false;
    struct mig_incoming_stats stats = { 0 };
    mig_reader_init(&rd, mem_rd, &b);
    int r = mig_receive(&rd, -1, mem, &shape, man, &mlen, st, &slen, &running, &stats, err, 300);
    mig_reader_free(&rd);
    if (!r) {
        assert_true(running);
        assert_int_equal(mlen, 14);
        assert_int_equal(slen, 5);
        assert_int_equal(stats.pages, 2);
        assert_int_equal(stats.zero_pages, 10);
        assert_int_equal(stats.passes, 1);
    }
    return r;
}

static void new_mem(struct guest_mem *m)
{
    mem_init(m);
    assert_int_equal(mem_add_ram(m, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    memset(m->r[0].host + 12 * 4096, 0xff, 4096);       /* a zero page must be cleared */
}

static void test_round_trip(void **state)
{
    size_t len;
    uint8_t *s = make_stream(&len, 0);
    struct guest_mem m;
    new_mem(&m);
    char *man, err[300];
    uint8_t *st;
    assert_int_equal(receive(s, len, &m, &man, &st, err), 0);
    assert_string_equal(man, "{\"manifest\":1}");
    assert_int_equal(st[4], 5);
    assert_int_equal(m.r[0].host[3 * 4096 + 100], 0xa5);
    assert_int_equal(m.r[0].host[7 * 4096 + 4095], 0x5a);
    assert_int_equal(m.r[0].host[12 * 4096 + 7], 0);
    assert_int_equal(m.r[0].host[4 * 4096], 0);
    free(man);
    free(st);
    mem_destroy(&m);
    free(s);
}

static void test_truncated_and_flipped(void **state)
{
    size_t len;
    uint8_t *s = make_stream(&len, 0);
    struct guest_mem m;
    new_mem(&m);
    char *man = NULL, err[300];
    uint8_t *st = NULL;
    for (size_t l = 0; l < len; l++) {
        err[0] = 0;
        assert_int_not_equal(receive(s, l, &m, &man, &st, err), 0);
        assert_null(man);
        assert_null(st);
        assert_true(err[0] != 0);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        s[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        err[0] = 0;
        int r = receive(s, len, &m, &man, &st, err);
        s[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (r == 0)
            fail_msg("a flip of bit %zu was accepted", bit);
        assert_null(man);
        assert_true(err[0] != 0);
    }
    mem_destroy(&m);
    free(s);
}

static void test_cancel_and_order(void **state)
{
    size_t len;
    uint8_t *s = make_stream(&len, MIG_REC_CANCEL);
    struct guest_mem m;
    new_mem(&m);
    char *man = NULL, err[300];
    uint8_t *st = NULL;
    assert_int_equal(receive(s, len, &m, &man, &st, err), -ECANCELED);
    assert_non_null(strstr(err, "cancelled by the source: why"));
    free(s);
    s = make_stream(&len, MIG_REC_END);    /* END before the state */
    assert_int_equal(receive(s, len, &m, &man, &st, err), -EINVAL);
    assert_non_null(strstr(err, "out of order"));
    free(s);
    mem_destroy(&m);
}

static void test_bad_records(void **state)
{
    struct guest_mem m;
    new_mem(&m);
    char err[300];
    uint8_t buf[8 + 4096] = { 0 };
    struct mig_record rec = { MIG_REC_PAGES, 0, buf, sizeof(buf) };
    buf[0] = RAM_PAGES;                     /* page 64 of 64 */
    assert_int_equal(mig_apply_pages(&m, &rec, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "page 64 is outside RAM region 0"));
    buf[0] = RAM_PAGES - 1;
    assert_int_equal(mig_apply_pages(&m, &rec, err, sizeof(err)), 1);
    rec.arg = 1;
    assert_int_equal(mig_apply_pages(&m, &rec, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "RAM region 1 does not exist"));
    rec.arg = 0;
    rec.len = 100;
    assert_int_equal(mig_apply_pages(&m, &rec, err, sizeof(err)), -EINVAL);
    uint8_t z[16] = { 60, 0, 0, 0, 0, 0, 0, 0, 5 };
    struct mig_record zr = { MIG_REC_ZERO, 0, z, 16 };
    assert_int_equal(mig_apply_zero(&m, &zr, err, sizeof(err)), -EINVAL);
    z[8] = 4;
    assert_int_equal(mig_apply_zero(&m, &zr, err, sizeof(err)), 4);
    z[8] = 0xff; z[15] = 0xff;              /* a count that wraps */
    assert_int_equal(mig_apply_zero(&m, &zr, err, sizeof(err)), -EINVAL);
    mem_destroy(&m);

    /* HELLO of another machine */
    struct mig_shape other = shape;
    other.ncpus = 2;
    FILE *f = tmpfile();
    assert_true(mig_write_hello(fileno(f), &other) > 0);
    size_t len = (size_t)lseek(fileno(f), 0, SEEK_END);
    uint8_t *h = malloc(len);
    assert_int_equal(pread(fileno(f), h, len, 0), (ssize_t)len);
    fclose(f);
    struct membuf b = { h, len, 0 };
    struct mig_reader rd;
    struct mig_record hr;
    mig_reader_init(&rd, mem_rd, &b);
    assert_int_equal(mig_read_record(&rd, &hr, err, sizeof(err)), 0);
    assert_int_equal(mig_check_hello(&hr, &shape, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "the source has 2 vCPUs, this machine 1"));
    mig_reader_free(&rd);
    free(h);
}

static void test_uri(void **state)
{
    struct mig_uri u;
    char err[300];
    assert_int_equal(mig_uri_parse("unix:/tmp/x.sock", &u, err, sizeof(err)), 0);
    assert_false(u.tcp);
    assert_string_equal(u.path, "/tmp/x.sock");
    assert_int_equal(mig_uri_parse("tcp:127.0.0.1:4444", &u, err, sizeof(err)), 0);
    assert_true(u.tcp);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "4444");
    assert_int_equal(mig_uri_parse("tcp:[::1]:5", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(mig_uri_parse("tcp::4444", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "");
    assert_int_equal(mig_uri_parse("tcp:h:70000", &u, err, sizeof(err)), -EINVAL);
    assert_int_equal(mig_uri_parse("tcp:h", &u, err, sizeof(err)), -EINVAL);
    assert_int_equal(mig_uri_parse("unix:", &u, err, sizeof(err)), -EINVAL);
    assert_int_equal(mig_uri_parse("exec:cat", &u, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "expected unix:PATH or tcp:HOST:PORT"));
    /* file: is live migration's only (replication needs a way back) */
    assert_int_equal(mig_uri_parse("file:/tmp/m.mig", &u, err, sizeof(err)), -EINVAL);
    assert_int_equal(mig_uri_parse_migrate("file:/tmp/m.mig", &u, err, sizeof(err)), 0);
    assert_true(u.file);
    assert_false(u.tcp);
    assert_string_equal(u.path, "/tmp/m.mig");
    assert_int_equal(mig_uri_parse_migrate("file:", &u, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a file path of 1 to"));
    assert_int_equal(mig_uri_parse_migrate("tcp:h:1", &u, err, sizeof(err)), 0);
    assert_true(u.tcp);
    assert_false(u.file);
    assert_int_equal(mig_uri_parse_migrate("unix:/tmp/x.sock", &u, err, sizeof(err)), 0);
    assert_false(u.file);
    assert_int_equal(mig_uri_parse_migrate("exec:cat > /tmp/f", &u, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "expected unix:PATH, tcp:HOST:PORT or file:PATH"));
    /* a unix socket path still fits sun_path */
    char longp[200] = "unix:";
    memset(longp + 5, 'a', 150);
    assert_int_equal(mig_uri_parse(longp, &u, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_cancel_and_order),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The hot-spare replication epochs (machine/replstream.h): a stream with
 * the first copy and two epochs written with the writers is read back
 * (RAM, disk writes, state, counts); an epoch cut anywhere before its
 * EPOCH record, or with any single bit flipped, is refused whole with
 * nothing staged to apply; an epoch whose number is a repeat or skips one,
 * whose record count differs, which lacks STATE, or whose pages or disk
 * writes fall outside the machine, is refused with its line; CANCEL and
 * the standby's answers (ack, FAILED, TAKEOVER). Console output commit:
 * an epoch's CONSOLE bytes and the RELEASED between epochs read back,
 * misplaced ones refused, and the standby's decision at a takeover (the
 * last applied epoch's bytes are written unless RELEASED came for it). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/replstream.h"
#include "machine/replverify.h"
#include "machine/snapshot.h"

#define RAM_BASE 0x80000000ULL
#define RAM_PAGES 64
#define DISK_SIZE (64 * 1024)

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

static const struct repl_geom geom = { 1, { RAM_PAGES * 4096 }, 1, { DISK_SIZE } };

static uint8_t disk[DISK_SIZE];

static int disk_cb(void *opaque, unsigned d, uint64_t off, const uint8_t *data, uint64_t len)
{
    (void)opaque;
    assert_int_equal(d, 0);
    assert_true(off + len <= DISK_SIZE);
    if (data)
        memcpy(disk + off, data, len);
    else
        memset(disk + off, 0, len);
    return 0;
}

static uint8_t *slurp(FILE *f, size_t *len)
{
    fflush(f);
    long n = ftell(f);
    uint8_t *b = malloc((size_t)n);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* One epoch: page `page` filled with `fill`, 4 KiB of disk at `doff`,
 * the console bytes `con` (if any) at console offset con_off, a state,
 * EPOCH `num`; nrec_delta spoils its count. */
static void write_epoch_con(int fd, uint64_t num, uint64_t page, uint8_t fill, uint64_t doff, int nrec_delta,
                            bool state, const char *con, uint64_t con_off)
{
    uint8_t pg[4096], blk[4096];
    memset(pg, fill, sizeof(pg));
    memset(blk, fill ^ 0xff, sizeof(blk));
    uint64_t nrec = 0, bytes = 0;
    assert_true(mig_write_pages(fd, 0, &page, 1, pg) > 0);
    nrec++, bytes += 8 + 4096;
    assert_true(repl_write_disk(fd, 0, doff, blk, sizeof(blk)) > 0);
    nrec++, bytes += 8 + 4096;
    assert_true(repl_write_disk_zero(fd, 0, doff + 4096, 512) > 0);
    nrec++, bytes += 16;
    if (con) {
        assert_true(repl_write_console(fd, con_off, (const uint8_t *)con, strlen(con)) > 0);
        nrec++, bytes += 8 + strlen(con);
    }
    if (state) {
        const char man[] = "{\"m\":1}";
        const uint8_t st[3] = { 7, 8, (uint8_t)num };
        assert_true(mig_write_state(fd, true, man, sizeof(man) - 1, st, sizeof(st)) > 0);
        nrec++, bytes += 16 + sizeof(man) - 1 + sizeof(st);
    }
    assert_true(repl_write_epoch(fd, num, (uint64_t)((int64_t)nrec + nrec_delta), bytes) > 0);
}

static void write_epoch(int fd, uint64_t num, uint64_t page, uint8_t fill, uint64_t doff, int nrec_delta, bool state)
{
    write_epoch_con(fd, num, page, fill, doff, nrec_delta, state, NULL, 0);
}

/* The copy (pages 0..3 of 0x11, all of the disk 0x22), then epoch 0
 * (console "hello "), RELEASED 0, epoch 1 (console "world"); *rel1_at:
 * where RELEASED 0 starts. */
static uint8_t *make_stream_at(size_t *len, size_t *copy_end, size_t *rel_at)
{
    FILE *f = tmpfile();
    int fd = fileno(f);
    uint8_t pg[4 * 4096], blk[DISK_SIZE];
    memset(pg, 0x11, sizeof(pg));
    memset(blk, 0x22, sizeof(blk));
    uint64_t idx[4] = { 0, 1, 2, 3 };
    assert_true(mig_write_pages(fd, 0, idx, 4, pg) > 0);
    assert_true(mig_write_zero(fd, 0, 4, 60) > 0);
    assert_true(repl_write_disk(fd, 0, 0, blk, sizeof(blk)) > 0);
    assert_true(mig_write_record(fd, MIG_REC_PASS, 1, NULL, 0) > 0);
    *copy_end = (size_t)lseek(fd, 0, SEEK_CUR);
    write_epoch_con(fd, 0, 5, 0x33, 8192, 0, true, "hello ", 0);
    *rel_at = (size_t)lseek(fd, 0, SEEK_CUR);
    assert_true(repl_write_released(fd, 0) > 0);
    write_epoch_con(fd, 1, 6, 0x44, 16384, 0, true, "world", 6);
    return slurp(f, len);
}

static uint8_t *make_stream(size_t *len, size_t *copy_end)
{
    size_t rel;
    return make_stream_at(len, copy_end, &rel);
}

struct conbuf {
    char b[64];
    size_t len;
};

static void con_cb(void *opaque, const uint8_t *p, size_t len)
{
    struct conbuf *c = opaque;
    assert_true(c->len + len < sizeof(c->b));
    memcpy(c->b + c->len, p, len);
    c->len += len;
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t len, ce;
    uint8_t *s = make_stream(&len, &ce);
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    struct membuf b = { s, len, 0 };
    struct mig_reader rd;
    struct repl_stage st;
    char err[300];
    mig_reader_init(&rd, mem_rd, &b);
    repl_stage_init(&st);
    assert_int_equal(repl_read_copy(&rd, &geom, &mem, disk_cb, NULL, &st, err, sizeof(err)), 0);
    assert_int_equal(st.pages, 4);
    assert_int_equal(st.zero_pages, 60);
    assert_int_equal(mem.r[0].host[3 * 4096], 0x11);
    assert_int_equal(disk[DISK_SIZE - 1], 0x22);
    for (uint64_t e = 0; e < 2; e++) {
        assert_int_equal(repl_read_epoch(&rd, &geom, e, &st, err, sizeof(err)), 0);
        assert_int_equal(st.epoch, e);
        assert_int_equal(st.pages, 1);
        assert_int_equal(st.disk_bytes, 4096 + 512);
        /* nothing is applied by reading */
        assert_int_equal(mem.r[0].host[(5 + e) * 4096], 0);
        repl_stage_apply_ram(&st, &mem);
        assert_int_equal(mem.r[0].host[(5 + e) * 4096], e ? 0x44 : 0x33);
        assert_int_equal(repl_stage_each_disk(&st, disk_cb, NULL), 0);
        assert_int_equal(disk[8192 + 8192 * e], (e ? 0x44 : 0x33) ^ 0xff);
        assert_int_equal(disk[8192 + 8192 * e + 4096], 0);
        const char *man;
        const uint8_t *sta;
        size_t ml, sl;
        bool running;
        repl_stage_state(&st, &man, &ml, &sta, &sl, &running);
        assert_int_equal(ml, 7);
        assert_int_equal(sl, 3);
        assert_int_equal(sta[2], e);
        assert_true(running);
        struct conbuf cb = { .len = 0 };
        repl_stage_each_console(&st, con_cb, &cb);
        assert_int_equal(st.con_off, e ? 6 : 0);
        assert_int_equal(st.con_bytes, e ? 5 : 6);
        assert_int_equal(cb.len, st.con_bytes);
        assert_memory_equal(cb.b, e ? "world" : "hello ", cb.len);
        assert_int_equal(st.released, e == 1);      /* RELEASED 0 came before epoch 1 */
    }
    /* the end of the stream: the next epoch is not there */
    assert_int_equal(repl_read_epoch(&rd, &geom, 2, &st, err, sizeof(err)), -EPIPE);
    repl_stage_free(&st);
    mig_reader_free(&rd);
    mem_destroy(&mem);
    free(s);
}

/* Epoch 1 cut at every byte, or with any one bit flipped: never accepted. */
static void test_cut_and_flip(void **state)
{
    (void)state;
    size_t len, ce;
    uint8_t *s = make_stream(&len, &ce);
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    /* where epoch 1 starts: read the copy and epoch 0 once */
    struct membuf b = { s, len, 0 };
    struct mig_reader rd;
    struct repl_stage st;
    char err[300];
    mig_reader_init(&rd, mem_rd, &b);
    repl_stage_init(&st);
    assert_int_equal(repl_read_copy(&rd, &geom, &mem, disk_cb, NULL, &st, err, sizeof(err)), 0);
    assert_int_equal(repl_read_epoch(&rd, &geom, 0, &st, err, sizeof(err)), 0);
    size_t e1 = b.off;
    mig_reader_free(&rd);
    for (size_t cut = e1; cut < len; cut++) {
        struct membuf c = { s + e1, cut - e1, 0 };
        mig_reader_init(&rd, mem_rd, &c);
        assert_true(repl_read_epoch(&rd, &geom, 1, &st, err, sizeof(err)) < 0);
        mig_reader_free(&rd);
    }
    for (size_t bit = 0; bit < (len - e1) * 8; bit += 7) {
        s[e1 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct membuf c = { s + e1, len - e1, 0 };
        mig_reader_init(&rd, mem_rd, &c);
        assert_true(repl_read_epoch(&rd, &geom, 1, &st, err, sizeof(err)) < 0);
        mig_reader_free(&rd);
        s[e1 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    repl_stage_free(&st);
    mem_destroy(&mem);
    free(s);
}

static int read_one(void (*make)(int fd), uint64_t want, char *err, size_t errlen)
{
    FILE *f = tmpfile();
    make(fileno(f));
    size_t len;
    uint8_t *s = slurp(f, &len);
    struct membuf b = { s, len, 0 };
    struct mig_reader rd;
    struct repl_stage st;
    mig_reader_init(&rd, mem_rd, &b);
    repl_stage_init(&st);
    int r = repl_read_epoch(&rd, &geom, want, &st, err, errlen);
    repl_stage_free(&st);
    mig_reader_free(&rd);
    free(s);
    return r;
}

static void mk_ok(int fd) { write_epoch(fd, 3, 1, 1, 0, 0, true); }
static void mk_count(int fd) { write_epoch(fd, 3, 1, 1, 0, -1, true); }
static void mk_nostate(int fd) { write_epoch(fd, 3, 1, 1, 0, 0, false); }
static void mk_page_out(int fd) { write_epoch(fd, 3, RAM_PAGES, 1, 0, 0, true); }
static void mk_disk_out(int fd) { write_epoch(fd, 3, 1, 1, DISK_SIZE - 4096, 0, true); }
static void mk_cancel(int fd) { mig_write_record(fd, MIG_REC_CANCEL, 0, "bye", 3); }

static void test_refusals(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(read_one(mk_ok, 3, err, sizeof(err)), 0);
    assert_int_equal(read_one(mk_ok, 4, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "epoch 3 where 4 was due"));
    assert_int_equal(read_one(mk_ok, 2, err, sizeof(err)), -EINVAL);
    assert_int_equal(read_one(mk_count, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "records"));
    assert_int_equal(read_one(mk_nostate, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no STATE"));
    assert_int_equal(read_one(mk_page_out, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "outside RAM region 0"));
    assert_int_equal(read_one(mk_disk_out, 3, err, sizeof(err)), -EINVAL);   /* the zero write past the end */
    assert_non_null(strstr(err, "disk 0"));
    assert_int_equal(read_one(mk_cancel, 0, err, sizeof(err)), -ECANCELED);
    assert_string_equal(err, "bye");
}

static void mk_rel_wrong(int fd) { repl_write_released(fd, 1); write_epoch(fd, 3, 1, 1, 0, 0, true); }
static void mk_rel_ok(int fd) { repl_write_released(fd, 2); write_epoch(fd, 3, 1, 1, 0, 0, true); }
static void mk_rel_twice(int fd) { repl_write_released(fd, 2); mk_rel_ok(fd); }
static void mk_rel_mid(int fd)
{
    uint8_t pg[4096] = { 0 };
    uint64_t page = 1;
    mig_write_pages(fd, 0, &page, 1, pg);
    repl_write_released(fd, 2);
    write_epoch(fd, 3, 1, 1, 0, 0, true);
}
static void mk_rel_after_state(int fd)
{
    const uint8_t st[1] = { 0 };
    mig_write_state(fd, true, "{}", 2, st, 1);
    repl_write_released(fd, 2);
    repl_write_epoch(fd, 3, 1, 16 + 3);
}
static void mk_con_gap(int fd)
{
    repl_write_console(fd, 0, (const uint8_t *)"abc", 3);
    repl_write_console(fd, 5, (const uint8_t *)"de", 2);
    write_epoch(fd, 3, 1, 1, 0, 0, true);
}
static void mk_con_empty(int fd) { repl_write_console(fd, 9, NULL, 0); write_epoch(fd, 3, 1, 1, 0, 0, true); }
static void mk_con_two(int fd)
{
    const uint8_t st[1] = { 0 };
    repl_write_console(fd, 7, (const uint8_t *)"abc", 3);
    repl_write_console(fd, 10, (const uint8_t *)"de", 2);
    mig_write_state(fd, true, "{}", 2, st, 1);
    repl_write_epoch(fd, 3, 3, (8 + 3) + (8 + 2) + (16 + 2 + 1));
}

static void test_console_refusals(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(read_one(mk_rel_ok, 3, err, sizeof(err)), 0);
    assert_int_equal(read_one(mk_con_two, 3, err, sizeof(err)), 0);
    assert_int_equal(read_one(mk_rel_wrong, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "RELEASED for epoch 1 before epoch 3"));
    assert_int_equal(read_one(mk_rel_ok, 0, err, sizeof(err)), -EINVAL);    /* nothing before epoch 0 to release */
    assert_non_null(strstr(err, "RELEASED for epoch 2 before epoch 0"));
    assert_int_equal(read_one(mk_rel_twice, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a RELEASED record"));
    assert_int_equal(read_one(mk_rel_mid, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "after 1 records of epoch 3"));
    assert_int_equal(read_one(mk_rel_after_state, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "after STATE"));
    assert_int_equal(read_one(mk_con_gap, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "console bytes at 5 where 3 was due"));
    assert_int_equal(read_one(mk_con_empty, 3, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "a CONSOLE record of 8 bytes"));
}

/* The standby reads the stream of make_stream_at cut at `cut` bytes (or
 * with RELEASED 1 after it when rel1), applying each whole epoch as it
 * does, and returns what it would write to its console at a takeover. */
static size_t takeover_console(const uint8_t *s, size_t cut, bool rel1, uint64_t *applied, char *out, size_t outlen)
{
    uint8_t *b = malloc(cut + 64);
    memcpy(b, s, cut);
    size_t len = cut;
    if (rel1) {
        FILE *f = tmpfile();
        assert_true(repl_write_released(fileno(f), 1) > 0);
        size_t n;
        uint8_t *r = slurp(f, &n);
        memcpy(b + len, r, n);
        len += n;
        free(r);
    }
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    struct membuf mb = { b, len, 0 };
    struct mig_reader rd;
    struct repl_stage st;
    struct repl_console con;
    char err[300];
    mig_reader_init(&rd, mem_rd, &mb);
    repl_stage_init(&st);
    repl_console_init(&con);
    assert_int_equal(repl_read_copy(&rd, &geom, &mem, disk_cb, NULL, &st, err, sizeof(err)), 0);
    for (uint64_t want = 0;; want++) {
        int r = repl_read_epoch(&rd, &geom, want, &st, err, sizeof(err));
        repl_console_note(&con, &st);
        if (r < 0)
            break;
        repl_console_applied(&con, &st);
        *applied = want;
    }
    const uint8_t *p;
    size_t n = repl_console_pending(&con, &p);
    assert_true(n < outlen);
    if (n)                              /* p may be NULL when nothing is pending */
        memcpy(out, p, n);
    out[n] = 0;
    repl_console_free(&con);
    repl_stage_free(&st);
    mig_reader_free(&rd);
    mem_destroy(&mem);
    free(b);
    return n;
}

static void test_console_decision(void **state)
{
    (void)state;
    size_t len, ce, rel;
    uint8_t *s = make_stream_at(&len, &ce, &rel);
    char out[64];
    uint64_t applied = UINT64_MAX;
    /* epoch 0 applied, no RELEASED 0: its bytes are the standby's to write */
    assert_int_equal(takeover_console(s, rel, false, &applied, out, sizeof(out)), 6);
    assert_int_equal(applied, 0);
    assert_string_equal(out, "hello ");
    /* RELEASED 0 came, epoch 1 cut at any byte: nothing to write (the
     * primary wrote them) */
    for (size_t cut = rel + 1; cut < len; cut++) {
        size_t n = takeover_console(s, cut, false, &applied, out, sizeof(out));
        if (cut < rel + MIG_REC_HEADER + 8 + 4) {       /* RELEASED itself cut: not read */
            assert_int_equal(n, 6);
            continue;
        }
        assert_int_equal(applied, 0);
        assert_int_equal(n, 0);
    }
    /* epoch 1 applied, no RELEASED 1: "world" */
    assert_int_equal(takeover_console(s, len, false, &applied, out, sizeof(out)), 5);
    assert_int_equal(applied, 1);
    assert_string_equal(out, "world");
    /* RELEASED 1 after it: nothing */
    assert_int_equal(takeover_console(s, len, true, &applied, out, sizeof(out)), 0);
    assert_int_equal(applied, 1);
    /* before any epoch: nothing to take over, nothing to write */
    applied = UINT64_MAX;
    assert_int_equal(takeover_console(s, ce, false, &applied, out, sizeof(out)), 0);
    assert_int_equal(applied, UINT64_MAX);
    free(s);
}

static void test_answers(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    int fd = fileno(f);
    assert_true(repl_write_ack(fd, 41) > 0);
    assert_true(mig_write_record(fd, MIG_REC_FAILED, 0, "disk full", 9) > 0);
    assert_true(mig_write_record(fd, MIG_REC_TAKEOVER, 0, "no epoch", 8) > 0);
    size_t len;
    uint8_t *s = slurp(f, &len);
    struct membuf b = { s, len, 0 };
    struct mig_reader rd;
    char err[300];
    uint64_t e = 0;
    mig_reader_init(&rd, mem_rd, &b);
    assert_int_equal(repl_read_ack(&rd, &e, err, sizeof(err)), 0);
    assert_int_equal(e, 41);
    assert_int_equal(repl_read_ack(&rd, &e, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "disk full"));
    assert_int_equal(repl_read_ack(&rd, &e, err, sizeof(err)), -EOWNERDEAD);
    assert_non_null(strstr(err, "took over: no epoch"));
    mig_reader_free(&rd);
    free(s);
}

/* VESSEL_TEST_REPL_VERIFY's check (machine/replverify.h): the primary's
 * hashes at a checked epoch against the standby's RAM, equal, then with
 * one page changed (named in verify.log), none for an unchecked epoch, the
 * primary's file gone once read. */
static void test_verify(void **state)
{
    char dir[] = "/tmp/vessel-verify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct guest_mem a, b;
    mem_init(&a);
    mem_init(&b);
    assert_int_equal(mem_add_ram(&a, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    assert_int_equal(mem_add_ram(&b, RAM_BASE, RAM_PAGES * 4096, 0), 0);
    for (unsigned i = 0; i < RAM_PAGES; i++) {
        memset(a.r[0].host + i * 4096, (int)i, 4096);
        memset(b.r[0].host + i * 4096, (int)i, 4096);
    }
    int sv[2];                  /* SO_PEERCRED names this process: the "primary" */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    repl_verify_save(dir, &a, REPL_VERIFY_EVERY * 3);
    assert_int_equal(repl_verify_check(dir, &b, sv[1], REPL_VERIFY_EVERY * 3), 0);
    assert_int_equal(repl_verify_check(dir, &b, sv[1], REPL_VERIFY_EVERY * 3), -ENOENT);   /* read once */
    b.r[0].host[5 * 4096 + 17] ^= 1;
    repl_verify_save(dir, &a, REPL_VERIFY_EVERY);
    assert_int_equal(repl_verify_check(dir, &b, sv[1], REPL_VERIFY_EVERY), 1);
    repl_verify_save(dir, &a, REPL_VERIFY_EVERY + 1);     /* not a checked epoch: nothing written */
    assert_int_equal(repl_verify_check(dir, &b, sv[1], REPL_VERIFY_EVERY + 1), -EAGAIN);
    char path[64], *log = NULL;
    snprintf(path, sizeof(path), "%s/verify.log", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0;
    assert_true(getdelim(&log, &n, 0, f) > 0);
    fclose(f);
    char want[128];
    snprintf(want, sizeof(want), "pid %d epoch %d: 0 of %d pages differ\n", (int)getpid(), REPL_VERIFY_EVERY * 3,
             RAM_PAGES);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof(want), "epoch %d: 1 of %d pages differ: 0:%#llx\n", REPL_VERIFY_EVERY, RAM_PAGES,
             RAM_BASE + 5 * 4096);
    assert_non_null(strstr(log, want));
    free(log);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);        /* nothing else left there */
    close(sv[0]);
    close(sv[1]);
    mem_destroy(&a);
    mem_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_cut_and_flip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_console_refusals),
        cmocka_unit_test(test_console_decision),
        cmocka_unit_test(test_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

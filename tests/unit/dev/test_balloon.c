/* virtio-balloon driven by a fake guest driver (vdrv.h): inflate and
 * deflate, free page reporting, statistics, the config space, and a
 * hostile driver (PFNs outside RAM or on the device's own rings, ranges
 * that are not page aligned, a flood of reports, bad descriptors). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "vdrv.h"

#define F_STATS_VQ       (1ULL << 1)
#define F_DEFLATE_ON_OOM (1ULL << 2)
#define F_PAGE_POISON    (1ULL << 4)
#define F_REPORTING      (1ULL << 5)
#define BASE_F ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX))
#define PG 4096ULL
/* pages the tests give away: far above the rings vd_alloc hands out */
#define FREE_AREA (VD_RAM + (2ULL << 20))

struct changes { unsigned n; uint64_t last; };
static void on_change(void *opaque, uint64_t bytes)
{
    struct changes *c = opaque;
    c->n++;
    c->last = bytes;
}

struct fixture {
    struct virtio_balloon *b;
    struct vdrv v;
    struct changes ch;
};

static void open_balloon(struct fixture *f, bool reporting, uint64_t want, unsigned nq)
{
    memset(f, 0, sizeof(*f));
    struct virtio_balloon_opts o = { .deflate_on_oom = true, .free_page_reporting = reporting };
    struct virtio_balloon_host h = { on_change, &f->ch };
    f->b = virtio_balloon_create(&o, NULL, &h);
    assert_non_null(f->b);
    assert_int_equal(vdrv_open(&f->v, virtio_balloon_dev(f->b)), 0);
    uint32_t st = vdrv_init(&f->v, want, nq, 64);
    assert_true(st & VIRTIO_STATUS_DRIVER_OK);
}

static void close_balloon(struct fixture *f)
{
    vdrv_close(&f->v);
    virtio_balloon_destroy(f->b);
}

static bool resident(struct fixture *f, uint64_t gpa)
{
    unsigned char vec = 0;
    void *p = mem_translate(&f->v.mem, gpa, PG);
    assert_non_null(p);
    assert_int_equal(mincore(p, PG, &vec), 0);
    return vec & 1;
}

static void touch(struct fixture *f, uint64_t gpa, uint8_t val)
{
    memset(mem_translate(&f->v.mem, gpa, PG), val, PG);
}

static struct virtio_balloon_counters counters(struct fixture *f)
{
    struct virtio_balloon_counters c;
    virtio_balloon_get_stats(f->b, NULL, &c);
    return c;
}

/* Send `n` PFNs on queue q (0 inflate, 1 deflate); wait for completion. */
static void send_pfns(struct fixture *f, unsigned q, const uint32_t *pfns, unsigned n)
{
    uint64_t buf = vd_alloc(&f->v, 4ULL * n);
    memcpy(gp(&f->v, buf), pfns, 4ULL * n);
    struct vseg s = { buf, 4 * n, false };
    uint16_t head = vdrv_submit(&f->v, q, &s, 1, false);
    uint32_t id, len;
    assert_int_equal(vdrv_wait_used(&f->v, q, &id, &len), 0);
    assert_int_equal(id, head);
    assert_int_equal(len, 0);
}

static void test_features_and_ids(void **state)
{
    struct fixture f;
    open_balloon(&f, true, ~0ULL, 4);
    assert_int_equal(vd_rd(&f.v, 0x008), VIRTIO_ID_BALLOON);
    assert_true(f.v.features & F_STATS_VQ);
    assert_true(f.v.features & F_DEFLATE_ON_OOM);
    assert_true(f.v.features & F_REPORTING);
    assert_true(f.v.features & F_PAGE_POISON);
    close_balloon(&f);

    struct virtio_balloon_opts o = { 0 };
    struct virtio_balloon *b = virtio_balloon_create(&o, NULL, NULL);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_balloon_dev(b)), 0);
    vdrv_init(&v, ~0ULL, 3, 64);
    assert_false(v.features & F_DEFLATE_ON_OOM);
    assert_false(v.features & F_REPORTING);
    vdrv_close(&v);
    virtio_balloon_destroy(b);
}

static void test_inflate_releases_pages(void **state)
{
    struct fixture f;
    open_balloon(&f, false, ~0ULL, 3);
    uint32_t pfns[8];
    for (unsigned i = 0; i < 8; i++) {
        touch(&f, FREE_AREA + i * PG, 0xa5);
        pfns[i] = (uint32_t)((FREE_AREA + i * PG) >> 12);
        assert_true(resident(&f, FREE_AREA + i * PG));
    }
    touch(&f, FREE_AREA + 8 * PG, 0x5a);        /* the neighbour stays */
    send_pfns(&f, 0, pfns, 8);
    for (unsigned i = 0; i < 8; i++) {
        assert_false(resident(&f, FREE_AREA + i * PG));
        assert_int_equal(*(uint8_t *)gp(&f.v, FREE_AREA + i * PG + 100), 0);
    }
    assert_true(resident(&f, FREE_AREA + 8 * PG));
    assert_int_equal(*(uint8_t *)gp(&f.v, FREE_AREA + 8 * PG + 4095), 0x5a);
    struct virtio_balloon_counters c = counters(&f);
    assert_int_equal(c.inflated, 8);
    assert_int_equal(c.released_bytes, 8 * PG);
    assert_int_equal(c.refused, 0);

    send_pfns(&f, 1, pfns, 4);                  /* deflate: the guest may use them again */
    assert_int_equal(counters(&f).deflated, 4);
    touch(&f, FREE_AREA, 1);
    assert_true(resident(&f, FREE_AREA));
    close_balloon(&f);
}

static void test_hostile_pfns(void **state)
{
    struct fixture f;
    open_balloon(&f, false, ~0ULL, 3);
    uint64_t ring = f.v.q[0].desc;              /* the inflate queue's own descriptors */
    uint64_t buf = vd_alloc(&f.v, 4 * 8);
    uint32_t pfns[8] = {
        0, 1, 0xffffffffu,                               /* outside RAM */
        (uint32_t)((VD_RAM + VD_RAM_SIZE) >> 12),        /* one past the end */
        (uint32_t)((VD_RAM >> 12) - 1),                  /* one before */
        (uint32_t)(ring >> 12),                          /* this device's ring */
        (uint32_t)(f.v.q[1].used >> 12),                 /* the deflate queue's used ring */
        (uint32_t)(buf >> 12),                           /* the page of this very buffer */
    };
    touch(&f, FREE_AREA, 7);
    memcpy(gp(&f.v, buf), pfns, sizeof(pfns));
    struct vseg s = { buf, sizeof(pfns), false };
    vdrv_submit(&f.v, 0, &s, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 0, NULL, NULL), 0);
    struct virtio_balloon_counters c = counters(&f);
    /* the rings (all three in the first pages of the heap) are refused;
     * only the buffer's page, if no ring shares it, was given away */
    assert_true(c.refused >= 7);
    assert_int_equal(c.inflated + c.refused, 8);
    assert_false(vd_rd(&f.v, 0x70) & VIRTIO_STATUS_NEEDS_RESET);
    /* the queue still works after all that */
    uint32_t good = (uint32_t)(FREE_AREA >> 12);
    send_pfns(&f, 0, &good, 1);
    assert_false(resident(&f, FREE_AREA));
    uint32_t bad = 3;
    send_pfns(&f, 1, &bad, 1);                  /* deflate outside RAM */
    assert_int_equal(counters(&f).deflated, 0);
    close_balloon(&f);
}

static void test_bad_descriptors(void **state)
{
    struct fixture f;
    open_balloon(&f, true, ~0ULL, 4);
    /* a PFN buffer of 3 bytes and a buffer outside RAM */
    uint64_t buf = vd_alloc(&f.v, 4);
    struct vseg s = { buf, 3, false };
    vdrv_submit(&f.v, 0, &s, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 0, NULL, NULL), 0);
    assert_int_equal(counters(&f).inflated + counters(&f).refused, 0);
    struct vseg out = { VD_RAM + VD_RAM_SIZE - 2, 8, false };
    uint16_t used = vdrv_used_idx(&f.v, 0);
    vdrv_submit(&f.v, 0, &out, 1, false);      /* served on the notifying thread: done now */
    assert_true(vd_rd(&f.v, 0x70) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(vdrv_used_idx(&f.v, 0), used);
    /* the reporting queue (3) is another queue: it still works */
    touch(&f, FREE_AREA, 1);
    struct vseg r = { FREE_AREA, PG, true };
    vdrv_submit(&f.v, 3, &r, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 3, NULL, NULL), 0);
    assert_false(resident(&f, FREE_AREA));
    /* a notify of a queue that does not exist is ignored */
    vd_wr(&f.v, 0x50, 7);
    vd_wr(&f.v, 0x50, 1000);
    close_balloon(&f);
}

static void test_reporting(void **state)
{
    struct fixture f;
    open_balloon(&f, true, ~0ULL, 4);
    for (unsigned i = 0; i < 16; i++)
        touch(&f, FREE_AREA + i * PG, 0x11);
    /* whole pages; a range starting mid-page gives back only the pages it covers */
    struct vseg s[3] = {
        { FREE_AREA, 4 * PG, true },
        { FREE_AREA + 5 * PG + 100, 2 * PG, true },         /* covers page 6 only */
        { FREE_AREA + 9 * PG, 100, true },                  /* no whole page */
    };
    vdrv_submit(&f.v, 3, s, 3, false);
    uint32_t len = 1;
    assert_int_equal(vdrv_wait_used(&f.v, 3, NULL, &len), 0);
    assert_int_equal(len, 0);
    for (unsigned i = 0; i < 4; i++)
        assert_false(resident(&f, FREE_AREA + i * PG));
    assert_true(resident(&f, FREE_AREA + 4 * PG));
    assert_true(resident(&f, FREE_AREA + 5 * PG));
    assert_int_equal(*(uint8_t *)gp(&f.v, FREE_AREA + 5 * PG + 4095), 0x11);
    assert_false(resident(&f, FREE_AREA + 6 * PG));
    assert_true(resident(&f, FREE_AREA + 7 * PG));
    assert_true(resident(&f, FREE_AREA + 9 * PG));
    struct virtio_balloon_counters c = counters(&f);
    assert_int_equal(c.reports, 1);
    assert_int_equal(c.reported_bytes, 5 * PG);
    close_balloon(&f);
}

/* Without the stats queue the reporting queue is the third (index 2). */
static void test_reporting_queue_index(void **state)
{
    struct fixture f;
    open_balloon(&f, true, BASE_F | F_REPORTING, 3);
    assert_false(f.v.features & F_STATS_VQ);
    touch(&f, FREE_AREA, 1);
    struct vseg r = { FREE_AREA, PG, true };
    vdrv_submit(&f.v, 2, &r, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 2, NULL, NULL), 0);
    assert_false(resident(&f, FREE_AREA));
    assert_int_equal(counters(&f).reports, 1);
    close_balloon(&f);
}

static void test_report_flood(void **state)
{
    struct fixture f;
    open_balloon(&f, true, ~0ULL, 4);
    /* 20000 reports of the whole free area, over and over, each chain also
     * naming a range outside RAM through an indirect table */
    for (unsigned i = 0; i < 20000; i++) {
        struct vseg r = { FREE_AREA, 1 << 20, true };
        vdrv_submit(&f.v, 3, &r, 1, i & 1);
        assert_int_equal(vdrv_wait_used(&f.v, 3, NULL, NULL), 0);
        f.v.heap = VD_RAM + 0x8000;              /* reuse the indirect tables' space */
    }
    assert_int_equal(counters(&f).reports, 20000);
    assert_false(vd_rd(&f.v, 0x70) & VIRTIO_STATUS_NEEDS_RESET);
    close_balloon(&f);
}

static void test_poison_keeps_pages(void **state)
{
    struct fixture f;
    open_balloon(&f, true, ~0ULL, 4);
    uint64_t v = 0xaa;
    bus_access(&f.v.bus, VD_MMIO + 0x100 + 12, &v, 4, true);    /* poison_val */
    touch(&f, FREE_AREA, 0xaa);
    struct vseg r = { FREE_AREA, PG, true };
    vdrv_submit(&f.v, 3, &r, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 3, NULL, NULL), 0);
    assert_true(resident(&f, FREE_AREA));
    assert_int_equal(*(uint8_t *)gp(&f.v, FREE_AREA + 9), 0xaa);
    close_balloon(&f);
}

static void test_config_target_actual(void **state)
{
    struct fixture f;
    open_balloon(&f, false, ~0ULL, 3);
    int raises = f.v.irq_raises;
    assert_int_equal(virtio_balloon_set_target(f.b, VD_RAM_SIZE - (1 << 20)), 0);
    assert_int_equal(vd_cfg(&f.v, 0, 4), 256);          /* num_pages */
    assert_true(f.v.irq_raises > raises);               /* config change interrupt */
    assert_int_equal(virtio_balloon_set_target(f.b, 1ULL << 40), 0);   /* above RAM: 0 */
    assert_int_equal(vd_cfg(&f.v, 0, 4), 0);
    assert_int_equal(virtio_balloon_actual(f.b), VD_RAM_SIZE);
    /* the driver reports 100 pages in the balloon */
    uint64_t a = 100;
    bus_access(&f.v.bus, VD_MMIO + 0x100 + 4, &a, 4, true);
    assert_int_equal(f.ch.n, 1);
    assert_int_equal(f.ch.last, 100 * PG);
    assert_int_equal(virtio_balloon_actual(f.b), VD_RAM_SIZE - 100 * PG);
    bus_access(&f.v.bus, VD_MMIO + 0x100 + 4, &a, 4, true);    /* same value: no event */
    assert_int_equal(f.ch.n, 1);
    /* the driver cannot write num_pages; byte writes work */
    uint64_t x = 0x1234;
    bus_access(&f.v.bus, VD_MMIO + 0x100, &x, 4, true);
    assert_int_equal(vd_cfg(&f.v, 0, 4), 0);
    x = 1;
    bus_access(&f.v.bus, VD_MMIO + 0x100 + 5, &x, 1, true);
    assert_int_equal(vd_cfg(&f.v, 4, 4), 100 + 256);
    assert_int_equal(f.ch.n, 2);
    /* a claim bigger than RAM reads as 0 bytes left, not a wrap */
    x = 0xffffffff;
    bus_access(&f.v.bus, VD_MMIO + 0x100 + 4, &x, 4, true);
    assert_int_equal(virtio_balloon_actual(f.b), 0);
    /* reset forgets the driver's value */
    vd_wr(&f.v, 0x70, 0);
    assert_int_equal(virtio_balloon_actual(f.b), VD_RAM_SIZE);
    close_balloon(&f);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    memcpy(p, &tag, 2);
    memcpy(p + 2, &val, 8);
}

static void test_stats(void **state)
{
    struct fixture f;
    open_balloon(&f, false, ~0ULL, 3);
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(f.b, &st, NULL);
    assert_int_equal(st.last_update, 0);
    assert_true(st.val[4] == UINT64_MAX);
    uint64_t buf = vd_alloc(&f.v, 4 * 10 + 3);
    uint8_t *p = gp(&f.v, buf);
    put_stat(p, 4, 12345678);       /* free memory */
    put_stat(p + 10, 5, 99999999);  /* total */
    put_stat(p + 20, 77, 1);        /* unknown tag: skipped */
    put_stat(p + 30, 0xffff, 2);
    struct vseg s = { buf, 4 * 10 + 3, false };       /* a trailing partial entry */
    uint16_t head = vdrv_submit(&f.v, 2, &s, 1, false);
    /* the device holds the buffer */
    assert_int_equal(vdrv_used_idx(&f.v, 2), 0);
    virtio_balloon_get_stats(f.b, &st, NULL);
    assert_true(st.last_update > 0);
    assert_true(st.val[4] == 12345678);
    assert_true(st.val[5] == 99999999);
    assert_true(st.val[0] == UINT64_MAX);
    assert_int_equal(st.have, (1u << 4) | (1u << 5));
    assert_string_equal(virtio_balloon_stat_name(4), "stat-free-memory");
    assert_null(virtio_balloon_stat_name(VIRTIO_BALLOON_S_NR));
    /* asking for new stats gives it back */
    virtio_balloon_request_stats(f.b);
    uint32_t id;
    assert_int_equal(vdrv_wait_used(&f.v, 2, &id, NULL), 0);
    assert_int_equal(id, head);
    virtio_balloon_request_stats(f.b);     /* nothing held: nothing happens */
    assert_int_equal(vdrv_used_idx(&f.v, 2), 1);
    /* two buffers in a row: the first goes back */
    vdrv_submit(&f.v, 2, &s, 1, false);
    vdrv_submit(&f.v, 2, &s, 1, false);
    assert_int_equal(vdrv_wait_used(&f.v, 2, NULL, NULL), 0);
    assert_int_equal(virtio_balloon_set_poll_interval(f.b, 2), -ENOSYS);   /* no loop */
    close_balloon(&f);
}

/* As Linux does: the first stats buffer is queued and kicked before
 * DRIVER_OK; the device takes it when the driver sets DRIVER_OK. */
static void test_stats_before_driver_ok(void **state)
{
    struct virtio_balloon_opts o = { 0 };
    struct virtio_balloon *b = virtio_balloon_create(&o, NULL, NULL);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_balloon_dev(b)), 0);
    vd_wr(&v, 0x70, 0);
    vd_wr(&v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vd_wr(&v, 0x24, 0); vd_wr(&v, 0x20, (uint32_t)(BASE_F | F_STATS_VQ));
    vd_wr(&v, 0x24, 1); vd_wr(&v, 0x20, (BASE_F | F_STATS_VQ) >> 32);
    vd_wr(&v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 3; q++)
        vdrv_setup_queue(&v, q, 16);
    uint64_t buf = vd_alloc(&v, 10);
    put_stat(gp(&v, buf), 4, 4242);
    struct vseg s = { buf, 10, false };
    vdrv_submit(&v, 2, &s, 1, false);          /* kicked before DRIVER_OK: not served yet */
    struct virtio_balloon_stats st;
    virtio_balloon_get_stats(b, &st, NULL);
    assert_int_equal(st.last_update, 0);
    vd_wr(&v, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                    VIRTIO_STATUS_DRIVER_OK);
    virtio_balloon_get_stats(b, &st, NULL);
    assert_true(st.last_update > 0);
    assert_true(st.val[4] == 4242);
    vdrv_close(&v);
    virtio_balloon_destroy(b);
}

static void test_memfd_punches_hole(void **state)
{
    struct virtio_balloon_opts o = { .free_page_reporting = true };
    struct virtio_balloon *b = virtio_balloon_create(&o, NULL, NULL);
    struct guest_mem mem;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, VD_RAM, 1 << 20, MEM_F_MEMFD), 0);
    assert_int_equal(mem_add_ram(&mem, 0x1000, 0x1000, MEM_F_READONLY), 0);
    struct virtio_dev *d = virtio_balloon_dev(b);
    d->mem = &mem;
    uint8_t *p = mem_translate(&mem, VD_RAM, 1 << 20);
    memset(p, 0x33, 1 << 20);
    struct stat st;
    assert_int_equal(fstat(mem.r[0].fd, &st), 0);
    blkcnt_t before = st.st_blocks;
    assert_int_equal(mem_discard(&mem, VD_RAM + PG, 64 * PG), 64 * PG);
    assert_int_equal(fstat(mem.r[0].fd, &st), 0);
    assert_true(st.st_blocks <= before - (blkcnt_t)(64 * PG / 512));
    assert_int_equal(p[PG], 0);
    assert_int_equal(p[0], 0x33);
    assert_int_equal(p[65 * PG], 0x33);
    /* read-only memory, outside RAM, across the end of a region */
    assert_int_equal(mem_discard(&mem, 0x1000, PG), -EPERM);
    assert_int_equal(mem_discard(&mem, 0x9000, PG), -EFAULT);
    assert_int_equal(mem_discard(&mem, VD_RAM + (1 << 20) - PG, 2 * PG), -EFAULT);
    assert_int_equal(mem_discard(&mem, VD_RAM + 1, PG), 0);
    assert_int_equal(mem_ram_size(&mem), 1 << 20);
    mem_destroy(&mem);
    virtio_balloon_destroy(b);
}

static void test_parse(void **state)
{
    struct virtio_balloon_opts o;
    assert_int_equal(virtio_parse_balloon(NULL, &o), 0);
    assert_false(o.deflate_on_oom);
    assert_string_equal(o.id, "balloon0");
    assert_int_equal(virtio_parse_balloon("deflate-on-oom=on,free-page-reporting=on,id=b1", &o), 0);
    assert_true(o.deflate_on_oom);
    assert_true(o.free_page_reporting);
    assert_string_equal(o.id, "b1");
    assert_int_equal(virtio_parse_balloon("deflate-on-oom=maybe", &o), -EINVAL);
    assert_int_equal(virtio_parse_balloon("deflate-on-oom", &o), -EINVAL);
    assert_int_equal(virtio_parse_balloon("size=1", &o), -EINVAL);
    assert_int_equal(virtio_parse_balloon("id=a/b", &o), -EINVAL);
    assert_int_equal(virtio_parse_balloon("id=", &o), -EINVAL);
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(virtio_parse_balloon(big, &o), -EINVAL);
    struct virtio_options opts = { 0 };
    assert_int_equal(virtio_options_add(&opts, "balloon", NULL), 1);
    assert_int_equal(virtio_options_add(&opts, "balloon", NULL), -EINVAL);   /* one per machine */
    virtio_options_free(&opts);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_and_ids),
        cmocka_unit_test(test_inflate_releases_pages),
        cmocka_unit_test(test_hostile_pfns),
        cmocka_unit_test(test_bad_descriptors),
        cmocka_unit_test(test_reporting),
        cmocka_unit_test(test_reporting_queue_index),
        cmocka_unit_test(test_report_flood),
        cmocka_unit_test(test_poison_keeps_pages),
        cmocka_unit_test(test_config_target_actual),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_before_driver_ok),
        cmocka_unit_test(test_memfd_punches_hole),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

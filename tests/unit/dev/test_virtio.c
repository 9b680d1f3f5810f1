/* virtio core, mmio transport, blk and rng driven like a guest driver would. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "base/base.h"
#include "dev/virtio/vhost.h"
#include "vdrv.h"
#include <linux/if_tun.h>

#define ALL_FEATURES (~0ULL)

static void test_mmio_ids(void **state)
{
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_int_equal(vd_rd(&v, 0x000), 0x74726976);
    assert_int_equal(vd_rd(&v, 0x004), 2);
    assert_int_equal(vd_rd(&v, 0x008), VIRTIO_ID_RNG);
    assert_int_equal(vd_rd(&v, 0x034), VIRTQ_MAX_SIZE);
    /* without VERSION_1 the device refuses FEATURES_OK */
    uint32_t st = vdrv_init(&v, ALL_FEATURES & ~(1ULL << VIRTIO_F_VERSION_1), 1, 8);
    assert_false(st & VIRTIO_STATUS_FEATURES_OK);
    /* a feature the device did not offer is refused as well */
    vd_wr(&v, 0x70, 0);
    vd_wr(&v, 0x70, 3);
    vd_wr(&v, 0x24, 0); vd_wr(&v, 0x20, 1u << 5);
    vd_wr(&v, 0x24, 1); vd_wr(&v, 0x20, 1);
    vd_wr(&v, 0x70, 3 | VIRTIO_STATUS_FEATURES_OK);
    assert_false(vd_rd(&v, 0x70) & VIRTIO_STATUS_FEATURES_OK);
    st = vdrv_init(&v, ALL_FEATURES, 1, 8);
    assert_true(st & VIRTIO_STATUS_DRIVER_OK);
    /* reset clears everything */
    vd_wr(&v, 0x70, 0);
    assert_int_equal(vd_rd(&v, 0x70), 0);
    vd_wr(&v, 0x30, 0);
    assert_int_equal(vd_rd(&v, 0x44), 0);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

static void rng_roundtrip(bool indirect, uint64_t features)
{
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v, features, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    for (int k = 0; k < 40; k++) {     /* wraps the 16-entry ring */
        uint64_t a = vd_alloc(&v, 64), b = vd_alloc(&v, 64);
        struct vseg s[2] = { { a, 64, true }, { b, 64, true } };
        uint16_t head = vdrv_submit(&v, 0, s, 2, indirect);
        uint32_t id, len;
        assert_int_equal(vdrv_wait_used(&v, 0, &id, &len), 0);
        assert_int_equal(id, head);
        assert_int_equal(len, 128);
        static const uint8_t zero[64];
        assert_true(memcmp(gp(&v, a), zero, 64) || memcmp(gp(&v, b), zero, 64));
    }
    assert_true(v.irq_level);
    assert_int_equal(vd_rd(&v, 0x60) & VIRTIO_ISR_USED, VIRTIO_ISR_USED);
    vd_wr(&v, 0x64, VIRTIO_ISR_USED);
    assert_false(v.irq_level);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

/* With EVENT_IDX a pop writes avail_event into the used ring. Element
 * held (no push yet) at a migration's or a replication epoch's cut: the
 * copy must still have the new value, else the driver on the other side
 * sees an old avail_event and does not kick for its next buffer. */
static void test_pop_logs_avail_event(void **state)
{
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(v.features & (1ULL << VIRTIO_F_EVENT_IDX));
    struct vdrv_q *Q = &v.q[0];
    uint64_t buf = vd_alloc(&v, 64);
    *vd_desc(&v, 0, 0) = (struct virtq_desc){ buf, 64, VIRTQ_DESC_F_WRITE, 0 };
    uint16_t *avail = gp(&v, Q->avail);
    avail[2] = 0;
    __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);      /* no kick: the device does not run it */
    assert_int_equal(mem_dirty_enable(&v.mem), 0);
    uint64_t bits[64] = { 0 };
    assert_true(mem_bitmap_words(v.mem.r[0].size) <= 64);
    mem_dirty_collect(&v.mem, 0, bits);
    memset(bits, 0, sizeof(bits));
    struct virtq_elem e;
    assert_int_equal(virtq_pop(virtio_rng_dev(r), 0, &e), 1);
    uint64_t ev = Q->used + 4 + 8ULL * Q->num, page = (ev - v.mem.r[0].gpa) >> MEM_PAGE_SHIFT;
    assert_int_equal(*(uint16_t *)gp(&v, ev), 1);
    mem_dirty_collect(&v.mem, 0, bits);
    assert_true(bits[page / 64] & (1ULL << (page % 64)));
    mem_dirty_disable(&v.mem);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

static void test_rng(void **state) { rng_roundtrip(false, ALL_FEATURES); }
static void test_rng_indirect(void **state) { rng_roundtrip(true, ALL_FEATURES); }
static void test_rng_no_event_idx(void **state) { rng_roundtrip(false, ALL_FEATURES & ~(1ULL << VIRTIO_F_EVENT_IDX)); }

static void test_event_idx_suppresses(void **state)
{
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 8) & VIRTIO_STATUS_DRIVER_OK);
    uint16_t *avail = gp(&v, v.q[0].avail);
    uint64_t a = vd_alloc(&v, 16);
    struct vseg s = { a, 16, true };
    vdrv_submit(&v, 0, &s, 1, false);   /* first completion always interrupts */
    assert_int_equal(v.irq_raises, 1);
    vd_wr(&v, 0x64, 1);
    avail[2 + 8] = 5;                   /* used_event: interrupt when used idx passes 5 */
    for (int i = 0; i < 4; i++) {
        vdrv_submit(&v, 0, &s, 1, false);
        assert_int_equal(v.irq_raises, 1);
    }
    vdrv_submit(&v, 0, &s, 1, false);   /* used idx 5 -> 6: crosses used_event */
    assert_int_equal(v.irq_raises, 2);
    /* the device publishes avail_event = next avail index it will read */
    uint16_t *used = gp(&v, v.q[0].used);
    assert_int_equal(used[2 + 4 * 8], 6);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

/* ---- hostile rings: each must set NEEDS_RESET and raise a config interrupt ---- */
enum hostile { H_LOOP, H_OUTSIDE, H_WRAP, H_ORDER, H_AVAIL_JUMP, H_NESTED, H_NEXT_RANGE, H_HEAD_RANGE,
               H_INDIRECT_LEN, H_LONG_INDIRECT_LOOP, H_QUEUE_OUTSIDE, H_COUNT };

static void make_hostile(struct vdrv *v, enum hostile h)
{
    uint64_t buf = vd_alloc(v, 64);
    struct virtq_desc *d0 = vd_desc(v, 0, 0), *d1 = vd_desc(v, 0, 1);
    switch (h) {
    case H_LOOP:
        *d0 = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
        *d1 = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_OUTSIDE:
        *d0 = (struct virtq_desc){ VD_RAM + VD_RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_WRAP:
        *d0 = (struct virtq_desc){ 0xfffffffffffffff0ULL, 0x20, VIRTQ_DESC_F_WRITE, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_ORDER:   /* device-readable after device-writable */
        *d0 = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
        *d1 = (struct virtq_desc){ buf + 8, 8, 0, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_AVAIL_JUMP: {
        uint16_t *avail = gp(v, v->q[0].avail);
        avail[1] = v->q[0].num + 3;
        vd_wr(v, 0x50, 0);
        break;
    }
    case H_NESTED: {
        uint64_t t1 = vd_alloc(v, 16), t2 = vd_alloc(v, 16);
        *(struct virtq_desc *)gp(v, t2) = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE, 0 };
        *(struct virtq_desc *)gp(v, t1) = (struct virtq_desc){ t2, 16, VIRTQ_DESC_F_INDIRECT, 0 };
        *d0 = (struct virtq_desc){ t1, 16, VIRTQ_DESC_F_INDIRECT, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    }
    case H_NEXT_RANGE:
        *d0 = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 999 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_HEAD_RANGE:
        vdrv_kick_head(v, 0, 4000);
        break;
    case H_INDIRECT_LEN:
        *d0 = (struct virtq_desc){ buf, 15, VIRTQ_DESC_F_INDIRECT, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    case H_LONG_INDIRECT_LOOP: {
        uint64_t t = vd_alloc(v, 32);
        struct virtq_desc *td = gp(v, t);
        td[0] = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
        td[1] = (struct virtq_desc){ buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0 };
        *d0 = (struct virtq_desc){ t, 32, VIRTQ_DESC_F_INDIRECT, 0 };
        vdrv_kick_head(v, 0, 0);
        break;
    }
    case H_QUEUE_OUTSIDE:
        vd_wr(v, 0x30, 0);
        vd_wr(v, 0x44, 0);
        vd_wr(v, 0x80, 0xfffff000); vd_wr(v, 0x84, 0xffff);
        vd_wr(v, 0x44, 1);
        break;
    default:
        break;
    }
}

static void check_hostile(struct virtio_dev *dev, void (*process)(void *), void *opaque)
{
    for (int h = 0; h < H_COUNT; h++) {
        struct vdrv v;
        assert_int_equal(vdrv_open(&v, dev), 0);
        assert_true(vdrv_init(&v, ALL_FEATURES, 1, 8) & VIRTIO_STATUS_DRIVER_OK);
        make_hostile(&v, h);
        if (process)
            process(opaque);
        uint32_t st = 0;
        for (int i = 0; i < 2000 && !(st & VIRTIO_STATUS_NEEDS_RESET); i++) {
            st = vd_rd(&v, 0x70);
            usleep(1000);
        }
        if (!(st & VIRTIO_STATUS_NEEDS_RESET))
            fail_msg("hostile ring %d did not set NEEDS_RESET (status 0x%x)", h, st);
        assert_true(vd_rd(&v, 0x60) & VIRTIO_ISR_CONFIG);
        assert_true(v.irq_level);
        assert_int_equal(vdrv_used_idx(&v, 0), 0);  /* nothing completed */
        /* the driver resets; the device works again (other queues kept working: see the net test) */
        vdrv_close(&v);
    }
}

static void test_hostile_rng(void **state)
{
    struct virtio_rng *r = virtio_rng_create();
    check_hostile(virtio_rng_dev(r), NULL, NULL);
    /* after all that, a normal session still works */
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 8) & VIRTIO_STATUS_DRIVER_OK);
    struct vseg s = { vd_alloc(&v, 32), 32, true };
    vdrv_submit(&v, 0, &s, 1, false);
    uint32_t len;
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, &len), 0);
    assert_int_equal(len, 32);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

/* ---- virtio-blk ---- */
struct blk_fixture { char path[64]; int fd; };

static int make_image(struct blk_fixture *f, uint64_t size)
{
    strcpy(f->path, "/tmp/vessel-blk-XXXXXX");
    f->fd = mkstemp(f->path);
    if (f->fd < 0 || ftruncate(f->fd, size) < 0)
        return -1;
    uint8_t pat[4096];
    for (int i = 0; i < 4096; i++)
        pat[i] = (uint8_t)(i * 7 + 3);
    for (uint64_t off = 0; off < size; off += 4096)
        if (pwrite(f->fd, pat, 4096, off) != 4096)
            return -1;
    return 0;
}

struct blkreq { uint64_t hdr, data, status; };

static uint8_t blk_rw(struct vdrv *v, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool indirect,
                      uint32_t *used_len)
{
    uint64_t hdr = vd_alloc(v, 16), st = vd_alloc(v, 1);
    uint32_t *h = gp(v, hdr);
    h[0] = type;
    h[1] = 0;
    memcpy(h + 2, &sector, 8);
    *(uint8_t *)gp(v, st) = 0xee;
    struct vseg s[3];
    unsigned n = 0;
    s[n++] = (struct vseg){ hdr, 16, false };
    if (len)
        s[n++] = (struct vseg){ data, len, type == 0 || type == 8 };
    s[n++] = (struct vseg){ st, 1, true };
    vdrv_submit(v, 0, s, n, indirect);
    uint32_t ul = 0;
    if (vdrv_wait_used(v, 0, NULL, &ul) < 0)
        return 0xff;
    if (used_len)
        *used_len = ul;
    return *(uint8_t *)gp(v, st);
}

static void blk_session(unsigned threads, bool direct_path)
{
    struct blk_fixture f;
    assert_int_equal(make_image(&f, 1 << 20), 0);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, direct_path, &img), 0);
    struct virtio_blk *b = virtio_blk_create(img, "disk-one", threads);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_blk_dev(b)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 32) & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(vd_cfg(&v, 0, 8), (1 << 20) / 512);
    assert_int_equal(vd_cfg(&v, 20, 4), 512);
    assert_false(v.features & (1ULL << 5));            /* not RO */

    /* write 2 sectors at sector 3, read back, compare with the file */
    uint64_t wbuf = vd_alloc(&v, 1024), rbuf = vd_alloc(&v, 1024);
    for (int i = 0; i < 1024; i++)
        ((uint8_t *)gp(&v, wbuf))[i] = (uint8_t)(i ^ 0x5a);
    uint32_t ul;
    assert_int_equal(blk_rw(&v, 1, 3, wbuf, 1024, false, &ul), 0);
    assert_int_equal(ul, 1);
    uint8_t file[1024];
    assert_int_equal(pread(f.fd, file, 1024, 3 * 512), 1024);
    assert_memory_equal(file, gp(&v, wbuf), 1024);
    assert_int_equal(blk_rw(&v, 0, 3, rbuf, 1024, true, &ul), 0);
    assert_int_equal(ul, 1025);
    assert_memory_equal(gp(&v, rbuf), gp(&v, wbuf), 1024);
    /* 4 KiB aligned (the O_DIRECT path when cache=none), split over 3 segments */
    uint64_t big = vd_alloc(&v, 8192), big2 = vd_alloc(&v, 4096);
    for (int i = 0; i < 4096; i++)
        ((uint8_t *)gp(&v, big))[i] = (uint8_t)(i * 13);
    {
        uint64_t hh = vd_alloc(&v, 16), ss = vd_alloc(&v, 1);
        uint32_t *hp = gp(&v, hh);
        hp[0] = 1; hp[1] = 0;
        uint64_t sct = 16;
        memcpy(hp + 2, &sct, 8);
        struct vseg sg[4] = { { hh, 16, false }, { big, 1000, false }, { big + 1000, 3096, false }, { ss, 1, true } };
        vdrv_submit(&v, 0, sg, 4, false);
        assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
        assert_int_equal(*(uint8_t *)gp(&v, ss), 0);
        assert_int_equal(blk_rw(&v, 0, 16, big2, 4096, false, NULL), 0);
        assert_memory_equal(gp(&v, big2), gp(&v, big), 4096);
        uint8_t fb[4096];
        assert_int_equal(pread(f.fd, fb, 4096, 16 * 512), 4096);
        assert_memory_equal(fb, gp(&v, big), 4096);
    }
    /* flush, get-id */
    assert_int_equal(blk_rw(&v, 4, 0, 0, 0, false, NULL), 0);
    uint64_t idb = vd_alloc(&v, 20);
    assert_int_equal(blk_rw(&v, 8, 0, idb, 20, false, NULL), 0);
    assert_string_equal((char *)gp(&v, idb), "disk-one");
    /* beyond the end, not a sector multiple, unknown type */
    assert_int_equal(blk_rw(&v, 0, 2048, rbuf, 512, false, NULL), 1);
    assert_int_equal(blk_rw(&v, 0, 2047, rbuf, 1024, false, NULL), 1);
    assert_int_equal(blk_rw(&v, 0, 0xffffffffffffffffULL, rbuf, 512, false, NULL), 1);
    assert_int_equal(blk_rw(&v, 1, 0, wbuf, 100, false, NULL), 1);
    assert_int_equal(blk_rw(&v, 77, 0, 0, 0, false, NULL), 2);
    /* write-zeroes and discard of sectors 8..15 */
    uint64_t seg = vd_alloc(&v, 16);
    uint64_t sec = 8;
    memcpy(gp(&v, seg), &sec, 8);
    ((uint32_t *)gp(&v, seg))[2] = 8;
    ((uint32_t *)gp(&v, seg))[3] = 0;
    uint64_t hdr = vd_alloc(&v, 16), st = vd_alloc(&v, 1);
    ((uint32_t *)gp(&v, hdr))[0] = 13;
    struct vseg s[3] = { { hdr, 16, false }, { seg, 16, false }, { st, 1, true } };
    vdrv_submit(&v, 0, s, 3, false);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    assert_int_equal(*(uint8_t *)gp(&v, st), 0);
    uint8_t z[4096] = { 0 }, got[4096];
    assert_int_equal(pread(f.fd, got, 4096, 8 * 512), 4096);
    assert_memory_equal(got, z, 4096);
    ((uint32_t *)gp(&v, hdr))[0] = 11;
    vdrv_submit(&v, 0, s, 3, false);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    assert_int_equal(*(uint8_t *)gp(&v, st), 0);

    /* many requests in flight at once */
    uint64_t bufs[16];
    for (int i = 0; i < 16; i++) {
        bufs[i] = vd_alloc(&v, 512);
        memset(gp(&v, bufs[i]), i + 1, 512);
    }
    uint64_t hdrs[16], sts[16];
    for (int i = 0; i < 8; i++) {
        hdrs[i] = vd_alloc(&v, 16);
        sts[i] = vd_alloc(&v, 1);
        uint32_t *h = gp(&v, hdrs[i]);
        h[0] = 1;
        uint64_t sct = 100 + i;
        memcpy(h + 2, &sct, 8);
        struct vseg ss[3] = { { hdrs[i], 16, false }, { bufs[i], 512, false }, { sts[i], 1, true } };
        vdrv_submit(&v, 0, ss, 3, false);
    }
    for (int i = 0; i < 8; i++)
        assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(*(uint8_t *)gp(&v, sts[i]), 0);
        uint8_t sec512[512];
        assert_int_equal(pread(f.fd, sec512, 512, (100 + i) * 512), 512);
        assert_memory_equal(sec512, gp(&v, bufs[i]), 512);
    }
    (void)direct_path;
    vdrv_close(&v);
    virtio_blk_destroy(b);
    close(f.fd);
    unlink(f.path);
}

/* With worker threads, notify serves a read the host page cache holds on
 * the notifying (vCPU) thread: it is complete when the notify write
 * returns. Everything else goes to a worker: writes, reads that would wait
 * for the disk (handed over after a RWF_NOWAIT attempt), large reads; a
 * reset waits for a handed-over request. */
static void test_blk_notify_inline(void **state)
{
    struct blk_fixture f;
    assert_int_equal(make_image(&f, 1 << 20), 0);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    struct virtio_blk *b = virtio_blk_create(img, NULL, 2);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_blk_dev(b)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    uint8_t file[4096];
    assert_int_equal(pread(f.fd, file, 4096, 8 * 512), 4096);   /* now in the page cache */
    uint64_t hdr = vd_alloc(&v, 16), st = vd_alloc(&v, 1), buf = vd_alloc(&v, 4096);
    uint32_t *h = gp(&v, hdr);
    h[0] = 0;
    h[1] = 0;
    uint64_t sct = 8;
    memcpy(h + 2, &sct, 8);
    *(uint8_t *)gp(&v, st) = 0xee;
    struct vseg sg[3] = { { hdr, 16, false }, { buf, 4096, true }, { st, 1, true } };
    uint16_t before = vdrv_used_idx(&v, 0);
    vdrv_submit(&v, 0, sg, 3, false);
    assert_int_equal(vdrv_used_idx(&v, 0), (uint16_t)(before + 1));   /* done inside notify */
    assert_int_equal(*(uint8_t *)gp(&v, st), 0);
    assert_memory_equal(gp(&v, buf), file, 4096);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    /* a write (through a worker), then the cached read sees it */
    uint64_t w = vd_alloc(&v, 4096);
    memset(gp(&v, w), 0x3c, 4096);
    assert_int_equal(blk_rw(&v, 1, 40, w, 4096, false, NULL), 0);
    assert_int_equal(blk_rw(&v, 0, 40, buf, 4096, false, NULL), 0);
    assert_memory_equal(gp(&v, buf), gp(&v, w), 4096);
    /* a 256 KiB read (larger than notify serves itself) */
    uint64_t big = vd_alloc(&v, 256 << 10);
    assert_int_equal(blk_rw(&v, 0, 512, big, 256 << 10, true, NULL), 0);
    uint8_t *exp = malloc(256 << 10);
    assert_int_equal(pread(f.fd, exp, 256 << 10, 512 * 512), 256 << 10);
    assert_memory_equal(gp(&v, big), exp, 256 << 10);
    /* reads the page cache no longer holds: handed over, still right */
    assert_int_equal(fdatasync(f.fd), 0);
    assert_int_equal(posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    assert_int_equal(blk_rw(&v, 0, 1024, buf, 4096, false, NULL), 0);
    assert_int_equal(pread(f.fd, file, 4096, 1024 * 512), 4096);
    assert_memory_equal(gp(&v, buf), file, 4096);
    /* a reset right after such a request: it completes first, no hang, no crash */
    assert_int_equal(posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    sct = 1536;
    memcpy(h + 2, &sct, 8);
    vdrv_submit(&v, 0, sg, 3, false);
    vd_wr(&v, 0x70, 0);
    assert_int_equal(vd_rd(&v, 0x70), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(blk_rw(&v, 0, 8, buf, 4096, false, NULL), 0);
    assert_int_equal(pread(f.fd, file, 4096, 8 * 512), 4096);
    assert_memory_equal(gp(&v, buf), file, 4096);
    free(exp);
    vdrv_close(&v);
    virtio_blk_destroy(b);
    close(f.fd);
    unlink(f.path);
}

static void test_blk_sync(void **state) { blk_session(0, false); }
static void test_blk_threads(void **state) { blk_session(3, false); }
static void test_blk_direct(void **state) { blk_session(2, true); }

static void test_blk_readonly_and_lock(void **state)
{
    struct blk_fixture f;
    assert_int_equal(make_image(&f, 64 << 10), 0);
    struct blk_image *img, *img2;
    assert_int_equal(blk_image_open(f.path, true, false, &img), 0);
    /* a second reader is fine, a writer is refused */
    assert_int_equal(blk_image_open(f.path, true, false, &img2), 0);
    blk_image_close(img2);
    assert_int_equal(blk_image_open(f.path, false, false, &img2), -EBUSY);
    struct virtio_blk *b = virtio_blk_create(img, NULL, 2);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_blk_dev(b)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(v.features & (1ULL << 5));              /* VIRTIO_BLK_F_RO */
    assert_false(v.features & (1ULL << 13));            /* no discard */
    uint64_t buf = vd_alloc(&v, 512);
    memset(gp(&v, buf), 0xab, 512);
    assert_int_equal(blk_rw(&v, 1, 0, buf, 512, false, NULL), 1);   /* IOERR */
    uint8_t sec[512];
    assert_int_equal(pread(f.fd, sec, 512, 0), 512);
    assert_int_not_equal(sec[0], 0xab);
    assert_int_equal(blk_rw(&v, 0, 0, buf, 512, false, NULL), 0);   /* reads work */
    assert_memory_equal(gp(&v, buf), sec, 512);
    vdrv_close(&v);
    virtio_blk_destroy(b);
    /* rw lock excludes everyone */
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    assert_int_equal(blk_image_open(f.path, true, false, &img2), -EBUSY);
    blk_image_close(img);
    assert_int_equal(blk_image_open("/nonexistent/disk.img", false, false, &img2), -ENOENT);
    close(f.fd);
    unlink(f.path);
}

/* The driver goes away right after its last completion, many times over:
 * the workers are then still on their way back to the ring. Closing must
 * stop them before the guest memory is unmapped (once, a worker faulted in
 * virtq_pop on the unmapped ring and the test process died). */
static void test_blk_close_after_completion(void **state)
{
    struct blk_fixture f;
    assert_int_equal(make_image(&f, 64 << 10), 0);
    for (int i = 0; i < 2000; i++) {
        struct blk_image *img;
        assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
        struct virtio_blk *b = virtio_blk_create(img, NULL, 2);
        struct vdrv v;
        assert_int_equal(vdrv_open(&v, virtio_blk_dev(b)), 0);
        assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
        uint64_t buf = vd_alloc(&v, 4096);
        assert_int_equal(blk_rw(&v, 1, (uint64_t)(i % 16) * 8, buf, 4096, false, NULL), 0);
        vdrv_close(&v);
        virtio_blk_destroy(b);
    }
    close(f.fd);
    unlink(f.path);
}

static void blk_proc(void *opaque) { virtio_blk_process(opaque); }

static void test_hostile_blk(void **state)
{
    struct blk_fixture f;
    assert_int_equal(make_image(&f, 64 << 10), 0);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    struct virtio_blk *b = virtio_blk_create(img, NULL, 2);
    check_hostile(virtio_blk_dev(b), NULL, NULL);
    virtio_blk_destroy(b);
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    b = virtio_blk_create(img, NULL, 0);
    check_hostile(virtio_blk_dev(b), blk_proc, b);
    /* a request with no writable status byte / short header: error, no crash */
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_blk_dev(b)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t hdr = vd_alloc(&v, 16), st = vd_alloc(&v, 1);
    struct vseg s1[2] = { { hdr, 4, false }, { st, 1, true } };
    vdrv_submit(&v, 0, s1, 2, false);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    assert_int_equal(*(uint8_t *)gp(&v, st), 1);
    struct vseg s2[1] = { { hdr, 16, false } };
    vdrv_submit(&v, 0, s2, 1, false);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    /* the other device model is unaffected: rng still serves */
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v2;
    assert_int_equal(vdrv_open(&v2, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v2, ALL_FEATURES, 1, 8) & VIRTIO_STATUS_DRIVER_OK);
    struct vseg s3 = { vd_alloc(&v2, 8), 8, true };
    vdrv_submit(&v2, 0, &s3, 1, false);
    assert_int_equal(vdrv_wait_used(&v2, 0, NULL, NULL), 0);
    vdrv_close(&v2);
    virtio_rng_destroy(r);
    vdrv_close(&v);
    virtio_blk_destroy(b);
    close(f.fd);
    unlink(f.path);
}


/* ---- virtio-net ---- */
struct fake_be { struct net_backend be; uint8_t last[2048]; size_t last_len; int sent, rx_ready; };

static int fake_send(struct net_backend *be, const uint8_t *f, size_t len)
{
    struct fake_be *fb = (struct fake_be *)be;
    memcpy(fb->last, f, MIN(len, sizeof(fb->last)));
    fb->last_len = len;
    fb->sent++;
    return 0;
}
static void fake_rx_ready(struct net_backend *be) { ((struct fake_be *)be)->rx_ready++; }
static void fake_destroy(struct net_backend *be) {}

static void test_net_fake_backend(void **state)
{
    struct fake_be fb = { .be = { .send = fake_send, .rx_ready = fake_rx_ready, .destroy = fake_destroy } };
    static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    struct virtio_net *n = virtio_net_create(mac, &fb.be, NULL);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_net_dev(n)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 2, 16) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(v.features & (1ULL << 5));
    assert_int_equal(vd_cfg(&v, 5, 1), 3);
    assert_int_equal(vd_cfg(&v, 6, 2), 1);        /* link up */
    /* transmit: header + frame split over two descriptors */
    uint64_t h = vd_alloc(&v, 12), f = vd_alloc(&v, 60);
    for (int i = 0; i < 60; i++)
        ((uint8_t *)gp(&v, f))[i] = (uint8_t)i;
    struct vseg tx[2] = { { h, 12, false }, { f, 60, false } };
    vdrv_submit(&v, 1, tx, 2, false);
    assert_int_equal(vdrv_wait_used(&v, 1, NULL, NULL), 0);
    assert_int_equal(fb.sent, 1);
    assert_int_equal(fb.last_len, 60);
    assert_memory_equal(fb.last, gp(&v, f), 60);
    /* a runt transmit is dropped, not sent */
    struct vseg runt = { h, 8, false };
    vdrv_submit(&v, 1, &runt, 1, false);
    assert_int_equal(vdrv_wait_used(&v, 1, NULL, NULL), 0);
    assert_int_equal(fb.sent, 1);
    /* receive: no buffer -> 0; then a buffer */
    uint8_t frame[100];
    for (int i = 0; i < 100; i++)
        frame[i] = (uint8_t)(0xa0 + i);
    /* no buffer yet: the frame waits in the backlog, delivered on the rx kick */
    assert_int_equal(virtio_net_receive(n, frame, 100), 100);
    assert_int_equal(vdrv_used_idx(&v, 0), 0);
    uint64_t rb = vd_alloc(&v, 1526);
    struct vseg rx = { rb, 1526, true };
    vdrv_submit(&v, 0, &rx, 1, false);
    uint32_t len;
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, &len), 0);
    assert_int_equal(len, 112);
    assert_int_equal(((uint8_t *)gp(&v, rb))[10], 1);   /* num_buffers */
    assert_memory_equal((uint8_t *)gp(&v, rb) + 12, frame, 100);
    /* with a buffer posted, straight in */
    uint64_t rb2 = vd_alloc(&v, 1526);
    struct vseg rx2 = { rb2, 1526, true };
    vdrv_submit(&v, 0, &rx2, 1, false);
    frame[0] = 0x11;
    assert_int_equal(virtio_net_receive(n, frame, 60), 60);
    assert_int_equal(vdrv_wait_used(&v, 0, NULL, &len), 0);
    assert_int_equal(len, 72);
    assert_memory_equal((uint8_t *)gp(&v, rb2) + 12, frame, 60);
    /* the backlog is bounded: once full, frames are refused (tap then pauses) */
    size_t accepted = 0;
    for (int i = 0; i < 200; i++)
        accepted += virtio_net_receive(n, frame, 60) ? 1 : 0;
    assert_true(accepted > 0 && accepted < 200);
    assert_int_equal(fb.rx_ready, 2);   /* each rx kick with room tells the backend */
    vdrv_close(&v);
    virtio_net_destroy(n);
}

/* A pause that comes while a frame taken from the TX ring is being handed
 * to the backend (the device's lock dropped) returns only once it has
 * been: a replication checkpoint saves the ring's state and then marks how
 * far the held output goes, and a frame the ring had already given up
 * but the backend got after the mark was in neither epoch's output (lost
 * at a failover to that epoch). The backend's send starts a pause on
 * another thread and waits up to 1 s for it to return: without the wait
 * in net_pause it returns at once. */
struct slow_be {
    struct net_backend be;
    struct virtio_dev *dev;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t pauser;
    bool pause_returned, returned_during_send;
    int sent;
};

static void *pause_thread(void *arg)
{
    struct slow_be *sb = arg;
    virtio_dev_pause(sb->dev);
    pthread_mutex_lock(&sb->lock);
    sb->pause_returned = true;
    pthread_cond_broadcast(&sb->cond);
    pthread_mutex_unlock(&sb->lock);
    return NULL;
}

static int slow_send(struct net_backend *be, const uint8_t *f, size_t len)
{
    struct slow_be *sb = (struct slow_be *)be;
    assert_int_equal(pthread_create(&sb->pauser, NULL, pause_thread, sb), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&sb->lock);
    while (!sb->pause_returned && pthread_cond_timedwait(&sb->cond, &sb->lock, &until) == 0)
        ;
    sb->returned_during_send = sb->pause_returned;
    sb->sent++;
    pthread_mutex_unlock(&sb->lock);
    return 0;
}

static void test_net_pause_waits_for_send(void **state)
{
    struct slow_be sb = { .be = { .send = slow_send, .destroy = fake_destroy } };
    pthread_mutex_init(&sb.lock, NULL);
    pthread_cond_init(&sb.cond, NULL);
    static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    struct virtio_net *n = virtio_net_create(mac, &sb.be, NULL);
    sb.dev = virtio_net_dev(n);
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, sb.dev), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 2, 16) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t h = vd_alloc(&v, 12), f = vd_alloc(&v, 60);
    struct vseg tx[2] = { { h, 12, false }, { f, 60, false } };
    vdrv_submit(&v, 1, tx, 2, false);       /* no loop: sent on this thread, in the notify */
    assert_int_equal(vdrv_wait_used(&v, 1, NULL, NULL), 0);
    pthread_join(sb.pauser, NULL);
    assert_true(sb.pause_returned);
    assert_int_equal(sb.sent, 1);
    assert_false(sb.returned_during_send);
    virtio_dev_resume(sb.dev);
    vdrv_close(&v);
    virtio_net_destroy(n);
    pthread_cond_destroy(&sb.cond);
    pthread_mutex_destroy(&sb.lock);
}

static void test_hostile_net_console(void **state)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
    struct fake_be fb = { .be = { .send = fake_send, .rx_ready = fake_rx_ready, .destroy = fake_destroy } };
    struct virtio_net *n = virtio_net_create(mac, &fb.be, NULL);
    /* hostile rx rings are found when a frame arrives */
    struct virtio_dev *d = virtio_net_dev(n);
    for (int h = 0; h < H_COUNT; h++) {
        struct vdrv v;
        assert_int_equal(vdrv_open(&v, d), 0);
        assert_true(vdrv_init(&v, ALL_FEATURES, 2, 8) & VIRTIO_STATUS_DRIVER_OK);
        make_hostile(&v, h);
        uint8_t frame[64] = { 0 };
        virtio_net_receive(n, frame, 64);
        assert_true(vd_rd(&v, 0x70) & VIRTIO_STATUS_NEEDS_RESET);
        /* the transmit queue still works */
        int sent = fb.sent;
        uint64_t t = vd_alloc(&v, 80);
        struct vseg tx = { t, 80, false };
        vdrv_submit(&v, 1, &tx, 1, false);
        assert_int_equal(vdrv_wait_used(&v, 1, NULL, NULL), 0);
        assert_int_equal(fb.sent, sent + 1);
        vdrv_close(&v);
    }
    virtio_net_destroy(n);
}

struct con_sink { char buf[256]; size_t len; int rx_ready; };
static void con_rx_ready(void *opaque) { ((struct con_sink *)opaque)->rx_ready++; }
static void con_write(void *opaque, const uint8_t *b, size_t len)
{
    struct con_sink *s = opaque;
    memcpy(s->buf + s->len, b, MIN(len, sizeof(s->buf) - s->len));
    s->len += MIN(len, sizeof(s->buf) - s->len);
}

static void con_feed(void *opaque)
{
    assert_int_equal(virtio_console_input(opaque, (const uint8_t *)"x", 1), 0);
}

static void test_console(void **state)
{
    struct con_sink sink = { 0 };
    struct virtio_console *c = virtio_console_create((struct virtio_console_port){ con_write, con_rx_ready, &sink });
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_console_dev(c)), 0);
    assert_int_equal(vd_rd(&v, 8), VIRTIO_ID_CONSOLE);
    assert_true(vdrv_init(&v, ALL_FEATURES, 2, 8) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t a = vd_alloc(&v, 6), b = vd_alloc(&v, 7);
    memcpy(gp(&v, a), "hello ", 6);
    memcpy(gp(&v, b), "world\n", 7);
    struct vseg tx[2] = { { a, 6, false }, { b, 6, false } };
    vdrv_submit(&v, 1, tx, 2, true);
    assert_int_equal(vdrv_wait_used(&v, 1, NULL, NULL), 0);
    assert_int_equal(sink.len, 12);
    assert_memory_equal(sink.buf, "hello world\n", 12);
    /* input: two 4-byte buffers take 8 of 10 bytes */
    uint64_t r1 = vd_alloc(&v, 4), r2 = vd_alloc(&v, 4);
    struct vseg s1 = { r1, 4, true }, s2 = { r2, 4, true };
    vdrv_submit(&v, 0, &s1, 1, false);
    vdrv_submit(&v, 0, &s2, 1, false);
    assert_int_equal(sink.rx_ready, 2);
    assert_int_equal(virtio_console_input(c, (const uint8_t *)"0123456789", 10), 8);
    assert_memory_equal(gp(&v, r1), "0123", 4);
    assert_memory_equal(gp(&v, r2), "4567", 4);
    vdrv_close(&v);
    check_hostile(virtio_console_dev(c), con_feed, c);   /* queue 0 is the rx queue: checked on input */
    virtio_console_destroy(c);
}

/* ---- event loop ---- */
static void count_cb(void *opaque) { (*(int *)opaque)++; }

struct rearm_state { struct loop_timer *self, *victim; int n; };
static void rearm_cb(void *opaque)
{
    struct rearm_state *r = opaque;
    r->n++;
    if (r->victim) {
        loop_timer_free(r->victim);
        r->victim = NULL;
    }
    loop_timer_mod(r->self, time_ms() - 1);
}

static void test_loop(void **state)
{
    struct loop *l = loop_new();
    assert_non_null(l);
    int fired = 0, ev = 0;
    struct loop_timer *t = loop_timer_new(l, count_cb, &fired);
    loop_timer_mod(t, time_ms() + 20);
    uint64_t t0 = time_ms();
    while (!fired && time_ms() - t0 < 2000)
        loop_run_once(l, 100);
    assert_int_equal(fired, 1);
    assert_true(time_ms() - t0 >= 19);
    struct loop_event *e = loop_event_new(l, count_cb, &ev);
    loop_event_notify(e);
    loop_event_notify(e);
    loop_run_once(l, 100);
    assert_int_equal(ev, 1);        /* coalesced */
    loop_timer_del(t);
    loop_run_once(l, 30);
    assert_int_equal(fired, 1);
    loop_timer_free(t);
    loop_event_free(e);
    /* a callback that frees another expired timer and re-arms itself */
    struct rearm_state ra = { 0 };
    ra.victim = loop_timer_new(l, count_cb, &fired);
    ra.self = loop_timer_new(l, rearm_cb, &ra);     /* newest first: runs before the victim */
    loop_timer_mod(ra.victim, time_ms());
    loop_timer_mod(ra.self, time_ms());
    for (int i = 0; i < 3; i++)
        loop_run_once(l, 50);
    assert_true(ra.n >= 2);          /* re-armed into the past: once per round */
    assert_int_equal(fired, 1);      /* the victim was freed before its turn: never ran */
    loop_timer_free(ra.self);
    loop_free(l);
}

/* ---- libslirp end to end: ARP and a host forward ---- */
static void eth_arp_request(uint8_t *f, const uint8_t mac[6], const uint8_t sip[4], const uint8_t tip[4])
{
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08; f[13] = 0x06;
    f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, sip, 4);
    memcpy(f + 38, tip, 4);
}

static void test_slirp(void **state)
{
    struct loop *l = loop_new();
    struct net_hostfwd fwd = { false, 0, 80 };
    /* find a free host port */
    for (uint16_t p = 20000 + getpid() % 20000; ; p++) {
        fwd.host_port = p;
        struct net_backend *be = net_slirp_create(l, &fwd, 1, false, false, 0);
        if (be) {
            static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
            struct virtio_net *n = virtio_net_create(mac, be, l);
            struct vdrv v;
            assert_int_equal(vdrv_open(&v, virtio_net_dev(n)), 0);
            assert_true(vdrv_init(&v, ALL_FEATURES, 2, 16) & VIRTIO_STATUS_DRIVER_OK);
            uint64_t rb[4];
            for (int i = 0; i < 4; i++) {
                rb[i] = vd_alloc(&v, 1526);
                struct vseg rx = { rb[i], 1526, true };
                vdrv_submit(&v, 0, &rx, 1, false);
            }
            assert_int_equal(loop_start(l), 0);
            uint64_t tx = vd_alloc(&v, 72);
            static const uint8_t sip[4] = { 10, 0, 2, 15 }, tip[4] = { 10, 0, 2, 2 };
            uint8_t arpf[60];
            eth_arp_request(arpf, mac, sip, tip);
            mem_write(&v.mem, tx + 12, arpf, 60);
            struct vseg s = { tx, 72, false };
            vdrv_submit(&v, 1, &s, 1, false);
            uint32_t len;
            assert_int_equal(vdrv_wait_used(&v, 0, NULL, &len), 0);
            const uint8_t *rf = (uint8_t *)gp(&v, rb[0]) + 12;
            assert_true(len >= 12 + 42);
            assert_int_equal(rf[12], 0x08);
            assert_int_equal(rf[13], 0x06);
            assert_int_equal(rf[21], 2);                /* ARP reply */
            assert_memory_equal(rf + 28, tip, 4);       /* from 10.0.2.2 */
            assert_memory_equal(rf, mac, 6);
            /* the host connects to the forwarded port: slirp sends the guest a SYN */
            int sk = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p) };
            sa.sin_addr.s_addr = htonl(0x7f000001);
            connect(sk, (struct sockaddr *)&sa, sizeof(sa));
            assert_int_equal(vdrv_wait_used(&v, 0, NULL, &len), 0);
            rf = (uint8_t *)gp(&v, rb[1]) + 12;
            bool syn = rf[12] == 0x08 && rf[13] == 0x00 && rf[23] == 6 && rf[14 + 20 + 2] == 0 &&
                       rf[14 + 20 + 3] == 80 && (rf[14 + 20 + 13] & 0x02);
            bool arp = rf[12] == 0x08 && rf[13] == 0x06 && !memcmp(rf + 38, sip, 4);
            assert_true(syn || arp);
            close(sk);
            loop_stop(l);
            vdrv_close(&v);
            virtio_net_destroy(n);
            net_backend_destroy(be);
            break;
        }
        assert_true(p < 20000 + getpid() % 20000 + 50);
    }
    loop_free(l);
}

static void test_tap(void **state)
{
    if (access("/dev/net/tun", R_OK | W_OK) != 0 || geteuid() != 0) {
        skip();
        return;
    }
    struct loop *l = loop_new();
    char name[16];
    snprintf(name, sizeof(name), "vsl%d", (int)(getpid() % 100000));
    struct net_backend *be = net_tap_create(l, name, 0);
    if (!be) {
        loop_free(l);
        skip();
        return;
    }
    assert_true(if_nametoindex(name) > 0);
    net_backend_destroy(be);
    loop_free(l);
}


static struct irq_line board_irq(void *opaque, unsigned i)
{
    return (struct irq_line){ NULL, opaque, i };
}

static void test_board(void **state)
{
    struct blk_fixture f1, f2;
    assert_int_equal(make_image(&f1, 64 << 10), 0);
    assert_int_equal(make_image(&f2, 128 << 10), 0);
    struct virtio_options o = { 0 };
    char spec[128];
    snprintf(spec, sizeof(spec), "%s,id=first", f1.path);
    assert_int_equal(virtio_options_add(&o, "disk", spec), 1);
    snprintf(spec, sizeof(spec), "%s,readonly", f2.path);
    assert_int_equal(virtio_options_add(&o, "disk", spec), 1);
    assert_int_equal(virtio_options_add(&o, "rng", NULL), 1);
    assert_int_equal(virtio_options_add(&o, "console", NULL), 1);
    assert_int_equal(virtio_options_add(&o, "memory", "1G"), 0);
    assert_int_equal(virtio_options_add(&o, "disk", "x,cache=bogus"), -EINVAL);
    assert_int_equal(virtio_options_add(&o, "net", "user,hostfwd=nope"), -EINVAL);
    struct guest_mem mem;
    struct bus bus;
    mem_init(&mem);
    assert_int_equal(mem_add_ram(&mem, VD_RAM, 1 << 20, 0), 0);
    bus_init(&bus);
    struct virtio_host con = { 0 };
    struct virtio_board *b = virtio_board_create(&o, &con, &bus, &mem, 0x10001000, 0x1000, board_irq, NULL);
    assert_non_null(b);
    assert_int_equal(virtio_board_count(b), 4);
    static const uint32_t ids[4] = { VIRTIO_ID_BLOCK, VIRTIO_ID_BLOCK, VIRTIO_ID_RNG, VIRTIO_ID_CONSOLE };
    for (unsigned i = 0; i < 4; i++) {
        uint64_t base, val = 0;
        unsigned irq;
        virtio_board_slot(b, i, &base, &irq);
        assert_int_equal(base, 0x10001000 + i * 0x1000);
        assert_int_equal(irq, i);
        bus_access(&bus, base + 8, &val, 4, false);
        assert_int_equal(val, ids[i]);
    }
    assert_true(virtio_board_has_input(b));
    assert_int_equal(virtio_board_nblock(b), 2);
    struct virtio_block_info bi;
    assert_int_equal(virtio_board_block_info(b, 0, &bi), 0);
    assert_string_equal(bi.id, "first");
    assert_string_equal(bi.file, f1.path);
    assert_false(bi.readonly);
    assert_int_equal(virtio_board_block_info(b, 1, &bi), 0);
    assert_string_equal(bi.id, "vdb");
    assert_true(bi.readonly);
    assert_int_equal(virtio_board_block_info(b, 2, &bi), -ENOENT);
    char cl[256];
    int cll = virtio_board_cmdline(b, 5, cl, sizeof(cl));
    assert_int_equal(cll, (int)strlen(cl));
    assert_string_equal(cl, "virtio_mmio.device=512@0x10001000:5 virtio_mmio.device=512@0x10002000:6 "
                            "virtio_mmio.device=512@0x10003000:7 virtio_mmio.device=512@0x10004000:8");
    assert_int_equal(virtio_board_cmdline(b, 5, cl, 40), -ENOSPC);
    /* the images are locked while the board lives */
    struct blk_image *img;
    assert_int_equal(blk_image_open(f1.path, true, false, &img), -EBUSY);
    virtio_board_destroy(b);
    bus_destroy(&bus);
    /* same image twice: refused */
    struct virtio_options o2 = { 0 };
    assert_int_equal(virtio_options_add(&o2, "disk", f1.path), 1);
    assert_int_equal(virtio_options_add(&o2, "disk", f1.path), -EINVAL);
    assert_int_equal(o2.n, 1);
    virtio_options_free(&o2);
    virtio_options_free(&o);
    mem_destroy(&mem);
    close(f1.fd); unlink(f1.path);
    close(f2.fd); unlink(f2.path);
}


static void test_save_load(void **state)
{
    struct virtio_rng *r = virtio_rng_create();
    struct vdrv v;
    assert_int_equal(vdrv_open(&v, virtio_rng_dev(r)), 0);
    assert_true(vdrv_init(&v, ALL_FEATURES, 1, 8) & VIRTIO_STATUS_DRIVER_OK);
    struct vseg s = { vd_alloc(&v, 16), 16, true };
    for (int i = 0; i < 3; i++) {
        vdrv_submit(&v, 0, &s, 1, false);
        assert_int_equal(vdrv_wait_used(&v, 0, NULL, NULL), 0);
    }
    struct virtio_dev_state st;
    virtio_dev_save(virtio_rng_dev(r), &st);
    assert_int_equal(st.vq[0].last_avail, 3);
    /* a fresh device on the same memory takes over where the first left off */
    struct virtio_rng *r2 = virtio_rng_create();
    struct virtio_mmio *m2 = virtio_mmio_create(NULL, 0, (struct irq_line){ vdrv_irq, &v, 1 }, &v.mem,
                                                virtio_rng_dev(r2));
    assert_int_equal(virtio_dev_load(virtio_rng_dev(r2), &st), 0);
    struct virtio_dev *d2 = virtio_rng_dev(r2);
    assert_true(virtio_running(d2));
    assert_int_equal(d2->vq[0].used_idx, 3);
    /* wrong device kind and ring outside RAM are refused */
    struct virtio_console *c = virtio_console_create((struct virtio_console_port){ 0 });
    assert_int_equal(virtio_dev_load(virtio_console_dev(c), &st), -EINVAL);
    virtio_console_destroy(c);
    st.vq[0].desc_addr = 0x1000;
    assert_int_equal(virtio_dev_load(d2, &st), -EINVAL);
    virtio_mmio_destroy(m2);
    virtio_rng_destroy(r2);
    vdrv_close(&v);
    virtio_rng_destroy(r);
}

static void test_parse(void **state)
{
    struct disk_opts d;
    assert_int_equal(virtio_parse_disk("a.img", &d), 0);
    assert_string_equal(d.path, "a.img");
    assert_false(d.readonly);
    assert_int_equal(virtio_parse_disk("/x/b.img,readonly,cache=none,id=root", &d), 0);
    assert_true(d.readonly && d.direct);
    assert_string_equal(d.id, "root");
    assert_int_equal(virtio_parse_disk("a.img,cache=fast", &d), -EINVAL);
    assert_int_equal(virtio_parse_disk("a.img,bogus", &d), -EINVAL);
    assert_int_equal(virtio_parse_disk("a.img,id=123456789012345678901", &d), -EINVAL);
    assert_int_equal(virtio_parse_disk("", &d), -EINVAL);
    assert_int_equal(virtio_parse_disk("path=", &d), -EINVAL);     /* found by fuzz_virtio_opts */
    assert_int_equal(virtio_parse_disk(",readonly", &d), -EINVAL);

    struct net_opts n;
    assert_int_equal(virtio_parse_net("user", &n), 0);
    assert_int_equal(n.kind, NET_USER);
    assert_int_equal(virtio_parse_net("user,hostfwd=tcp::8080-:80,hostfwd=udp:127.0.0.1:5353-:53,mac=52:54:00:aa:bb:cc", &n), 0);
    assert_int_equal(n.nfwd, 2);
    assert_int_equal(n.fwd[0].host_port, 8080);
    assert_int_equal(n.fwd[0].guest_port, 80);
    assert_true(n.fwd[1].udp);
    assert_int_equal(n.mac[5], 0xcc);
    assert_int_equal(virtio_parse_net("tap,ifname=vt0", &n), 0);
    assert_string_equal(n.ifname, "vt0");
    assert_int_equal(virtio_parse_net("tap", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("bridge", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,hostfwd=tcp::0-:80", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,hostfwd=tcp::80:80", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,hostfwd=tcp:8.8.8.8:80-:80", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,mac=01:00:00:00:00:01", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,mac=52:54:00:aa:bb", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("tap,ifname=a/b", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user", &n), 0);
    assert_false(n.restrict_net);
    assert_false(n.no_host_loopback);
    assert_int_equal(virtio_parse_net("user,restrict=on,host-loopback=off", &n), 0);
    assert_true(n.restrict_net);
    assert_true(n.no_host_loopback);
    assert_int_equal(virtio_parse_net("user,restrict=off,host-loopback=on", &n), 0);
    assert_false(n.restrict_net);
    assert_false(n.no_host_loopback);
    assert_int_equal(virtio_parse_net("user,restrict=maybe", &n), -EINVAL);
    /* vhost-net: QEMU's tap options vhost= and vhostdev= */
    assert_int_equal(virtio_parse_net("tap,ifname=vt0", &n), 0);
    assert_false(n.vhost);
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhost=on", &n), 0);
    assert_true(n.vhost);
    assert_string_equal(n.vhostdev, "");
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhost=on,vhostdev=/dev/vhost-net2", &n), 0);
    assert_string_equal(n.vhostdev, "/dev/vhost-net2");
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhost=off", &n), 0);
    assert_false(n.vhost);
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhost=maybe", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhostdev=/dev/vhost-net", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,vhost=on,vhostdev=", &n), -EINVAL);
    assert_int_equal(virtio_parse_net("user,vhost=on", &n), -EINVAL);     /* vhost-net needs a tap */
    assert_int_equal(virtio_parse_net("tap,ifname=vt0,restrict=on", &n), -EINVAL);
}

/* vessel features lists the kind table: every row named, NULL past the end,
 * and each row is what its option builds. */
/* vhost-net's offloads: the tap's flags follow what the guest accepted,
 * TSO and ECN only with the checksum (the tap refuses TSO without it). */
static void test_tap_offloads(void **state)
{
    (void)state;
    const uint64_t csum = 1ULL << 1, tso4 = 1ULL << 7, tso6 = 1ULL << 8, ecn = 1ULL << 9;
    assert_int_equal(vhost_net_tap_offloads(0), 0);
    assert_int_equal(vhost_net_tap_offloads(VHOST_NET_OFFLOADS),
                     TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
    assert_int_equal(vhost_net_tap_offloads(csum), TUN_F_CSUM);
    assert_int_equal(vhost_net_tap_offloads(csum | tso6), TUN_F_CSUM | TUN_F_TSO6);
    assert_int_equal(vhost_net_tap_offloads(tso4 | tso6 | ecn), 0);        /* no GUEST_CSUM */
    assert_int_equal(vhost_net_tap_offloads(csum | ecn), TUN_F_CSUM);      /* ECN without TSO */
    /* the host-side bits (CSUM, HOST_TSO*) are the guest's to use, not the tap's toward it */
    assert_int_equal(vhost_net_tap_offloads((1ULL << 0) | (1ULL << 11) | (1ULL << 12)), 0);
}

static void test_kind_table(void **state)
{
    (void)state;
    const struct virtio_kind *k;
    unsigned n = 0;
    for (; (k = virtio_kind_at(n)); n++) {
        assert_non_null(k->device);
        assert_int_equal(strncmp(k->device, "virtio-", 7), 0);
        assert_non_null(k->option);
        assert_true(k->max >= 1);
    }
    assert_int_equal(n, 5);
    assert_ptr_equal(virtio_kind_at(0), &virtio_blk_kind);
    assert_string_equal(virtio_blk_kind.device, "virtio-blk");
    assert_string_equal(virtio_net_kind.device, "virtio-net");
    assert_null(virtio_kind_at(n));
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmio_ids),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_rng_indirect),
        cmocka_unit_test(test_rng_no_event_idx),
        cmocka_unit_test(test_pop_logs_avail_event),
        cmocka_unit_test(test_event_idx_suppresses),
        cmocka_unit_test(test_hostile_rng),
        cmocka_unit_test(test_blk_sync),
        cmocka_unit_test(test_blk_threads),
        cmocka_unit_test(test_blk_direct),
        cmocka_unit_test(test_blk_notify_inline),
        cmocka_unit_test(test_blk_readonly_and_lock),
        cmocka_unit_test(test_blk_close_after_completion),
        cmocka_unit_test(test_hostile_blk),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_net_fake_backend),
        cmocka_unit_test(test_hostile_net_console),
        cmocka_unit_test(test_console),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_slirp),
        cmocka_unit_test(test_net_pause_waits_for_send),
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_board),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_tap_offloads),
        cmocka_unit_test(test_kind_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

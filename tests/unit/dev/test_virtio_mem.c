/* virtio-mem driven by a fake guest driver (vdrv.h): the configuration
 * space, PLUG up to the requested size (then NACK), STATE, UNPLUG (the
 * host discards the blocks), UNPLUG_ALL, requested-size changes with a
 * config interrupt, the system reset, and a hostile driver (ranges outside
 * the region, unaligned, zero blocks, double plug and unplug, unknown
 * types, short buffers): the spec's VIRTIO_MEM_RESP_ERROR, nothing else
 * changes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "base/base.h"
#include "vdrv.h"

#define REGION 0x100000000ULL
#define BS (2ULL << 20)
#define NBLK 64ULL

struct host { uint64_t discarded, last_gpa, changes, plugged; };
static void h_discard(void *o, uint64_t gpa, uint64_t len) { struct host *h = o; h->discarded += len; h->last_gpa = gpa; }
static void h_changed(void *o, uint64_t plugged) { struct host *h = o; h->changes++; h->plugged = plugged; }

struct fx {
    struct virtio_mem *m;
    struct vdrv v;
    struct host h;
    uint64_t req, resp;
};

static void fx_open(struct fx *f, uint64_t requested)
{
    memset(f, 0, sizeof(*f));
    struct virtio_mem_opts o = { .id = "vmem0", .addr = REGION, .size = NBLK * BS, .block_size = BS,
                                 .requested = requested };
    struct virtio_mem_host h = { h_discard, h_changed, &f->h };
    f->m = virtio_mem_create(&o, &h);
    assert_non_null(f->m);
    assert_int_equal(vdrv_open(&f->v, virtio_mem_dev(f->m)), 0);
    assert_true(vdrv_init(&f->v, 1ULL << VIRTIO_F_VERSION_1, 1, 16) & VIRTIO_STATUS_DRIVER_OK);
    f->req = vd_alloc(&f->v, 64);
    f->resp = vd_alloc(&f->v, 64);
}
static void fx_close(struct fx *f)
{
    vdrv_close(&f->v);
    virtio_mem_destroy(f->m);
}

/* One request; the response type (state in *state), or -1 for none. */
static int req(struct fx *f, uint16_t type, uint64_t addr, uint16_t n, uint32_t req_len, uint32_t resp_len,
               uint16_t *state)
{
    uint8_t r[24] = { 0 };
    r[0] = (uint8_t)type;
    r[1] = (uint8_t)(type >> 8);
    for (int i = 0; i < 8; i++)
        r[8 + i] = (uint8_t)(addr >> (8 * i));
    r[16] = (uint8_t)n;
    r[17] = (uint8_t)(n >> 8);
    memcpy(gp(&f->v, f->req), r, sizeof(r));
    memset(gp(&f->v, f->resp), 0xee, 16);
    struct vseg s[2] = { { f->req, req_len, false }, { f->resp, resp_len, true } };
    vdrv_submit(&f->v, 0, s, 2, false);
    uint32_t id, len;
    if (vdrv_wait_used(&f->v, 0, &id, &len) < 0)
        return -1;
    const uint8_t *p = gp(&f->v, f->resp);
    if (state)
        *state = (uint16_t)(p[8] | p[9] << 8);
    return len >= 2 ? p[0] | p[1] << 8 : -1;
}
#define OK(f, t, a, n) req(f, t, a, n, 24, 10, NULL)

static uint64_t cfg64(struct fx *f, unsigned off) { return vd_cfg(&f->v, off, 4) | vd_cfg(&f->v, off + 4, 4) << 32; }

static void test_config_and_plug(void **state)
{
    struct fx f;
    fx_open(&f, 4 * BS);
    assert_int_equal(cfg64(&f, 0), BS);
    assert_int_equal(cfg64(&f, 16), REGION);
    assert_int_equal(cfg64(&f, 24), NBLK * BS);
    assert_int_equal(cfg64(&f, 32), NBLK * BS);
    assert_int_equal(cfg64(&f, 40), 0);
    assert_int_equal(cfg64(&f, 48), 4 * BS);
    assert_int_equal(OK(&f, 0, REGION, 3), 0);                  /* PLUG 3: ACK */
    assert_int_equal(cfg64(&f, 40), 3 * BS);
    assert_int_equal(OK(&f, 0, REGION + 3 * BS, 2), 1);         /* beyond requested: NACK */
    assert_int_equal(OK(&f, 0, REGION + 10 * BS, 1), 0);
    uint16_t st;
    assert_int_equal(req(&f, 3, REGION, 3, 24, 10, &st), 0);
    assert_int_equal(st, 0);                                    /* PLUGGED */
    assert_int_equal(req(&f, 3, REGION, 4, 24, 10, &st), 0);
    assert_int_equal(st, 2);                                    /* MIXED */
    assert_int_equal(req(&f, 3, REGION + 20 * BS, 4, 24, 10, &st), 0);
    assert_int_equal(st, 1);                                    /* UNPLUGGED */
    assert_int_equal(f.h.plugged, 4 * BS);
    /* unplug one: given back to the host */
    assert_int_equal(OK(&f, 1, REGION + BS, 1), 0);
    assert_int_equal(f.h.discarded, BS);
    assert_int_equal(f.h.last_gpa, REGION + BS);
    assert_int_equal(cfg64(&f, 40), 3 * BS);
    /* the host asks for less: a config interrupt, the new size there */
    vd_wr(&f.v, 0x64, vd_rd(&f.v, 0x60));          /* acknowledge what is pending */
    assert_int_equal(vd_rd(&f.v, 0x60) & 2, 0);
    int raises = f.v.irq_raises;
    char err[200];
    assert_int_equal(virtio_mem_set_requested(f.m, 2 * BS, err, sizeof(err)), 0);
    assert_true(vd_rd(&f.v, 0x60) & 2);                 /* a configuration change interrupt */
    assert_true(f.v.irq_raises > raises);
    assert_int_equal(cfg64(&f, 48), 2 * BS);
    assert_int_equal(virtio_mem_set_requested(f.m, 3 * BS + 4096, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "requested-size 6295552"));
    assert_int_equal(virtio_mem_set_requested(f.m, (NBLK + 1) * BS, err, sizeof(err)), -EINVAL);
    /* UNPLUG_ALL */
    assert_int_equal(OK(&f, 2, 0, 0), 0);
    assert_int_equal(cfg64(&f, 40), 0);
    assert_int_equal(f.h.discarded, 4 * BS);
    assert_int_equal(f.h.plugged, 0);
    struct virtio_mem_info in;
    virtio_mem_info(f.m, &in);
    assert_int_equal(in.plugged, 0);
    assert_int_equal(in.responses[0], 7);
    assert_int_equal(in.responses[1], 1);
    /* system reset: everything unplugged and discarded */
    assert_int_equal(OK(&f, 0, REGION, 2), 0);
    virtio_mem_reset(f.m);
    virtio_mem_info(f.m, &in);
    assert_int_equal(in.plugged, 0);
    assert_int_equal(f.h.discarded, 6 * BS);
    fx_close(&f);
}

static void test_hostile(void **state)
{
    struct fx f;
    fx_open(&f, NBLK * BS);
    assert_int_equal(OK(&f, 0, REGION - BS, 1), 3);             /* below the region */
    assert_int_equal(OK(&f, 0, REGION + NBLK * BS, 1), 3);      /* past it */
    assert_int_equal(OK(&f, 0, REGION + (NBLK - 1) * BS, 2), 3);/* straddling its end */
    assert_int_equal(OK(&f, 0, REGION + 4096, 1), 3);           /* not block aligned */
    assert_int_equal(OK(&f, 0, REGION, 0), 3);                  /* zero blocks */
    assert_int_equal(OK(&f, 0, ~0ULL - BS + 1, 0xffff), 3);     /* wrapping */
    assert_int_equal(OK(&f, 1, REGION, 1), 3);                  /* unplug of an unplugged block */
    assert_int_equal(OK(&f, 0, REGION, 2), 0);
    assert_int_equal(OK(&f, 0, REGION + BS, 2), 3);             /* plug of a plugged one */
    assert_int_equal(OK(&f, 1, REGION, 3), 3);                  /* partly plugged */
    assert_int_equal(OK(&f, 7, REGION, 1), 3);                  /* unknown type */
    assert_int_equal(OK(&f, 3, REGION + NBLK * BS, 1), 3);      /* state outside */
    assert_int_equal(req(&f, 0, REGION + 8 * BS, 1, 16, 10, NULL), 3);     /* request too short */
    assert_int_equal(req(&f, 0, REGION + 8 * BS, 1, 24, 2, NULL), 3);      /* response too short */
    struct virtio_mem_info in;
    virtio_mem_info(f.m, &in);
    assert_int_equal(in.plugged, 2 * BS);
    assert_int_equal(in.responses[3], 13);
    assert_int_equal(f.h.discarded, 0);
    fx_close(&f);
}

static void test_bad_opts(void **state)
{
    char err[200];
    struct virtio_mem_opts o = { .addr = REGION, .size = NBLK * BS, .block_size = 3000 };
    assert_int_equal(virtio_mem_check_opts(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "block-size 3000"));
    o.block_size = BS;
    o.size = BS + 4096;
    assert_int_equal(virtio_mem_check_opts(&o, err, sizeof(err)), -EINVAL);
    o.size = NBLK * BS;
    o.requested = 2 * NBLK * BS;
    assert_int_equal(virtio_mem_check_opts(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "requested-size"));
    o.requested = BS;
    assert_int_equal(virtio_mem_check_opts(&o, err, sizeof(err)), 0);
    assert_null(virtio_mem_create(&(struct virtio_mem_opts){ .size = 0, .block_size = BS }, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_plug),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_bad_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

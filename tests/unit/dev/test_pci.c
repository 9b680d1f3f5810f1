/* dev/pci (host bridge, config space, BARs, MSI-X) and the virtio-pci
 * transport, driven through ECAM, the 0xcf8/0xcfc ports and the BAR window
 * as a guest does; hostile programming must not crash or escape. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "dev/pci/pci.h"
#include "dev/virtio/virtio.h"
#include "mem/mem.h"

#define ECAM 0xe0000000ULL
#define WIN 0xc0000000ULL
#define WIN_SIZE 0x01000000ULL
#define RAM 0x80000000ULL
#define RAM_SIZE (1ULL << 20)

struct msi_rec {
    unsigned n; uint64_t addr; uint32_t data;
    /* msi_line.bind: how many binds and unbinds, and what is bound now */
    unsigned binds, unbinds; int bound_fd; uint64_t bound_addr; uint32_t bound_data;
};
static void msi_rec_send(void *opaque, uint64_t addr, uint32_t data)
{
    struct msi_rec *r = opaque;
    r->n++;
    r->addr = addr;
    r->data = data;
}
static int msi_rec_bind(void *opaque, uint64_t addr, uint32_t data, int fd, bool on)
{
    struct msi_rec *r = opaque;
    if (on) {
        assert_int_equal(r->bound_fd, -1);                  /* never bound twice */
        r->binds++;
        r->bound_fd = fd;
        r->bound_addr = addr;
        r->bound_data = data;
    } else {
        assert_int_equal(r->bound_fd, fd);                  /* unbinds what is bound, as bound */
        assert_int_equal(r->bound_addr, addr);
        assert_int_equal(r->bound_data, data);
        r->unbinds++;
        r->bound_fd = -1;
    }
    return 0;
}
struct intx { int level, raises; };
static void intx_set(void *opaque, unsigned n, int level)
{
    struct intx *x = opaque;
    x->raises += level && !x->level;
    x->level = level;
}

struct rig {
    struct bus mmio, pio;
    struct guest_mem mem;
    struct pci_host *h;
    struct virtio_rng *rng;
    struct virtio_pci *vp;
    struct msi_rec msi;
    struct intx intx;
};

static void rig_open(struct rig *g)
{
    memset(g, 0, sizeof(*g));
    bus_init(&g->mmio);
    bus_init(&g->pio);
    mem_init(&g->mem);
    assert_int_equal(mem_add_ram(&g->mem, RAM, RAM_SIZE, 0), 0);
    g->h = pci_host_create(&g->mmio, &g->pio, ECAM, WIN, WIN_SIZE);
    assert_non_null(g->h);
    g->rng = virtio_rng_create();
    g->msi.bound_fd = -1;
    g->vp = virtio_pci_create(g->h, (struct irq_line){ intx_set, &g->intx, 5 },
                              (struct msi_line){ msi_rec_send, &g->msi, msi_rec_bind }, &g->mem,
                              virtio_rng_dev(g->rng));
    assert_non_null(g->vp);
}
static void rig_close(struct rig *g)
{
    virtio_rng_destroy(g->rng);
    virtio_pci_destroy(g->vp);
    pci_host_destroy(g->h);
    bus_destroy(&g->mmio);
    bus_destroy(&g->pio);
    mem_destroy(&g->mem);
}

static uint64_t rd(struct bus *b, uint64_t a, unsigned size)
{
    uint64_t v = 0;
    bus_access(b, a, &v, size, false);
    return v;
}
static void wr(struct bus *b, uint64_t a, uint64_t v, unsigned size) { bus_access(b, a, &v, size, true); }
static uint32_t cfg(struct rig *g, unsigned dev, unsigned reg, unsigned size)
{
    return (uint32_t)rd(&g->mmio, ECAM + (dev << 15) + reg, size);
}
static void cfgw(struct rig *g, unsigned dev, unsigned reg, uint32_t v, unsigned size)
{
    wr(&g->mmio, ECAM + (dev << 15) + reg, v, size);
}

/* The virtio capability of cfg_type `type`: its config offset (0: none). */
static unsigned find_vcap(struct rig *g, unsigned dev, unsigned type)
{
    unsigned n = 0;
    for (unsigned at = cfg(g, dev, PCI_CAP_PTR, 1); at && n++ < 48; at = cfg(g, dev, at + 1, 1))
        if (cfg(g, dev, at, 1) == (type ? PCI_CAP_ID_VNDR : PCI_CAP_ID_MSIX) &&
            (!type || cfg(g, dev, at + 3, 1) == type))
            return at;
    return 0;
}

static void test_enumerate(void **state)
{
    struct rig g;
    rig_open(&g);
    /* the host bridge at 00.0, through ECAM and through 0xcf8/0xcfc */
    assert_int_equal(cfg(&g, 0, PCI_VENDOR_ID, 4), 0x00081b36);
    assert_int_equal(cfg(&g, 0, 0x0a, 2), 0x0600);
    wr(&g.pio, 0xcf8, 0x80000000u | 0x08, 4);
    assert_int_equal(rd(&g.pio, 0xcfc, 4) >> 16, 0x0600);
    assert_int_equal(rd(&g.pio, 0xcf8, 4), 0x80000008u);
    wr(&g.pio, 0xcf8, 0x80000000u | 1 << 11, 4);            /* device 1 */
    assert_int_equal(rd(&g.pio, 0xcfc, 2), 0x1af4);
    assert_int_equal(rd(&g.pio, 0xcfe, 2), 0x1040 + VIRTIO_ID_RNG);
    wr(&g.pio, 0xcf8, 1u << 11, 4);                         /* enable bit clear: nothing */
    assert_int_equal(rd(&g.pio, 0xcfc, 4), 0xffffffffu);
    /* the rng as 00:01.0, modern virtio ids */
    assert_int_equal(cfg(&g, 1, PCI_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(cfg(&g, 1, PCI_DEVICE_ID, 2), 0x1044);
    assert_int_equal(cfg(&g, 1, PCI_REVISION, 1), 1);
    assert_true(cfg(&g, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    assert_int_equal(cfg(&g, 1, PCI_INTERRUPT_PIN, 1), 1);
    assert_int_equal(cfg(&g, 1, PCI_INTERRUPT_LINE, 1), 5);
    /* absent devices and functions read all-ones */
    assert_int_equal(cfg(&g, 2, 0, 4), 0xffffffffu);
    assert_int_equal(rd(&g.mmio, ECAM + (1 << 15) + (1 << 12), 4), 0xffffffffu);
    /* every capability a modern driver needs, and MSI-X with nvq + 1 vectors */
    for (unsigned t = 1; t <= 5; t++)
        assert_int_not_equal(find_vcap(&g, 1, t), 0);
    unsigned mx = find_vcap(&g, 1, 0);
    assert_int_not_equal(mx, 0);
    assert_int_equal(cfg(&g, 1, mx + 2, 2) & 0x7ff, 1);     /* table size - 1: one queue + config */
    /* BAR 0 placed in the window with decoding on */
    uint64_t bar = cfg(&g, 1, PCI_BAR0, 4) | (uint64_t)cfg(&g, 1, PCI_BAR0 + 4, 4) << 32;
    assert_int_equal(bar & 0xf, 0x4);
    assert_true((bar & ~0xfULL) >= WIN && (bar & ~0xfULL) < WIN + WIN_SIZE);
    assert_true(cfg(&g, 1, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
    rig_close(&g);
}

static void test_bar_sizing(void **state)
{
    struct rig g;
    rig_open(&g);
    uint32_t lo = cfg(&g, 1, PCI_BAR0, 4), hi = cfg(&g, 1, PCI_BAR0 + 4, 4);
    cfgw(&g, 1, PCI_BAR0, 0xffffffffu, 4);
    cfgw(&g, 1, PCI_BAR0 + 4, 0xffffffffu, 4);
    assert_int_equal(cfg(&g, 1, PCI_BAR0, 4), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1) | 0x4);
    assert_int_equal(cfg(&g, 1, PCI_BAR0 + 4, 4), 0xffffffffu);
    /* unimplemented BARs and the ROM stay 0; read-only ids do not change */
    cfgw(&g, 1, PCI_BAR0 + 8, 0xffffffffu, 4);
    cfgw(&g, 1, 0x30, 0xffffffffu, 4);
    cfgw(&g, 1, PCI_VENDOR_ID, 0x12345678, 4);
    assert_int_equal(cfg(&g, 1, PCI_BAR0 + 8, 4), 0);
    assert_int_equal(cfg(&g, 1, 0x30, 4), 0);
    assert_int_equal(cfg(&g, 1, PCI_DEVICE_ID, 2), 0x1044);
    /* moved elsewhere in the window: the device answers there */
    cfgw(&g, 1, PCI_BAR0, (uint32_t)(WIN + 0x100000), 4);
    cfgw(&g, 1, PCI_BAR0 + 4, 0, 4);
    assert_int_equal(rd(&g.mmio, WIN + 0x100000 + 0x12, 2), 1);   /* num_queues */
    /* decoding off: nothing answers */
    cfgw(&g, 1, PCI_COMMAND, 0, 2);
    assert_int_equal(rd(&g.mmio, WIN + 0x100000 + 0x12, 2), 0xffff);
    /* a system reset puts the BAR back where vessel placed it */
    pci_host_reset(g.h);
    assert_int_equal(cfg(&g, 1, PCI_BAR0, 4), lo);
    assert_int_equal(cfg(&g, 1, PCI_BAR0 + 4, 4), hi);
    assert_true(cfg(&g, 1, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
    rig_close(&g);
}

/* A modern driver's set-up of the rng, then one request with MSI-X, one
 * with INTx. */
static uint64_t bar0(struct rig *g) { return ((uint64_t)cfg(g, 1, PCI_BAR0 + 4, 4) << 32 | cfg(g, 1, PCI_BAR0, 4)) & ~0xfULL; }

static void rng_request(struct rig *g, uint64_t b, uint16_t idx)
{
    uint64_t desc = RAM, avail = RAM + 0x1000, used = RAM + 0x2000, buf = RAM + 0x3000;
    uint8_t *d = mem_translate(&g->mem, desc, 16);
    uint64_t a = buf;
    uint32_t len = 64;
    uint16_t fl = VIRTQ_DESC_F_WRITE;
    memcpy(d, &a, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &fl, 2);
    uint16_t *av = mem_translate(&g->mem, avail, 6 + 2 * 8);
    av[2 + (idx % 8)] = 0;
    av[1] = (uint16_t)(idx + 1);
    (void)used;
    wr(&g->mmio, b + VIRTIO_PCI_NOTIFY_OFF + 0, 0, 2);
}

static void driver_setup(struct rig *g, uint64_t b, bool msix)
{
    uint64_t c = b + VIRTIO_PCI_COMMON_OFF;
    wr(&g->mmio, c + 0x14, 0, 1);
    wr(&g->mmio, c + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    wr(&g->mmio, c + 0x00, 1, 4);
    assert_true(rd(&g->mmio, c + 0x04, 4) & 1);            /* VERSION_1 */
    wr(&g->mmio, c + 0x08, 1, 4);
    wr(&g->mmio, c + 0x0c, 1, 4);
    wr(&g->mmio, c + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
    assert_true(rd(&g->mmio, c + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
    wr(&g->mmio, c + 0x16, 0, 2);
    assert_int_equal(rd(&g->mmio, c + 0x18, 2), VIRTQ_MAX_SIZE);
    wr(&g->mmio, c + 0x18, 8, 2);
    wr(&g->mmio, c + 0x20, RAM, 8);                         /* a whole 64-bit write */
    wr(&g->mmio, c + 0x28, (uint32_t)(RAM + 0x1000), 4);    /* or two halves */
    wr(&g->mmio, c + 0x2c, 0, 4);
    wr(&g->mmio, c + 0x30, RAM + 0x2000, 8);
    if (msix) {
        wr(&g->mmio, c + 0x10, 0, 2);                       /* config -> vector 0 */
        wr(&g->mmio, c + 0x1a, 1, 2);                       /* queue 0 -> vector 1 */
        assert_int_equal(rd(&g->mmio, c + 0x1a, 2), 1);
        wr(&g->mmio, c + 0x1a, 7, 2);                       /* no such vector: reads NO_VECTOR */
        assert_int_equal(rd(&g->mmio, c + 0x1a, 2), PCI_NO_VECTOR);
        wr(&g->mmio, c + 0x1a, 1, 2);
    }
    wr(&g->mmio, c + 0x1c, 1, 2);
    assert_int_equal(rd(&g->mmio, c + 0x1c, 2), 1);
    wr(&g->mmio, c + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                               VIRTIO_STATUS_DRIVER_OK, 1);
}

static void test_virtio_msix(void **state)
{
    struct rig g;
    rig_open(&g);
    uint64_t b = bar0(&g);
    unsigned mx = find_vcap(&g, 1, 0);
    cfgw(&g, 1, mx + 2, 0x8000, 2);                        /* MSI-X enable */
    wr(&g.mmio, b + VIRTIO_PCI_MSIX_OFF + 16 + 0, 0xfee00000u, 4);    /* vector 1 */
    wr(&g.mmio, b + VIRTIO_PCI_MSIX_OFF + 16 + 4, 0, 4);
    wr(&g.mmio, b + VIRTIO_PCI_MSIX_OFF + 16 + 8, 0x4041, 4);
    driver_setup(&g, b, true);
    /* vector 1 still masked: the request completes, the vector is pending */
    rng_request(&g, b, 0);
    uint16_t *used = mem_translate(&g.mem, RAM + 0x2000, 6);
    assert_int_equal(used[1], 1);
    assert_int_equal(g.msi.n, 0);
    assert_int_equal(rd(&g.mmio, b + VIRTIO_PCI_PBA_OFF, 8), 2);
    wr(&g.mmio, b + VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);  /* unmask: delivered now */
    assert_int_equal(g.msi.n, 1);
    assert_int_equal(g.msi.addr, 0xfee00000u);
    assert_int_equal(g.msi.data, 0x4041);
    assert_int_equal(rd(&g.mmio, b + VIRTIO_PCI_PBA_OFF, 8), 0);
    rng_request(&g, b, 1);
    assert_int_equal(used[1], 2);
    assert_int_equal(g.msi.n, 2);
    assert_int_equal(g.intx.raises, 0);                     /* no INTx while MSI-X is on */
    /* function mask holds it; clearing the mask sends it */
    cfgw(&g, 1, mx + 2, 0xc000, 2);
    rng_request(&g, b, 2);
    assert_int_equal(g.msi.n, 2);
    cfgw(&g, 1, mx + 2, 0x8000, 2);
    assert_int_equal(g.msi.n, 3);
    rig_close(&g);
}

/* A call eventfd (vhost-net's) is bound to the queue's MSI-X vector in
 * the engine only while that vector is enabled and unmasked, with its
 * current address and data; otherwise vessel relays it (and keeps the PBA). */
static void call_fd(struct rig *g, int fd)
{
    struct virtio_dev *d = virtio_rng_dev(g->rng);
    pthread_mutex_lock(&d->lock);
    d->tops->call_fd(d, 0, fd);
    pthread_mutex_unlock(&d->lock);
}

static void test_callfd_irqfd(void **state)
{
    struct rig g;
    rig_open(&g);
    uint64_t b = bar0(&g);
    unsigned mx = find_vcap(&g, 1, 0);
    uint64_t vec1 = b + VIRTIO_PCI_MSIX_OFF + 16;
    call_fd(&g, 42);                                        /* MSI-X off: not bound */
    assert_int_equal(g.msi.binds, 0);
    cfgw(&g, 1, mx + 2, 0x8000, 2);                        /* MSI-X enable */
    wr(&g.mmio, vec1 + 0, 0xfee00000u, 4);
    wr(&g.mmio, vec1 + 4, 0, 4);
    wr(&g.mmio, vec1 + 8, 0x4041, 4);
    driver_setup(&g, b, true);                              /* queue 0 -> vector 1, still masked */
    assert_int_equal(g.msi.binds, 0);
    wr(&g.mmio, vec1 + 12, 0, 4);                           /* unmasked: bound */
    assert_int_equal(g.msi.binds, 1);
    assert_int_equal(g.msi.bound_fd, 42);
    assert_int_equal(g.msi.bound_addr, 0xfee00000u);
    assert_int_equal(g.msi.bound_data, 0x4041);
    wr(&g.mmio, vec1 + 8, 0x4042, 4);                       /* the guest moves the interrupt */
    assert_int_equal(g.msi.unbinds, 1);
    assert_int_equal(g.msi.binds, 2);
    assert_int_equal(g.msi.bound_data, 0x4042);
    wr(&g.mmio, vec1 + 12, 1, 4);                           /* masked: vessel relays again */
    assert_int_equal(g.msi.bound_fd, -1);
    wr(&g.mmio, vec1 + 12, 0, 4);
    assert_int_equal(g.msi.bound_fd, 42);
    cfgw(&g, 1, mx + 2, 0xc000, 2);                        /* function mask */
    assert_int_equal(g.msi.bound_fd, -1);
    cfgw(&g, 1, mx + 2, 0x8000, 2);
    assert_int_equal(g.msi.bound_fd, 42);
    wr(&g.mmio, b + 0x16, 0, 2);                            /* queue 0 to no vector */
    wr(&g.mmio, b + 0x1a, PCI_NO_VECTOR, 2);
    assert_int_equal(g.msi.bound_fd, -1);
    wr(&g.mmio, b + 0x1a, 1, 2);
    assert_int_equal(g.msi.bound_fd, 42);
    call_fd(&g, 43);                                        /* another eventfd: the old one goes */
    assert_int_equal(g.msi.bound_fd, 43);
    wr(&g.mmio, b + 0x14, 0, 1);                            /* driver reset: vectors gone */
    assert_int_equal(g.msi.bound_fd, -1);
    unsigned binds = g.msi.binds;
    call_fd(&g, -1);
    assert_int_equal(g.msi.binds, binds);
    assert_int_equal(g.msi.binds, g.msi.unbinds);
    rig_close(&g);
}

static void test_virtio_intx(void **state)
{
    struct rig g;
    rig_open(&g);
    uint64_t b = bar0(&g);
    driver_setup(&g, b, false);
    rng_request(&g, b, 0);
    assert_int_equal(g.intx.level, 1);
    assert_int_equal(rd(&g.mmio, b + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_USED);   /* read acks */
    assert_int_equal(g.intx.level, 0);
    assert_int_equal(rd(&g.mmio, b + VIRTIO_PCI_ISR_OFF, 1), 0);
    /* INTx disabled in the command register: the line stays low */
    cfgw(&g, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF, 2);
    rng_request(&g, b, 1);
    assert_int_equal(g.intx.level, 0);
    cfgw(&g, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(g.intx.level, 1);
    /* the VIRTIO_PCI_CAP_PCI_CFG window reads the common config */
    unsigned w = find_vcap(&g, 1, 5);
    cfgw(&g, 1, w + 4, 0, 1);
    cfgw(&g, 1, w + 8, 0x12, 4);
    cfgw(&g, 1, w + 12, 2, 4);
    assert_int_equal(cfg(&g, 1, w + 16, 4), 1);             /* num_queues */
    cfgw(&g, 1, w + 12, 3, 4);                              /* a bad length: reads 0 */
    assert_int_equal(cfg(&g, 1, w + 16, 4), 0);
    /* a driver reset: status 0, vectors gone */
    wr(&g.mmio, b + 0x14, 0, 1);
    assert_int_equal(rd(&g.mmio, b + 0x14, 1), 0);
    assert_int_equal(rd(&g.mmio, b + 0x10, 2), PCI_NO_VECTOR);
    assert_int_equal(g.intx.level, 0);
    rig_close(&g);
}

/* Garbage everywhere a guest can write: config space of every device and
 * function (every width, aligned or not), the legacy ports, the BAR window,
 * the MSI-X table; then the device still works after a reset. */
static void test_hostile(void **state)
{
    struct rig g;
    rig_open(&g);
    int null = open("/dev/null", 1);
    log_set_fd(null);
    srand(7);
    uint64_t b0 = bar0(&g);
    for (int i = 0; i < 200000; i++) {
        unsigned size = 1u << (rand() % 4);
        uint64_t v = (uint64_t)rand() << 32 | (unsigned)rand();
        switch (rand() % 5) {
        case 0: wr(&g.mmio, ECAM + (rand() % (3 << 15)), v, size); break;
        case 1: rd(&g.mmio, ECAM + (rand() % (3 << 15)), size); break;
        case 2: wr(&g.pio, 0xcf8 + rand() % 8, v | 0x80000000u, size); break;
        case 3: wr(&g.mmio, b0 + (rand() % VIRTIO_PCI_BAR_SIZE), v, size); break;
        case 4: rd(&g.mmio, WIN + (rand() % WIN_SIZE), size); break;
        }
    }
    log_set_fd(2);
    close(null);
    pci_host_reset(&*g.h);
    virtio_reset(virtio_rng_dev(g.rng));
    g.msi.n = 0;
    b0 = bar0(&g);
    g.intx.level = 0;
    driver_setup(&g, b0, false);
    rng_request(&g, b0, 0);
    assert_int_equal(g.intx.level, 1);
    rig_close(&g);
}

/* eventfd doorbells: the engine is told where queue 0's notification
 * register is, again when the BAR moves, nothing while decoding is off; a
 * signal on the eventfd runs the queue on the loop thread. */
struct db_rec { unsigned assigns, unassigns; uint64_t gpa; int fd; };
static int db_assign(void *opaque, uint64_t gpa, unsigned len, int fd, bool on)
{
    struct db_rec *r = opaque;
    assert_int_equal(len, 2);
    if (on) {
        r->assigns++;
        r->gpa = gpa;
        r->fd = fd;
    } else {
        r->unassigns++;
        assert_int_equal(gpa, r->gpa);
    }
    return 0;
}

static void test_doorbells(void **state)
{
    struct rig g;
    rig_open(&g);
    struct loop *l = loop_new();
    assert_non_null(l);
    assert_int_equal(loop_start(l), 0);
    struct db_rec rec = { 0 };
    struct virtio_doorbell_ops ops = { db_assign, &rec };
    assert_int_equal(virtio_pci_doorbells(g.vp, l, &ops), 0);
    uint64_t b = bar0(&g);
    assert_int_equal(rec.assigns, 1);
    assert_int_equal(rec.gpa, b + VIRTIO_PCI_NOTIFY_OFF);
    driver_setup(&g, b, false);
    /* the request is taken on the loop thread once the eventfd is signalled */
    uint64_t desc = RAM, buf = RAM + 0x3000;
    uint8_t *d = mem_translate(&g.mem, desc, 16);
    uint32_t len = 64;
    uint16_t fl = VIRTQ_DESC_F_WRITE;
    memcpy(d, &buf, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &fl, 2);
    uint16_t *av = mem_translate(&g.mem, RAM + 0x1000, 8);
    av[2] = 0;
    __atomic_store_n(&av[1], 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(rec.fd, &one, 8), 8);
    volatile uint16_t *used = mem_translate(&g.mem, RAM + 0x2000, 6);
    for (int i = 0; i < 5000 && __atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != 1; i++)
        usleep(1000);
    assert_int_equal(used[1], 1);
    /* decoding off: unassigned; the BAR moved and decoding on: assigned there */
    cfgw(&g, 1, PCI_COMMAND, 0, 2);
    assert_int_equal(rec.unassigns, 1);
    cfgw(&g, 1, PCI_BAR0, (uint32_t)(WIN + 0x200000), 4);
    assert_int_equal(rec.assigns, 1);
    cfgw(&g, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(rec.assigns, 2);
    assert_int_equal(rec.gpa, WIN + 0x200000 + VIRTIO_PCI_NOTIFY_OFF);
    /* a new VM: the same place again */
    virtio_pci_doorbells_reassign(g.vp);
    assert_int_equal(rec.assigns, 3);
    assert_int_equal(rec.gpa, WIN + 0x200000 + VIRTIO_PCI_NOTIFY_OFF);
    virtio_reset(virtio_rng_dev(g.rng));
    loop_stop(l);
    rig_close(&g);
    loop_free(l);
}

/* Snapshot: a transport with MSI-X on, a vector pending while masked and
 * BAR 0 moved by the driver goes into a fresh one: the BAR, the table,
 * the pending bit, the selectors and the doorbell's place come along;
 * read-only config bits, another queue count or an out-of-range vector
 * are refused. */
static void test_snapshot(void **state)
{
    struct rig a, b;
    rig_open(&a);
    unsigned mx = find_vcap(&a, 1, 0);
    cfgw(&a, 1, PCI_BAR0, (uint32_t)(WIN + 0x400000), 4);
    uint64_t ba = bar0(&a);
    assert_int_equal(ba, WIN + 0x400000);
    cfgw(&a, 1, mx + 2, 0x8000, 2);
    wr(&a.mmio, ba + VIRTIO_PCI_MSIX_OFF + 16 + 0, 0xfee01000u, 4);
    wr(&a.mmio, ba + VIRTIO_PCI_MSIX_OFF + 16 + 8, 0x4052, 4);
    driver_setup(&a, ba, true);
    rng_request(&a, ba, 0);
    assert_int_equal(rd(&a.mmio, ba + VIRTIO_PCI_PBA_OFF, 8), 2);
    wr(&a.pio, 0xcf8, 0x80000800u, 4);
    /* a second request made available, its notification not yet seen (an
     * eventfd doorbell on its way): the restored device must take it */
    uint16_t *av = mem_translate(&a.mem, RAM + 0x1000, 6 + 2 * 8);
    av[2 + 1] = 0;
    av[1] = 2;
    /* and vector 1 unmasked: its completion interrupt is an MSI */
    wr(&a.mmio, ba + VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
    assert_int_equal(a.msi.n, 1);                           /* the pending one */
    a.msi.n = 0;
    struct virtio_dev_state ds;
    struct virtio_pci_state ps;
    struct pci_host_state hs;
    virtio_dev_save(virtio_rng_dev(a.rng), &ds);
    virtio_pci_save(a.vp, &ps);
    pci_host_save(a.h, &hs);
    uint8_t *ram = malloc(RAM_SIZE);
    memcpy(ram, mem_translate(&a.mem, RAM, RAM_SIZE), RAM_SIZE);
    rig_close(&a);

    rig_open(&b);
    memcpy(mem_translate(&b.mem, RAM, RAM_SIZE), ram, RAM_SIZE);   /* RAM comes with the snapshot */
    free(ram);
    struct loop *l = loop_new();
    assert_non_null(l);
    struct db_rec rec = { 0 };
    struct virtio_doorbell_ops ops = { db_assign, &rec };
    assert_int_equal(virtio_pci_doorbells(b.vp, l, &ops), 0);
    assert_int_not_equal(bar0(&b), WIN + 0x400000);
    struct virtio_pci_state bad = ps;
    bad.cfg[PCI_VENDOR_ID] ^= 1;                           /* read-only */
    assert_int_equal(virtio_pci_load(b.vp, &bad), -EINVAL);
    bad = ps;
    bad.config_vec = 9;                                     /* 2 vectors */
    assert_int_equal(virtio_pci_load(b.vp, &bad), -EINVAL);
    bad = ps;
    bad.nvq = 2;
    assert_int_equal(virtio_pci_load(b.vp, &bad), -EINVAL);
    struct pci_host_state hbad = { .cf8 = 3 };
    assert_int_equal(pci_host_load(b.h, &hbad), -EINVAL);
    assert_int_equal(bar0(&b), WIN);                        /* nothing changed */

    assert_int_equal(virtio_dev_load(virtio_rng_dev(b.rng), &ds), 0);
    assert_int_equal(virtio_pci_load(b.vp, &ps), 0);
    assert_int_equal(pci_host_load(b.h, &hs), 0);
    assert_int_equal(rd(&b.pio, 0xcf8, 4), 0x80000800u);
    assert_int_equal(bar0(&b), WIN + 0x400000);
    assert_int_equal(rec.gpa, WIN + 0x400000 + VIRTIO_PCI_NOTIFY_OFF);   /* the doorbell moved */
    assert_int_equal(rd(&b.mmio, WIN + 0x400000 + VIRTIO_PCI_MSIX_OFF + 16 + 8, 4), 0x4052);
    /* the request left in the ring was taken once the transport was in
     * place: used index 2, its interrupt an MSI through the restored table;
     * before it, the load signalled the live queue's vector once (MSI-X is
     * edge: a completion the saved LAPIC missed is not lost) */
    uint16_t *used = mem_translate(&b.mem, RAM + 0x2000, 6);
    assert_int_equal(used[1], 2);
    assert_int_equal(b.msi.n, 2);
    assert_int_equal(b.msi.addr, 0xfee01000u);
    assert_int_equal(b.msi.data, 0x4052);
    assert_int_equal(rd(&b.mmio, WIN + 0x400000 + VIRTIO_PCI_PBA_OFF, 8), 0);
    assert_int_equal(b.intx.raises, 0);                     /* never INTx: MSI-X is on */
    assert_int_equal(b.intx.level, 0);
    virtio_reset(virtio_rng_dev(b.rng));
    rig_close(&b);
    loop_free(l);
}

static void test_func_limits(void **state)
{
    struct pci_func f;
    pci_func_init(&f, "t", 1, 2, 0xff0000, 0, 1, 2, NULL, NULL);
    assert_int_equal(pci_func_add_bar64(&f, 5, 4096), -EINVAL);     /* needs two slots */
    assert_int_equal(pci_func_add_bar64(&f, 0, 100), -EINVAL);      /* not a power of two */
    assert_int_equal(pci_func_add_bar64(&f, 0, 4096), 0);
    assert_int_equal(pci_func_add_bar64(&f, 1, 4096), -EINVAL);     /* taken */
    unsigned n = 0;
    while (pci_func_add_cap(&f, 0x09, 20))
        n++;
    assert_int_equal(n, (256 - 0x40) / 20);
    assert_int_equal(pci_func_cfg_read(&f, 1, 2), 0xffffffffu);      /* misaligned */
    assert_int_equal(pci_func_cfg_read(&f, 0, 3), 0xffffffffu);
    assert_int_equal(pci_func_cfg_read(&f, 0x400, 4), 0);            /* extended space: empty */
    struct pci_msix m;
    assert_int_equal(pci_msix_init(&m, &f, 0, 0, 0, 0x800, (struct msi_line){ 0 }), -EINVAL);
    assert_int_equal(pci_msix_init(&m, &f, 4, 0, 4090, 0x800, (struct msi_line){ 0 }), -EINVAL);
}

/* The ACPI PCI hotplug register block: plug and unplug requests reach the
 * guest once each, only plugged hot-pluggable slots eject, everything else
 * a guest writes is ignored. */
static void test_hotplug_regs(void **state)
{
    (void)state;
    struct pci_hotplug hp;
    pci_hp_init(&hp, 0x1c | 1);                                 /* slots 2-4 (the host bridge's bit dropped) */
    assert_int_equal(pci_hp_read(&hp, PCI_HP_SLOTS, 4), 0x1c);
    assert_int_equal(pci_hp_plug(&hp, 1), -EINVAL);
    assert_int_equal(pci_hp_plug(&hp, 0), -EINVAL);
    assert_int_equal(pci_hp_plug(&hp, 40), -EINVAL);
    assert_int_equal(pci_hp_unplug_request(&hp, 3), -ENOENT);
    assert_int_equal(pci_hp_plug(&hp, 3), 0);
    assert_int_equal(pci_hp_plug(&hp, 3), -EBUSY);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_UP, 2), 0);       /* a partial read neither sees nor clears */
    assert_int_equal(pci_hp_read(&hp, PCI_HP_UP, 4), 1u << 3);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_UP, 4), 0);
    /* ejects of empty, boot and out-of-range slots, at any offset or width */
    assert_int_equal(pci_hp_write(&hp, PCI_HP_EJECT, 0xffffffe7u, 4), 0);
    assert_int_equal(pci_hp_write(&hp, PCI_HP_EJECT, 1u << 3, 2), 0);
    assert_int_equal(pci_hp_write(&hp, PCI_HP_UP, 1u << 3, 4), 0);
    assert_int_equal(pci_hp_write(&hp, 0x1000, 1u << 3, 4), 0);
    assert_int_equal(pci_hp_unplug_request(&hp, 3), 0);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_DOWN, 4), 1u << 3);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_DOWN, 4), 0);
    assert_int_equal(pci_hp_unplug_request(&hp, 3), 0);          /* asked again */
    assert_int_equal(pci_hp_write(&hp, PCI_HP_EJECT, ~0u, 4), 1u << 3);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_DOWN, 4), 0);      /* the pending request went with it */
    assert_int_equal(pci_hp_write(&hp, PCI_HP_EJECT, 1u << 3, 4), 0);  /* twice: nothing there */
    assert_int_equal(pci_hp_unplug_request(&hp, 3), -ENOENT);
    assert_int_equal(pci_hp_plug(&hp, 3), 0);                   /* the slot is free again */
    assert_int_equal(pci_hp_plug(&hp, 4), 0);
    pci_hp_reset(&hp);
    assert_int_equal(pci_hp_read(&hp, PCI_HP_UP, 4), 0);
    assert_int_equal(pci_hp_write(&hp, PCI_HP_EJECT, 3u << 3, 4), 3u << 3);     /* plugged stays over a reset */
}

/* Hotplug on the host bridge: a function put into a chosen slot appears in
 * config space with its BARs clear of the others' (as the guest moved
 * them), taken out it reads all-ones and decodes nothing, its slot takes
 * another one. */
static void test_hotplug_slots(void **state)
{
    (void)state;
    struct rig g;
    rig_open(&g);
    assert_int_equal(virtio_pci_func(g.vp)->slot, 1);
    struct virtio_rng *r2 = virtio_rng_create();
    struct virtio_pci *v2 = virtio_pci_create(NULL, (struct irq_line){ intx_set, &g.intx, 7 },
                                              (struct msi_line){ msi_rec_send, &g.msi, NULL }, &g.mem, virtio_rng_dev(r2));
    assert_non_null(v2);
    struct pci_func *f2 = virtio_pci_func(v2);
    assert_int_equal(pci_host_add_at(g.h, f2, 0), -EINVAL);
    assert_int_equal(pci_host_add_at(g.h, f2, 32), -EINVAL);
    assert_int_equal(pci_host_add_at(g.h, f2, 1), -EBUSY);
    /* the guest moved slot 1's BAR 0 to the window's start + 0x10000 */
    cfgw(&g, 1, PCI_BAR0, (uint32_t)(WIN + 0x10000), 4);
    assert_int_equal(pci_host_add_at(g.h, f2, 5), 0);
    assert_int_equal(cfg(&g, 5, PCI_VENDOR_ID, 2), 0x1af4);
    uint64_t b1 = pci_func_bar_addr(virtio_pci_func(g.vp), 0), b2 = pci_func_bar_addr(f2, 0);
    assert_int_equal(b1, WIN + 0x10000);
    assert_true(b2 >= WIN && b2 + VIRTIO_PCI_BAR_SIZE <= WIN + WIN_SIZE);
    assert_true(b2 + VIRTIO_PCI_BAR_SIZE <= b1 || b1 + VIRTIO_PCI_BAR_SIZE <= b2);
    assert_true(pci_host_slot_used(g.h, 5));
    struct pci_slot_info si;
    assert_int_equal(pci_host_slot_info(g.h, 5, &si), 0);
    assert_int_equal(si.bar_addr[0], b2);
    assert_int_equal(si.bar_size[0], VIRTIO_PCI_BAR_SIZE);
    /* its common configuration answers through the window (num_queues) */
    assert_int_equal(rd(&g.mmio, b2 + 0x12, 2), 1);
    assert_true(pci_host_remove(g.h, 5) == f2);
    assert_null(pci_host_remove(g.h, 5));
    assert_int_equal(cfg(&g, 5, PCI_VENDOR_ID, 2), 0xffff);
    assert_int_equal(rd(&g.mmio, b2 + 0x12, 2), 0xffff);        /* no BAR there any more */
    assert_int_equal(pci_host_slot_info(g.h, 5, &si), -ENOENT);
    assert_false(pci_host_slot_used(g.h, 5));
    virtio_pci_destroy(v2);
    virtio_rng_destroy(r2);
    /* a new one in the same slot */
    r2 = virtio_rng_create();
    v2 = virtio_pci_create(NULL, (struct irq_line){ intx_set, &g.intx, 7 },
                           (struct msi_line){ msi_rec_send, &g.msi, NULL }, &g.mem, virtio_rng_dev(r2));
    assert_int_equal(pci_host_add_at(g.h, virtio_pci_func(v2), 5), 0);
    assert_int_equal(cfg(&g, 5, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
    pci_host_remove(g.h, 5);
    virtio_pci_destroy(v2);
    virtio_rng_destroy(r2);
    rig_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enumerate),
        cmocka_unit_test(test_bar_sizing),
        cmocka_unit_test(test_virtio_msix),
        cmocka_unit_test(test_callfd_irqfd),
        cmocka_unit_test(test_virtio_intx),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_doorbells),
        cmocka_unit_test(test_func_limits),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_hotplug_regs),
        cmocka_unit_test(test_hotplug_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

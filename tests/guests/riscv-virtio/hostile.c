/* A hostile virtio driver, bare metal in M-mode on `vessel run --disk IMG
 * --rng` (slot 0 at 0x10001000: virtio-blk, slot 1 at 0x10002000:
 * virtio-rng). It submits bad descriptor chains to the disk (loops,
 * addresses outside RAM, lengths that wrap, a chain longer than any device
 * takes, a read into a device-readable buffer, readable after writable,
 * avail idx and head indices beyond the ring, a queue outside RAM) and
 * checks after each that the disk reports DEVICE_NEEDS_RESET (or an error
 * status) without touching memory it must not, that a reset brings it back,
 * and that the rng keeps serving all along; then it writes garbage to every
 * register of both devices. TAP lines on the UART; tohost: 1 = pass,
 * 3 = some check failed. The image must start with "VESSELDISK". */
#include <stdint.h>

#define UART 0x10000000UL
#define BLK  0x10001000UL
#define RNG  0x10002000UL

enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_DEV_FEATURES = 0x010,
    R_DEV_FEATURES_SEL = 0x014, R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_DESC_LO = 0x080, R_DESC_HI = 0x084, R_DRIVER_LO = 0x090, R_DRIVER_HI = 0x094,
    R_DEVICE_LO = 0x0a0, R_DEVICE_HI = 0x0a4,
};
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define FEAT_INDIRECT (1u << 28)

extern volatile uint64_t tohost;

static inline uint32_t rd(uintptr_t dev, unsigned off) { return *(volatile uint32_t *)(dev + off); }
static inline void wr(uintptr_t dev, unsigned off, uint32_t v) { *(volatile uint32_t *)(dev + off) = v; }
static inline void fence(void) { __asm__ volatile("fence rw, rw" ::: "memory"); }

static void putc_(char c)
{
    while (!(*(volatile uint8_t *)(UART + 5) & 0x20))
        ;
    *(volatile uint8_t *)UART = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putnum(uint64_t v)
{
    char b[24];
    int i = 23;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    puts_(b + i);
}

static int n_checks, n_failed;
static void check(int cond, const char *name)
{
    n_checks++;
    if (!cond)
        n_failed++;
    puts_(cond ? "ok " : "not ok ");
    putnum((uint64_t)n_checks);
    puts_(" - hostile guest: ");
    puts_(name);
    puts_("\n");
}

void unexpected_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    puts_("not ok - hostile guest: unexpected trap, mcause ");
    putnum(cause);
    puts_(" mepc ");
    putnum(epc);
    puts_(" mtval ");
    putnum(tval);
    puts_("\n");
    tohost = 3;
    for (;;)
        ;
}

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
#define QN 8
struct queue {
    struct desc d[QN] __attribute__((aligned(16)));
    struct { uint16_t flags, idx, ring[QN], used_event; } avail __attribute__((aligned(2)));
    struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QN]; uint16_t avail_event; } used
        __attribute__((aligned(4)));
    uint16_t next_avail, seen_used;
};
static struct queue bq __attribute__((aligned(4096))), rq __attribute__((aligned(4096)));
static struct desc big_indirect[300] __attribute__((aligned(16)));
static struct { uint32_t type, reserved; uint64_t sector; } hdr;
static uint8_t data[512], status, rnd[16];

static void zero(void *p, unsigned long n) { for (unsigned long i = 0; i < n; i++) ((volatile uint8_t *)p)[i] = 0; }

/* Driver init (virtio 1.x over mmio) with queue 0 at q; 0 on success. */
static int dev_init(uintptr_t dev, struct queue *q, uint32_t feat_lo)
{
    wr(dev, R_STATUS, 0);
    zero(q, sizeof(*q));
    wr(dev, R_STATUS, S_ACK | S_DRIVER);
    wr(dev, R_DEV_FEATURES_SEL, 0);
    uint32_t lo = rd(dev, R_DEV_FEATURES);
    wr(dev, R_DRV_FEATURES_SEL, 0);
    wr(dev, R_DRV_FEATURES, lo & feat_lo);
    wr(dev, R_DRV_FEATURES_SEL, 1);
    wr(dev, R_DRV_FEATURES, 1);          /* VERSION_1 */
    wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(dev, R_STATUS) & S_FEATURES_OK))
        return -1;
    wr(dev, R_QUEUE_SEL, 0);
    wr(dev, R_QUEUE_NUM, QN);
    wr(dev, R_DESC_LO, (uint32_t)(uintptr_t)q->d);
    wr(dev, R_DESC_HI, 0);
    wr(dev, R_DRIVER_LO, (uint32_t)(uintptr_t)&q->avail);
    wr(dev, R_DRIVER_HI, 0);
    wr(dev, R_DEVICE_LO, (uint32_t)(uintptr_t)&q->used);
    wr(dev, R_DEVICE_HI, 0);
    wr(dev, R_QUEUE_READY, 1);
    if (rd(dev, R_QUEUE_READY) != 1)
        return -1;
    wr(dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return 0;
}

/* Offer head (descriptors already written), notify, wait for the used
 * entry or NEEDS_RESET. Returns 1 = used, 0 = NEEDS_RESET, -1 = nothing. */
static int submit(uintptr_t dev, struct queue *q, uint16_t head, uint16_t idx_jump)
{
    q->avail.ring[q->next_avail % QN] = head;
    fence();
    q->next_avail = (uint16_t)(q->next_avail + 1);
    q->avail.idx = (uint16_t)(q->next_avail + idx_jump);
    fence();
    wr(dev, R_QUEUE_NOTIFY, 0);
    for (long i = 0; i < 20000000; i++) {
        fence();
        if (q->used.idx != q->seen_used) {
            q->seen_used = q->used.idx;
            return 1;
        }
        if (rd(dev, R_STATUS) & S_NEEDS_RESET)
            return 0;
    }
    return -1;
}

static int blk_read(uint64_t sector, uint16_t data_flags)
{
    hdr.type = 0;    /* VIRTIO_BLK_T_IN */
    hdr.sector = sector;
    status = 0xee;
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ (uintptr_t)data, 512, (uint16_t)(data_flags | F_NEXT), 2 };
    bq.d[2] = (struct desc){ (uintptr_t)&status, 1, F_WRITE, 0 };
    return submit(BLK, &bq, 0, 0);
}

static int good_blk_read(void)
{
    zero(data, sizeof(data));
    return blk_read(0, F_WRITE) == 1 && status == 0 && data[0] == 'V' && data[9] == 'K';
}

static int rng_works(void)
{
    zero(rnd, sizeof(rnd));
    rq.d[0] = (struct desc){ (uintptr_t)rnd, sizeof(rnd), F_WRITE, 0 };
    if (submit(RNG, &rq, 0, 0) != 1)
        return 0;
    int nz = 0;
    for (unsigned i = 0; i < sizeof(rnd); i++)
        nz |= rnd[i];
    return nz != 0;
}

/* After a bad request: NEEDS_RESET and the config-change interrupt, then a
 * reset and a good read work again, and the rng never stopped. */
static void expect_reset(int r, const char *what)
{
    puts_("# ");
    puts_(what);
    puts_("\n");
    check(r == 0 && (rd(BLK, R_STATUS) & S_NEEDS_RESET), "disk reports DEVICE_NEEDS_RESET");
    check(rd(BLK, R_INT_STATUS) & 2, "with a configuration-change interrupt");
    wr(BLK, R_INT_ACK, 3);
    check(rng_works(), "the rng still serves");
    check(dev_init(BLK, &bq, FEAT_INDIRECT) == 0 && good_blk_read(), "a reset brings the disk back");
}

int main(void)
{
    check(rd(BLK, R_MAGIC) == 0x74726976 && rd(BLK, R_VERSION) == 2 && rd(BLK, R_DEVICE_ID) == 2,
          "slot 0 is a virtio-mmio v2 block device");
    check(rd(RNG, R_DEVICE_ID) == 4, "slot 1 is a virtio rng");
    check(dev_init(BLK, &bq, FEAT_INDIRECT) == 0, "disk driver init");
    check(dev_init(RNG, &rq, 0) == 0, "rng driver init");
    check(good_blk_read(), "a good read returns the image's first sector");
    check(rng_works(), "the rng gives bytes");

    /* 1. a descriptor loop */
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ (uintptr_t)data, 512, F_NEXT | F_WRITE, 0 };
    expect_reset(submit(BLK, &bq, 0, 0), "descriptor loop");

    /* 2. an address outside RAM */
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ 0x1000, 512, F_NEXT | F_WRITE, 2 };
    bq.d[2] = (struct desc){ (uintptr_t)&status, 1, F_WRITE, 0 };
    expect_reset(submit(BLK, &bq, 0, 0), "buffer outside RAM");

    /* 3. a length that wraps the address space, and one past the end of RAM */
    bq.d[1] = (struct desc){ 0xfffffffffffff000ULL, 0x2000, F_NEXT | F_WRITE, 2 };
    expect_reset(submit(BLK, &bq, 0, 0), "address + length wraps");
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ (uintptr_t)data, 0xffffffff, F_NEXT | F_WRITE, 2 };
    bq.d[2] = (struct desc){ (uintptr_t)&status, 1, F_WRITE, 0 };
    expect_reset(submit(BLK, &bq, 0, 0), "4 GiB length from a RAM buffer");

    /* 4. a chain longer than any device takes (indirect table of 300) */
    for (unsigned i = 0; i < 300; i++)
        big_indirect[i] = (struct desc){ (uintptr_t)data, 1, (uint16_t)(i < 299 ? F_NEXT : 0) | (i ? F_WRITE : 0),
                                         (uint16_t)(i + 1) };
    big_indirect[0].addr = (uintptr_t)&hdr;
    big_indirect[0].len = 16;
    bq.d[0] = (struct desc){ (uintptr_t)big_indirect, sizeof(big_indirect), F_INDIRECT, 0 };
    expect_reset(submit(BLK, &bq, 0, 0), "chain of 300 descriptors");

    /* 5. a read into a device-readable buffer: the device must not write it */
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = 0x5a;
    int r = blk_read(0, 0);
    int intact = 1;
    for (unsigned i = 0; i < sizeof(data); i++)
        intact &= data[i] == 0x5a;
    check(r == 1 && intact, "a read into a read-only buffer leaves the buffer alone");
    check(!(rd(BLK, R_STATUS) & S_NEEDS_RESET) && good_blk_read(), "and the disk goes on");

    /* 6. readable after writable */
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ (uintptr_t)&status, 1, F_NEXT | F_WRITE, 2 };
    bq.d[2] = (struct desc){ (uintptr_t)data, 512, 0, 0 };
    expect_reset(submit(BLK, &bq, 0, 0), "readable descriptor after a writable one");

    /* 7. avail idx jumps past the ring; 8. a head index beyond the table;
     * 9. a next index beyond the table */
    bq.d[0] = (struct desc){ (uintptr_t)&hdr, 16, F_NEXT, 1 };
    bq.d[1] = (struct desc){ (uintptr_t)data, 512, F_NEXT | F_WRITE, 2 };
    bq.d[2] = (struct desc){ (uintptr_t)&status, 1, F_WRITE, 0 };
    expect_reset(submit(BLK, &bq, 0, 100), "avail idx 100 ahead on a ring of 8");
    expect_reset(submit(BLK, &bq, 200, 0), "head index 200 on a ring of 8");
    bq.d[1].next = 77;
    expect_reset(submit(BLK, &bq, 0, 0), "next index 77 on a ring of 8");

    /* 10. a queue placed outside RAM is refused */
    wr(BLK, R_STATUS, 0);
    wr(BLK, R_STATUS, S_ACK | S_DRIVER);
    wr(BLK, R_DRV_FEATURES_SEL, 1);
    wr(BLK, R_DRV_FEATURES, 1);
    wr(BLK, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(BLK, R_QUEUE_SEL, 0);
    wr(BLK, R_QUEUE_NUM, QN);
    wr(BLK, R_DESC_LO, 0x2000);
    wr(BLK, R_DRIVER_LO, 0x3000);
    wr(BLK, R_DEVICE_LO, 0x4000);
    wr(BLK, R_QUEUE_READY, 1);
    check(rd(BLK, R_QUEUE_READY) == 0 && (rd(BLK, R_STATUS) & S_NEEDS_RESET), "a queue outside RAM is refused");
    check(dev_init(BLK, &bq, FEAT_INDIRECT) == 0 && good_blk_read(), "a reset brings the disk back");

    /* 11. garbage into every register of both devices, every size */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (unsigned off = 0; off < 0x200; off += 1) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        if ((off & 3) == 0) {
            *(volatile uint32_t *)(BLK + off) = (uint32_t)x;
            *(volatile uint32_t *)(RNG + off) = (uint32_t)(x >> 32);
        }
        *(volatile uint8_t *)(BLK + off) = (uint8_t)x;
        (void)*(volatile uint8_t *)(RNG + off);
        if ((off & 7) == 0)
            (void)*(volatile uint64_t *)(BLK + off);
    }
    /* and into the board's other devices: PLIC, CLINT, RTC, UART (then
     * the UART is put back so the report still reaches the console) */
    static const uintptr_t others[] = { 0xc000000, 0xc001000, 0xc002000, 0xc200000, 0x2000000, 0x2004000,
                                        0x200bff0, 0x101000 };
    for (unsigned k = 0; k < sizeof(others) / sizeof(others[0]); k++)
        for (unsigned off = 0; off < 0x20; off += 4) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            *(volatile uint32_t *)(others[k] + off) = (uint32_t)x;
            (void)*(volatile uint32_t *)(others[k] + off);
        }
    for (unsigned off = 1; off < 8; off++) {   /* byte registers; not THR */
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        *(volatile uint8_t *)(UART + off) = (uint8_t)x;
        (void)*(volatile uint8_t *)(UART + off);
    }
    *(volatile uint8_t *)(UART + 3) = 0x03;    /* LCR: 8N1, DLAB off */
    *(volatile uint8_t *)(UART + 4) = 0;       /* MCR: no loopback */
    *(volatile uint8_t *)(UART + 1) = 0;       /* IER */
    puts_("\n");
    check(rd(BLK, R_MAGIC) == 0x74726976 && rd(RNG, R_DEVICE_ID) == 4,
          "after garbage in every register the devices still answer");
    check(dev_init(BLK, &bq, FEAT_INDIRECT) == 0 && good_blk_read(), "the disk works after a reset");
    check(dev_init(RNG, &rq, 0) == 0 && rng_works(), "the rng works after a reset");

    puts_(n_failed ? "# some checks failed\n" : "# all checks passed\n");
    tohost = n_failed ? 3 : 1;
    for (;;)
        ;
}

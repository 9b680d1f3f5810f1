/* machine devhp.c: PCI hotplug of virtio devices on a machine with a fake
 * engine and a real PCI host bridge. device_add builds a virtio-blk (and
 * a virtio-net) function in a free slot and tells the engine; device_del
 * asks the engine; the guest's eject (machine_pci_ejected, as a vCPU
 * thread would call it) takes the function off the bus at once and the
 * I/O loop frees the device and emits DEVICE_DELETED; the slot and id are
 * free again. One eject comes with requests in flight (a driver written
 * here through BAR 0, as a guest's), which must neither crash nor leak
 * (run it under ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/pci/pci.h"
#include "dev/virtio/transport.h"
#include "machine/machine.h"

#define ECAM 0xe0000000ULL
#define WIN 0xc0000000ULL
#define WIN_SIZE 0x01000000ULL
#define RAM 0x80000000ULL
#define RAM_SIZE (4ULL << 20)

struct eng {
    int plugs, unplugs, last_slot;
    char deleted[8][64];
    unsigned ndeleted;
};
static int eng_pci_hotplug(void *o, unsigned slot, bool plug)
{
    struct eng *e = o;
    if (plug)
        e->plugs++;
    else
        e->unplugs++;
    e->last_slot = (int)slot;
    return 0;
}
static const struct machine_engine_ops eng_ops = { .arch = "x86", .target = "x86_64", .pci_hotplug = eng_pci_hotplug };
static void on_event(void *o, const struct machine_event_info *ev)
{
    struct eng *e = o;
    if (ev->event == MACHINE_EV_DEVICE_DELETED && e->ndeleted < 8)
        snprintf(e->deleted[e->ndeleted++], 64, "%s", ev->reason ? ev->reason : "");
}
static void msi_none(void *o, uint64_t a, uint32_t d) { }
static void irq_none(void *o, unsigned n, int level) { }
static struct irq_line irq_for(void *o, unsigned i) { return (struct irq_line){ irq_none, NULL, 5 + i }; }

struct rig {
    struct machine *m;
    struct pci_host *h;
    struct eng e;
    char dir[64], img[96], img2[96];
};

static void rig_open(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    struct machine_config cfg = { .ram_size = RAM_SIZE, .ncpus = 1, .serial = "null" };
    r->m = machine_new(&cfg);
    assert_non_null(r->m);
    assert_int_equal(mem_add_ram(machine_mem(r->m), RAM, RAM_SIZE, 0), 0);
    machine_set_engine(r->m, &eng_ops, &r->e);
    machine_set_event_cb(r->m, on_event, &r->e);
    r->h = pci_host_create(machine_mmio(r->m), NULL, ECAM, WIN, WIN_SIZE);
    assert_non_null(r->h);
    struct machine_virtio_layout l = { .pci = r->h, .msi = { msi_none, NULL }, .nslots = 18, .first_irq = 5,
                                       .irq_for = irq_for };
    assert_int_equal(machine_add_virtio(r->m, &l), 0);
    snprintf(r->dir, sizeof(r->dir), "/tmp/vessel-devhp-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->img, sizeof(r->img), "%s/a.img", r->dir);
    snprintf(r->img2, sizeof(r->img2), "%s/b,c.img", r->dir);
    FILE *f = fopen(r->img, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
    fclose(f);
    f = fopen(r->img2, "w");
    assert_non_null(f);
    fclose(f);
}

static void rig_close(struct rig *r)
{
    machine_free(r->m);
    pci_host_destroy(r->h);
    unlink(r->img);
    unlink(r->img2);
    rmdir(r->dir);
}

static uint64_t rd(struct rig *r, uint64_t a, unsigned size)
{
    uint64_t v = 0;
    bus_access(machine_mmio(r->m), a, &v, size, false);
    return v;
}
static void wr(struct rig *r, uint64_t a, uint64_t v, unsigned size) { bus_access(machine_mmio(r->m), a, &v, size, true); }

/* The loop is not running: dispatch what the eject queued. */
static void run_loop(struct rig *r, unsigned want)
{
    for (int i = 0; i < 100 && r->e.ndeleted < want; i++)
        loop_run_once(machine_loop(r->m), 20);
    assert_int_equal(r->e.ndeleted, want);
}

static int add_disk(struct rig *r, const char *id, const char *path, unsigned slot, char *err, size_t errlen)
{
    struct machine_pci_device d = { .driver = "virtio-blk-pci", .option = "disk", .id = id, .slot = slot };
    snprintf(d.disk.path, sizeof(d.disk.path), "%s", path);
    return machine_device_add(r->m, &d, err, errlen);
}

static void test_add_del(void **state)
{
    struct rig r;
    rig_open(&r);
    char err[300] = "";
    assert_int_equal(add_disk(&r, "disk1", r.img, 0, err, sizeof(err)), 0);
    assert_int_equal(r.e.plugs, 1);
    assert_int_equal(r.e.last_slot, 1);
    assert_int_equal(rd(&r, ECAM + (1 << 15), 2), 0x1af4);
    assert_int_equal(rd(&r, ECAM + (1 << 15) + 2, 2), 0x1042);
    struct machine_pci_info pi;
    assert_int_equal(machine_pci_info(r.m, 1, &pi), 0);
    assert_string_equal(pi.id, "disk1");
    struct machine_block_info bi;
    assert_int_equal(machine_nblock(r.m), 1);
    assert_int_equal(machine_block_info(r.m, 0, &bi), 0);
    assert_string_equal(bi.device, "disk1");
    assert_string_equal(bi.file, r.img);
    assert_int_equal(bi.size, 1 << 20);
    /* errors: one line naming the value */
    assert_int_equal(add_disk(&r, "disk1", r.img2, 0, err, sizeof(err)), -EEXIST);
    assert_string_equal(err, "Duplicate device ID 'disk1'");
    assert_int_equal(add_disk(&r, "disk2", r.img, 0, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "disk disk1 uses that image already"));
    assert_int_equal(add_disk(&r, "disk2", "/nonexistent/x.img", 0, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "'file' /nonexistent/x.img: No such file or directory");
    assert_int_equal(add_disk(&r, "disk2", r.img2, 1, err, sizeof(err)), -EBUSY);
    assert_string_equal(err, "'addr' 0x1: PCI slot 1 is taken");
    assert_int_equal(add_disk(&r, "disk2", r.img2, 19, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "0x1-0x12"));
    struct machine_pci_device n = { .driver = "virtio-net-pci", .option = "net", .id = "nic1", .net = "bridge" };
    assert_int_equal(machine_device_add(r.m, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'bridge'"));
    assert_int_equal(r.e.plugs, 1);
    /* a path with a comma, in slot 7 */
    assert_int_equal(add_disk(&r, "disk2", r.img2, 7, err, sizeof(err)), 0);
    assert_int_equal(r.e.last_slot, 7);
    assert_int_equal(machine_hotplug_count(r.m), 2);
    /* device_del asks; the eject takes it */
    assert_int_equal(machine_device_del(r.m, "nosuch", err, sizeof(err)), -ENOENT);
    assert_int_equal(machine_device_del(r.m, "disk1", err, sizeof(err)), 0);
    assert_int_equal(r.e.unplugs, 1);
    assert_int_equal(r.e.last_slot, 1);
    machine_pci_ejected(r.m, 1);
    assert_int_equal(rd(&r, ECAM + (1 << 15), 4), 0xffffffffu);     /* gone from the bus at once */
    run_loop(&r, 1);
    assert_string_equal(r.e.deleted[0], "disk1");
    assert_int_equal(machine_pci_info(r.m, 1, &pi), -ENOENT);
    assert_int_equal(machine_nblock(r.m), 1);
    assert_int_equal(machine_block_info(r.m, 0, &bi), 0);
    assert_string_equal(bi.device, "disk2");
    machine_pci_ejected(r.m, 1);                                    /* twice, and an empty slot: nothing */
    machine_pci_ejected(r.m, 12);
    machine_pci_ejected(r.m, 0);
    machine_pci_ejected(r.m, 99);
    for (int i = 0; i < 3; i++)
        loop_run_once(machine_loop(r.m), 10);
    assert_int_equal(r.e.ndeleted, 1);
    /* the id and the slot are free again */
    assert_int_equal(add_disk(&r, "disk1", r.img, 0, err, sizeof(err)), 0);
    assert_int_equal(r.e.last_slot, 1);
    /* a NIC (user networking) comes and goes */
    struct machine_pci_device nic = { .driver = "virtio-net-pci", .option = "net", .id = "nic1",
                                      .net = "user,restrict=on" };
    assert_int_equal(machine_device_add(r.m, &nic, err, sizeof(err)), 0);
    assert_int_equal(r.e.last_slot, 2);
    assert_int_equal(rd(&r, ECAM + (2 << 15) + 2, 2), 0x1041);
    machine_pci_ejected(r.m, 2);
    run_loop(&r, 2);
    assert_string_equal(r.e.deleted[1], "nic1");
    rig_close(&r);                  /* disk1 and disk2 still plugged: freed with the machine */
}

/* A driver, as a guest's, through BAR 0: features, queue 0 of 16 in RAM,
 * DRIVER_OK, then `n` 4 KiB reads submitted and notified. */
static void drive_reads(struct rig *r, uint64_t bar, unsigned n)
{
    uint64_t desc = RAM, avail = RAM + 0x1000, used = RAM + 0x2000, bufs = RAM + 0x10000;
    wr(r, bar + 0x14, 1, 1);
    wr(r, bar + 0x14, 3, 1);
    wr(r, bar + 0x08, 1, 4);
    wr(r, bar + 0x0c, 1, 4);                    /* VIRTIO_F_VERSION_1 */
    wr(r, bar + 0x14, 0xb, 1);
    assert_int_equal(rd(r, bar + 0x14, 1), 0xb);
    wr(r, bar + 0x16, 0, 2);
    wr(r, bar + 0x18, 16, 2);
    wr(r, bar + 0x20, desc, 8);
    wr(r, bar + 0x28, avail, 8);
    wr(r, bar + 0x30, used, 8);
    wr(r, bar + 0x1c, 1, 2);
    wr(r, bar + 0x14, 0xf, 1);
    struct guest_mem *m = machine_mem(r->m);
    for (unsigned i = 0; i < n; i++) {
        uint64_t hdr = bufs + i * 0x2000, data = hdr + 0x100, st = hdr + 0x80;
        uint32_t h[4] = { 0, 0, i * 8, 0 };     /* VIRTIO_BLK_T_IN, sector i * 8 */
        mem_write(m, hdr, h, sizeof(h));
        struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d[3] = {
            { hdr, 16, 1, (uint16_t)(3 * i + 1) }, { data, 4096, 3, (uint16_t)(3 * i + 2) }, { st, 1, 2, 0 } };
        mem_write(m, desc + 3 * i * 16, d, sizeof(d));
        uint16_t head = (uint16_t)(3 * i);
        mem_write(m, avail + 4 + 2 * i, &head, 2);
    }
    uint16_t idx = (uint16_t)n;
    mem_write(m, avail + 2, &idx, 2);
    wr(r, bar + 0x3000, 0, 2);                  /* notify queue 0 */
}

static void test_eject_in_flight(void **state)
{
    struct rig r;
    rig_open(&r);
    char err[300] = "";
    for (unsigned round = 0; round < 8; round++) {
        assert_int_equal(add_disk(&r, "busy", r.img, 0, err, sizeof(err)), 0);
        struct pci_slot_info si;
        assert_int_equal(pci_host_slot_info(r.h, 1, &si), 0);
        drive_reads(&r, si.bar_addr[0], 5);
        machine_pci_ejected(r.m, 1);          /* behind the driver's back, reads in flight */
        run_loop(&r, round + 1);
    }
    assert_int_equal(machine_hotplug_count(r.m), 0);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_del),
        cmocka_unit_test(test_eject_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

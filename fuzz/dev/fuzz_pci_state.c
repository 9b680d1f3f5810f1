/* libFuzzer target: a virtio-pci function restored from a snapshot file's
 * bytes, then driven by a hostile guest. The input starts with a struct
 * virtio_dev_state and a struct virtio_pci_state (zeros where it ends;
 * byte 0 bit 0 set: the transport is loaded first, else the device) and a
 * pci_host_state; the loads refuse what does not fit, and whatever they
 * take, the 12-byte guest accesses that follow (ECAM, 0xcf8/0xcfc, the BAR
 * window, guest RAM) must not crash or reach outside guest RAM. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/pci/pci.h"
#include "dev/virtio/virtio.h"
#include "mem/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ECAM 0xe0000000ULL
#define WIN 0xc0000000ULL
#define WIN_SIZE 0x00100000ULL
#define RAM_SIZE 0x10000ULL

static void msi_sink(void *opaque, uint64_t addr, uint32_t data) { (*(unsigned *)opaque)++; }
static void line_set(void *opaque, unsigned n, int level) { *(int *)opaque = level; }

struct states {
    struct virtio_dev_state d;
    struct virtio_pci_state p;
    struct pci_host_state h;
};

static void drive(struct bus *mmio, struct bus *pio, struct guest_mem *mem, const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 12 <= size; i += 12) {
        uint8_t op = data[i];
        unsigned width = 1u << (op >> 3 & 3);
        uint32_t where;
        uint64_t val;
        memcpy(&where, data + i + 1, 3);
        where &= 0xffffff;
        memcpy(&val, data + i + 4, 8);
        uint64_t v = val;
        switch (op & 3) {
        case 0: bus_access(mmio, ECAM + (where & 0x1ffff), &v, width, op & 4); break;
        case 1: bus_access(pio, 0xcf8 + (where & 7), &v, width, op & 4); break;
        case 2: bus_access(mmio, WIN + (where % WIN_SIZE), &v, width, op & 4); break;
        case 3: mem_write(mem, where % RAM_SIZE, &val, 8); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            log_set_fd(null);
        quiet = 1;
    }
    if (size < 1)
        return 0;
    bool transport_first = data[0] & 1;
    data++;
    size--;
    struct states st;
    memset(&st, 0, sizeof(st));
    size_t n = size < sizeof(st) ? size : sizeof(st);
    memcpy(&st, data, n);
    data += n;
    size -= n;
    struct bus mmio, pio;
    struct guest_mem mem;
    bus_init(&mmio);
    bus_init(&pio);
    mem_init(&mem);
    if (mem_add_ram(&mem, 0, RAM_SIZE, 0) < 0)
        return 0;
    unsigned msis = 0;
    int level = 0;
    struct pci_host *h = pci_host_create(&mmio, &pio, ECAM, WIN, WIN_SIZE);
    struct virtio_rng *r = virtio_rng_create();
    struct virtio_pci *p = h ? virtio_pci_create(h, (struct irq_line){ line_set, &level, 5 },
                                                 (struct msi_line){ msi_sink, &msis, NULL }, &mem, virtio_rng_dev(r))
                             : NULL;
    if (p) {
        if (transport_first)
            virtio_pci_load(p, &st.p);
        virtio_dev_load(virtio_rng_dev(r), &st.d);
        if (!transport_first)
            virtio_pci_load(p, &st.p);
        pci_host_load(h, &st.h);
        drive(&mmio, &pio, &mem, data, size);
        virtio_reset(virtio_rng_dev(r));
    }
    virtio_rng_destroy(r);
    virtio_pci_destroy(p);
    pci_host_destroy(h);
    bus_destroy(&mmio);
    bus_destroy(&pio);
    mem_destroy(&mem);
    return 0;
}

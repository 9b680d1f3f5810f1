/* libFuzzer target: the PCI host bridge and a virtio-pci function as a
 * hostile guest drives them: config space through ECAM and 0xcf8/0xcfc
 * (BAR moves and sizing, command bits, MSI-X enable and mask, the
 * VIRTIO_PCI_CAP_PCI_CFG window), any access to the BAR window (common
 * configuration, queue set-up over guest RAM, notifications, ISR, device
 * config, the MSI-X table and PBA), and system resets in between. */
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
#define RAM 0x0ULL
#define RAM_SIZE 0x10000ULL

static void msi_sink(void *opaque, uint64_t addr, uint32_t data) { (*(unsigned *)opaque)++; }
static void line_set(void *opaque, unsigned n, int level) { *(int *)opaque = level; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            log_set_fd(null);
        quiet = 1;
    }
    struct bus mmio, pio;
    struct guest_mem mem;
    bus_init(&mmio);
    bus_init(&pio);
    mem_init(&mem);
    if (mem_add_ram(&mem, RAM, RAM_SIZE, 0) < 0)
        return 0;
    unsigned msis = 0;
    int level = 0;
    struct pci_host *h = pci_host_create(&mmio, &pio, ECAM, WIN, WIN_SIZE);
    struct virtio_rng *r = virtio_rng_create();
    struct virtio_pci *p = h ? virtio_pci_create(h, (struct irq_line){ line_set, &level, 5 },
                                                 (struct msi_line){ msi_sink, &msis, NULL }, &mem, virtio_rng_dev(r))
                             : NULL;
    for (size_t i = 0; p && i + 12 <= size; i += 12) {
        uint8_t op = data[i];
        unsigned width = 1u << (op >> 3 & 3);
        uint32_t where;
        uint64_t val;
        memcpy(&where, data + i + 1, 3);
        where &= 0xffffff;
        memcpy(&val, data + i + 4, 8);
        bool wr = op & 4;
        uint64_t v = val;
        switch (op & 3) {
        case 0: bus_access(&mmio, ECAM + (where & 0x1ffff), &v, width, wr); break;
        case 1: bus_access(&pio, 0xcf8 + (where & 7), &v, width, wr); break;
        case 2: bus_access(&mmio, WIN + (where % WIN_SIZE), &v, width, wr); break;
        case 3:
            if (op & 0x80)
                pci_host_reset(h);
            else
                mem_write(&mem, where % RAM_SIZE, &val, 8);   /* the guest's rings */
            break;
        }
    }
    if (p)
        virtio_reset(virtio_rng_dev(r));
    virtio_rng_destroy(r);
    virtio_pci_destroy(p);
    pci_host_destroy(h);
    bus_destroy(&mmio);
    bus_destroy(&pio);
    mem_destroy(&mem);
    return 0;
}

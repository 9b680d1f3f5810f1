/* libFuzzer target: the PCI host bridge and a virtio-pci function as a
 * hostile guest drives them: config space through ECAM and 0xcf8/0xcfc
 * (BAR moves and sizing, command bits, MSI-X enable and mask, the
 * VIRTIO_PCI_CAP_PCI_CFG window), any access to the BAR window (common
 * configuration, queue set-up over guest RAM, notifications, ISR, device
 * config, the MSI-X table and PBA), and system resets in between. A
 * call eventfd (vhost-net's) is attached to the queue and swapped: its
 * binding to the queue's MSI-X vector (msi_line.bind) must follow every
 * table, mask and vector change and never bind twice or unbind what is not
 * bound (checked here, abort). */
#include <fcntl.h>
#include <stdlib.h>
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

struct sink { unsigned msis; int bound_fd; uint64_t addr; uint32_t data; };
static void msi_sink(void *opaque, uint64_t addr, uint32_t data) { ((struct sink *)opaque)->msis++; }
static int msi_bind(void *opaque, uint64_t addr, uint32_t data, int fd, bool on)
{
    struct sink *s = opaque;
    if (on) {
        if (s->bound_fd != -1 || fd < 0)
            abort();
        s->bound_fd = fd;
        s->addr = addr;
        s->data = data;
    } else {
        if (s->bound_fd != fd || s->addr != addr || s->data != data)
            abort();
        s->bound_fd = -1;
    }
    return 0;
}
static void call_fd(struct virtio_dev *d, int fd)
{
    pthread_mutex_lock(&d->lock);
    d->tops->call_fd(d, 0, fd);
    pthread_mutex_unlock(&d->lock);
}
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
    struct sink msis = { .bound_fd = -1 };
    int level = 0;
    struct pci_host *h = pci_host_create(&mmio, &pio, ECAM, WIN, WIN_SIZE);
    struct virtio_rng *r = virtio_rng_create();
    struct virtio_pci *p = h ? virtio_pci_create(h, (struct irq_line){ line_set, &level, 5 },
                                                 (struct msi_line){ msi_sink, &msis, msi_bind }, &mem, virtio_rng_dev(r))
                             : NULL;
    if (p)
        call_fd(virtio_rng_dev(r), 7);
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
            else if (op & 0x40)
                call_fd(virtio_rng_dev(r), (int)(val % 3) - 1 + 7 * !!(val % 3));   /* -1, 7 or 8 */
            else
                mem_write(&mem, where % RAM_SIZE, &val, 8);   /* the guest's rings */
            break;
        }
    }
    if (p) {
        virtio_reset(virtio_rng_dev(r));
        call_fd(virtio_rng_dev(r), -1);
        if (msis.bound_fd != -1)
            abort();                        /* nothing left bound */
    }
    virtio_rng_destroy(r);
    virtio_pci_destroy(p);
    pci_host_destroy(h);
    bus_destroy(&mmio);
    bus_destroy(&pio);
    mem_destroy(&mem);
    return 0;
}

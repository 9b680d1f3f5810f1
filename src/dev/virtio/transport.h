/* virtio transports: how a device model (dev/virtio/virtio.h) reaches a
 * guest. virtio-mmio version 2 on a struct bus; modern virtio-pci (virtio
 * 1.x PCI capabilities, MSI-X) as a function on a dev/pci host bridge. */
#ifndef VESSEL_VIRTIO_TRANSPORT_H
#define VESSEL_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "dev/pci/pci.h"
#include "mem/mem.h"

struct virtio_dev;
struct loop;

/* ---- virtio-mmio transport (version 2) ---- */
#define VIRTIO_MMIO_SIZE 0x200
struct virtio_mmio;
/* Register `dev` at [base, base+0x200) on `bus`; interrupts go to `irq`.
 * Returns the transport or NULL (-errno logged). */
struct virtio_mmio *virtio_mmio_create(struct bus *bus, uint64_t base, struct irq_line irq,
                                       struct guest_mem *mem, struct virtio_dev *dev);
/* The bus has no unregister: destroy only once nothing calls the bus any more. */
void virtio_mmio_destroy(struct virtio_mmio *m);
extern const struct bus_ops virtio_mmio_ops;

/* ---- virtio-pci transport (modern only: device id 0x1040 + type) ----
 * BAR 0 (64-bit memory, VIRTIO_PCI_BAR_SIZE): common configuration at
 * +0x0000, ISR at +0x1000, device configuration at +0x2000, notifications
 * at +0x3000 (queue q at + 4 * q), MSI-X table at +0x4000 (one vector for
 * configuration changes and one per queue) and its PBA at +0x5000. The
 * capabilities also hold a VIRTIO_PCI_CAP_PCI_CFG window. Without MSI-X
 * the interrupt is INTx (`intx`, level, the ISR read lowers it). */
#define VIRTIO_PCI_BAR_SIZE     0x8000
#define VIRTIO_PCI_COMMON_OFF   0x0000
#define VIRTIO_PCI_ISR_OFF      0x1000
#define VIRTIO_PCI_DEVICE_OFF   0x2000
#define VIRTIO_PCI_NOTIFY_OFF   0x3000
#define VIRTIO_PCI_NOTIFY_MULT  4
#define VIRTIO_PCI_MSIX_OFF     0x4000
#define VIRTIO_PCI_PBA_OFF      0x5000
struct virtio_pci;
/* Put `dev` on `host` (NULL: not on a bus; tests and fuzzing reach it
 * through virtio_pci_func). NULL after one log line. */
struct virtio_pci *virtio_pci_create(struct pci_host *host, struct irq_line intx, struct msi_line msi,
                                     struct guest_mem *mem, struct virtio_dev *dev);
struct pci_func *virtio_pci_func(struct virtio_pci *p);
/* Doorbells by eventfd: an engine that can turn a guest's write to an
 * address into an eventfd signal (KVM_IOEVENTFD) is told where each
 * queue's notification register is, whenever the guest moves BAR 0 or
 * turns decoding on or off: assign(opaque, gpa, len, fd, on) returns 0 or
 * -errno (that doorbell then stays an MMIO exit). The transport serves the
 * eventfds on `loop`: the device's notify runs on that thread, off the
 * vCPU's. Called before the guest runs. 0 or -errno (logged). */
struct virtio_doorbell_ops {
    int (*assign)(void *opaque, uint64_t gpa, unsigned len, int fd, bool on);
    void *opaque;
};
int virtio_pci_doorbells(struct virtio_pci *p, struct loop *loop, const struct virtio_doorbell_ops *ops);
/* The engine dropped every assignment (a new VM after a reset): assign the
 * current ones again. */
void virtio_pci_doorbells_reassign(struct virtio_pci *p);
/* The host bridge has no remove: destroy once nothing calls the bus. */
void virtio_pci_destroy(struct virtio_pci *p);

#endif

/* virtio transports: how a device model (dev/virtio/virtio.h) reaches a
 * guest. virtio-mmio version 2 on a struct bus; a pci transport follows
 * the same shape. */
#ifndef VESSEL_VIRTIO_TRANSPORT_H
#define VESSEL_VIRTIO_TRANSPORT_H

#include <stdint.h>

#include "bus/bus.h"
#include "mem/mem.h"

struct virtio_dev;

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

#endif

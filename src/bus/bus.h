/* bus: MMIO and port-I/O dispatch, and interrupt lines.
 * Both engines turn a guest device access into bus_access(); devices
 * register address ranges with an ops table. Registration happens while the
 * board is built, before any vCPU runs; lookups take no lock. Devices do
 * their own locking. */
#ifndef VESSEL_BUS_H
#define VESSEL_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus_ops {
    /* `off` is relative to the registered base; size is 1, 2, 4 or 8. */
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
};

struct bus_range {
    uint64_t base, len;
    const struct bus_ops *ops;
    void *opaque;
    const char *name;
};

struct bus {
    struct bus_range *ranges;   /* sorted by base */
    unsigned nr, cap;
};

void bus_init(struct bus *bus);
void bus_destroy(struct bus *bus);
/* 0, or -EEXIST if [base, base+len) overlaps a registered range. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);
/* Dispatch one access. For reads *val receives the value (zero-extended).
 * Returns 0, or -ENOENT when nothing is mapped there (reads then give 0). */
int bus_access(struct bus *bus, uint64_t addr, uint64_t *val, unsigned size, bool is_write);

/* An interrupt line: a device calls irq_set(line, level); the board wires the
 * line to the PLIC (emulator) or KVM_IRQ_LINE / irqfd (KVM). */
struct irq_line {
    void (*set)(void *opaque, unsigned n, int level);
    void *opaque;
    unsigned n;
};

static inline void irq_set(const struct irq_line *l, int level)
{
    if (l && l->set)
        l->set(l->opaque, l->n, level);
}

/* A message-signalled interrupt (PCI MSI / MSI-X): a device writes `data`
 * to `addr`; the board delivers it (KVM_SIGNAL_MSI, an irqfd route). */
struct msi_line {
    void (*send)(void *opaque, uint64_t addr, uint32_t data);
    void *opaque;
    /* Optional: have the kernel send (addr, data) itself whenever eventfd
     * `fd` is signalled (KVM_IRQFD on an MSI route), or stop (on false,
     * with the same addr and data). 0 or -errno (then nothing is bound). */
    int (*bind)(void *opaque, uint64_t addr, uint32_t data, int fd, bool on);
};

static inline void msi_send(const struct msi_line *l, uint64_t addr, uint32_t data)
{
    if (l && l->send)
        l->send(l->opaque, addr, data);
}

#endif

/* ACLINT as on QEMU virt (the SiFive CLINT layout): MSWI msip words at +0
 * (4 bytes per hart), MTIMER mtimecmp at +0x4000 + 8*hart and mtime at
 * +0xbff8, counting at RV_TIMEBASE_HZ from the machine's clock. The compare
 * registers live in the core (rv_set_mtimecmp), which raises MTIP itself. */
#include "base/base.h"
#include "emu/riscv/virt/internal.h"

enum { R_MSIP = 0x0, R_MTIMECMP = 0x4000, R_MTIME = 0xbff8 };

static uint64_t part_read(uint64_t v, uint64_t off, unsigned size)
{
    unsigned sh = (unsigned)(off & 7) * 8;
    return size == 8 ? v : (v >> sh) & ((1ULL << (size * 8)) - 1);
}

static uint64_t part_write(uint64_t old, uint64_t off, uint64_t val, unsigned size)
{
    if (size == 8)
        return val;
    unsigned sh = (unsigned)(off & 7) * 8;
    uint64_t mask = ((1ULL << (size * 8)) - 1) << sh;
    return (old & ~mask) | ((val << sh) & mask);
}

static uint64_t clint_read(void *opaque, uint64_t off, unsigned size)
{
    struct virt_board *b = opaque;
    if (off < R_MTIMECMP) {
        unsigned h = (unsigned)(off / 4);
        if (h >= b->nharts || size != 4 || (off & 3))
            return 0;
        return atomic_load(&b->msip[h]);
    }
    if (off >= R_MTIME && off < R_MTIME + 8 && (size == 8 || size == 4) && !(off & (size - 1)))
        return part_read(rv_machine_time(b->m), off, size);
    if (off >= R_MTIMECMP && off < R_MTIMECMP + 8ULL * b->nharts && (size == 8 || size == 4) &&
        !(off & (size - 1)))
        return part_read(rv_get_mtimecmp(b->hart[(off - R_MTIMECMP) / 8].h), off, size);
    log_guest("clint: read of size %u at 0x%llx", size, (unsigned long long)off);
    return 0;
}

static void clint_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virt_board *b = opaque;
    if (off < R_MTIMECMP) {
        unsigned h = (unsigned)(off / 4);
        if (h < b->nharts && size == 4 && !(off & 3)) {
            atomic_store(&b->msip[h], (int)(val & 1));
            rv_set_irq(b->hart[h].h, RV_IRQ_MSI, val & 1);
        }
        return;
    }
    if (off >= R_MTIMECMP && off < R_MTIMECMP + 8ULL * b->nharts && (size == 8 || size == 4) &&
        !(off & (size - 1))) {
        struct rv_hart *h = b->hart[(off - R_MTIMECMP) / 8].h;
        rv_set_mtimecmp(h, part_write(rv_get_mtimecmp(h), off, val, size));
        return;
    }
    /* mtime is read-only here: every hart shares the host clock */
    log_guest("clint: write of size %u at 0x%llx ignored", size, (unsigned long long)off);
}

static const struct bus_ops clint_ops = { .read = clint_read, .write = clint_write };

int virt_clint_init(struct virt_board *b)
{
    return bus_register(b->bus, VIRT_CLINT_BASE, VIRT_CLINT_SIZE, &clint_ops, b, "clint");
}

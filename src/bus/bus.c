#include "bus/bus.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>

void bus_init(struct bus *bus)
{
    memset(bus, 0, sizeof(*bus));
}

void bus_destroy(struct bus *bus)
{
    free(bus->ranges);
    memset(bus, 0, sizeof(*bus));
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
                 const struct bus_ops *ops, void *opaque, const char *name)
{
    if (!len || base + len - 1 < base)
        return -EINVAL;
    unsigned pos = 0;
    while (pos < bus->nr && bus->ranges[pos].base < base)
        pos++;
    if (pos > 0) {
        const struct bus_range *p = &bus->ranges[pos - 1];
        if (p->base + p->len > base)
            return -EEXIST;
    }
    if (pos < bus->nr && base + len > bus->ranges[pos].base)
        return -EEXIST;
    if (bus->nr == bus->cap) {
        bus->cap = bus->cap ? bus->cap * 2 : 16;
        bus->ranges = xrealloc(bus->ranges, bus->cap * sizeof(*bus->ranges));
    }
    memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(*bus->ranges));
    bus->ranges[pos] = (struct bus_range){ base, len, ops, opaque, name };
    bus->nr++;
    return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->nr;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        const struct bus_range *r = &bus->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

int bus_access(struct bus *bus, uint64_t addr, uint64_t *val, unsigned size, bool is_write)
{
    const struct bus_range *r = bus_find(bus, addr);
    if (!r) {
        if (!is_write)
            *val = 0;
        return -ENOENT;
    }
    uint64_t off = addr - r->base;
    if (is_write) {
        if (r->ops->write)
            r->ops->write(r->opaque, off, *val, size);
    } else {
        *val = r->ops->read ? r->ops->read(r->opaque, off, size) : 0;
    }
    return 0;
}

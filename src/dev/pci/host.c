/* The PCI host bridge of bus 0: ECAM, the legacy 0xcf8/0xcfc ports, and
 * the MMIO window where the functions' BARs are decoded. */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "base/base.h"
#include "dev/pci/pci.h"

struct pci_host {
    pthread_mutex_t lock;
    struct pci_func bridge;                 /* 00.0 */
    struct pci_func *slot[PCI_MAX_SLOTS];
    uint64_t win_base, win_size, win_next;  /* BAR placement cursor */
    uint32_t cf8;                           /* legacy address latch */
    unsigned busy[PCI_MAX_SLOTS];           /* BAR handlers running now (atomic; pci_host_remove waits) */
};

/* What reads of nothing give: all-ones of the access size. */
static uint64_t ones(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* Function `fn` of device `dev` (only function 0 exists), or NULL. */
static struct pci_func *func_at(struct pci_host *h, unsigned dev, unsigned fn)
{
    return dev < PCI_MAX_SLOTS && fn == 0 ? h->slot[dev] : NULL;
}

static uint32_t cfg_read(struct pci_host *h, unsigned dev, unsigned fn, unsigned reg, unsigned size)
{
    pthread_mutex_lock(&h->lock);
    struct pci_func *f = func_at(h, dev, fn);
    uint32_t v = f ? pci_func_cfg_read(f, reg, size) : 0xffffffffu;
    pthread_mutex_unlock(&h->lock);
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void cfg_write(struct pci_host *h, unsigned dev, unsigned fn, unsigned reg, uint32_t val, unsigned size)
{
    pthread_mutex_lock(&h->lock);
    struct pci_func *f = func_at(h, dev, fn);
    if (f)
        pci_func_cfg_write(f, reg, val, size);
    pthread_mutex_unlock(&h->lock);
}

/* ---- ECAM: off = dev << 15 | fn << 12 | reg (bus 0 only) ---- */
static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    if (size > 4 || off >= PCI_ECAM_SIZE)
        return ones(size);
    return cfg_read(opaque, (unsigned)(off >> 15) & 31, (unsigned)(off >> 12) & 7, (unsigned)off & 0xfff, size);
}
static void ecam_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    if (size > 4 || off >= PCI_ECAM_SIZE)
        return;
    cfg_write(opaque, (unsigned)(off >> 15) & 31, (unsigned)(off >> 12) & 7, (unsigned)off & 0xfff,
              (uint32_t)val, size);
}
const struct bus_ops pci_ecam_ops = { ecam_read, ecam_write };

/* ---- legacy configuration mechanism #1 ---- */
static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_host *h = opaque;
    if (off != 0 || size != 4)
        return ones(size);
    pthread_mutex_lock(&h->lock);
    uint32_t v = h->cf8;
    pthread_mutex_unlock(&h->lock);
    return v;
}
static void cf8_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_host *h = opaque;
    if (off != 0 || size != 4)
        return;                             /* byte writes (0xcfb probes) change nothing */
    pthread_mutex_lock(&h->lock);
    h->cf8 = (uint32_t)val & 0x80fffffcu;
    pthread_mutex_unlock(&h->lock);
}
const struct bus_ops pci_cf8_ops = { cf8_read, cf8_write };

/* The latched address: false when disabled or not bus 0. */
static bool cf8_target(struct pci_host *h, uint64_t off, unsigned *dev, unsigned *fn, unsigned *reg)
{
    pthread_mutex_lock(&h->lock);
    uint32_t a = h->cf8;
    pthread_mutex_unlock(&h->lock);
    if (!(a & 0x80000000u) || (a >> 16) & 0xff)
        return false;
    *dev = (a >> 11) & 31;
    *fn = (a >> 8) & 7;
    *reg = (a & 0xfc) | (unsigned)(off & 3);
    return true;
}
static uint64_t cfc_read(void *opaque, uint64_t off, unsigned size)
{
    unsigned dev, fn, reg;
    if (off >= 4 || size > 4 || !cf8_target(opaque, off, &dev, &fn, &reg))
        return ones(size);
    return cfg_read(opaque, dev, fn, reg, size);
}
static void cfc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    unsigned dev, fn, reg;
    if (off < 4 && size <= 4 && cf8_target(opaque, off, &dev, &fn, &reg))
        cfg_write(opaque, dev, fn, reg, (uint32_t)val, size);
}
const struct bus_ops pci_cfc_ops = { cfc_read, cfc_write };

/* ---- the BAR window ---- */
static struct pci_func *bar_lookup(struct pci_host *h, uint64_t addr, unsigned size, unsigned *bar,
                                   uint64_t *off)
{
    struct pci_func *hit = NULL;
    pthread_mutex_lock(&h->lock);
    for (unsigned s = 1; s < PCI_MAX_SLOTS && !hit; s++) {
        struct pci_func *f = h->slot[s];
        if (!f || !(pci_func_cfg16(f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
            continue;
        for (unsigned b = 0; b < PCI_NUM_BARS && !hit; b++) {
            uint64_t base = pci_func_bar_addr(f, b), sz = f->bar_size[b];
            if (sz && addr >= base && addr - base < sz && size <= sz - (addr - base)) {
                hit = f;
                *bar = b;
                *off = addr - base;
                __atomic_add_fetch(&h->busy[s], 1, __ATOMIC_ACQ_REL);
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    return hit;
}
static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_host *h = opaque;
    unsigned bar;
    uint64_t o;
    struct pci_func *f = bar_lookup(h, h->win_base + off, size, &bar, &o);
    if (!f) {
        log_guest("PCI: read of %u bytes at 0x%llx: no BAR there", size, (unsigned long long)(h->win_base + off));
        return ones(size);
    }
    uint64_t v = f->ops->bar_read(f->opaque, bar, o, size);
    __atomic_sub_fetch(&h->busy[f->slot], 1, __ATOMIC_ACQ_REL);
    return v;
}
static void window_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_host *h = opaque;
    unsigned bar;
    uint64_t o;
    struct pci_func *f = bar_lookup(h, h->win_base + off, size, &bar, &o);
    if (f) {
        f->ops->bar_write(f->opaque, bar, o, val, size);
        __atomic_sub_fetch(&h->busy[f->slot], 1, __ATOMIC_ACQ_REL);
    } else
        log_guest("PCI: write of %u bytes at 0x%llx: no BAR there", size, (unsigned long long)(h->win_base + off));
}
const struct bus_ops pci_window_ops = { window_read, window_write };

/* ---- building ---- */
struct pci_host *pci_host_create(struct bus *mmio, struct bus *pio, uint64_t ecam_base, uint64_t win_base,
                                 uint64_t win_size)
{
    struct pci_host *h = xzalloc(sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    h->win_base = h->win_next = win_base;
    h->win_size = win_size;
    /* the host bridge itself: Red Hat's generic PCIe host bridge id, class 0x0600 */
    pci_func_init(&h->bridge, "pci-host", 0x1b36, 0x0008, 0x060000, 0, 0x1af4, 0x1100, NULL, NULL);
    h->bridge.cfg[PCI_INTERRUPT_PIN] = 0;
    h->bridge.cfg[PCI_STATUS] = 0;
    memcpy(h->bridge.cfg_init, h->bridge.cfg, PCI_CFG_SIZE);
    h->slot[0] = &h->bridge;
    if ((mmio && (bus_register(mmio, ecam_base, PCI_ECAM_SIZE, &pci_ecam_ops, h, "pci ecam") < 0 ||
                  bus_register(mmio, win_base, win_size, &pci_window_ops, h, "pci window") < 0)) ||
        (pio && (bus_register(pio, 0xcf8, 1, &pci_cf8_ops, h, "pci address") < 0 ||
                 bus_register(pio, 0xcfc, 4, &pci_cfc_ops, h, "pci data") < 0))) {
        log_error("PCI host: its ranges overlap another device");
        pci_host_destroy(h);
        return NULL;
    }
    return h;
}

int pci_host_add(struct pci_host *h, struct pci_func *f)
{
    unsigned s = 1;
    while (s < PCI_MAX_SLOTS && h->slot[s])
        s++;
    if (s == PCI_MAX_SLOTS)
        return -ENOSPC;
    /* place the BARs, naturally aligned, in the window */
    uint64_t next = h->win_next;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        uint64_t sz = f->bar_size[b];
        if (!sz)
            continue;
        uint64_t at = (next + sz - 1) & ~(sz - 1);
        if (at < next || at + sz > h->win_base + h->win_size)
            return -ENOSPC;
        uint8_t *c = f->cfg + PCI_BAR0 + 4 * b;
        uint32_t lo = (uint32_t)at | (c[0] & 0xf), hi = (uint32_t)(at >> 32);
        for (int i = 0; i < 4; i++) {
            c[i] = (uint8_t)(lo >> (8 * i));
            c[4 + i] = (uint8_t)(hi >> (8 * i));
        }
        next = at + sz;
    }
    h->win_next = next;
    f->slot = s;
    f->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;      /* decoding on, as firmware leaves it */
    memcpy(f->cfg_init, f->cfg, PCI_CFG_SIZE);
    pthread_mutex_lock(&h->lock);
    h->slot[s] = f;
    pthread_mutex_unlock(&h->lock);
    return (int)s;
}

/* BAR b of size sz at `at` overlaps an enabled BAR of another function. */
static bool bar_overlaps(struct pci_host *h, const struct pci_func *self, uint64_t at, uint64_t sz, uint64_t *end)
{
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        const struct pci_func *g = h->slot[s];
        if (!g || g == self)
            continue;
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            uint64_t base = pci_func_bar_addr(g, b), gsz = g->bar_size[b];
            if (gsz && base < at + sz && at < base + gsz) {
                *end = base + gsz;
                return true;
            }
        }
    }
    return false;
}

/* Lowest naturally aligned place for each of f's BARs in the window where
 * no other function's BAR is (as the guest has them now). */
static int place_bars(struct pci_host *h, struct pci_func *f)
{
    uint64_t lim = h->win_base + h->win_size, placed[PCI_NUM_BARS][2];
    unsigned np = 0;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        uint64_t sz = f->bar_size[b], at = h->win_base, end;
        if (!sz)
            continue;
        for (;;) {
            at = (at + sz - 1) & ~(sz - 1);
            if (at < h->win_base || at + sz > lim)
                return -ENOSPC;
            bool mine = false;
            for (unsigned i = 0; i < np && !mine; i++)
                if (placed[i][0] < at + sz && at < placed[i][1]) {
                    mine = true;
                    at = placed[i][1];
                }
            if (mine)
                continue;
            if (!bar_overlaps(h, f, at, sz, &end))
                break;
            at = end;
        }
        placed[np][0] = at;
        placed[np++][1] = at + sz;
        uint8_t *c = f->cfg + PCI_BAR0 + 4 * b;
        uint32_t lo = (uint32_t)at | (c[0] & 0xf), hi = (uint32_t)(at >> 32);
        for (int i = 0; i < 4; i++) {
            c[i] = (uint8_t)(lo >> (8 * i));
            c[4 + i] = (uint8_t)(hi >> (8 * i));
        }
    }
    return 0;
}

int pci_host_add_at(struct pci_host *h, struct pci_func *f, unsigned slot)
{
    if (slot == 0 || slot >= PCI_MAX_SLOTS)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    int r = h->slot[slot] || __atomic_load_n(&h->busy[slot], __ATOMIC_ACQUIRE) ? -EBUSY : place_bars(h, f);
    if (r == 0) {
        f->slot = slot;
        f->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
        memcpy(f->cfg_init, f->cfg, PCI_CFG_SIZE);
        h->slot[slot] = f;
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}

struct pci_func *pci_host_remove(struct pci_host *h, unsigned slot)
{
    if (slot == 0 || slot >= PCI_MAX_SLOTS)
        return NULL;
    pthread_mutex_lock(&h->lock);
    struct pci_func *f = h->slot[slot];
    h->slot[slot] = NULL;
    pthread_mutex_unlock(&h->lock);
    /* a BAR handler another thread entered before the removal ends soon:
     * they do not block */
    while (__atomic_load_n(&h->busy[slot], __ATOMIC_ACQUIRE))
        sched_yield();
    return f;
}

bool pci_host_slot_used(struct pci_host *h, unsigned slot)
{
    if (slot >= PCI_MAX_SLOTS)
        return true;
    pthread_mutex_lock(&h->lock);
    bool used = h->slot[slot] != NULL;
    pthread_mutex_unlock(&h->lock);
    return used;
}

int pci_host_slot_info(struct pci_host *h, unsigned slot, struct pci_slot_info *out)
{
    if (slot >= PCI_MAX_SLOTS)
        return -ENOENT;
    pthread_mutex_lock(&h->lock);
    struct pci_func *f = h->slot[slot];
    if (f) {
        memcpy(out->cfg, f->cfg, PCI_CFG_SIZE);
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            out->bar_size[b] = f->bar_size[b];
            out->bar_addr[b] = pci_func_bar_addr(f, b);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return f ? 0 : -ENOENT;
}

void pci_host_reset(struct pci_host *h)
{
    pthread_mutex_lock(&h->lock);
    h->cf8 = 0;
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
        struct pci_func *f = h->slot[s];
        if (!f)
            continue;
        memcpy(f->cfg, f->cfg_init, PCI_CFG_SIZE);
        if (f->ops && f->ops->reset)
            f->ops->reset(f->opaque);
    }
    pthread_mutex_unlock(&h->lock);
}

void pci_host_save(struct pci_host *h, struct pci_host_state *st)
{
    pthread_mutex_lock(&h->lock);
    *st = (struct pci_host_state){ .cf8 = h->cf8 };
    pthread_mutex_unlock(&h->lock);
}

int pci_host_load(struct pci_host *h, const struct pci_host_state *st)
{
    if (st->cf8 & ~0x80fffffcu || st->reserved)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    h->cf8 = st->cf8;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

void pci_host_destroy(struct pci_host *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

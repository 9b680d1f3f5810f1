/* PCI functions: type-0 configuration space with writable-bit masks,
 * 64-bit memory BARs, capabilities, and the MSI-X table. */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "dev/pci/pci.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

void pci_func_init(struct pci_func *f, const char *name, uint16_t vendor, uint16_t device,
                   uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys,
                   const struct pci_func_ops *ops, void *opaque)
{
    memset(f, 0, sizeof(*f));
    f->name = name;
    f->ops = ops;
    f->opaque = opaque;
    put16(f->cfg + PCI_VENDOR_ID, vendor);
    put16(f->cfg + PCI_DEVICE_ID, device);
    put16(f->cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
    f->cfg[PCI_REVISION] = revision;
    f->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
    f->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
    f->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
    put16(f->cfg + PCI_SUBSYS_VENDOR, subsys_vendor);
    put16(f->cfg + PCI_SUBSYS_ID, subsys);
    f->cfg[PCI_INTERRUPT_PIN] = 1;
    /* command: memory space, bus master, INTx disable; cache line size,
     * latency timer, interrupt line */
    put16(f->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
    f->wmask[0x0c] = 0xff;
    f->wmask[0x0d] = 0xff;
    f->wmask[PCI_INTERRUPT_LINE] = 0xff;
    f->next_cap = 0x40;
}

int pci_func_add_bar64(struct pci_func *f, unsigned bar, uint64_t size)
{
    /* every BAR here is 64-bit: BAR n-1 in use takes n as its high half */
    if (bar + 1 >= PCI_NUM_BARS || size < 16 || (size & (size - 1)) || f->bar_size[bar] || f->bar_size[bar + 1] ||
        (bar > 0 && f->bar_size[bar - 1]))
        return -EINVAL;
    f->bar_size[bar] = size;
    uint8_t *c = f->cfg + PCI_BAR0 + 4 * bar, *w = f->wmask + PCI_BAR0 + 4 * bar;
    put32(c, 0x4);                                  /* memory, 64-bit, not prefetchable */
    uint64_t mask = ~(size - 1);
    put32(w, (uint32_t)mask & ~0xfu);
    put32(w + 4, (uint32_t)(mask >> 32));
    return 0;
}

unsigned pci_func_add_cap(struct pci_func *f, uint8_t id, unsigned len)
{
    unsigned at = f->next_cap;
    if (len < 2 || at + len > PCI_CFG_SIZE)
        return 0;
    f->cfg[at] = id;
    f->cfg[at + 1] = 0;
    if (f->last_cap)
        f->cfg[f->last_cap + 1] = (uint8_t)at;
    else
        f->cfg[PCI_CAP_PTR] = (uint8_t)at;
    f->last_cap = at;
    f->next_cap = (at + len + 3) & ~3u;
    return at;
}

uint64_t pci_func_bar_addr(const struct pci_func *f, unsigned bar)
{
    if (bar + 1 >= PCI_NUM_BARS || !f->bar_size[bar])
        return 0;
    const uint8_t *c = f->cfg + PCI_BAR0 + 4 * bar;
    return ((uint64_t)get32(c + 4) << 32 | get32(c)) & ~0xfULL;
}

static bool cfg_access_ok(unsigned off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && (off & (size - 1)) == 0 && off < 4096;
}

uint32_t pci_func_cfg_read(struct pci_func *f, unsigned off, unsigned size)
{
    if (!cfg_access_ok(off, size))
        return 0xffffffffu;
    if (off >= PCI_CFG_SIZE)
        return 0;                                   /* no extended capabilities */
    uint32_t v = 0;
    if (f->ops && f->ops->cfg_read && f->ops->cfg_read(f->opaque, off, size, &v))
        return v;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)f->cfg[off + i] << (8 * i);
    return v;
}

void pci_func_cfg_write(struct pci_func *f, unsigned off, uint32_t val, unsigned size)
{
    if (!cfg_access_ok(off, size) || off >= PCI_CFG_SIZE)
        return;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i)), w = f->wmask[off + i];
        f->cfg[off + i] = (uint8_t)((f->cfg[off + i] & ~w) | (b & w));
    }
    if (f->ops && f->ops->cfg_written)
        f->ops->cfg_written(f->opaque, off, size);
}

/* ---- MSI-X ---- */
int pci_msix_init(struct pci_msix *m, struct pci_func *f, unsigned nvec, unsigned bar, uint64_t table_off,
                  uint64_t pba_off, struct msi_line msi)
{
    memset(m, 0, sizeof(*m));
    if (nvec < 1 || nvec > PCI_MSIX_MAX || bar >= PCI_NUM_BARS || !f->bar_size[bar] || (table_off & 7) ||
        (pba_off & 7) || table_off + 16 * nvec > f->bar_size[bar] || pba_off + 8 > f->bar_size[bar])
        return -EINVAL;
    unsigned at = pci_func_add_cap(f, PCI_CAP_ID_MSIX, 12);
    if (!at)
        return -EINVAL;
    m->f = f;
    m->cap = at;
    m->nvec = nvec;
    m->bar = bar;
    m->table_off = table_off;
    m->pba_off = pba_off;
    m->msi = msi;
    put16(f->cfg + at + 2, (uint16_t)(nvec - 1));
    f->wmask[at + 3] = 0xc0;                        /* MSI-X enable, function mask */
    put32(f->cfg + at + 4, (uint32_t)table_off | bar);
    put32(f->cfg + at + 8, (uint32_t)pba_off | bar);
    pci_msix_reset(m);
    return 0;
}

void pci_msix_reset(struct pci_msix *m)
{
    memset(m->table, 0, sizeof(m->table));
    for (unsigned i = 0; i < PCI_MSIX_MAX; i++)
        m->table[i][3] = 1;                          /* masked */
    m->pba = 0;
    m->enabled = m->fmasked = false;
}

void pci_msix_load(struct pci_msix *m, const uint32_t table[PCI_MSIX_MAX][4], uint64_t pba)
{
    pci_msix_reset(m);
    for (unsigned v = 0; v < m->nvec; v++) {
        memcpy(m->table[v], table[v], sizeof(m->table[v]));
        m->table[v][3] &= 1;
    }
    m->pba = m->nvec < 64 ? pba & ((1ULL << m->nvec) - 1) : pba;
    uint8_t ctl = m->f->cfg[m->cap + 3];
    m->enabled = ctl & 0x80;
    m->fmasked = ctl & 0x40;
}

static bool vec_masked(const struct pci_msix *m, unsigned v)
{
    return m->fmasked || (m->table[v][3] & 1);
}

static void send(struct pci_msix *m, unsigned v)
{
    msi_send(&m->msi, (uint64_t)m->table[v][1] << 32 | m->table[v][0], m->table[v][2]);
}

/* Pending vectors that are deliverable now go out. */
static void flush_pending(struct pci_msix *m)
{
    if (!m->enabled)
        return;
    for (unsigned v = 0; v < m->nvec; v++)
        if ((m->pba & (1ULL << v)) && !vec_masked(m, v)) {
            m->pba &= ~(1ULL << v);
            send(m, v);
        }
}

void pci_msix_notify(struct pci_msix *m, unsigned vec)
{
    if (vec >= m->nvec || !m->enabled)
        return;
    if (vec_masked(m, vec))
        m->pba |= 1ULL << vec;
    else
        send(m, vec);
}

void pci_msix_cfg_written(struct pci_msix *m)
{
    uint8_t ctl = m->f->cfg[m->cap + 3];
    m->enabled = ctl & 0x80;
    m->fmasked = ctl & 0x40;
    flush_pending(m);
}

static bool in(uint64_t off, unsigned size, uint64_t base, uint64_t len)
{
    return off >= base && off - base < len && size <= len - (off - base);
}

bool pci_msix_bar_read(struct pci_msix *m, unsigned bar, uint64_t off, unsigned size, uint64_t *val)
{
    if (bar != m->bar)
        return false;
    if (in(off, size, m->table_off, 16ULL * m->nvec)) {
        uint64_t o = off - m->table_off;
        *val = 0;
        if ((size == 4 || size == 8) && !(o & (size - 1))) {
            const uint32_t *e = &m->table[o / 16][(o % 16) / 4];
            *val = size == 8 ? (uint64_t)e[1] << 32 | e[0] : e[0];
        }
        return true;
    }
    if (in(off, size, m->pba_off, 8)) {
        unsigned o = (unsigned)(off - m->pba_off);
        *val = (size == 8 ? m->pba : m->pba >> (8 * o)) & (size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1);
        return true;
    }
    return false;
}

static void table_write32(struct pci_msix *m, uint64_t o, uint32_t v)
{
    unsigned e = (unsigned)(o / 16), w = (unsigned)(o % 16) / 4;
    if (w == 3)
        v &= 1;                                     /* only the mask bit */
    m->table[e][w] = v;
}

bool pci_msix_bar_write(struct pci_msix *m, unsigned bar, uint64_t off, uint64_t val, unsigned size)
{
    if (bar != m->bar)
        return false;
    if (in(off, size, m->table_off, 16ULL * m->nvec)) {
        uint64_t o = off - m->table_off;
        if ((size == 4 || size == 8) && !(o & (size - 1))) {
            table_write32(m, o, (uint32_t)val);
            if (size == 8)
                table_write32(m, o + 4, (uint32_t)(val >> 32));
            flush_pending(m);
        } else {
            log_guest("%s: MSI-X table write of size %u at 0x%llx ignored", m->f->name, size,
                      (unsigned long long)o);
        }
        return true;
    }
    return in(off, size, m->pba_off, 8);              /* the PBA is read-only */
}

/* pci: a PCI host bridge for bus 0 and the type-0 configuration space of
 * the functions on it, shared by every engine that has PCI.
 *
 * The host bridge (00.0, class 0x0600) answers configuration accesses
 * through ECAM (a 1 MiB MMIO range: device << 15 | function << 12 | register)
 * and, optionally, through the legacy ports 0xcf8 (address, dword) and
 * 0xcfc..0xcff (data). It owns one MMIO window on the machine's bus in
 * which the functions' memory BARs live: an access there goes to the
 * function whose enabled BAR covers it. vessel places every BAR at start
 * (as firmware would) and enables memory decoding; the guest may move them.
 *
 * Everything a guest writes is checked: config accesses of a bad size or
 * alignment are ignored (reads give all-ones or 0 as real hardware does),
 * only the writable bits of each register change (BAR size probing works as
 * on hardware), a BAR programmed outside the window or over another one is
 * harmless (the first match wins, accesses elsewhere are unmapped), and the
 * MSI-X table accepts any value; nothing a guest does reaches memory
 * outside the function's own state.
 *
 * Threads: configuration and BAR lookups take the host's lock; a
 * function's BAR handlers are called without it. A function's cfg hooks
 * are called with it held (lock order: host, then the function's own).
 */
#ifndef VESSEL_DEV_PCI_H
#define VESSEL_DEV_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"

#define PCI_CFG_SIZE      256
#define PCI_ECAM_SIZE     (1u << 20)   /* bus 0 */
#define PCI_MAX_SLOTS     32
#define PCI_NUM_BARS      6
#define PCI_NO_VECTOR     0xffff

/* config space registers and bits */
enum {
    PCI_VENDOR_ID = 0x00, PCI_DEVICE_ID = 0x02, PCI_COMMAND = 0x04, PCI_STATUS = 0x06,
    PCI_REVISION = 0x08, PCI_CLASS_PROG = 0x09, PCI_HEADER_TYPE = 0x0e, PCI_BAR0 = 0x10,
    PCI_SUBSYS_VENDOR = 0x2c, PCI_SUBSYS_ID = 0x2e, PCI_CAP_PTR = 0x34,
    PCI_INTERRUPT_LINE = 0x3c, PCI_INTERRUPT_PIN = 0x3d,
};
#define PCI_COMMAND_MEMORY     0x0002
#define PCI_COMMAND_MASTER     0x0004
#define PCI_COMMAND_INTX_OFF   0x0400
#define PCI_STATUS_INTX        0x0008
#define PCI_STATUS_CAP_LIST    0x0010
#define PCI_CAP_ID_VNDR        0x09
#define PCI_CAP_ID_MSIX        0x11

struct pci_func_ops {
    /* An access inside memory BAR `bar` (size 1, 2, 4 or 8). */
    uint64_t (*bar_read)(void *opaque, unsigned bar, uint64_t off, unsigned size);
    void (*bar_write)(void *opaque, unsigned bar, uint64_t off, uint64_t val, unsigned size);
    /* Optional: a config read the function answers itself (true = done). */
    bool (*cfg_read)(void *opaque, unsigned off, unsigned size, uint32_t *val);
    /* Optional: config bytes [off, off+size) were written (after the
     * writable bits changed). */
    void (*cfg_written)(void *opaque, unsigned off, unsigned size);
    /* Optional: system reset (the config space is back at power-on). */
    void (*reset)(void *opaque);
};

struct pci_func {
    const char *name;
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];        /* writable bits */
    uint8_t cfg_init[PCI_CFG_SIZE];     /* power-on config, BARs placed */
    uint64_t bar_size[PCI_NUM_BARS];    /* 0: none; a 64-bit BAR n uses n and n+1 */
    unsigned next_cap;                  /* where the next capability goes */
    unsigned last_cap;                  /* offset of the last one (0: none) */
    unsigned slot;                      /* device number on bus 0 */
    const struct pci_func_ops *ops;
    void *opaque;
};

/* Header type 0, status with the capability list, INTA# as its pin. */
void pci_func_init(struct pci_func *f, const char *name, uint16_t vendor, uint16_t device,
                   uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys,
                   const struct pci_func_ops *ops, void *opaque);
/* A 64-bit prefetchless memory BAR of `size` bytes (a power of two,
 * >= 16) in BAR slots bar and bar+1. 0 or -EINVAL. */
int pci_func_add_bar64(struct pci_func *f, unsigned bar, uint64_t size);
/* Append capability `id` of `len` bytes (>= 2; id and next filled).
 * Returns its config offset, or 0 when the space is full. */
unsigned pci_func_add_cap(struct pci_func *f, uint8_t id, unsigned len);
/* The address the guest gave BAR `bar` (masked); valid when decoding. */
uint64_t pci_func_bar_addr(const struct pci_func *f, unsigned bar);
/* Config access on one function (what ECAM and 0xcfc do; tests, fuzzing).
 * Bad size or alignment: reads all-ones, writes ignored. No lock taken. */
uint32_t pci_func_cfg_read(struct pci_func *f, unsigned off, unsigned size);
void pci_func_cfg_write(struct pci_func *f, unsigned off, uint32_t val, unsigned size);
static inline uint16_t pci_func_cfg16(const struct pci_func *f, unsigned off)
{
    return (uint16_t)(f->cfg[off] | f->cfg[off + 1] << 8);
}

/* ---- MSI-X ---- (state guarded by its user's lock) */
#define PCI_MSIX_MAX 64
struct pci_msix {
    struct pci_func *f;
    unsigned cap;                       /* capability offset */
    unsigned nvec, bar;
    uint64_t table_off, pba_off;        /* inside `bar` */
    uint32_t table[PCI_MSIX_MAX][4];    /* addr lo, addr hi, data, vector control */
    uint64_t pba;                       /* pending bits */
    bool enabled, fmasked;              /* from the message control word */
    struct msi_line msi;
};
/* Add the capability to `f`: `nvec` vectors (1..PCI_MSIX_MAX), table and
 * PBA at the given offsets of BAR `bar`. 0 or -EINVAL. */
int pci_msix_init(struct pci_msix *m, struct pci_func *f, unsigned nvec, unsigned bar, uint64_t table_off,
                  uint64_t pba_off, struct msi_line msi);
/* A BAR access that falls in the table or the PBA: handled, true. */
bool pci_msix_bar_read(struct pci_msix *m, unsigned bar, uint64_t off, unsigned size, uint64_t *val);
bool pci_msix_bar_write(struct pci_msix *m, unsigned bar, uint64_t off, uint64_t val, unsigned size);
/* After a config write: take the enable and function-mask bits; vectors
 * pending and now unmasked are sent. */
void pci_msix_cfg_written(struct pci_msix *m);
/* Signal vector `vec` (PCI_NO_VECTOR or out of range: nothing): sent, or
 * pending while masked. */
void pci_msix_notify(struct pci_msix *m, unsigned vec);
/* Power-on: every vector masked, nothing pending, disabled. */
void pci_msix_reset(struct pci_msix *m);
/* Snapshot: the table (only each vector control's mask bit is kept) and
 * the pending bits of the vectors there are; enable and function mask are
 * taken from the config space (already loaded). Nothing is sent. */
void pci_msix_load(struct pci_msix *m, const uint32_t table[PCI_MSIX_MAX][4], uint64_t pba);

/* ---- the host bridge ---- */
struct pci_host;
/* ECAM at ecam_base on `mmio`, the BAR window [win_base, win_base+win_size)
 * on `mmio`, and 0xcf8/0xcfc on `pio` (NULL: no legacy ports). NULL after
 * one log line. */
struct pci_host *pci_host_create(struct bus *mmio, struct bus *pio, uint64_t ecam_base, uint64_t win_base,
                                 uint64_t win_size);
/* Put `f` on the next free device number (1..31) and place its BARs in the
 * window. Returns the device number, or -ENOSPC (no slot or no room). */
int pci_host_add(struct pci_host *h, struct pci_func *f);
/* System reset: every function's config space back to power-on. */
void pci_host_reset(struct pci_host *h);
/* Snapshot of the bridge's own state (the 0xcf8 latch; the functions save
 * theirs). load: 0, or -EINVAL for a latch no guest write can make. */
struct pci_host_state {
    uint32_t cf8, reserved;
};
void pci_host_save(struct pci_host *h, struct pci_host_state *st);
int pci_host_load(struct pci_host *h, const struct pci_host_state *st);
/* The bus ops, for the fuzzer and tests: ECAM (off as in the range), the
 * window (off from win_base), the two legacy ports. */
extern const struct bus_ops pci_ecam_ops, pci_window_ops, pci_cf8_ops, pci_cfc_ops;
/* After nothing calls the buses any more; the functions stay their owners'. */
void pci_host_destroy(struct pci_host *h);

#endif

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
/* Hotplug: put `f` at device number `slot` (1..31) with its BARs at the
 * lowest free places of the window (clear of every other function's BARs
 * where the guest has them now). 0, -EINVAL (bad slot), -EBUSY (taken,
 * or its last occupant is still leaving), -ENOSPC (no room). */
int pci_host_add_at(struct pci_host *h, struct pci_func *f, unsigned slot);
/* Hotplug: take the function out of `slot` (configuration reads there
 * give all-ones, its BARs decode nothing); returns once no other thread
 * is inside one of its BAR handlers (they do not block). Never from one
 * of its own BAR handlers. The function, or NULL when the slot is empty. */
struct pci_func *pci_host_remove(struct pci_host *h, unsigned slot);
bool pci_host_slot_used(struct pci_host *h, unsigned slot);
/* What is in `slot` now (QMP query-pci): its config space and BARs as
 * the guest programmed them. 0, or -ENOENT when empty. */
struct pci_slot_info {
    uint8_t cfg[PCI_CFG_SIZE];
    uint64_t bar_addr[PCI_NUM_BARS], bar_size[PCI_NUM_BARS];
};
int pci_host_slot_info(struct pci_host *h, unsigned slot, struct pci_slot_info *out);
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

/* ---- ACPI PCI hotplug register block (hotplug.c) ----
 * What the guest's AML drives (QEMU's acpi-pci-hotplug shape, one bit per
 * device number on bus 0), 32-bit registers:
 *   +0  UP     read: the slots plugged since the last read (then cleared):
 *              the AML notifies each "device check"
 *   +4  DOWN   read: the slots the host asks back since the last read
 *              (then cleared): the AML notifies each "eject request"
 *   +8  EJECT  write: the slots the guest's _EJ0 gives back
 *   +12 SLOTS  read: the slots that can take a hot-plugged device
 * Only slots holding a device plugged through pci_hp_plug can be ejected;
 * any other bit, offset or width is ignored (one rate-limited log line).
 * Thread-safe (atomics): the host plugs while vCPUs read. */
#define PCI_HP_SIZE   16
#define PCI_HP_UP     0
#define PCI_HP_DOWN   4
#define PCI_HP_EJECT  8
#define PCI_HP_SLOTS  12
struct pci_hotplug {
    uint32_t slots;                 /* hot-pluggable device numbers (bit n: slot n) */
    uint32_t plugged;               /* slots holding a hot-plugged device */
    uint32_t up, down;              /* events the guest has not read */
};
void pci_hp_init(struct pci_hotplug *hp, uint32_t slots);
/* A device is in `slot` now: 0, -EINVAL (not a hot-pluggable slot),
 * -EBUSY (one is there). */
int pci_hp_plug(struct pci_hotplug *hp, unsigned slot);
/* Ask the guest to give `slot` back (again, if asked before): 0, or
 * -ENOENT when no hot-plugged device is there. */
int pci_hp_unplug_request(struct pci_hotplug *hp, unsigned slot);
uint64_t pci_hp_read(struct pci_hotplug *hp, uint64_t off, unsigned size);
/* A guest write: the slots it ejects (their plugged bits cleared), 0 for
 * anything else. */
uint32_t pci_hp_write(struct pci_hotplug *hp, uint64_t off, uint64_t val, unsigned size);
/* System reset: events not read are dropped; plugged devices stay. */
void pci_hp_reset(struct pci_hotplug *hp);

#endif

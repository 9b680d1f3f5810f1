/* The ACPI PCI hotplug register block (pci.h): the slots the host plugs
 * and asks back, read by the guest's AML, and the guest's ejects. */
#include <errno.h>

#include "base/base.h"
#include "dev/pci/pci.h"

void pci_hp_init(struct pci_hotplug *hp, uint32_t slots)
{
    *hp = (struct pci_hotplug){ .slots = slots & ~1u };     /* never the host bridge */
}

int pci_hp_plug(struct pci_hotplug *hp, unsigned slot)
{
    if (slot >= 32 || !(hp->slots >> slot & 1))
        return -EINVAL;
    uint32_t bit = 1u << slot;
    if (__atomic_fetch_or(&hp->plugged, bit, __ATOMIC_ACQ_REL) & bit)
        return -EBUSY;
    __atomic_fetch_and(&hp->down, ~bit, __ATOMIC_ACQ_REL);
    __atomic_fetch_or(&hp->up, bit, __ATOMIC_ACQ_REL);
    return 0;
}

int pci_hp_unplug_request(struct pci_hotplug *hp, unsigned slot)
{
    if (slot >= 32 || !(__atomic_load_n(&hp->plugged, __ATOMIC_ACQUIRE) >> slot & 1))
        return -ENOENT;
    __atomic_fetch_or(&hp->down, 1u << slot, __ATOMIC_ACQ_REL);
    return 0;
}

uint64_t pci_hp_read(struct pci_hotplug *hp, uint64_t off, unsigned size)
{
    if (size != 4 || (off & 3)) {
        log_guest("PCI hotplug: read of %u bytes at +0x%llx ignored (dword registers)", size,
                  (unsigned long long)off);
        return 0;
    }
    switch (off) {
    case PCI_HP_UP: return __atomic_exchange_n(&hp->up, 0, __ATOMIC_ACQ_REL);
    case PCI_HP_DOWN: return __atomic_exchange_n(&hp->down, 0, __ATOMIC_ACQ_REL);
    case PCI_HP_SLOTS: return hp->slots;
    }
    return 0;
}

uint32_t pci_hp_write(struct pci_hotplug *hp, uint64_t off, uint64_t val, unsigned size)
{
    if (off != PCI_HP_EJECT || size != 4) {
        log_guest("PCI hotplug: write of %u bytes at +0x%llx ignored (only the eject register, dword)", size,
                  (unsigned long long)off);
        return 0;
    }
    uint32_t want = (uint32_t)val, got = 0;
    uint32_t cur = __atomic_load_n(&hp->plugged, __ATOMIC_ACQUIRE);
    do
        got = cur & want;
    while (got && !__atomic_compare_exchange_n(&hp->plugged, &cur, cur & ~got, false, __ATOMIC_ACQ_REL,
                                               __ATOMIC_ACQUIRE));
    if (want & ~got)
        log_guest("PCI hotplug: eject of slots 0x%08x ignored: no hot-plugged device there", want & ~got);
    __atomic_fetch_and(&hp->down, ~got, __ATOMIC_ACQ_REL);
    return got;
}

void pci_hp_reset(struct pci_hotplug *hp)
{
    __atomic_store_n(&hp->up, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&hp->down, 0, __ATOMIC_RELEASE);
}

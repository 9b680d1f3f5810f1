/* libFuzzer target: ACPI PCI hotplug as a guest and the host drive it.
 * The register block (dev/pci struct pci_hotplug) at any offset, width
 * and value between the host's plugs and unplug requests; the host bridge
 * with functions plugged into chosen slots and taken out again while the
 * guest writes any configuration register (moving BARs) through ECAM; and
 * the DSDT built for the hot-pluggable slot mask the input picks.
 * Invariants: an eject names only slots plugged and hot-pluggable (then
 * not plugged any more); UP/DOWN report only hot-pluggable slots; a
 * plugged function's BARs lie in the window clear of every other's; a
 * removed function answers nothing; the DSDT's checksum holds. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "dev/pci/pci.h"
#include "kvm/x86/kvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ECAM 0xe0000000ULL
#define WIN 0xc0000000ULL
#define WIN_SIZE 0x100000ULL
#define NF 4

static uint64_t bar_read(void *o, unsigned bar, uint64_t off, unsigned size) { return 0; }
static void bar_write(void *o, unsigned bar, uint64_t off, uint64_t val, unsigned size) { }
static const struct pci_func_ops fops = { .bar_read = bar_read, .bar_write = bar_write };

static void check_bars(struct pci_host *h, const struct pci_func *f)
{
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        uint64_t a = pci_func_bar_addr(f, b), sz = f->bar_size[b];
        if (sz && (a < WIN || a + sz > WIN + WIN_SIZE || (a & (sz - 1))))
            __builtin_trap();
    }
}

static void dsdt(uint32_t mask)
{
    static struct guest_mem m;
    static int ready;
    if (!ready) {
        mem_init(&m);
        if (vkvm_mem_layout(&m, 32ULL << 20))
            return;
        ready = 1;
    }
    struct vkvm_acpi_config c = { .ncpus = 1, .pci = true, .pci_hotplug = mask };
    if (vkvm_acpi_build(&m, &c) == 0) {
        const uint8_t *d = mem_translate(&m, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF, 8);
        uint32_t dl = d ? (uint32_t)(d[4] | d[5] << 8 | d[6] << 16 | (uint32_t)d[7] << 24) : 0;
        if (!d || dl > VKVM_ACPI_SIZE ||
            vkvm_acpi_checksum(mem_translate(&m, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF, dl), dl))
            __builtin_trap();
    } else if (!(mask & ~(((2u << VKVM_PCI_HP_SLOTS) - 1) & ~1u))) {
        __builtin_trap();           /* a valid mask must build */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            log_set_fd(null);
        quiet = 1;
    }
    if (size < 4)
        return 0;
    uint32_t slots;
    memcpy(&slots, data, 4);
    dsdt(slots);
    struct pci_hotplug hp;
    pci_hp_init(&hp, slots);
    struct bus mmio;
    bus_init(&mmio);
    struct pci_host *h = pci_host_create(&mmio, NULL, ECAM, WIN, WIN_SIZE);
    struct pci_func f[NF];
    int where[NF];
    for (unsigned i = 0; i < NF; i++) {
        pci_func_init(&f[i], "f", 0x1af4, 0x1040, 0xff0000, 1, 0x1af4, 1, &fops, NULL);
        pci_func_add_bar64(&f[i], 0, 0x1000u << i);
        if (i & 1)
            pci_func_add_bar64(&f[i], 2, 0x4000);
        where[i] = 0;
    }
    for (size_t i = 4; i + 7 <= size; i += 7) {
        uint8_t op = data[i], arg = data[i + 1];
        unsigned width = 1u << (op >> 3 & 3), slot = arg % 32;
        uint32_t val;
        memcpy(&val, data + i + 2, 4);
        uint64_t off = data[i + 6] % (PCI_HP_SIZE + 4);
        switch (op & 7) {
        case 0: {                                   /* the guest's eject */
            uint32_t before = hp.plugged, ej = pci_hp_write(&hp, off, val, width);
            if ((ej & ~before) || (ej & hp.plugged) || (ej & ~hp.slots) || (ej && (off != PCI_HP_EJECT || width != 4)))
                __builtin_trap();
            break;
        }
        case 1:                                     /* the guest's read */
            if (pci_hp_read(&hp, off, width) & ~(uint64_t)hp.slots)
                __builtin_trap();
            break;
        case 2: {                                   /* the host plugs */
            int r = pci_hp_plug(&hp, slot);
            if (r == 0 && (!(hp.plugged >> slot & 1) || !(hp.slots >> slot & 1)))
                __builtin_trap();
            break;
        }
        case 3:
            pci_hp_unplug_request(&hp, slot);
            break;
        case 4: {                                   /* a function into a slot */
            unsigned k = arg % NF;
            if (!h || where[k])
                break;
            if (pci_host_add_at(h, &f[k], slot) == 0) {
                where[k] = (int)slot;
                check_bars(h, &f[k]);
                for (unsigned j = 0; j < NF; j++)
                    for (unsigned b = 0; j != k && where[j] && b < PCI_NUM_BARS; b++)
                        for (unsigned c = 0; c < PCI_NUM_BARS; c++) {
                            uint64_t a = pci_func_bar_addr(&f[k], c), as = f[k].bar_size[c];
                            uint64_t o = pci_func_bar_addr(&f[j], b), os = f[j].bar_size[b];
                            if (as && os && a < o + os && o < a + as)
                                __builtin_trap();
                        }
            }
            break;
        }
        case 5: {                                   /* and out again */
            struct pci_func *g = h ? pci_host_remove(h, slot) : NULL;
            for (unsigned k = 0; g && k < NF; k++)
                if (g == &f[k])
                    where[k] = 0;
            if (h) {
                uint64_t v = 0;
                bus_access(&mmio, ECAM + ((uint64_t)slot << 15), &v, 4, false);
                if (slot && v != 0xffffffffu)
                    __builtin_trap();
            }
            break;
        }
        default: {                                  /* the guest writes config space */
            uint64_t v = val;
            bus_access(&mmio, ECAM + ((uint64_t)slot << 15) + (data[i + 6] & 0xfc), &v, width > 4 ? 4 : width, true);
            break;
        }
        }
    }
    pci_host_destroy(h);
    bus_destroy(&mmio);
    return 0;
}

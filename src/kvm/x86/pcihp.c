/* ACPI PCI hotplug for `vessel kvm` (virtio-pci): the AML of the PCI root's
 * hot-pluggable slots and the engine's side of QMP device_add/device_del.
 * The shape is QEMU's acpi-pci-hotplug and Cloud Hypervisor's: one ACPI
 * device per slot under \_SB.PCI0 (_ADR, _SUN, _EJ0), a register block
 * with the slots plugged and asked back since the guest last looked (dev/
 * pci's struct pci_hotplug), and a scan method PCNT the generic event
 * device calls on VKVM_ACPI_EVENT_PCIHP, which notifies each slot: 1
 * (device check: Linux's acpiphp scans the slot and binds the driver) or
 * 3 (eject request: the driver lets go, then the slot's _EJ0 writes the
 * eject register and vessel takes the device out). */
#include "kvm/x86/internal.h"
#include "kvm/x86/aml.h"

#include <errno.h>
#include <stdio.h>

static void slot_name(char out[5], unsigned s)
{
    snprintf(out, 5, "S%02X", s & 0xff);
}

/* Method(PCNT, 0, Serialized) { Local0 = PCIU; Local1 = PCID;
 *   If (Local0 & (1 << s)) { Notify(Sxx, 1) }  If (Local1 & (1 << s)) { Notify(Sxx, 3) } ... } */
static void pcihp_scan(struct aml *a)
{
    aml_method(a, "PCNT", 0, true);
    aml_byte(a, AML_STORE); aml_name(a, "PCIU"); aml_byte(a, AML_LOCAL0);
    aml_byte(a, AML_STORE); aml_name(a, "PCID"); aml_byte(a, AML_LOCAL0 + 1);
    for (unsigned s = 1; s <= VKVM_PCI_HP_SLOTS; s++) {
        char n[5];
        slot_name(n, s);
        for (unsigned k = 0; k < 2; k++) {
            aml_begin(a, OP_IF, 1);
            aml_byte(a, AML_AND); aml_byte(a, (uint8_t)(AML_LOCAL0 + k)); aml_int(a, 1u << s); aml_byte(a, AML_ZERO);
            aml_byte(a, AML_NOTIFY); aml_name(a, n); aml_int(a, k ? 3 : 1);
            aml_end(a);
        }
    }
    aml_end(a);
}

void vkvm_pcihp_aml(struct aml *a, uint32_t slots)
{
    aml_opregion(a, "PCHR", VKVM_PCIHP_BASE, PCI_HP_SIZE);
    /* Field(PCHR, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32, B0EJ, 32 } */
    aml_begin(a, OP_FIELD, 2);
    aml_name(a, "PCHR");
    aml_byte(a, AML_FIELD_DWORD | AML_FIELD_WRITE_ZEROS);
    static const char *const regs[] = { "PCIU", "PCID", "B0EJ" };
    for (unsigned k = 0; k < 3; k++) {
        aml_seg(a, regs[k], 4);
        aml_byte(a, 32);
    }
    aml_end(a);
    pcihp_scan(a);
    for (unsigned s = 1; s <= VKVM_PCI_HP_SLOTS; s++) {
        char n[5];
        slot_name(n, s);
        aml_begin(a, OP_DEVICE, 2);
        aml_name(a, n);
        aml_name_int(a, "_ADR", (uint64_t)s << 16);
        aml_name_int(a, "_SUN", s);
        if (slots >> s & 1) {       /* Method(_EJ0, 1) { B0EJ = 1 << s } */
            aml_method(a, "_EJ0", 1, false);
            aml_byte(a, AML_STORE); aml_int(a, 1u << s); aml_name(a, "B0EJ");
            aml_end(a);
        }
        aml_end(a);
    }
}

/* ---- the engine's side ---- */
int vkvm_pci_hotplug(void *eng, unsigned slot, bool plug)
{
    struct vkvm_vm *vm = eng;
    if (!vm->pcihp_on)
        return -EOPNOTSUPP;
    int r = plug ? pci_hp_plug(&vm->pcihp, slot) : pci_hp_unplug_request(&vm->pcihp, slot);
    if (r == 0)
        vkvm_acpi_event(&vm->acpi_regs, VKVM_ACPI_EVENT_PCIHP);
    return r;
}

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    return pci_hp_read(&vm->pcihp, off, size);
}

/* The guest's _EJ0: the machine takes each slot's device out at once (the
 * guest sees an empty slot from here on) and frees it on its I/O thread. */
static void regs_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    uint32_t ej = pci_hp_write(&vm->pcihp, off, val, size);
    for (unsigned s = 1; s < 32; s++)
        if (ej >> s & 1) {
            log_info("guest: PCI slot %u ejected", s);
            machine_pci_ejected(vm->mach, s);
        }
}
static const struct bus_ops pcihp_ops = { regs_read, regs_write };

int vkvm_pcihp_attach(struct vkvm_vm *vm, uint32_t slots)
{
    pci_hp_init(&vm->pcihp, slots);
    if (bus_register(vm->mmio, VKVM_PCIHP_BASE, PCI_HP_SIZE, &pcihp_ops, vm, "pci hotplug") < 0)
        return -EEXIST;
    vm->pcihp_on = true;
    return 0;
}

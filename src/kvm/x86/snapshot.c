/* The x86-64 engine's snapshot format, without /dev/kvm: which MSRs a
 * snapshot carries, the checks every engine section passes before any of
 * it reaches KVM, and the configuration `vessel kvm --restore` builds the
 * machine from. The ioctls that fill and apply the sections are state.c. */
#include "kvm/x86/kvm.h"
#include "base/base.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* MSRs KVM lists that a snapshot leaves out: MCG_CTL (Linux does not
 * export it as a guest MSR; Firecracker leaves it out too), Intel PT's
 * RTIT registers (refused unless the guest has PT, which vessel never
 * offers) and the TSC deadline (set on its own, after the LAPIC). */
bool vkvm_msr_saveable(uint32_t index)
{
    if (index == 0x17b || index == VKVM_MSR_TSC_DEADLINE)
        return false;
    if ((index >= 0x560 && index <= 0x571) || (index >= 0x580 && index <= 0x587))
        return false;
    return true;
}

unsigned vkvm_msr_filter(const uint32_t *in, unsigned n, uint32_t *out, unsigned max)
{
    unsigned k = 0;
    bool tsc = false;
    for (unsigned i = 0; i < n; i++)
        tsc |= in[i] == VKVM_MSR_TSC;
    if (tsc && max)
        out[k++] = VKVM_MSR_TSC;
    for (unsigned i = 0; i < n && k < max; i++) {
        if (in[i] == VKVM_MSR_TSC || !vkvm_msr_saveable(in[i]))
            continue;
        bool dup = false;
        for (unsigned j = 0; j < k && !dup; j++)
            dup = out[j] == in[i];
        if (!dup)
            out[k++] = in[i];
    }
    return k;
}

static const void *section(const struct snap *s, const char *name, size_t size, char *err, size_t errlen)
{
    return snap_section_exact(s, name, VKVM_SNAP_VERSION, size, err, errlen);
}

static int check_cpu(const struct snap *s, const struct vkvm_cpu_state *c, unsigned cpu, char *err,
                     size_t errlen)
{
    const char *why = NULL;
    if (c->cpu != cpu)
        why = "another vCPU's state";
    else if (c->flags & ~(VKVM_CPU_XSAVE | VKVM_CPU_XCRS | VKVM_CPU_DEADLINE))
        why = "unknown flags";
    else if (c->mp_state > KVM_MP_STATE_SIPI_RECEIVED)
        why = "an mp_state no x86 vCPU has";
    else if (c->nmsrs > VKVM_SNAP_MAX_MSRS)
        why = "too many MSRs";
    else if (c->msrs[0].index != VKVM_MSR_TSC && c->nmsrs)
        why = "the TSC is not the first MSR";
    else if ((c->flags & VKVM_CPU_XCRS) && c->xcrs.nr_xcrs > KVM_MAX_XCRS)
        why = "too many XCRs";
    for (unsigned i = 0; !why && i < c->nmsrs; i++) {
        if (c->msrs[i].reserved)
            why = "a reserved MSR field set";
        else if (!vkvm_msr_saveable(c->msrs[i].index))
            why = "an MSR a snapshot does not carry";
        for (unsigned j = 0; !why && j < i; j++)
            if (c->msrs[j].index == c->msrs[i].index)
                why = "an MSR twice";
    }
    if (!why)
        return 0;
    snprintf(err, errlen, "snapshot %s: kvm.cpu.%u: %s", snap_dir(s), cpu, why);
    return -EINVAL;
}

static int check_vm(const struct snap *s, const struct vkvm_vm_state *v, unsigned ncpus, uint32_t flags,
                    char *err, size_t errlen)
{
    if (v->ncpus != ncpus || v->flags != flags) {
        snprintf(err, errlen, "snapshot %s: kvm.vm: %u vCPUs, %s, %s; this machine has %u, %s, %s", snap_dir(s),
                 v->ncpus, v->flags & VKVM_VM_ACPI ? "ACPI" : "no ACPI", v->flags & VKVM_VM_MMIO ? "mmio" : "pci",
                 ncpus, flags & VKVM_VM_ACPI ? "ACPI" : "no ACPI", flags & VKVM_VM_MMIO ? "mmio" : "pci");
        return -EINVAL;
    }
    if (v->pic[0].chip_id != KVM_IRQCHIP_PIC_MASTER || v->pic[1].chip_id != KVM_IRQCHIP_PIC_SLAVE ||
        v->ioapic.chip_id != KVM_IRQCHIP_IOAPIC || v->reserved || (v->acpi_events & ~VKVM_ACPI_EVENT_PWRBTN)) {
        snprintf(err, errlen, "snapshot %s: kvm.vm: interrupt controllers or board state no machine has",
                 snap_dir(s));
        return -EINVAL;
    }
    return 0;
}

int vkvm_snap_check(const struct snap *s, unsigned ncpus, uint32_t flags, char *err, size_t errlen)
{
    if (ncpus == 0 || ncpus > VKVM_MAX_VCPUS) {
        snprintf(err, errlen, "snapshot %s: %u vCPUs", snap_dir(s), ncpus);
        return -EINVAL;
    }
    const struct vkvm_vm_state *v = section(s, "kvm.vm", sizeof(*v), err, errlen);
    if (!v || check_vm(s, v, ncpus, flags, err, errlen))
        return -EINVAL;
    for (unsigned i = 0; i < ncpus; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kvm.cpu.%u", i);
        const struct vkvm_cpu_state *c = section(s, name, sizeof(*c), err, errlen);
        if (!c || check_cpu(s, c, i, err, errlen))
            return -EINVAL;
    }
    for (unsigned i = 0; i < snap_nsections(s); i++) {
        const char *n = snap_section_name(s, i);
        unsigned cpu;
        char tail;
        if (strncmp(n, "kvm.", 4) || !strcmp(n, "kvm.vm") ||
            (sscanf(n, "kvm.cpu.%u%c", &cpu, &tail) == 1 && cpu < ncpus))
            continue;
        snprintf(err, errlen, "snapshot %s: section %s is not one this vessel or this machine has", snap_dir(s), n);
        return -EINVAL;
    }
    return 0;
}

int vkvm_config_from_snapshot(struct vkvm_config *cfg, const struct snap *s)
{
    uint64_t ram, ncpus, acpi, mmio, h0, h1;
    if (strcmp(snap_type(s), VKVM_MACHINE_TYPE)) {
        log_error("--restore %s: a snapshot of a %s machine, not of vessel kvm's %s", snap_dir(s), snap_type(s),
                  VKVM_MACHINE_TYPE);
        return -EINVAL;
    }
    cfg->kernel = snap_config(s, "kernel");
    cfg->initrd = snap_config(s, "initrd");
    cfg->append = snap_config(s, "append");
    if (!snap_config_u64(s, "ram_size", &ram) || !snap_config_u64(s, "ncpus", &ncpus) ||
        !snap_config_u64(s, "acpi", &acpi) || !snap_config_u64(s, "mmio", &mmio) ||
        !snap_config_u64(s, "cpu_hide0", &h0) || !snap_config_u64(s, "cpu_hide1", &h1) || !cfg->kernel ||
        !cfg->append || ncpus < 1 || ncpus > VKVM_MAX_VCPUS || ram < MACHINE_MIN_RAM || ram % MEM_PAGE_SIZE ||
        acpi > 1 || mmio > 1) {
        log_error("--restore %s: the manifest's config lacks kernel, append, ram_size, ncpus, acpi, mmio or "
                  "cpu_hide0/1, or holds impossible values", snap_dir(s));
        return -EINVAL;
    }
    cfg->mc.ram_size = ram;
    cfg->mc.ncpus = (unsigned)ncpus;
    cfg->no_acpi = !acpi;
    cfg->mmio = mmio;
    cfg->hide.mask[0] = h0;
    cfg->hide.mask[1] = h1;
    for (unsigned i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof(key), "virtio.%u", i);
        const char *spec = snap_config(s, key);
        if (!spec)
            break;
        if (virtio_options_add_spec(&cfg->mc.virtio, spec) < 0)
            return -EINVAL;
    }
    char err[512];
    if (vkvm_snap_check(s, cfg->mc.ncpus, (acpi ? VKVM_VM_ACPI : 0) | (mmio ? VKVM_VM_MMIO : 0), err,
                        sizeof(err)) < 0) {
        log_error("--restore: %s", err);
        return -EINVAL;
    }
    cfg->restore = s;
    return 0;
}

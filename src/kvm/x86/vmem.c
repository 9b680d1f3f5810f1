/* virtio-mem on `vessel kvm` (--memory-hotplug): the device-managed region
 * above RAM (a guest_mem region, so a KVM memory slot, MAP_NORESERVE: a
 * block costs host memory once the guest touches it), the virtio-mem
 * device (dev/virtio/mem.c) as a virtio-pci function in a free slot of bus
 * 0, unplugged blocks given back with mem_discard (MADV_DONTNEED, or a
 * hole punched in a memfd). Not in the e820: the guest's virtio-mem driver
 * adds what it plugs. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

uint64_t vkvm_vmem_base(uint64_t ram)
{
    uint64_t low = ram < VKVM_PCI_HOLE_START ? ram : VKVM_PCI_HOLE_START;
    uint64_t top = VKVM_HIGH_RAM_START + (ram - low);
    return (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
}

int vkvm_parse_memory_hotplug(const char *spec, struct virtio_mem_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->block_size = 2ULL << 20;
    snprintf(o->id, sizeof(o->id), "vmem0");
    cleanup_free char *buf = xstrdup(spec);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        uint64_t *dst = NULL;
        if (eq)
            *eq = 0;
        if (!strcmp(t, "size")) dst = &o->size;
        else if (!strcmp(t, "block-size")) dst = &o->block_size;
        else if (!strcmp(t, "requested")) dst = &o->requested;
        if (eq && !strcmp(t, "id")) {
            if (!eq[1] || strlen(eq + 1) >= sizeof(o->id)) {
                log_error("--memory-hotplug %s: id '%s' must be 1 to %zu characters", spec, eq + 1, sizeof(o->id) - 1);
                return -EINVAL;
            }
            snprintf(o->id, sizeof(o->id), "%s", eq + 1);
            continue;
        }
        if (!dst || !eq || parse_size(eq + 1, 1, dst) < 0) {
            log_error("--memory-hotplug %s: '%s%s%s' is not size=, block-size=, requested= (a size) or id=", spec, t,
                      eq ? "=" : "", eq ? eq + 1 : "");
            return -EINVAL;
        }
    }
    o->addr = 1ULL << 32;           /* any aligned address for the check; the board sets the real one */
    char err[200];
    if (!o->size) {
        log_error("--memory-hotplug %s: size= is required (the most the device can plug)", spec);
        return -EINVAL;
    }
    if (o->size % (128ULL << 20)) {
        log_error("--memory-hotplug %s: size %llu must be a multiple of 128 MiB (Linux's memory block on x86-64)",
                  spec, (unsigned long long)o->size);
        return -EINVAL;
    }
    if (virtio_mem_check_opts(o, err, sizeof(err)) < 0) {
        log_error("--memory-hotplug %s: %s", spec, err);
        return -EINVAL;
    }
    return 0;
}

/* ---- the device ---- */
static void vmem_discard(void *opaque, uint64_t gpa, uint64_t len)
{
    struct vkvm_vm *vm = opaque;
    if (mem_discard(vm->m, gpa, len) < 0)
        log_warn("virtio-mem: discarding 0x%llx+0x%llx failed", (unsigned long long)gpa, (unsigned long long)len);
}

static void vmem_changed(void *opaque, uint64_t plugged)
{
    struct vkvm_vm *vm = opaque;
    log_info("virtio-mem %s: %llu MiB plugged", vm->cfg->vmem.id, (unsigned long long)(plugged >> 20));
}

static void vmem_dev_reset(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    virtio_reset(virtio_mem_dev(vm->vmem));
    virtio_mem_reset(vm->vmem);
}
static void vmem_dev_pause(void *opaque) { virtio_dev_pause(virtio_mem_dev(((struct vkvm_vm *)opaque)->vmem)); }
static void vmem_dev_resume(void *opaque) { virtio_dev_resume(virtio_mem_dev(((struct vkvm_vm *)opaque)->vmem)); }
static void vmem_dev_destroy(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    virtio_pci_destroy(vm->vmem_pci);
    virtio_mem_destroy(vm->vmem);
    vm->vmem = NULL;
    vm->vmem_pci = NULL;
}
static const struct machine_dev_ops vmem_dev_ops = {
    .name = "virtio-mem", .reset = vmem_dev_reset, .pause = vmem_dev_pause, .resume = vmem_dev_resume,
    .destroy = vmem_dev_destroy,
};

int vkvm_vmem_attach(struct vkvm_vm *vm, struct msi_line msi, struct irq_line (*irq_for)(void *, unsigned))
{
    struct virtio_mem_opts o = vm->cfg->vmem;
    o.addr = vkvm_vmem_base(vm->cfg->mc.ram_size);
    unsigned slot = 1;
    while (slot <= VKVM_PCI_HP_SLOTS && pci_host_slot_used(vm->pci, slot))
        slot++;
    if (slot > VKVM_PCI_HP_SLOTS) {
        log_error("--memory-hotplug: no free PCI slot");
        return -ENOSPC;
    }
    struct virtio_mem_host h = { vmem_discard, vmem_changed, vm };
    vm->vmem = virtio_mem_create(&o, &h);
    if (!vm->vmem)
        return -EINVAL;
    vm->vmem_pci = virtio_pci_create(NULL, irq_for(vm, slot - 1), msi, vm->m, virtio_mem_dev(vm->vmem));
    int r = vm->vmem_pci ? pci_host_add_at(vm->pci, virtio_pci_func(vm->vmem_pci), slot) : -EINVAL;
    machine_dev_add(vm->mach, o.id, &vmem_dev_ops, vm);     /* destroys what was made, whatever happens */
    if (r == 0 && vm->doorbells.assign && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0)
        r = virtio_pci_doorbells(vm->vmem_pci, machine_loop(vm->mach), &vm->doorbells);
    if (r == 0)
        r = machine_set_memdev(vm->mach, vm->vmem);
    if (r < 0)
        log_error("--memory-hotplug: cannot put the device on the PCI bus: %s", strerror(-r));
    else
        log_info("virtio-mem %s: %llu MiB at 0x%llx in blocks of %llu KiB, PCI slot %u", o.id,
                 (unsigned long long)(o.size >> 20), (unsigned long long)o.addr,
                 (unsigned long long)(o.block_size >> 10), slot);
    return r;
}

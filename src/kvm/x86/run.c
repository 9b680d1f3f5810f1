/* `vessel kvm`: read and check the images, build the machine and its x86
 * board (COM1, i8042 reset line, debug-exit port, the virtio devices on a
 * PCI host bridge or in virtio-mmio slots in the 3-4 GiB hole), boot and
 * run. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- the board's small devices ---- */

/* An interrupt line is a GSI of the in-kernel irqchip (GSI n = IOAPIC pin
 * n, and the 8259 for n < 16). KVM_IRQ_LINE is thread-safe. */
static void vkvm_irq_set(void *opaque, unsigned n, int level)
{
    struct vkvm_vm *vm = opaque;
    struct kvm_irq_level l = { .irq = n, .level = level ? 1 : 0 };
    if (ioctl(vm->fd, KVM_IRQ_LINE, &l) < 0)
        log_once(LOG_WARN, "KVM_IRQ_LINE %u: %s", n, strerror(errno));
}

static struct irq_line vm_irq(struct vkvm_vm *vm, unsigned gsi)
{
    return (struct irq_line){ vkvm_irq_set, vm, gsi };
}

static struct irq_line virtio_irq_for(void *opaque, unsigned i)
{
    return vm_irq(opaque, VKVM_VIRTIO_FIRST_IRQ + i);
}

/* A virtio-pci queue's notification register as an eventfd: the guest's
 * 2-byte write there signals `fd` inside KVM, with no exit to vessel. */
static int vkvm_doorbell(void *opaque, uint64_t gpa, unsigned len, int fd, bool on)
{
    struct vkvm_vm *vm = opaque;
    struct kvm_ioeventfd io = { .addr = gpa, .len = len, .fd = fd,
                                .flags = on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN };
    return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* The PCI host bridge as a machine device: a system reset puts every
 * function's config space (BARs, MSI-X) back to power-on. */
static void pci_dev_reset(void *opaque) { pci_host_reset(opaque); }
static void pci_dev_destroy(void *opaque) { pci_host_destroy(opaque); }
static void pci_dev_save(void *opaque, void *st) { pci_host_save(opaque, st); }
static int pci_dev_load(void *opaque, const void *st) { return pci_host_load(opaque, st); }
static const struct machine_dev_ops pci_dev_ops = {
    .name = "pci-host", .reset = pci_dev_reset, .state_size = sizeof(struct pci_host_state),
    .save = pci_dev_save, .load = pci_dev_load, .destroy = pci_dev_destroy,
};

static int add_virtio(struct vkvm_vm *vm)
{
    struct machine *m = vm->mach;
    struct machine_virtio_layout l = {
        .bus = vm->mmio, .base = VKVM_VIRTIO_MMIO_BASE, .stride = VKVM_VIRTIO_MMIO_STRIDE,
        .nslots = VKVM_ACPI_GED_IRQ - VKVM_VIRTIO_FIRST_IRQ, .first_irq = VKVM_VIRTIO_FIRST_IRQ,
        .irq_for = virtio_irq_for, .opaque = vm,
    };
    /* virtio-pci: the host bridge whenever a device is or may come (ACPI
     * PCI hotplug) */
    if (!vm->cfg->mmio && (machine_config(m)->virtio.n || vm->acpi)) {
        vm->pci = pci_host_create(vm->mmio, vm->pio, VKVM_PCI_ECAM_BASE, VKVM_PCI_MMIO_BASE, VKVM_PCI_MMIO_SIZE);
        if (!vm->pci)
            return -EINVAL;
        machine_dev_add(m, "pci0", &pci_dev_ops, vm->pci);
        l.pci = vm->pci;
        l.msi = (struct msi_line){ vkvm_msi_send, &vm->msi };
        vm->doorbells = (struct virtio_doorbell_ops){ vkvm_doorbell, vm };
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0)
            l.doorbells = &vm->doorbells;
    }
    int r = machine_add_virtio(m, &l);
    for (unsigned i = 0; r == 0 && i < machine_virtio_count(m); i++)
        vm->level_pins |= 1u << (VKVM_VIRTIO_FIRST_IRQ + i);
    if (r == 0 && vm->cfg->vmem.size) {
        if (!vm->pci) {
            log_error("--memory-hotplug: virtio-mem is a virtio-pci device (drop --transport mmio)");
            return -EINVAL;
        }
        r = vkvm_vmem_attach(vm, l.msi, virtio_irq_for);
    }
    if (r == 0 && vm->pci && vm->acpi) {
        /* the slots no boot device holds take hot-plugged ones */
        uint32_t slots = 0;
        for (unsigned s = 1; s <= VKVM_PCI_HP_SLOTS; s++)
            if (!pci_host_slot_used(vm->pci, s))
                slots |= 1u << s;
        r = vkvm_pcihp_attach(vm, slots);
    }
    return r;
}

/* Debug-exit port of the test guests: the byte written is the exit status. */
static void debug_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    machine_shutdown(vm->mach, MACHINE_STOP_EXIT, (int)(val & 0xff));
}
static const struct bus_ops debug_exit_ops = { NULL, debug_exit_write };

/* i8042: only the reset line. The status port reads 0 (no data, input
 * buffer empty) so a kernel's reset path does not wait; command 0xfe pulses
 * reset: the machine resets (or stops with --no-reboot). Keyboard and
 * mouse are not emulated. */
static uint64_t i8042_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}
static void i8042_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
}
static void i8042_cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vkvm_vm *vm = opaque;
    if ((val & 0xff) == 0xfe) {
        log_info("guest: reset through the i8042");
        machine_shutdown(vm->mach, MACHINE_STOP_REBOOT, 0);
    }
}
static const struct bus_ops i8042_data_ops = { i8042_read, i8042_data_write };
static const struct bus_ops i8042_cmd_ops = { i8042_read, i8042_cmd_write };

static int board_create(struct vkvm_vm *vm)
{
    struct machine *m = vm->mach;
    int r = machine_add_uart(m, vm->pio, VKVM_COM1_PORT, 0, vm_irq(vm, VKVM_COM1_IRQ));
    if (r)
        return r;
    if (bus_register(vm->pio, 0x60, 1, &i8042_data_ops, vm, "i8042 data") < 0 ||
        bus_register(vm->pio, 0x64, 1, &i8042_cmd_ops, vm, "i8042 command") < 0 ||
        bus_register(vm->pio, VKVM_DEBUG_EXIT_PORT, 1, &debug_exit_ops, vm, "debug-exit") < 0)
        return -EEXIST;
    /* ACPI: its register block and power button (the GED takes the last pin) */
    if (vm->acpi && (r = vkvm_acpi_attach(&vm->acpi_regs, m, vm->mmio, vm->pio, vm_irq(vm, VKVM_ACPI_GED_IRQ))))
        return r;
    if (vm->acpi && vm->boot_cpus != vm->ncpus && (r = vkvm_cpuhp_attach(vm)))
        return r;
    if ((r = add_virtio(vm)))
        return r;
    /* the user's command line, then the virtio-mmio devices, unless the
     * DSDT describes them (a kernel seeing both probed each twice) */
    char devs[2048] = "";
    if (!vm->acpi)
        r = machine_virtio_cmdline(m, devs, sizeof(devs));
    if (r < 0) {
        log_error("virtio devices: command line too long");
        return r;
    }
    const char *append = vm->cfg->append;
    vm->cmdline = xasprintf("%s%s%s", append, *append && *devs ? " " : "", devs);
    return 0;
}

/* ---- loading (at start and on every reset) ---- */

/* No firmware, but something at the reset vector: Linux with
 * hardware-reduced ACPI and no EFI reboots through "BOOT_EFI", then
 * machine_real_restart() jumps to 0xf000:0xfff0 as into a BIOS; there, the
 * reset control register resets (mov dx, 0xcf9; mov al, 6; out dx, al;
 * then hlt forever). Without it the CPU ran zeros there and the reboot
 * hung. */
static int write_reset_stub(struct guest_mem *m)
{
    static const uint8_t stub[] = { 0xba, VKVM_ACPI_RESET_PORT & 0xff, VKVM_ACPI_RESET_PORT >> 8,
                                    0xb0, VKVM_ACPI_RESET_VALUE, 0xee, 0xf4, 0xeb, 0xfd };
    return mem_write(m, VKVM_RESET_VECTOR, stub, sizeof(stub));
}

int vkvm_vm_load(struct vkvm_vm *vm)
{
    uint64_t ram = vm->cfg->mc.ram_size;
    int r = vm->pvh ? vkvm_boot_pvh(vm->m, ram, vm->img, vm->img_len, vm->ird, vm->ird_len, vm->cmdline, &vm->st)
                    : vkvm_boot_bzimage(vm->m, ram, vm->img, vm->img_len, vm->ird, vm->ird_len, vm->cmdline,
                                        &vm->st);
    if (r == 0 && (r = vkvm_mptable_build(vm->m, vm->ncpus, vm->level_pins)))
        log_error("MP table: %s", strerror(-r));
    if (r == 0 && (r = write_reset_stub(vm->m)))
        log_error("reset vector: %s", strerror(-r));
    if (r == 0 && vm->acpi) {
        struct vkvm_acpi_config ac = { .ncpus = vm->ncpus, .nvirtio = machine_virtio_count(vm->mach),
                                       .pci = machine_virtio_is_pci(vm->mach),
                                       .cpu_hotplug = vm->boot_cpus != vm->ncpus,
                                       .pci_hotplug = vm->pcihp_on ? vm->pcihp.slots : 0 };
        for (unsigned i = 0; ac.cpu_hotplug && i < vm->ncpus; i++)
            ac.present |= (uint64_t)vm->present[i] << i;
        for (unsigned i = 0; i < ac.nvirtio && i < VKVM_ACPI_MAX_VIRTIO; i++)
            machine_virtio_slot(vm->mach, i, &ac.virtio_base[i], &ac.virtio_irq[i]);
        if ((r = vkvm_acpi_build(vm->m, &ac)))
            log_error("ACPI tables: %s", strerror(-r));
    }
    return r;
}

/* ---- the images ---- */
struct images {
    char *img, *ird;
    size_t img_len, ird_len;
    bool pvh;
};

static int read_images(const struct vkvm_config *cfg, struct images *im)
{
    int r = read_file(cfg->kernel, &im->img, &im->img_len, 256u << 20);
    if (r) {
        log_error("--kernel %s: %s", cfg->kernel, strerror(-r));
        return r;
    }
    if (cfg->initrd) {
        r = read_file(cfg->initrd, &im->ird, &im->ird_len, (size_t)cfg->mc.ram_size);
        if (r == -EFBIG || r == -E2BIG) {
            log_error("--initrd %s: larger than guest RAM (-m %llu MiB)", cfg->initrd,
                      (unsigned long long)(cfg->mc.ram_size >> 20));
            return r;
        }
        if (r) {
            log_error("--initrd %s: %s", cfg->initrd, strerror(-r));
            return r;
        }
    }
    struct vkvm_bzimage bz;
    const char *why = NULL;
    uint32_t pvh_entry;
    im->pvh = im->img_len >= 4 && !memcmp(im->img, "\x7f" "ELF", 4);
    if (im->pvh ? vkvm_pvh_entry((const uint8_t *)im->img, im->img_len, &pvh_entry, &why)
                : vkvm_bzimage_parse((const uint8_t *)im->img, im->img_len, &bz, &why)) {
        log_error("--kernel %s: %s", cfg->kernel, why);
        return -EINVAL;
    }
    return 0;
}

static int run_machine(const struct vkvm_config *cfg, int kfd, const struct images *im)
{
    struct machine *m = machine_new(&cfg->mc);
    if (!m)
        return MACHINE_EXIT_BADARG;
    struct vkvm_vm *vm = NULL;
    int rc = 1;
    int r = vkvm_mem_layout(machine_mem(m), cfg->mc.ram_size);
    if (r) {
        log_error("-m %llu MiB: cannot map guest RAM: %s", (unsigned long long)(cfg->mc.ram_size >> 20),
                  strerror(-r));
        goto out;
    }
    if (cfg->vmem.size && (r = mem_add_ram(machine_mem(m), vkvm_vmem_base(cfg->mc.ram_size), cfg->vmem.size, 0))) {
        log_error("--memory-hotplug size=%llu MiB: cannot map the region: %s",
                  (unsigned long long)(cfg->vmem.size >> 20), strerror(-r));
        goto out;
    }
    vm = vkvm_vm_create(kfd, m, cfg);
    if (!vm)
        goto out;
    vm->img = (const uint8_t *)im->img;
    vm->img_len = im->img_len;
    vm->ird = (const uint8_t *)im->ird;
    vm->ird_len = im->ird_len;
    vm->pvh = im->pvh;
    vm->acpi = !cfg->no_acpi;
    if (board_create(vm) < 0) {
        rc = MACHINE_EXIT_BADARG;
        goto out;
    }
    if (vkvm_vm_start(vm) < 0)
        goto out;
    if (cfg->restore) {
        char err[700];
        if (machine_restore(m, cfg->restore, false, cfg->restore_verify, err, sizeof(err)) < 0) {
            log_error("--restore: %s", err);
            rc = MACHINE_EXIT_BADARG;
            goto out;
        }
    }
    rc = machine_run(m);
    if (machine_stop_reason(m) == MACHINE_STOP_REBOOT)
        log_error("the guest asked for a reboot: stopped (--no-reboot, exit status %d)", rc);
out:
    machine_free(m);        /* joins the vCPUs before the VM goes */
    if (vm) {
        free(vm->cmdline);
        vkvm_vm_destroy(vm);
    }
    return rc;
}

int vkvm_run(const struct vkvm_config *cfg)
{
    struct images im = { 0 };
    int rc = MACHINE_EXIT_BADARG;
    if (read_images(cfg, &im) == 0) {
        int kfd = vkvm_open_dev(cfg->dev);
        rc = 1;
        if (kfd >= 0) {
            rc = run_machine(cfg, kfd, &im);
            close(kfd);
        }
    }
    free(im.img);
    free(im.ird);
    return rc;
}

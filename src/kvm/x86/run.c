/* `vessel kvm`: read and check the images, build the machine and its x86
 * board (COM1, i8042 reset line, debug-exit port, the virtio devices on a
 * PCI host bridge or in virtio-mmio slots in the 3-4 GiB hole), boot and
 * run. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
        l.msi = (struct msi_line){ vkvm_msi_send, &vm->msi, vkvm_msi_bind };
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

/* ---- the images ----
 * --kernel and --initrd are read at start and again at every reset, each
 * time into a buffer that is unmapped once they are in guest RAM: kept
 * for the whole run they cost their size (3 MiB for the default guest) of
 * VMM memory outside guest RAM, as bench/kvm measured. The files stay
 * open; a file whose size or mtime changed since the start is not loaded
 * (one line; the reset fails). A pipe or other non-regular file cannot be
 * read twice: it is kept in memory. */
struct vkvm_image {
    const char *opt, *path;
    int fd;
    struct stat st;
    uint8_t *buf;
    size_t len;
    bool keep;          /* not a regular file: the buffer stays (malloc) */
};

struct vkvm_images {
    struct vkvm_image k, i;
    bool pvh;
};

static int image_read(struct vkvm_image *im)
{
    struct stat st;
    if (fstat(im->fd, &st) < 0)
        return -errno;
    if (st.st_size != im->st.st_size || st.st_mtim.tv_sec != im->st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != im->st.st_mtim.tv_nsec) {
        log_error("%s %s: changed since vessel started (size or mtime): not loaded again", im->opt, im->path);
        return -ESTALE;
    }
    im->len = (size_t)st.st_size;
    if (im->len == 0) {
        im->buf = NULL;
        return 0;
    }
    void *p = mmap(NULL, im->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    for (size_t done = 0; done < im->len;) {
        ssize_t r = pread(im->fd, (char *)p + done, im->len - done, (off_t)done);
        if (r <= 0) {
            int e = r < 0 ? -errno : -EIO;
            if (r < 0 && errno == EINTR)
                continue;
            munmap(p, im->len);
            log_error("%s %s: %s", im->opt, im->path, r < 0 ? strerror(errno) : "shorter than at the start");
            return e;
        }
        done += (size_t)r;
    }
    im->buf = p;
    return 0;
}

static void image_drop(struct vkvm_image *im)
{
    if (im->keep || !im->buf)
        return;
    munmap(im->buf, im->len);
    im->buf = NULL;
}

/* Opened and read once; max: the largest size taken; lazy: a regular file
 * is opened and checked but read only when a boot needs it (images_get).
 * 0 or -errno (logged). */
static int image_open(struct vkvm_image *im, const char *opt, const char *path, size_t max, bool lazy)
{
    *im = (struct vkvm_image){ .opt = opt, .path = path, .fd = -1 };
    if (!path)
        return 0;
    im->fd = open(path, O_RDONLY | O_CLOEXEC);
    int r = im->fd < 0 || fstat(im->fd, &im->st) < 0 ? -errno : 0;
    if (r == 0 && S_ISDIR(im->st.st_mode))
        r = -EISDIR;
    if (r == 0 && S_ISREG(im->st.st_mode) && (uint64_t)im->st.st_size > max)
        r = -EFBIG;
    if (r == 0 && S_ISREG(im->st.st_mode))
        return lazy ? 0 : image_read(im);
    if (r == 0) {
        char *b;
        im->keep = true;
        r = read_file(path, &b, &im->len, max);
        im->buf = (uint8_t *)b;
    }
    if (r && r != -EFBIG && r != -E2BIG)
        log_error("%s %s: %s", opt, path, strerror(-r));
    return r;
}

static void image_close(struct vkvm_image *im)
{
    if (im->keep)
        free(im->buf);
    else
        image_drop(im);
    im->buf = NULL;
    if (im->fd >= 0)
        close(im->fd);
    im->fd = -1;
}

static int images_get(struct vkvm_vm *vm)
{
    struct vkvm_images *im = vm->images;
    int r = 0;
    if (im && !im->k.buf && im->k.path)
        r = image_read(&im->k);
    if (im && r == 0 && !im->i.buf && im->i.path && im->i.st.st_size > 0)
        r = image_read(&im->i);
    if (im && r == 0) {
        vm->img = im->k.buf;
        vm->img_len = im->k.len;
        vm->ird = im->i.buf;
        vm->ird_len = im->i.len;
    }
    return r;
}

static void images_put(struct vkvm_vm *vm)
{
    if (!vm->images)
        return;
    image_drop(&vm->images->k);
    image_drop(&vm->images->i);
    vm->img = vm->ird = NULL;
}

int vkvm_vm_load(struct vkvm_vm *vm)
{
    uint64_t ram = vm->cfg->mc.ram_size;
    int r0 = images_get(vm);
    if (r0)
        return r0;
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
    images_put(vm);
    return r;
}

static int read_images(const struct vkvm_config *cfg, struct vkvm_images *im)
{
    /* --restore boots nothing: the snapshot's RAM holds the kernel and
     * initrd; they are read again only for a guest reset. The kernel is
     * still read and checked now, the initrd not at all. */
    int r = image_open(&im->k, "--kernel", cfg->kernel, 256u << 20, false);
    if (r == -EFBIG || r == -E2BIG)
        log_error("--kernel %s: %s", cfg->kernel, strerror(-r));
    if (r)
        return r;
    r = image_open(&im->i, "--initrd", cfg->initrd, (size_t)cfg->mc.ram_size, cfg->restore != NULL);
    if (r == -EFBIG || r == -E2BIG) {
        log_error("--initrd %s: larger than guest RAM (-m %llu MiB)", cfg->initrd,
                  (unsigned long long)(cfg->mc.ram_size >> 20));
        return r;
    }
    if (r)
        return r;
    struct vkvm_bzimage bz;
    const char *why = NULL;
    uint32_t pvh_entry;
    const uint8_t *img = im->k.buf;
    size_t len = im->k.len;
    im->pvh = len >= 4 && !memcmp(img, "\x7f" "ELF", 4);
    if (im->pvh ? vkvm_pvh_entry(img, len, &pvh_entry, &why) : vkvm_bzimage_parse(img, len, &bz, &why)) {
        log_error("--kernel %s: %s", cfg->kernel, why);
        return -EINVAL;
    }
    if (cfg->restore)
        image_drop(&im->k);
    return 0;
}

static int run_machine(const struct vkvm_config *cfg, int kfd, struct vkvm_images *im)
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
    vm->images = im;
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
    struct vkvm_images im = { .k = { .fd = -1 }, .i = { .fd = -1 } };
    int rc = MACHINE_EXIT_BADARG;
    if (read_images(cfg, &im) == 0) {
        int kfd = vkvm_open_dev(cfg->dev);
        rc = 1;
        if (kfd >= 0) {
            rc = run_machine(cfg, kfd, &im);
            close(kfd);
        }
    }
    image_close(&im.k);
    image_close(&im.i);
    return rc;
}

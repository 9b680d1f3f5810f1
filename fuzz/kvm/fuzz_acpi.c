/* libFuzzer target: vessel's ACPI register block as a guest drives it
 * (sleep control/status, reset, GED event selector: any offset, width and
 * value, power-button presses in between), and the table builder on the
 * configurations the input picks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>

#include "base/base.h"
#include "kvm/x86/kvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct line_state { int level; unsigned sets; };
static void line_set(void *opaque, unsigned n, int level)
{
    struct line_state *l = opaque;
    l->level = level;
    l->sets++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct guest_mem m;
    static int ready;
    if (!ready) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            log_set_fd(null);
        mem_init(&m);
        if (vkvm_mem_layout(&m, 32ULL << 20))
            return 0;
        ready = 1;
    }
    if (size < 2)
        return 0;
    struct vkvm_acpi_config c = { .ncpus = data[0] % (VKVM_MAX_VCPUS + 2), .nvirtio = data[1] % (VKVM_ACPI_MAX_VIRTIO + 2),
                                  .pci = data[0] >= 0x80 };
    for (unsigned i = 0; i < c.nvirtio && i < VKVM_ACPI_MAX_VIRTIO; i++) {
        c.virtio_base[i] = c.pci ? i + (data[1] >> 6) : VKVM_VIRTIO_MMIO_BASE + i * VKVM_VIRTIO_MMIO_STRIDE;
        c.virtio_irq[i] = VKVM_VIRTIO_FIRST_IRQ + i;
    }
    if (vkvm_acpi_build(&m, &c) == 0) {
        const uint8_t *t = mem_translate(&m, VKVM_ACPI_ADDR, 36);
        if (!t || vkvm_acpi_checksum(t, 20) || vkvm_acpi_checksum(t, 36))
            __builtin_trap();
    }
    struct line_state l = { 0 };
    struct vkvm_acpi a = { .irq = { line_set, &l, VKVM_ACPI_GED_IRQ } };
    for (size_t i = 2; i + 10 <= size; i += 10) {
        uint8_t op = data[i], off = data[i + 1] % (VKVM_ACPI_REGS_SIZE + 4);
        unsigned width = 1u << (op >> 2 & 3);
        uint64_t val;
        memcpy(&val, data + i + 2, 8);
        switch (op & 3) {
        case 0: vkvm_acpi_reg_write(&a, off, val, width); break;
        case 1: vkvm_acpi_reg_read(&a, off, width); break;
        case 2:
            vkvm_acpi_press(&a);
            vkvm_acpi_rcr_write(val);
            break;
        case 3:
            /* the event register reads back what was pressed, then nothing */
            if (vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_EVENT, 4) & ~VKVM_ACPI_EVENT_PWRBTN)
                __builtin_trap();
            if (vkvm_acpi_reg_read(&a, VKVM_ACPI_REG_EVENT, 4) || l.level)
                __builtin_trap();
            break;
        }
    }
    return 0;
}

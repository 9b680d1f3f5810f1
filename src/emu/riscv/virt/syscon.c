/* The syscon "test" device of QEMU virt (sifive,test1): a 32-bit write of
 * 0x5555 powers off, 0x7777 resets, 0x3333 | code << 16 fails with code. */
#include "base/base.h"
#include "emu/riscv/virt/internal.h"

static uint64_t syscon_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void syscon_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virt_board *b = opaque;
    if (off != 0 || size < 2)
        return;
    switch (val & 0xffff) {
    case VIRT_SYSCON_POWEROFF: machine_shutdown(b->mach, MACHINE_STOP_POWEROFF, 0); break;
    case VIRT_SYSCON_REBOOT: machine_shutdown(b->mach, MACHINE_STOP_REBOOT, 0); break;
    case VIRT_SYSCON_FAIL: machine_shutdown(b->mach, MACHINE_STOP_FAIL, (int)((val >> 16) & 0xff) ? (int)((val >> 16) & 0xff) : 1); break;
    default: log_guest("syscon: unknown command 0x%llx", (unsigned long long)val); break;
    }
}

static const struct bus_ops syscon_ops = { .read = syscon_read, .write = syscon_write };

int virt_syscon_init(struct virt_board *b)
{
    return bus_register(b->bus, VIRT_SYSCON_BASE, VIRT_SYSCON_SIZE, &syscon_ops, b, "syscon");
}

/* libFuzzer target: vessel kvm's CPU hotplug register block as a guest
 * drives it (selector and flags at any offset, width and value; plugs and
 * unplug requests from the host in between), and the tables built for
 * the --smp N,maxcpus=M and plugged sets the input picks. Invariants: an
 * eject names a present vCPU other than 0 and leaves it absent; no flag
 * beyond the three defined; the tables' checksums hold. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "kvm/x86/kvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (size < 9)
        return 0;
    unsigned max = data[0] % VKVM_MAX_VCPUS + 1, boot = data[1] % max + 1;
    uint64_t present;
    memcpy(&present, data + 1, 8);
    struct vkvm_acpi_config c = { .ncpus = max, .present = present, .cpu_hotplug = data[0] & 0x80 };
    if (vkvm_acpi_build(&m, &c) == 0) {
        const uint8_t *t = mem_translate(&m, VKVM_ACPI_ADDR, 36);
        if (!t || vkvm_acpi_checksum(t, 20) || vkvm_acpi_checksum(t, 36))
            __builtin_trap();
        const uint8_t *d = mem_translate(&m, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF, 8);
        uint32_t dl = d ? (uint32_t)(d[4] | d[5] << 8 | d[6] << 16 | (uint32_t)d[7] << 24) : 0;
        if (!d || dl > VKVM_ACPI_SIZE || vkvm_acpi_checksum(mem_translate(&m, VKVM_ACPI_ADDR + VKVM_ACPI_DSDT_OFF, dl), dl))
            __builtin_trap();
    }
    struct vkvm_cpuhp h;
    vkvm_cpuhp_init(&h, max, boot);
    for (size_t i = 9; i + 6 <= size; i += 6) {
        uint8_t op = data[i], off = data[i + 1] % (VKVM_CPUHP_SIZE + 2);
        unsigned width = 1u << (op >> 2 & 3);
        uint32_t val;
        memcpy(&val, data + i + 2, 4);
        switch (op & 3) {
        case 0: {
            uint32_t sel = h.sel;
            uint8_t before = sel < h.ncpus ? h.flags[sel] : 0;
            int cpu = vkvm_cpuhp_write(&h, off, val, width);
            if (cpu >= 0 && (cpu == 0 || (unsigned)cpu != sel || !(before & VKVM_CPUHP_ENABLED) || h.flags[cpu]))
                __builtin_trap();
            break;
        }
        case 1:
            if (off == VKVM_CPUHP_FLAGS && (vkvm_cpuhp_read(&h, off, width) & ~7ull))
                __builtin_trap();
            vkvm_cpuhp_read(&h, off, width);
            break;
        case 2:                 /* the host plugs (as vkvm_cpu_plug) */
            if (val % max && !(h.flags[val % max] & VKVM_CPUHP_ENABLED))
                h.flags[val % max] = VKVM_CPUHP_ENABLED | VKVM_CPUHP_INSERTING;
            break;
        case 3:                 /* the host asks for one back */
            if (h.flags[val % max] & VKVM_CPUHP_ENABLED)
                h.flags[val % max] |= VKVM_CPUHP_REMOVING;
            break;
        }
    }
    return 0;
}

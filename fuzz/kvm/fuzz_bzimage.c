/* libFuzzer target: bzImage setup-header parser and the whole boot-state
 * builder on arbitrary bytes (bounds checks in kvm/x86/boot.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>

#include "base/base.h"
#include "kvm/x86/kvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct guest_mem m;
    static int ready;
    struct vkvm_bzimage bz;
    const char *why;
    if (!ready) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            log_set_fd(null);   /* rejected inputs log one line each */
        mem_init(&m);
        if (vkvm_mem_layout(&m, 32ULL << 20))
            return 0;
        ready = 1;
    }
    if (vkvm_bzimage_parse(data, size, &bz, &why))
        return 0;
    /* Use the tail of the input as an initrd. */
    size_t il = size / 4;
    struct vkvm_boot_state st;
    vkvm_boot_bzimage(&m, 32ULL << 20, data, size, data + size - il, il, "console=ttyS0", &st);
    return 0;
}

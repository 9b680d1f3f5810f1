/* libFuzzer target: the user-mode ELF loader on arbitrary files.
 * Validation must reject or load without crashing or touching memory
 * outside the guest reservation. */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "emu/riscv/user/user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    user_elf_check(data, size, size, err, sizeof(err));
    static int fd = -1;
    if (fd < 0)
        fd = memfd_create("fuzz-elf", 0);
    if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    struct user_mem m;
    if (user_mem_init(&m, USER_SPACE_SIZE) < 0)
        return 0;
    struct user_image img;
    user_elf_load_fd(&m, fd, NULL, &img, err, sizeof(err));
    user_mem_free(&m);
    return 0;
}

/* libFuzzer target: the virt board's kernel file parsers on arbitrary bytes:
 * the RISC-V Linux Image header, and the ELF loader (PT_LOAD segments by
 * physical address, the `tohost` symbol lookup) into 16 MiB of guest RAM at
 * 0x80000000. What they accept must describe memory inside RAM. The Image
 * parser is given only the file's first bytes by the loader (the rest is
 * read straight into RAM): with a copy of just 64 bytes (reads past them
 * are caught by ASan) and the whole length it must answer the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/virt.h"
#include "mem/mem.h"

#define RAM_SIZE VIRT_MIN_RAM

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct guest_mem m;
    static bool ready;
    if (!ready) {
        log_set_level(LOG_ERROR);
        log_set_fd(open("/dev/null", O_WRONLY));
        mem_init(&m);
        if (mem_add_ram(&m, VIRT_RAM_BASE, RAM_SIZE, 0))
            abort();
        ready = true;
    }
    struct virt_image img;
    const char *why = NULL;
    int r = virt_image_parse_linux(data, size, VIRT_RAM_BASE, &img, &why);
    if (r == 0) {
        if (img.kind != VIRT_IMAGE_LINUX || img.load_addr < VIRT_RAM_BASE || img.mem_size < size ||
            img.end != img.load_addr + img.mem_size || img.entry != img.load_addr)
            abort();
    } else if (r != -ENOENT && (r != -EINVAL || !why)) {
        abort();
    }
    if (size >= 64) {
        uint8_t *head = malloc(64);
        if (!head)
            abort();
        memcpy(head, data, 64);
        struct virt_image img2;
        const char *why2 = NULL;
        int r2 = virt_image_parse_linux(head, size, VIRT_RAM_BASE, &img2, &why2);
        free(head);
        if (r2 != r || (r == 0 && memcmp(&img, &img2, sizeof(img))))
            abort();
    }
    why = NULL;
    r = virt_image_load_elf(&m, data, size, &img, &why);
    if (r == 0) {
        /* everything loaded, and the entry, lies in RAM (one region: the span is) */
        if (img.kind != VIRT_IMAGE_ELF || img.end <= img.load_addr ||
            !mem_translate(&m, img.load_addr, img.end - img.load_addr) ||
            img.entry < img.load_addr || img.entry >= img.end)
            abort();
    } else if (!why || (r != -EINVAL && r != -ERANGE)) {
        abort();
    }
    return 0;
}

/* Kernel images: the RISC-V Linux `Image` (Documentation/riscv/boot-image-header.rst)
 * and ELF files (PT_LOAD segments by physical address). */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/virt.h"
#include "mem/mem.h"

/* Image header: code0 code1 (4+4), text_offset (8), image_size (8),
 * flags (8), version (4), res1 (4), res2 (8), magic "RISCV\0\0\0" (8),
 * magic2 "RSC\x05" (4), res3 (4). Little endian. */
#define IMG_HDR_SIZE 64

static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int virt_image_parse_linux(const uint8_t *data, size_t len, uint64_t ram_base, struct virt_image *img,
                           const char **why)
{
    if (len < IMG_HDR_SIZE)
        return -ENOENT;
    bool m1 = !memcmp(data + 48, "RISCV\0\0\0", 8), m2 = !memcmp(data + 56, "RSC\x05", 4);
    if (!m1 && !m2)
        return -ENOENT;
    uint64_t text_offset = le64(data + 8), image_size = le64(data + 16);
    if (image_size == 0)     /* old kernels: 0 means unknown, use the file */
        image_size = len;
    if (text_offset % 4096 || text_offset > (1ULL << 30)) {
        *why = "bad text_offset in the Image header";
        return -EINVAL;
    }
    if (image_size < len || image_size > (4ULL << 30)) {
        *why = "image_size in the Image header is smaller than the file or absurd";
        return -EINVAL;
    }
    memset(img, 0, sizeof(*img));
    img->kind = VIRT_IMAGE_LINUX;
    img->load_addr = ram_base + text_offset;
    img->entry = img->load_addr;
    img->mem_size = image_size;
    img->end = img->load_addr + image_size;
    return 0;
}

static bool elf_in_file(size_t len, uint64_t off, uint64_t n)
{
    return off <= len && n <= len - off;
}

/* The headers sit at file-chosen offsets, not necessarily aligned: copy
 * them out rather than cast (each is checked to lie in the file first). */
static Elf64_Phdr elf_phdr(const uint8_t *data, const Elf64_Ehdr *eh, unsigned i)
{
    Elf64_Phdr ph;
    memcpy(&ph, data + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
    return ph;
}

static Elf64_Shdr elf_shdr(const uint8_t *data, const Elf64_Ehdr *eh, unsigned i)
{
    Elf64_Shdr sh;
    memcpy(&sh, data + eh->e_shoff + (uint64_t)i * sizeof(sh), sizeof(sh));
    return sh;
}

/* The `tohost` symbol's value, or 0. */
static uint64_t elf_tohost(const uint8_t *data, size_t len, const Elf64_Ehdr *eh)
{
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || !elf_in_file(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return 0;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        Elf64_Shdr sh = elf_shdr(data, eh, i);
        if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh->e_shnum)
            continue;
        Elf64_Shdr st = elf_shdr(data, eh, sh.sh_link);
        if (!elf_in_file(len, sh.sh_offset, sh.sh_size) || !elf_in_file(len, st.sh_offset, st.sh_size))
            continue;
        const char *str = (const char *)(data + st.sh_offset);
        for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
            Elf64_Sym sym;
            memcpy(&sym, data + sh.sh_offset + k * sizeof(sym), sizeof(sym));
            if (sym.st_name < st.sh_size && st.sh_size - sym.st_name > 6 && !memcmp(str + sym.st_name, "tohost", 7))
                return sym.st_value;
        }
    }
    return 0;
}

int virt_image_load_elf(struct guest_mem *mem, const uint8_t *data, size_t len, struct virt_image *img,
                        const char **why)
{
    Elf64_Ehdr ehdr;
    if (len < sizeof(ehdr) || memcmp(data, ELFMAG, SELFMAG)) {
        *why = "not an ELF file";
        return -EINVAL;
    }
    memcpy(&ehdr, data, sizeof(ehdr));
    const Elf64_Ehdr *eh = &ehdr;
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_RISCV) {
        *why = "not a 64-bit little-endian RISC-V ELF";
        return -EINVAL;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
        !elf_in_file(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
        *why = "bad program header table";
        return -EINVAL;
    }
    /* Where do the segments go? By p_paddr if they all fit in RAM, else
     * (a kernel linked at virtual addresses) relative to the lowest one,
     * moved to RAM + VIRT_KERNEL_OFFSET. */
    uint64_t lo = UINT64_MAX, hi = 0;
    bool fits = true;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = elf_phdr(data, eh, i);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || !elf_in_file(len, ph.p_offset, ph.p_filesz) ||
            ph.p_paddr + ph.p_memsz < ph.p_paddr) {
            *why = "a PT_LOAD segment lies outside the file or wraps";
            return -EINVAL;
        }
        lo = MIN(lo, ph.p_paddr);
        hi = MAX(hi, ph.p_paddr + ph.p_memsz);
        if (!mem_translate(mem, ph.p_paddr, ph.p_memsz))
            fits = false;
    }
    if (hi == 0) {
        *why = "no PT_LOAD segment";
        return -EINVAL;
    }
    uint64_t tohost = elf_tohost(data, len, eh);
    uint64_t delta = 0;
    if (!fits) {
        if (tohost || mem->nr == 0) {
            *why = "a PT_LOAD segment is outside guest RAM";
            return -ERANGE;
        }
        delta = mem->r[0].gpa + VIRT_KERNEL_OFFSET - lo;
        /* the whole span, moved, in RAM: no segment's address can wrap */
        if (!mem_translate(mem, lo + delta, hi - lo)) {
            *why = "the kernel does not fit in guest RAM";
            return -ERANGE;
        }
    }
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = elf_phdr(data, eh, i);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        uint8_t *dst = mem_translate(mem, ph.p_paddr + delta, ph.p_memsz);
        if (!dst) {
            *why = "the kernel does not fit in guest RAM";
            return -ERANGE;
        }
        memcpy(dst, data + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }
    memset(img, 0, sizeof(*img));
    img->kind = VIRT_IMAGE_ELF;
    img->load_addr = lo + delta;
    img->mem_size = hi - lo;
    img->end = hi + delta;
    img->tohost = tohost;
    /* The entry as a physical address: through the segment whose virtual
     * range holds it (a kernel's entry is virtual), else as it is. */
    uint64_t entry = eh->e_entry;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph = elf_phdr(data, eh, i);
        if (ph.p_type == PT_LOAD && eh->e_entry - ph.p_vaddr < ph.p_memsz) {
            entry = eh->e_entry - ph.p_vaddr + ph.p_paddr;
            break;
        }
    }
    if (entry - lo >= hi - lo) {
        *why = "the entry point lies outside the loaded segments";
        return -EINVAL;
    }
    img->entry = entry + delta;
    return 0;
}

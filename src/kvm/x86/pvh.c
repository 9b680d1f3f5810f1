/* PVH boot: a vmlinux ELF with the XEN_ELFNOTE_PHYS32_ENTRY note is loaded
 * by its PT_LOAD program headers and entered in 32-bit protected mode,
 * paging off, EBX = hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#include "kvm/x86/kvm.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>

static uint16_t r16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t r32(const uint8_t *p) { return (uint32_t)r16(p) | (uint32_t)r16(p + 2) << 16; }
static uint64_t r64(const uint8_t *p) { return (uint64_t)r32(p) | (uint64_t)r32(p + 4) << 32; }
static void w32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void w64(uint8_t *p, uint64_t v) { w32(p, (uint32_t)v); w32(p + 4, (uint32_t)(v >> 32)); }

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

static bool range_ok(uint64_t off, uint64_t n, size_t len)
{
    return off <= len && n <= len - off;
}

int vkvm_pvh_entry(const uint8_t *elf, size_t len, uint32_t *entry, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (len < 64 || memcmp(elf, "\x7f" "ELF", 4)) {
        *why = "not an ELF file";
        return -ENOEXEC;
    }
    if (elf[4] != 2 || elf[5] != 1 || r16(elf + 18) != 62) {
        *why = "not a little-endian ELF64 x86-64 file";
        return -ENOEXEC;
    }
    uint64_t phoff = r64(elf + 32);
    uint16_t phentsize = r16(elf + 54), phnum = r16(elf + 56);
    if (phentsize < 56 || !range_ok(phoff, (uint64_t)phentsize * phnum, len)) {
        *why = "program headers outside the file (truncated ELF)";
        return -EINVAL;
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = elf + phoff + (uint64_t)i * phentsize;
        if (r32(ph) != 4)   /* PT_NOTE */
            continue;
        uint64_t off = r64(ph + 8), sz = r64(ph + 32);
        if (!range_ok(off, sz, len)) {
            *why = "note segment outside the file (truncated ELF)";
            return -EINVAL;
        }
        const uint8_t *n = elf + off, *end = n + sz;
        while (end - n >= 12) {
            uint32_t namesz = r32(n), descsz = r32(n + 4), type = r32(n + 8);
            uint64_t nalign = ((uint64_t)namesz + 3) & ~3ULL, dalign = ((uint64_t)descsz + 3) & ~3ULL;
            if (nalign + dalign > (uint64_t)(end - n - 12))
                break;
            const uint8_t *name = n + 12, *desc = name + nalign;
            if (namesz == 4 && !memcmp(name, "Xen", 4) && type == XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
                *entry = r32(desc);
                return 0;
            }
            n = desc + dalign;
        }
    }
    *why = "no XEN_ELFNOTE_PHYS32_ENTRY note (kernel built without CONFIG_PVH)";
    return -ENOEXEC;
}

int vkvm_boot_pvh(struct guest_mem *m, uint64_t ram, const uint8_t *elf, size_t len,
                 const uint8_t *initrd, size_t initrd_len, const char *cmdline,
                 struct vkvm_boot_state *st)
{
    uint32_t entry;
    const char *why = NULL;
    int r = vkvm_pvh_entry(elf, len, &entry, &why);
    if (r) {
        log_error("kernel: %s", why);
        return r;
    }
    memset(st, 0, sizeof(*st));
    uint64_t phoff = r64(elf + 32), kend = 0;
    uint16_t phentsize = r16(elf + 54), phnum = r16(elf + 56);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = elf + phoff + (uint64_t)i * phentsize;
        if (r32(ph) != 1)   /* PT_LOAD */
            continue;
        uint64_t off = r64(ph + 8), pa = r64(ph + 24), fsz = r64(ph + 32), msz = r64(ph + 40);
        uint8_t *dst = fsz <= msz ? mem_translate(m, pa, msz) : NULL;
        if (!range_ok(off, fsz, len) || !dst) {
            log_error("kernel: PT_LOAD %u (%#llx+%#llx) outside the file or guest RAM", i,
                      (unsigned long long)pa, (unsigned long long)msz);
            return -EINVAL;
        }
        memcpy(dst, elf + off, fsz);
        memset(dst + fsz, 0, msz - fsz);
        if (pa + msz > kend)
            kend = pa + msz;
        st->kernel_size += msz;
    }
    uint64_t low_end = ram < VKVM_PCI_HOLE_START ? ram : VKVM_PCI_HOLE_START;
    uint8_t *si = mem_translate(m, VKVM_PVH_START_INFO, 0x400);
    if (!si)
        return -EFAULT;
    memset(si, 0, 0x400);
    w32(si, HVM_START_MAGIC);
    w32(si + 4, 1);                                   /* version */
    size_t cl = cmdline ? strlen(cmdline) : 0;
    uint8_t *clp = cl + 1 <= VKVM_BOOT_CMDLINE_MAX ? mem_translate(m, VKVM_BOOT_CMDLINE, cl + 1) : NULL;
    if (!clp) {
        log_error("--append: command line too long (%zu bytes)", cl);
        return -E2BIG;
    }
    memcpy(clp, cmdline ? cmdline : "", cl + 1);
    w64(si + 24, VKVM_BOOT_CMDLINE);
    if (initrd && initrd_len) {
        uint64_t floor = (kend + 0xfffff) & ~0xfffffULL;
        uint64_t addr = low_end > initrd_len ? ((low_end - initrd_len) & ~0xfffULL) : 0;
        uint8_t *ip = addr >= floor ? mem_translate(m, addr, initrd_len) : NULL;
        if (!ip) {
            log_error("--initrd: %zu bytes do not fit above the kernel (use a larger -m)", initrd_len);
            return -E2BIG;
        }
        memcpy(ip, initrd, initrd_len);
        uint8_t *mod = si + 0x200;                    /* hvm_modlist_entry */
        w64(mod, addr);
        w64(mod + 8, initrd_len);
        w32(si + 12, 1);                              /* nr_modules */
        w64(si + 16, VKVM_PVH_START_INFO + 0x200);
        st->initrd_addr = addr;
        st->initrd_size = initrd_len;
    }
    /* memmap (hvm_memmap_table_entry: addr, size, type, reserved) */
    uint8_t *mm = si + 0x100;
    uint64_t map[4][3] = {
        { 0, VKVM_EBDA_START, 1 }, { VKVM_EBDA_START, VKVM_BOOT_KERNEL - VKVM_EBDA_START, 2 },
        { VKVM_BOOT_KERNEL, low_end - VKVM_BOOT_KERNEL, 1 }, { VKVM_HIGH_RAM_START, ram - low_end, 1 },
    };
    unsigned n = ram > low_end ? 4 : 3;
    for (unsigned i = 0; i < n; i++) {
        w64(mm + 24 * i, map[i][0]);
        w64(mm + 24 * i + 8, map[i][1]);
        w32(mm + 24 * i + 16, (uint32_t)map[i][2]);
    }
    w64(si + 40, VKVM_PVH_START_INFO + 0x100);
    w32(si + 48, n);
    st->e820_entries = n;

    uint8_t *gdt = mem_translate(m, VKVM_BOOT_GDT_ADDR, 32);
    if (!gdt)
        return -EFAULT;
    memset(gdt, 0, 32);
    w64(gdt + 16, 0x00cf9b000000ffffULL);            /* 32-bit flat code */
    w64(gdt + 24, 0x00cf93000000ffffULL);            /* flat data */
    st->gdt_base = VKVM_BOOT_GDT_ADDR;
    st->gdt_limit = 31;
    st->cs = (struct vkvm_boot_seg){ .limit = 0xfffff, .selector = VKVM_BOOT_CS, .type = 0xb,
                                    .present = 1, .db = 1, .s = 1, .g = 1 };
    st->ds = (struct vkvm_boot_seg){ .limit = 0xfffff, .selector = VKVM_BOOT_DS, .type = 0x3,
                                    .present = 1, .db = 1, .s = 1, .g = 1 };
    st->cr0 = 0x11;          /* PE | ET, paging off */
    st->rflags = 2;
    st->rip = entry;
    st->rbx = VKVM_PVH_START_INFO;
    return 0;
}

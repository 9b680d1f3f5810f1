/* Linux x86 64-bit boot protocol (Documentation/arch/x86/boot.rst):
 * bzImage setup-header parsing, zero page, e820, page tables, GDT and the
 * register state for startup_64. No ioctls here. */
#include "kvm/x86/kvm.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

#define LOADED_HIGH   0x01
#define CAN_USE_HEAP  0x80
#define XLF_KERNEL_64 0x01

int vkvm_bzimage_parse(const uint8_t *img, size_t len, struct vkvm_bzimage *bz,
                      const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    memset(bz, 0, sizeof(*bz));
    if (len < 0x264) {
        *why = "file too small for a bzImage setup header";
        return -ENOEXEC;
    }
    if (rd16(img + 0x1fe) != 0xaa55 || memcmp(img + 0x202, "HdrS", 4)) {
        *why = "no boot-sector signature 0xAA55 / \"HdrS\" magic at 0x202 (not a bzImage)";
        return -ENOEXEC;
    }
    bz->version = rd16(img + 0x206);
    bz->setup_sects = img[0x1f1] ? img[0x1f1] : 4;
    bz->syssize = rd32(img + 0x1f4);
    bz->loadflags = img[0x211];
    bz->initrd_addr_max = rd32(img + 0x22c);
    bz->relocatable = img[0x234];
    bz->xloadflags = rd16(img + 0x236);
    bz->cmdline_size = rd32(img + 0x238);
    bz->init_size = rd32(img + 0x260);
    bz->pref_address = (uint64_t)rd32(img + 0x258) | (uint64_t)rd32(img + 0x25c) << 32;
    if (bz->version < 0x206) {
        *why = "boot protocol older than 2.06 (no 64-bit entry)";
        return -ENOEXEC;
    }
    if (!(bz->loadflags & LOADED_HIGH)) {
        *why = "zImage (not LOADED_HIGH); only bzImage is supported";
        return -ENOEXEC;
    }
    if (bz->version >= 0x20c && !(bz->xloadflags & XLF_KERNEL_64)) {
        *why = "xloadflags lacks XLF_KERNEL_64 (32-bit kernel)";
        return -ENOEXEC;
    }
    bz->setup_len = ((size_t)bz->setup_sects + 1) * 512;
    bz->payload_len = (size_t)bz->syssize * 16;
    if (bz->syssize == 0 || bz->setup_len > len || bz->payload_len > len - bz->setup_len) {
        *why = "truncated bzImage (setup_sects/syssize point past the end of the file)";
        return -EINVAL;
    }
    /* Header length is given by the jump at 0x200. */
    if (0x202 + (size_t)img[0x201] > bz->setup_len) {
        *why = "setup header longer than the setup sectors";
        return -EINVAL;
    }
    return 0;
}

int vkvm_mem_layout(struct guest_mem *m, uint64_t ram)
{
    if (ram < 16ULL << 20 || ram % MEM_PAGE_SIZE)
        return -EINVAL;
    uint64_t low = ram < VKVM_PCI_HOLE_START ? ram : VKVM_PCI_HOLE_START;
    int r = mem_add_ram(m, 0, low, 0);
    if (r == 0 && ram > low)
        r = mem_add_ram(m, VKVM_HIGH_RAM_START, ram - low, 0);
    return r;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
    uint8_t n = zp[0x1e8];
    uint8_t *e = zp + 0x2d0 + 20 * n;
    wr64(e, addr);
    wr64(e + 8, size);
    wr32(e + 16, type);
    zp[0x1e8] = (uint8_t)(n + 1);
}

static void set_seg(struct vkvm_boot_seg *s, uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
    *s = (struct vkvm_boot_seg){ .base = 0, .limit = 0xfffff, .selector = sel,
        .type = type, .present = 1, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1 };
}

int vkvm_boot_bzimage(struct guest_mem *m, uint64_t ram,
                     const uint8_t *img, size_t len,
                     const uint8_t *initrd, size_t initrd_len,
                     const char *cmdline, struct vkvm_boot_state *st)
{
    struct vkvm_bzimage bz;
    const char *why = NULL;
    int r = vkvm_bzimage_parse(img, len, &bz, &why);
    if (r) {
        log_error("kernel: %s", why);
        return r;
    }
    memset(st, 0, sizeof(*st));
    st->protocol = bz.version;
    uint64_t low_end = ram < VKVM_PCI_HOLE_START ? ram : VKVM_PCI_HOLE_START;

    /* Protected-mode kernel at 1 MiB; it needs init_size bytes there. */
    uint64_t need = bz.init_size > bz.payload_len ? bz.init_size : bz.payload_len;
    void *k = mem_translate(m, VKVM_BOOT_KERNEL, need);
    if (!k) {
        log_error("kernel: needs %llu bytes at 1 MiB, more than guest RAM (-m %llu MiB)",
                  (unsigned long long)need, (unsigned long long)(ram >> 20));
        return -E2BIG;
    }
    memcpy(k, img + bz.setup_len, bz.payload_len);
    st->kernel_size = bz.payload_len;

    /* Zero page: setup header copied from the image, then our fields. */
    uint8_t *zp = mem_translate(m, VKVM_BOOT_ZERO_PAGE, 4096);
    if (!zp)
        return -EFAULT;
    memset(zp, 0, 4096);
    size_t hdr_end = 0x202 + img[0x201];
    memcpy(zp + 0x1f1, img + 0x1f1, hdr_end - 0x1f1);
    zp[0x210] = 0xff;                       /* type_of_loader: undefined */
    zp[0x211] |= CAN_USE_HEAP;
    wr16(zp + 0x224, 0xfe00 - 0x200);       /* heap_end_ptr */
    wr16(zp + 0x1fa, 0xffff);               /* vid_mode: normal */

    /* Command line. */
    size_t cl = cmdline ? strlen(cmdline) : 0;
    uint64_t clmax = bz.cmdline_size ? bz.cmdline_size : 255;
    if (cl > clmax || cl + 1 > VKVM_BOOT_CMDLINE_MAX) {
        log_error("--append: command line is %zu bytes, the kernel accepts %llu",
                  cl, (unsigned long long)clmax);
        return -E2BIG;
    }
    uint8_t *clp = mem_translate(m, VKVM_BOOT_CMDLINE, cl + 1);
    if (!clp)
        return -EFAULT;
    memcpy(clp, cmdline ? cmdline : "", cl + 1);
    wr32(zp + 0x228, (uint32_t)VKVM_BOOT_CMDLINE);
    wr32(zp + 0x238, (uint32_t)clmax);

    /* initrd: as high as possible below initrd_addr_max and low RAM end. */
    if (initrd && initrd_len) {
        uint64_t top = (uint64_t)bz.initrd_addr_max + 1;
        if (top > low_end)
            top = low_end;
        /* Keep clear of the kernel and of where it decompresses itself
         * (pref_address + init_size; a non-relocatable kernel must use it). */
        uint64_t kend = VKVM_BOOT_KERNEL + need;
        if (bz.pref_address + bz.init_size > kend)
            kend = bz.pref_address + bz.init_size;
        uint64_t floor = (kend + 0xfffff) & ~0xfffffULL;
        uint64_t addr = top > initrd_len ? ((top - initrd_len) & ~0xfffULL) : 0;
        if (top < initrd_len || addr < floor) {
            log_error("--initrd: %zu bytes do not fit between the kernel and %#llx (use a larger -m)",
                      initrd_len, (unsigned long long)top);
            return -E2BIG;
        }
        void *ip = mem_translate(m, addr, initrd_len);
        if (!ip)
            return -EFAULT;
        memcpy(ip, initrd, initrd_len);
        wr32(zp + 0x218, (uint32_t)addr);
        wr32(zp + 0x21c, (uint32_t)initrd_len);
        st->initrd_addr = addr;
        st->initrd_size = initrd_len;
    }

    /* e820 map. */
    e820_add(zp, 0, VKVM_EBDA_START, 1);
    e820_add(zp, VKVM_EBDA_START, VKVM_BOOT_KERNEL - VKVM_EBDA_START, 2);
    e820_add(zp, VKVM_BOOT_KERNEL, low_end - VKVM_BOOT_KERNEL, 1);
    if (ram > low_end)
        e820_add(zp, VKVM_HIGH_RAM_START, ram - low_end, 1);
    st->e820_entries = zp[0x1e8];

    /* Identity map of the first 4 GiB with 2 MiB pages. */
    uint8_t *pml4 = mem_translate(m, VKVM_BOOT_PML4, 4096);
    uint8_t *pdpt = mem_translate(m, VKVM_BOOT_PDPT, 4096);
    uint8_t *pd = mem_translate(m, VKVM_BOOT_PD, 4 * 4096);
    if (!pml4 || !pdpt || !pd)
        return -EFAULT;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    wr64(pml4, VKVM_BOOT_PDPT | 3);
    for (int i = 0; i < 4; i++)
        wr64(pdpt + 8 * i, (VKVM_BOOT_PD + 4096ULL * i) | 3);
    for (uint64_t j = 0; j < 4 * 512; j++)
        wr64(pd + 8 * j, (j << 21) | 0x83);  /* present, writable, 2 MiB */

    /* GDT: null, null, __BOOT_CS (64-bit code), __BOOT_DS (data). */
    uint8_t *gdt = mem_translate(m, VKVM_BOOT_GDT_ADDR, 32);
    if (!gdt)
        return -EFAULT;
    wr64(gdt, 0);
    wr64(gdt + 8, 0);
    wr64(gdt + 16, 0x00af9b000000ffffULL);
    wr64(gdt + 24, 0x00cf93000000ffffULL);
    st->gdt_base = VKVM_BOOT_GDT_ADDR;
    st->gdt_limit = 31;
    set_seg(&st->cs, VKVM_BOOT_CS, 0xb, 1, 0);
    set_seg(&st->ds, VKVM_BOOT_DS, 0x3, 0, 1);

    st->cr0 = 0x80000011;       /* PG | ET | PE */
    st->cr3 = VKVM_BOOT_PML4;
    st->cr4 = 0x20;             /* PAE */
    st->efer = 0x500;           /* LME | LMA */
    st->rflags = 2;
    st->rip = VKVM_BOOT_KERNEL + 0x200;  /* startup_64 */
    st->rsp = VKVM_BOOT_STACK;
    st->rsi = VKVM_BOOT_ZERO_PAGE;
    return 0;
}

/* Loading the virt board's images: a Linux Image or an ELF (kernel or
 * bare-metal program), firmware (--bios), the initrd high in RAM and the
 * device tree at the top. Done at start and again on every reset. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

/* ---- loading ---- */
static int load_file(const char *opt, const char *path, size_t max, char **data, size_t *len)
{
    int r = read_file(path, data, len, max);
    if (r == -EFBIG || r == -E2BIG)
        log_error("%s %s: larger than guest RAM", opt, path);
    else if (r)
        log_error("%s %s: %s", opt, path, strerror(-r));
    return r;
}

static int copy_in(struct virt_board *b, const char *opt, const char *path, uint64_t gpa,
                   const void *data, size_t len)
{
    if (mem_write(b->mem, gpa, data, len) < 0) {
        log_error("%s %s: %zu bytes at 0x%llx do not fit in guest RAM", opt, path, len,
                  (unsigned long long)gpa);
        return -ERANGE;
    }
    return 0;
}

/* A kernel or initrd file being loaded. A regular file is read from its
 * fd straight into guest RAM (img_place): a bounce buffer as large as the
 * file costs a host fault per 4 KiB of it and a second copy, on the boot's
 * critical path. Anything else (a pipe) is read whole into `data`. */
struct img_file {
    int fd;            /* the regular file, or -1: `data` holds all of it */
    bool ro;           /* no w bit in its mode: it may be mapped (img_place) */
    size_t len;
    char *data;        /* fd >= 0: the first min(len, IMG_HEAD) bytes; else the whole file */
};
#define IMG_HEAD 4096

static void img_close(struct img_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->data);
    f->fd = -1;
    f->data = NULL;
}

static int img_open(const char *opt, const char *path, size_t max, struct img_file *f)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return load_file(opt, path, max, &f->data, &f->len);   /* says why it cannot */
    }
    if ((uint64_t)st.st_size > max) {
        log_error("%s %s: larger than guest RAM", opt, path);
        close(fd);
        return -EFBIG;
    }
    f->len = (size_t)st.st_size;
    f->ro = !(st.st_mode & 0222);
    size_t head = MIN(f->len, (size_t)IMG_HEAD);
    f->data = xmalloc(head + 1);
    ssize_t n = pread(fd, f->data, head, 0);
    if (n != (ssize_t)head) {
        int e = n < 0 ? -errno : -EIO;
        log_error("%s %s: %s", opt, path, n < 0 ? strerror(-e) : "the file shrank while being read");
        free(f->data);
        f->data = NULL;
        close(fd);
        return e;
    }
    f->fd = fd;
    return 0;
}

/* The whole file into `data` (an ELF image is parsed from memory). */
static int img_read_all(const char *opt, const char *path, size_t max, struct img_file *f)
{
    if (f->fd < 0)
        return 0;
    img_close(f);
    return load_file(opt, path, max, &f->data, &f->len);
}

/* The file at gpa. One nobody may write (no w bit in its mode, as the
 * default guest's cached files and a `chmod a-w` copy) is mapped privately
 * instead of copied: every guest booted from it shares the file's page
 * cache until it writes a page. A writable file is read into RAM, since a
 * rewrite that shrinks it under a running guest would fault the mapping. */
static int img_place(struct virt_board *b, const char *opt, const char *path, const struct img_file *f,
                     uint64_t gpa)
{
    if (f->fd < 0)
        return copy_in(b, opt, path, gpa, f->data, f->len);
    if (f->ro && f->len && mem_map_file(b->mem, gpa, f->fd, f->len) == 0) {
        log_debug("%s %s: mapped at 0x%llx (shared page cache, copy on write)", opt, path,
                  (unsigned long long)gpa);
        return 0;
    }
    uint8_t *dst = mem_translate(b->mem, gpa, f->len);
    if (!dst) {
        log_error("%s %s: %zu bytes at 0x%llx do not fit in guest RAM", opt, path, f->len,
                  (unsigned long long)gpa);
        return -ERANGE;
    }
    ssize_t n = read_full(f->fd, dst, f->len);     /* the fd is still at offset 0: img_open preads */
    if (n != (ssize_t)f->len) {
        int e = n < 0 ? (int)n : -EIO;
        log_error("%s %s: %s", opt, path, n < 0 ? strerror(-e) : "the file shrank while being read");
        return e;
    }
    mem_mark_dirty(b->mem, gpa, f->len);    /* after the bytes, as mem_write: decoded code there is dropped */
    return 0;
}

/* The kernel (or bare-metal program) into RAM: a Linux Image, or an ELF. */
static int load_kernel(struct virt_board *b, const struct virt_config *cfg, struct virt_boot_plan *bp)
{
    struct img_file f;
    const char *why = NULL;
    int r = img_open("--kernel", cfg->kernel, (size_t)cfg->mc.ram_size, &f);
    if (r)
        return r;
    struct virt_image img;
    /* the Image header is in the first bytes; an ELF is parsed whole */
    r = virt_image_parse_linux((const uint8_t *)f.data, f.len, VIRT_RAM_BASE, &img, &why);
    if (r == 0) {
        if (img.end > VIRT_RAM_BASE + cfg->mc.ram_size) {
            log_error("--kernel %s: needs %llu MiB from 0x%llx, more than -m %llu MiB", cfg->kernel,
                      (unsigned long long)(img.mem_size >> 20), (unsigned long long)img.load_addr,
                      (unsigned long long)(cfg->mc.ram_size >> 20));
            r = -ERANGE;
        } else {
            r = img_place(b, "--kernel", cfg->kernel, &f, img.load_addr);
        }
    } else if (r == -ENOENT && f.len >= 4 && !memcmp(f.data, "\x7f" "ELF", 4)) {
        r = img_read_all("--kernel", cfg->kernel, (size_t)cfg->mc.ram_size, &f);
        if (!r && (r = virt_image_load_elf(b->mem, (const uint8_t *)f.data, f.len, &img, &why)))
            log_error("--kernel %s: %s", cfg->kernel, why);
    } else {
        log_error("--kernel %s: %s", cfg->kernel,
                  r == -ENOENT ? "not a RISC-V Linux Image (no RISCV/RSC\\x05 magic) nor an ELF file" : why);
        r = -EINVAL;
    }
    img_close(&f);
    if (r)
        return r;
    bp->kernel_end = img.end;
    bp->entry = img.entry;
    bp->tohost = img.tohost;
    if (img.tohost && !cfg->bios) {
        bp->priv = RV_PRIV_M;         /* bare metal: M-mode from the entry, no SBI */
        bp->all_harts = true;
    } else {
        bp->priv = RV_PRIV_S;
        bp->all_harts = false;
    }
    return 0;
}

static int load_bios(struct virt_board *b, const struct virt_config *cfg, struct virt_boot_plan *bp)
{
    cleanup_free char *data = NULL;
    size_t len;
    int r = load_file("--bios", cfg->bios, (size_t)cfg->mc.ram_size, &data, &len);
    if (r)
        return r;
    if (len >= 4 && !memcmp(data, "\x7f" "ELF", 4)) {
        struct virt_image img;
        const char *why;
        if ((r = virt_image_load_elf(b->mem, (const uint8_t *)data, len, &img, &why))) {
            log_error("--bios %s: %s", cfg->bios, why);
            return r;
        }
        bp->entry = img.entry;
    } else {
        if (len > VIRT_KERNEL_OFFSET && cfg->kernel) {
            log_error("--bios %s: %zu bytes overlap the kernel at 0x%llx", cfg->bios, len,
                      (unsigned long long)(VIRT_RAM_BASE + VIRT_KERNEL_OFFSET));
            return -EINVAL;
        }
        if ((r = copy_in(b, "--bios", cfg->bios, VIRT_RAM_BASE, data, len)))
            return r;
        bp->entry = VIRT_RAM_BASE;
    }
    bp->priv = RV_PRIV_M;
    bp->all_harts = true;
    return 0;
}

/* The kernel command line: --append, and with --smp N,maxcpus=M
 * "maxcpus=N" (Linux brings up every hart in the device tree; the others
 * stay present and offline until the guest onlines them), unless the
 * command line says maxcpus= itself. */
static const char *bootargs(struct virt_board *b, const struct virt_config *cfg)
{
    const char *a = cfg->append ? cfg->append : "";
    free(b->bootargs);
    if (cfg->boot_harts && cfg->boot_harts < cfg->mc.ncpus && !strstr(a, "maxcpus="))
        b->bootargs = xasprintf("%s%smaxcpus=%u", a, *a ? " " : "", cfg->boot_harts);
    else
        b->bootargs = xstrdup(a);
    return b->bootargs;
}

/* Where the initrd goes: page-aligned just below the FDT, above the kernel
 * (and with --bios above the firmware's 2 MiB) and, with --bios, clear of
 * the window where OpenSBI copies the device tree: below it when it does
 * not fit above. 0, or -ERANGE with one line saying why. */
static int initrd_place(struct virt_board *b, const struct virt_config *cfg,
                        const struct virt_boot_plan *bp, uint64_t len, uint64_t *start)
{
    uint64_t low = bp->kernel_end;
    if (cfg->bios && low < VIRT_RAM_BASE + VIRT_KERNEL_OFFSET)
        low = VIRT_RAM_BASE + VIRT_KERNEL_OFFSET;
    uint64_t s = (b->fdt_addr - len) & ~0xfffULL;
    bool fits = len <= b->fdt_addr - VIRT_RAM_BASE && s >= low;
    uint64_t w = VIRT_RAM_BASE + VIRT_BIOS_FDT_OFFSET, we = w + VIRT_BIOS_FDT_WINDOW;
    if (fits && cfg->bios && s < we && s + len > w) {
        s = (w - len) & ~0xfffULL;
        fits = len <= w - VIRT_RAM_BASE && s >= low;
        if (!fits) {
            log_error("--initrd %s: %llu bytes fit in guest RAM neither above nor below 0x%llx-0x%llx, "
                      "where the firmware (OpenSBI fw_jump) copies the device tree (-m %llu MiB; "
                      "a larger -m places it above)", cfg->initrd, (unsigned long long)len,
                      (unsigned long long)w, (unsigned long long)we,
                      (unsigned long long)(cfg->mc.ram_size >> 20));
            return -ERANGE;
        }
    }
    if (!fits) {
        log_error("--initrd %s: %llu bytes do not fit in guest RAM above the kernel (-m %llu MiB)",
                  cfg->initrd, (unsigned long long)len, (unsigned long long)(cfg->mc.ram_size >> 20));
        return -ERANGE;
    }
    *start = s;
    return 0;
}

/* initrd high in RAM, the FDT above it at the top. */
static int load_initrd_fdt(struct virt_board *b, const struct virt_config *cfg, const struct virt_boot_plan *bp)
{
    uint64_t ram_end = VIRT_RAM_BASE + cfg->mc.ram_size;
    b->fdt_addr = ram_end - VIRT_FDT_MAX;
    struct virt_fdt_info fi = {
        .ram_base = VIRT_RAM_BASE, .ram_size = cfg->mc.ram_size, .nharts = cfg->mc.ncpus,
        .sv48 = !cfg->sv39_only, .bootargs = bootargs(b, cfg),
    };
    if (cfg->initrd) {
        struct img_file f;
        int r = img_open("--initrd", cfg->initrd, (size_t)cfg->mc.ram_size, &f);
        if (r)
            return r;
        uint64_t start = 0, len = f.len;
        r = initrd_place(b, cfg, bp, len, &start) < 0 ? -ERANGE : img_place(b, "--initrd", cfg->initrd, &f, start);
        img_close(&f);
        if (r)
            return r;
        fi.initrd_start = start;
        fi.initrd_end = start + len;
    }
    fi.nvirtio = machine_virtio_count(b->mach);
    for (unsigned i = 0; i < fi.nvirtio; i++)
        machine_virtio_slot(b->mach, i, &fi.virtio_base[i], &fi.virtio_irq[i]);
    void *dst = mem_translate(b->mem, b->fdt_addr, VIRT_FDT_MAX);
    return dst ? virt_fdt_build(&fi, dst, VIRT_FDT_MAX) : -ERANGE;
}


int virt_board_load(struct virt_board *b, const struct virt_config *cfg, struct virt_boot_plan *bp)
{
    struct virt_boot_plan kp = { 0 };
    memset(bp, 0, sizeof(*bp));
    if (cfg->kernel && load_kernel(b, cfg, &kp))
        return -EINVAL;
    if (cfg->bios) {
        if (load_bios(b, cfg, bp))
            return -EINVAL;
        bp->kernel_end = kp.kernel_end;
        bp->tohost = kp.tohost;
    } else {
        *bp = kp;
    }
    return load_initrd_fdt(b, cfg, bp) ? -EINVAL : 0;
}

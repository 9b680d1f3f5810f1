/* emu/riscv/virt: the RISC-V `virt` board behind `vessel run`.
 *
 * A machine laid out like QEMU's `-M virt` (so the same kernels, device trees
 * and OpenSBI builds work): RAM at 0x80000000, ACLINT/CLINT, PLIC, NS16550A
 * UART, syscon power-off/reboot, goldfish RTC and up to 8 virtio-mmio slots,
 * all on one struct bus; one host thread per hart on the core of
 * emu/riscv/riscv.h; the built-in SBI (sbi.c) or a firmware file (--bios).
 *
 * The pieces that do not need a running CPU (PLIC, device tree, kernel image
 * parsing) have their own entry points here so they are unit-tested alone. */
#ifndef VESSEL_VIRT_H
#define VESSEL_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "machine/machine.h"

/* ---- memory map (QEMU virt) ---- */
#define VIRT_SYSCON_BASE   0x100000ULL
#define VIRT_SYSCON_SIZE   0x1000ULL
#define VIRT_RTC_BASE      0x101000ULL
#define VIRT_RTC_SIZE      0x1000ULL
#define VIRT_RTC_IRQ       11
#define VIRT_GPIO_BASE     0x102000ULL /* SiFive GPIO: pin 0 is the power button */
#define VIRT_GPIO_SIZE     0x1000ULL
#define VIRT_GPIO_PINS     4
#define VIRT_GPIO_IRQ      12          /* pin n has IRQ 12 + n */
#define VIRT_GPIO_POWER_PIN 0
#define VIRT_POWER_BUTTON_MS 100       /* held down as long as QEMU's boards hold theirs */
#define VIRT_CLINT_BASE    0x2000000ULL
#define VIRT_CLINT_SIZE    0x10000ULL
#define VIRT_PLIC_BASE     0xc000000ULL
#define VIRT_PLIC_SIZE     0x600000ULL
#define VIRT_PLIC_NDEV     95          /* sources 1..95 */
#define VIRT_UART_BASE     0x10000000ULL
#define VIRT_UART_SIZE     0x100ULL
#define VIRT_UART_IRQ      10
#define VIRT_UART_CLOCK    3686400
#define VIRT_VIRTIO_BASE   0x10001000ULL
#define VIRT_VIRTIO_STRIDE 0x1000ULL
#define VIRT_VIRTIO_SLOTS  8
#define VIRT_VIRTIO_IRQ    1           /* slot i has IRQ 1 + i */
#define VIRT_RAM_BASE      0x80000000ULL
#define VIRT_KERNEL_OFFSET 0x200000ULL /* Image text_offset on rv64; kernel at 0x80200000 */
#define VIRT_MAX_HARTS     32
#define VIRT_MIN_RAM       (16ULL << 20)
#define VIRT_FDT_MAX       0x10000ULL
/* OpenSBI's fw_jump and fw_payload (generic platform, rv64) copy the device
 * tree to RAM + 0x2200000 and grow it there (fixups): with --bios the
 * initrd keeps clear of this window */
#define VIRT_BIOS_FDT_OFFSET 0x2200000ULL
#define VIRT_BIOS_FDT_WINDOW 0x200000ULL

/* syscon (sifive,test) values */
#define VIRT_SYSCON_POWEROFF 0x5555
#define VIRT_SYSCON_REBOOT   0x7777
#define VIRT_SYSCON_FAIL     0x3333

/* ---- what `vessel run` asked for ---- */
struct virt_config {
    struct machine_config mc;       /* RAM, harts (ncpus), serial, virtio, -S, --no-reboot, monitor */
    unsigned boot_harts;            /* --smp N,maxcpus=M: N online at boot (0: all mc.ncpus = M) */
    const char *kernel, *initrd, *bios, *append;
    bool sv39_only;                 /* mmu-type riscv,sv39 and no Sv48 */
    const char *gdb;                /* "tcp::PORT" or NULL */
    bool gdb_wait;                  /* -S with --gdb: harts wait for the debugger */
    const char *dump_dtb;           /* write the device tree here and exit (like QEMU's dumpdtb=) */
    const struct snap *restore;     /* --restore: start from this snapshot, not from the images */
    bool restore_verify;            /* --restore DIR,verify: check the RAM files' CRC first */
};

/* Build the machine, load the images, run until the guest stops; returns
 * the process exit status (0 power-off or quit, 3 reboot with
 * --no-reboot, 4 error, 128+sig, or the guest's failure / tohost code).
 * Bad input: one log_error line and status 2. */
int virt_run(const struct virt_config *cfg);

/* What `vessel run --restore DIR` builds: the configuration a snapshot's
 * manifest records (RAM, harts, images, command line, --sv39, the virtio
 * devices) into cfg, whose other members (serial, monitor, -S ...) stay.
 * 0, or -EINVAL after one log line. cfg->restore is set to s. */
struct snap;
int virt_config_from_snapshot(struct virt_config *cfg, const struct snap *s);

/* ---- device tree (fdt.c) ---- */
struct virt_fdt_info {
    uint64_t ram_base, ram_size;
    unsigned nharts;
    bool sv48;
    const char *bootargs;
    uint64_t initrd_start, initrd_end;      /* both 0: no initrd */
    unsigned nvirtio;
    uint64_t virtio_base[VIRT_VIRTIO_SLOTS];
    unsigned virtio_irq[VIRT_VIRTIO_SLOTS];
};
#define VIRT_ISA "rv64imafdc_zicsr_zifencei_zba_zbb_zbs_sstc"
/* Write the FDT into buf (size bytes). 0, or -ENOSPC / -EINVAL (logged). */
int virt_fdt_build(const struct virt_fdt_info *fi, void *buf, size_t size);

/* ---- PLIC (plic.c) ----
 * Level-triggered sources 1..VIRT_PLIC_NDEV; context c drives `set_ctx`
 * (the board maps context 2h to hart h's MEIP and 2h+1 to its SEIP). */
struct virt_plic;
struct virt_plic *virt_plic_new(unsigned ncontexts,
                                void (*set_ctx)(void *opaque, unsigned ctx, bool level), void *opaque);
void virt_plic_free(struct virt_plic *p);
/* Power-on state: priorities, enables, thresholds, pending and claimed
 * bits cleared, every context output lowered. */
void virt_plic_reset(struct virt_plic *p);
void virt_plic_set_irq(struct virt_plic *p, unsigned src, bool level);
/* Snapshot: every register plus the gateway's level, pending and claimed
 * bits. load refuses (-EINVAL) another context count, bits of sources
 * that do not exist and priorities or thresholds above 7, then drives
 * every context output to match. */
#define VIRT_PLIC_WORDS ((VIRT_PLIC_NDEV + 1 + 31) / 32)
struct virt_plic_state {
    uint32_t nctx;
    uint32_t priority[VIRT_PLIC_NDEV + 1];
    uint32_t level[VIRT_PLIC_WORDS], pending[VIRT_PLIC_WORDS], claimed[VIRT_PLIC_WORDS];
    uint32_t enable[2 * VIRT_MAX_HARTS][VIRT_PLIC_WORDS];
    uint32_t threshold[2 * VIRT_MAX_HARTS];
};
void virt_plic_save(struct virt_plic *p, struct virt_plic_state *st);
int virt_plic_load(struct virt_plic *p, const struct virt_plic_state *st);
/* An irq_line for source `src` (for devices). */
struct irq_line virt_plic_line(struct virt_plic *p, unsigned src);
extern const struct bus_ops virt_plic_ops;

/* ---- kernel images (loader.c) ---- */
enum virt_image_kind { VIRT_IMAGE_RAW, VIRT_IMAGE_LINUX, VIRT_IMAGE_ELF };
struct virt_image {
    enum virt_image_kind kind;
    uint64_t load_addr;     /* where the first byte goes (Image / raw) */
    uint64_t entry;
    uint64_t mem_size;      /* bytes of RAM the image occupies from load_addr (incl. bss) */
    uint64_t tohost;        /* ELF symbol `tohost`, 0 if none */
    uint64_t end;           /* highest guest physical address used + 1 */
};
/* Parse a RISC-V Linux `Image` header: 0 and *img filled, -EINVAL with *why
 * set for a file that has the magic but is damaged, -ENOENT when it is not an
 * Image at all. `len` is the whole file's length; only the header (its
 * first 64 bytes, when len is at least that) is read from `data`. */
int virt_image_parse_linux(const uint8_t *data, size_t len, uint64_t ram_base, struct virt_image *img,
                           const char **why);
struct guest_mem;
/* Load an ELF (PT_LOAD segments by physical address; a kernel linked at
 * virtual addresses is moved to ram_base + VIRT_KERNEL_OFFSET). 0 or -EINVAL
 * with *why set. */
int virt_image_load_elf(struct guest_mem *mem, const uint8_t *data, size_t len, struct virt_image *img,
                        const char **why);

#endif

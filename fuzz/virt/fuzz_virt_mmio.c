/* libFuzzer target: the virt board's MMIO devices as a guest drives them —
 * PLIC, CLINT, syscon, goldfish RTC, the UART and the SiFive GPIO — on the board's own bus,
 * with a system machine of 2 harts that never run. The input is a sequence
 * of 9-byte records:
 *   op:     bits 0-1 kind (0 read, 1 write, 2 PLIC source level, 3 the same
 *           through the irq_line devices get), bit 2 level, bits 4-5 log2 size
 *   region: which device (6 = anywhere below 0x20000000)
 *   off:    3 bytes, modulo the device window + 8 (a little past it)
 *   value:  4 bytes (8-byte writes repeat it in the high half)
 * Reads must come back zero-extended to their size, and a claim must name a
 * source that exists. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

#define NHARTS 2

static const struct { uint64_t base, size; } regions[] = {
    { VIRT_SYSCON_BASE, VIRT_SYSCON_SIZE }, { VIRT_RTC_BASE, VIRT_RTC_SIZE },
    { VIRT_CLINT_BASE, VIRT_CLINT_SIZE },   { VIRT_PLIC_BASE, VIRT_PLIC_SIZE },
    { VIRT_UART_BASE, VIRT_UART_SIZE },     { VIRT_GPIO_BASE, VIRT_GPIO_SIZE },
};
#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

static const struct rv_sys_ops ops = { .sbi_call = virt_sbi_call };

static struct virt_board *board(void)
{
    struct machine_config mc = { .ram_size = VIRT_MIN_RAM, .ncpus = NHARTS, .serial = "null" };
    struct virt_board *b = virt_board_new(&mc);
    if (!b || mem_add_ram(b->mem, VIRT_RAM_BASE, VIRT_MIN_RAM, 0) || virt_board_mmio_init(b))
        abort();
    struct rv_sys_config sc = { .mem = b->mem, .bus = b->bus, .ops = &ops, .opaque = b, .nharts = NHARTS };
    b->m = rv_machine_new_sys(&sc);
    if (!b->m)
        abort();
    for (unsigned i = 0; i < NHARTS; i++) {
        b->hart[i].h = rv_hart_new(b->m, i);
        if (!b->hart[i].h)
            abort();
        virt_hart_boot(&b->hart[i], VIRT_RAM_BASE, RV_PRIV_S, 0);
    }
    return b;
}

static uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_set_level(LOG_ERROR);
        log_set_fd(open("/dev/null", O_WRONLY));
        init = true;
    }
    struct virt_board *b = board();
    for (size_t i = 0; i + 9 <= size; i += 9) {
        const uint8_t *r = data + i;
        unsigned kind = r[0] & 3, level = r[0] >> 2 & 1, sz = 1u << (r[0] >> 4 & 3);
        unsigned reg = r[1] % (NREGIONS + 1);
        uint64_t off = r[2] | (unsigned)r[3] << 8 | (unsigned)r[4] << 16;
        uint32_t v32 = le32(r + 5);
        if (kind >= 2) {
            unsigned src = v32 % (VIRT_PLIC_NDEV + 3);      /* 0 and past the end too */
            if (kind == 2) {
                virt_plic_set_irq(b->plic, src, level);
            } else {
                struct irq_line l = virt_plic_line(b->plic, src);
                irq_set(&l, level);
            }
            continue;
        }
        uint64_t addr;
        if (reg == NREGIONS) {
            addr = off << 5;                    /* 0 .. 0x1fffffe0 */
        } else {
            addr = regions[reg].base + off % (regions[reg].size + 8);
        }
        uint64_t v = sz == 8 ? (uint64_t)v32 << 32 | v32 : v32;
        if (kind == 1) {
            bus_access(b->bus, addr, &v, sz, true);
            continue;
        }
        bus_access(b->bus, addr, &v, sz, false);
        if (sz < 8 && v >> (8 * sz))
            abort();        /* not zero-extended */
        const struct bus_range *br = bus_find(b->bus, addr);
        if (br && br->base == VIRT_PLIC_BASE && addr - br->base >= 0x200000 && (addr - br->base) % 0x1000 == 4 &&
            v > VIRT_PLIC_NDEV)
            abort();        /* a claim of a source that does not exist */
    }
    enum machine_status st = machine_status(b->mach);
    int es = machine_exit_status(b->mach);
    if (st == MACHINE_SHUTDOWN && (es < 0 || es > 255))
        abort();
    virt_board_free(b);
    return 0;
}

/* Shared by the system-mode unit tests of the RV64 core (test_dirty,
 * test_fence, test_idle): the instruction encoders they write guest code
 * with, and a machine with RAM_SIZE bytes of RAM at `ram`, an empty bus
 * and no board ops. Include after cmocka.h. */
#ifndef VESSEL_TEST_RV_SYSFX_H
#define VESSEL_TEST_RV_SYSFX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "bus/bus.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/hart.h"
#include "mem/mem.h"

static inline uint32_t addi(unsigned rd, unsigned rs1, int imm)
{
    return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
}

static inline uint32_t jal(unsigned rd, int off)
{
    uint32_t u = (uint32_t)off;
    return (((u >> 20) & 1) << 31) | (((u >> 1) & 0x3ff) << 21) | (((u >> 11) & 1) << 20) | (((u >> 12) & 0xff) << 12) |
           (rd << 7) | 0x6f;
}

static inline uint32_t jal0(int off) { return jal(0, off); }      /* j off */

/* mem and bus initialised, RAM added, the machine built (jit on or off,
 * translating at a block's second run, on the hart's thread); harts are
 * the caller's */
static inline struct rv_machine *rv_sysfx_machine(struct guest_mem *mem, struct bus *bus, uint64_t ram, uint64_t size,
                                                  unsigned nharts, bool jit)
{
    static const struct rv_sys_ops no_ops;
    mem_init(mem);
    assert_int_equal(mem_add_ram(mem, ram, size, 0), 0);
    bus_init(bus);
    struct rv_sys_config sc = { .mem = mem, .bus = bus, .ops = &no_ops, .nharts = nharts };
    struct rv_machine *m = rv_machine_new_sys(&sc);
    assert_non_null(m);
    m->jit = jit;
    m->jit_threshold = 1;
    m->jit_async = false;      /* translated at once: these tests look (test_jit_async: the thread) */
    return m;
}

static inline void rv_sysfx_free(struct rv_machine *m, struct guest_mem *mem, struct bus *bus)
{
    rv_machine_free(m);
    bus_destroy(bus);
    mem_destroy(mem);
}

/* A one-hart machine (rv_sysfx_machine) with its hart: `code` (n words)
 * at `ram`, a spin (j .) at `trap`, the hart reset to `ram` with mtvec =
 * trap (test_csr_jit, test_jit_async) */
struct rv_sysfx {
    struct guest_mem mem;
    struct bus bus;
    struct rv_machine *m;
    struct rv_hart *h;
};

static inline struct rv_sysfx *rv_sysfx_new(bool jit, uint64_t ram, uint64_t size, uint64_t trap,
                                            const uint32_t *code, size_t n)
{
    struct rv_sysfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->m = rv_sysfx_machine(&f->mem, &f->bus, ram, size, 1, jit);
    assert_int_equal(mem_write(&f->mem, ram, code, n * 4), 0);
    uint32_t spin = jal0(0);
    assert_int_equal(mem_write(&f->mem, trap, &spin, 4), 0);
    f->h = rv_hart_new(f->m, 0);
    assert_non_null(f->h);
    rv_hart_reset(f->h, ram);
    f->h->mtvec = trap;
    return f;
}

static inline void rv_sysfx_del(struct rv_sysfx *f)
{
    rv_hart_free(f->h);
    rv_sysfx_free(f->m, &f->mem, &f->bus);
    free(f);
}

#endif

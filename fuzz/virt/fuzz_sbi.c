/* libFuzzer target: the built-in SBI (sbi.c) through the core's sbi_call
 * hook, on a board of 1 to 4 harts that never run, 16 MiB of RAM at
 * 0x80000000 and a null console: DBCN and the legacy console read guest
 * memory at hostile addresses and lengths, HSM starts, stops and queries
 * other harts. The harts have no threads: a start only marks the target
 * START_PENDING, and every call is made with a kick pending so that a
 * retentive hart_suspend (rv_hart_wait) returns instead of sleeping.
 *
 * Input: byte 0 picks the hart count, then 52-byte records:
 *   hart (1) eid selector (1) fid (1) address mode (1) a0 a1 a2 (8 each)
 *   a3..a5 (8 each, they are not arguments of any function we offer).
 * eid selector < NEIDS picks a known extension, else it is the eid itself.
 * Address mode bit i adds 0x80000000 to a_i (lands near RAM).
 * Every call must return an SBI error code, every HSM state must be valid. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

static const uint64_t eids[] = {
    0x00, 0x01, 0x02, 0x08, 0x10, 0x54494D45, 0x735049, 0x52464E43, 0x48534D, 0x53525354, 0x4442434E,
};
#define NEIDS (sizeof(eids) / sizeof(eids[0]))
#define REC 52

static const struct rv_sys_ops ops = { .sbi_call = virt_sbi_call };

static struct virt_board *board(unsigned nharts)
{
    struct machine_config mc = { .ram_size = VIRT_MIN_RAM, .ncpus = nharts, .serial = "null" };
    struct virt_board *b = virt_board_new(&mc);
    if (!b || mem_add_ram(b->mem, VIRT_RAM_BASE, VIRT_MIN_RAM, 0))
        abort();
    b->builtin_sbi = true;
    struct rv_sys_config sc = { .mem = b->mem, .bus = b->bus, .ops = &ops, .opaque = b, .nharts = nharts };
    b->m = rv_machine_new_sys(&sc);
    if (!b->m)
        abort();
    for (unsigned i = 0; i < nharts; i++) {
        struct virt_hart *vh = &b->hart[i];
        vh->h = rv_hart_new(b->m, i);
        if (!vh->h)
            abort();
        if (i == 0) {
            virt_hart_boot(vh, VIRT_RAM_BASE + VIRT_KERNEL_OFFSET, RV_PRIV_S, 0);
            vh->hsm = HSM_STARTED;
        } else {
            rv_hart_reset(vh->h, VIRT_RAM_BASE + VIRT_KERNEL_OFFSET);
            vh->hsm = HSM_STOPPED;
            rv_hart_halt(vh->h);
        }
    }
    return b;
}

static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_set_level(LOG_ERROR);
        log_set_fd(open("/dev/null", O_WRONLY));
        init = true;
    }
    if (size < 1)
        return 0;
    unsigned nharts = data[0] % 4 + 1;
    struct virt_board *b = board(nharts);
    for (size_t i = 1; i + REC <= size; i += REC) {
        const uint8_t *r = data + i;
        struct rv_hart *h = b->hart[r[0] % nharts].h;
        uint64_t eid = r[1] < NEIDS ? eids[r[1]] : r[1];
        rv_set_x(h, 17, eid);
        rv_set_x(h, 16, r[2]);
        for (unsigned k = 0; k < 6; k++)
            rv_set_x(h, 10 + k, le64(r + 4 + 8 * k) + (r[3] >> k & 1 ? VIRT_RAM_BASE : 0));
        rv_kick(h);
        if (!virt_sbi_call(h))
            abort();
        int64_t err = (int64_t)rv_get_x(h, 10);
        if (eid >= 0x10 && (err > 0 || err < -8))
            abort();        /* not an SBI error code */
        for (unsigned k = 0; k < nharts; k++)
            if (b->hart[k].hsm < HSM_STARTED || b->hart[k].hsm > HSM_SUSPENDED)
                abort();
    }
    virt_board_free(b);
    return 0;
}

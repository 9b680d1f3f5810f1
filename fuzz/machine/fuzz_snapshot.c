/* libFuzzer: the snapshot loader. Byte 0 picks what is fed:
 *   0 mod 3: the format parser (snap_parse): bytes 1-2 the manifest's
 *            length, then the manifest, the rest is state.bin; with bit 2
 *            of byte 0 set the state.bin header is made valid for that
 *            manifest and payload (magic, version, CRCs), so the fuzzer
 *            gets past the CRCs into the JSON and section checks.
 *   1 mod 3: a hart's state (rv_hart_load) from the next bytes; a state it
 *            accepts is then run for a few thousand instructions over RAM
 *            holding the rest of the input: whatever a snapshot file says,
 *            the emulator must not crash.
 *   2 mod 3: the PLIC's state (virt_plic_load).
 * Nothing may crash, leak or trip a sanitizer; an accepted snapshot must
 * give back what the accessors promise. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bus/bus.h"
#include "emu/riscv/riscv.h"
#include "emu/riscv/virt/virt.h"
#include "machine/snapshot.h"
#include "mem/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fixed_clock(void *opaque)
{
    uint64_t *t = opaque;
    return (*t)++;
}

static void fuzz_format(const uint8_t *data, size_t size, bool seal)
{
    if (size < 2)
        return;
    size_t ml = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (ml > size)
        ml = size;
    uint8_t *st = xmalloc(size - ml + SNAP_HEADER_SIZE);
    size_t sl = size - ml;
    memcpy(st, data + ml, sl);
    if (seal) {
        memmove(st + SNAP_HEADER_SIZE, st, sl);
        sl += SNAP_HEADER_SIZE;
        uint32_t v = SNAP_VERSION, mc = snap_crc32(0, data, ml), z = 0;
        uint64_t pl = sl - SNAP_HEADER_SIZE;
        memcpy(st, SNAP_MAGIC, 8);
        memcpy(st + 8, &v, 4);
        memcpy(st + 12, &mc, 4);
        memcpy(st + 16, &pl, 8);
        memcpy(st + 24, &z, 4);
        uint32_t hc = snap_crc32(0, st, 28);
        memcpy(st + 28, &hc, 4);
    }
    struct snap *s;
    char err[256];
    if (snap_parse((const char *)data, ml, st, sl, &s, err, sizeof(err)) == 0) {
        for (unsigned i = 0; i < snap_nsections(s); i++) {
            size_t len;
            const uint8_t *p = snap_section(s, snap_section_name(s, i), NULL, &len);
            if (!p)
                __builtin_trap();
            volatile uint8_t sink = 0;      /* ASan checks each byte is inside the state */
            for (size_t k = 0; k < len; k++)
                sink ^= p[k];
        }
        for (unsigned i = 0; i < snap_ndevs(s); i++)
            if (snap_dev(s, i)->section[0] && !snap_section(s, snap_dev(s, i)->section, NULL, NULL))
                __builtin_trap();
        snap_free(s);
    } else if (!err[0]) {
        __builtin_trap();           /* a refusal always says why */
    }
    free(st);
}

static void fuzz_hart(const uint8_t *data, size_t size)
{
    struct rv_hart_state hs;
    memset(&hs, 0, sizeof(hs));
    memcpy(&hs, data, MIN(size, sizeof(hs)));
    struct guest_mem mem;
    struct bus bus;
    mem_init(&mem);
    bus_init(&bus);
    if (mem_add_ram(&mem, 0x80000000ULL, 1 << 20, 0) < 0)
        return;
    if (size > sizeof(hs))
        memcpy(mem.r[0].host, data + sizeof(hs), MIN(size - sizeof(hs), (size_t)1 << 20));
    struct rv_sys_config cfg = { .mem = &mem, .bus = &bus, .nharts = 1, .sv48 = true };
    struct rv_machine *m = rv_machine_new_sys(&cfg);
    uint64_t ticks = 1000;
    rv_machine_set_clock(m, fixed_clock, &ticks);
    struct rv_hart *h = rv_hart_new(m, 0);
    if (rv_hart_load(h, &hs) == 0) {
        struct rv_hart_state back;
        rv_hart_save(h, &back);
        if (back.pc != hs.pc || back.satp != hs.satp || back.priv != hs.priv || back.mstatus != hs.mstatus)
            __builtin_trap();       /* an accepted state loads as it was */
        for (int n = 0; n < 4; n++)
            if (rv_run(h, 3000) == RV_EXIT_HALT)
                break;
    }
    rv_hart_free(h);
    rv_machine_free(m);
    mem_destroy(&mem);
    bus_destroy(&bus);
}

static void set_ctx(void *opaque, unsigned ctx, bool level)
{
    (void)opaque;
    (void)ctx;
    (void)level;
}

static void fuzz_plic(const uint8_t *data, size_t size)
{
    struct virt_plic_state *ps = xzalloc(sizeof(*ps));
    memcpy(ps, data, MIN(size, sizeof(*ps)));
    struct virt_plic *p = virt_plic_new(4, set_ctx, NULL);
    if (virt_plic_load(p, ps) == 0)
        for (unsigned c = 0; c < 4; c++)
            virt_plic_ops.read(p, 0x200004 + 0x1000 * c, 4);
    virt_plic_free(p);
    free(ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    log_set_level(LOG_ERROR);
    switch (data[0] % 3) {
    case 0: fuzz_format(data + 1, size - 1, data[0] & 4); break;
    case 1: fuzz_hart(data + 1, size - 1); break;
    default: fuzz_plic(data + 1, size - 1); break;
    }
    return 0;
}

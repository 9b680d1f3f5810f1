/* Shared harness for the virtqueue fuzzers: a fake guest whose RAM, queue
 * layout, negotiated features and a list of raw mmio register writes all
 * come from the fuzz input. The device is driven through the real mmio
 * transport over a real struct guest_mem.
 *
 * Input layout:
 *   [0]    queue size exponent (size = 1 << (b % 9), may be 1..256)
 *   [1]    feature bits: 1 = EVENT_IDX, 2 = INDIRECT_DESC
 *   [2..7] desc / avail / used offsets in RAM (u16 each, scaled by 16/2/4)
 *   [8]    number of raw mmio writes n (<= 8), then n * 8 bytes (u16 reg, u16 pad, u32 val)
 *   rest   copied to guest RAM from offset 0
 */
#ifndef VESSEL_FUZZ_VIRTQ_H
#define VESSEL_FUZZ_VIRTQ_H

#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "bus/bus.h"
#include "dev/virtio/virtio.h"
#include "mem/mem.h"

#define FZ_RAM 0x40000000ULL
#define FZ_RAM_SIZE (64 * 1024)
#define FZ_MMIO 0x10000000ULL

static struct guest_mem fz_mem;
static struct bus fz_bus;
static int fz_irq;

static void fz_irq_set(void *o, unsigned n, int level) { fz_irq = level; }

static void fz_wr(uint64_t off, uint32_t v)
{
    uint64_t x = v;
    bus_access(&fz_bus, FZ_MMIO + off, &x, 4, true);
}

static void fz_init_once(struct virtio_dev *dev)
{
    log_set_level(LOG_ERROR);
    mem_init(&fz_mem);
    if (mem_add_ram(&fz_mem, FZ_RAM, FZ_RAM_SIZE, 0) < 0)
        abort();
    bus_init(&fz_bus);
    struct irq_line irq = { fz_irq_set, NULL, 0 };
    if (!virtio_mmio_create(&fz_bus, FZ_MMIO, irq, &fz_mem, dev))
        abort();
}

/* Set up the device from the input; returns false if the input is too short. */
static bool fz_setup(struct virtio_dev *dev, const uint8_t *data, size_t size)
{
    if (size < 9)
        return false;
    unsigned num = 1u << (data[0] % 9);
    uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | dev->host_features;
    if (!(data[1] & 1))
        f &= ~(1ULL << VIRTIO_F_EVENT_IDX);
    if (!(data[1] & 2))
        f &= ~(1ULL << VIRTIO_F_INDIRECT_DESC);
    uint64_t desc = FZ_RAM + 16ULL * (data[2] | data[3] << 8) % FZ_RAM_SIZE;
    uint64_t avail = FZ_RAM + 2ULL * (data[4] | data[5] << 8) % FZ_RAM_SIZE;
    uint64_t used = FZ_RAM + 4ULL * (data[6] | data[7] << 8) % FZ_RAM_SIZE;
    unsigned nops = data[8] % 9;
    size_t pos = 9;
    if (size < pos + 8 * nops)
        return false;
    const uint8_t *ops = data + pos;
    pos += 8 * nops;
    uint8_t *ram = mem_translate(&fz_mem, FZ_RAM, FZ_RAM_SIZE);
    memset(ram, 0, FZ_RAM_SIZE);
    memcpy(ram, data + pos, MIN(size - pos, (size_t)FZ_RAM_SIZE));

    fz_wr(0x70, 0);
    fz_wr(0x70, 3);
    fz_wr(0x24, 0); fz_wr(0x20, (uint32_t)f);
    fz_wr(0x24, 1); fz_wr(0x20, f >> 32);
    fz_wr(0x70, 11);
    for (unsigned q = 0; q < dev->nvq; q++) {
        /* queues after the first share the layout, shifted */
        uint64_t sh = 0x100ULL * q;
        fz_wr(0x30, q);
        fz_wr(0x38, num);
        fz_wr(0x80, (uint32_t)(desc + sh)); fz_wr(0x84, (desc + sh) >> 32);
        fz_wr(0x90, (uint32_t)(avail + sh)); fz_wr(0x94, (avail + sh) >> 32);
        fz_wr(0xa0, (uint32_t)(used + sh)); fz_wr(0xa4, (used + sh) >> 32);
        fz_wr(0x44, 1);
    }
    fz_wr(0x70, 15);
    for (unsigned i = 0; i < nops; i++) {
        uint16_t reg = (uint16_t)(ops[8 * i] | ops[8 * i + 1] << 8) % 0x140;
        uint32_t val;
        memcpy(&val, ops + 8 * i + 4, 4);
        if (reg == 0x50)
            continue;     /* notify is done by the target */
        uint64_t x = val;
        bus_access(&fz_bus, FZ_MMIO + reg, &x, 4, true);
        bus_access(&fz_bus, FZ_MMIO + reg, &x, 4, false);
    }
    return true;
}

#endif

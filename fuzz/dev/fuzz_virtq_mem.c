/* Fuzz virtio-mem's request queue through the virtqueue harness (see
 * fuzz_virtq.h): rings, request and response buffers all from the input.
 * Invariants: a discard is a whole number of blocks inside the region;
 * the plugged size never passes the requested size, nor the region. */
#include "fuzz_virtq.h"

#define R_ADDR 0x100000000ULL
#define R_BS 4096ULL
#define R_BLOCKS 64ULL

static void discard(void *o, uint64_t gpa, uint64_t len)
{
    if (gpa < R_ADDR || len == 0 || len % R_BS || (gpa - R_ADDR) % R_BS || gpa - R_ADDR + len > R_BLOCKS * R_BS)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct virtio_mem *m;
    if (!m) {
        struct virtio_mem_opts o = { .id = "fz", .addr = R_ADDR, .size = R_BLOCKS * R_BS, .block_size = R_BS,
                                     .requested = R_BLOCKS / 2 * R_BS };
        struct virtio_mem_host h = { discard, NULL, NULL };
        m = virtio_mem_create(&o, &h);
        fz_init_once(virtio_mem_dev(m));
    }
    virtio_mem_reset(m);
    if (!fz_setup(virtio_mem_dev(m), data, size))
        return 0;
    fz_wr(0x50, 0);
    struct virtio_mem_info in;
    virtio_mem_info(m, &in);
    if (in.plugged > in.opts.requested || in.plugged % R_BS)
        __builtin_trap();
    return 0;
}

/* Fuzz the virtqueue code through virtio-rng. See fuzz_virtq.h. */
#include "fuzz_virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct virtio_rng *r;
    if (!r) {
        r = virtio_rng_create();
        fz_init_once(virtio_rng_dev(r));
    }
    if (!fz_setup(virtio_rng_dev(r), data, size))
        return 0;
    fz_wr(0x50, 0);
    return 0;
}

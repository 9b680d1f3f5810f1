/* Fuzz the virtqueue code and request parsing of virtio-blk (served
 * synchronously) over a 64 KiB memfd image. See fuzz_virtq.h. */
#include <sys/mman.h>

#include "backend/backend.h"
#include "fuzz_virtq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct virtio_blk *b;
    if (!b) {
        int fd = memfd_create("fuzz-disk", 0);
        if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
            abort();
        b = virtio_blk_create(blk_image_from_fd(fd, "fuzz-disk", false), "fuzz", 0);
        fz_init_once(virtio_blk_dev(b));
    }
    if (!fz_setup(virtio_blk_dev(b), data, size))
        return 0;
    fz_wr(0x50, 0);
    return 0;
}

/* Fuzz virtio-balloon through the virtqueue harness (fuzz_virtq.h): PFN
 * lists on the inflate and deflate queues, statistics, free page reports
 * and config-space writes all come from the input; RAM pages the device
 * releases are read back by the next input (zeroes), never outside RAM. */
#include "fuzz_virtq.h"

static void changed(void *opaque, uint64_t bytes) { (void)opaque; (void)bytes; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct virtio_balloon *b;
    if (!b) {
        struct virtio_balloon_opts o = { .deflate_on_oom = true, .free_page_reporting = true };
        struct virtio_balloon_host h = { changed, NULL };
        b = virtio_balloon_create(&o, NULL, &h);
        fz_init_once(virtio_balloon_dev(b));
    }
    if (!fz_setup(virtio_balloon_dev(b), data, size))
        return 0;
    /* every queue (and one past them), then again in an order from the input */
    for (unsigned q = 0; q < 5; q++)
        fz_wr(0x50, q);
    for (unsigned i = 0; i < 3; i++)
        fz_wr(0x50, (data[1] >> (2 + 2 * i)) & 3);
    virtio_balloon_set_target(b, (uint64_t)data[2] << 12);
    virtio_balloon_request_stats(b);
    fz_wr(0x50, 2);
    (void)virtio_balloon_actual(b);
    return 0;
}

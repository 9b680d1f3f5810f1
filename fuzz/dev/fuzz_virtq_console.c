/* Fuzz virtio-console: transmit from the fuzzed ring, then feed input into
 * the fuzzed receive ring. See fuzz_virtq.h. */
#include "fuzz_virtq.h"

static void sink(void *opaque, const uint8_t *buf, size_t len)
{
    volatile uint8_t x = len ? buf[len - 1] : 0;
    (void)x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct virtio_console *c;
    if (!c) {
        c = virtio_console_create((struct virtio_console_port){ sink, NULL, NULL });
        fz_init_once(virtio_console_dev(c));
    }
    if (!fz_setup(virtio_console_dev(c), data, size))
        return 0;
    fz_wr(0x50, 1);
    virtio_console_input(c, data, MIN(size, (size_t)300));
    return 0;
}

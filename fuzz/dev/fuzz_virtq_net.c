/* Fuzz virtio-net: transmit from the fuzzed rings to a null backend, then
 * deliver a frame (the input's last bytes) into the fuzzed receive ring. */
#include "backend/backend.h"
#include "fuzz_virtq.h"

static int null_send(struct net_backend *be, const uint8_t *f, size_t len)
{
    volatile uint8_t x = len ? f[len - 1] : 0;   /* touch the frame */
    (void)x;
    return 0;
}
static void null_rx_ready(struct net_backend *be) {}
static void null_destroy(struct net_backend *be) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_backend be = { .send = null_send, .rx_ready = null_rx_ready, .destroy = null_destroy };
    static struct virtio_net *n;
    if (!n) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
        n = virtio_net_create(mac, &be, NULL);
        fz_init_once(virtio_net_dev(n));
    }
    if (!fz_setup(virtio_net_dev(n), data, size))
        return 0;
    fz_wr(0x50, 1);
    size_t flen = MIN(size, (size_t)1514);
    virtio_net_receive(n, data + size - flen, flen);
    return 0;
}

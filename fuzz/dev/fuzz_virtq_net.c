/* Fuzz virtio-net: transmit from the fuzzed rings to a null backend, then
 * deliver a frame (the input's last bytes) into the fuzzed receive ring.
 * The device offers the offloads (as with vhost-net on a tap), so the
 * guest's virtio-net header goes to the backend's send_vnet, and the
 * negotiated features become the tap's offload flags. */
#include "backend/backend.h"
#include "dev/virtio/vhost.h"
#include "fuzz_virtq.h"

static int null_send(struct net_backend *be, const uint8_t *f, size_t len)
{
    volatile uint8_t x = len ? f[len - 1] : 0;   /* touch the frame */
    (void)x;
    return 0;
}
static int null_send_vnet(struct net_backend *be, const uint8_t *hdr, size_t hdr_len, const uint8_t *f, size_t len)
{
    volatile uint8_t x = hdr[hdr_len - 1];       /* touch the header */
    (void)x;
    return null_send(be, f, len);
}
static void null_rx_ready(struct net_backend *be) {}
static void null_destroy(struct net_backend *be) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_backend be = { .send = null_send, .rx_ready = null_rx_ready, .destroy = null_destroy,
                                   .send_vnet = null_send_vnet };
    static struct virtio_net *n;
    if (!n) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
        n = virtio_net_create(mac, &be, NULL);
        virtio_net_dev(n)->host_features |= VHOST_NET_OFFLOADS;
        fz_init_once(virtio_net_dev(n));
    }
    if (!fz_setup(virtio_net_dev(n), data, size))
        return 0;
    fz_wr(0x50, 1);
    unsigned t = vhost_net_tap_offloads(virtio_net_dev(n)->guest_features);
    if ((t & ~0x1fu) || ((t & 0x6) && !(t & 1)))   /* TUN_F_*: TSO only with CSUM */
        abort();
    size_t flen = MIN(size, (size_t)1514);
    virtio_net_receive(n, data + size - flen, flen);
    return 0;
}

/* vhost-net: the host kernel moves a virtio-net device's packets between
 * its rings in guest RAM and a tap (/dev/vhost-net). Private to
 * dev/virtio: net.c is its only user.
 *
 * What the kernel is told: the guest's RAM regions (VHOST_SET_MEM_TABLE:
 * every buffer address in a descriptor is a guest physical address that
 * vhost translates through this table, and one outside it stops the queue
 * with an error, never a host access), the negotiated ring features, per
 * queue its size, where it resumes (VHOST_SET_VRING_BASE), the host
 * addresses of its three parts (computed by the virtio core from guest
 * addresses it checked against RAM), a kick eventfd (the transport's
 * ioeventfd doorbell where there is one), a call eventfd and an error
 * eventfd (both read by vessel's I/O loop), and the tap. */
#ifndef VESSEL_VIRTIO_VHOST_H
#define VESSEL_VIRTIO_VHOST_H

#include <stdbool.h>
#include <stdint.h>

struct virtio_dev;

#define VHOST_NET_QUEUES 2          /* rx, tx */

struct vhost_net {
    int fd;                         /* /dev/vhost-net */
    uint64_t features;              /* what the kernel's vhost-net offers */
    int call[VHOST_NET_QUEUES];     /* the kernel signals used buffers */
    int err[VHOST_NET_QUEUES];      /* the kernel signals a bad ring or descriptor */
    int kick[VHOST_NET_QUEUES];     /* our own doorbells, for transports without eventfd ones */
    bool running;
};

/* Open `path`, become its owner, read its features, make the eventfds.
 * 0, or -errno (nothing logged: the caller says what it falls back to). */
int vhost_net_open(struct vhost_net *v, const char *path);
/* Ring features of the device's offer vhost can serve: the others are
 * taken out of the offer. */
uint64_t vhost_net_ring_features(const struct vhost_net *v);
/* Hand the device's queues and the tap to the kernel (d->lock held, queues
 * enabled and checked by the core). kick[q]: the eventfd the guest's
 * notification reaches. 0, or -errno (logged once; the kernel has nothing). */
int vhost_net_start(struct vhost_net *v, struct virtio_dev *d, int tap_fd, const int kick[VHOST_NET_QUEUES]);
/* Take the queues back: the kernel stops, and where each queue stands
 * (VHOST_GET_VRING_BASE, the used index in guest RAM) goes back into the
 * device's struct virtq. d->lock held. */
void vhost_net_stop(struct vhost_net *v, struct virtio_dev *d);
void vhost_net_close(struct vhost_net *v);

/* virtio-net offloads (feature bits). With vhost-net the virtio-net header
 * passes between the guest's buffers and the tap unchanged (the tap's
 * vnet header is the guest's), so the tap does the checksums and the
 * segmentation the header asks for: the device can offer these. */
#define VHOST_NET_OFFLOADS ((1ULL << 0) /* CSUM */ | (1ULL << 1) /* GUEST_CSUM */ |            \
                            (1ULL << 7) /* GUEST_TSO4 */ | (1ULL << 8) /* GUEST_TSO6 */ |      \
                            (1ULL << 9) /* GUEST_ECN */ | (1ULL << 11) /* HOST_TSO4 */ |       \
                            (1ULL << 12) /* HOST_TSO6 */ | (1ULL << 13) /* HOST_ECN */)
/* TUNSETOFFLOAD's flags for what the guest's driver accepted (GUEST_CSUM,
 * GUEST_TSO4/6, GUEST_ECN, only as far as their dependencies hold, as the
 * tap refuses TSO without checksum offload); 0 for none. */
unsigned vhost_net_tap_offloads(uint64_t guest_features);
/* Tell the tap which offloads it may use toward the guest. 0 or -errno. */
int vhost_net_set_tap_offloads(int tap_fd, unsigned tun_flags);

#endif

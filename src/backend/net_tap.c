/* Tap network backend: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
 * While vessel reads the tap its offloads are off (vhost-net's set-up
 * turns them on for the kernel's path and off again when it gives the tap
 * back), so the vnet header of each frame read is all zeroes; frames sent
 * carry a zero header, or the guest's (send_vnet) for a device that
 * offered offloads. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>

#include "backend/backend.h"
#include "base/base.h"

#define VNET_HDR_LEN 12      /* struct virtio_net_hdr_mrg_rxbuf */
#define TAP_FRAME_MAX 65536

struct net_tap {
    struct net_backend be;
    struct loop *loop;
    int fd;
    bool paused;
    bool given;              /* the fd is vhost-net's (take_fd) */
    uint8_t pending[VNET_HDR_LEN + TAP_FRAME_MAX];
    size_t pending_len;      /* a frame the guest had no buffer for */
};

static void tap_readable(void *opaque, int fd, uint32_t events)
{
    struct net_tap *t = opaque;
    for (int i = 0; i < 64 && !__atomic_load_n(&t->given, __ATOMIC_ACQUIRE); i++) {
        if (!t->pending_len) {
            ssize_t n = read(fd, t->pending, sizeof(t->pending));
            if (n <= VNET_HDR_LEN)
                return;
            t->pending_len = n;
        }
        if (!t->be.receive || !t->be.receive(t->be.rx_opaque, t->pending + VNET_HDR_LEN,
                                             t->pending_len - VNET_HDR_LEN)) {
            /* no guest buffer: stop reading until the guest posts some */
            t->paused = true;
            loop_mod_fd(t->loop, t->fd, 0);
            return;
        }
        t->pending_len = 0;
    }
}

static int tap_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)be;
    static const uint8_t hdr[VNET_HDR_LEN];
    struct iovec iov[2] = { { (void *)hdr, VNET_HDR_LEN }, { (void *)frame, len } };
    if (writev(t->fd, iov, 2) < 0)
        return -errno;   /* a full tap queue drops, like a wire */
    return 0;
}

static int tap_send_vnet(struct net_backend *be, const uint8_t *hdr, size_t hdr_len, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)be;
    if (hdr_len != VNET_HDR_LEN)
        return -EINVAL;
    struct iovec iov[2] = { { (void *)hdr, VNET_HDR_LEN }, { (void *)frame, len } };
    if (writev(t->fd, iov, 2) < 0)
        return -errno;   /* a header the kernel refuses, or a full queue: dropped */
    return 0;
}

static void tap_rx_ready(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (!t->paused || __atomic_load_n(&t->given, __ATOMIC_ACQUIRE))
        return;
    t->paused = false;
    loop_mod_fd(t->loop, t->fd, EPOLLIN);
    tap_readable(t, t->fd, EPOLLIN);
}

static int tap_take_fd(struct net_backend *be, bool take)
{
    struct net_tap *t = (struct net_tap *)be;
    if (take == t->given)
        return take ? t->fd : 0;
    __atomic_store_n(&t->given, take, __ATOMIC_RELEASE);
    if (take) {
        loop_del_fd(t->loop, t->fd);
        t->pending_len = 0;         /* a frame held for a full ring: the kernel's now */
        t->paused = false;
        return t->fd;
    }
    int r = loop_add_fd(t->loop, t->fd, EPOLLIN, tap_readable, t);
    if (r < 0)
        log_error("tap: the event loop refused the fd back from vhost-net: %s", strerror(-r));
    return r;
}

static void tap_destroy(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (!t->given)
        loop_del_fd(t->loop, t->fd);
    close(t->fd);
    free(t);
}

/* TUNSETIFF with IFF_VNET_HDR; on EBUSY (another process holds the
 * device) tries again until busy_wait_ms have passed: a hot standby
 * taking over opens the tap while the dead primary's exit may not yet have
 * closed its descriptor (the kernel closes a killed process's files one by
 * one, the replication socket's EOF can come first). */
static int tap_attach(int fd, struct ifreq *ifr, unsigned busy_wait_ms)
{
    uint64_t until = time_ns() + (uint64_t)busy_wait_ms * 1000000u;
    for (;;) {
        if (ioctl(fd, TUNSETIFF, ifr) == 0)
            return 0;
        if (errno != EBUSY || time_ns() >= until)
            return -1;
        struct timespec ts = { 0, 1000000 };   /* the holder's exit has no event to wait on */
        nanosleep(&ts, NULL);
    }
}

struct net_backend *net_tap_create(struct loop *loop, const char *ifname, unsigned busy_wait_ms)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        log_error("--net tap,ifname=%s: /dev/net/tun: %s", ifname, strerror(errno));
        return NULL;
    }
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int hdr = VNET_HDR_LEN;
    if (tap_attach(fd, &ifr, busy_wait_ms) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        log_error("--net tap,ifname=%s: cannot attach to the tap device: %s", ifname, strerror(errno));
        close(fd);
        return NULL;
    }
    struct net_tap *t = xzalloc(sizeof(*t));
    t->loop = loop;
    t->fd = fd;
    t->be.send = tap_send;
    t->be.rx_ready = tap_rx_ready;
    t->be.destroy = tap_destroy;
    t->be.take_fd = tap_take_fd;
    t->be.send_vnet = tap_send_vnet;
    t->be.name = "tap";
    if (loop_add_fd(loop, fd, EPOLLIN, tap_readable, t) < 0) {
        log_error("--net tap,ifname=%s: event loop refused the fd", ifname);
        close(fd);
        free(t);
        return NULL;
    }
    return &t->be;
}

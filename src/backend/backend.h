/* backend: the host side of devices. Character devices (stdio, pty, unix
 * socket) for consoles and serial ports; block images; network (libslirp
 * user-mode networking, tap). Devices in dev/ talk to these through the
 * small interfaces below; engines wire them up from the command line. */
#ifndef VESSEL_BACKEND_H
#define VESSEL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ==== character devices (console, serial) ====
 * The host end of a serial port or console. Input is read on the event
 * loop's thread and handed to the device's `input` callback, which returns
 * how many bytes it took; the rest is kept (and the source no longer read)
 * until the device calls chardev_input_ready(). Output may be written from
 * any thread: it is written at once when the host side can take it without
 * blocking, otherwise queued (up to 1 MiB; beyond that bytes are dropped and
 * counted) and flushed by the loop.
 *
 *   stdio        stdin/stdout; raw mode when stdin is a terminal (restored on
 *                every exit: normal, error, fatal signal). Ctrl-A x quits,
 *                Ctrl-A h prints help, Ctrl-A Ctrl-A sends one Ctrl-A. EOF
 *                on stdin stops reading it. In a background process group
 *                the terminal is not touched and gives no input. At most
 *                one stdio chardev.
 *   unix:PATH    a listening socket at PATH (a stale socket file is
 *                replaced), one client at a time (others wait); output with
 *                no client connected is dropped.
 *   file:PATH    output to PATH (created or truncated), no input.
 *   null         no input, output discarded.
 *
 * chardev_open needs `loop` for input and queued output (NULL is allowed for
 * null and file:). The caller runs the loop (loop_start). Close after
 * loop_stop, or on the loop thread. */
struct chardev;
struct loop;
/* NULL after one log_error line naming the bad spec. */
struct chardev *chardev_open(const char *spec, struct loop *loop);
/* `input` runs on the loop thread; returns bytes accepted. NULL detaches. */
void chardev_set_input(struct chardev *c, size_t (*input)(void *opaque, const uint8_t *buf, size_t len),
                       void *opaque);
void chardev_input_ready(struct chardev *c);                /* any thread */
void chardev_write(struct chardev *c, const void *buf, size_t len);   /* any thread */
/* Ctrl-A x on stdio (loop thread). Without a quit callback it calls exit(0). */
void chardev_set_quit(struct chardev *c, void (*quit)(void *opaque), void *opaque);
void chardev_close(struct chardev *c);
/* Bytes dropped because the output queue was full (for tests and logs). */
uint64_t chardev_dropped(const struct chardev *c);
/* Output commit (hot-spare replication, docs/replication.md): while held,
 * chardev_write keeps the bytes (up to CHARDEV_HOLD_MAX; beyond that they
 * are dropped and counted) instead of writing them. chardev_hold_mark is
 * the offset, in everything ever written, that the next byte will have;
 * chardev_release writes the held bytes before `mark`. Turning the hold off
 * writes everything held. Any thread. */
#define CHARDEV_HOLD_MAX (64u << 20)
void chardev_hold(struct chardev *c, bool on);
uint64_t chardev_hold_mark(struct chardev *c);
void chardev_release(struct chardev *c, uint64_t mark);
/* Copy held bytes from offset `from` on (at most len, only bytes still
 * held) into buf: how many were copied (replication sends an epoch's
 * console bytes to the standby). */
size_t chardev_hold_peek(struct chardev *c, uint64_t from, void *buf, size_t len);

/* The Ctrl-A escape of the stdio console, as a pure filter (unit-tested):
 * copies `in` to `out` (room for n bytes) minus escape sequences, and sets
 * *cmd to the first command met ('x' quit, 'h' help), or 0. Returns the
 * number of bytes written to `out`; input after a command is not consumed:
 * *used tells how much of `in` was. */
struct chardev_escape { bool armed; };
size_t chardev_escape_filter(struct chardev_escape *e, const uint8_t *in, size_t n,
                             uint8_t *out, size_t *used, int *cmd);
#define CHARDEV_ESCAPE 0x01     /* Ctrl-A */


/* ==== block images ==== */
/* A raw disk image. Opening takes an OFD lock on the file (read lock for
 * read-only, write lock otherwise) so two VMs cannot write the same image.
 * cache=none opens with O_DIRECT and serves I/O through aligned bounce
 * buffers. All I/O calls are thread-safe (positional I/O only). */
struct blk_image {
    int fd;             /* main fd (O_DIRECT when direct) */
    int fd_buffered;    /* same file without O_DIRECT, for unaligned requests; or -1 */
    char *path;
    uint64_t size;      /* bytes */
    bool readonly, direct;
    uint64_t *dirty;    /* blk_image_dirty_start: one bit per block written, else NULL */
};
struct iovec;
/* 0 or -errno, after one log_error line naming `path`. */
int blk_image_open(const char *path, bool readonly, bool direct, struct blk_image **out);
/* The same without taking the lock (the destination of a live migration,
 * whose source still holds it): blk_image_set_lock takes it later. */
int blk_image_open_unlocked(const char *path, bool readonly, bool direct, struct blk_image **out);
/* Take (on) or drop the image's OFD lock. 0, or -EBUSY (logged) when
 * another process holds a conflicting one, or -errno. */
int blk_image_set_lock(struct blk_image *img, bool on);
/* Wrap an already-open fd (tests, fuzzing); takes ownership. */
struct blk_image *blk_image_from_fd(int fd, const char *name, bool readonly);
void blk_image_close(struct blk_image *img);
/* Open img->path again in place (a restore put another file there): the
 * same fd numbers now refer to the new file, with its lock; the old
 * file's lock goes. No I/O may be in flight. 0 or -errno (logged); -EINVAL
 * when the new file's size differs. */
int blk_image_reopen(struct blk_image *img);
/* Whole transfer or -errno. */
int blk_image_preadv(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off);
int blk_image_pwritev(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off);
/* The whole read from the host page cache without waiting for the disk
 * (RWF_NOWAIT), for callers that must not block: 0, or -EAGAIN when it would
 * wait, was short, or the image is O_DIRECT (then use blk_image_preadv). */
int blk_image_preadv_nowait(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off);
int blk_image_flush(struct blk_image *img);
int blk_image_discard(struct blk_image *img, uint64_t off, uint64_t len);
int blk_image_write_zeroes(struct blk_image *img, uint64_t off, uint64_t len, bool unmap);
/* Dirty tracking (hot-spare replication): from start on, every block of
 * BLK_DIRTY_BLOCK bytes that a write, discard or write-zeroes touches is
 * marked (none is at start). collect
 * ORs the marks into out (blk_image_dirty_words words) and clears them;
 * call it with no request in flight for an exact cut. */
#define BLK_DIRTY_BLOCK 4096u
uint64_t blk_image_dirty_words(const struct blk_image *img);
int blk_image_dirty_start(struct blk_image *img);
void blk_image_dirty_collect(struct blk_image *img, uint64_t *out);
void blk_image_dirty_stop(struct blk_image *img);


/* ==== network ==== */
/* A network backend exchanges whole Ethernet frames (no virtio header) with
 * a device. Everything runs on the event loop thread: the backend calls
 * `receive` (set by the device) with frames for the guest; the device calls
 * net_backend_send with frames from the guest, and net_backend_rx_ready when
 * the guest has posted receive buffers again after `receive` returned 0. */
struct loop;
struct net_hostfwd { bool udp; uint16_t host_port, guest_port; };
struct net_backend {
    /* set by the device */
    size_t (*receive)(void *opaque, const uint8_t *frame, size_t len);
    void *rx_opaque;
    /* backend implementation */
    int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
    void (*rx_ready)(struct net_backend *be);
    void (*destroy)(struct net_backend *be);
    const char *name;
    /* Optional, snapshot: the backend's own state (user net: libslirp's,
     * with its version), appended to *buf (xrealloc'd); load takes it
     * back (-EINVAL for state it cannot use). Any thread. */
    int (*state_save)(struct net_backend *be, uint8_t **buf, size_t *len);
    int (*state_load)(struct net_backend *be, const uint8_t *buf, size_t len);
    struct net_hold *hold;      /* output commit (net_backend_hold), NULL: none */
    /* Optional (tap): hand the host fd to the kernel's vhost-net (take:
     * vessel stops reading it and returns it) or take it back (take
     * false: read again; returns 0). -ENOTSUP for a backend without one. */
    int (*take_fd)(struct net_backend *be, bool take);
    /* Optional (tap): a frame with the guest's virtio-net header (hdr_len
     * bytes: checksum and segmentation requests the host kernel carries
     * out), for a device that offered offloads. Not held (output commit):
     * such a device refuses snapshots and replication. */
    int (*send_vnet)(struct net_backend *be, const uint8_t *hdr, size_t hdr_len, const uint8_t *frame, size_t len);
};
/* Output commit (hot-spare replication, docs/replication.md): while held,
 * frames from the guest wait (up to NET_HOLD_MAX bytes; beyond that they
 * are dropped as by a full wire) instead of going out. The mark is the
 * sequence number the next frame will have; net_backend_release sends the
 * frames before it, in order, on `loop` (the backend's thread). Turning the
 * hold off sends everything held. hold, mark and release: any thread. */
#define NET_HOLD_MAX (64u << 20)
int net_backend_hold(struct net_backend *be, struct loop *loop, bool on);
uint64_t net_backend_hold_mark(struct net_backend *be);
void net_backend_release(struct net_backend *be, uint64_t mark);
uint64_t net_backend_hold_dropped(struct net_backend *be);
int net_hold_send(struct net_backend *be, const uint8_t *frame, size_t len);
void net_hold_free(struct net_backend *be);
static inline int net_backend_send(struct net_backend *be, const uint8_t *f, size_t len)
{
    return be->hold ? net_hold_send(be, f, len) : be->send(be, f, len);
}
static inline void net_backend_destroy(struct net_backend *be)
{
    if (be) {
        net_hold_free(be);
        be->destroy(be);
    }
}
/* libslirp user-mode network 10.0.2.0/24: guest 10.0.2.15 (DHCP), host
 * loopback as 10.0.2.2, DNS 10.0.2.3; hostfwd from 127.0.0.1:host_port.
 * NULL on failure (one log_error line). Call before loop_start or on the
 * loop thread. */
/* restricted: the guest reaches nothing outside (only hostfwd connections);
 * no_host_loopback: 10.0.2.2 does not reach the host's 127.0.0.1;
 * busy_wait_ms: how long a forwarded port may stay taken by another
 * process before that is an error (a hot standby taking over from a
 * primary whose exit has not yet closed its listening sockets; 0: none). */
struct net_backend *net_slirp_create(struct loop *loop, const struct net_hostfwd *fwd, unsigned nfwd,
                                     bool restricted, bool no_host_loopback, unsigned busy_wait_ms);
/* Tap device `ifname` (created if absent; needs CAP_NET_ADMIN), opened with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR. While another process holds the
 * device, tries again for up to busy_wait_ms (0: fail at once). NULL on
 * failure (one log_error line). */
struct net_backend *net_tap_create(struct loop *loop, const char *ifname, unsigned busy_wait_ms);


#endif

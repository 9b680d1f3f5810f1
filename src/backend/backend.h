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

/* ==== character devices (console, serial) ==== */


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
};
struct iovec;
/* 0 or -errno, after one log_error line naming `path`. */
int blk_image_open(const char *path, bool readonly, bool direct, struct blk_image **out);
/* Wrap an already-open fd (tests, fuzzing); takes ownership. */
struct blk_image *blk_image_from_fd(int fd, const char *name, bool readonly);
void blk_image_close(struct blk_image *img);
/* Whole transfer or -errno. */
int blk_image_preadv(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off);
int blk_image_pwritev(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off);
int blk_image_flush(struct blk_image *img);
int blk_image_discard(struct blk_image *img, uint64_t off, uint64_t len);
int blk_image_write_zeroes(struct blk_image *img, uint64_t off, uint64_t len, bool unmap);


/* ==== network ==== */


#endif

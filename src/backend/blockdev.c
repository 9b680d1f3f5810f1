/* Raw disk images: OFD-locked, optionally O_DIRECT with bounce buffers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "base/base.h"

#define DIRECT_ALIGN 4096

static int image_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, size) < 0)
            return -errno;
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    *size = st.st_size;
    return 0;
}

static int set_lock(int fd, const char *path, bool readonly, bool on)
{
    struct flock fl = { .l_type = !on ? F_UNLCK : readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES)
            log_error("disk image %s is in use by another process (it holds a %s lock on it)",
                      path, readonly ? "write" : "read or write");
        else
            log_error("disk image %s: cannot lock: %s", path, strerror(e));
        return -EBUSY;
    }
    return 0;
}

int blk_image_set_lock(struct blk_image *img, bool on)
{
    return set_lock(img->fd, img->path, img->readonly, on);
}

static int image_open(const char *path, bool readonly, bool direct, bool lock, struct blk_image **out);

int blk_image_open(const char *path, bool readonly, bool direct, struct blk_image **out)
{
    return image_open(path, readonly, direct, true, out);
}

int blk_image_open_unlocked(const char *path, bool readonly, bool direct, struct blk_image **out)
{
    return image_open(path, readonly, direct, false, out);
}

static int image_open(const char *path, bool readonly, bool direct, bool lock, struct blk_image **out)
{
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    int fd = open(path, flags | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        int e = errno;
        if (direct && e == EINVAL)
            log_error("disk image %s: cache=none is not supported on this file system (O_DIRECT refused)", path);
        else
            log_error("disk image %s: %s", path, strerror(e));
        return -e;
    }
    if (lock && set_lock(fd, path, readonly, true) < 0) {
        close(fd);
        return -EBUSY;
    }
    uint64_t size;
    int r = image_size(fd, &size);
    if (r < 0) {
        log_error("disk image %s: not a regular file or block device", path);
        close(fd);
        return r;
    }
    if (size % 512)
        log_warn("disk image %s: size %llu is not a multiple of 512; the tail is not visible to the guest",
                 path, (unsigned long long)size);
    struct blk_image *img = xzalloc(sizeof(*img));
    img->fd = fd;
    img->fd_buffered = -1;
    img->path = xstrdup(path);
    img->size = size;
    img->readonly = readonly;
    img->direct = direct;
    if (direct) {
        img->fd_buffered = open(path, flags);
        if (img->fd_buffered < 0) {
            r = -errno;
            log_error("disk image %s: %s", path, strerror(-r));
            blk_image_close(img);
            return r;
        }
    }
    *out = img;
    return 0;
}

struct blk_image *blk_image_from_fd(int fd, const char *name, bool readonly)
{
    struct blk_image *img = xzalloc(sizeof(*img));
    img->fd = fd;
    img->fd_buffered = -1;
    img->path = xstrdup(name);
    img->readonly = readonly;
    if (image_size(fd, &img->size) < 0)
        img->size = 0;
    return img;
}

int blk_image_reopen(struct blk_image *img)
{
    struct blk_image *n;
    int r = blk_image_open(img->path, img->readonly, img->direct, &n);
    if (r < 0)
        return r;
    if (n->size != img->size || dup2(n->fd, img->fd) < 0 ||
        (img->fd_buffered >= 0 && n->fd_buffered >= 0 && dup2(n->fd_buffered, img->fd_buffered) < 0)) {
        r = n->size != img->size ? -EINVAL : -errno;
        log_error("disk image %s: cannot open it again in place: %s", img->path,
                  r == -EINVAL ? "its size changed" : strerror(-r));
        blk_image_close(n);
        return r;
    }
    blk_image_close(n);     /* the new file stays open (and locked) through img's fds */
    return 0;
}

void blk_image_close(struct blk_image *img)
{
    if (!img)
        return;
    if (img->fd >= 0)
        close(img->fd);
    if (img->fd_buffered >= 0)
        close(img->fd_buffered);
    free(img->dirty);
    free(img->path);
    free(img);
}

static size_t iov_total(const struct iovec *iov, unsigned n)
{
    size_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* Positional I/O of the whole iovec, retrying short transfers. */
static int rw_full(int fd, const struct iovec *iov_in, unsigned n, uint64_t off, bool write)
{
    struct iovec iov[IOV_MAX];
    if (n > IOV_MAX)
        return -EINVAL;
    memcpy(iov, iov_in, n * sizeof(*iov));
    struct iovec *p = iov;
    while (n) {
        ssize_t r = write ? pwritev(fd, p, n, off) : preadv(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (write)
                return -EIO;
            /* read past the end (file shrank): zero-fill */
            for (unsigned i = 0; i < n; i++)
                memset(p[i].iov_base, 0, p[i].iov_len);
            return 0;
        }
        off += r;
        while (n && (size_t)r >= p->iov_len) {
            r -= p->iov_len;
            p++;
            n--;
        }
        if (n) {
            p->iov_base = (uint8_t *)p->iov_base + r;
            p->iov_len -= r;
        }
    }
    return 0;
}

static int direct_rw(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off, bool write)
{
    size_t len = iov_total(iov, n);
    if ((off % DIRECT_ALIGN) || (len % DIRECT_ALIGN))
        return rw_full(img->fd_buffered, iov, n, off, write);
    void *bounce;
    if (posix_memalign(&bounce, DIRECT_ALIGN, len ? len : DIRECT_ALIGN))
        return -ENOMEM;
    struct iovec b = { bounce, len };
    int r;
    if (write) {
        size_t done = 0;
        for (unsigned i = 0; i < n; i++) {
            memcpy((uint8_t *)bounce + done, iov[i].iov_base, iov[i].iov_len);
            done += iov[i].iov_len;
        }
        r = rw_full(img->fd, &b, 1, off, true);
    } else {
        r = rw_full(img->fd, &b, 1, off, false);
        size_t done = 0;
        for (unsigned i = 0; r == 0 && i < n; i++) {
            memcpy(iov[i].iov_base, (uint8_t *)bounce + done, iov[i].iov_len);
            done += iov[i].iov_len;
        }
    }
    if (r == -EINVAL) /* alignment the file system wants is larger: use the page cache */
        r = rw_full(img->fd_buffered, iov, n, off, write);
    free(bounce);
    return r;
}

int blk_image_preadv(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off)
{
    return img->direct ? direct_rw(img, iov, n, off, false) : rw_full(img->fd, iov, n, off, false);
}

int blk_image_preadv_nowait(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off)
{
    if (img->direct || n > IOV_MAX)
        return -EAGAIN;
    ssize_t r;
    do
        r = preadv2(img->fd, iov, (int)n, (off_t)off, RWF_NOWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN || errno == EOPNOTSUPP ? -EAGAIN : -errno;
    /* short: past the end (the file shrank) or partly cached; blk_image_preadv sorts it out */
    return (size_t)r == iov_total(iov, n) ? 0 : -EAGAIN;
}

/* ---- dirty tracking (replication) ---- */
uint64_t blk_image_dirty_words(const struct blk_image *img)
{
    return (img->size + BLK_DIRTY_BLOCK * 64 - 1) / (BLK_DIRTY_BLOCK * 64);
}

static void mark_dirty(struct blk_image *img, uint64_t off, uint64_t len)
{
    uint64_t *d = __atomic_load_n(&img->dirty, __ATOMIC_ACQUIRE);
    if (!d || !len || off >= img->size)
        return;
    uint64_t last = MIN(off + len, img->size) - 1;
    for (uint64_t b = off / BLK_DIRTY_BLOCK; b <= last / BLK_DIRTY_BLOCK; b++)
        __atomic_fetch_or(&d[b / 64], 1ULL << (b % 64), __ATOMIC_RELAXED);
}

int blk_image_dirty_start(struct blk_image *img)
{
    uint64_t words = blk_image_dirty_words(img);
    uint64_t *d = xzalloc((words ? words : 1) * sizeof(uint64_t));
    uint64_t *old = __atomic_exchange_n(&img->dirty, d, __ATOMIC_ACQ_REL);
    free(old);
    return 0;
}

void blk_image_dirty_collect(struct blk_image *img, uint64_t *out)
{
    uint64_t *d = __atomic_load_n(&img->dirty, __ATOMIC_ACQUIRE);
    if (!d)
        return;
    for (uint64_t w = 0; w < blk_image_dirty_words(img); w++)
        out[w] |= __atomic_exchange_n(&d[w], 0, __ATOMIC_ACQ_REL);
}

void blk_image_dirty_stop(struct blk_image *img)
{
    free(__atomic_exchange_n(&img->dirty, NULL, __ATOMIC_ACQ_REL));
}

int blk_image_pwritev(struct blk_image *img, const struct iovec *iov, unsigned n, uint64_t off)
{
    if (img->readonly)
        return -EROFS;
    mark_dirty(img, off, iov_total(iov, n));
    return img->direct ? direct_rw(img, iov, n, off, true) : rw_full(img->fd, iov, n, off, true);
}

int blk_image_flush(struct blk_image *img)
{
    if (img->readonly)
        return 0;
    return fdatasync(img->fd) < 0 ? -errno : 0;
}

int blk_image_discard(struct blk_image *img, uint64_t off, uint64_t len)
{
    if (img->readonly)
        return -EROFS;
    mark_dirty(img, off, len);
    if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0) {
        if (errno == EOPNOTSUPP)
            return 0;   /* discard is a hint */
        return -errno;
    }
    return 0;
}

int blk_image_write_zeroes(struct blk_image *img, uint64_t off, uint64_t len, bool unmap)
{
    if (img->readonly)
        return -EROFS;
    mark_dirty(img, off, len);
    int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(img->fd, mode, off, len) == 0)
        return 0;
    /* fall back to writing zeroes */
    static const uint8_t zero[65536];
    int fd = img->fd_buffered >= 0 ? img->fd_buffered : img->fd;
    while (len) {
        size_t c = MIN(len, sizeof(zero));
        struct iovec v = { (void *)zero, c };
        int r = rw_full(fd, &v, 1, off, true);
        if (r < 0)
            return r;
        off += c;
        len -= c;
    }
    return 0;
}

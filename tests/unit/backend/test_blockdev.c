/* Raw disk images (backend/blockdev.c): open, positional vector I/O, flush,
 * discard and write-zeroes, read-only images, the OFD image lock, sizes
 * that are not a multiple of 512, cache=none (O_DIRECT), and errors. Each
 * result is checked against the file through a separate descriptor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/base.h"

struct img_file { char dir[64]; char path[96]; int fd; };

/* A file of `size` bytes with a known pattern, and an fd to check it by. */
static void make_file(struct img_file *f, uint64_t size)
{
    strcpy(f->dir, "/tmp/vessel-blkdev-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
    f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(f->fd >= 0);
    uint8_t *buf = malloc(size ? size : 1);
    for (uint64_t off = 0; off < size; off++)
        buf[off] = (uint8_t)(off * 7 + 3);
    assert_int_equal(pwrite(f->fd, buf, size, 0), (ssize_t)size);
    free(buf);
}

static void rm_file(struct img_file *f)
{
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
}

static uint8_t pattern(uint64_t off) { return (uint8_t)(off * 7 + 3); }

static void test_open_read_write_flush(void **state)
{
    struct img_file f;
    make_file(&f, 64 << 10);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    assert_int_equal(img->size, 64 << 10);
    assert_false(img->readonly);
    /* a read over three segments, across a sector boundary */
    uint8_t a[100], b[412], c[1000];
    struct iovec rd[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
    assert_int_equal(blk_image_preadv(img, rd, 3, 4096), 0);
    for (unsigned i = 0; i < sizeof(a); i++)
        assert_int_equal(a[i], pattern(4096 + i));
    for (unsigned i = 0; i < sizeof(b); i++)
        assert_int_equal(b[i], pattern(4096 + 100 + i));
    for (unsigned i = 0; i < sizeof(c); i++)
        assert_int_equal(c[i], pattern(4096 + 512 + i));
    /* a write over two segments lands in the file */
    uint8_t w1[512], w2[1024], back[1536];
    memset(w1, 0x11, sizeof(w1));
    memset(w2, 0x22, sizeof(w2));
    struct iovec wr[2] = { { w1, sizeof(w1) }, { w2, sizeof(w2) } };
    assert_int_equal(blk_image_pwritev(img, wr, 2, 8192), 0);
    assert_int_equal(blk_image_flush(img), 0);
    assert_int_equal(pread(f.fd, back, sizeof(back), 8192), (ssize_t)sizeof(back));
    assert_memory_equal(back, w1, sizeof(w1));
    assert_memory_equal(back + 512, w2, sizeof(w2));
    /* the non-blocking read serves what the page cache holds, or says -EAGAIN */
    uint8_t nb[1536];
    struct iovec nv = { nb, sizeof(nb) };
    int r = blk_image_preadv_nowait(img, &nv, 1, 8192);
    assert_true(r == 0 || r == -EAGAIN);
    if (r == 0)
        assert_memory_equal(nb, back, sizeof(nb));
    /* more segments than the host takes in one call: refused */
    struct iovec *many = calloc(IOV_MAX + 1, sizeof(*many));
    assert_int_equal(blk_image_preadv(img, many, IOV_MAX + 1, 0), -EINVAL);
    free(many);
    blk_image_close(img);
    rm_file(&f);
}

static void test_discard_and_write_zeroes(void **state)
{
    struct img_file f;
    make_file(&f, 64 << 10);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    uint8_t got[8192], zero[8192] = { 0 };
    assert_int_equal(blk_image_write_zeroes(img, 4096, 4096, false), 0);
    assert_int_equal(pread(f.fd, got, 8192, 4096), 8192);
    assert_memory_equal(got, zero, 4096);
    assert_int_equal(got[4096], pattern(8192));           /* nothing past the range */
    assert_int_equal(blk_image_write_zeroes(img, 16384, 8192, true), 0);   /* unmap */
    assert_int_equal(pread(f.fd, got, 8192, 16384), 8192);
    assert_memory_equal(got, zero, 8192);
    assert_int_equal(blk_image_discard(img, 32768, 4096), 0);   /* a hint: 0 either way */
    struct stat st;
    assert_int_equal(fstat(f.fd, &st), 0);
    assert_int_equal(st.st_size, 64 << 10);                /* sizes are kept */
    blk_image_close(img);
    rm_file(&f);
}

static void test_readonly(void **state)
{
    struct img_file f;
    make_file(&f, 8192);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, true, false, &img), 0);
    assert_true(img->readonly);
    uint8_t buf[512];
    memset(buf, 0xee, sizeof(buf));
    struct iovec v = { buf, sizeof(buf) };
    assert_int_equal(blk_image_pwritev(img, &v, 1, 0), -EROFS);
    assert_int_equal(blk_image_discard(img, 0, 4096), -EROFS);
    assert_int_equal(blk_image_write_zeroes(img, 0, 4096, false), -EROFS);
    assert_int_equal(blk_image_flush(img), 0);
    assert_int_equal(blk_image_preadv(img, &v, 1, 512), 0);   /* reads work */
    for (unsigned i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], pattern(512 + i));
    uint8_t first;
    assert_int_equal(pread(f.fd, &first, 1, 0), 1);
    assert_int_equal(first, pattern(0));                       /* the file is untouched */
    blk_image_close(img);
    rm_file(&f);
}

static void test_lock(void **state)
{
    struct img_file f;
    make_file(&f, 4096);
    struct blk_image *r1, *r2, *w;
    /* readers share, a writer is refused while one reads */
    assert_int_equal(blk_image_open(f.path, true, false, &r1), 0);
    assert_int_equal(blk_image_open(f.path, true, false, &r2), 0);
    assert_int_equal(blk_image_open(f.path, false, false, &w), -EBUSY);
    blk_image_close(r2);
    assert_int_equal(blk_image_open(f.path, false, false, &w), -EBUSY);
    blk_image_close(r1);
    /* a writer excludes readers and writers */
    assert_int_equal(blk_image_open(f.path, false, false, &w), 0);
    assert_int_equal(blk_image_open(f.path, true, false, &r1), -EBUSY);
    assert_int_equal(blk_image_open(f.path, false, false, &r1), -EBUSY);
    /* closing releases the lock */
    blk_image_close(w);
    assert_int_equal(blk_image_open(f.path, false, false, &w), 0);
    blk_image_close(w);
    /* the lock holds against another process too */
    assert_int_equal(blk_image_open(f.path, false, false, &w), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct blk_image *x;
        _exit(blk_image_open(f.path, true, false, &x) == -EBUSY ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    blk_image_close(w);
    rm_file(&f);
}

/* 1000 bytes: the guest sees whole sectors only; a read of the partial
 * tail gets the bytes there and zeroes after the end. */
static void test_odd_size(void **state)
{
    struct img_file f;
    make_file(&f, 1000);
    struct blk_image *img;
    assert_int_equal(blk_image_open(f.path, false, false, &img), 0);
    assert_int_equal(img->size, 1000);
    assert_int_equal(img->size / 512, 1);
    uint8_t buf[512];
    memset(buf, 0xee, sizeof(buf));
    struct iovec v = { buf, sizeof(buf) };
    assert_int_equal(blk_image_preadv(img, &v, 1, 512), 0);
    for (unsigned i = 0; i < 488; i++)
        assert_int_equal(buf[i], pattern(512 + i));
    for (unsigned i = 488; i < 512; i++)
        assert_int_equal(buf[i], 0);
    blk_image_close(img);
    /* an empty image opens with size 0 */
    assert_int_equal(ftruncate(f.fd, 0), 0);
    assert_int_equal(blk_image_open(f.path, true, false, &img), 0);
    assert_int_equal(img->size, 0);
    blk_image_close(img);
    rm_file(&f);
}

static void test_errors(void **state)
{
    struct blk_image *img = NULL;
    assert_int_equal(blk_image_open("/nonexistent/disk.img", false, false, &img), -ENOENT);
    assert_null(img);
    struct img_file f;
    make_file(&f, 4096);
    assert_int_equal(blk_image_open(f.dir, false, false, &img), -EISDIR);
    assert_int_equal(blk_image_open(f.dir, true, false, &img), -EINVAL);   /* not a file or disk */
    assert_int_equal(blk_image_open("/dev/null", true, false, &img), -EINVAL);
    assert_null(img);
    if (geteuid() != 0) {           /* root may write anything */
        assert_int_equal(chmod(f.path, 0444), 0);
        assert_int_equal(blk_image_open(f.path, false, false, &img), -EACCES);
        assert_int_equal(blk_image_open(f.path, true, false, &img), 0);
        blk_image_close(img);
    }
    rm_file(&f);
    blk_image_close(NULL);          /* fine */
}

/* cache=none: aligned I/O through O_DIRECT, unaligned through the page
 * cache; both see the same data. Skipped where the file system refuses
 * O_DIRECT (tmpfs does). */
static void test_direct(void **state)
{
    struct img_file f;
    make_file(&f, 64 << 10);
    struct blk_image *img;
    int r = blk_image_open(f.path, false, true, &img);
    if (r == -EINVAL) {
        rm_file(&f);
        skip();
    }
    assert_int_equal(r, 0);
    assert_true(img->direct);
    uint8_t *w = malloc(8192), *back = malloc(8192);
    for (int i = 0; i < 8192; i++)
        w[i] = (uint8_t)(i * 13);
    struct iovec v[2] = { { w, 1000 }, { w + 1000, 7192 } };   /* aligned total, odd segments */
    assert_int_equal(blk_image_pwritev(img, v, 2, 4096), 0);
    assert_int_equal(pread(f.fd, back, 8192, 4096), 8192);
    assert_memory_equal(back, w, 8192);
    struct iovec u = { back, 700 };                              /* unaligned */
    assert_int_equal(blk_image_preadv(img, &u, 1, 4096 + 100), 0);
    assert_memory_equal(back, w + 100, 700);
    assert_int_equal(blk_image_preadv_nowait(img, &u, 1, 0), -EAGAIN);   /* never for O_DIRECT */
    free(w);
    free(back);
    blk_image_close(img);
    rm_file(&f);
}

static void test_from_fd(void **state)
{
    struct img_file f;
    make_file(&f, 3 * 512);
    int fd = open(f.path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct blk_image *img = blk_image_from_fd(fd, "fd-image", true);
    assert_int_equal(img->size, 3 * 512);
    assert_string_equal(img->path, "fd-image");
    uint8_t b;
    struct iovec v = { &b, 1 };
    assert_int_equal(blk_image_preadv(img, &v, 1, 1000), 0);
    assert_int_equal(b, pattern(1000));
    blk_image_close(img);            /* closes fd */
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    rm_file(&f);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_read_write_flush),
        cmocka_unit_test(test_discard_and_write_zeroes),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_odd_size),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_direct),
        cmocka_unit_test(test_from_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

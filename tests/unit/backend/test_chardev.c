/* Character devices: the Ctrl-A escape filter, stdio over pipes (stdin and
 * stdout are replaced for the test), unix sockets, file, null, bad specs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/base.h"

/* ---- escape filter ---- */

static void test_escape_filter(void **state)
{
    struct chardev_escape e = { false };
    uint8_t out[16];
    size_t used;
    int cmd;
    size_t n = chardev_escape_filter(&e, (const uint8_t *)"ab\x01xcd", 6, out, &used, &cmd);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "ab", 2);
    assert_int_equal(cmd, 'x');
    assert_int_equal(used, 4);                  /* "cd" left for the caller */
    /* Ctrl-A Ctrl-A sends one Ctrl-A */
    n = chardev_escape_filter(&e, (const uint8_t *)"\x01\x01z", 3, out, &used, &cmd);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\x01z", 2);
    assert_int_equal(cmd, 0);
    assert_int_equal(used, 3);
    /* help */
    n = chardev_escape_filter(&e, (const uint8_t *)"q\x01h", 3, out, &used, &cmd);
    assert_int_equal(n, 1);
    assert_int_equal(cmd, 'h');
    /* an escape split across two reads */
    n = chardev_escape_filter(&e, (const uint8_t *)"a\x01", 2, out, &used, &cmd);
    assert_int_equal(n, 1);
    assert_int_equal(cmd, 0);
    assert_true(e.armed);
    n = chardev_escape_filter(&e, (const uint8_t *)"x", 1, out, &used, &cmd);
    assert_int_equal(n, 0);
    assert_int_equal(cmd, 'x');
    assert_false(e.armed);
    /* an unknown command key is swallowed, the next byte is plain again */
    n = chardev_escape_filter(&e, (const uint8_t *)"\x01qx", 3, out, &used, &cmd);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'x');
    assert_int_equal(cmd, 0);
}

/* ---- a device on the input side ---- */

struct sink {
    uint8_t buf[1 << 16];
    size_t len;
    size_t room;                /* accept at most this many more bytes */
    int quits;
};

static size_t sink_input(void *opaque, const uint8_t *b, size_t n)
{
    struct sink *s = opaque;
    n = MIN(n, s->room);
    n = MIN(n, sizeof(s->buf) - s->len);
    memcpy(s->buf + s->len, b, n);
    s->len += n;
    s->room -= n;
    return n;
}

static void sink_quit(void *opaque)
{
    ((struct sink *)opaque)->quits++;
}

/* ---- stdio over pipes ---- */

struct stdio_fix {
    int saved_in, saved_out;
    int in_w, out_r;            /* test ends of the pipes */
    struct loop *l;
    struct chardev *c;
    struct sink sink;
};

static int stdio_setup(void **state)
{
    struct stdio_fix *f = xzalloc(sizeof(*f));
    int pin[2], pout[2];
    if (pipe(pin) || pipe(pout))
        return -1;
    fflush(stdout);
    f->saved_in = dup(0);
    f->saved_out = dup(1);
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    close(pin[0]);
    close(pout[1]);
    f->in_w = pin[1];
    f->out_r = pout[0];
    fcntl(f->out_r, F_SETFL, O_NONBLOCK);
    f->l = loop_new();
    f->c = chardev_open("stdio", f->l);
    if (!f->c)
        return -1;
    f->sink.room = SIZE_MAX;
    chardev_set_input(f->c, sink_input, &f->sink);
    chardev_set_quit(f->c, sink_quit, &f->sink);
    *state = f;
    return 0;
}

static int stdio_teardown(void **state)
{
    struct stdio_fix *f = *state;
    chardev_close(f->c);
    loop_free(f->l);
    dup2(f->saved_in, 0);
    dup2(f->saved_out, 1);
    close(f->saved_in);
    close(f->saved_out);
    if (f->in_w >= 0)
        close(f->in_w);
    close(f->out_r);
    free(f);
    return 0;
}

static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

static void test_stdio_pipe(void **state)
{
    struct stdio_fix *f = *state;
    /* a second stdio is refused */
    assert_null(chardev_open("stdio", f->l));

    /* input with an escaped Ctrl-A */
    assert_int_equal(write(f->in_w, "hi\x01\x01!", 5), 5);
    assert_int_equal(loop_run_once(f->l, 1000), 0);
    assert_int_equal(f->sink.len, 4);
    assert_memory_equal(f->sink.buf, "hi\x01!", 4);

    /* output */
    chardev_write(f->c, "guest says", 10);
    char out[256];
    size_t n = drain(f->out_r, out, sizeof(out));
    assert_int_equal(n, 10);
    assert_memory_equal(out, "guest says", 10);

    /* Ctrl-A h prints help on the console */
    assert_int_equal(write(f->in_w, "\x01h", 2), 2);
    loop_run_once(f->l, 1000);
    n = drain(f->out_r, out, sizeof(out) - 1);
    out[n] = 0;
    assert_non_null(strstr(out, "C-a x"));
    assert_int_equal(f->sink.len, 4);

    /* Ctrl-A x quits; bytes before it still reach the device */
    assert_int_equal(write(f->in_w, "z\x01xafter", 8), 8);
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.quits, 1);
    assert_int_equal(f->sink.len, 5);
    assert_int_equal(f->sink.buf[4], 'z');
}

static void test_stdio_eof_does_not_spin(void **state)
{
    struct stdio_fix *f = *state;
    assert_int_equal(write(f->in_w, "x", 1), 1);
    close(f->in_w);
    f->in_w = -1;
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.len, 1);
    /* after EOF stdin is no longer polled: rounds wait for their timeout */
    uint64_t t0 = time_ms();
    for (int i = 0; i < 5; i++)
        loop_run_once(f->l, 40);
    assert_true(time_ms() - t0 >= 150);
    /* output still works */
    chardev_write(f->c, "ok", 2);
    char out[8];
    assert_int_equal(drain(f->out_r, out, sizeof(out)), 2);
}

static void test_stdio_input_backpressure(void **state)
{
    struct stdio_fix *f = *state;
    f->sink.room = 3;
    assert_int_equal(write(f->in_w, "abcdefgh", 8), 8);
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.len, 3);
    /* nothing more is offered until the device says it has room */
    loop_run_once(f->l, 50);
    assert_int_equal(f->sink.len, 3);
    f->sink.room = 2;
    chardev_input_ready(f->c);
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.len, 5);
    f->sink.room = SIZE_MAX;
    chardev_input_ready(f->c);
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.len, 8);
    assert_memory_equal(f->sink.buf, "abcdefgh", 8);
    /* and reading stdin resumed */
    assert_int_equal(write(f->in_w, "ij", 2), 2);
    loop_run_once(f->l, 1000);
    assert_int_equal(f->sink.len, 10);
}

static void test_stdio_output_never_blocks(void **state)
{
    struct stdio_fix *f = *state;
    /* 256 KiB into a 64 KiB pipe nobody reads: the writer must not wait */
    enum { TOTAL = 256 * 1024 };
    static uint8_t pat[TOTAL];
    for (size_t i = 0; i < TOTAL; i++)
        pat[i] = (uint8_t)(i * 7 + (i >> 9));
    uint64_t t0 = time_ms();
    for (size_t off = 0; off < TOTAL; off += 1000)
        chardev_write(f->c, pat + off, MIN(1000, TOTAL - off));
    assert_true(time_ms() - t0 < 500);
    /* the loop flushes the rest as the reader drains, in order */
    static uint8_t got[TOTAL];
    size_t n = 0;
    for (int round = 0; round < 10000 && n < TOTAL; round++) {
        n += drain(f->out_r, (char *)got + n, TOTAL - n);
        loop_run_once(f->l, 10);
    }
    assert_int_equal(n, TOTAL);
    assert_memory_equal(got, pat, TOTAL);
    assert_int_equal(chardev_dropped(f->c), 0);
}

/* ---- unix socket ---- */

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_unix(void **state)
{
    char path[64], spec[80];
    snprintf(path, sizeof(path), "/tmp/vessel-chr-test-%d.sock", (int)getpid());
    snprintf(spec, sizeof(spec), "unix:%s", path);
    struct loop *l = loop_new();
    struct chardev *c = chardev_open(spec, l);
    assert_non_null(c);
    struct sink s = { .room = SIZE_MAX };
    chardev_set_input(c, sink_input, &s);
    /* no client: output is dropped without blocking */
    chardev_write(c, "lost", 4);

    int a = connect_to(path);
    assert_true(a >= 0);
    loop_run_once(l, 1000);
    /* a second client waits until the first leaves */
    int b = connect_to(path);
    assert_true(b >= 0);
    chardev_write(c, "to-a", 4);
    char buf[16];
    assert_int_equal(read(a, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "to-a", 4);
    assert_int_equal(write(a, "\x01x-from-a", 9), 9);   /* no escapes on sockets */
    assert_int_equal(write(b, "from-b", 6), 6);
    loop_run_once(l, 1000);
    assert_int_equal(s.len, 9);
    assert_memory_equal(s.buf, "\x01x-from-a", 9);
    close(a);
    for (int i = 0; i < 4 && s.len < 15; i++)   /* hang-up, accept b, read b */
        loop_run_once(l, 1000);
    assert_int_equal(s.len, 15);
    assert_memory_equal(s.buf + 9, "from-b", 6);
    chardev_write(c, "to-b", 4);
    assert_int_equal(read(b, buf, sizeof(buf)), 4);
    close(b);
    loop_run_once(l, 100);
    chardev_close(c);
    loop_free(l);
    assert_int_equal(access(path, F_OK), -1);

    /* a path that is not a socket is left alone */
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    l = loop_new();
    assert_null(chardev_open(spec, l));
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
    loop_free(l);
}

/* ---- file, null, bad specs ---- */

static void test_file_null(void **state)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vessel-chr-test-%d.out", (int)getpid());
    char *spec = xasprintf("file:%s", path);
    struct chardev *c = chardev_open(spec, NULL);
    free(spec);
    assert_non_null(c);
    chardev_write(c, "serial log\n", 11);
    chardev_close(c);
    char *data;
    size_t len;
    assert_int_equal(read_file(path, &data, &len, 1024), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "serial log\n", 11);
    free(data);
    unlink(path);

    c = chardev_open("null", NULL);
    assert_non_null(c);
    chardev_write(c, "x", 1);
    chardev_input_ready(c);
    chardev_close(c);
}

/* Output commit: held bytes stay out of the file until released, and
 * chardev_hold_peek reads exactly the ones still held (what replication
 * sends the standby for an epoch). */
static void test_hold_peek(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/vessel-chr-hold-%d.out", (int)getpid());
    char *spec = xasprintf("file:%s", path);
    struct chardev *c = chardev_open(spec, NULL);
    free(spec);
    assert_non_null(c);
    chardev_write(c, "a", 1);                   /* not held: out at once */
    chardev_hold(c, true);
    uint64_t m0 = chardev_hold_mark(c);
    chardev_write(c, "hello ", 6);
    uint64_t m1 = chardev_hold_mark(c);
    chardev_write(c, "world", 5);
    uint64_t m2 = chardev_hold_mark(c);
    assert_int_equal(m1 - m0, 6);
    assert_int_equal(m2 - m1, 5);
    char buf[16];
    assert_int_equal(chardev_hold_peek(c, m0, buf, m1 - m0), 6);
    assert_memory_equal(buf, "hello ", 6);
    assert_int_equal(chardev_hold_peek(c, m1, buf, sizeof(buf)), 5);   /* only what is held */
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(chardev_hold_peek(c, m2, buf, sizeof(buf)), 0);
    char *data;
    size_t len;
    assert_int_equal(read_file(path, &data, &len, 1024), 0);
    assert_int_equal(len, 1);
    free(data);
    chardev_release(c, m1);
    assert_int_equal(chardev_hold_peek(c, m0, buf, sizeof(buf)), 0);   /* released: not held any more */
    assert_int_equal(chardev_hold_peek(c, m1 + 2, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "rld", 3);
    assert_int_equal(read_file(path, &data, &len, 1024), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "ahello ", 7);
    free(data);
    chardev_hold(c, false);                     /* the rest goes out */
    chardev_close(c);
    assert_int_equal(read_file(path, &data, &len, 1024), 0);
    assert_int_equal(len, 12);
    free(data);
    unlink(path);
    assert_int_equal(chardev_hold_peek(NULL, 0, buf, sizeof(buf)), 0);
}

static void test_bad_specs(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    log_set_fd(p[1]);
    struct loop *l = loop_new();
    static const char *bad[] = { "tcp:1234", "", "file:", "unix:", "stdio2",
                                 "unix:/nonexistent-dir/x.sock", "file:/nonexistent-dir/x" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_null(chardev_open(bad[i], l));
        char msg[512];
        ssize_t n = read(p[0], msg, sizeof(msg) - 1);
        assert_true(n > 0);
        msg[n] = 0;
        /* exactly one line, naming the spec */
        assert_non_null(strchr(msg, '\n'));
        assert_true(strchr(msg, '\n') == msg + n - 1);
        if (bad[i][0])
            assert_non_null(strstr(msg, bad[i]));
    }
    assert_null(chardev_open(NULL, l));
    log_set_fd(2);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_filter),
        cmocka_unit_test_setup_teardown(test_stdio_pipe, stdio_setup, stdio_teardown),
        cmocka_unit_test_setup_teardown(test_stdio_eof_does_not_spin, stdio_setup, stdio_teardown),
        cmocka_unit_test_setup_teardown(test_stdio_input_backpressure, stdio_setup, stdio_teardown),
        cmocka_unit_test_setup_teardown(test_stdio_output_never_blocks, stdio_setup, stdio_teardown),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_file_null),
        cmocka_unit_test(test_hold_peek),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests_name("chardev", tests, NULL, NULL);
}

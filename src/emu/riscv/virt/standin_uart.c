/* STAND-IN, built only while dev/uart8250.c is not in the tree: a minimal
 * NS16550A and a chardev backend with the API another branch is writing
 * (dev/dev.h, backend/backend.h). Dropped automatically by meson once the
 * real ones land.
 *
 * chardev: "stdio" (raw mode when stdin is a tty, restored at exit; Ctrl-A x
 * quits, Ctrl-A h help, Ctrl-A Ctrl-A sends Ctrl-A), "null", "file:PATH"
 * (output only), "unix:PATH" (listening socket, one client at a time).
 * Input is read on the loop thread and offered to the device; what it does
 * not take waits (stdin is not polled) until chardev_input_ready(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

struct chardev {
    struct loop *loop;
    int in_fd, out_fd, listen_fd;
    bool is_stdio, escape;
    size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
    void *input_opaque;
    void (*quit)(void *opaque);
    void *quit_opaque;
    pthread_mutex_t lock;
    uint8_t pend[256];
    size_t pend_off, pend_len;
    bool polling;
    struct loop_event *ready_ev;
};

static struct termios saved_tio;
static bool tio_saved;

static void tty_restore(void)
{
    if (tio_saved)
        tcsetattr(0, TCSANOW, &saved_tio);
}

static void tty_raw(void)
{
    struct termios t;
    if (!isatty(0) || tcgetattr(0, &saved_tio) < 0)
        return;
    tio_saved = true;
    atexit(tty_restore);
    t = saved_tio;
    cfmakeraw(&t);
    t.c_oflag |= OPOST | ONLCR;   /* keep \n -> \r\n for our own messages */
    tcsetattr(0, TCSANOW, &t);
}

static const char help_text[] =
    "\r\nC-a h    print this help\r\n"
    "C-a x    exit vessel\r\n"
    "C-a C-a  send C-a to the guest\r\n";

/* Offer pending input to the device; called on the loop thread. */
static void offer(struct chardev *c)
{
    while (c->pend_len) {
        size_t n = c->input ? c->input(c->input_opaque, c->pend + c->pend_off, c->pend_len) : c->pend_len;
        if (n == 0)
            break;
        c->pend_off += n;
        c->pend_len -= n;
    }
    bool want = c->pend_len == 0;
    if (want != c->polling && c->in_fd >= 0) {
        loop_mod_fd(c->loop, c->in_fd, want ? EPOLLIN : 0);
        c->polling = want;
    }
}

static void in_cb(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    uint8_t buf[sizeof(c->pend)];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        loop_del_fd(c->loop, fd);     /* EOF: the guest keeps running */
        if (c->listen_fd >= 0) {
            close(fd);
            c->in_fd = c->out_fd = -1;
        } else {
            c->in_fd = -1;
        }
        return;
    }
    size_t o = 0;
    for (ssize_t i = 0; i < n; i++) {
        uint8_t ch = buf[i];
        if (c->is_stdio && c->escape) {
            c->escape = false;
            if (ch == 'x') {
                if (c->quit)
                    c->quit(c->quit_opaque);
                return;
            }
            if (ch == 'h') {
                if (write_full(1, help_text, sizeof(help_text) - 1) < 0) { /* ignore */ }
                continue;
            }
            if (ch != 1)
                continue;
        } else if (c->is_stdio && ch == 1) {
            c->escape = true;
            continue;
        }
        buf[o++] = ch;
    }
    memcpy(c->pend, buf, o);
    c->pend_off = 0;
    c->pend_len = o;
    offer(c);
}

static void ready_cb(void *opaque)
{
    offer(opaque);
}

static void accept_cb(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    int s = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        return;
    if (c->in_fd >= 0) {
        close(s);      /* one client at a time */
        return;
    }
    c->in_fd = c->out_fd = s;
    c->polling = true;
    loop_add_fd(c->loop, s, EPOLLIN, in_cb, c);
}

struct chardev *chardev_open(const char *spec, struct loop *loop)
{
    struct chardev *c = xzalloc(sizeof(*c));
    c->loop = loop;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    if (!strcmp(spec, "stdio")) {
        c->is_stdio = true;
        c->in_fd = 0;
        c->out_fd = 1;
        tty_raw();
    } else if (!strcmp(spec, "null")) {
        /* nothing */
    } else if (!strncmp(spec, "file:", 5) && spec[5]) {
        c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->out_fd < 0) {
            log_error("--serial %s: %s", spec, strerror(errno));
            free(c);
            return NULL;
        }
    } else if (!strncmp(spec, "unix:", 5) && spec[5]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(spec + 5) >= sizeof(sa.sun_path)) {
            log_error("--serial %s: socket path too long", spec);
            free(c);
            return NULL;
        }
        strcpy(sa.sun_path, spec + 5);
        unlink(sa.sun_path);
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(c->listen_fd, 1) < 0) {
            log_error("--serial %s: %s", spec, strerror(errno));
            if (c->listen_fd >= 0)
                close(c->listen_fd);
            free(c);
            return NULL;
        }
        loop_add_fd(loop, c->listen_fd, EPOLLIN, accept_cb, c);
    } else {
        log_error("--serial %s: expected stdio, null, file:PATH or unix:PATH", spec);
        free(c);
        return NULL;
    }
    c->ready_ev = loop_event_new(loop, ready_cb, c);
    if (c->in_fd >= 0) {
        c->polling = true;
        loop_add_fd(loop, c->in_fd, EPOLLIN, in_cb, c);
    }
    return c;
}

void chardev_set_input(struct chardev *c, size_t (*input)(void *, const uint8_t *, size_t), void *opaque)
{
    c->input = input;
    c->input_opaque = opaque;
}

void chardev_input_ready(struct chardev *c)
{
    if (c && c->ready_ev)
        loop_event_notify(c->ready_ev);
}

void chardev_write(struct chardev *c, const void *buf, size_t len)
{
    if (!c || c->out_fd < 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (write_full(c->out_fd, buf, len) < 0) { /* a reader that went away: drop */ }
    pthread_mutex_unlock(&c->lock);
}

void chardev_set_quit(struct chardev *c, void (*quit)(void *), void *opaque)
{
    c->quit = quit;
    c->quit_opaque = opaque;
}

void chardev_close(struct chardev *c)
{
    if (!c)
        return;
    if (c->ready_ev)
        loop_event_free(c->ready_ev);
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        if (c->in_fd >= 0)
            close(c->in_fd);
    } else if (c->out_fd > 2) {
        close(c->out_fd);
    }
    if (c->is_stdio)
        tty_restore();
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- NS16550A ---- */
#define RX_SIZE 4096

struct uart8250 {
    pthread_mutex_t lock;
    struct irq_line irq;
    struct chardev *chr;
    unsigned shift;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    bool thr_ipending, irq_level, rx_was_full;
    uint8_t rx[RX_SIZE];
    unsigned rx_head, rx_count;
};

enum { LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40 };
enum { IER_RDI = 0x01, IER_THRI = 0x02 };

static uint8_t iir(const struct uart8250 *u)
{
    uint8_t fifo = (u->fcr & 1) ? 0xc0 : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | 0x04;
    if ((u->ier & IER_THRI) && u->thr_ipending)
        return fifo | 0x02;
    return fifo | 0x01;
}

static void uart_update(struct uart8250 *u)
{
    bool lvl = !(iir(u) & 1);
    if (lvl != u->irq_level) {
        u->irq_level = lvl;
        irq_set(&u->irq, lvl);
    }
}

static void rx_push(struct uart8250 *u, uint8_t ch)
{
    if (u->rx_count < RX_SIZE) {
        u->rx[(u->rx_head + u->rx_count) % RX_SIZE] = ch;
        u->rx_count++;
    }
}

static size_t uart_input(void *opaque, const uint8_t *buf, size_t len)
{
    struct uart8250 *u = opaque;
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && u->rx_count < RX_SIZE)
        rx_push(u, buf[n++]);
    if (n < len)
        u->rx_was_full = true;
    uart_update(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
    struct uart8250 *u = opaque;
    unsigned reg = (unsigned)(off >> u->shift);
    uint8_t v = 0;
    bool ready = false;
    pthread_mutex_lock(&u->lock);
    switch (reg) {
    case 0:
        if (u->lcr & 0x80) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % RX_SIZE;
            u->rx_count--;
            if (u->rx_was_full && u->rx_count < RX_SIZE / 2) {
                u->rx_was_full = false;
                ready = true;
            }
        }
        break;
    case 1: v = (u->lcr & 0x80) ? u->dlm : u->ier; break;
    case 2:
        v = iir(u);
        if ((v & 0x0f) == 0x02)
            u->thr_ipending = false;
        break;
    case 3: v = u->lcr; break;
    case 4: v = u->mcr; break;
    case 5: v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0); break;
    case 6:
        if (u->mcr & 0x10)     /* loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
            v = (uint8_t)(((u->mcr & 1) << 5) | ((u->mcr & 2) << 3) | ((u->mcr & 4) << 4) | ((u->mcr & 8) << 4));
        else
            v = 0xb0;          /* DCD, DSR, CTS */
        break;
    case 7: v = u->scr; break;
    default: break;
    }
    uart_update(u);
    pthread_mutex_unlock(&u->lock);
    if (ready)
        chardev_input_ready(u->chr);
    return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct uart8250 *u = opaque;
    unsigned reg = (unsigned)(off >> u->shift);
    uint8_t v = (uint8_t)val;
    bool out = false;
    pthread_mutex_lock(&u->lock);
    switch (reg) {
    case 0:
        if (u->lcr & 0x80) {
            u->dll = v;
        } else {
            if (u->mcr & 0x10)
                rx_push(u, v);
            else
                out = true;
            u->thr_ipending = true;
        }
        break;
    case 1:
        if (u->lcr & 0x80) {
            u->dlm = v;
        } else {
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->thr_ipending = true;
            u->ier = v & 0x0f;
        }
        break;
    case 2:
        if (v & 2)
            u->rx_count = 0;
        u->fcr = v & 0xc9;
        break;
    case 3: u->lcr = v; break;
    case 4: u->mcr = v & 0x1f; break;
    case 7: u->scr = v; break;
    default: break;
    }
    uart_update(u);
    pthread_mutex_unlock(&u->lock);
    if (out)
        chardev_write(u->chr, &v, 1);
}

static const struct bus_ops uart_ops = { .read = uart_read, .write = uart_write };

struct uart8250 *uart8250_create(struct bus *bus, uint64_t base, unsigned reg_shift, struct irq_line irq,
                                 struct chardev *chr)
{
    struct uart8250 *u = xzalloc(sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->irq = irq;
    u->chr = chr;
    u->shift = reg_shift;
    int r = bus_register(bus, base, 8u << reg_shift, &uart_ops, u, "uart8250");
    if (r < 0) {
        log_error("uart8250 at 0x%llx: %s", (unsigned long long)base, strerror(-r));
        free(u);
        return NULL;
    }
    if (chr)
        chardev_set_input(chr, uart_input, u);
    return u;
}

void uart8250_destroy(struct uart8250 *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

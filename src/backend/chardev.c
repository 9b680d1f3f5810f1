/* Character devices: the host end of serial ports and consoles (stdio,
 * unix socket, file, null). Input is read on the event loop thread; output
 * comes from any thread and never waits for a slow reader: what the host
 * cannot take right now is queued and flushed by the loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>

#include "backend/backend.h"
#include "base/base.h"

#define OUTQ_MAX (1u << 20)
#define IN_CHUNK 256

enum chr_kind { CHR_NULL, CHR_FILE, CHR_STDIO, CHR_UNIX };

struct watch { int fd; uint32_t ev; };

struct chardev {
    enum chr_kind kind;
    char *path;                 /* file: / unix: */
    struct sock_path sock;      /* unix: the socket file made, removed at the end if still ours */
    struct loop *loop;
    struct loop_event *ready_ev;
    pthread_mutex_t lock;       /* output queue, fds, watches, callbacks */
    int in_fd, out_fd, listen_fd;
    bool out_direct;            /* regular file: plain blocking writes */
    bool out_broken;            /* stdout reader went away */
    bool in_paused, in_eof;
    struct watch w[3];
    uint8_t *outq;
    size_t outq_off, outq_len, outq_cap;
    uint64_t dropped;
    /* output commit (chardev_hold): bytes written while held, not out yet */
    bool hold;
    uint8_t *holdq;
    size_t hold_len, hold_cap;
    uint64_t hold_base;         /* stream offset of holdq[0] */
    size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
    void *input_opaque;
    void (*quit)(void *opaque);
    void *quit_opaque;
    /* loop thread only */
    uint8_t pend[IN_CHUNK];
    size_t pend_off, pend_len;
    struct chardev_escape esc;
};

/* ---- the Ctrl-A escape ---- */

size_t chardev_escape_filter(struct chardev_escape *e, const uint8_t *in, size_t n,
                             uint8_t *out, size_t *used, int *cmd)
{
    size_t o = 0, i = 0;
    *cmd = 0;
    while (i < n) {
        uint8_t b = in[i++];
        if (e->armed) {
            e->armed = false;
            if (b == CHARDEV_ESCAPE) {
                out[o++] = b;
            } else if (b == 'x' || b == 'X') {
                *cmd = 'x';
                break;
            } else if (b == 'h' || b == 'H' || b == '?') {
                *cmd = 'h';
                break;
            }
            /* any other key after Ctrl-A is swallowed */
        } else if (b == CHARDEV_ESCAPE) {
            e->armed = true;
        } else {
            out[o++] = b;
        }
    }
    *used = i;
    return o;
}

/* ---- terminal state of stdio, restored on every way out ---- */

static struct termios tty_saved;
static volatile sig_atomic_t tty_raw;
static bool stdio_taken;
static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT,
                                   SIGFPE, SIGILL };
static struct sigaction tty_old_sa[ARRAY_SIZE(tty_signals)];

static void tty_restore(void)
{
    if (tty_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
        tty_raw = 0;
    }
}

static void tty_signal(int sig)
{
    tty_restore();
    for (size_t i = 0; i < ARRAY_SIZE(tty_signals); i++)
        if (tty_signals[i] == sig)
            sigaction(sig, &tty_old_sa[i], NULL);
    raise(sig);     /* delivered with the previous action once we return */
}

static void tty_make_raw(void)
{
    static bool hooks;
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &tty_saved) < 0)
        return;
    t = tty_saved;
    /* Everything goes to the guest, Ctrl-C included; output keeps OPOST so
     * vessel's own log lines still start at column 0. */
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (!hooks) {
        hooks = true;
        atexit(tty_restore);
        for (size_t i = 0; i < ARRAY_SIZE(tty_signals); i++) {
            struct sigaction sa = { .sa_handler = tty_signal };
            sigemptyset(&sa.sa_mask);
            sigaction(tty_signals[i], &sa, &tty_old_sa[i]);
        }
    }
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
        tty_raw = 1;
}

/* ---- fd watches (with lock) ---- */

static void chr_fd_cb(void *opaque, int fd, uint32_t events);

static int watch_set(struct chardev *c, int fd, uint32_t ev)
{
    struct watch *w = NULL, *free_w = NULL;
    for (unsigned i = 0; i < ARRAY_SIZE(c->w); i++) {
        if (c->w[i].fd == fd && c->w[i].ev)
            w = &c->w[i];
        else if (!c->w[i].ev && !free_w)
            free_w = &c->w[i];
    }
    uint32_t old = w ? w->ev : 0;
    if (old == ev || !c->loop)
        return 0;
    if (!old) {
        int r = free_w ? loop_add_fd(c->loop, fd, ev, chr_fd_cb, c) : -ENOSPC;
        if (r < 0) {
            /* e.g. stdin is /dev/null or a regular file: epoll refuses it */
            log_debug("chardev: cannot poll fd %d: %s", fd, strerror(-r));
            return r;
        }
        free_w->fd = fd;
        free_w->ev = ev;
    } else if (!ev) {
        loop_del_fd(c->loop, fd);
        w->ev = 0;
    } else if (loop_mod_fd(c->loop, fd, ev) == 0) {
        w->ev = ev;
    }
    return 0;
}

/* Recompute what the loop watches for the current state (with lock). */
static void rewatch(struct chardev *c)
{
    uint32_t in = 0, out = 0;
    if (c->in_fd >= 0 && !c->in_paused && !c->in_eof)
        in = EPOLLIN;
    if (c->out_fd >= 0 && c->outq_len && !c->out_direct)
        out = EPOLLOUT;
    if (c->in_fd >= 0 && c->in_fd == c->out_fd) {
        watch_set(c, c->in_fd, in | out);
    } else {
        if (c->in_fd >= 0 && watch_set(c, c->in_fd, in) < 0)
            c->in_eof = true;   /* an input that cannot be polled gives none */
        if (c->out_fd >= 0)
            watch_set(c, c->out_fd, out);
    }
    if (c->listen_fd >= 0)
        watch_set(c, c->listen_fd, c->in_fd < 0 ? EPOLLIN : 0);
}

/* ---- output ---- */

/* Write what the host takes without blocking; bytes written, -1 when the
 * other end is gone. */
static ssize_t try_write(struct chardev *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r;
        if (c->kind == CHR_UNIX) {
            r = send(c->out_fd, p + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            /* stdout is shared with other processes: no O_NONBLOCK on it.
             * A pipe or tty that polls writable takes PIPE_BUF bytes. */
            struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
            if (poll(&pfd, 1, 0) <= 0)
                break;
            if (pfd.revents & (POLLERR | POLLNVAL))
                return -1;
            r = write(c->out_fd, p + done, MIN(n - done, (size_t)PIPE_BUF));
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static void outq_drop(struct chardev *c)
{
    c->outq_off = c->outq_len = 0;
}

static void outq_append(struct chardev *c, const uint8_t *p, size_t n)
{
    if (c->outq_off && c->outq_off + c->outq_len + n > c->outq_cap) {
        memmove(c->outq, c->outq + c->outq_off, c->outq_len);
        c->outq_off = 0;
    }
    size_t room = OUTQ_MAX - c->outq_len;
    if (n > room) {
        if (!c->dropped)
            log_warn("chardev: output backlog over %u KiB, dropping output", OUTQ_MAX >> 10);
        c->dropped += n - room;
        n = room;
    }
    if (c->outq_len + n > c->outq_cap) {
        c->outq_cap = MAX(c->outq_len + n, MIN(2 * c->outq_cap + 4096, (size_t)OUTQ_MAX));
        c->outq = xrealloc(c->outq, c->outq_cap);
    }
    memcpy(c->outq + c->outq_off + c->outq_len, p, n);
    c->outq_len += n;
}

static void output_gone(struct chardev *c)
{
    outq_drop(c);
    if (c->kind == CHR_STDIO)
        c->out_broken = true;
}

/* Flush the queue as far as the host allows (with lock). */
static void outq_flush(struct chardev *c)
{
    if (!c->outq_len || c->out_fd < 0)
        return;
    ssize_t w = try_write(c, c->outq + c->outq_off, c->outq_len);
    if (w < 0) {
        output_gone(c);
        return;
    }
    c->outq_off += (size_t)w;
    c->outq_len -= (size_t)w;
    if (!c->outq_len)
        c->outq_off = 0;
}

static void chr_write_locked(struct chardev *c, const uint8_t *p, size_t len)
{
    if (c->kind == CHR_NULL || c->out_fd < 0 || c->out_broken || !len)
        return;
    if (c->out_direct) {
        if (write_full(c->out_fd, p, len) < 0)
            c->dropped += len;
        return;
    }
    if (!c->outq_len) {
        ssize_t w = try_write(c, p, len);
        if (w < 0) {
            output_gone(c);
            return;
        }
        p += w;
        len -= (size_t)w;
    }
    if (len) {
        if (!c->loop) {         /* nobody to flush later: wait */
            struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
            while (len && poll(&pfd, 1, 1000) > 0) {
                ssize_t w = try_write(c, p, len);
                if (w < 0)
                    return;
                p += w;
                len -= (size_t)w;
            }
            return;
        }
        outq_append(c, p, len);
        rewatch(c);
    }
}

void chardev_write(struct chardev *c, const void *buf, size_t len)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->hold && len) {
        if (c->hold_len + len > CHARDEV_HOLD_MAX) {
            c->dropped += len;
        } else {
            if (c->hold_len + len > c->hold_cap) {
                c->hold_cap = MAX(c->hold_cap * 2, c->hold_len + len);
                c->holdq = xrealloc(c->holdq, c->hold_cap);
            }
            memcpy(c->holdq + c->hold_len, buf, len);
            c->hold_len += len;
        }
    } else {
        chr_write_locked(c, buf, len);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Out with the held bytes before stream offset `mark` (with lock). */
static void hold_release_locked(struct chardev *c, uint64_t mark)
{
    if (mark <= c->hold_base)
        return;
    size_t n = (size_t)MIN(mark - c->hold_base, (uint64_t)c->hold_len);
    chr_write_locked(c, c->holdq, n);
    memmove(c->holdq, c->holdq + n, c->hold_len - n);
    c->hold_len -= n;
    c->hold_base += n;
}

void chardev_hold(struct chardev *c, bool on)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (!on)
        hold_release_locked(c, c->hold_base + c->hold_len);
    c->hold = on;
    pthread_mutex_unlock(&c->lock);
}

uint64_t chardev_hold_mark(struct chardev *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    uint64_t m = c->hold_base + c->hold_len;
    pthread_mutex_unlock(&c->lock);
    return m;
}

void chardev_release(struct chardev *c, uint64_t mark)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    hold_release_locked(c, mark);
    pthread_mutex_unlock(&c->lock);
}

size_t chardev_hold_peek(struct chardev *c, uint64_t from, void *buf, size_t len)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    size_t n = 0;
    if (from >= c->hold_base && from - c->hold_base < c->hold_len) {
        size_t at = (size_t)(from - c->hold_base);
        n = MIN(len, c->hold_len - at);
        memcpy(buf, c->holdq + at, n);
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

uint64_t chardev_dropped(const struct chardev *c)
{
    return __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
}

/* ---- input (loop thread) ---- */

/* Offer the pending input to the device; pause reading while it is full. */
static void deliver(struct chardev *c)
{
    while (c->pend_off < c->pend_len) {
        pthread_mutex_lock(&c->lock);
        size_t (*in)(void *, const uint8_t *, size_t) = c->input;
        void *op = c->input_opaque;
        pthread_mutex_unlock(&c->lock);
        if (!in) {              /* no device listening: the bytes are lost */
            c->pend_off = c->pend_len;
            break;
        }
        /* No chardev lock here: the device's lock is taken inside and the
         * device calls chardev_write with its lock held. */
        size_t k = in(op, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (!k)
            break;
        c->pend_off += MIN(k, c->pend_len - c->pend_off);
    }
    bool empty = c->pend_off >= c->pend_len;
    if (empty)
        c->pend_off = c->pend_len = 0;
    pthread_mutex_lock(&c->lock);
    if (c->in_paused == empty) {
        c->in_paused = !empty;
        rewatch(c);
    }
    pthread_mutex_unlock(&c->lock);
}

static void ready_cb(void *opaque)
{
    deliver(opaque);
}

static const char help_text[] =
    "\r\nC-a h    print this help\r\n"
    "C-a x    exit vessel\r\n"
    "C-a C-a  send C-a to the guest\r\n";

static void disconnect(struct chardev *c)
{
    pthread_mutex_lock(&c->lock);
    int fd = c->in_fd;
    watch_set(c, fd, 0);
    close(fd);
    c->in_fd = c->out_fd = -1;
    c->in_paused = false;
    outq_drop(c);
    rewatch(c);                 /* listen again */
    pthread_mutex_unlock(&c->lock);
    c->pend_off = c->pend_len = 0;
    c->esc.armed = false;
}

static void read_input(struct chardev *c)
{
    uint8_t raw[IN_CHUNK];
    if (c->pend_len)            /* still waiting for the device */
        return;
    ssize_t n = read(c->in_fd, raw, sizeof(raw));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (c->kind == CHR_UNIX) {
            disconnect(c);
        } else {
            pthread_mutex_lock(&c->lock);
            c->in_eof = true;   /* stop reading; do not spin on EOF */
            rewatch(c);
            pthread_mutex_unlock(&c->lock);
        }
        return;
    }
    if (c->kind != CHR_STDIO) {
        memcpy(c->pend, raw, (size_t)n);
        c->pend_len = (size_t)n;
        deliver(c);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n) {
        size_t used;
        int cmd;
        c->pend_len += chardev_escape_filter(&c->esc, raw + off, (size_t)n - off,
                                             c->pend + c->pend_len, &used, &cmd);
        off += used;
        if (cmd == 'h') {
            chardev_write(c, help_text, sizeof(help_text) - 1);
        } else if (cmd == 'x') {
            deliver(c);         /* what was typed before it still goes in */
            pthread_mutex_lock(&c->lock);
            void (*quit)(void *) = c->quit;
            void *op = c->quit_opaque;
            pthread_mutex_unlock(&c->lock);
            if (!quit) {
                tty_restore();
                exit(0);
            }
            quit(op);
            c->pend_len = c->pend_off = 0;   /* nothing after the quit */
            pthread_mutex_lock(&c->lock);
            c->in_eof = true;
            rewatch(c);
            pthread_mutex_unlock(&c->lock);
            return;
        }
    }
    deliver(c);
}

static void accept_client(struct chardev *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->in_fd >= 0) {        /* one client at a time */
        pthread_mutex_unlock(&c->lock);
        close(fd);
        return;
    }
    c->in_fd = c->out_fd = fd;
    c->in_paused = false;
    rewatch(c);
    pthread_mutex_unlock(&c->lock);
}

static void chr_fd_cb(void *opaque, int fd, uint32_t events)
{
    struct chardev *c = opaque;
    if (fd == c->listen_fd) {
        accept_client(c);
        return;
    }
    if (fd == c->out_fd && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        pthread_mutex_lock(&c->lock);
        if (fd != c->in_fd && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLOUT))
            output_gone(c);
        else
            outq_flush(c);
        rewatch(c);
        pthread_mutex_unlock(&c->lock);
    }
    if (fd == c->in_fd) {
        if (events & EPOLLIN) {
            read_input(c);
        } else if (events & (EPOLLHUP | EPOLLERR)) {
            if (c->kind == CHR_UNIX)
                disconnect(c);
            else
                read_input(c);  /* gives EOF or an error: stops reading */
        }
    }
}

/* ---- open / close ---- */

static struct chardev *chr_new(enum chr_kind kind, struct loop *loop)
{
    struct chardev *c = xzalloc(sizeof(*c));
    c->kind = kind;
    c->loop = loop;
    c->in_fd = c->out_fd = c->listen_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static int open_unix(struct chardev *c, const char *path)
{
    /* 0600: only its owner can reach the guest's console */
    int fd = unix_listen(path, SOCK_NONBLOCK, 1, &c->sock);
    if (fd < 0) {
        log_error("chardev unix:%s: %s", path, unix_listen_strerror(fd));
        return fd;
    }
    c->listen_fd = fd;
    c->path = xstrdup(path);
    return 0;
}

struct chardev *chardev_open(const char *spec, struct loop *loop)
{
    struct chardev *c = NULL;
    if (!spec) {
        log_error("chardev: no spec given (stdio, unix:PATH, file:PATH or null)");
        return NULL;
    }
    if (strcmp(spec, "null") == 0) {
        c = chr_new(CHR_NULL, loop);
    } else if (strcmp(spec, "stdio") == 0) {
        if (stdio_taken) {
            log_error("chardev %s: stdio is already used by another device", spec);
            return NULL;
        }
        c = chr_new(CHR_STDIO, loop);
        c->in_fd = loop ? STDIN_FILENO : -1;
        /* A background job must leave the terminal alone: reading it or
         * changing its modes would stop the process (SIGTTIN/SIGTTOU). */
        bool tty = isatty(STDIN_FILENO);
        if (tty && tcgetpgrp(STDIN_FILENO) != getpgrp())
            c->in_fd = -1, tty = false;
        c->out_fd = STDOUT_FILENO;
        struct stat st;
        c->out_direct = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode);
        stdio_taken = true;
        /* A reader that goes away must not kill the VM: EPIPE drops output. */
        signal(SIGPIPE, SIG_IGN);
        if (loop && tty)
            tty_make_raw();
    } else if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        int fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            log_error("chardev %s: %s", spec, strerror(errno));
            return NULL;
        }
        c = chr_new(CHR_FILE, loop);
        c->out_fd = fd;
        c->out_direct = true;
        c->path = xstrdup(spec + 5);
    } else if (strncmp(spec, "unix:", 5) == 0 && spec[5]) {
        if (!loop) {
            log_error("chardev %s: needs an event loop", spec);
            return NULL;
        }
        c = chr_new(CHR_UNIX, loop);
        if (open_unix(c, spec + 5) < 0) {
            pthread_mutex_destroy(&c->lock);
            free(c);
            return NULL;
        }
    } else {
        log_error("chardev '%s': unknown (use stdio, unix:PATH, file:PATH or null)", spec);
        return NULL;
    }
    if (loop) {
        c->ready_ev = loop_event_new(loop, ready_cb, c);
        if (!c->ready_ev) {
            chardev_close(c);
            return NULL;
        }
    }
    pthread_mutex_lock(&c->lock);
    rewatch(c);
    pthread_mutex_unlock(&c->lock);
    return c;
}

void chardev_set_input(struct chardev *c, size_t (*input)(void *opaque, const uint8_t *buf, size_t len),
                       void *opaque)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->input = input;
    c->input_opaque = opaque;
    pthread_mutex_unlock(&c->lock);
}

void chardev_input_ready(struct chardev *c)
{
    if (c && c->ready_ev)
        loop_event_notify(c->ready_ev);
}

void chardev_set_quit(struct chardev *c, void (*quit)(void *opaque), void *opaque)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->quit = quit;
    c->quit_opaque = opaque;
    pthread_mutex_unlock(&c->lock);
}

void chardev_close(struct chardev *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    /* Give queued output a last chance (bounded: a stuck reader loses it). */
    uint64_t deadline = time_ms() + 2000;
    while (c->outq_len && c->out_fd >= 0 && time_ms() < deadline) {
        struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
        if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
            break;
        outq_flush(c);
    }
    for (unsigned i = 0; i < ARRAY_SIZE(c->w); i++)
        if (c->w[i].ev && c->loop) {
            loop_del_fd(c->loop, c->w[i].fd);
            c->w[i].ev = 0;
        }
    pthread_mutex_unlock(&c->lock);
    loop_event_free(c->ready_ev);
    switch (c->kind) {
    case CHR_STDIO:
        tty_restore();
        stdio_taken = false;
        break;
    case CHR_FILE:
        close(c->out_fd);
        break;
    case CHR_UNIX:
        if (c->in_fd >= 0)
            close(c->in_fd);
        close(c->listen_fd);
        sock_path_remove(&c->sock);
        break;
    case CHR_NULL:
        break;
    }
    free(c->outq);
    free(c->holdq);
    free(c->path);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* base: logging, errors, small helpers shared by every module. */
#ifndef VESSEL_BASE_H
#define VESSEL_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define UNUSED __attribute__((unused))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- logging ----
 * Messages go to stderr (or the file set with log_set_file) prefixed with
 * "vessel: ". log_error is for the one line a user sees for a failure.
 * log_guest is for guest-caused errors: rate limited per call site. */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_set_prog(const char *prog);          /* prefix, default "vessel" */
void log_set_fd(int fd);                        /* default 2 */
void log_set_json(bool json);                   /* runc-style {"level":..,"msg":..} lines */
void log_msg(enum log_level lvl, const char *fmt, ...) PRINTF(2, 3);
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);
/* The line log_vmsg would write (text or json, newline included) in LINE: its length. */
size_t log_vformat(char *line, size_t cap, enum log_level lvl, const char *fmt, va_list ap);
int log_get_fd(void);                           /* where the lines go */

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* Rate limit state: at most `burst` messages per `interval_ms`, then one
 * "N messages suppressed" line when the window reopens. */
struct ratelimit {
    uint64_t window_start_ms;
    unsigned interval_ms, burst, printed, suppressed;
};
bool ratelimit_ok(struct ratelimit *rl);

/* Guest-caused problem: one rate-limited warning per call site. */
#define log_guest(...) do {                                            \
        static struct ratelimit rl__ = { 0, 5000, 10, 0, 0 };          \
        if (ratelimit_ok(&rl__)) log_msg(LOG_WARN, "guest: " __VA_ARGS__); \
    } while (0)

/* Print once per call site for the life of the process. */
#define log_once(lvl, ...) do {                                        \
        static int once__;                                             \
        if (!__atomic_exchange_n(&once__, 1, __ATOMIC_RELAXED))        \
            log_msg(lvl, __VA_ARGS__);                                 \
    } while (0)

/* ---- allocation: abort with a message on OOM (host-side, not guest-controlled sizes) ---- */
void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);
/* Format into err[errlen] (for "char *err, size_t errlen" reporting) and
 * return r: `return errf(err, errlen, -EINVAL, "bad %s", x);` */
int errf(char *err, size_t errlen, int r, const char *fmt, ...) PRINTF(4, 5);

/* ---- cleanup attributes ---- */
static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define cleanup_free  __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))

/* ---- parsing ---- */
/* "128M", "1G", "4096", "2k": bytes. Suffixes K M G T (powers of 1024);
 * a bare number means `default_unit` bytes (1 for bytes, 1<<20 for MiB).
 * Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out);
/* Decimal or 0x-hex unsigned integer, whole string. */
int parse_u64(const char *s, uint64_t *out);

/* ---- time ---- */
uint64_t time_ns(void);          /* CLOCK_MONOTONIC */
uint64_t time_ms(void);
/* Benchmarks (bench/snapshot/restore.py): with VESSEL_BENCH_T0 set to the
 * caller's CLOCK_MONOTONIC in ns just before it ran vessel, one stderr line
 * "vessel: bench: WHAT X ms after exec (N page faults)", N the process's
 * page faults so far (each costs ~28 us in this project's VMs); nothing
 * without it. */
void bench_since_exec(const char *what);

/* ---- threads ---- */
/* pthread_create with a stack of THREAD_STACK_SIZE instead of the 8 MiB
 * default (RLIMIT_STACK): with transparent huge pages "always" (Debian's
 * kernels) the first touch near the top of an 8 MiB stack can fault in a
 * whole 2 MiB page, which bench/kvm saw as 2 MiB more VMM memory in one
 * nested boot of four; a mapping under 2 MiB cannot hold one. For the
 * machine's long-lived threads (vCPUs, the I/O loop, block workers).
 * 0 or an errno value, as pthread_create. */
#define THREAD_STACK_SIZE (1984u << 10)
int thread_spawn(pthread_t *t, void *(*fn)(void *), void *arg);

/* ---- I/O ---- */
ssize_t read_full(int fd, void *buf, size_t n);   /* retries on EINTR/short reads */
ssize_t write_full(int fd, const void *buf, size_t n);
/* Read a whole file into a malloc'd buffer (NUL-terminated). -errno on failure. */
int read_file(const char *path, char **data, size_t *len, size_t max_len);
/* Open `path` write-only (plus `oflags`, e.g. O_CREAT|O_TRUNC, created with
 * `mode`), write `len` bytes, close. 0 or -errno (of open, write or close).
 * write_str: the same for a NUL-terminated string and no extra flags, the
 * shape of a sysfs, procfs or cgroupfs write. */
int write_file(const char *path, const void *data, size_t len, int oflags, mode_t mode);
int write_str(const char *path, const char *s);

/* ---- unix sockets: the file a listener bound ----
 * Noted right after bind (sock_path_note), removed at the end
 * (sock_path_remove) only while the file at the path is still that one:
 * another process may have bound the path since (vessel spare starts the
 * next standby on a standby's path as soon as it took over), and
 * removing its socket would leave it unreachable for good. */
struct sock_path {
    char path[108];
    dev_t dev;
    ino_t ino;
    bool set;
};
void sock_path_note(struct sock_path *sp, const char *path);
void sock_path_remove(struct sock_path *sp);
/* A listening unix stream socket bound at PATH (SOCK_CLOEXEC and FLAGS,
 * e.g. SOCK_NONBLOCK), its file 0600 whatever the umask: made so before
 * bind (no moment where another user could connect; not umask(), which
 * is the whole process's) and set again after it (a umask that took the
 * owner's bits). A stale socket file at PATH is replaced; anything else
 * there is refused. Noted in SP (sock_path_note) when SP is given. The fd,
 * or -ENOTSOCK (PATH exists and is not a socket), -ENAMETOOLONG, or the
 * failed call's -errno. */
int unix_listen(const char *path, int flags, int backlog, struct sock_path *sp);
/* unix_listen's error as one phrase: "exists and is not a socket" or strerror */
const char *unix_listen_strerror(int err);
/* mkdir -p: create PATH and its missing parents with MODE; 0 or -errno
 * (an existing directory is fine). */
int mkdir_parents(const char *path, mode_t mode);

/* ---- event loop (loop.c) ----
 * An epoll loop, normally run on one I/O thread (loop_start). fd callbacks,
 * one-shot timers (CLOCK_MONOTONIC ms), cross-thread wakeups (eventfd), and
 * poll hooks for libraries that hand out their own fd sets each round
 * (libslirp). Callbacks run on the loop thread. Timers and hooks are meant to
 * be used from the loop thread (or before loop_start); loop_add_fd,
 * loop_del_fd and loop_event_notify are thread-safe. */
struct loop;
struct loop_timer;
struct loop_event;
typedef void (*loop_fd_cb)(void *opaque, int fd, uint32_t events);   /* EPOLLIN ... */
typedef void (*loop_cb)(void *opaque);

struct loop *loop_new(void);                    /* NULL on failure (logged) */
void loop_free(struct loop *l);                 /* after loop_stop */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *opaque);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);
struct loop_timer *loop_timer_new(struct loop *l, loop_cb cb, void *opaque);
void loop_timer_mod(struct loop_timer *t, uint64_t expire_ms);  /* absolute time_ms() */
void loop_timer_del(struct loop_timer *t);      /* disarm */
void loop_timer_free(struct loop_timer *t);
struct loop_event *loop_event_new(struct loop *l, loop_cb cb, void *opaque);
void loop_event_notify(struct loop_event *e);   /* any thread; coalesces */
void loop_event_free(struct loop_event *e);
struct loop_hook {
    void (*prepare)(void *opaque, struct loop *l, int *timeout_ms);  /* calls loop_poll_add */
    void (*dispatch)(void *opaque, struct loop *l, bool error);      /* calls loop_poll_revents */
    void *opaque;
};
void loop_add_hook(struct loop *l, const struct loop_hook *h);
void loop_del_hook(struct loop *l, void *opaque);
int loop_poll_add(struct loop *l, int fd, short events);       /* index, for prepare */
short loop_poll_revents(struct loop *l, int idx);               /* for dispatch */
/* One round: wait up to timeout_ms (-1: forever), run what is ready. */
int loop_run_once(struct loop *l, int timeout_ms);
int loop_start(struct loop *l);                 /* spawn the I/O thread */
void loop_stop(struct loop *l);                 /* stop and join it */
bool loop_on_thread(struct loop *l);            /* caller is the loop thread */
/* Run fn(arg) on the loop's thread and wait for it (at once when the loop
 * is not running or the caller is its thread). 0 or -ENOMEM. */
int loop_call(struct loop *l, loop_cb fn, void *arg);

#endif

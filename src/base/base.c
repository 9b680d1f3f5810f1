#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

static void oom(size_t n)
{
    log_error("out of memory allocating %zu bytes", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xzalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) oom(n);
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) oom(strlen(s));
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0) oom(0);
    return p;
}

int errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return r;
}

int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end)
        return -EINVAL;
    *out = v;
    return 0;
}

int parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (end == s)
        return -EINVAL;
    uint64_t unit = default_unit;
    if (*end) {
        switch (*end) {
        case 'b': case 'B': unit = 1; break;
        case 'k': case 'K': unit = 1ULL << 10; break;
        case 'm': case 'M': unit = 1ULL << 20; break;
        case 'g': case 'G': unit = 1ULL << 30; break;
        case 't': case 'T': unit = 1ULL << 40; break;
        default: return -EINVAL;
        }
        end++;
        if (*end == 'i' && end[-1] != 'b' && end[-1] != 'B') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end)
            return -EINVAL;
    }
    if (unit && v > UINT64_MAX / unit)
        return -ERANGE;
    *out = v * unit;
    return 0;
}

uint64_t time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t time_ms(void) { return time_ns() / 1000000ULL; }

void bench_since_exec(const char *what)
{
    const char *t0 = getenv("VESSEL_BENCH_T0");
    uint64_t v;
    struct rusage ru;
    if (t0 && parse_u64(t0, &v) == 0 && getrusage(RUSAGE_SELF, &ru) == 0)
        fprintf(stderr, "vessel: bench: %s %.3f ms after exec (%ld page faults)\n", what,
                (double)(time_ns() - v) / 1e6, ru.ru_minflt + ru.ru_majflt);
}

ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int write_file(const char *path, const void *data, size_t len, int oflags, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | oflags, mode);
    if (fd < 0)
        return -errno;
    ssize_t r = write_full(fd, data, len);
    int e = r < 0 ? (int)r : 0;
    if (close(fd) < 0 && !e && errno != EINTR)
        e = -errno;
    return e;
}

int write_str(const char *path, const char *s)
{
    return write_file(path, s, strlen(s), 0, 0);
}

void sock_path_note(struct sock_path *sp, const char *path)
{
    struct stat st;
    memset(sp, 0, sizeof(*sp));
    if (strlen(path) >= sizeof(sp->path) || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return;
    memcpy(sp->path, path, strlen(path) + 1);
    sp->dev = st.st_dev;
    sp->ino = st.st_ino;
    sp->set = true;
}

void sock_path_remove(struct sock_path *sp)
{
    struct stat st;
    if (sp->set && lstat(sp->path, &st) == 0 && st.st_dev == sp->dev && st.st_ino == sp->ino)
        unlink(sp->path);
    sp->set = false;
}

int unix_listen(const char *path, int flags, int backlog, struct sock_path *sp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -ENOTSOCK;
        unlink(path);           /* a stale socket of an earlier run, as QEMU replaces it */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return -errno;
    /* the file takes the socket inode's mode less the umask */
    if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (sp)
        sock_path_note(sp, path);
    return fd;
}

const char *unix_listen_strerror(int err)
{
    return err == -ENOTSOCK ? "exists and is not a socket" : strerror(-err);
}

int mkdir_parents(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int thread_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    int r = pthread_attr_init(&a);
    if (r)
        return r;
    r = pthread_attr_setstacksize(&a, THREAD_STACK_SIZE);
    if (r == 0)
        r = pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    return r;
}

int read_file(const char *path, char **data, size_t *len, size_t max_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) { int e = -errno; close(fd); return e; }
    if (S_ISDIR(st.st_mode)) { close(fd); return -EISDIR; }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size : 65536;
    if (max_len && cap > max_len) { close(fd); return -EFBIG; }
    char *buf = malloc(cap + 1);
    if (!buf) { close(fd); return -ENOMEM; }
    size_t used = 0;
    for (;;) {
        if (used == cap) {
            /* a regular file read to its size: one byte more tells EOF
             * without doubling (and copying) the buffer first */
            char probe;
            ssize_t pr = S_ISREG(st.st_mode) ? read(fd, &probe, 1) : 1;
            if (pr == 0)
                break;
            if (pr < 0) {
                if (errno == EINTR) continue;
                int e = -errno; free(buf); close(fd); return e;
            }
            if (max_len && cap >= max_len) { free(buf); close(fd); return -EFBIG; }
            size_t ncap = cap ? cap * 2 : 4096;
            if (max_len && ncap > max_len) ncap = max_len;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) { free(buf); close(fd); return -ENOMEM; }
            buf = nb; cap = ncap;
            if (S_ISREG(st.st_mode))
                buf[used++] = probe;     /* the file grew: keep the probed byte */
            continue;
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = -errno; free(buf); close(fd); return e;
        }
        if (r == 0) break;
        used += (size_t)r;
    }
    close(fd);
    buf[used] = 0;
    *data = buf;
    if (len) *len = used;
    return 0;
}

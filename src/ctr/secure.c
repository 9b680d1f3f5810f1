/* ctr: what keeps a container from reaching the host through the runtime.
 *  - the runtime runs from a sealed memfd copy of itself (CVE-2019-5736);
 *  - paths inside the container root are resolved with openat2
 *    (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), or a component-wise walk that
 *    keeps every symlink inside the root where the kernel lacks it
 *    (CVE-2021-30465 class), and missing parts are created on those fds;
 *  - /proc files are opened beneath a verified procfs root, never across a
 *    mount or a magic link, and checked to be procfs (CVE-2025-52881). */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int ctr_sealed_reexec(void)
{
    cleanup_close int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        log_error("cannot open /proc/self/exe to make a sealed copy of the runtime: %s", strerror(errno));
        return -1;
    }
    int seals = fcntl(self, F_GET_SEALS);
    if (seals >= 0 && (seals & SEALS) == SEALS)
        return 0;                                /* already the sealed copy */
    struct stat st;
    if (fstat(self, &st) < 0)
        return -1;
    int m = memfd_create("vessel-ctr", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (m < 0 && errno == EINVAL)                /* kernels before 6.3 */
        m = memfd_create("vessel-ctr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0) {
        log_error("memfd_create for a sealed copy of the runtime: %s", strerror(errno));
        return -1;
    }
    for (off_t left = st.st_size; left > 0;) {
        ssize_t n = sendfile(m, self, NULL, (size_t)left);
        if (n <= 0) {
            log_error("copy the runtime into a memfd: %s", n < 0 ? strerror(errno) : "short read");
            close(m);
            return -1;
        }
        left -= n;
    }
    if (fcntl(m, F_ADD_SEALS, SEALS) < 0) {
        log_error("seal the runtime's memfd: %s", strerror(errno));
        close(m);
        return -1;
    }
    char *cmdline = NULL;
    size_t len = 0;
    if (read_file("/proc/self/cmdline", &cmdline, &len, 1 << 20) < 0 || !len) {
        log_error("cannot read /proc/self/cmdline to run the sealed copy");
        close(m);
        return -1;
    }
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        argc += !cmdline[i];
    char **argv = xzalloc((argc + 1) * sizeof(char *));
    for (size_t i = 0, k = 0; i < len && k < argc; k++) {
        argv[k] = cmdline + i;
        i += strlen(cmdline + i) + 1;
    }
    extern char **environ;
    syscall(SYS_execveat, m, "", argv, environ, AT_EMPTY_PATH);
    log_error("run the sealed copy of the runtime: %s", strerror(errno));
    free(argv);
    free(cmdline);
    close(m);
    return -1;
}

/* The walk of kernels without openat2: one component at a time, never
 * following a symlink by the kernel: its target is spliced into what is left
 * and resolved again from the root (absolute) or the current directory, and
 * ".." never goes above the root. */
int ctr_walk_in_root(int rootfd, const char *path, int flags)
{
    char done[PATH_MAX] = "", todo[PATH_MAX], comp[NAME_MAX + 1], cand[PATH_MAX], rest[PATH_MAX];
    snprintf(todo, sizeof(todo), "%s", path);
    int links = 0;
    for (;;) {
        const char *p = todo;
        while (*p == '/') p++;
        if (!*p) break;
        size_t n = strcspn(p, "/");
        if (n > NAME_MAX) return -ENAMETOOLONG;
        memcpy(comp, p, n);
        comp[n] = 0;
        snprintf(rest, sizeof(rest), "%s", p + n);
        bool last = rest[strspn(rest, "/")] == 0;
        if (!strcmp(comp, ".")) {
            snprintf(todo, sizeof(todo), "%s", rest);
            continue;
        }
        if (!strcmp(comp, "..")) {
            char *s = strrchr(done, '/');
            if (s) *s = 0; else done[0] = 0;
            snprintf(todo, sizeof(todo), "%s", rest);
            continue;
        }
        if ((size_t)snprintf(cand, sizeof(cand), "%s%s%s", done, *done ? "/" : "", comp) >= sizeof(cand))
            return -ENAMETOOLONG;
        struct stat st;
        if (fstatat(rootfd, cand, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
            char target[PATH_MAX];
            ssize_t k = readlinkat(rootfd, cand, target, sizeof(target) - 1);
            if (k < 0) return -errno;
            target[k] = 0;
            if (++links > 40) return -ELOOP;
            if (target[0] == '/') done[0] = 0;
            if ((size_t)snprintf(todo, sizeof(todo), "%s%s", target, rest) >= sizeof(todo))
                return -ENAMETOOLONG;
            continue;
        }
        snprintf(done, sizeof(done), "%s", cand);
        snprintf(todo, sizeof(todo), "%s", rest);
    }
    int fd = openat(rootfd, *done ? done : ".", flags | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ctr_open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    if (fd >= 0)
        return (int)fd;
    if (errno != ENOSYS)
        return -errno;
    return ctr_walk_in_root(rootfd, path, flags);
}

int ctr_mkpath_in_root(int rootfd, const char *path, bool file)
{
    int fd = ctr_open_in_root(rootfd, path, O_PATH);
    if (fd != -ENOENT)
        return fd;
    char parent[PATH_MAX];
    if ((size_t)snprintf(parent, sizeof(parent), "%s", path) >= sizeof(parent))
        return -ENAMETOOLONG;
    size_t l = strlen(parent);
    while (l > 1 && parent[l - 1] == '/')
        parent[--l] = 0;
    char *slash = strrchr(parent, '/');
    const char *last = slash ? slash + 1 : parent;
    if (!*last || !strcmp(last, ".") || !strcmp(last, ".."))
        return -EINVAL;
    int pfd;
    if (!slash || slash == parent) {
        pfd = dup(rootfd);
        if (pfd < 0) return -errno;
    } else {
        *slash = 0;
        pfd = ctr_mkpath_in_root(rootfd, parent, false);
        if (pfd < 0) return pfd;
    }
    int r;
    if (file) {
        int f = openat(pfd, last, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
        r = f < 0 ? -errno : close(f);
    } else {
        r = mkdirat(pfd, last, 0755) < 0 ? -errno : 0;
    }
    /* EEXIST after ENOENT: a symlink whose target is missing; not followed */
    fd = r < 0 ? r : openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && r == 0) fd = -errno;
    close(pfd);
    return fd == -EEXIST ? -ENOLINK : fd;
}

int ctr_proc_root(void)
{
    int fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct statfs sf;
    struct stat st;
    if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC || fstat(fd, &st) < 0 || st.st_ino != 1) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

int ctr_proc_open(int procfd, const char *rel, int flags)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS };
    long fd = syscall(SYS_openat2, procfd, rel, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS)
        fd = openat(procfd, rel, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct statfs sf;
    if (fstatfs((int)fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
        close((int)fd);
        return -EXDEV;
    }
    return (int)fd;
}

int ctr_proc_write(int procfd, const char *rel, const char *val)
{
    int fd = ctr_proc_open(procfd, rel, O_WRONLY);
    if (fd < 0)
        return fd;
    ssize_t n = write(fd, val, strlen(val));
    int r = n < 0 ? -errno : 0;
    close(fd);
    return r;
}

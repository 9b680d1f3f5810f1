/* ctr: what keeps a container from reaching the host through the runtime.
 *  - the container's programs are exec'd by a small static stage run from a
 *    sealed memfd, never by the runtime itself: /proc/self/exe inside the
 *    container names no host file (CVE-2019-5736);
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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* The exec stage (stage/stage.c) as bytes, built with vessel. */
#include "ctr/stage/ctr_exec_stage.h"

int ctr_exec_stage_open(void)
{
    int m = memfd_create("vessel-ctr-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (m < 0 && errno == EINVAL)                /* kernels before 6.3 */
        m = memfd_create("vessel-ctr-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0)
        return -errno;
    if (write_full(m, ctr_exec_stage_elf, sizeof(ctr_exec_stage_elf)) < 0 || fchmod(m, 0555) < 0 ||
        fcntl(m, F_ADD_SEALS, SEALS) < 0) {
        int e = errno ? errno : EIO;
        close(m);
        return -e;
    }
    return m;
}

static void PRINTF(3, 4) log_line(char *line, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vformat(line, cap, LOG_ERROR, fmt, ap);
    va_end(ap);
}

/* The stage's error line: the runtime's log line for "exec PATH: <error>",
 * split where the error's text goes (text or json, as --log-format says). */
static char *stage_error_line(const char *path, char *head, size_t cap)
{
    log_line(head, cap, "exec %s: \x01", path);
    char *mark = strstr(head, "\\u0001");
    size_t skip = 6;
    if (!mark) { mark = strchr(head, '\x01'); skip = 1; }
    if (!mark)
        return head + strlen(head);
    *mark = 0;
    return mark + skip;
}

int ctr_exec_staged(int stage, const char *path, char *const argv[], char *const envp[], bool report)
{
    char head[4608], logfd[16] = "-";
    char *tail = stage_error_line(path, head, sizeof(head));
    int lfd = report ? log_get_fd() : -1;
    if (lfd > 2 && fcntl(lfd, F_SETFD, 0) < 0)
        lfd = 2;
    if (lfd >= 0)
        snprintf(logfd, sizeof(logfd), "%d", lfd);
    size_t argc = 0;
    while (argv[argc]) argc++;
    cleanup_free char **sargv = xzalloc((argc + 6) * sizeof(char *));
    sargv[0] = "vessel-ctr-exec";
    sargv[1] = logfd;
    sargv[2] = head;
    sargv[3] = tail;
    sargv[4] = (char *)path;
    memcpy(sargv + 5, argv, argc * sizeof(char *));
    syscall(SYS_execveat, stage, "", sargv, envp, AT_EMPTY_PATH);
    int e = errno;
    if (lfd > 2)
        fcntl(lfd, F_SETFD, FD_CLOEXEC);
    return -e;
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

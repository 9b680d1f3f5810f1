/* Linux syscall layer for riscv64 guests (asm-generic numbers).
 * Most structs have the same layout on riscv64 and x86-64 hosts (timespec,
 * iovec payloads, dirent64, statx, statfs, rusage, utsname, termios,
 * sockaddr, flock); the ones that differ are translated here: struct stat,
 * epoll_event, sigaction, sigset, and anything holding guest pointers. */
#include "emu/riscv/user/internal.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

/* ---- guest pointers ---- */
#define BADPTR ((void *)(uintptr_t)0xffffffffffff0000ULL)   /* host kernel: EFAULT */

static void *gp(struct user_proc *p, uint64_t g, uint64_t len)
{
    if (g == 0)
        return NULL;
    void *h = user_mem_ptr(&p->mem, g, len);
    return h ? h : BADPTR;
}
static const char *gs(struct user_proc *p, uint64_t g)
{
    if (g == 0)
        return NULL;
    const char *s = user_mem_str(&p->mem, g, 4096);
    return s ? s : BADPTR;
}

static int64_t R(long r) { return r < 0 ? -errno : r; }

/* iovec arrays hold guest pointers. */
static struct iovec *iov_in(struct user_proc *p, uint64_t g, uint64_t n)
{
    if (n > 1024)
        return NULL;
    const struct iovec *gi = gp(p, g, n * 16);
    if (!gi || gi == BADPTR)
        return NULL;
    struct iovec *hv = xmalloc(sizeof(*hv) * (n ? n : 1));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = (uint64_t)(uintptr_t)gi[i].iov_base, l = gi[i].iov_len;
        hv[i].iov_base = l ? gp(p, b, l) : NULL;
        hv[i].iov_len = l;
    }
    return hv;
}

/* -L SYSROOT: an absolute path that exists under the sysroot is taken from
 * there (as qemu -L does), so ld.so finds /lib/libc.so.6 in the sysroot.
 * The default sysroot does this for a dynamic program only: a static one
 * listing / saw the cross sysroot's bin, include and lib. */
static const char *sysroot_path(struct user_proc *p, const char *path, char *buf, size_t n)
{
    if (!p->sysroot || !p->sysroot_paths || !path || path == BADPTR || path[0] != '/' ||
        !strncmp(path, "/proc/", 6) || !strncmp(path, "/dev/", 5) || !strncmp(path, "/sys/", 5))
        return path;
    if ((size_t)snprintf(buf, n, "%s%s", p->sysroot, path) >= n)
        return path;
    struct stat st;
    return lstat(buf, &st) == 0 ? buf : path;
}

/* /proc/self/maps in guest terms: runs of pages with the same protection
 * (the host's file would show the reservation). Returned as a memfd. */
static int fake_proc_maps(struct user_proc *p)
{
    int fd = memfd_create("maps", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct user_mem *m = &p->mem;
    uint64_t npages = m->size / USER_PAGE, i = 0;
    uint64_t stack_lo = USER_STACK_TOP - p->stack_size;
    char line[256];
    while (i < npages) {
        /* skip unmapped pages quickly, 8 at a time */
        uint64_t w8;
        while (i + 8 <= npages && (memcpy(&w8, m->prot + i, 8), !(w8 & 0x8080808080808080ULL)))
            i += 8;
        if (i >= npages)
            break;
        uint8_t b = m->prot[i];
        if (!(b & USER_MAPPED)) {
            i++;
            continue;
        }
        uint64_t j = i + 1;
        while (j < npages && m->prot[j] == b)
            j++;
        uint64_t lo = i * USER_PAGE, hi = j * USER_PAGE;
        const char *name = "";
        if (lo <= stack_lo && hi >= USER_STACK_TOP - USER_PAGE && lo < USER_STACK_TOP)
            name = "[stack]";
        else if (lo >= m->brk_start && hi <= m->brk_mapped && m->brk_mapped > m->brk_start)
            name = "[heap]";
        else if (lo >= p->img.lo && hi <= p->img.hi)
            name = p->exe_path;
        int n = snprintf(line, sizeof(line), "%08llx-%08llx %c%c%cp 00000000 00:00 0 %s%s\n",
                         (unsigned long long)lo, (unsigned long long)hi,
                         (b & PROT_READ) ? 'r' : '-', (b & PROT_WRITE) ? 'w' : '-',
                         (b & PROT_EXEC) ? 'x' : '-', *name ? "                  " : "", name);
        if (write_full(fd, line, (size_t)MIN(n, (int)sizeof(line) - 1)) < 0)
            break;
        i = j;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static bool is_proc_self(const char *path, const char *what)
{
    if (!path || path == BADPTR)
        return false;
    char b[64];
    if (!strncmp(path, "/proc/self/", 11))
        return !strcmp(path + 11, what);
    snprintf(b, sizeof(b), "/proc/%d/%s", getpid(), what);
    return !strcmp(path, b);
}

static bool is_proc_self_exe(const char *path)
{
    if (!path || path == BADPTR)
        return false;
    if (!strcmp(path, "/proc/self/exe") || !strcmp(path, "/proc/thread-self/exe"))
        return true;
    char b[64];
    snprintf(b, sizeof(b), "/proc/%d/exe", getpid());
    return !strcmp(path, b);
}

/* ---- one call ---- */
struct sc {
    struct user_thread *t;
    struct user_proc *p;
    struct user_regs *r;
    uint64_t a0, a1, a2, a3, a4, a5;
};
#define D0 ((int)c->a0)          /* the first argument as an int: an fd, a pid, a which */

static int64_t sys_enosys(struct sc *c) { (void)c; return -ENOSYS; }
static int64_t sys_ok(struct sc *c) { (void)c; return 0; }

/* ---- files ---- */
static int64_t stat_out(struct user_proc *p, int dirfd, const char *path, uint64_t out, int flags)
{
    struct stat st;
    long r;
    if (path)
        r = fstatat(dirfd, path, &st, flags);
    else
        r = fstat(dirfd, &st);
    if (r < 0)
        return -errno;
    uint8_t *o = gp(p, out, USER_STAT_SIZE);
    if (!o || o == BADPTR || !user_mem_ok(&p->mem, out, USER_STAT_SIZE, PROT_WRITE))
        return -EFAULT;
    user_stat_to_guest(&st, o);
    return 0;
}

static int64_t sys_getcwd(struct sc *c)    /* returns the length incl. NUL */
{
    char *b = gp(c->p, c->a0, c->a1);
    if (!b || b == BADPTR)
        return -EFAULT;
    if (!getcwd(b, c->a1))
        return -errno;
    return (int64_t)strlen(b) + 1;
}
static int64_t sys_dup(struct sc *c) { return R(dup(D0)); }
static int64_t sys_dup3(struct sc *c) { return R(dup3(D0, (int)c->a1, (int)c->a2)); }
static int64_t sys_fcntl(struct sc *c)
{
    switch ((int)c->a1) {
    case F_GETLK: case F_SETLK: case F_SETLKW:
    case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
        return R(fcntl(D0, (int)c->a1, gp(c->p, c->a2, 32)));
    case F_GETOWN_EX: case F_SETOWN_EX:
        return R(fcntl(D0, (int)c->a1, gp(c->p, c->a2, 8)));
    default:
        return R(fcntl(D0, (int)c->a1, c->a2));
    }
}
static int64_t sys_ioctl(struct sc *c)
{
    int fd = D0;
    uint64_t req = c->a1;
    switch (req) {
    case TCGETS: case TCSETS: case TCSETSW: case TCSETSF:
    case TIOCGWINSZ: case TIOCSWINSZ: case FIONREAD: case TIOCGPGRP:
    case TIOCSPGRP: case FIONBIO: case TIOCOUTQ: case TIOCGSID: case TIOCGPTN:
    case TIOCSPTLCK: case FIOASYNC:
        return R(ioctl(fd, req, gp(c->p, c->a2, 64)));
    case FIOCLEX: case FIONCLEX: case TCFLSH: case TCXONC: case TCSBRK:
    case TIOCSCTTY: case TIOCNOTTY:
        return R(ioctl(fd, req, c->a2));
    default:
        log_guest("ioctl 0x%llx on fd %d not supported", (unsigned long long)req, fd);
        return -ENOTTY;
    }
}
static int64_t sys_flock(struct sc *c) { return R(flock(D0, (int)c->a1)); }
static int64_t sys_mknodat(struct sc *c)
{
    return R(mknodat(D0, gs(c->p, c->a1), (mode_t)c->a2, (dev_t)c->a3));
}
static int64_t sys_mkdirat(struct sc *c) { return R(mkdirat(D0, gs(c->p, c->a1), (mode_t)c->a2)); }
static int64_t sys_unlinkat(struct sc *c) { return R(unlinkat(D0, gs(c->p, c->a1), (int)c->a2)); }
static int64_t sys_symlinkat(struct sc *c)
{
    return R(symlinkat(gs(c->p, c->a0), (int)c->a1, gs(c->p, c->a2)));
}
static int64_t sys_linkat(struct sc *c)
{
    return R(linkat(D0, gs(c->p, c->a1), (int)c->a2, gs(c->p, c->a3), (int)c->a4));
}
static int64_t sys_renameat(struct sc *c)
{
    return R(renameat(D0, gs(c->p, c->a1), (int)c->a2, gs(c->p, c->a3)));
}
static int64_t sys_renameat2(struct sc *c)
{
    return R(syscall(SYS_renameat2, D0, gs(c->p, c->a1), (int)c->a2, gs(c->p, c->a3), (unsigned)c->a4));
}
static int64_t sys_statfs(struct sc *c) { return R(syscall(SYS_statfs, gs(c->p, c->a0), gp(c->p, c->a1, 120))); }
static int64_t sys_fstatfs(struct sc *c) { return R(syscall(SYS_fstatfs, D0, gp(c->p, c->a1, 120))); }
static int64_t sys_truncate(struct sc *c) { return R(truncate(gs(c->p, c->a0), (off_t)c->a1)); }
static int64_t sys_ftruncate(struct sc *c) { return R(ftruncate(D0, (off_t)c->a1)); }
static int64_t sys_fallocate(struct sc *c)
{
    return R(fallocate(D0, (int)c->a1, (off_t)c->a2, (off_t)c->a3));
}
static int64_t sys_faccessat(struct sc *c)
{
    char b[4096];
    return R(syscall(SYS_faccessat, D0, sysroot_path(c->p, gs(c->p, c->a1), b, sizeof(b)), (int)c->a2));
}
static int64_t sys_faccessat2(struct sc *c)
{
    char b[4096];
    return R(syscall(SYS_faccessat2, D0, sysroot_path(c->p, gs(c->p, c->a1), b, sizeof(b)),
                     (int)c->a2, (int)c->a3));
}
static int64_t sys_chdir(struct sc *c) { return R(chdir(gs(c->p, c->a0))); }
static int64_t sys_fchdir(struct sc *c) { return R(fchdir(D0)); }
static int64_t sys_fchmod(struct sc *c) { return R(fchmod(D0, (mode_t)c->a1)); }
static int64_t sys_fchmodat(struct sc *c)
{
    return R(syscall(SYS_fchmodat, D0, gs(c->p, c->a1), (mode_t)c->a2));
}
static int64_t sys_fchownat(struct sc *c)
{
    return R(fchownat(D0, gs(c->p, c->a1), (uid_t)c->a2, (gid_t)c->a3, (int)c->a4));
}
static int64_t sys_fchown(struct sc *c) { return R(fchown(D0, (uid_t)c->a1, (gid_t)c->a2)); }
static int64_t sys_openat(struct sc *c)
{
    const char *path = gs(c->p, c->a1);
    char b[4096];
    if (is_proc_self(path, "maps"))
        return fake_proc_maps(c->p);
    if (is_proc_self_exe(path))
        path = c->p->exe_path;
    else if (!((int)c->a2 & O_CREAT))
        path = sysroot_path(c->p, path, b, sizeof(b));
    return R(syscall(SYS_openat, D0, path, (int)c->a2, (mode_t)c->a3));
}
static int64_t sys_close(struct sc *c) { return R(close(D0)); }
static int64_t sys_close_range(struct sc *c)
{
    return R(syscall(SYS_close_range, (unsigned)c->a0, (unsigned)c->a1, (unsigned)c->a2));
}
static int64_t sys_pipe2(struct sc *c) { return R(pipe2(gp(c->p, c->a0, 8), (int)c->a1)); }
static int64_t sys_getdents64(struct sc *c)
{
    return R(syscall(SYS_getdents64, D0, gp(c->p, c->a1, c->a2), c->a2));
}
static int64_t sys_lseek(struct sc *c) { return R(lseek(D0, (off_t)c->a1, (int)c->a2)); }
static int64_t sys_readlinkat(struct sc *c)
{
    const char *path = gs(c->p, c->a1);
    char *b = gp(c->p, c->a2, c->a3);
    if (is_proc_self_exe(path)) {
        if (!b || b == BADPTR)
            return -EFAULT;
        size_t n = MIN(strlen(c->p->exe_path), (size_t)c->a3);
        memcpy(b, c->p->exe_path, n);
        return (int64_t)n;
    }
    return R(readlinkat(D0, path, b, c->a3));
}
static int64_t sys_newfstatat(struct sc *c)
{
    const char *path = gs(c->p, c->a1);
    if (path == BADPTR)
        return -EFAULT;
    char b[4096];
    if (is_proc_self_exe(path))
        path = c->p->exe_path;
    else
        path = sysroot_path(c->p, path, b, sizeof(b));
    return stat_out(c->p, D0, path, c->a2, (int)c->a3);
}
static int64_t sys_fstat(struct sc *c) { return stat_out(c->p, D0, NULL, c->a1, 0); }
static int64_t sys_statx(struct sc *c)
{
    char b[4096];
    const char *path = gs(c->p, c->a1);
    path = is_proc_self_exe(path) ? c->p->exe_path : sysroot_path(c->p, path, b, sizeof(b));
    return R(syscall(SYS_statx, D0, path, (int)c->a2, (unsigned)c->a3, gp(c->p, c->a4, 256)));
}
static int64_t sys_sync(struct sc *c) { (void)c; sync(); return 0; }
/* Hints and flushes on a file: integers only, the same on both */
static int64_t sys_fadvise64(struct sc *c)
{
    return R(syscall(SYS_fadvise64, D0, (off_t)c->a1, (off_t)c->a2, (int)c->a3));
}
static int64_t sys_readahead(struct sc *c) { return R(syscall(SYS_readahead, D0, (off_t)c->a1, (size_t)c->a2)); }
static int64_t sys_sync_file_range(struct sc *c)
{
    return R(syscall(SYS_sync_file_range, D0, (off_t)c->a1, (off_t)c->a2, (unsigned)c->a3));
}
static int64_t sys_syncfs(struct sc *c) { return R(syscall(SYS_syncfs, D0)); }
/* timerfd: struct itimerspec is two timespecs on both */
static int64_t sys_timerfd_create(struct sc *c) { return R(syscall(SYS_timerfd_create, D0, (int)c->a1)); }
static int64_t sys_timerfd_settime(struct sc *c)
{
    return R(syscall(SYS_timerfd_settime, D0, (int)c->a1, gp(c->p, c->a2, 32), gp(c->p, c->a3, 32)));
}
static int64_t sys_timerfd_gettime(struct sc *c) { return R(syscall(SYS_timerfd_gettime, D0, gp(c->p, c->a1, 32))); }
/* inotify: the events read from the fd have one layout on both */
static int64_t sys_inotify_init1(struct sc *c) { return R(syscall(SYS_inotify_init1, D0)); }
static int64_t sys_inotify_add_watch(struct sc *c)
{
    char b[4096];
    return R(syscall(SYS_inotify_add_watch, D0, sysroot_path(c->p, gs(c->p, c->a1), b, sizeof(b)),
                     (uint32_t)c->a2));
}
static int64_t sys_inotify_rm_watch(struct sc *c) { return R(syscall(SYS_inotify_rm_watch, D0, (int)c->a1)); }
static int64_t sys_fsync(struct sc *c) { return R(fsync(D0)); }
static int64_t sys_fdatasync(struct sc *c) { return R(fdatasync(D0)); }
static int64_t sys_utimensat(struct sc *c)
{
    return R(syscall(SYS_utimensat, D0, gs(c->p, c->a1), gp(c->p, c->a2, 32), (int)c->a3));
}
static int64_t sys_memfd_create(struct sc *c)
{
    return R(syscall(SYS_memfd_create, gs(c->p, c->a0), (unsigned)c->a1));
}

/* ---- reading and writing ---- */
static int64_t sys_read(struct sc *c) { return R(read(D0, gp(c->p, c->a1, c->a2), c->a2)); }
static int64_t sys_write(struct sc *c) { return R(write(D0, gp(c->p, c->a1, c->a2), c->a2)); }
static int64_t sys_pread64(struct sc *c)
{
    return R(pread(D0, gp(c->p, c->a1, c->a2), c->a2, (off_t)c->a3));
}
static int64_t sys_pwrite64(struct sc *c)
{
    return R(pwrite(D0, gp(c->p, c->a1, c->a2), c->a2, (off_t)c->a3));
}
/* readv, writev, preadv, pwritev: the iovec array holds guest pointers */
static int64_t rwv(struct sc *c, bool write, bool positional)
{
    if (c->a2 > 1024)
        return -EINVAL;
    struct iovec *v = iov_in(c->p, c->a1, c->a2);
    if (!v && c->a2)
        return -EFAULT;
    int n = (int)c->a2;
    int64_t k;
    if (positional)
        k = R(write ? pwritev(D0, v, n, (off_t)c->a3) : preadv(D0, v, n, (off_t)c->a3));
    else
        k = R(write ? writev(D0, v, n) : readv(D0, v, n));
    free(v);
    return k;
}
static int64_t sys_readv(struct sc *c) { return rwv(c, false, false); }
static int64_t sys_writev(struct sc *c) { return rwv(c, true, false); }
static int64_t sys_preadv(struct sc *c) { return rwv(c, false, true); }
static int64_t sys_pwritev(struct sc *c) { return rwv(c, true, true); }
static int64_t sys_sendfile(struct sc *c)
{
    return R(sendfile(D0, (int)c->a1, gp(c->p, c->a2, 8), c->a3));
}
static int64_t sys_copy_file_range(struct sc *c)
{
    return R(syscall(SYS_copy_file_range, D0, gp(c->p, c->a1, 8), (int)c->a2,
                     gp(c->p, c->a3, 8), c->a4, (unsigned)c->a5));
}

/* ---- waiting for file descriptors ---- */
struct g_epoll_event { uint32_t events, pad; uint64_t data; };

static int64_t sys_eventfd2(struct sc *c) { return R(eventfd((unsigned)c->a0, (int)c->a1)); }
static int64_t sys_epoll_create1(struct sc *c) { return R(epoll_create1(D0)); }
static int64_t sys_epoll_ctl(struct sc *c)
{
    struct g_epoll_event *ge = gp(c->p, c->a3, 16);
    struct epoll_event he = {0};
    if (ge == BADPTR)
        return -EFAULT;
    if (ge) {
        he.events = ge->events;
        he.data.u64 = ge->data;
    }
    return R(epoll_ctl(D0, (int)c->a1, (int)c->a2, ge ? &he : NULL));
}
static int64_t sys_epoll_pwait(struct sc *c)
{
    int n = (int)c->a2;
    if (n <= 0 || n > 4096)
        return -EINVAL;
    struct g_epoll_event *ge = gp(c->p, c->a1, (uint64_t)n * 16);
    if (!ge || ge == BADPTR)
        return -EFAULT;
    struct epoll_event *he = xmalloc(sizeof(*he) * (size_t)n);
    int64_t k = R(epoll_pwait(D0, he, n, (int)c->a3, NULL));
    for (int64_t i = 0; i < k; i++) {
        ge[i].events = he[i].events;
        ge[i].pad = 0;
        ge[i].data = he[i].data.u64;
    }
    free(he);
    return k;
}
static int64_t sys_pselect6(struct sc *c)    /* the sigmask argument is ignored */
{
    if (D0 < 0 || D0 > (1 << 20))
        return -EINVAL;
    uint64_t sz = ((uint64_t)D0 + 63) / 64 * 8;
    return R(syscall(SYS_pselect6, D0, gp(c->p, c->a1, sz), gp(c->p, c->a2, sz),
                     gp(c->p, c->a3, sz), gp(c->p, c->a4, 16), NULL));
}
static int64_t sys_ppoll(struct sc *c)
{
    if (c->a1 > (1u << 20))
        return -EINVAL;
    return R(ppoll(gp(c->p, c->a0, c->a1 * 8), c->a1, gp(c->p, c->a2, 16), NULL));
}

/* ---- memory ---- */
static int64_t sys_brk(struct sc *c) { return (int64_t)user_mem_brk(&c->p->mem, c->a0); }
static int64_t sys_munmap(struct sc *c)
{
    user_maps_changed(c->p);
    int rc = user_mem_munmap(&c->p->mem, c->a0, c->a1);
    if (rc == 0)
        user_code_changed(c->p, c->a0, c->a1);
    return rc;
}
static int64_t sys_mremap(struct sc *c)
{
    user_maps_changed(c->p);
    return user_mem_mremap(&c->p->mem, c->a0, c->a1, c->a2, (int)c->a3, c->a4);
}
static int64_t sys_mmap(struct sc *c)
{
    struct user_proc *p = c->p;
    uint64_t len = c->a1;
    int prot = (int)c->a2, flags = (int)c->a3, fd = (int)c->a4;
    if (!(flags & MAP_ANONYMOUS) && fd < 0)
        return -EBADF;
    if (flags & MAP_FIXED)
        user_maps_changed(p);
    int64_t r = user_mem_mmap(&p->mem, c->a0, len, prot, flags, fd, c->a5);
    if (r >= 0 && ((prot & PROT_EXEC) || (flags & MAP_FIXED)))
        user_code_changed(p, (uint64_t)r, len);
    return r;
}
static int64_t sys_mprotect(struct sc *c)
{
    user_maps_changed(c->p);
    int rc = user_mem_mprotect(&c->p->mem, c->a0, c->a1, (int)c->a2);
    if (rc == 0)
        user_code_changed(c->p, c->a0, c->a1);
    return rc;
}
static int64_t sys_msync(struct sc *c) { return R(msync(gp(c->p, c->a0, c->a1), c->a1, (int)c->a2)); }
static int64_t sys_madvise(struct sc *c)
{
    struct user_proc *p = c->p;
    if ((c->a0 & (USER_PAGE - 1)) || !user_mem_ptr(&p->mem, c->a0, c->a1))
        return -EINVAL;
    switch ((int)c->a2) {
    case MADV_DONTNEED: case MADV_FREE: case MADV_WILLNEED: case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE: case MADV_SEQUENTIAL: case MADV_RANDOM: case MADV_NORMAL:
        if (!user_mem_ok(&p->mem, c->a0, c->a1, 0))
            return -ENOMEM;
        return R(madvise(p->mem.host + c->a0, c->a1, (int)c->a2));
    default:
        return 0;
    }
}
static int64_t sys_riscv_flush_icache(struct sc *c)
{
    user_code_changed(c->p, 0, c->p->mem.size);
    return 0;
}
static int64_t sys_membarrier(struct sc *c) { return R(syscall(SYS_membarrier, D0, (unsigned)c->a1, 0)); }

/* ---- threads, processes, futexes ---- */
static int64_t sys_exit(struct sc *c)      /* this thread */
{
    c->t->exiting = true;
    c->t->exit_code = D0 & 0xff;
    return USER_SYSCALL_NORET;
}
static int64_t sys_exit_group(struct sc *c) { user_exit_group(c->p, D0 & 0xff); }
static int64_t sys_waitid(struct sc *c)
{
    return R(syscall(SYS_waitid, D0, (int)c->a1, gp(c->p, c->a2, 128), (int)c->a3, gp(c->p, c->a4, 144)));
}
static int64_t sys_wait4(struct sc *c)
{
    return R(wait4(D0, gp(c->p, c->a1, 4), (int)c->a2, gp(c->p, c->a3, 144)));
}
static int64_t sys_set_tid_address(struct sc *c)
{
    c->t->clear_child_tid = c->a0;
    return c->t->tid;
}
static int64_t sys_futex(struct sc *c)
{
    uint32_t *u = gp(c->p, c->a0, 4);
    if (!u || u == BADPTR || (c->a0 & 3))
        return -EFAULT;
    int op = (int)c->a1;
    void *ts_or_val2;
    switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT: case FUTEX_WAIT_BITSET: case FUTEX_LOCK_PI:
    case FUTEX_WAIT_REQUEUE_PI:
#ifdef FUTEX_LOCK_PI2
    case FUTEX_LOCK_PI2:
#endif
        ts_or_val2 = gp(c->p, c->a3, 16);
        break;
    default:
        ts_or_val2 = (void *)(uintptr_t)c->a3;
    }
    return R(syscall(SYS_futex, u, op, (uint32_t)c->a2, ts_or_val2, gp(c->p, c->a4, 4), (uint32_t)c->a5));
}
/* clone(flags, stack, ptid, tls, ctid) on riscv64 */
static int64_t sys_clone(struct sc *c)
{
    return user_do_clone(c->t, c->r, c->a0, c->a1, c->a2, c->a3, c->a4);
}
static int64_t sys_execve(struct sc *c)
{
    const char *path = gs(c->p, c->a0);
    if (!path || path == BADPTR)
        return -EFAULT;
    return user_execve(c->t, path, c->a1, c->a2);
}
static int64_t sys_sched_setaffinity(struct sc *c)
{
    return R(syscall(SYS_sched_setaffinity, D0, c->a1, gp(c->p, c->a2, c->a1)));
}
static int64_t sys_sched_getaffinity(struct sc *c)
{
    return R(syscall(SYS_sched_getaffinity, D0, c->a1, gp(c->p, c->a2, c->a1)));
}
/* scheduling policy of a task: struct sched_param is one int */
static int64_t sys_sched_setparam(struct sc *c) { return R(syscall(SYS_sched_setparam, D0, gp(c->p, c->a1, 4))); }
static int64_t sys_sched_setscheduler(struct sc *c)
{
    return R(syscall(SYS_sched_setscheduler, D0, (int)c->a1, gp(c->p, c->a2, 4)));
}
static int64_t sys_sched_getscheduler(struct sc *c) { return R(syscall(SYS_sched_getscheduler, D0)); }
static int64_t sys_sched_getparam(struct sc *c) { return R(syscall(SYS_sched_getparam, D0, gp(c->p, c->a1, 4))); }
static int64_t sys_sched_get_priority_max(struct sc *c) { return R(syscall(SYS_sched_get_priority_max, D0)); }
static int64_t sys_sched_get_priority_min(struct sc *c) { return R(syscall(SYS_sched_get_priority_min, D0)); }
static int64_t sys_sched_yield(struct sc *c) { (void)c; return R(sched_yield()); }
static int64_t sys_getcpu(struct sc *c)
{
    return R(syscall(SYS_getcpu, gp(c->p, c->a0, 4), gp(c->p, c->a1, 4), NULL));
}
static int64_t sys_pidfd_open(struct sc *c) { return R(syscall(SYS_pidfd_open, D0, (unsigned)c->a1)); }
static int64_t sys_prctl(struct sc *c)
{
    switch (D0) {
    case PR_SET_NAME: case PR_GET_NAME:
        return R(prctl(D0, gp(c->p, c->a1, 16), 0, 0, 0));
    case PR_SET_DUMPABLE: case PR_GET_DUMPABLE: case PR_SET_PDEATHSIG:
    case PR_SET_NO_NEW_PRIVS: case PR_GET_NO_NEW_PRIVS:
        return R(prctl(D0, c->a1, c->a2, c->a3, c->a4));
    default:
        return -EINVAL;
    }
}

/* ---- signals ---- */
#define UNBLOCKABLE (USER_SIGBIT(SIGKILL) | USER_SIGBIT(SIGSTOP))

static int64_t sys_kill(struct sc *c)
{
    if (D0 != getpid() && D0 != 0)
        return R(kill(D0, (int)c->a1));
    if (c->a1 == 0)
        return 0;
    if (c->a1 > USER_NSIG)
        return -EINVAL;
    struct user_siginfo si = { .signo = (int)c->a1, .code = 0 /* SI_USER */,
                               .pid = getpid(), .uid = (int)getuid() };
    if (D0 == 0)
        kill(0, 0);
    return user_signal_queue(c->p, 0, (int)c->a1, &si);
}
/* A signal for one of our threads (tkill, tgkill). */
static int64_t thread_kill(struct sc *c, int tid, int sig)
{
    if (sig < 0 || sig > USER_NSIG)
        return -EINVAL;
    struct user_siginfo si = { .signo = sig, .code = -6 /* SI_TKILL */,
                               .pid = getpid(), .uid = (int)getuid() };
    return sig ? user_signal_queue(c->p, tid, sig, &si) : 0;
}
static int64_t sys_tkill(struct sc *c) { return thread_kill(c, D0, (int)c->a1); }
static int64_t sys_tgkill(struct sc *c)
{
    if (D0 != getpid())
        return R(syscall(SYS_tgkill, D0, (int)c->a1, (int)c->a2));
    return thread_kill(c, (int)c->a1, (int)c->a2);
}
/* stack_t = { sp, int flags, size } (24 bytes) */
static int64_t sys_sigaltstack(struct sc *c)
{
    struct user_thread *t = c->t;
    uint8_t *ns = gp(c->p, c->a0, 24), *os = gp(c->p, c->a1, 24);
    if (ns == BADPTR || os == BADPTR)
        return -EFAULT;
    bool on = t->alt.size && c->r->x[2] > t->alt.sp && c->r->x[2] - t->alt.sp <= t->alt.size;
    if (os) {
        int fl = on ? SS_ONSTACK : t->alt.size ? 0 : SS_DISABLE;
        memset(os, 0, 24);
        memcpy(os, &t->alt.sp, 8);
        memcpy(os + 8, &fl, 4);
        memcpy(os + 16, &t->alt.size, 8);
    }
    if (!ns)
        return 0;
    if (on)
        return -EPERM;
    struct user_altstack a;
    memcpy(&a.sp, ns, 8);
    memcpy(&a.flags, ns + 8, 4);
    memcpy(&a.size, ns + 16, 8);
    if (a.flags & SS_DISABLE) {
        memset(&t->alt, 0, sizeof(t->alt));
        return 0;
    }
    if (a.flags & ~(SS_AUTODISARM))
        return -EINVAL;
    if (a.size < 2048)
        return -ENOMEM;
    t->alt = a;
    return 0;
}
static uint64_t pending_of(const struct user_thread *t)
{
    return __atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) |
           __atomic_load_n(&t->p->pending, __ATOMIC_SEQ_CST);
}
/* wait for a signal under a temporary mask */
static int64_t sys_rt_sigsuspend(struct sc *c)
{
    struct user_thread *t = c->t;
    uint64_t *m = gp(c->p, c->a0, 8);
    if (!m || m == BADPTR)
        return -EFAULT;
    if (c->a1 != 8)
        return -EINVAL;
    t->restore_mask = t->blocked;
    t->has_restore_mask = true;
    t->blocked = *m & ~UNBLOCKABLE;
    sigset_t none;
    sigemptyset(&none);
    while (!(pending_of(t) & ~t->blocked))
        sigsuspend(&none);
    return -EINTR;   /* the run loop delivers, then puts restore_mask back */
}
/* Take `sig` off the pending sets for sigtimedwait; false if another thread took it. */
static bool take_waited(struct user_thread *t, int sig, struct user_siginfo *si)
{
    uint64_t bit = USER_SIGBIT(sig);
    *si = (struct user_siginfo){ .signo = sig };
    if (__atomic_fetch_and(&t->pending, ~bit, __ATOMIC_SEQ_CST) & bit) {
        *si = t->pending_info[sig];
        return true;
    }
    return __atomic_fetch_and(&t->p->pending, ~bit, __ATOMIC_SEQ_CST) & bit;
}
/* rt_sigtimedwait(set, info, timeout, size) */
static int64_t sys_rt_sigtimedwait(struct sc *c)
{
    struct user_thread *t = c->t;
    uint64_t *set = gp(c->p, c->a0, 8);
    uint8_t *info = gp(c->p, c->a1, USER_SIGINFO_SIZE);
    int64_t *ts = gp(c->p, c->a2, 16);
    if (!set || set == BADPTR || info == BADPTR || ts == BADPTR)
        return -EFAULT;
    if (c->a3 != 8)
        return -EINVAL;
    uint64_t want = *set, deadline = ts ? time_ns() + (uint64_t)ts[0] * 1000000000ULL + (uint64_t)ts[1] : 0;
    for (;;) {
        uint64_t got = pending_of(t) & want;
        if (got) {
            int sig = __builtin_ctzll(got) + 1;
            struct user_siginfo si;
            if (!take_waited(t, sig, &si))
                continue;
            if (info) {
                memset(info, 0, USER_SIGINFO_SIZE);
                memcpy(info, &sig, 4);
                memcpy(info + 8, &si.code, 4);
                memcpy(info + 16, &si.pid, 4);
                memcpy(info + 20, &si.uid, 4);
            }
            return sig;
        }
        if (pending_of(t) & ~t->blocked & ~want)
            return -EINTR;        /* another, deliverable signal: handle it first */
        uint64_t now = time_ns();
        if (ts && now >= deadline)
            return -EAGAIN;
        uint64_t step = ts ? MIN(deadline - now, 10000000ULL) : 10000000ULL;
        struct timespec st = { 0, (long)step };
        nanosleep(&st, NULL);
    }
}
static int64_t sys_rt_sigaction(struct sc *c)
{
    struct user_proc *p = c->p;
    int sig = D0;
    if (c->a3 != 8)
        return -EINVAL;
    if (sig < 1 || sig > USER_NSIG)
        return -EINVAL;
    if (c->a1 && (sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    uint64_t *ga = c->a1 ? gp(p, c->a1, 24) : NULL;
    uint64_t *go = c->a2 ? gp(p, c->a2, 24) : NULL;
    if (ga == BADPTR || go == BADPTR)
        return -EFAULT;
    pthread_mutex_lock(&p->sig_lock);
    struct user_sigaction prev = p->act[sig];
    if (ga)
        memcpy(&p->act[sig], ga, 24);   /* handler, flags, mask: no sa_restorer on riscv */
    pthread_mutex_unlock(&p->sig_lock);
    if (go)
        memcpy(go, &prev, 24);
    if (ga)
        user_signal_host_update(p, sig);
    return 0;
}
static int64_t sys_rt_sigprocmask(struct sc *c)
{
    struct user_thread *t = c->t;
    if (c->a3 != 8)
        return -EINVAL;
    uint64_t *gset = c->a1 ? gp(c->p, c->a1, 8) : NULL;
    uint64_t *go = c->a2 ? gp(c->p, c->a2, 8) : NULL;
    if (gset == BADPTR || go == BADPTR)
        return -EFAULT;
    uint64_t prev = t->blocked;
    if (gset) {
        uint64_t s = *gset & ~UNBLOCKABLE;
        switch (D0) {
        case SIG_BLOCK: t->blocked |= s; break;
        case SIG_UNBLOCK: t->blocked &= ~s; break;
        case SIG_SETMASK: t->blocked = s; break;
        default: return -EINVAL;
        }
    }
    if (go)
        *go = prev;
    return 0;
}
static int64_t sys_rt_sigpending(struct sc *c)
{
    uint64_t *o = gp(c->p, c->a0, 8);
    if (!o || o == BADPTR)
        return -EFAULT;
    *o = (c->t->pending | c->p->pending) & c->t->blocked;
    return 0;
}
static int64_t sys_rt_sigreturn(struct sc *c)
{
    if (user_sigframe_restore(&c->p->mem, c->r, &c->t->blocked) < 0) {
        log_guest("rt_sigreturn with a bad frame at 0x%llx", (unsigned long long)c->r->x[2]);
        struct user_siginfo si = { .signo = SIGSEGV, .code = 0 };
        user_signal_queue(c->p, c->t->tid, SIGSEGV, &si);
        return -EFAULT;
    }
    return USER_SYSCALL_NORET;
}

/* ---- time ---- */
static int64_t sys_nanosleep(struct sc *c) { return R(nanosleep(gp(c->p, c->a0, 16), gp(c->p, c->a1, 16))); }
static int64_t sys_getitimer(struct sc *c) { return R(getitimer(D0, gp(c->p, c->a1, 32))); }
static int64_t sys_setitimer(struct sc *c)
{
    return R(setitimer(D0, gp(c->p, c->a1, 32), gp(c->p, c->a2, 32)));
}
static int64_t sys_clock_gettime(struct sc *c) { return R(clock_gettime((clockid_t)D0, gp(c->p, c->a1, 16))); }
static int64_t sys_clock_getres(struct sc *c) { return R(clock_getres((clockid_t)D0, gp(c->p, c->a1, 16))); }
static int64_t sys_clock_nanosleep(struct sc *c)
{
    return -clock_nanosleep((clockid_t)D0, (int)c->a1, gp(c->p, c->a2, 16), gp(c->p, c->a3, 16));
}
static int64_t sys_gettimeofday(struct sc *c)
{
    return R(syscall(SYS_gettimeofday, gp(c->p, c->a0, 16), gp(c->p, c->a1, 8)));
}
static int64_t sys_times(struct sc *c) { return R(syscall(SYS_times, gp(c->p, c->a0, 32))); }

/* ---- identity, limits, the system ---- */
static int64_t sys_setpriority(struct sc *c) { return R(setpriority(D0, (id_t)c->a1, (int)c->a2)); }
static int64_t sys_getpriority(struct sc *c)
{
    errno = 0;
    int v = getpriority(D0, (id_t)c->a1);
    return errno ? -errno : 20 - v;
}
static int64_t sys_setregid(struct sc *c) { return R(setregid((gid_t)c->a0, (gid_t)c->a1)); }
static int64_t sys_setgid(struct sc *c) { return R(setgid((gid_t)c->a0)); }
static int64_t sys_setreuid(struct sc *c) { return R(setreuid((uid_t)c->a0, (uid_t)c->a1)); }
static int64_t sys_setuid(struct sc *c) { return R(setuid((uid_t)c->a0)); }
static int64_t sys_setresuid(struct sc *c)
{
    return R(setresuid((uid_t)c->a0, (uid_t)c->a1, (uid_t)c->a2));
}
static int64_t sys_getresuid(struct sc *c)
{
    return R(getresuid(gp(c->p, c->a0, 4), gp(c->p, c->a1, 4), gp(c->p, c->a2, 4)));
}
static int64_t sys_setresgid(struct sc *c)
{
    return R(setresgid((gid_t)c->a0, (gid_t)c->a1, (gid_t)c->a2));
}
static int64_t sys_getresgid(struct sc *c)
{
    return R(getresgid(gp(c->p, c->a0, 4), gp(c->p, c->a1, 4), gp(c->p, c->a2, 4)));
}
static int64_t sys_setpgid(struct sc *c) { return R(setpgid(D0, (pid_t)c->a1)); }
static int64_t sys_getpgid(struct sc *c) { return R(getpgid(D0)); }
static int64_t sys_getsid(struct sc *c) { return R(getsid(D0)); }
static int64_t sys_setsid(struct sc *c) { (void)c; return R(setsid()); }
static int64_t sys_getgroups(struct sc *c)
{
    if (D0 < 0 || D0 > 65536)
        return -EINVAL;
    return R(getgroups(D0, gp(c->p, c->a1, (uint64_t)D0 * 4)));
}
static int64_t sys_uname(struct sc *c)
{
    struct utsname *u = gp(c->p, c->a0, sizeof(struct utsname));
    if (!u || u == BADPTR)
        return -EFAULT;
    if (uname(u) < 0)
        return -errno;
    snprintf(u->machine, sizeof(u->machine), "riscv64");
    return 0;
}
static int64_t sys_getrlimit(struct sc *c) { return R(getrlimit(D0, gp(c->p, c->a1, 16))); }
static int64_t sys_setrlimit(struct sc *c) { return R(setrlimit(D0, gp(c->p, c->a1, 16))); }
static int64_t sys_prlimit64(struct sc *c)
{
    return R(syscall(SYS_prlimit64, D0, (int)c->a1, gp(c->p, c->a2, 16), gp(c->p, c->a3, 16)));
}
static int64_t sys_getrusage(struct sc *c) { return R(getrusage(D0, gp(c->p, c->a1, 144))); }
static int64_t sys_umask(struct sc *c) { return umask((mode_t)c->a0); }
static int64_t sys_getpid(struct sc *c) { (void)c; return getpid(); }
static int64_t sys_getppid(struct sc *c) { (void)c; return getppid(); }
static int64_t sys_getuid(struct sc *c) { (void)c; return getuid(); }
static int64_t sys_geteuid(struct sc *c) { (void)c; return geteuid(); }
static int64_t sys_getgid(struct sc *c) { (void)c; return getgid(); }
static int64_t sys_getegid(struct sc *c) { (void)c; return getegid(); }
static int64_t sys_gettid(struct sc *c) { return c->t->tid; }
static int64_t sys_sysinfo(struct sc *c) { return R(syscall(SYS_sysinfo, gp(c->p, c->a0, 112))); }
static int64_t sys_getrandom(struct sc *c)
{
    return R(syscall(SYS_getrandom, gp(c->p, c->a0, c->a1), c->a1, (unsigned)c->a2));
}

/* ---- sockets ---- */
static int64_t sys_socket(struct sc *c) { return R(socket(D0, (int)c->a1, (int)c->a2)); }
static int64_t sys_socketpair(struct sc *c)
{
    return R(socketpair(D0, (int)c->a1, (int)c->a2, gp(c->p, c->a3, 8)));
}
static int64_t sys_bind(struct sc *c) { return R(bind(D0, gp(c->p, c->a1, c->a2), (socklen_t)c->a2)); }
static int64_t sys_listen(struct sc *c) { return R(listen(D0, (int)c->a1)); }
static int64_t sys_accept(struct sc *c)
{
    return R(accept(D0, gp(c->p, c->a1, 128), gp(c->p, c->a2, 4)));
}
static int64_t sys_accept4(struct sc *c)
{
    return R(accept4(D0, gp(c->p, c->a1, 128), gp(c->p, c->a2, 4), (int)c->a3));
}
static int64_t sys_connect(struct sc *c)
{
    return R(connect(D0, gp(c->p, c->a1, c->a2), (socklen_t)c->a2));
}
static int64_t sys_getsockname(struct sc *c)
{
    return R(getsockname(D0, gp(c->p, c->a1, 128), gp(c->p, c->a2, 4)));
}
static int64_t sys_getpeername(struct sc *c)
{
    return R(getpeername(D0, gp(c->p, c->a1, 128), gp(c->p, c->a2, 4)));
}
static int64_t sys_sendto(struct sc *c)
{
    return R(sendto(D0, gp(c->p, c->a1, c->a2), c->a2, (int)c->a3, gp(c->p, c->a4, c->a5),
                    (socklen_t)c->a5));
}
static int64_t sys_recvfrom(struct sc *c)
{
    return R(recvfrom(D0, gp(c->p, c->a1, c->a2), c->a2, (int)c->a3, gp(c->p, c->a4, 128),
                      gp(c->p, c->a5, 4)));
}
static int64_t sys_setsockopt(struct sc *c)
{
    return R(setsockopt(D0, (int)c->a1, (int)c->a2, gp(c->p, c->a3, c->a4), (socklen_t)c->a4));
}
static int64_t sys_getsockopt(struct sc *c)
{
    return R(getsockopt(D0, (int)c->a1, (int)c->a2, gp(c->p, c->a3, 256), gp(c->p, c->a4, 4)));
}
static int64_t sys_shutdown(struct sc *c) { return R(shutdown(D0, (int)c->a1)); }
/* sendmsg, recvmsg: struct msghdr holds guest pointers */
static int64_t msg(struct sc *c, bool send)
{
    int flags = (int)c->a2;
    uint8_t *gm = gp(c->p, c->a1, 56);
    if (!gm || gm == BADPTR)
        return -EFAULT;
    struct msghdr m;
    uint64_t name, iov, iovlen, ctl, ctllen;
    uint32_t namelen;
    memcpy(&name, gm, 8); memcpy(&namelen, gm + 8, 4);
    memcpy(&iov, gm + 16, 8); memcpy(&iovlen, gm + 24, 8);
    memcpy(&ctl, gm + 32, 8); memcpy(&ctllen, gm + 40, 8);
    memset(&m, 0, sizeof(m));
    m.msg_name = gp(c->p, name, namelen);
    m.msg_namelen = namelen;
    m.msg_iov = iov_in(c->p, iov, iovlen);
    if (!m.msg_iov && iovlen)
        return -EFAULT;
    m.msg_iovlen = iovlen;
    m.msg_control = gp(c->p, ctl, ctllen);
    m.msg_controllen = ctllen;
    long r = send ? sendmsg(D0, &m, flags) : recvmsg(D0, &m, flags);
    int64_t ret = R(r);
    free(m.msg_iov);
    if (!send && ret >= 0) {
        uint32_t nl = m.msg_namelen;
        uint64_t cl = m.msg_controllen;
        int32_t fl = m.msg_flags;
        memcpy(gm + 8, &nl, 4);
        memcpy(gm + 40, &cl, 8);
        memcpy(gm + 48, &fl, 4);
    }
    return ret;
}
static int64_t sys_sendmsg(struct sc *c) { return msg(c, true); }
static int64_t sys_recvmsg(struct sc *c) { return msg(c, false); }

/* ---- the table ----
 * asm-generic numbers. Format letters for --strace: d decimal, x hex,
 * s string, p pointer, o octal. Rows with sys_enosys are known calls the
 * guest gets -ENOSYS for on purpose (the comment says why). */
typedef int64_t sys_fn(struct sc *c);
struct sysent { const char *name; const char *fmt; sys_fn *fn; bool ret_addr; };
#define SYS(n, name, fmt, fn) [n] = { #name, fmt, fn, false },
#define SYS_ADDR(n, name, fmt, fn) [n] = { #name, fmt, fn, true },   /* returns an address */
static const struct sysent systab[] = {
    SYS(17, getcwd, "pd", sys_getcwd)
    SYS(19, eventfd2, "dd", sys_eventfd2)
    SYS(20, epoll_create1, "d", sys_epoll_create1)
    SYS(21, epoll_ctl, "dddp", sys_epoll_ctl)
    SYS(22, epoll_pwait, "dpddpd", sys_epoll_pwait)
    SYS(23, dup, "d", sys_dup)
    SYS(24, dup3, "ddd", sys_dup3)
    SYS(25, fcntl, "ddx", sys_fcntl)
    SYS(26, inotify_init1, "x", sys_inotify_init1)
    SYS(27, inotify_add_watch, "dsx", sys_inotify_add_watch)
    SYS(28, inotify_rm_watch, "dd", sys_inotify_rm_watch)
    SYS(29, ioctl, "dxx", sys_ioctl)
    SYS(32, flock, "dd", sys_flock)
    SYS(33, mknodat, "dsox", sys_mknodat)
    SYS(34, mkdirat, "dso", sys_mkdirat)
    SYS(35, unlinkat, "dsx", sys_unlinkat)
    SYS(36, symlinkat, "sds", sys_symlinkat)
    SYS(37, linkat, "dsdsx", sys_linkat)
    SYS(38, renameat, "dsds", sys_renameat)
    SYS(43, statfs, "sp", sys_statfs)
    SYS(44, fstatfs, "dp", sys_fstatfs)
    SYS(45, truncate, "sd", sys_truncate)
    SYS(46, ftruncate, "dd", sys_ftruncate)
    SYS(47, fallocate, "dddd", sys_fallocate)
    SYS(48, faccessat, "dso", sys_faccessat)
    SYS(49, chdir, "s", sys_chdir)
    SYS(50, fchdir, "d", sys_fchdir)
    SYS(52, fchmod, "do", sys_fchmod)
    SYS(53, fchmodat, "dso", sys_fchmodat)
    SYS(54, fchownat, "dsddx", sys_fchownat)
    SYS(55, fchown, "ddd", sys_fchown)
    SYS(56, openat, "dsxo", sys_openat)
    SYS(57, close, "d", sys_close)
    SYS(59, pipe2, "px", sys_pipe2)
    SYS(61, getdents64, "dpd", sys_getdents64)
    SYS(62, lseek, "ddd", sys_lseek)
    SYS(63, read, "dpd", sys_read)
    SYS(64, write, "dpd", sys_write)
    SYS(65, readv, "dpd", sys_readv)
    SYS(66, writev, "dpd", sys_writev)
    SYS(67, pread64, "dpdd", sys_pread64)
    SYS(68, pwrite64, "dpdd", sys_pwrite64)
    SYS(69, preadv, "dpdd", sys_preadv)
    SYS(70, pwritev, "dpdd", sys_pwritev)
    SYS(71, sendfile, "ddpd", sys_sendfile)
    SYS(72, pselect6, "dppppp", sys_pselect6)
    SYS(73, ppoll, "pdppd", sys_ppoll)
    SYS(78, readlinkat, "dspd", sys_readlinkat)
    SYS(79, newfstatat, "dspx", sys_newfstatat)
    SYS(80, fstat, "dp", sys_fstat)
    SYS(81, sync, "", sys_sync)
    SYS(82, fsync, "d", sys_fsync)
    SYS(83, fdatasync, "d", sys_fdatasync)
    SYS(84, sync_file_range, "dddx", sys_sync_file_range)
    SYS(85, timerfd_create, "dx", sys_timerfd_create)
    SYS(86, timerfd_settime, "dxpp", sys_timerfd_settime)
    SYS(87, timerfd_gettime, "dp", sys_timerfd_gettime)
    SYS(88, utimensat, "dspx", sys_utimensat)
    SYS(93, exit, "d", sys_exit)
    SYS(94, exit_group, "d", sys_exit_group)
    SYS(95, waitid, "ddpxp", sys_waitid)
    SYS(96, set_tid_address, "p", sys_set_tid_address)
    SYS(98, futex, "pxdppx", sys_futex)
    /* the robust list: the host kernel would follow guest pointers (as QEMU) */
    SYS(99, set_robust_list, "pd", sys_enosys)
    SYS(100, get_robust_list, "dpp", sys_enosys)
    SYS(101, nanosleep, "pp", sys_nanosleep)
    SYS(102, getitimer, "dp", sys_getitimer)
    SYS(103, setitimer, "dpp", sys_setitimer)
    SYS(113, clock_gettime, "dp", sys_clock_gettime)
    SYS(114, clock_getres, "dp", sys_clock_getres)
    SYS(115, clock_nanosleep, "dxpp", sys_clock_nanosleep)
    SYS(118, sched_setparam, "dp", sys_sched_setparam)
    SYS(119, sched_setscheduler, "ddp", sys_sched_setscheduler)
    SYS(120, sched_getscheduler, "d", sys_sched_getscheduler)
    SYS(121, sched_getparam, "dp", sys_sched_getparam)
    SYS(122, sched_setaffinity, "ddp", sys_sched_setaffinity)
    SYS(123, sched_getaffinity, "ddp", sys_sched_getaffinity)
    SYS(124, sched_yield, "", sys_sched_yield)
    SYS(125, sched_get_priority_max, "d", sys_sched_get_priority_max)
    SYS(126, sched_get_priority_min, "d", sys_sched_get_priority_min)
    SYS(129, kill, "dd", sys_kill)
    SYS(130, tkill, "dd", sys_tkill)
    SYS(131, tgkill, "ddd", sys_tgkill)
    SYS(132, sigaltstack, "pp", sys_sigaltstack)
    SYS(133, rt_sigsuspend, "pd", sys_rt_sigsuspend)
    SYS(134, rt_sigaction, "dppd", sys_rt_sigaction)
    SYS(135, rt_sigprocmask, "dppd", sys_rt_sigprocmask)
    SYS(136, rt_sigpending, "pd", sys_rt_sigpending)
    SYS(137, rt_sigtimedwait, "pppd", sys_rt_sigtimedwait)
    SYS(139, rt_sigreturn, "", sys_rt_sigreturn)
    SYS(140, setpriority, "ddd", sys_setpriority)
    SYS(141, getpriority, "dd", sys_getpriority)
    SYS(143, setregid, "dd", sys_setregid)
    SYS(144, setgid, "d", sys_setgid)
    SYS(145, setreuid, "dd", sys_setreuid)
    SYS(146, setuid, "d", sys_setuid)
    SYS(147, setresuid, "ddd", sys_setresuid)
    SYS(148, getresuid, "ppp", sys_getresuid)
    SYS(149, setresgid, "ddd", sys_setresgid)
    SYS(150, getresgid, "ppp", sys_getresgid)
    SYS(153, times, "p", sys_times)
    SYS(154, setpgid, "dd", sys_setpgid)
    SYS(155, getpgid, "d", sys_getpgid)
    SYS(156, getsid, "d", sys_getsid)
    SYS(157, setsid, "", sys_setsid)
    SYS(158, getgroups, "dp", sys_getgroups)
    SYS(160, uname, "p", sys_uname)
    SYS(163, getrlimit, "dp", sys_getrlimit)
    SYS(164, setrlimit, "dp", sys_setrlimit)
    SYS(165, getrusage, "dp", sys_getrusage)
    SYS(166, umask, "o", sys_umask)
    SYS(167, prctl, "dxxxx", sys_prctl)
    SYS(168, getcpu, "ppp", sys_getcpu)
    SYS(169, gettimeofday, "pp", sys_gettimeofday)
    SYS(172, getpid, "", sys_getpid)
    SYS(173, getppid, "", sys_getppid)
    SYS(174, getuid, "", sys_getuid)
    SYS(175, geteuid, "", sys_geteuid)
    SYS(176, getgid, "", sys_getgid)
    SYS(177, getegid, "", sys_getegid)
    SYS(178, gettid, "", sys_gettid)
    SYS(179, sysinfo, "p", sys_sysinfo)
    SYS(198, socket, "ddd", sys_socket)
    SYS(199, socketpair, "dddp", sys_socketpair)
    SYS(200, bind, "dpd", sys_bind)
    SYS(201, listen, "dd", sys_listen)
    SYS(202, accept, "dpp", sys_accept)
    SYS(203, connect, "dpd", sys_connect)
    SYS(204, getsockname, "dpp", sys_getsockname)
    SYS(205, getpeername, "dpp", sys_getpeername)
    SYS(206, sendto, "dpdxpd", sys_sendto)
    SYS(207, recvfrom, "dpdxpp", sys_recvfrom)
    SYS(208, setsockopt, "dddpd", sys_setsockopt)
    SYS(209, getsockopt, "dddpp", sys_getsockopt)
    SYS(210, shutdown, "dd", sys_shutdown)
    SYS(211, sendmsg, "dpx", sys_sendmsg)
    SYS(212, recvmsg, "dpx", sys_recvmsg)
    SYS(213, readahead, "ddd", sys_readahead)
    SYS_ADDR(214, brk, "p", sys_brk)
    SYS(215, munmap, "pd", sys_munmap)
    SYS_ADDR(216, mremap, "pddxp", sys_mremap)
    SYS(220, clone, "xpppp", sys_clone)
    SYS(221, execve, "spp", sys_execve)
    SYS_ADDR(222, mmap, "pdxxdx", sys_mmap)
    SYS(223, fadvise64, "dddd", sys_fadvise64)
    SYS(226, mprotect, "pdx", sys_mprotect)
    SYS(227, msync, "pdx", sys_msync)
    SYS(228, mlock, "pd", sys_ok)          /* nothing to pin: succeed, as without limits */
    SYS(229, munlock, "pd", sys_ok)
    SYS(230, mlockall, "x", sys_ok)
    SYS(231, munlockall, "", sys_ok)
    SYS(233, madvise, "pdd", sys_madvise)
    SYS(242, accept4, "dppx", sys_accept4)
    SYS(258, riscv_hwprobe, "pddpx", sys_enosys)   /* not provided */
    SYS(259, riscv_flush_icache, "ppx", sys_riscv_flush_icache)
    SYS(260, wait4, "dpxp", sys_wait4)
    SYS(261, prlimit64, "ddpp", sys_prlimit64)
    SYS(267, syncfs, "d", sys_syncfs)
    SYS(276, renameat2, "dsdsx", sys_renameat2)
    SYS(278, getrandom, "pdx", sys_getrandom)
    SYS(279, memfd_create, "sx", sys_memfd_create)
    SYS(283, membarrier, "dd", sys_membarrier)
    SYS(285, copy_file_range, "dpdpdx", sys_copy_file_range)
    SYS(291, statx, "dsxxp", sys_statx)
    SYS(293, rseq, "pdxx", sys_enosys)     /* the host kernel would write guest memory */
    SYS(434, pidfd_open, "dx", sys_pidfd_open)
    SYS(435, clone3, "pd", sys_enosys)     /* libc falls back to clone */
    SYS(436, close_range, "ddx", sys_close_range)
    SYS(439, faccessat2, "dsox", sys_faccessat2)
};
#undef SYS
#undef SYS_ADDR

const char *user_syscall_name(unsigned nr)
{
    if (nr < ARRAY_SIZE(systab) && systab[nr].name)
        return systab[nr].name;
    return NULL;
}

/* A number with no row: -ENOSYS, logged once per number. */
static int64_t sys_unknown(struct user_proc *p, uint64_t nr)
{
    bool first = true;
    if (nr < sizeof(p->nosys_logged) * 8) {
        uint64_t bit = 1ULL << (nr % 64);
        first = !(__atomic_fetch_or(&p->nosys_logged[nr / 64], bit, __ATOMIC_RELAXED) & bit);
    }
    if (first)
        log_warn("unsupported syscall %llu, returning -ENOSYS", (unsigned long long)nr);
    return -ENOSYS;
}

int64_t user_syscall(struct user_thread *t, struct user_regs *r)
{
    uint64_t nr = r->x[17];
    if (nr >= ARRAY_SIZE(systab) || !systab[nr].fn)
        return sys_unknown(t->p, nr);
    struct sc c = { .t = t, .p = t->p, .r = r,
                    .a0 = r->x[10], .a1 = r->x[11], .a2 = r->x[12],
                    .a3 = r->x[13], .a4 = r->x[14], .a5 = r->x[15] };
    return systab[nr].fn(&c);
}

/* --strace: one line per syscall, like qemu-riscv64 -strace:
 *   PID name(arg,...) = result      (errors: = -1 errno=N (text)) */
void user_strace(struct user_thread *t, const struct user_regs *r, int64_t ret, bool done)
{
    struct user_proc *p = t->p;
    unsigned nr = (unsigned)r->x[17];
    char line[1024];
    size_t n = 0;
#define OUT(...) do { if (n < sizeof(line)) n += (size_t)snprintf(line + n, sizeof(line) - n, __VA_ARGS__); } while (0)
    const char *name = r->x[17] == nr ? user_syscall_name(nr) : NULL;
    const char *fmt = name ? systab[nr].fmt : "xxxxxx";
    if (name)
        OUT("%d %s(", t->tid, name);
    else
        OUT("%d syscall_%u(", t->tid, nr);
    for (int i = 0; fmt[i] && i < 6; i++) {
        uint64_t a = r->x[10 + i];
        if (i)
            OUT(",");
        switch (fmt[i]) {
        case 'd':
            if (i == 0 && (int32_t)a == -100 && fmt[1] == 's')
                OUT("AT_FDCWD");
            else
                OUT("%lld", (long long)(int64_t)(i == 0 ? (int32_t)a : (int64_t)a));
            break;
        case 'p':
            if (a == 0)
                OUT("NULL");
            else
                OUT("0x%llx", (unsigned long long)a);
            break;
        case 'o': OUT("0%llo", (unsigned long long)a); break;
        case 's': {
            const char *s = a ? user_mem_str(&p->mem, a, 4096) : NULL;
            if (s)
                OUT("\"%.*s\"", 200, s);
            else
                OUT("0x%llx", (unsigned long long)a);
            break;
        }
        default: OUT("0x%llx", (unsigned long long)a); break;
        }
    }
    OUT(")");
    if (!done) {
        OUT("\n");
    } else if (ret == USER_SYSCALL_NORET) {
        OUT("\n");
    } else if (ret < 0 && ret > -4096) {
        OUT(" = -1 errno=%lld (%s)\n", (long long)-ret, strerror((int)-ret));
    } else if (name && systab[nr].ret_addr) {
        OUT(" = 0x%016llx\n", (unsigned long long)ret);
    } else {
        OUT(" = %lld\n", (long long)ret);
    }
#undef OUT
    if (n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    write_full(2, line, n);
}

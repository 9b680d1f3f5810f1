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

/* asm-generic syscall numbers. Format letters for --strace:
 * d decimal, x hex, s string, p pointer, o octal. */
struct sysent { const char *name; const char *fmt; };
static const struct sysent systab[] = {
#define S(n, name, fmt) [n] = { #name, fmt },
    S(17, getcwd, "pd") S(19, eventfd2, "dd") S(20, epoll_create1, "d")
    S(21, epoll_ctl, "dddp") S(22, epoll_pwait, "dpddpd") S(23, dup, "d")
    S(24, dup3, "ddd") S(25, fcntl, "ddx") S(29, ioctl, "dxx") S(32, flock, "dd")
    S(33, mknodat, "dsox") S(34, mkdirat, "dso") S(35, unlinkat, "dsx")
    S(36, symlinkat, "sds") S(37, linkat, "dsdsx") S(38, renameat, "dsds")
    S(43, statfs, "sp") S(44, fstatfs, "dp") S(45, truncate, "sd")
    S(46, ftruncate, "dd") S(47, fallocate, "dddd") S(48, faccessat, "dso")
    S(49, chdir, "s") S(50, fchdir, "d") S(52, fchmod, "do")
    S(53, fchmodat, "dso") S(54, fchownat, "dsddx") S(55, fchown, "ddd")
    S(56, openat, "dsxo") S(57, close, "d") S(59, pipe2, "px")
    S(61, getdents64, "dpd") S(62, lseek, "ddd") S(63, read, "dpd")
    S(64, write, "dpd") S(65, readv, "dpd") S(66, writev, "dpd")
    S(67, pread64, "dpdd") S(68, pwrite64, "dpdd") S(69, preadv, "dpdd")
    S(70, pwritev, "dpdd") S(71, sendfile, "ddpd") S(72, pselect6, "dppppp")
    S(73, ppoll, "pdppd") S(78, readlinkat, "dspd") S(79, newfstatat, "dspx")
    S(80, fstat, "dp") S(81, sync, "") S(82, fsync, "d") S(83, fdatasync, "d")
    S(88, utimensat, "dspx") S(93, exit, "d") S(94, exit_group, "d")
    S(95, waitid, "ddpxp") S(96, set_tid_address, "p") S(98, futex, "pxdpps")
    S(99, set_robust_list, "pd") S(100, get_robust_list, "dpp")
    S(101, nanosleep, "pp") S(102, getitimer, "dp") S(103, setitimer, "dpp")
    S(113, clock_gettime, "dp") S(114, clock_getres, "dp")
    S(115, clock_nanosleep, "dxpp") S(122, sched_setaffinity, "ddp")
    S(123, sched_getaffinity, "ddp") S(124, sched_yield, "") S(129, kill, "dd")
    S(130, tkill, "dd") S(131, tgkill, "ddd") S(132, sigaltstack, "pp")
    S(133, rt_sigsuspend, "pd") S(134, rt_sigaction, "dppd")
    S(135, rt_sigprocmask, "dppd") S(136, rt_sigpending, "pd")
    S(137, rt_sigtimedwait, "pppd") S(139, rt_sigreturn, "")
    S(140, setpriority, "ddd") S(141, getpriority, "dd") S(143, setregid, "dd")
    S(144, setgid, "d") S(145, setreuid, "dd") S(146, setuid, "d")
    S(147, setresuid, "ddd") S(148, getresuid, "ppp") S(149, setresgid, "ddd")
    S(150, getresgid, "ppp") S(153, times, "p") S(154, setpgid, "dd")
    S(155, getpgid, "d") S(156, getsid, "d") S(157, setsid, "")
    S(158, getgroups, "dp") S(160, uname, "p") S(163, getrlimit, "dp")
    S(164, setrlimit, "dp") S(165, getrusage, "dp") S(166, umask, "o")
    S(167, prctl, "dxxxx") S(168, getcpu, "ppp") S(169, gettimeofday, "pp")
    S(172, getpid, "") S(173, getppid, "") S(174, getuid, "") S(175, geteuid, "")
    S(176, getgid, "") S(177, getegid, "") S(178, gettid, "") S(179, sysinfo, "p")
    S(198, socket, "ddd") S(199, socketpair, "dddp") S(200, bind, "dpd")
    S(201, listen, "dd") S(202, accept, "dpp") S(203, connect, "dpd")
    S(204, getsockname, "dpp") S(205, getpeername, "dpp")
    S(206, sendto, "dpdxpd") S(207, recvfrom, "dpdxpp") S(208, setsockopt, "dddpd")
    S(209, getsockopt, "dddpp") S(210, shutdown, "dd") S(211, sendmsg, "dpx")
    S(212, recvmsg, "dpx") S(214, brk, "p") S(215, munmap, "pd")
    S(216, mremap, "pddxp") S(220, clone, "xpppp") S(221, execve, "spp")
    S(222, mmap, "pdxxdx") S(226, mprotect, "pdx") S(227, msync, "pdx")
    S(228, mlock, "pd") S(229, munlock, "pd") S(233, madvise, "pdd")
    S(242, accept4, "dppx") S(258, riscv_hwprobe, "pddpx")
    S(259, riscv_flush_icache, "ppx") S(260, wait4, "dpxp") S(261, prlimit64, "ddpp")
    S(276, renameat2, "dsdsx") S(278, getrandom, "pdx") S(279, memfd_create, "sx")
    S(283, membarrier, "dd") S(285, copy_file_range, "dpdpdx") S(291, statx, "dsxxp")
    S(293, rseq, "pdxx") S(434, pidfd_open, "dx") S(435, clone3, "pd")
    S(436, close_range, "ddx") S(439, faccessat2, "dsox")
#undef S
};

const char *user_syscall_name(unsigned nr)
{
    if (nr < ARRAY_SIZE(systab) && systab[nr].name)
        return systab[nr].name;
    return NULL;
}

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
 * there (as qemu -L does), so ld.so finds /lib/libc.so.6 in the sysroot. */
static const char *sysroot_path(struct user_proc *p, const char *path, char *buf, size_t n)
{
    if (!p->sysroot || !path || path == BADPTR || path[0] != '/' ||
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

static int64_t sys_stat(struct user_proc *p, int dirfd, const char *path, uint64_t out, int flags)
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

static int64_t sys_ioctl(struct user_proc *p, int fd, uint64_t req, uint64_t arg)
{
    switch (req) {
    case TCGETS: case TCSETS: case TCSETSW: case TCSETSF:
    case TIOCGWINSZ: case TIOCSWINSZ: case FIONREAD: case TIOCGPGRP:
    case TIOCSPGRP: case FIONBIO: case TIOCOUTQ: case TIOCGSID: case TIOCGPTN:
    case TIOCSPTLCK: case FIOASYNC:
        return R(ioctl(fd, req, gp(p, arg, 64)));
    case FIOCLEX: case FIONCLEX: case TCFLSH: case TCXONC: case TCSBRK:
    case TIOCSCTTY: case TIOCNOTTY:
        return R(ioctl(fd, req, arg));
    default:
        log_guest("ioctl 0x%llx on fd %d not supported", (unsigned long long)req, fd);
        return -ENOTTY;
    }
}

struct g_epoll_event { uint32_t events, pad; uint64_t data; };

static int64_t sys_msg(struct user_proc *p, int fd, uint64_t gmsg, int flags, bool send)
{
    uint8_t *gm = gp(p, gmsg, 56);
    if (!gm || gm == BADPTR)
        return -EFAULT;
    struct msghdr m;
    uint64_t name, iov, iovlen, ctl, ctllen;
    uint32_t namelen;
    memcpy(&name, gm, 8); memcpy(&namelen, gm + 8, 4);
    memcpy(&iov, gm + 16, 8); memcpy(&iovlen, gm + 24, 8);
    memcpy(&ctl, gm + 32, 8); memcpy(&ctllen, gm + 40, 8);
    memset(&m, 0, sizeof(m));
    m.msg_name = gp(p, name, namelen);
    m.msg_namelen = namelen;
    m.msg_iov = iov_in(p, iov, iovlen);
    if (!m.msg_iov && iovlen)
        return -EFAULT;
    m.msg_iovlen = iovlen;
    m.msg_control = gp(p, ctl, ctllen);
    m.msg_controllen = ctllen;
    long r = send ? sendmsg(fd, &m, flags) : recvmsg(fd, &m, flags);
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

static int64_t sys_rt_sigaction(struct user_thread *t, int sig, uint64_t act, uint64_t old, uint64_t sz)
{
    struct user_proc *p = t->p;
    if (sz != 8)
        return -EINVAL;
    if (sig < 1 || sig > USER_NSIG)
        return -EINVAL;
    if (act && (sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    uint64_t *ga = act ? gp(p, act, 24) : NULL;
    uint64_t *go = old ? gp(p, old, 24) : NULL;
    if (ga == BADPTR || go == BADPTR)
        return -EFAULT;
    pthread_mutex_lock(&p->sig_lock);
    struct user_sigaction prev = p->act[sig];
    if (ga) {
        memcpy(&p->act[sig], ga, 24);   /* handler, flags, mask: no sa_restorer on riscv */
    }
    pthread_mutex_unlock(&p->sig_lock);
    if (go)
        memcpy(go, &prev, 24);
    if (ga)
        user_signal_host_update(p, sig);
    return 0;
}

static int64_t sys_sigprocmask(struct user_thread *t, int how, uint64_t set, uint64_t old, uint64_t sz)
{
    if (sz != 8)
        return -EINVAL;
    uint64_t *gs_ = set ? gp(t->p, set, 8) : NULL;
    uint64_t *go = old ? gp(t->p, old, 8) : NULL;
    if (gs_ == BADPTR || go == BADPTR)
        return -EFAULT;
    uint64_t prev = t->blocked;
    if (gs_) {
        uint64_t s = *gs_ & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
        switch (how) {
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

static int64_t sys_futex(struct user_proc *p, uint64_t ua, int op, uint32_t val,
                         uint64_t a3, uint64_t ua2, uint32_t val3)
{
    uint32_t *u = gp(p, ua, 4);
    if (!u || u == BADPTR || (ua & 3))
        return -EFAULT;
    int cmd = op & FUTEX_CMD_MASK;
    void *ts_or_val2;
    switch (cmd) {
    case FUTEX_WAIT: case FUTEX_WAIT_BITSET: case FUTEX_LOCK_PI:
    case FUTEX_WAIT_REQUEUE_PI:
#ifdef FUTEX_LOCK_PI2
    case FUTEX_LOCK_PI2:
#endif
        ts_or_val2 = gp(p, a3, 16);
        break;
    default:
        ts_or_val2 = (void *)(uintptr_t)a3;
    }
    return R(syscall(SYS_futex, u, op, val, ts_or_val2, gp(p, ua2, 4), val3));
}

static int64_t sys_mmap(struct user_thread *t, uint64_t a, uint64_t len, int prot,
                        int flags, int fd, uint64_t off)
{
    struct user_proc *p = t->p;
    if (!(flags & MAP_ANONYMOUS) && fd < 0)
        return -EBADF;
    if (flags & MAP_FIXED)
        user_maps_changed(p);
    int64_t r = user_mem_mmap(&p->mem, a, len, prot, flags, fd, off);
    if (r >= 0 && ((prot & PROT_EXEC) || (flags & MAP_FIXED)))
        user_code_changed(p, (uint64_t)r, len);
    return r;
}

int64_t user_syscall(struct user_thread *t, struct user_regs *r)
{
    struct user_proc *p = t->p;
    uint64_t nr = r->x[17];
    uint64_t a0 = r->x[10], a1 = r->x[11], a2 = r->x[12], a3 = r->x[13],
             a4 = r->x[14], a5 = r->x[15];
    int d0 = (int)a0;

    switch (nr) {
    case 17: {  /* getcwd: returns the length incl. NUL */
        char *b = gp(p, a0, a1);
        if (!b || b == BADPTR)
            return -EFAULT;
        if (!getcwd(b, a1))
            return -errno;
        return (int64_t)strlen(b) + 1;
    }
    case 19: return R(eventfd(a0, (int)a1));
    case 20: return R(epoll_create1((int)a0));
    case 21: {
        struct g_epoll_event *ge = gp(p, a3, 16);
        struct epoll_event he = {0};
        if (ge == BADPTR)
            return -EFAULT;
        if (ge) { he.events = ge->events; he.data.u64 = ge->data; }
        return R(epoll_ctl(d0, (int)a1, (int)a2, ge ? &he : NULL));
    }
    case 22: {
        int n = (int)a2;
        if (n <= 0 || n > 4096)
            return -EINVAL;
        struct g_epoll_event *ge = gp(p, a1, (uint64_t)n * 16);
        if (!ge || ge == BADPTR)
            return -EFAULT;
        struct epoll_event *he = xmalloc(sizeof(*he) * (size_t)n);
        int64_t k = R(epoll_pwait(d0, he, n, (int)a3, NULL));
        for (int64_t i = 0; i < k; i++) {
            ge[i].events = he[i].events;
            ge[i].pad = 0;
            ge[i].data = he[i].data.u64;
        }
        free(he);
        return k;
    }
    case 23: return R(dup(d0));
    case 24: return R(dup3(d0, (int)a1, (int)a2));
    case 25:
        switch ((int)a1) {
        case F_GETLK: case F_SETLK: case F_SETLKW:
        case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
            return R(fcntl(d0, (int)a1, gp(p, a2, 32)));
        case F_GETOWN_EX: case F_SETOWN_EX:
            return R(fcntl(d0, (int)a1, gp(p, a2, 8)));
        default:
            return R(fcntl(d0, (int)a1, a2));
        }
    case 29: return sys_ioctl(p, d0, a1, a2);
    case 32: return R(flock(d0, (int)a1));
    case 33: return R(mknodat(d0, gs(p, a1), (mode_t)a2, (dev_t)a3));
    case 34: return R(mkdirat(d0, gs(p, a1), (mode_t)a2));
    case 35: return R(unlinkat(d0, gs(p, a1), (int)a2));
    case 36: return R(symlinkat(gs(p, a0), (int)a1, gs(p, a2)));
    case 37: return R(linkat(d0, gs(p, a1), (int)a2, gs(p, a3), (int)a4));
    case 38: return R(renameat(d0, gs(p, a1), (int)a2, gs(p, a3)));
    case 43: return R(syscall(SYS_statfs, gs(p, a0), gp(p, a1, 120)));
    case 44: return R(syscall(SYS_fstatfs, d0, gp(p, a1, 120)));
    case 45: return R(truncate(gs(p, a0), (off_t)a1));
    case 46: return R(ftruncate(d0, (off_t)a1));
    case 47: return R(fallocate(d0, (int)a1, (off_t)a2, (off_t)a3));
    case 48: {
        char b[4096];
        return R(syscall(SYS_faccessat, d0, sysroot_path(p, gs(p, a1), b, sizeof(b)), (int)a2));
    }
    case 439: {
        char b[4096];
        return R(syscall(SYS_faccessat2, d0, sysroot_path(p, gs(p, a1), b, sizeof(b)), (int)a2, (int)a3));
    }
    case 49: return R(chdir(gs(p, a0)));
    case 50: return R(fchdir(d0));
    case 52: return R(fchmod(d0, (mode_t)a1));
    case 53: return R(syscall(SYS_fchmodat, d0, gs(p, a1), (mode_t)a2));
    case 54: return R(fchownat(d0, gs(p, a1), (uid_t)a2, (gid_t)a3, (int)a4));
    case 55: return R(fchown(d0, (uid_t)a1, (gid_t)a2));
    case 56: {
        const char *path = gs(p, a1);
        char b[4096];
        if (is_proc_self(path, "maps"))
            return fake_proc_maps(p);
        if (is_proc_self_exe(path))
            path = p->exe_path;
        else if (!((int)a2 & O_CREAT))
            path = sysroot_path(p, path, b, sizeof(b));
        return R(syscall(SYS_openat, d0, path, (int)a2, (mode_t)a3));
    }
    case 57: return R(close(d0));
    case 59: return R(pipe2(gp(p, a0, 8), (int)a1));
    case 61: return R(syscall(SYS_getdents64, d0, gp(p, a1, a2), a2));
    case 62: return R(lseek(d0, (off_t)a1, (int)a2));
    case 63: return R(read(d0, gp(p, a1, a2), a2));
    case 64: return R(write(d0, gp(p, a1, a2), a2));
    case 67: return R(pread(d0, gp(p, a1, a2), a2, (off_t)a3));
    case 68: return R(pwrite(d0, gp(p, a1, a2), a2, (off_t)a3));
    case 65: case 66: case 69: case 70: {
        if (a2 > 1024)
            return -EINVAL;
        struct iovec *v = iov_in(p, a1, a2);
        if (!v && a2)
            return -EFAULT;
        int64_t k;
        switch (nr) {
        case 65: k = R(readv(d0, v, (int)a2)); break;
        case 66: k = R(writev(d0, v, (int)a2)); break;
        case 69: k = R(preadv(d0, v, (int)a2, (off_t)a3)); break;
        default: k = R(pwritev(d0, v, (int)a2, (off_t)a3)); break;
        }
        free(v);
        return k;
    }
    case 71: return R(sendfile(d0, (int)a1, gp(p, a2, 8), a3));
    case 72: {  /* pselect6: the sigmask argument is ignored */
        if (d0 < 0 || d0 > (1 << 20))
            return -EINVAL;
        uint64_t sz = ((uint64_t)d0 + 63) / 64 * 8;
        return R(syscall(SYS_pselect6, d0, gp(p, a1, sz), gp(p, a2, sz),
                         gp(p, a3, sz), gp(p, a4, 16), NULL));
    }
    case 73:
        if (a1 > (1u << 20))
            return -EINVAL;
        return R(ppoll(gp(p, a0, a1 * 8), a1, gp(p, a2, 16), NULL));
    case 78: {
        const char *path = gs(p, a1);
        char *b = gp(p, a2, a3);
        if (is_proc_self_exe(path)) {
            if (!b || b == BADPTR)
                return -EFAULT;
            size_t n = MIN(strlen(p->exe_path), (size_t)a3);
            memcpy(b, p->exe_path, n);
            return (int64_t)n;
        }
        return R(readlinkat(d0, path, b, a3));
    }
    case 79: {
        const char *path = gs(p, a1);
        if (path == BADPTR)
            return -EFAULT;
        char b[4096];
        if (is_proc_self_exe(path))
            path = p->exe_path;
        else
            path = sysroot_path(p, path, b, sizeof(b));
        return sys_stat(p, d0, path, a2, (int)a3);
    }
    case 80: return sys_stat(p, d0, NULL, a1, 0);
    case 81: sync(); return 0;
    case 82: return R(fsync(d0));
    case 83: return R(fdatasync(d0));
    case 88: return R(syscall(SYS_utimensat, d0, gs(p, a1), gp(p, a2, 32), (int)a3));
    case 93:    /* exit: this thread */
        t->exiting = true;
        t->exit_code = d0 & 0xff;
        return USER_SYSCALL_NORET;
    case 94:
        user_exit_group(p, d0 & 0xff);
    case 95: return R(syscall(SYS_waitid, d0, (int)a1, gp(p, a2, 128), (int)a3, gp(p, a4, 144)));
    case 96:
        t->clear_child_tid = a0;
        return t->tid;
    case 98: return sys_futex(p, a0, (int)a1, (uint32_t)a2, a3, a4, (uint32_t)a5);
    case 99: return -ENOSYS;   /* the host kernel would follow guest pointers (as QEMU) */
    case 100: return -ENOSYS;
    case 101: return R(nanosleep(gp(p, a0, 16), gp(p, a1, 16)));
    case 102: return R(getitimer(d0, gp(p, a1, 32)));
    case 103: return R(setitimer(d0, gp(p, a1, 32), gp(p, a2, 32)));
    case 113: return R(clock_gettime((clockid_t)d0, gp(p, a1, 16)));
    case 114: return R(clock_getres((clockid_t)d0, gp(p, a1, 16)));
    case 115: {
        int e = clock_nanosleep((clockid_t)d0, (int)a1, gp(p, a2, 16), gp(p, a3, 16));
        return -e;
    }
    case 122: return R(syscall(SYS_sched_setaffinity, d0, a1, gp(p, a2, a1)));
    case 123: return R(syscall(SYS_sched_getaffinity, d0, a1, gp(p, a2, a1)));
    case 124: return R(sched_yield());
    case 129:   /* kill */
        if (d0 == getpid() || d0 == 0) {
            if (a1 == 0)
                return 0;
            if (a1 > USER_NSIG)
                return -EINVAL;
            struct user_siginfo si = { .signo = (int)a1, .code = 0 /* SI_USER */,
                                       .pid = getpid(), .uid = (int)getuid() };
            if (d0 == 0)
                kill(0, 0);
            return user_signal_queue(p, 0, (int)a1, &si);
        }
        return R(kill(d0, (int)a1));
    case 130: case 131: {   /* tkill, tgkill */
        int tid = nr == 130 ? d0 : (int)a1, sig = nr == 130 ? (int)a1 : (int)a2;
        if (nr == 131 && d0 != getpid())
            return R(syscall(SYS_tgkill, d0, tid, sig));
        if (sig < 0 || sig > USER_NSIG)
            return -EINVAL;
        struct user_siginfo si = { .signo = sig, .code = -6 /* SI_TKILL */,
                                   .pid = getpid(), .uid = (int)getuid() };
        return sig ? user_signal_queue(p, tid, sig, &si) : 0;
    }
    case 132: {   /* sigaltstack: stack_t = { sp, int flags, size } (24 bytes) */
        uint8_t *ns = gp(p, a0, 24), *os = gp(p, a1, 24);
        if (ns == BADPTR || os == BADPTR)
            return -EFAULT;
        bool on = t->alt.size && r->x[2] > t->alt.sp && r->x[2] - t->alt.sp <= t->alt.size;
        if (os) {
            int fl = on ? SS_ONSTACK : t->alt.size ? 0 : SS_DISABLE;
            memset(os, 0, 24);
            memcpy(os, &t->alt.sp, 8);
            memcpy(os + 8, &fl, 4);
            memcpy(os + 16, &t->alt.size, 8);
        }
        if (ns) {
            if (on)
                return -EPERM;
            struct user_altstack a;
            memcpy(&a.sp, ns, 8);
            memcpy(&a.flags, ns + 8, 4);
            memcpy(&a.size, ns + 16, 8);
            if (a.flags & SS_DISABLE) {
                memset(&t->alt, 0, sizeof(t->alt));
            } else {
                if (a.flags & ~(SS_AUTODISARM))
                    return -EINVAL;
                if (a.size < 2048)
                    return -ENOMEM;
                t->alt = a;
            }
        }
        return 0;
    }
    case 133: {   /* rt_sigsuspend: wait for a signal under a temporary mask */
        uint64_t *m = gp(p, a0, 8);
        if (!m || m == BADPTR)
            return -EFAULT;
        if (a1 != 8)
            return -EINVAL;
        t->restore_mask = t->blocked;
        t->has_restore_mask = true;
        t->blocked = *m & ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
        sigset_t none;
        sigemptyset(&none);
        while (!((__atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) |
                  __atomic_load_n(&p->pending, __ATOMIC_SEQ_CST)) & ~t->blocked))
            sigsuspend(&none);
        return -EINTR;   /* the run loop delivers, then puts restore_mask back */
    }
    case 137: {   /* rt_sigtimedwait(set, info, timeout, size) */
        uint64_t *set = gp(p, a0, 8);
        uint8_t *info = gp(p, a1, USER_SIGINFO_SIZE);
        int64_t *ts = gp(p, a2, 16);
        if (!set || set == BADPTR || info == BADPTR || ts == BADPTR)
            return -EFAULT;
        if (a3 != 8)
            return -EINVAL;
        uint64_t want = *set, deadline = ts ? time_ns() + (uint64_t)ts[0] * 1000000000ULL + (uint64_t)ts[1] : 0;
        for (;;) {
            uint64_t got = (__atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) |
                            __atomic_load_n(&p->pending, __ATOMIC_SEQ_CST)) & want;
            if (got) {
                int sig = __builtin_ctzll(got) + 1;
                uint64_t bit = 1ULL << (sig - 1);
                struct user_siginfo si = { .signo = sig };
                if (__atomic_fetch_and(&t->pending, ~bit, __ATOMIC_SEQ_CST) & bit)
                    si = t->pending_info[sig];
                else if (!(__atomic_fetch_and(&p->pending, ~bit, __ATOMIC_SEQ_CST) & bit))
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
            if ((t->pending | p->pending) & ~t->blocked & ~want)
                return -EINTR;        /* another, deliverable signal: handle it first */
            uint64_t now = time_ns();
            if (ts && now >= deadline)
                return -EAGAIN;
            uint64_t step = ts ? MIN(deadline - now, 10000000ULL) : 10000000ULL;
            struct timespec st = { 0, (long)step };
            nanosleep(&st, NULL);
        }
    }
    case 134: return sys_rt_sigaction(t, d0, a1, a2, a3);
    case 135: return sys_sigprocmask(t, d0, a1, a2, a3);
    case 136: {
        uint64_t *o = gp(p, a0, 8);
        if (!o || o == BADPTR)
            return -EFAULT;
        *o = (t->pending | p->pending) & t->blocked;
        return 0;
    }
    case 139: {
        if (user_sigframe_restore(&p->mem, r, &t->blocked) < 0) {
            log_guest("rt_sigreturn with a bad frame at 0x%llx", (unsigned long long)r->x[2]);
            struct user_siginfo si = { .signo = SIGSEGV, .code = 0 };
            user_signal_queue(p, t->tid, SIGSEGV, &si);
            return -EFAULT;
        }
        return USER_SYSCALL_NORET;
    }
    case 140: return R(setpriority(d0, (id_t)a1, (int)a2));
    case 141: { errno = 0; int v = getpriority(d0, (id_t)a1); return errno ? -errno : 20 - v; }
    case 143: return R(setregid((gid_t)a0, (gid_t)a1));
    case 144: return R(setgid((gid_t)a0));
    case 145: return R(setreuid((uid_t)a0, (uid_t)a1));
    case 146: return R(setuid((uid_t)a0));
    case 147: return R(setresuid((uid_t)a0, (uid_t)a1, (uid_t)a2));
    case 148: return R(getresuid(gp(p, a0, 4), gp(p, a1, 4), gp(p, a2, 4)));
    case 149: return R(setresgid((gid_t)a0, (gid_t)a1, (gid_t)a2));
    case 150: return R(getresgid(gp(p, a0, 4), gp(p, a1, 4), gp(p, a2, 4)));
    case 153: return R(syscall(SYS_times, gp(p, a0, 32)));
    case 154: return R(setpgid(d0, (pid_t)a1));
    case 155: return R(getpgid(d0));
    case 156: return R(getsid(d0));
    case 157: return R(setsid());
    case 158:
        if (d0 < 0 || d0 > 65536)
            return -EINVAL;
        return R(getgroups(d0, gp(p, a1, (uint64_t)d0 * 4)));
    case 160: {
        struct utsname *u = gp(p, a0, sizeof(struct utsname));
        if (!u || u == BADPTR)
            return -EFAULT;
        if (uname(u) < 0)
            return -errno;
        snprintf(u->machine, sizeof(u->machine), "riscv64");
        return 0;
    }
    case 163: return R(getrlimit(d0, gp(p, a1, 16)));
    case 164: return R(setrlimit(d0, gp(p, a1, 16)));
    case 261: return R(syscall(SYS_prlimit64, d0, (int)a1, gp(p, a2, 16), gp(p, a3, 16)));
    case 165: return R(getrusage(d0, gp(p, a1, 144)));
    case 166: return umask((mode_t)a0);
    case 167:
        switch (d0) {
        case PR_SET_NAME: case PR_GET_NAME:
            return R(prctl(d0, gp(p, a1, 16), 0, 0, 0));
        case PR_SET_DUMPABLE: case PR_GET_DUMPABLE: case PR_SET_PDEATHSIG:
        case PR_SET_NO_NEW_PRIVS: case PR_GET_NO_NEW_PRIVS:
            return R(prctl(d0, a1, a2, a3, a4));
        default:
            return -EINVAL;
        }
    case 168: return R(syscall(SYS_getcpu, gp(p, a0, 4), gp(p, a1, 4), NULL));
    case 169: return R(syscall(SYS_gettimeofday, gp(p, a0, 16), gp(p, a1, 8)));
    case 172: return getpid();
    case 173: return getppid();
    case 174: return getuid();
    case 175: return geteuid();
    case 176: return getgid();
    case 177: return getegid();
    case 178: return t->tid;
    case 179: return R(syscall(SYS_sysinfo, gp(p, a0, 112)));
    case 198: return R(socket(d0, (int)a1, (int)a2));
    case 199: return R(socketpair(d0, (int)a1, (int)a2, gp(p, a3, 8)));
    case 200: return R(bind(d0, gp(p, a1, a2), (socklen_t)a2));
    case 201: return R(listen(d0, (int)a1));
    case 202: return R(accept(d0, gp(p, a1, 128), gp(p, a2, 4)));
    case 242: return R(accept4(d0, gp(p, a1, 128), gp(p, a2, 4), (int)a3));
    case 203: return R(connect(d0, gp(p, a1, a2), (socklen_t)a2));
    case 204: return R(getsockname(d0, gp(p, a1, 128), gp(p, a2, 4)));
    case 205: return R(getpeername(d0, gp(p, a1, 128), gp(p, a2, 4)));
    case 206: return R(sendto(d0, gp(p, a1, a2), a2, (int)a3, gp(p, a4, a5), (socklen_t)a5));
    case 207: return R(recvfrom(d0, gp(p, a1, a2), a2, (int)a3, gp(p, a4, 128), gp(p, a5, 4)));
    case 208: return R(setsockopt(d0, (int)a1, (int)a2, gp(p, a3, a4), (socklen_t)a4));
    case 209: return R(getsockopt(d0, (int)a1, (int)a2, gp(p, a3, 256), gp(p, a4, 4)));
    case 210: return R(shutdown(d0, (int)a1));
    case 211: return sys_msg(p, d0, a1, (int)a2, true);
    case 212: return sys_msg(p, d0, a1, (int)a2, false);
    case 214: return (int64_t)user_mem_brk(&p->mem, a0);
    case 215: {
        user_maps_changed(p);
        int rc = user_mem_munmap(&p->mem, a0, a1);
        if (rc == 0)
            user_code_changed(p, a0, a1);
        return rc;
    }
    case 216: {
        user_maps_changed(p);
        return user_mem_mremap(&p->mem, a0, a1, a2, (int)a3, a4);
    }
    case 220:   /* clone(flags, stack, ptid, tls, ctid) on riscv64 */
        return user_do_clone(t, r, a0, a1, a2, a3, a4);
    case 435: return -ENOSYS;   /* clone3: libc falls back to clone */
    case 221: {
        const char *path = gs(p, a0);
        if (!path || path == BADPTR)
            return -EFAULT;
        return user_execve(t, path, a1, a2);
    }
    case 222: return sys_mmap(t, a0, a1, (int)a2, (int)a3, (int)a4, a5);
    case 226: {
        user_maps_changed(p);
        int rc = user_mem_mprotect(&p->mem, a0, a1, (int)a2);
        if (rc == 0)
            user_code_changed(p, a0, a1);
        return rc;
    }
    case 227: return R(msync(gp(p, a0, a1), a1, (int)a2));
    case 228: case 229: return 0;
    case 233:
        if ((a0 & (USER_PAGE - 1)) || !user_mem_ptr(&p->mem, a0, a1))
            return -EINVAL;
        switch ((int)a2) {
        case MADV_DONTNEED: case MADV_FREE: case MADV_WILLNEED: case MADV_HUGEPAGE:
        case MADV_NOHUGEPAGE: case MADV_SEQUENTIAL: case MADV_RANDOM: case MADV_NORMAL:
            if (!user_mem_ok(&p->mem, a0, a1, 0))
                return -ENOMEM;
            return R(madvise(p->mem.host + a0, a1, (int)a2));
        default:
            return 0;
        }
    case 258: return -ENOSYS;
    case 259:
        user_code_changed(p, 0, p->mem.size);
        return 0;
    case 260: return R(wait4(d0, gp(p, a1, 4), (int)a2, gp(p, a3, 144)));
    case 276: return R(syscall(SYS_renameat2, d0, gs(p, a1), (int)a2, gs(p, a3), (unsigned)a4));
    case 278: return R(syscall(SYS_getrandom, gp(p, a0, a1), a1, (unsigned)a2));
    case 279: return R(syscall(SYS_memfd_create, gs(p, a0), (unsigned)a1));
    case 283: return R(syscall(SYS_membarrier, d0, (unsigned)a1, 0));
    case 285: return R(syscall(SYS_copy_file_range, d0, gp(p, a1, 8), (int)a2,
                               gp(p, a3, 8), a4, (unsigned)a5));
    case 291: {
        char b[4096];
        const char *path = gs(p, a1);
        path = is_proc_self_exe(path) ? p->exe_path : sysroot_path(p, path, b, sizeof(b));
        return R(syscall(SYS_statx, d0, path, (int)a2, (unsigned)a3, gp(p, a4, 256)));
    }
    case 293: return -ENOSYS;   /* rseq: the host kernel would write guest memory */
    case 434: return R(syscall(SYS_pidfd_open, d0, (unsigned)a1));
    case 436: return R(syscall(SYS_close_range, (unsigned)a0, (unsigned)a1, (unsigned)a2));
    default: {
        static uint8_t logged[1024];
        if (nr >= sizeof(logged) || !__atomic_exchange_n(&logged[nr], 1, __ATOMIC_RELAXED))
            log_warn("unsupported syscall %llu (%s), returning -ENOSYS",
                     (unsigned long long)nr, user_syscall_name((unsigned)nr) ?: "unknown");
        return -ENOSYS;
    }
    }
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
    const char *name = user_syscall_name(nr);
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
    } else if (nr == 214 || nr == 222 || nr == 216) {
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

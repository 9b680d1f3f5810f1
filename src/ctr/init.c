/* ctr: inside the container. Runs in the cloned child: joins namespaces
 * given by path, builds the root filesystem, applies the process settings,
 * waits on exec.fifo for `start`, and execs the container's program. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/capability.h>

void ctr_fail(int err_fd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    msg[0] = 'E';
    vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    if (err_fd >= 0)
        write_full(err_fd, msg, strlen(msg));
    else
        log_error("%s", msg + 1);
    _exit(1);
}

/* What init knows while it builds the container (no file statics). */
struct init_state {
    int efd;                   /* sync socket: errors go back to `create` */
    int rootfd;                /* O_PATH of the rootfs (after its bind mount) */
    int procfd;                /* the host's procfs root, verified */
    int nullfd;                /* the host's /dev/null, verified to be 1:3 */
    int stage;                 /* the sealed exec stage (ctr_exec_stage_open) */
    bool userns;
    bool cgroupns_new;         /* the container has a cgroup namespace of its own */
    /* /proc/self/cgroup as it was before the cgroup namespace was unshared:
     * the host paths of the container's cgroups, to bind them without a cgroupns */
    char cgroup_paths[4096];
    char host_cgroup[PATH_MAX];
};

/* "/proc/self/fd/N": a path for mount(2) that is exactly the resolved fd
 * (used before pivot_root, through the host's procfs) */
struct fdpath { char p[32]; };
static struct fdpath fdp(int fd)
{
    struct fdpath r;
    snprintf(r.p, sizeof(r.p), "/proc/self/fd/%d", fd);
    return r;
}

static const char *resolve_err(int r)
{
    return r == -ENOLINK ? "it is a symlink whose target does not exist" : strerror(-r);
}

static const char *host_cgroup_of(struct init_state *is, const char *ctrls)
{
    size_t n = strlen(ctrls);
    for (const char *l = is->cgroup_paths; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *c = strchr(l, ':');
        if (!c) break;
        c++;
        if (!strncmp(c, ctrls, n) && c[n] == ':') {
            const char *p = c + n + 1, *e = strchr(p, '\n');
            snprintf(is->host_cgroup, sizeof(is->host_cgroup), "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
            return is->host_cgroup;
        }
    }
    return "/";
}

/* The cgroup mount of the spec: a tmpfs with one directory per host
 * hierarchy (v1 controllers, named ones, the cgroup2 mount of a hybrid
 * layout; or just cgroup2 on a v2 host), each showing the container's own
 * cgroup: mounted afresh inside a cgroup namespace, bound from the host
 * without one (or when the mount is refused, as in a user namespace). */
static void mount_cgroups(struct init_state *is, int tfd, const char *dest, unsigned long flags)
{
    int efd = is->efd;
    char target[PATH_MAX];
    unsigned long f = MS_NOSUID | MS_NODEV | MS_NOEXEC | (flags & MS_RELATIME);
    char *info = NULL;
    if (read_file("/proc/self/mountinfo", &info, NULL, 4 << 20) < 0)
        ctr_fail(efd, "mount cgroup on %s: cannot read /proc/self/mountinfo", target);
    struct statfs sf;
    bool v2_host = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC, tmpfs_done = false;
    for (char *l = info, *save, *line; (line = strtok_r(l, "\n", &save)); l = NULL) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        char mp[PATH_MAX], fstype[32], super[512];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
            sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2)
            continue;
        bool v2 = !strcmp(fstype, "cgroup2");
        if ((!v2 && strcmp(fstype, "cgroup")) || strncmp(mp, "/sys/fs/cgroup", 14))
            continue;
        /* a v2 host has one hierarchy at /sys/fs/cgroup (the last mount there wins);
         * a hybrid host shows its v1 hierarchies only, not the controller-less
         * cgroup2 at unified/ (as runc: what a v1 container expects to see) */
        if (v2_host != !strcmp(mp, "/sys/fs/cgroup") || v2_host != v2)
            continue;
        if (!tmpfs_done) {
            /* the subtree is built on a fresh mount of ours, through its fd: a
             * writable tmpfs that keeps the mode of the directory it covers
             * (sysfs's, 0555), as runc mounts every tmpfs */
            struct stat under;
            bool keep = fstat(tfd, &under) == 0;
            if (!v2_host && mount("tmpfs", fdp(tfd).p, "tmpfs", f, "mode=755") < 0)
                ctr_fail(efd, "mount cgroup on %s: tmpfs: %s", dest, strerror(errno));
            int nfd = ctr_open_in_root(is->rootfd, dest, O_PATH | O_DIRECTORY);
            if (nfd < 0)
                ctr_fail(efd, "mount cgroup on %s: reopen it: %s", dest, strerror(-nfd));
            if (!v2_host) {
                struct statfs tf;
                if (fstatfs(nfd, &tf) < 0 || tf.f_type != TMPFS_MAGIC)
                    ctr_fail(efd, "mount cgroup on %s: the new tmpfs is not there", dest);
                if (keep && chmod(fdp(nfd).p, under.st_mode & 07777) < 0)
                    ctr_fail(efd, "mount cgroup on %s: tmpfs: %s", dest, strerror(errno));
            }
            tfd = nfd;     /* kept open until exec (close-on-exec) */
            snprintf(target, sizeof(target), "%s", fdp(tfd).p);
            tmpfs_done = true;
        }
        /* the controllers of a v1 mount: its super options without rw and the like */
        char ctrls[256] = "";
        size_t cl = 0;
        if (!v2) {
            char *save2;
            for (char *o = strtok_r(super, ",", &save2); o; o = strtok_r(NULL, ",", &save2)) {
                if (!strcmp(o, "rw") || !strcmp(o, "ro") || !strcmp(o, "xattr") || !strcmp(o, "noprefix") ||
                    !strcmp(o, "clone_children") || !strcmp(o, "cpuset_v2_mode") || !strncmp(o, "release_agent=", 14))
                    continue;
                cl += (size_t)snprintf(ctrls + cl, sizeof(ctrls) - cl, "%s%s", cl ? "," : "", o);
                if (cl >= sizeof(ctrls)) ctr_fail(efd, "mount cgroup: too many controllers in %s", mp);
            }
        }
        char sub[PATH_MAX];
        if (v2_host)
            snprintf(sub, sizeof(sub), "%s", target);
        else {
            snprintf(sub, sizeof(sub), "%s/%s", target, mp + 15);
            if (mkdir(sub, 0755) < 0 && errno != EEXIST)
                ctr_fail(efd, "mount cgroup: mkdir %s: %s", sub, strerror(errno));
        }
        int r = -1;
        if (is->cgroupns_new)
            r = v2 ? mount("cgroup2", sub, "cgroup2", f | (flags & MS_RDONLY), NULL)
                   : mount("cgroup", sub, "cgroup", f | (flags & MS_RDONLY), ctrls);
        if (r < 0) {
            /* /proc/self/cgroup names a v1 hierarchy by its controllers, cgroup2 by "" */
            char src[PATH_MAX * 2];
            snprintf(src, sizeof(src), "%s%s", mp, host_cgroup_of(is, v2 ? "" : ctrls));
            if (mount(src, sub, NULL, MS_BIND | MS_REC, NULL) < 0 ||
                mount(NULL, sub, NULL, MS_REMOUNT | MS_BIND | f | (flags & MS_RDONLY), NULL) < 0)
                ctr_fail(efd, "mount cgroup on %s: bind %s: %s", sub, src, strerror(errno));
        }
        /* co-mounted controllers (cpu,cpuacct) get a link per name, as on the host */
        if (!v2 && strchr(ctrls, ',') && strncmp(ctrls, "name=", 5)) {
            char *save3, link[PATH_MAX];
            for (char *c = strtok_r(ctrls, ",", &save3); c; c = strtok_r(NULL, ",", &save3)) {
                snprintf(link, sizeof(link), "%s/%s", target, c);
                if (strcmp(c, mp + 15) && symlink(mp + 15, link) < 0 && errno != EEXIST)
                    ctr_fail(efd, "mount cgroup: symlink %s: %s", link, strerror(errno));
            }
        }
    }
    /* the tmpfs stays rw, the hierarchies in it read-only, as under runc */
    free(info);
}

/* Files of procfs a mount may cover (lxcfs does, as runc allows). */
static bool proc_mount_allowed(const char *dest)
{
    static const char *const ok[] = { "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                                      "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                                      "/proc/net/dev", "/proc/sys/kernel/ns_last_pid" };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
        if (!strcmp(dest, ok[i]))
            return true;
    return false;
}

/* The mount point of m inside the root, created if missing, as an O_PATH fd:
 * never through a symlink out of the root, never onto procfs (but /proc itself). */
static int mount_target(struct init_state *is, const struct ctr_mount *m, const char *type)
{
    struct stat st;
    bool src_is_file = m->bind && stat(m->source, &st) == 0 && !S_ISDIR(st.st_mode);
    int fd = ctr_mkpath_in_root(is->rootfd, m->dest, src_is_file);
    if (fd < 0)
        ctr_fail(is->efd, "mount %s: cannot resolve or create the mount point in the root: %s", m->dest, resolve_err(fd));
    struct statfs sf;
    if (fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC && strcmp(type, "proc") && !proc_mount_allowed(m->dest))
        ctr_fail(is->efd, "mount %s: the destination resolves into procfs: refused (a mount there could "
                 "redirect the runtime's writes to /proc)", m->dest);
    return fd;
}

static void do_mount(struct init_state *is, const struct ctr_mount *m)
{
    int efd = is->efd;
    const char *type = m->type ? m->type : "none";
    cleanup_close int tfd = mount_target(is, m, type);
    struct fdpath tp = fdp(tfd);
    const char *target = tp.p;
    unsigned long flags = m->flags;
    /* after a mount the fd still names the covered directory: reopen for
     * what applies to the new mount (remount, propagation, attributes) */
    cleanup_close int nfd = -1;
    if (m->bind) {
        if (mount(m->source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
            ctr_fail(efd, "bind mount %s on %s: %s", m->source, m->dest, strerror(errno));
        unsigned long re = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        if (re) {
            nfd = ctr_open_in_root(is->rootfd, m->dest, O_PATH);
            if (nfd < 0 || mount(NULL, fdp(nfd).p, NULL, MS_REMOUNT | MS_BIND | re, NULL) < 0)
                ctr_fail(efd, "remount %s with its options: %s", m->dest, strerror(nfd < 0 ? -nfd : errno));
        }
    } else if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        mount_cgroups(is, tfd, m->dest, flags);
    } else if (mount(m->source ? m->source : type, target, type, flags, m->data) < 0) {
        int e = errno;
        if (!strcmp(type, "sysfs") && (e == EPERM || is->userns)) {
            /* no sysfs of our own without a network namespace we own: bind
             * the host's, read-only all the way down (its cgroup mounts too) */
            struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                 MOUNT_ATTR_NOEXEC };
            if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0 &&
                (nfd = ctr_open_in_root(is->rootfd, m->dest, O_PATH)) >= 0 &&
                syscall(SYS_mount_setattr, nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) == 0)
                goto prop;
            ctr_fail(efd, "mount sysfs on %s: bind the host's /sys read-only: %s", m->dest, strerror(errno));
        }
        if (!strcmp(type, "mqueue") && e == EPERM) {
            if (mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL) == 0)
                goto prop;
        }
        ctr_fail(efd, "mount %s (type %s) on %s: %s", m->source ? m->source : type, type, m->dest, strerror(e));
    }
prop:
    if (!m->prop && !m->rec_set && !m->rec_clr)
        return;
    if (nfd < 0 && (nfd = ctr_open_in_root(is->rootfd, m->dest, O_PATH)) < 0)
        ctr_fail(efd, "reopen %s after mounting it: %s", m->dest, strerror(-nfd));
    if (m->prop && mount(NULL, fdp(nfd).p, NULL, m->prop, NULL) < 0)
        ctr_fail(efd, "set propagation of %s: %s", m->dest, strerror(errno));
    if (m->rec_set || m->rec_clr) {
        struct mount_attr attr = { .attr_set = m->rec_set, .attr_clr = m->rec_clr };
        if (syscall(SYS_mount_setattr, nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            ctr_fail(efd, "recursive mount options of %s: %s", m->dest, strerror(errno));
    }
}

/* One node in the directory DIRFD (resolved inside the root): mknod, or in a
 * user namespace a bind of the host's node onto a file created there. */
static void make_dev(struct init_state *is, int dirfd, const char *path, mode_t type, unsigned maj, unsigned min,
                     mode_t mode, uid_t uid, gid_t gid)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    unlinkat(dirfd, name, 0);
    if (!is->userns && mknodat(dirfd, name, type | mode, makedev(maj, min)) == 0) {
        if (fchmodat(dirfd, name, mode, 0) < 0 || fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
            /* best effort, as before */
        }
        return;
    }
    /* in a user namespace mknod is refused: bind the host's node instead */
    int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    cleanup_close int tfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char host[PATH_MAX];
    snprintf(host, sizeof(host), "/dev/%s", path);
    struct stat st;
    if (tfd < 0 || fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode) || mount(host, fdp(tfd).p, NULL, MS_BIND, NULL) < 0)
        ctr_fail(is->efd, "create device /dev/%s: %s", path, tfd < 0 ? strerror(errno) : strerror(errno));
}

static void setup_dev(struct init_state *is, const struct ctr_spec *s)
{
    static const struct { const char *name; unsigned maj, min; } defs[] = {
        { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
        { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
    int efd = is->efd;
    cleanup_close int devfd = ctr_open_in_root(is->rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        ctr_fail(efd, "open /dev in the root: %s", strerror(-devfd));
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
        make_dev(is, devfd, defs[i].name, S_IFCHR, defs[i].maj, defs[i].min, 0666, 0, 0);
    struct json_object *lin, *devs;
    if (json_object_object_get_ex(s->json, "linux", &lin) && json_object_object_get_ex(lin, "devices", &devs) &&
        json_object_is_type(devs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
            struct json_object *d = json_object_array_get_idx(devs, i), *v;
            const char *p = json_object_object_get_ex(d, "path", &v) ? json_object_get_string(v) : NULL;
            const char *t = json_object_object_get_ex(d, "type", &v) ? json_object_get_string(v) : "c";
            if (!p || strncmp(p, "/dev/", 5) || strstr(p, ".."))
                ctr_fail(efd, "config.json: linux.devices[%zu].path: \"%s\" must be under /dev", i, p ? p : "");
            unsigned maj = json_object_object_get_ex(d, "major", &v) ? (unsigned)json_object_get_int(v) : 0;
            unsigned min = json_object_object_get_ex(d, "minor", &v) ? (unsigned)json_object_get_int(v) : 0;
            mode_t mode = json_object_object_get_ex(d, "fileMode", &v) ? (mode_t)json_object_get_int(v) : 0666;
            uid_t uid = json_object_object_get_ex(d, "uid", &v) ? (uid_t)json_object_get_int(v) : 0;
            gid_t gid = json_object_object_get_ex(d, "gid", &v) ? (gid_t)json_object_get_int(v) : 0;
            mode_t type = !strcmp(t, "b") ? S_IFBLK : !strcmp(t, "p") ? S_IFIFO : S_IFCHR;
            char parent[PATH_MAX];
            snprintf(parent, sizeof(parent), "%s", p);
            *strrchr(parent, '/') = 0;
            cleanup_close int pfd = ctr_mkpath_in_root(is->rootfd, parent, false);
            if (pfd < 0)
                ctr_fail(efd, "linux.devices[%zu]: create %s in the root: %s", i, parent, resolve_err(pfd));
            make_dev(is, pfd, p + 5, type, maj, min, mode & 07777, uid, gid);
        }
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
        { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
            ctr_fail(efd, "create /dev/%s: %s", links[i][1], strerror(errno));
    struct stat st;
    if (fstatat(devfd, "pts/ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        unlinkat(devfd, "ptmx", 0);
        if (symlinkat("pts/ptmx", devfd, "ptmx") < 0)
            ctr_fail(efd, "create /dev/ptmx: %s", strerror(errno));
    }
}

/* maskedPaths: a directory gets an empty read-only tmpfs, anything else the
 * host's null device, through the fd opened and checked at start (never a
 * /dev/null of the rootfs, which an image can make a symlink: CVE-2025-31133) */
static void mask_paths(struct init_state *is, const struct ctr_spec *s)
{
    for (char **p = s->masked; p && *p; p++) {
        cleanup_close int fd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (fd == -ENOENT)
            continue;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            ctr_fail(is->efd, "mask %s: %s", *p, fd < 0 ? strerror(-fd) : strerror(errno));
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", fdp(fd).p, "tmpfs", MS_RDONLY, "size=0k")
                                    : mount(fdp(is->nullfd).p, fdp(fd).p, NULL, MS_BIND, NULL);
        if (r < 0)
            ctr_fail(is->efd, "mask %s: %s", *p, strerror(errno));
    }
}

/* readonlyPaths: bound on themselves, read-only all the way down */
static void readonly_paths(struct init_state *is, const struct ctr_spec *s)
{
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
    for (char **p = s->readonly; p && *p; p++) {
        cleanup_close int fd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (fd == -ENOENT)
            continue;
        if (fd < 0 || mount(fdp(fd).p, fdp(fd).p, NULL, MS_BIND | MS_REC, NULL) < 0)
            ctr_fail(is->efd, "make %s read-only: %s", *p, fd < 0 ? strerror(-fd) : strerror(errno));
        cleanup_close int nfd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (nfd < 0 || syscall(SYS_mount_setattr, nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) < 0)
            ctr_fail(is->efd, "make %s read-only: %s", *p, nfd < 0 ? strerror(-nfd) : strerror(errno));
    }
}

/* linux.sysctl: written through the verified host procfs, never across a
 * mount or a symlink (the files under /proc/sys act on the writer's own
 * namespaces, so this is the container's sysctl: CVE-2025-52881) */
static void write_sysctls(struct init_state *is, const struct ctr_spec *s)
{
    for (char **kv = s->sysctl; kv && kv[0]; kv += 2) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "sys/%s", kv[0]);
        for (char *c = rel + 4; *c; c++)
            if (*c == '.') *c = '/';
        int r = ctr_proc_write(is->procfd, rel, kv[1]);
        if (r < 0)
            ctr_fail(is->efd, "linux.sysctl.%s: %s", kv[0],
                     r == -EXDEV ? "/proc/sys is covered by something else than procfs: refused" : strerror(-r));
    }
}

static void enter_root(struct init_state *is, const char *root, bool no_pivot)
{
    int efd = is->efd;
    if (no_pivot) {
        if (chdir(root) < 0 || mount(root, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
            ctr_fail(efd, "chroot to %s: %s", root, strerror(errno));
        return;
    }
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0 || newroot < 0 || fchdir(newroot) < 0)
        ctr_fail(efd, "open the rootfs %s: %s", root, strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        ctr_fail(efd, "pivot_root to %s: %s (try --no-pivot on a ramfs root)", root, strerror(errno));
    if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        ctr_fail(efd, "detach the old root: %s", strerror(errno));
    close(oldroot);
    close(newroot);
}

/* The spec's mounts (then /dev's nodes when /dev is one of them), while the
 * old root is still there; then the parent runs prestart and createRuntime,
 * and we run createContainer (runc's order). */
static void mount_and_create_hooks(struct init_state *is, const struct ctr_init_args *a)
{
    const struct ctr_spec *s = a->spec;
    int efd = is->efd;
    bool dev_mounted = false;
    for (size_t i = 0; i < s->nmounts; i++) {
        do_mount(is, &s->mounts[i]);
        if (!strcmp(s->mounts[i].dest, "/dev"))
            dev_mounted = true;
    }
    if (dev_mounted)
        setup_dev(is, s);
    if (s->nhooks[CTR_HOOK_PRESTART] || s->nhooks[CTR_HOOK_CREATE_RUNTIME]) {
        char go = 0;
        if (write(efd, "H", 1) != 1 || read(efd, &go, 1) != 1 || go != 'C')
            _exit(1);
    }
    if (s->nhooks[CTR_HOOK_CREATE_CONTAINER]) {
        cleanup_free char *st = ctr_hook_state(a->id, a->bundle, "creating");
        if (ctr_hooks_run(s, CTR_HOOK_CREATE_CONTAINER, st, is->stage) < 0)
            ctr_fail(efd, "hooks.createContainer failed");
    }
}

static void setup_rootfs(struct init_state *is, const struct ctr_init_args *a)
{
    const struct ctr_spec *s = a->spec;
    const char *root = s->root;
    int efd = is->efd;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        ctr_fail(efd, "make / a slave mount: %s", strerror(errno));
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        ctr_fail(efd, "bind mount the rootfs %s: %s", root, strerror(errno));
    is->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (is->rootfd < 0)
        ctr_fail(efd, "open the rootfs %s: %s", root, strerror(errno));
    mount_and_create_hooks(is, a);
    write_sysctls(is, s);
    mask_paths(is, s);
    readonly_paths(is, s);
    enter_root(is, root, a->opts->no_pivot);
    close(is->rootfd);
    is->rootfd = -1;
    if (s->root_ro && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        ctr_fail(efd, "make the root read-only: %s", strerror(errno));
    if (s->rootfs_prop && mount(NULL, "/", NULL, s->rootfs_prop, NULL) < 0)
        ctr_fail(efd, "set root propagation: %s", strerror(errno));
}

/* Without a mount namespace of its own the container shares the runtime's
 * (the spec's "inherited"): its mounts go under the root in that namespace
 * (`delete` detaches them), no masked paths or sysctls (the spec parser
 * refused them), the hooks as usual, then chroot into the root as runc and
 * crun do, since pivot_root would move the host's root. */
static void enter_root_shared_mntns(struct init_state *is, const struct ctr_init_args *a)
{
    const struct ctr_spec *s = a->spec;
    int efd = is->efd;
    is->rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (is->rootfd < 0)
        ctr_fail(efd, "open the rootfs %s: %s", s->root, strerror(errno));
    mount_and_create_hooks(is, a);
    if (chdir(s->root) < 0 || chroot(".") < 0 || chdir("/") < 0)
        ctr_fail(efd, "chroot to %s: %s", s->root, strerror(errno));
}

static void set_caps(int efd, const struct ctr_process *p)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(p->caps[1] >> (32 * i));
        data[i].inheritable = (uint32_t)(p->caps[2] >> (32 * i));
        data[i].permitted = (uint32_t)(p->caps[3] >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        ctr_fail(efd, "set capabilities: %s", strerror(errno));
    for (int c = 0; c < 64; c++)
        if (p->caps[4] & (1ULL << c))
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM)
                ctr_fail(efd, "raise ambient capability %d: %s", c, strerror(errno));
    /* like runc, an ambient capability that is not also inheritable is skipped */
}

/* process.terminal: the pty is bound on the container's /dev/console, the
 * fd of a file made there (a symlink or anything odd in its place is
 * replaced, never followed: CVE-2025-52565), from the fd of the pty checked
 * to be on devpts. Runs after pivot_root. */
static void bind_console(int efd, int slave)
{
    cleanup_close int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int devfd = rootfd < 0 ? -1 : ctr_open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        return;                            /* no /dev in the container */
    struct stat st;
    if (fstatat(devfd, "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
        unlinkat(devfd, "console", S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        ctr_fail(efd, "replace /dev/console: %s", strerror(errno));
    int f = openat(devfd, "console", O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
    if (f >= 0) close(f);
    cleanup_close int cfd = openat(devfd, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct statfs sf;
    if (cfd < 0 || fstat(cfd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)))
        ctr_fail(efd, "create /dev/console: %s", cfd < 0 ? strerror(errno) : "not a file");
    if (fstatfs(slave, &sf) < 0 || sf.f_type != DEVPTS_SUPER_MAGIC)
        ctr_fail(efd, "bind /dev/console: the pty is not on devpts");
    cleanup_close int tree = (int)syscall(SYS_open_tree, slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0 || syscall(SYS_move_mount, tree, "", cfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        ctr_fail(efd, "bind the pty on /dev/console: %s", strerror(errno));
}

static void setup_console(int efd, int sock, bool console_dev)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        ctr_fail(efd, "allocate a pty: %s", strerror(errno));
    char name[64];
    if (ptsname_r(master, name, sizeof(name)))
        ctr_fail(efd, "ptsname: %s", strerror(errno));
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0)
        ctr_fail(efd, "open %s: %s", name, strerror(errno));
    if (console_dev)
        bind_console(efd, slave);
    char buf[CMSG_SPACE(sizeof(int))];
    memset(buf, 0, sizeof(buf));
    char dummy = 0;
    struct iovec iov = { &dummy, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (sendmsg(sock, &msg, 0) < 0)
        ctr_fail(efd, "send the pty over the console socket: %s", strerror(errno));
    close(master);
    close(sock);
    setsid();
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        ctr_fail(efd, "set the controlling terminal: %s", strerror(errno));
    dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
    if (slave > 2) close(slave);
}

static const char *env_get(char **env, const char *key)
{
    size_t n = strlen(key);
    for (char **e = env; e && *e; e++)
        if (!strncmp(*e, key, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Every fd from 3 + preserve_fds up close-on-exec, the preserved ones not. */
static void mark_cloexec(const struct ctr_exec_ctx *c)
{
    unsigned first = 3 + (unsigned)c->preserve_fds;
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            int fd = atoi(de->d_name);
            if (fd >= (int)first && fd != dirfd(d))
                fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (d) closedir(d);
    }
    for (int fd = 3; fd < (int)first; fd++)
        fcntl(fd, F_SETFD, 0);
}

/* Errors go to `create` while it listens (err_fd still open), else to stderr. */
static void load_seccomp(const struct ctr_exec_ctx *c, bool err_fd_open)
{
    char err[256];
    if (ctr_seccomp_load(c->spec->seccomp, err, sizeof(err)) < 0) {
        if (err_fd_open)
            ctr_fail(c->err_fd, "%s", err);
        log_error("%s", err);
        _exit(1);
    }
}

void ctr_exec_process(const struct ctr_exec_ctx *c)
{
    const struct ctr_process *p = c->proc;
    int efd = c->err_fd;
    int stage = c->stage_fd >= 0 ? c->stage_fd : ctr_exec_stage_open();
    if (stage < 0)
        ctr_fail(efd, "create the runtime's sealed exec stage: %s", strerror(-stage));
    for (size_t i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
        if (setrlimit(p->rlimits[i].res, &rl) < 0)
            ctr_fail(efd, "process.rlimits: setting %s to %llu/%llu: %s (the hard limit here is lower; "
                     "lower the value, e.g. podman --ulimit)", p->rlimits[i].name,
                     (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, strerror(errno));
    }
    if (p->has_oom) {
        char v[16];
        snprintf(v, sizeof(v), "%d", p->oom_score_adj);
        int r = c->procfd >= 0 ? ctr_proc_write(c->procfd, "self/oom_score_adj", v) : -EBADF;
        if (r < 0)
            ctr_fail(efd, "process.oomScoreAdj: %s", strerror(-r));
    }
    if (c->procfd >= 0)
        close(c->procfd);
    if (c->console_fd >= 0)
        setup_console(efd, c->console_fd, c->id != NULL);
    else if (p->terminal)
        setsid();
    /* nothing we hold may leak into the container: every fd but stdio, the
     * sync socket, the fifo's directory and --preserve-fds is close-on-exec
     * from here, and a cwd outside the root (through a leaked directory fd,
     * /proc/self/fd/N: CVE-2024-21626) is refused */
    mark_cloexec(c);
    if (chdir(p->cwd) < 0)
        ctr_fail(efd, "process.cwd: %s: %s", p->cwd, strerror(errno));
    char cwdbuf[PATH_MAX];
    if (!getcwd(cwdbuf, sizeof(cwdbuf)) || cwdbuf[0] != '/')
        ctr_fail(efd, "process.cwd: %s is not inside the container (refused)", p->cwd);
    if (p->has_caps) {
        for (int cap = 0; cap <= 63; cap++)
            if (!(p->caps[0] & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                ctr_fail(efd, "drop capability %d from the bounding set: %s", cap, strerror(errno));
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    }
    /* without no_new_privs a filter can be loaded only with CAP_SYS_ADMIN:
     * load it now, before the user and capabilities change (as runc does);
     * the rest of the set-up then runs under it. With no_new_privs, last. */
    bool seccomp_early = c->spec->seccomp && !p->nnp;
    if (seccomp_early)
        load_seccomp(c, true);
    if (setgroups(p->ngids, (const gid_t *)p->gids) < 0 && errno != EPERM)
        ctr_fail(efd, "process.user.additionalGids: %s", strerror(errno));
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        ctr_fail(efd, "process.user.gid %u: %s", p->gid, strerror(errno));
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        ctr_fail(efd, "process.user.uid %u: %s", p->uid, strerror(errno));
    if (p->has_caps)
        set_caps(efd, p);
    if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        ctr_fail(efd, "no_new_privs: %s", strerror(errno));
    if (p->has_umask)
        umask(p->umask);
    /* find the program now so an error can still reach `create` */
    const char *prog = p->args[0];
    char found[PATH_MAX] = "";
    if (!strchr(prog, '/')) {
        const char *path = env_get(p->env, "PATH");
        cleanup_free char *copy = xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        char *save;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            snprintf(found, sizeof(found), "%s/%s", dir, prog);
            if (access(found, X_OK) == 0)
                break;
            found[0] = 0;
        }
        if (!found[0])
            ctr_fail(efd, "exec: \"%s\": executable file not found in $PATH", prog);
        prog = found;
    } else if (access(prog, X_OK) < 0) {
        ctr_fail(efd, "exec: \"%s\": %s", prog, strerror(errno));
    }
    if (efd >= 0) {
        write_full(efd, "R", 1);
        close(efd);
    }
    if (c->fifo_fd >= 0) {
        /* blocks until `start` opens the fifo for reading */
        int w = openat(c->fifo_fd, "exec.fifo", O_WRONLY | O_CLOEXEC);
        if (w < 0 || write(w, "0", 1) != 1)
            _exit(1);
        /* w stays open until execve closes it: `start` returns on that EOF,
         * so a signal sent once it has returned reaches the program, not
         * this code (which, as a pid namespace's init, would drop it) */
        close(c->fifo_fd);
    }
    if (c->id && c->spec->nhooks[CTR_HOOK_START_CONTAINER]) {
        /* spec: a failing startContainer hook stops the container */
        cleanup_free char *st = ctr_hook_state(c->id, c->bundle, "created");
        if (ctr_hooks_run(c->spec, CTR_HOOK_START_CONTAINER, st, stage) < 0)
            _exit(1);
    }
    if (c->spec->seccomp && !seccomp_early)
        load_seccomp(c, false);
    /* through the sealed stage, never from this process (CVE-2019-5736);
     * an error of that execve is logged by the stage */
    int e = ctr_exec_staged(stage, prog, p->args, p->env ? p->env : (char *[]){ NULL }, true);
    log_error("exec %s: the runtime's sealed exec stage: %s", prog, strerror(-e));
    _exit(127);
}

static const int ns_flags[CTR_NS_COUNT] = {
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUTS,
    CLONE_NEWUSER, CLONE_NEWCGROUP, CLONE_NEWTIME };

int ctr_init(void *arg)
{
    struct ctr_init_args *a = arg;
    const struct ctr_spec *s = a->spec;
    int efd = a->sync_fd;
    char go;
    if (read(efd, &go, 1) != 1 || go != 'G')
        _exit(1);
    /* from here (the parent has written our id maps, which an unprivileged
     * parent can do only while we are dumpable) no one in the container's
     * namespaces may ptrace us or open our /proc/PID files (exe, fds) while
     * we set it up; execve resets this */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct init_state *is = xzalloc(sizeof(*is));
    is->efd = efd;
    is->rootfd = -1;
    is->stage = ctr_exec_stage_open();
    if (is->stage < 0)
        ctr_fail(efd, "create the runtime's sealed exec stage: %s", strerror(-is->stage));
    is->procfd = ctr_proc_root();
    if (is->procfd < 0)
        ctr_fail(efd, "open /proc: %s", is->procfd == -EXDEV ? "it is not procfs" : strerror(-is->procfd));
    is->nullfd = open("/dev/null", O_PATH | O_CLOEXEC);
    struct stat nst;
    if (is->nullfd < 0 || fstat(is->nullfd, &nst) < 0 || !S_ISCHR(nst.st_mode) || nst.st_rdev != makedev(1, 3))
        ctr_fail(efd, "the host's /dev/null is not the null device (1:3)");
    int console = -1;
    if (s->proc.terminal && a->opts->console_socket) {
        console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un { sa_family_t fam; char path[108]; } sa = { AF_UNIX, "" };
        snprintf(sa.path, sizeof(sa.path), "%s", a->opts->console_socket);
        if (console < 0 || connect(console, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            ctr_fail(efd, "connect to the console socket %s: %s", a->opts->console_socket, strerror(errno));
    } else if (s->proc.terminal && a->console_fd >= 0) {
        console = a->console_fd;       /* a foreground run: the runtime proxies the pty */
    }
    /* the parent has put us in our cgroups: remember where, for the cgroup mount */
    int cfd = ctr_proc_open(is->procfd, "self/cgroup", O_RDONLY);
    if (cfd >= 0) {
        ssize_t n = read_full(cfd, is->cgroup_paths, sizeof(is->cgroup_paths) - 1);
        is->cgroup_paths[n > 0 ? n : 0] = 0;
        close(cfd);
    }
    /* join namespaces named by path: user first, mount last (pid was joined by the parent) */
    static const int order[] = { CTR_NS_USER, CTR_NS_IPC, CTR_NS_UTS, CTR_NS_NET, CTR_NS_CGROUP, CTR_NS_TIME, CTR_NS_MNT };
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        int k = order[i];
        if (!s->ns_on[k] || !s->ns_path[k])
            continue;
        int fd = open(s->ns_path[k], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, ns_flags[k]) < 0)
            ctr_fail(efd, "join namespace %s: %s", s->ns_path[k], strerror(errno));
        close(fd);
    }
    bool userns = s->ns_on[CTR_NS_USER];
    is->userns = userns;
    if (userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        ctr_fail(efd, "become root in the user namespace: %s (check linux.uidMappings)", strerror(errno));
    /* a new cgroup namespace only now, so that its root is the container's cgroup */
    if (s->ns_on[CTR_NS_CGROUP] && !s->ns_path[CTR_NS_CGROUP]) {
        if (unshare(CLONE_NEWCGROUP) < 0)
            ctr_fail(efd, "create the cgroup namespace: %s", strerror(errno));
        is->cgroupns_new = true;
    }
    /* a new time namespace applies to our children and, from execve on, to us;
     * its offsets can be set only before any process is in it */
    if (s->ns_on[CTR_NS_TIME] && !s->ns_path[CTR_NS_TIME]) {
        if (unshare(CLONE_NEWTIME) < 0)
            ctr_fail(efd, "create the time namespace: %s", strerror(errno));
        if (s->has_time_off) {
            char v[128];
            snprintf(v, sizeof(v), "monotonic %lld %lld\nboottime %lld %lld\n",
                               (long long)s->time_off[0][0], (long long)s->time_off[0][1],
                               (long long)s->time_off[1][0], (long long)s->time_off[1][1]);
            int r = ctr_proc_write(is->procfd, "self/timens_offsets", v);
            if (r < 0)
                ctr_fail(efd, "linux.timeOffsets: write /proc/self/timens_offsets: %s", strerror(-r));
        }
    }
    if (s->ns_on[CTR_NS_UTS]) {
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
            ctr_fail(efd, "hostname \"%s\": %s", s->hostname, strerror(errno));
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
            ctr_fail(efd, "domainname \"%s\": %s", s->domainname, strerror(errno));
    } else if (s->hostname) {
        ctr_fail(efd, "config.json: hostname: setting a hostname needs a uts namespace");
    }
    if (s->ns_on[CTR_NS_MNT])
        setup_rootfs(is, a);
    else
        enter_root_shared_mntns(is, a);
    struct ctr_exec_ctx c = { s, &s->proc, efd, console, a->fifo_dirfd, a->opts->preserve_fds, a->id, a->bundle,
                              is->procfd, is->stage };
    close(is->nullfd);
    free(is);
    ctr_exec_process(&c);
}

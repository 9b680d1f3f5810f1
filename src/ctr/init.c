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

/* The one place a container process reports its error: to `create` (or
 * `exec`) over the sync socket while it listens ("E" and the message),
 * else on the log; then it exits 1. */
void ctr_child_fail(int err_fd, struct ctr_error **err)
{
    const char *m = err && *err ? (*err)->msg : "failed";
    if (err_fd >= 0) {
        cleanup_free char *msg = xasprintf("E%s", m);
        write_full(err_fd, msg, strlen(msg));
    } else {
        log_error("%s", m);
    }
    ctr_error_free(err);
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
static int mount_cgroups(struct init_state *is, int tfd, const char *dest, unsigned long flags, struct ctr_error **err)
{
    char target[PATH_MAX];
    unsigned long f = MS_NOSUID | MS_NODEV | MS_NOEXEC | (flags & MS_RELATIME);
    cleanup_free char *info = NULL;
    if (read_file("/proc/self/mountinfo", &info, NULL, 4 << 20) < 0)
        return ctr_error_make(err, 0, "mount cgroup on %s: cannot read /proc/self/mountinfo", dest);
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
                return ctr_error_make(err, errno, "mount cgroup on %s: tmpfs", dest);
            int nfd = ctr_open_in_root(is->rootfd, dest, O_PATH | O_DIRECTORY);
            if (nfd < 0)
                return ctr_error_make(err, -nfd, "mount cgroup on %s: reopen it", dest);
            if (!v2_host) {
                struct statfs tf;
                if (fstatfs(nfd, &tf) < 0 || tf.f_type != TMPFS_MAGIC)
                    return ctr_error_make(err, 0, "mount cgroup on %s: the new tmpfs is not there", dest);
                if (keep && chmod(fdp(nfd).p, under.st_mode & 07777) < 0)
                    return ctr_error_make(err, errno, "mount cgroup on %s: tmpfs", dest);
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
                if (cl >= sizeof(ctrls)) return ctr_error_make(err, 0, "mount cgroup: too many controllers in %s", mp);
            }
        }
        char sub[PATH_MAX];
        if (v2_host)
            snprintf(sub, sizeof(sub), "%s", target);
        else {
            snprintf(sub, sizeof(sub), "%s/%s", target, mp + 15);
            if (mkdir(sub, 0755) < 0 && errno != EEXIST)
                return ctr_error_make(err, errno, "mount cgroup: mkdir %s", sub);
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
                return ctr_error_make(err, errno, "mount cgroup on %s: bind %s", sub, src);
        }
        /* co-mounted controllers (cpu,cpuacct) get a link per name, as on the host */
        if (!v2 && strchr(ctrls, ',') && strncmp(ctrls, "name=", 5)) {
            char *save3, link[PATH_MAX];
            for (char *c = strtok_r(ctrls, ",", &save3); c; c = strtok_r(NULL, ",", &save3)) {
                snprintf(link, sizeof(link), "%s/%s", target, c);
                if (strcmp(c, mp + 15) && symlink(mp + 15, link) < 0 && errno != EEXIST)
                    return ctr_error_make(err, errno, "mount cgroup: symlink %s", link);
            }
        }
    }
    /* the tmpfs stays rw, the hierarchies in it read-only, as under runc */
    return 0;
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
static int mount_target(struct init_state *is, const struct ctr_mount *m, const char *type, struct ctr_error **err)
{
    struct stat st;
    bool src_is_file = m->bind && stat(m->source, &st) == 0 && !S_ISDIR(st.st_mode);
    int fd = ctr_mkpath_in_root(is->rootfd, m->dest, src_is_file);
    if (fd < 0)
        return ctr_error_make(err, 0, "mount %s: cannot resolve or create the mount point in the root: %s", m->dest, resolve_err(fd));
    struct statfs sf;
    if (fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC && strcmp(type, "proc") && !proc_mount_allowed(m->dest))
        return ctr_error_make(err, 0, "mount %s: the destination resolves into procfs: refused (a mount there could "
                 "redirect the runtime's writes to /proc)", m->dest);
    return fd;
}

static int do_mount(struct init_state *is, const struct ctr_mount *m, struct ctr_error **err)
{
    const char *type = m->type ? m->type : "none";
    cleanup_close int tfd = mount_target(is, m, type, err);
    if (tfd < 0)
        return -1;
    struct fdpath tp = fdp(tfd);
    const char *target = tp.p;
    unsigned long flags = m->flags;
    /* after a mount the fd still names the covered directory: reopen for
     * what applies to the new mount (remount, propagation, attributes) */
    cleanup_close int nfd = -1;
    if (m->bind) {
        if (mount(m->source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
            return ctr_error_make(err, errno, "bind mount %s on %s", m->source, m->dest);
        unsigned long re = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        if (re) {
            nfd = ctr_open_in_root(is->rootfd, m->dest, O_PATH);
            if (nfd < 0 || mount(NULL, fdp(nfd).p, NULL, MS_REMOUNT | MS_BIND | re, NULL) < 0)
                return ctr_error_make(err, 0, "remount %s with its options: %s", m->dest, strerror(nfd < 0 ? -nfd : errno));
        }
    } else if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        if (mount_cgroups(is, tfd, m->dest, flags, err) < 0)
            return -1;
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
            return ctr_error_make(err, errno, "mount sysfs on %s: bind the host's /sys read-only", m->dest);
        }
        if (!strcmp(type, "mqueue") && e == EPERM) {
            if (mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL) == 0)
                goto prop;
        }
        return ctr_error_make(err, 0, "mount %s (type %s) on %s: %s", m->source ? m->source : type, type, m->dest, strerror(e));
    }
prop:
    if (!m->prop && !m->rec_set && !m->rec_clr)
        return 0;
    if (nfd < 0 && (nfd = ctr_open_in_root(is->rootfd, m->dest, O_PATH)) < 0)
        return ctr_error_make(err, -nfd, "reopen %s after mounting it", m->dest);
    if (m->prop && mount(NULL, fdp(nfd).p, NULL, m->prop, NULL) < 0)
        return ctr_error_make(err, errno, "set propagation of %s", m->dest);
    if (m->rec_set || m->rec_clr) {
        struct mount_attr attr = { .attr_set = m->rec_set, .attr_clr = m->rec_clr };
        if (syscall(SYS_mount_setattr, nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            return ctr_error_make(err, errno, "recursive mount options of %s", m->dest);
    }
    return 0;
}

/* One node in the directory DIRFD (resolved inside the root): mknod, or in a
 * user namespace a bind of the host's node onto a file created there. */
static int make_dev(struct init_state *is, int dirfd, const char *path, mode_t type, unsigned maj, unsigned min,
                     mode_t mode, uid_t uid, gid_t gid, struct ctr_error **err)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    unlinkat(dirfd, name, 0);
    if (!is->userns && mknodat(dirfd, name, type | mode, makedev(maj, min)) == 0) {
        if (fchmodat(dirfd, name, mode, 0) < 0 || fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
            /* best effort, as before */
        }
        return 0;
    }
    /* in a user namespace mknod is refused: bind the host's node instead */
    int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    cleanup_close int tfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char host[PATH_MAX];
    snprintf(host, sizeof(host), "/dev/%s", path);
    struct stat st;
    if (tfd < 0 || fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode) || mount(host, fdp(tfd).p, NULL, MS_BIND, NULL) < 0)
        return ctr_error_make(err, 0, "create device /dev/%s: %s", path, tfd < 0 ? strerror(errno) : strerror(errno));
    return 0;
}

static int setup_dev(struct init_state *is, const struct ctr_spec *s, struct ctr_error **err)
{
    static const struct { const char *name; unsigned maj, min; } defs[] = {
        { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
        { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
    cleanup_close int devfd = ctr_open_in_root(is->rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        return ctr_error_make(err, -devfd, "open /dev in the root");
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
        if (make_dev(is, devfd, defs[i].name, S_IFCHR, defs[i].maj, defs[i].min, 0666, 0, 0, err) < 0)
            return -1;
    struct json_object *lin, *devs;
    if (json_object_object_get_ex(s->json, "linux", &lin) && json_object_object_get_ex(lin, "devices", &devs) &&
        json_object_is_type(devs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
            struct json_object *d = json_object_array_get_idx(devs, i), *v;
            const char *p = json_object_object_get_ex(d, "path", &v) ? json_object_get_string(v) : NULL;
            const char *t = json_object_object_get_ex(d, "type", &v) ? json_object_get_string(v) : "c";
            if (!p || strncmp(p, "/dev/", 5) || strstr(p, ".."))
                return ctr_error_make(err, 0, "config.json: linux.devices[%zu].path: \"%s\" must be under /dev", i, p ? p : "");
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
                return ctr_error_make(err, 0, "linux.devices[%zu]: create %s in the root: %s", i, parent, resolve_err(pfd));
            if (make_dev(is, pfd, p + 5, type, maj, min, mode & 07777, uid, gid, err) < 0)
                return -1;
        }
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
        { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
            return ctr_error_make(err, errno, "create /dev/%s", links[i][1]);
    struct stat st;
    if (fstatat(devfd, "pts/ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        unlinkat(devfd, "ptmx", 0);
        if (symlinkat("pts/ptmx", devfd, "ptmx") < 0)
            return ctr_error_make(err, errno, "create /dev/ptmx");
    }
    return 0;
}

/* maskedPaths: a directory gets an empty read-only tmpfs, anything else the
 * host's null device, through the fd opened and checked at start (never a
 * /dev/null of the rootfs, which an image can make a symlink: CVE-2025-31133) */
static int mask_paths(struct init_state *is, const struct ctr_spec *s, struct ctr_error **err)
{
    for (char **p = s->masked; p && *p; p++) {
        cleanup_close int fd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (fd == -ENOENT)
            continue;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return ctr_error_make(err, 0, "mask %s: %s", *p, fd < 0 ? strerror(-fd) : strerror(errno));
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", fdp(fd).p, "tmpfs", MS_RDONLY, "size=0k")
                                    : mount(fdp(is->nullfd).p, fdp(fd).p, NULL, MS_BIND, NULL);
        if (r < 0)
            return ctr_error_make(err, errno, "mask %s", *p);
    }
    return 0;
}

/* readonlyPaths: bound on themselves, read-only all the way down */
static int readonly_paths(struct init_state *is, const struct ctr_spec *s, struct ctr_error **err)
{
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
    for (char **p = s->readonly; p && *p; p++) {
        cleanup_close int fd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (fd == -ENOENT)
            continue;
        if (fd < 0 || mount(fdp(fd).p, fdp(fd).p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return ctr_error_make(err, 0, "make %s read-only: %s", *p, fd < 0 ? strerror(-fd) : strerror(errno));
        cleanup_close int nfd = ctr_open_in_root(is->rootfd, *p, O_PATH);
        if (nfd < 0 || syscall(SYS_mount_setattr, nfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof(ro)) < 0)
            return ctr_error_make(err, 0, "make %s read-only: %s", *p, nfd < 0 ? strerror(-nfd) : strerror(errno));
    }
    return 0;
}

/* linux.sysctl: written through the verified host procfs, never across a
 * mount or a symlink (the files under /proc/sys act on the writer's own
 * namespaces, so this is the container's sysctl: CVE-2025-52881) */
static int write_sysctls(struct init_state *is, const struct ctr_spec *s, struct ctr_error **err)
{
    for (char **kv = s->sysctl; kv && kv[0]; kv += 2) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "sys/%s", kv[0]);
        for (char *c = rel + 4; *c; c++)
            if (*c == '.') *c = '/';
        int r = ctr_proc_write(is->procfd, rel, kv[1]);
        if (r < 0)
            return ctr_error_make(err, 0, "linux.sysctl.%s: %s", kv[0],
                     r == -EXDEV ? "/proc/sys is covered by something else than procfs: refused" : strerror(-r));
    }
    return 0;
}

static int enter_root(struct init_state *is, const char *root, bool no_pivot, struct ctr_error **err)
{
    if (no_pivot) {
        if (chdir(root) < 0 || mount(root, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
            return ctr_error_make(err, errno, "chroot to %s", root);
        return 0;
    }
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0 || newroot < 0 || fchdir(newroot) < 0)
        return ctr_error_make(err, errno, "open the rootfs %s", root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return ctr_error_make(err, 0, "pivot_root to %s: %s (try --no-pivot on a ramfs root)", root, strerror(errno));
    if (fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return ctr_error_make(err, errno, "detach the old root");
    close(oldroot);
    close(newroot);
    return 0;
}

/* The spec's mounts (then /dev's nodes when /dev is one of them), while the
 * old root is still there; then the parent runs prestart and createRuntime,
 * and we run createContainer (runc's order). */
static int mount_and_create_hooks(struct init_state *is, const struct ctr_init_args *a, struct ctr_error **err)
{
    const struct ctr_spec *s = a->spec;
    int efd = is->efd;
    bool dev_mounted = false;
    for (size_t i = 0; i < s->nmounts; i++) {
        if (do_mount(is, &s->mounts[i], err) < 0)
            return -1;
        if (!strcmp(s->mounts[i].dest, "/dev"))
            dev_mounted = true;
    }
    if (dev_mounted)
        if (setup_dev(is, s, err) < 0)
            return -1;
    if (s->nhooks[CTR_HOOK_PRESTART] || s->nhooks[CTR_HOOK_CREATE_RUNTIME]) {
        char go = 0;
        if (write(efd, "H", 1) != 1 || read(efd, &go, 1) != 1 || go != 'C')
            _exit(1);
    }
    if (s->nhooks[CTR_HOOK_CREATE_CONTAINER]) {
        cleanup_free char *st = ctr_hook_state(a->id, a->bundle, "creating");
        if (ctr_hooks_run(s, CTR_HOOK_CREATE_CONTAINER, st, is->stage, err) < 0)
            return ctr_error_wrap(err, "hooks.createContainer");
    }
    return 0;
}

static int setup_rootfs(struct init_state *is, const struct ctr_init_args *a, struct ctr_error **err)
{
    const struct ctr_spec *s = a->spec;
    const char *root = s->root;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return ctr_error_make(err, errno, "make / a slave mount");
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        return ctr_error_make(err, errno, "bind mount the rootfs %s", root);
    is->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (is->rootfd < 0)
        return ctr_error_make(err, errno, "open the rootfs %s", root);
    if (mount_and_create_hooks(is, a, err) < 0)
        return -1;
    if (write_sysctls(is, s, err) < 0)
        return -1;
    if (mask_paths(is, s, err) < 0)
        return -1;
    if (readonly_paths(is, s, err) < 0)
        return -1;
    if (enter_root(is, root, a->opts->no_pivot, err) < 0)
        return -1;
    close(is->rootfd);
    is->rootfd = -1;
    if (s->root_ro && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        return ctr_error_make(err, errno, "make the root read-only");
    if (s->rootfs_prop && mount(NULL, "/", NULL, s->rootfs_prop, NULL) < 0)
        return ctr_error_make(err, errno, "set root propagation");
    return 0;
}

/* Without a mount namespace of its own the container shares the runtime's
 * (the spec's "inherited"): its mounts go under the root in that namespace
 * (`delete` detaches them), no masked paths or sysctls (the spec parser
 * refused them), the hooks as usual, then chroot into the root as runc and
 * crun do, since pivot_root would move the host's root. */
static int enter_root_shared_mntns(struct init_state *is, const struct ctr_init_args *a, struct ctr_error **err)
{
    const struct ctr_spec *s = a->spec;
    is->rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (is->rootfd < 0)
        return ctr_error_make(err, errno, "open the rootfs %s", s->root);
    if (mount_and_create_hooks(is, a, err) < 0)
        return -1;
    if (chdir(s->root) < 0 || chroot(".") < 0 || chdir("/") < 0)
        return ctr_error_make(err, errno, "chroot to %s", s->root);
    return 0;
}

static int set_caps(const struct ctr_process *p, struct ctr_error **err)
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
        return ctr_error_make(err, errno, "set capabilities");
    for (int c = 0; c < 64; c++)
        if (p->caps[4] & (1ULL << c))
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM)
                return ctr_error_make(err, errno, "raise ambient capability %d", c);
    /* like runc, an ambient capability that is not also inheritable is skipped */
    return 0;
}

/* process.terminal: the pty is bound on the container's /dev/console, the
 * fd of a file made there (a symlink or anything odd in its place is
 * replaced, never followed: CVE-2025-52565), from the fd of the pty checked
 * to be on devpts. Runs after pivot_root. */
static int bind_console(int slave, struct ctr_error **err)
{
    cleanup_close int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int devfd = rootfd < 0 ? -1 : ctr_open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        return 0;                            /* no /dev in the container */
    struct stat st;
    if (fstatat(devfd, "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
        unlinkat(devfd, "console", S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        return ctr_error_make(err, errno, "replace /dev/console");
    int f = openat(devfd, "console", O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
    if (f >= 0) close(f);
    cleanup_close int cfd = openat(devfd, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct statfs sf;
    if (cfd < 0 || fstat(cfd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)))
        return ctr_error_make(err, 0, "create /dev/console: %s", cfd < 0 ? strerror(errno) : "not a file");
    if (fstatfs(slave, &sf) < 0 || sf.f_type != DEVPTS_SUPER_MAGIC)
        return ctr_error_make(err, 0, "bind /dev/console: the pty is not on devpts");
    cleanup_close int tree = (int)syscall(SYS_open_tree, slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0 || syscall(SYS_move_mount, tree, "", cfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return ctr_error_make(err, errno, "bind the pty on /dev/console");
    return 0;
}

static int setup_console(int sock, bool console_dev, struct ctr_error **err)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return ctr_error_make(err, errno, "allocate a pty");
    char name[64];
    if (ptsname_r(master, name, sizeof(name)))
        return ctr_error_make(err, errno, "ptsname");
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0)
        return ctr_error_make(err, errno, "open %s", name);
    if (console_dev)
        if (bind_console(slave, err) < 0)
            return -1;
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
        return ctr_error_make(err, errno, "send the pty over the console socket");
    close(master);
    close(sock);
    setsid();
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return ctr_error_make(err, errno, "set the controlling terminal");
    dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
    if (slave > 2) close(slave);
    return 0;
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

/* The process settings of `p` that need the container's root: limits,
 * terminal, fds, cwd, capabilities, user, no_new_privs, umask; seccomp
 * too when it must come before the user changes (*seccomp_done). */
static int exec_setup(const struct ctr_exec_ctx *c, bool *seccomp_done, struct ctr_error **err)
{
    const struct ctr_process *p = c->proc;
    for (size_t i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
        if (setrlimit(p->rlimits[i].res, &rl) < 0)
            return ctr_error_make(err, 0, "process.rlimits: setting %s to %llu/%llu: %s (the hard limit here is lower; "
                                  "lower the value, e.g. podman --ulimit)", p->rlimits[i].name,
                                  (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, strerror(errno));
    }
    if (p->has_oom) {
        char v[16];
        snprintf(v, sizeof(v), "%d", p->oom_score_adj);
        int r = c->procfd >= 0 ? ctr_proc_write(c->procfd, "self/oom_score_adj", v) : -EBADF;
        if (r < 0)
            return ctr_error_make(err, -r, "process.oomScoreAdj");
    }
    if (c->procfd >= 0)
        close(c->procfd);
    if (c->console_fd >= 0) {
        if (setup_console(c->console_fd, c->id != NULL, err) < 0)
            return -1;
    } else if (p->terminal) {
        setsid();
    }
    /* nothing we hold may leak into the container: every fd but stdio, the
     * sync socket, the fifo's directory and --preserve-fds is close-on-exec
     * from here, and a cwd outside the root (through a leaked directory fd,
     * /proc/self/fd/N: CVE-2024-21626) is refused */
    mark_cloexec(c);
    if (chdir(p->cwd) < 0)
        return ctr_error_make(err, errno, "process.cwd: %s", p->cwd);
    char cwdbuf[PATH_MAX];
    if (!getcwd(cwdbuf, sizeof(cwdbuf)) || cwdbuf[0] != '/')
        return ctr_error_make(err, 0, "process.cwd: %s is not inside the container (refused)", p->cwd);
    if (p->has_caps) {
        for (int cap = 0; cap <= 63; cap++)
            if (!(p->caps[0] & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                return ctr_error_make(err, errno, "drop capability %d from the bounding set", cap);
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    }
    /* without no_new_privs a filter can be loaded only with CAP_SYS_ADMIN:
     * load it now, before the user and capabilities change (as runc does);
     * the rest of the set-up then runs under it. With no_new_privs, last. */
    *seccomp_done = c->spec->seccomp && !p->nnp;
    if (*seccomp_done && ctr_seccomp_load(c->spec->seccomp, err) < 0)
        return -1;
    if (setgroups(p->ngids, (const gid_t *)p->gids) < 0 && errno != EPERM)
        return ctr_error_make(err, errno, "process.user.additionalGids");
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return ctr_error_make(err, errno, "process.user.gid %u", p->gid);
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return ctr_error_make(err, errno, "process.user.uid %u", p->uid);
    if (p->has_caps && set_caps(p, err) < 0)
        return -1;
    if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return ctr_error_make(err, errno, "no_new_privs");
    if (p->has_umask)
        umask(p->umask);
    return 0;
}

/* The program to run, looked up in the process's PATH now, so that an error
 * can still reach `create`: in FOUND (or args[0] itself). */
static int exec_find(const struct ctr_process *p, char *found, size_t cap, struct ctr_error **err)
{
    const char *prog = p->args[0];
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) < 0)
            return ctr_error_make(err, 0, "exec: \"%s\": %s", prog, strerror(errno));
        snprintf(found, cap, "%s", prog);
        return 0;
    }
    const char *path = env_get(p->env, "PATH");
    cleanup_free char *copy = xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    char *save;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(found, cap, "%s/%s", dir, prog);
        if (access(found, X_OK) == 0)
            return 0;
    }
    return ctr_error_make(err, 0, "exec: \"%s\": executable file not found in $PATH", prog);
}

void ctr_exec_process(const struct ctr_exec_ctx *c)
{
    const struct ctr_process *p = c->proc;
    int efd = c->err_fd;
    struct ctr_error *err = NULL;
    int stage = c->stage_fd >= 0 ? c->stage_fd : ctr_exec_stage_open();
    if (stage < 0) {
        ctr_error_make(&err, -stage, "create the runtime's sealed exec stage");
        ctr_child_fail(efd, &err);
    }
    bool seccomp_done = false;
    char prog[PATH_MAX];
    if (exec_setup(c, &seccomp_done, &err) < 0 || exec_find(p, prog, sizeof(prog), &err) < 0)
        ctr_child_fail(efd, &err);
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
        if (ctr_hooks_run(c->spec, CTR_HOOK_START_CONTAINER, st, stage, &err) < 0)
            ctr_child_fail(-1, &err);
    }
    /* `create` no longer listens: a late seccomp error goes to the log */
    if (c->spec->seccomp && !seccomp_done && ctr_seccomp_load(c->spec->seccomp, &err) < 0)
        ctr_child_fail(-1, &err);
    /* through the sealed stage, never from this process (CVE-2019-5736);
     * an error of that execve is logged by the stage */
    int e = ctr_exec_staged(stage, prog, p->args, p->env ? p->env : (char *[]){ NULL }, true);
    ctr_error_make(&err, -e, "exec %s: the runtime's sealed exec stage", prog);
    ctr_child_fail(-1, &err);
}

static const int ns_flags[CTR_NS_COUNT] = {
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUTS,
    CLONE_NEWUSER, CLONE_NEWCGROUP, CLONE_NEWTIME };

/* What init opens before it enters anything: the exec stage, the host's
 * procfs and /dev/null (verified), the console socket. */
static int init_open(struct init_state *is, const struct ctr_init_args *a, int *console, struct ctr_error **err)
{
    const struct ctr_spec *s = a->spec;
    is->stage = ctr_exec_stage_open();
    if (is->stage < 0)
        return ctr_error_make(err, -is->stage, "create the runtime's sealed exec stage");
    is->procfd = ctr_proc_root();
    if (is->procfd < 0)
        return ctr_error_make(err, 0, "open /proc: %s", is->procfd == -EXDEV ? "it is not procfs" : strerror(-is->procfd));
    is->nullfd = open("/dev/null", O_PATH | O_CLOEXEC);
    struct stat nst;
    if (is->nullfd < 0 || fstat(is->nullfd, &nst) < 0 || !S_ISCHR(nst.st_mode) || nst.st_rdev != makedev(1, 3))
        return ctr_error_make(err, 0, "the host's /dev/null is not the null device (1:3)");
    if (s->proc.terminal && a->opts->console_socket) {
        *console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un { sa_family_t fam; char path[108]; } sa = { AF_UNIX, "" };
        snprintf(sa.path, sizeof(sa.path), "%s", a->opts->console_socket);
        if (*console < 0 || connect(*console, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return ctr_error_make(err, errno, "connect to the console socket %s", a->opts->console_socket);
    } else if (s->proc.terminal && a->console_fd >= 0) {
        *console = a->console_fd;      /* a foreground run: the runtime proxies the pty */
    }
    /* the parent has put us in our cgroups: remember where, for the cgroup mount */
    int cfd = ctr_proc_open(is->procfd, "self/cgroup", O_RDONLY);
    if (cfd >= 0) {
        ssize_t n = read_full(cfd, is->cgroup_paths, sizeof(is->cgroup_paths) - 1);
        is->cgroup_paths[n > 0 ? n : 0] = 0;
        close(cfd);
    }
    return 0;
}

/* The namespaces: those named by path joined (user first, mount last; pid
 * was joined by the parent), new cgroup and time ones, the uts names. */
static int init_namespaces(struct init_state *is, const struct ctr_spec *s, struct ctr_error **err)
{
    static const int order[] = { CTR_NS_USER, CTR_NS_IPC, CTR_NS_UTS, CTR_NS_NET, CTR_NS_CGROUP, CTR_NS_TIME, CTR_NS_MNT };
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        int k = order[i];
        if (!s->ns_on[k] || !s->ns_path[k])
            continue;
        int fd = open(s->ns_path[k], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, ns_flags[k]) < 0)
            return ctr_error_make(err, errno, "join namespace %s", s->ns_path[k]);
        close(fd);
    }
    is->userns = s->ns_on[CTR_NS_USER];
    if (is->userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        return ctr_error_make(err, 0, "become root in the user namespace: %s (check linux.uidMappings)", strerror(errno));
    /* a new cgroup namespace only now, so that its root is the container's cgroup */
    if (s->ns_on[CTR_NS_CGROUP] && !s->ns_path[CTR_NS_CGROUP]) {
        if (unshare(CLONE_NEWCGROUP) < 0)
            return ctr_error_make(err, errno, "create the cgroup namespace");
        is->cgroupns_new = true;
    }
    /* a new time namespace applies to our children and, from execve on, to us;
     * its offsets can be set only before any process is in it */
    if (s->ns_on[CTR_NS_TIME] && !s->ns_path[CTR_NS_TIME]) {
        if (unshare(CLONE_NEWTIME) < 0)
            return ctr_error_make(err, errno, "create the time namespace");
        if (s->has_time_off) {
            char v[128];
            snprintf(v, sizeof(v), "monotonic %lld %lld\nboottime %lld %lld\n",
                     (long long)s->time_off[0][0], (long long)s->time_off[0][1],
                     (long long)s->time_off[1][0], (long long)s->time_off[1][1]);
            int r = ctr_proc_write(is->procfd, "self/timens_offsets", v);
            if (r < 0)
                return ctr_error_make(err, -r, "linux.timeOffsets: write /proc/self/timens_offsets");
        }
    }
    if (s->ns_on[CTR_NS_UTS]) {
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
            return ctr_error_make(err, errno, "hostname \"%s\"", s->hostname);
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
            return ctr_error_make(err, errno, "domainname \"%s\"", s->domainname);
    } else if (s->hostname) {
        return ctr_error_make(err, 0, "config.json: hostname: setting a hostname needs a uts namespace");
    }
    return 0;
}

int ctr_init(void *arg)
{
    struct ctr_init_args *a = arg;
    const struct ctr_spec *s = a->spec;
    int efd = a->sync_fd;
    char go;
    for (int i = 0; i < 2; i++)
        if (a->parent_fds[i] >= 0)
            close(a->parent_fds[i]);
    if (read(efd, &go, 1) != 1 || go != 'G')
        _exit(1);
    /* from here (the parent has written our id maps, which an unprivileged
     * parent can do only while we are dumpable) no one in the container's
     * namespaces may ptrace us or open our /proc/PID files (exe, fds) while
     * we set it up; execve resets this */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct init_state *is = xzalloc(sizeof(*is));
    struct ctr_error *err = NULL;
    int console = -1;
    is->efd = efd;
    is->rootfd = -1;
    if (init_open(is, a, &console, &err) < 0 || init_namespaces(is, s, &err) < 0 ||
        (s->ns_on[CTR_NS_MNT] ? setup_rootfs(is, a, &err) : enter_root_shared_mntns(is, a, &err)) < 0)
        ctr_child_fail(efd, &err);
    struct ctr_exec_ctx c = { s, &s->proc, efd, console, a->fifo_dirfd, a->opts->preserve_fds, a->id, a->bundle,
                              is->procfd, is->stage };
    close(is->nullfd);
    free(is);
    ctr_exec_process(&c);
}

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

static bool cgroupns_new;        /* the container has a cgroup namespace of its own */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* Resolve a container path under root; refuse one that escapes it through
 * symlinks ("..", absolute links). */
static void target_in_root(int efd, const char *root, const char *dest, char *out, size_t len)
{
    char real[PATH_MAX];
    snprintf(out, len, "%s%s", root, dest);
    if (realpath(out, real) && strncmp(real, root, strlen(root)))
        ctr_fail(efd, "mount destination %s resolves to %s, outside the container root", dest, real);
}

/* /proc/self/cgroup as it was before the cgroup namespace was unshared:
 * the host paths of the container's cgroups, to bind them without a cgroupns. */
static char cgroup_paths[4096];

static const char *host_cgroup_of(const char *ctrls)
{
    size_t n = strlen(ctrls);
    for (const char *l = cgroup_paths; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *c = strchr(l, ':');
        if (!c) break;
        c++;
        if (!strncmp(c, ctrls, n) && c[n] == ':') {
            static char path[PATH_MAX];
            const char *p = c + n + 1, *e = strchr(p, '\n');
            snprintf(path, sizeof(path), "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
            return path;
        }
    }
    return "/";
}

/* The cgroup mount of the spec: a tmpfs with one directory per host
 * hierarchy (v1 controllers, named ones, the cgroup2 mount of a hybrid
 * layout; or just cgroup2 on a v2 host), each showing the container's own
 * cgroup: mounted afresh inside a cgroup namespace, bound from the host
 * without one (or when the mount is refused, as in a user namespace). */
static void mount_cgroups(int efd, const char *target, unsigned long flags)
{
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
        if (!tmpfs_done && !v2_host) {
            /* a writable tmpfs that keeps the mode of the directory it
             * covers (sysfs's, 0555), as runc mounts every tmpfs */
            struct stat under;
            bool keep = stat(target, &under) == 0;
            if (mount("tmpfs", target, "tmpfs", f, "mode=755") < 0 ||
                (keep && chmod(target, under.st_mode & 07777) < 0))
                ctr_fail(efd, "mount cgroup on %s: tmpfs: %s", target, strerror(errno));
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
        if (cgroupns_new)
            r = v2 ? mount("cgroup2", sub, "cgroup2", f | (flags & MS_RDONLY), NULL)
                   : mount("cgroup", sub, "cgroup", f | (flags & MS_RDONLY), ctrls);
        if (r < 0) {
            /* /proc/self/cgroup names a v1 hierarchy by its controllers, cgroup2 by "" */
            char src[PATH_MAX * 2];
            snprintf(src, sizeof(src), "%s%s", mp, host_cgroup_of(v2 ? "" : ctrls));
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

static void do_mount(int efd, const char *root, const struct ctr_mount *m, bool userns)
{
    char target[PATH_MAX];
    target_in_root(efd, root, m->dest, target, sizeof(target));
    struct stat st;
    bool src_is_file = m->bind && stat(m->source, &st) == 0 && !S_ISDIR(st.st_mode);
    if (src_is_file) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", target);
        char *slash = strrchr(dir, '/');
        if (slash) { *slash = 0; mkdir_p(dir, 0755); }
        int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
    } else if (mkdir_p(target, 0755) < 0) {
        ctr_fail(efd, "mount %s: cannot create the mount point: %s", m->dest, strerror(errno));
    }
    const char *type = m->type ? m->type : "none";
    unsigned long flags = m->flags;
    if (m->bind) {
        if (mount(m->source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
            ctr_fail(efd, "bind mount %s on %s: %s", m->source, m->dest, strerror(errno));
        unsigned long re = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
        if (re && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | re, NULL) < 0)
            ctr_fail(efd, "remount %s with its options: %s", m->dest, strerror(errno));
    } else if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        mount_cgroups(efd, target, flags);
    } else if (mount(m->source ? m->source : type, target, type, flags, m->data) < 0) {
        int e = errno;
        if (!strcmp(type, "sysfs") && (e == EPERM || userns)) {
            /* no sysfs of our own without a network namespace we own: bind the host's */
            if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) == 0 &&
                mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
                goto prop;
        }
        if (!strcmp(type, "mqueue") && e == EPERM) {
            if (mount("/dev/mqueue", target, NULL, MS_BIND | MS_REC, NULL) == 0)
                goto prop;
        }
        ctr_fail(efd, "mount %s (type %s) on %s: %s", m->source ? m->source : type, type, m->dest, strerror(e));
    }
prop:
    if (m->prop && mount(NULL, target, NULL, m->prop, NULL) < 0)
        ctr_fail(efd, "set propagation of %s: %s", m->dest, strerror(errno));
    if (m->rec_set || m->rec_clr) {
        struct mount_attr attr = { .attr_set = m->rec_set, .attr_clr = m->rec_clr };
        if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            ctr_fail(efd, "recursive mount options of %s: %s", m->dest, strerror(errno));
    }
}

static void make_dev(int efd, const char *root, const char *name, mode_t type, unsigned maj, unsigned min,
                     mode_t mode, uid_t uid, gid_t gid, bool userns)
{
    char path[PATH_MAX], host[PATH_MAX];
    snprintf(path, sizeof(path), "%s/dev/%s", root, name);
    unlink(path);
    if (!userns && mknod(path, type | mode, makedev(maj, min)) == 0) {
        chmod(path, mode);
        if (chown(path, uid, gid) < 0) { /* best effort */ }
        return;
    }
    /* in a user namespace mknod is refused: bind the host's node instead */
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    snprintf(host, sizeof(host), "/dev/%s", name);
    if (mount(host, path, NULL, MS_BIND, NULL) < 0)
        ctr_fail(efd, "create device /dev/%s: %s", name, strerror(errno));
}

static void setup_dev(int efd, const struct ctr_spec *s, bool userns)
{
    static const struct { const char *name; unsigned maj, min; } defs[] = {
        { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
        { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
    char path[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
        make_dev(efd, s->root, defs[i].name, S_IFCHR, defs[i].maj, defs[i].min, 0666, 0, 0, userns);
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
            snprintf(path, sizeof(path), "%s%s", s->root, p);
            char *slash = strrchr(path, '/');
            *slash = 0; mkdir_p(path, 0755); *slash = '/';
            make_dev(efd, s->root, p + 5, type, maj, min, mode & 07777, uid, gid, userns);
        }
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
        { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        snprintf(path, sizeof(path), "%s/dev/%s", s->root, links[i][1]);
        if (symlink(links[i][0], path) < 0 && errno != EEXIST)
            ctr_fail(efd, "create /dev/%s: %s", links[i][1], strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/dev/pts/ptmx", s->root);
    if (access(path, F_OK) == 0) {
        snprintf(path, sizeof(path), "%s/dev/ptmx", s->root);
        unlink(path);
        if (symlink("pts/ptmx", path) < 0)
            ctr_fail(efd, "create /dev/ptmx: %s", strerror(errno));
    }
}

/* The state given on stdin to the hooks that run inside the container
 * (createContainer, startContainer): runc's fields, the pid as seen there. */
static char *hook_state(const char *id, const char *bundle, const char *status)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "status", json_object_new_string(status));
    json_object_object_add(o, "pid", json_object_new_int(getpid()));
    json_object_object_add(o, "bundle", json_object_new_string(bundle));
    char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return t;
}

static void setup_rootfs(int efd, const struct ctr_init_args *a, bool userns)
{
    const struct ctr_spec *s = a->spec;
    bool no_pivot = a->opts->no_pivot;
    const char *root = s->root;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        ctr_fail(efd, "make / a slave mount: %s", strerror(errno));
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        ctr_fail(efd, "bind mount the rootfs %s: %s", root, strerror(errno));
    bool dev_mounted = false;
    for (size_t i = 0; i < s->nmounts; i++) {
        do_mount(efd, root, &s->mounts[i], userns);
        if (!strcmp(s->mounts[i].dest, "/dev"))
            dev_mounted = true;
    }
    if (dev_mounted)
        setup_dev(efd, s, userns);
    /* the mounts are done and the old root is still there: the parent runs
     * prestart and createRuntime now, then we run createContainer (runc's order) */
    if (s->nhooks[CTR_HOOK_PRESTART] || s->nhooks[CTR_HOOK_CREATE_RUNTIME]) {
        char go = 0;
        if (write(efd, "H", 1) != 1 || read(efd, &go, 1) != 1 || go != 'C')
            _exit(1);
    }
    if (s->nhooks[CTR_HOOK_CREATE_CONTAINER]) {
        cleanup_free char *st = hook_state(a->id, a->bundle, "creating");
        if (ctr_hooks_run(s, CTR_HOOK_CREATE_CONTAINER, st) < 0)
            ctr_fail(efd, "hooks.createContainer failed");
    }
    if (no_pivot) {
        if (chdir(root) < 0 || mount(root, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
            ctr_fail(efd, "chroot to %s: %s", root, strerror(errno));
    } else {
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
    for (char **kv = s->sysctl; kv && kv[0]; kv += 2) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/proc/sys/%s", kv[0]);
        for (char *c = path + 10; *c; c++)
            if (*c == '.') *c = '/';
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, kv[1], strlen(kv[1])) < 0)
            ctr_fail(efd, "linux.sysctl.%s: %s", kv[0], strerror(errno));
        close(fd);
    }
    for (char **p = s->masked; p && *p; p++) {
        struct stat st;
        if (stat(*p, &st) < 0)
            continue;
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", *p, "tmpfs", MS_RDONLY, "size=0k")
                                    : mount("/dev/null", *p, NULL, MS_BIND, NULL);
        if (r < 0)
            ctr_fail(efd, "mask %s: %s", *p, strerror(errno));
    }
    for (char **p = s->readonly; p && *p; p++) {
        if (access(*p, F_OK) < 0)
            continue;
        if (mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, *p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            ctr_fail(efd, "make %s read-only: %s", *p, strerror(errno));
    }
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
static void enter_root_shared_mntns(int efd, const struct ctr_init_args *a, bool userns)
{
    const struct ctr_spec *s = a->spec;
    bool dev_mounted = false;
    for (size_t i = 0; i < s->nmounts; i++) {
        do_mount(efd, s->root, &s->mounts[i], userns);
        if (!strcmp(s->mounts[i].dest, "/dev"))
            dev_mounted = true;
    }
    if (dev_mounted)
        setup_dev(efd, s, userns);
    if (s->nhooks[CTR_HOOK_PRESTART] || s->nhooks[CTR_HOOK_CREATE_RUNTIME]) {
        char go = 0;
        if (write(efd, "H", 1) != 1 || read(efd, &go, 1) != 1 || go != 'C')
            _exit(1);
    }
    if (s->nhooks[CTR_HOOK_CREATE_CONTAINER]) {
        cleanup_free char *st = hook_state(a->id, a->bundle, "creating");
        if (ctr_hooks_run(s, CTR_HOOK_CREATE_CONTAINER, st) < 0)
            ctr_fail(efd, "hooks.createContainer failed");
    }
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

static void setup_console(int efd, int sock)
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
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, strlen(v)) < 0)
            ctr_fail(efd, "process.oomScoreAdj: %s", strerror(errno));
        close(fd);
    }
    if (c->console_fd >= 0)
        setup_console(efd, c->console_fd);
    else if (p->terminal)
        setsid();
    if (chdir(p->cwd) < 0)
        ctr_fail(efd, "process.cwd: %s: %s", p->cwd, strerror(errno));
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
    /* close what we inherited beyond stdio and --preserve-fds */
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            int fd = atoi(de->d_name);
            if (fd >= 3 + c->preserve_fds && fd != dirfd(d) && fd != c->fifo_fd && fd != efd)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            else if (fd >= 3 && fd < 3 + c->preserve_fds)
                fcntl(fd, F_SETFD, 0);
        }
        closedir(d);
    }
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
        cleanup_free char *st = hook_state(c->id, c->bundle, "created");
        if (ctr_hooks_run(c->spec, CTR_HOOK_START_CONTAINER, st) < 0)
            _exit(1);
    }
    if (c->spec->seccomp && !seccomp_early)
        load_seccomp(c, false);
    execve(prog, p->args, p->env ? p->env : (char *[]){ NULL });
    log_error("exec %s: %s", prog, strerror(errno));
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
    int cfd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) {
        ssize_t n = read_full(cfd, cgroup_paths, sizeof(cgroup_paths) - 1);
        cgroup_paths[n > 0 ? n : 0] = 0;
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
    if (userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        ctr_fail(efd, "become root in the user namespace: %s (check linux.uidMappings)", strerror(errno));
    /* a new cgroup namespace only now, so that its root is the container's cgroup */
    if (s->ns_on[CTR_NS_CGROUP] && !s->ns_path[CTR_NS_CGROUP]) {
        if (unshare(CLONE_NEWCGROUP) < 0)
            ctr_fail(efd, "create the cgroup namespace: %s", strerror(errno));
        cgroupns_new = true;
    }
    /* a new time namespace applies to our children and, from execve on, to us;
     * its offsets can be set only before any process is in it */
    if (s->ns_on[CTR_NS_TIME] && !s->ns_path[CTR_NS_TIME]) {
        if (unshare(CLONE_NEWTIME) < 0)
            ctr_fail(efd, "create the time namespace: %s", strerror(errno));
        if (s->has_time_off) {
            char v[128];
            int len = snprintf(v, sizeof(v), "monotonic %lld %lld\nboottime %lld %lld\n",
                               (long long)s->time_off[0][0], (long long)s->time_off[0][1],
                               (long long)s->time_off[1][0], (long long)s->time_off[1][1]);
            int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, v, (size_t)len) != len)
                ctr_fail(efd, "linux.timeOffsets: write /proc/self/timens_offsets: %s", strerror(errno));
            close(fd);
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
        setup_rootfs(efd, a, userns);
    else
        enter_root_shared_mntns(efd, a, userns);
    struct ctr_exec_ctx c = { s, &s->proc, efd, console, a->fifo_dirfd, a->opts->preserve_fds, a->id, a->bundle };
    ctr_exec_process(&c);
}

/* ctr: cgroups, v1 (one hierarchy per controller), v2 (unified), and the
 * hybrid layout (v1 controllers plus a controller-less cgroup2 mount), where
 * the v1 controllers are the ones that count. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#define CG_ROOT "/sys/fs/cgroup"     /* the default root; tests point the code at a fake tree */

/* v1 hierarchies by their directory under /sys/fs/cgroup; "systemd" (the
 * named hierarchy) and "unified" (the cgroup2 mount of the hybrid layout)
 * hold no controller we set, but the container joins them too, as under runc,
 * so that its processes are grouped in every hierarchy of the host. */
static const char *const v1_ctrls[] = {
    "memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer",
    "net_cls", "net_prio", "perf_event", "hugetlb", "systemd", "unified" };

struct ctr_cgroup {
    bool v2;
    char *root;                          /* "/sys/fs/cgroup" */
    char *rel;                           /* e.g. "/vessel/ID" */
};

static bool has_file(const char *dir, const char *file)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* A cgroup2 root has cgroup.controllers; the tmpfs of a v1 or hybrid layout
 * has none. Read from the files rather than statfs, so that a fake tree in
 * a temporary directory is seen as the real one would be. */
static bool is_v2(const char *root)
{
    return has_file(root, "cgroup.controllers");
}

static int cg_write(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return write_str(path, val);
}

static int read_str(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t r = read(fd, buf, len - 1);
    close(fd);
    if (r < 0)
        return -errno;
    buf[r] = 0;
    while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
        buf[--r] = 0;
    return 0;
}

/* Directories of this cgroup, one per hierarchy that has it (deduplicated:
 * cpu and cpuacct are often the same mount). */
static size_t cg_dirs(const struct ctr_cgroup *cg, char dirs[][PATH_MAX], const char **names)
{
    if (cg->v2) {
        snprintf(dirs[0], PATH_MAX, "%s%s", cg->root, cg->rel);
        names[0] = "unified";
        return 1;
    }
    size_t n = 0;
    char seen[ARRAY_SIZE(v1_ctrls)][PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++) {
        char base[PATH_MAX], real[PATH_MAX];
        snprintf(base, sizeof(base), "%s/%s", cg->root, v1_ctrls[i]);
        if (!realpath(base, real) || !has_file(real, "cgroup.procs"))
            continue;          /* absent, or a bare directory where nothing is mounted */
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            if (!strcmp(seen[j], real))
                dup = true;
        if (dup)
            continue;
        strcpy(seen[n], real);
        snprintf(dirs[n], PATH_MAX, "%s%s", real, cg->rel);
        names[n] = v1_ctrls[i];
        n++;
    }
    return n;
}

/* cpuset: every level needs cpus and mems before a task can join. */
static void cpuset_init(const char *root, const char *rel)
{
    char path[PATH_MAX], parent[PATH_MAX], buf[256];
    snprintf(parent, sizeof(parent), "%s", root);
    const char *p = rel;
    while (*p) {
        const char *slash = strchr(p + 1, '/');
        size_t len = slash ? (size_t)(slash - rel) : strlen(rel);
        snprintf(path, sizeof(path), "%s%.*s", root, (int)len, rel);
        for (int k = 0; k < 2; k++) {
            const char *f = k ? "cpuset.mems" : "cpuset.cpus";
            if (read_str(path, f, buf, sizeof(buf)) == 0 && !buf[0] &&
                read_str(parent, f, buf, sizeof(buf)) == 0)
                cg_write(path, f, buf);
        }
        snprintf(parent, sizeof(parent), "%s", path);
        if (!slash) break;
        p = slash;
    }
}

/* The cgroup exists already, in any hierarchy, with a process in it. */
static bool cg_in_use(struct ctr_cgroup *cg)
{
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX], buf[64];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    for (size_t i = 0; i < n; i++)
        if (read_str(dirs[i], "cgroup.procs", buf, sizeof(buf)) == 0 && buf[0])
            return true;
    return false;
}

struct ctr_cgroup *ctr_cgroup_create(const struct ctr_spec *s, const char *id, struct ctr_error **err)
{
    return ctr_cgroup_create_at(CG_ROOT, s, id, err);
}

struct ctr_cgroup *ctr_cgroup_create_at(const char *root, const struct ctr_spec *s, const char *id, struct ctr_error **err)
{
    struct ctr_cgroup *cg = xzalloc(sizeof(*cg));
    cg->root = xstrdup(root);
    cg->v2 = is_v2(root);
    const char *p = s->cgroups_path;
    if (!p || !*p)
        cg->rel = xasprintf("/vessel/%s", id);
    else if (strchr(p, ':') && p[0] != '/')      /* systemd style slice:prefix:name */
        cg->rel = xasprintf("/vessel/%s", id);
    else
        cg->rel = xasprintf("%s%s", p[0] == '/' ? "" : "/", p);
    if (strstr(cg->rel, "/..")) {
        ctr_error_make(err, 0, "config.json: linux.cgroupsPath: \"%s\" escapes the cgroup root", p);
        goto fail;
    }
    if (!cg->rel[strspn(cg->rel, "/")]) {
        ctr_error_make(err, 0, "config.json: linux.cgroupsPath: \"%s\" is the root of the hierarchy: give a cgroup of its own", p);
        goto fail;
    }
    if (cg_in_use(cg)) {
        if (p && *p)
            ctr_error_make(err, 0, "config.json: linux.cgroupsPath: \"%s\" is an existing cgroup that holds processes: "
                      "refused (they would be killed with the container)", p);
        else
            ctr_error_make(err, 0, "cgroup %s exists and holds processes (another container of the same id?): "
                      "refused (they would be killed with this one)", cg->rel);
        goto fail;
    }
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    if (cg->v2) {
        /* enable the controllers we use all the way down */
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s", cg->root);
        char *rel = xstrdup(cg->rel), *save, *tok;
        for (tok = strtok_r(rel, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
            cg_write(path, "cgroup.subtree_control", "+memory +pids +cpu +cpuset +io");
            size_t l = strlen(path);
            snprintf(path + l, sizeof(path) - l, "/%s", tok);
            if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                ctr_error_make(err, errno, "cannot create cgroup %s", path);
                free(rel);
                goto fail;
            }
        }
        free(rel);
        return cg;
    }
    for (size_t i = 0; i < n; i++) {
        int r = mkdir_parents(dirs[i], 0755);
        if (r < 0 && geteuid() != 0) {
            /* rootless: no cgroup unless one was delegated to us */
            log_debug("rootless: no cgroup %s: %s", dirs[i], strerror(-r));
            ctr_cgroup_destroy(cg);
            return NULL;
        }
        if (r < 0) {
            ctr_error_make(err, -r, "cannot create cgroup %s", dirs[i]);
            ctr_cgroup_destroy(cg);
            return NULL;
        }
        if (!strcmp(names[i], "cpuset")) {
            char root[PATH_MAX];
            snprintf(root, sizeof(root), "%.*s", (int)(strlen(dirs[i]) - strlen(cg->rel)), dirs[i]);
            cpuset_init(root, cg->rel);
        }
    }
    return cg;
fail:
    ctr_cgroup_free(cg);
    return NULL;
}

int ctr_cgroup_add(struct ctr_cgroup *cg, pid_t pid, struct ctr_error **err)
{
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX], val[32];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    snprintf(val, sizeof(val), "%d", pid);
    for (size_t i = 0; i < n; i++) {
        int r = cg_write(dirs[i], "cgroup.procs", val);
        if (r < 0) {
            ctr_error_make(err, -r, "cannot add process %d to cgroup %s", pid, dirs[i]);
            return r;
        }
    }
    return 0;
}

static int set(const char *dir, const char *file, const char *what, const char *fmt, long long v, struct ctr_error **err)
{
    char val[64];
    snprintf(val, sizeof(val), fmt, v);
    int r = cg_write(dir, file, val);
    if (r == -EBUSY && strstr(file, "limit"))   /* v1: below what is charged already */
        ctr_error_make(err, 0, "config.json: %s (%s) is too low: below the container's memory usage "
                  "(%s/%s: %s)", what, val, dir, file, strerror(-r));
    else if (r < 0)
        ctr_error_make(err, -r, "config.json: %s: cannot set %s/%s to %s", what, dir, file, val);
    return r;
}

static int set_s(const char *dir, const char *file, const char *what, const char *val, struct ctr_error **err)
{
    int r = cg_write(dir, file, val);
    if (r < 0)
        ctr_error_make(err, 0, "config.json: %s: cannot set %s/%s to \"%s\": %s", what, dir, file, val, strerror(-r));
    return r;
}

static int devices_v1(const char *dir, struct json_object *devs)
{
    /* appended after the configured rules, as runc does: mknod of anything,
     * null zero full random urandom tty, ptmx and the ptys, tun */
    static const char *const defaults[] = {
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm" };
    for (size_t i = 0; i < json_object_array_length(devs); i++) {
        struct json_object *d = json_object_array_get_idx(devs, i), *v;
        bool allow = json_object_object_get_ex(d, "allow", &v) && json_object_get_boolean(v);
        const char *type = json_object_object_get_ex(d, "type", &v) ? json_object_get_string(v) : "a";
        const char *access = json_object_object_get_ex(d, "access", &v) ? json_object_get_string(v) : "rwm";
        char maj[16] = "*", min[16] = "*", rule[64];
        if (json_object_object_get_ex(d, "major", &v) && json_object_get_int64(v) >= 0)
            snprintf(maj, sizeof(maj), "%lld", (long long)json_object_get_int64(v));
        if (json_object_object_get_ex(d, "minor", &v) && json_object_get_int64(v) >= 0)
            snprintf(min, sizeof(min), "%lld", (long long)json_object_get_int64(v));
        if (!strcmp(type, "a"))
            snprintf(rule, sizeof(rule), "a");
        else
            snprintf(rule, sizeof(rule), "%s %s:%s %s", type, maj, min, access);
        if (cg_write(dir, allow ? "devices.allow" : "devices.deny", rule) < 0)
            log_warn("linux.resources.devices[%zu]: cannot apply \"%s\"", i, rule);
    }
    for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
        cg_write(dir, "devices.allow", defaults[i]);
    return 0;
}

/* linux.resources.blockIO: weight, per-device weights and throttles; v1
 * blkio.* (blkio.bfq.* when the kernel has only BFQ's), v2 io.weight/io.max. */
static int blkio_apply(const char *d, struct json_object *b, bool v2, struct ctr_error **err)
{
    int r = 0;
    struct json_object *v;
    if (json_object_object_get_ex(b, "weight", &v) && json_object_is_type(v, json_type_int)) {
        long long w = json_object_get_int64(v);
        const char *f = v2 ? (has_file(d, "io.bfq.weight") ? "io.bfq.weight" : "io.weight")
                           : (has_file(d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight");
        if (v2 && !strcmp(f, "io.weight"))
            w = 1 + (w - 10) * 9999 / 990;     /* [10, 1000] -> [1, 10000], as runc */
        r |= set(d, f, "linux.resources.blockIO.weight", "%lld", w, err);
    }
    static const struct { const char *key, *v1file, *v2key; } lists[] = {
        { "weightDevice", NULL, NULL },
        { "throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps" },
        { "throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps" },
        { "throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops" },
        { "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops" } };
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        struct json_object *arr;
        if (!json_object_object_get_ex(b, lists[l].key, &arr) || !json_object_is_type(arr, json_type_array))
            continue;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *e = json_object_array_get_idx(arr, i), *x;
            long long maj = json_object_object_get_ex(e, "major", &x) ? json_object_get_int64(x) : 0;
            long long min = json_object_object_get_ex(e, "minor", &x) ? json_object_get_int64(x) : 0;
            long long val = json_object_object_get_ex(e, l ? "rate" : "weight", &x) ? json_object_get_int64(x) : 0;
            char what[96], line[96];
            const char *file;
            snprintf(what, sizeof(what), "linux.resources.blockIO.%s[%zu]", lists[l].key, i);
            if (l == 0) {
                file = v2 ? (has_file(d, "io.bfq.weight") ? "io.bfq.weight" : "io.weight")
                          : (has_file(d, "blkio.weight_device") ? "blkio.weight_device" : "blkio.bfq.weight_device");
                if (v2 && !strcmp(file, "io.weight"))
                    val = 1 + (val - 10) * 9999 / 990;
                snprintf(line, sizeof(line), "%lld:%lld %lld", maj, min, val);
            } else if (v2) {
                file = "io.max";
                snprintf(line, sizeof(line), "%lld:%lld %s=%lld", maj, min, lists[l].v2key, val);
            } else {
                file = lists[l].v1file;
                snprintf(line, sizeof(line), "%lld:%lld %lld", maj, min, val);
            }
            r |= set_s(d, file, what, line, err);
        }
    }
    return r;
}

/* The controller directory of a v1 hierarchy among cg_dirs(), or NULL. */
static const char *v1_dir(char dirs[][PATH_MAX], const char **names, size_t n, const char *ctrl)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], ctrl))
            return dirs[i];
    return NULL;
}

/* v1 memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: when
 * both change, raise the larger first or lower the smaller first (as runc). */
static int memory_v1(const char *d, const struct ctr_resources *r, struct ctr_error **err)
{
    const char *what = "linux.resources.memory";
    int ret = 0;
    bool memsw = has_file(d, "memory.memsw.limit_in_bytes");
    if (r->mem_swap != -1 && r->mem_swap != 0 && !memsw)
        log_warn("%s.swap: this kernel has no swap accounting (memory.memsw.*): ignored", what);
    bool swap = memsw && r->mem_swap != 0 && (r->mem_swap != -1 || r->mem_limit != -1);
    bool swap_first = false;
    if (swap) {
        uint64_t cur = 0;
        char buf[64];
        swap_first = r->mem_swap == -1 ||
                     (read_str(d, "memory.memsw.limit_in_bytes", buf, sizeof(buf)) == 0 &&
                      !parse_u64(buf, &cur) && (uint64_t)r->mem_swap > cur);
    }
    /* swap -1 means unlimited, written as -1 (the kernel's "max") */
    if (swap && swap_first)
        ret |= set(d, "memory.memsw.limit_in_bytes", "linux.resources.memory.swap", "%lld", r->mem_swap, err);
    if (r->mem_limit != -1 && r->mem_limit != 0)
        ret |= set(d, "memory.limit_in_bytes", "linux.resources.memory.limit", "%lld", r->mem_limit, err);
    if (swap && !swap_first)
        ret |= set(d, "memory.memsw.limit_in_bytes", "linux.resources.memory.swap", "%lld", r->mem_swap, err);
    if (r->mem_reservation != -1 && r->mem_reservation != 0)
        ret |= set(d, "memory.soft_limit_in_bytes", "linux.resources.memory.reservation", "%lld", r->mem_reservation, err);
    if (r->mem_swappiness >= 0)
        ret |= set(d, "memory.swappiness", "linux.resources.memory.swappiness", "%lld", r->mem_swappiness, err);
    if (r->disable_oom == 1)
        ret |= set_s(d, "memory.oom_control", "linux.resources.memory.disableOOMKiller", "1", err);
    return ret;
}

static int hugetlb_apply(const char *d, const struct ctr_resources *r, bool v2, struct ctr_error **err)
{
    int ret = 0;
    for (size_t i = 0; i < r->nhugepages; i++) {
        char file[96], what[96];
        snprintf(file, sizeof(file), "hugetlb.%s.%s", r->hugepages[i].page, v2 ? "max" : "limit_in_bytes");
        snprintf(what, sizeof(what), "linux.resources.hugepageLimits[%zu]", i);
        if (!has_file(d, file)) {
            log_warn("%s: this kernel has no %s huge pages (no %s): ignored", what, r->hugepages[i].page, file);
            continue;
        }
        ret |= set(d, file, what, "%lld", r->hugepages[i].limit, err);
    }
    return ret;
}

static int net_v1(const char *cls, const char *prio, const struct ctr_resources *r, struct ctr_error **err)
{
    int ret = 0;
    if (r->net_classid >= 0) {
        if (cls)
            ret |= set(cls, "net_cls.classid", "linux.resources.network.classID", "%lld", r->net_classid, err);
        else
            log_warn("linux.resources.network.classID: no net_cls controller on this host: ignored");
    }
    for (size_t i = 0; i < r->nnet_prio; i++) {
        char what[96], line[128];
        snprintf(what, sizeof(what), "linux.resources.network.priorities[%zu]", i);
        if (!prio) {
            log_warn("%s: no net_prio controller on this host: ignored", what);
            continue;
        }
        snprintf(line, sizeof(line), "%s %u", r->net_prio[i].name, r->net_prio[i].prio);
        ret |= set_s(prio, "net_prio.ifpriomap", what, line, err);
    }
    return ret;
}

static int apply_v2(const char *d, const struct ctr_resources *r, struct ctr_error **err)
{
    int ret = 0;
    if (r->mem_limit != -1 && r->mem_limit != 0)
        ret |= set(d, "memory.max", "linux.resources.memory.limit", "%lld", r->mem_limit, err);
    if (r->mem_reservation != -1 && r->mem_reservation != 0)
        ret |= set(d, "memory.low", "linux.resources.memory.reservation", "%lld", r->mem_reservation, err);
    if (r->mem_swap > 0 && has_file(d, "memory.swap.max")) {
        /* v1's swap is memory+swap; v2's memory.swap.max is swap alone (runc's conversion) */
        if (r->mem_limit <= 0 || r->mem_swap < r->mem_limit) {
            ctr_error_make(err, 0, "linux.resources.memory.swap: %lld needs a memory limit no larger than it (it is memory+swap)",
                      (long long)r->mem_swap);
            ret = -1;
        } else {
            ret |= set(d, "memory.swap.max", "linux.resources.memory.swap", "%lld", r->mem_swap - r->mem_limit, err);
        }
    } else if (r->mem_swap == -1 && r->mem_limit > 0 && has_file(d, "memory.swap.max")) {
        ret |= set_s(d, "memory.swap.max", "linux.resources.memory.swap", "max", err);
    }
    if (r->mem_swappiness >= 0)
        log_warn("linux.resources.memory.swappiness: cgroup v2 has no memory.swappiness: ignored (as runc does)");
    if (r->disable_oom == 1)
        log_warn("linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer: ignored (as runc does)");
    if (r->pids_limit != 0) {
        if (r->pids_limit > 0)
            ret |= set(d, "pids.max", "linux.resources.pids.limit", "%lld", r->pids_limit, err);
        else
            ret |= set_s(d, "pids.max", "linux.resources.pids.limit", "max", err);
    }
    if (r->cpu_shares > 0)   /* the conversion runc and crun use */
        ret |= set(d, "cpu.weight", "linux.resources.cpu.shares", "%lld", 1 + ((r->cpu_shares - 2) * 9999) / 262142, err);
    if (r->cpu_quota != 0) {
        char v[64];
        long long period = r->cpu_period > 0 ? r->cpu_period : 100000;
        char cur[64];
        if (r->cpu_period <= 0 && read_str(d, "cpu.max", cur, sizeof(cur)) == 0 && strchr(cur, ' '))
            period = atoll(strchr(cur, ' ') + 1);        /* update --cpu-quota alone keeps the period */
        if (r->cpu_quota < 0)
            snprintf(v, sizeof(v), "max %lld", period > 0 ? period : 100000);
        else
            snprintf(v, sizeof(v), "%lld %lld", (long long)r->cpu_quota, period > 0 ? period : 100000);
        ret |= set_s(d, "cpu.max", "linux.resources.cpu.quota", v, err);
    } else if (r->cpu_period > 0) {
        /* keep the quota in place, change the period (runc update --cpu-period) */
        char v[64], cur[64] = "max";
        read_str(d, "cpu.max", cur, sizeof(cur));
        cur[strcspn(cur, " ")] = 0;
        snprintf(v, sizeof(v), "%s %lld", cur, (long long)r->cpu_period);
        ret |= set_s(d, "cpu.max", "linux.resources.cpu.period", v, err);
    }
    if (r->cpuset_cpus && *r->cpuset_cpus) ret |= set_s(d, "cpuset.cpus", "linux.resources.cpu.cpus", r->cpuset_cpus, err);
    if (r->cpuset_mems && *r->cpuset_mems) ret |= set_s(d, "cpuset.mems", "linux.resources.cpu.mems", r->cpuset_mems, err);
    if (r->blkio) ret |= blkio_apply(d, r->blkio, true, err);
    if (r->blkio_weight > 0 && !r->blkio) {
        struct json_object *b = json_object_new_object();
        json_object_object_add(b, "weight", json_object_new_int64(r->blkio_weight));
        ret |= blkio_apply(d, b, true, err);
        json_object_put(b);
    }
    if (r->nhugepages) ret |= hugetlb_apply(d, r, true, err);
    if (r->net_classid >= 0 || r->nnet_prio)
        log_warn("linux.resources.network: cgroup v2 has no net_cls or net_prio controller: ignored (as runc does)");
    if (r->devices)
        log_once(LOG_WARN, "linux.resources.devices: not enforced on cgroup v2 (the eBPF device filter is not implemented yet)");
    return ret;
}

int ctr_cgroup_apply(struct ctr_cgroup *cg, const struct ctr_resources *r, struct ctr_error **err)
{
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    if (cg->v2)
        return apply_v2(dirs[0], r, err) ? -1 : 0;
    int ret = 0;
    const char *d;
    if ((d = v1_dir(dirs, names, n, "memory")))
        ret |= memory_v1(d, r, err);
    if ((d = v1_dir(dirs, names, n, "pids")) && r->pids_limit != 0) {
        if (r->pids_limit > 0)
            ret |= set(d, "pids.max", "linux.resources.pids.limit", "%lld", r->pids_limit, err);
        else
            ret |= set_s(d, "pids.max", "linux.resources.pids.limit", "max", err);
    }
    if ((d = v1_dir(dirs, names, n, "cpu"))) {
        if (r->cpu_shares > 0) ret |= set(d, "cpu.shares", "linux.resources.cpu.shares", "%lld", r->cpu_shares, err);
        if (r->cpu_period > 0) ret |= set(d, "cpu.cfs_period_us", "linux.resources.cpu.period", "%lld", r->cpu_period, err);
        if (r->cpu_quota != 0) ret |= set(d, "cpu.cfs_quota_us", "linux.resources.cpu.quota", "%lld", r->cpu_quota, err);
        if (r->cpu_rt_period > 0) ret |= set(d, "cpu.rt_period_us", "linux.resources.cpu.realtimePeriod", "%lld", r->cpu_rt_period, err);
        if (r->cpu_rt_runtime != -1 && r->cpu_rt_runtime != 0)
            ret |= set(d, "cpu.rt_runtime_us", "linux.resources.cpu.realtimeRuntime", "%lld", r->cpu_rt_runtime, err);
    }
    if ((d = v1_dir(dirs, names, n, "cpuset"))) {
        if (r->cpuset_cpus && *r->cpuset_cpus) ret |= set_s(d, "cpuset.cpus", "linux.resources.cpu.cpus", r->cpuset_cpus, err);
        if (r->cpuset_mems && *r->cpuset_mems) ret |= set_s(d, "cpuset.mems", "linux.resources.cpu.mems", r->cpuset_mems, err);
    }
    if ((d = v1_dir(dirs, names, n, "blkio"))) {
        if (r->blkio)
            ret |= blkio_apply(d, r->blkio, false, err);
        else if (r->blkio_weight > 0)
            ret |= set(d, has_file(d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight",
                       "linux.resources.blockIO.weight", "%lld", r->blkio_weight, err);
    }
    if ((d = v1_dir(dirs, names, n, "devices")) && r->devices)
        devices_v1(d, r->devices);
    if (r->nhugepages) {
        if ((d = v1_dir(dirs, names, n, "hugetlb")))
            ret |= hugetlb_apply(d, r, false, err);
        else
            log_warn("linux.resources.hugepageLimits: no hugetlb controller on this host: ignored");
    }
    if (r->net_classid >= 0 || r->nnet_prio) {
        /* co-mounted net_cls,net_prio is one hierarchy that cg_dirs lists once */
        const char *cls = v1_dir(dirs, names, n, "net_cls"), *prio = v1_dir(dirs, names, n, "net_prio");
        if (cls && !prio && has_file(cls, "net_prio.ifpriomap")) prio = cls;
        if (prio && !cls && has_file(prio, "net_cls.classid")) cls = prio;
        ret |= net_v1(cls, prio, r, err);
    }
    if (r->mem_kernel > 0 || r->mem_kernel_tcp > 0)
        log_warn("linux.resources.memory.kernel/kernelTCP: kernel memory limits are ignored (as runc 1.1 does)");
    return ret ? -1 : 0;
}

static const char *procs_dir(const struct ctr_cgroup *cg, char *buf)
{
    if (cg->v2) {
        snprintf(buf, PATH_MAX, "%s%s", cg->root, cg->rel);
        return buf;
    }
    static const char *const pref[] = { "pids", "memory", "freezer", "cpu" };
    for (size_t i = 0; i < ARRAY_SIZE(pref); i++) {
        snprintf(buf, PATH_MAX, "%s/%s%s", cg->root, pref[i], cg->rel);
        if (access(buf, F_OK) == 0)
            return buf;
    }
    return NULL;
}

int ctr_cgroup_pids(const struct ctr_cgroup *cg, pid_t **pids, size_t *n)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    *pids = NULL;
    *n = 0;
    if (!procs_dir(cg, dir))
        return -ENOENT;
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    char *text;
    int r = read_file(path, &text, NULL, 1 << 20);
    if (r < 0)
        return r;
    size_t cap = 16;
    *pids = xmalloc(cap * sizeof(pid_t));
    for (char *p = text, *save, *tok; (tok = strtok_r(p, "\n", &save)); p = NULL) {
        if (*n == cap) *pids = xrealloc(*pids, (cap *= 2) * sizeof(pid_t));
        (*pids)[(*n)++] = (pid_t)atoi(tok);
    }
    free(text);
    return 0;
}

int ctr_cgroup_freeze(struct ctr_cgroup *cg, bool frozen)
{
    char dir[PATH_MAX], buf[32];
    if (cg->v2) {
        snprintf(dir, sizeof(dir), "%s%s", cg->root, cg->rel);
        int r = cg_write(dir, "cgroup.freeze", frozen ? "1" : "0");
        for (int i = 0; r == 0 && i < 1000 && ctr_cgroup_frozen(cg) != frozen; i++)
            usleep(1000);
        return r;
    }
    snprintf(dir, sizeof(dir), "%s/freezer%s", cg->root, cg->rel);
    int r = cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
    if (r < 0)
        return r;
    for (int i = 0; i < 1000; i++) {
        if (read_str(dir, "freezer.state", buf, sizeof(buf)) < 0)
            break;
        if (!strcmp(buf, frozen ? "FROZEN" : "THAWED"))
            return 0;
        usleep(1000);
    }
    return -EBUSY;
}

bool ctr_cgroup_frozen(const struct ctr_cgroup *cg)
{
    char dir[PATH_MAX], buf[256];
    if (cg->v2) {
        snprintf(dir, sizeof(dir), "%s%s", cg->root, cg->rel);
        return read_str(dir, "cgroup.events", buf, sizeof(buf)) == 0 && strstr(buf, "frozen 1");
    }
    snprintf(dir, sizeof(dir), "%s/freezer%s", cg->root, cg->rel);
    return read_str(dir, "freezer.state", buf, sizeof(buf)) == 0 && !strncmp(buf, "FROZEN", 6);
}

void ctr_cgroup_destroy(struct ctr_cgroup *cg)
{
    if (!cg)
        return;
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    /* EBUSY while the killed processes are still exiting: on a loaded host
     * that took more than the 1 s this once waited (a cgroup was left with
     * no word), so up to 10 s, then one line naming it */
    for (size_t i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            if (rmdir(dirs[i]) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || tries == 2000) {
                log_warn("cannot remove cgroup %s: %s", dirs[i], strerror(errno));
                break;
            }
            usleep(5000);
        }
    }
    ctr_cgroup_free(cg);
}

void ctr_cgroup_free(struct ctr_cgroup *cg)
{
    if (cg) { free(cg->root); free(cg->rel); free(cg); }
}

char *ctr_cgroup_serialize(const struct ctr_cgroup *cg)
{
    return xasprintf("%s:%s", cg->v2 ? "v2" : "v1", cg->rel);
}

struct ctr_cgroup *ctr_cgroup_from(const char *ser)
{
    return ctr_cgroup_from_at(CG_ROOT, ser);
}

struct ctr_cgroup *ctr_cgroup_from_at(const char *root, const char *ser)
{
    if (!ser || strlen(ser) < 4 || ser[0] != 'v' || ser[2] != ':')
        return NULL;
    struct ctr_cgroup *cg = xzalloc(sizeof(*cg));
    cg->root = xstrdup(root);
    cg->v2 = ser[1] == '2';
    cg->rel = xstrdup(ser + 3);
    return cg;
}

/* ---- stats for `events` (runc's field names) ---- */

static bool read_u64(const char *dir, const char *file, uint64_t *v)
{
    char buf[64];
    if (read_str(dir, file, buf, sizeof(buf)) < 0)
        return false;
    if (!strcmp(buf, "max")) { *v = UINT64_MAX; return true; }
    char *end;
    *v = strtoull(buf, &end, 10);
    return end != buf;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

/* "key value" lines (memory.stat, cpu.stat, pids.events ...) as an object */
static struct json_object *kv_file(const char *dir, const char *file)
{
    char path[PATH_MAX], *text;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (read_file(path, &text, NULL, 1 << 20) < 0)
        return NULL;
    struct json_object *o = json_object_new_object();
    for (char *l = text, *save, *line; (line = strtok_r(l, "\n", &save)); l = NULL) {
        char key[128];
        unsigned long long v;
        if (sscanf(line, "%127s %llu", key, &v) == 2)
            add_u64(o, key, v);
    }
    free(text);
    return o;
}

static uint64_t kv_get(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

/* a list of unsigned numbers separated by spaces */
static struct json_object *u64_list(const char *dir, const char *file)
{
    char path[PATH_MAX], *text;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (read_file(path, &text, NULL, 1 << 16) < 0)
        return NULL;
    struct json_object *a = json_object_new_array();
    char *p = text, *end;
    for (;;) {
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p) break;
        json_object_array_add(a, json_object_new_uint64(v));
        p = end;
    }
    free(text);
    return a;
}

/* blkio.throttle.* / io.stat lines "MAJ:MIN Op value" -> [{major, minor, op, value}] */
static struct json_object *blkio_list(const char *dir, const char *file)
{
    char path[PATH_MAX], *text;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (read_file(path, &text, NULL, 1 << 20) < 0)
        return NULL;
    struct json_object *a = json_object_new_array();
    for (char *l = text, *save, *line; (line = strtok_r(l, "\n", &save)); l = NULL) {
        unsigned maj, min;
        char op[32];
        unsigned long long v;
        if (sscanf(line, "%u:%u %31s %llu", &maj, &min, op, &v) != 4)
            continue;
        struct json_object *e = json_object_new_object();
        add_u64(e, "major", maj);
        add_u64(e, "minor", min);
        json_object_object_add(e, "op", json_object_new_string(op));
        add_u64(e, "value", v);
        json_object_array_add(a, e);
    }
    free(text);
    return a;
}

static struct json_object *mem_entry(const char *d, const char *pre)
{
    char f[96];
    uint64_t v;
    struct json_object *o = json_object_new_object();
    static const char *const keys[][2] = { { "limit_in_bytes", "limit" }, { "usage_in_bytes", "usage" },
                                           { "max_usage_in_bytes", "max" }, { "failcnt", "failcnt" } };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        snprintf(f, sizeof(f), "%s%s", pre, keys[i][0]);
        if (read_u64(d, f, &v))
            add_u64(o, keys[i][1], v);
    }
    return o;
}

struct json_object *ctr_cgroup_stats(const struct ctr_cgroup *cg)
{
    char dirs[ARRAY_SIZE(v1_ctrls)][PATH_MAX];
    const char *names[ARRAY_SIZE(v1_ctrls)];
    size_t n = cg_dirs(cg, dirs, names);
    struct json_object *data = json_object_new_object();
    struct json_object *cpu = json_object_new_object(), *usage = json_object_new_object();
    struct json_object *thr = json_object_new_object(), *mem = json_object_new_object();
    struct json_object *pids = json_object_new_object(), *blk = json_object_new_object();
    json_object_object_add(cpu, "usage", usage);
    json_object_object_add(cpu, "throttling", thr);
    uint64_t v;
    for (size_t i = 0; i < n; i++) {
        const char *d = dirs[i], *c = names[i];
        if (cg->v2) {
            struct json_object *st = kv_file(d, "cpu.stat");
            add_u64(usage, "total", kv_get(st, "usage_usec") * 1000);
            add_u64(usage, "kernel", kv_get(st, "system_usec") * 1000);
            add_u64(usage, "user", kv_get(st, "user_usec") * 1000);
            if (kv_get(st, "nr_periods")) {
                add_u64(thr, "periods", kv_get(st, "nr_periods"));
                add_u64(thr, "throttled_periods", kv_get(st, "nr_throttled"));
                add_u64(thr, "throttled_time", kv_get(st, "throttled_usec") * 1000);
            }
            json_object_put(st);
            struct json_object *raw = kv_file(d, "memory.stat"), *u = json_object_new_object();
            if (read_u64(d, "memory.max", &v)) add_u64(u, "limit", v);
            if (read_u64(d, "memory.current", &v)) add_u64(u, "usage", v);
            if (read_u64(d, "memory.peak", &v)) add_u64(u, "max", v);
            struct json_object *ev = kv_file(d, "memory.events");
            add_u64(u, "failcnt", kv_get(ev, "max"));
            json_object_put(ev);
            add_u64(mem, "cache", kv_get(raw, "file"));
            json_object_object_add(mem, "usage", u);
            if (raw) json_object_object_add(mem, "raw", raw);
            if (read_u64(d, "pids.current", &v)) add_u64(pids, "current", v);
            if (read_u64(d, "pids.max", &v) && v != UINT64_MAX) add_u64(pids, "limit", v);
            struct json_object *io = blkio_list(d, "io.stat");
            if (io) json_object_object_add(blk, "ioServiceBytesRecursive", io);
        } else if (!strcmp(c, "cpuacct")) {
            if (read_u64(d, "cpuacct.usage", &v)) add_u64(usage, "total", v);
            struct json_object *a;
            if ((a = u64_list(d, "cpuacct.usage_percpu"))) json_object_object_add(usage, "percpu", a);
            if ((a = u64_list(d, "cpuacct.usage_percpu_sys"))) json_object_object_add(usage, "percpu_kernel", a);
            if ((a = u64_list(d, "cpuacct.usage_percpu_user"))) json_object_object_add(usage, "percpu_user", a);
            /* cpuacct.stat is in USER_HZ ticks: nanoseconds as runc reports them */
            struct json_object *st = kv_file(d, "cpuacct.stat");
            long hz = sysconf(_SC_CLK_TCK);
            add_u64(usage, "kernel", kv_get(st, "system") * (uint64_t)(1000000000 / (hz > 0 ? hz : 100)));
            add_u64(usage, "user", kv_get(st, "user") * (uint64_t)(1000000000 / (hz > 0 ? hz : 100)));
            json_object_put(st);
        } else if (!strcmp(c, "cpu")) {
            struct json_object *st = kv_file(d, "cpu.stat");
            if (kv_get(st, "nr_periods")) {
                add_u64(thr, "periods", kv_get(st, "nr_periods"));
                add_u64(thr, "throttled_periods", kv_get(st, "nr_throttled"));
                add_u64(thr, "throttled_time", kv_get(st, "throttled_time"));
            }
            json_object_put(st);
        } else if (!strcmp(c, "memory")) {
            struct json_object *raw = kv_file(d, "memory.stat");
            add_u64(mem, "cache", kv_get(raw, "cache"));
            json_object_object_add(mem, "usage", mem_entry(d, "memory."));
            json_object_object_add(mem, "swap", mem_entry(d, "memory.memsw."));
            json_object_object_add(mem, "kernel", mem_entry(d, "memory.kmem."));
            json_object_object_add(mem, "kernelTCP", mem_entry(d, "memory.kmem.tcp."));
            if (raw) json_object_object_add(mem, "raw", raw);
        } else if (!strcmp(c, "pids")) {
            if (read_u64(d, "pids.current", &v)) add_u64(pids, "current", v);
            if (read_u64(d, "pids.max", &v) && v != UINT64_MAX) add_u64(pids, "limit", v);
        } else if (!strcmp(c, "blkio")) {
            struct json_object *a;
            if ((a = blkio_list(d, "blkio.throttle.io_service_bytes_recursive")))
                json_object_object_add(blk, "ioServiceBytesRecursive", a);
            if ((a = blkio_list(d, "blkio.throttle.io_serviced_recursive")))
                json_object_object_add(blk, "ioServicedRecursive", a);
        }
    }
    json_object_object_add(data, "cpu", cpu);
    json_object_object_add(data, "memory", mem);
    json_object_object_add(data, "pids", pids);
    json_object_object_add(data, "blkio", blk);
    return data;
}

/* OOM kills so far in the container's memory cgroup (for `events`). */
uint64_t ctr_cgroup_oom_count(const struct ctr_cgroup *cg)
{
    char d[PATH_MAX];
    if (cg->v2)
        snprintf(d, sizeof(d), "%s%s", cg->root, cg->rel);
    else
        snprintf(d, sizeof(d), "%s/memory%s", cg->root, cg->rel);
    struct json_object *o = kv_file(d, cg->v2 ? "memory.events" : "memory.oom_control");
    uint64_t n = kv_get(o, "oom_kill");
    json_object_put(o);
    return n;
}

/* ctr: config.json parsing and validation with json-c. Every error names
 * the field as a JSON path and the offending value. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <linux/capability.h>

/* one error naming the JSON path, returned from the function at hand */
#define FAIL(...) return ctr_error_make(err, 0, "config.json: " __VA_ARGS__)

static const char *const ns_names[CTR_NS_COUNT] = {
    "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time" };

static const char *const cap_names[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
    "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
    "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
    "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE" };

int ctr_cap_parse(const char *s)
{
    if (strncasecmp(s, "CAP_", 4))
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (!strcasecmp(s + 4, cap_names[i]))
            return (int)i;
    return -1;
}

int ctr_signal_parse(const char *s)
{
    uint64_t n;
    if (!parse_u64(s, &n))
        return n >= 1 && n < (uint64_t)NSIG ? (int)n : -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && !strcasecmp(s, abbrev))
            return i;
    }
    if (!strncasecmp(s, "RTMIN+", 6) && !parse_u64(s + 6, &n) && SIGRTMIN + (int)n <= SIGRTMAX)
        return SIGRTMIN + (int)n;
    return -1;
}

static const struct { const char *name; int res; } rlimits[] = {
    { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
    { "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_STACK", RLIMIT_STACK },
    { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_NPROC", RLIMIT_NPROC }, { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
    { "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
    { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* mount options: name, set flags, clear flags */
static const struct { const char *name; unsigned long set, clear; } mount_opts[] = {
    { "defaults", 0, 0 }, { "ro", MS_RDONLY, 0 }, { "rw", 0, MS_RDONLY },
    { "suid", 0, MS_NOSUID }, { "nosuid", MS_NOSUID, 0 },
    { "dev", 0, MS_NODEV }, { "nodev", MS_NODEV, 0 },
    { "exec", 0, MS_NOEXEC }, { "noexec", MS_NOEXEC, 0 },
    { "sync", MS_SYNCHRONOUS, 0 }, { "async", 0, MS_SYNCHRONOUS },
    { "dirsync", MS_DIRSYNC, 0 }, { "remount", MS_REMOUNT, 0 },
    { "mand", MS_MANDLOCK, 0 }, { "nomand", 0, MS_MANDLOCK },
    { "atime", 0, MS_NOATIME }, { "noatime", MS_NOATIME, 0 },
    { "diratime", 0, MS_NODIRATIME }, { "nodiratime", MS_NODIRATIME, 0 },
    { "relatime", MS_RELATIME, 0 }, { "norelatime", 0, MS_RELATIME },
    { "strictatime", MS_STRICTATIME, 0 }, { "nostrictatime", 0, MS_STRICTATIME },
    { "bind", MS_BIND, 0 }, { "rbind", MS_BIND | MS_REC, 0 },
    { "silent", MS_SILENT, 0 }, { "loud", 0, MS_SILENT },
    { "nosymfollow", MS_NOSYMFOLLOW, 0 }, { "symfollow", 0, MS_NOSYMFOLLOW },
    { "lazytime", MS_LAZYTIME, 0 }, { "nolazytime", 0, MS_LAZYTIME },
    { "iversion", MS_I_VERSION, 0 }, { "noiversion", 0, MS_I_VERSION },
    { "acl", MS_POSIXACL, 0 }, { "noacl", 0, MS_POSIXACL },
};
/* runtime-spec 1.1's recursive options: set, clear (an atime mode clears the others) */
static const struct { const char *name; uint64_t set, clear; } rec_opts[] = {
    { "rro", MOUNT_ATTR_RDONLY, 0 }, { "rrw", 0, MOUNT_ATTR_RDONLY },
    { "rnosuid", MOUNT_ATTR_NOSUID, 0 }, { "rsuid", 0, MOUNT_ATTR_NOSUID },
    { "rnodev", MOUNT_ATTR_NODEV, 0 }, { "rdev", 0, MOUNT_ATTR_NODEV },
    { "rnoexec", MOUNT_ATTR_NOEXEC, 0 }, { "rexec", 0, MOUNT_ATTR_NOEXEC },
    { "rnodiratime", MOUNT_ATTR_NODIRATIME, 0 }, { "rdiratime", 0, MOUNT_ATTR_NODIRATIME },
    { "rrelatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME }, { "rnorelatime", 0, MOUNT_ATTR__ATIME },
    { "rnoatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME }, { "ratime", 0, MOUNT_ATTR__ATIME },
    { "rstrictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME }, { "rnostrictatime", 0, MOUNT_ATTR__ATIME },
    { "rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0 }, { "rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW },
};
static const struct { const char *name; unsigned long flag; } prop_opts[] = {
    { "private", MS_PRIVATE }, { "rprivate", MS_PRIVATE | MS_REC },
    { "shared", MS_SHARED }, { "rshared", MS_SHARED | MS_REC },
    { "slave", MS_SLAVE }, { "rslave", MS_SLAVE | MS_REC },
    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

/* ---- typed getters: absent is fine (returns 0 and leaves *out), wrong type fails ---- */
static int get(struct json_object *o, const char *key, enum json_type t, const char *path,
               struct json_object **out, struct ctr_error **err)
{
    struct json_object *v;
    *out = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, t) && !(t == json_type_double && json_object_is_type(v, json_type_int)))
        FAIL("%s%s%s: expected %s, got %s", path, *path ? "." : "", key, json_type_to_name(t),
             json_type_to_name(json_object_get_type(v)));
    *out = v;
    return 0;
}

static int get_str(struct json_object *o, const char *key, const char *path, char **out, struct ctr_error **err)
{
    struct json_object *v;
    if (get(o, key, json_type_string, path, &v, err))
        return -1;
    if (v)
        *out = xstrdup(json_object_get_string(v));
    return 0;
}

static int get_bool(struct json_object *o, const char *key, const char *path, bool *out, struct ctr_error **err)
{
    struct json_object *v;
    if (get(o, key, json_type_boolean, path, &v, err))
        return -1;
    if (v)
        *out = json_object_get_boolean(v);
    return 0;
}

static int get_int(struct json_object *o, const char *key, const char *path, int64_t min, int64_t max,
                   int64_t *out, struct ctr_error **err)
{
    struct json_object *v;
    if (get(o, key, json_type_int, path, &v, err))
        return -1;
    if (!v)
        return 0;
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno || n < min || n > max) {
        /* uint64 values above INT64_MAX (e.g. rlimits) */
        uint64_t u = json_object_get_uint64(v);
        if (min >= 0 && max == INT64_MAX && u > (uint64_t)INT64_MAX) { *out = (int64_t)u; return 0; }
        FAIL("%s.%s: %s is out of range", path, key, json_object_to_json_string(v));
    }
    *out = n;
    return 0;
}

static int get_strv(struct json_object *o, const char *key, const char *path, char ***out, struct ctr_error **err)
{
    struct json_object *v;
    if (get(o, key, json_type_array, path, &v, err))
        return -1;
    if (!v)
        return 0;
    size_t n = json_object_array_length(v);
    char **a = xzalloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string)) {
            ctr_error_make(err, 0, "config.json: %s.%s[%zu]: expected string, got %s", path, key, i,
                      json_type_to_name(json_object_get_type(e)));
            for (size_t j = 0; j < i; j++) free(a[j]);
            free(a);
            return -1;
        }
        a[i] = xstrdup(json_object_get_string(e));
    }
    *out = a;
    return 0;
}

static void strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static int parse_caps(struct json_object *caps, struct ctr_process *p, const char *path, struct ctr_error **err)
{
    static const char *const sets[5] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
    if (!caps)
        return 0;
    p->has_caps = true;
    for (int i = 0; i < 5; i++) {
        struct json_object *arr;
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.capabilities", path);
        if (get(caps, sets[i], json_type_array, sub, &arr, err))
            return -1;
        if (!arr)
            continue;
        for (size_t j = 0; j < json_object_array_length(arr); j++) {
            struct json_object *e = json_object_array_get_idx(arr, j);
            const char *name = json_object_get_string(e);
            int c = json_object_is_type(e, json_type_string) ? ctr_cap_parse(name) : -1;
            if (c < 0)
                FAIL("%s.%s[%zu]: unknown capability \"%s\"", sub, sets[i], j, name ? name : "");
            p->caps[i] |= 1ULL << c;
        }
    }
    return 0;
}

int ctr_process_parse(struct json_object *po, struct ctr_process *p, const char *path, struct ctr_error **err)
{
    struct json_object *user, *caps, *rl;
    memset(p, 0, sizeof(*p));
    if (!po)
        FAIL("%s: missing", path);
    if (get_strv(po, "args", path, &p->args, err) || get_strv(po, "env", path, &p->env, err) ||
        get_str(po, "cwd", path, &p->cwd, err) || get_bool(po, "terminal", path, &p->terminal, err) ||
        get_bool(po, "noNewPrivileges", path, &p->nnp, err))
        return -1;
    if (!p->args || !p->args[0])
        FAIL("%s.args: must name the program to run", path);
    if (!p->cwd)
        p->cwd = xstrdup("/");
    if (p->cwd[0] != '/')
        FAIL("%s.cwd: \"%s\" is not an absolute path", path, p->cwd);
    if (get(po, "user", json_type_object, path, &user, err))
        return -1;
    if (user) {
        int64_t v = 0;
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.user", path);
        if (get_int(user, "uid", sub, 0, UINT32_MAX, &v, err)) return -1;
        p->uid = (uint32_t)v; v = 0;
        if (get_int(user, "gid", sub, 0, UINT32_MAX, &v, err)) return -1;
        p->gid = (uint32_t)v; v = -1;
        if (get_int(user, "umask", sub, 0, 0777, &v, err)) return -1;
        if (v >= 0) { p->umask = (uint32_t)v; p->has_umask = true; }
        struct json_object *g;
        if (get(user, "additionalGids", json_type_array, sub, &g, err)) return -1;
        if (g) {
            p->ngids = json_object_array_length(g);
            p->gids = xzalloc((p->ngids + 1) * sizeof(uint32_t));
            for (size_t i = 0; i < p->ngids; i++) {
                struct json_object *e = json_object_array_get_idx(g, i);
                if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0 ||
                    json_object_get_int64(e) > UINT32_MAX)
                    FAIL("%s.additionalGids[%zu]: %s is not a gid", sub, i, json_object_to_json_string(e));
                p->gids[i] = (uint32_t)json_object_get_int64(e);
            }
        }
    }
    if (get(po, "capabilities", json_type_object, path, &caps, err) || parse_caps(caps, p, path, err))
        return -1;
    p->has_caps = true;            /* no capabilities object: none at all, as runc and crun */
    int64_t oom = INT64_MIN;
    if (get_int(po, "oomScoreAdj", path, -1000, 1000, &oom, err))
        return -1;
    if (oom != INT64_MIN) { p->has_oom = true; p->oom_score_adj = (int)oom; }
    if (get(po, "rlimits", json_type_array, path, &rl, err))
        return -1;
    if (rl) {
        p->nrlimits = json_object_array_length(rl);
        p->rlimits = xzalloc((p->nrlimits + 1) * sizeof(*p->rlimits));
        for (size_t i = 0; i < p->nrlimits; i++) {
            struct json_object *e = json_object_array_get_idx(rl, i);
            char sub[128];
            snprintf(sub, sizeof(sub), "%s.rlimits[%zu]", path, i);
            if (!json_object_is_type(e, json_type_object))
                FAIL("%s: expected object", sub);
            cleanup_free char *type = NULL;
            int64_t soft = -1, hard = -1;
            if (get_str(e, "type", sub, &type, err) || get_int(e, "soft", sub, 0, INT64_MAX, &soft, err) ||
                get_int(e, "hard", sub, 0, INT64_MAX, &hard, err))
                return -1;
            if (!type)
                FAIL("%s.type: missing", sub);
            size_t k;
            for (k = 0; k < ARRAY_SIZE(rlimits); k++)
                if (!strcmp(type, rlimits[k].name))
                    break;
            if (k == ARRAY_SIZE(rlimits))
                FAIL("%s.type: unknown rlimit \"%s\"", sub, type);
            if (soft < 0 || hard < 0)
                FAIL("%s: soft and hard are required", sub);
            if ((uint64_t)soft > (uint64_t)hard)
                FAIL("%s: soft limit %llu is above the hard limit %llu", sub,
                     (unsigned long long)soft, (unsigned long long)hard);
            p->rlimits[i] = (struct ctr_rlimit){ rlimits[k].res, (uint64_t)soft, (uint64_t)hard, rlimits[k].name };
        }
    }
    struct json_object *label;
    if (json_object_object_get_ex(po, "apparmorProfile", &label) ||
        json_object_object_get_ex(po, "selinuxLabel", &label))
        log_once(LOG_WARN, "%s: apparmorProfile/selinuxLabel are ignored (no LSM support)", path);
    return 0;
}

static int parse_mount_options(struct json_object *opts, struct ctr_mount *m, const char *path, struct ctr_error **err)
{
    char data[1024] = "";
    size_t dl = 0;
    for (size_t i = 0; opts && i < json_object_array_length(opts); i++) {
        struct json_object *e = json_object_array_get_idx(opts, i);
        if (!json_object_is_type(e, json_type_string))
            FAIL("%s.options[%zu]: expected string", path, i);
        const char *o = json_object_get_string(e);
        size_t k;
        bool done = false;
        for (k = 0; k < ARRAY_SIZE(mount_opts) && !done; k++)
            if (!strcmp(o, mount_opts[k].name)) {
                m->flags |= mount_opts[k].set;
                m->flags &= ~mount_opts[k].clear;
                m->clear |= mount_opts[k].clear;
                if (mount_opts[k].set & MS_BIND) m->bind = true;
                done = true;
            }
        for (k = 0; k < ARRAY_SIZE(prop_opts) && !done; k++)
            if (!strcmp(o, prop_opts[k].name)) {
                m->prop |= prop_opts[k].flag;
                done = true;
            }
        for (k = 0; k < ARRAY_SIZE(rec_opts) && !done; k++)
            if (!strcmp(o, rec_opts[k].name)) {
                m->rec_set = (m->rec_set & ~rec_opts[k].clear) | rec_opts[k].set;
                m->rec_clr = (m->rec_clr & ~rec_opts[k].set) | rec_opts[k].clear;
                done = true;
            }
        if (done)
            continue;
        if (!strcmp(o, "idmap") || !strcmp(o, "ridmap") || !strncmp(o, "tmpcopyup", 9))
            FAIL("%s.options[%zu]: \"%s\" is not supported", path, i, o);
        if (!*o || strchr(o, ',') == o)
            FAIL("%s.options[%zu]: empty option", path, i);
        /* anything else is filesystem data (mode=755, size=65536k, newinstance ...) */
        int n = snprintf(data + dl, sizeof(data) - dl, "%s%s", dl ? "," : "", o);
        if (n < 0 || (size_t)n >= sizeof(data) - dl)
            FAIL("%s.options: too long", path);
        dl += (size_t)n;
    }
    if (dl)
        m->data = xstrdup(data);
    return 0;
}

static int parse_idmaps(struct json_object *lin, const char *key, struct ctr_idmap *out, size_t *n, struct ctr_error **err)
{
    struct json_object *arr;
    if (get(lin, key, json_type_array, "linux", &arr, err))
        return -1;
    if (!arr)
        return 0;
    size_t len = json_object_array_length(arr);
    if (len > 8)
        FAIL("linux.%s: at most 8 entries, got %zu", key, len);
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        char sub[64];
        snprintf(sub, sizeof(sub), "linux.%s[%zu]", key, i);
        int64_t c = -1, h = -1, s = -1;
        if (!json_object_is_type(e, json_type_object))
            FAIL("%s: expected object", sub);
        if (get_int(e, "containerID", sub, 0, UINT32_MAX, &c, err) || get_int(e, "hostID", sub, 0, UINT32_MAX, &h, err) ||
            get_int(e, "size", sub, 1, UINT32_MAX, &s, err))
            return -1;
        if (c < 0 || h < 0 || s < 0)
            FAIL("%s: containerID, hostID and size are required", sub);
        out[i] = (struct ctr_idmap){ (uint32_t)c, (uint32_t)h, (uint32_t)s };
    }
    *n = len;
    return 0;
}

static int parse_hooks(struct json_object *hooks, struct ctr_spec *s, struct ctr_error **err)
{
    static const char *const names[CTR_HOOK_COUNT] = { "prestart", "createRuntime",
        "createContainer", "startContainer", "poststart", "poststop" };
    for (int k = 0; k < CTR_HOOK_COUNT; k++) {
        struct json_object *arr;
        if (get(hooks, names[k], json_type_array, "hooks", &arr, err))
            return -1;
        if (!arr)
            continue;
        size_t n = json_object_array_length(arr);
        s->hooks[k] = xzalloc((n + 1) * sizeof(struct ctr_hook));
        s->nhooks[k] = n;
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(arr, i);
            struct ctr_hook *h = &s->hooks[k][i];
            char sub[64];
            snprintf(sub, sizeof(sub), "hooks.%s[%zu]", names[k], i);
            int64_t t = 0;
            if (!json_object_is_type(e, json_type_object))
                FAIL("%s: expected object", sub);
            if (get_str(e, "path", sub, &h->path, err) || get_strv(e, "args", sub, &h->args, err) ||
                get_strv(e, "env", sub, &h->env, err) || get_int(e, "timeout", sub, 1, 86400, &t, err))
                return -1;
            if (!h->path || h->path[0] != '/')
                FAIL("%s.path: \"%s\" is not an absolute path", sub, h->path ? h->path : "");
            h->timeout = (int)t;
        }
    }
    return 0;
}

void ctr_resources_init(struct ctr_resources *r)
{
    memset(r, 0, sizeof(*r));
    r->mem_limit = r->mem_reservation = r->mem_swap = r->mem_kernel = r->mem_kernel_tcp = -1;
    r->mem_swappiness = r->cpu_shares = r->cpu_period = -1;
    r->cpu_rt_runtime = r->cpu_rt_period = r->blkio_weight = r->net_classid = -1;
    r->disable_oom = -1;
}

void ctr_resources_free(struct ctr_resources *r)
{
    free(r->cpuset_cpus);
    free(r->cpuset_mems);
    for (size_t i = 0; i < r->nnet_prio; i++)
        free(r->net_prio[i].name);
    free(r->net_prio);
    for (size_t i = 0; i < r->nhugepages; i++)
        free(r->hugepages[i].page);
    free(r->hugepages);
    ctr_resources_init(r);
}

/* linux.resources.network: classID and priorities per interface */
static int parse_network(struct json_object *net, struct ctr_resources *r, const char *path, struct ctr_error **err)
{
    struct json_object *prios;
    char sub[128];
    snprintf(sub, sizeof(sub), "%s.network", path);
    if (get_int(net, "classID", sub, 0, UINT32_MAX, &r->net_classid, err) ||
        get(net, "priorities", json_type_array, sub, &prios, err))
        return -1;
    size_t n = prios ? json_object_array_length(prios) : 0;
    r->net_prio = xzalloc((n + 1) * sizeof(*r->net_prio));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(prios, i);
        struct ctr_netprio *np = &r->net_prio[r->nnet_prio];
        int64_t prio = -1;
        snprintf(sub, sizeof(sub), "%s.network.priorities[%zu]", path, i);
        if (!json_object_is_type(e, json_type_object))
            FAIL("%s: expected object", sub);
        r->nnet_prio++;
        if (get_str(e, "name", sub, &np->name, err) || get_int(e, "priority", sub, 0, UINT32_MAX, &prio, err))
            return -1;
        if (!np->name || !*np->name || strpbrk(np->name, " \n/") || prio < 0)
            FAIL("%s: needs an interface name and a priority", sub);
        np->prio = (uint32_t)prio;
    }
    return 0;
}

/* linux.resources.hugepageLimits: [{pageSize "2MB", limit bytes}] */
static int parse_hugepages(struct json_object *arr, struct ctr_resources *r, const char *path, struct ctr_error **err)
{
    size_t n = json_object_array_length(arr);
    r->hugepages = xzalloc((n + 1) * sizeof(*r->hugepages));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        struct ctr_hugepage *h = &r->hugepages[r->nhugepages];
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.hugepageLimits[%zu]", path, i);
        if (!json_object_is_type(e, json_type_object))
            FAIL("%s: expected object", sub);
        r->nhugepages++;
        h->limit = -1;
        if (get_str(e, "pageSize", sub, &h->page, err) || get_int(e, "limit", sub, 0, INT64_MAX, &h->limit, err))
            return -1;
        /* the size as the kernel names it: digits then KB, MB or GB */
        size_t d = h->page ? strspn(h->page, "0123456789") : 0;
        if (!d || (strcmp(h->page + d, "KB") && strcmp(h->page + d, "MB") && strcmp(h->page + d, "GB")))
            FAIL("%s.pageSize: \"%s\" is not a page size like 2MB or 1GB", sub, h->page ? h->page : "");
        if (h->limit < 0)
            FAIL("%s.limit: missing", sub);
    }
    return 0;
}

int ctr_resources_parse(struct json_object *res, struct ctr_resources *s, const char *path, struct ctr_error **err)
{
    struct json_object *mem, *cpu, *pids, *blkio, *net, *huge;
    char sub[128];
#define SUB(k) (snprintf(sub, sizeof(sub), "%s.%s", path, k), sub)
    if (get(res, "memory", json_type_object, path, &mem, err) ||
        get(res, "cpu", json_type_object, path, &cpu, err) ||
        get(res, "pids", json_type_object, path, &pids, err) ||
        get(res, "blockIO", json_type_object, path, &blkio, err) ||
        get(res, "network", json_type_object, path, &net, err) ||
        get(res, "hugepageLimits", json_type_array, path, &huge, err) ||
        get(res, "devices", json_type_array, path, &s->devices, err))
        return -1;
    bool oom = false;
    if (get_int(mem, "limit", SUB("memory"), -1, INT64_MAX, &s->mem_limit, err) ||
        get_int(mem, "reservation", sub, -1, INT64_MAX, &s->mem_reservation, err) ||
        get_int(mem, "swap", sub, -1, INT64_MAX, &s->mem_swap, err) ||
        get_int(mem, "kernel", sub, -1, INT64_MAX, &s->mem_kernel, err) ||
        get_int(mem, "kernelTCP", sub, -1, INT64_MAX, &s->mem_kernel_tcp, err) ||
        get_int(mem, "swappiness", sub, 0, 100, &s->mem_swappiness, err) ||
        get_bool(mem, "disableOOMKiller", sub, &oom, err) ||
        get_int(pids, "limit", SUB("pids"), INT64_MIN, INT64_MAX, &s->pids_limit, err) ||
        get_int(cpu, "shares", SUB("cpu"), 0, 262144, &s->cpu_shares, err) ||
        get_int(cpu, "quota", sub, -1, INT64_MAX, &s->cpu_quota, err) ||
        get_int(cpu, "period", sub, 0, 1000000, &s->cpu_period, err) ||
        get_int(cpu, "realtimeRuntime", sub, -1, INT64_MAX, &s->cpu_rt_runtime, err) ||
        get_int(cpu, "realtimePeriod", sub, 0, INT64_MAX, &s->cpu_rt_period, err) ||
        get_str(cpu, "cpus", sub, &s->cpuset_cpus, err) ||
        get_str(cpu, "mems", sub, &s->cpuset_mems, err) ||
        get_int(blkio, "weight", SUB("blockIO"), 0, 1000, &s->blkio_weight, err))
        return -1;
#undef SUB
    struct json_object *v;
    if (mem && json_object_object_get_ex(mem, "disableOOMKiller", &v) && !json_object_is_type(v, json_type_null))
        s->disable_oom = oom;
    /* 0 is "unset" for these, as runc and crun read them */
    if (s->cpu_shares == 0) s->cpu_shares = -1;
    if (s->cpu_period == 0) s->cpu_period = -1;
    if (s->cpu_rt_period == 0) s->cpu_rt_period = -1;
    if (s->blkio_weight == 0) s->blkio_weight = -1;
    if (s->cpu_shares > 0 && s->cpu_shares < 2)
        FAIL("%s.cpu.shares: %lld is out of range (2..262144)", path, (long long)s->cpu_shares);
    if (s->cpu_period > 0 && s->cpu_period < 1000)
        FAIL("%s.cpu.period: %lld is out of range (1000..1000000 µs)", path, (long long)s->cpu_period);
    if (s->blkio_weight > 0 && s->blkio_weight < 10)
        FAIL("%s.blockIO.weight: %lld is out of range (10..1000)", path, (long long)s->blkio_weight);
    if (net && parse_network(net, s, path, err))
        return -1;
    if (huge && parse_hugepages(huge, s, path, err))
        return -1;
    s->blkio = blkio;
    static const char *const bdev_lists[] = { "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                              "throttleReadIOPSDevice", "throttleWriteIOPSDevice" };
    for (size_t l = 0; blkio && l < ARRAY_SIZE(bdev_lists); l++) {
        struct json_object *arr;
        char sub[160];
        snprintf(sub, sizeof(sub), "%s.blockIO", path);
        if (get(blkio, bdev_lists[l], json_type_array, sub, &arr, err))
            return -1;
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            struct json_object *d = json_object_array_get_idx(arr, i);
            int64_t maj = -1, min = -1, v = -1;
            snprintf(sub, sizeof(sub), "%s.blockIO.%s[%zu]", path, bdev_lists[l], i);
            if (!json_object_is_type(d, json_type_object))
                FAIL("%s: expected object", sub);
            if (get_int(d, "major", sub, 0, UINT32_MAX, &maj, err) || get_int(d, "minor", sub, 0, UINT32_MAX, &min, err))
                return -1;
            if (maj < 0 || min < 0)
                FAIL("%s: major and minor are required", sub);
            if (l == 0 ? get_int(d, "weight", sub, 10, 1000, &v, err) : get_int(d, "rate", sub, 0, INT64_MAX, &v, err))
                return -1;
            if (v < 0)
                FAIL("%s.%s: missing", sub, l == 0 ? "weight" : "rate");
        }
    }
    for (size_t i = 0; s->devices && i < json_object_array_length(s->devices); i++) {
        struct json_object *d = json_object_array_get_idx(s->devices, i);
        char sub[160];
        snprintf(sub, sizeof(sub), "%s.devices[%zu]", path, i);
        bool allow = false;
        cleanup_free char *type = NULL, *access = NULL;
        int64_t v = -1;
        if (!json_object_is_type(d, json_type_object))
            FAIL("%s: expected object", sub);
        if (get_bool(d, "allow", sub, &allow, err) || get_str(d, "type", sub, &type, err) ||
            get_str(d, "access", sub, &access, err) || get_int(d, "major", sub, -1, INT32_MAX, &v, err) ||
            get_int(d, "minor", sub, -1, INT32_MAX, &v, err))
            return -1;
        if (type && strcmp(type, "a") && strcmp(type, "b") && strcmp(type, "c"))
            FAIL("%s.type: \"%s\" is not one of a, b, c", sub, type);
        if (access && strspn(access, "rwm") != strlen(access))
            FAIL("%s.access: \"%s\" may contain only r, w and m", sub, access);
    }
    return 0;
}

static int parse_linux(struct json_object *lin, struct ctr_spec *s, struct ctr_error **err)
{
    struct json_object *nss, *res, *sysctl;
    if (get(lin, "namespaces", json_type_array, "linux", &nss, err))
        return -1;
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
        struct json_object *e = json_object_array_get_idx(nss, i);
        char sub[64];
        snprintf(sub, sizeof(sub), "linux.namespaces[%zu]", i);
        cleanup_free char *type = NULL, *path = NULL;
        if (!json_object_is_type(e, json_type_object))
            FAIL("%s: expected object", sub);
        if (get_str(e, "type", sub, &type, err) || get_str(e, "path", sub, &path, err))
            return -1;
        if (!type)
            FAIL("%s.type: missing", sub);
        int k;
        for (k = 0; k < CTR_NS_COUNT; k++)
            if (!strcmp(type, ns_names[k]))
                break;
        if (k == CTR_NS_COUNT)
            FAIL("%s.type: unknown namespace \"%s\"", sub, type);
        if (s->ns_on[k])
            FAIL("%s.type: namespace \"%s\" given twice", sub, type);
        if (path && path[0] != '/')
            FAIL("%s.path: \"%s\" is not an absolute path", sub, path);
        s->ns_on[k] = true;
        s->ns_path[k] = path ? xstrdup(path) : NULL;
    }
    if (parse_idmaps(lin, "uidMappings", s->uidmap, &s->nuidmap, err) ||
        parse_idmaps(lin, "gidMappings", s->gidmap, &s->ngidmap, err))
        return -1;
    if ((s->nuidmap || s->ngidmap) && !s->ns_on[CTR_NS_USER])
        FAIL("linux.uidMappings: given without a user namespace");
    if (get_strv(lin, "maskedPaths", "linux", &s->masked, err) ||
        get_strv(lin, "readonlyPaths", "linux", &s->readonly, err) ||
        get_str(lin, "cgroupsPath", "linux", &s->cgroups_path, err))
        return -1;
    for (char **p = s->masked; p && *p; p++)
        if (**p != '/') FAIL("linux.maskedPaths[%td]: \"%s\" is not an absolute path", p - s->masked, *p);
    for (char **p = s->readonly; p && *p; p++)
        if (**p != '/') FAIL("linux.readonlyPaths[%td]: \"%s\" is not an absolute path", p - s->readonly, *p);
    cleanup_free char *prop = NULL;
    if (get_str(lin, "rootfsPropagation", "linux", &prop, err))
        return -1;
    if (prop) {
        size_t k;
        for (k = 0; k < ARRAY_SIZE(prop_opts); k++)
            if (!strcmp(prop, prop_opts[k].name))
                break;
        if (k == ARRAY_SIZE(prop_opts))
            FAIL("linux.rootfsPropagation: unknown propagation \"%s\"", prop);
        s->rootfs_prop = prop_opts[k].flag;
    }
    struct json_object *toff;
    if (get(lin, "timeOffsets", json_type_object, "linux", &toff, err))
        return -1;
    if (toff) {
        static const char *const clocks[2] = { "monotonic", "boottime" };
        if (!s->ns_on[CTR_NS_TIME] || s->ns_path[CTR_NS_TIME])
            FAIL("linux.timeOffsets: given without a new time namespace");
        json_object_object_foreach(toff, key, val) {
            int k = !strcmp(key, clocks[0]) ? 0 : !strcmp(key, clocks[1]) ? 1 : -1;
            char sub[64];
            if (k < 0)
                FAIL("linux.timeOffsets.%s: unknown clock (monotonic or boottime)", key);
            snprintf(sub, sizeof(sub), "linux.timeOffsets.%s", key);
            if (!json_object_is_type(val, json_type_object))
                FAIL("%s: expected object", sub);
            if (get_int(val, "secs", sub, -((int64_t)1 << 40), (int64_t)1 << 40, &s->time_off[k][0], err) ||
                get_int(val, "nanosecs", sub, 0, 999999999, &s->time_off[k][1], err))
                return -1;
        }
        s->has_time_off = true;
    }
    if (get(lin, "resources", json_type_object, "linux", &res, err) ||
        (res && ctr_resources_parse(res, &s->res, "linux.resources", err)))
        return -1;
    if (get(lin, "seccomp", json_type_object, "linux", &s->seccomp, err) ||
        (s->seccomp && ctr_seccomp_validate(s->seccomp, "linux.seccomp", err)))
        return -1;
    if (get(lin, "sysctl", json_type_object, "linux", &sysctl, err))
        return -1;
    if (sysctl) {
        size_t n = (size_t)json_object_object_length(sysctl), i = 0;
        s->sysctl = xzalloc((2 * n + 1) * sizeof(char *));
        json_object_object_foreach(sysctl, key, val) {
            if (!json_object_is_type(val, json_type_string))
                FAIL("linux.sysctl.%s: expected string", key);
            if (strstr(key, "..") || strchr(key, '/'))
                FAIL("linux.sysctl: invalid key \"%s\"", key);
            s->sysctl[i++] = xstrdup(key);
            s->sysctl[i++] = xstrdup(json_object_get_string(val));
        }
    }
    return 0;
}

/* No mount namespace listed: the container inherits the runtime's, as the
 * spec says, and is chrooted into its root (runc and crun do the same). Its
 * `mounts` are made in that namespace, under the root, and detached when it
 * is deleted (runc leaves them). What would change mounts outside the root
 * or the host's /proc is refused: masked and read-only paths (runc refuses
 * them too), a read-only or re-propagated root, sysctls. */
static int check_no_mntns(const struct ctr_spec *s, struct ctr_error **err)
{
    const char *what = (s->masked && s->masked[0]) ? "linux.maskedPaths" :
                       (s->readonly && s->readonly[0]) ? "linux.readonlyPaths" : s->root_ro ? "root.readonly" :
                       s->rootfs_prop ? "linux.rootfsPropagation" : (s->sysctl && s->sysctl[0]) ? "linux.sysctl" : NULL;
    if (what)
        FAIL("%s: needs a mount namespace (add {\"type\": \"mount\"} to linux.namespaces or remove %s): "
             "without one it would change the host's mounts", what, what);
    return 0;
}

struct ctr_spec *ctr_spec_parse(const char *text, const char *bundle, const char *where, struct ctr_error **err)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *doc = json_tokener_parse_ex(tok, text, (int)strlen(text));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!doc || jerr != json_tokener_success) {
        ctr_error_make(err, 0, "%s: not valid JSON at byte %zu: %s", where, off, json_tokener_error_desc(jerr));
        json_object_put(doc);
        return NULL;
    }
    struct ctr_spec *s = xzalloc(sizeof(*s));
    s->json = doc;
    ctr_resources_init(&s->res);
    struct json_object *root, *proc, *mounts, *lin, *hooks, *ver;
    cleanup_free char *root_path = NULL;
    if (!json_object_is_type(doc, json_type_object)) {
        ctr_error_make(err, 0, "%s: expected a JSON object at the top level", where);
        goto fail;
    }
    if (get(doc, "ociVersion", json_type_string, "", &ver, err))
        goto fail;
    if (!ver) {
        ctr_error_make(err, 0, "config.json: ociVersion: missing");
        goto fail;
    }
    if (strncmp(json_object_get_string(ver), "1.", 2)) {
        ctr_error_make(err, 0, "config.json: ociVersion: unsupported version \"%s\" (vessel implements 1.x)",
                  json_object_get_string(ver));
        goto fail;
    }
    if (get(doc, "root", json_type_object, "", &root, err) || get_str(root, "path", "root", &root_path, err) ||
        get_bool(root, "readonly", "root", &s->root_ro, err))
        goto fail;
    if (!root_path || !*root_path) {
        ctr_error_make(err, 0, "config.json: root.path: missing");
        goto fail;
    }
    s->root = root_path[0] == '/' ? xstrdup(root_path) : xasprintf("%s/%s", bundle, root_path);
    if (get(doc, "process", json_type_object, "", &proc, err) || ctr_process_parse(proc, &s->proc, "process", err))
        goto fail;
    if (get_str(doc, "hostname", "", &s->hostname, err) || get_str(doc, "domainname", "", &s->domainname, err))
        goto fail;
    if (get(doc, "mounts", json_type_array, "", &mounts, err))
        goto fail;
    s->nmounts = mounts ? json_object_array_length(mounts) : 0;
    s->mounts = xzalloc((s->nmounts + 1) * sizeof(struct ctr_mount));
    for (size_t i = 0; i < s->nmounts; i++) {
        struct json_object *e = json_object_array_get_idx(mounts, i), *opts;
        struct ctr_mount *m = &s->mounts[i];
        char sub[64];
        snprintf(sub, sizeof(sub), "mounts[%zu]", i);
        if (!json_object_is_type(e, json_type_object)) {
            ctr_error_make(err, 0, "config.json: %s: expected object", sub);
            goto fail;
        }
        if (get_str(e, "destination", sub, &m->dest, err) || get_str(e, "type", sub, &m->type, err) ||
            get_str(e, "source", sub, &m->source, err) || get(e, "options", json_type_array, sub, &opts, err) ||
            parse_mount_options(opts, m, sub, err))
            goto fail;
        if (!m->dest || m->dest[0] != '/') {
            ctr_error_make(err, 0, "config.json: %s.destination: \"%s\" is not an absolute path", sub, m->dest ? m->dest : "");
            goto fail;
        }
        if (strstr(m->dest, "/../") || !strcmp(m->dest + strlen(m->dest) - (strlen(m->dest) >= 3 ? 3 : 0), "/..")) {
            ctr_error_make(err, 0, "config.json: %s.destination: \"%s\" escapes the root", sub, m->dest);
            goto fail;
        }
        if (m->type && !strcmp(m->type, "bind"))
            m->bind = true;
        if (m->bind && !m->source) {
            ctr_error_make(err, 0, "config.json: %s.source: a bind mount needs a source", sub);
            goto fail;
        }
        if (m->bind && m->source[0] != '/') {
            char *abs = xasprintf("%s/%s", bundle, m->source);
            free(m->source);
            m->source = abs;
        }
    }
    if (get(doc, "linux", json_type_object, "", &lin, err) || (lin && parse_linux(lin, s, err)))
        goto fail;
    if (get(doc, "hooks", json_type_object, "", &hooks, err) || (hooks && parse_hooks(hooks, s, err)))
        goto fail;
    if (!s->ns_on[CTR_NS_MNT] && check_no_mntns(s, err) < 0)
        goto fail;
    if (get(doc, "annotations", json_type_object, "", &s->annotations, err))
        goto fail;
    return s;
fail:
    ctr_spec_free(s);
    return NULL;
}

struct ctr_spec *ctr_spec_load(const char *bundle, struct ctr_error **err)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle);
    char *text;
    int r = read_file(path, &text, NULL, 16 << 20);
    if (r < 0) {
        ctr_error_make(err, -r, "cannot read %s", path);
        return NULL;
    }
    struct ctr_spec *s = ctr_spec_parse(text, bundle, path, err);
    free(text);
    return s;
}

void ctr_process_free(struct ctr_process *p)
{
    strv_free(p->args);
    strv_free(p->env);
    free(p->cwd);
    free(p->gids);
    free(p->rlimits);
}

void ctr_spec_free(struct ctr_spec *s)
{
    if (!s) return;
    ctr_process_free(&s->proc);
    for (size_t i = 0; i < s->nmounts; i++) {
        free(s->mounts[i].dest); free(s->mounts[i].type);
        free(s->mounts[i].source); free(s->mounts[i].data);
    }
    free(s->mounts);
    for (int k = 0; k < CTR_NS_COUNT; k++) free(s->ns_path[k]);
    for (int k = 0; k < CTR_HOOK_COUNT; k++) {
        for (size_t i = 0; i < s->nhooks[k]; i++) {
            free(s->hooks[k][i].path); strv_free(s->hooks[k][i].args); strv_free(s->hooks[k][i].env);
        }
        free(s->hooks[k]);
    }
    strv_free(s->masked); strv_free(s->readonly); strv_free(s->sysctl);
    free(s->root); free(s->hostname); free(s->domainname); free(s->cgroups_path);
    ctr_resources_free(&s->res);
    json_object_put(s->json);
    free(s);
}

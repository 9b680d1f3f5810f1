/* ctr: the container life cycle: create / start / run / state / kill /
 * delete / list / ps / pause / exec, and the state directory. */
#include "ctr/ctr.h"
#include "base/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define OCI_VERSION "1.0.2"

struct state {
    char *id, *bundle, *rootfs, *created, *cgroup;
    pid_t pid;
    unsigned long long starttime;
    struct json_object *annotations;
    char dir[PATH_MAX];
};

static int valid_id(const char *id, struct ctr_error **err)
{
    if (!id || !*id || !strcmp(id, ".") || !strcmp(id, "..") || strlen(id) > 1024 ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.") != strlen(id)) {
        ctr_error_make(err, 0, "invalid container id \"%s\": use letters, digits, '_', '+', '-' and '.'", id ? id : "");
        return -1;
    }
    return 0;
}

static unsigned long long proc_starttime(pid_t pid, char *state_char)
{
    char path[64], *text;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_file(path, &text, NULL, 0) < 0)
        return 0;
    char *p = strrchr(text, ')');
    unsigned long long st = 0;
    if (p) {
        char c = 0;
        /* fields after comm: state(3) ... starttime(22) */
        if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &c, &st) != 2)
            st = 0;
        if (state_char) *state_char = c;
    }
    free(text);
    return st;
}

static void state_free(struct state *s)
{
    free(s->id); free(s->bundle); free(s->rootfs); free(s->created); free(s->cgroup);
    json_object_put(s->annotations);
    memset(s, 0, sizeof(*s));
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static int state_load(const char *root, const char *id, struct state *s, struct ctr_error **err)
{
    memset(s, 0, sizeof(*s));
    if (valid_id(id, err))
        return -1;
    snprintf(s->dir, sizeof(s->dir), "%s/%s", root, id);
    cleanup_free char *path = xasprintf("%s/state.json", s->dir);
    struct json_object *o = json_object_from_file(path);
    if (!o) {
        ctr_error_make(err, 0, "container \"%s\" does not exist", id);
        return -1;
    }
    s->id = xstrdup(id);
    s->bundle = xstrdup(jstr(o, "bundle") ? jstr(o, "bundle") : "");
    s->rootfs = xstrdup(jstr(o, "rootfs") ? jstr(o, "rootfs") : "");
    s->created = xstrdup(jstr(o, "created") ? jstr(o, "created") : "");
    s->cgroup = jstr(o, "cgroup") ? xstrdup(jstr(o, "cgroup")) : NULL;
    struct json_object *v;
    if (json_object_object_get_ex(o, "pid", &v)) s->pid = json_object_get_int(v);
    if (json_object_object_get_ex(o, "starttime", &v)) s->starttime = json_object_get_uint64(v);
    if (json_object_object_get_ex(o, "annotations", &v)) s->annotations = json_object_get(v);
    json_object_put(o);
    return 0;
}

static int state_save(const struct state *s, struct ctr_error **err)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "pid", json_object_new_int(s->pid));
    json_object_object_add(o, "starttime", json_object_new_uint64(s->starttime));
    json_object_object_add(o, "bundle", json_object_new_string(s->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(s->rootfs));
    json_object_object_add(o, "created", json_object_new_string(s->created));
    if (s->cgroup) json_object_object_add(o, "cgroup", json_object_new_string(s->cgroup));
    if (s->annotations) json_object_object_add(o, "annotations", json_object_get(s->annotations));
    cleanup_free char *tmp = xasprintf("%s/state.json.tmp", s->dir);
    cleanup_free char *path = xasprintf("%s/state.json", s->dir);
    int r = json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PLAIN);
    json_object_put(o);
    if (r < 0 || rename(tmp, path) < 0) {
        ctr_error_make(err, errno, "cannot write %s", path);
        return -1;
    }
    return 0;
}

static bool alive(const struct state *s)
{
    if (s->pid <= 0)
        return false;
    char c = 0;
    unsigned long long st = proc_starttime(s->pid, &c);
    return st && st == s->starttime && c != 'Z' && c != 'X';
}

static const char *status_of(const struct state *s)
{
    if (!alive(s))
        return "stopped";
    cleanup_free char *fifo = xasprintf("%s/exec.fifo", s->dir);
    if (access(fifo, F_OK) == 0)
        return "created";
    struct ctr_cgroup *cg = s->cgroup ? ctr_cgroup_from(s->cgroup) : NULL;
    bool frozen = cg && ctr_cgroup_frozen(cg);
    ctr_cgroup_free(cg);
    return frozen ? "paused" : "running";
}

/* The state as `state` prints it; `status` overrides the computed one
 * (hooks that run while the container is being created see "creating"). */
static struct json_object *state_json_as(const struct state *s, const char *status)
{
    struct json_object *o = json_object_new_object();
    const char *st = status ? status : status_of(s);
    json_object_object_add(o, "ociVersion", json_object_new_string(OCI_VERSION));
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "pid", json_object_new_int(strcmp(st, "stopped") ? s->pid : 0));
    json_object_object_add(o, "status", json_object_new_string(st));
    json_object_object_add(o, "bundle", json_object_new_string(s->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(s->rootfs));
    json_object_object_add(o, "created", json_object_new_string(s->created));
    struct passwd *pw = getpwuid(geteuid());
    json_object_object_add(o, "owner", json_object_new_string(pw && geteuid() ? pw->pw_name : ""));
    if (s->annotations)
        json_object_object_add(o, "annotations", json_object_get(s->annotations));
    return o;
}

static struct json_object *state_json(const struct state *s)
{
    return state_json_as(s, NULL);
}

static int rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
            if (unlink(p) < 0 && errno == EISDIR)
                rm_rf(p);
        }
        closedir(d);
    }
    return rmdir(path);
}

/* The config of a container being started or deleted, for its poststart or
 * poststop hooks: NULL and a warning when it cannot be read any more. */
static struct ctr_spec *spec_for_hooks(const char *bundle, const char *kind)
{
    struct ctr_error *err = NULL;
    struct ctr_spec *spec = ctr_spec_load(bundle, &err);
    if (!spec) {
        log_warn("%s hooks not run: %s", kind, err ? err->msg : "no config");
        ctr_error_free(&err);
    }
    return spec;
}

/* status: the one the hooks see (NULL: the current one). Poststart hooks
 * see "running" with the pid: the state the start operation left, not
 * what it is when the hook is given it (a short program may have exited
 * by then: "stopped" without a pid, as a test under ASan once saw). */
static void run_hooks_state(const struct ctr_spec *spec, int kind, const struct state *st, const char *status)
{
    if (!spec || !spec->nhooks[kind])
        return;
    struct json_object *o = state_json_as(st, status);
    ctr_hooks_run(spec, kind, json_object_to_json_string(o), -1, NULL);    /* warnings only */
    json_object_put(o);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *p)
{
    char *w = p;
    for (; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            *w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
}

/* A container without a mount namespace made its mounts in the runtime's
 * (runc does the same, and leaves them): detach every mount at or below
 * one of its mount destinations, deepest first, so that none outlives it. */
static void release_shared_mounts(const struct ctr_spec *spec)
{
    char root[PATH_MAX];
    if (!spec || spec->ns_on[CTR_NS_MNT] || !spec->nmounts || !realpath(spec->root, root) || !strcmp(root, "/"))
        return;
    for (int pass = 0; pass < 1024; pass++) {
        char *info = NULL;
        if (read_file("/proc/self/mountinfo", &info, NULL, 16 << 20) < 0)
            return;
        char *best = NULL;
        size_t best_len = 0;
        for (char *l = info, *save, *line; (line = strtok_r(l, "\n", &save)); l = NULL) {
            char mp[PATH_MAX];
            if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                continue;
            unescape_octal(mp);
            for (size_t i = 0; i < spec->nmounts; i++) {
                char dest[PATH_MAX * 2];
                snprintf(dest, sizeof(dest), "%s%s", root, spec->mounts[i].dest);
                size_t n = strlen(dest);
                while (n > 1 && dest[n - 1] == '/')
                    dest[--n] = 0;
                if (!strncmp(mp, dest, n) && (mp[n] == 0 || mp[n] == '/') && strlen(mp) >= best_len) {
                    free(best);
                    best = xstrdup(mp);
                    best_len = strlen(mp);
                }
            }
        }
        free(info);
        if (!best)
            return;
        int r = umount2(best, MNT_DETACH);
        if (r < 0)
            log_warn("cannot unmount %s (mounted for the container in the host's mount namespace): %s", best, strerror(errno));
        free(best);
        if (r < 0)
            return;
    }
}

static void cleanup_container(struct state *st, const struct ctr_spec *spec)
{
    if (st->cgroup) {
        struct ctr_cgroup *cg = ctr_cgroup_from(st->cgroup);
        pid_t *pids; size_t n;
        if (cg && ctr_cgroup_pids(cg, &pids, &n) == 0) {
            for (size_t i = 0; i < n; i++) kill(pids[i], SIGKILL);
            free(pids);
        }
        ctr_cgroup_destroy(cg);
    }
    release_shared_mounts(spec);
    run_hooks_state(spec, CTR_HOOK_POSTSTOP, st, NULL);
    rm_rf(st->dir);
}

static char *now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    /* Go's RFC3339Nano, as runc writes it: trailing zeros of the fraction dropped */
    char frac[16];
    snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
    size_t n = strlen(frac);
    while (n > 1 && frac[n - 1] == '0')
        frac[--n] = 0;
    return xasprintf("%s%sZ", buf, n > 1 ? frac : "");
}

static int write_idmap(pid_t pid, const char *file, const struct ctr_idmap *m, size_t n)
{
    char buf[512], path[64];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].cid, m[i].hid, m[i].size);
    if (geteuid() != 0 && !strcmp(file, "gid_map")) {
        /* an unprivileged writer must give up setgroups first */
        snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
        int sfd = open(path, O_WRONLY | O_CLOEXEC);
        if (sfd >= 0) { if (write(sfd, "deny", 4) < 0) { /* reported by the gid_map write */ } close(sfd); }
    }
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = write(fd, buf, len) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* The program runs once execve returned, but has not yet set up its signal
 * handlers, and a pid namespace's init drops every signal it has no handler
 * for: a `kill` sent right after `start` is then lost (runtime-tools'
 * killsig lost SIGTERM that way: busybox sh had not run its `trap` yet, 0.5
 * to 6 ms after the execve on this host, for runc's containers too; runc's
 * own start-up time hides it). So `start` (and `run -d`), after the
 * poststart hooks, returns once the program first waits interruptibly
 * (what it waits for is set up by then), stops or ends, or after 20 ms of
 * running without waiting. */
static void start_settle(const struct state *st)
{
    uint64_t end = time_ns() + 20 * 1000000ull;
    for (;;) {
        char c = 0;
        unsigned long long t = proc_starttime(st->pid, &c);
        if (!t || t != st->starttime || (c != 'R' && c != 'D') || time_ns() > end)
            return;
        nanosleep(&(struct timespec){ 0, 100000 }, NULL);
    }
}

static int start_fifo(struct state *st, struct ctr_error **err)
{
    cleanup_free char *fifo = xasprintf("%s/exec.fifo", st->dir);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ctr_error_make(err, 0, "container \"%s\" cannot be started: %s", st->id, strerror(errno));
        return -1;
    }
    char c;
    for (int i = 0; i < 10000; i++) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 10) > 0 && read(fd, &c, 1) == 1) {
            unlink(fifo);
            /* the init keeps the fifo open until its execve: wait for that
             * EOF (bounded), so that the program runs when `start` returns */
            for (int j = 0; j < 1000 && alive(st); j++) {
                p.revents = 0;
                if (poll(&p, 1, 10) > 0 && read(fd, &c, 1) <= 0)
                    break;
            }
            close(fd);
            return 0;
        }
        if (!alive(st))
            break;
    }
    close(fd);
    ctr_error_make(err, 0, "container \"%s\" did not start: its init exited", st->id);
    return -1;
}

static volatile pid_t fwd_pid;
static void forward_signal(int sig) { if (fwd_pid > 0) kill(fwd_pid, sig); }

/* run without -d: forward signals to the container, proxy its terminal if
 * we keep it, wait, remove it; its exit status (128 + signal). */
static int run_foreground(struct state *st, const struct ctr_spec *spec, pid_t pid, int consfd)
{
    int status = 0;
    fwd_pid = pid;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int master = consfd >= 0 ? ctr_console_recv(consfd) : -1;
    if (master >= 0)
        status = ctr_console_proxy(master, pid);
    else
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    cleanup_container(st, spec);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* create: answer init until it is ready ('R': 0); run prestart and
 * createRuntime when it asks ('H'); -1 after one error line when it fails
 * ('E' and its message) or dies (*pid = -1 once reaped). */
static int create_wait_ready(int syncfd, const struct state *st, const struct ctr_spec *spec,
                             struct ctr_cgroup *cg, pid_t *pid, struct ctr_error **err)
{
    for (;;) {
        char msg[1100];
        ssize_t n = read_full(syncfd, msg, 1);
        if (n == 1 && msg[0] == 'R')
            return 0;
        if (n == 1 && msg[0] == 'H') {
            /* init's mounts are done, pivot_root is not: prestart, createRuntime */
            struct json_object *sj = state_json_as(st, "creating");
            const char *txt = json_object_to_json_string(sj);
            int hr = ctr_hooks_run(spec, CTR_HOOK_PRESTART, txt, -1, err);
            if (hr == 0)
                hr = ctr_hooks_run(spec, CTR_HOOK_CREATE_RUNTIME, txt, -1, err);
            json_object_put(sj);
            if (write(syncfd, hr < 0 ? "X" : "C", 1) != 1 && hr == 0)
                return ctr_error_make(err, errno, "container init exited during the prestart/createRuntime hooks");
            if (hr < 0)
                return -1;
            continue;
        }
        ssize_t m = n == 1 ? read_full(syncfd, msg + 1, sizeof(msg) - 2) : 0;
        msg[(m > 0 ? m : 0) + 1] = 0;
        if (n == 1 && msg[0] == 'E') {
            ctr_error_make(err, 0, "%s", msg + 1);
        } else {
            /* init died without a word: say how, and blame the OOM killer when it was it */
            int status = 0;
            waitpid(*pid, &status, 0);
            *pid = -1;
            if (WIFSIGNALED(status) && cg && ctr_cgroup_oom_count(cg) > 0)
                ctr_error_make(err, 0, "container init was killed by the OOM killer before it was ready: "
                          "linux.resources.memory.limit (%lld) is too low", (long long)spec->res.mem_limit);
            else if (WIFSIGNALED(status))
                ctr_error_make(err, 0, "container init was killed by signal %s before it was ready", sigabbrev_np(WTERMSIG(status)));
            else
                ctr_error_make(err, 0, "container init exited with status %d before it was ready", WEXITSTATUS(status));
        }
        return -1;
    }
}

/* create, first step: the bundle's config loaded and checked, the state
 * directory made. 0, or 1 after one error line (nothing left behind). */
static int create_load(const char *id, const struct ctr_opts *o, bool start_now, char bundle[PATH_MAX],
                       struct ctr_spec **specp, struct state *st, struct ctr_error **err)
{
    if (valid_id(id, err))
        return -1;
    if (!realpath(o->bundle ? o->bundle : ".", bundle)) {
        ctr_error_make(err, errno, "bundle %s", o->bundle ? o->bundle : ".");
        return -1;
    }
    struct ctr_spec *spec = ctr_spec_load(bundle, err);
    *specp = NULL;
    if (!spec)
        return -1;
    struct stat sb;
    if (stat(spec->root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        ctr_error_make(err, 0, "root.path: rootfs %s: %s", spec->root, stat(spec->root, &sb) < 0 ? strerror(errno) : "not a directory");
        ctr_spec_free(spec);
        return -1;
    }
    char real_root[PATH_MAX];
    if (realpath(spec->root, real_root)) {
        free(spec->root);
        spec->root = xstrdup(real_root);
    }
    if (spec->proc.terminal && !o->console_socket && (!start_now || o->detach)) {
        ctr_error_make(err, 0, "process.terminal is true: give --console-socket to receive the pty "
                  "(only a foreground run can keep the terminal itself)");
        ctr_spec_free(spec);
        return -1;
    }
    int mr = mkdir_parents(o->root, 0711);        /* as runc: with its parents */
    if (mr < 0) {
        ctr_error_make(err, -mr, "cannot create the state root %s", o->root);
        ctr_spec_free(spec);
        return -1;
    }
    snprintf(st->dir, sizeof(st->dir), "%s/%s", o->root, id);
    if (mkdir(st->dir, 0711) < 0) {
        if (errno == EEXIST)
            ctr_error_make(err, 0, "container \"%s\" already exists", id);
        else
            ctr_error_make(err, errno, "cannot create %s", st->dir);
        ctr_spec_free(spec);
        return -1;
    }
    st->id = xstrdup(id);
    st->bundle = xstrdup(bundle);
    st->rootfs = xstrdup(spec->root);
    st->created = now_rfc3339();
    st->annotations = spec->annotations ? json_object_get(spec->annotations) : NULL;
    *specp = spec;
    return 0;
}

/* --pid-file: written whole (a temporary file renamed), as runc does */
static int write_pid_file(const char *path, pid_t pid, struct ctr_error **err)
{
    char v[32];
    snprintf(v, sizeof(v), "%d", pid);
    cleanup_free char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_full(fd, v, strlen(v)) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
        return ctr_error_make(err, errno, "--pid-file %s", path);
    return 0;
}

/* create, once init is cloned: its id maps written, it put in its cgroups
 * and their limits set (before it is told to go on) */
static int create_place_init(const struct ctr_spec *spec, struct ctr_cgroup *cg, pid_t pid, struct state *st,
                             struct ctr_error **err)
{
    if (spec->ns_on[CTR_NS_USER] && !spec->ns_path[CTR_NS_USER]) {
        int r;
        if ((r = write_idmap(pid, "uid_map", spec->uidmap, spec->nuidmap)) < 0 ||
            (r = write_idmap(pid, "gid_map", spec->gidmap, spec->ngidmap)) < 0)
            return ctr_error_make(err, -r, "linux.uidMappings/gidMappings: cannot write the id maps");
    }
    if (cg) {
        if (ctr_cgroup_add(cg, pid, err) < 0 || ctr_cgroup_apply(cg, &spec->res, err) < 0)
            return -1;
        st->cgroup = ctr_cgroup_serialize(cg);
    }
    return 0;
}

int ctr_create(const char *id, const struct ctr_opts *o, bool start_now, struct ctr_error **err)
{
    char bundle[PATH_MAX];
    struct ctr_spec *spec;
    struct state st = { 0 };
    if (create_load(id, o, start_now, bundle, &spec, &st, err))
        return -1;
    int rc = -1, sync[2] = { -1, -1 }, fifo = -1, cons[2] = { -1, -1 }, own_pidns = -1;
    struct ctr_cgroup *cg = NULL;
    void *stack = NULL;
    const size_t stack_size = 256 << 10;
    pid_t pid = -1;
    cleanup_free char *fifo_path = xasprintf("%s/exec.fifo", st.dir);
    /* the container opens the fifo through a directory fd after pivot_root
     * and after it changed user: 0622 lets any uid write it, as runc does */
    if (mkfifo(fifo_path, 0622) < 0 || chmod(fifo_path, 0622) < 0 ||
        (fifo = open(st.dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        ctr_error_make(err, errno, "cannot create %s", fifo_path);
        goto fail;
    }
    cg = ctr_cgroup_create(spec, id, err);
    if (!cg && (*err || geteuid() == 0)) {
        ctr_error_make(err, 0, "cannot create the container's cgroup");
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0 ||
        (spec->proc.terminal && !o->console_socket && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0)) {
        ctr_error_make(err, errno, "socketpair");
        goto fail;
    }
    /* a pid namespace given by path is entered for this one clone only: our
     * later children (hooks, exec) stay in our own, which we return to */
    if (spec->ns_on[CTR_NS_PID] && spec->ns_path[CTR_NS_PID]) {
        int fd = open(spec->ns_path[CTR_NS_PID], O_RDONLY | O_CLOEXEC);
        own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || own_pidns < 0 || setns(fd, CLONE_NEWPID) < 0) {
            ctr_error_make(err, errno, "join namespace %s", spec->ns_path[CTR_NS_PID]);
            if (fd >= 0) close(fd);
            goto fail;
        }
        close(fd);
    }
    /* cgroup and time namespaces are unshared by init: the cgroup one once
     * init is in its cgroups, the time one because clone() cannot (0x80 is
     * in the exit-signal bits) */
    static const int flags[CTR_NS_COUNT] = { CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWIPC,
                                             CLONE_NEWUTS, CLONE_NEWUSER, 0, 0 };
    int cflags = SIGCHLD;
    for (int k = 0; k < CTR_NS_COUNT; k++)
        if (spec->ns_on[k] && !spec->ns_path[k])
            cflags |= flags[k];
    struct ctr_init_args args = { spec, o, sync[1], fifo, id, bundle, cons[1], { sync[0], cons[0] } };
    stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        stack = NULL;
        ctr_error_make(err, errno, "cannot map the container init's stack");
        goto fail;
    }
    pid = clone(ctr_init, (char *)stack + stack_size, cflags, &args);
    if (own_pidns >= 0) {
        int e = errno;
        if (setns(own_pidns, CLONE_NEWPID) < 0) {
            ctr_error_make(err, errno, "return to the runtime's pid namespace");
            goto fail;
        }
        close(own_pidns);
        own_pidns = -1;
        errno = e;
    }
    if (pid < 0) {
        ctr_error_make(err, errno, "cannot create the container process with namespaces 0x%x", cflags);
        goto fail;
    }
    close(sync[1]);
    sync[1] = -1;
    if (cons[1] >= 0) { close(cons[1]); cons[1] = -1; }
    st.pid = pid;
    st.starttime = proc_starttime(pid, NULL);
    if (create_place_init(spec, cg, pid, &st, err) < 0)
        goto fail;
    if (state_save(&st, err) < 0)
        goto fail;
    if (write(sync[0], "G", 1) != 1) {
        ctr_error_make(err, errno, "container init exited before it was given the go");
        goto fail;
    }
    if (create_wait_ready(sync[0], &st, spec, cg, &pid, err) < 0)
        goto fail;
    if (o->pid_file && write_pid_file(o->pid_file, pid, err) < 0)
        goto fail;
    close(sync[0]);
    sync[0] = -1;
    close(fifo);
    fifo = -1;
    munmap(stack, stack_size);
    stack = NULL;
    ctr_cgroup_free(cg);
    rc = 0;
    if (start_now) {
        if (start_fifo(&st, err) < 0) {
            rc = -1;
        } else {
            run_hooks_state(spec, CTR_HOOK_POSTSTART, &st, "running");
            if (!o->detach)
                rc = run_foreground(&st, spec, pid, cons[0]);
            else
                start_settle(&st);
        }
    }
    if (cons[0] >= 0) close(cons[0]);
    ctr_spec_free(spec);
    state_free(&st);
    return rc;
fail:
    if (own_pidns >= 0) close(own_pidns);
    if (cons[0] >= 0) close(cons[0]);
    if (cons[1] >= 0) close(cons[1]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (sync[0] >= 0) close(sync[0]);
    if (sync[1] >= 0) close(sync[1]);
    if (fifo >= 0) close(fifo);
    if (stack) munmap(stack, stack_size);
    ctr_cgroup_destroy(cg);
    release_shared_mounts(spec);
    rm_rf(st.dir);
    ctr_spec_free(spec);
    state_free(&st);
    return -1;
}

int ctr_start(const char *id, const struct ctr_opts *o, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    const char *status = status_of(&st);
    int rc = -1;
    if (strcmp(status, "created")) {
        ctr_error_make(err, 0, "container \"%s\" cannot be started: it is %s, not created", id, status);
    } else if (start_fifo(&st, err) == 0) {
        struct ctr_spec *spec = spec_for_hooks(st.bundle, "poststart");
        run_hooks_state(spec, CTR_HOOK_POSTSTART, &st, "running");
        ctr_spec_free(spec);
        start_settle(&st);
        rc = 0;
    }
    state_free(&st);
    return rc;
}

int ctr_state(const char *id, const struct ctr_opts *o, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    struct json_object *j = state_json(&st);
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
    state_free(&st);
    return 0;
}

int ctr_kill(const char *id, const struct ctr_opts *o, int sig, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    int rc = 0;
    if (!alive(&st)) {
        ctr_error_make(err, 0, "container \"%s\" is not running", id);
        rc = -1;
    } else if (o->all && st.cgroup) {
        struct ctr_cgroup *cg = ctr_cgroup_from(st.cgroup);
        pid_t *pids; size_t n;
        if (cg && ctr_cgroup_pids(cg, &pids, &n) == 0) {
            for (size_t i = 0; i < n; i++) kill(pids[i], sig);
            free(pids);
        }
        ctr_cgroup_free(cg);
    } else if (kill(st.pid, sig) < 0) {
        ctr_error_make(err, 0, "kill container \"%s\" (pid %d): %s", id, st.pid, strerror(errno));
        rc = -1;
    }
    state_free(&st);
    return rc;
}

int ctr_delete(const char *id, const struct ctr_opts *o, struct ctr_error **err)
{
    struct state st;
    if (o->force && !valid_id(id, err)) {
        cleanup_free char *p = xasprintf("%s/%s/state.json", o->root, id);
        if (access(p, F_OK) < 0 && errno == ENOENT)
            return 0;          /* like runc: delete --force of a missing container is fine */
    }
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    const char *status = status_of(&st);
    if (!strcmp(status, "running") || !strcmp(status, "paused")) {
        if (!o->force) {
            ctr_error_make(err, 0, "container \"%s\" is %s: stop it first or use delete --force", id, status);
            state_free(&st);
            return -1;
        }
        if (!strcmp(status, "paused") && st.cgroup) {
            struct ctr_cgroup *cg = ctr_cgroup_from(st.cgroup);
            ctr_cgroup_freeze(cg, false);
            ctr_cgroup_free(cg);
        }
    }
    if (alive(&st)) {
        kill(st.pid, SIGKILL);
        for (int i = 0; i < 2000 && alive(&st); i++) {
            waitpid(st.pid, NULL, WNOHANG);
            usleep(1000);
        }
    }
    struct ctr_spec *spec = st.bundle[0] ? spec_for_hooks(st.bundle, "poststop") : NULL;
    cleanup_container(&st, spec);
    ctr_spec_free(spec);
    state_free(&st);
    return 0;
}

int ctr_list(const struct ctr_opts *o, bool json, bool quiet, struct ctr_error **err)
{
    DIR *d = opendir(o->root);
    struct json_object *arr = json_object_new_array();
    if (!quiet && !json)
        printf("%-12s %-8s %-10s %-40s %-31s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct state st;
        memset(&st, 0, sizeof(st));
        snprintf(st.dir, sizeof(st.dir), "%s/%s", o->root, de->d_name);
        cleanup_free char *path = xasprintf("%s/state.json", st.dir);
        struct ctr_error *bad = NULL;
        if (access(path, F_OK) < 0)
            continue;
        if (state_load(o->root, de->d_name, &st, &bad) < 0) {
            log_warn("%s", bad->msg);           /* listed no further, the rest are */
            ctr_error_free(&bad);
            continue;
        }
        struct json_object *j = state_json(&st);
        if (quiet)
            printf("%s\n", st.id);
        else if (json)
            json_object_array_add(arr, json_object_get(j));
        else
            printf("%-12s %-8d %-10s %-40s %-31s %s\n", st.id, json_object_get_int(json_object_object_get(j, "pid")),
                   jstr(j, "status"), st.bundle, st.created, jstr(j, "owner"));
        json_object_put(j);
        state_free(&st);
    }
    if (d) closedir(d);
    if (json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    return 0;
}

int ctr_ps(const char *id, const struct ctr_opts *o, bool json, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    pid_t *pids = NULL;
    size_t n = 0;
    struct ctr_cgroup *cg = st.cgroup ? ctr_cgroup_from(st.cgroup) : NULL;
    if (cg)
        ctr_cgroup_pids(cg, &pids, &n);
    else if (alive(&st)) {
        pids = xmalloc(sizeof(pid_t));
        pids[0] = st.pid;
        n = 1;
    }
    ctr_cgroup_free(cg);
    if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", pids[i]);
        printf("]\n");
    } else {
        printf("%-8s %s\n", "PID", "CMD");
        for (size_t i = 0; i < n; i++) {
            char path[64], *comm = NULL;
            snprintf(path, sizeof(path), "/proc/%d/comm", pids[i]);
            if (read_file(path, &comm, NULL, 0) == 0) comm[strcspn(comm, "\n")] = 0;
            printf("%-8d %s\n", pids[i], comm ? comm : "?");
            free(comm);
        }
    }
    free(pids);
    state_free(&st);
    return 0;
}

int ctr_pause(const char *id, const struct ctr_opts *o, bool pause, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    int rc = -1;
    const char *status = status_of(&st);
    if (strcmp(status, pause ? "running" : "paused")) {
        ctr_error_make(err, 0, "container \"%s\" is %s, not %s", id, status, pause ? "running" : "paused");
    } else if (!st.cgroup) {
        ctr_error_make(err, 0, "container \"%s\" has no cgroup: cannot %s it", id, pause ? "pause" : "resume");
    } else {
        struct ctr_cgroup *cg = ctr_cgroup_from(st.cgroup);
        int r = ctr_cgroup_freeze(cg, pause);
        ctr_cgroup_free(cg);
        if (r < 0)
            ctr_error_make(err, 0, "%s container \"%s\": %s", pause ? "pause" : "resume", id, strerror(-r));
        rc = r < 0 ? -1 : 0;
    }
    state_free(&st);
    return rc;
}

/* `update`: new resource limits for a created, running or paused container,
 * written to its cgroups. Devices are left alone, as runc does. */
int ctr_update(const char *id, const struct ctr_opts *o, const struct ctr_resources *r, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    int rc = -1;
    const char *status = status_of(&st);
    if (!strcmp(status, "stopped")) {
        ctr_error_make(err, 0, "container \"%s\" is stopped: there is nothing to update", id);
    } else if (!st.cgroup) {
        ctr_error_make(err, 0, "container \"%s\" has no cgroup (rootless without a delegated one): cannot update it", id);
    } else {
        struct ctr_cgroup *cg = ctr_cgroup_from(st.cgroup);
        struct ctr_resources nodev = *r;
        nodev.devices = NULL;
        rc = !cg ? ctr_error_make(err, 0, "container \"%s\": its cgroup cannot be found", id) : ctr_cgroup_apply(cg, &nodev, err) < 0 ? -1 : 0;
        ctr_cgroup_free(cg);
    }
    state_free(&st);
    return rc;
}

/* exec --user UID[:GID] */
static int exec_user(const char *user, struct ctr_process *proc, struct ctr_error **err)
{
    uint64_t u, g;
    const char *colon = strchr(user, ':');
    cleanup_free char *us = xasprintf("%.*s", (int)(colon ? colon - user : (long)strlen(user)), user);
    if (parse_u64(us, &u) || u > UINT32_MAX || (colon && (parse_u64(colon + 1, &g) || g > UINT32_MAX)))
        return ctr_error_make(err, 0, "exec --user: \"%s\" is not UID[:GID] (numbers; names are not looked up)", user);
    proc->uid = (uint32_t)u;
    proc->gid = colon ? (uint32_t)g : 0;
    proc->ngids = 0;
    return 0;
}

/* exec, in the forked child: the host's procfs, the console socket and the
 * container's cgroups (after setns(mnt) the host's paths are gone), then
 * its namespaces. */
static int exec_join(const struct state *st, const struct ctr_opts *o, const struct ctr_process *proc, int cons[2],
                     int *procfd, int *console, struct ctr_error **err)
{
    *procfd = ctr_proc_root();         /* the host's, before setns(mnt) */
    if (*procfd < 0)
        return ctr_error_make(err, -*procfd, "open /proc");
    if (proc->terminal && o->console_socket) {
        *console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct { sa_family_t fam; char path[108]; } sa = { AF_UNIX, "" };
        snprintf(sa.path, sizeof(sa.path), "%s", o->console_socket);
        if (*console < 0 || connect(*console, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return ctr_error_make(err, errno, "connect to the console socket %s", o->console_socket);
    } else if (proc->terminal) {
        *console = cons[1];
        close(cons[0]);
    }
    if (st->cgroup) {
        struct ctr_cgroup *cg = ctr_cgroup_from(st->cgroup);
        int r = cg ? ctr_cgroup_add(cg, getpid(), err) : 0;
        ctr_cgroup_free(cg);
        if (r < 0)
            return ctr_error_wrap(err, "join the container's cgroups");
    }
    static const char *const order[] = { "user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt" };
    static const int types[] = { CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID,
                                 CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS };
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        char p[64], mine[64], theirs[64];
        snprintf(p, sizeof(p), "/proc/%d/ns/%s", st->pid, order[i]);
        ssize_t a = readlink(p, theirs, sizeof(theirs) - 1);
        snprintf(mine, sizeof(mine), "/proc/self/ns/%s", order[i]);
        char me[64];
        ssize_t b = readlink(mine, me, sizeof(me) - 1);
        if (a > 0 && b > 0 && a == b && !memcmp(theirs, me, (size_t)a))
            continue;          /* already there */
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, types[i]) < 0)
            return ctr_error_make(err, errno, "join the container's %s namespace", order[i]);
        close(fd);
    }
    return 0;
}

/* exec, in the forked child: join the container, fork into its pid
 * namespace and become the process there. */
static void exec_child(const struct state *stp, const struct ctr_opts *o, const struct ctr_spec *spec,
                       const struct ctr_process *procp, int sync[2], int cons[2]) __attribute__((noreturn));
static void exec_child(const struct state *stp, const struct ctr_opts *o, const struct ctr_spec *spec,
                       const struct ctr_process *procp, int sync[2], int cons[2])
{
    const struct ctr_process proc = *procp;
    struct ctr_error *err = NULL;
    int procfd = -1, console = -1;
    close(sync[0]);
    /* not dumpable while in the container's namespaces (execve resets it) */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (exec_join(stp, o, &proc, cons, &procfd, &console, &err) < 0)
        ctr_child_fail(sync[1], &err);
    /* the pid namespace applies to children: fork once more */
    pid_t inner = fork();
    if (inner < 0) {
        ctr_error_make(&err, errno, "fork");
        ctr_child_fail(sync[1], &err);
    }
    if (inner > 0) {
        int status;
        char v[32];
        snprintf(v, sizeof(v), "P%d", inner);
        write_full(sync[1], v, strlen(v) + 1);
        close(sync[1]);
        if (o->detach) _exit(0);
        while (waitpid(inner, &status, 0) < 0 && errno == EINTR) {}
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    struct ctr_exec_ctx c = { spec, &proc, sync[1], console, -1, o->preserve_fds, NULL, NULL, procfd, -1 };
    ctr_exec_process(&c);
}

int ctr_exec(const char *id, const struct ctr_opts *o, const char *process_json,
             char **argv, char **env, const char *cwd, bool tty, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    if (strcmp(status_of(&st), "running")) {
        ctr_error_make(err, 0, "container \"%s\" is %s: exec needs a running container", id, status_of(&st));
        state_free(&st);
        return -1;
    }
    struct ctr_spec *spec = ctr_spec_load(st.bundle, err);
    if (!spec) { state_free(&st); return -1; }
    struct ctr_process proc;
    if (process_json) {
        struct json_object *po = json_object_from_file(process_json);
        if (!po) {
            ctr_error_make(err, 0, "--process %s: cannot read or parse it as JSON", process_json);
            goto fail;
        }
        int r = ctr_process_parse(po, &proc, "process", err);
        json_object_put(po);
        if (r < 0) goto fail;
    } else {
        proc = spec->proc;       /* shallow: the spec owns the memory */
        proc.args = argv;
        if (env) proc.env = env;
        if (cwd) proc.cwd = (char *)cwd;
        proc.terminal = tty;
        if (o->user && exec_user(o->user, &proc, err) < 0)
            goto fail;
    }
    int sync[2], cons[2] = { -1, -1 };
    if (proc.terminal && !o->console_socket) {
        if (o->detach) {
            ctr_error_make(err, 0, "exec -t -d: give --console-socket to receive the pty");
            goto fail_proc;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cons) < 0) {
            ctr_error_make(err, errno, "socketpair");
            goto fail_proc;
        }
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0) {
        ctr_error_make(err, errno, "socketpair");
        goto fail_proc;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(&st, o, spec, &proc, sync, cons);
    if (pid < 0) {
        ctr_error_make(err, errno, "fork");
        close(sync[0]); close(sync[1]);
        if (cons[0] >= 0) { close(cons[0]); close(cons[1]); }
        goto fail_proc;
    }
    close(sync[1]);
    if (cons[1] >= 0) close(cons[1]);
    /* Two writers: the intermediate sends "P<pid>\0" once it has forked the
     * process, the process sends 'R' (ready, about to execve) or 'E' and an
     * error; either may come first. Read to the end (both have closed the
     * socket once the process has exec'd or failed), then take them apart. */
    char msg[1200];
    size_t len = 0;
    for (;;) {
        ssize_t k = read(sync[0], msg + len, sizeof(msg) - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || (len += (size_t)k) == sizeof(msg) - 1)
            break;
    }
    msg[len] = 0;
    int rc = -1;
    pid_t inner = 0;
    char *rest = msg;
    if (msg[0] == 'P') {
        inner = atoi(msg + 1);
        rest = msg + strnlen(msg, len) + 1;
        if (rest > msg + len) rest = msg + len;
    } else {
        /* P last: "P<digits>\0" ends the buffer */
        for (size_t i = len >= 2 ? len - 2 : 0; i > 0; i--) {
            if (msg[i] == 'P' && msg[len - 1] == 0 && strspn(msg + i + 1, "0123456789") == len - 2 - i) {
                inner = atoi(msg + i + 1);
                msg[i] = 0;
                break;
            }
            if (msg[i] < '0' || msg[i] > '9')
                break;
        }
    }
    if (rest[0] == 'R' && inner > 0)
        rc = 0;
    else if (rest[0] == 'E')
        ctr_error_make(err, 0, "exec in container \"%s\": %s", id, rest + 1);
    else
        ctr_error_make(err, 0, "exec in container \"%s\": the process exited before it started", id);
    close(sync[0]);
    if (rc == 0 && o->pid_file && inner > 0) {
        FILE *f = fopen(o->pid_file, "w");
        if (f) { fprintf(f, "%d", inner); fclose(f); }
    }
    int status = 0;
    int master = rc == 0 && cons[0] >= 0 ? ctr_console_recv(cons[0]) : -1;
    if (master >= 0)
        status = ctr_console_proxy(master, pid);
    else
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (cons[0] >= 0) close(cons[0]);
    if (rc == 0 && !o->detach)
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (process_json)
        ctr_process_free(&proc);
    ctr_spec_free(spec);
    state_free(&st);
    return rc;
fail_proc:
    if (process_json)
        ctr_process_free(&proc);
fail:
    ctr_spec_free(spec);
    state_free(&st);
    return -1;
}

/* events: `--stats` prints one stats event; otherwise a stats event every
 * interval and an "oom" event when the kernel kills in the container's
 * memory cgroup, until the container stops. One JSON object per line, as runc. */
int ctr_events(const char *id, const struct ctr_opts *o, bool stats_once, unsigned interval_ms, struct ctr_error **err)
{
    struct state st;
    if (state_load(o->root, id, &st, err) < 0)
        return -1;
    int rc = 0;
    struct ctr_cgroup *cg = st.cgroup ? ctr_cgroup_from(st.cgroup) : NULL;
    if (!alive(&st)) {
        ctr_error_make(err, 0, "container \"%s\" is not running", id);
        rc = -1;
    } else if (!cg) {
        ctr_error_make(err, 0, "container \"%s\" has no cgroup: no stats", id);
        rc = -1;
    } else {
        uint64_t ooms = ctr_cgroup_oom_count(cg);
        uint64_t next = 0;
        for (;;) {
            uint64_t now = time_ms();
            uint64_t k = ctr_cgroup_oom_count(cg);
            if (k > ooms) {
                ooms = k;
                struct json_object *e = json_object_new_object();
                json_object_object_add(e, "type", json_object_new_string("oom"));
                json_object_object_add(e, "id", json_object_new_string(id));
                printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
                json_object_put(e);
            }
            if (stats_once || now >= next) {
                struct json_object *e = json_object_new_object();
                json_object_object_add(e, "type", json_object_new_string("stats"));
                json_object_object_add(e, "id", json_object_new_string(id));
                json_object_object_add(e, "data", ctr_cgroup_stats(cg));
                printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
                json_object_put(e);
                next = now + interval_ms;
            }
            fflush(stdout);
            if (stats_once || !alive(&st))
                break;
            usleep(100 * 1000);
        }
    }
    ctr_cgroup_free(cg);
    state_free(&st);
    return rc;
}

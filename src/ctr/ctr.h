/* ctr: an OCI runtime (runtime-spec 1.x). The CLI (cli/ctr.c) parses the
 * runc-compatible command line and calls these. A function that fails
 * returns a negative value and fills a struct ctr_error (below), which the
 * CLI prints once; `run` and `exec` return the process's exit status. */
#ifndef VESSEL_CTR_H
#define VESSEL_CTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* ---- errors (error.c), as crun's libcrun_error_t ---- */
struct ctr_error {
    int status;                /* the exit status: 1, or 2 for a usage error */
    int errnum;                /* the errno behind it, or 0 */
    char *msg;                 /* the one line the user sees */
};
/* Fill *ERR (unless one is there already: the first error is the cause) with
 * the formatted message, followed by ": strerror(ERRNUM)" when ERRNUM is not
 * 0. Returns -1, so that `return ctr_error_make(err, errno, "...")` fails. */
int ctr_error_make(struct ctr_error **err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a command-line mistake: exit status 2. */
int ctr_error_usage(struct ctr_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put "PREFIX: " before the message of *ERR (if any). Returns -1. */
int ctr_error_wrap(struct ctr_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print it (one log line), free it, and return its exit status (1 if none). */
int ctr_error_report(struct ctr_error **err);
void ctr_error_free(struct ctr_error **err);

/* ---- config.json ---- */
enum { CTR_NS_PID, CTR_NS_NET, CTR_NS_MNT, CTR_NS_IPC, CTR_NS_UTS, CTR_NS_USER,
       CTR_NS_CGROUP, CTR_NS_TIME, CTR_NS_COUNT };

struct ctr_mount {
    char *dest, *type, *source, *data;
    unsigned long flags, clear, prop;
    uint64_t rec_set, rec_clr;     /* recursive attributes (rro, rnosuid ...): mount_setattr */
    bool bind;
};

struct ctr_idmap { uint32_t cid, hid, size; };
struct ctr_rlimit { int res; uint64_t soft, hard; const char *name; };
struct ctr_hook { char *path; char **args, **env; int timeout; };

enum { CTR_HOOK_PRESTART, CTR_HOOK_CREATE_RUNTIME, CTR_HOOK_CREATE_CONTAINER,
       CTR_HOOK_START_CONTAINER, CTR_HOOK_POSTSTART, CTR_HOOK_POSTSTOP, CTR_HOOK_COUNT };

struct ctr_process {
    char **args, **env;
    char *cwd;
    uint32_t uid, gid, umask;
    bool has_umask;
    uint32_t *gids; size_t ngids;
    bool terminal, nnp, has_caps, has_oom;
    int oom_score_adj;
    uint64_t caps[5];          /* bounding effective inheritable permitted ambient */
    struct ctr_rlimit *rlimits; size_t nrlimits;
};

/* linux.resources, as config.json and `update --resources` give them.
 * Numbers are -1 when unset (pids_limit and cpu_quota: 0 unset, < 0
 * unlimited, as in runc); the json objects point into the parsed
 * document, which must outlive this. */
struct ctr_hugepage { char *page; int64_t limit; };       /* "2MB", bytes */
struct ctr_netprio { char *name; uint32_t prio; };          /* interface, priority */
struct ctr_resources {
    int64_t mem_limit, mem_reservation, mem_swap, mem_kernel, mem_kernel_tcp, mem_swappiness;
    int disable_oom;               /* -1 unset, 0, 1 */
    int64_t pids_limit, cpu_shares, cpu_quota, cpu_period, cpu_rt_runtime, cpu_rt_period, blkio_weight;
    char *cpuset_cpus, *cpuset_mems;
    int64_t net_classid;
    struct ctr_netprio *net_prio; size_t nnet_prio;
    struct ctr_hugepage *hugepages; size_t nhugepages;
    struct json_object *devices;   /* linux.resources.devices (validated) */
    struct json_object *blkio;     /* linux.resources.blockIO (validated) */
};

struct ctr_spec {
    struct json_object *json;  /* the parsed document (owns the strings below? no: copies) */
    char *root;                /* absolute rootfs path */
    bool root_ro;
    char *hostname, *domainname;
    struct ctr_process proc;
    struct ctr_mount *mounts; size_t nmounts;
    bool ns_on[CTR_NS_COUNT];
    char *ns_path[CTR_NS_COUNT];
    struct ctr_idmap uidmap[8], gidmap[8];
    int64_t time_off[2][2];        /* linux.timeOffsets: monotonic, boottime; secs, nanosecs */
    bool has_time_off;
    size_t nuidmap, ngidmap;
    char **masked, **readonly;
    char *cgroups_path;
    unsigned long rootfs_prop;
    struct ctr_resources res;      /* linux.resources */
    struct json_object *seccomp;   /* linux.seccomp (validated) */
    char **sysctl;                 /* key, value, key, value, ..., NULL */
    struct ctr_hook *hooks[CTR_HOOK_COUNT];
    size_t nhooks[CTR_HOOK_COUNT];
    struct json_object *annotations;
};

/* Load and validate BUNDLE/config.json: NULL and an error naming the JSON
 * path on failure. */
struct ctr_spec *ctr_spec_load(const char *bundle, struct ctr_error **err);
/* Parse a config from a JSON string; `where` prefixes errors. */
struct ctr_spec *ctr_spec_parse(const char *text, const char *bundle, const char *where, struct ctr_error **err);
/* Parse a process object (exec --process). */
int ctr_process_parse(struct json_object *o, struct ctr_process *p, const char *path, struct ctr_error **err);
void ctr_spec_free(struct ctr_spec *s);
/* Parse a linux.resources object (config.json, `update --resources`); `path`
 * names it in errors. ctr_resources_init sets everything unset. */
void ctr_resources_init(struct ctr_resources *r);
int ctr_resources_parse(struct json_object *o, struct ctr_resources *r, const char *path, struct ctr_error **err);
void ctr_resources_free(struct ctr_resources *r);
void ctr_process_free(struct ctr_process *p);
int ctr_signal_parse(const char *s);            /* "KILL", "SIGTERM", "9" -> number or -1 */
int ctr_cap_parse(const char *s);               /* "CAP_SYS_ADMIN" -> number or -1 */

/* ---- operations ---- */
struct ctr_opts {
    const char *root;          /* state directory root */
    const char *bundle;
    const char *pid_file;
    const char *console_socket;
    int preserve_fds;
    bool no_pivot, detach, force, all;
    const char *user;          /* exec --user UID[:GID] */
};

/* Each returns 0 (run without -d, exec: the process's exit status) or a
 * negative value with *err filled. */
int ctr_create(const char *id, const struct ctr_opts *o, bool start_now, struct ctr_error **err);
int ctr_start(const char *id, const struct ctr_opts *o, struct ctr_error **err);
int ctr_state(const char *id, const struct ctr_opts *o, struct ctr_error **err);
int ctr_kill(const char *id, const struct ctr_opts *o, int sig, struct ctr_error **err);
int ctr_delete(const char *id, const struct ctr_opts *o, struct ctr_error **err);
int ctr_list(const struct ctr_opts *o, bool json, bool quiet, struct ctr_error **err);
int ctr_ps(const char *id, const struct ctr_opts *o, bool json, struct ctr_error **err);
int ctr_pause(const char *id, const struct ctr_opts *o, bool pause, struct ctr_error **err);
int ctr_exec(const char *id, const struct ctr_opts *o, const char *process_json,
             char **argv, char **env, const char *cwd, bool tty, struct ctr_error **err);
/* New resource limits for a live container (runc update). */
int ctr_update(const char *id, const struct ctr_opts *o, const struct ctr_resources *r, struct ctr_error **err);
int ctr_events(const char *id, const struct ctr_opts *o, bool stats_once, unsigned interval_ms, struct ctr_error **err);
int ctr_spec_write(bool rootless, struct ctr_error **err);
int ctr_features(void);
/* What `features` prints: the OCI runtime-spec features document (JSON). */
const char *ctr_features_json(void);

/* ---- cgroups (cgroup.c) ---- */
struct ctr_cgroup;
/* NULL with *err filled on failure; NULL and no error for a rootless
 * container without a delegated cgroup. */
struct ctr_cgroup *ctr_cgroup_create(const struct ctr_spec *s, const char *id, struct ctr_error **err);
/* The same under another cgroup root than /sys/fs/cgroup (tests: a fake tree). */
struct ctr_cgroup *ctr_cgroup_create_at(const char *root, const struct ctr_spec *s, const char *id,
                                        struct ctr_error **err);
struct ctr_cgroup *ctr_cgroup_from_at(const char *root, const char *ser);
int ctr_cgroup_add(struct ctr_cgroup *cg, pid_t pid, struct ctr_error **err);
int ctr_cgroup_apply(struct ctr_cgroup *cg, const struct ctr_resources *r, struct ctr_error **err);
void ctr_cgroup_destroy(struct ctr_cgroup *cg);          /* rmdir everything */
void ctr_cgroup_free(struct ctr_cgroup *cg);             /* forget the handle only */
char *ctr_cgroup_serialize(const struct ctr_cgroup *cg);  /* for state.json */
struct ctr_cgroup *ctr_cgroup_from(const char *ser);
int ctr_cgroup_pids(const struct ctr_cgroup *cg, pid_t **pids, size_t *n);
int ctr_cgroup_freeze(struct ctr_cgroup *cg, bool frozen);
bool ctr_cgroup_frozen(const struct ctr_cgroup *cg);
struct json_object *ctr_cgroup_stats(const struct ctr_cgroup *cg);   /* runc's "data" of a stats event */
uint64_t ctr_cgroup_oom_count(const struct ctr_cgroup *cg);

/* ---- console.c: a foreground terminal without --console-socket ---- */
int ctr_console_recv(int sock);                  /* the pty master fd, or -errno */
int ctr_console_proxy(int master, pid_t child);  /* copy stdio <-> master until child exits; its wait status */

/* ---- seccomp (seccomp.c) ---- */
int ctr_seccomp_validate(struct json_object *o, const char *path, struct ctr_error **err);
int ctr_seccomp_load(struct json_object *o, struct ctr_error **err);

/* ---- container init (init.c): runs in the cloned child ---- */
struct ctr_init_args {
    const struct ctr_spec *spec;
    const struct ctr_opts *opts;
    int sync_fd;               /* socketpair end: errors go back to the parent */
    int fifo_dirfd;            /* the state dir, to open exec.fifo */
    const char *id, *bundle;   /* for the state given to in-container hooks */
    int console_fd;            /* terminal without --console-socket: send the pty master here */
    int parent_fds[2];         /* the runtime's ends of those two socketpairs (-1: none): the
                                * clone copied them, init closes them first, so that the
                                * runtime's death reads as EOF and init exits */
};
int ctr_init(void *arg);

/* ---- secure.c: what keeps the container from reaching the host ---- */
/* CVE-2019-5736: every program the runtime starts inside a container is
 * exec'd through the exec stage (stage/stage.c), a static program in a
 * sealed memfd, so that /proc/self/exe there never names the host binary.
 * ctr_exec_stage_open: the sealed memfd (close-on-exec) or -errno.
 * ctr_exec_staged: execve PATH with ARGV, ENVP through it; returns only on
 * failure (-errno). With REPORT the stage writes "exec PATH: <error>" to the
 * runtime's log when PATH cannot be exec'd (then exits 127). */
int ctr_exec_stage_open(void);
int ctr_exec_staged(int stage, const char *path, char *const argv[], char *const envp[], bool report);
/* Open PATH inside the root ROOTFD (symlinks and ".." never leave it, no
 * magic links): an fd or -errno. */
int ctr_open_in_root(int rootfd, const char *path, int flags);
/* Its walk for kernels without openat2 (exposed for the fuzz target). */
int ctr_walk_in_root(int rootfd, const char *path, int flags);
/* The same, creating what is missing (directories; the last one a file if
 * FILE) with mkdirat/openat on resolved fds: an O_PATH fd or -errno
 * (-ENOLINK: a symlink whose target is missing). */
int ctr_mkpath_in_root(int rootfd, const char *path, bool file);
/* /proc opened and checked to be a procfs root: an O_PATH fd or -errno. */
int ctr_proc_root(void);
/* A file beneath PROCFD, never across a mount, a symlink out or a magic
 * link, checked to be procfs: an fd or -errno (-EXDEV: something covers it). */
int ctr_proc_open(int procfd, const char *rel, int flags);
int ctr_proc_write(int procfd, const char *rel, const char *val);

/* Shared by init (container start) and exec: set up the calling process as
 * the container process described by `p` and execve it. Never returns; on
 * failure writes "E<message>" to err_fd (or the log if -1) and _exits. */
struct ctr_exec_ctx {
    const struct ctr_spec *spec;
    const struct ctr_process *proc;
    int err_fd;                /* sync socket, or -1 */
    int console_fd;            /* connected console socket, or -1 */
    int fifo_fd;               /* exec.fifo opened for writing, or -1 */
    int preserve_fds;
    const char *id, *bundle;   /* set for the container's init: run startContainer hooks */
    int procfd;                /* a verified procfs root (ctr_proc_root), or -1 */
    int stage_fd;              /* the exec stage (ctr_exec_stage_open), or -1: made here */
};
void ctr_exec_process(const struct ctr_exec_ctx *c) __attribute__((noreturn));
/* The one place a process of the container reports its error: "E" and the
 * message to ERR_FD (the sync socket) while `create`/`exec` listens, else
 * the log; then _exit(1). */
void ctr_child_fail(int err_fd, struct ctr_error **err) __attribute__((noreturn));
/* hooks.c: the state given to the hooks that run inside the container
 * (createContainer, startContainer): runc's fields, the pid as seen there. */
char *ctr_hook_state(const char *id, const char *bundle, const char *status);
/* Run the hooks of one kind with the state JSON on stdin: 0, or -1 and
 * *err (poststart, poststop: warnings only, always 0). STAGE: the exec stage
 * for hooks run inside the container, else -1. */
int ctr_hooks_run(const struct ctr_spec *s, int kind, const char *state_json, int stage, struct ctr_error **err);
/* The sync protocol between `create` and the container's init, one byte each:
 * parent -> init: 'G' go (ids mapped, cgroups joined), 'C' continue after the
 * hooks, 'X' abort; init -> parent: 'H' run prestart/createRuntime hooks now
 * (mounts done, before pivot_root), 'R' ready (waiting on exec.fifo),
 * 'E' followed by an error message. */

#endif

/* vessel ctr: the runc-compatible command line of the OCI runtime. */
#include "cli/cli.h"
#include "base/base.h"
#include "ctr/ctr.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
"Usage: vessel ctr [GLOBAL OPTIONS] COMMAND [OPTIONS] [ID] [ARGS]\n"
"       vessel-ctr ...   (the same, for podman --runtime)\n"
"\n"
"An OCI runtime (runtime-spec 1.x) with runc's command line.\n"
"\n"
"Commands:\n"
"  create [-b BUNDLE] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot] ID\n"
"                       set up the container; its process waits for 'start'\n"
"  start ID             run the process of a created container\n"
"  run [-b BUNDLE] [-d] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot] ID\n"
"                       create and start; without -d wait and return its exit status\n"
"  exec [-d] [-t] [--process FILE] [--cwd DIR] [-e VAR=VAL] [-u UID[:GID]] [--pid-file F] [--console-socket S] ID [CMD...]\n"
"                       run another process in a running container\n"
"  state ID             print the state as JSON\n"
"  kill [--all] ID [SIGNAL]   send a signal (default SIGTERM; name or number)\n"
"  delete [-f] ID       remove a stopped container (-f: kill it first)\n"
"  list [-q] [--format table|json]   list containers\n"
"  ps [--format table|json] ID       list the container's processes\n"
"  pause ID / resume ID freeze / thaw every process (cgroup freezer)\n"
"  spec [--rootless]    write a default config.json in the current directory\n"
"  features            print what this runtime supports, as JSON\n"
"  events [--stats] [--interval 5s] ID\n"
"                       cgroup statistics as JSON (--stats: once), and OOM events\n"
"  update [-r FILE|-] [--memory N] [--memory-reservation N] [--memory-swap N]\n"
"         [--cpu-shares N] [--cpu-period US] [--cpu-quota US] [--cpu-rt-period US]\n"
"         [--cpu-rt-runtime US] [--cpuset-cpus LIST] [--cpuset-mems LIST]\n"
"         [--pids-limit N] [--blkio-weight N] ID\n"
"                       new resource limits for a live container (runc's flags;\n"
"                       sizes take k, m, g; -r reads linux.resources JSON, '-' stdin)\n"
"\n"
"Global options:\n"
"  --root DIR           state directory (default /run/vessel-ctr)\n"
"  --log FILE           write errors and warnings to FILE\n"
"  --log-format text|json\n"
"  --systemd-cgroup     accepted; cgroups are managed through cgroupfs\n"
"  --debug              more messages\n"
"  -v, --version        print the version\n"
"  -h, --help           this help\n");
}

enum { O_ROOT = 256, O_LOG, O_LOGFMT, O_SYSTEMD, O_DEBUG, O_PIDFILE, O_CONSOLE, O_PRESERVE,
       O_NOPIVOT, O_PROCESS, O_CWD, O_FORMAT, O_ROOTLESS, O_NOKEYRING, O_NOSUBREAPER, O_ALL,
       O_STATS, O_INTERVAL };

static const struct option global_opts[] = {
    { "root", required_argument, 0, O_ROOT }, { "log", required_argument, 0, O_LOG },
    { "log-format", required_argument, 0, O_LOGFMT }, { "systemd-cgroup", no_argument, 0, O_SYSTEMD },
    { "debug", no_argument, 0, O_DEBUG }, { "help", no_argument, 0, 'h' },
    { "version", no_argument, 0, 'v' }, { "rootless", required_argument, 0, O_ROOTLESS },
    { 0, 0, 0, 0 } };

static const struct option cmd_opts[] = {
    { "bundle", required_argument, 0, 'b' }, { "pid-file", required_argument, 0, O_PIDFILE },
    { "console-socket", required_argument, 0, O_CONSOLE }, { "preserve-fds", required_argument, 0, O_PRESERVE },
    { "no-pivot", no_argument, 0, O_NOPIVOT }, { "detach", no_argument, 0, 'd' },
    { "force", no_argument, 0, 'f' }, { "all", no_argument, 0, 'a' },
    { "process", required_argument, 0, 'p' }, { "cwd", required_argument, 0, O_CWD },
    { "env", required_argument, 0, 'e' }, { "tty", no_argument, 0, 't' },
    { "format", required_argument, 0, O_FORMAT }, { "quiet", no_argument, 0, 'q' },
    { "rootless", no_argument, 0, O_ROOTLESS }, { "no-new-keyring", no_argument, 0, O_NOKEYRING },
    { "no-subreaper", no_argument, 0, O_NOSUBREAPER }, { "keep", no_argument, 0, O_NOKEYRING },
    { "user", required_argument, 0, 'u' }, { "help", no_argument, 0, 'h' },
    { "stats", no_argument, 0, O_STATS }, { "interval", required_argument, 0, O_INTERVAL },
    { 0, 0, 0, 0 } };

/* What the command line gave, filled by the parse steps below. */
struct ctr_cli {
    struct ctr_opts o;
    const char *log_file, *format, *process, *cwd;
    bool json_log, quiet, tty, rootless, stats;
    unsigned interval_ms;
    char **env;
    size_t nenv;
};

/* the global options before the command: 0 to go on, 1 when done (help,
 * version), -1 and *err on a mistake */
static int parse_global(struct ctr_cli *c, int argc, char **argv, struct ctr_error **err)
{
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+hv", global_opts, NULL)) != -1) {
        switch (opt) {
        case O_ROOT: c->o.root = optarg; break;
        case O_LOG: c->log_file = optarg; break;
        case O_LOGFMT:
            if (strcmp(optarg, "json") && strcmp(optarg, "text"))
                return ctr_error_usage(err, "--log-format: \"%s\" is not text or json", optarg);
            c->json_log = !strcmp(optarg, "json");
            break;
        case O_SYSTEMD: log_warn("--systemd-cgroup: not supported, using cgroupfs"); break;
        case O_DEBUG: log_set_level(LOG_DEBUG); break;
        case O_ROOTLESS: break;
        case 'h': usage(stdout); return 1;
        case 'v': printf("vessel-ctr version %s\nspec: 1.0.2\n", VESSEL_VERSION); return 1;
        default:
            return ctr_error_usage(err, "unknown global option '%s'; see 'vessel ctr --help'", argv[optind - 1]);
        }
    }
    return 0;
}

static int open_log(const struct ctr_cli *c, struct ctr_error **err)
{
    if (c->log_file) {
        int fd = open(c->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return ctr_error_usage(err, "--log %s: cannot open it", c->log_file);
        log_set_fd(fd);
    }
    log_set_json(c->json_log);
    return 0;
}

/* a Go-style duration as runc takes it: 5s, 500ms, 1m; a bare number is seconds */
static int parse_interval(const char *s, unsigned *ms, struct ctr_error **err)
{
    char *end;
    double v = strtod(s, &end);
    double mul = !*end || !strcmp(end, "s") ? 1000 : !strcmp(end, "ms") ? 1 : !strcmp(end, "m") ? 60000 : -1;
    if (end == s || mul < 0 || v <= 0 || v * mul > 86400000)
        return ctr_error_usage(err, "--interval: \"%s\" is not a duration like 5s or 500ms", s);
    *ms = (unsigned)(v * mul);
    if (!*ms) *ms = 1;
    return 0;
}

/* one option of the command (create, run, exec, kill ...): 0, or -1 and *err */
static int parse_cmd_opt(struct ctr_cli *c, int opt, const char *cmd, const char *arg, const char *word,
                         struct ctr_error **err)
{
    uint64_t n;
    switch (opt) {
    case 'b': c->o.bundle = arg; break;
    case O_PIDFILE: c->o.pid_file = arg; break;
    case O_CONSOLE: c->o.console_socket = arg; break;
    case O_PRESERVE:
        if (parse_u64(arg, &n) || n > 1000)
            return ctr_error_usage(err, "--preserve-fds: \"%s\" is not a number of file descriptors", arg);
        c->o.preserve_fds = (int)n;
        break;
    case O_NOPIVOT: c->o.no_pivot = true; break;
    case 'd': c->o.detach = true; break;
    case 'f': c->o.force = true; break;
    case 'a': c->o.all = true; break;
    case 'p': c->process = arg; break;
    case O_CWD: c->cwd = arg; break;
    case 'e':
        c->env = xrealloc(c->env, (c->nenv + 2) * sizeof(char *));
        c->env[c->nenv++] = (char *)arg;
        c->env[c->nenv] = NULL;
        break;
    case 't': c->tty = true; break;
    case O_FORMAT:
        if (strcmp(arg, "json") && strcmp(arg, "table"))
            return ctr_error_usage(err, "--format: \"%s\" is not table or json", arg);
        c->format = arg;
        break;
    case 'q': c->quiet = true; break;
    case O_ROOTLESS: c->rootless = true; break;
    case 'u': c->o.user = arg; break;
    case O_NOKEYRING: case O_NOSUBREAPER: break;
    case O_STATS: c->stats = true; break;
    case O_INTERVAL: return parse_interval(arg, &c->interval_ms, err);
    default:
        return ctr_error_usage(err, "%s: unknown option '%s'; see 'vessel ctr --help'", cmd, word);
    }
    return 0;
}

/* ---- update: runc 1.1's flags, or linux.resources JSON from a file ---- */

enum { U_RES = 'r', U_BLKIO = 300, U_CPU_PERIOD, U_CPU_QUOTA, U_CPU_SHARES, U_RT_PERIOD, U_RT_RUNTIME,
       U_CPUS, U_MEMS, U_KMEM, U_KMEM_TCP, U_MEM, U_MEM_RES, U_MEM_SWAP, U_PIDS, U_L3, U_MBA };

static const struct option update_opts[] = {
    { "resources", required_argument, 0, U_RES }, { "blkio-weight", required_argument, 0, U_BLKIO },
    { "cpu-period", required_argument, 0, U_CPU_PERIOD }, { "cpu-quota", required_argument, 0, U_CPU_QUOTA },
    { "cpu-share", required_argument, 0, U_CPU_SHARES }, { "cpu-shares", required_argument, 0, U_CPU_SHARES },
    { "cpu-rt-period", required_argument, 0, U_RT_PERIOD }, { "cpu-rt-runtime", required_argument, 0, U_RT_RUNTIME },
    { "cpuset-cpus", required_argument, 0, U_CPUS }, { "cpuset-mems", required_argument, 0, U_MEMS },
    { "kernel-memory", required_argument, 0, U_KMEM }, { "kernel-memory-tcp", required_argument, 0, U_KMEM_TCP },
    { "memory", required_argument, 0, U_MEM }, { "memory-reservation", required_argument, 0, U_MEM_RES },
    { "memory-swap", required_argument, 0, U_MEM_SWAP }, { "pids-limit", required_argument, 0, U_PIDS },
    { "l3-cache-schema", required_argument, 0, U_L3 }, { "mem-bw-schema", required_argument, 0, U_MBA },
    { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };

/* a signed decimal number in [min, max] */
static int parse_i64(const char *flag, const char *s, int64_t min, int64_t max, int64_t *out, struct ctr_error **err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return ctr_error_usage(err, "update --%s: \"%s\" is not a number in %lld..%lld", flag, s, (long long)min,
                               (long long)max);
    *out = v;
    return 0;
}

/* a size as runc takes it (docker's RAMInBytes): 512, 64k, 100m, 1g; -1 unlimited */
static int parse_ram(const char *flag, const char *s, int64_t *out, struct ctr_error **err)
{
    uint64_t v;
    if (!strcmp(s, "-1")) { *out = -1; return 0; }
    if (parse_size(s, 1, &v) < 0 || v > INT64_MAX)
        return ctr_error_usage(err, "update --%s: \"%s\" is not a size like 512, 64k, 100m or 1g (or -1)", flag, s);
    *out = (int64_t)v;
    return 0;
}

static int update_flag(struct ctr_resources *r, int opt, const char *arg, const char *flag, struct ctr_error **err)
{
    switch (opt) {
    case U_BLKIO: return parse_i64(flag, arg, 0, 1000, &r->blkio_weight, err);
    case U_CPU_PERIOD: return parse_i64(flag, arg, 0, 1000000, &r->cpu_period, err);
    case U_CPU_QUOTA: return parse_i64(flag, arg, -1, INT64_MAX, &r->cpu_quota, err);
    case U_CPU_SHARES: return parse_i64(flag, arg, 0, 262144, &r->cpu_shares, err);
    case U_RT_PERIOD: return parse_i64(flag, arg, 0, INT64_MAX, &r->cpu_rt_period, err);
    case U_RT_RUNTIME: return parse_i64(flag, arg, -1, INT64_MAX, &r->cpu_rt_runtime, err);
    case U_PIDS: return parse_i64(flag, arg, INT64_MIN, INT64_MAX, &r->pids_limit, err);
    case U_CPUS: free(r->cpuset_cpus); r->cpuset_cpus = xstrdup(arg); return 0;
    case U_MEMS: free(r->cpuset_mems); r->cpuset_mems = xstrdup(arg); return 0;
    case U_MEM: return parse_ram(flag, arg, &r->mem_limit, err);
    case U_MEM_RES: return parse_ram(flag, arg, &r->mem_reservation, err);
    case U_MEM_SWAP: return parse_ram(flag, arg, &r->mem_swap, err);
    case U_KMEM: return parse_ram(flag, arg, &r->mem_kernel, err);
    case U_KMEM_TCP: return parse_ram(flag, arg, &r->mem_kernel_tcp, err);
    case U_L3: case U_MBA:
        return ctr_error_usage(err, "update --%s: Intel RDT is not supported by vessel", flag);
    }
    return ctr_error_usage(err, "update: unknown option --%s", flag);
}

/* --resources FILE or '-' (stdin): linux.resources JSON; the flags are then
 * ignored, as runc does */
static int update_from_json(const char *file, struct ctr_resources *r, struct json_object **doc,
                            struct ctr_error **err)
{
    char *text = NULL;
    int e = read_file(!strcmp(file, "-") ? "/dev/stdin" : file, &text, NULL, 16 << 20);
    if (e < 0)
        return ctr_error_usage(err, "update --resources %s: %s", file, strerror(-e));
    struct json_tokener *tok = json_tokener_new();
    *doc = json_tokener_parse_ex(tok, text, (int)strlen(text));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    free(text);
    if (!*doc || jerr != json_tokener_success || !json_object_is_type(*doc, json_type_object))
        return ctr_error_usage(err, "update --resources %s: not a JSON object (%s)", file, json_tokener_error_desc(jerr));
    ctr_resources_free(r);
    if (ctr_resources_parse(*doc, r, "update --resources", err) < 0) {
        (*err)->status = 2;                /* a mistake in what the user gave, as the flags */
        return -1;
    }
    return 0;
}

static int cmd_update(struct ctr_cli *c, int argc, char **argv, struct ctr_error **err)
{
    struct ctr_resources r;
    struct json_object *doc = NULL;
    const char *file = NULL;
    int opt, idx = 0, rc = -1;
    ctr_resources_init(&r);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+r:h", update_opts, &idx)) != -1) {
        if (opt == 'h') { usage(stdout); rc = 0; goto out; }
        if (opt == U_RES) { file = optarg; continue; }
        if (opt == '?') {
            ctr_error_usage(err, "update: unknown option '%s'; see 'vessel ctr --help'", argv[optind - 1]);
            goto out;
        }
        if (update_flag(&r, opt, optarg, update_opts[idx].name, err) < 0)
            goto out;
    }
    if (optind >= argc) {
        ctr_error_usage(err, "update: a container ID is required");
        goto out;
    }
    if (file && update_from_json(file, &r, &doc, err) < 0)
        goto out;
    rc = ctr_update(argv[optind], &c->o, &r, err);
out:
    ctr_resources_free(&r);
    json_object_put(doc);
    return rc;
}

/* ---- dispatch ---- */

static int cmd_kill(struct ctr_cli *c, const char *id, const char *sigarg, struct ctr_error **err)
{
    const char *s = sigarg ? sigarg : "SIGTERM";
    int sig = ctr_signal_parse(s);
    if (sig < 0)
        return ctr_error_usage(err, "kill: unknown signal \"%s\"", s);
    return ctr_kill(id, &c->o, sig, err);
}

static int cmd_exec_in(struct ctr_cli *c, const char *id, char **args, struct ctr_error **err)
{
    if (!c->process && !*args)
        return ctr_error_usage(err, "exec: give a command or --process FILE");
    return ctr_exec(id, &c->o, c->process, args, c->env, c->cwd, c->tty, err);
}

/* run COMMAND with ID (NULL if none) and what follows it in `rest`: its
 * exit status (run, exec: the process's), or -1 and *err */
static int run_command(struct ctr_cli *c, const char *cmd, const char *id, char **rest, struct ctr_error **err)
{
    static const char *const need_id[] = { "create", "start", "run", "exec", "state", "kill", "delete",
                                           "ps", "pause", "resume", "events" };
    bool json = !strcmp(c->format, "json");
    for (size_t i = 0; i < ARRAY_SIZE(need_id); i++)
        if (!strcmp(cmd, need_id[i]) && !id)
            return ctr_error_usage(err, "%s: a container ID is required", cmd);
    if (!strcmp(cmd, "create")) return ctr_create(id, &c->o, false, err);
    if (!strcmp(cmd, "run")) return ctr_create(id, &c->o, true, err);
    if (!strcmp(cmd, "start")) return ctr_start(id, &c->o, err);
    if (!strcmp(cmd, "state")) return ctr_state(id, &c->o, err);
    if (!strcmp(cmd, "kill")) return cmd_kill(c, id, rest[0], err);
    if (!strcmp(cmd, "delete")) return ctr_delete(id, &c->o, err);
    if (!strcmp(cmd, "list")) return ctr_list(&c->o, json, c->quiet, err);
    if (!strcmp(cmd, "ps")) return ctr_ps(id, &c->o, json, err);
    if (!strcmp(cmd, "pause")) return ctr_pause(id, &c->o, true, err);
    if (!strcmp(cmd, "resume")) return ctr_pause(id, &c->o, false, err);
    if (!strcmp(cmd, "exec")) return cmd_exec_in(c, id, rest, err);
    if (!strcmp(cmd, "spec")) return ctr_spec_write(c->rootless, err);
    if (!strcmp(cmd, "features")) return ctr_features();
    if (!strcmp(cmd, "events")) return ctr_events(id, &c->o, c->stats, c->interval_ms, err);
    return ctr_error_usage(err, "unknown command '%s'; see 'vessel ctr --help'", cmd);
}

/* the command line after the global options: its exit status, or -1 and *err */
static int run_cli(struct ctr_cli *c, int argc, char **argv, struct ctr_error **err)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "update"))
        return cmd_update(c, argc, argv, err);
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+b:dfap:e:tqu:h", cmd_opts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (parse_cmd_opt(c, opt, cmd, optarg, argv[optind - 1], err) < 0)
            return -1;
    }
    const char *id = optind < argc ? argv[optind] : NULL;
    char **rest = argv + (id ? optind + 1 : optind);
    return run_command(c, cmd, id, rest, err);
}

int cmd_ctr(int argc, char **argv)
{
    struct ctr_cli c = { .o = { .root = "/run/vessel-ctr" }, .format = "table", .interval_ms = 5000 };
    struct ctr_error *err = NULL;
    log_set_prog("vessel-ctr");
    int rc = parse_global(&c, argc, argv, &err);
    if (rc == 0 && open_log(&c, &err) == 0) {
        if (optind >= argc) {
            usage(stderr);
            return 2;
        }
        rc = run_cli(&c, argc - optind, argv + optind, &err);
    } else if (rc > 0) {
        rc = 0;                            /* --help, --version */
    }
    free(c.env);
    /* the one place an error is printed, and its exit status chosen */
    return rc < 0 || err ? ctr_error_report(&err) : rc;
}

/* vessel ctr: the runc-compatible command line of the OCI runtime. */
#include "cli/cli.h"
#include "base/base.h"
#include "ctr/ctr.h"
#include "config.h"

#include <fcntl.h>
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

int cmd_ctr(int argc, char **argv)
{
    struct ctr_opts o = { .root = "/run/vessel-ctr" };
    const char *log_file = NULL, *format = "table", *process = NULL, *cwd = NULL;
    bool json_log = false, quiet = false, tty = false, rootless = false, stats = false;
    unsigned interval_ms = 5000;
    char **env = NULL;
    size_t nenv = 0;
    log_set_prog("vessel-ctr");
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hv", global_opts, NULL)) != -1) {
        switch (c) {
        case O_ROOT: o.root = optarg; break;
        case O_LOG: log_file = optarg; break;
        case O_LOGFMT:
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                log_error("--log-format: \"%s\" is not text or json", optarg);
                return 2;
            }
            json_log = !strcmp(optarg, "json");
            break;
        case O_SYSTEMD: log_warn("--systemd-cgroup: not supported, using cgroupfs"); break;
        case O_DEBUG: log_set_level(LOG_DEBUG); break;
        case O_ROOTLESS: break;
        case 'h': usage(stdout); return 0;
        case 'v': printf("vessel-ctr version %s\nspec: 1.0.2\n", VESSEL_VERSION); return 0;
        default:
            log_error("unknown global option '%s'; see 'vessel ctr --help'", argv[optind - 1]);
            return 2;
        }
    }
    if (log_file) {
        int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            log_error("--log %s: cannot open it", log_file);
            return 2;
        }
        log_set_fd(fd);
    }
    log_set_json(json_log);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    /* the commands that put a process in a container run from a sealed
     * copy of the runtime, so the container cannot rewrite the binary */
    if ((!strcmp(cmd, "create") || !strcmp(cmd, "run") || !strcmp(cmd, "exec")) && ctr_sealed_reexec() < 0)
        return 1;
    int cargc = argc - optind;
    char **cargv = argv + optind;
    optind = 1;
    while ((c = getopt_long(cargc, cargv, "+b:dfap:e:tqu:h", cmd_opts, NULL)) != -1) {
        switch (c) {
        case 'b': o.bundle = optarg; break;
        case O_PIDFILE: o.pid_file = optarg; break;
        case O_CONSOLE: o.console_socket = optarg; break;
        case O_PRESERVE: {
            uint64_t n;
            if (parse_u64(optarg, &n) || n > 1000) {
                log_error("--preserve-fds: \"%s\" is not a number of file descriptors", optarg);
                return 2;
            }
            o.preserve_fds = (int)n;
            break;
        }
        case O_NOPIVOT: o.no_pivot = true; break;
        case 'd': o.detach = true; break;
        case 'f': o.force = true; break;
        case 'a': o.all = true; break;
        case 'p': process = optarg; break;
        case O_CWD: cwd = optarg; break;
        case 'e':
            env = xrealloc(env, (nenv + 2) * sizeof(char *));
            env[nenv++] = optarg;
            env[nenv] = NULL;
            break;
        case 't': tty = true; break;
        case O_FORMAT:
            if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
                log_error("--format: \"%s\" is not table or json", optarg);
                return 2;
            }
            format = optarg;
            break;
        case 'q': quiet = true; break;
        case O_ROOTLESS: rootless = true; break;
        case 'u': o.user = optarg; break;
        case O_NOKEYRING: case O_NOSUBREAPER: break;
        case O_STATS: stats = true; break;
        case O_INTERVAL: {
            /* a Go-style duration as runc takes it: 5s, 500ms, 1m; a bare number is seconds */
            char *end;
            double v = strtod(optarg, &end);
            double mul = !*end || !strcmp(end, "s") ? 1000 : !strcmp(end, "ms") ? 1 : !strcmp(end, "m") ? 60000 : -1;
            if (end == optarg || mul < 0 || v <= 0 || v * mul > 86400000) {
                log_error("--interval: \"%s\" is not a duration like 5s or 500ms", optarg);
                return 2;
            }
            interval_ms = (unsigned)(v * mul);
            if (!interval_ms) interval_ms = 1;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            log_error("%s: unknown option '%s'; see 'vessel ctr --help'", cmd, cargv[optind - 1]);
            return 2;
        }
    }
    const char *id = optind < cargc ? cargv[optind] : NULL;
    bool json = !strcmp(format, "json");
    static const char *const need_id[] = { "create", "start", "run", "exec", "state", "kill", "delete",
                                           "ps", "pause", "resume", "events" };
    for (size_t i = 0; i < ARRAY_SIZE(need_id); i++)
        if (!strcmp(cmd, need_id[i]) && !id) {
            log_error("%s: a container ID is required", cmd);
            return 2;
        }
    int rc;
    if (!strcmp(cmd, "create")) rc = ctr_create(id, &o, false);
    else if (!strcmp(cmd, "run")) rc = ctr_create(id, &o, true);
    else if (!strcmp(cmd, "start")) rc = ctr_start(id, &o);
    else if (!strcmp(cmd, "state")) rc = ctr_state(id, &o);
    else if (!strcmp(cmd, "kill")) {
        const char *s = optind + 1 < cargc ? cargv[optind + 1] : "SIGTERM";
        int sig = ctr_signal_parse(s);
        if (sig < 0) {
            log_error("kill: unknown signal \"%s\"", s);
            return 2;
        }
        rc = ctr_kill(id, &o, sig);
    }
    else if (!strcmp(cmd, "delete")) rc = ctr_delete(id, &o);
    else if (!strcmp(cmd, "list")) rc = ctr_list(&o, json, quiet);
    else if (!strcmp(cmd, "ps")) rc = ctr_ps(id, &o, json);
    else if (!strcmp(cmd, "pause")) rc = ctr_pause(id, &o, true);
    else if (!strcmp(cmd, "resume")) rc = ctr_pause(id, &o, false);
    else if (!strcmp(cmd, "exec")) {
        char **args = cargv + optind + 1;
        if (!process && !*args) {
            log_error("exec: give a command or --process FILE");
            rc = 2;
        } else {
            rc = ctr_exec(id, &o, process, args, env, cwd, tty);
        }
    }
    else if (!strcmp(cmd, "spec")) rc = ctr_spec_write(rootless);
    else if (!strcmp(cmd, "features")) rc = ctr_features();
    else if (!strcmp(cmd, "events")) rc = ctr_events(id, &o, stats, interval_ms);
    else {
        log_error("unknown command '%s'; see 'vessel ctr --help'", cmd);
        rc = 2;
    }
    free(env);
    return rc;
}

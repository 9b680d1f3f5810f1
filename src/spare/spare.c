/* The hot-spare supervisor (spare/spare.h): one primary and one standby
 * `vessel run` per guest, the standby restarted when it dies, a new one
 * started for a standby that took over. */
#include "spare/spare.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 60000
#define QUICK_DEATH_NS 2000000000ULL    /* a standby dead this soon after its start ... */
#define MAX_QUICK_DEATHS 5              /* ... this many times in a row: given up */

struct side {
    pid_t pid;                  /* 0: not running */
    uint64_t started;
    unsigned quick_deaths;
    char qmp[256], log[256];
};

struct guest_rt {
    const struct spare_guest *g;
    struct side s[2];
    int primary;                /* which side is the primary */
    bool stopping, done, lost;
};

struct spare {
    const struct spare_config *c;
    const char *self;
    sigset_t mask;
    struct guest_rt rt[SPARE_MAX_GUESTS];
};

static void exec_child(struct spare *sp, const struct side *s, char **argv)
{
    sigprocmask(SIG_UNBLOCK, &sp->mask, NULL);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    execv(sp->self, argv);
    _exit(127);
}

/* vessel run ARGS (--standby URI,timeout=T | --replicate URI,period=P) --qmp unix:QMP */
static int spawn(struct spare *sp, struct guest_rt *rt, int side, bool standby)
{
    const struct spare_guest *g = rt->g;
    struct side *s = &rt->s[side];
    size_t n = 0;
    while (g->args[side][n])
        n++;
    char **argv = xzalloc((n + 8) * sizeof(char *));
    char repl[260], qmp[270];
    if (standby && !g->timeout_ms)
        snprintf(repl, sizeof(repl), "%s", g->uri);      /* the standby's own timeout (docs/replication.md) */
    else
        snprintf(repl, sizeof(repl), "%s,%s=%llu", g->uri, standby ? "timeout" : "period",
                 (unsigned long long)(standby ? g->timeout_ms : g->period_ms));
    snprintf(qmp, sizeof(qmp), "unix:%s", s->qmp);
    size_t k = 0;
    argv[k++] = (char *)sp->self;
    argv[k++] = "run";
    for (size_t i = 0; i < n; i++)
        argv[k++] = g->args[side][i];
    argv[k++] = standby ? "--standby" : "--replicate";
    argv[k++] = repl;
    argv[k++] = "--qmp";
    argv[k++] = qmp;
    pid_t pid = fork();
    if (pid == 0)
        exec_child(sp, s, argv);
    free(argv);
    if (pid < 0)
        return log_error("spare: guest %s: fork: %s", g->name, strerror(errno)), -1;
    s->pid = pid;
    s->started = time_ns();
    log_info("spare: guest %s: %s started (pid %d, log %s)", g->name, standby ? "standby" : "primary", (int)pid, s->log);
    return 0;
}

/* `vessel qmp PATH CMD [ARGS]`: its exit status; its output in out. */
static int qmp_call(struct spare *sp, const char *path, const char *cmd, const char *args, char *out, size_t outlen)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &sp->mask, NULL);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(p[1], 1);
        dup2(nul, 2);
        close(p[0]);
        char *argv[] = { (char *)sp->self, "qmp", (char *)path, (char *)cmd, (char *)args, NULL };
        execv(sp->self, argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t r;
    while (pid > 0 && (r = read(p[0], out + len, outlen - 1 - len)) > 0 && len + (size_t)r < outlen - 1)
        len += (size_t)r;
    out[len] = 0;
    close(p[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool alive(pid_t pid)
{
    return pid > 0 && kill(pid, 0) == 0;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* The standby of side `side` listens (QMP says role standby). */
static bool standby_ready(struct spare *sp, struct guest_rt *rt, int side)
{
    char out[2048];
    for (uint64_t end = time_ns() + READY_TIMEOUT_MS * 1000000ULL; time_ns() < end && alive(rt->s[side].pid);
         nap_ms(50))
        if (qmp_call(sp, rt->s[side].qmp, "query-replication", NULL, out, sizeof(out)) == 0 &&
            strstr(out, "\"role\":\"standby\""))
            return true;
    return false;
}

/* The primary replicates to the (ready) standby: vm-replicate, retried
 * while the primary has not noticed its old standby's end yet. */
static bool protect(struct spare *sp, struct guest_rt *rt)
{
    char args[300], out[2048];
    snprintf(args, sizeof(args), "{\"uri\": \"%s\", \"period-ms\": %llu}", rt->g->uri,
             (unsigned long long)rt->g->period_ms);
    const char *qmp = rt->s[rt->primary].qmp;
    for (uint64_t end = time_ns() + READY_TIMEOUT_MS * 1000000ULL; time_ns() < end; nap_ms(100)) {
        if (!alive(rt->s[rt->primary].pid) || !alive(rt->s[!rt->primary].pid))
            return false;
        if (qmp_call(sp, qmp, "vm-replicate", args, out, sizeof(out)) == 0)
            return true;
    }
    return false;
}

/* A new standby on side `side` for the running primary. */
static void restart_standby(struct spare *sp, struct guest_rt *rt, int side)
{
    struct side *s = &rt->s[side];
    if (s->quick_deaths >= MAX_QUICK_DEATHS) {
        log_error("spare: guest %s: the standby died %u times within 2 s of its start: not started again (see %s); "
                  "the guest runs unprotected", rt->g->name, s->quick_deaths, s->log);
        return;
    }
    if (spawn(sp, rt, side, true) < 0)
        return;
    if (!standby_ready(sp, rt, side) || !protect(sp, rt))
        log_warn("spare: guest %s: the new standby (pid %d) is not protecting the guest yet (see %s)", rt->g->name,
                 (int)s->pid, s->log);
    else
        log_info("spare: guest %s: protected again (primary pid %d, standby pid %d)", rt->g->name,
                 (int)rt->s[rt->primary].pid, (int)s->pid);
}

static void describe(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
}

static void child_ended(struct spare *sp, struct guest_rt *rt, int side, int st)
{
    struct side *s = &rt->s[side];
    char how[64];
    describe(st, how, sizeof(how));
    bool quick = time_ns() - s->started < QUICK_DEATH_NS;
    s->pid = 0;
    int other = !side;
    if (side == rt->primary) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            log_info("spare: guest %s: the primary ended (%s): the guest is done", rt->g->name, how);
            rt->stopping = true;
        } else if (alive(rt->s[other].pid) && !rt->stopping) {
            log_warn("spare: guest %s: the primary died (%s): its standby takes over", rt->g->name, how);
            rt->primary = other;
            restart_standby(sp, rt, side);
        } else if (!rt->stopping) {
            log_error("spare: guest %s: the primary died (%s) with no standby: the guest is lost", rt->g->name, how);
            rt->lost = true;
        }
    } else if (alive(rt->s[other].pid) && !rt->stopping) {
        s->quick_deaths = quick ? s->quick_deaths + 1 : 0;
        log_warn("spare: guest %s: the standby died (%s): starting another", rt->g->name, how);
        restart_standby(sp, rt, side);
    }
    rt->done = !rt->s[0].pid && !rt->s[1].pid;
}

static void reap(struct spare *sp)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        for (unsigned i = 0; i < sp->c->n; i++)
            for (int k = 0; k < 2; k++)
                if (sp->rt[i].s[k].pid == pid)
                    child_ended(sp, &sp->rt[i], k, st);
}

static bool start_guest(struct spare *sp, struct guest_rt *rt)
{
    rt->primary = 0;
    if (spawn(sp, rt, 1, true) < 0 || !standby_ready(sp, rt, 1)) {
        log_error("spare: guest %s: its standby does not come up (see %s)", rt->g->name, rt->s[1].log);
        return false;
    }
    return spawn(sp, rt, 0, false) == 0;
}

/* SIGTERM to every primary first (it tells its standby to stop), then to
 * the standbys; wait for all. */
static void stop_all(struct spare *sp)
{
    for (int pass = 0; pass < 2; pass++)
        for (unsigned i = 0; i < sp->c->n; i++) {
            struct guest_rt *rt = &sp->rt[i];
            rt->stopping = true;
            int k = pass ? !rt->primary : rt->primary;
            if (rt->s[k].pid > 0)
                kill(rt->s[k].pid, SIGTERM);
        }
    int st;
    while (waitpid(-1, &st, 0) > 0)
        ;
}

int spare_run(const struct spare_config *c, const char *self)
{
    struct spare *sp = xzalloc(sizeof(*sp));
    sp->c = c;
    sp->self = self;
    if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) {
        log_error("spare: state directory %s: %s", c->state_dir, strerror(errno));
        free(sp);
        return 2;
    }
    sigemptyset(&sp->mask);
    sigaddset(&sp->mask, SIGCHLD);
    sigaddset(&sp->mask, SIGTERM);
    sigaddset(&sp->mask, SIGINT);
    sigaddset(&sp->mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &sp->mask, NULL);
    int rc = 0;
    for (unsigned i = 0; i < c->n; i++) {
        struct guest_rt *rt = &sp->rt[i];
        rt->g = &c->g[i];
        for (int k = 0; k < 2; k++) {
            snprintf(rt->s[k].qmp, sizeof(rt->s[k].qmp), "%.150s/%s-%c.qmp", c->state_dir, rt->g->name, 'a' + k);
            snprintf(rt->s[k].log, sizeof(rt->s[k].log), "%.150s/%s-%c.log", c->state_dir, rt->g->name, 'a' + k);
        }
        if (!start_guest(sp, rt))
            rc = 1, rt->lost = true;
    }
    for (;;) {
        bool all_done = true;
        for (unsigned i = 0; i < c->n; i++)
            all_done &= sp->rt[i].done || (sp->rt[i].lost && !sp->rt[i].s[0].pid && !sp->rt[i].s[1].pid);
        if (all_done)
            break;
        struct timespec ts = { 1, 0 };
        int sig = sigtimedwait(&sp->mask, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            log_info("spare: signal %d: stopping every guest", sig);
            stop_all(sp);
            break;
        }
        reap(sp);
    }
    for (unsigned i = 0; i < c->n; i++)
        rc |= sp->rt[i].lost;
    free(sp);
    return rc;
}

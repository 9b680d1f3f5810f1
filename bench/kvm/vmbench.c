/* bench/kvm/vmbench.c: one boot of a VM whose console is its stdin/stdout
 * (vessel kvm, qemu-system-x86_64 -serial stdio), timed from here: a
 * static C program, so that it runs in the nested tier's L1 as well (no
 * python there). bench/kvm/linux.sh runs it once per boot.
 *
 *   vmbench [--ram MIB] [--timeout S] [--marker TEXT] [--cmd LINE]...
 *           [--stderr PATH] [--maps KB] -- CMD...
 *
 * 1. boot: from just before fork() to the read() that brought a console
 *    line starting with TEXT (default "vessel-guest: ready");
 * 2. memory, once the guest's shell has answered a command: the VM
 *    process's VmRSS, and the resident size of its guest RAM mapping(s)
 *    (those of exactly MIB MiB, /proc/PID/smaps), with the same for Pss;
 * 3. each --cmd LINE typed at the shell, its output and exit status;
 * 4. power-off: `poweroff` typed at the shell; from the read() that brought
 *    the guest's last console byte to the VM process's exit (its pidfd
 *    becoming readable).
 *
 * Output, one record a line:
 *   boot_ms MS
 *   mem_kb rss KB guest KB pss KB guest_pss KB
 *   map rss_kb KB size_kb KB NAME   (--maps KB: each other mapping with
 *                                    at least KB resident)
 *   cmd N rc RC          then its output lines as "out N: LINE"
 *   poweroff_ms MS status ST t_last MS t_exit MS last LINE
 *                        (t_last, t_exit: CLOCK_MONOTONIC, to line up
 *                        with the VMM's own time stamps)
 * or "error: WHY" (and the last console lines as "tail: LINE"), status 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 16

struct opts {
    unsigned long ram_mib;
    double timeout_s;
    const char *marker, *stderr_path;
    const char *cmds[MAX_CMDS];
    unsigned ncmds;
    unsigned long maps_kb;      /* --maps KB: list mappings with Rss >= KB */
    char **argv;
};

struct vm {
    pid_t pid;
    int in_fd, out_fd, pid_fd;
    char *buf;          /* the whole console output, CRs dropped */
    size_t len, cap;
    double t_read;      /* when the last read() returned data */
    bool exited;
    double t_exit;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void tail(const struct vm *v, unsigned lines)
{
    size_t i = v->len;
    for (unsigned n = 0; i > 0 && n <= lines; i--)
        if (v->buf[i - 1] == '\n' && i != v->len)
            n++;
    const char *p = v->buf + i;
    while (p < v->buf + v->len) {
        const char *e = memchr(p, '\n', (size_t)(v->buf + v->len - p));
        int l = e ? (int)(e - p) : (int)(v->buf + v->len - p);
        if (l > 0)
            printf("tail: %.*s\n", l, p);
        p += l + 1;
    }
}

static int fail(struct vm *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("error: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (v) {
        tail(v, 4);
        if (!v->exited)
            kill(v->pid, SIGKILL);
    }
    return -1;
}

static int spawn(struct vm *v, const struct opts *o)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return fail(NULL, "pipe: %s", strerror(errno));
    v->pid = fork();
    if (v->pid < 0)
        return fail(NULL, "fork: %s", strerror(errno));
    if (v->pid == 0) {
        int err = open(o->stderr_path ? o->stderr_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || err < 0 || dup2(err, 2) < 0)
            _exit(127);
        execvp(o->argv[0], o->argv);
        dprintf(1, "vmbench: cannot run %s: %s\n", o->argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    v->in_fd = in[1];
    v->out_fd = out[0];
    v->pid_fd = (int)syscall(SYS_pidfd_open, v->pid, 0);
    if (v->pid_fd < 0)
        return fail(v, "pidfd_open: %s (Linux 5.3 or later needed)", strerror(errno));
    return 0;
}

/* One poll: appends what the VM wrote (time of the read in t_read), notes
 * its exit. 0, or -1 on an error or the deadline. */
static int pump(struct vm *v, double deadline)
{
    double left = deadline - now_ms();
    if (left <= 0)
        return -1;
    struct pollfd p[2] = { { v->out_fd, POLLIN, 0 }, { v->pid_fd, POLLIN, 0 } };
    int n = poll(p, v->exited ? 1 : 2, (int)left + 1);
    if (n < 0 && errno != EINTR)
        return -1;
    double t = now_ms();
    if (p[0].revents) {
        char b[4096];
        ssize_t r = read(v->out_fd, b, sizeof(b));
        if (r > 0) {
            v->t_read = t;
            if (v->len + (size_t)r + 1 > v->cap) {
                v->cap = (v->len + (size_t)r + 1) * 2;
                v->buf = realloc(v->buf, v->cap);
                if (!v->buf)
                    abort();
            }
            for (ssize_t i = 0; i < r; i++)
                if (b[i] != '\r')
                    v->buf[v->len++] = b[i];
            v->buf[v->len] = 0;
        } else if (r == 0 && v->exited) {
            return -1;
        }
    }
    if (!v->exited && p[1].revents) {
        v->exited = true;
        v->t_exit = t;
    }
    return 0;
}

/* After the exit: what the VM wrote before it is still in the pipe. */
static void drain(struct vm *v)
{
    while (pump(v, now_ms() + 50) == 0)
        ;
}

/* Wait for TEXT at the start of a line at or after offset `from`; its
 * offset, or -1. */
static long wait_line(struct vm *v, size_t from, const char *text, double deadline)
{
    size_t tl = strlen(text);
    for (;;) {
        for (size_t i = from; i + tl <= v->len; i++)
            if ((i == 0 || v->buf[i - 1] == '\n') && !memcmp(v->buf + i, text, tl))
                return (long)i;
        if (v->exited && v->len == 0)
            return -1;
        if (pump(v, deadline) < 0)
            return -1;
        if (v->exited) {
            drain(v);
            for (size_t i = from; i + tl <= v->len; i++)
                if ((i == 0 || v->buf[i - 1] == '\n') && !memcmp(v->buf + i, text, tl))
                    return (long)i;
            return -1;
        }
    }
}

static int send_line(struct vm *v, const char *line)
{
    size_t l = strlen(line);
    if (write(v->in_fd, line, l) != (ssize_t)l || write(v->in_fd, "\n", 1) != 1)
        return -1;
    return 0;
}

/* Type CMD at the shell between two markers the echo cannot match (the
 * shell joins `vmb""-b`); print its output lines. Its status, or -1. */
static int run_cmd(struct vm *v, unsigned n, const char *cmd, double deadline, bool quiet)
{
    char line[4096], b[32], e[32];
    snprintf(b, sizeof(b), "vmb-b-%u", n);
    snprintf(e, sizeof(e), "vmb-e-%u ", n);
    snprintf(line, sizeof(line), "echo vmb\"\"-b-%u; %s; echo vmb\"\"-e-%u $?", n, cmd, n);
    size_t from = v->len;
    if (send_line(v, line) < 0)
        return fail(v, "cannot type at the console: %s", strerror(errno));
    long bo = wait_line(v, from, b, deadline);
    if (bo < 0)
        return fail(v, "no answer from the shell to: %s", cmd);
    const char *start = strchr(v->buf + bo, '\n');
    char *end = NULL;
    while (!(end = start ? strstr(start, e) : NULL))
        if (pump(v, deadline) < 0 || v->exited)
            return fail(v, "the command did not finish: %s", cmd);
        else
            start = strchr(v->buf + bo, '\n');
    int rc = atoi(end + strlen(e));
    while (!quiet && start && ++start < end) {
        const char *nl = memchr(start, '\n', (size_t)(end - start));
        int l = nl ? (int)(nl - start) : (int)(end - start);
        printf("out %u: %.*s\n", n, l, start);
        start = nl;
    }
    return rc;
}

/* VmRSS and the guest RAM mapping(s)' Rss and Pss (smaps: each mapping's
 * Size precedes its Rss and Pss). */
static int mem_report(struct vm *v, unsigned long ram_kb, unsigned long maps_kb)
{
    char path[64], l[512], name[512] = "";
    unsigned long size = 0, val, rss = 0, grss = 0, pss = 0, gpss = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)v->pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(l, sizeof(l), f))
        sscanf(l, "VmRSS: %lu", &rss);
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)v->pid);
    f = fopen(path, "r");
    if (!f)
        return fail(v, "%s: %s", path, strerror(errno));
    while (fgets(l, sizeof(l), f)) {
        if (l[0] != '\0' && strchr("0123456789abcdef", l[0]) && strchr(l, '-') && strchr(l, ' ')) {
            /* a mapping's header: address range, perms, offset, dev, inode[, path] */
            int off = 0;
            sscanf(l, "%*s %*s %*s %*s %*s %n", &off);
            snprintf(name, sizeof(name), "%s", off > 0 ? l + off : "");
            name[strcspn(name, "\n")] = 0;
            continue;
        }
        if (sscanf(l, "Size: %lu", &val) == 1)
            size = val;
        else if (sscanf(l, "Rss: %lu", &val) == 1) {
            if (size == ram_kb)
                grss += val;
            else if (maps_kb && val >= maps_kb)
                printf("map rss_kb %lu size_kb %lu %s\n", val, size, *name ? name : "[anon]");
        }
        else if (sscanf(l, "Pss: %lu", &val) == 1) {
            pss += val;
            if (size == ram_kb)
                gpss += val;
        }
    }
    fclose(f);
    if (!rss || !grss)
        return fail(v, "no VmRSS or no %lu kB guest RAM mapping in /proc/%d", ram_kb, (int)v->pid);
    printf("mem_kb rss %lu guest %lu pss %lu guest_pss %lu\n", rss, grss, pss, gpss);
    return 0;
}

static int poweroff(struct vm *v, double deadline)
{
    if (send_line(v, "poweroff") < 0)
        return fail(v, "cannot type at the console: %s", strerror(errno));
    while (!v->exited)
        if (pump(v, deadline) < 0)
            return fail(v, "no exit after poweroff");
    /* the last read before the exit was seen; anything read after it was
     * written before the exit too, at a time not known here (the
     * figure then errs towards 0: the run is reported, not dropped) */
    double t_last = v->t_read;
    drain(v);
    int st = 0;
    waitpid(v->pid, &st, 0);
    size_t e = v->len;
    while (e > 0 && v->buf[e - 1] == '\n')
        e--;
    size_t s = e;
    while (s > 0 && v->buf[s - 1] != '\n')
        s--;
    printf("poweroff_ms %.3f status %d t_last %.3f t_exit %.3f last %.*s\n", v->t_exit - t_last,
           WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), t_last, v->t_exit, (int)(e - s), v->buf + s);
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .ram_mib = 256, .timeout_s = 600, .marker = "vessel-guest: ready" };
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            return fail(NULL, "%s needs a value", a);
        if (!strcmp(a, "--ram"))
            o->ram_mib = strtoul(val, NULL, 10);
        else if (!strcmp(a, "--timeout"))
            o->timeout_s = strtod(val, NULL);
        else if (!strcmp(a, "--marker"))
            o->marker = val;
        else if (!strcmp(a, "--stderr"))
            o->stderr_path = val;
        else if (!strcmp(a, "--maps"))
            o->maps_kb = strtoul(val, NULL, 10);
        else if (!strcmp(a, "--cmd") && o->ncmds < MAX_CMDS)
            o->cmds[o->ncmds++] = val;
        else
            return fail(NULL, "unknown option or too many --cmd: %s", a);
        i++;
    }
    if (i + 1 >= argc || !o->ram_mib || o->timeout_s <= 0)
        return fail(NULL, "usage: vmbench [--ram MIB] [--timeout S] [--marker TEXT] [--cmd LINE]... "
                          "[--stderr PATH] [--maps KB] -- CMD...");
    o->argv = argv + i + 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct vm v = { 0 };
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (parse(argc, argv, &o) < 0)
        return 2;
    double t0 = now_ms(), deadline = t0 + o.timeout_s * 1e3;
    if (spawn(&v, &o) < 0)
        return 1;
    if (wait_line(&v, 0, o.marker, deadline) < 0)
        return fail(&v, "no console line starting with '%s'%s", o.marker, v.exited ? " (the VM exited)" : ""), 1;
    printf("boot_ms %.3f\n", v.t_read - t0);
    if (run_cmd(&v, 0, "true", deadline, true) != 0 || mem_report(&v, o.ram_mib * 1024, o.maps_kb) < 0)
        return 1;
    for (unsigned i = 0; i < o.ncmds; i++) {
        int rc = run_cmd(&v, i + 1, o.cmds[i], deadline, false);
        if (rc < 0)
            return 1;
        printf("cmd %u rc %d\n", i + 1, rc);
    }
    return poweroff(&v, deadline) < 0 ? 1 : 0;
}

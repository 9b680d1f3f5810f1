/* vessel exec: run a riscv64 Linux program (user-mode emulation, a drop-in
 * for qemu-riscv64). Option parsing here; the work is in emu/riscv/user. */
#include "cli/cli.h"
#include "base/base.h"
#include "emu/riscv/user/user.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

extern char **environ;

static void exec_usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel exec [OPTIONS] PROGRAM [ARGS...]\n"
        "\n"
        "Run a riscv64 (RV64GC) Linux program on this host by user-mode emulation,\n"
        "like qemu-riscv64. Static programs (ET_EXEC and static-pie) run as they are;\n"
        "dynamic ones load their dynamic loader (PT_INTERP) from a sysroot.\n"
        "\n"
        "Options:\n"
        "  -L SYSROOT    directory holding the riscv64 dynamic loader and libraries\n"
        "                (default: $VESSEL_LD_PREFIX, else /usr/riscv64-linux-gnu if present);\n"
        "                an absolute path the program opens is looked up there first (as\n"
        "                qemu -L), with the /usr/riscv64-linux-gnu default for a dynamic\n"
        "                program only\n"
        "  -E VAR=VALUE  set VAR in the program's environment (repeatable)\n"
        "  -U VAR        remove VAR from the program's environment (repeatable)\n"
        "  -0 ARGV0      pass ARGV0 as the program's argv[0] (default: PROGRAM)\n"
        "  -s SIZE       stack size, 64K to 1G (default 8M; suffixes K M G)\n"
        "  --strace, -strace\n"
        "                print each system call to stderr: PID name(args) = result\n"
        "  --gdb SPEC, -g PORT\n"
        "                wait for gdb (target remote) on SPEC = tcp::PORT (127.0.0.1),\n"
        "                tcp:HOST:PORT, or -g PORT like qemu-riscv64; the program\n"
        "                starts when gdb continues\n"
        "  -h, --help    show this help\n"
        "  --            end of options\n"
        "\n"
        "The exit status is the program's. A program killed by a signal makes\n"
        "vessel print 'vessel: uncaught target signal N (Name) - ...' and die of\n"
        "the same signal (shell status 128+N), as qemu-riscv64 does.\n"
        "\n"
        "Environment:\n"
        "  VESSEL_LD_PREFIX  default for -L (like QEMU_LD_PREFIX)\n"
        "\n"
        "Examples:\n"
        "  vessel exec ./hello\n"
        "  vessel exec -L /usr/riscv64-linux-gnu -E LANG=C ./prog --flag\n"
        "  vessel exec --strace ./hello 2>trace.txt\n"
        "  vessel binfmt install   # then ./hello runs directly\n");
}

struct exec_opts {
    const char *sysroot, *argv0;
    const char *gdb;
    char gdb_spec[64];          /* -g PORT as tcp::PORT */
    bool strace;
    uint64_t stack;
    char **env;
    int nenv;
};

static void env_set(struct exec_opts *o, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (int i = 0; i < o->nenv; i++)
        if (o->env[i] && !strncmp(o->env[i], kv, klen) &&
            (o->env[i][klen] == '=' || o->env[i][klen] == 0)) {
            o->env[i] = (char *)kv;
            return;
        }
    o->env = xrealloc(o->env, sizeof(char *) * (size_t)(o->nenv + 2));
    o->env[o->nenv++] = (char *)kv;
    o->env[o->nenv] = NULL;
}

static void env_unset(struct exec_opts *o, const char *k)
{
    size_t klen = strlen(k);
    int j = 0;
    for (int i = 0; i < o->nenv; i++)
        if (!(!strncmp(o->env[i], k, klen) && o->env[i][klen] == '='))
            o->env[j++] = o->env[i];
    o->nenv = j;
    o->env[j] = NULL;
}

static int exec_main(struct exec_opts *o, const char *prog, int argc, char **argv)
{
    struct stat st;
    if (stat(prog, &st) < 0) {
        log_error("exec: %s: %s", prog, strerror(errno));
        return 127;
    }
    if (S_ISDIR(st.st_mode)) {
        log_error("exec: %s: is a directory", prog);
        return 126;
    }
    bool explicit = o->sysroot != NULL;
    if (!o->sysroot) {
        const char *e = getenv("VESSEL_LD_PREFIX");
        if (e && *e)
            o->sysroot = e, explicit = true;
        else if (access("/usr/riscv64-linux-gnu", F_OK) == 0)
            o->sysroot = "/usr/riscv64-linux-gnu";
    }
    if (o->sysroot) {
        struct stat ss;
        if (stat(o->sysroot, &ss) < 0 || !S_ISDIR(ss.st_mode)) {
            log_error("exec: -L %s: not a directory", o->sysroot);
            return 2;
        }
    }
    struct user_proc *p = xzalloc(sizeof(*p));
    int rc = user_mem_init(&p->mem, USER_SPACE_SIZE);
    if (rc < 0) {
        log_error("exec: cannot reserve %llu GiB of guest address space: %s",
                  (unsigned long long)(USER_SPACE_SIZE >> 30), strerror(-rc));
        return 2;
    }
    char err[256];
    rc = user_elf_load(&p->mem, prog, o->sysroot, &p->img, err, sizeof(err));
    if (rc < 0) {
        log_error("exec: %s: %s", prog, err[0] ? err : strerror(-rc));
        user_mem_free(&p->mem);
        free(p);
        return rc == -ENOENT ? 127 : 126;
    }
    char rp[PATH_MAX];
    p->exe_path = xstrdup(realpath(prog, rp) ? rp : prog);
    p->exec_fn = xstrdup(prog);
    char srp[PATH_MAX];       /* absolute: the guest may chdir */
    p->sysroot = o->sysroot ? xstrdup(realpath(o->sysroot, srp) ? srp : o->sysroot) : NULL;
    p->sysroot_explicit = explicit;
    p->sysroot_paths = explicit || p->img.dynamic;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    p->self_exe = xstrdup(n > 0 ? (self[n] = 0, self) : "vessel");
    p->strace = o->strace;
    p->gdb = o->gdb ? xstrdup(o->gdb) : NULL;
    p->stack_size = o->stack;
    pthread_mutex_init(&p->sig_lock, NULL);

    char **gargv = xmalloc(sizeof(char *) * (size_t)(argc + 2));
    gargv[0] = (char *)(o->argv0 ? o->argv0 : prog);
    for (int i = 0; i < argc; i++)
        gargv[i + 1] = argv[i];
    gargv[argc + 1] = NULL;
    rc = user_run(p, argc + 1, gargv, o->env);   /* returns only when it could not start */
    free(gargv);
    free(p->exe_path);
    free(p->exec_fn);
    free(p->sysroot);
    free(p->self_exe);
    free(p->gdb);
    user_mem_free(&p->mem);
    free(p);
    return rc;
}

static int parse_and_run_opts(struct exec_opts *op, int argc, char **argv, int first);

static int parse_and_run(int argc, char **argv, int first)
{
    struct exec_opts o = { .stack = USER_STACK_DEFAULT };
    int rc = parse_and_run_opts(&o, argc, argv, first);
    free(o.env);
    return rc;
}

static int parse_and_run_opts(struct exec_opts *op, int argc, char **argv, int first)
{
#define o (*op)
    for (char **e = environ; *e; e++)
        env_set(&o, *e);
    if (!o.env) {
        o.env = xzalloc(sizeof(char *));
    }
    int i = first;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            break;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-help")) {
            exec_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--strace") || !strcmp(a, "-strace")) {
            o.strace = true;
            continue;
        }
        if (!strcmp(a, "--gdb") || !strcmp(a, "-g")) {
            if (i + 1 >= argc) {
                log_error("exec: option '%s' needs a value", a);
                return 2;
            }
            const char *v = argv[++i];
            if (a[1] == 'g' && strspn(v, "0123456789") == strlen(v) && *v) {
                snprintf(o.gdb_spec, sizeof(o.gdb_spec), "tcp::%s", v);
                v = o.gdb_spec;
            }
            o.gdb = v;
            continue;
        }
        bool takes = !strcmp(a, "-L") || !strcmp(a, "-E") || !strcmp(a, "-U") ||
                     !strcmp(a, "-0") || !strcmp(a, "-s");
        if (!takes) {
            log_error("exec: unknown option '%s'; see 'vessel exec --help'", a);
            return 2;
        }
        if (i + 1 >= argc) {
            log_error("exec: option '%s' needs a value", a);
            return 2;
        }
        const char *v = argv[++i];
        switch (a[1]) {
        case 'L': o.sysroot = v; break;
        case '0': o.argv0 = v; break;
        case 'E':
            if (!strchr(v, '=') || v[0] == '=') {
                log_error("exec: -E '%s': expected VAR=VALUE", v);
                return 2;
            }
            env_set(&o, v);
            break;
        case 'U': env_unset(&o, v); break;
        case 's':
            if (parse_size(v, 1, &o.stack) < 0 || o.stack < 64 * 1024 ||
                o.stack > (1ULL << 30)) {
                log_error("exec: -s '%s': expected a stack size between 64K and 1G", v);
                return 2;
            }
            o.stack = (o.stack + USER_PAGE - 1) & ~(USER_PAGE - 1);
            break;
        }
    }
    if (i >= argc) {
        log_error("exec: no program given; usage: vessel exec [OPTIONS] PROGRAM [ARGS...]");
        return 2;
    }
    return exec_main(&o, argv[i], argc - i - 1, argv + i + 1);
#undef o
}

int cmd_exec(int argc, char **argv)
{
    return parse_and_run(argc, argv, 1);
}

/* binfmt_misc with flag F: argv[0] = interpreter, argv[1] = the program's
 * full path, argv[2..] = the program's arguments after its argv[0]. */
int cmd_exec_binfmt(int argc, char **argv)
{
    if (argc < 2) {
        log_error("vessel-riscv64: expected to be started by binfmt_misc with the program path");
        return 2;
    }
    struct exec_opts o = { .stack = USER_STACK_DEFAULT };
    for (char **e = environ; *e; e++)
        env_set(&o, *e);
    if (!o.env)
        o.env = xzalloc(sizeof(char *));
    int rc = exec_main(&o, argv[1], argc - 2, argv + 2);
    free(o.env);
    return rc;
}

/* vessel: command dispatch only. */
#include "base/base.h"
#include "cli/cli.h"
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    { "exec",   cmd_exec,   "run a riscv64 Linux program (user-mode emulation, like qemu-riscv64)" },
    { "run",    cmd_run,    "boot a riscv64 virtual machine (whole-system emulation, like qemu-system-riscv64 -M virt)" },
    { "kvm",    cmd_kvm,    "boot an x86-64 virtual machine on /dev/kvm (like kvmtool / Firecracker)" },
    { "ctr",    cmd_ctr,    "OCI container runtime (like runc / crun; also as 'vessel-ctr')" },
    { "binfmt", cmd_binfmt, "register vessel with binfmt_misc for riscv64 ELF programs" },
    { "qmp",    cmd_qmp,    "send one QMP command to a machine's --qmp control socket" },
    { "spare",  cmd_spare,  "keep guests protected by hot spares (a standby each, restarted when it dies)" },
    { "features", cmd_features, "what this binary supports (engines, devices, QMP, OCI); --json for tools" },
};

/* Names the binary answers to through a symlink. */
static const struct {
    const char *argv0;
    int (*fn)(int, char **);
} aliases[] = {
    { "vessel-ctr",     cmd_ctr },
    { "vessel-riscv64", cmd_exec_binfmt },
};

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel COMMAND [OPTIONS] ...\n"
        "\n"
        "vessel is a virtualization toolkit: CPU emulation, virtual machines\n"
        "and containers in one binary.\n"
        "\n"
        "Commands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
        "\n"
        "Options:\n"
        "  -h, --help     show this help\n"
        "  -V, --version  show the version\n"
        "\n"
        "Run 'vessel COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    /* A fixed mmap threshold: glibc raises it (and the heap's trim
     * threshold with it) when a large mmap'd block is freed, e.g. a kernel
     * image read at start; after that, freed buffers of a few MiB (the
     * initrd) stayed in the heap, resident for the machine's whole life. */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    bench_since_exec("main");
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
        if (!strcmp(base, aliases[i].argv0))
            return aliases[i].fn(argc, argv);

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("vessel %s\n", VESSEL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    log_error("unknown command '%s'; run 'vessel --help' for the list", cmd);
    return 2;
}

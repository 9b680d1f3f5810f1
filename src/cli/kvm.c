/* vessel kvm: boot an x86-64 bzImage on /dev/kvm. */
#include "cli/cli.h"
#include "base/base.h"
#include "kvm/x86/kvm.h"
#include "machine/machine.h"
#include "machine/qmp.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: vessel kvm --kernel BZIMAGE|VMLINUX(PVH) [--initrd FILE] [--append CMDLINE]\n"
               "                  [-m SIZE] [--smp N[,maxcpus=M]] [--cpu-features -NAME,...] [--kvm-dev PATH]\n"
               "                  [--serial stdio|unix:PATH|file:PATH|null]\n"
               "                  [--disk PATH[,readonly][,cache=none][,id=NAME]]...\n"
               "                  [--net user[,hostfwd=tcp::HP-:GP...]|tap,ifname=NAME[,mac=MAC]]...\n"
               "                  [--rng] [--console] [--transport pci|mmio] [--no-reboot] [--no-acpi] [-S]\n"
               "                  [--balloon[=deflate-on-oom=on,free-page-reporting=on,id=NAME]]\n"
               "                  [--memory-hotplug size=SIZE[,block-size=SIZE][,requested=SIZE][,id=NAME]]\n"
               "                  [--mem-merge[=on|off]]\n"
               "                  [--qmp unix:PATH[,server][,wait=off]]\n"
               "                  [--incoming unix:PATH|tcp:[HOST]:PORT|file:PATH]\n"
               "                  [--replicate unix:PATH|tcp:HOST:PORT[,period=MS]]\n"
               "                  [--standby unix:PATH|tcp:[HOST]:PORT[,timeout=MS]]\n"
               "       vessel kvm --restore DIR[,verify] [--serial ...] [--qmp ...] [-S] [--kvm-dev PATH]\n"
               "COM1 (ttyS0) goes to --serial (default stdio; Ctrl-A x quits, Ctrl-A h help).\n"
               "--console adds a virtio console (hvc0) that takes the serial input.\n"
               "--balloon adds a virtio-balloon (QMP balloon, query-balloon; docs/balloon.md).\n"
               "--memory-hotplug adds a virtio-mem device of up to SIZE above RAM (QMP qom-set\n"
               "  /machine/peripheral/NAME requested-size; query-memory-devices; docs/kvm.md).\n"
               "--mem-merge=off keeps guest RAM from KSM (on by default, as QEMU's mem-merge).\n"
               "--transport: the virtio devices are modern virtio-pci functions on a PCI host\n"
               "bridge (pci, the default: ECAM in the MCFG, 0xcf8/0xcfc, MSI-X) or virtio-mmio\n"
               "slots (mmio: in the DSDT, or on the kernel command line with --no-acpi).\n"
               "A guest reboot (i8042, triple fault) resets the VM and boots again in the same\n"
               "process; --no-reboot makes it end vessel with status 3 instead.\n"
               "ACPI tables (MADT, MCFG, DSDT with COM1, the PCI root or the virtio-mmio slots,\n"
               "power button) are built unless --no-acpi; the guest powers off through ACPI S5.\n"
               "An MP table is always there.\n"
               "--smp N,maxcpus=M: M vCPUs in the MADT, N present at boot; QMP device_add and\n"
               "device_del of an x86_64-cpu plug and unplug the others (ACPI CPU hotplug).\n"
               "-S starts with every vCPU stopped (and the guest clock) until resumed (QMP cont).\n"
               "--qmp serves QEMU's Machine Protocol on a unix socket (mode 0600): drive the VM\n"
               "with 'vessel qmp PATH COMMAND' or any QMP client (stop, cont, system_reset,\n"
               "system_powerdown, quit, query-status ...); ',server' alone waits for a client\n"
               "before the guest starts, as QEMU does. See docs/qmp.md.\n"
               "SIGINT/SIGTERM/SIGHUP stop the VM in order: exit status 128+signal.\n"
               "The KVM device defaults to $VESSEL_KVM_DEV or /dev/kvm.\n"
               "--restore DIR starts from a snapshot (QMP vm-snapshot) instead of booting: the\n"
               "manifest says what to build (kernel, RAM, vCPUs, devices); ',verify' checks the\n"
               "RAM files' CRC first. See docs/snapshot.md.\n"
               "--incoming makes this the destination of a live migration (QMP migrate on the\n"
               "source): give it the source's machine options (kernel, -m, --smp, the same\n"
               "devices and --disk paths: disks are shared, not copied); the vCPUs wait until\n"
               "the source's RAM and state are in, then run on (with -S: stay paused until QMP\n"
               "cont); file:PATH reads a stream QMP migrate wrote to a file. See docs/snapshot.md.\n"
               "--replicate keeps a hot spare: every epoch (period=MS, default 25) the RAM the\n"
               "guest dirtied, its disk writes and its vCPU, irqchip, clock and device state go\n"
               "to a 'vessel kvm --standby' there; console and network output leave only once\n"
               "the standby has the epoch that produced them (also QMP vm-replicate).\n"
               "--standby: the same machine options as the primary, its own --disk files of\n"
               "the same sizes; it takes over when the primary's stream stops (no data for\n"
               "timeout=MS). Not with vhost=on, --smp maxcpus, --memory-hotplug. See\n"
               "docs/replication.md.\n");
}

/* The options that shape the machine, which a snapshot's manifest fixes. */
static bool shaping_option(int c)
{
    switch (c) {
    case 'k': case 'i': case 'a': case 'm': case 's': case 'c': case 'V': case 'M': case 'A': case 'T': case 'H':
        return true;
    default:
        return false;
    }
}

/* --restore DIR[,verify]: the machine the snapshot's manifest describes. */
static int restore_configure(void *cfg, const struct snap *s)
{
    return vkvm_config_from_snapshot(cfg, s);
}

static int restore_run(void *cfg)
{
    return vkvm_run(cfg);
}

static void free_config(struct vkvm_config **cfg)
{
    machine_config_release(&(*cfg)->mc);
    free(*cfg);
}

int cmd_kvm(int argc, char **argv)
{
    static const struct option opts[] = {
        { "kernel", required_argument, 0, 'k' }, { "initrd", required_argument, 0, 'i' },
        { "append", required_argument, 0, 'a' }, { "mem", required_argument, 0, 'm' },
        { "smp", required_argument, 0, 's' }, { "kvm-dev", required_argument, 0, 'd' },
        { "cpu-features", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' },
        { "serial", required_argument, 0, 'L' }, { "disk", required_argument, 0, 'V' },
        { "net", required_argument, 0, 'V' }, { "rng", no_argument, 0, 'V' },
        { "console", no_argument, 0, 'V' }, { "balloon", optional_argument, 0, 'V' },
        { "mem-merge", optional_argument, 0, 'M' },
        { "no-reboot", no_argument, 0, 'R' },
        { "no-acpi", no_argument, 0, 'A' }, { "qmp", required_argument, 0, 'Q' },
        { "transport", required_argument, 0, 'T' }, { "restore", required_argument, 0, 'r' },
        { "incoming", required_argument, 0, 'I' }, { "memory-hotplug", required_argument, 0, 'H' },
        { "replicate", required_argument, 0, 'P' }, { "standby", required_argument, 0, 'Y' },
        { 0, 0, 0, 0 },
    };
    __attribute__((cleanup(free_config))) struct vkvm_config *cfg = xzalloc(sizeof(*cfg));
    cfg->mc.ram_size = 256ULL << 20;
    cfg->mc.ncpus = 1;
    cfg->mc.serial = "stdio";
    cfg->append = "console=ttyS0";
    cfg->dev = getenv("VESSEL_KVM_DEV");
    if (!cfg->dev || !*cfg->dev)
        cfg->dev = "/dev/kvm";
    int c, li;
    const char *restore = NULL, *shaping = NULL;
    char shaping_buf[32];
    optind = 1;
    while ((c = getopt_long(argc, argv, "+m:hS", opts, &li)) != -1) {
        if (shaping_option(c)) {
            snprintf(shaping_buf, sizeof(shaping_buf), "--%s", c == 'm' ? "mem" : opts[li].name);
            shaping = shaping_buf;
        }
        switch (c) {
        case 'r': restore = optarg; break;
        case 'I': cfg->mc.incoming = optarg; break;
        case 'P':
            if (machine_parse_repl_arg("--replicate", optarg, "period", &cfg->mc.replicate_period_ms) < 0)
                return 2;
            cfg->mc.replicate = optarg;
            break;
        case 'Y':
            if (machine_parse_repl_arg("--standby", optarg, "timeout", &cfg->mc.standby_timeout_ms) < 0)
                return 2;
            cfg->mc.standby = optarg;
            break;
        case 'L': cfg->mc.serial = optarg; break;
        case 'V':
            if (virtio_options_add(&cfg->mc.virtio, opts[li].name, optarg) < 0)
                return 2;
            break;
        case 'k': cfg->kernel = optarg; break;
        case 'i': cfg->initrd = optarg; break;
        case 'a': cfg->append = optarg; break;
        case 'd': cfg->dev = optarg; break;
        case 'R': cfg->mc.no_reboot = true; break;
        case 'M':
            if (machine_parse_mem_merge(optarg, &cfg->mc.mem_merge_off) < 0)
                return 2;
            break;
        case 'A': cfg->no_acpi = true; break;
        case 'H':
            if (vkvm_parse_memory_hotplug(optarg, &cfg->vmem) < 0)
                return 2;
            break;
        case 'T':
            if (strcmp(optarg, "pci") && strcmp(optarg, "mmio")) {
                log_error("--transport %s: expected pci or mmio", optarg);
                return 2;
            }
            cfg->mmio = strcmp(optarg, "mmio") == 0;
            break;
        case 'S': cfg->mc.start_paused = true; break;
        case 'Q':
            if (qmp_monitor_init(&cfg->mc.monitor, optarg) < 0)
                return 2;
            break;
        case 'c':
            if (vkvm_cpu_features_parse(optarg, &cfg->hide))
                return 2;
            break;
        case 'm':
            if (machine_parse_mem(optarg, &cfg->mc.ram_size) < 0)
                return 2;
            break;
        case 's':
            if (machine_parse_smp_max(optarg, VKVM_MAX_VCPUS, "vCPU", &cfg->boot_cpus, &cfg->mc.ncpus) < 0)
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (restore && cfg->mc.incoming) {
        log_error("--incoming and --restore: one or the other (the state comes from the stream or the snapshot)");
        return 2;
    }
    if (cfg->mc.standby && (restore || cfg->mc.incoming || cfg->mc.replicate)) {
        log_error("--standby: %s cannot be given with it",
                  restore ? "--restore" : cfg->mc.incoming ? "--incoming" : "--replicate");
        return 2;
    }
    if (cfg->mc.replicate && (cfg->mc.incoming || restore || cfg->mc.start_paused)) {
        log_error("--replicate: %s cannot be given with it (use QMP vm-replicate once it runs)",
                  cfg->mc.incoming ? "--incoming" : restore ? "--restore" : "-S");
        return 2;
    }
    char why[400];
    if ((cfg->mc.standby || cfg->mc.replicate) && machine_replicate_check_config(&cfg->mc, why, sizeof(why)) < 0) {
        log_error("%s: %s", cfg->mc.standby ? "--standby" : "--replicate", why);
        return 2;
    }
    if (restore) {
        static const struct machine_restore_engine engine = { restore_configure, restore_run };
        return machine_restore_run(restore, shaping, &cfg->restore_verify, &engine, cfg);
    }
    if (cfg->mc.incoming && cfg->boot_cpus && cfg->boot_cpus != cfg->mc.ncpus) {
        log_error("--incoming: not with CPU hotplug (--smp %u,maxcpus=%u): its state is not migrated yet",
                  cfg->boot_cpus, cfg->mc.ncpus);
        return 2;
    }
    if (cfg->boot_cpus && cfg->boot_cpus != cfg->mc.ncpus && cfg->no_acpi) {
        log_error("--smp %u,maxcpus=%u: CPU hotplug needs ACPI (drop --no-acpi)", cfg->boot_cpus, cfg->mc.ncpus);
        return 2;
    }
    if (!cfg->kernel) {
        log_error("--kernel BZIMAGE is required");
        usage(stderr);
        return 2;
    }
    return vkvm_run(cfg);
}

/* vessel run: boot a riscv64 virtual machine (the virt board). Option
 * parsing here; the work is in emu/riscv/virt. */
#include "cli/cli.h"
#include "base/base.h"
#include "emu/riscv/virt/virt.h"
#include "machine/qmp.h"
#include "machine/machine.h"
#include "machine/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void run_usage(FILE *f)
{
    fprintf(f,
        "Usage: vessel run [OPTIONS]\n"
        "\n"
        "Boot a riscv64 virtual machine by whole-system emulation, laid out like\n"
        "qemu-system-riscv64 -M virt: RAM at 0x80000000, CLINT, PLIC, NS16550A UART\n"
        "(ttyS0), syscon power-off/reboot, goldfish RTC, a SiFive GPIO controller\n"
        "with a gpio-keys power button, virtio-mmio slots, and a\n"
        "device tree describing them. With no --kernel it boots the default guest\n"
        "built by 'make guest'.\n"
        "\n"
        "Options:\n"
        "  --kernel FILE     RISC-V Linux Image (loaded at 0x80200000) or ELF. An ELF\n"
        "                    defining the symbol 'tohost' runs bare-metal in M-mode\n"
        "                    from its entry, with no SBI (HTIF exit convention).\n"
        "                    Default: the cached default guest's Image.\n"
        "  --initrd FILE     initramfs, placed high in RAM (default with the default\n"
        "                    guest: its initramfs)\n"
        "                    A kernel or initrd file nobody may write (chmod a-w) is\n"
        "                    mapped, not copied: guests booted from it share its pages\n"
        "  --append CMDLINE  kernel command line (default \"console=ttyS0\")\n"
        "  -m, --memory SIZE guest RAM, at least 16M (suffixes K M G; a bare number\n"
        "                    is MiB; default 256M)\n"
        "  --smp N[,maxcpus=M]\n"
        "                    harts, 1 to %d, one host thread each (default 1); with\n"
        "                    maxcpus, M harts in the device tree, N online at boot\n"
        "                    (maxcpus=N on the kernel command line): the guest brings\n"
        "                    the others up and down (/sys/devices/system/cpu/cpuN/online,\n"
        "                    SBI HSM); a stopped hart costs no host CPU\n"
        "  --mem-merge[=on|off]\n"
        "                    offer guest RAM to the host's KSM (MADV_MERGEABLE), as\n"
        "                    QEMU's mem-merge: on by default; merging happens only\n"
        "                    while ksmd runs (/sys/kernel/mm/ksm/run)\n"
        "  --bios FILE       M-mode firmware loaded at 0x80000000 (e.g. OpenSBI\n"
        "                    /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin);\n"
        "                    every hart starts there with a0=hartid, a1=FDT. Without\n"
        "                    --bios the built-in SBI v2.0 serves the kernel, which\n"
        "                    starts in S-mode at 0x80200000 (a0=hartid, a1=FDT).\n"
        "  --serial SPEC     where ttyS0 goes: stdio (default), unix:PATH (a listening\n"
        "                    socket), file:PATH (output only), null\n"
        "  --disk PATH[,readonly][,cache=none][,id=SERIAL]\n"
        "                    a virtio-blk disk (raw image; repeatable)\n"
        "  --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT...][,mac=MAC]\n"
        "  --net tap,ifname=NAME[,mac=MAC]\n"
        "                    a virtio-net device (repeatable)\n"
        "  --rng             a virtio-rng device fed from getrandom\n"
        "  --console         a virtio-console device (hvc0), on the same stdio\n"
        "  --balloon[=deflate-on-oom=on,free-page-reporting=on,id=NAME]\n"
        "                    a virtio-balloon device: QMP 'balloon' asks the guest to\n"
        "                    give memory back, which vessel returns to the host; with\n"
        "                    free-page-reporting the guest also hands over what it\n"
        "                    frees. See docs/balloon.md\n"
        "  --sv39            offer Sv39 only (default: Sv48 and Sv39)\n"
        "  --gdb tcp::PORT   GDB remote stub on 127.0.0.1:PORT (tcp:HOST:PORT for\n"
        "                    another address): one thread per hart, registers incl.\n"
        "                    FP and CSRs, memory through the hart's translation,\n"
        "                    breakpoints, single step; 'gdb-multiarch vmlinux' then\n"
        "                    'target remote :PORT'. gdb's kill stops vessel (status 0)\n"
        "  -S                with --gdb: every hart waits for the debugger before its\n"
        "                    first instruction; without --gdb: start paused (every\n"
        "                    hart stopped, the guest clock too) until QMP 'cont'\n"
        "  --no-reboot       a guest reboot ends vessel (status 3) instead of\n"
        "                    resetting the machine and booting again\n"
        "  --dumpdtb FILE    write the device tree the guest would get to FILE and exit\n"
        "  --restore DIR[,verify]\n"
        "                    start from a snapshot (QMP vm-snapshot) instead of booting:\n"
        "                    the machine (RAM, harts, images, devices) is the one its\n"
        "                    manifest describes; RAM is mapped from DIR (copy on write).\n"
        "                    Only --serial, --qmp, -S, --no-reboot and --gdb may be\n"
        "                    given with it; ',verify' checks the RAM files' CRC first.\n"
        "                    See docs/snapshot.md\n"
        "  --incoming unix:PATH | tcp:[HOST]:PORT | file:PATH\n"
        "                    the destination of a live migration (QMP 'migrate' on\n"
        "                    the source): listen there, receive the source's RAM and\n"
        "                    state, then run on from where the source stopped. Start\n"
        "                    it with the source's machine options (-m, --smp, the\n"
        "                    same devices, the same --disk paths: disks are shared,\n"
        "                    not copied); the harts wait until the stream is in\n"
        "                    (with -S they stay stopped after it, until QMP cont).\n"
        "                    file:PATH reads a stream QMP 'migrate' wrote to a file.\n"
        "                    See docs/snapshot.md (Migration)\n"
        "  --replicate unix:PATH|tcp:HOST:PORT[,period=MS]\n"
        "                    hot spare: once running, send an epoch (the pages and\n"
        "                    disk blocks written, the device and CPU state) every MS\n"
        "                    (default 25) to a 'vessel run --standby' there; console\n"
        "                    and network output leave only once the standby has the\n"
        "                    epoch that made them. See docs/replication.md\n"
        "  --standby unix:PATH|tcp:[HOST]:PORT[,timeout=MS]\n"
        "                    the hot spare: same machine options, its own --disk\n"
        "                    copies; receive epochs there and take over when the\n"
        "                    primary's stream stops (EOF, error, or no epoch for MS,\n"
        "                    default 1000): the guest runs on from the last epoch,\n"
        "                    the --net backends are opened then\n"
        "  --qmp unix:PATH[,server][,wait=off]\n"
        "                    a QMP control socket (QEMU's protocol, mode 0600): drive\n"
        "                    the machine with 'vessel qmp PATH COMMAND' or any QMP\n"
        "                    client (stop, cont, system_reset, system_powerdown: the\n"
        "                    board's GPIO power button, quit, query-status ...);\n"
        "                    ',server' alone waits for a client before the guest\n"
        "                    starts, as QEMU does. See docs/qmp.md\n"
        "  -h, --help        show this help\n"
        "\n"
        "At most %d virtio devices in all (the board's slots, IRQs 1-8).\n"
        "\n"
        "Console: on a terminal stdin is in raw mode (restored on exit).\n"
        "  Ctrl-A x  quit     Ctrl-A h  help     Ctrl-A Ctrl-A  send Ctrl-A\n"
        "It also works with a pipe, so scripts can drive the guest's shell.\n"
        "\n"
        "Exit status:\n"
        "  0    the guest powered off, or Ctrl-A x; a bare-metal program wrote\n"
        "       tohost = 1\n"
        "  N    a bare-metal program wrote tohost = 2N+1, or the guest's syscon\n"
        "       or SBI reported a failure (then N = 1 if none was given)\n"
        "  2    bad options or input files (one line says which)\n"
        "  3    the guest asked for a reboot and --no-reboot was given (without\n"
        "       it the machine resets and boots again in the same process)\n"
        "  4    the machine stopped on an error (a hart could not go on)\n"
        "  128+SIG  stopped by signal SIG (SIGINT, SIGTERM, SIGHUP)\n"
        "\n"
        "Examples:\n"
        "  vessel run                                   # the default guest\n"
        "  vessel run --kernel Image --initrd initramfs.cpio.gz -m 512M --smp 2\n"
        "  vessel run --bios fw_jump.bin --kernel Image --initrd initramfs.cpio.gz\n"
        "  vessel run --disk disk.img --net user,hostfwd=tcp::8080-:80 --rng\n"
        "  vessel run --kernel rv64-test.elf            # bare metal, exits with its status\n",
        VIRT_MAX_HARTS, VIRT_VIRTIO_SLOTS);
}

/* The newest complete riscv64 default guest in the cache, or -ENOENT. */
static int default_guest(char *kernel, char *initrd, size_t len)
{
    const char *c = getenv("VESSEL_CACHE");
    char dir[PATH_MAX];
    if (c && *c)
        snprintf(dir, sizeof(dir), "%s/guest", c);
    else if ((c = getenv("XDG_CACHE_HOME")) && *c)
        snprintf(dir, sizeof(dir), "%s/vessel/guest", c);
    else
        snprintf(dir, sizeof(dir), "%s/.cache/vessel/guest", getenv("HOME") ? getenv("HOME") : "/root");
    DIR *d = opendir(dir);
    if (!d)
        return -ENOENT;
    struct dirent *de;
    time_t best = 0;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "riscv64-", 8))
            continue;
        char stamp[PATH_MAX + 300];
        struct stat st;
        snprintf(stamp, sizeof(stamp), "%s/%s/.complete", dir, de->d_name);
        if (stat(stamp, &st) < 0 || st.st_mtime < best)
            continue;
        best = st.st_mtime;
        snprintf(kernel, len, "%s/%s/Image", dir, de->d_name);
        snprintf(initrd, len, "%s/%s/initramfs.cpio.gz", dir, de->d_name);
    }
    closedir(d);
    return best ? 0 : -ENOENT;
}

enum { O_KERNEL = 256, O_INITRD, O_APPEND, O_SMP, O_BIOS, O_SERIAL, O_DISK, O_NET, O_RNG, O_CONSOLE,
       O_GDB, O_SV39, O_DUMPDTB, O_NO_REBOOT, O_QMP, O_RESTORE, O_BALLOON, O_MEM_MERGE, O_INCOMING,
       O_REPLICATE, O_STANDBY };

/* The options that shape the machine, which a snapshot's manifest fixes. */
static const char *shaping_option(int c)
{
    switch (c) {
    case O_KERNEL: return "--kernel";
    case O_INITRD: return "--initrd";
    case O_APPEND: return "--append";
    case O_BIOS: return "--bios";
    case 'm': return "-m";
    case O_SMP: return "--smp";
    case O_SV39: return "--sv39";
    case O_DISK: return "--disk";
    case O_NET: return "--net";
    case O_RNG: return "--rng";
    case O_CONSOLE: return "--console";
    case O_BALLOON: return "--balloon";
    case O_DUMPDTB: return "--dumpdtb";
    default: return NULL;
    }
}

/* --restore DIR[,verify]: the machine the snapshot's manifest describes. */
static int restore_configure(void *cfg, const struct snap *s)
{
    return virt_config_from_snapshot(cfg, s);
}

static int restore_run(void *cfg)
{
    return virt_run(cfg);
}

static void free_config(struct virt_config **cfg)
{
    machine_config_release(&(*cfg)->mc);
    free(*cfg);
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "kernel", required_argument, 0, O_KERNEL }, { "initrd", required_argument, 0, O_INITRD },
        { "append", required_argument, 0, O_APPEND }, { "memory", required_argument, 0, 'm' },
        { "smp", required_argument, 0, O_SMP }, { "bios", required_argument, 0, O_BIOS },
        { "serial", required_argument, 0, O_SERIAL }, { "disk", required_argument, 0, O_DISK },
        { "net", required_argument, 0, O_NET }, { "rng", no_argument, 0, O_RNG },
        { "console", no_argument, 0, O_CONSOLE }, { "gdb", required_argument, 0, O_GDB },
        { "sv39", no_argument, 0, O_SV39 }, { "dumpdtb", required_argument, 0, O_DUMPDTB },
        { "no-reboot", no_argument, 0, O_NO_REBOOT }, { "qmp", required_argument, 0, O_QMP },
        { "restore", required_argument, 0, O_RESTORE }, { "incoming", required_argument, 0, O_INCOMING },
        { "replicate", required_argument, 0, O_REPLICATE }, { "standby", required_argument, 0, O_STANDBY },
        { "balloon", optional_argument, 0, O_BALLOON }, { "mem-merge", optional_argument, 0, O_MEM_MERGE },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    __attribute__((cleanup(free_config))) struct virt_config *cfg = xzalloc(sizeof(*cfg));
    cfg->mc.ram_size = 256ULL << 20;
    cfg->mc.ncpus = 1;
    cfg->mc.serial = "stdio";
    cfg->append = "console=ttyS0";
    bool start_stopped = false;
    const char *restore = NULL, *shaping = NULL;
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+m:Sh", opts, NULL)) != -1) {
        if (shaping_option(c))
            shaping = shaping_option(c);
        switch (c) {
        case O_KERNEL: cfg->kernel = optarg; break;
        case O_INITRD: cfg->initrd = optarg; break;
        case O_APPEND: cfg->append = optarg; break;
        case O_BIOS: cfg->bios = optarg; break;
        case O_SERIAL: cfg->mc.serial = optarg; break;
        case O_GDB: cfg->gdb = optarg; break;
        case O_SV39: cfg->sv39_only = true; break;
        case O_DUMPDTB: cfg->dump_dtb = optarg; break;
        case O_NO_REBOOT: cfg->mc.no_reboot = true; break;
        case O_MEM_MERGE:
            if (machine_parse_mem_merge(optarg, &cfg->mc.mem_merge_off) < 0)
                return 2;
            break;
        case O_QMP:
            if (qmp_monitor_init(&cfg->mc.monitor, optarg) < 0)
                return 2;
            break;
        case 'S': start_stopped = true; break;
        case O_RESTORE: restore = optarg; break;
        case O_INCOMING: cfg->mc.incoming = optarg; break;
        case O_REPLICATE:
            if (machine_parse_repl_arg("--replicate", optarg, "period", &cfg->mc.replicate_period_ms) < 0)
                return 2;
            cfg->mc.replicate = optarg;
            break;
        case O_STANDBY:
            if (machine_parse_repl_arg("--standby", optarg, "timeout", &cfg->mc.standby_timeout_ms) < 0)
                return 2;
            cfg->mc.standby = optarg;
            break;
        case 'm':
            if (machine_parse_mem(optarg, &cfg->mc.ram_size) < 0)
                return 2;
            break;
        case O_SMP:
            if (machine_parse_smp_max(optarg, VIRT_MAX_HARTS, "hart", &cfg->boot_harts, &cfg->mc.ncpus) < 0)
                return 2;
            break;
        case O_DISK: case O_NET: case O_RNG: case O_CONSOLE: case O_BALLOON: {
            const char *name = c == O_DISK ? "disk" : c == O_NET ? "net" : c == O_RNG ? "rng" :
                               c == O_BALLOON ? "balloon" : "console";
            r = virtio_options_add(&cfg->mc.virtio, name, c == O_DISK || c == O_NET || c == O_BALLOON ? optarg : NULL);
            if (r < 0)
                return 2;
            break;
        }
        case 'h': run_usage(stdout); return 0;
        default:
            fprintf(stderr, "See 'vessel run --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        log_error("run: unexpected argument '%s'; see 'vessel run --help'", argv[optind]);
        return 2;
    }
    /* -S: with --gdb every hart waits for the debugger; without, the
     * machine starts paused until resumed (QMP cont), as QEMU's -S */
    if (cfg->gdb)
        cfg->gdb_wait = start_stopped;
    else
        cfg->mc.start_paused = start_stopped;
    if (restore && cfg->mc.incoming) {
        log_error("--incoming and --restore: one or the other (the state comes from the stream or the snapshot)");
        return 2;
    }
    if (cfg->mc.incoming && (cfg->gdb || cfg->dump_dtb)) {
        log_error("--incoming: %s cannot be given with it", cfg->gdb ? "--gdb" : "--dumpdtb");
        return 2;
    }
    if (cfg->mc.standby && (restore || cfg->mc.incoming || cfg->mc.replicate || cfg->gdb || cfg->dump_dtb)) {
        log_error("--standby: %s cannot be given with it", restore ? "--restore" : cfg->mc.incoming ? "--incoming" :
                  cfg->mc.replicate ? "--replicate" : cfg->gdb ? "--gdb" : "--dumpdtb");
        return 2;
    }
    if (cfg->mc.replicate && (cfg->mc.incoming || start_stopped)) {
        log_error("--replicate: %s cannot be given with it (use QMP vm-replicate once it runs)",
                  cfg->mc.incoming ? "--incoming" : "-S");
        return 2;
    }
    if (restore) {
        static const struct machine_restore_engine engine = { restore_configure, restore_run };
        return machine_restore_run(restore, shaping, &cfg->restore_verify, &engine, cfg);
    }
    char kbuf[PATH_MAX + 64], ibuf[PATH_MAX + 64];
    if (!cfg->kernel && !cfg->bios) {
        if (default_guest(kbuf, ibuf, sizeof(kbuf)) < 0) {
            log_error("no --kernel given and no default guest built; run 'make guest' (or pass --kernel FILE)");
            return 2;
        }
        cfg->kernel = kbuf;
        if (!cfg->initrd)
            cfg->initrd = ibuf;
    }
    return virt_run(cfg);
}

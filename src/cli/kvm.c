/* vessel kvm: boot an x86-64 bzImage on /dev/kvm. */
#include "cli/cli.h"
#include "base/base.h"
#include "dev/virtio/virtio.h"
#include "kvm/x86/kvm.h"

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
               "                  [-m SIZE] [--smp N] [--cpu-features -NAME,...] [--kvm-dev PATH]\n"
               "                  [--serial stdio|unix:PATH|file:PATH|null]\n"
               "                  [--disk PATH[,readonly][,cache=none][,id=NAME]]...\n"
               "                  [--net user[,hostfwd=tcp::HP-:GP...]|tap,ifname=NAME[,mac=MAC]]...\n"
               "                  [--rng] [--console]\n"
               "COM1 (ttyS0) goes to --serial (default stdio; Ctrl-A x quits, Ctrl-A h help).\n"
               "--console adds a virtio console (hvc0) that takes the serial input.\n"
               "The KVM device defaults to $VESSEL_KVM_DEV or /dev/kvm.\n");
}

static uint64_t host_mem_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

int cmd_kvm(int argc, char **argv)
{
    static const struct option opts[] = {
        { "kernel", required_argument, 0, 'k' }, { "initrd", required_argument, 0, 'i' },
        { "append", required_argument, 0, 'a' }, { "mem", required_argument, 0, 'm' },
        { "smp", required_argument, 0, 's' }, { "kvm-dev", required_argument, 0, 'd' },
        { "cpu-features", required_argument, 0, 'c' }, { "help", no_argument, 0, 'h' },
        { "serial", required_argument, 0, 'S' }, { "disk", required_argument, 0, 'V' },
        { "net", required_argument, 0, 'V' }, { "rng", no_argument, 0, 'V' },
        { "console", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
    };
    static struct virtio_options vopt;      /* large: not on the stack */
    memset(&vopt, 0, sizeof(vopt));
    const char *serial = "stdio";
    const char *kernel = NULL, *initrd_path = NULL, *append = "console=ttyS0";
    const char *dev = getenv("VESSEL_KVM_DEV");
    uint64_t ram = 256ULL << 20, smp = 1;
    struct kvm_cpu_hide hide = { { 0, 0 } };
    if (!dev || !*dev)
        dev = "/dev/kvm";
    int c, li;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+m:h", opts, &li)) != -1) {
        switch (c) {
        case 'S': serial = optarg; break;
        case 'V':
            if (virtio_options_add(&vopt, opts[li].name, optarg) < 0)
                return 2;
            break;
        case 'k': kernel = optarg; break;
        case 'i': initrd_path = optarg; break;
        case 'a': append = optarg; break;
        case 'd': dev = optarg; break;
        case 'c':
            if (kvm_cpu_features_parse(optarg, &hide))
                return 2;
            break;
        case 'm':
            if (parse_size(optarg, 1 << 20, &ram) || ram < (16ULL << 20) || ram % 4096) {
                log_error("-m %s: need a size of at least 16M (page multiple)", optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_u64(optarg, &smp) || smp < 1 || smp > KVM_MAX_VCPUS) {
                log_error("--smp %s: need a vCPU count from 1 to %d", optarg, KVM_MAX_VCPUS);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!kernel) {
        log_error("--kernel BZIMAGE is required");
        usage(stderr);
        return 2;
    }
    uint64_t host = host_mem_bytes();
    if (host && ram > host) {
        log_error("-m %llu MiB is more than the host's %llu MiB of memory",
                  (unsigned long long)(ram >> 20), (unsigned long long)(host >> 20));
        return 2;
    }
    cleanup_free char *img = NULL, *ird = NULL;
    size_t img_len = 0, ird_len = 0;
    int r = read_file(kernel, &img, &img_len, 256u << 20);
    if (r) {
        log_error("--kernel %s: %s", kernel, strerror(-r));
        return 2;
    }
    if (initrd_path) {
        r = read_file(initrd_path, &ird, &ird_len, (size_t)ram);
        if (r == -EFBIG || r == -E2BIG) {
            log_error("--initrd %s: larger than guest RAM (-m %llu MiB)", initrd_path,
                      (unsigned long long)(ram >> 20));
            return 2;
        }
        if (r) {
            log_error("--initrd %s: %s", initrd_path, strerror(-r));
            return 2;
        }
    }
    struct kvm_bzimage bz;
    const char *why = NULL;
    uint32_t pvh_entry;
    bool pvh = img_len >= 4 && !memcmp(img, "\x7f" "ELF", 4);
    if (pvh ? kvm_pvh_entry((const uint8_t *)img, img_len, &pvh_entry, &why)
            : kvm_bzimage_parse((const uint8_t *)img, img_len, &bz, &why)) {
        log_error("--kernel %s: %s", kernel, why);
        return 2;
    }
    int kfd = kvm_open_dev(dev);
    if (kfd < 0)
        return 1;
    struct guest_mem mem;
    mem_init(&mem);
    r = kvm_mem_layout(&mem, ram);
    if (r) {
        log_error("-m %llu MiB: cannot map guest RAM: %s", (unsigned long long)(ram >> 20), strerror(-r));
        close(kfd);
        return 1;
    }
    struct kvm_vm_config cfg = { .ncpus = (unsigned)smp, .hide = &hide, .serial = serial, .virtio = &vopt };
    struct kvm_vm *vm = kvm_vm_create(kfd, &mem, &cfg);
    if (!vm) {
        mem_destroy(&mem);
        close(kfd);
        return 1;
    }
    /* the user's command line, then the virtio devices */
    char devs[2048];
    r = kvm_vm_cmdline(vm, devs, sizeof(devs));
    cleanup_free char *cmdline = r > 0 ? xasprintf("%s%s%s", append, *append ? " " : "", devs)
                                       : xstrdup(append);
    if (r < 0)
        log_error("virtio devices: command line too long");
    struct kvm_boot_state st;
    if (r >= 0)
        r = pvh ? kvm_boot_pvh(&mem, ram, (const uint8_t *)img, img_len,
                               (const uint8_t *)ird, ird_len, cmdline, &st)
                : kvm_boot_bzimage(&mem, ram, (const uint8_t *)img, img_len,
                                   (const uint8_t *)ird, ird_len, cmdline, &st);
    if (r == 0 && (r = kvm_mptable_build(&mem, (unsigned)smp, kvm_vm_level_pins(vm))))
        log_error("MP table: %s", strerror(-r));
    if (r == 0)
        r = kvm_vm_run(vm, &st);
    kvm_vm_destroy(vm);
    mem_destroy(&mem);
    close(kfd);
    return r < 0 ? 1 : r;
}

/* KVM ioctls: open /dev/kvm, create the VM (irqchip, PIT, TSS), map guest
 * RAM, set one vCPU to the boot state and run it. Port I/O handled here:
 * COM1 THR (minimal until the shared 8250 is merged), the i8042 reset
 * command, and the test guests' debug-exit port. */
#include "kvm/x86/kvm.h"
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kvm_open_dev(const char *dev)
{
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            log_error("%s: %s (no KVM here: load kvm_intel/kvm_amd or use `vessel run`)", dev, strerror(e));
        else if (e == EACCES || e == EPERM)
            log_error("%s: %s (add your user to the owning group, e.g. `kvm`)", dev, strerror(e));
        else
            log_error("%s: %s", dev, strerror(e));
        return -e;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v < 0) {
        int e = errno;
        log_error("%s: KVM_GET_API_VERSION: %s (not a usable KVM device)", dev, strerror(e));
        close(fd);
        return -e;
    }
    if (v != KVM_API_VERSION) {
        log_error("%s: KVM API version %d, expected %d", dev, v, KVM_API_VERSION);
        close(fd);
        return -EINVAL;
    }
    static const struct { int cap; const char *name; } need[] = {
        { KVM_CAP_IRQCHIP, "IRQCHIP" }, { KVM_CAP_USER_MEMORY, "USER_MEMORY" },
        { KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" }, { KVM_CAP_PIT2, "PIT2" },
        { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
        if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
            log_error("%s: missing capability KVM_CAP_%s", dev, need[i].name);
            close(fd);
            return -ENOTSUP;
        }
    return fd;
}

static void set_seg(struct kvm_segment *k, const struct kvm_boot_seg *s)
{
    *k = (struct kvm_segment){ .base = s->base, .limit = s->limit, .selector = s->selector,
        .type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
        .s = s->s, .l = s->l, .g = s->g };
}

static int setup_cpuid(int kvm_fd, int vcpu)
{
    int n = 256;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return -ENOMEM;
    c->nent = n;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        int e = -errno;
        free(c);
        return e;
    }
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 1) {
            e->ecx |= 1u << 31;                       /* hypervisor */
            e->ebx &= 0x00ffffff;                     /* APIC id 0 */
        }
    }
    int r = ioctl(vcpu, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
    free(c);
    return r;
}

static void report_internal(int vcpu, struct kvm_run *run, struct guest_mem *m)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    ioctl(vcpu, KVM_GET_REGS, &regs);
    ioctl(vcpu, KVM_GET_SREGS, &sregs);
    char bytes[64] = "";
    uint64_t pa = sregs.cs.base + regs.rip;   /* identity-mapped guests */
    uint8_t b[8];
    if (mem_read(m, pa, b, sizeof(b)) == 0)
        snprintf(bytes, sizeof(bytes), " bytes %02x %02x %02x %02x %02x %02x %02x %02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    log_error("guest: KVM internal error (suberror %u%s) at RIP %#llx%s",
              run->internal.suberror,
              run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ", emulation failure" : "",
              (unsigned long long)regs.rip, bytes);
}

int kvm_vm_run(int kvm_fd, struct guest_mem *m, const struct kvm_boot_state *st)
{
    int ret = -EIO, vm = -1, vcpu = -1;
    struct kvm_run *run = MAP_FAILED;
    long run_sz = 0;

    vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        ret = -errno;
        log_error("KVM_CREATE_VM: %s", strerror(errno));
        goto out;
    }
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) {
        ret = -errno; log_error("KVM_SET_TSS_ADDR: %s", strerror(errno)); goto out;
    }
    uint64_t idmap = 0xfffbc000;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        ret = -errno; log_error("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno)); goto out;
    }
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
        ret = -errno; log_error("KVM_CREATE_IRQCHIP: %s", strerror(errno)); goto out;
    }
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) {
        ret = -errno; log_error("KVM_CREATE_PIT2: %s", strerror(errno)); goto out;
    }
    for (unsigned i = 0; i < m->nr; i++) {
        struct kvm_userspace_memory_region reg = {
            .slot = i, .guest_phys_addr = m->r[i].gpa,
            .memory_size = m->r[i].size, .userspace_addr = (uintptr_t)m->r[i].host,
        };
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
            ret = -errno; log_error("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno)); goto out;
        }
    }
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    run_sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vcpu < 0 || run_sz <= 0) {
        ret = -errno; log_error("KVM_CREATE_VCPU: %s", strerror(errno)); goto out;
    }
    run = mmap(NULL, (size_t)run_sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) {
        ret = -errno; log_error("mmap kvm_run: %s", strerror(errno)); goto out;
    }
    if ((ret = setup_cpuid(kvm_fd, vcpu)) < 0) {
        log_error("KVM_SET_CPUID2: %s", strerror(-ret)); goto out;
    }
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        ret = -errno; goto out;
    }
    set_seg(&sregs.cs, &st->cs);
    set_seg(&sregs.ds, &st->ds);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = st->gdt_base;
    sregs.gdt.limit = st->gdt_limit;
    sregs.cr0 = st->cr0; sregs.cr3 = st->cr3; sregs.cr4 = st->cr4; sregs.efer = st->efer;
    struct kvm_regs regs = { .rip = st->rip, .rsp = st->rsp, .rsi = st->rsi, .rflags = st->rflags };
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        ret = -errno; log_error("KVM_SET_SREGS/REGS: %s", strerror(errno)); goto out;
    }

    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            ret = -errno; log_error("KVM_RUN: %s", strerror(errno)); goto out;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            for (uint32_t c = 0; c < run->io.count; c++, data += run->io.size) {
                if (run->io.direction == KVM_EXIT_IO_OUT) {
                    if (run->io.port == KVM_COM1_PORT && run->io.size == 1) {
                        fputc(*data, stdout);
                        fflush(stdout);
                    } else if (run->io.port == KVM_DEBUG_EXIT_PORT) {
                        ret = *data;
                        goto out;
                    } else if (run->io.port == 0x64 && *data == 0xfe) {
                        log_info("guest: reset through the i8042");
                        ret = 0;
                        goto out;
                    }
                } else {
                    /* COM1 LSR: transmitter empty; everything else floats. */
                    uint8_t v = run->io.port == KVM_COM1_PORT + 5 ? 0x60 : 0xff;
                    memset(data, v, run->io.size);
                }
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
            log_guest("MMIO %s to unmapped %#llx",
                      run->mmio.is_write ? "write" : "read",
                      (unsigned long long)run->mmio.phys_addr);
            break;
        case KVM_EXIT_HLT:
            log_info("guest: halted");
            ret = 0;
            goto out;
        case KVM_EXIT_SHUTDOWN:
            log_info("guest: shutdown (triple fault or reset)");
            ret = 0;
            goto out;
        case KVM_EXIT_SYSTEM_EVENT:
            ret = 0;
            goto out;
        case KVM_EXIT_INTERNAL_ERROR:
            report_internal(vcpu, run, m);
            ret = -EIO;
            goto out;
        case KVM_EXIT_FAIL_ENTRY:
            log_error("guest: VM entry failed, hardware reason %#llx",
                      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            ret = -EIO;
            goto out;
        default:
            log_error("guest: unhandled KVM exit reason %u", run->exit_reason);
            ret = -EIO;
            goto out;
        }
    }
out:
    if (run != MAP_FAILED)
        munmap(run, (size_t)run_sz);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    return ret;
}

/* The x86-64 engine's snapshot ops: every vCPU's registers, special
 * registers, FPU and XSAVE, XCRs, MSRs, LAPIC, events, mp_state and debug
 * registers; the in-kernel PICs, IOAPIC and PIT; the kvmclock; the
 * board's ACPI event latch. Called with the machine paused (vCPU threads
 * parked outside KVM_RUN) or not started. Formats and checks: snapshot.c. */
#include "kvm/x86/internal.h"
#include "machine/snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define SNAP_ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* An exit to vessel (port or MMIO read) is complete only after the next
 * KVM_RUN: enter with immediate_exit set, which finishes it and returns
 * without running guest code, so the registers read next are final and
 * registers written next are not overwritten by it. (From this thread: KVM
 * allows it, at the cost of an RCU grace period for the vCPU's pid
 * change, so only where an exit is pending.) */
void vkvm_vcpu_settle(struct vkvm_vm *vm, unsigned cpu)
{
    struct kvm_run *run = vm->run[cpu];
    if (!vm->io_pending[cpu])
        return;
    vm->io_pending[cpu] = false;
    __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (ioctl(vm->vcpu_fd[cpu], KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
        log_warn("vCPU %u: completing its last exit: %s", cpu, strerror(errno));
    __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

/* KVM_GET_MSR_INDEX_LIST, filtered (vkvm_msr_filter), once per VM. */
static int msr_list(struct vkvm_vm *vm)
{
    if (vm->msr_list)
        return 0;
    struct kvm_msr_list probe = { .nmsrs = 0 };
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return -errno;
    struct kvm_msr_list *l = xzalloc(sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
    l->nmsrs = probe.nmsrs;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        int e = -errno;
        free(l);
        return e;
    }
    vm->msr_list = xzalloc(VKVM_SNAP_MAX_MSRS * sizeof(uint32_t));
    vm->nmsr_list = vkvm_msr_filter(l->indices, l->nmsrs, vm->msr_list, VKVM_SNAP_MAX_MSRS);
    if (l->nmsrs > VKVM_SNAP_MAX_MSRS)
        log_warn("snapshot: KVM lists %u MSRs, a snapshot carries at most %d", l->nmsrs, VKVM_SNAP_MAX_MSRS);
    free(l);
    return 0;
}

/* The listed MSRs this vCPU has: KVM_GET_MSRS stops at the first it
 * refuses (one the guest's CPUID does not give it); that one is dropped
 * and the rest read on. */
static int get_msrs(int fd, const uint32_t *list, unsigned n, struct vkvm_cpu_state *st)
{
    struct { struct kvm_msrs h; struct kvm_msr_entry e[VKVM_SNAP_MAX_MSRS]; } *b = xzalloc(sizeof(*b));
    unsigned k = 0;
    for (unsigned i = 0; i < n;) {
        b->h.nmsrs = n - i;
        for (unsigned j = 0; j < n - i; j++)
            b->e[j] = (struct kvm_msr_entry){ .index = list[i + j] };
        int r = ioctl(fd, KVM_GET_MSRS, b);
        if (r < 0) {
            free(b);
            return -errno;
        }
        memcpy(&st->msrs[k], b->e, (size_t)r * sizeof(b->e[0]));
        k += (unsigned)r;
        i += (unsigned)r + 1;               /* past the refused one */
    }
    st->nmsrs = k;
    free(b);
    return 0;
}

static int cpu_save(struct vkvm_vm *vm, unsigned cpu, struct vkvm_cpu_state *st, char *err, size_t errlen)
{
    int fd = vm->vcpu_fd[cpu];
    struct kvm_mp_state mp;
    memset(st, 0, sizeof(*st));
    st->cpu = cpu;
    if (ioctl(fd, KVM_GET_REGS, &st->regs) < 0 || ioctl(fd, KVM_GET_SREGS, &st->sregs) < 0 ||
        ioctl(fd, KVM_GET_FPU, &st->fpu) < 0 || ioctl(fd, KVM_GET_LAPIC, &st->lapic) < 0 ||
        ioctl(fd, KVM_GET_VCPU_EVENTS, &st->events) < 0 || ioctl(fd, KVM_GET_MP_STATE, &mp) < 0 ||
        ioctl(fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
        return SNAP_ERR("vCPU %u: reading its state: %s", cpu, strerror(errno));
    st->mp_state = mp.mp_state;
    if ((st->sregs.efer & (1ULL << 12)) || (st->sregs.cr4 & (1ULL << 13)))
        return SNAP_ERR("vCPU %u has nested virtualization on (EFER.SVME or CR4.VMXE): vessel does not save "
                        "nested state", cpu);
    if (vm->caps.xsave) {
        if (ioctl(fd, KVM_GET_XSAVE, (struct kvm_xsave *)st->xsave) < 0)
            return SNAP_ERR("vCPU %u: KVM_GET_XSAVE: %s", cpu, strerror(errno));
        st->flags |= VKVM_CPU_XSAVE;
    }
    if (vm->caps.xcrs) {
        if (ioctl(fd, KVM_GET_XCRS, &st->xcrs) < 0)
            return SNAP_ERR("vCPU %u: KVM_GET_XCRS: %s", cpu, strerror(errno));
        st->flags |= VKVM_CPU_XCRS;
    }
    int r = get_msrs(fd, vm->msr_list, vm->nmsr_list, st);
    if (r)
        return SNAP_ERR("vCPU %u: KVM_GET_MSRS: %s", cpu, strerror(-r));
    struct { struct kvm_msrs h; struct kvm_msr_entry e; } dl = { .h.nmsrs = 1, .e.index = VKVM_MSR_TSC_DEADLINE };
    if (ioctl(fd, KVM_GET_MSRS, &dl) == 1) {
        st->tsc_deadline = dl.e.data;
        st->flags |= VKVM_CPU_DEADLINE;
    }
    return 0;
}

static int vm_save(struct vkvm_vm *vm, struct vkvm_vm_state *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    v->ncpus = vm->ncpus;
    v->flags = vkvm_board_flags(vm);
    v->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
    v->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
    v->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    if (ioctl(vm->fd, KVM_GET_IRQCHIP, &v->pic[0]) < 0 || ioctl(vm->fd, KVM_GET_IRQCHIP, &v->pic[1]) < 0 ||
        ioctl(vm->fd, KVM_GET_IRQCHIP, &v->ioapic) < 0)
        return SNAP_ERR("KVM_GET_IRQCHIP: %s", strerror(errno));
    if (ioctl(vm->fd, KVM_GET_PIT2, &v->pit) < 0)
        return SNAP_ERR("KVM_GET_PIT2: %s", strerror(errno));
    if (vm->clock_saved) {
        v->clock = vm->clock.clock;         /* stopped at the pause */
    } else {
        struct kvm_clock_data c = { 0 };
        if (ioctl(vm->fd, KVM_GET_CLOCK, &c) < 0)
            return SNAP_ERR("KVM_GET_CLOCK: %s", strerror(errno));
        v->clock = c.clock;
    }
    v->acpi_events = __atomic_load_n(&vm->acpi_regs.events, __ATOMIC_SEQ_CST);
    return 0;
}

static void add_path(struct snap_writer *w, const char *key, const char *path)
{
    char abs[PATH_MAX];
    if (path)
        snap_add_config(w, key, realpath(path, abs) ? abs : path);
}

int vkvm_engine_save(void *eng, struct snap_writer *w)
{
    struct vkvm_vm *vm = eng;
    char err[256];
    const struct vkvm_config *cfg = vm->cfg;
    if (vm->boot_cpus != vm->ncpus) {
        log_error("snapshot: not supported with CPU hotplug (--smp %u,maxcpus=%u) yet", vm->boot_cpus, vm->ncpus);
        return -ENOTSUP;
    }
    int r = msr_list(vm);
    if (r) {
        log_error("snapshot: KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
        return r;
    }
    if (vm->caps.xsave2 > (int)sizeof(struct kvm_xsave)) {
        log_error("snapshot: the guest's XSAVE state is %d bytes; vessel saves at most %zu", vm->caps.xsave2,
                  sizeof(struct kvm_xsave));
        return -ENOTSUP;
    }
    add_path(w, "kernel", cfg->kernel);
    add_path(w, "initrd", cfg->initrd);
    snap_add_config(w, "append", cfg->append);
    snap_add_config_u64(w, "acpi", !cfg->no_acpi);
    snap_add_config_u64(w, "mmio", cfg->mmio);
    snap_add_config_u64(w, "cpu_hide0", cfg->hide.mask[0]);
    snap_add_config_u64(w, "cpu_hide1", cfg->hide.mask[1]);
    struct vkvm_vm_state *v = xzalloc(sizeof(*v));
    r = vm_save(vm, v, err, sizeof(err));
    if (!r)
        snap_add_section(w, "kvm.vm", VKVM_SNAP_VERSION, v, sizeof(*v));
    free(v);
    struct vkvm_cpu_state *st = xzalloc(sizeof(*st));
    for (unsigned i = 0; !r && i < vm->ncpus; i++) {
        char name[32];
        vkvm_vcpu_settle(vm, i);
        if ((r = cpu_save(vm, i, st, err, sizeof(err))))
            break;
        snprintf(name, sizeof(name), "kvm.cpu.%u", i);
        snap_add_section(w, name, VKVM_SNAP_VERSION, st, sizeof(*st));
    }
    free(st);
    if (r)
        log_error("snapshot: %s", err);
    return r;
}

/* ---- load ---- */
static int set_msrs(int fd, const struct kvm_msr_entry *e, unsigned n)
{
    struct { struct kvm_msrs h; struct kvm_msr_entry e[VKVM_SNAP_MAX_MSRS]; } *b = xzalloc(sizeof(*b));
    b->h.nmsrs = n;
    memcpy(b->e, e, n * sizeof(*e));
    int r = ioctl(fd, KVM_SET_MSRS, b);
    free(b);
    return r < 0 ? -errno : r;              /* how many were set */
}

#define CPU_IOCTL(what, ...) do {                                                               \
        if (ioctl(__VA_ARGS__) < 0)                                                             \
            return SNAP_ERR("snapshot %s: kvm.cpu.%u: " what ": %s", snap_dir(s), cpu, strerror(errno)); \
    } while (0)

/* In the order QEMU and Firecracker use: special registers (the APIC
 * base) before the LAPIC, the TSC before the deadline, which follows the
 * LAPIC (setting the LAPIC disarms its timer). */
static int cpu_load(struct vkvm_vm *vm, const struct snap *s, unsigned cpu, const struct vkvm_cpu_state *st,
                    char *err, size_t errlen)
{
    int fd = vm->vcpu_fd[cpu];
    if (((st->flags & VKVM_CPU_XSAVE) && !vm->caps.xsave) || ((st->flags & VKVM_CPU_XCRS) && !vm->caps.xcrs))
        return SNAP_ERR("snapshot %s: kvm.cpu.%u: XSAVE state this KVM cannot take", snap_dir(s), cpu);
    CPU_IOCTL("KVM_SET_SREGS", fd, KVM_SET_SREGS, &st->sregs);
    CPU_IOCTL("KVM_SET_REGS", fd, KVM_SET_REGS, &st->regs);
    CPU_IOCTL("KVM_SET_FPU", fd, KVM_SET_FPU, &st->fpu);
    if (st->flags & VKVM_CPU_XSAVE)
        CPU_IOCTL("KVM_SET_XSAVE", fd, KVM_SET_XSAVE, (const struct kvm_xsave *)st->xsave);
    if (st->flags & VKVM_CPU_XCRS)
        CPU_IOCTL("KVM_SET_XCRS", fd, KVM_SET_XCRS, &st->xcrs);
    int n = set_msrs(fd, st->msrs, st->nmsrs);
    if (n < 0 || (unsigned)n != st->nmsrs)
        return SNAP_ERR("snapshot %s: kvm.cpu.%u: KVM refuses MSR 0x%x%s%s", snap_dir(s), cpu,
                        n < 0 ? st->msrs[0].index : st->msrs[n].index, n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
    CPU_IOCTL("KVM_SET_LAPIC", fd, KVM_SET_LAPIC, &st->lapic);
    if (st->flags & VKVM_CPU_DEADLINE) {
        struct kvm_msr_entry dl = { .index = VKVM_MSR_TSC_DEADLINE, .data = st->tsc_deadline };
        if (set_msrs(fd, &dl, 1) != 1)
            return SNAP_ERR("snapshot %s: kvm.cpu.%u: KVM refuses the TSC deadline", snap_dir(s), cpu);
    }
    CPU_IOCTL("KVM_SET_VCPU_EVENTS", fd, KVM_SET_VCPU_EVENTS, &st->events);
    struct kvm_mp_state mp = { .mp_state = st->mp_state };
    CPU_IOCTL("KVM_SET_MP_STATE", fd, KVM_SET_MP_STATE, &mp);
    CPU_IOCTL("KVM_SET_DEBUGREGS", fd, KVM_SET_DEBUGREGS, &st->debugregs);
    return 0;
}

static int vm_load(struct vkvm_vm *vm, const struct snap *s, const struct vkvm_vm_state *v, char *err,
                   size_t errlen)
{
    if (ioctl(vm->fd, KVM_SET_IRQCHIP, &v->pic[0]) < 0 || ioctl(vm->fd, KVM_SET_IRQCHIP, &v->pic[1]) < 0 ||
        ioctl(vm->fd, KVM_SET_IRQCHIP, &v->ioapic) < 0)
        return SNAP_ERR("snapshot %s: kvm.vm: KVM_SET_IRQCHIP: %s", snap_dir(s), strerror(errno));
    if (ioctl(vm->fd, KVM_SET_PIT2, &v->pit) < 0)
        return SNAP_ERR("snapshot %s: kvm.vm: KVM_SET_PIT2: %s", snap_dir(s), strerror(errno));
    __atomic_store_n(&vm->acpi_regs.events, v->acpi_events, __ATOMIC_SEQ_CST);
    return 0;
}

/* The guest's clock goes on from the snapshot's: set now, and again when a
 * paused machine resumes (clock_start). */
static int clock_load(struct vkvm_vm *vm, const struct snap *s, uint64_t clock, char *err, size_t errlen)
{
    struct kvm_clock_data c = { .clock = clock };
    if (ioctl(vm->fd, KVM_SET_CLOCK, &c) < 0)
        return SNAP_ERR("snapshot %s: kvm.vm: KVM_SET_CLOCK: %s", snap_dir(s), strerror(errno));
    memset(&vm->clock, 0, sizeof(vm->clock));
    vm->clock.clock = clock;
    vm->clock_saved = true;
    return 0;
}

int vkvm_engine_check(void *eng, const struct snap *s, char *err, size_t errlen)
{
    struct vkvm_vm *vm = eng;
    if (vm->boot_cpus != vm->ncpus)
        return SNAP_ERR("restore: not supported with CPU hotplug (--smp %u,maxcpus=%u) yet", vm->boot_cpus,
                        vm->ncpus);
    return vkvm_snap_check(s, vm->ncpus, vkvm_board_flags(vm), err, errlen);
}

int vkvm_engine_load(void *eng, const struct snap *s, char *err, size_t errlen)
{
    struct vkvm_vm *vm = eng;
    int r = vkvm_engine_check(eng, s, err, errlen);
    if (r)
        return r;
    /* Into a VM that has run: a new one first. Loading into the old one
     * worked but left the guest crawling in the nested tier (a few
     * counter lines a minute) while the same state in a new process ran
     * at full speed; a new VM is what --restore loads into. */
    if (vm->threads_on && vkvm_vm_renew(vm) < 0)
        return SNAP_ERR("snapshot %s: cannot make a new VM to load into", snap_dir(s));
    const struct vkvm_vm_state *v = snap_section(s, "kvm.vm", NULL, NULL);
    if ((r = vm_load(vm, s, v, err, errlen)))
        return r;
    for (unsigned i = 0; i < vm->ncpus && !r; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kvm.cpu.%u", i);
        vkvm_vcpu_settle(vm, i);
        r = cpu_load(vm, s, i, snap_section(s, name, NULL, NULL), err, errlen);
    }
    return r ? r : clock_load(vm, s, v->clock, err, errlen);
}

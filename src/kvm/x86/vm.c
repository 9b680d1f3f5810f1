/* KVM ioctls: open /dev/kvm, create the VM (irqchip, PIT, TSS), map guest
 * RAM, build the board (8250 on COM1 with IRQ 4, i8042 reset line,
 * debug-exit port, virtio-mmio devices above RAM), one host thread per vCPU
 * (vCPU 0 enters at the boot state, the others wait in KVM's INIT/SIPI
 * state). Every KVM_EXIT_IO / KVM_EXIT_MMIO goes to the machine's buses;
 * the machine (machine/machine.h) owns memory, buses, console, devices and
 * the run state; this file is its engine. */
#include "kvm/x86/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int vkvm_open_dev(const char *dev)
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


static void set_seg(struct kvm_segment *k, const struct vkvm_boot_seg *s)
{
    *k = (struct kvm_segment){ .base = s->base, .limit = s->limit, .selector = s->selector,
        .type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
        .s = s->s, .l = s->l, .g = s->g };
}

static int setup_cpuid(struct vkvm_vm *vm, unsigned cpu)
{
    unsigned cap = 256;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return -ENOMEM;
    c->nent = cap - 4;   /* leave room for the leaves we add */
    int r = 0;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0)
        r = -errno;
    if (!r && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
        vkvm_cpuid_tsc_deadline(c);
    if (!r)
        r = vkvm_cpuid_complete(c, cap, cpu, vm->ncpus, &vm->hide);
    if (!r && ioctl(vm->vcpu_fd[cpu], KVM_SET_CPUID2, c) < 0)
        r = -errno;
    free(c);
    return r;
}

/* MSRs as Linux VMMs set them for boot: fast strings, SYSENTER/STAR
 * family zeroed, TSC 0. */
static int setup_msrs(int vcpu)
{
    static const uint32_t idx[] = {
        0x174, 0x175, 0x176,                          /* SYSENTER_CS/ESP/EIP */
        0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR LSTAR CSTAR SFMASK */
        0xc0000102,                                   /* KERNEL_GS_BASE */
        0x10,                                         /* TSC */
        0x1a0,                                        /* MISC_ENABLE */
    };
    enum { N = sizeof(idx) / sizeof(idx[0]) };
    struct { struct kvm_msrs h; struct kvm_msr_entry e[N]; } msrs;
    memset(&msrs, 0, sizeof(msrs));
    msrs.h.nmsrs = N;
    for (unsigned i = 0; i < N; i++) {
        msrs.e[i].index = idx[i];
        msrs.e[i].data = idx[i] == 0x1a0 ? 1 : 0;     /* fast-string enable */
    }
    int r = ioctl(vcpu, KVM_SET_MSRS, &msrs);
    return r == N ? 0 : r < 0 ? -errno : -EINVAL;
}

static void report_internal(struct vkvm_vm *vm, unsigned cpu)
{
    struct kvm_run *run = vm->run[cpu];
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    memset(&regs, 0, sizeof(regs));
    memset(&sregs, 0, sizeof(sregs));
    ioctl(vm->vcpu_fd[cpu], KVM_GET_REGS, &regs);
    ioctl(vm->vcpu_fd[cpu], KVM_GET_SREGS, &sregs);
    char bytes[64] = "";
    /* the guest's own page tables say where RIP is (a kernel runs at a
     * high virtual address); identity when paging is off or it fails */
    uint64_t pa = sregs.cs.base + regs.rip;
    struct kvm_translation tr = { .linear_address = pa };
    if ((sregs.cr0 & 0x80000000u) && ioctl(vm->vcpu_fd[cpu], KVM_TRANSLATE, &tr) == 0 && tr.valid)
        pa = tr.physical_address;
    uint8_t b[8];
    if (mem_read(vm->m, pa, b, sizeof(b)) == 0)
        snprintf(bytes, sizeof(bytes), ", bytes %02x %02x %02x %02x %02x %02x %02x %02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    log_error("guest: KVM internal error on vCPU %u (suberror %u%s) at RIP %#llx%s",
              cpu, run->internal.suberror,
              run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": emulation failure" : "",
              (unsigned long long)regs.rip, bytes);
}

static void handle_io(struct vkvm_vm *vm, struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t c = 0; c < run->io.count; c++, data += size) {
        uint64_t v = 0;
        if (out) {
            memcpy(&v, data, size);
            bus_access(vm->pio, run->io.port, &v, size, true);
        } else if (bus_access(vm->pio, run->io.port, &v, size, false) == 0) {
            memcpy(data, &v, size);
        } else {
            memset(data, 0xff, size);       /* nothing there: the bus floats */
        }
    }
}

static void handle_mmio(struct vkvm_vm *vm, struct kvm_run *run)
{
    unsigned len = run->mmio.len;
    uint64_t addr = run->mmio.phys_addr, v = 0;
    if (len == 0 || len > 8)
        return;
    if (run->mmio.is_write) {
        memcpy(&v, run->mmio.data, len);
        if (bus_access(vm->mmio, addr, &v, len, true) < 0)
            log_guest("MMIO write to unmapped %#llx", (unsigned long long)addr);
    } else if (bus_access(vm->mmio, addr, &v, len, false) == 0) {
        memcpy(run->mmio.data, &v, len);
    } else {
        memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        log_guest("MMIO read from unmapped %#llx", (unsigned long long)addr);
    }
}

/* One exit of vCPU `cpu`: devices, or a stop / reset request to the machine. */
static void handle_exit(struct vkvm_vm *vm, unsigned cpu)
{
    struct kvm_run *run = vm->run[cpu];
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(vm, run);
        return;
    case KVM_EXIT_MMIO:
        handle_mmio(vm, run);
        return;
    case KVM_EXIT_HLT:
        log_info("guest: halted");
        machine_shutdown(vm->mach, MACHINE_STOP_POWEROFF, 0);
        return;
    case KVM_EXIT_SHUTDOWN: {
        /* a triple fault: what a PC does is reset (QEMU too) */
        struct kvm_regs regs;
        memset(&regs, 0, sizeof(regs));
        ioctl(vm->vcpu_fd[cpu], KVM_GET_REGS, &regs);
        log_info("guest: shutdown (triple fault) on vCPU %u, RIP %#llx: reset", cpu,
                 (unsigned long long)regs.rip);
        machine_shutdown(vm->mach, MACHINE_STOP_REBOOT, 0);
        return;
    }
    case KVM_EXIT_SYSTEM_EVENT:
        log_info("guest: system event %u (%s)", run->system_event.type,
                 run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? "power off" :
                 run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "other");
        machine_shutdown(vm->mach, run->system_event.type == KVM_SYSTEM_EVENT_RESET ? MACHINE_STOP_REBOOT
                                                                                    : MACHINE_STOP_POWEROFF, 0);
        return;
    case KVM_EXIT_INTERNAL_ERROR:
        report_internal(vm, cpu);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        log_error("guest: VM entry failed on vCPU %u, hardware reason %#llx", cpu,
                  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    default:
        log_error("guest: unhandled KVM exit reason %u on vCPU %u", run->exit_reason, cpu);
        break;
    }
    machine_shutdown(vm->mach, MACHINE_STOP_ERROR, 1);
}

/* ---- the vCPU threads ---- */
static __thread struct kvm_run *tls_run;   /* this thread's vCPU, for the kick signal */

static void kick_handler(int sig)
{
    (void)sig;
    if (tls_run)
        tls_run->immediate_exit = 1;
}

static void *vcpu_thread(void *p)
{
    struct vkvm_vcpu_arg *a = p;
    struct vkvm_vm *vm = a->vm;
    unsigned cpu = a->cpu;
    struct kvm_run *run = vm->run[cpu];
    tls_run = run;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VKVM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) {
        /* cleared before the machine's request is read: a kick after the
         * read sets it again and KVM_RUN returns at once */
        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (!machine_vcpu_enter(vm->mach, cpu))
            break;
        if (!__atomic_load_n(&vm->present[cpu], __ATOMIC_ACQUIRE)) {
            /* ejected by the guest (CPU hotplug): the thread ends, the
             * KVM vCPU stays (KVM cannot destroy one) for a later plug */
            machine_vcpu_set_absent(vm->mach, cpu, true);
            break;
        }
        if (__atomic_load_n(&vm->run[cpu], __ATOMIC_ACQUIRE) != run) {
            /* a new VM while parked (vm-restore): its vCPU from now on */
            run = vm->run[cpu];
            tls_run = run;
            continue;
        }
        int r = ioctl(vm->vcpu_fd[cpu], KVM_RUN, 0);
        vm->io_pending[cpu] = r == 0 && (run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            log_error("KVM_RUN on vCPU %u: %s", cpu, strerror(errno));
            machine_shutdown(vm->mach, MACHINE_STOP_ERROR, 1);
            break;
        }
        handle_exit(vm, cpu);
    }
    tls_run = NULL;
    __atomic_store_n(&vm->th_done[cpu], true, __ATOMIC_RELEASE);
    return NULL;
}

/* With cpu_lock held: vCPU `cpu`'s thread (its KVM vCPU exists). */
int vkvm_vcpu_thread_start(struct vkvm_vm *vm, unsigned cpu)
{
    vm->arg[cpu] = (struct vkvm_vcpu_arg){ vm, cpu };
    vm->th_done[cpu] = false;
    machine_vcpu_set_absent(vm->mach, cpu, false);
    int r = thread_spawn(&vm->th[cpu], vcpu_thread, &vm->arg[cpu]);
    if (r) {
        machine_vcpu_set_absent(vm->mach, cpu, true);
        log_error("vCPU %u thread: %s", cpu, strerror(r));
        return -r;
    }
    vm->th_live[cpu] = true;
    return 0;
}

int vkvm_vcpu_create(struct vkvm_vm *vm, unsigned cpu)
{
    int fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)cpu);
    if (fd < 0)
        return -errno;
    vm->vcpu_fd[cpu] = fd;
    struct kvm_run *run = mmap(NULL, (size_t)vm->run_sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED)
        return -errno;
    vm->run[cpu] = run;
    int r = setup_cpuid(vm, cpu);
    if (r) {
        log_error("KVM_SET_CPUID2 on vCPU %u: %s", cpu, strerror(-r));
        return r;
    }
    if ((r = setup_msrs(fd))) {
        log_error("KVM_SET_MSRS on vCPU %u: %s", cpu, strerror(-r));
        return r;
    }
    if (cpu != 0)
        return 0;   /* APs stay in wait-for-SIPI, as KVM creates them */
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    const struct vkvm_boot_state *st = &vm->st;
    set_seg(&sregs.cs, &st->cs);
    set_seg(&sregs.ds, &st->ds);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    /* A present 32-bit busy TSS, as the PVH ABI asks for. */
    sregs.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .type = 0xb, .present = 1 };
    sregs.gdt.base = st->gdt_base;
    sregs.gdt.limit = st->gdt_limit;
    sregs.cr0 = st->cr0; sregs.cr3 = st->cr3; sregs.cr4 = st->cr4; sregs.efer = st->efer;
    struct kvm_regs regs = { .rip = st->rip, .rsp = st->rsp, .rsi = st->rsi, .rbx = st->rbx,
                             .rflags = st->rflags };
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0) {
        r = -errno;
        log_error("KVM_SET_SREGS/REGS: %s", strerror(errno));
        return r;
    }
    return 0;
}

/* ---- the VM: created at start and again on every reset ---- */
#define VM_IOCTL(what, ...) do {                                        \
        if (ioctl(__VA_ARGS__) < 0) {                                   \
            log_error("%s: %s", what, strerror(errno));                 \
            return -errno;                                              \
        }                                                               \
    } while (0)

static void vm_close(struct vkvm_vm *vm)
{
    for (unsigned i = 0; i < VKVM_MAX_VCPUS; i++) {
        if (vm->run[i])
            munmap(vm->run[i], (size_t)vm->run_sz);
        if (vm->vcpu_fd[i] >= 0)
            close(vm->vcpu_fd[i]);
        vm->run[i] = NULL;
        vm->vcpu_fd[i] = -1;
    }
    if (vm->fd >= 0)
        close(vm->fd);
    vm->fd = -1;
}

/* The VM fd with its in-kernel irqchip and PIT, the RAM slots. 0 or -errno. */
static int vm_open(struct vkvm_vm *vm)
{
    vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        log_error("KVM_CREATE_VM: %s", strerror(errno));
        return -errno;
    }
    VM_IOCTL("KVM_SET_TSS_ADDR", vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
    uint64_t idmap = 0xfffbc000;
    VM_IOCTL("KVM_SET_IDENTITY_MAP_ADDR", vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    VM_IOCTL("KVM_CREATE_IRQCHIP", vm->fd, KVM_CREATE_IRQCHIP, 0);
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    VM_IOCTL("KVM_CREATE_PIT2", vm->fd, KVM_CREATE_PIT2, &pit);
    return vkvm_slots_set(vm);     /* logged while a migration runs (dirty.c) */
}

/* vm-restore into a running process: a new VM (irqchip, PIT, vCPUs) on
 * the same memory and devices, as a reset makes, for the snapshot's state
 * to go into; the vCPU threads stay parked and take their new vCPU when
 * they go on. Their old kvm_run mappings stay mapped until the VM is
 * destroyed (a kick may still write to one). 0 or -errno (logged). */
int vkvm_vm_renew(struct vkvm_vm *vm)
{
    if (vm->boot_cpus != vm->ncpus) {
        log_error("vm-restore: not with CPU hotplug (--smp maxcpus) yet");
        return -ENOTSUP;
    }
    vm->retired = xrealloc(vm->retired, (vm->nretired + vm->ncpus) * sizeof(*vm->retired));
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (vm->run[i])
            vm->retired[vm->nretired++] = vm->run[i];
        vm->run[i] = NULL;
        if (vm->vcpu_fd[i] >= 0)
            close(vm->vcpu_fd[i]);
        vm->vcpu_fd[i] = -1;
    }
    if (vm->fd >= 0)
        close(vm->fd);
    vm->fd = -1;
    vm->clock_saved = false;
    memset(vm->io_pending, 0, sizeof(vm->io_pending));
    int r = vm_open(vm);
    if (r == 0) {
        machine_virtio_doorbells_reassign(vm->mach);
        vkvm_msi_new_vm(&vm->msi, vm->fd);
    }
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++)
        if ((r = vkvm_vcpu_create(vm, i)))
            log_error("vCPU %u: %s", i, strerror(-r));
    return r;
}

/* The boot images into RAM (unless `load` is false: --restore maps the
 * snapshot's RAM over all of it, and --incoming's stream writes every page,
 * the zero ones too, so copying the kernel and initrd there only faulted
 * in pages to be overwritten), then the vCPUs present (vCPU 0 at
 * the entry); a hot-plugged vCPU stays plugged across a reset, as on QEMU. */
static int vm_boot(struct vkvm_vm *vm, bool load)
{
    int r = load ? vkvm_vm_load(vm) : 0;
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++)
        if (vm->present[i] && (r = vkvm_vcpu_create(vm, i)) && r != -EINVAL)
            log_error("vCPU %u: %s", i, strerror(-r));
    return r;
}

/* ---- the engine ops ---- */
static int eng_start(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    int r = 0;
    pthread_mutex_lock(&vm->cpu_lock);
    for (unsigned i = 0; i < vm->ncpus; i++)
        machine_vcpu_set_absent(vm->mach, i, !vm->present[i]);
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++)
        if (vm->present[i])
            r = vkvm_vcpu_thread_start(vm, i);
    vm->threads_on = true;
    pthread_mutex_unlock(&vm->cpu_lock);
    return r;
}

/* The signal makes a KVM_RUN in progress return (EINTR), or the next one
 * return at once (immediate_exit); machine_vcpu_enter then sees the request. */
static void eng_kick(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    pthread_mutex_lock(&vm->cpu_lock);
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm->th_live[i])
            pthread_kill(vm->th[i], VKVM_KICK_SIGNAL);
    pthread_mutex_unlock(&vm->cpu_lock);
}

/* Joined outside cpu_lock: a vCPU thread may be waiting for it (an eject). */
static void eng_join(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    bool live[VKVM_MAX_VCPUS];
    pthread_mutex_lock(&vm->cpu_lock);
    vm->threads_on = false;
    memcpy(live, vm->th_live, sizeof(live));
    pthread_mutex_unlock(&vm->cpu_lock);
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (live[i])
            pthread_join(vm->th[i], NULL);
    pthread_mutex_lock(&vm->cpu_lock);
    memset(vm->th_live, 0, sizeof(vm->th_live));
    pthread_mutex_unlock(&vm->cpu_lock);
}

static int vm_reset(struct vkvm_vm *vm);

/* A PC reset: a new VM (irqchip, PIT, vCPUs in their power-on state) on
 * the same memory and devices, the images loaded again. */
static int eng_reset(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    pthread_mutex_lock(&vm->cpu_lock);
    int r = vm_reset(vm);
    pthread_mutex_unlock(&vm->cpu_lock);
    return r;
}

static int vm_reset(struct vkvm_vm *vm)
{
    vm_close(vm);
    vkvm_cpuhp_reset(&vm->cpuhp);
    pci_hp_reset(&vm->pcihp);   /* the guest enumerates the slots as it boots */
    vm->clock_saved = false;    /* a new VM: its kvmclock starts again */
    memset(vm->io_pending, 0, sizeof(vm->io_pending));
    int r = vm_open(vm);
    if (r == 0) {
        machine_virtio_doorbells_reassign(vm->mach);   /* the old VM's ioeventfds went with it */
        vkvm_msi_new_vm(&vm->msi, vm->fd);             /* and its irqfds */
    }
    return r ? r : vm_boot(vm, true);
}

static void eng_clock_stop(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    memset(&vm->clock, 0, sizeof(vm->clock));
    vm->clock_saved = ioctl(vm->fd, KVM_GET_CLOCK, &vm->clock) == 0;
    if (!vm->clock_saved)
        log_warn("KVM_GET_CLOCK: %s (the guest's clock runs on while paused)", strerror(errno));
}

static void eng_clock_start(void *opaque)
{
    struct vkvm_vm *vm = opaque;
    if (!vm->clock_saved)
        return;
    struct kvm_clock_data c = { .clock = vm->clock.clock };
    if (ioctl(vm->fd, KVM_SET_CLOCK, &c) < 0)
        log_warn("KVM_SET_CLOCK: %s", strerror(errno));
    vm->clock_saved = false;
}

static void eng_cpu_state(void *opaque, unsigned cpu, struct machine_cpu_info *ci)
{
    struct vkvm_vm *vm = opaque;
    struct kvm_regs regs;
    struct kvm_mp_state mp;
    if (vm->vcpu_fd[cpu] < 0)
        return;
    if (ioctl(vm->vcpu_fd[cpu], KVM_GET_REGS, &regs) == 0)
        ci->pc = regs.rip;
    if (ioctl(vm->vcpu_fd[cpu], KVM_GET_MP_STATE, &mp) == 0)
        ci->halted = mp.mp_state != KVM_MP_STATE_RUNNABLE;
}

static const struct machine_engine_ops vkvm_engine_ops = {
    .arch = "x86", .target = "x86_64",
    .start = eng_start, .kick = eng_kick, .join = eng_join, .reset = eng_reset,
    .clock_stop = eng_clock_stop, .clock_start = eng_clock_start, .cpu_state = eng_cpu_state,
    .cpu_state_name = vkvm_cpu_state_name, .cpu_plug = vkvm_cpu_plug, .cpu_unplug = vkvm_cpu_unplug,
    .pci_hotplug = vkvm_pci_hotplug,
    .machine_type = VKVM_MACHINE_TYPE, .save = vkvm_engine_save, .check = vkvm_engine_check,
    .load = vkvm_engine_load,
    .dirty_log_start = vkvm_dirty_log_start, .dirty_log_sync = vkvm_dirty_log_sync,
    .dirty_log_stop = vkvm_dirty_log_stop,
};

struct vkvm_vm *vkvm_vm_create(int kvm_fd, struct machine *mach, const struct vkvm_config *cfg)
{
    struct vkvm_vm *vm = xzalloc(sizeof(*vm));
    vm->kvm_fd = kvm_fd;
    vm->fd = -1;
    vm->mach = mach;
    vm->m = machine_mem(mach);
    vm->pio = machine_pio(mach);
    vm->mmio = machine_mmio(mach);
    vm->cfg = cfg;
    vm->hide = cfg->hide;
    vm->ncpus = cfg->mc.ncpus;
    vm->boot_cpus = cfg->boot_cpus ? cfg->boot_cpus : vm->ncpus;
    pthread_mutex_init(&vm->cpu_lock, NULL);
    for (unsigned i = 0; i < vm->boot_cpus && i < VKVM_MAX_VCPUS; i++)
        vm->present[i] = true;
    vkvm_cpuhp_init(&vm->cpuhp, vm->ncpus, vm->boot_cpus);
    for (unsigned i = 0; i < VKVM_MAX_VCPUS; i++)
        vm->vcpu_fd[i] = -1;
    int maxv = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (maxv > 0 && vm->ncpus > (unsigned)maxv) {
        log_error("--smp %u: this KVM allows at most %d vCPUs", vm->ncpus, maxv);
        goto fail;
    }
    vm->run_sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_sz <= 0) {
        log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        goto fail;
    }
    if (vm_open(vm) < 0)
        goto fail;
    if (vm->boot_cpus != vm->ncpus)
        machine_add_migration_blocker(mach, "CPU hotplug (--smp N,maxcpus=M): vessel kvm does not save its "
                                            "state yet (nor snapshot it)");
    vm->caps.xsave = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    vm->caps.xcrs = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
    vm->caps.xsave2 = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    vkvm_msi_init(&vm->msi, vm->fd, ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0 &&
                                    ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) > 0);
    vm->msi_ready = true;
    /* the kick: a signal only vCPU threads take (blocked everywhere else) */
    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(VKVM_KICK_SIGNAL, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VKVM_KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    return vm;
fail:
    vkvm_vm_destroy(vm);
    return NULL;
}

int vkvm_vm_start(struct vkvm_vm *vm)
{
    int r = vm_boot(vm, !vm->cfg->restore && !vm->cfg->mc.incoming);
    if (r == 0)
        machine_set_engine(vm->mach, &vkvm_engine_ops, vm);
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++)
        machine_vcpu_set_absent(vm->mach, i, !vm->present[i]);
    return r;
}

void vkvm_vm_destroy(struct vkvm_vm *vm)
{
    if (!vm)
        return;
    if (vm->msi_ready)
        vkvm_msi_destroy(&vm->msi);
    vm_close(vm);
    for (unsigned i = 0; i < vm->nretired; i++)
        munmap(vm->retired[i], (size_t)vm->run_sz);
    free(vm->retired);
    free(vm->msr_list);
    vkvm_dirty_free(vm);
    pthread_mutex_destroy(&vm->cpu_lock);
    free(vm);
}

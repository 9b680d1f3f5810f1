/* KVM ioctls: open /dev/kvm, create the VM (irqchip, PIT, TSS), map guest
 * RAM, build the board (8250 on COM1 with IRQ 4, i8042 reset line,
 * debug-exit port, virtio-mmio devices above RAM), one host thread per vCPU
 * (vCPU 0 enters at the boot state, the others wait in KVM's INIT/SIPI
 * state). Every KVM_EXIT_IO / KVM_EXIT_MMIO goes to the shared bus. */
#include "kvm/x86/kvm.h"
#include "backend/backend.h"
#include "base/base.h"
#include "bus/bus.h"
#include "dev/dev.h"
#include "dev/virtio/virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <pthread.h>
#include <signal.h>
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


struct kvm_vm {
    int kvm_fd, fd;
    struct guest_mem *m;
    const struct kvm_boot_state *st;
    struct kvm_cpu_hide hide;
    unsigned ncpus;
    long run_sz;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, status;
    int vcpu_fd[KVM_MAX_VCPUS];
    struct kvm_run *run[KVM_MAX_VCPUS];
    pthread_t th[KVM_MAX_VCPUS];
    unsigned started;
    /* the board */
    struct bus pio, mmio;
    struct loop *loop;              /* I/O thread of the serial chardev */
    struct chardev *serial;
    struct uart8250 *uart;
    struct virtio_board *virtio;
    uint32_t level_pins;            /* IOAPIC pins wired level-triggered */
};

static __thread struct kvm_run *tls_run;

static void kick_handler(int sig)
{
    (void)sig;
    if (tls_run)
        tls_run->immediate_exit = 1;
}

static void vm_stop(struct kvm_vm *vm, int status)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->done) {
        vm->done = 1;
        vm->status = status;
    }
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

/* ---- the board's small devices ---- */

/* An interrupt line is a GSI of the in-kernel irqchip (GSI n = IOAPIC pin
 * n, and the 8259 for n < 16). KVM_IRQ_LINE is thread-safe. */
static void kvm_irq_set(void *opaque, unsigned n, int level)
{
    struct kvm_vm *vm = opaque;
    struct kvm_irq_level l = { .irq = n, .level = level ? 1 : 0 };
    if (ioctl(vm->fd, KVM_IRQ_LINE, &l) < 0)
        log_once(LOG_WARN, "KVM_IRQ_LINE %u: %s", n, strerror(errno));
}

static struct irq_line vm_irq(struct kvm_vm *vm, unsigned gsi)
{
    return (struct irq_line){ kvm_irq_set, vm, gsi };
}

static struct irq_line virtio_irq_for(void *opaque, unsigned i)
{
    return vm_irq(opaque, KVM_VIRTIO_FIRST_IRQ + i);
}

/* Debug-exit port of the test guests: the byte written is the exit status. */
static void debug_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    vm_stop(opaque, (int)(val & 0xff));
}
static const struct bus_ops debug_exit_ops = { NULL, debug_exit_write };

/* i8042: only the reset line. The status port reads 0 (no data, input
 * buffer empty) so a kernel's reset path does not wait; command 0xfe pulses
 * reset, which stops the VM. Keyboard and mouse are not emulated. */
static uint64_t i8042_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}
static void i8042_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
}
static void i8042_cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    if ((val & 0xff) == 0xfe) {
        log_info("guest: reset through the i8042");
        vm_stop(opaque, 0);
    }
}
static const struct bus_ops i8042_data_ops = { i8042_read, i8042_data_write };
static const struct bus_ops i8042_cmd_ops = { i8042_read, i8042_cmd_write };

static void serial_quit(void *opaque)
{
    log_info("console: Ctrl-A x, stopping the VM");
    vm_stop(opaque, 0);
}

/* virtio-console as the interactive console: its input comes from the
 * serial chardev (the 8250 keeps only its output). */
static size_t vcon_input(void *opaque, const uint8_t *buf, size_t len)
{
    return virtio_console_input(opaque, buf, len);
}
static void vcon_write(void *opaque, const uint8_t *buf, size_t len)
{
    chardev_write(opaque, buf, len);
}
static void vcon_rx_ready(void *opaque)
{
    chardev_input_ready(opaque);
}

/* ---- vCPUs ---- */

static void set_seg(struct kvm_segment *k, const struct kvm_boot_seg *s)
{
    *k = (struct kvm_segment){ .base = s->base, .limit = s->limit, .selector = s->selector,
        .type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
        .s = s->s, .l = s->l, .g = s->g };
}

static int setup_cpuid(struct kvm_vm *vm, unsigned cpu)
{
    unsigned cap = 256;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return -ENOMEM;
    c->nent = cap - 4;   /* leave room for the leaves we add */
    int r = 0;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0)
        r = -errno;
    if (!r)
        r = kvm_cpuid_complete(c, cap, cpu, vm->ncpus, &vm->hide);
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

static void report_internal(struct kvm_vm *vm, unsigned cpu)
{
    struct kvm_run *run = vm->run[cpu];
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    memset(&regs, 0, sizeof(regs));
    memset(&sregs, 0, sizeof(sregs));
    ioctl(vm->vcpu_fd[cpu], KVM_GET_REGS, &regs);
    ioctl(vm->vcpu_fd[cpu], KVM_GET_SREGS, &sregs);
    char bytes[64] = "";
    uint64_t pa = sregs.cs.base + regs.rip;   /* exact for identity-mapped guests */
    uint8_t b[8];
    if (mem_read(vm->m, pa, b, sizeof(b)) == 0)
        snprintf(bytes, sizeof(bytes), ", bytes %02x %02x %02x %02x %02x %02x %02x %02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    log_error("guest: KVM internal error on vCPU %u (suberror %u%s) at RIP %#llx%s",
              cpu, run->internal.suberror,
              run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": emulation failure" : "",
              (unsigned long long)regs.rip, bytes);
}

static void handle_io(struct kvm_vm *vm, struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t c = 0; c < run->io.count; c++, data += size) {
        uint64_t v = 0;
        if (out) {
            memcpy(&v, data, size);
            bus_access(&vm->pio, run->io.port, &v, size, true);
        } else if (bus_access(&vm->pio, run->io.port, &v, size, false) == 0) {
            memcpy(data, &v, size);
        } else {
            memset(data, 0xff, size);       /* nothing there: the bus floats */
        }
    }
}

static void handle_mmio(struct kvm_vm *vm, struct kvm_run *run)
{
    unsigned len = run->mmio.len;
    uint64_t addr = run->mmio.phys_addr, v = 0;
    if (len == 0 || len > 8)
        return;
    if (run->mmio.is_write) {
        memcpy(&v, run->mmio.data, len);
        if (bus_access(&vm->mmio, addr, &v, len, true) < 0)
            log_guest("MMIO write to unmapped %#llx", (unsigned long long)addr);
    } else if (bus_access(&vm->mmio, addr, &v, len, false) == 0) {
        memcpy(run->mmio.data, &v, len);
    } else {
        memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        log_guest("MMIO read from unmapped %#llx", (unsigned long long)addr);
    }
}

/* One exit of vCPU `cpu`. Returns true to stop the VM with *status. */
static bool handle_exit(struct kvm_vm *vm, unsigned cpu, int *status)
{
    struct kvm_run *run = vm->run[cpu];
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(vm, run);
        return false;
    case KVM_EXIT_MMIO:
        handle_mmio(vm, run);
        return false;
    case KVM_EXIT_HLT:
        log_info("guest: halted");
        *status = 0;
        return true;
    case KVM_EXIT_SHUTDOWN: {
        struct kvm_regs regs;
        memset(&regs, 0, sizeof(regs));
        ioctl(vm->vcpu_fd[cpu], KVM_GET_REGS, &regs);
        log_info("guest: shutdown (triple fault or reset) on vCPU %u, RIP %#llx", cpu,
                 (unsigned long long)regs.rip);
        *status = 0;
        return true;
    }
    case KVM_EXIT_SYSTEM_EVENT:
        log_info("guest: system event %u (%s)", run->system_event.type,
                 run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? "power off" :
                 run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "other");
        *status = 0;
        return true;
    case KVM_EXIT_INTERNAL_ERROR:
        report_internal(vm, cpu);
        *status = -EIO;
        return true;
    case KVM_EXIT_FAIL_ENTRY:
        log_error("guest: VM entry failed on vCPU %u, hardware reason %#llx", cpu,
                  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        *status = -EIO;
        return true;
    default:
        log_error("guest: unhandled KVM exit reason %u on vCPU %u", run->exit_reason, cpu);
        *status = -EIO;
        return true;
    }
}

struct vcpu_arg {
    struct kvm_vm *vm;
    unsigned cpu;
};
static struct vcpu_arg vcpu_args[KVM_MAX_VCPUS];

static void *vcpu_thread(void *p)
{
    struct vcpu_arg *a = p;
    struct kvm_vm *vm = a->vm;
    unsigned cpu = a->cpu;
    tls_run = vm->run[cpu];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) {
        if (__atomic_load_n(&vm->done, __ATOMIC_ACQUIRE))
            break;
        if (ioctl(vm->vcpu_fd[cpu], KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                tls_run->immediate_exit = 0;
                continue;
            }
            log_error("KVM_RUN on vCPU %u: %s", cpu, strerror(errno));
            vm_stop(vm, -errno);
            break;
        }
        int status;
        if (handle_exit(vm, cpu, &status)) {
            vm_stop(vm, status);
            break;
        }
    }
    return NULL;
}

static int vcpu_create(struct kvm_vm *vm, unsigned cpu)
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
    const struct kvm_boot_state *st = vm->st;
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

/* ---- the VM ---- */

#define VM_IOCTL(what, ...) do {                                        \
        if (ioctl(__VA_ARGS__) < 0) {                                   \
            log_error("%s: %s", what, strerror(errno));                 \
            goto fail;                                                  \
        }                                                               \
    } while (0)

static int board_create(struct kvm_vm *vm, const struct kvm_vm_config *cfg)
{
    vm->loop = loop_new();
    if (!vm->loop)
        return -ENOMEM;
    vm->serial = chardev_open(cfg->serial ? cfg->serial : "stdio", vm->loop);
    if (!vm->serial)
        return -EINVAL;
    chardev_set_quit(vm->serial, serial_quit, vm);
    vm->uart = uart8250_create(&vm->pio, KVM_COM1_PORT, 0, vm_irq(vm, KVM_COM1_IRQ), vm->serial);
    if (!vm->uart)
        return -EINVAL;
    if (bus_register(&vm->pio, 0x60, 1, &i8042_data_ops, vm, "i8042 data") < 0 ||
        bus_register(&vm->pio, 0x64, 1, &i8042_cmd_ops, vm, "i8042 command") < 0 ||
        bus_register(&vm->pio, KVM_DEBUG_EXIT_PORT, 1, &debug_exit_ops, vm, "debug-exit") < 0)
        return -EEXIST;
    if (cfg->virtio) {
        struct virtio_options o = *cfg->virtio;
        if (o.console)
            o.console_port = (struct virtio_console_port){ vcon_write, vcon_rx_ready, vm->serial };
        unsigned n = o.ndisks + o.nnets + o.rng + o.console;
        if (KVM_VIRTIO_FIRST_IRQ + n > KVM_IOAPIC_PINS) {
            log_error("%u virtio devices: the IOAPIC has pins for %d", n,
                      KVM_IOAPIC_PINS - KVM_VIRTIO_FIRST_IRQ);
            return -EINVAL;
        }
        if (n) {
            vm->virtio = virtio_board_create(&o, &vm->mmio, vm->m, KVM_VIRTIO_MMIO_BASE,
                                             KVM_VIRTIO_MMIO_STRIDE, virtio_irq_for, vm);
            if (!vm->virtio)
                return -EINVAL;
            for (unsigned i = 0; i < virtio_board_count(vm->virtio); i++)
                vm->level_pins |= 1u << (KVM_VIRTIO_FIRST_IRQ + i);
            struct virtio_console *vc = virtio_board_console(vm->virtio);
            if (vc)
                chardev_set_input(vm->serial, vcon_input, vc);
        }
    }
    return 0;
}

struct kvm_vm *kvm_vm_create(int kvm_fd, struct guest_mem *m, const struct kvm_vm_config *cfg)
{
    static struct kvm_vm vmst;   /* one VM per process (signal handler, vcpu_args) */
    struct kvm_vm *vm = &vmst;
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = kvm_fd;
    vm->fd = -1;
    vm->m = m;
    if (cfg->hide)
        vm->hide = *cfg->hide;
    vm->ncpus = cfg->ncpus;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    bus_init(&vm->pio);
    bus_init(&vm->mmio);
    for (unsigned i = 0; i < KVM_MAX_VCPUS; i++)
        vm->vcpu_fd[i] = -1;
    if (cfg->ncpus < 1 || cfg->ncpus > KVM_MAX_VCPUS)
        return NULL;
    int maxv = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (maxv > 0 && cfg->ncpus > (unsigned)maxv) {
        log_error("--smp %u: this KVM allows at most %d vCPUs", cfg->ncpus, maxv);
        return NULL;
    }
    vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        log_error("KVM_CREATE_VM: %s", strerror(errno));
        goto fail;
    }
    VM_IOCTL("KVM_SET_TSS_ADDR", vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
    uint64_t idmap = 0xfffbc000;
    VM_IOCTL("KVM_SET_IDENTITY_MAP_ADDR", vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    VM_IOCTL("KVM_CREATE_IRQCHIP", vm->fd, KVM_CREATE_IRQCHIP, 0);
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    VM_IOCTL("KVM_CREATE_PIT2", vm->fd, KVM_CREATE_PIT2, &pit);
    for (unsigned i = 0; i < m->nr; i++) {
        struct kvm_userspace_memory_region reg = {
            .slot = i, .guest_phys_addr = m->r[i].gpa,
            .memory_size = m->r[i].size, .userspace_addr = (uintptr_t)m->r[i].host,
        };
        VM_IOCTL("KVM_SET_USER_MEMORY_REGION", vm->fd, KVM_SET_USER_MEMORY_REGION, &reg);
    }
    if (board_create(vm, cfg) < 0)
        goto fail;
    return vm;
fail:
    kvm_vm_destroy(vm);
    return NULL;
}

int kvm_vm_cmdline(struct kvm_vm *vm, char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
    return vm->virtio ? virtio_board_cmdline(vm->virtio, KVM_VIRTIO_FIRST_IRQ, buf, len) : 0;
}

uint32_t kvm_vm_level_pins(const struct kvm_vm *vm)
{
    return vm->level_pins;
}

int kvm_vm_run(struct kvm_vm *vm, const struct kvm_boot_state *st)
{
    int ret;
    vm->st = st;
    vm->run_sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_sz <= 0) {
        log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        return -EINVAL;
    }
    for (unsigned i = 0; i < vm->ncpus; i++)
        if ((ret = vcpu_create(vm, i))) {
            if (ret != -EINVAL)
                log_error("vCPU %u: %s", i, strerror(-ret));
            return ret;
        }
    if ((ret = loop_start(vm->loop)) < 0)
        return ret;

    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);   /* only vCPU threads take it */
    for (unsigned i = 0; i < vm->ncpus; i++) {
        vcpu_args[i] = (struct vcpu_arg){ vm, i };
        if ((ret = -pthread_create(&vm->th[i], NULL, vcpu_thread, &vcpu_args[i]))) {
            log_error("vCPU thread: %s", strerror(-ret));
            vm_stop(vm, ret);
            break;
        }
        vm->started++;
    }
    pthread_mutex_lock(&vm->lock);
    while (!vm->done)
        pthread_cond_wait(&vm->cond, &vm->lock);
    ret = vm->status;
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->started; i++)
        pthread_kill(vm->th[i], SIGUSR1);
    for (unsigned i = 0; i < vm->started; i++)
        pthread_join(vm->th[i], NULL);
    vm->started = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ret;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
    if (!vm)
        return;
    /* Nothing calls the buses any more: stop the I/O threads, then free
     * the devices, then the backends. */
    if (vm->loop)
        loop_stop(vm->loop);
    virtio_board_destroy(vm->virtio);
    uart8250_destroy(vm->uart);
    chardev_close(vm->serial);
    loop_free(vm->loop);
    vm->virtio = NULL;
    vm->uart = NULL;
    vm->serial = NULL;
    vm->loop = NULL;
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
    for (unsigned i = 0; i < KVM_MAX_VCPUS; i++) {
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

/* The virt board: memory map, devices, boot, one host thread per hart. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <libfdt.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

/* ---- stop ---- */
void virt_board_stop(struct virt_board *b, enum virt_stop why, int status)
{
    int expected = VIRT_RUNNING;
    pthread_mutex_lock(&b->lock);
    if (atomic_compare_exchange_strong(&b->stop, &expected, (int)why)) {
        b->exit_status = status;
        static const char *const reason[] = {
            [VIRT_STOP_POWEROFF] = "guest-shutdown", [VIRT_STOP_REBOOT] = "guest-reset",
            [VIRT_STOP_QUIT] = "host-qmp-quit", [VIRT_STOP_TOHOST] = "guest-shutdown",
            [VIRT_STOP_FAIL] = "guest-panic", [VIRT_STOP_ERROR] = "host-error",
        };
        bool guest = why != VIRT_STOP_QUIT && why != VIRT_STOP_ERROR;
        qmp_server_event(b->qmp, QMP_EVENT_SHUTDOWN, guest,
                         why == VIRT_STOP_QUIT && status > 128 ? "host-signal" : reason[why]);
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    for (unsigned i = 0; i < b->nharts; i++)
        if (b->hart[i].h)
            rv_kick(b->hart[i].h);
}

static void board_quit(void *opaque)
{
    virt_board_stop(opaque, VIRT_STOP_QUIT, 0);
}

/* gdb's 'k' */
static void board_gdb_kill(void *opaque)
{
    virt_board_stop(opaque, VIRT_STOP_QUIT, 0);
}

/* ---- interrupts: PLIC context c -> hart c/2, MEI (even) or SEI (odd) ---- */
static void plic_to_hart(void *opaque, unsigned ctx, bool level)
{
    struct virt_board *b = opaque;
    if (ctx / 2 < b->nharts)
        rv_set_irq(b->hart[ctx / 2].h, ctx & 1 ? RV_IRQ_SEI : RV_IRQ_MEI, level);
}

static struct irq_line virtio_irq_for(void *opaque, unsigned i)
{
    struct virt_board *b = opaque;
    return virt_plic_line(b->plic, VIRT_VIRTIO_IRQ + i);
}

/* ---- HTIF tohost (bare-metal programs) ---- */
static void board_tohost(struct rv_hart *h, uint64_t val)
{
    struct virt_board *b = rv_machine_opaque(rv_hart_machine(h));
    if (val & 1) {
        uint64_t st = val >> 1;
        virt_board_stop(b, VIRT_STOP_TOHOST, st == 0 ? 0 : (st & 0xff) ? (int)(st & 0xff) : 1);
        rv_hart_halt(h);
        return;
    }
    /* device 1 (console), command 1: putchar */
    if (val >> 56 == 1 && (val >> 48 & 0xff) == 1) {
        uint8_t c = (uint8_t)val;
        chardev_write(b->chr, &c, 1);
    }
}

static const struct rv_sys_ops sbi_ops = { .sbi_call = virt_sbi_call, .tohost = board_tohost };
static const struct rv_sys_ops fw_ops = { .sbi_call = NULL, .tohost = board_tohost };

/* ---- harts ---- */
void virt_hart_boot(struct virt_hart *vh, uint64_t pc, enum rv_priv priv, uint64_t arg)
{
    rv_hart_reset(vh->h, pc);
    if (priv == RV_PRIV_S) {
        /* what firmware does before entering the kernel (delegation, counters, Sstc) */
        rv_hart_boot_supervisor(vh->h, pc, vh->id, arg);
        return;
    }
    rv_set_priv(vh->h, priv);
    rv_set_x(vh->h, 10, vh->id);
    rv_set_x(vh->h, 11, arg);
    rv_set_x(vh->h, 12, 0);
}

/* A halted hart: HSM-stopped until a hart_start, or the machine stops. */
static void hart_parked(struct virt_hart *vh)
{
    struct virt_board *b = vh->b;
    pthread_mutex_lock(&b->lock);
    if (vh->hsm == HSM_STOP_PENDING || vh->hsm == HSM_STARTED)
        vh->hsm = HSM_STOPPED;
    while (!atomic_load(&b->stop) && vh->hsm != HSM_START_PENDING)
        pthread_cond_wait(&b->cond, &b->lock);
    if (vh->hsm == HSM_START_PENDING && !atomic_load(&b->stop)) {
        virt_hart_boot(vh, vh->start_addr, RV_PRIV_S, vh->start_arg);
        vh->hsm = HSM_STARTED;
        rv_hart_resume(vh->h);
    }
    pthread_mutex_unlock(&b->lock);
}

static void *hart_main(void *arg)
{
    struct virt_hart *vh = arg;
    struct virt_board *b = vh->b;
    atomic_store(&vh->tid, (long)gettid());
    while (!atomic_load(&b->stop)) {
        /* with a debugger: wait while it holds the machine; 1 = single step */
        uint64_t budget = b->gdb ? gdb_stub_before_run(b->gdb, vh->h) : 0;
        if (atomic_load(&b->stop))
            break;
        enum rv_exit e = rv_run(vh->h, budget);
        if (b->gdb && gdb_stub_after_run(b->gdb, vh->h, e))
            continue;
        switch (e) {
        case RV_EXIT_WFI:
            rv_hart_wait(vh->h);
            break;
        case RV_EXIT_HALT:
            hart_parked(vh);
            break;
        case RV_EXIT_BUDGET:
        case RV_EXIT_DEBUG:        /* a breakpoint left by a debugger that went away: go on */
            break;
        default:
            log_error("hart %u stopped: unexpected exit %d at pc 0x%llx", vh->id, (int)e,
                      (unsigned long long)rv_get_pc(vh->h));
            virt_board_stop(b, VIRT_STOP_ERROR, VIRT_EXIT_ERROR);
            break;
        }
    }
    return NULL;
}

/* ---- loading ---- */
static int load_file(const char *opt, const char *path, size_t max, char **data, size_t *len)
{
    int r = read_file(path, data, len, max);
    if (r == -EFBIG || r == -E2BIG)
        log_error("%s %s: larger than guest RAM", opt, path);
    else if (r)
        log_error("%s %s: %s", opt, path, strerror(-r));
    return r;
}

static int copy_in(struct virt_board *b, const char *opt, const char *path, uint64_t gpa,
                   const void *data, size_t len)
{
    if (mem_write(&b->mem, gpa, data, len) < 0) {
        log_error("%s %s: %zu bytes at 0x%llx do not fit in guest RAM", opt, path, len,
                  (unsigned long long)gpa);
        return -ERANGE;
    }
    return 0;
}

struct boot_plan {
    uint64_t entry;
    enum rv_priv priv;
    bool all_harts;        /* every hart starts at entry (firmware, bare metal) */
    uint64_t tohost;
    uint64_t kernel_end;
};

/* The kernel (or bare-metal program) into RAM: a Linux Image, or an ELF. */
static int load_kernel(struct virt_board *b, const struct virt_config *cfg, struct boot_plan *bp)
{
    cleanup_free char *data = NULL;
    size_t len;
    const char *why = NULL;
    int r = load_file("--kernel", cfg->kernel, (size_t)cfg->ram_size, &data, &len);
    if (r)
        return r;
    struct virt_image img;
    r = virt_image_parse_linux((const uint8_t *)data, len, VIRT_RAM_BASE, &img, &why);
    if (r == 0) {
        if (img.end > VIRT_RAM_BASE + cfg->ram_size) {
            log_error("--kernel %s: needs %llu MiB from 0x%llx, more than -m %llu MiB", cfg->kernel,
                      (unsigned long long)(img.mem_size >> 20), (unsigned long long)img.load_addr,
                      (unsigned long long)(cfg->ram_size >> 20));
            return -ERANGE;
        }
        r = copy_in(b, "--kernel", cfg->kernel, img.load_addr, data, len);
    } else if (r == -ENOENT && len >= 4 && !memcmp(data, "\x7f" "ELF", 4)) {
        r = virt_image_load_elf(&b->mem, (const uint8_t *)data, len, &img, &why);
        if (r)
            log_error("--kernel %s: %s", cfg->kernel, why);
    } else {
        log_error("--kernel %s: %s", cfg->kernel,
                  r == -ENOENT ? "not a RISC-V Linux Image (no RISCV/RSC\\x05 magic) nor an ELF file" : why);
        return -EINVAL;
    }
    if (r)
        return r;
    bp->kernel_end = img.end;
    bp->entry = img.entry;
    bp->tohost = img.tohost;
    if (img.tohost && !cfg->bios) {
        bp->priv = RV_PRIV_M;         /* bare metal: M-mode from the entry, no SBI */
        bp->all_harts = true;
    } else {
        bp->priv = RV_PRIV_S;
        bp->all_harts = false;
    }
    return 0;
}

static int load_bios(struct virt_board *b, const struct virt_config *cfg, struct boot_plan *bp)
{
    cleanup_free char *data = NULL;
    size_t len;
    int r = load_file("--bios", cfg->bios, (size_t)cfg->ram_size, &data, &len);
    if (r)
        return r;
    if (len >= 4 && !memcmp(data, "\x7f" "ELF", 4)) {
        struct virt_image img;
        const char *why;
        if ((r = virt_image_load_elf(&b->mem, (const uint8_t *)data, len, &img, &why))) {
            log_error("--bios %s: %s", cfg->bios, why);
            return r;
        }
        bp->entry = img.entry;
    } else {
        if (len > VIRT_KERNEL_OFFSET && cfg->kernel) {
            log_error("--bios %s: %zu bytes overlap the kernel at 0x%llx", cfg->bios, len,
                      (unsigned long long)(VIRT_RAM_BASE + VIRT_KERNEL_OFFSET));
            return -EINVAL;
        }
        if ((r = copy_in(b, "--bios", cfg->bios, VIRT_RAM_BASE, data, len)))
            return r;
        bp->entry = VIRT_RAM_BASE;
    }
    bp->priv = RV_PRIV_M;
    bp->all_harts = true;
    return 0;
}

/* initrd high in RAM, the FDT above it at the top. */
static int load_initrd_fdt(struct virt_board *b, const struct virt_config *cfg, const struct boot_plan *bp)
{
    uint64_t ram_end = VIRT_RAM_BASE + cfg->ram_size;
    b->fdt_addr = ram_end - VIRT_FDT_MAX;
    struct virt_fdt_info fi = {
        .ram_base = VIRT_RAM_BASE, .ram_size = cfg->ram_size, .nharts = cfg->nharts,
        .sv48 = !cfg->sv39_only, .bootargs = cfg->append,
    };
    if (cfg->initrd) {
        cleanup_free char *data = NULL;
        size_t len;
        int r = load_file("--initrd", cfg->initrd, (size_t)cfg->ram_size, &data, &len);
        if (r)
            return r;
        uint64_t start = (b->fdt_addr - len) & ~0xfffULL;
        if (len > b->fdt_addr - VIRT_RAM_BASE || start < bp->kernel_end) {
            log_error("--initrd %s: %zu bytes do not fit in guest RAM above the kernel (-m %llu MiB)",
                      cfg->initrd, len, (unsigned long long)(cfg->ram_size >> 20));
            return -ERANGE;
        }
        if ((r = copy_in(b, "--initrd", cfg->initrd, start, data, len)))
            return r;
        fi.initrd_start = start;
        fi.initrd_end = start + len;
    }
    if (b->virtio) {
        fi.nvirtio = virtio_board_count(b->virtio);
        for (unsigned i = 0; i < fi.nvirtio; i++) {
            unsigned idx;
            virtio_board_slot(b->virtio, i, &fi.virtio_base[i], &idx);
            fi.virtio_irq[i] = VIRT_VIRTIO_IRQ + idx;
        }
    }
    void *dst = mem_translate(&b->mem, b->fdt_addr, VIRT_FDT_MAX);
    return dst ? virt_fdt_build(&fi, dst, VIRT_FDT_MAX) : -ERANGE;
}

/* ---- devices ---- */
static void console_port_write(void *opaque, const uint8_t *buf, size_t len)
{
    chardev_write(opaque, buf, len);
}

/* The devices a guest drives by MMIO: the PLIC (wired to the harts), CLINT,
 * syscon, RTC and the UART on b->chr. */
int virt_board_mmio_init(struct virt_board *b)
{
    b->plic = virt_plic_new(2 * b->nharts, plic_to_hart, b);
    if (!b->plic)
        return -EINVAL;
    int r = bus_register(&b->bus, VIRT_PLIC_BASE, VIRT_PLIC_SIZE, &virt_plic_ops, b->plic, "plic");
    if (!r)
        r = virt_clint_init(b);
    if (!r)
        r = virt_syscon_init(b);
    if (!r)
        r = virt_rtc_init(b);
    if (r) {
        log_error("board: cannot map the devices: %s", strerror(-r));
        return r;
    }
    struct irq_line gpio_irqs[VIRT_GPIO_PINS];
    for (unsigned i = 0; i < VIRT_GPIO_PINS; i++)
        gpio_irqs[i] = virt_plic_line(b->plic, VIRT_GPIO_IRQ + i);
    b->gpio = sifive_gpio_create(&b->bus, VIRT_GPIO_BASE, VIRT_GPIO_PINS, gpio_irqs, b->loop);
    if (!b->gpio)
        return -EINVAL;
    b->uart = uart8250_create(&b->bus, VIRT_UART_BASE, 0, virt_plic_line(b->plic, VIRT_UART_IRQ), b->chr);
    return b->uart ? 0 : -EINVAL;
}

/* The power button: GPIO pin 0 held down for 100 ms, as QEMU's boards hold
 * their gpio-keys line. Any thread. */
int virt_board_powerdown(struct virt_board *b)
{
    return b->gpio ? sifive_gpio_pulse(b->gpio, VIRT_GPIO_POWER_PIN, 100) : -ENODEV;
}

/* ---- QMP (--qmp) ---- */
static const char *qmp_status(void *opaque)
{
    struct virt_board *b = opaque;
    int st = atomic_load(&b->stop);
    return st == VIRT_RUNNING ? "running" : st == VIRT_STOP_ERROR ? "internal-error" : "shutdown";
}

static int qmp_powerdown(void *opaque, const char **why)
{
    struct virt_board *b = opaque;
    int r = virt_board_powerdown(b);
    if (r == 0)
        qmp_server_event(b->qmp, QMP_EVENT_POWERDOWN, false, NULL);
    return r;
}

static int qmp_quit(void *opaque, const char **why)
{
    virt_board_stop(opaque, VIRT_STOP_QUIT, 0);
    return 0;
}

static unsigned qmp_cpus(void *opaque, struct qmp_cpu *out, unsigned max)
{
    struct virt_board *b = opaque;
    for (unsigned i = 0; i < b->nharts && i < max; i++)
        out[i] = (struct qmp_cpu){ .index = i, .thread_id = atomic_load(&b->hart[i].tid) };
    return b->nharts;
}

static unsigned qmp_blocks(void *opaque, struct qmp_block *out, unsigned max)
{
    return 0;
}

static const struct qmp_ops board_qmp_ops = {
    .target = "riscv64", .status = qmp_status, .system_powerdown = qmp_powerdown, .quit = qmp_quit,
    .query_cpus = qmp_cpus, .query_block = qmp_blocks,
};

static int board_devices(struct virt_board *b, const struct virt_config *cfg)
{
    unsigned nvirtio = cfg->virtio.ndisks + cfg->virtio.nnets + cfg->virtio.rng + cfg->virtio.console;
    if (nvirtio > VIRT_VIRTIO_SLOTS) {
        log_error("%u virtio devices asked for; the board has %d virtio-mmio slots", nvirtio, VIRT_VIRTIO_SLOTS);
        return -EINVAL;
    }
    b->loop = loop_new();
    if (!b->loop)
        return -ENOMEM;
    b->chr = chardev_open(cfg->serial ? cfg->serial : "stdio", b->loop);
    if (!b->chr)
        return -EINVAL;
    chardev_set_quit(b->chr, board_quit, b);
    int r = virt_board_mmio_init(b);
    if (r)
        return r;
    if (nvirtio) {
        struct virtio_options vo = cfg->virtio;
        if (vo.console)     /* hvc0 output goes to the serial backend too */
            vo.console_port = (struct virtio_console_port){ .write = console_port_write, .opaque = b->chr };
        b->virtio = virtio_board_create(&vo, &b->bus, &b->mem, VIRT_VIRTIO_BASE, VIRT_VIRTIO_STRIDE,
                                        virtio_irq_for, b);
        if (!b->virtio)
            return -EINVAL;
    }
    return 0;
}

void virt_board_free(struct virt_board *b)
{
    if (b->loop)
        loop_stop(b->loop);
    qmp_server_free(b->qmp);
    virtio_board_destroy(b->virtio);
    uart8250_destroy(b->uart);
    sifive_gpio_destroy(b->gpio);
    chardev_close(b->chr);
    if (b->loop)
        loop_free(b->loop);
    gdb_stub_free(b->gdb);
    for (unsigned i = 0; i < b->nharts; i++)
        if (b->hart[i].h)
            rv_hart_free(b->hart[i].h);
    if (b->m)
        rv_machine_free(b->m);
    virt_plic_free(b->plic);
    bus_destroy(&b->bus);
    mem_destroy(&b->mem);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

struct virt_board *virt_board_new(unsigned nharts)
{
    struct virt_board *b = xzalloc(sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->nharts = nharts;
    for (unsigned i = 0; i < VIRT_MAX_HARTS; i++) {
        b->hart[i].b = b;
        b->hart[i].id = i;
    }
    mem_init(&b->mem);
    bus_init(&b->bus);
    return b;
}

static int dump_dtb(struct virt_board *b, const char *path)
{
    const void *fdt = mem_translate(&b->mem, b->fdt_addr, VIRT_FDT_MAX);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(fdt, fdt_totalsize(fdt), 1, f) != 1 || fclose(f) != 0) {
        log_error("--dumpdtb %s: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Start the hart threads, wait for the machine to stop (or a signal), join. */
static void board_run(struct virt_board *b)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);     /* inherited by every thread started here */
    if (loop_start(b->loop) < 0) {
        virt_board_stop(b, VIRT_STOP_ERROR, VIRT_EXIT_ERROR);
    } else {
        for (unsigned i = 0; i < b->nharts; i++) {
            if (pthread_create(&b->hart[i].thread, NULL, hart_main, &b->hart[i]) != 0) {
                log_error("cannot start the thread of hart %u", i);
                virt_board_stop(b, VIRT_STOP_ERROR, VIRT_EXIT_ERROR);
                break;
            }
            b->hart[i].thread_started = true;
        }
    }
    while (!atomic_load(&b->stop)) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0)
            virt_board_stop(b, VIRT_STOP_QUIT, 128 + sig);
    }
    /* tell gdb ('W'), and free harts it holds */
    if (b->gdb)
        gdb_stub_machine_exit(b->gdb, b->exit_status);
    for (unsigned i = 0; i < b->nharts; i++) {
        if (!b->hart[i].thread_started)
            continue;
        for (;;) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            if (pthread_timedjoin_np(b->hart[i].thread, NULL, &ts) == 0)
                break;
            /* a kick that raced with the hart going to sleep: kick again */
            pthread_mutex_lock(&b->lock);
            pthread_cond_broadcast(&b->cond);
            pthread_mutex_unlock(&b->lock);
            rv_kick(b->hart[i].h);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int virt_run(const struct virt_config *cfg)
{
    if (cfg->nharts < 1 || cfg->nharts > VIRT_MAX_HARTS) {
        log_error("--smp %u: need a hart count from 1 to %d", cfg->nharts, VIRT_MAX_HARTS);
        return 2;
    }
    if (cfg->ram_size < VIRT_MIN_RAM || cfg->ram_size % MEM_PAGE_SIZE) {
        log_error("-m %llu: need at least %llu MiB (a page multiple)", (unsigned long long)cfg->ram_size,
                  (unsigned long long)(VIRT_MIN_RAM >> 20));
        return 2;
    }
    struct virt_board *b = virt_board_new(cfg->nharts);
    int rc = 2;
    int r = mem_add_ram(&b->mem, VIRT_RAM_BASE, cfg->ram_size, 0);
    if (r) {
        log_error("-m %llu MiB: cannot map guest RAM: %s", (unsigned long long)(cfg->ram_size >> 20),
                  strerror(-r));
        goto out;
    }
    struct boot_plan bp = { 0 }, kp = { 0 };
    if (cfg->kernel && load_kernel(b, cfg, &kp))
        goto out;
    if (cfg->bios) {
        if (load_bios(b, cfg, &bp))
            goto out;
        bp.kernel_end = kp.kernel_end;
        bp.tohost = kp.tohost;
    } else {
        bp = kp;
    }
    if (board_devices(b, cfg) || load_initrd_fdt(b, cfg, &bp))
        goto out;
    if (cfg->dump_dtb) {
        rc = dump_dtb(b, cfg->dump_dtb);
        goto out;
    }
    if (cfg->qmp && !(b->qmp = qmp_server_new(cfg->qmp, b->loop, &board_qmp_ops, b)))
        goto out;
    b->builtin_sbi = !cfg->bios && bp.priv == RV_PRIV_S;
    struct rv_sys_config sc = {
        .mem = &b->mem, .bus = &b->bus, .ops = b->builtin_sbi ? &sbi_ops : &fw_ops, .opaque = b,
        .nharts = cfg->nharts, .tohost_addr = bp.tohost, .sv48 = !cfg->sv39_only,
    };
    b->m = rv_machine_new_sys(&sc);
    if (!b->m) {
        rc = 1;
        goto out;
    }
    if (cfg->gdb) {
        struct gdb_stub_config gc = { .m = b->m, .wait = cfg->gdb_wait, .kill = board_gdb_kill, .opaque = b };
        b->gdb = gdb_stub_start(cfg->gdb, &gc);
        if (!b->gdb)
            goto out;
    }
    for (unsigned i = 0; i < b->nharts; i++) {
        struct virt_hart *vh = &b->hart[i];
        vh->h = rv_hart_new(b->m, i);
        if (!vh->h) {
            log_error("cannot create hart %u", i);
            rc = 1;
            goto out;
        }
        if (i == 0 || bp.all_harts) {
            virt_hart_boot(vh, bp.entry, bp.priv, b->fdt_addr);
            vh->hsm = HSM_STARTED;
        } else {
            rv_hart_reset(vh->h, bp.entry);
            vh->hsm = HSM_STOPPED;
            rv_hart_halt(vh->h);
        }
        if (b->gdb)
            gdb_stub_add_hart(b->gdb, vh->h);
    }
    board_run(b);
    switch (atomic_load(&b->stop)) {
    case VIRT_STOP_REBOOT:
        log_error("the guest asked for a reboot: stopped (exit status %d)", VIRT_EXIT_REBOOT);
        break;
    case VIRT_STOP_FAIL:
        log_error("the guest reported a failure (exit status %d)", b->exit_status);
        break;
    case VIRT_STOP_ERROR:
        log_error("the machine stopped on an error (exit status %d)", b->exit_status);
        break;
    default:
        break;
    }
    rc = b->exit_status;
out:
    virt_board_free(b);
    return rc;
}

/* The virt board: memory map, devices, one host thread per hart; the
 * engine behind a struct machine (machine/machine.h), which owns memory,
 * bus, console, the device list and the run state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libfdt.h>

#include "base/base.h"
#include "emu/riscv/virt/internal.h"

/* gdb's 'k' */
static void board_gdb_kill(void *opaque)
{
    struct virt_board *b = opaque;
    machine_quit(b->mach);
}

/* ---- interrupts: PLIC context c -> hart c/2, MEI (even) or SEI (odd) ---- */
static void plic_to_hart(void *opaque, unsigned ctx, bool level)
{
    struct virt_board *b = opaque;
    if (ctx / 2 < b->nharts && b->hart[ctx / 2].h)
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
        machine_shutdown(b->mach, MACHINE_STOP_EXIT, st == 0 ? 0 : (st & 0xff) ? (int)(st & 0xff) : 1);
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

/* Non-retentive suspend: wait for an interrupt (or the machine wanting the
 * thread back), then start again at the resume address. b->lock held. */
static void hart_suspended(struct virt_hart *vh)
{
    struct virt_board *b = vh->b;
    machine_vcpu_idle_begin(b->mach, vh->id);
    pthread_mutex_unlock(&b->lock);
    rv_hart_resume(vh->h);          /* a halted hart's wait would return at once */
    rv_hart_wait(vh->h);
    pthread_mutex_lock(&b->lock);
    machine_vcpu_idle_end(b->mach, vh->id);
    if (vh->hsm == HSM_SUSPENDED && !machine_vcpu_should_exit(b->mach)) {
        virt_hart_boot(vh, vh->start_addr, RV_PRIV_S, vh->start_arg);
        vh->hsm = HSM_STARTED;
    } else {
        rv_hart_halt(vh->h);        /* still suspended after a pause or a reset request */
    }
}

/* A halted hart: HSM-stopped until a hart_start, or until the machine
 * wants the thread back (stop, reset). Counts as parked meanwhile. */
static void hart_parked(struct virt_hart *vh)
{
    struct virt_board *b = vh->b;
    pthread_mutex_lock(&b->lock);
    if (vh->hsm == HSM_SUSPENDED) {
        hart_suspended(vh);
        pthread_mutex_unlock(&b->lock);
        return;
    }
    if (vh->hsm == HSM_STOP_PENDING || vh->hsm == HSM_STARTED)
        vh->hsm = HSM_STOPPED;
    machine_vcpu_idle_begin(b->mach, vh->id);
    /* STARTED or SUSPENDED here: a restored snapshot has the hart running
     * again, or in a non-retentive suspend */
    while (!machine_vcpu_should_exit(b->mach) && vh->hsm != HSM_START_PENDING && vh->hsm != HSM_STARTED &&
           vh->hsm != HSM_SUSPENDED)
        pthread_cond_wait(&b->cond, &b->lock);
    machine_vcpu_idle_end(b->mach, vh->id);
    if (vh->hsm == HSM_START_PENDING && !machine_vcpu_should_exit(b->mach)) {
        virt_hart_boot(vh, vh->start_addr, RV_PRIV_S, vh->start_arg);
        vh->hsm = HSM_STARTED;
        rv_hart_resume(vh->h);
    } else if (vh->hsm == HSM_SUSPENDED && !machine_vcpu_should_exit(b->mach)) {
        hart_suspended(vh);
    }
    pthread_mutex_unlock(&b->lock);
}

/* The first time a hart goes mostly idle (the guest past its boot): guest
 * RAM keeps huge pages only where the guest filled them (mem_huge_settle;
 * docs/density.md). Once per machine. */
static void hart_trim(struct virt_hart *vh)
{
    struct virt_board *b = vh->b;
    if (!rv_hart_trim(vh->h) || atomic_exchange(&b->ram_settled, true))
        return;
    int n = mem_huge_settle(b->mem);
    if (n < 0)
        log_warn("guest RAM: cannot give up huge pages: %s", strerror(-n));
    else
        log_debug("guest RAM: idle, %d sparse huge pages split, no new ones", n);
}

static void *hart_main(void *arg)
{
    struct virt_hart *vh = arg;
    struct virt_board *b = vh->b;
    while (machine_vcpu_enter(b->mach, vh->id)) {
        /* with a debugger: wait while it holds the machine (counted as
         * parked, so a pause does not wait for the debugger); 1 = single step */
        uint64_t budget = 0;
        if (b->gdb) {
            machine_vcpu_idle_begin(b->mach, vh->id);
            budget = gdb_stub_before_run(b->gdb, vh->h);
            machine_vcpu_idle_end(b->mach, vh->id);
        }
        if (machine_vcpu_should_exit(b->mach))
            break;
        enum rv_exit e = rv_run(vh->h, budget);
        if (b->gdb && gdb_stub_after_run(b->gdb, vh->h, e))
            continue;
        switch (e) {
        case RV_EXIT_WFI:
            hart_trim(vh);
            rv_hart_wait(vh->h);
            break;
        case RV_EXIT_HALT:
            hart_trim(vh);
            hart_parked(vh);
            break;
        case RV_EXIT_BUDGET:
        case RV_EXIT_DEBUG:        /* a breakpoint left by a debugger that went away: go on */
            break;
        default:
            log_error("hart %u stopped: unexpected exit %d at pc 0x%llx", vh->id, (int)e,
                      (unsigned long long)rv_get_pc(vh->h));
            machine_shutdown(b->mach, MACHINE_STOP_ERROR, MACHINE_EXIT_ERROR);
            break;
        }
    }
    return NULL;
}

/* Hart 0 (every hart for firmware and bare metal) at the entry, the others
 * HSM-stopped until the kernel starts them. */
static void boot_harts(struct virt_board *b, const struct virt_boot_plan *bp)
{
    for (unsigned i = 0; i < b->nharts; i++) {
        struct virt_hart *vh = &b->hart[i];
        rv_set_mtimecmp(vh->h, UINT64_MAX);
        rv_set_irq(vh->h, RV_IRQ_MSI, false);
        atomic_store(&b->msip[i], 0);
        if (i == 0 || bp->all_harts) {
            rv_hart_resume(vh->h);
            virt_hart_boot(vh, bp->entry, bp->priv, b->fdt_addr);
            vh->hsm = HSM_STARTED;
        } else {
            rv_hart_reset(vh->h, bp->entry);
            vh->hsm = HSM_STOPPED;
            rv_hart_halt(vh->h);
        }
    }
}

/* ---- the engine ops ---- */
static int eng_start(void *opaque)
{
    struct virt_board *b = opaque;
    for (unsigned i = 0; i < b->nharts; i++) {
        int r = pthread_create(&b->hart[i].thread, NULL, hart_main, &b->hart[i]);
        if (r) {
            log_error("cannot start the thread of hart %u: %s", i, strerror(r));
            return -r;
        }
        b->hart[i].thread_started = true;
    }
    return 0;
}

/* Every hart out of rv_run and rv_hart_wait (a sticky request bit the run
 * loop checks at every block), and out of the HSM wait (under b->lock, so
 * a hart about to wait sees the machine's request first). */
static void eng_kick(void *opaque)
{
    struct virt_board *b = opaque;
    for (unsigned i = 0; i < b->nharts; i++)
        if (b->hart[i].h)
            rv_kick(b->hart[i].h);
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void eng_join(void *opaque)
{
    struct virt_board *b = opaque;
    /* gdb: report the exit ('W') and let go of the harts it holds */
    enum machine_status st = machine_status(b->mach);
    if (b->gdb && (st == MACHINE_SHUTDOWN || st == MACHINE_INTERNAL_ERROR))
        gdb_stub_machine_exit(b->gdb, machine_exit_status(b->mach));
    for (unsigned i = 0; i < b->nharts; i++)
        if (b->hart[i].thread_started) {
            pthread_join(b->hart[i].thread, NULL);
            b->hart[i].thread_started = false;
        }
}

static int eng_reset(void *opaque)
{
    struct virt_board *b = opaque;
    struct virt_boot_plan bp;
    int r = virt_board_load(b, b->cfg, &bp);
    if (r)
        return r;
    rv_invalidate_code(b->m, 0, UINT64_MAX);
    boot_harts(b, &bp);
    return 0;
}

static void eng_clock_stop(void *opaque)
{
    struct virt_board *b = opaque;
    rv_machine_clock_stop(b->m);
}

static void eng_clock_start(void *opaque)
{
    struct virt_board *b = opaque;
    rv_machine_clock_start(b->m);
    for (unsigned i = 0; i < b->nharts; i++)     /* deadlines moved: re-evaluate */
        rv_kick(b->hart[i].h);
}

static void eng_cpu_state(void *opaque, unsigned cpu, struct machine_cpu_info *ci)
{
    struct virt_board *b = opaque;
    struct virt_hart *vh = &b->hart[cpu];
    ci->pc = rv_get_pc(vh->h);
    pthread_mutex_lock(&b->lock);
    ci->halted = vh->hsm != HSM_STARTED || rv_hart_halted(vh->h);
    pthread_mutex_unlock(&b->lock);
}

/* QMP query-cpus-fast "x-state": the SBI HSM state */
static const char *eng_cpu_state_name(void *opaque, unsigned cpu)
{
    static const char *const names[] = {
        [HSM_STARTED] = "started", [HSM_STOPPED] = "stopped", [HSM_START_PENDING] = "start-pending",
        [HSM_STOP_PENDING] = "stop-pending", [HSM_SUSPENDED] = "suspended",
    };
    struct virt_board *b = opaque;
    if (cpu >= b->nharts)
        return NULL;
    pthread_mutex_lock(&b->lock);
    int st = b->hart[cpu].hsm;
    pthread_mutex_unlock(&b->lock);
    return (unsigned)st < ARRAY_SIZE(names) ? names[st] : NULL;
}

/* Dirty logging (machine.h): with r->dirty set a store's slow path marks
 * its page before it fills the write TLB entry (mmu.c); the entries
 * filled before logging are dropped here, before any hart runs again, and
 * the write entries at every sync (rv_dirty_log_sync). */
static int eng_dirty_log_start(void *opaque)
{
    struct virt_board *b = opaque;
    int r = mem_dirty_enable(b->mem);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < b->nharts; i++)
        rv_flush_tlb(b->hart[i].h);
    return 0;
}

static uint64_t eng_dirty_log_sync(void *opaque, unsigned region, uint64_t *bitmap)
{
    struct virt_board *b = opaque;
    return rv_dirty_log_sync(b->m, region, bitmap);
}

static void eng_dirty_log_stop(void *opaque)
{
    struct virt_board *b = opaque;
    mem_dirty_disable(b->mem);      /* write entries fill again on the next misses */
}

static const struct machine_engine_ops virt_engine_ops = {
    .arch = "riscv", .target = "riscv64",
    .start = eng_start, .kick = eng_kick, .join = eng_join, .reset = eng_reset,
    .clock_stop = eng_clock_stop, .clock_start = eng_clock_start, .cpu_state = eng_cpu_state,
    .machine_type = "riscv64-virt", .save = virt_engine_save, .load = virt_engine_load,
    .cpu_state_name = eng_cpu_state_name,
    .dirty_log_start = eng_dirty_log_start, .dirty_log_sync = eng_dirty_log_sync,
    .dirty_log_stop = eng_dirty_log_stop,
};

/* ---- devices ---- */
static void plic_dev_reset(void *opaque) { virt_plic_reset(opaque); }
static void plic_dev_destroy(void *opaque) { virt_plic_free(opaque); }
static const struct machine_dev_ops plic_dev_ops = {
    .name = "riscv.sifive.plic", .reset = plic_dev_reset, .destroy = plic_dev_destroy,
};
static void rtc_dev_reset(void *opaque) { goldfish_rtc_reset(opaque); }
static void rtc_dev_save(void *opaque, void *st) { goldfish_rtc_save(opaque, st); }
static int rtc_dev_load(void *opaque, const void *st) { return goldfish_rtc_load(opaque, st); }
static void rtc_dev_destroy(void *opaque) { goldfish_rtc_destroy(opaque); }
static void rtc_dev_pause(void *opaque) { goldfish_rtc_pause(opaque); }
static void rtc_dev_resume(void *opaque) { goldfish_rtc_resume(opaque); }
static const struct machine_dev_ops rtc_dev_ops = {
    .name = "goldfish-rtc", .reset = rtc_dev_reset, .state_size = sizeof(struct goldfish_rtc_state),
    .save = rtc_dev_save, .load = rtc_dev_load, .destroy = rtc_dev_destroy,
    .pause = rtc_dev_pause, .resume = rtc_dev_resume,
};

static void gpio_dev_reset(void *opaque) { sifive_gpio_reset(opaque); }
static void gpio_dev_save(void *opaque, void *st) { sifive_gpio_save(opaque, st); }
static int gpio_dev_load(void *opaque, const void *st) { return sifive_gpio_load(opaque, st); }
static void gpio_dev_destroy(void *opaque) { sifive_gpio_destroy(opaque); }
static const struct machine_dev_ops gpio_dev_ops = {
    .name = "sifive-gpio", .reset = gpio_dev_reset, .state_size = sizeof(struct sifive_gpio_state),
    .save = gpio_dev_save, .load = gpio_dev_load, .destroy = gpio_dev_destroy,
};

/* The power button (QMP system_powerdown): gpio-keys KEY_POWER on GPIO pin
 * 0, held down for 100 ms. */
static int power_button_press(void *opaque)
{
    return sifive_gpio_pulse(opaque, VIRT_GPIO_POWER_PIN, VIRT_POWER_BUTTON_MS);
}

/* The devices a guest drives by MMIO: the PLIC (wired to the harts), CLINT,
 * syscon, RTC and the UART on the machine's serial line. */
int virt_board_mmio_init(struct virt_board *b)
{
    b->plic = virt_plic_new(2 * b->nharts, plic_to_hart, b);
    if (!b->plic)
        return -EINVAL;
    machine_dev_add(b->mach, "plic", &plic_dev_ops, b->plic);
    int r = bus_register(b->bus, VIRT_PLIC_BASE, VIRT_PLIC_SIZE, &virt_plic_ops, b->plic, "plic");
    if (!r)
        r = virt_clint_init(b);
    if (!r)
        r = virt_syscon_init(b);
    if (r) {
        log_error("board: cannot map the devices: %s", strerror(-r));
        return r;
    }
    struct goldfish_rtc *rtc = goldfish_rtc_create(b->bus, VIRT_RTC_BASE,
                                                   virt_plic_line(b->plic, VIRT_RTC_IRQ),
                                                   machine_loop(b->mach));
    if (!rtc)
        return -EINVAL;
    machine_dev_add(b->mach, "rtc", &rtc_dev_ops, rtc);
    struct irq_line gpio_irqs[VIRT_GPIO_PINS];
    for (unsigned i = 0; i < VIRT_GPIO_PINS; i++)
        gpio_irqs[i] = virt_plic_line(b->plic, VIRT_GPIO_IRQ + i);
    struct sifive_gpio *gpio = sifive_gpio_create(b->bus, VIRT_GPIO_BASE, VIRT_GPIO_PINS, gpio_irqs,
                                                  machine_loop(b->mach));
    if (!gpio)
        return -EINVAL;
    machine_dev_add(b->mach, "gpio0", &gpio_dev_ops, gpio);
    machine_set_power_button(b->mach, power_button_press, gpio);
    return machine_add_uart(b->mach, b->bus, VIRT_UART_BASE, 0, virt_plic_line(b->plic, VIRT_UART_IRQ));
}

static int board_devices(struct virt_board *b)
{
    int r = virt_board_mmio_init(b);
    if (r)
        return r;
    struct machine_virtio_layout l = {
        .bus = b->bus, .base = VIRT_VIRTIO_BASE, .stride = VIRT_VIRTIO_STRIDE, .nslots = VIRT_VIRTIO_SLOTS,
        .first_irq = VIRT_VIRTIO_IRQ, .irq_for = virtio_irq_for, .opaque = b,
    };
    return machine_add_virtio(b->mach, &l);
}

void virt_board_free(struct virt_board *b)
{
    gdb_stub_free(b->gdb);          /* its thread reads guest memory */
    if (b->mach)
        machine_free(b->mach);      /* devices, console, memory */
    for (unsigned i = 0; i < b->nharts; i++)
        if (b->hart[i].h)
            rv_hart_free(b->hart[i].h);
    if (b->m)
        rv_machine_free(b->m);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b->bootargs);
    free(b);
}

struct virt_board *virt_board_new(const struct machine_config *mc)
{
    if (mc->ncpus < 1 || mc->ncpus > VIRT_MAX_HARTS) {
        log_error("--smp %u: need a hart count from 1 to %d", mc->ncpus, VIRT_MAX_HARTS);
        return NULL;
    }
    struct virt_board *b = xzalloc(sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->nharts = mc->ncpus;
    for (unsigned i = 0; i < VIRT_MAX_HARTS; i++) {
        b->hart[i].b = b;
        b->hart[i].id = i;
    }
    b->mach = machine_new(mc);
    if (!b->mach) {
        virt_board_free(b);
        return NULL;
    }
    b->mem = machine_mem(b->mach);
    b->bus = machine_mmio(b->mach);
    b->chr = machine_serial(b->mach);
    return b;
}

static int dump_dtb(struct virt_board *b, const char *path)
{
    const void *fdt = mem_translate(b->mem, b->fdt_addr, VIRT_FDT_MAX);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(fdt, fdt_totalsize(fdt), 1, f) != 1 || fclose(f) != 0) {
        log_error("--dumpdtb %s: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* The CPU side: the core, the gdb stub, the harts at their entry. 0, or
 * the exit status. */
static int board_cpus(struct virt_board *b, const struct virt_config *cfg, const struct virt_boot_plan *bp)
{
    b->builtin_sbi = !cfg->bios && bp->priv == RV_PRIV_S;
    b->tohost = bp->tohost;
    struct rv_sys_config sc = {
        .mem = b->mem, .bus = b->bus, .ops = b->builtin_sbi ? &sbi_ops : &fw_ops, .opaque = b,
        .nharts = b->nharts, .tohost_addr = bp->tohost, .sv48 = !cfg->sv39_only,
    };
    b->m = rv_machine_new_sys(&sc);
    if (!b->m)
        return 1;
    if (cfg->gdb) {
        struct gdb_stub_config gc = { .m = b->m, .wait = cfg->gdb_wait, .kill = board_gdb_kill, .opaque = b };
        b->gdb = gdb_stub_start(cfg->gdb, &gc);
        if (!b->gdb)
            return MACHINE_EXIT_BADARG;
    }
    for (unsigned i = 0; i < b->nharts; i++) {
        b->hart[i].h = rv_hart_new(b->m, i);
        if (!b->hart[i].h) {
            log_error("cannot create hart %u", i);
            return 1;
        }
        if (b->gdb)
            gdb_stub_add_hart(b->gdb, b->hart[i].h);
    }
    if (!cfg->restore)
        boot_harts(b, bp);
    return 0;
}

/* --restore: the boot plan and device tree address the snapshot was made
 * with (the images are not loaded: RAM comes from the snapshot). */
static int restore_plan(struct virt_board *b, const struct virt_config *cfg, struct virt_boot_plan *bp)
{
    char err[512];
    bool sbi;
    memset(bp, 0, sizeof(*bp));
    if (virt_snapshot_board(cfg->restore, b->nharts, !cfg->sv39_only, &b->fdt_addr, &bp->tohost, &sbi, err,
                            sizeof(err)) < 0) {
        log_error("--restore: %s", err);
        return -EINVAL;
    }
    if (sbi && cfg->bios) {
        log_error("--restore: the snapshot ran on the built-in SBI but its config names firmware");
        return -EINVAL;
    }
    bp->priv = sbi ? RV_PRIV_S : RV_PRIV_M;
    return 0;
}

static int restore_state(struct virt_board *b, const struct virt_config *cfg)
{
    char err[512];
    if (machine_restore(b->mach, cfg->restore, false, cfg->restore_verify, err, sizeof(err)) < 0) {
        log_error("--restore: %s", err);
        return -EINVAL;
    }
    return 0;
}

static void report_stop(struct machine *m, int rc)
{
    switch (machine_stop_reason(m)) {
    case MACHINE_STOP_REBOOT:
        log_error("the guest asked for a reboot: stopped (--no-reboot, exit status %d)", rc);
        break;
    case MACHINE_STOP_FAIL:
        log_error("the guest reported a failure (exit status %d)", rc);
        break;
    case MACHINE_STOP_ERROR:
        log_error("the machine stopped on an error (exit status %d)", rc);
        break;
    default:
        break;
    }
}

int virt_run(const struct virt_config *cfg)
{
    struct virt_board *b = virt_board_new(&cfg->mc);
    if (!b)
        return MACHINE_EXIT_BADARG;
    b->cfg = cfg;
    int rc = MACHINE_EXIT_BADARG;
    int r = mem_add_ram(b->mem, VIRT_RAM_BASE, cfg->mc.ram_size, 0);
    if (r) {
        log_error("-m %llu MiB: cannot map guest RAM: %s", (unsigned long long)(cfg->mc.ram_size >> 20),
                  strerror(-r));
        goto out;
    }
    struct virt_boot_plan bp;
    if (board_devices(b) || (cfg->restore ? restore_plan(b, cfg, &bp) : virt_board_load(b, cfg, &bp)))
        goto out;
    bench_since_exec("devices built");
    if (cfg->dump_dtb) {
        rc = dump_dtb(b, cfg->dump_dtb);
        goto out;
    }
    if ((rc = board_cpus(b, cfg, &bp)))
        goto out;
    machine_set_engine(b->mach, &virt_engine_ops, b);
    bench_since_exec("harts built");
    if (cfg->restore && restore_state(b, cfg) < 0) {
        rc = MACHINE_EXIT_BADARG;
        goto out;
    }
    bench_since_exec("state loaded");
    rc = machine_run(b->mach);
    report_stop(b->mach, rc);
out:
    virt_board_free(b);
    return rc;
}

/* The machine's parts: memory, buses, I/O loop, serial chardev and UART,
 * virtio slots, the device list; and freeing them in order. */
#include "machine/internal.h"
#include "machine/qmp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* ---- the device list ---- */
int machine_dev_add(struct machine *m, const char *id, const struct machine_dev_ops *ops, void *opaque)
{
    if (m->ndevs == m->capdevs) {
        m->capdevs = m->capdevs ? 2 * m->capdevs : 16;
        m->devs = xrealloc(m->devs, m->capdevs * sizeof(*m->devs));
    }
    /* ids are unique (a snapshot names its sections after them): a second
     * "virtio-blk" becomes "virtio-blk-1" */
    char *uid = xstrdup(id);
    for (unsigned n = 1;; n++) {
        unsigned k;
        for (k = 0; k < m->ndevs && strcmp(m->devs[k].id, uid); k++)
            ;
        if (k == m->ndevs)
            break;
        free(uid);
        uid = xasprintf("%s-%u", id, n);
    }
    m->devs[m->ndevs++] = (struct machine_dev){ uid, ops, opaque };
    return 0;
}

unsigned machine_dev_count(const struct machine *m)
{
    return m->ndevs;
}

int machine_dev_at(const struct machine *m, unsigned i, const char **id, const struct machine_dev_ops **ops,
                   void **opaque)
{
    if (i >= m->ndevs)
        return -ENOENT;
    if (id)
        *id = m->devs[i].id;
    if (ops)
        *ops = m->devs[i].ops;
    if (opaque)
        *opaque = m->devs[i].opaque;
    return 0;
}

void machine_devices_reset(struct machine *m)
{
    for (unsigned i = 0; i < m->ndevs; i++)
        if (m->devs[i].ops->reset)
            m->devs[i].ops->reset(m->devs[i].opaque);
    machine_hotdevs_reset(m);
}

/* ---- accessors ---- */
struct guest_mem *machine_mem(struct machine *m) { return &m->mem; }
struct bus *machine_mmio(struct machine *m) { return &m->mmio; }
struct bus *machine_pio(struct machine *m) { return &m->pio; }
struct loop *machine_loop(struct machine *m) { return m->loop; }
struct chardev *machine_serial(struct machine *m) { return m->serial; }
const struct machine_config *machine_config(const struct machine *m) { return &m->cfg; }

void machine_set_engine(struct machine *m, const struct machine_engine_ops *ops, void *eng)
{
    m->eops = ops;
    m->eng = eng;
}

/* ---- the serial line ---- */
static void serial_quit(void *opaque)
{
    log_info("console: Ctrl-A x, stopping the machine");
    machine_quit(opaque);
}

static void uart_dev_reset(void *opaque) { uart8250_reset(opaque); }
static void uart_dev_save(void *opaque, void *st) { uart8250_save(opaque, st); }
static int uart_dev_load(void *opaque, const void *st) { return uart8250_load(opaque, st); }
static void uart_dev_destroy(void *opaque) { uart8250_destroy(opaque); }

static const struct machine_dev_ops uart_dev_ops = {
    .name = "uart8250", .reset = uart_dev_reset, .state_size = sizeof(struct uart8250_state),
    .save = uart_dev_save, .load = uart_dev_load, .destroy = uart_dev_destroy,
};

int machine_add_uart(struct machine *m, struct bus *bus, uint64_t base, unsigned reg_shift, struct irq_line irq)
{
    struct uart8250 *u = uart8250_create(bus, base, reg_shift, irq, m->serial);
    if (!u)
        return -EINVAL;
    if (!m->uart)
        m->uart = u;
    return machine_dev_add(m, "serial0", &uart_dev_ops, u);
}

/* ---- virtio ---- */
static void vcon_write(void *opaque, const uint8_t *buf, size_t len)
{
    chardev_write(opaque, buf, len);
}
static void vcon_rx_ready(void *opaque)
{
    chardev_input_ready(opaque);
}
static size_t vcon_input(void *opaque, const uint8_t *buf, size_t len)
{
    return virtio_board_input(opaque, buf, len);
}

static void vdev_reset(void *opaque) { virtio_reset(opaque); }
static void vdev_save(void *opaque, void *st) { virtio_dev_save(opaque, st); }
static int vdev_load(void *opaque, const void *st) { return virtio_dev_load(opaque, st); }
static void vdev_pause(void *opaque) { virtio_dev_pause(opaque); }
static void vdev_resume(void *opaque) { virtio_dev_resume(opaque); }
static const struct machine_dev_ops virtio_dev_ops = {
    .name = "virtio-mmio", .reset = vdev_reset, .state_size = sizeof(struct virtio_dev_state),
    .save = vdev_save, .load = vdev_load, .pause = vdev_pause, .resume = vdev_resume,
};
/* virtio-pci: the transport's registers, config space and MSI-X, after
 * the device's own state */
static void vpci_save(void *opaque, void *st) { virtio_pci_save(opaque, st); }
static int vpci_load(void *opaque, const void *st) { return virtio_pci_load(opaque, st); }
static const struct machine_dev_ops virtio_pci_dev_ops = {
    .name = "virtio-pci", .state_size = sizeof(struct virtio_pci_state), .save = vpci_save, .load = vpci_load,
};
static void vboard_destroy(void *opaque) { virtio_board_destroy(opaque); }
static int vboard_save_var(void *opaque, uint8_t **buf, size_t *len) { return virtio_board_save_var(opaque, buf, len); }
static int vboard_load_var(void *opaque, const uint8_t *buf, size_t len) { return virtio_board_load_var(opaque, buf, len); }
static const struct machine_dev_ops virtio_board_ops = {
    .name = "virtio-backends", .destroy = vboard_destroy, .save_var = vboard_save_var, .load_var = vboard_load_var,
};

/* The driver changed the balloon's size (vCPU thread): QMP's BALLOON_CHANGE
 * carries the guest's memory, RAM minus the balloon. */
static void balloon_changed(void *opaque, uint64_t balloon_bytes)
{
    struct machine *m = opaque;
    uint64_t ram = mem_ram_size(&m->mem);
    machine_emit_value(m, MACHINE_EV_BALLOON_CHANGE, balloon_bytes < ram ? ram - balloon_bytes : 0);
}

struct virtio_balloon *machine_balloon(struct machine *m)
{
    return virtio_board_find(m->virtio, "balloon");
}

int machine_balloon_set(struct machine *m, uint64_t bytes)
{
    struct virtio_balloon *b = machine_balloon(m);
    return b ? virtio_balloon_set_target(b, bytes) : -ENODEV;
}

int machine_balloon_query(struct machine *m, uint64_t *actual)
{
    struct virtio_balloon *b = machine_balloon(m);
    if (!b)
        return -ENODEV;
    *actual = virtio_balloon_actual(b);
    return 0;
}

int machine_add_virtio(struct machine *m, const struct machine_virtio_layout *l)
{
    const struct virtio_options *o = &m->cfg.virtio;
    m->vlayout = *l;                    /* for PCI hotplug (devhp.c) */
    m->have_vlayout = true;
    if (machine_hotdevs_init(m) < 0)
        return -ENOMEM;
    if (o->n == 0)
        return 0;
    if (o->n > l->nslots) {
        log_error("%u virtio devices asked for; the board has %u virtio-%s slots", o->n, l->nslots,
                  l->pci ? "pci" : "mmio");
        return -EINVAL;
    }
    struct virtio_host host = { .console = { vcon_write, vcon_rx_ready, m->serial },
                                .balloon = { balloon_changed, m }, .defer_disk_locks = m->cfg.incoming != NULL,
                                .defer_net = m->cfg.standby != NULL };
    struct virtio_pci_layout pl = { l->pci, l->msi, l->doorbells, m->loop };
    m->virtio = l->pci ? virtio_board_create_pci(o, &host, &pl, &m->mem, l->irq_for, l->opaque)
                       : virtio_board_create(o, &host, l->bus, &m->mem, l->base, l->stride, l->irq_for, l->opaque);
    if (!m->virtio)
        return -EINVAL;
    m->virtio_first_irq = l->first_irq;
    const char *no_state = virtio_board_no_state(m->virtio);
    if (no_state)
        machine_add_migration_blocker(m, no_state);
    /* the backends go first in the list, so they are destroyed last */
    machine_dev_add(m, "virtio-backends", &virtio_board_ops, m->virtio);
    for (unsigned i = 0; i < virtio_board_count(m->virtio); i++) {
        struct virtio_dev *d = virtio_board_dev(m->virtio, i);
        machine_dev_add(m, d->name, &virtio_dev_ops, d);
    }
    for (unsigned i = 0; i < virtio_board_count(m->virtio); i++) {
        struct virtio_pci *p = virtio_board_pci(m->virtio, i);
        if (p) {
            char id[64];
            snprintf(id, sizeof(id), "%s-pci", virtio_board_dev(m->virtio, i)->name);
            machine_dev_add(m, id, &virtio_pci_dev_ops, p);
        }
    }
    if (virtio_board_has_input(m->virtio))     /* the interactive console: hvc0 takes the input */
        chardev_set_input(m->serial, vcon_input, m->virtio);
    return 0;
}

unsigned machine_virtio_count(const struct machine *m)
{
    return m->virtio ? virtio_board_count(m->virtio) : 0;
}

bool machine_virtio_is_pci(const struct machine *m)
{
    return (m->virtio && virtio_board_is_pci(m->virtio)) || (m->have_vlayout && m->vlayout.pci);
}

void machine_virtio_doorbells_reassign(struct machine *m)
{
    if (m->virtio)
        virtio_board_doorbells_reassign(m->virtio);
}

void machine_virtio_slot(const struct machine *m, unsigned i, uint64_t *base, unsigned *irq)
{
    unsigned idx;
    virtio_board_slot(m->virtio, i, base, &idx);
    *irq = m->virtio_first_irq + idx;
}

int machine_virtio_cmdline(const struct machine *m, char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
    return m->virtio ? virtio_board_cmdline(m->virtio, m->virtio_first_irq, buf, len) : 0;
}

/* The boot disks, then the hot-plugged ones (hp_lock: const only to callers) */
unsigned machine_nblock(const struct machine *m)
{
    return (m->virtio ? virtio_board_nblock(m->virtio) : 0) + machine_hot_nblock((struct machine *)m);
}

int machine_block_info(const struct machine *m, unsigned i, struct machine_block_info *bi)
{
    struct virtio_block_info vb;
    unsigned nboot = m->virtio ? virtio_board_nblock(m->virtio) : 0;
    if (i >= nboot)
        return machine_hot_block_info((struct machine *)m, i - nboot, bi);
    if (!m->virtio || virtio_board_block_info(m->virtio, i, &vb) < 0)
        return -ENOENT;
    *bi = (struct machine_block_info){ vb.id, vb.file, vb.readonly, vb.direct, vb.size };
    return 0;
}

/* ---- life cycle ---- */
void machine_config_release(struct machine_config *cfg)
{
    virtio_options_free(&cfg->virtio);
    qmp_monitor_release(&cfg->monitor);
}

struct machine *machine_new(const struct machine_config *cfg)
{
    if (cfg->ncpus < 1 || cfg->ncpus > MACHINE_MAX_VCPUS) {
        log_error("--smp %u: need a vCPU count from 1 to %d", cfg->ncpus, MACHINE_MAX_VCPUS);
        return NULL;
    }
    struct machine *m = xzalloc(sizeof(*m));
    m->cfg = *cfg;
    m->status = MACHINE_PRELAUNCH;
    m->wake_fd = m->sig_fd = -1;
    pthread_mutex_init(&m->ctl_lock, NULL);
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->hp_lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    mem_init(&m->mem);
    bus_init(&m->mmio);
    bus_init(&m->pio);
    /* SIGINT/SIGTERM/SIGHUP: blocked in every thread started from here on,
     * read by the main thread through a signalfd */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &m->old_mask);
    m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->sig_fd < 0 || m->wake_fd < 0) {
        log_error("machine: signalfd/eventfd: %s", strerror(errno));
        goto fail;
    }
    m->loop = loop_new();
    if (!m->loop)
        goto fail;
    m->serial = chardev_open(cfg->serial ? cfg->serial : "stdio", m->loop);
    if (!m->serial)
        goto fail;
    chardev_set_quit(m->serial, serial_quit, m);
    if (migrate_init(m) < 0 || replicate_init(m) < 0)
        goto fail;
    return m;
fail:
    machine_free(m);
    return NULL;
}

void machine_free(struct machine *m)
{
    if (!m)
        return;
    if (m->monitor_started && m->cfg.monitor.stop)
        m->cfg.monitor.stop(m->cfg.monitor.opaque);
    if (m->vcpus_started && m->eops) {
        machine_shutdown(m, MACHINE_STOP_QUIT, 0);
        m->eops->kick(m->eng);
        m->eops->join(m->eng);
        m->vcpus_started = false;
    }
    /* nothing calls the buses any more: stop the I/O thread, then free the
     * devices (last registered first), then the backends */
    if (m->loop)
        loop_stop(m->loop);
    machine_hotdevs_free(m);    /* before the PCI host bridge they sit on */
    for (unsigned i = m->ndevs; i-- > 0;) {
        if (m->devs[i].ops->destroy)
            m->devs[i].ops->destroy(m->devs[i].opaque);
        free(m->devs[i].id);
    }
    free(m->devs);
    for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++)
        free(m->vcpu[i].hotplug_id);
    chardev_close(m->serial);
    loop_free(m->loop);
    bus_destroy(&m->mmio);
    bus_destroy(&m->pio);
    mem_destroy(&m->mem);
    if (m->sig_fd >= 0)
        close(m->sig_fd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    migrate_free(m);
    replica_free(m);
    replicate_free(m);
    pthread_sigmask(SIG_SETMASK, &m->old_mask, NULL);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->ctl_lock);
    pthread_mutex_destroy(&m->hp_lock);
    free(m);
}

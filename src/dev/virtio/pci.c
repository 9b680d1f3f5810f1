/* virtio-pci transport, modern (virtio 1.x PCI capabilities, MSI-X),
 * independent of the device and of the engine: a struct pci_func on a
 * dev/pci host bridge. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

#define VIRTIO_PCI_VENDOR  0x1af4
#define VIRTIO_PCI_DEVICE0 0x1040           /* + virtio device type */
#define VIRTIO_PCI_SUBSYS  0x1100

enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

/* common configuration registers */
enum {
    C_DFSELECT = 0x00, C_DF = 0x04, C_GFSELECT = 0x08, C_GF = 0x0c, C_MSIX = 0x10, C_NUMQ = 0x12,
    C_STATUS = 0x14, C_CFGGEN = 0x15, C_Q_SELECT = 0x16, C_Q_SIZE = 0x18, C_Q_MSIX = 0x1a,
    C_Q_ENABLE = 0x1c, C_Q_NOFF = 0x1e, C_Q_DESCLO = 0x20, C_Q_DESCHI = 0x24, C_Q_AVAILLO = 0x28,
    C_Q_AVAILHI = 0x2c, C_Q_USEDLO = 0x30, C_Q_USEDHI = 0x34, C_SIZE = 0x38,
};

struct doorbell {
    struct virtio_pci *p;
    unsigned q;
    int fd;
    bool taken;                             /* read by the kernel (vhost-net), not by the loop */
};

struct virtio_pci {
    struct pci_func f;
    struct pci_msix msix;
    struct virtio_dev *d;
    struct irq_line intx;
    uint32_t dfsel, gfsel;
    uint16_t qsel;
    uint16_t config_vec, queue_vec[VIRTIO_MAX_QUEUES];
    unsigned cfg_cap;                       /* VIRTIO_PCI_CAP_PCI_CFG offset */
    /* eventfd doorbells (virtio_pci_doorbells); guarded by the host's lock */
    struct loop *loop;
    struct virtio_doorbell_ops db_ops;
    struct doorbell db[VIRTIO_MAX_QUEUES];
    uint64_t db_gpa;                        /* where they are assigned (0: nowhere) */
    /* call eventfds bound to MSI-X vectors in the kernel (call_fd); d->lock */
    struct { int fd; bool bound; uint64_t addr; uint32_t data; } callfd[VIRTIO_MAX_QUEUES];
};

/* ---- interrupts (d->lock held) ---- */
static void intx_update(struct virtio_pci *p)
{
    bool off = pci_func_cfg16(&p->f, PCI_COMMAND) & PCI_COMMAND_INTX_OFF;
    irq_set(&p->intx, p->d->isr && !off && !p->msix.enabled);
}

static void vpci_interrupt(struct virtio_dev *d, unsigned bits, int q)
{
    struct virtio_pci *p = d->transport;
    d->isr |= bits;
    if (p->msix.enabled) {
        if ((bits & VIRTIO_ISR_USED) && q >= 0 && (unsigned)q < d->nvq)
            pci_msix_notify(&p->msix, p->queue_vec[q]);
        if (bits & VIRTIO_ISR_CONFIG)
            pci_msix_notify(&p->msix, p->config_vec);
    }
    intx_update(p);
}
/* ---- call eventfds as irqfds (d->lock held) ----
 * Bound while MSI-X is enabled, the function and the queue's vector are
 * unmasked, with the vector's current address and data; anything else
 * (masked, INTx, no vector) and vessel's own relay of the eventfd, through
 * vpci_interrupt, keeps the PBA and INTx right. Called after every change
 * that may matter: the table, the capability's control word, a queue's
 * vector, a reset, a load. */
static void callfd_sync(struct virtio_pci *p)
{
    const struct msi_line *msi = &p->msix.msi;
    for (unsigned q = 0; msi->bind && q < p->d->nvq; q++) {
        typeof(p->callfd[0]) *c = &p->callfd[q];
        unsigned v = p->queue_vec[q];
        bool want = c->fd >= 0 && p->msix.enabled && !p->msix.fmasked && v < p->msix.nvec &&
                    !(p->msix.table[v][3] & 1);
        uint64_t addr = want ? p->msix.table[v][0] | (uint64_t)p->msix.table[v][1] << 32 : 0;
        uint32_t data = want ? p->msix.table[v][2] : 0;
        if (c->bound && (!want || addr != c->addr || data != c->data)) {
            msi->bind(msi->opaque, c->addr, c->data, c->fd, false);
            c->bound = false;
        }
        if (want && !c->bound) {
            int r = msi->bind(msi->opaque, addr, data, c->fd, true);
            if (r < 0)
                log_once(LOG_WARN, "%s: queue %u's call eventfd as an irqfd: %s (vessel relays it)", p->d->name,
                         q, strerror(-r));
            c->bound = r == 0;
            c->addr = addr;
            c->data = data;
        }
    }
}

static void vpci_call_fd(struct virtio_dev *d, unsigned q, int fd)
{
    struct virtio_pci *p = d->transport;
    if (q >= d->nvq || !p->msix.msi.bind)
        return;
    if (p->callfd[q].bound && p->callfd[q].fd != fd) {
        p->msix.msi.bind(p->msix.msi.opaque, p->callfd[q].addr, p->callfd[q].data, p->callfd[q].fd, false);
        p->callfd[q].bound = false;
    }
    p->callfd[q].fd = fd;
    callfd_sync(p);
}

static int vpci_doorbell_fd(struct virtio_dev *d, unsigned q, bool take);
static const struct virtio_transport_ops pci_tops = {
    .interrupt = vpci_interrupt, .loads_after_device = true, .doorbell_fd = vpci_doorbell_fd,
    .call_fd = vpci_call_fd,
};

static void vectors_reset(struct virtio_pci *p)
{
    p->config_vec = PCI_NO_VECTOR;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        p->queue_vec[i] = PCI_NO_VECTOR;
}

/* ---- common configuration ---- */
static uint64_t half(uint64_t v, bool hi) { return hi ? v >> 32 : (uint32_t)v; }

static uint64_t common_read(struct virtio_pci *p, unsigned off)
{
    struct virtio_dev *d = p->d;
    struct virtq *vq = p->qsel < d->nvq ? &d->vq[p->qsel] : NULL;
    switch (off) {
    case C_DFSELECT: return p->dfsel;
    case C_DF: return p->dfsel < 2 ? half(d->host_features, p->dfsel) : 0;
    case C_GFSELECT: return p->gfsel;
    case C_GF: return p->gfsel < 2 ? half(d->guest_features, p->gfsel) : 0;
    case C_MSIX: return p->config_vec;
    case C_NUMQ: return d->nvq;
    case C_STATUS: return d->status & 0xff;
    case C_CFGGEN: return d->config_gen & 0xff;
    case C_Q_SELECT: return p->qsel;
    case C_Q_SIZE: return vq ? (vq->num ? vq->num : VIRTQ_MAX_SIZE) : 0;
    case C_Q_MSIX: return vq ? p->queue_vec[p->qsel] : PCI_NO_VECTOR;
    case C_Q_ENABLE: return vq ? vq->ready : 0;
    case C_Q_NOFF: return p->qsel;
    case C_Q_DESCLO: case C_Q_DESCHI: return vq ? half(vq->desc_addr, off == C_Q_DESCHI) : 0;
    case C_Q_AVAILLO: case C_Q_AVAILHI: return vq ? half(vq->avail_addr, off == C_Q_AVAILHI) : 0;
    case C_Q_USEDLO: case C_Q_USEDHI: return vq ? half(vq->used_addr, off == C_Q_USEDHI) : 0;
    }
    return 0;
}

static void set_half(uint64_t *a, bool hi, uint32_t v)
{
    *a = hi ? (*a & 0xffffffffULL) | (uint64_t)v << 32 : (*a & ~0xffffffffULL) | v;
}

static uint16_t vector_or_none(struct virtio_pci *p, uint32_t v)
{
    return v < p->msix.nvec ? (uint16_t)v : PCI_NO_VECTOR;   /* a vector we lack reads back NO_VECTOR */
}

/* d->lock held */
static void common_write_locked(struct virtio_pci *p, unsigned off, uint32_t v)
{
    struct virtio_dev *d = p->d;
    struct virtq *vq = p->qsel < d->nvq ? &d->vq[p->qsel] : NULL;
    bool qcfg = vq && !vq->ready;           /* queue registers are writable only while not enabled */
    switch (off) {
    case C_DFSELECT: p->dfsel = v; break;
    case C_GFSELECT: p->gfsel = v; break;
    case C_GF:
        if (p->gfsel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&d->guest_features, p->gfsel, v);
        break;
    case C_MSIX: p->config_vec = vector_or_none(p, v); break;
    case C_Q_SELECT: p->qsel = (uint16_t)v; break;
    case C_Q_SIZE: if (qcfg) vq->num = (uint16_t)v; break;
    case C_Q_MSIX:
        if (vq) {
            p->queue_vec[p->qsel] = vector_or_none(p, v);
            callfd_sync(p);
        }
        break;
    case C_Q_DESCLO: case C_Q_DESCHI: if (qcfg) set_half(&vq->desc_addr, off == C_Q_DESCHI, v); break;
    case C_Q_AVAILLO: case C_Q_AVAILHI: if (qcfg) set_half(&vq->avail_addr, off == C_Q_AVAILHI, v); break;
    case C_Q_USEDLO: case C_Q_USEDHI: if (qcfg) set_half(&vq->used_addr, off == C_Q_USEDHI, v); break;
    default:
        log_guest("%s: write to read-only common configuration register 0x%x", d->name, off);
        break;
    }
}

static void common_write(struct virtio_pci *p, unsigned off, uint32_t v)
{
    struct virtio_dev *d = p->d;
    if (off == C_STATUS) {
        virtio_set_status(d, v & 0xff);
        if ((v & 0xff) == 0) {              /* reset: the vectors too */
            pthread_mutex_lock(&d->lock);
            vectors_reset(p);
            callfd_sync(p);
            pthread_mutex_unlock(&d->lock);
        }
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (off == C_Q_ENABLE) {
        struct virtq *vq = p->qsel < d->nvq ? &d->vq[p->qsel] : NULL;
        unsigned q = p->qsel;
        bool go = vq && v == 1 && !vq->ready;   /* 0 is not the driver's to write; a second 1 must not rewind */
        if (go && !vq->num)
            vq->num = VIRTQ_MAX_SIZE;       /* queue_size left at its reset value */
        pthread_mutex_unlock(&d->lock);
        if (go)
            virtio_queue_enable(d, q);
        return;
    }
    common_write_locked(p, off, v);
    pthread_mutex_unlock(&d->lock);
}

/* Width of the common register at `off` (0: none starts there). The
 * 64-bit queue addresses are taken as 32-bit halves (or whole). */
static unsigned common_width(unsigned off)
{
    switch (off) {
    case C_MSIX: case C_NUMQ: case C_Q_SELECT: case C_Q_SIZE: case C_Q_MSIX: case C_Q_ENABLE: case C_Q_NOFF:
        return 2;
    case C_STATUS: case C_CFGGEN:
        return 1;
    }
    return off < C_SIZE && !(off & 3) ? 4 : 0;
}

/* ---- BAR 0 ---- */
static uint64_t config_read(struct virtio_dev *d, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    pthread_mutex_lock(&d->lock);
    if (off < d->config_len && size <= d->config_len - off)
        memcpy(&v, d->config + off, size);
    pthread_mutex_unlock(&d->lock);
    return v;
}

static uint64_t bar_read(void *opaque, unsigned bar, uint64_t off, unsigned size)
{
    struct virtio_pci *p = opaque;
    struct virtio_dev *d = p->d;
    uint64_t v = 0;
    if (bar != 0)
        return ~0ULL;
    if (off < C_SIZE) {
        unsigned w = common_width((unsigned)off);
        if (size == 8 && w == 4 && (off == C_Q_DESCLO || off == C_Q_AVAILLO || off == C_Q_USEDLO)) {
            pthread_mutex_lock(&d->lock);
            v = common_read(p, (unsigned)off) | common_read(p, (unsigned)off + 4) << 32;
            pthread_mutex_unlock(&d->lock);
        } else if (w == size) {
            pthread_mutex_lock(&d->lock);
            v = common_read(p, (unsigned)off);
            pthread_mutex_unlock(&d->lock);
        } else {
            log_guest("%s: common configuration read of size %u at 0x%x", d->name, size, (unsigned)off);
        }
    } else if (off == VIRTIO_PCI_ISR_OFF) {
        pthread_mutex_lock(&d->lock);       /* reading the ISR acknowledges it */
        v = d->isr;
        d->isr = 0;
        intx_update(p);
        pthread_mutex_unlock(&d->lock);
    } else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
        v = config_read(d, off - VIRTIO_PCI_DEVICE_OFF, size);
    } else {
        pthread_mutex_lock(&d->lock);
        if (!pci_msix_bar_read(&p->msix, bar, off, size, &v))
            v = 0;
        pthread_mutex_unlock(&d->lock);
    }
    return v;
}

static void bar_write(void *opaque, unsigned bar, uint64_t off, uint64_t val, unsigned size)
{
    struct virtio_pci *p = opaque;
    struct virtio_dev *d = p->d;
    if (bar != 0)
        return;
    if (off < C_SIZE) {
        unsigned w = common_width((unsigned)off);
        if (size == 8 && w == 4 && (off == C_Q_DESCLO || off == C_Q_AVAILLO || off == C_Q_USEDLO)) {
            common_write(p, (unsigned)off, (uint32_t)val);
            common_write(p, (unsigned)off + 4, (uint32_t)(val >> 32));
        } else if (w == size) {
            common_write(p, (unsigned)off, (uint32_t)val);
        } else {
            log_guest("%s: common configuration write of size %u at 0x%x", d->name, size, (unsigned)off);
        }
    } else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * d->nvq) {
        unsigned q = (unsigned)(off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;
        if (d->ops->notify)
            d->ops->notify(d, q);
    } else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
        off -= VIRTIO_PCI_DEVICE_OFF;
        pthread_mutex_lock(&d->lock);
        if (off < d->config_len && size <= d->config_len - off && d->ops->config_write)
            d->ops->config_write(d, (unsigned)off, &val, size);
        pthread_mutex_unlock(&d->lock);
    } else {
        pthread_mutex_lock(&d->lock);
        if (!pci_msix_bar_write(&p->msix, bar, off, val, size) && off != VIRTIO_PCI_ISR_OFF)
            log_guest("%s: BAR 0 write of size %u at 0x%llx: nothing there", d->name, size,
                      (unsigned long long)off);
        callfd_sync(p);
        pthread_mutex_unlock(&d->lock);
    }
}

/* ---- config space hooks (the host's lock held) ---- */
static uint32_t cap32(const struct virtio_pci *p, unsigned off)
{
    const uint8_t *c = p->f.cfg + off;
    return (uint32_t)c[0] | c[1] << 8 | c[2] << 16 | (uint32_t)c[3] << 24;
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: `length` bytes at `offset` of `bar`,
 * through its data field. false when the window is set up badly. */
static bool cfg_window(const struct virtio_pci *p, unsigned *bar, uint64_t *off, unsigned *len)
{
    *bar = p->f.cfg[p->cfg_cap + 4];
    *off = cap32(p, p->cfg_cap + 8);
    *len = cap32(p, p->cfg_cap + 12);
    return *bar == 0 && (*len == 1 || *len == 2 || *len == 4) && !(*off & (*len - 1)) &&
           *off + *len <= VIRTIO_PCI_BAR_SIZE;
}

static bool in_data(const struct virtio_pci *p, unsigned off, unsigned size)
{
    unsigned data = p->cfg_cap + 16;
    return off < data + 4 && off + size > data;
}

static bool vpci_cfg_read(void *opaque, unsigned off, unsigned size, uint32_t *val)
{
    struct virtio_pci *p = opaque;
    unsigned bar, len;
    uint64_t o;
    if (!in_data(p, off, size))
        return false;
    *val = 0;
    if (off == p->cfg_cap + 16 && cfg_window(p, &bar, &o, &len))
        *val = (uint32_t)bar_read(p, bar, o, len);
    return true;
}

/* ---- eventfd doorbells ---- */
static void db_assign_all(struct virtio_pci *p, uint64_t gpa, bool on)
{
    for (unsigned q = 0; q < p->d->nvq; q++) {
        int r = p->db_ops.assign(p->db_ops.opaque, gpa + VIRTIO_PCI_NOTIFY_MULT * q, 2, p->db[q].fd, on);
        if (r < 0 && on)
            log_once(LOG_WARN, "%s: eventfd doorbell at 0x%llx: %s (notifications stay MMIO exits)",
                     p->d->name, (unsigned long long)(gpa + VIRTIO_PCI_NOTIFY_MULT * q), strerror(-r));
    }
}

/* BAR 0 moved or decoding changed: move the doorbells with it. */
static void db_update(struct virtio_pci *p)
{
    if (!p->db_ops.assign)
        return;
    uint64_t bar = pci_func_bar_addr(&p->f, 0);
    uint64_t gpa = (pci_func_cfg16(&p->f, PCI_COMMAND) & PCI_COMMAND_MEMORY) && bar ? bar + VIRTIO_PCI_NOTIFY_OFF : 0;
    if (gpa == p->db_gpa)
        return;
    if (p->db_gpa)
        db_assign_all(p, p->db_gpa, false);
    p->db_gpa = gpa;
    if (gpa)
        db_assign_all(p, gpa, true);
}

static void db_ready(void *opaque, int fd, uint32_t events)
{
    struct doorbell *b = opaque;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) == sizeof(n) && b->p->d->ops->notify)
        b->p->d->ops->notify(b->p->d, b->q);
}

int virtio_pci_doorbells(struct virtio_pci *p, struct loop *loop, const struct virtio_doorbell_ops *ops)
{
    p->loop = loop;                         /* for destroy, whatever happens below */
    for (unsigned q = 0; q < p->d->nvq; q++) {
        p->db[q] = (struct doorbell){ p, q, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
        if (p->db[q].fd < 0 || loop_add_fd(loop, p->db[q].fd, EPOLLIN, db_ready, &p->db[q]) < 0) {
            int e = errno ? errno : EINVAL;
            log_error("%s: eventfd doorbell: %s", p->d->name, strerror(e));
            return -e;
        }
    }
    p->db_ops = *ops;
    db_update(p);
    return 0;
}

/* d->lock held; the loop's calls are thread-safe */
static int vpci_doorbell_fd(struct virtio_dev *d, unsigned q, bool take)
{
    struct virtio_pci *p = d->transport;
    if (!p->db_ops.assign || q >= d->nvq || p->db[q].fd <= 0)
        return -1;
    struct doorbell *b = &p->db[q];
    if (take && !b->taken)
        loop_del_fd(p->loop, b->fd);
    else if (!take && b->taken && loop_add_fd(p->loop, b->fd, EPOLLIN, db_ready, b) < 0)
        log_error("%s: doorbell %u: the event loop refused it back", d->name, q);
    b->taken = take;
    return b->fd;
}

void virtio_pci_doorbells_reassign(struct virtio_pci *p)
{
    if (p->db_ops.assign && p->db_gpa)
        db_assign_all(p, p->db_gpa, true);
}

static void vpci_cfg_written(void *opaque, unsigned off, unsigned size)
{
    struct virtio_pci *p = opaque;
    struct virtio_dev *d = p->d;
    unsigned bar, len;
    uint64_t o;
    if (in_data(p, off, size)) {
        if (off == p->cfg_cap + 16 && cfg_window(p, &bar, &o, &len))
            bar_write(p, bar, o, cap32(p, p->cfg_cap + 16), len);
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (off <= p->msix.cap + 3 && off + size > p->msix.cap + 2)
        pci_msix_cfg_written(&p->msix);
    intx_update(p);                         /* INTx disable, MSI-X enable */
    callfd_sync(p);
    pthread_mutex_unlock(&d->lock);
    if (off < PCI_BAR0 + 8 && off + size > PCI_COMMAND)
        db_update(p);                       /* the command register or BAR 0 */
}

static void vpci_reset(void *opaque)
{
    struct virtio_pci *p = opaque;
    struct virtio_dev *d = p->d;
    pthread_mutex_lock(&d->lock);
    p->dfsel = p->gfsel = 0;
    p->qsel = 0;
    vectors_reset(p);
    pci_msix_reset(&p->msix);
    intx_update(p);
    callfd_sync(p);
    pthread_mutex_unlock(&d->lock);
    db_update(p);                           /* the BAR is back where vessel placed it */
}

static const struct pci_func_ops vpci_ops = {
    .bar_read = bar_read, .bar_write = bar_write, .cfg_read = vpci_cfg_read,
    .cfg_written = vpci_cfg_written, .reset = vpci_reset,
};

/* ---- snapshot ---- */
void virtio_pci_save(struct virtio_pci *p, struct virtio_pci_state *st)
{
    struct virtio_dev *d = p->d;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&d->lock);
    memcpy(st->cfg, p->f.cfg, PCI_CFG_SIZE);
    memcpy(st->msix_table, p->msix.table, sizeof(st->msix_table));
    st->msix_pba = p->msix.pba;
    st->nvq = d->nvq;
    st->nvec = p->msix.nvec;
    st->dfsel = p->dfsel;
    st->gfsel = p->gfsel;
    st->qsel = p->qsel;
    st->config_vec = p->config_vec;
    memcpy(st->queue_vec, p->queue_vec, sizeof(st->queue_vec));
    pthread_mutex_unlock(&d->lock);
}

/* A state this function could be in: same shape, read-only config bits
 * unchanged (but the status register, which the function updates), every
 * vector one it has or none. */
static bool state_fits(const struct virtio_pci *p, const struct virtio_pci_state *st)
{
    if (st->nvq != p->d->nvq || st->nvec != p->msix.nvec || st->reserved ||
        (st->config_vec != PCI_NO_VECTOR && st->config_vec >= p->msix.nvec))
        return false;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (st->queue_vec[q] != PCI_NO_VECTOR && (q >= st->nvq || st->queue_vec[q] >= p->msix.nvec))
            return false;
    for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
        if (i != PCI_STATUS && i != PCI_STATUS + 1 && ((st->cfg[i] ^ p->f.cfg_init[i]) & ~p->f.wmask[i]))
            return false;
    return true;
}

int virtio_pci_load(struct virtio_pci *p, const struct virtio_pci_state *st)
{
    struct virtio_dev *d = p->d;
    if (!state_fits(p, st))
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    memcpy(p->f.cfg, st->cfg, PCI_CFG_SIZE);
    pci_msix_load(&p->msix, st->msix_table, st->msix_pba);
    p->dfsel = st->dfsel;
    p->gfsel = st->gfsel;
    p->qsel = st->qsel;
    p->config_vec = st->config_vec;
    memcpy(p->queue_vec, st->queue_vec, sizeof(p->queue_vec));
    intx_update(p);
    callfd_sync(p);
    /* MSI-X is edge: a completion signalled between the moment the saved
     * CPU state was read and the moment the used ring was copied is in the
     * ring but in no LAPIC. Signal every live queue's vector once (a pending
     * bit if it is masked); a driver that finds nothing new ignores it, one
     * that waits on that completion would otherwise wait for ever (INTx and
     * virtio-mmio are level: intx_update above re-raises them). */
    if (p->msix.enabled && (d->status & VIRTIO_STATUS_DRIVER_OK))
        for (unsigned q = 0; q < d->nvq; q++)
            if (d->vq[q].ready && p->queue_vec[q] < p->msix.nvec)
                pci_msix_notify(&p->msix, p->queue_vec[q]);
    pthread_mutex_unlock(&d->lock);
    db_update(p);                           /* ioeventfds where BAR 0 is now */
    virtio_dev_kick(d);
    return 0;
}

/* ---- building ---- */
static unsigned add_vcap(struct pci_func *f, uint8_t type, unsigned len, uint32_t off, uint32_t size)
{
    unsigned at = pci_func_add_cap(f, PCI_CAP_ID_VNDR, len);
    if (!at)
        return 0;
    f->cfg[at + 2] = (uint8_t)len;
    f->cfg[at + 3] = type;
    f->cfg[at + 4] = 0;                     /* BAR 0 */
    for (int i = 0; i < 4; i++) {
        f->cfg[at + 8 + i] = (uint8_t)(off >> (8 * i));
        f->cfg[at + 12 + i] = (uint8_t)(size >> (8 * i));
    }
    return at;
}

static uint32_t class_of(uint32_t id)
{
    switch (id) {
    case VIRTIO_ID_NET: return 0x020000;        /* ethernet */
    case VIRTIO_ID_BLOCK: return 0x018000;      /* other mass storage */
    case VIRTIO_ID_CONSOLE: return 0x078000;    /* other communication */
    default: return 0xff0000;
    }
}

struct virtio_pci *virtio_pci_create(struct pci_host *host, struct irq_line intx, struct msi_line msi,
                                     struct guest_mem *mem, struct virtio_dev *dev)
{
    struct virtio_pci *p = xzalloc(sizeof(*p));
    struct pci_func *f = &p->f;
    p->d = dev;
    p->intx = intx;
    vectors_reset(p);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        p->callfd[q].fd = -1;
    pci_func_init(f, dev->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE0 + dev->device_id),
                  class_of(dev->device_id), 1, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS, &vpci_ops, p);
    f->cfg[PCI_INTERRUPT_LINE] = (uint8_t)intx.n;
    unsigned notify, cfgc;
    int r = pci_func_add_bar64(f, 0, VIRTIO_PCI_BAR_SIZE);
    if (r == 0 && (!add_vcap(f, CAP_COMMON, 16, VIRTIO_PCI_COMMON_OFF, C_SIZE) ||
                   !(notify = add_vcap(f, CAP_NOTIFY, 20, VIRTIO_PCI_NOTIFY_OFF,
                                       VIRTIO_PCI_NOTIFY_MULT * dev->nvq)) ||
                   !add_vcap(f, CAP_ISR, 16, VIRTIO_PCI_ISR_OFF, 4) ||
                   !add_vcap(f, CAP_DEVICE, 16, VIRTIO_PCI_DEVICE_OFF, dev->config_len ? dev->config_len : 4) ||
                   !(cfgc = add_vcap(f, CAP_PCI_CFG, 20, 0, 0))))
        r = -ENOSPC;
    if (r == 0) {
        f->cfg[notify + 16] = VIRTIO_PCI_NOTIFY_MULT;
        p->cfg_cap = cfgc;
        memset(f->wmask + cfgc + 4, 0xff, 1);   /* bar */
        memset(f->wmask + cfgc + 8, 0xff, 12);  /* offset, length, data */
        r = pci_msix_init(&p->msix, f, dev->nvq + 1, 0, VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF, msi);
    }
    if (r == 0 && host && (r = pci_host_add(host, f)) >= 0)
        r = 0;
    if (r < 0) {
        log_error("%s: cannot put it on the PCI bus: %s", dev->name, strerror(-r));
        free(p);
        return NULL;
    }
    if (!host)
        memcpy(f->cfg_init, f->cfg, PCI_CFG_SIZE);
    dev->mem = mem;
    dev->transport = p;
    dev->tops = &pci_tops;
    return p;
}

struct pci_func *virtio_pci_func(struct virtio_pci *p)
{
    return &p->f;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
    if (!p)
        return;
    /* a hot-unplugged device's doorbells leave the VM (the device itself
     * may be gone already: only the transport's own fields here) */
    for (unsigned q = 0; p->db_ops.assign && p->db_gpa && q < VIRTIO_MAX_QUEUES; q++)
        if (p->db[q].fd > 0)
            p->db_ops.assign(p->db_ops.opaque, p->db_gpa + VIRTIO_PCI_NOTIFY_MULT * q, 2, p->db[q].fd, false);
    for (unsigned q = 0; p->loop && q < VIRTIO_MAX_QUEUES; q++)
        if (p->db[q].fd > 0) {
            if (!p->db[q].taken)
                loop_del_fd(p->loop, p->db[q].fd);
            close(p->db[q].fd);
        }
    free(p);
}

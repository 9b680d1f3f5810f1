/* machine: PCI hotplug of virtio devices (machine.h, "PCI hotplug"): QMP
 * device_add builds a virtio-blk or virtio-net device as a virtio-pci
 * function in a free slot of the engine's PCI host bridge and has the
 * engine tell the guest (ACPI on vessel kvm); device_del asks the guest;
 * the guest's eject (machine_pci_ejected, a vCPU thread) takes the
 * function off the bus at once, and the I/O thread stops and frees the
 * device and emits DEVICE_DELETED. Boot devices (--disk, --net) stay. */
#include "machine/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ERR(...) ((void)snprintf(err, errlen, __VA_ARGS__))

struct machine_hotdev {
    char *id;
    unsigned slot;
    const struct virtio_kind *kind;
    void *data;                     /* the kind's options (struct disk_opts, struct net_opts) */
    void *inst;
    struct virtio_dev *dev;
    struct virtio_pci *vpci;
};

static const struct virtio_kind *kind_named(const char *option)
{
    for (unsigned i = 0; virtio_kind_at(i); i++)
        if (!strcmp(virtio_kind_at(i)->option, option))
            return virtio_kind_at(i);
    return NULL;
}

/* Stop the device (no worker touches a queue, no interrupt is sent any
 * more), then its transport (doorbells out of the VM), then the device. */
static void hotdev_free(struct machine_hotdev *h)
{
    if (h->dev)
        virtio_reset(h->dev);
    virtio_pci_destroy(h->vpci);
    if (h->inst)
        h->kind->destroy(h->inst);
    free(h->data);
    free(h->id);
    free(h);
}

/* ---- the I/O thread: free what the guest ejected ---- */
static void ejected_run(void *opaque)
{
    struct machine *m = opaque;
    uint32_t bits = __atomic_exchange_n(&m->hp_ejected, 0, __ATOMIC_ACQ_REL);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        if (!(bits >> s & 1))
            continue;
        pthread_mutex_lock(&m->hp_lock);
        struct machine_hotdev *h = m->hot[s];
        m->hot[s] = NULL;
        pthread_mutex_unlock(&m->hp_lock);
        if (!h)
            continue;
        char *id = xstrdup(h->id);
        hotdev_free(h);
        log_info("device %s (PCI slot %u) unplugged", id, s);
        machine_emit(m, MACHINE_EV_DEVICE_DELETED, true, id);
        free(id);
    }
}

void machine_pci_ejected(struct machine *m, unsigned slot)
{
    if (slot == 0 || slot >= PCI_MAX_SLOTS || !m->have_vlayout || !m->vlayout.pci)
        return;
    pci_host_remove(m->vlayout.pci, slot);
    __atomic_fetch_or(&m->hp_ejected, 1u << slot, __ATOMIC_ACQ_REL);
    loop_event_notify(m->hp_ev);
}

int machine_hotdevs_init(struct machine *m)
{
    if (!m->vlayout.pci || m->hp_ev)
        return 0;
    m->hp_ev = loop_event_new(m->loop, ejected_run, m);
    return m->hp_ev ? 0 : -ENOMEM;
}

/* ---- the machine's walks ---- */
void machine_hotdevs_reset(struct machine *m)
{
    pthread_mutex_lock(&m->hp_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        if (m->hot[s])
            virtio_reset(m->hot[s]->dev);
    pthread_mutex_unlock(&m->hp_lock);
}

void machine_hotdevs_pause(struct machine *m, bool pause)
{
    pthread_mutex_lock(&m->hp_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        if (m->hot[s])
            (pause ? virtio_dev_pause : virtio_dev_resume)(m->hot[s]->dev);
    pthread_mutex_unlock(&m->hp_lock);
}

void machine_hotdevs_free(struct machine *m)
{
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
        if (m->hot[s])
            hotdev_free(m->hot[s]);
        m->hot[s] = NULL;
    }
    loop_event_free(m->hp_ev);
    m->hp_ev = NULL;
}

unsigned machine_hotplug_count(struct machine *m)
{
    unsigned n = 0;
    pthread_mutex_lock(&m->hp_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        n += m->hot[s] != NULL;
    pthread_mutex_unlock(&m->hp_lock);
    return n;
}

/* With hp_lock: a hot-plugged device of this id. */
static struct machine_hotdev *hot_named(struct machine *m, const char *id)
{
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        if (m->hot[s] && !strcmp(m->hot[s]->id, id))
            return m->hot[s];
    return NULL;
}

bool machine_hot_id_taken(struct machine *m, const char *id)
{
    pthread_mutex_lock(&m->hp_lock);
    bool taken = hot_named(m, id) != NULL;
    pthread_mutex_unlock(&m->hp_lock);
    return taken;
}

/* ---- device_add ---- */
/* The disk's image is not one a boot or hot-plugged disk uses already,
 * and can be opened as asked. */
static int disk_check(struct machine *m, const struct disk_opts *d, char *err, size_t errlen)
{
    struct virtio_block_info bi;
    for (unsigned i = 0; m->virtio && virtio_board_block_info(m->virtio, i, &bi) == 0; i++)
        if (!strcmp(bi.file, d->path))
            return ERR("'file' %s: disk %s uses that image already", d->path, bi.id), -EBUSY;
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        if (m->hot[s] && m->hot[s]->kind == &virtio_blk_kind &&
            !strcmp(((const struct disk_opts *)m->hot[s]->data)->path, d->path))
            return ERR("'file' %s: disk %s uses that image already", d->path, m->hot[s]->id), -EBUSY;
    if (access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0) {
        int e = errno;
        return ERR("'file' %s: %s", d->path, strerror(e)), -e;
    }
    return 0;
}

/* The slot: d->slot if it can take a device, else the first free one. */
static int pick_slot(struct machine *m, const struct machine_pci_device *d, char *err, size_t errlen)
{
    unsigned n = m->vlayout.nslots;
    if (d->slot) {
        if (d->slot > n)
            return ERR("'addr' 0x%x: this machine's hot-pluggable PCI slots are 0x1-0x%x", d->slot, n), -EINVAL;
        if (m->hot[d->slot] || pci_host_slot_used(m->vlayout.pci, d->slot))
            return ERR("'addr' 0x%x: PCI slot %u is taken", d->slot, d->slot), -EBUSY;
        return (int)d->slot;
    }
    for (unsigned s = 1; s <= n; s++)
        if (!m->hot[s] && !pci_host_slot_used(m->vlayout.pci, s))
            return (int)s;
    return ERR("no free PCI slot (%u in all)", n), -ENOSPC;
}

/* With ctl_lock and hp_lock: build the device and its function in `slot`. */
static int hotdev_build(struct machine *m, struct machine_hotdev *h, char *err, size_t errlen)
{
    struct virtio_host host = { .loop = m->loop };
    h->inst = h->kind->create(h->data, h->slot, &host, &h->dev);
    if (!h->inst)
        return ERR("%s: the device could not be made (vessel's log says why)", h->id), -EIO;
    const struct machine_virtio_layout *l = &m->vlayout;
    h->vpci = virtio_pci_create(NULL, l->irq_for(l->opaque, h->slot - 1), l->msi, &m->mem, h->dev);
    if (!h->vpci)
        return ERR("%s: cannot make its PCI function", h->id), -EIO;
    int r = pci_host_add_at(l->pci, virtio_pci_func(h->vpci), h->slot);
    if (r < 0)
        return ERR("%s: PCI slot %u: %s", h->id, h->slot, r == -ENOSPC ? "no room for its BAR in the PCI window"
                                                                       : strerror(-r)), r;
    if (l->doorbells && virtio_pci_doorbells(h->vpci, m->loop, l->doorbells) < 0)
        log_warn("%s: notifications stay MMIO exits", h->id);
    return 0;
}

static int device_add_locked(struct machine *m, const struct machine_pci_device *d, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->lock);
    int r = m->stopping ? -ESHUTDOWN : machine_id_taken(m, d->id) ? -EEXIST : 0;
    bool paused = m->status == MACHINE_PAUSED;
    pthread_mutex_unlock(&m->lock);
    if (r == -EEXIST)
        return ERR("Duplicate device ID '%s'", d->id), r;
    if (r)
        return ERR("the machine is shutting down"), r;
    struct machine_hotdev *h = xzalloc(sizeof(*h));
    h->id = xstrdup(d->id);
    h->kind = kind_named(d->option);
    pthread_mutex_lock(&m->hp_lock);
    if (!h->kind)
        ERR("%s: no such virtio device", d->driver), r = -EINVAL;
    else if (h->kind == &virtio_blk_kind) {
        struct disk_opts *o = xmalloc(sizeof(*o));
        *o = d->disk;
        if (!o->id[0])
            snprintf(o->id, sizeof(o->id), "%.20s", d->id);    /* the disk's serial */
        h->data = o;
        r = disk_check(m, o, err, errlen);
    } else if (h->kind->parse(d->net, &h->data) < 0) {
        ERR("Parameter 'net' expects what --net takes (user[,hostfwd=...] or tap,ifname=NAME): '%.200s'",
            d->net), r = -EINVAL;
    }
    if (r == 0 && (r = pick_slot(m, d, err, errlen)) > 0) {
        h->slot = (unsigned)r;
        r = hotdev_build(m, h, err, errlen);
    }
    if (r == 0) {
        if (paused)
            virtio_dev_pause(h->dev);       /* the machine's resume resumes it */
        m->hot[h->slot] = h;
    }
    pthread_mutex_unlock(&m->hp_lock);
    if (r == 0 && (r = m->eops->pci_hotplug(m->eng, h->slot, true)) < 0) {
        if (r == -EOPNOTSUPP)
            ERR("device_add of '%s': PCI hotplug needs ACPI (vessel kvm without --no-acpi)", d->driver);
        else
            ERR("%s: PCI slot %u cannot be announced to the guest: %s", d->id, h->slot, strerror(-r));
        pthread_mutex_lock(&m->hp_lock);
        m->hot[h->slot] = NULL;
        pthread_mutex_unlock(&m->hp_lock);
    }
    if (r < 0) {
        if (h->vpci)
            pci_host_remove(m->vlayout.pci, h->slot);
        hotdev_free(h);
        return r;
    }
    log_info("device %s (%s) plugged in PCI slot %u", d->id, d->driver, h->slot);
    return 0;
}

int machine_device_add(struct machine *m, const struct machine_pci_device *d, char *err, size_t errlen)
{
    if (!m->have_vlayout || !m->vlayout.pci)
        return ERR("device_add of '%s': this machine's virtio devices are on virtio-mmio, which has no hotplug "
                   "(vessel kvm with virtio-pci, its default transport, has)", d->driver), -ENOTSUP;
    if (!m->eops || !m->eops->pci_hotplug)
        return ERR("device_add of '%s': PCI hotplug needs ACPI (vessel kvm without --no-acpi)", d->driver),
               -ENOTSUP;
    if (!d->id || !*d->id)
        return ERR("device_add of '%s' needs an 'id' (device_del names it)", d->driver), -EINVAL;
    if (replicate_busy(m))
        return ERR("device_add of '%s': the machine is being replicated (query-replication): a hot-plugged "
                   "device is not (stop replicating first)", d->driver), -EBUSY;
    /* a slot the guest ejected is freed first (the I/O thread would do it
     * next): its doorbells must leave the VM before a new BAR may go there */
    if (loop_on_thread(m->loop))
        ejected_run(m);
    pthread_mutex_lock(&m->ctl_lock);       /* no pause, reset or other plug meanwhile */
    int r = device_add_locked(m, d, err, errlen);
    pthread_mutex_unlock(&m->ctl_lock);
    return r;
}

/* ---- device_del ---- */
int machine_device_del(struct machine *m, const char *id, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->hp_lock);
    struct machine_hotdev *h = hot_named(m, id);
    unsigned slot = h ? h->slot : 0;
    pthread_mutex_unlock(&m->hp_lock);
    if (!h) {
        struct virtio_block_info bi;
        for (unsigned i = 0; m->virtio && virtio_board_block_info(m->virtio, i, &bi) == 0; i++)
            if (!strcmp(bi.id, id))
                return ERR("Device '%s' was given on the command line (--disk): vessel unplugs only devices "
                           "device_add plugged", id), -EPERM;
        return -ENOENT;
    }
    int r = m->eops && m->eops->pci_hotplug ? m->eops->pci_hotplug(m->eng, slot, false) : -ENOTSUP;
    if (r == -ENOENT)
        ERR("Device '%s' is being removed already", id);
    else if (r < 0)
        ERR("Device '%s': %s", id, strerror(-r));
    return r == -ENOENT ? -EBUSY : r;
}

int machine_set_memdev(struct machine *m, struct virtio_mem *d)
{
    if (m->memdev)
        return -EEXIST;
    m->memdev = d;
    return 0;
}

struct virtio_mem *machine_memdev(struct machine *m)
{
    return m->memdev;
}

/* ---- queries ---- */
int machine_pci_info(struct machine *m, unsigned slot, struct machine_pci_info *out)
{
    if (!m->have_vlayout || !m->vlayout.pci)
        return -ENODEV;
    memset(out, 0, sizeof(*out));
    int r = pci_host_slot_info(m->vlayout.pci, slot, &out->s);
    if (r == 0 && slot < PCI_MAX_SLOTS) {
        pthread_mutex_lock(&m->hp_lock);
        if (m->hot[slot])
            snprintf(out->id, sizeof(out->id), "%s", m->hot[slot]->id);
        pthread_mutex_unlock(&m->hp_lock);
    }
    return r;
}

/* The hot-plugged disks after the boot ones (machine_block_info). */
unsigned machine_hot_nblock(struct machine *m)
{
    unsigned n = 0;
    pthread_mutex_lock(&m->hp_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        n += m->hot[s] && m->hot[s]->kind->block_info;
    pthread_mutex_unlock(&m->hp_lock);
    return n;
}

int machine_hot_block_info(struct machine *m, unsigned i, struct machine_block_info *bi)
{
    int r = -ENOENT;
    pthread_mutex_lock(&m->hp_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS && r; s++) {
        struct machine_hotdev *h = m->hot[s];
        if (h && h->kind->block_info && i-- == 0) {
            struct virtio_block_info vb = { 0 };
            h->kind->block_info(h->inst, h->data, &vb);
            *bi = (struct machine_block_info){ h->id, vb.file, vb.readonly, vb.direct, vb.size };
            r = 0;
        }
    }
    pthread_mutex_unlock(&m->hp_lock);
    return r;
}

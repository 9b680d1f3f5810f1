/* Build the virtio devices a command line asked for and map them on a bus. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

#define BOARD_MAX (VIRTIO_OPT_MAX_DISKS + VIRTIO_OPT_MAX_NETS + 2)

struct virtio_board {
    struct loop *loop;
    unsigned n;
    struct {
        uint64_t base;
        struct virtio_mmio *mmio;
        struct virtio_blk *blk;
        struct virtio_net *net;
        struct net_backend *be;
        struct virtio_rng *rng;
        struct virtio_console *con;
    } slot[BOARD_MAX];
};

int virtio_options_add(struct virtio_options *o, const char *name, const char *val)
{
    if (strcmp(name, "disk") == 0) {
        if (o->ndisks >= VIRTIO_OPT_MAX_DISKS) {
            log_error("--disk %s: at most %d disks", val, VIRTIO_OPT_MAX_DISKS);
            return -EINVAL;
        }
        if (virtio_parse_disk(val, &o->disk[o->ndisks]) < 0)
            return -EINVAL;
        o->ndisks++;
        return 1;
    }
    if (strcmp(name, "net") == 0) {
        if (o->nnets >= VIRTIO_OPT_MAX_NETS) {
            log_error("--net %s: at most %d network devices", val, VIRTIO_OPT_MAX_NETS);
            return -EINVAL;
        }
        if (virtio_parse_net(val, &o->net[o->nnets]) < 0)
            return -EINVAL;
        o->nnets++;
        return 1;
    }
    if (strcmp(name, "rng") == 0) {
        o->rng = true;
        return 1;
    }
    if (strcmp(name, "console") == 0) {
        o->console = true;
        return 1;
    }
    return 0;
}

static int add_slot(struct virtio_board *b, struct virtio_dev *d, struct bus *bus, struct guest_mem *mem,
                    uint64_t base, uint64_t stride, struct irq_line (*irq_for)(void *, unsigned), void *opaque)
{
    unsigned i = b->n;
    b->slot[i].base = base + i * stride;
    b->slot[i].mmio = virtio_mmio_create(bus, b->slot[i].base, irq_for(opaque, i), mem, d);
    if (!b->slot[i].mmio)
        return -EINVAL;
    b->n++;
    return 0;
}

struct virtio_board *virtio_board_create(const struct virtio_options *o, const struct virtio_console_port *con,
                                         struct bus *bus, struct guest_mem *mem,
                                         uint64_t base, uint64_t stride,
                                         struct irq_line (*irq_for)(void *opaque, unsigned i), void *opaque)
{
    struct virtio_board *b = xzalloc(sizeof(*b));
    if (o->nnets) {
        b->loop = loop_new();
        if (!b->loop)
            goto fail;
    }
    for (unsigned i = 0; i < o->ndisks; i++) {
        struct blk_image *img;
        const struct disk_opts *d = &o->disk[i];
        for (unsigned j = 0; j < i; j++)
            if (strcmp(o->disk[j].path, d->path) == 0) {
                log_error("--disk %s: the same image is given twice", d->path);
                goto fail;
            }
        if (blk_image_open(d->path, d->readonly, d->direct, &img) < 0)
            goto fail;
        char id[21];
        if (d->id[0])
            snprintf(id, sizeof(id), "%s", d->id);
        else
            snprintf(id, sizeof(id), "vd%c", 'a' + i);
        b->slot[b->n].blk = virtio_blk_create(img, id, 4);
        if (add_slot(b, virtio_blk_dev(b->slot[b->n].blk), bus, mem, base, stride, irq_for, opaque) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < o->nnets; i++) {
        const struct net_opts *n = &o->net[i];
        struct net_backend *be = n->kind == NET_USER ? net_slirp_create(b->loop, n->fwd, n->nfwd)
                                                     : net_tap_create(b->loop, n->ifname);
        if (!be)
            goto fail;
        uint8_t mac[6];
        memcpy(mac, n->mac, 6);
        if (!n->mac_set)
            mac[5] = (uint8_t)(mac[5] + i);
        b->slot[b->n].be = be;
        b->slot[b->n].net = virtio_net_create(mac, be, b->loop);
        if (add_slot(b, virtio_net_dev(b->slot[b->n].net), bus, mem, base, stride, irq_for, opaque) < 0)
            goto fail;
    }
    if (o->rng) {
        b->slot[b->n].rng = virtio_rng_create();
        if (add_slot(b, virtio_rng_dev(b->slot[b->n].rng), bus, mem, base, stride, irq_for, opaque) < 0)
            goto fail;
    }
    if (o->console) {
        b->slot[b->n].con = virtio_console_create(*con);
        if (add_slot(b, virtio_console_dev(b->slot[b->n].con), bus, mem, base, stride, irq_for, opaque) < 0)
            goto fail;
    }
    if (b->loop && loop_start(b->loop) < 0)
        goto fail;
    return b;
fail:
    /* the slot being built may hold a device that was not mapped */
    if (b->n < BOARD_MAX)
        b->n++;
    virtio_board_destroy(b);
    return NULL;
}

unsigned virtio_board_count(const struct virtio_board *b) { return b->n; }

void virtio_board_slot(const struct virtio_board *b, unsigned i, uint64_t *base, unsigned *irq_index)
{
    *base = b->slot[i].base;
    *irq_index = i;
}

struct virtio_console *virtio_board_console(struct virtio_board *b)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->slot[i].con)
            return b->slot[i].con;
    return NULL;
}

struct virtio_dev *virtio_board_dev(struct virtio_board *b, unsigned i)
{
    if (b->slot[i].blk)
        return virtio_blk_dev(b->slot[i].blk);
    if (b->slot[i].net)
        return virtio_net_dev(b->slot[i].net);
    if (b->slot[i].rng)
        return virtio_rng_dev(b->slot[i].rng);
    return virtio_console_dev(b->slot[i].con);
}

/* Disks fill the first slots, in --disk order. */
const char *virtio_board_disk_id(const struct virtio_board *b, unsigned i)
{
    return i < b->n && b->slot[i].blk ? virtio_blk_id(b->slot[i].blk) : "";
}

uint64_t virtio_board_disk_size(const struct virtio_board *b, unsigned i)
{
    return i < b->n && b->slot[i].blk ? virtio_blk_size(b->slot[i].blk) : 0;
}

int virtio_board_cmdline(const struct virtio_board *b, unsigned first_irq, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = 0;
    for (unsigned i = 0; i < b->n; i++) {
        int r = snprintf(buf + off, len - off, "%svirtio_mmio.device=%u@0x%llx:%u", i ? " " : "",
                         VIRTIO_MMIO_SIZE, (unsigned long long)b->slot[i].base, first_irq + i);
        if (r < 0 || (size_t)r >= len - off)
            return -ENOSPC;
        off += r;
    }
    return (int)off;
}

void virtio_board_destroy(struct virtio_board *b)
{
    if (!b)
        return;
    if (b->loop)
        loop_stop(b->loop);
    for (unsigned i = 0; i < b->n; i++) {
        virtio_blk_destroy(b->slot[i].blk);
        virtio_net_destroy(b->slot[i].net);
        net_backend_destroy(b->slot[i].be);
        virtio_rng_destroy(b->slot[i].rng);
        virtio_console_destroy(b->slot[i].con);
        if (b->slot[i].mmio)
            virtio_mmio_destroy(b->slot[i].mmio);
    }
    loop_free(b->loop);
    free(b);
}

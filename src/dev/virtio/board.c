/* The virtio devices a command line asks for: the table of device kinds,
 * the option list, and building them onto a bus. A new virtio device is
 * its own file (with its struct virtio_kind) plus one row here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "dev/virtio/virtio.h"

/* ---- the table: one row per device kind, in slot order ---- */
static const struct virtio_kind *const kinds[] = {
    &virtio_blk_kind,
    &virtio_net_kind,
    &virtio_rng_kind,
    &virtio_console_kind,
    &virtio_balloon_kind,
};

const struct virtio_kind *virtio_kind_at(unsigned i)
{
    return i < ARRAY_SIZE(kinds) ? kinds[i] : NULL;
}

/* ---- options ---- */
int virtio_options_add(struct virtio_options *o, const char *name, const char *val)
{
    const struct virtio_kind *k = NULL;
    for (unsigned i = 0; i < ARRAY_SIZE(kinds) && !k; i++)
        if (strcmp(kinds[i]->option, name) == 0)
            k = kinds[i];
    if (!k)
        return 0;
    unsigned same = virtio_options_count(o, name);
    if (same >= k->max || o->n >= VIRTIO_OPT_MAX) {
        log_error("--%s%s%s: at most %u such devices (%d virtio devices in all)", name, val ? " " : "",
                  val ? val : "", k->max, VIRTIO_OPT_MAX);
        return -EINVAL;
    }
    void *data = NULL;
    if (k->parse && k->parse(val, &data) < 0)
        return -EINVAL;
    for (unsigned i = 0; k->check && i < o->n; i++)
        if (o->dev[i].kind == k && k->check(data, o->dev[i].data) < 0) {
            free(data);
            return -EINVAL;
        }
    o->dev[o->n++] = (struct virtio_opt){ k, same, data, val ? xasprintf("%s:%s", name, val) : xstrdup(name) };
    return 1;
}

unsigned virtio_options_count(const struct virtio_options *o, const char *option)
{
    unsigned n = 0;
    for (unsigned i = 0; i < o->n; i++)
        n += strcmp(o->dev[i].kind->option, option) == 0;
    return n;
}

void virtio_options_free(struct virtio_options *o)
{
    for (unsigned i = 0; i < o->n; i++) {
        free(o->dev[i].data);
        free(o->dev[i].spec);
    }
    memset(o, 0, sizeof(*o));
}

const char *virtio_opt_spec(const struct virtio_opt *opt)
{
    return opt->spec;
}

int virtio_options_add_spec(struct virtio_options *o, const char *spec)
{
    char name[32];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof(name)) {
        log_error("virtio device '%.64s': no option name", spec);
        return -EINVAL;
    }
    memcpy(name, spec, n);
    name[n] = 0;
    int r = virtio_options_add(o, name, colon ? colon + 1 : NULL);
    if (r == 0) {
        log_error("virtio device '%.64s': unknown option --%s", spec, name);
        return -EINVAL;
    }
    return r < 0 ? r : 0;
}

/* ---- the devices on a bus ---- */
struct virtio_board {
    struct loop *loop;
    unsigned n;
    bool pci;
    struct {
        uint64_t base;                  /* mmio base, or the PCI device number */
        const struct virtio_opt *opt;
        void *inst;
        struct virtio_dev *dev;
        struct virtio_mmio *mmio;
        struct virtio_pci *vpci;
    } slot[VIRTIO_OPT_MAX];
};

struct board_args {
    struct bus *bus;
    uint64_t base, stride;
    struct pci_host *pci;
    struct msi_line msi;
    const struct virtio_doorbell_ops *doorbells;
    struct loop *db_loop;
    struct guest_mem *mem;
    struct irq_line (*irq_for)(void *opaque, unsigned i);
    void *opaque;
};

static int add_slot(struct virtio_board *b, const struct virtio_opt *opt, const struct virtio_host *host,
                    const struct board_args *a)
{
    unsigned i = b->n;
    b->slot[i].opt = opt;
    b->slot[i].inst = opt->kind->create(opt->data, opt->index, host, &b->slot[i].dev);
    if (!b->slot[i].inst)
        return -EINVAL;
    b->n++;     /* from here destroy frees it */
    if (a->pci) {
        b->slot[i].vpci = virtio_pci_create(a->pci, a->irq_for(a->opaque, i), a->msi, a->mem, b->slot[i].dev);
        if (!b->slot[i].vpci)
            return -EINVAL;
        b->slot[i].base = virtio_pci_func(b->slot[i].vpci)->slot;
        if (a->doorbells && virtio_pci_doorbells(b->slot[i].vpci, a->db_loop, a->doorbells) < 0)
            return -EINVAL;
        return 0;
    }
    b->slot[i].base = a->base + i * a->stride;
    b->slot[i].mmio = virtio_mmio_create(a->bus, b->slot[i].base, a->irq_for(a->opaque, i), a->mem,
                                         b->slot[i].dev);
    return b->slot[i].mmio ? 0 : -EINVAL;
}

static struct virtio_board *board_create(const struct virtio_options *o, const struct virtio_host *host0,
                                         const struct board_args *a)
{
    struct virtio_board *b = xzalloc(sizeof(*b));
    b->pci = a->pci != NULL;
    struct virtio_host host = *host0;
    for (unsigned i = 0; i < o->n; i++)
        if (o->dev[i].kind->needs_loop && !b->loop && !(b->loop = loop_new()))
            goto fail;
    host.loop = b->loop;
    for (unsigned k = 0; k < ARRAY_SIZE(kinds); k++)
        for (unsigned i = 0; i < o->n; i++)
            if (o->dev[i].kind == kinds[k] &&
                add_slot(b, &o->dev[i], &host, a) < 0)
                goto fail;
    if (b->loop && loop_start(b->loop) < 0)
        goto fail;
    return b;
fail:
    virtio_board_destroy(b);
    return NULL;
}

struct virtio_board *virtio_board_create(const struct virtio_options *o, const struct virtio_host *host,
                                         struct bus *bus, struct guest_mem *mem,
                                         uint64_t base, uint64_t stride,
                                         struct irq_line (*irq_for)(void *opaque, unsigned i), void *opaque)
{
    struct board_args a = { .bus = bus, .base = base, .stride = stride, .mem = mem, .irq_for = irq_for,
                            .opaque = opaque };
    return board_create(o, host, &a);
}

struct virtio_board *virtio_board_create_pci(const struct virtio_options *o, const struct virtio_host *host,
                                             const struct virtio_pci_layout *l, struct guest_mem *mem,
                                             struct irq_line (*irq_for)(void *opaque, unsigned i), void *opaque)
{
    struct board_args a = { .pci = l->pci, .msi = l->msi, .doorbells = l->doorbells, .db_loop = l->loop,
                            .mem = mem, .irq_for = irq_for, .opaque = opaque };
    return board_create(o, host, &a);
}

void virtio_board_doorbells_reassign(struct virtio_board *b)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->slot[i].vpci)
            virtio_pci_doorbells_reassign(b->slot[i].vpci);
}

bool virtio_board_is_pci(const struct virtio_board *b) { return b->pci; }

unsigned virtio_board_count(const struct virtio_board *b) { return b->n; }

void virtio_board_slot(const struct virtio_board *b, unsigned i, uint64_t *base, unsigned *irq_index)
{
    *base = b->slot[i].base;
    *irq_index = i;
}

struct virtio_pci *virtio_board_pci(struct virtio_board *b, unsigned i)
{
    return i < b->n ? b->slot[i].vpci : NULL;
}

struct virtio_dev *virtio_board_dev(struct virtio_board *b, unsigned i)
{
    return b->slot[i].dev;
}

bool virtio_board_has_input(const struct virtio_board *b)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->slot[i].opt->kind->input)
            return true;
    return false;
}

size_t virtio_board_input(struct virtio_board *b, const uint8_t *buf, size_t len)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->slot[i].opt->kind->input)
            return b->slot[i].opt->kind->input(b->slot[i].inst, buf, len);
    return 0;
}

unsigned virtio_board_nblock(const struct virtio_board *b)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b->n; i++)
        n += b->slot[i].opt->kind->block_info != NULL;
    return n;
}

int virtio_board_block_info(const struct virtio_board *b, unsigned i, struct virtio_block_info *bi)
{
    for (unsigned s = 0; s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        if (k->block_info && i-- == 0) {
            memset(bi, 0, sizeof(*bi));
            k->block_info(b->slot[s].inst, b->slot[s].opt->data, bi);
            return 0;
        }
    }
    return -ENOENT;
}

int virtio_board_cmdline(const struct virtio_board *b, unsigned first_irq, char *buf, size_t len)
{
    size_t off = 0;
    if (len)
        buf[0] = 0;
    for (unsigned i = 0; i < b->n && !b->pci; i++) {
        int r = snprintf(buf + off, len - off, "%svirtio_mmio.device=%u@0x%llx:%u", i ? " " : "",
                         VIRTIO_MMIO_SIZE, (unsigned long long)b->slot[i].base, first_irq + i);
        if (r < 0 || (size_t)r >= len - off)
            return -ENOSPC;
        off += r;
    }
    return (int)off;
}

void *virtio_board_find(struct virtio_board *b, const char *option)
{
    for (unsigned i = 0; b && i < b->n; i++)
        if (!strcmp(b->slot[i].opt->kind->option, option))
            return b->slot[i].inst;
    return NULL;
}

void virtio_board_destroy(struct virtio_board *b)
{
    if (!b)
        return;
    if (b->loop)
        loop_stop(b->loop);
    for (unsigned i = 0; i < b->n; i++) {
        b->slot[i].opt->kind->destroy(b->slot[i].inst);
        if (b->slot[i].mmio)
            virtio_mmio_destroy(b->slot[i].mmio);
        if (b->slot[i].vpci)
            virtio_pci_destroy(b->slot[i].vpci);
    }
    loop_free(b->loop);
    free(b);
}

const char *virtio_board_spec(const struct virtio_board *b, unsigned i)
{
    return i < b->n ? b->slot[i].opt->spec : NULL;
}

int virtio_board_save_var(struct virtio_board *b, uint8_t **buf, size_t *len)
{
    for (unsigned i = 0; i < b->n; i++) {
        const struct virtio_kind *k = b->slot[i].opt->kind;
        if (!k->save_var)
            continue;
        size_t at = *len;
        *buf = xrealloc(*buf, at + 8);
        *len = at + 8;
        int r = k->save_var(b->slot[i].inst, buf, len);
        if (r < 0)
            return r;
        uint32_t hdr[2] = { i, (uint32_t)(*len - at - 8) };
        memcpy(*buf + at, hdr, sizeof(hdr));
    }
    return 0;
}

int virtio_board_load_var(struct virtio_board *b, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        uint32_t hdr[2];
        if (len - off < sizeof(hdr))
            return -EINVAL;
        memcpy(hdr, buf + off, sizeof(hdr));
        off += sizeof(hdr);
        if (hdr[0] >= b->n || hdr[1] > len - off || !b->slot[hdr[0]].opt->kind->load_var)
            return -EINVAL;
        int r = b->slot[hdr[0]].opt->kind->load_var(b->slot[hdr[0]].inst, buf + off, hdr[1]);
        if (r < 0)
            return r;
        off += hdr[1];
    }
    return 0;
}

int virtio_board_block_lock(struct virtio_board *b, unsigned i, bool on)
{
    for (unsigned s = 0; s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        if (k->block_info && i-- == 0)
            return k->lock ? k->lock(b->slot[s].inst, on) : -ENOTSUP;
    }
    return -ENOENT;
}

int virtio_board_block_reopen(struct virtio_board *b, unsigned i)
{
    for (unsigned s = 0; s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        if (k->block_info && i-- == 0)
            return k->reopen ? k->reopen(b->slot[s].inst) : -ENOTSUP;
    }
    return -ENOENT;
}

struct blk_image *virtio_board_block_image(struct virtio_board *b, unsigned i)
{
    for (unsigned s = 0; s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        if (k->block_info && i-- == 0)
            return k->image ? k->image(b->slot[s].inst) : NULL;
    }
    return NULL;
}

unsigned virtio_board_net_backends(struct virtio_board *b, struct net_backend **out, unsigned max)
{
    unsigned n = 0;
    for (unsigned s = 0; b && s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        if (!k->net_backend)
            continue;
        if (n < max)
            out[n] = k->net_backend(b->slot[s].inst);
        n++;
    }
    return n;
}

const char *virtio_board_no_state(struct virtio_board *b)
{
    for (unsigned s = 0; b && s < b->n; s++) {
        const struct virtio_kind *k = b->slot[s].opt->kind;
        const char *why = k->no_state ? k->no_state(b->slot[s].inst) : NULL;
        if (why)
            return why;
    }
    return NULL;
}

struct loop *virtio_board_loop(struct virtio_board *b)
{
    return b ? b->loop : NULL;
}

struct net_attach_call {
    struct virtio_board *b;
    int r;
};

static void net_attach_on_loop(void *opaque)
{
    struct net_attach_call *c = opaque;
    for (unsigned s = 0; s < c->b->n && !c->r; s++) {
        const struct virtio_kind *k = c->b->slot[s].opt->kind;
        if (k->net_attach)
            c->r = k->net_attach(c->b->slot[s].inst);
    }
}

int virtio_board_net_attach(struct virtio_board *b)
{
    struct net_attach_call c = { b, 0 };
    if (!b || !b->loop)
        return 0;
    int r = loop_call(b->loop, net_attach_on_loop, &c);
    return r < 0 ? r : c.r;
}

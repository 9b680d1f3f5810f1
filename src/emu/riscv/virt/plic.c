/* PLIC (SiFive layout, as on QEMU virt): priorities at 4*src, pending bits
 * at 0x1000, per-context enables at 0x2000 + 0x80*ctx, threshold at
 * 0x200000 + 0x1000*ctx and claim/complete at +4. Sources are level
 * triggered: the gateway holds a source pending while its line is high and
 * forwards it again only after the claim is completed. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "emu/riscv/virt/virt.h"

#define NSRC   (VIRT_PLIC_NDEV + 1)         /* source 0 does not exist */
#define NWORDS ((NSRC + 31) / 32)
#define MAX_CTX (2 * VIRT_MAX_HARTS)

enum {
    R_PRIORITY = 0x0, R_PENDING = 0x1000, R_ENABLE = 0x2000, R_ENABLE_STRIDE = 0x80,
    R_CONTEXT = 0x200000, R_CONTEXT_STRIDE = 0x1000,
};

struct virt_plic {
    pthread_mutex_t lock;
    unsigned nctx;
    uint32_t priority[NSRC];
    uint32_t level[NWORDS], pending[NWORDS], claimed[NWORDS];
    uint32_t enable[MAX_CTX][NWORDS];
    uint32_t threshold[MAX_CTX];
    bool out[MAX_CTX];
    void (*set_ctx)(void *opaque, unsigned ctx, bool level);
    void *opaque;
};

static bool bit(const uint32_t *w, unsigned i) { return w[i / 32] >> (i % 32) & 1; }
static void bit_set(uint32_t *w, unsigned i, bool v)
{
    if (v)
        w[i / 32] |= 1u << (i % 32);
    else
        w[i / 32] &= ~(1u << (i % 32));
}

/* The best claimable source of context c, or 0. */
static unsigned best_source(const struct virt_plic *p, unsigned c)
{
    unsigned best = 0;
    uint32_t best_prio = p->threshold[c];
    for (unsigned w = 0; w < NWORDS; w++) {
        uint32_t m = p->pending[w] & p->enable[c][w];
        while (m) {
            unsigned s = w * 32 + (unsigned)__builtin_ctz(m);
            m &= m - 1;
            if (p->priority[s] > best_prio) {
                best_prio = p->priority[s];
                best = s;
            }
        }
    }
    return best;
}

/* Recompute every context's output; call the board for those that change.
 * Called with the lock held: set_ctx must not call back into the PLIC. */
static void update(struct virt_plic *p)
{
    for (unsigned c = 0; c < p->nctx; c++) {
        bool v = best_source(p, c) != 0;
        if (v != p->out[c]) {
            p->out[c] = v;
            p->set_ctx(p->opaque, c, v);
        }
    }
}

void virt_plic_set_irq(struct virt_plic *p, unsigned src, bool level)
{
    if (src == 0 || src >= NSRC)
        return;
    pthread_mutex_lock(&p->lock);
    bit_set(p->level, src, level);
    if (!bit(p->claimed, src))
        bit_set(p->pending, src, level);
    update(p);
    pthread_mutex_unlock(&p->lock);
}

static void irq_line_set(void *opaque, unsigned n, int level)
{
    virt_plic_set_irq(opaque, n, level != 0);
}

struct irq_line virt_plic_line(struct virt_plic *p, unsigned src)
{
    return (struct irq_line){ .set = irq_line_set, .opaque = p, .n = src };
}

static uint32_t claim(struct virt_plic *p, unsigned c)
{
    unsigned s = best_source(p, c);
    if (s) {
        bit_set(p->pending, s, false);
        bit_set(p->claimed, s, true);
        update(p);
    }
    return s;
}

static void complete(struct virt_plic *p, unsigned c, uint32_t s)
{
    /* The spec ignores a completion for a source not enabled in the context. */
    if (s == 0 || s >= NSRC || !bit(p->enable[c], s) || !bit(p->claimed, s))
        return;
    bit_set(p->claimed, s, false);
    if (bit(p->level, s))
        bit_set(p->pending, s, true);
    update(p);
}

static uint64_t plic_read(void *opaque, uint64_t off, unsigned size)
{
    struct virt_plic *p = opaque;
    uint32_t v = 0;
    if (size != 4 || (off & 3)) {
        log_guest("plic: read of size %u at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    pthread_mutex_lock(&p->lock);
    if (off < R_PENDING) {
        if (off / 4 < NSRC)
            v = p->priority[off / 4];
    } else if (off < R_ENABLE) {
        if ((off - R_PENDING) / 4 < NWORDS)
            v = p->pending[(off - R_PENDING) / 4];
    } else if (off < R_CONTEXT) {
        uint64_t c = (off - R_ENABLE) / R_ENABLE_STRIDE, w = (off - R_ENABLE) % R_ENABLE_STRIDE / 4;
        if (c < p->nctx && w < NWORDS)
            v = p->enable[c][w];
    } else {
        uint64_t c = (off - R_CONTEXT) / R_CONTEXT_STRIDE, r = (off - R_CONTEXT) % R_CONTEXT_STRIDE;
        if (c < p->nctx && r == 0)
            v = p->threshold[c];
        else if (c < p->nctx && r == 4)
            v = claim(p, (unsigned)c);
    }
    pthread_mutex_unlock(&p->lock);
    return v;
}

static void plic_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virt_plic *p = opaque;
    uint32_t v = (uint32_t)val;
    if (size != 4 || (off & 3)) {
        log_guest("plic: write of size %u at 0x%llx", size, (unsigned long long)off);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (off < R_PENDING) {
        unsigned s = (unsigned)(off / 4);
        if (s > 0 && s < NSRC) {
            p->priority[s] = v & 7;       /* 3 priority bits, as QEMU virt */
            update(p);
        }
    } else if (off < R_ENABLE) {
        /* pending bits are read-only */
    } else if (off < R_CONTEXT) {
        uint64_t c = (off - R_ENABLE) / R_ENABLE_STRIDE, w = (off - R_ENABLE) % R_ENABLE_STRIDE / 4;
        if (c < p->nctx && w < NWORDS) {
            if (w == 0)
                v &= ~1u;                 /* source 0 does not exist */
            if (w == NWORDS - 1 && NSRC % 32)
                v &= (1u << (NSRC % 32)) - 1;
            p->enable[c][w] = v;
            update(p);
        }
    } else {
        uint64_t c = (off - R_CONTEXT) / R_CONTEXT_STRIDE, r = (off - R_CONTEXT) % R_CONTEXT_STRIDE;
        if (c < p->nctx && r == 0) {
            p->threshold[c] = v & 7;
            update(p);
        } else if (c < p->nctx && r == 4) {
            complete(p, (unsigned)c, v);
        }
    }
    pthread_mutex_unlock(&p->lock);
}

const struct bus_ops virt_plic_ops = { .read = plic_read, .write = plic_write };

struct virt_plic *virt_plic_new(unsigned ncontexts,
                                void (*set_ctx)(void *opaque, unsigned ctx, bool level), void *opaque)
{
    if (ncontexts == 0 || ncontexts > MAX_CTX)
        return NULL;
    struct virt_plic *p = xzalloc(sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->nctx = ncontexts;
    p->set_ctx = set_ctx;
    p->opaque = opaque;
    return p;
}

void virt_plic_reset(struct virt_plic *p)
{
    pthread_mutex_lock(&p->lock);
    memset(p->priority, 0, sizeof(p->priority));
    memset(p->pending, 0, sizeof(p->pending));
    memset(p->claimed, 0, sizeof(p->claimed));
    memset(p->enable, 0, sizeof(p->enable));
    memset(p->threshold, 0, sizeof(p->threshold));
    for (unsigned c = 0; c < p->nctx; c++)
        if (p->out[c]) {
            p->out[c] = false;
            p->set_ctx(p->opaque, c, false);
        }
    pthread_mutex_unlock(&p->lock);
}

void virt_plic_free(struct virt_plic *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void virt_plic_save(struct virt_plic *p, struct virt_plic_state *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&p->lock);
    st->nctx = p->nctx;
    memcpy(st->priority, p->priority, sizeof(st->priority));
    memcpy(st->level, p->level, sizeof(st->level));
    memcpy(st->pending, p->pending, sizeof(st->pending));
    memcpy(st->claimed, p->claimed, sizeof(st->claimed));
    memcpy(st->enable, p->enable, sizeof(st->enable));
    memcpy(st->threshold, p->threshold, sizeof(st->threshold));
    pthread_mutex_unlock(&p->lock);
}

/* Bits of sources that exist (1..NSRC-1) in word w. */
static uint32_t valid_bits(unsigned w)
{
    uint32_t m = ~0u;
    if (w == 0)
        m &= ~1u;
    if (w == NWORDS - 1 && NSRC % 32)
        m &= (1u << (NSRC % 32)) - 1;
    return m;
}

int virt_plic_load(struct virt_plic *p, const struct virt_plic_state *st)
{
    _Static_assert(VIRT_PLIC_WORDS == NWORDS && 2 * VIRT_MAX_HARTS == MAX_CTX, "plic state layout");
    if (st->nctx != p->nctx || st->priority[0])
        return -EINVAL;
    for (unsigned s = 0; s < NSRC; s++)
        if (st->priority[s] > 7)
            return -EINVAL;
    for (unsigned c = 0; c < MAX_CTX; c++) {
        if (st->threshold[c] > 7 || (c >= p->nctx && st->threshold[c]))
            return -EINVAL;
        for (unsigned w = 0; w < NWORDS; w++)
            if ((st->enable[c][w] & ~valid_bits(w)) || (c >= p->nctx && st->enable[c][w]))
                return -EINVAL;
    }
    for (unsigned w = 0; w < NWORDS; w++)
        if (((st->level[w] | st->pending[w] | st->claimed[w]) & ~valid_bits(w)))
            return -EINVAL;
    pthread_mutex_lock(&p->lock);
    memcpy(p->priority, st->priority, sizeof(p->priority));
    memcpy(p->level, st->level, sizeof(p->level));
    memcpy(p->pending, st->pending, sizeof(p->pending));
    memcpy(p->claimed, st->claimed, sizeof(p->claimed));
    memcpy(p->enable, st->enable, sizeof(p->enable));
    memcpy(p->threshold, st->threshold, sizeof(p->threshold));
    for (unsigned c = 0; c < p->nctx; c++) {
        p->out[c] = best_source(p, c) != 0;
        p->set_ctx(p->opaque, c, p->out[c]);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

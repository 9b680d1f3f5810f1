/* emu/riscv: Sdtrig debug triggers (the guest's: tselect, tdata1-3, tinfo,
 * with mcontrol (type 2) and mcontrol6 (type 6) address triggers on
 * execute, load and store, action 0 = breakpoint exception) and the
 * debugger's watchpoints (gdb Z2-Z4, machine-wide, separate from the
 * guest-visible triggers).
 *
 * Neither costs the memory fast path anything: while a load/store trigger
 * or a watchpoint is armed, the slow path refuses to fill a TLB entry for
 * a page one of them could match, so every access to such a page comes to
 * rv_debug_data_check; arming flushes the TLB. Execute triggers end decoded
 * blocks before an armed address (as the debugger's breakpoints do), so
 * the block-boundary check sees every armed pc; arming flushes the code. */
#include "emu/riscv/hart.h"

#include <errno.h>

/* tdata1 fields (RV64) */
#define TD1_TYPE_SHIFT 60
#define TD1_DMODE (1ULL << 59)
#define TD_LOAD (1ULL << 0)
#define TD_STORE (1ULL << 1)
#define TD_EXEC (1ULL << 2)
#define TD_U (1ULL << 3)
#define TD_S (1ULL << 4)
#define TD_M (1ULL << 6)
#define TD_MATCH_SHIFT 7
#define TD_MATCH (0xfULL << 7)
#define TD_CHAIN (1ULL << 11)
#define TD_ACTION (0xfULL << 12)
#define MC_HIT (1ULL << 20)          /* mcontrol */
#define MC6_HIT0 (1ULL << 22)        /* mcontrol6 */
#define TD_COMMON (TD_LOAD | TD_STORE | TD_EXEC | TD_U | TD_S | TD_M | TD_MATCH | TD_CHAIN)

enum { TRIG_MCONTROL = 2, TRIG_MCONTROL6 = 6, TRIG_DISABLED = 15 };
#define TRIG_OFF ((uint64_t)TRIG_DISABLED << TD1_TYPE_SHIFT)

void rv_trig_reset(struct rv_hart *h)
{
    for (unsigned k = 0; k < RV_NTRIG; k++) {
        h->trig[k].tdata1 = TRIG_OFF;
        h->trig[k].tdata2 = 0;
    }
    h->tselect = 0;
    h->trig_exec = h->trig_ldst = false;
}

static unsigned trig_type(uint64_t tdata1)
{
    return (unsigned)(tdata1 >> TD1_TYPE_SHIFT);
}

static bool match_legal(unsigned mt)
{
    return mt <= 5 || mt == 8 || mt == 9 || mt == 12 || mt == 13;
}

/* The value a write of v to tdata1 leaves (WARL): types 2 and 6, action 0
 * (no debug mode), any-size, address (not data) matches. */
static uint64_t tdata1_legal(uint64_t v)
{
    unsigned type = trig_type(v);
    if (type != TRIG_MCONTROL && type != TRIG_MCONTROL6)
        return TRIG_OFF;
    uint64_t n = ((uint64_t)type << TD1_TYPE_SHIFT) | (v & TD_COMMON);
    n |= v & (type == TRIG_MCONTROL ? MC_HIT : MC6_HIT0);
    if (!match_legal((unsigned)((v & TD_MATCH) >> TD_MATCH_SHIFT)))
        n &= ~TD_MATCH;
    return n;
}

/* Which armed kinds the hart has: execute (decode stops at them) and
 * load/store (the TLB refuses their pages). */
static void trig_update(struct rv_hart *h)
{
    bool x = false, ls = false;
    for (unsigned k = 0; k < RV_NTRIG; k++) {
        uint64_t t = h->trig[k].tdata1;
        unsigned type = trig_type(t);
        if (type != TRIG_MCONTROL && type != TRIG_MCONTROL6)
            continue;
        if (!(t & (TD_M | TD_S | TD_U)))
            continue;
        x |= (t & TD_EXEC) != 0;
        ls |= (t & (TD_LOAD | TD_STORE)) != 0;
    }
    h->trig_exec = x;
    h->trig_ldst = ls;
    /* decoded blocks and TLB entries were made without these */
    rv_request(h, RV_REQ_CODE | RV_REQ_TLB);
}

int rv_trig_csr_read(struct rv_hart *h, unsigned csr, uint64_t *v)
{
    const struct rv_trigger *t = &h->trig[h->tselect];
    switch (csr) {
    case RV_CSR_TSELECT: *v = h->tselect; return 0;
    case RV_CSR_TDATA1: *v = t->tdata1; return 0;
    case RV_CSR_TDATA2: *v = t->tdata2; return 0;
    case RV_CSR_TDATA3: *v = 0; return 0;
    case RV_CSR_TINFO:
        *v = (1ULL << 24) | (1u << TRIG_MCONTROL) | (1u << TRIG_MCONTROL6) | (1u << TRIG_DISABLED);
        return 0;
    default: return -1;
    }
}

int rv_trig_csr_write(struct rv_hart *h, unsigned csr, uint64_t v)
{
    struct rv_trigger *t = &h->trig[h->tselect];
    switch (csr) {
    case RV_CSR_TSELECT:
        if (v < RV_NTRIG)
            h->tselect = (unsigned)v;
        return 0;
    case RV_CSR_TDATA1: t->tdata1 = tdata1_legal(v); trig_update(h); return 0;
    case RV_CSR_TDATA2: t->tdata2 = v; trig_update(h); return 0;
    case RV_CSR_TDATA3: case RV_CSR_TINFO: return 0;
    default: return -1;
    }
}

_Static_assert(RV_NTRIG == 4, "struct rv_hart_state holds 4 triggers");

void rv_trig_save(const struct rv_hart *h, struct rv_hart_state *st)
{
    for (unsigned k = 0; k < RV_NTRIG; k++) {
        st->tdata1[k] = h->trig[k].tdata1;
        st->tdata2[k] = h->trig[k].tdata2;
    }
    st->tselect = h->tselect;
}

int rv_trig_load(struct rv_hart *h, const struct rv_hart_state *st)
{
    if (st->tselect >= RV_NTRIG)
        return -EINVAL;
    for (unsigned k = 0; k < RV_NTRIG; k++)
        if (tdata1_legal(st->tdata1[k]) != st->tdata1[k])
            return -EINVAL;
    for (unsigned k = 0; k < RV_NTRIG; k++) {
        h->trig[k].tdata1 = st->tdata1[k];
        h->trig[k].tdata2 = st->tdata2[k];
    }
    h->tselect = (unsigned)st->tselect;
    trig_update(h);
    return 0;
}

/* Does the access [a, a + size) satisfy the trigger's address condition?
 * A load/store matches when any byte it touches does. */
static bool addr_match(uint64_t tdata1, uint64_t tdata2, uint64_t a, unsigned size)
{
    unsigned mt = (unsigned)((tdata1 & TD_MATCH) >> TD_MATCH_SHIFT);
    uint64_t last = a + size - 1;
    bool r;
    switch (mt & 7) {
    case 0: r = tdata2 >= a && tdata2 <= last; break;
    case 1: {
        uint64_t mask = tdata2 ^ (tdata2 + 1);      /* trailing ones and the first zero */
        uint64_t base = tdata2 & ~mask;
        r = last >= base && a <= base + mask;
        break;
    }
    case 2: r = last >= tdata2; break;
    case 3: r = a < tdata2; break;
    case 4: r = ((a & (tdata2 >> 32)) & 0xffffffffULL) == (tdata2 & (tdata2 >> 32) & 0xffffffffULL); break;
    case 5: r = (((a >> 32) & (tdata2 >> 32))) == (tdata2 & (tdata2 >> 32) & 0xffffffffULL); break;
    default: r = false; break;
    }
    return (mt & 8) ? !r : r;
}

/* Triggers that may fire now: action 0 ones are held off in M-mode while
 * MIE is 0, and in S-mode while SIE is 0 if breakpoints are delegated (the
 * spec's reentrancy rule for harts without tcontrol). */
static uint64_t mode_bit(const struct rv_hart *h)
{
    switch (h->priv) {
    case RV_PRIV_M: return (h->mstatus & MS_MIE) ? TD_M : 0;
    case RV_PRIV_S:
        if ((h->medeleg & (1ULL << RV_EXC_BREAKPOINT)) && !(h->mstatus & MS_SIE))
            return 0;
        return TD_S;
    default: return TD_U;
    }
}

/* Trigger k matches this access (its kind bit `kind` and the mode). */
static bool trig_hit(const struct rv_hart *h, unsigned k, uint64_t kind, uint64_t mode,
                     uint64_t a, unsigned size)
{
    const struct rv_trigger *t = &h->trig[k];
    unsigned type = trig_type(t->tdata1);
    if (type != TRIG_MCONTROL && type != TRIG_MCONTROL6)
        return false;
    if (!(t->tdata1 & kind) || !(t->tdata1 & mode))
        return false;
    return addr_match(t->tdata1, t->tdata2, a, size);
}

/* Any chain of triggers fires on this access: their hit bits set, true. */
static bool trig_fire(struct rv_hart *h, uint64_t kind, uint64_t a, unsigned size)
{
    uint64_t mode = mode_bit(h);
    if (!mode)
        return false;
    unsigned k = 0;
    while (k < RV_NTRIG) {
        unsigned first = k;
        bool all = true;
        for (;;) {
            all = all && trig_hit(h, k, kind, mode, a, size);
            if (!(h->trig[k].tdata1 & TD_CHAIN) || k + 1 == RV_NTRIG)
                break;
            k++;
        }
        if (h->trig[k].tdata1 & TD_CHAIN)
            all = false;             /* a chain running off the end never fires */
        if (all) {
            for (unsigned j = first; j <= k; j++) {
                uint64_t *d = &h->trig[j].tdata1;
                *d |= trig_type(*d) == TRIG_MCONTROL ? MC_HIT : MC6_HIT0;
            }
            return true;
        }
        k++;
    }
    return false;
}

bool rv_trig_exec_fire(struct rv_hart *h, uint64_t pc)
{
    return trig_fire(h, TD_EXEC, pc, 1);
}

bool rv_trig_exec_at(const struct rv_hart *h, uint64_t pc)
{
    for (unsigned k = 0; k < RV_NTRIG; k++)
        if (trig_hit(h, k, TD_EXEC, TD_M | TD_S | TD_U, pc, 1))
            return true;
    return false;
}

/* ---- the debugger's watchpoints ---- */

int rv_debug_watchpoint(struct rv_machine *m, uint64_t addr, uint64_t len, unsigned kind, bool set)
{
    if (!len || !kind || (kind & ~(unsigned)RV_WATCH_ACCESS) || addr + len - 1 < addr)
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    unsigned n = atomic_load(&m->nwp);
    int ret = 0;
    unsigned k;
    for (k = 0; k < n; k++)
        if (m->wp[k].addr == addr && m->wp[k].len == len && m->wp[k].kind == kind)
            break;
    if (set && k == n) {
        if (n == RV_MAX_WP) {
            ret = -ENOSPC;
        } else {
            m->wp[n] = (struct rv_watch){ addr, len, kind };
            atomic_store(&m->nwp, n + 1);
        }
    } else if (!set && k < n) {
        m->wp[k] = m->wp[n - 1];
        atomic_store(&m->nwp, n - 1);
    }
    /* TLB entries for a watched page must go, and translated code that
     * accesses memory directly (user mode): every hart drops both */
    for (unsigned j = 0; j < m->nhart_slots; j++)
        if (m->harts[j])
            rv_request(m->harts[j], RV_REQ_TLB | RV_REQ_CODE);
    pthread_mutex_unlock(&m->lock);
    return ret;
}

bool rv_debug_watch_take(struct rv_hart *h, uint64_t *addr, unsigned *kind)
{
    if (!h->watch_kind)
        return false;
    *addr = h->watch_addr;
    *kind = h->watch_kind;
    h->watch_kind = 0;
    return true;
}

static bool range_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a <= b + blen - 1 && b <= a + alen - 1;
}

/* ---- the memory slow path ---- */

bool rv_debug_page_watched(const struct rv_hart *h, uint64_t va, int acc)
{
    uint64_t page = va & ~0xfffULL;
    unsigned want = acc == RV_ACC_WRITE ? RV_WATCH_WRITE : RV_WATCH_READ;
    const struct rv_machine *m = h->m;
    unsigned n = atomic_load_explicit(&m->nwp, memory_order_acquire);
    for (unsigned k = 0; k < n; k++)
        if ((m->wp[k].kind & want) && range_overlap(page, 4096, m->wp[k].addr, m->wp[k].len))
            return true;
    if (!h->trig_ldst)
        return false;
    uint64_t kind = acc == RV_ACC_WRITE ? TD_STORE : TD_LOAD;
    for (unsigned k = 0; k < RV_NTRIG; k++) {
        uint64_t t = h->trig[k].tdata1;
        unsigned type = trig_type(t);
        if ((type != TRIG_MCONTROL && type != TRIG_MCONTROL6) || !(t & kind))
            continue;
        unsigned mt = (unsigned)((t & TD_MATCH) >> TD_MATCH_SHIFT);
        if (mt > 3 || addr_match(t, h->trig[k].tdata2, page, 4096))
            return true;             /* mask and negated matches: any page may match */
    }
    return false;
}

int rv_debug_data_check(struct rv_hart *h, uint64_t va, unsigned size, int acc)
{
    struct rv_machine *m = h->m;
    unsigned want = acc == RV_ACC_WRITE ? RV_WATCH_WRITE : RV_WATCH_READ;
    unsigned n = atomic_load_explicit(&m->nwp, memory_order_acquire);
    for (unsigned k = 0; k < n; k++) {
        const struct rv_watch *w = &m->wp[k];
        if ((w->kind & want) && range_overlap(va, size, w->addr, w->len)) {
            h->watch_addr = va > w->addr ? va : w->addr;
            h->watch_kind = w->kind;
            return RV_CAUSE_WATCH;
        }
    }
    if (h->trig_ldst && trig_fire(h, acc == RV_ACC_WRITE ? TD_STORE : TD_LOAD, va, size))
        return RV_EXC_BREAKPOINT;
    return 0;
}

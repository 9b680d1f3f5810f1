/* emu/riscv: the memory slow path. TLB refill, Sv39/Sv48 page walks with
 * A/D updates (system), the flat checked space (user), RAM vs MMIO, page-
 * crossing accesses, atomics, code-page write detection and HTIF tohost. */
#include "emu/riscv/hart.h"
#include "bus/bus.h"
#include "mem/mem.h"
#include "base/base.h"

enum { PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_G = 32, PTE_A = 64, PTE_D = 128 };


static const int fault_page[3] = { RV_EXC_LOAD_PAGE, RV_EXC_STORE_PAGE, RV_EXC_INSN_PAGE };
static const int fault_access[3] = { RV_EXC_LOAD_ACCESS, RV_EXC_STORE_ACCESS, RV_EXC_INSN_ACCESS };

void rv_update_modes(struct rv_hart *h)
{
    h->mode_fetch = h->priv;
    if (!h->m->user && h->priv == RV_PRIV_M && (h->mstatus & MS_MPRV))
        h->mode_data = (unsigned)((h->mstatus & MS_MPP) >> MS_MPP_SHIFT);
    else
        h->mode_data = h->priv;
}

void rv_tlb_flush_local(struct rv_hart *h)
{
    memset(h->tlb, 0, sizeof(h->tlb));
    h->tlb_gen++;
    h->tlb_big_lo = ~0ULL;
    h->tlb_big_hi = 0;
}

/* sfence.vma with an address: the entries of its page (at every privilege:
 * they share the slot), unless it lies in a superpage an entry may have
 * come from (the entries are per 4 KiB page, the page table's change may
 * be to the whole superpage): then all of them. Linux fences one page at
 * a time (fixmap for every text patch, user PTE changes): 9412 fences in
 * one boot of the default guest, each of which was a whole flush (48 KiB
 * cleared, then every page walked again). Chains check tlb_gen: bumped. */
void rv_tlb_flush_page(struct rv_hart *h, uint64_t va)
{
    if (va >= h->tlb_big_lo && va <= h->tlb_big_hi) {
        rv_tlb_flush_local(h);
        return;
    }
    for (int acc = 0; acc < 3; acc++)
        rv_tlb_slot(h, acc, va)->tag = 0;
    h->tlb_gen++;
}

/* Only the write entries: no chain depends on them (chains check fetch
 * translations through tlb_gen), so tlb_gen stays. */
void rv_tlb_flush_write_local(struct rv_hart *h)
{
    memset(h->tlb[RV_ACC_WRITE], 0, sizeof(h->tlb[RV_ACC_WRITE]));
}

/* Virtual -> physical for `acc` at privilege `priv`. debug: no permission
 * checks and no A/D updates (debugger access). 0 or a cause. */
static int translate(struct rv_hart *h, uint64_t va, int acc, unsigned priv, bool debug, uint64_t *pa)
{
    uint64_t satp = h->satp;
    unsigned mode = (unsigned)(satp >> 60);
    if (priv == RV_PRIV_M || mode == 0) {
        if (va >> 56)
            return fault_access[acc];
        *pa = va;
        return 0;
    }
    unsigned levels = mode == 9 ? 4 : 3;
    unsigned vabits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
        return fault_page[acc];
    uint64_t a = (satp & ((1ULL << 44) - 1)) << 12;
    for (int lvl = (int)levels - 1; lvl >= 0; lvl--) {
        uint64_t idx = (va >> (12 + 9 * lvl)) & 511;
        uint64_t *pp = mem_translate(h->m->mem, a + idx * 8, 8);
        if (!pp)
            return fault_access[acc];
        uint64_t pte = __atomic_load_n(pp, __ATOMIC_ACQUIRE);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
            return fault_page[acc];
        uint64_t ppn = (pte >> 10) & ((1ULL << 44) - 1);
        if (!(pte & (PTE_R | PTE_X))) {
            if (lvl == 0)
                return fault_page[acc];
            a = ppn << 12;
            continue;
        }
        /* leaf */
        if (!debug) {
            if (priv == RV_PRIV_U && !(pte & PTE_U))
                return fault_page[acc];
            if (priv == RV_PRIV_S && (pte & PTE_U) && (acc == RV_ACC_EXEC || !(h->mstatus & MS_SUM)))
                return fault_page[acc];
            bool ok = acc == RV_ACC_EXEC ? (pte & PTE_X) :
                      acc == RV_ACC_WRITE ? (pte & PTE_W) :
                      ((pte & PTE_R) || ((h->mstatus & MS_MXR) && (pte & PTE_X)));
            if (!ok)
                return fault_page[acc];
        }
        uint64_t lowmask = (1ULL << (9 * lvl)) - 1;
        if (ppn & lowmask)
            return fault_page[acc];     /* misaligned superpage */
        if (lvl && !debug) {
            uint64_t span = (lowmask << 12) | 0xfff;
            h->tlb_big_lo = MIN(h->tlb_big_lo, va & ~span);
            h->tlb_big_hi = MAX(h->tlb_big_hi, va | span);
        }
        if (!debug) {
            uint64_t want = PTE_A | (acc == RV_ACC_WRITE ? PTE_D : 0);
            while ((pte & want) != want) {
                uint64_t n = pte | want;
                if (__atomic_compare_exchange_n(pp, &pte, n, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                    mem_mark_dirty(h->m->mem, a + idx * 8, 8);   /* a write to RAM like any other */
                    break;
                }
                if (!(pte & PTE_V))
                    return fault_page[acc];
            }
        }
        *pa = ((ppn | ((va >> 12) & lowmask)) << 12) | (va & 0xfff);
        return 0;
    }
    return fault_page[acc];
}

/* Resolve one access that stays within a page. On RAM, *host is set (and
 * the TLB filled when allowed); on MMIO, *host is NULL and *pa set. */
static int resolve(struct rv_hart *h, uint64_t va, int acc, uint8_t **host, uint64_t *pa)
{
    struct rv_machine *m = h->m;
    unsigned mode = acc == RV_ACC_EXEC ? h->mode_fetch : h->mode_data;
    if (m->user) {
        uintptr_t addend;
        uint64_t p = va;
        int r = m->uops->fill_tlb(h, va, (enum rv_access)acc, &addend, &p);
        if (r)
            return -r;
        *host = (uint8_t *)(uintptr_t)(va + addend);
        *pa = va;
        if (acc == RV_ACC_WRITE && rv_code_page(m, va)) {
            rv_code_written(h, va);
            return 0;
        }
        if (unlikely(rv_debug_data_on(h)) && acc != RV_ACC_EXEC && rv_debug_page_watched(h, va, acc))
            return 0;            /* watched: every access comes to the slow path */
        struct rv_tlb_entry *e = rv_tlb_slot(h, acc, va);
        e->tag = rv_tlb_tag(va, mode);
        e->addend = addend;
        return 0;
    }
    uint64_t p;
    int c = translate(h, va, acc, mode, false, &p);
    if (c)
        return c;
    *pa = p;
    struct mem_region *r = mem_region_of(m->mem, p);
    if (!r) {
        *host = NULL;
        return acc == RV_ACC_EXEC ? RV_EXC_INSN_ACCESS : 0;
    }
    if (acc == RV_ACC_WRITE && (r->flags & MEM_F_READONLY))
        return RV_EXC_STORE_ACCESS;
    *host = r->host + (p - r->gpa);
    if (acc == RV_ACC_WRITE) {
        if (r->dirty)
            mem_mark_dirty(m->mem, p, 1);
        if (m->tohost && (p >> 12) == (m->tohost >> 12))
            return 0;            /* never fast: stores there are watched */
        if (rv_code_page(m, p)) {
            rv_code_written(h, p);
            return 0;
        }
        /* dirty logging: the page is marked above, so the entry may be
         * filled: later stores to the page need no mark until the log's
         * next sync, which drops every write entry (rv_dirty_log_sync) */
    }
    if (unlikely(rv_debug_data_on(h)) && acc != RV_ACC_EXEC && rv_debug_page_watched(h, va, acc))
        return 0;                /* watched: every access comes to the slow path */
    struct rv_tlb_entry *e = rv_tlb_slot(h, acc, va);
    e->tag = rv_tlb_tag(va, mode);
    e->addend = (uintptr_t)*host - (uintptr_t)va;   /* integers: host - va as a pointer overflows (UB) */
    return 0;
}

int rv_fetch_translate(struct rv_hart *h, uint64_t va, uint64_t *key, const uint8_t **host)
{
    uint8_t *hp;
    int c = resolve(h, va, RV_ACC_EXEC, &hp, key);
    if (c)
        return c;
    if (!hp)
        return RV_EXC_INSN_ACCESS;
    *host = hp;
    return 0;
}

static int load_one(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    uint8_t *host;
    uint64_t pa;
    int c = resolve(h, va, RV_ACC_READ, &host, &pa);
    if (c)
        return c;
    if (host) {
        uint64_t v = 0;
        memcpy(&v, host, size);
        *val = v;
        return 0;
    }
    uint64_t v = 0;
    if (bus_access(h->m->bus, pa, &v, size, false) < 0) {
        log_guest("hart %u: load of %u bytes from unmapped physical address 0x%llx",
                  h->id, size, (unsigned long long)pa);
        return RV_EXC_LOAD_ACCESS;
    }
    *val = v;
    return 0;
}

static int store_one(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val)
{
    uint8_t *host;
    uint64_t pa;
    int c = resolve(h, va, RV_ACC_WRITE, &host, &pa);
    if (c)
        return c;
    if (host) {
        memcpy(host, &val, size);
        struct rv_machine *m = h->m;
        if (!m->user)
            mem_mark_dirty(m->mem, pa, size);   /* after the write too: a log collected in between */
        if (!m->user && m->tohost && pa == m->tohost && m->sops && m->sops->tohost) {
            uint64_t full;
            memcpy(&full, host, 8);
            m->sops->tohost(h, full);
        }
        return 0;
    }
    if (bus_access(h->m->bus, pa, &val, size, true) < 0) {
        log_guest("hart %u: store of %u bytes to unmapped physical address 0x%llx",
                  h->id, size, (unsigned long long)pa);
        return RV_EXC_STORE_ACCESS;
    }
    return 0;
}

int rv_load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    if (unlikely(rv_debug_data_on(h))) {
        int t = rv_debug_data_check(h, va, size, RV_ACC_READ);
        if (t)
            return t;
    }
    if ((va & 0xfff) + size <= 4096)
        return load_one(h, va, size, val);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++) {
        uint64_t b;
        int c = load_one(h, va + k, 1, &b);
        if (c)
            return c;
        v |= b << (8 * k);
    }
    *val = v;
    return 0;
}

int rv_store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val)
{
    if (unlikely(rv_debug_data_on(h))) {
        int t = rv_debug_data_check(h, va, size, RV_ACC_WRITE);
        if (t)
            return t;
    }
    if ((va & 0xfff) + size <= 4096)
        return store_one(h, va, size, val);
    /* check both pages first so a fault leaves memory untouched */
    uint8_t *host;
    uint64_t pa;
    int c = resolve(h, va, RV_ACC_WRITE, &host, &pa);
    if (!c)
        c = resolve(h, (va | 0xfff) + 1, RV_ACC_WRITE, &host, &pa);
    if (c)
        return c;
    for (unsigned k = 0; k < size; k++) {
        c = store_one(h, va + k, 1, (val >> (8 * k)) & 0xff);
        if (c)
            return c;
    }
    return 0;
}

void *rv_amo_ptr(struct rv_hart *h, uint64_t va, unsigned size, bool write, int *cause)
{
    if (unlikely(rv_debug_data_on(h))) {
        /* before the misaligned check (the spec's priority); an AMO (and
         * SC here) counts as a read and a write, LR as a read */
        int t = rv_debug_data_check(h, va, size, RV_ACC_READ);
        if (!t && write)
            t = rv_debug_data_check(h, va, size, RV_ACC_WRITE);
        if (t) {
            *cause = t;
            return NULL;
        }
    }
    if (va & (size - 1)) {
        *cause = write ? RV_EXC_STORE_MISALIGNED : RV_EXC_LOAD_MISALIGNED;
        return NULL;
    }
    int acc = write ? RV_ACC_WRITE : RV_ACC_READ;
    struct rv_tlb_entry *e = rv_tlb_slot(h, acc, va);
    if (e->tag == rv_tlb_tag(va, h->mode_data))
        return (void *)(uintptr_t)(va + e->addend);
    uint8_t *host;
    uint64_t pa;
    int c = resolve(h, va, acc, &host, &pa);
    if (c) {
        /* AMOs report store faults (the spec's store/AMO causes) */
        if (write && c == RV_EXC_LOAD_PAGE) c = RV_EXC_STORE_PAGE;
        *cause = c;
        return NULL;
    }
    if (!host) {
        *cause = write ? RV_EXC_STORE_ACCESS : RV_EXC_LOAD_ACCESS;
        return NULL;
    }
    return host;
}

static int virt_copy(struct rv_hart *h, uint64_t va, void *buf, size_t len, bool write)
{
    struct rv_machine *m = h->m;
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        uint64_t a = va + done;
        size_t chunk = MIN(len - done, 4096 - (a & 0xfff));
        uint8_t *host = NULL;
        uint64_t pa = 0;
        if (m->user) {
            uintptr_t addend;
            if (m->uops->fill_tlb(h, a, write ? RV_ACC_WRITE : RV_ACC_READ, &addend, &pa))
                return done ? (int)done : -1;
            host = (uint8_t *)(uintptr_t)(a + addend);
        } else {
            unsigned pr = h->priv == RV_PRIV_M ? RV_PRIV_M : RV_PRIV_S;
            if (translate(h, a, RV_ACC_READ, pr, true, &pa))
                return done ? (int)done : -1;
            host = mem_translate(m->mem, pa, chunk);
            if (!host)
                return done ? (int)done : -1;
        }
        if (write) {
            memcpy(host, p + done, chunk);
            if (!m->user)
                mem_mark_dirty(m->mem, pa, chunk);
            rv_invalidate_code(m, a, chunk);
        } else {
            memcpy(p + done, host, chunk);
        }
        done += chunk;
    }
    return (int)done;
}

int rv_virt_read(struct rv_hart *h, uint64_t vaddr, void *buf, size_t len)
{
    return virt_copy(h, vaddr, buf, len, false);
}

int rv_virt_write(struct rv_hart *h, uint64_t vaddr, const void *buf, size_t len)
{
    return virt_copy(h, vaddr, (void *)buf, len, true);
}

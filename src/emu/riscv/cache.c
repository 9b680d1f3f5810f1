/* emu/riscv: the per-hart cache of decoded blocks.
 *
 * A block is decoded once at a (virtual pc, host address) pair and found
 * again through a direct-mapped jump cache, then a hash table, both keyed by
 * the host address of its first instruction (which names the physical
 * page in system mode and the guest page in user mode); the virtual pc is
 * checked too, since one physical page may be mapped at several addresses.
 * A block never crosses a page, so the fetch-TLB check at block entry
 * covers all of it.
 *
 * Pages holding decoded code are marked in the machine's code-page map; the
 * store slow path never maps them writable in a TLB, so the first store to
 * one invalidates the blocks of that page (on this hart at once, on the
 * others at their next block boundary) before it is done.
 *
 * Blocks live in a per-hart arena reset wholesale when full or on fence.i;
 * a block is never freed while it runs (resets happen at block boundaries).
 * A block may also carry host code (jit.c), kept in a per-hart arena that
 * rv_cache_flush resets with the blocks. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"
#include "base/base.h"
#include "mem/mem.h"

#include <stddef.h>
#include <sys/mman.h>

#define TBL_MAX_MASK ((1u << RV_HASH_BITS) - 1)
#define TBL_MIN_MASK ((1u << RV_TBL_MIN_BITS) - 1)
#define PG_BUCKETS 4096
_Static_assert(RV_JCACHE_BITS == RV_HASH_BITS && RV_TBL_MIN_BITS <= RV_HASH_BITS,
               "jcache and hash grow together");

struct rv_cache_ext {
    struct rv_block *page_head[PG_BUCKETS];
};

/* Per-block bookkeeping placed before the block in the arena. */
struct rv_block_hdr {
    struct rv_block *pnext;
    uint64_t page;            /* code-page index, ~0 if untracked */
};

static inline struct rv_block_hdr *hdr_of(struct rv_block *b)
{
    return (struct rv_block_hdr *)((uint8_t *)b - sizeof(struct rv_block_hdr));
}
static inline unsigned hash_of(const struct rv_hart *h, uintptr_t host)
{
    return (unsigned)((host >> 1) ^ (host >> 15)) & h->tbl_mask;
}
static inline unsigned jc_of(const struct rv_hart *h, uint64_t key)
{
    return (unsigned)(key >> 1) & h->tbl_mask;
}
/* The page lists' bucket: as many buckets as table entries, at most PG_BUCKETS. */
static inline unsigned pg_of(const struct rv_hart *h, uint64_t page)
{
    return (unsigned)page & MIN(h->tbl_mask, PG_BUCKETS - 1u);
}
/* Arena bytes of a block of n instructions (with its header and end marker). */
static inline size_t block_span(uint32_t n)
{
    size_t len = sizeof(struct rv_block_hdr) + sizeof(struct rv_block) + (n + 1) * sizeof(struct rv_insn);
    return (len + 15) & ~(size_t)15;
}

void rv_cache_init(struct rv_hart *h)
{
    h->arena = mmap(NULL, RV_ARENA_SIZE + sizeof(struct rv_cache_ext), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h->arena == MAP_FAILED) {
        log_error("riscv: cannot map the code cache: out of memory");
        abort();
    }
    /* filled front to back with blocks: huge pages take a fault per 2 MiB
     * instead of per 4 KiB (the host's THP in "madvise" mode), once
     * RV_HUGE_AT is used (block_commit) */
    h->arena_used = 0;
    h->arena_cap = RV_ARENA_SIZE;
    h->tbl_mask = TBL_MIN_MASK;
    h->tbl_blocks = 0;
    h->step_block = xzalloc(sizeof(struct rv_block) + 2 * sizeof(struct rv_insn));
}

void rv_cache_free(struct rv_hart *h)
{
    if (h->arena && h->arena != MAP_FAILED)
        munmap(h->arena, RV_ARENA_SIZE + sizeof(struct rv_cache_ext));
    free(h->step_block);
    rv_jit_free(h);
}

static struct rv_cache_ext *ext_of(struct rv_hart *h)
{
    return (struct rv_cache_ext *)(h->arena + RV_ARENA_SIZE);
}

/* The lookup tables, from jcache to the end of jtc: whole pages. */
#define TABLES_LEN (offsetof(struct rv_hart, jtc) + sizeof(((struct rv_hart *)0)->jtc) - \
                    offsetof(struct rv_hart, jcache))
_Static_assert(offsetof(struct rv_hart, jcache) % 4096 == 0 && TABLES_LEN % 4096 == 0,
               "the hart's lookup tables are whole pages");
_Static_assert(RV_ARENA_SIZE % 4096 == 0 && sizeof(struct rv_cache_ext) % 4096 == 0,
               "the arena and its page lists are whole pages");

void rv_cache_flush(struct rv_hart *h)
{
    rv_jit_quiesce(h);
    h->cache_hwm = MAX(h->cache_hwm, h->arena_used + h->jit_used + h->jit_stubs);
    /* Every table entry points at a block in the arena: with none decoded
     * since the last flush they are all clear (a new or restored hart's
     * tables are never touched before it runs). Only the entries in use
     * are cleared (those past tbl_mask are clear: the mask only grows,
     * and a trim drops all); the tables keep their size, as the code run
     * next is likely as much. */
    if (h->arena_used) {
        memset(h->jcache, 0, (h->tbl_mask + 1) * sizeof(h->jcache[0]));
        memset(h->hash, 0, (h->tbl_mask + 1) * sizeof(h->hash[0]));
        memset(ext_of(h)->page_head, 0, MIN(h->tbl_mask + 1, PG_BUCKETS) * sizeof(ext_of(h)->page_head[0]));
    }
    /* jtc entries are made only by translated blocks, gone with their
     * code: with none translated since the last flush they are clear (a
     * small hart, which translates nothing, never touches its pages) */
    if (h->jit_used)
        memset(h->jtc, 0, sizeof(h->jtc));
    h->tbl_blocks = 0;
    h->arena_used = 0;
    h->jit_used = 0;            /* translated code goes with its blocks */
    h->jit_stubs = 0;
    h->flush_count++;
    h->code_untracked = false;
}

/* fence.i. Every store of a hart to a page holding decoded code drops that
 * page's blocks (on every hart: rv_code_written) and, in user mode,
 * vessel's own writes do too; in system mode what a device or a loader
 * writes is seen by the guest_mem hook below, which bumps code_ext_gen
 * when the page holds code. So the decoded code can be stale only after
 * such a write, a write nobody tells (vhost: mem_note_untracked), or for
 * a block outside the code map: only then does fence.i drop the
 * hart's cache, as QEMU's precise invalidation makes fence.i a no-op.
 * (Linux issues a fence.i and an SBI remote fence.i for every text patch
 * and every executable page it maps: 791 wholesale flushes, and as many
 * re-decodes of the working set, in one boot of the default guest.)
 * User mode drops the cache as before. */
void rv_fence_i(struct rv_hart *h)
{
    struct rv_machine *m = h->m;
    if (!m->user) {
        uint64_t g = atomic_load_explicit(&m->code_ext_gen, memory_order_acquire);
        if (g == h->code_ext_seen && !h->code_untracked && !__atomic_load_n(&m->mem->untracked, __ATOMIC_ACQUIRE))
            return;
        h->code_ext_seen = g;
    }
    rv_cache_flush(h);
}

/* A hart going idle gives its translation caches back to the host when
 * they have grown past RV_TRIM_MIN since the last trim, at most once per
 * RV_TRIM_INTERVAL_NS: the blocks, the translated code and the lookup
 * tables are dropped (MADV_DONTNEED: the pages leave the process) and
 * what the guest runs next is decoded again. RV_TRIM_MIN sits above what
 * an idle default guest decodes (about 1100 blocks, 0.8 MiB, plus 0.2
 * MiB of translated code in two seconds, measured), else every trim
 * would be followed by decoding the same again.
 *
 * A mostly idle hart (busy under a tenth of each second: rv_hart_note_wait)
 * goes further at its next idle wait: it drops its caches and then runs
 * small, decoding into the first RV_SMALL_ARENA bytes of its arena only
 * (flushed and reused when full; small tables; no huge pages, or one
 * touch would make 2 MiB resident) and translating nothing. The idle
 * guest's wake-ups run more code than that holds (an idle Linux guest's
 * timer and housekeeping code is about 1 MiB decoded), so part of it is
 * decoded again at each wake-up: host CPU an idle guest can spare, for
 * memory that many idle guests on one host cannot (bench/snapshot/many.sh;
 * figures in docs/snapshot.md). It is busy again, and gets the whole
 * arena and the translator back, at the end of a window busy a tenth of
 * the time or more, or after RV_SMALL_BUSY_NS run without a wait.
 * Call only outside rv_run (no block is executing). */
#define RV_TRIM_MIN (2u << 20)
#define RV_TRIM_INTERVAL_NS 1000000000ULL
#define RV_SMALL_BUSY_NS 100000000ULL

/* Everything decoded and translated dropped, the pages given back. */
static void cache_drop(struct rv_hart *h)
{
    rv_jit_quiesce(h);
    madvise(h->jcache, TABLES_LEN, MADV_DONTNEED);
    madvise(h->arena, RV_ARENA_SIZE + sizeof(struct rv_cache_ext), MADV_DONTNEED);
    rv_jit_release(h);
    h->arena_used = 0;
    h->jit_used = 0;
    h->jit_stubs = 0;
    h->flush_count++;
    h->code_untracked = false;
    h->tbl_mask = TBL_MIN_MASK;
    h->tbl_blocks = 0;
    h->cache_hwm = 0;
}

bool rv_hart_trim(struct rv_hart *h)
{
    if (h->small)
        return false;
    if (h->mostly_idle) {
        cache_drop(h);
        madvise(h->arena, RV_ARENA_SIZE, MADV_NOHUGEPAGE);
        h->arena_huge = false;
        h->arena_cap = RV_SMALL_ARENA;
        h->small = true;
        h->smalls++;
        return true;
    }
    if (MAX(h->cache_hwm, h->arena_used + rv_jit_used(h) + h->jit_stubs) < RV_TRIM_MIN)
        return false;
    uint64_t now_ns = time_ns();
    if (h->trims && now_ns - h->trim_ns < RV_TRIM_INTERVAL_NS)
        return false;
    cache_drop(h);
    h->trim_ns = now_ns;
    h->trims++;
    return false;
}

void rv_cache_busy(struct rv_hart *h)
{
    if (!h->small)
        return;
    /* the blocks decoded while small stay: the arena only grows on (huge
     * pages again past RV_HUGE_AT: block_commit) */
    h->arena_cap = RV_ARENA_SIZE;
    h->small = false;
}

void rv_cache_poll_small(struct rv_hart *h)
{
    if (time_ns() < h->wait_end_ns + RV_SMALL_BUSY_NS)
        return;
    /* busy: not mostly idle until a whole window says so again, or its
     * next wait would make it small at once */
    h->mostly_idle = false;
    h->duty_busy_ns = h->duty_all_ns = 0;
    rv_cache_busy(h);
}

/* A block whose only instruction starts 2 bytes before the end of its
 * page: a 32-bit instruction across the boundary (decode_straddle). */
static bool straddles(const struct rv_block *b)
{
    return (b->vpc & 0xfff) == 0xffe && b->n == 1 && b->insn[0].len == 4;
}

/* Drop the blocks of code page `page` (only_straddling: only those whose
 * instruction runs into the next page). */
static void drop_page(struct rv_hart *h, uint64_t page, bool only_straddling)
{
    struct rv_block **pp = &ext_of(h)->page_head[pg_of(h, page)];
    while (*pp) {
        struct rv_block *b = *pp;
        struct rv_block_hdr *hd = hdr_of(b);
        if (hd->page != page || (only_straddling && !straddles(b))) {
            pp = &hd->pnext;
            continue;
        }
        *pp = hd->pnext;
        b->valid = false;
        rv_jit_unlink(b);
        struct rv_block **hp = &h->hash[hash_of(h, (uintptr_t)b->key)];
        while (*hp && *hp != b)
            hp = &(*hp)->hnext;
        if (*hp)
            *hp = b->hnext;
        unsigned j = jc_of(h, b->key);
        if (h->jcache[j] == b)
            h->jcache[j] = NULL;
    }
}

/* The page's blocks, and the instruction across from the page before
 * (cached in user mode only, where code pages are guest pages in order). */
void rv_cache_invalidate_page(struct rv_hart *h, uint64_t page)
{
    drop_page(h, page, false);
    if (page > 0)
        drop_page(h, page - 1, true);
}

/* Ask every other hart of the machine for req before its next block. */
static void request_others(struct rv_hart *h, unsigned req)
{
    struct rv_machine *m = h->m;
    pthread_mutex_lock(&m->lock);
    for (unsigned k = 0; k < m->nhart_slots; k++) {
        struct rv_hart *o = m->harts[k];
        if (o && o != h)
            rv_request(o, req);
    }
    pthread_mutex_unlock(&m->lock);
}

static uint64_t code_page_of(struct rv_machine *m, uint64_t addr)
{
    uint64_t pg = (addr - m->code_base) >> 12;
    return addr >= m->code_base && pg < m->code_npages ? pg : ~0ULL;
}

/* Mark a page as holding code: no hart may keep it writable in its TLB. */
static void mark_code_page(struct rv_hart *h, uint64_t page)
{
    struct rv_machine *m = h->m;
    if (page == ~0ULL)
        return;
    /* direct access: the page's host protection may have been reset
     * (guest mprotect, a syscall's write) with the mark kept: ask always */
    if (m->user && m->uops->code_page)
        m->uops->code_page(m->uops->opaque, m->code_base + (page << 12));
    if (__atomic_load_n(&m->code_pages[page], __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&m->code_pages[page], 1, __ATOMIC_SEQ_CST);
    memset(h->tlb[RV_ACC_WRITE], 0, sizeof(h->tlb[RV_ACC_WRITE]));
    request_others(h, RV_REQ_TLB);
}

void rv_code_written(struct rv_hart *h, uint64_t addr)
{
    struct rv_machine *m = h->m;
    uint64_t page = code_page_of(m, addr);
    if (page == ~0ULL || !__atomic_load_n(&m->code_pages[page], __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&m->code_pages[page], 0, __ATOMIC_SEQ_CST);
    rv_cache_invalidate_page(h, page);
    h->code_dirty = true;
    request_others(h, RV_REQ_CODE);
}

/* guest_mem's on_write (system mode): [gpa, gpa + len) was written from
 * outside the harts; if it holds decoded code, the next fence.i of each
 * hart drops its cache. A page is marked as code before its bytes are
 * decoded (decode_block), so a write that finds no mark was done before
 * the decoder read the page. */
void rv_code_ext_write(void *machine, uint64_t gpa, uint64_t len)
{
    struct rv_machine *m = machine;
    atomic_thread_fence(memory_order_seq_cst);
    if (gpa + len - 1 < gpa)
        len = -gpa;
    uint64_t first = MAX(gpa, m->code_base), end = gpa + len;
    for (uint64_t a = first & ~0xfffULL; a < end; a += 4096) {
        uint64_t page = code_page_of(m, a);
        if (page == ~0ULL)
            break;
        if (__atomic_load_n(&m->code_pages[page], __ATOMIC_RELAXED)) {
            atomic_fetch_add_explicit(&m->code_ext_gen, 1, memory_order_seq_cst);
            return;
        }
    }
}

bool rv_code_page(struct rv_machine *m, uint64_t addr)
{
    uint64_t page = code_page_of(m, addr);
    return page != ~0ULL && __atomic_load_n(&m->code_pages[page], __ATOMIC_RELAXED);
}

/* More blocks than table entries: the tables four times as large (at
 * most RV_HASH_BITS; the page lists at most PG_BUCKETS), the hash and
 * the page lists rebuilt from the arena's valid blocks (an invalidated
 * one is in neither), the jump cache refilled as it misses. */
static void tables_grow(struct rv_hart *h)
{
    struct rv_block **ph = ext_of(h)->page_head;
    memset(h->jcache, 0, (h->tbl_mask + 1) * sizeof(h->jcache[0]));
    memset(h->hash, 0, (h->tbl_mask + 1) * sizeof(h->hash[0]));
    memset(ph, 0, MIN(h->tbl_mask + 1, PG_BUCKETS) * sizeof(ph[0]));
    h->tbl_mask = MIN(h->tbl_mask * 4 + 3, TBL_MAX_MASK);
    for (size_t off = 0; off < h->arena_used;) {
        struct rv_block_hdr *hd = (struct rv_block_hdr *)(h->arena + off);
        struct rv_block *b = (struct rv_block *)(hd + 1);
        off += block_span(b->n);
        if (!b->valid)
            continue;
        unsigned hi = hash_of(h, (uintptr_t)b->key);
        b->hnext = h->hash[hi];
        h->hash[hi] = b;
        if (hd->page != ~0ULL) {
            hd->pnext = ph[pg_of(h, hd->page)];
            ph[pg_of(h, hd->page)] = b;
        }
    }
}

static unsigned decode_one(struct rv_hart *h, struct rv_insn *in, const uint8_t *p, uint64_t pc)
{
    uint16_t lo;
    memcpy(&lo, p, 2);
    if ((lo & 3) != 3) {
        uint32_t raw = rv_expand_c(lo);
        rv_decode(in, raw, 2, pc, h->m->user);
        if (!raw) {
            in->op = RV_OP_ILLEGAL;
            in->raw = lo;
        }
        return 2;
    }
    uint32_t raw;
    memcpy(&raw, p, 4);
    rv_decode(in, raw, 4, pc, h->m->user);
    return 4;
}

/* Decode one instruction at pc, of a block at vpc, from host bytes p. */
static unsigned decode_at(struct rv_hart *h, struct rv_insn *in, const uint8_t *p, uint64_t pc, uint64_t vpc)
{
    unsigned len = decode_one(h, in, p, pc);
    in->dpc = (int16_t)(pc - vpc);
    return len;
}

/* A fresh block in the arena (flushed first when full), its header
 * before it. */
static struct rv_block *block_alloc(struct rv_hart *h)
{
    size_t need = sizeof(struct rv_block_hdr) + sizeof(struct rv_block) +
                  (RV_BLOCK_MAX + 1) * sizeof(struct rv_insn);
    if (h->arena_used + need > h->arena_cap)
        rv_cache_flush(h);
    return (struct rv_block *)(h->arena + h->arena_used + sizeof(struct rv_block_hdr));
}

/* Finish block b of n instructions ending at pc (the end marker), decoded
 * at vpc from host (page pa), and enter it in the tables and its code
 * page's list. */
static struct rv_block *block_commit(struct rv_hart *h, struct rv_block *b, unsigned n, uint64_t pc,
                                     uint64_t vpc, uint64_t pa, const uint8_t *host)
{
    struct rv_block_hdr *hd = hdr_of(b);
    rv_decode(&b->insn[n], 0, 4, pc, h->m->user);
    b->insn[n].op = RV_OP_END;
    b->insn[n].dpc = (int16_t)(pc - vpc);
    b->n = n;
    b->key = (uint64_t)(uintptr_t)host;
    b->vpc = vpc;
    b->end_pc = pc;
    b->valid = true;
    b->cpc[0] = b->cpc[1] = ~0ULL;
    b->cnext[0] = b->cnext[1] = NULL;
    b->jit = NULL;
    b->jit_in = NULL;
    b->hits = 0;
    b->hit_gen = h->idle_gen;
    b->jit_failed = false;
    b->jit_queued = false;
    h->arena_used += block_span(n);
    if (unlikely(h->arena_used >= RV_HUGE_AT && !h->arena_huge && !h->small)) {
        madvise(h->arena, RV_ARENA_SIZE, MADV_HUGEPAGE);
        h->arena_huge = true;
    }

    uint64_t cpage = code_page_of(h->m, pa);
    mark_code_page(h, cpage);
    hd->page = cpage;
    if (cpage == ~0ULL)
        h->code_untracked = true;
    if (cpage != ~0ULL) {
        struct rv_block **ph = &ext_of(h)->page_head[pg_of(h, cpage)];
        hd->pnext = *ph;
        *ph = b;
    } else {
        hd->pnext = NULL;
    }
    unsigned hi = hash_of(h, (uintptr_t)host);
    b->hnext = h->hash[hi];
    h->hash[hi] = b;
    h->jcache[jc_of(h, b->key)] = b;
    if (++h->tbl_blocks > h->tbl_mask + 1 && h->tbl_mask < TBL_MAX_MASK && !h->small)
        tables_grow(h);
    return b;
}

/* A 32-bit instruction across a page boundary: a block of its own. It is
 * cached like any block when its second half lies in the next physical
 * page (always in user mode: guest page g at host base + g, and any change
 * of mapping flushes every cache; in system mode when the two virtual
 * pages map to consecutive physical ones, as the kernel's text does): it
 * sits in its first page's list, its second page is marked as code too,
 * and a write there drops it (rv_cache_invalidate_page). In system mode
 * the second page's translation is not part of the key: such a block is
 * only ever entered through rv_block_lookup, which checks it
 * (straddle_ok); it is neither chained to (exec_next_block) nor
 * translated. Otherwise it is decoded into the scratch block at every run,
 * never cached (a Linux boot ran 27,500 of those before). */
static struct rv_block *decode_straddle(struct rv_hart *h, uint64_t vpc, uint64_t pa, const uint8_t *host,
                                        int *cause)
{
    uint64_t pa2;
    const uint8_t *h2;
    int c = rv_fetch_translate(h, vpc + 2, &pa2, &h2);
    if (c) {
        *cause = c;
        h->exc_tval = vpc + 2;
        return NULL;
    }
    uint8_t buf[4];
    memcpy(buf, host, 2);
    memcpy(buf + 2, h2, 2);
    uint64_t page = code_page_of(h->m, pa);
    if (h2 == host + 2 && pa2 == pa + 2 && (h->m->user || (page != ~0ULL && page + 1 < h->m->code_npages))) {
        struct rv_block *b = block_alloc(h);
        if (!h->m->user)
            mark_code_page(h, page + 1);   /* before reading: rv_code_ext_write */
        decode_at(h, &b->insn[0], buf, vpc, vpc);
        if (h->m->user)
            mark_code_page(h, code_page_of(h->m, pa2));
        b = block_commit(h, b, 1, vpc + 4, vpc, pa, host);
        b->jit_failed = !h->m->user;
        return b;
    }
    struct rv_block *b = h->step_block;
    b->n = 1;
    b->cpc[0] = b->cpc[1] = ~0ULL;
    b->key = 0;
    b->vpc = vpc;
    decode_at(h, &b->insn[0], buf, vpc, vpc);
    rv_decode(&b->insn[1], 0, 4, vpc + 4, h->m->user);
    b->insn[1].op = RV_OP_END;
    b->insn[1].dpc = 4;
    b->end_pc = vpc + 4;
    return b;
}

static struct rv_block *decode_block(struct rv_hart *h, uint64_t vpc, uint64_t pa, const uint8_t *host, int *cause)
{
    uint64_t room = 4096 - (vpc & 0xfff);
    if (room < 4) {
        uint16_t lo;
        memcpy(&lo, host, 2);
        if ((lo & 3) == 3)
            return decode_straddle(h, vpc, pa, host, cause);
    }
    struct rv_block *b = block_alloc(h);
    if (!h->m->user)
        mark_code_page(h, code_page_of(h->m, pa));   /* before reading: rv_code_ext_write */
    /* A block runs straight through conditional branches (taken ones leave
     * it: side exits) and follows direct jumps that stay in the page. */
    uint64_t page = vpc & ~0xfffULL, pc = vpc;
    const uint8_t *hbase = host - (vpc & 0xfff);
    unsigned n = 0;
    bool bps = rv_debug_exec_on(h);
    while (n < RV_BLOCK_MAX) {
        uint64_t off = pc & 0xfff;
        if (4096 - off < 4) {
            uint16_t lo;
            memcpy(&lo, hbase + off, 2);
            if ((lo & 3) == 3)
                break;     /* straddles the page: its own block */
        }
        if (n > 0 && bps && rv_debug_stop_at(h, pc))
            break;
        struct rv_insn *in = &b->insn[n];
        unsigned len = decode_at(h, in, hbase + off, pc, vpc);
        unsigned op = in->op;
        n++;
        uint64_t next = pc + len;
        if (op == RV_OP_JAL) {
            uint64_t t = (uint64_t)in->imm;
            if ((t & ~0xfffULL) == page && n < RV_BLOCK_MAX && !(bps && rv_debug_stop_at(h, t))) {
                in->op = RV_OP_JAL_IN;
                pc = t;
                continue;
            }
            pc = next;
            break;
        }
        pc = next;
        if (op >= RV_OP_BEQ && op <= RV_OP_BGEU) {
            if ((pc & ~0xfffULL) != page)
                break;
            continue;
        }
        if (rv_op_ends_block(op) || (pc & ~0xfffULL) != page)
            break;
    }
    return block_commit(h, b, n, pc, vpc, pa, host);
}

/* A cached block across a page boundary (system mode): its second half
 * still comes from where it was decoded. */
static bool straddle_ok(struct rv_hart *h, const struct rv_block *b)
{
    uint64_t va = b->vpc + 2, pa;
    const struct rv_tlb_entry *e = rv_tlb_slot(h, RV_ACC_EXEC, va);
    const uint8_t *host;
    if (e->tag == rv_tlb_tag(va, h->mode_fetch))
        return va + e->addend == b->key + 2;
    return !rv_fetch_translate(h, va, &pa, &host) && (uintptr_t)host == b->key + 2;
}

struct rv_block *rv_block_lookup(struct rv_hart *h, uint64_t vpc, int *cause)
{
    struct rv_tlb_entry *e = rv_tlb_slot(h, RV_ACC_EXEC, vpc);
    uint64_t pa = 0;
    const uint8_t *host;
    if (likely(e->tag == rv_tlb_tag(vpc, h->mode_fetch))) {
        host = (const uint8_t *)(uintptr_t)(vpc + e->addend);
    } else {
        int c = rv_fetch_translate(h, vpc, &pa, &host);
        if (c) {
            *cause = c;
            h->exc_tval = vpc;
            return NULL;
        }
    }
    uint64_t key = (uint64_t)(uintptr_t)host;
    struct rv_block *b = h->jcache[jc_of(h, key)];
    if (unlikely(!b || b->key != key || b->vpc != vpc)) {
        for (b = h->hash[hash_of(h, (uintptr_t)host)]; b && (b->key != key || b->vpc != vpc); b = b->hnext)
            ;
        if (b)
            h->jcache[jc_of(h, key)] = b;
    }
    bool moved = false;
    if (b) {
        if (likely((vpc & 0xfff) != 0xffe) || h->m->user || !straddles(b) || straddle_ok(h, b))
            return b;
        moved = true;
    }
    if (!pa) {
        int c = rv_fetch_translate(h, vpc, &pa, &host);
        if (c) {
            *cause = c;
            h->exc_tval = vpc;
            return NULL;
        }
    }
    /* a cached straddling block whose second page moved is decoded afresh,
     * into the scratch block (decode_straddle does not cache it) */
    return moved ? decode_straddle(h, vpc, pa, host, cause) : decode_block(h, vpc, pa, host, cause);
}

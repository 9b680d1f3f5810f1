/* emu/riscv internal: the hart structure, decoded blocks, and the seams
 * between the interpreter (exec.c), the decoder (decode.c), memory and the
 * MMU (mmu.c), CSRs / traps / interrupts (csr.c) and the code cache
 * (cache.c). Private to src/emu/riscv; other modules include riscv.h. */
#ifndef VESSEL_RISCV_HART_H
#define VESSEL_RISCV_HART_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "emu/riscv/riscv.h"
#include "emu/riscv/fpu.h"

#define RV_TLB_BITS 10
#define RV_TLB_SIZE (1u << RV_TLB_BITS)
#define RV_PAGE 4096ULL
#define RV_BLOCK_MAX 64            /* instructions per decoded block */
#define RV_JCACHE_BITS 14          /* per-hart pc -> block direct-mapped cache (at most) */
#define RV_HASH_BITS 14            /* its hash table (the same size) */
#define RV_TBL_MIN_BITS 9          /* both start this small and grow with the blocks */
#define RV_JTC_BITS 12             /* translator's jalr target cache */
#define RV_ARENA_SIZE (16u << 20)  /* decoded-block arena per hart */
/* The block and translated-code arenas take huge pages (MADV_HUGEPAGE)
 * once this much of one is used: a short program (a static hello decodes
 * 0.5 MiB) faults 4 KiB pages in, rather than clearing a 2 MiB page per
 * arena; a long one (a Linux boot: 12 MiB of blocks, 6 MiB of code)
 * gets huge pages for the rest. */
#define RV_HUGE_AT (1u << 20)
#define RV_SMALL_ARENA (128u << 10) /* of it, what a mostly idle hart uses */
#define RV_MAX_BP 64
#define RV_NTRIG 4                 /* Sdtrig triggers per hart */
/* a pseudo cause from the memory slow path: a debugger watchpoint was hit
 * (rv_run returns RV_EXIT_DEBUG with pc at the access) */
#define RV_CAUSE_WATCH 0x100

/* One decoded instruction. `op` indexes the interpreter's label table.
 * 24 bytes: its pc is its block's vpc + dpc (rv_insn_pc; a block stays
 * in its page), not a field of its own, and the interpreter takes its
 * label from the table by op rather than from a field filled at the
 * block's first run: it was 40 (a boot of the default guest decodes
 * 285,000 instructions into the arena). */
struct rv_insn {
    uint16_t op;
    uint8_t rd, rs1, rs2, rs3;    /* rd 0 is rewritten to 32 (the sink) */
    uint8_t len;                  /* 2 or 4 */
    int16_t dpc;                  /* pc - the block's vpc (set by the decoder's caller) */
    uint32_t raw;                 /* the (expanded) 32-bit instruction */
    int64_t imm;
};
_Static_assert(sizeof(struct rv_insn) == 24, "a decoded instruction is 24 bytes");

/* Translated code of a block (jit.c): returns { enum rv_jit_code, aux }. */
struct rv_jit_ret {
    uint64_t code, aux;
};
struct rv_hart;
typedef struct rv_jit_ret (*rv_jit_fn)(struct rv_hart *h);
enum rv_jit_code {
    RV_JIT_NEXT = 0,      /* h->pc set: dispatch; aux: 0, or an exit rv_jit_link can chain */
    RV_JIT_NOCHAIN = 1,   /* h->pc set after a store that dirtied code */
    RV_JIT_RESUME = 2,    /* | index << 8: interpret block aux (it may be a chained
                           * one) from that instruction on */
    RV_JIT_EXC = 16,      /* + cause: exception at h->pc, tval = aux */
};

struct rv_block {
    uint64_t key;                 /* physical pc (system) or virtual pc (user) */
    uint64_t vpc;                 /* virtual pc it was decoded at */
    uint64_t end_pc;              /* virtual pc after the last instruction */
    struct rv_block *hnext;
    uint32_t n;                   /* instructions, excluding the end marker */
    bool valid;
    /* direct chaining: the blocks that followed this one (taken, fall-through) */
    uint64_t cpc[2];
    struct rv_block *cnext[2];
    uint64_t cgen[2];             /* (tlb_gen << 2 | priv) when linked */
    rv_jit_fn jit;                /* translated code, or NULL */
    void *jit_body;               /* its entry with instret counted (jalr's lookup) */
    void *jit_chain;              /* its entry from a chained exit: instret += n, the budget */
    struct rv_jit_in *jit_in;     /* the exits chained to it (rv_jit_unlink) */
    uint32_t hits;                /* runs while not translated, since idle_gen was hit_gen */
    bool jit_failed;              /* not translatable: interpret */
    bool jit_queued;              /* handed to the translator thread (jit.c), not back yet */
    uint16_t hit_gen;             /* the hart's idle_gen when hits was last reset */
    struct rv_insn insn[];        /* n + 1: the last is OP_END */
};

/* The pc of instruction i of block b. */
static inline uint64_t rv_insn_pc(const struct rv_block *b, const struct rv_insn *i)
{
    return b->vpc + (uint64_t)(int64_t)i->dpc;
}

struct rv_tlb_entry {
    uint64_t tag;                 /* (vpn << 2 | mode) + 1, 0 = empty */
    uintptr_t addend;             /* host = vaddr + addend */
};

struct rv_machine {
    bool user;
    const struct rv_mem_ops *uops;
    /* system */
    struct guest_mem *mem;
    struct bus *bus;
    const struct rv_sys_ops *sops;
    void *opaque;
    uint64_t tohost;
    bool sv48;
    _Atomic uint64_t time_base_ns;    /* host CLOCK_MONOTONIC at guest time 0 */
    _Atomic bool time_stopped;        /* machine paused: time reads time_stopped_ns */
    _Atomic uint64_t time_stopped_ns;
    uint64_t (*clock)(void *opaque);   /* rv_machine_set_clock, else NULL: the host's */
    void *clock_opaque;
    /* pages with decoded code: a byte per 4 KiB page of the code space
     * (system: RAM pages, index from ram base; user: guest pages) */
    uint8_t *code_pages;
    uint64_t code_base, code_npages;
    /* system mode: bumped when a device or loader writes a page holding
     * decoded code (guest_mem's on_write): fence.i flushes only then */
    _Atomic uint64_t code_ext_gen;
    /* every hart, for invalidations */
    pthread_mutex_t lock;
    struct rv_hart *harts[256];
    unsigned nhart_slots;
    /* breakpoints and watchpoints (the debugger's) */
    uint64_t bp[RV_MAX_BP];
    atomic_uint nbp;
    struct rv_watch { uint64_t addr, len; unsigned kind; } wp[RV_MAX_WP];
    atomic_uint nwp;
    /* translator: on, and runs of a block before it is translated */
    bool jit;
    uint32_t jit_threshold;
    /* system mode with two host CPUs or more: hot blocks are translated
     * on a thread of the hart's own (rv_jit_queue) while it interprets on */
    bool jit_async;
    uint8_t jit_host;             /* JIT_HOST_* the host CPU has (rv_jit_configure) */
    int perf_map_fd;              /* VESSEL_PERF_MAP: /tmp/perf-PID.map, or -1 */
};

struct rv_hart {
    uint64_t x[33];               /* x[32]: writes to x0 land here */
    uint64_t pc;
    struct rv_fpstate fp;
    struct rv_machine *m;
    unsigned id;

    /* TLBs: read, write, fetch */
    struct rv_tlb_entry tlb[3][RV_TLB_SIZE];
    unsigned mode_data, mode_fetch;   /* priv used for tags (MPRV aware) */
    uint64_t tlb_gen;             /* bumped by every TLB flush (chains check it) */
    /* the span of the superpages entries were filled from since the last
     * whole flush (empty: lo > hi): an sfence.vma of one address in it
     * flushes all, as entries are per 4 KiB page */
    uint64_t tlb_big_lo, tlb_big_hi;

    /* LR/SC reservation */
    uint64_t resv_addr;           /* vaddr, or ~0 */
    uint64_t resv_val;
    uintptr_t resv_host;

    /* exits */
    atomic_uint exit_req;         /* kick / halt / flush requests (bits) */
    uint64_t instret;
    uint64_t budget_end;
    /* What translated code compares instret with, in place of budget_end,
     * the timer poll and exit_req: budget_end, in system mode the next
     * timer poll (poll_at) when sooner (rv_jit_limit), or 0 while a request
     * may be pending (rv_request lowers it after setting exit_req; the
     * dispatcher puts the limit back before it reads exit_req), so a
     * self-loop or a chained exit checks one word, not three. */
    _Atomic uint64_t jit_limit;
    uint64_t exc_cause, exc_tval;
    bool halted;
    bool code_dirty;              /* a store invalidated code: leave the block */
    uint64_t debug_skip;          /* resume past a breakpoint at this pc */
    uint64_t watch_addr;          /* the debugger watchpoint just hit */
    unsigned watch_kind;          /* its RV_WATCH_* kind, 0 = none */

    /* Sdtrig (trigger.c) */
    struct rv_trigger { uint64_t tdata1, tdata2; } trig[RV_NTRIG];
    unsigned tselect;
    bool trig_exec, trig_ldst;    /* an execute / a load or store trigger is armed */

    /* privileged state */
    unsigned priv;
    uint64_t mstatus, medeleg, mideleg, mie, mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, scounteren, menvcfg, senvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, satp;
    uint64_t stimecmp;
    _Atomic uint64_t mtimecmp;
    _Atomic uint64_t mip;         /* software view + device lines */
    uint64_t pmpcfg[16], pmpaddr[64];
    /* mcycle (0) and minstret (1) as seen by the guest: instret - cnt_off,
     * or cnt_frozen while mcountinhibit stops them (instret itself always
     * counts: budgets run on it) */
    uint64_t cnt_off[2], cnt_frozen[2];
    uint64_t poll_at;             /* instret of the next timer check (system mode) */

    /* wait/park */
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    bool waiting;
    uint64_t spin_ns;             /* how long rv_hart_wait polls first (adaptive) */
    /* how busy the hart is (rv_hart_wait): over windows of a second, the
     * time it ran between waits; while it runs under a tenth of the time,
     * every long wait bumps idle_gen, and a block's hits count only its
     * runs since the hart last idled (exec_enter) */
    uint64_t wait_end_ns, duty_busy_ns, duty_all_ns;
    bool mostly_idle;
    uint16_t idle_gen;
    /* the idle regime (cache.c): a mostly idle hart, at its next idle
     * wait, gives its caches back and then decodes into the first
     * arena_cap = RV_SMALL_ARENA bytes of its arena only (recycled when
     * full, no huge pages), translating nothing, until it is busy again
     * (rv_cache_busy) */
    bool small;
    bool arena_huge, jit_huge;    /* MADV_HUGEPAGE given (past RV_HUGE_AT used) */
    size_t arena_cap;             /* RV_ARENA_SIZE, or RV_SMALL_ARENA when small */
    uint64_t smalls;              /* times it went small (tests, stats) */

    /* code cache (per hart) */
    uint8_t *arena;
    size_t arena_used;
    uint64_t flush_count;         /* bumped by every wholesale flush */
    uint64_t code_ext_seen;       /* m->code_ext_gen at the last flush */
    bool code_untracked;          /* a block decoded outside the code map since */
    struct rv_block *step_block;  /* scratch for single steps */
    uint8_t *jit_code;            /* translated code arena (reset with the blocks) */
    void *jit_scratch;            /* the translator's working state (jit.c), or NULL */
    struct rv_block *jit_last;    /* the block whose translated code last left (its epilogue) */
    /* the translator thread (m->jit_async; jit.c), or NULL before the
     * first hot block: translations it has finished (jit_done) and this
     * hart has taken (jit_taken) */
    struct rv_jit_async *jit_async;
    _Atomic unsigned *jit_done;
    unsigned jit_taken;
    size_t jit_used;              /* translated code, from the arena's start */
    size_t jit_stubs;             /* chain stubs (rv_jit_link, the hart's own), from its last quarter */
    /* direct accesses of translated code (user mode): host fault at
     * jit_code + at goes on at jit_code + stub; ascending, reset with it */
    struct rv_jit_site { uint32_t at, stub; } *jit_sites;
    unsigned jit_nsites, jit_sites_cap;
    uint64_t direct_size;         /* user mode: the direct range's end */
    size_t cache_hwm;             /* most of arena + jit code used since the last trim */
    uint64_t trim_ns;             /* host time of the last trim (rv_hart_trim) */
    uint64_t trims;               /* how many */
    /* jcache and hash use their first tbl_mask + 1 entries (from
     * 1 << RV_TBL_MIN_BITS): they grow (x4, the hash rebuilt) when the
     * blocks decoded since the last flush outnumber that, so a hart that
     * runs little code touches a few of their pages, not 256 KiB */
    uint32_t tbl_mask;
    uint32_t tbl_blocks;
    /* The lookup tables, page-aligned and adjacent (the hart is mmap'd), so
     * that a trim gives their pages back with one madvise: */
    struct rv_block *jcache[1u << RV_JCACHE_BITS] __attribute__((aligned(4096)));
    struct rv_block *hash[1u << RV_HASH_BITS];
    /* user mode: virtual pc -> translated block, for jumps through a
     * register (jalr) straight from translated code; reset with the cache */
    struct rv_jtc { uint64_t vpc; struct rv_block *b; } jtc[1u << RV_JTC_BITS];
};

/* exit_req bits */
enum { RV_REQ_KICK = 1, RV_REQ_TLB = 2, RV_REQ_CODE = 4, RV_REQ_HALT = 8,
       RV_REQ_WTLB = 16,             /* only the write TLB (the dirty log's sync); ends no WFI */
       RV_REQ_FENCEI = 32 };         /* rv_fence_i (translated fence.i, SBI remote fence.i) */

/* Post requests to h, from any thread (async-signal-safe): exit_req, then
 * jit_limit, which makes translated code's next check fail. */
static inline void rv_request(struct rv_hart *h, unsigned bits)
{
    atomic_fetch_or(&h->exit_req, bits);
    atomic_store(&h->jit_limit, 0);
}

/* mstatus bits */
#define MS_SIE  (1ULL << 1)
#define MS_MIE  (1ULL << 3)
#define MS_SPIE (1ULL << 5)
#define MS_UBE  (1ULL << 6)
#define MS_MPIE (1ULL << 7)
#define MS_SPP  (1ULL << 8)
#define MS_VS   (3ULL << 9)
#define MS_MPP_SHIFT 11
#define MS_MPP  (3ULL << 11)
#define MS_FS   (3ULL << 13)
#define MS_XS   (3ULL << 15)
#define MS_MPRV (1ULL << 17)
#define MS_SUM  (1ULL << 18)
#define MS_MXR  (1ULL << 19)
#define MS_TVM  (1ULL << 20)
#define MS_TW   (1ULL << 21)
#define MS_TSR  (1ULL << 22)
#define MS_UXL  (3ULL << 32)
#define MS_SXL  (3ULL << 34)
#define MS_SD   (1ULL << 63)
/* the mstatus bits a write keeps; the ones sstatus shows (csr.c; the
 * translator's sstatus fast path in jit_ops.c) */
#define MSTATUS_WMASK (MS_SIE | MS_MIE | MS_SPIE | MS_MPIE | MS_SPP | MS_MPP | MS_FS | MS_MPRV | \
                       MS_SUM | MS_MXR | MS_TVM | MS_TW | MS_TSR)
#define SSTATUS_MASK (MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_XS | MS_SUM | MS_MXR | MS_UXL | MS_SD)
#define RV_CSR_SSTATUS 0x100

/* ---- decode.c ---- */
/* Decode the 32-bit (expanded) instruction `raw` of length len at pc
 * (i->dpc is left 0: the caller sets it from its block's vpc). */
void rv_decode(struct rv_insn *i, uint32_t raw, unsigned len, uint64_t pc, bool user);
/* Expand a compressed instruction; 0 = illegal. */
uint32_t rv_expand_c(uint16_t c);
/* Does this op end a block? */
bool rv_op_ends_block(unsigned op);

/* ---- cache.c ---- */
struct rv_block *rv_block_lookup(struct rv_hart *h, uint64_t vpc, int *cause);
/* hart.c: a wait of `waited` ns from t0 (CLOCK_MONOTONIC) ended: the
 * hart's busy share over windows of a second (the time between waits is
 * busy), and idle_gen bumped by a wait of 1 ms or more of a hart busy
 * under a tenth of the last window (exec_enter's hit counts). */
void rv_hart_note_wait(struct rv_hart *h, uint64_t t0, uint64_t waited);
void rv_cache_flush(struct rv_hart *h);
/* A small (idle-regime) hart turned busy: the whole arena and the
 * translator again; from rv_hart_note_wait at the end of a busy window
 * and from the run loop's timer poll (rv_cache_poll_small). */
void rv_cache_busy(struct rv_hart *h);
/* The run loop's timer poll on a small hart: busy again when it has run
 * RV_SMALL_BUSY_NS since its last wait without waiting. */
void rv_cache_poll_small(struct rv_hart *h);
void rv_fence_i(struct rv_hart *h);
void rv_code_ext_write(void *machine, uint64_t gpa, uint64_t len);
void rv_cache_invalidate_page(struct rv_hart *h, uint64_t key_page);
/* Whether the page holding addr has decoded code (stores to it go slow). */
bool rv_code_page(struct rv_machine *m, uint64_t addr);
/* A breakpoint is set at pc (the debugger's list, shared by every hart). */
static inline bool rv_bp_at(struct rv_machine *m, uint64_t pc)
{
    unsigned n = atomic_load_explicit(&m->nbp, memory_order_acquire);
    for (unsigned k = 0; k < n; k++)
        if (m->bp[k] == pc)
            return true;
    return false;
}
/* The store slow path found a code page: invalidate everywhere. */
void rv_code_written(struct rv_hart *h, uint64_t key);
void rv_cache_init(struct rv_hart *h);
void rv_cache_free(struct rv_hart *h);

/* ---- exec.c ---- */
/* An AMO, LR or SC as the interpreter does it, for translated code: *val
 * is rs2 in, rd out; 0 or an exception cause (tval: va). */
int rv_exec_amo(struct rv_hart *h, const struct rv_insn *i, uint64_t va, uint64_t *val);

/* ---- jit.c ---- */
/* Read VESSEL_JIT, VESSEL_JIT_ASYNC and VESSEL_JIT_THRESHOLD into m
 * (m->user already set: the default threshold depends on the mode; nharts:
 * a system machine's harts, each of which would have a translator thread). */
void rv_jit_configure(struct rv_machine *m, unsigned nharts);
/* Translate b (b->jit), or false (b->jit_failed set when it never will be). */
bool rv_jit_translate(struct rv_hart *h, struct rv_block *b);
/* m->jit_async: hand b to the hart's translator thread (b->jit_queued),
 * or false when it cannot take it now (the next run of b asks again). */
bool rv_jit_queue(struct rv_hart *h, struct rv_block *b);
/* Install the translations the thread has finished (b->jit, or
 * b->jit_failed) into blocks still valid. */
void rv_jit_install(struct rv_hart *h);
static inline void rv_jit_poll(struct rv_hart *h)
{
    if (h->jit_done && atomic_load_explicit(h->jit_done, memory_order_acquire) != h->jit_taken)
        rv_jit_install(h);
}
/* Before the translated code is dropped (rv_cache_flush, a trim): the
 * thread's translation in progress and everything queued are dropped. */
void rv_jit_quiesce(struct rv_hart *h);
/* h->jit_used, read while the thread may be adding to it. */
size_t rv_jit_used(struct rv_hart *h);
void rv_jit_free(struct rv_hart *h);
void rv_jit_release(struct rv_hart *h);
/* Point the exit `site` (the aux of an RV_JIT_NEXT) at block `to`. */
bool rv_jit_link(struct rv_hart *h, uintptr_t site, struct rv_block *to);
/* b is dropped: the exits chained to it fall back to the dispatcher. */
void rv_jit_unlink(struct rv_block *b);

/* ---- mmu.c ---- */
/* Slow paths: 0 or an exception cause (tval = vaddr). */
int rv_load_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t *val);
int rv_store_slow(struct rv_hart *h, uint64_t va, unsigned size, uint64_t val);
/* Host pointer for an aligned atomic access of `size` (RAM only), or an
 * exception cause in *cause. */
void *rv_amo_ptr(struct rv_hart *h, uint64_t va, unsigned size, bool write, int *cause);
/* Fetch translation for a code key: 0 or a cause; *key is the physical
 * (system) or virtual (user) address, *host the host pointer of va. */
int rv_fetch_translate(struct rv_hart *h, uint64_t va, uint64_t *key, const uint8_t **host);
void rv_tlb_flush_local(struct rv_hart *h);
void rv_tlb_flush_page(struct rv_hart *h, uint64_t va);
void rv_tlb_flush_write_local(struct rv_hart *h);
void rv_update_modes(struct rv_hart *h);

static inline struct rv_tlb_entry *rv_tlb_slot(struct rv_hart *h, int acc, uint64_t va)
{
    return &h->tlb[acc][(va >> 12) & (RV_TLB_SIZE - 1)];
}
static inline uint64_t rv_tlb_tag(uint64_t va, unsigned mode)
{
    return (((va >> 12) << 2) | mode) + 1;
}

/* ---- trigger.c ---- */
enum { RV_CSR_TSELECT = 0x7a0, RV_CSR_TDATA1 = 0x7a1, RV_CSR_TDATA2 = 0x7a2,
       RV_CSR_TDATA3 = 0x7a3, RV_CSR_TINFO = 0x7a4 };
void rv_trig_reset(struct rv_hart *h);
/* Snapshot: the triggers into / from st (load: -EINVAL for a tdata1 no
 * write could have left, or tselect out of range). */
void rv_trig_save(const struct rv_hart *h, struct rv_hart_state *st);
int rv_trig_load(struct rv_hart *h, const struct rv_hart_state *st);
int rv_trig_csr_read(struct rv_hart *h, unsigned csr, uint64_t *v);
int rv_trig_csr_write(struct rv_hart *h, unsigned csr, uint64_t v);
/* An execute trigger fires at pc now (hit bits set). */
bool rv_trig_exec_fire(struct rv_hart *h, uint64_t pc);
/* An execute trigger is armed at pc in some mode (decoding stops there). */
bool rv_trig_exec_at(const struct rv_hart *h, uint64_t pc);
/* The slow path: whether a TLB entry for va's page must not be made for
 * `acc`, and the check of one access: 0, RV_EXC_BREAKPOINT (a trigger) or
 * RV_CAUSE_WATCH (the debugger's). Call only when rv_debug_data_on. */
bool rv_debug_page_watched(const struct rv_hart *h, uint64_t va, int acc);
int rv_debug_data_check(struct rv_hart *h, uint64_t va, unsigned size, int acc);
static inline bool rv_debug_data_on(const struct rv_hart *h)
{
    return h->trig_ldst || atomic_load_explicit(&h->m->nwp, memory_order_relaxed);
}
/* Blocks must stop at debugger breakpoints or execute triggers. */
static inline bool rv_debug_exec_on(const struct rv_hart *h)
{
    return h->trig_exec || atomic_load_explicit(&h->m->nbp, memory_order_relaxed);
}
static inline bool rv_debug_stop_at(const struct rv_hart *h, uint64_t pc)
{
    return rv_bp_at(h->m, pc) || (h->trig_exec && rv_trig_exec_at(h, pc));
}

/* ---- csr.c ---- */
/* CSR instruction access with privilege checks: 0 or -1 (illegal). */
int rv_csr_op(struct rv_hart *h, unsigned csr, uint64_t *old, uint64_t val, int kind, bool write);
/* Take a trap (system) or record the fault (user). Returns true when the
 * hart continues at the new pc (system), false to leave rv_run. */
bool rv_trap(struct rv_hart *h, uint64_t cause, uint64_t tval);
/* An enabled interrupt to take now: its cause number, or -1. */
int rv_pending_irq(struct rv_hart *h);
void rv_take_irq(struct rv_hart *h, int irq);
void rv_update_timers(struct rv_hart *h);
int rv_mret(struct rv_hart *h);
int rv_sret(struct rv_hart *h);
void rv_csr_reset(struct rv_hart *h);

static inline void rv_fs_dirty(struct rv_hart *h)
{
    h->mstatus |= MS_FS | MS_SD;
}

#endif

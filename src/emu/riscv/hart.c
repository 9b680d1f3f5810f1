/* emu/riscv: machines and harts: creation, registers, kicks, interrupt
 * lines, parking in WFI, breakpoints and code invalidation. */
#include "emu/riscv/hart.h"
#include "base/base.h"
#include "mem/mem.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#define USER_CODE_SPACE (1ULL << 40)

static struct rv_machine *machine_new(bool user, unsigned nharts)
{
    struct rv_machine *m = xzalloc(sizeof(*m));
    m->user = user;
    pthread_mutex_init(&m->lock, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    m->time_base_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    rv_jit_configure(m, nharts);
    return m;
}

static void code_map_alloc(struct rv_machine *m, uint64_t base, uint64_t size)
{
    m->code_base = base;
    m->code_npages = size >> 12;
    m->code_pages = mmap(NULL, m->code_npages, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->code_pages == MAP_FAILED) {
        log_error("riscv: cannot map the code-page table: out of memory");
        abort();
    }
}

struct rv_machine *rv_machine_new_user(const struct rv_mem_ops *ops)
{
    struct rv_machine *m = machine_new(true, 0);
    m->uops = ops;
    m->opaque = ops->opaque;
    code_map_alloc(m, 0, USER_CODE_SPACE);
    return m;
}

struct rv_machine *rv_machine_new_sys(const struct rv_sys_config *cfg)
{
    struct rv_machine *m = machine_new(false, cfg->nharts);
    m->mem = cfg->mem;
    m->bus = cfg->bus;
    m->sops = cfg->ops;
    m->opaque = cfg->opaque;
    m->tohost = cfg->tohost_addr;
    m->sv48 = cfg->sv48;
    /* code tracking over the span of every RAM region */
    uint64_t lo = ~0ULL, hi = 0;
    for (unsigned k = 0; k < m->mem->nr; k++) {
        lo = MIN(lo, m->mem->r[k].gpa);
        hi = MAX(hi, m->mem->r[k].gpa + m->mem->r[k].size);
    }
    if (hi > lo)
        code_map_alloc(m, lo, hi - lo);
    else
        code_map_alloc(m, 0, RV_PAGE);
    /* devices' and loaders' writes to code pages (rv_fence_i); the memory
     * outlives no machine that set it: the board frees the memory first */
    m->mem->on_write = rv_code_ext_write;
    m->mem->on_write_opaque = m;
    return m;
}

void *rv_machine_opaque(const struct rv_machine *m)
{
    return m->opaque;
}

void rv_machine_free(struct rv_machine *m)
{
    if (!m)
        return;
    if (m->code_pages && m->code_pages != MAP_FAILED)
        munmap(m->code_pages, m->code_npages);
    if (m->perf_map_fd >= 0)
        close(m->perf_map_fd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

struct rv_hart *rv_hart_new(struct rv_machine *m, unsigned hartid)
{
    struct rv_hart *h = mmap(NULL, sizeof(struct rv_hart), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED) {
        log_error("riscv: cannot allocate a hart: out of memory");
        abort();
    }
    h->m = m;
    h->id = hartid;
    h->resv_host = 0;
    h->debug_skip = ~0ULL;
    h->poll_at = 0;               /* a timer check at the first block */
    h->tlb_big_lo = ~0ULL;        /* no superpage entry yet */
    pthread_mutex_init(&h->wait_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wait_cond, &ca);
    pthread_condattr_destroy(&ca);
    rv_cache_init(h);
    rv_csr_reset(h);
    pthread_mutex_lock(&m->lock);
    unsigned k;
    for (k = 0; k < m->nhart_slots; k++)
        if (!m->harts[k])
            break;
    if (k < ARRAY_SIZE(m->harts)) {
        m->harts[k] = h;
        if (k == m->nhart_slots)
            m->nhart_slots++;
    } else {
        log_error("riscv: more than %zu harts", ARRAY_SIZE(m->harts));
        abort();
    }
    pthread_mutex_unlock(&m->lock);
    return h;
}

void rv_hart_free(struct rv_hart *h)
{
    if (!h)
        return;
    struct rv_machine *m = h->m;
    pthread_mutex_lock(&m->lock);
    for (unsigned k = 0; k < m->nhart_slots; k++)
        if (m->harts[k] == h)
            m->harts[k] = NULL;
    pthread_mutex_unlock(&m->lock);
    rv_cache_free(h);
    pthread_mutex_destroy(&h->wait_lock);
    pthread_cond_destroy(&h->wait_cond);
    munmap(h, sizeof(*h));
}

void rv_hart_reset(struct rv_hart *h, uint64_t pc)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->fp.f, 0, sizeof(h->fp.f));
    h->pc = pc;
    h->resv_host = 0;
    h->halted = false;
    rv_csr_reset(h);
    rv_tlb_flush_local(h);
    rv_cache_flush(h);
}

uint64_t rv_get_x(const struct rv_hart *h, unsigned r) { return r && r < 32 ? h->x[r] : 0; }
void rv_set_x(struct rv_hart *h, unsigned r, uint64_t v) { if (r && r < 32) h->x[r] = v; }
uint64_t rv_get_f(const struct rv_hart *h, unsigned r) { return r < 32 ? h->fp.f[r] : 0; }
void rv_set_f(struct rv_hart *h, unsigned r, uint64_t v) { if (r < 32) h->fp.f[r] = v; }
uint64_t rv_get_pc(const struct rv_hart *h) { return h->pc; }
void rv_set_pc(struct rv_hart *h, uint64_t pc) { h->pc = pc & ~1ULL; }
uint64_t rv_instret(const struct rv_hart *h) { return h->instret; }

void rv_hart_exception(const struct rv_hart *h, uint64_t *cause, uint64_t *tval)
{
    *cause = h->exc_cause;
    *tval = h->exc_tval;
}

struct rv_machine *rv_hart_machine(const struct rv_hart *h) { return h->m; }
unsigned rv_hart_id(const struct rv_hart *h) { return h->id; }
enum rv_priv rv_get_priv(const struct rv_hart *h) { return (enum rv_priv)h->priv; }

void rv_set_priv(struct rv_hart *h, enum rv_priv p)
{
    h->priv = p == RV_PRIV_U || p == RV_PRIV_S ? (unsigned)p : RV_PRIV_M;
    rv_update_modes(h);
}

void rv_hart_boot_supervisor(struct rv_hart *h, uint64_t pc, uint64_t a0, uint64_t a1)
{
    h->medeleg = (1ULL << RV_EXC_INSN_MISALIGNED) | (1ULL << RV_EXC_INSN_ACCESS) |
                 (1ULL << RV_EXC_ILLEGAL) | (1ULL << RV_EXC_BREAKPOINT) |
                 (1ULL << RV_EXC_LOAD_MISALIGNED) | (1ULL << RV_EXC_LOAD_ACCESS) |
                 (1ULL << RV_EXC_STORE_MISALIGNED) | (1ULL << RV_EXC_STORE_ACCESS) |
                 (1ULL << RV_EXC_ECALL_U) | (1ULL << RV_EXC_INSN_PAGE) |
                 (1ULL << RV_EXC_LOAD_PAGE) | (1ULL << RV_EXC_STORE_PAGE);
    h->mideleg = (1ULL << RV_IRQ_SSI) | (1ULL << RV_IRQ_STI) | (1ULL << RV_IRQ_SEI);
    h->mie |= (1ULL << RV_IRQ_SSI) | (1ULL << RV_IRQ_STI) | (1ULL << RV_IRQ_SEI);
    h->mcounteren = 7;
    h->scounteren = 7;
    h->menvcfg |= 1ULL << 63;        /* Sstc: S-mode owns stimecmp */
    h->mstatus &= ~(MS_MPRV | MS_SIE | MS_FS);
    h->satp = 0;
    h->x[10] = a0;
    h->x[11] = a1;
    h->pc = pc;
    h->priv = RV_PRIV_S;
    h->halted = false;
    rv_update_modes(h);
    rv_tlb_flush_local(h);
}

static void wake(struct rv_hart *h)
{
    if (__atomic_load_n(&h->waiting, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&h->wait_lock);
        pthread_cond_broadcast(&h->wait_cond);
        pthread_mutex_unlock(&h->wait_lock);
    }
}

void rv_kick(struct rv_hart *h)
{
    /* async-signal-safe part first: the flag */
    rv_request(h, RV_REQ_KICK);
    if (!h->m->user)
        wake(h);
}

void rv_hart_halt(struct rv_hart *h)
{
    rv_request(h, RV_REQ_HALT);
    wake(h);
}

void rv_hart_resume(struct rv_hart *h)
{
    atomic_fetch_and(&h->exit_req, ~(unsigned)RV_REQ_HALT);
    h->halted = false;
    wake(h);
}

bool rv_hart_halted(const struct rv_hart *h)
{
    /* a halt asked for but not yet seen by rv_run (a hart that never ran:
     * HSM-stopped since boot) is a halt too */
    return h->halted || (atomic_load(&((struct rv_hart *)h)->exit_req) & RV_REQ_HALT);
}

void rv_set_mtimecmp(struct rv_hart *h, uint64_t v)
{
    atomic_store(&h->mtimecmp, v);
    if (rv_machine_time(h->m) < v)
        atomic_fetch_and(&h->mip, ~(1ULL << RV_IRQ_MTI));
    else
        atomic_fetch_or(&h->mip, 1ULL << RV_IRQ_MTI);
    wake(h);
}

uint64_t rv_get_mtimecmp(const struct rv_hart *h)
{
    return atomic_load(&((struct rv_hart *)h)->mtimecmp);
}

void rv_set_irq(struct rv_hart *h, unsigned bit, bool level)
{
    if (bit > 63)
        return;
    if (level)
        atomic_fetch_or(&h->mip, 1ULL << bit);
    else
        atomic_fetch_and(&h->mip, ~(1ULL << bit));
    if (level)
        wake(h);
}

bool rv_irq_pending(struct rv_hart *h)
{
    rv_update_timers(h);
    return (atomic_load(&h->mip) & h->mie) != 0;
}

static void wait_sleep(struct rv_hart *h);

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* How long a hart polls before it sleeps: a device finishing a request
 * within microseconds (a disk read from the host's page cache, a worker's
 * write) then wakes it without a futex sleep and wake-up, which cost tens
 * of microseconds each here. Adaptive: a wait that ended soon after the
 * poll gave up doubles the next poll (an I/O-bound guest), a long wait
 * halves it (an idle guest, a few wake-ups a second with a tickless
 * kernel, costs nothing measurable). */
#define RV_WAIT_SPIN_MIN 10000ULL
#define RV_WAIT_SPIN_MAX 200000ULL
/* On a mostly idle hart (busy under a tenth of each RV_DUTY_WINDOW_NS), a
 * wait this long starts exec_enter's hit counts again: an idle Linux guest
 * sleeps until its next timer, milliseconds. */
#define RV_IDLE_GEN_NS 1000000ULL
#define RV_DUTY_WINDOW_NS 1000000000ULL

void rv_hart_note_wait(struct rv_hart *h, uint64_t t0, uint64_t waited)
{
    if (h->wait_end_ns && t0 >= h->wait_end_ns) {
        h->duty_busy_ns += t0 - h->wait_end_ns;
        h->duty_all_ns += t0 - h->wait_end_ns + waited;
    }
    h->wait_end_ns = t0 + waited;
    if (h->duty_all_ns >= RV_DUTY_WINDOW_NS) {
        h->mostly_idle = h->duty_busy_ns * 10 < h->duty_all_ns;
        h->duty_busy_ns = h->duty_all_ns = 0;
        if (!h->mostly_idle)
            rv_cache_busy(h);       /* a small hart gets its whole cache back */
    }
    if (h->mostly_idle && waited >= RV_IDLE_GEN_NS)
        h->idle_gen++;
}

void rv_hart_wait(struct rv_hart *h)
{
    uint64_t t0 = mono_ns();
    uint64_t spin = h->spin_ns ? h->spin_ns : 25000ULL;
    do {
        rv_update_timers(h);
        if ((atomic_load(&h->mip) & h->mie) || (atomic_load(&h->exit_req) & ~(unsigned)RV_REQ_WTLB)) {
            atomic_fetch_and(&h->exit_req, ~(unsigned)RV_REQ_KICK);
            return;
        }
        __builtin_ia32_pause();
    } while (mono_ns() - t0 < spin);
    wait_sleep(h);
    uint64_t waited = mono_ns() - t0;
    if (waited < 4 * spin)
        h->spin_ns = MIN(spin * 2, RV_WAIT_SPIN_MAX);
    else if (waited > 1000000ULL)
        h->spin_ns = MAX(spin / 2, RV_WAIT_SPIN_MIN);
    rv_hart_note_wait(h, t0, waited);
}

static void wait_sleep(struct rv_hart *h)
{
    pthread_mutex_lock(&h->wait_lock);
    __atomic_store_n(&h->waiting, true, __ATOMIC_SEQ_CST);
    for (;;) {
        rv_update_timers(h);
        if ((atomic_load(&h->mip) & h->mie) || (atomic_load(&h->exit_req) & ~(unsigned)RV_REQ_WTLB))
            break;
        uint64_t now = rv_machine_time(h->m);
        uint64_t dl = ~0ULL;
        if (h->mie & (1ULL << RV_IRQ_MTI))
            dl = MIN(dl, atomic_load(&h->mtimecmp));
        if ((h->mie & (1ULL << RV_IRQ_STI)) && (h->menvcfg & (1ULL << 63)))
            dl = MIN(dl, h->stimecmp);
        uint64_t wait_ticks = dl > now ? dl - now : 0;
        if (wait_ticks > RV_TIMEBASE_HZ)       /* re-check at least every second */
            wait_ticks = RV_TIMEBASE_HZ;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + wait_ticks * (1000000000ULL / RV_TIMEBASE_HZ);
        ts.tv_sec += (time_t)(ns / 1000000000ULL);
        ts.tv_nsec = (long)(ns % 1000000000ULL);
        pthread_cond_timedwait(&h->wait_cond, &h->wait_lock, &ts);
    }
    __atomic_store_n(&h->waiting, false, __ATOMIC_SEQ_CST);
    /* a kick that woke us is consumed here: the caller runs on */
    atomic_fetch_and(&h->exit_req, ~(unsigned)RV_REQ_KICK);
    pthread_mutex_unlock(&h->wait_lock);
}

void rv_invalidate_code(struct rv_machine *m, uint64_t addr, uint64_t len)
{
    (void)addr;
    (void)len;
    if (!m)
        return;            /* no machine yet (loading, or the syscall layer alone) */
    pthread_mutex_lock(&m->lock);
    for (unsigned k = 0; k < m->nhart_slots; k++)
        if (m->harts[k])
            rv_request(m->harts[k], RV_REQ_CODE | RV_REQ_TLB);
    pthread_mutex_unlock(&m->lock);
}

void rv_remote_fence_i(struct rv_hart *h)
{
    rv_request(h, RV_REQ_FENCEI);
}

void rv_flush_tlb(struct rv_hart *h)
{
    rv_request(h, RV_REQ_TLB);
}

uint64_t rv_dirty_log_sync(struct rv_machine *m, unsigned region, uint64_t *bitmap)
{
    pthread_mutex_lock(&m->lock);
    for (unsigned k = 0; k < m->nhart_slots; k++)
        if (m->harts[k])
            rv_request(m->harts[k], RV_REQ_WTLB);
    pthread_mutex_unlock(&m->lock);
    return mem_dirty_collect(m->mem, region, bitmap);
}

int rv_debug_breakpoint(struct rv_machine *m, uint64_t pc, bool set)
{
    pthread_mutex_lock(&m->lock);
    unsigned n = atomic_load(&m->nbp);
    int ret = 0;
    unsigned k;
    for (k = 0; k < n; k++)
        if (m->bp[k] == pc)
            break;
    if (set && k == n) {
        if (n == RV_MAX_BP)
            ret = -ENOSPC;
        else {
            m->bp[n] = pc;
            atomic_store(&m->nbp, n + 1);
        }
    } else if (!set && k < n) {
        m->bp[k] = m->bp[n - 1];
        atomic_store(&m->nbp, n - 1);
    }
    pthread_mutex_unlock(&m->lock);
    /* blocks end before breakpoints: decode again */
    rv_invalidate_code(m, 0, ~0ULL);
    return ret;
}

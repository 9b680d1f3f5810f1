/* emu/riscv: control and status registers, traps, interrupts and timers
 * (privileged spec 1.12: M, S and U modes, Sstc, no hypervisor). */
#include "emu/riscv/hart.h"
#include "base/base.h"

#include <errno.h>
#include <time.h>

#define MISA_RV64 (2ULL << 62)
#define MISA_EXT(c) (1ULL << ((c) - 'A'))
#define MISA_VALUE (MISA_RV64 | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') | \
                    MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U'))

#define MEDELEG_MASK 0xb3ffULL       /* all but ecall from M (11) and reserved 10, 14 */
#define MIDELEG_MASK ((1ULL << RV_IRQ_SSI) | (1ULL << RV_IRQ_STI) | (1ULL << RV_IRQ_SEI))
#define MIE_MASK 0xaaaULL
#define MENVCFG_STCE (1ULL << 63)

enum {
    CSR_FFLAGS = 0x001, CSR_FRM = 0x002, CSR_FCSR = 0x003,
    CSR_CYCLE = 0xc00, CSR_TIME = 0xc01, CSR_INSTRET = 0xc02,
    CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCOUNTEREN = 0x106,
    CSR_SENVCFG = 0x10a, CSR_SSCRATCH = 0x140, CSR_SEPC = 0x141, CSR_SCAUSE = 0x142,
    CSR_STVAL = 0x143, CSR_SIP = 0x144, CSR_STIMECMP = 0x14d, CSR_SATP = 0x180,
    CSR_MSTATUS = 0x300, CSR_MISA = 0x301, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303,
    CSR_MIE = 0x304, CSR_MTVEC = 0x305, CSR_MCOUNTEREN = 0x306, CSR_MENVCFG = 0x30a,
    CSR_MCOUNTINHIBIT = 0x320, CSR_MSCRATCH = 0x340, CSR_MEPC = 0x341, CSR_MCAUSE = 0x342,
    CSR_MTVAL = 0x343, CSR_MIP = 0x344, CSR_MCYCLE = 0xb00, CSR_MINSTRET = 0xb02,
    CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13, CSR_MHARTID = 0xf14,
    CSR_MCONFIGPTR = 0xf15,
};

void rv_machine_set_clock(struct rv_machine *m, uint64_t (*now)(void *opaque), void *opaque)
{
    m->clock = now;
    m->clock_opaque = opaque;
}

static uint64_t host_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t rv_machine_time(const struct rv_machine *m)
{
    if (m->clock)
        return m->clock(m->clock_opaque);
    /* user mode: the host's clock, as Linux gives rdtime */
    if (m->user)
        return host_mono_ns() / (1000000000ULL / RV_TIMEBASE_HZ);
    struct rv_machine *w = (struct rv_machine *)m;
    uint64_t ns;
    if (unlikely(atomic_load_explicit(&w->time_stopped, memory_order_acquire)))
        ns = atomic_load_explicit(&w->time_stopped_ns, memory_order_relaxed);
    else
        ns = host_mono_ns() - atomic_load_explicit(&w->time_base_ns, memory_order_relaxed);
    return ns / (1000000000ULL / RV_TIMEBASE_HZ);
}

void rv_machine_clock_stop(struct rv_machine *m)
{
    if (atomic_load(&m->time_stopped))
        return;
    atomic_store(&m->time_stopped_ns, host_mono_ns() - atomic_load(&m->time_base_ns));
    atomic_store(&m->time_stopped, true);
}

void rv_machine_clock_start(struct rv_machine *m)
{
    if (!atomic_load(&m->time_stopped))
        return;
    atomic_store(&m->time_base_ns, host_mono_ns() - atomic_load(&m->time_stopped_ns));
    atomic_store(&m->time_stopped, false);
}

static uint64_t read_time(struct rv_hart *h)
{
    return rv_machine_time(h->m);
}

void rv_update_timers(struct rv_hart *h)
{
    if (h->m->user)
        return;
    uint64_t t = read_time(h);
    uint64_t set = 0, clr = 0;
    if (t >= atomic_load_explicit(&h->mtimecmp, memory_order_relaxed))
        set |= 1ULL << RV_IRQ_MTI;
    else
        clr |= 1ULL << RV_IRQ_MTI;
    if (h->menvcfg & MENVCFG_STCE) {
        if (t >= h->stimecmp)
            set |= 1ULL << RV_IRQ_STI;
        else
            clr |= 1ULL << RV_IRQ_STI;
    }
    uint64_t cur = atomic_load_explicit(&h->mip, memory_order_relaxed);
    if ((cur & set) != set)
        atomic_fetch_or(&h->mip, set);
    if (cur & clr)
        atomic_fetch_and(&h->mip, ~clr);
}

static uint64_t counter_value(const struct rv_hart *h, unsigned k)
{
    return (h->mcountinhibit & (k ? 4 : 1)) ? h->cnt_frozen[k] : h->instret - h->cnt_off[k];
}

static uint64_t mstatus_read(struct rv_hart *h)
{
    uint64_t s = h->mstatus & ~(MS_SD | MS_UXL | MS_SXL);
    s |= (2ULL << 32) | (2ULL << 34);
    if ((s & MS_FS) == MS_FS)
        s |= MS_SD;
    return s;
}

static void mstatus_write(struct rv_hart *h, uint64_t v, uint64_t mask)
{
    uint64_t old = h->mstatus;
    uint64_t n = (old & ~mask) | (v & mask);
    if (((n & MS_MPP) >> MS_MPP_SHIFT) == 2)
        n = (n & ~MS_MPP) | (old & MS_MPP);      /* WARL: no H mode */
    h->mstatus = n & MSTATUS_WMASK;
    if ((old ^ h->mstatus) & (MS_SUM | MS_MXR | MS_MPRV | MS_MPP))
        rv_tlb_flush_local(h);
    rv_update_modes(h);
}

/* Counter access from S/U: mcounteren (and scounteren for U). */
static bool counter_ok(struct rv_hart *h, unsigned csr)
{
    unsigned bit = csr & 31;
    if (h->m->user || h->priv == RV_PRIV_M)
        return true;
    if (!((h->mcounteren >> bit) & 1))
        return false;
    if (h->priv == RV_PRIV_U && !((h->scounteren >> bit) & 1))
        return false;
    return true;
}

/* Read CSR; -1 if absent. Privilege is checked by the caller. */
static int csr_get(struct rv_hart *h, unsigned csr, uint64_t *v)
{
    switch (csr) {
    case CSR_FFLAGS: *v = h->fp.fflags & 31; return 0;
    case CSR_FRM: *v = h->fp.frm & 7; return 0;
    case CSR_FCSR: *v = ((h->fp.frm & 7) << 5) | (h->fp.fflags & 31); return 0;
    case CSR_CYCLE: case CSR_MCYCLE: *v = counter_value(h, 0); return 0;
    case CSR_INSTRET: case CSR_MINSTRET: *v = counter_value(h, 1); return 0;
    case CSR_TIME: *v = read_time(h); return 0;
    default: break;
    }
    if (h->m->user) {
        if (csr >= 0xc03 && csr <= 0xc1f) { *v = 0; return 0; }
        return -1;
    }
    if ((csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) {
        *v = 0;
        return 0;
    }
    if (csr >= 0x3a0 && csr <= 0x3af) {
        if (csr & 1) return -1;           /* RV64: odd pmpcfg do not exist */
        *v = h->pmpcfg[csr - 0x3a0];
        return 0;
    }
    if (csr >= 0x3b0 && csr <= 0x3ef) { *v = h->pmpaddr[csr - 0x3b0]; return 0; }
    if (csr >= RV_CSR_TSELECT && csr <= RV_CSR_TINFO)
        return rv_trig_csr_read(h, csr, v);
    switch (csr) {
    case CSR_SSTATUS: *v = mstatus_read(h) & SSTATUS_MASK; return 0;
    case CSR_SIE: *v = h->mie & h->mideleg; return 0;
    case CSR_STVEC: *v = h->stvec; return 0;
    case CSR_SCOUNTEREN: *v = h->scounteren; return 0;
    case CSR_SENVCFG: *v = h->senvcfg; return 0;
    case CSR_SSCRATCH: *v = h->sscratch; return 0;
    case CSR_SEPC: *v = h->sepc; return 0;
    case CSR_SCAUSE: *v = h->scause; return 0;
    case CSR_STVAL: *v = h->stval; return 0;
    case CSR_SIP: *v = atomic_load(&h->mip) & h->mideleg; return 0;
    case CSR_STIMECMP: *v = h->stimecmp; return 0;
    case CSR_SATP: *v = h->satp; return 0;
    case CSR_MSTATUS: *v = mstatus_read(h); return 0;
    case CSR_MISA: *v = MISA_VALUE; return 0;
    case CSR_MEDELEG: *v = h->medeleg; return 0;
    case CSR_MIDELEG: *v = h->mideleg; return 0;
    case CSR_MIE: *v = h->mie; return 0;
    case CSR_MTVEC: *v = h->mtvec; return 0;
    case CSR_MCOUNTEREN: *v = h->mcounteren; return 0;
    case CSR_MENVCFG: *v = h->menvcfg; return 0;
    case CSR_MCOUNTINHIBIT: *v = h->mcountinhibit; return 0;
    case CSR_MSCRATCH: *v = h->mscratch; return 0;
    case CSR_MEPC: *v = h->mepc; return 0;
    case CSR_MCAUSE: *v = h->mcause; return 0;
    case CSR_MTVAL: *v = h->mtval; return 0;
    case CSR_MIP: *v = atomic_load(&h->mip); return 0;
    case CSR_MVENDORID: case CSR_MARCHID: case CSR_MIMPID: case CSR_MCONFIGPTR: *v = 0; return 0;
    case CSR_MHARTID: *v = h->id; return 0;
    default: return -1;
    }
}

static int csr_set(struct rv_hart *h, unsigned csr, uint64_t v)
{
    switch (csr) {
    case CSR_FFLAGS: h->fp.fflags = v & 31; rv_fs_dirty(h); return 0;
    case CSR_FRM: h->fp.frm = v & 7; rv_fs_dirty(h); return 0;
    case CSR_FCSR: h->fp.fflags = v & 31; h->fp.frm = (v >> 5) & 7; rv_fs_dirty(h); return 0;
    case CSR_CYCLE: case CSR_TIME: case CSR_INSTRET: return -1;
    default: break;
    }
    if (h->m->user)
        return -1;
    if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f))
        return 0;
    if (csr >= 0x3a0 && csr <= 0x3af) {
        if (csr & 1) return -1;
        h->pmpcfg[csr - 0x3a0] = v;
        return 0;
    }
    if (csr >= 0x3b0 && csr <= 0x3ef) { h->pmpaddr[csr - 0x3b0] = v & ((1ULL << 54) - 1); return 0; }
    if (csr >= RV_CSR_TSELECT && csr <= RV_CSR_TINFO)
        return rv_trig_csr_write(h, csr, v);
    switch (csr) {
    case CSR_SSTATUS: mstatus_write(h, v, SSTATUS_MASK & MSTATUS_WMASK); return 0;
    case CSR_SIE: h->mie = (h->mie & ~h->mideleg) | (v & h->mideleg & MIE_MASK); return 0;
    case CSR_STVEC: h->stvec = v & ~2ULL; return 0;
    case CSR_SCOUNTEREN: h->scounteren = v & 0xffffffffULL; return 0;
    case CSR_SENVCFG: h->senvcfg = v & 1; return 0;
    case CSR_SSCRATCH: h->sscratch = v; return 0;
    case CSR_SEPC: h->sepc = v & ~1ULL; return 0;
    case CSR_SCAUSE: h->scause = v; return 0;
    case CSR_STVAL: h->stval = v; return 0;
    case CSR_SIP: {
        uint64_t m = h->mideleg & (1ULL << RV_IRQ_SSI);
        if (v & m) atomic_fetch_or(&h->mip, m);
        else atomic_fetch_and(&h->mip, ~m);
        return 0;
    }
    case CSR_STIMECMP: h->stimecmp = v; rv_update_timers(h); return 0;
    case CSR_SATP: {
        uint64_t mode = v >> 60;
        if (mode != 0 && mode != 8 && !(mode == 9 && h->m->sv48))
            return 0;                            /* WARL: unsupported mode, no effect */
        h->satp = (mode << 60) | (v & ((1ULL << 44) - 1));   /* ASIDLEN = 0 */
        rv_tlb_flush_local(h);
        return 0;
    }
    case CSR_MSTATUS: mstatus_write(h, v, MSTATUS_WMASK); return 0;
    case CSR_MISA: return 0;
    case CSR_MEDELEG: h->medeleg = v & MEDELEG_MASK; return 0;
    case CSR_MIDELEG: h->mideleg = v & MIDELEG_MASK; return 0;
    case CSR_MIE: h->mie = v & MIE_MASK; return 0;
    case CSR_MTVEC: h->mtvec = v & ~2ULL; return 0;
    case CSR_MCOUNTEREN: h->mcounteren = v & 0xffffffffULL; return 0;
    case CSR_MENVCFG: h->menvcfg = v & (MENVCFG_STCE | 1); rv_update_timers(h); return 0;
    case CSR_MCOUNTINHIBIT: {
        uint64_t n = v & 0xfffffffdULL;
        for (unsigned k = 0; k < 2; k++) {
            uint64_t bit = k ? 4 : 1;
            if ((n & bit) && !(h->mcountinhibit & bit))
                h->cnt_frozen[k] = h->instret - h->cnt_off[k];
            else if (!(n & bit) && (h->mcountinhibit & bit))
                h->cnt_off[k] = h->instret - h->cnt_frozen[k];
        }
        h->mcountinhibit = n;
        return 0;
    }
    case CSR_MSCRATCH: h->mscratch = v; return 0;
    case CSR_MEPC: h->mepc = v & ~1ULL; return 0;
    case CSR_MCAUSE: h->mcause = v; return 0;
    case CSR_MTVAL: h->mtval = v; return 0;
    case CSR_MIP: {
        uint64_t m = (1ULL << RV_IRQ_SSI);
        if (!(h->menvcfg & MENVCFG_STCE))
            m |= 1ULL << RV_IRQ_STI;
        uint64_t cur = atomic_load(&h->mip);
        uint64_t set = v & m, clr = ~v & m;
        if (set & ~cur) atomic_fetch_or(&h->mip, set);
        if (clr & cur) atomic_fetch_and(&h->mip, ~clr);
        return 0;
    }
    case CSR_MCYCLE: case CSR_MINSTRET: {
        /* h->instret already counts this instruction, and a read counts
         * the reading one: the next instruction reads v, as the write
         * suppresses this one's increment (priv. spec, "the value written
         * ... is the value read by the following instruction"). */
        unsigned k = csr == CSR_MINSTRET;
        if (h->mcountinhibit & (k ? 4 : 1))
            h->cnt_frozen[k] = v;
        else
            h->cnt_off[k] = h->instret + 1 - v;
        return 0;
    }
    default: return -1;
    }
}

int rv_csr_op(struct rv_hart *h, unsigned csr, uint64_t *old, uint64_t val, int kind, bool write)
{
    bool sys = !h->m->user;
    if (sys) {
        unsigned need = (csr >> 8) & 3;
        if (h->priv < need)
            return -1;
        if (write && (csr >> 10) == 3)
            return -1;
        if (csr <= CSR_FCSR && !(h->mstatus & MS_FS))
            return -1;
        if ((csr >= 0xc00 && csr <= 0xc1f) && !counter_ok(h, csr))
            return -1;
        if (csr == CSR_SATP && h->priv == RV_PRIV_S && (h->mstatus & MS_TVM))
            return -1;
        if (csr == CSR_STIMECMP && h->priv == RV_PRIV_S &&
            (!(h->menvcfg & MENVCFG_STCE) || !(h->mcounteren & 2)))
            return -1;
    }
    uint64_t cur = 0;
    /* csrrw with rd = x0 does not read; an absent CSR is illegal either way */
    if (csr_get(h, csr, &cur) < 0)
        return -1;
    *old = cur;
    if (!write)
        return 0;
    uint64_t n = kind == 0 ? val : kind == 1 ? (cur | val) : (cur & ~val);
    return csr_set(h, csr, n);
}

int rv_csr_read(struct rv_hart *h, unsigned csr, uint64_t *val)
{
    return csr_get(h, csr, val);
}

int rv_csr_write(struct rv_hart *h, unsigned csr, uint64_t val)
{
    return csr_set(h, csr, val);
}

static void trap_enter(struct rv_hart *h, uint64_t cause, uint64_t tval, bool irq)
{
    uint64_t bit = 1ULL << cause;
    bool deleg = h->priv <= RV_PRIV_S && ((irq ? h->mideleg : h->medeleg) & bit);
    uint64_t c = cause | (irq ? 1ULL << 63 : 0);
    uint64_t s = h->mstatus;
    if (deleg) {
        h->scause = c;
        h->sepc = h->pc;
        h->stval = tval;
        s = (s & ~MS_SPIE) | ((s & MS_SIE) ? MS_SPIE : 0);
        s &= ~MS_SIE;
        s = (s & ~MS_SPP) | (h->priv == RV_PRIV_S ? MS_SPP : 0);
        h->priv = RV_PRIV_S;
        h->pc = (h->stvec & ~3ULL) + ((irq && (h->stvec & 1)) ? 4 * cause : 0);
    } else {
        h->mcause = c;
        h->mepc = h->pc;
        h->mtval = tval;
        s = (s & ~MS_MPIE) | ((s & MS_MIE) ? MS_MPIE : 0);
        s &= ~MS_MIE;
        s = (s & ~MS_MPP) | ((uint64_t)h->priv << MS_MPP_SHIFT);
        h->priv = RV_PRIV_M;
        h->pc = (h->mtvec & ~3ULL) + ((irq && (h->mtvec & 1)) ? 4 * cause : 0);
    }
    h->mstatus = s;
    h->resv_host = 0;
    rv_update_modes(h);
}

bool rv_trap(struct rv_hart *h, uint64_t cause, uint64_t tval)
{
    if (h->m->user) {
        h->exc_cause = cause;
        h->exc_tval = tval;
        return false;
    }
    trap_enter(h, cause, tval, false);
    return true;
}

int rv_pending_irq(struct rv_hart *h)
{
    uint64_t p = atomic_load_explicit(&h->mip, memory_order_relaxed) & h->mie;
    if (!p)
        return -1;
    uint64_t m_ints = p & ~h->mideleg;
    uint64_t s_ints = p & h->mideleg;
    bool m_en = h->priv < RV_PRIV_M || (h->mstatus & MS_MIE);
    bool s_en = h->priv < RV_PRIV_S || (h->priv == RV_PRIV_S && (h->mstatus & MS_SIE));
    uint64_t take = m_en ? m_ints : 0;
    if (!take)
        take = s_en ? s_ints : 0;
    if (!take)
        return -1;
    static const int order[] = { RV_IRQ_MEI, RV_IRQ_MSI, RV_IRQ_MTI, RV_IRQ_SEI, RV_IRQ_SSI, RV_IRQ_STI };
    for (unsigned k = 0; k < ARRAY_SIZE(order); k++)
        if (take & (1ULL << order[k]))
            return order[k];
    return -1;
}

void rv_take_irq(struct rv_hart *h, int irq)
{
    trap_enter(h, (uint64_t)irq, 0, true);
}

int rv_mret(struct rv_hart *h)
{
    if (h->priv != RV_PRIV_M)
        return -1;
    uint64_t s = h->mstatus;
    unsigned mpp = (unsigned)((s & MS_MPP) >> MS_MPP_SHIFT);
    s = (s & ~MS_MIE) | ((s & MS_MPIE) ? MS_MIE : 0);
    s |= MS_MPIE;
    s &= ~MS_MPP;
    if (mpp != RV_PRIV_M)
        s &= ~MS_MPRV;
    h->mstatus = s;
    h->priv = mpp;
    h->pc = h->mepc;
    rv_update_modes(h);
    return 0;
}

int rv_sret(struct rv_hart *h)
{
    if (h->priv < RV_PRIV_S || (h->priv == RV_PRIV_S && (h->mstatus & MS_TSR)))
        return -1;
    uint64_t s = h->mstatus;
    unsigned spp = (s & MS_SPP) ? RV_PRIV_S : RV_PRIV_U;
    s = (s & ~MS_SIE) | ((s & MS_SPIE) ? MS_SIE : 0);
    s |= MS_SPIE;
    s &= ~MS_SPP;
    s &= ~MS_MPRV;
    h->mstatus = s;
    h->priv = spp;
    h->pc = h->sepc;
    rv_update_modes(h);
    return 0;
}

void rv_csr_reset(struct rv_hart *h)
{
    h->mstatus = 0;
    h->medeleg = h->mideleg = h->mie = 0;
    h->mtvec = h->mscratch = h->mepc = h->mcause = h->mtval = 0;
    h->mcounteren = h->scounteren = h->menvcfg = h->senvcfg = h->mcountinhibit = 0;
    h->cnt_off[0] = h->cnt_off[1] = h->instret;
    h->cnt_frozen[0] = h->cnt_frozen[1] = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->stimecmp = ~0ULL;
    atomic_store(&h->mtimecmp, ~0ULL);
    atomic_store(&h->mip, 0);
    memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
    memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
    h->fp.fflags = 0;
    h->fp.frm = 0;
    rv_trig_reset(h);
    if (h->m->user) {
        h->priv = RV_PRIV_U;
        h->mstatus = MS_FS;       /* user mode: FP always on */
    } else {
        h->priv = RV_PRIV_M;
    }
    rv_update_modes(h);
}

/* ---- snapshot ---- */
uint64_t rv_machine_clock_ns(const struct rv_machine *m)
{
    if (atomic_load(&m->time_stopped))
        return atomic_load(&m->time_stopped_ns);
    return host_mono_ns() - atomic_load(&m->time_base_ns);
}

void rv_machine_clock_set_ns(struct rv_machine *m, uint64_t ns)
{
    if (atomic_load(&m->time_stopped))
        atomic_store(&m->time_stopped_ns, ns);
    else
        atomic_store(&m->time_base_ns, host_mono_ns() - ns);
}

void rv_hart_save(struct rv_hart *h, struct rv_hart_state *st)
{
    memset(st, 0, sizeof(*st));
    memcpy(st->x, h->x, sizeof(st->x));
    st->x[0] = 0;
    memcpy(st->f, h->fp.f, sizeof(st->f));
    st->pc = h->pc;
    st->fflags = h->fp.fflags & 31;
    st->frm = h->fp.frm & 7;
    st->priv = h->priv;
    st->halted = h->halted || (atomic_load(&h->exit_req) & RV_REQ_HALT);
    st->mstatus = h->mstatus & ~MS_SD;
    st->medeleg = h->medeleg;
    st->mideleg = h->mideleg;
    st->mie = h->mie;
    st->mip = atomic_load(&h->mip);
    st->mtvec = h->mtvec;
    st->mscratch = h->mscratch;
    st->mepc = h->mepc;
    st->mcause = h->mcause;
    st->mtval = h->mtval;
    st->mcounteren = h->mcounteren;
    st->scounteren = h->scounteren;
    st->menvcfg = h->menvcfg;
    st->senvcfg = h->senvcfg;
    st->mcountinhibit = h->mcountinhibit;
    st->stvec = h->stvec;
    st->sscratch = h->sscratch;
    st->sepc = h->sepc;
    st->scause = h->scause;
    st->stval = h->stval;
    st->satp = h->satp;
    st->stimecmp = h->stimecmp;
    st->mtimecmp = atomic_load(&h->mtimecmp);
    st->mcycle = counter_value(h, 0);
    st->minstret = counter_value(h, 1);
    memcpy(st->pmpcfg, h->pmpcfg, sizeof(st->pmpcfg));
    memcpy(st->pmpaddr, h->pmpaddr, sizeof(st->pmpaddr));
    rv_trig_save(h, st);
}

/* Values a privileged write could never have produced. */
static bool hart_state_ok(const struct rv_hart *h, const struct rv_hart_state *st)
{
    uint64_t mode = st->satp >> 60;
    if (st->priv != RV_PRIV_U && st->priv != RV_PRIV_S && st->priv != RV_PRIV_M)
        return false;
    if (mode != 0 && mode != 8 && !(mode == 9 && h->m->sv48))
        return false;
    if (st->satp & ~((0xfULL << 60) | ((1ULL << 44) - 1)))
        return false;
    if ((st->mstatus & ~MSTATUS_WMASK) || ((st->mstatus & MS_MPP) >> MS_MPP_SHIFT) == 2)
        return false;
    if ((st->pc & 1) || st->fflags > 31 || st->frm > 7 || st->halted > 1)
        return false;
    if ((st->medeleg & ~MEDELEG_MASK) || (st->mideleg & ~MIDELEG_MASK) || (st->mie & ~MIE_MASK) ||
        (st->mip & ~MIE_MASK) || (st->menvcfg & ~(MENVCFG_STCE | 1)) || (st->senvcfg & ~1ULL) ||
        (st->mcountinhibit & ~0xfffffffdULL) || (st->mcounteren >> 32) || (st->scounteren >> 32))
        return false;
    for (unsigned i = 0; i < 64; i++)
        if (st->pmpaddr[i] >> 54)
            return false;
    return true;
}

int rv_hart_load(struct rv_hart *h, const struct rv_hart_state *st)
{
    if (h->m->user || !hart_state_ok(h, st) || rv_trig_load(h, st) < 0)
        return -EINVAL;
    memcpy(h->x, st->x, sizeof(st->x));
    h->x[0] = 0;
    memcpy(h->fp.f, st->f, sizeof(st->f));
    h->fp.fflags = st->fflags;
    h->fp.frm = st->frm;
    h->pc = st->pc;
    h->priv = st->priv;
    h->mstatus = st->mstatus;
    if ((h->mstatus & MS_FS) == MS_FS)
        h->mstatus |= MS_SD;
    h->medeleg = st->medeleg;
    h->mideleg = st->mideleg;
    h->mie = st->mie;
    h->mtvec = st->mtvec;
    h->mscratch = st->mscratch;
    h->mepc = st->mepc;
    h->mcause = st->mcause;
    h->mtval = st->mtval;
    h->mcounteren = st->mcounteren;
    h->scounteren = st->scounteren;
    h->menvcfg = st->menvcfg;
    h->senvcfg = st->senvcfg;
    h->stvec = st->stvec;
    h->sscratch = st->sscratch;
    h->sepc = st->sepc;
    h->scause = st->scause;
    h->stval = st->stval;
    h->satp = st->satp;
    h->stimecmp = st->stimecmp;
    atomic_store(&h->mtimecmp, st->mtimecmp);
    atomic_store(&h->mip, st->mip);
    h->mcountinhibit = st->mcountinhibit;
    for (unsigned k = 0; k < 2; k++) {
        uint64_t v = k ? st->minstret : st->mcycle;
        h->cnt_frozen[k] = v;
        h->cnt_off[k] = h->instret - v;
    }
    memcpy(h->pmpcfg, st->pmpcfg, sizeof(h->pmpcfg));
    memcpy(h->pmpaddr, st->pmpaddr, sizeof(h->pmpaddr));
    h->resv_addr = ~0ULL;
    h->resv_host = 0;
    h->poll_at = 0;
    rv_update_modes(h);
    rv_update_timers(h);
    rv_request(h, RV_REQ_TLB | RV_REQ_CODE);
    if (st->halted)
        rv_hart_halt(h);
    else
        rv_hart_resume(h);
    return 0;
}

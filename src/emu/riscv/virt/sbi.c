/* Built-in SBI v2.0 (RISC-V Supervisor Binary Interface): what M-mode
 * firmware would do for an S-mode kernel, run as a hook of the core's ecall
 * from S-mode. Extensions: base, legacy console/timer/shutdown, TIME, IPI,
 * RFENCE, HSM, SRST, DBCN. a7 = extension, a6 = function, a0.. = arguments;
 * the result is a0 = error, a1 = value. */
#include <string.h>

#include "base/base.h"
#include "bus/bus.h"
#include "dev/dev.h"
#include "mem/mem.h"
#include "emu/riscv/virt/internal.h"

enum {
    SBI_SUCCESS = 0, SBI_ERR_FAILED = -1, SBI_ERR_NOT_SUPPORTED = -2, SBI_ERR_INVALID_PARAM = -3,
    SBI_ERR_DENIED = -4, SBI_ERR_INVALID_ADDRESS = -5, SBI_ERR_ALREADY_AVAILABLE = -6,
    SBI_ERR_ALREADY_STARTED = -7, SBI_ERR_ALREADY_STOPPED = -8,
};

enum {
    EXT_LEGACY_SET_TIMER = 0x00, EXT_LEGACY_PUTCHAR = 0x01, EXT_LEGACY_GETCHAR = 0x02,
    EXT_LEGACY_SHUTDOWN = 0x08,
    EXT_BASE = 0x10, EXT_TIME = 0x54494D45, EXT_IPI = 0x735049, EXT_RFENCE = 0x52464E43,
    EXT_HSM = 0x48534D, EXT_SRST = 0x53525354, EXT_DBCN = 0x4442434E,
};

#define SBI_SPEC_VERSION ((2u << 24) | 0)   /* 2.0 */
#define SBI_IMPL_ID      0x7665              /* "ve": not a registered id */
#define SBI_IMPL_VERSION 1

enum { CSR_STIMECMP = 0x14d, CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13 };

enum { A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14, A5 = 15, A6 = 16, A7 = 17 };

static struct virt_board *board_of(struct rv_hart *h)
{
    return rv_machine_opaque(rv_hart_machine(h));
}

static void ret(struct rv_hart *h, long err, uint64_t val)
{
    rv_set_x(h, A0, (uint64_t)err);
    rv_set_x(h, A1, val);
}

/* The harts named by (mask, base) as in the SBI spec, or false for a bad mask. */
static bool hart_set(struct virt_board *b, uint64_t mask, uint64_t base, bool sel[VIRT_MAX_HARTS])
{
    memset(sel, 0, VIRT_MAX_HARTS);
    if (base == UINT64_MAX) {
        for (unsigned i = 0; i < b->nharts; i++)
            sel[i] = true;
        return true;
    }
    for (unsigned i = 0; i < 64 && mask; i++, mask >>= 1) {
        if (!(mask & 1))
            continue;
        if (base + i >= b->nharts || base + i < base)
            return false;
        sel[base + i] = true;
    }
    return true;
}

static long sbi_base(struct rv_hart *h, uint64_t fid, uint64_t a0, uint64_t *val)
{
    uint64_t v = 0;
    switch (fid) {
    case 0: *val = SBI_SPEC_VERSION; return 0;
    case 1: *val = SBI_IMPL_ID; return 0;
    case 2: *val = SBI_IMPL_VERSION; return 0;
    case 3:
        switch (a0) {
        case EXT_BASE: case EXT_TIME: case EXT_IPI: case EXT_RFENCE: case EXT_HSM: case EXT_SRST:
        case EXT_DBCN: case EXT_LEGACY_SET_TIMER: case EXT_LEGACY_PUTCHAR: case EXT_LEGACY_GETCHAR:
        case EXT_LEGACY_SHUTDOWN:
            *val = 1; break;
        default: *val = 0; break;
        }
        return 0;
    case 4: rv_csr_read(h, CSR_MVENDORID, &v); *val = v; return 0;
    case 5: rv_csr_read(h, CSR_MARCHID, &v); *val = v; return 0;
    case 6: rv_csr_read(h, CSR_MIMPID, &v); *val = v; return 0;
    default: return SBI_ERR_NOT_SUPPORTED;
    }
}

static long sbi_ipi(struct rv_hart *h, uint64_t fid, uint64_t mask, uint64_t base)
{
    struct virt_board *b = board_of(h);
    bool sel[VIRT_MAX_HARTS];
    if (fid != 0)
        return SBI_ERR_NOT_SUPPORTED;
    if (!hart_set(b, mask, base, sel))
        return SBI_ERR_INVALID_PARAM;
    for (unsigned i = 0; i < b->nharts; i++)
        if (sel[i])
            rv_set_irq(b->hart[i].h, RV_IRQ_SSI, true);
    return 0;
}

static long sbi_rfence(struct rv_hart *h, uint64_t fid, uint64_t mask, uint64_t base)
{
    struct virt_board *b = board_of(h);
    bool sel[VIRT_MAX_HARTS];
    if (fid > 2)
        return SBI_ERR_NOT_SUPPORTED;     /* hfence.*: no hypervisor extension */
    if (!hart_set(b, mask, base, sel))
        return SBI_ERR_INVALID_PARAM;
    if (fid == 0) {
        /* fence.i on the targets, before their next block (rv_fence_i) */
        for (unsigned i = 0; i < b->nharts; i++)
            if (sel[i])
                rv_remote_fence_i(b->hart[i].h);
        return 0;
    }
    /* sfence.vma (any range, any ASID): the whole TLB of each target */
    for (unsigned i = 0; i < b->nharts; i++)
        if (sel[i])
            rv_flush_tlb(b->hart[i].h);
    return 0;
}

/* hart_suspend: the default retentive type waits like wfi and returns; the
 * default non-retentive type stops the hart, which starts again at
 * resume_addr (a0 = hartid, a1 = opaque, S-mode, MMU off) at its next
 * interrupt; both are SUSPENDED for hart_get_status meanwhile. Reserved and
 * platform-specific types (none implemented): INVALID_PARAM. */
static long hsm_suspend(struct virt_board *b, struct virt_hart *self, uint32_t type, uint64_t addr, uint64_t opaque)
{
    if (type == 0) {
        pthread_mutex_lock(&b->lock);
        self->hsm = HSM_SUSPENDED;
        pthread_mutex_unlock(&b->lock);
        rv_hart_wait(self->h);
        pthread_mutex_lock(&b->lock);
        self->hsm = HSM_STARTED;
        pthread_mutex_unlock(&b->lock);
        return 0;
    }
    if (type != 0x80000000u)
        return SBI_ERR_INVALID_PARAM;
    if (!mem_translate(b->mem, addr, 4))
        return SBI_ERR_INVALID_ADDRESS;
    pthread_mutex_lock(&b->lock);
    self->hsm = HSM_SUSPENDED;
    self->start_addr = addr;
    self->start_arg = opaque;
    pthread_mutex_unlock(&b->lock);
    rv_hart_halt(self->h);       /* the run loop waits for an interrupt (hart_parked) */
    return 0;
}

static long sbi_hsm(struct rv_hart *h, uint64_t fid, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t *val)
{
    struct virt_board *b = board_of(h);
    struct virt_hart *self = &b->hart[rv_hart_id(h)];
    long err = 0;
    switch (fid) {
    case 0:   /* hart_start(hartid, start_addr, opaque) */
        if (a0 >= b->nharts)
            return SBI_ERR_INVALID_PARAM;
        if (!mem_translate(b->mem, a1, 4))
            return SBI_ERR_INVALID_ADDRESS;
        pthread_mutex_lock(&b->lock);
        if (b->hart[a0].hsm != HSM_STOPPED) {
            err = SBI_ERR_ALREADY_AVAILABLE;
        } else {
            b->hart[a0].hsm = HSM_START_PENDING;
            b->hart[a0].start_addr = a1;
            b->hart[a0].start_arg = a2;
            pthread_cond_broadcast(&b->cond);
        }
        pthread_mutex_unlock(&b->lock);
        return err;
    case 1:   /* hart_stop(): the run loop parks the thread after this ecall */
        pthread_mutex_lock(&b->lock);
        self->hsm = HSM_STOP_PENDING;
        pthread_mutex_unlock(&b->lock);
        rv_hart_halt(h);
        return 0;
    case 2:   /* hart_get_status(hartid) */
        if (a0 >= b->nharts)
            return SBI_ERR_INVALID_PARAM;
        pthread_mutex_lock(&b->lock);
        *val = (uint64_t)b->hart[a0].hsm;
        pthread_mutex_unlock(&b->lock);
        return 0;
    case 3:   /* hart_suspend(type, resume_addr, opaque) */
        return hsm_suspend(b, self, (uint32_t)a0, a1, a2);
    default:
        return SBI_ERR_NOT_SUPPORTED;
    }
}

static long sbi_srst(struct rv_hart *h, uint64_t fid, uint64_t type, uint64_t reason)
{
    struct virt_board *b = board_of(h);
    if (fid != 0)
        return SBI_ERR_NOT_SUPPORTED;
    if (type > 2 || (reason > 1 && reason < 0xe0000000))
        return SBI_ERR_INVALID_PARAM;
    if (type == 0)
        machine_shutdown(b->mach, reason == 1 ? MACHINE_STOP_FAIL : MACHINE_STOP_POWEROFF, reason == 1 ? 1 : 0);
    else
        machine_shutdown(b->mach, MACHINE_STOP_REBOOT, 0);
    return 0;
}

/* One byte of console input: what the UART's receive FIFO holds (the
 * serial chardev feeds it), taken as firmware takes it from a 16550 (LSR
 * data ready, then RBR), so SBI reads and UART reads share one stream. -1
 * when nothing is there (or the divisor latch hides RBR). */
static int sbi_getchar(struct virt_board *b)
{
    uint64_t lcr = 0, lsr = 0, c = 0;
    if (bus_access(b->bus, VIRT_UART_BASE + UART_LCR, &lcr, 1, false) < 0 || (lcr & UART_LCR_DLAB))
        return -1;
    if (bus_access(b->bus, VIRT_UART_BASE + UART_LSR, &lsr, 1, false) < 0 || !(lsr & UART_LSR_DR))
        return -1;
    if (bus_access(b->bus, VIRT_UART_BASE + UART_RBR, &c, 1, false) < 0)
        return -1;
    return (int)(c & 0xff);
}

/* DBCN console_read: up to n bytes into guest physical memory at lo; the
 * count read (0: nothing there) */
static long dbcn_read(struct virt_board *b, uint64_t n, uint64_t lo, uint64_t *val)
{
    const struct mem_region *r = mem_region_of(b->mem, lo);
    if (r && (r->flags & MEM_F_READONLY))
        return SBI_ERR_INVALID_PARAM;
    uint8_t buf[64];
    uint64_t got = 0;
    n = MIN(n, (uint64_t)sizeof(buf));
    while (got < n) {
        int c = sbi_getchar(b);
        if (c < 0)
            break;
        buf[got++] = (uint8_t)c;
    }
    if (got && mem_write(b->mem, lo, buf, got) < 0)
        return SBI_ERR_FAILED;
    *val = got;
    return 0;
}

static long sbi_dbcn(struct rv_hart *h, uint64_t fid, uint64_t n, uint64_t lo, uint64_t hi, uint64_t *val)
{
    struct virt_board *b = board_of(h);
    if (fid == 2) {
        uint8_t c = (uint8_t)n;
        chardev_write(b->chr, &c, 1);
        return 0;
    }
    if (fid > 1)
        return SBI_ERR_NOT_SUPPORTED;
    if (hi != 0)
        return SBI_ERR_INVALID_PARAM;   /* rv64: the address is all in lo */
    void *p = mem_translate(b->mem, lo, n ? n : 1);
    if (!p)
        return SBI_ERR_INVALID_PARAM;
    if (fid == 1)
        return dbcn_read(b, n, lo, val);
    chardev_write(b->chr, p, n);
    *val = n;
    return 0;
}

bool virt_sbi_call(struct rv_hart *h)
{
    struct virt_board *b = board_of(h);
    uint64_t eid = rv_get_x(h, A7), fid = rv_get_x(h, A6);
    uint64_t a0 = rv_get_x(h, A0), a1 = rv_get_x(h, A1), a2 = rv_get_x(h, A2);
    uint64_t val = 0;
    long err;
    switch (eid) {
    case EXT_LEGACY_SET_TIMER:
        rv_csr_write(h, CSR_STIMECMP, a0);
        rv_set_x(h, A0, 0);
        return true;
    case EXT_LEGACY_PUTCHAR: {
        uint8_t c = (uint8_t)a0;
        chardev_write(b->chr, &c, 1);
        rv_set_x(h, A0, 0);
        return true;
    }
    case EXT_LEGACY_GETCHAR:
        rv_set_x(h, A0, (uint64_t)(int64_t)sbi_getchar(b));
        return true;
    case EXT_LEGACY_SHUTDOWN:
        machine_shutdown(b->mach, MACHINE_STOP_POWEROFF, 0);
        return true;
    case EXT_BASE: err = sbi_base(h, fid, a0, &val); break;
    case EXT_TIME:
        if (fid == 0) {
            rv_csr_write(h, CSR_STIMECMP, a0);
            err = 0;
        } else {
            err = SBI_ERR_NOT_SUPPORTED;
        }
        break;
    case EXT_IPI: err = sbi_ipi(h, fid, a0, a1); break;
    case EXT_RFENCE: err = sbi_rfence(h, fid, a0, a1); break;
    case EXT_HSM: err = sbi_hsm(h, fid, a0, a1, a2, &val); break;
    case EXT_SRST: err = sbi_srst(h, fid, a0, a1); break;
    case EXT_DBCN: err = sbi_dbcn(h, fid, a0, a1, a2, &val); break;
    default:
        log_once(LOG_DEBUG, "sbi: extension 0x%llx not supported", (unsigned long long)eid);
        err = SBI_ERR_NOT_SUPPORTED;
        break;
    }
    ret(h, err, val);
    return true;
}

/* 8250 / NS16550A UART: the serial port of both machine engines (port 0x3f8
 * on the KVM board, MMIO on the RISC-V virt board). One lock per UART: vCPU
 * threads access registers, the chardev's loop thread delivers input. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "dev/dev.h"

struct uart8250 {
    pthread_mutex_t lock;
    unsigned reg_shift;
    struct irq_line irq;
    struct chardev *chr;
    int irq_level;              /* last level driven on irq */
    /* guest-visible state */
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    bool thr_pending;
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
};

static unsigned rx_capacity(const struct uart8250 *u)
{
    return (u->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart8250 *u)
{
    static const unsigned level[4] = { 1, 4, 8, 14 };
    return (u->fcr & UART_FCR_ENABLE) ? level[u->fcr >> 6] : 1;
}

/* The interrupt identification, highest priority first (with lock). */
static uint8_t iir_id(const struct uart8250 *u)
{
    if ((u->ier & UART_IER_RLSI) && (u->lsr & (UART_LSR_OE | UART_LSR_BI)))
        return UART_IIR_RLSI;
    if ((u->ier & UART_IER_RDI) && u->rx_count)
        return u->rx_count >= rx_trigger(u) ? UART_IIR_RDI : UART_IIR_TIMEOUT;
    if ((u->ier & UART_IER_THRI) && u->thr_pending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_MSI) && (u->msr & 0x0f))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

static void update_irq(struct uart8250 *u)
{
    int level = iir_id(u) != UART_IIR_NO_INT;
    if (level != u->irq_level) {
        u->irq_level = level;
        irq_set(&u->irq, level);
    }
}

/* Modem status lines as MCR drives them in loopback, or a present,
 * ready peer (CTS, DSR, DCD) otherwise. Sets the delta bits on changes. */
static void update_msr(struct uart8250 *u)
{
    uint8_t lines;
    if (u->mcr & UART_MCR_LOOP) {
        lines = 0;
        if (u->mcr & UART_MCR_RTS)  lines |= UART_MSR_CTS;
        if (u->mcr & UART_MCR_DTR)  lines |= UART_MSR_DSR;
        if (u->mcr & UART_MCR_OUT1) lines |= UART_MSR_RI;
        if (u->mcr & UART_MCR_OUT2) lines |= UART_MSR_DCD;
    } else {
        lines = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
    }
    uint8_t old = u->msr & 0xf0, delta = u->msr & 0x0f;
    uint8_t changed = old ^ lines;
    if (changed & UART_MSR_CTS) delta |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR) delta |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD) delta |= UART_MSR_DDCD;
    if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI))
        delta |= UART_MSR_TERI;   /* trailing edge of RI */
    u->msr = lines | delta;
}

/* Put one byte into the receive FIFO (with lock); false when full (the
 * byte is lost and OE set only for loopback, where the guest caused it). */
static bool rx_push(struct uart8250 *u, uint8_t b)
{
    if (u->rx_count >= rx_capacity(u))
        return false;
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
    u->rx_count++;
    u->lsr |= UART_LSR_DR;
    return true;
}

static void rx_clear(struct uart8250 *u)
{
    u->rx_head = u->rx_count = 0;
    u->lsr &= (uint8_t)~UART_LSR_DR;
}

static size_t uart_input(void *opaque, const uint8_t *buf, size_t len)
{
    struct uart8250 *u = opaque;
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    /* In loopback the line is disconnected from the outside. */
    if (!(u->mcr & UART_MCR_LOOP))
        while (n < len && rx_push(u, buf[n]))
            n++;
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
    struct uart8250 *u = opaque;
    if (size != 1 || (off & ((1u << u->reg_shift) - 1)))
        return 0;
    unsigned reg = (unsigned)(off >> u->reg_shift);
    uint8_t v = 0;
    bool space_freed = false;
    pthread_mutex_lock(&u->lock);
    switch (reg) {
    case UART_RBR:
        if (u->lcr & UART_LCR_DLAB) {
            v = u->dll;
            break;
        }
        if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
            if (--u->rx_count == 0)
                u->lsr &= (uint8_t)~UART_LSR_DR;
            space_freed = true;
        }
        break;
    case UART_IER:
        v = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
        break;
    case UART_IIR:
        v = iir_id(u);
        if (v == UART_IIR_THRI)
            u->thr_pending = false;     /* reading IIR acknowledges THRE */
        if (u->fcr & UART_FCR_ENABLE)
            v |= UART_IIR_FIFO;
        break;
    case UART_LCR: v = u->lcr; break;
    case UART_MCR: v = u->mcr; break;
    case UART_LSR:
        v = u->lsr;
        u->lsr &= (uint8_t)~(UART_LSR_OE | UART_LSR_BI);   /* cleared by reading */
        break;
    case UART_MSR:
        v = u->msr;
        u->msr &= 0xf0;
        break;
    case UART_SCR: v = u->scr; break;
    }
    update_irq(u);
    struct chardev *chr = u->chr;
    pthread_mutex_unlock(&u->lock);
    if (space_freed && chr)
        chardev_input_ready(chr);
    return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct uart8250 *u = opaque;
    if (size != 1 || (off & ((1u << u->reg_shift) - 1)))
        return;
    unsigned reg = (unsigned)(off >> u->reg_shift);
    uint8_t b = (uint8_t)val;
    bool space_freed = false;
    pthread_mutex_lock(&u->lock);
    switch (reg) {
    case UART_THR:
        if (u->lcr & UART_LCR_DLAB) {
            u->dll = b;
            break;
        }
        /* The byte leaves at once: THR (and the shift register) are empty
         * again and a new THRE interrupt is armed. */
        if (u->mcr & UART_MCR_LOOP) {
            if (!rx_push(u, b))
                u->lsr |= UART_LSR_OE;
        } else if (u->chr) {
            chardev_write(u->chr, &b, 1);
        }
        u->thr_pending = true;
        break;
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB) {
            u->dlm = b;
            break;
        }
        /* Enabling THRI while the THR is empty raises THRE right away
         * (drivers rely on it to start transmitting). */
        if ((b & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
            u->thr_pending = true;
        u->ier = b & 0x0f;
        break;
    case UART_FCR: {
        bool was = u->fcr & UART_FCR_ENABLE;
        if ((b & UART_FCR_CLEAR_RX) || was != (bool)(b & UART_FCR_ENABLE)) {
            rx_clear(u);
            space_freed = true;
        }
        u->fcr = b & (UART_FCR_ENABLE | 0xc0);
        break;
    }
    case UART_LCR: u->lcr = b; break;
    case UART_MCR: {
        bool was_loop = u->mcr & UART_MCR_LOOP;
        u->mcr = b & 0x1f;
        update_msr(u);
        if (was_loop && !(u->mcr & UART_MCR_LOOP))
            space_freed = true;         /* outside input may flow again */
        break;
    }
    case UART_LSR: break;               /* read-only (factory test) */
    case UART_MSR: break;
    case UART_SCR: u->scr = b; break;
    }
    update_irq(u);
    struct chardev *chr = u->chr;
    pthread_mutex_unlock(&u->lock);
    if (space_freed && chr)
        chardev_input_ready(chr);
}

static const struct bus_ops uart_ops = { uart_read, uart_write };

static void uart_reset(struct uart8250 *u)
{
    u->ier = u->lcr = u->mcr = u->scr = u->dlm = u->fcr = 0;
    u->dll = 12;                        /* 9600 baud at 1.8432 MHz */
    u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
    u->msr = 0;
    update_msr(u);
    u->msr &= 0xf0;                     /* no deltas at power-on */
    u->thr_pending = false;
    rx_clear(u);
}

void uart8250_reset(struct uart8250 *u)
{
    pthread_mutex_lock(&u->lock);
    uart_reset(u);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

struct uart8250 *uart8250_create(struct bus *bus, uint64_t base, unsigned reg_shift,
                                 struct irq_line irq, struct chardev *chr)
{
    if (reg_shift > 3) {
        log_error("uart8250 at %#llx: register shift %u (at most 3)", (unsigned long long)base, reg_shift);
        return NULL;
    }
    struct uart8250 *u = xzalloc(sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->reg_shift = reg_shift;
    u->irq = irq;
    u->chr = chr;
    uart_reset(u);
    int r = bus_register(bus, base, 8ull << reg_shift, &uart_ops, u, "uart8250");
    if (r < 0) {
        log_error("uart8250 at %#llx: %s", (unsigned long long)base, strerror(-r));
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
    }
    if (chr)
        chardev_set_input(chr, uart_input, u);
    return u;
}

void uart8250_destroy(struct uart8250 *u)
{
    if (!u)
        return;
    if (u->chr)
        chardev_set_input(u->chr, NULL, NULL);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void uart8250_save(struct uart8250 *u, struct uart8250_state *st)
{
    pthread_mutex_lock(&u->lock);
    *st = (struct uart8250_state){
        .ier = u->ier, .lcr = u->lcr, .mcr = u->mcr, .lsr = u->lsr, .msr = u->msr,
        .scr = u->scr, .dll = u->dll, .dlm = u->dlm, .fcr = u->fcr,
        .thr_pending = u->thr_pending, .rx_count = (uint8_t)u->rx_count,
        .rx_head = (uint8_t)u->rx_head,
    };
    memcpy(st->rx, u->rx, sizeof(st->rx));
    pthread_mutex_unlock(&u->lock);
}

int uart8250_load(struct uart8250 *u, const struct uart8250_state *st)
{
    unsigned cap = (st->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
    if (st->rx_count > cap || st->rx_head >= UART_FIFO_SIZE || (st->ier & 0xf0) ||
        (st->mcr & 0xe0) || (st->fcr & 0x3e) || st->thr_pending > 1 ||
        !!(st->lsr & UART_LSR_DR) != (st->rx_count > 0))
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    u->ier = st->ier; u->lcr = st->lcr; u->mcr = st->mcr; u->lsr = st->lsr;
    u->msr = st->msr; u->scr = st->scr; u->dll = st->dll; u->dlm = st->dlm;
    u->fcr = st->fcr; u->thr_pending = st->thr_pending;
    u->rx_count = st->rx_count; u->rx_head = st->rx_head;
    memcpy(u->rx, st->rx, sizeof(u->rx));
    u->irq_level = -1;                  /* drive the line whatever it was */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}
